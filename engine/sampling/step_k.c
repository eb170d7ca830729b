/* The k-diffusion family on VE latents x̃ = x0 + σ·ε (Karras et al. 2022):
 * Euler, Euler ancestral, LMS, Heun, DPM2, DPM2 a, as diffusers' Euler*, LMS,
 * Heun and KDPM2 schedulers step them, and DPM++ 2S a (k-diffusion's).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

/* Euler (docs/diffusion.md §Euler) with s_churn = 0, and Euler ancestral
 * (§Euler ancestral): an Euler step to sigma_down, then noise of sigma_up
 * (drawn every step, even when it is 0). */
static void
euler_step (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
            float *x0_out, bool ancestral)
{
  ve_level now = ve_level_at (s->sigmas[s->step_index]);
  float sigma_next = s->sigmas[s->step_index + 1];
  float sigma_up = 0.0f, target = sigma_next;
  if (ancestral)
    {
      float from_sq = now.sigma * now.sigma, to_sq = sigma_next * sigma_next;
      sigma_up = sqrtf (to_sq * (from_sq - to_sq) / from_sq);
      target = sqrtf (to_sq - sigma_up * sigma_up); /* sigma_down */
    }
  float dt = target - now.sigma;

  for (int64_t i = 0; i < numel; i++)
    {
      float x0 = ve_x0 (s->cfg.prediction_type, now, x[i], model_out[i]);
      float derivative = (x[i] - x0) / now.sigma;
      x[i] = x[i] + derivative * dt;
      if (x0_out)
        x0_out[i] = x0;
    }
  if (ancestral)
    {
      float *noise = sdcl_sched_draw_noise (rng, numel);
      for (int64_t i = 0; i < numel; i++)
        x[i] = x[i] + noise[i] * sigma_up;
      g_free (noise);
    }
}

void
sdcl_step_euler (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                 float *x0_out)
{
  euler_step (s, model_out, x, numel, rng, x0_out, false);
}

void
sdcl_step_euler_a (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                   sdcl_randn *rng, float *x0_out)
{
  euler_step (s, model_out, x, numel, rng, x0_out, true);
}

/* ---- LMS: linear multistep on the Euler ODE (Karras et al. 2022) ----------- */

/* ∫ from σ_t to σ_{t+1} of the Lagrange basis polynomial of point k over the
 * sigmas of the last `order` steps: the weight of the k-th newest
 * derivative.  diffusers integrates numerically (scipy quad); the
 * polynomial has degree < 4, so 4-point Gauss-Legendre is exact. */
static double
lms_coefficient (const sdcl_sched *s, int order, int k)
{
  static const double node[4] = { -0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                  0.8611363115940526 };
  static const double weight[4] = { 0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                    0.3478548451374538 };
  int t = s->step_index;
  double a = s->sigmas[t], b = s->sigmas[t + 1], sum = 0.0;
  for (int q = 0; q < 4; q++)
    {
      double tau = 0.5 * (b - a) * node[q] + 0.5 * (a + b), basis = 1.0;
      for (int j = 0; j < order; j++)
        if (j != k)
          basis *= (tau - s->sigmas[t - j]) / ((double) s->sigmas[t - k] - s->sigmas[t - j]);
      sum += weight[q] * basis;
    }
  return 0.5 * (b - a) * sum;
}

/* diffusers' LMSDiscreteScheduler with order 4.  Its order is
 * min(step index + 1, 4) counted from the start of the schedule, also when
 * an img2img run starts later with fewer derivatives: the basis then spans
 * 4 sigmas but only the derivatives there are get a weight (zip() stops at
 * the shorter list).  Kept, to give diffusers' images. */
void
sdcl_step_lms (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
               float *x0_out)
{
  (void) rng; /* deterministic */
  ve_level now = ve_level_at (s->sigmas[s->step_index]);
  float *derivative = s->n_history == SDCL_SCHED_HISTORY ? s->history[SDCL_SCHED_HISTORY - 1]
                                                          : g_new (float, (gsize) numel);
  memmove (s->history + 1, s->history, (SDCL_SCHED_HISTORY - 1) * sizeof *s->history);
  s->history[0] = derivative;
  s->n_history = MIN (s->n_history + 1, SDCL_SCHED_HISTORY);

  int order = MIN (s->step_index + 1, SDCL_SCHED_HISTORY);
  int terms = MIN (order, s->n_history);
  float coef[SDCL_SCHED_HISTORY];
  for (int k = 0; k < terms; k++)
    coef[k] = (float) lms_coefficient (s, order, k);

  for (int64_t i = 0; i < numel; i++)
    {
      float x0 = ve_x0 (s->cfg.prediction_type, now, x[i], model_out[i]);
      derivative[i] = (x[i] - x0) / now.sigma;
      float sum = coef[0] * derivative[i];
      for (int k = 1; k < terms; k++)
        sum = sum + coef[k] * s->history[k][i];
      x[i] = x[i] + sum;
      if (x0_out)
        x0_out[i] = x0;
    }
}

/* ---- Heun (Karras et al. 2022, Algorithm 1 without churn) ------------------ */

/* diffusers' HeunDiscreteScheduler: each step is two evaluations.  The
 * first is an Euler step from σ_i to σ_{i+1}; the second evaluates the model
 * there and redoes the step from the saved sample with the mean of both
 * derivatives.  The last step (to σ = 0) has the first evaluation only.
 * diffusers' Heun would clip x0 when its config asks; its class default is
 * not to, and sdcl's config reader cannot tell an absent key from the DDPM
 * default, so Heun never clips (SD configs say false anyway). */
void
sdcl_step_heun (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  (void) rng; /* deterministic */
  int i = s->step_index;
  bool second = s->mid_step;
  float sigma = second ? s->sigmas[i - 1] : s->sigmas[i];
  float sigma_next = second ? s->sigmas[i] : s->sigmas[i + 1];
  ve_level at = ve_level_at (second ? sigma_next : sigma);
  if (s->n_history < 2)
    {
      for (int k = s->n_history; k < 2; k++)
        s->history[k] = g_new (float, (gsize) numel);
      s->n_history = 2;
    }
  float *prev_derivative = s->history[0], *saved = s->history[1];
  float dt = second ? s->heun_dt : sigma_next - sigma;

  for (int64_t j = 0; j < numel; j++)
    {
      float x0 = ve_x0 (s->cfg.prediction_type, at, x[j], model_out[j]);
      if (x0_out)
        x0_out[j] = x0;
      if (second)
        {
          float derivative = (x[j] - x0) / sigma_next;
          derivative = (prev_derivative[j] + derivative) / 2.0f;
          x[j] = saved[j] + derivative * dt;
        }
      else
        {
          float derivative = (x[j] - x0) / sigma;
          prev_derivative[j] = derivative;
          saved[j] = x[j];
          x[j] = x[j] + derivative * dt;
        }
    }
  s->heun_dt = dt;
  s->mid_step = !second;
}

/* ---- DPM2 (Karras et al. 2022's second-order sampler) ---------------------- */

/* The DPM2 family's updates. */
typedef enum { DPM2_PLAIN, DPM2_ANCESTRAL, DPMPP_2S_ANCESTRAL } dpm2_kind;

/* Two evaluations per step, the second at a midpoint σ_mid (the schedule's
 * sigmas_interpol), the last step one (an Euler step to 0).
 * DPM2 (diffusers' KDPM2DiscreteScheduler): an Euler half step to the
 * log-midpoint of σ_i and σ_{i+1}, then the full step from σ_i with the
 * derivative evaluated there.  DPM2 a (KDPM2AncestralDiscreteScheduler):
 * the midpoint of σ_i and σ_down, the full step to σ_down, then fresh noise
 * of σ_up, drawn at every second evaluation.  DPM++ 2S a (k-diffusion's
 * sample_dpmpp_2s_ancestral; docs/diffusion.md): DPM2 a's levels with
 * DPM-Solver++(2S)'s exponential-integrator updates, h = log σ_i − log σ_down:
 * x_2 = (σ_mid/σ_i)·x − expm1(−h/2)·D(x, σ_i), then
 * x = (σ_down/σ_i)·x − expm1(−h)·D(x_2, σ_mid) + σ_up·z. */
static void
dpm2_step (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
           float *x0_out, dpm2_kind kind)
{
  int i = s->step_index;
  bool second = s->mid_step, ancestral = kind != DPM2_PLAIN;
  float sigma = second ? s->sigmas[i - 1] : s->sigmas[i];
  float sigma_mid = second ? s->sigmas_interpol[i] : s->sigmas_interpol[i + 1];
  float sigma_next = second ? s->sigmas[i] : s->sigmas[i + 1];
  float sigma_up = 0.0f;
  if (ancestral)
    {
      float from_sq = sigma * sigma, to_sq = sigma_next * sigma_next;
      sigma_up = sqrtf (to_sq * (from_sq - to_sq) / from_sq);
      sigma_next = sqrtf (to_sq - sigma_up * sigma_up); /* σ_down */
    }
  /* DPM++ 2S a's exponential updates, except on the last step (σ_down 0) */
  bool exponential = kind == DPMPP_2S_ANCESTRAL && sigma_mid > 0.0f;
  float h = (-logf (sigma_next)) - (-logf (sigma));
  float x_coef = second ? sigma_next / sigma : sigma_mid / sigma;
  float d_coef = exponential ? expm1f (second ? -h : -h * 0.5f) : 0.0f;
  ve_level at = ve_level_at (second ? sigma_mid : sigma);
  float dt = second ? sigma_next - sigma : sigma_mid - sigma;
  if (s->n_history < 1)
    {
      s->history[0] = g_new (float, numel > 0 ? (gsize) numel : 1);
      s->n_history = 1;
    }
  float *saved = s->history[0];
  for (int64_t j = 0; j < numel; j++)
    {
      float x0 = ve_x0 (s->cfg.prediction_type, at, x[j], model_out[j]);
      if (x0_out)
        x0_out[j] = x0;
      float derivative = (x[j] - x0) / at.sigma;
      if (second)
        x[j] = exponential ? x_coef * saved[j] - d_coef * x0 : saved[j] + derivative * dt;
      else
        {
          saved[j] = x[j];
          x[j] = exponential ? x_coef * x[j] - d_coef * x0 : x[j] + derivative * dt;
        }
    }
  if (ancestral && second)
    {
      float *noise = sdcl_sched_draw_noise (rng, numel);
      for (int64_t j = 0; j < numel; j++)
        x[j] = x[j] + noise[j] * sigma_up;
      g_free (noise);
    }
  s->mid_step = !second;
}

void
sdcl_step_dpm2 (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  dpm2_step (s, model_out, x, numel, rng, x0_out, DPM2_PLAIN);
}

void
sdcl_step_dpm2_a (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                  sdcl_randn *rng, float *x0_out)
{
  dpm2_step (s, model_out, x, numel, rng, x0_out, DPM2_ANCESTRAL);
}

void
sdcl_step_dpmpp_2s_a (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                      sdcl_randn *rng, float *x0_out)
{
  dpm2_step (s, model_out, x, numel, rng, x0_out, DPMPP_2S_ANCESTRAL);
}

sdcl_status
sdcl_check_dpm2 (const sdcl_sched_config *cfg, int steps, sdcl_error *err)
{
  (void) steps; /* any */
  if (cfg->prediction_type == SDCL_PREDICTION_SAMPLE)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "the dpm2, dpm2_a, dpmpp_2s_a and dpmpp_sde samplers take epsilon or v "
                      "prediction, not sample (as diffusers)");
  return SDCL_OK;
}


/* ---- DPM++ SDE (DPM-Solver++ with a midpoint, stochastic) -------------------- */

/* diffusers' DPMSolverSDEScheduler, float32 in its order; t = −log σ.
 * Both evaluations of step i take an ancestral DPM-Solver++(1) step from
 * σ_i: the first towards the midpoint σ_mid = exp(−(t_i + t_{i+1})/2), the
 * second from the saved sample towards σ_{i+1} with the midpoint's x0;
 * each adds σ_up of noise.  The last step (to 0) is an Euler step.
 *
 * The noise: diffusers takes it from a torchsde Brownian tree over σ,
 * normalised increments W(σ_i → σ_mid)/sqrt|σ_mid − σ_i| and then
 * W(σ_i → σ_{i+1})/sqrt|σ_{i+1} − σ_i|, which overlap.  sdcl draws the
 * first from the run's generator (z1) and builds the second from it and a
 * fresh draw z2 as the Brownian motion does:
 *   (sqrt(a)·z1 + sqrt(b)·z2) / sqrt(a + b),  a = |σ_mid − σ_i|,
 *   b = |σ_{i+1} − σ_i| − a,
 * so both are standard normal with correlation sqrt(a / (a + b)), the
 * law of the tree's two outputs; steps are independent (disjoint
 * intervals).  Same seed, same image; not torchsde's image. */
void
sdcl_sde_noise (sdcl_randn *rng, bool second, float part, float total, float *z1, float *out,
                int64_t numel)
{
  sdcl_randn_fill (rng, out, numel);
  if (!second)
    {
      memcpy (z1, out, (size_t) numel * sizeof *out);
      return;
    }
  float w1 = sqrtf (part), w2 = sqrtf (total - part), norm = sqrtf (total);
  for (int64_t j = 0; j < numel; j++)
    out[j] = (w1 * z1[j] + w2 * out[j]) / norm;
}

void
sdcl_step_dpmpp_sde (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                     sdcl_randn *rng, float *x0_out)
{
  int i = s->step_index;
  bool second = s->mid_step;
  float sigma = second ? s->sigmas[i - 1] : s->sigmas[i];
  float sigma_next = second ? s->sigmas[i] : s->sigmas[i + 1];
  float t = -logf (sigma), t_next = -logf (sigma_next);
  float t_mid = t + (t_next - t) * 0.5f;
  ve_level at = ve_level_at (second ? expf (-t_mid) : sigma);
  if (s->n_history < 2)
    {
      for (int k = s->n_history; k < 2; k++)
        s->history[k] = g_new (float, numel > 0 ? (gsize) numel : 1);
      s->n_history = 2;
    }
  float *saved = s->history[0], *z1 = s->history[1];
  if (sigma_next == 0.0f)
    {
      for (int64_t j = 0; j < numel; j++)
        {
          float x0 = ve_x0 (s->cfg.prediction_type, at, x[j], model_out[j]);
          if (x0_out)
            x0_out[j] = x0;
          float derivative = (x[j] - x0) / sigma;
          x[j] = x[j] + derivative * (sigma_next - sigma);
        }
      s->mid_step = !second;
      return;
    }
  float target_t = second ? t_next : t_mid;
  float from = expf (-t), to = expf (-target_t);
  float up = sqrtf (to * to * (from * from - to * to) / (from * from));
  up = MIN (to, up);
  float down = sqrtf (to * to - up * up);
  float ancestral_t = -logf (down);
  float x_coef = expf (-ancestral_t) / expf (-t), d_coef = expm1f (t - ancestral_t);
  float *noise = g_new (float, numel > 0 ? (gsize) numel : 1);
  sdcl_sde_noise (rng, second, fabsf (expf (-t_mid) - from), fabsf (to - from), z1, noise, numel);
  for (int64_t j = 0; j < numel; j++)
    {
      float x0 = ve_x0 (s->cfg.prediction_type, at, x[j], model_out[j]);
      if (x0_out)
        x0_out[j] = x0;
      float sample = second ? saved[j] : x[j];
      if (!second)
        saved[j] = x[j];
      float next = x_coef * sample - d_coef * x0;
      x[j] = next + noise[j] * 1.0f * up;
    }
  g_free (noise);
  s->mid_step = !second;
}

/* One sampler step, scale_model_input and add_noise (docs/diffusion.md
 * §Schedulers, §Image to image), as diffusers' step() functions compute them.
 *
 * diffusers works on float32 tensors: the per-step coefficients are 0-dim
 * float32 tensors and every tensor operation rounds once.  The loops below do
 * the same operations in the same order on each element.  What remains
 * different is torch's sqrt, log and exp: x86 builds of torch run them
 * through MKL's vector math library, which is not correctly rounded (about
 * one value in five differs from sqrtf by an ulp), so sdcl's coefficients,
 * from the C library, can differ from diffusers' in the last bit, and the
 * outputs by a few float32 ulps.  Samplers that need fresh noise draw one
 * tensor of numel normals per step from the generator, at the point
 * diffusers calls randn_tensor.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "error_internal.h"
#include "sampler_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

/* Every expression rounds as written, like the float32 tensor operations it
 * mirrors. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static int
compare_floats (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

float *
sdcl_sched_draw_noise (sdcl_randn *rng, int64_t numel)
{
  /* sdcl_sched_step checked numel > 0; the compiler cannot see that through
   * the table's function pointers. */
  float *noise = g_new (float, numel > 0 ? (gsize) numel : 1);
  sdcl_randn_fill (rng, noise, numel);
  return noise;
}

/* ---- VP form: DDIM and LCM (x_t = sqrt(ā)·x0 + sqrt(1 − ā)·ε) ------------- */

typedef struct {
  float sqrt_alpha; /* sqrt(ā_t) */
  float sqrt_beta;  /* sqrt(1 − ā_t) */
} vp_level;

static vp_level
vp_level_at (float alpha_cumprod)
{
  return (vp_level) { sqrtf (alpha_cumprod), sqrtf (1.0f - alpha_cumprod) };
}

static inline float
vp_x0 (sdcl_prediction pred, vp_level l, float x, float out)
{
  switch (pred)
    {
    case SDCL_PREDICTION_V:
      return l.sqrt_alpha * x - l.sqrt_beta * out;
    case SDCL_PREDICTION_SAMPLE:
      return out;
    case SDCL_PREDICTION_EPSILON:
    default:
      return (x - l.sqrt_beta * out) / l.sqrt_alpha;
    }
}

static inline float
vp_epsilon (sdcl_prediction pred, vp_level l, float x, float out, float x0)
{
  switch (pred)
    {
    case SDCL_PREDICTION_V:
      return l.sqrt_alpha * out + l.sqrt_beta * x;
    case SDCL_PREDICTION_SAMPLE:
      return (x - l.sqrt_alpha * x0) / l.sqrt_beta;
    case SDCL_PREDICTION_EPSILON:
    default:
      return out;
    }
}

static float
alpha_cumprod_at (const sdcl_sched *s, int t)
{
  return t >= 0 ? s->alphas_cumprod[t] : s->final_alpha_cumprod;
}

/* DDIM (docs/diffusion.md §DDIM): the previous timestep is always t − T // N. */
/* torch.quantile(v, q) with linear interpolation, on a sorted copy. */
static float
quantile (const float *v, int64_t n, float q)
{
  float *sorted = g_memdup2 (v, (gsize) n * sizeof *v);
  qsort (sorted, (size_t) n, sizeof *sorted, compare_floats);
  float rank = q * (float) (n - 1);
  int64_t below = (int64_t) floorf (rank);
  int64_t above = below + 1 < n ? below + 1 : n - 1;
  float w = rank - (float) below, a = sorted[below], b = sorted[above];
  /* torch.lerp's two-sided form */
  float value = w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
  g_free (sorted);
  return value;
}

/* DDPM and DDIM: the x0 estimate clipped to +-clip_sample_range, or with
 * dynamic thresholding (Imagen): s = the ratio-quantile of |x0| clamped to
 * [1, sample_max_value], x0 clamped to +-s and divided by s.  One batch
 * entry: the latents of one image. */
static void
limit_x0 (const sdcl_sched_config *cfg, float *x0, int64_t numel)
{
  float bound, scale = 1.0f;
  if (cfg->thresholding)
    {
      float *magnitude = g_new (float, numel > 0 ? (gsize) numel : 1);
      for (int64_t i = 0; i < numel; i++)
        magnitude[i] = fabsf (x0[i]);
      float q = quantile (magnitude, numel, cfg->dynamic_thresholding_ratio);
      g_free (magnitude);
      bound = scale = fminf (fmaxf (q, 1.0f), cfg->sample_max_value);
    }
  else if (cfg->clip_sample)
    bound = cfg->clip_sample_range;
  else
    return;
  for (int64_t i = 0; i < numel; i++)
    {
      float v = fminf (fmaxf (x0[i], -bound), bound);
      x0[i] = cfg->thresholding ? v / scale : v;
    }
}

void
sdcl_step_ddim (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  int t = (int) s->timesteps[s->step_index];
  int prev_t = t - s->T / s->n;
  float alpha_t = alpha_cumprod_at (s, t), alpha_prev = alpha_cumprod_at (s, prev_t);
  vp_level now = vp_level_at (alpha_t);
  float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;

  float variance = (beta_prev / beta_t) * (1.0f - alpha_t / alpha_prev);
  float std_dev = s->eta * sqrtf (variance);
  float direction_coef = sqrtf (beta_prev - std_dev * std_dev);
  float sqrt_alpha_prev = sqrtf (alpha_prev);
  float *noise = s->eta > 0.0f ? sdcl_sched_draw_noise (rng, numel) : NULL;

  /* epsilon comes from the x0 before clipping, as in diffusers */
  float *x0 = g_new (float, numel > 0 ? (gsize) numel : 1);
  float *eps = g_new (float, numel > 0 ? (gsize) numel : 1);
  for (int64_t i = 0; i < numel; i++)
    {
      x0[i] = vp_x0 (s->cfg.prediction_type, now, x[i], model_out[i]);
      eps[i] = vp_epsilon (s->cfg.prediction_type, now, x[i], model_out[i], x0[i]);
    }
  limit_x0 (&s->cfg, x0, numel);
  for (int64_t i = 0; i < numel; i++)
    {
      float prev = sqrt_alpha_prev * x0[i] + direction_coef * eps[i];
      if (noise)
        prev = prev + std_dev * noise[i];
      x[i] = prev;
      if (x0_out)
        x0_out[i] = x0[i];
    }
  g_free (x0);
  g_free (eps);
  g_free (noise);
}

/* DDPM's variance choices (diffusers' variance_type). */
typedef enum { DDPM_FIXED_SMALL, DDPM_FIXED_SMALL_LOG, DDPM_FIXED_LARGE } ddpm_variance;

static const char *const ddpm_variance_names[] = { "fixed_small", "fixed_small_log",
                                                   "fixed_large" };

static bool
ddpm_variance_of (const sdcl_sched_config *cfg, ddpm_variance *out)
{
  if (cfg->variance_type[0] == '\0') /* not set: the class default */
    {
      *out = DDPM_FIXED_SMALL;
      return true;
    }
  for (int i = 0; i < (int) G_N_ELEMENTS (ddpm_variance_names); i++)
    if (strcmp (cfg->variance_type, ddpm_variance_names[i]) == 0)
      {
        *out = (ddpm_variance) i;
        return true;
      }
  return false;
}

sdcl_status
sdcl_check_ddpm (const sdcl_sched_config *cfg, sdcl_error *err)
{
  ddpm_variance v;
  if (!ddpm_variance_of (cfg, &v))
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "the ddpm sampler does not implement variance_type \"%s\" (fixed_small, "
                      "fixed_small_log, fixed_large)", cfg->variance_type);
  return SDCL_OK;
}

/* The standard deviation of the noise DDPM adds going from ā_t to ā_prev:
 * sqrt of the posterior variance β̃ = (1 − ā_prev)/(1 − ā_t)·β (fixed_small,
 * clamped at 1e-20 as diffusers does before its log) or of β itself
 * (fixed_large), β = 1 − ā_t/ā_prev. */
static float
ddpm_noise_std (ddpm_variance kind, float alpha_t, float alpha_prev)
{
  float beta = 1.0f - alpha_t / alpha_prev;
  float posterior = (1.0f - alpha_prev) / (1.0f - alpha_t) * beta;
  posterior = posterior > 1e-20f ? posterior : 1e-20f;
  switch (kind)
    {
    case DDPM_FIXED_SMALL_LOG:
      return expf (0.5f * logf (posterior));
    case DDPM_FIXED_LARGE:
      return sqrtf (beta);
    case DDPM_FIXED_SMALL:
    default:
      return sqrtf (posterior);
    }
}

/* DDPM (Ho et al. 2020, diffusers' DDPMScheduler): the posterior mean
 * q(x_prev | x_t, x0) from the (clipped) x0 estimate, plus noise of the
 * chosen variance except at t = 0.  The previous level is the next
 * timestep of the schedule (ā = 1 after the last one). */
void
sdcl_step_ddpm (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  int i_step = s->step_index;
  int t = (int) s->timesteps[i_step];
  float alpha_t = s->alphas_cumprod[t];
  float alpha_prev = i_step + 1 < s->n ? s->alphas_cumprod[(int) s->timesteps[i_step + 1]] : 1.0f;
  vp_level now = vp_level_at (alpha_t);
  float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;
  float current_alpha = alpha_t / alpha_prev, current_beta = 1.0f - current_alpha;
  float x0_coef = (sqrtf (alpha_prev) * current_beta) / beta_t;
  float x_coef = sqrtf (current_alpha) * beta_prev / beta_t;
  ddpm_variance kind = DDPM_FIXED_SMALL;
  ddpm_variance_of (&s->cfg, &kind); /* checked at init */

  float *x0 = x0_out ? x0_out : g_new (float, numel > 0 ? (gsize) numel : 1);
  for (int64_t i = 0; i < numel; i++)
    x0[i] = vp_x0 (s->cfg.prediction_type, now, x[i], model_out[i]);
  limit_x0 (&s->cfg, x0, numel);
  for (int64_t i = 0; i < numel; i++)
    x[i] = x0_coef * x0[i] + x_coef * x[i];
  if (t > 0)
    {
      float std = ddpm_noise_std (kind, alpha_t, alpha_prev);
      float *noise = sdcl_sched_draw_noise (rng, numel);
      for (int64_t i = 0; i < numel; i++)
        x[i] = x[i] + std * noise[i];
      g_free (noise);
    }
  if (x0 != x0_out)
    g_free (x0);
}

/* LCM (docs/diffusion.md §LCM): consistency boundary condition, then re-noising to the next
 * timestep with fresh noise (except after the last step). */
void
sdcl_step_lcm (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
               float *x0_out)
{
  int i_step = s->step_index;
  bool last = i_step == s->n - 1;
  int t = (int) s->timesteps[i_step];
  int prev_t = last ? t : (int) s->timesteps[i_step + 1];
  vp_level now = vp_level_at (alpha_cumprod_at (s, t));
  vp_level next = vp_level_at (alpha_cumprod_at (s, prev_t));

  /* sigma_data = 0.5, timestep_scaling = 10 */
  float scaled_t = (float) t * 10.0f;
  float c_skip = 0.25f / (scaled_t * scaled_t + 0.25f);
  float c_out = scaled_t / sqrtf (scaled_t * scaled_t + 0.25f);
  float *noise = last ? NULL : sdcl_sched_draw_noise (rng, numel);

  for (int64_t i = 0; i < numel; i++)
    {
      float x0 = vp_x0 (s->cfg.prediction_type, now, x[i], model_out[i]);
      float denoised = c_out * x0 + c_skip * x[i];
      x[i] = noise ? next.sqrt_alpha * denoised + next.sqrt_beta * noise[i] : denoised;
      if (x0_out)
        x0_out[i] = denoised;
    }
  g_free (noise);
}

/* ---- VE form: Euler and Euler ancestral (x̃ = x0 + σ·ε) --------------------- */

typedef struct {
  float sigma;
  float v_out_coef;  /* −σ / sqrt(σ² + 1) */
  float v_x_div;     /* σ² + 1 */
} ve_level;

static ve_level
ve_level_at (float sigma)
{
  float sigma_sq_plus_1 = sigma * sigma + 1.0f;
  return (ve_level) { sigma, -sigma / sqrtf (sigma_sq_plus_1), sigma_sq_plus_1 };
}

static inline float
ve_x0 (sdcl_prediction pred, ve_level l, float x, float out)
{
  switch (pred)
    {
    case SDCL_PREDICTION_V:
      return out * l.v_out_coef + x / l.v_x_div;
    case SDCL_PREDICTION_SAMPLE:
      return out;
    case SDCL_PREDICTION_EPSILON:
    default:
      return x - l.sigma * out;
    }
}

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

/* diffusers' KDPM2DiscreteScheduler: an Euler half step to the log-midpoint
 * of σ_i and σ_{i+1}, then the full step from σ_i with the derivative
 * evaluated there. */
void
sdcl_step_dpm2 (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  (void) rng; /* deterministic */
  int i = s->step_index;
  bool second = s->mid_step;
  float sigma = second ? s->sigmas[i - 1] : s->sigmas[i];
  float sigma_mid = second ? s->sigmas_interpol[i] : s->sigmas_interpol[i + 1];
  float sigma_next = second ? s->sigmas[i] : s->sigmas[i + 1];
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
        x[j] = saved[j] + derivative * dt;
      else
        {
          saved[j] = x[j];
          x[j] = x[j] + derivative * dt;
        }
    }
  s->mid_step = !second;
}

sdcl_status
sdcl_check_dpm2 (const sdcl_sched_config *cfg, sdcl_error *err)
{
  if (cfg->prediction_type == SDCL_PREDICTION_SAMPLE)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "the dpm2 sampler takes epsilon or v prediction, not sample (as diffusers)");
  return SDCL_OK;
}

/* ---- PNDM / PLMS (Liu et al. 2022) with skip_prk_steps ------------------------ */

/* PLMS: diffusers' PNDMScheduler as SD 1.5's config runs it
 * (skip_prk_steps true), whatever the model's config says; a config
 * without skip_prk_steps (such as a DDIM one) would make diffusers run
 * Runge-Kutta warm-up steps first, which sdcl does not implement.  A
 * linear multistep on ε in DDIM's update.  Its first step takes two
 * evaluations (the second at the target level, averaged with the first),
 * so N steps are N + 1 evaluations; the previous level is always
 * t − T // N.  The history holds raw model outputs, combined before the v
 * conversion, as diffusers does. */
static void
pndm_update (const sdcl_sched *s, int t, int prev_t, const float *eps_in, float *x, int64_t numel)
{
  float alpha_t = s->alphas_cumprod[t], alpha_prev = alpha_cumprod_at (s, prev_t);
  float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;
  float x_coef = sqrtf (alpha_prev / alpha_t);
  float denom = alpha_t * sqrtf (beta_prev) + sqrtf (alpha_t * beta_t * alpha_prev);
  float diff = alpha_prev - alpha_t;
  bool v = s->cfg.prediction_type == SDCL_PREDICTION_V;
  float sa = sqrtf (alpha_t), sb = sqrtf (beta_t);
  for (int64_t i = 0; i < numel; i++)
    {
      float eps = v ? sa * eps_in[i] + sb * x[i] : eps_in[i];
      x[i] = x_coef * x[i] - diff * eps / denom;
    }
}

void
sdcl_step_pndm (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  (void) rng; /* deterministic */
  int counter = s->step_index - s->begin_index, jump = s->T / s->steps;
  int t = (int) s->timesteps[s->step_index], prev_t = t - jump;
  if (x0_out)
    for (int64_t i = 0; i < numel; i++)
      x0_out[i] = vp_x0 (s->cfg.prediction_type, vp_level_at (s->alphas_cumprod[t]), x[i],
                         model_out[i]);
  if (counter != 1)
    {
      /* keep the last three, then add this one (newest first) */
      float *slot = s->n_history == SDCL_SCHED_HISTORY ? s->history[SDCL_SCHED_HISTORY - 1]
                                                        : g_new (float, numel > 0 ? (gsize) numel : 1);
      memmove (s->history + 1, s->history, (SDCL_SCHED_HISTORY - 1) * sizeof *s->history);
      memcpy (slot, model_out, (size_t) numel * sizeof *slot);
      s->history[0] = slot;
      s->n_history = MIN (s->n_history + 1, SDCL_SCHED_HISTORY);
    }
  else
    {
      prev_t = t;
      t = t + jump;
    }
  float *const *e = s->history;
  float *eps = g_new (float, numel > 0 ? (gsize) numel : 1);
  for (int64_t i = 0; i < numel; i++)
    {
      if (s->n_history == 1 && counter == 1)
        eps[i] = (model_out[i] + e[0][i]) / 2.0f;
      else if (s->n_history == 1)
        eps[i] = model_out[i];
      else if (s->n_history == 2)
        eps[i] = (3.0f * e[0][i] - e[1][i]) / 2.0f;
      else if (s->n_history == 3)
        eps[i] = (23.0f * e[0][i] - 16.0f * e[1][i] + 5.0f * e[2][i]) / 12.0f;
      else
        eps[i] = (1.0f / 24.0f) * (55.0f * e[0][i] - 59.0f * e[1][i] + 37.0f * e[2][i] - 9.0f * e[3][i]);
    }
  if (counter == 0)
    {
      if (!s->pndm_sample)
        s->pndm_sample = g_new (float, numel > 0 ? (gsize) numel : 1);
      memcpy (s->pndm_sample, x, (size_t) numel * sizeof *x);
    }
  else if (counter == 1 && s->pndm_sample)
    memcpy (x, s->pndm_sample, (size_t) numel * sizeof *x);
  pndm_update (s, t, prev_t, eps, x, numel);
  g_free (eps);
}

sdcl_status
sdcl_check_pndm (const sdcl_sched_config *cfg, sdcl_error *err)
{
  if (cfg->prediction_type == SDCL_PREDICTION_SAMPLE)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "the pndm sampler takes epsilon or v prediction, not sample (as diffusers)");
  return SDCL_OK;
}

/* ---- API ------------------------------------------------------------------------ */

void
sdcl_sched_scale_input (const sdcl_sched *s, const float *x, float *x_in, int64_t numel)
{
  if (sdcl_sampler_row_of (s->kind)->form == SDCL_LATENT_VE)
    {
      /* DPM2's second evaluation is at the midpoint level */
      float sigma = s->sigmas_interpol && s->mid_step ? s->sigmas_interpol[s->step_index]
                                                      : s->sigmas[s->step_index];
      float scale = sqrtf (sigma * sigma + 1.0f);
      for (int64_t i = 0; i < numel; i++)
        x_in[i] = x[i] / scale;
    }
  else if (x_in != x)
    memmove (x_in, x, (size_t) numel * sizeof *x);
}

static bool
draws_noise (const sdcl_sched *s)
{
  unsigned options = sdcl_sampler_row_of (s->kind)->options;
  return (options & SDCL_SAMPLER_NOISE) || ((options & SDCL_SAMPLER_ETA) && s->eta > 0.0f);
}

void
sdcl_sched_step (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                 sdcl_randn *rng, float *x0_out)
{
  g_return_if_fail (s->step_index >= 0 && s->step_index < s->n && numel > 0);
  g_return_if_fail (rng != NULL || !draws_noise (s));
  if (s->numel != numel)
    sdcl_sched_forget (s); /* another latent size: the history belongs to a different run */
  s->numel = numel;
  sdcl_sampler_row_of (s->kind)->step (s, model_out, x, numel, rng, x0_out);
  s->step_index++;
}

void
sdcl_sched_add_noise (const sdcl_sched *s, const float *x0, const float *noise, int index,
                      float *out, int64_t numel)
{
  g_return_if_fail (index >= 0 && index < s->n);
  switch (sdcl_sampler_row_of (s->kind)->form)
    {
    case SDCL_LATENT_VE:
      {
        float sigma = s->sigmas[index];
        for (int64_t i = 0; i < numel; i++)
          out[i] = x0[i] + noise[i] * sigma;
        return;
      }
    case SDCL_LATENT_DPM:
      {
        float sigma = s->sigmas[index];
        float alpha = 1.0f / sqrtf (sigma * sigma + 1.0f);
        float sigma_vp = sigma * alpha;
        for (int64_t i = 0; i < numel; i++)
          out[i] = alpha * x0[i] + sigma_vp * noise[i];
        return;
      }
    case SDCL_LATENT_VP:
    default:
      {
        vp_level l = vp_level_at (s->alphas_cumprod[(int) s->timesteps[index]]);
        for (int64_t i = 0; i < numel; i++)
          out[i] = l.sqrt_alpha * x0[i] + l.sqrt_beta * noise[i];
        return;
      }
    }
}

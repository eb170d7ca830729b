/* DPM-Solver++ multistep samplers (docs/diffusion.md §DPM++ 2M), as diffusers'
 * DPMSolverMultistepScheduler computes them with solver_order 2 and the
 * midpoint solver: "dpmsolver++" (DPM++ 2M) and "sde-dpmsolver++"
 * (DPM++ 2M SDE).  VP latents, steps in log-SNR λ = log α − log σ.
 *
 * Float32 operations in diffusers' order (see scheduler_step.c for what
 * differs: torch's MKL exp/log).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>

#include <glib.h>

#include "sampler_table.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

typedef struct {
  float alpha;  /* 1 / sqrt(σ² + 1) */
  float sigma;  /* σ · alpha */
  float lambda; /* log(alpha) − log(sigma) */
} dpm_level;

static dpm_level
dpm_level_at (float s)
{
  dpm_level l;
  l.alpha = 1.0f / sqrtf (s * s + 1.0f);
  l.sigma = s * l.alpha;
  l.lambda = logf (l.alpha) - logf (l.sigma);
  return l;
}

static inline float
dpm_x0 (sdcl_prediction pred, dpm_level l, float x, float out)
{
  switch (pred)
    {
    case SDCL_PREDICTION_V:
      return l.alpha * x - l.sigma * out;
    case SDCL_PREDICTION_SAMPLE:
      return out;
    case SDCL_PREDICTION_EPSILON:
    default:
      return (x - l.sigma * out) / l.alpha;
    }
}

/* x_next = x_coef·x + d0_coef·D0 + d1_coef·D1 (+ noise_coef·z for the SDE),
 * D1 = (D0 − previous D0) / r0. */
typedef struct {
  float x_coef, d0_coef, d1_coef, inv_r0, noise_coef;
} dpm_coefs;

/* The ODE solver: x_coef = σ_t/σ_s, d0 = α_t(e^{−h} − 1), d1 = d0 / 2, both
 * subtracted.  The SDE solver: x_coef = σ_t/σ_s·e^{−h}, d0 = α_t(1 − e^{−2h}),
 * d1 = d0 / 2, both added, noise σ_t·sqrt(1 − e^{−2h}).  As diffusers
 * writes them, so that the float32 results agree. */
static dpm_coefs
dpm_coefs_at (const sdcl_sched *s, dpm_level now, dpm_level next, bool second_order, bool sde)
{
  dpm_coefs c = { 0 };
  float h = next.lambda - now.lambda;
  if (sde)
    {
      float e2 = expf (-2.0f * h);
      c.x_coef = next.sigma / now.sigma * expf (-h);
      c.d0_coef = next.alpha * (1.0f - e2);
      c.noise_coef = next.sigma * sqrtf (1.0f - e2);
    }
  else
    {
      c.x_coef = next.sigma / now.sigma;
      c.d0_coef = next.alpha * (expf (-h) - 1.0f);
    }
  if (second_order)
    {
      dpm_level prev = dpm_level_at (s->sigmas[s->step_index - 1]);
      float r0 = (now.lambda - prev.lambda) / h;
      c.inv_r0 = 1.0f / r0;
      c.d1_coef = 0.5f * c.d0_coef;
    }
  return c;
}

/* First order at the first step run and at the last step (final sigma 0),
 * second order (midpoint) in between.  Reaching sigma 0 is the limit
 * x = x0 prediction, taken explicitly (diffusers gets it through log(0)).
 * The SDE draws its noise every step, the last one included (diffusers
 * draws before it knows the noise is not needed). */
static void
dpm_multistep (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
               float *x0_out, bool sde)
{
  int i_step = s->step_index;
  float sigma_next = s->sigmas[i_step + 1];
  bool to_zero = sigma_next == 0.0f;
  bool second_order = s->prev_x0 && i_step < s->n - 1;
  dpm_level now = dpm_level_at (s->sigmas[i_step]);
  float *noise = sde ? sdcl_sched_draw_noise (rng, numel) : NULL;
  dpm_coefs c = { 0 };
  if (!to_zero)
    c = dpm_coefs_at (s, now, dpm_level_at (sigma_next), second_order, sde);

  if (!s->prev_x0)
    s->prev_x0 = g_new (float, (gsize) numel);
  for (int64_t i = 0; i < numel; i++)
    {
      float m0 = dpm_x0 (s->cfg.prediction_type, now, x[i], model_out[i]);
      float next;
      if (to_zero)
        next = m0;
      else if (sde)
        {
          next = c.x_coef * x[i] + c.d0_coef * m0;
          if (second_order)
            next = next + c.d1_coef * (c.inv_r0 * (m0 - s->prev_x0[i]));
          next = next + c.noise_coef * noise[i];
        }
      else
        {
          next = c.x_coef * x[i] - c.d0_coef * m0;
          if (second_order)
            next = next - c.d1_coef * (c.inv_r0 * (m0 - s->prev_x0[i]));
        }
      x[i] = next;
      s->prev_x0[i] = m0;
      if (x0_out)
        x0_out[i] = m0;
    }
  g_free (noise);
}

void
sdcl_step_dpmpp_2m (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                    sdcl_randn *rng, float *x0_out)
{
  dpm_multistep (s, model_out, x, numel, rng, x0_out, false);
}

void
sdcl_step_dpmpp_2m_sde (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                        sdcl_randn *rng, float *x0_out)
{
  dpm_multistep (s, model_out, x, numel, rng, x0_out, true);
}

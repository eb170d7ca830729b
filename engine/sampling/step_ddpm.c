/* DDPM (Ho et al. 2020) as diffusers' DDPMScheduler steps it: the
 * posterior mean from the x0 estimate plus noise of the configured
 * variance.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"


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
sdcl_check_ddpm (const sdcl_sched_config *cfg, int steps, sdcl_error *err)
{
  (void) steps; /* any */
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
  sdcl_limit_x0 (&s->cfg, x0, numel);
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


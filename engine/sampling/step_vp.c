/* DDIM, LCM and TCD steps (docs/diffusion.md §DDIM, §LCM) and the x0 limits
 * DDIM and DDPM share (clip_sample, dynamic thresholding), as diffusers'
 * DDIMScheduler, LCMScheduler and TCDScheduler compute them: VP latents
 * x_t = sqrt(ā)·x0 + sqrt(1 − ā)·ε at integer timesteps.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

static int
compare_floats (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}


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
void
sdcl_limit_x0 (const sdcl_sched_config *cfg, float *x0, int64_t numel)
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

/* DDIM (docs/diffusion.md §DDIM): the previous timestep is always t − T // N. */
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
  sdcl_limit_x0 (&s->cfg, x0, numel);
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

/* TCD (Zheng et al. 2024, diffusers' TCDScheduler) with gamma = the run's
 * eta, as the pipelines pass it: x0 and ε at t, the sample re-noised to
 * s = floor((1 − γ)·t_prev) along ε, then (γ > 0, except at the last
 * step) forward noise from s to t_prev with fresh noise.  γ = 0 is
 * deterministic; t_prev after the last step is 0. */
void
sdcl_step_tcd (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
               float *x0_out)
{
  int i_step = s->step_index;
  bool last = i_step == s->n - 1;
  int t = (int) s->timesteps[i_step];
  int prev_t = last ? 0 : (int) s->timesteps[i_step + 1];
  /* torch: a long tensor times a Python float is float32 */
  int t_s = (int) floorf ((float) (1.0 - (double) s->eta) * (float) prev_t);
  vp_level now = vp_level_at (s->alphas_cumprod[t]);
  float alpha_s = s->alphas_cumprod[t_s];
  vp_level at_s = vp_level_at (alpha_s);
  float ratio = s->alphas_cumprod[prev_t] / alpha_s;
  float keep = sqrtf (ratio), add = sqrtf (1.0f - ratio);
  float *noise = s->eta > 0.0f && !last ? sdcl_sched_draw_noise (rng, numel) : NULL;
  for (int64_t i = 0; i < numel; i++)
    {
      float x0 = vp_x0 (s->cfg.prediction_type, now, x[i], model_out[i]);
      float eps = vp_epsilon (s->cfg.prediction_type, now, x[i], model_out[i], x0);
      float noised = at_s.sqrt_alpha * x0 + at_s.sqrt_beta * eps;
      x[i] = noise ? keep * noised + add * noise[i] : noised;
      if (x0_out)
        x0_out[i] = x0;
    }
  g_free (noise);
}

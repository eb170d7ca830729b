/* The training noise schedule (docs/diffusion.md §Training schedule):
 * betas per beta_schedule, optional zero terminal SNR, alphas_cumprod and
 * the training sigmas, as diffusers computes them (a mix of torch float32
 * and numpy float64: each function names the precision it reproduces).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

/* ---- training schedule (docs/diffusion.md §Training schedule) ---------------- */

/* The loader hands config numbers over as float, but diffusers takes
 * sqrt(beta) of the double the JSON file spelled, and for SD's own beta_end
 * (0.012) sqrt(double) and sqrt(float) round to different floats.  The
 * shortest decimal that reads back as the same float is what the file said
 * (for anything written by hand or by Python's json), so read that as a
 * double. */
static double
as_written (float v)
{
  char text[32];
  for (int digits = 1; digits <= 9; digits++)
    {
      snprintf (text, sizeof text, "%.*g", digits, (double) v);
      if (strtof (text, NULL) == v)
        return strtod (text, NULL);
    }
  return v;
}

/* torch.linspace(start, end, n, dtype=float32): the first half counts up
 * from start, the second down from end.  torch's x86 kernel evaluates
 * start + step * i as one fused multiply-add. */
static void
torch_linspace_f32 (float start, float end, int n, float *out)
{
  float step = (end - start) / (float) (n - 1);
  int halfway = n / 2;
  for (int i = 0; i < n; i++)
    out[i] = i < halfway ? fmaf (step, (float) i, start) : fmaf (-step, (float) (n - 1 - i), end);
}

/* diffusers' betas_for_alpha_bar with the cosine alpha_bar, in double. */
static double
cosine_alpha_bar (double t)
{
  double c = cos ((t + 0.008) / 1.008 * G_PI / 2.0);
  return c * c;
}

static sdcl_status
training_betas (const sdcl_sched_config *cfg, float *betas, sdcl_error *err)
{
  int T = cfg->num_train_timesteps;
  if (strcmp (cfg->beta_schedule, "linear") == 0)
    torch_linspace_f32 (cfg->beta_start, cfg->beta_end, T, betas);
  else if (strcmp (cfg->beta_schedule, "scaled_linear") == 0)
    {
      torch_linspace_f32 ((float) sqrt (as_written (cfg->beta_start)),
                          (float) sqrt (as_written (cfg->beta_end)), T, betas);
      for (int i = 0; i < T; i++)
        betas[i] = betas[i] * betas[i];
    }
  else if (strcmp (cfg->beta_schedule, "squaredcos_cap_v2") == 0)
    for (int i = 0; i < T; i++)
      {
        double b = 1.0 - cosine_alpha_bar ((i + 1) / (double) T) / cosine_alpha_bar (i / (double) T);
        betas[i] = (float) (b < 0.999 ? b : 0.999);
      }
  else
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "scheduler beta_schedule \"%s\" is not supported (scaled_linear, linear, "
                      "squaredcos_cap_v2)", cfg->beta_schedule);
  return SDCL_OK;
}

/* torch's CPU cumprod of float32 factors: accumulated in double, each
 * prefix rounded. */
static void
cumprod_f32 (const float *x, int n, float *out)
{
  double product = 1.0;
  for (int i = 0; i < n; i++)
    {
      product *= (double) x[i];
      out[i] = (float) product;
    }
}

/* Shifts and scales sqrt(ā) so that its last value is 0 and its first is
 * kept, then turns it back into betas, in float32 as diffusers does
 * (docs/diffusion.md §Zero terminal SNR). */
static void
rescale_zero_terminal_snr (float *betas, int T)
{
  float *alphas = g_new (float, T), *bar = g_new (float, T);
  for (int i = 0; i < T; i++)
    alphas[i] = 1.0f - betas[i];
  cumprod_f32 (alphas, T, bar);
  for (int i = 0; i < T; i++)
    bar[i] = sqrtf (bar[i]);
  float first = bar[0], last = bar[T - 1];
  float scale = first / (first - last);
  for (int i = 0; i < T; i++)
    {
      bar[i] = (bar[i] - last) * scale;
      bar[i] = bar[i] * bar[i];
    }
  betas[0] = 1.0f - bar[0];
  for (int i = 1; i < T; i++)
    betas[i] = 1.0f - bar[i] / bar[i - 1];
  g_free (alphas);
  g_free (bar);
}

/* alphas_cumprod = cumprod(1 - betas): float32 factors, torch's CPU cumprod
 * accumulates in double and rounds each prefix. */
sdcl_status
sdcl_training_schedule (sdcl_sched *s, sdcl_error *err)
{
  float betas[SDCL_TRAIN_STEPS_MAX];
  sdcl_status st = training_betas (&s->cfg, betas, err);
  if (st != SDCL_OK)
    return st;
  if (s->cfg.rescale_betas_zero_snr)
    rescale_zero_terminal_snr (betas, s->T);
  double product = 1.0;
  for (int i = 0; i < s->T; i++)
    {
      product *= (double) (1.0f - betas[i]);
      s->alphas_cumprod[i] = (float) product;
    }
  s->final_alpha_cumprod = s->cfg.set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
  return SDCL_OK;
}

/* sigma_t = sqrt((1 - ā_t) / ā_t), float32 as torch computes it.  With a
 * zero terminal SNR the last ā is 0; the sigma-based samplers then use
 * 2^-24 there, as diffusers' do, for a finite largest sigma. */
float
sdcl_train_sigma (const sdcl_sched *s, int t)
{
  float a = s->alphas_cumprod[t];
  if (a == 0.0f && s->cfg.rescale_betas_zero_snr)
    a = 0x1p-24f;
  return sqrtf ((1.0f - a) / a);
}


/* PNDM / PLMS (Liu et al. 2022) as diffusers' PNDMScheduler steps it.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

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


/* PNDM (Liu et al. 2022): Runge-Kutta warm-up and PLMS, as diffusers'
 * PNDMScheduler steps them.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

/* ---- PNDM (Liu et al. 2022): Runge-Kutta warm-up, then PLMS ------------------- */

/* diffusers' PNDMScheduler.  The scheduler config's skip_prk_steps decides
 * the start: false (the class default) runs three Runge-Kutta steps of four
 * evaluations first (schedule_prk in sched_tables.c), true starts PLMS at
 * once.  PLMS is a linear multistep on ε in DDIM's update; started without
 * warm-up its first step takes two evaluations (the second at the target
 * level, averaged with the first), so N steps are N + 1 evaluations; the
 * previous level is always t − T // N.  The history holds raw model
 * outputs, combined before the v conversion, as diffusers does.  Both
 * phases count evaluations from the run's first (diffusers' counter), so
 * img2img starts over with the warm-up wherever it begins, as there; and
 * as there, each Runge-Kutta step then moves from the level of the full
 * schedule's corresponding step, not from the level img2img noised to. */
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

static float *
numel_buffer (float **slot, int64_t numel)
{
  if (!*slot)
    *slot = g_new (float, numel > 0 ? (gsize) numel : 1);
  return *slot;
}

/* Keeps the last three outputs, then adds this one (newest first). */
static void
pndm_remember (sdcl_sched *s, const float *model_out, int64_t numel)
{
  float *slot = s->n_history == SDCL_SCHED_HISTORY ? s->history[SDCL_SCHED_HISTORY - 1]
                                                    : g_new (float, numel > 0 ? (gsize) numel : 1);
  memmove (s->history + 1, s->history, (SDCL_SCHED_HISTORY - 1) * sizeof *s->history);
  memcpy (slot, model_out, (size_t) numel * sizeof *slot);
  s->history[0] = slot;
  s->n_history = MIN (s->n_history + 1, SDCL_SCHED_HISTORY);
}

/* Evaluations in the warm-up: three Runge-Kutta steps of four. */
static int
prk_evals (const sdcl_sched *s)
{
  return s->cfg.skip_prk_steps ? 0 : 12;
}

/* Evaluation k of a Runge-Kutta step (0..3): every one moves from the
 * step's start sample and level (the step's first timestep) to this
 * evaluation's target, half-way for k < 2; the fourth takes the weighted
 * sum 1/6, 1/3, 1/3, 1/6 of the four outputs. */
static void
prk_step (sdcl_sched *s, int counter, const float *model_out, float *x, int64_t numel)
{
  int k = counter % 4, half = s->T / s->steps / 2;
  int t = (int) s->timesteps[s->step_index];
  int prev_t = t - (counter % 2 ? 0 : half);
  int from = (int) s->timesteps[counter / 4 * 4]; /* diffusers indexes from the run's start */
  float *acc = numel_buffer (&s->pndm_acc, numel), *start = numel_buffer (&s->pndm_sample, numel);
  const float *eps = model_out;
  float *sum = NULL;
  if (k == 0)
    {
      for (int64_t i = 0; i < numel; i++)
        acc[i] = (1.0f / 6.0f) * model_out[i];
      pndm_remember (s, model_out, numel);
      memcpy (start, x, (size_t) numel * sizeof *x);
    }
  else if (k < 3)
    for (int64_t i = 0; i < numel; i++)
      acc[i] = acc[i] + (1.0f / 3.0f) * model_out[i];
  else
    {
      sum = g_new (float, numel > 0 ? (gsize) numel : 1);
      for (int64_t i = 0; i < numel; i++)
        sum[i] = acc[i] + (1.0f / 6.0f) * model_out[i];
      eps = sum;
    }
  memcpy (x, start, (size_t) numel * sizeof *x);
  pndm_update (s, from, prev_t, eps, x, numel);
  g_free (sum);
}

static void
plms_step (sdcl_sched *s, int counter, const float *model_out, float *x, int64_t numel)
{
  int jump = s->T / s->steps;
  int t = (int) s->timesteps[s->step_index], prev_t = t - jump;
  if (counter != 1)
    pndm_remember (s, model_out, numel);
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
    memcpy (numel_buffer (&s->pndm_sample, numel), x, (size_t) numel * sizeof *x);
  else if (counter == 1 && s->pndm_sample)
    memcpy (x, s->pndm_sample, (size_t) numel * sizeof *x);
  pndm_update (s, t, prev_t, eps, x, numel);
  g_free (eps);
}

void
sdcl_step_pndm (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  (void) rng; /* deterministic */
  int counter = s->step_index - s->begin_index;
  int t = (int) s->timesteps[s->step_index];
  if (x0_out)
    for (int64_t i = 0; i < numel; i++)
      x0_out[i] = vp_x0 (s->cfg.prediction_type, vp_level_at (s->alphas_cumprod[t]), x[i],
                         model_out[i]);
  if (counter < prk_evals (s))
    prk_step (s, counter, model_out, x, numel);
  else
    plms_step (s, counter, model_out, x, numel);
}

sdcl_status
sdcl_check_pndm (const sdcl_sched_config *cfg, int steps, sdcl_error *err)
{
  if (cfg->prediction_type == SDCL_PREDICTION_SAMPLE)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "the pndm sampler takes epsilon or v prediction, not sample (as diffusers)");
  if (!cfg->skip_prk_steps && steps < 4)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%d steps: the pndm sampler takes 4 or more with this model, whose scheduler "
                      "config asks for Runge-Kutta warm-up steps (skip_prk_steps false)", steps);
  return SDCL_OK;
}

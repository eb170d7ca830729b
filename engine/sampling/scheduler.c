/* Building a schedule (docs/diffusion.md §Schedulers): argument and
 * configuration checks, then the sampler's row in the table fills the
 * timesteps and sigmas; init, free and img2img's begin index.  The parts:
 * sched_training.c (betas, ᾱ), sched_spacing.c (timestep spacing,
 * sigma respacing, AYS), sched_tables.c (each sampler's set_timesteps),
 * scheduler_step.c and the step_*.c files (one step).
 *
 * Configuration follows `Class.from_config(model_config)`: the model's keys
 * win, absent keys take the class default.  The loader reports an absent
 * timestep_spacing as "", which selects the sampler's own default (DDIM and
 * LCM "leading", Euler, Euler a and DPM++ "linspace").
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "scheduler.h"

#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

/* ---- configuration ---------------------------------------------------------- */

static sdcl_status
resolve_spacing (const sdcl_sampler_row *row, const char *name, sdcl_spacing *out,
                 sdcl_error *err)
{
  if (name[0] == '\0')
    {
      bool leading = row->options & SDCL_SAMPLER_LEADING_DEFAULT;
      *out = leading ? SDCL_SPACING_LEADING : SDCL_SPACING_LINSPACE;
      return SDCL_OK;
    }
  static const char *const names[] = { "leading", "linspace", "trailing" };
  for (int i = 0; i < 3; i++)
    if (strcmp (name, names[i]) == 0)
      {
        *out = (sdcl_spacing) i;
        return SDCL_OK;
      }
  return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                    "scheduler timestep_spacing \"%s\" is not supported (leading, linspace, "
                    "trailing)", name);
}

static sdcl_status
check_arguments (sdcl_sampler kind, const sdcl_sched_config *cfg, int steps,
                 sdcl_schedule schedule, sdcl_error *err)
{
  const sdcl_sampler_row *row = sdcl_sampler_row_of (kind);
  if (!row)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown sampler %d", (int) kind);
  int T = cfg->num_train_timesteps;
  if (T < 2 || T > SDCL_TRAIN_STEPS_MAX)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "scheduler num_train_timesteps %d is outside 2..%d", T, SDCL_TRAIN_STEPS_MAX);
  if (!(cfg->beta_start > 0.0f && cfg->beta_end > 0.0f && cfg->beta_end < 1.0f))
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "scheduler betas %g..%g are not in (0, 1)", cfg->beta_start, cfg->beta_end);
  if (steps < 1 || steps > T)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%d steps: the %s sampler takes 1 to %d (the model's training steps)",
                      steps, sdcl_sampler_name (kind), T);
  if (row->max_steps && (steps > row->max_steps || T < row->max_steps))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%d steps: the %s sampler takes 1 to %d (its distillation schedule)", steps,
                      row->name, row->max_steps);
  if (!sdcl_schedule_name (schedule))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown schedule %d", (int) schedule);
  if (!sdcl_sampler_has_schedule (kind, schedule))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "the %s sampler does not take the %s schedule",
                      row->name, sdcl_schedule_name (schedule));
  if (row->check)
    return row->check (cfg, steps, err);
  return SDCL_OK;
}


/* ---- init / free ---------------------------------------------------------------- */

static const char *
spacing_name (sdcl_spacing sp)
{
  return sp == SDCL_SPACING_LEADING ? "leading" : sp == SDCL_SPACING_LINSPACE ? "linspace" : "trailing";
}

/* "leading" plus steps_offset can overshoot the training range (1000 steps,
 * offset 1: t = 1000), where diffusers fails with an index error. */
static sdcl_status
check_timesteps_in_range (const sdcl_sched *s, sdcl_spacing sp, const double *t, int count,
                          sdcl_error *err)
{
  /* interpolated AYS timesteps collide when the steps outnumber what the
   * low-noise end of the table can tell apart */
  for (int i = 1; i < count && s->schedule == SDCL_SCHEDULE_AYS; i++)
    if (!(t[i] < t[i - 1]))
      return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                        "%d steps: the %s schedule repeats timestep %g with the %s sampler; "
                        "take fewer steps", count, sdcl_schedule_name (s->schedule), t[i],
                        sdcl_sampler_name (s->kind));
  for (int i = 0; i < count; i++)
    if (t[i] < 0.0 || t[i] > s->T - 1)
      return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                        "%d steps: with %s spacing and steps_offset %d the %s sampler reaches "
                        "timestep %g, outside the model's 0..%d",
                        count, spacing_name (sp), s->cfg.steps_offset, sdcl_sampler_name (s->kind),
                        t[i], s->T - 1);
  return SDCL_OK;
}

sdcl_status
sdcl_sched_init (sdcl_sched *s, sdcl_sampler kind, const sdcl_sched_config *cfg, int steps,
                 sdcl_schedule schedule, sdcl_error *err)
{
  memset (s, 0, sizeof *s);
  sdcl_status st = check_arguments (kind, cfg, steps, schedule, err);
  sdcl_spacing sp = SDCL_SPACING_LEADING;
  if (st == SDCL_OK)
    st = resolve_spacing (sdcl_sampler_row_of (kind), cfg->timestep_spacing, &sp, err);
  if (schedule == SDCL_SCHEDULE_TRAILING)
    sp = SDCL_SPACING_TRAILING; /* what from_config(timestep_spacing="trailing") gives */
  if (st != SDCL_OK)
    return st;

  s->kind = kind;
  s->cfg = *cfg;
  s->schedule = schedule;
  s->karras = schedule == SDCL_SCHEDULE_KARRAS;
  s->T = cfg->num_train_timesteps;
  s->n = s->steps = steps;
  st = sdcl_training_schedule (s, err);
  if (st != SDCL_OK)
    {
      memset (s, 0, sizeof *s);
      return st;
    }

  double *t = g_new (double, steps);
  s->timesteps = g_new (float, steps);
  s->init_noise_sigma = 1.0f;
  sdcl_sampler_row_of (kind)->schedule (s, sp, t);
  st = check_timesteps_in_range (s, sp, t, steps, err);
  g_free (t);
  if (st != SDCL_OK)
    {
      sdcl_sched_free (s);
      memset (s, 0, sizeof *s);
    }
  return st;
}

void
sdcl_sched_set_begin_index (sdcl_sched *s, int index)
{
  g_return_if_fail (index >= 0 && index < s->n);
  s->begin_index = index;
  s->step_index = index;
  /* multistep samplers start over with a first-order step */
  sdcl_sched_forget (s);
}

void
sdcl_sched_forget (sdcl_sched *s)
{
  g_free (s->prev_x0);
  s->prev_x0 = NULL;
  for (int i = 0; i < s->n_history; i++)
    g_free (s->history[i]);
  s->n_history = 0;
  s->mid_step = false;
  s->order_used = s->n_outputs = 0;
  g_free (s->pndm_sample);
  g_free (s->pndm_acc);
  s->pndm_sample = s->pndm_acc = NULL;
}

void
sdcl_sched_free (sdcl_sched *s)
{
  if (!s)
    return;
  g_free (s->timesteps);
  g_free (s->sigmas);
  g_free (s->sigmas_interpol);
  s->timesteps = s->sigmas = s->sigmas_interpol = NULL;
  sdcl_sched_forget (s);
}

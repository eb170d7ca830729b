/* The sampler table: one row per sdcl_sampler, the only place that says
 * what a sampler is (name, label, options, schedule and step functions).
 * scheduler.c and scheduler_step.c dispatch through it and test no sampler
 * kind themselves.  Internal.
 *
 * Adding a sampler: a value before SDCL_SAMPLER_COUNT in sdcl.h, a row in
 * sampler_table.c, its schedule / step functions (named in the lists
 * below), a diffusers fixture in tests/reference/gen_sampling.py.  Front
 * ends list the table through sdcl_sampler_count / _name / _label and need
 * no change.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_SAMPLER_TABLE_H
#define SDCL_SAMPLER_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "scheduler.h"

/* LCMScheduler's original_inference_steps (the distillation schedule). */
#define SDCL_LCM_ORIGIN_STEPS 50

/* diffusers' timestep_spacing values. */
typedef enum { SDCL_SPACING_LEADING, SDCL_SPACING_LINSPACE, SDCL_SPACING_TRAILING } sdcl_spacing;

/* How latents relate to the clean image, which decides scale_model_input and
 * add_noise: VP x = sqrt(ā)·x0 + sqrt(1−ā)·ε at the integer timestep; VE
 * x = x0 + σ·ε with input scaled by 1/sqrt(σ²+1); DPM the VP form written
 * with the schedule's sigmas (α = 1/sqrt(σ²+1)). */
typedef enum { SDCL_LATENT_VP, SDCL_LATENT_VE, SDCL_LATENT_DPM } sdcl_latent_form;

/* The schedules a row takes, besides SDCL_SCHEDULE_DEFAULT. */
#define SDCL_TAKES(schedule) (1u << (schedule))

enum {
  SDCL_SAMPLER_ETA = 1 << 1,             /* eta > 0 adds noise (DDIM) */
  SDCL_SAMPLER_NOISE = 1 << 2,           /* draws noise from the generator every step */
  SDCL_SAMPLER_LEADING_DEFAULT = 1 << 3, /* default spacing "leading", else "linspace" */
  SDCL_SAMPLER_ETA_FRACTION = 1 << 4,    /* eta is a fraction (TCD's gamma): 0 .. 1 */
};

/* Fills s->timesteps (allocated, n floats) and, for sigma-based samplers,
 * allocates and fills s->sigmas (n + 1) and init_noise_sigma (1 when left).
 * t receives the timesteps in double for the range check. */
typedef void (*sdcl_schedule_fn) (sdcl_sched *s, sdcl_spacing sp, double *t);

/* One step; see sdcl_sched_step. */
typedef void (*sdcl_step_fn) (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                              sdcl_randn *rng, float *x0_out);

typedef struct {
  const char *name;        /* what the CLI, GEGL nicks and the GIMP PDB take */
  const char *label;       /* English; a msgid of the "sdcl" gettext domain */
  unsigned options;        /* SDCL_SAMPLER_* flags */
  unsigned schedules;      /* SDCL_TAKES (schedule) for each schedule diffusers allows */
  int evals_per_step;      /* model evaluations per step */
  int max_steps;           /* upper step limit besides the training steps (0: none) */
  sdcl_latent_form form;
  /* Refuses configurations and step counts the sampler does not implement
   * (NULL: none); steps is within 1 .. the training steps. */
  sdcl_status (*check) (const sdcl_sched_config *cfg, int steps, sdcl_error *err);
  sdcl_schedule_fn schedule;
  sdcl_step_fn step;
} sdcl_sampler_row;

/* The largest eta the sampler takes (1 for TCD's gamma, else unbounded). */
float sdcl_sampler_eta_max (sdcl_sampler kind);

/* The row of a valid sampler, NULL otherwise. */
const sdcl_sampler_row *sdcl_sampler_row_of (sdcl_sampler kind);

/* The schedule, step and check functions the rows name, one list each:
 * every entry has the signature of its kind (sdcl_schedule_fn,
 * sdcl_step_fn, the row's check), declared below from the list.  A new
 * sampler adds its names here. */

/* Schedules (sched_tables.c). */
#define SDCL_SCHEDULE_FUNCTIONS(X) \
  X (discrete) X (euler) X (dpm) X (heun) X (dpm2) X (dpm2_a) \
  X (dpmpp_sde) X (unipc) X (deis) X (pndm) X (lcm)
/* Steps (step_vp.c, step_ddpm.c, step_pndm.c, step_k.c, step_unipc.c,
 * step_deis.c, scheduler_dpm.c). */
#define SDCL_STEP_FUNCTIONS(X) \
  X (ddim) X (euler) X (euler_a) X (dpmpp_2m) X (ddpm) X (dpmpp_2m_sde) \
  X (lms) X (heun) X (dpm2) X (dpm2_a) X (dpmpp_sde) X (unipc) \
  X (deis) X (dpmpp_2s_a) X (pndm) X (lcm) X (tcd)
/* Configuration and step-count checks (NULL in rows that need none). */
#define SDCL_CHECK_FUNCTIONS(X) X (ddpm) X (dpm2) X (pndm)

#define SDCL_DECLARE_SCHEDULE(name) \
  void sdcl_schedule_##name (sdcl_sched *s, sdcl_spacing sp, double *t);
#define SDCL_DECLARE_STEP(name) \
  void sdcl_step_##name (sdcl_sched *s, const float *model_out, float *x, int64_t numel, \
                         sdcl_randn *rng, float *x0_out);
#define SDCL_DECLARE_CHECK(name) \
  sdcl_status sdcl_check_##name (const sdcl_sched_config *cfg, int steps, sdcl_error *err);
SDCL_SCHEDULE_FUNCTIONS (SDCL_DECLARE_SCHEDULE)
SDCL_STEP_FUNCTIONS (SDCL_DECLARE_STEP)
SDCL_CHECK_FUNCTIONS (SDCL_DECLARE_CHECK)

/* One tensor of numel normals from the run's generator (g_free it): the
 * randn_tensor call of a diffusers step. */
float *sdcl_sched_draw_noise (sdcl_randn *rng, int64_t numel);

/* DPM++ SDE's noise for one evaluation (step_k.c): the first of a step
 * draws numel normals into out and keeps them in z1; the second draws
 * fresh ones and returns the normalised Brownian increment over the whole
 * step, (sqrt(part)·z1 + sqrt(total − part)·z) / sqrt(total), where part
 * and total are the lengths of the first and the whole interval in σ. */
void sdcl_sde_noise (sdcl_randn *rng, bool second, float part, float total, float *z1, float *out,
                     int64_t numel);

#endif /* SDCL_SAMPLER_TABLE_H */

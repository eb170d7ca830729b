/* The sampler table: one row per sdcl_sampler, the only place that says
 * what a sampler is (name, label, options, schedule and step functions).
 * scheduler.c and scheduler_step.c dispatch through it and test no sampler
 * kind themselves.  Internal.
 *
 * Adding a sampler: a value before SDCL_SAMPLER_COUNT in sdcl.h, a row in
 * sampler_table.c, its schedule / step functions, a diffusers fixture in
 * tests/reference/gen_sampling.py.  Front ends list the table through
 * sdcl_sampler_count / _name / _label and need no change.
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

/* Schedules (sched_tables.c). */
void sdcl_schedule_discrete (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_euler (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_dpm (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_heun (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_dpm2 (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_dpm2_a (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_dpmpp_sde (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_unipc (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_deis (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_pndm (sdcl_sched *s, sdcl_spacing sp, double *t);
void sdcl_schedule_lcm (sdcl_sched *s, sdcl_spacing sp, double *t);

/* One tensor of numel normals from the run's generator (g_free it): the
 * randn_tensor call of a diffusers step. */
float *sdcl_sched_draw_noise (sdcl_randn *rng, int64_t numel);

/* Steps (step_vp.c, step_ddpm.c, step_pndm.c, step_k.c, scheduler_dpm.c). */
void sdcl_step_ddim (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                     sdcl_randn *rng, float *x0_out);
void sdcl_step_euler (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                      sdcl_randn *rng, float *x0_out);
void sdcl_step_euler_a (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                        sdcl_randn *rng, float *x0_out);
void sdcl_step_dpmpp_2m (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                         sdcl_randn *rng, float *x0_out);
void sdcl_step_ddpm (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                     sdcl_randn *rng, float *x0_out);
sdcl_status sdcl_check_ddpm (const sdcl_sched_config *cfg, int steps,
                              sdcl_error *err);
void sdcl_step_dpmpp_2m_sde (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                             sdcl_randn *rng, float *x0_out);
void sdcl_step_lms (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                    sdcl_randn *rng, float *x0_out);
void sdcl_step_heun (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                     sdcl_randn *rng, float *x0_out);
void sdcl_step_dpm2 (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                     sdcl_randn *rng, float *x0_out);
void sdcl_step_dpm2_a (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                       sdcl_randn *rng, float *x0_out);
/* DPM++ SDE's noise for one evaluation (step_k.c): the first of a step
 * draws numel normals into out and keeps them in z1; the second draws
 * fresh ones and returns the normalised Brownian increment over the whole
 * step, (sqrt(part)·z1 + sqrt(total − part)·z) / sqrt(total), where part
 * and total are the lengths of the first and the whole interval in σ. */
void sdcl_sde_noise (sdcl_randn *rng, bool second, float part, float total, float *z1, float *out,
                     int64_t numel);
void sdcl_step_dpmpp_sde (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                          sdcl_randn *rng, float *x0_out);
void sdcl_step_unipc (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                      sdcl_randn *rng, float *x0_out);
void sdcl_step_deis (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                     sdcl_randn *rng, float *x0_out);
void sdcl_step_dpmpp_2s_a (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                           sdcl_randn *rng, float *x0_out);
sdcl_status sdcl_check_dpm2 (const sdcl_sched_config *cfg, int steps,
                              sdcl_error *err);
void sdcl_step_pndm (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                     sdcl_randn *rng, float *x0_out);
sdcl_status sdcl_check_pndm (const sdcl_sched_config *cfg, int steps,
                              sdcl_error *err);
void sdcl_step_lcm (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                    sdcl_randn *rng, float *x0_out);
void sdcl_step_tcd (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                    sdcl_randn *rng, float *x0_out);

#endif /* SDCL_SAMPLER_TABLE_H */

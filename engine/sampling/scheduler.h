/* Noise schedules and samplers, as diffusers implements them (docs/diffusion.md §Schedulers).
 * Host-side float32 math on latent arrays; deterministic.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_SCHEDULER_H
#define SDCL_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "model_files.h"
#include "rng.h"
#include "sdcl.h"

#define SDCL_TRAIN_STEPS_MAX 4096
#define SDCL_SCHED_HISTORY 4      /* the most past steps a multistep sampler keeps */

typedef struct {
  sdcl_sampler kind;
  sdcl_sched_config cfg;
  sdcl_schedule schedule;
  bool karras;                    /* schedule == SDCL_SCHEDULE_KARRAS */
  float eta;                      /* DDIM */

  /* training schedule */
  int T;
  float alphas_cumprod[SDCL_TRAIN_STEPS_MAX];
  float final_alpha_cumprod;

  /* inference schedule: n model evaluations (steps, or 2·steps − 1 for
   * Heun-type samplers, whose arrays hold each level once per evaluation
   * as diffusers' do; PNDM: see sdcl_schedule_pndm) */
  int n;
  int steps;                      /* the steps asked for */
  float *timesteps;               /* n values passed to the UNet (float for Euler types) */
  float *sigmas;                  /* n + 1 (last 0) for sigma-based samplers, else NULL */
  float *sigmas_interpol;         /* DPM2: the log-midpoint levels, n + 3, else NULL */
  float init_noise_sigma;
  int step_index;                 /* next step to run */
  int begin_index;                /* first step (img2img), 0 for txt2img */

  /* multistep state */
  float *prev_x0;                 /* DPM++: x0 prediction of the previous step, or NULL */
  float *history[SDCL_SCHED_HISTORY]; /* LMS: derivatives of the last steps, newest first;
                                       * Heun: derivative and sample of the first half */
  int n_history;
  bool mid_step;                  /* Heun: the next evaluation is a step's second */
  float *pndm_sample;             /* PNDM: the sample its (Runge-Kutta) step starts from */
  float *pndm_acc;                /* PNDM: a Runge-Kutta step's weighted outputs so far */
  float heun_dt;
  int order_used;                 /* UniPC: the order of the last predictor step */
  int n_outputs;                  /* UniPC: x0 predictions kept (its lower_order_nums) */
  int64_t numel;
} sdcl_sched;

/* Builds the schedule for `steps` inference steps.  Errors: invalid steps,
 * a schedule the sampler does not take (sdcl_sampler_has_schedule),
 * unsupported config.
 * steps: 1 .. cfg->num_train_timesteps, for LCM 1 .. 50 (its distillation
 * schedule), and refused when "leading" spacing plus steps_offset would reach
 * past the last training timestep (1000 steps with offset 1).  eta starts
 * at 0 (set it afterwards for DDIM).  On error *s is zeroed (free is safe). */
sdcl_status sdcl_sched_init (sdcl_sched *s, sdcl_sampler kind, const sdcl_sched_config *cfg,
                             int steps, sdcl_schedule schedule, sdcl_error *err);
void sdcl_sched_free (sdcl_sched *s);
/* Drops the multistep history (the next step is taken as the first). */
void sdcl_sched_forget (sdcl_sched *s);

/* img2img / inpaint: the run starts at inference step `index` (diffusers'
 * set_begin_index(t_start)); the next sdcl_sched_step is that step, and
 * multistep samplers start over without history.  0 <= index < n. */
void sdcl_sched_set_begin_index (sdcl_sched *s, int index);

/* x_in = scale_model_input(x, current step) (x / sqrt(sigma^2 + 1) for Euler
 * types, identity otherwise).  x_in may alias x. */
void sdcl_sched_scale_input (const sdcl_sched *s, const float *x, float *x_in, int64_t numel);

/* One step: `model_out` is the (guided) UNet output (epsilon or v per
 * cfg.prediction_type), x is updated in place to the next sample.  Samplers
 * that need fresh noise (Euler a, LCM, DDIM eta>0) draw numel normals from
 * `rng`.  If x0_out is not NULL it receives the current x0 estimate. */
void sdcl_sched_step (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                      sdcl_randn *rng, float *x0_out);

/* Forward noising of clean latents x0 to the noise level of inference step
 * `index` (img2img / inpaint).  out may alias x0. */
void sdcl_sched_add_noise (const sdcl_sched *s, const float *x0, const float *noise, int index,
                           float *out, int64_t numel);

#endif /* SDCL_SCHEDULER_H */

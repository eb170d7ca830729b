/* What the schedule and step files share (internal to the sampling code):
 * the training-schedule and spacing helpers the per-sampler schedule
 * functions build on, and the per-level coefficients of the VP and VE
 * latent forms the step functions use.
 *
 * Every expression rounds as written: diffusers' numpy and torch steps are
 * never fused multiply-adds on the reference machines, so every file that
 * includes this one turns contraction off.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_SCHED_MATH_H
#define SDCL_SCHED_MATH_H

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdbool.h>

#include "sampler_table.h"

/* ---- training schedule (sched_training.c) ---------------------------------- */

/* Fills s->alphas_cumprod and final_alpha_cumprod from s->cfg. */
sdcl_status sdcl_training_schedule (sdcl_sched *s, sdcl_error *err);
/* sigma_t = sqrt((1 − ā_t) / ā_t) in float32 (2^-24 for a zero terminal ā). */
float sdcl_train_sigma (const sdcl_sched *s, int t);

/* ---- spacing and sigmas (sched_spacing.c), in double like numpy ------------- */

double sdcl_round_half_even (double v);
double sdcl_np_linspace_at (double stop, int num, bool endpoint, int i);
/* DDIM / Euler-type N timesteps, descending (Euler keeps linspace fractional). */
void sdcl_spaced_timesteps (sdcl_spacing sp, int T, int N, int offset, bool fractional,
                            double *t);
/* DPMSolverMultistepScheduler's: N + 1 points with the last one dropped. */
void sdcl_dpm_timesteps (sdcl_spacing sp, int T, int N, int offset, double *t);
void sdcl_lcm_timesteps (int T, int N, double *t);
/* np.interp(x, arange(T), training sigmas). */
double sdcl_interp_sigma (const sdcl_sched *s, double x);
/* Karras or exponential respacing of s->n sigmas (s->schedule says which). */
void sdcl_respace_sigmas (const sdcl_sched *s, double sigma_min, double sigma_max, double *out);
bool sdcl_respaced (const sdcl_sched *s);
/* float32 log training sigmas, T of them (g_free). */
float *sdcl_log_sigma_table (const sdcl_sched *s);
/* diffusers' _sigma_to_t in double, and in float32 as KDPM2 runs it. */
double sdcl_sigma_to_t (const float *log_sigmas, int T, double sigma);
double sdcl_sigma_to_t_f32 (const float *log_sigmas, int T, float sigma);
/* s->n Align Your Steps timesteps (fractional, or rounded when integer). */
void sdcl_ays_timesteps (const sdcl_sched *s, bool integer, double *t);

/* ---- VP latents: x_t = sqrt(ā)·x0 + sqrt(1 − ā)·ε --------------------------- */

typedef struct {
  float sqrt_alpha; /* sqrt(ā_t) */
  float sqrt_beta;  /* sqrt(1 − ā_t) */
} vp_level;

static inline vp_level
vp_level_at (float alpha_cumprod)
{
  return (vp_level) { sqrtf (alpha_cumprod), sqrtf (1.0f - alpha_cumprod) };
}

static inline float
vp_x0 (sdcl_prediction pred, vp_level l, float x, float out)
{
  switch (pred)
    {
    case SDCL_PREDICTION_V:
      return l.sqrt_alpha * x - l.sqrt_beta * out;
    case SDCL_PREDICTION_SAMPLE:
      return out;
    case SDCL_PREDICTION_EPSILON:
    default:
      return (x - l.sqrt_beta * out) / l.sqrt_alpha;
    }
}

static inline float
vp_epsilon (sdcl_prediction pred, vp_level l, float x, float out, float x0)
{
  switch (pred)
    {
    case SDCL_PREDICTION_V:
      return l.sqrt_alpha * out + l.sqrt_beta * x;
    case SDCL_PREDICTION_SAMPLE:
      return (x - l.sqrt_alpha * x0) / l.sqrt_beta;
    case SDCL_PREDICTION_EPSILON:
    default:
      return out;
    }
}

/* ā at an integer timestep; final_alpha_cumprod before the first. */
static inline float
alpha_cumprod_at (const sdcl_sched *s, int t)
{
  return t >= 0 ? s->alphas_cumprod[t] : s->final_alpha_cumprod;
}

/* DDPM and DDIM: clip_sample or dynamic thresholding of an x0 estimate
 * (step_vp.c). */
void sdcl_limit_x0 (const sdcl_sched_config *cfg, float *x0, int64_t numel);

/* ---- VE latents: x̃ = x0 + σ·ε ----------------------------------------------- */

typedef struct {
  float sigma;
  float v_out_coef; /* −σ / sqrt(σ² + 1) */
  float v_x_div;    /* σ² + 1 */
} ve_level;

static inline ve_level
ve_level_at (float sigma)
{
  float sigma_sq_plus_1 = sigma * sigma + 1.0f;
  return (ve_level) { sigma, -sigma / sqrtf (sigma_sq_plus_1), sigma_sq_plus_1 };
}

static inline float
ve_x0 (sdcl_prediction pred, ve_level l, float x, float out)
{
  switch (pred)
    {
    case SDCL_PREDICTION_V:
      return out * l.v_out_coef + x / l.v_x_div;
    case SDCL_PREDICTION_SAMPLE:
      return out;
    case SDCL_PREDICTION_EPSILON:
    default:
      return x - l.sigma * out;
    }
}

#endif /* SDCL_SCHED_MATH_H */

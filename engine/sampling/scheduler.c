/* Noise schedules (docs/diffusion.md §Schedulers): what diffusers'
 * DDIMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
 * DPMSolverMultistepScheduler and LCMScheduler compute in set_timesteps().
 * The per-step math is in scheduler_step.c.
 *
 * diffusers builds these tables with a mix of torch float32 and numpy
 * float64 operations; each function below names the precision of the step it
 * reproduces, because the step outputs are compared with diffusers' to a few
 * float32 ulps.
 *
 * Configuration follows `Class.from_config(model_config)`: the model's keys
 * win, absent keys take the class default.  The loader reports an absent
 * timestep_spacing as "", which selects the sampler's own default (DDIM and
 * LCM "leading", Euler, Euler a and DPM++ "linspace").
 *
 * Deviations: diffusers' "trailing" spacing makes N + 1 timesteps, the last
 * one -1, for 62 step counts between 61 and 1000 (a float artefact of
 * np.arange); sdcl always makes N.  Euler ancestral accepts "sample"
 * prediction (x0 = model output), which diffusers leaves unimplemented.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "scheduler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sampler_table.h"

/* Every expression rounds as written: diffusers' numpy and torch steps are
 * never fused multiply-adds on the reference machines. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define KARRAS_RHO 7.0

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
    return row->check (cfg, err);
  return SDCL_OK;
}

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
static sdcl_status
training_schedule (sdcl_sched *s, sdcl_error *err)
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
static float
train_sigma (const sdcl_sched *s, int t)
{
  float a = s->alphas_cumprod[t];
  if (a == 0.0f && s->cfg.rescale_betas_zero_snr)
    a = 0x1p-24f;
  return sqrtf ((1.0f - a) / a);
}

/* ---- timestep spacing (docs/diffusion.md §Timestep spacing), in double like numpy */

/* numpy's round(): half to even (the default rounding mode of rint). */
static double
round_half_even (double v)
{
  return nearbyint (v);
}

/* np.linspace(0, stop, num, endpoint)[i]: i * step + 0, the endpoint exact. */
static double
np_linspace_at (double stop, int num, bool endpoint, int i)
{
  int div = endpoint ? num - 1 : num;
  if (div <= 0)
    return 0.0;
  if (endpoint && i == num - 1)
    return stop;
  return (double) i * (stop / div) + 0.0;
}

/* np.arange(start, 0, -step)[i]: numpy fills start + i * delta, where delta is
 * the difference of the first two elements, not `step` itself. */
static double
np_arange_down_at (double start, double step, int i)
{
  double delta = (start + -step) - start;
  return start + (double) i * delta;
}

/* The N inference timesteps, descending, as diffusers makes them for DDIM and
 * Euler-type schedulers (Euler keeps linspace fractional: `fractional`). */
static void
spaced_timesteps (sdcl_spacing sp, int T, int N, int offset, bool fractional, double *t)
{
  for (int i = 0; i < N; i++)
    {
      int k = N - 1 - i; /* ascending position */
      switch (sp)
        {
        case SDCL_SPACING_LEADING:
          t[i] = (double) k * (T / N) + offset;
          break;
        case SDCL_SPACING_LINSPACE:
          t[i] = np_linspace_at (T - 1, N, true, k);
          t[i] = fractional ? (double) (float) t[i] : round_half_even (t[i]);
          break;
        case SDCL_SPACING_TRAILING:
          t[i] = round_half_even (np_arange_down_at (T, (double) T / N, i)) - 1.0;
          break;
        }
    }
}

/* DPMSolverMultistepScheduler: N + 1 points with the last one dropped. */
static void
dpm_timesteps (sdcl_spacing sp, int T, int N, int offset, double *t)
{
  for (int i = 0; i < N; i++)
    {
      int k = N - i; /* ascending position among N + 1 */
      switch (sp)
        {
        case SDCL_SPACING_LEADING:
          t[i] = (double) k * (T / (N + 1)) + offset;
          break;
        case SDCL_SPACING_LINSPACE:
          t[i] = round_half_even (np_linspace_at (T - 1, N + 1, true, k));
          break;
        case SDCL_SPACING_TRAILING:
          t[i] = round_half_even (np_arange_down_at (T, (double) T / N, i)) - 1.0;
          break;
        }
    }
}

/* LCMScheduler: N of the 50 distillation timesteps k·i − 1 (k = T // 50),
 * picked at floor(linspace(0, 50, N, endpoint=False)).  Spacing and
 * steps_offset do not apply. */
static void
lcm_timesteps (int T, int N, double *t)
{
  int k = T / SDCL_LCM_ORIGIN_STEPS;
  for (int i = 0; i < N; i++)
    {
      int pick = (int) floor (np_linspace_at (SDCL_LCM_ORIGIN_STEPS, N, false, i));
      t[i] = (double) (k * (SDCL_LCM_ORIGIN_STEPS - pick) - 1);
    }
}

/* ---- sigmas (docs/diffusion.md §Euler, §DPM++ 2M) ---------------------------- */

/* np.interp(x, arange(T), train sigmas) in double. */
static double
interp_sigma (const sdcl_sched *s, double x)
{
  if (x <= 0.0)
    return train_sigma (s, 0);
  if (x >= s->T - 1)
    return train_sigma (s, s->T - 1);
  int j = (int) floor (x);
  double lo = train_sigma (s, j), hi = train_sigma (s, j + 1);
  if (x == j)
    return lo;
  return (hi - lo) * (x - j) + lo;
}

/* Karras et al. (2022) spacing from sigma_max down to sigma_min, in double. */
static void
karras_sigmas (double sigma_min, double sigma_max, int N, double *out)
{
  double min_inv_rho = pow (sigma_min, 1.0 / KARRAS_RHO);
  double max_inv_rho = pow (sigma_max, 1.0 / KARRAS_RHO);
  for (int i = 0; i < N; i++)
    {
      double ramp = np_linspace_at (1.0, N, true, i);
      out[i] = pow (max_inv_rho + ramp * (min_inv_rho - max_inv_rho), KARRAS_RHO);
    }
}

/* np.exp(np.linspace(log(sigma_max), log(sigma_min), N)): even steps in log
 * sigma (diffusers' use_exponential_sigmas), in double. */
static void
exponential_sigmas (double sigma_min, double sigma_max, int N, double *out)
{
  double start = log (sigma_max), stop = log (sigma_min);
  double step = N > 1 ? (stop - start) / (N - 1) : 0.0;
  for (int i = 0; i < N; i++)
    out[i] = exp (i == N - 1 && N > 1 ? stop : (double) i * step + start);
}

/* Karras or exponential respacing between sigma_min and sigma_max. */
static void
respace_sigmas (const sdcl_sched *s, double sigma_min, double sigma_max, double *out)
{
  if (s->schedule == SDCL_SCHEDULE_KARRAS)
    karras_sigmas (sigma_min, sigma_max, s->n, out);
  else
    exponential_sigmas (sigma_min, sigma_max, s->n, out);
}

static bool
respaced (const sdcl_sched *s)
{
  return s->schedule == SDCL_SCHEDULE_KARRAS || s->schedule == SDCL_SCHEDULE_EXPONENTIAL;
}

/* diffusers' table of log training sigmas, float32 (np.log of a float32
 * array; float(log(double)) is the correctly rounded value). */
static float *
log_sigma_table (const sdcl_sched *s)
{
  float *table = g_new (float, s->T);
  for (int i = 0; i < s->T; i++)
    table[i] = (float) log (train_sigma (s, i));
  return table;
}

/* The fractional training timestep of a sigma (diffusers' _sigma_to_t):
 * linear interpolation in log sigma between the last training step whose
 * log sigma is <= log(sigma) and the next one, in double. */
static double
sigma_to_t (const float *log_sigmas, int T, double sigma)
{
  double log_sigma = log (sigma > 1e-10 ? sigma : 1e-10);
  int low = 0;
  for (int i = 0; i < T; i++)
    if (log_sigmas[i] <= log_sigma)
      low = i;
  if (low > T - 2)
    low = T - 2;
  double lo = log_sigmas[low], hi = log_sigmas[low + 1];
  double w = (lo - log_sigma) / (lo - hi);
  w = w < 0.0 ? 0.0 : w > 1.0 ? 1.0 : w;
  return (1.0 - w) * low + w * (low + 1);
}

/* ---- Align Your Steps (Sabour et al. 2024) ------------------------------------ */

/* The published 10-step timesteps, as diffusers' AysSchedules lists them.
 * sdcl runs SD 1.x, so it uses the SD 1.5 row; the SDXL row is for that
 * family. */
#define AYS_POINTS 10
static const double ays_sd15[AYS_POINTS] = { 999, 850, 736, 645, 545, 455, 343, 233, 124, 24 };
G_GNUC_UNUSED static const double ays_sdxl[AYS_POINTS] = { 999, 845, 730, 587, 443, 310,
                                                           193, 116, 53,  13 };

/* N AYS timesteps: the table itself for N = 10 (what diffusers runs with
 * timesteps=AysSchedules[...]); otherwise the table's sigmas interpolated
 * linearly in log sigma over N evenly spaced points and mapped back to
 * timesteps (fractional, or rounded for integer samplers). */
static void
ays_timesteps (const sdcl_sched *s, bool integer, double *t)
{
  int N = s->n;
  if (N == AYS_POINTS)
    {
      memcpy (t, ays_sd15, sizeof ays_sd15);
      return;
    }
  double log_sigma[AYS_POINTS];
  for (int i = 0; i < AYS_POINTS; i++)
    log_sigma[i] = log (interp_sigma (s, ays_sd15[i]));
  float *log_sigmas = log_sigma_table (s);
  for (int j = 0; j < N; j++)
    {
      double x = N > 1 ? (double) j * (AYS_POINTS - 1) / (N - 1) : 0.0;
      int k = (int) x < AYS_POINTS - 1 ? (int) x : AYS_POINTS - 2;
      double ls = log_sigma[k] + (x - k) * (log_sigma[k + 1] - log_sigma[k]);
      double tj = sigma_to_t (log_sigmas, s->T, exp (ls));
      t[j] = integer ? round_half_even (tj) : tj;
    }
  g_free (log_sigmas);
}

/* Euler and Euler a: sigmas at the (fractional) timesteps; Karras and
 * exponential respace the sigmas and the timesteps follow them. */
static void
euler_sigmas (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  int N = s->n;
  if (s->schedule == SDCL_SCHEDULE_AYS)
    ays_timesteps (s, false, t);
  else
    spaced_timesteps (sp, s->T, N, s->cfg.steps_offset, true, t);
  double *sigma = g_new (double, N);
  for (int i = 0; i < N; i++)
    sigma[i] = interp_sigma (s, t[i]);
  if (respaced (s))
    {
      respace_sigmas (s, sigma[N - 1], sigma[0], sigma);
      float *log_sigmas = log_sigma_table (s);
      for (int i = 0; i < N; i++)
        t[i] = sigma_to_t (log_sigmas, s->T, sigma[i]);
      g_free (log_sigmas);
    }
  for (int i = 0; i < N; i++)
    {
      s->timesteps[i] = (float) t[i];
      s->sigmas[i] = (float) sigma[i];
    }
  s->sigmas[N] = 0.0f;
  g_free (sigma);
}

/* DPM++ 2M: integer timesteps; Karras and exponential respace the sigmas
 * over the whole training range.  The timesteps that follow them are
 * rounded for Karras; diffusers skips that for the cosine schedule and for
 * exponential sigmas, where its int64 cast then truncates. */
void
sdcl_schedule_dpm (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  int N = s->n;
  s->sigmas = g_new (float, N + 1);
  if (s->schedule == SDCL_SCHEDULE_AYS)
    ays_timesteps (s, true, t);
  else
    dpm_timesteps (sp, s->T, N, s->cfg.steps_offset, t);
  if (respaced (s))
    {
      bool truncate = strcmp (s->cfg.beta_schedule, "squaredcos_cap_v2") == 0
                      || s->schedule == SDCL_SCHEDULE_EXPONENTIAL;
      double *sigma = g_new (double, N);
      respace_sigmas (s, train_sigma (s, 0), train_sigma (s, s->T - 1), sigma);
      float *log_sigmas = log_sigma_table (s);
      for (int i = 0; i < N; i++)
        {
          s->sigmas[i] = (float) sigma[i];
          double ti = sigma_to_t (log_sigmas, s->T, sigma[i]);
          t[i] = truncate ? trunc (ti) : round_half_even (ti);
        }
      g_free (log_sigmas);
      g_free (sigma);
    }
  else
    for (int i = 0; i < N; i++)
      s->sigmas[i] = (float) interp_sigma (s, t[i]);
  for (int i = 0; i < N; i++)
    s->timesteps[i] = (float) t[i];
  s->sigmas[N] = 0.0f;
}

/* Euler types start from noise scaled to the largest sigma; with "leading"
 * spacing diffusers uses sqrt(max² + 1) instead (a quirk kept on purpose:
 * it is what SDXL's default scheduler does). */
static float
euler_init_noise_sigma (const sdcl_sched *s, sdcl_spacing sp)
{
  float max = 0.0f;
  for (int i = 0; i <= s->n; i++)
    max = s->sigmas[i] > max ? s->sigmas[i] : max;
  return sp == SDCL_SPACING_LEADING ? sqrtf (max * max + 1.0f) : max;
}

void
sdcl_schedule_euler (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  s->sigmas = g_new (float, s->n + 1);
  euler_sigmas (s, sp, t);
  s->init_noise_sigma = euler_init_noise_sigma (s, sp);
}

/* DDIM-type integer timesteps on the spacing grid. */
/* Heun: Euler's levels, each inner one twice (a step's two evaluations),
 * 2N − 1 entries as diffusers' HeunDiscreteScheduler holds them; t keeps
 * the N step timesteps for the range check. */
void
sdcl_schedule_heun (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  sdcl_schedule_euler (s, sp, t);
  int N = s->n, n = 2 * N - 1;
  float *timesteps = g_new (float, n), *sigmas = g_new (float, n + 1);
  for (int i = 0; i < n; i++)
    timesteps[i] = s->timesteps[(i + 1) / 2];
  for (int i = 0; i <= n; i++)
    sigmas[i] = s->sigmas[(i + 1) / 2];
  g_free (s->timesteps);
  g_free (s->sigmas);
  s->timesteps = timesteps;
  s->sigmas = sigmas;
  s->n = n;
}

/* _sigma_to_t as diffusers' KDPM2 runs it on a float32 sigma: the log and
 * the weight in float32 (numpy keeps the tensor's type), the blend of the
 * two indices in double. */
static double
sigma_to_t_f32 (const float *log_sigmas, int T, float sigma)
{
  float log_sigma = logf (sigma > 1e-10f ? sigma : 1e-10f);
  int low = 0;
  for (int i = 0; i < T; i++)
    if (log_sigmas[i] <= log_sigma)
      low = i;
  if (low > T - 2)
    low = T - 2;
  float w = (log_sigmas[low] - log_sigma) / (log_sigmas[low] - log_sigmas[low + 1]);
  w = w < 0.0f ? 0.0f : w > 1.0f ? 1.0f : w;
  return (double) (1.0f - w) * low + (double) w * (low + 1);
}

/* DPM2 (KDPM2DiscreteScheduler): Euler's levels σ_0..σ_N (σ_N = 0) and
 * their log-midpoints; each step evaluates at σ_i, then at the midpoint
 * (2N − 1 evaluations, the last step to 0 is one).  Arrays as diffusers
 * holds them: sigmas and sigmas_interpol 2N + 2 long, every level after
 * the first twice; timesteps t_0, then the midpoint's and the next level's
 * for every step. */
void
sdcl_schedule_dpm2 (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  sdcl_schedule_euler (s, sp, t);
  int N = MAX (s->n, 1); /* checked at init; the compiler cannot see it */
  if (s->schedule == SDCL_SCHEDULE_KARRAS) /* KDPM2 rounds the Karras timesteps */
    for (int i = 0; i < N; i++)
      s->timesteps[i] = (float) round_half_even (s->timesteps[i]);
  float *mid = g_new (float, N + 1);
  mid[0] = 0.0f; /* diffusers' roll makes this one from σ_N = 0: never used */
  for (int i = 1; i <= N; i++)
    {
      /* torch.lerp(a, b, 0.5) = b − (b − a)·0.5; log 0 = −inf gives 0 */
      float a = logf (s->sigmas[i]), b = logf (s->sigmas[i - 1]);
      mid[i] = expf (b - (b - a) * 0.5f);
    }
  float *log_sigmas = log_sigma_table (s);
  int n = 2 * N - 1;
  float *timesteps = g_new (float, n);
  float *sigmas = g_new (float, 2 * N + 2), *interpol = g_new (float, 2 * N + 2);
  for (int j = 0; j < 2 * N + 2; j++)
    {
      int k = MIN ((j + 1) / 2, N);
      sigmas[j] = s->sigmas[k];
      interpol[j] = mid[k];
    }
  for (int j = 0; j < n; j++)
    timesteps[j] = j % 2 ? (float) sigma_to_t_f32 (log_sigmas, s->T, mid[(j + 1) / 2])
                         : s->timesteps[j / 2];
  g_free (log_sigmas);
  g_free (mid);
  g_free (s->timesteps);
  g_free (s->sigmas);
  s->timesteps = timesteps;
  s->sigmas = sigmas;
  s->sigmas_interpol = interpol;
  s->n = n;
}

/* PNDM with skip_prk_steps (diffusers' plms_timesteps): the spacing's N
 * timesteps with the second repeated, N + 1 evaluations (one for N = 1). */
void
sdcl_schedule_pndm (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  int N = s->n;
  spaced_timesteps (sp, s->T, N, s->cfg.steps_offset, false, t);
  if (N == 1)
    {
      s->timesteps[0] = (float) t[0];
      return;
    }
  g_free (s->timesteps);
  s->timesteps = g_new (float, N + 1);
  s->timesteps[0] = (float) t[0];
  for (int i = 1; i <= N; i++)
    s->timesteps[i] = (float) t[i > 1 ? i - 1 : 1];
  s->n = N + 1;
}

void
sdcl_schedule_discrete (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  if (s->schedule == SDCL_SCHEDULE_AYS)
    ays_timesteps (s, true, t);
  else
    spaced_timesteps (sp, s->T, s->n, s->cfg.steps_offset, false, t);
  for (int i = 0; i < s->n; i++)
    s->timesteps[i] = (float) t[i];
}

void
sdcl_schedule_lcm (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  (void) sp; /* LCM keeps its distillation grid whatever the spacing */
  lcm_timesteps (s->T, s->n, t);
  for (int i = 0; i < s->n; i++)
    s->timesteps[i] = (float) t[i];
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
  st = training_schedule (s, err);
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
  g_free (s->pndm_sample);
  s->pndm_sample = NULL;
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

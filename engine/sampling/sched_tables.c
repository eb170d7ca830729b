/* Each sampler's set_timesteps(): the table row's schedule function fills
 * s->timesteps, and for sigma-based samplers s->sigmas and
 * init_noise_sigma, as diffusers' scheduler classes do (DDIM, Euler, Euler
 * ancestral, DPM-Solver++, Heun, KDPM2, PNDM, LCM, ...).
 *
 * Deviation: Euler ancestral accepts "sample" prediction (x0 = model
 * output), which diffusers leaves unimplemented.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "sched_math.h"

/* Euler and Euler a: sigmas at the (fractional) timesteps; Karras and
 * exponential respace the sigmas and the timesteps follow them.  Euler's
 * linspace grid is float32 (np.linspace(..., dtype=float32)); with
 * f64_grid it stays double (DPMSolverSDEScheduler's).  sigma_keep, if not
 * NULL, receives the N sigmas in double, before their float rounding. */
static void
euler_sigmas_ex (sdcl_sched *s, sdcl_spacing sp, double *t, bool f64_grid, double *sigma_keep)
{
  int N = s->n;
  if (s->schedule == SDCL_SCHEDULE_AYS)
    sdcl_ays_timesteps (s, false, t);
  else
    sdcl_spaced_timesteps (sp, s->T, N, s->cfg.steps_offset, true, t);
  if (f64_grid && sp == SDCL_SPACING_LINSPACE && s->schedule != SDCL_SCHEDULE_AYS)
    for (int i = 0; i < N; i++)
      t[i] = sdcl_np_linspace_at (s->T - 1, N, true, N - 1 - i);
  double *sigma = g_new (double, N);
  for (int i = 0; i < N; i++)
    sigma[i] = sdcl_interp_sigma (s, t[i]);
  if (sdcl_respaced (s))
    {
      sdcl_respace_sigmas (s, sigma[N - 1], sigma[0], sigma);
      float *log_sigmas = sdcl_log_sigma_table (s);
      for (int i = 0; i < N; i++)
        t[i] = sdcl_sigma_to_t (log_sigmas, s->T, sigma[i]);
      g_free (log_sigmas);
    }
  for (int i = 0; i < N; i++)
    {
      s->timesteps[i] = (float) t[i];
      s->sigmas[i] = (float) sigma[i];
    }
  s->sigmas[N] = 0.0f;
  if (sigma_keep)
    memcpy (sigma_keep, sigma, (size_t) N * sizeof *sigma);
  g_free (sigma);
}

static void
euler_sigmas (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  euler_sigmas_ex (s, sp, t, false, NULL);
}

/* DPM++ 2M: integer timesteps; Karras and exponential respace the sigmas
 * over the whole training range.  The timesteps that follow them are
 * rounded for Karras; diffusers skips that for the cosine schedule and for
 * exponential sigmas, where its int64 cast then truncates. */
static void
schedule_dpm (sdcl_sched *s, sdcl_spacing sp, double *t, bool cosine_truncates)
{
  int N = s->n;
  s->sigmas = g_new (float, N + 1);
  if (s->schedule == SDCL_SCHEDULE_AYS)
    sdcl_ays_timesteps (s, true, t);
  else
    sdcl_dpm_timesteps (sp, s->T, N, s->cfg.steps_offset, t);
  if (sdcl_respaced (s))
    {
      bool truncate = (cosine_truncates && strcmp (s->cfg.beta_schedule, "squaredcos_cap_v2") == 0)
                      || s->schedule == SDCL_SCHEDULE_EXPONENTIAL;
      double *sigma = g_new (double, N);
      sdcl_respace_sigmas (s, sdcl_train_sigma (s, 0), sdcl_train_sigma (s, s->T - 1), sigma);
      float *log_sigmas = sdcl_log_sigma_table (s);
      for (int i = 0; i < N; i++)
        {
          s->sigmas[i] = (float) sigma[i];
          double ti = sdcl_sigma_to_t (log_sigmas, s->T, sigma[i]);
          t[i] = truncate ? trunc (ti) : sdcl_round_half_even (ti);
        }
      g_free (log_sigmas);
      g_free (sigma);
    }
  else
    for (int i = 0; i < N; i++)
      s->sigmas[i] = (float) sdcl_interp_sigma (s, t[i]);
  for (int i = 0; i < N; i++)
    s->timesteps[i] = (float) t[i];
  s->sigmas[N] = 0.0f;
}

void
sdcl_schedule_dpm (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  schedule_dpm (s, sp, t, true);
}

/* UniPCMultistepScheduler: DPM-Solver++'s timesteps and sigmas, but it
 * rounds the Karras timesteps for the cosine schedule too. */
void
sdcl_schedule_unipc (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  schedule_dpm (s, sp, t, false);
}

/* DEISMultistepScheduler: DPM-Solver++'s timesteps, the Karras ones
 * rounded for every beta schedule; its last level is not 0 but the
 * schedule's smallest σ, that of timestep 0 (or the last respaced σ once
 * more, a step that leaves x as it is). */
void
sdcl_schedule_deis (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  schedule_dpm (s, sp, t, false);
  s->sigmas[s->n] = sdcl_respaced (s) ? s->sigmas[s->n - 1] : sdcl_train_sigma (s, 0);
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

/* Heun: Euler's levels, each inner one twice (a step's two evaluations),
 * 2N − 1 entries as diffusers' HeunDiscreteScheduler holds them; t keeps
 * the N step timesteps for the range check. */
static void
interleave_levels (sdcl_sched *s)
{
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

void
sdcl_schedule_heun (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  sdcl_schedule_euler (s, sp, t);
  interleave_levels (s);
}

/* DPM++ SDE (DPMSolverSDEScheduler): Heun's layout (2N − 1 evaluations,
 * the last step one) on a float64 linspace grid; the second evaluation of
 * step i is at the midpoint in log σ, whose timestep diffusers computes in
 * double from the double sigmas and whose σ the step computes in float32
 * (kept in sigmas_interpol at the odd evaluation, as DPM2's). */
void
sdcl_schedule_dpmpp_sde (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  int N = MAX (s->n, 1); /* checked at init; the compiler cannot see it */
  s->sigmas = g_new (float, N + 1);
  double *sigma = g_new (double, N);
  euler_sigmas_ex (s, sp, t, true, sigma);
  s->init_noise_sigma = euler_init_noise_sigma (s, sp);
  float *mid = g_new (float, N);
  double *mid_t = g_new (double, N);
  float *log_sigmas = sdcl_log_sigma_table (s);
  for (int i = 0; i + 1 < N; i++)
    {
      double a = -log (sigma[i]), b = -log (sigma[i + 1]);
      mid_t[i] = sdcl_sigma_to_t (log_sigmas, s->T, exp (-(a + (b - a) * 0.5)));
      float fa = -logf (s->sigmas[i]), fb = -logf (s->sigmas[i + 1]);
      mid[i] = expf (-(fa + (fb - fa) * 0.5f));
    }
  g_free (log_sigmas);
  interleave_levels (s);
  s->sigmas_interpol = g_new0 (float, 2 * N);
  for (int i = 0; i + 1 < N; i++)
    {
      s->timesteps[2 * i + 1] = (float) mid_t[i];
      s->sigmas_interpol[2 * i + 1] = mid[i];
    }
  g_free (mid);
  g_free (mid_t);
  g_free (sigma);
}

/* σ_down of an ancestral step from σ to σ_next (the deterministic part;
 * σ_up of fresh noise makes up the rest), float32 as torch computes it. */
static float
sigma_down_of (float sigma, float sigma_next)
{
  float from_sq = sigma * sigma, to_sq = sigma_next * sigma_next;
  float up = sqrtf (to_sq * (from_sq - to_sq) / from_sq);
  return sqrtf (to_sq - up * up);
}

/* DPM2 (KDPM2DiscreteScheduler) and DPM2 ancestral (KDPM2Ancestral...):
 * Euler's levels σ_0..σ_N (σ_N = 0) and midpoints in log σ; each step
 * evaluates at σ_i, then at the midpoint (2N − 1 evaluations, the last step
 * to 0 is one).  mid[i + 1] is step i's midpoint: between σ_i and σ_{i+1},
 * or for the ancestral sampler between σ_i and σ_down(i) (0 for the last
 * step, as diffusers zeroes it).  Arrays as diffusers' KDPM2 holds them:
 * sigmas and sigmas_interpol 2N + 2 long, every level after the first
 * twice; timesteps t_0, then the midpoint's and the next level's for every
 * step. */
static void
schedule_dpm2 (sdcl_sched *s, sdcl_spacing sp, double *t, bool ancestral)
{
  sdcl_schedule_euler (s, sp, t);
  int N = MAX (s->n, 1); /* checked at init; the compiler cannot see it */
  if (s->schedule == SDCL_SCHEDULE_KARRAS) /* KDPM2 rounds the Karras timesteps */
    for (int i = 0; i < N; i++)
      s->timesteps[i] = (float) sdcl_round_half_even (s->timesteps[i]);
  float *mid = g_new (float, N + 1);
  mid[0] = 0.0f; /* diffusers' roll makes this one from σ_N = 0: never used */
  for (int i = 1; i <= N; i++)
    {
      /* torch.lerp(a, b, 0.5) = b − (b − a)·0.5; log 0 = −inf gives 0 */
      float from = s->sigmas[i - 1];
      float to = ancestral ? sigma_down_of (from, s->sigmas[i]) : s->sigmas[i];
      float a = ancestral ? logf (from) : logf (to), b = ancestral ? logf (to) : logf (from);
      mid[i] = ancestral && i == N ? 0.0f : expf (b - (b - a) * 0.5f);
    }
  float *log_sigmas = sdcl_log_sigma_table (s);
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
    timesteps[j] = j % 2 ? (float) sdcl_sigma_to_t_f32 (log_sigmas, s->T, mid[(j + 1) / 2])
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

void
sdcl_schedule_dpm2 (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  schedule_dpm2 (s, sp, t, false);
}

void
sdcl_schedule_dpm2_a (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  schedule_dpm2 (s, sp, t, true);
}

/* PNDM's Runge-Kutta warm-up (skip_prk_steps false, diffusers'
 * prk_timesteps; sdcl_check_pndm asks for N >= 4): the four highest levels
 * t_0 > .. > t_3 of the grid give three Runge-Kutta steps of four
 * evaluations each, at t_j, twice at t_{j+1} + h and at t_{j+1}
 * (h = T // N // 2, the midpoint when the grid step is even); PLMS then
 * runs from t_3 down the rest of the grid, N − 3 more evaluations. */
static void
schedule_prk (sdcl_sched *s, const double *t)
{
  int N = s->n, h = s->T / N / 2;
  g_free (s->timesteps);
  s->timesteps = g_new (float, N + 9);
  for (int j = 0; j < 3; j++)
    {
      float *e = s->timesteps + 4 * j;
      e[0] = (float) t[j];
      e[1] = e[2] = (float) (t[j + 1] + h);
      e[3] = (float) t[j + 1];
    }
  for (int i = 3; i < N; i++)
    s->timesteps[9 + i] = (float) t[i];
  s->n = N + 9;
}

/* PNDM with skip_prk_steps (diffusers' plms_timesteps): the spacing's N
 * timesteps with the second repeated, N + 1 evaluations (one for N = 1). */
void
sdcl_schedule_pndm (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  int N = s->n;
  sdcl_spaced_timesteps (sp, s->T, N, s->cfg.steps_offset, false, t);
  if (!s->cfg.skip_prk_steps)
    {
      schedule_prk (s, t);
      return;
    }
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

/* DDIM-type integer timesteps on the spacing grid (or AYS). */
void
sdcl_schedule_discrete (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  if (s->schedule == SDCL_SCHEDULE_AYS)
    sdcl_ays_timesteps (s, true, t);
  else
    sdcl_spaced_timesteps (sp, s->T, s->n, s->cfg.steps_offset, false, t);
  for (int i = 0; i < s->n; i++)
    s->timesteps[i] = (float) t[i];
}

void
sdcl_schedule_lcm (sdcl_sched *s, sdcl_spacing sp, double *t)
{
  (void) sp; /* LCM keeps its distillation grid whatever the spacing */
  sdcl_lcm_timesteps (s->T, s->n, t);
  for (int i = 0; i < s->n; i++)
    s->timesteps[i] = (float) t[i];
}


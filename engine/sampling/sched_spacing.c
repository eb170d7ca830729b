/* Inference timesteps and sigmas (docs/diffusion.md §Timestep spacing,
 * §Euler, §DPM++ 2M): diffusers' timestep spacings, the interpolated
 * training sigmas, Karras and exponential respacing, sigma → timestep and
 * Align Your Steps.  numpy's float64 arithmetic unless a function says
 * otherwise.
 *
 * Deviation: diffusers' "trailing" spacing makes N + 1 timesteps, the last
 * one -1, for 62 step counts between 61 and 1000 (a float artefact of
 * np.arange); sdcl always makes N.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "sched_math.h"

#define KARRAS_RHO 7.0

/* ---- timestep spacing (docs/diffusion.md §Timestep spacing), in double like numpy */

/* numpy's round(): half to even (the default rounding mode of rint). */
double
sdcl_round_half_even (double v)
{
  return nearbyint (v);
}

/* np.linspace(0, stop, num, endpoint)[i]: i * step + 0, the endpoint exact. */
double
sdcl_np_linspace_at (double stop, int num, bool endpoint, int i)
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
void
sdcl_spaced_timesteps (sdcl_spacing sp, int T, int N, int offset, bool fractional, double *t)
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
          t[i] = sdcl_np_linspace_at (T - 1, N, true, k);
          t[i] = fractional ? (double) (float) t[i] : sdcl_round_half_even (t[i]);
          break;
        case SDCL_SPACING_TRAILING:
          t[i] = sdcl_round_half_even (np_arange_down_at (T, (double) T / N, i)) - 1.0;
          break;
        }
    }
}

/* DPMSolverMultistepScheduler: N + 1 points with the last one dropped. */
void
sdcl_dpm_timesteps (sdcl_spacing sp, int T, int N, int offset, double *t)
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
          t[i] = sdcl_round_half_even (sdcl_np_linspace_at (T - 1, N + 1, true, k));
          break;
        case SDCL_SPACING_TRAILING:
          t[i] = sdcl_round_half_even (np_arange_down_at (T, (double) T / N, i)) - 1.0;
          break;
        }
    }
}

/* LCMScheduler: N of the 50 distillation timesteps k·i − 1 (k = T // 50),
 * picked at floor(linspace(0, 50, N, endpoint=False)).  Spacing and
 * steps_offset do not apply. */
void
sdcl_lcm_timesteps (int T, int N, double *t)
{
  int k = T / SDCL_LCM_ORIGIN_STEPS;
  for (int i = 0; i < N; i++)
    {
      int pick = (int) floor (sdcl_np_linspace_at (SDCL_LCM_ORIGIN_STEPS, N, false, i));
      t[i] = (double) (k * (SDCL_LCM_ORIGIN_STEPS - pick) - 1);
    }
}

/* ---- sigmas (docs/diffusion.md §Euler, §DPM++ 2M) ---------------------------- */

/* np.interp(x, arange(T), train sigmas) in double. */
double
sdcl_interp_sigma (const sdcl_sched *s, double x)
{
  if (x <= 0.0)
    return sdcl_train_sigma (s, 0);
  if (x >= s->T - 1)
    return sdcl_train_sigma (s, s->T - 1);
  int j = (int) floor (x);
  double lo = sdcl_train_sigma (s, j), hi = sdcl_train_sigma (s, j + 1);
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
      double ramp = sdcl_np_linspace_at (1.0, N, true, i);
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
void
sdcl_respace_sigmas (const sdcl_sched *s, double sigma_min, double sigma_max, double *out)
{
  if (s->schedule == SDCL_SCHEDULE_KARRAS)
    karras_sigmas (sigma_min, sigma_max, s->n, out);
  else
    exponential_sigmas (sigma_min, sigma_max, s->n, out);
}

bool
sdcl_respaced (const sdcl_sched *s)
{
  return s->schedule == SDCL_SCHEDULE_KARRAS || s->schedule == SDCL_SCHEDULE_EXPONENTIAL;
}

/* diffusers' table of log training sigmas, float32 (np.log of a float32
 * array; float(log(double)) is the correctly rounded value). */
float *
sdcl_log_sigma_table (const sdcl_sched *s)
{
  float *table = g_new (float, s->T);
  for (int i = 0; i < s->T; i++)
    table[i] = (float) log (sdcl_train_sigma (s, i));
  return table;
}

/* The fractional training timestep of a sigma (diffusers' _sigma_to_t):
 * linear interpolation in log sigma between the last training step whose
 * log sigma is <= log(sigma) and the next one, in double. */
double
sdcl_sigma_to_t (const float *log_sigmas, int T, double sigma)
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

/* The published 10-step timesteps, as diffusers' AysSchedules lists them,
 * by sdcl_ays_table: SD 1.5's (which SD 2.x takes too, as ComfyUI does)
 * and SDXL's. */
#define AYS_POINTS 10
static const double ays_rows[][AYS_POINTS] = {
  [SDCL_AYS_SD15] = { 999, 850, 736, 645, 545, 455, 343, 233, 124, 24 },
  [SDCL_AYS_SDXL] = { 999, 845, 730, 587, 443, 310, 193, 116, 53, 13 },
};

/* N AYS timesteps: the table itself for N = 10 (what diffusers runs with
 * timesteps=AysSchedules[...]); otherwise the table's sigmas interpolated
 * linearly in log sigma over N evenly spaced points and mapped back to
 * timesteps (fractional, or rounded for integer samplers). */
void
sdcl_ays_timesteps (const sdcl_sched *s, bool integer, double *t)
{
  int N = s->n;
  const double *row = ays_rows[s->cfg.ays == SDCL_AYS_SDXL ? SDCL_AYS_SDXL : SDCL_AYS_SD15];
  if (N == AYS_POINTS)
    {
      memcpy (t, row, AYS_POINTS * sizeof *row);
      return;
    }
  double log_sigma[AYS_POINTS];
  for (int i = 0; i < AYS_POINTS; i++)
    log_sigma[i] = log (sdcl_interp_sigma (s, row[i]));
  float *log_sigmas = sdcl_log_sigma_table (s);
  for (int j = 0; j < N; j++)
    {
      double x = N > 1 ? (double) j * (AYS_POINTS - 1) / (N - 1) : 0.0;
      int k = (int) x < AYS_POINTS - 1 ? (int) x : AYS_POINTS - 2;
      double ls = log_sigma[k] + (x - k) * (log_sigma[k + 1] - log_sigma[k]);
      double tj = sdcl_sigma_to_t (log_sigmas, s->T, exp (ls));
      t[j] = integer ? sdcl_round_half_even (tj) : tj;
    }
  g_free (log_sigmas);
}


/* _sigma_to_t as diffusers' KDPM2 runs it on a float32 sigma: the log and
 * the weight in float32 (numpy keeps the tensor's type), the blend of the
 * two indices in double. */
double
sdcl_sigma_to_t_f32 (const float *log_sigmas, int T, float sigma)
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

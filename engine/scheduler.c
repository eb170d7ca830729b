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

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "api_internal.h"

/* Every expression rounds as written: diffusers' numpy and torch steps are
 * never fused multiply-adds on the reference machines. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* LCMScheduler's original_inference_steps (the distillation schedule). */
#define LCM_ORIGIN_STEPS 50
#define KARRAS_RHO 7.0

/* ---- sampler names (sdcl.h) ------------------------------------------------- */

static const char *const sampler_names[SDCL_SAMPLER_COUNT] = {
  [SDCL_SAMPLER_EULER] = "euler",
  [SDCL_SAMPLER_EULER_A] = "euler_a",
  [SDCL_SAMPLER_DDIM] = "ddim",
  [SDCL_SAMPLER_DPMPP_2M] = "dpmpp_2m",
  [SDCL_SAMPLER_LCM] = "lcm",
};

static const struct {
  const char *alias;
  sdcl_sampler sampler;
} sampler_aliases[] = {
  { "euler_ancestral", SDCL_SAMPLER_EULER_A }, { "euler_a", SDCL_SAMPLER_EULER_A },
  { "dpm++2m", SDCL_SAMPLER_DPMPP_2M },        { "dpmpp2m", SDCL_SAMPLER_DPMPP_2M },
  { "dpm++_2m", SDCL_SAMPLER_DPMPP_2M },       { "dpmsolver++", SDCL_SAMPLER_DPMPP_2M },
};

const char *
sdcl_sampler_name (sdcl_sampler sampler)
{
  if ((int) sampler < 0 || sampler >= SDCL_SAMPLER_COUNT)
    return NULL;
  return sampler_names[sampler];
}

/* Lower case, '-' and ' ' read as '_'.  Returns false when it does not fit. */
static bool
normalize_name (const char *name, char *out, size_t size)
{
  size_t len = strlen (name);
  if (len == 0 || len >= size)
    return false;
  for (size_t i = 0; i <= len; i++)
    {
      char c = (char) tolower ((unsigned char) name[i]);
      out[i] = (c == '-' || c == ' ') ? '_' : c;
    }
  return true;
}

bool
sdcl_sampler_from_name (const char *name, sdcl_sampler *out)
{
  char key[32];
  if (!name || !normalize_name (name, key, sizeof key))
    return false;
  for (int i = 0; i < SDCL_SAMPLER_COUNT; i++)
    if (strcmp (key, sampler_names[i]) == 0)
      {
        *out = (sdcl_sampler) i;
        return true;
      }
  for (size_t i = 0; i < G_N_ELEMENTS (sampler_aliases); i++)
    if (strcmp (key, sampler_aliases[i].alias) == 0)
      {
        *out = sampler_aliases[i].sampler;
        return true;
      }
  return false;
}

/* ---- configuration ---------------------------------------------------------- */

typedef enum { SPACING_LEADING, SPACING_LINSPACE, SPACING_TRAILING } spacing;

static bool
has_karras_option (sdcl_sampler kind)
{
  return kind == SDCL_SAMPLER_EULER || kind == SDCL_SAMPLER_DPMPP_2M;
}

static sdcl_status
resolve_spacing (sdcl_sampler kind, const char *name, spacing *out, sdcl_error *err)
{
  if (name[0] == '\0')
    {
      bool leading = kind == SDCL_SAMPLER_DDIM || kind == SDCL_SAMPLER_LCM;
      *out = leading ? SPACING_LEADING : SPACING_LINSPACE;
      return SDCL_OK;
    }
  static const char *const names[] = { "leading", "linspace", "trailing" };
  for (int i = 0; i < 3; i++)
    if (strcmp (name, names[i]) == 0)
      {
        *out = (spacing) i;
        return SDCL_OK;
      }
  return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                    "scheduler timestep_spacing \"%s\" is not supported (leading, linspace, "
                    "trailing)", name);
}

static sdcl_status
check_arguments (sdcl_sampler kind, const sdcl_sched_config *cfg, int steps, bool karras,
                 sdcl_error *err)
{
  if (!sdcl_sampler_name (kind))
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
  if (kind == SDCL_SAMPLER_LCM && (steps > LCM_ORIGIN_STEPS || T < LCM_ORIGIN_STEPS))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%d steps: the lcm sampler takes 1 to %d (its distillation schedule)", steps,
                      LCM_ORIGIN_STEPS);
  if (karras && !has_karras_option (kind))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "Karras sigmas exist for the euler and dpmpp_2m samplers, not %s",
                      sdcl_sampler_name (kind));
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
spaced_timesteps (spacing sp, int T, int N, int offset, bool fractional, double *t)
{
  for (int i = 0; i < N; i++)
    {
      int k = N - 1 - i; /* ascending position */
      switch (sp)
        {
        case SPACING_LEADING:
          t[i] = (double) k * (T / N) + offset;
          break;
        case SPACING_LINSPACE:
          t[i] = np_linspace_at (T - 1, N, true, k);
          t[i] = fractional ? (double) (float) t[i] : round_half_even (t[i]);
          break;
        case SPACING_TRAILING:
          t[i] = round_half_even (np_arange_down_at (T, (double) T / N, i)) - 1.0;
          break;
        }
    }
}

/* DPMSolverMultistepScheduler: N + 1 points with the last one dropped. */
static void
dpm_timesteps (spacing sp, int T, int N, int offset, double *t)
{
  for (int i = 0; i < N; i++)
    {
      int k = N - i; /* ascending position among N + 1 */
      switch (sp)
        {
        case SPACING_LEADING:
          t[i] = (double) k * (T / (N + 1)) + offset;
          break;
        case SPACING_LINSPACE:
          t[i] = round_half_even (np_linspace_at (T - 1, N + 1, true, k));
          break;
        case SPACING_TRAILING:
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
  int k = T / LCM_ORIGIN_STEPS;
  for (int i = 0; i < N; i++)
    {
      int pick = (int) floor (np_linspace_at (LCM_ORIGIN_STEPS, N, false, i));
      t[i] = (double) (k * (LCM_ORIGIN_STEPS - pick) - 1);
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

/* Euler and Euler a: sigmas at the (fractional) timesteps; with Karras the
 * sigmas are respaced and the timesteps follow them. */
static void
euler_schedule (sdcl_sched *s, spacing sp, double *t)
{
  int N = s->n;
  spaced_timesteps (sp, s->T, N, s->cfg.steps_offset, true, t);
  double *sigma = g_new (double, N);
  for (int i = 0; i < N; i++)
    sigma[i] = interp_sigma (s, t[i]);
  if (s->karras)
    {
      karras_sigmas (sigma[N - 1], sigma[0], N, sigma);
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

/* DPM++ 2M: integer timesteps; Karras respaces the sigmas over the whole
 * training range and rounds the timesteps that follow them (diffusers skips
 * the rounding for the cosine schedule; its int64 cast then truncates). */
static void
dpm_schedule (sdcl_sched *s, spacing sp, double *t)
{
  int N = s->n;
  dpm_timesteps (sp, s->T, N, s->cfg.steps_offset, t);
  if (s->karras)
    {
      bool cosine = strcmp (s->cfg.beta_schedule, "squaredcos_cap_v2") == 0;
      double *sigma = g_new (double, N);
      karras_sigmas (train_sigma (s, 0), train_sigma (s, s->T - 1), N, sigma);
      float *log_sigmas = log_sigma_table (s);
      for (int i = 0; i < N; i++)
        {
          s->sigmas[i] = (float) sigma[i];
          double ti = sigma_to_t (log_sigmas, s->T, sigma[i]);
          t[i] = cosine ? trunc (ti) : round_half_even (ti);
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
euler_init_noise_sigma (const sdcl_sched *s, spacing sp)
{
  float max = 0.0f;
  for (int i = 0; i <= s->n; i++)
    max = s->sigmas[i] > max ? s->sigmas[i] : max;
  return sp == SPACING_LEADING ? sqrtf (max * max + 1.0f) : max;
}

/* ---- init / free ---------------------------------------------------------------- */

static const char *
spacing_name (spacing sp)
{
  return sp == SPACING_LEADING ? "leading" : sp == SPACING_LINSPACE ? "linspace" : "trailing";
}

/* "leading" plus steps_offset can overshoot the training range (1000 steps,
 * offset 1: t = 1000), where diffusers fails with an index error. */
static sdcl_status
check_timesteps_in_range (const sdcl_sched *s, spacing sp, const double *t, sdcl_error *err)
{
  for (int i = 0; i < s->n; i++)
    if (t[i] < 0.0 || t[i] > s->T - 1)
      return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                        "%d steps: with %s spacing and steps_offset %d the %s sampler reaches "
                        "timestep %g, outside the model's 0..%d",
                        s->n, spacing_name (sp), s->cfg.steps_offset, sdcl_sampler_name (s->kind),
                        t[i], s->T - 1);
  return SDCL_OK;
}

/* Fills timesteps, sigmas and init_noise_sigma for s->n steps; t receives
 * the timesteps in double for the range check. */
static void
inference_schedule (sdcl_sched *s, spacing sp, double *t)
{
  int N = s->n;
  s->timesteps = g_new (float, N);
  s->init_noise_sigma = 1.0f;
  switch (s->kind)
    {
    case SDCL_SAMPLER_EULER:
    case SDCL_SAMPLER_EULER_A:
      s->sigmas = g_new (float, N + 1);
      euler_schedule (s, sp, t);
      s->init_noise_sigma = euler_init_noise_sigma (s, sp);
      return;
    case SDCL_SAMPLER_DPMPP_2M:
      s->sigmas = g_new (float, N + 1);
      dpm_schedule (s, sp, t);
      return;
    case SDCL_SAMPLER_DDIM:
      spaced_timesteps (sp, s->T, N, s->cfg.steps_offset, false, t);
      break;
    case SDCL_SAMPLER_LCM:
      lcm_timesteps (s->T, N, t);
      break;
    case SDCL_SAMPLER_COUNT:
      break;
    }
  for (int i = 0; i < N; i++)
    s->timesteps[i] = (float) t[i];
}

sdcl_status
sdcl_sched_init (sdcl_sched *s, sdcl_sampler kind, const sdcl_sched_config *cfg, int steps,
                 bool karras, sdcl_error *err)
{
  memset (s, 0, sizeof *s);
  sdcl_status st = check_arguments (kind, cfg, steps, karras, err);
  spacing sp = SPACING_LEADING;
  if (st == SDCL_OK)
    st = resolve_spacing (kind, cfg->timestep_spacing, &sp, err);
  if (st != SDCL_OK)
    return st;

  s->kind = kind;
  s->cfg = *cfg;
  s->karras = karras;
  s->T = cfg->num_train_timesteps;
  s->n = steps;
  st = training_schedule (s, err);
  if (st != SDCL_OK)
    {
      memset (s, 0, sizeof *s);
      return st;
    }

  double *t = g_new (double, steps);
  inference_schedule (s, sp, t);
  st = check_timesteps_in_range (s, sp, t, err);
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
  /* DPM++ 2M starts over with a first-order step. */
  g_free (s->prev_x0);
  s->prev_x0 = NULL;
}

void
sdcl_sched_free (sdcl_sched *s)
{
  if (!s)
    return;
  g_free (s->timesteps);
  g_free (s->sigmas);
  g_free (s->prev_x0);
  s->timesteps = s->sigmas = s->prev_x0 = NULL;
}

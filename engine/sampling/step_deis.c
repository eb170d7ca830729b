/* DEIS (Zhang and Chen 2022) as diffusers' DEISMultistepScheduler runs it
 * by default: solver_order 2, algorithm "deis", log-ρ polynomial
 * extrapolation, lower_order_final.  VP latents written with the schedule's
 * sigmas (α = 1/sqrt(σ² + 1), σ̂ = σα, ρ = σ̂/α); the multistep history
 * holds ε re-derived from the x0 prediction, ε = (x − α·x0)/σ̂.
 *
 * First order (the run's first step, and the last when fewer than 15):
 *   x' = (α_t/α_s)·x − σ̂_t(e^h − 1)·ε_0,  h = λ_t − λ_s, λ = log α − log σ̂
 * Second order: ε interpolated linearly in log ρ through the last two
 * levels and integrated in closed form over ρ from ρ_s0 to ρ_t:
 *   x' = α_t(x/α_s0 + c_0·ε_0 + c_1·ε_1),  c_k = I(ρ_t) − I(ρ_s0) with
 *   I(r) = r(log r − log ρ_other − 1)/(log ρ_k − log ρ_other).
 * Float32 operations in diffusers' order (its logs of the ρ are numpy's
 * float32 ones).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "sched_math.h"

typedef struct {
  float alpha, sigma; /* 1/sqrt(σ² + 1), σ·alpha */
} deis_level;

static deis_level
deis_level_at (float s)
{
  deis_level l;
  l.alpha = 1.0f / sqrtf (s * s + 1.0f);
  l.sigma = s * l.alpha;
  return l;
}

/* The antiderivative of the Lagrange basis polynomial in log ρ that is 1
 * at b and 0 at c. */
static float
ind_fn (float t, float b, float c)
{
  return t * (-logf (c) + logf (t) - 1.0f) / (logf (b) - logf (c));
}

/* x0 prediction at this level (thresholded when the config says so), then
 * the ε the solver works on, into eps. */
static void
deis_convert (const sdcl_sched *s, deis_level l, const float *x, const float *out, float *x0,
              float *eps, int64_t numel)
{
  for (int64_t i = 0; i < numel; i++)
    switch (s->cfg.prediction_type)
      {
      case SDCL_PREDICTION_V:
        x0[i] = l.alpha * x[i] - l.sigma * out[i];
        break;
      case SDCL_PREDICTION_SAMPLE:
        x0[i] = out[i];
        break;
      case SDCL_PREDICTION_EPSILON:
      default:
        x0[i] = (x[i] - l.sigma * out[i]) / l.alpha;
        break;
      }
  if (s->cfg.thresholding)
    {
      sdcl_sched_config cfg = s->cfg;
      cfg.clip_sample = false; /* DEIS thresholds only */
      sdcl_limit_x0 (&cfg, x0, numel);
    }
  for (int64_t i = 0; i < numel; i++)
    eps[i] = (x[i] - l.alpha * x0[i]) / l.sigma;
}

static void
deis_first_order (deis_level now, deis_level next, const float *eps, float *x, int64_t numel)
{
  float lambda_t = logf (next.alpha) - logf (next.sigma);
  float lambda_s = logf (now.alpha) - logf (now.sigma);
  float h = lambda_t - lambda_s;
  float x_coef = next.alpha / now.alpha, eps_coef = next.sigma * (expf (h) - 1.0f);
  for (int64_t i = 0; i < numel; i++)
    x[i] = x_coef * x[i] - eps_coef * eps[i];
}

static void
deis_second_order (deis_level prev, deis_level now, deis_level next, const float *eps0,
                   const float *eps1, float *x, int64_t numel)
{
  float rho_t = next.sigma / next.alpha, rho_s0 = now.sigma / now.alpha;
  float rho_s1 = prev.sigma / prev.alpha;
  float c0 = ind_fn (rho_t, rho_s0, rho_s1) - ind_fn (rho_s0, rho_s0, rho_s1);
  float c1 = ind_fn (rho_t, rho_s1, rho_s0) - ind_fn (rho_s0, rho_s1, rho_s0);
  for (int64_t i = 0; i < numel; i++)
    x[i] = next.alpha * (x[i] / now.alpha + c0 * eps0[i] + c1 * eps1[i]);
}

void
sdcl_step_deis (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                float *x0_out)
{
  (void) rng; /* deterministic */
  gsize bytes = (gsize) numel * sizeof (float);
  for (int k = s->n_history; k < 2; k++)
    s->history[k] = g_malloc0 (bytes);
  s->n_history = 2;
  /* the previous ε moves to [1], this one goes to [0] */
  float *older = s->history[1];
  s->history[1] = s->history[0];
  s->history[0] = older;

  int i = s->step_index;
  deis_level now = deis_level_at (s->sigmas[i]), next = deis_level_at (s->sigmas[i + 1]);
  float *x0 = g_new (float, numel > 0 ? (gsize) numel : 1);
  deis_convert (s, now, x, model_out, x0, s->history[0], numel);
  if (x0_out)
    memcpy (x0_out, x0, bytes);
  g_free (x0);

  bool lower_order_final = i == s->n - 1 && s->n < 15;
  if (s->n_outputs < 1 || lower_order_final)
    deis_first_order (now, next, s->history[0], x, numel);
  else
    deis_second_order (deis_level_at (s->sigmas[i - 1]), now, next, s->history[0],
                       s->history[1], x, numel);
  s->n_outputs = MIN (s->n_outputs + 1, 2);
}

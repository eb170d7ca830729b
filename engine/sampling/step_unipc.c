/* UniPC (Zhao et al. 2023) as diffusers' UniPCMultistepScheduler runs it by
 * default: solver_order 2, "bh2", x0 prediction, lower_order_final, the
 * corrector on every step but the first; VP latents written with the
 * schedule's sigmas (α = 1/sqrt(σ² + 1), σ̂ = σα, λ = log α − log σ̂).
 *
 * Each step: (corrector) the previous predictor's result is corrected with
 * this evaluation's x0 prediction m_t (UniC, order of that predictor), then
 * (predictor) UniP of order min(2, steps left, outputs kept) moves on:
 *   x' = (σ̂_t/σ̂_s) x − α_t (e^{−h} − 1) m_0 − α_t B(h) Σ ρ_k D_k
 * with B(h) = e^{−h} − 1 (bh2), D_1 = (m_1 − m_0)/r_1, r_1 the ratio of the
 * λ steps; ρ_p = 1/2 for order 2, ρ_c the solution of UniPC's 2×2 system.
 * Float32 in diffusers' order (its 2×2 solve is LAPACK's LU with partial
 * pivoting, which sdcl writes out).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

typedef struct {
  float alpha, sigma, lambda;
} uni_level;

static uni_level
uni_level_at (float s)
{
  uni_level l;
  l.alpha = 1.0f / sqrtf (s * s + 1.0f);
  l.sigma = s * l.alpha;
  l.lambda = logf (l.alpha) - logf (l.sigma);
  return l;
}

/* The φ-function coefficients for h (hh = −h): h_phi_1 = e^{hh} − 1,
 * B = h_phi_1 (bh2), and b_1, b_2 of UniPC's system. */
typedef struct {
  float hh, h_phi_1, b_h, b[2];
} uni_phi;

static uni_phi
uni_phi_at (float h)
{
  uni_phi p;
  p.hh = -h;
  p.h_phi_1 = expm1f (p.hh);
  p.b_h = expm1f (p.hh);
  float h_phi_k = p.h_phi_1 / p.hh - 1.0f;
  p.b[0] = h_phi_k * 1.0f / p.b_h;
  h_phi_k = h_phi_k / p.hh - 0.5f;
  p.b[1] = h_phi_k * 2.0f / p.b_h;
  return p;
}

/* torch.linalg.solve([[1, 1], [r, 1]], b): LU with partial pivoting (the
 * reciprocal of the pivot scales the column, as LAPACK's sgetf2 does). */
static void
solve_2x2 (float r, const float b[2], float rho[2])
{
  float a[2][2] = { { 1.0f, 1.0f }, { r, 1.0f } };
  float y[2] = { b[0], b[1] };
  if (fabsf (r) > 1.0f)
    {
      float row[2] = { a[0][0], a[0][1] }, t = y[0];
      memcpy (a[0], a[1], sizeof row);
      memcpy (a[1], row, sizeof row);
      y[0] = y[1];
      y[1] = t;
    }
  float l = a[1][0] * (1.0f / a[0][0]);
  float u11 = a[1][1] - l * a[0][1];
  y[1] = y[1] - l * y[0];
  rho[1] = y[1] / u11;
  rho[0] = (y[0] - a[0][1] * rho[1]) / a[0][0];
}

/* x0 prediction at σ (convert_model_output). */
static void
uni_x0 (const sdcl_sched *s, uni_level l, const float *x, const float *out, float *m,
        int64_t numel)
{
  for (int64_t i = 0; i < numel; i++)
    switch (s->cfg.prediction_type)
      {
      case SDCL_PREDICTION_V:
        m[i] = l.alpha * x[i] - l.sigma * out[i];
        break;
      case SDCL_PREDICTION_SAMPLE:
        m[i] = out[i];
        break;
      case SDCL_PREDICTION_EPSILON:
      default:
        m[i] = (x[i] - l.sigma * out[i]) / l.alpha;
        break;
      }
  if (s->cfg.thresholding)
    {
      sdcl_sched_config cfg = s->cfg;
      cfg.clip_sample = false; /* UniPC thresholds only */
      sdcl_limit_x0 (&cfg, m, numel);
    }
}

/* UniC: corrects this_sample (the last predictor's output at level i) with
 * m_t, from last_sample at level i − 1; order 1 or 2.  history: [0] m_t's
 * predecessor m_0 (level i − 1), [1] m_1 (level i − 2). */
static void
uni_correct (const sdcl_sched *s, int order, const float *m_t, const float *last, float *x,
             int64_t numel)
{
  int i = s->step_index;
  uni_level t = uni_level_at (s->sigmas[i]), s0 = uni_level_at (s->sigmas[i - 1]);
  float h = t.lambda - s0.lambda;
  uni_phi p = uni_phi_at (h);
  float x_coef = t.sigma / s0.sigma, m_coef = t.alpha * p.h_phi_1, res_coef = t.alpha * p.b_h;
  const float *m0 = s->history[0], *m1 = s->history[1];
  float rho[2] = { 0.0f, 0.5f }, r = 1.0f;
  if (order == 2)
    {
      r = (uni_level_at (s->sigmas[i - 2]).lambda - s0.lambda) / h;
      solve_2x2 (r, p.b, rho);
    }
  for (int64_t j = 0; j < numel; j++)
    {
      float base = x_coef * last[j] - m_coef * m0[j];
      float d_t = m_t[j] - m0[j];
      float res = order == 2 ? rho[0] * ((m1[j] - m0[j]) / r) + rho[1] * d_t : rho[1] * d_t;
      x[j] = base - res_coef * res;
    }
}

/* UniP from level i to i + 1 with the newest output m_0 = history[0]. */
static void
uni_predict (const sdcl_sched *s, int order, float *x, int64_t numel)
{
  int i = s->step_index;
  uni_level t = uni_level_at (s->sigmas[i + 1]), s0 = uni_level_at (s->sigmas[i]);
  float h = t.lambda - s0.lambda;
  uni_phi p = uni_phi_at (h);
  float x_coef = t.sigma / s0.sigma, m_coef = t.alpha * p.h_phi_1, res_coef = t.alpha * p.b_h;
  const float *m0 = s->history[0], *m1 = s->history[1];
  float r = order == 2 ? (uni_level_at (s->sigmas[i - 1]).lambda - s0.lambda) / h : 1.0f;
  for (int64_t j = 0; j < numel; j++)
    {
      float base = x_coef * x[j] - m_coef * m0[j];
      x[j] = order == 2 ? base - res_coef * (0.5f * ((m1[j] - m0[j]) / r)) : base - res_coef * 0.0f;
    }
}

void
sdcl_step_unipc (sdcl_sched *s, const float *model_out, float *x, int64_t numel, sdcl_randn *rng,
                 float *x0_out)
{
  (void) rng; /* deterministic */
  gsize bytes = (gsize) numel * sizeof (float);
  for (int k = s->n_history; k < 3; k++)
    s->history[k] = g_malloc0 (bytes);
  s->n_history = 3;
  float *m_t = g_new (float, numel > 0 ? (gsize) numel : 1);
  uni_x0 (s, uni_level_at (s->sigmas[s->step_index]), x, model_out, m_t, numel);
  if (s->step_index > s->begin_index && s->order_used > 0)
    uni_correct (s, s->order_used, m_t, s->history[2], x, numel);
  /* keep m_t as the newest output, the previous one as the older */
  float *oldest = s->history[1];
  s->history[1] = s->history[0];
  s->history[0] = oldest;
  memcpy (s->history[0], m_t, bytes);
  if (x0_out)
    memcpy (x0_out, m_t, bytes);
  g_free (m_t);
  int order = MIN (2, s->n - s->step_index); /* lower_order_final */
  order = MIN (order, s->n_outputs + 1);     /* warm-up */
  s->order_used = order;
  memcpy (s->history[2], x, bytes); /* last_sample */
  uni_predict (s, order, x, numel);
  s->n_outputs = MIN (s->n_outputs + 1, 2);
}

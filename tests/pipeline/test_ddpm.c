/* The ddpm sampler is DDPM's reverse process (Ho et al. 2020, Algorithm 2):
 *
 *   x_{t-1} = (x_t - (1 - α_t) / sqrt(1 - ᾱ_t) · ε_θ(x_t, t)) / sqrt(α_t) + σ_t z
 *
 * with σ_t² = β_t (variance_type fixed_large) or the posterior variance
 * β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t (fixed_small), z = 0 at the last
 * step.  sdcl computes the same step in diffusers' form (x0 estimate, then
 * the posterior mean), so this checks one against the other: 1000 steps on
 * the tiny model, ε_θ its UNet (no guidance), every step from the same x_t,
 * ε and z on both sides; Algorithm 2 in double here.
 *
 * Tolerance: sdcl works in float32, and β_t = 1 - ᾱ_t/ᾱ_{t-1} loses up to
 * ~7e-5 of its relative precision to cancellation near t = 0 (β ≈ 8.5e-4,
 * float ulp 6e-8); atol 2e-5 + rtol 2e-5 covers that (the latents of the
 * random tiny model grow well past 1 towards t = 0, where the relative part
 * dominates) and is still 100x below the difference between the two
 * variance choices (checked below, so a swapped variance fails).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "golden.h"
#include "pipeline_internal.h"

#define TOL 2e-5
#define STEPS 1000

/* ε_θ(x, t): the tiny UNet on the run's (unguided) context. */
static void
unet_eps (sdcl_run *r, const float *x, float t, float *eps)
{
  sdcl_t in = { 0 }, out = { 0 };
  sdcl_error err = { 0 };
  sdcl_t_alloc (r->cl, &in, 4, 1, r->lc, r->lh, r->lw);
  sdcl_t_upload (r->cl, &in, x);
  sdcl_status st = sdcl_unet_forward (r->model->unet, &in, &t, &r->text.states, NULL, &out, &err);
  if (st != SDCL_OK)
    {
      fprintf (stderr, "unet: %s\n", err.message);
      exit (1);
    }
  sdcl_t_download (r->cl, &out, eps);
  sdcl_t_release (r->cl, &in);
  sdcl_t_release (r->cl, &out);
}

/* Algorithm 2 for one step, in double.  alpha_bar_prev is 1 after t = 0. */
static void
algorithm2 (const float *x, const float *eps, const float *z, int64_t n, double alpha_bar,
            double alpha_bar_prev, bool large, double *out)
{
  double alpha = alpha_bar / alpha_bar_prev, beta = 1.0 - alpha;
  double var = large ? beta : (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta;
  double sigma = z ? sqrt (var) : 0.0;
  for (int64_t i = 0; i < n; i++)
    out[i] = (x[i] - beta / sqrt (1.0 - alpha_bar) * eps[i]) / sqrt (alpha) + (z ? sigma * z[i] : 0);
}

/* Largest |a - b| - TOL·|b| over the latents (> TOL: too far); *diff
 * gets the largest |a - b|. */
static double
excess (const float *a, const double *b, int64_t n, double *diff)
{
  double worst = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    {
      worst = fmax (worst, fabs (a[i] - b[i]) - TOL * fabs (b[i]));
      *diff = fmax (*diff, fabs (a[i] - b[i]));
    }
  return worst;
}

/* Both variance choices step from the run's x_t with the same ε and z: the
 * run's own schedule (fixed_small) moves the trajectory on, a second one
 * (fixed_large) steps a copy. */
typedef struct {
  sdcl_sched sched;
  const char *name;
  bool large;
  double diff, apart; /* largest |sdcl - Algorithm 2|, |sdcl - the other choice| */
} variant;

static void
check_step (variant *v, float *x, const float *x_t, const float *eps, const float *z, int64_t n,
            sdcl_randn rng, double *want, double *other, int i)
{
  int t = (int) v->sched.timesteps[i];
  double ab = v->sched.alphas_cumprod[t], ab_prev = t > 0 ? v->sched.alphas_cumprod[t - 1] : 1.0;
  algorithm2 (x_t, eps, t > 0 ? z : NULL, n, ab, ab_prev, v->large, want);
  algorithm2 (x_t, eps, t > 0 ? z : NULL, n, ab, ab_prev, !v->large, other);
  memcpy (x, x_t, n * sizeof *x);
  sdcl_sched_step (&v->sched, eps, x, n, &rng, NULL);
  double e = excess (x, want, n, &v->diff);
  CHECK (e <= TOL, "%s: step %d (t = %d) is %g past the tolerance", v->name, i, t, e);
  double ignored = 0.0;
  v->apart = fmax (v->apart, excess (x, other, n, &ignored) + TOL);
}

static void
run (sdcl_model *m)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.sampler = SDCL_SAMPLER_DDPM;
  p.steps = STEPS;
  p.guidance = 1.0f;
  p.seed = 5;
  sdcl_run r;
  sdcl_error err = { 0 };
  sdcl_run_setup (&r, m, &p, 48, 64);
  CHECK (sdcl_run_prepare (&r, &err) == SDCL_OK, "prepare: %s", err.message);
  CHECK (r.sched.n == STEPS && r.sched.timesteps[0] == 999.0f && r.sched.timesteps[STEPS - 1] == 0.0f,
         "1000 steps from 999 to 0");
  variant v[2] = { { .name = "fixed_small", .large = false },
                   { .name = "fixed_large", .large = true } };
  for (int k = 0; k < 2; k++)
    {
      sdcl_sched_config cfg = m->files->sched;
      g_strlcpy (cfg.variance_type, v[k].name, sizeof cfg.variance_type);
      CHECK (sdcl_sched_init (&v[k].sched, SDCL_SAMPLER_DDPM, &cfg, STEPS, SDCL_SCHEDULE_DEFAULT,
                              &err) == SDCL_OK,
             "%s: %s", v[k].name, err.message);
    }
  int64_t n = r.numel;
  sdcl_randn_fill (&r.rng, r.latents, n);
  float *x_t = g_new (float, n), *eps = g_new (float, n), *z = g_new (float, n);
  float *x = g_new (float, n);
  double *want = g_new (double, n), *other = g_new (double, n);
  for (int i = 0; i < STEPS && check_failures == 0; i++)
    {
      int t = (int) r.sched.timesteps[i];
      memcpy (x_t, r.latents, n * sizeof *x_t);
      unet_eps (&r, x_t, (float) t, eps);
      sdcl_randn peek = r.rng; /* the noise the step is about to draw */
      if (t > 0)
        sdcl_randn_fill (&peek, z, n);
      for (int k = 0; k < 2; k++)
        check_step (&v[k], x, x_t, eps, z, n, r.rng, want, other, i);
      /* the trajectory goes on with the run's own schedule (fixed_small) */
      sdcl_sched_step (&r.sched, eps, r.latents, n, &r.rng, NULL);
    }
  for (int k = 0; k < 2; k++)
    {
      printf ("%s: 1000 steps, largest |sdcl - Algorithm 2| %.3g; with the other variance "
              "choice up to %.3g\n", v[k].name, v[k].diff, v[k].apart);
      CHECK (v[k].apart > 100 * TOL, "%s: the variance choice made no difference (%g)",
             v[k].name, v[k].apart);
      sdcl_sched_free (&v[k].sched);
    }
  g_free (x_t);
  g_free (eps);
  g_free (z);
  g_free (x);
  g_free (want);
  g_free (other);
  sdcl_run_clear (&r);
}

int
main (void)
{
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no OpenCL device: %s\n", err.message);
      return 77;
    }
  g_autofree char *path = fixture_path ("models/tiny-sd");
  sdcl_model *m = fixture_model_load (ctx, path, NULL);
  /* leading spacing with offset 0: the 1000 steps are every training step */
  m->files->sched.steps_offset = 0;
  run (m);
  sdcl_model_free (m);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

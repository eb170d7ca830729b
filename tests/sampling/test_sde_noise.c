/* DPM++ SDE's noise (engine/sampling/step_k.c, sdcl_sde_noise): sdcl's stand-in for
 * diffusers' torchsde Brownian tree.  Per step the sampler asks for the
 * normalised increments over [σ_i, σ_mid] and over [σ_i, σ_{i+1}]; for a
 * Brownian motion both are standard normal with correlation
 * sqrt(a / (a + b)) (a, b the two sub-interval lengths), and the increment
 * over [σ_mid, σ_{i+1}] they imply is independent of the first.  Checked
 * over N = 200000 draws, within 6 standard errors (a mean's is 1/sqrt(N),
 * a variance's sqrt(2/N), a correlation's at most 1/sqrt(N)), on the
 * levels of a real schedule; and the same seed gives the same noise, another
 * seed other noise.  diffusers' own values are not reproduced (see the
 * file's comment); the pipeline goldens check the rest of the sampler
 * exactly with this noise. */
#include "check.h"
#include "sampler_table.h"

#include <math.h>
#include <string.h>

#include <glib.h>

#define N 200000

typedef struct {
  double mean, var;
} moments;

static moments
moments_of (const float *v, int n)
{
  double sum = 0, sq = 0;
  for (int i = 0; i < n; i++)
    sum += v[i];
  double mean = sum / n;
  for (int i = 0; i < n; i++)
    sq += (v[i] - mean) * (v[i] - mean);
  return (moments) { mean, sq / (n - 1) };
}

static double
correlation (const float *a, const float *b, int n)
{
  moments ma = moments_of (a, n), mb = moments_of (b, n);
  double c = 0;
  for (int i = 0; i < n; i++)
    c += (a[i] - ma.mean) * (b[i] - mb.mean);
  return c / (n - 1) / sqrt (ma.var * mb.var);
}

static void
check_standard_normal (const char *what, const float *v, int n)
{
  moments m = moments_of (v, n);
  CHECK (fabs (m.mean) < 6.0 / sqrt (n), "%s: mean %g", what, m.mean);
  CHECK (fabs (m.var - 1.0) < 6.0 * sqrt (2.0 / n), "%s: variance %g", what, m.var);
}

/* One step's two draws for the levels sigma > mid > next. */
static void
draw_step (uint64_t seed, float sigma, float mid, float next, float *first, float *second)
{
  sdcl_randn rng;
  sdcl_randn_init (&rng, SDCL_RNG_TORCH, seed);
  float *z1 = g_new (float, N);
  float part = fabsf (mid - sigma), total = fabsf (next - sigma);
  sdcl_sde_noise (&rng, false, part, total, z1, first, N);
  sdcl_sde_noise (&rng, true, part, total, z1, second, N);
  g_free (z1);
}

static void
test_statistics (float sigma, float next)
{
  float mid = expf (-(-logf (sigma) + (-logf (next) - -logf (sigma)) * 0.5f));
  float *first = g_new (float, N), *second = g_new (float, N), *rest = g_new (float, N);
  draw_step (1234, sigma, mid, next, first, second);
  double a = fabs (mid - sigma), b = fabs (next - mid);
  g_autofree char *what = g_strdup_printf ("sigma %g -> %g -> %g", sigma, mid, next);
  g_autofree char *w1 = g_strconcat (what, " first increment", NULL);
  g_autofree char *w2 = g_strconcat (what, " second increment", NULL);
  check_standard_normal (w1, first, N);
  check_standard_normal (w2, second, N);
  double rho = correlation (first, second, N), want = sqrt (a / (a + b));
  CHECK (fabs (rho - want) < 6.0 / sqrt (N), "%s: correlation %g, Brownian %g", what, rho, want);
  /* the implied increment over [mid, next], normalised */
  for (int i = 0; i < N; i++)
    rest[i] = (float) ((sqrt (a + b) * second[i] - sqrt (a) * first[i]) / sqrt (b));
  g_autofree char *w3 = g_strconcat (what, " increment mid -> next", NULL);
  check_standard_normal (w3, rest, N);
  double rho_rest = correlation (first, rest, N);
  CHECK (fabs (rho_rest) < 6.0 / sqrt (N), "%s: the later increment correlates %g with the first",
         what, rho_rest);
  g_free (first);
  g_free (second);
  g_free (rest);
}

static void
test_determinism (void)
{
  float *a1 = g_new (float, N), *a2 = g_new (float, N);
  float *b1 = g_new (float, N), *b2 = g_new (float, N);
  draw_step (42, 3.0f, 1.5f, 0.75f, a1, a2);
  draw_step (42, 3.0f, 1.5f, 0.75f, b1, b2);
  CHECK (memcmp (a1, b1, N * sizeof *a1) == 0 && memcmp (a2, b2, N * sizeof *a2) == 0,
         "the same seed gives the same noise");
  draw_step (43, 3.0f, 1.5f, 0.75f, b1, b2);
  CHECK (memcmp (a1, b1, N * sizeof *a1) != 0 && memcmp (a2, b2, N * sizeof *a2) != 0,
         "another seed gives other noise");
  g_free (a1);
  g_free (a2);
  g_free (b1);
  g_free (b2);
}

int
main (void)
{
  /* SD 1.5's largest step and two later ones (sigma_max 14.6, Karras-like
   * ratios, the last before 0) */
  test_statistics (14.6146f, 6.4f);
  test_statistics (1.2f, 0.8f);
  test_statistics (0.1f, 0.0292f);
  test_determinism ();
  return check_finish ();
}

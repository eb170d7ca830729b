/* sdcl_randn: the torch mode against torch.randn goldens (many seeds, sizes
 * on both sides of torch's 16-element threshold, successive draws), the
 * Philox mode against its definition in rng.c and for its statistics.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "sampling_fixture.h"

/* Distance in units in the last place between two finite floats. */
static int64_t
ulp_distance (float a, float b)
{
  int32_t ia, ib;
  memcpy (&ia, &a, sizeof ia);
  memcpy (&ib, &b, sizeof ib);
  int64_t la = ia < 0 ? (int64_t) INT32_MIN - ia : ia;
  int64_t lb = ib < 0 ? (int64_t) INT32_MIN - ib : ib;
  return la > lb ? la - lb : lb - la;
}

static void
check_torch_entry (const sampling_fixture *f, JsonObject *e, int64_t *worst_ulps,
                   double *worst_abs)
{
  const char *name = json_object_get_string_member (e, "name");
  uint64_t seed = g_ascii_strtoull (json_object_get_string_member (e, "seed"), NULL, 10);
  JsonArray *sizes = json_object_get_array_member (e, "sizes");
  int64_t n_want;
  g_autofree float *want = sampling_tensor (f, name, NULL, &n_want);
  g_autofree float *got = g_new0 (float, n_want);

  sdcl_randn r;
  sdcl_randn_init (&r, SDCL_RNG_TORCH, seed);
  int64_t pos = 0;
  for (guint k = 0; k < json_array_get_length (sizes); k++)
    {
      int64_t n = json_array_get_int_element (sizes, k);
      CHECK (pos + n <= n_want, "%s: sizes exceed the golden", name);
      if (pos + n > n_want)
        return;
      sdcl_randn_fill (&r, got + pos, n);
      pos += n;
    }
  CHECK (pos == n_want, "%s: sizes add up to %ld, golden has %ld", name, (long) pos, (long) n_want);

  int64_t entry_ulps = 0;
  for (int64_t i = 0; i < n_want; i++)
    {
      int64_t d = ulp_distance (got[i], want[i]);
      entry_ulps = d > entry_ulps ? d : entry_ulps;
      double a = fabs ((double) got[i] - want[i]);
      *worst_abs = a > *worst_abs ? a : *worst_abs;
    }
  /* Bit-exact: every float operation of torch's kernel is reproduced (see
   * rng.c); only the n < 16 path calls the C library, in double, and rounds
   * to float afterwards. */
  CHECK (entry_ulps == 0, "%s: %ld ulps from torch", name, (long) entry_ulps);
  *worst_ulps = entry_ulps > *worst_ulps ? entry_ulps : *worst_ulps;
}

static void
test_torch_goldens (void)
{
  sampling_fixture f;
  sampling_fixture_open (&f);
  JsonArray *entries = sampling_fixture_section (&f, "randn");
  int64_t worst_ulps = 0;
  double worst_abs = 0;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    check_torch_entry (&f, json_array_get_object_element (entries, i), &worst_ulps, &worst_abs);
  CHECK (json_array_get_length (entries) >= 50, "only %u randn goldens",
         json_array_get_length (entries));
  fprintf (stderr, "torch randn: %u goldens, max %ld ulp, max |diff| %.3g\n",
           json_array_get_length (entries), (long) worst_ulps, worst_abs);
  sampling_fixture_close (&f);
}

/* Seeds are 64-bit, but torch's MT19937 only uses the low 32 bits. */
static void
test_torch_seed_truncation (void)
{
  float a[40], b[40];
  sdcl_randn r;
  sdcl_randn_init (&r, SDCL_RNG_TORCH, 7);
  sdcl_randn_fill (&r, a, 40);
  sdcl_randn_init (&r, SDCL_RNG_TORCH, (UINT64_C (3) << 32) | 7);
  sdcl_randn_fill (&r, b, 40);
  CHECK (memcmp (a, b, sizeof a) == 0, "seed 7 and 3*2^32+7 differ");
}

/* ---- Philox --------------------------------------------------------------- */

static void
philox_draw (uint64_t seed, int draws_before, float *out, int64_t n)
{
  float scratch[64];
  sdcl_randn r;
  sdcl_randn_init (&r, SDCL_RNG_PHILOX, seed);
  for (int d = 0; d < draws_before; d++)
    sdcl_randn_fill (&r, scratch, 64);
  sdcl_randn_fill (&r, out, n);
}

/* Random123's known answer for Philox4x32-10 with counter 0 and key 0 is
 * (0x6627e8d5, 0xe169c58d, ...); seed 0, draw 0, pair 0 is exactly that block,
 * so elements 0 and 1 follow from rng.c's Box-Muller definition. */
static void
test_philox_known_answer (void)
{
  float got[2];
  philox_draw (0, 0, got, 2);
  double u1 = (0x6627e8d5u + 0.5) * 0x1p-32, u2 = 0xe169c58du * 0x1p-32;
  double r = sqrt (-2.0 * log (u1)), theta = 6.283185307179586 * u2;
  float want[2] = { (float) (r * cos (theta)), (float) (r * sin (theta)) };
  CHECK_CLOSE ("philox known answer", got, want, 2, 0, 0);
}

static void
test_philox_independent_of_n (void)
{
  enum { N = 1001 };
  static float full[N], part[N];
  for (int d = 0; d < 3; d++)
    {
      philox_draw (99, d, full, N);
      const int64_t sizes[] = { 1, 2, 3, 16, 17, 500 };
      for (size_t k = 0; k < G_N_ELEMENTS (sizes); k++)
        {
          philox_draw (99, d, part, sizes[k]);
          CHECK (memcmp (full, part, (size_t) sizes[k] * sizeof (float)) == 0,
                 "draw %d: the first %ld elements depend on n", d, (long) sizes[k]);
        }
    }
  /* The previous draws' sizes do not matter either, only their number. */
  float a[8], b[8], scratch[3];
  sdcl_randn r;
  sdcl_randn_init (&r, SDCL_RNG_PHILOX, 5);
  sdcl_randn_fill (&r, scratch, 3);
  sdcl_randn_fill (&r, a, 8);
  philox_draw (5, 1, b, 8);
  CHECK (memcmp (a, b, sizeof a) == 0, "draw 1 depends on the size of draw 0");
}

static void
test_philox_streams_differ (void)
{
  float a[64], b[64], c[64];
  philox_draw (5, 0, a, 64);
  philox_draw (6, 0, b, 64);
  philox_draw (5, 1, c, 64);
  int same_seed = 0, same_draw = 0;
  for (int i = 0; i < 64; i++)
    {
      same_seed += a[i] == b[i];
      same_draw += a[i] == c[i];
    }
  CHECK (same_seed == 0, "seeds 5 and 6 share %d of 64 values", same_seed);
  CHECK (same_draw == 0, "draws 0 and 1 share %d of 64 values", same_draw);
  /* Seeds differing only in the high word use different keys. */
  philox_draw ((UINT64_C (1) << 32) | 5, 0, b, 64);
  CHECK (memcmp (a, b, sizeof a) != 0, "the seed's high 32 bits are ignored");
}

/* Moments over 10^6 samples, with limits of about five standard errors,
 * and the fraction beyond a few quantiles of N(0, 1). */
static void
test_philox_statistics (void)
{
  enum { N = 1000000 };
  float *x = g_new (float, N);
  sdcl_randn r;
  sdcl_randn_init (&r, SDCL_RNG_PHILOX, 20240601);
  sdcl_randn_fill (&r, x, N);
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  long beyond1 = 0, beyond2 = 0, beyond3 = 0;
  for (int i = 0; i < N; i++)
    {
      double v = x[i];
      s1 += v;
      s2 += v * v;
      s3 += v * v * v;
      s4 += v * v * v * v;
      beyond1 += fabs (v) > 1.0;
      beyond2 += fabs (v) > 2.0;
      beyond3 += fabs (v) > 3.0;
    }
  double mean = s1 / N, var = s2 / N - mean * mean, skew = s3 / N, kurt = s4 / N;
  fprintf (stderr, "philox: mean %.5f var %.5f skew %.5f kurtosis %.4f\n", mean, var, skew, kurt);
  CHECK (fabs (mean) < 0.005, "mean %g", mean);                /* se 0.001 */
  CHECK (fabs (var - 1.0) < 0.007, "variance %g", var);        /* se 0.0014 */
  CHECK (fabs (skew) < 0.02, "third moment %g", skew);         /* se 0.0039 */
  CHECK (fabs (kurt - 3.0) < 0.05, "fourth moment %g", kurt);  /* se 0.0098 */
  /* P(|z| > 1, 2, 3) = 0.317311, 0.045500, 0.002700 */
  CHECK (fabs (beyond1 / (double) N - 0.317311) < 0.0025, "P(|z|>1) = %g", beyond1 / (double) N);
  CHECK (fabs (beyond2 / (double) N - 0.045500) < 0.0011, "P(|z|>2) = %g", beyond2 / (double) N);
  CHECK (fabs (beyond3 / (double) N - 0.002700) < 0.00026, "P(|z|>3) = %g", beyond3 / (double) N);
  g_free (x);
}

/* A fill of nothing is not a draw: the next draw is draw 0. */
static void
test_empty_fill (void)
{
  float a[4], b[4];
  sdcl_randn r;
  sdcl_randn_init (&r, SDCL_RNG_PHILOX, 3);
  sdcl_randn_fill (&r, NULL, 0);
  sdcl_randn_fill (&r, a, 4);
  philox_draw (3, 0, b, 4);
  CHECK (memcmp (a, b, sizeof a) == 0, "an empty fill advanced the philox draw counter");
  sdcl_randn_init (&r, SDCL_RNG_TORCH, 3);
  sdcl_randn_fill (&r, NULL, 0);
  sdcl_randn_fill (&r, a, 4);
  sdcl_randn_init (&r, SDCL_RNG_TORCH, 3);
  sdcl_randn_fill (&r, b, 4);
  CHECK (memcmp (a, b, sizeof a) == 0, "an empty fill consumed torch random numbers");
}

int
main (void)
{
  test_torch_goldens ();
  test_torch_seed_truncation ();
  test_philox_known_answer ();
  test_philox_independent_of_n ();
  test_philox_streams_differ ();
  test_philox_statistics ();
  test_empty_fill ();
  return check_finish ();
}

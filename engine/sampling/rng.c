/* Gaussian noise generators (see rng.h).
 *
 * SDCL_RNG_TORCH — torch.randn on the CPU, float32
 *
 *   MT19937 seeded with the low 32 bits of the seed (torch keeps the full
 *   64-bit seed for reporting but seeds the engine with `seed & 0xffffffff`,
 *   so seeds 5 and 2^32 + 5 give the same numbers).  One fill is one
 *   torch.randn call:
 *
 *   n >= 16: n float uniforms u = (mt() & 0xffffff) * 2^-24 are written to
 *     out, then every full block of 16 becomes 8 Box-Muller pairs (j, j+8):
 *       r = sqrt(-2 log(1 - u[j])),  θ = float(2π) · u[j+8],
 *       out[j] = r cos θ,  out[j+8] = r sin θ,
 *     all in float.  If n is not a multiple of 16, 16 fresh uniforms
 *     overwrite out[n-16..n) and that block is transformed again.
 *   n < 16: torch's scalar path, in double: each element takes the cached
 *     normal if there is one, else u1, u2 = 53-bit uniforms from two MT words
 *     each (first word high), r = sqrt(-2 log1p(-u2)), θ = 2π u1, returns
 *     r cos θ and caches r sin θ.  The cache survives between calls (and is
 *     left alone by the n >= 16 path), exactly like torch's generator.
 *
 *   The float log, sin and cos are not the C library's: torch's x86 builds
 *   (CPU capability AVX2 or AVX-512, which torch selects on any x86-64 CPU
 *   of the last decade) evaluate them with Cephes' single-precision
 *   polynomials (torch's avx_mathfun.h), and the compiler fused some of their
 *   multiply-adds into FMA instructions.  The functions below redo that
 *   arithmetic operation by operation, which makes the output bit-exact with
 *   those builds.  torch builds without that kernel
 *   (CPU capability "default", aarch64) use the C library's logf/cosf/sinf
 *   and differ from sdcl in the last bit of some values.
 *
 * SDCL_RNG_PHILOX — sdcl's own counter-based generator (a stable definition:
 * changing it changes every image made with it)
 *
 *   key      (k0, k1) = (seed mod 2^32, seed div 2^32)
 *   Output element i of draw number d (d = 0 for the first fill after init)
 *   belongs to pair p = i div 2.  Philox4x32-10 (Salmon et al., SC'11:
 *   multipliers 0xD2511F53, 0xCD9E8D57, key increments 0x9E3779B9,
 *   0xBB67AE85, ten rounds) maps the counter
 *            (c0, c1, c2, c3) = (p mod 2^32, d mod 2^32, p div 2^32, d div 2^32)
 *   to (x0, x1, x2, x3).  In double precision
 *            u1 = (x0 + 0.5) · 2^-32  in (0, 1),  u2 = x1 · 2^-32  in [0, 1),
 *            r = sqrt(-2 ln u1),  θ = 2π u2,
 *   and element 2p = float(r cos θ), element 2p+1 = float(r sin θ).  x2 and x3
 *   are unused.  Element i of draw d therefore depends on (seed, d, i) only,
 *   never on n or on how the work is split.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "rng.h"

#include <math.h>
#include <string.h>

/* The float expressions below must round exactly as written (no a*b+c
 * fused into one rounding), or bit-exactness with torch is lost. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define MT_N 624
#define MT_M 397

static const double TWO_PI = 6.283185307179586476925286766559;

/* ---- MT19937 ----------------------------------------------------------- */

static void
mt_seed (sdcl_randn *r, uint32_t seed)
{
  r->mt[0] = seed;
  for (int i = 1; i < MT_N; i++)
    r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t) i;
  r->mti = MT_N; /* the first draw regenerates the whole state */
}

static void
mt_regenerate (uint32_t *mt)
{
  for (int i = 0; i < MT_N; i++)
    {
      uint32_t y = (mt[i] & 0x80000000u) | (mt[(i + 1) % MT_N] & 0x7fffffffu);
      mt[i] = mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
}

static uint32_t
mt_next (sdcl_randn *r)
{
  if (r->mti >= MT_N)
    {
      mt_regenerate (r->mt);
      r->mti = 0;
    }
  uint32_t y = r->mt[r->mti++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

/* ---- torch.randn --------------------------------------------------------- */

static float
torch_uniform_float (sdcl_randn *r)
{
  return (float) (mt_next (r) & 0xffffffu) * 0x1p-24f;
}

static double
torch_uniform_double (sdcl_randn *r)
{
  uint64_t hi = mt_next (r);
  uint64_t lo = mt_next (r);
  return (double) (((hi << 32) | lo) & ((UINT64_C (1) << 53) - 1)) * 0x1p-53;
}

/* Cephes-style single-precision log and sin/cos, as torch's x86 normal
 * kernel computes them.  Every fmaf() below is a multiply-add that torch's
 * compiled kernel performs fused; every other operation rounds on its own
 * (this file is compiled without contraction). */

static float
bits_to_float (uint32_t bits)
{
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

static uint32_t
float_to_bits (float f)
{
  uint32_t bits;
  memcpy (&bits, &f, sizeof bits);
  return bits;
}

/* log(x) for x in [2^-24, 1]: x = m·2^e with m in [sqrt(1/2), sqrt(2)), then
 * log(1 + (m - 1)) by a degree-9 polynomial and e·log(2) in two parts. */
static float
torch_logf (float x)
{
  static const float P[9] = {
    (float) 7.0376836292E-2, (float) -1.1514610310E-1, (float) 1.1676998740E-1,
    (float) -1.2420140846E-1, (float) 1.4249322787E-1, (float) -1.6668057665E-1,
    (float) 2.0000714765E-1, (float) -2.4999993993E-1, (float) 3.3333331174E-1,
  };
  const float LN2_LO = (float) -2.12194440e-4, LN2_HI = 0.693359375f;
  const float SQRT_HALF = (float) 0.707106781186547524;

  uint32_t bits = float_to_bits (x);
  float e = (float) ((int32_t) (bits >> 23) - 127) + 1.0f;
  float m = bits_to_float ((bits & 0x007fffffu) | 0x3f000000u); /* in [0.5, 1) */
  float extra = 0.0f;
  if (m < SQRT_HALF)
    {
      e -= 1.0f;
      extra = m;
    }
  float f = (m - 1.0f) + extra;
  float f2 = f * f;
  float y = P[0];
  for (int k = 1; k < 9; k++)
    y = fmaf (y, f, P[k]);
  y = y * f;
  y = fmaf (y, f2, e * LN2_LO);
  y = y - f2 * 0.5f;
  return fmaf (e, LN2_HI, f + y);
}

/* sin and cos of x >= 0: reduction by multiples of pi/4 (pi/4 split in three
 * parts), then the sine or cosine polynomial on [-pi/4, pi/4] per octant. */
static void
torch_sincosf (float x, float *sin_out, float *cos_out)
{
  const float FOUR_OVER_PI = (float) 1.27323954473516;
  const float PIO4_A = 0.78515625f, PIO4_B = 2.4187564849853515625e-4f;
  const float PIO4_C = (float) 3.77489497744594108e-8;
  const float S0 = (float) -1.9515295891E-4, S1 = (float) 8.3321608736E-3,
              S2 = (float) -1.6666654611E-1;
  const float C0 = (float) 2.443315711809948E-005, C1 = (float) -1.388731625493765E-003,
              C2 = (float) 4.166664568298827E-002;

  int32_t j = (int32_t) (x * FOUR_OVER_PI); /* truncates, like cvttps */
  j = (j + 1) & ~1;                         /* even octant index */
  float q = (float) j;
  float r = fmaf (q, -PIO4_A, x);
  r = fmaf (q, -PIO4_B, r);
  r = fmaf (q, -PIO4_C, r);
  float r2 = r * r;

  float cos_poly = fmaf (fmaf (C0, r2, C1), r2, C2);
  cos_poly = cos_poly * r2;
  cos_poly = fmaf (cos_poly, r2, -(r2 * 0.5f));
  cos_poly = cos_poly + 1.0f;
  float sin_poly = fmaf (fmaf (S0, r2, S1), r2, S2);
  sin_poly = sin_poly * r2;
  sin_poly = fmaf (sin_poly, r, r);

  bool swapped = (j & 2) != 0;   /* octants where sin and cos trade polynomials */
  /* "+ 0.0f": the kernel merges the two selections with an addition, which
   * turns -0 into +0. */
  float s = (swapped ? cos_poly : sin_poly) + 0.0f;
  float c = (swapped ? sin_poly : cos_poly) + 0.0f;
  *sin_out = (j & 4) ? -s : s;
  *cos_out = ((j - 2) & 4) ? c : -c;
}

/* Box-Muller on 16 uniforms in place: pairs (j, j + 8). */
static void
torch_box_muller_16 (float *v)
{
  const float two_pi = (float) TWO_PI;
  for (int j = 0; j < 8; j++)
    {
      float radius = sqrtf (-2.0f * torch_logf (1.0f - v[j]));
      float s, c;
      torch_sincosf (two_pi * v[j + 8], &s, &c);
      /* "+ 0.0f" stands for the kernel's fma(x, std = 1, mean = 0), which
       * turns -0 into +0. */
      v[j] = radius * c + 0.0f;
      v[j + 8] = radius * s + 0.0f;
    }
}

static void
torch_fill_vector (sdcl_randn *r, float *out, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    out[i] = torch_uniform_float (r);
  for (int64_t i = 0; i + 16 <= n; i += 16)
    torch_box_muller_16 (out + i);
  if (n % 16 != 0)
    {
      float *tail = out + n - 16;
      for (int j = 0; j < 16; j++)
        tail[j] = torch_uniform_float (r);
      torch_box_muller_16 (tail);
    }
}

static double
torch_normal_double (sdcl_randn *r)
{
  if (r->has_cached_normal)
    {
      r->has_cached_normal = false;
      return r->cached_normal;
    }
  double u1 = torch_uniform_double (r);
  double u2 = torch_uniform_double (r);
  double radius = sqrt (-2.0 * log1p (-u2));
  double theta = TWO_PI * u1;
  r->cached_normal = radius * sin (theta);
  r->has_cached_normal = true;
  return radius * cos (theta);
}

static void
torch_fill (sdcl_randn *r, float *out, int64_t n)
{
  if (n >= 16)
    {
      torch_fill_vector (r, out, n);
      return;
    }
  for (int64_t i = 0; i < n; i++)
    out[i] = (float) (torch_normal_double (r) + 0.0);
}

/* ---- Philox4x32-10 ------------------------------------------------------- */

typedef struct {
  uint32_t v[4];
} philox_block;

static inline void
mul_hi_lo (uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
  uint64_t p = (uint64_t) a * b;
  *hi = (uint32_t) (p >> 32);
  *lo = (uint32_t) p;
}

static philox_block
philox4x32_10 (philox_block ctr, uint32_t k0, uint32_t k1)
{
  for (int round = 0; round < 10; round++)
    {
      uint32_t hi0, lo0, hi1, lo1;
      mul_hi_lo (0xD2511F53u, ctr.v[0], &hi0, &lo0);
      mul_hi_lo (0xCD9E8D57u, ctr.v[2], &hi1, &lo1);
      philox_block next = { { hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0 } };
      ctr = next;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
  return ctr;
}

static void
philox_fill (sdcl_randn *r, float *out, int64_t n)
{
  uint32_t k0 = (uint32_t) r->seed, k1 = (uint32_t) (r->seed >> 32);
  uint64_t d = r->draw;
  for (int64_t p = 0; 2 * p < n; p++)
    {
      philox_block ctr = { { (uint32_t) p, (uint32_t) d, (uint32_t) ((uint64_t) p >> 32),
                             (uint32_t) (d >> 32) } };
      philox_block x = philox4x32_10 (ctr, k0, k1);
      double u1 = ((double) x.v[0] + 0.5) * 0x1p-32;
      double u2 = (double) x.v[1] * 0x1p-32;
      double radius = sqrt (-2.0 * log (u1));
      double theta = TWO_PI * u2;
      out[2 * p] = (float) (radius * cos (theta));
      if (2 * p + 1 < n)
        out[2 * p + 1] = (float) (radius * sin (theta));
    }
}

/* ---- API ------------------------------------------------------------------ */

void
sdcl_randn_init (sdcl_randn *r, sdcl_rng kind, uint64_t seed)
{
  memset (r, 0, sizeof *r);
  r->kind = kind;
  r->seed = seed;
  if (kind == SDCL_RNG_TORCH)
    mt_seed (r, (uint32_t) seed);
}

void
sdcl_randn_fill (sdcl_randn *r, float *out, int64_t n)
{
  if (n <= 0)
    return;
  if (r->kind == SDCL_RNG_PHILOX)
    philox_fill (r, out, n);
  else
    torch_fill (r, out, n);
  r->draw++;
}

/* The optional extension variants (opencl/extensions.c) against the
 * float reference (ref_ops.c, double sums):
 *
 *   test-ext --fp16        gemm_tiled and conv_tiled multiplying F16
 *                          weights in half (cl_khr_fp16), SDCL_FP16=on
 *   test-ext --subgroups   GroupNorm and LayerNorm statistics summed per
 *                          sub-group (cl_khr_subgroups / cl_intel_subgroups),
 *                          SDCL_SUBGROUPS=on, both norm kernels
 *
 * On a device without the extension it checks that forcing it fails
 * context creation with an error naming the extension, then exits 77
 * ("skipped: device lacks cl_khr_fp16"): a skip, never a silent pass.
 *
 * Tolerance of the half GEMM (docs/performance.md, "Optional extensions"):
 * with u = 2^-11 (half's unit roundoff), S = sum_k |x_k w_k|, BK the step
 * length of the tile configuration that ran and K the reduction length,
 *   |got - want| <= 1.01 ((BK + 1) u + (K / BK + 1) 2^-24) S
 *                   + K 2^-25 (1 + max |w|) + 2^-22 (|want| + |bias| + |res|)
 * (activations rounded to half, BK half FMAs per step, K / BK fp32 step
 * additions; the K 2^-25 term is half's subnormal range, the last the
 * epilogue's fp32 additions; 1.01 covers the second-order terms).
 * Norms: atol 1e-4, rtol 1e-4 as in test-ops (fp32 sums in another
 * order).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "check.h"
#include "clrt_internal.h"
#include "conv_tiled.h"
#include "device_helpers.h"
#include "extensions.h"
#include "gemm.h"
#include "kernel_report.h"
#include "ops.h"
#include "ref_ops.h"

#include <glib.h>
#include <string.h>

static sdcl_cl *cl;
static GRand *rng;

/* Rounds host weights to half (what the F16 upload stores) and uploads. */
static void
upload_f16 (sdcl_w *w, int nd, const int64_t *shape, float *host, long n)
{
  for (long i = 0; i < n; i++)
    host[i] = sdcl_half_to_float (sdcl_float_to_half (host[i]));
  sdcl_w_upload (cl, w, SDCL_WT_F16, nd, shape, host, SDCL_SRC_F32);
}

static float *
absolute (const float *v, long n)
{
  float *a = g_new (float, n);
  for (long i = 0; i < n; i++)
    a[i] = fabsf (v[i]);
  return a;
}

/* Every output within the bound of the header; prints the worst ratio. */
static void
check_half_bound (const char *what, const float *got, const float *want, const float *S, long n,
                  int K, int bk, float max_w, const float *bias, int bias_n, const float *res,
                  long per_bias)
{
  const double u = 1.0 / 2048, f = 1.0 / 16777216;
  double worst = 0;
  long at = -1;
  for (long i = 0; i < n; i++)
    {
      const double b = bias ? fabs (bias[(i / per_bias) % bias_n]) : 0.0;
      const double r = res ? fabs (res[i]) : 0.0;
      const double tol = 1.01 * ((bk + 1) * u + (K / bk + 1) * f) * S[i]
                         + K * f / 2 * (1 + max_w) + 4 * f * (fabs (want[i]) + b + r);
      const double ratio = fabs ((double) got[i] - want[i]) / tol;
      if (!(ratio <= worst))
        worst = ratio, at = i;
    }
  CHECK (worst <= 1.0, "%s: element %ld got %.9g want %.9g: %.3g times the bound (BK %d)", what,
         at, at >= 0 ? got[at] : 0.0f, at >= 0 ? want[at] : 0.0f, worst, bk);
  fprintf (stderr, "%s: BK %d, worst error %.3g of the bound\n", what, bk, worst);
}

static int
linear_bk (void)
{
  cl_kernel k;
  const int i = sdcl_tiled_pick (cl, SDCL_WT_F16, &k);
  CHECK (i >= 0, "no gemm_tiled configuration fits this device");
  return i >= 0 ? sdcl_tiled_configs[i].bk : 1;
}

static void
test_linear_case (int M, int K, int N, bool bias, bool res)
{
  char what[120];
  g_snprintf (what, sizeof what, "half linear M=%d K=%d N=%d bias=%d res=%d", M, K, N, bias, res);
  const long nx = (long) M * K, nw = (long) N * K, ny = (long) M * N;
  const float ws = 1.0f / sqrtf ((float) K);
  float *x = ref_random_floats (rng, nx, -2, 2), *w = ref_random_floats (rng, nw, -ws, ws);
  float *b = ref_random_floats (rng, N, -1, 1), *r = ref_random_floats (rng, ny, -1, 1);
  sdcl_t tx, tr = { 0 }, ty;
  sdcl_w tw, tb = { 0 };
  int64_t wshape[2] = { N, K }, bshape[1] = { N };
  upload_f16 (&tw, 2, wshape, w, nw);
  if (bias)
    sdcl_w_upload (cl, &tb, SDCL_WT_F32, 1, bshape, b, SDCL_SRC_F32);
  to_device (cl, &tx, 2, M, K, 0, 0, x);
  if (res)
    to_device (cl, &tr, 2, M, N, 0, 0, r);
  sdcl_t_alloc (cl, &ty, 2, M, N, 0, 0);
  op_linear (cl, &tx, &tw, bias ? &tb : NULL, res ? &tr : NULL, SDCL_ACT_NONE, &ty);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, &ty), *want = g_new (float, ny), *S = g_new (float, ny);
      float *ax = absolute (x, nx), *aw = absolute (w, nw);
      ref_linear (x, w, bias ? b : NULL, res ? r : NULL, SDCL_ACT_NONE, M, N, K, want);
      ref_linear (ax, aw, NULL, NULL, SDCL_ACT_NONE, M, N, K, S);
      check_half_bound (what, got, want, S, ny, K, linear_bk (), ws, bias ? b : NULL, N,
                        res ? r : NULL, 1);
      g_free (got), g_free (want), g_free (S), g_free (ax), g_free (aw);
    }
  sdcl_t_release (cl, &tx), sdcl_t_release (cl, &tr), sdcl_t_release (cl, &ty);
  sdcl_w_free (&tw), sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (b), g_free (r);
}

/* y = x w^T with every x = value_of_row (m), every w = wv: the exact
 * results that tell the half variant from the fp32 one. */
static float *
run_constant_linear (int M, int K, int N, float (*value_of_row) (int), float wv)
{
  float *x = g_new (float, (long) M * K), *w = g_new (float, (long) N * K);
  for (long i = 0; i < (long) M * K; i++)
    x[i] = value_of_row ((int) (i / K));
  for (long i = 0; i < (long) N * K; i++)
    w[i] = wv;
  sdcl_t tx, ty;
  sdcl_w tw;
  int64_t wshape[2] = { N, K };
  upload_f16 (&tw, 2, wshape, w, (long) N * K);
  to_device (cl, &tx, 2, M, K, 0, 0, x);
  sdcl_t_alloc (cl, &ty, 2, M, N, 0, 0);
  op_linear (cl, &tx, &tw, NULL, NULL, SDCL_ACT_NONE, &ty);
  float *got = device_ok (cl, "constant linear") ? from_device (cl, &ty)
                                                : g_new0 (float, (long) M * N);
  sdcl_t_release (cl, &tx), sdcl_t_release (cl, &ty);
  sdcl_w_free (&tw);
  g_free (x), g_free (w);
  return got;
}

static float one_plus (int m) { (void) m; return 1.0f + 1.0f / 8192; }
static float huge_or_one (int m) { return m % 2 ? 1.0f : 70000.0f; }
static float three_hundred (int m) { (void) m; return 300.0f; }

/* 1 + 2^-13 is a float but rounds to 1 in half: the half variant sums
 * exactly K, fp32 would give K + K / 8192.  Products beyond half's range
 * (300 * 256) and activations beyond it (70000) must take the fp32
 * recomputation: exact results. */
static void
test_half_signature (void)
{
  enum { M = 20, K = 512, N = 18 };
  float *got = run_constant_linear (M, K, N, one_plus, 1.0f);
  int exact = 0;
  for (int i = 0; i < M * N; i++)
    exact += got[i] == (float) K;
  CHECK (exact == M * N, "half arithmetic did not run: %d of %d outputs are %d (first %.9g; fp32 "
         "gives %.9g)", exact, M * N, K, got[0], K + K / 8192.0);
  g_free (got);

  got = run_constant_linear (M, 64, N, three_hundred, 256.0f);
  for (int i = 0; i < M * N; i++)
    CHECK (got[i] == 300.0f * 256 * 64, "overflowing half products: output %d is %.9g, want %.9g",
           i, got[i], 300.0 * 256 * 64);
  g_free (got);
  got = run_constant_linear (M, 64, N, huge_or_one, 0.5f);
  for (int i = 0; i < M * N; i++)
    CHECK (got[i] == huge_or_one (i / N) * 0.5f * 64,
           "activation beyond half: output %d is %.9g, want %.9g", i, got[i],
           huge_or_one (i / N) * 0.5 * 64);
  g_free (got);
}

typedef struct {
  int C, H, W, O, k, stride, pad;
} conv_case;

static void
test_conv_case (const conv_case *c, bool signature)
{
  char what[140];
  g_snprintf (what, sizeof what, "half conv C=%d %dx%d O=%d k=%d s=%d pad=%d%s", c->C, c->H, c->W,
              c->O, c->k, c->stride, c->pad, signature ? " (x = 1 + 2^-13, w = 1)" : "");
  sdcl_conv_desc d = { .stride = c->stride, .pad_t = c->pad, .pad_l = c->pad, .pad_b = c->pad,
                       .pad_r = c->pad };
  int Ho, Wo;
  ref_conv2d_size (&d, c->H, c->W, c->k, c->k, &Ho, &Wo);
  const int K = c->C * c->k * c->k;
  const long nx = (long) c->C * c->H * c->W, nw = (long) c->O * K, ny = (long) c->O * Ho * Wo;
  const float ws = 1.0f / sqrtf ((float) K);
  float *x = ref_random_floats (rng, nx, -2, 2), *w = ref_random_floats (rng, nw, -ws, ws);
  float *b = ref_random_floats (rng, c->O, -1, 1);
  for (long i = 0; signature && i < nx; i++)
    x[i] = 1.0f + 1.0f / 8192;
  for (long i = 0; signature && i < nw; i++)
    w[i] = 1.0f;
  sdcl_t tx, ty;
  sdcl_w tw, tb;
  int64_t wshape[4] = { c->O, c->C, c->k, c->k }, bshape[1] = { c->O };
  upload_f16 (&tw, 4, wshape, w, nw);
  sdcl_w_upload (cl, &tb, SDCL_WT_F32, 1, bshape, b, SDCL_SRC_F32);
  to_device (cl, &tx, 4, 1, c->C, c->H, c->W, x);
  sdcl_t_alloc (cl, &ty, 4, 1, c->O, Ho, Wo);
  op_conv2d (cl, &tx, &tw, signature ? NULL : &tb, &d, NULL, &ty);
  cl_kernel k;
  const int pick = sdcl_conv_tiled_pick (cl, &tw, c->k, c->k, &k);
  CHECK (pick >= 0, "%s: no conv_tiled configuration fits", what);
  if (device_ok (cl, what) && pick >= 0)
    {
      float *got = from_device (cl, &ty), *want = g_new (float, ny), *S = g_new (float, ny);
      float *ax = absolute (x, nx), *aw = absolute (w, nw);
      ref_conv2d (x, 1, c->C, c->H, c->W, w, c->O, c->k, c->k, signature ? NULL : b, &d, NULL,
                  want);
      ref_conv2d (ax, 1, c->C, c->H, c->W, aw, c->O, c->k, c->k, NULL, &d, NULL, S);
      if (signature)
        for (long i = 0; i < ny; i++)   /* 1 + 2^-13 rounds to 1: S / (1 + 2^-13) exactly */
          CHECK (got[i] == roundf (S[i] / (1.0f + 1.0f / 8192)),
                 "%s: output %ld is %.9g, want %.9g (half arithmetic did not run?)", what, i,
                 got[i], roundf (S[i] / (1.0f + 1.0f / 8192)));
      check_half_bound (what, got, want, S, ny, K, sdcl_conv_tiled_configs[pick].bk,
                        signature ? 1.0f : ws, signature ? NULL : b, c->O, NULL,
                        (long) Ho * Wo);
      g_free (got), g_free (want), g_free (S), g_free (ax), g_free (aw);
    }
  sdcl_t_release (cl, &tx), sdcl_t_release (cl, &ty);
  sdcl_w_free (&tw), sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (b);
}

static void
test_fp16 (void)
{
  CHECK (strstr (sdcl_half_math_option (cl, SDCL_WT_F16), "HALF_MATH") != NULL,
         "SDCL_FP16=on: F16 weights do not get the half variant");
  CHECK (sdcl_half_math_option (cl, SDCL_WT_F32)[0] == '\0', "F32 weights got the half variant");
  test_half_signature ();
  test_linear_case (33, 300, 70, true, true);   /* edges of M, N and K */
  test_linear_case (77, 768, 128, true, false);
  static const conv_case convs[] = {
    { 32, 9, 11, 24, 3, 1, 1 }, { 64, 8, 8, 40, 1, 1, 0 }, { 16, 13, 13, 32, 3, 2, 1 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (convs); i++)
    test_conv_case (&convs[i], false);
  test_conv_case (&(conv_case) { 48, 6, 6, 16, 1, 1, 0 }, true);
}

/* A sub-group norm against the reference, gamma in [0.5, 1.5), beta in
 * [-1, 1): group_norm of x [B, C, H, W] in G groups, x in [2, 4) (a mean
 * offset of 3, as in test-ops), or with G = H = W = 0 layer_norm of B
 * rows of C, x in [-2, 3). */
static void
test_norm_case (const char *kernels, int B, int C, int H, int W, int G)
{
  const bool layer = G == 0;
  char what[120];
  if (layer)
    g_snprintf (what, sizeof what, "sub-group layer_norm rows=%d C=%d (%s kernels)", B, C,
                kernels);
  else
    g_snprintf (what, sizeof what, "sub-group group_norm B=%d C=%d %dx%d G=%d (%s kernels)", B,
                C, H, W, G, kernels);
  const long n = (long) B * C * (layer ? 1 : (long) H * W);
  float *x = layer ? ref_random_floats (rng, n, -2, 3) : ref_random_floats (rng, n, 2, 4);
  float *want = g_new (float, n);
  float *g = ref_random_floats (rng, C, 0.5f, 1.5f), *be = ref_random_floats (rng, C, -1, 1);
  sdcl_t tx, ty;
  sdcl_w tg, tb;
  int64_t shape[1] = { C };
  sdcl_w_upload (cl, &tg, SDCL_WT_F32, 1, shape, g, SDCL_SRC_F32);
  sdcl_w_upload (cl, &tb, SDCL_WT_F32, 1, shape, be, SDCL_SRC_F32);
  to_device (cl, &tx, layer ? 2 : 4, B, C, H, W, x);
  sdcl_t_alloc (cl, &ty, layer ? 2 : 4, B, C, H, W);
  if (layer)
    op_layer_norm (cl, &tx, &tg, &tb, 1e-5f, &ty);
  else
    op_group_norm (cl, &tx, &tg, &tb, G, 1e-5f, false, &ty);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, &ty);
      if (layer)
        ref_layer_norm (x, B, C, g, be, 1e-5f, want);
      else
        ref_group_norm (x, B, C, (long) H * W, g, be, G, 1e-5f, false, want);
      CHECK_CLOSE (what, got, want, n, 1e-4, 1e-4);
      g_free (got);
    }
  sdcl_t_release (cl, &tx), sdcl_t_release (cl, &ty);
  sdcl_w_free (&tg), sdcl_w_free (&tb);
  g_free (x), g_free (want), g_free (g), g_free (be);
}

static void
test_norm_cases (const char *kernels)
{
  g_setenv ("SDCL_KERNELS", kernels, TRUE);   /* read per call: both norm kernels */
  CHECK (g_str_has_prefix (sdcl_reduce_options (cl), "-DSDCL_SUBGROUPS"),
         "SDCL_SUBGROUPS=on: the norms do not get the sub-group variant (%s kernels)", kernels);
  static const int gn[][5] = { { 2, 8, 5, 3, 4 }, { 1, 64, 9, 7, 32 }, { 1, 10, 61, 67, 2 },
                               { 1, 4, 256, 256, 1 } };
  for (size_t i = 0; i < G_N_ELEMENTS (gn); i++)
    test_norm_case (kernels, gn[i][0], gn[i][1], gn[i][2], gn[i][3], gn[i][4]);
  static const int ln[][2] = { { 3, 5 }, { 3, 300 }, { 77, 768 }, { 9, 1280 } };
  for (size_t i = 0; i < G_N_ELEMENTS (ln); i++)
    test_norm_case (kernels, ln[i][0], ln[i][1], 0, 0, 0);
}

/* SDCL_x=off must give the plain path whatever the device has. */
static void
check_off_override (sdcl_ext e, const char *var)
{
  g_setenv (var, "off", TRUE);
  CHECK (!sdcl_cl_uses_ext (cl, e), "%s=off still uses %s", var, sdcl_ext_label (e));
  g_setenv (var, "on", TRUE);
}

/* A context with `var`=on, or the exit status of the test when there is
 * none: on a device without the extension the forced variant must fail
 * naming the variable and the extension, then the test skips (77) naming
 * `missing`; no device at all skips too. */
static sdcl_cl *
open_forced (sdcl_ext e, const char *var, const char *missing)
{
  sdcl_error err = { 0 };
  sdcl_cl *c = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), NULL, &err);
  if (!c && err.code == SDCL_ERR_INVALID_ARGUMENT && strstr (err.message, " lacks "))
    {
      CHECK (strstr (err.message, var) && strstr (err.message, sdcl_ext_label (e)),
             "the error does not name %s and %s: %s", var, sdcl_ext_label (e), err.message);
      if (check_failures)
        exit (check_finish ());
      printf ("skipped: device lacks %s (%s)\n", missing, err.message);
      exit (77);
    }
  if (!c)
    {
      fprintf (stderr, "skipping: %s\n", err.message);
      exit (err.code == SDCL_ERR_NO_DEVICE ? 77 : 1);
    }
  return c;
}

int
main (int argc, char **argv)
{
  const bool fp16 = argc == 2 && strcmp (argv[1], "--fp16") == 0;
  if (!fp16 && !(argc == 2 && strcmp (argv[1], "--subgroups") == 0))
    {
      fprintf (stderr, "usage: %s --fp16 | --subgroups\n", argv[0]);
      return 2;
    }
  const sdcl_ext e = fp16 ? SDCL_EXT_FP16 : SDCL_EXT_SUBGROUPS;
  const char *var = fp16 ? "SDCL_FP16" : "SDCL_SUBGROUPS";
  g_setenv (var, "on", TRUE);
  /* The GPUs' kernels, which hold the variants (the limits may come from
   * the environment). */
  g_setenv ("SDCL_KERNELS", "portable", FALSE);
  g_setenv ("SDCL_GEMM", "own", FALSE);
  cl = open_forced (e, var, fp16 ? "cl_khr_fp16" : sdcl_ext_label (e));
  fprintf (stderr, "device: %s (%s)\n", sdcl_cl_device (cl)->name, sdcl_cl_device (cl)->platform);
  CHECK (sdcl_cl_has_ext (cl, e) && sdcl_cl_uses_ext (cl, e), "%s=on but %s is not in use", var,
         sdcl_ext_label (e));
  /* What `sdcl-bench --kernels` and tools/device-report.sh print. */
  char *report = sdcl_cl_kernel_report (cl);
  CHECK (strstr (report, fp16 ? "multiply in half" : "reduce per sub-group") != NULL,
         "the kernel report does not show the variant:\n%s", report);
  g_free (report);
  check_off_override (e, var);
  rng = g_rand_new_with_seed (20261206);
  if (fp16)
    test_fp16 ();
  else
    {
      test_norm_cases ("portable");
      test_norm_cases ("cpu");
    }
  g_rand_free (rng);
  sdcl_cl_free (cl);
  return check_finish ();
}

/* Every device op against its plain-C reference (ref_ops.c) on random data
 * and awkward shapes: odd sizes that are multiples of no tile, channel
 * counts like 3, 9, 37, F32, F16 and Q8 weights, weights split into parts.
 *
 *   test-ops            the default suite
 *   test-ops --small    a reduced set for the oclgrind simulator
 *   test-ops --bench    also times SD1.5-sized GEMM, conv and attention
 *   test-ops --bench-q8 only: F16 against Q8 weights on SD1.5's GEMM
 *                       shapes, interleaved (BENCHMARKS.md §8-bit weights)
 *   test-ops --bench-only   only the timings (with --gemm-only: GEMM and
 *                       conv shapes only; SDCL_BENCH_LINEAR="M,K,N;..." and
 *                       SDCL_BENCH_CONV3="B,C,H,W,O;..." time those shapes
 *                       instead, SDCL_BENCH_REPS=n the fastest of n runs,
 *                       SDCL_BENCH_WTYPE=f32|f16|q8 the linear weights,
 *                       SDCL_BENCH_COLD=<MB> those weights cold from DRAM)
 *   test-ops --linear-only   only op_linear
 *   test-ops --gemm-only     only op_linear and op_conv2d (to test a GEMM
 *                       backend, e.g. SDCL_GEMM=clblast)
 *   test-ops --attention-only   only op_attention (its kernel variants)
 *   test-ops --conv-only     only op_conv2d (its kernel variants)
 *   test-ops --bench-only   only the timings (with --attention-only: attention's)
 *   test-ops --unless-native-panel   skip (77) when SDCL_PANEL_COLUMNS forces
 *                       the width this device gets anyway: the plain run
 *                       (kernel-ops) is that run already
 *
 * Tolerances (|got - want| <= atol + rtol |want|), data scaled so outputs
 * are O(1):
 *   GEMM / conv, K up to ~3000: atol 1e-4, rtol 1e-4 (fp32 accumulation
 *     against a double reference); F16 weights are compared with a
 *     reference on the same half-rounded weights, so the same tolerance; Q8
 *     weights likewise against the reference on the dequantized weights
 *     (q * scale, sdcl_q8_quantize_row): the kernels apply the scale to the
 *     finished sum instead, which differs only by fp32 rounding.
 *   attention: atol 2e-5, rtol 1e-4; norms: atol 1e-4, rtol 1e-4 (~1M values
 *     per group with a mean offset of 3); elementwise: atol 1e-6, rtol 1e-5
 *     (erf/exp ulps); layout copies: exact.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "attention.h"
#include "check.h"
#include "clrt_derived.h"
#include "clrt_internal.h"
#include "conv_tiled.h"
#include "device_helpers.h"
#include "gemm.h"
#include "ops.h"
#include "ref_ops.h"

#include <glib.h>
#include <sys/resource.h>
#include <string.h>

typedef enum {
  W_F32,
  W_F16,
  W_F32_SPLIT,
  W_F16_SPLIT,
  W_Q8,
  W_Q8_SPLIT,
  W_MODES
} weight_mode;

static const char *const mode_names[W_MODES] = { "f32", "f16", "f32-split", "f16-split", "q8",
                                                  "q8-split" };

/* The mode of a layer's bias next to a weight of `mode`. */
static weight_mode
bias_mode (weight_mode mode)
{
  return mode == W_F32 || mode == W_F32_SPLIT ? W_F32
         : mode == W_F16_SPLIT                 ? W_F16
         : mode == W_Q8_SPLIT                  ? W_Q8
                                               : mode;
}

static sdcl_cl *cl;
static GRand *rng;

/* ---- helpers ----------------------------------------------------------- */

static float *
random_floats (long n, float lo, float hi)
{
  return ref_random_floats (rng, n, lo, hi);
}

/* Uploads `host` as a weight in `mode` and rounds `host` in place to what
 * the device holds, so the reference sees the same values.  Split modes
 * force parts of about a third of the rows. */
/* host rounded in place to Q8's dequantized values, row by row. */
static void
dequantize_rows (float *host, int64_t rows, int64_t cols)
{
  int8_t *q = g_new (int8_t, cols);
  for (int64_t r = 0; r < rows; r++)
    {
      float scale;
      CHECK (sdcl_q8_quantize_row (host + r * cols, cols, q, &scale), "q8 row %lld",
             (long long) r);
      for (int64_t k = 0; k < cols; k++)
        host[r * cols + k] = q[k] * scale;
    }
  g_free (q);
}

static void
weight_upload (sdcl_w *w, weight_mode mode, int nd, const int64_t *shape, float *host)
{
  const bool q8 = mode == W_Q8 || mode == W_Q8_SPLIT;
  /* Q8 stores vectors as F16 (sdcl_w_upload). */
  const bool half = mode == W_F16 || mode == W_F16_SPLIT || (q8 && nd < 2);
  const bool split = mode == W_F32_SPLIT || mode == W_F16_SPLIT || mode == W_Q8_SPLIT;
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= shape[i];
  if (half)
    for (int64_t i = 0; i < n; i++)
      host[i] = sdcl_half_to_float (sdcl_float_to_half (host[i]));
  else if (q8)
    dequantize_rows (host, shape[0], n / shape[0]);
  if (split)
    {
      /* A Q8 row is its int8 values and a scale; a part pads its values
       * to 16 bytes. */
      const int64_t row_bytes = q8 ? n / shape[0] + 4 : n / shape[0] * (half ? 2 : 4);
      sdcl_cl_set_max_alloc_for_testing (cl, (uint64_t) (row_bytes * MAX (1, shape[0] / 3))
                                                 + (q8 ? 16 : 0));
    }
  sdcl_w_upload (cl, w, q8 ? SDCL_WT_Q8 : half ? SDCL_WT_F16 : SDCL_WT_F32, nd, shape, host,
                 SDCL_SRC_F32);
  if (q8)
    CHECK (w->type == (nd < 2 ? SDCL_WT_F16 : SDCL_WT_Q8) && w->nparts > 0
             && sdcl_w_bytes (w) == (uint64_t) (nd < 2 ? 2 * n : n + 4 * shape[0]),
           "q8 upload of %d dims: type %d, %" G_GUINT64_FORMAT " bytes", nd, w->type,
           sdcl_w_bytes (w));
  sdcl_cl_set_max_alloc_for_testing (cl, 0);
  if (split && shape[0] >= 3)
    CHECK (w->nparts >= 3, "%s weight with %lld rows was not split (%d parts)", mode_names[mode],
           (long long) shape[0], w->nparts);
}

/* ---- linear ------------------------------------------------------------ */

typedef struct {
  int M, K, N;
  bool bias, res;
  sdcl_act act;
} linear_case;

static void
test_linear_case (const linear_case *c, weight_mode mode)
{
  char what[160];
  g_snprintf (what, sizeof what, "linear M=%d K=%d N=%d bias=%d res=%d act=%d %s", c->M, c->K,
              c->N, c->bias, c->res, c->act, mode_names[mode]);
  const long nx = (long) c->M * c->K, ny = (long) c->M * c->N;
  const float ws = 1.0f / sqrtf ((float) c->K);
  float *x = random_floats (nx, -1, 1), *w = random_floats ((long) c->N * c->K, -ws, ws);
  float *bias = random_floats (c->N, -1, 1), *res = random_floats (ny, -1, 1);
  float *want = g_new (float, ny);

  sdcl_t tx, tres = { 0 }, ty;
  sdcl_w tw, tb = { 0 };
  to_device (cl, &tx, 2, c->M, c->K, 0, 0, x);
  if (c->res)
    to_device (cl, &tres, 2, c->M, c->N, 0, 0, res);
  sdcl_t_alloc (cl, &ty, 2, c->M, c->N, 0, 0);
  int64_t wshape[2] = { c->N, c->K }, bshape[1] = { c->N };
  weight_upload (&tw, mode, 2, wshape, w);
  if (c->bias)
    weight_upload (&tb, bias_mode (mode), 1, bshape, bias);

  op_linear (cl, &tx, &tw, c->bias ? &tb : NULL, c->res ? &tres : NULL, c->act, &ty);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, &ty);
      ref_linear (x, w, c->bias ? bias : NULL, c->res ? res : NULL, c->act, c->M, c->N, c->K, want);
      CHECK_CLOSE (what, got, want, ny, 1e-4, 1e-4);
      g_free (got);
    }
  sdcl_t_release (cl, &tx);
  sdcl_t_release (cl, &tres);
  sdcl_t_release (cl, &ty);
  sdcl_w_free (&tw);
  sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (bias), g_free (res), g_free (want);
}

static void
test_linear (bool small)
{
  static const linear_case full[] = {
    { 1, 1, 1, false, false, SDCL_ACT_NONE },
    { 7, 13, 5, true, false, SDCL_ACT_NONE },
    { 37, 64, 9, true, true, SDCL_ACT_GELU },
    { 50, 96, 64, true, true, SDCL_ACT_GELU }, /* whole tiles: the vector epilogue */
    { 130, 257, 67, false, true, SDCL_ACT_SILU },
    { 77, 768, 100, true, false, SDCL_ACT_QUICK_GELU },
    { 40, 2883, 33, true, true, SDCL_ACT_NONE },
    { 256, 1280, 320, true, true, SDCL_ACT_NONE },
    /* Past gemm_tiled's 128 x 128 tiles by a little (edges in both
     * dimensions, K steps of 16 and 32 with a partial last one), K = 1 and
     * a thin N over many tiles of rows. */
    { 129, 47, 131, true, false, SDCL_ACT_NONE },
    { 300, 1, 3, true, true, SDCL_ACT_SILU },
  };
  static const linear_case reduced[] = {
    { 1, 1, 1, false, false, SDCL_ACT_NONE },
    { 7, 13, 5, true, true, SDCL_ACT_GELU },
    { 19, 40, 9, true, false, SDCL_ACT_SILU },
    { 133, 37, 67, false, true, SDCL_ACT_NONE },
    { 70, 1, 3, true, true, SDCL_ACT_NONE },
  };
  const linear_case *cases = small ? reduced : full;
  int n = small ? G_N_ELEMENTS (reduced) : G_N_ELEMENTS (full);
  for (int i = 0; i < n; i++)
    for (int m = 0; m < W_MODES; m++)
      test_linear_case (&cases[i], m);
}

/* op_linear_geglu (c->N = F, the weight has 2F rows) against the reference
 * linear layer and GEGLU: fused where F is a multiple of 16 and the tile
 * allows (gemm.h), the two ops elsewhere and for split weights. */
static void
test_linear_geglu_case (const linear_case *c, weight_mode mode)
{
  char what[160];
  g_snprintf (what, sizeof what, "linear_geglu M=%d K=%d F=%d bias=%d %s", c->M, c->K, c->N,
              c->bias, mode_names[mode]);
  const long two_f = 2L * c->N, nh = (long) c->M * two_f;
  const float ws = 1.0f / sqrtf ((float) c->K);
  float *x = random_floats ((long) c->M * c->K, -1, 1), *w = random_floats (two_f * c->K, -ws, ws);
  float *bias = random_floats (two_f, -1, 1), *h = g_new (float, nh);
  float *want = g_new (float, nh / 2);
  sdcl_t tx, ty;
  sdcl_w tw, tb = { 0 };
  to_device (cl, &tx, 2, c->M, c->K, 0, 0, x);
  sdcl_t_alloc (cl, &ty, 2, c->M, c->N, 0, 0);
  int64_t wshape[2] = { two_f, c->K }, bshape[1] = { two_f };
  weight_upload (&tw, mode, 2, wshape, w);
  if (c->bias)
    weight_upload (&tb, bias_mode (mode), 1, bshape, bias);
  op_linear_geglu (cl, &tx, &tw, c->bias ? &tb : NULL, &ty);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, &ty);
      ref_linear (x, w, c->bias ? bias : NULL, NULL, SDCL_ACT_NONE, c->M, (int) two_f, c->K, h);
      ref_geglu (h, c->M, c->N, want);
      CHECK_CLOSE (what, got, want, nh / 2, 1e-4, 1e-4);
      g_free (got);
    }
  sdcl_t_release (cl, &tx);
  sdcl_t_release (cl, &ty);
  sdcl_w_free (&tw);
  sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (bias), g_free (h), g_free (want);
}

static void
test_linear_geglu (bool small)
{
  static const linear_case cases[] = {
    { 37, 64, 16, true, false, SDCL_ACT_NONE },
    { 50, 96, 48, false, false, SDCL_ACT_NONE },
    { 130, 257, 40, true, false, SDCL_ACT_NONE }, /* F % 16 != 0: two ops */
  };
  for (size_t i = 0; i < (small ? 1 : G_N_ELEMENTS (cases)); i++)
    for (int m = 0; m < W_MODES; m++)
      test_linear_geglu_case (&cases[i], m);
}

/* gemm_tiled's configuration (when it is the GEMM kernel): within the
 * limits (SDCL_FORCE_WG_SIZE / SDCL_FORCE_LOCAL_MEM lower the device's),
 * and the first of the table that runs, for either weight type. */
static void
test_tiled_choice (void)
{
  if (sdcl_gemm_kernel_choice (cl) != SDCL_GEMM_KERNEL_TILED)
    return;
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  guint64 forced;
  const char *env = g_getenv ("SDCL_FORCE_WG_SIZE");
  if (env && g_ascii_string_to_unsigned (env, 10, 1, G_MAXUINT64, &forced, NULL))
    CHECK (max_wg <= forced, "work-group limit %zu above SDCL_FORCE_WG_SIZE=%s", max_wg, env);
  env = g_getenv ("SDCL_FORCE_LOCAL_MEM");
  if (env && g_ascii_string_to_unsigned (env, 10, 1, G_MAXUINT64, &forced, NULL))
    CHECK (local_mem <= forced, "local memory limit %" G_GUINT64_FORMAT
           " above SDCL_FORCE_LOCAL_MEM=%s", local_mem, env);
  static const char *const type_names[] = { "f32", "f16", "q8" };
  for (int type = SDCL_WT_F32; type <= SDCL_WT_Q8; type++)
    {
      cl_kernel k;
      const int pick = sdcl_tiled_pick (cl, type, &k);
      if (!device_ok (cl, "gemm_tiled choice"))
        return;
      /* Every device this runs on has room for the last configuration
       * unless the limits are forced below it; then gemm_nt runs. */
      const sdcl_tiled_config *last = &sdcl_tiled_configs[sdcl_n_tiled_configs - 1];
      const bool room = max_wg >= sdcl_tiled_wg_size (last)
                        && local_mem >= sdcl_tiled_local_bytes (last);
      CHECK ((pick >= 0) == room, "gemm_tiled pick %d with limits %zu work-items, %"
             G_GUINT64_FORMAT " bytes", pick, max_wg, local_mem);
      if (pick < 0)
        continue;
      const sdcl_tiled_config *c = &sdcl_tiled_configs[pick];
      fprintf (stderr, "gemm_tiled (%s): %dx%dx%d tiles, %dx%d per work-item, %zu work-items, "
               "%zu bytes of local memory (limits %zu, %" G_GUINT64_FORMAT ")\n",
               type_names[type], c->bm, c->bn, c->bk, c->tm, c->tn, sdcl_tiled_wg_size (c),
               sdcl_tiled_local_bytes (c), max_wg, local_mem);
      CHECK (sdcl_tiled_wg_size (c) <= max_wg && sdcl_tiled_local_bytes (c) <= local_mem,
             "gemm_tiled configuration %d exceeds the limits", pick);
      CHECK (sdcl_tiled_kernel_fits (cl, k, pick, local_mem), "picked kernel does not fit");
      for (int i = 0; i < pick; i++)
        {
          const sdcl_tiled_config *b = &sdcl_tiled_configs[i];
          if (sdcl_tiled_wg_size (b) > max_wg || sdcl_tiled_local_bytes (b) > local_mem)
            continue;
          cl_kernel kb = sdcl_tiled_kernel (cl, type, i);
          CHECK (kb && !sdcl_tiled_kernel_fits (cl, kb, i, local_mem),
                 "configuration %d fits but %d was picked", i, pick);
        }
    }
}

/* ---- conv2d ------------------------------------------------------------ */

typedef struct {
  int B, C, H, W, O, kh, kw;
  sdcl_conv_desc d;
  bool bias, res;
} conv_case;

/* chunk_pixels > 0 lowers the allocation limit during the op so that the
 * convolution runs over chunks of that many output pixels. */
static void
test_conv_case (const conv_case *c, weight_mode mode, int chunk_pixels)
{
  char what[200];
  g_snprintf (what, sizeof what,
              "conv B=%d C=%d %dx%d O=%d k=%dx%d s=%d pad=%d,%d,%d,%d%s up=%d(%lldx%lld) %s%s",
              c->B, c->C, c->H, c->W, c->O, c->kh, c->kw, c->d.stride, c->d.pad_t, c->d.pad_l,
              c->d.pad_b, c->d.pad_r, c->d.circular ? " circular" : "", c->d.upsample,
              (long long) c->d.up_h, (long long) c->d.up_w, mode_names[mode],
              chunk_pixels ? " chunked" : "");
  int Ho, Wo;
  ref_conv2d_size (&c->d, c->H, c->W, c->kh, c->kw, &Ho, &Wo);
  const long nx = (long) c->B * c->C * c->H * c->W, nw = (long) c->O * c->C * c->kh * c->kw;
  const long ny = (long) c->B * c->O * Ho * Wo;
  const float ws = 1.0f / sqrtf ((float) (c->C * c->kh * c->kw));
  float *x = random_floats (nx, -1, 1), *w = random_floats (nw, -ws, ws);
  float *bias = random_floats (c->O, -1, 1), *res = random_floats (ny, -1, 1);
  float *want = g_new (float, ny);

  sdcl_t tx, tres = { 0 }, ty;
  sdcl_w tw, tb = { 0 };
  to_device (cl, &tx, 4, c->B, c->C, c->H, c->W, x);
  if (c->res)
    to_device (cl, &tres, 4, c->B, c->O, Ho, Wo, res);
  sdcl_t_alloc (cl, &ty, 4, c->B, c->O, Ho, Wo);
  int64_t wshape[4] = { c->O, c->C, c->kh, c->kw }, bshape[1] = { c->O };
  weight_upload (&tw, mode, 4, wshape, w);
  if (c->bias)
    weight_upload (&tb, bias_mode (mode), 1, bshape, bias);

  if (chunk_pixels)
    sdcl_cl_set_max_alloc_for_testing (cl, 2 * sizeof (float) * (uint64_t) (c->C * c->kh * c->kw)
                                               * chunk_pixels);
  op_conv2d (cl, &tx, &tw, c->bias ? &tb : NULL, &c->d, c->res ? &tres : NULL, &ty);
  sdcl_cl_set_max_alloc_for_testing (cl, 0);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, &ty);
      ref_conv2d (x, c->B, c->C, c->H, c->W, w, c->O, c->kh, c->kw, c->bias ? bias : NULL, &c->d,
                  c->res ? res : NULL, want);
      CHECK_CLOSE (what, got, want, ny, 1e-4, 1e-4);
      g_free (got);
    }
  sdcl_t_release (cl, &tx);
  sdcl_t_release (cl, &tres);
  sdcl_t_release (cl, &ty);
  sdcl_w_free (&tw);
  sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (bias), g_free (res), g_free (want);
}

#define PAD1 .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1

/* The convolution kernel for row-major weights and, when it is conv_tiled,
 * its configuration: within the limits and the first of the table that
 * runs (the tuned choice is test_gemm_config's).  SDCL_CONV=tiled must
 * get conv_tiled wherever a configuration fits, so that the variants
 * forcing it test it and not the gathered path. */
static void
test_conv_choice (void)
{
  const sdcl_w rowmajor[2] = { { .type = SDCL_WT_F32 }, { .type = SDCL_WT_F16 } };
  const sdcl_conv_kernel kind = sdcl_conv_kernel_choice (cl, &rowmajor[0]);
  fprintf (stderr, "convolution kernel for row-major weights: %s\n", sdcl_conv_kernel_name (kind));
  const char *env = g_getenv ("SDCL_CONV");
  if (env && g_ascii_strcasecmp (env, "tiled") == 0)
    CHECK (kind == SDCL_CONV_TILED, "SDCL_CONV=tiled chose %s", sdcl_conv_kernel_name (kind));
  /* The GPUs' path by default: the portable kernels with the own tiled GEMM. */
  if (!env && !sdcl_cl_cpu_kernels (cl) && sdcl_cl_gemm_backend (cl) == SDCL_GEMM_OWN
      && sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_TILED)
    CHECK (kind == SDCL_CONV_TILED, "the portable kernels chose %s", sdcl_conv_kernel_name (kind));
  if (kind != SDCL_CONV_TILED)
    return;
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  const sdcl_tiled_config *last = &sdcl_conv_tiled_configs[sdcl_n_conv_tiled_configs - 1];
  const bool room = max_wg >= sdcl_tiled_wg_size (last)
                    && local_mem >= sdcl_conv_tiled_local_bytes (last);
  for (int half = 0; half <= 1; half++)
    {
      cl_kernel k;
      const int pick = sdcl_conv_tiled_pick (cl, &rowmajor[half], 3, 3, &k);
      if (!device_ok (cl, "conv_tiled choice"))
        return;
      CHECK ((pick >= 0) == room, "conv_tiled pick %d with limits %zu work-items, %"
             G_GUINT64_FORMAT " bytes", pick, max_wg, local_mem);
      if (pick < 0)
        continue;
      const sdcl_tiled_config *c = &sdcl_conv_tiled_configs[pick];
      fprintf (stderr, "conv_tiled (%s): %d pixels x %d channels x %d, %dx%d per work-item, "
               "%zu work-items, %zu bytes of local memory (limits %zu, %" G_GUINT64_FORMAT ")\n",
               half ? "f16" : "f32", c->bm, c->bn, c->bk, c->tm, c->tn, sdcl_tiled_wg_size (c),
               sdcl_conv_tiled_local_bytes (c), max_wg, local_mem);
      CHECK (sdcl_tiled_wg_size (c) <= max_wg && sdcl_conv_tiled_local_bytes (c) <= local_mem,
             "conv_tiled configuration %d exceeds the limits", pick);
      CHECK (sdcl_conv_tiled_fits (cl, k, pick, local_mem), "picked kernel does not fit");
      for (int i = 0; i < pick; i++)
        {
          const sdcl_tiled_config *b = &sdcl_conv_tiled_configs[i];
          if (sdcl_tiled_wg_size (b) > max_wg || sdcl_conv_tiled_local_bytes (b) > local_mem)
            continue;
          cl_kernel kb = sdcl_conv_tiled_kernel (cl, &rowmajor[half], i, 3, 3);
          CHECK (kb && !sdcl_conv_tiled_fits (cl, kb, i, local_mem),
                 "conv_tiled configuration %d fits but %d was picked", i, pick);
        }
    }
}

/* one_mode: each case once, F32 and split F16 weights in turn, not
 * chunked (conv_tiled under oclgrind, where a case costs seconds; the
 * chunking only concerns the gathered path). */
static void
test_conv (bool small, bool one_mode)
{
  static const conv_case full[] = {
    /* conv_in-like: 3 channels, odd sizes */
    { 1, 3, 9, 11, 9, 3, 3, { .stride = 1, PAD1 }, true, false },
    /* UNet downsample: stride 2, pad 1, odd size, batch 2 */
    { 2, 37, 13, 17, 37, 3, 3, { .stride = 2, PAD1 }, true, true },
    /* VAE encoder downsample: pad right/bottom only */
    { 1, 5, 10, 12, 7, 3, 3, { .stride = 2, .pad_b = 1, .pad_r = 1 }, true, false },
    /* 1x1 (conv_shortcut, quant_conv) */
    { 2, 64, 7, 5, 9, 1, 1, { .stride = 1 }, true, true },
    /* nearest 2x upsample fused */
    { 1, 8, 5, 7, 10, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 10, .up_w = 14 }, true, false },
    { 1, 16, 8, 16, 6, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 16, .up_w = 32 }, true, true },
    /* upsample to an explicit, non-2x size */
    { 2, 4, 5, 7, 3, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 11, .up_w = 13 }, false, true },
    /* narrow images (width below the 8-pixel tile), a 5x5 kernel */
    { 1, 9, 4, 3, 13, 5, 5, { .stride = 1, .pad_t = 2, .pad_l = 2, .pad_b = 2, .pad_r = 2 }, true, false },
    /* a deeper one: K = 64 * 9 = 576, wide rows */
    { 1, 64, 20, 37, 70, 3, 3, { .stride = 1, PAD1 }, true, true },
    /* K = 320 * 9 = 2880 */
    { 1, 320, 6, 9, 11, 3, 3, { .stride = 1, PAD1 }, true, false },
    /* circular padding (seamless textures): the UNet's and VAE's 3x3 convs,
     * strided, upsampled, the encoder's one-sided pad, rows wider than the
     * 16-pixel vectors of conv_pad, a pad as large as the input */
    { 1, 3, 9, 11, 9, 3, 3, { .stride = 1, PAD1, .circular = true }, true, false },
    { 2, 37, 13, 17, 37, 3, 3, { .stride = 2, PAD1, .circular = true }, true, true },
    { 1, 5, 10, 12, 7, 3, 3, { .stride = 2, .pad_b = 1, .pad_r = 1, .circular = true }, true, false },
    { 1, 8, 5, 7, 10, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 10, .up_w = 14,
                              .circular = true }, true, false },
    { 1, 64, 20, 37, 70, 3, 3, { .stride = 1, PAD1, .circular = true }, true, true },
    { 1, 9, 2, 3, 13, 5, 5, { .stride = 1, .pad_t = 2, .pad_l = 2, .pad_b = 2, .pad_r = 2,
                              .circular = true }, true, false },
  };
  static const conv_case reduced[] = {
    { 1, 3, 5, 11, 7, 3, 3, { .stride = 1, PAD1 }, true, true },
    { 2, 9, 7, 9, 5, 3, 3, { .stride = 2, PAD1 }, true, false },
    { 1, 5, 9, 18, 7, 3, 3, { .stride = 2, .pad_b = 1, .pad_r = 1 }, true, false },
    { 1, 2, 3, 9, 3, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 6, .up_w = 18 }, true, false },
    { 1, 2, 3, 5, 3, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 7, .up_w = 9 }, false, true },
    { 1, 4, 3, 3, 5, 1, 1, { .stride = 1 }, false, false },
    { 1, 3, 5, 19, 7, 3, 3, { .stride = 1, PAD1, .circular = true }, true, true },
    { 2, 9, 7, 9, 5, 3, 3, { .stride = 2, PAD1, .circular = true }, true, false },
    { 1, 5, 9, 18, 7, 3, 3, { .stride = 2, .pad_b = 1, .pad_r = 1, .circular = true }, true, false },
    { 1, 2, 3, 9, 3, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 6, .up_w = 18,
                             .circular = true }, true, false },
  };
  const conv_case *cases = small ? reduced : full;
  int n = small ? G_N_ELEMENTS (reduced) : G_N_ELEMENTS (full);
  for (int i = 0; i < n && one_mode; i++)
    test_conv_case (&cases[i], i % 2 ? W_F16_SPLIT : W_F32, 0);
  for (int i = 0; i < n && !one_mode; i++)
    {
      for (int m = 0; m < W_MODES; m++)
        if (!small || m == W_F32 || m == W_F16_SPLIT || m == W_Q8_SPLIT)
          test_conv_case (&cases[i], m, 0);
      test_conv_case (&cases[i], W_F16, 7); /* chunks cross rows and batch entries */
    }
}

/* ---- Winograd convolution ---------------------------------------------- */

/* Largest |got - want| / max |want| of one output. */
static double
relative_error (const float *got, const float *want, long n)
{
  double err = 0, scale = 0;
  for (long i = 0; i < n; i++)
    {
      err = MAX (err, fabs ((double) got[i] - want[i]));
      scale = MAX (scale, fabs ((double) want[i]));
    }
  return scale > 0 ? err / scale : err;
}

/* One 3x3 stride-1 convolution forced through Winograd F(4x4, 3x3)
 * (SDCL_CONV=winograd), whole and in chunks of 7 tiles, against the
 * double reference, with the transformed weight made per use and kept.
 * Also that a kept transform was made once and left with its weight, and
 * that one made per use keeps nothing.  Returns the relative error. */
static double
test_winograd_case (const conv_case *c, weight_mode mode, double atol, double rtol)
{
  char what[200];
  g_snprintf (what, sizeof what, "winograd conv B=%d C=%d %dx%d O=%d pad=%d,%d,%d,%d%s up=%d %s",
              c->B, c->C, c->H, c->W, c->O, c->d.pad_t, c->d.pad_l, c->d.pad_b, c->d.pad_r,
              c->d.circular ? " circular" : "", c->d.upsample, mode_names[mode]);
  int Ho, Wo;
  ref_conv2d_size (&c->d, c->H, c->W, 3, 3, &Ho, &Wo);
  const long nx = (long) c->B * c->C * c->H * c->W, nw = (long) c->O * c->C * 9;
  const long ny = (long) c->B * c->O * Ho * Wo;
  const float ws = 1.0f / sqrtf ((float) (c->C * 9));
  float *x = random_floats (nx, -1, 1), *w = random_floats (nw, -ws, ws);
  float *bias = random_floats (c->O, -1, 1), *res = random_floats (ny, -1, 1);
  float *want = g_new (float, ny);
  sdcl_t tx, tres = { 0 }, ty;
  sdcl_w tw, tb = { 0 };
  to_device (cl, &tx, 4, c->B, c->C, c->H, c->W, x);
  if (c->res)
    to_device (cl, &tres, 4, c->B, c->O, Ho, Wo, res);
  sdcl_t_alloc (cl, &ty, 4, c->B, c->O, Ho, Wo);
  int64_t wshape[4] = { c->O, c->C, 3, 3 }, bshape[1] = { c->O };
  weight_upload (&tw, mode, 4, wshape, w);
  if (c->bias)
    weight_upload (&tb, mode == W_F16 ? W_F16 : W_F32, 1, bshape, bias);
  ref_conv2d (x, c->B, c->C, c->H, c->W, w, c->O, 3, 3, c->bias ? bias : NULL, &c->d,
              c->res ? res : NULL, want);

  /* Winograd needs panel weights in one part (the CPU kernels); elsewhere
   * (portable kernels, split weights) the direct convolution runs. */
  const bool applies = tw.panel && tw.nparts == 1;
  /* U stays beside the weight only for layers of 64 tiles or more
   * (conv_winograd.c, WINO_KEEP_MIN_TILES); fewer make it per use. */
  const int64_t tiles = (int64_t) c->B * ((Ho + 3) / 4) * ((Wo + 3) / 4);
  const int64_t Opad = (c->O + 15) / 16 * 16;
  const uint64_t u_bytes = applies && tiles >= 64 ? 36 * (uint64_t) Opad * c->C * sizeof (float)
                                                  : 0;
  const uint64_t before = sdcl_cl_derived_bytes (cl);
  double err = 0;
  float *per_use[2] = { NULL, NULL };
  /* U made at every use (lean residency; nothing may stay), then kept
   * beside the weight. */
  for (int keep = 0; keep < 2; keep++)
    for (int chunked = 0; chunked < 2; chunked++)
      {
        sdcl_cl_set_derived_kept (cl, keep);
        /* Chunks of 7 tiles: V and M each get half of the allocation
         * limit.  Made per use, U then comes in slices of 16 output
         * channels (the least: room for one panel). */
        const uint64_t slice = keep ? 0 : 16 * 36 * sizeof (float) * (uint64_t) c->C;
        if (chunked)
          sdcl_cl_set_max_alloc_for_testing (
              cl, 2 * MAX (slice, 7 * 36 * sizeof (float) * (uint64_t) MAX (c->C, c->O)));
        op_conv2d (cl, &tx, &tw, c->bias ? &tb : NULL, &c->d, c->res ? &tres : NULL, &ty);
        sdcl_cl_set_max_alloc_for_testing (cl, 0);
        CHECK (sdcl_cl_derived_bytes (cl) == before + (keep ? u_bytes : 0),
               "%s: the kept transformed weight should take %llu bytes, the cache holds %llu",
               what, (unsigned long long) (keep ? u_bytes : 0),
               (unsigned long long) (sdcl_cl_derived_bytes (cl) - before));
        if (!device_ok (cl, what))
          break;
        float *got = from_device (cl, &ty);
        char label[240];
        g_snprintf (label, sizeof label, "%s%s%s", what, chunked ? " chunked" : "",
                    keep ? "" : " per use");
        CHECK_CLOSE (label, got, want, ny, atol, rtol);
        err = MAX (err, relative_error (got, want, ny));
        if (!keep)
          per_use[chunked] = got;
        else
          {
            /* The same arithmetic in the same order, only in slices. */
            CHECK (per_use[chunked] && memcmp (got, per_use[chunked], ny * sizeof (float)) == 0,
                   "%s: U made per use gave another output", label);
            g_free (got);
          }
      }
  sdcl_cl_set_derived_kept (cl, true);
  g_free (per_use[0]), g_free (per_use[1]);
  sdcl_w_free (&tw);
  CHECK (sdcl_cl_derived_bytes (cl) == before,
         "%s: freeing the weight left %llu bytes of its transform", what,
         (unsigned long long) (sdcl_cl_derived_bytes (cl) - before));
  sdcl_t_release (cl, &tx);
  sdcl_t_release (cl, &tres);
  sdcl_t_release (cl, &ty);
  sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (bias), g_free (res), g_free (want);
  return err;
}

/* Winograd F(4x4, 3x3) trades precision for speed: the transforms scale
 * values by up to 100 (B^T) and 64 (A^T), so fp32 rounding is larger than
 * the direct convolution's (max |diff| up to 7e-7 on these outputs of
 * O(1)).  Measured on these cases: max |diff| up to 1.7e-5, the largest
 * error relative to the output's range 7e-6 - 8e-6, with F32 and F16
 * weights alike (the transformed weight is float32 either way; rounded to
 * half it was 5.6e-3).  Hence atol 2e-4, rtol 2e-4: ten times the
 * measured error, twice the direct convolution's tolerance. */
static void
test_winograd (bool small)
{
  static const conv_case full[] = {
    { 1, 3, 9, 11, 9, 3, 3, { .stride = 1, PAD1 }, true, false },
    { 2, 37, 13, 17, 37, 3, 3, { .stride = 1, PAD1 }, true, true },
    { 1, 8, 5, 7, 10, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 10, .up_w = 14 }, true, false },
    { 2, 4, 5, 7, 3, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 11, .up_w = 13 }, false, true },
    { 1, 64, 20, 37, 70, 3, 3, { .stride = 1, PAD1 }, true, true },
    { 1, 5, 10, 12, 7, 3, 3, { .stride = 1, .pad_b = 1, .pad_r = 1 }, true, false },
    { 1, 64, 20, 37, 70, 3, 3, { .stride = 1, PAD1, .circular = true }, true, true },
    { 1, 8, 5, 7, 10, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 10, .up_w = 14,
                              .circular = true }, true, false },
    /* SD's widths: K = 320 and 640 channels */
    { 2, 320, 12, 10, 40, 3, 3, { .stride = 1, PAD1 }, true, true },
    { 1, 640, 8, 8, 33, 3, 3, { .stride = 1, PAD1 }, true, false },
    /* 144 tiles: U kept where derived weights are */
    { 2, 16, 33, 30, 20, 3, 3, { .stride = 1, PAD1 }, true, true },
  };
  static const conv_case reduced[] = {
    { 1, 3, 5, 11, 7, 3, 3, { .stride = 1, PAD1 }, true, true },
    { 2, 9, 7, 9, 17, 3, 3, { .stride = 1, PAD1, .circular = true }, true, false },
    { 1, 2, 3, 9, 3, 3, 3, { .stride = 1, PAD1, .upsample = true, .up_h = 6, .up_w = 18 }, true, false },
  };
  /* Only the CPU kernels (panel weights) have the path; elsewhere these
   * cases would repeat test_conv's. */
  if (!sdcl_cl_packs_weights (cl))
    {
      fprintf (stderr, "winograd: not on this kernel set (weights not in panels), skipped\n");
      return;
    }
  const conv_case *cases = small ? reduced : full;
  const int n = small ? G_N_ELEMENTS (reduced) : G_N_ELEMENTS (full);
  char *saved = g_strdup (g_getenv ("SDCL_CONV"));
  g_setenv ("SDCL_CONV", "winograd", TRUE);
  double worst[2] = { 0, 0 };
  for (int i = 0; i < n; i++)
    {
      for (int half = 0; half < 2; half++)
        {
          const double err = test_winograd_case (&cases[i], half ? W_F16 : W_F32, 2e-4, 2e-4);
          worst[half] = MAX (worst[half], err);
        }
      if (i == 1)
        test_winograd_case (&cases[i], W_F16_SPLIT, 1e-4, 1e-4); /* falls back: direct */
    }
  fprintf (stderr, "winograd F(4x4,3x3): largest error / output range %.2g (f32), %.2g (f16)\n",
           worst[0], worst[1]);
  if (saved)
    g_setenv ("SDCL_CONV", saved, TRUE);
  else
    g_unsetenv ("SDCL_CONV");
  g_free (saved);
}

/* ---- normalisation ----------------------------------------------------- */

static void
test_group_norm_case (int B, int C, int H, int W, int groups, bool silu, bool half_params,
                      float offset, bool in_place)
{
  char what[160];
  g_snprintf (what, sizeof what, "group_norm B=%d C=%d %dx%d G=%d silu=%d %s%s", B, C, H, W, groups,
              silu, half_params ? "f16" : "f32", in_place ? " in place" : "");
  const long n = (long) B * C * H * W;
  float *x = random_floats (n, offset - 1, offset + 1);
  float *gamma = random_floats (C, 0.5f, 1.5f), *beta = random_floats (C, -1, 1);
  float *want = g_new (float, n);
  sdcl_t tx, ty;
  sdcl_w tg, tb;
  int64_t shape[1] = { C };
  weight_upload (&tg, half_params ? W_F16 : W_F32, 1, shape, gamma);
  weight_upload (&tb, half_params ? W_F16 : W_F32, 1, shape, beta);
  to_device (cl, &tx, 4, B, C, H, W, x);
  if (!in_place)
    sdcl_t_alloc (cl, &ty, 4, B, C, H, W);
  op_group_norm (cl, &tx, &tg, &tb, groups, 1e-5f, silu, in_place ? &tx : &ty);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, in_place ? &tx : &ty);
      ref_group_norm (x, B, C, (long) H * W, gamma, beta, groups, 1e-5f, silu, want);
      CHECK_CLOSE (what, got, want, n, 1e-4, 1e-4);
      g_free (got);
    }
  sdcl_t_release (cl, &tx);
  if (!in_place)
    sdcl_t_release (cl, &ty);
  sdcl_w_free (&tg);
  sdcl_w_free (&tb);
  g_free (x), g_free (gamma), g_free (beta), g_free (want);
}

static void
test_layer_norm_case (int rows, int C, bool half_params, bool in_place)
{
  char what[120];
  g_snprintf (what, sizeof what, "layer_norm rows=%d C=%d %s%s", rows, C,
              half_params ? "f16" : "f32", in_place ? " in place" : "");
  const long n = (long) rows * C;
  float *x = random_floats (n, -2, 3);
  float *gamma = random_floats (C, 0.5f, 1.5f), *beta = random_floats (C, -1, 1);
  float *want = g_new (float, n);
  sdcl_t tx, ty;
  sdcl_w tg, tb;
  int64_t shape[1] = { C };
  weight_upload (&tg, half_params ? W_F16 : W_F32, 1, shape, gamma);
  weight_upload (&tb, half_params ? W_F16 : W_F32, 1, shape, beta);
  to_device (cl, &tx, 2, rows, C, 0, 0, x);
  if (!in_place)
    sdcl_t_alloc (cl, &ty, 2, rows, C, 0, 0);
  op_layer_norm (cl, &tx, &tg, &tb, 1e-5f, in_place ? &tx : &ty);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, in_place ? &tx : &ty);
      ref_layer_norm (x, rows, C, gamma, beta, 1e-5f, want);
      CHECK_CLOSE (what, got, want, n, 1e-4, 1e-4);
      g_free (got);
    }
  sdcl_t_release (cl, &tx);
  if (!in_place)
    sdcl_t_release (cl, &ty);
  sdcl_w_free (&tg);
  sdcl_w_free (&tb);
  g_free (x), g_free (gamma), g_free (beta), g_free (want);
}

static void
test_norms (bool small)
{
  test_group_norm_case (2, 8, 5, 3, 4, false, false, 0, false);
  test_group_norm_case (1, 9, 1, 1, 9, true, true, 0, true); /* C/G = 1, one pixel */
  test_layer_norm_case (3, 5, false, false);
  test_layer_norm_case (2, 1, true, true);
  test_layer_norm_case (3, 300, false, false); /* several values per work-item */
  test_group_norm_case (1, 64, 5, 7, 32, true, false, 1.0f, false);
  if (small)
    return;
  test_group_norm_case (2, 64, 9, 7, 32, true, false, 0, false);
  test_group_norm_case (1, 37, 3, 3, 37, false, true, 0, true);
  test_group_norm_case (1, 6, 1, 1, 2, true, false, 0, false);
  /* ~1M values per group around a mean of 3: the statistics must be two-pass */
  test_group_norm_case (1, 4, 512, 512, 1, true, false, 3.0f, false);
  /* Groups of 20435 values: two slices of unequal length in norm_wg.cl's
   * split statistics (the portable kernels). */
  test_group_norm_case (1, 10, 61, 67, 2, false, false, 3.0f, false);
  test_layer_norm_case (7, 37, false, false);
  test_layer_norm_case (77, 768, true, false);
  test_layer_norm_case (300, 1280, false, true);
}

/* ---- attention --------------------------------------------------------- */

static void
test_attention_case (int B, int N, int M, int heads, int dh, bool causal)
{
  char what[120];
  g_snprintf (what, sizeof what, "attention B=%d N=%d M=%d heads=%d dh=%d causal=%d", B, N, M,
              heads, dh, causal);
  const long nq = (long) B * N * heads * dh, nk = (long) B * M * heads * dh;
  /* Scores of a few units, so the softmax is neither flat nor one-hot. */
  float *q = random_floats (nq, -2, 2), *k = random_floats (nk, -2, 2), *v = random_floats (nk, -1, 1);
  float *want = g_new (float, nq);
  sdcl_t tq, tk, tv, to;
  to_device (cl, &tq, 3, B, N, heads * dh, 0, q);
  to_device (cl, &tk, 3, B, M, heads * dh, 0, k);
  to_device (cl, &tv, 3, B, M, heads * dh, 0, v);
  sdcl_t_alloc (cl, &to, 3, B, N, heads * dh, 0);
  const float scale = 1.0f / sqrtf ((float) dh);
  op_attention (cl, &tq, &tk, &tv, heads, scale, causal, &to);
  if (device_ok (cl, what))
    {
      float *got = from_device (cl, &to);
      ref_attention (q, k, v, B, N, M, heads, dh, scale, causal, want);
      CHECK_CLOSE (what, got, want, nq, 2e-5, 1e-4);
      g_free (got);
    }
  sdcl_t_release (cl, &tq);
  sdcl_t_release (cl, &tk);
  sdcl_t_release (cl, &tv);
  sdcl_t_release (cl, &to);
  g_free (q), g_free (k), g_free (v), g_free (want);
}

/* Long attention launches are split over the queries (issue 22: OpenCL
 * cannot stop a launch, so none may run for minutes): under a tiny budget
 * the blocked kernel runs in many slices, through global offsets, and must
 * give the same result. */
static void
test_attention_sliced (void)
{
  sdcl_cl_set_launch_budget_for_testing (cl, 1 << 16);
  uint64_t before = sdcl_cl_launches (cl);
  test_attention_case (1, 300, 300, 1, 80, true);
  test_attention_case (2, 70, 77, 8, 40, false);
  uint64_t launches = sdcl_cl_launches (cl) - before;
  sdcl_cl_set_launch_budget_for_testing (cl, 0);
  /* CPU kernels, plus the key packing: slices of one work-item (ops.c
   * query_groups), attention_blocked (2 x 16 and 4 x 4 queries for 80 and
   * 40 channels) 10 + 5 slices, attention_blocked16 (4 x 16 and 6 x 2
   * queries) 5 + 6; attention_tiled:
   * one query block (at most 64 queries) per launch, so at least 5 + 2; the
   * plain streaming kernel is not sliced. */
  int config;
  cl_kernel k = NULL;
  if (sdcl_cl_cpu_kernels (cl))
    {
      const uint64_t slices = sdcl_gemm_panel_columns (cl) == 32 ? 5 + 6 : 10 + 5;
      CHECK (launches >= slices, "attention sliced into %" G_GUINT64_FORMAT " launches, not %"
             G_GUINT64_FORMAT " or more", launches, slices);
    }
  else if (sdcl_attention_choice (cl, 80, true, &config, &k) == SDCL_ATTN_TILED
           && sdcl_attention_choice (cl, 40, false, &config, &k) == SDCL_ATTN_TILED)
    CHECK (launches >= 5 + 2, "attention_tiled sliced into %" G_GUINT64_FORMAT " launches",
           launches);
}

/* The attention kernel choice (opencl/attention.c) on the portable path:
 * for the head widths the families use, attention_tiled with a
 * configuration within the (possibly forced) limits, and no earlier one
 * of the table would have fit; the plain kernel only when none fits or it
 * is forced. */
static void
test_attention_choice (void)
{
  if (sdcl_cl_cpu_kernels (cl))
    return;
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  const char *env = g_getenv ("SDCL_ATTENTION_KERNEL");
  const bool forced_plain = env && g_ascii_strcasecmp (env, "streaming") == 0;
  static const int widths[] = { 40, 64, 80, 128, 160, 512 };
  for (size_t w = 0; w < G_N_ELEMENTS (widths); w++)
    {
      const int dh = widths[w];
      int config = -1;
      cl_kernel k = NULL;
      const sdcl_attn_path path = sdcl_attention_choice (cl, dh, false, &config, &k);
      if (!device_ok (cl, "attention choice"))
        return;
      int room = -1;   /* the first configuration within the limits */
      for (int i = 0; i < sdcl_n_attn_tiled_configs && room < 0; i++)
        {
          const sdcl_attn_tiled_config *c = &sdcl_attn_tiled_configs[i];
          if ((size_t) c->wg <= max_wg && sdcl_attn_tiled_local_bytes (c, dh) <= local_mem
              && sdcl_attn_tiled_registers (c, dh) <= 64)
            room = i;
        }
      if (forced_plain || room < 0)
        {
          CHECK (path == SDCL_ATTN_STREAMING, "dh %d: %s instead of streaming", dh,
                 sdcl_attn_path_name (path));
          continue;
        }
      /* PoCL and oclgrind accept every configuration their limits allow. */
      CHECK (path == SDCL_ATTN_TILED && config == room && k,
             "dh %d: path %s, configuration %d, expected tiled %d", dh,
             sdcl_attn_path_name (path), config, room);
      if (path != SDCL_ATTN_TILED || config < 0)
        continue;
      const sdcl_attn_tiled_config *c = &sdcl_attn_tiled_configs[config];
      fprintf (stderr, "attention_tiled dh %d: %d queries x %d keys, %d work-items, %zu bytes "
               "of local memory, %d accumulators (limits %zu, %" G_GUINT64_FORMAT ")\n",
               dh, c->bq, c->bkv, c->wg, sdcl_attn_tiled_local_bytes (c, dh),
               sdcl_attn_tiled_registers (c, dh), max_wg, local_mem);
    }
}

static void
test_attention (bool small)
{
  test_attention_choice ();
  test_attention_case (1, 1, 1, 1, 4, false);
  test_attention_case (2, 13, 9, 2, 8, false);
  test_attention_case (1, 11, 11, 1, 4, true);
  test_attention_case (1, 3, 5, 1, 40, false);
  test_attention_case (1, 9, 7, 1, 512, false); /* blocks limited by local memory */
  test_attention_case (1, 70, 70, 2, 64, true); /* more than one work-group of queries */
  test_attention_sliced ();
  if (small)
    return;
  test_attention_case (1, 77, 77, 12, 64, true);   /* CLIP */
  test_attention_case (2, 70, 77, 8, 40, false);   /* UNet cross-attention */
  test_attention_case (1, 37, 50, 1, 512, false);  /* VAE mid-block head */
  test_attention_case (1, 100, 100, 2, 160, false);
  test_attention_case (1, 1, 600, 1, 80, false);   /* one query, many keys */
  test_attention_case (1, 300, 300, 1, 80, true);
  /* CPUs: 16 groups of queries per work-item over several 64-key steps */
  test_attention_case (1, 600, 600, 2, 64, false);
  test_attention_case (1, 600, 600, 2, 40, false);
  test_attention_case (2, 300, 45, 1, 200, false); /* GEMM path: two query chunks, odd sizes */
  test_attention_case (1, 20, 33, 2, 176, false);  /* GEMM path, two heads */
}

/* ---- elementwise and layout ------------------------------------------- */

static void
test_eltwise_case (long n, int B, int C, int hw)
{
  float *a = random_floats (n, -4, 4), *b = random_floats (n, -4, 4);
  float *want = g_new (float, n);
  sdcl_t ta, tb, ty;
  to_device (cl, &ta, 1, n, 0, 0, 0, a);
  to_device (cl, &tb, 1, n, 0, 0, 0, b);
  sdcl_t_alloc (cl, &ty, 1, n, 0, 0, 0);

  op_add (cl, &ta, &tb, &ty);
  if (device_ok (cl, "add"))
    {
      for (long i = 0; i < n; i++)
        want[i] = a[i] + b[i];
      float *got = from_device (cl, &ty);
      CHECK_CLOSE ("add", got, want, n, 0, 0);
      g_free (got);
    }
  op_scale (cl, &ta, -0.37f, &ty);
  if (device_ok (cl, "scale"))
    {
      for (long i = 0; i < n; i++)
        want[i] = -0.37f * a[i];
      float *got = from_device (cl, &ty);
      CHECK_CLOSE ("scale", got, want, n, 0, 0);
      g_free (got);
    }
  for (int act = SDCL_ACT_NONE; act <= SDCL_ACT_QUICK_GELU; act++)
    {
      char what[40];
      g_snprintf (what, sizeof what, "act %d n=%ld", act, n);
      op_act (cl, &ta, act, &ty);
      if (device_ok (cl, what))
        {
          for (long i = 0; i < n; i++)
            want[i] = ref_act (a[i], act);
          float *got = from_device (cl, &ty);
          CHECK_CLOSE (what, got, want, n, 1e-6, 1e-5);
          g_free (got);
        }
    }
  /* in place: y aliases x */
  op_act (cl, &tb, SDCL_ACT_SILU, &tb);
  if (device_ok (cl, "act in place"))
    {
      for (long i = 0; i < n; i++)
        want[i] = ref_act (b[i], SDCL_ACT_SILU);
      float *got = from_device (cl, &tb);
      CHECK_CLOSE ("act in place", got, want, n, 1e-6, 1e-5);
      g_free (got);
    }

  /* geglu: [n / (2F), 2F] with F = hw */
  if (n % (2 * hw) == 0)
    {
      sdcl_t tg;
      sdcl_t_alloc (cl, &tg, 2, n / (2 * hw), hw, 0, 0);
      sdcl_t tx2 = ta;
      tx2.nd = 2, tx2.d[0] = n / (2 * hw), tx2.d[1] = 2 * hw;
      op_geglu (cl, &tx2, &tg);
      if (device_ok (cl, "geglu"))
        {
          ref_geglu (a, n / (2 * hw), hw, want);
          float *got = from_device (cl, &tg);
          CHECK_CLOSE ("geglu", got, want, n / 2, 1e-6, 1e-5);
          g_free (got);
        }
      sdcl_t_release (cl, &tg);
    }

  /* add_channel, transposes and concat on [B, C, hw] views of a */
  if ((long) B * C * hw == n)
    {
      float *v = random_floats ((long) B * C, -1, 1);
      sdcl_t tv, tx4 = ta, tt, tback;
      tx4.nd = 4, tx4.d[0] = B, tx4.d[1] = C, tx4.d[2] = 1, tx4.d[3] = hw;
      to_device (cl, &tv, 2, B, C, 0, 0, v);
      sdcl_t_alloc (cl, &tt, 3, B, hw, C, 0);
      sdcl_t_alloc (cl, &tback, 4, B, C, 1, hw);

      op_nchw_to_nhwc (cl, &tx4, &tt);
      op_nhwc_to_nchw (cl, &tt, 1, hw, &tback);
      if (device_ok (cl, "nchw <-> nhwc"))
        {
          ref_transpose (a, B, C, hw, want);
          float *got = from_device (cl, &tt);
          CHECK_CLOSE ("nchw_to_nhwc", got, want, n, 0, 0);
          g_free (got);
          got = from_device (cl, &tback);
          CHECK_CLOSE ("nhwc_to_nchw", got, a, n, 0, 0);
          g_free (got);
        }

      op_add_channel (cl, &tx4, &tv);
      if (device_ok (cl, "add_channel"))
        {
          for (long i = 0; i < n; i++)
            want[i] = a[i] + v[i / hw];
          float *got = from_device (cl, &tx4);
          CHECK_CLOSE ("add_channel", got, want, n, 0, 0);
          g_free (got);
        }

      sdcl_t tc, tb4 = tb;
      float *bnow = from_device (cl, &tb);
      tb4.nd = 4, tb4.d[0] = B, tb4.d[1] = C, tb4.d[2] = 1, tb4.d[3] = hw;
      float *anow = from_device (cl, &ta);
      sdcl_t_alloc (cl, &tc, 4, B, 2 * C, 1, hw);
      op_concat_channels (cl, &tx4, &tb4, &tc);
      if (device_ok (cl, "concat"))
        {
          float *cat = g_new (float, 2 * n);
          ref_concat_channels (anow, C, bnow, C, B, hw, cat);
          float *got = from_device (cl, &tc);
          CHECK_CLOSE ("concat_channels", got, cat, 2 * n, 0, 0);
          g_free (got);
          g_free (cat);
        }
      op_copy (cl, &ta, 1, &tc, n + 3, n - 4);
      if (device_ok (cl, "copy"))
        {
          float *got = from_device (cl, &tc);
          CHECK_CLOSE ("copy", got + n + 3, anow + 1, n - 4, 0, 0);
          g_free (got);
        }
      sdcl_t_release (cl, &tc);
      sdcl_t_release (cl, &tv);
      sdcl_t_release (cl, &tt);
      sdcl_t_release (cl, &tback);
      g_free (v), g_free (anow), g_free (bnow);
    }
  sdcl_t_release (cl, &ta);
  sdcl_t_release (cl, &tb);
  sdcl_t_release (cl, &ty);
  g_free (a), g_free (b), g_free (want);
}

static void
test_eltwise (bool small)
{
  test_eltwise_case (2 * 3 * 10, 2, 3, 10);
  test_eltwise_case (1 * 37 * 19, 1, 37, 19);
  if (!small)
    {
      test_eltwise_case (2 * 320 * 81, 2, 320, 81);
      test_eltwise_case (100003, 1, 1, 100003);
    }
}

/* ---- errors ------------------------------------------------------------ */

/* A shape mismatch becomes a sticky error that names the op; later ops are
 * no-ops until the error is cleared. */
static void
test_sticky_errors (void)
{
  float data[12] = { 0 };
  sdcl_t a, b, y;
  to_device (cl, &a, 1, 12, 0, 0, 0, data);
  to_device (cl, &b, 1, 11, 0, 0, 0, data);
  sdcl_t_alloc (cl, &y, 1, 12, 0, 0, 0);
  op_add (cl, &a, &b, &y);
  sdcl_error err = { 0 };
  CHECK (sdcl_cl_check (cl, &err) == SDCL_ERR_INTERNAL, "mismatched op_add gave %d", err.code);
  CHECK (strstr (err.message, "op_add") != NULL, "message does not name the op: %s", err.message);
  op_scale (cl, &a, 2.0f, &y); /* ignored: an error is recorded */
  CHECK (!sdcl_cl_ok (cl), "error was not sticky");
  sdcl_cl_clear_error (cl);
  CHECK (sdcl_cl_ok (cl), "clear_error did not clear");
  sdcl_t_release (cl, &a);
  sdcl_t_release (cl, &b);
  sdcl_t_release (cl, &y);

  /* A circular pad wider than the input would have to wrap twice. */
  sdcl_t x4, y4;
  sdcl_w w4;
  to_device (cl, &x4, 4, 1, 1, 1, 2, data);
  sdcl_t_alloc (cl, &y4, 4, 1, 1, 3, 4);
  int64_t wshape[4] = { 1, 1, 3, 3 };
  weight_upload (&w4, W_F32, 4, wshape, data);
  const sdcl_conv_desc wide = { .stride = 1, .pad_t = 2, .pad_l = 2, .pad_b = 2, .pad_r = 2,
                                .circular = true };
  op_conv2d (cl, &x4, &w4, NULL, &wide, NULL, &y4);
  CHECK (sdcl_cl_check (cl, &err) == SDCL_ERR_INTERNAL
             && strstr (err.message, "circular padding") != NULL,
         "a circular pad of 2 on a 1x2 input gave %d: %s", err.code, err.message);
  sdcl_cl_clear_error (cl);
  sdcl_t_release (cl, &x4);
  sdcl_t_release (cl, &y4);
  sdcl_w_free (&w4);
}

/* The Q8 quantizer: each value within half a step of its int8 level, the
 * row's largest at +-127, zero rows all zero, non-finite rows refused
 * (and an upload of one a clear error). */
static void
test_q8_quantizer (void)
{
  float row[37];
  int8_t q[37];
  float scale;
  for (int trial = 0; trial < 4; trial++)
    {
      const float range = trial == 0 ? 1e-30f : trial == 1 ? 0.03f : trial == 2 ? 1.0f : 5e4f;
      for (int i = 0; i < 37; i++)
        row[i] = (float) g_rand_double_range (rng, -range, range);
      row[trial * 7] = -range;  /* the largest magnitude, negative */
      CHECK (sdcl_q8_quantize_row (row, 37, q, &scale), "q8 row of range %g", range);
      int top = 0;
      for (int i = 0; i < 37; i++)
        {
          CHECK (fabsf (row[i] - q[i] * scale) <= 0.5f * scale * (1 + 1e-5f),
                 "q8 value %d: %g -> %d x %g", i, row[i], q[i], scale);
          top = MAX (top, abs (q[i]));
        }
      CHECK (top == 127 && q[trial * 7] == -127, "q8 largest level %d (value %d: %d)", top,
             trial * 7, q[trial * 7]);
    }
  memset (row, 0, sizeof row);
  CHECK (sdcl_q8_quantize_row (row, 37, q, &scale) && scale == 0.0f && q[5] == 0,
         "q8 of a zero row: scale %g", scale);
  row[3] = INFINITY;
  CHECK (!sdcl_q8_quantize_row (row, 37, q, &scale), "q8 accepted an infinite value");
  row[3] = NAN;
  CHECK (!sdcl_q8_quantize_row (row, 37, q, &scale), "q8 accepted NaN");

  sdcl_w w;
  const int64_t shape[2] = { 1, 37 };
  sdcl_w_upload (cl, &w, SDCL_WT_Q8, 2, shape, row, SDCL_SRC_F32);
  sdcl_error err = { 0 };
  CHECK (sdcl_cl_check (cl, &err) == SDCL_ERR_MODEL_FORMAT && strstr (err.message, "q8")
             && strstr (err.message, "NaN") && w.nparts == 0,
         "q8 upload of NaN gave %d: %s", err.code, err.message);
  sdcl_cl_clear_error (cl);
  sdcl_w_free (&w);
}

/* ---- benchmark --------------------------------------------------------- */

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec
         + ru.ru_stime.tv_usec / 1e6;
}

/* Wall seconds of one run after a warm-up, or the fastest of
 * SDCL_BENCH_REPS runs (A/B runs on a noisy machine).  The machine's cores
 * may be shared, so the run's CPU time (all threads) goes to *cpu: wall
 * time on an idle machine is about cpu / cores. */
static double
seconds_of (void (*run) (void *), void *arg, double *cpu)
{
  run (arg); /* warm-up: builds the program */
  sdcl_cl_finish (cl);
  const char *env = g_getenv ("SDCL_BENCH_REPS");
  const int reps = env ? CLAMP (atoi (env), 1, 100) : 1;
  double best = INFINITY;
  for (int r = 0; r < reps; r++)
    {
      const double c0 = cpu_seconds ();
      gint64 t0 = g_get_monotonic_time ();
      run (arg);
      sdcl_cl_finish (cl);
      const double s = (double) (g_get_monotonic_time () - t0) / 1e6;
      if (s < best)
        best = s, *cpu = cpu_seconds () - c0;
    }
  return best;
}

typedef struct {
  sdcl_t x, y;
  sdcl_w w;
  sdcl_conv_desc d;
  int heads;
  sdcl_t k, v;
  sdcl_w *copies; /* run_linear's weights: one, or SDCL_BENCH_COLD's copies */
  int n_copies;
} bench_args;

static void
run_linear (void *p)
{
  bench_args *b = p;
  for (int i = 0; i < b->n_copies; i++)
    op_linear (cl, &b->x, &b->copies[i], NULL, NULL, SDCL_ACT_NONE, &b->y);
}

/* SDCL_BENCH_COLD=<MB>: SDCL_BENCH_LINEAR's weights in as many copies as
 * fill that many MB, used in turn, so that each run reads them from DRAM
 * as a whole network does (its 1.7 GB of F16 weights pass once per UNet
 * evaluation); 0, unset or too small: one copy, warm in the caches. */
static int
bench_copies (uint64_t weight_bytes)
{
  const char *env = g_getenv ("SDCL_BENCH_COLD");
  const long mb = env ? CLAMP (atol (env), 0, 4096) : 0;
  return (int) MAX (1, ((uint64_t) mb << 20) / MAX (weight_bytes, 1));
}

static void
run_conv (void *p)
{
  bench_args *b = p;
  op_conv2d (cl, &b->x, &b->w, NULL, &b->d, NULL, &b->y);
}

static void
run_attention (void *p)
{
  bench_args *b = p;
  op_attention (cl, &b->x, &b->k, &b->v, b->heads, 0.1f, false, &b->y);
}

static const char *
wtype_name (sdcl_wtype type)
{
  return type == SDCL_WT_Q8 ? "q8" : type == SDCL_WT_F16 ? "f16" : "f32";
}

/* SDCL_BENCH_WTYPE=f32|f16|q8: the weights of SDCL_BENCH_LINEAR's shapes
 * (default f16). */
static sdcl_wtype
bench_wtype (void)
{
  const char *env = g_getenv ("SDCL_BENCH_WTYPE");
  return g_strcmp0 (env, "f32") == 0 ? SDCL_WT_F32 : g_strcmp0 (env, "q8") == 0 ? SDCL_WT_Q8
                                                                                 : SDCL_WT_F16;
}

/* Each prints its figures and returns GFLOP per CPU-second. */
static double
bench_linear (int M, int K, int N, sdcl_wtype type)
{
  bench_args b = { 0 };
  float *x = random_floats ((long) M * K, -1, 1), *w = random_floats ((long) N * K, -0.05f, 0.05f);
  int64_t shape[2] = { N, K };
  to_device (cl, &b.x, 2, M, K, 0, 0, x);
  sdcl_t_alloc (cl, &b.y, 2, M, N, 0, 0);
  sdcl_w_upload (cl, &b.w, type, 2, shape, w, SDCL_SRC_F32);
  b.n_copies = bench_copies (sdcl_w_bytes (&b.w));
  b.copies = g_new0 (sdcl_w, b.n_copies);
  b.copies[0] = b.w;
  for (int i = 1; i < b.n_copies; i++)
    sdcl_w_upload (cl, &b.copies[i], type, 2, shape, w, SDCL_SRC_F32);
  const double flop = 2.0 * M * K * N * b.n_copies;
  double cpu, s = seconds_of (run_linear, &b, &cpu);
  printf ("linear M=%d K=%d N=%d %s%s: %.3f s, %.1f GFLOP/s, %.1f GFLOP per CPU-second\n", M, K,
          N, wtype_name (type), b.n_copies > 1 ? " cold" : "", s, flop / s / 1e9,
          flop / cpu / 1e9);
  sdcl_t_release (cl, &b.x);
  sdcl_t_release (cl, &b.y);
  for (int i = 0; i < b.n_copies; i++)
    sdcl_w_free (&b.copies[i]);
  g_free (b.copies);
  g_free (x), g_free (w);
  return flop / cpu / 1e9;
}

static double
bench_conv_batch (int C, int H, int W, int O, bool up, sdcl_wtype type, int batch);

/* With SDCL_BENCH_CONV=ab: each shape with batch 1 and 2, through the
 * implicit GEMM, Winograd with its transformed weight kept, and Winograd
 * making it at every call (lean residency) in turn, twice, in one
 * process: an A/B comparison on a shared machine.  Returns the batch-1
 * (last) GFLOP per CPU-second. */
static double
bench_conv (int C, int H, int W, int O, bool up, sdcl_wtype type)
{
  if (g_strcmp0 (g_getenv ("SDCL_BENCH_CONV"), "ab") != 0)
    return bench_conv_batch (C, H, W, O, up, type, 1);
  static const char *const arms[3] = { "implicit", "winograd", "wino/use" };
  double r = 0;
  for (int batch = 1; batch <= 2; batch++)
    for (int round = 0; round < 6; round++)
      {
        const int arm = round % 3;
        g_setenv ("SDCL_CONV", arm ? "winograd" : "implicit", TRUE);
        sdcl_cl_set_derived_kept (cl, arm != 2);
        printf ("%-9s batch %d: ", arms[arm], batch);
        r = bench_conv_batch (C, H, W, O, up, type, batch);
      }
  sdcl_cl_set_derived_kept (cl, true);
  g_unsetenv ("SDCL_CONV");
  return r;
}

static double
bench_conv_batch (int C, int H, int W, int O, bool up, sdcl_wtype type, int batch)
{
  bench_args b = { 0 };
  int UH = up ? 2 * H : H, UW = up ? 2 * W : W;
  float *x = random_floats ((long) batch * C * H * W, -1, 1);
  float *w = random_floats ((long) O * C * 9, -0.05f, 0.05f);
  int64_t shape[4] = { O, C, 3, 3 };
  b.d = (sdcl_conv_desc) { .stride = 1, PAD1, .upsample = up, .up_h = UH, .up_w = UW };
  to_device (cl, &b.x, 4, batch, C, H, W, x);
  sdcl_t_alloc (cl, &b.y, 4, batch, O, UH, UW);
  sdcl_w_upload (cl, &b.w, type, 4, shape, w, SDCL_SRC_F32);
  double cpu, s = seconds_of (run_conv, &b, &cpu);
  printf ("conv3x3 %d->%d at %dx%d%s %s: %.3f s, %.1f GFLOP/s, %.1f GFLOP per CPU-second\n", C,
          O, UH, UW, up ? " (fused 2x upsample)" : "", wtype_name (type), s,
          2.0 * batch * UH * UW * O * C * 9 / s / 1e9, 2.0 * batch * UH * UW * O * C * 9 / cpu / 1e9);
  sdcl_t_release (cl, &b.x);
  sdcl_t_release (cl, &b.y);
  sdcl_w_free (&b.w);
  g_free (x), g_free (w);
  return 2.0 * batch * UH * UW * O * C * 9 / cpu / 1e9;
}

static int
compare_doubles (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* --bench-q8: F16 against Q8 weights on SD 1.5's GEMM shapes, A/B
 * interleaved (the order alternates per round) so that load from other
 * work on a shared machine falls on both; medians of GFLOP per
 * CPU-second. */
static void
bench_q8 (void)
{
  enum { ROUNDS = 5 };
  static const struct {
    bool conv;
    int a, b, c, d;
  } shapes[] = {
    { false, 4096, 320, 2560, 0 }, /* feed-forward at 64x64 latents */
    { false, 1024, 640, 640, 0 },  /* attention projection at 32x32 */
    { false, 64, 1280, 10240, 0 }, /* feed-forward at 8x8: few rows, many weights */
    { true, 320, 64, 64, 320 },
    { true, 640, 32, 32, 640 },
    { true, 1280, 8, 8, 1280 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (shapes); i++)
    {
      double got[2][ROUNDS];
      for (int r = 0; r < ROUNDS; r++)
        for (int j = 0; j < 2; j++)
          {
            const int t = (r + j) % 2; /* 0: f16, 1: q8 */
            const sdcl_wtype type = t ? SDCL_WT_Q8 : SDCL_WT_F16;
            got[t][r] = shapes[i].conv ? bench_conv (shapes[i].a, shapes[i].b, shapes[i].c,
                                                     shapes[i].d, false, type)
                                       : bench_linear (shapes[i].a, shapes[i].b, shapes[i].c, type);
          }
      qsort (got[0], ROUNDS, sizeof (double), compare_doubles);
      qsort (got[1], ROUNDS, sizeof (double), compare_doubles);
      printf ("A/B %s %d %d %d %d: median GFLOP per CPU-second f16 %.1f, q8 %.1f (q8/f16 %.3f)\n",
              shapes[i].conv ? "conv3x3" : "linear", shapes[i].a, shapes[i].b, shapes[i].c,
              shapes[i].d, got[0][ROUNDS / 2], got[1][ROUNDS / 2],
              got[1][ROUNDS / 2] / got[0][ROUNDS / 2]);
    }
  device_ok (cl, "bench-q8");
}

static void
bench_attention (int N, int M, int heads, int dh)
{
  bench_args b = { 0 };
  long nq = (long) N * heads * dh, nk = (long) M * heads * dh;
  float *q = random_floats (nq, -1, 1), *k = random_floats (nk, -1, 1);
  b.heads = heads;
  to_device (cl, &b.x, 3, 1, N, heads * dh, 0, q);
  to_device (cl, &b.k, 3, 1, M, heads * dh, 0, k);
  to_device (cl, &b.v, 3, 1, M, heads * dh, 0, k);
  sdcl_t_alloc (cl, &b.y, 3, 1, N, heads * dh, 0);
  double cpu, s = seconds_of (run_attention, &b, &cpu);
  printf ("attention N=%d M=%d heads=%d dh=%d: %.3f s, %.1f GFLOP/s, %.1f GFLOP per CPU-second\n",
          N, M, heads, dh, s, 4.0 * N * M * heads * dh / s / 1e9,
          4.0 * N * M * heads * dh / cpu / 1e9);
  sdcl_t_release (cl, &b.x);
  sdcl_t_release (cl, &b.k);
  sdcl_t_release (cl, &b.v);
  sdcl_t_release (cl, &b.y);
  g_free (q), g_free (k);
}

static void
bench (bool attention_only, bool conv_only, bool gemm_only)
{
  if (conv_only)
    {
      bench_conv (320, 64, 64, 320, false, SDCL_WT_F16);
      bench_conv (640, 32, 32, 640, true, SDCL_WT_F16);
      /* SD 1.x's widest Winograd layers at 512x512: U made per use comes in slices */
      bench_conv (1920, 32, 32, 640, false, SDCL_WT_F16);
      bench_conv (1280, 16, 16, 1280, true, SDCL_WT_F16);
      bench_conv (2560, 8, 8, 1280, false, SDCL_WT_F16);
      device_ok (cl, "bench");
      return;
    }
  /* SDCL_BENCH_LINEAR="M,K,N;..." and SDCL_BENCH_CONV3="B,C,H,W,O;...":
   * only these linear and 3x3 convolution shapes (A/B runs). */
  const char *linear = g_getenv ("SDCL_BENCH_LINEAR"), *conv = g_getenv ("SDCL_BENCH_CONV3");
  if (gemm_only && (linear || conv))
    {
      gchar **list = g_strsplit (linear ? linear : "", ";", -1);
      for (gchar **s = list; *s; s++)
        {
          int M, K, N;
          if (sscanf (*s, "%d,%d,%d", &M, &K, &N) == 3 && M > 0 && K > 0 && N > 0)
            bench_linear (M, K, N, bench_wtype ());
        }
      g_strfreev (list);
      /* SDCL_BENCH_DERIVED=use: Winograd's weight transform made per use (lean). */
      sdcl_cl_set_derived_kept (cl, g_strcmp0 (g_getenv ("SDCL_BENCH_DERIVED"), "use") != 0);
      list = g_strsplit (conv ? conv : "", ";", -1);
      for (gchar **s = list; *s; s++)
        {
          int B, C, H, W, O;
          if (sscanf (*s, "%d,%d,%d,%d,%d", &B, &C, &H, &W, &O) == 5 && B > 0 && C > 0 && H > 0
              && W > 0 && O > 0)
            bench_conv_batch (C, H, W, O, false, SDCL_WT_F16, B);
        }
      g_strfreev (list);
      device_ok (cl, "bench");
      return;
    }
  if (gemm_only)
    {
      bench_linear (4096, 320, 320, SDCL_WT_F16);
      bench_linear (4096, 1280, 320, SDCL_WT_F16);
      bench_linear (4096, 320, 2560, SDCL_WT_F16);
      bench_conv (320, 64, 64, 320, false, SDCL_WT_F16);
      bench_conv (640, 32, 32, 640, false, SDCL_WT_F16);
      bench_conv (1280, 16, 16, 1280, false, SDCL_WT_F16);
      bench_conv (256, 128, 128, 256, false, SDCL_WT_F16);
      device_ok (cl, "bench");
      return;
    }
  if (attention_only)
    {
      bench_attention (4096, 4096, 8, 40);
      bench_attention (4096, 4096, 5, 64);   /* SD 2.x at 512 px */
      bench_attention (4096, 4096, 10, 64);  /* SDXL at 1024 px */
      bench_attention (1024, 1024, 8, 80);
      bench_attention (256, 256, 8, 160);
      bench_attention (4096, 77, 8, 40);
      bench_attention (1024, 1024, 1, 512);
      device_ok (cl, "bench");
      return;
    }
  bench_linear (4096, 320, 320, SDCL_WT_F32);
  bench_linear (4096, 320, 320, SDCL_WT_F16);
  bench_linear (4096, 320, 2560, SDCL_WT_F32);
  bench_linear (4096, 1280, 320, SDCL_WT_F16);
  bench_linear (77, 768, 3072, SDCL_WT_F16);
  bench_conv (320, 64, 64, 320, false, SDCL_WT_F32);
  bench_conv (320, 64, 64, 320, false, SDCL_WT_F16);
  bench_conv (2560, 8, 8, 1280, false, SDCL_WT_F16);
  bench_conv (640, 32, 32, 640, true, SDCL_WT_F16);
  bench_conv (640, 32, 32, 640, false, SDCL_WT_F16);
  bench_conv (1280, 16, 16, 1280, false, SDCL_WT_F16);
  bench_conv (1280, 16, 16, 1280, true, SDCL_WT_F16);
  bench_conv (256, 128, 128, 256, false, SDCL_WT_F16);
  bench_attention (4096, 4096, 8, 40);
  bench_attention (4096, 77, 8, 40);
  bench_attention (1024, 1024, 1, 512);
  device_ok (cl, "bench");
}

/* Whether SDCL_PANEL_COLUMNS (with SDCL_KERNELS=cpu) asks for what this
 * device runs without either: the CPU kernels at their own panel width.
 * Then a variant forcing them repeats the plain run. */
static bool
native_panel_forced (void)
{
  g_autofree char *columns = g_strdup (g_getenv ("SDCL_PANEL_COLUMNS"));
  g_autofree char *kernels = g_strdup (g_getenv ("SDCL_KERNELS"));
  if (!columns || !sdcl_cl_cpu_kernels (cl))
    return false;
  const int width = sdcl_gemm_panel_columns (cl);
  g_unsetenv ("SDCL_PANEL_COLUMNS");
  g_unsetenv ("SDCL_KERNELS");
  const bool same = sdcl_cl_cpu_kernels (cl) && sdcl_gemm_panel_columns (cl) == width;
  g_setenv ("SDCL_PANEL_COLUMNS", columns, TRUE);
  if (kernels)
    g_setenv ("SDCL_KERNELS", kernels, TRUE);
  if (same)
    fprintf (stderr, "skipping: the CPU kernels with %d panel columns are this device's own, "
             "which the run without SDCL_PANEL_COLUMNS tests\n", width);
  return same;
}

int
main (int argc, char **argv)
{
  bool small = false, do_bench = false, linear_only = false, gemm_only = false;
  bool attention_only = false, do_bench_q8 = false, bench_only = false, conv_only = false;
  bool unless_native_panel = false;
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--small") == 0)
        small = true;
      else if (strcmp (argv[i], "--bench") == 0)
        do_bench = true;
      else if (strcmp (argv[i], "--bench-q8") == 0)
        do_bench_q8 = true;
      else if (strcmp (argv[i], "--bench-only") == 0)
        do_bench = bench_only = true;
      else if (strcmp (argv[i], "--linear-only") == 0)
        linear_only = true;
      else if (strcmp (argv[i], "--gemm-only") == 0)
        gemm_only = true;
      else if (strcmp (argv[i], "--attention-only") == 0)
        attention_only = true;
      else if (strcmp (argv[i], "--conv-only") == 0)
        conv_only = true;
      else if (strcmp (argv[i], "--unless-native-panel") == 0)
        unless_native_panel = true;
      else
        {
          fprintf (stderr, "usage: %s [--small] [--bench | --bench-only] [--linear-only | "
                   "--gemm-only | --attention-only | --conv-only | --bench-q8] "
                   "[--unless-native-panel]\n",
                   argv[0]);
          return 2;
        }
    }
  sdcl_error err = { 0 };
  cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), NULL, &err);
  if (!cl)
    {
      fprintf (stderr, "skipping: %s\n", err.message);
      return err.code == SDCL_ERR_NO_DEVICE ? 77 : 1;
    }
  fprintf (stderr, "device: %s (%s)\n", sdcl_cl_device (cl)->name, sdcl_cl_device (cl)->platform);
  if (unless_native_panel && native_panel_forced ())
    {
      sdcl_cl_free (cl);
      return 77;
    }
  rng = g_rand_new_with_seed (20261122);

  if (do_bench_q8)
    {
      bench_q8 ();
      g_rand_free (rng);
      sdcl_cl_free (cl);
      return check_finish ();
    }
  if (bench_only)
    ; /* timings only: the same binary's plain run checks the results */
  else if (conv_only)
    {
      test_conv_choice ();
      test_conv (small, small);
    }
  else if (attention_only)
    test_attention (small);
  else
    {
      test_tiled_choice ();
      test_q8_quantizer ();
      test_linear (small);
      test_linear_geglu (small);
    }
  if (bench_only)
    ;
  else if (gemm_only)
    {
      test_conv_choice ();
      test_conv (small, false);
      test_winograd (small);
    }
  else if (!linear_only && !attention_only && !conv_only)
    {
      test_conv_choice ();
      test_eltwise (small);
      test_norms (small);
      test_conv (small, false);
      test_winograd (small);
      test_attention (small);
      test_sticky_errors ();
    }
  if (do_bench)
    bench (attention_only, conv_only, gemm_only);

  g_rand_free (rng);
  sdcl_cl_free (cl);
  return check_finish ();
}

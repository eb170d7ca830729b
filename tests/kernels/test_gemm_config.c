/* The per-device GEMM tuning file (opencl/gemm_config.h) end to end:
 *
 *   test-gemm-config          round trip, application at context creation,
 *                             GEMMs on the chosen backend, corrupt files
 *   test-gemm-config --tune   a real (short) `sdcl tune` run into a temporary
 *                             folder, whose file must load (suite 'slow')
 *   test-gemm-config --tune-quick   `sdcl tune --quick` likewise; where the
 *                             device has cl_khr_fp16 or sub-groups (run with
 *                             the portable kernels), the file must hold the
 *                             timed verdict and a new context follow it
 *
 * Every context here reads a temporary cache folder, never the tests'
 * shared one or the user's, and SDCL_GEMM is unset (it would override the
 * file) except where the test sets it.
 *
 * Tolerance of the GEMMs against the plain-C reference (double
 * accumulation, F16 weights rounded the same way on both sides):
 * |got - want| <= 1e-4 + 1e-4 |want| with K <= 576 and O(1) outputs, as in
 * test-ops: fp32 accumulation error, whatever the backend's summation order.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "attention.h"
#include "conv_tiled.h"
#include "device_helpers.h"
#include "check.h"
#include "extensions.h"
#include "kernel_report.h"
#include "clrt_internal.h"
#include "config.h"
#include "gemm.h"
#include "gemm_config.h"
#include "gemm_tune.h"
#include "tune_ext.h"
#include "ops.h"
#include "ref_ops.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

static GRand *rng;

/* A valid Xgemm configuration from CLBlast's GEMMK 0 space, not CLBlast's
 * built-in one for PoCL, in sdcl_xgemm_param_names order. */
static const size_t known_xgemm[SDCL_XGEMM_NPARAMS] = {
  /* GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN */
  0, 1, 16, 2, 8, 8, 32, 8, 8, 64, 0, 0, 1, 0, 2, 4,
};

static float *
random_floats (long n, float lo, float hi)
{
  return ref_random_floats (rng, n, lo, hi);
}

static const char *
backend_name (sdcl_cl *cl)
{
  return sdcl_cl_gemm_backend (cl) == SDCL_GEMM_CLBLAST ? "clblast" : "own";
}

static sdcl_cl *
new_context (const char *dir)
{
  sdcl_error err = { 0 };
  sdcl_cl *cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), dir, &err);
  CHECK (cl != NULL, "sdcl_cl_new: %s", err.message);
  return cl;
}

static char *
path_for (const char *dir, sdcl_cl *cl)
{
  return sdcl_gemm_config_path (dir, sdcl_cl_device (cl));
}

static void
write_text (const char *path, const char *text)
{
  GError *error = NULL;
  CHECK (g_file_set_contents (path, text, -1, &error), "writing %s: %s", path,
         error ? error->message : "");
  g_clear_error (&error);
}

static sdcl_gemm_config
known_config (sdcl_gemm_backend backend)
{
  sdcl_gemm_config c = { .backend = backend, .has_xgemm = true, .nshapes = 2,
                         .fraction = 0.0004, .tune_seconds = 123.4 };
  memcpy (c.xgemm, known_xgemm, sizeof c.xgemm);
  c.shapes[0] = (sdcl_gemm_shape) { 4096, 320, 320, { 101.5, 99.25, 20.5, 21.75, 7.5 } };
  c.shapes[1] = (sdcl_gemm_shape) { 77, 768, 3072, { 88, 0, 10.25, 11, 3 } };
  /* Tile choices (widths 40, 64, 80, 128, 160, 512; -1 untuned), panel. */
  c.tiles = (sdcl_tile_choice) { .gemm = { 2, 1 }, .conv = { 3, -1 }, .panel = 3,
                                 .attention = { 0, 1, -1, 3, -1, 4 } };
  /* Half math chosen (0.25 s against 0.5 s), the sub-group reductions not. */
  c.tiles.ext[SDCL_EXT_FP16] = (sdcl_ext_tuned) { 1, { 0.5, 0.25 } };
  c.tiles.ext[SDCL_EXT_SUBGROUPS] = (sdcl_ext_tuned) { 0, { 0.125, 0.375 } };
  return c;
}

/* Field by field (the struct has padding). */
static bool
tiles_equal (const sdcl_tile_choice *a, const sdcl_tile_choice *b)
{
  bool same = a->panel == b->panel;
  for (int i = 0; i < 2; i++)
    same = same && a->gemm[i] == b->gemm[i] && a->conv[i] == b->conv[i];
  for (int i = 0; i < SDCL_ATTN_TUNED_WIDTHS; i++)
    same = same && a->attention[i] == b->attention[i];
  for (int e = 0; e < SDCL_TUNED_EXTS; e++)
    same = same && a->ext[e].use == b->ext[e].use && a->ext[e].seconds[0] == b->ext[e].seconds[0]
           && a->ext[e].seconds[1] == b->ext[e].seconds[1];
  return same;
}

/* ---- GEMMs on the context's backend ------------------------------------ */

/* Uploads `host` as `type` and rounds host to what the device holds. */
static void
upload_weight (sdcl_cl *cl, sdcl_w *w, sdcl_wtype type, int nd, const int64_t *shape, float *host,
               long n)
{
  if (type == SDCL_WT_F16)
    for (long i = 0; i < n; i++)
      host[i] = sdcl_half_to_float (sdcl_float_to_half (host[i]));
  sdcl_w_upload (cl, w, type, nd, shape, host, SDCL_SRC_F32);
}

/* Linear layer with bias, residual and GELU; block_rows > 0 lowers the
 * allocation limit during the op so that F16 weights are widened in
 * blocks of about that many rows. */
static void
check_linear (sdcl_cl *cl, int M, int K, int N, sdcl_wtype type, int block_rows)
{
  char what[128];
  g_snprintf (what, sizeof what, "linear %dx%dx%d %s%s (%s)", M, N, K,
              type == SDCL_WT_F16 ? "f16" : "f32", block_rows ? " in blocks" : "",
              backend_name (cl));
  const float ws = 1.0f / sqrtf ((float) K);
  float *x = random_floats ((long) M * K, -1, 1), *w = random_floats ((long) N * K, -ws, ws);
  float *bias = random_floats (N, -1, 1), *res = random_floats ((long) M * N, -1, 1);
  float *want = g_new (float, (long) M * N), *got = g_new0 (float, (long) M * N);
  sdcl_t tx, ty, tres;
  sdcl_w tw, tb;
  const int64_t wshape[2] = { N, K }, bshape[1] = { N }, xshape[2] = { M, K };
  sdcl_t_from_host (cl, &tx, 2, xshape, x);
  const int64_t yshape[2] = { M, N };
  sdcl_t_from_host (cl, &tres, 2, yshape, res);
  sdcl_t_alloc (cl, &ty, 2, M, N, 0, 0);
  upload_weight (cl, &tw, type, 2, wshape, w, (long) N * K);
  upload_weight (cl, &tb, type, 1, bshape, bias, N);
  CHECK (tw.panel == 0 || sdcl_cl_gemm_backend (cl) == SDCL_GEMM_OWN,
         "%s: panel-packed weights on the CLBlast backend", what);
  if (block_rows)
    sdcl_cl_set_max_alloc_for_testing (cl, 2 * sizeof (float) * (uint64_t) K * block_rows);
  op_linear (cl, &tx, &tw, &tb, &tres, SDCL_ACT_GELU, &ty);
  sdcl_cl_set_max_alloc_for_testing (cl, 0);
  if (device_ok (cl, what))
    {
      sdcl_t_download (cl, &ty, got);
      ref_linear (x, w, bias, res, SDCL_ACT_GELU, M, N, K, want);
      CHECK_CLOSE (what, got, want, (long) M * N, 1e-4, 1e-4);
    }
  sdcl_t_release (cl, &tx);
  sdcl_t_release (cl, &ty);
  sdcl_t_release (cl, &tres);
  sdcl_w_free (&tw);
  sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (bias), g_free (res), g_free (want), g_free (got);
}

/* 3x3 convolution (batch 2, stride 1, pad 1) with bias and residual: the
 * NCHW output is the transposed product. */
static void
check_conv (sdcl_cl *cl, sdcl_wtype type)
{
  const int B = 2, C = 64, H = 9, W = 13, O = 40;
  char what[96];
  g_snprintf (what, sizeof what, "conv 3x3 %d->%d %dx%d batch %d %s (%s)", C, O, H, W, B,
              type == SDCL_WT_F16 ? "f16" : "f32", backend_name (cl));
  const sdcl_conv_desc d = { .stride = 1, .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1 };
  const long nx = (long) B * C * H * W, nw = (long) O * C * 9, ny = (long) B * O * H * W;
  float *x = random_floats (nx, -1, 1), *w = random_floats (nw, -1.0f / 24, 1.0f / 24);
  float *bias = random_floats (O, -1, 1), *res = random_floats (ny, -1, 1);
  float *want = g_new (float, ny), *got = g_new0 (float, ny);
  const int64_t xshape[4] = { B, C, H, W }, yshape[4] = { B, O, H, W };
  const int64_t wshape[4] = { O, C, 3, 3 }, bshape[1] = { O };
  sdcl_t tx, ty, tres;
  sdcl_w tw, tb;
  sdcl_t_from_host (cl, &tx, 4, xshape, x);
  sdcl_t_from_host (cl, &tres, 4, yshape, res);
  sdcl_t_alloc (cl, &ty, 4, B, O, H, W);
  upload_weight (cl, &tw, type, 4, wshape, w, nw);
  upload_weight (cl, &tb, type, 1, bshape, bias, O);
  op_conv2d (cl, &tx, &tw, &tb, &d, &tres, &ty);
  if (device_ok (cl, what))
    {
      sdcl_t_download (cl, &ty, got);
      ref_conv2d (x, B, C, H, W, w, O, 3, 3, bias, &d, res, want);
      CHECK_CLOSE (what, got, want, ny, 1e-4, 1e-4);
    }
  sdcl_t_release (cl, &tx);
  sdcl_t_release (cl, &ty);
  sdcl_t_release (cl, &tres);
  sdcl_w_free (&tw);
  sdcl_w_free (&tb);
  g_free (x), g_free (w), g_free (bias), g_free (res), g_free (want), g_free (got);
}

static void
check_gemms (sdcl_cl *cl)
{
  for (int t = 0; t < 2; t++)
    {
      const sdcl_wtype type = t ? SDCL_WT_F16 : SDCL_WT_F32;
      check_linear (cl, 67, 320, 130, type, 0);
      check_linear (cl, 1, 96, 33, type, 0);
      check_conv (cl, type);
    }
  check_linear (cl, 45, 200, 77, SDCL_WT_F16, 16); /* widened in 5 blocks */
}

/* ---- the tests --------------------------------------------------------- */

/* Save, load, compare field by field. */
static void
test_round_trip (const char *dir, sdcl_cl *probe)
{
  const sdcl_gemm_config c = known_config (SDCL_GEMM_CLBLAST);
  char *path = path_for (dir, probe);
  GError *error = NULL;
  CHECK (sdcl_gemm_config_save (path, sdcl_cl_device (probe), &c, &error), "save: %s",
         error ? error->message : "");
  g_clear_error (&error);
  sdcl_gemm_config back;
  memset (&back, 0xab, sizeof back);
  if (!sdcl_gemm_config_load (path, sdcl_cl_device (probe), &back, &error))
    CHECK (false, "load: %s", error->message);
  else
    {
      CHECK (back.backend == c.backend && back.has_xgemm, "backend or parameters lost");
      CHECK (memcmp (back.xgemm, c.xgemm, sizeof c.xgemm) == 0, "Xgemm parameters differ");
      CHECK (back.nshapes == c.nshapes, "%d shapes back, %d written", back.nshapes, c.nshapes);
      for (int i = 0; i < c.nshapes && i < back.nshapes; i++)
        {
          CHECK (back.shapes[i].m == c.shapes[i].m && back.shapes[i].n == c.shapes[i].n
                     && back.shapes[i].k == c.shapes[i].k,
                 "shape %d differs", i);
          for (int f = 0; f < SDCL_FIG_COUNT; f++)
            CHECK (back.shapes[i].gflops[f] == c.shapes[i].gflops[f], "shape %d %s: %g, wrote %g",
                   i, sdcl_gemm_fig_names[f], back.shapes[i].gflops[f], c.shapes[i].gflops[f]);
        }
      CHECK (back.fraction == c.fraction && back.tune_seconds == c.tune_seconds,
             "fraction %g / seconds %g back", back.fraction, back.tune_seconds);
      CHECK (tiles_equal (&back.tiles, &c.tiles), "tile or extension choices differ");
    }
  g_clear_error (&error);
  g_free (path);
}

/* The file's tile choices are the context's, and the portable kernels
 * take them: gemm_tiled configuration 2 for F32 weights (the table's order
 * would take 0 on this device), conv_tiled configuration 3 for F32
 * weights (else 0) and attention_tiled configuration 3 for 128-channel
 * heads (else 0 or 1). */
static void
test_tiles_applied (sdcl_cl *cl)
{
  const sdcl_gemm_config want = known_config (SDCL_GEMM_CLBLAST);
  CHECK (tiles_equal (sdcl_cl_tile_choice (cl), &want.tiles),
         "the file's tile choices are not the context's");
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  if (max_wg < 256 || local_mem < 48 * 1024)
    return;   /* limits below the tables' first rows: the choices may not fit */
  cl_kernel k;
  CHECK (sdcl_tiled_pick (cl, false, &k) == 2, "gemm_tiled F32 ignores the tuned choice");
  const sdcl_w f32 = { .type = SDCL_WT_F32 };
  CHECK (sdcl_conv_tiled_pick (cl, &f32, 3, 3, &k) == 3, "conv_tiled F32 ignores the tuned choice");
  g_setenv ("SDCL_KERNELS", "portable", TRUE);
  int config = -1;
  const sdcl_attn_path path = sdcl_attention_choice (cl, 128, false, &config, &k);
  g_unsetenv ("SDCL_KERNELS");
  CHECK (path == SDCL_ATTN_TILED && config == 3, "attention_tiled for 128 channels: %s %d",
         sdcl_attn_path_name (path), config);
  device_ok (cl, "tile choices");
}

/* The file written by test_round_trip chooses CLBlast: a new context must
 * take it (which needs CLBlast to have accepted the parameters), upload
 * row-major weights and get the GEMMs right; SDCL_GEMM=own still wins. */
static void
test_applied (const char *dir)
{
  sdcl_cl *cl = new_context (dir);
  if (!cl)
    return;
  const sdcl_gemm_backend want = SDCL_HAVE_CLBLAST ? SDCL_GEMM_CLBLAST : SDCL_GEMM_OWN;
  CHECK (sdcl_cl_gemm_backend (cl) == want, "backend %d after a file choosing CLBlast, want %d",
         sdcl_cl_gemm_backend (cl), want);
  CHECK (!SDCL_HAVE_CLBLAST || !sdcl_cl_packs_weights (cl),
         "weights are still packed in panels for CLBlast");
  check_gemms (cl);
  test_tiles_applied (cl);
  sdcl_cl_free (cl);

  g_setenv ("SDCL_GEMM", "own", TRUE);
  cl = new_context (dir);
  g_unsetenv ("SDCL_GEMM");
  if (!cl)
    return;
  CHECK (sdcl_cl_gemm_backend (cl) == SDCL_GEMM_OWN, "SDCL_GEMM=own did not override the file");
  CHECK (sdcl_cl_packs_weights (cl) == (sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_PANEL),
         "own backend: packing differs");
  check_gemms (cl);
  sdcl_cl_free (cl);
}

/* Each text replaces the file; loading must fail with a message and a
 * new context must have the default backend (own kernels). */
static void
test_corrupt (const char *dir, sdcl_cl *probe)
{
  const sdcl_device_info *dev = sdcl_cl_device (probe);
  char *path = path_for (dir, probe);
  /* A valid file for this device with one line swapped in. */
  char *good = NULL;
  g_file_get_contents (path, &good, NULL, NULL);
  CHECK (good != NULL, "no file from the round trip");
  if (!good)
    return;
  char *other_device = g_strdup_printf ("\"device\" : \"%s (another one)\"", dev->name);
  char *this_device = g_strdup_printf ("\"device\" : \"%s\"", dev->name);
  const char *swaps[][2] = {
    { "\"MDIMC\" : 8", "\"MDIMC\" : 0" },        /* CLBlast would divide by zero */
    { "\"MWG\" : 32", "\"MWG\" : 48" },          /* not a power of two */
    { "\"NWG\" : 64", "\"NWG\" : 4" },           /* NWG < NDIMC * VWN */
    { "\"KWG\" : 16", "\"KWG\" : 99999999999" }, /* out of range */
    { "\"VWM\" : 2", "\"VWM\" : -2" },
    { "\"SA\" : 0", "\"SA\" : 1.5" },
    { "\"STRN\" : 0,", "" },                     /* a parameter missing */
    { "\"backend\" : \"clblast\"", "\"backend\" : \"../../evil\"" },
    { "\"format\" : \"sdcl-gemm-tune-1\"", "\"format\" : \"sdcl-gemm-tune-9\"" },
    { this_device, other_device },
    { "\"GEMMK\" : 0", "\"GEMMK\" : 0, \"GEMMK\" : 1" }, /* duplicate key */
    { "{", "[" },                                        /* not JSON */
    { "\"gemm_tiled_f32\" : 2", "\"gemm_tiled_f32\" : 99" },  /* no such configuration */
    { "\"attention_tiled_128\" : 3", "\"attention_tiled_127\" : 3" }, /* no such width */
    { "\"gemm_panel\" : 3", "\"gemm_panel\" : 64" },                 /* no such panel tile */
    { "\"choice\" : \"half\"", "\"choice\" : \"fp64\"" },            /* no such choice */
    { "\"choice\" : \"plain\"", "\"choice\" : \"half\"" },           /* fp16's word */
    { "\"half_seconds\" : 0.25", "\"half_seconds\" : -0.25" },
    { "\"fp16\" : {", "\"fp64\" : {" },                                  /* no such variant */
    { "\"plain_seconds\" : 0.125", "\"plain_seconds\" : 0.125, \"x\" : 1" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (swaps); i++)
    {
      CHECK (strstr (good, swaps[i][0]) != NULL, "case %zu: '%s' not in the file", i,
             swaps[i][0]);
      char **parts = g_strsplit (good, swaps[i][0], 2);
      char *bad = g_strjoinv (swaps[i][1], parts);
      g_strfreev (parts);
      write_text (path, bad);
      sdcl_gemm_config c;
      GError *error = NULL;
      CHECK (!sdcl_gemm_config_load (path, dev, &c, &error), "case %zu (%s) was accepted", i,
             swaps[i][1]);
      fprintf (stderr, "case %zu rejected: %s\n", i, error ? error->message : "?");
      g_clear_error (&error);
      sdcl_cl *cl = new_context (dir);
      if (cl)
        {
          CHECK (sdcl_cl_gemm_backend (cl) == SDCL_GEMM_OWN, "case %zu: backend %d", i,
                 sdcl_cl_gemm_backend (cl));
          if (i == 0)
            check_gemms (cl);
          sdcl_cl_free (cl);
        }
      g_free (bad);
    }
  /* Oversized and binary files. */
  char *big = g_strnfill (100 * 1024, ' ');
  write_text (path, big);
  sdcl_gemm_config c;
  CHECK (!sdcl_gemm_config_load (path, dev, &c, NULL), "a 100 KiB file was accepted");
  g_free (big);
  static const char binary[] = { '{', '\0', '\xff', '}' };
  g_file_set_contents (path, binary, sizeof binary, NULL);
  CHECK (!sdcl_gemm_config_load (path, dev, &c, NULL), "a binary file was accepted");
  g_unlink (path);
  g_free (other_device);
  g_free (this_device);
  g_free (good);
  g_free (path);
}

/* Whether variant e is in use and the reason the kernel report gives. */
static void
check_ext (sdcl_cl *cl, sdcl_ext e, bool want_use, const char *want_reason, const char *what)
{
  char why[200];
  const char *reason = sdcl_ext_reason (cl, e, why, sizeof why);
  CHECK (sdcl_cl_uses_ext (cl, e) == want_use, "%s: %s is %sin use", what, sdcl_ext_label (e),
         want_use ? "not " : "");
  CHECK (strstr (reason, want_reason) != NULL, "%s: the reason \"%s\" does not say \"%s\"", what,
         reason, want_reason);
  char *report = sdcl_cl_kernel_report (cl);
  CHECK (strstr (report, reason) != NULL, "%s: the kernel report lacks the reason:\n%s", what,
         report);
  g_free (report);
}

/* A tuning file whose "extensions" say `verdict` (1: the variants, 0: the
 * plain kernels; -1: no entry) for both variants. */
static void
write_ext_file (const char *dir, sdcl_cl *probe, int verdict)
{
  sdcl_gemm_config c = known_config (SDCL_GEMM_OWN);
  for (int e = 0; e < SDCL_TUNED_EXTS; e++)
    c.tiles.ext[e] = verdict < 0 ? (sdcl_ext_tuned) { .use = -1 }
                                 : (sdcl_ext_tuned) { verdict, { 0.5, verdict ? 0.25 : 0.75 } };
  char *path = path_for (dir, probe);
  GError *error = NULL;
  CHECK (sdcl_gemm_config_save (path, sdcl_cl_device (probe), &c, &error), "save: %s",
         error ? error->message : "");
  g_clear_error (&error);
  g_free (path);
}

/* Under auto the tuning file's verdict decides where the device has the
 * extension (the portable kernels, which hold the variants); a device
 * without it ignores a "half" / "subgroups" entry and says so; =off and
 * =on still force.  This host's PoCL lacks both extensions; rusticl with
 * RUSTICL_FEATURES=fp16 has cl_khr_fp16 (tools/run-rusticl-tests.sh). */
static void
test_ext_applied (const char *dir, sdcl_cl *probe)
{
  static const char *const env[SDCL_TUNED_EXTS] = { "SDCL_FP16", "SDCL_SUBGROUPS" };
  /* (The tests' environment has SDCL_FP16=off: test_env_vars.) */
  char *saved_fp16 = g_strdup (g_getenv ("SDCL_FP16"));
  g_unsetenv ("SDCL_FP16");
  g_unsetenv ("SDCL_SUBGROUPS");
  g_setenv ("SDCL_KERNELS", "portable", TRUE);
  for (int verdict = 1; verdict >= -1; verdict--)
    {
      write_ext_file (dir, probe, verdict);
      sdcl_cl *cl = new_context (dir);
      if (!cl)
        break;
      for (int e = 0; e < SDCL_TUNED_EXTS; e++)
        {
          char what[80], want[120];
          g_snprintf (what, sizeof what, "%s, file says %s", env[e],
                      verdict < 0 ? "nothing" : sdcl_ext_tuned_word (e, verdict));
          const bool has = sdcl_cl_has_ext (cl, e);
          fprintf (stderr, "%s: the device %s %s\n", what, has ? "has" : "lacks", sdcl_ext_label (e));
          if (has && verdict >= 0)
            g_snprintf (want, sizeof want, "the tuning file chose %s",
                        sdcl_ext_tuned_word (e, verdict));
          else if (has)
            g_strlcpy (want, "`sdcl tune` has not timed it", sizeof want);
          else if (verdict == 1)
            g_snprintf (want, sizeof want, "the device lacks it: the tuning file's \"%s\" entry "
                        "is ignored", sdcl_ext_tuned_word (e, true));
          else
            g_strlcpy (want, "the device lacks it", sizeof want);
          check_ext (cl, e, has && verdict != 0, want, what);
          g_setenv (env[e], "off", TRUE);
          g_snprintf (want, sizeof want, "turned off by %s=off", env[e]);
          check_ext (cl, e, false, want, what);
          if (has)
            {
              g_setenv (env[e], "on", TRUE);
              g_snprintf (want, sizeof want, "forced by %s=on", env[e]);
              check_ext (cl, e, true, want, what);
            }
          g_unsetenv (env[e]);
        }
      device_ok (cl, "extension choices");
      sdcl_cl_free (cl);
    }
  char *path = path_for (dir, probe);
  g_unlink (path);
  g_free (path);
  g_unsetenv ("SDCL_KERNELS");
  if (saved_fp16)
    g_setenv ("SDCL_FP16", saved_fp16, TRUE);
  g_free (saved_fp16);
}

/* After the quick tune: the extension variants the device has were timed
 * (both medians finite and positive) and the verdict is the margin rule's
 * (tune_ext.h) and in use; the others were not timed. */
static void
check_tuned_ext (sdcl_cl *cl)
{
  for (int e = 0; e < SDCL_TUNED_EXTS; e++)
    {
      const sdcl_ext_tuned *x = &sdcl_cl_tile_choice (cl)->ext[e];
      const char *variant = sdcl_ext_tuned_word (e, true), *plain = sdcl_ext_tuned_word (e, false);
      if (!sdcl_cl_has_ext (cl, e))
        {
          CHECK (x->use == -1, "%s: timed on a device without it", sdcl_ext_label (e));
          continue;
        }
      fprintf (stderr, "tuned %s: %s %.4f s, %s %.4f s: %s\n", sdcl_ext_label (e), variant,
               x->seconds[1], plain, x->seconds[0], x->use ? variant : plain);
      CHECK (x->seconds[0] > 0 && x->seconds[1] > 0 && x->seconds[0] < 1e6 && x->seconds[1] < 1e6,
             "%s: medians %g, %g", sdcl_ext_label (e), x->seconds[1], x->seconds[0]);
      CHECK (x->use == (x->seconds[1] < (1 - SDCL_TUNE_EXT_MARGIN) * x->seconds[0]),
             "%s: verdict %d against the medians", sdcl_ext_label (e), x->use);
      CHECK (sdcl_cl_uses_ext (cl, e) == (x->use == 1), "%s: the verdict is not in use",
             sdcl_ext_label (e));
    }
}

/* The tile timing of `sdcl tune` on the portable kernels under forced
 * limits of 64 work-items and 8 KiB: only gemm_tiled's last configuration
 * fits (4), only conv_tiled's last one (5: its 64 x 64 x 16 one needs
 * 8.6 KiB), attention_tiled's configurations 5 and 6 for heads up to 80
 * channels, only 6 for 128 and 160 (5 needs 10.5 KiB, resp. 80
 * accumulators), none for 512 (-1: the plain kernel runs).  Which of two
 * candidates is faster is the machine's to say, so there either counts;
 * the picks must then take the choice. */
static void
test_tune_tiles (void)
{
  /* auto: the tune times the variants the device has (the tests'
   * SDCL_FP16=off would keep it from timing half math). */
  char *saved_fp16 = g_strdup (g_getenv ("SDCL_FP16"));
  g_unsetenv ("SDCL_FP16");
  g_unsetenv ("SDCL_SUBGROUPS");
  g_setenv ("SDCL_KERNELS", "portable", TRUE);
  g_setenv ("SDCL_FORCE_WG_SIZE", "64", TRUE);
  g_setenv ("SDCL_FORCE_LOCAL_MEM", "8192", TRUE);
  sdcl_error err = { 0 };
  sdcl_cl *cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), "", &err);
  CHECK (cl != NULL, "context: %s", err.message);
  if (cl)
    {
      sdcl_tune_tiles_quick (cl);
      device_ok (cl, "tile timing");
      const sdcl_tile_choice *t = sdcl_cl_tile_choice (cl);
      CHECK (t->gemm[0] == 4 && t->gemm[1] == 4, "gemm_tiled choices %d, %d, want 4", t->gemm[0],
             t->gemm[1]);
      CHECK (t->conv[0] == 5 && t->conv[1] == 5, "conv_tiled choices %d, %d, want 5", t->conv[0],
             t->conv[1]);
      static const int want_lo[] = { 5, 5, 5, 6, 6, -1 }, want_hi[] = { 6, 6, 6, 6, 6, -1 };
      for (int w = 0; w < SDCL_ATTN_TUNED_WIDTHS; w++)
        {
          const int got = t->attention[w], dh = sdcl_attn_tuned_widths[w];
          CHECK (got == want_lo[w] || got == want_hi[w], "attention_tiled %d channels: %d", dh,
                 got);
          int config = -1;
          cl_kernel k;
          const sdcl_attn_path path = sdcl_attention_choice (cl, dh, false, &config, &k);
          CHECK (got < 0 ? path == SDCL_ATTN_STREAMING : config == got,
                 "%d channels: the pick (%s %d) is not the timed choice %d", dh,
                 sdcl_attn_path_name (path), config, got);
        }
      cl_kernel k;
      CHECK (sdcl_tiled_pick (cl, true, &k) == 4, "gemm_tiled F16 pick");
      const sdcl_w f16 = { .type = SDCL_WT_F16 };
      CHECK (sdcl_conv_tiled_pick (cl, &f16, 3, 3, &k) == 5, "conv_tiled F16 pick");
      check_tuned_ext (cl);
      sdcl_cl_free (cl);
    }
  g_unsetenv ("SDCL_KERNELS");
  g_unsetenv ("SDCL_FORCE_WG_SIZE");
  g_unsetenv ("SDCL_FORCE_LOCAL_MEM");
  if (saved_fp16)
    g_setenv ("SDCL_FP16", saved_fp16, TRUE);
  g_free (saved_fp16);
}

/* A real tune with a small fraction; the file it writes must load. */
static void
test_tune (const char *dir, sdcl_cl *probe)
{
  sdcl_error err = { 0 };
  const sdcl_status st = sdcl_gemm_tune (g_getenv ("SDCL_DEVICE"), dir, 0.0002, &err);
  CHECK (st == SDCL_OK, "sdcl_gemm_tune: %s", err.message);
  char *path = path_for (dir, probe);
  sdcl_gemm_config c;
  GError *error = NULL;
  if (!sdcl_gemm_config_load (path, sdcl_cl_device (probe), &c, &error))
    CHECK (false, "the tuned file does not load: %s", error->message);
  else
    {
      CHECK (c.nshapes > 0, "no shapes measured");
      for (int i = 0; i < c.nshapes; i++)
        CHECK (c.shapes[i].gflops[SDCL_FIG_OWN_F16] > 0, "shape %d: no own figure", i);
      CHECK (!SDCL_HAVE_CLBLAST_TUNE || c.has_xgemm, "no tuned CLBlast parameters");
      sdcl_cl *cl = new_context (dir);
      if (cl)
        {
          CHECK (sdcl_cl_gemm_backend (cl) == c.backend, "the tuned choice is not applied");
          check_gemms (cl);
          sdcl_cl_free (cl);
        }
    }
  g_clear_error (&error);
  g_free (path);
}

/* Whether the quick tune has an extension variant to time here. */
static bool
any_ext (sdcl_cl *cl)
{
  bool any = false;
  for (int e = 0; e < SDCL_TUNED_EXTS; e++)
    any = any || sdcl_cl_has_ext (cl, e);
  return any && !sdcl_cl_cpu_kernels (cl);
}

/* `sdcl tune --quick`: the file loads, and its extension verdicts are
 * there exactly for the variants this device has, and applied. */
static void
test_tune_quick (const char *dir, sdcl_cl *probe)
{
  /* The tests' SDCL_FP16=off would keep half math from being timed. */
  char *saved_fp16 = g_strdup (g_getenv ("SDCL_FP16"));
  g_unsetenv ("SDCL_FP16");
  sdcl_error err = { 0 };
  const sdcl_status st = sdcl_gemm_tune_quick (g_getenv ("SDCL_DEVICE"), dir, &err);
  CHECK (st == SDCL_OK, "sdcl_gemm_tune_quick: %s", err.message);
  char *path = path_for (dir, probe);
  sdcl_gemm_config c;
  GError *error = NULL;
  sdcl_cl *cl = NULL;
  if (!sdcl_gemm_config_load (path, sdcl_cl_device (probe), &c, &error))
    CHECK (false, "the tuned file does not load: %s", error->message);
  else if ((cl = new_context (dir)) != NULL)
    {
      CHECK (c.nshapes == 1 && c.shapes[0].gflops[SDCL_FIG_OWN_F16] > 0 && c.fraction == 0,
             "quick: %d shapes, own F16 %g GFLOP/s, fraction %g", c.nshapes,
             c.shapes[0].gflops[SDCL_FIG_OWN_F16], c.fraction);
      const bool portable = !sdcl_cl_cpu_kernels (cl);
      for (int e = 0; e < SDCL_TUNED_EXTS; e++)
        {
          const sdcl_ext_tuned *x = &c.tiles.ext[e];
          const bool timed = portable && sdcl_cl_has_ext (cl, e);
          CHECK ((x->use >= 0) == timed, "%s: verdict %d, %s", sdcl_ext_label (e), x->use,
                 timed ? "the device has it" : "not timed here");
          if (x->use < 0)
            continue;
          char want[80];
          g_snprintf (want, sizeof want, "the tuning file chose %s",
                      sdcl_ext_tuned_word (e, x->use));
          check_ext (cl, e, x->use == 1, want, "after sdcl tune --quick");
          fprintf (stderr, "%s in the file: %s %.4f s, %s %.4f s\n", sdcl_ext_label (e),
                   sdcl_ext_tuned_word (e, true), x->seconds[1], sdcl_ext_tuned_word (e, false),
                   x->seconds[0]);
        }
      /* With fp32 arithmetic again: check_gemms' tolerance is fp32's
       * (kernel-ext-fp16 checks half math against its own bound). */
      if (saved_fp16)
        g_setenv ("SDCL_FP16", saved_fp16, TRUE);
      check_gemms (cl);
      sdcl_cl_free (cl);
    }
  g_clear_error (&error);
  g_free (path);
  g_free (saved_fp16);
}

int
main (int argc, char **argv)
{
  const bool tune = argc > 1 && strcmp (argv[1], "--tune") == 0;
  const bool quick = argc > 1 && strcmp (argv[1], "--tune-quick") == 0;
  if (argc > 2 || (argc == 2 && !tune && !quick))
    {
      fprintf (stderr, "usage: %s [--tune | --tune-quick]\n", argv[0]);
      return 2;
    }
  g_unsetenv ("SDCL_GEMM");
  rng = g_rand_new_with_seed (20261204);
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("sdcl-gemm-config-XXXXXX", &error);
  if (!dir)
    {
      fprintf (stderr, "cannot make a temporary folder: %s\n", error->message);
      return 1;
    }
  sdcl_error err = { 0 };
  sdcl_cl *probe = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), "", &err);
  if (!probe)
    {
      fprintf (stderr, "skipping: %s\n", err.message);
      g_rmdir (dir);
      return err.code == SDCL_ERR_NO_DEVICE ? 77 : 1;
    }
  if (tune)
    test_tune (dir, probe);
  else if (quick && !any_ext (probe))
    {
      /* Its subject is absent: the rest is kernel-gemm-tune's (slow). */
      printf ("skipped: device lacks cl_khr_fp16 and sub-groups, or runs the CPU kernels\n");
      g_rmdir (dir);
      sdcl_cl_free (probe);
      return 77;
    }
  else if (quick)
    test_tune_quick (dir, probe);
  else
    {
      test_round_trip (dir, probe);
      test_applied (dir);
      test_corrupt (dir, probe);
      test_ext_applied (dir, probe);
      test_tune_tiles ();
    }
  char *path = path_for (dir, probe);
  g_unlink (path);
  g_free (path);
  g_rmdir (dir);
  g_free (dir);
  sdcl_cl_free (probe);
  g_rand_free (rng);
  return check_finish ();
}

/* The OpenCL runtime: half/bfloat16 conversions, device listing and
 * choice, the program binary cache (including a corrupt entry), the buffer
 * pool, out-of-memory reporting and split weight uploads.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "check.h"
#include "clrt_internal.h"
#include "ops.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

static uint32_t
float_bits (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  return u;
}

static float
bits_float (uint32_t u)
{
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

/* ---- conversions ------------------------------------------------------- */

static void
test_half_conversions (void)
{
  /* Every half survives half -> float -> half (NaNs stay NaN). */
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++)
    {
      float f = sdcl_half_to_float ((uint16_t) h);
      uint16_t back = sdcl_float_to_half (f);
      bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
      if (nan ? !isnan (f) || (back & 0x7c00) != 0x7c00 || !(back & 0x3ff) : back != h)
        bad++;
    }
  CHECK (bad == 0, "%d halves do not round-trip", bad);

  /* Known values. */
  CHECK (sdcl_half_to_float (0x3c00) == 1.0f, "1.0");
  CHECK (sdcl_half_to_float (0xc000) == -2.0f, "-2.0");
  CHECK (sdcl_half_to_float (0x0001) == ldexpf (1, -24), "smallest subnormal");
  CHECK (sdcl_half_to_float (0x7bff) == 65504.0f, "max finite");
  CHECK (isinf (sdcl_half_to_float (0xfc00)) && sdcl_half_to_float (0xfc00) < 0, "-inf");
  CHECK (sdcl_float_to_half (65520.0f) == 0x7c00, "65520 rounds to inf");
  CHECK (sdcl_float_to_half (65519.0f) == 0x7bff, "65519 rounds to max finite");
  CHECK (sdcl_float_to_half (1.0f + ldexpf (1, -11)) == 0x3c00, "tie to even (down)");
  CHECK (sdcl_float_to_half (1.0f + 3 * ldexpf (1, -11)) == 0x3c02, "tie to even (up)");
  CHECK (sdcl_float_to_half (ldexpf (1, -25)) == 0x0000, "half the smallest subnormal: tie to 0");
  CHECK (sdcl_float_to_half (ldexpf (1.5f, -25)) == 0x0001, "above the tie rounds up");
  CHECK (sdcl_float_to_half (ldexpf (3, -25)) == 0x0002, "subnormal tie to even");
  CHECK (sdcl_float_to_half (-0.0f) == 0x8000, "-0");
  CHECK (sdcl_float_to_half (1e-10f) == 0, "underflow to 0");
  CHECK (sdcl_float_to_half (ldexpf (1023.5f, -24)) == 0x0400,
         "largest subnormal + half ulp carries into the smallest normal");

#ifdef __FLT16_MAX__
  /* The compiler's _Float16 conversion is exact round-to-nearest-even: use it
   * as an oracle on random bit patterns across the whole float range. */
  GRand *r = g_rand_new_with_seed (7);
  int mismatches = 0;
  for (int i = 0; i < 2000000; i++)
    {
      float f = bits_float (g_rand_int (r));
      if (isnan (f))
        continue;
      _Float16 h = (_Float16) f;
      uint16_t want;
      memcpy (&want, &h, sizeof want);
      if (sdcl_float_to_half (f) != want)
        mismatches++;
    }
  g_rand_free (r);
  CHECK (mismatches == 0, "%d floats convert differently from _Float16", mismatches);
#endif

  CHECK (sdcl_bf16_to_float (0x3f80) == 1.0f, "bf16 1.0");
  CHECK (sdcl_bf16_to_float (0xc0a0) == -5.0f, "bf16 -5.0");
  CHECK (float_bits (sdcl_bf16_to_float (0x7f80)) == 0x7f800000u, "bf16 inf");
}

/* ---- devices ----------------------------------------------------------- */

static void
test_devices (void)
{
  sdcl_device_info *devs = NULL;
  int n = 0;
  sdcl_error err = { 0 };
  CHECK (sdcl_list_devices (&devs, &n, &err) == SDCL_OK, "list: %s", err.message);
  CHECK (n >= 1, "no device listed");
  for (int i = 0; i < n; i++)
    {
      CHECK (devs[i].index == i, "index %d", devs[i].index);
      CHECK (devs[i].name[0] && devs[i].max_alloc_bytes > 0 && devs[i].max_work_group_size > 0,
             "device %d is described incompletely", i);
    }
  if (n >= 1)
    {
      /* By index and by a case-changed piece of the name. */
      sdcl_cl *cl = sdcl_cl_new ("0", "", &err);
      CHECK (cl && strcmp (sdcl_cl_device (cl)->name, devs[0].name) == 0, "device \"0\"");
      sdcl_cl_free (cl);
      char *piece = g_ascii_strup (devs[0].name, MIN (strlen (devs[0].name), 4));
      cl = sdcl_cl_new (piece, "", &err);
      CHECK (cl != NULL, "device by name \"%s\": %s", piece, err.message);
      sdcl_cl_free (cl);
      g_free (piece);
    }

  sdcl_cl *none = sdcl_cl_new ("no such device, surely", "", &err);
  CHECK (none == NULL && err.code == SDCL_ERR_NO_DEVICE, "unknown name accepted");
  CHECK (n < 1 || strstr (err.message, devs[0].name) != NULL,
         "the error does not list the devices: %s", err.message);
  none = sdcl_cl_new ("999", "", &err);
  CHECK (none == NULL && err.code == SDCL_ERR_NO_DEVICE, "index 999 accepted");
  CHECK (sdcl_list_devices (NULL, &n, &err) == SDCL_ERR_INVALID_ARGUMENT, "NULL out accepted");
  free (devs);
}

/* ---- program cache ----------------------------------------------------- */

static int
count_cache_files (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  int n = 0;
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    n += g_str_has_suffix (name, ".clbin");
  if (d)
    g_dir_close (d);
  return n;
}

/* Overwrites every cache entry: truncated, or its payload bytes flipped. */
static void
corrupt_cache (const char *dir, bool truncate)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      char *path = g_build_filename (dir, name, NULL);
      gchar *data;
      gsize len;
      if (g_file_get_contents (path, &data, &len, NULL))
        {
          if (truncate)
            len /= 2;
          else
            for (gsize i = len / 2; i < len; i += 7)
              data[i] ^= 0x5a;
          g_file_set_contents (path, data, (gssize) len, NULL);
          g_free (data);
        }
      g_free (path);
    }
  if (d)
    g_dir_close (d);
}

/* Builds (or loads) the scale kernel and checks it computes. */
static bool
scale_works (sdcl_cl *cl)
{
  float in[5] = { 1, -2, 3, 0.5f, 7 }, out[5] = { 0 };
  sdcl_t x, y;
  int64_t shape[1] = { 5 };
  sdcl_t_from_host (cl, &x, 1, shape, in);
  sdcl_t_alloc (cl, &y, 1, 5, 0, 0, 0);
  op_scale (cl, &x, 2.0f, &y);
  sdcl_t_download (cl, &y, out);
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &y);
  sdcl_error err = { 0 };
  if (sdcl_cl_check (cl, &err) != SDCL_OK)
    {
      fprintf (stderr, "scale failed: %s\n", err.message);
      return false;
    }
  for (int i = 0; i < 5; i++)
    if (out[i] != 2 * in[i])
      return false;
  return true;
}

static void
test_program_cache (void)
{
  char *dir = g_dir_make_tmp ("sdcl-cache-XXXXXX", NULL);
  sdcl_error err = { 0 };
  sdcl_cl *cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), dir, &err);
  CHECK (cl && scale_works (cl), "first build");
  sdcl_cl_free (cl);
  int files = count_cache_files (dir);
  CHECK (files == 1, "%d cache entries after building one program", files);

  for (int round = 0; round < 2; round++)
    {
      cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), dir, &err);
      CHECK (cl && scale_works (cl), "build from the cache (round %d)", round);
      sdcl_cl_free (cl);
      corrupt_cache (dir, round == 0);
      cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), dir, &err);
      CHECK (cl && scale_works (cl), "fallback from a corrupt cache entry (round %d)", round);
      sdcl_cl_free (cl);
    }

  /* "" disables the cache: nothing is written. */
  char *dir2 = g_dir_make_tmp ("sdcl-cache-XXXXXX", NULL);
  g_setenv ("SDCL_CACHE_DIR", dir2, TRUE);
  cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), "", &err);
  CHECK (cl && scale_works (cl), "build without a cache");
  sdcl_cl_free (cl);
  CHECK (count_cache_files (dir2) == 0, "a disabled cache was written");
  /* NULL uses $SDCL_CACHE_DIR. */
  cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), NULL, &err);
  CHECK (cl && scale_works (cl), "build with the default cache");
  sdcl_cl_free (cl);
  CHECK (count_cache_files (dir2) == 1, "$SDCL_CACHE_DIR was not used");

  char *argv_rm[] = { "rm", "-rf", dir, dir2, NULL };
  g_spawn_sync (NULL, argv_rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  g_free (dir);
  g_free (dir2);
}

/* ---- pool, out of memory, weights -------------------------------------- */

static void
test_pool (sdcl_cl *cl)
{
  sdcl_cl_pool_trim (cl);
  uint64_t base = sdcl_cl_pool_bytes (cl);
  sdcl_t a, b, c;
  sdcl_t_alloc (cl, &a, 2, 10, 100, 0, 0);
  sdcl_t_alloc (cl, &b, 3, 2, 3, 5, 0);
  CHECK (a.n == 1000 && b.n == 30 && a.nd == 2 && b.d[2] == 5, "tensor shapes");
  CHECK (sdcl_cl_pool_bytes (cl) == base + 4120, "pool bytes %llu",
         (unsigned long long) sdcl_cl_pool_bytes (cl));
  cl_mem first = a.buf;
  sdcl_t_release (cl, &a);
  CHECK (a.buf == NULL && a.n == 0, "release zeroes the tensor");
  sdcl_t_alloc (cl, &c, 1, 1000, 0, 0, 0);
  CHECK (c.buf == first, "a released buffer of the same size is reused");
  CHECK (sdcl_cl_pool_bytes (cl) == base + 4120, "reuse does not grow the pool");
  sdcl_t_alloc (cl, &a, 1, 999, 0, 0, 0);
  CHECK (a.buf != first && sdcl_cl_pool_bytes (cl) == base + 4120 + 3996, "other sizes are new");
  uint64_t peak = sdcl_cl_pool_peak_bytes (cl);
  CHECK (peak >= base + 4120 + 3996, "peak %llu", (unsigned long long) peak);
  sdcl_t_release (cl, &a);
  sdcl_t_release (cl, &b);
  sdcl_t_release (cl, &c);
  sdcl_cl_pool_trim (cl);
  CHECK (sdcl_cl_pool_bytes (cl) == base, "trim frees released buffers");
  CHECK (sdcl_cl_pool_peak_bytes (cl) == peak, "trim keeps the peak");

  sdcl_t empty;
  sdcl_t_alloc (cl, &empty, 2, 0, 7, 0, 0);
  CHECK (sdcl_cl_ok (cl) && empty.buf == NULL && empty.n == 0, "empty tensor");
}

static void
test_out_of_memory (sdcl_cl *cl)
{
  sdcl_cl_set_max_alloc_for_testing (cl, 1 << 20);
  sdcl_t t;
  sdcl_t_alloc (cl, &t, 1, 1 << 19, 0, 0, 0); /* 2 MiB */
  sdcl_error err = { 0 };
  CHECK (sdcl_cl_check (cl, &err) == SDCL_ERR_OUT_OF_MEMORY, "2 MiB over a 1 MiB limit: %d",
         err.code);
  CHECK (strstr (err.message, "2097152") && strstr (err.message, "1048576"),
         "the message lacks needed/available bytes: %s", err.message);
  CHECK (t.buf == NULL, "failed allocation left a buffer");
  sdcl_cl_clear_error (cl);

  /* A weight of 17 rows over a limit of one row cannot be split into 16 parts. */
  float rows[17 * 4] = { 0 };
  int64_t shape[2] = { 17, 4 };
  sdcl_w w;
  sdcl_cl_set_max_alloc_for_testing (cl, 16);
  sdcl_w_upload (cl, &w, SDCL_WT_F32, 2, shape, rows, SDCL_SRC_F32);
  CHECK (sdcl_cl_check (cl, &err) == SDCL_ERR_OUT_OF_MEMORY, "17 parts accepted");
  CHECK (w.nparts == 0, "failed upload left parts");
  sdcl_cl_clear_error (cl);
  sdcl_cl_set_max_alloc_for_testing (cl, 0);
}

/* Downloads all parts of a weight as raw row-major bytes, undoing the
 * panel layout (sdcl_w.panel) when the upload chose it. */
static guint8 *
weight_bytes (sdcl_cl *cl, const sdcl_w *w)
{
  const size_t esize = w->type == SDCL_WT_F16 ? 2 : 4;
  const int64_t K = w->n / w->d[0], P = w->panel ? w->panel : 1;
  guint8 *out = g_malloc0 ((size_t) w->n * esize);
  for (int p = 0; p < w->nparts; p++)
    {
      const int64_t row0 = p * w->part_rows, rows = MIN (w->part_rows, w->d[0] - row0);
      const int64_t stored = (rows + P - 1) / P * P;
      guint8 *part = g_malloc ((size_t) (stored * K) * esize);
      clEnqueueReadBuffer (sdcl_cl_queue (cl), w->part[p], CL_TRUE, 0, (size_t) (stored * K) * esize,
                           part, 0, NULL, NULL);
      for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < K; k++)
          {
            const int64_t at = w->panel ? ((r / P) * K + k) * P + r % P : r * K + k;
            memcpy (out + (size_t) ((row0 + r) * K + k) * esize, part + (size_t) at * esize, esize);
          }
      g_free (part);
    }
  return out;
}

/* On devices that pack matrices (CPUs), a split weight gets parts of whole
 * 16-row panels, the last part padded. */
static void
test_weight_panels (sdcl_cl *cl)
{
  if (!sdcl_cl_packs_weights (cl))
    return;
  enum { R = 37, C = 5 };
  float src[R * C];
  for (int i = 0; i < R * C; i++)
    src[i] = (float) i;
  int64_t shape[2] = { R, C };
  sdcl_w w;
  sdcl_cl_set_max_alloc_for_testing (cl, 20 * C * 4); /* 20 rows: parts of 16 */
  sdcl_w_upload (cl, &w, SDCL_WT_F32, 2, shape, src, SDCL_SRC_F32);
  sdcl_cl_set_max_alloc_for_testing (cl, 0);
  CHECK (sdcl_cl_ok (cl), "panel upload");
  CHECK (w.panel == SDCL_W_PANEL && w.part_rows == 16 && w.nparts == 3,
         "panel upload: panel %d, %d parts of %lld rows", w.panel, w.nparts,
         (long long) w.part_rows);
  guint8 *got = weight_bytes (cl, &w);
  CHECK_CLOSE ("panel upload round trip", (float *) got, src, R * C, 0, 0);
  g_free (got);
  sdcl_w_free (&w);
}

static void
test_weight_upload (sdcl_cl *cl)
{
  enum { R = 11, C = 6, N = R * C };
  float f32[N];
  uint16_t f16[N], bf16[N];
  for (int i = 0; i < N; i++)
    {
      f32[i] = (float) (i - 30) * 0.37f;
      f16[i] = sdcl_float_to_half (f32[i]);
      bf16[i] = (uint16_t) (float_bits (f32[i]) >> 16);
    }
  int64_t shape[2] = { R, C };
  static const struct {
    sdcl_src_type src;
    sdcl_wtype type;
    uint64_t limit; /* bytes per part; 0: device limit */
  } cases[] = {
    { SDCL_SRC_F32, SDCL_WT_F32, 0 },  { SDCL_SRC_F32, SDCL_WT_F16, 0 },
    { SDCL_SRC_F16, SDCL_WT_F32, 0 },  { SDCL_SRC_F16, SDCL_WT_F16, 0 },
    { SDCL_SRC_BF16, SDCL_WT_F32, 0 }, { SDCL_SRC_BF16, SDCL_WT_F16, 0 },
    { SDCL_SRC_F32, SDCL_WT_F32, 4 * C * 3 }, /* 3 rows per part: 4 parts */
    { SDCL_SRC_F16, SDCL_WT_F16, 2 * C * 2 + 1 }, /* 2 rows per part: 6 parts */
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const void *src = cases[i].src == SDCL_SRC_F32 ? (const void *) f32
                        : cases[i].src == SDCL_SRC_F16 ? (const void *) f16 : (const void *) bf16;
      sdcl_cl_set_max_alloc_for_testing (cl, cases[i].limit);
      sdcl_w w;
      sdcl_w_upload (cl, &w, cases[i].type, 2, shape, src, cases[i].src);
      sdcl_cl_set_max_alloc_for_testing (cl, 0);
      CHECK (sdcl_cl_ok (cl), "upload case %zu", i);
      int64_t per = cases[i].limit ? (int64_t) cases[i].limit / ((cases[i].type ? 2 : 4) * C) : R;
      CHECK (w.part_rows == per && w.nparts == (int) ((R + per - 1) / per),
             "case %zu: %d parts of %lld rows", i, w.nparts, (long long) w.part_rows);
      CHECK (sdcl_w_bytes (&w) == (uint64_t) N * (cases[i].type ? 2 : 4), "case %zu bytes", i);
      guint8 *got = weight_bytes (cl, &w);
      float want[N], have[N];
      for (int j = 0; j < N; j++)
        {
          float v = cases[i].src == SDCL_SRC_F32   ? f32[j]
                    : cases[i].src == SDCL_SRC_F16 ? sdcl_half_to_float (f16[j])
                                                   : sdcl_bf16_to_float (bf16[j]);
          want[j] = cases[i].type == SDCL_WT_F16 ? sdcl_half_to_float (sdcl_float_to_half (v)) : v;
          have[j] = cases[i].type == SDCL_WT_F16 ? sdcl_half_to_float (((uint16_t *) got)[j])
                                                 : ((float *) got)[j];
        }
      char what[40];
      g_snprintf (what, sizeof what, "weight upload case %zu", i);
      CHECK_CLOSE (what, have, want, N, 0, 0);
      g_free (got);
      sdcl_w_free (&w);
      CHECK (w.nparts == 0 && w.part[0] == NULL, "free clears the weight");
    }
}

/* A program that does not compile gives SDCL_ERR_DEVICE with the build log;
 * an unknown kernel name is an internal error.  Both are sticky. */
static void
test_build_errors (sdcl_cl *cl)
{
  sdcl_error err = { 0 };
  /* attention.cl refuses to build without -DDH (an #error). */
  cl_kernel k = sdcl_cl_kernel (cl, "attention", "");
  CHECK (k == NULL && sdcl_cl_check (cl, &err) == SDCL_ERR_DEVICE, "bad build gave %d", err.code);
  CHECK (strstr (err.message, "attention.cl") && strstr (err.message, "-DDH"),
         "the message lacks the program or the build log: %s", err.message);
  CHECK (sdcl_cl_kernel (cl, "eltwise_add", "-DTILE=8") == NULL, "errors are not sticky");
  sdcl_cl_clear_error (cl);
  CHECK (sdcl_cl_kernel (cl, "no_such_kernel", "") == NULL
         && sdcl_cl_check (cl, &err) == SDCL_ERR_INTERNAL && strstr (err.message, "no_such_kernel"),
         "unknown kernel: %s", err.message);
  sdcl_cl_clear_error (cl);
}

int
main (void)
{
  test_half_conversions ();
  sdcl_error err = { 0 };
  sdcl_cl *cl = sdcl_cl_new (g_getenv ("SDCL_DEVICE"), "", &err);
  if (!cl)
    {
      fprintf (stderr, "skipping the device tests: %s\n", err.message);
      return check_failures ? 1 : err.code == SDCL_ERR_NO_DEVICE ? 77 : 1;
    }
  test_pool (cl);
  test_out_of_memory (cl);
  test_weight_upload (cl);
  test_weight_panels (cl);
  test_build_errors (cl);
  sdcl_cl_free (cl);
  test_devices ();
  test_program_cache ();
  return check_finish ();
}

/* The GEMM of linear layers and convolutions: backend choice and the
 * launches of sdcl's own kernels.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "config.h"
#include "gemm.h"
#include "clrt_internal.h"
#include "extensions.h"
#include "ops_util.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>


/* Output block per work-item of gemm_nt: 16 float8 accumulators fill the
 * 16 vector registers of AVX2 CPUs; 4 x 4 measured best among 2..6 x 2..4
 * on PoCL.  Passed to the kernel as -DTM/-DTN. */
enum { GEMM_TM = 4, GEMM_TN = 4 };

/* gemm_panel / gemm_conv_panel register tiles (gemm.h).  The work-group is
 * one block of rows x enough work-items for 128 columns: PoCL runs a
 * group's work-items in turn on one thread, so the MR x K slice of x is
 * reused from cache; measured on SD shapes, alternating, in GFLOP per
 * CPU-second (AMD Zen 5): 1 x 128 columns about 20% ahead of 8 row blocks
 * x 16 columns, and ahead of or level with 4x4, 8x4, 2x8 blocks.
 *
 * 0: 6 x 16, the classic AVX2 tile (12 accumulators of its 16 registers;
 * 32 columns would spill).  1: AVX-512 on AMD Zen 5 (MR = 4 and 8
 * measured too, 6 kept).
 * 2-4: more rows per loaded weight vector, the 16-column ones with each x
 * value broadcast straight into its FMA.  On an Intel Xeon (AVX-512,
 * BENCHMARKS.md step 19): 3 is 10-15% ahead on the convolutions (20-25%
 * above 1), 2 is 5-15% ahead on the linear layers (24 FMAs per 2 weight
 * vectors and 12 broadcasts, against 16 per 1 and 16).  5: 4 x 16, AVX2's
 * tile for convolutions with more than one tap.  On AMD Zen 3 (BENCHMARKS.md
 * step 22) about twice config 0's rate on the 3x3 convolutions at every
 * size (80-84 against 30-42 GFLOP per CPU-second): with 6 rows the taps'
 * shared pixel loads spill accumulators, and 6 does not divide the output
 * widths, so some tiles take the slow path.  Linear layers were level
 * either way and 1x1 convolutions faster with 6 rows (the VAE's at 256x256
 * and 512x512: 0.62-0.77 against 0.80-0.89 CPU s), so they keep config 0. */
const sdcl_panel_config sdcl_panel_configs[] = {
  { 6, 16, 2 }, { 6, 32, 2 }, { 12, 32, 2 }, { 16, 16, 1 }, { 24, 16, 1 }, { 4, 16, 2 },
};
const int sdcl_n_panel_configs = G_N_ELEMENTS (sdcl_panel_configs);

/* Columns per work-item of Winograd's GEMM (winograd.cl, -DNC) and the
 * blocked attention's vector width: 32 (two panels in float16 vectors)
 * where the device's native float vectors are 16 wide, else 16 (one panel
 * in two float8: 16 accumulators fill AVX2's 16 registers, 32 columns
 * would spill).  SDCL_PANEL_COLUMNS=16|32 forces either (tests run both).
 * The panel GEMMs' own tile is panel_config's below. */
int
sdcl_gemm_panel_columns (const sdcl_cl *cl)
{
  const char *env = g_getenv ("SDCL_PANEL_COLUMNS");
  if (env && (strcmp (env, "16") == 0 || strcmp (env, "32") == 0))
    return atoi (env);
  return sdcl_cl_device (cl)->float_vector_width >= 16 ? 32 : 16;
}

enum {
  PANEL_WG_COLUMNS = 128,
  PANEL_AVX2 = 0,
  PANEL_AVX512 = 1,
  PANEL_INTEL_AVX512_LINEAR = 2,
  PANEL_INTEL_AVX512_CONV = 3,
  PANEL_AVX2_TAPS = 5
};

/* F16 weights widened by one vcvtph2ps zmm (-DWEIGHT_F16C, gemm.cl) where
 * the compiler is PoCL's clang and the CPU x86 (F16C): PoCL's own
 * vload_half16 becomes two ymm conversions and a vinsertf64x4, which on
 * Intel compete with the FMAs for ports 0 and 5 (capped config 1 at about
 * 55% of the FMA peak).  SDCL_PANEL_F16C=0 turns it off (A/B runs). */
static bool
panel_f16c (const sdcl_cl *cl)
{
  const sdcl_device_info *dev = sdcl_cl_device (cl);
  const bool x86 = strcmp (dev->vendor, "GenuineIntel") == 0
                   || strcmp (dev->vendor, "AuthenticAMD") == 0;
  const char *env = g_getenv ("SDCL_PANEL_F16C");
  return x86 && strstr (dev->platform, "Portable Computing Language") != NULL
         && !(env && strcmp (env, "0") == 0);
}

bool
sdcl_panel_config_fits (int index)
{
  return index >= 0 && index < sdcl_n_panel_configs;
}

/* AVX2's tile for a GEMM whose rows gather `taps` kernel taps (0: a
 * linear layer). */
static int
panel_avx2 (int taps)
{
  return taps > 1 ? PANEL_AVX2_TAPS : PANEL_AVX2;
}

/* The device's default: by vector width, CPU vendor and kernel (taps as
 * for panel_avx2). */
static int
panel_default (const sdcl_cl *cl, int taps)
{
  const sdcl_device_info *dev = sdcl_cl_device (cl);
  if (dev->float_vector_width < 16)
    return panel_avx2 (taps);
  if (strcmp (dev->vendor, "GenuineIntel") == 0)
    return taps > 0 ? PANEL_INTEL_AVX512_CONV : PANEL_INTEL_AVX512_LINEAR;
  return PANEL_AVX512;
}

/* The configuration in use: SDCL_PANEL_CONFIG=<index> (tests, experiments)
 * or SDCL_PANEL_COLUMNS=16|32 (AVX2's tiles, or config 1) when set, else
 * for linear layers the one `sdcl tune` stored for the device (it times
 * linear shapes), else the default. */
static const sdcl_panel_config *
panel_config (sdcl_cl *cl, int taps)
{
  const char *env = g_getenv ("SDCL_PANEL_CONFIG");
  if (env && sdcl_panel_config_fits (atoi (env)))
    return &sdcl_panel_configs[atoi (env)];
  env = g_getenv ("SDCL_PANEL_COLUMNS");
  if (env && (strcmp (env, "16") == 0 || strcmp (env, "32") == 0))
    return &sdcl_panel_configs[strcmp (env, "16") == 0 ? panel_avx2 (taps) : PANEL_AVX512];
  const int tuned = taps > 0 ? -1 : sdcl_cl_tile_choice (cl)->panel;
  return &sdcl_panel_configs[sdcl_panel_config_fits (tuned) ? tuned : panel_default (cl, taps)];
}

/* Builds a panel kernel (options end with its -D tile options) and its
 * launch shape; NULL on failure (sticky error).  taps: as panel_avx2. */
static cl_kernel
panel_kernel (sdcl_cl *cl, const char *name, const char *options, int taps,
              const sdcl_panel_config **p, size_t local[2])
{
  *p = panel_config (cl, taps);
  char all[160];
  g_snprintf (all, sizeof all, "%s -DMR=%d -DNC=%d -DNV=%d%s", options, (*p)->mr, (*p)->nc,
              (*p)->nv, panel_f16c (cl) ? " -DWEIGHT_F16C" : "");
  cl_kernel k = sdcl_cl_kernel (cl, name, all);
  local[0] = 1;
  local[1] = PANEL_WG_COLUMNS / (*p)->nc;
  if (k && sdcl_kernel_max_wg (cl, k) < local[0] * local[1])
    local[0] = local[1] = 1;
  return k;
}

sdcl_args
sdcl_gemm_set_args (sdcl_cl *cl, cl_kernel k, const sdcl_gemm_desc *g, cl_mem w_part,
                    int64_t n_off, int64_t n_part)
{
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, g->x);
  sdcl_arg_mem (&a, w_part);
  sdcl_arg_mem (&a, g->bias ? g->bias->part[0] : NULL);
  sdcl_arg_int (&a, g->bias != NULL);
  sdcl_arg_int (&a, sdcl_w_is_half (g->bias));
  sdcl_arg_mem (&a, g->residual);
  sdcl_arg_int (&a, g->residual != NULL);
  sdcl_arg_mem (&a, g->y);
  sdcl_arg_long (&a, g->y_off + n_off * g->stride_n);
  sdcl_arg_long (&a, g->stride_m);
  sdcl_arg_long (&a, g->stride_n);
  sdcl_arg_int (&a, (int) n_off);
  sdcl_arg_int (&a, (int) g->M);
  sdcl_arg_int (&a, (int) n_part);
  sdcl_arg_int (&a, (int) g->K);
  sdcl_arg_int (&a, g->act);
  return a;
}

/* x packed per block of MR rows for gemm_panel -DXPACK (gemm.cl,
 * gemm_pack_rows), in chunks of rows whose packed copy takes at most
 * XPACK_BYTES.  The packed loop is a quarter shorter (llvm-mca), but the
 * pack is a pass over x, and on the shared machine neither direction
 * showed in GEMM or UNet timings (BENCHMARKS.md step 16): off until an
 * idle A/B decides.  SDCL_GEMM_XPACK=1 packs every layer, =auto those
 * with at least XPACK_MIN_N outputs (where the pass is shared by most
 * columns). */
enum { XPACK_BYTES = 32 << 20, XPACK_MIN_N = 1024 };

static bool
xpack_enabled (int64_t N)
{
  const char *env = g_getenv ("SDCL_GEMM_XPACK");
  if (g_strcmp0 (env, "1") == 0)
    return true;
  return g_strcmp0 (env, "auto") == 0 && N >= XPACK_MIN_N;
}

static void gemm_run_panel_rows (sdcl_cl *cl, const sdcl_gemm_desc *g, cl_kernel k,
                                 const sdcl_panel_config *ps, const size_t local[2]);

/* The panel kernel, for weights packed at upload (w->panel). */
static void
gemm_run_panel (sdcl_cl *cl, const sdcl_gemm_desc *g)
{
  const sdcl_w *w = g->w;
  const sdcl_panel_config *ps;
  size_t local[2];
  const bool pack = xpack_enabled (w->d[0]);
  char options[96];
  g_snprintf (options, sizeof options, "%s%s", sdcl_weight_options (w), pack ? " -DXPACK" : "");
  cl_kernel k = panel_kernel (cl, "gemm_panel", options, 0, &ps, local);
  if (!k)
    return;
  if (!pack)
    {
      gemm_run_panel_rows (cl, g, k, ps, local);
      return;
    }
  cl_kernel kp = panel_kernel (cl, "gemm_pack_rows", options, 0, &ps, (size_t[2]) { 0 });
  if (!kp)
    return;
  const int64_t chunk = MAX (1, XPACK_BYTES / ((int64_t) sizeof (float) * g->K * ps->mr)) * ps->mr;
  sdcl_t xp;
  sdcl_t_alloc (cl, &xp, 1, sdcl_round_up ((size_t) MIN (chunk, g->M), ps->mr) * g->K, 0, 0, 0);
  for (int64_t m0 = 0; m0 < g->M && sdcl_cl_ok (cl); m0 += chunk)
    {
      const int64_t rows = MIN (chunk, g->M - m0);
      sdcl_args a = sdcl_args_begin (cl, kp);
      sdcl_arg_mem (&a, g->x);
      sdcl_arg_long (&a, m0 * g->K);
      sdcl_arg_mem (&a, xp.buf);
      sdcl_arg_int (&a, (int) rows);
      sdcl_arg_int (&a, (int) g->K);
      size_t global[2] = { (size_t) g->K, sdcl_div_up ((size_t) rows, ps->mr) };
      sdcl_cl_run (cl, kp, 2, global, NULL);
      sdcl_gemm_desc gc = *g;
      gc.x = xp.buf;
      gc.M = rows;
      gc.y_off = g->y_off + m0 * g->stride_m;
      gemm_run_panel_rows (cl, &gc, k, ps, local);
    }
  /* The in-order queue runs every later use of this buffer after the GEMMs. */
  sdcl_t_release (cl, &xp);
}

static void
gemm_run_panel_rows (sdcl_cl *cl, const sdcl_gemm_desc *g, cl_kernel k,
                     const sdcl_panel_config *ps, const size_t local[2])
{
  const sdcl_w *w = g->w;
  for (int p = 0; p < w->nparts; p++)
    {
      const int64_t n_off = p * w->part_rows;
      const int64_t n_part = MIN (w->part_rows, w->d[0] - n_off);
      sdcl_gemm_set_args (cl, k, g, w->part[p], n_off, n_part);
      size_t global[2] = { sdcl_round_up (sdcl_div_up (g->M, ps->mr), local[0]),
                           sdcl_round_up (sdcl_div_up (n_part, ps->nc), local[1]) };
      sdcl_cl_run (cl, k, 2, global, local);
    }
}

void
sdcl_gemm_conv_panel (sdcl_cl *cl, const sdcl_gemm_desc *g, int64_t x_off, int C, int kh, int kw,
                      int stride, int Wo, int Hp, int Wp)
{
  const sdcl_w *w = g->w;
  char options[64];
  g_snprintf (options, sizeof options, "%s -DKH=%d -DKW=%d -DSTRIDE=%d", sdcl_weight_options (w),
              kh, kw, stride);
  const sdcl_panel_config *ps;
  size_t local[2];
  cl_kernel k = panel_kernel (cl, "gemm_conv_panel", options, kh * kw, &ps, local);
  if (!k)
    return;
  for (int p = 0; p < w->nparts; p++)
    {
      const int64_t n_off = p * w->part_rows;
      const int64_t n_part = MIN (w->part_rows, w->d[0] - n_off);
      sdcl_args a = sdcl_gemm_set_args (cl, k, g, w->part[p], n_off, n_part);
      sdcl_arg_long (&a, x_off);
      sdcl_arg_int (&a, C);
      sdcl_arg_int (&a, stride);
      sdcl_arg_int (&a, Wo);
      sdcl_arg_int (&a, Hp);
      sdcl_arg_int (&a, Wp);
      size_t global[2] = { sdcl_round_up (sdcl_div_up (g->M, ps->mr), local[0]),
                           sdcl_round_up (sdcl_div_up (n_part, ps->nc), local[1]) };
      sdcl_cl_run (cl, k, 2, global, local);
    }
}

/* ---- kernel choice and gemm_tiled ---------------------------------------- */

/* Largest first: 16 x 16 work-items with 8 x 8 outputs each where 256
 * work-items and 33 KiB of local memory are available (desktop GPUs have
 * 48-64 KiB), BK halved where 32 KiB is the limit, then groups of 128 and
 * 64 work-items; the last keeps 16 accumulators per work-item, for
 * compilers whose register use caps the group below 64 with 8 x 8.  Not
 * measured on a GPU yet (no figure exists): `sdcl tune` is the place to
 * refine them per device. */
const sdcl_tiled_config sdcl_tiled_configs[] = {
  { 128, 128, 32, 8, 8 },
  { 128, 128, 16, 8, 8 },
  { 64, 128, 16, 8, 8 },
  { 64, 64, 16, 8, 8 },
  { 32, 32, 8, 4, 4 },
};
const int sdcl_n_tiled_configs = G_N_ELEMENTS (sdcl_tiled_configs);

size_t
sdcl_tiled_wg_size (const sdcl_tiled_config *c)
{
  return (size_t) (c->bm / c->tm) * (c->bn / c->tn);
}

size_t
sdcl_tiled_local_bytes (const sdcl_tiled_config *c)
{
  /* gemm_tiled's xs[BK][BM + 1] and ws[BK][BN + 1] */
  return sizeof (float) * c->bk * (size_t) (c->bm + 1 + c->bn + 1);
}

static const char *const kernel_names[] = { "panel", "tiled", "nt" };

/* The value of a set numeric variable: true with *out when it is a
 * positive integer. */
static bool
env_positive (const char *var, guint64 *out)
{
  const char *env = g_getenv (var);
  return env && g_ascii_string_to_unsigned (env, 10, 1, G_MAXUINT64, out, NULL);
}

bool
sdcl_gemm_env_valid (char *why, size_t why_size)
{
  const char *kernel = g_getenv ("SDCL_GEMM_KERNEL");
  bool known = !kernel;
  for (size_t i = 0; kernel && i < G_N_ELEMENTS (kernel_names); i++)
    known |= g_ascii_strcasecmp (kernel, kernel_names[i]) == 0;
  if (!known)
    {
      g_snprintf (why, why_size, "SDCL_GEMM_KERNEL=\"%s\" is none of panel, tiled, nt", kernel);
      return false;
    }
  static const char *const limits[] = { "SDCL_FORCE_WG_SIZE", "SDCL_FORCE_LOCAL_MEM" };
  for (size_t i = 0; i < G_N_ELEMENTS (limits); i++)
    {
      guint64 v;
      if (g_getenv (limits[i]) && !env_positive (limits[i], &v))
        {
          g_snprintf (why, why_size, "%s=\"%s\" is not a positive whole number", limits[i],
                      g_getenv (limits[i]));
          return false;
        }
    }
  return true;
}

sdcl_gemm_kernel
sdcl_gemm_kernel_choice (const sdcl_cl *cl)
{
  const char *env = g_getenv ("SDCL_GEMM_KERNEL");
  for (size_t i = 0; env && i < G_N_ELEMENTS (kernel_names); i++)
    if (g_ascii_strcasecmp (env, kernel_names[i]) == 0)
      return (sdcl_gemm_kernel) i;
  return sdcl_cl_cpu_kernels (cl) ? SDCL_GEMM_KERNEL_PANEL : SDCL_GEMM_KERNEL_TILED;
}

void
sdcl_tiled_limits (const sdcl_cl *cl, size_t *max_wg, uint64_t *local_mem)
{
  const sdcl_device_info *dev = sdcl_cl_device (cl);
  guint64 v;
  *max_wg = dev->max_work_group_size;
  *local_mem = dev->local_mem_bytes;
  if (env_positive ("SDCL_FORCE_WG_SIZE", &v) && v < *max_wg)
    *max_wg = (size_t) v;
  if (env_positive ("SDCL_FORCE_LOCAL_MEM", &v) && v < *local_mem)
    *local_mem = v;
}

cl_kernel
sdcl_tiled_kernel (sdcl_cl *cl, sdcl_wtype type, int index)
{
  const sdcl_tiled_config *c = &sdcl_tiled_configs[index];
  char options[128];
  g_snprintf (options, sizeof options, "%s -DBM=%d -DBN=%d -DBK=%d -DTM=%d -DTN=%d%s",
              sdcl_wtype_options (type), c->bm, c->bn, c->bk, c->tm, c->tn,
              sdcl_half_math_option (cl, type));
  return sdcl_cl_kernel (cl, "gemm_tiled", options);
}

bool
sdcl_tiled_kernel_fits (sdcl_cl *cl, cl_kernel k, int index, uint64_t local_mem)
{
  const sdcl_tiled_config *c = &sdcl_tiled_configs[index];
  cl_ulong used = 0;
  if (clGetKernelWorkGroupInfo (k, sdcl_cl_device_id (cl), CL_KERNEL_LOCAL_MEM_SIZE, sizeof used,
                                &used, NULL) != CL_SUCCESS)
    used = sdcl_tiled_local_bytes (c);
  return sdcl_kernel_max_wg (cl, k) >= sdcl_tiled_wg_size (c) && used <= local_mem;
}

int
sdcl_tiled_pick (sdcl_cl *cl, sdcl_wtype type, cl_kernel *k)
{
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  /* The tuned configuration first (-1: none), then the table's order.  Q8
   * takes F16's: both load 1-2 byte weights into the same float tiles. */
  const int tuned = sdcl_cl_tile_choice (cl)->gemm[type != SDCL_WT_F32];
  for (int j = tuned >= 0 ? -1 : 0; j < sdcl_n_tiled_configs; j++)
    {
      const int i = j < 0 ? tuned : j;
      const sdcl_tiled_config *c = &sdcl_tiled_configs[i];
      /* Configurations the limits rule out are never built. */
      if (sdcl_tiled_wg_size (c) > max_wg || sdcl_tiled_local_bytes (c) > local_mem)
        continue;
      *k = sdcl_tiled_kernel (cl, type, i);
      if (!*k)
        return -1;
      if (sdcl_tiled_kernel_fits (cl, *k, i, local_mem))
        return i;
    }
  *k = NULL;
  return -1;
}

/* gemm_tiled on row-major weights; false (nothing enqueued) when no
 * configuration fits the device. */
static bool
gemm_run_tiled (sdcl_cl *cl, const sdcl_gemm_desc *g)
{
  const sdcl_w *w = g->w;
  cl_kernel k;
  const int pick = sdcl_tiled_pick (cl, w->type, &k);
  if (pick < 0)
    return !sdcl_cl_ok (cl);
  const sdcl_tiled_config *c = &sdcl_tiled_configs[pick];
  size_t local[2] = { (size_t) (c->bm / c->tm), (size_t) (c->bn / c->tn) };
  for (int p = 0; p < w->nparts; p++)
    {
      const int64_t n_off = p * w->part_rows;
      const int64_t n_part = MIN (w->part_rows, w->d[0] - n_off);
      sdcl_gemm_set_args (cl, k, g, w->part[p], n_off, n_part);
      size_t global[2] = { sdcl_div_up (g->M, c->bm) * local[0],
                           sdcl_div_up (n_part, c->bn) * local[1] };
      sdcl_cl_run (cl, k, 2, global, local);
    }
  return true;
}

void
sdcl_gemm_run (sdcl_cl *cl, const sdcl_gemm_desc *g)
{
  if (g->w->panel)
    {
      gemm_run_panel (cl, g);
      return;
    }
#if SDCL_HAVE_CLBLAST
  if (sdcl_cl_gemm_backend (cl) == SDCL_GEMM_CLBLAST && sdcl_gemm_clblast (cl, g))
    return;
#endif
  if (sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_TILED && gemm_run_tiled (cl, g))
    return;
  const sdcl_w *w = g->w;
  char options[64];
  g_snprintf (options, sizeof options, "%s -DTM=%d -DTN=%d", sdcl_weight_options (w), GEMM_TM,
              GEMM_TN);
  cl_kernel k = sdcl_cl_kernel (cl, "gemm_nt", options);
  if (!k)
    return;
  size_t local[2] = { 8, 8 };
  if (sdcl_kernel_max_wg (cl, k) < 64)
    local[0] = local[1] = 1;
  for (int p = 0; p < w->nparts; p++)
    {
      /* Part p holds output columns [n_off, n_off + n_part). */
      const int64_t n_off = p * w->part_rows;
      const int64_t n_part = MIN (w->part_rows, w->d[0] - n_off);
      sdcl_gemm_set_args (cl, k, g, w->part[p], n_off, n_part);
      size_t global[2] = { sdcl_round_up (sdcl_div_up (g->M, GEMM_TM), local[0]),
                           sdcl_round_up (sdcl_div_up (n_part, GEMM_TN), local[1]) };
      sdcl_cl_run (cl, k, 2, global, local);
    }
}

void
sdcl_gemm_linear (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                  const sdcl_t *residual, sdcl_act act, sdcl_t *y)
{
  const int64_t N = w->d[0], K = w->n / N;
  sdcl_gemm_desc g = {
    .x = x->buf, .M = x->n / K, .K = K, .w = w, .bias = bias,
    .residual = residual ? residual->buf : NULL, .y = y->buf,
    .y_off = 0, .stride_m = N, .stride_n = 1, .act = act,
  };
  sdcl_gemm_run (cl, &g);
}

bool
sdcl_gemm_linear_geglu (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                        sdcl_t *y)
{
  const int64_t N = w->d[0], K = w->n / N, F = N / 2;
  /* The gates' panels sit F rows after the hidden ones in the same part;
   * the two vectors of a work-item's tile hold one of each (16 columns
   * each at NC = 32, 8 at NC = 16). */
  const sdcl_panel_config *ps = panel_config (cl, 0);
  if (!w->panel || w->nparts != 1 || F % 16 != 0 || ps->nv != 2)
    return false;
  const int cols = ps->nc / ps->nv;   /* output columns per work-item (gemm.cl COL_STEP) */
  char options[80];
  g_snprintf (options, sizeof options, "%s -DGEGLU", sdcl_weight_options (w));
  size_t local[2];
  cl_kernel k = panel_kernel (cl, "gemm_panel", options, 0, &ps, local);
  if (!k)
    return true; /* the error is the context's */
  const sdcl_gemm_desc g = {
    .x = x->buf, .M = x->n / K, .K = K, .w = w, .bias = bias, .y = y->buf,
    .stride_m = F, .stride_n = 1, .act = SDCL_ACT_NONE,
  };
  sdcl_gemm_set_args (cl, k, &g, w->part[0], 0, N);
  size_t global[2] = { sdcl_round_up (sdcl_div_up (g.M, ps->mr), local[0]),
                       sdcl_round_up ((size_t) F / cols, local[1]) };
  sdcl_cl_run (cl, k, 2, global, local);
  return true;
}

void
sdcl_gemm_epilogue (sdcl_cl *cl, const sdcl_gemm_desc *g, int64_t N)
{
  if (!g->bias && !g->residual && g->act == SDCL_ACT_NONE)
    return;
  cl_kernel k = sdcl_cl_kernel (cl, "gemm_epilogue", sdcl_eltwise_options (cl));
  const bool m_inner = g->stride_m == 1;
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, g->y);
  sdcl_arg_long (&a, g->y_off);
  sdcl_arg_long (&a, g->stride_m);
  sdcl_arg_long (&a, g->stride_n);
  sdcl_arg_int (&a, (int) g->M);
  sdcl_arg_int (&a, (int) N);
  sdcl_arg_int (&a, m_inner);
  sdcl_arg_mem (&a, g->bias ? g->bias->part[0] : NULL);
  sdcl_arg_int (&a, g->bias != NULL);
  sdcl_arg_int (&a, sdcl_w_is_half (g->bias));
  sdcl_arg_mem (&a, g->residual);
  sdcl_arg_int (&a, g->residual != NULL);
  sdcl_arg_int (&a, g->act);
  size_t local[2] = { 64, 1 };
  size_t global[2] = { sdcl_round_up ((size_t) (m_inner ? g->M : N), 64),
                       (size_t) (m_inner ? N : g->M) };
  sdcl_cl_run (cl, k, 2, global, local);
}

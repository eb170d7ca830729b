/* Winograd F(4x4, 3x3) convolution: the choice, the weight transform
 * (kept with the weight or made per use, clrt_derived.h) and the three
 * passes per chunk of tiles (kernels/winograd.cl explains the algorithm).
 *
 * Memory: the transformed weight is 36 / 9 = 4 times the weight's
 * elements, in float32 whatever the weight's type (winograd.cl says why):
 * 16 bytes per weight, 8 times an F16 weight's 2, per convolution that
 * ran through here (the choice bounds which: sdcl_conv_winograd_applies).
 * Where derived weights are kept (resident models, sdcl_cl_set_derived_kept)
 * it is made at the first use of a weight and freed with it.  Otherwise it
 * is made at every use, in slices of output channels, into one reused
 * buffer of WINO_SCRATCH_BYTES: one pass over the weight per chunk of
 * tiles, up to a third more time per convolution at 512x512 (BENCHMARKS.md,
 * step 16: few tiles per weight there).  Per
 * call, V and M take at most WINO_SCRATCH_BYTES each from the activation
 * pool.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "conv_winograd.h"
#include "clrt_derived.h"
#include "clrt_internal.h"
#include "gemm.h"
#include "ops_util.h"

#include <glib.h>
#include <string.h>

enum {
  WINO_POINTS = 36,       /* 6 x 6 transformed values per tile */
  WINO_MR = 6,            /* tiles per work-item of winograd_gemm (run_gemm: fewer on AVX2) */
  WINO_WG_COLUMNS = 128,  /* output channels per work-group of winograd_gemm */
  WINO_SCRATCH_BYTES = 32 << 20,
  WINO_MIN_TILES = 16,    /* auto: fewer tiles run the direct convolution */
  WINO_KEEP_MIN_TILES = 64, /* fewer tiles make U per use even where it may be kept */
};

/* Output tiles of 4 x 4 pixels (batch entries included). */
static int64_t
wino_tiles (int64_t batch, int64_t Ho, int64_t Wo)
{
  return batch * ((Ho + 3) / 4) * ((Wo + 3) / 4);
}

/* Mirrors wino_shape in winograd.cl. */
typedef struct {
  cl_int C, H, W;
  cl_int UH, UW;
  cl_int Ho, Wo;
  cl_int pad_t, pad_l;
  cl_int wrap;
  cl_int tiles_x, tiles_img;
} wino_shape;

bool
sdcl_conv_winograd_applies (const sdcl_w *w, const sdcl_conv_desc *d, int64_t batch, int64_t C,
                            int64_t O, int64_t Ho, int64_t Wo)
{
  const char *env = g_getenv ("SDCL_CONV");
  const bool forced = env && g_ascii_strcasecmp (env, "winograd") == 0;
  if (env && !forced && g_ascii_strcasecmp (env, "auto") != 0)
    return false;
  /* Q8 weights are widened inside the direct kernels only (their scales
   * multiply finished outputs); the weight transform reads F32 or F16. */
  if (!w->panel || w->nparts != 1 || w->nd != 4 || w->d[2] != 3 || w->d[3] != 3
      || d->stride != 1 || w->type == SDCL_WT_Q8)
    return false;
  if (forced)
    return true;
  /* The transforms cost memory passes per tile and channel, the GEMM
   * saves 3/4 of the multiplications: below some channels there is too
   * little GEMM to save (conv_in, conv_out), and with few tiles the 36
   * small GEMMs read the 16x larger transformed weight for little work:
   * measured on this machine's CPU device (BENCHMARKS.md, step 13), 1.5-3x
   * the direct convolution's speed from 16 tiles, none at 4.  The choice
   * starts at 16 tiles: at 512x512 with guidance, batch 2, the 16x16
   * level gains 1.4x with U made per use (BENCHMARKS.md step 19); at 16
   * tiles, batch 1, per use was level with the direct convolution on an
   * Intel Xeon (AVX-512) and ahead on AMD Zen 3 (AVX2, step 22: the SD 1.5
   * UNet's evaluation 1.14 -> 1.05 s at 32x32, 4.94 -> 4.72 s at 64x64).
   * It depends on the layer alone, never on how full the device is, so
   * lean, streamed and resident runs give the same image (test_residency).
   * Only F16 weights: their own rounding moves a UNet's output about 1000 times
   * more than Winograd's fp32 rounding does (nets-unet: 6e-3 against
   * 8e-6), while with F32 weights, chosen for precision, Winograd's doubled
   * error grows through the multistep samplers past the pipeline goldens'
   * tolerance (test_txt2img with SDCL_CONV=winograd). */
  return w->type == SDCL_WT_F16 && C >= 32 && O >= 32
         && wino_tiles (batch, Ho, Wo) >= WINO_MIN_TILES;
}

/* U for output channels [16 * panel0, 16 * panel0 + Opad) of w into u
 * ([36, Opad, C] panels). */
static void
run_weights (sdcl_cl *cl, const sdcl_w *w, cl_mem u, int64_t C, int64_t panel0, int64_t Opad)
{
  cl_kernel k = sdcl_cl_kernel (cl, "winograd_weights", sdcl_weight_options (w));
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, w->part[0]);
  sdcl_arg_mem (&a, u);
  sdcl_arg_int (&a, (int) C);
  sdcl_arg_int (&a, (int) Opad);
  sdcl_arg_int (&a, (int) panel0);
  size_t local[2] = { 64, 1 }, global[2] = { sdcl_round_up ((size_t) C, 64), (size_t) Opad / 16 };
  sdcl_cl_run (cl, k, 2, global, local);
}

/* The transformed weight of w kept beside it, made at its first use; NULL
 * when none is kept or it does not fit.  Layers with fewer than
 * WINO_KEEP_MIN_TILES tiles never keep theirs: at 512x512 those are the
 * 1280-channel 16x16 layers, whose kept U would add 2.8 GB to SD 2.x's
 * resident UNet for half of their time, while making U per use still
 * leaves them 1.4x as fast as the direct convolution (BENCHMARKS.md,
 * step 19).  U's values are the same either way. */
static const sdcl_w *
kept_weight (sdcl_cl *cl, const sdcl_w *w, int64_t tiles)
{
  if (!sdcl_cl_derived_kept (cl) || tiles < WINO_KEEP_MIN_TILES)
    return NULL;
  sdcl_w *u = sdcl_cl_derived_weight (cl, w);
  if (u)
    return u;
  const int64_t O = w->d[0], C = w->d[1], Opad = (O + 15) / 16 * 16;
  const int64_t shape[3] = { WINO_POINTS, Opad, C };
  const size_t bytes = (size_t) WINO_POINTS * Opad * C * sizeof (float);
  u = sdcl_cl_derived_weight_new (cl, w, SDCL_WT_F32, 3, shape, SDCL_W_PANEL, bytes);
  if (u)
    run_weights (cl, w, u->part[0], C, 0, Opad);
  return u;
}

/* Where U comes from in one convolution: the kept transform (all output
 * channels at once), or slices of `step` output channels made into the
 * scratch before each use (sdcl_cl_set_derived_kept).  Slices keep the
 * scratch within the budget whatever the layer (an SDXL 2560 -> 1280
 * convolution would take 472 MB at once); the weight transform is then
 * repeated for every chunk of tiles, which at batch 1 and 512x512 is one
 * chunk per layer (BENCHMARKS.md, step 16). */
typedef struct {
  const sdcl_w *kept;
  cl_mem scratch;
  int64_t step;
} wino_u;

static bool
wino_u_get (sdcl_cl *cl, const sdcl_w *w, int64_t tiles, uint64_t budget, wino_u *u)
{
  const int64_t O = w->d[0], C = w->d[1];
  u->kept = kept_weight (cl, w, tiles);
  u->scratch = NULL;
  u->step = O;
  if (u->kept)
    return true;
  /* Slices of a multiple of 16 channels (the panels), of the work-group's
   * 128 where that fits, as even as those allow. */
  const int64_t per_channel = WINO_POINTS * C * (int64_t) sizeof (float);
  int64_t most = MAX ((int64_t) budget / per_channel / 16 * 16, 16);
  if (most >= WINO_WG_COLUMNS)
    most = most / WINO_WG_COLUMNS * WINO_WG_COLUMNS;
  const int64_t slices = (O + most - 1) / most, align = most % WINO_WG_COLUMNS ? 16 : WINO_WG_COLUMNS;
  u->step = MIN (most, ((O + slices - 1) / slices + align - 1) / align * align);
  u->scratch = sdcl_cl_derived_scratch (cl, (size_t) MAX ((uint64_t) (u->step * per_channel), budget));
  return u->scratch != NULL;
}

/* The U slice of output channels [o0, o0 + n), made now where it is not kept. */
static cl_mem
wino_u_slice (sdcl_cl *cl, const sdcl_w *w, const wino_u *u, int64_t o0, int64_t n)
{
  if (u->kept)
    return u->kept->part[0];
  run_weights (cl, w, u->scratch, w->d[1], o0 / 16, (n + 15) / 16 * 16);
  return u->scratch;
}

static void
run_input (sdcl_cl *cl, const sdcl_t *x, cl_mem v, const wino_shape *s, int p0, int P)
{
  cl_kernel k = sdcl_cl_kernel (cl, "winograd_input", "");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, v);
  sdcl_arg (&a, sizeof *s, s);
  sdcl_arg_int (&a, p0);
  sdcl_arg_int (&a, P);
  size_t local[2] = { 64, 1 }, global[2] = { sdcl_round_up ((size_t) s->C, 64), (size_t) P };
  sdcl_cl_run (cl, k, 2, global, local);
}

/* M's columns [o0, o0 + N) of its O from the U slice u. */
static void
run_gemm (sdcl_cl *cl, cl_mem u, cl_mem v, cl_mem m, int P, int N, int C, int O, int o0)
{
  const int nc = sdcl_gemm_panel_columns (cl);
  /* 4 tiles per work-item at 16 columns (AVX2) when there are few tiles:
   * on AMD Zen 3 (BENCHMARKS.md step 22) 640 channels at 16x16 (16 tiles)
   * ran at 249-271 GFLOP/s against 180-227 with 6; level at 64 tiles, and
   * behind on the VAE's large GEMMs (512 channels at 128x128: 1.49
   * against 1.38 CPU s). */
  const int mr = nc == 16 && P < 64 ? 4 : WINO_MR;
  char options[64];
  g_snprintf (options, sizeof options, "-DMR=%d -DNC=%d", mr, nc);
  cl_kernel k = sdcl_cl_kernel (cl, "winograd_gemm", options);
  if (!k)
    return;
  size_t local[3] = { 1, WINO_WG_COLUMNS / nc, 1 };
  if (sdcl_kernel_max_wg (cl, k) < local[1])
    local[1] = 1;
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, v);
  sdcl_arg_mem (&a, u);
  sdcl_arg_mem (&a, m);
  sdcl_arg_int (&a, P);
  sdcl_arg_int (&a, N);
  sdcl_arg_int (&a, C);
  sdcl_arg_int (&a, O);
  sdcl_arg_int (&a, o0);
  size_t global[3] = { sdcl_div_up ((size_t) P, mr),
                       sdcl_round_up (sdcl_div_up ((size_t) N, nc), local[1]), WINO_POINTS };
  sdcl_cl_run (cl, k, 3, global, local);
}

static void
run_output (sdcl_cl *cl, cl_mem m, const sdcl_w *bias, const sdcl_t *residual, sdcl_t *y, int O,
            const wino_shape *s, int p0, int P)
{
  cl_kernel k = sdcl_cl_kernel (cl, "winograd_output", "");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, m);
  sdcl_arg_mem (&a, y->buf);
  sdcl_arg_mem (&a, bias ? bias->part[0] : NULL);
  sdcl_arg_int (&a, bias != NULL);
  sdcl_arg_int (&a, sdcl_w_is_half (bias));
  sdcl_arg_mem (&a, residual ? residual->buf : NULL);
  sdcl_arg_int (&a, residual != NULL);
  sdcl_arg_int (&a, O);
  sdcl_arg (&a, sizeof *s, s);
  sdcl_arg_int (&a, p0);
  sdcl_arg_int (&a, P);
  size_t local[2] = { 64, 1 }, global[2] = { sdcl_round_up ((size_t) O, 64), (size_t) P };
  sdcl_cl_run (cl, k, 2, global, local);
}

bool
sdcl_conv_winograd (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                    const sdcl_conv_desc *d, const sdcl_t *residual, sdcl_t *y)
{
  const int64_t B = x->d[0], C = x->d[1], O = y->d[1], Ho = y->d[2], Wo = y->d[3];
  if (!sdcl_conv_winograd_applies (w, d, B, C, O, Ho, Wo))
    return false;
  wino_shape s = {
    .C = (cl_int) C, .H = (cl_int) x->d[2], .W = (cl_int) x->d[3],
    .UH = (cl_int) (d->upsample ? d->up_h : x->d[2]),
    .UW = (cl_int) (d->upsample ? d->up_w : x->d[3]),
    .Ho = (cl_int) Ho, .Wo = (cl_int) Wo, .pad_t = d->pad_t, .pad_l = d->pad_l,
    .wrap = d->circular, .tiles_x = (cl_int) ((Wo + 3) / 4),
  };
  s.tiles_img = s.tiles_x * (cl_int) ((Ho + 3) / 4);
  /* Tiles per chunk: V [36, P, C] and M [36, P, O] within the budget. */
  const int64_t tiles = wino_tiles (B, Ho, Wo), widest = MAX (C, O);
  const uint64_t budget = MIN ((uint64_t) WINO_SCRATCH_BYTES, sdcl_cl_max_alloc (cl) / 2);
  const int64_t per_tile = WINO_POINTS * widest * (int64_t) sizeof (float);
  const int64_t chunk = CLAMP ((int64_t) budget / per_tile, 1, tiles);
  /* A chunked buffer has the budget's size, so the pool keeps one per
   * role rather than one per shape. */
  const int64_t floats = chunk < tiles ? MAX ((int64_t) (budget / sizeof (float)),
                                              chunk * WINO_POINTS * widest)
                                       : tiles * WINO_POINTS * widest;
  sdcl_t v, m;
  sdcl_t_alloc (cl, &v, 1, floats, 0, 0, 0);
  sdcl_t_alloc (cl, &m, 1, floats, 0, 0, 0);
  /* U after V and M: making room for those may drop derived buffers. */
  wino_u u;
  const bool ok = sdcl_cl_ok (cl) && wino_u_get (cl, w, tiles, budget, &u);
  /* One slice for every chunk of tiles: made once. */
  const cl_mem whole = ok && u.step >= O ? wino_u_slice (cl, w, &u, 0, O) : NULL;
  for (int64_t p0 = 0; ok && p0 < tiles && sdcl_cl_ok (cl); p0 += chunk)
    {
      const int P = (int) MIN (chunk, tiles - p0);
      run_input (cl, x, v.buf, &s, (int) p0, P);
      for (int64_t o0 = 0; o0 < O; o0 += u.step)
        {
          const int64_t n = MIN (u.step, O - o0);
          const cl_mem us = whole ? whole : wino_u_slice (cl, w, &u, o0, n);
          run_gemm (cl, us, v.buf, m.buf, P, (int) n, (int) C, (int) O, (int) o0);
        }
      run_output (cl, m.buf, bias, residual, y, (int) O, &s, (int) p0, P);
    }
  /* The in-order queue runs every later use of these buffers after the passes. */
  sdcl_t_release (cl, &v);
  sdcl_t_release (cl, &m);
  /* Without U (no room even for the scratch), the direct convolution runs. */
  return ok || !sdcl_cl_ok (cl);
}

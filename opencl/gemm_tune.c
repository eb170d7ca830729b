/* `sdcl tune` (gemm_tune.h): measure, tune, measure again, choose, store.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "config.h"
#include "gemm_tune.h"
#include "clrt_internal.h"
#include "attention.h"
#include "conv_tiled.h"
#include "gemm.h"
#include "gemm_config.h"
#include "ops.h"
#include "tune_ext.h"
#if SDCL_HAVE_CLBLAST_TUNE
#include "clblast_tune.h"
#endif

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Stable-Diffusion-shaped GEMMs (M x N x K), short enough that measuring
 * all of them for every backend takes well under a minute. */
static const struct {
  int m, n, k;
  const char *what;
} shapes[] = {
  { 4096, 320, 320, "UNet attention projection, 64x64 latent" },
  { 4096, 1280, 320, "UNet 320 -> 1280 linear, 64x64 latent" },
  { 1024, 640, 5760, "UNet 3x3 convolution 640 -> 640 at 32x32 (K = 640 x 9)" },
  { 77, 768, 3072, "text encoder MLP (77 tokens)" },
};
G_STATIC_ASSERT (G_N_ELEMENTS (shapes) <= SDCL_GEMM_MAX_SHAPES);

/* The problem CLBlast's tuner times each configuration on.  Square: with
 * CLBlast 1.5.3 on PoCL, M != N (1024x384x320, 1024x384x256) makes its
 * GEMMK 1 search fail as a whole (kUnexpectedError: no configuration
 * passes its check against the reference), while 256^3, 512^3 and 1024^3
 * work.  512 keeps each timing short; M and N are multiples of 128 as the
 * tuner requires. */
enum { TUNE_M = 512, TUNE_N = 512, TUNE_K = 512 };

/* Timed runs per measurement after the warm-up; the best counts (the
 * machine may be shared). */
enum { RUNS = 2 };

/* Seconds between "still tuning" lines. */
enum { HEARTBEAT_SECONDS = 15 };

static double
flop (int i)
{
  return 2.0 * shapes[i].m * shapes[i].n * shapes[i].k;
}

/* GFLOP/s of op_linear (no bias) on shape i with the context's backend
 * and `type` weights: the best of RUNS after a warm-up; 0 on failure. */
static double
gflops_of (sdcl_cl *cl, int i, sdcl_wtype type, const float *x, const float *w)
{
  const int m = shapes[i].m, n = shapes[i].n, k = shapes[i].k;
  const int64_t wshape[2] = { n, k };
  sdcl_t tx, ty;
  sdcl_w tw;
  sdcl_t_alloc (cl, &tx, 2, m, k, 0, 0);
  sdcl_t_upload (cl, &tx, x);
  sdcl_t_alloc (cl, &ty, 2, m, n, 0, 0);
  sdcl_w_upload (cl, &tw, type, 2, wshape, w, SDCL_SRC_F32);
  op_linear (cl, &tx, &tw, NULL, NULL, SDCL_ACT_NONE, &ty); /* warm-up: kernel builds */
  double best = 0;
  for (int r = 0; r < RUNS && sdcl_cl_finish (cl); r++)
    {
      const gint64 t0 = g_get_monotonic_time ();
      op_linear (cl, &tx, &tw, NULL, NULL, SDCL_ACT_NONE, &ty);
      if (!sdcl_cl_finish (cl))
        break;
      const double s = (double) (g_get_monotonic_time () - t0) / 1e6;
      best = MAX (best, flop (i) / MAX (s, 1e-9) / 1e9);
    }
  sdcl_t_release (cl, &tx);
  sdcl_t_release (cl, &ty);
  sdcl_w_free (&tw);
  return sdcl_tune_report_ok (cl, "the GEMM") ? best : 0;
}

/* Host data of every shape, uniform in [-1, 1] (weights scaled by 1/sqrt(K)). */
typedef struct {
  float *x[G_N_ELEMENTS (shapes)], *w[G_N_ELEMENTS (shapes)];
} host_data;

static void
host_data_init (host_data *h)
{
  GRand *rng = g_rand_new_with_seed (20261204);
  for (size_t i = 0; i < G_N_ELEMENTS (shapes); i++)
    {
      const size_t nx = (size_t) shapes[i].m * shapes[i].k, nw = (size_t) shapes[i].n * shapes[i].k;
      const double ws = 1.0 / sqrt ((double) shapes[i].k);
      h->x[i] = g_new (float, nx);
      h->w[i] = g_new (float, nw);
      for (size_t j = 0; j < nx; j++)
        h->x[i][j] = (float) g_rand_double_range (rng, -1, 1);
      for (size_t j = 0; j < nw; j++)
        h->w[i][j] = (float) g_rand_double_range (rng, -ws, ws);
    }
  g_rand_free (rng);
}

static void
host_data_clear (host_data *h)
{
  for (size_t i = 0; i < G_N_ELEMENTS (shapes); i++)
    g_free (h->x[i]), g_free (h->w[i]);
}

/* Fills column `fig` of c->shapes with `backend` and `type` weights; c
 * holds the last c->nshapes of `shapes`. */
static void
measure (sdcl_cl *cl, sdcl_gemm_config *c, const host_data *h, sdcl_gemm_fig fig,
         sdcl_gemm_backend backend, sdcl_wtype type)
{
  sdcl_cl_set_gemm_backend (cl, backend);
  fprintf (stderr, "measuring %s:", sdcl_gemm_fig_names[fig]);
  const size_t first = G_N_ELEMENTS (shapes) - (size_t) c->nshapes;
  for (size_t i = first; i < G_N_ELEMENTS (shapes); i++)
    {
      double *g = &c->shapes[i - first].gflops[fig];
      *g = gflops_of (cl, (int) i, type, h->x[i], h->w[i]);
      fprintf (stderr, " %.1f", *g);
    }
  fprintf (stderr, " GFLOP/s\n");
}

/* Total seconds of one pass over c's shapes for column fig (infinite if
 * any shape failed). */
static double
total_seconds (const sdcl_gemm_config *c, sdcl_gemm_fig fig)
{
  double s = 0;
  for (int i = 0; i < c->nshapes; i++)
    {
      const sdcl_gemm_shape *sh = &c->shapes[i];
      s += sh->gflops[fig] > 0 ? 2.0 * sh->m * sh->n * sh->k / sh->gflops[fig] / 1e9 : INFINITY;
    }
  return s;
}

/* ---- CLBlast's tuner --------------------------------------------------- */

#if SDCL_HAVE_CLBLAST_TUNE

/* CLBlast 1.5's Xgemm search spaces (its tuning/kernels/xgemm.hpp, V = 2
 * and V = 12), per parameter in sdcl_xgemm_param_names order. */
typedef struct {
  int n;
  size_t v[5];
} value_list;

static const value_list space_gemmk0[SDCL_XGEMM_NPARAMS] = {
  { 1, { 0 } }, { 1, { 1 } }, { 2, { 16, 32 } }, { 1, { 2 } },
  { 3, { 8, 16, 32 } }, { 3, { 8, 16, 32 } }, { 4, { 16, 32, 64, 128 } }, { 3, { 8, 16, 32 } },
  { 3, { 8, 16, 32 } }, { 4, { 16, 32, 64, 128 } }, { 2, { 0, 1 } }, { 2, { 0, 1 } },
  { 2, { 0, 1 } }, { 2, { 0, 1 } }, { 4, { 1, 2, 4, 8 } }, { 4, { 1, 2, 4, 8 } },
};
static const value_list space_gemmk1[SDCL_XGEMM_NPARAMS] = {
  { 1, { 1 } }, { 5, { 1, 2, 4, 8, 16 } }, { 1, { 1 } }, { 1, { 1 } },
  { 5, { 2, 4, 8, 16, 32 } }, { 5, { 2, 4, 8, 16, 32 } }, { 5, { 8, 16, 32, 64, 128 } },
  { 5, { 2, 4, 8, 16, 32 } }, { 5, { 2, 4, 8, 16, 32 } }, { 5, { 8, 16, 32, 64, 128 } },
  { 1, { 0 } }, { 1, { 0 } }, { 1, { 0 } }, { 1, { 0 } }, { 4, { 1, 2, 4, 8 } },
  { 4, { 1, 2, 4, 8 } },
};

/* Configurations of a space that CLBlast keeps for this device: the ones
 * sdcl_xgemm_params_valid accepts (the same rules). */
static long
count_space (const value_list *space, const sdcl_device_info *dev)
{
  int at[SDCL_XGEMM_NPARAMS] = { 0 };
  size_t v[SDCL_XGEMM_NPARAMS];
  long count = 0;
  for (;;)
    {
      for (int i = 0; i < SDCL_XGEMM_NPARAMS; i++)
        v[i] = space[i].v[at[i]];
      count += sdcl_xgemm_params_valid (v, dev->max_work_group_size, dev->local_mem_bytes, NULL, 0);
      int i = 0;
      while (i < SDCL_XGEMM_NPARAMS && ++at[i] == space[i].n)
        at[i++] = 0;
      if (i == SDCL_XGEMM_NPARAMS)
        return count;
    }
}

typedef struct {
  cl_command_queue queue;
  double fraction;
  size_t values[SDCL_XGEMM_NPARAMS];
  int status;
  gint done;
} tune_job;

static gpointer
tune_thread (gpointer p)
{
  tune_job *job = p;
  job->status = sdcl_clblast_tune_xgemm (job->queue, TUNE_M, TUNE_N, TUNE_K, job->fraction,
                                         SDCL_XGEMM_NPARAMS, sdcl_xgemm_param_names, job->values);
  g_atomic_int_set (&job->done, 1);
  return NULL;
}

/* Runs CLBlast's tuner in a thread and prints a line every
 * HEARTBEAT_SECONDS (it reports nothing while it works).  True with the
 * parameters in c->xgemm. */
static bool
tune_xgemm (sdcl_cl *cl, double fraction, sdcl_gemm_config *c)
{
  const sdcl_device_info *dev = sdcl_cl_device (cl);
  const long n0 = count_space (space_gemmk0, dev), n1 = count_space (space_gemmk1, dev);
  const long builds = (long) (n0 * fraction) + (long) (n1 * fraction);
  fprintf (stderr,
           "tuning CLBlast's Xgemm at %dx%dx%d: %.3g%% of %ld + %ld configurations, about %ld "
           "kernel builds\n",
           TUNE_M, TUNE_N, TUNE_K, 100 * fraction, n0, n1, builds);
  if ((long) (n0 * fraction) < 1 || (long) (n1 * fraction) < 1)
    {
      fprintf (stderr, "  the fraction leaves one of CLBlast's two searches empty: use at least "
                       "%.2g\n", 1.0 / (double) MIN (n0, n1));
      return false;
    }
  tune_job job = { .queue = sdcl_cl_queue (cl), .fraction = fraction };
  const gint64 t0 = g_get_monotonic_time ();
  GThread *thread = g_thread_new ("sdcl-tune", tune_thread, &job);
  gint64 next = HEARTBEAT_SECONDS;
  while (!g_atomic_int_get (&job.done))
    {
      g_usleep (G_USEC_PER_SEC / 4);
      const gint64 s = (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
      if (s >= next)
        {
          fprintf (stderr, "  still tuning: %" G_GINT64_FORMAT " s\n", s);
          next += HEARTBEAT_SECONDS;
        }
    }
  g_thread_join (thread);
  c->tune_seconds = (double) (g_get_monotonic_time () - t0) / 1e6;
  char why[200];
  if (job.status != 0)
    fprintf (stderr, "  CLBlast's tuner failed (status %d)\n", job.status);
  else if (!sdcl_xgemm_params_valid (job.values, dev->max_work_group_size, dev->local_mem_bytes,
                                     why, sizeof why))
    fprintf (stderr, "  CLBlast's tuner returned parameters sdcl rejects: %s\n", why);
  else
    {
      memcpy (c->xgemm, job.values, sizeof c->xgemm);
      c->has_xgemm = true;
      fprintf (stderr, "  done in %.0f s:", c->tune_seconds);
      for (int i = 0; i < SDCL_XGEMM_NPARAMS; i++)
        fprintf (stderr, " %s=%zu", sdcl_xgemm_param_names[i], c->xgemm[i]);
      fprintf (stderr, "\n");
      return true;
    }
  return false;
}

#endif /* SDCL_HAVE_CLBLAST_TUNE */

/* ---- tile configurations of the portable kernels ----------------------- */

/* The problems the tile configurations are timed on: every shape and
 * 1024 tokens of attention, or (quick, for tests) the smallest shape and
 * 128 tokens; and how many A/B rounds the extension variants get. */
typedef struct {
  const host_data *h;
  size_t first_shape;
  int tokens;
  int ext_rounds;
} tile_problems;

/* Seconds of one pass over the shapes with F16 (half) or F32 weights and
 * the context's current tile choice; infinite when a shape failed. */
static double
gemm_seconds (sdcl_cl *cl, const tile_problems *p, int half)
{
  const host_data *h = p->h;
  double s = 0;
  for (size_t i = p->first_shape; i < G_N_ELEMENTS (shapes); i++)
    {
      const double g = gflops_of (cl, (int) i, half ? SDCL_WT_F16 : SDCL_WT_F32, h->x[i], h->w[i]);
      s += g > 0 ? flop ((int) i) / g / 1e9 : INFINITY;
    }
  return s;
}

/* Seconds of the best of RUNS attention runs after a warm-up: n queries
 * and keys, 8 heads (1 for the 512-channel head); infinite on failure. */
static double
attention_seconds (sdcl_cl *cl, int dh, int n)
{
  const int heads = dh >= 512 ? 1 : 8;
  const int64_t values = (int64_t) n * heads * dh;
  float *data = g_new (float, values);
  for (int64_t i = 0; i < values; i++)
    data[i] = (float) ((i * 7919) % 1999) / 1999.0f - 0.5f;
  sdcl_t q, o;
  sdcl_t_alloc (cl, &q, 3, 1, n, heads * dh, 0);
  sdcl_t_upload (cl, &q, data);
  sdcl_t_alloc (cl, &o, 3, 1, n, heads * dh, 0);
  g_free (data);
  double best = INFINITY;
  for (int r = -1; r < RUNS && sdcl_cl_finish (cl); r++)
    {
      const gint64 t0 = g_get_monotonic_time ();
      op_attention (cl, &q, &q, &q, heads, 0.125f, false, &o);   /* k = v = q: only time */
      if (!sdcl_cl_finish (cl))
        break;
      if (r >= 0)
        best = MIN (best, (double) (g_get_monotonic_time () - t0) / 1e6);
    }
  sdcl_t_release (cl, &q);
  sdcl_t_release (cl, &o);
  return sdcl_tune_report_ok (cl, "attention") ? best : INFINITY;
}

/* Times every candidate of *slot's table that the limits allow (`fits`)
 * and leaves *slot at the fastest (-1 when none ran).  `arg` is the
 * weight type for gemm_tiled (1: F16), the head width for attention_tiled. */
typedef bool (*fits_fn) (sdcl_cl *cl, int index, int arg);
typedef double (*seconds_fn) (sdcl_cl *cl, const tile_problems *p, int arg);

static void
choose_tile (sdcl_cl *cl, const char *what, int *slot, int count, fits_fn fits,
             seconds_fn seconds, int arg, const tile_problems *p)
{
  double best = INFINITY;
  int best_index = -1;
  fprintf (stderr, "timing %s:", what);
  for (int i = 0; i < count; i++)
    {
      if (!fits (cl, i, arg))
        continue;
      *slot = i;
      const double s = seconds (cl, p, arg);
      fprintf (stderr, " %d: %.4f s", i, s);
      if (s < best)
        best = s, best_index = i;
    }
  *slot = best_index;
  fprintf (stderr, "; fastest %d\n", best_index);
}

static bool
gemm_fits (sdcl_cl *cl, int index, int half)
{
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  const sdcl_tiled_config *c = &sdcl_tiled_configs[index];
  if (sdcl_tiled_wg_size (c) > max_wg || sdcl_tiled_local_bytes (c) > local_mem)
    return false;
  cl_kernel k = sdcl_tiled_kernel (cl, half, index);
  return k && sdcl_tiled_kernel_fits (cl, k, index, local_mem);
}


/* conv_tiled candidates: as gemm_tiled's, with the convolution's table. */
static bool
conv_fits (sdcl_cl *cl, int index, int half)
{
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  const sdcl_tiled_config *c = &sdcl_conv_tiled_configs[index];
  if (sdcl_tiled_wg_size (c) > max_wg || sdcl_conv_tiled_local_bytes (c) > local_mem)
    return false;
  const sdcl_w w = { .type = half ? SDCL_WT_F16 : SDCL_WT_F32 };
  cl_kernel k = sdcl_conv_tiled_kernel (cl, &w, index, 3, 3);
  return k && sdcl_conv_tiled_fits (cl, k, index, local_mem);
}

/* Seconds of the best of RUNS runs of the UNet's 3x3 convolution 320 ->
 * 320 at 32 x (tokens / 32) pixels (64 channels for the quick timing of
 * the tests) with the context's tile choice; infinite on failure. */
static double
conv_seconds (sdcl_cl *cl, const tile_problems *p, int half)
{
  const int C = p->tokens >= 1024 ? 320 : 64, H = 32, W = MAX (1, p->tokens / 32);
  const int64_t wshape[4] = { C, C, 3, 3 };
  const int64_t nx = (int64_t) C * H * W, nw = (int64_t) C * C * 9;
  float *data = g_new (float, MAX (nx, nw));
  for (int64_t i = 0; i < MAX (nx, nw); i++)
    data[i] = (float) ((i * 7919) % 1999) / 1999.0f - 0.5f;
  sdcl_t x, y;
  sdcl_w w;
  sdcl_t_alloc (cl, &x, 4, 1, C, H, W);
  sdcl_t_upload (cl, &x, data);
  sdcl_t_alloc (cl, &y, 4, 1, C, H, W);
  sdcl_w_upload (cl, &w, half ? SDCL_WT_F16 : SDCL_WT_F32, 4, wshape, data, SDCL_SRC_F32);
  g_free (data);
  const sdcl_conv_desc d = { .stride = 1, .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1 };
  double best = INFINITY;
  for (int r = -1; r < RUNS && sdcl_cl_finish (cl); r++)
    {
      const gint64 t0 = g_get_monotonic_time ();
      op_conv2d (cl, &x, &w, NULL, &d, NULL, &y);
      if (!sdcl_cl_finish (cl))
        break;
      if (r >= 0)
        best = MIN (best, (double) (g_get_monotonic_time () - t0) / 1e6);
    }
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &y);
  sdcl_w_free (&w);
  return sdcl_tune_report_ok (cl, "the convolution") ? best : INFINITY;
}

/* A candidate fits when the choice, preferring it, takes it. */
static bool
attention_fits (sdcl_cl *cl, int index, int dh)
{
  sdcl_tile_choice *t = sdcl_cl_tile_choice (cl);
  int w = 0;
  while (sdcl_attn_tuned_widths[w] != dh)
    w++;
  const int saved = t->attention[w];
  t->attention[w] = index;
  int config = -1;
  cl_kernel k = NULL;
  const bool taken = sdcl_attention_choice (cl, dh, false, &config, &k) == SDCL_ATTN_TILED
                     && config == index;
  t->attention[w] = saved;
  return taken && sdcl_tune_report_ok (cl, "attention_tiled build");
}

static double
attention_candidate_seconds (sdcl_cl *cl, const tile_problems *p, int dh)
{
  return attention_seconds (cl, dh, p->tokens);
}

/* One pass of the work half math changes: the GEMM shapes and the
 * convolution with F16 weights (the tiles just chosen). */
static double
half_pass (sdcl_cl *cl, const void *problems)
{
  const tile_problems *p = problems;
  const bool conv = sdcl_conv_kernel_choice (cl, &(sdcl_w) { 0 }) == SDCL_CONV_TILED;
  return gemm_seconds (cl, p, 1) + (conv ? conv_seconds (cl, p, 1) : 0);
}

/* The optional extension variants against the plain kernels, on the
 * tiles the variants' defaults chose (tune_ext.h). */
static void
time_extensions (sdcl_cl *cl, const tile_problems *p)
{
  if (sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_TILED)
    sdcl_tune_ext (cl, SDCL_EXT_FP16, half_pass, p, p->ext_rounds);
  else
    fprintf (stderr, "half against fp32: not timed (gemm_tiled does not run: SDCL_GEMM_KERNEL)\n");
  const int norms[2] = { p->tokens >= 1024 ? 320 : 64, p->tokens };
  sdcl_tune_ext (cl, SDCL_EXT_SUBGROUPS, sdcl_tune_norm_seconds, norms, p->ext_rounds);
}

/* The portable kernels' tile configurations, each timed with the own
 * backend; the context's choice is left at the fastest.  Then the
 * extension variants. */
static void
time_tiles (sdcl_cl *cl, const tile_problems *p)
{
  sdcl_tile_choice *t = sdcl_cl_tile_choice (cl);
  sdcl_cl_set_gemm_backend (cl, SDCL_GEMM_OWN);
  if (sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_TILED)
    for (int half = 1; half >= 0; half--)
      choose_tile (cl, half ? "gemm_tiled, F16 weights" : "gemm_tiled, F32 weights",
                   &t->gemm[half], sdcl_n_tiled_configs, gemm_fits, gemm_seconds, half, p);
  if (sdcl_conv_kernel_choice (cl, &(sdcl_w) { 0 }) == SDCL_CONV_TILED)
    for (int half = 1; half >= 0; half--)
      choose_tile (cl, half ? "conv_tiled, F16 weights" : "conv_tiled, F32 weights",
                   &t->conv[half], sdcl_n_conv_tiled_configs, conv_fits, conv_seconds, half, p);
  for (int w = 0; w < SDCL_ATTN_TUNED_WIDTHS; w++)
    {
      char what[64];
      g_snprintf (what, sizeof what, "attention_tiled, head width %d", sdcl_attn_tuned_widths[w]);
      choose_tile (cl, what, &t->attention[w], sdcl_n_attn_tiled_configs, attention_fits,
                   attention_candidate_seconds, sdcl_attn_tuned_widths[w], p);
    }
  time_extensions (cl, p);
}

static bool
panel_fits (sdcl_cl *cl, int index, int half)
{
  (void) cl, (void) half;
  return sdcl_panel_config_fits (index);
}

/* Devices that run the portable kernels (GPUs, or SDCL_KERNELS=portable)
 * time those; CPUs time the register tiles of gemm_panel (F16 weights,
 * what the pipelines upload). */
static const tile_problems full_problems = { .first_shape = 0, .tokens = 1024, .ext_rounds = 5 };
static const tile_problems quick_problems = { .first_shape = G_N_ELEMENTS (shapes) - 1,
                                              .tokens = 128, .ext_rounds = 3 };

static void
tune_tiles (sdcl_cl *cl, const host_data *h, bool quick, sdcl_gemm_config *c)
{
  tile_problems p = quick ? quick_problems : full_problems;
  p.h = h;
  sdcl_tile_choice_clear (sdcl_cl_tile_choice (cl));
  if (sdcl_cl_cpu_kernels (cl))
    {
      sdcl_cl_set_gemm_backend (cl, SDCL_GEMM_OWN);
      choose_tile (cl, "gemm_panel, F16 weights", &sdcl_cl_tile_choice (cl)->panel,
                   sdcl_n_panel_configs, panel_fits, gemm_seconds, 1, &p);
    }
  else
    time_tiles (cl, &p);
  c->tiles = *sdcl_cl_tile_choice (cl);
}

void
sdcl_tune_tiles_quick (sdcl_cl *cl)
{
  host_data h;
  host_data_init (&h);
  tile_problems p = quick_problems;
  p.h = &h;
  sdcl_tile_choice_clear (sdcl_cl_tile_choice (cl));
  time_tiles (cl, &p);
  host_data_clear (&h);
}

/* ---- the whole run ----------------------------------------------------- */

static void
print_figure (double gflops)
{
  if (gflops > 0)
    printf (" %12.1f", gflops);
  else
    printf (" %12s", "-");
}

static void
seconds_text (double s, char *out, size_t size)
{
  if (isfinite (s))
    g_snprintf (out, size, "%.3f s", s);
  else
    g_strlcpy (out, "not measured", size);
}

static void
print_table (const sdcl_gemm_config *c)
{
  static const char *const heads[SDCL_FIG_COUNT] = {
    "own F16", "own F32", "CLBlast F16", "CLBlast F32", "CLB. default",
  };
  printf ("\nGFLOP/s (best of %d runs; CLBlast F16 = weights widened to F32, then SGEMM;\n"
          "CLB. default = CLBlast's built-in parameters, F32):\n\n%-22s", RUNS, "M x N x K");
  for (int f = 0; f < SDCL_FIG_COUNT; f++)
    printf (" %12s", heads[f]);
  printf ("\n");
  for (int i = 0; i < c->nshapes; i++)
    {
      char shape[32];
      g_snprintf (shape, sizeof shape, "%d x %d x %d", c->shapes[i].m, c->shapes[i].n,
                  c->shapes[i].k);
      printf ("%-22s", shape);
      for (int f = 0; f < SDCL_FIG_COUNT; f++)
        print_figure (c->shapes[i].gflops[f]);
      printf ("\n");
    }
  if (SDCL_HAVE_CLBLAST && !c->has_xgemm)
    printf ("(CLBlast was not tuned: its F16 and F32 columns use the built-in parameters too)\n");
  char own[32], clblast[32];
  seconds_text (total_seconds (c, SDCL_FIG_OWN_F16), own, sizeof own);
  seconds_text (total_seconds (c, SDCL_FIG_CLBLAST_F16), clblast, sizeof clblast);
  printf ("\nOne pass over these shapes with F16 weights (sdcl's default): own %s, CLBlast %s\n"
          "Choice: %s\n",
          own, clblast, c->backend == SDCL_GEMM_CLBLAST ? "clblast" : "own");
  printf ("Fastest tile configurations (indices into the tables of opencl/gemm.c and "
          "opencl/conv_tiled.c, opencl/attention.c; -1 = not timed): gemm_tiled F16 %d, F32 %d; "
          "conv_tiled F16 %d, F32 %d; attention_tiled",
          c->tiles.gemm[1], c->tiles.gemm[0], c->tiles.conv[1], c->tiles.conv[0]);
  for (int w = 0; w < SDCL_ATTN_TUNED_WIDTHS; w++)
    printf (" %d: %d%s", sdcl_attn_tuned_widths[w], c->tiles.attention[w],
            w + 1 < SDCL_ATTN_TUNED_WIDTHS ? "," : "\n");
  for (int e = 0; e < SDCL_N_EXTS; e++)
    {
      const sdcl_ext_tuned *t = &c->tiles.ext[e];
      const char *variant = sdcl_ext_tuned_word (e, true), *plain = sdcl_ext_tuned_word (e, false);
      printf ("%s (%s): ", e == SDCL_EXT_FP16 ? "Half math" : "Sub-group reductions",
              sdcl_ext_label (e));
      if (t->use < 0)
        printf ("not timed\n");
      else
        printf ("median %s %.4f s, %s %.4f s: %s\n", variant, t->seconds[1], plain, t->seconds[0],
                t->use ? variant : plain);
    }
}

/* Measures, tunes and chooses on a context that read no tuning file.
 * Quick: the smallest shape only, the quick tile problems, no CLBlast
 * tuning (fraction 0 in the file). */
static void
run (sdcl_cl *cl, double fraction, bool quick, sdcl_gemm_config *c)
{
  host_data h;
  host_data_init (&h);
  c->fraction = quick ? 0 : fraction;
  c->nshapes = quick ? 1 : (int) G_N_ELEMENTS (shapes);
  const size_t first = G_N_ELEMENTS (shapes) - (size_t) c->nshapes;
  for (size_t i = first; i < G_N_ELEMENTS (shapes); i++)
    {
      sdcl_gemm_shape *s = &c->shapes[i - first];
      s->m = shapes[i].m, s->n = shapes[i].n, s->k = shapes[i].k;
      fprintf (stderr, "shape %zu: %d x %d x %d, %s\n", i + 1, shapes[i].m, shapes[i].n,
               shapes[i].k, shapes[i].what);
    }
  measure (cl, c, &h, SDCL_FIG_OWN_F16, SDCL_GEMM_OWN, SDCL_WT_F16);
  measure (cl, c, &h, SDCL_FIG_OWN_F32, SDCL_GEMM_OWN, SDCL_WT_F32);
#if SDCL_HAVE_CLBLAST
  /* Built-in parameters first: the override is process-wide. */
  measure (cl, c, &h, SDCL_FIG_CLBLAST_DEFAULT_F32, SDCL_GEMM_CLBLAST, SDCL_WT_F32);
#if SDCL_HAVE_CLBLAST_TUNE
  char msg[200];
  if (quick)
    fprintf (stderr, "quick: CLBlast is not tuned\n");
  else if (tune_xgemm (cl, fraction, c)
           && !sdcl_gemm_clblast_override (sdcl_cl_device_id (cl), c->xgemm, msg, sizeof msg))
    {
      fprintf (stderr, "  %s\n", msg);
      c->has_xgemm = false;
    }
#else
  fprintf (stderr, "this sdcl was built without a C++ compiler: CLBlast cannot be tuned\n");
#endif
  measure (cl, c, &h, SDCL_FIG_CLBLAST_F16, SDCL_GEMM_CLBLAST, SDCL_WT_F16);
  measure (cl, c, &h, SDCL_FIG_CLBLAST_F32, SDCL_GEMM_CLBLAST, SDCL_WT_F32);
#else
  fprintf (stderr, "this sdcl was built without CLBlast: only its own kernels are measured\n");
#endif
  c->backend = total_seconds (c, SDCL_FIG_CLBLAST_F16) < total_seconds (c, SDCL_FIG_OWN_F16)
                   ? SDCL_GEMM_CLBLAST
                   : SDCL_GEMM_OWN;
  tune_tiles (cl, &h, quick, c);
  host_data_clear (&h);
}

static sdcl_status
tune (const char *device, const char *cache_dir, double fraction, bool quick, sdcl_error *err)
{
  if (!(fraction > 0 && fraction <= 1) || (cache_dir && !*cache_dir))
    {
      if (err)
        {
          err->code = SDCL_ERR_INVALID_ARGUMENT;
          g_snprintf (err->message, sizeof err->message,
                      "sdcl tune: the fraction must be in (0, 1] and the cache folder not empty");
        }
      return SDCL_ERR_INVALID_ARGUMENT;
    }
  /* No cache folder for the measuring context: an earlier tuning file
   * must not switch its backend or CLBlast's parameters. */
  sdcl_cl *cl = sdcl_cl_new (device, "", err);
  if (!cl)
    return err ? err->code : SDCL_ERR_NO_DEVICE;
  const sdcl_device_info *dev = sdcl_cl_device (cl);
  fprintf (stderr, "device: %s (%s, driver %s)\n", dev->name, dev->platform, dev->driver);
  sdcl_gemm_config c = { 0 };
  run (cl, fraction, quick, &c);
  print_table (&c);

  char *dir = sdcl_cl_resolve_cache_dir (cache_dir);
  char *path = sdcl_gemm_config_path (dir, dev);
  GError *error = NULL;
  sdcl_status st = SDCL_OK;
  if (sdcl_gemm_config_save (path, dev, &c, &error))
    printf ("Wrote %s\n", path);
  else
    {
      st = SDCL_ERR_IO;
      if (err)
        {
          err->code = st;
          g_snprintf (err->message, sizeof err->message, "cannot write %s: %s", path,
                      error->message);
        }
      g_clear_error (&error);
    }
  g_free (path);
  g_free (dir);
  sdcl_cl_free (cl);
  return st;
}

sdcl_status
sdcl_gemm_tune (const char *device, const char *cache_dir, double fraction, sdcl_error *err)
{
  return tune (device, cache_dir, fraction, false, err);
}

sdcl_status
sdcl_gemm_tune_quick (const char *device, const char *cache_dir, sdcl_error *err)
{
  return tune (device, cache_dir, SDCL_TUNE_DEFAULT_FRACTION, true, err);
}

/* Device operations: argument checks and kernel launches.  The kernels are
 * in kernels/ (one .cl file per family); the GEMM behind op_linear
 * and op_conv2d is in gemm.c, op_conv2d's Winograd path in conv_winograd.c.
 *
 * Shape mismatches are programming errors of the caller (the networks), so
 * they become a sticky SDCL_ERR_INTERNAL naming the op and the shapes.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "ops.h"
#include "attention.h"
#include "clrt_internal.h"
#include "conv_tiled.h"
#include "conv_winograd.h"
#include "extensions.h"
#include "norm_wg.h"
#include "gemm.h"
#include "ops_util.h"

#include <glib.h>

/* Local size of the 1-D elementwise kernels. */
enum { ELTWISE_WG = 64 };

/* Upper bound of a convolution's patch buffer: the convolution runs over
 * chunks of output pixels whose patches fit in it. */
enum { CONV_SCRATCH_BYTES = 32 << 20 };

static bool
shape_error (sdcl_cl *cl, const char *op, const char *what)
{
  sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "%s: %s", op, what);
  return false;
}

static bool
has_buffer (sdcl_cl *cl, const char *op, const sdcl_t *t, const char *name)
{
  if (t && t->buf && t->n > 0)
    return true;
  sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "%s: %s is empty or not allocated", op, name);
  return false;
}

static bool
same_count (sdcl_cl *cl, const char *op, const sdcl_t *a, const sdcl_t *b)
{
  if (a->n == b->n)
    return true;
  sdcl_cl_fail (cl, SDCL_ERR_INTERNAL,
                "%s: element counts differ (%" G_GINT64_FORMAT " vs %" G_GINT64_FORMAT ")", op,
                a->n, b->n);
  return false;
}

static void
run_1d (sdcl_cl *cl, cl_kernel k, int64_t n)
{
  size_t local = ELTWISE_WG;
  size_t global = sdcl_round_up ((size_t) n, local);
  sdcl_cl_run (cl, k, 1, &global, &local);
}

static cl_kernel
eltwise_kernel (sdcl_cl *cl, const char *name)
{
  return sdcl_cl_kernel (cl, name, sdcl_eltwise_options (cl));
}

/* ---- linear ------------------------------------------------------------ */

/* The checks of op_linear and op_linear_geglu: y has N / out_div columns. */
static bool
linear_valid (sdcl_cl *cl, const char *op, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
              const sdcl_t *residual, const sdcl_t *y, int out_div)
{
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y"))
    return false;
  if (w->nparts == 0 || w->nd < 2 || w->d[0] % out_div != 0)
    {
      shape_error (cl, op, out_div == 1
                             ? "the weight must be an uploaded tensor of at least 2 dimensions"
                             : "the weight must be an uploaded tensor [2F, K]");
      return false;
    }
  const int64_t N = w->d[0], K = w->n / N;
  if (x->n % K != 0 || y->n != x->n / K * (N / out_div))
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL,
                    "%s: x has %" G_GINT64_FORMAT " values, not a multiple of K = %" G_GINT64_FORMAT
                    ", or y has %" G_GINT64_FORMAT " values instead of M x %" G_GINT64_FORMAT,
                    op, x->n, K, y->n, N / out_div);
      return false;
    }
  if (bias && bias->n != N)
    {
      shape_error (cl, op, "bias length differs from the weight's output count");
      return false;
    }
  return !residual || (has_buffer (cl, op, residual, "residual") && same_count (cl, op, residual, y));
}

void
op_linear (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
           const sdcl_t *residual, sdcl_act act, sdcl_t *y)
{
  if (!linear_valid (cl, "op_linear", x, w, bias, residual, y, 1))
    return;
  const int64_t N = w->d[0], K = w->n / N;
  sdcl_cl_profile_label (cl, "linear %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "->%" G_GINT64_FORMAT,
                         x->n / K, K, N);
  sdcl_gemm_linear (cl, x, w, bias, residual, act, y);
  sdcl_cl_profile_label (cl, NULL);
}

void
op_linear_geglu (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias, sdcl_t *y)
{
  if (!linear_valid (cl, "op_linear_geglu", x, w, bias, NULL, y, 2))
    return;
  const int64_t N = w->d[0], K = w->n / N, M = x->n / K;
  sdcl_cl_profile_label (cl, "linear %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "->%" G_GINT64_FORMAT
                         " geglu", M, K, N);
  if (!sdcl_gemm_linear_geglu (cl, x, w, bias, y))
    {
      /* No fused kernel for this device or layout: the product, then GEGLU. */
      sdcl_t h;
      sdcl_t_alloc (cl, &h, 2, M, N, 0, 0);
      sdcl_gemm_linear (cl, x, w, bias, NULL, SDCL_ACT_NONE, &h);
      op_geglu (cl, &h, y);
      sdcl_t_release (cl, &h);
    }
  sdcl_cl_profile_label (cl, NULL);
}

/* ---- conv2d ------------------------------------------------------------ */

typedef sdcl_conv_shape conv_shape;

/* What conv_check derives besides the kernel's shape. */
typedef struct {
  int64_t batch, O;
} conv_extra;

static bool
conv_check (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
            const sdcl_conv_desc *d, const sdcl_t *residual, const sdcl_t *y, conv_shape *s,
            conv_extra *e)
{
  static const char op[] = "op_conv2d";
  if (!has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y"))
    return false;
  if (x->nd != 4 || w->nd != 4 || w->nparts == 0 || w->d[1] != x->d[1])
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL,
                    "%s: x must be [B,C,H,W] and w [O,C,kh,kw] with the same C (x has %d dims, "
                    "C %" G_GINT64_FORMAT "; w has %d dims, C %" G_GINT64_FORMAT ")",
                    op, x->nd, x->d[1], w->nd, w->d[1]);
      return false;
    }
  if (d->stride < 1 || d->pad_t < 0 || d->pad_b < 0 || d->pad_l < 0 || d->pad_r < 0
      || (d->upsample && (d->up_h < 1 || d->up_w < 1)))
    return shape_error (cl, op, "stride must be >= 1, paddings >= 0 and upsample sizes >= 1");
  e->batch = x->d[0];
  e->O = w->d[0];
  s->C = (cl_int) x->d[1];
  s->H = (cl_int) x->d[2];
  s->W = (cl_int) x->d[3];
  s->UH = d->upsample ? (cl_int) d->up_h : s->H;
  s->UW = d->upsample ? (cl_int) d->up_w : s->W;
  s->kh = (cl_int) w->d[2];
  s->kw = (cl_int) w->d[3];
  s->stride = d->stride;
  s->pad_t = d->pad_t;
  s->pad_l = d->pad_l;
  s->wrap = d->circular;
  /* A wrapped pad reads the opposite edge once (as PyTorch requires). */
  if (d->circular && (MAX (d->pad_t, d->pad_b) > s->UH || MAX (d->pad_l, d->pad_r) > s->UW))
    return shape_error (cl, op, "circular padding must not exceed the input size");
  const int64_t span_h = (int64_t) s->UH + d->pad_t + d->pad_b - s->kh;
  const int64_t span_w = (int64_t) s->UW + d->pad_l + d->pad_r - s->kw;
  if (span_h < 0 || span_w < 0)
    return shape_error (cl, op, "the kernel is larger than the padded input");
  s->Ho = (cl_int) (span_h / d->stride + 1);
  s->Wo = (cl_int) (span_w / d->stride + 1);
  if (y->nd != 4 || y->d[0] != e->batch || y->d[1] != e->O || y->d[2] != s->Ho
      || y->d[3] != s->Wo)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL,
                    "%s: y must be [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%d,%d], it is [%"
                    G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT
                    "] (%d dims)",
                    op, e->batch, e->O, s->Ho, s->Wo, y->d[0], y->d[1], y->d[2], y->d[3],
                    y->nd);
      return false;
    }
  if (bias && bias->n != e->O)
    return shape_error (cl, op, "bias length differs from the output channel count");
  if (residual && (!has_buffer (cl, op, residual, "residual") || !same_count (cl, op, residual, y)))
    return false;
  return true;
}

/* Gathers the input patches of output pixels [p0, p0 + P) of batch entry b
 * into cols [P, K]. */
static void
conv_gather (sdcl_cl *cl, const sdcl_t *x, const conv_shape *s, int64_t b, int64_t p0, int64_t P,
             cl_mem cols)
{
  cl_kernel k = sdcl_cl_kernel (cl, "im2col_chunk", "");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, cols);
  sdcl_arg (&a, sizeof *s, s);
  sdcl_arg_int (&a, (int) b);
  sdcl_arg_int (&a, (int) p0);
  sdcl_arg_int (&a, (int) P);
  size_t local[2] = { 64, 1 };
  size_t global[2] = { sdcl_round_up ((size_t) P, local[0]), (size_t) s->C };
  sdcl_cl_run (cl, k, 2, global, local);
}

/* Implicit-GEMM convolution (weights packed in panels): gemm_conv_panel
 * reads the patches straight from the input when it needs neither padding
 * nor upsampling (1x1 convolutions); otherwise the output is done in bands
 * of rows, and for each band conv_pad first copies the input rows it reads,
 * zero-padded (and upsampled), into a buffer of at most CONV_SCRATCH_BYTES
 * (one band of at least one output row). */
static void
conv_implicit (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
               const sdcl_conv_desc *d, const sdcl_t *residual, sdcl_t *y, const conv_shape *s,
               const conv_extra *e)
{
  const int64_t pixels = (int64_t) s->Ho * s->Wo, K = (int64_t) s->C * s->kh * s->kw;
  sdcl_gemm_desc g = {
    .x = x->buf, .K = K, .w = w, .bias = bias, .residual = residual ? residual->buf : NULL,
    .y = y->buf, .stride_m = 1, .stride_n = pixels, .act = SDCL_ACT_NONE,
  };
  const int Wp = s->UW + d->pad_l + d->pad_r;
  if (!d->upsample && d->pad_t == 0 && d->pad_b == 0 && Wp == s->W)
    {
      for (int64_t b = 0; b < e->batch && sdcl_cl_ok (cl); b++)
        {
          g.M = pixels;
          g.y_off = b * e->O * pixels;
          sdcl_gemm_conv_panel (cl, &g, b * (int64_t) s->C * s->H * s->W, s->C, s->kh, s->kw,
                                s->stride, s->Wo, s->H, Wp);
        }
      return;
    }
  /* Output rows per band: its input rows ((rows - 1) * stride + kh) fit the budget. */
  const uint64_t budget = MIN ((uint64_t) CONV_SCRATCH_BYTES, sdcl_cl_max_alloc (cl) / 2);
  const int64_t row_bytes = (int64_t) s->C * Wp * sizeof (float);
  const int64_t fit = (int64_t) (budget / row_bytes);
  const int64_t band = CLAMP ((fit - s->kh) / s->stride + 1, 1, s->Ho);
  const int64_t band_in = (band - 1) * s->stride + s->kh;
  sdcl_t xp;
  sdcl_t_alloc (cl, &xp, 1, MAX ((int64_t) (budget / sizeof (float)), s->C * band_in * Wp), 0,
                0, 0);
  cl_kernel kp = sdcl_cl_kernel (cl, "conv_pad", "");
  for (int64_t b = 0; b < e->batch && sdcl_cl_ok (cl); b++)
    for (int64_t oy0 = 0; oy0 < s->Ho && sdcl_cl_ok (cl); oy0 += band)
      {
        const int rows = (int) MIN (band, s->Ho - oy0);
        const int row0 = (int) (oy0 * s->stride), Hb = (rows - 1) * s->stride + s->kh;
        sdcl_args a = sdcl_args_begin (cl, kp);
        sdcl_arg_mem (&a, x->buf);
        sdcl_arg_mem (&a, xp.buf);
        sdcl_arg (&a, sizeof *s, s);
        sdcl_arg_int (&a, (int) b);
        sdcl_arg_int (&a, row0);
        sdcl_arg_int (&a, Hb);
        sdcl_arg_int (&a, Wp);
        size_t local[3] = { 4, 4, 1 };   /* 16 pixels per work-item */
        size_t global[3] = { sdcl_round_up (sdcl_div_up ((size_t) Wp, 16), 4),
                             sdcl_round_up ((size_t) Hb, 4), (size_t) s->C };
        sdcl_cl_run (cl, kp, 3, global, local);
        g.x = xp.buf;
        g.M = (int64_t) rows * s->Wo;
        g.y_off = b * e->O * pixels + oy0 * s->Wo;
        sdcl_gemm_conv_panel (cl, &g, 0, s->C, s->kh, s->kw, s->stride, s->Wo, Hb, Wp);
      }
  /* The in-order queue runs every later use of this buffer after the GEMMs. */
  sdcl_t_release (cl, &xp);
}

/* The convolution is a GEMM: pixels are the rows (M), output channels the
 * columns (N), K = C * kh * kw.  sdcl_conv_kernel_choice (conv_tiled.h)
 * picks how: with panel-packed weights (CPUs) Winograd's where
 * sdcl_conv_winograd_applies, else an implicit GEMM over the padded input
 * (conv_implicit); on GPUs conv_tiled, an implicit GEMM in local-memory
 * tiles; otherwise per chunk of output pixels whose patches are gathered
 * into a bounded buffer (CONV_SCRATCH_BYTES), never a whole-image im2col. */
static void conv_dispatch (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                           const sdcl_conv_desc *desc, const sdcl_t *residual, sdcl_t *y,
                           const conv_shape *sp, const conv_extra *ep);

void
op_conv2d (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
           const sdcl_conv_desc *desc, const sdcl_t *residual, sdcl_t *y)
{
  conv_shape s;
  conv_extra e;
  if (!sdcl_cl_ok (cl) || !conv_check (cl, x, w, bias, desc, residual, y, &s, &e))
    return;
  sdcl_cl_profile_label (cl, "conv%dx%d b%d %dx%dx%d->%d%s%s", s.kh, s.kw, (int) e.batch, s.C,
                         s.UH, s.UW, (int) e.O, s.stride > 1 ? " s2" : "",
                         desc->upsample ? " up" : "");
  conv_dispatch (cl, x, w, bias, desc, residual, y, &s, &e);
  sdcl_cl_profile_label (cl, NULL);
}

static void
conv_dispatch (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
               const sdcl_conv_desc *desc, const sdcl_t *residual, sdcl_t *y,
               const conv_shape *sp, const conv_extra *ep)
{
  const conv_shape s = *sp;
  const conv_extra e = *ep;
  switch (sdcl_conv_kernel_choice (cl, w))
    {
    case SDCL_CONV_IMPLICIT:
      if (!sdcl_conv_winograd (cl, x, w, bias, desc, residual, y))
        conv_implicit (cl, x, w, bias, desc, residual, y, &s, &e);
      return;
    case SDCL_CONV_TILED:
      if (sdcl_conv_tiled_run (cl, x, w, bias, residual, y, &s, e.batch))
        return;
      break;   /* no tile configuration fits the device */
    case SDCL_CONV_GATHER:
      break;
    }
  const int64_t K = (int64_t) s.C * s.kh * s.kw, pixels = (int64_t) s.Ho * s.Wo;
  const uint64_t budget = MIN ((uint64_t) CONV_SCRATCH_BYTES, sdcl_cl_max_alloc (cl) / 2);
  const int64_t chunk = MAX (1, MIN (pixels, (int64_t) (budget / (K * sizeof (float)))));
  /* A chunked buffer always has the budget's size, so the pool keeps one
   * such buffer for every convolution rather than one per shape. */
  const int64_t floats = chunk < pixels ? MAX ((int64_t) (budget / sizeof (float)), chunk * K)
                                        : pixels * K;
  sdcl_t cols;
  sdcl_t_alloc (cl, &cols, 1, floats, 0, 0, 0);
  for (int64_t b = 0; b < e.batch && sdcl_cl_ok (cl); b++)
    for (int64_t p0 = 0; p0 < pixels && sdcl_cl_ok (cl); p0 += chunk)
      {
        const int64_t P = MIN (chunk, pixels - p0);
        conv_gather (cl, x, &s, b, p0, P, cols.buf);
        sdcl_gemm_desc g = {
          .x = cols.buf, .M = P, .K = K, .w = w, .bias = bias,
          .residual = residual ? residual->buf : NULL, .y = y->buf,
          .y_off = b * e.O * pixels + p0, .stride_m = 1, .stride_n = pixels,
          .act = SDCL_ACT_NONE,
        };
        sdcl_gemm_run (cl, &g);
      }
  /* The in-order queue runs every later use of this buffer after the GEMMs. */
  sdcl_t_release (cl, &cols);
}

/* ---- normalisation ----------------------------------------------------- */

static bool
param_vector_ok (sdcl_cl *cl, const char *op, const sdcl_w *p, int64_t n, const char *name)
{
  if (p && p->nparts == 1 && p->n == n)
    return true;
  sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "%s: %s must be a vector of %" G_GINT64_FORMAT " values",
                op, name, n);
  return false;
}

void
op_group_norm (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *gamma, const sdcl_w *beta, int groups,
               float eps, bool silu, sdcl_t *y)
{
  static const char op[] = "op_group_norm";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y")
      || !same_count (cl, op, x, y))
    return;
  if (x->nd < 3 || groups < 1 || x->d[1] % groups != 0)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL,
                    "%s: x must be [B,C,H,W] or [B,C,HW] with C (%" G_GINT64_FORMAT
                    ") a multiple of groups (%d)",
                    op, x->nd >= 2 ? x->d[1] : 0, groups);
      return;
    }
  const int64_t B = x->d[0], C = x->d[1], hw = x->n / (B * C);
  if (!param_vector_ok (cl, op, gamma, C, "gamma") || !param_vector_ok (cl, op, beta, C, "beta"))
    return;
  if (gamma->type != beta->type)
    {
      shape_error (cl, op, "gamma and beta must have the same element type");
      return;
    }

  sdcl_cl_profile_label (cl, "group_norm b%d %dx%d%s", (int) B, (int) C, (int) hw,
                         silu ? " silu" : "");
  sdcl_t stats;
  sdcl_t_alloc (cl, &stats, 1, 2 * B * groups, 0, 0, 0);
  size_t wg;
  cl_kernel ks = sdcl_reduce_kernel (cl, "group_norm_stats", 256, &wg);
  cl_kernel ka = sdcl_cl_kernel (cl, "group_norm_apply", "");
  /* GPUs: each group's statistics over several work-groups (norm_wg.h). */
  if (ks && ka && stats.buf
      && !sdcl_group_norm_stats_split (cl, x->buf, stats.buf, B * groups,
                                       (uint64_t) (C / groups * hw), eps))
    {
      sdcl_args a = sdcl_args_begin (cl, ks);
      sdcl_arg_mem (&a, x->buf);
      sdcl_arg_mem (&a, stats.buf);
      sdcl_arg_ulong (&a, (uint64_t) (C / groups * hw));
      sdcl_arg_float (&a, eps);
      sdcl_arg_local (&a, wg * sizeof (float));
      size_t global = wg * (size_t) (B * groups);
      sdcl_cl_run (cl, ks, 1, &global, &wg);
    }
  if (ks && ka && stats.buf)
    {
      sdcl_args a = sdcl_args_begin (cl, ka);
      sdcl_arg_mem (&a, x->buf);
      sdcl_arg_mem (&a, y->buf);
      sdcl_arg_mem (&a, stats.buf);
      sdcl_arg_mem (&a, gamma->part[0]);
      sdcl_arg_mem (&a, beta->part[0]);
      sdcl_arg_int (&a, sdcl_w_is_half (gamma));
      sdcl_arg_int (&a, (int) hw);
      sdcl_arg_int (&a, (int) C);
      sdcl_arg_int (&a, (int) (C / groups));
      sdcl_arg_int (&a, silu);
      size_t local2[2] = { ELTWISE_WG, 1 };
      /* 16 positions per work-item */
      size_t global2[2] = { sdcl_round_up (sdcl_div_up ((size_t) hw, 16), ELTWISE_WG),
                            (size_t) (B * C) };
      sdcl_cl_run (cl, ka, 2, global2, local2);
    }
  /* The in-order queue runs every later use of this buffer after these kernels. */
  sdcl_t_release (cl, &stats);
  sdcl_cl_profile_label (cl, NULL);
}

void
op_layer_norm (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *gamma, const sdcl_w *beta, float eps,
               sdcl_t *y)
{
  static const char op[] = "op_layer_norm";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y")
      || !same_count (cl, op, x, y))
    return;
  const int64_t C = x->d[x->nd - 1], rows = x->n / C;
  if (!param_vector_ok (cl, op, gamma, C, "gamma") || !param_vector_ok (cl, op, beta, C, "beta"))
    return;
  if (gamma->type != beta->type)
    {
      shape_error (cl, op, "gamma and beta must have the same element type");
      return;
    }
  /* The CPU kernels: a row per work-item (norm.cl's layer_norm_rows), 8
   * rows per group, enough work for the runtime's per-group cost and
   * groups for every core.  Otherwise a work-group per row, about four
   * values per work-item, at most 256. */
  const bool per_row = sdcl_cl_cpu_kernels (cl);
  size_t wg = 8;
  cl_kernel k = per_row ? sdcl_cl_kernel (cl, "layer_norm_rows", "")
                        : sdcl_reduce_kernel (cl, "layer_norm",
                                              MAX (1, MIN (256, (size_t) C / 4)), &wg);
  if (!k)
    return;
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, y->buf);
  sdcl_arg_mem (&a, gamma->part[0]);
  sdcl_arg_mem (&a, beta->part[0]);
  sdcl_arg_int (&a, sdcl_w_is_half (gamma));
  sdcl_arg_int (&a, (int) C);
  sdcl_arg_float (&a, eps);
  if (per_row)
    sdcl_arg_int (&a, (int) rows);
  else
    sdcl_arg_local (&a, wg * sizeof (float));
  size_t global = per_row ? sdcl_round_up ((size_t) rows, wg) : wg * (size_t) rows;
  sdcl_cl_profile_label (cl, "layer_norm %dx%d", (int) rows, (int) C);
  sdcl_cl_run (cl, k, 1, &global, &wg);
  sdcl_cl_profile_label (cl, NULL);
}

/* ---- attention --------------------------------------------------------- */

/* Keys per local-memory block: K and V blocks of BK x dh floats must fit in
 * half the device's local memory (the rest stays for the implementation);
 * local_mem as sdcl_tiled_limits gives it. */
static int
attention_block_keys (uint64_t local_mem, int64_t dh)
{
  const uint64_t budget = local_mem / 2;
  const uint64_t per_key = 2 * (uint64_t) dh * sizeof (float);
  return (int) MAX (1, MIN (32, budget / per_key));
}

/* The local-memory kernel (portable; GPUs). */
static void
attention_streaming (sdcl_cl *cl, const sdcl_t *q, const sdcl_t *k, const sdcl_t *v, int heads,
                     float scale, bool causal, sdcl_t *o, int64_t B, int64_t N, int64_t M,
                     int64_t dh)
{
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);   /* forced limits included */
  const int bk = attention_block_keys (local_mem, dh);
  char options[64];
  g_snprintf (options, sizeof options, "-DDH=%d -DBK=%d", (int) dh, bk);
  cl_kernel kern = sdcl_cl_kernel (cl, "attention", options);
  if (!kern)
    return;
  /* One query per work-item; small N gets a small group (no idle queries). */
  const size_t bq = MIN (sdcl_pow2_at_most (MIN (sdcl_kernel_max_wg (cl, kern), max_wg), 64),
                         sdcl_round_up ((size_t) N, 8));
  sdcl_args a = sdcl_args_begin (cl, kern);
  sdcl_arg_mem (&a, q->buf);
  sdcl_arg_mem (&a, k->buf);
  sdcl_arg_mem (&a, v->buf);
  sdcl_arg_mem (&a, o->buf);
  sdcl_arg_int (&a, (int) N);
  sdcl_arg_int (&a, (int) M);
  sdcl_arg_int (&a, heads);
  sdcl_arg_float (&a, scale);
  sdcl_arg_int (&a, causal);
  sdcl_arg_local (&a, (size_t) bk * dh * sizeof (float));
  sdcl_arg_local (&a, (size_t) bk * dh * sizeof (float));
  size_t global[3] = { sdcl_round_up ((size_t) N, bq), (size_t) heads, (size_t) B };
  size_t local[3] = { bq, 1, 1 };
  sdcl_cl_run (cl, kern, 3, global, local);
}

/* KEYS_PADDED (common.cl): keys per head in the packed key tiles. */
static size_t
keys_padded (int64_t M)
{
  return sdcl_round_up ((size_t) M, 64);
}

/* kt = the keys k [B, M, heads * dh] in 16-key tiles, one tile's dh x 16
 * values contiguous: [B, heads, tiles, dh, 16] (keys past M: zero).  A
 * tile is one run of memory for the kernel's score loop; keys transposed
 * whole ([B, heads * dh, M]) put each of its dh rows on another page, and
 * the loop missed the TLB on most loads. */
static void
pack_key_tiles (sdcl_cl *cl, const sdcl_t *k, int64_t B, int64_t M, int heads, int64_t dh,
                sdcl_t *kt)
{
  cl_kernel kern = eltwise_kernel (cl, "pack_key_tiles");
  sdcl_args a = sdcl_args_begin (cl, kern);
  sdcl_arg_mem (&a, k->buf);
  sdcl_arg_mem (&a, kt->buf);
  sdcl_arg_int (&a, (int) M);
  sdcl_arg_int (&a, heads);
  sdcl_arg_int (&a, (int) dh);
  size_t global[3] = { (size_t) (heads * dh), keys_padded (M) / 16, (size_t) B };
  sdcl_cl_run (cl, kern, 3, global, NULL);
}

/* Query groups per work-item of the blocked kernels: up to 16 (a 32-key
 * tile of K and V then serves 16 groups from L1 before the next is read;
 * 8 and 32 measured no faster), fewer where the queries would leave fewer
 * than 4 work-items per head.  A power of two: few kernel builds. */
static int
query_groups (int64_t N, int qb)
{
  int g = 16;
  while (g > 1 && (int64_t) qb * g * 4 > N)
    g /= 2;
  return g;
}

/* attention_blocked's tiles (8-wide vectors, AVX2's 16 registers): 2
 * queries x 32 keys of scores (8 independent chains for two FMA pipes of
 * 4-cycle latency) and 2 x 6 output accumulators.  Swept on AMD Zen 3
 * (BENCHMARKS.md step 22: QB 1-3, KSTEP 16-64, CB 4-8): level or ahead
 * for every head width, 40-160. */
static void
narrow_tiles (int64_t dh, int *qb, int *kstep, int *cb)
{
  *qb = 2;
  *kstep = 32;
  *cb = (int) MIN (dh / 8, 6);
}

/* The register-blocked kernels (CPUs): keys packed in 16-key tiles first,
 * then G groups of QB queries per work-item; attention_blocked16 where
 * float vectors are 16 wide (QB * (dh / 16 + 1) accumulators within 24 of
 * AVX-512's 32 registers), else attention_blocked (narrow_tiles). */
static void
attention_blocked (sdcl_cl *cl, const sdcl_t *q, const sdcl_t *k, const sdcl_t *v, int heads,
                   float scale, bool causal, sdcl_t *o, int64_t B, int64_t N, int64_t M,
                   int64_t dh)
{
  /* 16-wide vectors (attention_wide.cl) where the panel GEMM uses them too. */
  const bool wide = sdcl_gemm_panel_columns (cl) == 32;
  char options[80];
  int qb, kstep, cb;
  if (wide)
    qb = (int) CLAMP (24 / ((dh + 15) / 16 + 1), 1, 8);
  else
    narrow_tiles (dh, &qb, &kstep, &cb);
  const int groups = query_groups (N, qb);
  if (wide)
    g_snprintf (options, sizeof options, "-DDH=%d -DQB=%d -DG=%d", (int) dh, qb, groups);
  else
    g_snprintf (options, sizeof options, "-DDH=%d -DQB=%d -DG=%d -DKSTEP=%d -DCB=%d", (int) dh,
                qb, groups, kstep, cb);
  cl_kernel kern = sdcl_cl_kernel (cl, wide ? "attention_blocked16" : "attention_blocked", options);
  if (!kern)
    return;
  sdcl_t kt;
  sdcl_t_alloc (cl, &kt, 1, B * heads * dh * (int64_t) keys_padded (M), 0, 0, 0);
  pack_key_tiles (cl, k, B, M, heads, dh, &kt);
  sdcl_args a = sdcl_args_begin (cl, kern);
  sdcl_arg_mem (&a, q->buf);
  sdcl_arg_mem (&a, kt.buf);
  sdcl_arg_mem (&a, v->buf);
  sdcl_arg_mem (&a, o->buf);
  sdcl_arg_int (&a, (int) N);
  sdcl_arg_int (&a, (int) M);
  sdcl_arg_int (&a, heads);
  sdcl_arg_float (&a, scale);
  sdcl_arg_int (&a, causal);
  /* No local memory and no barriers; the work-items are large (up to 16 x
   * QB queries): groups of one keep the launch slices below fine-grained. */
  const size_t items = sdcl_div_up ((size_t) N, (size_t) qb * groups);
  size_t local[3] = { 1, 1, 1 };
  /* Attention is quadratic in the tokens: at 2048x2048 pixels one launch
   * over every query ran for minutes, and OpenCL cannot stop a launch.  So
   * the queries go in slices of at most SDCL_CL_LAUNCH_BUDGET flops
   * (4 M dh per query and head); a slice still spans all heads and the
   * batch, enough groups to fill the device.  The kernel indexes by
   * get_global_id, which the offset shifts. */
  const uint64_t per_item = 4 * (uint64_t) qb * groups * M * dh * heads * B;
  const size_t step = MAX (1, (size_t) (sdcl_cl_launch_budget (cl) / per_item));
  for (size_t first = 0; first < items; first += step)
    {
      size_t offset[3] = { first, 0, 0 };
      size_t global[3] = { MIN (step, items - first), (size_t) heads, (size_t) B };
      sdcl_cl_run_offset (cl, kern, 3, offset, global, local);
    }
  /* The in-order queue runs every later use of this buffer after the kernel. */
  sdcl_t_release (cl, &kt);
}

/* Queries per chunk of attention_gemm: the scores of a chunk take
 * ATTN_CHUNK x M floats (16 MB for the VAE's 16384 tokens at 1024 px). */
enum { ATTN_CHUNK = 256 };

/* src viewed as [rows, cols] with element (r, c) at src_off + r * rs + c * cs,
 * packed into dst in the panel layout of weights (sdcl_w.panel), and `w`
 * set up to describe it as an F32 weight of the GEMM. */
static void
pack_panels (sdcl_cl *cl, const sdcl_t *src, int64_t src_off, int64_t rs, int64_t cs,
             int64_t rows, int64_t cols, sdcl_t *dst, sdcl_w *w)
{
  cl_kernel k = eltwise_kernel (cl, "pack_panels");
  if (!k)
    return;
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, src->buf);
  sdcl_arg_long (&a, src_off);
  sdcl_arg_long (&a, rs);
  sdcl_arg_long (&a, cs);
  sdcl_arg_int (&a, (int) rows);
  sdcl_arg_int (&a, (int) cols);
  sdcl_arg_mem (&a, dst->buf);
  size_t local[2] = { ELTWISE_WG, 1 };
  size_t global[2] = { sdcl_round_up ((size_t) cols, ELTWISE_WG),
                       sdcl_round_up ((size_t) rows, SDCL_W_PANEL) };
  sdcl_cl_run (cl, k, 2, global, local);
  *w = (sdcl_w) { .type = SDCL_WT_F32, .panel = SDCL_W_PANEL, .nd = 2, .d = { rows, cols },
                  .n = rows * cols, .nparts = 1, .part_rows = rows, .part = { dst->buf } };
}

/* Rows [r0, r0 + rows) of one head's slice of q [B*N, C] into dst [rows, dh]. */
static void
gather_rows (sdcl_cl *cl, const sdcl_t *src, int64_t src_off, int64_t stride, int64_t rows,
             int64_t cols, sdcl_t *dst)
{
  cl_kernel k = eltwise_kernel (cl, "gather_rows");
  if (!k)
    return;
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, src->buf);
  sdcl_arg_long (&a, src_off);
  sdcl_arg_long (&a, stride);
  sdcl_arg_int (&a, (int) rows);
  sdcl_arg_int (&a, (int) cols);
  sdcl_arg_mem (&a, dst->buf);
  size_t local[2] = { 16, 4 };
  size_t global[2] = { sdcl_round_up ((size_t) cols, 16), sdcl_round_up ((size_t) rows, 4) };
  sdcl_cl_run (cl, k, 2, global, local);
}

/* Attention as GEMMs on CPUs for wide heads (the VAE's mid block: one head
 * of 512 channels), whose accumulators do not fit the blocked kernel's
 * registers (for the UNet's 40-160 channel heads at 4096 keys this path
 * measured no faster than the blocked kernel, so they keep it): per batch
 * entry and head, K and V^T are packed like weights, then per chunk of
 * queries the scores q k^T come from the panel GEMM, a row softmax scales
 * and normalises them, and a second panel GEMM multiplies them by v into
 * the head's columns of o. */
static void
attention_gemm (sdcl_cl *cl, const sdcl_t *q, const sdcl_t *k, const sdcl_t *v, int heads,
                float scale, sdcl_t *o, int64_t B, int64_t N, int64_t M, int64_t dh)
{
  const int64_t P = SDCL_W_PANEL, C = heads * dh, chunk = MIN (N, (int64_t) ATTN_CHUNK);
  cl_kernel ks = eltwise_kernel (cl, "softmax_rows");
  sdcl_t kp, vp, qc, sc;
  sdcl_t_alloc (cl, &kp, 1, sdcl_div_up (M, P) * P * dh, 0, 0, 0);
  sdcl_t_alloc (cl, &vp, 1, sdcl_div_up (dh, P) * P * M, 0, 0, 0);
  sdcl_t_alloc (cl, &qc, 1, chunk * dh, 0, 0, 0);
  sdcl_t_alloc (cl, &sc, 1, chunk * M, 0, 0, 0);
  for (int64_t b = 0; b < B && ks && sdcl_cl_ok (cl); b++)
    for (int64_t h = 0; h < heads && sdcl_cl_ok (cl); h++)
      {
        const int64_t kv_off = b * M * C + h * dh;
        sdcl_w wk, wv;
        pack_panels (cl, k, kv_off, C, 1, M, dh, &kp, &wk);   /* keys as rows */
        pack_panels (cl, v, kv_off, 1, C, dh, M, &vp, &wv);   /* V^T: channels as rows */
        for (int64_t q0 = 0; q0 < N && sdcl_cl_ok (cl); q0 += chunk)
          {
            const int64_t rows = MIN (chunk, N - q0), q_off = (b * N + q0) * C + h * dh;
            gather_rows (cl, q, q_off, C, rows, dh, &qc);
            sdcl_gemm_run (cl, &(sdcl_gemm_desc) { .x = qc.buf, .M = rows, .K = dh, .w = &wk,
                                                   .y = sc.buf, .stride_m = M, .stride_n = 1 });
            sdcl_args a = sdcl_args_begin (cl, ks);
            sdcl_arg_mem (&a, sc.buf);
            sdcl_arg_int (&a, (int) rows);
            sdcl_arg_int (&a, (int) M);
            sdcl_arg_float (&a, scale);
            size_t local = 8, global = sdcl_round_up ((size_t) rows, local);
            sdcl_cl_run (cl, ks, 1, &global, &local);
            sdcl_gemm_run (cl, &(sdcl_gemm_desc) { .x = sc.buf, .M = rows, .K = M, .w = &wv,
                                                   .y = o->buf, .y_off = q_off, .stride_m = C,
                                                   .stride_n = 1 });
          }
      }
  /* The in-order queue runs every later use of these buffers after the kernels. */
  sdcl_t_release (cl, &kp);
  sdcl_t_release (cl, &vp);
  sdcl_t_release (cl, &qc);
  sdcl_t_release (cl, &sc);
}

static void attention_dispatch (sdcl_cl *cl, const sdcl_t *q, const sdcl_t *k, const sdcl_t *v,
                                int heads, float scale, bool causal, sdcl_t *o, int64_t B,
                                int64_t N, int64_t M, int64_t dh);

void
op_attention (sdcl_cl *cl, const sdcl_t *q, const sdcl_t *k, const sdcl_t *v, int heads,
              float scale, bool causal, sdcl_t *o)
{
  static const char op[] = "op_attention";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, q, "q") || !has_buffer (cl, op, k, "k")
      || !has_buffer (cl, op, v, "v") || !has_buffer (cl, op, o, "o")
      || !same_count (cl, op, k, v) || !same_count (cl, op, q, o))
    return;
  if (q->nd != 3 || k->nd != 3 || heads < 1 || q->d[2] % heads != 0 || k->d[2] != q->d[2]
      || k->d[0] != q->d[0])
    {
      shape_error (cl, op, "q must be [B,N,heads*dh] and k, v [B,M,heads*dh] with the same B and "
                           "channel count, divisible by heads");
      return;
    }
  if (causal && k->d[1] < q->d[1])
    {
      shape_error (cl, op, "causal attention needs at least as many keys as queries");
      return;
    }
  const int64_t B = q->d[0], N = q->d[1], M = k->d[1], dh = q->d[2] / heads;
  sdcl_cl_profile_label (cl, "attention b%d %dx%d h%d dh%d", (int) B, (int) N, (int) M, heads,
                         (int) dh);
  attention_dispatch (cl, q, k, v, heads, scale, causal, o, B, N, M, dh);
  sdcl_cl_profile_label (cl, NULL);
}

static void
attention_dispatch (sdcl_cl *cl, const sdcl_t *q, const sdcl_t *k, const sdcl_t *v, int heads,
                    float scale, bool causal, sdcl_t *o, int64_t B, int64_t N, int64_t M,
                    int64_t dh)
{
  int config = -1;
  cl_kernel kern = NULL;
  switch (sdcl_attention_choice (cl, dh, causal, &config, &kern))
    {
    case SDCL_ATTN_GEMM:
      attention_gemm (cl, q, k, v, heads, scale, o, B, N, M, dh);
      break;
    case SDCL_ATTN_BLOCKED:
      attention_blocked (cl, q, k, v, heads, scale, causal, o, B, N, M, dh);
      break;
    case SDCL_ATTN_TILED:
      if (kern)
        sdcl_attention_tiled (cl, kern, config, q, k, v, heads, scale, causal, o, B, N, M, dh);
      break;
    case SDCL_ATTN_STREAMING:
      attention_streaming (cl, q, k, v, heads, scale, causal, o, B, N, M, dh);
      break;
    }
}

/* ---- elementwise ------------------------------------------------------- */

void
op_geglu (sdcl_cl *cl, const sdcl_t *x, sdcl_t *y)
{
  static const char op[] = "op_geglu";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y"))
    return;
  const int64_t two_f = x->d[x->nd - 1];
  if (two_f % 2 != 0 || y->n * 2 != x->n)
    {
      shape_error (cl, op, "x must be [M, 2F] and y [M, F]");
      return;
    }
  cl_kernel k = eltwise_kernel (cl, "eltwise_geglu");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, y->buf);
  const int64_t f = two_f / 2;
  sdcl_arg_int (&a, (int) f);
  size_t local[2] = { ELTWISE_WG, 1 };
  size_t global[2] = { sdcl_round_up (sdcl_div_up ((size_t) f, 16), ELTWISE_WG),
                       (size_t) (y->n / f) };   /* 16 columns per work-item */
  sdcl_cl_run (cl, k, 2, global, local);
}

void
op_add (sdcl_cl *cl, const sdcl_t *a_, const sdcl_t *b, sdcl_t *y)
{
  static const char op[] = "op_add";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, a_, "a") || !has_buffer (cl, op, b, "b")
      || !has_buffer (cl, op, y, "y") || !same_count (cl, op, a_, b) || !same_count (cl, op, a_, y))
    return;
  cl_kernel k = eltwise_kernel (cl, "eltwise_add");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, a_->buf);
  sdcl_arg_mem (&a, b->buf);
  sdcl_arg_mem (&a, y->buf);
  sdcl_arg_ulong (&a, (uint64_t) y->n);
  run_1d (cl, k, y->n);
}

void
op_act (sdcl_cl *cl, const sdcl_t *x, sdcl_act act, sdcl_t *y)
{
  static const char op[] = "op_act";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y")
      || !same_count (cl, op, x, y))
    return;
  cl_kernel k = eltwise_kernel (cl, "eltwise_act");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, y->buf);
  sdcl_arg_ulong (&a, (uint64_t) y->n);
  sdcl_arg_int (&a, act);
  run_1d (cl, k, y->n);
}

void
op_scale (sdcl_cl *cl, const sdcl_t *x, float s, sdcl_t *y)
{
  static const char op[] = "op_scale";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y")
      || !same_count (cl, op, x, y))
    return;
  cl_kernel k = eltwise_kernel (cl, "eltwise_scale");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, y->buf);
  sdcl_arg_ulong (&a, (uint64_t) y->n);
  sdcl_arg_float (&a, s);
  run_1d (cl, k, y->n);
}

void
op_add_channel (sdcl_cl *cl, sdcl_t *x, const sdcl_t *v)
{
  static const char op[] = "op_add_channel";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, v, "v"))
    return;
  if (x->nd < 2 || v->n != x->d[0] * x->d[1])
    {
      shape_error (cl, op, "v must hold B x C values for x [B,C,H,W]");
      return;
    }
  cl_kernel k = eltwise_kernel (cl, "eltwise_add_channel");
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, v->buf);
  sdcl_arg_ulong (&a, (uint64_t) (x->n / v->n));
  sdcl_arg_ulong (&a, (uint64_t) x->n);
  run_1d (cl, k, x->n);
}

/* ---- layout ------------------------------------------------------------ */

/* y [B, cols, rows] = x [B, rows, cols] transposed. */
static void
transpose (sdcl_cl *cl, const sdcl_t *x, int64_t batch, int64_t rows, int64_t cols, sdcl_t *y)
{
  cl_kernel k = eltwise_kernel (cl, "transpose_batched");
  const size_t tile = sdcl_eltwise_tile (cl);
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, x->buf);
  sdcl_arg_mem (&a, y->buf);
  sdcl_arg_int (&a, (int) rows);
  sdcl_arg_int (&a, (int) cols);
  size_t global[3] = { sdcl_round_up (cols, tile), sdcl_round_up (rows, tile), (size_t) batch };
  size_t local[3] = { tile, tile, 1 };
  sdcl_cl_run (cl, k, 3, global, local);
}

void
op_nchw_to_nhwc (sdcl_cl *cl, const sdcl_t *x, sdcl_t *y)
{
  static const char op[] = "op_nchw_to_nhwc";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y")
      || !same_count (cl, op, x, y))
    return;
  if (x->nd < 3 || x == y || x->buf == y->buf)
    {
      shape_error (cl, op, "x must be [B,C,H,W] or [B,C,HW] and y a different tensor");
      return;
    }
  const int64_t B = x->d[0], C = x->d[1];
  transpose (cl, x, B, C, x->n / (B * C), y);
}

void
op_nhwc_to_nchw (sdcl_cl *cl, const sdcl_t *x, int64_t h, int64_t w, sdcl_t *y)
{
  static const char op[] = "op_nhwc_to_nchw";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, x, "x") || !has_buffer (cl, op, y, "y")
      || !same_count (cl, op, x, y))
    return;
  if (x->nd != 3 || x->d[1] != h * w || x->buf == y->buf)
    {
      shape_error (cl, op, "x must be [B, h*w, C] and y a different tensor");
      return;
    }
  transpose (cl, x, x->d[0], h * w, x->d[2], y);
}

static void
copy_floats (sdcl_cl *cl, cl_mem src, int64_t src_off, cl_mem dst, int64_t dst_off, int64_t n)
{
  if (!sdcl_cl_ok (cl) || n == 0)
    return;
  sdcl_cl_try (cl,
               clEnqueueCopyBuffer (sdcl_cl_queue (cl), src, dst, (size_t) src_off * sizeof (float),
                                    (size_t) dst_off * sizeof (float), (size_t) n * sizeof (float),
                                    0, NULL, NULL),
               "clEnqueueCopyBuffer");
}

void
op_concat_channels (sdcl_cl *cl, const sdcl_t *a, const sdcl_t *b, sdcl_t *y)
{
  static const char op[] = "op_concat_channels";
  if (!sdcl_cl_ok (cl) || !has_buffer (cl, op, a, "a") || !has_buffer (cl, op, b, "b")
      || !has_buffer (cl, op, y, "y"))
    return;
  const int64_t B = a->d[0];
  if (a->nd < 2 || b->nd != a->nd || y->nd != a->nd || b->d[0] != B || y->d[0] != B
      || y->d[1] != a->d[1] + b->d[1] || y->n != a->n + b->n
      || a->n / (B * a->d[1]) != b->n / (B * b->d[1]))
    {
      shape_error (cl, op, "a [B,Ca,H,W], b [B,Cb,H,W] and y [B,Ca+Cb,H,W] disagree");
      return;
    }
  const int64_t sa = a->n / B, sb = b->n / B;
  for (int64_t i = 0; i < B; i++)
    {
      copy_floats (cl, a->buf, i * sa, y->buf, i * (sa + sb), sa);
      copy_floats (cl, b->buf, i * sb, y->buf, i * (sa + sb) + sa, sb);
    }
}

void
op_copy (sdcl_cl *cl, const sdcl_t *src, int64_t src_off, sdcl_t *dst, int64_t dst_off, int64_t n)
{
  static const char op[] = "op_copy";
  if (!sdcl_cl_ok (cl) || n == 0)
    return;
  if (!has_buffer (cl, op, src, "src") || !has_buffer (cl, op, dst, "dst"))
    return;
  if (n < 0 || src_off < 0 || dst_off < 0 || src_off + n > src->n || dst_off + n > dst->n)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL,
                    "%s: range out of bounds (%" G_GINT64_FORMAT " values from %" G_GINT64_FORMAT
                    " of %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT ")",
                    op, n, src_off, src->n, dst_off, dst->n);
      return;
    }
  if (src->buf == dst->buf && src_off < dst_off + n && dst_off < src_off + n)
    {
      shape_error (cl, op, "source and destination ranges overlap");
      return;
    }
  copy_floats (cl, src->buf, src_off, dst->buf, dst_off, n);
}

/* GFLOP/s of one fma_peak kernel (eltwise.cl): the best of 3 runs of
 * about 0.3 s after a warm-up that sets the count. */
static double
fma_peak_run (sdcl_cl *cl, const char *name, int width, sdcl_t *out, size_t items)
{
  cl_kernel k = eltwise_kernel (cl, name);
  double best = 0;
  for (int iters = 1000, run = 0; k && run < 4 && sdcl_cl_ok (cl); run++)
    {
      sdcl_args a = sdcl_args_begin (cl, k);
      sdcl_arg_mem (&a, out->buf);
      sdcl_arg_int (&a, iters);
      const gint64 t0 = g_get_monotonic_time ();
      sdcl_cl_run (cl, k, 1, &items, NULL);
      sdcl_cl_finish (cl);
      const double seconds = (g_get_monotonic_time () - t0) / 1e6;
      if (run == 0)   /* warm-up: sets the count for runs of ~0.3 s */
        {
          iters = (int) CLAMP (iters * 0.3 / MAX (seconds, 1e-6), 1000, 1 << 24);
          continue;
        }
      best = MAX (best, (double) items * iters * 12 * width * 2 / seconds / 1e9);
    }
  return best;
}

double
op_fma_peak_gflops (sdcl_cl *cl)
{
  const size_t items = 256 * (size_t) MAX (sdcl_cl_device (cl)->compute_units, 1);
  sdcl_t out;
  sdcl_t_alloc (cl, &out, 1, (int64_t) items, 0, 0, 0);
  const double narrow = fma_peak_run (cl, "fma_peak8", 8, &out, items);
  const double wide = fma_peak_run (cl, "fma_peak16", 16, &out, items);
  const double best = MAX (narrow, wide);
  sdcl_t_release (cl, &out);
  return sdcl_cl_ok (cl) ? best : 0;
}

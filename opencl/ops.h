/* Device operations used by the networks.  Internal to libsdcl.
 *
 * All activations are float32 sdcl_t tensors, contiguous, row-major.
 * Image-like tensors are NCHW ([B, C, H, W]); token tensors are [B, T, C]
 * (or any [.., C] viewed as M rows of C).  Weights are sdcl_w (F32 or F16,
 * computed in fp32).  Outputs must be allocated by the caller with the right
 * shape; ops never allocate.  Errors are sticky on `cl` (see clrt.h); every
 * op is a no-op once an error is recorded.  Ops may not alias an output with
 * an input unless stated.
 *
 * Each op has a plain-C reference in tests/kernels/ref_ops.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_OPS_H
#define SDCL_OPS_H

#include "clrt.h"

typedef enum {
  SDCL_ACT_NONE = 0,
  SDCL_ACT_SILU,        /* x * sigmoid(x) */
  SDCL_ACT_GELU,        /* exact erf GELU */
  SDCL_ACT_QUICK_GELU   /* x * sigmoid(1.702 x) */
} sdcl_act;

/* y[M,N] = act(x[M,K] . w[N,K]^T + bias[N]) + residual[M,N]
 * x is any tensor whose last dim is K (M = n / K); bias and residual may be
 * NULL.  The activation applies before the residual add. */
void op_linear (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                const sdcl_t *residual, sdcl_act act, sdcl_t *y);

/* 2-D convolution (cross-correlation), NCHW.
 * x [B,C,H,W], w [O,C,kh,kw], bias [O] or NULL, zero padding per side.
 * y [B,O,Ho,Wo] with Ho = (H + pad_t + pad_b - kh)/stride + 1 (same for W).
 * If `upsample2x`, x is first upsampled nearest-neighbour to [B,C,uh,uw]
 * (uh/uw given; src = floor(dst * in / out)) without materialising it.
 * residual [B,O,Ho,Wo] or NULL is added at the end. */
typedef struct {
  int stride;
  int pad_t, pad_l, pad_b, pad_r;
  bool upsample;      /* nearest resize of the input to (up_h, up_w) first */
  int64_t up_h, up_w;
  /* Circular padding (PyTorch padding_mode "circular", seamless textures):
   * the padding reads the (upsampled) input's opposite edge instead of
   * zeros.  Every padding must then be at most the input's size. */
  bool circular;
} sdcl_conv_desc;

void op_conv2d (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                const sdcl_conv_desc *desc, const sdcl_t *residual, sdcl_t *y);

/* GroupNorm over NCHW x [B,C,H,W] (or [B,C,HW]); biased variance, fp32
 * statistics; optional SiLU after the affine transform.  y may alias x. */
void op_group_norm (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *gamma, const sdcl_w *beta,
                    int groups, float eps, bool silu, sdcl_t *y);

/* LayerNorm over the last dim C of x [M, C]; y may alias x. */
void op_layer_norm (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *gamma, const sdcl_w *beta,
                    float eps, sdcl_t *y);

/* Multi-head attention, streaming (never materialises N x M scores).
 * q [B, N, heads*dh], k and v [B, M, heads*dh]; head h owns channels
 * [h*dh, (h+1)*dh).  o [B, N, heads*dh] = softmax(q k^T * scale) v per head.
 * `causal`: query i attends to keys j <= i only (CLIP).  Respects the
 * device's work-group and local-memory limits. */
void op_attention (sdcl_cl *cl, const sdcl_t *q, const sdcl_t *k, const sdcl_t *v, int heads,
                   float scale, bool causal, sdcl_t *o);

/* GEGLU: x [M, 2F] -> y [M, F], y = x[:, :F] * gelu(x[:, F:]). */
void op_geglu (sdcl_cl *cl, const sdcl_t *x, sdcl_t *y);

/* op_geglu (op_linear (x, w, bias)) with w [2F, K]: y [M, F].  On CPUs in
 * one kernel (the [M, 2F] product is never stored), elsewhere the two ops
 * through a temporary; the same formulas either way. */
void op_linear_geglu (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                      sdcl_t *y);

/* Elementwise. y may alias an input. */
void op_add (sdcl_cl *cl, const sdcl_t *a, const sdcl_t *b, sdcl_t *y);     /* y = a + b */
void op_act (sdcl_cl *cl, const sdcl_t *x, sdcl_act act, sdcl_t *y);        /* y = act(x) */
void op_scale (sdcl_cl *cl, const sdcl_t *x, float s, sdcl_t *y);           /* y = s * x */
/* x [B,C,H,W] += v[B,C] broadcast over H,W (resnet time embedding). */
void op_add_channel (sdcl_cl *cl, sdcl_t *x, const sdcl_t *v);

/* Layout changes. */
void op_nchw_to_nhwc (sdcl_cl *cl, const sdcl_t *x, sdcl_t *y); /* [B,C,H,W] -> [B,H*W,C] */
void op_nhwc_to_nchw (sdcl_cl *cl, const sdcl_t *x, int64_t h, int64_t w, sdcl_t *y); /* [B,HW,C] -> [B,C,H,W] */
/* y [B, Ca+Cb, H, W] = cat(a [B,Ca,H,W], b [B,Cb,H,W]) along channels. */
void op_concat_channels (sdcl_cl *cl, const sdcl_t *a, const sdcl_t *b, sdcl_t *y);
/* Copies n floats: dst[dst_off + i] = src[src_off + i]. */
void op_copy (sdcl_cl *cl, const sdcl_t *src, int64_t src_off, sdcl_t *dst, int64_t dst_off, int64_t n);

/* The device's FP32 arithmetic limit as measured, in GFLOP/s: the best of
 * three runs of independent 8-wide and of 16-wide FMA chains over every
 * compute unit, the faster width counting (what the GEMMs' FLOP rates are
 * compared with).  0 on failure (sticky error).  Takes about two seconds. */
double op_fma_peak_gflops (sdcl_cl *cl);

#endif /* SDCL_OPS_H */

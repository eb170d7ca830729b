/* GEMM backends behind op_linear and op_conv2d.  Internal to the device
 * layer.
 *
 * The context's backend (sdcl_cl_gemm_backend: SDCL_GEMM, else the
 * device's tuning file, else own) decides:
 * - own: sdcl's register-tiled kernels (gemm.cl): gemm_panel /
 *   gemm_conv_panel on weights packed in panels at upload (CPU devices:
 *   sdcl_cl_packs_weights), gemm_nt on row-major weights (GPUs);
 * - clblast (when built with it): CLBlastSgemm on row-major weights, F16
 *   weights first widened to F32 into a bounded scratch tensor (CLBlast's
 *   HGEMM would need cl_khr_fp16), then sdcl's epilogue kernel for bias,
 *   activation and residual.  Linear layers and the gathered convolution
 *   (whose output is NCHW: the transposed product) both map onto one
 *   SGEMM; a layout neither fits falls back to gemm_nt.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GEMM_H
#define SDCL_GEMM_H

#include "ops.h"

/* out = act (x[M, K] . w[N, K]^T + bias) + residual, where output element
 * (m, n) is y[y_off + m * stride_m + n * stride_n] (residual alike). */
typedef struct {
  cl_mem x;
  int64_t M, K;
  const sdcl_w *w;          /* [N, ...] with K values per row; may be split */
  const sdcl_w *bias;       /* [N] or NULL */
  cl_mem residual;          /* or NULL */
  cl_mem y;
  int64_t y_off, stride_m, stride_n;
  sdcl_act act;
} sdcl_gemm_desc;

/* Runs the own kernel, one launch per weight part. */
void sdcl_gemm_run (sdcl_cl *cl, const sdcl_gemm_desc *g);

/* Convolution by gemm_conv_panel (weights with w->panel): g->x is the
 * zero-padded input (planes of Hp x Wp, conv_pad), x_off its batch entry's
 * offset; rows are the Ho x Wo output pixels (g->M). */
void sdcl_gemm_conv_panel (sdcl_cl *cl, const sdcl_gemm_desc *g, int64_t x_off, int C, int kh,
                           int kw, int stride, int Wo, int Hp, int Wp);

/* op_linear after validation: M = x->n / K, K = w->n / w->d[0], N = w->d[0]. */
void sdcl_gemm_linear (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                       const sdcl_t *residual, sdcl_act act, sdcl_t *y);

/* The epilogue alone (bias, activation, residual over the g->M x N
 * outputs of g), for backends that only multiply. */
void sdcl_gemm_epilogue (sdcl_cl *cl, const sdcl_gemm_desc *g, int64_t N);

/* CLBlast backend: returns false (doing nothing) when the output layout
 * is neither row- nor column-contiguous (stride_n or stride_m 1) or the
 * weights are panel-packed; the caller then runs the own kernel. */
bool sdcl_gemm_clblast (sdcl_cl *cl, const sdcl_gemm_desc *g);

#endif

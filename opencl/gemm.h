/* GEMM backends behind op_linear and op_conv2d.  Internal to the device
 * layer.
 *
 * The default backend is sdcl's own register-tiled kernels (gemm.cl):
 * gemm_panel / gemm_conv_panel on weights packed in panels at upload (CPU
 * devices: sdcl_cl_packs_weights), gemm_nt on row-major weights (GPUs);
 * SDCL_GEMM=clblast in the environment selects CLBlast for linear layers
 * with F32 weights when sdcl was built with it (F16 weights and
 * convolutions always use the own kernel).
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

/* The epilogue alone, for backends that only multiply: columns
 * [n_off, n_off + cols) of y [rows, ldy]. */
void sdcl_gemm_epilogue (sdcl_cl *cl, sdcl_t *y, const sdcl_w *bias, const sdcl_t *residual,
                         sdcl_act act, int64_t rows, int64_t cols, int64_t ldy, int64_t n_off);

/* CLBlast backend for linear layers: returns false (doing nothing) when it
 * does not apply (F16 weights). */
bool sdcl_gemm_clblast (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                        const sdcl_t *residual, sdcl_act act, sdcl_t *y);

#endif

/* Plain-C reference implementations of the device ops (opencl/ops.h), used
 * by the kernel tests.  Straightforward loops with double accumulation:
 * slow, obviously correct.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_REF_OPS_H
#define SDCL_REF_OPS_H

#include "ops.h"

#include <glib.h>

/* n floats uniform in [lo, hi) from rng (g_free them); test inputs. */
float *ref_random_floats (GRand *rng, long n, float lo, float hi);

float ref_act (float x, sdcl_act act);

/* y[M,N] = act (x[M,K] w[N,K]^T + bias) + res; bias, res may be NULL. */
void ref_linear (const float *x, const float *w, const float *bias, const float *res, sdcl_act act,
                 int M, int N, int K, float *y);

/* Output size of a convolution (see op_conv2d). */
void ref_conv2d_size (const sdcl_conv_desc *d, int H, int W, int kh, int kw, int *Ho, int *Wo);
/* x [B,C,H,W], w [O,C,kh,kw]; y [B,O,Ho,Wo] with Ho, Wo from ref_conv2d_size. */
void ref_conv2d (const float *x, int B, int C, int H, int W, const float *w, int O, int kh, int kw,
                 const float *bias, const sdcl_conv_desc *d, const float *res, float *y);

void ref_group_norm (const float *x, int B, int C, long hw, const float *gamma, const float *beta,
                     int groups, float eps, bool silu, float *y);
void ref_layer_norm (const float *x, long rows, int C, const float *gamma, const float *beta,
                     float eps, float *y);

void ref_attention (const float *q, const float *k, const float *v, int B, int N, int M, int heads,
                    int dh, float scale, bool causal, float *o);

void ref_geglu (const float *x, long M, long F, float *y);
/* y [B, cols, rows] = x [B, rows, cols] transposed. */
void ref_transpose (const float *x, int B, long rows, long cols, float *y);
void ref_concat_channels (const float *a, int Ca, const float *b, int Cb, int B, long hw, float *y);

#endif

/* Which convolution kernel runs, and the GPUs' tiled implicit GEMM
 * (kernels/conv_tiled.cl).  Internal to the device layer (op_conv2d in
 * ops.c dispatches on the choice).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CONV_TILED_H
#define SDCL_CONV_TILED_H

#include "gemm.h"

/* A convolution's geometry as the kernels take it (conv.cl's conv_shape,
 * conv_tiled.cl's conv_tiled_shape: all cl_int, so the layouts agree). */
typedef struct {
  cl_int C, H, W;
  cl_int UH, UW;     /* input size after the (virtual) nearest upsample */
  cl_int Ho, Wo;
  cl_int kh, kw, stride, pad_t, pad_l;
  cl_int wrap;       /* circular padding */
} sdcl_conv_shape;

/* - implicit: gemm_conv_panel over banded padded copies of the input, on
 *   weights packed in panels (CPUs);
 * - tiled: conv_tiled, local-memory tiles, patches read in place (GPUs);
 * - gather: patches of a chunk of pixels gathered into a bounded buffer,
 *   then the GEMM backend's kernel (CLBlast, gemm_tiled or gemm_nt). */
typedef enum {
  SDCL_CONV_IMPLICIT,
  SDCL_CONV_TILED,
  SDCL_CONV_GATHER
} sdcl_conv_kernel;

const char *sdcl_conv_kernel_name (sdcl_conv_kernel kernel);

/* SDCL_CONV: unset or auto|implicit|winograd|tiled|gather; else false with the reason in
 * why.  Checked at context creation. */
bool sdcl_conv_env_valid (char *why, size_t why_size);

/* The one place the convolution kernel is chosen, for weights w.  Panel
 * weights (CPU kernels): implicit; row-major ones: tiled with the own
 * backend's tiled GEMM kernel (sdcl_gemm_kernel_choice: GPUs), gather
 * otherwise (CLBlast, gemm_nt).  SDCL_CONV=gather forces gather;
 * SDCL_CONV=tiled forces tiled on row-major weights (the CPU kernels pack
 * weights in panels, which conv_tiled cannot read: there it is implicit);
 * SDCL_CONV=implicit is the default choice. */
sdcl_conv_kernel sdcl_conv_kernel_choice (const sdcl_cl *cl, const sdcl_w *w);

/* conv_tiled's tile sizes: the meaning of gemm_tiled's (BM pixels x BN
 * output channels per work-group, BK along K, TM x TN per work-item);
 * BM a power of two. */
extern const sdcl_tiled_config sdcl_conv_tiled_configs[];
extern const int sdcl_n_conv_tiled_configs;

size_t sdcl_conv_tiled_local_bytes (const sdcl_tiled_config *c);

/* Configuration `index`'s kernel for weights like w and a kh x kw kernel
 * (built on first use; NULL and a sticky error when the build fails),
 * and whether it runs within the limits (as sdcl_tiled_kernel_fits). */
cl_kernel sdcl_conv_tiled_kernel (sdcl_cl *cl, const sdcl_w *w, int index, int kh, int kw);
bool sdcl_conv_tiled_fits (sdcl_cl *cl, cl_kernel k, int index, uint64_t local_mem);

/* The configuration conv_tiled runs with: the tuned one
 * (sdcl_cl_tile_choice ()->conv[F16]) if it fits, else the first of the
 * table that fits sdcl_tiled_limits; *k its kernel.  -1 when none fits or
 * a build failed (sticky error). */
int sdcl_conv_tiled_pick (sdcl_cl *cl, const sdcl_w *w, int kh, int kw, cl_kernel *k);

/* y = conv (x, w) + bias, + residual (both optional), batch entries of
 * s's geometry, O = w->d[0] output channels.  False (nothing enqueued)
 * when no configuration fits the device: the caller gathers instead. */
bool sdcl_conv_tiled_run (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                          const sdcl_t *residual, sdcl_t *y, const sdcl_conv_shape *s,
                          int64_t batch);

#endif

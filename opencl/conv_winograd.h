/* Winograd F(4x4, 3x3) convolution on the CPU kernels (kernels/winograd.cl).
 * Internal to the device layer.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CONV_WINOGRAD_H
#define SDCL_CONV_WINOGRAD_H

#include "ops.h"

/* op_conv2d's convolution (arguments already checked there) through the
 * Winograd transform, when sdcl_conv_winograd_applies says so: true when
 * it ran (or failed with a sticky error), false with nothing enqueued. */
bool sdcl_conv_winograd (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                         const sdcl_conv_desc *d, const sdcl_t *residual, sdcl_t *y);

/* The one place that decides.  Possible for 3x3 stride-1 convolutions
 * on panel-packed weights (CPU kernels) in one part.  SDCL_CONV=winograd
 * takes it wherever possible, SDCL_CONV=implicit (or gather) never;
 * otherwise (auto) for F16 weights where the output has enough 4 x 4 tiles and channels
 * for the transforms to pay (see the function).  Where the transformed
 * weight comes from (kept, or made per use) never changes the choice:
 * sdcl_conv_winograd runs nothing only where neither fits the device. */
bool sdcl_conv_winograd_applies (const sdcl_w *w, const sdcl_conv_desc *d, int64_t batch,
                                 int64_t C, int64_t O, int64_t Ho, int64_t Wo);

#endif

/* Pixel-space helpers of the image-editing pipelines: resampling, mask
 * blur, bounding boxes and linear-light compositing.  Host float32 on
 * interleaved images.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_IMAGE_OPS_H
#define SDCL_IMAGE_OPS_H

#include <stdbool.h>

#include "sdcl.h"

/* A pixel rectangle, half-open: x0 <= x < x1, y0 <= y < y1. */
typedef struct {
  int x0, y0, x1, y1;
} sdcl_box;

/* Separable Lanczos-3 resampling of an interleaved image with c channels
 * (resize.c).  The kernel is widened by the scale factor when shrinking, so
 * it low-passes like PIL's LANCZOS (what diffusers' preprocessing uses);
 * edge taps outside the image are dropped and the rest renormalised.  The
 * result is clamped to [0, 1].  Same size is a plain copy. */
void sdcl_resize_lanczos3 (const float *src, int sw, int sh, int c, float *dst, int dw, int dh);

/* A new image: `src` resized to w x h with the rule above. */
void sdcl_image_resized (const sdcl_image *src, int w, int h, sdcl_image *out);
/* A new image: the box of `src`. */
void sdcl_image_crop (const sdcl_image *src, sdcl_box box, sdcl_image *out);
/* A new image: a copy of `src`. */
void sdcl_image_copy (const sdcl_image *src, sdcl_image *out);

/* Gaussian blur of a one-channel w x h mask with standard deviation
 * `sigma` pixels (mask.c), separable, kernel cut at 3 sigma, edges
 * replicated.  Accumulated in double with weights that sum to 1, so a
 * region that is uniformly 0 or 1 over the kernel's reach stays exactly 0
 * or 1.  sigma <= 0 copies. */
void sdcl_mask_blur (const float *src, int w, int h, float sigma, float *dst);

/* The tight box of the pixels > 0; false when there are none. */
bool sdcl_mask_bbox (const float *mask, int w, int h, sdcl_box *box);

/* Pastes `gen` (the box's size) into `dst` over `box`, weighted per pixel
 * by `mask` (dst's size, one channel): 0 keeps dst's pixel as it is
 * (untouched, so bit-identical), 1 takes gen's, values in between blend in
 * linear light (sRGB decoded, mixed, re-encoded) so that edges do not get
 * the dark fringe of mixing gamma-encoded values. */
void sdcl_composite (sdcl_image *dst, const sdcl_image *gen, const float *mask, sdcl_box box);

#endif /* SDCL_IMAGE_OPS_H */

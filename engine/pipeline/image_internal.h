/* Conversions between the networks' planar tensors and sdcl_image.
 * Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_IMAGE_INTERNAL_H
#define SDCL_IMAGE_INTERNAL_H

#include "sdcl.h"

/* Raw VAE decoder output (planar [channels, h, w], about [-1, 1]) to an
 * interleaved RGB image in [0, 1]: clamp(x / 2 + 0.5, 0, 1), as diffusers'
 * postprocessing.  Uses the first 3 channels. */
void sdcl_image_from_decoder (const float *planar, int channels, int h, int w, sdcl_image *out);

/* A cheap RGB rendering of latents (planar [c, h, w]) at latent resolution,
 * for progress previews: a fixed linear map fitted to the SD 1.x/2.x VAE's
 * latent space; other channel counts render channel 0 as grey. */
void sdcl_render_latent_preview (const float *latents, int c, int h, int w, sdcl_image *out);

#endif /* SDCL_IMAGE_INTERNAL_H */

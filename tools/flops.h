/* FLOP counts of the networks, from their configs (tools only).
 *
 * Convolutions and linear layers count 2 * multiply-accumulates; attention
 * counts its two products (q k^T and p v): 4 * queries * keys * channels.
 * Norms, activations, softmax and elementwise work are not counted (they
 * are a few percent and not FLOP-bound).  The figures reproduce
 * docs/performance.md (SD1.5 UNet 180 / 803 GFLOP at 32x32 / 64x64
 * latents, VAE decoder 622 / 2515 GFLOP to 256 / 512 pixels).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TOOLS_FLOPS_H
#define SDCL_TOOLS_FLOPS_H

#include "model_files.h"

typedef struct {
  double conv, linear, attention;
} sdcl_flops;

static inline double
sdcl_flops_total (const sdcl_flops *f)
{
  return f->conv + f->linear + f->attention;
}

/* One UNet evaluation, batch 1, latent h x w, `tokens` context tokens. */
sdcl_flops sdcl_unet_flops (const sdcl_unet_config *c, int h, int w, int tokens);
/* VAE decoder from a latent h x w; encoder from an image H x W. */
sdcl_flops sdcl_vae_decoder_flops (const sdcl_vae_config *c, int h, int w);
sdcl_flops sdcl_vae_encoder_flops (const sdcl_vae_config *c, int H, int W);
/* CLIP text encoder, batch 1, `tokens` tokens, all layers. */
sdcl_flops sdcl_clip_flops (const sdcl_clip_config *c, int tokens);

#endif

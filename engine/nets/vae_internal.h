/* The AutoencoderKL's layout, shared by the whole-tensor forward (vae.c)
 * and the tiled one (vae_tiled.c).  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_VAE_INTERNAL_H
#define SDCL_VAE_INTERNAL_H

#include "nets.h"
#include "nn.h"

typedef struct {
  nn_group_norm norm;
  nn_attention attn;
} vae_attention;

typedef struct {
  int n_layers;
  nn_resnet *resnets;
  nn_conv sampler;              /* weight NULL when the block does not resample */
} vae_block;

/* One half of the autoencoder: the encoder and the decoder share this shape
 * (conv_in, blocks, mid block, output head) and differ in block direction. */
typedef struct {
  nn_conv quant;                /* quant_conv (encoder, last) / post_quant_conv (decoder, first) */
  nn_conv conv_in;
  int n_blocks;
  vae_block *blocks;
  nn_resnet mid_resnets[2];
  bool mid_has_attention;
  vae_attention mid_attention;
  nn_group_norm norm_out;
  nn_conv conv_out;
} vae_coder;

struct sdcl_vae {
  sdcl_cl *cl;
  sdcl_vae_config cfg;
  nn_weights weights;
  vae_coder decoder;
  vae_coder encoder;
  bool has_encoder;
};

/* x + out(attention(GroupNorm(x) as tokens)): the mid block's global
 * attention, which both forwards run on the whole tensor (vae.c). */
sdcl_t sdcl_vae_attention_forward (sdcl_cl *cl, const vae_attention *a, const sdcl_t *x);

#endif /* SDCL_VAE_INTERNAL_H */

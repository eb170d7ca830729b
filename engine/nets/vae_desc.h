/* The AutoencoderKL's block tree: the one description of its layout, built
 * from its config.  Internal.
 *
 * The network's constructor (vae.c), which also lists the tensors it
 * expects (sdcl_vae_tensor_specs: the same loading code, run through a
 * listing loader), and the FLOP count (tools/flops.c) walk this list.
 * What a module holds inside (a resnet's norms and convs) is the loading
 * code's (nn.c, vae.c).  The VAE's single-file names need no walk:
 * LDM renames each module by a fixed rule whatever the geometry
 * (ldm_map.c).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_VAE_DESC_H
#define SDCL_VAE_DESC_H

#include "model_files.h"

typedef enum {
  SDCL_VAE_QUANT,          /* quant_conv (encoder, last) / post_quant_conv (decoder, first): 1x1 */
  SDCL_VAE_CONV_IN,        /* 3x3 */
  SDCL_VAE_RESNET,         /* ResnetBlock2D of level block `block`, no time embedding */
  SDCL_VAE_DOWNSAMPLE,     /* 3x3 stride 2, asymmetric padding: the size halves (rounding down) */
  SDCL_VAE_UPSAMPLE,       /* nearest x2, then 3x3 */
  SDCL_VAE_MID_RESNET,
  SDCL_VAE_MID_ATTENTION,  /* GroupNorm + single-head attention over all channels */
  SDCL_VAE_NORM_OUT,       /* GroupNorm + SiLU */
  SDCL_VAE_CONV_OUT,       /* 3x3 */
} sdcl_vae_role;

/* One module, in data-flow order: the encoder's, then the decoder's. */
typedef struct {
  bool decoder;            /* which half it belongs to */
  sdcl_vae_role role;
  int block, j;            /* down_blocks.<block> / up_blocks.<block>, resnets.<j> */
  int64_t in, out;         /* channels */
  int k;                   /* kernel side of convolutions */
  char name[56];           /* canonical module, e.g. "decoder.up_blocks.1.resnets.2" */
} sdcl_vae_layer;

typedef struct {
  sdcl_vae_layer *layers;
  int n_layers;
} sdcl_vae_desc;

/* The layout a config describes (1..SDCL_MAX_LEVELS levels, at least one
 * layer per block).  Free with sdcl_vae_desc_free. */
sdcl_vae_desc *sdcl_vae_describe (const sdcl_vae_config *c);
void sdcl_vae_desc_free (sdcl_vae_desc *d);

#endif /* SDCL_VAE_DESC_H */

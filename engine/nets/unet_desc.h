/* The UNet's block tree: the one description of a UNet2DConditionModel's
 * layout, built from its config.  Internal.
 *
 * Everything that needs the UNet's structure walks this list instead of
 * re-deriving it: the network's constructor (unet.c: which module, which
 * channels, which heads; run through a listing loader, the same code gives
 * the expected tensors, sdcl_unet_tensor_specs), the single-file names
 * (ldm_map.c, both directions) and the FLOP count (tools/flops.c).  What a
 * layer holds inside (a resnet's norms and convs, a transformer's
 * attentions) is the loading code's (nn.c, unet.c); ldm_map.c renames
 * those parts by fixed rules.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_UNET_DESC_H
#define SDCL_UNET_DESC_H

#include "model_files.h"

typedef enum {
  SDCL_UNET_LINEAR,      /* in -> out features (the time embedding) */
  SDCL_UNET_CONV,        /* in -> out channels, k x k, stride 1 */
  SDCL_UNET_NORM,        /* GroupNorm over `out` channels */
  SDCL_UNET_RESNET,      /* ResnetBlock2D in -> out, with the time embedding */
  SDCL_UNET_ATTENTION,   /* Transformer2DModel over `out` channels (block's heads, depth) */
  SDCL_UNET_DOWNSAMPLE,  /* 3x3 conv with stride 2: the spatial size halves (rounding up) */
  SDCL_UNET_UPSAMPLE,    /* nearest x2 upsampling, then a 3x3 conv */
} sdcl_unet_layer_kind;

/* One module, in execution order. */
typedef struct {
  sdcl_unet_layer_kind kind;
  int block;             /* index into sdcl_unet_desc.blocks, -1 for the stem and head */
  int j;                 /* resnets.<j> / attentions.<j> inside its block */
  int64_t in, out;       /* channels; an up block's resnets count the skip in `in` */
  int k;                 /* kernel side of convolutions */
  bool bias;             /* linear layers: has a bias */
  char name[48];         /* canonical module, e.g. "down_blocks.1.resnets.0" */
  char ldm[48];          /* the LDM module below model.diffusion_model.,
                            e.g. "input_blocks.4.0"; "" when LDM files have none */
} sdcl_unet_layer;

typedef enum { SDCL_UNET_DOWN, SDCL_UNET_MID, SDCL_UNET_UP } sdcl_unet_block_kind;

/* down_blocks.<i>, mid_block, up_blocks.<i>: a run of layers sharing a
 * resolution level and, for their attentions, heads and depth. */
typedef struct {
  sdcl_unet_block_kind kind;
  int index;             /* i of down_blocks.i / up_blocks.i; 0 for the mid block */
  int level;             /* resolution level, 0 = the latent's size */
  char name[24];
  int heads, depth;      /* of its attentions */
  int n_resnets;
  bool has_attn;
  bool has_sampler;      /* ends in a down- or upsampler */
  int first, n_layers;   /* its layers: layers[first .. first + n_layers) */
} sdcl_unet_block;

typedef struct {
  sdcl_unet_layer *layers;
  int n_layers;
  sdcl_unet_block *blocks;   /* n_levels down blocks, the mid block, n_levels up blocks */
  int n_blocks;
} sdcl_unet_desc;

/* The layout a config describes (the config must have 1..SDCL_MAX_LEVELS
 * levels and at least one layer per block).  Free with
 * sdcl_unet_desc_free. */
sdcl_unet_desc *sdcl_unet_describe (const sdcl_unet_config *c);
void sdcl_unet_desc_free (sdcl_unet_desc *d);

/* The layout that names LDM tensors for a geometry: every down level with
 * attention and a downsampler, the mid block with attention (LDM files are
 * read leniently: a tensor of a module the config lacks is named, then
 * refused as unexpected), up blocks with attention as `up_has_attn` says.
 * Channels are not meaningful.  1 <= n_levels <= SDCL_MAX_LEVELS,
 * layers_per_block >= 1. */
sdcl_unet_desc *sdcl_unet_describe_names (int layers_per_block, int n_levels,
                                          const bool *up_has_attn);

#endif /* SDCL_UNET_DESC_H */

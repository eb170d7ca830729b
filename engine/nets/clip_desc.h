/* The CLIP text tower's module list: the one description of its layout,
 * built from its config.  Internal.
 *
 * The encoder's constructor (clip.c), which also lists the tensors it
 * expects (sdcl_clip_tensor_specs: the same loading code, run through a
 * listing loader), and the FLOP count (tools/flops.c) walk this list.
 * What a module holds inside (a layer's norms, attention and MLP) is the
 * loading code's (nn.c, clip.c).  Its single-file names are a prefix swap
 * (ldm_map.c).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CLIP_DESC_H
#define SDCL_CLIP_DESC_H

#include "model_files.h"

typedef enum {
  SDCL_CLIP_TOKEN_EMBEDDING,     /* [rows = vocab, width] */
  SDCL_CLIP_POSITION_EMBEDDING,  /* [rows = positions, width] */
  SDCL_CLIP_LAYER,               /* pre-LN transformer layer: width, MLP inner width */
  SDCL_CLIP_FINAL_NORM,          /* LayerNorm over width */
  SDCL_CLIP_TEXT_PROJECTION,     /* [rows = projection_dim, width = hidden], no bias (SDXL's
                                  * bigG); rows and width swapped when stored transposed */
} sdcl_clip_role;

/* One module, in execution order. */
typedef struct {
  sdcl_clip_role role;
  int index;             /* encoder.layers.<index> */
  int64_t rows, width, inner;
  char name[64];         /* canonical module, e.g. "text_model.encoder.layers.3" */
} sdcl_clip_module;

typedef struct {
  sdcl_clip_module *modules;
  int n_modules;
} sdcl_clip_desc;

sdcl_clip_desc *sdcl_clip_describe (const sdcl_clip_config *c);
void sdcl_clip_desc_free (sdcl_clip_desc *d);

#endif /* SDCL_CLIP_DESC_H */

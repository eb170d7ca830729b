/* Writing random-weight checkpoints: the engine of sdcl-mkmodel, also used
 * by the loader tests to build small models.
 *
 * Every value is a pure function of (seed, canonical tensor name, element
 * index), so a diffusers folder and an LDM single file written with the same
 * seed hold identical weights.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_MODEL_WRITER_H
#define SDCL_MODEL_WRITER_H

#include <glib.h>

#include "model_files.h"

typedef struct {
  sdcl_unet_config unet;
  sdcl_vae_config vae;
  sdcl_clip_config clip;
  /* SD 2.x (model_writer_sd2.c): the single file names the text encoder
   * as OpenCLIP does (fused q/k/v, one resblock more than is run) and gets
   * an LDM .yaml beside it saying the head width and the prediction. */
  bool openclip;
  bool v_prediction;    /* 768-v: v_prediction in the scheduler config / yaml */
  int head_channels;    /* the UNet's head width (SD 2.x: 64) */
} mk_model;

/* SD 1.5's shapes (4 or 9 UNet input channels). */
void mk_model_sd15 (mk_model *m, bool inpaint);
/* A small model with SD 1.x's module layout (cross-attention as wide as
 * the CLIP text encoder, 4 VAE levels), for fast tests: about 2 MB. */
void mk_model_tiny (mk_model *m, bool inpaint);

/* SD 2.1's shapes: 512 base (epsilon) or 768-v; 9 channels for inpaint. */
void mk_model_sd21 (mk_model *m, bool inpaint, bool v);
/* mk_model_tiny's networks in SD 2.x's form (OpenCLIP text tower with
 * exact GELU, linear projections, 32-wide heads), for fast tests. */
void mk_model_tiny_sd2 (mk_model *m, bool inpaint, bool v);

/* A tensor to write: its name in the file, shape and the canonical name
 * that seeds its values.  A fused tensor (OpenCLIP's in_proj: q, k, v
 * stacked along dim 0) also names its second and third parts, each
 * shape[0] / 3 rows, seeded by their own canonical names so that both
 * layouts hold the same weights. */
typedef struct {
  char name[160];
  char canonical[112];
  char fused[2][112];
  int nd;
  int64_t shape[4];
} mk_tensor;

/* The tensors of one component, named canonically or in the LDM layout. */
mk_tensor *mk_component_tensors (const mk_model *m, sdcl_component comp, bool ldm_names, size_t *count);
/* The OpenCLIP single-file text tower of an SD 2.x model (model_writer_sd2.c). */
mk_tensor *mk_openclip_tensors (const mk_model *m, size_t *count);
/* <path without .safetensors>.yaml for an SD 2.x single file. */
bool mk_write_ldm_yaml (const char *safetensors_path, const mk_model *m, GError **error);

/* The seed that asks for all-zero weights, written as a sparse file (the
 * data is a hole): an SD-sized checkpoint in no time and no disk space,
 * for tests of memory limits. */
#define MK_SEED_ZEROS UINT64_MAX

/* Writes a safetensors file of `dtype` (F32, F16 or BF16), streaming the
 * values tensor by tensor. */
bool mk_write_safetensors (const char *path, const mk_tensor *tensors, size_t count, sdcl_dtype dtype,
                           uint64_t seed, GError **error);

/* A diffusers folder (created if needed) with model_index.json, every
 * component config, the scheduler config of SD 1.5 (PNDM) and weights. */
bool mk_write_diffusers (const char *dir, const mk_model *m, sdcl_dtype dtype, uint64_t seed,
                         GError **error);
/* One LDM-layout .safetensors file holding UNet, VAE and text encoder. */
bool mk_write_single_file (const char *path, const mk_model *m, sdcl_dtype dtype, uint64_t seed,
                           GError **error);

#endif /* SDCL_MODEL_WRITER_H */

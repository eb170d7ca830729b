/* Writing random-weight checkpoints: the engine of sdcl-mkmodel, also used
 * by the loader tests to build small models.
 *
 * Every value is a pure function of (seed, canonical tensor name, element
 * index), so a diffusers folder and an LDM single file written with the same
 * seed hold identical weights.
 *
 * The tensors of each network come from the engine's own description of it
 * (the loaders run as listings, nets.h); a family (model_writer_<family>.c)
 * adds only its shapes, the names its single files give the text towers and
 * the configs a diffusers folder of it holds.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_MODEL_WRITER_H
#define SDCL_MODEL_WRITER_H

#include <glib.h>

#include "model_files.h"

typedef struct mk_family mk_family;

typedef struct {
  const mk_family *family;
  sdcl_unet_config unet;
  sdcl_vae_config vae;
  sdcl_clip_config clip;
  sdcl_clip_config clip2; /* SDXL's OpenCLIP bigG (with projection); n_layers 0: none */
  bool v_prediction;      /* 768-v: v_prediction in the scheduler config / yaml */
  int head_channels;      /* the UNet's head width when the family fixes one (SD 2.x: 64) */
} mk_model;

/* A tensor to write: its name in the file, shape and the canonical name
 * that seeds its values.  A fused tensor (OpenCLIP's in_proj: q, k, v
 * stacked along dim 0) also names its second and third parts, each
 * shape[0] / 3 rows, seeded by their own canonical names so that both
 * layouts hold the same weights.  A transposed one (OpenCLIP's
 * text_projection, [hidden, proj]) holds the canonical matrix of shape
 * [shape[1], shape[0]] transposed. */
typedef struct {
  char name[160];
  char canonical[112];
  char fused[2][112];
  int nd;
  int64_t shape[4];
  bool transposed;
} mk_tensor;

/* What a family adds to the common writer. */
struct mk_family {
  const char *name;            /* as --family says it: "sd15" */
  const char *title;           /* "SD 1.5" */
  bool has_v;                  /* a v-prediction variant exists (--v) */
  /* The family's shapes: real size or a few-MB model of the same layout;
   * 9 UNet input channels for inpainting; v prediction. */
  void (*shapes) (mk_model *m, bool tiny, bool inpaint, bool v);
  /* diffusers folder: the pipeline classes of model_index.json and the
   * scheduler the family ships (class name and settings). */
  const char *pipeline, *inpaint_pipeline;
  const char *(*scheduler) (const mk_model *m, sdcl_sched_config *s);
  bool force_zeros_for_empty_prompt;
  /* Single file: a text tower's tensors (SDCL_COMP_TEXT or _TEXT2) under
   * the file's names; then what the tensors cannot say, written beside
   * the file (SD 2.x's .yaml), or NULL. */
  mk_tensor *(*ldm_text) (const mk_model *m, sdcl_component comp, size_t *count);
  bool (*ldm_extra) (const char *safetensors_path, const mk_model *m, GError **error);
};

extern const mk_family mk_family_sd15, mk_family_sd21, mk_family_sdxl;
/* By --family name; NULL when unknown. */
const mk_family *mk_family_find (const char *name);

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

/* The tensors of one component, named canonically or in the LDM layout. */
mk_tensor *mk_component_tensors (const mk_model *m, sdcl_component comp, bool ldm_names, size_t *count);
/* A CLIP text tower in the LDM layout of SD 1.x: canonical names under
 * `prefix` ("cond_stage_model.transformer."). */
mk_tensor *mk_ldm_clip_tensors (const sdcl_clip_config *c, const char *prefix, size_t *count);
/* A text tower in OpenCLIP's layout under `prefix` (fused q/k/v, its
 * text_projection transposed), with `extra_layers` resblocks more than
 * the config runs (SD 2.x's files hold one). */
mk_tensor *mk_openclip_tensors (const sdcl_clip_config *c, int extra_layers, const char *prefix,
                                size_t *count);

/* The seed that asks for all-zero weights, written as a sparse file (the
 * data is a hole): an SD-sized checkpoint in no time and no disk space,
 * for tests of memory limits. */
#define MK_SEED_ZEROS UINT64_MAX

/* Writes a safetensors file of `dtype` (F32, F16 or BF16), streaming the
 * values tensor by tensor. */
bool mk_write_safetensors (const char *path, const mk_tensor *tensors, size_t count, sdcl_dtype dtype,
                           uint64_t seed, GError **error);

/* A diffusers folder (created if needed) with model_index.json, every
 * component config, the family's scheduler config and weights
 * (model_writer_json.c). */
bool mk_write_diffusers (const char *dir, const mk_model *m, sdcl_dtype dtype, uint64_t seed,
                         GError **error);
/* One LDM-layout .safetensors file holding UNet, VAE and text encoder(s),
 * and the family's file beside it if any. */
bool mk_write_single_file (const char *path, const mk_model *m, sdcl_dtype dtype, uint64_t seed,
                           GError **error);

#endif /* SDCL_MODEL_WRITER_H */

/* Helpers shared by the model-loading files (configs*.c, ldm_yaml.c,
 * model_files.c) and their tests.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_LOADER_INTERNAL_H
#define SDCL_LOADER_INTERNAL_H

#include <json-glib/json-glib.h>

#include "ldm_map.h"
#include "model_files.h"

/* One text-encoder tensor of a single file, by its SD name
 * (cond_stage_model.transformer.* or, OpenCLIP, cond_stage_model.model.*,
 * fused in_proj split), into ws; layers from n_layers on and names sdcl
 * ignores are skipped (model_files.c). */
sdcl_status sdcl_ldm_add_text_tensor (sdcl_wset *ws, int n_layers, const char *sd_name,
                                      const sdcl_st_tensor *t, const sdcl_st_file *f, sdcl_error *err);

/* ---- configs (configs.c, configs_json.c, configs_ldm.c) ---- */

/* diffusers' class defaults for keys a config.json leaves out. */
void sdcl_unet_config_class_defaults (sdcl_unet_config *c);
void sdcl_vae_config_class_defaults (sdcl_vae_config *c);
void sdcl_clip_config_class_defaults (sdcl_clip_config *c);
/* Defaults every diffusers scheduler class shares; `class_name` (may be
 * NULL) sets set_alpha_to_one as DDIM and LCM do. */
void sdcl_sched_config_class_defaults (const char *class_name, sdcl_sched_config *c);

/* Parse one component's config.json object over the class defaults.
 * `file` names the file in messages; bad types or values give
 * SDCL_ERR_MODEL_FORMAT, unsupported block types SDCL_ERR_UNSUPPORTED_MODEL. */
sdcl_status sdcl_unet_config_from_json (JsonObject *o, const char *file, sdcl_unet_config *c,
                                        sdcl_error *err);
sdcl_status sdcl_vae_config_from_json (JsonObject *o, const char *file, sdcl_vae_config *c,
                                       sdcl_error *err);
sdcl_status sdcl_clip_config_from_json (JsonObject *o, const char *file, sdcl_clip_config *c,
                                        sdcl_error *err);
sdcl_status sdcl_sched_config_from_json (JsonObject *o, const char *file, sdcl_sched_config *c,
                                         sdcl_error *err);

/* Configs of a single LDM file, inferred from its tensor shapes with SD 1.x
 * conventions where the weights say nothing (heads, norms, scheduler). */
sdcl_status sdcl_unet_config_from_ldm (const sdcl_st_file *f, sdcl_unet_config *c, sdcl_error *err);
sdcl_status sdcl_vae_config_from_ldm (const sdcl_st_file *f, const char *prefix,
                                      sdcl_vae_config *c, sdcl_error *err);
sdcl_status sdcl_clip_config_from_ldm (const sdcl_st_file *f, sdcl_clip_config *c, sdcl_error *err);
/* The same for a HF-named CLIP tower under `prefix` (ending in
 * "text_model."), and for an OpenCLIP tower under `prefix` (every resblock
 * in n_layers, exact GELU); heads 64 wide (4 for narrow test towers). */
sdcl_status sdcl_clip_config_from_ldm_at (const sdcl_st_file *f, const char *prefix,
                                          sdcl_clip_config *c, sdcl_error *err);
sdcl_status sdcl_openclip_config_from_ldm (const sdcl_st_file *f, const char *prefix,
                                           sdcl_clip_config *c, sdcl_error *err);
/* Head counts per level from a head width (or a fixed count `n_heads` when
 * not 0); the error names `path` and says whether a yaml gave the width. */
sdcl_status sdcl_unet_heads_from_width (sdcl_unet_config *u, int width, int n_heads, const char *path,
                                        bool from_yaml, sdcl_error *err);

/* What the LDM inference config beside a single file says (ldm_yaml.c). */
typedef struct {
  bool found;                  /* <name>.yaml exists beside <name>.safetensors */
  bool has_prediction;
  sdcl_prediction prediction;  /* parameterization: "eps" / "v" */
  int num_head_channels;       /* 0: not given */
  int num_heads;               /* 0: not given */
} sdcl_ldm_yaml;

/* Reads <model_path minus extension>.yaml if it exists (out->found false
 * otherwise, SDCL_OK).  Errors name the yaml file and the bad key. */
sdcl_status sdcl_ldm_yaml_read (const char *model_path, sdcl_ldm_yaml *out, sdcl_error *err);
/* The same over text (`label` names it in messages); out->found is true. */
sdcl_status sdcl_ldm_yaml_parse (const char *text, size_t len, const char *label, sdcl_ldm_yaml *out,
                                 sdcl_error *err);

/* ---- family detection (the decision is families/family.c) ---- */

/* What the weights say about the family, gathered the same way from a
 * diffusers folder (model_files.c) and a single file (configs_ldm.c): tensor
 * names and shapes, never file names. */
typedef struct {
  int cross_attention_dim;       /* 0: no cross-attention found */
  bool linear_projection;        /* 2-D proj_in (SD 2.x / SDXL) */
  bool openclip_text;            /* OpenCLIP-format or GELU text encoder */
  int text_hidden;               /* text encoder width, 0 unknown */
  bool second_text_encoder;      /* SDXL's text_encoder_2 / conditioner.embedders.1 */
  int add_embedding_in;          /* SDXL add_embedding input width, 0 none */
  int unet_in_channels;
  /* SDXL: the second tower's width and text projection rows (0: none or
   * not found), the size ids' sinusoid width (0: unknown) */
  int text2_hidden, text2_projection;
  int add_time_embed_dim;
} sdcl_family_facts;

/* The facts of a single file (configs_ldm.c). */
void sdcl_family_facts_from_ldm (const sdcl_st_file *f, sdcl_family_facts *facts);

/* ---- opening a model (model_files.c; sdcl_model_files_open drives it) ---- */

/* Reads a model up to family detection: a folder's configs and weight
 * sets, a single file's UNet config, and the facts of either.  *out is set
 * (close it) even on failure, except for a missing path. */
sdcl_status sdcl_model_files_scan (const char *path, sdcl_model_files **out, sdcl_family_facts *facts,
                                   sdcl_error *err);
/* The rest, once mf->family, family_desc and the configs the family fills
 * are set: a single file's weights, every tensor checked against its
 * config, a folder's scheduler config and tokenizer. */
sdcl_status sdcl_model_files_finish (sdcl_model_files *mf, sdcl_error *err);

#endif /* SDCL_LOADER_INTERNAL_H */

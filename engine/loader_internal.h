/* Helpers shared by the model-loading files (configs*.c, ldm_map.c,
 * model_files.c, model_tensors.c) and their tests.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_LOADER_INTERNAL_H
#define SDCL_LOADER_INTERNAL_H

#include <json-glib/json-glib.h>

#include "families/family.h"
#include "model_files.h"
#include "nets/unet_desc.h"

/* SD's VAE always has 4 resolution levels; the LDM decoder numbers its up
 * blocks in reverse, so the mapping needs the count (docs/diffusion.md §VAE names). */
#define SDCL_LDM_VAE_LEVELS 4

#define SDCL_LDM_UNET_PREFIX "model.diffusion_model."
#define SDCL_LDM_TEXT_PREFIX "cond_stage_model.transformer."
#define SDCL_LDM_OPENCLIP_PREFIX "cond_stage_model.model."

/* ---- names (ldm_map.c) ---- */

/* Inverse of sdcl_ldm_map_name for the canonical names the enumerations
 * produce.  *conv_1x1 is set when the LDM file stores the tensor as a 1x1
 * convolution [C, C, 1, 1] whose canonical form is a [C, C] matrix (the VAE
 * mid-block attention). */
bool sdcl_ldm_unmap_name (sdcl_component comp, const char *canonical, int unet_layers_per_block,
                          int unet_n_levels, const bool *unet_up_has_attn, char *out,
                          size_t out_size, bool *conv_1x1);
/* sdcl_ldm_map_name and sdcl_ldm_unmap_name with the UNet's naming tree
 * (sdcl_unet_describe_names) built once by the caller, e.g. for all the
 * tensors of a file. */
/* True for an OpenCLIP resblock's fused q/k/v (`...resblocks.<layer>.attn.
 * in_proj_<leaf>`, leaf "weight" or "bias"): rows [0, D) are q, [D, 2D) k,
 * [2D, 3D) v; sdcl_ldm_map_name_in maps no such name. */
bool sdcl_ldm_openclip_in_proj (const char *ldm_name, int *layer, const char **leaf);
/* The OpenCLIP single-file name holding a canonical text tensor (q, k and
 * v name their fused in_proj). */
bool sdcl_ldm_unmap_openclip (const char *canonical, char *out, size_t size);
bool sdcl_ldm_map_name_in (const sdcl_unet_desc *unet_names, const char *ldm_name,
                           sdcl_component *comp, char *out, size_t out_size);
bool sdcl_ldm_unmap_name_in (const sdcl_unet_desc *unet_names, sdcl_component comp,
                             const char *canonical, char *out, size_t out_size, bool *conv_1x1);
/* Canonical name of a tensor of a diffusers folder: the text encoder gains
 * the `text_model.` prefix when its file lacks it, old VAE attention names
 * (query, key, value, proj_attn) become to_q, to_k, to_v, to_out.0.  False
 * for tensors sdcl ignores (position_ids buffers). */
bool sdcl_canonical_name (sdcl_component comp, const char *name, char *out, size_t out_size);
/* True for the VAE mid-block attention projections, which some layouts
 * store as [C, C, 1, 1] and the canonical form holds as [C, C]. */
bool sdcl_vae_attention_matrix (const char *canonical);

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

/* ---- family detection (configs_ldm.c; the decision is families/family.c) ---- */

void sdcl_family_facts_from_ldm (const sdcl_st_file *f, sdcl_family_facts *facts);

/* ---- weight sets (model_files.c) ---- */

sdcl_wset *sdcl_wset_new (const char *component, const char *source);
void sdcl_wset_free (sdcl_wset *ws);
/* Adds a tensor under a canonical name; a second tensor for the same name
 * is an error naming both.  `t` is copied (its data stays in the mapping,
 * its shape may already be the canonical one); `file` holds its data,
 * names it in messages and must outlive the set. */
sdcl_status sdcl_wset_add (sdcl_wset *ws, const char *canonical, const sdcl_st_tensor *t,
                           const sdcl_st_file *file, sdcl_error *err);

#endif /* SDCL_LOADER_INTERNAL_H */

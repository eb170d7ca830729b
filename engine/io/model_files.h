/* Host-side model description: which files make a checkpoint, their configs,
 * and the weights of each component under diffusers' canonical names.
 * Both layouts (diffusers folder, single-file LDM) end up here; the networks
 * only ever see canonical names.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_MODEL_FILES_H
#define SDCL_MODEL_FILES_H

#include <stdbool.h>

#include "safetensors.h"
#include "sdcl.h"

#define SDCL_MAX_LEVELS 8

/* UNet2DConditionModel configuration (diffusers config.json names). */
typedef struct {
  int in_channels, out_channels;
  int n_levels;                              /* len(block_out_channels) */
  int block_out_channels[SDCL_MAX_LEVELS];
  int layers_per_block;
  bool down_has_attn[SDCL_MAX_LEVELS];       /* CrossAttnDownBlock2D vs DownBlock2D */
  bool up_has_attn[SDCL_MAX_LEVELS];         /* per up block, in up-block order */
  int down_heads[SDCL_MAX_LEVELS];           /* heads per down level (docs/diffusion.md §UNet configuration) */
  int up_heads[SDCL_MAX_LEVELS];             /* heads per up block (reversed list) */
  int mid_heads;
  int transformer_depth[SDCL_MAX_LEVELS];    /* per down level; up blocks use reversed */
  int mid_transformer_depth;
  bool mid_has_attn;                         /* UNetMidBlock2DCrossAttn */
  int cross_attention_dim;
  bool use_linear_projection;
  bool upcast_attention;
  int norm_num_groups;
  float norm_eps;
  bool flip_sin_to_cos;
  float freq_shift;
  int sample_size;                           /* latent cells of the native resolution */
  int time_cond_proj_dim;                    /* 0 = none (LCM-distilled UNets set it) */
  int time_embed_dim;                        /* = 4 * block_out_channels[0] */
  /* SDXL's "text_time" add embedding (0: none): its input width
   * (projection_class_embeddings_input_dim = pooled + 6 x time width) and
   * the sinusoid width of each size/crop id (addition_time_embed_dim). */
  int add_embed_in;
  int add_time_embed_dim;
} sdcl_unet_config;

/* AutoencoderKL configuration. */
typedef struct {
  int in_channels, out_channels, latent_channels;
  int n_levels;
  int block_out_channels[SDCL_MAX_LEVELS];
  int layers_per_block;
  int norm_num_groups;
  float scaling_factor;
  bool use_quant_conv, use_post_quant_conv;
  bool mid_block_add_attention;
  int sample_size;                           /* pixels */
} sdcl_vae_config;

/* CLIP text tower configuration. */
typedef struct {
  int vocab_size, hidden_size, intermediate_size, n_layers, n_heads, max_position_embeddings;
  bool quick_gelu;                           /* hidden_act: quick_gelu (CLIP-L) or gelu */
  float layer_norm_eps;
  int eos_token_id;                          /* 2 in legacy configs (pooled = argmax rule) */
  int pad_token_id;                          /* id used to pad prompts to 77 */
  int projection_dim;                        /* text_projection outputs (SDXL's bigG), 0: none */
  bool projection_transposed;                /* stored [hidden, proj] (OpenCLIP), not [proj, hidden] */
} sdcl_clip_config;

/* Which published Align Your Steps timesteps a model takes (diffusers'
 * AysSchedules rows): its family's, not a scheduler_config.json key. */
typedef enum { SDCL_AYS_SD15 = 0, SDCL_AYS_SDXL } sdcl_ays_table;

/* Scheduler configuration (scheduler_config.json); defaults per
 * docs/diffusion.md §Diffusers folders. */
typedef struct {
  int num_train_timesteps;
  float beta_start, beta_end;
  char beta_schedule[32];                    /* "scaled_linear" | "linear" | "squaredcos_cap_v2" */
  sdcl_prediction prediction_type;
  int steps_offset;
  bool set_alpha_to_one;
  bool rescale_betas_zero_snr;               /* docs/diffusion.md §Zero terminal SNR */
  /* "leading" | "linspace" | "trailing", or "" when scheduler_config.json has
   * no timestep_spacing key: diffusers' from_config then gives every sampler
   * class its own default (DDIM/LCM leading, Euler/Euler a/DPM++ linspace),
   * so the loader must not fill in the file's class default here. */
  char timestep_spacing[16];
  /* DDPM and DDIM: what happens to the x0 estimate (diffusers' class
   * defaults: clip to +-1, no thresholding). */
  bool clip_sample;
  float clip_sample_range;
  bool thresholding;                         /* dynamic thresholding (Imagen) */
  float dynamic_thresholding_ratio;          /* the quantile of |x0| */
  float sample_max_value;                    /* the threshold's upper bound */
  /* DDPM: "fixed_small" (posterior variance) or "fixed_large" (beta_t), ...;
   * the sampler refuses what it does not implement. */
  char variance_type[24];
  /* PNDM: false (diffusers' class default, also for configs without the
   * key) runs Runge-Kutta warm-up steps before PLMS; true is PLMS alone. */
  bool skip_prk_steps;
  /* Keys of scheduler_config.json that sdcl does not use, comma-separated
   * ("" when none): ignored, and shown by `sdcl info`. */
  char ignored_keys[256];
  /* set by the pipeline from the model's family (sdcl_family_desc.ays) */
  sdcl_ays_table ays;
} sdcl_sched_config;

/* One component's weights, by canonical diffusers name (e.g.
 * "down_blocks.0.resnets.0.conv1.weight", "text_model.encoder.layers.0...").
 * Lookups never fail silently: use sdcl_wset_require for weights the network
 * needs, which records a message naming the missing tensor. */
typedef struct sdcl_wset sdcl_wset;

/* Building one (wset.c; the loader fills them). */
sdcl_wset *sdcl_wset_new (const char *component, const char *source);
void sdcl_wset_free (sdcl_wset *ws);
/* Adds a tensor under a canonical name; a second tensor for the same name
 * is an error naming both.  `t` is copied (its data stays in the mapping,
 * its shape may already be the canonical one); `file` holds its data,
 * names it in messages and must outlive the set. */
sdcl_status sdcl_wset_add (sdcl_wset *ws, const char *canonical, const sdcl_st_tensor *t,
                           const sdcl_st_file *file, sdcl_error *err);

const sdcl_st_tensor *sdcl_wset_find (const sdcl_wset *ws, const char *name);
size_t sdcl_wset_count (const sdcl_wset *ws);
/* The i-th canonical tensor (any order), i < sdcl_wset_count. */
const sdcl_st_tensor *sdcl_wset_at (const sdcl_wset *ws, size_t i);
const char *sdcl_wset_component (const sdcl_wset *ws); /* "unet", "vae", "text_encoder" */
/* Drops the mapped pages of tensor t (a pointer from ws's own lookups:
 * sdcl_wset_find/_at/_require) from the process's resident memory once its
 * data has been read (scanned or uploaded); see sdcl_st_drop_pages.  The
 * data stays readable. */
void sdcl_wset_drop_pages (const sdcl_wset *ws, const sdcl_st_tensor *t);
/* The same for every tensor of the set. */
void sdcl_wset_drop_all_pages (const sdcl_wset *ws);
/* LoRA side paths (engine/pipeline/lora_apply.c) reach the networks through their
 * weight set: every linear or convolution layer a loader builds asks for
 * the slot of its module (canonical name without ".weight") and keeps it;
 * the model points a slot's `side` at the low-rank weights of the current
 * LoRA list, or at NULL.  Slots are created on first use and live as long
 * as the set, so a network built later (lean, streamed layers) finds the
 * same ones and a resident network sees a new list without a rebuild. */
typedef struct {
  struct nn_lora_side *side;   /* NULL: the layer runs as loaded */
} sdcl_lora_slot;
sdcl_lora_slot *sdcl_wset_lora_slot (const sdcl_wset *ws, const char *module);
/* Points every slot of the set at NULL. */
void sdcl_wset_lora_clear (const sdcl_wset *ws);
/* Copies n bytes from byte `offset` of tensor t's data (t from ws's own
 * lookups) into dst: the only way the engine reads weights after loading
 * (sdcl_st_read: never through the mapping; "the model file changed on
 * disk since it was loaded" when the file was rewritten). */
sdcl_status sdcl_wset_read (const sdcl_wset *ws, const sdcl_st_tensor *t, uint64_t offset,
                            void *dst, size_t n, sdcl_error *err);
/* The tensor or NULL with err = SDCL_ERR_MODEL_FORMAT "missing tensor X in
 * <component> of <path>" or "tensor X has shape [..], expected [..]".
 * `shape` may be NULL (no check) or nd dims (-1 = any). */
const sdcl_st_tensor *sdcl_wset_require (const sdcl_wset *ws, const char *name, int nd,
                                         const int64_t *shape, sdcl_error *err);

typedef struct sdcl_model_files sdcl_model_files;

struct sdcl_model_files {
  char *path;                 /* as given */
  bool single_file;
  sdcl_family family;
  const struct sdcl_family_desc *family_desc;  /* families/family.h */
  sdcl_unet_config unet;
  sdcl_vae_config vae;
  sdcl_clip_config clip;
  sdcl_sched_config sched;
  sdcl_wset *unet_w, *vae_w, *text_w;
  char *vocab_path, *merges_path;            /* NULL when the model has no tokenizer/ */
  /* SDXL's second text encoder (text_encoder_2/; single files:
   * conditioner.embedders.1); NULL / zeros for one-encoder families. */
  sdcl_clip_config clip2;
  sdcl_wset *text2_w;
  /* A single file's tensors under the family's own names (SDXL's
   * conditioner.embedders.*), the family's hook (sdcl_family_desc's
   * ldm_tensor, set on detection): *taken when it placed (or skipped) t;
   * NULL when the family's files use SD's names only. */
  sdcl_status (*ldm_tensor) (sdcl_model_files *mf, const sdcl_st_file *f, const sdcl_st_tensor *t,
                             bool *taken, sdcl_error *err);
  /* An empty negative prompt conditions with zeros (model_index.json's
   * force_zeros_for_empty_prompt; SDXL's default). */
  bool force_zeros_for_empty_prompt;
  const char *prediction_source;             /* static text, as sdcl_model_info's */
  bool turbo;                                /* the family's Turbo settings applied (sdcl_model_variant) */
  /* internal: open safetensors files */
  sdcl_st_file **files;
  int n_files;
};

/* sdcl_model_files_open is the families' (families/family.h): detection
 * sits between reading a model and finishing it. */
void sdcl_model_files_close (sdcl_model_files *mf);

/* The networks a checkpoint holds weights for (ldm_map.h maps names);
 * TEXT2 is SDXL's second text encoder. */
typedef enum { SDCL_COMP_UNET, SDCL_COMP_VAE, SDCL_COMP_TEXT, SDCL_COMP_TEXT2 } sdcl_component;

/* ---- expected tensors ---- */

/* One tensor a configuration implies: canonical name and shape. */
typedef struct {
  char name[112];
  int nd;
  int64_t shape[4];
} sdcl_tensor_spec;

/* The networks list the tensors they expect (nets.h: sdcl_unet_tensor_specs, ...). */

/* Checks that ws holds every spec with exactly its shape and a float dtype
 * (F32, F16 or BF16), and nothing else; the first failure gives
 * SDCL_ERR_MODEL_FORMAT naming the tensor, the component and its file. */
sdcl_status sdcl_wset_check_specs (const sdcl_wset *ws, const sdcl_tensor_spec *specs, size_t count,
                                   sdcl_error *err);

/* Fills the SD 1.5 defaults (used for single files and missing keys). */
void sdcl_unet_config_sd15 (sdcl_unet_config *c);
void sdcl_vae_config_sd15 (sdcl_vae_config *c);
void sdcl_clip_config_sd15 (sdcl_clip_config *c);
void sdcl_sched_config_sd15 (sdcl_sched_config *c);

#endif /* SDCL_MODEL_FILES_H */

/* Model families: what sets SD 1.x, SD 2.x, SDXL apart, in one place each.
 *
 * A family is a constant description (sdcl_family_desc): how its
 * checkpoints are recognised, which networks it runs, how a prompt becomes
 * the UNet's conditioning, and the defaults its files leave out.  The
 * loader (model_files.c) knows no family: sdcl_model_files_open (family.c)
 * reads a model up to its facts, lets the registry decide, applies the
 * family's defaults and has the loader finish.  The model (model.c) and the
 * pipeline (pipeline.c) reach family specifics only through it.  Internal.
 *
 * Adding a family: a file engine/families/<name>.c defining one
 * sdcl_family_desc, and its entry in the registry table (family.c), placed
 * before any family whose detection would also claim its models.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_FAMILY_H
#define SDCL_FAMILY_H

#include <glib.h>
#include <stdbool.h>

#include "clrt.h"
#include "loader_internal.h"
#include "model_files.h"
#include "sdcl.h"

/* ---- detection --------------------------------------------------------- */

/* What the weights say (sdcl_family_facts) is gathered by the loader
 * (loader_internal.h); the families decide on it. */

/* ---- networks ------------------------------------------------------------ */

/* The roles of a run's networks (a run's phases acquire them by role). */
typedef enum { SDCL_NET_CLIP, SDCL_NET_UNET, SDCL_NET_VAE } sdcl_net;

/* ---- text conditioning --------------------------------------------------- */

/* What a prompt pair becomes for the UNet.  Batch entries are [negative,
 * positive] with classifier-free guidance, [positive] without. */
typedef struct {
  sdcl_t states;         /* cross-attention states [batch, n_tokens, dim], device */
  int n_tokens;
  float *pooled;         /* [batch, pooled_dim] host, g_malloc'ed; NULL when unused (SD 1.x) */
  int pooled_dim;
  float *time_ids;       /* [batch, n_time_ids] host (SDXL size/crop ids); NULL when unused */
  int n_time_ids;
} sdcl_conditioning;

/* What to encode. */
typedef struct {
  const char *prompt, *negative_prompt;  /* NULL reads as "" */
  bool cfg;                              /* encode the negative prompt too */
  int clip_skip;                         /* sdcl_gen_params.clip_skip */
  sdcl_prompt_syntax syntax;
  const GPtrArray *embeddings;            /* sdcl_embedding *, may be NULL */
  const volatile int *cancel;
  int width, height;                     /* the image (SDXL's size ids) */
} sdcl_prompt_request;

/* Releases everything c holds (safe on a zeroed or cleared struct). */
void sdcl_conditioning_clear (sdcl_cl *cl, sdcl_conditioning *c);

/* ---- the description ----------------------------------------------------- */

typedef struct sdcl_family_desc sdcl_family_desc;

struct sdcl_family_desc {
  sdcl_family id;
  const char *name;      /* "SD 1.x", as sdcl_model_info.family_name */

  /* True when the facts are this family's.  The registry asks in table
   * order; the first family that claims a model decides it. */
  bool (*claims) (const sdcl_family_facts *facts);
  /* Whether the claimed model can be run: SDCL_OK, or an error naming what
   * was found (SDCL_ERR_UNSUPPORTED_MODEL for families or variants sdcl
   * does not run).  `path` names the model in messages. */
  sdcl_status (*check) (const sdcl_family_facts *facts, const char *path, sdcl_error *err);

  /* The members below are set only for families whose check can pass. */

  /* Networks by role, in the order a resident model builds them. */
  const sdcl_net *nets;
  int n_nets;

  /* Published values a single file does not hold (its folder configs
   * do: UNet sample_size, VAE scaling_factor). */
  int native_resolution;         /* pixels per side the model was trained at */
  int native_resolution_v;       /* the same for its v-prediction models, 0: as above */
  int turbo_resolution;          /* its Turbo model's native size (SDCL_VARIANT_TURBO), 0: none */
  float latent_scaling_factor;   /* latents = factor x VAE posterior sample */
  int pad_token_id;              /* what the family's tokenizer pads prompts with */
  sdcl_ays_table ays;            /* its Align Your Steps timesteps (--schedule ays) */

  /* A single file holds no configs: mf->vae, mf->clip and mf->sched from
   * its tensor shapes and the family's published values and defaults
   * (above and default_sched), and mf->unet.sample_size from
   * native_resolution.  (The rest of mf->unet is read before detection: a
   * file without a UNet is no checkpoint.) */
  sdcl_status (*ldm_configs) (const sdcl_st_file *f, sdcl_model_files *mf, sdcl_error *err);
  /* Scheduler settings (prediction type included) for a model that ships
   * none: every single file and folders without scheduler/. */
  void (*default_sched) (sdcl_sched_config *c);
  /* A single file's tensors under the family's own names (SDXL's
   * conditioner.embedders.*): *taken when it placed (or skipped) t; NULL
   * for families whose files use SD's names only. */
  sdcl_status (*ldm_tensor) (sdcl_model_files *mf, const sdcl_st_file *f, const sdcl_st_tensor *t,
                             bool *taken, sdcl_error *err);

  /* Prompt to conditioning with the model's text networks, which the
   * caller has acquired.  On failure `out` holds nothing to release
   * beyond what sdcl_conditioning_clear frees. */
  sdcl_status (*encode_prompt) (sdcl_model *m, const sdcl_prompt_request *req,
                                sdcl_conditioning *out, sdcl_error *err);
};

/* ---- registry ------------------------------------------------------------ */

/* The family whose detection claims `facts`, then its check: SDCL_OK with
 * *out set, or the check's error (*out still names the family that
 * claimed the model), or SDCL_ERR_UNSUPPORTED_MODEL "unknown model layout
 * (...)" with *out NULL when no family does. */
sdcl_status sdcl_family_detect (const sdcl_family_facts *facts, const char *path,
                                const sdcl_family_desc **out, sdcl_error *err);

/* Opens a diffusers folder or a single-file checkpoint, validates every
 * file, maps LDM names to canonical ones, reads or infers the configs and
 * detects the family (sdcl_model_files_scan, the registry, the family's
 * defaults, sdcl_model_files_finish).  Families sdcl does not run are
 * refused with SDCL_ERR_UNSUPPORTED_MODEL naming what was found.  No
 * JSON-named path outside the model folder is ever opened. */
sdcl_status sdcl_model_files_open (const char *path, sdcl_model_files **out, sdcl_error *err);

/* The description of a family id, NULL for SDCL_FAMILY_UNKNOWN. */
const sdcl_family_desc *sdcl_family_lookup (sdcl_family id);

/* sdcl_family_detect by id: *family is SDCL_FAMILY_UNKNOWN when no family
 * claims the facts.  SD 1.x gives SDCL_OK; anything else
 * SDCL_ERR_UNSUPPORTED_MODEL with a message naming what was found. */
sdcl_status sdcl_family_decide (const sdcl_family_facts *facts, const char *path,
                                sdcl_family *family, sdcl_error *err);

/* sdcl_model_params.variant over what the files say: the family's Turbo
 * size and trailing spacing, or SDCL_ERR_INVALID_ARGUMENT for a family
 * without a Turbo model. */
sdcl_status sdcl_family_apply_variant (sdcl_model_files *mf, sdcl_model_variant variant, sdcl_error *err);

/* The latent sample size of a single file (which has no UNet config):
 * the family's native resolution for its prediction type, in latent cells. */
void sdcl_family_single_file_size (sdcl_model_files *mf);

/* ---- for family files ---------------------------------------------------- */

/* The refusal of a family sdcl recognises but does not run:
 * "<path>: <found>: <what>, which this version does not support yet". */
sdcl_status sdcl_family_refuse (const char *path, const char *found, const char *what,
                                sdcl_error *err);

/* The UNet input widths SD 1.x and 2.x run: 4 (text to image) and 9
 * (inpainting); others refused naming the model kind they belong to. */
sdcl_status sdcl_family_check_unet_inputs (const sdcl_family_facts *facts, const char *path,
                                           sdcl_error *err);

/* Conditioning from one CLIP-style text tower (SD 1.x, SD 2.x): chunks of
 * 77 tokens padded with mf->clip.pad_token_id (engine/text/prompt.h),
 * the shorter prompt of the pair padded with empty chunks, no pooled
 * vector, no time ids. */
sdcl_status sdcl_family_clip_encode_prompt (sdcl_model *m, const sdcl_prompt_request *req,
                                            sdcl_conditioning *out, sdcl_error *err);

/* SDXL single files (families/sdxl_single.c). */
sdcl_status sdcl_sdxl_ldm_configs (const sdcl_st_file *f, sdcl_model_files *mf, sdcl_error *err);
sdcl_status sdcl_sdxl_ldm_tensor (sdcl_model_files *mf, const sdcl_st_file *f, const sdcl_st_tensor *t,
                                  bool *taken, sdcl_error *err);

extern const sdcl_family_desc sdcl_family_sd1, sdcl_family_sd2, sdcl_family_sdxl,
    sdcl_family_sdxl_refiner;

#endif /* SDCL_FAMILY_H */

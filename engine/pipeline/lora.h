/* LoRA files: reading them against a model's names, and applying a list of
 * them to a model (side paths, nn.h).  Internal.
 *
 * Formats (README.md §LoRA): kohya / A1111 (`lora_unet_*`, `lora_te_*`,
 * `lora_te1_*` / `lora_te2_*` for SDXL's two text encoders; `.lora_down`,
 * `.lora_up`, `.alpha`), LoCon (the same on convolutions: k x k down, 1x1
 * up), diffusers / PEFT (`<module>.lora_A.weight` / `.lora_B.weight`, with
 * or without `unet.` / `text_encoder.` / `text_encoder_2.`) and diffusers' older attention
 * processor names (`attn1.processor.to_q_lora.down.weight`).  LoHa, LoKr,
 * Tucker-decomposed LoCon, DoRA and full-weight differences are refused
 * naming the format.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_LORA_H
#define SDCL_LORA_H

#include "model_files.h"
#include "safetensors.h"

struct sdcl_family_desc;

/* ---- the model's names (lora_names.c) ---------------------------------- */

/* A layer a LoRA may adapt: its component, canonical module and the shape
 * of its weight ([out, in] or [out, in, k, k]). */
typedef struct {
  sdcl_component comp;
  char *module;
  int nd;
  int64_t shape[4];
} sdcl_lora_target;

/* Every name a LoRA file may use for the model's UNet and text-encoder
 * layers, built from the tensor lists the model's configs imply
 * (their loading code run as a listing, nn.h) and the single-file name map (ldm_map.c), plus what is
 * needed to say which family and size a LoRA that does not fit was made
 * for. */
typedef struct sdcl_lora_index sdcl_lora_index;

/* clip2: SDXL's second tower (bigG), or NULL / an empty config. */
sdcl_lora_index *sdcl_lora_index_new (const struct sdcl_family_desc *family,
                                      const sdcl_unet_config *unet, const sdcl_clip_config *clip,
                                      const sdcl_clip_config *clip2, const char *model_path);
void sdcl_lora_index_free (sdcl_lora_index *ix);
/* The layer a LoRA key stem names (kohya "lora_unet_..." or a diffusers
 * module path, already stripped of its `unet.`/`text_encoder.` prefix and
 * given the component), or NULL. */
const sdcl_lora_target *sdcl_lora_index_kohya (const sdcl_lora_index *ix, const char *stem);
const sdcl_lora_target *sdcl_lora_index_module (const sdcl_lora_index *ix, sdcl_component comp,
                                                const char *module);
/* "SD 1.x (cross-attention width 768)": the model, for messages. */
const char *sdcl_lora_index_model_label (const sdcl_lora_index *ix);
int sdcl_lora_index_cross_attention_dim (const sdcl_lora_index *ix);
bool sdcl_lora_index_linear_projection (const sdcl_lora_index *ix);
const char *sdcl_lora_index_model_path (const sdcl_lora_index *ix);
/* Whether the model has SDXL's second text encoder (kohya lora_te1_/te2_). */
bool sdcl_lora_index_has_text2 (const sdcl_lora_index *ix);
/* The family name sdcl's detection gives a model with these traits, or
 * NULL when none claims them. */
const char *sdcl_lora_family_name (int cross_attention_dim, bool linear_projection,
                                   bool second_text_encoder);

/* ---- one file (lora_read.c) ----------------------------------------------- */

typedef struct {
  const sdcl_lora_target *target;
  char *stem;              /* the file's name for the layer, for messages */
  int64_t rank, k;         /* k: kernel side of `down`, 1 for matrices */
  float alpha_scale;       /* alpha / rank; 1 when the file has no alpha */
  float *down;             /* [rank, in, k, k] */
  float *up;               /* [out, rank] */
} sdcl_lora_layer;

typedef struct {
  char *path;
  sdcl_lora_layer *layers;
  size_t n_layers;
} sdcl_lora_file;

/* Reads every layer of the LoRA in f for the model behind ix: each key
 * must name one of its layers with matching shapes, and every value must
 * be finite.  Errors (all naming the file): SDCL_ERR_UNSUPPORTED_MODEL for
 * a format sdcl does not run or a LoRA made for another family or model
 * size (both named), SDCL_ERR_MODEL_FORMAT for keys that match nothing (a
 * few listed), missing halves, rank or shape mismatches, NaN or infinity. */
sdcl_status sdcl_lora_parse (const sdcl_st_file *f, const sdcl_lora_index *ix,
                             sdcl_lora_file **out, sdcl_error *err);
/* sdcl_lora_parse of the file at path. */
sdcl_status sdcl_lora_read (const char *path, const sdcl_lora_index *ix, sdcl_lora_file **out,
                            sdcl_error *err);
void sdcl_lora_file_free (sdcl_lora_file *f);

/* ---- prompt tags (lora_tags.c) ------------------------------------------- */

/* One <lora:NAME:WEIGHT> tag: NAME as written, WEIGHT (1 when omitted). */
typedef struct {
  char *name;
  float weight;
} sdcl_lora_tag;

/* Copies `prompt` (NULL reads as "") without its <lora:...> tags into
 * *stripped and appends the tags to `tags` (sdcl_lora_tag*, g_free their
 * names).  A tag whose weight is no number is SDCL_ERR_INVALID_ARGUMENT. */
sdcl_status sdcl_lora_tags_extract (const char *prompt, char **stripped, GArray *tags,
                                    sdcl_error *err);
/* The file a tag names: <dir>/<name>.safetensors (or <dir>/<name> when it
 * already ends so).  A name with a path separator or "..", or a file that
 * does not exist, is SDCL_ERR_INVALID_ARGUMENT naming the folder. */
sdcl_status sdcl_lora_tag_path (const char *dir, const char *name, char **path, sdcl_error *err);
/* <folder of the model>/Lora: the default LoRA folder. */
char *sdcl_lora_default_dir (const char *model_path);

#endif /* SDCL_LORA_H */

/* What the public objects hold.  The error helpers are in error_internal.h.
 * Internal to libsdcl.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_API_INTERNAL_H
#define SDCL_API_INTERNAL_H

#include <glib.h>

#include "clrt.h"
#include "error_internal.h"
#include "model_files.h"
#include "nets.h"
#include "sdcl.h"
#include "tokenizer.h"

struct sdcl_ctx {
  sdcl_cl *cl;
  GMutex run_lock;           /* one generation (or model load) at a time */
};

struct sdcl_model {
  sdcl_ctx *ctx;
  sdcl_model_files *files;
  const struct sdcl_family_desc *family;  /* what the files were detected as (families/family.h) */
  sdcl_tokenizer *tokenizer;
  sdcl_clip *clip;
  sdcl_clip *clip2;          /* SDXL's second text encoder, built with the first */
  sdcl_unet *unet;
  sdcl_vae *vae;
  bool vae_has_encoder;      /* built on the first image-editing run (model.c) */
  sdcl_residency residency;  /* lean: networks live only during their phase (model.c) */
  sdcl_wtype wtype;          /* weight storage the networks were built with */
  sdcl_model_info info;
  struct sdcl_lora_state *lora;  /* the LoRA list last applied (lora_apply.c); NULL: none yet */
};

#endif /* SDCL_API_INTERNAL_H */

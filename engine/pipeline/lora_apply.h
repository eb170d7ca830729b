/* A model's LoRA list (lora_apply.c).  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_LORA_APPLY_H
#define SDCL_LORA_APPLY_H

#include "sdcl.h"

typedef struct sdcl_lora_state sdcl_lora_state;

/* Makes `list` the model's LoRAs (entries of weight 0 are skipped; an
 * empty list removes them all).  Unchanged lists (same files, unchanged
 * on disk, same weights) cost nothing.  On failure err names the file and
 * the cause, and the model keeps its previous list (a bad entry found
 * before any file is read) or none: never part of the new one.  Call with
 * the run lock held. */
sdcl_status sdcl_model_apply_loras (sdcl_model *m, const sdcl_lora *list, int n, sdcl_error *err);
void sdcl_lora_state_free (sdcl_lora_state *s);
/* Device bytes of the uploaded side paths. */
uint64_t sdcl_model_lora_device_bytes (const sdcl_model *m);
/* Frees the side paths' device copies: a lean model keeps nothing on the
 * device between phases; each layer uploads its side again on next use. */
void sdcl_model_lora_drop_device (sdcl_model *m);

#endif /* SDCL_LORA_APPLY_H */

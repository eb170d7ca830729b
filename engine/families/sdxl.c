/* SDXL base and refiner: recognised (two text encoders or a single
 * OpenCLIP bigG, an add-embedding for size or aesthetic-score conditioning,
 * 2048- or 1280-wide cross-attention) and refused for now.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "family.h"

/* The refiner's add-embedding takes 2560 inputs (pooled bigG + aesthetic
 * score ids); without one, 1280-wide cross-attention and a single text
 * encoder say the same. */
static bool
refiner_claims (const sdcl_family_facts *facts)
{
  return facts->add_embedding_in == 2560
         || (facts->cross_attention_dim == 1280 && !facts->second_text_encoder);
}

static sdcl_status
refiner_check (const sdcl_family_facts *facts, const char *path, sdcl_error *err)
{
  char found[200];
  g_snprintf (found, sizeof found, "cross-attention dim %d and %s", facts->cross_attention_dim,
              facts->add_embedding_in ? "an add-embedding of 2560 inputs (aesthetic score)"
                                      : "a single OpenCLIP bigG text encoder");
  return sdcl_family_refuse (path, found, "SDXL refiner", err);
}

static bool
base_claims (const sdcl_family_facts *facts)
{
  return facts->second_text_encoder || facts->add_embedding_in
         || facts->cross_attention_dim == 2048;
}

static sdcl_status
base_check (const sdcl_family_facts *facts, const char *path, sdcl_error *err)
{
  char found[200];
  g_snprintf (found, sizeof found, "cross-attention dim %d, %s", facts->cross_attention_dim,
              facts->second_text_encoder ? "two text encoders (CLIP-L and OpenCLIP bigG)"
                                         : "an add-embedding for size conditioning");
  return sdcl_family_refuse (path, found, "SDXL", err);
}

const sdcl_family_desc sdcl_family_sdxl = {
  .id = SDCL_FAMILY_SDXL,
  .name = "SDXL",
  .claims = base_claims,
  .check = base_check,
};

const sdcl_family_desc sdcl_family_sdxl_refiner = {
  .id = SDCL_FAMILY_SDXL_REFINER,
  .name = "SDXL refiner",
  .claims = refiner_claims,
  .check = refiner_check,
};

/* SD 2.x (OpenCLIP ViT-H text encoder, 1024-wide cross-attention):
 * recognised, and refused until its text encoder and v-prediction are
 * supported.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "family.h"

static bool
claims (const sdcl_family_facts *facts)
{
  return facts->cross_attention_dim == 1024 || facts->openclip_text;
}

static sdcl_status
check (const sdcl_family_facts *facts, const char *path, sdcl_error *err)
{
  char found[200];
  g_snprintf (found, sizeof found, "cross-attention dim %d and %s text encoder",
              facts->cross_attention_dim, facts->openclip_text ? "OpenCLIP" : "a 1024-wide");
  return sdcl_family_refuse (path, found, "SD 2.x", err);
}

const sdcl_family_desc sdcl_family_sd2 = {
  .id = SDCL_FAMILY_SD2,
  .name = "SD 2.x",
  .claims = claims,
  .check = check,
};

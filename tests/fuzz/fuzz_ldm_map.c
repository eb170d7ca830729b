/* libFuzzer harness: LDM single-file tensor names -> diffusers names
 * (sdcl_ldm_map_name), the diffusers-folder canonicalisation, and the
 * inverse mapping of whatever comes out.
 * Input: byte 0 = layers_per_block (1..4), byte 1 = levels (1..8) and an
 * attention bit mask in byte 2; the rest is the name.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "fuzz_common.h"
#include "loader_internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 3)
    return 0;
  int layers = 1 + data[0] % 4;
  int levels = 1 + data[1] % SDCL_MAX_LEVELS;
  bool up_attn[SDCL_MAX_LEVELS];
  for (int i = 0; i < SDCL_MAX_LEVELS; i++)
    up_attn[i] = (data[2] >> i) & 1;
  char *name = g_strndup ((const char *) data + 3, size - 3);

  /* Output buffers of several sizes, down to 1 byte: the result must be
   * truncated or refused, never written past the end. */
  static const size_t sizes[] = { 256, 40, 8, 1 };
  for (size_t k = 0; k < G_N_ELEMENTS (sizes); k++)
    {
      char *out = g_malloc (sizes[k]);
      sdcl_component comp;
      if (sdcl_ldm_map_name (name, layers, levels, up_attn, &comp, out, sizes[k]))
        {
          if (!memchr (out, '\0', sizes[k]))
            abort ();
          if (comp != SDCL_COMP_UNET && comp != SDCL_COMP_VAE && comp != SDCL_COMP_TEXT)
            abort ();
          char back[256];
          bool conv_1x1;
          (void) sdcl_ldm_unmap_name (comp, out, layers, levels, up_attn, back, sizeof back,
                                      &conv_1x1);
          (void) sdcl_vae_attention_matrix (out);
        }
      /* OpenCLIP: the fused q/k/v test and the canonical -> OpenCLIP names */
      int layer;
      const char *leaf;
      if (sdcl_ldm_openclip_in_proj (name, &layer, &leaf) && strcmp (leaf, "weight") && strcmp (leaf, "bias"))
        abort ();
      if (sdcl_ldm_unmap_openclip (name, out, sizes[k]) && !memchr (out, '\0', sizes[k]))
        abort ();
      for (int c = SDCL_COMP_UNET; c <= SDCL_COMP_TEXT; c++)
        {
          if (sdcl_canonical_name ((sdcl_component) c, name, out, sizes[k]) && !memchr (out, '\0', sizes[k]))
            abort ();
          char back[64];
          bool conv_1x1;
          (void) sdcl_ldm_unmap_name ((sdcl_component) c, name, layers, levels, up_attn, back,
                                      sizeof back, &conv_1x1);
        }
      g_free (out);
    }
  g_free (name);
  return 0;
}

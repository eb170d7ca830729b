/* The networks' block trees (engine/nets/unet_desc.h, vae_desc.h) against
 * SD 1.5's published architecture: module counts, the channels the skip
 * connections give the up path, and the LDM module of the places where
 * the LDM numbering is irregular (upsamplers after an attention or not).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>

#include "check.h"
#include "loader_internal.h"
#include "nets/vae_desc.h"

static const sdcl_unet_layer *
unet_module (const sdcl_unet_desc *d, const char *name)
{
  for (int i = 0; i < d->n_layers; i++)
    if (strcmp (d->layers[i].name, name) == 0)
      return &d->layers[i];
  return NULL;
}

static void
expect_unet (const sdcl_unet_desc *d, const char *name, int64_t in, int64_t out, const char *ldm)
{
  const sdcl_unet_layer *l = unet_module (d, name);
  CHECK (l && l->in == in && l->out == out && strcmp (l->ldm, ldm) == 0,
         "%s: %" G_GINT64_FORMAT " -> %" G_GINT64_FORMAT " (%s), want %" G_GINT64_FORMAT " -> %"
         G_GINT64_FORMAT " (%s)", name, l ? l->in : -1, l ? l->out : -1, l ? l->ldm : "absent",
         in, out, ldm);
}

/* Names on either side are unique, or a tensor would be mapped twice. */
static void
check_unique (const sdcl_unet_desc *d)
{
  GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (int i = 0; i < d->n_layers; i++)
    {
      CHECK (g_hash_table_add (seen, (char *) d->layers[i].name), "twice: %s", d->layers[i].name);
      if (d->layers[i].ldm[0])
        CHECK (g_hash_table_add (seen, (char *) d->layers[i].ldm), "twice: %s", d->layers[i].ldm);
    }
  g_hash_table_destroy (seen);
}

static void
test_unet_sd15 (void)
{
  sdcl_unet_config c;
  sdcl_unet_config_sd15 (&c);
  sdcl_unet_desc *d = sdcl_unet_describe (&c);
  int count[SDCL_UNET_UPSAMPLE + 1] = { 0 };
  for (int i = 0; i < d->n_layers; i++)
    count[d->layers[i].kind]++;
  CHECK (d->n_blocks == 9 && count[SDCL_UNET_RESNET] == 22 && count[SDCL_UNET_ATTENTION] == 16
         && count[SDCL_UNET_DOWNSAMPLE] == 3 && count[SDCL_UNET_UPSAMPLE] == 3
         && count[SDCL_UNET_LINEAR] == 2 && count[SDCL_UNET_CONV] == 2 && count[SDCL_UNET_NORM] == 1,
         "SD 1.5 UNet: %d blocks, %d resnets, %d attentions", d->n_blocks, count[SDCL_UNET_RESNET],
         count[SDCL_UNET_ATTENTION]);
  expect_unet (d, "conv_in", 4, 320, "input_blocks.0.0");
  expect_unet (d, "down_blocks.1.resnets.0", 320, 640, "input_blocks.4.0");
  expect_unet (d, "down_blocks.2.downsamplers.0.conv", 1280, 1280, "input_blocks.9.0.op");
  expect_unet (d, "mid_block.attentions.0", 1280, 1280, "middle_block.1");
  /* up resnets take the running features plus the skip they pop */
  expect_unet (d, "up_blocks.0.resnets.0", 2560, 1280, "output_blocks.0.0");
  expect_unet (d, "up_blocks.1.resnets.2", 1280 + 640, 1280, "output_blocks.5.0");
  expect_unet (d, "up_blocks.3.resnets.0", 640 + 320, 320, "output_blocks.9.0");
  expect_unet (d, "up_blocks.3.resnets.2", 320 + 320, 320, "output_blocks.11.0");
  /* the upsampler is module 1 without attention, 2 after one */
  expect_unet (d, "up_blocks.0.upsamplers.0.conv", 1280, 1280, "output_blocks.2.1.conv");
  expect_unet (d, "up_blocks.1.upsamplers.0.conv", 1280, 1280, "output_blocks.5.2.conv");
  expect_unet (d, "conv_out", 320, 4, "out.2");
  CHECK (!unet_module (d, "up_blocks.3.upsamplers.0.conv") && !unet_module (d, "down_blocks.3.attentions.0"),
         "SD 1.5 has no upsampler after its last up block and no attention at its deepest level");
  const sdcl_unet_block *mid = &d->blocks[4];
  CHECK (mid->kind == SDCL_UNET_MID && mid->heads == 8 && mid->depth == 1 && mid->n_layers == 3,
         "mid block");
  check_unique (d);
  sdcl_unet_desc_free (d);

  /* The naming tree names the modules a file may hold beyond its config. */
  d = sdcl_unet_describe_names (c.layers_per_block, c.n_levels, c.up_has_attn);
  expect_unet (d, "down_blocks.3.attentions.1", 1280, 1280, "input_blocks.11.1");
  CHECK (unet_module (d, "down_blocks.3.downsamplers.0.conv") != NULL, "last downsampler named");
  check_unique (d);
  sdcl_unet_desc_free (d);
}

static void
test_vae_sd15 (void)
{
  sdcl_vae_config c;
  sdcl_vae_config_sd15 (&c);
  sdcl_vae_desc *d = sdcl_vae_describe (&c);
  int resnets[2] = { 0, 0 }, samplers[2] = { 0, 0 };
  const sdcl_vae_layer *first_decoder = NULL, *last = &d->layers[d->n_layers - 1];
  for (int i = 0; i < d->n_layers; i++)
    {
      const sdcl_vae_layer *l = &d->layers[i];
      resnets[l->decoder] += l->role == SDCL_VAE_RESNET || l->role == SDCL_VAE_MID_RESNET;
      samplers[l->decoder] += l->role == SDCL_VAE_DOWNSAMPLE || l->role == SDCL_VAE_UPSAMPLE;
      if (l->decoder && !first_decoder)
        first_decoder = l;
      if (strcmp (l->name, "decoder.up_blocks.2.resnets.0") == 0)
        CHECK (l->in == 512 && l->out == 256 && l->block == 2 && l->j == 0, "decoder level 2 narrows");
      if (strcmp (l->name, "encoder.conv_out") == 0)
        CHECK (l->out == 8, "the encoder's moments: %" G_GINT64_FORMAT, l->out);
    }
  CHECK (resnets[0] == 4 * 2 + 2 && resnets[1] == 4 * 3 + 2 && samplers[0] == 3 && samplers[1] == 3,
         "SD 1.5 VAE: %d/%d resnets, %d/%d samplers", resnets[0], resnets[1], samplers[0], samplers[1]);
  CHECK (first_decoder && strcmp (first_decoder->name, "post_quant_conv") == 0
         && first_decoder->role == SDCL_VAE_QUANT && first_decoder->k == 1, "decoder starts at post_quant_conv");
  CHECK (last->decoder && strcmp (last->name, "decoder.conv_out") == 0 && last->out == 3, "ends at conv_out");
  sdcl_vae_desc_free (d);
}

int
main (void)
{
  test_unet_sd15 ();
  test_vae_sd15 ();
  return check_finish ();
}

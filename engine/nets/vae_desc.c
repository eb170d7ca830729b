/* The AutoencoderKL's block tree (vae_desc.h): diffusers' module names
 * and the channels of each module, encoder then decoder.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "vae_desc.h"

#include <stdarg.h>

#include <glib.h>

typedef struct {
  GArray *layers;
  bool decoder;
} builder;

/* Appends a module of the half being built; `fmt` names it. */
static void G_GNUC_PRINTF (8, 9)
add (builder *b, sdcl_vae_role role, int block, int j, int64_t in, int64_t out, int k,
     const char *fmt, ...)
{
  sdcl_vae_layer l = { .decoder = b->decoder, .role = role, .block = block, .j = j, .in = in,
                       .out = out, .k = k };
  va_list ap;
  va_start (ap, fmt);
  g_vsnprintf (l.name, sizeof l.name, fmt, ap);
  va_end (ap);
  g_array_append_val (b->layers, l);
}

static void
mid_block (builder *b, const sdcl_vae_config *c, const char *side, int64_t ch)
{
  add (b, SDCL_VAE_MID_RESNET, 0, 0, ch, ch, 3, "%s.mid_block.resnets.0", side);
  if (c->mid_block_add_attention)
    add (b, SDCL_VAE_MID_ATTENTION, 0, 0, ch, ch, 0, "%s.mid_block.attentions.0", side);
  add (b, SDCL_VAE_MID_RESNET, 0, 1, ch, ch, 3, "%s.mid_block.resnets.1", side);
}

static void
encoder (builder *b, const sdcl_vae_config *c)
{
  const int n = c->n_levels;
  const int64_t moments = 2 * (int64_t) c->latent_channels;   /* the posterior's mean and log-variance */
  int64_t ch = c->block_out_channels[0];
  b->decoder = false;
  add (b, SDCL_VAE_CONV_IN, 0, 0, c->in_channels, ch, 3, "encoder.conv_in");
  for (int i = 0; i < n; i++)
    {
      int64_t out = c->block_out_channels[i];
      for (int j = 0; j < c->layers_per_block; j++)
        add (b, SDCL_VAE_RESNET, i, j, j == 0 ? ch : out, out, 3, "encoder.down_blocks.%d.resnets.%d",
             i, j);
      ch = out;
      if (i < n - 1)
        add (b, SDCL_VAE_DOWNSAMPLE, i, 0, ch, ch, 3, "encoder.down_blocks.%d.downsamplers.0.conv", i);
    }
  mid_block (b, c, "encoder", ch);
  add (b, SDCL_VAE_NORM_OUT, 0, 0, ch, ch, 0, "encoder.conv_norm_out");
  add (b, SDCL_VAE_CONV_OUT, 0, 0, ch, moments, 3, "encoder.conv_out");
  if (c->use_quant_conv)
    add (b, SDCL_VAE_QUANT, 0, 0, moments, moments, 1, "quant_conv");
}

static void
decoder (builder *b, const sdcl_vae_config *c)
{
  const int n = c->n_levels;
  int64_t ch = c->block_out_channels[n - 1];
  b->decoder = true;
  if (c->use_post_quant_conv)
    add (b, SDCL_VAE_QUANT, 0, 0, c->latent_channels, c->latent_channels, 1, "post_quant_conv");
  add (b, SDCL_VAE_CONV_IN, 0, 0, c->latent_channels, ch, 3, "decoder.conv_in");
  mid_block (b, c, "decoder", ch);
  for (int i = 0; i < n; i++)
    {
      int64_t out = c->block_out_channels[n - 1 - i];
      for (int j = 0; j <= c->layers_per_block; j++)
        add (b, SDCL_VAE_RESNET, i, j, j == 0 ? ch : out, out, 3, "decoder.up_blocks.%d.resnets.%d",
             i, j);
      ch = out;
      if (i < n - 1)
        add (b, SDCL_VAE_UPSAMPLE, i, 0, ch, ch, 3, "decoder.up_blocks.%d.upsamplers.0.conv", i);
    }
  add (b, SDCL_VAE_NORM_OUT, 0, 0, ch, ch, 0, "decoder.conv_norm_out");
  add (b, SDCL_VAE_CONV_OUT, 0, 0, ch, c->out_channels, 3, "decoder.conv_out");
}

sdcl_vae_desc *
sdcl_vae_describe (const sdcl_vae_config *c)
{
  g_return_val_if_fail (c->n_levels >= 1 && c->n_levels <= SDCL_MAX_LEVELS && c->layers_per_block >= 1,
                        NULL);
  builder b = { .layers = g_array_new (FALSE, TRUE, sizeof (sdcl_vae_layer)) };
  encoder (&b, c);
  decoder (&b, c);
  sdcl_vae_desc *d = g_new0 (sdcl_vae_desc, 1);
  d->n_layers = (int) b.layers->len;
  d->layers = (sdcl_vae_layer *) (void *) g_array_free (b.layers, FALSE);
  return d;
}

void
sdcl_vae_desc_free (sdcl_vae_desc *d)
{
  if (!d)
    return;
  g_free (d->layers);
  g_free (d);
}

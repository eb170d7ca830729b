/* The tensors each network needs, enumerated from its configuration.
 *
 * The loader checks a model against these lists before anything is
 * uploaded, so a wrong or truncated checkpoint fails with a message naming
 * the first bad tensor instead of somewhere inside a network constructor;
 * sdcl-mkmodel writes random models from the same lists.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "api_internal.h"
#include "loader_internal.h"
#include "nets/unet_desc.h"

/* ---- building lists ---------------------------------------------------- */

static void
add (GArray *specs, const char *prefix, const char *suffix, int nd, int64_t d0, int64_t d1,
     int64_t d2, int64_t d3)
{
  sdcl_tensor_spec s = { .nd = nd, .shape = { d0, d1, d2, d3 } };
  int n = g_snprintf (s.name, sizeof s.name, "%s%s", prefix, suffix);
  g_assert (n > 0 && (size_t) n < sizeof s.name);   /* names come from fixed patterns */
  g_array_append_val (specs, s);
}

static void G_GNUC_PRINTF (3, 4)
prefix_printf (char *out, size_t size, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_vsnprintf (out, size, fmt, ap);
  va_end (ap);
}

static void
norm (GArray *s, const char *p, int64_t c)
{
  add (s, p, "weight", 1, c, 0, 0, 0);
  add (s, p, "bias", 1, c, 0, 0, 0);
}

static void
linear (GArray *s, const char *p, int64_t out, int64_t in, bool bias)
{
  add (s, p, "weight", 2, out, in, 0, 0);
  if (bias)
    add (s, p, "bias", 1, out, 0, 0, 0);
}

static void
conv (GArray *s, const char *p, int64_t out, int64_t in, int64_t k)
{
  add (s, p, "weight", 4, out, in, k, k);
  add (s, p, "bias", 1, out, 0, 0, 0);
}

static void
sub (char *out, size_t size, const char *p, const char *name)
{
  g_snprintf (out, size, "%s%s", p, name);
}

#define SUB(buf, p, name) (sub ((buf), sizeof (buf), (p), (name)), (buf))

/* ResnetBlock2D (§2.3); temb_dim 0 for the VAE's. */
static void
resnet (GArray *s, const char *p, int64_t in, int64_t out, int64_t temb_dim)
{
  char b[128];
  norm (s, SUB (b, p, "norm1."), in);
  conv (s, SUB (b, p, "conv1."), out, in, 3);
  if (temb_dim)
    linear (s, SUB (b, p, "time_emb_proj."), out, temb_dim, true);
  norm (s, SUB (b, p, "norm2."), out);
  conv (s, SUB (b, p, "conv2."), out, out, 3);
  if (in != out)
    conv (s, SUB (b, p, "conv_shortcut."), out, in, 1);
}

static void
attention (GArray *s, const char *p, int64_t c, int64_t context)
{
  char b[128];
  linear (s, SUB (b, p, "to_q."), c, c, false);
  linear (s, SUB (b, p, "to_k."), c, context, false);
  linear (s, SUB (b, p, "to_v."), c, context, false);
  linear (s, SUB (b, p, "to_out.0."), c, c, true);
}

/* Transformer2DModel with `depth` BasicTransformerBlocks (§2.4, §2.5). */
static void
transformer (GArray *s, const char *p, int64_t c, int depth, const sdcl_unet_config *cfg)
{
  char b[128], blk[128];
  norm (s, SUB (b, p, "norm."), c);
  if (cfg->use_linear_projection)
    linear (s, SUB (b, p, "proj_in."), c, c, true);
  else
    conv (s, SUB (b, p, "proj_in."), c, c, 1);
  for (int k = 0; k < depth; k++)
    {
      prefix_printf (blk, sizeof blk, "%stransformer_blocks.%d.", p, k);
      norm (s, SUB (b, blk, "norm1."), c);
      attention (s, SUB (b, blk, "attn1."), c, c);
      norm (s, SUB (b, blk, "norm2."), c);
      attention (s, SUB (b, blk, "attn2."), c, cfg->cross_attention_dim);
      norm (s, SUB (b, blk, "norm3."), c);
      linear (s, SUB (b, blk, "ff.net.0.proj."), 8 * c, c, true);
      linear (s, SUB (b, blk, "ff.net.2."), c, 4 * c, true);
    }
  if (cfg->use_linear_projection)
    linear (s, SUB (b, p, "proj_out."), c, c, true);
  else
    conv (s, SUB (b, p, "proj_out."), c, c, 1);
}

static sdcl_tensor_spec *
finish (GArray *specs, size_t *count)
{
  *count = specs->len;
  return (sdcl_tensor_spec *) (void *) g_array_free (specs, FALSE);
}

/* ---- UNet -------------------------------------------------------------- */

/* The tensors of one module of the UNet's block tree. */
static void
unet_layer (GArray *s, const sdcl_unet_config *c, const sdcl_unet_desc *d, const sdcl_unet_layer *l)
{
  char p[128];
  prefix_printf (p, sizeof p, "%s.", l->name);
  switch (l->kind)
    {
    case SDCL_UNET_LINEAR:
      linear (s, p, l->out, l->in, l->bias);
      break;
    case SDCL_UNET_CONV:
    case SDCL_UNET_DOWNSAMPLE:
    case SDCL_UNET_UPSAMPLE:
      conv (s, p, l->out, l->in, l->k);
      break;
    case SDCL_UNET_NORM:
      norm (s, p, l->out);
      break;
    case SDCL_UNET_RESNET:
      resnet (s, p, l->in, l->out, c->time_embed_dim);
      break;
    case SDCL_UNET_ATTENTION:
      transformer (s, p, l->out, d->blocks[l->block].depth, c);
      break;
    }
}

sdcl_tensor_spec *
sdcl_unet_tensor_specs (const sdcl_unet_config *c, size_t *count)
{
  GArray *s = g_array_new (FALSE, TRUE, sizeof (sdcl_tensor_spec));
  sdcl_unet_desc *d = sdcl_unet_describe (c);
  for (int i = 0; i < d->n_layers; i++)
    unet_layer (s, c, d, &d->layers[i]);
  sdcl_unet_desc_free (d);
  return finish (s, count);
}

/* ---- VAE --------------------------------------------------------------- */

static void
vae_mid_block (GArray *s, const char *side, const sdcl_vae_config *c)
{
  char p[128];
  int64_t ch = c->block_out_channels[c->n_levels - 1];
  prefix_printf (p, sizeof p, "%smid_block.resnets.0.", side);
  resnet (s, p, ch, ch, 0);
  if (c->mid_block_add_attention)
    {
      char b[128];
      prefix_printf (p, sizeof p, "%smid_block.attentions.0.", side);
      norm (s, SUB (b, p, "group_norm."), ch);
      linear (s, SUB (b, p, "to_q."), ch, ch, true);
      linear (s, SUB (b, p, "to_k."), ch, ch, true);
      linear (s, SUB (b, p, "to_v."), ch, ch, true);
      linear (s, SUB (b, p, "to_out.0."), ch, ch, true);
    }
  prefix_printf (p, sizeof p, "%smid_block.resnets.1.", side);
  resnet (s, p, ch, ch, 0);
}

static void
vae_encoder (GArray *s, const sdcl_vae_config *c)
{
  char p[128];
  int n = c->n_levels;
  int64_t in = c->block_out_channels[0];
  conv (s, "encoder.conv_in.", in, c->in_channels, 3);
  for (int i = 0; i < n; i++)
    {
      int64_t out = c->block_out_channels[i];
      for (int j = 0; j < c->layers_per_block; j++)
        {
          prefix_printf (p, sizeof p, "encoder.down_blocks.%d.resnets.%d.", i, j);
          resnet (s, p, j == 0 ? in : out, out, 0);
        }
      if (i < n - 1)
        {
          prefix_printf (p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv.", i);
          conv (s, p, out, out, 3);
        }
      in = out;
    }
  vae_mid_block (s, "encoder.", c);
  norm (s, "encoder.conv_norm_out.", in);
  conv (s, "encoder.conv_out.", 2 * c->latent_channels, in, 3);   /* mean and log-variance */
}

static void
vae_decoder (GArray *s, const sdcl_vae_config *c)
{
  char p[128];
  int n = c->n_levels;
  int64_t in = c->block_out_channels[n - 1];
  conv (s, "decoder.conv_in.", in, c->latent_channels, 3);
  vae_mid_block (s, "decoder.", c);
  for (int i = 0; i < n; i++)
    {
      int64_t out = c->block_out_channels[n - 1 - i];
      for (int j = 0; j <= c->layers_per_block; j++)
        {
          prefix_printf (p, sizeof p, "decoder.up_blocks.%d.resnets.%d.", i, j);
          resnet (s, p, j == 0 ? in : out, out, 0);
        }
      if (i < n - 1)
        {
          prefix_printf (p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv.", i);
          conv (s, p, out, out, 3);
        }
      in = out;
    }
  norm (s, "decoder.conv_norm_out.", in);
  conv (s, "decoder.conv_out.", c->out_channels, in, 3);
}

sdcl_tensor_spec *
sdcl_vae_tensor_specs (const sdcl_vae_config *c, size_t *count)
{
  GArray *s = g_array_new (FALSE, TRUE, sizeof (sdcl_tensor_spec));
  vae_encoder (s, c);
  if (c->use_quant_conv)
    conv (s, "quant_conv.", 2 * c->latent_channels, 2 * c->latent_channels, 1);
  if (c->use_post_quant_conv)
    conv (s, "post_quant_conv.", c->latent_channels, c->latent_channels, 1);
  vae_decoder (s, c);
  return finish (s, count);
}

/* ---- CLIP text encoder ------------------------------------------------- */

sdcl_tensor_spec *
sdcl_clip_tensor_specs (const sdcl_clip_config *c, size_t *count)
{
  GArray *s = g_array_new (FALSE, TRUE, sizeof (sdcl_tensor_spec));
  int64_t h = c->hidden_size;
  char p[128], b[128];
  add (s, "text_model.embeddings.token_embedding.", "weight", 2, c->vocab_size, h, 0, 0);
  add (s, "text_model.embeddings.position_embedding.", "weight", 2, c->max_position_embeddings, h, 0, 0);
  for (int i = 0; i < c->n_layers; i++)
    {
      prefix_printf (p, sizeof p, "text_model.encoder.layers.%d.", i);
      norm (s, SUB (b, p, "layer_norm1."), h);
      linear (s, SUB (b, p, "self_attn.q_proj."), h, h, true);
      linear (s, SUB (b, p, "self_attn.k_proj."), h, h, true);
      linear (s, SUB (b, p, "self_attn.v_proj."), h, h, true);
      linear (s, SUB (b, p, "self_attn.out_proj."), h, h, true);
      norm (s, SUB (b, p, "layer_norm2."), h);
      linear (s, SUB (b, p, "mlp.fc1."), c->intermediate_size, h, true);
      linear (s, SUB (b, p, "mlp.fc2."), h, c->intermediate_size, true);
    }
  norm (s, "text_model.final_layer_norm.", h);
  return finish (s, count);
}

/* FLOP counts of the networks from their configs: see flops.h.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "flops.h"

/* A k x k convolution producing `pixels` outputs of `out` channels. */
static void
conv (sdcl_flops *f, double pixels, int in, int out, int k)
{
  f->conv += 2.0 * pixels * out * (double) in * k * k;
}

static void
linear (sdcl_flops *f, double rows, int in, int out)
{
  f->linear += 2.0 * rows * in * (double) out;
}

static void
attention (sdcl_flops *f, double queries, double keys, int channels)
{
  f->attention += 4.0 * queries * keys * channels;
}

/* ResnetBlock2D: conv1, time projection (UNet only), conv2, 1x1 shortcut. */
static void
resnet (sdcl_flops *f, double pixels, int in, int out, int temb)
{
  conv (f, pixels, in, out, 3);
  if (temb)
    linear (f, 1, temb, out);
  conv (f, pixels, out, out, 3);
  if (in != out)
    conv (f, pixels, in, out, 1);
}

/* Transformer2DModel: proj_in, `depth` BasicTransformerBlocks (self
 * attention, cross attention, GEGLU feed-forward), proj_out. */
static void
transformer (sdcl_flops *f, double pixels, int ch, int depth, int ctx_dim, int tokens,
             bool conv_proj)
{
  /* proj_in and proj_out are 1x1 convolutions unless use_linear_projection. */
  if (conv_proj)
    conv (f, pixels, ch, ch, 1);
  else
    linear (f, pixels, ch, ch);
  for (int d = 0; d < depth; d++)
    {
      linear (f, pixels, ch, 3 * ch);       /* q, k, v */
      attention (f, pixels, pixels, ch);
      linear (f, pixels, ch, ch);           /* out */
      linear (f, pixels, ch, ch);           /* cross q */
      linear (f, tokens, ctx_dim, 2 * ch);  /* cross k, v */
      attention (f, pixels, tokens, ch);
      linear (f, pixels, ch, ch);           /* cross out */
      linear (f, pixels, ch, 8 * ch);       /* GEGLU projection */
      linear (f, pixels, 4 * ch, ch);
    }
  if (conv_proj)
    conv (f, pixels, ch, ch, 1);
  else
    linear (f, pixels, ch, ch);
}

sdcl_flops
sdcl_unet_flops (const sdcl_unet_config *c, int h, int w, int tokens)
{
  sdcl_flops f = { 0 };
  const int temb = c->time_embed_dim, ctx = c->cross_attention_dim;
  const int L = c->n_levels;
  linear (&f, 1, c->block_out_channels[0], temb);
  linear (&f, 1, temb, temb);
  if (c->time_cond_proj_dim)
    linear (&f, 1, c->time_cond_proj_dim, c->block_out_channels[0]);

  int skip[64], n_skip = 0;
  int ch = c->block_out_channels[0], hh = h, ww = w;
  conv (&f, (double) hh * ww, c->in_channels, ch, 3);
  skip[n_skip++] = ch;
  for (int l = 0; l < L; l++)
    {
      const int out = c->block_out_channels[l];
      for (int j = 0; j < c->layers_per_block; j++)
        {
          resnet (&f, (double) hh * ww, ch, out, temb);
          ch = out;
          if (c->down_has_attn[l])
            transformer (&f, (double) hh * ww, ch, c->transformer_depth[l], ctx, tokens, !c->use_linear_projection);
          skip[n_skip++] = ch;
        }
      if (l < L - 1)
        {
          hh = (hh + 1) / 2, ww = (ww + 1) / 2;
          conv (&f, (double) hh * ww, ch, ch, 3);
          skip[n_skip++] = ch;
        }
    }
  resnet (&f, (double) hh * ww, ch, ch, temb);
  if (c->mid_has_attn)
    transformer (&f, (double) hh * ww, ch, c->mid_transformer_depth, ctx, tokens, !c->use_linear_projection);
  resnet (&f, (double) hh * ww, ch, ch, temb);
  for (int u = 0; u < L; u++)
    {
      const int l = L - 1 - u, out = c->block_out_channels[l];
      for (int j = 0; j <= c->layers_per_block; j++)
        {
          resnet (&f, (double) hh * ww, ch + skip[--n_skip], out, temb);
          ch = out;
          if (c->up_has_attn[u])
            transformer (&f, (double) hh * ww, ch, c->transformer_depth[l], ctx, tokens, !c->use_linear_projection);
        }
      if (u < L - 1)
        {
          hh *= 2, ww *= 2;
          conv (&f, (double) hh * ww, ch, ch, 3);
        }
    }
  conv (&f, (double) hh * ww, ch, c->out_channels, 3);
  return f;
}

/* The VAE's mid block: resnet, single-head attention, resnet. */
static void
vae_mid (sdcl_flops *f, const sdcl_vae_config *c, double pixels, int ch)
{
  resnet (f, pixels, ch, ch, 0);
  if (c->mid_block_add_attention)
    {
      linear (f, pixels, ch, 4 * ch); /* q, k, v, out */
      attention (f, pixels, pixels, ch);
    }
  resnet (f, pixels, ch, ch, 0);
}

sdcl_flops
sdcl_vae_decoder_flops (const sdcl_vae_config *c, int h, int w)
{
  sdcl_flops f = { 0 };
  const int L = c->n_levels;
  double px = (double) h * w;
  if (c->use_post_quant_conv)
    conv (&f, px, c->latent_channels, c->latent_channels, 1);
  int ch = c->block_out_channels[L - 1];
  conv (&f, px, c->latent_channels, ch, 3);
  vae_mid (&f, c, px, ch);
  for (int u = 0; u < L; u++)
    {
      const int out = c->block_out_channels[L - 1 - u];
      for (int j = 0; j <= c->layers_per_block; j++)
        {
          resnet (&f, px, ch, out, 0);
          ch = out;
        }
      if (u < L - 1)
        {
          px *= 4;
          conv (&f, px, ch, ch, 3);
        }
    }
  conv (&f, px, ch, c->out_channels, 3);
  return f;
}

sdcl_flops
sdcl_vae_encoder_flops (const sdcl_vae_config *c, int H, int W)
{
  sdcl_flops f = { 0 };
  const int L = c->n_levels;
  int hh = H, ww = W, ch = c->block_out_channels[0];
  conv (&f, (double) hh * ww, c->in_channels, ch, 3);
  for (int l = 0; l < L; l++)
    {
      const int out = c->block_out_channels[l];
      for (int j = 0; j < c->layers_per_block; j++)
        {
          resnet (&f, (double) hh * ww, ch, out, 0);
          ch = out;
        }
      if (l < L - 1)
        {
          hh /= 2, ww /= 2; /* stride 2, padding (0, 1): floor */
          conv (&f, (double) hh * ww, ch, ch, 3);
        }
    }
  vae_mid (&f, c, (double) hh * ww, ch);
  conv (&f, (double) hh * ww, ch, 2 * c->latent_channels, 3);
  if (c->use_quant_conv)
    conv (&f, (double) hh * ww, 2 * c->latent_channels, 2 * c->latent_channels, 1);
  return f;
}

sdcl_flops
sdcl_clip_flops (const sdcl_clip_config *c, int tokens)
{
  sdcl_flops f = { 0 };
  const int d = c->hidden_size;
  for (int l = 0; l < c->n_layers; l++)
    {
      linear (&f, tokens, d, 4 * d); /* q, k, v, out */
      attention (&f, tokens, tokens, d);
      linear (&f, tokens, d, c->intermediate_size);
      linear (&f, tokens, c->intermediate_size, d);
    }
  return f;
}

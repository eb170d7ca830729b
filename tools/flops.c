/* FLOP counts of the networks from their configs (see flops.h), over the
 * block trees the networks are built from (engine/nets: unet_desc.h,
 * vae_desc.h, clip_desc.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "flops.h"

#include "nets/clip_desc.h"
#include "nets/unet_desc.h"
#include "nets/vae_desc.h"

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

/* One module of the UNet's block tree at an hh x ww latent grid; the
 * samplers change the grid for themselves and what follows. */
static void
unet_layer (sdcl_flops *f, const sdcl_unet_config *c, const sdcl_unet_desc *d,
            const sdcl_unet_layer *l, int *hh, int *ww, int tokens)
{
  switch (l->kind)
    {
    case SDCL_UNET_LINEAR:     /* the time embedding: one row */
      linear (f, 1, (int) l->in, (int) l->out);
      break;
    case SDCL_UNET_DOWNSAMPLE:
      *hh = (*hh + 1) / 2, *ww = (*ww + 1) / 2;
      conv (f, (double) *hh * *ww, (int) l->in, (int) l->out, l->k);
      break;
    case SDCL_UNET_UPSAMPLE:
      *hh *= 2, *ww *= 2;
      conv (f, (double) *hh * *ww, (int) l->in, (int) l->out, l->k);
      break;
    case SDCL_UNET_CONV:
      conv (f, (double) *hh * *ww, (int) l->in, (int) l->out, l->k);
      break;
    case SDCL_UNET_NORM:
      break;
    case SDCL_UNET_RESNET:
      resnet (f, (double) *hh * *ww, (int) l->in, (int) l->out, c->time_embed_dim);
      break;
    case SDCL_UNET_ATTENTION:
      transformer (f, (double) *hh * *ww, (int) l->out, d->blocks[l->block].depth,
                   c->cross_attention_dim, tokens, !c->use_linear_projection);
      break;
    }
}

sdcl_flops
sdcl_unet_flops (const sdcl_unet_config *c, int h, int w, int tokens)
{
  sdcl_flops f = { 0 };
  sdcl_unet_desc *d = sdcl_unet_describe (c);
  int hh = h, ww = w;
  for (int i = 0; i < d->n_layers; i++)
    unet_layer (&f, c, d, &d->layers[i], &hh, &ww, tokens);
  sdcl_unet_desc_free (d);
  return f;
}

/* One module of one half of the VAE's block tree at an hh x ww grid; the
 * samplers change the grid for themselves and what follows. */
static void
vae_layer (sdcl_flops *f, const sdcl_vae_layer *l, int *hh, int *ww)
{
  switch (l->role)
    {
    case SDCL_VAE_DOWNSAMPLE:
      *hh /= 2, *ww /= 2;   /* stride 2, padding (0, 1): floor */
      break;
    case SDCL_VAE_UPSAMPLE:
      *hh *= 2, *ww *= 2;
      break;
    default:
      break;
    }
  double px = (double) *hh * *ww;
  switch (l->role)
    {
    case SDCL_VAE_QUANT:
    case SDCL_VAE_CONV_IN:
    case SDCL_VAE_DOWNSAMPLE:
    case SDCL_VAE_UPSAMPLE:
    case SDCL_VAE_CONV_OUT:
      conv (f, px, (int) l->in, (int) l->out, l->k);
      break;
    case SDCL_VAE_RESNET:
    case SDCL_VAE_MID_RESNET:
      resnet (f, px, (int) l->in, (int) l->out, 0);
      break;
    case SDCL_VAE_MID_ATTENTION:   /* single head: q, k, v, out */
      linear (f, px, (int) l->out, 4 * (int) l->out);
      attention (f, px, px, (int) l->out);
      break;
    case SDCL_VAE_NORM_OUT:
      break;
    }
}

static sdcl_flops
vae_half (const sdcl_vae_config *c, bool decoder, int h, int w)
{
  sdcl_flops f = { 0 };
  sdcl_vae_desc *d = sdcl_vae_describe (c);
  int hh = h, ww = w;
  for (int i = 0; i < d->n_layers; i++)
    if (d->layers[i].decoder == decoder)
      vae_layer (&f, &d->layers[i], &hh, &ww);
  sdcl_vae_desc_free (d);
  return f;
}

sdcl_flops
sdcl_vae_decoder_flops (const sdcl_vae_config *c, int h, int w)
{
  return vae_half (c, true, h, w);
}

sdcl_flops
sdcl_vae_encoder_flops (const sdcl_vae_config *c, int H, int W)
{
  return vae_half (c, false, H, W);
}

sdcl_flops
sdcl_clip_flops (const sdcl_clip_config *c, int tokens)
{
  sdcl_flops f = { 0 };
  sdcl_clip_desc *d = sdcl_clip_describe (c);
  for (int i = 0; i < d->n_modules; i++)
    {
      const sdcl_clip_module *m = &d->modules[i];
      if (m->role != SDCL_CLIP_LAYER)
        continue;   /* embeddings are lookups, the norm is not counted */
      linear (&f, tokens, (int) m->width, 4 * (int) m->width); /* q, k, v, out */
      attention (&f, tokens, tokens, (int) m->width);
      linear (&f, tokens, (int) m->width, (int) m->inner);
      linear (&f, tokens, (int) m->inner, (int) m->width);
    }
  sdcl_clip_desc_free (d);
  return f;
}

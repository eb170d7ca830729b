/* The tensors each network needs, enumerated from its configuration: the
 * network's block tree (nets/unet_desc.h, vae_desc.h, clip_desc.h), the
 * one its constructor walks too, with the tensors of each kind of module.
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
#include "nets/clip_desc.h"
#include "nets/unet_desc.h"
#include "nets/vae_desc.h"

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

/* ResnetBlock2D (docs/diffusion.md §Resnet blocks); temb_dim 0 for the VAE's. */
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

/* Transformer2DModel with `depth` BasicTransformerBlocks (docs/diffusion.md §Transformer blocks). */
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

/* The tensors of one module of the VAE's block tree. */
static void
vae_layer (GArray *s, const sdcl_vae_layer *l)
{
  char p[128], b[128];
  prefix_printf (p, sizeof p, "%s.", l->name);
  switch (l->role)
    {
    case SDCL_VAE_QUANT:
    case SDCL_VAE_CONV_IN:
    case SDCL_VAE_DOWNSAMPLE:
    case SDCL_VAE_UPSAMPLE:
    case SDCL_VAE_CONV_OUT:
      conv (s, p, l->out, l->in, l->k);
      break;
    case SDCL_VAE_RESNET:
    case SDCL_VAE_MID_RESNET:
      resnet (s, p, l->in, l->out, 0);
      break;
    case SDCL_VAE_MID_ATTENTION:
      norm (s, SUB (b, p, "group_norm."), l->out);
      linear (s, SUB (b, p, "to_q."), l->out, l->out, true);
      linear (s, SUB (b, p, "to_k."), l->out, l->out, true);
      linear (s, SUB (b, p, "to_v."), l->out, l->out, true);
      linear (s, SUB (b, p, "to_out.0."), l->out, l->out, true);
      break;
    case SDCL_VAE_NORM_OUT:
      norm (s, p, l->out);
      break;
    }
}

sdcl_tensor_spec *
sdcl_vae_tensor_specs (const sdcl_vae_config *c, size_t *count)
{
  GArray *s = g_array_new (FALSE, TRUE, sizeof (sdcl_tensor_spec));
  sdcl_vae_desc *d = sdcl_vae_describe (c);
  for (int i = 0; i < d->n_layers; i++)
    vae_layer (s, &d->layers[i]);
  sdcl_vae_desc_free (d);
  return finish (s, count);
}

/* ---- CLIP text encoder ------------------------------------------------- */

/* The tensors of one module of the text tower's list. */
static void
clip_module (GArray *s, const sdcl_clip_module *m)
{
  char p[128], b[128];
  const int64_t h = m->width;
  prefix_printf (p, sizeof p, "%s.", m->name);
  switch (m->role)
    {
    case SDCL_CLIP_TOKEN_EMBEDDING:
    case SDCL_CLIP_POSITION_EMBEDDING:
      add (s, p, "weight", 2, m->rows, h, 0, 0);
      break;
    case SDCL_CLIP_LAYER:
      norm (s, SUB (b, p, "layer_norm1."), h);
      linear (s, SUB (b, p, "self_attn.q_proj."), h, h, true);
      linear (s, SUB (b, p, "self_attn.k_proj."), h, h, true);
      linear (s, SUB (b, p, "self_attn.v_proj."), h, h, true);
      linear (s, SUB (b, p, "self_attn.out_proj."), h, h, true);
      norm (s, SUB (b, p, "layer_norm2."), h);
      linear (s, SUB (b, p, "mlp.fc1."), m->inner, h, true);
      linear (s, SUB (b, p, "mlp.fc2."), h, m->inner, true);
      break;
    case SDCL_CLIP_FINAL_NORM:
      norm (s, p, h);
      break;
    case SDCL_CLIP_TEXT_PROJECTION:
      add (s, p, "weight", 2, m->rows, h, 0, 0);
      break;
    }
}

sdcl_tensor_spec *
sdcl_clip_tensor_specs (const sdcl_clip_config *c, size_t *count)
{
  GArray *s = g_array_new (FALSE, TRUE, sizeof (sdcl_tensor_spec));
  sdcl_clip_desc *d = sdcl_clip_describe (c);
  for (int i = 0; i < d->n_modules; i++)
    clip_module (s, &d->modules[i]);
  sdcl_clip_desc_free (d);
  return finish (s, count);
}

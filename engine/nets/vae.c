/* AutoencoderKL (docs/diffusion.md §VAE): the decoder (post_quant_conv, conv_in, mid
 * block, up blocks, GroupNorm + SiLU + conv_out) and, on request, the
 * encoder (conv_in, down blocks with the asymmetric-padding downsampler,
 * mid block, GroupNorm + SiLU + conv_out, quant_conv).  Every GroupNorm of
 * the VAE uses eps 1e-6; the resnets have no time embedding.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "nets/vae_desc.h"
#include "vae_internal.h"

/* Architecture constants of diffusers' AutoencoderKL (not config keys). */
#define VAE_NORM_EPS 1e-6f
#define VAE_ATTENTION_HEADS 1   /* the mid-block attention is one head over all channels */

/* ---- construction ---------------------------------------------------------------- */

static void
load_attention (nn_loader *ld, vae_attention *a, int64_t channels, int groups, const char *prefix)
{
  char p[NN_NAME_MAX];
  nn_name (p, "%s.group_norm", prefix);
  nn_group_norm_load (ld, &a->norm, channels, groups, VAE_NORM_EPS, p);
  nn_attention_load (ld, &a->attn, &nn_diffusers_attention_names, channels, channels,
                     VAE_ATTENTION_HEADS, true, prefix);
}

/* One module of the block tree into its place in its half. */
static void
load_module (nn_loader *ld, const sdcl_vae_config *c, vae_coder *v, const sdcl_vae_layer *l)
{
  const int g = c->norm_num_groups;
  switch (l->role)
    {
    case SDCL_VAE_QUANT:
      nn_conv_load (ld, &v->quant, l->in, l->out, l->k, l->name);
      break;
    case SDCL_VAE_CONV_IN:
      nn_conv_load (ld, &v->conv_in, l->in, l->out, l->k, l->name);
      break;
    case SDCL_VAE_RESNET:
      nn_resnet_load (ld, &v->blocks[l->block].resnets[l->j], l->in, l->out, 0, g, VAE_NORM_EPS,
                      l->name);
      break;
    case SDCL_VAE_DOWNSAMPLE:
    case SDCL_VAE_UPSAMPLE:
      nn_conv_load (ld, &v->blocks[l->block].sampler, l->in, l->out, l->k, l->name);
      break;
    case SDCL_VAE_MID_RESNET:
      nn_resnet_load (ld, &v->mid_resnets[l->j], l->in, l->out, 0, g, VAE_NORM_EPS, l->name);
      break;
    case SDCL_VAE_MID_ATTENTION:
      v->mid_has_attention = true;
      load_attention (ld, &v->mid_attention, l->out, g, l->name);
      break;
    case SDCL_VAE_NORM_OUT:
      nn_group_norm_load (ld, &v->norm_out, l->out, g, VAE_NORM_EPS, l->name);
      break;
    case SDCL_VAE_CONV_OUT:
      nn_conv_load (ld, &v->conv_out, l->in, l->out, l->k, l->name);
      break;
    }
}

/* The encoder or the decoder, as the block tree describes it. */
static void
load_half (nn_loader *ld, const sdcl_vae_config *c, const sdcl_vae_desc *d, bool decoder,
           vae_coder *v)
{
  v->n_blocks = c->n_levels;
  v->blocks = g_new0 (vae_block, c->n_levels);
  for (int i = 0; i < d->n_layers; i++)
    if (d->layers[i].decoder == decoder && d->layers[i].role == SDCL_VAE_RESNET)
      {
        vae_block *blk = &v->blocks[d->layers[i].block];
        blk->n_layers = MAX (blk->n_layers, d->layers[i].j + 1);
      }
  for (int i = 0; i < v->n_blocks; i++)
    v->blocks[i].resnets = g_new0 (nn_resnet, v->blocks[i].n_layers);
  for (int i = 0; i < d->n_layers; i++)
    if (d->layers[i].decoder == decoder)
      load_module (ld, c, v, &d->layers[i]);
}

sdcl_tensor_spec *
sdcl_vae_tensor_specs (const sdcl_vae_config *c, size_t *count)
{
  sdcl_vae *m = g_new0 (sdcl_vae, 1);
  nn_loader ld;
  nn_loader_init_listing (&ld, &m->weights);
  sdcl_vae_desc *d = sdcl_vae_describe (c);
  load_half (&ld, c, d, false, &m->encoder);   /* the block tree's order */
  load_half (&ld, c, d, true, &m->decoder);
  sdcl_vae_desc_free (d);
  sdcl_vae_free (m);
  return nn_loader_take_specs (&ld, count);
}

sdcl_status
sdcl_vae_new (sdcl_cl *cl, const sdcl_wset *ws, const sdcl_vae_config *cfg, sdcl_wtype wtype,
              bool with_encoder, sdcl_vae **out, sdcl_error *err)
{
  *out = NULL;
  if (cfg->n_levels < 1 || cfg->n_levels > SDCL_MAX_LEVELS || cfg->layers_per_block < 1
      || cfg->latent_channels < 1 || cfg->in_channels < 1 || cfg->out_channels < 1)
    return nn_error (err, SDCL_ERR_MODEL_FORMAT, "VAE config is inconsistent (%d levels, %d "
                     "layers per block, %d latent channels)", cfg->n_levels,
                     cfg->layers_per_block, cfg->latent_channels);

  sdcl_vae *m = g_new0 (sdcl_vae, 1);
  m->cl = cl;
  m->cfg = *cfg;
  m->has_encoder = with_encoder;

  nn_loader ld;
  sdcl_vae_desc *d = sdcl_vae_describe (cfg);
  nn_loader_init (&ld, cl, ws, wtype, &m->weights, err);
  load_half (&ld, cfg, d, true, &m->decoder);
  if (with_encoder)
    load_half (&ld, cfg, d, false, &m->encoder);
  sdcl_vae_desc_free (d);

  sdcl_status st = nn_loader_finish (&ld);
  if (st != SDCL_OK)
    {
      sdcl_vae_free (m);
      return st;
    }
  *out = m;
  return SDCL_OK;
}

static void
free_coder (vae_coder *v)
{
  for (int i = 0; i < v->n_blocks; i++)
    g_free (v->blocks[i].resnets);
  g_free (v->blocks);
}

void
sdcl_vae_free (sdcl_vae *m)
{
  if (!m)
    return;
  free_coder (&m->decoder);
  free_coder (&m->encoder);
  nn_weights_free (&m->weights);
  g_free (m);
}

uint64_t
sdcl_vae_device_bytes (const sdcl_vae *m)
{
  return m ? m->weights.bytes : 0;
}

/* ---- forward ------------------------------------------------------------------------ */

/* x + out(attention(GroupNorm(x) as tokens)) with one head over all channels. */
sdcl_t
sdcl_vae_attention_forward (sdcl_cl *cl, const vae_attention *a, const sdcl_t *x)
{
  int64_t b = x->d[0], c = x->d[1], h = x->d[2], w = x->d[3];
  sdcl_t normed = nn_group_norm_forward (cl, &a->norm, x, false);
  sdcl_t tokens = nn_alloc (cl, 3, b, h * w, c, 0);
  op_nchw_to_nhwc (cl, &normed, &tokens);
  sdcl_t_release (cl, &normed);
  sdcl_t attended = nn_attention_forward (cl, &a->attn, &tokens, NULL, false, NULL);
  sdcl_t_release (cl, &tokens);
  sdcl_t y = nn_alloc (cl, 4, b, c, h, w);
  op_nhwc_to_nchw (cl, &attended, h, w, &y);
  sdcl_t_release (cl, &attended);
  op_add (cl, &y, x, &y);
  return y;
}

/* Replaces *x by f(*x): the running feature map of a forward pass. */
static void
advance (sdcl_cl *cl, sdcl_t *x, sdcl_t next)
{
  sdcl_t_release (cl, x);
  *x = next;
}

/* Replaces *x by resnet(*x), letting the resnet reuse *x's memory. */
static void
resnet_step (sdcl_cl *cl, const nn_resnet *r, sdcl_t *x)
{
  sdcl_t y = nn_resnet_forward_consume (cl, r, x, NULL);
  *x = y;
}

static sdcl_status
mid_block_forward (sdcl_cl *cl, const vae_coder *v, sdcl_t *x, const volatile int *cancel,
                   sdcl_error *err)
{
  resnet_step (cl, &v->mid_resnets[0], x);
  if (v->mid_has_attention)
    advance (cl, x, sdcl_vae_attention_forward (cl, &v->mid_attention, x));
  resnet_step (cl, &v->mid_resnets[1], x);
  return nn_poll (cl, cancel, err);
}

/* GroupNorm + SiLU + conv_out. */
static void
output_head (sdcl_cl *cl, const vae_coder *v, sdcl_t *x)
{
  nn_group_norm_inplace (cl, &v->norm_out, x, true);
  advance (cl, x, nn_conv_forward (cl, &v->conv_out, x, 0, 0, NULL));
}

/* Decoder body on x (owned, replaced step by step). */
static sdcl_status
decode (sdcl_vae *m, sdcl_t *x, const volatile int *cancel, sdcl_error *err)
{
  sdcl_cl *cl = m->cl;
  const vae_coder *v = &m->decoder;
  if (v->quant.weight)
    advance (cl, x, nn_conv_forward (cl, &v->quant, x, 0, 0, NULL));
  advance (cl, x, nn_conv_forward (cl, &v->conv_in, x, 0, 0, NULL));
  sdcl_status st = mid_block_forward (cl, v, x, cancel, err);
  for (int i = 0; i < v->n_blocks && st == SDCL_OK; i++)
    {
      const vae_block *blk = &v->blocks[i];
      for (int j = 0; j < blk->n_layers; j++)
        resnet_step (cl, &blk->resnets[j], x);
      if (blk->sampler.weight)
        advance (cl, x, nn_conv_forward (cl, &blk->sampler, x, 2 * x->d[2], 2 * x->d[3], NULL));
      st = nn_poll (cl, cancel, err);
    }
  if (st == SDCL_OK)
    {
      output_head (cl, v, x);
      st = sdcl_cl_check (cl, err);
    }
  return st;
}

/* Encoder body on x (owned, replaced step by step). */
static sdcl_status
encode (sdcl_vae *m, sdcl_t *x, const volatile int *cancel, sdcl_error *err)
{
  sdcl_cl *cl = m->cl;
  const vae_coder *v = &m->encoder;
  /* The encoder's downsampler pads one zero row/column at the bottom/right
   * only, then convolves without padding: floor(H/2) x floor(W/2)
   * (docs/diffusion.md §VAE encoder). */
  const sdcl_conv_desc down = { .stride = 2, .pad_b = 1, .pad_r = 1 };
  advance (cl, x, nn_conv_forward (cl, &v->conv_in, x, 0, 0, NULL));
  sdcl_status st = nn_poll (cl, cancel, err);
  for (int i = 0; i < v->n_blocks && st == SDCL_OK; i++)
    {
      const vae_block *blk = &v->blocks[i];
      for (int j = 0; j < blk->n_layers; j++)
        resnet_step (cl, &blk->resnets[j], x);
      if (blk->sampler.weight)
        advance (cl, x, nn_conv_forward_desc (cl, &blk->sampler, x, &down, NULL));
      st = nn_poll (cl, cancel, err);
    }
  if (st == SDCL_OK)
    st = mid_block_forward (cl, v, x, cancel, err);
  if (st == SDCL_OK)
    {
      output_head (cl, v, x);
      if (v->quant.weight)
        advance (cl, x, nn_conv_forward (cl, &v->quant, x, 0, 0, NULL));
      st = sdcl_cl_check (cl, err);
    }
  return st;
}

/* Copies the caller's tensor so every stage can release its input. */
static sdcl_t
copy_tensor (sdcl_cl *cl, const sdcl_t *src)
{
  sdcl_t t = nn_alloc (cl, src->nd, src->d[0], src->d[1], src->d[2], src->d[3]);
  op_copy (cl, src, 0, &t, 0, src->n);
  return t;
}

sdcl_status
sdcl_vae_decode (sdcl_vae *m, const sdcl_t *z, const volatile int *cancel, sdcl_t *image,
                 sdcl_error *err)
{
  memset (image, 0, sizeof *image);
  if (z->nd != 4 || z->d[1] != m->cfg.latent_channels || z->d[0] < 1 || z->d[2] < 1 || z->d[3] < 1)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "VAE decoder input must be [B, %d, h, w]",
                     m->cfg.latent_channels);
  sdcl_status st = nn_poll (m->cl, cancel, err);
  if (st != SDCL_OK)
    return st;

  sdcl_t x = copy_tensor (m->cl, z);
  st = decode (m, &x, cancel, err);
  if (st == SDCL_OK)
    *image = x;
  else
    sdcl_t_release (m->cl, &x);
  return st;
}

sdcl_status
sdcl_vae_encode (sdcl_vae *m, const sdcl_t *image, const volatile int *cancel, sdcl_t *moments,
                 sdcl_error *err)
{
  memset (moments, 0, sizeof *moments);
  if (!m->has_encoder)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "the VAE was built without its encoder");
  if (image->nd != 4 || image->d[1] != m->cfg.in_channels || image->d[0] < 1 || image->d[2] < 1
      || image->d[3] < 1)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "VAE encoder input must be [B, %d, H, W]",
                     m->cfg.in_channels);
  sdcl_status st = nn_poll (m->cl, cancel, err);
  if (st != SDCL_OK)
    return st;

  sdcl_t x = copy_tensor (m->cl, image);
  st = encode (m, &x, cancel, err);
  if (st == SDCL_OK)
    *moments = x;
  else
    sdcl_t_release (m->cl, &x);
  return st;
}

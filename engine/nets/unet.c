/* UNet2DConditionModel (docs/diffusion.md §UNet): time embedding, conv_in, down
 * blocks (ResnetBlock2D + optional Transformer2D per layer, downsampler),
 * mid block (resnet, transformer, resnet), up blocks consuming the skips
 * (cat([x, skip]) → resnet → optional transformer, upsampler to the size
 * of the next skip), then GroupNorm + SiLU + conv_out.
 *
 * Everything about the layout comes from the config: channels and whether a
 * level has attention per level, heads per level (down/up/mid), transformer
 * depth per level, cross-attention width.  Projections may be 1x1 convs
 * (SD1) or linears (SD2/SDXL): both are loaded as the same [C, C] matrix and
 * applied to the token layout.  Attention logits and softmax are always
 * fp32 (op_attention), which is what `upcast_attention` asks for.  An
 * LCM-distilled UNet (time_cond_proj_dim) adds cond_proj of a sinusoidal
 * guidance embedding to the timestep embedding (sdcl_unet_set_guidance).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets.h"

#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nets/unet_desc.h"
#include "nn.h"
#include "unet_text_time.h"

/* Architecture constants of diffusers' Transformer2DModel and
 * BasicTransformerBlock; none of them is a config key. */
#define TRANSFORMER_GROUP_NORM_EPS 1e-6f
#define TRANSFORMER_LAYER_NORM_EPS 1e-5f
#define FF_MULT 4                    /* feed-forward inner width = 4 x channels */
#define TIMESTEP_MAX_PERIOD 10000.0  /* sinusoidal embedding base */

typedef struct {
  nn_layer_norm norm1, norm2, norm3;
  nn_attention attn1;    /* self-attention */
  nn_attention attn2;    /* cross-attention on the text context */
  nn_linear ff_in;       /* ff.net.0.proj: C -> 2 x inner (GEGLU halves) */
  nn_linear ff_out;      /* ff.net.2: inner -> C */
} transformer_block;

typedef struct {
  nn_group_norm norm;
  nn_linear proj_in, proj_out;
  int depth;
  transformer_block *blocks;
} transformer2d;

typedef struct {
  char name[32];              /* "down_blocks.3": prefix of its tensors */
  const sdcl_unet_layer *layers; /* its modules in the block tree (unet_desc.h) */
  int n_modules;
  bool up;                    /* an up block (upsampler) rather than a down block */
  int n_layers;
  int64_t *resnet_in;         /* input channels of each resnet */
  int64_t out;                /* output channels of every layer */
  int heads, depth;           /* of its transformers */
  nn_resnet *resnets;
  transformer2d *attentions;  /* n_layers entries, or NULL for a plain block */
  bool has_sampler;
  nn_conv sampler;            /* down/upsampler conv */
  /* Weights uploaded one layer at a time as the layer runs and freed after
   * it (see sdcl_unet_new's `stream`); between uses the layers hold NULL
   * weights. */
  bool streamed;
} unet_block;

/* The parts of a block that are loaded (and streamed) as a unit. */
typedef enum { LAYER_RESNET, LAYER_ATTENTION, LAYER_SAMPLER } layer_kind;

struct sdcl_unet {
  sdcl_cl *cl;
  sdcl_unet_config cfg;
  sdcl_unet_desc *desc;       /* the block tree the blocks below are built from */
  const sdcl_wset *ws;        /* the source of streamed layers (outlives the UNet) */
  sdcl_wtype wtype;
  nn_weights weights;         /* everything not streamed */
  nn_linear time_linear_1, time_linear_2;
  nn_linear cond_proj;        /* LCM-distilled UNets only (cfg.time_cond_proj_dim > 0) */
  float guidance_w;           /* what cond_proj embeds (sdcl_unet_set_guidance) */
  unet_text_time text_time;   /* SDXL only (cfg.add_embed_in > 0) */
  nn_conv conv_in;
  unet_block *down, *up;      /* cfg.n_levels each */
  nn_resnet mid_resnets[2];
  transformer2d mid_attention;
  nn_group_norm norm_out;
  nn_conv conv_out;
  int max_skips;
  bool stream;                /* the deepest level's down and up blocks are streamed */
  bool serial_batch;          /* evaluate batch entries one at a time */
  /* sdcl_unet_keep_context (NULL: not keeping): the (k, v) pair of every
   * cross-attention in forward order (sdcl_t), projected from the context
   * `kept_from` (its buffer and shape, not owned). */
  GArray *kept_kv;
  sdcl_t kept_from;
};

/* The text context of a forward pass, with the kept keys and values
 * (NULL: each cross-attention projects the context itself). */
typedef struct {
  const sdcl_t *states;
  GArray *kept;
  guint next;                 /* the next cross-attention's pair in kept */
} unet_context;

/* ---- construction -------------------------------------------------------------- */

static void
load_transformer_block (nn_loader *ld, transformer_block *b, int64_t channels,
                        int64_t context_dim, int heads, const char *prefix)
{
  char p[NN_NAME_MAX];
  int64_t inner = FF_MULT * channels;
  nn_name (p, "%s.norm1", prefix);
  nn_layer_norm_load (ld, &b->norm1, channels, TRANSFORMER_LAYER_NORM_EPS, p);
  nn_name (p, "%s.attn1", prefix);
  nn_attention_load (ld, &b->attn1, &nn_diffusers_attention_names, channels, channels, heads,
                     false, p);
  nn_name (p, "%s.norm2", prefix);
  nn_layer_norm_load (ld, &b->norm2, channels, TRANSFORMER_LAYER_NORM_EPS, p);
  nn_name (p, "%s.attn2", prefix);
  nn_attention_load (ld, &b->attn2, &nn_diffusers_attention_names, channels, context_dim, heads,
                     false, p);
  nn_name (p, "%s.norm3", prefix);
  nn_layer_norm_load (ld, &b->norm3, channels, TRANSFORMER_LAYER_NORM_EPS, p);
  nn_name (p, "%s.ff.net.0.proj", prefix);
  nn_linear_load (ld, &b->ff_in, channels, 2 * inner, true, p);
  nn_name (p, "%s.ff.net.2", prefix);
  nn_linear_load (ld, &b->ff_out, inner, channels, true, p);
}

/* proj_in / proj_out: linear layers, or 1x1 convolutions in the files of
 * UNets without use_linear_projection (SD 1.x); either runs as a matrix. */
static void
load_projection (nn_loader *ld, const sdcl_unet_config *c, nn_linear *l, int64_t channels,
                 const char *name)
{
  if (c->use_linear_projection)
    nn_linear_load (ld, l, channels, channels, true, name);
  else
    nn_linear_load_1x1 (ld, l, channels, channels, name);
}

static void
load_transformer2d (nn_loader *ld, const sdcl_unet_config *c, transformer2d *t, int64_t channels,
                    int heads, int depth, const char *prefix)
{
  char p[NN_NAME_MAX];
  nn_name (p, "%s.norm", prefix);
  nn_group_norm_load (ld, &t->norm, channels, c->norm_num_groups, TRANSFORMER_GROUP_NORM_EPS, p);
  nn_name (p, "%s.proj_in", prefix);
  load_projection (ld, c, &t->proj_in, channels, p);
  t->depth = depth;
  t->blocks = g_new0 (transformer_block, depth > 0 ? depth : 1);
  for (int i = 0; i < depth; i++)
    {
      nn_name (p, "%s.transformer_blocks.%d", prefix, i);
      load_transformer_block (ld, &t->blocks[i], channels, c->cross_attention_dim, heads, p);
    }
  nn_name (p, "%s.proj_out", prefix);
  load_projection (ld, c, &t->proj_out, channels, p);
}

/* The block's module of that kind and index. */
static const sdcl_unet_layer *
block_module (const unet_block *blk, layer_kind kind, int j)
{
  for (int i = 0; i < blk->n_modules; i++)
    {
      const sdcl_unet_layer *l = &blk->layers[i];
      bool match = kind == LAYER_RESNET      ? l->kind == SDCL_UNET_RESNET
                   : kind == LAYER_ATTENTION ? l->kind == SDCL_UNET_ATTENTION
                                             : l->kind == SDCL_UNET_DOWNSAMPLE || l->kind == SDCL_UNET_UPSAMPLE;
      if (match && l->j == j)
        return l;
    }
  g_assert_not_reached ();   /* blocks are built from the same description */
  return NULL;
}

/* Loads one layer of a block (resnet j, transformer j or the sampler). */
static void
load_layer (nn_loader *ld, const sdcl_unet_config *c, unet_block *blk, layer_kind kind, int j)
{
  const sdcl_unet_layer *l = block_module (blk, kind, j);
  switch (kind)
    {
    case LAYER_RESNET:
      nn_resnet_load (ld, &blk->resnets[j], l->in, l->out, c->time_embed_dim, c->norm_num_groups,
                      c->norm_eps, l->name);
      break;
    case LAYER_ATTENTION:
      load_transformer2d (ld, c, &blk->attentions[j], l->out, blk->heads, blk->depth, l->name);
      break;
    case LAYER_SAMPLER:
      nn_conv_load (ld, &blk->sampler, l->in, l->out, l->k, l->name);
      break;
    }
}

/* Forgets a streamed layer's weights (freed with their store). */
static void
clear_layer (unet_block *blk, layer_kind kind, int j)
{
  switch (kind)
    {
    case LAYER_RESNET:
      memset (&blk->resnets[j], 0, sizeof blk->resnets[j]);
      break;
    case LAYER_ATTENTION:
      g_free (blk->attentions[j].blocks);
      memset (&blk->attentions[j], 0, sizeof blk->attentions[j]);
      break;
    case LAYER_SAMPLER:
      memset (&blk->sampler, 0, sizeof blk->sampler);
      break;
    }
}

/* Uploads a streamed layer into `store` (empty), reporting failures to err. */
static sdcl_status
stream_in (sdcl_unet *m, unet_block *blk, layer_kind kind, int j, nn_weights *store,
           sdcl_error *err)
{
  nn_loader ld;
  nn_loader_init (&ld, m->cl, m->ws, m->wtype, store, err);
  load_layer (&ld, &m->cfg, blk, kind, j);
  return nn_loader_finish (&ld);
}

static void
stream_out (unet_block *blk, layer_kind kind, int j, nn_weights *store)
{
  nn_weights_free (store);
  clear_layer (blk, kind, j);
}

/* One layer of a block at construction: into the UNet's store, or, when
 * the block is streamed, once through a scratch store, which checks its
 * tensors (names, shapes, dtypes) at load time like any other layer's. */
static void
load_or_check_layer (nn_loader *ld, sdcl_unet *m, unet_block *blk, layer_kind kind, int j)
{
  if (!blk->streamed)
    {
      load_layer (ld, &m->cfg, blk, kind, j);
      return;
    }
  if (ld->status != SDCL_OK)
    return;
  nn_weights scratch = { 0 };
  ld->status = stream_in (m, blk, kind, j, &scratch, ld->err);
  stream_out (blk, kind, j, &scratch);
}

/* Every layer of a block set up by load_down_block / load_up_block. */
static void
load_block (nn_loader *ld, sdcl_unet *m, unet_block *blk)
{
  for (int j = 0; j < blk->n_layers; j++)
    {
      load_or_check_layer (ld, m, blk, LAYER_RESNET, j);
      if (blk->attentions)
        load_or_check_layer (ld, m, blk, LAYER_ATTENTION, j);
    }
  if (blk->has_sampler)
    load_or_check_layer (ld, m, blk, LAYER_SAMPLER, 0);
}

/* A down or up block as the block tree describes it. */
static void
load_down_up_block (nn_loader *ld, sdcl_unet *m, unet_block *blk, const sdcl_unet_block *b)
{
  g_strlcpy (blk->name, b->name, sizeof blk->name);
  blk->layers = &m->desc->layers[b->first];
  blk->n_modules = b->n_layers;
  blk->up = b->kind == SDCL_UNET_UP;
  blk->n_layers = b->n_resnets;
  blk->heads = b->heads;
  blk->depth = b->depth;
  blk->has_sampler = b->has_sampler;
  blk->resnet_in = g_new0 (int64_t, b->n_resnets);
  blk->resnets = g_new0 (nn_resnet, b->n_resnets);
  if (b->has_attn)
    blk->attentions = g_new0 (transformer2d, b->n_resnets);
  for (int j = 0; j < b->n_resnets; j++)
    blk->resnet_in[j] = block_module (blk, LAYER_RESNET, j)->in;
  blk->out = block_module (blk, LAYER_RESNET, 0)->out;
  /* streamed: the deepest level's down and up blocks (see sdcl_unet_new) */
  blk->streamed = m->stream && b->level == m->cfg.n_levels - 1;
  load_block (ld, m, blk);
}

static void
load_mid_block (nn_loader *ld, sdcl_unet *m, const sdcl_unet_block *b)
{
  const sdcl_unet_config *c = &m->cfg;
  for (int i = 0; i < b->n_layers; i++)
    {
      const sdcl_unet_layer *l = &m->desc->layers[b->first + i];
      if (l->kind == SDCL_UNET_RESNET)
        nn_resnet_load (ld, &m->mid_resnets[l->j], l->in, l->out, c->time_embed_dim,
                        c->norm_num_groups, c->norm_eps, l->name);
      else
        load_transformer2d (ld, c, &m->mid_attention, l->out, b->heads, b->depth, l->name);
    }
}

static sdcl_status
check_config (const sdcl_unet_config *c, sdcl_error *err)
{
  if (c->n_levels < 1 || c->n_levels > SDCL_MAX_LEVELS || c->layers_per_block < 1
      || c->in_channels < 1 || c->out_channels < 1 || c->time_embed_dim < 1
      || c->cross_attention_dim < 1 || c->block_out_channels[0] < 2)
    return nn_error (err, SDCL_ERR_MODEL_FORMAT, "UNet config is inconsistent (%d levels, %d "
                     "layers per block)", c->n_levels, c->layers_per_block);
  /* UNetMidBlock2DCrossAttn is the only mid block of the supported families. */
  if (!c->mid_has_attn)
    return nn_error (err, SDCL_ERR_UNSUPPORTED_MODEL, "UNet without a cross-attention mid block");
  return SDCL_OK;
}

static sdcl_unet *
unet_alloc (const sdcl_unet_config *cfg)
{
  sdcl_unet *m = g_new0 (sdcl_unet, 1);
  m->cfg = *cfg;
  m->desc = sdcl_unet_describe (cfg);
  m->down = g_new0 (unet_block, cfg->n_levels);
  m->up = g_new0 (unet_block, cfg->n_levels);
  m->max_skips = 1 + cfg->n_levels * (cfg->layers_per_block + 1);
  return m;
}

/* Every weight, in the block tree's order. */
static void
load_all (nn_loader *ld, sdcl_unet *m)
{
  const sdcl_unet_config *cfg = &m->cfg;
  int64_t time_dim = cfg->block_out_channels[0];  /* width of the sinusoidal embedding */
  nn_linear_load (ld, &m->time_linear_1, time_dim, cfg->time_embed_dim, true,
                  "time_embedding.linear_1");
  nn_linear_load (ld, &m->time_linear_2, cfg->time_embed_dim, cfg->time_embed_dim, true,
                  "time_embedding.linear_2");
  if (cfg->time_cond_proj_dim > 0)
    nn_linear_load (ld, &m->cond_proj, cfg->time_cond_proj_dim, time_dim, false,
                    "time_embedding.cond_proj");
  if (cfg->add_embed_in > 0)
    unet_text_time_load (ld, &m->text_time, cfg);
  int64_t ch = cfg->block_out_channels[0];
  nn_conv_load (ld, &m->conv_in, cfg->in_channels, ch, 3, "conv_in");
  for (int i = 0; i < m->desc->n_blocks; i++)
    {
      const sdcl_unet_block *b = &m->desc->blocks[i];
      if (b->kind == SDCL_UNET_MID)
        load_mid_block (ld, m, b);
      else
        load_down_up_block (ld, m, b->kind == SDCL_UNET_UP ? &m->up[b->index] : &m->down[b->index], b);
    }
  nn_group_norm_load (ld, &m->norm_out, ch, cfg->norm_num_groups, cfg->norm_eps,
                      "conv_norm_out");
  nn_conv_load (ld, &m->conv_out, ch, cfg->out_channels, 3, "conv_out");
}

sdcl_tensor_spec *
sdcl_unet_tensor_specs (const sdcl_unet_config *c, size_t *count)
{
  sdcl_unet *m = unet_alloc (c);
  nn_loader ld;
  nn_loader_init_listing (&ld, &m->weights);
  load_all (&ld, m);
  sdcl_unet_free (m);
  return nn_loader_take_specs (&ld, count);
}

sdcl_status
sdcl_unet_new (sdcl_cl *cl, const sdcl_wset *ws, const sdcl_unet_config *cfg, sdcl_wtype wtype,
               bool stream, sdcl_unet **out, sdcl_error *err)
{
  *out = NULL;
  sdcl_status st = check_config (cfg, err);
  if (st != SDCL_OK)
    return st;

  sdcl_unet *m = unet_alloc (cfg);
  m->cl = cl;
  m->ws = ws;
  m->wtype = wtype;
  m->stream = stream;

  nn_loader ld;
  nn_loader_init (&ld, cl, ws, wtype, &m->weights, err);
  load_all (&ld, m);
  st = nn_loader_finish (&ld);
  if (st != SDCL_OK)
    {
      sdcl_unet_free (m);
      return st;
    }
  *out = m;
  return SDCL_OK;
}

static void
free_transformer2d (transformer2d *t)
{
  g_free (t->blocks);
}

static void
free_block (unet_block *blk)
{
  g_free (blk->resnet_in);
  if (blk->attentions)
    for (int j = 0; j < blk->n_layers; j++)
      free_transformer2d (&blk->attentions[j]);
  g_free (blk->attentions);
  g_free (blk->resnets);
}

void
sdcl_unet_free (sdcl_unet *m)
{
  if (!m)
    return;
  for (int i = 0; i < m->cfg.n_levels; i++)
    {
      free_block (&m->down[i]);
      free_block (&m->up[i]);
    }
  free_transformer2d (&m->mid_attention);
  g_free (m->down);
  g_free (m->up);
  sdcl_unet_desc_free (m->desc);
  sdcl_unet_keep_context (m, false);
  nn_weights_free (&m->weights);
  unet_text_time_free (&m->text_time);
  g_free (m);
}

uint64_t
sdcl_unet_device_bytes (const sdcl_unet *m)
{
  return m ? m->weights.bytes : 0;
}

/* ---- layers ------------------------------------------------------------------------ */

/* attn2 on the text context: its keys and values taken from the kept
 * ones, projected and kept by the first pass that needs them. */
static sdcl_t
cross_attention_forward (sdcl_cl *cl, const nn_attention *a, const sdcl_t *x, unet_context *ctx,
                         const sdcl_t *residual)
{
  if (!ctx->kept)
    return nn_attention_forward (cl, a, x, ctx->states, false, residual);
  if (ctx->kept->len < ctx->next + 2)
    {
      sdcl_t kv[2] = { nn_linear_forward (cl, &a->k, ctx->states, SDCL_ACT_NONE, NULL),
                       nn_linear_forward (cl, &a->v, ctx->states, SDCL_ACT_NONE, NULL) };
      g_array_append_vals (ctx->kept, kv, 2);
    }
  const sdcl_t *kv = &g_array_index (ctx->kept, sdcl_t, ctx->next);
  ctx->next += 2;
  return nn_attention_forward_kv (cl, a, x, &kv[0], &kv[1], residual);
}

/* x [B, N, C] -> x + attn1 + attn2 + ff, each on its own LayerNorm. */
static sdcl_t
transformer_block_forward (sdcl_cl *cl, const transformer_block *b, const sdcl_t *x,
                           unet_context *context)
{
  sdcl_t a = nn_layer_norm_forward (cl, &b->norm1, x);
  sdcl_t x1 = nn_attention_forward (cl, &b->attn1, &a, NULL, false, x);
  sdcl_t_release (cl, &a);

  a = nn_layer_norm_forward (cl, &b->norm2, &x1);
  sdcl_t x2 = cross_attention_forward (cl, &b->attn2, &a, context, &x1);
  sdcl_t_release (cl, &a);
  sdcl_t_release (cl, &x1);

  a = nn_layer_norm_forward (cl, &b->norm3, &x2);
  sdcl_t hidden = nn_linear_geglu_forward (cl, &b->ff_in, &a);
  sdcl_t_release (cl, &a);
  sdcl_t x3 = nn_linear_forward (cl, &b->ff_out, &hidden, SDCL_ACT_NONE, &x2);
  sdcl_t_release (cl, &hidden);
  sdcl_t_release (cl, &x2);
  return x3;
}

/* x [B, C, H, W] -> x + proj_out(blocks(proj_in(GroupNorm(x)))) with the
 * blocks working on tokens [B, H*W, C]. */
static sdcl_t
transformer2d_forward (sdcl_cl *cl, const transformer2d *t, const sdcl_t *x,
                       unet_context *context)
{
  int64_t b = x->d[0], c = x->d[1], h = x->d[2], w = x->d[3];
  sdcl_t normed = nn_group_norm_forward (cl, &t->norm, x, false);
  sdcl_t tokens = nn_alloc (cl, 3, b, h * w, c, 0);
  op_nchw_to_nhwc (cl, &normed, &tokens);
  sdcl_t_release (cl, &normed);

  sdcl_t cur = nn_linear_forward (cl, &t->proj_in, &tokens, SDCL_ACT_NONE, NULL);
  sdcl_t_release (cl, &tokens);
  for (int i = 0; i < t->depth; i++)
    {
      sdcl_t next = transformer_block_forward (cl, &t->blocks[i], &cur, context);
      sdcl_t_release (cl, &cur);
      cur = next;
    }
  tokens = nn_linear_forward (cl, &t->proj_out, &cur, SDCL_ACT_NONE, NULL);
  sdcl_t_release (cl, &cur);

  sdcl_t y = nn_alloc (cl, 4, b, c, h, w);
  op_nhwc_to_nchw (cl, &tokens, h, w, &y);
  sdcl_t_release (cl, &tokens);
  op_add (cl, &y, x, &y);
  return y;
}

/* Sinusoidal embedding of one timestep per batch entry (docs/diffusion.md
 * §Time embedding), in float32 with the same operation order as the
 * reference, [B, dim]. */
static void
timestep_embedding (const sdcl_unet_config *c, const float *timesteps, int batch, int64_t dim,
                    float *out)
{
  int64_t half = dim / 2;
  const float log_period = (float) -log (TIMESTEP_MAX_PERIOD);
  for (int b = 0; b < batch; b++)
    {
      float *row = out + b * dim;
      for (int64_t i = 0; i < half; i++)
        {
          float exponent = (log_period * (float) i) / ((float) half - c->freq_shift);
          float arg = timesteps[b] * expf (exponent);
          float s = sinf (arg), co = cosf (arg);
          row[i] = c->flip_sin_to_cos ? co : s;
          row[half + i] = c->flip_sin_to_cos ? s : co;
        }
      if (dim % 2)
        row[dim - 1] = 0.0f;  /* odd widths are zero-padded */
    }
}

/* The guidance embedding of an LCM-distilled UNet (docs/diffusion.md
 * §LCM-distilled UNets): sin then cos of 1000 w · exp(−i log(10000) /
 * (half − 1)), float32, zero-padded to an odd width, [B, dim]. */
static void
guidance_embedding (float w, int batch, int64_t dim, float *out)
{
  int64_t half = dim / 2;
  float step = logf (10000.0f) / (float) (half - 1);
  float scaled = w * 1000.0f;
  for (int64_t i = 0; i < half; i++)
    {
      float arg = scaled * expf ((float) i * -step);
      out[i] = sinf (arg);
      out[half + i] = cosf (arg);
    }
  if (dim % 2)
    out[dim - 1] = 0.0f;
  for (int b = 1; b < batch; b++)
    memcpy (out + b * dim, out, dim * sizeof (float));
}

void
sdcl_unet_sinusoid (const sdcl_unet_config *c, const float *values, int n, int64_t dim, float *out)
{
  timestep_embedding (c, values, n, dim, out);
}

void
sdcl_unet_set_text_time (sdcl_unet *m, const float *pooled, const float *time_ids, int batch)
{
  if (m->cfg.add_embed_in > 0)
    unet_text_time_set (&m->text_time, &m->cfg, pooled, time_ids, batch);
}

void
sdcl_unet_set_guidance (sdcl_unet *m, float w)
{
  m->guidance_w = w;
}

/* timestep embedding + cond_proj(guidance embedding) for LCM-distilled UNets. */
static sdcl_t
add_guidance_condition (sdcl_unet *m, sdcl_t *emb, int batch)
{
  int64_t dim = m->cfg.time_cond_proj_dim;
  float *host = g_new (float, batch * dim);
  guidance_embedding (m->guidance_w, batch, dim, host);
  sdcl_t w;
  sdcl_t_from_host (m->cl, &w, 2, (int64_t[]){ batch, dim }, host);
  g_free (host);
  sdcl_t sum = nn_linear_forward (m->cl, &m->cond_proj, &w, SDCL_ACT_NONE, emb);
  sdcl_t_release (m->cl, &w);
  sdcl_t_release (m->cl, emb);
  return sum;
}

/* SiLU(linear_2(SiLU(linear_1(embedding)))) [B, time_embed_dim]: every
 * resnet applies SiLU to the time embedding first, so it is done once. */
static sdcl_t
time_embedding_forward (sdcl_unet *m, const float *timesteps, int batch, int row0)
{
  int64_t dim = m->time_linear_1.weight->d[1];
  float *host = g_new (float, batch * dim);
  timestep_embedding (&m->cfg, timesteps, batch, dim, host);
  sdcl_t emb;
  sdcl_t_from_host (m->cl, &emb, 2, (int64_t[]){ batch, dim }, host);
  g_free (host);
  if (m->cfg.time_cond_proj_dim > 0)
    emb = add_guidance_condition (m, &emb, batch);

  sdcl_t hidden = nn_linear_forward (m->cl, &m->time_linear_1, &emb, SDCL_ACT_SILU, NULL);
  sdcl_t_release (m->cl, &emb);
  if (m->cfg.add_embed_in > 0)
    {
      /* SiLU(time embedding + add embedding), SDXL */
      sdcl_t add = unet_text_time_forward (m->cl, &m->text_time, &m->cfg, row0, batch);
      sdcl_t sum = nn_linear_forward (m->cl, &m->time_linear_2, &hidden, SDCL_ACT_NONE, &add);
      sdcl_t_release (m->cl, &add);
      sdcl_t_release (m->cl, &hidden);
      op_act (m->cl, &sum, SDCL_ACT_SILU, &sum);
      return sum;
    }
  sdcl_t temb = nn_linear_forward (m->cl, &m->time_linear_2, &hidden, SDCL_ACT_SILU, NULL);
  sdcl_t_release (m->cl, &hidden);
  return temb;
}

/* ---- forward pass ------------------------------------------------------------------- */

/* State of one forward pass.  Every live tensor is owned either by `skips`
 * or by `x`, so cancellation or a failure between blocks releases exactly
 * what is alive. */
typedef struct {
  sdcl_unet *m;
  sdcl_cl *cl;
  unet_context context;
  sdcl_t silu_temb;
  sdcl_t *skips;
  int n_skips;
  sdcl_t x;
  nn_weights streamed;        /* the streamed layer being run, if any */
  const volatile int *cancel;
  sdcl_error *err;
} unet_run;

static void
push_skip (unet_run *r, sdcl_t t)
{
  r->skips[r->n_skips++] = t;
}

static const sdcl_t *
top_skip (const unet_run *r)
{
  return &r->skips[r->n_skips - 1];
}

/* Makes layer j of a block ready to run: a streamed layer is uploaded into
 * r->streamed here and freed by layer_done right after its kernels are
 * queued (OpenCL frees a released buffer once they have run). */
static sdcl_status
layer_ready (unet_run *r, unet_block *blk, layer_kind kind, int j)
{
  if (!blk->streamed)
    return SDCL_OK;
  sdcl_status st = stream_in (r->m, blk, kind, j, &r->streamed, r->err);
  if (st != SDCL_OK)
    stream_out (blk, kind, j, &r->streamed);
  return st;
}

static void
layer_done (unet_run *r, unet_block *blk, layer_kind kind, int j)
{
  if (blk->streamed)
    stream_out (blk, kind, j, &r->streamed);
}

/* The transformer of layer j on a resnet output *h (replaced by the result),
 * if the block has attention.  On failure *h is left to the caller. */
static sdcl_status
attend (unet_run *r, unet_block *blk, int j, sdcl_t *h)
{
  if (!blk->attentions)
    return SDCL_OK;
  sdcl_status st = layer_ready (r, blk, LAYER_ATTENTION, j);
  if (st != SDCL_OK)
    return st;
  sdcl_t y = transformer2d_forward (r->cl, &blk->attentions[j], h, &r->context);
  layer_done (r, blk, LAYER_ATTENTION, j);
  sdcl_t_release (r->cl, h);
  *h = y;
  return SDCL_OK;
}

/* Down blocks read their input from the top of the skip stack and push
 * every output there. */
static sdcl_status
down_block_forward (unet_run *r, unet_block *blk)
{
  sdcl_status st;
  for (int j = 0; j < blk->n_layers; j++)
    {
      if ((st = layer_ready (r, blk, LAYER_RESNET, j)) != SDCL_OK)
        return st;
      push_skip (r, nn_resnet_forward (r->cl, &blk->resnets[j], top_skip (r), &r->silu_temb));
      layer_done (r, blk, LAYER_RESNET, j);
      if ((st = attend (r, blk, j, &r->skips[r->n_skips - 1])) != SDCL_OK)
        return st;
      if ((st = nn_poll (r->cl, r->cancel, r->err)) != SDCL_OK)
        return st;
    }
  if (blk->has_sampler)
    {
      if ((st = layer_ready (r, blk, LAYER_SAMPLER, 0)) != SDCL_OK)
        return st;
      /* 3x3 stride 2 pad 1: ceil(H/2) x ceil(W/2). */
      sdcl_conv_desc desc = { .stride = 2, .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1 };
      push_skip (r, nn_conv_forward_desc (r->cl, &blk->sampler, top_skip (r), &desc, NULL));
      layer_done (r, blk, LAYER_SAMPLER, 0);
    }
  return nn_poll (r->cl, r->cancel, r->err);
}

static sdcl_status
mid_block_forward (unet_run *r)
{
  sdcl_unet *m = r->m;
  r->x = nn_resnet_forward (r->cl, &m->mid_resnets[0], top_skip (r), &r->silu_temb);
  sdcl_t a = transformer2d_forward (r->cl, &m->mid_attention, &r->x, &r->context);
  sdcl_t_release (r->cl, &r->x);
  r->x = nn_resnet_forward_consume (r->cl, &m->mid_resnets[1], &a, &r->silu_temb);
  return nn_poll (r->cl, r->cancel, r->err);
}

static sdcl_status
up_block_forward (unet_run *r, unet_block *blk)
{
  sdcl_status st;
  for (int j = 0; j < blk->n_layers; j++)
    {
      if ((st = layer_ready (r, blk, LAYER_RESNET, j)) != SDCL_OK)
        return st;
      sdcl_t skip = r->skips[--r->n_skips];
      const sdcl_t *x = &r->x;
      sdcl_t cat = nn_alloc (r->cl, 4, x->d[0], x->d[1] + skip.d[1], x->d[2], x->d[3]);
      op_concat_channels (r->cl, x, &skip, &cat);
      sdcl_t_release (r->cl, &r->x);
      sdcl_t_release (r->cl, &skip);
      r->x = nn_resnet_forward_consume (r->cl, &blk->resnets[j], &cat, &r->silu_temb);
      layer_done (r, blk, LAYER_RESNET, j);
      if ((st = attend (r, blk, j, &r->x)) != SDCL_OK)
        return st;
      if ((st = nn_poll (r->cl, r->cancel, r->err)) != SDCL_OK)
        return st;
    }
  if (blk->has_sampler)
    {
      if ((st = layer_ready (r, blk, LAYER_SAMPLER, 0)) != SDCL_OK)
        return st;
      /* Nearest upsampling to the exact size of the next skip: x2 for even
       * sizes, and what makes odd latent sizes (6x10) line up
       * (docs/diffusion.md §Down- and upsampling). */
      const sdcl_t *next = top_skip (r);
      sdcl_t y = nn_conv_forward (r->cl, &blk->sampler, &r->x, next->d[2], next->d[3], NULL);
      layer_done (r, blk, LAYER_SAMPLER, 0);
      sdcl_t_release (r->cl, &r->x);
      r->x = y;
    }
  return nn_poll (r->cl, r->cancel, r->err);
}

static sdcl_status
run_blocks (unet_run *r, const sdcl_t *x, const float *timesteps, int row0, sdcl_t *out)
{
  sdcl_unet *m = r->m;
  sdcl_status st = nn_poll (r->cl, r->cancel, r->err);
  if (st != SDCL_OK)
    return st;
  r->silu_temb = time_embedding_forward (m, timesteps, (int) x->d[0], row0);
  push_skip (r, nn_conv_forward (r->cl, &m->conv_in, x, 0, 0, NULL));
  for (int i = 0; i < m->cfg.n_levels && st == SDCL_OK; i++)
    st = down_block_forward (r, &m->down[i]);
  if (st == SDCL_OK)
    st = mid_block_forward (r);
  for (int i = 0; i < m->cfg.n_levels && st == SDCL_OK; i++)
    st = up_block_forward (r, &m->up[i]);
  if (st != SDCL_OK)
    return st;

  nn_group_norm_inplace (r->cl, &m->norm_out, &r->x, true);
  *out = nn_conv_forward (r->cl, &m->conv_out, &r->x, 0, 0, NULL);
  return sdcl_cl_check (r->cl, r->err);
}

static sdcl_status
check_inputs (const sdcl_unet *m, const sdcl_t *x, const sdcl_t *context, sdcl_error *err)
{
  const sdcl_unet_config *c = &m->cfg;
  if (x->nd != 4 || x->d[1] != c->in_channels || x->d[0] < 1 || x->d[2] < 1 || x->d[3] < 1)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "UNet input must be [B, %d, h, w]",
                     c->in_channels);
  if (context->nd != 3 || context->d[0] != x->d[0] || context->d[2] != c->cross_attention_dim)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "UNet context must be [%" PRId64 ", T, %d]",
                     x->d[0], c->cross_attention_dim);
  if (c->add_embed_in > 0 && m->text_time.n_rows < x->d[0])
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "an SDXL UNet needs the pooled text vector and "
                     "the size ids of all %" PRId64 " batch entries (sdcl_unet_set_text_time)", x->d[0]);
  return SDCL_OK;
}

/* kept: the kept keys and values of this context, or NULL. */
static sdcl_status
forward_batch (sdcl_unet *m, const sdcl_t *x, const float *timesteps, int row0, const sdcl_t *context,
               GArray *kept, const volatile int *cancel, sdcl_t *out, sdcl_error *err)
{
  sdcl_status st;
  unet_run r = {
    .m = m, .cl = m->cl, .context = { .states = context, .kept = kept }, .cancel = cancel,
    .err = err,
    .skips = g_new0 (sdcl_t, m->max_skips),
  };
  st = run_blocks (&r, x, timesteps, row0, out);

  sdcl_t_release (m->cl, &r.x);
  while (r.n_skips > 0)
    sdcl_t_release (m->cl, &r.skips[--r.n_skips]);
  sdcl_t_release (m->cl, &r.silu_temb);
  nn_weights_free (&r.streamed);   /* empty unless a failure left a layer mid-stream */
  g_free (r.skips);
  if (st != SDCL_OK)
    sdcl_t_release (m->cl, out);
  return st;
}

void
sdcl_unet_set_serial_batch (sdcl_unet *m, bool serial)
{
  m->serial_batch = serial;
}

/* Serial batch: each entry's input and context are copied out, evaluated
 * alone and its output copied into place, so the activations are those of
 * batch 1.  Every kernel computes batch entries independently, so the
 * result is the same bit for bit. */
static sdcl_status
forward_serial (sdcl_unet *m, const sdcl_t *x, const float *timesteps, const sdcl_t *context,
                const volatile int *cancel, sdcl_t *out, sdcl_error *err)
{
  sdcl_cl *cl = m->cl;
  const int64_t batch = x->d[0], x_n = x->n / batch, c_n = context->n / batch;
  sdcl_status st = SDCL_OK;
  for (int64_t b = 0; b < batch && st == SDCL_OK; b++)
    {
      sdcl_t xb = { 0 }, cb = { 0 }, ob = { 0 };
      sdcl_t_alloc (cl, &xb, 4, 1, x->d[1], x->d[2], x->d[3]);
      op_copy (cl, x, b * x_n, &xb, 0, x_n);
      sdcl_t_alloc (cl, &cb, 3, 1, context->d[1], context->d[2], 0);
      op_copy (cl, context, b * c_n, &cb, 0, c_n);
      st = sdcl_cl_check (cl, err);
      if (st == SDCL_OK)
        st = forward_batch (m, &xb, timesteps + b, (int) b, &cb, NULL, cancel, &ob, err);
      sdcl_t_release (cl, &xb);
      sdcl_t_release (cl, &cb);
      if (st == SDCL_OK && !out->buf)
        sdcl_t_alloc (cl, out, 4, batch, ob.d[1], ob.d[2], ob.d[3]);
      if (st == SDCL_OK)
        {
          op_copy (cl, &ob, 0, out, b * ob.n, ob.n);
          st = sdcl_cl_check (cl, err);
        }
      sdcl_t_release (cl, &ob);
    }
  if (st != SDCL_OK)
    sdcl_t_release (cl, out);
  return st;
}

uint64_t
sdcl_unet_largest_buffer (const sdcl_unet *m, int64_t batch, int64_t lh, int64_t lw)
{
  const sdcl_unet_config *c = &m->cfg;
  int64_t b = m->serial_batch ? 1 : batch;
  uint64_t largest = 0;
  for (int l = 0; l < c->n_levels; l++, lh = (lh + 1) / 2, lw = (lw + 1) / 2)
    {
      bool attn = c->down_has_attn[l] || c->up_has_attn[c->n_levels - 1 - l]
                  || (l == c->n_levels - 1 && c->mid_has_attn);
      if (attn)   /* gates [b, N, 2 x inner] */
        largest = MAX (largest, (uint64_t) (b * lh * lw * 2 * FF_MULT * c->block_out_channels[l])
                                    * sizeof (float));
    }
  return largest;
}

static void
release_kept (sdcl_unet *m)
{
  if (!m->kept_kv)
    return;
  for (guint i = 0; i < m->kept_kv->len; i++)
    sdcl_t_release (m->cl, &g_array_index (m->kept_kv, sdcl_t, i));
  g_array_set_size (m->kept_kv, 0);
}

void
sdcl_unet_keep_context (sdcl_unet *m, bool keep)
{
  release_kept (m);
  memset (&m->kept_from, 0, sizeof m->kept_from);
  if (keep && !m->kept_kv)
    m->kept_kv = g_array_new (FALSE, TRUE, sizeof (sdcl_t));
  else if (!keep && m->kept_kv)
    {
      g_array_free (m->kept_kv, TRUE);
      m->kept_kv = NULL;
    }
}

/* The kept keys and values for a pass on `context`: NULL unless kept;
 * emptied when the context is another buffer or shape than the one they
 * were projected from (a caller's slip, not a promise to rely on). */
static GArray *
kept_for (sdcl_unet *m, const sdcl_t *context)
{
  if (!m->kept_kv)
    return NULL;
  const sdcl_t *k = &m->kept_from;
  if (k->buf != context->buf || k->nd != context->nd
      || memcmp (k->d, context->d, sizeof k->d) != 0)
    {
      release_kept (m);
      m->kept_from = *context;
    }
  return m->kept_kv;
}

sdcl_status
sdcl_unet_forward (sdcl_unet *m, const sdcl_t *x, const float *timesteps, const sdcl_t *context,
                   const volatile int *cancel, sdcl_t *out, sdcl_error *err)
{
  memset (out, 0, sizeof *out);
  sdcl_status st = check_inputs (m, x, context, err);
  if (st != SDCL_OK)
    return st;
  if (m->serial_batch && x->d[0] > 1)
    return forward_serial (m, x, timesteps, context, cancel, out, err);
  return forward_batch (m, x, timesteps, 0, context, kept_for (m, context), cancel, out, err);
}

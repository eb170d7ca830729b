/* The UNet's block tree (unet_desc.h): diffusers' module names, the LDM
 * module of each, and the channel counts, which follow the skip
 * connections exactly as the forward pass does.  LDM numbers the down
 * path's modules input_blocks.1.. (a slot per resnet, its attention as
 * sub-module 1, a slot per downsampler), the up path's output_blocks.0..
 * the same way (the upsampler as the last slot's sub-module 1 or 2), the
 * mid block's middle_block.0..2.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "unet_desc.h"

#include <stdarg.h>

#include <glib.h>

typedef struct {
  const sdcl_unet_config *c;
  GArray *layers, *blocks;
  int64_t *skips;        /* channels of the pending skip connections */
  int n_skips;
  int64_t ch;            /* channels of the running features */
  int block;             /* the open block, -1 outside blocks */
  bool every_downsampler; /* naming tree: the last level's too */
} builder;

static sdcl_unet_layer *
add (builder *b, sdcl_unet_layer_kind kind, int j, int64_t in, int64_t out, const char *name,
     const char *ldm)
{
  sdcl_unet_layer l = { .kind = kind, .block = b->block, .j = j, .in = in,
                        .out = out, .k = 3, .bias = true };
  g_strlcpy (l.name, name, sizeof l.name);
  g_strlcpy (l.ldm, ldm, sizeof l.ldm);
  g_array_append_val (b->layers, l);
  return &g_array_index (b->layers, sdcl_unet_layer, b->layers->len - 1);
}

static void G_GNUC_PRINTF (2, 3)
fmt (char out[48], const char *f, ...)
{
  va_list ap;
  va_start (ap, f);
  g_vsnprintf (out, 48, f, ap);
  va_end (ap);
}

static sdcl_unet_block *
open_block (builder *b, sdcl_unet_block_kind kind, int index, int level, int heads, int depth,
            bool attn)
{
  sdcl_unet_block blk = { .kind = kind, .index = index, .level = level, .heads = heads,
                          .depth = depth, .has_attn = attn, .first = (int) b->layers->len };
  if (kind == SDCL_UNET_MID)
    g_strlcpy (blk.name, "mid_block", sizeof blk.name);
  else
    g_snprintf (blk.name, sizeof blk.name, "%s_blocks.%d", kind == SDCL_UNET_UP ? "up" : "down", index);
  g_array_append_val (b->blocks, blk);
  b->block = (int) b->blocks->len - 1;
  return &g_array_index (b->blocks, sdcl_unet_block, b->blocks->len - 1);
}

static void
close_block (builder *b)
{
  sdcl_unet_block *blk = &g_array_index (b->blocks, sdcl_unet_block, b->blocks->len - 1);
  blk->n_layers = (int) b->layers->len - blk->first;
  b->block = -1;
}

/* A resnet of a block (in -> out), then its attention when the block has
 * them; `slot` is its LDM input_blocks.<i> / output_blocks.<i>. */
static void
resnet_and_attention (builder *b, const sdcl_unet_block *blk, int j, int64_t in, int64_t out,
                      const char *slot)
{
  char name[48], ldm[48];
  fmt (name, "%s.resnets.%d", blk->name, j);
  fmt (ldm, "%s.0", slot);
  add (b, SDCL_UNET_RESNET, j, in, out, name, ldm);
  if (blk->has_attn)
    {
      fmt (name, "%s.attentions.%d", blk->name, j);
      fmt (ldm, "%s.1", slot);
      add (b, SDCL_UNET_ATTENTION, j, out, out, name, ldm);
    }
}

static void
down_block (builder *b, int level)
{
  const sdcl_unet_config *c = b->c;
  const int L = c->layers_per_block;
  sdcl_unet_block *blk = open_block (b, SDCL_UNET_DOWN, level, level, c->down_heads[level],
                                     c->transformer_depth[level], c->down_has_attn[level]);
  int64_t out = c->block_out_channels[level];
  char name[48], ldm[48];
  blk->n_resnets = L;
  blk->has_sampler = level < c->n_levels - 1 || b->every_downsampler;
  for (int j = 0; j < L; j++)
    {
      char slot[48];
      fmt (slot, "input_blocks.%d", 1 + level * (L + 1) + j);
      resnet_and_attention (b, blk, j, b->ch, out, slot);
      b->ch = out;
      b->skips[b->n_skips++] = out;
    }
  if (blk->has_sampler)
    {
      fmt (name, "%s.downsamplers.0.conv", blk->name);
      fmt (ldm, "input_blocks.%d.0.op", (level + 1) * (L + 1));
      add (b, SDCL_UNET_DOWNSAMPLE, 0, out, out, name, ldm);
      if (level < c->n_levels - 1)   /* the naming tree's extra one feeds no skip */
        b->skips[b->n_skips++] = out;
    }
  close_block (b);
}

static void
mid_block (builder *b)
{
  const sdcl_unet_config *c = b->c;
  sdcl_unet_block *blk = open_block (b, SDCL_UNET_MID, 0, c->n_levels - 1, c->mid_heads,
                                     c->mid_transformer_depth, c->mid_has_attn);
  blk->n_resnets = 2;
  add (b, SDCL_UNET_RESNET, 0, b->ch, b->ch, "mid_block.resnets.0", "middle_block.0");
  if (blk->has_attn)
    add (b, SDCL_UNET_ATTENTION, 0, b->ch, b->ch, "mid_block.attentions.0", "middle_block.1");
  add (b, SDCL_UNET_RESNET, 1, b->ch, b->ch, "mid_block.resnets.1", "middle_block.2");
  close_block (b);
}

/* Up block i mirrors down level n-1-i; each resnet takes the running
 * features concatenated with the skip it pops. */
static void
up_block (builder *b, int index)
{
  const sdcl_unet_config *c = b->c;
  const int L = c->layers_per_block, level = c->n_levels - 1 - index;
  sdcl_unet_block *blk = open_block (b, SDCL_UNET_UP, index, level, c->up_heads[index],
                                     c->transformer_depth[level], c->up_has_attn[index]);
  int64_t out = c->block_out_channels[level];
  char name[48], ldm[48];
  blk->n_resnets = L + 1;
  blk->has_sampler = index < c->n_levels - 1;
  for (int j = 0; j <= L; j++)
    {
      char slot[48];
      fmt (slot, "output_blocks.%d", index * (L + 1) + j);
      resnet_and_attention (b, blk, j, b->ch + b->skips[--b->n_skips], out, slot);
      b->ch = out;
    }
  if (blk->has_sampler)
    {
      /* the upsampler follows the last resnet, and its attention if any */
      fmt (name, "%s.upsamplers.0.conv", blk->name);
      fmt (ldm, "output_blocks.%d.%d.conv", index * (L + 1) + L, blk->has_attn ? 2 : 1);
      add (b, SDCL_UNET_UPSAMPLE, 0, out, out, name, ldm);
    }
  close_block (b);
}

static sdcl_unet_desc *
describe (const sdcl_unet_config *c, bool every_downsampler)
{
  g_return_val_if_fail (c->n_levels >= 1 && c->n_levels <= SDCL_MAX_LEVELS && c->layers_per_block >= 1,
                        NULL);
  builder b = { .c = c, .layers = g_array_new (FALSE, TRUE, sizeof (sdcl_unet_layer)),
                .blocks = g_array_new (FALSE, TRUE, sizeof (sdcl_unet_block)),
                .skips = g_new0 (int64_t, 1 + c->n_levels * (c->layers_per_block + 1)),
                .block = -1, .every_downsampler = every_downsampler };
  const int64_t c0 = c->block_out_channels[0];
  /* stem: the time embedding (LCM's guidance projection first), conv_in */
  if (c->time_cond_proj_dim)
    add (&b, SDCL_UNET_LINEAR, 0, c->time_cond_proj_dim, c0, "time_embedding.cond_proj", "")->bias = false;
  add (&b, SDCL_UNET_LINEAR, 0, c0, c->time_embed_dim, "time_embedding.linear_1", "time_embed.0");
  add (&b, SDCL_UNET_LINEAR, 0, c->time_embed_dim, c->time_embed_dim, "time_embedding.linear_2",
       "time_embed.2");
  if (c->add_embed_in)   /* SDXL's text_time add embedding */
    {
      add (&b, SDCL_UNET_LINEAR, 0, c->add_embed_in, c->time_embed_dim, "add_embedding.linear_1",
           "label_emb.0.0");
      add (&b, SDCL_UNET_LINEAR, 0, c->time_embed_dim, c->time_embed_dim, "add_embedding.linear_2",
           "label_emb.0.2");
    }
  add (&b, SDCL_UNET_CONV, 0, c->in_channels, c0, "conv_in", "input_blocks.0.0");
  b.ch = c0;
  b.skips[b.n_skips++] = c0;
  for (int level = 0; level < c->n_levels; level++)
    down_block (&b, level);
  mid_block (&b);
  for (int i = 0; i < c->n_levels; i++)
    up_block (&b, i);
  g_assert (b.n_skips == 0);   /* the up path pops what the down path pushed */
  /* head: GroupNorm + SiLU, conv_out */
  add (&b, SDCL_UNET_NORM, 0, b.ch, b.ch, "conv_norm_out", "out.0");
  add (&b, SDCL_UNET_CONV, 0, b.ch, c->out_channels, "conv_out", "out.2");
  g_free (b.skips);

  sdcl_unet_desc *d = g_new0 (sdcl_unet_desc, 1);
  d->n_layers = (int) b.layers->len;
  d->layers = (sdcl_unet_layer *) (void *) g_array_free (b.layers, FALSE);
  d->n_blocks = (int) b.blocks->len;
  d->blocks = (sdcl_unet_block *) (void *) g_array_free (b.blocks, FALSE);
  return d;
}

sdcl_unet_desc *
sdcl_unet_describe (const sdcl_unet_config *c)
{
  return describe (c, false);
}

void
sdcl_unet_desc_free (sdcl_unet_desc *d)
{
  if (!d)
    return;
  g_free (d->layers);
  g_free (d->blocks);
  g_free (d);
}

sdcl_unet_desc *
sdcl_unet_describe_names (int layers_per_block, int n_levels, const bool *up_has_attn)
{
  sdcl_unet_config c;
  sdcl_unet_config_sd15 (&c);
  c.layers_per_block = layers_per_block;
  c.n_levels = n_levels;
  c.mid_has_attn = true;
  c.time_cond_proj_dim = 0;
  c.add_embed_in = 1;   /* name SDXL's add embedding too */
  for (int i = 0; i < n_levels; i++)
    {
      c.down_has_attn[i] = true;
      c.up_has_attn[i] = up_has_attn[i];
    }
  return describe (&c, true);
}

/* Configs of a single LDM file, inferred from its tensor shapes, and the
 * facts family detection (families/family.c) decides from.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "loader_internal.h"

/* ---- inference from LDM tensor shapes ---------------------------------- */

static const sdcl_st_tensor *G_GNUC_PRINTF (2, 3)
ldm_tensor (const sdcl_st_file *f, const char *fmt, ...)
{
  char name[256];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (name, sizeof name, fmt, ap);
  va_end (ap);
  return sdcl_st_find (f, name);
}

#define U SDCL_LDM_UNET_PREFIX

static bool
ldm_input_block_exists (const sdcl_st_file *f, int i)
{
  return ldm_tensor (f, U "input_blocks.%d.0.in_layers.0.weight", i)
         || ldm_tensor (f, U "input_blocks.%d.0.op.weight", i);
}

/* Levels and layers per block from the input block numbering (docs/diffusion.md §UNet names): the
 * first downsampler sits at input block L + 1. */
static sdcl_status
ldm_unet_levels (const sdcl_st_file *f, sdcl_unet_config *c, sdcl_error *err)
{
  int last = 0;
  while (last < 1000 && ldm_input_block_exists (f, last + 1))
    last++;
  int first_down = 0;
  for (int i = 1; i <= last && !first_down; i++)
    if (ldm_tensor (f, U "input_blocks.%d.0.op.weight", i))
      first_down = i;
  c->layers_per_block = first_down ? first_down - 1 : last;
  int per_level = c->layers_per_block + 1;
  if (c->layers_per_block < 1 || (last + 1) % per_level != 0
      || (last + 1) / per_level > SDCL_MAX_LEVELS)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                      "%s: the UNet's %d input blocks do not form levels of %d resnets and a downsampler",
                      sdcl_st_path (f), last, c->layers_per_block);
  c->n_levels = (last + 1) / per_level;
  return SDCL_OK;
}

/* Transformer depth of the attention module `<block>.1` (0: none). */
static int
ldm_depth (const sdcl_st_file *f, const char *block)
{
  int depth = 0;
  while (depth < 64 && ldm_tensor (f, "%s.1.transformer_blocks.%d.norm1.weight", block, depth))
    depth++;
  return depth;
}

static int
ldm_block_depth (const sdcl_st_file *f, const char *kind, int i)
{
  char block[96];
  g_snprintf (block, sizeof block, U "%s.%d", kind, i);
  return ldm_depth (f, block);
}

sdcl_status
sdcl_unet_config_from_ldm (const sdcl_st_file *f, sdcl_unet_config *c, sdcl_error *err)
{
  sdcl_unet_config_sd15 (c);
  if (!sdcl_st_find (f, U "input_blocks.0.0.weight"))
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "%s: no UNet (" U "input_blocks.0.0.weight) found: not a full Stable Diffusion checkpoint",
                      sdcl_st_path (f));
  const sdcl_st_tensor *conv_in, *conv_out;
  sdcl_status st;
  if ((st = sdcl_st_need (f, U "input_blocks.0.0.weight", 4, &conv_in, err))
      || (st = sdcl_st_need (f, U "out.2.weight", 4, &conv_out, err))
      || (st = ldm_unet_levels (f, c, err)))
    return st;
  c->in_channels = (int) conv_in->shape[1];
  c->out_channels = (int) conv_out->shape[0];
  c->block_out_channels[0] = (int) conv_in->shape[0];
  c->time_embed_dim = 4 * c->block_out_channels[0];
  int per_level = c->layers_per_block + 1;
  for (int b = 0; b < c->n_levels; b++)
    {
      char name[160];
      g_snprintf (name, sizeof name, U "input_blocks.%d.0.out_layers.3.weight", 1 + b * per_level);
      const sdcl_st_tensor *conv2;
      if ((st = sdcl_st_need (f, name, 4, &conv2, err)))
        return st;
      c->block_out_channels[b] = (int) conv2->shape[0];
      c->transformer_depth[b] = ldm_block_depth (f, "input_blocks", 1 + b * per_level);
      c->down_has_attn[b] = c->transformer_depth[b] > 0;
      c->up_has_attn[b] = ldm_block_depth (f, "output_blocks", b * per_level) > 0;
      if (!c->down_has_attn[b])
        c->transformer_depth[b] = 1;
      /* SD 1.x: not in the weights (docs/diffusion.md §UNet configuration) */
      c->down_heads[b] = c->up_heads[b] = 8;
    }
  c->mid_transformer_depth = ldm_depth (f, U "middle_block");
  c->mid_has_attn = c->mid_transformer_depth > 0;
  c->mid_transformer_depth = MAX (c->mid_transformer_depth, 1);
  const sdcl_st_tensor *to_k = NULL;
  for (int b = 0; b < c->n_levels && !to_k; b++)
    if (c->down_has_attn[b])
      to_k = ldm_tensor (f, U "input_blocks.%d.1.transformer_blocks.0.attn2.to_k.weight", 1 + b * per_level);
  if (to_k && to_k->nd == 2)
    c->cross_attention_dim = (int) to_k->shape[1];
  return SDCL_OK;
}

static int
count_indexed (const sdcl_st_file *f, const char *fmt_a, const char *prefix)
{
  int n = 0;
  while (n < 64 && ldm_tensor (f, fmt_a, prefix, n))
    n++;
  return n;
}

sdcl_status
sdcl_vae_config_from_ldm (const sdcl_st_file *f, const char *prefix, sdcl_vae_config *c,
                          sdcl_error *err)
{
  char name[160];
  sdcl_vae_config_sd15 (c);
  g_snprintf (name, sizeof name, "%sencoder.conv_in.weight", prefix);
  if (!sdcl_st_find (f, name))
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "%s: no VAE (first_stage_model.*) found: not a full Stable Diffusion checkpoint",
                      sdcl_st_path (f));
  const sdcl_st_tensor *conv_in, *dec_in, *dec_out;
  sdcl_status st;
  char in_name[160], out_name[160];
  g_snprintf (in_name, sizeof in_name, "%sdecoder.conv_in.weight", prefix);
  g_snprintf (out_name, sizeof out_name, "%sdecoder.conv_out.weight", prefix);
  if ((st = sdcl_st_need (f, name, 4, &conv_in, err))
      || (st = sdcl_st_need (f, in_name, 4, &dec_in, err))
      || (st = sdcl_st_need (f, out_name, 4, &dec_out, err)))
    return st;
  c->in_channels = (int) conv_in->shape[1];
  c->latent_channels = (int) dec_in->shape[1];
  c->out_channels = (int) dec_out->shape[0];
  c->n_levels = count_indexed (f, "%sencoder.down.%d.block.0.conv1.weight", prefix);
  if (c->n_levels != SDCL_LDM_VAE_LEVELS)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL, "%s: the VAE has %d levels; sdcl supports %d",
                      sdcl_st_path (f), c->n_levels, SDCL_LDM_VAE_LEVELS);
  for (int i = 0; i < c->n_levels; i++)
    {
      g_snprintf (name, sizeof name, "%sencoder.down.%d.block.0.conv2.weight", prefix, i);
      const sdcl_st_tensor *conv2;
      if ((st = sdcl_st_need (f, name, 4, &conv2, err)))
        return st;
      c->block_out_channels[i] = (int) conv2->shape[0];
    }
  c->layers_per_block = count_indexed (f, "%sencoder.down.0.block.%d.conv1.weight", prefix);
  c->use_quant_conv = ldm_tensor (f, "%squant_conv.weight", prefix) != NULL;
  c->use_post_quant_conv = ldm_tensor (f, "%spost_quant_conv.weight", prefix) != NULL;
  c->mid_block_add_attention = ldm_tensor (f, "%sencoder.mid.attn_1.q.weight", prefix) != NULL;
  return SDCL_OK;
}

#define T SDCL_LDM_TEXT_PREFIX "text_model."

/* Prints prefix + the formatted rest into name. */
static const sdcl_st_tensor *G_GNUC_PRINTF (3, 4)
prefixed (const sdcl_st_file *f, const char *prefix, const char *fmt, ...)
{
  char rest[200], name[300];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (rest, sizeof rest, fmt, ap);
  va_end (ap);
  g_snprintf (name, sizeof name, "%s%s", prefix, rest);
  return sdcl_st_find (f, name);
}

static sdcl_status
need (const sdcl_st_file *f, const char *prefix, const char *rest, const sdcl_st_tensor **out,
      sdcl_error *err)
{
  char name[300];
  g_snprintf (name, sizeof name, "%s%s", prefix, rest);
  return sdcl_st_need (f, name, 2, out, err);
}

/* Head counts are not in the weights.  CLIP's heads are 64 wide (ViT-L:
 * 768 = 12 x 64, bigG: 1280 = 20 x 64); encoders too narrow for that exist
 * only as test models, which follow the tiny reference fixtures' 4 heads. */
static sdcl_status
text_heads (const sdcl_st_file *f, sdcl_clip_config *c, sdcl_error *err)
{
  c->n_heads = c->hidden_size >= 256 && c->hidden_size % 64 == 0 ? c->hidden_size / 64 : 4;
  if (c->hidden_size % c->n_heads != 0)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL, "%s: a text encoder %d wide has no known head count",
                      sdcl_st_path (f), c->hidden_size);
  return SDCL_OK;
}

sdcl_status
sdcl_clip_config_from_ldm_at (const sdcl_st_file *f, const char *prefix, sdcl_clip_config *c,
                              sdcl_error *err)
{
  sdcl_clip_config_sd15 (c);
  if (!prefixed (f, prefix, "embeddings.token_embedding.weight"))
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "%s: no CLIP text encoder (%s*) found: not a full Stable Diffusion checkpoint",
                      sdcl_st_path (f), prefix);
  const sdcl_st_tensor *tok, *pos, *fc1;
  sdcl_status st;
  if ((st = need (f, prefix, "embeddings.token_embedding.weight", &tok, err))
      || (st = need (f, prefix, "embeddings.position_embedding.weight", &pos, err))
      || (st = need (f, prefix, "encoder.layers.0.mlp.fc1.weight", &fc1, err)))
    return st;
  c->vocab_size = (int) tok->shape[0];
  c->hidden_size = (int) tok->shape[1];
  c->max_position_embeddings = (int) pos->shape[0];
  c->intermediate_size = (int) fc1->shape[0];
  c->n_layers = 0;
  while (c->n_layers < 256 && prefixed (f, prefix, "encoder.layers.%d.layer_norm1.weight", c->n_layers))
    c->n_layers++;
  return text_heads (f, c, err);
}

sdcl_status
sdcl_clip_config_from_ldm (const sdcl_st_file *f, sdcl_clip_config *c, sdcl_error *err)
{
  return sdcl_clip_config_from_ldm_at (f, T, c, err);
}

sdcl_status
sdcl_openclip_config_from_ldm (const sdcl_st_file *f, const char *prefix, sdcl_clip_config *c,
                               sdcl_error *err)
{
  sdcl_clip_config_sd15 (c);
  const sdcl_st_tensor *tok, *pos, *fc1;
  sdcl_status st;
  if ((st = need (f, prefix, "token_embedding.weight", &tok, err))
      || (st = need (f, prefix, "positional_embedding", &pos, err))
      || (st = need (f, prefix, "transformer.resblocks.0.mlp.c_fc.weight", &fc1, err)))
    return st;
  c->vocab_size = (int) tok->shape[0];
  c->hidden_size = (int) tok->shape[1];
  c->max_position_embeddings = (int) pos->shape[0];
  c->intermediate_size = (int) fc1->shape[0];
  c->quick_gelu = false;
  c->n_layers = 0;
  while (c->n_layers < 256 && prefixed (f, prefix, "transformer.resblocks.%d.ln_1.weight", c->n_layers))
    c->n_layers++;
  return text_heads (f, c, err);
}

sdcl_status
sdcl_unet_heads_from_width (sdcl_unet_config *u, int width, int n_heads, const char *path,
                            bool from_yaml, sdcl_error *err)
{
  for (int b = 0; b < u->n_levels; b++)
    {
      int ch = u->block_out_channels[b];
      int heads = n_heads ? n_heads : ch / width;
      if (heads < 1 || ch % heads)
        return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                          "%s: %d channels at UNet level %d do not split into %d-wide heads%s", path,
                          ch, b, width, from_yaml ? "" : " (no .yaml beside the file says the head width)");
      u->down_heads[b] = heads;
      u->up_heads[u->n_levels - 1 - b] = heads;
    }
  u->mid_heads = u->down_heads[u->n_levels - 1];
  return SDCL_OK;
}

/* ---- family facts -------------------------------------------------------- */

static bool
any_name_with (const sdcl_st_file *f, const char *prefix, const char *suffix, const sdcl_st_tensor **out)
{
  for (size_t i = 0; i < sdcl_st_count (f); i++)
    {
      const sdcl_st_tensor *t = sdcl_st_at (f, i);
      if (g_str_has_prefix (t->name, prefix) && (!suffix || g_str_has_suffix (t->name, suffix)))
        {
          if (out)
            *out = t;
          return true;
        }
    }
  return false;
}

void
sdcl_family_facts_from_ldm (const sdcl_st_file *f, sdcl_family_facts *facts)
{
  const sdcl_st_tensor *t;
  memset (facts, 0, sizeof *facts);
  for (size_t i = 0; i < sdcl_st_count (f); i++)
    {
      t = sdcl_st_at (f, i);
      if (!g_str_has_prefix (t->name, U))
        continue;
      if (!facts->cross_attention_dim && t->nd == 2 && g_str_has_suffix (t->name, ".attn2.to_k.weight"))
        facts->cross_attention_dim = (int) t->shape[1];
      if (t->nd == 2 && g_str_has_suffix (t->name, ".proj_in.weight"))
        facts->linear_projection = true;
    }
  facts->openclip_text = any_name_with (f, "cond_stage_model.model.", NULL, NULL)
                         || any_name_with (f, "conditioner.embedders.0.model.", NULL, NULL)
                         || any_name_with (f, "conditioner.embedders.1.model.", NULL, NULL);
  facts->second_text_encoder = any_name_with (f, "conditioner.embedders.1.", NULL, NULL);
  if ((t = sdcl_st_find (f, T "embeddings.token_embedding.weight")) && t->nd == 2)
    facts->text_hidden = (int) t->shape[1];
  else if ((t = sdcl_st_find (f, SDCL_LDM_OPENCLIP_PREFIX "token_embedding.weight")) && t->nd == 2)
    facts->text_hidden = (int) t->shape[1];
  if ((t = sdcl_st_find (f, U "label_emb.0.0.weight")) && t->nd == 2)
    facts->add_embedding_in = (int) t->shape[1];
  /* SDXL's towers (families/sdxl_single.c) */
  if ((t = sdcl_st_find (f, "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"))
      && t->nd == 2)
    facts->text_hidden = (int) t->shape[1];
  if ((t = sdcl_st_find (f, "conditioner.embedders.1.model.token_embedding.weight")) && t->nd == 2)
    facts->text2_hidden = (int) t->shape[1];
  if ((t = sdcl_st_find (f, "conditioner.embedders.1.model.text_projection")) && t->nd == 2)
    facts->text2_projection = (int) t->shape[1];
  if (facts->text2_projection && facts->add_embedding_in > facts->text2_projection
      && (facts->add_embedding_in - facts->text2_projection) % 6 == 0)
    facts->add_time_embed_dim = (facts->add_embedding_in - facts->text2_projection) / 6;
  if ((t = sdcl_st_find (f, U "input_blocks.0.0.weight")) && t->nd == 4)
    facts->unet_in_channels = (int) t->shape[1];
}

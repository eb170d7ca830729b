/* SD 2.x: one OpenCLIP ViT-H text encoder whose penultimate layer
 * conditions a UNet with linear transformer projections and 64-wide heads,
 * SD 1.x's VAE; epsilon (512 "base", inpainting, SD-Turbo) or v prediction
 * (768), which only the scheduler config or the LDM yaml tells
 * (docs/diffusion.md §SD 2.x).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "family.h"

#include "error_internal.h"
#include "loader_internal.h"

/* Asked after SDXL (family.c): an OpenCLIP tower (its single-file names,
 * or exact GELU in a folder's text encoder) or 1024-wide cross-attention. */
static bool
claims (const sdcl_family_facts *facts)
{
  if (facts->second_text_encoder || facts->add_embedding_in)
    return false;
  return facts->cross_attention_dim == 1024 || facts->openclip_text;
}

static sdcl_status
check (const sdcl_family_facts *facts, const char *path, sdcl_error *err)
{
  if (facts->text_hidden && facts->cross_attention_dim
      && facts->text_hidden != facts->cross_attention_dim)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "%s: the UNet cross-attends to %d-wide states but the text encoder is %d wide",
                      path, facts->cross_attention_dim, facts->text_hidden);
  return sdcl_family_check_unet_inputs (facts, path, err);
}

#define OC SDCL_LDM_OPENCLIP_PREFIX

static int
count_resblocks (const sdcl_st_file *f)
{
  int n = 0;
  char name[128];
  for (;; n++)
    {
      g_snprintf (name, sizeof name, OC "transformer.resblocks.%d.ln_1.weight", n);
      if (n >= 256 || !sdcl_st_find (f, name))
        return n;
    }
}

/* The OpenCLIP tower as SD 2.x runs it: every resblock but the last
 * (docs/diffusion.md §SD 2.x), exact GELU. */
static sdcl_status
openclip_config (const sdcl_st_file *f, sdcl_clip_config *c, sdcl_error *err)
{
  sdcl_clip_config_sd15 (c);
  const sdcl_st_tensor *tok, *pos, *fc1;
  sdcl_status st;
  if ((st = sdcl_st_need (f, OC "token_embedding.weight", 2, &tok, err))
      || (st = sdcl_st_need (f, OC "positional_embedding", 2, &pos, err))
      || (st = sdcl_st_need (f, OC "transformer.resblocks.0.mlp.c_fc.weight", 2, &fc1, err)))
    return st;
  c->vocab_size = (int) tok->shape[0];
  c->hidden_size = (int) tok->shape[1];
  c->max_position_embeddings = (int) pos->shape[0];
  c->intermediate_size = (int) fc1->shape[0];
  c->quick_gelu = false;
  int stored = count_resblocks (f);
  if (stored < 2)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                      "%s: the OpenCLIP text encoder has %d resblocks; SD 2.x needs at least 2 "
                      "(it uses the penultimate)", sdcl_st_path (f), stored);
  c->n_layers = stored - 1;
  /* as for CLIP: 64-wide heads, 4 for the narrow test towers */
  c->n_heads = c->hidden_size >= 256 && c->hidden_size % 64 == 0 ? c->hidden_size / 64 : 4;
  if (c->hidden_size % c->n_heads != 0)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL, "%s: a text encoder %d wide has no known head count",
                      sdcl_st_path (f), c->hidden_size);
  return SDCL_OK;
}

/* SD 2.x's heads are 64 wide; the yaml may say otherwise. */
#define SD2_HEAD_CHANNELS 64

static sdcl_status
set_heads (sdcl_unet_config *u, const sdcl_ldm_yaml *y, const char *path, sdcl_error *err)
{
  int width = y->num_head_channels ? y->num_head_channels : SD2_HEAD_CHANNELS;
  for (int b = 0; b < u->n_levels; b++)
    {
      int ch = u->block_out_channels[b];
      int heads = y->num_heads ? y->num_heads : ch / width;
      if (heads < 1 || ch % heads)
        return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                          "%s: %d channels at UNet level %d do not split into %d-wide heads%s", path,
                          ch, b, width, y->found ? "" : " (no .yaml beside the file says the head width)");
      u->down_heads[b] = heads;
      u->up_heads[u->n_levels - 1 - b] = heads;
    }
  u->mid_heads = u->down_heads[u->n_levels - 1];
  return SDCL_OK;
}

/* The networks' configs from the shapes and, where shapes say nothing,
 * the yaml beside the file or the family's published values: heads 64
 * wide, epsilon at 512 unless the yaml says v (768). */
static sdcl_status
ldm_configs (const sdcl_st_file *f, sdcl_model_files *mf, sdcl_error *err)
{
  sdcl_status st;
  sdcl_ldm_yaml y;
  if ((st = sdcl_vae_config_from_ldm (f, "first_stage_model.", &mf->vae, err))
      || (st = openclip_config (f, &mf->clip, err))
      || (st = sdcl_ldm_yaml_read (mf->path, &y, err))
      || (st = set_heads (&mf->unet, &y, mf->path, err)))
    return st;
  mf->vae.scaling_factor = sdcl_family_sd2.latent_scaling_factor;
  sdcl_family_sd2.default_sched (&mf->sched);
  mf->prediction_source = "family default";
  if (y.has_prediction)
    {
      mf->sched.prediction_type = y.prediction;
      mf->prediction_source = "yaml";
    }
  mf->unet.use_linear_projection = true;
  sdcl_family_single_file_size (mf);
  return SDCL_OK;
}

static const sdcl_net nets[] = { SDCL_NET_CLIP, SDCL_NET_UNET, SDCL_NET_VAE };

const sdcl_family_desc sdcl_family_sd2 = {
  .id = SDCL_FAMILY_SD2,
  .name = "SD 2.x",
  .claims = claims,
  .check = check,
  .nets = nets,
  .n_nets = G_N_ELEMENTS (nets),
  .native_resolution = 512,       /* base, inpainting, Turbo */
  .native_resolution_v = 768,     /* the 768-v releases */
  .latent_scaling_factor = 0.18215f,
  .pad_token_id = 0,   /* "!" (docs/diffusion.md §Tokenizer) */
  .ldm_configs = ldm_configs,
  .default_sched = sdcl_sched_config_sd15,
  .encode_prompt = sdcl_family_clip_encode_prompt,
};

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

/* The OpenCLIP tower as SD 2.x runs it: every resblock but the last
 * (docs/diffusion.md §SD 2.x), exact GELU. */
static sdcl_status
openclip_config (const sdcl_st_file *f, sdcl_clip_config *c, sdcl_error *err)
{
  sdcl_status st = sdcl_openclip_config_from_ldm (f, SDCL_LDM_OPENCLIP_PREFIX, c, err);
  if (st == SDCL_OK && c->n_layers < 2)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                      "%s: the OpenCLIP text encoder has %d resblocks; SD 2.x needs at least 2 "
                      "(it uses the penultimate)", sdcl_st_path (f), c->n_layers);
  if (st == SDCL_OK)
    c->n_layers--;
  return st;
}

/* SD 2.x's heads are 64 wide; the yaml may say otherwise. */
#define SD2_HEAD_CHANNELS 64

static sdcl_status
set_heads (sdcl_unet_config *u, const sdcl_ldm_yaml *y, const char *path, sdcl_error *err)
{
  return sdcl_unet_heads_from_width (u, y->num_head_channels ? y->num_head_channels : SD2_HEAD_CHANNELS,
                                     y->num_heads, path, y->found, err);
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
  .turbo_resolution = 512,        /* SD-Turbo */
  .native_resolution_v = 768,     /* the 768-v releases */
  .latent_scaling_factor = 0.18215f,
  .pad_token_id = 0,   /* "!" (docs/diffusion.md §Tokenizer) */
  .ldm_configs = ldm_configs,
  .default_sched = sdcl_sched_config_sd15,
  .encode_prompt = sdcl_family_clip_encode_prompt,
};

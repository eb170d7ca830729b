/* SDXL single files (SGM layout, docs/diffusion.md §SDXL single files):
 * the UNet and VAE under SD's names, CLIP-L under
 * conditioner.embedders.0.transformer.*, OpenCLIP bigG under
 * conditioner.embedders.1.model.* (fused in_proj, text_projection stored
 * as the [width, projection] matrix states are multiplied by).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>

#include "family.h"

#include "api_internal.h"
#include "loader_internal.h"
#include "unet_text_time.h"

#define E0 "conditioner.embedders.0.transformer."
#define E1 "conditioner.embedders.1.model."
#define SDXL_HEAD_CHANNELS 64   /* SGM's sd_xl_base.yaml: num_head_channels 64 */

/* bigG's projection, and the add embedding's input width it implies the
 * size ids' sinusoid width from (SDXL: (2816 - 1280) / 6 = 256). */
static sdcl_status
text_time_configs (const sdcl_st_file *f, sdcl_model_files *mf, sdcl_error *err)
{
  const sdcl_st_tensor *proj, *add;
  sdcl_status st;
  if ((st = sdcl_st_need (f, E1 "text_projection", 2, &proj, err))
      || (st = sdcl_st_need (f, SDCL_LDM_UNET_PREFIX "label_emb.0.0.weight", 2, &add, err)))
    return st;
  mf->clip2.projection_dim = (int) proj->shape[1];
  mf->clip2.projection_transposed = true;
  mf->unet.add_embed_in = (int) add->shape[1];
  mf->unet.add_time_embed_dim = (mf->unet.add_embed_in - mf->clip2.projection_dim) / SDCL_SDXL_TIME_IDS;
  return SDCL_OK;   /* the family's check has compared the widths */
}

sdcl_status
sdcl_sdxl_ldm_configs (const sdcl_st_file *f, sdcl_model_files *mf, sdcl_error *err)
{
  sdcl_status st;
  sdcl_ldm_yaml y;
  if ((st = sdcl_vae_config_from_ldm (f, "first_stage_model.", &mf->vae, err))
      || (st = sdcl_clip_config_from_ldm_at (f, E0 "text_model.", &mf->clip, err))
      || (st = sdcl_openclip_config_from_ldm (f, E1, &mf->clip2, err))
      || (st = text_time_configs (f, mf, err))
      || (st = sdcl_ldm_yaml_read (mf->path, &y, err))
      || (st = sdcl_unet_heads_from_width (&mf->unet, y.num_head_channels ? y.num_head_channels
                                                                           : SDXL_HEAD_CHANNELS,
                                           y.num_heads, mf->path, y.found, err)))
    return st;
  mf->clip2.pad_token_id = 0;   /* OpenCLIP's tokenizer pads with "!" */
  mf->vae.scaling_factor = sdcl_family_sdxl.latent_scaling_factor;
  sdcl_family_sdxl.default_sched (&mf->sched);
  mf->prediction_source = "family default";
  if (y.has_prediction)
    {
      mf->sched.prediction_type = y.prediction;
      mf->prediction_source = "yaml";
    }
  mf->unet.use_linear_projection = true;
  sdcl_family_single_file_size (mf);
  mf->text2_w = sdcl_wset_new ("text_encoder_2", mf->path);
  return SDCL_OK;
}

/* The two towers' names as SD 1.x's (embedders.0) and SD 2.x's
 * (embedders.1) files spell them, into their own weight sets. */
sdcl_status
sdcl_sdxl_ldm_tensor (sdcl_model_files *mf, const sdcl_st_file *f, const sdcl_st_tensor *t,
                      bool *taken, sdcl_error *err)
{
  char sd[256];
  const char *p = t->name;
  *taken = true;
  if (g_str_has_prefix (p, E0))
    {
      g_snprintf (sd, sizeof sd, SDCL_LDM_TEXT_PREFIX "%s", p + strlen (E0));
      return sdcl_ldm_add_text_tensor (mf->text_w, mf->clip.n_layers, sd, t, f, err);
    }
  if (g_str_has_prefix (p, E1))
    {
      if (!strcmp (p + strlen (E1), "text_projection"))
        return sdcl_wset_add (mf->text2_w, "text_projection.weight", t, f, err);
      g_snprintf (sd, sizeof sd, SDCL_LDM_OPENCLIP_PREFIX "%s", p + strlen (E1));
      return sdcl_ldm_add_text_tensor (mf->text2_w, mf->clip2.n_layers, sd, t, f, err);
    }
  *taken = false;
  return SDCL_OK;
}

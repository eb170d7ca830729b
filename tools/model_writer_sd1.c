/* SD 1.x for the random-weight writer (model_writer.h): SD 1.5's networks,
 * a few-MB model of the same layout, PNDM, CLIP-L under its LDM names.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "model_writer.h"

#include <string.h>

#include "loader_internal.h"
#include "nets.h"

void
mk_model_sd15 (mk_model *m, bool inpaint)
{
  memset (m, 0, sizeof *m);
  m->family = &mk_family_sd15;
  sdcl_unet_config_sd15 (&m->unet);
  sdcl_vae_config_sd15 (&m->vae);
  sdcl_clip_config_sd15 (&m->clip);
  if (inpaint)
    m->unet.in_channels = 9;
}

void
mk_model_tiny (mk_model *m, bool inpaint)
{
  mk_model_sd15 (m, inpaint);
  sdcl_unet_config *u = &m->unet;
  u->n_levels = 2;
  u->block_out_channels[0] = 32;
  u->block_out_channels[1] = 64;
  u->layers_per_block = 1;
  u->down_has_attn[0] = true;
  u->down_has_attn[1] = false;
  u->up_has_attn[0] = false;
  u->up_has_attn[1] = true;
  u->time_embed_dim = 4 * 32;
  u->sample_size = 8;
  static const int vae_channels[] = { 32, 32, 64, 64 };
  memcpy (m->vae.block_out_channels, vae_channels, sizeof vae_channels);
  m->vae.layers_per_block = 1;
  m->vae.sample_size = 64;
  m->clip.vocab_size = 1000;
  m->clip.hidden_size = 64;
  m->clip.n_heads = 4;          /* what the loader assumes for narrow single files */
  m->clip.intermediate_size = 128;
  m->clip.n_layers = 2;
  u->cross_attention_dim = 64;  /* = the text encoder's width, as in SD 1.x */
}

static void
shapes (mk_model *m, bool tiny, bool inpaint, bool v)
{
  (void) v;
  if (tiny)
    mk_model_tiny (m, inpaint);
  else
    mk_model_sd15 (m, inpaint);
}

/* SD 1.5's PNDM settings (docs/diffusion.md §Diffusers folders). */
static const char *
scheduler (const mk_model *m, sdcl_sched_config *s)
{
  (void) m;
  sdcl_sched_config_sd15 (s);
  return "PNDMScheduler";
}

static mk_tensor *
ldm_text (const mk_model *m, sdcl_component comp, size_t *count)
{
  (void) comp;   /* one tower */
  return mk_ldm_clip_tensors (&m->clip, SDCL_LDM_TEXT_PREFIX, count);
}

const mk_family mk_family_sd15 = {
  .name = "sd15",
  .title = "SD 1.5",
  .shapes = shapes,
  .pipeline = "StableDiffusionPipeline",
  .inpaint_pipeline = "StableDiffusionInpaintPipeline",
  .scheduler = scheduler,
  .ldm_text = ldm_text,
};

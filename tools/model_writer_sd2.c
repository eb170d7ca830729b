/* SD 2.x shapes for the random-weight writer (model_writer.h): SD 2.1's
 * networks, the OpenCLIP names of its single-file text tower and the LDM
 * .yaml that says what the file's tensors cannot (head width, v).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "model_writer.h"

#include <string.h>

#include "loader_internal.h"
#include "nets.h"

/* SD 2.x's UNet: heads `width` channels wide at every level (diffusers'
 * attention_head_dim list holds the resulting head counts), linear
 * projections; exact GELU in the text encoder. */
static void
make_sd2 (mk_model *m, int width, bool v)
{
  sdcl_unet_config *u = &m->unet;
  for (int b = 0; b < u->n_levels; b++)
    {
      u->down_heads[b] = u->block_out_channels[b] / width;
      u->up_heads[u->n_levels - 1 - b] = u->down_heads[b];
    }
  u->mid_heads = u->down_heads[u->n_levels - 1];
  u->use_linear_projection = true;
  m->clip.quick_gelu = false;
  m->family = &mk_family_sd21;
  m->v_prediction = v;
  m->head_channels = width;
}

void
mk_model_sd21 (mk_model *m, bool inpaint, bool v)
{
  mk_model_sd15 (m, inpaint);
  /* OpenCLIP ViT-H/14's text tower as diffusers ships it: 23 of 24 layers */
  m->clip.hidden_size = 1024;
  m->clip.intermediate_size = 4096;
  m->clip.n_heads = 16;
  m->clip.n_layers = 23;
  m->unet.cross_attention_dim = 1024;
  /* stable-diffusion-2-1 (768-v) sets upcast_attention, 2-1-base does not */
  m->unet.upcast_attention = v;
  if (v)
    {
      m->unet.sample_size = 96;
      m->vae.sample_size = 768;
    }
  make_sd2 (m, 64, v);
}

void
mk_model_tiny_sd2 (mk_model *m, bool inpaint, bool v)
{
  mk_model_tiny (m, inpaint);
  make_sd2 (m, 32, v);
}

/* The keys of SD 2.x's v2-inference(-v).yaml that sdcl reads, in its
 * layout. */
static bool
write_ldm_yaml (const char *safetensors_path, const mk_model *m, GError **error)
{
  size_t len = strlen (safetensors_path);
  if (g_str_has_suffix (safetensors_path, ".safetensors"))
    len -= strlen (".safetensors");
  g_autofree char *path = g_strdup_printf ("%.*s.yaml", (int) len, safetensors_path);
  g_autofree char *text = g_strdup_printf (
    "model:\n"
    "  target: ldm.models.diffusion.ddpm.LatentDiffusion\n"
    "  params:\n"
    "%s"
    "    linear_start: 0.00085\n"
    "    linear_end: 0.0120\n"
    "    timesteps: 1000\n"
    "    scale_factor: 0.18215\n"
    "    unet_config:\n"
    "      target: ldm.modules.diffusionmodules.openaimodel.UNetModel\n"
    "      params:\n"
    "        num_head_channels: %d\n"
    "        use_linear_in_transformer: True\n"
    "        context_dim: %d\n"
    "    cond_stage_config:\n"
    "      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n"
    "      params:\n"
    "        layer: \"penultimate\"\n",
    m->v_prediction ? "    parameterization: \"v\"\n" : "", m->head_channels, m->unet.cross_attention_dim);
  return g_file_set_contents (path, text, -1, error);
}

static void
shapes (mk_model *m, bool tiny, bool inpaint, bool v)
{
  if (tiny)
    mk_model_tiny_sd2 (m, inpaint, v);
  else
    mk_model_sd21 (m, inpaint, v);
}

/* SD 1.5's betas; 768-v ships them with DDIM and v_prediction. */
static const char *
scheduler (const mk_model *m, sdcl_sched_config *s)
{
  sdcl_sched_config_sd15 (s);
  if (m->v_prediction)
    s->prediction_type = SDCL_PREDICTION_V;
  return m->v_prediction ? "DDIMScheduler" : "PNDMScheduler";
}

/* The file holds one resblock more than SD 2.x runs. */
static mk_tensor *
ldm_text (const mk_model *m, sdcl_component comp, size_t *count)
{
  (void) comp;   /* one tower */
  return mk_openclip_tensors (&m->clip, 1, SDCL_LDM_OPENCLIP_PREFIX, count);
}

const mk_family mk_family_sd21 = {
  .name = "sd21",
  .title = "SD 2.1",
  .has_v = true,
  .shapes = shapes,
  .pipeline = "StableDiffusionPipeline",
  .inpaint_pipeline = "StableDiffusionInpaintPipeline",
  .scheduler = scheduler,
  .ldm_text = ldm_text,
  .ldm_extra = write_ldm_yaml,
};

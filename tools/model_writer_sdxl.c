/* SDXL for the random-weight writer (model_writer.h): SDXL base 1.0's
 * networks (docs/diffusion.md §SDXL), a few-MB model of the same layout,
 * Euler with leading spacing, and the SGM single file's names of the two
 * towers (CLIP-L under conditioner.embedders.0.transformer., OpenCLIP
 * bigG under conditioner.embedders.1.model.).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "model_writer.h"

#include <string.h>

#include "loader_internal.h"
#include "nets.h"
#include "unet_text_time.h"

#define SGM_CLIP_L "conditioner.embedders.0.transformer."
#define SGM_BIGG "conditioner.embedders.1.model."

/* Levels without attention first, `width`-wide heads, a transformer depth
 * per level (the mid block takes the last), and the text_time add
 * embedding: bigG's pooled vector and six size ids of `time_width`. */
static void
make_sdxl (mk_model *m, const int *depth, int width, int time_width)
{
  sdcl_unet_config *u = &m->unet;
  for (int b = 0; b < u->n_levels; b++)
    {
      u->down_has_attn[b] = depth[b] > 0;
      u->up_has_attn[u->n_levels - 1 - b] = depth[b] > 0;
      u->transformer_depth[b] = MAX (depth[b], 1);
      u->down_heads[b] = u->block_out_channels[b] / width;
      u->up_heads[u->n_levels - 1 - b] = u->down_heads[b];
    }
  u->mid_heads = u->down_heads[u->n_levels - 1];
  u->mid_transformer_depth = depth[u->n_levels - 1];
  u->mid_has_attn = true;
  u->use_linear_projection = true;
  u->upcast_attention = false;
  u->time_embed_dim = 4 * u->block_out_channels[0];
  u->cross_attention_dim = m->clip.hidden_size + m->clip2.hidden_size;
  u->add_time_embed_dim = time_width;
  u->add_embed_in = m->clip2.projection_dim + SDCL_SDXL_TIME_IDS * time_width;
  m->clip2.quick_gelu = false;
  m->vae.scaling_factor = 0.13025f;
  m->family = &mk_family_sdxl;
  m->head_channels = width;
}

/* SDXL base 1.0: 2.6 B UNet parameters, CLIP-L and bigG (32 layers). */
static void
sdxl_base (mk_model *m, bool inpaint)
{
  mk_model_sd15 (m, inpaint);
  sdcl_unet_config *u = &m->unet;
  u->n_levels = 3;
  static const int channels[] = { 320, 640, 1280 }, depth[] = { 0, 2, 10 };
  memcpy (u->block_out_channels, channels, sizeof channels);
  u->sample_size = 128;
  m->vae.sample_size = 1024;
  sdcl_clip_config_sd15 (&m->clip2);
  m->clip2.hidden_size = 1280;
  m->clip2.intermediate_size = 5120;
  m->clip2.n_heads = 20;
  m->clip2.n_layers = 32;
  m->clip2.projection_dim = 1280;
  make_sdxl (m, depth, 64, 256);
}

/* mk_model_tiny's VAE and 32-wide towers around a 2-level UNet of SDXL's
 * form (no attention at the first level, depth 2 at the second); its
 * single file needs a .yaml for the 16-wide heads.  The towers keep
 * CLIP's whole vocabulary (3 MB each in F16) so that any prompt runs. */
static void
sdxl_tiny (mk_model *m, bool inpaint)
{
  mk_model_tiny (m, inpaint);
  m->clip.vocab_size = 49408;
  m->clip.hidden_size = 32;
  m->clip.intermediate_size = 64;
  m->clip2 = m->clip;
  m->clip2.projection_dim = 32;
  static const int depth[] = { 0, 2 };
  make_sdxl (m, depth, 16, 8);
}

static void
shapes (mk_model *m, bool tiny, bool inpaint, bool v)
{
  (void) v;
  if (tiny)
    sdxl_tiny (m, inpaint);
  else
    sdxl_base (m, inpaint);
}

/* SDXL base 1.0's scheduler: SD's betas, Euler, leading spacing. */
static const char *
scheduler (const mk_model *m, sdcl_sched_config *s)
{
  (void) m;
  sdcl_sched_config_sd15 (s);
  g_strlcpy (s->timestep_spacing, "leading", sizeof s->timestep_spacing);
  return "EulerDiscreteScheduler";
}

/* Both towers as many layers as the folder: SDXL runs bigG's last layer
 * for the pooled vector. */
static mk_tensor *
ldm_text (const mk_model *m, sdcl_component comp, size_t *count)
{
  return comp == SDCL_COMP_TEXT2 ? mk_openclip_tensors (&m->clip2, 0, SGM_BIGG, count)
                                 : mk_ldm_clip_tensors (&m->clip, SGM_CLIP_L, count);
}

/* A .yaml only when the heads are not SDXL's 64 wide (the tiny model):
 * the file's tensors say everything else. */
static bool
ldm_extra (const char *safetensors_path, const mk_model *m, GError **error)
{
  if (m->head_channels == 64)
    return true;
  size_t len = strlen (safetensors_path);
  if (g_str_has_suffix (safetensors_path, ".safetensors"))
    len -= strlen (".safetensors");
  g_autofree char *path = g_strdup_printf ("%.*s.yaml", (int) len, safetensors_path);
  g_autofree char *text = g_strdup_printf (
    "model:\n"
    "  target: sgm.models.diffusion.DiffusionEngine\n"
    "  params:\n"
    "    network_config:\n"
    "      target: sgm.modules.diffusionmodules.openaimodel.UNetModel\n"
    "      params:\n"
    "        num_head_channels: %d\n"
    "        use_linear_in_transformer: True\n"
    "        context_dim: %d\n", m->head_channels, m->unet.cross_attention_dim);
  return g_file_set_contents (path, text, -1, error);
}

const mk_family mk_family_sdxl = {
  .name = "sdxl",
  .title = "SDXL",
  .shapes = shapes,
  .pipeline = "StableDiffusionXLPipeline",
  .inpaint_pipeline = "StableDiffusionXLInpaintPipeline",
  .scheduler = scheduler,
  .force_zeros_for_empty_prompt = true,
  .ldm_text = ldm_text,
  .ldm_extra = ldm_extra,
};

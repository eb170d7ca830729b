/* Model configurations: SD 1.5's published values and diffusers' class
 * defaults, over which config.json (configs_json.c) and the tensor shapes
 * of single files (configs_ldm.c) are read.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "loader_internal.h"

/* ---- defaults ---------------------------------------------------------- */

static void
unet_sd1_layout (sdcl_unet_config *c)
{
  static const int channels[] = { 320, 640, 1280, 1280 };
  c->n_levels = 4;
  for (int i = 0; i < 4; i++)
    {
      c->block_out_channels[i] = channels[i];
      c->down_has_attn[i] = i < 3;    /* CrossAttnDown x3, DownBlock2D */
      c->up_has_attn[i] = i > 0;      /* UpBlock2D, CrossAttnUp x3 */
      c->down_heads[i] = c->up_heads[i] = 8;
      c->transformer_depth[i] = 1;
    }
  c->mid_heads = 8;
  c->mid_transformer_depth = 1;
  c->mid_has_attn = true;
}

void
sdcl_unet_config_class_defaults (sdcl_unet_config *c)
{
  *c = (sdcl_unet_config) {
    .in_channels = 4, .out_channels = 4, .layers_per_block = 2,
    .cross_attention_dim = 1280,     /* the class default; SD 1.x configs say 768 */
    .norm_num_groups = 32, .norm_eps = 1e-5f, .flip_sin_to_cos = true, .freq_shift = 0,
    .sample_size = 64, .time_embed_dim = 4 * 320,
  };
  unet_sd1_layout (c);
}

void
sdcl_unet_config_sd15 (sdcl_unet_config *c)
{
  sdcl_unet_config_class_defaults (c);
  c->cross_attention_dim = 768;
}

void
sdcl_vae_config_class_defaults (sdcl_vae_config *c)
{
  *c = (sdcl_vae_config) {
    .in_channels = 3, .out_channels = 3, .latent_channels = 4,
    .n_levels = 1, .block_out_channels = { 64 }, .layers_per_block = 1,
    .norm_num_groups = 32, .scaling_factor = 0.18215f,
    .use_quant_conv = true, .use_post_quant_conv = true, .mid_block_add_attention = true,
    .sample_size = 32,
  };
}

void
sdcl_vae_config_sd15 (sdcl_vae_config *c)
{
  sdcl_vae_config_class_defaults (c);
  static const int channels[] = { 128, 256, 512, 512 };
  c->n_levels = 4;
  memcpy (c->block_out_channels, channels, sizeof channels);
  c->layers_per_block = 2;
  c->sample_size = 512;
}

/* Every SD 1.x tokenizer pads with <|endoftext|> (docs/diffusion.md §Tokenizer); the pad_token_id
 * of the text encoder's config.json is a CLIP leftover nothing uses. */
#define SD1_PAD_TOKEN 49407

void
sdcl_clip_config_class_defaults (sdcl_clip_config *c)
{
  *c = (sdcl_clip_config) {
    .vocab_size = 49408, .hidden_size = 512, .intermediate_size = 2048, .n_layers = 12,
    .n_heads = 8, .max_position_embeddings = 77, .quick_gelu = true, .layer_norm_eps = 1e-5f,
    .eos_token_id = 49407, .pad_token_id = SD1_PAD_TOKEN,
  };
}

void
sdcl_clip_config_sd15 (sdcl_clip_config *c)
{
  sdcl_clip_config_class_defaults (c);
  c->hidden_size = 768;
  c->intermediate_size = 3072;
  c->n_heads = 12;
  c->eos_token_id = 2;   /* the legacy value of SD checkpoints: pooled = argmax rule */
}

/* Defaults every diffusers scheduler shares.  set_alpha_to_one differs per
 * class; timestep_spacing stays "" unless the file sets it, because the
 * sampler chosen at run time then applies its own class default. */
void
sdcl_sched_config_class_defaults (const char *class_name, sdcl_sched_config *c)
{
  *c = (sdcl_sched_config) {
    .num_train_timesteps = 1000, .beta_start = 0.0001f, .beta_end = 0.02f,
    .beta_schedule = "linear", .prediction_type = SDCL_PREDICTION_EPSILON, .steps_offset = 0,
    .timestep_spacing = "", .clip_sample = true, .clip_sample_range = 1.0f,
    .thresholding = false, .dynamic_thresholding_ratio = 0.995f, .sample_max_value = 1.0f,
    .variance_type = "fixed_small", .ignored_keys = "",
  };
  c->set_alpha_to_one = class_name && (strcmp (class_name, "DDIMScheduler") == 0
                                       || strcmp (class_name, "LCMScheduler") == 0);
}

void
sdcl_sched_config_sd15 (sdcl_sched_config *c)
{
  sdcl_sched_config_class_defaults ("PNDMScheduler", c);
  c->beta_start = 0.00085f;
  c->beta_end = 0.012f;
  g_strlcpy (c->beta_schedule, "scaled_linear", sizeof c->beta_schedule);
  c->steps_offset = 1;
  c->clip_sample = false;
  c->skip_prk_steps = true;
}

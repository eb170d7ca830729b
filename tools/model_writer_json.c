/* The diffusers folder of a random-weight model (model_writer.h):
 * model_index.json and every component's config, named as diffusers and
 * transformers write them, then the weights under canonical names.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "model_writer.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/* ---- configs ----------------------------------------------------------- */

/* Floats as their shortest decimal (0.00085, not 0.000849999977). */
static double
clean (float v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  return g_ascii_strtod (g_ascii_formatd (buf, sizeof buf, "%.7g", v), NULL);
}

static void
member_int (JsonBuilder *b, const char *key, int v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, v);
}

static void
member_float (JsonBuilder *b, const char *key, float v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_double_value (b, clean (v));
}

static void
member_bool (JsonBuilder *b, const char *key, bool v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, v);
}

static void
member_string (JsonBuilder *b, const char *key, const char *v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, v);
}

static void
member_ints (JsonBuilder *b, const char *key, const int *v, int n)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++)
    json_builder_add_int_value (b, v[i]);
  json_builder_end_array (b);
}

/* A list of block names: `with` where flags[i], else `without`. */
static void
member_blocks (JsonBuilder *b, const char *key, const bool *flags, int n, const char *with,
               const char *without)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++)
    json_builder_add_string_value (b, flags && flags[i] ? with : without);
  json_builder_end_array (b);
}

static void
member_pair (JsonBuilder *b, const char *key, const char *library, const char *class_name)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  if (library)
    {
      json_builder_add_string_value (b, library);
      json_builder_add_string_value (b, class_name);
    }
  else
    {
      json_builder_add_null_value (b);
      json_builder_add_null_value (b);
    }
  json_builder_end_array (b);
}

static void
unet_json (JsonBuilder *b, const sdcl_unet_config *c)
{
  member_string (b, "_class_name", "UNet2DConditionModel");
  member_string (b, "act_fn", "silu");
  if (c->add_embed_in)   /* SDXL's text_time add embedding */
    {
      member_string (b, "addition_embed_type", "text_time");
      member_int (b, "addition_time_embed_dim", c->add_time_embed_dim);
    }
  member_ints (b, "attention_head_dim", c->down_heads, c->n_levels);
  member_ints (b, "block_out_channels", c->block_out_channels, c->n_levels);
  member_bool (b, "center_input_sample", false);
  member_int (b, "cross_attention_dim", c->cross_attention_dim);
  member_blocks (b, "down_block_types", c->down_has_attn, c->n_levels, "CrossAttnDownBlock2D", "DownBlock2D");
  member_int (b, "downsample_padding", 1);
  member_bool (b, "flip_sin_to_cos", c->flip_sin_to_cos);
  member_float (b, "freq_shift", c->freq_shift);
  member_int (b, "in_channels", c->in_channels);
  member_int (b, "layers_per_block", c->layers_per_block);
  member_int (b, "mid_block_scale_factor", 1);
  member_string (b, "mid_block_type", "UNetMidBlock2DCrossAttn");
  member_float (b, "norm_eps", c->norm_eps);
  member_int (b, "norm_num_groups", c->norm_num_groups);
  member_int (b, "out_channels", c->out_channels);
  if (c->add_embed_in)
    member_int (b, "projection_class_embeddings_input_dim", c->add_embed_in);
  member_int (b, "sample_size", c->sample_size);
  member_ints (b, "transformer_layers_per_block", c->transformer_depth, c->n_levels);
  member_blocks (b, "up_block_types", c->up_has_attn, c->n_levels, "CrossAttnUpBlock2D", "UpBlock2D");
  member_bool (b, "upcast_attention", c->upcast_attention);
  member_bool (b, "use_linear_projection", c->use_linear_projection);
}

static void
vae_json (JsonBuilder *b, const sdcl_vae_config *c)
{
  member_string (b, "_class_name", "AutoencoderKL");
  member_string (b, "act_fn", "silu");
  member_ints (b, "block_out_channels", c->block_out_channels, c->n_levels);
  member_blocks (b, "down_block_types", NULL, c->n_levels, NULL, "DownEncoderBlock2D");
  member_int (b, "in_channels", c->in_channels);
  member_int (b, "latent_channels", c->latent_channels);
  member_int (b, "layers_per_block", c->layers_per_block);
  member_int (b, "norm_num_groups", c->norm_num_groups);
  member_int (b, "out_channels", c->out_channels);
  member_int (b, "sample_size", c->sample_size);
  member_float (b, "scaling_factor", c->scaling_factor);
  member_blocks (b, "up_block_types", NULL, c->n_levels, NULL, "UpDecoderBlock2D");
}

/* CLIPTextModel, or CLIPTextModelWithProjection when the tower has a
 * text_projection (SDXL's bigG). */
static void
clip_json (JsonBuilder *b, const sdcl_clip_config *c)
{
  json_builder_set_member_name (b, "architectures");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, c->projection_dim ? "CLIPTextModelWithProjection" : "CLIPTextModel");
  json_builder_end_array (b);
  member_int (b, "bos_token_id", 0);
  member_int (b, "eos_token_id", c->eos_token_id);
  member_string (b, "hidden_act", c->quick_gelu ? "quick_gelu" : "gelu");
  member_int (b, "hidden_size", c->hidden_size);
  member_int (b, "intermediate_size", c->intermediate_size);
  member_float (b, "layer_norm_eps", c->layer_norm_eps);
  member_int (b, "max_position_embeddings", c->max_position_embeddings);
  member_string (b, "model_type", "clip_text_model");
  member_int (b, "num_attention_heads", c->n_heads);
  member_int (b, "num_hidden_layers", c->n_layers);
  member_int (b, "pad_token_id", 1);
  member_int (b, "projection_dim", c->projection_dim ? c->projection_dim : c->hidden_size);
  member_int (b, "vocab_size", c->vocab_size);
}

/* The family's scheduler (docs/diffusion.md §Diffusers folders). */
static void
scheduler_json (JsonBuilder *b, const mk_model *m)
{
  sdcl_sched_config s;
  const char *class_name = m->family->scheduler (m, &s);
  member_string (b, "_class_name", class_name);
  member_float (b, "beta_end", s.beta_end);
  member_string (b, "beta_schedule", s.beta_schedule);
  member_float (b, "beta_start", s.beta_start);
  member_bool (b, "clip_sample", false);
  member_int (b, "num_train_timesteps", s.num_train_timesteps);
  member_string (b, "prediction_type", s.prediction_type == SDCL_PREDICTION_V ? "v_prediction" : "epsilon");
  member_bool (b, "set_alpha_to_one", s.set_alpha_to_one);
  /* every SD release's scheduler config says so, whatever its class (it
   * decides PNDM's warm-up when a user picks pndm; single files assume it) */
  member_bool (b, "skip_prk_steps", true);
  member_int (b, "steps_offset", s.steps_offset);
  if (s.timestep_spacing[0])   /* SD 1.5's file has none */
    member_string (b, "timestep_spacing", s.timestep_spacing);
  json_builder_set_member_name (b, "trained_betas");
  json_builder_add_null_value (b);
}

static void
model_index_json (JsonBuilder *b, const mk_model *m)
{
  sdcl_sched_config s;
  const mk_family *f = m->family;
  member_string (b, "_class_name", m->unet.in_channels == 9 ? f->inpaint_pipeline : f->pipeline);
  if (f->force_zeros_for_empty_prompt)
    member_bool (b, "force_zeros_for_empty_prompt", true);
  if (!m->clip2.n_layers)   /* SD 1.x and 2.x pipelines */
    {
      member_pair (b, "feature_extractor", NULL, NULL);
      member_bool (b, "requires_safety_checker", false);
      member_pair (b, "safety_checker", NULL, NULL);
    }
  member_pair (b, "scheduler", "diffusers", f->scheduler (m, &s));
  member_pair (b, "text_encoder", "transformers", "CLIPTextModel");
  if (m->clip2.n_layers)
    member_pair (b, "text_encoder_2", "transformers", "CLIPTextModelWithProjection");
  member_pair (b, "tokenizer", NULL, NULL);   /* sdcl falls back to its installed vocabulary */
  if (m->clip2.n_layers)
    member_pair (b, "tokenizer_2", NULL, NULL);
  member_pair (b, "unet", "diffusers", "UNet2DConditionModel");
  member_pair (b, "vae", "diffusers", "AutoencoderKL");
}
typedef void (*json_body) (JsonBuilder *b, const void *data);

static bool
write_json (const char *dir, const char *component, const char *file, json_body body, const void *data,
            GError **error)
{
  char *folder = component ? g_build_filename (dir, component, NULL) : g_strdup (dir);
  char *path = g_build_filename (folder, file, NULL);
  bool ok = g_mkdir_with_parents (folder, 0755) == 0;
  if (!ok)
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot create %s: %s", folder,
                 g_strerror (errno));
  else
    {
      JsonBuilder *b = json_builder_new ();
      json_builder_begin_object (b);
      body (b, data);
      json_builder_end_object (b);
      JsonGenerator *gen = json_generator_new ();
      JsonNode *root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      json_generator_set_pretty (gen, TRUE);
      ok = json_generator_to_file (gen, path, error);
      json_node_unref (root);
      g_object_unref (gen);
      g_object_unref (b);
    }
  g_free (path);
  g_free (folder);
  return ok;
}


static void
unet_body (JsonBuilder *b, const void *m)
{
  unet_json (b, &((const mk_model *) m)->unet);
}

static void
vae_body (JsonBuilder *b, const void *m)
{
  vae_json (b, &((const mk_model *) m)->vae);
}

static void
clip_body (JsonBuilder *b, const void *m)
{
  clip_json (b, &((const mk_model *) m)->clip);
}

static void
clip2_body (JsonBuilder *b, const void *m)
{
  clip_json (b, &((const mk_model *) m)->clip2);
}

static void
scheduler_body (JsonBuilder *b, const void *m)
{
  scheduler_json (b, m);
}

static void
index_body (JsonBuilder *b, const void *m)
{
  model_index_json (b, m);
}

/* ---- the folder ---------------------------------------------------------- */

static bool
write_component (const char *dir, const char *component, const char *file, const mk_model *m,
                 sdcl_component comp, sdcl_dtype dtype, uint64_t seed, GError **error)
{
  size_t n;
  mk_tensor *tensors = mk_component_tensors (m, comp, false, &n);
  char *path = g_build_filename (dir, component, file, NULL);
  bool ok = mk_write_safetensors (path, tensors, n, dtype, seed, error);
  g_free (path);
  g_free (tensors);
  return ok;
}

bool
mk_write_diffusers (const char *dir, const mk_model *m, sdcl_dtype dtype, uint64_t seed, GError **error)
{
  static const char weights[] = "diffusion_pytorch_model.safetensors", text_weights[] = "model.safetensors";
  bool two = m->clip2.n_layers > 0;
  return write_json (dir, NULL, "model_index.json", index_body, m, error)
         && write_json (dir, "unet", "config.json", unet_body, m, error)
         && write_json (dir, "vae", "config.json", vae_body, m, error)
         && write_json (dir, "text_encoder", "config.json", clip_body, m, error)
         && (!two || write_json (dir, "text_encoder_2", "config.json", clip2_body, m, error))
         && write_json (dir, "scheduler", "scheduler_config.json", scheduler_body, m, error)
         && write_component (dir, "unet", weights, m, SDCL_COMP_UNET, dtype, seed, error)
         && write_component (dir, "vae", weights, m, SDCL_COMP_VAE, dtype, seed, error)
         && write_component (dir, "text_encoder", text_weights, m, SDCL_COMP_TEXT, dtype, seed, error)
         && (!two || write_component (dir, "text_encoder_2", text_weights, m, SDCL_COMP_TEXT2, dtype,
                                      seed, error));
}

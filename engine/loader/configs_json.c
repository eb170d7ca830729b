/* config.json reading: the UNet, VAE, text encoder and scheduler configs
 * of a diffusers folder over diffusers' class defaults (configs.c), with
 * every unsupported option refused naming its key.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "loader_internal.h"

/* ---- config.json reading ----------------------------------------------- */

/* Reads keys of one config object; the first error sticks and later reads
 * do nothing, so a parser is a flat list of reads. */
typedef struct {
  JsonObject *o;
  const char *file;
  sdcl_error *err;
  sdcl_status st;
} reader;

static void G_GNUC_PRINTF (4, 5)
reader_fail (reader *r, sdcl_status code, const char *key, const char *fmt, ...)
             {
  if (r->st)
    return;
  char what[700];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (what, sizeof what, fmt, ap);
  va_end (ap);
  r->st = sdcl_fail (r->err, code, "%s: \"%s\" %s", r->file, key, what);
}

/* The member, or NULL when absent or null (both mean "use the default"). */
static JsonNode *
member (reader *r, const char *key)
{
  if (r->st || !json_object_has_member (r->o, key))
    return NULL;
  JsonNode *n = json_object_get_member (r->o, key);
  return JSON_NODE_HOLDS_NULL (n) ? NULL : n;
}

static bool
node_int (JsonNode *n, int min, int max, int *out)
{
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return false;
  gint64 v = json_node_get_int (n);
  if (v < min || v > max)
    return false;
  *out = (int) v;
  return true;
}

static void
read_int (reader *r, const char *key, int min, int max, int *out)
{
  JsonNode *n = member (r, key);
  if (n && !node_int (n, min, max, out))
    reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be an integer in [%d, %d]", min, max);
}

static void
read_bool (reader *r, const char *key, bool *out)
{
  JsonNode *n = member (r, key);
  if (!n)
    return;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be true or false");
  else
    *out = json_node_get_boolean (n);
}

static void
read_float (reader *r, const char *key, float min, float max, float *out)
{
  JsonNode *n = member (r, key);
  if (!n)
    return;
  GType t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
  double v = t == G_TYPE_DOUBLE ? json_node_get_double (n)
             : t == G_TYPE_INT64 ? (double) json_node_get_int (n) : NAN;
  if (!(v >= min && v <= max))
    reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be a number in [%g, %g]", min, max);
  else
    *out = (float) v;
}

/* The string value, or NULL when absent (errors for other types). */
static const char *
read_string (reader *r, const char *key)
{
  JsonNode *n = member (r, key);
  if (!n)
    return NULL;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
      {
        reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be a string");
        return NULL;
      }
  return json_node_get_string (n);
}

/* An integer, or a list of them; an integer is repeated `n` times.  *count
 * receives the list length (n for a scalar), 0 when the key is absent. */
static void
read_int_or_list (reader *r, const char *key, int min, int max, int n, int *out, int *count)
{
  JsonNode *node = member (r, key);
  *count = 0;
  if (!node)
    return;
  if (JSON_NODE_HOLDS_VALUE (node))
    {
      int v;
      if (!node_int (node, min, max, &v))
        {
          reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be an integer in [%d, %d]", min, max);
          return;
        }
      for (int i = 0; i < n; i++)
        out[i] = v;
      *count = n;
      return;
    }
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  guint len = a ? json_array_get_length (a) : 0;
  if (!a || len == 0 || len > SDCL_MAX_LEVELS)
    {
      reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be an integer or a list of 1 to %d integers",
                   SDCL_MAX_LEVELS);
      return;
    }
  for (guint i = 0; i < len; i++)
    if (!node_int (json_array_get_element (a, i), min, max, &out[i]))
      {
        reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "entry %u must be an integer in [%d, %d]", i,
                     min, max);
        return;
      }
  *count = (int) len;
}

static void
read_list (reader *r, const char *key, int min, int max, int *out, int *count)
{
  JsonNode *node = member (r, key);
  if (node && !JSON_NODE_HOLDS_ARRAY (node))
    {
      reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be a list");
      return;
    }
  read_int_or_list (r, key, min, max, 0, out, count);
}

/* Block type lists: each entry one of two names, recorded as a flag. */
static void
read_block_types (reader *r, const char *key, const char *plain, const char *with_attn,
                  bool *has_attn, int *count)
{
  JsonNode *node = member (r, key);
  if (!node)
    return;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  guint len = a ? json_array_get_length (a) : 0;
  if (!a || len == 0 || len > SDCL_MAX_LEVELS)
    {
      reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "must be a list of 1 to %d block names",
                   SDCL_MAX_LEVELS);
      return;
    }
  for (guint i = 0; i < len; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      const char *name = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING
                         ? json_node_get_string (e) : "";
      if (strcmp (name, plain) == 0 || (with_attn && strcmp (name, with_attn) == 0))
        has_attn[i] = with_attn && strcmp (name, with_attn) == 0;
      else
        {
          reader_fail (r, SDCL_ERR_UNSUPPORTED_MODEL, key, "entry %u is '%s'; sdcl supports %s%s%s",
                       i, name, plain, with_attn ? " and " : "", with_attn ? with_attn : "");
          return;
        }
    }
  *count = (int) len;
}

static void
check_level_count (reader *r, const char *key, int count, int n_levels)
{
  if (count && count != n_levels)
    reader_fail (r, SDCL_ERR_MODEL_FORMAT, key, "has %d entries but block_out_channels has %d", count,
                 n_levels);
}

static void
require_value (reader *r, const char *key, const char *expected)
{
  const char *v = read_string (r, key);
  if (v && strcmp (v, expected) != 0)
    reader_fail (r, SDCL_ERR_UNSUPPORTED_MODEL, key, "is '%s'; sdcl supports only '%s'", v, expected);
}

/* Keys whose other values change the arithmetic in ways sdcl does not
 * implement: present and different means unsupported. */
static void
require_number (reader *r, const char *key, double expected)
{
  JsonNode *n = member (r, key);
  GType t = n && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
  double v = t == G_TYPE_DOUBLE ? json_node_get_double (n) : t == G_TYPE_INT64 ? (double) json_node_get_int (n) : NAN;
  if (n && v != expected)
    reader_fail (r, SDCL_ERR_UNSUPPORTED_MODEL, key, "must be %g for sdcl", expected);
}

static void
require_false (reader *r, const char *key)
{
  bool v = false;
  read_bool (r, key, &v);
  if (v)
    reader_fail (r, SDCL_ERR_UNSUPPORTED_MODEL, key, "is true, which sdcl does not support");
}

static void
require_null (reader *r, const char *key, const char *what)
{
  if (member (r, key))
    reader_fail (r, SDCL_ERR_UNSUPPORTED_MODEL, key, "is set (%s), which sdcl does not support", what);
}

static void
unet_heads_and_depth (reader *r, sdcl_unet_config *c)
{
  int heads[SDCL_MAX_LEVELS], depth[SDCL_MAX_LEVELS], n;
  int n_levels = c->n_levels;
  /* attention_head_dim holds head counts in SD configs (docs/diffusion.md §UNet configuration);
   * num_attention_heads, when set, is the correctly named override. */
  for (int i = 0; i < n_levels; i++)
    heads[i] = 8;
  read_int_or_list (r, "attention_head_dim", 1, 4096, n_levels, heads, &n);
  check_level_count (r, "attention_head_dim", n, n_levels);
  read_int_or_list (r, "num_attention_heads", 1, 4096, n_levels, heads, &n);
  check_level_count (r, "num_attention_heads", n, n_levels);
  for (int i = 0; i < n_levels; i++)
    depth[i] = 1;
  read_int_or_list (r, "transformer_layers_per_block", 1, 64, n_levels, depth, &n);
  check_level_count (r, "transformer_layers_per_block", n, n_levels);
  for (int i = 0; i < n_levels; i++)
    {
      c->down_heads[i] = heads[i];
      c->up_heads[i] = heads[n_levels - 1 - i];
      c->transformer_depth[i] = depth[i];
    }
  c->mid_heads = heads[n_levels - 1];
  c->mid_transformer_depth = depth[n_levels - 1];
}

static void
unet_blocks (reader *r, sdcl_unet_config *c)
{
  int n = 0, n_down = 0, n_up = 0;
  read_list (r, "block_out_channels", 1, 65536, c->block_out_channels, &n);
  if (n)
    c->n_levels = n;
  read_block_types (r, "down_block_types", "DownBlock2D", "CrossAttnDownBlock2D", c->down_has_attn,
                    &n_down);
  read_block_types (r, "up_block_types", "UpBlock2D", "CrossAttnUpBlock2D", c->up_has_attn, &n_up);
  check_level_count (r, "down_block_types", n_down, c->n_levels);
  check_level_count (r, "up_block_types", n_up, c->n_levels);
  if (!r->st && (!n_down || !n_up) && c->n_levels != 4)
    reader_fail (r, SDCL_ERR_MODEL_FORMAT, "block_out_channels",
                 "has %d entries but the block types are left at their 4-level defaults", c->n_levels);
  require_value (r, "mid_block_type", "UNetMidBlock2DCrossAttn");
}

/* SDXL's "text_time" add embedding; other addition types are refused. */
static void
unet_addition (reader *r, sdcl_unet_config *c)
{
  const char *type = read_string (r, "addition_embed_type");
  if (!type)
    return;
  if (strcmp (type, "text_time") != 0)
    {
      reader_fail (r, SDCL_ERR_UNSUPPORTED_MODEL, "addition_embed_type", "is '%s'; sdcl supports "
                   "only 'text_time' (SDXL)", type);
      return;
    }
  c->add_time_embed_dim = 256;   /* SDXL's */
  read_int (r, "addition_time_embed_dim", 2, 65536, &c->add_time_embed_dim);
  read_int (r, "projection_class_embeddings_input_dim", 1, 1 << 20, &c->add_embed_in);
  if (!r->st && c->add_embed_in <= 6 * c->add_time_embed_dim)
    reader_fail (r, SDCL_ERR_MODEL_FORMAT, "projection_class_embeddings_input_dim",
                 "(%d) leaves no room for the pooled text vector next to 6 size ids of %d",
                 c->add_embed_in, c->add_time_embed_dim);
}

sdcl_status
sdcl_unet_config_from_json (JsonObject *o, const char *file, sdcl_unet_config *c, sdcl_error *err)
{
  reader r = { o, file, err, SDCL_OK };
  sdcl_unet_config_class_defaults (c);
  read_int (&r, "in_channels", 1, 64, &c->in_channels);
  read_int (&r, "out_channels", 1, 64, &c->out_channels);
  unet_blocks (&r, c);
  read_int (&r, "layers_per_block", 1, 16, &c->layers_per_block);
  unet_heads_and_depth (&r, c);
  read_int (&r, "cross_attention_dim", 1, 65536, &c->cross_attention_dim);
  read_bool (&r, "use_linear_projection", &c->use_linear_projection);
  read_bool (&r, "upcast_attention", &c->upcast_attention);
  read_int (&r, "norm_num_groups", 1, 1024, &c->norm_num_groups);
  read_float (&r, "norm_eps", 0, 1, &c->norm_eps);
  read_bool (&r, "flip_sin_to_cos", &c->flip_sin_to_cos);
  read_float (&r, "freq_shift", -16, 16, &c->freq_shift);
  read_int (&r, "sample_size", 1, 1 << 16, &c->sample_size);
  read_int (&r, "time_cond_proj_dim", 1, 65536, &c->time_cond_proj_dim);
  c->time_embed_dim = 4 * c->block_out_channels[0];
  read_int (&r, "time_embedding_dim", 1, 1 << 20, &c->time_embed_dim);
  require_value (&r, "act_fn", "silu");
  require_value (&r, "resnet_time_scale_shift", "default");
  require_value (&r, "time_embedding_type", "positional");
  require_number (&r, "mid_block_scale_factor", 1);
  require_number (&r, "resnet_out_scale_factor", 1);
  require_false (&r, "center_input_sample");
  require_false (&r, "only_cross_attention");
  require_false (&r, "dual_cross_attention");
  require_null (&r, "class_embed_type", "class conditioning");
  require_null (&r, "encoder_hid_dim", "a text projection inside the UNet");
  unet_addition (&r, c);
  return r.st;
}

sdcl_status
sdcl_vae_config_from_json (JsonObject *o, const char *file, sdcl_vae_config *c, sdcl_error *err)
{
  reader r = { o, file, err, SDCL_OK };
  bool flags[SDCL_MAX_LEVELS];
  int n = 0, n_down = 0, n_up = 0;
  sdcl_vae_config_class_defaults (c);
  read_int (&r, "in_channels", 1, 64, &c->in_channels);
  read_int (&r, "out_channels", 1, 64, &c->out_channels);
  read_int (&r, "latent_channels", 1, 64, &c->latent_channels);
  read_list (&r, "block_out_channels", 1, 65536, c->block_out_channels, &n);
  if (n)
    c->n_levels = n;
  read_block_types (&r, "down_block_types", "DownEncoderBlock2D", NULL, flags, &n_down);
  read_block_types (&r, "up_block_types", "UpDecoderBlock2D", NULL, flags, &n_up);
  check_level_count (&r, "down_block_types", n_down ? n_down : 1, c->n_levels);
  check_level_count (&r, "up_block_types", n_up ? n_up : 1, c->n_levels);
  read_int (&r, "layers_per_block", 1, 16, &c->layers_per_block);
  read_int (&r, "norm_num_groups", 1, 1024, &c->norm_num_groups);
  read_float (&r, "scaling_factor", 1e-6f, 1e6f, &c->scaling_factor);
  read_bool (&r, "use_quant_conv", &c->use_quant_conv);
  read_bool (&r, "use_post_quant_conv", &c->use_post_quant_conv);
  read_bool (&r, "mid_block_add_attention", &c->mid_block_add_attention);
  read_int (&r, "sample_size", 1, 1 << 20, &c->sample_size);
  require_value (&r, "act_fn", "silu");
  require_null (&r, "shift_factor", "a latent shift");
  require_null (&r, "latents_mean", "per-channel latent statistics");
  return r.st;
}

sdcl_status
sdcl_clip_config_from_json (JsonObject *o, const char *file, sdcl_clip_config *c, sdcl_error *err)
{
  reader r = { o, file, err, SDCL_OK };
  sdcl_clip_config_class_defaults (c);
  read_int (&r, "vocab_size", 1, 1 << 24, &c->vocab_size);
  read_int (&r, "hidden_size", 1, 65536, &c->hidden_size);
  read_int (&r, "intermediate_size", 1, 1 << 20, &c->intermediate_size);
  read_int (&r, "num_hidden_layers", 1, 256, &c->n_layers);
  read_int (&r, "num_attention_heads", 1, 1024, &c->n_heads);
  read_int (&r, "max_position_embeddings", 1, 1 << 16, &c->max_position_embeddings);
  read_float (&r, "layer_norm_eps", 0, 1, &c->layer_norm_eps);
  read_int (&r, "eos_token_id", 0, 1 << 24, &c->eos_token_id);
  const char *act = read_string (&r, "hidden_act");
  if (act && strcmp (act, "quick_gelu") && strcmp (act, "gelu"))
    reader_fail (&r, SDCL_ERR_UNSUPPORTED_MODEL, "hidden_act", "is '%s'; sdcl supports quick_gelu and gelu",
                 act);
  else if (act)
    c->quick_gelu = strcmp (act, "quick_gelu") == 0;
  if (!r.st && c->hidden_size % c->n_heads != 0)
    reader_fail (&r, SDCL_ERR_MODEL_FORMAT, "num_attention_heads", "(%d) does not divide hidden_size (%d)",
                 c->n_heads, c->hidden_size);
  return r.st;
}

static void
read_choice (reader *r, const char *key, const char *const *choices, int n, int *index)
{
  const char *v = read_string (r, key);
  if (!v)
    return;
  for (int i = 0; i < n; i++)
    if (strcmp (v, choices[i]) == 0)
      {
        *index = i;
        return;
      }
  GString *list = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf (list, "%s%s", i ? ", " : "", choices[i]);
  reader_fail (r, SDCL_ERR_UNSUPPORTED_MODEL, key, "is '%s'; sdcl supports %s", v, list->str);
  g_string_free (list, TRUE);
}

/* The scheduler keys sdcl reads; any other key is ignored and listed in
 * ignored_keys (a scheduler config names options of its own class that
 * another sampler has no use for, so refusing them would refuse models). */
static const char *const sched_keys[] = {
  "_class_name", "_diffusers_version", "num_train_timesteps", "beta_start", "beta_end",
  "beta_schedule", "trained_betas", "prediction_type", "timestep_spacing", "steps_offset",
  "set_alpha_to_one", "rescale_betas_zero_snr", "clip_sample", "clip_sample_range",
  "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "variance_type",
  "skip_prk_steps",
};

static void
note_ignored_keys (JsonObject *o, sdcl_sched_config *c)
{
  GString *list = g_string_new (NULL);
  g_autoptr (GList) keys = json_object_get_members (o);
  keys = g_list_sort (keys, (GCompareFunc) strcmp);
  for (GList *k = keys; k; k = k->next)
    {
      bool known = false;
      for (size_t i = 0; i < G_N_ELEMENTS (sched_keys) && !known; i++)
        known = strcmp (k->data, sched_keys[i]) == 0;
      if (!known)
        g_string_append_printf (list, "%s%s", list->len ? ", " : "", (const char *) k->data);
    }
  if (list->len >= sizeof c->ignored_keys)
    {
      /* cut at a key boundary and say so */
      g_string_truncate (list, sizeof c->ignored_keys - 5);
      char *comma = strrchr (list->str, ',');
      g_string_truncate (list, comma ? (gsize) (comma - list->str) : 0);
      g_string_append (list, ", ...");
    }
  g_strlcpy (c->ignored_keys, list->str, sizeof c->ignored_keys);
  g_string_free (list, TRUE);
}

sdcl_status
sdcl_sched_config_from_json (JsonObject *o, const char *file, sdcl_sched_config *c, sdcl_error *err)
{
  /* every beta schedule scheduler.c implements */
  static const char *const schedules[] = { "linear", "scaled_linear", "squaredcos_cap_v2" };
  static const char *const predictions[] = { "epsilon", "v_prediction", "sample" };
  static const char *const spacings[] = { "leading", "linspace", "trailing" };
  reader r = { o, file, err, SDCL_OK };
  sdcl_sched_config_class_defaults (read_string (&r, "_class_name"), c);
  read_int (&r, "num_train_timesteps", 2, 100000, &c->num_train_timesteps);
  read_float (&r, "beta_start", 0, 1, &c->beta_start);
  read_float (&r, "beta_end", 0, 1, &c->beta_end);
  read_int (&r, "steps_offset", 0, 1000, &c->steps_offset);
  read_bool (&r, "set_alpha_to_one", &c->set_alpha_to_one);
  read_bool (&r, "clip_sample", &c->clip_sample);
  read_float (&r, "clip_sample_range", 0, 1e6f, &c->clip_sample_range);
  read_bool (&r, "thresholding", &c->thresholding);
  read_float (&r, "dynamic_thresholding_ratio", 0, 1, &c->dynamic_thresholding_ratio);
  read_float (&r, "sample_max_value", 1, 1e6f, &c->sample_max_value);
  read_bool (&r, "skip_prk_steps", &c->skip_prk_steps);
  const char *variance = read_string (&r, "variance_type");
  if (variance)
    g_strlcpy (c->variance_type, variance, sizeof c->variance_type);
  int schedule = 0, prediction = 0, spacing = -1;
  read_choice (&r, "beta_schedule", schedules, G_N_ELEMENTS (schedules), &schedule);
  read_choice (&r, "prediction_type", predictions, 3, &prediction);
  read_choice (&r, "timestep_spacing", spacings, 3, &spacing);
  g_strlcpy (c->beta_schedule, schedules[schedule], sizeof c->beta_schedule);
  if (spacing >= 0)
    g_strlcpy (c->timestep_spacing, spacings[spacing], sizeof c->timestep_spacing);
  c->prediction_type = prediction == 0 ? SDCL_PREDICTION_EPSILON
                       : prediction == 1 ? SDCL_PREDICTION_V : SDCL_PREDICTION_SAMPLE;
  read_bool (&r, "rescale_betas_zero_snr", &c->rescale_betas_zero_snr);
  if (member (&r, "trained_betas"))
    reader_fail (&r, SDCL_ERR_UNSUPPORTED_MODEL, "trained_betas", "is set; sdcl supports only computed schedules");
  /* the cosine schedule ignores beta_start and beta_end */
  bool cosine = schedule == 2;
  if (!r.st && !cosine && !(c->beta_end > c->beta_start))
    reader_fail (&r, SDCL_ERR_MODEL_FORMAT, "beta_end", "(%g) is not above beta_start (%g)",
                 c->beta_end, c->beta_start);
  if (!r.st)
    note_ignored_keys (o, c);
  return r.st;
}

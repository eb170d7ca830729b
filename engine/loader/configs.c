/* Model configurations: SD 1.5 and diffusers class defaults, config.json
 * parsing, inference from the tensor shapes of single LDM files, and the
 * facts family detection (families/family.c) decides from.
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
static void
sched_class_defaults (const char *class_name, sdcl_sched_config *c)
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
  sched_class_defaults ("PNDMScheduler", c);
  c->beta_start = 0.00085f;
  c->beta_end = 0.012f;
  g_strlcpy (c->beta_schedule, "scaled_linear", sizeof c->beta_schedule);
  c->steps_offset = 1;
  c->clip_sample = false;
}

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
  require_null (&r, "addition_embed_type", "SDXL-style micro-conditioning");
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
  sched_class_defaults (read_string (&r, "_class_name"), c);
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

sdcl_status
sdcl_clip_config_from_ldm (const sdcl_st_file *f, sdcl_clip_config *c, sdcl_error *err)
{
  sdcl_clip_config_sd15 (c);
  if (!sdcl_st_find (f, T "embeddings.token_embedding.weight"))
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "%s: no CLIP text encoder (" T "*) found: not a full Stable Diffusion 1.x checkpoint",
                      sdcl_st_path (f));
  const sdcl_st_tensor *tok, *pos, *fc1;
  sdcl_status st;
  if ((st = sdcl_st_need (f, T "embeddings.token_embedding.weight", 2, &tok, err))
      || (st = sdcl_st_need (f, T "embeddings.position_embedding.weight", 2, &pos, err))
      || (st = sdcl_st_need (f, T "encoder.layers.0.mlp.fc1.weight", 2, &fc1, err)))
    return st;
  c->vocab_size = (int) tok->shape[0];
  c->hidden_size = (int) tok->shape[1];
  c->max_position_embeddings = (int) pos->shape[0];
  c->intermediate_size = (int) fc1->shape[0];
  c->n_layers = 0;
  while (c->n_layers < 256 && ldm_tensor (f, T "encoder.layers.%d.layer_norm1.weight", c->n_layers))
    c->n_layers++;
  /* Head counts are not in the weights.  CLIP's heads are 64 wide (ViT-L:
   * 768 = 12 x 64); encoders too narrow for that exist only as test models,
   * which follow the tiny reference fixture's 4 heads. */
  c->n_heads = c->hidden_size >= 256 && c->hidden_size % 64 == 0 ? c->hidden_size / 64 : 4;
  if (c->hidden_size % c->n_heads != 0)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL, "%s: a text encoder %d wide has no known head count",
                      sdcl_st_path (f), c->hidden_size);
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
  if ((t = sdcl_st_find (f, U "input_blocks.0.0.weight")) && t->nd == 4)
    facts->unet_in_channels = (int) t->shape[1];
}

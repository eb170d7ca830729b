/* Random-weight checkpoints in either layout (see model_writer.h).
 *
 * Initialisation, chosen so activations keep a sane scale through 100+
 * layers without any training:
 *   - matrices and convolution kernels (and embeddings): uniform with
 *     standard deviation 1/sqrt(fan_in), fan_in = product of all dims but
 *     the first, so each layer roughly preserves the variance of its input;
 *   - norm scales (1-D ".weight"): exactly 1;
 *   - biases (1-D ".bias"): uniform with standard deviation 0.02 rather than
 *     zero, so a kernel that dropped a bias would change the output.
 * Uniform rather than normal draws keep generation of SD 1.5's ~1.1e9
 * values to a few seconds.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "model_writer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "loader_internal.h"
#include "nets.h"

#define BIAS_STD 0.02
#define CHUNK_ELEMENTS (1 << 20)

/* ---- model shapes ------------------------------------------------------ */

void
mk_model_sd15 (mk_model *m, bool inpaint)
{
  sdcl_unet_config_sd15 (&m->unet);
  sdcl_vae_config_sd15 (&m->vae);
  sdcl_clip_config_sd15 (&m->clip);
  if (inpaint)
    m->unet.in_channels = 9;
  m->openclip = m->v_prediction = false;
  m->head_channels = 0;
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

/* ---- tensor lists ------------------------------------------------------ */

mk_tensor *
mk_component_tensors (const mk_model *m, sdcl_component comp, bool ldm_names, size_t *count)
{
  if (ldm_names && comp == SDCL_COMP_TEXT && m->openclip)
    return mk_openclip_tensors (m, count);
  size_t n = 0;
  sdcl_tensor_spec *specs = comp == SDCL_COMP_UNET ? sdcl_unet_tensor_specs (&m->unet, &n)
                            : comp == SDCL_COMP_VAE ? sdcl_vae_tensor_specs (&m->vae, &n)
                                                    : sdcl_clip_tensor_specs (&m->clip, &n);
  mk_tensor *out = g_new0 (mk_tensor, MAX (n, 1));
  for (size_t i = 0; i < n; i++)
    {
      mk_tensor *t = &out[i];
      g_strlcpy (t->canonical, specs[i].name, sizeof t->canonical);
      t->nd = specs[i].nd;
      memcpy (t->shape, specs[i].shape, sizeof t->shape);
      bool conv_1x1 = false;
      if (!ldm_names)
        g_strlcpy (t->name, specs[i].name, sizeof t->name);
      else if (!sdcl_ldm_unmap_name (comp, specs[i].name, m->unet.layers_per_block, m->unet.n_levels,
                                     m->unet.up_has_attn, t->name, sizeof t->name, &conv_1x1))
        g_error ("no LDM name for %s", specs[i].name);   /* the enumerations and the map disagree */
      if (conv_1x1)
        {
          t->nd = 4;
          t->shape[2] = t->shape[3] = 1;
        }
    }
  g_free (specs);
  *count = n;
  return out;
}

/* ---- values ------------------------------------------------------------ */

static uint64_t
splitmix64 (uint64_t x)
{
  x += UINT64_C (0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C (0x94d049bb133111eb);
  return x ^ (x >> 31);
}

static uint64_t
name_hash (const char *s)
{
  uint64_t h = UINT64_C (0xcbf29ce484222325);   /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * UINT64_C (0x100000001b3);
  return h;
}

static int64_t
element_count (const mk_tensor *t)
{
  int64_t n = 1;
  for (int i = 0; i < t->nd; i++)
    n *= t->shape[i];
  return n;
}

/* Half-width of the uniform distribution for this tensor; 0 = constant 1. */
static double
uniform_half_width (const mk_tensor *t)
{
  if (t->nd == 1)
    return g_str_has_suffix (t->canonical, ".bias") ? BIAS_STD * sqrt (3.0) : 0;
  int64_t fan_in = element_count (t) / t->shape[0];
  return sqrt (3.0 / (double) fan_in);
}

/* Element i of tensor t: counter-based, so chunks need no generator state. */
static void
fill_values (const mk_tensor *t, uint64_t key, double half_width, int64_t first, int64_t n, float *out)
{
  if (half_width == 0)
    {
      for (int64_t i = 0; i < n; i++)
        out[i] = 1.0f;
      return;
    }
  for (int64_t i = 0; i < n; i++)
    {
      double u = (double) (splitmix64 (key + (uint64_t) (first + i)) >> 40) * 0x1p-24;   /* [0, 1) */
      out[i] = (float) ((2 * u - 1) * half_width);
    }
}

static uint16_t
float_to_half (float f)
{
  uint32_t x;
  memcpy (&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u, mag = x & 0x7fffffffu;
  if (mag >= 0x7f800000u)
    return (uint16_t) (sign | (mag > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (mag >= 0x477ff000u)   /* rounds past 65504 */
    return (uint16_t) (sign | 0x7c00u);
  if (mag < 0x38800000u)    /* below 2^-14: a subnormal half, rounded to nearest even */
    {
      float v;
      memcpy (&v, &mag, sizeof v);
      return (uint16_t) (sign | (uint32_t) lrintf (v * 0x1p24f));
    }
  uint32_t rounded = mag + 0xfffu + ((mag >> 13) & 1u);
  return (uint16_t) (sign | ((rounded - 0x38000000u) >> 13));
}

static uint16_t
float_to_bf16 (float f)
{
  uint32_t x;
  memcpy (&x, &f, sizeof x);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((x >> 16) | 0x40u);   /* quiet NaN */
  return (uint16_t) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* Encodes n floats little-endian in place; returns the byte count. */
static size_t
encode (float *values, int64_t n, sdcl_dtype dtype)
{
  uint8_t *bytes = (uint8_t *) values;
  for (int64_t i = 0; i < n; i++)
    {
      uint32_t bits;
      switch (dtype)
        {
        case SDCL_DT_F16: bits = float_to_half (values[i]); break;
        case SDCL_DT_BF16: bits = float_to_bf16 (values[i]); break;
        default: memcpy (&bits, &values[i], 4); break;
        }
      int width = dtype == SDCL_DT_F32 ? 4 : 2;
      for (int b = 0; b < width; b++)   /* in place: byte i*width <= float i */
        bytes[i * width + b] = (uint8_t) (bits >> (8 * b));
    }
  return (size_t) n * (dtype == SDCL_DT_F32 ? 4 : 2);
}

/* ---- safetensors ------------------------------------------------------- */

static const char *
dtype_name (sdcl_dtype dtype)
{
  return dtype == SDCL_DT_F16 ? "F16" : dtype == SDCL_DT_BF16 ? "BF16" : "F32";
}

static GString *
header_json (const mk_tensor *tensors, size_t count, sdcl_dtype dtype)
{
  GString *h = g_string_new ("{\"__metadata__\":{\"format\":\"pt\"}");
  uint64_t offset = 0, width = dtype == SDCL_DT_F32 ? 4 : 2;
  for (size_t i = 0; i < count; i++)
    {
      uint64_t bytes = (uint64_t) element_count (&tensors[i]) * width;
      g_string_append_printf (h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", tensors[i].name,
                              dtype_name (dtype));
      for (int d = 0; d < tensors[i].nd; d++)
        g_string_append_printf (h, d ? ",%" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, tensors[i].shape[d]);
      g_string_append_printf (h, "],\"data_offsets\":[%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "]}",
                              offset, offset + bytes);
      offset += bytes;
    }
  g_string_append_c (h, '}');
  while (h->len % 8)   /* so the data buffer starts 8-byte aligned */
    g_string_append_c (h, ' ');
  return h;
}

static bool
write_all (FILE *fp, const void *data, size_t n, const char *path, GError **error)
{
  if (fwrite (data, 1, n, fp) == n)
    return true;
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s", path,
               g_strerror (errno));
  return false;
}

static bool
write_part (FILE *fp, const mk_tensor *t, const char *canonical, sdcl_dtype dtype, uint64_t seed,
            float *chunk, const char *path, GError **error)
{
  uint64_t key = splitmix64 (seed ^ name_hash (canonical));
  double half_width = uniform_half_width (t);
  int64_t n = element_count (t);
  for (int64_t first = 0; first < n; first += CHUNK_ELEMENTS)
    {
      int64_t len = MIN (n - first, CHUNK_ELEMENTS);
      fill_values (t, key, half_width, first, len, chunk);
      if (!write_all (fp, chunk, encode (chunk, len, dtype), path, error))
        return false;
    }
  return true;
}

/* A fused tensor is written part by part, each as the unfused tensor of
 * its canonical name would be. */
static bool
write_tensor_data (FILE *fp, const mk_tensor *t, sdcl_dtype dtype, uint64_t seed, float *chunk,
                   const char *path, GError **error)
{
  if (!t->fused[0][0])
    return write_part (fp, t, t->canonical, dtype, seed, chunk, path, error);
  mk_tensor part = *t;
  part.shape[0] = t->shape[0] / 3;
  return write_part (fp, &part, t->canonical, dtype, seed, chunk, path, error)
         && write_part (fp, &part, t->fused[0], dtype, seed, chunk, path, error)
         && write_part (fp, &part, t->fused[1], dtype, seed, chunk, path, error);
}

bool
mk_write_safetensors (const char *path, const mk_tensor *tensors, size_t count, sdcl_dtype dtype,
                      uint64_t seed, GError **error)
{
  FILE *fp = g_fopen (path, "wb");
  if (!fp)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot create %s: %s", path,
                   g_strerror (errno));
      return false;
    }
  GString *header = header_json (tensors, count, dtype);
  uint8_t prefix[8];
  for (int i = 0; i < 8; i++)
    prefix[i] = (uint8_t) ((uint64_t) header->len >> (8 * i));
  float *chunk = g_new (float, CHUNK_ELEMENTS);
  bool ok = write_all (fp, prefix, 8, path, error) && write_all (fp, header->str, header->len, path, error);
  if (seed == MK_SEED_ZEROS)
    {
      uint64_t data = 0;
      for (size_t i = 0; i < count; i++)
        data += (uint64_t) element_count (&tensors[i]) * (dtype == SDCL_DT_F32 ? 4 : 2);
      ok = ok && fflush (fp) == 0 && ftruncate (fileno (fp), (off_t) (8 + header->len + data)) == 0;
      if (!ok && error && !*error)
        g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s", path,
                     g_strerror (errno));
    }
  for (size_t i = 0; ok && seed != MK_SEED_ZEROS && i < count; i++)
    ok = write_tensor_data (fp, &tensors[i], dtype, seed, chunk, path, error);
  g_free (chunk);
  g_string_free (header, TRUE);
  if (fclose (fp) != 0 && ok)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s", path,
                   g_strerror (errno));
      ok = false;
    }
  return ok;
}

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

static void
clip_json (JsonBuilder *b, const sdcl_clip_config *c)
{
  json_builder_set_member_name (b, "architectures");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, "CLIPTextModel");
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
  member_int (b, "projection_dim", c->hidden_size);
  member_int (b, "vocab_size", c->vocab_size);
}

/* SD 1.5's PNDM settings (docs/diffusion.md §Diffusers folders); SD 2.1
 * 768-v ships the same betas with DDIM and v_prediction. */
static void
scheduler_json (JsonBuilder *b, const sdcl_sched_config *s, bool v)
{
  member_string (b, "_class_name", v ? "DDIMScheduler" : "PNDMScheduler");
  member_float (b, "beta_end", s->beta_end);
  member_string (b, "beta_schedule", s->beta_schedule);
  member_float (b, "beta_start", s->beta_start);
  member_bool (b, "clip_sample", false);
  member_int (b, "num_train_timesteps", s->num_train_timesteps);
  member_string (b, "prediction_type", v ? "v_prediction" : "epsilon");
  member_bool (b, "set_alpha_to_one", s->set_alpha_to_one);
  member_bool (b, "skip_prk_steps", true);
  member_int (b, "steps_offset", s->steps_offset);
  if (s->timestep_spacing[0])   /* SD 1.5's file has none */
    member_string (b, "timestep_spacing", s->timestep_spacing);
  json_builder_set_member_name (b, "trained_betas");
  json_builder_add_null_value (b);
}

static void
model_index_json (JsonBuilder *b, const mk_model *m)
{
  member_string (b, "_class_name", m->unet.in_channels == 9 ? "StableDiffusionInpaintPipeline"
                                                            : "StableDiffusionPipeline");
  member_pair (b, "feature_extractor", NULL, NULL);
  member_bool (b, "requires_safety_checker", false);
  member_pair (b, "safety_checker", NULL, NULL);
  member_pair (b, "scheduler", "diffusers", m->v_prediction ? "DDIMScheduler" : "PNDMScheduler");
  member_pair (b, "text_encoder", "transformers", "CLIPTextModel");
  member_pair (b, "tokenizer", NULL, NULL);   /* sdcl falls back to its installed vocabulary */
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
scheduler_body (JsonBuilder *b, const void *m)
{
  sdcl_sched_config s;
  sdcl_sched_config_sd15 (&s);
  scheduler_json (b, &s, ((const mk_model *) m)->v_prediction);
}

static void
index_body (JsonBuilder *b, const void *m)
{
  model_index_json (b, m);
}

/* ---- whole models ------------------------------------------------------ */

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
  return write_json (dir, NULL, "model_index.json", index_body, m, error)
         && write_json (dir, "unet", "config.json", unet_body, m, error)
         && write_json (dir, "vae", "config.json", vae_body, m, error)
         && write_json (dir, "text_encoder", "config.json", clip_body, m, error)
         && write_json (dir, "scheduler", "scheduler_config.json", scheduler_body, m, error)
         && write_component (dir, "unet", "diffusion_pytorch_model.safetensors", m, SDCL_COMP_UNET,
                             dtype, seed, error)
         && write_component (dir, "vae", "diffusion_pytorch_model.safetensors", m, SDCL_COMP_VAE,
                             dtype, seed, error)
         && write_component (dir, "text_encoder", "model.safetensors", m, SDCL_COMP_TEXT, dtype, seed,
                             error);
}

bool
mk_write_single_file (const char *path, const mk_model *m, sdcl_dtype dtype, uint64_t seed,
                      GError **error)
{
  size_t n[3];
  mk_tensor *parts[3];
  for (int c = 0; c < 3; c++)
    parts[c] = mk_component_tensors (m, (sdcl_component) c, true, &n[c]);
  mk_tensor *all = g_new (mk_tensor, n[0] + n[1] + n[2]);
  memcpy (all, parts[0], n[0] * sizeof *all);
  memcpy (all + n[0], parts[1], n[1] * sizeof *all);
  memcpy (all + n[0] + n[1], parts[2], n[2] * sizeof *all);
  bool ok = mk_write_safetensors (path, all, n[0] + n[1] + n[2], dtype, seed, error)
            && (!m->openclip || mk_write_ldm_yaml (path, m, error));
  for (int c = 0; c < 3; c++)
    g_free (parts[c]);
  g_free (all);
  return ok;
}

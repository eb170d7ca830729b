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

#include "loader_internal.h"
#include "nets.h"

#define BIAS_STD 0.02
#define CHUNK_ELEMENTS (1 << 20)

/* ---- families ------------------------------------------------------------ */

const mk_family *
mk_family_find (const char *name)
{
  static const mk_family *const all[] = { &mk_family_sd15, &mk_family_sd21, &mk_family_sdxl };
  for (size_t i = 0; i < G_N_ELEMENTS (all); i++)
    if (!strcmp (all[i]->name, name))
      return all[i];
  return NULL;
}

/* ---- tensor lists ------------------------------------------------------ */

static mk_tensor *
from_specs (const sdcl_tensor_spec *specs, size_t n)
{
  mk_tensor *out = g_new0 (mk_tensor, MAX (n, 1));
  for (size_t i = 0; i < n; i++)
    {
      g_strlcpy (out[i].canonical, specs[i].name, sizeof out[i].canonical);
      g_strlcpy (out[i].name, specs[i].name, sizeof out[i].name);
      out[i].nd = specs[i].nd;
      memcpy (out[i].shape, specs[i].shape, sizeof out[i].shape);
    }
  return out;
}

/* The networks' own listings (nets.h), canonically named. */
static mk_tensor *
canonical_tensors (const mk_model *m, sdcl_component comp, size_t *count)
{
  size_t n = 0;
  sdcl_tensor_spec *specs = comp == SDCL_COMP_UNET ? sdcl_unet_tensor_specs (&m->unet, &n)
                            : comp == SDCL_COMP_VAE ? sdcl_vae_tensor_specs (&m->vae, &n)
                            : comp == SDCL_COMP_TEXT2 ? sdcl_clip_tensor_specs (&m->clip2, &n)
                                                      : sdcl_clip_tensor_specs (&m->clip, &n);
  mk_tensor *out = from_specs (specs, n);
  g_free (specs);
  *count = n;
  return out;
}

/* UNet and VAE under their LDM names (the same in every family's files). */
static void
ldm_rename (const mk_model *m, sdcl_component comp, mk_tensor *ts, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      mk_tensor *t = &ts[i];
      bool conv_1x1 = false;
      if (!sdcl_ldm_unmap_name (comp, t->canonical, m->unet.layers_per_block, m->unet.n_levels,
                                m->unet.up_has_attn, t->name, sizeof t->name, &conv_1x1))
        g_error ("no LDM name for %s", t->canonical);   /* the enumerations and the map disagree */
      if (conv_1x1)
        {
          t->nd = 4;
          t->shape[2] = t->shape[3] = 1;
        }
    }
}

mk_tensor *
mk_component_tensors (const mk_model *m, sdcl_component comp, bool ldm_names, size_t *count)
{
  if (ldm_names && (comp == SDCL_COMP_TEXT || comp == SDCL_COMP_TEXT2))
    return m->family->ldm_text (m, comp, count);
  mk_tensor *out = canonical_tensors (m, comp, count);
  if (ldm_names)
    ldm_rename (m, comp, out, *count);
  return out;
}

mk_tensor *
mk_ldm_clip_tensors (const sdcl_clip_config *c, const char *prefix, size_t *count)
{
  size_t n = 0;
  sdcl_tensor_spec *specs = sdcl_clip_tensor_specs (c, &n);
  mk_tensor *out = from_specs (specs, n);
  g_free (specs);
  for (size_t i = 0; i < n; i++)
    g_snprintf (out[i].name, sizeof out[i].name, "%s%s", prefix, out[i].canonical);
  *count = n;
  return out;
}

/* Which of q, k, v a canonical text-encoder name is (0-2), or -1. */
static int
qkv_part (const char *canonical)
{
  static const char *const parts[] = { "self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj." };
  for (int i = 0; i < 3; i++)
    if (strstr (canonical, parts[i]))
      return i;
  return -1;
}

/* The file's name of a canonical OpenCLIP tensor under `prefix`. */
static void
openclip_name (const char *canonical, const char *prefix, char *out, size_t size)
{
  char ldm[160];
  if (!strcmp (canonical, "text_projection.weight"))
    g_snprintf (out, size, "%stext_projection", prefix);
  else if (sdcl_ldm_unmap_openclip (canonical, ldm, sizeof ldm))
    g_snprintf (out, size, "%s%s", prefix, ldm + strlen (SDCL_LDM_OPENCLIP_PREFIX));
  else
    g_error ("no OpenCLIP name for %s", canonical);   /* the enumeration and the map disagree */
}

mk_tensor *
mk_openclip_tensors (const sdcl_clip_config *config, int extra_layers, const char *prefix,
                     size_t *count)
{
  sdcl_clip_config c = *config;
  c.n_layers += extra_layers;
  c.projection_transposed = false;   /* listed canonically, written transposed */
  size_t n = 0;
  sdcl_tensor_spec *specs = sdcl_clip_tensor_specs (&c, &n);
  mk_tensor *out = g_new0 (mk_tensor, MAX (n, 1));
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    {
      char name[160];
      openclip_name (specs[i].name, prefix, name, sizeof name);
      int part = qkv_part (specs[i].name);
      mk_tensor *t = NULL;
      for (size_t j = 0; part >= 0 && j < k && !t; j++)
        if (!strcmp (out[j].name, name))
          t = &out[j];
      if (!t)
        {
          t = &out[k++];
          g_strlcpy (t->name, name, sizeof t->name);
          t->nd = specs[i].nd;
          memcpy (t->shape, specs[i].shape, sizeof t->shape);
          if (part >= 0)
            t->shape[0] *= 3;
          t->transposed = !strcmp (specs[i].name, "text_projection.weight");
          if (t->transposed)
            {
              t->shape[0] = specs[i].shape[1];
              t->shape[1] = specs[i].shape[0];
            }
        }
      if (part <= 0)
        g_strlcpy (t->canonical, specs[i].name, sizeof t->canonical);
      else
        g_strlcpy (t->fused[part - 1], specs[i].name, sizeof t->fused[part - 1]);
    }
  g_free (specs);
  *count = k;
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
  /* a transposed matrix keeps its canonical fan-in: its rows */
  int64_t fan_in = element_count (t) / t->shape[t->transposed ? 1 : 0];
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

/* OpenCLIP's text projection: the canonical [rows, cols] matrix, stored
 * [cols, rows] (small: filled whole, then written column by column). */
static bool
write_transposed (FILE *fp, const mk_tensor *t, sdcl_dtype dtype, uint64_t seed, const char *path,
                  GError **error)
{
  const int64_t rows = t->shape[1], cols = t->shape[0];
  uint64_t key = splitmix64 (seed ^ name_hash (t->canonical));
  float *canonical = g_new (float, rows * cols), *column = g_new (float, rows);
  fill_values (t, key, uniform_half_width (t), 0, rows * cols, canonical);
  bool ok = true;
  for (int64_t j = 0; j < cols && ok; j++)
    {
      for (int64_t i = 0; i < rows; i++)
        column[i] = canonical[i * cols + j];
      ok = write_all (fp, column, encode (column, rows, dtype), path, error);
    }
  g_free (canonical);
  g_free (column);
  return ok;
}

/* A fused tensor is written part by part, each as the unfused tensor of
 * its canonical name would be. */
static bool
write_tensor_data (FILE *fp, const mk_tensor *t, sdcl_dtype dtype, uint64_t seed, float *chunk,
                   const char *path, GError **error)
{
  if (t->transposed)
    return write_transposed (fp, t, dtype, seed, path, error);
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

bool
mk_write_single_file (const char *path, const mk_model *m, sdcl_dtype dtype, uint64_t seed,
                      GError **error)
{
  const sdcl_component comps[] = { SDCL_COMP_UNET, SDCL_COMP_VAE, SDCL_COMP_TEXT, SDCL_COMP_TEXT2 };
  GArray *all = g_array_new (FALSE, FALSE, sizeof (mk_tensor));
  for (size_t c = 0; c < G_N_ELEMENTS (comps); c++)
    {
      if (comps[c] == SDCL_COMP_TEXT2 && !m->clip2.n_layers)
        continue;
      size_t n = 0;
      mk_tensor *part = mk_component_tensors (m, comps[c], true, &n);
      g_array_append_vals (all, part, (guint) n);
      g_free (part);
    }
  bool ok = mk_write_safetensors (path, (const mk_tensor *) all->data, all->len, dtype, seed, error)
            && (!m->family->ldm_extra || m->family->ldm_extra (path, m, error));
  g_array_free (all, TRUE);
  return ok;
}

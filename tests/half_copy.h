/* A half-precision copy of a float32 safetensors file, written by the
 * tests themselves so that the repository need not hold a second copy of a
 * fixture model: every tensor with at least one dimension becomes F16, or
 * BF16 when its name starts with `bf16_prefix` (NULL: none); scalars stay
 * F32.  Both roundings are to nearest, ties to even, as torch's
 * .to(torch.float16) / .to(torch.bfloat16) round, so the copy holds
 * exactly the weights the reference generator rounded in memory
 * (tests/reference/sd2_fixtures.py, `_f16w`).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_HALF_COPY_H
#define SDCL_TEST_HALF_COPY_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "safetensors.h"

static inline uint16_t
half_copy_f16 (float f)
{
  uint32_t x;
  memcpy (&x, &f, 4);
  uint16_t sign = (uint16_t) ((x >> 16) & 0x8000u);
  uint32_t e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
  if (e == 0xff)                                   /* inf, NaN (quiet) */
    return sign | 0x7c00u | (m ? 0x200u : 0);
  int exp = (int) e - 127 + 15;
  if (exp >= 31)
    return sign | 0x7c00u;                         /* overflow */
  if (exp <= 0)
    {
      if (exp < -10)
        return sign;                               /* below half the smallest subnormal */
      m |= 0x800000u;                              /* subnormal: shift in the implicit bit */
      int shift = 14 - exp;
      uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
      if (rest > halfway || (rest == halfway && (h & 1)))
        h++;
      return sign | (uint16_t) h;
    }
  uint32_t h = ((uint32_t) exp << 10) | (m >> 13), rest = m & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
    h++;                                           /* may carry into the exponent: still right */
  return sign | (uint16_t) h;
}

static inline uint16_t
half_copy_bf16 (float f)
{
  uint32_t x;
  memcpy (&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return 0x7fc0u;                                /* NaN, as torch */
  return (uint16_t) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* The tensors' converted bytes, appended to `data`; their header entries
 * added to `b`. */
static inline bool
half_copy_tensor (const sdcl_st_tensor *t, bool bf16, JsonBuilder *b, GByteArray *data, GError **error)
{
  float *v = g_new (float, t->n_elements ? t->n_elements : 1);
  if (!sdcl_st_to_f32 (t, v))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s is not a float tensor", t->name,
                   t->dtype_name);
      g_free (v);
      return false;
    }
  guint start = data->len;
  const char *dtype = t->nd == 0 ? "F32" : bf16 ? "BF16" : "F16";
  for (int64_t i = 0; i < t->n_elements; i++)
    {
      if (t->nd == 0)
        g_byte_array_append (data, (const guint8 *) &v[i], 4);
      else
        {
          uint16_t h = bf16 ? half_copy_bf16 (v[i]) : half_copy_f16 (v[i]);
          g_byte_array_append (data, (const guint8 *) &h, 2);
        }
    }
  g_free (v);
  json_builder_set_member_name (b, t->name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "dtype");
  json_builder_add_string_value (b, dtype);
  json_builder_set_member_name (b, "shape");
  json_builder_begin_array (b);
  for (int d = 0; d < t->nd; d++)
    json_builder_add_int_value (b, t->shape[d]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "data_offsets");
  json_builder_begin_array (b);
  json_builder_add_int_value (b, start);
  json_builder_add_int_value (b, data->len);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return true;
}

static inline bool
half_copy_write (const char *dst, const char *header, const GByteArray *data, GError **error)
{
  size_t hlen = strlen (header), padded = (hlen + 7) / 8 * 8;
  GByteArray *out = g_byte_array_sized_new ((guint) (8 + padded + data->len));
  uint8_t len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (uint8_t) ((uint64_t) padded >> (8 * i));       /* little endian */
  g_byte_array_append (out, len8, 8);
  g_byte_array_append (out, (const guint8 *) header, (guint) hlen);
  for (size_t i = hlen; i < padded; i++)
    g_byte_array_append (out, (const guint8 *) " ", 1);
  g_byte_array_append (out, data->data, data->len);
  bool ok = g_file_set_contents (dst, (const char *) out->data, out->len, error);
  g_byte_array_free (out, TRUE);
  return ok;
}

static inline bool
half_copy (const char *src, const char *dst, const char *bf16_prefix, GError **error)
{
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  if (sdcl_st_open (src, &f, &err) != SDCL_OK)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s", err.message);
      return false;
    }
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "__metadata__");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "pt");
  json_builder_end_object (b);
  GByteArray *data = g_byte_array_new ();
  bool ok = true;
  for (size_t i = 0; ok && i < sdcl_st_count (f); i++)
    {
      const sdcl_st_tensor *t = sdcl_st_at (f, i);
      ok = half_copy_tensor (t, bf16_prefix && g_str_has_prefix (t->name, bf16_prefix), b, data, error);
    }
  json_builder_end_object (b);
  if (ok)
    {
      JsonGenerator *gen = json_generator_new ();
      JsonNode *root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      char *header = json_generator_to_data (gen, NULL);
      ok = half_copy_write (dst, header, data, error);
      g_free (header);
      json_node_unref (root);
      g_object_unref (gen);
    }
  g_byte_array_free (data, TRUE);
  g_object_unref (b);
  sdcl_st_close (f);
  return ok;
}

/* half_copy() with the LDM .yaml `yaml` copied beside `dst` (the
 * .safetensors suffix replaced by .yaml), as a single file's config. */
static inline bool
half_copy_with_yaml (const char *src, const char *yaml, const char *dst, const char *bf16_prefix,
                     GError **error)
{
  char *text = NULL;
  gsize len = 0;
  g_autofree char *stem = g_strndup (dst, strlen (dst) - (g_str_has_suffix (dst, ".safetensors") ? 12 : 0));
  g_autofree char *dst_yaml = g_strconcat (stem, ".yaml", NULL);
  bool ok = half_copy (src, dst, bf16_prefix, error) && g_file_get_contents (yaml, &text, &len, error)
            && g_file_set_contents (dst_yaml, text, (gssize) len, error);
  g_free (text);
  return ok;
}

#endif /* SDCL_TEST_HALF_COPY_H */

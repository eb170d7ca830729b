/* The per-device GEMM tuning file: path, validation, load, save, and its
 * application at context creation (see gemm_config.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "config.h"
#include "gemm_config.h"
#include "attention.h"
#include "conv_tiled.h"
#include "extensions.h"
#include "gemm.h"
#include "json_strict.h"
#include "sdcl_file.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if SDCL_HAVE_CLBLAST
#include <clblast_c.h>
#endif

#define FORMAT "sdcl-gemm-tune-1"

/* A tuning file is a few KiB; anything larger is not one. */
enum { MAX_FILE_BYTES = 64 * 1024 };

const char *const sdcl_xgemm_param_names[SDCL_XGEMM_NPARAMS] = {
  "GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
  "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN",
};

const char *const sdcl_gemm_fig_names[SDCL_FIG_COUNT] = {
  "own_f16", "own_f32", "clblast_f16", "clblast_f32", "clblast_default_f32",
};

enum { P_GEMMK, P_KREG, P_KWG, P_KWI, P_MDIMA, P_MDIMC, P_MWG, P_NDIMB,
       P_NDIMC, P_NWG, P_SA, P_SB, P_STRM, P_STRN, P_VWM, P_VWN };

char *
sdcl_gemm_config_path (const char *cache_dir, const sdcl_device_info *dev)
{
  char *key = g_strdup_printf ("%s\n%s\n%s", dev->platform, dev->name, dev->driver);
  char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  char *file = g_strconcat ("gemm-", sum, ".json", NULL);
  char *path = g_build_filename (cache_dir, file, NULL);
  g_free (file);
  g_free (sum);
  g_free (key);
  return path;
}

/* ---- validation -------------------------------------------------------- */

static bool
pow2_in (size_t v, size_t lo, size_t hi)
{
  return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

static bool G_GNUC_PRINTF (3, 4)
invalid (char *why, size_t size, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  if (why)
    vsnprintf (why, size, fmt, ap);
  va_end (ap);
  return false;
}

bool
sdcl_xgemm_params_valid (const size_t *v, size_t max_wg, uint64_t local_mem, char *why,
                         size_t why_size)
{
  /* Ranges: CLBlast's tuning space (tuning/kernels/xgemm.hpp) with some
   * room; every size a power of two, every flag 0 or 1. */
  static const struct { int p; size_t lo, hi; } ranges[] = {
    { P_KREG, 1, 16 }, { P_KWG, 1, 256 }, { P_KWI, 1, 16 }, { P_MDIMA, 1, 64 },
    { P_MDIMC, 1, 64 }, { P_MWG, 1, 256 }, { P_NDIMB, 1, 64 }, { P_NDIMC, 1, 64 },
    { P_NWG, 1, 256 }, { P_VWM, 1, 16 }, { P_VWN, 1, 16 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (ranges); i++)
    if (!pow2_in (v[ranges[i].p], ranges[i].lo, ranges[i].hi))
      return invalid (why, why_size, "%s = %zu is not a power of two in [%zu, %zu]",
                      sdcl_xgemm_param_names[ranges[i].p], v[ranges[i].p], ranges[i].lo,
                      ranges[i].hi);
  static const int flags[] = { P_GEMMK, P_SA, P_SB, P_STRM, P_STRN };
  for (size_t i = 0; i < G_N_ELEMENTS (flags); i++)
    if (v[flags[i]] > 1)
      return invalid (why, why_size, "%s = %zu is not 0 or 1", sdcl_xgemm_param_names[flags[i]],
                      v[flags[i]]);
  /* The kernel's own constraints (all operands are powers of two here, so
   * "multiple of" is ">="). */
  const size_t mdimc = v[P_MDIMC], ndimc = v[P_NDIMC];
  if (v[P_KWG] < v[P_KWI] || v[P_MWG] < mdimc * v[P_VWM] || v[P_NWG] < ndimc * v[P_VWN]
      || v[P_MWG] < v[P_MDIMA] * v[P_VWM] || v[P_NWG] < v[P_NDIMB] * v[P_VWN])
    return invalid (why, why_size, "tile sizes violate MWG %% (MDIMC*VWM), NWG %% (NDIMC*VWN), "
                                   "MWG %% (MDIMA*VWM), NWG %% (NDIMB*VWN) or KWG %% KWI");
  if (v[P_GEMMK] == 0
      && (mdimc * ndimc < v[P_MDIMA] || mdimc * ndimc < v[P_NDIMB]
          || v[P_KWG] < mdimc * ndimc / v[P_MDIMA] || v[P_KWG] < mdimc * ndimc / v[P_NDIMB]))
    return invalid (why, why_size, "KWG must be a multiple of MDIMC*NDIMC/MDIMA and /NDIMB");
  if (v[P_GEMMK] == 1
      && (v[P_KREG] < v[P_VWN] || mdimc != v[P_MDIMA] || ndimc != v[P_NDIMB]))
    return invalid (why, why_size, "GEMMK=1 needs KREG %% VWN == 0, MDIMA = MDIMC, NDIMB = NDIMC");
  if (mdimc * ndimc > max_wg)
    return invalid (why, why_size, "work-group MDIMC*NDIMC = %zu exceeds the device's %zu",
                    mdimc * ndimc, max_wg);
  const uint64_t local = 4 * ((uint64_t) v[P_SA] * v[P_KWG] * v[P_MWG]
                              + (uint64_t) v[P_SB] * v[P_KWG] * v[P_NWG]);
  if (local > local_mem)
    return invalid (why, why_size, "needs %" G_GUINT64_FORMAT " bytes of local memory, the device "
                                   "has %" G_GUINT64_FORMAT, local, local_mem);
  return true;
}

/* ---- load -------------------------------------------------------------- */

static bool G_GNUC_PRINTF (2, 3)
fail (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, msg);
  g_free (msg);
  return false;
}

/* The string member `name`, or NULL when absent or not a string. */
static const char *
get_string (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
             ? json_node_get_string (n)
             : NULL;
}

/* An integer member in [lo, hi]. */
static bool
get_int (JsonObject *o, const char *name, gint64 lo, gint64 hi, gint64 *out)
{
  JsonNode *n = json_object_get_member (o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return false;
  *out = json_node_get_int (n);
  return *out >= lo && *out <= hi;
}

/* A number member in [lo, hi] (integers allowed). */
static bool
get_number (JsonObject *o, const char *name, double lo, double hi, double *out)
{
  JsonNode *n = json_object_get_member (o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE (n))
    return false;
  GType t = json_node_get_value_type (n);
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
    return false;
  *out = json_node_get_double (n);
  return *out >= lo && *out <= hi;
}

static bool
parse_xgemm (JsonNode *node, const sdcl_device_info *dev, sdcl_gemm_config *c, GError **error)
{
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return true;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "clblast_xgemm is not an object");
  JsonObject *o = json_node_get_object (node);
  if (json_object_get_size (o) != SDCL_XGEMM_NPARAMS)
    return fail (error, "clblast_xgemm must hold exactly the %d Xgemm parameters",
                 SDCL_XGEMM_NPARAMS);
  for (int i = 0; i < SDCL_XGEMM_NPARAMS; i++)
    {
      gint64 v;
      if (!get_int (o, sdcl_xgemm_param_names[i], 0, 256, &v))
        return fail (error, "clblast_xgemm.%s is missing or not an integer in [0, 256]",
                     sdcl_xgemm_param_names[i]);
      c->xgemm[i] = (size_t) v;
    }
  char why[200];
  if (!sdcl_xgemm_params_valid (c->xgemm, dev->max_work_group_size, dev->local_mem_bytes, why,
                                sizeof why))
    return fail (error, "clblast_xgemm: %s", why);
  c->has_xgemm = true;
  return true;
}

static bool
parse_shapes (JsonNode *node, sdcl_gemm_config *c, GError **error)
{
  if (!node)
    return true;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return fail (error, "shapes is not an array");
  JsonArray *a = json_node_get_array (node);
  if (json_array_get_length (a) > SDCL_GEMM_MAX_SHAPES)
    return fail (error, "more than %d shapes", SDCL_GEMM_MAX_SHAPES);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_OBJECT (e))
        return fail (error, "shapes[%u] is not an object", i);
      JsonObject *o = json_node_get_object (e);
      sdcl_gemm_shape *s = &c->shapes[i];
      gint64 m, n, k;
      if (!get_int (o, "m", 1, 1 << 24, &m) || !get_int (o, "n", 1, 1 << 24, &n)
          || !get_int (o, "k", 1, 1 << 24, &k))
        return fail (error, "shapes[%u]: m, n, k must be integers in [1, 2^24]", i);
      s->m = (int) m, s->n = (int) n, s->k = (int) k;
      for (int f = 0; f < SDCL_FIG_COUNT; f++)
        if (json_object_has_member (o, sdcl_gemm_fig_names[f])
            && !get_number (o, sdcl_gemm_fig_names[f], 0, 1e9, &s->gflops[f]))
          return fail (error, "shapes[%u].%s is not a number in [0, 1e9]", i,
                       sdcl_gemm_fig_names[f]);
    }
  c->nshapes = (int) json_array_get_length (a);
  return true;
}

/* The name of entry i of "tiles" (gemm_tiled_f32, gemm_tiled_f16,
 * conv_tiled_f32, conv_tiled_f16, attention_tiled_<width>, then
 * gemm_panel), its slot in t and its table's length. */
enum { N_TILE_ENTRIES = 5 + SDCL_ATTN_TUNED_WIDTHS };

static int *
tile_entry (sdcl_tile_choice *t, int i, char *name, size_t size, int *count)
{
  if (i == N_TILE_ENTRIES - 1)
    {
      g_snprintf (name, size, "gemm_panel");
      *count = sdcl_n_panel_configs;
      return &t->panel;
    }
  if (i < 4)
    {
      const bool conv = i >= 2;
      g_snprintf (name, size, "%s_tiled_%s", conv ? "conv" : "gemm", i % 2 == 0 ? "f32" : "f16");
      *count = conv ? sdcl_n_conv_tiled_configs : sdcl_n_tiled_configs;
      return conv ? &t->conv[i % 2] : &t->gemm[i];
    }
  g_snprintf (name, size, "attention_tiled_%d", sdcl_attn_tuned_widths[i - 4]);
  *count = sdcl_n_attn_tiled_configs;
  return &t->attention[i - 4];
}

static bool
parse_tiles (JsonNode *node, sdcl_tile_choice *t, GError **error)
{
  sdcl_tile_choice_clear (t);
  if (!node)
    return true;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "tiles is not an object");
  JsonObject *o = json_node_get_object (node);
  guint known = 0;
  for (int i = 0; i < N_TILE_ENTRIES; i++)
    {
      char name[40];
      int count;
      int *slot = tile_entry (t, i, name, sizeof name, &count);
      if (!json_object_has_member (o, name))
        continue;
      gint64 v;
      if (!get_int (o, name, 0, count - 1, &v))
        return fail (error, "tiles.%s is not a configuration index in [0, %d]", name, count - 1);
      *slot = (int) v;
      known++;
    }
  if (known != json_object_get_size (o))
    return fail (error, "tiles has members other than gemm_tiled_f32/f16, conv_tiled_f32/f16, "
                        "gemm_panel and attention_tiled_<head width>");
  return true;
}

/* "extensions": per variant of extensions.h, under ext_keys[e], an object
 * { "choice": "half" | "fp32", "half_seconds": s, "fp32_seconds": s }
 * (words of sdcl_ext_tuned_word; the seconds optional, for people). */
static const char *const ext_keys[SDCL_N_EXTS] = { "fp16", "subgroups" };

static bool
parse_ext_entry (JsonNode *node, sdcl_ext e, sdcl_ext_tuned *out, GError **error)
{
  const char *key = ext_keys[e];
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "extensions.%s is not an object", key);
  JsonObject *o = json_node_get_object (node);
  const char *choice = get_string (o, "choice");
  sdcl_ext_tuned t = { .use = -1 };
  for (int v = 0; v < 2 && choice; v++)
    if (strcmp (choice, sdcl_ext_tuned_word (e, v)) == 0)
      t.use = v;
  if (t.use < 0)
    return fail (error, "extensions.%s.choice must be \"%s\" or \"%s\"", key,
                 sdcl_ext_tuned_word (e, true), sdcl_ext_tuned_word (e, false));
  guint known = 1;
  for (int v = 0; v < 2; v++)
    {
      char name[40];
      g_snprintf (name, sizeof name, "%s_seconds", sdcl_ext_tuned_word (e, v));
      if (!json_object_has_member (o, name))
        continue;
      if (!get_number (o, name, 0, 1e6, &t.seconds[v]))
        return fail (error, "extensions.%s.%s is not a number in [0, 1e6]", key, name);
      known++;
    }
  if (known != json_object_get_size (o))
    return fail (error, "extensions.%s has members other than choice, %s_seconds and %s_seconds",
                 key, sdcl_ext_tuned_word (e, true), sdcl_ext_tuned_word (e, false));
  *out = t;
  return true;
}

static bool
parse_extensions (JsonNode *node, sdcl_tile_choice *t, GError **error)
{
  if (!node)
    return true;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "extensions is not an object");
  JsonObject *o = json_node_get_object (node);
  guint known = 0;
  for (int e = 0; e < SDCL_N_EXTS; e++)
    {
      JsonNode *entry = json_object_get_member (o, ext_keys[e]);
      if (!entry)
        continue;
      if (!parse_ext_entry (entry, (sdcl_ext) e, &t->ext[e], error))
        return false;
      known++;
    }
  if (known != json_object_get_size (o))
    return fail (error, "extensions has members other than fp16 and subgroups");
  return true;
}

static bool
parse_root (JsonObject *root, const sdcl_device_info *dev, sdcl_gemm_config *c, GError **error)
{
  const char *format = get_string (root, "format");
  if (!format || strcmp (format, FORMAT) != 0)
    return fail (error, "not an sdcl GEMM tuning file (format is not \"" FORMAT "\")");
  const char *platform = get_string (root, "platform"), *device = get_string (root, "device");
  const char *driver = get_string (root, "driver");
  if (!platform || !device || !driver || strcmp (platform, dev->platform) != 0
      || strcmp (device, dev->name) != 0 || strcmp (driver, dev->driver) != 0)
    return fail (error, "made for another device or driver");
  const char *backend = get_string (root, "backend");
  if (backend && strcmp (backend, "own") == 0)
    c->backend = SDCL_GEMM_OWN;
  else if (backend && strcmp (backend, "clblast") == 0)
    c->backend = SDCL_GEMM_CLBLAST;
  else
    return fail (error, "backend must be \"own\" or \"clblast\"");
  if (json_object_has_member (root, "fraction")
      && !get_number (root, "fraction", 0, 1, &c->fraction))
    return fail (error, "fraction is not a number in [0, 1]");
  if (json_object_has_member (root, "tune_seconds")
      && !get_number (root, "tune_seconds", 0, 1e7, &c->tune_seconds))
    return fail (error, "tune_seconds is not a number in [0, 1e7]");
  return parse_xgemm (json_object_get_member (root, "clblast_xgemm"), dev, c, error)
         && parse_shapes (json_object_get_member (root, "shapes"), c, error)
         && parse_tiles (json_object_get_member (root, "tiles"), &c->tiles, error)
         && parse_extensions (json_object_get_member (root, "extensions"), &c->tiles, error);
}

bool
sdcl_gemm_config_load (const char *path, const sdcl_device_info *dev, sdcl_gemm_config *out,
                       GError **error)
{
  char *text = NULL;
  size_t len = 0;
  if (!sdcl_file_read_small (path, "GEMM tuning file", MAX_FILE_BYTES, &text, &len, error))
    return false;
  bool ok = sdcl_gemm_config_parse (text, len, dev, out, error);
  g_free (text);
  return ok;
}

bool
sdcl_gemm_config_parse (const char *text, size_t len, const sdcl_device_info *dev,
                        sdcl_gemm_config *out, GError **error)
{
  char msg[256];
  bool ok = false;
  if (len > MAX_FILE_BYTES || !sdcl_json_check_strict (text, len, msg, sizeof msg))
    return fail (error, "not strict JSON: %s", len > MAX_FILE_BYTES ? "too large" : msg);
  JsonParser *parser = json_parser_new ();
  if (json_parser_load_from_data (parser, text, (gssize) len, error))
    {
      JsonNode *root = json_parser_get_root (parser);
      sdcl_gemm_config c = { 0 };
      if (!root || !JSON_NODE_HOLDS_OBJECT (root))
        fail (error, "the top level is not an object");
      else if (parse_root (json_node_get_object (root), dev, &c, error))
        {
          *out = c;
          ok = true;
        }
    }
  g_object_unref (parser);
  return ok;
}

/* ---- save -------------------------------------------------------------- */

static void
add_shapes (JsonBuilder *b, const sdcl_gemm_config *c)
{
  json_builder_set_member_name (b, "shapes");
  json_builder_begin_array (b);
  for (int i = 0; i < c->nshapes; i++)
    {
      const sdcl_gemm_shape *s = &c->shapes[i];
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "m");
      json_builder_add_int_value (b, s->m);
      json_builder_set_member_name (b, "n");
      json_builder_add_int_value (b, s->n);
      json_builder_set_member_name (b, "k");
      json_builder_add_int_value (b, s->k);
      for (int f = 0; f < SDCL_FIG_COUNT; f++)
        if (s->gflops[f] > 0)
          {
            json_builder_set_member_name (b, sdcl_gemm_fig_names[f]);
            /* To 0.01 GFLOP/s: the timing is not finer. */
            json_builder_add_double_value (b, (double) (gint64) (s->gflops[f] * 100 + 0.5) / 100);
          }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static void
add_tiles (JsonBuilder *b, const sdcl_gemm_config *c)
{
  sdcl_tile_choice t = c->tiles;
  json_builder_set_member_name (b, "tiles");
  json_builder_begin_object (b);
  for (int i = 0; i < N_TILE_ENTRIES; i++)
    {
      char name[40];
      int count;
      const int *slot = tile_entry (&t, i, name, sizeof name, &count);
      if (*slot < 0)
        continue;
      json_builder_set_member_name (b, name);
      json_builder_add_int_value (b, *slot);
    }
  json_builder_end_object (b);
}

static void
add_extensions (JsonBuilder *b, const sdcl_gemm_config *c)
{
  json_builder_set_member_name (b, "extensions");
  json_builder_begin_object (b);
  for (int e = 0; e < SDCL_N_EXTS; e++)
    {
      const sdcl_ext_tuned *t = &c->tiles.ext[e];
      if (t->use < 0)
        continue;
      json_builder_set_member_name (b, ext_keys[e]);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "choice");
      json_builder_add_string_value (b, sdcl_ext_tuned_word ((sdcl_ext) e, t->use == 1));
      for (int v = 1; v >= 0; v--)
        {
          char name[40];
          g_snprintf (name, sizeof name, "%s_seconds", sdcl_ext_tuned_word ((sdcl_ext) e, v));
          json_builder_set_member_name (b, name);
          /* To the microsecond: the timing is not finer. */
          json_builder_add_double_value (b, (double) (gint64) (t->seconds[v] * 1e6 + 0.5) / 1e6);
        }
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
}

bool
sdcl_gemm_config_save (const char *path, const sdcl_device_info *dev, const sdcl_gemm_config *c,
                       GError **error)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  const char *strings[][2] = {
    { "format", FORMAT }, { "platform", dev->platform }, { "device", dev->name },
    { "driver", dev->driver }, { "backend", c->backend == SDCL_GEMM_CLBLAST ? "clblast" : "own" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (strings); i++)
    {
      json_builder_set_member_name (b, strings[i][0]);
      json_builder_add_string_value (b, strings[i][1]);
    }
  json_builder_set_member_name (b, "fraction");
  json_builder_add_double_value (b, c->fraction);
  json_builder_set_member_name (b, "tune_seconds");
  json_builder_add_double_value (b, (double) (gint64) (c->tune_seconds * 10 + 0.5) / 10);
  json_builder_set_member_name (b, "clblast_xgemm");
  if (c->has_xgemm)
    {
      json_builder_begin_object (b);
      for (int i = 0; i < SDCL_XGEMM_NPARAMS; i++)
        {
          json_builder_set_member_name (b, sdcl_xgemm_param_names[i]);
          json_builder_add_int_value (b, (gint64) c->xgemm[i]);
        }
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
  add_shapes (b, c);
  add_tiles (b, c);
  add_extensions (b, c);
  json_builder_end_object (b);

  JsonGenerator *gen = json_generator_new ();
  JsonNode *root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  gsize len = 0;
  char *text = json_generator_to_data (gen, &len);
  char *dir = g_path_get_dirname (path);
  bool ok = true;
  if (g_mkdir_with_parents (dir, 0700) != 0)
    ok = fail (error, "cannot create %s", dir);
  else
    ok = g_file_set_contents (path, text, (gssize) len, error);
  g_free (dir);
  g_free (text);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  return ok;
}

/* ---- application ------------------------------------------------------- */

bool
sdcl_gemm_clblast_override (cl_device_id device, const size_t *values, char *msg, size_t msg_size)
{
#if SDCL_HAVE_CLBLAST
  CLBlastStatusCode rc
      = CLBlastOverrideParameters (device, "Xgemm", CLBlastPrecisionSingle, SDCL_XGEMM_NPARAMS,
                                   (const char **) sdcl_xgemm_param_names, values);
  if (rc == CLBlastSuccess)
    return true;
  g_snprintf (msg, msg_size, "CLBlast refused the Xgemm parameters (status %d)", (int) rc);
  return false;
#else
  (void) device, (void) values;
  g_snprintf (msg, msg_size, "sdcl was built without CLBlast");
  return false;
#endif
}

void
sdcl_gemm_config_apply (sdcl_cl *cl, sdcl_gemm_backend *backend)
{
  const char *dir = sdcl_cl_cache_dir (cl);
  if (!dir)
    return;
  char *path = sdcl_gemm_config_path (dir, sdcl_cl_device (cl));
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      sdcl_gemm_config c;
      GError *error = NULL;
      char msg[200];
      if (!sdcl_gemm_config_load (path, sdcl_cl_device (cl), &c, &error))
        fprintf (stderr, "sdcl: warning: ignoring the GEMM tuning file %s: %s\n", path,
                 error->message);
      else if (c.has_xgemm && SDCL_HAVE_CLBLAST
               && !sdcl_gemm_clblast_override (sdcl_cl_device_id (cl), c.xgemm, msg, sizeof msg))
        fprintf (stderr, "sdcl: warning: ignoring the GEMM tuning file %s: %s\n", path, msg);
      else
        {
          *backend = c.backend;
          *sdcl_cl_tile_choice (cl) = c.tiles;
        }
      g_clear_error (&error);
    }
  g_free (path);
}

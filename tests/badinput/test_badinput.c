/* The bad-input table (bad-inputs.tsv): every row is run through the public
 * API or the sdcl command and must give its error code and a message
 * containing its fragment, without crashing.  Leaks are found by running
 * this test under ASan/LSan and valgrind (tools/run-sanitizers.sh).
 *
 *   test-badinput TABLE SDCL_CLI
 *
 * Bad models are derived at test time from the tiny fixture models: the
 * safetensors header of the single-file checkpoint is parsed, edited and
 * written back (with the same data), or a diffusers folder is copied and a
 * file in it replaced.  Files that are not files (FIFOs, folders, devices,
 * oversized files) and the PNG side limit are in files_cases.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "api_internal.h"
#include "pipeline_internal.h"
#include "clrt_internal.h"
#include "badinput.h"
#include "check.h"
#include "model_writer.h"
#include "phase_cancel.h"
#include "sdcl.h"
#include "badinput.h"

/* ---- the table --------------------------------------------------------- */


static GPtrArray *rows;
char *tmp_root, *fixtures, *sdcl_cli;
sdcl_ctx *ctx;
sdcl_model *tiny;   /* the regular tiny model, loaded once */

static void
row_free (gpointer p)
{
  row *r = p;
  g_free (r->id);
  g_free (r->via);
  g_free (r->expect);
  g_free (r->message);
  g_free (r);
}

static bool
load_table (const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return false;
  rows = g_ptr_array_new_with_free_func (row_free);
  char **lines = g_strsplit (text, "\n", -1);
  for (int i = 0; lines[i]; i++)
    {
      if (lines[i][0] == '#' || lines[i][0] == '\0')
        continue;
      char **f = g_strsplit (lines[i], "\t", -1);
      if (g_strv_length (f) != 5)
        {
          CHECK (false, "%s line %d: %u fields, expected 5", path, i + 1, g_strv_length (f));
          g_strfreev (f);
          continue;
        }
      row *r = g_new0 (row, 1);
      r->id = g_strdup (f[0]);
      r->via = g_strdup (f[1]);
      r->expect = g_strdup (f[2]);
      r->message = g_strdup (f[3]);
      g_ptr_array_add (rows, r);
      g_strfreev (f);
    }
  g_strfreev (lines);
  g_free (text);
  return true;
}

row *
find_row (const char *id)
{
  for (guint i = 0; i < rows->len; i++)
    {
      row *r = g_ptr_array_index (rows, i);
      if (strcmp (r->id, id) == 0)
        return r;
    }
  return NULL;
}

/* Checks an API result against the row. */
void
expect_api (const char *id, sdcl_status st, const sdcl_error *err)
{
  row *r = find_row (id);
  CHECK (r != NULL, "case %s has no row in the table", id);
  if (!r)
    return;
  CHECK (!r->done, "case %s ran twice", id);
  r->done = true;
  CHECK (strcmp (r->via, "api") == 0, "%s: table says via %s", id, r->via);
  const char *got = st == SDCL_OK ? "ok" : sdcl_status_name (st);
  CHECK (strcmp (got, r->expect) == 0, "%s: expected %s, got %s (%s)", id, r->expect, got,
         st ? err->message : "");
  if (st != SDCL_OK)
    {
      CHECK (err->code == st, "%s: err.code %d differs from the status %d", id, err->code, st);
      CHECK (strstr (err->message, r->message) != NULL, "%s: message '%s' lacks '%s'", id,
             err->message, r->message);
    }
  fprintf (stderr, "[%s] %s: %s\n", id, got, st ? err->message : "");
}

/* ---- files ------------------------------------------------------------- */

char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_root, name, NULL);
}

void
copy_tree (const char *from, const char *to)
{
  g_mkdir_with_parents (to, 0700);
  GDir *d = g_dir_open (from, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      char *a = g_build_filename (from, name, NULL);
      char *b = g_build_filename (to, name, NULL);
      if (g_file_test (a, G_FILE_TEST_IS_DIR))
        copy_tree (a, b);
      else
        {
          char *data;
          gsize len;
          if (g_file_get_contents (a, &data, &len, NULL))
            {
              CHECK (g_file_set_contents (b, data, (gssize) len, NULL), "copy %s", b);
              g_free (data);
            }
        }
      g_free (a);
      g_free (b);
    }
  if (d)
    g_dir_close (d);
}

/* A safetensors file split into its header object and data. */
typedef struct {
  JsonNode *root;    /* the header */
  GByteArray *data;  /* bytes after the header */
} st_parts;

static bool
st_read (const char *path, st_parts *p)
{
  char *bytes;
  gsize len;
  memset (p, 0, sizeof *p);
  if (!g_file_get_contents (path, &bytes, &len, NULL) || len < 8)
    return false;
  uint64_t n;
  memcpy (&n, bytes, 8);   /* little-endian host (x86, arm) */
  JsonParser *parser = json_parser_new ();
  bool ok = n <= len - 8 && json_parser_load_from_data (parser, bytes + 8, (gssize) n, NULL);
  if (ok)
    {
      p->root = json_node_copy (json_parser_get_root (parser));
      p->data = g_byte_array_new ();
      g_byte_array_append (p->data, (const guint8 *) bytes + 8 + n, (guint) (len - 8 - n));
    }
  g_object_unref (parser);
  g_free (bytes);
  return ok;
}

/* Writes header + data; `data_len` < data->len truncates the data. */
static void
st_write (const char *path, const st_parts *p, size_t data_len)
{
  JsonGenerator *gen = json_generator_new ();
  json_generator_set_root (gen, p->root);
  gsize hlen;
  char *header = json_generator_to_data (gen, &hlen);
  g_object_unref (gen);
  GByteArray *out = g_byte_array_new ();
  uint64_t n = hlen;
  g_byte_array_append (out, (const guint8 *) &n, 8);
  g_byte_array_append (out, (const guint8 *) header, (guint) hlen);
  g_byte_array_append (out, p->data->data, (guint) MIN (data_len, p->data->len));
  CHECK (g_file_set_contents (path, (const char *) out->data, out->len, NULL), "write %s", path);
  g_byte_array_unref (out);
  g_free (header);
}

static void
st_clear (st_parts *p)
{
  if (p->root)
    json_node_unref (p->root);
  if (p->data)
    g_byte_array_unref (p->data);
}

static JsonObject *
st_tensor (st_parts *p, const char *name)
{
  JsonObject *o = json_node_get_object (p->root);
  JsonNode *n = json_object_get_member (o, name);
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static int64_t
st_offset (JsonObject *t, int i)
{
  return json_array_get_int_element (json_object_get_array_member (t, "data_offsets"), (guint) i);
}

static void
st_set_offsets (JsonObject *t, int64_t a, int64_t b)
{
  JsonArray *arr = json_array_new ();
  json_array_add_int_element (arr, a);
  json_array_add_int_element (arr, b);
  json_object_set_array_member (t, "data_offsets", arr);
}

/* Adds a 1-element F32 tensor at the end of the data. */
static void
st_add_tensor (st_parts *p, const char *name)
{
  JsonObject *t = json_object_new ();
  json_object_set_string_member (t, "dtype", "F32");
  JsonArray *shape = json_array_new ();
  json_array_add_int_element (shape, 1);
  json_object_set_array_member (t, "shape", shape);
  st_set_offsets (t, p->data->len, p->data->len + 4);
  float one = 1.0f;
  g_byte_array_append (p->data, (const guint8 *) &one, 4);
  json_object_set_object_member (json_node_get_object (p->root), name, t);
}

#define LDM "tiny-sd-ldm.safetensors"
#define LDM_F16 "tiny-sd-ldm-f16.safetensors"
#define UNET_T "model.diffusion_model.time_embed.0.weight"   /* 2-D, not square */
#define VAE_T "first_stage_model.decoder.conv_in.weight"

/* Loads `path` with default parameters and checks it against row `id`;
 * a model that loads is freed. */
void
load_case (const char *id, const char *path, const sdcl_model_params *mp)
{
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_model_load (ctx, path, mp, &m, &err);
  CHECK ((st == SDCL_OK) == (m != NULL), "%s: model pointer and status disagree", id);
  expect_api (id, st, &err);
  sdcl_model_free (m);
}

typedef void (*edit_fn) (st_parts *p);

/* Copies the single-file fixture `base` with its header edited by `edit`
 * (and the data cut to data_len bytes when >= 0), then loads it. */
static void
ldm_case (const char *id, const char *base, edit_fn edit, int64_t data_len)
{
  char *src = g_build_filename (fixtures, "models", base, NULL);
  char *dst = tmp_path ("bad.safetensors");
  st_parts p;
  CHECK (st_read (src, &p), "%s: cannot read %s", id, src);
  if (p.root)
    {
      if (edit)
        edit (&p);
      st_write (dst, &p, data_len >= 0 ? (size_t) data_len : p.data->len);
      load_case (id, dst, NULL);
    }
  st_clear (&p);
  g_unlink (dst);
  g_free (dst);
  g_free (src);
}

static void
raw_case (const char *id, const void *bytes, size_t len)
{
  char *dst = tmp_path ("raw.safetensors");
  CHECK (g_file_set_contents (dst, bytes, (gssize) len, NULL), "write %s", dst);
  load_case (id, dst, NULL);
  g_unlink (dst);
  g_free (dst);
}

/* ---- model file cases -------------------------------------------------- */

static void
edit_overlap (st_parts *p)
{
  JsonObject *a = st_tensor (p, UNET_T);
  JsonObject *b = st_tensor (p, "model.diffusion_model.time_embed.0.bias");
  /* a follows b in the file: moved 4 bytes back, it overlaps b's end. */
  (void) b;
  st_set_offsets (a, st_offset (a, 0) - 4, st_offset (a, 1) - 4);
}

/* The tensor whose data ends last. */
static JsonObject *
last_tensor (st_parts *p)
{
  JsonObject *o = json_node_get_object (p->root), *best = NULL;
  GList *names = json_object_get_members (o);
  for (GList *l = names; l; l = l->next)
    {
      JsonObject *t = st_tensor (p, l->data);
      if (t && strcmp (l->data, "__metadata__") != 0 && (!best || st_offset (t, 1) > st_offset (best, 1)))
        best = t;
    }
  g_list_free (names);
  return best;
}

static void
edit_out_of_range (st_parts *p)
{
  JsonObject *t = last_tensor (p);
  st_set_offsets (t, st_offset (t, 0), st_offset (t, 1) + 4);
}

static void
edit_reversed (st_parts *p)
{
  JsonObject *t = st_tensor (p, UNET_T);
  st_set_offsets (t, st_offset (t, 1), st_offset (t, 0));
}

static void
edit_dtype_f16 (st_parts *p)
{
  json_object_set_string_member (st_tensor (p, UNET_T), "dtype", "F16");
}

static void
edit_dtype_i32 (st_parts *p)
{
  json_object_set_string_member (st_tensor (p, UNET_T), "dtype", "I32");
}

static void
edit_shape_swap (st_parts *p)
{
  JsonObject *t = st_tensor (p, UNET_T);
  JsonArray *s = json_object_get_array_member (t, "shape");
  int64_t a = json_array_get_int_element (s, 0), b = json_array_get_int_element (s, 1);
  JsonArray *n = json_array_new ();
  json_array_add_int_element (n, b);
  json_array_add_int_element (n, a);
  json_object_set_array_member (t, "shape", n);
}

static void
set_value_bytes (st_parts *p, const char *name, int64_t element, const void *bytes, size_t size)
{
  JsonObject *t = st_tensor (p, name);
  int64_t at = st_offset (t, 0) + element * (int64_t) size;
  memcpy (p->data->data + at, bytes, size);
}

static void
edit_nan (st_parts *p)
{
  uint32_t nan_bits = 0x7fc00000u;
  set_value_bytes (p, UNET_T, 5, &nan_bits, 4);
}

static void
edit_inf_f16 (st_parts *p)
{
  uint16_t inf_bits = 0x7c00u;   /* F16 +Inf */
  set_value_bytes (p, UNET_T, 3, &inf_bits, 2);
}

static void
edit_inf_bf16 (st_parts *p)
{
  uint16_t inf_bits = 0xff80u;   /* BF16 -Inf (the F16 fixture keeps its VAE in BF16) */
  set_value_bytes (p, VAE_T, 7, &inf_bits, 2);
}

static void
edit_remove (st_parts *p)
{
  /* Removing leaves a hole in the data, which is itself an error; point
   * the neighbour over the hole is not possible, so remove the last one
   * and cut its bytes. */
  JsonObject *o = json_node_get_object (p->root);
  JsonObject *last = last_tensor (p);
  GList *names = json_object_get_members (o);
  for (GList *l = names; l; l = l->next)
    if (st_tensor (p, l->data) == last)
      {
        int64_t begin = st_offset (last, 0);
        char *name = g_strdup (l->data);
        json_object_remove_member (o, name);
        g_byte_array_set_size (p->data, (guint) begin);
        fprintf (stderr, "missing_tensor: removed %s\n", name);
        g_free (name);
        break;
      }
  g_list_free (names);
}

static void
edit_sd2 (st_parts *p)
{
  st_add_tensor (p, "cond_stage_model.model.ln_final.weight");
}

/* SD 2.x single files (tiny-sd2-ldm): fused q/k/v of the last resblock run
 * removed, and an MLP weight of it transposed. */
#define SD2_RESBLOCK "cond_stage_model.model.transformer.resblocks.2."

/* Renamed to a name nothing reads: its bytes stay where they were (a
 * removed entry would leave a hole in the data, an error of its own). */
static void
edit_sd2_text_missing (st_parts *p)
{
  JsonObject *o = json_node_get_object (p->root);
  JsonObject *t = json_object_ref (st_tensor (p, SD2_RESBLOCK "attn.in_proj_weight"));
  json_object_remove_member (o, SD2_RESBLOCK "attn.in_proj_weight");
  json_object_set_object_member (o, SD2_RESBLOCK "attn.in_proj_weight_unused", t);
}

static void
edit_sd2_text_misshaped (st_parts *p)
{
  JsonObject *t = st_tensor (p, SD2_RESBLOCK "mlp.c_fc.weight");
  JsonArray *s = json_object_get_array_member (t, "shape");
  int64_t a = json_array_get_int_element (s, 0), b = json_array_get_int_element (s, 1);
  JsonArray *n = json_array_new ();
  json_array_add_int_element (n, b);
  json_array_add_int_element (n, a);
  json_object_set_array_member (t, "shape", n);
}

/* An SD 2.x case: the edited file gets the fixture's eps .yaml beside it
 * (the tiny model's head width is not SD 2.x's 64, and only the yaml says
 * so), with `append` added at its end when given. */
static void
sd2_case (const char *id, edit_fn edit, const char *append)
{
  char *yaml = g_build_filename (fixtures, "models", "tiny-sd2-ldm.yaml", NULL);
  char *dst = tmp_path ("bad.yaml");
  char *text = NULL;
  gsize len = 0;
  CHECK (g_file_get_contents (yaml, &text, &len, NULL), "%s: read %s", id, yaml);
  char *full = g_strconcat (text ? text : "", append ? append : "", NULL);
  CHECK (g_file_set_contents (dst, full, -1, NULL), "%s: write %s", id, dst);
  g_free (full);
  ldm_case (id, "tiny-sd2-ldm.safetensors", edit, -1);
  g_remove (dst);
  g_free (text);
  g_free (dst);
  g_free (yaml);
}

/* SD 2.x 768-v weights whose yaml does not say v (the eps one beside
 * them): the model loads as epsilon, at 512, and says where that comes
 * from; --prediction v (sdcl_model_params.prediction) corrects it. */
static void
sd2_v_unsaid (void)
{
  char *src = g_build_filename (fixtures, "models", "tiny-sd2-v-ldm.safetensors", NULL);
  char *yaml = g_build_filename (fixtures, "models", "tiny-sd2-ldm.yaml", NULL);
  char *dst = tmp_path ("v.safetensors"), *dst_yaml = tmp_path ("v.yaml");
  char *text = NULL, *yt = NULL;
  gsize len = 0, ylen = 0;
  CHECK (g_file_get_contents (src, &text, &len, NULL) && g_file_set_contents (dst, text, len, NULL)
         && g_file_get_contents (yaml, &yt, &ylen, NULL) && g_file_set_contents (dst_yaml, yt, ylen, NULL),
         "copy the v model");
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_model_load (ctx, dst, NULL, &m, &err);
  expect_api ("sd2_v_unsaid", st, &err);
  if (m)
    {
      sdcl_model_info info;
      sdcl_model_get_info (m, &info);
      CHECK (info.prediction == SDCL_PREDICTION_EPSILON && info.native_resolution == 512
             && !strcmp (info.prediction_source, "family default"),
             "unsaid v: prediction %d at %d from %s", info.prediction, info.native_resolution,
             info.prediction_source);
      sdcl_model_free (m);
    }
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.prediction = SDCL_PREDICTION_FORCE_V;
  CHECK (sdcl_model_load (ctx, dst, &mp, &m, &err) == SDCL_OK, "--prediction v: %s", err.message);
  if (m)
    {
      sdcl_model_info info;
      sdcl_model_get_info (m, &info);
      CHECK (info.prediction == SDCL_PREDICTION_V && info.native_resolution == 768
             && !strcmp (info.prediction_source, "model parameters"),
             "forced v: prediction %d at %d from %s", info.prediction, info.native_resolution,
             info.prediction_source);
      sdcl_model_free (m);
    }
  g_remove (dst);
  g_remove (dst_yaml);
  g_free (text);
  g_free (yt);
  g_free (dst);
  g_free (dst_yaml);
  g_free (yaml);
  g_free (src);
}

static void
edit_sdxl (st_parts *p)
{
  st_add_tensor (p, "conditioner.embedders.1.model.ln_final.weight");
}

static void
test_model_files (void)
{
  char *ldm = g_build_filename (fixtures, "models", LDM, NULL);
  char *bytes;
  gsize len;
  if (g_file_get_contents (ldm, &bytes, &len, NULL))
    {
      raw_case ("truncated_file", bytes, len / 2);
      raw_case ("tiny_file", bytes, 5);
      char *copy = g_memdup2 (bytes, len);
      uint64_t n = (uint64_t) len * 2;
      memcpy (copy, &n, 8);
      raw_case ("header_beyond_file", copy, len);
      /* The same key twice: written by hand, as JSON libraries refuse it. */
      const char dup[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
      uint64_t dn = sizeof dup - 1;
      memcpy (copy, &dn, 8);
      memcpy (copy + 8, dup, dn);
      raw_case ("duplicate_key", copy, 8 + dn + 8);
      g_free (copy);
      g_free (bytes);
    }
  ldm_case ("offsets_overlap", LDM, edit_overlap, -1);
  ldm_case ("offsets_out_of_range", LDM, edit_out_of_range, -1);
  ldm_case ("offsets_reversed", LDM, edit_reversed, -1);
  ldm_case ("dtype_size_mismatch", LDM, edit_dtype_f16, -1);
  ldm_case ("dtype_not_float", LDM, edit_dtype_i32, -1);
  ldm_case ("shape_mismatch", LDM, edit_shape_swap, -1);
  ldm_case ("nan_weights", LDM, edit_nan, -1);
  ldm_case ("inf_weights", LDM_F16, edit_inf_f16, -1);
  ldm_case ("inf_weights_bf16", LDM_F16, edit_inf_bf16, -1);
  ldm_case ("missing_tensor", LDM, edit_remove, -1);
  ldm_case ("family_sd2", LDM, edit_sd2, -1);
  ldm_case ("family_sdxl", LDM, edit_sdxl, -1);
  sd2_case ("sd2_text_missing", edit_sd2_text_missing, NULL);
  sd2_case ("sd2_text_misshaped", edit_sd2_text_misshaped, NULL);
  sd2_case ("sd2_yaml_parameterization", NULL, "    parameterization: \"x0\"\n");
  sd2_case ("sd2_yaml_head_channels", NULL, "        num_head_channels: sixty-four\n");
  sd2_v_unsaid ();
  g_free (ldm);

  char *missing = tmp_path ("does-not-exist");
  load_case ("model_missing", missing, NULL);
  g_free (missing);

  /* A weight storage the library does not have (the enum's next value). */
  char *folder = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = (sdcl_weight_precision) (SDCL_WEIGHTS_Q8 + 1);
  load_case ("precision_unknown", folder, &mp);
  g_free (folder);
}

/* ---- diffusers folder cases -------------------------------------------- */

char *
folder_copy (const char *name)
{
  char *src = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  char *dst = tmp_path (name);
  copy_tree (src, dst);
  g_free (src);
  return dst;
}

void
replace_file (const char *dir, const char *rel, const char *text)
{
  char *p = g_build_filename (dir, rel, NULL);
  CHECK (g_file_set_contents (p, text, -1, NULL), "write %s", p);
  g_free (p);
}

/* The UNet weights moved to `target` (relative to unet/) and a shard
 * index naming `shard` for every tensor. */
static void
shard_case (const char *id, const char *shard, bool make_symlink)
{
  char *dir = folder_copy ("sharded");
  char *plain = g_build_filename (dir, "unet", "diffusion_pytorch_model.safetensors", NULL);
  char *moved = g_build_filename (dir, "weights-elsewhere.safetensors", NULL);
  CHECK (g_rename (plain, moved) == 0, "rename %s", plain);
  if (make_symlink)
    {
      char *link = g_build_filename (dir, "unet", shard, NULL);
      CHECK (symlink (moved, link) == 0, "symlink %s", link);
      g_free (link);
    }
  st_parts p;
  GString *index = g_string_new ("{\"metadata\":{},\"weight_map\":{");
  if (st_read (moved, &p))
    {
      GList *names = json_object_get_members (json_node_get_object (p.root));
      bool first = true;
      for (GList *l = names; l; l = l->next)
        {
          if (strcmp (l->data, "__metadata__") == 0)
            continue;
          char *esc = g_strescape (shard, NULL);
          g_string_append_printf (index, "%s\"%s\":\"%s\"", first ? "" : ",", (char *) l->data, esc);
          g_free (esc);
          first = false;
        }
      g_list_free (names);
      st_clear (&p);
    }
  g_string_append (index, "}}");
  replace_file (dir, "unet/diffusion_pytorch_model.safetensors.index.json", index->str);
  g_string_free (index, TRUE);
  load_case (id, dir, NULL);
  remove_tree (dir);
  g_free (plain);
  g_free (moved);
  g_free (dir);
}

static void
test_folders (void)
{
  char *dir = folder_copy ("sdxl-index");
  replace_file (dir, "model_index.json",
                "{\"_class_name\":\"StableDiffusionXLPipeline\",\"text_encoder\":[\"transformers\","
                "\"CLIPTextModel\"],\"text_encoder_2\":[\"transformers\",\"CLIPTextModelWithProjection\"]}");
  load_case ("family_sdxl_index", dir, NULL);
  remove_tree (dir);
  g_free (dir);

  shard_case ("shard_absolute_path", "/etc/passwd", false);
  shard_case ("shard_dotdot", "../unet/diffusion_pytorch_model.safetensors", false);
  shard_case ("shard_subfolder", "sub/x.safetensors", false);
  shard_case ("shard_symlink_inside", "linked.safetensors", true);

  char *tiny_dir = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  char *empty = tmp_path ("empty-tokenizer");
  g_mkdir (empty, 0700);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.tokenizer_dir = empty;
  load_case ("tokenizer_dir_empty", tiny_dir, &mp);
  char *nothing = tmp_path ("no-tokenizer-here");
  mp.tokenizer_dir = nothing;
  load_case ("tokenizer_dir_missing", tiny_dir, &mp);
  g_rmdir (empty);
  g_free (empty);
  g_free (nothing);
  g_free (tiny_dir);

  char *inpaint_dir = g_build_filename (fixtures, "models", "tiny-sd-inpaint", NULL);
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  if (sdcl_model_load (ctx, inpaint_dir, NULL, &m, &err) == SDCL_OK)
    {
      sdcl_gen_params p = sdcl_gen_default_params ();
      p.width = p.height = 32;
      p.steps = 1;
      sdcl_image img = { 0 };
      sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
      CHECK (img.data == NULL, "no image on error");
      expect_api ("inpaint_model_txt2img", st, &err);
      sdcl_model_free (m);
    }
  else
    CHECK (false, "cannot load %s: %s", inpaint_dir, err.message);
  g_free (inpaint_dir);
}

/* ---- generation cases -------------------------------------------------- */

sdcl_gen_params
small (void)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.width = p.height = 32;
  p.steps = 3;
  p.seed = 3;
  p.sampler = SDCL_SAMPLER_EULER;
  return p;
}

/* An LCM-distilled UNet embeds the guidance and was trained for the lcm
 * sampler's jumps: another sampler is refused naming both. */
static void
lcm_distilled_wrong_sampler (void)
{
  char *path = g_build_filename (fixtures, "models", "tiny-sd2-lcm", NULL);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_model_load (ctx, path, &mp, &m, &err) == SDCL_OK, "%s: %s", path, err.message);
  if (m)
    {
      sdcl_gen_params p = small ();
      sdcl_image out = { 0 };
      sdcl_status st = sdcl_txt2img (m, &p, &out, &err);
      CHECK (out.data == NULL, "lcm_distilled_wrong_sampler: no image on error");
      expect_api ("lcm_distilled_wrong_sampler", st, &err);
      sdcl_image_free (&out);
      sdcl_model_free (m);
    }
  g_free (path);
}

static sdcl_status
run (const char *id, const sdcl_gen_params *p, sdcl_image *img)
{
  sdcl_error err = { 0 };
  sdcl_image out = { 0 };
  sdcl_status st = sdcl_txt2img (tiny, p, &out, &err);
  if (st != SDCL_OK)
    CHECK (out.data == NULL, "%s: no image on error", id);
  else
    {
      CHECK (out.data != NULL && out.channels == 3, "%s: an RGB image", id);
      size_t n = (size_t) out.width * out.height * 3;
      for (size_t i = 0; out.data && i < n; i++)
        if (!(out.data[i] >= 0.0f && out.data[i] <= 1.0f))
          {
            CHECK (false, "%s: pixel value %g at %zu", id, (double) out.data[i], i);
            break;
          }
    }
  expect_api (id, st, &err);
  if (img)
    *img = out;
  else
    sdcl_image_free (&out);
  return st;
}

static void
test_generation (void)
{
  sdcl_gen_params p = small ();
  sdcl_image img = { 0 };
  sdcl_model_info info;
  sdcl_model_get_info (tiny, &info);

  p.width = p.height = 0;
  if (run ("width_zero", &p, &img) == SDCL_OK)
    CHECK (img.width == info.native_resolution && img.height == info.native_resolution,
           "width 0 gives the native %d, got %dx%d", info.native_resolution, img.width, img.height);
  sdcl_image_free (&img);
  p = small ();
  p.width = -8;
  run ("width_negative", &p, NULL);
  p.width = 60;
  run ("width_not_multiple_of_8", &p, NULL);
  p.width = 16384;
  run ("width_too_large", &p, NULL);

  p = small ();
  p.prompt = "";
  p.negative_prompt = NULL;
  run ("empty_prompt", &p, NULL);
  GString *lots = g_string_new (NULL);
  while (lots->len < 10000)
    g_string_append (lots, "a very long prompt, ");
  g_string_truncate (lots, 10000);
  p.prompt = lots->str;
  p.negative_prompt = lots->str;
  run ("long_prompt", &p, NULL);
  g_string_free (lots, TRUE);

  p = small ();
  p.steps = 0;
  run ("steps_zero", &p, NULL);
  p.steps = 10000;
  run ("steps_10000", &p, NULL);
  p = small ();
  p.sampler = (sdcl_sampler) 99;
  run ("unknown_sampler", &p, NULL);
  p = small ();
  p.schedule = (sdcl_schedule) 99;
  run ("unknown_schedule", &p, NULL);
  p = small ();
  p.sampler = SDCL_SAMPLER_DDIM;
  p.schedule = SDCL_SCHEDULE_KARRAS;
  run ("schedule_not_for_sampler", &p, NULL);
  /* a scheduler config without skip_prk_steps (the demo model's): PNDM's
   * Runge-Kutta warm-up needs 4 steps */
  p = small ();
  p.sampler = SDCL_SAMPLER_PNDM;
  p.steps = 3;
  tiny->files->sched.skip_prk_steps = false;
  run ("pndm_warm_up_steps", &p, NULL);
  tiny->files->sched.skip_prk_steps = true;
  lcm_distilled_wrong_sampler ();

  /* Out of device memory: the device's allocation limit lowered to 256
   * bytes (the engine splits what it can; a 32x32 image's activations do
   * not fit). */
  sdcl_cl_pool_trim (ctx->cl);   /* pooled buffers would be reused without allocating */
  sdcl_cl_set_max_alloc_for_testing (ctx->cl, 256);
  p = small ();
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_txt2img (tiny, &p, &img, &err);
  expect_api ("device_out_of_memory", st, &err);
  CHECK (strstr (err.message, "at most 256 bytes") != NULL, "available bytes named: %s",
         err.message);
  sdcl_image_free (&img);
  sdcl_cl_set_max_alloc_for_testing (ctx->cl, 0);
  p = small ();
  CHECK (sdcl_txt2img (tiny, &p, &img, &err) == SDCL_OK, "the context works after running out "
         "of memory: %s", err.message);
  sdcl_image_free (&img);

  p = small ();
  p.vae_tile = 20;
  run ("vae_tile_invalid", &p, NULL);

  p = small ();
  p.tiling = true;
  p.vae_tile = 64;
  run ("tiling_with_vae_tile", &p, NULL);
}

/* ---- out of device memory in the VAE: tiles (issue 6, issue 7) ---------- */

sdcl_image
pattern_image (int w, int h)
{
  sdcl_image img = { w, h, 3, g_new (float, (gsize) w * h * 3) };
  for (int i = 0; i < w * h * 3; i++)
    img.data[i] = 0.5f + 0.4f * sinf (0.05f * (float) i);
  return img;
}

static sdcl_status
generate (const sdcl_gen_params *p, const sdcl_image *init, sdcl_image *out, sdcl_error *err)
{
  return init ? sdcl_img2img (tiny, p, init, out, err) : sdcl_txt2img (tiny, p, out, err);
}

/* Runs row `id` and, when it succeeds, compares its image with `want`. */
static void
expect_same_image (const char *id, const sdcl_gen_params *p, const sdcl_image *init,
                   const sdcl_image *want)
{
  sdcl_image got = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = generate (p, init, &got, &err);
  expect_api (id, st, &err);
  if (st == SDCL_OK)
    CHECK_CLOSE (id, got.data, want->data, (long) got.width * got.height * 3, 1e-6, 0.0);
  sdcl_image_free (&got);
}

/* A 64x64 image under a 256 KiB allocation limit: the UNet's buffers fit
 * (8x8 latents), the untiled VAE's do not (32 channels x 64 x 64 floats
 * = 512 KiB); 32-pixel tiles do (34 x 34 windows, 148 KiB).  Every way
 * round must give the image tiled without the limit. */
static void
test_vae_out_of_memory (void)
{
  sdcl_gen_params p = small ();
  p.width = p.height = 64;
  p.strength = 0.6f;
  p.vae_tile = 32;
  sdcl_image init = pattern_image (64, 64), want_txt = { 0 }, want_edit = { 0 };
  sdcl_error err = { 0 };
  CHECK (generate (&p, NULL, &want_txt, &err) == SDCL_OK, "tiled txt2img: %s", err.message);
  CHECK (generate (&p, &init, &want_edit, &err) == SDCL_OK, "tiled img2img: %s", err.message);

  sdcl_cl_pool_trim (ctx->cl);
  sdcl_cl_set_max_alloc_for_testing (ctx->cl, 256 << 10);
  p.vae_tile = 0;
  expect_same_image ("oom_vae_auto_tiles", &p, NULL, &want_txt);
  p.vae_tile = 512;
  expect_same_image ("oom_vae_fallback", &p, NULL, &want_txt);
  expect_same_image ("oom_vae_fallback_encode", &p, &init, &want_edit);
  p.vae_tile = -1;
  sdcl_image img = { 0 };
  sdcl_status st = generate (&p, NULL, &img, &err);
  CHECK (img.data == NULL, "no image after running out of memory");
  expect_api ("oom_vae_never_tile", st, &err);
  CHECK (strstr (err.message, "allows 262144 bytes per buffer") != NULL, "available bytes: %s",
         err.message);
  sdcl_cl_set_max_alloc_for_testing (ctx->cl, 0);
  sdcl_image_free (&init);
  sdcl_image_free (&want_txt);
  sdcl_image_free (&want_edit);
}

/* ---- image editing ----------------------------------------------------- */

sdcl_image
flat_image (int w, int h, int c, float v)
{
  sdcl_image img = { w, h, c, g_new (float, (gsize) w * h * c) };
  for (int i = 0; i < w * h * c; i++)
    img.data[i] = v;
  return img;
}

static void
edit_case (const char *id, float strength, const sdcl_image *init, const sdcl_image *mask)
{
  sdcl_gen_params p = small ();
  p.strength = strength;
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = mask ? sdcl_inpaint (tiny, &p, init, mask, &out, &err)
                        : sdcl_img2img (tiny, &p, init, &out, &err);
  CHECK (st == SDCL_OK || out.data == NULL, "%s: no image on error", id);
  expect_api (id, st, &err);
  sdcl_image_free (&out);
}

static void
test_editing (void)
{
  sdcl_image init = flat_image (32, 32, 3, 0.5f);
  sdcl_image mask = flat_image (16, 16, 1, 1.0f);
  edit_case ("strength_negative", -0.1f, &init, NULL);
  edit_case ("strength_above_one", 1.5f, &init, NULL);
  edit_case ("strength_nan", NAN, &init, NULL);
  edit_case ("mask_size_mismatch", 0.5f, &init, &mask);
  init.data[7] = 2.0f;
  edit_case ("init_value_out_of_range", 0.5f, &init, NULL);
  sdcl_image_free (&init);
  sdcl_image_free (&mask);
}

/* ---- cancellation ------------------------------------------------------ */

typedef struct {
  volatile int flag;
  int stop_step;          /* progress returns false at this step (0: never) */
  int flag_step;          /* progress sets the flag at this step (0: never) */
  int timer_step;         /* progress starts the timer at this step (0: at the call) */
  gint64 delay_us;
  int steps_seen;
  GThread *timer;
} cancel_state;

static gpointer
timer_thread (gpointer data)
{
  cancel_state *c = data;
  g_usleep ((gulong) c->delay_us);
  c->flag = 1;
  return NULL;
}

static bool
cancel_progress (int step, int n, const sdcl_image *preview, void *user)
{
  cancel_state *c = user;
  c->steps_seen = step;
  if (c->flag_step == step)
    c->flag = 1;
  if (c->timer_step == step && !c->timer)
    c->timer = g_thread_new ("cancel-timer", timer_thread, c);
  return c->stop_step != step;
}

static sdcl_status
cancel_run (cancel_state *c, sdcl_error *err)
{
  sdcl_gen_params p = small ();
  p.progress = cancel_progress;
  p.user_data = c;
  p.cancel = &c->flag;
  if (c->timer_step == 0 && c->delay_us >= 0)
    c->timer = g_thread_new ("cancel-timer", timer_thread, c);
  sdcl_image img = { 0 };
  sdcl_status st = sdcl_txt2img (tiny, &p, &img, err);
  CHECK (st == SDCL_OK || img.data == NULL, "no image after cancel");
  if (c->timer)
    g_thread_join (c->timer);
  c->timer = NULL;
  sdcl_image_free (&img);
  return st;
}

/* Runs with a timer that sets the flag at growing delays, started at the
 * call (timer_step 0) or from the progress callback of step timer_step,
 * until one run is cancelled in the phase under test: `steps_seen` steps
 * reported and a message that contains `want` (the phase's name).
 * Every run must end cancelled or complete normally. */
static void
cancel_sweep (const char *id, int timer_step, int steps_seen, const char *want)
{
  sdcl_error err = { 0 }, found_err = { 0 };
  bool found = false;
  for (gint64 delay = 200; delay <= 4000000 && !found; delay *= 2)
    {
      cancel_state c = { .timer_step = timer_step, .delay_us = delay };
      sdcl_status st = cancel_run (&c, &err);
      CHECK (st == SDCL_OK || st == SDCL_ERR_CANCELLED, "%s: delay %" G_GINT64_FORMAT
             " us gave %s (%s)", id, delay, sdcl_status_name (st), err.message);
      if (st == SDCL_ERR_CANCELLED && c.steps_seen == steps_seen
          && strstr (err.message, want) != NULL)
        {
          found = true;
          found_err = err;
          fprintf (stderr, "%s: cancelled %" G_GINT64_FORMAT " us after the timer started\n", id,
                   delay);
        }
    }
  CHECK (found, "%s: no timer delay from 200 us to 4 s landed in the phase", id);
  if (found)
    expect_api (id, SDCL_ERR_CANCELLED, &found_err);
  else
    find_row (id)->done = true;
}

/* ---- cancel at every phase (issue 7) ----------------------------------- */

/* Raises the flag as phase `target` starts (test hook); the run must stop
 * in that phase: no image, and every device tensor handed back (the pool
 * empties completely; the weights are not pooled). */
static void
phase_case (const char *id, sdcl_model *m, const char *target, const sdcl_image *init,
            int vae_tile)
{
  phase_state s = { .target = target };
  sdcl_gen_params p = small ();
  p.cancel = &s.flag;
  p.strength = 0.6f;
  p.vae_tile = vae_tile;
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  sdcl_set_phase_hook_for_testing (raise_at_phase, &s);
  sdcl_status st = init ? sdcl_img2img (m, &p, init, &out, &err) : sdcl_txt2img (m, &p, &out, &err);
  sdcl_set_phase_hook_for_testing (NULL, NULL);
  CHECK (s.seen, "%s: phase '%s' never started", id, target);
  CHECK (out.data == NULL, "%s: no image after cancel", id);
  sdcl_cl_pool_trim (ctx->cl);
  CHECK (sdcl_cl_pool_bytes (ctx->cl) == 0, "%s: %" G_GUINT64_FORMAT " device bytes still in use",
         id, sdcl_cl_pool_bytes (ctx->cl));
  expect_api (id, st, &err);
  sdcl_image_free (&out);
}

/* Cancel as a load of the tiny model (with `params`) starts uploading: the
 * run stops in "model load" and not one tensor is uploaded after the flag
 * rose.  img2img (`init`) on a fresh model first builds its VAE encoder. */
static void
load_cancel_case (const char *id, const sdcl_model_params *params, const sdcl_image *init)
{
  char *dir = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  if (sdcl_model_load (ctx, dir, params, &m, &err) == SDCL_OK)
    {
      uint64_t uploads = sdcl_cl_weight_uploads (ctx->cl);
      phase_case (id, m, "model load", init, 0);
      CHECK (sdcl_cl_weight_uploads (ctx->cl) == uploads,
             "%s: %" G_GUINT64_FORMAT " tensors uploaded after the cancel", id,
             sdcl_cl_weight_uploads (ctx->cl) - uploads);
    }
  else
    CHECK (false, "cannot load %s: %s", dir, err.message);
  sdcl_model_free (m);
  g_free (dir);
}

static void
test_cancel_phases (void)
{
  sdcl_image init = pattern_image (32, 32);
  load_cancel_case ("cancel_phase_model_load", NULL, &init);
  /* Lean residency uploads each network as its phase starts. */
  sdcl_model_params lean = sdcl_model_default_params ();
  lean.residency = SDCL_RESIDENCY_LEAN;
  load_cancel_case ("cancel_phase_model_load_lean", &lean, NULL);

  phase_case ("cancel_phase_text_encoding", tiny, "text encoding", NULL, 0);
  phase_case ("cancel_phase_vae_encode", tiny, "VAE encode", &init, 0);
  phase_case ("cancel_phase_vae_encode_tiled", tiny, "VAE encode", &init, 32);
  phase_case ("cancel_phase_denoising", tiny, "denoising step 3", NULL, 0);
  phase_case ("cancel_phase_vae_decode", tiny, "VAE decode", NULL, 0);
  phase_case ("cancel_phase_vae_decode_tiled", tiny, "VAE decode", NULL, 32);
  sdcl_image_free (&init);
}

static void
test_cancel (void)
{
  sdcl_error err = { 0 };
  cancel_state c = { .flag = 1, .delay_us = -1 };
  expect_api ("cancel_before_start", cancel_run (&c, &err), &err);

  /* The callback stops at each step in turn; all must cancel there. */
  bool all = true;
  sdcl_error last = { 0 };
  for (int k = 1; k <= 3; k++)
    {
      cancel_state s = { .stop_step = k, .delay_us = -1 };
      sdcl_status st = cancel_run (&s, &err);
      char want[64];
      g_snprintf (want, sizeof want, "cancelled during denoising step %d of 3", k);
      CHECK (st == SDCL_ERR_CANCELLED && strstr (err.message, want), "stop at step %d: %s", k,
             err.message);
      all &= st == SDCL_ERR_CANCELLED;
      last = err;
    }
  expect_api ("cancel_callback_each_step", all ? SDCL_ERR_CANCELLED : SDCL_OK, &last);

  /* The flag set in the callback is seen at once, after that step. */
  cancel_state f = { .flag_step = 2, .delay_us = -1 };
  sdcl_status st = cancel_run (&f, &err);
  expect_api ("cancel_flag_in_callback", st, &err);

  cancel_sweep ("cancel_text_encoder", 0, 0, "cancelled during text encoding");
  cancel_sweep ("cancel_within_unet", 1, 1, "cancelled during denoising step 2 of 3");
  cancel_sweep ("cancel_vae_decode", 3, 3, "cancelled during VAE decode");
  test_cancel_phases ();

  /* The context works after every cancellation. */
  sdcl_gen_params p = small ();
  sdcl_image img = { 0 };
  CHECK (sdcl_txt2img (tiny, &p, &img, &err) == SDCL_OK, "run after cancels: %s", err.message);
  sdcl_image_free (&img);
}

/* ---- the command line -------------------------------------------------- */

char *
badinput_tmp_path (const char *name)
{
  return tmp_path (name);
}

/* Runs in the child before exec: an alarm survives exec, so a command
 * that hangs (a FIFO opened for reading blocks for ever) is killed by
 * SIGALRM and fails its row instead of blocking the test.  Then the
 * case's own setup, if any (passed as the user data). */
typedef struct {
  GSpawnChildSetupFunc setup;
} child_setup;

static void
arm_cli_timeout (gpointer data)
{
  alarm (CLI_TIMEOUT_S);
  const child_setup *cs = data;
  if (cs->setup)
    cs->setup (NULL);
}

char *
badinput_cli_run (const char *id, char **extra_env, GSpawnChildSetupFunc setup,
                  const char *const *args)
{
  row *r = find_row (id);
  CHECK (r != NULL, "case %s has no row in the table", id);
  if (!r)
    return NULL;
  r->done = true;
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, sdcl_cli);
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  char **env = g_get_environ ();
  for (int i = 0; extra_env && extra_env[i]; i += 2)
    env = extra_env[i + 1] ? g_environ_setenv (env, extra_env[i], extra_env[i + 1], TRUE)
                           : g_environ_unsetenv (env, extra_env[i]);
  char *out = NULL, *errtext = NULL;
  int status = 0;
  GError *gerr = NULL;
  child_setup cs = { setup };
  bool spawned = g_spawn_sync (tmp_root, (char **) argv->pdata, env, G_SPAWN_DEFAULT,
                               arm_cli_timeout, &cs, &out, &errtext, &status, &gerr);
  CHECK (spawned, "%s: cannot run %s: %s", id, sdcl_cli, gerr ? gerr->message : "");
  if (spawned)
    {
      int code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
      CHECK (!WIFSIGNALED (status) || WTERMSIG (status) != SIGALRM, "%s: still running after %d s "
             "(a hang)", id, CLI_TIMEOUT_S);
      CHECK (code == atoi (r->expect), "%s: exit code %d, expected %s; stderr: %s", id, code,
             r->expect, errtext);
      CHECK (strstr (errtext, r->message) != NULL, "%s: stderr lacks '%s': %s", id, r->message,
             errtext);
      CHECK (strstr (errtext, "Sanitizer") == NULL && strstr (errtext, "runtime error") == NULL,
             "%s: sanitizer report: %s", id, errtext);
      fprintf (stderr, "[%s] exit %d: %s", id, code, errtext);
    }
  if (gerr)
    g_error_free (gerr);
  g_free (out);
  g_strfreev (env);
  g_ptr_array_free (argv, TRUE);
  return errtext;
}

void
cli_case (const char *id, char **extra_env, const char *const *args)
{
  g_free (badinput_cli_run (id, extra_env, NULL, args));
}

static void
put_chunk (GByteArray *png, const char *type, const guint8 *data, uint32_t len)
{
  guint8 be[4] = { (guint8) (len >> 24), (guint8) (len >> 16), (guint8) (len >> 8), (guint8) len };
  g_byte_array_append (png, be, 4);
  g_byte_array_append (png, (const guint8 *) type, 4);
  g_byte_array_append (png, data, len);
  uLong crc = crc32 (crc32 (0L, (const Bytef *) type, 4), data, len);
  guint8 c[4] = { (guint8) (crc >> 24), (guint8) (crc >> 16), (guint8) (crc >> 8), (guint8) crc };
  g_byte_array_append (png, c, 4);
}

/* An 8-bit grey PNG of w x h, all black.  Headers that declare more than
 * 4096 pixels a side get only one row of data (a hostile file); cut > 0
 * keeps the first `cut` bytes (a truncated file). */
void
write_png (const char *name, uint32_t w, uint32_t h, size_t cut)
{
  static const guint8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  GByteArray *png = g_byte_array_new ();
  g_byte_array_append (png, sig, 8);
  guint8 ihdr[13] = { (guint8) (w >> 24), (guint8) (w >> 16), (guint8) (w >> 8), (guint8) w,
                      (guint8) (h >> 24), (guint8) (h >> 16), (guint8) (h >> 8), (guint8) h,
                      8, 0, 0, 0, 0 };
  put_chunk (png, "IHDR", ihdr, 13);
  size_t raw_len = w > 4096 || h > 4096 ? 1 + 16 : (size_t) (w + 1) * h;
  guint8 *raw = g_malloc0 (raw_len);
  uLongf zlen = compressBound (raw_len);
  guint8 *z = g_malloc (zlen);
  CHECK (compress (z, &zlen, raw, raw_len) == Z_OK, "compress");
  put_chunk (png, "IDAT", z, (uint32_t) zlen);
  put_chunk (png, "IEND", (const guint8 *) "", 0);   /* crc32 of a NULL buffer is 0, not the CRC */
  char *p = tmp_path (name);
  CHECK (g_file_set_contents (p, (const char *) png->data, cut ? (gssize) cut : (gssize) png->len,
                              NULL), "write %s", p);
  g_free (p);
  g_free (raw);
  g_free (z);
  g_byte_array_unref (png);
}

static void
test_cli (void)
{
  char *model = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  char *vendors = tmp_path ("no-vendors");
  g_mkdir (vendors, 0700);
  char *no_icd[] = { "OCL_ICD_VENDORS", vendors, "OPENCL_VENDOR_PATH", vendors, NULL };
  cli_case ("cli_no_opencl_platform", no_icd,
            (const char *[]) { "txt2img", "-m", model, "-p", "x", "-o", "o.png", NULL });
  g_rmdir (vendors);
  g_free (vendors);

  /* The GEMM kernel's variables (opencl/gemm.c) are checked when the
   * context is created. */
  char *gemm_kernel[] = { "SDCL_GEMM_KERNEL", "bogus", NULL };
  cli_case ("cli_gemm_kernel_unknown", gemm_kernel,
            (const char *[]) { "txt2img", "-m", model, "-p", "x", "-o", "o.png", NULL });
  char *wg_zero[] = { "SDCL_FORCE_WG_SIZE", "0", NULL };
  cli_case ("cli_force_wg_size_zero", wg_zero,
            (const char *[]) { "txt2img", "-m", model, "-p", "x", "-o", "o.png", NULL });
  char *attn_kernel[] = { "SDCL_ATTENTION_KERNEL", "flash", NULL };
  cli_case ("cli_attention_kernel_unknown", attn_kernel,
            (const char *[]) { "txt2img", "-m", model, "-p", "x", "-o", "o.png", NULL });
  char *conv_kernel[] = { "SDCL_CONV", "bogus", NULL };
  cli_case ("cli_conv_kernel_unknown", conv_kernel,
            (const char *[]) { "txt2img", "-m", model, "-p", "x", "-o", "o.png", NULL });
  char *fp16_env[] = { "SDCL_FP16", "yes", NULL };
  cli_case ("cli_fp16_unknown", fp16_env,
            (const char *[]) { "txt2img", "-m", model, "-p", "x", "-o", "o.png", NULL });
  char *subgroups_env[] = { "SDCL_SUBGROUPS", "1", NULL };
  cli_case ("cli_subgroups_unknown", subgroups_env,
            (const char *[]) { "txt2img", "-m", model, "-p", "x", "-o", "o.png", NULL });

  /* PoCL reports POCL_MEMORY_LIMIT's size but would serve more from host
   * memory: sdcl's own account must stop an SD 1.5-sized UNet (1.7 GB of
   * F16 weights; all zero, a sparse file) at the 1 GiB limit. */
  mk_model sd15;
  mk_model_sd15 (&sd15, false);
  char *big = tmp_path ("sd15-zeros.safetensors");
  GError *gerr = NULL;
  CHECK (mk_write_single_file (big, &sd15, SDCL_DT_F16, MK_SEED_ZEROS, &gerr), "write %s: %s", big,
         gerr ? gerr->message : "");
  g_clear_error (&gerr);
  char *limit[] = { "POCL_MEMORY_LIMIT", "1", NULL };
  cli_case ("cli_pocl_memory_limit", limit,
            (const char *[]) { "txt2img", "-m", big, "-p", "x", "-W", "64", "-H", "64", "--steps", "1",
                               "-o", "o.png", NULL });
  g_unlink (big);
  g_free (big);

  cli_case ("cli_unknown_sampler", NULL,
            (const char *[]) { "txt2img", "-m", model, "--sampler", "bogus", "-o", "o.png", NULL });
  cli_case ("cli_unknown_schedule", NULL,
            (const char *[]) { "txt2img", "-m", model, "--schedule", "bogus", "-o", "o.png", NULL });
  cli_case ("cli_missing_model", NULL,
            (const char *[]) { "txt2img", "-m", "/nonexistent", "-o", "o.png", NULL });
  cli_case ("cli_steps_negative", NULL,
            (const char *[]) { "txt2img", "-m", model, "--steps", "-1", "-W", "32", "-H", "32",
                               "-o", "o.png", NULL });

  /* PNGs: an 8x8 grey one, the same cut inside its image data, a 16x8
   * one, and a header that declares 8000 pixels a side (within the side
   * limit) over a few bytes of data. */
  write_png ("grey8.png", 8, 8, 0);
  write_png ("cut.png", 8, 8, 45);
  write_png ("grey16x8.png", 16, 8, 0);
  write_png ("huge.png", 8000, 8000, 0);
  cli_case ("cli_truncated_png", NULL,
            (const char *[]) { "img2img", "-m", model, "-i", "cut.png", "-o", "o.png", NULL });
  cli_case ("cli_png_huge_dimensions", NULL,
            (const char *[]) { "img2img", "-m", model, "-i", "huge.png", "-o", "o.png", NULL });

  cli_case ("cli_mask_size_mismatch", NULL,
            (const char *[]) { "inpaint", "-m", model, "-i", "grey8.png", "-M", "grey16x8.png",
                               "-o", "o.png", NULL });

  char *o = tmp_path ("o.png");
  CHECK (!g_file_test (o, G_FILE_TEST_EXISTS), "no output file after failures");
  check_failures += test_cli_output (model);
  check_failures += test_cli_values (model);
  g_unlink (o);
  g_free (o);
  static const char *const names[] = { "grey8.png", "cut.png", "huge.png", "grey16x8.png" };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    {
      char *p = tmp_path (names[i]);
      g_unlink (p);
      g_free (p);
    }
  g_free (model);
}

/* ---- main -------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: %s TABLE SDCL_CLI\n", argv[0]);
      return 2;
    }
  const char *fx = g_getenv ("SDCL_FIXTURES");
  if (!fx || !load_table (argv[1]))
    {
      fprintf (stderr, "need SDCL_FIXTURES and a readable table %s\n", argv[1]);
      return 1;
    }
  fixtures = g_strdup (fx);
  sdcl_cli = g_canonicalize_filename (argv[2], NULL);   /* the CLI runs in tmp_root */
  tmp_root = g_dir_make_tmp ("sdcl-badinput-XXXXXX", NULL);
  sdcl_error err = { 0 };
  sdcl_ctx_params cp = sdcl_ctx_default_params ();
  if (!tmp_root || sdcl_ctx_new (&cp, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no OpenCL device (%s): skipped\n", err.message);
      return 77;
    }
  char *tiny_dir = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  if (sdcl_model_load (ctx, tiny_dir, NULL, &tiny, &err) != SDCL_OK)
    CHECK (false, "tiny model: %s", err.message);
  g_free (tiny_dir);

  /* valgrind on the issue-22 cases alone (the whole table takes hours). */
  const char *runtime_only = g_getenv ("SDCL_BADINPUT_RUNTIME_ONLY");
  if (!runtime_only)
    {
      test_model_files ();
      test_folders ();
      check_failures += test_sdxl_cases ();
    }
  if (tiny && runtime_only)
    check_failures += test_runtime ();
  else if (tiny)
    {
      test_generation ();
      test_vae_out_of_memory ();
      test_editing ();
      test_cancel ();
      check_failures += test_runtime ();
      check_failures += test_lora_cases ();
    }
  const char *only_api = g_getenv ("SDCL_BADINPUT_NO_CLI");   /* valgrind runs: API rows only */
  if (!only_api && !runtime_only)
    {
      test_cli ();
      check_failures += test_runtime_cli ();
    }
  if (!runtime_only)
    check_failures += test_files_not_files (only_api != NULL);
  if (tiny && !runtime_only)
    {
      char *tiny_model = g_build_filename (fixtures, "models", "tiny-sd", NULL);
      check_failures += test_prompt_cases (only_api == NULL, tiny_model);
      g_free (tiny_model);
    }

  for (guint i = 0; i < rows->len; i++)
    {
      row *r = g_ptr_array_index (rows, i);
      if (!r->done && !(only_api && strcmp (r->via, "cli") == 0) && !runtime_only)
        CHECK (false, "row %s has no case in the test", r->id);
    }
  sdcl_model_free (tiny);
  sdcl_ctx_free (ctx);
  remove_tree (tmp_root);
  g_free (tmp_root);
  g_free (fixtures);
  g_free (sdcl_cli);
  g_ptr_array_unref (rows);
  return check_finish ();
}

/* Opening a checkpoint: a diffusers folder or a single LDM .safetensors
 * file (docs/diffusion.md §Checkpoints).  Either way the result is the same: validated files,
 * configs and three weight sets under canonical names, each checked against
 * the tensors its config implies.  This file knows no family: it reads a
 * model up to the facts detection needs (sdcl_model_files_scan) and
 * finishes it once the family has said its part (sdcl_model_files_finish);
 * sdcl_model_files_open (families/family.c) runs the three.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <glib.h>

#include "error_internal.h"
#include "json_strict.h"
#include "loader_internal.h"
#include "nets.h"
#include "sdcl_file.h"

/* config.json, model_index.json and shard index files are a few kB (an
 * index of a large sharded model about 100 kB); refuse absurd ones before
 * reading them into memory. */
#define MAX_JSON_FILE_BYTES (16 * 1024 * 1024)

static void
keep_file (sdcl_model_files *mf, sdcl_st_file *f)
{
  mf->files = g_renew (sdcl_st_file *, mf->files, mf->n_files + 1);
  mf->files[mf->n_files++] = f;
}

static sdcl_status
open_st (sdcl_model_files *mf, const char *path, sdcl_st_file **out, sdcl_error *err)
{
  sdcl_status st = sdcl_st_open (path, out, err);
  if (!st)
    keep_file (mf, *out);
  return st;
}

/* The canonical view of a file tensor: the VAE attention's 1x1 convolution
 * weights become the [C, C] matrices they are (same bytes). */
static sdcl_st_tensor
canonical_view (sdcl_component comp, const char *canonical, const sdcl_st_tensor *t)
{
  sdcl_st_tensor v = *t;
  if (comp == SDCL_COMP_VAE && sdcl_vae_attention_matrix (canonical) && t->nd == 4
      && t->shape[2] == 1 && t->shape[3] == 1)
    v.nd = 2;
  return v;
}

static sdcl_status
add_tensor (sdcl_wset *ws, sdcl_component comp, const char *canonical, const sdcl_st_tensor *t,
            const sdcl_st_file *f, sdcl_error *err)
{
  sdcl_st_tensor v = canonical_view (comp, canonical, t);
  return sdcl_wset_add (ws, canonical, &v, f, err);
}

/* For single files a missing tensor is named in both layouts: the file's
 * own name is the one its owner can look for. */
static sdcl_status
check_ldm_names_present (const sdcl_model_files *mf, const sdcl_wset *ws, sdcl_component comp,
                         const sdcl_tensor_spec *specs, size_t count, sdcl_error *err)
{
  sdcl_unet_desc *names = sdcl_unet_describe_names (mf->unet.layers_per_block, mf->unet.n_levels,
                                                    mf->unet.up_has_attn);
  sdcl_status st = SDCL_OK;
  for (size_t i = 0; i < count && !st; i++)
    {
      char ldm[256];
      bool conv_1x1;
      bool openclip = comp == SDCL_COMP_TEXT && mf->family == SDCL_FAMILY_SD2;
      if (sdcl_wset_find (ws, specs[i].name)
          || !(openclip ? sdcl_ldm_unmap_openclip (specs[i].name, ldm, sizeof ldm)
                        : sdcl_ldm_unmap_name_in (names, comp, specs[i].name, ldm, sizeof ldm, &conv_1x1)))
        continue;
      st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "missing tensor %s (%s in diffusers' naming) in %s of %s",
                      ldm, specs[i].name, sdcl_wset_component (ws), mf->path);
    }
  sdcl_unet_desc_free (names);
  return st;
}

static sdcl_status
check_specs (const sdcl_model_files *mf, const sdcl_wset *ws, sdcl_component comp, sdcl_error *err)
{
  size_t n;
  sdcl_tensor_spec *specs = comp == SDCL_COMP_UNET ? sdcl_unet_tensor_specs (&mf->unet, &n)
                            : comp == SDCL_COMP_VAE ? sdcl_vae_tensor_specs (&mf->vae, &n)
                            : comp == SDCL_COMP_TEXT2 ? sdcl_clip_tensor_specs (&mf->clip2, &n)
                                                      : sdcl_clip_tensor_specs (&mf->clip, &n);
  sdcl_status st = mf->single_file ? check_ldm_names_present (mf, ws, comp, specs, n, err) : SDCL_OK;
  if (!st)
    st = sdcl_wset_check_specs (ws, specs, n, err);
  g_free (specs);
  return st;
}

/* Index of the first NaN or infinity among a float tensor's elements, or
 * -1.  Only the exponent bits are looked at (all ones: Inf or NaN), so the
 * scan is integer work over the file's bytes; data may be unaligned.  Eight
 * bytes at a time (four halves or two floats per word): a lane whose
 * exponent bits are all set gives a zero lane in (w & E) ^ E, found with
 * the usual has-zero-lane test; the element loop then names it. */
static int64_t
first_non_finite (const sdcl_st_tensor *t, bool *is_nan)
{
  const unsigned char *p = t->data;
  const int esize = t->dtype == SDCL_DT_F32 ? 4 : 2;
  const uint64_t exp_mask = t->dtype == SDCL_DT_F32   ? UINT64_C (0x7f8000007f800000)
                            : t->dtype == SDCL_DT_F16 ? UINT64_C (0x7c007c007c007c00)
                                                      : UINT64_C (0x7f807f807f807f80);
  const uint64_t low = esize == 4 ? UINT64_C (0x0000000100000001) : UINT64_C (0x0001000100010001);
  const uint64_t high = low << (8 * esize - 1);
  const int64_t per_word = 8 / esize;
  int64_t first = 0;
  const int64_t words = t->n_elements / per_word;
  for (int64_t w = 0; w < words; w++)
    {
      uint64_t v;
      memcpy (&v, p + 8 * w, 8);
      uint64_t x = (v & exp_mask) ^ exp_mask;
      if ((x - low) & ~x & high)
        break;
      first = (w + 1) * per_word;
    }
  for (int64_t i = first; i < t->n_elements; i++)
    {
      if (t->dtype == SDCL_DT_F32)
        {
          uint32_t v;
          memcpy (&v, p + 4 * i, 4);
          if ((v & 0x7f800000u) == 0x7f800000u)
            {
              *is_nan = (v & 0x007fffffu) != 0;
              return i;
            }
        }
      else
        {
          uint16_t v;
          memcpy (&v, p + 2 * i, 2);
          uint16_t exp = t->dtype == SDCL_DT_F16 ? 0x7c00u : 0x7f80u;
          if ((v & exp) == exp)
            {
              *is_nan = (v & (uint16_t) ~(exp | 0x8000u)) != 0;
              return i;
            }
        }
    }
  return -1;
}

/* first_non_finite over the tensor read from the file in chunks
 * (sdcl_wset_read: never through the mapping, so a file cut while it is
 * scanned is an error, not SIGBUS). */
static sdcl_status
scan_non_finite (const sdcl_wset *ws, const sdcl_st_tensor *t, int64_t *at, bool *is_nan,
                 sdcl_error *err)
{
  enum { CHUNK_ELEMENTS = 1 << 20 };   /* a multiple of every lane count */
  const uint64_t esize = t->dtype == SDCL_DT_F32 ? 4 : 2;
  unsigned char *buf = g_malloc (CHUNK_ELEMENTS * esize);
  sdcl_status st = SDCL_OK;
  *at = -1;
  for (int64_t first = 0; first < t->n_elements && st == SDCL_OK && *at < 0; first += CHUNK_ELEMENTS)
    {
      sdcl_st_tensor chunk = *t;
      chunk.n_elements = MIN ((int64_t) CHUNK_ELEMENTS, t->n_elements - first);
      chunk.data = buf;
      st = sdcl_wset_read (ws, t, (uint64_t) first * esize, buf,
                           (size_t) chunk.n_elements * esize, err);
      int64_t i = st == SDCL_OK ? first_non_finite (&chunk, is_nan) : -1;
      if (i >= 0)
        *at = first + i;
    }
  g_free (buf);
  return st;
}

/* Weights must be finite: one NaN or infinity makes every image NaN (black
 * after clamping), which would otherwise only show at the end of a run.
 * Checked once at load, naming the tensor (issue 7, tests/badinput). */
static sdcl_status
check_finite (const sdcl_model_files *mf, const sdcl_wset *ws, sdcl_error *err)
{
  for (size_t i = 0; i < sdcl_wset_count (ws); i++)
    {
      const sdcl_st_tensor *t = sdcl_wset_at (ws, i);
      bool is_nan = false;
      int64_t at;
      if (t->dtype != SDCL_DT_F32 && t->dtype != SDCL_DT_F16 && t->dtype != SDCL_DT_BF16)
        continue;   /* refused by the spec check */
      sdcl_status st = scan_non_finite (ws, t, &at, &is_nan, err);
      if (st != SDCL_OK)
        return st;
      if (at >= 0)
        return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                          "tensor %s in %s of %s holds a non-finite value (%s) at element %"
                          G_GINT64_FORMAT ": the weights are corrupt",
                          t->name, sdcl_wset_component (ws), mf->path, is_nan ? "NaN" : "infinity",
                          at);
    }
  return SDCL_OK;
}

/* Every component holds exactly the tensors its config implies, with
 * finite values. */
static sdcl_status
check_all_specs (const sdcl_model_files *mf, sdcl_error *err)
{
  sdcl_status st;
  if ((st = check_specs (mf, mf->unet_w, SDCL_COMP_UNET, err))
      || (st = check_specs (mf, mf->vae_w, SDCL_COMP_VAE, err))
      || (st = check_specs (mf, mf->text_w, SDCL_COMP_TEXT, err))
      || (mf->text2_w && (st = check_specs (mf, mf->text2_w, SDCL_COMP_TEXT2, err))))
    return st;
  if ((st = check_finite (mf, mf->unet_w, err)) || (st = check_finite (mf, mf->vae_w, err))
      || (mf->text2_w && (st = check_finite (mf, mf->text2_w, err))))
    return st;
  return check_finite (mf, mf->text_w, err);
}

/* ---- single LDM file --------------------------------------------------- */

/* An OpenCLIP fused in_proj becomes q, k and v views of its three row
 * blocks (same bytes, no copy). */
static sdcl_status
split_in_proj (sdcl_wset *ws, const sdcl_st_tensor *t, int layer, const char *leaf,
               const sdcl_st_file *f, sdcl_error *err)
{
  if (t->nd < 1 || t->shape[0] % 3 || t->nd > 2)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: tensor %s has %d dimensions and %lld rows; "
                      "a fused q/k/v needs 1 or 2 and a multiple of 3", sdcl_st_path (f), t->name,
                      t->nd, t->nd ? (long long) t->shape[0] : 0LL);
  static const char qkv[] = "qkv";
  for (int i = 0; i < 3; i++)
    {
      sdcl_st_tensor v = *t;
      v.shape[0] = t->shape[0] / 3;
      v.n_elements = t->n_elements / 3;
      v.nbytes = t->nbytes / 3;
      v.data = (const char *) t->data + i * v.nbytes;
      char canonical[128];
      g_snprintf (canonical, sizeof canonical, "text_model.encoder.layers.%d.self_attn.%c_proj.%s",
                  layer, qkv[i], leaf);
      sdcl_status st = sdcl_wset_add (ws, canonical, &v, f, err);
      if (st)
        return st;
    }
  return SDCL_OK;
}

/* The text layer a canonical name belongs to, -1 for none. */
static int
text_layer_of (const char *canonical)
{
  int layer;
  return sscanf (canonical, "text_model.encoder.layers.%d.", &layer) == 1 ? layer : -1;
}

sdcl_status
sdcl_ldm_add_text_tensor (sdcl_wset *ws, int n_layers, const char *sd_name, const sdcl_st_tensor *t,
                          const sdcl_st_file *f, sdcl_error *err)
{
  static const sdcl_unet_desc no_unet = { 0 };
  sdcl_component comp;
  char canonical[256];
  int layer;
  const char *leaf;
  /* the text layers past the ones run (SD 2.x's last) are not loaded */
  if (sdcl_ldm_openclip_in_proj (sd_name, &layer, &leaf))
    return layer < n_layers ? split_in_proj (ws, t, layer, leaf, f, err) : SDCL_OK;
  if (!sdcl_ldm_map_name_in (&no_unet, sd_name, &comp, canonical, sizeof canonical)
      || comp != SDCL_COMP_TEXT || text_layer_of (canonical) >= n_layers)
    return SDCL_OK;   /* position_ids, text_projection, logit_scale, ... */
  return add_tensor (ws, comp, canonical, t, f, err);
}

static sdcl_status
map_ldm_tensors (sdcl_model_files *mf, const sdcl_st_file *f, sdcl_error *err)
{
  sdcl_wset *sets[] = { [SDCL_COMP_UNET] = mf->unet_w, [SDCL_COMP_VAE] = mf->vae_w };
  sdcl_unet_desc *names = sdcl_unet_describe_names (mf->unet.layers_per_block, mf->unet.n_levels,
                                                    mf->unet.up_has_attn);
  sdcl_status st = SDCL_OK;
  for (size_t i = 0; i < sdcl_st_count (f) && !st; i++)
    {
      const sdcl_st_tensor *t = sdcl_st_at (f, i);
      sdcl_component comp;
      char canonical[256];
      bool taken = false;
      if (mf->ldm_tensor && (st = mf->ldm_tensor (mf, f, t, &taken, err)))
        break;
      if (taken)
        continue;
      /* text names (the fused in_proj among them) or names sdcl ignores
       * (EMA copies, schedules, position_ids, ...) */
      if (!sdcl_ldm_map_name_in (names, t->name, &comp, canonical, sizeof canonical)
          || comp == SDCL_COMP_TEXT)
        st = sdcl_ldm_add_text_tensor (mf->text_w, mf->clip.n_layers, t->name, t, f, err);
      else
        st = add_tensor (sets[comp], comp, canonical, t, f, err);
    }
  sdcl_unet_desc_free (names);
  return st;
}

/* Up to detection: the file, its family facts and its UNet config. */
static sdcl_status
scan_single_file (sdcl_model_files *mf, sdcl_family_facts *facts, sdcl_error *err)
{
  sdcl_st_file *f;
  sdcl_status st;
  if ((st = open_st (mf, mf->path, &f, err)))
    return st;
  mf->single_file = true;
  sdcl_family_facts_from_ldm (f, facts);
  /* the UNet first: a file without one (a LoRA, a lone VAE) is no checkpoint */
  return sdcl_unet_config_from_ldm (f, &mf->unet, err);
}

/* After the family has filled the other configs: the weights. */
static sdcl_status
finish_single_file (sdcl_model_files *mf, sdcl_error *err)
{
  sdcl_status st;
  mf->unet_w = sdcl_wset_new ("unet", mf->path);
  mf->vae_w = sdcl_wset_new ("vae", mf->path);
  mf->text_w = sdcl_wset_new ("text_encoder", mf->path);
  if ((st = map_ldm_tensors (mf, mf->files[0], err)))
    return st;
  return check_all_specs (mf, err);
}

/* ---- diffusers folder -------------------------------------------------- */

/* Reads a JSON file whose top level must be an object. */
static sdcl_status
read_json_object (const char *path, JsonParser **out, sdcl_error *err)
{
  char *text = NULL;
  size_t len = 0;
  GError *gerr = NULL;
  if (!sdcl_file_read_small (path, "config file", MAX_JSON_FILE_BYTES, &text, &len, &gerr))
    {
      sdcl_status st = sdcl_fail (err, SDCL_ERR_IO, "%s", gerr->message);
      g_error_free (gerr);
      return st;
    }
  char why[600];
  sdcl_status st = SDCL_OK;
  JsonParser *parser = json_parser_new_immutable ();
  if (!sdcl_json_check_strict (text, len, why, sizeof why))
    st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: %s", path, why);
  else if (!json_parser_load_from_data (parser, text, (gssize) len, &gerr))
    {
      st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: %s", path, gerr->message);
      g_error_free (gerr);
    }
  else if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: the top level is not a JSON object", path);
  g_free (text);
  if (st)
    g_object_unref (parser);
  else
    *out = parser;
  return st;
}

typedef sdcl_status (*config_parser) (JsonObject *o, const char *file, void *config, sdcl_error *err);

static sdcl_status
parse_unet (JsonObject *o, const char *file, void *config, sdcl_error *err)
{
  return sdcl_unet_config_from_json (o, file, config, err);
}

static sdcl_status
parse_vae (JsonObject *o, const char *file, void *config, sdcl_error *err)
{
  return sdcl_vae_config_from_json (o, file, config, err);
}

static sdcl_status
parse_clip (JsonObject *o, const char *file, void *config, sdcl_error *err)
{
  return sdcl_clip_config_from_json (o, file, config, err);
}

static sdcl_status
parse_sched (JsonObject *o, const char *file, void *config, sdcl_error *err)
{
  return sdcl_sched_config_from_json (o, file, config, err);
}

static sdcl_status
read_config (const char *dir, const char *component, const char *file, config_parser parse,
             void *config, sdcl_error *err)
{
  char *path = g_build_filename (dir, component, file, NULL);
  JsonParser *parser = NULL;
  sdcl_status st;
  if (!sdcl_file_exists (path))
    st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: missing %s/%s (is this a diffusers model folder?)",
                    dir, component, file);
  else if (!(st = read_json_object (path, &parser, err)))
    st = parse (json_node_get_object (json_parser_get_root (parser)), path, config, err);
  if (parser)
    g_object_unref (parser);
  g_free (path);
  return st;
}

/* Shard names come from JSON: only plain file names of the same folder
 * are acceptable (docs/diffusion.md §Sharded weights). */
static bool
plain_file_name (const char *name)
{
  return name[0] && strchr (name, '/') == NULL && strchr (name, '\\') == NULL
         && strcmp (name, ".") != 0 && strcmp (name, "..") != 0;
}

static sdcl_status
add_file_tensors (sdcl_wset *ws, sdcl_component comp, const sdcl_st_file *f, sdcl_error *err)
{
  for (size_t i = 0; i < sdcl_st_count (f); i++)
    {
      const sdcl_st_tensor *t = sdcl_st_at (f, i);
      char canonical[256];
      if (!sdcl_canonical_name (comp, t->name, canonical, sizeof canonical))
        continue;
      sdcl_status st = add_tensor (ws, comp, canonical, t, f, err);
      if (st)
        return st;
    }
  return SDCL_OK;
}

static sdcl_status
shard_for (sdcl_model_files *mf, GHashTable *shards, const char *index_path, const char *dir,
           const char *shard, sdcl_st_file **out, sdcl_error *err)
{
  if (!plain_file_name (shard))
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                      "%s: shard name '%s' is not a plain file name in the same folder", index_path, shard);
  *out = g_hash_table_lookup (shards, shard);
  if (*out)
    return SDCL_OK;
  char *path = g_build_filename (dir, shard, NULL);
  sdcl_status st = open_st (mf, path, out, err);
  g_free (path);
  if (!st)
    g_hash_table_insert (shards, g_strdup (shard), *out);
  return st;
}

/* A sharded component: weight_map names the shard of every tensor. */
static sdcl_status
add_sharded_tensors (sdcl_model_files *mf, sdcl_wset *ws, sdcl_component comp, const char *dir,
                     const char *index_path, sdcl_error *err)
{
  JsonParser *parser;
  sdcl_status st = read_json_object (index_path, &parser, err);
  if (st)
    return st;
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  JsonNode *map = json_object_get_member (root, "weight_map");
  if (!map || !JSON_NODE_HOLDS_OBJECT (map))
    st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: no \"weight_map\" object", index_path);
  GHashTable *shards = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  JsonObjectIter it;
  const char *name;
  JsonNode *value;
  if (!st)
    json_object_iter_init (&it, json_node_get_object (map));
  while (!st && json_object_iter_next (&it, &name, &value))
    {
      sdcl_st_file *f;
      const sdcl_st_tensor *t;
      char canonical[256];
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: weight_map entry '%s' is not a file name",
                        index_path, name);
      else if (!(st = shard_for (mf, shards, index_path, dir, json_node_get_string (value), &f, err)))
        {
          if (!(t = sdcl_st_find (f, name)))
            st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: weight_map puts %s in %s, which does not hold it",
                            index_path, name, json_node_get_string (value));
          else if (sdcl_canonical_name (comp, name, canonical, sizeof canonical))
            st = add_tensor (ws, comp, canonical, t, f, err);
        }
    }
  g_hash_table_destroy (shards);
  g_object_unref (parser);
  return st;
}

/* Finds the weights of one component: the plain file, the fp16 variant or
 * a shard index, in that order of preference. */
static sdcl_status
open_component_weights (sdcl_model_files *mf, const char *dir, const char *component,
                        const char *base, sdcl_component comp, sdcl_wset **out, sdcl_error *err)
{
  static const struct {
    const char *suffix;
    bool sharded;
  } candidates[] = {
    { ".safetensors", false },
    { ".fp16.safetensors", false },
    { ".safetensors.index.json", true },
    { ".safetensors.index.fp16.json", true },
  };
  char *folder = g_build_filename (dir, component, NULL);
  sdcl_status st = SDCL_OK;
  bool found = false;
  for (size_t i = 0; i < G_N_ELEMENTS (candidates) && !found; i++)
    {
      char *name = g_strconcat (base, candidates[i].suffix, NULL);
      char *path = g_build_filename (folder, name, NULL);
      /* Present but not a regular file (a folder, a FIFO) is reported as
       * such by the opening, rather than as missing weights. */
      if ((found = sdcl_file_exists (path)))
        {
          *out = sdcl_wset_new (component, path);
          sdcl_st_file *f;
          if (candidates[i].sharded)
            st = add_sharded_tensors (mf, *out, comp, folder, path, err);
          else if (!(st = open_st (mf, path, &f, err)))
            st = add_file_tensors (*out, comp, f, err);
        }
      g_free (path);
      g_free (name);
    }
  if (!found)
    {
      char *bin_name = g_strconcat (base, ".bin", NULL);
      char *bin = g_build_filename (folder, bin_name, NULL);
      g_free (bin_name);
      st = g_file_test (bin, G_FILE_TEST_EXISTS)
           ? sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                        "%s: only PyTorch .bin weights; sdcl reads .safetensors", folder)
           : sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                        "%s: no weights (%s.safetensors, %s.fp16.safetensors or a sharded index)",
                        folder, base, base);
      g_free (bin);
    }
  g_free (folder);
  return st;
}

static const sdcl_st_tensor *
any_tensor_with_suffix (const sdcl_wset *ws, const char *suffix, int nd)
{
  for (size_t i = 0; i < sdcl_wset_count (ws); i++)
    {
      const sdcl_st_tensor *t = sdcl_wset_at (ws, i);
      if (t->nd == nd && g_str_has_suffix (t->name, suffix))
        return t;
    }
  return NULL;
}

static void
folder_facts (const sdcl_model_files *mf, bool second_text_encoder, sdcl_family_facts *facts)
{
  const sdcl_st_tensor *t;
  memset (facts, 0, sizeof *facts);
  facts->second_text_encoder = second_text_encoder;
  if ((t = any_tensor_with_suffix (mf->unet_w, ".attn2.to_k.weight", 2)))
    facts->cross_attention_dim = (int) t->shape[1];
  facts->linear_projection = any_tensor_with_suffix (mf->unet_w, ".proj_in.weight", 2) != NULL;
  /* OpenCLIP towers use exact GELU (docs/diffusion.md §OpenCLIP text encoders) */
  facts->openclip_text = !mf->clip.quick_gelu;
  if ((t = sdcl_wset_find (mf->text_w, "text_model.embeddings.token_embedding.weight")) && t->nd == 2)
    facts->text_hidden = (int) t->shape[1];
  if ((t = sdcl_wset_find (mf->unet_w, "add_embedding.linear_1.weight")) && t->nd == 2)
    facts->add_embedding_in = (int) t->shape[1];
  if ((t = sdcl_wset_find (mf->unet_w, "conv_in.weight")) && t->nd == 4)
    facts->unet_in_channels = (int) t->shape[1];
  if (mf->text2_w && (t = sdcl_wset_find (mf->text2_w, "text_model.embeddings.token_embedding.weight"))
      && t->nd == 2)
    facts->text2_hidden = (int) t->shape[1];
  facts->text2_projection = mf->clip2.projection_dim;
  facts->add_time_embed_dim = mf->unet.add_time_embed_dim;
}

/* A config value against the tensor dimension that must equal it, for a
 * message naming the config key rather than a derived tensor shape. */
static sdcl_status
agree (const sdcl_model_files *mf, const sdcl_wset *ws, const char *key, int value, const char *tensor,
       int dim, sdcl_error *err)
{
  const sdcl_st_tensor *t = sdcl_wset_find (ws, tensor);
  if (!t || dim >= t->nd || t->shape[dim] == value)
    return SDCL_OK;   /* absent tensors are reported by the spec check */
  return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                    "%s/%s/config.json: \"%s\" is %d but tensor %s has %" G_GINT64_FORMAT " in dimension %d",
                    mf->path, sdcl_wset_component (ws), key, value, tensor, t->shape[dim], dim);
}

static sdcl_status
check_configs_against_shapes (const sdcl_model_files *mf, sdcl_error *err)
{
  const sdcl_unet_config *u = &mf->unet;
  sdcl_status st;
  if ((st = agree (mf, mf->unet_w, "in_channels", u->in_channels, "conv_in.weight", 1, err))
      || (st = agree (mf, mf->unet_w, "out_channels", u->out_channels, "conv_out.weight", 0, err)))
    return st;
  for (int b = 0; b < u->n_levels; b++)
    {
      char name[96];
      g_snprintf (name, sizeof name, "down_blocks.%d.resnets.0.conv1.weight", b);
      if ((st = agree (mf, mf->unet_w, "block_out_channels", u->block_out_channels[b], name, 0, err)))
        return st;
    }
  const sdcl_st_tensor *to_k = any_tensor_with_suffix (mf->unet_w, ".attn2.to_k.weight", 2);
  if (to_k && (st = agree (mf, mf->unet_w, "cross_attention_dim", u->cross_attention_dim, to_k->name, 1, err)))
    return st;
  if ((st = agree (mf, mf->vae_w, "block_out_channels", mf->vae.block_out_channels[0],
                   "encoder.conv_in.weight", 0, err))
      || (st = agree (mf, mf->vae_w, "latent_channels", mf->vae.latent_channels, "decoder.conv_in.weight",
                      1, err)))
    return st;
  return agree (mf, mf->text_w, "hidden_size", mf->clip.hidden_size,
                "text_model.embeddings.token_embedding.weight", 1, err);
}

/* model_index.json is optional; when present it may reveal an SDXL
 * pipeline before any weights are read. */
static sdcl_status
read_model_index (const char *dir, bool *second_text_encoder, bool *force_zeros, sdcl_error *err)
{
  char *path = g_build_filename (dir, "model_index.json", NULL);
  JsonParser *parser = NULL;
  sdcl_status st = SDCL_OK;
  if (sdcl_file_exists (path) && !(st = read_json_object (path, &parser, err)))
    {
      JsonObject *o = json_node_get_object (json_parser_get_root (parser));
      *second_text_encoder = json_object_has_member (o, "text_encoder_2");
      JsonNode *fz = json_object_get_member (o, "force_zeros_for_empty_prompt");
      if (fz && JSON_NODE_HOLDS_VALUE (fz) && json_node_get_value_type (fz) == G_TYPE_BOOLEAN)
        *force_zeros = json_node_get_boolean (fz);
    }
  char *te2 = g_build_filename (dir, "text_encoder_2", NULL);
  *second_text_encoder |= g_file_test (te2, G_FILE_TEST_IS_DIR);
  g_free (te2);
  if (parser)
    g_object_unref (parser);
  g_free (path);
  return st;
}

static sdcl_status
read_scheduler (sdcl_model_files *mf, sdcl_error *err)
{
  char *path = g_build_filename (mf->path, "scheduler", "scheduler_config.json", NULL);
  sdcl_status st = SDCL_OK;
  /* a folder without one keeps the family's defaults (sdcl_model_files_open) */
  if (sdcl_file_exists (path))
    {
      mf->prediction_source = "scheduler config";
      st = read_config (mf->path, "scheduler", "scheduler_config.json", parse_sched, &mf->sched, err);
    }
  g_free (path);
  return st;
}

static sdcl_status
find_tokenizer (sdcl_model_files *mf, const char *sub, char **vocab_out, char **merges_out,
                sdcl_error *err)
{
  char *vocab = g_build_filename (mf->path, sub, "vocab.json", NULL);
  char *merges = g_build_filename (mf->path, sub, "merges.txt", NULL);
  /* Present is enough here: the tokenizer's reading refuses a FIFO or a
   * folder by name. */
  bool has_vocab = sdcl_file_exists (vocab);
  bool has_merges = sdcl_file_exists (merges);
  sdcl_status st = SDCL_OK;
  if (has_vocab && has_merges)
    {
      *vocab_out = vocab;
      *merges_out = merges;
      return SDCL_OK;
    }
  if (has_vocab != has_merges)
    st = sdcl_fail (err, SDCL_ERR_TOKENIZER, "%s/%s: has %s but not %s", mf->path, sub,
                    has_vocab ? "vocab.json" : "merges.txt", has_vocab ? "merges.txt" : "vocab.json");
  g_free (vocab);
  g_free (merges);
  return st;
}

/* SDXL's text_encoder_2/: a CLIP tower with a text projection, whose
 * width the projection's rows say. */
static sdcl_status
open_second_text_encoder (sdcl_model_files *mf, sdcl_error *err)
{
  const sdcl_st_tensor *t;
  sdcl_status st;
  char *te2 = g_build_filename (mf->path, "text_encoder_2", NULL);
  bool present = g_file_test (te2, G_FILE_TEST_IS_DIR);
  g_free (te2);
  if (!present)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: model_index.json lists text_encoder_2 (SDXL) but "
                      "the folder has no text_encoder_2/", mf->path);
  if ((st = read_config (mf->path, "text_encoder_2", "config.json", parse_clip, &mf->clip2, err))
      || (st = open_component_weights (mf, mf->path, "text_encoder_2", "model", SDCL_COMP_TEXT2,
                                       &mf->text2_w, err)))
    return st;
  if ((t = sdcl_wset_find (mf->text2_w, "text_projection.weight")) && t->nd == 2)
    mf->clip2.projection_dim = (int) t->shape[0];
  mf->clip2.pad_token_id = 0;   /* OpenCLIP's tokenizer pads with "!" */
  return agree (mf, mf->text2_w, "hidden_size", mf->clip2.hidden_size,
                "text_model.embeddings.token_embedding.weight", 1, err);
}

/* SDXL's refiner ships text_encoder_2 alone (bigG; aesthetic-score ids). */
static sdcl_status
refuse_refiner_folder (const char *dir, bool second_text_encoder, sdcl_error *err)
{
  char *te = g_build_filename (dir, "text_encoder", NULL);
  bool first = g_file_test (te, G_FILE_TEST_IS_DIR);
  g_free (te);
  if (!second_text_encoder || first)
    return SDCL_OK;
  /* worded as families/family.c's refusals; detection would never see it,
   * the missing text_encoder/ fails the scan first */
  return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL, "%s: text_encoder_2 without text_encoder: "
                    "SDXL refiner, which this version does not support yet", dir);
}

/* Up to detection: configs, weight sets and the family facts. */
static sdcl_status
scan_folder (sdcl_model_files *mf, sdcl_family_facts *facts, sdcl_error *err)
{
  const char *dir = mf->path;
  bool second_text_encoder = false;
  sdcl_status st;
  if ((st = read_model_index (dir, &second_text_encoder, &mf->force_zeros_for_empty_prompt, err))
      || (st = refuse_refiner_folder (dir, second_text_encoder, err))
      || (st = read_config (dir, "unet", "config.json", parse_unet,
                            &mf->unet, err))
      || (st = read_config (dir, "vae", "config.json", parse_vae,
                            &mf->vae, err))
      || (st = read_config (dir, "text_encoder", "config.json", parse_clip, &mf->clip, err))
      || (st = open_component_weights (mf, dir, "unet", "diffusion_pytorch_model", SDCL_COMP_UNET,
                                       &mf->unet_w, err))
      || (st = open_component_weights (mf, dir, "vae", "diffusion_pytorch_model", SDCL_COMP_VAE,
                                       &mf->vae_w, err))
      || (st = open_component_weights (mf, dir, "text_encoder", "model", SDCL_COMP_TEXT, &mf->text_w,
                                       err))
      || (second_text_encoder && (st = open_second_text_encoder (mf, err))))
    return st;
  folder_facts (mf, second_text_encoder, facts);
  return SDCL_OK;
}

/* After detection: the checks, the scheduler config and the tokenizer. */
static sdcl_status
finish_folder (sdcl_model_files *mf, sdcl_error *err)
{
  sdcl_status st;
  if ((st = check_configs_against_shapes (mf, err)) || (st = check_all_specs (mf, err))
      || (st = read_scheduler (mf, err)))
    return st;
  /* SDXL's tokenizer_2 has the same vocabulary and merges; only its pad
   * token differs, which is the family's (families/sdxl.c) */
  return find_tokenizer (mf, "tokenizer", &mf->vocab_path, &mf->merges_path, err);
}

/* ---- public ------------------------------------------------------------ */

sdcl_status
sdcl_model_files_scan (const char *path, sdcl_model_files **out, sdcl_family_facts *facts,
                       sdcl_error *err)
{
  *out = NULL;
  memset (facts, 0, sizeof *facts);
  if (!path || !*path)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "no model path given");
  sdcl_model_files *mf = g_new0 (sdcl_model_files, 1);
  mf->path = g_strdup (path);
  mf->force_zeros_for_empty_prompt = true;   /* diffusers' SDXL default; unused elsewhere */
  sdcl_status st;
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    st = scan_folder (mf, facts, err);
  else if (sdcl_file_exists (path))
    st = scan_single_file (mf, facts, err);   /* refuses a FIFO or device by name */
  else
    st = sdcl_fail (err, SDCL_ERR_IO, "%s: no such file or folder", path);
  *out = mf;
  return st;
}

sdcl_status
sdcl_model_files_finish (sdcl_model_files *mf, sdcl_error *err)
{
  return mf->single_file ? finish_single_file (mf, err) : finish_folder (mf, err);
}

void
sdcl_model_files_close (sdcl_model_files *mf)
{
  if (!mf)
    return;
  sdcl_wset_free (mf->unet_w);
  sdcl_wset_free (mf->vae_w);
  sdcl_wset_free (mf->text_w);
  sdcl_wset_free (mf->text2_w);
  for (int i = 0; i < mf->n_files; i++)
    sdcl_st_close (mf->files[i]);
  g_free (mf->files);
  g_free (mf->vocab_path);
  g_free (mf->merges_path);
  g_free (mf->path);
  g_free (mf);
}

/* Weight sets: one component's tensors under canonical names, with the
 * file each came from so that every complaint can name it.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "model_files.h"

typedef struct {
  sdcl_st_tensor t;          /* first member: lookups hand out &entry->t; t.name is the
                              * canonical name, owned here */
  const sdcl_st_file *file;  /* the mapped file holding the data */
  const char *origin;        /* its path (owned by the sdcl_st_file) */
  char *origin_name;         /* the tensor's name in that file */
} wentry;

struct sdcl_wset {
  char *component;
  char *source;              /* the file (or shard index) the component came from */
  GPtrArray *entries;        /* wentry*, in insertion order */
  GHashTable *by_name;       /* canonical name -> wentry* */
  GHashTable *lora_slots;    /* module -> sdcl_lora_slot* (owned), see model_files.h */
};

static void
wentry_free (gpointer p)
{
  wentry *e = p;
  g_free ((char *) e->t.name);
  g_free (e->origin_name);
  g_free (e);
}

sdcl_wset *
sdcl_wset_new (const char *component, const char *source)
{
  sdcl_wset *ws = g_new0 (sdcl_wset, 1);
  ws->component = g_strdup (component);
  ws->source = g_strdup (source);
  ws->entries = g_ptr_array_new_with_free_func (wentry_free);
  ws->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  ws->lora_slots = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return ws;
}

void
sdcl_wset_free (sdcl_wset *ws)
{
  if (!ws)
    return;
  g_hash_table_destroy (ws->by_name);
  g_hash_table_destroy (ws->lora_slots);
  g_ptr_array_free (ws->entries, TRUE);
  g_free (ws->component);
  g_free (ws->source);
  g_free (ws);
}

sdcl_status
sdcl_wset_add (sdcl_wset *ws, const char *canonical, const sdcl_st_tensor *t,
               const sdcl_st_file *file, sdcl_error *err)
{
  const char *origin = sdcl_st_path (file);
  wentry *twin = g_hash_table_lookup (ws->by_name, canonical);
  if (twin)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: tensors %s and %s both hold %s of the %s",
                      origin, twin->origin_name, t->name, canonical, ws->component);
  wentry *e = g_new0 (wentry, 1);
  e->t = *t;
  e->t.name = g_strdup (canonical);
  e->file = file;
  e->origin = origin;
  e->origin_name = g_strdup (t->name);
  g_ptr_array_add (ws->entries, e);
  g_hash_table_insert (ws->by_name, (gpointer) e->t.name, e);
  return SDCL_OK;
}

const sdcl_st_tensor *
sdcl_wset_find (const sdcl_wset *ws, const char *name)
{
  wentry *e = g_hash_table_lookup (ws->by_name, name);
  return e ? &e->t : NULL;
}

size_t
sdcl_wset_count (const sdcl_wset *ws)
{
  return ws->entries->len;
}

const sdcl_st_tensor *
sdcl_wset_at (const sdcl_wset *ws, size_t i)
{
  return i < ws->entries->len ? &((wentry *) g_ptr_array_index (ws->entries, i))->t : NULL;
}

void
sdcl_wset_drop_pages (const sdcl_wset *ws, const sdcl_st_tensor *t)
{
  (void) ws;
  if (!t)
    return;
  const wentry *e = (const wentry *) (const void *) t;   /* t is &entry->t */
  sdcl_st_drop_pages (e->file, t->data, t->nbytes);
}

void
sdcl_wset_drop_all_pages (const sdcl_wset *ws)
{
  for (guint i = 0; ws && i < ws->entries->len; i++)
    {
      const wentry *e = g_ptr_array_index (ws->entries, i);
      sdcl_st_drop_pages (e->file, e->t.data, e->t.nbytes);
    }
}

sdcl_status
sdcl_wset_read (const sdcl_wset *ws, const sdcl_st_tensor *t, uint64_t offset, void *dst,
                size_t n, sdcl_error *err)
{
  (void) ws;
  const wentry *e = (const wentry *) (const void *) t;   /* t is &entry->t */
  if (offset > t->nbytes || n > t->nbytes - offset)
    return sdcl_fail (err, SDCL_ERR_INTERNAL, "read of %zu bytes at %" G_GUINT64_FORMAT
                      " outside tensor %s (%" G_GUINT64_FORMAT " bytes)", n, offset, t->name,
                      t->nbytes);
  return sdcl_st_read (e->file, (const uint8_t *) t->data + offset, dst, n, err);
}

sdcl_lora_slot *
sdcl_wset_lora_slot (const sdcl_wset *ws, const char *module)
{
  sdcl_lora_slot *slot = g_hash_table_lookup (ws->lora_slots, module);
  if (!slot)
    {
      slot = g_new0 (sdcl_lora_slot, 1);
      g_hash_table_insert (ws->lora_slots, g_strdup (module), slot);
    }
  return slot;
}

void
sdcl_wset_lora_clear (const sdcl_wset *ws)
{
  GHashTableIter it;
  gpointer slot;
  g_hash_table_iter_init (&it, ws->lora_slots);
  while (g_hash_table_iter_next (&it, NULL, &slot))
    ((sdcl_lora_slot *) slot)->side = NULL;
}

const char *
sdcl_wset_component (const sdcl_wset *ws)
{
  return ws->component;
}

static void
format_shape (char *out, size_t size, int nd, const int64_t *shape)
{
  size_t n = (size_t) g_snprintf (out, size, "[");
  for (int i = 0; i < nd && n < size; i++)
    n += (size_t) g_snprintf (out + n, size - n, i ? ", %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT,
                              shape[i]);
  if (n < size)
    g_snprintf (out + n, size - n, "]");
}

static bool
shape_matches (const sdcl_st_tensor *t, int nd, const int64_t *shape)
{
  if (t->nd != nd)
    return false;
  for (int i = 0; i < nd; i++)
    if (shape[i] >= 0 && shape[i] != t->shape[i])
      return false;
  return true;
}

const sdcl_st_tensor *
sdcl_wset_require (const sdcl_wset *ws, const char *name, int nd, const int64_t *shape,
                   sdcl_error *err)
{
  wentry *e = g_hash_table_lookup (ws->by_name, name);
  if (!e)
    {
      sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "missing tensor %s in %s of %s", name, ws->component,
                 ws->source);
      return NULL;
    }
  if (shape && !shape_matches (&e->t, nd, shape))
    {
      char got[128], want[128];
      format_shape (got, sizeof got, e->t.nd, e->t.shape);
      format_shape (want, sizeof want, nd, shape);
      bool wildcard = false;
      for (int i = 0; i < nd; i++)
        wildcard |= shape[i] < 0;
      /* a single file's own name is the one its owner can look for */
      bool renamed = strcmp (e->origin_name, name) != 0;
      sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "tensor %s%s%s%s in %s of %s has shape %s, expected %s%s",
                 renamed ? e->origin_name : name, renamed ? " (" : "", renamed ? name : "",
                 renamed ? " in diffusers' naming)" : "", ws->component, e->origin, got, want,
                 wildcard ? " (-1: any)" : "");
      return NULL;
    }
  return &e->t;
}

/* A tensor the config does not account for means config and weights
 * disagree (or the layout was misread): better refused than ignored. */
static sdcl_status
check_no_extras (const sdcl_wset *ws, const sdcl_tensor_spec *specs, size_t count, sdcl_error *err)
{
  GHashTable *expected = g_hash_table_new (g_str_hash, g_str_equal);
  for (size_t i = 0; i < count; i++)
    g_hash_table_add (expected, (gpointer) specs[i].name);
  sdcl_status st = SDCL_OK;
  for (guint i = 0; i < ws->entries->len && !st; i++)
    {
      const wentry *e = g_ptr_array_index (ws->entries, i);
      if (!g_hash_table_contains (expected, e->t.name))
        st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                        "unexpected tensor %s in %s of %s: the configuration has no place for it",
                        e->origin_name, ws->component, e->origin);
    }
  g_hash_table_destroy (expected);
  return st;
}

sdcl_status
sdcl_wset_check_specs (const sdcl_wset *ws, const sdcl_tensor_spec *specs, size_t count,
                       sdcl_error *err)
{
  for (size_t i = 0; i < count; i++)
    {
      const sdcl_st_tensor *t = sdcl_wset_require (ws, specs[i].name, specs[i].nd, specs[i].shape, err);
      if (!t)
        return SDCL_ERR_MODEL_FORMAT;
      if (t->dtype != SDCL_DT_F32 && t->dtype != SDCL_DT_F16 && t->dtype != SDCL_DT_BF16)
        {
          wentry *e = g_hash_table_lookup (ws->by_name, specs[i].name);
          return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                            "tensor %s in %s of %s has dtype %s; sdcl reads F32, F16 and BF16 weights",
                            specs[i].name, ws->component, e->origin, t->dtype_name);
        }
    }
  return check_no_extras (ws, specs, count, err);
}

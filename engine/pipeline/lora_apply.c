/* The LoRA list of a model: which files are applied with which weights,
 * their parsed layers, and the side paths (nn.h) the networks' slots point
 * at.  A run passes its list (sdcl_gen_params.loras plus prompt tags);
 * when it equals the last one nothing happens, else the files are read
 * (those still in the list are kept parsed), the side paths rebuilt on the
 * host and uploaded by each layer on its first use.  The base weights are
 * never touched, so no list at all is the model as loaded.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "api_internal.h"
#include "lora.h"
#include "lora_apply.h"
#include "nn.h"

typedef struct {
  char *path;
  char identity[96];      /* size and modification time: a rewritten file is read again */
  sdcl_lora_file *file;
} cached_file;

struct sdcl_lora_state {
  sdcl_lora_index *index;
  GPtrArray *files;        /* cached_file*: the files of the applied list */
  char *applied;           /* the applied list's signature, NULL: none */
  GPtrArray *sides;        /* nn_lora_side*, owned; slots point into them */
};

static void
cached_file_free (gpointer p)
{
  cached_file *c = p;
  g_free (c->path);
  sdcl_lora_file_free (c->file);
  g_free (c);
}

static void
side_free (gpointer p)
{
  nn_lora_side_free (p);
}

void
sdcl_lora_state_free (sdcl_lora_state *s)
{
  if (!s)
    return;
  sdcl_lora_index_free (s->index);
  g_ptr_array_free (s->files, TRUE);
  g_ptr_array_free (s->sides, TRUE);
  g_free (s->applied);
  g_free (s);
}

static sdcl_lora_state *
state_of (sdcl_model *m)
{
  if (!m->lora)
    {
      sdcl_lora_state *s = g_new0 (sdcl_lora_state, 1);
      const sdcl_model_files *mf = m->files;
      s->index = sdcl_lora_index_new (mf->family_desc, &mf->unet, &mf->clip,
                                      mf->text2_w ? &mf->clip2 : NULL, mf->path);
      s->files = g_ptr_array_new_with_free_func (cached_file_free);
      s->sides = g_ptr_array_new_with_free_func (side_free);
      m->lora = s;
    }
  return m->lora;
}

static sdcl_status
file_identity (const char *path, char *out, size_t size, sdcl_error *err)
{
  GStatBuf sb;
  if (g_stat (path, &sb) != 0)
    return sdcl_fail (err, SDCL_ERR_IO, "LoRA %s: %s", path, g_strerror (errno));
  g_snprintf (out, size, "%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, (gint64) sb.st_size,
              (gint64) sb.st_mtime);
  return SDCL_OK;
}

/* The parsed file at path: from the cache when unchanged on disk. */
static sdcl_status
get_file (sdcl_lora_state *s, GPtrArray *keep, const char *path, const char *identity,
          sdcl_lora_file **out, sdcl_error *err)
{
  for (guint i = 0; i < s->files->len; i++)
    {
      cached_file *c = g_ptr_array_index (s->files, i);
      if (strcmp (c->path, path) == 0 && strcmp (c->identity, identity) == 0)
        {
          g_ptr_array_add (keep, g_ptr_array_steal_index (s->files, i));
          *out = c->file;
          return SDCL_OK;
        }
    }
  for (guint i = 0; i < keep->len; i++)   /* the same file twice in one list */
    {
      cached_file *c = g_ptr_array_index (keep, i);
      if (strcmp (c->path, path) == 0 && strcmp (c->identity, identity) == 0)
        {
          *out = c->file;
          return SDCL_OK;
        }
    }
  sdcl_lora_file *f = NULL;
  sdcl_status st = sdcl_lora_read (path, s->index, &f, err);
  if (st != SDCL_OK)
    return st;
  cached_file *c = g_new0 (cached_file, 1);
  c->path = g_strdup (path);
  g_strlcpy (c->identity, identity, sizeof c->identity);
  c->file = f;
  g_ptr_array_add (keep, c);
  *out = f;
  return SDCL_OK;
}

typedef struct {
  const sdcl_lora_layer *layer;
  float weight;
} contribution;

/* One layer's side path from every LoRA that adapts it: down halves
 * stacked, up halves side by side, each scaled by weight x alpha / rank. */
static nn_lora_side *
build_side (const sdcl_lora_target *t, GArray *parts)
{
  nn_lora_side *side = g_new0 (nn_lora_side, 1);
  side->out = t->shape[0];
  side->in = t->shape[1];
  side->k = t->nd == 4 ? t->shape[2] : 1;
  for (guint i = 0; i < parts->len; i++)
    side->rank += g_array_index (parts, contribution, i).layer->rank;
  int64_t row = side->in * side->k * side->k;
  side->down = g_new (float, side->rank * row);
  side->up = g_new (float, side->out * side->rank);
  int64_t at = 0;
  for (guint i = 0; i < parts->len; i++)
    {
      const contribution *c = &g_array_index (parts, contribution, i);
      const sdcl_lora_layer *l = c->layer;
      memcpy (side->down + at * row, l->down, (size_t) (l->rank * row) * sizeof (float));
      double scale = (double) c->weight * (double) l->alpha_scale;
      for (int64_t o = 0; o < side->out; o++)
        for (int64_t j = 0; j < l->rank; j++)
          side->up[o * side->rank + at + j] = (float) (scale * l->up[o * l->rank + j]);
      at += l->rank;
    }
  return side;
}

static void
attach_sides (sdcl_model *m, sdcl_lora_state *s, const sdcl_lora_file **files,
              const float *weights, int n)
{
  sdcl_wset_lora_clear (m->files->unet_w);
  sdcl_wset_lora_clear (m->files->text_w);
  if (m->files->text2_w)
    sdcl_wset_lora_clear (m->files->text2_w);
  g_ptr_array_set_size (s->sides, 0);
  g_autoptr (GHashTable) by_target = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                                            (GDestroyNotify) g_array_unref);
  g_autoptr (GPtrArray) order = g_ptr_array_new ();
  for (int i = 0; i < n; i++)
    for (size_t j = 0; j < files[i]->n_layers; j++)
      {
        const sdcl_lora_layer *l = &files[i]->layers[j];
        GArray *parts = g_hash_table_lookup (by_target, l->target);
        if (!parts)
          {
            parts = g_array_new (FALSE, FALSE, sizeof (contribution));
            g_hash_table_insert (by_target, (gpointer) l->target, parts);
            g_ptr_array_add (order, (gpointer) l->target);
          }
        contribution c = { l, weights[i] };
        g_array_append_val (parts, c);
      }
  for (guint i = 0; i < order->len; i++)
    {
      const sdcl_lora_target *t = g_ptr_array_index (order, i);
      nn_lora_side *side = build_side (t, g_hash_table_lookup (by_target, t));
      side->keep_host = m->residency != SDCL_RESIDENCY_RESIDENT;
      g_ptr_array_add (s->sides, side);
      const sdcl_wset *ws = t->comp == SDCL_COMP_UNET    ? m->files->unet_w
                            : t->comp == SDCL_COMP_TEXT2 ? m->files->text2_w
                                                         : m->files->text_w;
      sdcl_wset_lora_slot (ws, t->module)->side = side;
    }
}

sdcl_status
sdcl_model_apply_loras (sdcl_model *m, const sdcl_lora *list, int n, sdcl_error *err)
{
  if (n < 0 || (n > 0 && !list))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "LoRA list: %d entries at %p", n,
                      (const void *) list);
  GString *sig = g_string_new (NULL);
  g_autofree char **ids = g_new0 (char *, MAX (n, 1));
  sdcl_status st = SDCL_OK;
  for (int i = 0; i < n && st == SDCL_OK; i++)
    {
      if (!list[i].path || !*list[i].path)
        st = sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "LoRA %d of the list has no file", i + 1);
      else if (!(list[i].weight >= -100.0f && list[i].weight <= 100.0f))
        st = sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "LoRA %s: weight %g is outside [-100, 100]",
                        list[i].path, list[i].weight);
      if (st != SDCL_OK || list[i].weight == 0.0f)
        continue;   /* weight 0 changes nothing: not even read */
      char id[96];
      st = file_identity (list[i].path, id, sizeof id, err);
      ids[i] = g_strdup (id);
      g_string_append_printf (sig, "%s\n%s\n%.9g\n", list[i].path, id, list[i].weight);
    }
  if (st == SDCL_OK && !m->lora && sig->len == 0)
    goto done;   /* never had a LoRA: nothing to clear */
  sdcl_lora_state *s = st == SDCL_OK ? state_of (m) : NULL;
  if (st != SDCL_OK || (s->applied && strcmp (s->applied, sig->str) == 0)
      || (!s->applied && sig->len == 0))
    goto done;

  /* Read first, switch after: a failing list leaves the model LoRA-free
   * rather than half applied. */
  GPtrArray *keep = g_ptr_array_new_with_free_func (cached_file_free);
  const sdcl_lora_file **files = g_new0 (const sdcl_lora_file *, MAX (n, 1));
  float *weights = g_new0 (float, MAX (n, 1));
  int used = 0;
  for (int i = 0; i < n && st == SDCL_OK; i++)
    if (ids[i])
      {
        sdcl_lora_file *f = NULL;
        st = get_file (s, keep, list[i].path, ids[i], &f, err);
        files[used] = f;
        weights[used++] = list[i].weight;
      }
  g_ptr_array_free (s->files, TRUE);
  s->files = keep;
  g_clear_pointer (&s->applied, g_free);
  if (st == SDCL_OK)
    {
      attach_sides (m, s, files, weights, used);
      s->applied = g_strdup (sig->str);
    }
  else
    attach_sides (m, s, NULL, NULL, 0);
  g_free (files);
  g_free (weights);
done:
  for (int i = 0; i < n; i++)
    g_free (ids[i]);
  g_string_free (sig, TRUE);
  return st;
}

uint64_t
sdcl_model_lora_device_bytes (const sdcl_model *m)
{
  uint64_t n = 0;
  for (guint i = 0; m->lora && i < m->lora->sides->len; i++)
    n += nn_lora_side_device_bytes (g_ptr_array_index (m->lora->sides, i));
  return n;
}

void
sdcl_model_lora_drop_device (sdcl_model *m)
{
  for (guint i = 0; m->lora && i < m->lora->sides->len; i++)
    nn_lora_side_drop_device (g_ptr_array_index (m->lora->sides, i));
}

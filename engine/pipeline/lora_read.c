/* Reading one LoRA file against a model (lora.h): keys to layers, halves
 * and alphas grouped per layer, every shape and value checked before
 * anything reaches a network.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include "api_internal.h"
#include "lora.h"

typedef enum { PART_DOWN, PART_UP, PART_ALPHA } lora_part;

/* Key endings, longest first where one ends another. */
static const struct {
  const char *suffix;
  lora_part part;
} suffixes[] = {
  { ".lora_down.weight", PART_DOWN },            /* kohya, LoCon */
  { ".lora_up.weight", PART_UP },
  { ".alpha", PART_ALPHA },
  { ".lora_A.weight", PART_DOWN },               /* PEFT */
  { ".lora_B.weight", PART_UP },
  { ".lora_linear_layer.down.weight", PART_DOWN },  /* diffusers' older text encoder */
  { ".lora_linear_layer.up.weight", PART_UP },
  { ".lora_layer.down.weight", PART_DOWN },      /* diffusers' LoRACompatibleLinear */
  { ".lora_layer.up.weight", PART_UP },
  { "_lora.down.weight", PART_DOWN },            /* attn1.processor.to_q_lora */
  { "_lora.up.weight", PART_UP },
};

/* Parts of formats sdcl does not run, by what their keys contain. */
static const struct {
  const char *marker, *format;
} refused[] = {
  { ".hada_", "LoHa (LyCORIS Hadamard product)" },
  { ".lokr_", "LoKr (LyCORIS Kronecker product)" },
  { ".lora_mid.", "LoCon with Tucker decomposition (lora_mid)" },
  { ".dora_scale", "DoRA" },
  { ".oft_", "OFT" },
  { ".diff", "a full-weight difference (LyCORIS 'full')" },
};

typedef struct {
  char *stem;
  const sdcl_st_tensor *part[3];
} key_group;

typedef struct {
  const sdcl_st_file *f;
  const sdcl_lora_index *ix;
  GHashTable *groups;          /* stem -> key_group* */
  GPtrArray *order;            /* key_group*, in file order */
  GPtrArray *unmatched;        /* const char* keys */
  sdcl_error *err;
} reader;

static void
group_free (gpointer p)
{
  key_group *g = p;
  g_free (g->stem);
  g_free (g);
}

static sdcl_status
refuse_format (const reader *r, const char *key, sdcl_error *err)
{
  for (size_t i = 0; i < G_N_ELEMENTS (refused); i++)
    if (strstr (key, refused[i].marker))
      return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                        "%s: %s is %s, which sdcl does not support; use a LoRA or LoCon "
                        "(lora_down/lora_up) file", sdcl_st_path (r->f), key, refused[i].format);
  return SDCL_OK;
}

static sdcl_status
add_key (reader *r, const sdcl_st_tensor *t, sdcl_error *err)
{
  sdcl_status st = refuse_format (r, t->name, err);
  if (st != SDCL_OK)
    return st;
  for (size_t i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (g_str_has_suffix (t->name, suffixes[i].suffix))
      {
        g_autofree char *stem = g_strndup (t->name, strlen (t->name) - strlen (suffixes[i].suffix));
        key_group *g = g_hash_table_lookup (r->groups, stem);
        if (!g)
          {
            g = g_new0 (key_group, 1);
            g->stem = g_steal_pointer (&stem);
            g_hash_table_insert (r->groups, g->stem, g);
            g_ptr_array_add (r->order, g);
          }
        if (g->part[suffixes[i].part])
          return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: %s and %s are the same part of one "
                            "layer", sdcl_st_path (r->f), g->part[suffixes[i].part]->name, t->name);
        g->part[suffixes[i].part] = t;
        return SDCL_OK;
      }
  g_ptr_array_add (r->unmatched, (gpointer) t->name);
  return SDCL_OK;
}

/* diffusers' attention-processor names to the module's own:
 * "attn1.processor.to_q" -> "attn1.to_q", "...to_out" -> "...to_out.0". */
static char *
processor_module (const char *stem)
{
  const char *p = strstr (stem, ".processor.");
  if (!p)
    return g_strdup (stem);
  g_autofree char *head = g_strndup (stem, p - stem);
  const char *leaf = p + strlen (".processor.");
  return g_strconcat (head, ".", leaf, strcmp (leaf, "to_out") == 0 ? ".0" : "", NULL);
}

/* The layer a stem names (kohya's numbered lora_te1_/lora_te2_ are in the
 * index only for a model with SDXL's two towers). */
static const sdcl_lora_target *
resolve (const sdcl_lora_index *ix, const char *stem)
{
  if (g_str_has_prefix (stem, "lora_"))
    return sdcl_lora_index_kohya (ix, stem);
  const char *m = g_str_has_prefix (stem, "base_model.model.") ? stem + 17 : stem;
  if (g_str_has_prefix (m, "unet."))
    {
      g_autofree char *mod = processor_module (m + 5);
      return sdcl_lora_index_module (ix, SDCL_COMP_UNET, mod);
    }
  if (g_str_has_prefix (m, "text_encoder_2."))
    return sdcl_lora_index_module (ix, SDCL_COMP_TEXT2, m + strlen ("text_encoder_2."));
  if (g_str_has_prefix (m, "text_encoder."))
    return sdcl_lora_index_module (ix, SDCL_COMP_TEXT, m + strlen ("text_encoder."));
  g_autofree char *mod = processor_module (m);
  const sdcl_lora_target *t = sdcl_lora_index_module (ix, SDCL_COMP_UNET, mod);
  return t ? t : sdcl_lora_index_module (ix, SDCL_COMP_TEXT, m);
}

/* ---- which model a LoRA was made for ---- */

typedef struct {
  int cross_attention_dim;     /* in-width of a cross-attention key/value down, 0 unknown */
  int linear_projection;       /* -1 unknown, else whether proj_in is a matrix */
  bool second_te;
} lora_traits;

static void
gather_traits (const reader *r, lora_traits *tr)
{
  memset (tr, 0, sizeof *tr);
  tr->linear_projection = -1;
  for (guint i = 0; i < r->order->len; i++)
    {
      const key_group *g = g_ptr_array_index (r->order, i);
      const sdcl_st_tensor *down = g->part[PART_DOWN];
      bool te = g_str_has_prefix (g->stem, "lora_te") || strstr (g->stem, "text_encoder")
                || strstr (g->stem, "text_model");
      /* kohya numbers the text encoders only for SDXL, which has two */
      if (g_str_has_prefix (g->stem, "lora_te1_") || g_str_has_prefix (g->stem, "lora_te2_")
          || g_str_has_prefix (g->stem, "text_encoder_2."))
        tr->second_te = true;
      if (!down || down->nd < 2 || te)
        continue;
      if (strstr (g->stem, "attn2") && (strstr (g->stem, "to_k") || strstr (g->stem, "to_v"))
          && !tr->cross_attention_dim)
        tr->cross_attention_dim = (int) down->shape[1];
      if (strstr (g->stem, "proj_in") && tr->linear_projection < 0)
        tr->linear_projection = down->nd == 2;
    }
}

/* A LoRA whose cross-attention width or layout differs from the model's
 * was made for another family or model size: say which, and which the
 * model is. */
static sdcl_status
check_made_for (const reader *r, sdcl_error *err)
{
  lora_traits tr;
  gather_traits (r, &tr);
  int cad = sdcl_lora_index_cross_attention_dim (r->ix);
  bool model_linear = sdcl_lora_index_linear_projection (r->ix);
  bool other_towers = tr.second_te && !sdcl_lora_index_has_text2 (r->ix);
  bool differs = other_towers || (tr.cross_attention_dim && tr.cross_attention_dim != cad)
                 || (tr.linear_projection >= 0 && tr.linear_projection != model_linear);
  if (!differs)
    return SDCL_OK;
  int lora_cad = tr.cross_attention_dim ? tr.cross_attention_dim : cad;
  const char *family = sdcl_lora_family_name (lora_cad, tr.linear_projection > 0, tr.second_te);
  if (tr.second_te)
    family = "SDXL";   /* its second text encoder says so whatever else it holds */
  char width[64] = "";
  if (tr.cross_attention_dim)
    g_snprintf (width, sizeof width, " (cross-attention width %d)", tr.cross_attention_dim);
  return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                    "LoRA %s was made for %s%s, but the model is %s: %s", sdcl_st_path (r->f),
                    family ? family : "another model", width, sdcl_lora_index_model_label (r->ix),
                    sdcl_lora_index_model_path (r->ix));
}

/* ---- one layer ---- */

static void
format_shape (char *out, size_t size, const sdcl_st_tensor *t)
{
  size_t n = (size_t) g_snprintf (out, size, "[");
  for (int i = 0; i < t->nd && n < size; i++)
    n += (size_t) g_snprintf (out + n, size - n, i ? ", %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT,
                              t->shape[i]);
  if (n < size)
    g_snprintf (out + n, size - n, "]");
}

/* Whether t is [a, b] or [a, b, k, k] (k = 1 only for `matrix_ok`...). */
static bool
dims_are (const sdcl_st_tensor *t, int64_t a, int64_t b, int64_t k)
{
  if (t->shape[0] != a || t->shape[1] != b)
    return false;
  if (t->nd == 2)
    return k == 1;
  return t->nd == 4 && t->shape[2] == k && t->shape[3] == k;
}

static sdcl_status
shape_error (const reader *r, const key_group *g, const sdcl_lora_target *t, sdcl_error *err)
{
  char down[96], up[96];
  format_shape (down, sizeof down, g->part[PART_DOWN]);
  format_shape (up, sizeof up, g->part[PART_UP]);
  char want[96];
  size_t n = (size_t) g_snprintf (want, sizeof want, "%" G_GINT64_FORMAT " -> %" G_GINT64_FORMAT,
                                  t->shape[1], t->shape[0]);
  if (t->nd == 4 && n < sizeof want)
    g_snprintf (want + n, sizeof want - n, ", %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " kernel",
                t->shape[2], t->shape[3]);
  return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                    "LoRA %s: layer %s has down %s and up %s, which do not fit the model's %s "
                    "(%s) of %s", sdcl_st_path (r->f), g->stem, down, up, t->module, want,
                    sdcl_lora_index_model_label (r->ix));
}

/* Host float copy of t, refusing NaN and infinity. */
static float *
read_finite (const reader *r, const sdcl_st_tensor *t, sdcl_error *err)
{
  if (t->dtype != SDCL_DT_F32 && t->dtype != SDCL_DT_F16 && t->dtype != SDCL_DT_BF16)
    {
      sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s: tensor %s has dtype %s; LoRA weights must "
                 "be F32, F16 or BF16", sdcl_st_path (r->f), t->name, t->dtype_name);
      return NULL;
    }
  g_autofree void *raw = g_try_malloc (MAX (t->nbytes, 1));
  float *out = g_try_new (float, MAX (t->n_elements, 1));
  if (!raw || !out)
    {
      g_free (out);
      sdcl_fail (err, SDCL_ERR_OUT_OF_MEMORY, "LoRA %s: no host memory for tensor %s",
                 sdcl_st_path (r->f), t->name);
      return NULL;
    }
  if (sdcl_st_read (r->f, t->data, raw, t->nbytes, err) != SDCL_OK)
    {
      g_free (out);
      return NULL;
    }
  sdcl_st_tensor copy = *t;
  copy.data = raw;
  sdcl_st_to_f32 (&copy, out);
  for (int64_t i = 0; i < t->n_elements; i++)
    if (!isfinite (out[i]))
      {
        sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s: tensor %s holds %s at element %"
                   G_GINT64_FORMAT, sdcl_st_path (r->f), t->name,
                   isnan (out[i]) ? "NaN" : "an infinity", i);
        g_free (out);
        return NULL;
      }
  return out;
}

static sdcl_status
read_alpha (const reader *r, const sdcl_st_tensor *t, int64_t rank, float *scale, sdcl_error *err)
{
  *scale = 1.0f;
  if (!t)
    return SDCL_OK;
  if (t->n_elements != 1)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s: %s holds %" G_GINT64_FORMAT
                      " values; an alpha is one number", sdcl_st_path (r->f), t->name,
                      t->n_elements);
  float *a = read_finite (r, t, err);
  if (!a)
    return err ? err->code : SDCL_ERR_MODEL_FORMAT;
  *scale = (float) ((double) a[0] / (double) rank);
  g_free (a);
  return SDCL_OK;
}

static sdcl_status
read_layer (const reader *r, const key_group *g, const sdcl_lora_target *t, sdcl_lora_layer *out,
            sdcl_error *err)
{
  const sdcl_st_tensor *down = g->part[PART_DOWN], *up = g->part[PART_UP];
  if (!down && !up)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s: layer %s has an alpha but no down "
                      "or up half", sdcl_st_path (r->f), g->stem);
  if (!down || !up)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s: layer %s has %s half but no %s half",
                      sdcl_st_path (r->f), g->stem, down ? "a down" : "an up",
                      down ? "up" : "down");
  if ((down->nd != 2 && down->nd != 4) || (up->nd != 2 && up->nd != 4))
    return shape_error (r, g, t, err);
  int64_t rank = down->shape[0];
  if (up->shape[1] != rank)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s: layer %s has rank %" G_GINT64_FORMAT
                      " in its down half and %" G_GINT64_FORMAT " in its up half",
                      sdcl_st_path (r->f), g->stem, rank, up->shape[1]);
  int64_t k = t->nd == 4 ? t->shape[2] : 1;
  if (rank < 1 || !dims_are (down, rank, t->shape[1], k) || !dims_are (up, t->shape[0], rank, 1))
    return shape_error (r, g, t, err);
  out->target = t;
  out->stem = g_strdup (g->stem);
  out->rank = rank;
  out->k = k;
  sdcl_status st = read_alpha (r, g->part[PART_ALPHA], rank, &out->alpha_scale, err);
  if (st == SDCL_OK && !(out->down = read_finite (r, down, err)))
    st = err ? err->code : SDCL_ERR_MODEL_FORMAT;
  if (st == SDCL_OK && !(out->up = read_finite (r, up, err)))
    st = err ? err->code : SDCL_ERR_MODEL_FORMAT;
  return st;
}

/* ---- the file ---- */

static sdcl_status
unmatched_error (const reader *r, GPtrArray *names, sdcl_error *err)
{
  GString *list = g_string_new (NULL);
  for (guint i = 0; i < names->len && i < 4; i++)
    g_string_append_printf (list, "%s%s", i ? ", " : "", (const char *) g_ptr_array_index (names, i));
  sdcl_status st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT,
                              "LoRA %s: %u key%s match%s no layer of the model %s, %s: %s%s",
                              sdcl_st_path (r->f), names->len, names->len == 1 ? "" : "s",
                              names->len == 1 ? "es" : "", sdcl_lora_index_model_path (r->ix),
                              sdcl_lora_index_model_label (r->ix), list->str,
                              names->len > 4 ? ", ..." : "");
  g_string_free (list, TRUE);
  return st;
}

void
sdcl_lora_file_free (sdcl_lora_file *f)
{
  if (!f)
    return;
  for (size_t i = 0; i < f->n_layers; i++)
    {
      g_free (f->layers[i].stem);
      g_free (f->layers[i].down);
      g_free (f->layers[i].up);
    }
  g_free (f->layers);
  g_free (f->path);
  g_free (f);
}

/* Every group to its layer: unknown stems are collected, two stems for
 * one layer refused. */
static sdcl_status
read_groups (reader *r, sdcl_lora_file *lf, sdcl_error *err)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GPtrArray) unknown = g_ptr_array_new ();
  const sdcl_lora_target **targets = g_new0 (const sdcl_lora_target *, r->order->len);
  for (guint i = 0; i < r->order->len; i++)
    {
      const key_group *g = g_ptr_array_index (r->order, i);
      targets[i] = resolve (r->ix, g->stem);
      if (!targets[i])
        g_ptr_array_add (unknown, g->stem);
    }
  for (guint i = 0; i < r->unmatched->len; i++)
    g_ptr_array_add (unknown, g_ptr_array_index (r->unmatched, i));
  sdcl_status st = unknown->len ? unmatched_error (r, unknown, err) : SDCL_OK;
  lf->layers = g_new0 (sdcl_lora_layer, MAX (r->order->len, 1));
  for (guint i = 0; i < r->order->len && st == SDCL_OK; i++)
    {
      const key_group *g = g_ptr_array_index (r->order, i);
      const key_group *twin = g_hash_table_lookup (seen, targets[i]);
      if (twin)
        st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s: %s and %s both adapt %s",
                        sdcl_st_path (r->f), twin->stem, g->stem, targets[i]->module);
      g_hash_table_insert (seen, (gpointer) targets[i], (gpointer) g);
      if (st == SDCL_OK)
        st = read_layer (r, g, targets[i], &lf->layers[lf->n_layers], err);
      lf->n_layers++;   /* freed with the file whatever read_layer left in it */
    }
  g_free (targets);
  return st;
}

sdcl_status
sdcl_lora_parse (const sdcl_st_file *f, const sdcl_lora_index *ix, sdcl_lora_file **out,
                 sdcl_error *err)
{
  *out = NULL;
  reader r = { .f = f, .ix = ix, .err = err };
  r.groups = g_hash_table_new (g_str_hash, g_str_equal);
  r.order = g_ptr_array_new_with_free_func (group_free);
  r.unmatched = g_ptr_array_new ();
  sdcl_status st = SDCL_OK;
  for (size_t i = 0; i < sdcl_st_count (f) && st == SDCL_OK; i++)
    st = add_key (&r, sdcl_st_at (f, i), err);
  if (st == SDCL_OK && r.order->len == 0 && r.unmatched->len == 0)
    st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "LoRA %s holds no tensors", sdcl_st_path (f));
  if (st == SDCL_OK)
    st = check_made_for (&r, err);
  sdcl_lora_file *lf = g_new0 (sdcl_lora_file, 1);
  lf->path = g_strdup (sdcl_st_path (f));
  if (st == SDCL_OK)
    st = read_groups (&r, lf, err);
  g_hash_table_destroy (r.groups);
  g_ptr_array_free (r.order, TRUE);
  g_ptr_array_free (r.unmatched, TRUE);
  if (st != SDCL_OK)
    {
      sdcl_lora_file_free (lf);
      return st;
    }
  *out = lf;
  return SDCL_OK;
}

sdcl_status
sdcl_lora_read (const char *path, const sdcl_lora_index *ix, sdcl_lora_file **out, sdcl_error *err)
{
  *out = NULL;
  sdcl_st_file *f = NULL;
  sdcl_status st = sdcl_st_open (path, &f, err);
  if (st != SDCL_OK)
    return st;
  st = sdcl_lora_parse (f, ix, out, err);
  sdcl_st_close (f);
  return st;
}

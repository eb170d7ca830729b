/* Textual-inversion embeddings from .safetensors files.
 *
 * Layouts (docs/diffusion.md §Textual inversion):
 *   A1111      "emb_params" [n, D] (or [D])
 *   SDXL       "clip_l" [n, 768] and "clip_g" [n, 1280]: one part per tower
 *   diffusers  learned_embeds.safetensors: one tensor named after its
 *              placeholder token, [D] or [n, D]
 * Files are small (75 vectors of 2048 floats at most), so each is read whole
 * into memory, validated by the safetensors reader and converted to F32.
 * Pickles (.pt, .bin) are never read: unpickling runs code from the file.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "embedding.h"

#include <math.h>
#include <string.h>

#include "error_internal.h"
#include "tokenizer.h"
#include "sdcl_file.h"

/* Far above any embedding (75 x 2048 F32 = 600 kB); a LoRA or a model
 * given by mistake is refused before it is read. */
#define EMBEDDING_MAX_BYTES (16u << 20)
#define MAX_VECTORS (SDCL_CLIP_CONTEXT - 2)

void
sdcl_embedding_free (sdcl_embedding *e)
{
  if (!e)
    return;
  for (int i = 0; i < e->n_parts; i++)
    g_free (e->parts[i].vectors);
  g_free (e->name);
  g_free (e->path);
  g_free (e);
}

/* One tower's tensor: [D] or [n, D] of F32/F16/BF16, finite, n in 1..75,
 * the same n for every part. */
static sdcl_status
add_part (sdcl_embedding *e, const sdcl_st_tensor *t, const char *tower, sdcl_error *err)
{
  if (t->nd != 1 && t->nd != 2)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%s: tensor \"%s\" of an embedding must be [vectors, width]; it has %d "
                      "dimensions", e->path, t->name, t->nd);
  int64_t n = t->nd == 1 ? 1 : t->shape[0], width = t->shape[t->nd - 1];
  if (n < 1 || width < 1 || width > 65536)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%s: tensor \"%s\" is [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]: no "
                      "vectors, or a width no text encoder has", e->path, t->name, n, width);
  if (n > MAX_VECTORS)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%s: the embedding has %" G_GINT64_FORMAT " vectors; at most %d fit in a "
                      "75-token chunk", e->path, n, MAX_VECTORS);
  if (e->n_parts > 0 && n != e->n_vectors)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%s: \"%s\" has %" G_GINT64_FORMAT " vectors but \"%s\" has %d", e->path,
                      t->name, n, e->parts[0].tower, e->n_vectors);
  float *v = g_new (float, n * width);
  sdcl_embedding_part *p = &e->parts[e->n_parts++];
  *p = (sdcl_embedding_part) { tower, (int) width, v };
  e->n_vectors = (int) n;
  if (!sdcl_st_to_f32 (t, v))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "%s: tensor \"%s\" is %s; embeddings are read from F32, F16 or BF16",
                      e->path, t->name, t->dtype_name);
  for (int64_t i = 0; i < n * width; i++)
    if (!isfinite (v[i]))
      return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                        "%s: tensor \"%s\" holds a non-finite value (%g at vector %" G_GINT64_FORMAT
                        ")", e->path, t->name, (double) v[i], i / width);
  return SDCL_OK;
}

/* Up to four tensor names, for "found ..." messages. */
static void
list_names (const sdcl_st_file *f, char *buf, size_t size)
{
  size_t n = sdcl_st_count (f);
  buf[0] = '\0';
  for (size_t i = 0; i < n && i < 4; i++)
    {
      g_strlcat (buf, i ? ", \"" : "\"", size);
      g_strlcat (buf, sdcl_st_at (f, i)->name, size);
      g_strlcat (buf, "\"", size);
    }
  if (n > 4)
    g_strlcat (buf, ", ...", size);
  if (n == 0)
    g_strlcat (buf, "no tensors", size);
}

static sdcl_status
read_parts (const sdcl_st_file *f, sdcl_embedding *e, sdcl_error *err)
{
  const sdcl_st_tensor *t, *l, *g;
  if ((t = sdcl_st_find (f, "emb_params")))
    {
      e->format = "A1111";
      return add_part (e, t, "", err);
    }
  l = sdcl_st_find (f, "clip_l");
  g = sdcl_st_find (f, "clip_g");
  if (l && g)
    {
      sdcl_status st;
      e->format = "SDXL";
      if ((st = add_part (e, l, "clip_l", err)) != SDCL_OK)
        return st;
      return add_part (e, g, "clip_g", err);
    }
  if (!l && !g && sdcl_st_count (f) == 1)
    {
      e->format = "diffusers";
      return add_part (e, sdcl_st_at (f, 0), "", err);
    }
  char names[300];
  list_names (f, names, sizeof names);
  return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                    "%s: not a textual-inversion embedding (found %s; expected \"emb_params\", "
                    "\"clip_l\" with \"clip_g\", or a single tensor)", e->path, names);
}

sdcl_status
sdcl_embedding_from_file (const sdcl_st_file *f, const char *name, sdcl_embedding **out,
                          sdcl_error *err)
{
  *out = NULL;
  sdcl_embedding *e = g_new0 (sdcl_embedding, 1);
  e->name = g_strdup (name);
  e->path = g_strdup (sdcl_st_path (f));
  sdcl_status st = read_parts (f, e, err);
  if (st != SDCL_OK)
    {
      sdcl_embedding_free (e);
      return st;
    }
  *out = e;
  return SDCL_OK;
}

static sdcl_status
pickle_error (const char *path, sdcl_error *err)
{
  return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                    "%s: a pickled PyTorch file; sdcl reads embeddings only from .safetensors, "
                    "because unpickling can run any code the file holds (convert it to "
                    ".safetensors first)", path);
}

static bool
pickle_name (const char *path)
{
  static const char *const exts[] = { ".pt", ".pth", ".bin", ".ckpt" };
  g_autofree char *lower = g_ascii_strdown (path, -1);
  for (size_t i = 0; i < G_N_ELEMENTS (exts); i++)
    if (g_str_has_suffix (lower, exts[i]))
      return true;
  return false;
}

/* What torch.save writes: a zip archive, or a bare pickle (protocol 2-5
 * opcode).  Asked only of files that are no valid .safetensors, whose
 * first 8 bytes (the header length) may start the same way. */
static bool
pickle_bytes (const char *data, size_t len)
{
  return (len >= 4 && memcmp (data, "PK\003\004", 4) == 0)
         || (len >= 2 && (unsigned char) data[0] == 0x80 && data[1] >= 2 && data[1] <= 5);
}

/* The prompt word: the file name without its extension. */
static char *
name_of (const char *path)
{
  char *base = g_path_get_basename (path);
  char *dot = strrchr (base, '.');
  if (dot && dot != base)
    *dot = '\0';
  return base;
}

sdcl_status
sdcl_embedding_load (const char *path, sdcl_embedding **out, sdcl_error *err)
{
  *out = NULL;
  char *data = NULL;
  size_t len = 0;
  GError *gerr = NULL;
  if (!sdcl_file_read_small (path, "embedding", EMBEDDING_MAX_BYTES, &data, &len, &gerr))
    {
      sdcl_status st = sdcl_fail (err, SDCL_ERR_IO, "%s", gerr->message);
      g_error_free (gerr);
      return st;
    }
  sdcl_st_file *f = NULL;
  g_autofree char *name = name_of (path);
  sdcl_status st = SDCL_OK;
  if (pickle_name (path))
    st = pickle_error (path, err);
  else if ((st = sdcl_st_open_buffer (data, len, path, &f, err)) != SDCL_OK
           && pickle_bytes (data, len))
    st = pickle_error (path, err);
  if (st == SDCL_OK)
    st = sdcl_embedding_from_file (f, name, out, err);
  sdcl_st_close (f);
  g_free (data);
  return st;
}

sdcl_status
sdcl_embedding_vectors (const sdcl_embedding *e, const char *tower, int width, const float **out,
                        sdcl_error *err)
{
  *out = NULL;
  const char *want = tower ? tower : "";
  for (int i = 0; i < e->n_parts; i++)
    if (strcmp (e->parts[i].tower, want) == 0)
      {
        if (e->parts[i].width != width)
          return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                            "embedding \"%s\" (%s) has vectors %d wide, but the model's text "
                            "encoder%s%s is %d wide: it was made for another model family",
                            e->name, e->path, e->parts[i].width, *want ? " " : "", want, width);
        *out = e->parts[i].vectors;
        return SDCL_OK;
      }
  if (!*want)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "embedding \"%s\" (%s) is an SDXL embedding (clip_l %d wide, clip_g %d "
                      "wide); this model has one text encoder, %d wide", e->name, e->path,
                      e->parts[0].width, e->parts[1].width, width);
  return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                    "embedding \"%s\" (%s, %s format) has no \"%s\" vectors, which this "
                    "model's text encoders need: it was made for another model family", e->name,
                    e->path, e->format, want);
}

sdcl_status
sdcl_embeddings_load (const char *const *paths, int n, GPtrArray **out, sdcl_error *err)
{
  *out = g_ptr_array_new_with_free_func ((GDestroyNotify) sdcl_embedding_free);
  if (n < 0 || (n > 0 && !paths))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "%d embeddings given%s", n,
                      paths ? "" : " without a list of files");
  for (int i = 0; i < n; i++)
    {
      sdcl_embedding *e;
      if (!paths[i])
        return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "embedding %d of %d has no file", i + 1, n);
      sdcl_status st = sdcl_embedding_load (paths[i], &e, err);
      if (st != SDCL_OK)
        return st;
      g_ptr_array_add (*out, e);
      for (int j = 0; j < i; j++)
        if (strcmp (((sdcl_embedding *) (*out)->pdata[j])->name, e->name) == 0)
          return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                            "two embeddings are named \"%s\" (%s and %s)", e->name,
                            ((sdcl_embedding *) (*out)->pdata[j])->path, e->path);
    }
  return SDCL_OK;
}

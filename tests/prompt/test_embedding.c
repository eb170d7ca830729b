/* The textual-inversion reader (engine/text/embedding.c) on the files
 * prompt_fixtures.py writes: each layout's vectors, the tower lookup, and
 * the refusals (wrong width, SDXL file on a one-tower model, pickles,
 * non-finite values, no known layout).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <glib/gstdio.h>
#include <string.h>

#include "prompt_fixture.h"

static sdcl_embedding *
load (const char *file)
{
  g_autofree char *path = embedding_path (file);
  sdcl_embedding *e = NULL;
  sdcl_error err = { 0 };
  CHECK_OK (sdcl_embedding_load (path, &e, &err), err);
  return e;
}

static void
layouts (void)
{
  sdcl_embedding *a = load ("tinyemb.safetensors");
  const float *v;
  sdcl_error err = { 0 };
  CHECK (strcmp (a->name, "tinyemb") == 0 && strcmp (a->format, "A1111") == 0 && a->n_vectors == 2,
         "A1111 file: name %s, %s, %d vectors", a->name, a->format, a->n_vectors);
  CHECK_OK (sdcl_embedding_vectors (a, NULL, 32, &v, &err), err);
  /* the golden of the states is the test of the values; here: they were read */
  CHECK (v && isfinite (v[63]) && v[0] != 0.0f, "vectors read");
  CHECK (sdcl_embedding_vectors (a, NULL, 768, &v, &err) == SDCL_ERR_INVALID_ARGUMENT
           && strstr (err.message, "32 wide") && strstr (err.message, "768 wide"),
         "wrong width names both: %s", err.message);
  CHECK (sdcl_embedding_vectors (a, "clip_g", 32, &v, &err) == SDCL_ERR_INVALID_ARGUMENT
           && strstr (err.message, "no \"clip_g\" vectors"), "A1111 file on SDXL: %s",
         err.message);
  sdcl_embedding_free (a);

  sdcl_embedding *d = load ("learned_embeds.safetensors");
  CHECK (strcmp (d->format, "diffusers") == 0 && d->n_vectors == 1, "diffusers file: %s, %d",
         d->format, d->n_vectors);
  sdcl_embedding_free (d);

  sdcl_embedding *x = load ("tinyxl.safetensors");
  CHECK (strcmp (x->format, "SDXL") == 0 && x->n_parts == 2, "SDXL file: %s, %d parts",
         x->format, x->n_parts);
  CHECK_OK (sdcl_embedding_vectors (x, "clip_l", 32, &v, &err), err);
  CHECK_OK (sdcl_embedding_vectors (x, "clip_g", 48, &v, &err), err);
  CHECK (sdcl_embedding_vectors (x, NULL, 32, &v, &err) == SDCL_ERR_INVALID_ARGUMENT
           && strstr (err.message, "SDXL embedding"), "SDXL file on SD 1.x: %s", err.message);
  sdcl_embedding_free (x);
}

static void
expect_refused (const char *path, const char *fragment)
{
  sdcl_embedding *e = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_embedding_load (path, &e, &err);
  CHECK (st != SDCL_OK && !e && strstr (err.message, fragment), "%s: want \"%s\", got %s", path,
         fragment, err.message);
}

/* A one-tensor .safetensors file with `name` of dtype F32 and `values`. */
static char *
write_st (const char *dir, const char *file, const char *name, const float *values, int n)
{
  g_autofree char *header = g_strdup_printf (
      "{\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[0,%d]}}", name, n, 4 * n);
  uint64_t hlen = strlen (header);
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) &hlen, 8);
  g_byte_array_append (b, (const guint8 *) header, (guint) hlen);
  g_byte_array_append (b, (const guint8 *) values, 4 * n);
  char *path = g_build_filename (dir, file, NULL);
  CHECK (g_file_set_contents (path, (const char *) b->data, b->len, NULL), "write %s", path);
  g_byte_array_unref (b);
  return path;
}

static void
refusals (void)
{
  g_autofree char *pt = embedding_path ("pickled.pt");
  expect_refused (pt, "pickled PyTorch file");
  g_autofree char *dir = g_dir_make_tmp ("sdcl-emb-XXXXXX", NULL);
  /* a pickle renamed .safetensors: refused by its bytes, not its name */
  gchar *bytes;
  gsize len;
  CHECK (g_file_get_contents (pt, &bytes, &len, NULL), "read %s", pt);
  g_autofree char *renamed = g_build_filename (dir, "renamed.safetensors", NULL);
  CHECK (g_file_set_contents (renamed, bytes, (gssize) len, NULL), "write");
  expect_refused (renamed, "pickled PyTorch file");
  g_free (bytes);

  float v[4] = { 1, 2, NAN, 4 };
  g_autofree char *nan = write_st (dir, "nan.safetensors", "emb_params", v, 4);
  expect_refused (nan, "non-finite");
  g_autofree char *two = write_st (dir, "two.safetensors", "a", v, 2);
  g_autofree char *missing = g_build_filename (dir, "missing.safetensors", NULL);
  expect_refused (missing, "missing.safetensors");

  /* two tensors, neither emb_params nor clip_l/clip_g */
  const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
  uint64_t hlen = strlen (header);
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) &hlen, 8);
  g_byte_array_append (b, (const guint8 *) header, (guint) hlen);
  g_byte_array_append (b, (const guint8 *) v, 8);
  g_autofree char *unknown = g_build_filename (dir, "unknown.safetensors", NULL);
  CHECK (g_file_set_contents (unknown, (const char *) b->data, b->len, NULL), "write");
  g_byte_array_unref (b);
  expect_refused (unknown, "not a textual-inversion embedding (found \"a\", \"b\"");

  /* the same name twice */
  g_autofree char *sub = g_build_filename (dir, "sub", NULL);
  g_mkdir (sub, 0700);
  g_autofree char *again = write_st (sub, "two.safetensors", "a", v, 2);
  const char *paths[] = { two, again };
  GPtrArray *list = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_embeddings_load (paths, 2, &list, &err) == SDCL_ERR_INVALID_ARGUMENT
           && strstr (err.message, "two embeddings are named \"two\""), "duplicate: %s",
         err.message);
  g_ptr_array_unref (list);
  const char *const files[] = { renamed, nan, two, unknown, again };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    g_remove (files[i]);
  g_rmdir (sub);
  g_rmdir (dir);
}

int
main (void)
{
  layouts ();
  refusals ();
  return check_finish ();
}

/* Loading reference tensors (tests/reference/fixtures/golden/ files)
 * in C tests. */
#ifndef SDCL_TEST_GOLDEN_H
#define SDCL_TEST_GOLDEN_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "safetensors.h"
#include "sdcl.h"

/* $SDCL_FIXTURES/<rel>, or exit 77 (skip) when the variable is unset. */
static inline char *
fixture_path (const char *rel)
{
  const char *root = g_getenv ("SDCL_FIXTURES");
  if (!root)
    {
      fprintf (stderr, "SDCL_FIXTURES is not set (run through meson test)\n");
      exit (77);
    }
  return g_build_filename (root, rel, NULL);
}

/* Reads $SDCL_FIXTURES/<rel> into `parser` (exit 77 as fixture_path,
 * exit 1 naming the file when it cannot be read or parsed) and returns its
 * root object, which belongs to the parser. */
static inline JsonObject *
load_fixture_json (JsonParser *parser, const char *rel)
{
  g_autofree char *path = fixture_path (rel);
  g_autoptr (GError) gerr = NULL;
  if (!json_parser_load_from_file (parser, path, &gerr))
    {
      fprintf (stderr, "%s: %s\n", path, gerr->message);
      exit (1);
    }
  return json_node_get_object (json_parser_get_root (parser));
}

/* The model at `path` (with `params`, or the defaults when NULL), or exit 1
 * naming the error. */
static inline sdcl_model *
fixture_model_load (sdcl_ctx *ctx, const char *path, const sdcl_model_params *params)
{
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  if (sdcl_model_load (ctx, path, params, &m, &err) != SDCL_OK)
    {
      fprintf (stderr, "loading %s: %s\n", path, err.message);
      exit (1);
    }
  return m;
}

static inline sdcl_st_file *
golden_open (const char *rel)
{
  g_autofree char *path = fixture_path (rel);
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  if (sdcl_st_open (path, &f, &err) != SDCL_OK)
    {
      fprintf (stderr, "cannot open golden %s: %s\n", path, err.message);
      exit (1);
    }
  return f;
}

/* The tensor as newly allocated floats (g_free); *n gets the count. */
static inline float *
golden_tensor (const sdcl_st_file *f, const char *name, int64_t *n)
{
  const sdcl_st_tensor *t = sdcl_st_find (f, name);
  if (!t)
    {
      fprintf (stderr, "golden %s has no tensor '%s'\n", sdcl_st_path (f), name);
      exit (1);
    }
  float *v = g_new (float, t->n_elements ? t->n_elements : 1);
  if (!sdcl_st_to_f32 (t, v))
    {
      fprintf (stderr, "golden tensor '%s' is not a float tensor\n", name);
      exit (1);
    }
  if (n)
    *n = t->n_elements;
  return v;
}

#endif

/* Shared by the image-editing tests: the tiny models and the golden
 * inputs (init-48x64.png and mask-48x64.png as the goldens store them). */
#ifndef SDCL_TEST_EDIT_FIXTURE_H
#define SDCL_TEST_EDIT_FIXTURE_H

#include <json-glib/json-glib.h>
#include <string.h>

#include "check.h"
#include "golden.h"
#include "sdcl.h"

static inline sdcl_ctx *
edit_ctx (void)
{
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no OpenCL device: %s\n", err.message);
      exit (77);
    }
  return ctx;
}

static inline sdcl_model *
edit_load (sdcl_ctx *ctx, const char *rel)
{
  g_autofree char *path = fixture_path (rel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  return fixture_model_load (ctx, path, &mp);
}

/* A golden tensor as an sdcl_image of w x h x channels. */
static inline sdcl_image
golden_image (const sdcl_st_file *g, const char *name, int w, int h, int channels)
{
  int64_t n = 0;
  sdcl_image img = { w, h, channels, golden_tensor (g, name, &n) };
  if (n != (int64_t) w * h * channels)
    {
      fprintf (stderr, "golden '%s' has %lld values, expected %dx%dx%d\n", name,
               (long long) n, w, h, channels);
      exit (1);
    }
  return img;
}

/* The golden's settings (prompt, steps, guidance, seed, strength, eta);
 * the strings belong to the returned parser. */
static inline JsonParser *
golden_settings (const char *name, sdcl_gen_params *p)
{
  g_autofree char *rel = g_strdup_printf ("golden/%s.json", name);
  JsonParser *parser = json_parser_new ();
  JsonObject *o = load_fixture_json (parser, rel);
  *p = sdcl_gen_default_params ();
  p->prompt = json_object_get_string_member (o, "prompt");
  p->negative_prompt = json_object_get_string_member (o, "negative_prompt");
  p->steps = (int) json_object_get_int_member (o, "steps");
  p->guidance = (float) json_object_get_double_member (o, "guidance_scale");
  p->seed = (uint64_t) json_object_get_int_member (o, "seed");
  p->strength = (float) json_object_get_double_member (o, "strength");
  p->eta = (float) json_object_get_double_member (o, "eta");
  p->karras_sigmas = false;
  return parser;
}

#endif

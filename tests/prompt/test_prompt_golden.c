/* Prompt conditioning against diffusers (tests/reference/prompt_fixtures.py):
 *  - golden/prompt_embeds: the [negative; positive] states of A1111-syntax,
 *    BREAK, long (2-chunk) and embedding prompts on tiny-sd, and a long
 *    prompt on tiny-sd2 (pad "!"), from the reference implementation
 *    a1111_prompt.py through transformers' CLIP;
 *  - golden/prompt_ti: diffusers' encode_prompt after load_textual_inversion
 *    of an A1111 and a diffusers embedding file;
 *  - golden/pipeline_prompt_long: the image of StableDiffusionPipeline fed
 *    the reference's 2-chunk prompt_embeds (UNet context 154 tokens);
 *  - golden/sdxl_prompt: the same on tiny-sdxl, each tower read by the
 *    reference (its own pad and embedding vectors), both side by side, the
 *    pooled vector of bigG's first chunk, and StableDiffusionXLPipeline's
 *    image from them (sdxl_prompt_fixtures.py).
 * Tolerances: the states as the CLIP tests (F32 weights, 1e-4 absolute +
 * 1e-4 relative); the image as the txt2img tests (2e-3 absolute).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "api_internal.h"
#include "families/family.h"
#include "prompt_fixture.h"

#define STATES_ATOL 1e-4
#define STATES_RTOL 1e-4
#define IMAGE_ATOL 2e-3

static sdcl_model *
load_model_as (sdcl_ctx *ctx, const char *name, sdcl_residency residency)
{
  g_autofree char *rel = g_build_filename ("models", name, NULL);
  g_autofree char *path = fixture_path (rel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  mp.residency = residency;
  return fixture_model_load (ctx, path, &mp);
}

static sdcl_model *
load_model (sdcl_ctx *ctx, const char *name)
{
  return load_model_as (ctx, name, SDCL_RESIDENCY_RESIDENT);
}

/* The model family's conditioning for a prompt pair, compared with the
 * golden's NAME.uncond and NAME.cond. */
static void
compare_states (sdcl_model *m, const sdcl_st_file *g, const char *name, const char *prompt,
                const char *negative, sdcl_prompt_syntax syntax, const GPtrArray *emb)
{
  const sdcl_prompt_request req = { .prompt = prompt, .negative_prompt = negative, .cfg = true,
                                    .syntax = syntax, .embeddings = emb };
  sdcl_conditioning c = { 0 };
  sdcl_error err = { 0 };
  CHECK_OK (m->family->encode_prompt (m, &req, &c, &err), err);
  float *got = g_new (float, c.states.n);
  sdcl_t_download (m->ctx->cl, &c.states, got);
  int64_t n_u, n_c;
  g_autofree char *ku = g_strdup_printf ("%s.uncond", name), *kc = g_strdup_printf ("%s.cond", name);
  g_autofree float *uncond = golden_tensor (g, sdcl_st_find (g, ku) ? ku : "uncond", &n_u);
  g_autofree float *cond = golden_tensor (g, sdcl_st_find (g, kc) ? kc : "cond", &n_c);
  CHECK (c.states.d[0] == 2 && n_u == n_c && c.states.n == n_u + n_c,
         "%s: states of %lld tokens, golden %lld floats per prompt", name,
         (long long) c.n_tokens, (long long) n_c);
  if (c.states.n == n_u + n_c)
    {
      g_autofree char *wu = g_strdup_printf ("%s negative states", name);
      g_autofree char *wc = g_strdup_printf ("%s positive states", name);
      CHECK_CLOSE (wu, got, uncond, n_u, STATES_ATOL, STATES_RTOL);
      CHECK_CLOSE (wc, got + n_u, cond, n_c, STATES_ATOL, STATES_RTOL);
    }
  g_free (got);
  sdcl_conditioning_clear (m->ctx->cl, &c);
}

static void
embeds_cases (sdcl_ctx *ctx, const GPtrArray *emb)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *list = load_fixture_json (parser, "golden/prompt_embeds.json");
  JsonArray *cases = json_object_get_array_member (list, "cases");
  sdcl_st_file *g = golden_open ("golden/prompt_embeds.safetensors");
  sdcl_model *models[2] = { load_model (ctx, "tiny-sd"), load_model (ctx, "tiny-sd2") };
  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *o = json_array_get_object_element (cases, i);
      bool sd2 = strcmp (json_object_get_string_member (o, "model"), "tiny-sd2") == 0;
      bool plain = strcmp (json_object_get_string_member (o, "syntax"), "plain") == 0;
      compare_states (models[sd2], g, json_object_get_string_member (o, "name"),
                      json_object_get_string_member (o, "prompt"),
                      json_object_get_string_member (o, "negative_prompt"),
                      plain ? SDCL_PROMPT_PLAIN : SDCL_PROMPT_A1111, emb);
    }
  sdcl_st_close (g);

  /* diffusers' load_textual_inversion */
  JsonObject *ti = load_fixture_json (parser, "golden/prompt_ti.json");
  g = golden_open ("golden/prompt_ti.safetensors");
  compare_states (models[0], g, "textual inversion", json_object_get_string_member (ti, "prompt"),
                  json_object_get_string_member (ti, "negative_prompt"), SDCL_PROMPT_PLAIN, emb);
  sdcl_st_close (g);
  sdcl_model_free (models[0]);
  sdcl_model_free (models[1]);
}

/* The whole run through the public API: a 2-chunk prompt, 1-chunk negative,
 * in each residency (lean runs the CFG pair as two batch-1 UNet calls,
 * stream uploads the deepest level per evaluation). */
static void
long_prompt_image (sdcl_ctx *ctx, sdcl_residency residency, const char *what)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = load_fixture_json (parser, "golden/pipeline_prompt_long.json");
  sdcl_st_file *g = golden_open ("golden/pipeline_prompt_long.safetensors");
  int64_t n;
  g_autofree float *want = golden_tensor (g, "image", &n);
  sdcl_model *m = load_model_as (ctx, "tiny-sd", residency);
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = json_object_get_string_member (o, "prompt");
  p.negative_prompt = json_object_get_string_member (o, "negative_prompt");
  p.steps = (int) json_object_get_int_member (o, "steps");
  p.width = (int) json_object_get_int_member (o, "width");
  p.height = (int) json_object_get_int_member (o, "height");
  p.guidance = (float) json_object_get_double_member (o, "guidance_scale");
  p.seed = (uint64_t) json_object_get_int_member (o, "seed");
  p.sampler = SDCL_SAMPLER_EULER;
  p.karras_sigmas = false;
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };
  CHECK_OK (sdcl_txt2img (m, &p, &img, &err), err);
  CHECK (img.width * img.height * 3 == n, "image size %dx%d", img.width, img.height);
  if (img.width * img.height * 3 == n)
    CHECK_CLOSE (what, img.data, want, n, IMAGE_ATOL, 0.0);
  sdcl_image_free (&img);
  sdcl_model_free (m);
  sdcl_st_close (g);
}

/* SDXL: states, pooled vectors and the image of a weighted 2-chunk prompt
 * with an SDXL embedding (clip_l and clip_g vectors). */
static void
sdxl_prompt (sdcl_ctx *ctx)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = load_fixture_json (parser, "golden/sdxl_prompt.json");
  sdcl_st_file *g = golden_open ("golden/sdxl_prompt.safetensors");
  g_autofree char *emb_path = embedding_path ("tinyxl8.safetensors");
  const char *paths[] = { emb_path };
  GPtrArray *emb = NULL;
  sdcl_error err = { 0 };
  CHECK_OK (sdcl_embeddings_load (paths, 1, &emb, &err), err);
  sdcl_model *m = load_model (ctx, "tiny-sdxl");
  const char *prompt = json_object_get_string_member (o, "prompt");
  const char *negative = json_object_get_string_member (o, "negative_prompt");
  compare_states (m, g, "sdxl", prompt, negative, SDCL_PROMPT_A1111, emb);

  const sdcl_prompt_request req = { .prompt = prompt, .negative_prompt = negative, .cfg = true,
                                    .syntax = SDCL_PROMPT_A1111, .embeddings = emb };
  sdcl_conditioning c = { 0 };
  CHECK_OK (m->family->encode_prompt (m, &req, &c, &err), err);
  int64_t n_p, n_np;
  g_autofree float *pooled = golden_tensor (g, "pooled", &n_p);
  g_autofree float *neg_pooled = golden_tensor (g, "neg_pooled", &n_np);
  CHECK (c.pooled_dim == n_p && n_p == n_np, "pooled width %d, golden %lld", c.pooled_dim,
         (long long) n_p);
  if (c.pooled_dim == n_p && n_p == n_np)
    {
      CHECK_CLOSE ("sdxl negative pooled", c.pooled, neg_pooled, n_np, STATES_ATOL, STATES_RTOL);
      CHECK_CLOSE ("sdxl positive pooled", c.pooled + n_np, pooled, n_p, STATES_ATOL, STATES_RTOL);
    }
  sdcl_conditioning_clear (m->ctx->cl, &c);

  int64_t n;
  g_autofree float *want = golden_tensor (g, "image", &n);
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = prompt;
  p.negative_prompt = negative;
  p.embeddings = paths;
  p.n_embeddings = 1;
  p.steps = (int) json_object_get_int_member (o, "steps");
  p.width = (int) json_object_get_int_member (o, "width");
  p.height = (int) json_object_get_int_member (o, "height");
  p.guidance = (float) json_object_get_double_member (o, "guidance_scale");
  p.seed = (uint64_t) json_object_get_int_member (o, "seed");
  p.sampler = SDCL_SAMPLER_EULER;
  p.karras_sigmas = false;
  sdcl_image img = { 0 };
  CHECK_OK (sdcl_txt2img (m, &p, &img, &err), err);
  CHECK (img.width * img.height * 3 == n, "image size %dx%d", img.width, img.height);
  if (img.width * img.height * 3 == n)
    CHECK_CLOSE ("sdxl long weighted prompt image", img.data, want, n, IMAGE_ATOL, 0.0);
  sdcl_image_free (&img);
  sdcl_model_free (m);
  g_ptr_array_unref (emb);
  sdcl_st_close (g);
}

int
main (void)
{
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  sdcl_ctx_params cp = sdcl_ctx_default_params ();
  CHECK_OK (sdcl_ctx_new (&cp, &ctx, &err), err);
  GPtrArray *emb = tiny_embeddings ();
  embeds_cases (ctx, emb);
  long_prompt_image (ctx, SDCL_RESIDENCY_RESIDENT, "long prompt image (resident)");
  long_prompt_image (ctx, SDCL_RESIDENCY_LEAN, "long prompt image (lean)");
  long_prompt_image (ctx, SDCL_RESIDENCY_STREAM, "long prompt image (stream)");
  sdxl_prompt (ctx);
  g_ptr_array_unref (emb);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

/* SDXL pipelines against diffusers (golden/sdxl_*; tests/reference/README.md
 * §SDXL fixtures).  The runs come from the fixtures' own list
 * (golden/sdxl_runs.json, written by sdxl_fixtures.py): text to image in
 * every sampler sdcl has (the test fails for a sampler without a run:
 * coverage_is_complete) and in Karras and Align Your Steps schedules, with
 * a negative prompt, without one (force_zeros_for_empty_prompt: zero
 * states and pooled vector), with an empty prompt and with a clip skip
 * (both towers, the positive prompt only); SDXL-Turbo (trailing spacing,
 * guidance 0: one UNet evaluation per step) in 1 and 4 steps; image to
 * image and inpainting with the 4- and 9-channel UNets, each in DDIM or
 * Euler, DPM++ 2M and Euler a.  Each from its diffusers folder and, where
 * the list says so, from the folder's SGM single file (the list's
 * single_files: tiny-sdxl's and the 9-channel tiny-sdxl-inpaint's; F16
 * storage of the same values, so the same goldens).  A few runs again in lean and stream
 * residency, with a tiled VAE, and the Turbo goldens from the SGM file
 * loaded with SDCL_VARIANT_TURBO (without which that file is far from the
 * golden).
 *
 * Tolerance: SD 1.x's text-to-image 2e-3 on the [0, 1] image
 * (tests/pipeline/test_txt2img.c) for every run, the edits included, as
 * test_sd2_golden.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "edit_fixture.h"
#include "pipeline_internal.h"

#define IMAGE_ATOL 2e-3
#define W 48
#define H 64

typedef enum { TXT2IMG, IMG2IMG, INPAINT } run_kind;

typedef struct {
  const char *golden;   /* golden/<golden>.* */
  const char *model;    /* under models/ */
  sdcl_sampler sampler;
  sdcl_schedule schedule;
  run_kind kind;
  sdcl_residency residency;
  int vae_tile;         /* sdcl_gen_params.vae_tile, 0: automatic */
  bool turbo;           /* sdcl_model_params.variant SDCL_VARIANT_TURBO */
} sdxl_case;

#define SGM "tiny-sdxl-sgm-f16.safetensors"

/* Runs of the list again under other model or VAE settings. */
static const sdxl_case extra_cases[] = {
  { "sdxl_txt2img_euler", SGM, SDCL_SAMPLER_EULER, SDCL_SCHEDULE_DEFAULT, TXT2IMG, SDCL_RESIDENCY_LEAN, 0,
    false },
  { "sdxl_turbo_4step", "tiny-sdxl-turbo", SDCL_SAMPLER_EULER, SDCL_SCHEDULE_DEFAULT, TXT2IMG,
    SDCL_RESIDENCY_STREAM, 0, false },
  /* the SGM file (tiny-sdxl-turbo's weights) told it is Turbo: the folder's
   * trailing spacing from the family's Turbo settings */
  { "sdxl_turbo_1step", SGM, SDCL_SAMPLER_EULER, SDCL_SCHEDULE_DEFAULT, TXT2IMG, SDCL_RESIDENCY_RESIDENT, 0,
    true },
  { "sdxl_turbo_4step", SGM, SDCL_SAMPLER_EULER, SDCL_SCHEDULE_DEFAULT, TXT2IMG, SDCL_RESIDENCY_LEAN, 0,
    true },
  /* tiled VAE (encode and decode in 32-pixel tiles): the untiled golden */
  { "sdxl_img2img_euler_0.75", "tiny-sdxl", SDCL_SAMPLER_EULER, SDCL_SCHEDULE_DEFAULT, IMG2IMG,
    SDCL_RESIDENCY_RESIDENT, 32, false },
};

/* One run of golden/sdxl_runs.json as a case (strings owned by the
 * parser); from its model's single file (`single_files`) when one is given. */
static sdxl_case
case_of (JsonObject *r, JsonObject *single_files)
{
  sdxl_case c = { json_object_get_string_member (r, "golden"), json_object_get_string_member (r, "model"),
                  SDCL_SAMPLER_COUNT, SDCL_SCHEDULE_COUNT, TXT2IMG, SDCL_RESIDENCY_RESIDENT, 0, false };
  const char *sampler = json_object_get_string_member (r, "sampler");
  const char *schedule = json_object_get_string_member (r, "schedule");
  const char *kind = json_object_get_string_member (r, "kind");
  CHECK (sdcl_sampler_from_name (sampler, &c.sampler), "%s: unknown sampler '%s'", c.golden, sampler);
  CHECK (sdcl_schedule_from_name (schedule, &c.schedule), "%s: unknown schedule '%s'", c.golden, schedule);
  c.kind = !strcmp (kind, "img2img") ? IMG2IMG : !strcmp (kind, "inpaint") ? INPAINT : TXT2IMG;
  if (single_files)
    {
      CHECK (json_object_has_member (single_files, c.model), "%s: no single file of %s in the list",
             c.golden, c.model);
      c.model = json_object_has_member (single_files, c.model)
                  ? json_object_get_string_member (single_files, c.model) : NULL;
    }
  return c;
}

static JsonParser *
run_list (JsonArray **runs, JsonObject **single_files)
{
  JsonParser *parser = json_parser_new ();
  JsonObject *o = load_fixture_json (parser, "golden/sdxl_runs.json");
  *single_files = json_object_get_object_member (o, "single_files");
  CHECK (*single_files && json_object_has_member (*single_files, "tiny-sdxl")
           && !strcmp (json_object_get_string_member (*single_files, "tiny-sdxl"), SGM),
         "the list's single file of tiny-sdxl is not %s", SGM);
  *runs = json_object_get_array_member (o, "runs");
  return parser;
}

/* Every sampler of sdcl_sampler_count has a text-to-image run on the
 * tiny-sdxl folder in its default schedule, and every edit (image to image,
 * 4- and 9-channel inpainting) runs in at least three samplers. */
static void
coverage_is_complete (JsonArray *runs)
{
  int n = sdcl_sampler_count ();
  g_autofree bool *has = g_new0 (bool, n);
  const char *edits[][2] = { { "img2img", "tiny-sdxl" }, { "inpaint", "tiny-sdxl" },
                             { "inpaint", "tiny-sdxl-inpaint" } };
  guint edit_samplers[G_N_ELEMENTS (edits)] = { 0 };
  for (guint i = 0; i < json_array_get_length (runs); i++)
    {
      JsonObject *r = json_array_get_object_element (runs, i);
      const char *kind = json_object_get_string_member (r, "kind");
      const char *model = json_object_get_string_member (r, "model");
      sdcl_sampler s;
      if (!sdcl_sampler_from_name (json_object_get_string_member (r, "sampler"), &s))
        continue;
      if (!strcmp (kind, "txt2img") && !strcmp (model, "tiny-sdxl")
          && !strcmp (json_object_get_string_member (r, "schedule"), "default"))
        has[s] = true;
      for (guint e = 0; e < G_N_ELEMENTS (edits); e++)
        if (!strcmp (kind, edits[e][0]) && !strcmp (model, edits[e][1]))
          edit_samplers[e] |= 1u << s;
    }
  for (int k = 0; k < n; k++)
    CHECK (has[k], "sampler %s has no SDXL text-to-image golden in golden/sdxl_runs.json",
           sdcl_sampler_name ((sdcl_sampler) k));
  for (guint e = 0; e < G_N_ELEMENTS (edits); e++)
    CHECK (__builtin_popcount (edit_samplers[e]) >= 3,
           "%s on %s: goldens in %d samplers, 3 expected", edits[e][0], edits[e][1],
           __builtin_popcount (edit_samplers[e]));
}

/* A model loaded as Turbo says so, is 512 px native, and its generation
 * defaults are the Turbo settings the golden was made with. */
static void
check_turbo_defaults (const sdcl_model *m, const sdcl_gen_params *golden)
{
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  CHECK (info.turbo && info.native_resolution == 512, "Turbo: info.turbo %d, native %d px", info.turbo,
         info.native_resolution);
  sdcl_gen_params d = sdcl_gen_model_params (m);
  CHECK (d.sampler == SDCL_SAMPLER_EULER && !d.karras_sigmas && d.steps == 1 && d.guidance == 0.0f,
         "Turbo defaults: sampler %d, karras %d, %d steps, guidance %g", d.sampler, d.karras_sigmas,
         d.steps, (double) d.guidance);
  CHECK (golden->guidance <= 1.0f && golden->steps <= 4, "the Turbo golden runs %d steps at %g",
         golden->steps, (double) golden->guidance);
}

/* Without the switch the single file is SDXL base (1024 px, leading
 * spacing): its 1-step image is far from the Turbo golden, so the switch
 * is what made the SGM runs above match. */
static void
check_turbo_needs_switch (sdcl_ctx *ctx)
{
  sdcl_gen_params p;
  g_autoptr (JsonParser) settings = golden_settings ("sdxl_turbo_1step", &p);
  sdcl_st_file *g = golden_open ("golden/sdxl_turbo_1step.safetensors");
  sdcl_image want = golden_image (g, "image", W, H, 3);
  g_autofree char *path = fixture_path ("models/" SGM);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  sdcl_model *m = fixture_model_load (ctx, path, &mp);
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  CHECK (!info.turbo && info.native_resolution == 1024, "SGM without --turbo: turbo %d, native %d px",
         info.turbo, info.native_resolution);
  p.sampler = SDCL_SAMPLER_EULER;
  p.karras_sigmas = false;
  p.width = W;
  p.height = H;
  sdcl_image got = { 0 };
  sdcl_error err = { 0 };
  CHECK (sdcl_txt2img (m, &p, &got, &err) == SDCL_OK, "SGM 1 step: %s", err.message);
  double max_diff = 0;
  for (int i = 0; got.data && i < W * H * 3; i++)
    max_diff = MAX (max_diff, fabs (got.data[i] - want.data[i]));
  CHECK (max_diff > 0.1, "SGM without the Turbo switch is %g from the Turbo golden (leading spacing "
         "should make it far)", max_diff);
  sdcl_image_free (&got);
  sdcl_image_free (&want);
  sdcl_model_free (m);
  sdcl_st_close (g);
}

/* The model of the last case, kept for the next case that loads the same
 * file the same way: loading takes most of a tiny run's time, and a model
 * must give every run its own golden whatever ran on it before. */
typedef struct {
  sdcl_model *m;
  char *key;
} model_cache;

static sdcl_model *
cached_model (sdcl_ctx *ctx, model_cache *mc, const sdxl_case *c)
{
  g_autofree char *key = g_strdup_printf ("%s|%d|%d", c->model, c->residency, c->turbo);
  if (mc->m && !strcmp (mc->key, key))
    return mc->m;
  sdcl_model_free (mc->m);
  g_free (mc->key);
  g_autofree char *mrel = g_build_filename ("models", c->model, NULL);
  g_autofree char *path = fixture_path (mrel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  mp.residency = c->residency;
  mp.variant = c->turbo ? SDCL_VARIANT_TURBO : SDCL_VARIANT_FROM_MODEL;
  mc->m = fixture_model_load (ctx, path, &mp);
  mc->key = g_steal_pointer (&key);
  return mc->m;
}

static void
run_case (sdcl_ctx *ctx, model_cache *mc, const sdxl_case *c)
{
  const char *name = c->golden;
  sdcl_gen_params p;
  g_autoptr (JsonParser) settings = golden_settings (name, &p);
  p.sampler = c->sampler;
  p.schedule = c->schedule;
  p.vae_tile = c->vae_tile;
  /* diffusers' clip_skip n is sdcl's n + 1 (sdcl.h) */
  JsonObject *o = json_node_get_object (json_parser_get_root (settings));
  /* the golden was made with this case's sampler and schedule */
  CHECK (!strcmp (json_object_get_string_member (o, "sdcl_sampler"), sdcl_sampler_name (c->sampler))
           && !strcmp (json_object_get_string_member (o, "sdcl_schedule"), sdcl_schedule_name (c->schedule)),
         "%s was made with %s (%s schedule), the case runs %s (%s)", name,
         json_object_get_string_member (o, "sdcl_sampler"), json_object_get_string_member (o, "sdcl_schedule"),
         sdcl_sampler_name (c->sampler), sdcl_schedule_name (c->schedule));
  if (json_object_has_member (o, "diffusers_clip_skip") && !json_object_get_null_member (o, "diffusers_clip_skip"))
    p.clip_skip = (int) json_object_get_int_member (o, "diffusers_clip_skip") + 1;
  g_autofree char *rel = g_strdup_printf ("golden/%s.safetensors", name);
  sdcl_st_file *g = golden_open (rel);
  sdcl_image want = golden_image (g, "image", W, H, 3);
  sdcl_model *m = cached_model (ctx, mc, c);
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  CHECK (info.family == SDCL_FAMILY_SDXL && !strcmp (info.family_name, "SDXL"), "%s: family %d",
         c->model, info.family);
  /* the inpainting model's folder and single file alike: 9 input channels */
  int in_channels = strstr (c->model, "-inpaint") ? 9 : 4;
  CHECK (info.unet_in_channels == in_channels, "%s: %d UNet input channels, %d expected", c->model,
         info.unet_in_channels, in_channels);
  if (c->turbo)
    check_turbo_defaults (m, &p);

  sdcl_image got = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st;
  if (c->kind == TXT2IMG)
    {
      p.width = W;
      p.height = H;
      st = sdcl_txt2img (m, &p, &got, &err);
    }
  else
    {
      sdcl_image init = golden_image (g, "init_image", W, H, 3);
      sdcl_image mask = { 0 };
      if (c->kind == INPAINT)
        mask = golden_image (g, "mask", W, H, 1);
      st = sdcl_edit_raw (m, &p, &init, c->kind == INPAINT ? &mask : NULL, NULL, NULL, &got, &err);
      sdcl_image_free (&init);
      sdcl_image_free (&mask);
    }
  CHECK (st == SDCL_OK, "%s on %s: %s", c->golden, c->model, err.message);
  if (st == SDCL_OK)
    {
      CHECK (got.width == W && got.height == H && got.channels == 3, "%s: %dx%dx%d", c->golden,
             got.width, got.height, got.channels);
      g_autofree char *what = g_strdup_printf ("%s on %s (%s, %s schedule, residency %d, VAE tile %d) image",
                                               c->golden, c->model, sdcl_sampler_name (c->sampler),
                                               sdcl_schedule_name (c->schedule), c->residency, c->vae_tile);
      if (got.width == W && got.height == H && got.channels == 3)
        CHECK_CLOSE (what, got.data, want.data, W * H * 3, IMAGE_ATOL, 0.0);
    }
  sdcl_image_free (&got);
  sdcl_image_free (&want);
  sdcl_st_close (g);
}

int
main (void)
{
  sdcl_ctx *ctx = edit_ctx ();
  JsonArray *runs = NULL;
  JsonObject *single_files = NULL;
  g_autoptr (JsonParser) list = run_list (&runs, &single_files);
  coverage_is_complete (runs);
  model_cache mc = { 0 };
  /* every run from its folder, then those the list marks from the single file */
  for (int single_file = 0; single_file <= (single_files != NULL); single_file++)
    for (guint i = 0; i < json_array_get_length (runs); i++)
      {
        JsonObject *r = json_array_get_object_element (runs, i);
        if (single_file && !json_object_get_boolean_member (r, "single_file"))
          continue;
        sdxl_case c = case_of (r, single_file ? single_files : NULL);
        if (c.model && c.sampler < SDCL_SAMPLER_COUNT && c.schedule < SDCL_SCHEDULE_COUNT)
          run_case (ctx, &mc, &c);
      }
  for (size_t i = 0; i < G_N_ELEMENTS (extra_cases); i++)
    run_case (ctx, &mc, &extra_cases[i]);
  sdcl_model_free (mc.m);
  g_free (mc.key);
  check_turbo_needs_switch (ctx);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

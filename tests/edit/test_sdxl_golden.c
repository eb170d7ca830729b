/* SDXL pipelines against diffusers (golden/sdxl_*; tests/reference/README.md
 * §SDXL fixtures): text to image in Euler, DDIM, Euler a, DPM++ 2M (and
 * Karras) with a negative prompt, without one (force_zeros_for_empty_prompt:
 * zero states and pooled vector), with an empty prompt and with a clip
 * skip (both towers, the positive prompt only); SDXL-Turbo
 * (trailing spacing, guidance 0: one UNet evaluation per step) in 1 and 4
 * steps, from its folder and from the SGM file loaded with
 * SDCL_VARIANT_TURBO (without which that file is far from the golden);
 * image to image; inpainting with the 4- and 9-channel UNets.  From
 * the diffusers folders and, where the run's scheduler is the family's
 * default, from the SGM single file (F16 storage of the same values, so
 * the same goldens), in lean and stream residency and with a tiled VAE
 * too.
 *
 * Tolerance: SD 1.x's text-to-image 2e-3 on the [0, 1] image
 * (tests/pipeline/test_txt2img.c) for every run, as test_sd2_golden.c.
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
  const char *golden;   /* golden/sdxl_<golden>.* */
  const char *model;    /* under models/ */
  sdcl_sampler sampler;
  bool karras;
  run_kind kind;
  sdcl_residency residency;
  int vae_tile;         /* sdcl_gen_params.vae_tile, 0: automatic */
  bool turbo;           /* sdcl_model_params.variant SDCL_VARIANT_TURBO */
} sdxl_case;

#define SGM "tiny-sdxl-sgm-f16.safetensors"
#define RESIDENT SDCL_RESIDENCY_RESIDENT, 0, false   /* residency, vae_tile, turbo */

static const sdxl_case cases[] = {
  { "txt2img_euler", "tiny-sdxl", SDCL_SAMPLER_EULER, false, TXT2IMG, RESIDENT },
  { "txt2img_euler", SGM, SDCL_SAMPLER_EULER, false, TXT2IMG, RESIDENT },
  { "txt2img_euler", SGM, SDCL_SAMPLER_EULER, false, TXT2IMG, SDCL_RESIDENCY_LEAN, 0, false },
  { "txt2img_ddim", "tiny-sdxl", SDCL_SAMPLER_DDIM, false, TXT2IMG, RESIDENT },
  { "txt2img_euler_a", "tiny-sdxl", SDCL_SAMPLER_EULER_A, false, TXT2IMG, RESIDENT },
  { "txt2img_dpmpp_2m", "tiny-sdxl", SDCL_SAMPLER_DPMPP_2M, false, TXT2IMG, RESIDENT },
  { "txt2img_dpmpp_2m_karras", SGM, SDCL_SAMPLER_DPMPP_2M, true, TXT2IMG, RESIDENT },
  { "txt2img_euler_noneg", "tiny-sdxl", SDCL_SAMPLER_EULER, false, TXT2IMG, RESIDENT },
  { "txt2img_euler_empty", "tiny-sdxl", SDCL_SAMPLER_EULER, false, TXT2IMG, RESIDENT },
  { "txt2img_euler_clip_skip", "tiny-sdxl", SDCL_SAMPLER_EULER, false, TXT2IMG, RESIDENT },
  { "turbo_1step", "tiny-sdxl-turbo", SDCL_SAMPLER_EULER, false, TXT2IMG, RESIDENT },
  { "turbo_4step", "tiny-sdxl-turbo", SDCL_SAMPLER_EULER, false, TXT2IMG, SDCL_RESIDENCY_STREAM, 0, false },
  /* the SGM file (tiny-sdxl-turbo's weights) told it is Turbo: the folder's
   * trailing spacing from the family's Turbo settings */
  { "turbo_1step", SGM, SDCL_SAMPLER_EULER, false, TXT2IMG, SDCL_RESIDENCY_RESIDENT, 0, true },
  { "turbo_4step", SGM, SDCL_SAMPLER_EULER, false, TXT2IMG, SDCL_RESIDENCY_LEAN, 0, true },
  { "img2img_euler_0.75", "tiny-sdxl", SDCL_SAMPLER_EULER, false, IMG2IMG, RESIDENT },
  /* tiled VAE (encode and decode in 32-pixel tiles): the untiled golden */
  { "img2img_euler_0.75", "tiny-sdxl", SDCL_SAMPLER_EULER, false, IMG2IMG, SDCL_RESIDENCY_RESIDENT, 32, false },
  { "inpaint4_ddim", SGM, SDCL_SAMPLER_DDIM, false, INPAINT, RESIDENT },
  { "inpaint9_ddim", "tiny-sdxl-inpaint", SDCL_SAMPLER_DDIM, false, INPAINT, RESIDENT },
};

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

static void
run_case (sdcl_ctx *ctx, const sdxl_case *c)
{
  g_autofree char *name = g_strdup_printf ("sdxl_%s", c->golden);
  sdcl_gen_params p;
  g_autoptr (JsonParser) settings = golden_settings (name, &p);
  p.sampler = c->sampler;
  p.karras_sigmas = c->karras;
  p.vae_tile = c->vae_tile;
  /* diffusers' clip_skip n is sdcl's n + 1 (sdcl.h) */
  JsonObject *o = json_node_get_object (json_parser_get_root (settings));
  if (json_object_has_member (o, "diffusers_clip_skip") && !json_object_get_null_member (o, "diffusers_clip_skip"))
    p.clip_skip = (int) json_object_get_int_member (o, "diffusers_clip_skip") + 1;
  g_autofree char *rel = g_strdup_printf ("golden/%s.safetensors", name);
  sdcl_st_file *g = golden_open (rel);
  sdcl_image want = golden_image (g, "image", W, H, 3);
  g_autofree char *mrel = g_build_filename ("models", c->model, NULL);
  g_autofree char *path = fixture_path (mrel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  mp.residency = c->residency;
  mp.variant = c->turbo ? SDCL_VARIANT_TURBO : SDCL_VARIANT_FROM_MODEL;
  sdcl_model *m = fixture_model_load (ctx, path, &mp);
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  CHECK (info.family == SDCL_FAMILY_SDXL && !strcmp (info.family_name, "SDXL"), "%s: family %d",
         c->model, info.family);
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
      g_autofree char *what = g_strdup_printf ("%s on %s (residency %d, VAE tile %d) image", c->golden,
                                               c->model, c->residency, c->vae_tile);
      if (got.width == W && got.height == H && got.channels == 3)
        CHECK_CLOSE (what, got.data, want.data, W * H * 3, IMAGE_ATOL, 0.0);
    }
  sdcl_image_free (&got);
  sdcl_image_free (&want);
  sdcl_model_free (m);
  sdcl_st_close (g);
}

int
main (void)
{
  sdcl_ctx *ctx = edit_ctx ();
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    run_case (ctx, &cases[i]);
  check_turbo_needs_switch (ctx);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

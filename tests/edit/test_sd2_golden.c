/* SD 2.x pipelines against diffusers (golden/sd2_*; tests/reference/README.md
 * §SD 2.x fixtures): text to image with epsilon and v prediction in every
 * sampler, SD-Turbo (trailing spacing, guidance 0: one UNet evaluation per
 * step, no negative prompt), image to image with v, inpainting with 4- and
 * 9-channel UNets; from diffusers folders and from single files (whose
 * prediction comes from the .yaml beside them).
 *
 * Tolerance: SD 1.x's text-to-image 2e-3 on the [0, 1] image
 * (tests/pipeline/test_txt2img.c) for every run, the edits included
 * (SD 1.x's free-running edits allow 5e-2; these stay below 2e-4).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "edit_fixture.h"
#include "pipeline_internal.h"

#define IMAGE_ATOL 2e-3

typedef enum { TXT2IMG, IMG2IMG, INPAINT } run_kind;

typedef struct {
  const char *golden;   /* golden/sd2_<golden>.* */
  const char *model;    /* under models/ */
  sdcl_weight_precision weights;
  sdcl_sampler sampler;
  bool karras;
  run_kind kind;
} sd2_case;

static const sd2_case cases[] = {
  { "txt2img_ddim", "tiny-sd2", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DDIM, false, TXT2IMG },
  { "txt2img_euler", "tiny-sd2", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER, false, TXT2IMG },
  { "txt2img_euler", "tiny-sd2-ldm.safetensors", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER, false, TXT2IMG },
  { "v_txt2img_ddim", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DDIM, false, TXT2IMG },
  { "v_txt2img_ddim", "tiny-sd2-v-ldm.safetensors", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DDIM, false, TXT2IMG },
  { "v_txt2img_euler", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER, false, TXT2IMG },
  { "v_txt2img_euler_a", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER_A, false, TXT2IMG },
  { "v_txt2img_dpmpp_2m", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DPMPP_2M, false, TXT2IMG },
  { "v_txt2img_dpmpp_2m_karras", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DPMPP_2M, true, TXT2IMG },
  { "v_txt2img_lcm", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_LCM, false, TXT2IMG },
  { "v_txt2img_euler_f16w", "tiny-sd2-ldm-f16.safetensors", SDCL_WEIGHTS_F16, SDCL_SAMPLER_EULER, false,
    TXT2IMG },
  { "turbo_1step", "tiny-sd2-turbo", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER, false, TXT2IMG },
  { "turbo_4step", "tiny-sd2-turbo", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER, false, TXT2IMG },
  { "v_img2img_euler_0.75", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER, false, IMG2IMG },
  { "v_img2img_ddim_0.3", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DDIM, false, IMG2IMG },
  { "inpaint4_ddim", "tiny-sd2", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DDIM, false, INPAINT },
  { "v_inpaint4_euler", "tiny-sd2-v", SDCL_WEIGHTS_F32, SDCL_SAMPLER_EULER, false, INPAINT },
  { "inpaint9_ddim", "tiny-sd2-inpaint", SDCL_WEIGHTS_F32, SDCL_SAMPLER_DDIM, false, INPAINT },
};

static sdcl_model *
load (sdcl_ctx *ctx, const sd2_case *c)
{
  g_autofree char *rel = g_build_filename ("models", c->model, NULL);
  g_autofree char *path = fixture_path (rel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = c->weights;
  return fixture_model_load (ctx, path, &mp);
}

static void
run_case (sdcl_ctx *ctx, const sd2_case *c)
{
  g_autofree char *name = g_strdup_printf ("sd2_%s", c->golden);
  sdcl_gen_params p;
  g_autoptr (JsonParser) settings = golden_settings (name, &p);
  JsonObject *o = json_node_get_object (json_parser_get_root (settings));
  p.sampler = c->sampler;
  p.karras_sigmas = c->karras;
  g_autofree char *rel = g_strdup_printf ("golden/%s.safetensors", name);
  sdcl_st_file *g = golden_open (rel);
  sdcl_image want = golden_image (g, "image", 48, 64, 3);
  sdcl_model *m = load (ctx, c);
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  CHECK (info.family == SDCL_FAMILY_SD2, "%s: family %d", c->model, info.family);
  bool v = g_str_has_prefix (c->golden, "v_");
  CHECK (info.prediction == (v ? SDCL_PREDICTION_V : SDCL_PREDICTION_EPSILON), "%s: prediction %d",
         c->model, info.prediction);

  sdcl_image got = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st;
  if (c->kind == TXT2IMG)
    {
      p.width = (int) json_object_get_int_member (o, "width");
      p.height = (int) json_object_get_int_member (o, "height");
      st = sdcl_txt2img (m, &p, &got, &err);
    }
  else
    {
      sdcl_image init = golden_image (g, "init_image", 48, 64, 3);
      sdcl_image mask = { 0 };
      if (c->kind == INPAINT)
        mask = golden_image (g, "mask", 48, 64, 1);
      st = sdcl_edit_raw (m, &p, &init, c->kind == INPAINT ? &mask : NULL, NULL, NULL, &got, &err);
      sdcl_image_free (&init);
      sdcl_image_free (&mask);
    }
  CHECK (st == SDCL_OK, "%s on %s: %s", c->golden, c->model, err.message);
  if (st == SDCL_OK)
    {
      CHECK (got.width == 48 && got.height == 64 && got.channels == 3, "%s: %dx%dx%d", c->golden,
             got.width, got.height, got.channels);
      g_autofree char *what = g_strdup_printf ("%s on %s image", c->golden, c->model);
      if (got.width == 48 && got.height == 64 && got.channels == 3)
        CHECK_CLOSE (what, got.data, want.data, 48 * 64 * 3, IMAGE_ATOL, 0.0);
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
  sdcl_ctx_free (ctx);
  return check_finish ();
}

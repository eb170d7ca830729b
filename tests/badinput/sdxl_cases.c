/* SDXL bad inputs (bad-inputs.tsv rows sdxl_*, lora_sd1_on_sdxl,
 * turbo_on_sd1, sd2_inpaint_single_txt2img): folder copies of the tiny
 * SDXL fixture with a part swapped or removed; an SD 1.x LoRA and text to
 * image on the SDXL models; the 9-channel single files (SD 2.x's and
 * SDXL's) asked for what they cannot do without a mask; the Turbo variant
 * asked of a family without one.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib/gstdio.h>

#include "badinput.h"
#include "check.h"

static char *
sdxl_copy (const char *name)
{
  char *src = g_build_filename (fixtures, "models", "tiny-sdxl", NULL);
  char *dst = tmp_path (name);
  copy_tree (src, dst);
  g_free (src);
  return dst;
}

/* A txt2img (img2img with `img2img`) of the tiny fixture `model` (with
 * the LoRA `lora`, or none) against row `id`. */
static void
fixture_run (const char *id, const char *model, const char *lora, bool img2img)
{
  g_autofree char *path = g_build_filename (fixtures, "models", model, NULL);
  g_autofree char *lora_path = lora ? g_build_filename (fixtures, "lora", lora, NULL) : NULL;
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_model_load (ctx, path, NULL, &m, &err) == SDCL_OK, "%s: %s", model, err.message);
  if (!m)
    return;
  sdcl_gen_params p = small ();
  sdcl_lora one = { lora_path, 1.0f };
  p.loras = lora ? &one : NULL;
  p.n_loras = lora ? 1 : 0;
  sdcl_image out = { 0 };
  sdcl_image init = img2img ? pattern_image (p.width, p.height) : (sdcl_image) { 0 };
  expect_api (id, img2img ? sdcl_img2img (m, &p, &init, &out, &err) : sdcl_txt2img (m, &p, &out, &err),
              &err);
  CHECK (out.data == NULL, "%s: no image on error", id);
  sdcl_image_free (&init);
  sdcl_image_free (&out);
  sdcl_model_free (m);
}

int
test_sdxl_cases (void)
{
  /* an SD 1.x kohya LoRA (the tiny SD 1.x fixture's) on the SDXL model */
  fixture_run ("lora_sd1_on_sdxl", "tiny-sdxl", "kohya.safetensors", false);
  /* the 9-channel SDXL inpainting UNet asked for text to image */
  fixture_run ("sdxl_inpaint_txt2img", "tiny-sdxl-inpaint", NULL, false);
  /* the 9-channel single files: SD 2.x's for text to image, SDXL's for
   * image to image (no mask) */
  fixture_run ("sd2_inpaint_single_txt2img", "tiny-sd2-inpaint-ldm-f16.safetensors", NULL, false);
  fixture_run ("sdxl_inpaint_single_img2img", "tiny-sdxl-inpaint-sgm-f16.safetensors", NULL, true);

  /* bigG swapped for SD 2.x's OpenCLIP-H-style tower: 32 wide, no projection */
  char *dir = sdxl_copy ("sdxl-bigg-width");
  char *te2 = g_build_filename (dir, "text_encoder_2", NULL);
  char *sd2_te = g_build_filename (fixtures, "models", "tiny-sd2", "text_encoder", NULL);
  remove_tree (te2);
  copy_tree (sd2_te, te2);
  load_case ("sdxl_bigg_width", dir, NULL);
  remove_tree (dir);
  g_free (dir);
  g_free (te2);
  g_free (sd2_te);

  /* the refiner's folder: text_encoder_2 without text_encoder */
  dir = sdxl_copy ("sdxl-refiner");
  char *te = g_build_filename (dir, "text_encoder", NULL);
  remove_tree (te);
  load_case ("sdxl_refiner_folder", dir, NULL);
  remove_tree (dir);
  g_free (dir);
  g_free (te);

  /* the Turbo switch on a family that has no Turbo model */
  char *sd1 = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.variant = SDCL_VARIANT_TURBO;
  load_case ("turbo_on_sd1", sd1, &mp);
  g_free (sd1);
  return check_finish ();
}

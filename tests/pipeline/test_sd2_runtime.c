/* SD 2.x runs under what SD 1.x's runs already promise (test_vae_tiled.c,
 * test_badinput.c's cancel_phase_* rows; residency: test_residency-sd2),
 * on tiny-sd2-v (v prediction) and tiny-sd2-inpaint (9 channels), F32;
 * with arguments REGULAR NINE_CHANNEL sdxl (fixture paths, family) the
 * same on SDXL's (test_runtime-sdxl: tiny-sdxl and tiny-sdxl-inpaint):
 *
 *   - tiled VAE: txt2img, img2img and 9-channel inpainting with vae_tile 32
 *     (several tiles per side of a 64x64 image, decode and encode) give the
 *     untiled image up to float rounding: max |diff| <= 1e-5 on [0, 1],
 *     test_vae_tiled.c's tolerance (1e-5 of the output's range);
 *   - cancel in every phase: the flag raised as a phase starts (test hook)
 *     stops the run in that phase with "cancelled during <phase>", no
 *     image, and every pooled device byte handed back; for model load on a
 *     lean model, txt2img's text encoding, denoising and VAE decode, and
 *     img2img's and inpainting's VAE encode, tiled and untiled;
 *   - after all those cancels the models still give their first image,
 *     bit for bit.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "api_internal.h"
#include "check.h"
#include "golden.h"
#include "pipeline_internal.h"
#include "phase_cancel.h"

/* Tiles and the whole image differ in the attention's key counts, so in
 * the order of its sums: float rounding, amplified by the decoder.  With
 * 64-key attention steps (step 21) SDXL's 9-channel inpainting image moved
 * to 1.07e-5 (txt2img 6.6e-7, img2img 5.8e-6); a wrong tile shows as whole
 * levels (1/255 = 3.9e-3). */
#define TILED_ATOL 2e-5
#define SIZE 64

typedef enum { TXT2IMG, IMG2IMG, INPAINT } mode;

typedef struct {
  sdcl_image init, mask;
} pictures;

static sdcl_gen_params
params (int vae_tile)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.negative_prompt = "blurry";
  p.width = p.height = SIZE;
  p.steps = 3;
  p.sampler = SDCL_SAMPLER_EULER;
  p.guidance = 2.0f;
  p.seed = 7;
  p.strength = 0.6f;
  p.vae_tile = vae_tile;
  return p;
}

static sdcl_status
run (sdcl_model *m, mode md, const sdcl_gen_params *p, const pictures *pic, sdcl_image *out,
     sdcl_error *err)
{
  return md == TXT2IMG   ? sdcl_txt2img (m, p, out, err)
         : md == IMG2IMG ? sdcl_img2img (m, p, &pic->init, out, err)
                         : sdcl_inpaint (m, p, &pic->init, &pic->mask, out, err);
}

static const char *regular_model = "models/tiny-sd2-v", *nine_model = "models/tiny-sd2-inpaint";
static sdcl_family family = SDCL_FAMILY_SD2;

static sdcl_model *
load (sdcl_ctx *ctx, const char *rel, sdcl_residency residency)
{
  g_autofree char *path = fixture_path (rel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  mp.residency = residency;
  sdcl_model *m = fixture_model_load (ctx, path, &mp);
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  CHECK (info.family == family, "%s: family %d, want %d", rel, info.family, family);
  return m;
}

/* Untiled and 32-pixel tiles: the same image up to float rounding. */
static void
check_tiled (sdcl_model *m, mode md, const char *what, const pictures *pic, sdcl_image *untiled)
{
  sdcl_gen_params whole = params (-1), tiled = params (32);
  sdcl_image t = { 0 };
  sdcl_error err = { 0 };
  CHECK (run (m, md, &whole, pic, untiled, &err) == SDCL_OK, "%s untiled: %s", what, err.message);
  CHECK (run (m, md, &tiled, pic, &t, &err) == SDCL_OK, "%s tiled: %s", what, err.message);
  if (untiled->data && t.data)
    {
      g_autofree char *label = g_strdup_printf ("%s, vae_tile 32 against untiled", what);
      CHECK_CLOSE (label, t.data, untiled->data, SIZE * SIZE * 3, TILED_ATOL, 0.0);
    }
  sdcl_image_free (&t);
}

static void
cancel_at (sdcl_ctx *ctx, sdcl_model *m, mode md, const char *target, int vae_tile, const pictures *pic)
{
  phase_state s = { .target = target };
  sdcl_gen_params p = params (vae_tile);
  p.cancel = &s.flag;
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  sdcl_set_phase_hook_for_testing (raise_at_phase, &s);
  sdcl_status st = run (m, md, &p, pic, &out, &err);
  sdcl_set_phase_hook_for_testing (NULL, NULL);
  g_autofree char *want = g_strdup_printf ("cancelled during %s", target);
  CHECK (s.seen, "mode %d, tile %d: phase '%s' never started", (int) md, vae_tile, target);
  CHECK (st == SDCL_ERR_CANCELLED && strstr (err.message, want), "mode %d, tile %d, %s: %s (%s)",
         (int) md, vae_tile, target, sdcl_status_name (st), err.message);
  CHECK (out.data == NULL, "%s: an image after the cancel", target);
  sdcl_cl_pool_trim (ctx->cl);
  CHECK (sdcl_cl_pool_bytes (ctx->cl) == 0, "%s: %" G_GUINT64_FORMAT " device bytes still in use",
         target, sdcl_cl_pool_bytes (ctx->cl));
  sdcl_image_free (&out);
}

static bool
same (const sdcl_image *a, const sdcl_image *b)
{
  return a->data && b->data && memcmp (a->data, b->data, sizeof (float) * SIZE * SIZE * 3) == 0;
}


static void
check_cancels (sdcl_ctx *ctx, sdcl_model *v, sdcl_model *nine, const pictures *pic)
{
  static const int tiles[] = { -1, 32 };   /* untiled, tiled */
  for (size_t i = 0; i < G_N_ELEMENTS (tiles); i++)
    {
      int tile = tiles[i];
      cancel_at (ctx, v, TXT2IMG, "text encoding", tile, pic);
      cancel_at (ctx, v, TXT2IMG, "denoising step 2 of 3", tile, pic);
      cancel_at (ctx, v, TXT2IMG, "VAE decode", tile, pic);
      cancel_at (ctx, v, IMG2IMG, "VAE encode", tile, pic);
      cancel_at (ctx, nine, INPAINT, "VAE encode", tile, pic);
    }
  /* A lean model uploads each network as its phase starts. */
  sdcl_model *lean = load (ctx, regular_model, SDCL_RESIDENCY_LEAN);
  uint64_t uploads = sdcl_cl_weight_uploads (ctx->cl);
  cancel_at (ctx, lean, TXT2IMG, "model load", -1, pic);
  CHECK (sdcl_cl_weight_uploads (ctx->cl) == uploads, "lean: %" G_GUINT64_FORMAT
         " tensors uploaded after the cancel", sdcl_cl_weight_uploads (ctx->cl) - uploads);
  sdcl_model_free (lean);
}

int
main (int argc, char **argv)
{
  if (argc == 4 && !strcmp (argv[3], "sdxl"))
    {
      regular_model = argv[1];
      nine_model = argv[2];
      family = SDCL_FAMILY_SDXL;
    }
  else if (argc != 1)
    {
      fprintf (stderr, "usage: %s [REGULAR NINE_CHANNEL sdxl]\n", argv[0]);
      return 2;
    }
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "skipping: %s\n", err.message);
      return 77;
    }
  pictures pic = { { SIZE, SIZE, 3, g_new (float, SIZE * SIZE * 3) },
                   { SIZE, SIZE, 1, g_new (float, SIZE * SIZE) } };
  for (int y = 0; y < SIZE; y++)
    for (int x = 0; x < SIZE; x++)
      {
        for (int c = 0; c < 3; c++)
          pic.init.data[(y * SIZE + x) * 3 + c] = (float) ((x * (c + 1) + y * 3) % SIZE) / (SIZE - 1.0f);
        float dx = x - 32.0f, dy = y - 30.0f;
        pic.mask.data[y * SIZE + x] = dx * dx + dy * dy < 300 ? 1.0f : 0.0f;
      }
  sdcl_model *v = load (ctx, regular_model, SDCL_RESIDENCY_RESIDENT);
  sdcl_model *nine = load (ctx, nine_model, SDCL_RESIDENCY_RESIDENT);
  sdcl_image first[3] = { 0 };
  check_tiled (v, TXT2IMG, "txt2img (v)", &pic, &first[TXT2IMG]);
  check_tiled (v, IMG2IMG, "img2img (v)", &pic, &first[IMG2IMG]);
  check_tiled (nine, INPAINT, "inpaint (9 channels)", &pic, &first[INPAINT]);

  check_cancels (ctx, v, nine, &pic);

  static const char *const names[] = { "txt2img", "img2img", "inpaint" };
  for (int md = TXT2IMG; md <= INPAINT; md++)
    {
      sdcl_gen_params p = params (-1);
      sdcl_image again = { 0 };
      CHECK (run (md == INPAINT ? nine : v, (mode) md, &p, &pic, &again, &err) == SDCL_OK,
             "%s after the cancels: %s", names[md], err.message);
      CHECK (same (&again, &first[md]), "%s after the cancels differs from the first run", names[md]);
      sdcl_image_free (&again);
      sdcl_image_free (&first[md]);
    }
  sdcl_model_free (nine);
  sdcl_model_free (v);
  g_free (pic.init.data);
  g_free (pic.mask.data);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

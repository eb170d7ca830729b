/* What sdcl_img2img and sdcl_inpaint promise beyond matching diffusers
 * (tiny-sd and tiny-sd-inpaint, F32, the golden inputs, 4 DDIM steps):
 *   - pixels the (blurred) mask does not reach are returned bit-identical;
 *   - strength 0 returns the input unchanged, at any size;
 *   - inpainting at strength 1 with an all-ones mask is text-to-image from
 *     the same noise;
 *   - a mask of 0.5 changes less than a mask of 1;
 *   - only-masked mode leaves everything outside its crop untouched;
 *   - inputs of any size come back at their size;
 *   - a cancelled run returns CANCELLED and leaves the model usable;
 *   - bad input gets a clear error.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "api_internal.h"
#include "edit_fixture.h"

/* The mask rectangle of mask-48x64.png (half-open). */
#define MX0 13
#define MX1 35
#define MY0 19
#define MY1 45

static sdcl_gen_params
params (void)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.negative_prompt = "blurry";
  p.steps = 4;
  p.sampler = SDCL_SAMPLER_DDIM;
  p.karras_sigmas = false;
  p.seed = 99;
  p.strength = 1.0f;
  p.mask_blur = 0.0f;
  return p;
}

static sdcl_image
image_new (int w, int h, int channels, float value)
{
  sdcl_image img = { w, h, channels, g_new (float, (size_t) w * h * channels) };
  for (size_t i = 0; i < (size_t) w * h * channels; i++)
    img.data[i] = value;
  return img;
}

static bool
inside (int x, int y, int x0, int y0, int x1, int y1)
{
  return x >= x0 && x < x1 && y >= y0 && y < y1;
}

/* Pixels outside [x0,x1)x[y0,y1) identical; returns how many differ inside. */
static int
compare_outside (const sdcl_image *a, const sdcl_image *b, int x0, int y0, int x1, int y1,
                 const char *what)
{
  int changed_outside = 0, changed_inside = 0;
  for (int y = 0; y < a->height; y++)
    for (int x = 0; x < a->width; x++)
      {
        size_t i = ((size_t) y * a->width + x) * 3;
        bool same = memcmp (a->data + i, b->data + i, 3 * sizeof (float)) == 0;
        if (inside (x, y, x0, y0, x1, y1))
          changed_inside += !same;
        else
          changed_outside += !same;
      }
  CHECK (changed_outside == 0, "%s: %d pixels outside the mask changed", what, changed_outside);
  return changed_inside;
}

static double
mean_abs_change_in_rect (const sdcl_image *a, const sdcl_image *b)
{
  double sum = 0;
  int n = 0;
  for (int y = MY0; y < MY1; y++)
    for (int x = MX0; x < MX1; x++, n++)
      for (int c = 0; c < 3; c++)
        sum += fabs (a->data[(y * a->width + x) * 3 + c] - b->data[(y * a->width + x) * 3 + c]);
  return sum / (3 * n);
}

static void
test_outside_mask_untouched (sdcl_model *m, const char *name, const sdcl_image *init,
                             const sdcl_image *mask)
{
  sdcl_gen_params p = params ();
  p.mask_blur = 2.0f; /* reaches ceil(3 * 2) = 6 pixels beyond the rectangle */
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  CHECK (sdcl_inpaint (m, &p, init, mask, &out, &err) == SDCL_OK, "%s: %s", name, err.message);
  if (!out.data)
    return;
  g_autofree char *what = g_strdup_printf ("%s, blur 2", name);
  int changed = compare_outside (&out, init, MX0 - 6, MY0 - 6, MX1 + 6, MY1 + 6, what);
  CHECK (changed > (MX1 - MX0) * (MY1 - MY0) / 2, "%s: only %d pixels repainted", name, changed);
  sdcl_image_free (&out);
}

static void
test_strength_zero (sdcl_model *m, const sdcl_image *init, const sdcl_image *mask)
{
  sdcl_gen_params p = params ();
  p.strength = 0.0f;
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  /* An off-grid size: nothing may be resized either. */
  sdcl_image odd = image_new (45, 61, 3, 0.0f);
  for (int y = 0; y < 61; y++)
    memcpy (odd.data + y * 45 * 3, init->data + y * 48 * 3, 45 * 3 * sizeof (float));
  CHECK (sdcl_img2img (m, &p, &odd, &out, &err) == SDCL_OK, "%s", err.message);
  CHECK (out.width == 45 && out.height == 61
         && memcmp (out.data, odd.data, 45 * 61 * 3 * sizeof (float)) == 0,
         "img2img at strength 0 changed the input");
  sdcl_image_free (&out);
  CHECK (sdcl_inpaint (m, &p, init, mask, &out, &err) == SDCL_OK, "%s", err.message);
  CHECK (memcmp (out.data, init->data, 48 * 64 * 3 * sizeof (float)) == 0,
         "inpaint at strength 0 changed the input");
  sdcl_image_free (&out);
  sdcl_image_free (&odd);
}

/* With the mask everywhere 1 and DDIM (no per-step draws), inpainting at
 * strength 1 starts from noise * init_noise_sigma and never blends: it is
 * text-to-image from that noise, to the bit. */
static void
test_full_mask_is_txt2img (sdcl_model *m, const sdcl_image *init)
{
  float noise[4 * 8 * 6];
  for (int i = 0; i < 4 * 8 * 6; i++)
    noise[i] = sinf (i * 0.7f) * 1.3f;
  sdcl_gen_params p = params ();
  p.initial_noise = noise;
  p.width = 48;
  p.height = 64;
  sdcl_image ones = image_new (48, 64, 1, 1.0f), a = { 0 }, b = { 0 };
  sdcl_error err = { 0 };
  CHECK (sdcl_inpaint (m, &p, init, &ones, &a, &err) == SDCL_OK, "%s", err.message);
  CHECK (sdcl_txt2img (m, &p, &b, &err) == SDCL_OK, "%s", err.message);
  if (a.data && b.data)
    CHECK (memcmp (a.data, b.data, 48 * 64 * 3 * sizeof (float)) == 0,
           "inpaint(strength 1, mask 1) differs from txt2img with the same noise");
  sdcl_image_free (&a);
  sdcl_image_free (&b);
  sdcl_image_free (&ones);
}

/* Grey levels are per-pixel strength: 0.5 changes the masked area less
 * (with a 9-channel model too, where grey cells follow the same rule). */
static void
test_soft_mask (sdcl_model *m, const sdcl_image *init, const sdcl_image *mask)
{
  sdcl_gen_params p = params ();
  sdcl_image half = image_new (48, 64, 1, 0.0f), full = { 0 }, soft = { 0 };
  for (int i = 0; i < 48 * 64; i++)
    half.data[i] = mask->data[i] * 0.5f;
  sdcl_error err = { 0 };
  CHECK (sdcl_inpaint (m, &p, init, mask, &full, &err) == SDCL_OK, "%s", err.message);
  CHECK (sdcl_inpaint (m, &p, init, &half, &soft, &err) == SDCL_OK, "%s", err.message);
  if (full.data && soft.data)
    {
      double d_full = mean_abs_change_in_rect (&full, init);
      double d_soft = mean_abs_change_in_rect (&soft, init);
      fprintf (stderr, "mean |change| in the mask (%d-channel UNet): 1.0 -> %.4f, 0.5 -> %.4f\n",
               m->files->unet.in_channels, d_full, d_soft);
      CHECK (d_soft > 0.0 && d_soft < 0.8 * d_full, "mask 0.5 changed %.4f, mask 1 %.4f",
             d_soft, d_full);
    }
  sdcl_image_free (&full);
  sdcl_image_free (&soft);
  sdcl_image_free (&half);
}

/* Only-masked on a 96x128 picture with a small mask: the crop (mask box +
 * padding, grown to the model's square) is repainted at 64x64 and pasted
 * back; everything the mask does not reach is the input's. */
static void
test_only_masked (sdcl_model *m)
{
  sdcl_image big = image_new (96, 128, 3, 0.0f), mask = image_new (96, 128, 1, 0.0f);
  for (int y = 0; y < 128; y++)
    for (int x = 0; x < 96; x++)
      {
        float *px = big.data + (y * 96 + x) * 3;
        px[0] = x / 95.0f, px[1] = y / 127.0f, px[2] = 0.5f;
        mask.data[y * 96 + x] = inside (x, y, 60, 20, 76, 44) ? 1.0f : 0.0f;
      }
  sdcl_gen_params p = params ();
  p.only_masked = true;
  p.mask_padding = 8;
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  CHECK (sdcl_inpaint (m, &p, &big, &mask, &out, &err) == SDCL_OK, "%s", err.message);
  if (out.data)
    {
      CHECK (out.width == 96 && out.height == 128, "size %dx%d", out.width, out.height);
      int changed = compare_outside (&out, &big, 60, 20, 76, 44, "only masked");
      CHECK (changed > 16 * 24 / 2, "only masked: %d pixels repainted", changed);
    }
  sdcl_image_free (&out);
  sdcl_image_free (&big);
  sdcl_image_free (&mask);
}

/* Off-grid sizes are resized for the run and restored. */
static void
test_any_size (sdcl_model *m, const sdcl_image *init)
{
  sdcl_image odd = image_new (45, 61, 3, 0.0f), out = { 0 };
  for (int y = 0; y < 61; y++)
    memcpy (odd.data + y * 45 * 3, init->data + y * 48 * 3, 45 * 3 * sizeof (float));
  sdcl_gen_params p = params ();
  p.strength = 0.5f;
  sdcl_error err = { 0 };
  CHECK (sdcl_img2img (m, &p, &odd, &out, &err) == SDCL_OK, "%s", err.message);
  CHECK (out.width == 45 && out.height == 61 && out.channels == 3, "img2img size %dx%dx%d",
         out.width, out.height, out.channels);
  sdcl_image_free (&out);
  sdcl_image_free (&odd);
}

static bool
cancel_at_first_step (int step, int n, const sdcl_image *preview, void *user)
{
  (void) step, (void) n, (void) preview, (void) user;
  return false;
}

/* A progress callback that says stop ends the run with CANCELLED and no
 * image; the model stays usable. */
static void
test_cancel (sdcl_model *m, const sdcl_image *init, const sdcl_image *mask)
{
  sdcl_gen_params p = params ();
  p.progress = cancel_at_first_step;
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_inpaint (m, &p, init, mask, &out, &err);
  CHECK (st == SDCL_ERR_CANCELLED && out.data == NULL && strstr (err.message, "step 1 of 4"),
         "cancel: %s (%s)", sdcl_status_name (st), err.message);
  p.progress = NULL;
  CHECK (sdcl_img2img (m, &p, init, &out, &err) == SDCL_OK, "after a cancel: %s", err.message);
  sdcl_image_free (&out);
}

static void
expect_error (sdcl_status st, const sdcl_error *err, sdcl_status want, const char *needle1,
              const char *needle2)
{
  CHECK (st == want, "status %s, want %s (%s)", sdcl_status_name (st), sdcl_status_name (want),
         err->message);
  CHECK (strstr (err->message, needle1) && (!needle2 || strstr (err->message, needle2)),
         "message '%s' lacks '%s'", err->message, needle1);
}

static void
test_errors (sdcl_model *m, sdcl_model *m9, const sdcl_image *init)
{
  sdcl_gen_params p = params ();
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };

  sdcl_image small = image_new (48, 63, 1, 1.0f);
  expect_error (sdcl_inpaint (m, &p, init, &small, &out, &err), &err,
                SDCL_ERR_INVALID_ARGUMENT, "48x63", "48x64");
  sdcl_image_free (&small);

  sdcl_image grey = image_new (48, 64, 1, 1.5f);
  expect_error (sdcl_inpaint (m, &p, init, &grey, &out, &err), &err, SDCL_ERR_INVALID_ARGUMENT,
                "mask", "[0, 1]");
  sdcl_image_free (&grey);

  expect_error (sdcl_inpaint (m, &p, init, init, &out, &err), &err, SDCL_ERR_INVALID_ARGUMENT,
                "mask has 3 channels", NULL);

  p.strength = 1.5f;
  expect_error (sdcl_img2img (m, &p, init, &out, &err), &err, SDCL_ERR_INVALID_ARGUMENT,
                "strength", NULL);
  p.strength = 1.0f;

  sdcl_image tiny = image_new (7, 64, 3, 0.5f);
  expect_error (sdcl_img2img (m, &p, &tiny, &out, &err), &err, SDCL_ERR_INVALID_ARGUMENT,
                "7x64", NULL);
  sdcl_image_free (&tiny);

  expect_error (sdcl_txt2img (m9, &p, &out, &err), &err, SDCL_ERR_INVALID_ARGUMENT,
                "inpainting model", NULL);
  expect_error (sdcl_img2img (m9, &p, init, &out, &err), &err, SDCL_ERR_INVALID_ARGUMENT,
                "inpainting model", NULL);
  CHECK (out.data == NULL, "an error left an image behind");
}

int
main (void)
{
  sdcl_ctx *ctx = edit_ctx ();
  sdcl_model *m = edit_load (ctx, "models/tiny-sd");
  sdcl_model *m9 = edit_load (ctx, "models/tiny-sd-inpaint");
  sdcl_st_file *g = golden_open ("golden/inpaint4_ddim.safetensors");
  sdcl_image init = golden_image (g, "init_image", 48, 64, 3);
  sdcl_image mask = golden_image (g, "mask", 48, 64, 1);
  sdcl_st_close (g);

  test_outside_mask_untouched (m, "4-channel", &init, &mask);
  test_outside_mask_untouched (m9, "9-channel", &init, &mask);
  test_strength_zero (m, &init, &mask);
  test_full_mask_is_txt2img (m, &init);
  test_soft_mask (m, &init, &mask);
  test_soft_mask (m9, &init, &mask);
  test_cancel (m, &init, &mask);
  test_only_masked (m);
  test_any_size (m, &init);
  test_errors (m, m9, &init);

  sdcl_image_free (&init);
  sdcl_image_free (&mask);
  sdcl_model_free (m);
  sdcl_model_free (m9);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

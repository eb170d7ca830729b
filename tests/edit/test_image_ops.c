/* The pixel-space helpers of the edit pipelines (engine/pipeline/image_ops.h). */
#include "check.h"
#include "image_ops.h"
#include "sdcl.h"

#include <glib.h>
#include <math.h>
#include <string.h>

/* A constant stays constant through any resize (weights sum to 1), and a
 * same-size resize is an exact copy. */
static void
test_resize_constant (void)
{
  float src[37 * 23 * 3], dst[64 * 48 * 3];
  for (size_t i = 0; i < G_N_ELEMENTS (src); i++)
    src[i] = 0.375f;
  sdcl_resize_lanczos3 (src, 37, 23, 3, dst, 64, 48);
  float want[64 * 48 * 3];
  for (size_t i = 0; i < G_N_ELEMENTS (want); i++)
    want[i] = 0.375f;
  CHECK_CLOSE ("upscaled constant", dst, want, 64 * 48 * 3, 1e-6, 0);
  sdcl_resize_lanczos3 (src, 37, 23, 3, dst, 11, 7);
  CHECK_CLOSE ("downscaled constant", dst, want, 11 * 7 * 3, 1e-6, 0);
}

/* Halving a linear ramp gives the ramp sampled at the new pixel centres
 * (away from the borders, within 1%: Lanczos is not exactly linear-exact). */
static void
test_resize_ramp (void)
{
  enum { SW = 64, DW = 32 };
  float src[SW], dst[DW], want[DW];
  for (int x = 0; x < SW; x++)
    src[x] = (x + 0.5f) / SW;
  sdcl_resize_lanczos3 (src, SW, 1, 1, dst, DW, 1);
  for (int x = 0; x < DW; x++)
    want[x] = (x + 0.5f) / DW;
  CHECK_CLOSE ("halved ramp (interior)", dst + 4, want + 4, DW - 8, 1e-2, 0);
}

/* Blur keeps 0 and 1 exactly where the kernel sees only 0 or only 1, and
 * its total mass (edges replicated, so only away from them). */
static void
test_blur (void)
{
  enum { W = 40, H = 30 };
  float m[W * H] = { 0 }, b[W * H];
  for (int y = 10; y < 20; y++)
    for (int x = 12; x < 28; x++)
      m[y * W + x] = 1.0f;
  sdcl_mask_blur (m, W, H, 1.0f, b);
  CHECK (b[15 * W + 20] == 1.0f, "deep inside: %.9g", b[15 * W + 20]);
  CHECK (b[2 * W + 2] == 0.0f, "far outside: %.9g", b[2 * W + 2]);
  CHECK (b[15 * W + 12] > 0.3f && b[15 * W + 12] < 0.7f, "edge: %g", b[15 * W + 12]);
  double sum_m = 0, sum_b = 0;
  for (int i = 0; i < W * H; i++)
    sum_m += m[i], sum_b += b[i];
  CHECK (fabs (sum_m - sum_b) < 1e-3, "mass %g -> %g", sum_m, sum_b);

  sdcl_box box;
  CHECK (sdcl_mask_bbox (b, W, H, &box), "bbox");
  CHECK (box.x0 == 9 && box.x1 == 31 && box.y0 == 7 && box.y1 == 23, "bbox %d,%d-%d,%d",
         box.x0, box.y0, box.x1, box.y1);
  float zero[W * H] = { 0 };
  CHECK (!sdcl_mask_bbox (zero, W, H, &box), "empty mask has a box");
}

/* Compositing: mask 0 leaves the pixel, 1 takes the generated one, 0.5
 * mixes in linear light (so black/white give sRGB(0.5) = 0.735, not 0.5). */
static void
test_composite (void)
{
  float d[3 * 3] = { 0.1f, 0.2f, 0.3f, 0, 0, 0, 0.7f, 0.7f, 0.7f };
  float g[3 * 3] = { 0.9f, 0.9f, 0.9f, 1, 1, 1, 0.2f, 0.4f, 0.6f };
  float m[3] = { 0.0f, 0.5f, 1.0f };
  sdcl_image dst = { 3, 1, 3, d }, gen = { 3, 1, 3, g };
  sdcl_composite (&dst, &gen, m, (sdcl_box) { 0, 0, 3, 1 });
  float want[9] = { 0.1f, 0.2f, 0.3f, 0.735357f, 0.735357f, 0.735357f, 0.2f, 0.4f, 0.6f };
  CHECK (memcmp (d, want, 3 * sizeof (float)) == 0, "mask 0 changed the pixel");
  CHECK (memcmp (d + 6, want + 6, 3 * sizeof (float)) == 0, "mask 1 did not copy");
  CHECK_CLOSE ("mask 0.5, linear light", d + 3, want + 3, 3, 1e-5, 0);
}

/* Outpainting's pre-fill: known pixels stay bit for bit, unknown ones take
 * the colour of the known pixels next to them (an
 * unknown stripe between a red left and a blue right part: the stripe goes
 * from red to blue, monotonically, each side's colour dominating next to it),
 * a half-known pixel is half its own colour, and no known pixel is an error. */
static void
test_fill_unknown (void)
{
  enum { W = 40, H = 9 };
  static float rgb[W * H * 3], known_data[W * H];
  sdcl_image img = { W, H, 3, rgb }, known = { W, H, 1, known_data };
  sdcl_error err = { 0 };

  for (int i = 0; i < W * H; i++)
    {
      int x = i % W;
      rgb[3 * i + 0] = x < 16 ? 0.9f : x >= 24 ? 0.1f : 0.5f; /* garbage in the hole */
      rgb[3 * i + 1] = 0.2f;
      rgb[3 * i + 2] = x < 16 ? 0.1f : x >= 24 ? 0.8f : -3.0f;
      known_data[i] = x < 16 || x >= 24 ? 1.0f : 0.0f;
    }
  known_data[5 * W + 3] = 0.5f; /* half known */
  CHECK (sdcl_image_fill_unknown (&img, &known, &err) == SDCL_OK, "fill: %s", err.message);
  bool kept = true, monotonic = true, in_range = true;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        const float *p = rgb + 3 * (y * W + x);
        if ((x < 16 || x >= 24) && !(y == 5 && x == 3))
          kept &= p[0] == (x < 16 ? 0.9f : 0.1f) && p[1] == 0.2f && p[2] == (x < 16 ? 0.1f : 0.8f);
        if (x >= 16 && x < 24)
          {
            in_range &= p[0] >= 0.1f - 1e-6f && p[0] <= 0.9f + 1e-6f && fabsf (p[1] - 0.2f) < 1e-6f;
            monotonic &= x == 16 || p[0] <= p[-3] + 1e-6f;
          }
      }
  CHECK (kept, "fill: known pixels bit-identical");
  CHECK (in_range && monotonic, "fill: the stripe runs from the left colour to the right one");
  CHECK (rgb[3 * (4 * W + 16)] > 0.5f && rgb[3 * (4 * W + 23)] < 0.5f,
         "fill: next to a known edge that edge's colour dominates (%g, %g)",
         rgb[3 * (4 * W + 16)], rgb[3 * (4 * W + 23)]);
  /* 0.5 * 0.9 + 0.5 * fill, the fill there being (about) the red around it. */
  CHECK (fabsf (rgb[3 * (5 * W + 3)] - 0.9f) < 0.05f, "fill: a half-known pixel blends (%g)",
         rgb[3 * (5 * W + 3)]);

  for (int i = 0; i < W * H; i++)
    known_data[i] = 0.0f;
  CHECK (sdcl_image_fill_unknown (&img, &known, &err) == SDCL_ERR_INVALID_ARGUMENT
           && strstr (err.message, "no pixel is known"),
         "fill: nothing known is refused naming the cause (%s)", err.message);
  sdcl_image wrong = { W - 1, H, 1, known_data };
  CHECK (sdcl_image_fill_unknown (&img, &wrong, &err) == SDCL_ERR_INVALID_ARGUMENT
           && strstr (err.message, "must match"),
         "fill: a known map of another size is refused (%s)", err.message);
}

int
main (void)
{
  test_resize_constant ();
  test_resize_ramp ();
  test_blur ();
  test_composite ();
  test_fill_unknown ();
  return check_finish ();
}

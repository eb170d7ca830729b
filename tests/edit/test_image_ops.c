/* The pixel-space helpers of the edit pipelines (engine/pipeline/image_ops.h). */
#include "check.h"
#include "image_ops.h"

#include <glib.h>
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

int
main (void)
{
  test_resize_constant ();
  test_resize_ramp ();
  test_blur ();
  test_composite ();
  return check_finish ();
}

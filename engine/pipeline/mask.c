/* Mask blur, bounding box and compositing (see image_ops.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "image_ops.h"

/* Normalised Gaussian weights for offsets -r..r, r = ceil(3 sigma). */
static double *
gaussian_kernel (double sigma, int *radius)
{
  int r = (int) ceil (3.0 * sigma);
  double *k = g_new (double, 2 * r + 1), sum = 0.0;
  for (int i = -r; i <= r; i++)
    sum += k[i + r] = exp (-0.5 * i * i / (sigma * sigma));
  for (int i = 0; i <= 2 * r; i++)
    k[i] /= sum;
  *radius = r;
  return k;
}

static int
clampi (int v, int lo, int hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* One 1-D pass over n lines of length len; element j of line l is at
 * base(l) + j * step with base(l) = l * line_step. */
static void
blur_pass (const float *src, float *dst, int n, int len, size_t line_step, size_t step,
           const double *k, int r)
{
  for (int l = 0; l < n; l++)
    {
      const float *s = src + l * line_step;
      float *d = dst + l * line_step;
      for (int j = 0; j < len; j++)
        {
          double acc = 0.0;
          for (int o = -r; o <= r; o++)
            acc += k[o + r] * s[clampi (j + o, 0, len - 1) * step];
          d[j * step] = (float) acc;
        }
    }
}

void
sdcl_mask_blur (const float *src, int w, int h, float sigma, float *dst)
{
  size_t n = (size_t) w * h;
  if (!(sigma > 0.0f))
    {
      memcpy (dst, src, n * sizeof (float));
      return;
    }
  int r;
  double *k = gaussian_kernel (sigma, &r);
  float *tmp = g_new (float, n);
  blur_pass (src, tmp, h, w, (size_t) w, 1, k, r);  /* rows */
  blur_pass (tmp, dst, w, h, 1, (size_t) w, k, r);  /* columns */
  g_free (tmp);
  g_free (k);
}

bool
sdcl_mask_bbox (const float *mask, int w, int h, sdcl_box *box)
{
  sdcl_box b = { w, h, 0, 0 };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (mask[(size_t) y * w + x] > 0.0f)
        {
          b.x0 = MIN (b.x0, x);
          b.y0 = MIN (b.y0, y);
          b.x1 = MAX (b.x1, x + 1);
          b.y1 = MAX (b.y1, y + 1);
        }
  *box = b;
  return b.x1 > b.x0;
}

/* The sRGB transfer function (IEC 61966-2-1) and its inverse. */
static float
srgb_to_linear (float v)
{
  return v <= 0.04045f ? v / 12.92f : powf ((v + 0.055f) / 1.055f, 2.4f);
}

static float
linear_to_srgb (float v)
{
  return v <= 0.0031308f ? v * 12.92f : 1.055f * powf (v, 1.0f / 2.4f) - 0.055f;
}

void
sdcl_composite (sdcl_image *dst, const sdcl_image *gen, const float *mask, sdcl_box box)
{
  int c = dst->channels;
  for (int y = box.y0; y < box.y1; y++)
    for (int x = box.x0; x < box.x1; x++)
      {
        float m = mask[(size_t) y * dst->width + x];
        if (m <= 0.0f)
          continue;
        float *d = dst->data + ((size_t) y * dst->width + x) * c;
        const float *g = gen->data + ((size_t) (y - box.y0) * gen->width + (x - box.x0)) * c;
        for (int ch = 0; ch < c; ch++)
          d[ch] = m >= 1.0f ? g[ch]
                            : linear_to_srgb (srgb_to_linear (d[ch]) * (1.0f - m)
                                              + srgb_to_linear (g[ch]) * m);
      }
}

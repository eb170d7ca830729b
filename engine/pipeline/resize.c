/* Lanczos-3 resampling (see image_ops.h).
 *
 * Each output sample is a normalised weighted sum over the input samples
 * whose centres lie within the kernel's support around the output
 * sample's centre mapped back to the input.  Rows are resampled first into
 * a float buffer (no rounding in between), then columns.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "image_ops.h"

#define LANCZOS_A 3.0

static double
sinc (double x)
{
  if (x == 0.0)
    return 1.0;
  x *= G_PI;
  return sin (x) / x;
}

static double
lanczos3 (double x)
{
  return fabs (x) < LANCZOS_A ? sinc (x) * sinc (x / LANCZOS_A) : 0.0;
}

/* The taps of one output sample: input indices first..first+n-1. */
typedef struct {
  int first, n;
  double *w;
} taps;

/* Weights for every output index of a dst-long axis read from src samples. */
static taps *
make_taps (int src, int dst, int *max_taps)
{
  double scale = (double) src / dst;
  double stretch = scale > 1.0 ? scale : 1.0; /* widen the kernel when shrinking */
  double support = LANCZOS_A * stretch;
  int cap = (int) ceil (support) * 2 + 1;
  taps *t = g_new (taps, dst);
  double *pool = g_new (double, (size_t) dst * cap);
  for (int i = 0; i < dst; i++)
    {
      double centre = (i + 0.5) * scale;
      int lo = (int) floor (centre - support), hi = (int) ceil (centre + support);
      lo = lo < 0 ? 0 : lo;
      hi = hi > src ? src : hi;
      if (hi - lo > cap)
        hi = lo + cap;
      t[i].first = lo;
      t[i].n = hi - lo;
      t[i].w = pool + (size_t) i * cap;
      double sum = 0.0;
      for (int k = 0; k < t[i].n; k++)
        sum += t[i].w[k] = lanczos3 ((lo + k + 0.5 - centre) / stretch);
      for (int k = 0; k < t[i].n; k++)
        t[i].w[k] /= sum;
    }
  *max_taps = cap;
  return t;
}

static void
free_taps (taps *t)
{
  if (t)
    g_free (t[0].w);
  g_free (t);
}

static float
clamp01 (double v)
{
  return v < 0.0 ? 0.0f : v > 1.0 ? 1.0f : (float) v;
}

void
sdcl_resize_lanczos3 (const float *src, int sw, int sh, int c, float *dst, int dw, int dh)
{
  if (sw == dw && sh == dh)
    {
      memcpy (dst, src, (size_t) sw * sh * c * sizeof (float));
      return;
    }
  int cap;
  taps *tx = make_taps (sw, dw, &cap);
  taps *ty = make_taps (sh, dh, &cap);

  float *rows = g_new (float, (size_t) dw * sh * c); /* [sh][dw][c] */
  for (int y = 0; y < sh; y++)
    for (int x = 0; x < dw; x++)
      for (int ch = 0; ch < c; ch++)
        {
          double acc = 0.0;
          const float *s = src + ((size_t) y * sw + tx[x].first) * c + ch;
          for (int k = 0; k < tx[x].n; k++)
            acc += tx[x].w[k] * s[(size_t) k * c];
          rows[((size_t) y * dw + x) * c + ch] = (float) acc;
        }
  for (int y = 0; y < dh; y++)
    for (int x = 0; x < dw; x++)
      for (int ch = 0; ch < c; ch++)
        {
          double acc = 0.0;
          const float *s = rows + ((size_t) ty[y].first * dw + x) * c + ch;
          for (int k = 0; k < ty[y].n; k++)
            acc += ty[y].w[k] * s[(size_t) k * dw * c];
          dst[((size_t) y * dw + x) * c + ch] = clamp01 (acc);
        }
  g_free (rows);
  free_taps (tx);
  free_taps (ty);
}

static void
image_alloc (sdcl_image *out, int w, int h, int channels)
{
  out->width = w;
  out->height = h;
  out->channels = channels;
  out->data = g_new (float, (size_t) w * h * channels);
}

void
sdcl_image_resized (const sdcl_image *src, int w, int h, sdcl_image *out)
{
  image_alloc (out, w, h, src->channels);
  sdcl_resize_lanczos3 (src->data, src->width, src->height, src->channels, out->data, w, h);
}

void
sdcl_image_crop (const sdcl_image *src, sdcl_box box, sdcl_image *out)
{
  int w = box.x1 - box.x0, c = src->channels;
  image_alloc (out, w, box.y1 - box.y0, c);
  for (int y = box.y0; y < box.y1; y++)
    memcpy (out->data + (size_t) (y - box.y0) * w * c,
            src->data + ((size_t) y * src->width + box.x0) * c, (size_t) w * c * sizeof (float));
}

void
sdcl_image_copy (const sdcl_image *src, sdcl_image *out)
{
  sdcl_box all = { 0, 0, src->width, src->height };
  sdcl_image_crop (src, all, out);
}

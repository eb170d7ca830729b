/* sdcl_image helpers and conversions from network tensors.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdlib.h>

#include <glib.h>

#include "image_internal.h"

void
sdcl_image_free (sdcl_image *image)
{
  if (!image)
    return;
  g_free (image->data);
  image->data = NULL;
  image->width = image->height = image->channels = 0;
}

static float
clamp01 (float v)
{
  return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

static void
image_alloc (sdcl_image *out, int h, int w)
{
  out->width = w;
  out->height = h;
  out->channels = 3;
  out->data = g_new (float, (size_t) w * h * 3);
}

void
sdcl_image_from_decoder (const float *planar, int channels, int h, int w, sdcl_image *out)
{
  size_t plane = (size_t) w * h;
  image_alloc (out, h, w);
  for (size_t i = 0; i < plane; i++)
    for (int c = 0; c < 3; c++)
      {
        float v = planar[(size_t) (c < channels ? c : 0) * plane + i];
        out->data[i * 3 + c] = clamp01 (v / 2.0f + 0.5f);
      }
}

/* Least-squares fit of RGB against SD 1.x latents, widely used for live
 * previews; good enough to see composition and colour, not detail. */
static const float latent_to_rgb[4][3] = {
  { 0.298f, 0.207f, 0.208f },
  { 0.187f, 0.286f, 0.173f },
  { -0.158f, 0.189f, 0.264f },
  { -0.184f, -0.271f, -0.473f },
};

void
sdcl_render_latent_preview (const float *latents, int c, int h, int w, sdcl_image *out)
{
  size_t plane = (size_t) w * h;
  image_alloc (out, h, w);
  for (size_t i = 0; i < plane; i++)
    for (int k = 0; k < 3; k++)
      {
        float v = 0.0f;
        if (c == 4)
          for (int j = 0; j < 4; j++)
            v += latents[j * plane + i] * latent_to_rgb[j][k];
        else
          v = latents[i] * 0.25f;
        out->data[i * 3 + k] = clamp01 (v * 0.5f + 0.5f);
      }
}

/* PNG output for the command-line tools (libpng).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "png_io.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char
to_u8 (float v)
{
  float s = rintf (v * 255.0f);
  return (unsigned char) (s < 0.0f ? 0.0f : s > 255.0f ? 255.0f : s);
}

static bool
write_rows (png_structp png, png_infop info, FILE *fp, const sdcl_image *img,
            const char *const *keys, const char *const *values, int n)
{
  unsigned char *row = malloc ((size_t) img->width * 3);
  if (!row || setjmp (png_jmpbuf (png)))
    {
      free (row);
      return false;
    }
  png_init_io (png, fp);
  png_set_IHDR (png, info, img->width, img->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_sRGB (png, info, PNG_sRGB_INTENT_PERCEPTUAL);
  for (int i = 0; i < n; i++)
    {
      png_text text = { .compression = PNG_TEXT_COMPRESSION_NONE,
                        .key = (char *) keys[i],
                        .text = (char *) values[i] };
      png_set_text (png, info, &text, 1);
    }
  png_write_info (png, info);
  for (int y = 0; y < img->height; y++)
    {
      const float *src = img->data + (size_t) y * img->width * 3;
      for (int x = 0; x < img->width * 3; x++)
        row[x] = to_u8 (src[x]);
      png_write_row (png, row);
    }
  png_write_end (png, NULL);
  free (row);
  return true;
}

bool
sdcl_png_write (const char *path, const sdcl_image *img, const char *const *keys,
                const char *const *values, int n, char *msg, size_t msg_size)
{
  FILE *fp = fopen (path, "wb");
  if (!fp)
    {
      snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
      return false;
    }
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct (png) : NULL;
  bool ok = png && info && write_rows (png, info, fp, img, keys, values, n);
  png_destroy_write_struct (&png, &info);
  if (fclose (fp) != 0)
    ok = false;
  if (!ok)
    {
      snprintf (msg, msg_size, "failed to write PNG %s", path);
      remove (path);
    }
  return ok;
}

/* libFuzzer harness: the CLI's PNG reader (tools/png_io.c), in both modes
 * (RGB for --init, mask for --mask).  The input is handed over as an
 * in-memory file.  Besides no crash, leak or allocation over the limit:
 * an image is never larger than SDCL_MAX_SIDE_PIXELS a side, and a header
 * declaring a side of 0 or over it is refused with the size message (the
 * check before decoding, issue 22).  Seeds side_* sit on both sides of
 * the limit.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "png_io.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* libpng refuses a critical chunk whose CRC is wrong, so nearly every
 * mutation would die there.  Chunks are re-signed before reading so that
 * the fuzzer reaches the reader's handling of the chunk contents (sizes,
 * colour types, bit depths, truncated image data). */
static void
fix_crcs (uint8_t *p, size_t size)
{
  size_t at = 8;
  while (at + 12 <= size)
    {
      uint32_t len = (uint32_t) p[at] << 24 | (uint32_t) p[at + 1] << 16 | (uint32_t) p[at + 2] << 8
                     | p[at + 3];
      if (len > size - at - 12)
        break;
      uLong crc = crc32 (0L, p + at + 4, 4 + len);
      uint8_t *c = p + at + 8 + len;
      c[0] = (uint8_t) (crc >> 24);
      c[1] = (uint8_t) (crc >> 16);
      c[2] = (uint8_t) (crc >> 8);
      c[3] = (uint8_t) crc;
      at += 12 + (size_t) len;
    }
}

/* true when the input starts with a PNG signature and an IHDR chunk
 * declaring a side outside 1..SDCL_MAX_SIDE_PIXELS. */
static bool
declares_bad_side (const uint8_t *p, size_t size)
{
  static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  if (size < 24 || memcmp (p, sig, 8) != 0 || memcmp (p + 12, "IHDR", 4) != 0)
    return false;
  uint32_t w = (uint32_t) p[16] << 24 | (uint32_t) p[17] << 16 | (uint32_t) p[18] << 8 | p[19];
  uint32_t h = (uint32_t) p[20] << 24 | (uint32_t) p[21] << 16 | (uint32_t) p[22] << 8 | p[23];
  return w < 1 || h < 1 || w > SDCL_MAX_SIDE_PIXELS || h > SDCL_MAX_SIDE_PIXELS;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  uint8_t *copy = malloc (size ? size : 1);
  memcpy (copy, data, size);
  fix_crcs (copy, size);
  bool bad_side = declares_bad_side (copy, size);   /* as re-signed: a short IHDR's CRC lands on it */
  fuzz_memfile m;
  fuzz_memfile_open (&m, "image.png", copy, size);
  free (copy);
  for (int mode = SDCL_PNG_RGB; mode <= SDCL_PNG_MASK; mode++)
    {
      sdcl_image img = { 0 };
      char msg[512];
      msg[0] = '\0';
      if (sdcl_png_read (m.path, (sdcl_png_mode) mode, &img, msg, sizeof msg))
        {
          int ch = mode == SDCL_PNG_RGB ? 3 : 1;
          if (bad_side || img.width <= 0 || img.height <= 0 || img.width > SDCL_MAX_SIDE_PIXELS
              || img.height > SDCL_MAX_SIDE_PIXELS || img.channels != ch || !img.data)
            abort ();
          size_t n = (size_t) img.width * (size_t) img.height * (size_t) ch;
          for (size_t i = 0; i < n; i++)
            if (!(img.data[i] >= 0.0f && img.data[i] <= 1.0f))
              abort ();   /* every sample read and in [0, 1] */
          free (img.data);
        }
      else if (msg[0] == '\0' || !memchr (msg, '\0', sizeof msg))
        abort ();
      else if (bad_side && !strstr (msg, "each side must be 1.."))
        abort ();   /* refused by the side check, not by a later allocation */
    }
  fuzz_memfile_close (&m);
  return 0;
}

/* PNG input and output for the command-line tools.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_PNG_IO_H
#define SDCL_PNG_IO_H

#include <stdbool.h>

#include "sdcl.h"

/* Writes an 8-bit RGB PNG (values rounded half-to-even from [0, 1], as numpy
 * does for diffusers' output).  `keys`/`values` (n entries, may be 0;
 * values in UTF-8) become tEXt chunks, iTXt for values beyond ASCII.
 * A regular file (or a new one) is replaced atomically: written to a
 * temporary file in its folder and renamed, so a failure or a kill leaves
 * the previous file intact and no temporary file behind after a failure.
 * An existing file that is not a regular file (a device such as /dev/null,
 * a FIFO) is written into directly and never removed; a folder is refused.
 * On failure returns false and writes a message naming the file to `msg`. */
bool sdcl_png_write (const char *path, const sdcl_image *img, const char *const *keys,
                     const char *const *values, int n, char *msg, size_t msg_size);

/* Checks, before any work, that sdcl_png_write can write `path`: its
 * folder exists and takes new files (if it will be replaced by a
 * rename), an existing file is writable and not a folder.  On failure
 * returns false and writes a message naming the path to `msg`. */
bool sdcl_png_check_output (const char *path, char *msg, size_t msg_size);

/* What sdcl_png_read makes of a file. */
typedef enum {
  /* RGB: grey is replicated, palettes expanded, alpha dropped. */
  SDCL_PNG_RGB,
  /* One channel: the alpha channel when the file has one (a layer's
   * transparency exported from an editor), else the grey value (RGB files:
   * luma, 0.299 R + 0.587 G + 0.114 B, as PIL's convert("L")). */
  SDCL_PNG_MASK
} sdcl_png_mode;

/* Reads any PNG (1/2/4/8/16-bit grey, grey+alpha, RGB, RGBA, palette,
 * tRNS transparency) into a newly allocated float image in [0, 1]: 8-bit
 * samples k become (float) k / 255 (as diffusers' float32(k) / 255),
 * 16-bit ones k / 65535.  Values are taken as they are stored (no gamma or
 * colour-profile conversion).  Free out->data with free().  On failure returns false and writes a
 * message naming the file to `msg`. */
bool sdcl_png_read (const char *path, sdcl_png_mode mode, sdcl_image *out, char *msg,
                    size_t msg_size);

#endif

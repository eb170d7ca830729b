/* PNG output for the command-line tools.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_PNG_IO_H
#define SDCL_PNG_IO_H

#include <stdbool.h>

#include "sdcl.h"

/* Writes an 8-bit RGB PNG (values rounded half-to-even from [0, 1], as numpy
 * does for diffusers' output).  `keys`/`values` (n entries, may be 0) become
 * tEXt chunks.  On failure returns false and writes a message to `msg`. */
bool sdcl_png_write (const char *path, const sdcl_image *img, const char *const *keys,
                     const char *const *values, int n, char *msg, size_t msg_size);

#endif

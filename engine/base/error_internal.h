/* The error helpers every layer of the engine shares.  It depends on
 * nothing but sdcl.h, so the lowest files can report errors without
 * seeing the public objects (api_internal.h).  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_ERROR_INTERNAL_H
#define SDCL_ERROR_INTERNAL_H

#include <glib.h>

#include "sdcl.h"

/* Fills err (if not NULL) and returns code.  printf-style message. */
sdcl_status sdcl_fail (sdcl_error *err, sdcl_status code, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
/* Clears err to SDCL_OK / "". */
void sdcl_error_clear (sdcl_error *err);

#endif /* SDCL_ERROR_INTERNAL_H */

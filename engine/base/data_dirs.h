/* Where sdcl's data (the demo models, the CLIP vocabulary) may be.
 * Internal to libsdcl.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_DATA_DIRS_H
#define SDCL_DATA_DIRS_H

#include <glib.h>

/* The folders that may hold models/ and clip/, most preferred first:
 *   $SDCL_DATA_DIR;
 *   data/ beside the file that holds this code (a GIMP plug-in folder or an
 *     executable with libsdcl linked in statically, copied anywhere, carries
 *     its data along);
 *   $XDG_DATA_HOME/sdcl (a per-user install, tools/install-user.sh);
 *   the installed data folder;
 *   the source tree's data/ (running uninstalled).
 * A GPtrArray of newly allocated paths (free with g_ptr_array_unref). */
GPtrArray *sdcl_data_dirs (void);

#endif /* SDCL_DATA_DIRS_H */

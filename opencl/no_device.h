/* Why the OpenCL platforms expose no device, when it can be told: the
 * message sdcl gives instead of a bare "no device".
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_NO_DEVICE_H
#define SDCL_NO_DEVICE_H

#include "clrt.h"

/* A sentence for the user (g_free it) about `platforms` (n of them), none
 * of which lists a device.  PoCL drops its devices when it cannot create
 * its kernel cache folder (POCL_CACHE_DIR, else $XDG_CACHE_HOME/pocl, else
 * $HOME/.cache/pocl): a HOME this user cannot write, common for service
 * accounts and sandboxes, is then named with what to set.  Otherwise the
 * driver installation is the likely cause. */
char *sdcl_cl_no_device_hint (const cl_platform_id *platforms, cl_uint n);

/* The folder PoCL uses for its kernel cache (g_free it), from the same
 * environment variables PoCL reads. */
char *sdcl_cl_pocl_cache_dir (void);

/* true when `dir` is a folder this user may write in, or can be created
 * as one (its nearest existing ancestor is a writable folder). */
bool sdcl_cl_folder_writable (const char *dir);

#endif

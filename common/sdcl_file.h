/* Opening and reading the files sdcl is given, safely: every file sdcl
 * reads (configs, tokenizer files, cached kernels, tuning files, weights,
 * PNG inputs) goes through here, so that none of them can block the
 * process (a FIFO opened for reading waits for a writer), read a device
 * without end (/dev/zero), or make sdcl read gigabytes before a size check.
 *
 * Shared by libsdcl (engine/, opencl/) and the command-line tools: it
 * depends on GLib only.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_FILE_H
#define SDCL_FILE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Opens `path` read-only without blocking and checks, on the open file
 * (fstat: no race with a swap after the check), that it is a regular file
 * of at most `max_bytes` (0: any size).  Returns the descriptor (close()
 * it; blocking mode restored) and its size in *size (may be NULL), or -1
 * with a G_FILE_ERROR whose message names the file and the reason:
 * missing, not readable, "exists but is not a regular file (a FIFO)", or
 * larger than the limit.  `what` names the kind of file for the size
 * message ("config file"); it may be NULL when max_bytes is 0. */
int sdcl_file_open_regular (const char *path, const char *what, uint64_t max_bytes,
                            uint64_t *size, GError **error);

/* The whole of the regular file `path` (opened as above), NUL-terminated
 * (g_free it), its length in *len (may be NULL).  Never reads more than
 * `max_bytes` (> 0): a file that grows past it while being read is refused
 * too. */
bool sdcl_file_read_small (const char *path, const char *what, uint64_t max_bytes,
                           char **contents, size_t *len, GError **error);

/* true when `path` names something (following symlinks; a dangling link
 * counts as missing): callers that accept a missing optional file use it
 * to tell "absent" from "present but unusable", which
 * sdcl_file_open_regular then reports. */
bool sdcl_file_exists (const char *path);

#endif

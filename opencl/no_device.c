/* Why the OpenCL platforms expose no device (no_device.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "no_device.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* PoCL's own platform name (CL_PLATFORM_NAME). */
#define POCL_PLATFORM_NAME "Portable Computing Language"

static bool
is_pocl (cl_platform_id platform)
{
  char name[128] = "";
  clGetPlatformInfo (platform, CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
  return strstr (name, POCL_PLATFORM_NAME) != NULL;
}

/* An environment variable, NULL when unset or empty (as PoCL treats it). */
static const char *
env (const char *name)
{
  const char *v = g_getenv (name);
  return v && *v ? v : NULL;
}

char *
sdcl_cl_pocl_cache_dir (void)
{
  if (env ("POCL_CACHE_DIR"))
    return g_strdup (env ("POCL_CACHE_DIR"));
  if (env ("XDG_CACHE_HOME"))
    return g_build_filename (env ("XDG_CACHE_HOME"), "pocl", NULL);
  /* $HOME as PoCL reads it, not g_get_home_dir's password-file entry */
  return g_build_filename (env ("HOME") ? env ("HOME") : "/", ".cache", "pocl", NULL);
}

bool
sdcl_cl_folder_writable (const char *dir)
{
  char *p = g_strdup (dir);
  bool ok = false;
  for (;;)
    {
      GStatBuf sb;
      if (g_stat (p, &sb) == 0)
        {
          ok = S_ISDIR (sb.st_mode) && access (p, W_OK | X_OK) == 0;
          break;
        }
      if (errno != ENOENT)   /* ENOTDIR: a file on the way; EACCES: cannot look */
        break;
      char *parent = g_path_get_dirname (p);
      bool top = strcmp (parent, p) == 0;
      g_free (p);
      p = parent;
      if (top)
        break;
    }
  g_free (p);
  return ok;
}

char *
sdcl_cl_no_device_hint (const cl_platform_id *platforms, cl_uint n)
{
  bool pocl = false;
  for (cl_uint i = 0; i < n; i++)
    pocl |= is_pocl (platforms[i]);
  char *cache = pocl ? sdcl_cl_pocl_cache_dir () : NULL;
  char *hint;
  if (cache && !sdcl_cl_folder_writable (cache))
    hint = g_strdup_printf ("PoCL cannot create its kernel cache in %s (not a writable folder; "
                            "it derives from %s): set POCL_CACHE_DIR or XDG_CACHE_HOME to a "
                            "writable folder",
                            cache, env ("POCL_CACHE_DIR")   ? "POCL_CACHE_DIR"
                                   : env ("XDG_CACHE_HOME") ? "XDG_CACHE_HOME"
                                                            : "HOME");
  else
    hint = g_strdup ("is the driver installed correctly?");
  g_free (cache);
  return hint;
}

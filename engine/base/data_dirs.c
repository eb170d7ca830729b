/* Where sdcl's data may be (see data_dirs.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#define _GNU_SOURCE /* dladdr */
#include "data_dirs.h"

#include <dlfcn.h>

#include "config.h"

/* The folder of the executable or shared object this function is linked
 * into, or NULL.  dladdr names the main program by the path it was started
 * with, which may be relative: /proc/self/exe is the absolute one. */
static char *
own_folder (void)
{
  Dl_info info;
  char *file = NULL;
  char *dir;

  if (dladdr ((void *) own_folder, &info) && info.dli_fname && g_path_is_absolute (info.dli_fname))
    file = g_strdup (info.dli_fname);
  else
    file = g_file_read_link ("/proc/self/exe", NULL);
  if (!file)
    return NULL;
  dir = g_path_get_dirname (file);
  g_free (file);
  return dir;
}

GPtrArray *
sdcl_data_dirs (void)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  const char *env = g_getenv ("SDCL_DATA_DIR");
  char *own = own_folder ();

  if (env && *env)
    g_ptr_array_add (dirs, g_strdup (env));
  if (own)
    g_ptr_array_add (dirs, g_build_filename (own, "data", NULL));
  g_ptr_array_add (dirs, g_build_filename (g_get_user_data_dir (), "sdcl", NULL));
  g_ptr_array_add (dirs, g_strdup (SDCL_DATADIR));
  g_ptr_array_add (dirs, g_strdup (SDCL_SOURCE_DATADIR));
  g_free (own);
  return dirs;
}

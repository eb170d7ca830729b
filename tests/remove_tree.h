/* Deleting a test's temporary folder with everything in it, shared by
 * the C tests that build file trees.  A symbolic link is removed, never
 * followed: a link into the fixtures must not take them along.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_REMOVE_TREE_H
#define SDCL_TEST_REMOVE_TREE_H

#include <glib.h>
#include <glib/gstdio.h>

static inline void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d && (name = g_dir_read_name (d)))
        {
          char *p = g_build_filename (path, name, NULL);
          remove_tree (p);
          g_free (p);
        }
      if (d)
        g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

#endif

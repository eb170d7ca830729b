/* Where the engine looks for its data (engine/base/data_dirs.c), through
 * sdcl_default_model_path: $SDCL_DATA_DIR first, then data/ beside the file
 * the engine is linked into (here this test program, as in a copied GIMP
 * plug-in folder), then $XDG_DATA_HOME/sdcl, then the installed and the
 * source tree's data.  Each step adds a demo model to the next preferred
 * place and checks that it is the one found.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>

#include "check.h"
#include "sdcl.h"

/* A stand-in demo model: the lookup only asks for model_index.json. */
static char *
plant_model (const char *data_dir)
{
  char *model = g_build_filename (data_dir, "models", "sdcl-demo", NULL);
  char *index = g_build_filename (model, "model_index.json", NULL);
  CHECK (g_mkdir_with_parents (model, 0755) == 0, "mkdir %s", model);
  CHECK (g_file_set_contents (index, "{}", -1, NULL), "write %s", index);
  g_free (index);
  return model;
}

static void
remove_model (const char *data_dir)
{
  const char *parts[] = { "models/sdcl-demo/model_index.json", "models/sdcl-demo", "models", "" };
  for (size_t i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      char *path = g_build_filename (data_dir, parts[i], NULL);
      g_remove (path);
      g_free (path);
    }
}

static void
expect_found (const char *want, const char *what)
{
  sdcl_error err = { 0 };
  char *got = sdcl_default_model_path (false, &err);
  CHECK (got && g_strcmp0 (got, want) == 0, "%s: found %s, want %s (%s)", what,
         got ? got : "nothing", want, err.message);
  free (got);
}

int
main (void)
{
  char *tmp = g_dir_make_tmp ("sdcl-data-dirs-XXXXXX", NULL);
  char *xdg = g_build_filename (tmp, "xdg", NULL);
  char *xdg_sdcl = g_build_filename (xdg, "sdcl", NULL);
  char *env_dir = g_build_filename (tmp, "env", NULL);
  char *exe = g_file_read_link ("/proc/self/exe", NULL);
  char *exe_dir = exe ? g_path_get_dirname (exe) : NULL;
  char *beside = exe_dir ? g_build_filename (exe_dir, "data", NULL) : NULL;

  if (!tmp || !beside)
    {
      fprintf (stderr, "no temporary folder or no /proc/self/exe\n");
      return 77;
    }
  /* Before anything asks GLib for the user data folder (it caches it). */
  g_unsetenv ("SDCL_DATA_DIR");
  g_setenv ("XDG_DATA_HOME", xdg, TRUE);

  char *m = plant_model (xdg_sdcl);
  expect_found (m, "$XDG_DATA_HOME/sdcl before the installed and source data");
  g_free (m);

  m = plant_model (beside);
  expect_found (m, "data/ beside the program before $XDG_DATA_HOME/sdcl");
  g_free (m);

  m = plant_model (env_dir);
  g_setenv ("SDCL_DATA_DIR", env_dir, TRUE);
  expect_found (m, "$SDCL_DATA_DIR before everything");
  g_free (m);

  remove_model (beside);
  remove_model (env_dir);
  remove_model (xdg_sdcl);
  g_remove (xdg);
  g_remove (tmp);
  g_free (beside);
  g_free (exe_dir);
  g_free (exe);
  g_free (env_dir);
  g_free (xdg_sdcl);
  g_free (xdg);
  g_free (tmp);
  return check_failures ? 1 : 0;
}

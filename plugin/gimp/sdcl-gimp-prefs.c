/* sdcl GIMP plug-in: the preferences every procedure shares (the models
 * folder and the models in it) and where the translations are; declared
 * in sdcl-gimp-core.h.  Nothing here calls libgimp.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-gimp-core.h"
#include "sdcl_file.h"

/* ---- preferences -------------------------------------------------------------- */

#define PREFS_GROUP "sdcl"
#define PREFS_KEY   "models-dir"
#define PREFS_MAX_BYTES (1024 * 1024)

/* The preferences file into `kf`: through sdcl_file_read_small, so a FIFO
 * or device at its path cannot block the dialog (g_key_file_load_from_file
 * would open it blocking). */
static gboolean
load_prefs (GKeyFile *kf, const gchar *prefs_file, GKeyFileFlags flags)
{
  gchar   *text = NULL;
  size_t   len  = 0;
  gboolean ok   = sdcl_file_read_small (prefs_file, "preferences file", PREFS_MAX_BYTES, &text,
                                        &len, NULL)
                  && g_key_file_load_from_data (kf, text, len, flags, NULL);

  g_free (text);
  return ok;
}

gchar *
sdcl_prefs_get_models_dir (const gchar *prefs_file)
{
  GKeyFile *kf  = g_key_file_new ();
  gchar    *dir = NULL;

  if (prefs_file && load_prefs (kf, prefs_file, G_KEY_FILE_NONE))
    dir = g_key_file_get_string (kf, PREFS_GROUP, PREFS_KEY, NULL);
  g_key_file_free (kf);

  if (!dir || !*dir)
    {
      g_free (dir);
      if (g_getenv ("SDCL_MODELS_DIR") && *g_getenv ("SDCL_MODELS_DIR"))
        dir = g_strdup (g_getenv ("SDCL_MODELS_DIR"));
      else
        dir = g_build_filename (g_get_user_data_dir (), "sdcl", "models", NULL);
    }
  return dir;
}

void
sdcl_prefs_set_models_dir (const gchar *prefs_file,
                           const gchar *dir)
{
  GKeyFile *kf    = g_key_file_new ();
  GError   *error = NULL;

  if (!prefs_file)
    return;
  /* Keep whatever else the file holds. */
  load_prefs (kf, prefs_file, G_KEY_FILE_KEEP_COMMENTS);
  g_key_file_set_string (kf, PREFS_GROUP, PREFS_KEY, dir ? dir : "");
  if (!g_key_file_save_to_file (kf, prefs_file, &error))
    {
      g_warning ("sdcl: could not save %s: %s", prefs_file, error->message);
      g_error_free (error);
    }
  g_key_file_free (kf);
}

static gboolean
is_diffusers_folder (const gchar *path)
{
  gchar   *index = g_build_filename (path, "model_index.json", NULL);
  gchar   *unet  = g_build_filename (path, "unet", NULL);
  gboolean yes   = g_file_test (index, G_FILE_TEST_IS_REGULAR) ||
                   g_file_test (unet, G_FILE_TEST_IS_DIR);

  g_free (index);
  g_free (unet);
  return yes;
}

static gint
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return g_utf8_collate (*(const gchar * const *) a, *(const gchar * const *) b);
}

GPtrArray *
sdcl_find_models (const gchar *dir)
{
  GPtrArray   *models = g_ptr_array_new_with_free_func (g_free);
  GDir        *d      = dir ? g_dir_open (dir, 0, NULL) : NULL;
  const gchar *name;

  if (!d)
    return models;
  while ((name = g_dir_read_name (d)))
    {
      gchar *path = g_build_filename (dir, name, NULL);

      if ((g_str_has_suffix (name, ".safetensors") && g_file_test (path, G_FILE_TEST_IS_REGULAR)) ||
          (g_file_test (path, G_FILE_TEST_IS_DIR) && is_diffusers_folder (path)))
        g_ptr_array_add (models, path);
      else
        g_free (path);
    }
  g_dir_close (d);
  g_ptr_array_sort (models, compare_paths);
  return models;
}

void
sdcl_i18n_init (const gchar *localedir)
{
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
}

gchar *
sdcl_plugin_localedir (const gchar *program)
{
  gchar *dir   = g_path_get_dirname (program ? program : ".");
  gchar *local = g_build_filename (dir, "locale", NULL);

  g_free (dir);
  if (g_file_test (local, G_FILE_TEST_IS_DIR))
    return local;
  g_free (local);
  return g_strdup (LOCALEDIR);
}

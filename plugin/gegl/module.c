/* sdcl GEGL operations: the module's entry points.
 *
 * The three operations are built into one module (GEGL_OP_BUNDLE), so
 * they share one model cache in a process.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#define _GNU_SOURCE /* dladdr */
#include "sdcl-gegl-config.h"

#include <dlfcn.h>
#include <glib/gi18n-lib.h>
#include <gegl-plugin.h>

/* GEGL looks these two up by name; gegl-plugin.h does not declare them. */
G_MODULE_EXPORT const GeglModuleInfo *gegl_module_query    (GTypeModule *module);
G_MODULE_EXPORT gboolean              gegl_module_register (GTypeModule *module);

void gegl_op_sdcl_txt2img_register_type (GTypeModule *module);
void gegl_op_sdcl_img2img_register_type (GTypeModule *module);
void gegl_op_sdcl_inpaint_register_type (GTypeModule *module);

static const GeglModuleInfo module_info = { GEGL_MODULE_ABI_VERSION };

G_MODULE_EXPORT const GeglModuleInfo *
gegl_module_query (GTypeModule *module)
{
  return &module_info;
}

/* The catalogs: locale/ beside this module when it has one (a module
 * copied into ~/.local/share/gegl-0.4/plug-ins by tools/install-user.sh
 * carries its translations), else the installed locale folder. */
static gchar *
catalog_dir (void)
{
  Dl_info info;
  gchar  *dir, *local;

  if (!dladdr ((void *) catalog_dir, &info) || !info.dli_fname)
    return g_strdup (LOCALEDIR);
  dir   = g_path_get_dirname (info.dli_fname);
  local = g_build_filename (dir, "locale", NULL);
  g_free (dir);
  if (g_file_test (local, G_FILE_TEST_IS_DIR))
    return local;
  g_free (local);
  return g_strdup (LOCALEDIR);
}

G_MODULE_EXPORT gboolean
gegl_module_register (GTypeModule *module)
{
  gchar *localedir = catalog_dir ();

  /* Labels are translated when the classes initialise, so bind first.
   * Never textdomain(): the default domain belongs to the host. */
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  g_free (localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  gegl_op_sdcl_txt2img_register_type (module);
  gegl_op_sdcl_img2img_register_type (module);
  gegl_op_sdcl_inpaint_register_type (module);
  return TRUE;
}

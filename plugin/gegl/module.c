/* sdcl GEGL operations: the module's entry points.
 *
 * The three operations are built into one module (GEGL_OP_BUNDLE), so
 * they share one model cache in a process.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sdcl-gegl-config.h"

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

G_MODULE_EXPORT gboolean
gegl_module_register (GTypeModule *module)
{
  /* Labels are translated when the classes initialise, so bind first.
   * Never textdomain(): the default domain belongs to the host. */
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  gegl_op_sdcl_txt2img_register_type (module);
  gegl_op_sdcl_img2img_register_type (module);
  gegl_op_sdcl_inpaint_register_type (module);
  return TRUE;
}

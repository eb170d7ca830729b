/* Where the demo model that ships with sdcl lives. */
#include "sdcl.h"

#include <glib.h>

#include "error_internal.h"
#include "data_dirs.h"

#define DEMO_MODEL "sdcl-demo"
#define DEMO_INPAINT_MODEL "sdcl-demo-inpaint"

char *
sdcl_default_model_path (bool inpainting, sdcl_error *err)
{
  const char *name = inpainting ? DEMO_INPAINT_MODEL : DEMO_MODEL;
  /* sdcl_data_dirs puts an installed copy before the source tree, so an
   * installed sdcl never depends on the source tree it was built from. */
  GPtrArray *dirs = sdcl_data_dirs ();
  char *found = NULL;
  GString *looked = g_string_new (NULL);

  for (guint i = 0; i < dirs->len && !found; i++)
    {
      char *candidate = g_build_filename (dirs->pdata[i], "models", name, NULL);
      char *index = g_build_filename (candidate, "model_index.json", NULL);
      if (g_file_test (index, G_FILE_TEST_IS_REGULAR))
        found = g_strdup (candidate);
      else
        g_string_append_printf (looked, "%s%s", looked->len ? ", " : "", candidate);
      g_free (index);
      g_free (candidate);
    }
  g_ptr_array_unref (dirs);
  /* Without the 9-channel variant, inpainting runs on the base model
   * (masked reverse steps), which every 4-channel model supports. */
  if (!found && inpainting)
    {
      g_string_free (looked, TRUE);
      return sdcl_default_model_path (false, err);
    }
  if (!found)
    sdcl_fail (err, SDCL_ERR_IO, "the demo model %s is not installed (looked in %s); name a model",
               name, looked->str);
  g_string_free (looked, TRUE);
  return found;
}

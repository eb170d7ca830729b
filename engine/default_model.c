/* Where the demo model that ships with sdcl lives. */
#include "sdcl.h"

#include <glib.h>

#include "api_internal.h"
#include "config.h"

#define DEMO_MODEL "sdcl-demo"
#define DEMO_INPAINT_MODEL "sdcl-demo-inpaint"

char *
sdcl_default_model_path (bool inpainting, sdcl_error *err)
{
  const char *name = inpainting ? DEMO_INPAINT_MODEL : DEMO_MODEL;
  const char *env = g_getenv ("SDCL_DATA_DIR");
  /* Installed copy first, so an installed sdcl never depends on the source
   * tree it was built from still being there. */
  char *candidates[] = {
    env && *env ? g_build_filename (env, "models", name, NULL) : NULL,
    g_build_filename (SDCL_DATADIR, "models", name, NULL),
    g_build_filename (SDCL_SOURCE_DATADIR, "models", name, NULL),
  };
  char *found = NULL;
  GString *looked = g_string_new (NULL);

  for (size_t i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      if (!candidates[i])
        continue;
      char *index = g_build_filename (candidates[i], "model_index.json", NULL);
      if (!found && g_file_test (index, G_FILE_TEST_IS_REGULAR))
        found = g_strdup (candidates[i]);
      else if (!found)
        g_string_append_printf (looked, "%s%s", looked->len ? ", " : "", candidates[i]);
      g_free (index);
      g_free (candidates[i]);
    }
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

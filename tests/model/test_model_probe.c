/* sdcl_model_probe: what the files of a model say, without a device, is
 * what sdcl_model_get_info says of the loaded model (but device memory),
 * for a diffusers folder, a single-file checkpoint and an inpainting model;
 * bad arguments and a missing model fail with a message.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <string.h>

#include "check.h"
#include "sdcl.h"

static void
compare (sdcl_ctx *ctx, const char *models, const char *name, int want_channels)
{
  char *path = g_build_filename (models, name, NULL);
  sdcl_model_info probed, loaded;
  sdcl_model *model = NULL;
  sdcl_error err = { 0 };

  CHECK (sdcl_model_probe (path, &probed, &err) == SDCL_OK, "%s: probe: %s", name, err.message);
  CHECK (probed.unet_in_channels == want_channels, "%s: %d input channels, want %d", name,
         probed.unet_in_channels, want_channels);
  CHECK (probed.device_bytes == 0, "%s: a probe puts nothing on the device", name);
  if (sdcl_model_load (ctx, path, NULL, &model, &err) == SDCL_OK)
    {
      sdcl_model_get_info (model, &loaded);
      CHECK (probed.family == loaded.family && probed.native_resolution == loaded.native_resolution
             && probed.unet_in_channels == loaded.unet_in_channels
             && probed.n_parameters == loaded.n_parameters
             && probed.vae_scale_factor == loaded.vae_scale_factor
             && strcmp (probed.layout, loaded.layout) == 0,
             "%s: probe and load agree (native %d/%d, parameters %llu/%llu)", name,
             probed.native_resolution, loaded.native_resolution,
             (unsigned long long) probed.n_parameters, (unsigned long long) loaded.n_parameters);
      CHECK (probed.native_resolution > 0, "%s: a native size", name);
      sdcl_model_free (model);
    }
  else
    CHECK (0, "%s: load: %s", name, err.message);
  g_free (path);
}

int
main (void)
{
  const char *fixtures = g_getenv ("SDCL_FIXTURES");
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  sdcl_model_info info;

  if (!fixtures)
    {
      fprintf (stderr, "SDCL_FIXTURES is not set (run through meson test)\n");
      return 1;
    }
  CHECK (sdcl_model_probe (NULL, &info, &err) == SDCL_ERR_INVALID_ARGUMENT, "NULL path");
  CHECK (sdcl_model_probe ("x", NULL, &err) == SDCL_ERR_INVALID_ARGUMENT, "NULL out");
  CHECK (sdcl_model_probe ("/nonexistent/model", &info, &err) != SDCL_OK && err.message[0],
         "a missing model fails with a message");

  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no OpenCL device: %s\n", err.message);
      return 77;
    }
  char *models = g_build_filename (fixtures, "models", NULL);
  compare (ctx, models, "tiny-sd", 4);
  compare (ctx, models, "tiny-sd-ldm.safetensors", 4);
  compare (ctx, models, "tiny-sd-inpaint", 9);
  g_free (models);
  sdcl_ctx_free (ctx);
  return check_failures ? 1 : 0;
}

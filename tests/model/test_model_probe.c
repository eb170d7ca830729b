/* sdcl_model_probe: what the files of a model say, without a device, is
 * what sdcl_model_get_info says of the loaded model (but device memory),
 * for a diffusers folder, a single-file checkpoint and inpainting models
 * (SD 1.x's folder, the SD 2.x and SDXL single files);
 * bad arguments and a missing model fail with a message.  Turbo: the
 * switch (sdcl_model_probe_params) makes an SDXL single file Turbo at 512
 * px and is refused for SD 1.x; a diffusers folder whose configs say Turbo
 * (the family's Turbo size, trailing spacing) is Turbo without it, one that
 * differs in either is not.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

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

/* A copy of tiny-sdxl-turbo (links, and unet/config.json rewritten) whose
 * UNet sample size is `px` pixels, with `sched_from`'s scheduler. */
static char *
folder_copy (const char *models, int px, int scale, const char *sched_from)
{
  char *dir = g_dir_make_tmp ("sdcl-turbo-folder-XXXXXX", NULL);
  const char *parts[] = { "model_index.json", "text_encoder", "text_encoder_2", "tokenizer",
                          "tokenizer_2", "vae" };
  for (size_t i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      g_autofree char *from = g_build_filename (models, "tiny-sdxl-turbo", parts[i], NULL);
      g_autofree char *to = g_build_filename (dir, parts[i], NULL);
      CHECK (symlink (from, to) == 0, "link %s", to);
    }
  g_autofree char *sched_src = g_build_filename (models, sched_from, "scheduler", NULL);
  g_autofree char *sched = g_build_filename (dir, "scheduler", NULL);
  CHECK (symlink (sched_src, sched) == 0, "link %s", sched);
  g_autofree char *unet = g_build_filename (dir, "unet", NULL);
  g_mkdir (unet, 0755);
  g_autofree char *w_src = g_build_filename (models, "tiny-sdxl-turbo", "unet",
                                             "diffusion_pytorch_model.safetensors", NULL);
  g_autofree char *w = g_build_filename (unet, "diffusion_pytorch_model.safetensors", NULL);
  CHECK (symlink (w_src, w) == 0, "link %s", w);
  g_autofree char *cfg_src = g_build_filename (models, "tiny-sdxl-turbo", "unet", "config.json", NULL);
  g_autofree char *cfg = g_build_filename (unet, "config.json", NULL);
  g_autofree char *text = NULL;
  CHECK (g_file_get_contents (cfg_src, &text, NULL, NULL), "read %s", cfg_src);
  g_autoptr (GRegex) re = g_regex_new ("\"sample_size\": *[0-9]+", 0, 0, NULL);
  g_autofree char *size = g_strdup_printf ("\"sample_size\": %d", px / scale);
  g_autofree char *edited = g_regex_replace_literal (re, text, -1, 0, size, 0, NULL);
  CHECK (strcmp (edited, text) != 0 && g_file_set_contents (cfg, edited, -1, NULL),
         "rewrite %s", cfg);
  return dir;
}

static void
remove_copy (char *dir)
{
  const char *parts[] = { "model_index.json", "text_encoder", "text_encoder_2", "tokenizer",
                          "tokenizer_2", "vae", "scheduler", "unet/config.json",
                          "unet/diffusion_pytorch_model.safetensors", "unet" };
  for (size_t i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      g_autofree char *p = g_build_filename (dir, parts[i], NULL);
      g_remove (p);
    }
  g_rmdir (dir);
  g_free (dir);
}

static void
turbo (const char *models)
{
  g_autofree char *sgm = g_build_filename (models, "tiny-sdxl-sgm-f16.safetensors", NULL);
  g_autofree char *sd1 = g_build_filename (models, "tiny-sd", NULL);
  g_autofree char *folder = g_build_filename (models, "tiny-sdxl-turbo", NULL);
  sdcl_model_params mp = sdcl_model_default_params ();
  sdcl_model_info info, base;
  sdcl_error err = { 0 };

  mp.variant = SDCL_VARIANT_TURBO;
  CHECK (sdcl_model_probe (sgm, &base, &err) == SDCL_OK && !base.turbo, "SGM: not Turbo unsaid");
  CHECK (sdcl_model_probe_params (sgm, &mp, &info, &err) == SDCL_OK && info.turbo
         && info.native_resolution == 512 && base.native_resolution == 1024,
         "SGM with the switch: Turbo %d at %d px (without: %d px) %s", info.turbo,
         info.native_resolution, base.native_resolution, err.message);
  CHECK (sdcl_model_probe_params (sd1, &mp, &info, &err) == SDCL_ERR_INVALID_ARGUMENT
         && strstr (err.message, "no Turbo model"), "SD 1.x with the switch: %s", err.message);
  /* The fixture folder is 64 px: its configs do not say Turbo's size. */
  CHECK (sdcl_model_probe (folder, &base, &err) == SDCL_OK && !base.turbo,
         "tiny-sdxl-turbo (%d px): not Turbo by its configs", base.native_resolution);

  struct { int px; const char *sched; bool want; } cases[] = {
    { 512, "tiny-sdxl-turbo", true },    /* SDXL-Turbo's configs */
    { 512, "tiny-sdxl", false },         /* leading spacing: base */
    { 1024, "tiny-sdxl-turbo", false },  /* not the Turbo size */
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char *dir = folder_copy (models, cases[i].px, base.vae_scale_factor, cases[i].sched);
      CHECK (sdcl_model_probe (dir, &info, &err) == SDCL_OK && info.turbo == cases[i].want
             && info.native_resolution == cases[i].px,
             "folder of %d px with %s's scheduler: Turbo %d (want %d) %s", cases[i].px,
             cases[i].sched, info.turbo, cases[i].want, err.message);
      remove_copy (dir);
    }
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
  /* the 9-channel SD 2.x and SDXL single files: the width from conv_in's shape */
  compare (ctx, models, "tiny-sd2-inpaint-ldm-f16.safetensors", 9);
  compare (ctx, models, "tiny-sdxl-inpaint-sgm-f16.safetensors", 9);
  compare (ctx, models, "tiny-sdxl-sgm-f16.safetensors", 4);
  turbo (models);
  g_free (models);
  sdcl_ctx_free (ctx);
  return check_failures ? 1 : 0;
}

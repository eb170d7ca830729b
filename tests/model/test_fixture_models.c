/* The tiny reference models of tests/reference/fixtures/models (made with
 * diffusers/transformers by tests/reference/gen_fixtures.py): the diffusers
 * folders and the LDM single files of the same weights must load to the
 * same configs and the same canonical tensors.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "check.h"
#include "model_compare.h"
#include "families/family.h"
#include "model_files.h"

/* F16 keeps 11 significant bits (relative error <= 2^-11), BF16 8. */
#define HALF_TOLERANCE 5e-4
#define BF16_TOLERANCE 4e-3

static sdcl_model_files *
open_fixture (const char *models, const char *name)
{
  char *path = g_build_filename (models, name, NULL);
  sdcl_model_files *mf = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_model_files_open (path, &mf, &err) == SDCL_OK, "open %s: %s", path, err.message);
  if (mf)
    {
      CHECK (mf->family == SDCL_FAMILY_SD1, "%s: family %d", name, mf->family);
      CHECK (mf->unet.in_channels == 4, "%s: in_channels %d", name, mf->unet.in_channels);
    }
  g_free (path);
  return mf;
}

int
main (void)
{
  const char *fixtures = g_getenv ("SDCL_FIXTURES");
  char *models = g_build_filename (fixtures ? fixtures : ".", "models", NULL);
  if (!g_file_test (models, G_FILE_TEST_IS_DIR))
    {
      printf ("SKIP: no fixture models in %s (tests/reference/gen_fixtures.py makes them)\n", models);
      g_free (models);
      return 77;
    }
  sdcl_model_files *dir32 = open_fixture (models, "tiny-sd");
  sdcl_model_files *dir16 = open_fixture (models, "tiny-sd-f16");
  sdcl_model_files *ldm32 = open_fixture (models, "tiny-sd-ldm.safetensors");
  sdcl_model_files *ldm16 = open_fixture (models, "tiny-sd-ldm-f16.safetensors");
  if (dir32 && dir16 && ldm32 && ldm16)
    {
      CHECK (!dir32->single_file && ldm32->single_file, "layout flags");
      CHECK (dir32->vocab_path && dir32->merges_path, "tiny-sd has tokenizer/");
      CHECK (!dir16->vocab_path && !dir16->merges_path, "tiny-sd-f16 has no tokenizer/");
      CHECK (sdcl_wset_find (dir32->unet_w, "conv_in.weight")->dtype == SDCL_DT_F32
             && sdcl_wset_find (dir16->unet_w, "conv_in.weight")->dtype == SDCL_DT_F16, "dtypes");
      fprintf (stderr, "diffusers F32 vs LDM F32\n");
      compare_models (dir32, ldm32, 0);
      fprintf (stderr, "diffusers F16 vs diffusers F32\n");
      compare_models (dir16, dir32, HALF_TOLERANCE);
      /* the F16 single file holds its VAE in BF16: mixed dtypes in one file */
      fprintf (stderr, "LDM F16/BF16 vs diffusers F32\n");
      CHECK (sdcl_wset_find (ldm16->vae_w, "encoder.conv_in.weight")->dtype == SDCL_DT_BF16, "BF16 VAE");
      compare_models_configs (ldm16, dir32);
      compare_wsets (ldm16->unet_w, dir32->unet_w, HALF_TOLERANCE);
      compare_wsets (ldm16->text_w, dir32->text_w, HALF_TOLERANCE);
      compare_wsets (ldm16->vae_w, dir32->vae_w, BF16_TOLERANCE);
    }
  sdcl_model_files_close (dir32);
  sdcl_model_files_close (dir16);
  sdcl_model_files_close (ldm32);
  sdcl_model_files_close (ldm16);
  g_free (models);
  return check_finish ();
}

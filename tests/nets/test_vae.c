/* VAE decoder against diffusers' float32 outputs (golden/vae.safetensors):
 *   a: z [1,4,8,8] -> image [1,3,64,64];  b: z [1,4,6,10] -> image [1,3,48,80]
 * (z already divided by the scaling factor, raw decoder output, no clamp)
 * with F32 and F16 device weights, from the diffusers folder and the
 * single-file checkpoints (the "-f16" one stores its VAE as BF16).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets_fixture.h"

#define F32_ATOL 1e-4
#define F32_RTOL 1e-4
/* F16 rounds every weight (relative 2^-11): allow 0.5% of the output range
 * (the fixture shows 0.1%).  BF16 sources round more coarsely (2^-9):
 * allow 2% (the fixture shows 0.7%). */
#define F16_RANGE_FRACTION 5e-3
#define BF16_RANGE_FRACTION 2e-2

static const char *const cases[] = { "a", "b" };
#define N_CASES 2

typedef struct {
  float *image[N_CASES];
  uint64_t device_bytes;
} vae_outputs;

static float *
decode_case (sdcl_cl *cl, sdcl_vae *vae, sdcl_st_file *golden, const char *c)
{
  char name[32];
  snprintf (name, sizeof name, "%s_z", c);
  sdcl_t z = golden_device (cl, golden, name);
  snprintf (name, sizeof name, "%s_image", c);
  const sdcl_st_tensor *want = sdcl_st_find (golden, name);

  sdcl_error err = { 0 };
  sdcl_t image;
  CHECK_OK (sdcl_vae_decode (vae, &z, NULL, &image, &err), err);
  check_shape (name, &image, 4, want->shape);
  float *host = download (cl, &image);
  sdcl_t_release (cl, &image);
  sdcl_t_release (cl, &z);
  return host;
}

/* Weights from `mf`, config from `config` (the folder's, also for the single
 * files: diffusers loads those with the folder config as well). */
static vae_outputs
run_vae (sdcl_cl *cl, const sdcl_model_files *mf, const sdcl_model_files *config,
         sdcl_wtype wtype, sdcl_st_file *golden)
{
  sdcl_error err = { 0 };
  sdcl_vae *vae = NULL;
  CHECK_OK (sdcl_vae_new (cl, mf->vae_w, &config->vae, wtype, false, &vae, &err), err);
  vae_outputs o = { .device_bytes = sdcl_vae_device_bytes (vae) };
  for (int i = 0; i < N_CASES; i++)
    o.image[i] = decode_case (cl, vae, golden, cases[i]);
  sdcl_vae_free (vae);
  return o;
}

static void
free_outputs (vae_outputs *o)
{
  for (int i = 0; i < N_CASES; i++)
    g_free (o->image[i]);
}

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_st_file *golden = fixture_golden ("golden/vae.safetensors");
  sdcl_model_files *folder = fixture_model ("models/tiny-sd");
  sdcl_model_files *ldm = fixture_model ("models/tiny-sd-ldm.safetensors");
  sdcl_model_files *ldm16 = fixture_model ("models/tiny-sd-ldm-f16.safetensors");
  sdcl_model_files *folder16 = fixture_model ("models/tiny-sd-f16");

  vae_outputs f32 = run_vae (cl, folder, folder, SDCL_WT_F32, golden);
  vae_outputs f16 = run_vae (cl, folder, folder, SDCL_WT_F16, golden);
  vae_outputs single = run_vae (cl, ldm, folder, SDCL_WT_F32, golden);
  vae_outputs bf16_as_f32 = run_vae (cl, ldm16, folder, SDCL_WT_F32, golden);
  vae_outputs bf16_as_f16 = run_vae (cl, ldm16, folder, SDCL_WT_F16, golden);
  vae_outputs half_folder = run_vae (cl, folder16, folder16, SDCL_WT_F16, golden);

  for (int i = 0; i < N_CASES; i++)
    {
      char name[64];
      const sdcl_st_tensor *t;
      snprintf (name, sizeof name, "%s_image", cases[i]);
      float *want = golden_floats (golden, name, &t);
      int64_t n = t->n_elements;
      double f16_atol = F16_RANGE_FRACTION * value_range (want, n);
      double bf16_atol = BF16_RANGE_FRACTION * value_range (want, n);

      snprintf (name, sizeof name, "F32 %s_image", cases[i]);
      CHECK_CLOSE (name, f32.image[i], want, n, F32_ATOL, F32_RTOL);
      snprintf (name, sizeof name, "F16 %s_image", cases[i]);
      CHECK_CLOSE (name, f16.image[i], want, n, f16_atol, 0.0);
      snprintf (name, sizeof name, "single-file F32 %s_image = folder", cases[i]);
      check_identical (name, single.image[i], f32.image[i], n);
      snprintf (name, sizeof name, "BF16 file, F32 weights %s_image", cases[i]);
      CHECK_CLOSE (name, bf16_as_f32.image[i], want, n, bf16_atol, 0.0);
      snprintf (name, sizeof name, "BF16 file, F16 weights %s_image", cases[i]);
      CHECK_CLOSE (name, bf16_as_f16.image[i], want, n, bf16_atol, 0.0);
      snprintf (name, sizeof name, "F16 folder %s_image = F32 folder as F16", cases[i]);
      check_identical (name, half_folder.image[i], f16.image[i], n);
      g_free (want);
    }
  CHECK (2 * f16.device_bytes == f32.device_bytes, "device bytes F16 %llu, F32 %llu",
         (unsigned long long) f16.device_bytes, (unsigned long long) f32.device_bytes);

  free_outputs (&f32);
  free_outputs (&f16);
  free_outputs (&half_folder);
  free_outputs (&single);
  free_outputs (&bf16_as_f32);
  free_outputs (&bf16_as_f16);
  sdcl_model_files_close (folder);
  sdcl_model_files_close (ldm);
  sdcl_model_files_close (ldm16);
  sdcl_model_files_close (folder16);
  sdcl_st_close (golden);
  sdcl_cl_free (cl);
  return check_finish ();
}

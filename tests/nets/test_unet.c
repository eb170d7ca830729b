/* UNet against diffusers' float32 outputs (golden/unet.safetensors):
 *   a: x [2,4,8,8], timesteps 981 and 500 (one per batch entry), context [2,77,32]
 *   b: x [1,4,6,10] — odd latent size, the upsamplers must hit the skip sizes —
 *      at the fractional timestep 958.2245
 * with F32 and F16 device weights, from the diffusers folder and from the
 * single-file checkpoints; and the kept cross-attention keys and values
 * (sdcl_unet_keep_context).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets_fixture.h"

#define F32_ATOL 1e-4
#define F32_RTOL 1e-4
/* F16 rounds every weight (relative 2^-11): allow 1% of the output range
 * (the fixture shows 0.35%). */
#define F16_RANGE_FRACTION 1e-2

static const char *const cases[] = { "a", "b" };
#define N_CASES 2

typedef struct {
  float *out[N_CASES];
  uint64_t device_bytes;
} unet_outputs;

static float *
run_case (sdcl_cl *cl, sdcl_unet *unet, sdcl_st_file *golden, const char *c)
{
  char name[32];
  snprintf (name, sizeof name, "%s_x", c);
  sdcl_t x = golden_device (cl, golden, name);
  snprintf (name, sizeof name, "%s_context", c);
  sdcl_t context = golden_device (cl, golden, name);
  snprintf (name, sizeof name, "%s_t", c);
  float *t = golden_floats (golden, name, NULL);

  sdcl_error err = { 0 };
  sdcl_t out;
  CHECK_OK (sdcl_unet_forward (unet, &x, t, &context, NULL, &out, &err), err);
  check_shape (name, &out, 4, x.d);
  float *host = download (cl, &out);
  sdcl_t_release (cl, &out);
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &context);
  g_free (t);
  return host;
}

/* Weights from `mf`, config from `config` (the folder's, also for the single
 * files: diffusers loads those with the folder config as well). */
static unet_outputs
run_unet (sdcl_cl *cl, const sdcl_model_files *mf, const sdcl_model_files *config,
          sdcl_wtype wtype, sdcl_st_file *golden)
{
  sdcl_error err = { 0 };
  sdcl_unet *unet = NULL;
  CHECK_OK (sdcl_unet_new (cl, mf->unet_w, &config->unet, wtype, false, &unet, &err), err);
  unet_outputs o = { .device_bytes = sdcl_unet_device_bytes (unet) };
  for (int i = 0; i < N_CASES; i++)
    o.out[i] = run_case (cl, unet, golden, cases[i]);
  sdcl_unet_free (unet);
  return o;
}

static float *
forward_host (sdcl_cl *cl, sdcl_unet *unet, const sdcl_t *x, const float *t, const sdcl_t *context)
{
  sdcl_error err = { 0 };
  sdcl_t out;
  CHECK_OK (sdcl_unet_forward (unet, x, t, context, NULL, &out, &err), err);
  float *host = download (cl, &out);
  sdcl_t_release (cl, &out);
  return host;
}

/* sdcl_unet_keep_context: passes on a kept context give the plain result
 * bit for bit; the kept keys and values are what later passes use (the
 * context rewritten in place, which the contract forbids, leaves the
 * output as it was); another shape is projected anew; after !keep the
 * rewritten context counts again. */
static void
check_kept_context (sdcl_cl *cl, const sdcl_model_files *folder, sdcl_st_file *golden,
                    const unet_outputs *plain)
{
  sdcl_error err = { 0 };
  sdcl_unet *unet = NULL;
  CHECK_OK (sdcl_unet_new (cl, folder->unet_w, &folder->unet, SDCL_WT_F32, false, &unet, &err),
            err);
  sdcl_t x = golden_device (cl, golden, "a_x"), context = golden_device (cl, golden, "a_context");
  float *t = golden_floats (golden, "a_t", NULL);
  const int64_t n = x.n;   /* out has the input's shape */
  sdcl_unet_keep_context (unet, true);
  float *first = forward_host (cl, unet, &x, t, &context);
  check_identical ("kept context, first pass = plain", first, plain->out[0], n);
  float *zeros = g_new0 (float, context.n);
  sdcl_t_upload (cl, &context, zeros);
  float *second = forward_host (cl, unet, &x, t, &context);
  check_identical ("kept context, second pass (context rewritten) = plain", second, plain->out[0], n);
  float *b = run_case (cl, unet, golden, "b");
  const sdcl_st_tensor *bt;
  g_free (golden_floats (golden, "b_out", &bt));
  check_identical ("kept context, another shape = plain", b, plain->out[1], bt->n_elements);
  sdcl_unet_keep_context (unet, false);
  float *third = forward_host (cl, unet, &x, t, &context);
  double moved = 0;
  for (int64_t i = 0; i < n; i++)
    moved = MAX (moved, fabs (third[i] - plain->out[0][i]));
  CHECK (moved > 1e-3, "not kept: the zero context must change the output (moved %g)", moved);
  g_free (first), g_free (second), g_free (third), g_free (b), g_free (zeros), g_free (t);
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &context);
  sdcl_unet_free (unet);
}

static void
free_outputs (unet_outputs *o)
{
  for (int i = 0; i < N_CASES; i++)
    g_free (o->out[i]);
}

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_st_file *golden = fixture_golden ("golden/unet.safetensors");
  sdcl_model_files *folder = fixture_model ("models/tiny-sd");
  sdcl_model_files *ldm = fixture_model ("models/tiny-sd-ldm.safetensors");
  sdcl_model_files *ldm16 = fixture_model ("models/tiny-sd-ldm-f16.safetensors");
  sdcl_model_files *folder16 = fixture_model ("models/tiny-sd-f16");

  unet_outputs f32 = run_unet (cl, folder, folder, SDCL_WT_F32, golden);
  check_kept_context (cl, folder, golden, &f32);
  unet_outputs f16 = run_unet (cl, folder, folder, SDCL_WT_F16, golden);
  unet_outputs single = run_unet (cl, ldm, folder, SDCL_WT_F32, golden);
  unet_outputs single16 = run_unet (cl, ldm16, folder, SDCL_WT_F16, golden);
  unet_outputs half_folder = run_unet (cl, folder16, folder16, SDCL_WT_F16, golden);

  for (int i = 0; i < N_CASES; i++)
    {
      char name[64];
      const sdcl_st_tensor *t;
      snprintf (name, sizeof name, "%s_out", cases[i]);
      float *want = golden_floats (golden, name, &t);
      int64_t n = t->n_elements;

      snprintf (name, sizeof name, "F32 %s_out", cases[i]);
      CHECK_CLOSE (name, f32.out[i], want, n, F32_ATOL, F32_RTOL);
      snprintf (name, sizeof name, "F16 %s_out", cases[i]);
      CHECK_CLOSE (name, f16.out[i], want, n, F16_RANGE_FRACTION * value_range (want, n), 0.0);
      /* Same weights (the F16 file rounded like an F16 upload): identical. */
      snprintf (name, sizeof name, "single-file F32 %s_out = folder", cases[i]);
      check_identical (name, single.out[i], f32.out[i], n);
      snprintf (name, sizeof name, "single-file F16 %s_out = folder", cases[i]);
      check_identical (name, single16.out[i], f16.out[i], n);
      snprintf (name, sizeof name, "F16 folder %s_out = F32 folder as F16", cases[i]);
      check_identical (name, half_folder.out[i], f16.out[i], n);
      g_free (want);
    }
  CHECK (2 * f16.device_bytes == f32.device_bytes, "device bytes F16 %llu, F32 %llu",
         (unsigned long long) f16.device_bytes, (unsigned long long) f32.device_bytes);
  CHECK (single.device_bytes == f32.device_bytes, "single-file uploads %llu bytes, folder %llu",
         (unsigned long long) single.device_bytes, (unsigned long long) f32.device_bytes);

  free_outputs (&f32);
  free_outputs (&f16);
  free_outputs (&half_folder);
  free_outputs (&single);
  free_outputs (&single16);
  sdcl_model_files_close (folder);
  sdcl_model_files_close (ldm);
  sdcl_model_files_close (ldm16);
  sdcl_model_files_close (folder16);
  sdcl_st_close (golden);
  sdcl_cl_free (cl);
  return check_finish ();
}

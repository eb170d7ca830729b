/* The VAE encoder, built on demand by the first editing run, against
 * diffusers (golden/vae_encoder.safetensors): posterior mean and std of
 * init-48x64.png (64x48 -> 8x6) and of an analytic 56x40 picture (-> 7x5,
 * odd latent sizes).
 *
 * Tolerance: F32 weights, every op within ~1e-5 relative of PyTorch; the
 * encoder's 3 downsampling levels and mid attention keep mean and std
 * within 1e-4 absolute + 1e-4 relative (values are O(1)).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "api_internal.h"
#include "edit_fixture.h"
#include "pipeline_internal.h"

static void
check_posterior (sdcl_model *m, const sdcl_st_file *g, const char *suffix)
{
  g_autofree char *image_name = g_strconcat ("image", suffix, NULL);
  g_autofree char *mean_name = g_strconcat ("mean", suffix, NULL);
  g_autofree char *std_name = g_strconcat ("std", suffix, NULL);
  const sdcl_st_tensor *t = sdcl_st_find (g, image_name);
  CHECK (t && t->nd == 4, "golden %s", image_name);
  if (!t)
    return;
  int h = (int) t->shape[2], w = (int) t->shape[3];
  int64_t n_img, n_mean, n_std;
  float *image = golden_tensor (g, image_name, &n_img);
  float *mean = golden_tensor (g, mean_name, &n_mean);
  float *std = golden_tensor (g, std_name, &n_std);

  sdcl_cl *cl = m->ctx->cl;
  sdcl_t x = { 0 }, moments = { 0 };
  sdcl_error err = { 0 };
  sdcl_t_alloc (cl, &x, 4, 1, 3, h, w);
  sdcl_t_upload (cl, &x, image);
  sdcl_status st = sdcl_vae_encode (m->vae, &x, NULL, &moments, &err);
  CHECK (st == SDCL_OK, "encode %dx%d: %s", w, h, err.message);
  if (st == SDCL_OK)
    {
      CHECK (moments.n == 2 * n_mean, "moments: %lld values", (long long) moments.n);
      float *host = g_new (float, moments.n);
      sdcl_t_download (cl, &moments, host);
      for (int64_t i = 0; i < n_std; i++) /* log-variance -> std, as the pipeline */
        host[n_mean + i] = expf (0.5f * fminf (fmaxf (host[n_mean + i], -30.0f), 20.0f));
      g_autofree char *what_m = g_strdup_printf ("posterior mean %dx%d", w, h);
      g_autofree char *what_s = g_strdup_printf ("posterior std %dx%d", w, h);
      CHECK_CLOSE (what_m, host, mean, n_mean, 1e-4, 1e-4);
      CHECK_CLOSE (what_s, host + n_mean, std, n_std, 1e-4, 1e-4);
      g_free (host);
    }
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &moments);
  g_free (image);
  g_free (mean);
  g_free (std);
}

int
main (void)
{
  sdcl_ctx *ctx = edit_ctx ();
  sdcl_model *m = edit_load (ctx, "models/tiny-sd");
  sdcl_error err = { 0 };

  /* Loading builds no encoder; the first editing run does, once. */
  CHECK (!m->vae_has_encoder, "encoder built at load");
  sdcl_model_info before;
  sdcl_model_get_info (m, &before);
  CHECK (sdcl_model_ensure_encoder (m, &err) == SDCL_OK, "%s", err.message);
  CHECK (m->vae_has_encoder, "encoder not built");
  sdcl_model_info after;
  sdcl_model_get_info (m, &after);
  CHECK (after.device_bytes > before.device_bytes, "device bytes %llu -> %llu",
         (unsigned long long) before.device_bytes, (unsigned long long) after.device_bytes);

  sdcl_st_file *g = golden_open ("golden/vae_encoder.safetensors");
  check_posterior (m, g, "");
  check_posterior (m, g, "_b");
  sdcl_st_close (g);

  sdcl_model_free (m);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

/* Tiled VAE decode/encode (vae_tiled.c) against the untiled networks on the
 * tiny-sd fixture: the golden latents, a larger random latent (448x320
 * pixels, tiles that do not divide it) and an image to encode.
 *
 * Tolerance: the tiled pass computes every convolution output from the same
 * inputs and takes GroupNorm statistics over the whole map (in double on
 * the host, where the device sums in float), so it must agree to float
 * rounding: 1e-5 of the output's range (F32 and F16 weights alike: the
 * weights are the same device tensors).  Seams: the mean |vertical or
 * horizontal step| across tile borders must not exceed the mean step
 * over the whole image by more than it does untiled (+1%).
 *
 * For scale, the test also decodes the tiles independently (each with its
 * own GroupNorm statistics, what diffusers' tiled VAE does before
 * blending) and prints how far that lands from the untiled image.
 *
 * Prints the device pool peak and time of a 512x512 decode, untiled and
 * with 128-pixel tiles, and checks that the tiles need under half.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets_fixture.h"

#define RANGE_FRACTION 1e-5

static sdcl_vae *
load_vae (sdcl_cl *cl, const sdcl_model_files *mf, sdcl_wtype wtype)
{
  sdcl_error err = { 0 };
  sdcl_vae *vae = NULL;
  CHECK_OK (sdcl_vae_new (cl, mf->vae_w, &mf->vae, wtype, true, &vae, &err), err);
  return vae;
}

static float *
smooth_random (int64_t n, uint32_t seed)
{
  float *v = g_new (float, n);
  GRand *r = g_rand_new_with_seed (seed);
  for (int64_t i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (r, -1.0, 1.0);
  g_rand_free (r);
  return v;
}

static float *
decode_untiled (sdcl_cl *cl, sdcl_vae *vae, const float *z, int64_t c, int64_t h, int64_t w)
{
  sdcl_error err = { 0 };
  sdcl_t zt, img;
  int64_t shape[4] = { 1, c, h, w };
  sdcl_t_from_host (cl, &zt, 4, shape, z);
  CHECK_OK (sdcl_vae_decode (vae, &zt, NULL, &img, &err), err);
  float *host = download (cl, &img);
  sdcl_t_release (cl, &zt);
  sdcl_t_release (cl, &img);
  return host;
}

/* Mean |step| between neighbouring pixels across tile borders (every
 * `tile` rows and columns) over the mean |step| everywhere. */
static double
seam_ratio (const float *img, int64_t c, int64_t h, int64_t w, int64_t tile)
{
  double border = 0, all = 0;
  int64_t nb = 0, na = 0;
  for (int64_t ch = 0; ch < c; ch++)
    for (int64_t y = 0; y < h; y++)
      for (int64_t x = 0; x < w; x++)
        {
          const float *p = img + (ch * h + y) * w + x;
          if (y > 0)
            {
              double d = fabs (p[0] - p[-w]);
              all += d, na++;
              if (y % tile == 0)
                border += d, nb++;
            }
          if (x > 0)
            {
              double d = fabs (p[0] - p[-1]);
              all += d, na++;
              if (x % tile == 0)
                border += d, nb++;
            }
        }
  return nb ? (border / nb) / (all / na) : 0.0;
}

static void
check_decode (sdcl_cl *cl, sdcl_vae *vae, const char *what, const float *z, int64_t h, int64_t w,
              int tile)
{
  sdcl_error err = { 0 };
  float *want = decode_untiled (cl, vae, z, 4, h, w);
  float *got = NULL;
  int64_t dims[3];
  CHECK_OK (sdcl_vae_decode_tiled (vae, z, h, w, tile, NULL, &got, dims, &err), err);
  CHECK (dims[0] == 3 && dims[1] == 8 * h && dims[2] == 8 * w, "%s: dims %lldx%lldx%lld", what,
         (long long) dims[0], (long long) dims[1], (long long) dims[2]);
  int64_t n = dims[0] * dims[1] * dims[2];
  char name[128];
  snprintf (name, sizeof name, "%s tile %d vs untiled", what, tile);
  CHECK_CLOSE (name, got, want, n, RANGE_FRACTION * value_range (want, n), 0.0);
  double seams = seam_ratio (got, 3, dims[1], dims[2], tile);
  double base = seam_ratio (want, 3, dims[1], dims[2], tile);
  fprintf (stderr, "%s tile %d: border/mean step %.4f (untiled %.4f)\n", what, tile, seams, base);
  CHECK (seams <= base + 0.01, "%s tile %d: seams (%.4f vs %.4f)", what, tile, seams, base);
  g_free (got);
  g_free (want);
}

/* diffusers-style independent tiles (no overlap, no blend), to show what
 * per-tile GroupNorm statistics alone do; printed, not checked. */
static void
report_independent_tiles (sdcl_cl *cl, sdcl_vae *vae, const float *z, int64_t h, int64_t w,
                          int64_t lt)
{
  float *want = decode_untiled (cl, vae, z, 4, h, w);
  int64_t H = 8 * h, W = 8 * w;
  float *got = g_new0 (float, 3 * H * W);
  for (int64_t y0 = 0; y0 < h; y0 += lt)
    for (int64_t x0 = 0; x0 < w; x0 += lt)
      {
        int64_t th = MIN (lt, h - y0), tw = MIN (lt, w - x0);
        float *sub = g_new (float, 4 * th * tw);
        for (int64_t c = 0; c < 4; c++)
          for (int64_t y = 0; y < th; y++)
            memcpy (sub + (c * th + y) * tw, z + (c * h + y0 + y) * w + x0, tw * sizeof (float));
        float *img = decode_untiled (cl, vae, sub, 4, th, tw);
        for (int64_t c = 0; c < 3; c++)
          for (int64_t y = 0; y < 8 * th; y++)
            memcpy (got + (c * H + 8 * y0 + y) * W + 8 * x0, img + (c * 8 * th + y) * 8 * tw,
                    8 * tw * sizeof (float));
        g_free (sub);
        g_free (img);
      }
  double max_diff = 0;
  for (int64_t i = 0; i < 3 * H * W; i++)
    max_diff = fmax (max_diff, fabs (got[i] - want[i]));
  fprintf (stderr, "independent %lld-latent tiles (per-tile GroupNorm, no blend): max |diff| %.4f "
           "of range %.4f, border/mean step %.3f (untiled %.3f)\n", (long long) lt, max_diff,
           value_range (want, 3 * H * W), seam_ratio (got, 3, H, W, 8 * lt),
           seam_ratio (want, 3, H, W, 8 * lt));
  g_free (got);
  g_free (want);
}

static void
check_encode (sdcl_cl *cl, sdcl_vae *vae, int64_t h, int64_t w, int tile)
{
  sdcl_error err = { 0 };
  float *img = smooth_random (3 * h * w, 7);
  int64_t shape[4] = { 1, 3, h, w };
  sdcl_t x, moments;
  sdcl_t_from_host (cl, &x, 4, shape, img);
  CHECK_OK (sdcl_vae_encode (vae, &x, NULL, &moments, &err), err);
  float *want = download (cl, &moments);
  float *got = NULL;
  int64_t dims[3];
  CHECK_OK (sdcl_vae_encode_tiled (vae, img, h, w, tile, NULL, &got, dims, &err), err);
  CHECK (dims[0] == moments.d[1] && dims[1] == moments.d[2] && dims[2] == moments.d[3],
         "encode dims");
  char name[64];
  snprintf (name, sizeof name, "encode %lldx%lld tile %d", (long long) w, (long long) h, tile);
  CHECK_CLOSE (name, got, want, moments.n, RANGE_FRACTION * value_range (want, moments.n), 0.0);
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &moments);
  g_free (img);
  g_free (want);
  g_free (got);
}

/* Pool peak and time of a 512x512 decode, each on a fresh context so the
 * pool's peak is this decode's (weights are not pooled). */
static uint64_t
measure (const sdcl_model_files *mf, int tile)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_vae *vae = load_vae (cl, mf, SDCL_WT_F16);
  float *z = smooth_random (4 * 64 * 64, 3);
  sdcl_error err = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  float *img = NULL;
  if (tile)
    {
      int64_t dims[3];
      CHECK_OK (sdcl_vae_decode_tiled (vae, z, 64, 64, tile, NULL, &img, dims, &err), err);
    }
  else
    img = decode_untiled (cl, vae, z, 4, 64, 64);
  gint64 t1 = g_get_monotonic_time ();
  fprintf (stderr, "512x512 decode, tile %d: %.0f ms, device pool peak %.1f MB, estimated "
           "largest buffer %.1f MB\n", tile, (t1 - t0) / 1000.0,
           sdcl_cl_pool_peak_bytes (cl) / 1048576.0,
           sdcl_vae_largest_buffer (vae, 512, 512, tile) / 1048576.0);
  uint64_t peak = sdcl_cl_pool_peak_bytes (cl);
  g_free (img);
  g_free (z);
  sdcl_vae_free (vae);
  sdcl_cl_free (cl);
  return peak;
}

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_st_file *golden = fixture_golden ("golden/vae.safetensors");
  sdcl_model_files *folder = fixture_model ("models/tiny-sd");
  const char *names[2] = { "F32", "F16" };
  for (int p = 0; p < 2; p++)
    {
      sdcl_vae *vae = load_vae (cl, folder, p ? SDCL_WT_F16 : SDCL_WT_F32);
      const sdcl_st_tensor *t;
      float *za = golden_floats (golden, "a_z", &t);
      char what[64];
      snprintf (what, sizeof what, "%s golden a 64x64", names[p]);
      check_decode (cl, vae, what, za, 8, 8, 16);
      check_decode (cl, vae, what, za, 8, 8, 24);
      g_free (za);
      float *zb = golden_floats (golden, "b_z", &t);
      snprintf (what, sizeof what, "%s golden b 80x48", names[p]);
      check_decode (cl, vae, what, zb, 6, 10, 32);
      g_free (zb);

      float *zr = smooth_random (4 * 40 * 56, 11);
      snprintf (what, sizeof what, "%s random 448x320", names[p]);
      check_decode (cl, vae, what, zr, 40, 56, 96);
      if (p == 0)
        report_independent_tiles (cl, vae, zr, 40, 56, 12);
      g_free (zr);
      check_encode (cl, vae, 64, 96, 32);
      check_encode (cl, vae, 72, 40, 24);   /* not a multiple of the tile */
      sdcl_vae_free (vae);
    }
  uint64_t whole = measure (folder, 0), tiled = measure (folder, 128);
  CHECK (2 * tiled < whole, "128-pixel tiles should need well under half the device memory: "
         "%" G_GUINT64_FORMAT " vs %" G_GUINT64_FORMAT " bytes", tiled, whole);
  sdcl_model_files_close (folder);
  sdcl_st_close (golden);
  sdcl_cl_free (cl);
  return check_finish ();
}

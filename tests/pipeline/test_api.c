/* The public API's contract beyond numerics: argument checks with clear
 * messages, cancellation (callback and flag) leaving the context usable,
 * determinism per seed, device choice errors. */
#include <string.h>

#include "check.h"
#include "golden.h"
#include "sdcl.h"

static sdcl_gen_params
small_params (void)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.width = 32;
  p.height = 32;
  p.steps = 2;
  p.seed = 7;
  return p;
}

static void
expect_invalid (sdcl_model *m, sdcl_gen_params p, const char *needle)
{
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_ERR_INVALID_ARGUMENT, "expected invalid-argument for '%s', got %s (%s)",
         needle, sdcl_status_name (st), err.message);
  CHECK (strstr (err.message, needle) != NULL, "message '%s' should mention '%s'", err.message,
         needle);
  CHECK (img.data == NULL, "no image on error");
}

static void
test_argument_checks (sdcl_model *m)
{
  sdcl_gen_params p = small_params ();
  p.width = 50;
  expect_invalid (m, p, "multiple of 8");
  p = small_params ();
  p.height = -8;
  expect_invalid (m, p, "out of range");
  p = small_params ();
  p.steps = 0;
  expect_invalid (m, p, "steps");
  p.steps = 10000;
  expect_invalid (m, p, "steps");
  p = small_params ();
  p.guidance = NAN;
  expect_invalid (m, p, "guidance");
  p = small_params ();
  p.sampler = (sdcl_sampler) 99;
  expect_invalid (m, p, "sampler");
  p = small_params ();
  p.clip_skip = 50;
  expect_invalid (m, p, "clip_skip");
  p = small_params ();
  p.sampler = SDCL_SAMPLER_TCD; /* its eta is gamma, a fraction */
  p.eta = 1.5f;
  expect_invalid (m, p, "eta (gamma) must be 0..1 for the tcd sampler");
}

static int stop_at;

static bool
stop_progress (int step, int n, const sdcl_image *preview, void *user)
{
  return step < stop_at;
}

static void
test_cancel (sdcl_model *m)
{
  sdcl_gen_params p = small_params ();
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };

  p.progress = stop_progress;
  stop_at = 1;
  sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_ERR_CANCELLED, "callback cancel gave %s", sdcl_status_name (st));
  CHECK (strstr (err.message, "cancel") != NULL, "message: %s", err.message);
  CHECK (img.data == NULL, "no image after cancel");

  static volatile int flag = 1;
  p = small_params ();
  p.cancel = &flag;
  st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_ERR_CANCELLED, "flag cancel gave %s", sdcl_status_name (st));

  /* The context is usable again afterwards. */
  p = small_params ();
  st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_OK, "run after cancel: %s", err.message);
  sdcl_image_free (&img);
}

static float *
generate (sdcl_model *m, uint64_t seed, sdcl_rng rng, size_t *n)
{
  sdcl_gen_params p = small_params ();
  p.seed = seed;
  p.rng = rng;
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_OK, "generate: %s", err.message);
  *n = (size_t) img.width * img.height * img.channels;
  return img.data;
}

static void
test_determinism (sdcl_model *m)
{
  size_t n1, n2, n3, n4;
  float *a = generate (m, 11, SDCL_RNG_TORCH, &n1);
  float *b = generate (m, 11, SDCL_RNG_TORCH, &n2);
  float *c = generate (m, 12, SDCL_RNG_TORCH, &n3);
  float *d = generate (m, 11, SDCL_RNG_PHILOX, &n4);
  CHECK (a && b && c && d && n1 == n2 && n1 == n3 && n1 == n4, "sizes");
  if (a && b && c && d)
    {
      CHECK (memcmp (a, b, n1 * sizeof *a) == 0, "same seed, same image");
      CHECK (memcmp (a, c, n1 * sizeof *a) != 0, "another seed, another image");
      CHECK (memcmp (a, d, n1 * sizeof *a) != 0, "philox differs from torch noise");
    }
  g_free (a);
  g_free (b);
  g_free (c);
  g_free (d);
}

static void
test_load_errors (sdcl_ctx *ctx)
{
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_model_load (ctx, "/nonexistent/model.safetensors", NULL, &m, &err);
  CHECK (st != SDCL_OK && m == NULL, "missing model must fail");
  CHECK (strstr (err.message, "/nonexistent/model.safetensors") != NULL,
         "message names the path: %s", err.message);
}

static void
test_device_choice (void)
{
  sdcl_ctx_params cp = sdcl_ctx_default_params ();
  cp.device = "no such device anywhere";
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_ctx_new (&cp, &ctx, &err);
  CHECK (st == SDCL_ERR_NO_DEVICE && ctx == NULL, "unknown device gave %s",
         sdcl_status_name (st));
  CHECK (strstr (err.message, "no such device anywhere") != NULL, "message: %s", err.message);
}

static void
test_sampler_names (void)
{
  for (int s = 0; s < SDCL_SAMPLER_COUNT; s++)
    {
      sdcl_sampler back;
      const char *name = sdcl_sampler_name ((sdcl_sampler) s);
      CHECK (name && sdcl_sampler_from_name (name, &back) && back == (sdcl_sampler) s,
             "sampler %d name round trip", s);
    }
  sdcl_sampler x;
  CHECK (!sdcl_sampler_from_name ("plms-ultra", &x), "unknown name refused");
}

int
main (void)
{
  test_sampler_names ();
  test_device_choice ();

  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no OpenCL device: %s\n", err.message);
      return 77;
    }
  test_load_errors (ctx);

  g_autofree char *path = fixture_path ("models/tiny-sd");
  sdcl_model *m = NULL;
  if (sdcl_model_load (ctx, path, NULL, &m, &err) != SDCL_OK)
    {
      fprintf (stderr, "loading %s: %s\n", path, err.message);
      return 1;
    }
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  CHECK (info.family == SDCL_FAMILY_SD1 && info.vae_scale_factor == 8 && info.latent_channels == 4,
         "tiny model info: family %d, f %d", info.family, info.vae_scale_factor);
  CHECK (info.native_resolution == 64, "native %d", info.native_resolution);

  test_argument_checks (m);
  test_cancel (m);
  test_determinism (m);

  sdcl_model_free (m);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

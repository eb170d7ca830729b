/* Full text-to-image runs against diffusers' StableDiffusionPipeline on the
 * tiny model (tests/reference/fixtures/golden/pipeline_*.safetensors): 4
 * steps with classifier-free guidance for every sampler, noise from the
 * torch-compatible generator with the golden's seed; and once with tiling
 * (seamless textures) against the same pipeline whose padded convolutions
 * all pad circularly (pipeline_euler_tiling).
 *
 * Tolerance: with F32 weights every op matches PyTorch to ~1e-5 relative;
 * four guided steps (g = 7.5 amplifies the cond/uncond difference) and the
 * decoder leave the [0, 1] image within 2e-3 absolute.  The single file with
 * F16 (UNet, CLIP) and BF16 (VAE) weights, kept in F16 on the device, is
 * compared with diffusers running those same rounded weights in float32
 * (pipeline_*_f16w), so the same 2e-3 holds: storage is exact and all
 * arithmetic is fp32.  Likewise --precision q8 (int8 weights with a scale
 * per output channel) against diffusers on the same quantized weights
 * widened to float32 (pipeline_euler_q8w, tests/reference/q8_fixtures.py);
 * what the quantization changes against F32 is test_q8.c's subject.
 *
 *   test_txt2img                 every golden, cancels, tiling state
 *   test_txt2img --only A,B,...  the named goldens only (e.g. euler,
 *                                euler_f16w): the kernels are the same for
 *                                every sampler (all goldens are 48x64 with
 *                                guidance), so another kernel set needs
 *                                one golden per weight type and padding
 *                                mode, not every sampler again
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "check.h"
#include "golden.h"
#include "rng.h"
#include "pipeline_internal.h"
#include "sdcl.h"

typedef struct {
  const char *golden;
  sdcl_sampler sampler;
  bool karras;
  sdcl_schedule schedule;
  bool tiling;   /* golden made with every padded Conv2d circular */
} sampler_case;

static const sampler_case cases[] = {
  { "ddim", SDCL_SAMPLER_DDIM, false, SDCL_SCHEDULE_DEFAULT, false },
  { "euler", SDCL_SAMPLER_EULER, false, SDCL_SCHEDULE_DEFAULT, false },
  { "euler_a", SDCL_SAMPLER_EULER_A, false, SDCL_SCHEDULE_DEFAULT, false },
  { "dpmpp_2m", SDCL_SAMPLER_DPMPP_2M, false, SDCL_SCHEDULE_DEFAULT, false },
  { "dpmpp_2m_karras", SDCL_SAMPLER_DPMPP_2M, true, SDCL_SCHEDULE_DEFAULT, false },
  { "lcm", SDCL_SAMPLER_LCM, false, SDCL_SCHEDULE_DEFAULT, false },
  { "ddpm", SDCL_SAMPLER_DDPM, false, SDCL_SCHEDULE_DEFAULT, false },
  { "euler_exponential", SDCL_SAMPLER_EULER, false, SDCL_SCHEDULE_EXPONENTIAL, false },
  { "dpmpp_2m_exponential", SDCL_SAMPLER_DPMPP_2M, false, SDCL_SCHEDULE_EXPONENTIAL, false },
  { "ddim_trailing", SDCL_SAMPLER_DDIM, false, SDCL_SCHEDULE_TRAILING, false },
  { "dpmpp_2m_sde", SDCL_SAMPLER_DPMPP_2M_SDE, false, SDCL_SCHEDULE_DEFAULT, false },
  { "dpmpp_2m_sde_karras", SDCL_SAMPLER_DPMPP_2M_SDE, true, SDCL_SCHEDULE_DEFAULT, false },
  { "lms", SDCL_SAMPLER_LMS, false, SDCL_SCHEDULE_DEFAULT, false },
  { "heun", SDCL_SAMPLER_HEUN, false, SDCL_SCHEDULE_DEFAULT, false },
  { "pndm", SDCL_SAMPLER_PNDM, false, SDCL_SCHEDULE_DEFAULT, false },
  { "dpm2", SDCL_SAMPLER_DPM2, false, SDCL_SCHEDULE_DEFAULT, false },
  { "dpm2_a", SDCL_SAMPLER_DPM2_A, false, SDCL_SCHEDULE_DEFAULT, false },
  { "tcd", SDCL_SAMPLER_TCD, false, SDCL_SCHEDULE_DEFAULT, false },
  { "euler_ays", SDCL_SAMPLER_EULER, false, SDCL_SCHEDULE_AYS, false },
  { "dpmpp_2s_a", SDCL_SAMPLER_DPMPP_2S_A, false, SDCL_SCHEDULE_DEFAULT, false },
  { "dpmpp_sde", SDCL_SAMPLER_DPMPP_SDE, false, SDCL_SCHEDULE_DEFAULT, false },
  { "unipc", SDCL_SAMPLER_UNIPC, false, SDCL_SCHEDULE_DEFAULT, false },
  { "deis", SDCL_SAMPLER_DEIS, false, SDCL_SCHEDULE_DEFAULT, false },
  /* "_prk": tiny-sd's config skips the warm-up, as SD 1.5's; this golden ran
   * PNDMScheduler.from_config(..., skip_prk_steps=False): 4 steps, 13 evaluations */
  { "pndm_prk", SDCL_SAMPLER_PNDM, false, SDCL_SCHEDULE_DEFAULT, false },
  { "euler_tiling", SDCL_SAMPLER_EULER, false, SDCL_SCHEDULE_DEFAULT, true },
};

static const sampler_case f16_cases[] = {
  { "euler_f16w", SDCL_SAMPLER_EULER, false, SDCL_SCHEDULE_DEFAULT, false },
  { "euler_a_f16w", SDCL_SAMPLER_EULER_A, false, SDCL_SCHEDULE_DEFAULT, false },
};

static const sampler_case q8_case = { "euler_q8w", SDCL_SAMPLER_EULER, false,
                                      SDCL_SCHEDULE_DEFAULT, false };

typedef struct {
  char *prompt, *negative;
  int steps, width, height;
  double guidance, eta;
  gint64 seed;
  gint64 draws_after_init;       /* the sampler's own noise draws */
  int evals;                     /* model evaluations (timesteps), = steps but for Heun-type */
} golden_settings;

static void
read_settings (const char *name, golden_settings *s)
{
  g_autofree char *rel = g_strdup_printf ("golden/pipeline_%s.json", name);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = load_fixture_json (parser, rel);
  s->prompt = g_strdup (json_object_get_string_member (o, "prompt"));
  s->negative = g_strdup (json_object_get_string_member (o, "negative_prompt"));
  s->steps = (int) json_object_get_int_member (o, "steps");
  s->width = (int) json_object_get_int_member (o, "width");
  s->height = (int) json_object_get_int_member (o, "height");
  s->guidance = json_object_get_double_member (o, "guidance_scale");
  s->eta = json_object_get_double_member (o, "eta");
  s->seed = json_object_get_int_member (o, "seed");
  s->draws_after_init = json_object_get_int_member (o, "noise_draws_after_init");
  s->evals = (int) json_array_get_length (json_object_get_array_member (o, "timesteps"));
}

static sdcl_model *
load (sdcl_ctx *ctx, const char *rel, sdcl_weight_precision prec)
{
  g_autofree char *path = fixture_path (rel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = prec;
  return fixture_model_load (ctx, path, &mp);
}

static int progress_calls;

static bool
count_progress (int step, int n, const sdcl_image *preview, void *user)
{
  progress_calls++;
  CHECK (step == progress_calls && n == *(int *) user, "progress %d/%d", step, n);
  CHECK (preview && preview->data && preview->channels == 3, "preview image expected");
  return true;
}

static void
run_case (sdcl_model *m, const sampler_case *c, double atol, bool check_noise)
{
  golden_settings s = { 0 };
  read_settings (c->golden, &s);
  g_autofree char *rel = g_strdup_printf ("golden/pipeline_%s.safetensors", c->golden);
  sdcl_st_file *g = golden_open (rel);
  int64_t n_img = 0, n_noise = 0;
  float *want = golden_tensor (g, "image", &n_img);
  float *noise = golden_tensor (g, "init_noise", &n_noise);

  if (check_noise)
    {
      /* The pipeline's first draw is the initial noise. */
      sdcl_randn rng;
      float *mine = g_new (float, n_noise);
      sdcl_randn_init (&rng, SDCL_RNG_TORCH, (uint64_t) s.seed);
      sdcl_randn_fill (&rng, mine, n_noise);
      CHECK_CLOSE ("initial noise", mine, noise, n_noise, 0.0, 1e-6);
      g_free (mine);
    }

  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = s.prompt;
  p.negative_prompt = s.negative;
  p.steps = s.steps;
  p.width = s.width;
  p.height = s.height;
  p.guidance = (float) s.guidance;
  p.eta = (float) s.eta;
  p.seed = (uint64_t) s.seed;
  p.sampler = c->sampler;
  p.karras_sigmas = c->karras;
  p.schedule = c->schedule;
  p.tiling = c->tiling;
  p.progress = count_progress;
  p.user_data = &s.evals; /* progress counts model evaluations */
  p.preview = true;
  progress_calls = 0;

  bool skip_prk = m->files->sched.skip_prk_steps;
  if (strstr (c->golden, "_prk"))
    m->files->sched.skip_prk_steps = false;
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_OK, "%s: %s", c->golden, err.message);
  if (st == SDCL_OK)
    {
      CHECK (img.width == s.width && img.height == s.height && img.channels == 3,
             "%s: image %dx%dx%d", c->golden, img.width, img.height, img.channels);
      CHECK (progress_calls == s.evals, "%d progress calls, %d evaluations", progress_calls,
             s.evals);
      g_autofree char *what = g_strdup_printf ("%s image", c->golden);
      if ((int64_t) img.width * img.height * 3 == n_img)
        CHECK_CLOSE (what, img.data, want, n_img, atol, 0.0);
    }
  sdcl_image_free (&img);

  /* Injected noise replaces the first draw: same image for samplers whose
   * later steps draw nothing. */
  if (check_noise && s.draws_after_init == 0)
    {
      p.initial_noise = noise;
      p.progress = NULL;
      st = sdcl_txt2img (m, &p, &img, &err);
      CHECK (st == SDCL_OK, "%s with injected noise: %s", c->golden, err.message);
      if (st == SDCL_OK)
        CHECK_CLOSE ("image from injected noise", img.data, want, n_img, atol, 0.0);
      sdcl_image_free (&img);
    }

  m->files->sched.skip_prk_steps = skip_prk;
  g_free (want);
  g_free (noise);
  sdcl_st_close (g);
  g_free (s.prompt);
  g_free (s.negative);
}

static bool
stop_at_first (int step, int n, const sdcl_image *preview, void *user)
{
  (void) preview;
  *(int *) user = n;
  progress_calls++;
  return step < 1;
}

/* Every two-evaluation sampler counts evaluations in its progress (2·3 − 1
 * for 3 steps) and stops after the one in which it is cancelled, half-way
 * through a step. */
static void
test_cancel_mid_step (sdcl_model *m)
{
  int two_eval_samplers = 0;
  for (int k = 0; k < sdcl_sampler_count (); k++)
    {
      if (sdcl_sampler_evals_per_step ((sdcl_sampler) k) != 2)
        continue;
      two_eval_samplers++;
      const char *name = sdcl_sampler_name ((sdcl_sampler) k);
      sdcl_gen_params p = sdcl_gen_default_params ();
      int total = 0;
      p.prompt = "a red circle";
      p.width = 48;
      p.height = 64;
      p.steps = 3;
      p.sampler = (sdcl_sampler) k;
      p.karras_sigmas = false;
      p.progress = stop_at_first;
      p.user_data = &total;
      progress_calls = 0;
      sdcl_image img = { 0 };
      sdcl_error err = { 0 };
      sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
      CHECK (st == SDCL_ERR_CANCELLED, "%s cancel: status %d (%s)", name, (int) st, err.message);
      CHECK (progress_calls == 1 && total == 5, "%s cancel: %d calls of %d evaluations", name,
             progress_calls, total);
      sdcl_image_free (&img);
    }
  CHECK (two_eval_samplers >= 3, "%d two-evaluation samplers (heun, dpm2, dpm2_a, ...)",
         two_eval_samplers);

  /* PNDM's Runge-Kutta warm-up: 4 steps are 13 evaluations, and a cancel in
   * the first Runge-Kutta step's first evaluation stops there */
  m->files->sched.skip_prk_steps = false;
  sdcl_gen_params p = sdcl_gen_default_params ();
  int total = 0;
  p.prompt = "a red circle";
  p.width = 48;
  p.height = 64;
  p.steps = 4;
  p.sampler = SDCL_SAMPLER_PNDM;
  p.progress = stop_at_first;
  p.user_data = &total;
  progress_calls = 0;
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_ERR_CANCELLED && progress_calls == 1 && total == 13,
         "pndm warm-up cancel: status %d, %d calls of %d evaluations", (int) st, progress_calls,
         total);
  sdcl_image_free (&img);
  m->files->sched.skip_prk_steps = true;
}

/* The padding mode is the run's own: a tiling run between two plain ones
 * leaves the second bit for bit the first (also after a failed tiling
 * run), and it does change the image. */
static void
tiling_does_not_leak (sdcl_model *m)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.steps = 2;
  p.width = 48;
  p.height = 32;
  p.seed = 3;
  sdcl_image a = { 0 }, b = { 0 }, c = { 0 };
  sdcl_error err = { 0 };
  CHECK (sdcl_txt2img (m, &p, &a, &err) == SDCL_OK, "plain run: %s", err.message);
  p.tiling = true;
  CHECK (sdcl_txt2img (m, &p, &b, &err) == SDCL_OK, "tiling run: %s", err.message);
  p.vae_tile = 64;
  sdcl_image bad = { 0 };
  CHECK (sdcl_txt2img (m, &p, &bad, &err) == SDCL_ERR_INVALID_ARGUMENT
             && strstr (err.message, "tiled VAE"),
         "tiling with vae_tile 64 gave %d: %s", err.code, err.message);
  p.tiling = false;
  p.vae_tile = 0;
  CHECK (sdcl_txt2img (m, &p, &c, &err) == SDCL_OK, "plain run again: %s", err.message);
  const size_t bytes = (size_t) a.width * a.height * a.channels * sizeof (float);
  if (a.data && b.data && c.data)
    {
      CHECK (memcmp (a.data, c.data, bytes) == 0, "a plain run after a tiling run differs");
      CHECK (memcmp (a.data, b.data, bytes) != 0, "tiling did not change the image");
    }
  sdcl_image_free (&a);
  sdcl_image_free (&b);
  sdcl_image_free (&c);
}

/* --only's list: is golden `name` in it (or is there no list)? */
static char **only;

static bool
selected (const sampler_case *c)
{
  return !only || g_strv_contains ((const char *const *) only, c->golden);
}

/* The --only names must all be goldens of the tables: a typo would
 * otherwise leave a variant testing nothing. */
static bool
parse_args (int argc, char **argv)
{
  if (argc == 1)
    return true;
  if (argc != 3 || strcmp (argv[1], "--only") != 0)
    {
      fprintf (stderr, "usage: %s [--only GOLDEN,...]\n", argv[0]);
      return false;
    }
  only = g_strsplit (argv[2], ",", -1);
  for (char **n = only; *n; n++)
    {
      bool known = strcmp (*n, q8_case.golden) == 0;
      for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
        known = known || strcmp (*n, cases[i].golden) == 0;
      for (size_t i = 0; i < G_N_ELEMENTS (f16_cases); i++)
        known = known || strcmp (*n, f16_cases[i].golden) == 0;
      if (!known)
        {
          fprintf (stderr, "--only: no golden named \"%s\"\n", *n);
          return false;
        }
    }
  return true;
}

int
main (int argc, char **argv)
{
  if (!parse_args (argc, argv))
    return 2;
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no OpenCL device: %s\n", err.message);
      return 77;
    }

  sdcl_model *m32 = load (ctx, "models/tiny-sd", SDCL_WEIGHTS_F32);
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    if (selected (&cases[i]))
      run_case (m32, &cases[i], 2e-3, true);
  /* Scheduler and pipeline state, the same on every kernel set. */
  if (!only)
    {
      test_cancel_mid_step (m32);
      tiling_does_not_leak (m32);
    }
  sdcl_model_free (m32);

  /* F16 weights and the single-file layout: one deterministic and one
   * ancestral sampler are enough to cover the path. */
  sdcl_model *m16 = load (ctx, "models/tiny-sd-ldm-f16.safetensors", SDCL_WEIGHTS_F16);
  for (size_t i = 0; i < G_N_ELEMENTS (f16_cases); i++)
    if (selected (&f16_cases[i]))
      run_case (m16, &f16_cases[i], 2e-3, false);
  sdcl_model_free (m16);

  sdcl_model *mq8 = load (ctx, "models/tiny-sd", SDCL_WEIGHTS_Q8);
  if (selected (&q8_case))
    run_case (mq8, &q8_case, 2e-3, false);
  sdcl_model_free (mq8);

  sdcl_ctx_free (ctx);
  g_strfreev (only);
  return check_finish ();
}

/* The schedulers against diffusers (golden/sampling.*, written by
 * tests/reference/gen_sampling.py): timesteps, sigmas, init_noise_sigma and
 * the training schedule for every sampler, spacing and step count; 4-step
 * trajectories (scale_model_input, step, x0 estimate) with torch-stream
 * noise; add_noise and img2img starts.
 *
 * Tolerances: both sides compute in float32 with the same operations, and
 * the training schedule and integer timesteps agree to the bit.  torch's
 * sqrt/log/exp (MKL on x86) are not correctly rounded, so sigmas may differ
 * by an ulp or two (rtol 3e-7) and step outputs by a few ulps, compounded
 * over four steps (atol 1e-6 + rtol 2e-6); Karras' and exponential
 * fractional timesteps come from a float32 log table and may differ by an
 * ulp of t (atol 1e-4).  The exponential and AYS schedules space
 * neighbouring sigmas up to 8x apart, where DPM++'s second-order term
 * multiplies those ulps, and AYS runs 10 steps: atol 5e-6 + rtol 1e-5 there
 * (a numpy float32 replica of the same steps is as far from diffusers; a
 * wrong coefficient misses by 1e-2 and more).  PNDM subtracts terms up to 13
 * in size to results near 0 (3 of their ulps: 2.9e-6, the same for the
 * numpy replica): the wide tolerance too.  DEIS's second-order
 * coefficients are differences of nearly equal terms built from numpy's
 * float32 logs, which are not correctly rounded either (1 ulp off in 6 of
 * the 45 logs of a 16-step run); diffusers' own DEIS given correctly
 * rounded logs moves by exactly what sdcl differs, up to 2.3e-5 over 16
 * steps (x0 2.7e-5): atol 4e-5 + rtol 1e-5 there (a wrong coefficient
 * misses by 1e-3 and more).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "check.h"
#include "sampling_fixture.h"
#include "sampler_table.h"
#include "scheduler.h"

#define SCHEDULE_RTOL 3e-7
#define KARRAS_TIMESTEP_ATOL 1e-4 /* ~1 float32 ulp at t = 1000: fractional Karras timesteps */
#define STEP_ATOL 1e-6
#define STEP_RTOL 2e-6
#define WIDE_STEP_ATOL 5e-6 /* exponential and AYS trajectories */
#define WIDE_STEP_RTOL 1e-5
#define LOG_STEP_ATOL 4e-5 /* DEIS: numpy's float32 logs */

static sdcl_sampler
sampler_of (JsonObject *e)
{
  sdcl_sampler kind = SDCL_SAMPLER_COUNT;
  const char *name = json_object_get_string_member (e, "sampler");
  if (!sdcl_sampler_from_name (name, &kind))
    {
      fprintf (stderr, "golden names an unknown sampler %s\n", name);
      exit (1);
    }
  return kind;
}

/* sdcl_sched_init from a golden entry; exits when it fails. */
static void
sched_from_entry (JsonObject *e, sdcl_sched *s)
{
  sdcl_sched_config cfg = sched_config_from_json (json_object_get_object_member (e, "config"));
  sdcl_error err = { 0 };
  int steps = (int) json_object_get_int_member (e, "steps");
  bool karras = json_object_get_boolean_member (e, "karras");
  sdcl_schedule schedule = karras ? SDCL_SCHEDULE_KARRAS : SDCL_SCHEDULE_DEFAULT;
  if (json_object_has_member (e, "schedule")
      && !sdcl_schedule_from_name (json_object_get_string_member (e, "schedule"), &schedule))
    {
      fprintf (stderr, "golden names an unknown schedule\n");
      exit (1);
    }
  if (sdcl_sched_init (s, sampler_of (e), &cfg, steps, schedule, &err) != SDCL_OK)
    {
      fprintf (stderr, "sdcl_sched_init failed: %s\n", err.message);
      exit (1);
    }
  if (json_object_has_member (e, "eta"))
    s->eta = (float) json_object_get_double_member (e, "eta");
}

/* ---- schedules ------------------------------------------------------------------ */

static void
check_schedule (const sampling_fixture *f, JsonObject *e)
{
  const char *prefix = json_object_get_string_member (e, "prefix");
  g_autofree char *what = NULL;
  sdcl_sched s;
  sched_from_entry (e, &s);

  int64_t n;
  g_autofree float *timesteps = sampling_tensor (f, prefix, "timesteps", &n);
  CHECK (s.n == n, "%s: %d timesteps, diffusers has %ld", prefix, s.n, (long) n);
  if (s.n == n)
    {
      what = g_strdup_printf ("%s timesteps", prefix);
      /* Integer timesteps must be exact; Euler's fractional ones are floats
       * of numpy doubles, exact too unless Karras interpolated them. */
      /* timesteps that follow sigmas through the log table: respaced
       * schedules, and DPM2's midpoints */
      bool respaced = s.schedule == SDCL_SCHEDULE_KARRAS || s.schedule == SDCL_SCHEDULE_EXPONENTIAL
                      || s.kind == SDCL_SAMPLER_DPM2 || s.kind == SDCL_SAMPLER_DPM2_A
                      || s.kind == SDCL_SAMPLER_DPMPP_2S_A || s.kind == SDCL_SAMPLER_DPMPP_SDE;
      /* VE samplers keep the fractional timesteps that follow respaced sigmas */
      bool fractional = sdcl_sampler_row_of (s.kind)->form == SDCL_LATENT_VE;
      double atol = respaced && fractional ? KARRAS_TIMESTEP_ATOL : 0.0;
      CHECK_CLOSE (what, s.timesteps, timesteps, n, atol, 0.0);
    }

  if (json_object_get_boolean_member (e, "has_sigmas"))
    {
      int64_t n_sigmas;
      g_autofree float *sigmas = sampling_tensor (f, prefix, "sigmas", &n_sigmas);
      CHECK (s.sigmas && n_sigmas == s.n + 1, "%s: sigma count", prefix);
      g_free (what);
      what = g_strdup_printf ("%s sigmas", prefix);
      if (s.sigmas && n_sigmas == s.n + 1)
        CHECK_CLOSE (what, s.sigmas, sigmas, n_sigmas, 0.0, SCHEDULE_RTOL);
    }
  else
    CHECK (s.sigmas == NULL, "%s: a VP sampler has sigmas", prefix);

  g_autofree float *ins = sampling_tensor (f, prefix, "init_noise_sigma", NULL);
  g_free (what);
  what = g_strdup_printf ("%s init_noise_sigma", prefix);
  CHECK_CLOSE (what, &s.init_noise_sigma, ins, 1, 0.0, SCHEDULE_RTOL);
  sdcl_sched_free (&s);
}

/* The training schedule, once per variant (it does not depend on N). */
static void
check_training_schedule (const sampling_fixture *f, JsonObject *e)
{
  g_autofree char *name = g_strdup_printf ("sched.%s.alphas_cumprod",
                                           json_object_get_string_member (e, "variant"));
  int64_t T;
  g_autofree float *want = sampling_tensor (f, name, NULL, &T);
  sdcl_sched s;
  sched_from_entry (e, &s);
  CHECK (s.T == T, "%s: T %d vs %ld", name, s.T, (long) T);
  if (s.T == T)
    CHECK_CLOSE (name, s.alphas_cumprod, want, T, 0.0, 0.0); /* bit-exact */
  sdcl_sched_free (&s);
}

static void
test_schedules (const sampling_fixture *f)
{
  JsonArray *entries = sampling_fixture_section (f, "schedules");
  const char *last_variant = "";
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *e = json_array_get_object_element (entries, i);
      check_schedule (f, e);
      const char *variant = json_object_get_string_member (e, "variant");
      if (strcmp (variant, last_variant) != 0)
        check_training_schedule (f, e);
      last_variant = variant;
    }
  CHECK (json_array_get_length (entries) >= 40, "only %u schedule goldens",
         json_array_get_length (entries));
}

/* ---- trajectories ------------------------------------------------------------ */

/* The trajectory being checked: 0 plain, 1 exponential, AYS or PNDM, 2 DEIS. */
static int wide_tolerance;

static int
tolerance_of (const sdcl_sched *s)
{
  if (s->kind == SDCL_SAMPLER_DEIS)
    return 2;
  return s->schedule == SDCL_SCHEDULE_EXPONENTIAL || s->schedule == SDCL_SCHEDULE_AYS
         || s->kind == SDCL_SAMPLER_PNDM;
}

static void
check_rows (const char *prefix, const char *label, int step, const float *got, const float *want,
            int64_t n)
{
  g_autofree char *what = g_strdup_printf ("%s step %d %s", prefix, step, label);
  static const double atol[] = { STEP_ATOL, WIDE_STEP_ATOL, LOG_STEP_ATOL };
  static const double rtol[] = { STEP_RTOL, WIDE_STEP_RTOL, WIDE_STEP_RTOL };
  CHECK_CLOSE (what, got, want, n, atol[wide_tolerance], rtol[wide_tolerance]);
}

static void
check_trajectory (const sampling_fixture *f, JsonObject *e, const float *model_out)
{
  const char *prefix = json_object_get_string_member (e, "prefix");
  int64_t numel, n_rows;
  g_autofree float *x_init = sampling_tensor (f, prefix, "x_init", &numel);
  g_autofree float *x_in = sampling_tensor (f, prefix, "x_in", &n_rows);
  g_autofree float *x_out = sampling_tensor (f, prefix, "x_out", NULL);
  g_autofree float *x0 = sampling_tensor (f, prefix, "x0", NULL);
  sdcl_sched s;
  sched_from_entry (e, &s);
  wide_tolerance = tolerance_of (&s);
  CHECK (n_rows == (int64_t) s.n * numel, "%s: golden holds %ld values", prefix, (long) n_rows);
  if (n_rows != (int64_t) s.n * numel)
    {
      sdcl_sched_free (&s);
      return;
    }

  /* As the pipeline: initial noise from the generator, times init_noise_sigma,
   * then the same generator feeds the samplers' noise. */
  g_autofree float *x = g_new (float, numel);
  g_autofree float *scaled = g_new (float, numel);
  g_autofree float *x0_est = g_new (float, numel);
  sdcl_randn rng;
  sdcl_randn_init (&rng, SDCL_RNG_TORCH, (uint64_t) json_object_get_int_member (e, "noise_seed"));
  sdcl_randn_fill (&rng, x, numel);
  for (int64_t i = 0; i < numel; i++)
    x[i] = x[i] * s.init_noise_sigma;
  check_rows (prefix, "initial latents", 0, x, x_init, numel);

  for (int k = 0; k < s.n; k++)
    {
      sdcl_sched_scale_input (&s, x, scaled, numel);
      check_rows (prefix, "scale_model_input", k, scaled, x_in + k * numel, numel);
      sdcl_sched_step (&s, model_out + k * numel, x, numel, &rng, x0_est);
      check_rows (prefix, "output", k, x, x_out + k * numel, numel);
      check_rows (prefix, "x0", k, x0_est, x0 + k * numel, numel);
    }
  wide_tolerance = 0;
  sdcl_sched_free (&s);
}

static void
test_trajectories (const sampling_fixture *f)
{
  g_autofree float *model_out = sampling_tensor (f, "traj.model_out", NULL, NULL);
  JsonArray *entries = sampling_fixture_section (f, "trajectories");
  for (guint i = 0; i < json_array_get_length (entries); i++)
    check_trajectory (f, json_array_get_object_element (entries, i), model_out);
  CHECK (json_array_get_length (entries) >= 12, "only %u trajectories",
         json_array_get_length (entries));
}

/* ---- add_noise and img2img ------------------------------------------------------ */

static void
test_add_noise (const sampling_fixture *f)
{
  int64_t numel;
  g_autofree float *x0 = sampling_tensor (f, "add_noise.x0", NULL, &numel);
  g_autofree float *noise = sampling_tensor (f, "add_noise.noise", NULL, NULL);
  g_autofree float *got = g_new (float, numel);
  JsonArray *entries = sampling_fixture_section (f, "add_noise");
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *e = json_array_get_object_element (entries, i);
      const char *name = json_object_get_string_member (e, "name");
      g_autofree float *want = sampling_tensor (f, name, NULL, NULL);
      sdcl_sched s;
      sched_from_entry (e, &s);
      sdcl_sched_add_noise (&s, x0, noise, (int) json_object_get_int_member (e, "index"), got,
                            numel);
      CHECK_CLOSE (name, got, want, numel, STEP_ATOL, STEP_RTOL);
      sdcl_sched_free (&s);
    }
}

static void
check_img2img (const sampling_fixture *f, JsonObject *e, const float *x0, const float *noise,
               const float *model_out, int64_t numel)
{
  const char *prefix = json_object_get_string_member (e, "prefix");
  int64_t n_values;
  g_autofree float *want = sampling_tensor (f, prefix, "steps", &n_values);
  sdcl_sched s;
  sched_from_entry (e, &s);
  int begin = (int) json_object_get_int_member (e, "begin_index");
  int runs = s.n - begin;
  CHECK (n_values == (int64_t) runs * 2 * numel, "%s: golden size", prefix);
  if (n_values != (int64_t) runs * 2 * numel)
    {
      sdcl_sched_free (&s);
      return;
    }
  g_autofree float *x = g_new (float, numel);
  g_autofree float *scaled = g_new (float, numel);
  sdcl_sched_set_begin_index (&s, begin);
  sdcl_sched_add_noise (&s, x0, noise, begin, x, numel);
  sdcl_randn rng;
  sdcl_randn_init (&rng, SDCL_RNG_TORCH, (uint64_t) json_object_get_int_member (e, "noise_seed"));
  for (int k = 0; k < runs; k++)
    {
      sdcl_sched_scale_input (&s, x, scaled, numel);
      check_rows (prefix, "scale_model_input", begin + k, scaled, want + (2 * k) * numel, numel);
      sdcl_sched_step (&s, model_out + k * numel, x, numel, &rng, NULL);
      check_rows (prefix, "output", begin + k, x, want + (2 * k + 1) * numel, numel);
    }
  sdcl_sched_free (&s);
}

static void
test_img2img (const sampling_fixture *f)
{
  int64_t numel;
  g_autofree float *x0 = sampling_tensor (f, "add_noise.x0", NULL, &numel);
  g_autofree float *noise = sampling_tensor (f, "add_noise.noise", NULL, NULL);
  g_autofree float *model_out = sampling_tensor (f, "traj.model_out", NULL, NULL);
  JsonArray *entries = sampling_fixture_section (f, "img2img");
  for (guint i = 0; i < json_array_get_length (entries); i++)
    check_img2img (f, json_array_get_object_element (entries, i), x0, noise, model_out, numel);
  CHECK (json_array_get_length (entries) >= 5, "only %u img2img goldens",
         json_array_get_length (entries));
}

int
main (void)
{
  sampling_fixture f;
  sampling_fixture_open (&f);
  test_schedules (&f);
  test_trajectories (&f);
  test_add_noise (&f);
  test_img2img (&f);
  sampling_fixture_close (&f);
  return check_finish ();
}

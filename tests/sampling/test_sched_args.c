/* sdcl_sched_init's documented limits and refusals, the sampler names, and
 * the small contracts of the other entry points (aliasing, begin index,
 * free after failure).  No fixtures needed.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "check.h"
#include "scheduler.h"

/* runwayml/stable-diffusion-v1-5's scheduler_config.json as the loader
 * reports it (no timestep_spacing key: ""). */
static sdcl_sched_config
sd15_config (void)
{
  sdcl_sched_config c;
  memset (&c, 0, sizeof c);
  c.num_train_timesteps = 1000;
  c.beta_start = 0.00085f;
  c.beta_end = 0.012f;
  strcpy (c.beta_schedule, "scaled_linear");
  c.prediction_type = SDCL_PREDICTION_EPSILON;
  c.steps_offset = 1;
  c.set_alpha_to_one = false;
  c.skip_prk_steps = true;
  return c;
}

static const sdcl_sampler all_samplers[] = {
  SDCL_SAMPLER_EULER, SDCL_SAMPLER_EULER_A, SDCL_SAMPLER_DDIM, SDCL_SAMPLER_DPMPP_2M,
  SDCL_SAMPLER_LCM, SDCL_SAMPLER_DDPM, SDCL_SAMPLER_DPMPP_2M_SDE, SDCL_SAMPLER_LMS,
  SDCL_SAMPLER_HEUN, SDCL_SAMPLER_PNDM, SDCL_SAMPLER_DPM2, SDCL_SAMPLER_DPM2_A,
  SDCL_SAMPLER_TCD, SDCL_SAMPLER_DPMPP_2S_A, SDCL_SAMPLER_DPMPP_SDE, SDCL_SAMPLER_UNIPC,
  SDCL_SAMPLER_DEIS,
};
G_STATIC_ASSERT (G_N_ELEMENTS (all_samplers) == SDCL_SAMPLER_COUNT);

#define PLAIN SDCL_SCHEDULE_DEFAULT
#define KARRAS SDCL_SCHEDULE_KARRAS

/* Expects sdcl_sched_init to fail with `code`; the struct must then be
 * safe to free. */
static void
expect_refused (sdcl_sampler kind, const sdcl_sched_config *cfg, int steps,
                sdcl_schedule schedule, sdcl_status code, const char *why)
{
  sdcl_sched s;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_sched_init (&s, kind, cfg, steps, schedule, &err);
  CHECK (st == code, "%s: status %d, expected %d", why, (int) st, (int) code);
  CHECK (err.code == st && err.message[0] != '\0', "%s: no error message", why);
  CHECK (s.timesteps == NULL && s.sigmas == NULL, "%s: arrays left behind", why);
  sdcl_sched_free (&s);
  /* err is optional */
  CHECK (sdcl_sched_init (&s, kind, cfg, steps, schedule, NULL) == code, "%s without err", why);
  sdcl_sched_free (&s);
}

static void
expect_accepted (sdcl_sampler kind, const sdcl_sched_config *cfg, int steps,
                 sdcl_schedule schedule, sdcl_sched *s, const char *why)
{
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_sched_init (s, kind, cfg, steps, schedule, &err);
  CHECK (st == SDCL_OK, "%s: refused: %s", why, err.message);
}

/* Steps: 1 .. num_train_timesteps for every sampler, and at most the 50
 * distillation steps for LCM. */
static void
test_step_bounds (void)
{
  sdcl_sched_config cfg = sd15_config ();
  for (size_t k = 0; k < G_N_ELEMENTS (all_samplers); k++)
    {
      sdcl_sampler kind = all_samplers[k];
      expect_refused (kind, &cfg, 0, PLAIN, SDCL_ERR_INVALID_ARGUMENT, "0 steps");
      expect_refused (kind, &cfg, -3, PLAIN, SDCL_ERR_INVALID_ARGUMENT, "-3 steps");
      expect_refused (kind, &cfg, 10000, PLAIN, SDCL_ERR_INVALID_ARGUMENT, "10000 steps");

      sdcl_sched s;
      expect_accepted (kind, &cfg, 1, PLAIN, &s, "1 step");
      CHECK (s.n == 1, "1 step gives n = %d", s.n);
      sdcl_sched_free (&s);
    }

  sdcl_sched s;
  expect_accepted (SDCL_SAMPLER_LCM, &cfg, 50, PLAIN, &s, "lcm 50 steps");
  sdcl_sched_free (&s);
  expect_refused (SDCL_SAMPLER_LCM, &cfg, 51, PLAIN, SDCL_ERR_INVALID_ARGUMENT, "lcm 51 steps");

  /* 1000 steps: "linspace" samplers cover 0..999 exactly... */
  expect_accepted (SDCL_SAMPLER_EULER, &cfg, 1000, PLAIN, &s, "euler 1000 steps");
  CHECK (s.n == 1000 && s.timesteps[0] == 999.0f && s.timesteps[999] == 0.0f,
         "euler 1000 steps: %g .. %g", s.timesteps[0], s.timesteps[999]);
  sdcl_sched_free (&s);
  /* ...but "leading" with steps_offset 1 would need timestep 1000. */
  expect_refused (SDCL_SAMPLER_DDIM, &cfg, 1000, PLAIN, SDCL_ERR_INVALID_ARGUMENT,
                  "ddim 1000 steps, leading + offset 1");
  expect_accepted (SDCL_SAMPLER_DDIM, &cfg, 999, PLAIN, &s, "ddim 999 steps");
  CHECK (s.timesteps[0] == 999.0f && s.timesteps[998] == 1.0f, "ddim 999 steps: %g .. %g",
         s.timesteps[0], s.timesteps[998]);
  sdcl_sched_free (&s);
}

/* Karras sigmas exist for Euler and DPM++ 2M only; asking for them with
 * another sampler is an error (the pipeline passes the option only where it
 * applies). */
static void
test_karras_rule (void)
{
  sdcl_sched_config cfg = sd15_config ();
  expect_refused (SDCL_SAMPLER_DDIM, &cfg, 20, KARRAS, SDCL_ERR_INVALID_ARGUMENT, "ddim karras");
  expect_refused (SDCL_SAMPLER_EULER_A, &cfg, 20, KARRAS, SDCL_ERR_INVALID_ARGUMENT,
                  "euler_a karras");
  expect_refused (SDCL_SAMPLER_LCM, &cfg, 4, KARRAS, SDCL_ERR_INVALID_ARGUMENT, "lcm karras");
  sdcl_sched s;
  expect_accepted (SDCL_SAMPLER_EULER, &cfg, 20, KARRAS, &s, "euler karras");
  CHECK (s.karras, "euler karras flag lost");
  sdcl_sched_free (&s);
  expect_accepted (SDCL_SAMPLER_DPMPP_2M, &cfg, 20, KARRAS, &s, "dpmpp_2m karras");
  sdcl_sched_free (&s);
}

static void
test_unsupported_configs (void)
{
  sdcl_sched_config cfg = sd15_config ();
  strcpy (cfg.timestep_spacing, "sideways");
  expect_refused (SDCL_SAMPLER_EULER, &cfg, 20, PLAIN, SDCL_ERR_UNSUPPORTED_MODEL,
                  "unknown spacing");
  cfg = sd15_config ();
  strcpy (cfg.beta_schedule, "sigmoid");
  expect_refused (SDCL_SAMPLER_DDIM, &cfg, 20, PLAIN, SDCL_ERR_UNSUPPORTED_MODEL,
                  "unknown beta schedule");
  cfg = sd15_config ();
  cfg.num_train_timesteps = 0;
  expect_refused (SDCL_SAMPLER_DDIM, &cfg, 20, PLAIN, SDCL_ERR_UNSUPPORTED_MODEL, "T = 0");
  cfg.num_train_timesteps = SDCL_TRAIN_STEPS_MAX + 1;
  expect_refused (SDCL_SAMPLER_DDIM, &cfg, 20, PLAIN, SDCL_ERR_UNSUPPORTED_MODEL, "T too large");
  cfg = sd15_config ();
  cfg.beta_end = 1.5f;
  expect_refused (SDCL_SAMPLER_DDIM, &cfg, 20, PLAIN, SDCL_ERR_UNSUPPORTED_MODEL, "beta > 1");
  cfg = sd15_config ();
  expect_refused (SDCL_SAMPLER_COUNT, &cfg, 20, PLAIN, SDCL_ERR_INVALID_ARGUMENT,
                  "sampler out of range");
  expect_refused ((sdcl_sampler) -1, &cfg, 20, PLAIN, SDCL_ERR_INVALID_ARGUMENT,
                  "negative sampler");
}

/* Absent spacing means the sampler's own default; LCM ignores spacing. */
static void
test_spacing_defaults (void)
{
  sdcl_sched_config cfg = sd15_config ();
  sdcl_sched s;
  expect_accepted (SDCL_SAMPLER_DDIM, &cfg, 50, PLAIN, &s, "ddim default spacing");
  CHECK (s.timesteps[0] == 981.0f && s.timesteps[49] == 1.0f, "ddim defaults to leading");
  sdcl_sched_free (&s);
  expect_accepted (SDCL_SAMPLER_EULER, &cfg, 50, PLAIN, &s, "euler default spacing");
  CHECK (s.timesteps[0] == 999.0f && s.timesteps[49] == 0.0f, "euler defaults to linspace");
  sdcl_sched_free (&s);

  const float lcm4[4] = { 999, 759, 499, 259 };
  const char *spacings[] = { "", "leading", "trailing", "linspace" };
  for (size_t k = 0; k < G_N_ELEMENTS (spacings); k++)
    {
      strcpy (cfg.timestep_spacing, spacings[k]);
      expect_accepted (SDCL_SAMPLER_LCM, &cfg, 4, PLAIN, &s, "lcm");
      CHECK (memcmp (s.timesteps, lcm4, sizeof lcm4) == 0, "lcm with spacing \"%s\"",
             spacings[k]);
      CHECK (s.eta == 0.0f && s.step_index == 0 && s.begin_index == 0, "initial state");
      sdcl_sched_free (&s);
    }
}

static void
test_names (void)
{
  for (int i = 0; i < SDCL_SAMPLER_COUNT; i++)
    {
      const char *name = sdcl_sampler_name ((sdcl_sampler) i);
      sdcl_sampler back = SDCL_SAMPLER_COUNT;
      CHECK (name && sdcl_sampler_from_name (name, &back) && back == (sdcl_sampler) i,
             "sampler %d does not round-trip through its name", i);
    }
  CHECK (strcmp (sdcl_sampler_name (SDCL_SAMPLER_DPMPP_2M), "dpmpp_2m") == 0, "dpmpp_2m name");
  CHECK (sdcl_sampler_name (SDCL_SAMPLER_COUNT) == NULL, "COUNT has a name");
  CHECK (sdcl_sampler_name ((sdcl_sampler) -1) == NULL, "-1 has a name");

  static const struct {
    const char *text;
    sdcl_sampler want;
  } aliases[] = {
    { "EULER", SDCL_SAMPLER_EULER },        { "Euler-A", SDCL_SAMPLER_EULER_A },
    { "euler a", SDCL_SAMPLER_EULER_A },    { "euler_ancestral", SDCL_SAMPLER_EULER_A },
    { "DDIM", SDCL_SAMPLER_DDIM },          { "dpm++2m", SDCL_SAMPLER_DPMPP_2M },
    { "DPM++ 2M", SDCL_SAMPLER_DPMPP_2M },  { "dpmpp-2m", SDCL_SAMPLER_DPMPP_2M },
    { "Lcm", SDCL_SAMPLER_LCM },
  };
  for (size_t k = 0; k < G_N_ELEMENTS (aliases); k++)
    {
      sdcl_sampler got = SDCL_SAMPLER_COUNT;
      CHECK (sdcl_sampler_from_name (aliases[k].text, &got) && got == aliases[k].want,
             "\"%s\" not read as %s", aliases[k].text, sdcl_sampler_name (aliases[k].want));
    }
  const char *unknown[] = { "", "heunn", "euler_aa", "ddim ", "dpmpp_9m",
                            "a sampler name far too long to be any sampler at all" };
  for (size_t k = 0; k < G_N_ELEMENTS (unknown); k++)
    {
      sdcl_sampler got = SDCL_SAMPLER_DDIM;
      CHECK (!sdcl_sampler_from_name (unknown[k], &got) && got == SDCL_SAMPLER_DDIM,
             "\"%s\" accepted", unknown[k]);
    }
  sdcl_sampler got;
  CHECK (!sdcl_sampler_from_name (NULL, &got), "NULL accepted");
}

/* scale_input and add_noise may work in place. */
static void
test_aliasing (void)
{
  enum { N = 37 };
  float x[N], copy[N], out[N], noise[N];
  for (int i = 0; i < N; i++)
    {
      x[i] = copy[i] = (float) (i - 18) * 0.25f;
      noise[i] = (float) ((i * 7) % 11 - 5) * 0.3f;
    }
  sdcl_sched_config cfg = sd15_config ();
  sdcl_sched s;
  expect_accepted (SDCL_SAMPLER_EULER, &cfg, 10, PLAIN, &s, "euler");
  sdcl_sched_scale_input (&s, x, out, N);
  sdcl_sched_scale_input (&s, x, x, N);
  CHECK (memcmp (x, out, sizeof x) == 0, "scale_input in place differs");
  CHECK (out[0] != copy[0], "euler scale_input did not scale");
  sdcl_sched_add_noise (&s, copy, noise, 3, out, N);
  memcpy (x, copy, sizeof x);
  sdcl_sched_add_noise (&s, x, noise, 3, x, N);
  CHECK (memcmp (x, out, sizeof x) == 0, "add_noise in place differs");
  sdcl_sched_free (&s);

  expect_accepted (SDCL_SAMPLER_DDIM, &cfg, 10, PLAIN, &s, "ddim");
  sdcl_sched_scale_input (&s, copy, out, N);
  CHECK (memcmp (copy, out, sizeof out) == 0, "ddim scale_input is not the identity");
  sdcl_sched_free (&s);
  sdcl_sched_free (NULL);
}

/* PNDM with skip_prk_steps false (diffusers' class default): three
 * Runge-Kutta steps of four evaluations from the top four levels, each at
 * its level, twice at the half level and at the next, then PLMS from the
 * fourth level on; fewer than 4 steps are refused, as diffusers cannot
 * build them. */
static void
test_pndm_warm_up (void)
{
  sdcl_sched_config cfg = sd15_config ();
  cfg.skip_prk_steps = false;
  expect_refused (SDCL_SAMPLER_PNDM, &cfg, 3, PLAIN, SDCL_ERR_INVALID_ARGUMENT, "pndm prk 3 steps");
  sdcl_error err = { 0 };
  sdcl_sched s;
  CHECK (sdcl_sched_init (&s, SDCL_SAMPLER_PNDM, &cfg, 1, PLAIN, &err) != SDCL_OK
           && strstr (err.message, "skip_prk_steps"), "pndm prk 1 step: %s", err.message);
  sdcl_sched_free (&s);
  /* leading spacing, offset 1: levels 751, 501, 251, 1; half 125 */
  static const float want[13] = { 751, 626, 626, 501, 501, 376, 376, 251, 251, 126, 126, 1, 1 };
  expect_accepted (SDCL_SAMPLER_PNDM, &cfg, 4, PLAIN, &s, "pndm prk 4 steps");
  CHECK (s.n == 13 && memcmp (s.timesteps, want, sizeof want) == 0, "pndm prk 4 steps: n = %d",
         s.n);
  sdcl_sched_free (&s);
  expect_accepted (SDCL_SAMPLER_PNDM, &cfg, 25, PLAIN, &s, "pndm prk 25 steps");
  CHECK (s.n == 34 && s.timesteps[12] == 841.0f && s.timesteps[33] == 1.0f,
         "pndm prk 25 steps: n = %d", s.n);
  sdcl_sched_free (&s);
  cfg.skip_prk_steps = true;
  expect_accepted (SDCL_SAMPLER_PNDM, &cfg, 25, PLAIN, &s, "pndm plms 25 steps");
  CHECK (s.n == 26, "pndm plms 25 steps: n = %d", s.n);
  sdcl_sched_free (&s);
}

/* DPM++ 2M keeps x0 history; a begin index restarts it (first-order step),
 * so a run from index k equals a fresh run that never saw steps before k. */
static void
test_begin_index_resets_history (void)
{
  enum { N = 16 };
  float x_a[N], x_b[N], model_out[N], scratch[N];
  for (int i = 0; i < N; i++)
    {
      x_a[i] = x_b[i] = (float) (i % 5) - 2.0f;
      model_out[i] = (float) (i % 3) * 0.5f - 0.4f;
    }
  sdcl_sched_config cfg = sd15_config ();
  sdcl_sched a, b;
  expect_accepted (SDCL_SAMPLER_DPMPP_2M, &cfg, 8, PLAIN, &a, "dpm a");
  expect_accepted (SDCL_SAMPLER_DPMPP_2M, &cfg, 8, PLAIN, &b, "dpm b");
  memcpy (scratch, x_a, sizeof scratch);
  sdcl_sched_step (&a, model_out, scratch, N, NULL, NULL); /* leaves history behind */
  sdcl_sched_set_begin_index (&a, 3);
  sdcl_sched_set_begin_index (&b, 3);
  CHECK (a.step_index == 3 && a.begin_index == 3 && a.prev_x0 == NULL, "begin index state");
  for (int k = 0; k < 3; k++)
    {
      sdcl_sched_step (&a, model_out, x_a, N, NULL, NULL);
      sdcl_sched_step (&b, model_out, x_b, N, NULL, NULL);
    }
  CHECK (memcmp (x_a, x_b, sizeof x_a) == 0, "history survived set_begin_index");
  CHECK (a.step_index == 6, "step index %d after 3 steps from 3", a.step_index);
  sdcl_sched_free (&a);
  sdcl_sched_free (&b);
}

/* The public listing the front ends build their menus from: one entry per
 * enum value, distinct names and labels, nothing past the end. */
static void
test_listing (void)
{
  CHECK (sdcl_sampler_count () == SDCL_SAMPLER_COUNT, "count %d", sdcl_sampler_count ());
  for (int i = 0; i < sdcl_sampler_count (); i++)
    {
      const char *label = sdcl_sampler_label ((sdcl_sampler) i);
      CHECK (label && label[0], "sampler %d has no label", i);
      CHECK (sdcl_sampler_evals_per_step ((sdcl_sampler) i) >= 1, "sampler %d evaluations", i);
      for (int j = 0; j < i && label; j++)
        {
          CHECK (strcmp (label, sdcl_sampler_label ((sdcl_sampler) j)) != 0, "label %s twice",
                 label);
          CHECK (strcmp (sdcl_sampler_name ((sdcl_sampler) i),
                         sdcl_sampler_name ((sdcl_sampler) j)) != 0, "name of %d twice", i);
        }
    }
  CHECK (strcmp (sdcl_sampler_label (SDCL_SAMPLER_DPMPP_2M), "DPM++ 2M") == 0, "dpmpp_2m label");
  CHECK (sdcl_sampler_label (SDCL_SAMPLER_COUNT) == NULL, "COUNT has a label");
  CHECK (sdcl_sampler_label ((sdcl_sampler) -1) == NULL, "-1 has a label");
  CHECK (sdcl_sampler_evals_per_step (SDCL_SAMPLER_COUNT) == 0, "COUNT has evaluations");
  /* Karras support as sdcl_sched_init enforces it (test_karras_rule). */
  CHECK (sdcl_sampler_has_karras (SDCL_SAMPLER_EULER), "euler karras");
  CHECK (sdcl_sampler_has_karras (SDCL_SAMPLER_DPMPP_2M), "dpmpp_2m karras");
  CHECK (!sdcl_sampler_has_karras (SDCL_SAMPLER_DDIM), "ddim karras");
  CHECK (!sdcl_sampler_has_karras (SDCL_SAMPLER_COUNT), "COUNT karras");
}

/* Every sampler takes exactly the schedules it lists; what they make. */
static void
test_schedules (void)
{
  sdcl_sched_config cfg = sd15_config ();
  sdcl_sched s;
  for (size_t k = 0; k < G_N_ELEMENTS (all_samplers); k++)
    for (int sc = 0; sc < SDCL_SCHEDULE_COUNT; sc++)
      {
        sdcl_sampler kind = all_samplers[k];
        g_autofree char *why = g_strdup_printf ("%s with %s", sdcl_sampler_name (kind),
                                                sdcl_schedule_name ((sdcl_schedule) sc));
        if (sdcl_sampler_has_schedule (kind, (sdcl_schedule) sc))
          {
            expect_accepted (kind, &cfg, 10, (sdcl_schedule) sc, &s, why);
            sdcl_sched_free (&s);
          }
        else
          expect_refused (kind, &cfg, 10, (sdcl_schedule) sc, SDCL_ERR_INVALID_ARGUMENT, why);
      }
  CHECK (!sdcl_sampler_has_schedule (SDCL_SAMPLER_EULER, SDCL_SCHEDULE_COUNT), "COUNT schedule");
  expect_refused (SDCL_SAMPLER_EULER, &cfg, 10, SDCL_SCHEDULE_COUNT, SDCL_ERR_INVALID_ARGUMENT,
                  "schedule COUNT");

  /* exponential: a constant ratio between neighbouring sigmas */
  expect_accepted (SDCL_SAMPLER_EULER, &cfg, 12, SDCL_SCHEDULE_EXPONENTIAL, &s, "exponential");
  double ratio = s.sigmas[1] / s.sigmas[0];
  for (int i = 1; i + 1 < s.n; i++)
    CHECK (fabs (s.sigmas[i + 1] / s.sigmas[i] - ratio) < 1e-5, "exponential ratio at %d", i);
  sdcl_sched_free (&s);

  /* AYS: the published SD 1.5 timesteps at 10 steps; 7 and 30 steps are
   * interpolated from them, from the same start to the same end */
  static const float ays[10] = { 999, 850, 736, 645, 545, 455, 343, 233, 124, 24 };
  expect_accepted (SDCL_SAMPLER_DDPM, &cfg, 10, SDCL_SCHEDULE_AYS, &s, "ays 10");
  CHECK (memcmp (s.timesteps, ays, sizeof ays) == 0, "ays 10 steps are not the table");
  sdcl_sched_free (&s);
  for (int n = 7; n <= 30; n += 23)
    {
      expect_accepted (SDCL_SAMPLER_DPMPP_2M, &cfg, n, SDCL_SCHEDULE_AYS, &s, "ays n");
      CHECK (s.timesteps[0] == 999.0f && s.timesteps[n - 1] == 24.0f, "ays %d: %g .. %g", n,
             s.timesteps[0], s.timesteps[n - 1]);
      for (int i = 1; i < n; i++)
        CHECK (s.timesteps[i] < s.timesteps[i - 1], "ays %d steps not decreasing at %d", n, i);
      sdcl_sched_free (&s);
    }
  /* more steps than the table's low end can tell apart */
  expect_refused (SDCL_SAMPLER_DDPM, &cfg, 500, SDCL_SCHEDULE_AYS, SDCL_ERR_INVALID_ARGUMENT,
                  "ays 500 steps");

  /* trailing is the spacing, whatever the model's config says */
  expect_accepted (SDCL_SAMPLER_DDIM, &cfg, 4, SDCL_SCHEDULE_TRAILING, &s, "trailing");
  CHECK (s.timesteps[0] == 999.0f && s.timesteps[3] == 249.0f, "trailing %g .. %g",
         s.timesteps[0], s.timesteps[3]);
  sdcl_sched_free (&s);

  static const struct {
    const char *text;
    sdcl_schedule want;
  } names[] = {
    { "karras", SDCL_SCHEDULE_KARRAS }, { "Exponential", SDCL_SCHEDULE_EXPONENTIAL },
    { "sgm_uniform", SDCL_SCHEDULE_TRAILING }, { "align-your-steps", SDCL_SCHEDULE_AYS },
    { "default", SDCL_SCHEDULE_DEFAULT },
  };
  for (size_t k = 0; k < G_N_ELEMENTS (names); k++)
    {
      sdcl_schedule got = SDCL_SCHEDULE_COUNT;
      CHECK (sdcl_schedule_from_name (names[k].text, &got) && got == names[k].want,
             "schedule \"%s\"", names[k].text);
    }
  sdcl_schedule unused;
  CHECK (!sdcl_schedule_from_name ("beta", &unused) && !sdcl_schedule_from_name ("", &unused),
         "unknown schedule names accepted");
  CHECK (sdcl_schedule_name (SDCL_SCHEDULE_COUNT) == NULL, "COUNT has a name");
  /* Front ends list the schedules from these: every one has a name that
   * parses back to it and a label. */
  CHECK (sdcl_schedule_count () == SDCL_SCHEDULE_COUNT, "schedule count");
  for (int i = 0; i < sdcl_schedule_count (); i++)
    {
      sdcl_schedule back = SDCL_SCHEDULE_COUNT;
      CHECK (sdcl_schedule_label ((sdcl_schedule) i) && sdcl_schedule_label ((sdcl_schedule) i)[0]
               && sdcl_schedule_from_name (sdcl_schedule_name ((sdcl_schedule) i), &back)
               && back == (sdcl_schedule) i,
             "schedule %d listed with a label and a name that parses back", i);
    }
  CHECK (sdcl_schedule_label (SDCL_SCHEDULE_COUNT) == NULL, "COUNT has a label");
}

int
main (void)
{
  test_step_bounds ();
  test_karras_rule ();
  test_unsupported_configs ();
  test_spacing_defaults ();
  test_names ();
  test_listing ();
  test_schedules ();
  test_aliasing ();
  test_begin_index_resets_history ();
  test_pndm_warm_up ();
  return check_finish ();
}

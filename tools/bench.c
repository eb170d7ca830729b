/* sdcl-bench — per-phase timings of a checkpoint on one OpenCL device.
 *
 *   sdcl-bench --model M [--width 512] [--height 512] [--steps 1] [--device D]
 *              [--precision f16|f32|q8] [--encode] [--no-startup] [--txt2img]
 *              [--residency lean|stream|resident] [--json] [--lora FILE[:W]]...
 *   sdcl-bench --kernels [--device D]
 *
 * Measures, in one process: model load, the CLIP text encoder, one UNet
 * evaluation at batch 1 and one CFG step (the pipeline's batch-2
 * evaluation, with the context's cross-attention keys and values kept
 * from the warm-up as the pipeline keeps them from its first step), each
 * after a warm-up run so kernel builds are not counted, then one cold
 * VAE decode (and encode with --encode: their own kernel builds and
 * Winograd weight transforms included, as in a one-image run); achieved
 * GFLOP/s per phase from FLOPs counted over the model's config (flops.c);
 * peak host RSS (VmHWM) and peak device bytes (weights + the activation
 * pool's peak).
 * Then, unless --no-startup, it starts itself twice as a child with an
 * empty temporary SDCL_CACHE_DIR and POCL_CACHE_DIR (cold, then warm
 * program caches) and reports the time from process start to the first
 * denoising step and to its end (a 64x64-pixel step, so that kernel builds
 * and loading dominate), the model loaded with --residency (default lean,
 * as the CLI: the text encoder and the UNet are then uploaded on the way to
 * the first step).  Memory per phase: the activation pool's peak and the
 * process's peak RSS during the phase (VmHWM, reset through
 * /proc/self/clear_refs), with every network resident.  --txt2img also
 * runs sdcl_txt2img at the chosen size (--steps steps, CFG) in a fresh
 * child process with --residency and reports its load time, run time and
 * peak RSS: what a CLI run costs.  --lora (repeatable) applies LoRAs
 * after the load and times that (reading the files, building the side
 * paths on the host); their upload happens in the warm-up runs, and the
 * timed phases then include the side paths: compare with a run without.
 * Table on stdout, or JSON with --json.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli_options.h"
#include "flops.h"
#include "lora_apply.h"
#include "kernel_report.h"
#include "ops.h"
#include "pipeline_internal.h"

static gint64 t_process;

static double
now (void)
{
  return (double) (g_get_monotonic_time () - t_process) / 1e6;
}

/* CPU seconds of this process (all threads, user + system).  The cores
 * may be shared with other work: on an idle machine a phase's wall time is
 * about its CPU time divided by the cores the device uses, so CPU time is
 * the steadier figure when comparing under load. */
static double
cpu_now (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec
         + ru.ru_stime.tv_usec / 1e6;
}

static void
die (const char *what, const sdcl_error *err)
{
  fprintf (stderr, "sdcl-bench: %s: %s (%s)\n", what, err->message, sdcl_status_name (err->code));
  exit (1);
}

/* VmHWM / VmRSS of this process in bytes (0 when unknown). */
static uint64_t
proc_status_kb (const char *key)
{
  char *text = NULL;
  uint64_t kb = 0;
  if (!g_file_get_contents ("/proc/self/status", &text, NULL, NULL))
    return 0;
  const char *p = strstr (text, key);
  if (p)
    kb = g_ascii_strtoull (p + strlen (key) + 1, NULL, 10);
  g_free (text);
  return kb * 1024;
}

static void
random_tensor (sdcl_cl *cl, sdcl_t *t, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
               GRand *rng)
{
  sdcl_t_alloc (cl, t, nd, d0, d1, d2, d3);
  float *h = g_new (float, t->n);
  for (int64_t i = 0; i < t->n; i++)
    h[i] = (float) g_rand_double_range (rng, -1.0, 1.0);
  sdcl_t_upload (cl, t, h);
  g_free (h);
}

typedef struct {
  const char *name;
  double seconds, cpu_seconds, gflop;
  uint64_t pool_peak, rss_peak;   /* during the phase */
} phase;

enum { MAX_PHASES = 16 };
static phase phases[MAX_PHASES];
static int n_phases;

/* Starts a phase's memory figures: the pool's peak and the process's
 * VmHWM restart from what is allocated / resident now. */
static void
mem_mark (sdcl_cl *cl)
{
  sdcl_cl_pool_reset_peak (cl);
  g_file_set_contents ("/proc/self/clear_refs", "5", 1, NULL);   /* 5: reset VmHWM */
}

static void
add_phase (sdcl_cl *cl, const char *name, double seconds, double cpu_seconds, double gflop)
{
  phases[n_phases++] = (phase) { name, seconds, cpu_seconds, gflop, sdcl_cl_pool_peak_bytes (cl),
                                 proc_status_kb ("VmHWM:") };
}

static sdcl_residency
parse_residency (const char *name)
{
  if (!name || strcmp (name, "lean") == 0)
    return SDCL_RESIDENCY_LEAN;
  if (strcmp (name, "resident") == 0)
    return SDCL_RESIDENCY_RESIDENT;
  if (strcmp (name, "stream") == 0)
    return SDCL_RESIDENCY_STREAM;
  fprintf (stderr, "sdcl-bench: --residency is lean, stream or resident\n");
  exit (2);
}

/* The --lora list made the model's, timed as a phase of its own. */
static void
apply_loras (sdcl_model *m, char **specs)
{
  g_autofree char *joined = g_strjoinv ("\n", specs);
  sdcl_lora *list = NULL;
  int n = 0;
  sdcl_error err = { 0 };
  if (sdcl_lora_list_parse (joined, &list, &n, &err) != SDCL_OK)
    die ("--lora", &err);
  const double t0 = now (), c0 = cpu_now ();
  if (sdcl_model_apply_loras (m, list, n, &err) != SDCL_OK)
    die ("LoRA", &err);
  add_phase (m->ctx->cl, "LoRA apply (read files, build side paths)", now () - t0,
             cpu_now () - c0, 0.0);
  free (list);
}

/* ---- conditioning ------------------------------------------------------------ */

#define BENCH_PROMPT "a photograph of an astronaut riding a horse"

/* The prompt (batch 1) as the model's family conditions its UNet: one
 * tower's states for SD 1.x/2.x; for SDXL both towers side by side, bigG's
 * pooled vector and the size ids.  The text networks must be acquired. */
static void
encode_prompt (sdcl_model *m, int w, int h, sdcl_conditioning *c)
{
  const sdcl_prompt_request req = { .prompt = BENCH_PROMPT, .cfg = false, .syntax = SDCL_PROMPT_A1111,
                                    .width = w, .height = h };
  sdcl_error err = { 0 };
  if (m->family->encode_prompt (m, &req, c, &err) != SDCL_OK)
    die ("text encoder", &err);
}

/* `batch` copies of the conditioning: the states into *ctxt (allocated
 * here), the pooled vectors and size ids handed to the UNet. */
static void
batch_context (sdcl_model *m, const sdcl_conditioning *c, int batch, sdcl_t *ctxt)
{
  sdcl_cl *cl = m->ctx->cl;
  sdcl_t_alloc (cl, ctxt, 3, batch, c->n_tokens, c->states.d[2], 0);
  for (int b = 0; b < batch; b++)
    op_copy (cl, &c->states, 0, ctxt, b * c->states.n, c->states.n);
  if (!c->pooled)
    return;
  float *pooled = g_new (float, (size_t) batch * c->pooled_dim);
  float *ids = g_new (float, (size_t) batch * c->n_time_ids);
  for (int b = 0; b < batch; b++)
    {
      memcpy (pooled + b * c->pooled_dim, c->pooled, sizeof (float) * c->pooled_dim);
      memcpy (ids + b * c->n_time_ids, c->time_ids, sizeof (float) * c->n_time_ids);
    }
  sdcl_unet_set_text_time (m->unet, pooled, ids, batch);
  g_free (pooled);
  g_free (ids);
}

/* ---- the startup child ---------------------------------------------------- */

typedef struct {
  double load, text, step_begin, step_end;
} startup_times;

/* After the model load (t_loaded seconds after process start): the text
 * encoder, then one w x h UNet evaluation, the first denoising step. */
static startup_times
run_startup (sdcl_model *m, double t_loaded, int w, int h)
{
  startup_times s = { .load = t_loaded };
  sdcl_error err = { 0 };
  sdcl_cl *cl = m->ctx->cl;
  sdcl_conditioning cond = { 0 };
  sdcl_t ctxt = { 0 }, x = { 0 }, eps = { 0 };
  /* The pipeline's phases: a lean model uploads each network here. */
  if (sdcl_model_acquire (m, SDCL_NET_CLIP, &err) != SDCL_OK)
    die ("text encoder", &err);
  encode_prompt (m, w, h, &cond);
  sdcl_cl_finish (cl);
  sdcl_model_phase_done (m, SDCL_NET_CLIP);
  if (sdcl_model_acquire (m, SDCL_NET_UNET, &err) != SDCL_OK)
    die ("UNet upload", &err);
  s.text = now ();
  batch_context (m, &cond, 1, &ctxt);
  GRand *rng = g_rand_new_with_seed (1);
  const int f = 1 << (m->files->vae.n_levels - 1);
  random_tensor (cl, &x, 4, 1, m->files->unet.in_channels, h / f, w / f, rng);
  g_rand_free (rng);
  const float t = 999.0f;
  s.step_begin = now ();
  if (sdcl_unet_forward (m->unet, &x, &t, &ctxt, NULL, &eps, &err) != SDCL_OK)
    die ("UNet", &err);
  sdcl_cl_finish (cl);
  s.step_end = now ();
  sdcl_t_release (cl, &eps);
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &ctxt);
  sdcl_conditioning_clear (cl, &cond);
  sdcl_model_phase_done (m, SDCL_NET_UNET);
  return s;
}

/* A whole text-to-image run through the public API (the txt2img child):
 * load, generate, and the process's peak RSS. */
static void
run_txt2img_child (sdcl_ctx *ctx, const char *model, const sdcl_model_params *mp, int w, int h,
                   int steps)
{
  sdcl_error err = { 0 };
  sdcl_model *m = NULL;
  const double t0 = now ();
  if (sdcl_model_load (ctx, model, mp, &m, &err) != SDCL_OK)
    die ("model", &err);
  const double t_load = now () - t0;
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = BENCH_PROMPT;
  p.width = w;
  p.height = h;
  p.steps = steps;
  p.seed = 1;
  sdcl_image img = { 0 };
  const double t1 = now ();
  if (sdcl_txt2img (m, &p, &img, &err) != SDCL_OK)
    die ("txt2img", &err);
  const double t_run = now () - t1;
  sdcl_image_free (&img);
  printf ("txt2img %.3f %.3f %" PRIu64 "\n", t_load, t_run, proc_status_kb ("VmHWM:"));
  sdcl_model_free (m);
}

/* Runs this program as a startup child with the given cache directory;
 * fills *s from its one-line answer. */
/* Runs this program as a child with `mode_args` (NULL-terminated) and the
 * shared model options; returns its stdout (g_free) or NULL. */
static char *
spawn_child (const char *self, const char *const *mode_args, const char *model, const char *device,
             const char *precision, const char *residency, const char *cache, double *wall)
{
  char **env = g_get_environ ();
  char *pocl = cache ? g_build_filename (cache, "pocl", NULL) : NULL;
  if (cache)
    {
      env = g_environ_setenv (env, "SDCL_CACHE_DIR", cache, TRUE);
      env = g_environ_setenv (env, "POCL_CACHE_DIR", pocl, TRUE);
      g_mkdir_with_parents (pocl, 0700);
    }
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) self);
  for (int i = 0; mode_args[i]; i++)
    g_ptr_array_add (argv, (char *) mode_args[i]);
  const char *shared[] = { "--model", model, "--precision", precision, "--residency",
                           residency ? residency : "lean" };
  for (size_t i = 0; i < G_N_ELEMENTS (shared); i++)
    g_ptr_array_add (argv, (char *) shared[i]);
  if (device)
    {
      g_ptr_array_add (argv, "--device");
      g_ptr_array_add (argv, (char *) device);
    }
  g_ptr_array_add (argv, NULL);
  char *out = NULL;
  int status = 0;
  gint64 t0 = g_get_monotonic_time ();
  bool ok = g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &out,
                          NULL, &status, NULL)
            && g_spawn_check_wait_status (status, NULL);
  *wall = (double) (g_get_monotonic_time () - t0) / 1e6;
  g_ptr_array_free (argv, TRUE);
  g_strfreev (env);
  g_free (pocl);
  if (!ok)
    g_clear_pointer (&out, g_free);
  return out;
}

static bool
spawn_startup (const char *self, const char *model, const char *device, const char *precision,
               const char *residency, const char *cache, startup_times *s, double *wall)
{
  const char *args[] = { "--startup-child", NULL };
  char *out = spawn_child (self, args, model, device, precision, residency, cache, wall);
  bool ok = out && sscanf (out, "startup %lf %lf %lf %lf", &s->load, &s->text, &s->step_begin,
                           &s->step_end) == 4;
  g_free (out);
  return ok;
}

/* --kernels: the device layer's report (kernel_report.c); 1 when the
 * device cannot be opened or a kernel fails to build. */
static int
print_kernels (const char *device)
{
  sdcl_error err = { 0 };
  sdcl_cl *cl = sdcl_cl_new (device, NULL, &err);
  if (!cl)
    {
      fprintf (stderr, "sdcl-bench: %s\n", err.message);
      return 1;
    }
  char *text = sdcl_cl_kernel_report (cl);
  fputs (text, stdout);
  g_free (text);
  const bool ok = sdcl_cl_ok (cl);
  sdcl_cl_free (cl);
  return ok ? 0 : 1;
}

/* ---- main --------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  t_process = g_get_monotonic_time ();
  char *model_path = NULL, *device = NULL, *precision = NULL, *residency = NULL;
  char **lora_specs = NULL;
  int width = 512, height = 512, steps = 1;
  gboolean json = FALSE, encode = FALSE, no_startup = FALSE, startup_child = FALSE,
           no_cfg = FALSE, no_vae = FALSE, no_batch1 = FALSE, txt2img = FALSE, txt2img_child = FALSE, kernels = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "checkpoint (folder or .safetensors)", "M" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "OpenCL device (as sdcl's --device)", "D" },
    { "precision", 'p', 0, G_OPTION_ARG_STRING, &precision, "weights on the device: f16 (default), f32 or q8", "P" },
    { "encode", 0, 0, G_OPTION_ARG_NONE, &encode, "also time the VAE encoder", NULL },
    { "no-cfg", 0, 0, G_OPTION_ARG_NONE, &no_cfg, "skip the batch-2 (CFG) evaluation", NULL },
    { "no-batch1", 0, 0, G_OPTION_ARG_NONE, &no_batch1,
      "skip the timed batch-1 evaluation (its warm-up still runs)", NULL },
    { "no-vae", 0, 0, G_OPTION_ARG_NONE, &no_vae, "skip the VAE decode", NULL },
    { "no-startup", 0, 0, G_OPTION_ARG_NONE, &no_startup, "skip the cold/warm start runs", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON on stdout instead of a table", NULL },
    { "txt2img", 0, 0, G_OPTION_ARG_NONE, &txt2img, "also a whole txt2img run in a fresh process", NULL },
    { "kernels", 0, 0, G_OPTION_ARG_NONE, &kernels,
      "only print which kernels run on the device and why (no --model needed)", NULL },
    { "residency", 'r', 0, G_OPTION_ARG_STRING, &residency,
      "lean (default, as the CLI) or resident: the startup and txt2img runs' model", "R" },
    { "startup-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &startup_child, NULL, NULL },
    { "txt2img-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &txt2img_child, NULL, NULL },
    { "lora", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &lora_specs, "apply a LoRA (repeatable)",
      "FILE[:WEIGHT]" },
    { NULL }
  };
  cli_number numbers[] = {
    CLI_NUMBER ("width", 'W', CLI_INT, 8, SDCL_MAX_SIDE_PIXELS, &width,
                "image width in pixels (512)", "N"),
    CLI_NUMBER ("height", 'H', CLI_INT, 8, SDCL_MAX_SIDE_PIXELS, &height,
                "image height in pixels (512)", "N"),
    CLI_NUMBER ("steps", 's', CLI_INT, 1, SDCL_MAX_STEPS, &steps,
                "timed UNet evaluations per batch size (1)", "N"),
    { NULL },
  };
  cli_setup_locale ();
  cli_parser opts;
  cli_parser_init (&opts, "- time sdcl's phases on a checkpoint");
  cli_parser_add (&opts, entries);
  cli_parser_add_numbers (&opts, numbers);
  bool parsed = cli_parser_parse (&opts, "sdcl-bench", &argc, &argv);
  cli_parser_clear (&opts);
  if (parsed && kernels)
    return print_kernels (device);
  if (parsed && !model_path)
    fprintf (stderr, "sdcl-bench: --model is required\n");
  if (!parsed || !model_path)
    return 2;
  if (!precision)
    precision = g_strdup ("f16");
  const bool f32 = strcmp (precision, "f32") == 0, q8 = strcmp (precision, "q8") == 0;
  if (!f32 && !q8 && strcmp (precision, "f16") != 0)
    {
      fprintf (stderr, "sdcl-bench: --precision is f16, f32 or q8\n");
      return 2;
    }

  sdcl_error err = { 0 };
  sdcl_ctx_params cp = sdcl_ctx_default_params ();
  cp.device = device;
  sdcl_ctx *ctx = NULL;
  if (sdcl_ctx_new (&cp, &ctx, &err) != SDCL_OK)
    die ("device", &err);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = f32 ? SDCL_WEIGHTS_F32 : q8 ? SDCL_WEIGHTS_Q8 : SDCL_WEIGHTS_F16;
  if (txt2img_child)
    {
      mp.residency = parse_residency (residency);
      run_txt2img_child (ctx, model_path, &mp, width, height, steps);
      sdcl_ctx_free (ctx);
      return 0;
    }
  /* The startup child loads as a CLI run would; the phases need everything. */
  mp.residency = startup_child ? parse_residency (residency) : SDCL_RESIDENCY_RESIDENT;
  sdcl_model *m = NULL;
  const double t_load0 = now ();
  if (sdcl_model_load (ctx, model_path, &mp, &m, &err) != SDCL_OK)
    die ("model", &err);
  const double t_load = now () - t_load0;
  if (lora_specs && !startup_child && !txt2img_child)
    apply_loras (m, lora_specs);

  if (startup_child)
    {
      startup_times s = run_startup (m, now (), 64, 64);
      printf ("startup %.3f %.3f %.3f %.3f\n", s.load, s.text, s.step_begin, s.step_end);
      sdcl_model_free (m);
      sdcl_ctx_free (ctx);
      return 0;
    }

  sdcl_cl *cl = ctx->cl;
  const sdcl_model_files *mf = m->files;
  const int f = 1 << (mf->vae.n_levels - 1);
  if (width % f || height % f || width < f || height < f)
    {
      fprintf (stderr, "sdcl-bench: width and height must be multiples of %d\n", f);
      return 2;
    }
  const int lh = height / f, lw = width / f;
  GRand *rng = g_rand_new_with_seed (20261122);
  if (!json)
    fprintf (stderr, "sdcl-bench: %s on %s, %dx%d\n", model_path, sdcl_cl_device (cl)->name,
             width, height);

  const uint64_t load_rss_peak = proc_status_kb ("VmHWM:");

  /* Text encoders (the family's whole conditioning): warm-up, then timed. */
  sdcl_conditioning cond = { 0 };
  for (int rep = 0; rep < 2; rep++)
    {
      sdcl_conditioning_clear (cl, &cond);
      if (rep == 1)
        mem_mark (cl);
      const double t0 = now (), c0 = cpu_now ();
      encode_prompt (m, width, height, &cond);
      sdcl_cl_finish (cl);
      if (rep == 1)
        {
          sdcl_flops fl = sdcl_clip_flops (&mf->clip, SDCL_CLIP_CONTEXT);
          double gflop = sdcl_flops_total (&fl) / 1e9;
          if (mf->text2_w)   /* SDXL's bigG */
            {
              fl = sdcl_clip_flops (&mf->clip2, SDCL_CLIP_CONTEXT);
              gflop += sdcl_flops_total (&fl) / 1e9;
            }
          add_phase (cl, mf->text2_w ? "text encoders (2 x 77 tokens)" : "text encoder (77 tokens)",
                     now () - t0, cpu_now () - c0, gflop);
        }
    }

  /* UNet: batch 1 (warm-up + timed), then batch 2 = one CFG step. */
  const sdcl_flops unet_fl = sdcl_unet_flops (&mf->unet, lh, lw, SDCL_CLIP_CONTEXT);
  const double unet_gflop = sdcl_flops_total (&unet_fl) / 1e9;
  double unet_first = 0;
  for (int batch = 1; batch <= (no_cfg ? 1 : 2); batch++)
    {
      sdcl_t x = { 0 }, ctxt = { 0 };
      random_tensor (cl, &x, 4, batch, mf->unet.in_channels, lh, lw, rng);
      batch_context (m, &cond, batch, &ctxt);
      const float ts[2] = { 999.0f, 999.0f };
      double total = 0, cpu_total = 0;
      mem_mark (cl);
      sdcl_unet_keep_context (m->unet, true);   /* as sdcl_run_denoise */
      for (int rep = -1; rep < (batch == 1 && no_batch1 ? 0 : steps); rep++)
        {
          /* SDCL_PROFILE: what follows the last batch's first timed
           * evaluation (the warm-up also builds kernels and transforms
           * Winograd weights), so --no-cfg or --no-batch1 with --no-vae
           * profiles one batch size's evaluations alone. */
          if (rep == 0)
            sdcl_cl_profile_clear (cl);
          sdcl_t eps = { 0 };
          const double t0 = now (), c0 = cpu_now ();
          if (sdcl_unet_forward (m->unet, &x, ts, &ctxt, NULL, &eps, &err) != SDCL_OK)
            die ("UNet", &err);
          sdcl_cl_finish (cl);
          const double dt = now () - t0, dc = cpu_now () - c0;
          if (rep >= 0)
            total += dt, cpu_total += dc;
          else if (batch == 1)
            unet_first = dt;
          sdcl_t_release (cl, &eps);
          if (!json)
            fprintf (stderr, "  UNet batch %d: %.2f s%s\n", batch, dt, rep < 0 ? " (warm-up)" : "");
        }
      sdcl_unet_keep_context (m->unet, false);
      if (!(batch == 1 && no_batch1))
        add_phase (cl, batch == 1 ? "UNet evaluation (batch 1)" : "CFG step (UNet batch 2)",
                   total / steps, cpu_total / steps, batch * unet_gflop);
      sdcl_t_release (cl, &x);
      sdcl_t_release (cl, &ctxt);
    }
  sdcl_conditioning_clear (cl, &cond);

  /* VAE decoder (the UNet's runs built the shared kernels). */
  if (!no_vae)
  {
    sdcl_t z = { 0 }, img = { 0 };
    random_tensor (cl, &z, 4, 1, mf->vae.latent_channels, lh, lw, rng);
    sdcl_cl_pool_trim (cl);   /* as the pipeline does between phases */
    mem_mark (cl);
    const double t0 = now (), c0 = cpu_now ();
    if (sdcl_vae_decode (m->vae, &z, NULL, &img, &err) != SDCL_OK)
      die ("VAE decoder", &err);
    sdcl_cl_finish (cl);
    sdcl_flops fl = sdcl_vae_decoder_flops (&mf->vae, lh, lw);
    add_phase (cl, "VAE decode", now () - t0, cpu_now () - c0, sdcl_flops_total (&fl) / 1e9);
    sdcl_t_release (cl, &z);
    sdcl_t_release (cl, &img);
  }
  if (encode)
    {
      sdcl_vae *vae = NULL;
      sdcl_cl_pool_trim (cl);
      mem_mark (cl);
      if (sdcl_vae_new (cl, mf->vae_w, &mf->vae,
                        f32 ? SDCL_WT_F32 : q8 ? SDCL_WT_Q8 : SDCL_WT_F16, true, &vae,
                        &err) != SDCL_OK)
        die ("VAE encoder", &err);
      sdcl_t img = { 0 }, mom = { 0 };
      random_tensor (cl, &img, 4, 1, mf->vae.in_channels, height, width, rng);
      const double t0 = now (), c0 = cpu_now ();
      if (sdcl_vae_encode (vae, &img, NULL, &mom, &err) != SDCL_OK)
        die ("VAE encoder", &err);
      sdcl_cl_finish (cl);
      sdcl_flops fl = sdcl_vae_encoder_flops (&mf->vae, height, width);
      add_phase (cl, "VAE encode (incl. kernel builds, encoder upload)", now () - t0, cpu_now () - c0,
                 sdcl_flops_total (&fl) / 1e9);
      sdcl_t_release (cl, &img);
      sdcl_t_release (cl, &mom);
      sdcl_vae_free (vae);
    }
  g_rand_free (rng);

  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  uint64_t rss_peak = load_rss_peak, pool_peak = 0;
  for (int i = 0; i < n_phases; i++)
    {
      rss_peak = MAX (rss_peak, phases[i].rss_peak);
      pool_peak = MAX (pool_peak, phases[i].pool_peak);
    }
  const sdcl_device_info *dev = sdcl_cl_device (cl);
  char *dev_name = g_strdup (dev->name), *dev_driver = g_strdup (dev->driver);
  /* What the phases' FLOP rates are compared with (after them: it must not
   * count in their memory marks). */
  const double fma_peak = op_fma_peak_gflops (cl);

  startup_times st[2] = { 0 };
  double wall[2] = { 0 };
  bool have_startup = false;
  if (!no_startup || txt2img)
    {
      sdcl_model_free (m);
      sdcl_ctx_free (ctx);
      m = NULL, ctx = NULL;
    }
  if (!no_startup)
    {
      char *tmp = g_dir_make_tmp ("sdcl-bench-XXXXXX", NULL);
      char *self = g_file_read_link ("/proc/self/exe", NULL);
      have_startup = tmp && self
                     && spawn_startup (self, model_path, device, precision, residency, tmp, &st[0],
                                       &wall[0])
                     && spawn_startup (self, model_path, device, precision, residency, tmp, &st[1],
                                       &wall[1]);
      if (tmp)
        {
          char *argv_rm[] = { "rm", "-rf", tmp, NULL };
          g_spawn_sync (NULL, argv_rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL,
                        NULL);
        }
      g_free (tmp);
      g_free (self);
      if (!have_startup)
        fprintf (stderr, "sdcl-bench: the startup runs failed\n");
    }
  /* A whole run in a fresh process, with the user's (warm) kernel caches. */
  double t2i_load = 0, t2i_run = 0, t2i_wall = 0;
  uint64_t t2i_rss = 0;
  bool have_t2i = false;
  if (txt2img)
    {
      char *self = g_file_read_link ("/proc/self/exe", NULL);
      char w_arg[16], h_arg[16], s_arg[16];
      g_snprintf (w_arg, sizeof w_arg, "%d", width);
      g_snprintf (h_arg, sizeof h_arg, "%d", height);
      g_snprintf (s_arg, sizeof s_arg, "%d", steps);
      const char *args[] = { "--txt2img-child", "--width", w_arg, "--height", h_arg, "--steps",
                             s_arg, NULL };
      char *out = self ? spawn_child (self, args, model_path, device, precision, residency, NULL,
                                      &t2i_wall)
                       : NULL;
      have_t2i = out && sscanf (out, "txt2img %lf %lf %" SCNu64, &t2i_load, &t2i_run, &t2i_rss) == 3;
      if (!have_t2i)
        fprintf (stderr, "sdcl-bench: the txt2img run failed\n");
      g_free (out);
      g_free (self);
    }
  const char *residency_name = residency ? residency : "lean";

  if (json)
    {
      printf ("{\n  \"model\": \"%s\",\n  \"device\": \"%s\",\n  \"driver\": \"%s\",\n"
              "  \"width\": %d,\n  \"height\": %d,\n"
              "  \"precision\": \"%s\",\n  \"load_s\": %.3f,\n  \"unet_first_eval_s\": %.3f,\n"
              "  \"unet_gflop\": %.1f,\n  \"unet_gflop_conv\": %.1f,\n  \"unet_gflop_linear\": %.1f,\n"
              "  \"unet_gflop_attention\": %.1f,\n  \"fma_peak_gflops\": %.1f,\n  \"phases\": [\n",
              model_path, dev_name, dev_driver, width, height, precision, t_load, unet_first,
              unet_gflop,
              unet_fl.conv / 1e9, unet_fl.linear / 1e9, unet_fl.attention / 1e9, fma_peak);
      for (int i = 0; i < n_phases; i++)
        printf ("    {\"name\": \"%s\", \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"gflop\": %.1f, "
                "\"gflops\": %.1f, \"pool_peak_bytes\": %" PRIu64 ", \"rss_peak_bytes\": %" PRIu64
                "}%s\n",
                phases[i].name, phases[i].seconds, phases[i].cpu_seconds, phases[i].gflop,
                phases[i].gflop / phases[i].seconds, phases[i].pool_peak, phases[i].rss_peak,
                i + 1 < n_phases ? "," : "");
      printf ("  ],\n  \"peak_rss_bytes\": %" PRIu64 ",\n  \"load_rss_peak_bytes\": %" PRIu64
              ",\n  \"weight_device_bytes\": %" PRIu64 ",\n  \"pool_peak_bytes\": %" PRIu64
              ",\n  \"peak_device_bytes\": %" PRIu64 ",\n  \"residency\": \"%s\"",
              rss_peak, load_rss_peak, info.device_bytes, pool_peak, info.device_bytes + pool_peak,
              residency_name);
      if (have_t2i)
        printf (",\n  \"txt2img\": {\"load_s\": %.3f, \"run_s\": %.3f, \"process_s\": %.3f, "
                "\"peak_rss_bytes\": %" PRIu64 "}",
                t2i_load, t2i_run, t2i_wall, t2i_rss);
      if (have_startup)
        printf (",\n  \"startup\": {\"cold\": {\"to_first_step_s\": %.3f, \"first_step_done_s\": %.3f},"
                " \"warm\": {\"to_first_step_s\": %.3f, \"first_step_done_s\": %.3f}}",
                st[0].step_begin, st[0].step_end, st[1].step_begin, st[1].step_end);
      printf ("\n}\n");
    }
  else
    {
      printf ("device: %s; %dx%d (latent %dx%d); weights %s\n", dev_name, width, height, lw, lh,
              precision);
      printf ("model load: %.2f s; first UNet evaluation (kernel builds, pool growth): %.2f s\n",
              t_load, unet_first);
      printf ("UNet FLOPs per evaluation: %.1f GFLOP (conv %.1f, linear %.1f, attention %.1f)\n",
              unet_gflop, unet_fl.conv / 1e9, unet_fl.linear / 1e9, unet_fl.attention / 1e9);
      printf ("device FMA peak (measured, 8- or 16-wide FMA chains): %.1f GFLOP/s\n\n", fma_peak);
      printf ("%-34s %9s %9s %9s %9s %7s %12s %8s %8s\n", "phase", "seconds", "CPU s", "GFLOP",
              "GFLOP/s", "% peak", "GFLOP/CPU-s", "pool GB", "RSS GB");
      for (int i = 0; i < n_phases; i++)
        {
          const double rate = phases[i].gflop / phases[i].seconds;
          printf ("%-34s %9.3f %9.3f %9.1f %9.1f %7.1f %12.1f %8.3f %8.3f\n", phases[i].name,
                  phases[i].seconds, phases[i].cpu_seconds, phases[i].gflop, rate,
                  fma_peak > 0 ? 100 * rate / fma_peak : 0, phases[i].gflop / phases[i].cpu_seconds,
                  phases[i].pool_peak / 1e9, phases[i].rss_peak / 1e9);
        }
      printf ("\npeak host RSS (every network resident): %.2f GB (%.2f GB after the load); device: "
              "weights %.2f GB + activation pool peak %.2f GB\n",
              rss_peak / 1e9, load_rss_peak / 1e9, info.device_bytes / 1e9, pool_peak / 1e9);
      if (have_t2i)
        printf ("txt2img %dx%d, %d step(s), %s, fresh process: load %.2f s, run %.2f s, process "
                "%.2f s, peak RSS %.2f GB (%.0f MiB)\n",
                width, height, steps, residency_name, t2i_load, t2i_run, t2i_wall, t2i_rss / 1e9,
                t2i_rss / 1048576.0);
      if (have_startup)
        printf ("start to first denoising step (64x64 px step, %s): cold caches %.2f s (step done "
                "%.2f s), warm caches %.2f s (step done %.2f s)\n", residency_name,
                st[0].step_begin, st[0].step_end, st[1].step_begin, st[1].step_end);
    }
  g_free (dev_name);
  g_free (dev_driver);
  if (m)
    sdcl_model_free (m);
  if (ctx)
    sdcl_ctx_free (ctx);
  g_free (model_path);
  g_free (device);
  g_free (precision);
  g_free (residency);
  return 0;
}

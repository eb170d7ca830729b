/* sdcl — the command-line tool.
 *
 *   sdcl devices
 *   sdcl info --model M
 *   sdcl txt2img --model M --prompt P [options] -o out.png
 *   sdcl img2img --model M --init in.png --strength S [options] -o out.png
 *   sdcl inpaint --model M --init in.png --mask m.png [--mask-blur PX]
 *                [--only-masked --padding PX] [options] -o out.png
 *   sdcl tune [--device D] [--cache-dir DIR] [--fraction F] [--quick]
 *
 * Exit codes: 0 success, 1 generation failed, 2 usage error, 3 model or
 * tokenizer problem, 4 OpenCL device problem (none, failure, out of
 * memory), 5 output could not be written, 130 cancelled (Ctrl-C).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_options.h"
#include "png_io.h"
#include "sdcl.h"

enum {
  EXIT_GENERATION = 1,
  EXIT_USAGE = 2,
  EXIT_MODEL = 3,
  EXIT_DEVICE = 4,
  EXIT_OUTPUT = 5,
  EXIT_CANCELLED = 130
};

static volatile int cancel_flag = 0;

static void
on_sigint (int sig)
{
  (void) sig;
  cancel_flag = 1;
}

static int
exit_code_for (sdcl_status st)
{
  switch (st)
    {
    case SDCL_OK: return 0;
    case SDCL_ERR_INVALID_ARGUMENT: return EXIT_USAGE;
    case SDCL_ERR_IO:
    case SDCL_ERR_MODEL_FORMAT:
    case SDCL_ERR_UNSUPPORTED_MODEL:
    case SDCL_ERR_TOKENIZER: return EXIT_MODEL;
    case SDCL_ERR_NO_DEVICE:
    case SDCL_ERR_DEVICE:
    case SDCL_ERR_OUT_OF_MEMORY: return EXIT_DEVICE;
    case SDCL_ERR_CANCELLED: return EXIT_CANCELLED;
    case SDCL_ERR_INTERNAL: break;
    }
  return EXIT_GENERATION;
}

static int
report (const sdcl_error *err)
{
  fprintf (stderr, "sdcl: error (%s): %s\n", sdcl_status_name (err->code), err->message);
  return exit_code_for (err->code);
}

static const char *
device_type_name (sdcl_device_type t)
{
  switch (t)
    {
    case SDCL_DEVICE_GPU: return "GPU";
    case SDCL_DEVICE_CPU: return "CPU";
    case SDCL_DEVICE_ACCELERATOR: return "accelerator";
    case SDCL_DEVICE_OTHER: break;
    }
  return "other";
}

/* ---- sdcl devices ------------------------------------------------------ */

static int
cmd_devices (int argc, char **argv)
{
  cli_parser cp;
  cli_parser_init (&cp, "- list OpenCL devices");
  bool parsed = cli_parser_parse (&cp, "sdcl devices", &argc, &argv);
  cli_parser_clear (&cp);
  if (!parsed)
    return EXIT_USAGE;
  sdcl_device_info *devs = NULL;
  int n = 0;
  sdcl_error err = { 0 };
  if (sdcl_list_devices (&devs, &n, &err) != SDCL_OK)
    return report (&err);
  for (int i = 0; i < n; i++)
    {
      const sdcl_device_info *d = &devs[i];
      printf ("%d: %s [%s]\n   platform %s, %s, driver %s\n"
              "   %d compute units, %.0f MiB global memory, %.0f MiB max allocation, "
              "%.0f KiB local memory, work-group <= %zu\n",
              d->index, d->name, device_type_name (d->type), d->platform, d->version, d->driver,
              d->compute_units, d->global_mem_bytes / 1048576.0, d->max_alloc_bytes / 1048576.0,
              d->local_mem_bytes / 1024.0, d->max_work_group_size);
    }
  free (devs);
  return 0;
}

/* ---- shared options ---------------------------------------------------- */

typedef struct {
  char *model, *device, *precision, *cache_dir, *tokenizer, *residency, *prediction;
  gboolean turbo;
  sdcl_residency default_residency;   /* when --residency is not given */
} model_opts;

#define N_MODEL_ENTRIES 9

static void
model_entries (model_opts *o, GOptionEntry out[N_MODEL_ENTRIES])
{
  GOptionEntry entries[N_MODEL_ENTRIES] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model,
      "Diffusers folder or single-file .safetensors checkpoint (default: the demo model)", "PATH" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &o->device,
      "OpenCL device: index or part of its name (default: first GPU, else any)", "DEV" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &o->precision,
      "Weight storage on the device: f16 (default), f32, or q8 (8-bit, half of f16's memory)",
      "P" },
    { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &o->tokenizer,
      "Folder with vocab.json and merges.txt (default: the model's, else sdcl's)", "DIR" },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->cache_dir,
      "Compiled-kernel cache folder (\"\" disables)", "DIR" },
    { "residency", 0, 0, G_OPTION_ARG_STRING, &o->residency,
      "lean: each network on the device only while its phase runs (default for generation); "
      "stream: lean, and the UNet's deepest blocks uploaded layer by layer at every step "
      "(least memory, a little slower); resident: all loaded at once (default for info)",
      "MODE" },
    { "prediction", 0, 0, G_OPTION_ARG_STRING, &o->prediction,
      "What the model predicts: eps or v (default: its scheduler config or the .yaml beside a "
      "single file, else the family's default, eps; SD 2.x 768-v files need v)", "eps|v" },
    { "turbo", 0, 0, G_OPTION_ARG_NONE, &o->turbo,
      "Run an SD-Turbo or SDXL-Turbo single file (which cannot say so itself) with the Turbo "
      "settings: 512 px, trailing spacing; by default euler, 1 step, --cfg 0", NULL },
    { NULL },
  };
  memcpy (out, entries, sizeof entries);
}

static void
model_opts_clear (model_opts *o)
{
  g_free (o->model);
  g_free (o->device);
  g_free (o->precision);
  g_free (o->cache_dir);
  g_free (o->tokenizer);
  g_free (o->residency);
  g_free (o->prediction);
}

/* Creates the context and loads the model; on failure prints and returns
 * the exit code. */
static int
open_model (model_opts *o, bool inpainting, sdcl_ctx **ctx, sdcl_model **model)
{
  sdcl_error err = { 0 };
  if (!o->model)
    {
      /* No --model: the demo model that ships with sdcl, so a first run
       * needs nothing but a prompt. */
      o->model = sdcl_default_model_path (inpainting, &err);
      if (!o->model)
        return report (&err);
      fprintf (stderr, "sdcl: no --model given, using the demo model %s\n", o->model);
    }
  sdcl_model_params mp = sdcl_model_default_params ();
  if (o->precision && strcmp (o->precision, "f32") == 0)
    mp.weights = SDCL_WEIGHTS_F32;
  else if (o->precision && strcmp (o->precision, "q8") == 0)
    mp.weights = SDCL_WEIGHTS_Q8;
  else if (o->precision && strcmp (o->precision, "f16") != 0)
    {
      fprintf (stderr, "sdcl: --precision must be f16, f32 or q8, not '%s'\n", o->precision);
      return EXIT_USAGE;
    }
  mp.tokenizer_dir = o->tokenizer;
  mp.residency = o->default_residency;
  if (o->residency && strcmp (o->residency, "lean") == 0)
    mp.residency = SDCL_RESIDENCY_LEAN;
  else if (o->residency && strcmp (o->residency, "resident") == 0)
    mp.residency = SDCL_RESIDENCY_RESIDENT;
  else if (o->residency && strcmp (o->residency, "stream") == 0)
    mp.residency = SDCL_RESIDENCY_STREAM;
  else if (o->residency)
    {
      fprintf (stderr, "sdcl: --residency must be lean, stream or resident, not '%s'\n",
               o->residency);
      return EXIT_USAGE;
    }
  if (o->prediction && strcmp (o->prediction, "v") == 0)
    mp.prediction = SDCL_PREDICTION_FORCE_V;
  else if (o->prediction && strcmp (o->prediction, "eps") == 0)
    mp.prediction = SDCL_PREDICTION_FORCE_EPSILON;
  else if (o->prediction)
    {
      fprintf (stderr, "sdcl: --prediction must be eps or v, not '%s'\n", o->prediction);
      return EXIT_USAGE;
    }

  if (o->turbo)
    mp.variant = SDCL_VARIANT_TURBO;

  sdcl_ctx_params cp = sdcl_ctx_default_params ();
  cp.device = o->device;
  cp.cache_dir = o->cache_dir;
  if (sdcl_ctx_new (&cp, ctx, &err) != SDCL_OK)
    return report (&err);
  if (sdcl_model_load (*ctx, o->model, &mp, model, &err) != SDCL_OK)
    {
      sdcl_ctx_free (*ctx);
      *ctx = NULL;
      return report (&err);
    }
  return 0;
}

/* ---- sdcl info --------------------------------------------------------- */

static int
cmd_info (int argc, char **argv)
{
  model_opts mo = { 0 };
  GOptionEntry entries[N_MODEL_ENTRIES];
  model_entries (&mo, entries);
  cli_parser cp;
  cli_parser_init (&cp, "- describe a model");
  cli_parser_add (&cp, entries);
  bool parsed = cli_parser_parse (&cp, "sdcl info", &argc, &argv);
  cli_parser_clear (&cp);
  if (!parsed)
    {
      model_opts_clear (&mo);
      return EXIT_USAGE;
    }
  sdcl_ctx *ctx = NULL;
  sdcl_model *model = NULL;
  int rc = open_model (&mo, false, &ctx, &model);
  if (rc == 0)
    {
      sdcl_model_info info;
      sdcl_device_info dev;
      sdcl_model_get_info (model, &info);
      sdcl_ctx_get_device (ctx, &dev);
      printf ("model:        %s\nfamily:       %s (%s layout)\nunet inputs:  %d channels%s\n"
              "native size:  %d px\nprediction:   %s (%s)\nparameters:   %.1f M\n"
              "device:       %s, %.1f MiB of weights\n",
              mo.model, info.family_name, info.layout, info.unet_in_channels,
              info.unet_in_channels == 9 ? " (inpainting)" : "", info.native_resolution,
              info.prediction == SDCL_PREDICTION_V ? "v" : info.prediction == SDCL_PREDICTION_SAMPLE ? "sample" : "epsilon",
              info.prediction_source,
              info.n_parameters / 1e6, dev.name, info.device_bytes / 1048576.0);
      printf ("text:         %d encoder%s, %d-wide context%s\n", info.n_text_encoders,
              info.n_text_encoders > 1 ? "s" : "", info.context_dim,
              info.size_conditioning ? ", pooled vector and size ids" : "");
      if (info.turbo)
        printf ("variant:      Turbo (%s): %d px, trailing spacing, 1-4 steps, no guidance\n",
                mo.turbo ? "--turbo" : "from its configs", info.native_resolution);
      if (info.scheduler_ignored_keys[0])
        printf ("note:         scheduler config keys sdcl ignores: %s\n",
                info.scheduler_ignored_keys);
    }
  sdcl_model_free (model);
  sdcl_ctx_free (ctx);
  model_opts_clear (&mo);
  return rc;
}

/* ---- sdcl txt2img ------------------------------------------------------ */

typedef struct {
  gint64 start_us, last_us;
  bool tty;
} progress_state;

static bool
on_progress (int step, int n, const sdcl_image *preview, void *user)
{
  progress_state *ps = user;
  gint64 now = g_get_monotonic_time ();
  double per_step = (now - ps->start_us) / 1e6 / step;
  int width = 30, filled = step * width / n;
  char bar[64];
  for (int i = 0; i < width; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[width] = '\0';
  fprintf (stderr, "%s[%s] step %d/%d  %.2f s/step%s", ps->tty ? "\r" : "", bar, step, n,
           per_step, ps->tty && step < n ? "" : "\n");
  fflush (stderr);
  ps->last_us = now;
  return !cancel_flag;
}

/* "euler, euler_a, ..." from the library's sampler table (g_free it). */
static char *
sampler_list (void)
{
  GString *list = g_string_new (NULL);
  for (int i = 0; i < sdcl_sampler_count (); i++)
    g_string_append_printf (list, "%s%s", i ? ", " : "", sdcl_sampler_name ((sdcl_sampler) i));
  return g_string_free (list, FALSE);
}

typedef struct {
  char *prompt, *negative, *sampler, *schedule, *rng, *output, *prompt_syntax;
  char **embeddings;     /* --embedding, repeatable */
  gboolean karras, no_karras, tiling;
  cli_number *numbers;   /* the table that wrote into the parameters */
  char **loras;          /* --lora FILE[:WEIGHT], repeatable */
  char *lora_dir;
  sdcl_lora *lora_list;  /* parsed, g_free'd with the specs it points into */
  char **lora_specs;     /* the library's allocations behind lora_list's paths */
} gen_opts;

/* Every --lora into g->lora_list (the library parses FILE[:WEIGHT]). */
static int
parse_loras (gen_opts *g, sdcl_gen_params *p)
{
  int n = g->loras ? (int) g_strv_length (g->loras) : 0;
  g->lora_list = g_new0 (sdcl_lora, MAX (n, 1));
  g->lora_specs = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    {
      sdcl_lora *one = NULL;
      int got = 0;
      sdcl_error err = { 0 };
      if (strpbrk (g->loras[i], ";\n") || sdcl_lora_list_parse (g->loras[i], &one, &got, &err)
          != SDCL_OK || got != 1)
        {
          fprintf (stderr, "sdcl: --lora %s: %s\n", g->loras[i],
                   err.message[0] ? err.message : "one FILE or FILE:WEIGHT per --lora");
          free (one);
          return EXIT_USAGE;
        }
      g->lora_list[i] = one[0];
      g->lora_specs[i] = (char *) one;   /* the path lives in the same block */
    }
  p->loras = g->lora_list;
  p->n_loras = n;
  p->lora_dir = g->lora_dir;
  return 0;
}

static void
gen_opts_clear_loras (gen_opts *g)
{
  for (int i = 0; g->lora_specs && g->lora_specs[i]; i++)
    free (g->lora_specs[i]);
  g_free (g->lora_specs);
  g_free (g->lora_list);
  g_strfreev (g->loras);
  g_free (g->lora_dir);
}

/* Numbers go straight into the parameters: what the user did not type
 * keeps the library's default. */
static int
parse_gen (gen_opts *g, sdcl_gen_params *p)
{
  if (!g->output)
    {
      fprintf (stderr, "sdcl: -o/--output is required\n");
      return EXIT_USAGE;
    }
  if (g->sampler && !sdcl_sampler_from_name (g->sampler, &p->sampler))
    {
      g_autofree char *names = sampler_list ();
      fprintf (stderr, "sdcl: unknown sampler '%s' (%s)\n", g->sampler, names);
      return EXIT_USAGE;
    }
  if (g->schedule && !sdcl_schedule_from_name (g->schedule, &p->schedule))
    {
      fprintf (stderr, "sdcl: unknown schedule '%s' (default, karras, exponential, trailing or "
               "sgm_uniform, ays)\n", g->schedule);
      return EXIT_USAGE;
    }
  if (g->rng && strcmp (g->rng, "philox") == 0)
    p->rng = SDCL_RNG_PHILOX;
  else if (g->rng && strcmp (g->rng, "torch") != 0)
    {
      fprintf (stderr, "sdcl: --rng must be torch or philox, not '%s'\n", g->rng);
      return EXIT_USAGE;
    }
  if (g->prompt_syntax && strcmp (g->prompt_syntax, "plain") == 0)
    p->prompt_syntax = SDCL_PROMPT_PLAIN;
  else if (g->prompt_syntax && strcmp (g->prompt_syntax, "a1111") != 0)
    {
      fprintf (stderr, "sdcl: --prompt-syntax must be a1111 or plain, not '%s'\n", g->prompt_syntax);
      return EXIT_USAGE;
    }
  p->embeddings = (const char *const *) g->embeddings;
  p->n_embeddings = g->embeddings ? (int) g_strv_length (g->embeddings) : 0;
  p->prompt = g->prompt;
  p->negative_prompt = g->negative;
  if (g->karras)
    p->karras_sigmas = true;
  if (g->no_karras)
    p->karras_sigmas = false;
  p->tiling = g->tiling;
  int rc = parse_loras (g, p);
  if (rc != 0)
    return rc;
  if (!cli_number_given (g->numbers, "seed"))
    p->seed = (((guint64) g_random_int () << 31) ^ g_random_int ()) & G_MAXINT64;
  char msg[512];
  if (!sdcl_png_check_output (g->output, msg, sizeof msg))
    {
      fprintf (stderr, "sdcl: %s\n", msg);
      return EXIT_OUTPUT;
    }
  return 0;
}

/* " (Karras)", " (ays)", ...: the schedule the run used, "" for the model's own. */
static const char *
schedule_note (const sdcl_gen_params *p)
{
  static char note[32];
  sdcl_schedule s = p->schedule;
  if (s == SDCL_SCHEDULE_DEFAULT && p->karras_sigmas && sdcl_sampler_has_karras (p->sampler))
    return " (Karras)";
  if (s == SDCL_SCHEDULE_DEFAULT)
    return "";
  g_snprintf (note, sizeof note, " (%s)", sdcl_schedule_name (s));
  return note;
}

static int
save_image (const gen_opts *g, const sdcl_gen_params *p, bool edit, const sdcl_image *img)
{
  g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) p->seed);
  g_autofree char *strength = edit ? g_strdup_printf (", strength %g", (double) p->strength)
                                   : g_strdup ("");
  g_autofree char *settings = g_strdup_printf (
      "sampler %s%s, steps %d, guidance %g, seed %s, %s noise%s%s", sdcl_sampler_name (p->sampler),
      schedule_note (p), p->steps, (double) p->guidance, seed,
      p->rng == SDCL_RNG_TORCH ? "torch" : "philox", strength, p->tiling ? ", tiling" : "");
  const char *keys[] = { "Software", "prompt", "negative_prompt", "parameters" };
  g_autofree char *software = g_strdup_printf ("sdcl %s", sdcl_version ());
  const char *values[] = { software, p->prompt ? p->prompt : "",
                           p->negative_prompt ? p->negative_prompt : "", settings };
  char msg[512];
  if (!sdcl_png_write (g->output, img, keys, values, 4, msg, sizeof msg))
    {
      fprintf (stderr, "sdcl: %s\n", msg);
      return EXIT_OUTPUT;
    }
  fprintf (stderr, "wrote %s (%dx%d, seed %s)\n", g->output, img->width, img->height, seed);
  return 0;
}

typedef enum { MODE_TXT2IMG, MODE_IMG2IMG, MODE_INPAINT } gen_mode;

/* Options of img2img and inpaint. */
typedef struct {
  char *init, *mask;
  gboolean only_masked;
  sdcl_image init_img, mask_img;
} edit_opts;

static void
edit_opts_clear (edit_opts *e)
{
  g_free (e->init);
  g_free (e->mask);
  free (e->init_img.data); /* read by sdcl_png_read: malloc'ed */
  free (e->mask_img.data);
}

static int
read_png (const char *path, const char *option, sdcl_png_mode mode, sdcl_image *out)
{
  char msg[512];
  if (!path)
    {
      fprintf (stderr, "sdcl: %s is required\n", option);
      return EXIT_USAGE;
    }
  if (!sdcl_png_read (path, mode, out, msg, sizeof msg))
    {
      fprintf (stderr, "sdcl: %s\n", msg);
      return EXIT_USAGE;
    }
  return 0;
}

/* Reads the images and applies the edit options to p (before the model is
 * loaded, so that a bad file fails fast). */
static int
parse_edit (gen_mode mode, edit_opts *e, sdcl_gen_params *p)
{
  int rc = read_png (e->init, "--init", SDCL_PNG_RGB, &e->init_img);
  if (rc == 0 && mode == MODE_INPAINT)
    rc = read_png (e->mask, "--mask", SDCL_PNG_MASK, &e->mask_img);
  if (rc != 0)
    return rc;
  if (mode == MODE_INPAINT
      && (e->mask_img.width != e->init_img.width || e->mask_img.height != e->init_img.height))
    {
      fprintf (stderr, "sdcl: the mask %s is %dx%d but the init image %s is %dx%d\n", e->mask,
               e->mask_img.width, e->mask_img.height, e->init, e->init_img.width,
               e->init_img.height);
      return EXIT_USAGE;
    }
  p->only_masked = e->only_masked;
  return 0;
}

static const char *const mode_names[] = { "txt2img", "img2img", "inpaint" };
static const char *const mode_summaries[] = {
  "- generate an image from a prompt",
  "- repaint an image guided by a prompt",
  "- repaint the masked part of an image (mask: white = repaint, grey = partly)",
};

static int
run_mode (gen_mode mode, sdcl_model *model, sdcl_gen_params *p, edit_opts *e, sdcl_image *img,
          sdcl_error *err)
{
  switch (mode)
    {
    case MODE_IMG2IMG: return sdcl_img2img (model, p, &e->init_img, img, err);
    case MODE_INPAINT: return sdcl_inpaint (model, p, &e->init_img, &e->mask_img, img, err);
    case MODE_TXT2IMG: break;
    }
  return sdcl_txt2img (model, p, img, err);
}

/* The numeric options of the generation commands, with the ranges the
 * library accepts (those it checks per model, as --clip-skip's upper
 * bound, are left to it).  Rows 0..N_GEN_NUMBERS-1 are common; then the
 * size rows (not img2img: its size is the input's) and the edit rows. */
enum { N_GEN_NUMBERS = 6, N_SIZE_NUMBERS = 2, N_EDIT_NUMBERS = 3 };

static void
number_rows (gen_mode mode, sdcl_gen_params *p, cli_number *rows)
{
  const char *width_help = mode == MODE_INPAINT
                               ? "With --only-masked: working width (default: native)"
                               : "Width in pixels (default: model's native)";
  cli_number all[] = {
    CLI_NUMBER ("steps", 's', CLI_INT, 1, SDCL_MAX_STEPS, &p->steps,
                "Denoising steps (default 20)", "N"),
    CLI_NUMBER ("cfg", 'g', CLI_FLOAT, 0, SDCL_MAX_GUIDANCE, &p->guidance,
      "Guidance scale (default 7.5; <= 1 disables)", "G"),
    CLI_NUMBER ("seed", 0, CLI_UINT64, 0, 0, &p->seed,
                "Noise seed (default: random, printed)", "N"),
    CLI_NUMBER ("clip-skip", 0, CLI_INT, 0, G_MAXINT, &p->clip_skip,
      "Use the k-th text encoder layer from the end", "K"),
    CLI_NUMBER ("eta", 0, CLI_FLOAT, 0, G_MAXFLOAT, &p->eta, "DDIM eta; TCD gamma, 0..1 (default 0)", "E"),
    CLI_NUMBER ("vae-tile", 0, CLI_INT, -1, SDCL_MAX_SIDE_PIXELS, &p->vae_tile,
      "VAE in tiles of PX pixels (multiple of 8, >= 32; same image, less device memory); "
      "0: automatic (default), -1: never", "PX"),
    CLI_NUMBER ("width", 'W', CLI_INT, 1, SDCL_MAX_SIDE_PIXELS, &p->width, width_help, "PX"),
    CLI_NUMBER ("height", 'H', CLI_INT, 1, SDCL_MAX_SIDE_PIXELS, &p->height,
      "Height in pixels (see --width)", "PX"),
    CLI_NUMBER ("strength", 0, CLI_FLOAT, 0, 1, &p->strength,
      "How much to change, 0..1 (default 0.75 for img2img, 1 for inpaint; 0 returns the input)",
      "S"),
    CLI_NUMBER ("mask-blur", 0, CLI_FLOAT, 0, SDCL_MAX_MASK_BLUR, &p->mask_blur,
      "Feather the mask's edge for compositing: Gaussian sigma in pixels (default 4)", "PX"),
    CLI_NUMBER ("padding", 0, CLI_INT, 0, SDCL_MAX_SIDE_PIXELS, &p->mask_padding,
      "With --only-masked: context pixels around the mask's box (default 32)", "PX"),
    { NULL },
  };
  G_STATIC_ASSERT (G_N_ELEMENTS (all) == N_GEN_NUMBERS + N_SIZE_NUMBERS + N_EDIT_NUMBERS + 1);
  int n = 0;
  for (int i = 0; i < N_GEN_NUMBERS; i++)
    rows[n++] = all[i];
  int first = N_GEN_NUMBERS;
  for (int i = 0; i < N_SIZE_NUMBERS && mode != MODE_IMG2IMG; i++)
    rows[n++] = all[first + i];
  first += N_SIZE_NUMBERS;
  int n_edit = mode == MODE_INPAINT ? N_EDIT_NUMBERS : mode == MODE_IMG2IMG ? 1 : 0;
  for (int i = 0; i < n_edit; i++)
    rows[n++] = all[first + i];
  rows[n] = (cli_number) { NULL };
}

/* Parses the command line into g, e and p; returns 0 or EXIT_USAGE. */
static int
parse_generate (gen_mode mode, int argc, char **argv, model_opts *mo, gen_opts *g,
                edit_opts *e, sdcl_gen_params *p)
{
  g_autofree char *names = sampler_list ();
  g_autofree char *sampler_help = g_strdup_printf (
      "%s (default %s; lcm needs few steps: 4-8 at --cfg 1-2)", names,
      sdcl_sampler_name (sdcl_gen_default_params ().sampler));
  GOptionEntry gen_entries[] = {
    { "sampler", 0, 0, G_OPTION_ARG_STRING, &g->sampler, sampler_help, "NAME" },
    { "schedule", 0, 0, G_OPTION_ARG_STRING, &g->schedule,
      "Noise schedule: karras, exponential, trailing (sgm_uniform), ays (Align Your Steps), "
      "where the sampler takes it; default: the model's spacing, Karras where available", "NAME" },
    { "karras", 0, 0, G_OPTION_ARG_NONE, &g->karras,
      "Karras sigmas where the sampler has them (default; --schedule karras)", NULL },
    { "no-karras", 0, 0, G_OPTION_ARG_NONE, &g->no_karras, "Model's own sigma spacing", NULL },
    { "rng", 0, 0, G_OPTION_ARG_STRING, &g->rng,
      "Noise generator: torch (same images as diffusers on CPU; default) or philox", "NAME" },
    { "tiling", 0, 0, G_OPTION_ARG_NONE, &g->tiling,
      "Seamless texture: the image wraps around at its edges and tiles without a seam "
      "(circular padding; the VAE runs untiled)", NULL },
    { "prompt-syntax", 0, 0, G_OPTION_ARG_STRING, &g->prompt_syntax,
      "a1111: (word), (word:1.3), [word], BREAK weigh and split the prompt (default); "
      "plain: the text as it is", "NAME" },
    { "embedding", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &g->embeddings,
      "Textual-inversion embedding (.safetensors; repeatable): its file name without the "
      "extension, used in a prompt, stands for its vectors", "FILE" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &g->output, "PNG file to write", "FILE" },
    { "lora", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &g->loras,
      "Apply a LoRA (kohya/A1111, LoCon or diffusers .safetensors) with WEIGHT (default 1); "
      "repeatable.  Prompts may also hold <lora:NAME:WEIGHT>", "FILE[:WEIGHT]" },
    { "lora-dir", 0, 0, G_OPTION_ARG_FILENAME, &g->lora_dir,
      "Folder of the LoRAs that <lora:NAME:WEIGHT> tags name (default: Lora/ beside the model)",
      "DIR" },
    { NULL },
  };
  GOptionEntry edit_entries[] = {
    { "init", 'i', 0, G_OPTION_ARG_FILENAME, &e->init,
      "Input image (PNG; any size: resized to a multiple of 8 for the model and back)", "FILE" },
    { "mask", 'M', 0, G_OPTION_ARG_FILENAME, &e->mask,
      "Mask PNG, same size as --init: its alpha channel if it has one, else grey "
      "(white = repaint, black = keep, grey = partly)", "FILE" },
    { "only-masked", 0, 0, G_OPTION_ARG_NONE, &e->only_masked,
      "Repaint only the mask's bounding box, at the model's native resolution", NULL },
    { NULL },
  };
  if (mode == MODE_IMG2IMG)
    edit_entries[1] = (GOptionEntry) { NULL };
  GOptionEntry model_opt_entries[N_MODEL_ENTRIES];
  model_entries (mo, model_opt_entries);

  cli_parser cp;
  cli_parser_init (&cp, mode_summaries[mode]);
  g_option_context_set_description (cp.context,
                                    "The prompt is given with --prompt: other arguments are "
                                    "refused.  A value out of range is refused (exit 2).");
  cli_parser_add_text (&cp, "prompt", 'p', &g->prompt, "What to draw (any script, UTF-8)", "TEXT");
  cli_parser_add_text (&cp, "negative", 'n', &g->negative, "What to avoid", "TEXT");
  cli_parser_add_numbers (&cp, g->numbers);
  cli_parser_add (&cp, gen_entries);
  if (mode != MODE_TXT2IMG)
    cli_parser_add (&cp, edit_entries);
  cli_parser_add (&cp, model_opt_entries);
  g_autofree char *prog = g_strdup_printf ("sdcl %s", mode_names[mode]);
  bool parsed = cli_parser_parse (&cp, prog, &argc, &argv);
  cli_parser_clear (&cp);
  return parsed ? 0 : EXIT_USAGE;
}

/* What the user left out comes from the model (sdcl_gen_model_params: a
 * Turbo model's sampler, steps and guidance).  Turbo image edits take as
 * many steps as make one run at the strength (steps x strength >= 1). */
static void
model_defaults (gen_mode mode, const sdcl_model *model, const gen_opts *g, sdcl_gen_params *p)
{
  const sdcl_gen_params d = sdcl_gen_model_params (model);
  sdcl_model_info info;
  sdcl_model_get_info (model, &info);
  if (!g->sampler)
    p->sampler = d.sampler;
  if (!g->karras && !g->no_karras && !g->schedule)
    p->karras_sigmas = d.karras_sigmas;
  if (!cli_number_given (g->numbers, "cfg"))
    p->guidance = d.guidance;
  if (!cli_number_given (g->numbers, "steps"))
    {
      p->steps = d.steps;
      if (info.turbo && mode != MODE_TXT2IMG && p->strength > 0 && p->steps * p->strength < 1)
        p->steps = MIN ((int) ceilf (1.0f / p->strength), SDCL_MAX_STEPS);
    }
}

static void
on_warning (const char *message, void *user)
{
  (void) user;
  fprintf (stderr, "sdcl: warning: %s\n", message);
}

static int
cmd_generate (gen_mode mode, int argc, char **argv)
{
  model_opts mo = { .default_residency = SDCL_RESIDENCY_LEAN };
  sdcl_gen_params p = sdcl_gen_default_params ();
  /* Inpainting repaints fully by default (diffusers' default too);
   * img2img keeps the library's default. */
  if (mode == MODE_INPAINT)
    p.strength = 1.0f;
  cli_number numbers[N_GEN_NUMBERS + N_SIZE_NUMBERS + N_EDIT_NUMBERS + 1];
  number_rows (mode, &p, numbers);
  gen_opts g = { .numbers = numbers };
  edit_opts e = { 0 };
  int rc = parse_generate (mode, argc, argv, &mo, &g, &e, &p);
  if (rc == 0)
    rc = parse_gen (&g, &p);
  if (rc == 0 && mode != MODE_TXT2IMG)
    rc = parse_edit (mode, &e, &p);

  sdcl_ctx *ctx = NULL;
  sdcl_model *model = NULL;
  if (rc == 0)
    rc = open_model (&mo, mode == MODE_INPAINT, &ctx, &model);
  if (rc == 0)
    model_defaults (mode, model, &g, &p);
  if (rc == 0)
    {
      progress_state ps = { .start_us = g_get_monotonic_time (), .tty = isatty (2) };
      sdcl_error err = { 0 };
      sdcl_image img = { 0 };
      p.progress = on_progress;
      p.warning = on_warning;
      p.user_data = &ps;
      p.cancel = &cancel_flag;
      /* The first Ctrl-C cancels (the run stops within a few kernels);
       * SA_RESETHAND makes a second one end the process at once. */
      struct sigaction sa = { .sa_handler = on_sigint, .sa_flags = SA_RESETHAND };
      sigemptyset (&sa.sa_mask);
      sigaction (SIGINT, &sa, NULL);
      if (run_mode (mode, model, &p, &e, &img, &err) != SDCL_OK)
        rc = report (&err);
      else
        {
          fprintf (stderr, "generated in %.2f s\n",
                   (g_get_monotonic_time () - ps.start_us) / 1e6);
          rc = save_image (&g, &p, mode != MODE_TXT2IMG, &img);
        }
      sdcl_image_free (&img);
    }
  sdcl_model_free (model);
  sdcl_ctx_free (ctx);
  model_opts_clear (&mo);
  edit_opts_clear (&e);
  g_free (g.prompt);
  g_free (g.negative);
  g_free (g.sampler);
  g_free (g.schedule);
  g_free (g.rng);
  g_free (g.output);
  g_free (g.prompt_syntax);
  g_strfreev (g.embeddings);
  gen_opts_clear_loras (&g);
  return rc;
}

/* ---- sdcl tune --------------------------------------------------------- */

/* The work is in the device layer (opencl/gemm_tune.c); this parses. */
static int
cmd_tune (int argc, char **argv)
{
  char *device = NULL, *cache_dir = NULL;
  double fraction = SDCL_TUNE_DEFAULT_FRACTION;
  gboolean quick = FALSE;
  GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device,
      "OpenCL device: index or part of its name (default: first GPU, else any)", "D" },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache_dir,
      "folder of the kernel cache, where the result goes (default: $SDCL_CACHE_DIR, else "
      "$XDG_CACHE_HOME/sdcl)", "DIR" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick,
      "a fraction of the work, for slow (software) devices: the smallest GEMM shape, short "
      "tile and extension timings, CLBlast not tuned", NULL },
    { NULL },
  };
  cli_number numbers[] = {
    { "fraction", 0, CLI_DOUBLE, 0, 1, true, &fraction,
      "share of CLBlast's Xgemm configurations to try, each a kernel build (default 0.001: "
      "a few minutes)", "F", false },
    { NULL },
  };
  cli_parser cp;
  cli_parser_init (&cp, "- choose this device's GEMM backend: tune CLBlast, measure it against "
                        "sdcl's own kernels, store the choice in the kernel cache");
  cli_parser_add (&cp, entries);
  cli_parser_add_numbers (&cp, numbers);
  int rc = cli_parser_parse (&cp, "sdcl tune", &argc, &argv) ? 0 : EXIT_USAGE;
  cli_parser_clear (&cp);
  if (rc == 0)
    {
      sdcl_error err = { 0 };
      const sdcl_status st = quick ? sdcl_gemm_tune_quick (device, cache_dir, &err)
                                   : sdcl_gemm_tune (device, cache_dir, fraction, &err);
      if (st != SDCL_OK)
        {
          rc = report (&err);
          if (err.code == SDCL_ERR_IO) /* only the result file is written */
            rc = EXIT_OUTPUT;
        }
    }
  g_free (device);
  g_free (cache_dir);
  return rc;
}

/* ---- main -------------------------------------------------------------- */

static void
usage (FILE *f)
{
  fprintf (f,
           "Usage: sdcl COMMAND [OPTIONS]\n\n"
           "Stable Diffusion on any OpenCL device.\n\n"
           "Commands:\n"
           "  txt2img   generate an image from a prompt\n"
           "  img2img   repaint an image guided by a prompt\n"
           "  inpaint   repaint the masked part of an image\n"
           "  info      describe a model\n"
           "  devices   list OpenCL devices\n"
           "  tune      choose this device's GEMM backend (tunes CLBlast; minutes)\n"
           "  version   print the version\n\n"
           "'sdcl COMMAND --help' lists a command's options.\n\n"
           "Exit codes: 0 ok, 1 generation failed, 2 usage, 3 model/tokenizer,\n"
           "4 OpenCL device (none, failure, out of memory), 5 output, 130 cancelled.\n");
}

int
main (int argc, char **argv)
{
  cli_setup_locale ();
  if (argc < 2)
    {
      usage (stderr);
      return EXIT_USAGE;
    }
  const char *cmd = argv[1];
  if (!strcmp (cmd, "--help") || !strcmp (cmd, "-h") || !strcmp (cmd, "help"))
    {
      usage (stdout);
      return 0;
    }
  if (!strcmp (cmd, "version") || !strcmp (cmd, "--version"))
    {
      printf ("sdcl %s\n", sdcl_version ());
      return 0;
    }
  /* Subcommands parse argv[1..] so that their --help names them. */
  if (!strcmp (cmd, "devices"))
    return cmd_devices (argc - 1, argv + 1);
  if (!strcmp (cmd, "info"))
    return cmd_info (argc - 1, argv + 1);
  if (!strcmp (cmd, "tune"))
    return cmd_tune (argc - 1, argv + 1);
  if (!strcmp (cmd, "txt2img"))
    return cmd_generate (MODE_TXT2IMG, argc - 1, argv + 1);
  if (!strcmp (cmd, "img2img"))
    return cmd_generate (MODE_IMG2IMG, argc - 1, argv + 1);
  if (!strcmp (cmd, "inpaint"))
    return cmd_generate (MODE_INPAINT, argc - 1, argv + 1);
  fprintf (stderr, "sdcl: unknown command '%s'\n\n", cmd);
  usage (stderr);
  return EXIT_USAGE;
}

/* sdcl-mkmodel: writes a random-weight Stable Diffusion 1.5-, 2.1- or
 * SDXL-shaped checkpoint (UNet, VAE, text encoders: CLIP ViT-L, OpenCLIP
 * ViT-H, or both CLIP ViT-L and OpenCLIP bigG) as a diffusers folder or
 * one LDM/SGM-layout .safetensors file (SD 2.1: with its .yaml beside
 * it), or (--lora RANK) a kohya LoRA for it.  For tests and benchmarks where the
 * real weights are unavailable or too slow to fetch; the images it makes
 * are noise.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "model_writer.h"

typedef struct {
  char *layout;
  char *dtype;
  char *family;
  gboolean inpaint, tiny, zeros, v, locon;
  gint64 seed;
  gint lora_rank;
} options;

/* Modules a LoRA adapts: the attention, feed-forward and projection
 * layers of the UNet's transformers and of the text encoder (what style
 * LoRAs train), and with --locon the resnets' and samplers' convolutions
 * and time projections too (LCM-LoRA's set). */
static const char *const lora_linear[] = { ".to_q.", ".to_k.", ".to_v.", ".to_out.0.",
  "ff.net.0.proj.", "ff.net.2.", "proj_in.", "proj_out.", "q_proj.", "k_proj.", "v_proj.",
  "out_proj.", "fc1.", "fc2.", NULL };
static const char *const lora_conv[] = { ".conv1.", ".conv2.", "conv_shortcut.", "samplers.0.conv.",
  "time_emb_proj.", NULL };

static bool
matches (const char *name, const char *const *parts)
{
  for (int i = 0; parts[i]; i++)
    if (strstr (name, parts[i]))
      return true;
  return false;
}

/* Down and up halves of one adapted weight, kohya-named. */
static void
add_lora_pair (GArray *out, const mk_tensor *w, const char *prefix, int rank)
{
  g_autofree char *module = g_strndup (w->canonical, strlen (w->canonical) - strlen (".weight"));
  g_strdelimit (module, ".", '_');
  mk_tensor down = { .nd = w->nd }, up = { .nd = w->nd };
  g_snprintf (down.name, sizeof down.name, "%s%s.lora_down.weight", prefix, module);
  g_snprintf (up.name, sizeof up.name, "%s%s.lora_up.weight", prefix, module);
  g_strlcpy (down.canonical, down.name, sizeof down.canonical);
  g_strlcpy (up.canonical, up.name, sizeof up.canonical);
  down.shape[0] = rank;
  down.shape[1] = w->shape[1];
  up.shape[0] = w->shape[0];
  up.shape[1] = rank;
  if (w->nd == 4)
    {
      down.shape[2] = w->shape[2];
      down.shape[3] = w->shape[3];
      up.shape[2] = up.shape[3] = 1;
    }
  g_array_append_val (out, down);
  g_array_append_val (out, up);
}

/* A kohya LoRA of `rank` for the model's shapes (benchmarks: its values
 * are as random as the model's). */
static bool
write_lora (const char *path, const mk_model *m, const options *o, sdcl_dtype dtype,
            GError **error)
{
  GArray *pairs = g_array_new (FALSE, FALSE, sizeof (mk_tensor));
  const sdcl_component comps[] = { SDCL_COMP_UNET, SDCL_COMP_TEXT, SDCL_COMP_TEXT2 };
  /* kohya's prefixes: SDXL's two towers are te1 and te2 */
  const bool two = m->clip2.n_layers > 0;
  const char *const prefixes[] = { "lora_unet_", two ? "lora_te1_" : "lora_te_", "lora_te2_" };
  for (int c = 0; c < (two ? 3 : 2); c++)
    {
      size_t n = 0;
      g_autofree mk_tensor *ts = mk_component_tensors (m, comps[c], false, &n);
      for (size_t i = 0; i < n; i++)
        if ((ts[i].nd == 2 || ts[i].nd == 4) && g_str_has_suffix (ts[i].canonical, ".weight")
            && (matches (ts[i].canonical, lora_linear)
                || (o->locon && comps[c] == SDCL_COMP_UNET && matches (ts[i].canonical, lora_conv))))
          add_lora_pair (pairs, &ts[i], prefixes[c], o->lora_rank);
    }
  bool ok = mk_write_safetensors (path, (const mk_tensor *) pairs->data, pairs->len, dtype,
                                  (uint64_t) o->seed, error);
  g_array_free (pairs, TRUE);
  return ok;
}

static bool
parse_dtype (const char *name, sdcl_dtype *out)
{
  if (g_ascii_strcasecmp (name, "f16") == 0)
    *out = SDCL_DT_F16;
  else if (g_ascii_strcasecmp (name, "f32") == 0)
    *out = SDCL_DT_F32;
  else if (g_ascii_strcasecmp (name, "bf16") == 0)
    *out = SDCL_DT_BF16;
  else
    return false;
  return true;
}

static int
usage_error (GOptionContext *ctx, const char *fmt, const char *arg)
{
  fprintf (stderr, "sdcl-mkmodel: ");
  fprintf (stderr, fmt, arg);
  fprintf (stderr, "\n\n");
  char *help = g_option_context_get_help (ctx, TRUE, NULL);
  fputs (help, stderr);
  g_free (help);
  return 2;
}

int
main (int argc, char **argv)
{
  options o = { .layout = NULL, .dtype = NULL, .seed = 0 };
  GOptionEntry entries[] = {
    { "layout", 'l', 0, G_OPTION_ARG_STRING, &o.layout, "diffusers (a folder, default) or single-file", "LAYOUT" },
    { "dtype", 'd', 0, G_OPTION_ARG_STRING, &o.dtype, "f16 (default), f32 or bf16", "DTYPE" },
    { "family", 'f', 0, G_OPTION_ARG_STRING, &o.family, "sd15 (default), sd21 or sdxl", "FAMILY" },
    { "v", 0, 0, G_OPTION_ARG_NONE, &o.v, "sd21: the 768-v model (v prediction, 768 pixels)", NULL },
    { "inpaint", 0, 0, G_OPTION_ARG_NONE, &o.inpaint, "a 9-channel inpainting UNet", NULL },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &o.seed, "seed of the weights (default 0)", "N" },
    { "tiny", 0, 0, G_OPTION_ARG_NONE, &o.tiny, "a few-MB model with the family's layout, for tests", NULL },
    { "zeros", 0, 0, G_OPTION_ARG_NONE, &o.zeros,
      "all weights 0, written as sparse files (no disk space; for memory-limit tests)", NULL },
    { "lora", 0, 0, G_OPTION_ARG_INT, &o.lora_rank,
      "write a kohya LoRA of this rank for the model instead (OUTPUT is a .safetensors file)", "RANK" },
    { "locon", 0, 0, G_OPTION_ARG_NONE, &o.locon,
      "with --lora: adapt the UNet's convolutions too (LoCon, as LCM-LoRA)", NULL },
    { NULL },
  };
  GOptionContext *ctx = g_option_context_new ("OUTPUT - write a random-weight SD 1.5-, 2.1- or SDXL-shaped model");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "Writes UNet, VAE and text encoder (SD 1.5: CLIP ViT-L; SD 2.1: OpenCLIP ViT-H, 23 layers\n"
    "in a folder, 24 with fused q/k/v in a single file, whose .yaml says the head width and,\n"
    "with --v, v prediction; SDXL base 1.0: CLIP ViT-L and OpenCLIP bigG with its projection,\n"
    "text_encoder_2/ in a folder, the SGM layout (conditioner.embedders.*) in a single file)\n"
    "with random weights: matrices and kernels\n"
    "uniform with standard deviation 1/sqrt(fan_in), norm scales 1, biases small (std 0.02).\n"
    "The same seed gives the same weights in either layout.  OUTPUT is a folder for the\n"
    "diffusers layout, a .safetensors file for single-file.");
  GError *error = NULL;
  int rc = 0;
  sdcl_dtype dtype = SDCL_DT_F16;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    rc = usage_error (ctx, "%s", error->message);
  else if (argc != 2)
    rc = usage_error (ctx, "%s", "expected exactly one OUTPUT path");
  else if (o.dtype && !parse_dtype (o.dtype, &dtype))
    rc = usage_error (ctx, "unknown dtype '%s'", o.dtype);
  else if (o.layout && strcmp (o.layout, "diffusers") && strcmp (o.layout, "single-file"))
    rc = usage_error (ctx, "unknown layout '%s'", o.layout);
  const mk_family *family = mk_family_find (o.family ? o.family : "sd15");
  if (rc == 0 && !family)
    rc = usage_error (ctx, "unknown family '%s' (sd15, sd21 or sdxl)", o.family);
  else if (rc == 0 && o.v && !family->has_v)
    rc = usage_error (ctx, "%s", "--v needs --family sd21");
  if (rc == 0)
    {
      mk_model m;
      family->shapes (&m, o.tiny, o.inpaint, o.v);
      gint64 start = g_get_monotonic_time ();
      bool single = o.layout && strcmp (o.layout, "single-file") == 0;
      uint64_t seed = o.zeros ? MK_SEED_ZEROS : (uint64_t) o.seed;
      bool ok = o.lora_rank > 0 ? write_lora (argv[1], &m, &o, dtype, &error)
                : single ? mk_write_single_file (argv[1], &m, dtype, seed, &error)
                         : mk_write_diffusers (argv[1], &m, dtype, seed, &error);
      if (ok)
        printf ("wrote %s (%s, %s) in %.1f s\n", argv[1],
                o.lora_rank > 0 ? "kohya LoRA" : single ? "single file" : "diffusers folder",
                o.dtype ? o.dtype : "f16", (double) (g_get_monotonic_time () - start) / 1e6);
      else
        {
          fprintf (stderr, "sdcl-mkmodel: %s\n", error->message);
          rc = 1;
        }
    }
  g_clear_error (&error);
  g_option_context_free (ctx);
  g_free (o.layout);
  g_free (o.dtype);
  g_free (o.family);
  return rc;
}

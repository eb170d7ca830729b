/* --precision q8 (SDCL_WEIGHTS_Q8) on the tiny model, against F32 and F16
 * runs of the same settings (pipeline_euler's: 4 Euler steps, guidance
 * 7.5, 48x64):
 *
 *   - what the quantization does to the image: the Q8 image is within
 *     Q8_ATOL of the F32 one, its mean difference within Q8_MEAN (and it
 *     differs from the F16 one: the weights really were quantized).  That
 *     F32 image is itself pipeline_euler's golden within 2e-3
 *     (test_txt2img), and Q8 on the quantized weights is
 *     pipeline_euler_q8w's within 2e-3, also there;
 *   - it holds about half of F16's device bytes (int8 matrices with a
 *     4-byte scale per row; the vectors stay F16);
 *   - lean and streaming residency give bit-identical images to a
 *     resident Q8 model (each re-upload quantizes the same way), and a
 *     LoRA (its side path stays F32) changes the Q8 image as it changes
 *     the F32 one, within the same tolerance, and by far more than the
 *     quantization does.
 *
 * Tolerances: a row's int8 step is max |w| / 127, so each weight moves by
 * at most 0.4% of its row's largest.  The tiny model's random weights
 * amplify any rounding of the weights through four guided steps (guidance
 * 7.5 amplifies the cond/uncond difference) and the decoder: when this was
 * written F16 weights moved its [0, 1] image by up to 0.056 (mean 0.0083)
 * and Q8 ones by up to 0.063 (mean 0.0096).  Q8_ATOL 0.15 and Q8_MEAN 0.02
 * leave room for another machine's rounding but not for a wrong scale or
 * layout, which changes the whole image (test_txt2img checks Q8 to 2e-3
 * against diffusers on the same quantized weights).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "golden.h"
#include "sdcl.h"

#define Q8_ATOL 0.15
#define Q8_MEAN 0.02

static sdcl_model *
load (sdcl_ctx *ctx, const char *path, sdcl_weight_precision prec, sdcl_residency residency)
{
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = prec;
  mp.residency = residency;
  return fixture_model_load (ctx, path, &mp);
}

static sdcl_image
generate (sdcl_model *m, const sdcl_lora *lora)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.negative_prompt = "blurry";
  p.steps = 4;
  p.width = 48;
  p.height = 64;
  p.guidance = 7.5f;
  p.seed = 1234;
  p.sampler = SDCL_SAMPLER_EULER;
  p.loras = lora;
  p.n_loras = lora ? 1 : 0;
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };
  CHECK (sdcl_txt2img (m, &p, &img, &err) == SDCL_OK && img.data, "txt2img: %s", err.message);
  return img;
}

static size_t
values (const sdcl_image *a)
{
  return (size_t) a->width * a->height * a->channels;
}

/* Largest and mean |a - b|; -1 when the sizes differ or an image is missing. */
static double
max_diff (const sdcl_image *a, const sdcl_image *b, double *mean)
{
  *mean = -1;
  if (!a->data || !b->data || values (a) != values (b))
    return -1;
  double top = 0, sum = 0;
  for (size_t i = 0; i < values (a); i++)
    {
      const double d = fabs ((double) a->data[i] - b->data[i]);
      top = fmax (top, d);
      sum += d;
    }
  *mean = sum / values (a);
  return top;
}

static bool
identical (const sdcl_image *a, const sdcl_image *b)
{
  return a->data && b->data && values (a) == values (b)
         && memcmp (a->data, b->data, values (a) * sizeof (float)) == 0;
}

static uint64_t
device_bytes (sdcl_model *m)
{
  sdcl_model_info info;
  sdcl_model_get_info (m, &info);
  return info.device_bytes;
}

int
main (void)
{
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no OpenCL device: %s\n", err.message);
      return 77;
    }
  g_autofree char *path = fixture_path ("models/tiny-sd");
  g_autofree char *lora_path = fixture_path ("lora/kohya.safetensors");
  const sdcl_lora lora = { lora_path, 1.0f };

  sdcl_model *m32 = load (ctx, path, SDCL_WEIGHTS_F32, SDCL_RESIDENCY_RESIDENT);
  sdcl_image f32 = generate (m32, NULL), f32_lora = generate (m32, &lora);
  sdcl_model_free (m32);
  sdcl_model *m16 = load (ctx, path, SDCL_WEIGHTS_F16, SDCL_RESIDENCY_RESIDENT);
  sdcl_image f16 = generate (m16, NULL);
  const uint64_t f16_bytes = device_bytes (m16);
  sdcl_model_free (m16);

  sdcl_model *q8 = load (ctx, path, SDCL_WEIGHTS_Q8, SDCL_RESIDENCY_RESIDENT);
  const uint64_t q8_bytes = device_bytes (q8);
  sdcl_image a = generate (q8, NULL), a_lora = generate (q8, &lora);
  sdcl_model_free (q8);

  double mean, mean16, mean_lora;
  const double d = max_diff (&a, &f32, &mean), d16 = max_diff (&f16, &f32, &mean16);
  const double d_lora = max_diff (&a_lora, &f32_lora, &mean_lora);
  fprintf (stderr, "image |q8 - f32|: max %.4g mean %.4g; |f16 - f32|: max %.4g mean %.4g; "
           "with a LoRA |q8 - f32|: max %.4g mean %.4g\n", d, mean, d16, mean16, d_lora,
           mean_lora);
  fprintf (stderr, "device bytes: f16 %" G_GUINT64_FORMAT ", q8 %" G_GUINT64_FORMAT " (%.3f)\n",
           f16_bytes, q8_bytes, (double) q8_bytes / (double) f16_bytes);
  CHECK (d >= 0 && d <= Q8_ATOL && mean <= Q8_MEAN,
         "q8 image %.4g (mean %.4g) from the f32 one (tolerance %g, mean %g)", d, mean, Q8_ATOL,
         Q8_MEAN);
  CHECK (d16 >= 0 && !identical (&a, &f16), "the q8 image is the f16 one: not quantized?");
  CHECK (d_lora >= 0 && d_lora <= Q8_ATOL && mean_lora <= Q8_MEAN,
         "q8 image with a LoRA %.4g (mean %.4g) from the f32 one", d_lora, mean_lora);
  double lora_mean;
  const double lora_effect = max_diff (&a_lora, &a, &lora_mean);
  CHECK (lora_effect > 2 * d_lora, "the LoRA changed the q8 image by %.4g, quantization by %.4g",
         lora_effect, d_lora);
  /* The tiny model's rows are short (K from 4 to a few hundred values), so
   * its scales weigh more than an SD model's (K >= 320): half of F16 plus
   * a few percent. */
  CHECK (q8_bytes > 0 && q8_bytes < 0.6 * f16_bytes, "q8 holds %" G_GUINT64_FORMAT
         " device bytes, f16 %" G_GUINT64_FORMAT, q8_bytes, f16_bytes);

  for (sdcl_residency r = SDCL_RESIDENCY_LEAN; r <= SDCL_RESIDENCY_STREAM; r++)
    {
      sdcl_model *m = load (ctx, path, SDCL_WEIGHTS_Q8, r);
      sdcl_image b = generate (m, NULL);
      CHECK (identical (&a, &b), "q8 %s image differs from the resident one",
             r == SDCL_RESIDENCY_LEAN ? "lean" : "streaming");
      sdcl_image_free (&b);
      sdcl_model_free (m);
    }

  sdcl_image_free (&f32);
  sdcl_image_free (&f32_lora);
  sdcl_image_free (&f16);
  sdcl_image_free (&a);
  sdcl_image_free (&a_lora);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

/* The plug-in's defaults and model description, below the GIMP API:
 * Text to Image's size defaults to 0 x 0, the model's native size, which
 * validation accepts besides multiples of 8; the checks of schedule,
 * prediction, LoRAs, prompt syntax and embeddings; and the model line
 * names the kind of model (inpainting or not) and its native size.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "sdcl-gimp-core.h"
#include "tap.h"

static gboolean
size_valid (gint width, gint height, gchar **message)
{
  SdclSettings s;
  GError      *error = NULL;
  gboolean     ok;

  sdcl_settings_init (&s, SDCL_MODE_TXT2IMG);
  s.width  = width;
  s.height = height;
  ok = sdcl_settings_validate (&s, SDCL_MODE_TXT2IMG, &error);
  *message = g_strdup (error ? error->message : "");
  g_clear_error (&error);
  return ok;
}

int
main (void)
{
  SdclSettings     s;
  sdcl_model_info  info = { 0 };
  gchar           *text;
  static const struct { gint w, h; gboolean valid; } sizes[] = {
    { 0, 0, TRUE }, { 64, 512, TRUE }, { SDCL_SIZE_MAX, 8, TRUE }, { 0, 64, TRUE },
    { 12, 64, FALSE }, { 64, 4, FALSE }, { SDCL_SIZE_MAX + 8, 64, FALSE }, { -8, 64, FALSE },
  };

  setlocale (LC_ALL, "C");
  sdcl_settings_init (&s, SDCL_MODE_TXT2IMG);
  check (s.width == 0 && s.height == 0, "Text to Image defaults to the native size (0 x 0)", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      gchar *what = g_strdup_printf ("%d x %d is %s", sizes[i].w, sizes[i].h,
                                     sizes[i].valid ? "accepted" : "refused");
      gboolean ok = size_valid (sizes[i].w, sizes[i].h, &text);

      check (ok == sizes[i].valid && (ok || strstr (text, "native size") != NULL), what, text);
      g_free (what);
      g_free (text);
    }

  /* Schedule and prediction (issues 24, 18): the defaults are the model's
   * own; a schedule the sampler does not take, or an unknown name, is
   * refused naming the cause. */
  {
    static const struct { const gchar *sampler, *schedule, *prediction, *message; } cases[] = {
      { "euler", "default", "auto", NULL },
      { "euler", "ays", "v", NULL },
      { "dpmpp_2m", "karras", "eps", NULL },
      { "lms", "ays", "auto", "does not take" },
      { "euler", "beta", "auto", "Unknown schedule \"beta\"" },
      { "euler", "default", "x0", "Unknown prediction \"x0\"" },
    };

    sdcl_settings_init (&s, SDCL_MODE_IMG2IMG);
    check (strcmp (s.schedule, "default") == 0 && strcmp (s.prediction, "auto") == 0,
           "schedule and prediction default to the model's own", NULL);
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        GError  *error = NULL;
        gboolean ok;
        gchar   *what;

        sdcl_settings_init (&s, SDCL_MODE_IMG2IMG);
        g_strlcpy (s.sampler, cases[i].sampler, sizeof s.sampler);
        g_strlcpy (s.schedule, cases[i].schedule, sizeof s.schedule);
        g_strlcpy (s.prediction, cases[i].prediction, sizeof s.prediction);
        ok = sdcl_settings_validate (&s, SDCL_MODE_IMG2IMG, &error);
        what = g_strdup_printf ("%s + %s + %s is %s", cases[i].sampler, cases[i].schedule,
                                cases[i].prediction, cases[i].message ? "refused" : "accepted");
        check (cases[i].message ? !ok && strstr (error->message, cases[i].message) != NULL : ok,
               what, error ? error->message : NULL);
        g_clear_error (&error);
        g_free (what);
      }
  }

  /* LoRAs, prompt syntax and embeddings (issue 20): the defaults are none
   * and A1111's syntax; files that are not there, weights that are no
   * number and unknown syntaxes are refused naming the cause. */
  {
    const gchar *fix = g_getenv ("SDCL_FIXTURES");
    gchar *kohya = g_build_filename (fix, "lora", "kohya.safetensors", NULL);
    gchar *peft = g_build_filename (fix, "lora", "peft.safetensors", NULL);
    gchar *emb = g_build_filename (fix, "embeddings", "tinyemb.safetensors", NULL);
    gchar *two = g_strdup_printf ("%s:0.8\n %s \n\n", kohya, peft);
    gchar *semi = g_strdup_printf ("%s;%s:-0.5", kohya, peft);
    gchar *word = g_strdup_printf ("%s:strong", kohya);
    gchar *embs = g_strdup_printf ("\n%s\n", emb);
    const struct { const gchar *loras, *syntax, *embeddings, *message; } cases[] = {
      { "", "a1111", "", NULL },
      { two, "plain", embs, NULL },
      { semi, "", "", NULL },
      { "/nonexistent/x.safetensors:0.5", "a1111", "", "LoRA \"/nonexistent/x.safetensors\" does not exist" },
      { word, "a1111", "", "is no weight" },
      { "", "A1111x", "", "Unknown prompt syntax \"A1111x\"" },
      { "", "a1111", "/nonexistent/e.safetensors", "embedding \"/nonexistent/e.safetensors\" does not exist" },
    };
    gchar **split = sdcl_list_split (" a \n\nb;c ;\n");

    check (g_strv_length (split) == 3 && strcmp (split[0], "a") == 0 &&
           strcmp (split[1], "b") == 0 && strcmp (split[2], "c") == 0,
           "a file list splits at newlines and ';', trimmed, blanks left out", NULL);
    g_strfreev (split);
    sdcl_settings_init (&s, SDCL_MODE_TXT2IMG);
    check (strcmp (s.prompt_syntax, "a1111") == 0 && !s.loras[0] && !s.embeddings[0],
           "no LoRAs, no embeddings and A1111's syntax by default", NULL);
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        GError  *error = NULL;
        gboolean ok;
        gchar   *what;

        sdcl_settings_init (&s, SDCL_MODE_TXT2IMG);
        g_strlcpy (s.loras, cases[i].loras, sizeof s.loras);
        g_strlcpy (s.prompt_syntax, cases[i].syntax, sizeof s.prompt_syntax);
        g_strlcpy (s.embeddings, cases[i].embeddings, sizeof s.embeddings);
        ok = sdcl_settings_validate (&s, SDCL_MODE_TXT2IMG, &error);
        /* Escaped: a TAP line must stay one line. */
        gchar   *loras = g_strescape (cases[i].loras, NULL);
        gchar   *embeddings = g_strescape (cases[i].embeddings, NULL);

        what = g_strdup_printf ("loras \"%s\", syntax \"%s\", embeddings \"%s\" %s", loras,
                                cases[i].syntax, embeddings,
                                cases[i].message ? "refused" : "accepted");
        g_free (loras);
        g_free (embeddings);
        check (cases[i].message ? !ok && strstr (error->message, cases[i].message) != NULL : ok,
               what, error ? error->message : NULL);
        g_clear_error (&error);
        g_free (what);
      }
    g_free (kohya);
    g_free (peft);
    g_free (emb);
    g_free (two);
    g_free (semi);
    g_free (word);
    g_free (embs);
  }

  info.family_name       = "SD 1.x";
  info.native_resolution = 64;
  info.n_parameters      = 7700000;
  info.device_bytes      = 0;
  info.unet_in_channels  = 4;
  text = sdcl_model_info_describe (&info);
  check (strstr (text, "SD 1.x model for 64×64 pixels, 7.7 million parameters") == text,
         "an ordinary model: family, native size, parameters", text);
  g_free (text);
  info.unet_in_channels = 9;
  text = sdcl_model_info_describe (&info);
  check (strstr (text, "SD 1.x inpainting model for 64×64 pixels") == text,
         "an inpainting model says so", text);
  g_free (text);
  info.unet_in_channels = 4;
  info.turbo = true;
  text = sdcl_model_info_describe (&info);
  check (strstr (text, "SD 1.x model for 64×64 pixels") == text && strstr (text, "Turbo") != NULL,
         "a model run with the Turbo settings says so", text);
  g_free (text);
  sdcl_settings_init (&s, SDCL_MODE_TXT2IMG);
  check (!s.turbo, "the Turbo switch is off by default", NULL);

  return tap_finish ();
}

/* sdcl GIMP plug-in: the settings (defaults, names, checks) and the
 * procedures' texts (see sdcl-gimp-core.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-gimp-private.h"

G_DEFINE_QUARK (sdcl-gimp-error-quark, sdcl_gimp_error)

void
sdcl_settings_init (SdclSettings *settings,
                    SdclMode      mode)
{
  memset (settings, 0, sizeof *settings);
  /* The engine's own default sampler (it gives usable images in few steps). */
  g_strlcpy (settings->sampler, sdcl_sampler_name (sdcl_gen_default_params ().sampler),
             sizeof settings->sampler);
  settings->steps       = 20;
  settings->guidance    = 7.5;
  settings->seed        = SDCL_SEED_RANDOM;
  settings->last_seed   = 0;
  /* 0: the model's native size (the engine's rule too). */
  settings->width       = 0;
  settings->height      = 0;
  /* Inpainting repaints what the user selected, so it defaults to the full
   * schedule; img2img keeps a good part of the input. */
  settings->strength    = mode == SDCL_MODE_INPAINT || mode == SDCL_MODE_OUTPAINT ? 1.0 : 0.6;
  settings->mask_blur   = 4.0;
  settings->only_masked = FALSE;
  settings->padding     = 32;
  settings->tiling      = FALSE;
  settings->batch_count = 1;
  /* Outpaint: a border the size of the demo model's latent cell grid. */
  for (gint i = 0; i < 4; i++)
    settings->grow[i] = mode == SDCL_MODE_OUTPAINT ? 32 : 0;
  g_strlcpy (settings->schedule, sdcl_schedule_name (SDCL_SCHEDULE_DEFAULT),
             sizeof settings->schedule);
  g_strlcpy (settings->prediction, "auto", sizeof settings->prediction);
  /* A1111's syntax, as the engine's default: what its users expect. */
  g_strlcpy (settings->prompt_syntax, "a1111", sizeof settings->prompt_syntax);
}

static gboolean
sdcl_size_valid (gint size)
{
  return size == 0 || (size >= SDCL_SIZE_MIN && size <= SDCL_SIZE_MAX && size % 8 == 0);
}

gchar *
sdcl_sampler_names (void)
{
  GString *names = g_string_new (NULL);

  for (gint i = 0; i < sdcl_sampler_count (); i++)
    g_string_append_printf (names, "%s%s", i ? ", " : "", sdcl_sampler_name ((sdcl_sampler) i));
  return g_string_free (names, FALSE);
}

gchar *
sdcl_schedule_names (void)
{
  GString *names = g_string_new (NULL);

  for (gint i = 0; i < sdcl_schedule_count (); i++)
    g_string_append_printf (names, "%s%s", i ? ", " : "", sdcl_schedule_name ((sdcl_schedule) i));
  return g_string_free (names, FALSE);
}

gboolean
sdcl_prediction_from_name (const gchar            *name,
                           sdcl_prediction_choice *out)
{
  static const gchar *const names[] = SDCL_PREDICTION_NAMES;

  /* "" reads as "auto": a caller that never heard of the setting. */
  if (name && !*name)
    name = names[SDCL_PREDICTION_FROM_MODEL];
  for (gsize i = 0; name && i < G_N_ELEMENTS (names); i++)
    if (strcmp (name, names[i]) == 0)
      {
        *out = (sdcl_prediction_choice) i;
        return TRUE;
      }
  return FALSE;
}

gboolean
sdcl_prompt_syntax_from_name (const gchar        *name,
                              sdcl_prompt_syntax *out)
{
  static const gchar *const names[] = SDCL_PROMPT_SYNTAX_NAMES;

  /* "" reads as the default: a caller that never heard of the setting. */
  if (name && !*name)
    name = names[SDCL_PROMPT_A1111];
  for (gsize i = 0; name && i < G_N_ELEMENTS (names); i++)
    if (strcmp (name, names[i]) == 0)
      {
        *out = (sdcl_prompt_syntax) i;
        return TRUE;
      }
  return FALSE;
}

gchar **
sdcl_list_split (const gchar *list)
{
  gchar    **lines = g_strsplit_set (list ? list : "", "\n;", -1);
  GPtrArray *files = g_ptr_array_new ();

  for (gchar **l = lines; *l; l++)
    {
      g_strstrip (*l);
      if (**l)
        g_ptr_array_add (files, g_strdup (*l));
    }
  g_strfreev (lines);
  g_ptr_array_add (files, NULL);
  return (gchar **) g_ptr_array_free (files, FALSE);
}

/* The LoRA list and the embeddings: weights that parse and files that
 * exist, said before a model load rather than after it. */
static gboolean
validate_files (const SdclSettings *s,
                GError            **error)
{
  sdcl_error  err = { 0 };
  sdcl_lora  *loras = NULL;
  int         n_loras = 0;
  gchar     **embeddings;
  gboolean    ok = TRUE;

  if (sdcl_lora_list_parse (s->loras, &loras, &n_loras, &err) != SDCL_OK)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The LoRA list is not valid: %s"), err.message);
      return FALSE;
    }
  for (int i = 0; i < n_loras && ok; i++)
    if (!g_file_test (loras[i].path, G_FILE_TEST_IS_REGULAR))
      {
        g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                     _("The LoRA \"%s\" does not exist."), loras[i].path);
        ok = FALSE;
      }
  free (loras);
  embeddings = sdcl_list_split (s->embeddings);
  for (gchar **e = embeddings; ok && *e; e++)
    if (!g_file_test (*e, G_FILE_TEST_IS_REGULAR))
      {
        g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                     _("The embedding \"%s\" does not exist."), *e);
        ok = FALSE;
      }
  g_strfreev (embeddings);
  return ok;
}

/* The error for a sampler name the engine does not know. */
void
sdcl_set_unknown_sampler (GError      **error,
                          const gchar  *name)
{
  gchar *names = sdcl_sampler_names ();

  g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
               _("Unknown sampler \"%s\" (use one of %s)."), name, names);
  g_free (names);
}

void
sdcl_set_unknown_schedule (GError      **error,
                           const gchar  *name)
{
  gchar *names = sdcl_schedule_names ();

  g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
               _("Unknown schedule \"%s\" (use one of %s)."), name, names);
  g_free (names);
}

gboolean
sdcl_settings_validate (const SdclSettings *s,
                        SdclMode            mode,
                        GError            **error)
{
  sdcl_sampler           sampler;
  sdcl_schedule          schedule;
  sdcl_prediction_choice prediction;
  sdcl_prompt_syntax     syntax;

#define FAIL(...)                                                              \
  do                                                                           \
    {                                                                          \
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID, __VA_ARGS__); \
      return FALSE;                                                            \
    }                                                                          \
  while (0)

  {
    gchar *path = sdcl_model_path_resolve (s->model, mode, error);

    if (!path)
      return FALSE;
    g_free (path);
  }
  if (!sdcl_sampler_from_name (s->sampler, &sampler))
    {
      sdcl_set_unknown_sampler (error, s->sampler);
      return FALSE;
    }
  if (!sdcl_schedule_from_name (s->schedule, &schedule))
    {
      sdcl_set_unknown_schedule (error, s->schedule);
      return FALSE;
    }
  if (!sdcl_sampler_has_schedule (sampler, schedule))
    FAIL (_("The %s sampler does not take the %s schedule: pick another schedule or sampler."),
          _(sdcl_sampler_label (sampler)), _(sdcl_schedule_label (schedule)));
  if (!sdcl_prediction_from_name (s->prediction, &prediction))
    FAIL (_("Unknown prediction \"%s\" (use auto, eps or v)."), s->prediction);
  if (!sdcl_prompt_syntax_from_name (s->prompt_syntax, &syntax))
    FAIL (_("Unknown prompt syntax \"%s\" (use a1111 or plain)."), s->prompt_syntax);
  if (s->steps < 1 || s->steps > SDCL_STEPS_MAX)
    FAIL (_("Steps must be between 1 and %d, not %d."), SDCL_STEPS_MAX, s->steps);
  if (!(s->guidance >= 0.0 && s->guidance <= SDCL_GUIDANCE_MAX))
    FAIL (_("Guidance must be between 0 and %g, not %g."), SDCL_GUIDANCE_MAX, s->guidance);
  if (s->seed < SDCL_SEED_RANDOM)
    FAIL (_("The seed must be -1 (random) or a number from 0 up, not %d."), s->seed);

  if (mode == SDCL_MODE_TXT2IMG)
    {
      /* Latents are 1/8 of the image; the engine needs whole cells.  0 is
       * the model's native size. */
      if (!sdcl_size_valid (s->width) || !sdcl_size_valid (s->height))
        FAIL (_("Width and height must be 0 (the model's native size) or multiples of 8 from "
                "%d to %d, not %d x %d."),
              SDCL_SIZE_MIN, SDCL_SIZE_MAX, s->width, s->height);
    }
  else
    {
      if (!(s->strength >= 0.0 && s->strength <= 1.0))
        FAIL (_("Strength must be between 0 and 1, not %g."), s->strength);
    }

  if (mode == SDCL_MODE_INPAINT)
    {
      if (!(s->mask_blur >= 0.0 && s->mask_blur <= SDCL_BLUR_MAX))
        FAIL (_("Mask blur must be between 0 and %g pixels, not %g."), SDCL_BLUR_MAX, s->mask_blur);
      if (s->padding < 0 || s->padding > SDCL_PADDING_MAX)
        FAIL (_("Padding must be between 0 and %d pixels, not %d."), SDCL_PADDING_MAX, s->padding);
    }
  if (s->batch_count < 1 || s->batch_count > SDCL_BATCH_MAX)
    FAIL (_("The batch count must be between 1 and %d, not %d."), SDCL_BATCH_MAX, s->batch_count);
  if (mode == SDCL_MODE_OUTPAINT)
    for (gint i = 0; i < 4; i++)
      if (s->grow[i] < 0 || s->grow[i] > SDCL_GROW_MAX)
        FAIL (_("The canvas can grow by 0 to %d pixels on each side, not %d."), SDCL_GROW_MAX,
              s->grow[i]);
#undef FAIL
  return validate_files (s, error);
}

gchar *
sdcl_model_path_resolve (const gchar *model,
                         SdclMode     mode,
                         GError     **error)
{
  sdcl_error err = { 0 };
  char      *path;
  gchar     *result;

  if (model && *model)
    {
      if (!g_file_test (model, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                       _("The model \"%s\" does not exist."), model);
          return NULL;
        }
      /* Absolute, so that the model server (whose folder may differ) and the
       * session's "same model?" test see one name for it. */
      return g_canonicalize_filename (model, NULL);
    }

  /* No model named: the demo model, its 9-channel variant for inpainting. */
  path = sdcl_default_model_path (mode == SDCL_MODE_INPAINT || mode == SDCL_MODE_OUTPAINT, &err);
  if (!path)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("No model chosen and the demo model is not installed (%s): give the path "
                     "of a diffusers folder or a .safetensors file."), err.message);
      return NULL;
    }
  result = g_strdup (path);
  free (path);
  return result;
}

const gchar *
sdcl_release_label (void)
{
  return N_("_Release Model Memory");
}

const gchar *
sdcl_release_blurb (void)
{
  return N_("Free the memory of the Stable Diffusion model that stays loaded between runs");
}

const gchar *
sdcl_release_message (gboolean released)
{
  return released ? _("The model's memory was released.")
                  : _("No model was loaded: there was no memory to release.");
}

const gchar *
sdcl_mode_procedure (SdclMode mode)
{
  switch (mode)
    {
    case SDCL_MODE_TXT2IMG: return "plug-in-sdcl-txt2img";
    case SDCL_MODE_IMG2IMG: return "plug-in-sdcl-img2img";
    case SDCL_MODE_INPAINT: return "plug-in-sdcl-inpaint";
    case SDCL_MODE_OUTPAINT: return "plug-in-sdcl-outpaint";
    }
  g_return_val_if_reached (NULL);
}

const gchar *
sdcl_mode_label (SdclMode mode)
{
  switch (mode)
    {
    case SDCL_MODE_TXT2IMG: return N_("_Text to Image…");
    case SDCL_MODE_IMG2IMG: return N_("_Image to Image…");
    case SDCL_MODE_INPAINT: return N_("In_paint…");
    case SDCL_MODE_OUTPAINT: return N_("_Outpaint…");
    }
  g_return_val_if_reached (NULL);
}

const gchar *
sdcl_mode_title (SdclMode mode)
{
  switch (mode)
    {
    case SDCL_MODE_TXT2IMG: return N_("Text to Image");
    case SDCL_MODE_IMG2IMG: return N_("Image to Image");
    case SDCL_MODE_INPAINT: return N_("Inpaint");
    case SDCL_MODE_OUTPAINT: return N_("Outpaint");
    }
  g_return_val_if_reached (NULL);
}

const gchar *
sdcl_mode_blurb (SdclMode mode)
{
  switch (mode)
    {
    case SDCL_MODE_TXT2IMG:
      return N_("Generate a new layer from a text prompt with Stable Diffusion");
    case SDCL_MODE_IMG2IMG:
      return N_("Redraw the active layer (or the selected part of it) following a prompt, "
               "as a new layer");
    case SDCL_MODE_INPAINT:
      return N_("Repaint the selected area of the active layer following a prompt, "
               "as a new layer masked by the selection");
    case SDCL_MODE_OUTPAINT:
      return N_("Extend the picture: grow the canvas and fill the new border (and the "
               "active layer's transparent pixels) following a prompt, as a new layer");
    }
  g_return_val_if_reached (NULL);
}

/* sdcl GIMP plug-in: the part below the GIMP API (see sdcl-gimp-core.h).
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
static void
set_unknown_sampler (GError      **error,
                     const gchar  *name)
{
  gchar *names = sdcl_sampler_names ();

  g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
               _("Unknown sampler \"%s\" (use one of %s)."), name, names);
  g_free (names);
}

static void
set_unknown_schedule (GError      **error,
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
      set_unknown_sampler (error, s->sampler);
      return FALSE;
    }
  if (!sdcl_schedule_from_name (s->schedule, &schedule))
    {
      set_unknown_schedule (error, s->schedule);
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

/* ---- session -------------------------------------------------------------- */

struct _SdclSession
{
  sdcl_ctx   *ctx;
  sdcl_model *model;
  gchar      *device;     /* what ctx was made for */
  gchar      *model_path; /* what model was loaded from */
  sdcl_prediction_choice prediction; /* and with which override */
  gchar      *program;    /* resident: the binary that serves models; NULL: in-process */
};

SdclSession *
sdcl_session_new (void)
{
  return g_new0 (SdclSession, 1);
}

SdclSession *
sdcl_session_new_resident (const gchar *program)
{
  SdclSession *session = sdcl_session_new ();
  const gchar *resident = g_getenv ("SDCL_GIMP_RESIDENT");

  if (program && sdcl_remote_supported () && g_strcmp0 (resident, "0") != 0)
    session->program = g_strdup (program);
  return session;
}

void
sdcl_session_release (SdclSession *session)
{
  /* The model lives on the context's device: free it first. */
  g_clear_pointer (&session->model, sdcl_model_free);
  g_clear_pointer (&session->ctx, sdcl_ctx_free);
  g_clear_pointer (&session->device, g_free);
  g_clear_pointer (&session->model_path, g_free);
}

void
sdcl_session_free (SdclSession *session)
{
  if (!session)
    return;
  sdcl_session_release (session);
  g_free (session->program);
  g_free (session);
}

gboolean
sdcl_session_is_loaded (SdclSession *session)
{
  return session->model != NULL;
}

/* A resident session whose server cannot be reached works in-process from
 * then on: slower, but the user gets the image. */
static void
fall_back_in_process (SdclSession *session)
{
  sdcl_log ("no model server: running in the plug-in process");
  g_clear_pointer (&session->program, g_free);
}

static void
set_engine_error (GError          **error,
                  const sdcl_error *err,
                  const gchar      *what)
{
  if (err->code == SDCL_ERR_CANCELLED)
    g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_CANCELLED, _("Cancelled."));
  else
    /* The engine's message is English and names the cause precisely; the
     * translated prefix says which stage failed. */
    g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_ENGINE, "%s: %s (%s)", what,
                 err->message, sdcl_status_name (err->code));
}

sdcl_model *
sdcl_session_get_model (SdclSession  *session,
                        const gchar  *device,
                        const gchar  *prediction,
                        const gchar  *model_path,
                        GError      **error)
{
  sdcl_error             err = { 0 };
  sdcl_prediction_choice choice = SDCL_PREDICTION_FROM_MODEL;

  if (prediction && !sdcl_prediction_from_name (prediction, &choice))
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("Unknown prediction \"%s\" (use auto, eps or v)."), prediction);
      return NULL;
    }

  device = device ? device : "";
  if (session->ctx && g_strcmp0 (session->device, device) != 0)
    sdcl_session_release (session);

  if (session->model && g_strcmp0 (session->model_path, model_path) == 0 &&
      session->prediction == choice)
    {
      sdcl_log ("model reused: %s", model_path);
      return session->model;
    }
  /* Only one model at a time: real checkpoints take gigabytes of device
   * memory, so the old one goes before the new one loads. */
  g_clear_pointer (&session->model, sdcl_model_free);
  g_clear_pointer (&session->model_path, g_free);

  if (!session->ctx)
    {
      sdcl_ctx_params cp = sdcl_ctx_default_params ();

      cp.device = device;
      if (sdcl_ctx_new (&cp, &session->ctx, &err) != SDCL_OK)
        {
          set_engine_error (error, &err, _("Could not open the OpenCL device"));
          return NULL;
        }
      session->device = g_strdup (device);
    }

  sdcl_model_params mp = sdcl_model_default_params ();
  mp.prediction = choice;
  if (sdcl_model_load (session->ctx, model_path, &mp, &session->model, &err) != SDCL_OK)
    {
      set_engine_error (error, &err, _("Could not load the model"));
      return NULL;
    }
  session->model_path = g_strdup (model_path);
  session->prediction = choice;
  sdcl_log ("model loaded: %s", model_path);
  return session->model;
}

gboolean
sdcl_session_load_local (SdclSession  *session,
                         const gchar  *device,
                         const gchar  *prediction,
                         const gchar  *model_path,
                         gchar       **description,
                         gint         *native_size,
                         GError      **error)
{
  sdcl_model *model = sdcl_session_get_model (session, device, prediction, model_path, error);

  if (model)
    {
      sdcl_model_info info;

      sdcl_model_get_info (model, &info);
      if (description)
        *description = sdcl_model_info_describe (&info);
      if (native_size)
        *native_size = info.native_resolution;
    }
  return model != NULL;
}

gboolean
sdcl_session_load (SdclSession  *session,
                   const gchar  *device,
                   const gchar  *prediction,
                   const gchar  *model_path,
                   gchar       **description,
                   gint         *native_size,
                   GError      **error)
{
  if (session->program)
    {
      switch (sdcl_remote_load (session->program, device, prediction, model_path, description,
                                native_size, error))
        {
        case SDCL_REMOTE_OK:          return TRUE;
        case SDCL_REMOTE_FAILED:      return FALSE;
        case SDCL_REMOTE_UNAVAILABLE: fall_back_in_process (session); break;
        }
    }
  return sdcl_session_load_local (session, device, prediction, model_path, description,
                                  native_size, error);
}

gboolean
sdcl_session_prepare (SdclSession        *session,
                      const SdclSettings *settings,
                      SdclMode            mode,
                      GError            **error)
{
  gchar   *path;
  gboolean ok;

  sdcl_log ("%s: \"%s\"", sdcl_mode_procedure (mode), settings->prompt);
  if (!sdcl_settings_validate (settings, mode, error))
    return FALSE;
  path = sdcl_model_path_resolve (settings->model, mode, error);
  ok = path && sdcl_session_load (session, settings->device, settings->prediction, path, NULL,
                                  NULL, error);
  g_free (path);
  return ok;
}

gchar *
sdcl_model_info_describe (const sdcl_model_info *info)
{
  gchar *params;
  gchar *bytes = g_format_size (info->device_bytes);
  gchar *text;

  /* SD checkpoints have around a billion parameters, test models far
   * fewer: pick the unit that keeps the number readable. */
  if (info->n_parameters >= 1000000000u)
    /* TRANSLATORS: a parameter count, e.g. "1.07 billion" */
    params = g_strdup_printf (_("%.2f billion"), info->n_parameters / 1e9);
  else
    /* TRANSLATORS: a parameter count, e.g. "12.3 million" */
    params = g_strdup_printf (_("%.1f million"), info->n_parameters / 1e6);

  /* Which kind of model it is and the size it was trained at come first:
   * the dialog's width and height follow that size. */
  if (info->unet_in_channels == 9)
    /* TRANSLATORS: family, native width and height, parameter count, size on
     * the GPU, e.g. "SD 1.x inpainting model for 512×512 pixels, 1.07
     * billion parameters, 2.1 GB on the device". */
    text = g_strdup_printf (_("%s inpainting model for %d×%d pixels, %s parameters, %s on the "
                              "device"),
                            info->family_name ? info->family_name : "?",
                            info->native_resolution, info->native_resolution, params, bytes);
  else
    /* TRANSLATORS: as the inpainting variant above, for an ordinary model:
     * "SD 1.x model for 512×512 pixels, 1.07 billion parameters, 2.1 GB on
     * the device". */
    text = g_strdup_printf (_("%s model for %d×%d pixels, %s parameters, %s on the device"),
                            info->family_name ? info->family_name : "?",
                            info->native_resolution, info->native_resolution, params, bytes);
  g_free (params);
  g_free (bytes);
  return text;
}

/* ---- generation ------------------------------------------------------------- */

typedef struct
{
  SdclStepFunc  func;
  gpointer      data;
  volatile int *cancel;
} StepRelay;

static bool
relay_step (int               step,
            int               n_steps,
            const sdcl_image *preview,
            void             *user_data)
{
  StepRelay *relay = user_data;

  if (relay->func && !relay->func (step, n_steps, preview, relay->data))
    *relay->cancel = 1;
  return !*relay->cancel;
}

/* The engine's warnings (a mask blurred to nothing, ...): in the plug-in
 * g_message reaches GIMP's message console. */
static void
relay_warning (const char *message,
               void       *user_data)
{
  g_message ("%s", message);
}

static const Babl *
rgb_format (const Babl *space)
{
  return babl_format_with_space ("R'G'B' float", space);
}

static gboolean
read_source (const SdclJob *job,
             sdcl_image    *init,
             GError       **error)
{
  const GeglRectangle *r = &job->area;

  if (!job->source || r->width < 1 || r->height < 1)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("There is nothing to work on: the layer or selected area is empty."));
      return FALSE;
    }
  init->width    = r->width;
  init->height   = r->height;
  init->channels = 3;
  init->data     = g_try_new (float, (gsize) r->width * r->height * 3);
  if (!init->data)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The area of %d x %d pixels is too large."), r->width, r->height);
      return FALSE;
    }
  /* Alpha is dropped, not multiplied in: the model redraws colours, and the
   * new layer is opaque (inpainting shows it only through its mask). */
  gegl_buffer_get (job->source, r, 1.0, rgb_format (job->space), init->data,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  return TRUE;
}

static gboolean
read_mask (const SdclJob *job,
           sdcl_image    *mask,
           GError       **error)
{
  GeglRectangle r = { job->mask_x, job->mask_y, job->area.width, job->area.height };
  gsize         n = (gsize) r.width * r.height;
  gboolean      any = FALSE;

  mask->width    = r.width;
  mask->height   = r.height;
  mask->channels = 1;
  mask->data     = g_new (float, n);
  /* Selection values are coverage, i.e. linear: "Y float" reads them as they
   * are, so a feathered edge becomes a soft mask.  Parts of the layer that
   * hang outside the canvas cannot be selected and read as 0 (keep). */
  gegl_buffer_get (job->mask, &r, 1.0, babl_format ("Y float"), mask->data,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  for (gsize i = 0; i < n && !any; i++)
    any = mask->data[i] > 0.0f;
  if (!any)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The selection does not touch the active layer: select the part of the "
                     "layer to repaint."));
      return FALSE;
    }
  return TRUE;
}

gboolean
sdcl_run_engine (SdclSession        *session,
                 const SdclSettings *settings,
                 SdclMode            mode,
                 const gchar        *model_path,
                 gint                seed,
                 const sdcl_image   *init,
                 const sdcl_image   *mask,
                 SdclStepFunc        step,
                 gpointer            step_data,
                 volatile int       *cancel,
                 sdcl_image         *out,
                 GError            **error)
{
  StepRelay       relay = { step, step_data, cancel };
  sdcl_error      err   = { 0 };
  sdcl_status     st    = SDCL_OK;
  sdcl_model     *model;
  sdcl_gen_params p;
  sdcl_lora      *loras = NULL;
  gchar         **embeddings;

  memset (out, 0, sizeof *out);
  model = sdcl_session_get_model (session, settings->device, settings->prediction, model_path,
                                  error);
  if (!model)
    return FALSE;

  p = sdcl_gen_default_params ();
  p.prompt          = settings->prompt;
  p.negative_prompt = settings->negative;
  p.steps           = settings->steps;
  p.guidance        = (float) settings->guidance;
  if (!sdcl_sampler_from_name (settings->sampler, &p.sampler))
    {
      set_unknown_sampler (error, settings->sampler);
      return FALSE;
    }
  if (!sdcl_schedule_from_name (settings->schedule, &p.schedule))
    {
      set_unknown_schedule (error, settings->schedule);
      return FALSE;
    }
  p.seed         = (uint64_t) seed;
  p.progress     = relay_step;
  p.warning      = relay_warning;
  p.user_data    = &relay;
  /* The engine polls this between kernels: a cancel set from another
   * thread (the model server's watch on its client) stops it mid-step. */
  p.cancel       = cancel;
  p.strength     = (float) settings->strength;
  p.mask_blur    = (float) settings->mask_blur;
  p.only_masked  = settings->only_masked;
  p.tiling       = settings->tiling;
  p.preview      = settings->preview;
  p.mask_padding = settings->padding;
  if (!sdcl_prompt_syntax_from_name (settings->prompt_syntax, &p.prompt_syntax) ||
      sdcl_lora_list_parse (settings->loras, &loras, &p.n_loras, &err) != SDCL_OK)
    {
      /* Validated before: only a client that skipped it gets here. */
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The LoRA list or the prompt syntax is not valid."));
      return FALSE;
    }
  /* The kept model applies the list, and reuses what it read while the
   * list stays the same (sdcl_gen_params.loras). */
  p.loras        = loras;
  embeddings     = sdcl_list_split (settings->embeddings);
  p.embeddings   = (const char *const *) embeddings;
  p.n_embeddings = (int) g_strv_length (embeddings);

  switch (mode)
    {
    case SDCL_MODE_TXT2IMG:
      p.width  = settings->width;
      p.height = settings->height;
      st = sdcl_txt2img (model, &p, out, &err);
      break;
    case SDCL_MODE_IMG2IMG:
      st = sdcl_img2img (model, &p, init, out, &err);
      break;
    case SDCL_MODE_INPAINT:
    case SDCL_MODE_OUTPAINT:
      st = sdcl_inpaint (model, &p, init, mask, out, &err);
      break;
    }
  free (loras);
  g_strfreev (embeddings);
  if (st != SDCL_OK)
    {
      set_engine_error (error, &err, _("Generation failed"));
      return FALSE;
    }
  if (out->channels != 3 || out->width < 1 || out->height < 1)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_ENGINE,
                   _("The engine returned an image of an unexpected shape."));
      sdcl_image_free (out);
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  SdclProgressFunc func;
  gpointer         data;
  const gchar     *prompt;
} ProgressRelay;

/* Steps (from the engine here, or from the model server) to the glue's
 * progress function, which updates GIMP's progress bar. */
static gboolean
relay_progress (gint              step,
                gint              n_steps,
                const sdcl_image *preview,
                gpointer          user_data)
{
  ProgressRelay *relay = user_data;
  gboolean       go_on = TRUE;

  if (relay->func)
    go_on = relay->func ((gdouble) step / MAX (n_steps, 1), preview, relay->data);
  sdcl_test_cancel_hook (relay->prompt, step);
  return go_on;
}

/* The list's files made absolute: the model server's folder may not be
 * the plug-in's, and the kept model knows a LoRA by its path. */
static void
absolute_lists (SdclSettings *s)
{
  sdcl_lora *loras = NULL;
  int        n = 0;
  sdcl_error err = { 0 };
  GString   *text = g_string_new (NULL);
  gchar    **embeddings = sdcl_list_split (s->embeddings);

  if (sdcl_lora_list_parse (s->loras, &loras, &n, &err) == SDCL_OK)
    {
      for (int i = 0; i < n; i++)
        {
          gchar *path = g_canonicalize_filename (loras[i].path, NULL);
          gchar  weight[G_ASCII_DTOSTR_BUF_SIZE];

          /* Not printf's %g: it writes "0,8" in a German locale. */
          g_string_append_printf (text, "%s:%s\n", path,
                                  g_ascii_formatd (weight, sizeof weight, "%.6g", loras[i].weight));
          g_free (path);
        }
      g_strlcpy (s->loras, text->str, sizeof s->loras);
    }
  free (loras);
  g_string_truncate (text, 0);
  for (gchar **e = embeddings; *e; e++)
    {
      gchar *path = g_canonicalize_filename (*e, NULL);

      g_string_append_printf (text, "%s\n", path);
      g_free (path);
    }
  g_strlcpy (s->embeddings, text->str, sizeof s->embeddings);
  g_string_free (text, TRUE);
  g_strfreev (embeddings);
}

gboolean
sdcl_generate (SdclSession        *session,
               const SdclSettings *settings,
               const SdclJob      *job,
               SdclProgressFunc    progress,
               gpointer            progress_data,
               sdcl_image         *out,
               gint               *used_seed,
               GError            **error)
{
  sdcl_image    init  = { 0 }, mask = { 0 };
  ProgressRelay relay = { progress, progress_data, settings->prompt };
  /* Outpainting is inpainting of a prepared image: the engine (and the
   * model server) only ever see the latter.  Its mask is the layer's
   * alpha, exact: no blur spreads the change into the known pixels. */
  SdclMode      engine_mode = job->mode == SDCL_MODE_OUTPAINT ? SDCL_MODE_INPAINT : job->mode;
  SdclSettings  run = *settings;
  volatile int  cancel = 0;
  gchar        *model_path = NULL;
  gboolean      ok = FALSE;

  memset (out, 0, sizeof *out);
  if (!sdcl_settings_validate (settings, job->mode, error))
    return FALSE;
  model_path = sdcl_model_path_resolve (settings->model, job->mode, error);
  if (!model_path)
    return FALSE;

  absolute_lists (&run);

  /* Read the inputs first: a bad selection should not cost a model load. */
  if (job->mode == SDCL_MODE_OUTPAINT)
    {
      run.mask_blur   = 0.0;
      run.only_masked = FALSE;
      if (!sdcl_read_outpaint (job, &init, &mask, error))
        goto out;
    }
  else if (job->mode != SDCL_MODE_TXT2IMG && !read_source (job, &init, error))
    goto out;
  if (job->mode == SDCL_MODE_INPAINT && !read_mask (job, &mask, error))
    goto out;

  /* Seeds stay within a PDB int so the used seed can be returned and typed
   * back in. */
  *used_seed = settings->seed == SDCL_SEED_RANDOM ? g_random_int_range (0, G_MAXINT)
                                                   : settings->seed;

  if (session->program)
    {
      switch (sdcl_remote_generate (session->program, &run, engine_mode, model_path, *used_seed,
                                    init.data ? &init : NULL, mask.data ? &mask : NULL,
                                    relay_progress, &relay, out, error))
        {
        case SDCL_REMOTE_OK:          ok = TRUE; goto out;
        case SDCL_REMOTE_FAILED:      goto out;
        case SDCL_REMOTE_UNAVAILABLE: fall_back_in_process (session); break;
        }
    }
  ok = sdcl_run_engine (session, &run, engine_mode, model_path, *used_seed,
                        init.data ? &init : NULL, mask.data ? &mask : NULL,
                        relay_progress, &relay, &cancel, out, error);

out:
  sdcl_image_free (&init);
  sdcl_image_free (&mask);
  g_free (model_path);
  return ok;
}

void
sdcl_write_image (GeglBuffer       *dest,
                  const sdcl_image *image,
                  const Babl       *space)
{
  const GeglRectangle *extent = gegl_buffer_get_extent (dest);
  GeglRectangle        r = { extent->x, extent->y, image->width, image->height };

  gegl_buffer_set (dest, &r, 0, rgb_format (space), image->data, GEGL_AUTO_ROWSTRIDE);
}

gchar *
sdcl_layer_name (const gchar *prompt,
                 gint         seed)
{
  /* Layer names are one line: collapse runs of whitespace and keep the
   * start of long prompts. */
  const gsize max_chars = 48;
  GString    *s = g_string_new (NULL);
  gboolean    space = FALSE;
  gchar      *name;

  for (const gchar *p = prompt ? prompt : ""; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c))
        {
          space = s->len > 0;
          continue;
        }
      if (g_utf8_strlen (s->str, -1) >= (glong) max_chars)
        {
          g_string_append (s, "…");
          break;
        }
      if (space)
        g_string_append_c (s, ' ');
      space = FALSE;
      g_string_append_unichar (s, c);
    }

  if (s->len == 0)
    /* TRANSLATORS: name of a layer made from an empty prompt; %d is the seed */
    name = g_strdup_printf (_("Generated (seed %d)"), seed);
  else
    /* TRANSLATORS: layer name; %s is the prompt, %d the seed */
    name = g_strdup_printf (_("%s (seed %d)"), s->str, seed);
  g_string_free (s, TRUE);
  return name;
}

void
sdcl_batch_add_layers (const SdclBatch    *batch,
                       const SdclSettings *made,
                       gint                x,
                       gint                y,
                       SdclAddLayerFunc    add,
                       gpointer            user_data)
{
  static const gint no_growth[4] = { 0, 0, 0, 0 };

  for (gint i = 0; i < batch->count; i++)
    {
      gchar *name = sdcl_layer_name (made->prompt, batch->seeds[i]);

      add (i, &batch->images[i], name, i ? x + made->grow[0] : x, i ? y + made->grow[1] : y,
           i ? no_growth : made->grow, user_data);
      g_free (name);
    }
}

/* sdcl GIMP plug-in: the session, which keeps one model loaded, in this
 * process or through the model server (see sdcl-gimp-core.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-gimp-private.h"

struct _SdclSession
{
  sdcl_ctx   *ctx;
  sdcl_model *model;
  gchar      *device;     /* what ctx was made for */
  gchar      *model_path; /* what model was loaded from */
  sdcl_prediction_choice prediction; /* and with which override */
  sdcl_model_variant variant;        /* and variant */
  gchar      *program;    /* resident: the binary that serves models; NULL: in-process */
};

const gchar *
sdcl_session_program (SdclSession *session)
{
  return session->program;
}

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
void
sdcl_session_fall_back (SdclSession *session)
{
  sdcl_log ("no model server: running in the plug-in process");
  g_clear_pointer (&session->program, g_free);
}

void
sdcl_set_engine_error (GError          **error,
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
                        gboolean      turbo,
                        const gchar  *model_path,
                        GError      **error)
{
  sdcl_error             err = { 0 };
  sdcl_prediction_choice choice = SDCL_PREDICTION_FROM_MODEL;
  sdcl_model_variant     variant = turbo ? SDCL_VARIANT_TURBO : SDCL_VARIANT_FROM_MODEL;

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
      session->prediction == choice && session->variant == variant)
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
          sdcl_set_engine_error (error, &err, _("Could not open the OpenCL device"));
          return NULL;
        }
      session->device = g_strdup (device);
    }

  sdcl_model_params mp = sdcl_model_default_params ();
  mp.prediction = choice;
  mp.variant = variant;
  if (sdcl_model_load (session->ctx, model_path, &mp, &session->model, &err) != SDCL_OK)
    {
      sdcl_set_engine_error (error, &err, _("Could not load the model"));
      return NULL;
    }
  session->model_path = g_strdup (model_path);
  session->prediction = choice;
  session->variant = variant;
  sdcl_log ("model loaded: %s", model_path);
  return session->model;
}

gboolean
sdcl_session_load_local (SdclSession      *session,
                         const gchar      *device,
                         const gchar      *prediction,
                         gboolean          turbo,
                         const gchar      *model_path,
                         SdclModelSummary *summary,
                         GError          **error)
{
  sdcl_model *model = sdcl_session_get_model (session, device, prediction, turbo, model_path,
                                              error);

  if (model && summary)
    {
      sdcl_model_info info;
      sdcl_gen_params defaults = sdcl_gen_model_params (model);

      sdcl_model_get_info (model, &info);
      summary->description = sdcl_model_info_describe (&info);
      summary->native_size = info.native_resolution;
      summary->turbo       = info.turbo;
      g_strlcpy (summary->sampler, sdcl_sampler_name (defaults.sampler), sizeof summary->sampler);
      g_strlcpy (summary->schedule, sdcl_schedule_name (defaults.schedule),
                 sizeof summary->schedule);
      summary->steps       = defaults.steps;
      summary->guidance    = defaults.guidance;
    }
  return model != NULL;
}

gboolean
sdcl_session_load (SdclSession      *session,
                   const gchar      *device,
                   const gchar      *prediction,
                   gboolean          turbo,
                   const gchar      *model_path,
                   SdclModelSummary *summary,
                   GError          **error)
{
  if (session->program)
    {
      switch (sdcl_remote_load (session->program, device, prediction, turbo, model_path, summary,
                                error))
        {
        case SDCL_REMOTE_OK:          return TRUE;
        case SDCL_REMOTE_FAILED:      return FALSE;
        case SDCL_REMOTE_UNAVAILABLE: sdcl_session_fall_back (session); break;
        }
    }
  return sdcl_session_load_local (session, device, prediction, turbo, model_path, summary,
                                  error);
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
  ok = path && sdcl_session_load (session, settings->device, settings->prediction,
                                  settings->turbo, path, NULL, error);
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
  if (info->turbo)
    {
      /* The engine runs it as its model card says (sdcl_gen_model_params). */
      gchar *turbo = g_strdup_printf ("%s. %s", text,
                                      _("Turbo: 1 to 4 steps without guidance"));

      g_free (text);
      text = turbo;
    }
  return text;
}

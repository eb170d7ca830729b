/* sdcl GIMP plug-in: what sdcl-gimp-core.c and sdcl-gimp-server.c share and
 * the glue files do not need.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GIMP_PRIVATE_H
#define SDCL_GIMP_PRIVATE_H

#include "sdcl-gimp-core.h"

G_BEGIN_DECLS

/* Called after every denoising step; FALSE cancels.  `preview` is the
 * engine's cheap rendering of the step (SdclSettings.preview), else NULL. */
typedef gboolean (*SdclStepFunc) (gint              step,
                                  gint              n_steps,
                                  const sdcl_image *preview,
                                  gpointer          user_data);

/* Runs the engine on already-read inputs with a model the session loads
 * (or already has).  `model_path` is resolved (no "" default), `seed` the
 * seed to use; `init`/`mask` are NULL when the mode has none.  `cancel` is
 * polled by the engine between kernels and may be set from any thread. */
gboolean sdcl_run_engine (SdclSession        *session,
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
                          GError            **error);

/* Outpainting's engine inputs from job->source (sdcl-gimp-outpaint.c): the
 * colours with the transparent pixels pre-filled, and the mask 1 - alpha.
 * Fails naming the cause when nothing is transparent or nothing is not. */
gboolean sdcl_read_outpaint (const SdclJob *job,
                             sdcl_image    *init,
                             sdcl_image    *mask,
                             GError       **error);

/* The model server's program of a resident session (NULL: in-process). */
const gchar *sdcl_session_program   (SdclSession *session);
/* A resident session whose server cannot be reached works in-process from
 * then on. */
void         sdcl_session_fall_back (SdclSession *session);

/* The errors shared by the settings checks, the session and a run. */
void sdcl_set_unknown_sampler  (GError          **error,
                                const gchar      *name);
void sdcl_set_unknown_schedule (GError          **error,
                                const gchar      *name);
/* An engine failure: cancelled, or `what` (translated) and the engine's
 * message. */
void sdcl_set_engine_error     (GError          **error,
                                const sdcl_error *err,
                                const gchar      *what);

/* The in-process part of sdcl_session_load(). */
gboolean sdcl_session_load_local (SdclSession      *session,
                                  const gchar      *device,
                                  const gchar      *prediction,
                                  gboolean          turbo,
                                  const gchar      *model_path,
                                  SdclModelSummary *summary,
                                  GError          **error);

/* ---- the resident model server (sdcl-gimp-server.c) ---------------------- */

typedef enum
{
  SDCL_REMOTE_OK,
  SDCL_REMOTE_FAILED,     /* the server answered with an error (in `error`) */
  SDCL_REMOTE_UNAVAILABLE /* no server could be reached or started */
} SdclRemoteStatus;

SdclRemoteStatus sdcl_remote_load     (const gchar        *program,
                                       const gchar        *device,
                                       const gchar        *prediction,
                                       gboolean            turbo,
                                       const gchar        *model_path,
                                       SdclModelSummary   *summary,
                                       GError            **error);
SdclRemoteStatus sdcl_remote_generate (const gchar        *program,
                                       const SdclSettings *settings,
                                       SdclMode            mode,
                                       const gchar        *model_path,
                                       gint                seed,
                                       const sdcl_image   *init,
                                       const sdcl_image   *mask,
                                       SdclStepFunc        step,
                                       gpointer            step_data,
                                       sdcl_image         *out,
                                       GError            **error);
/* FALSE when the platform cannot run a separate model server. */
gboolean sdcl_remote_supported (void);

/* Test hook: with $SDCL_GIMP_TEST_CANCEL_PROMPT set to `prompt`, ends the
 * plug-in process at `step` >= 1 the way GIMP's Cancel does (SIGKILL; see
 * sdcl-gimp-server.c). */
void sdcl_test_cancel_hook (const gchar *prompt,
                            gint         step);

/* Appends a line to $SDCL_GIMP_LOG (when set): what the tests read to see
 * which process loaded which model. */
void sdcl_log (const gchar *format,
               ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS

#endif /* SDCL_GIMP_PRIVATE_H */

/* sdcl GIMP plug-in: the settings dialog, shared by the GIMP 2.10 (GTK 2)
 * and GIMP 3.0 (GTK 3) builds.  It edits an SdclSettings and knows nothing
 * of the PDB; the glue loads and stores the values.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_DIALOG_H
#define SDCL_DIALOG_H

#include "sdcl-gimp-core.h"

G_BEGIN_DECLS

/* Shows the dialog for `mode` (gimp_ui_init must have run).  On OK the
 * edited values are in `settings` and TRUE is returned.  `session` is used
 * to describe the chosen model (loading it, so the run that follows does
 * not load it again); `prefs_file` keeps the models folder.  `blocker`,
 * when not NULL, says why the procedure cannot run on this image (Inpaint
 * without a selection): the dialog shows it and OK stays insensitive. */
/* The glue's generation for the dialog's Generate button: makes
 * settings->batch_count images of the current image into `batch`, calling
 * `progress` (which shows the steps and returns FALSE on Stop). */
typedef gboolean (*SdclDialogGenerate) (const SdclSettings *settings,
                                        SdclProgressFunc    progress,
                                        gpointer            progress_data,
                                        SdclBatch          *batch,
                                        GError            **error,
                                        gpointer            user_data);

/* With `generate` the dialog has a Generate button: it runs the batch with
 * the dialog open, showing every step's picture, with Stop; the user then
 * picks images and OK returns them in `batch` (already made: the glue only
 * adds them).  Without Generate, OK returns an empty `batch` and the glue
 * generates as before. */
gboolean sdcl_dialog_run (SdclMode            mode,
                          const gchar        *help_id,
                          const gchar        *prefs_file,
                          const gchar        *blocker,
                          SdclSession        *session,
                          SdclSettings       *settings,
                          SdclDialogGenerate  generate,
                          gpointer            generate_data,
                          SdclBatch          *batch);

G_END_DECLS

#endif /* SDCL_DIALOG_H */

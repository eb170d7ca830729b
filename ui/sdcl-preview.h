/* sdcl GIMP plug-in: the dialog's live preview (see sdcl-dialog.c).
 *
 * A picture that shows each step of a generation as it comes, a progress
 * bar, and once the batch is done one toggle thumbnail per image so the
 * user picks the ones to add.  GTK 2 and GTK 3 alike.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_PREVIEW_H
#define SDCL_PREVIEW_H

#include <gtk/gtk.h>

#include "sdcl-gimp-core.h"

G_BEGIN_DECLS

typedef struct _SdclPreview SdclPreview;

SdclPreview *sdcl_preview_new        (void);
void         sdcl_preview_free       (SdclPreview      *preview);
GtkWidget   *sdcl_preview_widget     (SdclPreview      *preview);
/* A new run: clears the picture and the thumbnails. */
void         sdcl_preview_start      (SdclPreview      *preview);
/* One step: the progress and, when not NULL, the step's picture. */
void         sdcl_preview_step       (SdclPreview      *preview,
                                      gdouble           fraction,
                                      const sdcl_image *picture);
/* The finished batch as thumbnails, every one chosen. */
void         sdcl_preview_show_batch (SdclPreview      *preview,
                                      const SdclBatch  *batch);
/* Says why the run ended without images (stopped, failed). */
void         sdcl_preview_message    (SdclPreview      *preview,
                                      const gchar      *text);
/* Moves the chosen images of `batch` to its front and drops the others. */
void         sdcl_preview_keep_chosen (SdclPreview     *preview,
                                       SdclBatch       *batch);

G_END_DECLS

#endif /* SDCL_PREVIEW_H */

/* sdcl GIMP plug-in: what the dialog's files share (sdcl-dialog.c, and
 * sdcl-dialog-model.c for the model rows).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_DIALOG_PRIVATE_H
#define SDCL_DIALOG_PRIVATE_H

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include "sdcl-dialog.h"
#include "sdcl-file-list.h"
#include "sdcl-preview.h"

G_BEGIN_DECLS

typedef struct
{
  SdclMode      mode;
  SdclSession  *session;
  const gchar  *prefs_file;
  const gchar  *blocker;      /* why OK cannot run now, or NULL */

  GtkWidget    *dialog;
  GtkWidget    *body;         /* the settings' grid, then the live preview */
  GtkWidget    *grid;
  gint          row;

  GtkWidget    *models_dir;
  GtkWidget    *models_hint;  /* where models go, while the folder has none */
  GtkWidget    *model;        /* combo; model_paths holds its entries' paths */
  GPtrArray    *model_paths;
  GtkWidget    *turbo;        /* check box: load with the Turbo variant */
  GtkWidget    *model_info;
  GtkWidget    *prompt;       /* GtkTextView */
  GtkWidget    *negative;     /* GtkTextView */
  GtkWidget    *prompt_syntax; /* combo of SDCL_PROMPT_SYNTAX_NAMES */
  SdclFileList *loras;
  SdclFileList *embeddings;
  GtkWidget    *sampler;
  GtkWidget    *schedule;     /* combo of the engine's schedules, in its order */
  GtkWidget    *prediction;   /* combo of SDCL_PREDICTION_NAMES */
  GtkWidget    *steps;
  GtkWidget    *guidance;
  GtkWidget    *seed;
  GtkWidget    *random_seed;
  GtkWidget    *batch_count;
  GtkWidget    *width, *height;
  GtkWidget    *strength;
  GtkWidget    *mask_blur;
  GtkWidget    *only_masked;
  GtkWidget    *padding;
  GtkWidget    *tiling;
  GtkWidget    *grow[4];      /* outpaint: left, top, right, bottom */
  GtkWidget    *device;       /* combo; device_ids holds the choices */
  GPtrArray    *device_ids;
  gboolean      describing;   /* describe_model() is pumping events */
  SdclPreview  *preview;      /* with a generate function: the live preview */
  GtkWidget    *generate;     /* the Generate / Stop button */
  gboolean      generating;
  gboolean      stop;         /* Stop pressed (or the dialog closed) mid-run */
  /* Width and height show the model's native size until the user changes
   * them; OK then stores 0 ("native"), so the next model's size is used. */
  gboolean      size_follows_model;
  /* Whether the model described last runs with the Turbo settings (-1:
   * none described yet), and the sampler, schedule, steps and guidance
   * the dialog had before a Turbo model replaced them (steps 0: none). */
  gint          shown_turbo;
  gint          kept_sampler, kept_schedule, kept_steps;
  gdouble       kept_guidance;
} Dialog;

/* GTK 2 / GTK 3 (sdcl-dialog.c) */
void        sdcl_dialog_grid_attach        (GtkWidget   *grid,
                                            GtkWidget   *child,
                                            gint         column,
                                            gint         row,
                                            gint         width,
                                            gboolean     expand);
GtkWidget  *sdcl_dialog_hbox_new           (void);
void        sdcl_dialog_label_align        (GtkWidget   *label,
                                            gboolean     top);

/* A labelled row of the settings' grid; with _for the label's mnemonic
 * focuses `target` inside a container `widget`. */
GtkWidget  *sdcl_dialog_add_row            (Dialog      *d,
                                            const gchar *mnemonic,
                                            GtkWidget   *widget,
                                            gboolean     top);
void        sdcl_dialog_add_row_for        (Dialog      *d,
                                            const gchar *mnemonic,
                                            GtkWidget   *widget,
                                            GtkWidget   *target,
                                            gboolean     top);
/* The chosen model's path ("" the default; NULL none), device, prediction,
 * Turbo switch. */
const gchar *sdcl_dialog_current_model      (Dialog      *d);
gboolean     sdcl_dialog_current_turbo      (Dialog      *d);
const gchar *sdcl_dialog_current_device     (Dialog      *d);
const gchar *sdcl_dialog_current_prediction (Dialog      *d);

/* The model rows (sdcl-dialog-model.c): models folder, model, its
 * description (which loads it), and the size that follows the model. */
void        sdcl_dialog_build_model_rows   (Dialog             *d,
                                            const SdclSettings *s);
void        sdcl_dialog_describe_model     (Dialog      *d);
void        sdcl_dialog_model_changed      (GtkComboBox *combo,
                                            Dialog      *d);
void        sdcl_dialog_size_edited        (GtkSpinButton *spin,
                                            Dialog        *d);

G_END_DECLS

#endif /* SDCL_DIALOG_PRIVATE_H */

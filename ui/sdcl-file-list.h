/* sdcl GIMP plug-in: a dialog row that edits a list of files (see
 * sdcl-dialog.c): the LoRAs, each with its weight, and the embeddings.
 *
 * One line per file, each a file button (and a weight), with a button to
 * remove it and one below to add another.  It reads and writes the
 * settings' text form: FILE:WEIGHT per line for LoRAs (as
 * sdcl_lora_list_parse reads it), FILE per line for embeddings.  GTK 2
 * and GTK 3 alike.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_FILE_LIST_H
#define SDCL_FILE_LIST_H

#include <gtk/gtk.h>

#include "sdcl-gimp-core.h"

G_BEGIN_DECLS

typedef struct _SdclFileList SdclFileList;

/* `weighted`: every file has a weight (LoRAs).  `text` is the settings'
 * list; `folder` (may be NULL) where the file chooser opens for a new
 * line; `add_label` the add button's mnemonic label. */
SdclFileList *sdcl_file_list_new    (gboolean      weighted,
                                     const gchar  *text,
                                     const gchar  *folder,
                                     const gchar  *add_label);
GtkWidget    *sdcl_file_list_widget (SdclFileList *list);
/* The list in the settings' text form; lines without a file are left out. */
void          sdcl_file_list_get    (SdclFileList *list,
                                     gchar        *dest,
                                     gsize         size);
void          sdcl_file_list_free   (SdclFileList *list);

G_END_DECLS

#endif /* SDCL_FILE_LIST_H */

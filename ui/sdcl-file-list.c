/* sdcl GIMP plug-in: the dialog's list of files (see sdcl-file-list.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-file-list.h"

#if GTK_CHECK_VERSION (3, 0, 0)
#define box_new(vertical) gtk_box_new ((vertical) ? GTK_ORIENTATION_VERTICAL \
                                                  : GTK_ORIENTATION_HORIZONTAL, 6)
#else
#define box_new(vertical) ((vertical) ? gtk_vbox_new (FALSE, 6) : gtk_hbox_new (FALSE, 6))
#endif

/* The weights the engine takes (sdcl_lora_list_parse). */
#define WEIGHT_MAX 100.0

typedef struct
{
  SdclFileList *list;
  GtkWidget    *row;
  GtkWidget    *chooser;
  GtkWidget    *weight; /* NULL: not weighted */
} Line;

struct _SdclFileList
{
  gboolean   weighted;
  gchar     *folder;
  GtkWidget *box;   /* the lines, then the add button */
  GtkWidget *lines; /* a vertical box of Line rows */
  GPtrArray *items; /* Line *, in the order shown */
};

static void
remove_clicked (GtkButton *button,
                Line      *line)
{
  SdclFileList *list = line->list;

  g_ptr_array_remove (list->items, line);
  gtk_widget_destroy (line->row);
  g_free (line);
}

static GtkWidget *
chooser_new (const gchar *path,
             const gchar *folder)
{
  GtkWidget     *chooser = gtk_file_chooser_button_new (_("Select a .safetensors File"),
                                                        GTK_FILE_CHOOSER_ACTION_OPEN);
  GtkFileFilter *tensors = gtk_file_filter_new ();
  GtkFileFilter *all     = gtk_file_filter_new ();

  gtk_file_filter_set_name (tensors, _("Safetensors files"));
  gtk_file_filter_add_pattern (tensors, "*.safetensors");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), tensors);
  gtk_file_filter_set_name (all, _("All files"));
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), all);
  if (path && *path)
    gtk_file_chooser_set_filename (GTK_FILE_CHOOSER (chooser), path);
  else if (folder && g_file_test (folder, G_FILE_TEST_IS_DIR))
    gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder);
  return chooser;
}

static void
add_line (SdclFileList *list,
          const gchar  *path,
          gdouble       weight)
{
  Line      *line = g_new0 (Line, 1);
  GtkWidget *remove;

  line->list    = list;
  line->row     = box_new (FALSE);
  line->chooser = chooser_new (path, list->folder);
  gtk_box_pack_start (GTK_BOX (line->row), line->chooser, TRUE, TRUE, 0);
  if (list->weighted)
    {
      line->weight = gtk_spin_button_new_with_range (-WEIGHT_MAX, WEIGHT_MAX, 0.05);
      gtk_spin_button_set_digits (GTK_SPIN_BUTTON (line->weight), 2);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (line->weight), weight);
      gtk_widget_set_tooltip_text (line->weight,
                                   _("Weight: how strongly the LoRA changes the model (1 as "
                                     "trained, 0 leaves it out)"));
      gtk_box_pack_start (GTK_BOX (line->row), line->weight, FALSE, FALSE, 0);
    }
  remove = gtk_button_new_with_label (_("Remove"));
  gtk_box_pack_start (GTK_BOX (line->row), remove, FALSE, FALSE, 0);
  g_signal_connect (remove, "clicked", G_CALLBACK (remove_clicked), line);
  gtk_box_pack_start (GTK_BOX (list->lines), line->row, FALSE, FALSE, 0);
  gtk_widget_show_all (line->row);
  g_ptr_array_add (list->items, line);
}

static void
add_clicked (GtkButton    *button,
             SdclFileList *list)
{
  add_line (list, NULL, 1.0);
}

/* The settings' text into lines; a list that does not parse (a weight
 * typed wrong in a script) shows its files at weight 1. */
static void
add_lines_from_text (SdclFileList *list,
                     const gchar  *text)
{
  sdcl_lora  *loras = NULL;
  int         n = 0;
  sdcl_error  err = { 0 };
  gchar     **files;

  if (list->weighted && sdcl_lora_list_parse (text, &loras, &n, &err) == SDCL_OK)
    {
      for (int i = 0; i < n; i++)
        add_line (list, loras[i].path, loras[i].weight);
      free (loras);
      return;
    }
  files = sdcl_list_split (text);
  for (gchar **f = files; *f; f++)
    add_line (list, *f, 1.0);
  g_strfreev (files);
}

SdclFileList *
sdcl_file_list_new (gboolean     weighted,
                    const gchar *text,
                    const gchar *folder,
                    const gchar *add_label)
{
  SdclFileList *list = g_new0 (SdclFileList, 1);
  GtkWidget    *add_row = box_new (FALSE);
  GtkWidget    *add = gtk_button_new_with_mnemonic (add_label);

  list->weighted = weighted;
  list->folder   = g_strdup (folder);
  list->items    = g_ptr_array_new ();
  list->box      = box_new (TRUE);
  list->lines    = box_new (TRUE);
  gtk_box_pack_start (GTK_BOX (list->box), list->lines, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (add_row), add, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (list->box), add_row, FALSE, FALSE, 0);
  g_signal_connect (add, "clicked", G_CALLBACK (add_clicked), list);
  add_lines_from_text (list, text);
  return list;
}

GtkWidget *
sdcl_file_list_widget (SdclFileList *list)
{
  return list->box;
}

void
sdcl_file_list_get (SdclFileList *list,
                    gchar        *dest,
                    gsize         size)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < list->items->len; i++)
    {
      Line  *line = g_ptr_array_index (list->items, i);
      gchar *path = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (line->chooser));
      gchar  weight[G_ASCII_DTOSTR_BUF_SIZE];

      if (!path)
        continue;
      if (line->weight)
        /* The C locale's decimal point whatever the user's: the engine
         * parses the weight so. */
        g_string_append_printf (text, "%s:%s\n", path,
                                g_ascii_formatd (weight, sizeof weight, "%.6g",
                                                gtk_spin_button_get_value (
                                                  GTK_SPIN_BUTTON (line->weight))));
      else
        g_string_append_printf (text, "%s\n", path);
      g_free (path);
    }
  g_strlcpy (dest, text->str, size);
  g_string_free (text, TRUE);
}

void
sdcl_file_list_free (SdclFileList *list)
{
  if (!list)
    return;
  /* The widgets went with the dialog; only the bookkeeping is left. */
  g_ptr_array_set_free_func (list->items, g_free);
  g_ptr_array_unref (list->items);
  g_free (list->folder);
  g_free (list);
}

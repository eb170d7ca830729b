/* sdcl GIMP plug-in: the dialog's model rows (see sdcl-dialog-private.h):
 * the models folder, the model list and its buttons, and the description
 * of the chosen model, which loads it so the run after OK finds it loaded.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-dialog-private.h"

/* The one GTK 2 / GTK 3 difference of this file. */
#if GTK_CHECK_VERSION (3, 0, 0)
static void
cursor_unref (GdkCursor *cursor)
{
  g_object_unref (cursor); /* a GObject in GTK 3 */
}
#else
static void
cursor_unref (GdkCursor *cursor)
{
  gdk_cursor_unref (cursor); /* boxed, not a GObject, in GTK 2 */
}
#endif

/* Width and height follow the model until the user sets them. */
static void
show_native_size (Dialog *d,
                  gint    native)
{
  if (!d->width || !d->size_follows_model || native < SDCL_SIZE_MIN)
    return;
  g_signal_handlers_block_by_func (d->width, sdcl_dialog_size_edited, d);
  g_signal_handlers_block_by_func (d->height, sdcl_dialog_size_edited, d);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->width), native);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->height), native);
  g_signal_handlers_unblock_by_func (d->width, sdcl_dialog_size_edited, d);
  g_signal_handlers_unblock_by_func (d->height, sdcl_dialog_size_edited, d);
}

void
sdcl_dialog_size_edited (GtkSpinButton *spin,
                         Dialog        *d)
{
  d->size_follows_model = FALSE;
}

static gint
sampler_index (const gchar *name)
{
  sdcl_sampler sampler;

  return sdcl_sampler_from_name (name, &sampler) ? (gint) sampler : -1;
}

static gint
schedule_index (const gchar *name)
{
  sdcl_schedule schedule;

  return sdcl_schedule_from_name (name, &schedule) ? (gint) schedule : -1;
}

/* Sampler, schedule, steps and guidance follow the model's kind: when the
 * described model runs with the Turbo settings and the previous one did
 * not, they become the engine's defaults for it (its model card's), and
 * the values they replace come back when a regular model follows.  The
 * first description keeps the values the dialog opened with unless they
 * guide (guidance above 1), which a Turbo model is not made for. */
static void
follow_model_kind (Dialog                 *d,
                   const SdclModelSummary *m)
{
  gboolean first = d->shown_turbo < 0;

  if (d->shown_turbo == (gint) m->turbo)
    return;
  d->shown_turbo = m->turbo;
  if (m->turbo)
    {
      if (first && gtk_spin_button_get_value (GTK_SPIN_BUTTON (d->guidance)) <= 1.0)
        return;
      d->kept_sampler  = gtk_combo_box_get_active (GTK_COMBO_BOX (d->sampler));
      d->kept_schedule = gtk_combo_box_get_active (GTK_COMBO_BOX (d->schedule));
      d->kept_steps    = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->steps));
      d->kept_guidance = gtk_spin_button_get_value (GTK_SPIN_BUTTON (d->guidance));
      gtk_combo_box_set_active (GTK_COMBO_BOX (d->sampler), sampler_index (m->sampler));
      gtk_combo_box_set_active (GTK_COMBO_BOX (d->schedule), schedule_index (m->schedule));
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->steps), m->steps);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->guidance), m->guidance);
    }
  else if (!first && d->kept_steps > 0)
    {
      gtk_combo_box_set_active (GTK_COMBO_BOX (d->sampler), d->kept_sampler);
      gtk_combo_box_set_active (GTK_COMBO_BOX (d->schedule), d->kept_schedule);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->steps), d->kept_steps);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->guidance), d->kept_guidance);
      d->kept_steps = 0;
    }
}

void
sdcl_dialog_describe_model (Dialog *d)
{
  gchar       *path = NULL;
  SdclModelSummary summary = { 0 };
  GError      *error = NULL;
  GdkWindow   *window;

  if (d->describing)
    return;
  d->describing = TRUE;

  /* The description comes from the loaded model; loading it here is not
   * wasted, the session (the model server) keeps it for the run after OK. */
  gtk_label_set_text (GTK_LABEL (d->model_info), _("Loading the model…"));
  window = gtk_widget_get_window (d->dialog);
  if (window)
    {
      GdkCursor *watch = gdk_cursor_new_for_display (gdk_window_get_display (window), GDK_WATCH);

      gdk_window_set_cursor (window, watch);
      cursor_unref (watch);
    }
  while (gtk_events_pending ())
    gtk_main_iteration ();

  /* Only now: the events may have refilled the list (the folder button
   * reports its folder asynchronously).  "" is the default (demo) model. */
  if (sdcl_dialog_current_model (d))
    path = sdcl_model_path_resolve (sdcl_dialog_current_model (d), d->mode, &error);
  if (!sdcl_dialog_current_model (d))
    gtk_label_set_text (GTK_LABEL (d->model_info),
                        _("No model: choose a folder with models, or open one."));
  else if (path && sdcl_session_load (d->session, sdcl_dialog_current_device (d),
                                      sdcl_dialog_current_prediction (d),
                                      sdcl_dialog_current_turbo (d), path, &summary, &error))
    {
      gtk_label_set_text (GTK_LABEL (d->model_info), summary.description);
      show_native_size (d, summary.native_size);
      follow_model_kind (d, &summary);
    }
  else
    gtk_label_set_text (GTK_LABEL (d->model_info), error->message);

  if (window)
    gdk_window_set_cursor (window, NULL);
  g_clear_error (&error);
  g_free (summary.description);
  g_free (path);
  d->describing = FALSE;
}

/* Fills the model combo from the folder, keeping `keep` (the current
 * choice, possibly from elsewhere) selected. */
static void
fill_models (Dialog      *d,
             const gchar *dir,
             const gchar *keep)
{
  GtkTreeModel *store  = gtk_combo_box_get_model (GTK_COMBO_BOX (d->model));
  GPtrArray    *found  = sdcl_find_models (dir);
  gchar        *chosen = g_strdup (keep);
  gint          active = -1;

  /* One description when the list is complete, not one per change. */
  g_signal_handlers_block_by_func (d->model, sdcl_dialog_model_changed, d);
  gtk_list_store_clear (GTK_LIST_STORE (store));
  g_ptr_array_set_size (d->model_paths, 0);
  /* First, the model that ships with sdcl: an empty model setting. */
  gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d->model), _("Default (the sdcl demo model)"));
  g_ptr_array_add (d->model_paths, g_strdup (""));
  if (!chosen || !*chosen)
    active = 0;
  for (guint i = 0; i < found->len; i++)
    {
      const gchar *path = g_ptr_array_index (found, i);
      gchar       *base = g_path_get_basename (path);

      gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d->model), base);
      g_ptr_array_add (d->model_paths, g_strdup (path));
      if (chosen && strcmp (chosen, path) == 0)
        active = d->model_paths->len - 1;
      g_free (base);
    }
  if (chosen && *chosen && active < 0)
    {
      /* A model opened from elsewhere: list it with its full path. */
      gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d->model), chosen);
      g_ptr_array_add (d->model_paths, g_strdup (chosen));
      active = d->model_paths->len - 1;
    }
  gtk_combo_box_set_active (GTK_COMBO_BOX (d->model), active);
  g_signal_handlers_unblock_by_func (d->model, sdcl_dialog_model_changed, d);
  if (found->len == 0)
    {
      /* A fresh profile has no models: say where they go. */
      gchar *hint = g_strdup_printf (_("No models in %s yet: put diffusers model folders or "
                                       ".safetensors files there, or open one below."),
                                     dir ? dir : "?");

      gtk_label_set_text (GTK_LABEL (d->models_hint), hint);
      gtk_widget_show (d->models_hint);
      g_free (hint);
    }
  else
    {
      gtk_widget_hide (d->models_hint);
    }
  g_ptr_array_unref (found);
  g_free (chosen);
}

static void
models_dir_changed (GtkFileChooser *chooser,
                    Dialog         *d)
{
  gchar *dir = gtk_file_chooser_get_filename (chooser);

  if (dir)
    {
      gchar *keep = g_strdup (sdcl_dialog_current_model (d));

      sdcl_prefs_set_models_dir (d->prefs_file, dir);
      fill_models (d, dir, keep);
      sdcl_dialog_describe_model (d);
      g_free (keep);
      g_free (dir);
    }
}

void
sdcl_dialog_model_changed (GtkComboBox *combo,
                           Dialog      *d)
{
  sdcl_dialog_describe_model (d);
}

static void
open_model (GtkButton *button,
            Dialog    *d)
{
  /* Diffusers models are folders and single-file ones are files: the
   * button's data says which chooser to show. */
  gboolean   folder = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "folder"));
  GtkWidget *chooser;

  chooser = gtk_file_chooser_dialog_new (folder ? _("Open a Diffusers Model Folder")
                                                : _("Open a .safetensors Model"),
                                         GTK_WINDOW (d->dialog),
                                         folder ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER
                                                : GTK_FILE_CHOOSER_ACTION_OPEN,
                                         _("_Cancel"), GTK_RESPONSE_CANCEL,
                                         _("_Open"), GTK_RESPONSE_ACCEPT,
                                         NULL);
  if (!folder)
    {
      GtkFileFilter *filter = gtk_file_filter_new ();

      gtk_file_filter_set_name (filter, _("Safetensors checkpoints"));
      gtk_file_filter_add_pattern (filter, "*.safetensors");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
    }
  if (gtk_dialog_run (GTK_DIALOG (chooser)) == GTK_RESPONSE_ACCEPT)
    {
      gchar *path = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (chooser));
      gchar *dir  = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (d->models_dir));

      fill_models (d, dir, path);
      sdcl_dialog_describe_model (d);
      g_free (dir);
      g_free (path);
    }
  gtk_widget_destroy (chooser);
}

void
sdcl_dialog_build_model_rows (Dialog             *d,
                              const SdclSettings *s)
{
  GtkWidget *box = sdcl_dialog_hbox_new ();
  GtkWidget *file_button, *folder_button;
  gchar     *dir = sdcl_prefs_get_models_dir (d->prefs_file);

  d->models_dir = gtk_file_chooser_button_new (_("Models Folder"),
                                               GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
  /* The default folder is made on first use, so the button names it
   * instead of showing "(None)". */
  if (!g_file_test (dir, G_FILE_TEST_EXISTS))
    g_mkdir_with_parents (dir, 0755);
  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    gtk_file_chooser_set_filename (GTK_FILE_CHOOSER (d->models_dir), dir);
  sdcl_dialog_add_row (d, _("Models _folder:"), d->models_dir, FALSE);

  d->models_hint = gtk_label_new (NULL);
  sdcl_dialog_label_align (d->models_hint, FALSE);
  gtk_label_set_line_wrap (GTK_LABEL (d->models_hint), TRUE);
  gtk_label_set_selectable (GTK_LABEL (d->models_hint), TRUE);
  sdcl_dialog_grid_attach (d->grid, d->models_hint, 1, d->row++, 2, TRUE);
  gtk_widget_set_no_show_all (d->models_hint, TRUE);

  d->model = gtk_combo_box_text_new ();
  gtk_box_pack_start (GTK_BOX (box), d->model, TRUE, TRUE, 0);
  file_button = gtk_button_new_with_mnemonic (_("Open _File…"));
  gtk_widget_set_tooltip_text (file_button, _("Use a single-file .safetensors checkpoint"));
  gtk_box_pack_start (GTK_BOX (box), file_button, FALSE, FALSE, 0);
  folder_button = gtk_button_new_with_mnemonic (_("Open F_older…"));
  gtk_widget_set_tooltip_text (folder_button, _("Use a diffusers model folder"));
  g_object_set_data (G_OBJECT (folder_button), "folder", GINT_TO_POINTER (TRUE));
  gtk_box_pack_start (GTK_BOX (box), folder_button, FALSE, FALSE, 0);
  sdcl_dialog_add_row_for (d, _("_Model:"), box, d->model, FALSE);

  /* TRANSLATORS: a check box right under the model chooser */
  d->turbo = gtk_check_button_new_with_mnemonic (_("T_urbo model (SD-Turbo, SDXL-Turbo)"));
  gtk_widget_set_tooltip_text (d->turbo,
                               _("A single-file SD-Turbo or SDXL-Turbo checkpoint cannot say "
                                 "what it is: check this to run it with the Turbo settings "
                                 "(512 pixels, the Turbo schedule, 1 step, no guidance). A Turbo "
                                 "diffusers folder needs no switch."));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->turbo), s->turbo);
  sdcl_dialog_grid_attach (d->grid, d->turbo, 1, d->row++, 2, TRUE);

  d->model_info = gtk_label_new (NULL);
  sdcl_dialog_label_align (d->model_info, FALSE);
  gtk_label_set_line_wrap (GTK_LABEL (d->model_info), TRUE);
  gtk_label_set_selectable (GTK_LABEL (d->model_info), TRUE);
  sdcl_dialog_grid_attach (d->grid, d->model_info, 1, d->row++, 2, TRUE);

  fill_models (d, dir, s->model);
  g_free (dir);

  g_signal_connect (d->models_dir, "selection-changed", G_CALLBACK (models_dir_changed), d);
  g_signal_connect (d->model, "changed", G_CALLBACK (sdcl_dialog_model_changed), d);
  /* Another variant is another model load (and another size). */
  g_signal_connect_swapped (d->turbo, "toggled", G_CALLBACK (sdcl_dialog_describe_model), d);
  g_signal_connect (file_button, "clicked", G_CALLBACK (open_model), d);
  g_signal_connect (folder_button, "clicked", G_CALLBACK (open_model), d);
}

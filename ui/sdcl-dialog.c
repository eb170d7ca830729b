/* sdcl GIMP plug-in: the settings dialog (see sdcl-dialog.h).
 *
 * One hand-built dialog for both GIMP versions, so that they look and
 * behave the same.  GIMP 2.10 links GTK 2 and GIMP 3.0 GTK 3; the few calls
 * that differ are in the "GTK 2 / GTK 3" section right below, nowhere else.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>
#include <glib/gi18n-lib.h>

#include "sdcl-dialog.h"
#include "sdcl-file-list.h"
#include "sdcl-preview.h"

#define RESPONSE_GENERATE 1

/* ---- GTK 2 / GTK 3 ----------------------------------------------------------- */

#if GTK_CHECK_VERSION (3, 0, 0)
static GtkWidget *
grid_new (void)
{
  GtkWidget *grid = gtk_grid_new ();

  gtk_grid_set_row_spacing (GTK_GRID (grid), 6);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  return grid;
}

static void
grid_attach (GtkWidget *grid,
             GtkWidget *child,
             gint       column,
             gint       row,
             gint       width,
             gboolean   expand)
{
  gtk_widget_set_hexpand (child, expand);
  gtk_grid_attach (GTK_GRID (grid), child, column, row, width, 1);
}

static GtkWidget *
hbox_new (void)
{
  return gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
}

static void
label_align (GtkWidget *label,
             gboolean   top)
{
  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_widget_set_valign (label, top ? GTK_ALIGN_START : GTK_ALIGN_CENTER);
}

static void
cursor_unref (GdkCursor *cursor)
{
  g_object_unref (cursor); /* a GObject in GTK 3 */
}
#else
static GtkWidget *
grid_new (void)
{
  GtkWidget *table = gtk_table_new (1, 3, FALSE);

  gtk_table_set_row_spacings (GTK_TABLE (table), 6);
  gtk_table_set_col_spacings (GTK_TABLE (table), 12);
  return table;
}

static void
grid_attach (GtkWidget *grid,
             GtkWidget *child,
             gint       column,
             gint       row,
             gint       width,
             gboolean   expand)
{
  /* GtkTable grows to fit what is attached. */
  gtk_table_attach (GTK_TABLE (grid), child, column, column + width, row, row + 1,
                    expand ? GTK_EXPAND | GTK_FILL : GTK_FILL, GTK_FILL, 0, 0);
}

static GtkWidget *
hbox_new (void)
{
  return gtk_hbox_new (FALSE, 6);
}

static void
label_align (GtkWidget *label,
             gboolean   top)
{
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, top ? 0.0 : 0.5);
}

static void
cursor_unref (GdkCursor *cursor)
{
  gdk_cursor_unref (cursor); /* boxed, not a GObject, in GTK 2 */
}
#endif

/* ---- the dialog -------------------------------------------------------------------- */

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
} Dialog;

static void add_row_for (Dialog      *d,
                         const gchar *mnemonic,
                         GtkWidget   *widget,
                         GtkWidget   *target,
                         gboolean     top);

static GtkWidget *
add_row (Dialog      *d,
         const gchar *mnemonic,
         GtkWidget   *widget,
         gboolean     top)
{
  add_row_for (d, mnemonic, widget, widget, top);
  return widget;
}

/* A row whose widget is a container: the label's mnemonic focuses `target`. */
static void
add_row_for (Dialog      *d,
             const gchar *mnemonic,
             GtkWidget   *widget,
             GtkWidget   *target,
             gboolean     top)
{
  GtkWidget *label = gtk_label_new_with_mnemonic (mnemonic);

  label_align (label, top);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), target);
  grid_attach (d->grid, label, 0, d->row, 1, FALSE);
  grid_attach (d->grid, widget, 1, d->row, 2, TRUE);
  d->row++;
}

static GtkWidget *
spin_new (gdouble value,
          gdouble min,
          gdouble max,
          gdouble step,
          guint   digits)
{
  GtkWidget *spin = gtk_spin_button_new_with_range (min, max, step);

  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (spin), digits);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), value);
  gtk_entry_set_activates_default (GTK_ENTRY (spin), TRUE);
  return spin;
}

static GtkWidget *
text_new (const gchar *text,
          gint         lines,
          GtkWidget  **view_out)
{
  GtkWidget *scrolled = gtk_scrolled_window_new (NULL, NULL);
  GtkWidget *view     = gtk_text_view_new ();

  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_shadow_type (GTK_SCROLLED_WINDOW (scrolled), GTK_SHADOW_IN);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_accepts_tab (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (view)), text, -1);
  gtk_container_add (GTK_CONTAINER (scrolled), view);
  /* Roughly `lines` lines of the default font. */
  gtk_widget_set_size_request (scrolled, 360, lines * 18 + 8);
  *view_out = view;
  return scrolled;
}

static void
text_get (GtkWidget *view,
          gchar     *dest,
          gsize      size)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (GTK_TEXT_VIEW (view));
  GtkTextIter    start, end;
  gchar         *text;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
  g_strlcpy (dest, g_strstrip (text), size);
  g_free (text);
}

static const gchar *
current_model (Dialog *d)
{
  gint i = gtk_combo_box_get_active (GTK_COMBO_BOX (d->model));

  return i >= 0 && (guint) i < d->model_paths->len ? g_ptr_array_index (d->model_paths, i) : NULL;
}

static const gchar *
current_device (Dialog *d)
{
  gint i = gtk_combo_box_get_active (GTK_COMBO_BOX (d->device));

  return i >= 0 && (guint) i < d->device_ids->len ? g_ptr_array_index (d->device_ids, i) : "";
}

static const gchar *
current_prediction (Dialog *d)
{
  static const gchar *const names[] = SDCL_PREDICTION_NAMES;
  gint i = d->prediction ? gtk_combo_box_get_active (GTK_COMBO_BOX (d->prediction)) : -1;

  return i >= 0 && (gsize) i < G_N_ELEMENTS (names) ? names[i] : names[0];
}

/* A combo of translated labels with the entry named `active` chosen. */
static GtkWidget *
choice_combo_new (gint           count,
                  const gchar *(*name) (gint),
                  const gchar *(*label) (gint),
                  const gchar   *active)
{
  GtkWidget *combo = gtk_combo_box_text_new ();

  for (gint i = 0; i < count; i++)
    {
      gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (combo), _(label (i)));
      if (i == 0 || g_strcmp0 (active, name (i)) == 0)
        gtk_combo_box_set_active (GTK_COMBO_BOX (combo), i);
    }
  return combo;
}

static const gchar *schedule_name (gint i)  { return sdcl_schedule_name ((sdcl_schedule) i); }
static const gchar *schedule_label (gint i) { return sdcl_schedule_label ((sdcl_schedule) i); }
static const gchar *const prediction_names[] = SDCL_PREDICTION_NAMES;
static const gchar *const prediction_labels[] = SDCL_PREDICTION_LABELS;
static const gchar *prediction_name (gint i)  { return prediction_names[i]; }
static const gchar *prediction_label (gint i) { return prediction_labels[i]; }
static const gchar *const syntax_names[] = SDCL_PROMPT_SYNTAX_NAMES;
static const gchar *const syntax_labels[] = SDCL_PROMPT_SYNTAX_LABELS;
static const gchar *syntax_name (gint i)  { return syntax_names[i]; }
static const gchar *syntax_label (gint i) { return syntax_labels[i]; }

static void model_changed (GtkComboBox *combo,
                           Dialog      *d);
static void size_edited   (GtkSpinButton *spin,
                           Dialog        *d);

/* Width and height follow the model until the user sets them. */
static void
show_native_size (Dialog *d,
                  gint    native)
{
  if (!d->width || !d->size_follows_model || native < SDCL_SIZE_MIN)
    return;
  g_signal_handlers_block_by_func (d->width, size_edited, d);
  g_signal_handlers_block_by_func (d->height, size_edited, d);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->width), native);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (d->height), native);
  g_signal_handlers_unblock_by_func (d->width, size_edited, d);
  g_signal_handlers_unblock_by_func (d->height, size_edited, d);
}

static void
size_edited (GtkSpinButton *spin,
             Dialog        *d)
{
  d->size_follows_model = FALSE;
}

static void
describe_model (Dialog *d)
{
  gchar       *path = NULL;
  gchar       *text = NULL;
  gint         native = 0;
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
  if (current_model (d))
    path = sdcl_model_path_resolve (current_model (d), d->mode, &error);
  if (!current_model (d))
    gtk_label_set_text (GTK_LABEL (d->model_info),
                        _("No model: choose a folder with models, or open one."));
  else if (path && sdcl_session_load (d->session, current_device (d), current_prediction (d),
                                      path, &text, &native,
                                      &error))
    {
      gtk_label_set_text (GTK_LABEL (d->model_info), text);
      show_native_size (d, native);
    }
  else
    gtk_label_set_text (GTK_LABEL (d->model_info), error->message);

  if (window)
    gdk_window_set_cursor (window, NULL);
  g_clear_error (&error);
  g_free (text);
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
  g_signal_handlers_block_by_func (d->model, model_changed, d);
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
  g_signal_handlers_unblock_by_func (d->model, model_changed, d);
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
      gchar *keep = g_strdup (current_model (d));

      sdcl_prefs_set_models_dir (d->prefs_file, dir);
      fill_models (d, dir, keep);
      describe_model (d);
      g_free (keep);
      g_free (dir);
    }
}

static void
model_changed (GtkComboBox *combo,
               Dialog      *d)
{
  describe_model (d);
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
      describe_model (d);
      g_free (dir);
      g_free (path);
    }
  gtk_widget_destroy (chooser);
}

static void
random_toggled (GtkToggleButton *toggle,
                Dialog          *d)
{
  gtk_widget_set_sensitive (d->seed, !gtk_toggle_button_get_active (toggle));
}

static void
only_masked_toggled (GtkToggleButton *toggle,
                     Dialog          *d)
{
  gtk_widget_set_sensitive (d->padding, gtk_toggle_button_get_active (toggle));
}

static void
build_model_rows (Dialog             *d,
                  const SdclSettings *s)
{
  GtkWidget *box = hbox_new ();
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
  add_row (d, _("Models _folder:"), d->models_dir, FALSE);

  d->models_hint = gtk_label_new (NULL);
  label_align (d->models_hint, FALSE);
  gtk_label_set_line_wrap (GTK_LABEL (d->models_hint), TRUE);
  gtk_label_set_selectable (GTK_LABEL (d->models_hint), TRUE);
  grid_attach (d->grid, d->models_hint, 1, d->row++, 2, TRUE);
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
  add_row_for (d, _("_Model:"), box, d->model, FALSE);

  d->model_info = gtk_label_new (NULL);
  label_align (d->model_info, FALSE);
  gtk_label_set_line_wrap (GTK_LABEL (d->model_info), TRUE);
  gtk_label_set_selectable (GTK_LABEL (d->model_info), TRUE);
  grid_attach (d->grid, d->model_info, 1, d->row++, 2, TRUE);

  fill_models (d, dir, s->model);
  g_free (dir);

  g_signal_connect (d->models_dir, "selection-changed", G_CALLBACK (models_dir_changed), d);
  g_signal_connect (d->model, "changed", G_CALLBACK (model_changed), d);
  g_signal_connect (file_button, "clicked", G_CALLBACK (open_model), d);
  g_signal_connect (folder_button, "clicked", G_CALLBACK (open_model), d);
}

static void
build_device_row (Dialog             *d,
                  const SdclSettings *s)
{
  sdcl_device_info *devices = NULL;
  gint              n = 0, active = 0;
  sdcl_error        err = { 0 };
  gchar            *end = NULL;
  glong             index = strtol (s->device, &end, 10);
  gboolean          numeric = s->device[0] != '\0' && end && *end == '\0';

  d->device = gtk_combo_box_text_new ();
  gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d->device),
                                  _("Automatic (the first GPU, else any device)"));
  g_ptr_array_add (d->device_ids, g_strdup (""));

  if (sdcl_list_devices (&devices, &n, &err) == SDCL_OK)
    {
      for (gint i = 0; i < n; i++)
        {
          gchar *mem   = g_format_size (devices[i].global_mem_bytes);
          /* TRANSLATORS: device list entry: index, name, platform, memory */
          gchar *label = g_strdup_printf (_("%d: %s (%s, %s)"), devices[i].index,
                                          devices[i].name, devices[i].platform, mem);

          gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d->device), label);
          g_ptr_array_add (d->device_ids, g_strdup_printf ("%d", devices[i].index));
          if (numeric && index == devices[i].index)
            active = d->device_ids->len - 1;
          g_free (label);
          g_free (mem);
        }
      free (devices);
    }
  else
    {
      gtk_widget_set_tooltip_text (d->device, err.message);
    }

  if (s->device[0] != '\0' && active == 0)
    {
      /* A name pattern typed in a script: keep it as a choice of its own. */
      gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d->device), s->device);
      g_ptr_array_add (d->device_ids, g_strdup (s->device));
      active = d->device_ids->len - 1;
    }
  gtk_combo_box_set_active (GTK_COMBO_BOX (d->device), active);
  add_row (d, _("_Device:"), d->device, FALSE);
}

/* How the prompt is read, and what changes the model or the prompt's
 * vocabulary (issue 20): LoRAs with weights, textual-inversion embeddings. */
static void
build_prompt_rows (Dialog             *d,
                   const SdclSettings *s)
{
  gchar *models_dir = sdcl_prefs_get_models_dir (d->prefs_file);
  /* The engine's default folder for <lora:NAME> tags: Lora/ beside the
   * models. */
  gchar *lora_dir = g_build_filename (models_dir, "Lora", NULL);

  d->prompt_syntax = choice_combo_new (G_N_ELEMENTS (syntax_names), syntax_name, syntax_label,
                                       s->prompt_syntax);
  gtk_widget_set_tooltip_text (d->prompt_syntax,
                               _("AUTOMATIC1111: (word) weighs a word more, (word:1.3) by "
                                 "1.3, [word] less, BREAK starts a new chunk; plain: the text "
                                 "as it is"));
  add_row (d, _("Prompt s_yntax:"), d->prompt_syntax, FALSE);

  d->loras = sdcl_file_list_new (TRUE, s->loras, lora_dir, _("_Add LoRA…"));
  gtk_widget_set_tooltip_text (sdcl_file_list_widget (d->loras),
                               _("LoRA files and their weights; <lora:NAME:WEIGHT> in the "
                                 "prompt also loads NAME.safetensors from the Lora folder "
                                 "beside the model"));
  add_row (d, _("LoRAs:"), sdcl_file_list_widget (d->loras), TRUE);
  d->embeddings = sdcl_file_list_new (FALSE, s->embeddings, models_dir,
                                      _("Add _embedding…"));
  gtk_widget_set_tooltip_text (sdcl_file_list_widget (d->embeddings),
                               _("Textual-inversion embeddings (.safetensors): write a file's "
                                 "name without its extension in the prompt to use it"));
  add_row (d, _("Embeddings:"), sdcl_file_list_widget (d->embeddings), TRUE);
  g_free (lora_dir);
  g_free (models_dir);
}

static void
build (Dialog             *d,
       const SdclSettings *s)
{
  GtkWidget *box;
  gint       active = 0;

  d->grid = grid_new ();
  gtk_container_set_border_width (GTK_CONTAINER (d->grid), 12);
  d->body = hbox_new ();
  gtk_box_pack_start (GTK_BOX (gtk_dialog_get_content_area (GTK_DIALOG (d->dialog))), d->body,
                      TRUE, TRUE, 0);
  gtk_box_pack_start (GTK_BOX (d->body), d->grid, TRUE, TRUE, 0);

  if (d->blocker)
    {
      /* Said before OK, not after a failed run. */
      GtkWidget *notice = gtk_label_new (d->blocker);

      label_align (notice, FALSE);
      gtk_label_set_line_wrap (GTK_LABEL (notice), TRUE);
      grid_attach (d->grid, notice, 0, d->row++, 3, TRUE);
    }
  build_model_rows (d, s);
  d->prediction = choice_combo_new (G_N_ELEMENTS (prediction_names), prediction_name,
                                    prediction_label, s->prediction);
  gtk_widget_set_tooltip_text (d->prediction,
                               _("What the model predicts: as its files say, or forced (a "
                                 "single-file SD 2.x 768-v model without its .yaml needs v)"));
  add_row (d, _("Predi_ction:"), d->prediction, FALSE);
  /* Another prediction is another model load (and maybe another size). */
  g_signal_connect (d->prediction, "changed", G_CALLBACK (model_changed), d);

  box = text_new (s->prompt, 4, &d->prompt);
  add_row_for (d, _("_Prompt:"), box, d->prompt, TRUE);
  box = text_new (s->negative, 2, &d->negative);
  add_row_for (d, _("_Negative prompt:"), box, d->negative, TRUE);
  build_prompt_rows (d, s);

  d->sampler = gtk_combo_box_text_new ();
  /* Listed from the engine: its labels are messages of this domain. */
  for (gint i = 0; i < sdcl_sampler_count (); i++)
    {
      gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d->sampler),
                                      _(sdcl_sampler_label ((sdcl_sampler) i)));
      if (strcmp (s->sampler, sdcl_sampler_name ((sdcl_sampler) i)) == 0)
        active = i;
    }
  gtk_combo_box_set_active (GTK_COMBO_BOX (d->sampler), active);
  add_row (d, _("_Sampler:"), d->sampler, FALSE);

  /* Listed from the engine, as the samplers are. */
  d->schedule = choice_combo_new (sdcl_schedule_count (), schedule_name, schedule_label,
                                  s->schedule);
  gtk_widget_set_tooltip_text (d->schedule,
                               _("Where the steps sit on the noise scale; not every sampler "
                                 "takes every schedule"));
  add_row (d, _("Sc_hedule:"), d->schedule, FALSE);

  d->steps = add_row (d, _("S_teps:"), spin_new (s->steps, 1, SDCL_STEPS_MAX, 1, 0), FALSE);
  d->guidance = add_row (d, _("_Guidance:"),
                         spin_new (s->guidance, 0, SDCL_GUIDANCE_MAX, 0.5, 1), FALSE);
  gtk_widget_set_tooltip_text (d->guidance,
                               _("How closely to follow the prompt; 1 or less ignores the "
                                 "negative prompt and runs twice as fast"));

  box = hbox_new ();
  d->seed = spin_new (s->seed == SDCL_SEED_RANDOM ? s->last_seed : s->seed, 0, G_MAXINT, 1, 0);
  gtk_box_pack_start (GTK_BOX (box), d->seed, TRUE, TRUE, 0);
  d->random_seed = gtk_check_button_new_with_mnemonic (_("_Random"));
  gtk_widget_set_tooltip_text (d->random_seed,
                               _("Pick a new seed every run; the seed used is part of the "
                                 "new layer's name"));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->random_seed), s->seed == SDCL_SEED_RANDOM);
  gtk_box_pack_start (GTK_BOX (box), d->random_seed, FALSE, FALSE, 0);
  add_row_for (d, _("S_eed:"), box, d->seed, FALSE);
  random_toggled (GTK_TOGGLE_BUTTON (d->random_seed), d);
  d->batch_count = add_row (d, _("Ima_ges:"),
                            spin_new (s->batch_count, 1, SDCL_BATCH_MAX, 1, 0), FALSE);
  gtk_widget_set_tooltip_text (d->batch_count,
                               _("How many images to make, from consecutive seeds; each "
                                 "becomes a layer (all of them one undo step)"));
  g_signal_connect (d->random_seed, "toggled", G_CALLBACK (random_toggled), d);

  if (d->mode == SDCL_MODE_TXT2IMG)
    {
      /* 0 x 0 means the model's native size, shown once it is known. */
      d->size_follows_model = s->width == 0 && s->height == 0;
      d->width  = add_row (d, _("_Width:"),
                           spin_new (s->width ? s->width : SDCL_SIZE_MIN, SDCL_SIZE_MIN,
                                     SDCL_SIZE_MAX, 8, 0), FALSE);
      d->height = add_row (d, _("_Height:"),
                           spin_new (s->height ? s->height : SDCL_SIZE_MIN, SDCL_SIZE_MIN,
                                     SDCL_SIZE_MAX, 8, 0), FALSE);
      g_signal_connect (d->width, "value-changed", G_CALLBACK (size_edited), d);
      g_signal_connect (d->height, "value-changed", G_CALLBACK (size_edited), d);
      gtk_widget_set_tooltip_text (d->width, _("A multiple of 8; the model's native size works best"));
      gtk_widget_set_tooltip_text (d->height, _("A multiple of 8; the model's native size works best"));
    }
  else
    {
      d->strength = add_row (d, _("St_rength:"), spin_new (s->strength, 0, 1, 0.05, 2), FALSE);
      gtk_widget_set_tooltip_text (d->strength,
                                   _("0 keeps the input, 1 redraws it completely"));
    }

  if (d->mode == SDCL_MODE_OUTPAINT)
    {
      /* TRANSLATORS: the sides of the canvas, short: they label spin buttons */
      const gchar *sides[4] = { N_("Left"), N_("Top"), N_("Right"), N_("Bottom") };

      box = hbox_new ();
      for (gint i = 0; i < 4; i++)
        {
          d->grow[i] = spin_new (s->grow[i], 0, SDCL_GROW_MAX, 8, 0);
          gtk_box_pack_start (GTK_BOX (box), gtk_label_new (_(sides[i])), FALSE, FALSE, 0);
          gtk_box_pack_start (GTK_BOX (box), d->grow[i], FALSE, FALSE, 0);
        }
      gtk_widget_set_tooltip_text (box, _("Pixels to add on each side of the canvas; all 0 "
                                          "fills the layer's transparent pixels only"));
      add_row_for (d, _("Grow can_vas:"), box, d->grow[0], FALSE);
    }

  if (d->mode == SDCL_MODE_INPAINT)
    {
      d->mask_blur = add_row (d, _("Mask _blur:"),
                              spin_new (s->mask_blur, 0, SDCL_BLUR_MAX, 1, 1), FALSE);
      gtk_widget_set_tooltip_text (d->mask_blur,
                                   _("Softens the selection's edge, in pixels"));
      box = hbox_new ();
      d->only_masked = gtk_check_button_new_with_mnemonic (_("Only the selected _area"));
      gtk_widget_set_tooltip_text (d->only_masked,
                                   _("Work at full resolution on the selection's bounding box "
                                     "plus padding, instead of on the whole layer"));
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->only_masked), s->only_masked);
      gtk_box_pack_start (GTK_BOX (box), d->only_masked, FALSE, FALSE, 0);
      d->padding = spin_new (s->padding, 0, SDCL_PADDING_MAX, 8, 0);
      gtk_widget_set_tooltip_text (d->padding, _("Context pixels around the selection"));
      gtk_box_pack_end (GTK_BOX (box), d->padding, FALSE, FALSE, 0);
      gtk_box_pack_end (GTK_BOX (box), gtk_label_new (_("Padding:")), FALSE, FALSE, 0);
      add_row_for (d, _("Area:"), box, d->only_masked, FALSE);
      only_masked_toggled (GTK_TOGGLE_BUTTON (d->only_masked), d);
      g_signal_connect (d->only_masked, "toggled", G_CALLBACK (only_masked_toggled), d);
    }

  d->tiling = gtk_check_button_new_with_mnemonic (_("Seamless te_xture"));
  gtk_widget_set_tooltip_text (d->tiling,
                               _("Make an image that tiles: its edges wrap around, so copies "
                                 "placed side by side show no seam"));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->tiling), s->tiling);
  add_row_for (d, _("Tiling:"), d->tiling, d->tiling, FALSE);

  build_device_row (d, s);
}

static void
read_back (Dialog       *d,
           SdclSettings *s)
{
  const gchar *model = current_model (d);
  gint         sampler = gtk_combo_box_get_active (GTK_COMBO_BOX (d->sampler));

  g_strlcpy (s->model, model ? model : "", sizeof s->model);
  text_get (d->prompt, s->prompt, sizeof s->prompt);
  text_get (d->negative, s->negative, sizeof s->negative);
  if (sampler >= 0)
    g_strlcpy (s->sampler, sdcl_sampler_name ((sdcl_sampler) sampler), sizeof s->sampler);
  g_strlcpy (s->schedule,
             schedule_name (MAX (0, gtk_combo_box_get_active (GTK_COMBO_BOX (d->schedule)))),
             sizeof s->schedule);
  g_strlcpy (s->prediction, current_prediction (d), sizeof s->prediction);
  g_strlcpy (s->prompt_syntax,
             syntax_name (MAX (0, gtk_combo_box_get_active (GTK_COMBO_BOX (d->prompt_syntax)))),
             sizeof s->prompt_syntax);
  sdcl_file_list_get (d->loras, s->loras, sizeof s->loras);
  sdcl_file_list_get (d->embeddings, s->embeddings, sizeof s->embeddings);
  s->steps    = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->steps));
  s->guidance = gtk_spin_button_get_value (GTK_SPIN_BUTTON (d->guidance));
  if (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d->random_seed)))
    s->seed = SDCL_SEED_RANDOM;
  else
    s->seed = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->seed));
  if (d->width && d->size_follows_model)
    {
      s->width = s->height = 0;
    }
  else if (d->width)
    {
      /* The spin buttons step by 8 but accept typed values: round down. */
      s->width  = MAX (SDCL_SIZE_MIN, gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->width)) / 8 * 8);
      s->height = MAX (SDCL_SIZE_MIN, gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->height)) / 8 * 8);
    }
  if (d->strength)
    s->strength = gtk_spin_button_get_value (GTK_SPIN_BUTTON (d->strength));
  if (d->mask_blur)
    {
      s->mask_blur   = gtk_spin_button_get_value (GTK_SPIN_BUTTON (d->mask_blur));
      s->only_masked = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d->only_masked));
      s->padding     = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->padding));
    }
  s->tiling = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d->tiling));
  s->batch_count = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->batch_count));
  for (gint i = 0; i < 4 && d->grow[0]; i++)
    s->grow[i] = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->grow[i]));
  g_strlcpy (s->device, current_device (d), sizeof s->device);
}

/* ---- Generate with the dialog open ------------------------------------------------ */

/* Any response while a run is going (Stop, closing the window) stops it;
 * the buttons that could start something else are insensitive then. */
static void
response_while_generating (GtkDialog *dialog,
                           gint       response,
                           Dialog    *d)
{
  if (d->generating)
    d->stop = TRUE;
}

static gboolean
show_step (gdouble           fraction,
           const sdcl_image *picture,
           gpointer          data)
{
  Dialog *d = data;

  sdcl_preview_step (d->preview, fraction, picture);
  while (gtk_events_pending ())
    gtk_main_iteration ();
  return !d->stop;
}

static void
generate_in_dialog (Dialog             *d,
                    SdclSettings       *settings,
                    SdclDialogGenerate  generate,
                    gpointer            generate_data,
                    SdclBatch          *batch)
{
  GError       *error = NULL;
  SdclSettings  s = *settings;

  sdcl_batch_clear (batch);
  sdcl_preview_start (d->preview);
  s.preview     = TRUE;
  d->generating = TRUE;
  d->stop       = FALSE;
  gtk_button_set_label (GTK_BUTTON (d->generate), _("_Stop"));
  gtk_dialog_set_response_sensitive (GTK_DIALOG (d->dialog), GTK_RESPONSE_OK, FALSE);
  gtk_widget_set_sensitive (d->grid, FALSE);

  if (generate (&s, show_step, d, batch, &error, generate_data))
    sdcl_preview_show_batch (d->preview, batch);
  else
    sdcl_preview_message (d->preview, d->stop || !error ? _("Stopped") : error->message);
  g_clear_error (&error);

  d->generating = FALSE;
  gtk_button_set_label (GTK_BUTTON (d->generate), _("_Generate"));
  gtk_dialog_set_response_sensitive (GTK_DIALOG (d->dialog), GTK_RESPONSE_OK, TRUE);
  gtk_widget_set_sensitive (d->grid, TRUE);
  /* The seed the run used, for "untick Random to repeat it". */
  if (batch->count > 0)
    settings->last_seed = batch->seeds[0];
}

gboolean
sdcl_dialog_run (SdclMode            mode,
                 const gchar        *help_id,
                 const gchar        *prefs_file,
                 const gchar        *blocker,
                 SdclSession        *session,
                 SdclSettings       *settings,
                 SdclDialogGenerate  generate,
                 gpointer            generate_data,
                 SdclBatch          *batch)
{
  Dialog   d = { 0 };
  gboolean ok = FALSE;

  d.mode        = mode;
  d.session     = session;
  d.prefs_file  = prefs_file;
  d.blocker     = blocker;
  d.model_paths = g_ptr_array_new_with_free_func (g_free);
  d.device_ids  = g_ptr_array_new_with_free_func (g_free);

  d.dialog = gimp_dialog_new (_(sdcl_mode_title (mode)), "sdcl-gimp", NULL, 0,
                              gimp_standard_help_func, help_id,
                              _("_Cancel"), GTK_RESPONSE_CANCEL,
                              _("_OK"), GTK_RESPONSE_OK,
                              NULL);
  gtk_dialog_set_default_response (GTK_DIALOG (d.dialog), GTK_RESPONSE_OK);
  gimp_window_set_transient (GTK_WINDOW (d.dialog));

  build (&d, settings);
  if (generate)
    {
      /* The live preview right of the settings; Generate keeps the dialog
       * open, OK adds what it made (or, with nothing made, runs as ever). */
      d.preview  = sdcl_preview_new ();
      d.generate = gtk_dialog_add_button (GTK_DIALOG (d.dialog), _("_Generate"),
                                          RESPONSE_GENERATE);
      gtk_container_set_border_width (GTK_CONTAINER (sdcl_preview_widget (d.preview)), 12);
      gtk_box_pack_start (GTK_BOX (d.body), sdcl_preview_widget (d.preview), FALSE, FALSE, 0);
      gtk_widget_set_sensitive (d.generate, blocker == NULL);
      g_signal_connect (d.dialog, "response", G_CALLBACK (response_while_generating), &d);
    }
  gtk_dialog_set_response_sensitive (GTK_DIALOG (d.dialog), GTK_RESPONSE_OK, blocker == NULL);
  gtk_widget_show_all (d.dialog);
  describe_model (&d);

  while (!ok)
    {
      gint    response = gimp_dialog_run (GIMP_DIALOG (d.dialog));
      gchar  *path;
      GError *error = NULL;

      if (response != GTK_RESPONSE_OK && response != RESPONSE_GENERATE)
        break;
      read_back (&d, settings);
      path = sdcl_model_path_resolve (settings->model, mode, &error);
      if (!path || !sdcl_settings_validate (settings, mode, &error))
        {
          /* Keep the dialog: without a model, or with a schedule the
           * sampler does not take, nothing can run. */
          gtk_label_set_text (GTK_LABEL (d.model_info), error->message);
          g_error_free (error);
          g_free (path);
          continue;
        }
      g_free (path);
      if (response == RESPONSE_GENERATE)
        {
          generate_in_dialog (&d, settings, generate, generate_data, batch);
          continue;
        }
      ok = TRUE;
    }
  if (ok && d.preview)
    sdcl_preview_keep_chosen (d.preview, batch);
  else
    sdcl_batch_clear (batch);
  sdcl_preview_free (d.preview);

  gtk_widget_destroy (d.dialog);
  sdcl_file_list_free (d.loras);
  sdcl_file_list_free (d.embeddings);
  g_ptr_array_unref (d.model_paths);
  g_ptr_array_unref (d.device_ids);
  return ok;
}

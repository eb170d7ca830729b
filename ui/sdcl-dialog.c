/* sdcl GIMP plug-in: the settings dialog (see sdcl-dialog.h).
 *
 * One hand-built dialog for both GIMP versions, so that they look and
 * behave the same.  GIMP 2.10 links GTK 2 and GIMP 3.0 GTK 3; the few calls
 * that differ are in the "GTK 2 / GTK 3" section right below (and
 * cursor_unref in sdcl-dialog-model.c), nowhere else.  The model rows are
 * in sdcl-dialog-model.c, the file lists in sdcl-file-list.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>
#include <glib/gi18n-lib.h>

#include "sdcl-dialog-private.h"

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

void
sdcl_dialog_grid_attach (GtkWidget *grid,
                         GtkWidget *child,
                         gint       column,
                         gint       row,
                         gint       width,
                         gboolean   expand)
{
  gtk_widget_set_hexpand (child, expand);
  gtk_grid_attach (GTK_GRID (grid), child, column, row, width, 1);
}

GtkWidget *
sdcl_dialog_hbox_new (void)
{
  return gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
}

void
sdcl_dialog_label_align (GtkWidget *label,
                         gboolean   top)
{
  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_widget_set_valign (label, top ? GTK_ALIGN_START : GTK_ALIGN_CENTER);
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

void
sdcl_dialog_grid_attach (GtkWidget *grid,
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

GtkWidget *
sdcl_dialog_hbox_new (void)
{
  return gtk_hbox_new (FALSE, 6);
}

void
sdcl_dialog_label_align (GtkWidget *label,
                         gboolean   top)
{
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, top ? 0.0 : 0.5);
}
#endif

/* ---- the dialog -------------------------------------------------------------------- */

GtkWidget *
sdcl_dialog_add_row (Dialog      *d,
                     const gchar *mnemonic,
                     GtkWidget   *widget,
                     gboolean     top)
{
  sdcl_dialog_add_row_for (d, mnemonic, widget, widget, top);
  return widget;
}

/* A row whose widget is a container: the label's mnemonic focuses `target`. */
void
sdcl_dialog_add_row_for (Dialog      *d,
                         const gchar *mnemonic,
                         GtkWidget   *widget,
                         GtkWidget   *target,
                         gboolean     top)
{
  GtkWidget *label = gtk_label_new_with_mnemonic (mnemonic);

  sdcl_dialog_label_align (label, top);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), target);
  sdcl_dialog_grid_attach (d->grid, label, 0, d->row, 1, FALSE);
  sdcl_dialog_grid_attach (d->grid, widget, 1, d->row, 2, TRUE);
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

const gchar *
sdcl_dialog_current_model (Dialog *d)
{
  gint i = gtk_combo_box_get_active (GTK_COMBO_BOX (d->model));

  return i >= 0 && (guint) i < d->model_paths->len ? g_ptr_array_index (d->model_paths, i) : NULL;
}

const gchar *
sdcl_dialog_current_device (Dialog *d)
{
  gint i = gtk_combo_box_get_active (GTK_COMBO_BOX (d->device));

  return i >= 0 && (guint) i < d->device_ids->len ? g_ptr_array_index (d->device_ids, i) : "";
}

gboolean
sdcl_dialog_current_turbo (Dialog *d)
{
  return d->turbo && gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d->turbo));
}

const gchar *
sdcl_dialog_current_prediction (Dialog *d)
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
  sdcl_dialog_add_row (d, _("_Device:"), d->device, FALSE);
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
  sdcl_dialog_add_row (d, _("Prompt s_yntax:"), d->prompt_syntax, FALSE);

  d->loras = sdcl_file_list_new (TRUE, s->loras, lora_dir, _("_Add LoRA…"));
  gtk_widget_set_tooltip_text (sdcl_file_list_widget (d->loras),
                               _("LoRA files and their weights; <lora:NAME:WEIGHT> in the "
                                 "prompt also loads NAME.safetensors from the Lora folder "
                                 "beside the model"));
  sdcl_dialog_add_row (d, _("LoRAs:"), sdcl_file_list_widget (d->loras), TRUE);
  d->embeddings = sdcl_file_list_new (FALSE, s->embeddings, models_dir,
                                      _("Add _embedding…"));
  gtk_widget_set_tooltip_text (sdcl_file_list_widget (d->embeddings),
                               _("Textual-inversion embeddings (.safetensors): write a file's "
                                 "name without its extension in the prompt to use it"));
  sdcl_dialog_add_row (d, _("Embeddings:"), sdcl_file_list_widget (d->embeddings), TRUE);
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
  d->body = sdcl_dialog_hbox_new ();
  gtk_box_pack_start (GTK_BOX (gtk_dialog_get_content_area (GTK_DIALOG (d->dialog))), d->body,
                      TRUE, TRUE, 0);
  gtk_box_pack_start (GTK_BOX (d->body), d->grid, TRUE, TRUE, 0);

  if (d->blocker)
    {
      /* Said before OK, not after a failed run. */
      GtkWidget *notice = gtk_label_new (d->blocker);

      sdcl_dialog_label_align (notice, FALSE);
      gtk_label_set_line_wrap (GTK_LABEL (notice), TRUE);
      sdcl_dialog_grid_attach (d->grid, notice, 0, d->row++, 3, TRUE);
    }
  sdcl_dialog_build_model_rows (d, s);
  d->prediction = choice_combo_new (G_N_ELEMENTS (prediction_names), prediction_name,
                                    prediction_label, s->prediction);
  gtk_widget_set_tooltip_text (d->prediction,
                               _("What the model predicts: as its files say, or forced (a "
                                 "single-file SD 2.x 768-v model without its .yaml needs v)"));
  sdcl_dialog_add_row (d, _("Predi_ction:"), d->prediction, FALSE);
  /* Another prediction is another model load (and maybe another size). */
  g_signal_connect (d->prediction, "changed", G_CALLBACK (sdcl_dialog_model_changed), d);

  box = text_new (s->prompt, 4, &d->prompt);
  sdcl_dialog_add_row_for (d, _("_Prompt:"), box, d->prompt, TRUE);
  box = text_new (s->negative, 2, &d->negative);
  sdcl_dialog_add_row_for (d, _("_Negative prompt:"), box, d->negative, TRUE);
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
  sdcl_dialog_add_row (d, _("_Sampler:"), d->sampler, FALSE);

  /* Listed from the engine, as the samplers are. */
  d->schedule = choice_combo_new (sdcl_schedule_count (), schedule_name, schedule_label,
                                  s->schedule);
  gtk_widget_set_tooltip_text (d->schedule,
                               _("Where the steps sit on the noise scale; not every sampler "
                                 "takes every schedule"));
  sdcl_dialog_add_row (d, _("Sc_hedule:"), d->schedule, FALSE);

  d->steps = sdcl_dialog_add_row (d, _("S_teps:"), spin_new (s->steps, 1, SDCL_STEPS_MAX, 1, 0), FALSE);
  d->guidance = sdcl_dialog_add_row (d, _("_Guidance:"),
                         spin_new (s->guidance, 0, SDCL_GUIDANCE_MAX, 0.5, 1), FALSE);
  gtk_widget_set_tooltip_text (d->guidance,
                               _("How closely to follow the prompt; 1 or less ignores the "
                                 "negative prompt and runs twice as fast"));

  box = sdcl_dialog_hbox_new ();
  d->seed = spin_new (s->seed == SDCL_SEED_RANDOM ? s->last_seed : s->seed, 0, G_MAXINT, 1, 0);
  gtk_box_pack_start (GTK_BOX (box), d->seed, TRUE, TRUE, 0);
  d->random_seed = gtk_check_button_new_with_mnemonic (_("_Random"));
  gtk_widget_set_tooltip_text (d->random_seed,
                               _("Pick a new seed every run; the seed used is part of the "
                                 "new layer's name"));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->random_seed), s->seed == SDCL_SEED_RANDOM);
  gtk_box_pack_start (GTK_BOX (box), d->random_seed, FALSE, FALSE, 0);
  sdcl_dialog_add_row_for (d, _("S_eed:"), box, d->seed, FALSE);
  random_toggled (GTK_TOGGLE_BUTTON (d->random_seed), d);
  d->batch_count = sdcl_dialog_add_row (d, _("Ima_ges:"),
                            spin_new (s->batch_count, 1, SDCL_BATCH_MAX, 1, 0), FALSE);
  gtk_widget_set_tooltip_text (d->batch_count,
                               _("How many images to make, from consecutive seeds; each "
                                 "becomes a layer (all of them one undo step)"));
  g_signal_connect (d->random_seed, "toggled", G_CALLBACK (random_toggled), d);

  if (d->mode == SDCL_MODE_TXT2IMG)
    {
      /* 0 x 0 means the model's native size, shown once it is known. */
      d->size_follows_model = s->width == 0 && s->height == 0;
      d->width  = sdcl_dialog_add_row (d, _("_Width:"),
                           spin_new (s->width ? s->width : SDCL_SIZE_MIN, SDCL_SIZE_MIN,
                                     SDCL_SIZE_MAX, 8, 0), FALSE);
      d->height = sdcl_dialog_add_row (d, _("_Height:"),
                           spin_new (s->height ? s->height : SDCL_SIZE_MIN, SDCL_SIZE_MIN,
                                     SDCL_SIZE_MAX, 8, 0), FALSE);
      g_signal_connect (d->width, "value-changed", G_CALLBACK (sdcl_dialog_size_edited), d);
      g_signal_connect (d->height, "value-changed", G_CALLBACK (sdcl_dialog_size_edited), d);
      gtk_widget_set_tooltip_text (d->width, _("A multiple of 8; the model's native size works best"));
      gtk_widget_set_tooltip_text (d->height, _("A multiple of 8; the model's native size works best"));
    }
  else
    {
      d->strength = sdcl_dialog_add_row (d, _("St_rength:"), spin_new (s->strength, 0, 1, 0.05, 2), FALSE);
      gtk_widget_set_tooltip_text (d->strength,
                                   _("0 keeps the input, 1 redraws it completely"));
    }

  if (d->mode == SDCL_MODE_OUTPAINT)
    {
      /* TRANSLATORS: the sides of the canvas, short: they label spin buttons */
      const gchar *sides[4] = { N_("Left"), N_("Top"), N_("Right"), N_("Bottom") };

      box = sdcl_dialog_hbox_new ();
      for (gint i = 0; i < 4; i++)
        {
          d->grow[i] = spin_new (s->grow[i], 0, SDCL_GROW_MAX, 8, 0);
          gtk_box_pack_start (GTK_BOX (box), gtk_label_new (_(sides[i])), FALSE, FALSE, 0);
          gtk_box_pack_start (GTK_BOX (box), d->grow[i], FALSE, FALSE, 0);
        }
      gtk_widget_set_tooltip_text (box, _("Pixels to add on each side of the canvas; all 0 "
                                          "fills the layer's transparent pixels only"));
      sdcl_dialog_add_row_for (d, _("Grow can_vas:"), box, d->grow[0], FALSE);
    }

  if (d->mode == SDCL_MODE_INPAINT)
    {
      d->mask_blur = sdcl_dialog_add_row (d, _("Mask _blur:"),
                              spin_new (s->mask_blur, 0, SDCL_BLUR_MAX, 1, 1), FALSE);
      gtk_widget_set_tooltip_text (d->mask_blur,
                                   _("Softens the selection's edge, in pixels"));
      box = sdcl_dialog_hbox_new ();
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
      sdcl_dialog_add_row_for (d, _("Area:"), box, d->only_masked, FALSE);
      only_masked_toggled (GTK_TOGGLE_BUTTON (d->only_masked), d);
      g_signal_connect (d->only_masked, "toggled", G_CALLBACK (only_masked_toggled), d);
    }

  d->tiling = gtk_check_button_new_with_mnemonic (_("Seamless te_xture"));
  gtk_widget_set_tooltip_text (d->tiling,
                               _("Make an image that tiles: its edges wrap around, so copies "
                                 "placed side by side show no seam"));
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->tiling), s->tiling);
  sdcl_dialog_add_row_for (d, _("Tiling:"), d->tiling, d->tiling, FALSE);

  build_device_row (d, s);
}

static void
read_back (Dialog       *d,
           SdclSettings *s)
{
  const gchar *model = sdcl_dialog_current_model (d);
  gint         sampler = gtk_combo_box_get_active (GTK_COMBO_BOX (d->sampler));

  g_strlcpy (s->model, model ? model : "", sizeof s->model);
  text_get (d->prompt, s->prompt, sizeof s->prompt);
  text_get (d->negative, s->negative, sizeof s->negative);
  if (sampler >= 0)
    g_strlcpy (s->sampler, sdcl_sampler_name ((sdcl_sampler) sampler), sizeof s->sampler);
  g_strlcpy (s->schedule,
             schedule_name (MAX (0, gtk_combo_box_get_active (GTK_COMBO_BOX (d->schedule)))),
             sizeof s->schedule);
  g_strlcpy (s->prediction, sdcl_dialog_current_prediction (d), sizeof s->prediction);
  s->turbo = sdcl_dialog_current_turbo (d);
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
  g_strlcpy (s->device, sdcl_dialog_current_device (d), sizeof s->device);
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
  d.shown_turbo = -1;

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
  sdcl_dialog_describe_model (&d);

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

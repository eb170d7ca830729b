/* sdcl GIMP plug-in: the GIMP 3.0 glue (libgimp-3.0).
 *
 * Registers Filters > Generative > Text to Image / Image to Image / Inpaint,
 * moves values between the GimpProcedureConfig and an SdclSettings, and turns
 * the engine's image into a new layer.  Everything below the GIMP API is in
 * sdcl-gimp-core.c and the dialog in ui/sdcl-dialog.c; sdcl-gimp2.c is the
 * GIMP 2.10 counterpart.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>
#include <glib/gi18n-lib.h>

#include "sdcl-gimp-core.h"
#include "sdcl-dialog.h"

#define PLUG_IN_BINARY "sdcl-gimp"
#define MENU_PATH      "<Image>/Filters/Generative"

/* GIMP 3 adds a menu's plug-in entries in the order of their menu path
 * and label, and drops a [section] of the path that the menu does not
 * define.  So a section named after the wanted position orders the entries
 * the same in every language: Text to Image, Image to Image, Inpaint,
 * Outpaint, then Release Model Memory. */
static gchar *
menu_path_at (gint position)
{
  return g_strdup_printf ("%s/[sdcl-%d]", MENU_PATH, position);
}

typedef struct _SdclPlugIn      SdclPlugIn;
typedef struct _SdclPlugInClass SdclPlugInClass;

struct _SdclPlugIn
{
  GimpPlugIn parent_instance;
};

struct _SdclPlugInClass
{
  GimpPlugInClass parent_class;
};

#define SDCL_TYPE_PLUG_IN (sdcl_plug_in_get_type ())

GType sdcl_plug_in_get_type (void) G_GNUC_CONST;

G_DEFINE_TYPE (SdclPlugIn, sdcl_plug_in, GIMP_TYPE_PLUG_IN)

/* Not GIMP_MAIN (): this binary is also the resident model server, which
 * the plug-in starts with --sdcl-server (sdcl-gimp-server.c says why). */
int
main (int    argc,
      char **argv)
{
  if (sdcl_server_requested (argc, argv))
    return sdcl_server_main (argc, argv);
  return gimp_main (SDCL_TYPE_PLUG_IN, argc, argv);
}

static GList *
sdcl_plug_in_query_procedures (GimpPlugIn *plug_in)
{
  GList *list = NULL;

  for (SdclMode mode = SDCL_MODE_TXT2IMG; mode <= SDCL_MODE_LAST; mode++)
    list = g_list_append (list, g_strdup (sdcl_mode_procedure (mode)));
  list = g_list_append (list, g_strdup (SDCL_RELEASE_PROCEDURE));
  return list;
}

static gboolean
sdcl_plug_in_set_i18n (GimpPlugIn   *plug_in,
                       const gchar  *procedure_name,
                       gchar       **gettext_domain,
                       gchar       **catalog_dir)
{
  /* One domain for the project; the catalogs sit in the plug-in's own
   * locale/ folder (po/meson.build installs them there too). */
  *gettext_domain = g_strdup (GETTEXT_PACKAGE);
  *catalog_dir    = NULL;
  return TRUE;
}

static SdclMode
mode_of (GimpProcedure *procedure)
{
  const gchar *name = gimp_procedure_get_name (procedure);

  for (SdclMode mode = SDCL_MODE_TXT2IMG; mode <= SDCL_MODE_LAST; mode++)
    if (strcmp (name, sdcl_mode_procedure (mode)) == 0)
      return mode;
  g_return_val_if_reached (SDCL_MODE_TXT2IMG);
}

/* ---- settings <-> config ----------------------------------------------------- */

static void
get_string (GimpProcedureConfig *config,
            const gchar         *property,
            gchar               *dest,
            gsize                size)
{
  gchar *value = NULL;

  g_object_get (config, property, &value, NULL);
  g_strlcpy (dest, value ? value : "", size);
  g_free (value);
}

static void
settings_from_config (SdclMode             mode,
                      GimpProcedureConfig *config,
                      SdclSettings        *s)
{
  sdcl_settings_init (s, mode);
  get_string (config, "model", s->model, sizeof s->model);
  get_string (config, "prompt", s->prompt, sizeof s->prompt);
  get_string (config, "negative-prompt", s->negative, sizeof s->negative);
  get_string (config, "sampler", s->sampler, sizeof s->sampler);
  get_string (config, "device", s->device, sizeof s->device);
  get_string (config, "schedule", s->schedule, sizeof s->schedule);
  get_string (config, "prediction", s->prediction, sizeof s->prediction);
  get_string (config, "loras", s->loras, sizeof s->loras);
  get_string (config, "prompt-syntax", s->prompt_syntax, sizeof s->prompt_syntax);
  get_string (config, "embeddings", s->embeddings, sizeof s->embeddings);
  g_object_get (config, "batch-count", &s->batch_count, NULL);
  g_object_get (config,
                "steps",     &s->steps,
                "guidance",  &s->guidance,
                "seed",      &s->seed,
                "last-seed", &s->last_seed,
                "tiling",    &s->tiling,
                "turbo",     &s->turbo,
                NULL);
  if (mode == SDCL_MODE_TXT2IMG)
    g_object_get (config, "width", &s->width, "height", &s->height, NULL);
  else
    g_object_get (config, "strength", &s->strength, NULL);
  if (mode == SDCL_MODE_OUTPAINT)
    g_object_get (config, "grow-left", &s->grow[0], "grow-top", &s->grow[1],
                  "grow-right", &s->grow[2], "grow-bottom", &s->grow[3], NULL);
  if (mode == SDCL_MODE_INPAINT)
    g_object_get (config,
                  "mask-blur",   &s->mask_blur,
                  "only-masked", &s->only_masked,
                  "padding",     &s->padding,
                  NULL);
}

static void
settings_to_config (SdclMode             mode,
                    const SdclSettings  *s,
                    GimpProcedureConfig *config)
{
  g_object_set (config,
                "model",           s->model,
                "prompt",          s->prompt,
                "negative-prompt", s->negative,
                "sampler",         s->sampler,
                "device",          s->device,
                "schedule",        s->schedule,
                "prediction",      s->prediction,
                "loras",           s->loras,
                "prompt-syntax",   s->prompt_syntax,
                "embeddings",      s->embeddings,
                "batch-count",     s->batch_count,
                "steps",           s->steps,
                "guidance",        s->guidance,
                "seed",            s->seed,
                "last-seed",       s->last_seed,
                "tiling",          s->tiling,
                "turbo",           s->turbo,
                NULL);
  if (mode == SDCL_MODE_TXT2IMG)
    g_object_set (config, "width", s->width, "height", s->height, NULL);
  else
    g_object_set (config, "strength", s->strength, NULL);
  if (mode == SDCL_MODE_OUTPAINT)
    g_object_set (config, "grow-left", s->grow[0], "grow-top", s->grow[1],
                  "grow-right", s->grow[2], "grow-bottom", s->grow[3], NULL);
  if (mode == SDCL_MODE_INPAINT)
    g_object_set (config,
                  "mask-blur",   s->mask_blur,
                  "only-masked", s->only_masked,
                  "padding",     s->padding,
                  NULL);
}

/* ---- running ----------------------------------------------------------------- */

static gboolean
progress_update (gdouble           fraction,
                 const sdcl_image *preview,
                 gpointer          data)
{
  /* GIMP's Cancel kills this process (gimp_plug_in_close): the model
   * server sees the connection close and stops the engine within a step.
   * A failing update means GIMP no longer listens: stop as well. */
  return gimp_progress_update (fraction);
}

static gboolean
prepare_job (SdclMode             mode,
             GimpImage           *image,
             GimpDrawable        *drawable,
             const SdclSettings  *s,
             SdclJob             *job,
             gint                *layer_x,
             gint                *layer_y,
             GError             **error)
{
  gint ox = 0, oy = 0;

  memset (job, 0, sizeof *job);
  job->mode = mode;
  if (drawable && !gimp_item_is_layer (GIMP_ITEM (drawable)))
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The active drawable is not a layer: select a layer (not a mask or "
                     "channel) and try again."));
      return FALSE;
    }
  if (drawable)
    gimp_drawable_get_offsets (drawable, &ox, &oy);

  switch (mode)
    {
    case SDCL_MODE_TXT2IMG:
      job->area  = (GeglRectangle) { 0, 0, s->width, s->height };
      job->space = drawable ? gimp_drawable_get_format (drawable) : NULL;
      break;

    case SDCL_MODE_IMG2IMG:
    case SDCL_MODE_INPAINT:
    case SDCL_MODE_OUTPAINT:
      if (!drawable)
        {
          g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                       _("There is no active layer to work on."));
          return FALSE;
        }
      job->space = gimp_drawable_get_format (drawable);
      if (mode == SDCL_MODE_OUTPAINT)
        {
          /* The layer grown by the margins, in memory: the image changes
           * only once the result is there. */
          GeglBuffer *layer = gimp_drawable_get_buffer (drawable);

          job->source = sdcl_outpaint_source (layer, s->grow, job->space);
          job->area   = *gegl_buffer_get_extent (job->source);
          g_object_unref (layer);
          *layer_x = ox - s->grow[0];
          *layer_y = oy - s->grow[1];
          return TRUE;
        }
      if (mode == SDCL_MODE_IMG2IMG)
        {
          /* The selection's bounding box within the layer, or all of it. */
          if (!gimp_drawable_mask_intersect (drawable, &job->area.x, &job->area.y,
                                             &job->area.width, &job->area.height))
            {
              g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                           _("The selection does not touch the active layer."));
              return FALSE;
            }
        }
      else
        {
          if (gimp_selection_is_empty (image))
            {
              g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                           _("Inpainting needs a selection: select the area to repaint "
                             "(feather it for a soft edge) and try again."));
              return FALSE;
            }
          /* The whole layer is context; the selection says what changes. */
          job->area = (GeglRectangle) { 0, 0, gimp_drawable_get_width (drawable),
                                        gimp_drawable_get_height (drawable) };
          job->mask   = gimp_drawable_get_buffer (GIMP_DRAWABLE (gimp_image_get_selection (image)));
          job->mask_x = ox;
          job->mask_y = oy;
        }
      job->source = gimp_drawable_get_buffer (drawable);
      break;
    }
  *layer_x = ox + job->area.x;
  *layer_y = oy + job->area.y;
  return TRUE;
}

/* Outpaint: the canvas grows by the margins (every layer keeps its place
 * on the picture); returns where (x, y) of the old canvas now is. */
static void
grow_canvas (GimpImage   *image,
             const gint   grow[4],
             gint        *x,
             gint        *y)
{
  if (grow[0] + grow[1] + grow[2] + grow[3] == 0)
    return;
  gimp_image_resize (image, gimp_image_get_width (image) + grow[0] + grow[2],
                     gimp_image_get_height (image) + grow[1] + grow[3], grow[0], grow[1]);
  *x += grow[0];
  *y += grow[1];
}

/* Adds the result as a new layer above `drawable`, as one undo step (with
 * the canvas growth of Outpaint). */
static GimpLayer *
add_result_layer (SdclMode          mode,
                  GimpImage        *image,
                  GimpDrawable     *drawable,
                  const sdcl_image *result,
                  const gchar      *name,
                  gint              x,
                  gint              y,
                  const SdclJob    *job,
                  const gint        grow[4])
{
  gboolean    gray     = gimp_image_get_base_type (image) == GIMP_GRAY;
  GimpItem   *parent   = drawable ? gimp_item_get_parent (GIMP_ITEM (drawable)) : NULL;
  gint        position = drawable ? gimp_image_get_item_position (image, GIMP_ITEM (drawable)) : 0;
  GimpLayer  *layer;
  GeglBuffer *buffer;
  GimpLayer  *selected[2] = { NULL, NULL };

  gimp_image_undo_group_start (image);
  if (mode == SDCL_MODE_OUTPAINT)
    grow_canvas (image, grow, &x, &y);

  layer = gimp_layer_new (image, name, result->width, result->height,
                          gray ? GIMP_GRAYA_IMAGE : GIMP_RGBA_IMAGE, 100.0,
                          gimp_image_get_default_new_layer_mode (image));
  /* Same parent and position as the source: directly above it. */
  gimp_image_insert_layer (image, layer, GIMP_LAYER (parent), position);
  gimp_layer_set_offsets (layer, x, y);

  buffer = gimp_drawable_get_buffer (GIMP_DRAWABLE (layer));
  sdcl_write_image (buffer, result, gimp_drawable_get_format (GIMP_DRAWABLE (layer)));
  g_object_unref (buffer); /* flushes the pixels to GIMP */

  if (mode == SDCL_MODE_INPAINT)
    {
      /* Outside the selection the layer is hidden, so the composite there is
       * exactly what it was. */
      GimpLayerMask *mask = gimp_layer_create_mask (layer, GIMP_ADD_MASK_SELECTION);

      gimp_layer_add_mask (layer, mask);
    }
  if (mode == SDCL_MODE_OUTPAINT)
    {
      /* Shows the filled pixels only: the known ones stay exactly as they
       * were, whatever the model made of them. */
      GimpLayerMask *mask = gimp_layer_create_mask (layer, GIMP_ADD_MASK_WHITE);

      gimp_layer_add_mask (layer, mask);
      buffer = gimp_drawable_get_buffer (GIMP_DRAWABLE (mask));
      sdcl_write_unknown_mask (buffer, job->source);
      g_object_unref (buffer);
    }
  gimp_drawable_update (GIMP_DRAWABLE (layer), 0, 0, result->width, result->height);
  selected[0] = layer;
  gimp_image_set_selected_layers (image, (const GimpLayer **) selected);

  gimp_image_undo_group_end (image);
  return layer;
}

/* sdcl_batch_add_layers' callback: where the layers go, and the layers. */
typedef struct
{
  SdclMode       mode;
  GimpImage     *image;
  GimpDrawable  *drawable;
  const SdclJob *job;
  GimpLayer    **layers;
} Adding;

static void
add_batch_layer (gint              index,
                 const sdcl_image *result,
                 const gchar      *name,
                 gint              x,
                 gint              y,
                 const gint        grow[4],
                 gpointer          data)
{
  Adding *a = data;

  a->layers[index] = add_result_layer (a->mode, a->image, a->drawable, result, name, x, y,
                                       a->job, grow);
}

/* The dialog's Generate: the same steps as after OK, with the dialog's
 * progress (the step pictures); `used` keeps the settings the images were
 * made with, which OK adds even if the dialog changed since. */
typedef struct
{
  SdclMode      mode;
  GimpImage    *image;
  GimpDrawable *drawable;
  SdclSession  *session;
  SdclJob      *job;
  gint         *x, *y;
  SdclSettings  used;
} DialogRun;

static gboolean
generate_for_dialog (const SdclSettings *s,
                     SdclProgressFunc    progress,
                     gpointer            progress_data,
                     SdclBatch          *batch,
                     GError            **error,
                     gpointer            user_data)
{
  DialogRun *r = user_data;

  g_clear_object (&r->job->source);
  g_clear_object (&r->job->mask);
  r->used = *s;
  return prepare_job (r->mode, r->image, r->drawable, s, r->job, r->x, r->y, error) &&
         sdcl_session_prepare (r->session, s, r->mode, error) &&
         sdcl_generate_batch (r->session, s, r->job, progress, progress_data, batch, error);
}

static GimpValueArray *
sdcl_run (GimpProcedure        *procedure,
          GimpRunMode           run_mode,
          GimpImage            *image,
          GimpDrawable        **drawables,
          GimpProcedureConfig  *config,
          gpointer              run_data)
{
  SdclMode          mode = mode_of (procedure);
  const gchar      *name = gimp_procedure_get_name (procedure);
  GimpDrawable     *drawable = drawables ? drawables[0] : NULL;
  SdclSettings      s;
  SdclJob           job = { 0 };
  SdclSession      *session = sdcl_session_new_resident (gimp_get_progname ());
  SdclBatch         batch = { 0 };
  gint              x = 0, y = 0;
  GError           *error = NULL;
  GimpPDBStatusType status = GIMP_PDB_SUCCESS;
  GimpLayer       **layers = NULL; /* NULL-terminated, as the PDB returns them */
  GimpValueArray   *values;
  gchar            *prefs_file = g_build_filename (gimp_directory (), "sdcl.ini", NULL);
  DialogRun         dialog_run = { mode, image, drawable, session, &job, &x, &y };
  const SdclSettings *made = &s; /* the settings the images were made with */
  Adding            adding;

  gegl_init (NULL, NULL);
  settings_from_config (mode, config, &s);

  if (run_mode == GIMP_RUN_INTERACTIVE)
    {
      /* Inpaint without a selection says so before OK, not after it. */
      const gchar *blocker = mode == SDCL_MODE_INPAINT && gimp_selection_is_empty (image)
                             ? _("Inpainting needs a selection: select the area to repaint "
                                 "(feather it for a soft edge) and try again.")
                             : NULL;

      gimp_ui_init (PLUG_IN_BINARY);
      if (!sdcl_dialog_run (mode, name, prefs_file, blocker, session, &s, generate_for_dialog,
                            &dialog_run, &batch))
        {
          status = GIMP_PDB_CANCEL;
          goto done;
        }
      settings_to_config (mode, &s, config);
    }

  if (batch.count > 0)
    {
      /* Made in the dialog: only adding is left. */
      made = &dialog_run.used;
      goto add;
    }
  g_clear_object (&job.source); /* a dialog run that made nothing */
  g_clear_object (&job.mask);
  if (!prepare_job (mode, image, drawable, &s, &job, &x, &y, &error))
    {
      status = GIMP_PDB_EXECUTION_ERROR;
      goto done;
    }

  gimp_progress_init (_("Loading the model…"));
  if (!sdcl_session_prepare (session, &s, mode, &error))
    {
      status = GIMP_PDB_EXECUTION_ERROR;
      goto done;
    }
  gimp_progress_set_text (_("Generating…"));
  if (!sdcl_generate_batch (session, &s, &job, progress_update, NULL, &batch, &error))
    {
      status = g_error_matches (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_CANCELLED)
               ? GIMP_PDB_CANCEL : GIMP_PDB_EXECUTION_ERROR;
      goto done;
    }
  gimp_progress_update (1.0);

add:
  /* The batch as one undo step: the canvas grows (Outpaint) with the first
   * layer only, the others go where it went. */
  layers = g_new0 (GimpLayer *, batch.count + 1);
  adding = (Adding) { mode, image, drawable, &job, layers };
  gimp_image_undo_group_start (image);
  sdcl_batch_add_layers (&batch, made, x, y, add_batch_layer, &adding);
  gimp_image_undo_group_end (image);
  if (run_mode != GIMP_RUN_NONINTERACTIVE)
    {
      /* Stored with the other last values: with "Random" on, the dialog
       * shows this seed, so unticking it reproduces the image. */
      g_object_set (config, "last-seed", batch.seeds[0], NULL);
      gimp_displays_flush ();
    }

done:
  values = gimp_procedure_new_return_values (procedure, status, error);
  if (status == GIMP_PDB_SUCCESS)
    {
      GIMP_VALUES_SET_LAYER (values, 1, layers[0]);
      GIMP_VALUES_SET_INT (values, 2, batch.seeds[0]);
      GIMP_VALUES_SET_CORE_OBJECT_ARRAY (values, 3, layers);
    }
  g_free (layers);
  sdcl_batch_clear (&batch);
  g_clear_object (&job.source);
  g_clear_object (&job.mask);
  sdcl_session_free (session);
  g_free (prefs_file);
  return values;
}

/* ---- registration ------------------------------------------------------------ */

static void
add_common_arguments (GimpProcedure *procedure)
{
  /* Every sampler of the engine, labels translated in this domain. */
  GimpChoice *samplers = gimp_choice_new ();
  gchar      *names    = sdcl_sampler_names ();

  for (gint i = 0; i < sdcl_sampler_count (); i++)
    gimp_choice_add (samplers, sdcl_sampler_name ((sdcl_sampler) i), i,
                     _(sdcl_sampler_label ((sdcl_sampler) i)), NULL);

  gimp_procedure_add_string_argument (procedure, "model", _("_Model"),
                                      _("Diffusers folder or .safetensors file (SD 1.x); empty for "
                                        "the demo model"),
                                      "", G_PARAM_READWRITE);
  gimp_procedure_add_string_argument (procedure, "prompt", _("_Prompt"),
                                      _("What to draw"), "", G_PARAM_READWRITE);
  gimp_procedure_add_string_argument (procedure, "negative-prompt", _("_Negative prompt"),
                                      _("What to avoid (may be empty)"), "", G_PARAM_READWRITE);
  gimp_procedure_add_choice_argument (procedure, "sampler", _("_Sampler"), names, samplers,
                                      sdcl_sampler_name (sdcl_gen_default_params ().sampler),
                                      G_PARAM_READWRITE);
  g_free (names);
  gimp_procedure_add_int_argument (procedure, "steps", _("S_teps"),
                                   _("Denoising steps"), 1, SDCL_STEPS_MAX, 20, G_PARAM_READWRITE);
  gimp_procedure_add_double_argument (procedure, "guidance", _("_Guidance"),
                                      _("Classifier-free guidance scale (1 or less turns it off)"),
                                      0.0, SDCL_GUIDANCE_MAX, 7.5, G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (procedure, "seed", _("S_eed"),
                                   _("Random seed, -1 for a random one (the seed used is returned)"),
                                   SDCL_SEED_RANDOM, G_MAXINT, SDCL_SEED_RANDOM, G_PARAM_READWRITE);
}

/* After tiling, before device (issues 24 and 18): the schedule listed from
 * the engine like the samplers, the prediction override by the CLI's names. */
static void
add_schedule_prediction_arguments (GimpProcedure *procedure)
{
  static const gchar *const names[]  = SDCL_PREDICTION_NAMES;
  static const gchar *const labels[] = SDCL_PREDICTION_LABELS;
  GimpChoice *schedules   = gimp_choice_new ();
  GimpChoice *predictions = gimp_choice_new ();
  gchar      *list        = sdcl_schedule_names ();

  for (gint i = 0; i < sdcl_schedule_count (); i++)
    gimp_choice_add (schedules, sdcl_schedule_name ((sdcl_schedule) i), i,
                     _(sdcl_schedule_label ((sdcl_schedule) i)), NULL);
  gimp_procedure_add_choice_argument (procedure, "schedule", _("Sc_hedule"), list, schedules,
                                      sdcl_schedule_name (SDCL_SCHEDULE_DEFAULT),
                                      G_PARAM_READWRITE);
  g_free (list);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    gimp_choice_add (predictions, names[i], (gint) i, _(labels[i]), NULL);
  gimp_procedure_add_choice_argument (procedure, "prediction", _("Predi_ction"),
                                      _("What the model predicts: auto (as its files say), eps "
                                        "or v"),
                                      predictions, names[SDCL_PREDICTION_FROM_MODEL],
                                      G_PARAM_READWRITE);
}

/* After device (issue 20): appended, so that positional callers of the
 * older procedures only add arguments at the end. */
static void
add_lora_prompt_arguments (GimpProcedure *procedure)
{
  static const gchar *const names[]  = SDCL_PROMPT_SYNTAX_NAMES;
  static const gchar *const labels[] = SDCL_PROMPT_SYNTAX_LABELS;
  GimpChoice *syntaxes = gimp_choice_new ();

  gimp_procedure_add_string_argument (procedure, "loras", _("_LoRAs"),
                                      _("LoRA files, one per line (or separated by ';') as "
                                        "FILE or FILE:WEIGHT (weight 1 when omitted); may be "
                                        "empty"),
                                      "", G_PARAM_READWRITE);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    gimp_choice_add (syntaxes, names[i], (gint) i, _(labels[i]), NULL);
  gimp_procedure_add_choice_argument (procedure, "prompt-syntax", _("Prompt s_yntax"),
                                      _("How the prompt is read: a1111 ((word), (word:1.3), "
                                        "[word], BREAK) or plain (the text as it is)"),
                                      syntaxes, names[SDCL_PROMPT_A1111], G_PARAM_READWRITE);
  gimp_procedure_add_string_argument (procedure, "embeddings", _("_Embeddings"),
                                      _("Textual-inversion .safetensors files, one per line (or "
                                        "separated by ';'); each file's name without extension "
                                        "is its token in the prompts"),
                                      "", G_PARAM_READWRITE);
}

/* After embeddings (issue 19's front ends), last for the same reason. */
static void
add_turbo_argument (GimpProcedure *procedure)
{
  gimp_procedure_add_boolean_argument (procedure, "turbo", _("T_urbo model"),
                                       _("The model is SD-Turbo or SDXL-Turbo, which a single "
                                         "file cannot say itself: 512 pixels and the Turbo "
                                         "schedule; use 1-4 steps and guidance 0. A Turbo "
                                         "diffusers folder needs no switch"),
                                       FALSE, G_PARAM_READWRITE);
}

static GimpValueArray *
sdcl_run_release (GimpProcedure       *procedure,
                  GimpProcedureConfig *config,
                  gpointer             run_data)
{
  GimpValueArray *values = gimp_procedure_new_return_values (procedure, GIMP_PDB_SUCCESS, NULL);
  GimpRunMode     run_mode;
  gboolean        released = sdcl_release_memory ();

  g_object_get (config, "run-mode", &run_mode, NULL);
  if (run_mode == GIMP_RUN_INTERACTIVE)
    g_message ("%s", sdcl_release_message (released));
  GIMP_VALUES_SET_BOOLEAN (values, 1, released);
  return values;
}

static GimpProcedure *
create_release_procedure (GimpPlugIn *plug_in)
{
  GimpProcedure *procedure = gimp_procedure_new (plug_in, SDCL_RELEASE_PROCEDURE,
                                                 GIMP_PDB_PROC_TYPE_PLUGIN,
                                                 sdcl_run_release, NULL, NULL);
  gchar         *path;

  /* A menu procedure's first argument must be the run mode. */
  gimp_procedure_add_enum_argument (procedure, "run-mode", "Run mode", "The run mode",
                                    GIMP_TYPE_RUN_MODE, GIMP_RUN_NONINTERACTIVE,
                                    G_PARAM_READWRITE);
  gimp_procedure_set_sensitivity_mask (procedure, GIMP_PROCEDURE_SENSITIVE_ALWAYS);
  gimp_procedure_set_menu_label (procedure, _(sdcl_release_label ()));
  path = menu_path_at (SDCL_MODE_LAST + 2);
  gimp_procedure_add_menu_path (procedure, path);
  g_free (path);
  gimp_procedure_set_documentation (procedure, _(sdcl_release_blurb ()),
                                    "The plug-in keeps the last model loaded in a model server "
                                    "process between runs (until GIMP quits or it has been idle "
                                    "for 5 minutes). This ends that process now, freeing its "
                                    "device and host memory.",
                                    SDCL_RELEASE_PROCEDURE);
  gimp_procedure_set_attribution (procedure, "sdcl authors", "sdcl authors", "2026");
  gimp_procedure_add_boolean_return_value (procedure, "released", "Released",
                                           "TRUE when a model was in memory",
                                           FALSE, G_PARAM_READWRITE);
  return procedure;
}

static GimpProcedure *
sdcl_plug_in_create_procedure (GimpPlugIn  *plug_in,
                               const gchar *name)
{
  GimpProcedure *procedure;
  SdclMode       mode = SDCL_MODE_TXT2IMG;
  gchar         *path;

  if (strcmp (name, SDCL_RELEASE_PROCEDURE) == 0)
    return create_release_procedure (plug_in);
  while (strcmp (name, sdcl_mode_procedure (mode)) != 0)
    if (mode++ == SDCL_MODE_LAST)
      return NULL;

  procedure = gimp_image_procedure_new (plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN,
                                        sdcl_run, NULL, NULL);
  /* The result is an RGB or grey layer: indexed images cannot take it. */
  gimp_procedure_set_image_types (procedure, "RGB*, GRAY*");
  gimp_procedure_set_sensitivity_mask (procedure,
                                       mode == SDCL_MODE_TXT2IMG
                                       ? GIMP_PROCEDURE_SENSITIVE_DRAWABLE |
                                         GIMP_PROCEDURE_SENSITIVE_NO_DRAWABLES
                                       : GIMP_PROCEDURE_SENSITIVE_DRAWABLE);
  gimp_procedure_set_menu_label (procedure, _(sdcl_mode_label (mode)));
  path = menu_path_at (mode + 1);
  gimp_procedure_add_menu_path (procedure, path);
  g_free (path);
  gimp_procedure_set_documentation (procedure, _(sdcl_mode_blurb (mode)),
                                    "Runs Stable Diffusion on an OpenCL device inside the "
                                    "plug-in process and adds the result as a new layer; the "
                                    "image itself is never modified. Inpainting uses the "
                                    "selection as the mask (feathered selections give soft "
                                    "masks).",
                                    name);
  gimp_procedure_set_attribution (procedure, "sdcl authors", "sdcl authors", "2026");

  add_common_arguments (procedure);
  if (mode == SDCL_MODE_TXT2IMG)
    {
      /* 0: the model's native size, which the dialog shows once it knows
       * the model. */
      gimp_procedure_add_int_argument (procedure, "width", _("_Width"),
                                       _("Width of the new layer: a multiple of 8, or 0 for the "
                                         "model's native size"),
                                       0, SDCL_SIZE_MAX, 0, G_PARAM_READWRITE);
      gimp_procedure_add_int_argument (procedure, "height", _("_Height"),
                                       _("Height of the new layer: a multiple of 8, or 0 for the "
                                         "model's native size"),
                                       0, SDCL_SIZE_MAX, 0, G_PARAM_READWRITE);
    }
  else
    {
      gimp_procedure_add_double_argument (procedure, "strength", _("St_rength"),
                                          _("How much to change the input (0-1)"),
                                          0.0, 1.0, mode == SDCL_MODE_IMG2IMG ? 0.6 : 1.0,
                                          G_PARAM_READWRITE);
    }
  if (mode == SDCL_MODE_OUTPAINT)
    {
      static const gchar *const names[4]  = { "grow-left", "grow-top", "grow-right",
                                              "grow-bottom" };
      static const gchar *const labels[4] = { N_("_Left"), N_("_Top"), N_("_Right"),
                                              N_("_Bottom") };

      for (gint i = 0; i < 4; i++)
        gimp_procedure_add_int_argument (procedure, names[i], _(labels[i]),
                                         _("Pixels to add on this side of the canvas (all 0: "
                                           "fill the layer's transparent pixels only)"),
                                         0, SDCL_GROW_MAX, 32, G_PARAM_READWRITE);
    }
  if (mode == SDCL_MODE_INPAINT)
    {
      gimp_procedure_add_double_argument (procedure, "mask-blur", _("Mask _blur"),
                                          _("Blur radius of the mask in pixels"),
                                          0.0, SDCL_BLUR_MAX, 4.0, G_PARAM_READWRITE);
      gimp_procedure_add_boolean_argument (procedure, "only-masked", _("Only the selected _area"),
                                           _("Work on the selection's bounding box only"),
                                           FALSE, G_PARAM_READWRITE);
      gimp_procedure_add_int_argument (procedure, "padding", _("Padding"),
                                       _("With only-masked: context pixels around the selection"),
                                       0, SDCL_PADDING_MAX, 32, G_PARAM_READWRITE);
    }
  gimp_procedure_add_boolean_argument (procedure, "tiling", _("Seamless _tiling"),
                                       _("Make an image that tiles: its edges wrap around, so "
                                         "copies placed side by side show no seam"),
                                       FALSE, G_PARAM_READWRITE);
  add_schedule_prediction_arguments (procedure);
  gimp_procedure_add_int_argument (procedure, "batch-count", _("Ima_ges"),
                                   _("How many images to make, from consecutive seeds; each "
                                     "becomes a layer (all of them one undo step)"),
                                   1, SDCL_BATCH_MAX, 1, G_PARAM_READWRITE);
  gimp_procedure_add_string_argument (procedure, "device", _("_Device"),
                                      _("OpenCL device: empty for automatic, an index, or part "
                                        "of its name"),
                                      "", G_PARAM_READWRITE);
  add_lora_prompt_arguments (procedure);
  add_turbo_argument (procedure);
  /* Remembered with the last values, never a PDB argument. */
  gimp_procedure_add_int_aux_argument (procedure, "last-seed", "Last seed",
                                       "The seed the previous run used",
                                       0, G_MAXINT, 0, G_PARAM_READWRITE);

  gimp_procedure_add_layer_return_value (procedure, "layer", "Layer", "The new layer",
                                         FALSE, G_PARAM_READWRITE);
  gimp_procedure_add_int_return_value (procedure, "seed", "Seed", "The seed that was used",
                                       0, G_MAXINT, 0, G_PARAM_READWRITE);
  gimp_procedure_add_core_object_array_return_value (procedure, "layers", "Layers",
                                                     "Every new layer (batch-count of them), "
                                                     "the first one first",
                                                     GIMP_TYPE_LAYER, G_PARAM_READWRITE);
  return procedure;
}

static void
sdcl_plug_in_class_init (SdclPlugInClass *klass)
{
  GimpPlugInClass *plug_in_class = GIMP_PLUG_IN_CLASS (klass);

  plug_in_class->query_procedures = sdcl_plug_in_query_procedures;
  plug_in_class->create_procedure = sdcl_plug_in_create_procedure;
  plug_in_class->set_i18n         = sdcl_plug_in_set_i18n;
}

static void
sdcl_plug_in_init (SdclPlugIn *plug_in)
{
}

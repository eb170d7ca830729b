/* sdcl GIMP plug-in: the GIMP 2.10 glue (libgimp-2.0).
 *
 * Registers Filters > Generative > Text to Image / Image to Image / Inpaint,
 * marshals GimpParams into an SdclSettings, and turns the engine's image into
 * a new layer.  Everything below the GIMP API is in sdcl-gimp-core.c and the
 * dialog in ui/sdcl-dialog.c; sdcl-gimp3.c is the GIMP 3.0 counterpart.
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

static void query (void);
static void run   (const gchar      *name,
                   gint              n_params,
                   const GimpParam  *param,
                   gint             *n_return_vals,
                   GimpParam       **return_vals);

const GimpPlugInInfo PLUG_IN_INFO = { NULL, NULL, query, run };

/* Not MAIN (): this binary is also the resident model server, which the
 * plug-in starts with --sdcl-server (sdcl-gimp-server.c says why). */
int
main (int    argc,
      char **argv)
{
  if (sdcl_server_requested (argc, argv))
    return sdcl_server_main (argc, argv);
  return gimp_main (&PLUG_IN_INFO, argc, argv);
}

/* The PDB arguments after run-mode, image and drawable.  Every mode takes
 * the common ones first, in the same order, then its own, then device;
 * the later additions (loras, prompt-syntax, embeddings, then turbo)
 * follow device so that older scripts only need arguments appended. */
typedef enum
{
  ARG_MODEL, ARG_PROMPT, ARG_NEGATIVE, ARG_SAMPLER, ARG_STEPS, ARG_GUIDANCE, ARG_SEED,
  ARG_WIDTH, ARG_HEIGHT, ARG_STRENGTH, ARG_MASK_BLUR, ARG_ONLY_MASKED, ARG_PADDING,
  ARG_TILING, ARG_SCHEDULE, ARG_PREDICTION, ARG_BATCH_COUNT, ARG_DEVICE,
  ARG_GROW_LEFT, ARG_GROW_TOP, ARG_GROW_RIGHT, ARG_GROW_BOTTOM,
  ARG_LORAS, ARG_PROMPT_SYNTAX, ARG_EMBEDDINGS, ARG_TURBO
} ArgId;

static const GimpParamDef arg_defs[] =
{
  [ARG_MODEL]       = { GIMP_PDB_STRING, "model", "Diffusers folder or .safetensors file (SD 1.x); empty for the demo model" },
  [ARG_PROMPT]      = { GIMP_PDB_STRING, "prompt", "What to draw" },
  [ARG_NEGATIVE]    = { GIMP_PDB_STRING, "negative-prompt", "What to avoid (may be empty)" },
  /* The description is the engine's sampler list, filled in at query time. */
  [ARG_SAMPLER]     = { GIMP_PDB_STRING, "sampler", NULL },
  [ARG_STEPS]       = { GIMP_PDB_INT32,  "steps", "Denoising steps (1-1000)" },
  [ARG_GUIDANCE]    = { GIMP_PDB_FLOAT,  "guidance", "Classifier-free guidance scale (0-30; <= 1 turns it off)" },
  [ARG_SEED]        = { GIMP_PDB_INT32,  "seed", "Random seed, -1 for a random one (the seed used is returned)" },
  [ARG_WIDTH]       = { GIMP_PDB_INT32,  "width", "Width of the new layer: a multiple of 8, or 0 for the model's native size" },
  [ARG_HEIGHT]      = { GIMP_PDB_INT32,  "height", "Height of the new layer: a multiple of 8, or 0 for the model's native size" },
  [ARG_STRENGTH]    = { GIMP_PDB_FLOAT,  "strength", "How much to change the input (0-1)" },
  [ARG_MASK_BLUR]   = { GIMP_PDB_FLOAT,  "mask-blur", "Blur radius of the mask in pixels" },
  [ARG_ONLY_MASKED] = { GIMP_PDB_INT32,  "only-masked", "Work on the selection's bounding box only (TRUE, FALSE)" },
  [ARG_PADDING]     = { GIMP_PDB_INT32,  "padding", "With only-masked: context pixels around the selection" },
  [ARG_TILING]      = { GIMP_PDB_INT32,  "tiling", "Seamless texture: the image wraps around at its edges and tiles without a seam (TRUE, FALSE)" },
  /* The description is the engine's schedule list, filled in at query time. */
  [ARG_SCHEDULE]    = { GIMP_PDB_STRING, "schedule", NULL },
  [ARG_PREDICTION]  = { GIMP_PDB_STRING, "prediction", "What the model predicts: auto (as its files say), eps or v" },
  [ARG_BATCH_COUNT] = { GIMP_PDB_INT32,  "batch-count", "How many images to make (1-16), from consecutive seeds; each becomes a layer (all of them one undo step)" },
  [ARG_GROW_LEFT]   = { GIMP_PDB_INT32,  "grow-left", "Pixels to add left of the canvas (all four 0: fill the layer's transparent pixels only)" },
  [ARG_GROW_TOP]    = { GIMP_PDB_INT32,  "grow-top", "Pixels to add above the canvas" },
  [ARG_GROW_RIGHT]  = { GIMP_PDB_INT32,  "grow-right", "Pixels to add right of the canvas" },
  [ARG_GROW_BOTTOM] = { GIMP_PDB_INT32,  "grow-bottom", "Pixels to add below the canvas" },
  [ARG_DEVICE]      = { GIMP_PDB_STRING, "device", "OpenCL device: empty for automatic, an index, or part of its name" },
  [ARG_LORAS]       = { GIMP_PDB_STRING, "loras", "LoRA files, one per line (or separated by ';') as FILE or FILE:WEIGHT (weight 1 when omitted); may be empty" },
  [ARG_PROMPT_SYNTAX] = { GIMP_PDB_STRING, "prompt-syntax", "How the prompt is read: a1111 ((word), (word:1.3), [word], BREAK; the default when empty) or plain" },
  [ARG_EMBEDDINGS]  = { GIMP_PDB_STRING, "embeddings", "Textual-inversion .safetensors files, one per line (or separated by ';'); each file's name without extension is its token in the prompts" },
  [ARG_TURBO]       = { GIMP_PDB_INT32,  "turbo", "The model is SD-Turbo or SDXL-Turbo, which a single file cannot say itself (TRUE, FALSE): 512 px and the Turbo schedule; use 1-4 steps and guidance 0. A Turbo diffusers folder needs no switch" },
};

static const ArgId txt2img_args[] = { ARG_MODEL, ARG_PROMPT, ARG_NEGATIVE, ARG_SAMPLER, ARG_STEPS,
                                      ARG_GUIDANCE, ARG_SEED, ARG_WIDTH, ARG_HEIGHT, ARG_TILING,
                                      ARG_SCHEDULE, ARG_PREDICTION, ARG_BATCH_COUNT, ARG_DEVICE,
                                      ARG_LORAS, ARG_PROMPT_SYNTAX, ARG_EMBEDDINGS, ARG_TURBO };
static const ArgId img2img_args[] = { ARG_MODEL, ARG_PROMPT, ARG_NEGATIVE, ARG_SAMPLER, ARG_STEPS,
                                      ARG_GUIDANCE, ARG_SEED, ARG_STRENGTH, ARG_TILING,
                                      ARG_SCHEDULE, ARG_PREDICTION, ARG_BATCH_COUNT, ARG_DEVICE,
                                      ARG_LORAS, ARG_PROMPT_SYNTAX, ARG_EMBEDDINGS, ARG_TURBO };
static const ArgId inpaint_args[] = { ARG_MODEL, ARG_PROMPT, ARG_NEGATIVE, ARG_SAMPLER, ARG_STEPS,
                                      ARG_GUIDANCE, ARG_SEED, ARG_STRENGTH, ARG_MASK_BLUR,
                                      ARG_ONLY_MASKED, ARG_PADDING, ARG_TILING, ARG_SCHEDULE,
                                      ARG_PREDICTION, ARG_BATCH_COUNT, ARG_DEVICE,
                                      ARG_LORAS, ARG_PROMPT_SYNTAX, ARG_EMBEDDINGS, ARG_TURBO };

static const ArgId outpaint_args[] = { ARG_MODEL, ARG_PROMPT, ARG_NEGATIVE, ARG_SAMPLER, ARG_STEPS,
                                       ARG_GUIDANCE, ARG_SEED, ARG_STRENGTH, ARG_GROW_LEFT,
                                       ARG_GROW_TOP, ARG_GROW_RIGHT, ARG_GROW_BOTTOM, ARG_TILING,
                                       ARG_SCHEDULE, ARG_PREDICTION, ARG_BATCH_COUNT,
                                       ARG_DEVICE, ARG_LORAS, ARG_PROMPT_SYNTAX,
                                       ARG_EMBEDDINGS, ARG_TURBO };

#define N_FIXED_ARGS 3 /* run-mode, image, drawable */

static const ArgId *
mode_args (SdclMode mode,
           gint    *n)
{
  switch (mode)
    {
    case SDCL_MODE_TXT2IMG: *n = G_N_ELEMENTS (txt2img_args); return txt2img_args;
    case SDCL_MODE_IMG2IMG: *n = G_N_ELEMENTS (img2img_args); return img2img_args;
    case SDCL_MODE_INPAINT: *n = G_N_ELEMENTS (inpaint_args); return inpaint_args;
    case SDCL_MODE_OUTPAINT: *n = G_N_ELEMENTS (outpaint_args); return outpaint_args;
    }
  g_return_val_if_reached (NULL);
}

static void
query (void)
{
  static const GimpParamDef fixed[N_FIXED_ARGS] =
  {
    { GIMP_PDB_INT32,    "run-mode", "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1) }" },
    { GIMP_PDB_IMAGE,    "image",    "Input image" },
    { GIMP_PDB_DRAWABLE, "drawable", "Input drawable (txt2img: the new layer goes above it; may be -1)" },
  };
  static const GimpParamDef return_defs[] =
  {
    { GIMP_PDB_LAYER, "layer", "The new layer" },
    { GIMP_PDB_INT32, "seed",  "The seed that was used" },
    { GIMP_PDB_INT32, "num-layers", "How many layers were added (batch-count)" },
    { GIMP_PDB_INT32ARRAY, "layers", "Every new layer, the first one first" },
  };

  static const GimpParamDef release_args[] =
  {
    { GIMP_PDB_INT32, "run-mode", "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1) }" },
  };
  static const GimpParamDef release_returns[] =
  {
    { GIMP_PDB_INT32, "released", "TRUE when a model was in memory" },
  };

  gchar *localedir = sdcl_plugin_localedir (gimp_get_progname ());
  gchar *samplers = sdcl_sampler_names ();
  gchar *schedules = sdcl_schedule_names ();

  gimp_plugin_domain_register (GETTEXT_PACKAGE, localedir);
  g_free (localedir);

  for (SdclMode mode = SDCL_MODE_TXT2IMG; mode <= SDCL_MODE_LAST; mode++)
    {
      GimpParamDef  args[N_FIXED_ARGS + G_N_ELEMENTS (arg_defs)];
      gint          n;
      const ArgId  *ids = mode_args (mode, &n);
      const gchar  *proc = sdcl_mode_procedure (mode);

      memcpy (args, fixed, sizeof fixed);
      for (gint i = 0; i < n; i++)
        {
          args[N_FIXED_ARGS + i] = arg_defs[ids[i]];
          if (ids[i] == ARG_SAMPLER)
            args[N_FIXED_ARGS + i].description = samplers;
          if (ids[i] == ARG_SCHEDULE)
            args[N_FIXED_ARGS + i].description = schedules;
        }

      /* Blurb and label go in untranslated: GIMP translates them with the
       * domain registered above, in GIMP's language.  Indexed images are
       * left out: they cannot hold the RGB or grey result layer. */
      gimp_install_procedure (proc, sdcl_mode_blurb (mode),
                              "Runs Stable Diffusion on an OpenCL device inside the plug-in "
                              "process and adds the result as a new layer; the image itself is "
                              "never modified. Inpainting uses the selection as the mask "
                              "(feathered selections give soft masks).",
                              "sdcl authors", "sdcl authors", "2026",
                              sdcl_mode_label (mode),
                              "RGB*, GRAY*",
                              GIMP_PLUGIN, N_FIXED_ARGS + n, G_N_ELEMENTS (return_defs),
                              args, return_defs);
      gimp_plugin_menu_register (proc, MENU_PATH);
    }
  g_free (samplers);
  g_free (schedules);

  /* No image types: available without an image, too. */
  gimp_install_procedure (SDCL_RELEASE_PROCEDURE, sdcl_release_blurb (),
                          "The plug-in keeps the last model loaded in a model server process "
                          "between runs (until GIMP quits or it has been idle for 5 minutes). "
                          "This ends that process now, freeing its device and host memory.",
                          "sdcl authors", "sdcl authors", "2026",
                          sdcl_release_label (), "",
                          GIMP_PLUGIN, G_N_ELEMENTS (release_args), G_N_ELEMENTS (release_returns),
                          release_args, release_returns);
  gimp_plugin_menu_register (SDCL_RELEASE_PROCEDURE, MENU_PATH);
}

static SdclMode
mode_from_name (const gchar *name,
                gboolean    *found)
{
  *found = TRUE;
  for (SdclMode mode = SDCL_MODE_TXT2IMG; mode <= SDCL_MODE_LAST; mode++)
    if (strcmp (name, sdcl_mode_procedure (mode)) == 0)
      return mode;
  *found = FALSE;
  return SDCL_MODE_TXT2IMG;
}

static void
copy_string (gchar       *dest,
             gsize        size,
             const gchar *src)
{
  g_strlcpy (dest, src ? src : "", size);
}

/* Non-interactive arguments into settings; FALSE for a wrong count. */
static gboolean
settings_from_params (SdclMode         mode,
                      gint             n_params,
                      const GimpParam *param,
                      SdclSettings    *s)
{
  gint         n;
  const ArgId *ids = mode_args (mode, &n);

  if (n_params != N_FIXED_ARGS + n)
    return FALSE;
  for (gint i = 0; i < n; i++)
    {
      const GimpParam *p = &param[N_FIXED_ARGS + i];

      switch (ids[i])
        {
        case ARG_MODEL:       copy_string (s->model, sizeof s->model, p->data.d_string); break;
        case ARG_PROMPT:      copy_string (s->prompt, sizeof s->prompt, p->data.d_string); break;
        case ARG_NEGATIVE:    copy_string (s->negative, sizeof s->negative, p->data.d_string); break;
        case ARG_SAMPLER:     copy_string (s->sampler, sizeof s->sampler, p->data.d_string); break;
        case ARG_STEPS:       s->steps = p->data.d_int32; break;
        case ARG_GUIDANCE:    s->guidance = p->data.d_float; break;
        case ARG_SEED:        s->seed = p->data.d_int32; break;
        case ARG_WIDTH:       s->width = p->data.d_int32; break;
        case ARG_HEIGHT:      s->height = p->data.d_int32; break;
        case ARG_STRENGTH:    s->strength = p->data.d_float; break;
        case ARG_MASK_BLUR:   s->mask_blur = p->data.d_float; break;
        case ARG_ONLY_MASKED: s->only_masked = p->data.d_int32 != 0; break;
        case ARG_PADDING:     s->padding = p->data.d_int32; break;
        case ARG_TILING:      s->tiling = p->data.d_int32 != 0; break;
        case ARG_SCHEDULE:    copy_string (s->schedule, sizeof s->schedule, p->data.d_string); break;
        case ARG_PREDICTION:  copy_string (s->prediction, sizeof s->prediction, p->data.d_string); break;
        case ARG_BATCH_COUNT: s->batch_count = p->data.d_int32; break;
        case ARG_GROW_LEFT:   s->grow[0] = p->data.d_int32; break;
        case ARG_GROW_TOP:    s->grow[1] = p->data.d_int32; break;
        case ARG_GROW_RIGHT:  s->grow[2] = p->data.d_int32; break;
        case ARG_GROW_BOTTOM: s->grow[3] = p->data.d_int32; break;
        case ARG_DEVICE:      copy_string (s->device, sizeof s->device, p->data.d_string); break;
        case ARG_LORAS:       copy_string (s->loras, sizeof s->loras, p->data.d_string); break;
        case ARG_PROMPT_SYNTAX:
          copy_string (s->prompt_syntax, sizeof s->prompt_syntax, p->data.d_string);
          break;
        case ARG_EMBEDDINGS:
          copy_string (s->embeddings, sizeof s->embeddings, p->data.d_string);
          break;
        case ARG_TURBO:       s->turbo = p->data.d_int32 != 0; break;
        }
    }
  return TRUE;
}

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

/* Finds the inputs in the image.  Fills `job` (whose buffers the caller
 * unrefs) and the new layer's position. */
static gboolean
prepare_job (SdclMode             mode,
             gint32               image,
             gint32               drawable,
             const SdclSettings  *s,
             SdclJob             *job,
             gint                *layer_x,
             gint                *layer_y,
             GError             **error)
{
  gint ox = 0, oy = 0;

  memset (job, 0, sizeof *job);
  job->mode = mode;
  if (drawable > 0 && !gimp_item_is_layer (drawable))
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The active drawable is not a layer: select a layer (not a mask or "
                     "channel) and try again."));
      return FALSE;
    }
  if (drawable > 0)
    gimp_drawable_offsets (drawable, &ox, &oy);

  switch (mode)
    {
    case SDCL_MODE_TXT2IMG:
      job->area = (GeglRectangle) { 0, 0, s->width, s->height };
      job->space = drawable > 0 ? gimp_drawable_get_format (drawable) : NULL;
      break;

    case SDCL_MODE_IMG2IMG:
    case SDCL_MODE_INPAINT:
    case SDCL_MODE_OUTPAINT:
      if (drawable <= 0)
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
          job->area = (GeglRectangle) { 0, 0, gimp_drawable_width (drawable),
                                        gimp_drawable_height (drawable) };
          job->mask   = gimp_drawable_get_buffer (gimp_image_get_selection (image));
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
grow_canvas (gint32      image,
             const gint  grow[4],
             gint       *x,
             gint       *y)
{
  if (grow[0] + grow[1] + grow[2] + grow[3] == 0)
    return;
  gimp_image_resize (image, gimp_image_width (image) + grow[0] + grow[2],
                     gimp_image_height (image) + grow[1] + grow[3], grow[0], grow[1]);
  *x += grow[0];
  *y += grow[1];
}

/* Adds the result as a new layer above `drawable`, as one undo step (with
 * the canvas growth of Outpaint). */
static gint32
add_result_layer (SdclMode          mode,
                  gint32            image,
                  gint32            drawable,
                  const sdcl_image *result,
                  const gchar      *name,
                  gint              x,
                  gint              y,
                  const SdclJob    *job,
                  const gint        grow[4])
{
  gboolean    gray = gimp_image_base_type (image) == GIMP_GRAY;
  gint32      parent = drawable > 0 ? gimp_item_get_parent (drawable) : 0;
  gint        position = drawable > 0 ? gimp_image_get_item_position (image, drawable) : 0;
  gint32      layer;
  GeglBuffer *buffer;

  gimp_image_undo_group_start (image);
  if (mode == SDCL_MODE_OUTPAINT)
    grow_canvas (image, grow, &x, &y);

  layer = gimp_layer_new (image, name, result->width, result->height,
                          gray ? GIMP_GRAYA_IMAGE : GIMP_RGBA_IMAGE, 100.0,
                          gimp_image_get_default_new_layer_mode (image));
  /* Same parent and position as the source: directly above it. */
  gimp_image_insert_layer (image, layer, parent, position);
  gimp_layer_set_offsets (layer, x, y);

  buffer = gimp_drawable_get_buffer (layer);
  sdcl_write_image (buffer, result, gimp_drawable_get_format (layer));
  g_object_unref (buffer); /* flushes the pixels to GIMP */

  if (mode == SDCL_MODE_INPAINT)
    {
      /* Outside the selection the layer is hidden, so the composite there is
       * exactly what it was. */
      gint32 mask = gimp_layer_create_mask (layer, GIMP_ADD_MASK_SELECTION);

      gimp_layer_add_mask (layer, mask);
    }
  if (mode == SDCL_MODE_OUTPAINT)
    {
      /* Shows the filled pixels only: the known ones stay exactly as they
       * were, whatever the model made of them. */
      gint32 mask = gimp_layer_create_mask (layer, GIMP_ADD_MASK_WHITE);

      gimp_layer_add_mask (layer, mask);
      buffer = gimp_drawable_get_buffer (mask);
      sdcl_write_unknown_mask (buffer, job->source);
      g_object_unref (buffer);
    }
  gimp_drawable_update (layer, 0, 0, result->width, result->height);
  gimp_image_set_active_layer (image, layer);

  gimp_image_undo_group_end (image);
  return layer;
}

/* sdcl_batch_add_layers' callback: where the layers go, and their ids. */
typedef struct
{
  SdclMode       mode;
  gint32         image, drawable;
  const SdclJob *job;
  gint32        *ids;
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

  a->ids[index] = add_result_layer (a->mode, a->image, a->drawable, result, name, x, y, a->job,
                                    grow);
}

static gboolean
load_last_values (const gchar  *proc,
                  SdclSettings *s)
{
  /* The size check rejects data a different build stored. */
  if (gimp_get_data_size (proc) != (gint) sizeof *s)
    return FALSE;
  return gimp_get_data (proc, s);
}

/* The dialog's Generate: the same steps as after OK, with the dialog's
 * progress (the step pictures); `used` keeps the settings the images were
 * made with, which OK adds even if the dialog changed since. */
typedef struct
{
  SdclMode      mode;
  gint32        image, drawable;
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

static void
run (const gchar      *name,
     gint              n_params,
     const GimpParam  *param,
     gint             *n_return_vals,
     GimpParam       **return_vals)
{
  static GimpParam  values[5];
  static gint32    *layer_ids = NULL;
  static gchar     *error_message = NULL;
  GimpRunMode       run_mode = param[0].data.d_int32;
  /* The release procedure has no image arguments. */
  gint32            image    = n_params >= N_FIXED_ARGS ? param[1].data.d_image : -1;
  gint32            drawable = n_params >= N_FIXED_ARGS ? param[2].data.d_drawable : -1;
  SdclMode          mode;
  gboolean          known;
  SdclSettings      s;
  SdclJob           job = { 0 };
  SdclSession      *session = NULL;
  SdclBatch         batch = { 0 };
  gint              x = 0, y = 0;
  GError           *error = NULL;
  gchar            *prefs_file = NULL;
  DialogRun         dialog_run;
  Adding            adding;
  const SdclSettings *made = &s; /* the settings the images were made with */
  gchar            *localedir;

  localedir = sdcl_plugin_localedir (gimp_get_progname ());
  sdcl_i18n_init (localedir);
  g_free (localedir);
  textdomain (GETTEXT_PACKAGE); /* our own process: the default domain is ours */
  gegl_init (NULL, NULL);

  *n_return_vals = 1;
  *return_vals   = values;
  values[0].type = GIMP_PDB_STATUS;
  values[0].data.d_status = GIMP_PDB_SUCCESS;
  g_clear_pointer (&error_message, g_free);
  g_clear_pointer (&layer_ids, g_free);

  if (strcmp (name, SDCL_RELEASE_PROCEDURE) == 0)
    {
      gboolean released = sdcl_release_memory ();

      if (run_mode == GIMP_RUN_INTERACTIVE)
        g_message ("%s", sdcl_release_message (released));
      *n_return_vals = 2;
      values[1].type = GIMP_PDB_INT32;
      values[1].data.d_int32 = released;
      return;
    }

  mode = mode_from_name (name, &known);
  if (!known)
    {
      values[0].data.d_status = GIMP_PDB_CALLING_ERROR;
      return;
    }

  sdcl_settings_init (&s, mode);
  prefs_file = g_build_filename (gimp_directory (), "sdcl.ini", NULL);
  session = sdcl_session_new_resident (gimp_get_progname ());
  dialog_run = (DialogRun) { mode, image, drawable, session, &job, &x, &y, s };

  switch (run_mode)
    {
    case GIMP_RUN_INTERACTIVE:
      {
        /* Inpaint without a selection says so before OK, not after it. */
        const gchar *blocker = mode == SDCL_MODE_INPAINT && gimp_selection_is_empty (image)
                               ? _("Inpainting needs a selection: select the area to repaint "
                                   "(feather it for a soft edge) and try again.")
                               : NULL;

        load_last_values (name, &s);
        gimp_ui_init (PLUG_IN_BINARY, FALSE);
        if (!sdcl_dialog_run (mode, name, prefs_file, blocker, session, &s, generate_for_dialog,
                              &dialog_run, &batch))
          {
            values[0].data.d_status = GIMP_PDB_CANCEL;
            goto done;
          }
      }
      break;

    case GIMP_RUN_NONINTERACTIVE:
      if (!settings_from_params (mode, n_params, param, &s))
        {
          gint n_args;

          mode_args (mode, &n_args);
          g_set_error (&error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                       _("%s takes %d arguments, not %d."), name, N_FIXED_ARGS + n_args,
                       n_params);
          values[0].data.d_status = GIMP_PDB_CALLING_ERROR;
          goto done;
        }
      break;

    case GIMP_RUN_WITH_LAST_VALS:
      load_last_values (name, &s);
      break;
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
      values[0].data.d_status = GIMP_PDB_EXECUTION_ERROR;
      goto done;
    }

  gimp_progress_init (_("Loading the model…"));
  if (!sdcl_session_prepare (session, &s, mode, &error))
    {
      values[0].data.d_status = GIMP_PDB_EXECUTION_ERROR;
      goto done;
    }
  gimp_progress_set_text (_("Generating…"));
  if (!sdcl_generate_batch (session, &s, &job, progress_update, NULL, &batch, &error))
    {
      values[0].data.d_status = g_error_matches (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_CANCELLED)
                                ? GIMP_PDB_CANCEL : GIMP_PDB_EXECUTION_ERROR;
      goto done;
    }
  gimp_progress_update (1.0);

add:
  /* The batch as one undo step: the canvas grows (Outpaint) with the first
   * layer only, the others go where it went. */
  layer_ids = g_new0 (gint32, batch.count);
  adding = (Adding) { mode, image, drawable, &job, layer_ids };
  gimp_image_undo_group_start (image);
  sdcl_batch_add_layers (&batch, made, x, y, add_batch_layer, &adding);
  gimp_image_undo_group_end (image);
  *n_return_vals = 5;
  values[1].type = GIMP_PDB_LAYER;
  values[1].data.d_layer = layer_ids[0];
  values[2].type = GIMP_PDB_INT32;
  values[2].data.d_int32 = batch.seeds[0];
  values[3].type = GIMP_PDB_INT32;
  values[3].data.d_int32 = batch.count;
  values[4].type = GIMP_PDB_INT32ARRAY;
  values[4].data.d_int32array = layer_ids;

  if (run_mode != GIMP_RUN_NONINTERACTIVE)
    {
      s.last_seed = batch.seeds[0];
      gimp_set_data (name, &s, sizeof s);
      gimp_displays_flush ();
    }

done:
  if (error)
    {
      /* GIMP 2.10 passes a string after the status on to the caller as the
       * error message; interactive users also get it on screen. */
      error_message = g_strdup (error->message);
      *n_return_vals = 2;
      values[1].type = GIMP_PDB_STRING;
      values[1].data.d_string = error_message;
      if (run_mode == GIMP_RUN_INTERACTIVE)
        g_message ("%s", error->message);
      g_error_free (error);
    }
  sdcl_batch_clear (&batch);
  g_clear_object (&job.source);
  g_clear_object (&job.mask);
  sdcl_session_free (session);
  g_free (prefs_file);
}

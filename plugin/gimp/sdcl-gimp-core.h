/* sdcl GIMP plug-in: the part below the GIMP API.
 *
 * Everything here works on GeglBuffers, babl formats and the sdcl engine; it
 * never calls libgimp.  The GIMP 2.10 and GIMP 3.0 glue files (sdcl-gimp2.c,
 * sdcl-gimp3.c) fetch buffers from GIMP, call these functions, and turn the
 * result into a layer; the dialog (ui/) edits an SdclSettings.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GIMP_CORE_H
#define SDCL_GIMP_CORE_H

#include <gegl.h>
#include <sdcl.h>

G_BEGIN_DECLS

#define SDCL_GIMP_ERROR (sdcl_gimp_error_quark ())
GQuark sdcl_gimp_error_quark (void);

typedef enum
{
  SDCL_GIMP_ERROR_INVALID, /* a parameter or the input is unusable */
  SDCL_GIMP_ERROR_ENGINE,  /* the engine failed (model, device, ...) */
  SDCL_GIMP_ERROR_CANCELLED
} SdclGimpError;

typedef enum
{
  SDCL_MODE_TXT2IMG,
  SDCL_MODE_IMG2IMG,
  SDCL_MODE_INPAINT,
  /* Inpainting of the layer's transparent pixels (alpha 0: fill; 1: keep),
   * on the layer grown by SdclSettings.grow first: "extend the picture". */
  SDCL_MODE_OUTPAINT
} SdclMode;
#define SDCL_MODE_LAST SDCL_MODE_OUTPAINT

/* Limits shared by the PDB registration, the dialog and validation. */
#define SDCL_TEXT_MAX      2048
#define SDCL_PATH_MAX      4096
#define SDCL_SIZE_MIN      8
#define SDCL_SIZE_MAX      4096
#define SDCL_STEPS_MAX     1000
#define SDCL_GUIDANCE_MAX  30.0
#define SDCL_BLUR_MAX      256.0
#define SDCL_PADDING_MAX   1024
#define SDCL_GROW_MAX      2048
#define SDCL_BATCH_MAX     16
#define SDCL_SEED_RANDOM   (-1)
#define SDCL_LIST_MAX      4096 /* a list of files, one per line */

/* One procedure's parameters.  A flat struct of fixed-size fields so that
 * GIMP 2.10 can store it verbatim as the procedure's "last values". */
typedef struct
{
  gchar    model[SDCL_PATH_MAX];   /* diffusers folder or .safetensors file */
  gchar    prompt[SDCL_TEXT_MAX];
  gchar    negative[SDCL_TEXT_MAX];
  gchar    sampler[32];            /* an sdcl_sampler_name() */
  gint     steps;
  gdouble  guidance;
  gint     seed;                   /* SDCL_SEED_RANDOM: pick one per run */
  gint     last_seed;              /* the seed the previous run used (dialog only) */
  gint     width, height;          /* txt2img */
  gdouble  strength;               /* img2img, inpaint */
  gdouble  mask_blur;              /* inpaint */
  gboolean only_masked;            /* inpaint */
  gint     padding;                /* inpaint, with only_masked */
  gboolean tiling;                 /* seamless texture (sdcl_gen_params.tiling) */
  gchar    schedule[32];           /* an sdcl_schedule_name(), "default" the model's */
  gchar    prediction[8];          /* "auto" (as the model says), "eps" or "v" */
  gint     grow[4];                /* outpaint: pixels added left, top, right, bottom */
  gint     batch_count;            /* images per run, from consecutive seeds */
  gboolean preview;                /* progress shows each step's picture (dialog) */
  gchar    device[256];            /* "" automatic, an index, or part of a name */
  /* Issue 20, after the older fields so the 2.10 last values of a build
   * without them are simply refused by their size. */
  gchar    loras[SDCL_LIST_MAX];   /* FILE or FILE:WEIGHT per line (sdcl_lora_list_parse) */
  gchar    prompt_syntax[8];       /* an SDCL_PROMPT_SYNTAX_NAMES name */
  gchar    embeddings[SDCL_LIST_MAX]; /* textual-inversion .safetensors files, one per line or ';' */
  /* The model is SD-Turbo or SDXL-Turbo (sdcl_model_params.variant
   * SDCL_VARIANT_TURBO), which a single file cannot say; last, as above. */
  gboolean turbo;
} SdclSettings;

void     sdcl_settings_init     (SdclSettings       *settings,
                                 SdclMode            mode);
/* Checks ranges and names before anything expensive happens; the message
 * names the offending parameter. */
gboolean sdcl_settings_validate (const SdclSettings *settings,
                                 SdclMode            mode,
                                 GError            **error);

/* The engine's sampler names, "euler, euler_a, ...", for argument docs and
 * messages (listed from the library; g_free the result). */
gchar   *sdcl_sampler_names     (void);

/* The engine's schedule names, "default, karras, ..." (g_free the result). */
gchar   *sdcl_schedule_names    (void);

/* The prediction overrides, named as the sdcl CLI's --prediction takes them
 * ("auto" is the model's own): index i is sdcl_prediction_choice i. */
#define SDCL_PREDICTION_NAMES { "auto", "eps", "v" }
/* Their labels (N_ msgids, translate with _()). */
#define SDCL_PREDICTION_LABELS { N_("As the model says"), N_("Epsilon"), N_("v (velocity)") }
gboolean sdcl_prediction_from_name (const gchar            *name,
                                    sdcl_prediction_choice *out);

/* How the prompt is read, named as the CLI's --prompt-syntax takes them:
 * index i is sdcl_prompt_syntax i. */
#define SDCL_PROMPT_SYNTAX_NAMES { "a1111", "plain" }
#define SDCL_PROMPT_SYNTAX_LABELS { N_("AUTOMATIC1111 (weights, BREAK)"), N_("Plain text") }
gboolean sdcl_prompt_syntax_from_name (const gchar        *name,
                                       sdcl_prompt_syntax *out);

/* The files of a settings list (loras, embeddings): its non-blank lines
 * (or ';'-separated entries, as sdcl_lora_list_parse reads them), trimmed
 * (g_strfreev the result). */
gchar  **sdcl_list_split (const gchar *list);

/* The procedure names, menu labels and blurbs, shared by both glue files.
 * The texts are untranslated msgids (marked N_): GIMP 2.10 wants them so and
 * translates them itself; show them through _() everywhere else. */
const gchar *sdcl_mode_procedure (SdclMode mode);
const gchar *sdcl_mode_label     (SdclMode mode); /* with mnemonic and "…" */
const gchar *sdcl_mode_title     (SdclMode mode); /* for dialog titles */
const gchar *sdcl_mode_blurb     (SdclMode mode);

/* ---- keeping the model loaded -------------------------------------------
 * A session owns one engine context and one loaded model.  Asking again for
 * the same model on the same device returns the loaded one.
 *
 * A *resident* session (sdcl_session_new_resident) does not load anything
 * in the plug-in process: it hands the work to the model server, a second
 * process started from the same binary (`sdcl-gimp --sdcl-server ...`, see
 * sdcl-gimp-server.c) that stays alive between plug-in calls, one per
 * running GIMP, and keeps its session loaded until it is asked to release
 * the memory (plug-in-sdcl-release-memory), has been idle for
 * $SDCL_GIMP_IDLE_TIMEOUT seconds (default 300) or GIMP has quit.  When no
 * server can be started (or $SDCL_GIMP_RESIDENT is 0) it runs in-process. */
typedef struct _SdclSession SdclSession;

SdclSession *sdcl_session_new          (void);
/* `program` is the plug-in binary (gimp_get_progname ()). */
SdclSession *sdcl_session_new_resident (const gchar  *program);
void         sdcl_session_free         (SdclSession  *session);
/* What the dialog shows of a loaded model and the settings that follow
 * it: all from the engine (sdcl_model_get_info, sdcl_gen_model_params). */
typedef struct
{
  gchar   *description;   /* sdcl_model_info_describe() (g_free it) */
  gint     native_size;   /* the width and height it was trained at */
  gboolean turbo;         /* runs with the family's Turbo settings */
  /* The engine's generation defaults for this model (for a Turbo model
   * its model card's: Euler, 1 step, guidance 0). */
  gchar    sampler[32];
  gchar    schedule[32];
  gint     steps;
  gdouble  guidance;
} SdclModelSummary;

/* Loads `model_path` (resolved, see sdcl_model_path_resolve) on `device`
 * with the `prediction` override (a SDCL_PREDICTION_NAMES name; NULL or ""
 * is "auto") and, with `turbo`, the Turbo variant, or finds it loaded so;
 * `summary` (may be NULL) receives what it is. */
gboolean     sdcl_session_load         (SdclSession      *session,
                                        const gchar      *device,
                                        const gchar      *prediction,
                                        gboolean          turbo,
                                        const gchar      *model_path,
                                        SdclModelSummary *summary,
                                        GError          **error);
/* Validates `settings` and loads the model they name (the default model
 * when their model is ""). */
gboolean     sdcl_session_prepare      (SdclSession        *session,
                                        const SdclSettings *settings,
                                        SdclMode            mode,
                                        GError            **error);
/* In-process sessions only: the loaded model. */
sdcl_model  *sdcl_session_get_model    (SdclSession  *session,
                                        const gchar  *device,
                                        const gchar  *prediction,
                                        gboolean      turbo,
                                        const gchar  *model_path,
                                        GError      **error);
/* Frees the model and the device context (memory on the device included). */
void         sdcl_session_release      (SdclSession  *session);
gboolean     sdcl_session_is_loaded    (SdclSession  *session);

/* The model to load for a model setting: `model` itself when it is not
 * empty (it must exist), else the demo model that ships with sdcl, its
 * inpainting variant for inpainting and outpainting.  Newly allocated,
 * absolute. */
gchar *sdcl_model_path_resolve (const gchar *model,
                                SdclMode     mode,
                                GError     **error);

/* Asks this GIMP's model server, if one runs, to free its model and quit.
 * TRUE when there was one; nothing is started to answer. */
gboolean sdcl_release_memory (void);

/* The resident model server's entry point: main() calls sdcl_server_main
 * instead of gimp_main() when sdcl_server_requested() says so. */
gboolean sdcl_server_requested (int    argc,
                                char **argv);
int      sdcl_server_main      (int    argc,
                                char **argv);

/* The release procedure's name, menu label and blurb (untranslated, as the
 * mode texts below). */
#define SDCL_RELEASE_PROCEDURE "plug-in-sdcl-release-memory"
const gchar *sdcl_release_label (void);
const gchar *sdcl_release_blurb (void);
/* What an interactive release tells the user (translated). */
const gchar *sdcl_release_message (gboolean released);

/* "SD 1.x model for 512×512 pixels, 1.07 billion parameters, 2.1 GB on the
 * device", with "inpainting model" for 9-channel models and a sentence
 * saying Turbo when it runs with the Turbo settings (translated). */
gchar *sdcl_model_info_describe (const sdcl_model_info *info);

/* ---- one generation ------------------------------------------------------ */

/* Returns FALSE to cancel.  `fraction` runs from 0 to 1 over the steps;
 * `preview` is the step's picture when SdclSettings.preview asks for it
 * (valid during the call only), else NULL. */
typedef gboolean (*SdclProgressFunc) (gdouble           fraction,
                                      const sdcl_image *preview,
                                      gpointer          user_data);

typedef struct
{
  SdclMode       mode;
  /* img2img, inpaint: the source drawable's pixels and the area of it to
   * use, in the buffer's coordinates. */
  GeglBuffer    *source;
  GeglRectangle  area;
  /* outpaint: `source` is the layer already grown (sdcl_outpaint_source),
   * its transparent pixels the area to fill.
   * inpaint: the selection (image coordinates) and where `area`'s top-left
   * corner lies in it (the drawable's offsets plus area.x/y). */
  GeglBuffer    *mask;
  gint           mask_x, mask_y;
  /* The image's babl space (a format or space), so pixels reach the model
   * as the image's own R'G'B' numbers, without a gamut conversion. */
  const Babl    *space;
} SdclJob;

/* Runs the engine.  `out` receives an RGB image of area's size (txt2img:
 * width x height) and `used_seed` the seed, which is the random one picked
 * here when settings->seed is SDCL_SEED_RANDOM. */
gboolean sdcl_generate (SdclSession        *session,
                        const SdclSettings *settings,
                        const SdclJob      *job,
                        SdclProgressFunc    progress,
                        gpointer            progress_data,
                        sdcl_image         *out,
                        gint               *used_seed,
                        GError            **error);

/* Outpainting: a copy of `layer`'s pixels (R'G'B'A float in `space`) on a
 * buffer grown by grow[] (left, top, right, bottom) whose new pixels are
 * transparent; the result's extent starts at 0,0.  Nothing of the image
 * changes before the result is there, so a failure or a cancel leaves it
 * as it was. */
GeglBuffer *sdcl_outpaint_source (GeglBuffer *layer,
                                  const gint  grow[4],
                                  const Babl *space);
/* Writes 1 - alpha of `source` (the outpaint source) into `mask` (a layer
 * mask's buffer of the same size): the filled area shows, the known pixels
 * stay exactly as they were. */
void        sdcl_write_unknown_mask (GeglBuffer *mask,
                                     GeglBuffer *source);

/* A batch: `count` images and the seed each was made from. */
typedef struct
{
  gint        count;
  sdcl_image *images;
  gint       *seeds;
} SdclBatch;

/* settings->batch_count images from consecutive seeds (the first as
 * sdcl_generate picks it), progress running once over all of them.  All or
 * nothing: on failure or cancel `batch` is empty.  Free with
 * sdcl_batch_clear(). */
gboolean sdcl_generate_batch (SdclSession        *session,
                              const SdclSettings *settings,
                              const SdclJob      *job,
                              SdclProgressFunc    progress,
                              gpointer            progress_data,
                              SdclBatch          *batch,
                              GError            **error);
void     sdcl_batch_clear    (SdclBatch          *batch);

/* Writes `image` into `dest` at `dest`'s extent origin, converting from the
 * image's R'G'B' (in `space`) to whatever format `dest` has. */
void sdcl_write_image (GeglBuffer       *dest,
                       const sdcl_image *image,
                       const Babl       *space);

/* A layer name made from the prompt and the seed (translated). */
gchar *sdcl_layer_name (const gchar *prompt,
                        gint         seed);

/* The glue's "add image `index` of the batch as a layer named `name` at
 * (x, y), growing the canvas by grow[] first (Outpaint)". */
typedef void (*SdclAddLayerFunc) (gint              index,
                                  const sdcl_image *image,
                                  const gchar      *name,
                                  gint              x,
                                  gint              y,
                                  const gint        grow[4],
                                  gpointer          user_data);

/* Adds every image of `batch`, made with `made`, through `add`: named
 * after the prompt and its seed; the first at (x, y) with the canvas
 * growth of Outpaint, the others where it went (the canvas grows once).
 * The glue wraps the call in one undo group. */
void sdcl_batch_add_layers (const SdclBatch    *batch,
                            const SdclSettings *made,
                            gint                x,
                            gint                y,
                            SdclAddLayerFunc    add,
                            gpointer            user_data);

/* ---- preferences shared by all procedures ------------------------------- */

/* The folder the dialog lists models from: the value saved in `prefs_file`
 * (a key file in the GIMP profile), else $SDCL_MODELS_DIR, else
 * $XDG_DATA_HOME/sdcl/models. */
gchar   *sdcl_prefs_get_models_dir (const gchar *prefs_file);
void     sdcl_prefs_set_models_dir (const gchar *prefs_file,
                                    const gchar *dir);
/* The models in `dir`: *.safetensors files and diffusers folders, sorted. */
GPtrArray *sdcl_find_models (const gchar *dir);

/* The plug-in's translations: binds the "sdcl" domain to `localedir`. */
void sdcl_i18n_init (const gchar *localedir);
/* The plug-in's own locale/ folder when it has one (a plug-in folder copied
 * into a profile carries its catalogs), else the installed locale dir.
 * `program` is the plug-in binary. */
gchar *sdcl_plugin_localedir (const gchar *program);

G_END_DECLS

#endif /* SDCL_GIMP_CORE_H */

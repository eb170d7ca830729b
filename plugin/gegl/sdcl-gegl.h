/* sdcl GEGL operations: what the operations share.
 *
 * The enum types of the shared properties (sdcl-properties.h), the
 * per-process model cache behind sdcl_gegl_generate(), and the conversions
 * between GeglBuffers and the engine's images.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GEGL_H
#define SDCL_GEGL_H

#include <gegl-plugin.h>

#include "sdcl.h"

G_BEGIN_DECLS

/* Pixel formats handed to and taken from the engine: non-linear sRGB, as
 * the models were trained on.  Masks are coverage, so they are read linear
 * (as gegl:opacity reads its aux). */
#define SDCL_GEGL_IMAGE_FORMAT "R'G'B'A float"
#define SDCL_GEGL_MASK_FORMAT  "YA float"

/* GEnum types whose values are the engine's own enum values. */
GType sdcl_gegl_sampler_get_type   (void) G_GNUC_CONST;
GType sdcl_gegl_precision_get_type (void) G_GNUC_CONST;
GType sdcl_gegl_schedule_get_type   (void) G_GNUC_CONST;
GType sdcl_gegl_prediction_get_type (void) G_GNUC_CONST;
GType sdcl_gegl_prompt_syntax_get_type (void) G_GNUC_CONST;

/* The values of the properties every operation declares through
 * sdcl-properties.h.  Each operation's GeglProperties is a type of its own;
 * SDCL_GEGL_COMMON copies the shared fields out of any of them. */
typedef struct
{
  const gchar           *model;
  const gchar           *device;
  sdcl_weight_precision  precision;
  const gchar           *prompt;
  const gchar           *negative_prompt;
  sdcl_prompt_syntax     prompt_syntax;
  sdcl_sampler           sampler;
  gboolean               karras;
  sdcl_schedule          schedule;
  sdcl_prediction_choice prediction;
  gboolean               turbo;     /* sdcl_model_params.variant SDCL_VARIANT_TURBO */
  gint                   steps;
  gdouble                guidance;
  guint                  seed;
  gboolean               tiling;
  const gchar           *loras;     /* FILE[:WEIGHT] per line (sdcl_lora_list_parse) */
  const gchar           *embeddings; /* textual-inversion files, one per line */
} SdclGeglCommon;

#define SDCL_GEGL_COMMON(o)                     \
  ((SdclGeglCommon) {                           \
    .model           = (o)->model,              \
    .device          = (o)->device,             \
    .precision       = (o)->precision,          \
    .prompt          = (o)->prompt,             \
    .negative_prompt = (o)->negative_prompt,    \
    .prompt_syntax   = (o)->prompt_syntax,      \
    .sampler         = (o)->sampler,            \
    .karras          = (o)->karras,             \
    .schedule        = (o)->schedule,           \
    .prediction      = (o)->prediction,         \
    .turbo           = (o)->turbo,              \
    .steps           = (o)->steps,              \
    .guidance        = (o)->guidance,           \
    .seed            = (o)->seed,               \
    .tiling          = (o)->tiling,             \
    .loras           = (o)->loras,              \
    .embeddings      = (o)->embeddings })

/* The size (width and height) of the model the properties name, read from
 * its files with the prediction and Turbo properties applied, for size
 * properties left at 0; SDCL_GEGL_FALLBACK_SIZE, SD
 * 1.x's, when the model cannot be read (the run then says why). */
#define SDCL_GEGL_FALLBACK_SIZE 512
gint sdcl_gegl_native_size (const SdclGeglCommon *common);

/* TRUE when the prompt is empty or blank.  The operations then do no work:
 * filters pass their input through and sdcl:txt2img is transparent, so a
 * GIMP live preview opened with no prompt yet costs nothing. */
gboolean sdcl_gegl_prompt_is_empty (const SdclGeglCommon *common);

/* TRUE when OpenCL offers at least one device; probed once per process. */
gboolean sdcl_gegl_is_available (void);

/* Engine parameters from the shared properties; the caller adds what is
 * specific to its mode (size, strength, mask handling). */
sdcl_gen_params sdcl_gegl_gen_params (const SdclGeglCommon *common);

/* Runs one generation on the cached model that `common` names: text to
 * image when `init` is NULL, image to image when `mask` is NULL, else
 * inpainting.  Reports progress on `operation` after every step.  On
 * failure it logs a g_warning naming the operation and the cause, and
 * returns FALSE; on success `out` must be freed with sdcl_image_free(). */
gboolean sdcl_gegl_generate (GeglOperation         *operation,
                             const SdclGeglCommon  *common,
                             const sdcl_gen_params *params,
                             const sdcl_image      *init,
                             const sdcl_image      *mask,
                             sdcl_image            *out);

/* Reads `rect` of `input` as SDCL_GEGL_IMAGE_FORMAT, split into an RGB
 * image for the engine (free with sdcl_gegl_image_clear()) and an alpha
 * plane that goes back out untouched (free with g_free()). */
void sdcl_gegl_read_image (GeglBuffer          *input,
                           const GeglRectangle *rect,
                           sdcl_image          *rgb,
                           gfloat             **alpha);

/* Reads `rect` of `aux` as a one-channel mask, grey level times alpha;
 * returns the largest value (0 means there is nothing to repaint). */
gfloat sdcl_gegl_read_mask (GeglBuffer          *aux,
                            const GeglRectangle *rect,
                            sdcl_image          *mask);

/* Writes `rgb` to `rect` of `output` with the given alpha plane (NULL:
 * opaque). */
void sdcl_gegl_write_image (GeglBuffer          *output,
                            const GeglRectangle *rect,
                            const sdcl_image    *rgb,
                            const gfloat        *alpha);

/* Frees the data of an image this file allocated (not an engine result). */
void sdcl_gegl_image_clear (sdcl_image *image);

/* Makes a filter or composer class work on its whole input at once, on
 * one thread: the network must see the whole image, and one request must
 * start one generation, not one per tile or thread. */
void sdcl_gegl_class_whole_image (GeglOperationClass *klass);

G_END_DECLS

#endif /* SDCL_GEGL_H */

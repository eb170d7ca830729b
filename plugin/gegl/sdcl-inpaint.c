/* sdcl:inpaint — redraws the masked part of an image with Stable Diffusion.
 *
 * The mask comes on the aux pad: its grey level times its alpha is the
 * per-pixel strength (white: redraw, black or transparent: keep).  Pixels
 * the (blurred) mask does not touch come back unchanged.
 *
 * With fill-transparent it outpaints: the input's transparent pixels are
 * (also) the mask, pre-filled from the known ones (sdcl_image_fill_unknown)
 * before the model sees them, and the result is opaque; the known pixels
 * come back bit for bit.
 *
 * No GIMP menu entry: a GIMP 3 filter gets neither the selection as aux
 * nor the context around it, so GIMP reaches this through the plug-in.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sdcl-gegl-config.h"

#include <glib/gi18n-lib.h>

#ifdef GEGL_PROPERTIES

#include "sdcl-properties.h"

property_double (strength, _("Strength"), 1.0)
  description (_("How much of the masked part is redrawn: 0 keeps it, "
                 "1 replaces it"))
  value_range (0.0, 1.0)

property_double (mask_blur, _("Mask blur"), 4.0)
  description (_("Gaussian blur radius applied to the mask, so the redrawn "
                 "part blends in"))
  value_range (0.0, 256.0)
  ui_range    (0.0, 64.0)
  ui_meta     ("unit", "pixel-distance")

property_boolean (only_masked, _("Only the masked area"), FALSE)
  description (_("Generate only the mask's bounding box (plus padding) at "
                 "full resolution instead of the whole image"))

property_int (mask_padding, _("Padding"), 32)
  description (_("Context kept around the mask's bounding box when only "
                 "the masked area is generated"))
  value_range (0, 8192)
  ui_range    (0, 256)
  ui_meta     ("unit", "pixel-distance")
  ui_meta     ("sensitive", "only-masked")

property_boolean (fill_transparent, _("Fill transparent areas"), FALSE)
  description (_("Outpainting: the transparent pixels of the input are "
                 "(also) the area to redraw, pre-filled from the pixels "
                 "around them; the result is opaque and the opaque pixels "
                 "stay exactly as they were (no mask blur)"))

#else

#define GEGL_OP_COMPOSER
#define GEGL_OP_NAME     sdcl_inpaint
#define GEGL_OP_C_SOURCE sdcl-inpaint.c

#include "sdcl-gegl.h"
#include "gegl-op.h"

static void
prepare (GeglOperation *operation)
{
  const Babl *format = babl_format (SDCL_GEGL_IMAGE_FORMAT);

  gegl_operation_set_format (operation, "input", format);
  gegl_operation_set_format (operation, "aux", babl_format (SDCL_GEGL_MASK_FORMAT));
  gegl_operation_set_format (operation, "output", format);
}

/* fill-transparent: mask = max (aux, 1 - alpha), the transparent pixels
 * pre-filled; FALSE (input kept) when nothing is transparent or masked. */
static gboolean
outpaint (GeglOperation        *operation,
          GeglProperties       *o,
          const SdclGeglCommon *common,
          sdcl_gen_params      *params,
          GeglBuffer           *input,
          GeglBuffer           *aux,
          GeglBuffer           *output,
          const GeglRectangle  *result)
{
  sdcl_image  init  = { 0 }, mask = { 0 }, image = { 0 };
  sdcl_image  known = { result->width, result->height, 1, NULL };
  gfloat     *alpha = NULL;
  gfloat      largest = 0.0f;
  sdcl_error  err = { 0 };
  gboolean    done = FALSE;

  sdcl_gegl_read_image (input, result, &init, &alpha);
  if (aux)
    sdcl_gegl_read_mask (aux, result, &mask);
  else
    mask = (sdcl_image) { result->width, result->height, 1,
                          g_new0 (gfloat, (gsize) result->width * result->height) };
  known.data = alpha;
  for (gsize i = 0; i < (gsize) result->width * result->height; i++)
    {
      alpha[i]     = CLAMP (alpha[i], 0.0f, 1.0f);
      mask.data[i] = MAX (mask.data[i], 1.0f - alpha[i]);
      largest      = MAX (largest, mask.data[i]);
    }

  if (largest == 0.0f)
    g_debug ("%s: nothing transparent or masked: nothing to fill",
             gegl_operation_get_name (operation));
  else if (sdcl_image_fill_unknown (&init, &known, &err) != SDCL_OK)
    g_warning ("%s: %s", gegl_operation_get_name (operation), err.message);
  else
    {
      params->strength    = o->strength;
      params->mask_blur   = 0.0f; /* a blur would reach into the known pixels */
      params->only_masked = o->only_masked;
      params->mask_padding = o->mask_padding;
      done = sdcl_gegl_generate (operation, common, params, &init, &mask, &image);
      if (done)
        {
          sdcl_gegl_write_image (output, result, &image, NULL); /* filled: opaque */
          sdcl_image_free (&image);
        }
    }
  sdcl_gegl_image_clear (&init);
  sdcl_gegl_image_clear (&mask);
  g_free (alpha);
  return done;
}

static gboolean
process (GeglOperation       *operation,
         GeglBuffer          *input,
         GeglBuffer          *aux,
         GeglBuffer          *output,
         const GeglRectangle *result,
         gint                 level)
{
  GeglProperties  *o      = GEGL_PROPERTIES (operation);
  SdclGeglCommon   common = SDCL_GEGL_COMMON (o);
  sdcl_gen_params  params = sdcl_gegl_gen_params (&common);
  sdcl_image       init   = { 0 };
  sdcl_image       mask   = { 0 };
  sdcl_image       image  = { 0 };
  gfloat          *alpha  = NULL;
  gboolean         done   = FALSE;

  if (! input || gegl_rectangle_is_empty (result))
    return TRUE;

  if (sdcl_gegl_prompt_is_empty (&common))
    g_debug ("%s: no prompt: nothing to inpaint", gegl_operation_get_name (operation));
  else if (o->fill_transparent)
    done = outpaint (operation, o, &common, &params, input, aux, output, result);
  else if (! aux)
    g_warning ("%s: no mask on the aux input: nothing to inpaint",
               gegl_operation_get_name (operation));
  else if (sdcl_gegl_read_mask (aux, result, &mask) == 0.0f)
    g_debug ("%s: the mask is empty: nothing to inpaint",
             gegl_operation_get_name (operation));
  else
    {
      params.strength     = o->strength;
      params.mask_blur    = o->mask_blur;
      params.only_masked  = o->only_masked;
      params.mask_padding = o->mask_padding;
      sdcl_gegl_read_image (input, result, &init, &alpha);

      done = sdcl_gegl_generate (operation, &common, &params, &init, &mask, &image);
      if (done)
        {
          sdcl_gegl_write_image (output, result, &image, alpha);
          sdcl_image_free (&image);
        }
    }

  /* Nothing to do or a failure (already reported): keep the image. */
  if (! done)
    gegl_buffer_copy (input, result, GEGL_ABYSS_NONE, output, result);

  sdcl_gegl_image_clear (&init);
  sdcl_gegl_image_clear (&mask);
  g_free (alpha);
  return TRUE;
}

/* gegl-op.h (0.4.42) makes the seed's GeglRandom but never frees it. */
static void
finalize (GObject *object)
{
  GeglProperties *o = GEGL_PROPERTIES (object);

  g_clear_pointer (&o->rand, gegl_random_free);
  G_OBJECT_CLASS (gegl_op_parent_class)->finalize (object);
}

static void
gegl_op_class_init (GeglOpClass *klass)
{
  GeglOperationClass         *operation_class = GEGL_OPERATION_CLASS (klass);
  GeglOperationComposerClass *composer_class  = GEGL_OPERATION_COMPOSER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = finalize;
  operation_class->is_available     = sdcl_gegl_is_available;
  operation_class->prepare          = prepare;
  sdcl_gegl_class_whole_image (operation_class);
  composer_class->process          = process;

  /* No "license" key: see sdcl-txt2img.c. */
  gegl_operation_class_set_keys (operation_class,
    "name",        "sdcl:inpaint",
    "title",       _("Stable Diffusion: Inpaint"),
    "categories",  "artistic",
    "description", _("Redraws the part of the image that the mask on aux "
                     "selects (grey levels and alpha are per-pixel strength) "
                     "with a Stable Diffusion 1.x model on an OpenCL device; "
                     "the rest stays unchanged"),
    NULL);
}

#endif

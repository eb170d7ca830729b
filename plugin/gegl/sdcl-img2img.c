/* sdcl:img2img — redraws an image with Stable Diffusion, guided by a prompt.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sdcl-gegl-config.h"

#include <glib/gi18n-lib.h>

#ifdef GEGL_PROPERTIES

#include "sdcl-properties.h"

property_double (strength, _("Strength"), 0.75)
  description (_("How much of the image is redrawn: 0 keeps it, 1 replaces it"))
  value_range (0.0, 1.0)

#else

#define GEGL_OP_FILTER
#define GEGL_OP_NAME     sdcl_img2img
#define GEGL_OP_C_SOURCE sdcl-img2img.c

#include "sdcl-gegl.h"
#include "gegl-op.h"

static void
prepare (GeglOperation *operation)
{
  const Babl *format = babl_format (SDCL_GEGL_IMAGE_FORMAT);

  gegl_operation_set_format (operation, "input", format);
  gegl_operation_set_format (operation, "output", format);
}

static gboolean
process (GeglOperation       *operation,
         GeglBuffer          *input,
         GeglBuffer          *output,
         const GeglRectangle *result,
         gint                 level)
{
  GeglProperties  *o      = GEGL_PROPERTIES (operation);
  SdclGeglCommon   common = SDCL_GEGL_COMMON (o);
  sdcl_gen_params  params = sdcl_gegl_gen_params (&common);
  sdcl_image       init   = { 0 };
  sdcl_image       image  = { 0 };
  gfloat          *alpha  = NULL;

  if (! input || gegl_rectangle_is_empty (result))
    return TRUE;

  if (sdcl_gegl_prompt_is_empty (&common))
    {
      /* No prompt yet (a live preview just opened): nothing to change. */
      gegl_buffer_copy (input, result, GEGL_ABYSS_NONE, output, result);
      return TRUE;
    }

  params.strength = o->strength;
  sdcl_gegl_read_image (input, result, &init, &alpha);

  if (sdcl_gegl_generate (operation, &common, &params, &init, NULL, &image))
    {
      sdcl_gegl_write_image (output, result, &image, alpha);
      sdcl_image_free (&image);
    }
  else
    {
      /* The warning says why; the image stays as it was. */
      gegl_buffer_copy (input, result, GEGL_ABYSS_NONE, output, result);
    }

  sdcl_gegl_image_clear (&init);
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
  GeglOperationClass       *operation_class = GEGL_OPERATION_CLASS (klass);
  GeglOperationFilterClass *filter_class    = GEGL_OPERATION_FILTER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = finalize;
  operation_class->is_available     = sdcl_gegl_is_available;
  operation_class->prepare          = prepare;
  sdcl_gegl_class_whole_image (operation_class);
  filter_class->process            = process;

  /* No "license" key: see sdcl-txt2img.c. */
  gegl_operation_class_set_keys (operation_class,
    "name",            "sdcl:img2img",
    "title",           _("Stable Diffusion: Image to Image Filter"),
    "categories",      "artistic",
    "description",     _("Redraws the image with a Stable Diffusion 1.x model on "
                         "an OpenCL device, following a text prompt; alpha is "
                         "kept"),
    "gimp:menu-path",  "<Image>/Filters/Stable Diffusion",
    "gimp:menu-label", _("_Image to Image Filter…"),
    NULL);
}

#endif

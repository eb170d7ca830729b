/* sdcl:txt2img — a Stable Diffusion image from a text prompt.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sdcl-gegl-config.h"

#include <glib/gi18n-lib.h>

#ifdef GEGL_PROPERTIES

#include "sdcl-properties.h"

/* The engine needs multiples of the VAE's scale factor (8 for SD 1.x);
 * the steps of 8 steer the user there, the engine's message explains.
 * 0, the default, is the model's native size: what it was trained at, and
 * fast.  No "output-extent" role: GIMP would replace the default with the
 * canvas size, often far larger than the model's. */
property_int (width, _("Width"), 0)
  description (_("Width of the image in pixels, a multiple of 8; 0: the "
                 "model's native size"))
  value_range (0, 8192)
  ui_range    (0, 2048)
  ui_steps    (8, 64)
  ui_meta     ("unit", "pixel-distance")
  ui_meta     ("axis", "x")

property_int (height, _("Height"), 0)
  description (_("Height of the image in pixels, a multiple of 8; 0: the "
                 "model's native size"))
  value_range (0, 8192)
  ui_range    (0, 2048)
  ui_steps    (8, 64)
  ui_meta     ("unit", "pixel-distance")
  ui_meta     ("axis", "y")

#else

#define GEGL_OP_SOURCE
#define GEGL_OP_NAME     sdcl_txt2img
#define GEGL_OP_C_SOURCE sdcl-txt2img.c

#include "sdcl-gegl.h"
#include "gegl-op.h"

static void
prepare (GeglOperation *operation)
{
  gegl_operation_set_format (operation, "output", babl_format (SDCL_GEGL_IMAGE_FORMAT));
}

static GeglRectangle
get_bounding_box (GeglOperation *operation)
{
  GeglProperties *o      = GEGL_PROPERTIES (operation);
  SdclGeglCommon  common = SDCL_GEGL_COMMON (o);
  gint            native = o->width && o->height ? 0 : sdcl_gegl_native_size (&common);

  return *GEGL_RECTANGLE (0, 0, o->width ? o->width : native, o->height ? o->height : native);
}

/* One generation makes the whole image; never ask for it tile by tile. */
static GeglRectangle
get_cached_region (GeglOperation       *operation,
                   const GeglRectangle *roi)
{
  return get_bounding_box (operation);
}

static gboolean
process (GeglOperation       *operation,
         GeglBuffer          *output,
         const GeglRectangle *result,
         gint                 level)
{
  GeglProperties  *o      = GEGL_PROPERTIES (operation);
  SdclGeglCommon   common = SDCL_GEGL_COMMON (o);
  sdcl_gen_params  params = sdcl_gegl_gen_params (&common);
  GeglRectangle    whole  = get_bounding_box (operation);
  sdcl_image       image  = { 0 };

  params.width  = whole.width;
  params.height = whole.height;

  if (sdcl_gegl_prompt_is_empty (&common))
    {
      /* No prompt yet (a live preview just opened): nothing to make. */
      gegl_buffer_clear (output, &whole);
    }
  else if (sdcl_gegl_generate (operation, &common, &params, NULL, NULL, &image))
    {
      sdcl_gegl_write_image (output, &whole, &image, NULL);
      sdcl_image_free (&image);
    }
  else
    {
      /* The warning says why; transparency shows that nothing was made. */
      gegl_buffer_clear (output, &whole);
    }
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
  GeglOperationSourceClass *source_class    = GEGL_OPERATION_SOURCE_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize   = finalize;
  /* Hidden where OpenCL has no device: the operation could only fail. */
  operation_class->is_available      = sdcl_gegl_is_available;
  operation_class->prepare           = prepare;
  operation_class->get_bounding_box  = get_bounding_box;
  operation_class->get_cached_region = get_cached_region;
  operation_class->threaded          = FALSE;
  source_class->process              = process;

  /* No "license" key: the module is LGPL-3.0-or-later like GEGL itself,
   * and GEGL shows an operation with that key only to hosts that declared
   * a matching application license, which many never do. */
  gegl_operation_class_set_keys (operation_class,
    "name",            "sdcl:txt2img",
    /* GIMP 3 lists this next to the plug-in's Text to Image (which adds a
     * layer); the "filter" in both labels tells them apart. */
    "title",           _("Stable Diffusion: Text to Image Filter"),
    "categories",      "render",
    "description",     _("Generates an image from a text prompt with a Stable "
                         "Diffusion 1.x model on an OpenCL device"),
    "gimp:menu-path",  "<Image>/Filters/Stable Diffusion",
    "gimp:menu-label", _("_Text to Image Filter…"),
    NULL);
}

#endif

/* sdcl GIMP plug-in: outpainting, below the GIMP API.
 *
 * Outpainting is inpainting of a prepared image: the layer, grown by the
 * margins, whose transparent pixels are the mask and are pre-filled from
 * the known ones so that the VAE encoder sees no hard edge where the
 * picture ends.  The glue (sdcl-gimp3.c / sdcl-gimp2.c) builds the grown
 * source here, the core runs it as inpainting, and the glue adds the
 * result as a layer masked by 1 - alpha, so the known pixels show exactly
 * as they were.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-gimp-private.h"

/* Outpainting's inputs: the grown layer's colours with its transparent
 * pixels pre-filled from the known ones (sdcl_image_fill_unknown), and the
 * mask 1 - alpha. */
gboolean
sdcl_read_outpaint (const SdclJob *job,
                    sdcl_image    *init,
                    sdcl_image    *mask,
                    GError       **error)
{
  const GeglRectangle *r = &job->area;
  gsize                n = (gsize) r->width * r->height;
  gfloat              *rgba;
  sdcl_image           known = { r->width, r->height, 1, NULL };
  sdcl_error           err = { 0 };
  gboolean             any = FALSE;

  if (!job->source || r->width < 1 || r->height < 1)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("There is nothing to work on: the layer or selected area is empty."));
      return FALSE;
    }
  rgba = g_try_new (gfloat, n * 4);
  if (!rgba)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The area of %d x %d pixels is too large."), r->width, r->height);
      return FALSE;
    }
  gegl_buffer_get (job->source, r, 1.0, babl_format_with_space ("R'G'B'A float", job->space),
                   rgba, GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  *init = (sdcl_image) { r->width, r->height, 3, g_new (float, n * 3) };
  *mask = (sdcl_image) { r->width, r->height, 1, g_new (float, n) };
  known.data = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    {
      gfloat a = CLAMP (rgba[4 * i + 3], 0.0f, 1.0f);

      memcpy (init->data + 3 * i, rgba + 4 * i, 3 * sizeof (float));
      known.data[i] = a;
      mask->data[i] = 1.0f - a;
      any |= a < 1.0f;
    }
  g_free (rgba);
  if (!any)
    g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                 _("There is nothing to fill: the layer has no transparent pixels. Grow the "
                   "canvas (give it a border) or make part of the layer transparent."));
  else if (sdcl_image_fill_unknown (init, &known, &err) != SDCL_OK)
    g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                 _("There is nothing to extend: the layer is fully transparent."));
  g_free (known.data);
  return any && err.code == SDCL_OK;
}

GeglBuffer *
sdcl_outpaint_source (GeglBuffer *layer,
                      const gint  grow[4],
                      const Babl *space)
{
  const GeglRectangle *e = gegl_buffer_get_extent (layer);
  GeglRectangle        grown = { 0, 0, e->width + grow[0] + grow[2],
                                 e->height + grow[1] + grow[3] };
  GeglRectangle        at = { grow[0], grow[1], e->width, e->height };
  GeglBuffer          *buffer;

  /* A new buffer is transparent; the layer goes in at the left and top
   * margins (a layer without alpha comes in opaque). */
  buffer = gegl_buffer_new (&grown, babl_format_with_space ("R'G'B'A float", space));
  gegl_buffer_copy (layer, e, GEGL_ABYSS_NONE, buffer, &at);
  return buffer;
}

void
sdcl_write_unknown_mask (GeglBuffer *mask,
                         GeglBuffer *source)
{
  const GeglRectangle *e = gegl_buffer_get_extent (source);
  gsize                n = (gsize) e->width * e->height;
  gfloat              *ya = g_new (gfloat, n * 2);
  gfloat              *y = g_new (gfloat, n);
  GeglRectangle        r = *gegl_buffer_get_extent (mask);

  /* Alpha is coverage, linear: read it as linear grey with alpha. */
  gegl_buffer_get (source, e, 1.0, babl_format ("YA float"), ya, GEGL_AUTO_ROWSTRIDE,
                   GEGL_ABYSS_NONE);
  for (gsize i = 0; i < n; i++)
    y[i] = 1.0f - CLAMP (ya[2 * i + 1], 0.0f, 1.0f);
  r.width  = MIN (r.width, e->width);
  r.height = MIN (r.height, e->height);
  gegl_buffer_set (mask, &r, 0, babl_format ("Y float"), y, e->width * sizeof (gfloat));
  g_free (ya);
  g_free (y);
}

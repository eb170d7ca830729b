/* A GEGL host as a user's program is one: no GEGL_PATH, the locale from
 * the environment.  For tests/gegl/test_gegl_user_install.py: reports
 * whether the sdcl operations are there, their titles and GIMP menu labels
 * (translated, if the module found its catalogs), and renders sdcl:txt2img
 * with every property at its default but the prompt, so the module must
 * find the demo model and its native size by itself.
 *
 * usage: gegl-user-probe PROMPT STEPS
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <gegl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

int
main (int    argc,
      char **argv)
{
  const gchar *ops[] = { "sdcl:txt2img", "sdcl:img2img", "sdcl:inpaint" };
  GeglBuffer  *out = NULL;
  GeglNode    *graph, *op, *sink;
  gfloat       max_alpha = 0.0f;

  if (argc != 3)
    {
      fprintf (stderr, "usage: %s PROMPT STEPS\n", argv[0]);
      return 2;
    }
  setlocale (LC_ALL, "");
  gegl_init (NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    {
      const gchar *label = gegl_has_operation (ops[i])
                           ? gegl_operation_get_key (ops[i], "gimp:menu-label") : NULL;

      printf ("op %s has=%d title=\"%s\" label=\"%s\"\n", ops[i], gegl_has_operation (ops[i]),
              gegl_has_operation (ops[i]) ? gegl_operation_get_key (ops[i], "title") : "",
              label ? label : "");
    }

  graph = gegl_node_new ();
  op    = gegl_node_new_child (graph, "operation", "sdcl:txt2img", "prompt", argv[1],
                               "steps", atoi (argv[2]), "seed", 1, NULL);
  sink  = gegl_node_new_child (graph, "operation", "gegl:buffer-sink", "buffer", &out, NULL);
  gegl_node_link (op, sink);
  gegl_node_process (sink);
  if (out)
    {
      const GeglRectangle *extent = gegl_buffer_get_extent (out);
      gint                 n      = extent->width * extent->height;
      gfloat              *pixels = g_new (gfloat, 4 * MAX (n, 1));

      gegl_buffer_get (out, extent, 1.0, babl_format ("RGBA float"), pixels,
                       GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
      for (gint i = 0; i < n; i++)
        max_alpha = MAX (max_alpha, pixels[4 * i + 3]);
      printf ("render w=%d h=%d max-alpha=%g\n", extent->width, extent->height, max_alpha);
      g_free (pixels);
      g_object_unref (out);
    }
  g_object_unref (graph);
  gegl_exit ();
  return 0;
}

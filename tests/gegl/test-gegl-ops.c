/* The sdcl GEGL operations through the GEGL API, as a host uses them.
 *
 * What a host sees before running anything: the operations are visible
 * without an application license, carry the GIMP menu keys, and their
 * properties have the engine's defaults and limits.  Then processing into
 * a GeglBuffer: the output's extent, alpha passed through, progress once
 * per denoising step, and the model cache (a second run of the same model
 * does not load it again; the module's "loaded model" debug message is the
 * witness); the turbo property gives a single file the engine's Turbo
 * settings.
 *
 * usage: test-gegl-ops GEGL_PLUGINSDIR MODULE_DIR   (SDCL_FIXTURES from meson)
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <gegl.h>
#include <gegl-paramspecs.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "sdcl.h"

#define MENU_PATH "<Image>/Filters/Stable Diffusion"

static gchar *tiny_model;
static guint  n_loads;   /* "loaded model" messages from the module */
static guint  n_reuses;  /* "reusing model" messages */

static void
count_cache_messages (const gchar    *domain,
                      GLogLevelFlags  level,
                      const gchar    *message,
                      gpointer        data)
{
  if (g_str_has_prefix (message, "loaded model "))
    n_loads++;
  else if (g_str_has_prefix (message, "reusing model "))
    n_reuses++;
}

/* ---- helpers ----------------------------------------------------------- */

typedef struct
{
  guint   n_steps; /* reports past the start (fraction > 0) */
  gdouble last;
} Progress;

/* GeglNode::progress carries the fraction only. */
static void
on_progress (GeglNode *node,
             gdouble   fraction,
             Progress *progress)
{
  if (fraction > 0.0)
    progress->n_steps++;
  progress->last = fraction;
}

/* Renders `op` (a child of `graph`) with optional input and aux buffers
 * into a new buffer. */
static GeglBuffer *
render (GeglNode   *graph,
        GeglNode   *op,
        GeglBuffer *input,
        GeglBuffer *aux,
        Progress   *progress)
{
  GeglBuffer *out = NULL;
  GeglNode   *sink;

  if (input)
    gegl_node_link (gegl_node_new_child (graph, "operation", "gegl:buffer-source",
                                         "buffer", input, NULL), op);
  if (aux)
    gegl_node_connect_to (gegl_node_new_child (graph, "operation", "gegl:buffer-source",
                                               "buffer", aux, NULL), "output", op, "aux");
  sink = gegl_node_new_child (graph, "operation", "gegl:buffer-sink", "buffer", &out, NULL);
  gegl_node_link (op, sink);
  if (progress)
    g_signal_connect (op, "progress", G_CALLBACK (on_progress), progress);
  gegl_node_process (sink);
  return out;
}

static GeglNode *
new_txt2img (GeglNode    *graph,
             const gchar *model,
             guint        seed)
{
  return gegl_node_new_child (graph, "operation", "sdcl:txt2img",
                              "model", model, "prompt", "a red circle",
                              "width", 64, "height", 48, "steps", 2, "seed", seed, NULL);
}

/* R'G'B'A float, a gradient with varying alpha, not at the origin. */
static GeglBuffer *
make_input (const GeglRectangle *rect)
{
  const Babl *format = babl_format ("R'G'B'A float");
  GeglBuffer *buffer = gegl_buffer_new (rect, format);
  gfloat     *pixels = g_new (gfloat, rect->width * rect->height * 4);

  for (gint y = 0; y < rect->height; y++)
    for (gint x = 0; x < rect->width; x++)
      {
        gfloat *p = pixels + 4 * (y * rect->width + x);

        p[0] = (gfloat) x / rect->width;
        p[1] = (gfloat) y / rect->height;
        p[2] = 0.5f;
        p[3] = x < rect->width / 2 ? 1.0f : 0.25f + 0.5f * y / rect->height;
      }
  gegl_buffer_set (buffer, rect, 0, format, pixels, GEGL_AUTO_ROWSTRIDE);
  g_free (pixels);
  return buffer;
}

static gfloat *
get_pixels (GeglBuffer          *buffer,
            const GeglRectangle *rect)
{
  gfloat *pixels = g_new (gfloat, rect->width * rect->height * 4);

  gegl_buffer_get (buffer, rect, 1.0, babl_format ("R'G'B'A float"), pixels,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  return pixels;
}

/* ---- what a host sees -------------------------------------------------- */

static void
test_visible_without_license (void)
{
  /* main() never sets "application-license": an LGPL host sees us. */
  for (const gchar *const *op = (const gchar *const[]) { "sdcl:txt2img", "sdcl:img2img",
                                                         "sdcl:inpaint", NULL };
       *op; op++)
    {
      g_assert_true (gegl_has_operation (*op));
      g_assert_null (gegl_operation_get_key (*op, "license"));
      g_assert_nonnull (gegl_operation_get_key (*op, "title"));
      g_assert_nonnull (gegl_operation_get_key (*op, "description"));
    }
}

static void
test_gimp_menu_keys (void)
{
  g_assert_cmpstr (gegl_operation_get_key ("sdcl:txt2img", "gimp:menu-path"), ==, MENU_PATH);
  g_assert_cmpstr (gegl_operation_get_key ("sdcl:img2img", "gimp:menu-path"), ==, MENU_PATH);
  /* GIMP 3 shows them beside the plug-in's entries of the same names: the
   * labels say they are filters. */
  g_assert_nonnull (strstr (gegl_operation_get_key ("sdcl:txt2img", "gimp:menu-label"),
                            "Filter"));
  g_assert_nonnull (strstr (gegl_operation_get_key ("sdcl:img2img", "gimp:menu-label"),
                            "Filter"));
  /* A GIMP filter would get neither the mask nor the context around it. */
  g_assert_null (gegl_operation_get_key ("sdcl:inpaint", "gimp:menu-path"));
}

static GParamSpec *
find_property (const gchar *op,
               const gchar *name,
               GType        pspec_type)
{
  GParamSpec *pspec = gegl_operation_find_property (op, name);

  if (! pspec)
    g_error ("%s has no property %s", op, name);
  if (! G_TYPE_CHECK_INSTANCE_TYPE (pspec, pspec_type))
    g_error ("%s: property %s is a %s, not a %s", op, name, G_PARAM_SPEC_TYPE_NAME (pspec),
             g_type_name (pspec_type));
  return pspec;
}

static void
check_int (const gchar *op,
           const gchar *name,
           gint         def,
           gint         min,
           gint         max)
{
  GParamSpecInt *pspec = G_PARAM_SPEC_INT (find_property (op, name, GEGL_TYPE_PARAM_INT));

  g_assert_cmpint (pspec->default_value, ==, def);
  g_assert_cmpint (pspec->minimum, ==, min);
  g_assert_cmpint (pspec->maximum, ==, max);
  g_assert_cmpint (GEGL_PARAM_SPEC_INT (pspec)->ui_minimum, >=, min);
  g_assert_cmpint (GEGL_PARAM_SPEC_INT (pspec)->ui_maximum, <=, max);
}

static void
check_double (const gchar *op,
              const gchar *name,
              gdouble      def,
              gdouble      min,
              gdouble      max)
{
  GParamSpecDouble *pspec = G_PARAM_SPEC_DOUBLE (find_property (op, name,
                                                                GEGL_TYPE_PARAM_DOUBLE));

  g_assert_cmpfloat_with_epsilon (pspec->default_value, def, 1e-6);
  g_assert_cmpfloat (pspec->minimum, ==, min);
  g_assert_cmpfloat (pspec->maximum, ==, max);
  g_assert_cmpfloat (GEGL_PARAM_SPEC_DOUBLE (pspec)->ui_minimum, >=, min);
  g_assert_cmpfloat (GEGL_PARAM_SPEC_DOUBLE (pspec)->ui_maximum, <=, max);
}

/* The shared properties: the engine's defaults, and every engine sampler
 * under the name the CLI uses for it. */
static void
test_shared_properties (void)
{
  const sdcl_gen_params engine = sdcl_gen_default_params ();

  for (const gchar *const *op = (const gchar *const[]) { "sdcl:txt2img", "sdcl:img2img",
                                                         "sdcl:inpaint", NULL };
       *op; op++)
    {
      GParamSpecEnum *sampler;
      GParamSpecEnum *precision;
      GParamSpecEnum *syntax;

      g_test_message ("%s", *op);
      for (const gchar *const *s = (const gchar *const[]) { "model", "prompt", "negative-prompt",
                                                            "device", "loras", "embeddings",
                                                            NULL };
           *s; s++)
        g_assert_cmpstr (G_PARAM_SPEC_STRING (find_property (*op, *s, G_TYPE_PARAM_STRING))
                           ->default_value, ==, "");

      check_int (*op, "steps", engine.steps, 1, 1000);
      check_double (*op, "guidance", engine.guidance, 0.0, 100.0);
      g_assert_cmpint (G_PARAM_SPEC_BOOLEAN (find_property (*op, "karras", G_TYPE_PARAM_BOOLEAN))
                         ->default_value, ==, engine.karras_sigmas);
      /* Off: the model's own variant, as sdcl_model_default_params. */
      g_assert_cmpint (sdcl_model_default_params ().variant, ==, SDCL_VARIANT_FROM_MODEL);
      g_assert_false (G_PARAM_SPEC_BOOLEAN (find_property (*op, "turbo", G_TYPE_PARAM_BOOLEAN))
                        ->default_value);
      find_property (*op, "seed", GEGL_TYPE_PARAM_SEED);

      sampler = G_PARAM_SPEC_ENUM (find_property (*op, "sampler", GEGL_TYPE_PARAM_ENUM));
      g_assert_cmpint (sampler->default_value, ==, engine.sampler);
      g_assert_cmpuint (sampler->enum_class->n_values, ==, SDCL_SAMPLER_COUNT);
      for (gint s = 0; s < SDCL_SAMPLER_COUNT; s++)
        {
          GEnumValue *value = g_enum_get_value (sampler->enum_class, s);

          g_assert_nonnull (value);
          g_assert_cmpstr (value->value_nick, ==, sdcl_sampler_name (s));
        }

      precision = G_PARAM_SPEC_ENUM (find_property (*op, "precision", GEGL_TYPE_PARAM_ENUM));
      g_assert_cmpint (precision->default_value, ==, sdcl_model_default_params ().weights);
      g_assert_cmpint (g_enum_get_value_by_nick (precision->enum_class, "f32")->value, ==,
                       SDCL_WEIGHTS_F32);
      g_assert_cmpint (g_enum_get_value_by_nick (precision->enum_class, "q8")->value, ==,
                       SDCL_WEIGHTS_Q8);

      syntax = G_PARAM_SPEC_ENUM (find_property (*op, "prompt-syntax", GEGL_TYPE_PARAM_ENUM));
      g_assert_cmpint (syntax->default_value, ==, sdcl_gen_default_params ().prompt_syntax);
      g_assert_cmpint (g_enum_get_value_by_nick (syntax->enum_class, "plain")->value, ==,
                       SDCL_PROMPT_PLAIN);
    }
}

static void
test_own_properties (void)
{
  const sdcl_gen_params engine = sdcl_gen_default_params ();
  GParamSpec *width;

  /* 0: the model's native size.  No "output-extent" role, with which GIMP
   * would put the canvas size in instead. */
  check_int ("sdcl:txt2img", "width", 0, 0, 8192);
  check_int ("sdcl:txt2img", "height", 0, 0, 8192);
  width = gegl_operation_find_property ("sdcl:txt2img", "width");
  g_assert_null (gegl_param_spec_get_property_key (width, "role"));

  check_double ("sdcl:img2img", "strength", engine.strength, 0.0, 1.0);

  /* Inpainting redraws the masked part outright by default, as diffusers
   * does; blur and padding are the engine's. */
  check_double ("sdcl:inpaint", "strength", 1.0, 0.0, 1.0);
  check_double ("sdcl:inpaint", "mask-blur", engine.mask_blur, 0.0, 256.0);
  check_int ("sdcl:inpaint", "mask-padding", engine.mask_padding, 0, 8192);
  g_assert_cmpint (G_PARAM_SPEC_BOOLEAN (find_property ("sdcl:inpaint", "only-masked",
                                                        G_TYPE_PARAM_BOOLEAN))->default_value,
                   ==, engine.only_masked);
}

/* ---- processing -------------------------------------------------------- */

static void
test_txt2img (void)
{
  GeglNode      *graph    = gegl_node_new ();
  Progress       progress = { 0 };
  GeglBuffer    *out;
  gfloat        *pixels;
  GeglRectangle  expected = { 0, 0, 64, 48 };

  out = render (graph, new_txt2img (graph, tiny_model, 1), NULL, NULL, &progress);
  g_assert_nonnull (out);
  g_assert_true (gegl_rectangle_equal (gegl_buffer_get_extent (out), &expected));

  pixels = get_pixels (out, &expected);
  for (gint i = 0; i < 64 * 48; i++)
    g_assert_cmpfloat (pixels[4 * i + 3], ==, 1.0f);

  g_assert_cmpuint (progress.n_steps, ==, 2);
  g_assert_cmpfloat (progress.last, ==, 1.0);

  g_free (pixels);
  g_object_unref (out);
  g_object_unref (graph);
}

static void
test_model_cache (void)
{
  GeglNode      *graph = gegl_node_new ();
  GeglNode      *first, *second, *other;
  GeglBuffer    *a, *b, *c;
  GeglRectangle  rect  = { 0, 0, 64, 48 };
  gfloat        *pa, *pb;
  guint          loads = n_loads, reuses = n_reuses;

  /* f32 is a key no other test uses, so the first run must load. */
  first = new_txt2img (graph, tiny_model, 9);
  gegl_node_set (first, "precision", SDCL_WEIGHTS_F32, NULL);
  a = render (graph, first, NULL, NULL, NULL);
  g_assert_cmpuint (n_loads, ==, loads + 1);

  /* Another node, same model: no load, and the same pixels. */
  second = new_txt2img (graph, tiny_model, 9);
  gegl_node_set (second, "precision", SDCL_WEIGHTS_F32, NULL);
  b = render (graph, second, NULL, NULL, NULL);
  g_assert_cmpuint (n_loads, ==, loads + 1);
  g_assert_cmpuint (n_reuses, ==, reuses + 1);
  pa = get_pixels (a, &rect);
  pb = get_pixels (b, &rect);
  g_assert_cmpmem (pa, 64 * 48 * 4 * sizeof (gfloat), pb, 64 * 48 * 4 * sizeof (gfloat));

  /* Another key (precision) is another model.  Loading f32 evicted the
   * idle f16 model of the earlier tests (one idle model stays resident),
   * so f16 loads again. */
  other = new_txt2img (graph, tiny_model, 9);
  c = render (graph, other, NULL, NULL, NULL);
  g_assert_cmpuint (n_loads, ==, loads + 2);
  g_assert_nonnull (c);

  g_free (pa);
  g_free (pb);
  g_object_unref (a);
  g_object_unref (b);
  g_object_unref (c);
  g_object_unref (graph);
}

/* A kept model switches LoRAs between runs without loading again, and
 * without one gives back its image bit for bit. */
static void
test_loras (void)
{
  GeglNode      *graph = gegl_node_new ();
  GeglRectangle  rect  = { 0, 0, 64, 48 };
  gchar         *lora  = g_build_filename (g_getenv ("SDCL_FIXTURES"), "lora",
                                           "kohya.safetensors:0.8", NULL);
  const gchar   *lists[] = { "", lora, "" };
  gfloat        *pixels[3];
  guint          loads;

  for (gint i = 0; i < 3; i++)
    {
      GeglNode   *op  = new_txt2img (graph, tiny_model, 5);
      GeglBuffer *out;

      gegl_node_set (op, "loras", lists[i], NULL);
      out = render (graph, op, NULL, NULL, NULL);
      g_assert_nonnull (out);
      pixels[i] = get_pixels (out, &rect);
      g_object_unref (out);
      if (i == 0)
        loads = n_loads;
    }
  g_assert_cmpuint (n_loads, ==, loads);
  g_assert_true (memcmp (pixels[0], pixels[1], 64 * 48 * 4 * sizeof (gfloat)) != 0);
  g_assert_cmpmem (pixels[0], 64 * 48 * 4 * sizeof (gfloat), pixels[2],
                   64 * 48 * 4 * sizeof (gfloat));
  for (gint i = 0; i < 3; i++)
    g_free (pixels[i]);
  g_free (lora);
  g_object_unref (graph);
}

/* The embeddings property: its token in the prompt stands for the
 * embedding's vectors, so the image differs from the same prompt without
 * the file (the word then reads as ordinary text). */
static void
test_embeddings (void)
{
  GeglNode      *graph = gegl_node_new ();
  GeglRectangle  rect  = { 0, 0, 64, 48 };
  gchar         *emb   = g_build_filename (g_getenv ("SDCL_FIXTURES"), "embeddings",
                                           "tinyemb.safetensors", NULL);
  const gchar   *lists[] = { "", emb };
  gfloat        *pixels[2];

  for (gint i = 0; i < 2; i++)
    {
      GeglNode   *op  = new_txt2img (graph, tiny_model, 5);
      GeglBuffer *out;

      gegl_node_set (op, "prompt", "a tinyemb circle", "embeddings", lists[i], NULL);
      out = render (graph, op, NULL, NULL, NULL);
      g_assert_nonnull (out);
      pixels[i] = get_pixels (out, &rect);
      g_object_unref (out);
    }
  g_assert_true (memcmp (pixels[0], pixels[1], 64 * 48 * 4 * sizeof (gfloat)) != 0);
  for (gint i = 0; i < 2; i++)
    g_free (pixels[i]);
  g_free (emb);
  g_object_unref (graph);
}

static void
test_missing_model (void)
{
  GeglNode      *graph = gegl_node_new ();
  GeglBuffer    *out;
  GeglRectangle  rect  = { 0, 0, 64, 48 };
  gfloat        *pixels;

  g_test_expect_message ("sdcl-gegl", G_LOG_LEVEL_WARNING,
                         "sdcl:txt2img: */no-such-model*");
  out = render (graph, new_txt2img (graph, "/no-such-model", 1), NULL, NULL, NULL);
  g_test_assert_expected_messages ();

  pixels = get_pixels (out, &rect);
  for (gint i = 0; i < 64 * 48 * 4; i++)
    g_assert_cmpfloat (pixels[i], ==, 0.0f);

  g_free (pixels);
  g_object_unref (out);
  g_object_unref (graph);
}

/* Width and height 0 are the model's native size, read from its files;
 * and a model picked as the model_index.json of its folder (as GIMP's file
 * chooser offers it) is that folder.  The family is the model's own: the
 * SDXL folder runs with the same properties. */
static void
native_size (const gchar *model)
{
  GeglNode        *graph = gegl_node_new ();
  gchar           *index = g_build_filename (model, "model_index.json", NULL);
  sdcl_model_info  info;
  sdcl_error       err = { 0 };
  GeglNode        *op;
  GeglBuffer      *out;

  g_assert_cmpint (sdcl_model_probe (model, &info, &err), ==, SDCL_OK);
  op = gegl_node_new_child (graph, "operation", "sdcl:txt2img", "model", index,
                            "prompt", "a red circle", "steps", 1, "seed", 1, NULL);
  out = render (graph, op, NULL, NULL, NULL);
  g_assert_nonnull (out);
  g_assert_cmpint (gegl_buffer_get_width (out), ==, info.native_resolution);
  g_assert_cmpint (gegl_buffer_get_height (out), ==, info.native_resolution);
  g_object_unref (out);
  g_object_unref (graph);
  g_free (index);
}

static void
test_native_size (void)
{
  gchar *sdxl = g_build_filename (g_getenv ("SDCL_FIXTURES"), "models", "tiny-sdxl", NULL);
  sdcl_model_info info;
  sdcl_error err = { 0 };
  native_size (tiny_model);
  g_assert_cmpint (sdcl_model_probe (sdxl, &info, &err), ==, SDCL_OK);
  g_assert_cmpint (info.family, ==, SDCL_FAMILY_SDXL);
  native_size (sdxl);
  g_free (sdxl);
}

/* No prompt, no work: no model is loaded, no step runs; txt2img gives a
 * transparent image of the native size and the filters their input. */
static void
test_empty_prompt (void)
{
  GeglRectangle  rect     = { 10, 5, 64, 48 };
  GeglBuffer    *input    = make_input (&rect);
  GeglNode      *graph    = gegl_node_new ();
  Progress       progress = { 0 };
  guint          loads    = n_loads, reuses = n_reuses;
  sdcl_model_info info;
  sdcl_error     err      = { 0 };
  GeglBuffer    *out;
  gfloat        *in_px, *out_px;

  g_assert_cmpint (sdcl_model_probe (tiny_model, &info, &err), ==, SDCL_OK);
  out = render (graph, gegl_node_new_child (graph, "operation", "sdcl:txt2img",
                                            "model", tiny_model, "prompt", "", NULL),
                NULL, NULL, &progress);
  g_assert_cmpint (gegl_buffer_get_width (out), ==, info.native_resolution);
  out_px = get_pixels (out, gegl_buffer_get_extent (out));
  for (gint i = 0; i < info.native_resolution * info.native_resolution * 4; i++)
    g_assert_cmpfloat (out_px[i], ==, 0.0f);
  g_free (out_px);
  g_object_unref (out);

  for (const gchar *const *name = (const gchar *const[]) { "sdcl:img2img", "sdcl:inpaint", NULL };
       *name; name++)
    {
      out = render (graph, gegl_node_new_child (graph, "operation", *name, "model", tiny_model,
                                                "prompt", " \t", NULL),
                    input, g_str_equal (*name, "sdcl:inpaint") ? input : NULL, &progress);
      in_px  = get_pixels (input, &rect);
      out_px = get_pixels (out, &rect);
      g_assert_cmpmem (in_px, rect.width * rect.height * 4 * sizeof (gfloat),
                       out_px, rect.width * rect.height * 4 * sizeof (gfloat));
      g_free (in_px);
      g_free (out_px);
      g_object_unref (out);
    }
  g_assert_cmpuint (progress.n_steps, ==, 0);
  g_assert_cmpuint (n_loads, ==, loads);
  g_assert_cmpuint (n_reuses, ==, reuses);
  g_object_unref (input);
  g_object_unref (graph);
}

/* img2img keeps the input's extent (here away from the origin) and alpha. */
static void
test_img2img (void)
{
  GeglRectangle  rect     = { 10, 5, 64, 48 };
  GeglBuffer    *input    = make_input (&rect);
  GeglNode      *graph    = gegl_node_new ();
  Progress       progress = { 0 };
  GeglNode      *op;
  GeglBuffer    *out;
  gfloat        *in_px, *out_px;
  gboolean       changed  = FALSE;

  op = gegl_node_new_child (graph, "operation", "sdcl:img2img", "model", tiny_model,
                            "prompt", "a red circle", "steps", 4, "strength", 0.5,
                            "seed", 3, NULL);
  out = render (graph, op, input, NULL, &progress);

  g_assert_true (gegl_rectangle_equal (gegl_buffer_get_extent (out), &rect));
  in_px  = get_pixels (input, &rect);
  out_px = get_pixels (out, &rect);
  for (gint i = 0; i < rect.width * rect.height; i++)
    {
      g_assert_cmpfloat (out_px[4 * i + 3], ==, in_px[4 * i + 3]);
      changed |= out_px[4 * i] != in_px[4 * i];
    }
  g_assert_true (changed);
  g_assert_cmpuint (progress.n_steps, >=, 1);
  g_assert_cmpfloat (progress.last, ==, 1.0);

  g_free (in_px);
  g_free (out_px);
  g_object_unref (out);
  g_object_unref (input);
  g_object_unref (graph);
}

/* Outside the mask the pixels are the input's, to the bit. */
static void
test_inpaint (void)
{
  GeglRectangle  rect  = { 10, 5, 64, 48 };
  GeglRectangle  hole  = { 30, 15, 24, 16 };
  GeglBuffer    *input = make_input (&rect);
  GeglBuffer    *mask  = gegl_buffer_new (&rect, babl_format ("Y float"));
  GeglNode      *graph = gegl_node_new ();
  GeglNode      *op;
  GeglBuffer    *out;
  gfloat        *in_px, *out_px;
  gfloat         white = 1.0f;
  gboolean       changed = FALSE;

  gegl_buffer_set_color_from_pixel (mask, &hole, &white, babl_format ("Y float"));
  op = gegl_node_new_child (graph, "operation", "sdcl:inpaint", "model", tiny_model,
                            "prompt", "a red circle", "steps", 2, "mask-blur", 0.0,
                            "seed", 5, NULL);
  out = render (graph, op, input, mask, NULL);

  g_assert_true (gegl_rectangle_equal (gegl_buffer_get_extent (out), &rect));
  in_px  = get_pixels (input, &rect);
  out_px = get_pixels (out, &rect);
  for (gint y = 0; y < rect.height; y++)
    for (gint x = 0; x < rect.width; x++)
      {
        gint i    = 4 * (y * rect.width + x);
        gint absx = rect.x + x, absy = rect.y + y;

        if (absx >= hole.x && absx < hole.x + hole.width &&
            absy >= hole.y && absy < hole.y + hole.height)
          changed |= memcmp (in_px + i, out_px + i, 3 * sizeof (gfloat)) != 0;
        else if (memcmp (in_px + i, out_px + i, 4 * sizeof (gfloat)) != 0)
          g_error ("pixel %d,%d outside the mask changed", absx, absy);
      }
  g_assert_true (changed);

  g_free (in_px);
  g_free (out_px);
  g_object_unref (out);
  g_object_unref (mask);
  g_object_unref (input);
  g_object_unref (graph);
}

/* The turbo property: an SDXL single file (tiny-sdxl-turbo's weights),
 * which cannot say it is SDXL-Turbo, gets the engine's Turbo settings.
 * Its native size becomes the Turbo one, and a run with the properties the
 * Turbo model card asks for (Euler, Karras off, 1 step, guidance 0) is
 * pixel for pixel the engine's image for a model loaded with
 * SDCL_VARIANT_TURBO and sdcl_gen_model_params (the trailing schedule, one
 * UNet evaluation); without the property the same run is another image
 * (SDXL base's leading spacing), so the property made the difference. */
static GeglBuffer *
render_turbo (const gchar *model,
              gboolean     turbo,
              Progress    *progress)
{
  GeglNode   *graph = gegl_node_new ();
  GeglNode   *op    = gegl_node_new_child (graph, "operation", "sdcl:txt2img", "model", model,
                                           "prompt", "a red circle", "turbo", turbo,
                                           "sampler", SDCL_SAMPLER_EULER, "karras", FALSE,
                                           "steps", 1, "guidance", 0.0, "seed", 7,
                                           "width", 48, "height", 64, NULL);
  GeglBuffer *out   = render (graph, op, NULL, NULL, progress);

  g_object_unref (graph);
  return out;
}

static sdcl_image
engine_turbo_image (const gchar *model)
{
  sdcl_model_params mp  = sdcl_model_default_params ();
  sdcl_error        err = { 0 };
  sdcl_ctx         *ctx = NULL;
  sdcl_model       *m   = NULL;
  sdcl_image        img = { 0 };
  sdcl_gen_params   p;

  mp.variant = SDCL_VARIANT_TURBO;   /* precision: F16 as the property's default */
  g_assert_cmpint (sdcl_ctx_new (NULL, &ctx, &err), ==, SDCL_OK);
  g_assert_cmpint (sdcl_model_load (ctx, model, &mp, &m, &err), ==, SDCL_OK);
  p = sdcl_gen_model_params (m);
  g_assert_true (p.sampler == SDCL_SAMPLER_EULER && !p.karras_sigmas && p.steps == 1 &&
                 p.guidance == 0.0f);
  p.prompt = "a red circle";
  p.seed   = 7;
  p.width  = 48;
  p.height = 64;
  g_assert_cmpint (sdcl_txt2img (m, &p, &img, &err), ==, SDCL_OK);
  sdcl_model_free (m);
  sdcl_ctx_free (ctx);
  return img;
}

static gdouble
max_rgb_diff (GeglBuffer       *out,
              const sdcl_image *img)
{
  gfloat  *px    = get_pixels (out, gegl_buffer_get_extent (out));
  gdouble  worst = 0;

  g_assert_cmpint (gegl_buffer_get_width (out), ==, img->width);
  g_assert_cmpint (gegl_buffer_get_height (out), ==, img->height);
  for (gint i = 0; i < img->width * img->height; i++)
    for (gint k = 0; k < 3; k++)
      worst = MAX (worst, fabs (px[4 * i + k] - img->data[3 * i + k]));
  g_free (px);
  return worst;
}

static void
test_turbo (void)
{
  gchar            *sgm = g_build_filename (g_getenv ("SDCL_FIXTURES"), "models",
                                            "tiny-sdxl-sgm-f16.safetensors", NULL);
  sdcl_model_params mp  = sdcl_model_default_params ();
  sdcl_model_info   base, turbo;
  sdcl_error        err = { 0 };
  GeglNode         *graph = gegl_node_new ();
  GeglNode         *op;
  Progress          progress = { 0 };
  GeglBuffer       *out;
  sdcl_image        want;

  /* Width and height 0: the size the engine reports with the switch. */
  mp.variant = SDCL_VARIANT_TURBO;
  g_assert_cmpint (sdcl_model_probe (sgm, &base, &err), ==, SDCL_OK);
  g_assert_cmpint (sdcl_model_probe_params (sgm, &mp, &turbo, &err), ==, SDCL_OK);
  g_assert_true (turbo.turbo && !base.turbo);
  g_assert_cmpint (turbo.native_resolution, ==, 512);
  g_assert_cmpint (base.native_resolution, !=, turbo.native_resolution);
  op = gegl_node_new_child (graph, "operation", "sdcl:txt2img", "model", sgm,
                            "prompt", "a red circle", "turbo", TRUE, NULL);
  g_assert_cmpint (gegl_node_get_bounding_box (op).width, ==, turbo.native_resolution);
  gegl_node_set (op, "turbo", FALSE, NULL);
  g_assert_cmpint (gegl_node_get_bounding_box (op).height, ==, base.native_resolution);
  g_object_unref (graph);

  want = engine_turbo_image (sgm);
  out  = render_turbo (sgm, TRUE, &progress);
  g_assert_cmpuint (progress.n_steps, ==, 1);
  g_assert_cmpfloat (max_rgb_diff (out, &want), <=, 1e-6);
  g_object_unref (out);
  out = render_turbo (sgm, FALSE, NULL);
  g_assert_cmpfloat (max_rgb_diff (out, &want), >, 0.05);
  g_object_unref (out);
  sdcl_image_free (&want);
  g_free (sgm);
}

int
main (int    argc,
      char **argv)
{
  gchar *path;
  gchar *swap;
  int    status;

  g_test_init (&argc, &argv, NULL);
  if (argc != 3)
    g_error ("usage: %s GEGL_PLUGINSDIR MODULE_DIR", argv[0]);

  /* GEGL_PATH replaces GEGL's own search path: keep its operations. */
  path = g_strjoin (":", argv[1], argv[2], NULL);
  g_setenv ("GEGL_PATH", path, TRUE);
  g_free (path);
  /* GEGL 0.4.42 takes GEGL_SWAP as a folder (no "RAM" keyword yet) and
   * makes it at start-up: give it a temporary one. */
  swap = g_dir_make_tmp ("sdcl-gegl-swap-XXXXXX", NULL);
  g_assert_nonnull (swap);
  g_setenv ("GEGL_SWAP", swap, TRUE);
  tiny_model = g_build_filename (g_getenv ("SDCL_FIXTURES"), "models", "tiny-sd", NULL);
  g_log_set_handler ("sdcl-gegl", G_LOG_LEVEL_DEBUG, count_cache_messages, NULL);

  gegl_init (NULL, NULL);

  g_test_add_func ("/gegl/visible-without-license", test_visible_without_license);
  g_test_add_func ("/gegl/gimp-menu-keys", test_gimp_menu_keys);
  g_test_add_func ("/gegl/shared-properties", test_shared_properties);
  g_test_add_func ("/gegl/own-properties", test_own_properties);
  g_test_add_func ("/gegl/txt2img", test_txt2img);
  g_test_add_func ("/gegl/model-cache", test_model_cache);
  g_test_add_func ("/gegl/loras", test_loras);
  g_test_add_func ("/gegl/embeddings", test_embeddings);
  g_test_add_func ("/gegl/missing-model", test_missing_model);
  g_test_add_func ("/gegl/native-size", test_native_size);
  g_test_add_func ("/gegl/turbo", test_turbo);
  g_test_add_func ("/gegl/empty-prompt", test_empty_prompt);
  g_test_add_func ("/gegl/img2img", test_img2img);
  g_test_add_func ("/gegl/inpaint", test_inpaint);
  status = g_test_run ();

  g_free (tiny_model);
  gegl_exit ();
  g_rmdir (swap);
  g_free (swap);
  return status;
}

/* sdcl GEGL operations: enum types, model cache, buffer conversions.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sdcl-gegl-config.h"

#include <glib/gi18n-lib.h>
#include <stdlib.h>

#include "sdcl-gegl.h"

/* ---- enum types -------------------------------------------------------- */

/* An enum type listed from the engine's table: values are the engine's
 * enum values, nicks its names (as the sdcl CLI takes them), names its
 * labels translated.  GLib keeps the array for the life of the process. */
static GType
register_from_engine (const gchar  *type_name,
                      gint          count,
                      const char *(*name) (gint),
                      const char *(*label) (gint))
{
  GEnumValue *values = g_new0 (GEnumValue, count + 1);

  for (gint i = 0; i < count; i++)
    {
      values[i].value      = i;
      values[i].value_name = g_dgettext (GETTEXT_PACKAGE, label (i));
      values[i].value_nick = name (i);
    }
  return g_enum_register_static (type_name, values);
}

/* Through int: calling the engine's functions through a cast pointer would
 * be undefined. */
static const char *sampler_name (gint i)   { return sdcl_sampler_name ((sdcl_sampler) i); }
static const char *sampler_label (gint i)  { return sdcl_sampler_label ((sdcl_sampler) i); }
static const char *schedule_name (gint i)  { return sdcl_schedule_name ((sdcl_schedule) i); }
static const char *schedule_label (gint i) { return sdcl_schedule_label ((sdcl_schedule) i); }

GType
sdcl_gegl_sampler_get_type (void)
{
  static gsize type = 0;

  /* So the operations offer every sampler the library has. */
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, register_from_engine ("SdclGeglSampler", sdcl_sampler_count (),
                                                    sampler_name, sampler_label));
  return type;
}

GType
sdcl_gegl_schedule_get_type (void)
{
  static gsize type = 0;

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, register_from_engine ("SdclGeglSchedule", sdcl_schedule_count (),
                                                    schedule_name, schedule_label));
  return type;
}

GType
sdcl_gegl_prediction_get_type (void)
{
  static gsize type = 0;
  /* Nicks as the sdcl CLI's --prediction takes them. */
  static GEnumValue values[] = {
    { SDCL_PREDICTION_FROM_MODEL,    N_("As the model says"), "auto" },
    { SDCL_PREDICTION_FORCE_EPSILON, N_("Epsilon"),           "eps" },
    { SDCL_PREDICTION_FORCE_V,       N_("v (velocity)"),      "v" },
    { 0, NULL, NULL }
  };

  if (g_once_init_enter (&type))
    {
      for (guint i = 0; values[i].value_name; i++)
        values[i].value_name = g_dgettext (GETTEXT_PACKAGE, values[i].value_name);
      g_once_init_leave (&type, g_enum_register_static ("SdclGeglPrediction", values));
    }
  return type;
}

GType
sdcl_gegl_precision_get_type (void)
{
  static gsize type = 0;
  static GEnumValue values[] = {
    { SDCL_WEIGHTS_F16, N_("16-bit float"), "f16" },
    { SDCL_WEIGHTS_F32, N_("32-bit float"), "f32" },
    { SDCL_WEIGHTS_Q8, N_("8-bit integer"), "q8" },
    { 0, NULL, NULL }
  };

  if (g_once_init_enter (&type))
    {
      for (guint i = 0; values[i].value_name; i++)
        values[i].value_name = g_dgettext (GETTEXT_PACKAGE, values[i].value_name);
      g_once_init_leave (&type, g_enum_register_static ("SdclGeglPrecision", values));
    }
  return type;
}

/* ---- availability ------------------------------------------------------ */

gboolean
sdcl_gegl_is_available (void)
{
  static gsize available = 0; /* 1 + the answer, once known */

  if (g_once_init_enter (&available))
    {
      sdcl_device_info *devices = NULL;
      sdcl_error        err     = { 0 };
      int               count   = 0;

      if (sdcl_list_devices (&devices, &count, &err) != SDCL_OK)
        g_debug ("operations hidden: %s", err.message);
      else if (count == 0)
        g_debug ("operations hidden: no OpenCL device");
      free (devices);
      g_once_init_leave (&available, 1 + (count > 0));
    }
  return available == 2;
}

/* ---- model cache ------------------------------------------------------- */

/* Loading a model takes seconds and maps gigabytes, so models stay loaded
 * between runs.  A key is (canonical path, device, and the model
 * parameters the properties set: precision, prediction, variant).  Only one
 * model that nobody is using stays resident: loading another one first
 * frees it, since weights occupy device memory that the next model needs. */
typedef struct
{
  gchar                 *path;
  gchar                 *device;
  sdcl_model_params      params;   /* only the fields model_params() sets */
  sdcl_ctx              *ctx;
  sdcl_model            *model;
  guint                  users;    /* under cache_lock */
  GMutex                 run_lock; /* a context runs one generation at a time */
} CachedModel;

static GMutex  cache_lock;
static GList  *cache; /* CachedModel *, most recently used first */

static void
cached_model_free (CachedModel *entry)
{
  sdcl_model_free (entry->model);
  sdcl_ctx_free (entry->ctx);
  g_mutex_clear (&entry->run_lock);
  g_free (entry->path);
  g_free (entry->device);
  g_free (entry);
}

/* The model parameters the properties set. */
static sdcl_model_params
model_params (const SdclGeglCommon *common)
{
  sdcl_model_params params = sdcl_model_default_params ();

  params.weights    = common->precision;
  params.prediction = common->prediction;
  params.variant    = common->turbo ? SDCL_VARIANT_TURBO : SDCL_VARIANT_FROM_MODEL;
  return params;
}

static gboolean
cached_model_matches (const CachedModel       *entry,
                      const gchar             *path,
                      const gchar             *device,
                      const sdcl_model_params *params)
{
  return entry->params.weights == params->weights &&
         entry->params.prediction == params->prediction &&
         entry->params.variant == params->variant &&
         g_str_equal (entry->path, path) &&
         g_str_equal (entry->device, device);
}

static void
evict_idle_models (void)
{
  GList *iter = cache;

  while (iter)
    {
      GList       *next  = iter->next;
      CachedModel *entry = iter->data;

      if (entry->users == 0)
        {
          g_debug ("unloading model %s", entry->path);
          cached_model_free (entry);
          cache = g_list_delete_link (cache, iter);
        }
      iter = next;
    }
}

static CachedModel *
load_model (const gchar             *path,
            const gchar             *device,
            const sdcl_model_params *params,
            sdcl_error              *err)
{
  sdcl_ctx_params    ctx_params   = sdcl_ctx_default_params ();
  CachedModel       *entry        = g_new0 (CachedModel, 1);
  sdcl_device_info   info;
  gint64             start        = g_get_monotonic_time ();

  ctx_params.device    = device;

  if (sdcl_ctx_new (&ctx_params, &entry->ctx, err) != SDCL_OK ||
      sdcl_model_load (entry->ctx, path, params, &entry->model, err) != SDCL_OK)
    {
      sdcl_ctx_free (entry->ctx);
      g_free (entry);
      return NULL;
    }

  entry->path      = g_strdup (path);
  entry->device    = g_strdup (device);
  entry->params = *params;
  g_mutex_init (&entry->run_lock);

  /* Tests count this message to prove that the cache works. */
  sdcl_ctx_get_device (entry->ctx, &info);
  g_debug ("loaded model %s on %s in %.2f s", path, info.name,
           (g_get_monotonic_time () - start) / 1e6);
  return entry;
}

/* The model the properties name, as a canonical path, or NULL with `err`
 * set.  A file picked in a diffusers folder (its model_index.json, as a
 * file chooser offers it) stands for the folder. */
static gchar *
resolve_model (const SdclGeglCommon *common,
               gboolean              inpainting,
               sdcl_error           *err)
{
  const gchar *named = common->model;
  gchar       *path;

  if (! named || ! named[0])
    {
      /* No model named: the demo model that ships with sdcl. */
      gchar *demo = sdcl_default_model_path (inpainting, err);

      if (! demo)
        return NULL;
      path = g_canonicalize_filename (demo, NULL);
      g_free (demo);
      return path;
    }
  /* "./m" and "m" are the same model. */
  path = g_canonicalize_filename (named, NULL);
  if (g_str_has_suffix (path, G_DIR_SEPARATOR_S "model_index.json"))
    {
      gchar *folder = g_path_get_dirname (path);

      g_free (path);
      path = folder;
    }
  return path;
}

gint
sdcl_gegl_native_size (const SdclGeglCommon *common)
{
  /* Probing reads the model's configs, not its weights; still, GEGL asks
   * for the bounding box often, so the last answer is kept. */
  static GMutex            lock;
  static gchar            *last_path;
  static sdcl_model_params last_params;
  static gint              last_size;
  sdcl_error               err    = { 0 };
  gchar                   *path   = resolve_model (common, FALSE, &err);
  sdcl_model_params        params = model_params (common);
  sdcl_model_info          info;
  gint                     size   = SDCL_GEGL_FALLBACK_SIZE;

  if (! path)
    return size;
  g_mutex_lock (&lock);
  /* The prediction and the Turbo switch change a single file's size. */
  if (g_strcmp0 (path, last_path) == 0 && last_params.prediction == params.prediction &&
      last_params.variant == params.variant)
    size = last_size;
  else if (sdcl_model_probe_params (path, &params, &info, &err) == SDCL_OK &&
           info.native_resolution > 0)
    {
      size = info.native_resolution;
      g_free (last_path);
      last_path = g_strdup (path);
      last_params = params;
      last_size = size;
    }
  else
    g_debug ("no native size for %s (%s): %d", path, err.message, size);
  g_mutex_unlock (&lock);
  g_free (path);
  return size;
}

gboolean
sdcl_gegl_prompt_is_empty (const SdclGeglCommon *common)
{
  for (const gchar *c = common->prompt; c && *c; c = g_utf8_next_char (c))
    if (! g_unichar_isspace (g_utf8_get_char (c)))
      return FALSE;
  return TRUE;
}

/* Returns the entry with its run_lock held, or NULL with `err` set. */
static CachedModel *
acquire_model (const SdclGeglCommon *common,
               gboolean              inpainting,
               sdcl_error           *err)
{
  const gchar       *device = common->device ? common->device : "";
  gchar             *path   = resolve_model (common, inpainting, err);
  sdcl_model_params  params = model_params (common);
  CachedModel       *entry  = NULL;
  GList             *iter;

  if (! path)
    return NULL;

  g_mutex_lock (&cache_lock);
  for (iter = cache; iter; iter = iter->next)
    if (cached_model_matches (iter->data, path, device, &params))
      break;

  if (iter)
    {
      entry = iter->data;
      cache = g_list_remove_link (cache, iter);
      cache = g_list_concat (iter, cache);
      g_debug ("reusing model %s", path);
    }
  else
    {
      evict_idle_models ();
      entry = load_model (path, device, &params, err);
      if (entry)
        cache = g_list_prepend (cache, entry);
    }
  if (entry)
    entry->users++;
  g_mutex_unlock (&cache_lock);
  g_free (path);

  if (entry)
    g_mutex_lock (&entry->run_lock);
  return entry;
}

static void
release_model (CachedModel *entry)
{
  g_mutex_unlock (&entry->run_lock);

  g_mutex_lock (&cache_lock);
  entry->users--;
  g_mutex_unlock (&cache_lock);
}

/* ---- generation -------------------------------------------------------- */

/* The engine's warnings (a mask blurred to nothing, ...) to the log: a
 * GEGL operation has no other channel to its host. */
static void
report_warning (const char *message,
                void       *user_data)
{
  g_message ("sdcl: %s", message);
}

sdcl_gen_params
sdcl_gegl_gen_params (const SdclGeglCommon *common)
{
  sdcl_gen_params params = sdcl_gen_default_params ();

  params.prompt          = common->prompt;
  params.negative_prompt = common->negative_prompt;
  params.prompt_syntax   = common->prompt_syntax;
  params.sampler         = common->sampler;
  params.karras_sigmas   = common->karras;
  params.schedule        = common->schedule;
  params.steps           = common->steps;
  params.guidance        = common->guidance;
  params.seed            = common->seed;
  params.tiling          = common->tiling;
  params.warning         = report_warning;
  return params;
}

static bool
report_progress (int               step,
                 int               n_steps,
                 const sdcl_image *preview,
                 void             *operation)
{
  gegl_operation_progress (operation, (gdouble) step / MAX (n_steps, 1), "");

  /* GEGL 0.4 gives an operation no way to learn that its host abandoned
   * the render (no cancel call or flag reaches process()), so a run always
   * completes.  Hosts that must cancel run the graph in a process they
   * can stop, as the sdcl GIMP plug-in does. */
  return true;
}

/* The embeddings property's files: its non-blank lines, trimmed. */
static gchar **
embedding_list (const gchar *text)
{
  gchar    **lines = g_strsplit (text ? text : "", "\n", -1);
  GPtrArray *files = g_ptr_array_new ();

  for (gchar **l = lines; *l; l++)
    if (*g_strstrip (*l))
      g_ptr_array_add (files, g_strdup (*l));
  g_strfreev (lines);
  g_ptr_array_add (files, NULL);
  return (gchar **) g_ptr_array_free (files, FALSE);
}

gboolean
sdcl_gegl_generate (GeglOperation         *operation,
                    const SdclGeglCommon  *common,
                    const sdcl_gen_params *params,
                    const sdcl_image      *init,
                    const sdcl_image      *mask,
                    sdcl_image            *out)
{
  sdcl_gen_params  run_params      = *params;
  sdcl_error       err             = { 0 };
  gint             expected_width  = init ? init->width : params->width;
  gint             expected_height = init ? init->height : params->height;
  sdcl_status      status;
  CachedModel     *entry;
  sdcl_lora       *loras           = NULL;
  int              n_loras         = 0;
  gchar          **embeddings;

  /* The list is parsed per run: the kept model applies it, and reuses
   * what it read while the list stays the same. */
  if (sdcl_lora_list_parse (common->loras, &loras, &n_loras, &err) != SDCL_OK)
    {
      g_warning ("%s: %s", gegl_operation_get_name (operation), err.message);
      return FALSE;
    }
  run_params.loras   = loras;
  run_params.n_loras = n_loras;
  embeddings = embedding_list (common->embeddings);
  run_params.embeddings   = (const char *const *) embeddings;
  run_params.n_embeddings = (int) g_strv_length (embeddings);

  entry = acquire_model (common, init && mask, &err);
  if (! entry)
    {
      g_warning ("%s: %s", gegl_operation_get_name (operation), err.message);
      free (loras);
      g_strfreev (embeddings);
      return FALSE;
    }

  run_params.progress  = report_progress;
  run_params.user_data = operation;
  gegl_operation_progress (operation, 0.0, "");

  if (! init)
    status = sdcl_txt2img (entry->model, &run_params, out, &err);
  else if (! mask)
    status = sdcl_img2img (entry->model, &run_params, init, out, &err);
  else
    status = sdcl_inpaint (entry->model, &run_params, init, mask, out, &err);

  release_model (entry);
  free (loras);
  g_strfreev (embeddings);

  if (status != SDCL_OK)
    {
      g_warning ("%s: %s", gegl_operation_get_name (operation), err.message);
      return FALSE;
    }
  if (out->width != expected_width || out->height != expected_height || out->channels != 3)
    {
      /* The engine promises the size; a broken promise must not become a
       * read past the end of its image. */
      g_warning ("%s: the engine returned %dx%d pixels of %d channels instead of %dx%d RGB",
                 gegl_operation_get_name (operation), out->width, out->height, out->channels,
                 expected_width, expected_height);
      sdcl_image_free (out);
      return FALSE;
    }
  return TRUE;
}

/* ---- buffers and images ------------------------------------------------ */

static void
image_alloc (sdcl_image *image,
             gint        width,
             gint        height,
             gint        channels)
{
  image->width    = width;
  image->height   = height;
  image->channels = channels;
  image->data     = g_new (gfloat, (gsize) width * height * channels);
}

void
sdcl_gegl_image_clear (sdcl_image *image)
{
  g_clear_pointer (&image->data, g_free);
}

void
sdcl_gegl_read_image (GeglBuffer          *input,
                      const GeglRectangle *rect,
                      sdcl_image          *rgb,
                      gfloat             **alpha)
{
  gsize   n    = (gsize) rect->width * rect->height;
  gfloat *rgba = g_new (gfloat, n * 4);

  gegl_buffer_get (input, rect, 1.0, babl_format (SDCL_GEGL_IMAGE_FORMAT), rgba,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);

  image_alloc (rgb, rect->width, rect->height, 3);
  *alpha = g_new (gfloat, n);
  for (gsize i = 0; i < n; i++)
    {
      rgb->data[3 * i + 0] = rgba[4 * i + 0];
      rgb->data[3 * i + 1] = rgba[4 * i + 1];
      rgb->data[3 * i + 2] = rgba[4 * i + 2];
      (*alpha)[i]          = rgba[4 * i + 3];
    }
  g_free (rgba);
}

gfloat
sdcl_gegl_read_mask (GeglBuffer          *aux,
                     const GeglRectangle *rect,
                     sdcl_image          *mask)
{
  gsize   n       = (gsize) rect->width * rect->height;
  gfloat *ya      = g_new (gfloat, n * 2);
  gfloat  largest = 0.0f;

  /* Outside the mask buffer's extent the abyss is transparent: keep. */
  gegl_buffer_get (aux, rect, 1.0, babl_format (SDCL_GEGL_MASK_FORMAT), ya,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);

  image_alloc (mask, rect->width, rect->height, 1);
  for (gsize i = 0; i < n; i++)
    {
      gfloat m = CLAMP (ya[2 * i] * ya[2 * i + 1], 0.0f, 1.0f);

      mask->data[i] = m;
      largest       = MAX (largest, m);
    }
  g_free (ya);
  return largest;
}

void
sdcl_gegl_write_image (GeglBuffer          *output,
                       const GeglRectangle *rect,
                       const sdcl_image    *rgb,
                       const gfloat        *alpha)
{
  gsize   n    = (gsize) rect->width * rect->height;
  gfloat *rgba = g_new (gfloat, n * 4);

  for (gsize i = 0; i < n; i++)
    {
      rgba[4 * i + 0] = rgb->data[3 * i + 0];
      rgba[4 * i + 1] = rgb->data[3 * i + 1];
      rgba[4 * i + 2] = rgb->data[3 * i + 2];
      rgba[4 * i + 3] = alpha ? alpha[i] : 1.0f;
    }
  gegl_buffer_set (output, rect, 0, babl_format (SDCL_GEGL_IMAGE_FORMAT), rgba,
                   GEGL_AUTO_ROWSTRIDE);
  g_free (rgba);
}

/* ---- whole-image processing -------------------------------------------- */

static GeglRectangle
input_extent (GeglOperation *operation)
{
  const GeglRectangle *in = gegl_operation_source_get_bounding_box (operation, "input");

  return in ? *in : *GEGL_RECTANGLE (0, 0, 0, 0);
}

static GeglRectangle
whole_input_for_pad (GeglOperation       *operation,
                     const gchar         *pad,
                     const GeglRectangle *roi)
{
  return input_extent (operation);
}

static GeglRectangle
whole_input_for_roi (GeglOperation       *operation,
                     const GeglRectangle *roi)
{
  return input_extent (operation);
}

void
sdcl_gegl_class_whole_image (GeglOperationClass *klass)
{
  klass->get_bounding_box          = input_extent;
  klass->get_required_for_output   = whole_input_for_pad;
  klass->get_invalidated_by_change = whole_input_for_pad;
  klass->get_cached_region         = whole_input_for_roi;
  klass->threaded                  = FALSE;
}

GType
sdcl_gegl_prompt_syntax_get_type (void)
{
  static gsize type = 0;
  static GEnumValue values[] = {
    { SDCL_PROMPT_A1111, N_("A1111"), "a1111" },
    { SDCL_PROMPT_PLAIN, N_("Plain"), "plain" },
    { 0, NULL, NULL }
  };

  if (g_once_init_enter (&type))
    {
      for (guint i = 0; values[i].value_name; i++)
        values[i].value_name = g_dgettext (GETTEXT_PACKAGE, values[i].value_name);
      g_once_init_leave (&type, g_enum_register_static ("SdclGeglPromptSyntax", values));
    }
  return type;
}

/* sdcl GIMP plug-in: one generation below the GIMP API: reading the
 * inputs, running the engine (here or in the model server), writing the
 * result (see sdcl-gimp-core.h).  The settings are in sdcl-gimp-settings.c,
 * the session in sdcl-gimp-session.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-gimp-private.h"

/* ---- generation ------------------------------------------------------------- */

typedef struct
{
  SdclStepFunc  func;
  gpointer      data;
  volatile int *cancel;
} StepRelay;

static bool
relay_step (int               step,
            int               n_steps,
            const sdcl_image *preview,
            void             *user_data)
{
  StepRelay *relay = user_data;

  if (relay->func && !relay->func (step, n_steps, preview, relay->data))
    *relay->cancel = 1;
  return !*relay->cancel;
}

/* The engine's warnings (a mask blurred to nothing, ...): in the plug-in
 * g_message reaches GIMP's message console. */
static void
relay_warning (const char *message,
               void       *user_data)
{
  g_message ("%s", message);
}

static const Babl *
rgb_format (const Babl *space)
{
  return babl_format_with_space ("R'G'B' float", space);
}

static gboolean
read_source (const SdclJob *job,
             sdcl_image    *init,
             GError       **error)
{
  const GeglRectangle *r = &job->area;

  if (!job->source || r->width < 1 || r->height < 1)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("There is nothing to work on: the layer or selected area is empty."));
      return FALSE;
    }
  init->width    = r->width;
  init->height   = r->height;
  init->channels = 3;
  init->data     = g_try_new (float, (gsize) r->width * r->height * 3);
  if (!init->data)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The area of %d x %d pixels is too large."), r->width, r->height);
      return FALSE;
    }
  /* Alpha is dropped, not multiplied in: the model redraws colours, and the
   * new layer is opaque (inpainting shows it only through its mask). */
  gegl_buffer_get (job->source, r, 1.0, rgb_format (job->space), init->data,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  return TRUE;
}

static gboolean
read_mask (const SdclJob *job,
           sdcl_image    *mask,
           GError       **error)
{
  GeglRectangle r = { job->mask_x, job->mask_y, job->area.width, job->area.height };
  gsize         n = (gsize) r.width * r.height;
  gboolean      any = FALSE;

  mask->width    = r.width;
  mask->height   = r.height;
  mask->channels = 1;
  mask->data     = g_new (float, n);
  /* Selection values are coverage, i.e. linear: "Y float" reads them as they
   * are, so a feathered edge becomes a soft mask.  Parts of the layer that
   * hang outside the canvas cannot be selected and read as 0 (keep). */
  gegl_buffer_get (job->mask, &r, 1.0, babl_format ("Y float"), mask->data,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  for (gsize i = 0; i < n && !any; i++)
    any = mask->data[i] > 0.0f;
  if (!any)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The selection does not touch the active layer: select the part of the "
                     "layer to repaint."));
      return FALSE;
    }
  return TRUE;
}

gboolean
sdcl_run_engine (SdclSession        *session,
                 const SdclSettings *settings,
                 SdclMode            mode,
                 const gchar        *model_path,
                 gint                seed,
                 const sdcl_image   *init,
                 const sdcl_image   *mask,
                 SdclStepFunc        step,
                 gpointer            step_data,
                 volatile int       *cancel,
                 sdcl_image         *out,
                 GError            **error)
{
  StepRelay       relay = { step, step_data, cancel };
  sdcl_error      err   = { 0 };
  sdcl_status     st    = SDCL_OK;
  sdcl_model     *model;
  sdcl_gen_params p;
  sdcl_lora      *loras = NULL;
  gchar         **embeddings;

  memset (out, 0, sizeof *out);
  model = sdcl_session_get_model (session, settings->device, settings->prediction,
                                  settings->turbo, model_path, error);
  if (!model)
    return FALSE;

  /* The model's own defaults under the settings: a Turbo model's Karras
   * off, so its trailing schedule stays. */
  p = sdcl_gen_model_params (model);
  p.prompt          = settings->prompt;
  p.negative_prompt = settings->negative;
  p.steps           = settings->steps;
  p.guidance        = (float) settings->guidance;
  if (!sdcl_sampler_from_name (settings->sampler, &p.sampler))
    {
      sdcl_set_unknown_sampler (error, settings->sampler);
      return FALSE;
    }
  if (!sdcl_schedule_from_name (settings->schedule, &p.schedule))
    {
      sdcl_set_unknown_schedule (error, settings->schedule);
      return FALSE;
    }
  p.seed         = (uint64_t) seed;
  p.progress     = relay_step;
  p.warning      = relay_warning;
  p.user_data    = &relay;
  /* The engine polls this between kernels: a cancel set from another
   * thread (the model server's watch on its client) stops it mid-step. */
  p.cancel       = cancel;
  p.strength     = (float) settings->strength;
  p.mask_blur    = (float) settings->mask_blur;
  p.only_masked  = settings->only_masked;
  p.tiling       = settings->tiling;
  p.preview      = settings->preview;
  p.mask_padding = settings->padding;
  if (!sdcl_prompt_syntax_from_name (settings->prompt_syntax, &p.prompt_syntax) ||
      sdcl_lora_list_parse (settings->loras, &loras, &p.n_loras, &err) != SDCL_OK)
    {
      /* Validated before: only a client that skipped it gets here. */
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID,
                   _("The LoRA list or the prompt syntax is not valid."));
      return FALSE;
    }
  /* The kept model applies the list, and reuses what it read while the
   * list stays the same (sdcl_gen_params.loras). */
  p.loras        = loras;
  embeddings     = sdcl_list_split (settings->embeddings);
  p.embeddings   = (const char *const *) embeddings;
  p.n_embeddings = (int) g_strv_length (embeddings);

  switch (mode)
    {
    case SDCL_MODE_TXT2IMG:
      p.width  = settings->width;
      p.height = settings->height;
      st = sdcl_txt2img (model, &p, out, &err);
      break;
    case SDCL_MODE_IMG2IMG:
      st = sdcl_img2img (model, &p, init, out, &err);
      break;
    case SDCL_MODE_INPAINT:
    case SDCL_MODE_OUTPAINT:
      st = sdcl_inpaint (model, &p, init, mask, out, &err);
      break;
    }
  free (loras);
  g_strfreev (embeddings);
  if (st != SDCL_OK)
    {
      sdcl_set_engine_error (error, &err, _("Generation failed"));
      return FALSE;
    }
  if (out->channels != 3 || out->width < 1 || out->height < 1)
    {
      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_ENGINE,
                   _("The engine returned an image of an unexpected shape."));
      sdcl_image_free (out);
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  SdclProgressFunc func;
  gpointer         data;
  const gchar     *prompt;
} ProgressRelay;

/* Steps (from the engine here, or from the model server) to the glue's
 * progress function, which updates GIMP's progress bar. */
static gboolean
relay_progress (gint              step,
                gint              n_steps,
                const sdcl_image *preview,
                gpointer          user_data)
{
  ProgressRelay *relay = user_data;
  gboolean       go_on = TRUE;

  if (relay->func)
    go_on = relay->func ((gdouble) step / MAX (n_steps, 1), preview, relay->data);
  sdcl_test_cancel_hook (relay->prompt, step);
  return go_on;
}

/* The list's files made absolute: the model server's folder may not be
 * the plug-in's, and the kept model knows a LoRA by its path. */
static void
absolute_lists (SdclSettings *s)
{
  sdcl_lora *loras = NULL;
  int        n = 0;
  sdcl_error err = { 0 };
  GString   *text = g_string_new (NULL);
  gchar    **embeddings = sdcl_list_split (s->embeddings);

  if (sdcl_lora_list_parse (s->loras, &loras, &n, &err) == SDCL_OK)
    {
      for (int i = 0; i < n; i++)
        {
          gchar *path = g_canonicalize_filename (loras[i].path, NULL);
          gchar  weight[G_ASCII_DTOSTR_BUF_SIZE];

          /* Not printf's %g: it writes "0,8" in a German locale. */
          g_string_append_printf (text, "%s:%s\n", path,
                                  g_ascii_formatd (weight, sizeof weight, "%.6g", loras[i].weight));
          g_free (path);
        }
      g_strlcpy (s->loras, text->str, sizeof s->loras);
    }
  free (loras);
  g_string_truncate (text, 0);
  for (gchar **e = embeddings; *e; e++)
    {
      gchar *path = g_canonicalize_filename (*e, NULL);

      g_string_append_printf (text, "%s\n", path);
      g_free (path);
    }
  g_strlcpy (s->embeddings, text->str, sizeof s->embeddings);
  g_string_free (text, TRUE);
  g_strfreev (embeddings);
}

gboolean
sdcl_generate (SdclSession        *session,
               const SdclSettings *settings,
               const SdclJob      *job,
               SdclProgressFunc    progress,
               gpointer            progress_data,
               sdcl_image         *out,
               gint               *used_seed,
               GError            **error)
{
  sdcl_image    init  = { 0 }, mask = { 0 };
  ProgressRelay relay = { progress, progress_data, settings->prompt };
  /* Outpainting is inpainting of a prepared image: the engine (and the
   * model server) only ever see the latter.  Its mask is the layer's
   * alpha, exact: no blur spreads the change into the known pixels. */
  SdclMode      engine_mode = job->mode == SDCL_MODE_OUTPAINT ? SDCL_MODE_INPAINT : job->mode;
  SdclSettings  run = *settings;
  volatile int  cancel = 0;
  gchar        *model_path = NULL;
  gboolean      ok = FALSE;

  memset (out, 0, sizeof *out);
  if (!sdcl_settings_validate (settings, job->mode, error))
    return FALSE;
  model_path = sdcl_model_path_resolve (settings->model, job->mode, error);
  if (!model_path)
    return FALSE;

  absolute_lists (&run);

  /* Read the inputs first: a bad selection should not cost a model load. */
  if (job->mode == SDCL_MODE_OUTPAINT)
    {
      run.mask_blur   = 0.0;
      run.only_masked = FALSE;
      if (!sdcl_read_outpaint (job, &init, &mask, error))
        goto out;
    }
  else if (job->mode != SDCL_MODE_TXT2IMG && !read_source (job, &init, error))
    goto out;
  if (job->mode == SDCL_MODE_INPAINT && !read_mask (job, &mask, error))
    goto out;

  /* Seeds stay within a PDB int so the used seed can be returned and typed
   * back in. */
  *used_seed = settings->seed == SDCL_SEED_RANDOM ? g_random_int_range (0, G_MAXINT)
                                                   : settings->seed;

  if (sdcl_session_program (session))
    {
      switch (sdcl_remote_generate (sdcl_session_program (session), &run, engine_mode, model_path, *used_seed,
                                    init.data ? &init : NULL, mask.data ? &mask : NULL,
                                    relay_progress, &relay, out, error))
        {
        case SDCL_REMOTE_OK:          ok = TRUE; goto out;
        case SDCL_REMOTE_FAILED:      goto out;
        case SDCL_REMOTE_UNAVAILABLE: sdcl_session_fall_back (session); break;
        }
    }
  ok = sdcl_run_engine (session, &run, engine_mode, model_path, *used_seed,
                        init.data ? &init : NULL, mask.data ? &mask : NULL,
                        relay_progress, &relay, &cancel, out, error);

out:
  sdcl_image_free (&init);
  sdcl_image_free (&mask);
  g_free (model_path);
  return ok;
}

void
sdcl_write_image (GeglBuffer       *dest,
                  const sdcl_image *image,
                  const Babl       *space)
{
  const GeglRectangle *extent = gegl_buffer_get_extent (dest);
  GeglRectangle        r = { extent->x, extent->y, image->width, image->height };

  gegl_buffer_set (dest, &r, 0, rgb_format (space), image->data, GEGL_AUTO_ROWSTRIDE);
}

gchar *
sdcl_layer_name (const gchar *prompt,
                 gint         seed)
{
  /* Layer names are one line: collapse runs of whitespace and keep the
   * start of long prompts. */
  const gsize max_chars = 48;
  GString    *s = g_string_new (NULL);
  gboolean    space = FALSE;
  gchar      *name;

  for (const gchar *p = prompt ? prompt : ""; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c))
        {
          space = s->len > 0;
          continue;
        }
      if (g_utf8_strlen (s->str, -1) >= (glong) max_chars)
        {
          g_string_append (s, "…");
          break;
        }
      if (space)
        g_string_append_c (s, ' ');
      space = FALSE;
      g_string_append_unichar (s, c);
    }

  if (s->len == 0)
    /* TRANSLATORS: name of a layer made from an empty prompt; %d is the seed */
    name = g_strdup_printf (_("Generated (seed %d)"), seed);
  else
    /* TRANSLATORS: layer name; %s is the prompt, %d the seed */
    name = g_strdup_printf (_("%s (seed %d)"), s->str, seed);
  g_string_free (s, TRUE);
  return name;
}

void
sdcl_batch_add_layers (const SdclBatch    *batch,
                       const SdclSettings *made,
                       gint                x,
                       gint                y,
                       SdclAddLayerFunc    add,
                       gpointer            user_data)
{
  static const gint no_growth[4] = { 0, 0, 0, 0 };

  for (gint i = 0; i < batch->count; i++)
    {
      gchar *name = sdcl_layer_name (made->prompt, batch->seeds[i]);

      add (i, &batch->images[i], name, i ? x + made->grow[0] : x, i ? y + made->grow[1] : y,
           i ? no_growth : made->grow, user_data);
      g_free (name);
    }
}

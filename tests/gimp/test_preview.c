/* The dialog's live preview, below the GIMP API: with SdclSettings.preview
 * every step of a run reaches the progress function with the engine's
 * picture of it, in the plug-in process and through the model server (the
 * MSG_PROGRESS message carries it); without it no picture is made; and a
 * batch of 2 reports 2 x steps pictures with its fraction rising to 1.
 * And what the dialog learns of a model (SdclModelSummary), in both places:
 * with the Turbo switch an SDXL single file is Turbo, 512 pixels, with the
 * engine's Turbo defaults (which the dialog's steps and guidance follow);
 * without it SDXL base with the engine's ordinary defaults.
 *
 *   test-preview PLUGIN MODEL   (PLUGIN: the built sdcl-gimp, the server)
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include "sdcl-gimp-core.h"
#include "tap.h"

typedef struct
{
  gint    calls, pictures, bad;
  gdouble last;
} Seen;

static gboolean
see (gdouble fraction, const sdcl_image *picture, gpointer data)
{
  Seen *seen = data;

  seen->calls++;
  seen->last = fraction;
  if (picture)
    {
      seen->pictures++;
      if (picture->channels != 3 || picture->width < 1 || picture->height < 1 || !picture->data)
        seen->bad++;
    }
  return TRUE;
}

static void
run (SdclSession *session, const gchar *model, gboolean preview, gint batch_count,
     const gchar *where)
{
  SdclSettings s;
  SdclJob      job = { .mode = SDCL_MODE_TXT2IMG, .area = { 0, 0, 32, 32 } };
  SdclBatch    batch = { 0 };
  Seen         seen = { 0 };
  GError      *error = NULL;
  gchar       *what;
  gboolean     ok;

  sdcl_settings_init (&s, SDCL_MODE_TXT2IMG);
  g_strlcpy (s.model, model, sizeof s.model);
  g_strlcpy (s.prompt, "a red circle", sizeof s.prompt);
  g_strlcpy (s.sampler, "euler", sizeof s.sampler);
  s.steps = 3;
  s.seed = 7;
  s.width = s.height = 32;
  s.preview = preview;
  s.batch_count = batch_count;
  ok = sdcl_session_prepare (session, &s, SDCL_MODE_TXT2IMG, &error) &&
       sdcl_generate_batch (session, &s, &job, see, &seen, &batch, &error);
  what = g_strdup_printf ("%s, preview %s, batch %d: runs", where, preview ? "on" : "off",
                          batch_count);
  check (ok && batch.count == batch_count, what, error ? error->message : NULL);
  g_free (what);
  what = g_strdup_printf ("%s, preview %s, batch %d: %d step calls, %d pictures (%d bad), "
                          "last fraction %.2f", where, preview ? "on" : "off", batch_count,
                          seen.calls, seen.pictures, seen.bad, seen.last);
  check (seen.calls == 3 * batch_count && seen.pictures == (preview ? seen.calls : 0) &&
         seen.bad == 0 && seen.last > 0.999, what, NULL);
  g_free (what);
  g_clear_error (&error);
  sdcl_batch_clear (&batch);
}

static void
summary (SdclSession *session, gboolean turbo, const gchar *where)
{
  gchar           *sgm = g_build_filename (g_getenv ("SDCL_FIXTURES"), "models",
                                           "tiny-sdxl-sgm-f16.safetensors", NULL);
  sdcl_gen_params  plain = sdcl_gen_default_params ();
  SdclModelSummary m = { 0 };
  GError          *error = NULL;
  gboolean         ok = sdcl_session_load (session, "", "auto", turbo, sgm, &m, &error);
  gchar           *what = g_strdup_printf ("%s, SDXL single file, turbo %d: turbo %d, %d px, %s "
                                           "%s, %d steps, guidance %g (%s)", where, turbo,
                                           m.turbo, m.native_size, m.sampler, m.schedule,
                                           m.steps, m.guidance, m.description);

  if (turbo)
    /* the Turbo model card's settings, as sdcl_gen_model_params gives them */
    ok = ok && m.turbo && m.native_size == 512 && strcmp (m.sampler, "euler") == 0 &&
         strcmp (m.schedule, "default") == 0 && m.steps == 1 && m.guidance == 0.0 &&
         strstr (m.description, "Turbo") != NULL;
  else
    ok = ok && !m.turbo && m.native_size == 1024 &&
         strcmp (m.sampler, sdcl_sampler_name (plain.sampler)) == 0 && m.steps == plain.steps &&
         m.guidance == plain.guidance && strstr (m.description, "Turbo") == NULL;
  check (ok, what, error ? error->message : NULL);
  g_clear_error (&error);
  g_free (m.description);
  g_free (what);
  g_free (sgm);
}

int
main (int argc, char **argv)
{
  SdclSession *session;

  if (argc != 3)
    {
      fprintf (stderr, "usage: %s PLUGIN MODEL\n", argv[0]);
      return 2;
    }
  setvbuf (stdout, NULL, _IOLBF, 0);
  session = sdcl_session_new ();
  run (session, argv[2], TRUE, 1, "in-process");
  run (session, argv[2], FALSE, 1, "in-process");
  summary (session, TRUE, "in-process");
  summary (session, FALSE, "in-process");
  sdcl_session_free (session);

  g_setenv ("SDCL_GIMP_RESIDENT", "1", TRUE);
  session = sdcl_session_new_resident (argv[1]);
  run (session, argv[2], TRUE, 2, "model server");
  summary (session, TRUE, "model server");
  summary (session, FALSE, "model server");
  sdcl_session_free (session);
  check (sdcl_release_memory (), "the model server was used (and is released)", NULL);

  return tap_finish ();
}

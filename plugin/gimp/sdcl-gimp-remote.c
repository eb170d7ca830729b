/* sdcl GIMP plug-in: the model server's client, in the plug-in process:
 * starts the server when none runs and hands it the work (see
 * sdcl-gimp-server.c for why and how).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "sdcl-gimp-private.h"

#ifdef G_OS_UNIX

#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdcl-gimp-wire.h"

/* ---- the client side (in the plug-in process) ------------------------------ */

gboolean
sdcl_remote_supported (void)
{
  return TRUE;
}

/* Connects to this GIMP's server, starting it when there is none.  -1 when
 * none can be had (the caller then works in-process). */
static int
connect_server (const gchar *program,
                gboolean     start)
{
  gchar  *path = sdcl_wire_socket_path ();
  int     fd   = -1;
  gint64  deadline;
  gint64  next_start = 0;

  if (!path)
    return -1;
  fd = sdcl_wire_socket_connect (path);
  if (fd >= 0 || !start)
    {
      g_free (path);
      return fd;
    }

  /* The server starts in milliseconds (it loads nothing before the first
   * request); a few retries cover a server that is just quitting, which
   * makes a new one wait for its lock. */
  deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  while (fd < 0 && g_get_monotonic_time () < deadline)
    {
      if (g_get_monotonic_time () >= next_start)
        {
          gchar  *pid       = g_strdup_printf ("%d", (int) getppid ());
          gchar  *localedir = sdcl_plugin_localedir (program);
          gchar  *argv[]    = { (gchar *) program, SERVER_FLAG, path, pid, localedir, NULL };
          GError *error     = NULL;

          /* Without G_SPAWN_DO_NOT_REAP_CHILD GLib forks twice: the server
           * is nobody's child to wait for and outlives this process.  It
           * gets no descriptors but stdin (/dev/null), stdout and stderr. */
          if (!g_spawn_async (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &error))
            {
              sdcl_log ("could not start the model server: %s", error->message);
              g_error_free (error);
              deadline = 0;
            }
          g_free (pid);
          g_free (localedir);
          next_start = g_get_monotonic_time () + G_USEC_PER_SEC;
        }
      g_usleep (20000);
      fd = sdcl_wire_socket_connect (path);
    }
  if (fd < 0)
    sdcl_log ("the model server did not answer at %s", path);
  g_free (path);
  return fd;
}

static void
set_lost_error (GError **error)
{
  g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_ENGINE,
               _("The model server stopped unexpectedly; try again."));
}

static SdclRemoteStatus
error_from_variant (GVariant *value,
                    GError  **error)
{
  gint         code;
  const gchar *message;

  g_variant_get (value, "(i&s)", &code, &message);
  if (code != SDCL_GIMP_ERROR_INVALID && code != SDCL_GIMP_ERROR_CANCELLED)
    code = SDCL_GIMP_ERROR_ENGINE;
  g_set_error_literal (error, SDCL_GIMP_ERROR, code, message);
  return SDCL_REMOTE_FAILED;
}

SdclRemoteStatus
sdcl_remote_load (const gchar      *program,
                  const gchar      *device,
                  const gchar      *prediction,
                  gboolean          turbo,
                  const gchar      *model_path,
                  SdclModelSummary *summary,
                  GError          **error)
{
  /* A server that quits (idle) just as we connect closes without an
   * answer: one more try starts a new one. */
  for (gint attempt = 0; attempt < 2; attempt++)
    {
      int       fd = connect_server (program, TRUE);
      MsgType   type;
      GVariant *reply;

      if (fd < 0)
        return SDCL_REMOTE_UNAVAILABLE;
      if (!sdcl_wire_send (fd, MSG_LOAD, g_variant_new ("(ssbs)", device ? device : "",
                                                   prediction ? prediction : "", turbo,
                                                   model_path)) ||
          !(reply = sdcl_wire_recv (fd, &type)))
        {
          close (fd);
          continue;
        }
      close (fd);
      if (type == MSG_LOADED)
        {
          if (summary)
            sdcl_wire_summary_from_variant (reply, summary);
          g_variant_unref (reply);
          return SDCL_REMOTE_OK;
        }
      if (type == MSG_ERROR)
        error_from_variant (reply, error);
      else
        set_lost_error (error);
      g_variant_unref (reply);
      return SDCL_REMOTE_FAILED;
    }
  set_lost_error (error);
  return SDCL_REMOTE_FAILED;
}

SdclRemoteStatus
sdcl_remote_generate (const gchar        *program,
                      const SdclSettings *settings,
                      SdclMode            mode,
                      const gchar        *model_path,
                      gint                seed,
                      const sdcl_image   *init,
                      const sdcl_image   *mask,
                      SdclStepFunc        step,
                      gpointer            step_data,
                      sdcl_image         *out,
                      GError            **error)
{
  GVariant *request;

  memset (out, 0, sizeof *out);
  request = g_variant_ref_sink (g_variant_new ("(usi@a{sv}@(iiiay)@(iiiay))", (guint32) mode,
                                               model_path, seed, sdcl_wire_settings_to_variant (settings),
                                               sdcl_wire_image_to_variant (init), sdcl_wire_image_to_variant (mask)));

  for (gint attempt = 0; attempt < 2; attempt++)
    {
      int              fd = connect_server (program, TRUE);
      gboolean         answered = FALSE;
      SdclRemoteStatus status = SDCL_REMOTE_FAILED;

      if (fd < 0)
        {
          g_variant_unref (request);
          return SDCL_REMOTE_UNAVAILABLE;
        }
      if (sdcl_wire_send (fd, MSG_GENERATE, g_variant_ref (request)))
        {
          MsgType   type;
          GVariant *reply;

          while ((reply = sdcl_wire_recv (fd, &type)))
            {
              answered = TRUE;
              if (type == MSG_PROGRESS)
                {
                  gint        k, n;
                  GVariant   *picture;
                  sdcl_image  preview = { 0 };
                  gboolean    go_on;

                  g_variant_get (reply, "(ii@(iiiay))", &k, &n, &picture);
                  g_variant_unref (reply);
                  if (!sdcl_wire_image_from_variant (picture, &preview) || preview.channels != 3)
                    sdcl_image_free (&preview);
                  g_variant_unref (picture);
                  go_on = !step || step (k, n, preview.data ? &preview : NULL, step_data);
                  sdcl_image_free (&preview);
                  if (!go_on)
                    {
                      /* Closing the connection is the server's cancel. */
                      g_set_error (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_CANCELLED,
                                   _("Cancelled."));
                      break;
                    }
                  continue;
                }
              if (type == MSG_RESULT)
                {
                  if (sdcl_wire_image_from_variant (reply, out) && out->data && out->channels == 3)
                    status = SDCL_REMOTE_OK;
                  else
                    {
                      sdcl_image_free (out);
                      set_lost_error (error);
                    }
                }
              else if (type == MSG_ERROR)
                error_from_variant (reply, error);
              else
                set_lost_error (error);
              g_variant_unref (reply);
              break;
            }
          if (!reply && answered)
            set_lost_error (error);
        }
      close (fd);
      if (answered)
        {
          g_variant_unref (request);
          return status;
        }
    }
  g_variant_unref (request);
  set_lost_error (error);
  return SDCL_REMOTE_FAILED;
}

gboolean
sdcl_release_memory (void)
{
  int       fd = connect_server (NULL, FALSE);
  MsgType   type;
  GVariant *reply;
  gboolean  loaded = FALSE;

  if (fd < 0)
    {
      sdcl_log ("release: no model server is running");
      return FALSE;
    }
  if (sdcl_wire_send (fd, MSG_RELEASE, g_variant_new ("()")) && (reply = sdcl_wire_recv (fd, &type)))
    {
      if (type == MSG_RELEASED)
        g_variant_get (reply, "(b)", &loaded);
      g_variant_unref (reply);
    }
  close (fd);
  return loaded;
}

void
sdcl_test_cancel_hook (const gchar *prompt,
                       gint         step)
{
  const gchar *hook = g_getenv ("SDCL_GIMP_TEST_CANCEL_PROMPT");

  if (hook && *hook && step >= 1 && g_strcmp0 (prompt, hook) == 0)
    {
      sdcl_log ("test hook: the plug-in ends itself at step %d, as GIMP's Cancel ends it", step);
      /* What gimp_plug_in_close (plug_in, TRUE) does after its GP_QUIT,
       * which a plug-in busy in the engine never reads. */
      kill (getpid (), SIGKILL);
    }
}

#else /* !G_OS_UNIX */

/* No Unix sockets: every call runs in the plug-in process, as
 * sdcl_session_new_resident() falls back to. */

gboolean
sdcl_remote_supported (void)
{
  return FALSE;
}

SdclRemoteStatus
sdcl_remote_load (const gchar      *program,
                  const gchar      *device,
                  const gchar      *prediction,
                  gboolean          turbo,
                  const gchar      *model_path,
                  SdclModelSummary *summary,
                  GError          **error)
{
  return SDCL_REMOTE_UNAVAILABLE;
}

SdclRemoteStatus
sdcl_remote_generate (const gchar        *program,
                      const SdclSettings *settings,
                      SdclMode            mode,
                      const gchar        *model_path,
                      gint                seed,
                      const sdcl_image   *init,
                      const sdcl_image   *mask,
                      SdclStepFunc        step,
                      gpointer            step_data,
                      sdcl_image         *out,
                      GError            **error)
{
  return SDCL_REMOTE_UNAVAILABLE;
}

gboolean
sdcl_release_memory (void)
{
  return FALSE;
}

void
sdcl_test_cancel_hook (const gchar *prompt,
                       gint         step)
{
}

#endif /* G_OS_UNIX */

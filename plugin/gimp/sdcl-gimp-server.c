/* sdcl GIMP plug-in: the resident model server.
 *
 * Why a server of our own rather than GIMP's resident plug-ins
 * ------------------------------------------------------------
 * GIMP keeps a plug-in process alive in two ways: a GIMP 2.10 *extension*
 * (gimp_extension_enable + gimp_extension_process) or a GIMP 3.0
 * *persistent* plug-in (gimp_plug_in_persistent_enable +
 * gimp_plug_in_persistent_process).  Either serves only *temporary*
 * procedures, which exist while that process runs, under names of their
 * own; the public procedures (plug-in-sdcl-txt2img, ...) must stay ordinary
 * plug-in procedures, which GIMP runs in a fresh process per call.  So a
 * GIMP-resident design needs a forwarding process anyway.  And GIMP's
 * progress Cancel (gimp_plug_in_progress_cancel_callback in
 * app/plug-in/gimpplugin-progress.c, 2.10 and 3.0 alike) ends the *whole*
 * plug-in process that owns the running procedure, temporary procedures
 * included: gimp_plug_in_close (plug_in, TRUE) sends GP_QUIT and SIGKILLs
 * it 10 ms later (and its process group, if it made one).  A resident
 * extension that is cancelled therefore loses its model: the very thing it
 * was kept for.
 *
 * So the public procedures stay ordinary plug-ins in both versions (the
 * same glue as before, Script-Fu and batch calls unchanged), and the
 * engine work goes to a server process started from this same binary
 * (`sdcl-gimp --sdcl-server SOCKET GIMP-PID LOCALEDIR`), one per running
 * GIMP, reached over a Unix socket private to the user.  It holds one
 * SdclSession (context + model, keyed by device and model path) and:
 *
 *  - keeps it until plug-in-sdcl-release-memory asks it to stop, until it
 *    has been idle for $SDCL_GIMP_IDLE_TIMEOUT seconds (default 300; 0 or
 *    less: no limit) or until the GIMP that started it has quit; it then
 *    exits, which returns device memory to the driver as well;
 *  - cancels with GIMP's Cancel: GIMP kills the plug-in process, the
 *    server sees its client's socket close (a thread watches it during a
 *    generation) and sets the engine's cancel flag, so the run stops
 *    within a step while the model stays loaded.  The image is untouched:
 *    only the plug-in adds the layer, after a complete result arrived;
 *  - runs in its own session (setsid), so GIMP's process-group kill of a
 *    plug-in never reaches it.
 *
 * Nothing here depends on the GIMP version.  Each request is one
 * connection: LOAD (device, prediction, turbo, model) -> LOADED (SdclModelSummary) | ERROR;
 * GENERATE (mode, model, seed, settings, images) -> PROGRESS* then
 * RESULT | ERROR; RELEASE -> RELEASED (was a model loaded).  Messages are
 * a type and size header and a serialized GVariant.
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
#include "sdcl-gimp-wire.h"

gboolean
sdcl_server_requested (int    argc,
                       char **argv)
{
  return argc >= 2 && strcmp (argv[1], SERVER_FLAG) == 0;
}

#ifdef G_OS_UNIX

#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- the server ------------------------------------------------------------ */

typedef struct
{
  int           client;
  int           wake[2];
  volatile int  cancel;
  gint          step, n_steps;
} Run;

/* During a generation the client sends nothing: anything readable on its
 * socket (its end closing, above all) is a cancel. */
static gpointer
watch_client (gpointer data)
{
  Run          *run = data;
  struct pollfd fds[2] = { { run->client, POLLIN, 0 }, { run->wake[0], POLLIN, 0 } };

  while (poll (fds, 2, -1) < 0 && errno == EINTR)
    ;
  if (fds[0].revents && !fds[1].revents)
    {
      /* The last step reported when the cancel arrived: the engine must
       * stop at the end of the step it is in (the tests compare). */
      sdcl_log ("client gone after step %d: cancelling", g_atomic_int_get (&run->step));
      run->cancel = 1;
    }
  return NULL;
}

static gboolean
server_step (gint              step,
             gint              n_steps,
             const sdcl_image *preview,
             gpointer          data)
{
  Run *run = data;

  g_atomic_int_set (&run->step, step);
  run->n_steps = n_steps;
  if (!sdcl_wire_send (run->client, MSG_PROGRESS,
                 g_variant_new ("(ii@(iiiay))", step, n_steps, sdcl_wire_image_to_variant (preview))))
    run->cancel = 1;
  return !run->cancel;
}

static void
serve_generate (SdclSession *session,
                int          fd,
                GVariant    *request)
{
  guint32       mode;
  const gchar  *model_path;
  gint          seed;
  GVariant     *dict, *init_v, *mask_v;
  SdclSettings  s;
  sdcl_image    init, mask, out = { 0 };
  Run           run = { fd, { -1, -1 }, 0, 0, 0 };
  GThread      *watch = NULL;
  GError       *error = NULL;
  gboolean      ok = FALSE;

  g_variant_get (request, "(u&si@a{sv}@(iiiay)@(iiiay))", &mode, &model_path, &seed, &dict,
                 &init_v, &mask_v);
  memset (&init, 0, sizeof init);
  memset (&mask, 0, sizeof mask);
  if (mode > SDCL_MODE_INPAINT || !sdcl_wire_image_from_variant (init_v, &init) ||
      !sdcl_wire_image_from_variant (mask_v, &mask))
    {
      g_set_error (&error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID, "malformed request");
      goto done;
    }
  sdcl_wire_settings_from_variant (dict, mode, &s);

  if (pipe (run.wake) == 0)
    watch = g_thread_new ("sdcl-watch", watch_client, &run);
  ok = sdcl_run_engine (session, &s, mode, model_path, seed, init.data ? &init : NULL,
                        mask.data ? &mask : NULL, server_step, &run, &run.cancel, &out, &error);
  if (watch)
    {
      while (write (run.wake[1], "x", 1) < 0 && errno == EINTR)
        ;
      g_thread_join (watch);
    }

  if (g_error_matches (error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_CANCELLED))
    sdcl_log ("generation cancelled after step %d of %d; the model stays loaded",
              run.step, run.n_steps);

done:
  if (ok)
    sdcl_wire_send (fd, MSG_RESULT, sdcl_wire_image_to_variant (&out));
  else
    sdcl_wire_send_error (fd, error); /* fails quietly when the client is gone */
  for (gint i = 0; i < 2; i++)
    if (run.wake[i] >= 0)
      close (run.wake[i]);
  g_clear_error (&error);
  sdcl_image_free (&out);
  sdcl_image_free (&init);
  sdcl_image_free (&mask);
  g_variant_unref (dict);
  g_variant_unref (init_v);
  g_variant_unref (mask_v);
}

typedef struct
{
  gchar *path;
  int    listen_fd;
  int    lock_fd;
} Listener;

/* Stops taking clients before the memory goes: whoever comes next finds
 * no socket and starts a new server. */
static void
stop_listening (Listener *l)
{
  if (l->listen_fd >= 0)
    {
      g_unlink (l->path);
      close (l->listen_fd);
      l->listen_fd = -1;
    }
  if (l->lock_fd >= 0)
    {
      close (l->lock_fd);
      l->lock_fd = -1;
    }
}

/* Serves one connection; TRUE when it asked the server to quit. */
static gboolean
serve_client (SdclSession *session,
              Listener    *l,
              int          fd)
{
  MsgType   type;
  GVariant *request = sdcl_wire_recv (fd, &type);
  gboolean  quit = FALSE;

  if (!request)
    return FALSE;
  switch (type)
    {
    case MSG_LOAD:
      {
        const gchar     *device, *prediction, *model_path;
        gboolean         turbo;
        SdclModelSummary summary = { 0 };
        GError          *error = NULL;

        g_variant_get (request, "(&s&sb&s)", &device, &prediction, &turbo, &model_path);
        if (sdcl_session_load_local (session, device, prediction, turbo, model_path, &summary,
                                     &error))
          sdcl_wire_send (fd, MSG_LOADED, sdcl_wire_summary_to_variant (&summary));
        else
          sdcl_wire_send_error (fd, error);
        g_free (summary.description);
        g_clear_error (&error);
      }
      break;

    case MSG_GENERATE:
      serve_generate (session, fd, request);
      break;

    case MSG_RELEASE:
      sdcl_log ("released on request%s", sdcl_session_is_loaded (session) ? "" : " (no model loaded)");
      stop_listening (l);
      sdcl_wire_send (fd, MSG_RELEASED, g_variant_new ("(b)", sdcl_session_is_loaded (session)));
      quit = TRUE;
      break;

    default:
      break;
    }
  g_variant_unref (request);
  return quit;
}

static gboolean
listen_on (Listener    *l,
           const gchar *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  gchar             *lock = g_strconcat (path, ".lock", NULL);

  l->path      = g_strdup (path);
  l->listen_fd = -1;
  /* One server per socket: the lock is held for the server's life, so the
   * socket file found on disk is either live or stale (then replaced). */
  l->lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_free (lock);
  if (l->lock_fd < 0 || flock (l->lock_fd, LOCK_EX | LOCK_NB) != 0)
    return FALSE;

  g_unlink (path);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  l->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l->listen_fd < 0 ||
      bind (l->listen_fd, (struct sockaddr *) &addr, sizeof addr) != 0 ||
      listen (l->listen_fd, 8) != 0)
    return FALSE;
  return TRUE;
}

int
sdcl_server_main (int    argc,
                  char **argv)
{
  Listener     l = { NULL, -1, -1 };
  SdclSession *session;
  pid_t        gimp;
  gdouble      idle_limit = 300.0;
  const gchar *idle_env = g_getenv ("SDCL_GIMP_IDLE_TIMEOUT");
  gint64       last_use;
  const gchar *why = NULL;

  if (argc != 5)
    {
      fprintf (stderr, "usage: %s " SERVER_FLAG " SOCKET GIMP-PID LOCALEDIR\n", argv[0]);
      return 2;
    }
  gimp = (pid_t) atoi (argv[3]);
  setlocale (LC_ALL, "");
  sdcl_i18n_init (argv[4]);
  /* Its own session and process group: not stopped by GIMP killing a
   * plug-in's group, nor by a terminal's Ctrl-C meant for GIMP. */
  setsid ();
  signal (SIGPIPE, SIG_IGN);
  if (idle_env && *idle_env)
    idle_limit = g_ascii_strtod (idle_env, NULL);

  if (!listen_on (&l, argv[2]))
    {
      /* Another server got there first (or the folder is unusable: the
       * plug-in then runs in-process). */
      stop_listening (&l);
      g_free (l.path);
      return 0;
    }
  sdcl_log ("model server started for GIMP %d (idle limit %g s)", (int) gimp, idle_limit);

  session  = sdcl_session_new ();
  last_use = g_get_monotonic_time ();
  while (!why)
    {
      struct pollfd pfd = { l.listen_fd, POLLIN, 0 };
      int           ready = poll (&pfd, 1, 250);

      if (ready > 0)
        {
          int fd = accept (l.listen_fd, NULL, NULL);

          if (fd >= 0)
            {
              if (serve_client (session, &l, fd))
                why = "released on request";
              close (fd);
              last_use = g_get_monotonic_time ();
            }
          continue;
        }
      if (gimp > 1 && kill (gimp, 0) != 0 && errno == ESRCH)
        why = "GIMP has quit";
      else if (idle_limit > 0 &&
               g_get_monotonic_time () - last_use > idle_limit * G_USEC_PER_SEC)
        {
          why = "idle";
          sdcl_log ("released after %g s idle%s", idle_limit,
                    sdcl_session_is_loaded (session) ? "" : " (no model loaded)");
        }
    }

  stop_listening (&l);
  sdcl_session_free (session);
  sdcl_log ("model server exits (%s)", why);
  g_free (l.path);
  return 0;
}

#else /* !G_OS_UNIX */

int
sdcl_server_main (int    argc,
                  char **argv)
{
  return 2;
}

#endif /* G_OS_UNIX */

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
 * connection: LOAD (device, prediction, model) -> LOADED (description, native size) | ERROR;
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

#define SERVER_FLAG "--sdcl-server"

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

void
sdcl_log (const gchar *format,
          ...)
{
  const gchar *path = g_getenv ("SDCL_GIMP_LOG");
  va_list      args;
  gchar       *message, *line;
  FILE        *f;

  if (!path || !*path)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  /* One write per line with O_APPEND: the plug-ins and the server share
   * the file. */
  line = g_strdup_printf ("sdcl-gimp[%d]: %s\n", (int) getpid (), message);
  f = fopen (path, "a");
  if (f)
    {
      setvbuf (f, NULL, _IONBF, 0);
      fputs (line, f);
      fclose (f);
    }
  g_free (line);
  g_free (message);
}

/* ---- messages ------------------------------------------------------------- */

typedef enum
{
  MSG_LOAD = 1,   /* (sss) device, prediction, model */
  MSG_GENERATE,   /* (usia{sv}(iiiay)(iiiay)) mode, model, seed, settings, init, mask */
  MSG_RELEASE,    /* () */
  MSG_LOADED,     /* (si) description, native size */
  MSG_PROGRESS,   /* (ii(iiiay)) step, steps, preview (empty: none) */
  MSG_RESULT,     /* (iiiay) the image */
  MSG_ERROR,      /* (is) SdclGimpError code, message */
  MSG_RELEASED,   /* (b) a model was loaded */
  MSG_LAST
} MsgType;

static const gchar *const msg_types[MSG_LAST] =
{
  [MSG_LOAD]     = "(sss)",
  [MSG_GENERATE] = "(usia{sv}(iiiay)(iiiay))",
  [MSG_RELEASE]  = "()",
  [MSG_LOADED]   = "(si)",
  [MSG_PROGRESS] = "(ii(iiiay))",
  [MSG_RESULT]   = "(iiiay)",
  [MSG_ERROR]    = "(is)",
  [MSG_RELEASED] = "(b)",
};

/* 4096 x 4096 RGB floats and a mask fit with room to spare. */
#define MSG_MAX_BYTES (1u << 30)

typedef struct
{
  guint32 type;
  guint32 size;
} MsgHeader;

static gboolean
write_all (int           fd,
           gconstpointer data,
           gsize         size)
{
  const guint8 *p = data;

  while (size > 0)
    {
      /* MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE. */
      ssize_t n = send (fd, p, size, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      size -= n;
    }
  return TRUE;
}

static gboolean
read_all (int      fd,
          gpointer data,
          gsize    size)
{
  guint8 *p = data;

  while (size > 0)
    {
      ssize_t n = recv (fd, p, size, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      size -= n;
    }
  return TRUE;
}

/* Sends and sinks `value`. */
static gboolean
send_msg (int       fd,
          MsgType   type,
          GVariant *value)
{
  MsgHeader header;
  gboolean  ok;

  g_variant_ref_sink (value);
  g_assert (g_variant_is_of_type (value, G_VARIANT_TYPE (msg_types[type])));
  header.type = type;
  header.size = g_variant_get_size (value);
  ok = write_all (fd, &header, sizeof header) &&
       write_all (fd, g_variant_get_data (value), header.size);
  g_variant_unref (value);
  return ok;
}

/* NULL at the end of the stream or for anything malformed. */
static GVariant *
recv_msg (int      fd,
          MsgType *type)
{
  MsgHeader header;
  gpointer  data;
  GBytes   *bytes;
  GVariant *value;

  if (!read_all (fd, &header, sizeof header) ||
      header.type == 0 || header.type >= MSG_LAST || header.size > MSG_MAX_BYTES)
    return NULL;
  data = g_try_malloc (MAX (header.size, 1));
  if (!data || !read_all (fd, data, header.size))
    {
      g_free (data);
      return NULL;
    }
  bytes = g_bytes_new_take (data, header.size);
  /* Untrusted: GVariant checks the serialization as it is read. */
  value = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (msg_types[header.type]),
                                                        bytes, FALSE));
  g_bytes_unref (bytes);
  *type = header.type;
  return value;
}

static GVariant *
image_to_variant (const sdcl_image *image)
{
  gsize size = image && image->data
               ? (gsize) image->width * image->height * image->channels * sizeof (float) : 0;

  return g_variant_new ("(iii@ay)", size ? image->width : 0, size ? image->height : 0,
                        size ? image->channels : 0,
                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                   size ? (gconstpointer) image->data : "", size, 1));
}

/* FALSE for a malformed image; an empty one gives data == NULL. */
static gboolean
image_from_variant (GVariant   *value,
                    sdcl_image *image)
{
  gint          w, h, c;
  GVariant     *array;
  const guint8 *data;
  gsize         size;
  gboolean      ok;

  memset (image, 0, sizeof *image);
  g_variant_get (value, "(iii@ay)", &w, &h, &c, &array);
  data = g_variant_get_fixed_array (array, &size, 1);
  if (w == 0 && h == 0 && c == 0 && size == 0)
    ok = TRUE;
  else if (w > 0 && h > 0 && w <= 65536 && h <= 65536 && (c == 1 || c == 3) &&
           size == (gsize) w * h * c * sizeof (float))
    {
      image->width    = w;
      image->height   = h;
      image->channels = c;
      image->data     = g_try_malloc (size);
      ok = image->data != NULL;
      if (ok)
        memcpy (image->data, data, size);
    }
  else
    ok = FALSE;
  g_variant_unref (array);
  return ok;
}

static GVariant *
settings_to_variant (const SdclSettings *s)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "prompt", g_variant_new_string (s->prompt));
  g_variant_builder_add (&b, "{sv}", "negative", g_variant_new_string (s->negative));
  g_variant_builder_add (&b, "{sv}", "sampler", g_variant_new_string (s->sampler));
  g_variant_builder_add (&b, "{sv}", "device", g_variant_new_string (s->device));
  g_variant_builder_add (&b, "{sv}", "steps", g_variant_new_int32 (s->steps));
  g_variant_builder_add (&b, "{sv}", "guidance", g_variant_new_double (s->guidance));
  g_variant_builder_add (&b, "{sv}", "width", g_variant_new_int32 (s->width));
  g_variant_builder_add (&b, "{sv}", "height", g_variant_new_int32 (s->height));
  g_variant_builder_add (&b, "{sv}", "strength", g_variant_new_double (s->strength));
  g_variant_builder_add (&b, "{sv}", "mask-blur", g_variant_new_double (s->mask_blur));
  g_variant_builder_add (&b, "{sv}", "only-masked", g_variant_new_boolean (s->only_masked));
  g_variant_builder_add (&b, "{sv}", "padding", g_variant_new_int32 (s->padding));
  g_variant_builder_add (&b, "{sv}", "tiling", g_variant_new_boolean (s->tiling));
  g_variant_builder_add (&b, "{sv}", "schedule", g_variant_new_string (s->schedule));
  g_variant_builder_add (&b, "{sv}", "preview", g_variant_new_boolean (s->preview));
  g_variant_builder_add (&b, "{sv}", "prediction", g_variant_new_string (s->prediction));
  g_variant_builder_add (&b, "{sv}", "loras", g_variant_new_string (s->loras));
  g_variant_builder_add (&b, "{sv}", "prompt-syntax", g_variant_new_string (s->prompt_syntax));
  g_variant_builder_add (&b, "{sv}", "embeddings", g_variant_new_string (s->embeddings));
  return g_variant_builder_end (&b);
}

static void
settings_from_variant (GVariant     *dict,
                       SdclMode      mode,
                       SdclSettings *s)
{
  const gchar *str;

  /* Missing keys keep the defaults; the engine checks the values again. */
  sdcl_settings_init (s, mode);
  if (g_variant_lookup (dict, "prompt", "&s", &str))
    g_strlcpy (s->prompt, str, sizeof s->prompt);
  if (g_variant_lookup (dict, "negative", "&s", &str))
    g_strlcpy (s->negative, str, sizeof s->negative);
  if (g_variant_lookup (dict, "sampler", "&s", &str))
    g_strlcpy (s->sampler, str, sizeof s->sampler);
  if (g_variant_lookup (dict, "device", "&s", &str))
    g_strlcpy (s->device, str, sizeof s->device);
  g_variant_lookup (dict, "steps", "i", &s->steps);
  g_variant_lookup (dict, "guidance", "d", &s->guidance);
  g_variant_lookup (dict, "width", "i", &s->width);
  g_variant_lookup (dict, "height", "i", &s->height);
  g_variant_lookup (dict, "strength", "d", &s->strength);
  g_variant_lookup (dict, "mask-blur", "d", &s->mask_blur);
  g_variant_lookup (dict, "only-masked", "b", &s->only_masked);
  g_variant_lookup (dict, "padding", "i", &s->padding);
  g_variant_lookup (dict, "tiling", "b", &s->tiling);
  g_variant_lookup (dict, "preview", "b", &s->preview);
  if (g_variant_lookup (dict, "schedule", "&s", &str))
    g_strlcpy (s->schedule, str, sizeof s->schedule);
  if (g_variant_lookup (dict, "prediction", "&s", &str))
    g_strlcpy (s->prediction, str, sizeof s->prediction);
  if (g_variant_lookup (dict, "loras", "&s", &str))
    g_strlcpy (s->loras, str, sizeof s->loras);
  if (g_variant_lookup (dict, "prompt-syntax", "&s", &str))
    g_strlcpy (s->prompt_syntax, str, sizeof s->prompt_syntax);
  if (g_variant_lookup (dict, "embeddings", "&s", &str))
    g_strlcpy (s->embeddings, str, sizeof s->embeddings);
}

static gboolean
send_error (int           fd,
            const GError *error)
{
  return send_msg (fd, MSG_ERROR, g_variant_new ("(is)", error->code, error->message));
}

/* ---- where the server listens --------------------------------------------- */

/* A folder only this user can enter: the runtime dir (else the cache dir,
 * GLib's fallback), or one in /tmp when that path is too long for a socket
 * address. */
static gchar *
socket_path (void)
{
  struct sockaddr_un addr;
  /* A plug-in is GIMP's child: the parent pid names this GIMP. */
  gchar      *name = g_strdup_printf ("gimp-%d.sock", (int) getppid ());
  gchar      *dir  = g_build_filename (g_get_user_runtime_dir (), "sdcl", NULL);
  gchar      *path = g_build_filename (dir, name, NULL);
  GStatBuf    st;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      gchar *base = g_strdup_printf ("sdcl-%u", (unsigned) getuid ());

      g_free (dir);
      g_free (path);
      dir  = g_build_filename (g_get_tmp_dir (), base, NULL);
      path = g_build_filename (dir, name, NULL);
      g_free (base);
    }
  g_free (name);
  if (g_mkdir_with_parents (dir, 0700) != 0 ||
      g_lstat (dir, &st) != 0 || !S_ISDIR (st.st_mode) || st.st_uid != getuid () ||
      (st.st_mode & 077) != 0 || strlen (path) >= sizeof addr.sun_path)
    {
      sdcl_log ("no private folder for the model server socket: %s", dir);
      g_clear_pointer (&path, g_free);
    }
  g_free (dir);
  return path;
}

static int
socket_connect (const gchar *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int                fd   = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
    return fd;
  if (fd >= 0)
    close (fd);
  return -1;
}

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
  gchar  *path = socket_path ();
  int     fd   = -1;
  gint64  deadline;
  gint64  next_start = 0;

  if (!path)
    return -1;
  fd = socket_connect (path);
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
      fd = socket_connect (path);
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
sdcl_remote_load (const gchar  *program,
                  const gchar  *device,
                  const gchar  *prediction,
                  const gchar  *model_path,
                  gchar       **description,
                  gint         *native_size,
                  GError      **error)
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
      if (!send_msg (fd, MSG_LOAD, g_variant_new ("(sss)", device ? device : "",
                                                   prediction ? prediction : "", model_path)) ||
          !(reply = recv_msg (fd, &type)))
        {
          close (fd);
          continue;
        }
      close (fd);
      if (type == MSG_LOADED)
        {
          const gchar *text;
          gint32       native;

          g_variant_get (reply, "(&si)", &text, &native);
          if (description)
            *description = g_strdup (text);
          if (native_size)
            *native_size = native;
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
                                               model_path, seed, settings_to_variant (settings),
                                               image_to_variant (init), image_to_variant (mask)));

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
      if (send_msg (fd, MSG_GENERATE, g_variant_ref (request)))
        {
          MsgType   type;
          GVariant *reply;

          while ((reply = recv_msg (fd, &type)))
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
                  if (!image_from_variant (picture, &preview) || preview.channels != 3)
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
                  if (image_from_variant (reply, out) && out->data && out->channels == 3)
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
  if (send_msg (fd, MSG_RELEASE, g_variant_new ("()")) && (reply = recv_msg (fd, &type)))
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
  if (!send_msg (run->client, MSG_PROGRESS,
                 g_variant_new ("(ii@(iiiay))", step, n_steps, image_to_variant (preview))))
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
  if (mode > SDCL_MODE_INPAINT || !image_from_variant (init_v, &init) ||
      !image_from_variant (mask_v, &mask))
    {
      g_set_error (&error, SDCL_GIMP_ERROR, SDCL_GIMP_ERROR_INVALID, "malformed request");
      goto done;
    }
  settings_from_variant (dict, mode, &s);

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
    send_msg (fd, MSG_RESULT, image_to_variant (&out));
  else
    send_error (fd, error); /* fails quietly when the client is gone */
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
  GVariant *request = recv_msg (fd, &type);
  gboolean  quit = FALSE;

  if (!request)
    return FALSE;
  switch (type)
    {
    case MSG_LOAD:
      {
        const gchar *device, *prediction, *model_path;
        gchar       *description = NULL;
        gint         native = 0;
        GError      *error = NULL;

        g_variant_get (request, "(&s&s&s)", &device, &prediction, &model_path);
        if (sdcl_session_load_local (session, device, prediction, model_path, &description,
                                     &native, &error))
          send_msg (fd, MSG_LOADED, g_variant_new ("(si)", description, native));
        else
          send_error (fd, error);
        g_free (description);
        g_clear_error (&error);
      }
      break;

    case MSG_GENERATE:
      serve_generate (session, fd, request);
      break;

    case MSG_RELEASE:
      sdcl_log ("released on request%s", sdcl_session_is_loaded (session) ? "" : " (no model loaded)");
      stop_listening (l);
      send_msg (fd, MSG_RELEASED, g_variant_new ("(b)", sdcl_session_is_loaded (session)));
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

/* No Unix sockets: every call runs in the plug-in process, as
 * sdcl_session_new_resident() falls back to. */

gboolean
sdcl_remote_supported (void)
{
  return FALSE;
}

void
sdcl_log (const gchar *format,
          ...)
{
}

SdclRemoteStatus
sdcl_remote_load (const gchar  *program,
                  const gchar  *device,
                  const gchar  *prediction,
                  const gchar  *model_path,
                  gchar       **description,
                  gint         *native_size,
                  GError      **error)
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

int
sdcl_server_main (int    argc,
                  char **argv)
{
  return 2;
}

#endif /* G_OS_UNIX */

/* sdcl GIMP plug-in: the model server's messages and socket (see
 * sdcl-gimp-wire.h), and the log the tests read.
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

/* description, native size, turbo, sampler, schedule, steps, guidance */
#define SUMMARY_TYPE "(sibssid)"

static const gchar *const msg_types[MSG_LAST] =
{
  [MSG_LOAD]     = "(ssbs)",   /* device, prediction, turbo, model */
  [MSG_GENERATE] = "(usia{sv}(iiiay)(iiiay))",
  [MSG_RELEASE]  = "()",
  [MSG_LOADED]   = SUMMARY_TYPE, /* SdclModelSummary */
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
gboolean
sdcl_wire_send (int       fd,
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
GVariant *
sdcl_wire_recv (int      fd,
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

GVariant *
sdcl_wire_image_to_variant (const sdcl_image *image)
{
  gsize size = image && image->data
               ? (gsize) image->width * image->height * image->channels * sizeof (float) : 0;

  return g_variant_new ("(iii@ay)", size ? image->width : 0, size ? image->height : 0,
                        size ? image->channels : 0,
                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                   size ? (gconstpointer) image->data : "", size, 1));
}

/* FALSE for a malformed image; an empty one gives data == NULL. */
gboolean
sdcl_wire_image_from_variant (GVariant   *value,
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

GVariant *
sdcl_wire_settings_to_variant (const SdclSettings *s)
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
  g_variant_builder_add (&b, "{sv}", "turbo", g_variant_new_boolean (s->turbo));
  return g_variant_builder_end (&b);
}

GVariant *
sdcl_wire_summary_to_variant (const SdclModelSummary *m)
{
  return g_variant_new (SUMMARY_TYPE, m->description ? m->description : "", m->native_size,
                        m->turbo, m->sampler, m->schedule, m->steps, m->guidance);
}

void
sdcl_wire_summary_from_variant (GVariant         *body,
                                SdclModelSummary *m)
{
  const gchar *text, *sampler, *schedule;

  g_variant_get (body, SUMMARY_TYPE, &text, &m->native_size, &m->turbo, &sampler, &schedule,
                 &m->steps, &m->guidance);
  m->description = g_strdup (text);
  g_strlcpy (m->sampler, sampler, sizeof m->sampler);
  g_strlcpy (m->schedule, schedule, sizeof m->schedule);
}

void
sdcl_wire_settings_from_variant (GVariant     *dict,
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
  g_variant_lookup (dict, "turbo", "b", &s->turbo);
}

gboolean
sdcl_wire_send_error (int           fd,
                      const GError *error)
{
  return sdcl_wire_send (fd, MSG_ERROR, g_variant_new ("(is)", error->code, error->message));
}

/* ---- where the server listens --------------------------------------------- */

/* A folder only this user can enter: the runtime dir (else the cache dir,
 * GLib's fallback), or one in /tmp when that path is too long for a socket
 * address. */
gchar *
sdcl_wire_socket_path (void)
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

int
sdcl_wire_socket_connect (const gchar *path)
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

#else /* !G_OS_UNIX */

void
sdcl_log (const gchar *format,
          ...)
{
}

#endif /* G_OS_UNIX */

/* Opening and reading the files sdcl is given, safely (sdcl_file.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sdcl_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a non-regular file is, for the message. */
static const char *
kind_of (mode_t mode)
{
  if (S_ISDIR (mode))
    return "a folder";
  if (S_ISFIFO (mode))
    return "a FIFO";
  if (S_ISCHR (mode))
    return "a character device";
  if (S_ISBLK (mode))
    return "a block device";
  if (S_ISSOCK (mode))
    return "a socket";
  return "not a plain file";
}

static int
fail_errno (GError **error, int saved, const char *format, const char *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), format, path,
               g_strerror (saved));
  return -1;
}

int
sdcl_file_open_regular (const char *path, const char *what, uint64_t max_bytes, uint64_t *size,
                        GError **error)
{
  /* O_NONBLOCK: opening a FIFO for reading would wait for a writer, and a
   * device node may wait for hardware; nothing is read before fstat. */
  int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return fail_errno (error, errno, "cannot open %s: %s", path);
  struct stat sb;
  if (fstat (fd, &sb) != 0)
    {
      int saved = errno;
      close (fd);
      return fail_errno (error, saved, "cannot read %s: %s", path);
    }
  if (!S_ISREG (sb.st_mode))
    {
      close (fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "%s exists but is not a regular file (it is %s)", path, kind_of (sb.st_mode));
      return -1;
    }
  if (max_bytes && (uint64_t) sb.st_size > max_bytes)
    {
      close (fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "%s is %" G_GUINT64_FORMAT " bytes, more than a %s may hold (%" G_GUINT64_FORMAT
                   ")", path, (guint64) sb.st_size, what ? what : "file", (guint64) max_bytes);
      return -1;
    }
  /* Regular files ignore O_NONBLOCK, but a caller wrapping the descriptor
   * in a stream should get the usual blocking semantics. */
  int flags = fcntl (fd, F_GETFL);
  if (flags >= 0)
    fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
  if (size)
    *size = (uint64_t) sb.st_size;
  return fd;
}

/* Reads until end of file into a buffer of at most max_bytes + 1 bytes:
 * the extra byte tells a file that grew past the limit. */
static bool
read_all (int fd, const char *path, const char *what, uint64_t size_hint, uint64_t max_bytes,
          char **contents, size_t *len, GError **error)
{
  size_t cap = (size_t) MIN (size_hint, max_bytes) + 1, used = 0;
  char *buf = g_malloc (cap + 1);
  for (;;)
    {
      if (used == cap)
        {
          if (cap > max_bytes)
            {
              g_free (buf);
              g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                           "%s grew past the %" G_GUINT64_FORMAT " bytes a %s may hold", path,
                           (guint64) max_bytes, what ? what : "file");
              return false;
            }
          cap = (size_t) MIN ((uint64_t) cap * 2, max_bytes + 1);
          buf = g_realloc (buf, cap + 1);
        }
      ssize_t n = read (fd, buf + used, cap - used);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_free (buf);
          fail_errno (error, saved, "cannot read %s: %s", path);
          return false;
        }
      if (n == 0)
        break;
      used += (size_t) n;
    }
  buf[used] = '\0';
  *contents = buf;
  if (len)
    *len = used;
  return true;
}

bool
sdcl_file_read_small (const char *path, const char *what, uint64_t max_bytes, char **contents,
                      size_t *len, GError **error)
{
  g_return_val_if_fail (max_bytes > 0 && max_bytes < SIZE_MAX / 2, false);
  uint64_t size = 0;
  int fd = sdcl_file_open_regular (path, what, max_bytes, &size, error);
  if (fd < 0)
    return false;
  bool ok = read_all (fd, path, what, size, max_bytes, contents, len, error);
  close (fd);
  return ok;
}

bool
sdcl_file_exists (const char *path)
{
  struct stat sb;
  return stat (path, &sb) == 0;
}

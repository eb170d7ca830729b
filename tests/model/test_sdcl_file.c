/* common/sdcl_file.c: the one reader every file sdcl reads goes through.
 * A FIFO, a folder or a device is refused by name without blocking or
 * reading; a size over the limit is refused before reading; a file whose
 * size lies (st_size 0, as /proc files have) is read up to the limit and
 * refused past it.  The bad-input table covers each use in the loader.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sdcl_file.h"

/* A FIFO opened for reading would wait for a writer: the test must end. */
#define HANG_TIMEOUT_S 60

/* Reads `path` with limit `max` and expects failure with `want` in the
 * message (and G_FILE_ERROR `code` when >= 0). */
static void
expect_refused (const char *path, uint64_t max, const char *want, int code)
{
  char *text = NULL;
  size_t len = 0;
  GError *err = NULL;
  bool ok = sdcl_file_read_small (path, "test file", max, &text, &len, &err);
  CHECK (!ok && text == NULL, "%s: read although it should be refused", path);
  CHECK (err && strstr (err->message, want) && strstr (err->message, path), "%s: message '%s' "
         "lacks '%s' or the path", path, err ? err->message : "(none)", want);
  CHECK (code < 0 || (err && err->domain == G_FILE_ERROR && err->code == code),
         "%s: error code %d, expected %d", path, err ? err->code : -1, code);
  g_clear_error (&err);
  g_free (text);
}

static void
test_regular (const char *dir)
{
  char *p = g_build_filename (dir, "plain.json", NULL);
  CHECK (g_file_set_contents (p, "{\"a\": 1}", -1, NULL), "write %s", p);
  char *text = NULL;
  size_t len = 0;
  CHECK (sdcl_file_read_small (p, "test file", 8, &text, &len, NULL) && len == 8
         && strcmp (text, "{\"a\": 1}") == 0, "a file of exactly the limit reads whole");
  g_free (text);
  expect_refused (p, 7, "is 8 bytes, more than a test file may hold (7)", G_FILE_ERROR_FAILED);
  uint64_t size = 0;
  int fd = sdcl_file_open_regular (p, NULL, 0, &size, NULL);
  CHECK (fd >= 0 && size == 8, "open_regular: fd %d, size %" G_GUINT64_FORMAT, fd, size);
  if (fd >= 0)
    close (fd);
  CHECK (sdcl_file_exists (p), "exists");
  g_unlink (p);
  CHECK (!sdcl_file_exists (p), "gone");
  expect_refused (p, 100, "No such file", G_FILE_ERROR_NOENT);
  g_free (p);
}

static void
test_not_regular (const char *dir)
{
  char *fifo = g_build_filename (dir, "fifo", NULL);
  CHECK (mkfifo (fifo, 0600) == 0, "mkfifo %s", fifo);
  alarm (HANG_TIMEOUT_S);
  expect_refused (fifo, 100, "exists but is not a regular file (it is a FIFO)", -1);
  CHECK (sdcl_file_open_regular (fifo, NULL, 0, NULL, NULL) < 0, "the FIFO opened for mapping");
  alarm (0);
  g_unlink (fifo);
  g_free (fifo);

  expect_refused (dir, 100, "(it is a folder)", -1);
  expect_refused ("/dev/zero", 100, "(it is a character device)", -1);
  char *link = g_build_filename (dir, "zero-link", NULL);
  CHECK (symlink ("/dev/zero", link) == 0, "symlink %s", link);
  expect_refused (link, 100, "(it is a character device)", -1);
  g_unlink (link);
  g_free (link);
}

/* Sizes: a sparse file over the limit is refused by its size alone (no
 * disk, no reading); a /proc file reports size 0 and must still be read
 * whole, or refused once it passes the limit. */
static void
test_sizes (const char *dir)
{
  char *big = g_build_filename (dir, "sparse", NULL);
  CHECK (g_file_set_contents (big, "", 0, NULL) && truncate (big, (off_t) 1 << 40) == 0,
         "sparse %s", big);
  expect_refused (big, 1 << 20, "is 1099511627776 bytes, more than", G_FILE_ERROR_FAILED);
  g_unlink (big);
  g_free (big);

  const char *proc = "/proc/self/status";   /* st_size 0, about 1.4 kB of text */
  char *text = NULL;
  size_t len = 0;
  CHECK (sdcl_file_read_small (proc, "test file", 1 << 20, &text, &len, NULL) && len > 100
         && strlen (text) == len && strstr (text, "Name:"), "%s read whole (%zu bytes)", proc, len);
  g_free (text);
  expect_refused (proc, 64, "grew past the 64 bytes a test file may hold", G_FILE_ERROR_FAILED);
}

int
main (void)
{
  char *dir = g_dir_make_tmp ("sdcl-file-XXXXXX", NULL);
  if (!dir)
    return 77;
  test_regular (dir);
  test_not_regular (dir);
  test_sizes (dir);
  g_rmdir (dir);
  g_free (dir);
  return check_finish ();
}

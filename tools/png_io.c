/* PNG input and output for the command-line tools (libpng).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "png_io.h"
#include "sdcl_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned char
to_u8 (float v)
{
  float s = rintf (v * 255.0f);
  return (unsigned char) (s < 0.0f ? 0.0f : s > 255.0f ? 255.0f : s);
}

static bool
is_ascii (const char *s)
{
  for (; *s; s++)
    if ((unsigned char) *s >= 0x80)
      return false;
  return true;
}

/* What made libpng give up: its message and the errno of the failed
 * write (libpng only says "Write Error"). */
typedef struct {
  int saved_errno;
  char text[200];
} write_error;

static void
on_write_error (png_structp png, png_const_charp message)
{
  write_error *e = png_get_error_ptr (png);
  e->saved_errno = errno;
  snprintf (e->text, sizeof e->text, "%s", message);
  png_longjmp (png, 1);
}

static void
on_write_warning (png_structp png, png_const_charp message)
{
  (void) png;
  (void) message;
}

static bool
write_rows (png_structp png, png_infop info, FILE *fp, const sdcl_image *img,
            const char *const *keys, const char *const *values, int n)
{
  unsigned char *row = malloc ((size_t) img->width * 3);
  if (!row || setjmp (png_jmpbuf (png)))
    {
      free (row);
      return false;
    }
  png_init_io (png, fp);
  png_set_IHDR (png, info, img->width, img->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_sRGB (png, info, PNG_sRGB_INTENT_PERCEPTUAL);
  for (int i = 0; i < n; i++)
    {
      /* tEXt is Latin-1: text beyond ASCII (a prompt in any script, as
       * UTF-8) goes into an iTXt chunk, which is UTF-8. */
      png_text text = { .compression = is_ascii (values[i]) ? PNG_TEXT_COMPRESSION_NONE
                                                            : PNG_ITXT_COMPRESSION_NONE,
                        .key = (char *) keys[i],
                        .text = (char *) values[i],
                        .lang = (char *) "",
                        .lang_key = (char *) "" };
      png_set_text (png, info, &text, 1);
    }
  png_write_info (png, info);
  for (int y = 0; y < img->height; y++)
    {
      const float *src = img->data + (size_t) y * img->width * 3;
      for (int x = 0; x < img->width * 3; x++)
        row[x] = to_u8 (src[x]);
      png_write_row (png, row);
    }
  png_write_end (png, NULL);
  free (row);
  return true;
}

/* Encodes into an open stream and flushes it; on failure writes the
 * cause to msg. */
static bool
encode (FILE *fp, const char *path, const sdcl_image *img, const char *const *keys,
        const char *const *values, int n, char *msg, size_t msg_size)
{
  write_error why = { 0, "out of memory" };
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &why, on_write_error,
                                             on_write_warning);
  png_infop info = png ? png_create_info_struct (png) : NULL;
  bool ok = png && info && write_rows (png, info, fp, img, keys, values, n);
  png_destroy_write_struct (&png, &info);
  if (ok && fflush (fp) != 0)
    {
      ok = false;
      why.saved_errno = errno;
    }
  if (!ok)
    snprintf (msg, msg_size, "cannot write %s: %s", path,
              why.saved_errno ? strerror (why.saved_errno) : why.text);
  return ok;
}

/* A system call's result: false with errno's message when it failed. */
static bool
sys_ok (bool succeeded, const char *path, char *msg, size_t msg_size)
{
  if (!succeeded)
    snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
  return succeeded;
}

/* A device, FIFO or other non-regular file (-o /dev/null, a pipe) is
 * written into directly: it cannot be replaced, and it is never
 * removed, whatever happens. */
static bool
write_in_place (const char *path, const sdcl_image *img, const char *const *keys,
                const char *const *values, int n, char *msg, size_t msg_size)
{
  FILE *fp = fopen (path, "wb");
  if (!fp)
    {
      snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
      return false;
    }
  bool ok = encode (fp, path, img, keys, values, n, msg, msg_size);
  if (fclose (fp) != 0 && ok)
    {
      snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
      ok = false;
    }
  return ok;
}

/* A regular file (or a new one) is written to a temporary file in the same
 * folder, synced and renamed over the target: a run that fails or is
 * killed leaves the previous file as it was.  A symbolic link is followed
 * and stays a link.  The new file keeps an existing target's permissions;
 * a new one gets 0666 minus the umask, as any file the user creates. */
static bool
write_replacing (const char *path, const struct stat *old, const sdcl_image *img,
                 const char *const *keys, const char *const *values, int n, char *msg,
                 size_t msg_size)
{
  g_autofree char *target = old ? realpath (path, NULL) : g_strdup (path);
  if (!target)
    {
      snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
      return false;
    }
  g_autofree char *dir = g_path_get_dirname (target);
  g_autofree char *tmp = g_build_filename (dir, ".sdcl-XXXXXX.png.part", NULL);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      snprintf (msg, msg_size, "cannot write %s: cannot create a file in %s: %s", path, dir,
                strerror (errno));
      return false;
    }
  FILE *fp = fdopen (fd, "wb");
  bool ok = fp && (!old || fchmod (fd, old->st_mode & 07777) == 0);
  if (!ok)
    snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
  ok = ok && encode (fp, path, img, keys, values, n, msg, msg_size);
  /* Synced before the rename, so that a crash cannot leave the new name
   * on an empty file. */
  ok = ok && sys_ok (fsync (fd) == 0, path, msg, msg_size);
  if (fp)
    {
      bool closed = fclose (fp) == 0;
      ok = ok && sys_ok (closed, path, msg, msg_size);
    }
  else
    close (fd);
  ok = ok && sys_ok (rename (tmp, target) == 0, path, msg, msg_size);
  if (!ok)
    g_unlink (tmp); /* only ever the file made here */
  return ok;
}

bool
sdcl_png_write (const char *path, const sdcl_image *img, const char *const *keys,
                const char *const *values, int n, char *msg, size_t msg_size)
{
  struct stat st;
  if (stat (path, &st) != 0)
    return write_replacing (path, NULL, img, keys, values, n, msg, msg_size);
  if (S_ISDIR (st.st_mode))
    {
      snprintf (msg, msg_size, "cannot write %s: it is a folder", path);
      return false;
    }
  if (!S_ISREG (st.st_mode))
    return write_in_place (path, img, keys, values, n, msg, msg_size);
  return write_replacing (path, &st, img, keys, values, n, msg, msg_size);
}

/* Why a file cannot be made at `path` that does not exist yet: its folder
 * is missing, not a folder, or not writable. */
static bool
check_new_file (const char *path, char *msg, size_t msg_size)
{
  g_autofree char *dir = g_path_get_dirname (path);
  struct stat st;
  if (stat (dir, &st) != 0)
    snprintf (msg, msg_size, "cannot write %s: the folder %s %s", path, dir,
              errno == ENOENT ? "does not exist" : strerror (errno));
  else if (!S_ISDIR (st.st_mode))
    snprintf (msg, msg_size, "cannot write %s: %s is not a folder", path, dir);
  else if (access (dir, W_OK | X_OK) != 0)
    snprintf (msg, msg_size, "cannot write %s: the folder %s is not writable (%s)", path, dir,
              strerror (errno));
  else
    return true;
  return false;
}

bool
sdcl_png_check_output (const char *path, char *msg, size_t msg_size)
{
  struct stat st;
  if (!*path)
    {
      snprintf (msg, msg_size, "the output file name is empty");
      return false;
    }
  if (stat (path, &st) != 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return check_new_file (path, msg, msg_size);
      snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
      return false;
    }
  if (S_ISDIR (st.st_mode))
    {
      snprintf (msg, msg_size, "cannot write %s: it is a folder", path);
      return false;
    }
  if (access (path, W_OK) != 0)
    {
      snprintf (msg, msg_size, "cannot write %s: %s", path, strerror (errno));
      return false;
    }
  if (!S_ISREG (st.st_mode))
    return true; /* written in place */
  /* Replaced by a rename: its folder must take a new file. */
  g_autofree char *target = realpath (path, NULL);
  return check_new_file (target ? target : path, msg, msg_size);
}

/* ---- reading ----------------------------------------------------------- */

/* libpng transforms that leave 8- or 16-bit grey, grey+alpha, RGB or RGBA. */
static void
normalise_format (png_structp png, png_infop info)
{
  int type = png_get_color_type (png, info);
  if (type == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb (png);
  if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth (png, info) < 8)
    png_set_expand_gray_1_2_4_to_8 (png);
  if (png_get_valid (png, info, PNG_INFO_tRNS))
    png_set_tRNS_to_alpha (png);
  png_set_interlace_handling (png);
  png_read_update_info (png, info);
}

/* Sample i of a row of 8- or 16-bit (big-endian) samples, in [0, 1]. */
static float
sample (const unsigned char *row, size_t i, int depth)
{
  if (depth == 16)
    return (float) ((row[2 * i] << 8) | row[2 * i + 1]) / 65535.0f;
  return (float) row[i] / 255.0f;
}

/* One pixel of `channels` stored samples to the requested layout. */
static void
convert_pixel (const unsigned char *row, size_t x, int channels, int depth, sdcl_png_mode mode,
               float *dst)
{
  size_t i = x * channels;
  bool has_alpha = channels == 2 || channels == 4;
  bool grey = channels <= 2;
  if (mode == SDCL_PNG_MASK)
    {
      if (has_alpha)
        dst[0] = sample (row, i + channels - 1, depth);
      else if (grey)
        dst[0] = sample (row, i, depth);
      else
        dst[0] = 0.299f * sample (row, i, depth) + 0.587f * sample (row, i + 1, depth)
                 + 0.114f * sample (row, i + 2, depth);
      return;
    }
  for (int c = 0; c < 3; c++)
    dst[c] = sample (row, grey ? i : i + c, depth);
}

/* libpng's message for a failed read, kept for the caller's message;
 * out_of_memory tells a lack of memory from a bad file. */
typedef struct {
  char text[200];
  bool out_of_memory;
} read_error;

/* Our own allocation failures, reported as such (not as a corrupt file). */
static void
no_memory (png_structp png)
{
  ((read_error *) png_get_error_ptr (png))->out_of_memory = true;
  png_error (png, "out of memory");
}

static void
on_read_error (png_structp png, png_const_charp message)
{
  read_error *e = png_get_error_ptr (png);
  snprintf (e->text, sizeof e->text, "%s", message);
  e->out_of_memory |= strstr (message, "memory") != NULL;   /* libpng's "Out of memory", ... */
  png_longjmp (png, 1);
}

static void
on_read_warning (png_structp png, png_const_charp message)
{
  (void) png;
  (void) message;
}

/* Deflate cannot expand data more than about 1032 times, so a header that
 * declares more pixel bytes than that many times the file's size is a lie
 * (truncated or hostile): refused before anything is allocated, so that a
 * 100-byte file cannot make the reader reserve gigabytes. */
#define DEFLATE_MAX_RATIO 1032u

static bool
read_pixels (png_structp png, png_infop info, FILE *fp, uint64_t file_size, sdcl_png_mode mode,
             sdcl_image *out)
{
  /* volatile: assigned between setjmp and a possible longjmp */
  unsigned char **volatile rows = NULL;
  volatile int h = 0;
  if (setjmp (png_jmpbuf (png)))
    {
      if (rows)
        for (int y = 0; y < h; y++)
          free (rows[y]);
      free (rows);
      return false;
    }
  png_init_io (png, fp);
  png_read_info (png, info);
  normalise_format (png, info);
  int w = (int) png_get_image_width (png, info);
  int height = (int) png_get_image_height (png, info);
  int channels = png_get_channels (png, info), depth = png_get_bit_depth (png, info);
  size_t rowbytes = png_get_rowbytes (png, info);
  if (((uint64_t) rowbytes + 1) * (uint64_t) height / DEFLATE_MAX_RATIO > file_size)
    {
      char why[160];
      snprintf (why, sizeof why, "it declares %dx%d pixels, more than its %llu bytes can hold",
                w, height, (unsigned long long) file_size);
      png_error (png, why);
    }
  rows = calloc ((size_t) height, sizeof *rows);
  if (!rows)
    no_memory (png);
  for (; h < height; h++) /* h counts the rows to free on error */
    if (!(rows[h] = malloc (rowbytes)))
      no_memory (png);
  png_read_image (png, rows);
  png_read_end (png, NULL);

  int out_c = mode == SDCL_PNG_MASK ? 1 : 3;
  out->width = w;
  out->height = h;
  out->channels = out_c;
  out->data = malloc ((size_t) w * h * out_c * sizeof (float));
  for (int y = 0; y < h; y++)
    {
      if (out->data)
        for (int x = 0; x < w; x++)
          convert_pixel (rows[y], (size_t) x, channels, depth, mode,
                         out->data + ((size_t) y * w + x) * out_c);
      free (rows[y]);
    }
  free (rows);
  if (!out->data)
    ((read_error *) png_get_error_ptr (png))->out_of_memory = true;
  return out->data != NULL;
}

static uint32_t
be32 (const unsigned char *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* The size the IHDR chunk (first after the signature) declares, checked
 * before libpng decodes anything: a 300 kB file may declare 16384 x 16384
 * pixels, which would cost gigabytes before the library's own size check.
 * A file whose first chunk is not IHDR is left to libpng to refuse.
 * Leaves `fp` just after the signature. */
static bool
declared_size_ok (FILE *fp, const char *path, char *msg, size_t msg_size)
{
  unsigned char chunk[16];   /* length, "IHDR", width, height */
  bool have = fread (chunk, 1, sizeof chunk, fp) == sizeof chunk
              && memcmp (chunk + 4, "IHDR", 4) == 0;
  if (fseek (fp, 8, SEEK_SET) != 0)
    {
      snprintf (msg, msg_size, "cannot read %s: %s", path, strerror (errno));
      return false;
    }
  uint32_t w = have ? be32 (chunk + 8) : 1, h = have ? be32 (chunk + 12) : 1;
  if (w >= 1 && h >= 1 && w <= SDCL_MAX_SIDE_PIXELS && h <= SDCL_MAX_SIDE_PIXELS)
    return true;
  snprintf (msg, msg_size, "%s declares %" PRIu32 "x%" PRIu32 " pixels: each side must be 1..%d",
            path, w, h, SDCL_MAX_SIDE_PIXELS);
  return false;
}

/* libpng's own allocations bounded too (defence in depth behind
 * declared_size_ok): the image size, the number of ancillary chunks kept
 * and the memory one chunk (iCCP, zTXt, ...) may take. */
static void
limit_libpng (png_structp png)
{
  png_set_user_limits (png, SDCL_MAX_SIDE_PIXELS, SDCL_MAX_SIDE_PIXELS);
  png_set_chunk_cache_max (png, 256);
  png_set_chunk_malloc_max (png, 8u << 20);
}

/* `path` opened for reading: a regular file (a FIFO would block, a device
 * never end), positioned after a valid PNG signature. */
static FILE *
open_png (const char *path, char *msg, size_t msg_size)
{
  GError *gerr = NULL;
  int fd = sdcl_file_open_regular (path, NULL, 0, NULL, &gerr);
  if (fd < 0)
    {
      snprintf (msg, msg_size, "%s", gerr->message);
      g_error_free (gerr);
      return NULL;
    }
  FILE *fp = fdopen (fd, "rb");
  if (!fp)
    {
      snprintf (msg, msg_size, "cannot read %s: %s", path, strerror (errno));
      close (fd);
      return NULL;
    }
  unsigned char sig[8];
  if (fread (sig, 1, 8, fp) != 8 || png_sig_cmp (sig, 0, 8) != 0)
    {
      fclose (fp);
      snprintf (msg, msg_size, "%s is not a PNG file", path);
      return NULL;
    }
  return fp;
}

bool
sdcl_png_read (const char *path, sdcl_png_mode mode, sdcl_image *out, char *msg,
               size_t msg_size)
{
  memset (out, 0, sizeof *out);
  FILE *fp = open_png (path, msg, msg_size);
  if (!fp)
    return false;
  if (!declared_size_ok (fp, path, msg, msg_size))
    {
      fclose (fp);
      return false;
    }
  read_error why = { "out of memory", true };
  png_structp png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &why, on_read_error,
                                            on_read_warning);
  png_infop info = png ? png_create_info_struct (png) : NULL;
  why.out_of_memory = !info;
  if (png)
    {
      png_set_sig_bytes (png, 8);
      limit_libpng (png);
    }
  struct stat sb;
  uint64_t file_size = fstat (fileno (fp), &sb) == 0 ? (uint64_t) sb.st_size : 0;
  bool ok = png && info && read_pixels (png, info, fp, file_size, mode, out);
  png_destroy_read_struct (&png, &info, NULL);
  fclose (fp);
  if (!ok)
    {
      free (out->data);
      memset (out, 0, sizeof *out);
      if (why.out_of_memory)
        snprintf (msg, msg_size, "not enough memory to read %s", path);
      else
        snprintf (msg, msg_size, "%s is not a readable PNG (corrupt or truncated): %s", path,
                  why.text);
    }
  return ok;
}

/* Bad-input cases (bad-inputs.tsv) for files that are not files, or are
 * far too large (issue 22): a FIFO, a folder, a device or a link to
 * /dev/zero where sdcl expects a config, a tokenizer file, weights, a
 * cached kernel or a PNG, and PNG headers declaring sizes sdcl refuses.
 * Each must give an error naming the file at once: a FIFO opened for
 * reading would block for ever, /dev/zero would be read without end.
 *
 * A hang fails rather than waits: API cases run under an alarm (SIGALRM
 * kills the test), CLI cases under cli_case's own.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"
#include "badinput.h"
#include "check.h"
#include "clrt_internal.h"

/* The whole group of API cases must finish well within this. */
#define API_TIMEOUT_S 300

/* What replaces a file of the tiny model. */
typedef enum { AS_FIFO, AS_FOLDER, AS_DEV_ZERO, AS_DEV_NULL, AS_SPARSE } stand_in;

/* Replaces `path` by a stand-in; AS_SPARSE is a hole-only regular file of
 * `bytes` (no disk used). */
static void
replace_by (const char *path, stand_in how, gint64 bytes)
{
  g_unlink (path);
  int rc = -1;
  switch (how)
    {
    case AS_FIFO: rc = mkfifo (path, 0600); break;
    case AS_FOLDER: rc = g_mkdir (path, 0700); break;
    case AS_DEV_ZERO: rc = symlink ("/dev/zero", path); break;
    case AS_DEV_NULL: rc = symlink ("/dev/null", path); break;
    case AS_SPARSE:
      rc = g_file_set_contents (path, "", 0, NULL) ? truncate (path, (off_t) bytes) : -1;
      break;
    }
  CHECK (rc == 0, "cannot make the stand-in %s", path);
}

/* A copy of the tiny diffusers model with `rel` replaced, loaded through
 * the API against row `id`. */
static void
folder_case (const char *id, const char *rel, stand_in how, gint64 bytes)
{
  char *dir = folder_copy (id);
  char *path = g_build_filename (dir, rel, NULL);
  replace_by (path, how, bytes);
  load_case (id, dir, NULL);
  remove_tree (dir);
  g_free (path);
  g_free (dir);
}

static void
api_cases (void)
{
  folder_case ("fifo_model_index", "model_index.json", AS_FIFO, 0);
  folder_case ("fifo_unet_config", "unet/config.json", AS_FIFO, 0);
  folder_case ("fifo_scheduler_config", "scheduler/scheduler_config.json", AS_FIFO, 0);
  folder_case ("fifo_vocab_json", "tokenizer/vocab.json", AS_FIFO, 0);
  folder_case ("fifo_merges_txt", "tokenizer/merges.txt", AS_FIFO, 0);
  folder_case ("fifo_weights", "unet/diffusion_pytorch_model.safetensors", AS_FIFO, 0);
  folder_case ("folder_weights", "vae/diffusion_pytorch_model.safetensors", AS_FOLDER, 0);
  folder_case ("device_weights", "text_encoder/model.safetensors", AS_DEV_NULL, 0);
  folder_case ("dev_zero_model_index", "model_index.json", AS_DEV_ZERO, 0);
  folder_case ("dev_zero_merges_txt", "tokenizer/merges.txt", AS_DEV_ZERO, 0);
  folder_case ("huge_config", "vae/config.json", AS_SPARSE, (gint64) 17 << 20);
  folder_case ("huge_vocab_json", "tokenizer/vocab.json", AS_SPARSE, (gint64) 33 << 20);

  char *fifo = tmp_path ("fifo.safetensors");
  replace_by (fifo, AS_FIFO, 0);
  load_case ("fifo_single_file", fifo, NULL);
  g_unlink (fifo);
  g_free (fifo);
}

/* ---- the command line -------------------------------------------------- */

static const char *const *
txt2img_args (const char *model, const char *cache_dir)
{
  static const char *args[16];
  const char *list[] = { "txt2img", "-m", model, "-p", "x", "-W", "32", "-H", "32", "--steps", "1",
                         "-o", "o.png", cache_dir ? "--cache-dir" : NULL, cache_dir, NULL };
  memcpy (args, list, sizeof list);
  return args;
}

/* Replaces every cached kernel binary in `dir` by a stand-in. */
static int
replace_cache_files (const char *dir, stand_in how)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  int n = 0;
  while (d && (name = g_dir_read_name (d)))
    if (g_str_has_suffix (name, ".clbin"))
      {
        char *p = g_build_filename (dir, name, NULL);
        replace_by (p, how, 0);
        g_free (p);
        n++;
      }
  if (d)
    g_dir_close (d);
  return n;
}

/* Cached kernels that are FIFOs or links to /dev/zero: ignored with a
 * warning naming them, rebuilt, and written over as regular files. */
static void
kernel_cache_cases (const char *model)
{
  char *cache = tmp_path ("kernel-cache");
  cli_case ("cli_kernel_cache_fresh", NULL, txt2img_args (model, cache));
  CHECK (replace_cache_files (cache, AS_FIFO) > 0, "no kernel binaries cached in %s", cache);
  cli_case ("cli_kernel_cache_fifo", NULL, txt2img_args (model, cache));
  replace_cache_files (cache, AS_DEV_ZERO);
  cli_case ("cli_kernel_cache_dev_zero", NULL, txt2img_args (model, cache));
  GDir *d = g_dir_open (cache, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      char *p = g_build_filename (cache, name, NULL);
      CHECK (g_file_test (p, G_FILE_TEST_IS_REGULAR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK),
             "%s was not rebuilt as a regular file", p);
      g_free (p);
    }
  if (d)
    g_dir_close (d);
  remove_tree (cache);
  g_free (cache);
  char *o = tmp_path ("o.png");
  g_unlink (o);
  g_free (o);
}

/* A PNG declaring w x h, padded after IEND to `pad` bytes: enough for the
 * reader's compression-ratio bound to believe the header, so only the
 * side limit, checked before decoding, can refuse it. */
static void
declared_png (const char *name, uint32_t w, uint32_t h, size_t pad)
{
  write_png (name, w, h, 0);
  char *p = tmp_path (name);
  struct stat sb;
  if (pad && stat (p, &sb) == 0 && (size_t) sb.st_size < pad)
    CHECK (truncate (p, (off_t) pad) == 0, "pad %s", p);
  g_free (p);
}

static void
png_cases (const char *model)
{
  declared_png ("side16384.png", 16384, 16384, 270000);   /* grey: 268 MB of rows, 3.2 GB of floats */
  declared_png ("wide8193.png", 8193, 8, 0);
  declared_png ("high0.png", 8, 0, 0);
  char *fifo = tmp_path ("fifo.png");
  replace_by (fifo, AS_FIFO, 0);
  static const struct {
    const char *id, *file, *option;
  } cases[] = {
    { "cli_png_16384_square", "side16384.png", "-i" },
    { "cli_png_8193_wide", "wide8193.png", "-i" },
    { "cli_png_zero_high", "high0.png", "-i" },
    { "cli_png_fifo", "fifo.png", "-i" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    cli_case (cases[i].id, NULL,
              (const char *[]) { "img2img", "-m", model, cases[i].option, cases[i].file, "-o",
                                 "o.png", NULL });
  static const char *const names[] = { "side16384.png", "wide8193.png", "high0.png", "fifo.png" };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    {
      char *p = tmp_path (names[i]);
      g_unlink (p);
      g_free (p);
    }
  g_free (fifo);
}

/* HOME is a regular file, so no cache folder can be made under it, even
 * by root (a permission-based HOME would not stop root).  PoCL then lists
 * no device; sdcl must say why and what to set. */
static void
home_cases (const char *model)
{
  const sdcl_device_info *dev = sdcl_cl_device (ctx->cl);
  if (!strstr (dev->platform, "Portable Computing Language"))
    {
      fprintf (stderr, "cli_home_unwritable*: the device is not PoCL's (%s): not applicable\n",
               dev->platform);
      find_row ("cli_home_unwritable")->done = true;
      find_row ("cli_home_unwritable_txt2img")->done = true;
      return;
    }
  char *home = tmp_path ("home-is-a-file");
  CHECK (g_file_set_contents (home, "", 0, NULL), "write %s", home);
  char *env[] = { "HOME", home, "POCL_CACHE_DIR", NULL, "XDG_CACHE_HOME", NULL, NULL };
  cli_case ("cli_home_unwritable", env, (const char *[]) { "devices", NULL });
  cli_case ("cli_home_unwritable_txt2img", env, txt2img_args (model, NULL));
  g_unlink (home);
  g_free (home);
}

int
test_files_not_files (bool api_only)
{
  alarm (API_TIMEOUT_S);   /* a hang in the library kills the test: a failure, not a wait */
  api_cases ();
  alarm (0);
  if (api_only)
    return check_failures;
  char *model = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  kernel_cache_cases (model);
  png_cases (model);
  home_cases (model);
  g_free (model);
  return check_failures;
}

/* Bad-input cases of the sdcl command (issue 22): output files that cannot
 * or must not be replaced, typed values the CLI must not swallow, stray
 * arguments, prompts beyond ASCII, and a mask blurred to nothing.  Rows in
 * bad-inputs.tsv; run by test_badinput.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "badinput.h"
#include "check.h"
#include "png_io.h"

static const char *model_dir;

/* A one-step 32x32 txt2img of the tiny model with the given options. */
#define GEN(...)                                                                              \
  (const char *[]) { "txt2img", "-m", model_dir, "-p", "x", "--steps", "1", "-W", "32", "-H", \
                     "32", __VA_ARGS__, NULL }

static void
run_case (const char *id, char **env, GSpawnChildSetupFunc setup, const char *const *args)
{
  g_free (badinput_cli_run (id, env, setup, args));
}

static char *
file_text (const char *name)
{
  char *p = badinput_tmp_path (name), *text = NULL;
  if (!g_file_get_contents (p, &text, NULL, NULL))
    text = NULL;
  g_free (p);
  return text;
}

static bool
same_bytes (const char *name_a, const char *name_b)
{
  char *pa = badinput_tmp_path (name_a), *pb = badinput_tmp_path (name_b), *a = NULL, *b = NULL;
  gsize la = 0, lb = 0;
  bool same = g_file_get_contents (pa, &a, &la, NULL) && g_file_get_contents (pb, &b, &lb, NULL)
              && la == lb && memcmp (a, b, la) == 0;
  g_free (a);
  g_free (b);
  g_free (pa);
  g_free (pb);
  return same;
}

static bool
contains_bytes (const char *name, const char *needle)
{
  char *p = badinput_tmp_path (name), *data = NULL;
  gsize len = 0;
  bool found = g_file_get_contents (p, &data, &len, NULL)
               && memmem (data, len, needle, strlen (needle)) != NULL;
  g_free (data);
  g_free (p);
  return found;
}

/* The writer's temporary files (".sdcl-XXXXXX.png.part") left in the folder. */
static int
part_files (void)
{
  char *dir = badinput_tmp_path ("");
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  int n = 0;
  while (d && (name = g_dir_read_name (d)))
    n += g_str_has_prefix (name, ".sdcl-") && g_str_has_suffix (name, ".part");
  if (d)
    g_dir_close (d);
  g_free (dir);
  return n;
}

static bool
is_char_device (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISCHR (st.st_mode);
}

/* ---- output files ------------------------------------------------------ */

/* Root passes every permission check; without these capabilities (gone
 * from the bounding set, so exec cannot give them back) it is held to the
 * mode bits as any user is. */
static void
drop_dac_override (gpointer data)
{
  (void) data;
  if (geteuid () == 0
      && (prctl (PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0
          || prctl (PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) != 0))
    _exit (126);
}

/* Any file write past 1 KiB fails with EFBIG (SIGXFSZ ignored, so it does
 * not kill): the PNG cannot be written, the rest of the run is unchanged. */
static void
limit_file_size (gpointer data)
{
  (void) data;
  signal (SIGXFSZ, SIG_IGN);
  struct rlimit rl = { 1024, 1024 };
  setrlimit (RLIMIT_FSIZE, &rl);
}

/* A private copy of /dev/full when we may make device nodes (root) and
 * open them here, else /dev/full itself (which a non-root sdcl could not
 * delete either way). */
static char *
full_device (void)
{
  char *mine = badinput_tmp_path ("full");
  if (mknod (mine, S_IFCHR | 0666, makedev (1, 7)) == 0)
    {
      int fd = open (mine, O_WRONLY);
      if (fd >= 0)
        {
          close (fd);
          return mine;
        }
      g_unlink (mine);
    }
  g_free (mine);
  return g_strdup ("/dev/full");
}

static void
test_devices (void)
{
  char *full = full_device ();
  run_case ("cli_output_device_full", NULL, NULL, GEN ("-o", full));
  CHECK (is_char_device (full), "%s is still a device after the failed write", full);
  if (!g_str_has_prefix (full, "/dev/"))
    g_unlink (full);
  g_free (full);
  run_case ("cli_output_dev_null", NULL, NULL, GEN ("-o", "/dev/null"));
  CHECK (is_char_device ("/dev/null"), "/dev/null is still a device");
}

/* The output is checked before the model is loaded: with a model that does
 * not exist the output's error (exit 5) comes first. */
static void
test_unwritable (void)
{
  char *dir = badinput_tmp_path ("outdir"), *plain = badinput_tmp_path ("plain");
  char *ro = badinput_tmp_path ("ro"), *ro_file = badinput_tmp_path ("ro.png");
  g_mkdir (dir, 0700);
  g_file_set_contents (plain, "x", 1, NULL);
  g_mkdir (ro, 0555);
  g_file_set_contents (ro_file, "previous", -1, NULL);
  g_chmod (ro_file, 0444);
  run_case ("cli_output_is_folder", NULL, NULL,
            (const char *[]) { "txt2img", "-m", "/nonexistent", "-o", "outdir", NULL });
  run_case ("cli_output_folder_missing", NULL, NULL,
            (const char *[]) { "txt2img", "-m", "/nonexistent", "-o", "nodir/o.png", NULL });
  run_case ("cli_output_parent_is_file", NULL, NULL,
            (const char *[]) { "txt2img", "-m", "/nonexistent", "-o", "plain/o.png", NULL });
  run_case ("cli_output_readonly_folder", NULL, drop_dac_override,
            (const char *[]) { "txt2img", "-m", "/nonexistent", "-o", "ro/o.png", NULL });
  run_case ("cli_output_readonly_file", NULL, drop_dac_override,
            (const char *[]) { "txt2img", "-m", "/nonexistent", "-o", "ro.png", NULL });
  char *kept = file_text ("ro.png");
  CHECK (kept && strcmp (kept, "previous") == 0, "the read-only file is untouched");
  g_free (kept);
  CHECK (g_file_test (dir, G_FILE_TEST_IS_DIR), "the folder given as -o is still there");
  g_rmdir (dir);
  g_rmdir (ro);
  g_unlink (plain);
  g_unlink (ro_file);
  g_free (dir);
  g_free (plain);
  g_free (ro);
  g_free (ro_file);
}

static void
test_replace (void)
{
  /* Replacing through a symbolic link keeps the link and the target's
   * permissions. */
  char *kept = badinput_tmp_path ("kept.png"), *link = badinput_tmp_path ("kept-link.png");
  g_file_set_contents (kept, "old", -1, NULL);
  g_chmod (kept, 0640);
  CHECK (symlink ("kept.png", link) == 0, "symlink %s", link);
  run_case ("cli_output_replace_keeps_link_and_mode", NULL, NULL, GEN ("-o", "kept-link.png"));
  struct stat st;
  CHECK (lstat (link, &st) == 0 && S_ISLNK (st.st_mode), "kept-link.png is still a link");
  CHECK (stat (kept, &st) == 0 && (st.st_mode & 07777) == 0640, "kept.png keeps mode 0640 (%o)",
         (unsigned) (st.st_mode & 07777));
  CHECK (contains_bytes ("kept.png", "\x89PNG"), "kept.png holds the new PNG");
  CHECK (part_files () == 0, "no temporary file after a write");
  g_unlink (link);
  g_unlink (kept);
  g_free (link);
  g_free (kept);

  /* A failed write (file size limit) leaves the previous file as it was
   * and no temporary file.  The run above has filled the kernel caches
   * with this run's programs: a build under the limit would fail first. */
  char *prev = badinput_tmp_path ("prev.png");
  g_file_set_contents (prev, "previous image", -1, NULL);
  run_case ("cli_output_failed_write_keeps_previous", NULL, limit_file_size,
            GEN ("-o", "prev.png"));
  char *text = file_text ("prev.png");
  CHECK (text && strcmp (text, "previous image") == 0, "prev.png survives the failed write: %s",
         text ? text : "(gone)");
  CHECK (part_files () == 0, "no temporary file after the failed write");
  g_free (text);
  g_unlink (prev);
  g_free (prev);
}

int
test_cli_output (const char *model)
{
  model_dir = model;
  int before = check_failures;
  test_devices ();
  test_unwritable ();
  test_replace ();
  return check_failures - before;
}

/* ---- values ------------------------------------------------------------ */

/* Typed values out of range, NaN, overflow or with junk: exit 2 naming the
 * option, before anything else happens. */
static const struct {
  const char *id, *command, *option, *value;
} bad_values[] = {
  { "cli_cfg_nan", "txt2img", "--cfg", "nan" },
  { "cli_cfg_negative", "txt2img", "--cfg", "-5" },
  { "cli_cfg_infinite", "txt2img", "--cfg", "1e400" },
  { "cli_strength_nan", "img2img", "--strength", "nan" },
  { "cli_strength_negative", "img2img", "--strength", "-0.5" },
  { "cli_mask_blur_nan", "inpaint", "--mask-blur", "nan" },
  { "cli_padding_negative", "inpaint", "--padding", "-5" },
  { "cli_seed_negative", "txt2img", "--seed", "-5" },
  { "cli_seed_overflow", "txt2img", "--seed", "18446744073709551616" },
  { "cli_steps_zero", "txt2img", "--steps", "0" },
  { "cli_steps_junk", "txt2img", "--steps", "20x" },
  { "cli_width_zero", "txt2img", "--width", "0" },
  { "cli_height_overflow", "txt2img", "-H", "4294967360" },
  { "cli_clip_skip_negative", "txt2img", "--clip-skip", "-1" },
  { "cli_eta_hex", "txt2img", "--eta", "0x1p3" },
  { "cli_vae_tile_below", "img2img", "--vae-tile", "-2" },
  { "cli_tune_fraction_zero", "tune", "--fraction", "0" },
  { "cli_precision_unknown", "txt2img", "--precision", "q4" },
};

static void
test_bad_values (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (bad_values); i++)
    {
      const char *cmd = bad_values[i].command;
      bool gen = strcmp (cmd, "tune") != 0;
      run_case (bad_values[i].id, NULL, NULL,
                gen ? (const char *[]) { cmd, "-m", model_dir, bad_values[i].option,
                                         bad_values[i].value, "-o", "o.png", NULL }
                    : (const char *[]) { cmd, bad_values[i].option, bad_values[i].value, NULL });
    }
  /* Typed values are used, and recorded, as typed: the largest seed and
   * guidance 0 (the bottom of its range). */
  run_case ("cli_typed_values_recorded", NULL, NULL,
            GEN ("--seed", "18446744073709551615", "--cfg", "0", "-o", "typed.png"));
  CHECK (contains_bytes ("typed.png", "guidance 0, seed 18446744073709551615,"),
         "typed.png records the typed guidance and seed");
}

static void
test_stray (void)
{
  run_case ("cli_stray_argument", NULL, NULL,
            (const char *[]) { "txt2img", "-m", model_dir, "a red circle", "-o", "o.png", NULL });
  run_case ("cli_stray_after_dashdash", NULL, NULL,
            (const char *[]) { "txt2img", "-m", model_dir, "-o", "o.png", "--", "x", NULL });
  run_case ("cli_stray_info", NULL, NULL,
            (const char *[]) { "info", "-m", model_dir, "extra", NULL });
}

/* "café", a palette emoji, Arabic and a combining accent. */
#define MIXED_PROMPT \
  "caf\xc3\xa9 \xf0\x9f\x8e\xa8 \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 e\xcc\x81"

static void
test_prompts (void)
{
  char *utf8_locale[] = { "LC_ALL", "C.UTF-8", NULL };
  char *c_locale[] = { "LC_ALL", "C", NULL };
  const char *seed[] = { "--seed", "7" };
  run_case ("cli_prompt_utf8", utf8_locale, NULL,
            GEN (seed[0], seed[1], "-p", MIXED_PROMPT, "-o", "utf8.png"));
  run_case ("cli_prompt_utf8_c_locale", c_locale, NULL,
            GEN (seed[0], seed[1], "-p", MIXED_PROMPT, "-o", "utf8-c.png"));
  CHECK (contains_bytes ("utf8.png", "iTXtprompt") && contains_bytes ("utf8.png", MIXED_PROMPT),
         "utf8.png records the prompt as UTF-8 (iTXt)");
  CHECK (same_bytes ("utf8.png", "utf8-c.png"),
         "the same prompt gives the same file under C and C.UTF-8");
  run_case ("cli_prompt_invalid_utf8", utf8_locale, NULL, GEN ("-p", "caf\xe9", "-o", "o.png"));
  run_case ("cli_negative_invalid_utf8", c_locale, NULL, GEN ("-n", "\xff\xfe", "-o", "o.png"));
}

/* ---- the mask blurred to nothing --------------------------------------- */

/* kind 0: a 32x32 pattern (the input); 1: a mask with a 2x2 white dot;
 * 2: an all-black mask. */
static void
write_image (const char *name, int kind)
{
  sdcl_image img = { 32, 32, 3, g_new0 (float, 32 * 32 * 3) };
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 32; x++)
      for (int c = 0; c < 3; c++)
        img.data[(y * 32 + x) * 3 + c] =
            kind == 0 ? (float) ((x + y + c * 7) % 32) / 31.0f   /* init */
            : kind == 1 ? (x / 2 == 8 && y / 2 == 8)             /* 2x2 dot */
                                       : 0.0f;                                  /* black */
  char *p = badinput_tmp_path (name), msg[256];
  CHECK (sdcl_png_write (p, &img, NULL, NULL, 0, msg, sizeof msg), "%s", msg);
  g_free (p);
  g_free (img.data);
}

static void
test_mask_warning (void)
{
  write_image ("init32.png", 0);
  write_image ("dot32.png", 1);
  write_image ("black32.png", 2);
#define INPAINT(mask, ...)                                                                  \
  (const char *[]) { "inpaint", "-m", model_dir, "-p", "x", "--steps", "1", "-i",           \
                     "init32.png", "-M", mask, __VA_ARGS__, "-o", "inpainted.png", NULL }
  run_case ("cli_mask_blur_empties_mask", NULL, NULL, INPAINT ("dot32.png", "--mask-blur", "1000"));
  run_case ("cli_mask_black", NULL, NULL, INPAINT ("black32.png", "--mask-blur", "4"));
  char *err = badinput_cli_run ("cli_mask_blur_small", NULL, NULL,
                                INPAINT ("dot32.png", "--mask-blur", "2"));
  CHECK (err && !strstr (err, "warning"), "no warning for a mask the blur keeps: %s", err);
  g_free (err);
#undef INPAINT
}

int
test_cli_values (const char *model)
{
  model_dir = model;
  int before = check_failures;
  test_bad_values ();
  test_stray ();
  test_prompts ();
  test_mask_warning ();
  static const char *const made[] = { "typed.png", "utf8.png", "utf8-c.png", "init32.png",
                                      "dot32.png", "black32.png", "inpainted.png" };
  for (size_t i = 0; i < G_N_ELEMENTS (made); i++)
    {
      char *p = badinput_tmp_path (made[i]);
      g_unlink (p);
      g_free (p);
    }
  return check_failures - before;
}

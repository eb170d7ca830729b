/* libFuzzer harness: the sdcl command line (tools/sdcl.c compiled with its
 * main renamed to sdcl_cli_main).  The input is a subcommand selector byte
 * and then arguments separated by newlines.  One selector instead feeds the
 * rest of the input to the option value parsers (tools/cli_options.c):
 * every numeric kind against a reference reading of decimal integers, and
 * the prompt's UTF-8 conversion.
 *
 * So that each input runs in microseconds and touches nothing outside:
 *   - OpenCL sees an empty vendor folder (OCL_ICD_VENDORS), so any input
 *     that gets as far as creating a context fails there (exit code 4)
 *     instead of loading a model;
 *   - the process works in a private temporary folder holding a.png and
 *     m.png, and arguments holding '/' are dropped, so file options name
 *     only those (or files that do not exist) and -o never leaves it;
 *   - --help and its short forms are dropped (GOption exits the process).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>

#include <math.h>

#include "cli_options.h"
#include "fuzz_common.h"
#include "png_io.h"

int sdcl_cli_main (int argc, char **argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

#define MAX_ARGS 24

static char *workdir;

static void
write_png (const char *name, int w, int h)
{
  sdcl_image img = { w, h, 3, g_new0 (float, (gsize) w * h * 3) };
  char msg[256];
  if (!sdcl_png_write (name, &img, NULL, NULL, 0, msg, sizeof msg))
    {
      fprintf (stderr, "fuzz_cli: %s\n", msg);
      exit (1);
    }
  g_free (img.data);
}

static void
remove_workdir (void)
{
  /* Only the files this harness may have created. */
  static const char *const names[] = { "a.png", "m.png", "o.png", "out.png" };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    {
      char *p = g_build_filename (workdir, names[i], NULL);
      g_unlink (p);
      g_free (p);
    }
  g_rmdir (workdir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  GError *gerr = NULL;
  workdir = g_dir_make_tmp ("sdcl-fuzz-cli-XXXXXX", &gerr);
  char *vendors = workdir ? g_build_filename (workdir, "no-vendors", NULL) : NULL;
  if (!workdir || g_mkdir (vendors, 0700) != 0 || chdir (workdir) != 0)
    {
      fprintf (stderr, "fuzz_cli: cannot set up a work folder\n");
      exit (1);
    }
  g_setenv ("OCL_ICD_VENDORS", vendors, TRUE);
  g_setenv ("OPENCL_VENDOR_PATH", vendors, TRUE);
  g_setenv ("SDCL_CACHE_DIR", "", TRUE);
  atexit (remove_workdir);
  write_png ("a.png", 16, 8);
  write_png ("m.png", 16, 8);
  g_free (vendors);
  return 0;
}

static bool
allowed (const char *arg)
{
  if (strchr (arg, '/'))
    return false;
  if (arg[0] == '-' && (strstr (arg, "help") || (arg[1] != '-' && (strchr (arg, 'h') || strchr (arg, '?')))))
    return false;
  return true;
}

/* The reference reading of an integer option: [+-]digits (no '-' when
 * unsigned), its value saturated far outside any range. */
static bool
reference_integer (const char *s, bool allow_minus, __int128 *v)
{
  bool minus = *s == '-';
  if (minus && !allow_minus)
    return false;
  if (*s == '+' || *s == '-')
    s++;
  if (!*s)
    return false;
  __int128 acc = 0;
  for (; *s; s++)
    {
      if (*s < '0' || *s > '9')
        return false;
      acc = acc * 10 + (*s - '0');
      if (acc > ((__int128) 1 << 70))
        acc = (__int128) 1 << 70;
    }
  *v = minus ? -acc : acc;
  return true;
}

#define FUZZ_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond))                                                           \
      {                                                                    \
        fprintf (stderr, "fuzz_cli: %s fails for '%s'\n", #cond, text);    \
        abort ();                                                          \
      }                                                                    \
  } while (0)

static void
fuzz_numbers (const char *text)
{
  int i = 0;
  uint64_t u = 0;
  double d = 0;
  float f = 0;
  cli_number rows[] = {
    CLI_NUMBER ("steps", 's', CLI_INT, 1, 1000, &i, NULL, NULL),
    CLI_NUMBER ("vae-tile", 0, CLI_INT, -1, 8192, &i, NULL, NULL),
    CLI_NUMBER ("clip-skip", 0, CLI_INT, 0, G_MAXINT, &i, NULL, NULL),
    CLI_NUMBER ("seed", 0, CLI_UINT64, 0, 0, &u, NULL, NULL),
    CLI_NUMBER ("cfg", 'g', CLI_FLOAT, 0, 100, &f, NULL, NULL),
    CLI_NUMBER ("eta", 0, CLI_FLOAT, 0, G_MAXFLOAT, &f, NULL, NULL),
    { "fraction", 0, CLI_DOUBLE, 0, 1, true, &d, NULL, NULL, false },
  };
  for (size_t k = 0; k < G_N_ELEMENTS (rows); k++)
    {
      cli_number *o = &rows[k];
      GError *gerr = NULL;
      bool ok = cli_number_parse (o, text, &gerr);
      FUZZ_CHECK (ok == o->given);
      FUZZ_CHECK (ok == (gerr == NULL));
      if (gerr)
        FUZZ_CHECK (strstr (gerr->message, o->long_name) != NULL);
      g_clear_error (&gerr);
      __int128 want = 0;
      bool integer = reference_integer (text, o->kind != CLI_UINT64, &want);
      if (o->kind == CLI_INT)
        FUZZ_CHECK (ok == (integer && want >= (__int128) o->min && want <= (__int128) o->max)
                    && (!ok || i == (int) want));
      else if (o->kind == CLI_UINT64)
        FUZZ_CHECK (ok == (integer && want <= (__int128) G_MAXUINT64)
                    && (!ok || u == (uint64_t) want));
      else if (ok)
        {
          double v = o->kind == CLI_FLOAT ? (double) f : d;
          FUZZ_CHECK (isfinite (v) && (o->above_min ? v > o->min : v >= o->min) && v <= o->max);
          FUZZ_CHECK (strspn (text, "+-.eE0123456789") == strlen (text));
        }
    }
  GError *gerr = NULL;
  char *utf8 = cli_text_to_utf8 ("prompt", text, &gerr);
  FUZZ_CHECK ((utf8 != NULL) == (gerr == NULL));
  FUZZ_CHECK (!utf8 || g_utf8_validate (utf8, -1, NULL));
  FUZZ_CHECK (!g_utf8_validate (text, -1, NULL) || (utf8 && strcmp (utf8, text) == 0));
  g_free (utf8);
  g_clear_error (&gerr);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const commands[] = { "txt2img", "img2img", "inpaint", "info", "version",
                                          "bogus", "tune", NULL /* the value parsers */ };
  if (size < 1)
    return 0;
  if (!commands[data[0] % G_N_ELEMENTS (commands)])
    {
      char *text = g_strndup ((const char *) data + 1, size - 1);
      fuzz_numbers (text);
      g_free (text);
      return 0;
    }
  char *argv[MAX_ARGS + 3];
  int argc = 0;
  argv[argc++] = g_strdup ("sdcl");
  argv[argc++] = g_strdup (commands[data[0] % G_N_ELEMENTS (commands)]);
  char *text = g_strndup ((const char *) data + 1, size - 1);
  char **parts = g_strsplit (text, "\n", MAX_ARGS + 1);
  for (int i = 0; parts[i] && argc < MAX_ARGS + 2; i++)
    if (allowed (parts[i]))
      argv[argc++] = g_strdup (parts[i]);
  argv[argc] = NULL;
  /* GOption rearranges argv; keep the originals to free them. */
  char *owned[MAX_ARGS + 3];
  memcpy (owned, argv, sizeof argv);
  int owned_n = argc;

  int rc = sdcl_cli_main (argc, argv);
  if (rc != 0 && rc != 2 && rc != 3 && rc != 4 && rc != 5)
    {
      fprintf (stderr, "fuzz_cli: unexpected exit code %d\n", rc);
      abort ();
    }
  for (int i = 0; i < owned_n; i++)
    g_free (owned[i]);
  g_strfreev (parts);
  g_free (text);
  return 0;
}

/* Command-line options of the sdcl tools (see cli_options.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "cli_options.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- numbers ----------------------------------------------------------- */

/* Only these characters make a decimal number: this shuts out what the C
 * parsers would also take (leading blanks, "nan", "inf", hexadecimal). */
static bool
decimal_chars (const char *s, const char *allowed)
{
  return *s != '\0' && strspn (s, allowed) == strlen (s);
}

static bool
parse_int64 (const char *s, gint64 *v)
{
  if (!decimal_chars (s, "+-0123456789"))
    return false;
  char *end = NULL;
  errno = 0;
  *v = g_ascii_strtoll (s, &end, 10);
  return errno == 0 && end != s && *end == '\0';
}

static bool
parse_uint64 (const char *s, guint64 *v)
{
  /* strtoull would wrap "-5" to 2^64 - 5. */
  if (!decimal_chars (s, "+0123456789"))
    return false;
  char *end = NULL;
  errno = 0;
  *v = g_ascii_strtoull (s, &end, 10);
  return errno == 0 && end != s && *end == '\0';
}

static bool
parse_double (const char *s, double *v)
{
  if (!decimal_chars (s, "+-.eE0123456789"))
    return false;
  char *end = NULL;
  errno = 0;
  *v = g_ascii_strtod (s, &end);
  /* ERANGE with a finite result is an underflow to (almost) zero: fine. */
  return end != s && *end == '\0' && isfinite (*v);
}

static void
refuse (const cli_number *o, const char *text, GError **error)
{
  g_autofree char *shown = g_strescape (text, NULL);
  if (o->kind == CLI_UINT64)
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--%s must be an integer from 0 to %" G_GUINT64_FORMAT ", not '%s'",
                 o->long_name, G_MAXUINT64, shown);
  else if (o->kind == CLI_INT)
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--%s must be an integer from %.0f to %.0f, not '%s'", o->long_name, o->min,
                 o->max, shown);
  else
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--%s must be a number %s %g %s %g, not '%s'", o->long_name,
                 o->above_min ? "above" : "from", o->min, o->above_min ? "and at most" : "to",
                 o->max, shown);
}

static bool
in_range (const cli_number *o, double v)
{
  return (o->above_min ? v > o->min : v >= o->min) && v <= o->max;
}

bool
cli_number_parse (cli_number *o, const char *text, GError **error)
{
  gint64 i = 0;
  guint64 u = 0;
  double d = 0.0;
  bool ok = false;
  switch (o->kind)
    {
    case CLI_INT:
      ok = parse_int64 (text, &i) && in_range (o, (double) i);
      if (ok)
        *(int *) o->value = (int) i;
      break;
    case CLI_UINT64:
      ok = parse_uint64 (text, &u);
      if (ok)
        *(uint64_t *) o->value = u;
      break;
    case CLI_DOUBLE:
    case CLI_FLOAT:
      ok = parse_double (text, &d) && in_range (o, d);
      if (ok && o->kind == CLI_FLOAT)
        *(float *) o->value = (float) d;
      else if (ok)
        *(double *) o->value = d;
      break;
    }
  if (!ok)
    refuse (o, text, error);
  o->given = o->given || ok;
  return ok;
}

bool
cli_number_given (const cli_number *rows, const char *long_name)
{
  for (const cli_number *o = rows; o->long_name; o++)
    if (strcmp (o->long_name, long_name) == 0)
      return o->given;
  return false;
}

/* ---- text -------------------------------------------------------------- */

char *
cli_text_to_utf8 (const char *option, const char *bytes, GError **error)
{
  char *s = g_locale_to_utf8 (bytes, -1, NULL, NULL, NULL);
  if (s)
    return s;
  /* The C locale reads only ASCII, but the terminal (and a script) almost
   * always speak UTF-8. */
  if (g_utf8_validate (bytes, -1, NULL))
    return g_strdup (bytes);
  const char *charset = NULL;
  g_get_charset (&charset);
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--%s is neither valid UTF-8 nor text in the locale's character set (%s)", option,
               charset);
  return NULL;
}

typedef struct {
  const char *long_name;
  char short_name;
  char **value;
} cli_text;

/* ---- the parser -------------------------------------------------------- */

/* GOption names the option as typed: "--steps" or "-s". */
static bool
names (const char *typed, const char *long_name, char short_name)
{
  if (typed[0] == '-' && typed[1] == '-')
    return strcmp (typed + 2, long_name) == 0;
  return typed[0] == '-' && typed[1] == short_name && typed[2] == '\0';
}

static gboolean
on_number (const gchar *typed, const gchar *value, gpointer data, GError **error)
{
  cli_parser *p = data;
  for (guint k = 0; k < p->numbers->len; k++)
    {
      cli_number *o = g_ptr_array_index (p->numbers, k);
      if (names (typed, o->long_name, o->short_name))
        return cli_number_parse (o, value, error);
    }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s: not in the table", typed);
  return FALSE;
}

static gboolean
on_text (const gchar *typed, const gchar *value, gpointer data, GError **error)
{
  cli_parser *p = data;
  for (guint k = 0; k < p->texts->len; k++)
    {
      cli_text *t = g_ptr_array_index (p->texts, k);
      if (!names (typed, t->long_name, t->short_name))
        continue;
      char *s = cli_text_to_utf8 (t->long_name, value, error);
      if (s)
        {
          g_free (*t->value);
          *t->value = s;
        }
      return s != NULL;
    }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s: not in the table", typed);
  return FALSE;
}

void
cli_parser_init (cli_parser *p, const char *summary)
{
  p->context = g_option_context_new (summary);
  p->main = g_option_group_new ("main", "", "", p, NULL);
  g_option_context_set_main_group (p->context, p->main);
  p->numbers = g_ptr_array_new ();
  p->texts = g_ptr_array_new_with_free_func (g_free);
}

void
cli_parser_clear (cli_parser *p)
{
  g_option_context_free (p->context);
  g_ptr_array_unref (p->numbers);
  g_ptr_array_unref (p->texts);
  memset (p, 0, sizeof *p);
}

void
cli_parser_add (cli_parser *p, const GOptionEntry *entries)
{
  g_option_group_add_entries (p->main, entries);
}

void
cli_parser_add_numbers (cli_parser *p, cli_number *rows)
{
  for (cli_number *o = rows; o->long_name; o++)
    {
      /* FILENAME: the bytes as typed, without a locale conversion. */
      GOptionEntry e[2] = { { o->long_name, o->short_name, G_OPTION_FLAG_FILENAME,
                              G_OPTION_ARG_CALLBACK, (gpointer) on_number, o->description,
                              o->arg_description },
                            { NULL } };
      g_option_group_add_entries (p->main, e);
      g_ptr_array_add (p->numbers, o);
    }
}

void
cli_parser_add_text (cli_parser *p, const char *long_name, char short_name, char **value,
                     const char *description, const char *arg_description)
{
  cli_text *t = g_new (cli_text, 1);
  *t = (cli_text) { long_name, short_name, value };
  g_ptr_array_add (p->texts, t);
  GOptionEntry e[2] = { { long_name, short_name, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK,
                          (gpointer) on_text, description, arg_description },
                        { NULL } };
  g_option_group_add_entries (p->main, e);
}

bool
cli_parser_parse (cli_parser *p, const char *prog, int *argc, char ***argv)
{
  g_autoptr (GError) gerr = NULL;
  if (!g_option_context_parse (p->context, argc, argv, &gerr))
    {
      fprintf (stderr, "%s: %s\n", prog, gerr->message);
      return false;
    }
  /* GOption leaves "--" (the end of the options) in argv. */
  int first = *argc > 1 && strcmp ((*argv)[1], "--") == 0 ? 2 : 1;
  if (*argc > first)
    {
      /* A prompt typed without --prompt would otherwise vanish silently. */
      fprintf (stderr, "%s: unexpected argument '%s'%s\n", prog, (*argv)[first],
               p->texts->len ? " (the prompt is given with --prompt)" : "");
      return false;
    }
  return true;
}

void
cli_setup_locale (void)
{
  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C");
}

/* Every code point through the text stages, against the reference's
 * normaliser and pre-tokenizer (golden/tokenizer_unicode.json, see
 * gen_tokens.py): its class (letter, number, whitespace, other symbol) and
 * its normalised text (NFC of a lone code point, whitespace, lowercase).
 *
 * sdcl classifies with GLib's Unicode tables.  Code points GLib does not
 * know yet are symbols to sdcl, whatever newer Unicode made of them; they are
 * counted and skipped, everything else must agree exactly.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <json-glib/json-glib.h>

#include "check.h"
#include "tokenizer_text.h"

#define MAX_REPORTS 20

static char
sdcl_class (gunichar c)
{
  if (sdcl_text_is_white_space (c))
    return 'W';
  if (sdcl_text_is_letter (c))
    return 'L';
  if (sdcl_text_is_number (c))
    return 'N';
  return 'S';
}

/* The class of every code point from the golden runs of [start, class]. */
static char *
expand_class_runs (JsonArray *runs)
{
  char *classes = g_malloc0 (0x110000);
  guint n = json_array_get_length (runs);
  for (guint i = 0; i < n; i++)
    {
      JsonArray *run = json_array_get_array_element (runs, i);
      gint64 start = json_array_get_int_element (run, 0);
      gint64 end = i + 1 < n
                     ? json_array_get_int_element (json_array_get_array_element (runs, i + 1), 0)
                     : 0x110000;
      char cls = json_array_get_string_element (run, 1)[0];
      for (gint64 c = start; c < end; c++)
        classes[c] = cls;
    }
  return classes;
}

/* The reference's normalisation of c alone: listed when it changes c. */
static gboolean
expected_normalization (JsonObject *normalized, gunichar c, char want_class, gunichar *out,
                        int *n)
{
  char key[16];
  g_snprintf (key, sizeof key, "%X", c);
  if (want_class == 'W')
    {
      out[0] = ' ';
      *n = 1;
    }
  else if (json_object_has_member (normalized, key))
    {
      JsonArray *text = json_object_get_array_member (normalized, key);
      *n = (int) json_array_get_length (text);
      if (*n > 8)
        return FALSE;
      for (int i = 0; i < *n; i++)
        out[i] = (gunichar) json_array_get_int_element (text, i);
    }
  else
    {
      out[0] = c;
      *n = 1;
    }
  return TRUE;
}

static gboolean
same_text (const gunichar *a, glong na, const gunichar *b, int nb)
{
  if (na != nb)
    return FALSE;
  for (int i = 0; i < nb; i++)
    if (a[i] != b[i])
      return FALSE;
  return TRUE;
}

int
main (void)
{
  const char *fixtures = g_getenv ("SDCL_FIXTURES");
  if (!fixtures)
    {
      fprintf (stderr, "SDCL_FIXTURES is not set (run through meson test)\n");
      return 1;
    }
  char *path = g_build_filename (fixtures, "golden", "tokenizer_unicode.json", NULL);
  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  if (!json_parser_load_from_file (parser, path, &error))
    {
      fprintf (stderr, "%s: %s\n", path, error->message);
      return 1;
    }
  JsonObject *golden = json_node_get_object (json_parser_get_root (parser));
  char *classes = expand_class_runs (json_object_get_array_member (golden, "class_runs"));
  JsonObject *normalized = json_object_get_object_member (golden, "normalized");

  int class_errors = 0, normalization_errors = 0, compared = 0, unknown_to_glib = 0;
  for (gunichar c = 1; c < 0x110000; c++)
    {
      if (c >= 0xD800 && c <= 0xDFFF)
        continue;
      if (g_unichar_type (c) == G_UNICODE_UNASSIGNED)
        {
          unknown_to_glib++;
          continue;
        }
      compared++;
      char want_class = classes[c];
      if (sdcl_class (c) != want_class && class_errors++ < MAX_REPORTS)
        fprintf (stderr, "U+%04X: class %c, the reference says %c\n", c, sdcl_class (c),
                 want_class);

      char utf8[8];
      gunichar want[8];
      int want_n = 0;
      CHECK (expected_normalization (normalized, c, want_class, want, &want_n),
             "U+%04X: golden normalisation too long", c);
      glong got_n;
      gunichar *got = sdcl_text_normalize (utf8, g_unichar_to_utf8 (c, utf8), &got_n);
      if (!same_text (got, got_n, want, want_n) && normalization_errors++ < MAX_REPORTS)
        fprintf (stderr, "U+%04X: normalised to %ld code points starting U+%04X, the reference "
                 "to %d starting U+%04X\n", c, got_n, got_n ? got[0] : 0, want_n, want[0]);
      g_free (got);
    }
  fprintf (stderr, "compared %d code points; skipped %d that GLib %u.%u has unassigned\n",
           compared, unknown_to_glib, glib_major_version, glib_minor_version);
  CHECK (class_errors == 0, "%d code points classified differently", class_errors);
  CHECK (normalization_errors == 0, "%d code points normalised differently",
         normalization_errors);
  /* A sanity floor: GLib's tables cover far more than Unicode 6 had. */
  CHECK (compared > 250000, "only %d code points compared", compared);

  g_free (classes);
  g_object_unref (parser);
  g_free (path);
  return check_finish ();
}

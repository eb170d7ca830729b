/* The translation catalogs load at run time and translate the plug-in's
 * strings: for each language, the menu titles and a layer name come out
 * different from the English text, valid UTF-8, and different between
 * languages.  The argument is the build's po/ folder, which holds
 * <lang>/LC_MESSAGES/sdcl.mo.
 *
 * gettext honours LANGUAGE only under a locale other than "C"; newer glibc
 * counts C.UTF-8 as "C" too, so the check runs under the first of a few
 * UTF-8 locales for which it passes, and fails if it passes under none.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-gimp-core.h"

#define N_STRINGS 4

typedef struct
{
  GString *tap;
  int      count;
  int      failures;
} Report;

static void
check (Report      *r,
       gboolean     ok,
       const gchar *what,
       const gchar *lang,
       const gchar *text)
{
  r->count++;
  g_string_append_printf (r->tap, "%s %d - %s [%s]: %s\n", ok ? "ok" : "not ok", r->count, what,
                          lang, text);
  if (!ok)
    r->failures++;
}

/* Everything checked, in one language: the three titles and a layer name. */
static gchar **
strings_in (const gchar *lang,
            const gchar *locale)
{
  gchar **out = g_new0 (gchar *, N_STRINGS + 1);

  /* gettext caches lookups per locale name, not per LANGUAGE: passing
   * through "C" makes setlocale() change the locale, which empties it. */
  setlocale (LC_ALL, "C");
  if (lang)
    g_setenv ("LANGUAGE", lang, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  setlocale (LC_ALL, lang ? locale : "C");
  for (SdclMode mode = SDCL_MODE_TXT2IMG; mode <= SDCL_MODE_INPAINT; mode++)
    out[mode] = g_strdup (g_dgettext (GETTEXT_PACKAGE, sdcl_mode_title (mode)));
  out[3] = sdcl_layer_name ("", 1234);
  return out;
}

static void
check_under (const gchar *locale,
             Report      *r)
{
  const gchar *langs[] = { "de", "ko" };
  gchar      **english = strings_in (NULL, locale);
  gchar      **seen[G_N_ELEMENTS (langs)];

  for (guint l = 0; l < G_N_ELEMENTS (langs); l++)
    {
      seen[l] = strings_in (langs[l], locale);
      for (gint i = 0; i < N_STRINGS; i++)
        {
          check (r, strcmp (seen[l][i], english[i]) != 0 && g_utf8_validate (seen[l][i], -1, NULL),
                 "translated", langs[l], seen[l][i]);
          if (l > 0)
            check (r, strcmp (seen[l][i], seen[0][i]) != 0, "differs from the first language",
                   langs[l], seen[l][i]);
        }
      check (r, strstr (seen[l][3], "1234") != NULL, "the layer name keeps the seed", langs[l],
             seen[l][3]);
    }
  g_strfreev (english);
  for (guint l = 0; l < G_N_ELEMENTS (langs); l++)
    g_strfreev (seen[l]);
}

int
main (int    argc,
      char **argv)
{
  const gchar *locales[] = { "C.UTF-8", "en_US.UTF-8", "de_DE.UTF-8", "ko_KR.UTF-8" };
  Report       r = { NULL, 0, 0 };

  if (argc != 2)
    {
      fprintf (stderr, "usage: %s LOCALEDIR\n", argv[0]);
      return 2;
    }
  sdcl_i18n_init (argv[1]);

  for (guint i = 0; i < G_N_ELEMENTS (locales); i++)
    {
      if (!setlocale (LC_ALL, locales[i]))
        {
          printf ("# locale %s is not available\n", locales[i]);
          continue;
        }
      if (r.tap)
        g_string_free (r.tap, TRUE);
      r = (Report) { g_string_new (NULL), 0, 0 };
      check_under (locales[i], &r);
      printf ("# under locale %s: %d of %d checks failed\n", locales[i], r.failures, r.count);
      if (r.failures == 0)
        break;
    }
  if (!r.tap)
    {
      printf ("not ok 1 - no UTF-8 locale is available\n1..1\n");
      return 1;
    }
  printf ("%s1..%d\n", r.tap->str, r.count);
  g_string_free (r.tap, TRUE);
  return r.failures ? 1 : 0;
}

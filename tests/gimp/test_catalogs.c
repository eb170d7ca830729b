/* The translation catalogs load at run time and translate the plug-in's
 * strings: for each language, the menu titles and a layer name come out
 * different from the English text, valid UTF-8, and different between
 * languages.  Run with LC_ALL=C.UTF-8 (so LANGUAGE is honoured) and the
 * build's po/ folder (<lang>/LC_MESSAGES/sdcl.mo) as the argument.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "sdcl-gimp-core.h"

static int failures = 0;
static int count = 0;

static void
check (gboolean     ok,
       const gchar *what,
       const gchar *lang,
       const gchar *text)
{
  count++;
  printf ("%s %d - %s [%s]: %s\n", ok ? "ok" : "not ok", count, what, lang, text);
  if (!ok)
    failures++;
}

/* Everything checked, in one language: the three titles and a layer name. */
static gchar **
strings_in (const gchar *lang)
{
  gchar **out = g_new0 (gchar *, 5);

  if (lang)
    g_setenv ("LANGUAGE", lang, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  /* setlocale() also makes gettext forget what it looked up before. */
  setlocale (LC_ALL, lang ? "" : "C");
  for (SdclMode mode = SDCL_MODE_TXT2IMG; mode <= SDCL_MODE_INPAINT; mode++)
    out[mode] = g_strdup (g_dgettext (GETTEXT_PACKAGE, sdcl_mode_title (mode)));
  out[3] = sdcl_layer_name ("", 1234);
  return out;
}

int
main (int    argc,
      char **argv)
{
  const gchar *langs[] = { "de", "ko" };
  gchar      **english, **seen[G_N_ELEMENTS (langs)];

  if (argc != 2)
    {
      fprintf (stderr, "usage: %s LOCALEDIR\n", argv[0]);
      return 2;
    }
  sdcl_i18n_init (argv[1]);
  english = strings_in (NULL);

  for (guint l = 0; l < G_N_ELEMENTS (langs); l++)
    {
      seen[l] = strings_in (langs[l]);
      for (gint i = 0; i < 4; i++)
        {
          check (strcmp (seen[l][i], english[i]) != 0 && g_utf8_validate (seen[l][i], -1, NULL),
                 "translated", langs[l], seen[l][i]);
          if (l > 0)
            check (strcmp (seen[l][i], seen[0][i]) != 0, "differs from the first language",
                   langs[l], seen[l][i]);
        }
      check (strstr (seen[l][3], "1234") != NULL, "the layer name keeps the seed", langs[l],
             seen[l][3]);
    }
  printf ("1..%d\n", count);

  g_strfreev (english);
  for (guint l = 0; l < G_N_ELEMENTS (langs); l++)
    g_strfreev (seen[l]);
  return failures ? 1 : 0;
}

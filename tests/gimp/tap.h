/* TAP output for the plug-in tests below the GIMP API (meson runs them
 * with protocol 'tap'): one "ok N - what" or "not ok N - what: detail"
 * line per check, the plan at the end.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_GIMP_TAP_H
#define SDCL_TEST_GIMP_TAP_H

#include <glib.h>
#include <stdio.h>

static int count, failures;

static inline void
check (gboolean ok, const gchar *what, const gchar *detail)
{
  count++;
  printf ("%s %d - %s%s%s\n", ok ? "ok" : "not ok", count, what, detail ? ": " : "",
          detail ? detail : "");
  failures += ok ? 0 : 1;
}

/* Prints the plan; the exit status of the test. */
static inline int
tap_finish (void)
{
  printf ("1..%d\n", count);
  return failures ? 1 : 0;
}

#endif

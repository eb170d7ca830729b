/* Minimal test helpers shared by the C tests.  A test is a program: exit 0
 * passes, 77 skips (meson), anything else fails.  Every failed check prints
 * file:line and a message; the test goes on and fails at the end. */
#ifndef SDCL_TEST_CHECK_H
#define SDCL_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0;

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      check_failures++;                                                    \
      fprintf (stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf (stderr, __VA_ARGS__);                                       \
      fputc ('\n', stderr);                                                \
    }                                                                      \
  } while (0)

/* Compares n floats: |got - want| <= atol + rtol * |want| for every element.
 * Prints the worst element.  Returns 1 when all are within tolerance. */
static inline int
check_close_impl (const char *file, int line, const char *what, const float *got,
                  const float *want, long n, double atol, double rtol)
{
  long worst = -1;
  double worst_excess = 0, max_abs = 0;
  for (long i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - (double) want[i]);
      double lim = atol + rtol * fabs ((double) want[i]);
      if (d > max_abs || isnan (d))
        max_abs = isnan (d) ? INFINITY : d;
      if (!(d <= lim) && (worst < 0 || d - lim > worst_excess || isnan (d)))
        {
          worst = i;
          worst_excess = isnan (d) ? INFINITY : d - lim;
        }
    }
  if (worst >= 0)
    {
      check_failures++;
      fprintf (stderr,
               "%s:%d: %s: element %ld got %.9g want %.9g (atol %g rtol %g); max |diff| %.3g over %ld\n",
               file, line, what, worst, got[worst], want[worst], atol, rtol, max_abs, n);
      return 0;
    }
  fprintf (stderr, "%s: max |diff| %.3g over %ld values (atol %g rtol %g)\n", what, max_abs, n,
           atol, rtol);
  return 1;
}
#define CHECK_CLOSE(what, got, want, n, atol, rtol) \
  check_close_impl (__FILE__, __LINE__, (what), (got), (want), (long) (n), (atol), (rtol))

static inline int
check_finish (void)
{
  if (check_failures)
    fprintf (stderr, "%d check(s) failed\n", check_failures);
  return check_failures ? 1 : 0;
}

#endif

/* A/B timing of the optional extension variants (tune_ext.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "tune_ext.h"
#include "clrt_internal.h"
#include "ops.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

bool
sdcl_tune_report_ok (sdcl_cl *cl, const char *what)
{
  sdcl_error e = { 0 };
  if (sdcl_cl_check (cl, &e) == SDCL_OK)
    return true;
  fprintf (stderr, "  %s failed: %s\n", what, e.message);
  sdcl_cl_clear_error (cl);
  return false;
}

static int
cmp_double (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, (size_t) n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Why variant e is not timed on this context, or NULL. */
static const char *
untimed_reason (const sdcl_cl *cl, sdcl_ext e)
{
  const char *env = g_getenv (e == SDCL_EXT_FP16 ? "SDCL_FP16" : "SDCL_SUBGROUPS");
  if (env && *env && g_ascii_strcasecmp (env, "auto") != 0)
    return e == SDCL_EXT_FP16 ? "SDCL_FP16 forces a choice" : "SDCL_SUBGROUPS forces a choice";
  if (!sdcl_cl_has_ext (cl, e))
    return "the device lacks it";
  if (sdcl_cl_cpu_kernels (cl))
    return "the CPU kernels have no variant for it";
  return NULL;
}

void
sdcl_tune_ext (sdcl_cl *cl, sdcl_ext e, sdcl_tune_pass_fn pass, const void *problems, int rounds)
{
  sdcl_ext_tuned *t = &sdcl_cl_tile_choice (cl)->ext[e];
  *t = (sdcl_ext_tuned) { .use = -1 };
  const char *variant = sdcl_ext_tuned_word (e, true), *plain = sdcl_ext_tuned_word (e, false);
  const char *why = untimed_reason (cl, e);
  if (why)
    {
      fprintf (stderr, "%s against %s: not timed (%s)\n", variant, plain, why);
      return;
    }
  fprintf (stderr, "timing %s against %s, %d interleaved rounds:", variant, plain, rounds);
  double *s[2] = { g_new (double, rounds), g_new (double, rounds) };
  bool ok = true;
  for (int r = 0; r < rounds && ok; r++)
    for (int i = 0; i < 2 && ok; i++)
      {
        /* Odd rounds time the variant first: a drift in the machine's
         * speed then favours neither. */
        const int use = (r % 2) ^ i;
        t->use = use;
        s[use][r] = pass (cl, problems);
        ok = isfinite (s[use][r]);
        fprintf (stderr, " %s %.4f s", use ? variant : plain, s[use][r]);
      }
  t->use = -1;
  if (ok)
    {
      t->seconds[0] = median (s[0], rounds);
      t->seconds[1] = median (s[1], rounds);
      t->use = t->seconds[1] < (1 - SDCL_TUNE_EXT_MARGIN) * t->seconds[0];
      fprintf (stderr, "; medians %s %.4f s, %s %.4f s: %s\n", variant, t->seconds[1], plain,
               t->seconds[0], t->use ? variant : plain);
    }
  else
    fprintf (stderr, "; a pass failed: not chosen\n");
  g_free (s[0]);
  g_free (s[1]);
}

/* A tensor of n values in [-0.5, 0.5). */
static void
upload_pattern (sdcl_cl *cl, sdcl_t *t, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
  sdcl_t_alloc (cl, t, nd, d0, d1, d2, d3);
  float *data = g_new (float, t->n);
  for (int64_t i = 0; i < t->n; i++)
    data[i] = (float) ((i * 7919) % 1999) / 1999.0f - 0.5f;
  sdcl_t_upload (cl, t, data);
  g_free (data);
}

double
sdcl_tune_norm_seconds (sdcl_cl *cl, const void *problems)
{
  const int C = ((const int *) problems)[0], tokens = ((const int *) problems)[1];
  const int W = MAX (1, tokens / 32);
  float *ones = g_new (float, C);
  for (int i = 0; i < C; i++)
    ones[i] = 1;
  const int64_t shape[1] = { C };
  sdcl_w gamma, beta;
  sdcl_w_upload (cl, &gamma, SDCL_WT_F32, 1, shape, ones, SDCL_SRC_F32);
  sdcl_w_upload (cl, &beta, SDCL_WT_F32, 1, shape, ones, SDCL_SRC_F32);
  g_free (ones);
  sdcl_t img, rows;
  upload_pattern (cl, &img, 4, 1, C, 32, W);
  upload_pattern (cl, &rows, 2, 32 * W, C, 0, 0);
  double best = INFINITY;
  for (int r = -1; r < 2 && sdcl_cl_finish (cl); r++)
    {
      const gint64 t0 = g_get_monotonic_time ();
      op_group_norm (cl, &img, &gamma, &beta, 32, 1e-5f, false, &img);   /* in place: only time */
      op_layer_norm (cl, &rows, &gamma, &beta, 1e-5f, &rows);
      if (!sdcl_cl_finish (cl))
        break;
      if (r >= 0)
        best = MIN (best, (double) (g_get_monotonic_time () - t0) / 1e6);
    }
  sdcl_t_release (cl, &img);
  sdcl_t_release (cl, &rows);
  sdcl_w_free (&gamma);
  sdcl_w_free (&beta);
  return sdcl_tune_report_ok (cl, "the norms") ? best : INFINITY;
}

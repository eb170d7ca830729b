/* Helpers shared by the network tests: the device, the tiny-sd fixture
 * models, golden tensors and comparisons.  A missing device or fixture
 * skips the test (exit 77) with a message saying why.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_NETS_FIXTURE_H
#define SDCL_TEST_NETS_FIXTURE_H

#include <glib.h>
#include <string.h>

#include "check.h"
#include "families/family.h"
#include "model_files.h"
#include "nets.h"
#include "safetensors.h"

#define SKIP 77

static inline void G_GNUC_NORETURN
skip_test (const char *why)
{
  fprintf (stderr, "SKIP: %s\n", why);
  exit (SKIP);
}

static inline sdcl_cl *
fixture_cl (void)
{
  sdcl_error err = { 0 };
  sdcl_cl *cl = sdcl_cl_new (NULL, NULL, &err);
  if (!cl)
    {
      fprintf (stderr, "no OpenCL device: %s\n", err.message);
      skip_test ("no OpenCL device");
    }
  return cl;
}

/* $SDCL_FIXTURES/<rel>; skips the test when the variable is unset. */
static inline char *
fixture_path (const char *rel)
{
  const char *root = getenv ("SDCL_FIXTURES");
  if (!root)
    skip_test ("SDCL_FIXTURES is not set");
  return g_build_filename (root, rel, NULL);
}

static inline sdcl_model_files *
fixture_model (const char *rel)
{
  char *path = fixture_path (rel);
  sdcl_model_files *mf = NULL;
  sdcl_error err = { 0 };
  if (sdcl_model_files_open (path, &mf, &err) != SDCL_OK)
    {
      fprintf (stderr, "cannot open %s: %s\n", path, err.message);
      exit (1);
    }
  g_free (path);
  return mf;
}

static inline sdcl_st_file *
fixture_golden (const char *rel)
{
  char *path = fixture_path (rel);
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  if (sdcl_st_open (path, &f, &err) != SDCL_OK)
    {
      fprintf (stderr, "cannot open %s: %s\n", path, err.message);
      exit (1);
    }
  g_free (path);
  return f;
}

/* A golden tensor as float32 (g_free it); its shape goes to t_out. */
static inline float *
golden_floats (sdcl_st_file *f, const char *name, const sdcl_st_tensor **t_out)
{
  const sdcl_st_tensor *t = sdcl_st_find (f, name);
  if (!t)
    {
      fprintf (stderr, "golden tensor %s missing in %s\n", name, sdcl_st_path (f));
      exit (1);
    }
  float *data = g_new (float, t->n_elements);
  if (!sdcl_st_to_f32 (t, data))
    {
      fprintf (stderr, "golden tensor %s is not a float tensor\n", name);
      exit (1);
    }
  if (t_out)
    *t_out = t;
  return data;
}

/* Uploads a golden tensor to the device with its own shape. */
static inline sdcl_t
golden_device (sdcl_cl *cl, sdcl_st_file *f, const char *name)
{
  const sdcl_st_tensor *t;
  float *data = golden_floats (f, name, &t);
  sdcl_t d;
  sdcl_t_from_host (cl, &d, t->nd, t->shape, data);
  g_free (data);
  return d;
}

/* A device tensor filled with a smooth deterministic pattern in [-1, 1]. */
static inline sdcl_t
filled_tensor (sdcl_cl *cl, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
  sdcl_t t;
  sdcl_t_alloc (cl, &t, nd, d0, d1, d2, d3);
  float *host = g_new (float, t.n > 0 ? t.n : 1);
  for (int64_t i = 0; i < t.n; i++)
    host[i] = sinf (0.37f * (float) i);
  sdcl_t_upload (cl, &t, host);
  g_free (host);
  return t;
}

static inline float *
download (sdcl_cl *cl, const sdcl_t *t)
{
  float *host = g_new (float, t->n > 0 ? t->n : 1);
  sdcl_t_download (cl, t, host);
  return host;
}

static inline double
value_range (const float *v, int64_t n)
{
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    {
      lo = v[i] < lo ? v[i] : lo;
      hi = v[i] > hi ? v[i] : hi;
    }
  return (double) hi - (double) lo;
}

/* Exact equality of two runs (same weights after rounding, same kernels). */
static inline int
check_identical (const char *what, const float *a, const float *b, int64_t n)
{
  return CHECK_CLOSE (what, a, b, n, 0.0, 0.0);
}

static inline void
check_shape (const char *what, const sdcl_t *t, int nd, const int64_t *shape)
{
  CHECK (t->buf != NULL, "%s: no output", what);
  CHECK (t->nd == nd, "%s: nd %d, want %d", what, t->nd, nd);
  for (int i = 0; i < nd && i < t->nd; i++)
    CHECK (t->d[i] == shape[i], "%s: dim %d is %lld, want %lld", what, i, (long long) t->d[i],
           (long long) shape[i]);
}

#define CHECK_OK(st, err)                                                          \
  do {                                                                             \
    sdcl_status st_ = (st);                                                        \
    if (st_ != SDCL_OK)                                                            \
      {                                                                            \
        fprintf (stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #st,   \
                 (err).message, sdcl_status_name (st_));                           \
        exit (1);                                                                  \
      }                                                                            \
  } while (0)

#endif /* SDCL_TEST_NETS_FIXTURE_H */

/* Moving test data to and from the device and checking the device's
 * error state after an op, shared by the kernel tests.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_DEVICE_HELPERS_H
#define SDCL_TEST_DEVICE_HELPERS_H

#include "check.h"
#include "clrt.h"

#include <glib.h>

/* Waits for the queued work; a device error is a failed check naming
 * `what`, cleared so that the next case runs on a clean context.  False
 * then: the output holds nothing to compare. */
static inline bool
device_ok (sdcl_cl *cl, const char *what)
{
  sdcl_cl_finish (cl);
  sdcl_error err = { 0 };
  if (sdcl_cl_check (cl, &err) == SDCL_OK)
    return true;
  CHECK (false, "%s: device error %d: %s", what, err.code, err.message);
  sdcl_cl_clear_error (cl);
  return false;
}

/* A new device tensor of the given shape holding `host`. */
static inline void
to_device (sdcl_cl *cl, sdcl_t *t, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
           const float *host)
{
  sdcl_t_alloc (cl, t, nd, d0, d1, d2, d3);
  sdcl_t_upload (cl, t, host);
}

/* The tensor's values in a new host array (g_free it); at least one
 * element, so that an empty tensor still gives a pointer to free. */
static inline float *
from_device (sdcl_cl *cl, const sdcl_t *t)
{
  float *p = g_new0 (float, MAX (t->n, 1));
  sdcl_t_download (cl, t, p);
  return p;
}

#endif

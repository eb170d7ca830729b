/* Helpers shared by the host side of the ops (ops.c, gemm.c,
 * gemm_clblast.c): kernel arguments with sticky errors and launch sizes.
 * Internal to the device layer.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_OPS_UTIL_H
#define SDCL_OPS_UTIL_H

#include "ops.h"

/* Sets kernel arguments in order; the first failure becomes the sticky
 * error and later calls do nothing. */
typedef struct {
  sdcl_cl *cl;
  cl_kernel k;
  cl_uint next;
} sdcl_args;

static inline sdcl_args
sdcl_args_begin (sdcl_cl *cl, cl_kernel k)
{
  sdcl_args a = { cl, k, 0 };
  return a;
}

static inline void
sdcl_arg (sdcl_args *a, size_t size, const void *value)
{
  cl_uint index = a->next++;
  if (!a->k || !sdcl_cl_ok (a->cl))
    return;
  sdcl_cl_try (a->cl, clSetKernelArg (a->k, index, size, value), "clSetKernelArg");
}

static inline void
sdcl_arg_mem (sdcl_args *a, cl_mem m)
{
  sdcl_arg (a, sizeof m, &m);
}

static inline void
sdcl_arg_int (sdcl_args *a, int v)
{
  cl_int x = v;
  sdcl_arg (a, sizeof x, &x);
}

static inline void
sdcl_arg_ulong (sdcl_args *a, uint64_t v)
{
  cl_ulong x = v;
  sdcl_arg (a, sizeof x, &x);
}

static inline void
sdcl_arg_long (sdcl_args *a, int64_t v)
{
  cl_long x = v;
  sdcl_arg (a, sizeof x, &x);
}

static inline void
sdcl_arg_float (sdcl_args *a, float v)
{
  cl_float x = v;
  sdcl_arg (a, sizeof x, &x);
}

/* A __local buffer of `bytes`. */
static inline void
sdcl_arg_local (sdcl_args *a, size_t bytes)
{
  sdcl_arg (a, bytes, NULL);
}

static inline size_t
sdcl_round_up (size_t n, size_t multiple)
{
  return (n + multiple - 1) / multiple * multiple;
}

static inline size_t
sdcl_div_up (size_t n, size_t d)
{
  return (n + d - 1) / d;
}

/* The largest work-group this kernel can run with on this device. */
static inline size_t
sdcl_kernel_max_wg (sdcl_cl *cl, cl_kernel k)
{
  size_t n = 0;
  cl_device_id dev;
  clGetCommandQueueInfo (sdcl_cl_queue (cl), CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
  if (clGetKernelWorkGroupInfo (k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof n, &n, NULL)
      != CL_SUCCESS || n == 0)
    n = sdcl_cl_device (cl)->max_work_group_size;
  return n ? n : 1;
}

/* The largest power of two <= min (limit, cap). */
static inline size_t
sdcl_pow2_at_most (size_t limit, size_t cap)
{
  size_t n = 1, lim = limit < cap ? limit : cap;
  while (n * 2 <= lim)
    n *= 2;
  return n;
}

/* Weight element type as a kernel flag / build option. */
static inline int
sdcl_w_is_half (const sdcl_w *w)
{
  return w && w->type == SDCL_WT_F16;
}

/* The GEMM kernels' build option for a weight type. */
static inline const char *
sdcl_wtype_options (sdcl_wtype type)
{
  return type == SDCL_WT_F16 ? "-DWEIGHT_HALF" : type == SDCL_WT_Q8 ? "-DWEIGHT_Q8" : "";
}

static inline const char *
sdcl_weight_options (const sdcl_w *w)
{
  return sdcl_wtype_options (w->type);
}

/* Build options of eltwise.cl (one variant per device): the transpose tile
 * is 16 x 16 work-items where the device allows 256 per group. */
static inline const char *
sdcl_eltwise_options (sdcl_cl *cl)
{
  return sdcl_cl_device (cl)->max_work_group_size >= 256 ? "-DTILE=16" : "-DTILE=8";
}

static inline size_t
sdcl_eltwise_tile (sdcl_cl *cl)
{
  return sdcl_cl_device (cl)->max_work_group_size >= 256 ? 16 : 8;
}

#endif

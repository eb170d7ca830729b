/* GroupNorm statistics split over work-groups (see norm_wg.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "norm_wg.h"
#include "extensions.h"
#include "ops_util.h"

#include <glib.h>

/* Values per work-item and slice at least (fewer slices than that leave
 * the merge's and the launch's overhead larger than the reduction), and
 * at most this many slices per group: 32 groups x 64 slices is 2048
 * work-groups, enough for the largest GPUs. */
enum { VALUES_PER_ITEM = 32, MAX_SLICES = 64 };

bool
sdcl_group_norm_stats_split (sdcl_cl *cl, cl_mem x, cl_mem stats, int64_t groups, uint64_t count,
                             float eps)
{
  if (sdcl_cl_cpu_kernels (cl))
    return false;
  size_t wg;
  cl_kernel kp = sdcl_reduce_kernel (cl, "group_norm_partial", 256, &wg);
  cl_kernel km = sdcl_cl_kernel (cl, "group_norm_merge", "");
  if (!kp || !km)
    return true;   /* sticky error */
  const uint64_t min_len = (uint64_t) wg * VALUES_PER_ITEM;
  uint64_t slices = CLAMP (count / min_len, 1, MAX_SLICES);
  const uint64_t len = (count + slices - 1) / slices;
  slices = (count + len - 1) / len;   /* no empty slice */
  sdcl_t part;
  sdcl_t_alloc (cl, &part, 1, 3 * groups * (int64_t) slices, 0, 0, 0);
  sdcl_args a = sdcl_args_begin (cl, kp);
  sdcl_arg_mem (&a, x);
  sdcl_arg_mem (&a, part.buf);
  sdcl_arg_ulong (&a, count);
  sdcl_arg_ulong (&a, len);
  sdcl_arg (&a, sizeof (cl_uint), &(cl_uint) { (cl_uint) slices });
  sdcl_arg_local (&a, wg * sizeof (float));
  size_t global = wg * (size_t) (groups * (int64_t) slices);
  sdcl_cl_run (cl, kp, 1, &global, &wg);

  a = sdcl_args_begin (cl, km);
  sdcl_arg_mem (&a, part.buf);
  sdcl_arg_mem (&a, stats);
  sdcl_arg (&a, sizeof (cl_uint), &(cl_uint) { (cl_uint) slices });
  sdcl_arg (&a, sizeof (cl_uint), &(cl_uint) { (cl_uint) groups });
  sdcl_arg_float (&a, eps);
  size_t local = 64, global_m = sdcl_round_up ((size_t) groups, local);
  sdcl_cl_run (cl, km, 1, &global_m, &local);
  /* The in-order queue runs every later use of this buffer after these kernels. */
  sdcl_t_release (cl, &part);
  return true;
}

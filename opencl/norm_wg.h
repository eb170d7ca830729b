/* GroupNorm statistics for GPUs (kernels/norm_wg.cl).  Internal to the
 * device layer (op_group_norm in ops.c).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_NORM_WG_H
#define SDCL_NORM_WG_H

#include "ops.h"

/* With the portable kernels (sdcl_cl_cpu_kernels false: GPUs): writes
 * stats [2 * groups] (mean, 1 / sqrt (var + eps) per group of `count`
 * contiguous values of x), each group split over several work-groups,
 * and returns true.  With the CPU kernels it does nothing and returns
 * false: the caller runs group_norm_stats, one work-group per group. */
bool sdcl_group_norm_stats_split (sdcl_cl *cl, cl_mem x, cl_mem stats, int64_t groups,
                                  uint64_t count, float eps);

#endif

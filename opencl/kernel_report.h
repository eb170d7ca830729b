/* The kernels sdcl runs on a context's device and why (sdcl-bench
 * --kernels, tools/device-report.sh).  Internal to the device layer and
 * its tools.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_KERNEL_REPORT_H
#define SDCL_KERNEL_REPORT_H

#include "clrt.h"

/* A few lines of text (g_free it): device and limits, the extensions GPU
 * kernels could use, the kernel set, GEMM backend and kernel with its tile
 * configuration per weight type, the attention kernel per head width.
 * Builds the kernels it reports on (so it takes seconds the first time);
 * a build failure ends the text with an "error" line. */
char *sdcl_cl_kernel_report (sdcl_cl *cl);

#endif

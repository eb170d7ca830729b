/* Optional OpenCL extensions: half arithmetic (cl_khr_fp16) in the GPUs'
 * tiled GEMM and convolution, sub-group reductions (cl_khr_subgroups,
 * cl_intel_subgroups) in the norms' work-group sums.  The plain OpenCL
 * 1.2 kernels are always built and stay the fallback; this file is the
 * one place that decides which variant runs (docs/performance.md,
 * "Optional extensions").
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_EXTENSIONS_H
#define SDCL_EXTENSIONS_H

#include "clrt.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  SDCL_EXT_FP16 = 0,   /* SDCL_FP16 */
  SDCL_EXT_SUBGROUPS,  /* SDCL_SUBGROUPS */
  SDCL_N_EXTS
} sdcl_ext;

/* Bit (1 << e) set for each extension the device reports, and
 * SDCL_EXT_CL3_SUBGROUPS when its sub-groups come as the OpenCL C 3.0
 * feature __opencl_c_subgroups without either extension (Mesa's rusticl):
 * those programs are then built with -cl-std=CL3.0. */
#define SDCL_EXT_CL3_SUBGROUPS (1u << 8)
unsigned sdcl_ext_probe (cl_device_id dev);
/* What sdcl_ext_probe found for the context's device (clrt). */
unsigned sdcl_cl_ext_bits (const sdcl_cl *cl);
/* Whether `name` is a whole word of the extension string `extensions`. */
bool sdcl_ext_listed (const char *extensions, const char *name);
/* The environment's values are auto, off or on (else false and why). */
bool sdcl_ext_env_valid (char *why, size_t why_size);
/* At context creation: false and why when the environment forces an
 * extension (=on) that the device lacks. */
bool sdcl_ext_env_satisfied (const sdcl_cl *cl, char *why, size_t why_size);

/* The device reports the extension. */
bool sdcl_cl_has_ext (const sdcl_cl *cl, sdcl_ext e);
/* The kernels use it: SDCL_FP16 / SDCL_SUBGROUPS =on forces it (the
 * context could only be created if the device has it), =off never; auto
 * (the default) where the device has it and runs the portable kernels
 * (GPUs), since the CPU kernels have no variant that uses it, and there
 * as the device's tuning file says when `sdcl tune` timed it
 * (sdcl_cl_tuned ()->ext[e]; an entry for a device that lacks the
 * extension is ignored). */
bool sdcl_cl_uses_ext (const sdcl_cl *cl, sdcl_ext e);
/* Why sdcl_cl_uses_ext answered as it did, for the kernel report: written
 * to buf (returned). */
const char *sdcl_ext_reason (const sdcl_cl *cl, sdcl_ext e, char *buf, size_t size);
/* The tuning file's word for the variant ("half", "subgroups") or the
 * plain kernels ("fp32", "plain"). */
const char *sdcl_ext_tuned_word (sdcl_ext e, bool variant);
const char *sdcl_ext_label (sdcl_ext e);   /* "cl_khr_fp16", "cl_khr_subgroups" */

/* Build options of the programs whose work-group sums use sub-groups
 * (norm.cl, norm_wg.cl): "-DSDCL_SUBGROUPS" (with -cl-std=CL3.0 where
 * sub-groups are only the 3.0 feature) or "". */
const char *sdcl_reduce_options (const sdcl_cl *cl);
/* The kernel `name` of norm.cl / norm_wg.cl that sums over its
 * work-group, in the variant of sdcl_reduce_options, and in *wg its group
 * size: the largest power of two at most `want` and the kernel's limit.
 * The plain variant for groups of one work-item.  NULL on failure (sticky
 * error). */
cl_kernel sdcl_reduce_kernel (sdcl_cl *cl, const char *name, size_t want, size_t *wg);
/* Build option of gemm_tiled / conv_tiled for weights of `type`:
 * " -DHALF_MATH" (F16 weights, half arithmetic in use) or "". */
const char *sdcl_half_math_option (const sdcl_cl *cl, sdcl_wtype type);

#endif

/* `sdcl tune`'s timing of the optional extension variants (extensions.h)
 * against the plain OpenCL 1.2 kernels: interleaved A/B rounds, medians,
 * the verdict stored in the context's sdcl_tile_choice.ext (and so in the
 * tuning file, gemm_config.h).  Internal to the device layer.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TUNE_EXT_H
#define SDCL_TUNE_EXT_H

#include "clrt.h"
#include "extensions.h"

/* Prints ("  <what> failed: <message>") and clears the context's sticky
 * error, if any; true when there was none.  For every timed pass of
 * `sdcl tune` (gemm_tune.c too). */
bool sdcl_tune_report_ok (sdcl_cl *cl, const char *what);

/* Seconds of one pass over some work, with whichever variant the context
 * uses at the time (infinite on failure). */
typedef double (*sdcl_tune_pass_fn) (sdcl_cl *cl, const void *problems);

/* The variant is faster when its median is below the plain kernels' by
 * more than this fraction: closer is the timing's noise, and the plain
 * kernels are the reference path (half math also rounds activations). */
#define SDCL_TUNE_EXT_MARGIN 0.02

/* Times `pass` with and without variant e in `rounds` interleaved rounds
 * (the order alternates) and sets sdcl_cl_tile_choice (cl)->ext[e] to the
 * verdict and the two medians.  Untimed (use -1), with a line on stderr
 * saying why, when the device lacks the extension, runs the CPU kernels
 * (no variant) or SDCL_FP16 / SDCL_SUBGROUPS forces a choice, or when a
 * pass failed. */
void sdcl_tune_ext (sdcl_cl *cl, sdcl_ext e, sdcl_tune_pass_fn pass, const void *problems,
                    int rounds);

/* Seconds of GroupNorm (32 groups) over [1, channels, 32, tokens / 32]
 * and LayerNorm over [tokens, channels], the best of two runs after a
 * warm-up: the work of the sub-group reductions.  `problems` points to
 * two ints, channels and tokens. */
double sdcl_tune_norm_seconds (sdcl_cl *cl, const void *problems);

#endif

/* C entry to CLBlast's C++-only tuner (clblast_tune.cc; built when CLBlast
 * and a C++ compiler are found: SDCL_HAVE_CLBLAST_TUNE).  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CLBLAST_TUNE_H
#define SDCL_CLBLAST_TUNE_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status of a tune that ended without CLBlast's say (an exception, or a
 * result lacking one of the requested parameters). */
#define SDCL_CLBLAST_TUNE_INCOMPLETE (-9000)

/* clblast::TuneXgemm<float> on `queue` for an m x n x k problem (m and n
 * multiples of 128: the tuner's largest tile), trying `fraction` of its
 * configurations at random.  CLBlast 1.5 searches its two kernel variants
 * in turn (GEMMK 0, then GEMMK 1), each over `fraction` of its own space,
 * and the second search overwrites the first's result: what comes back is
 * the best GEMMK 1 configuration found.  Stores the `count` values named
 * in `names` into `values`.  Returns CLBlast's status (0 = success). */
int sdcl_clblast_tune_xgemm (cl_command_queue queue, size_t m, size_t n, size_t k,
                             double fraction, int count, const char *const *names,
                             size_t *values);

#ifdef __cplusplus
}
#endif

#endif

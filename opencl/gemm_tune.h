/* `sdcl tune`: tunes CLBlast's Xgemm kernel for one device, measures
 * sdcl's own GEMM against CLBlast (built-in and tuned parameters) on
 * Stable-Diffusion-shaped problems, picks the faster backend and stores
 * the choice with the parameters in the device's tuning file
 * (gemm_config.h), which every later context on that device applies.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GEMM_TUNE_H
#define SDCL_GEMM_TUNE_H

#include "clrt.h"
#include "sdcl.h"

/* Tests: times the portable kernels' tile configurations as `sdcl tune`
 * does, on its smallest GEMM shape and 128 tokens of attention, and leaves
 * the context's tile choice (sdcl_cl_tile_choice) at the fastest of each;
 * then the extension variants the device has against the plain kernels
 * (tune_ext.h), leaving their verdicts there too. */
void sdcl_tune_tiles_quick (sdcl_cl *cl);

/* sdcl_gemm_tune, sdcl_gemm_tune_quick and SDCL_TUNE_DEFAULT_FRACTION are
 * declared in sdcl.h (public: a host may offer the tune too).  SDCL_TUNE_DEFAULT_FRACTION:
 * CLBlast 1.5's two Xgemm search spaces hold about 137,000 configurations
 * on a device allowing 1024 work-items and 32 KiB of local memory, so
 * 0.001 is about 137 kernel builds (about 1 s each with PoCL here, up to
 * 15 s on slower CPUs). */

#endif

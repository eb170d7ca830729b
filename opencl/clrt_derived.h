/* Weights derived from an uploaded weight and kept with it (the Winograd
 * transform of a convolution's weights, opencl/conv_winograd.c): a cache
 * per context, keyed by the source weight's first buffer.  sdcl_w_free of
 * the source frees what was derived from it, so the derived copy lives
 * exactly as long as the weight does.  The engine keeps them only where
 * every weight stays on the device anyway (resident models,
 * sdcl_cl_set_derived_kept); otherwise they are made at each use into one
 * reused scratch buffer.  The kept ones' bytes count as weights
 * (sdcl_cl_weight_bytes).
 * Internal to the device layer.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CLRT_DERIVED_H
#define SDCL_CLRT_DERIVED_H

#include "clrt.h"

/* The weight derived from `src`, or NULL when none is kept. */
sdcl_w *sdcl_cl_derived_weight (sdcl_cl *cl, const sdcl_w *src);
/* A new, uninitialised derived weight of `type` and shape (panel layout as
 * `panel`, one part of `bytes`) for `src`, which the caller fills with a
 * kernel.  NULL, with no error, where it would take more than half of the
 * device memory that weights and pooled activations leave free: it is a
 * cache, and the caller then runs without it. */
sdcl_w *sdcl_cl_derived_weight_new (sdcl_cl *cl, const sdcl_w *src, sdcl_wtype type, int nd,
                                    const int64_t *shape, int panel, size_t bytes);
/* Whether derived weights are kept at all (the default) or made again at
 * every use into sdcl_cl_derived_scratch: sdcl_cl_set_derived_kept. */
bool sdcl_cl_derived_kept (const sdcl_cl *cl);
/* A buffer of at least `bytes` for a derived weight made per use, kept by
 * the context (grown when a larger one is asked for, freed by
 * sdcl_cl_pool_trim) so that making one per convolution allocates nothing.
 * Counted as activation memory (sdcl_cl_pool_bytes), not as weights.
 * Its contents are the last user's; the in-order queue orders the uses.
 * NULL, with no error, where it does not fit (as sdcl_cl_derived_weight_new). */
cl_mem sdcl_cl_derived_scratch (sdcl_cl *cl, size_t bytes);
/* Frees the scratch buffer. */
void sdcl_cl_derived_scratch_free (sdcl_cl *cl);
/* Drops what was derived from the weight whose first buffer is `key`
 * (sdcl_w_free calls it). */
void sdcl_cl_derived_forget (sdcl_cl *cl, cl_mem key);
/* Drops every derived weight and the scratch (sdcl_cl_free). */
void sdcl_cl_derived_clear (sdcl_cl *cl);
/* Device bytes the derived weights hold (part of sdcl_cl_weight_bytes). */
uint64_t sdcl_cl_derived_bytes (const sdcl_cl *cl);

#endif

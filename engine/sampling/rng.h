/* Gaussian noise generators.  Internal.
 *
 * SDCL_RNG_TORCH reproduces torch.randn(shape, generator=torch.Generator()
 * .manual_seed(seed)) on the CPU for float32 tensors (docs/diffusion.md §Random numbers):
 * MT19937 seeded like torch, 24-bit uniforms, Box-Muller in blocks of 16
 * (8 cos / 8 sin), the tail block re-drawn; tensors of fewer than 16
 * elements use torch's scalar double path.  Successive draws continue the
 * same stream, as successive torch.randn calls on one generator do.
 *
 * SDCL_RNG_PHILOX is sdcl's own generator: Philox4x32-10 keyed by the seed;
 * element i of draw number k takes counter (i/2, k, 0, 0) ... see rng.c for
 * the exact definition, which is part of sdcl's compatibility promise.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_RNG_H
#define SDCL_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "sdcl.h"

typedef struct {
  sdcl_rng kind;
  uint64_t seed;
  /* MT19937 state (torch mode) */
  uint32_t mt[624];
  int mti;
  /* torch mode: the n < 16 path makes normals in pairs and keeps the second
   * one for the next scalar draw, as torch's CPU generator does */
  bool has_cached_normal;
  double cached_normal;
  /* draw counter (philox mode) */
  uint64_t draw;
} sdcl_randn;

void sdcl_randn_init (sdcl_randn *r, sdcl_rng kind, uint64_t seed);
/* Fills out[0..n-1] with standard normals (one "torch.randn" call).  n <= 0
 * does nothing and does not count as a draw. */
void sdcl_randn_fill (sdcl_randn *r, float *out, int64_t n);

#endif /* SDCL_RNG_H */

/* Chunks -> text-encoder states, with A1111's emphasis.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "prompt.h"

#include <string.h>

#include "nn.h"

/* The mean over the chunk's states is kept: A1111 ("original" emphasis)
 * multiplies each token's states by its weight, then rescales all of them
 * by old_mean / new_mean.  Means are taken in double: a chunk of 77 x 1280
 * floats summed in float would drift with the order of the sum. */
void
sdcl_prompt_emphasis (float *z, const float *weights, int tokens, int width)
{
  double before = 0.0, after = 0.0;
  for (int t = 0; t < tokens; t++)
    for (int i = 0; i < width; i++)
      {
        float *v = &z[(size_t) t * width + i];
        before += *v;
        *v *= weights[t];
        after += *v;
      }
  if (after == 0.0)
    return;   /* nothing left to rescale (every state weighed 0) */
  float scale = (float) (before / after);
  for (size_t i = 0; i < (size_t) tokens * width; i++)
    z[i] *= scale;
}

static bool
weighted (const float *weights, int n)
{
  for (int i = 0; i < n; i++)
    if (weights[i] != 1.0f)
      return true;
  return false;
}

/* Emphasis on the host (a chunk is 77 x width floats: nothing next to a
 * UNet step), for the chunks that have weights other than 1. */
static void
apply_emphasis (sdcl_cl *cl, const sdcl_prompt_chunks *c, sdcl_t *hidden)
{
  const int64_t width = hidden->d[2], per_chunk = SDCL_CLIP_CONTEXT * width;
  if (!weighted (c->weights, c->n_chunks * SDCL_CLIP_CONTEXT))
    return;
  float *z = g_new (float, hidden->n);
  sdcl_t_download (cl, hidden, z);
  for (int k = 0; k < c->n_chunks; k++)
    if (weighted (c->weights + k * SDCL_CLIP_CONTEXT, SDCL_CLIP_CONTEXT))
      sdcl_prompt_emphasis (z + k * per_chunk, c->weights + k * SDCL_CLIP_CONTEXT,
                            SDCL_CLIP_CONTEXT, (int) width);
  sdcl_t_upload (cl, hidden, z);
  g_free (z);
}

sdcl_status
sdcl_prompt_encode (sdcl_cl *cl, sdcl_clip *clip, const sdcl_prompt_chunks *c, int skip,
                    const volatile int *cancel, sdcl_t *states, int64_t offset, sdcl_error *err)
{
  sdcl_t hidden = { 0 };
  sdcl_status st = sdcl_clip_forward_rows (clip, c->ids, c->rows, c->n_chunks, SDCL_CLIP_CONTEXT,
                                           skip, cancel, &hidden, err);
  if (st != SDCL_OK)
    return st;
  apply_emphasis (cl, c, &hidden);
  op_copy (cl, &hidden, 0, states, offset, hidden.n);
  sdcl_t_release (cl, &hidden);
  return sdcl_cl_check (cl, err);
}

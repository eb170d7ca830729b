/* SDXL's "text_time" add embedding of the UNet (docs/diffusion.md §SDXL):
 * the pooled text vector and sinusoidal embeddings of the six size/crop
 * ids, through linear_1, SiLU, linear_2, added to the time embedding.
 * Internal to unet.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_UNET_TEXT_TIME_H
#define SDCL_UNET_TEXT_TIME_H

#include "nn.h"

#define SDCL_SDXL_TIME_IDS 6   /* original (h, w), crop (top, left), target (h, w) */

typedef struct {
  nn_linear linear_1, linear_2;
  float *rows;      /* [n_rows, add_embed_in] host: pooled, then the ids' sinusoids */
  int n_rows;
} unet_text_time;

/* The sinusoidal embedding diffusers' Timesteps module computes (unet.c),
 * [n, dim] for n values. */
void sdcl_unet_sinusoid (const sdcl_unet_config *c, const float *values, int n, int64_t dim,
                         float *out);

void unet_text_time_load (nn_loader *ld, unet_text_time *a, const sdcl_unet_config *c);
void unet_text_time_free (unet_text_time *a);
/* The inputs of the next evaluations: pooled [batch, pooled width] and
 * time_ids [batch, 6]. */
void unet_text_time_set (unet_text_time *a, const sdcl_unet_config *c, const float *pooled,
                         const float *time_ids, int batch);
/* add_embedding(rows [row0, row0 + batch)) [batch, time_embed_dim], or an
 * empty tensor when rows row0.. were never set (the caller's error). */
sdcl_t unet_text_time_forward (sdcl_cl *cl, const unet_text_time *a, const sdcl_unet_config *c,
                               int row0, int batch);

#endif /* SDCL_UNET_TEXT_TIME_H */

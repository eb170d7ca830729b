/* SDXL's text_time add embedding (unet_text_time.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "unet_text_time.h"

#include <string.h>

#include <glib.h>

void
unet_text_time_load (nn_loader *ld, unet_text_time *a, const sdcl_unet_config *c)
{
  nn_linear_load (ld, &a->linear_1, c->add_embed_in, c->time_embed_dim, true, "add_embedding.linear_1");
  nn_linear_load (ld, &a->linear_2, c->time_embed_dim, c->time_embed_dim, true, "add_embedding.linear_2");
}

void
unet_text_time_free (unet_text_time *a)
{
  g_free (a->rows);
  a->rows = NULL;
  a->n_rows = 0;
}

void
unet_text_time_set (unet_text_time *a, const sdcl_unet_config *c, const float *pooled,
                    const float *time_ids, int batch)
{
  const int64_t time_width = (int64_t) SDCL_SDXL_TIME_IDS * c->add_time_embed_dim;
  const int64_t pooled_width = c->add_embed_in - time_width;
  unet_text_time_free (a);
  a->rows = g_new (float, (size_t) batch * c->add_embed_in);
  a->n_rows = batch;
  for (int b = 0; b < batch; b++)
    {
      float *row = a->rows + (int64_t) b * c->add_embed_in;
      memcpy (row, pooled + b * pooled_width, pooled_width * sizeof (float));
      /* diffusers flattens the ids, embeds each, and lays them side by side */
      sdcl_unet_sinusoid (c, time_ids + b * SDCL_SDXL_TIME_IDS, SDCL_SDXL_TIME_IDS,
                          c->add_time_embed_dim, row + pooled_width);
    }
}

sdcl_t
unet_text_time_forward (sdcl_cl *cl, const unet_text_time *a, const sdcl_unet_config *c, int row0,
                        int batch)
{
  sdcl_t none = { 0 };
  if (!a->rows || row0 + batch > a->n_rows)
    return none;
  sdcl_t x;
  sdcl_t_from_host (cl, &x, 2, (int64_t[]){ batch, c->add_embed_in },
                    a->rows + (int64_t) row0 * c->add_embed_in);
  sdcl_t hidden = nn_linear_forward (cl, &a->linear_1, &x, SDCL_ACT_SILU, NULL);
  sdcl_t_release (cl, &x);
  sdcl_t out = nn_linear_forward (cl, &a->linear_2, &hidden, SDCL_ACT_NONE, NULL);
  sdcl_t_release (cl, &hidden);
  return out;
}

/* LoRA side paths: y = W x + up (down x) next to a layer's own weights.
 *
 * Why a side path and not merged weights: the base weights on the device
 * stay the file's, so a model kept loaded switches LoRA lists by swapping
 * these small tensors (no re-read, no re-upload of the base model), a run
 * without LoRA is the very same computation as before (bit-identical),
 * and streamed layers need nothing special.  The price is two thin GEMMs
 * (or a convolution to `rank` channels and a 1x1 one) per touched layer
 * and step; README.md §LoRA and BENCHMARKS.md give the figures.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nn.h"

#include <glib.h>
#include <string.h>

void
nn_lora_side_free (nn_lora_side *s)
{
  if (!s)
    return;
  if (s->on_device)
    {
      sdcl_w_free (&s->down_w);
      sdcl_w_free (&s->up_w);
    }
  g_free (s->down);
  g_free (s->up);
  g_free (s);
}

void
nn_lora_side_drop_device (nn_lora_side *s)
{
  if (s && s->on_device)
    {
      sdcl_w_free (&s->down_w);
      sdcl_w_free (&s->up_w);
      memset (&s->down_w, 0, sizeof s->down_w);
      memset (&s->up_w, 0, sizeof s->up_w);
      s->on_device = false;
    }
}

uint64_t
nn_lora_side_device_bytes (const nn_lora_side *s)
{
  return s && s->on_device ? sdcl_w_bytes (&s->down_w) + sdcl_w_bytes (&s->up_w) : 0;
}

/* Uploads the side's weights shaped for a matrix (conv false) or a
 * convolution layer.  The slot tells nothing of that before the network
 * that owns the layer runs it; a module is always one or the other. */
static bool
side_ready (sdcl_cl *cl, nn_lora_side *s, bool conv)
{
  if (s->on_device)
    return sdcl_cl_ok (cl);
  if (conv)
    {
      const int64_t down[4] = { s->rank, s->in, s->k, s->k };
      const int64_t up[4] = { s->out, s->rank, 1, 1 };
      sdcl_w_upload (cl, &s->down_w, SDCL_WT_F32, 4, down, s->down, SDCL_SRC_F32);
      sdcl_w_upload (cl, &s->up_w, SDCL_WT_F32, 4, up, s->up, SDCL_SRC_F32);
    }
  else
    {
      const int64_t down[2] = { s->rank, s->in * s->k * s->k };
      const int64_t up[2] = { s->out, s->rank };
      sdcl_w_upload (cl, &s->down_w, SDCL_WT_F32, 2, down, s->down, SDCL_SRC_F32);
      sdcl_w_upload (cl, &s->up_w, SDCL_WT_F32, 2, up, s->up, SDCL_SRC_F32);
    }
  s->on_device = true;   /* freed with the side even after a failed upload */
  if (!s->keep_host && sdcl_cl_ok (cl))
    {
      g_clear_pointer (&s->down, g_free);   /* uploads are blocking: done with them */
      g_clear_pointer (&s->up, g_free);
    }
  return sdcl_cl_ok (cl);
}

sdcl_t
nn_lora_linear_forward (sdcl_cl *cl, const nn_linear *l, const sdcl_t *x, sdcl_act act,
                        const sdcl_t *residual)
{
  nn_lora_side *s = l->lora->side;
  sdcl_t y = nn_alloc_last_dim (cl, x, l->weight->d[0]);
  if (!side_ready (cl, s, false))
    return y;   /* the sticky error speaks for it */
  /* The update joins before the activation; op_linear adds its residual
   * after it, so with an activation the residual comes last. */
  sdcl_t base = nn_alloc_last_dim (cl, x, l->weight->d[0]);
  op_linear (cl, x, l->weight, l->bias, act == SDCL_ACT_NONE ? residual : NULL, SDCL_ACT_NONE,
             &base);
  sdcl_t h = nn_alloc_last_dim (cl, x, s->rank);
  op_linear (cl, x, &s->down_w, NULL, NULL, SDCL_ACT_NONE, &h);
  if (act == SDCL_ACT_NONE)
    op_linear (cl, &h, &s->up_w, NULL, &base, SDCL_ACT_NONE, &y);
  else
    {
      sdcl_t pre = nn_alloc_last_dim (cl, x, l->weight->d[0]);
      op_linear (cl, &h, &s->up_w, NULL, &base, SDCL_ACT_NONE, &pre);
      op_act (cl, &pre, act, residual ? &base : &y);
      if (residual)
        op_add (cl, &base, residual, &y);
      sdcl_t_release (cl, &pre);
    }
  sdcl_t_release (cl, &h);
  sdcl_t_release (cl, &base);
  return y;
}

sdcl_t
nn_lora_conv_forward (sdcl_cl *cl, const nn_conv *c, const sdcl_t *x, const sdcl_conv_desc *desc,
                      const sdcl_t *residual)
{
  nn_lora_side *s = c->lora->side;
  int64_t h = desc->upsample ? desc->up_h : x->d[2];
  int64_t w = desc->upsample ? desc->up_w : x->d[3];
  int64_t kh = c->weight->d[2], kw = c->weight->d[3];
  int64_t ho = (h + desc->pad_t + desc->pad_b - kh) / desc->stride + 1;
  int64_t wo = (w + desc->pad_l + desc->pad_r - kw) / desc->stride + 1;
  sdcl_t y = nn_alloc (cl, 4, x->d[0], c->weight->d[0], ho, wo);
  if (!side_ready (cl, s, true))
    return y;
  sdcl_t base = nn_alloc (cl, 4, x->d[0], c->weight->d[0], ho, wo);
  op_conv2d (cl, x, c->weight, c->bias, desc, residual, &base);
  sdcl_t mid = nn_alloc (cl, 4, x->d[0], s->rank, ho, wo);
  op_conv2d (cl, x, &s->down_w, NULL, desc, NULL, &mid);
  const sdcl_conv_desc one = { .stride = 1 };
  op_conv2d (cl, &mid, &s->up_w, NULL, &one, &base, &y);
  sdcl_t_release (cl, &mid);
  sdcl_t_release (cl, &base);
  return y;
}

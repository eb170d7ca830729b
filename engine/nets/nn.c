/* Shared building blocks of the networks: weight store and loader, layers,
 * ResnetBlock2D and multi-head attention.  See nn.h.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nn.h"

#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
nn_name (char *dst, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (dst, NN_NAME_MAX, fmt, ap);
  va_end (ap);
}

sdcl_status
nn_error (sdcl_error *err, sdcl_status code, const char *fmt, ...)
{
  if (err)
    {
      va_list ap;
      va_start (ap, fmt);
      err->code = code;
      vsnprintf (err->message, sizeof err->message, fmt, ap);
      va_end (ap);
    }
  return code;
}

sdcl_status
nn_poll (sdcl_cl *cl, const volatile int *cancel, sdcl_error *err)
{
  /* Waiting for the queued work keeps the host at most one block ahead of
   * the device.  Without it a whole forward pass is enqueued in
   * milliseconds and the flag would be read before any of it ran; the cost
   * is one short pipeline bubble per block. */
  sdcl_cl_finish (cl);
  if (!sdcl_cl_ok (cl))
    return sdcl_cl_check (cl, err);
  if (nn_cancelled (cancel))
    return nn_error (err, SDCL_ERR_CANCELLED, "cancelled");
  return SDCL_OK;
}

/* ---- weight store --------------------------------------------------------- */

static void
store_add (nn_weights *store, sdcl_w *w)
{
  if (store->n == store->cap)
    {
      store->cap = store->cap ? 2 * store->cap : 64;
      store->items = g_renew (sdcl_w *, store->items, store->cap);
    }
  store->items[store->n++] = w;
  store->bytes += sdcl_w_bytes (w);
}

void
nn_weights_free (nn_weights *store)
{
  for (size_t i = 0; i < store->n; i++)
    {
      sdcl_w_free (store->items[i]);
      g_free (store->items[i]);
    }
  g_free (store->items);
  memset (store, 0, sizeof *store);
}

/* ---- loader ----------------------------------------------------------------- */

void
nn_loader_init (nn_loader *ld, sdcl_cl *cl, const sdcl_wset *ws, sdcl_wtype wtype,
                nn_weights *store, sdcl_error *err)
{
  memset (ld, 0, sizeof *ld);
  ld->cl = cl;
  ld->ws = ws;
  ld->wtype = wtype;
  ld->store = store;
  ld->err = err ? err : &ld->scratch;
  ld->status = SDCL_OK;
}

void
nn_loader_init_listing (nn_loader *ld, nn_weights *store)
{
  memset (ld, 0, sizeof *ld);
  ld->store = store;
  ld->err = &ld->scratch;
  ld->specs = g_array_new (FALSE, TRUE, sizeof (sdcl_tensor_spec));
}

sdcl_tensor_spec *
nn_loader_take_specs (nn_loader *ld, size_t *count)
{
  *count = ld->specs->len;
  sdcl_tensor_spec *specs = (sdcl_tensor_spec *) (void *) g_array_free (ld->specs, FALSE);
  ld->specs = NULL;
  return specs;
}

/* A listing loader's record of one tensor. */
static void
list_spec (nn_loader *ld, const char *name, int nd, const int64_t *shape)
{
  sdcl_tensor_spec s = { .nd = nd };
  size_t n = g_strlcpy (s.name, name, sizeof s.name);
  g_assert (n < sizeof s.name);   /* names come from the networks' fixed patterns */
  for (int i = 0; i < nd; i++)
    s.shape[i] = shape[i];
  g_array_append_val (ld->specs, s);
}

sdcl_status
nn_loader_finish (nn_loader *ld)
{
  g_free (ld->staging);
  ld->staging = NULL;
  ld->staging_bytes = 0;
  if (ld->status == SDCL_OK && !sdcl_cl_ok (ld->cl))
    ld->status = sdcl_cl_check (ld->cl, ld->err);
  return ld->status;
}

void
nn_loader_fail (nn_loader *ld, sdcl_status code, const char *fmt, ...)
{
  if (ld->status != SDCL_OK || ld->specs)
    return;   /* the first failure wins; a listing checks nothing */
  va_list ap;
  va_start (ap, fmt);
  ld->err->code = code;
  vsnprintf (ld->err->message, sizeof ld->err->message, fmt, ap);
  va_end (ap);
  ld->status = code;
}

static bool
source_type (sdcl_dtype dtype, sdcl_src_type *out)
{
  switch (dtype)
    {
    case SDCL_DT_F32: *out = SDCL_SRC_F32; return true;
    case SDCL_DT_F16: *out = SDCL_SRC_F16; return true;
    case SDCL_DT_BF16: *out = SDCL_SRC_BF16; return true;
    default: return false;
    }
}

/* The tensor `name` with the expected shape and a float dtype, or NULL with
 * the loader's error set. */
static const sdcl_st_tensor *
require (nn_loader *ld, const char *name, int nd, const int64_t *shape, sdcl_src_type *src)
{
  if (ld->specs)
    {
      list_spec (ld, name, nd, shape);
      return NULL;
    }
  if (ld->status != SDCL_OK)
    return NULL;
  const sdcl_st_tensor *t = sdcl_wset_require (ld->ws, name, nd, shape, ld->err);
  if (!t)
    {
      ld->status = ld->err->code != SDCL_OK ? ld->err->code : SDCL_ERR_MODEL_FORMAT;
      return NULL;
    }
  if (!source_type (t->dtype, src))
    {
      nn_loader_fail (ld, SDCL_ERR_MODEL_FORMAT,
                      "tensor %s in %s has dtype %s; weights must be F32, F16 or BF16", name,
                      sdcl_wset_component (ld->ws), t->dtype_name);
      return NULL;
    }
  return t;
}

/* t's bytes in the loader's staging buffer (grown to the largest tensor
 * so far), read from the file with pread (sdcl_wset_read: a model file
 * truncated or rewritten since the load is an error, not SIGBUS).  The
 * copy costs one memcpy from the page cache per weight, next to the
 * conversion the upload does anyway. */
static const void *
stage (nn_loader *ld, const sdcl_st_tensor *t)
{
  if (t->nbytes == 0)
    return t->data;   /* nothing to read (never dereferenced) */
  if (t->nbytes > ld->staging_bytes)
    {
      g_free (ld->staging);
      ld->staging = g_try_malloc (t->nbytes);
      ld->staging_bytes = ld->staging ? t->nbytes : 0;
      if (!ld->staging)
        {
          nn_loader_fail (ld, SDCL_ERR_OUT_OF_MEMORY, "cannot allocate %" G_GUINT64_FORMAT
                          " bytes of host memory to read tensor %s", t->nbytes, t->name);
          return NULL;
        }
    }
  sdcl_status st = sdcl_wset_read (ld->ws, t, 0, ld->staging, t->nbytes, ld->err);
  if (st != SDCL_OK)
    {
      ld->status = st;
      return NULL;
    }
  return ld->staging;
}

/* Uploads t as shape (nd, shape) — the checked shape, or the same elements
 * with 1x1 dims dropped — and registers it. */
static sdcl_w *
upload (nn_loader *ld, const sdcl_st_tensor *t, sdcl_src_type src, int nd, const int64_t *shape)
{
  if (nn_cancelled (sdcl_cl_cancel_flag (ld->cl)))
    {
      nn_loader_fail (ld, SDCL_ERR_CANCELLED, "cancelled");
      return NULL;
    }
  const void *bytes = stage (ld, t);
  if (!bytes)
    return NULL;
  sdcl_w *w = g_new0 (sdcl_w, 1);
  sdcl_w_upload (ld->cl, w, ld->wtype, nd, shape, bytes, src);
  sdcl_wset_drop_pages (ld->ws, t);   /* uploaded: the device copy is what counts now */
  if (!sdcl_cl_ok (ld->cl))
    {
      sdcl_w_free (w);
      g_free (w);
      ld->status = sdcl_cl_check (ld->cl, ld->err);
      return NULL;
    }
  store_add (ld->store, w);
  return w;
}

static sdcl_w *
load_named (nn_loader *ld, const char *name, int nd, const int64_t *shape)
{
  sdcl_src_type src;
  const sdcl_st_tensor *t = require (ld, name, nd, shape, &src);
  return t ? upload (ld, t, src, nd, shape) : NULL;
}

bool
nn_find_host (nn_loader *ld, nn_host_tensor *out, int nd, const int64_t *shape,
              const char *fmt, ...)
{
  char name[NN_NAME_MAX];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (name, sizeof name, fmt, ap);
  va_end (ap);
  memset (out, 0, sizeof *out);
  sdcl_src_type src;
  const sdcl_st_tensor *t = require (ld, name, nd, shape, &src);
  if (!t)
    return false;
  out->bytes = g_try_malloc (MAX (t->nbytes, 1));
  if (!out->bytes)
    {
      nn_loader_fail (ld, SDCL_ERR_OUT_OF_MEMORY, "cannot allocate %" G_GUINT64_FORMAT
                      " bytes of host memory for tensor %s", t->nbytes, name);
      return false;
    }
  sdcl_status st = sdcl_wset_read (ld->ws, t, 0, out->bytes, t->nbytes, ld->err);
  if (st != SDCL_OK)
    {
      ld->status = st;
      nn_host_tensor_free (out);
      return false;
    }
  out->t = *t;
  out->t.data = out->bytes;
  sdcl_wset_drop_pages (ld->ws, t);
  return true;
}

void
nn_host_tensor_free (nn_host_tensor *h)
{
  g_free (h->bytes);
  memset (h, 0, sizeof *h);
}

sdcl_w *
nn_load (nn_loader *ld, int nd, const int64_t *shape, const char *fmt, ...)
{
  char name[NN_NAME_MAX];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (name, sizeof name, fmt, ap);
  va_end (ap);
  return load_named (ld, name, nd, shape);
}

sdcl_w *
nn_load_vector (nn_loader *ld, int64_t n, const char *fmt, ...)
{
  char name[NN_NAME_MAX];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (name, sizeof name, fmt, ap);
  va_end (ap);
  return load_named (ld, name, 1, (int64_t[]){ n });
}

/* A matrix that files may store as a 1x1 convolution; `conv_form` is the
 * form a listing records. */
static sdcl_w *
load_matrix (nn_loader *ld, int64_t rows, int64_t cols, bool conv_form, const char *name)
{
  const int64_t matrix[2] = { rows, cols };
  const int64_t conv1x1[4] = { rows, cols, 1, 1 };
  const sdcl_st_tensor *found = ld->specs ? NULL : sdcl_wset_find (ld->ws, name);
  bool as_conv = ld->specs ? conv_form : found && found->nd == 4;
  sdcl_src_type src;
  const sdcl_st_tensor *t = require (ld, name, as_conv ? 4 : 2, as_conv ? conv1x1 : matrix, &src);
  return t ? upload (ld, t, src, 2, matrix) : NULL;
}

sdcl_w *
nn_load_matrix (nn_loader *ld, int64_t rows, int64_t cols, const char *fmt, ...)
{
  char name[NN_NAME_MAX];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (name, sizeof name, fmt, ap);
  va_end (ap);
  return load_matrix (ld, rows, cols, false, name);
}

bool
nn_tensor_row (const sdcl_st_tensor *t, int64_t row, sdcl_wtype wtype, float *dst)
{
  if (t->nd != 2 || row < 0 || row >= t->shape[0])
    return false;
  int64_t cols = t->shape[1];
  const unsigned char *base = t->data;
  for (int64_t i = 0; i < cols; i++)
    {
      int64_t at = row * cols + i;
      float v;
      uint16_t h;
      switch (t->dtype)
        {
        case SDCL_DT_F32: memcpy (&v, base + 4 * at, 4); break;
        case SDCL_DT_F16: memcpy (&h, base + 2 * at, 2); v = sdcl_half_to_float (h); break;
        case SDCL_DT_BF16: memcpy (&h, base + 2 * at, 2); v = sdcl_bf16_to_float (h); break;
        default: return false;
        }
      dst[i] = wtype != SDCL_WT_F32 ? sdcl_half_to_float (sdcl_float_to_half (v)) : v;
    }
  return true;
}

/* ---- layers ------------------------------------------------------------------- */

/* A module's LoRA slot; a listing loader has no weight set, and its layers
 * are never run, so they get none. */
static const sdcl_lora_slot *
lora_slot (nn_loader *ld, const char *module)
{
  return ld->ws ? sdcl_wset_lora_slot (ld->ws, module) : NULL;
}

void
nn_linear_load (nn_loader *ld, nn_linear *l, int64_t in, int64_t out, bool bias,
                const char *prefix)
{
  l->weight = nn_load_matrix (ld, out, in, "%s.weight", prefix);
  l->bias = bias ? nn_load_vector (ld, out, "%s.bias", prefix) : NULL;
  l->lora = lora_slot (ld, prefix);
}

void
nn_linear_load_1x1 (nn_loader *ld, nn_linear *l, int64_t in, int64_t out, const char *prefix)
{
  char name[NN_NAME_MAX];
  nn_name (name, "%s.weight", prefix);
  l->weight = load_matrix (ld, out, in, true, name);
  l->bias = nn_load_vector (ld, out, "%s.bias", prefix);
  l->lora = lora_slot (ld, prefix);   /* SD 1.x's proj_in/proj_out: kohya LoRAs target them */
}

void
nn_conv_load (nn_loader *ld, nn_conv *c, int64_t in, int64_t out, int64_t k, const char *prefix)
{
  c->weight = nn_load (ld, 4, (int64_t[]){ out, in, k, k }, "%s.weight", prefix);
  c->bias = nn_load_vector (ld, out, "%s.bias", prefix);
  c->lora = lora_slot (ld, prefix);
}

void
nn_group_norm_load (nn_loader *ld, nn_group_norm *n, int64_t channels, int groups, float eps,
                    const char *prefix)
{
  if ((groups <= 0 || channels % groups != 0) && !ld->specs)
    {
      nn_loader_fail (ld, SDCL_ERR_MODEL_FORMAT, "%s: %" PRId64
                      " channels cannot be split into %d groups", prefix, channels, groups);
      return;
    }
  n->weight = nn_load_vector (ld, channels, "%s.weight", prefix);
  n->bias = nn_load_vector (ld, channels, "%s.bias", prefix);
  n->groups = groups;
  n->eps = eps;
}

void
nn_layer_norm_load (nn_loader *ld, nn_layer_norm *n, int64_t channels, float eps,
                    const char *prefix)
{
  n->weight = nn_load_vector (ld, channels, "%s.weight", prefix);
  n->bias = nn_load_vector (ld, channels, "%s.bias", prefix);
  n->eps = eps;
}

sdcl_t
nn_linear_forward (sdcl_cl *cl, const nn_linear *l, const sdcl_t *x, sdcl_act act,
                   const sdcl_t *residual)
{
  if (l->lora && l->lora->side)
    return nn_lora_linear_forward (cl, l, x, act, residual);
  sdcl_t y = nn_alloc_last_dim (cl, x, l->weight->d[0]);
  op_linear (cl, x, l->weight, l->bias, residual, act, &y);
  return y;
}

sdcl_t
nn_linear_geglu_forward (sdcl_cl *cl, const nn_linear *l, const sdcl_t *x)
{
  sdcl_t y = nn_alloc_last_dim (cl, x, l->weight->d[0] / 2);
  if (l->lora && l->lora->side)
    {
      /* The LoRA side path adds to the whole product: GEGLU after it. */
      sdcl_t h = nn_linear_forward (cl, l, x, SDCL_ACT_NONE, NULL);
      op_geglu (cl, &h, &y);
      sdcl_t_release (cl, &h);
      return y;
    }
  op_linear_geglu (cl, x, l->weight, l->bias, &y);
  return y;
}

sdcl_t
nn_conv_forward_desc (sdcl_cl *cl, const nn_conv *c, const sdcl_t *x, const sdcl_conv_desc *desc,
                      const sdcl_t *residual)
{
  /* The run's padding mode (seamless textures) applies to every network
   * convolution; padding is the only thing it changes. */
  sdcl_conv_desc d = *desc;
  d.circular = d.circular || sdcl_cl_circular_padding (cl);
  if (c->lora && c->lora->side)
    return nn_lora_conv_forward (cl, c, x, &d, residual);
  int64_t h = desc->upsample ? desc->up_h : x->d[2];
  int64_t w = desc->upsample ? desc->up_w : x->d[3];
  int64_t kh = c->weight->d[2], kw = c->weight->d[3];
  int64_t ho = (h + desc->pad_t + desc->pad_b - kh) / desc->stride + 1;
  int64_t wo = (w + desc->pad_l + desc->pad_r - kw) / desc->stride + 1;
  sdcl_t y = nn_alloc (cl, 4, x->d[0], c->weight->d[0], ho, wo);
  op_conv2d (cl, x, c->weight, c->bias, &d, residual, &y);
  return y;
}

sdcl_t
nn_conv_forward (sdcl_cl *cl, const nn_conv *c, const sdcl_t *x, int64_t up_h, int64_t up_w,
                 const sdcl_t *residual)
{
  int pad = (int) (c->weight->d[2] / 2);
  const sdcl_conv_desc desc = {
    .stride = 1, .pad_t = pad, .pad_l = pad, .pad_b = pad, .pad_r = pad,
    .upsample = up_h > 0, .up_h = up_h, .up_w = up_w,
  };
  return nn_conv_forward_desc (cl, c, x, &desc, residual);
}

sdcl_t
nn_group_norm_forward (sdcl_cl *cl, const nn_group_norm *n, const sdcl_t *x, bool silu)
{
  sdcl_t y = nn_alloc (cl, x->nd, x->d[0], x->d[1], x->d[2], x->d[3]);
  op_group_norm (cl, x, n->weight, n->bias, n->groups, n->eps, silu, &y);
  return y;
}

void
nn_group_norm_inplace (sdcl_cl *cl, const nn_group_norm *n, sdcl_t *x, bool silu)
{
  op_group_norm (cl, x, n->weight, n->bias, n->groups, n->eps, silu, x);
}

sdcl_t
nn_layer_norm_forward (sdcl_cl *cl, const nn_layer_norm *n, const sdcl_t *x)
{
  sdcl_t y = nn_alloc (cl, x->nd, x->d[0], x->d[1], x->d[2], x->d[3]);
  op_layer_norm (cl, x, n->weight, n->bias, n->eps, &y);
  return y;
}

/* ---- ResnetBlock2D ------------------------------------------------------------ */

void
nn_resnet_load (nn_loader *ld, nn_resnet *r, int64_t in, int64_t out, int64_t temb_dim,
                int groups, float eps, const char *prefix)
{
  char name[NN_NAME_MAX];
  r->in_channels = in;
  r->out_channels = out;
  nn_name (name, "%s.norm1", prefix);
  nn_group_norm_load (ld, &r->norm1, in, groups, eps, name);
  nn_name (name, "%s.conv1", prefix);
  nn_conv_load (ld, &r->conv1, in, out, 3, name);
  if (temb_dim > 0)
    {
      nn_name (name, "%s.time_emb_proj", prefix);
      nn_linear_load (ld, &r->time_proj, temb_dim, out, true, name);
    }
  nn_name (name, "%s.norm2", prefix);
  nn_group_norm_load (ld, &r->norm2, out, groups, eps, name);
  nn_name (name, "%s.conv2", prefix);
  nn_conv_load (ld, &r->conv2, out, out, 3, name);
  if (in != out)
    {
      nn_name (name, "%s.conv_shortcut", prefix);
      nn_conv_load (ld, &r->shortcut, in, out, 1, name);
    }
}

/* h1 = conv1(h) + time_proj(silu_temb), then SiLU(GroupNorm2(h1)) in place.
 * Consumes h (= SiLU(GroupNorm1(x))). */
static sdcl_t
resnet_first_half (sdcl_cl *cl, const nn_resnet *r, sdcl_t *h, const sdcl_t *silu_temb)
{
  sdcl_t h1 = nn_conv_forward (cl, &r->conv1, h, 0, 0, NULL);
  sdcl_t_release (cl, h);
  if (r->time_proj.weight && silu_temb)
    {
      sdcl_t t = nn_linear_forward (cl, &r->time_proj, silu_temb, SDCL_ACT_NONE, NULL);
      op_add_channel (cl, &h1, &t);
      sdcl_t_release (cl, &t);
    }
  nn_group_norm_inplace (cl, &r->norm2, &h1, true);
  return h1;
}

sdcl_t
nn_resnet_forward (sdcl_cl *cl, const nn_resnet *r, const sdcl_t *x, const sdcl_t *silu_temb)
{
  sdcl_t h = nn_group_norm_forward (cl, &r->norm1, x, true);
  sdcl_t h1 = resnet_first_half (cl, r, &h, silu_temb);
  /* The shortcut is the residual of conv2, so the sum costs no extra pass. */
  sdcl_t shortcut = { 0 };
  if (r->shortcut.weight)
    shortcut = nn_conv_forward (cl, &r->shortcut, x, 0, 0, NULL);
  sdcl_t y = nn_conv_forward (cl, &r->conv2, &h1, 0, 0, r->shortcut.weight ? &shortcut : x);
  sdcl_t_release (cl, &h1);
  sdcl_t_release (cl, &shortcut);
  return y;
}

sdcl_t
nn_resnet_forward_consume (sdcl_cl *cl, const nn_resnet *r, sdcl_t *x, const sdcl_t *silu_temb)
{
  if (!r->shortcut.weight)
    {
      /* x itself is the residual: it has to live until conv2 anyway. */
      sdcl_t y = nn_resnet_forward (cl, r, x, silu_temb);
      sdcl_t_release (cl, x);
      return y;
    }
  /* With a shortcut conv, x is dead once the shortcut is taken, so the
   * first GroupNorm can overwrite it instead of allocating another tensor
   * of the (larger) input width. */
  sdcl_t shortcut = nn_conv_forward (cl, &r->shortcut, x, 0, 0, NULL);
  nn_group_norm_inplace (cl, &r->norm1, x, true);
  sdcl_t h1 = resnet_first_half (cl, r, x, silu_temb);
  sdcl_t y = nn_conv_forward (cl, &r->conv2, &h1, 0, 0, &shortcut);
  sdcl_t_release (cl, &h1);
  sdcl_t_release (cl, &shortcut);
  return y;
}

/* ---- attention ------------------------------------------------------------------ */

const nn_attention_names nn_diffusers_attention_names = { "to_q", "to_k", "to_v", "to_out.0" };
const nn_attention_names nn_clip_attention_names = { "q_proj", "k_proj", "v_proj", "out_proj" };

void
nn_attention_load (nn_loader *ld, nn_attention *a, const nn_attention_names *names, int64_t dim,
                   int64_t context_dim, int heads, bool qkv_bias, const char *prefix)
{
  if ((heads <= 0 || dim % heads != 0) && !ld->specs)
    {
      nn_loader_fail (ld, SDCL_ERR_MODEL_FORMAT,
                      "%s: %" PRId64 " channels cannot be split into %d heads", prefix,
                      dim, heads);
      return;
    }
  char name[NN_NAME_MAX];
  a->heads = heads;
  nn_name (name, "%s.%s", prefix, names->q);
  nn_linear_load (ld, &a->q, dim, dim, qkv_bias, name);
  nn_name (name, "%s.%s", prefix, names->k);
  nn_linear_load (ld, &a->k, context_dim, dim, qkv_bias, name);
  nn_name (name, "%s.%s", prefix, names->v);
  nn_linear_load (ld, &a->v, context_dim, dim, qkv_bias, name);
  nn_name (name, "%s.%s", prefix, names->out);
  nn_linear_load (ld, &a->out, dim, dim, true, name);
}

/* out(attention (q(x), k, v)) + residual. */
static sdcl_t
attend_kv (sdcl_cl *cl, const nn_attention *a, const sdcl_t *x, const sdcl_t *k, const sdcl_t *v,
           bool causal, const sdcl_t *residual)
{
  sdcl_t q = nn_linear_forward (cl, &a->q, x, SDCL_ACT_NONE, NULL);
  int64_t head_dim = a->q.weight->d[0] / a->heads;
  sdcl_t o = nn_alloc (cl, q.nd, q.d[0], q.d[1], q.d[2], q.d[3]);
  op_attention (cl, &q, k, v, a->heads, (float) (1.0 / sqrt ((double) head_dim)), causal, &o);
  sdcl_t_release (cl, &q);
  sdcl_t y = nn_linear_forward (cl, &a->out, &o, SDCL_ACT_NONE, residual);
  sdcl_t_release (cl, &o);
  return y;
}

sdcl_t
nn_attention_forward (sdcl_cl *cl, const nn_attention *a, const sdcl_t *x, const sdcl_t *context,
                      bool causal, const sdcl_t *residual)
{
  const sdcl_t *kv_source = context ? context : x;
  sdcl_t k = nn_linear_forward (cl, &a->k, kv_source, SDCL_ACT_NONE, NULL);
  sdcl_t v = nn_linear_forward (cl, &a->v, kv_source, SDCL_ACT_NONE, NULL);
  sdcl_t y = attend_kv (cl, a, x, &k, &v, causal, residual);
  sdcl_t_release (cl, &k);
  sdcl_t_release (cl, &v);
  return y;
}

sdcl_t
nn_attention_forward_kv (sdcl_cl *cl, const nn_attention *a, const sdcl_t *x, const sdcl_t *k,
                         const sdcl_t *v, const sdcl_t *residual)
{
  return attend_kv (cl, a, x, k, v, false, residual);
}

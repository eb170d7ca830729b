/* Building blocks shared by the three networks (CLIP, UNet, VAE): a store
 * that owns a network's device weights, a loader that checks every tensor's
 * shape against the config before uploading it, and the layers that occur
 * in more than one network (linear, convolution, norms, ResnetBlock2D,
 * multi-head attention).  Internal to libsdcl.
 *
 * Conventions
 *   - A layer's optional weight (a bias, a shortcut convolution) is a NULL
 *     pointer when absent, so it can be passed to the ops unchanged.
 *   - Forward helpers allocate their output from the pool and return it;
 *     they do not release their inputs — the caller decides when a tensor
 *     is dead — except the *_consume variants, which take ownership so they
 *     can reuse the input's memory.  Device failures are sticky on `cl` (see clrt.h), so a
 *     sequence of helpers is checked once with sdcl_cl_check().
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_NN_H
#define SDCL_NN_H

#include <glib.h>

#include "clrt.h"
#include "ops.h"
#include "model_files.h"

/* Longest tensor name the loaders build. */
#define NN_NAME_MAX 256

/* printf into a name buffer of NN_NAME_MAX bytes (names are far shorter;
 * a truncated name would simply not be found and be reported as missing). */
void nn_name (char *dst, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* ---- weight store and loader ------------------------------------------- */

/* Every device weight of one network; frees them all at once. */
typedef struct {
  sdcl_w **items;
  size_t n, cap;
  uint64_t bytes;
} nn_weights;

void nn_weights_free (nn_weights *store);

/* Construction-time state: where weights come from, where they go and the
 * first failure (later loads are no-ops once one failed, like the sticky
 * device errors).
 *
 * A listing loader (nn_loader_init_listing) loads nothing: every load
 * appends the tensor it asks for (name and shape, as the file must hold
 * it) to `specs` and returns NULL, and config checks are skipped.  Running
 * a network's own loading code through one gives the tensors it expects
 * (sdcl_unet_tensor_specs, ...), so the loader and the expected tensor
 * lists cannot disagree. */
typedef struct {
  sdcl_cl *cl;
  const sdcl_wset *ws;
  sdcl_wtype wtype;
  nn_weights *store;
  sdcl_error *err;       /* the caller's, or `scratch` when it passed NULL */
  sdcl_error scratch;
  sdcl_status status;
  void *staging;         /* host copy of the tensor being uploaded (see upload in nn.c) */
  size_t staging_bytes;
  GArray *specs;         /* of sdcl_tensor_spec: a listing loader; NULL otherwise */
} nn_loader;

void nn_loader_init (nn_loader *ld, sdcl_cl *cl, const sdcl_wset *ws, sdcl_wtype wtype,
                     nn_weights *store, sdcl_error *err);
/* SDCL_OK or the first failure of any load (including device errors).
 * Frees the loader's staging memory: call it once for every init. */
sdcl_status nn_loader_finish (nn_loader *ld);
void nn_loader_fail (nn_loader *ld, sdcl_status code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* A listing loader (see above); `store` stays empty. */
void nn_loader_init_listing (nn_loader *ld, nn_weights *store);
/* The tensors a listing loader was asked for, in order (g_free the array);
 * ends the loader. */
sdcl_tensor_spec *nn_loader_take_specs (nn_loader *ld, size_t *count);

/* Loads the tensor named by the printf-style format after checking its
 * shape (nd dims).  NULL once any load failed. */
sdcl_w *nn_load (nn_loader *ld, int nd, const int64_t *shape, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
sdcl_w *nn_load_vector (nn_loader *ld, int64_t n, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* A [rows, cols] matrix; a 1x1 convolution weight [rows, cols, 1, 1] is the
 * same matrix and is accepted too (conv vs linear projections, LDM files). */
sdcl_w *nn_load_matrix (nn_loader *ld, int64_t rows, int64_t cols, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* A tensor the network reads on the host instead of uploading it. */
typedef struct {
  sdcl_st_tensor t;      /* the file's tensor, data pointing at `bytes` */
  void *bytes;           /* owned */
} nn_host_tensor;

/* Checked like a load (shape, float dtype), then copied out of the file
 * into host memory: what a network reads at every run must not depend on
 * the file staying as it was (a resident model outlives edits of its file).
 * False with the loader's error on failure. */
bool nn_find_host (nn_loader *ld, nn_host_tensor *out, int nd, const int64_t *shape,
                   const char *fmt, ...) __attribute__ ((format (printf, 5, 6)));
void nn_host_tensor_free (nn_host_tensor *h);

/* Host copy of one row of a [rows, cols] F32/F16/BF16 tensor, rounded the
 * way an upload to `wtype` would round it (so host-side weights behave like
 * device ones: an F16 model gives the same result from an F32 or an F16
 * file; Q8 keeps embeddings in F16, so they round to half too).  False
 * for other dtypes or an out-of-range row. */
bool nn_tensor_row (const sdcl_st_tensor *t, int64_t row, sdcl_wtype wtype, float *dst);

/* ---- tensors ------------------------------------------------------------ */

static inline sdcl_t
nn_alloc (sdcl_cl *cl, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
  sdcl_t t;
  sdcl_t_alloc (cl, &t, nd, d0, d1, d2, d3);
  return t;
}

/* A tensor shaped like x except for its last dim. */
static inline sdcl_t
nn_alloc_last_dim (sdcl_cl *cl, const sdcl_t *x, int64_t last)
{
  int64_t d[4] = { x->d[0], x->d[1], x->d[2], x->d[3] };
  d[x->nd - 1] = last;
  return nn_alloc (cl, x->nd, d[0], d[1], d[2], d[3]);
}

/* True when the caller's cancel flag is raised. */
static inline bool
nn_cancelled (const volatile int *cancel)
{
  return cancel && *cancel;
}

/* Called between blocks of a forward pass: waits for the queued work, then
 * returns a device failure if there was one (it wins over cancellation: it
 * is what really went wrong), else CANCELLED when the flag is raised, else
 * SDCL_OK. */
sdcl_status nn_poll (sdcl_cl *cl, const volatile int *cancel, sdcl_error *err);

/* Fills err (if not NULL) and returns code. */
sdcl_status nn_error (sdcl_error *err, sdcl_status code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* ---- layers --------------------------------------------------------------- */

typedef struct {
  sdcl_w *weight;        /* [out, in] */
  sdcl_w *bias;          /* [out] or NULL */
  const sdcl_lora_slot *lora;  /* the module's LoRA slot (model_files.h); NULL in tests' hand-built layers */
} nn_linear;

typedef struct {
  sdcl_w *weight;        /* [out, in, kh, kw] */
  sdcl_w *bias;          /* [out] */
  const sdcl_lora_slot *lora;
} nn_conv;

typedef struct {
  sdcl_w *weight, *bias; /* [channels] */
  int groups;
  float eps;
} nn_group_norm;

typedef struct {
  sdcl_w *weight, *bias; /* [channels] */
  float eps;
} nn_layer_norm;

void nn_linear_load (nn_loader *ld, nn_linear *l, int64_t in, int64_t out, bool bias,
                     const char *prefix);
/* The same for a projection that files store as a 1x1 convolution
 * [out, in, 1, 1] (loaded as the matrix it is; a listing expects that form). */
void nn_linear_load_1x1 (nn_loader *ld, nn_linear *l, int64_t in, int64_t out, const char *prefix);
void nn_conv_load (nn_loader *ld, nn_conv *c, int64_t in, int64_t out, int64_t k,
                   const char *prefix);
void nn_group_norm_load (nn_loader *ld, nn_group_norm *n, int64_t channels, int groups,
                         float eps, const char *prefix);
void nn_layer_norm_load (nn_loader *ld, nn_layer_norm *n, int64_t channels, float eps,
                         const char *prefix);

/* y = act(x . W^T + b) + residual, x [.., in] -> y [.., out]. */
sdcl_t nn_linear_forward (sdcl_cl *cl, const nn_linear *l, const sdcl_t *x, sdcl_act act,
                          const sdcl_t *residual);
/* GEGLU over the layer's output (weight [2F, K]): [.., F]; one fused
 * kernel where the device has it and no LoRA side path applies. */
sdcl_t nn_linear_geglu_forward (sdcl_cl *cl, const nn_linear *l, const sdcl_t *x);
/* Convolution with stride 1 and "same" padding (k/2 per side), optionally
 * reading x nearest-upsampled to (up_h, up_w) (0 = no upsampling). */
sdcl_t nn_conv_forward (sdcl_cl *cl, const nn_conv *c, const sdcl_t *x, int64_t up_h,
                        int64_t up_w, const sdcl_t *residual);
/* Convolution with an explicit stride, padding and upsampling.  Both forms
 * pad circularly when the context says so (sdcl_cl_circular_padding). */
sdcl_t nn_conv_forward_desc (sdcl_cl *cl, const nn_conv *c, const sdcl_t *x,
                             const sdcl_conv_desc *desc, const sdcl_t *residual);
sdcl_t nn_group_norm_forward (sdcl_cl *cl, const nn_group_norm *n, const sdcl_t *x, bool silu);

/* ---- LoRA side paths (nn_lora.c) ------------------------------------------ */

/* The low-rank update of one layer for the current LoRA list: every LoRA
 * that touches the layer contributes `rank` rows of `down` and the same
 * columns of `up`, the latter already multiplied by its weight x alpha /
 * rank, so y = W x + up (down x) is one pair of thin GEMMs (or a k x k
 * convolution to `rank` channels and a 1x1 one) whatever the number of
 * LoRAs.  Host copies are uploaded (F32) on first use, when the layer's
 * forward says whether it runs as a matrix or a convolution. */
typedef struct nn_lora_side {
  int64_t rank, in, out, k;   /* k: kernel side of `down` (1 for linear layers) */
  float *down;                /* [rank, in, k, k], owned */
  float *up;                  /* [out, rank], owned */
  bool on_device;
  /* Keep the host copies once uploaded: false for resident models, whose
   * sides stay on the device until the list changes (then they are built
   * anew from the parsed files); lean ones upload them at every phase. */
  bool keep_host;
  sdcl_w down_w, up_w;
} nn_lora_side;

void nn_lora_side_free (nn_lora_side *s);
/* Frees the device copies (the next use uploads them again). */
void nn_lora_side_drop_device (nn_lora_side *s);
/* Device bytes of the side's uploaded weights (0 before first use). */
uint64_t nn_lora_side_device_bytes (const nn_lora_side *s);
/* y = act(x W^T + b + up (down x)) + residual, for a linear layer whose slot
 * holds a side. */
sdcl_t nn_lora_linear_forward (sdcl_cl *cl, const nn_linear *l, const sdcl_t *x, sdcl_act act,
                               const sdcl_t *residual);
/* The same for a convolution: `down` runs with the layer's own stride,
 * padding and upsampling, `up` as a 1x1 convolution. */
sdcl_t nn_lora_conv_forward (sdcl_cl *cl, const nn_conv *c, const sdcl_t *x,
                             const sdcl_conv_desc *desc, const sdcl_t *residual);
/* In place on a tensor the caller owns and no longer needs (saves one
 * activation of the largest size at the output heads). */
void nn_group_norm_inplace (sdcl_cl *cl, const nn_group_norm *n, sdcl_t *x, bool silu);
sdcl_t nn_layer_norm_forward (sdcl_cl *cl, const nn_layer_norm *n, const sdcl_t *x);

/* ---- ResnetBlock2D (docs/diffusion.md §Resnet blocks) ---------------------- */

typedef struct {
  int64_t in_channels, out_channels;
  nn_group_norm norm1, norm2;
  nn_conv conv1, conv2;
  nn_conv shortcut;      /* 1x1; weight NULL when in == out */
  nn_linear time_proj;   /* weight NULL without a time embedding */
} nn_resnet;

/* temb_dim 0: no time embedding (VAE). */
void nn_resnet_load (nn_loader *ld, nn_resnet *r, int64_t in, int64_t out, int64_t temb_dim,
                     int groups, float eps, const char *prefix);
/* silu_temb [B, temb_dim] = SiLU(time embedding), or NULL without one. */
sdcl_t nn_resnet_forward (sdcl_cl *cl, const nn_resnet *r, const sdcl_t *x,
                          const sdcl_t *silu_temb);
/* The same, consuming x (released, zeroed): a block whose input is dead
 * afterwards needs one activation less at its peak. */
sdcl_t nn_resnet_forward_consume (sdcl_cl *cl, const nn_resnet *r, sdcl_t *x,
                                  const sdcl_t *silu_temb);

/* ---- multi-head attention (docs/diffusion.md §Attention) ------------------- */

/* Names of the four projections inside one attention module. */
typedef struct {
  const char *q, *k, *v, *out;
} nn_attention_names;

extern const nn_attention_names nn_diffusers_attention_names; /* to_q .. to_out.0 */
extern const nn_attention_names nn_clip_attention_names;      /* q_proj .. out_proj */

typedef struct {
  int heads;
  nn_linear q, k, v, out;  /* q: [dim, dim], k/v: [dim, context_dim], out: [dim, dim] + bias */
} nn_attention;

void nn_attention_load (nn_loader *ld, nn_attention *a, const nn_attention_names *names,
                        int64_t dim, int64_t context_dim, int heads, bool qkv_bias,
                        const char *prefix);
/* x [B, N, dim]; context [B, M, context_dim] or NULL for self-attention.
 * Returns out(attention) + residual (residual may be NULL).  Scale is
 * head_dim^-0.5. */
sdcl_t nn_attention_forward (sdcl_cl *cl, const nn_attention *a, const sdcl_t *x,
                             const sdcl_t *context, bool causal, const sdcl_t *residual);
/* The same with the keys and values already projected (k, v [B, M, dim],
 * not causal). */
sdcl_t nn_attention_forward_kv (sdcl_cl *cl, const nn_attention *a, const sdcl_t *x,
                                const sdcl_t *k, const sdcl_t *v, const sdcl_t *residual);

#endif /* SDCL_NN_H */

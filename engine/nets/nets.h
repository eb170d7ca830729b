/* The three networks on the device: CLIP text encoder, UNet, VAE.
 * Each is built from a weight set (canonical names) and its config; shapes
 * come from the config and are checked against the tensors.  Internal.
 *
 * Forward calls take device tensors, allocate outputs from the pool, check
 * `cancel` between layers (returning SDCL_ERR_CANCELLED) and report device
 * failures from the sticky error of `cl`.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_NETS_H
#define SDCL_NETS_H

#include "clrt.h"
#include "model_files.h"

/* ---- expected tensors ---- */

/* Every weight tensor the network a config describes loads, in a fixed
 * order (module by module), with the shape its files must hold: the
 * network's own loading code run through a listing loader (nn.h), so the
 * list and the loader are one.  Returns a g_malloc'ed array (g_free it)
 * and its length in *count. */
sdcl_tensor_spec *sdcl_unet_tensor_specs (const sdcl_unet_config *c, size_t *count);
sdcl_tensor_spec *sdcl_vae_tensor_specs (const sdcl_vae_config *c, size_t *count);
sdcl_tensor_spec *sdcl_clip_tensor_specs (const sdcl_clip_config *c, size_t *count);

/* ---- CLIP text encoder ---- */
typedef struct sdcl_clip sdcl_clip;

/* The token embedding is not uploaded: the rows of each prompt are read
 * from `ws` at forward time, so `ws` must outlive the encoder. */
sdcl_status sdcl_clip_new (sdcl_cl *cl, const sdcl_wset *ws, const sdcl_clip_config *cfg,
                           sdcl_wtype wtype, sdcl_clip **out, sdcl_error *err);
void sdcl_clip_free (sdcl_clip *m);
uint64_t sdcl_clip_device_bytes (const sdcl_clip *m);

/* ids [B, T] (T <= max_position_embeddings) -> hidden [B, T, hidden_size].
 * skip = 0 or 1: final_layer_norm(last layer output) (last_hidden_state);
 * skip = k > 1: final_layer_norm(hidden_states[-k]) (diffusers clip_skip =
 * k - 1).  `hidden` is allocated here. */
sdcl_status sdcl_clip_forward (sdcl_clip *m, const int32_t *ids, int batch, int tokens, int skip,
                               const volatile int *cancel, sdcl_t *hidden, sdcl_error *err);
/* The same, with rows (NULL, or B x T pointers) giving a token's input
 * vector (hidden_size floats) in place of its token_embedding row where
 * not NULL: textual-inversion embeddings. */
sdcl_status sdcl_clip_forward_rows (sdcl_clip *m, const int32_t *ids, const float *const *rows,
                                    int batch, int tokens, int skip, const volatile int *cancel,
                                    sdcl_t *hidden, sdcl_error *err);

/* SDXL's reading of a tower (docs/diffusion.md §SDXL): hidden_states[-2]
 * with no final LayerNorm -> *penultimate [B, T, hidden] (allocated here;
 * with clip skip k > 1, hidden_states[-(k + 1)])
 * and, when `pooled` is not NULL (the tower needs a text projection),
 * text_projection(final_layer_norm(last layer)) at each prompt's EOS token
 * -> *pooled [B, projection_dim], host, g_malloc'ed.  `rows` as for
 * sdcl_clip_forward_rows. */
sdcl_status sdcl_clip_forward_penultimate (sdcl_clip *m, const int32_t *ids,
                                           const float *const *rows, int batch, int tokens,
                                           int skip, const volatile int *cancel,
                                           sdcl_t *penultimate, float **pooled, sdcl_error *err);

/* ---- UNet2DConditionModel ---- */
typedef struct sdcl_unet sdcl_unet;

/* With `stream`, the blocks of the deepest level (the last down block and
 * the first up block: for SD 1.x 224M of the UNet's 860M parameters and
 * ~4% of its FLOPs at 64x64) stay in `ws` and are uploaded one layer at a
 * time at every evaluation, each freed once its kernels are queued: the
 * device holds the rest plus one such layer.  Every tensor is still
 * checked here.  `ws` must outlive the UNet. */
sdcl_status sdcl_unet_new (sdcl_cl *cl, const sdcl_wset *ws, const sdcl_unet_config *cfg,
                           sdcl_wtype wtype, bool stream, sdcl_unet **out, sdcl_error *err);
void sdcl_unet_free (sdcl_unet *m);
uint64_t sdcl_unet_device_bytes (const sdcl_unet *m);
/* Evaluate the entries of a batch one after the other (same results, bit
 * for bit, with batch-1 activations: half the memory of a CFG pair). */
void sdcl_unet_set_serial_batch (sdcl_unet *m, bool serial);
/* The largest device buffer an evaluation of x [batch, .., lh, lw] surely
 * allocates (a lower bound: the feed-forward's GEGLU input at the finest
 * level with attention), so that a size that cannot fit is refused before
 * any work is queued. */
uint64_t sdcl_unet_largest_buffer (const sdcl_unet *m, int64_t batch, int64_t lh, int64_t lw);

/* x [B, in_channels, h, w], one timestep per batch entry (float),
 * context [B, T, cross_attention_dim] -> out [B, out_channels, h, w]
 * (allocated here). */
/* For an LCM-distilled UNet (time_cond_proj_dim > 0): the guidance value w
 * (guidance scale − 1) its time embedding is conditioned on in the next
 * forward passes.  No effect on other UNets. */
void sdcl_unet_set_guidance (sdcl_unet *m, float w);
/* For an SDXL UNet (add_embed_in > 0): the pooled text vectors [batch,
 * pooled width] and size/crop ids [batch, 6] of the next forward passes'
 * batch entries (copied).  No effect on other UNets. */
void sdcl_unet_set_text_time (sdcl_unet *m, const float *pooled, const float *time_ids, int batch);
/* keep: the next forward passes share one context (a run's text states,
 * fixed over its steps), so each cross-attention's keys and values are
 * projected by the first pass and kept on the device for the others
 * (SDXL at 512 px: 3% of a step; memory: two [B, T, dim] tensors per
 * cross-attention, 100 MB for SDXL's CFG pair).  Passes with another
 * context buffer or shape project it anew; serial batches (lean, stream:
 * memory before time) never keep.  !keep frees what is kept. */
void sdcl_unet_keep_context (sdcl_unet *m, bool keep);
sdcl_status sdcl_unet_forward (sdcl_unet *m, const sdcl_t *x, const float *timesteps,
                               const sdcl_t *context, const volatile int *cancel, sdcl_t *out,
                               sdcl_error *err);

/* ---- AutoencoderKL ---- */
typedef struct sdcl_vae sdcl_vae;

/* The encoder is built only when `with_encoder` (it is not needed for txt2img). */
sdcl_status sdcl_vae_new (sdcl_cl *cl, const sdcl_wset *ws, const sdcl_vae_config *cfg,
                          sdcl_wtype wtype, bool with_encoder, sdcl_vae **out, sdcl_error *err);
void sdcl_vae_free (sdcl_vae *m);
uint64_t sdcl_vae_device_bytes (const sdcl_vae *m);

/* z [B, latent_channels, h, w] (already divided by the scaling factor) ->
 * image [B, out_channels, h*f, w*f] in the decoder's raw range (about
 * [-1, 1]; no clamp). */
sdcl_status sdcl_vae_decode (sdcl_vae *m, const sdcl_t *z, const volatile int *cancel,
                             sdcl_t *image, sdcl_error *err);

/* image [B, in_channels, H, W] in [-1, 1] -> moments [B, 2*latent_channels,
 * H/f, W/f] (f = 2^(n_levels-1), sizes floored per level): the posterior's
 * mean then its log-variance, unclamped — clamping and sampling belong to
 * the caller (docs/diffusion.md §VAE encoder, §Latents and the posterior).
 * Needs a VAE built `with_encoder`.  `moments` is allocated here. */
sdcl_status sdcl_vae_encode (sdcl_vae *m, const sdcl_t *image, const volatile int *cancel,
                             sdcl_t *moments, sdcl_error *err);

/* Tiled forms of the two (vae_tiled.c): one sample, host in and out, the
 * same result up to float rounding (GroupNorm statistics stay global),
 * with device buffers bounded by `tile` (image pixels per tile side)
 * instead of the image size.  *out is g_malloc'ed planar [dims[0],
 * dims[1], dims[2]].  z [latent_channels, h, w] -> image; image
 * [in_channels, h, w] -> moments (needs the encoder). */
sdcl_status sdcl_vae_decode_tiled (sdcl_vae *m, const float *z, int64_t h, int64_t w, int tile,
                                   const volatile int *cancel, float **out, int64_t dims[3],
                                   sdcl_error *err);
sdcl_status sdcl_vae_encode_tiled (sdcl_vae *m, const float *image, int64_t h, int64_t w,
                                   int tile, const volatile int *cancel, float **out,
                                   int64_t dims[3], sdcl_error *err);
/* Estimate of the largest single device buffer a decode or encode of an
 * img_h x img_w image needs, untiled (tile 0) or with `tile`. */
uint64_t sdcl_vae_largest_buffer (const sdcl_vae *m, int64_t img_h, int64_t img_w, int tile);

#endif /* SDCL_NETS_H */

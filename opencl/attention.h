/* Which attention kernel runs, and the GPUs' tiled one.  Internal to the
 * device layer (op_attention in ops.c dispatches on the choice).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_ATTENTION_H
#define SDCL_ATTENTION_H

#include "clrt_internal.h"
#include "ops.h"

/* - gemm: per head, scores by the panel GEMM and a row softmax (CPUs, heads
 *   wider than 160 channels);
 * - blocked: attention_blocked, QB queries per work-item in registers
 *   (CPUs);
 * - tiled: attention_tiled (attention_tiled.cl), FlashAttention-2-style
 *   work-group tiles in local memory (GPUs);
 * - streaming: attention (attention.cl), one query per work-item with keys
 *   and values staged in local memory: the plain path where no tiled
 *   configuration fits the device's limits. */
typedef enum {
  SDCL_ATTN_GEMM,
  SDCL_ATTN_BLOCKED,
  SDCL_ATTN_TILED,
  SDCL_ATTN_STREAMING
} sdcl_attn_path;

const char *sdcl_attn_path_name (sdcl_attn_path path);

/* attention_tiled's tile sizes (its -D options; see attention_tiled.cl). */
typedef struct {
  int bq, bkv, wq, wg;
} sdcl_attn_tiled_config;

extern const sdcl_attn_tiled_config sdcl_attn_tiled_configs[];
extern const int sdcl_n_attn_tiled_configs;

/* The head widths of the families (SD 1.x UNet 40-160, CLIP and SD 2.x /
 * SDXL 64, the VAE's single 512-channel head), whose configuration `sdcl
 * tune` chooses (sdcl_tile_choice). */
extern const int sdcl_attn_tuned_widths[SDCL_ATTN_TUNED_WIDTHS];

/* Local bytes of configuration c for dh channels, and the accumulators of
 * the output per work-item. */
size_t sdcl_attn_tiled_local_bytes (const sdcl_attn_tiled_config *c, int dh);
int sdcl_attn_tiled_registers (const sdcl_attn_tiled_config *c, int dh);

/* SDCL_ATTENTION_KERNEL: unset or tiled|streaming (the portable kernels'
 * choice; the CPU kernels ignore it); else false with the reason in why.
 * Checked at context creation. */
bool sdcl_attention_env_valid (char *why, size_t why_size);

/* The one place the attention kernel is chosen: CPU kernels
 * (sdcl_cl_cpu_kernels) take gemm or blocked as before; the portable ones
 * take tiled with the tuned configuration (sdcl_cl_tile_choice) or else
 * the first that fits the limits
 * (sdcl_tiled_limits: work-group size, local memory, forced ones included)
 * and at most 64 output accumulators per work-item, else streaming.
 * SDCL_ATTENTION_KERNEL=streaming forces the plain kernel.  *config is the
 * tiled configuration's index and *k its kernel (built here; NULL and a
 * sticky error when a build fails); both unset for other paths. */
sdcl_attn_path sdcl_attention_choice (sdcl_cl *cl, int64_t dh, bool causal, int *config,
                                      cl_kernel *k);

/* Runs attention_tiled with configuration `config` (kernel k), its launches
 * split over the query blocks to stay within the launch budget. */
void sdcl_attention_tiled (sdcl_cl *cl, cl_kernel k, int config, const sdcl_t *q,
                           const sdcl_t *kk, const sdcl_t *v, int heads, float scale, bool causal,
                           sdcl_t *o, int64_t B, int64_t N, int64_t M, int64_t dh);

#endif

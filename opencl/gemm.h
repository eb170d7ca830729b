/* GEMM backends behind op_linear and op_conv2d.  Internal to the device
 * layer.
 *
 * The context's backend (sdcl_cl_gemm_backend: SDCL_GEMM, else the
 * device's tuning file, else own) decides:
 * - own: sdcl's kernels (sdcl_gemm_kernel below): gemm_panel /
 *   gemm_conv_panel on weights packed in panels at upload (CPU devices:
 *   sdcl_cl_packs_weights), gemm_tiled on row-major weights (GPUs), or
 *   gemm_nt;
 * - clblast (when built with it): CLBlastSgemm on row-major weights, F16
 *   weights first widened to F32 into a bounded scratch tensor (CLBlast's
 *   HGEMM would need cl_khr_fp16), then sdcl's epilogue kernel for bias,
 *   activation and residual.  Linear layers and the gathered convolution
 *   (whose output is NCHW: the transposed product) both map onto one
 *   SGEMM; a layout neither fits falls back to the own row-major kernel.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GEMM_H
#define SDCL_GEMM_H

#include "ops.h"
#include "ops_util.h"

/* out = act (x[M, K] . w[N, K]^T + bias) + residual, where output element
 * (m, n) is y[y_off + m * stride_m + n * stride_n] (residual alike). */
typedef struct {
  cl_mem x;
  int64_t M, K;
  const sdcl_w *w;          /* [N, ...] with K values per row; may be split */
  const sdcl_w *bias;       /* [N] or NULL */
  cl_mem residual;          /* or NULL */
  cl_mem y;
  int64_t y_off, stride_m, stride_n;
  sdcl_act act;
} sdcl_gemm_desc;

/* The own backend's kernel for linear layers and gathered convolutions:
 * - panel: gemm_panel / gemm_conv_panel on weights packed at upload (CPUs);
 * - tiled: gemm_tiled (gemm_tiled.cl), local-memory tiles (GPUs);
 * - nt: gemm_nt, register blocks without local memory: where no tile
 *   configuration fits the device.
 * SDCL_GEMM_KERNEL=panel|tiled|nt forces one (tests run the GPU kernel on
 * PoCL that way); otherwise panel with the CPU kernels
 * (sdcl_cl_cpu_kernels), tiled otherwise.  Read when weights are uploaded
 * (sdcl_cl_packs_weights) and at each GEMM, like SDCL_KERNELS. */
typedef enum {
  SDCL_GEMM_KERNEL_PANEL,
  SDCL_GEMM_KERNEL_TILED,
  SDCL_GEMM_KERNEL_NT
} sdcl_gemm_kernel;

sdcl_gemm_kernel sdcl_gemm_kernel_choice (const sdcl_cl *cl);

/* Output columns per work-item of the panel kernels (-DNC): 16 or 32
 * (gemm.c; SDCL_PANEL_COLUMNS). */
int sdcl_gemm_panel_columns (const sdcl_cl *cl);

/* Whether the GEMM's variables (SDCL_GEMM_KERNEL, SDCL_FORCE_WG_SIZE,
 * SDCL_FORCE_LOCAL_MEM) hold valid values when set; else false with the
 * variable and its value in why.  Checked at context creation, so a typo
 * is an error instead of a silent default. */
bool sdcl_gemm_env_valid (char *why, size_t why_size);

/* gemm_panel / gemm_conv_panel register tiles (their -D options; see
 * gemm.cl): mr rows x nc columns per work-item in nv vectors per row.
 * The table and each entry's reason: gemm.c. */
typedef struct {
  int mr, nc, nv;
} sdcl_panel_config;

extern const sdcl_panel_config sdcl_panel_configs[];
extern const int sdcl_n_panel_configs;

/* Whether `index` is an entry of the table (a tuning file's value). */
bool sdcl_panel_config_fits (int index);

/* gemm_tiled's tile sizes (its -D options; see gemm_tiled.cl). */
typedef struct {
  int bm, bn, bk, tm, tn;
} sdcl_tiled_config;

/* The configurations, most data reuse first; the last one (8 x 8
 * work-items, 2 KiB of local memory, few registers) fits any GPU. */
extern const sdcl_tiled_config sdcl_tiled_configs[];
extern const int sdcl_n_tiled_configs;

size_t sdcl_tiled_wg_size (const sdcl_tiled_config *c);
size_t sdcl_tiled_local_bytes (const sdcl_tiled_config *c);

/* The limits the choice sees: the device's work-group size and local
 * memory, each lowered by SDCL_FORCE_WG_SIZE / SDCL_FORCE_LOCAL_MEM when
 * set (tests: GPU-typical limits on PoCL and oclgrind). */
void sdcl_tiled_limits (const sdcl_cl *cl, size_t *max_wg, uint64_t *local_mem);

/* Configuration `index`'s kernel for weights of `type` (built on
 * first use; NULL and a sticky error when the build fails), and whether
 * it runs on this device with its work-group (CL_KERNEL_WORK_GROUP_SIZE)
 * and within local_mem bytes of local memory (CL_KERNEL_LOCAL_MEM_SIZE). */
cl_kernel sdcl_tiled_kernel (sdcl_cl *cl, sdcl_wtype type, int index);
bool sdcl_tiled_kernel_fits (sdcl_cl *cl, cl_kernel k, int index, uint64_t local_mem);

/* The index of the configuration gemm_tiled runs with for weights of
 * `type` (callers passing a bool `half` mean F16 or F32): the tuned one
 * (sdcl_cl_tile_choice) if it fits, else the first that fits the limits
 * (configurations that do not are not built) and whose kernel fits
 * (sdcl_tiled_kernel_fits), *k that kernel; -1 when none fits (gemm_nt runs
 * then) or a build failed (sticky error). */
int sdcl_tiled_pick (sdcl_cl *cl, sdcl_wtype type, cl_kernel *k);

/* Sets the arguments the own GEMM kernels share (x, w_part, bias, residual,
 * y and its addressing, M, N = n_part, K, act) for the weight part whose
 * output columns start at n_off; returns the cursor for kernel-specific
 * ones (conv_tiled adds its input's). */
sdcl_args sdcl_gemm_set_args (sdcl_cl *cl, cl_kernel k, const sdcl_gemm_desc *g, cl_mem w_part,
                              int64_t n_off, int64_t n_part);

/* Runs the own kernel (or CLBlast, per the backend), one launch per
 * weight part. */
void sdcl_gemm_run (sdcl_cl *cl, const sdcl_gemm_desc *g);

/* Convolution by gemm_conv_panel (weights with w->panel): g->x is the
 * zero-padded input (planes of Hp x Wp, conv_pad), x_off its batch entry's
 * offset; rows are the Ho x Wo output pixels (g->M). */
void sdcl_gemm_conv_panel (sdcl_cl *cl, const sdcl_gemm_desc *g, int64_t x_off, int C, int kh,
                           int kw, int stride, int Wo, int Hp, int Wp);

/* op_linear after validation: M = x->n / K, K = w->n / w->d[0], N = w->d[0]. */
void sdcl_gemm_linear (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                       const sdcl_t *residual, sdcl_act act, sdcl_t *y);

/* op_linear_geglu after validation (w [2F, K], y [M, F]) in one kernel,
 * GEGLU in the GEMM's epilogue: where the weights are panel-packed in one
 * part, F is a multiple of 16 and the linear layers' panel tile is 32
 * columns in two vectors (AVX-512 CPUs); false, doing nothing, elsewhere. */
bool sdcl_gemm_linear_geglu (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                             sdcl_t *y);

/* The epilogue alone (bias, activation, residual over the g->M x N
 * outputs of g), for backends that only multiply. */
void sdcl_gemm_epilogue (sdcl_cl *cl, const sdcl_gemm_desc *g, int64_t N);

/* CLBlast backend: returns false (doing nothing) when the output layout
 * is neither row- nor column-contiguous (stride_n or stride_m 1) or the
 * weights are panel-packed or Q8; the caller then runs the own kernel. */
bool sdcl_gemm_clblast (sdcl_cl *cl, const sdcl_gemm_desc *g);

#endif

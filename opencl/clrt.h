/* OpenCL runtime: device choice, program build with an on-disk binary
 * cache, device tensors and a buffer pool.  Internal to libsdcl.
 *
 * Error model: OpenCL failures inside ops are *sticky*.  The first failure
 * is recorded in the sdcl_cl object (code + message) and later enqueues
 * become no-ops, so network code can call a sequence of ops and check once
 * with sdcl_cl_check().  Nothing here knows about models.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CLRT_H
#define SDCL_CLRT_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdcl.h"

typedef struct sdcl_cl sdcl_cl;

/* Picks a device per sdcl_ctx_params.device rules and creates a context, an
 * in-order queue and the (lazily built) programs.  cache_dir as in
 * sdcl_ctx_params (NULL = default location, "" = no cache). */
sdcl_cl *sdcl_cl_new (const char *device_spec, const char *cache_dir, sdcl_error *err);
void sdcl_cl_free (sdcl_cl *cl);

const sdcl_device_info *sdcl_cl_device (const sdcl_cl *cl);
cl_context sdcl_cl_context (const sdcl_cl *cl);
cl_command_queue sdcl_cl_queue (const sdcl_cl *cl);

/* Returns the kernel `name` from the embedded kernel sources, building (or
 * loading from the binary cache) the program that defines it on first use.
 * `options` selects a variant (e.g. "-DWEIGHT_HALF"); NULL = "".  The kernel
 * object is owned by `cl`; NULL (and a sticky error) on failure. */
cl_kernel sdcl_cl_kernel (sdcl_cl *cl, const char *name, const char *options);

/* Sticky error handling. */
bool sdcl_cl_ok (const sdcl_cl *cl);
/* Records a failure if none is recorded yet; returns false if `code` is an
 * error (so `if (!sdcl_cl_try (cl, rc, "what")) return;` reads well). */
bool sdcl_cl_try (sdcl_cl *cl, cl_int code, const char *what);
void sdcl_cl_fail (sdcl_cl *cl, sdcl_status code, const char *fmt, ...);
/* Copies the sticky error into err (if any) and returns its code. */
sdcl_status sdcl_cl_check (sdcl_cl *cl, sdcl_error *err);
void sdcl_cl_clear_error (sdcl_cl *cl);
const char *sdcl_cl_strerror (cl_int code);

/* Blocks until the queue is empty; returns sdcl_cl_ok(). */
bool sdcl_cl_finish (sdcl_cl *cl);

/* Enqueue a kernel on a 1-3 D range; local may be NULL.  Nothing is
 * enqueued once the context holds an error.  The host stays at most
 * 2 * SDCL_CL_PACE_LAUNCHES launches ahead of the device (it waits for an
 * earlier launch when it gets further): OpenCL cannot cancel queued work,
 * so after an error or a cancel, what is still queued (and what
 * sdcl_cl_free waits for) is a short queue by construction.  Ops whose
 * single launch could run long split it (op_attention, see
 * SDCL_CL_LAUNCH_BUDGET). */
#define SDCL_CL_PACE_LAUNCHES 8
void sdcl_cl_run (sdcl_cl *cl, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local);
/* The same over [offset, offset + global) in every dimension (kernels
 * whose indexing uses get_global_id only). */
void sdcl_cl_run_offset (sdcl_cl *cl, cl_kernel k, cl_uint dims, const size_t *offset,
                         const size_t *global, const size_t *local);
/* SDCL_PROFILE=ops: the op layer names what it is running (an op and its
 * shape, printf-style); the profile then sums each kernel's time per label,
 * to be set side by side with a per-op profile of another engine.  NULL
 * clears it.  Without SDCL_PROFILE=ops it costs one test. */
void sdcl_cl_profile_label (sdcl_cl *cl, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Forgets what the profile has summed so far (a benchmark's warm-up). */
void sdcl_cl_profile_clear (sdcl_cl *cl);

/* ---- device tensors (float32 activations) ------------------------------ */

typedef struct {
  cl_mem buf;      /* owned via the pool; NULL for an empty tensor */
  int nd;
  int64_t d[4];    /* shape, outermost first */
  int64_t n;       /* element count */
} sdcl_t;

/* Allocates from the pool (exact-size reuse of released buffers).  Shape
 * entries beyond nd are ignored.  On failure t->buf is NULL and the sticky
 * error is set (SDCL_ERR_OUT_OF_MEMORY with needed/available bytes). */
void sdcl_t_alloc (sdcl_cl *cl, sdcl_t *t, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
void sdcl_t_release (sdcl_cl *cl, sdcl_t *t); /* returns the buffer to the pool; t zeroed */
void sdcl_t_upload (sdcl_cl *cl, sdcl_t *t, const float *src);     /* blocking write of t->n floats */
void sdcl_t_download (sdcl_cl *cl, const sdcl_t *t, float *dst);   /* blocking read of t->n floats */
/* Convenience: alloc + upload. */
void sdcl_t_from_host (sdcl_cl *cl, sdcl_t *t, int nd, const int64_t *shape, const float *src);
/* Frees every pooled (released) buffer. */
void sdcl_cl_pool_trim (sdcl_cl *cl);
/* Bounds the bytes of idle (released, unclaimed) buffers the pool keeps
 * when it has to create a buffer: the oldest idle ones beyond `bytes` are
 * freed first.  UINT64_MAX (the default) keeps everything: no allocation
 * after the first evaluation of a shape, the fastest.  A small limit keeps
 * the pool near the bytes actually in use (the exact-size pool otherwise
 * holds a buffer of every size a network's levels use), at the cost of
 * re-creating buffers during every evaluation. */
void sdcl_cl_set_pool_idle_limit (sdcl_cl *cl, uint64_t bytes);
/* Whether weights derived from uploaded weights (the Winograd transform,
 * 4 float32 values per weight: 8 times an F16 weight's bytes) are kept
 * beside their weight, true by default: no work after the first use.
 * false: from then on each is made at every use into one reused buffer
 * (32 MB for SD's convolutions; those already kept stay with their
 * weights), for up to a third more time per such convolution.  Same
 * results either way. */
void sdcl_cl_set_derived_kept (sdcl_cl *cl, bool keep);
/* Bytes currently allocated through the pool (in use + pooled) and the peak. */
uint64_t sdcl_cl_pool_bytes (const sdcl_cl *cl);
uint64_t sdcl_cl_pool_peak_bytes (const sdcl_cl *cl);
/* Peak of the bytes handed out and not yet released (the pool's peak minus
 * what idle pooled buffers of other sizes added). */
uint64_t sdcl_cl_pool_in_use_peak_bytes (const sdcl_cl *cl);
/* Restarts both peaks at the bytes allocated / in use now (per-phase
 * figures). */
void sdcl_cl_pool_reset_peak (sdcl_cl *cl);

/* ---- device weights ---------------------------------------------------- */

typedef enum {
  SDCL_WT_F32 = 0,
  SDCL_WT_F16 = 1,
  /* int8 with one fp32 scale per row (output channel), dequantized inside
   * the GEMM kernels (weights_q8.c).  Only matrices (nd >= 2) are stored
   * so; vectors asked for as Q8 are stored as F16. */
  SDCL_WT_Q8 = 2
} sdcl_wtype;

typedef enum {  /* element types a weight may come from on the host */
  SDCL_SRC_F32 = 0,
  SDCL_SRC_F16,
  SDCL_SRC_BF16
} sdcl_src_type;

#define SDCL_W_MAX_PARTS 16

/* Rows per panel of the GEMM-packed layout (see sdcl_w.panel). */
#define SDCL_W_PANEL 16

/* A read-only weight tensor on the device.  Tensors larger than the device's
 * max allocation are split along dim 0 into parts of `part_rows` rows (the
 * last may be shorter); ops that take weights handle parts.
 *
 * Layout of a part: row-major when panel == 0.  When panel == SDCL_W_PANEL
 * (matrices, nd >= 2, on devices whose GEMM reads panels: see
 * sdcl_cl_packs_weights), a part's rows are grouped into panels of
 * SDCL_W_PANEL rows, the last zero-padded, and each panel is stored
 * column-interleaved: element (row r, column k) of a part with K columns
 * is at ((r / 16) * K + k) * 16 + r % 16.  part_rows is then a multiple of
 * 16 (unless there is one part). */
typedef struct {
  sdcl_wtype type;
  int panel;
  int nd;
  int64_t d[4];
  int64_t n;
  int nparts;
  int64_t part_rows;
  cl_mem part[SDCL_W_MAX_PARTS];
  sdcl_cl *owner;  /* counts the bytes (sdcl_cl_weight_bytes); must outlive the weight */
} sdcl_w;

/* Converts host data (src_type, n elements, row-major with shape d[0..nd-1])
 * to `type` and uploads it, splitting when needed.  Sticky error on failure. */
void sdcl_w_upload (sdcl_cl *cl, sdcl_w *w, sdcl_wtype type, int nd, const int64_t *shape,
                    const void *src, sdcl_src_type src_type);
void sdcl_w_free (sdcl_w *w);
/* Whether the CPU-tuned kernels run (register-blocked, no local memory:
 * gemm_panel, gemm_conv_panel, attention_blocked): on CPU devices.  The
 * environment may force either set, for tests: SDCL_KERNELS=portable (the
 * GPU kernels) or SDCL_KERNELS=cpu. */
bool sdcl_cl_cpu_kernels (const sdcl_cl *cl);
/* The library that runs the context's GEMMs (linear layers and
 * convolutions).  Chosen at sdcl_cl_new: SDCL_GEMM=own|clblast in the
 * environment forces either (tests); otherwise the per-device choice that
 * `sdcl tune` stored in the cache folder (gemm_config.h), which also
 * carries CLBlast's tuned parameters; otherwise sdcl's own kernels.
 * CLBlast only when sdcl was built with it. */
typedef enum {
  SDCL_GEMM_OWN = 0,
  SDCL_GEMM_CLBLAST = 1
} sdcl_gemm_backend;

sdcl_gemm_backend sdcl_cl_gemm_backend (const sdcl_cl *cl);
/* Switches the backend (`sdcl tune` measures both on one context; tests).
 * Weights keep the layout they were uploaded with (sdcl_w.panel), so
 * switch before uploading; CLBlast requests fall back to own without
 * CLBlast in the build. */
void sdcl_cl_set_gemm_backend (sdcl_cl *cl, sdcl_gemm_backend backend);
/* The cache folder (NULL: caching disabled) and the OpenCL device. */
const char *sdcl_cl_cache_dir (const sdcl_cl *cl);
cl_device_id sdcl_cl_device_id (const sdcl_cl *cl);
/* Whether sdcl_w_upload packs matrices into panels for gemm_panel: with
 * the panel kernel (gemm.h's sdcl_gemm_kernel_choice: CPU devices) and
 * sdcl's own GEMM backend (CLBlast reads row-major weights). */
bool sdcl_cl_packs_weights (const sdcl_cl *cl);
uint64_t sdcl_w_bytes (const sdcl_w *w);
/* Q8 quantization of one row of n values (weights_q8.c): q[i] =
 * round (row[i] / scale) with scale = max |row| / 127 (0 for a zero row),
 * so |q| <= 127 and |row[i] - q[i] * scale| <= scale / 2.  False when the
 * row holds a non-finite value (nothing written). */
bool sdcl_q8_quantize_row (const float *row, int64_t n, int8_t *q, float *scale);
/* Device bytes held by the live weights uploaded through `cl` (as stored:
 * panel padding included).  With sdcl_cl_pool_bytes, what the device holds
 * for sdcl (tests check that a released network really left). */
uint64_t sdcl_cl_weight_bytes (const sdcl_cl *cl);
/* Weight uploads started through `cl` since it was created (tests check
 * that a cancelled load stopped uploading). */
uint64_t sdcl_cl_weight_uploads (const sdcl_cl *cl);
/* The cancel flag of the run the context serves now (NULL: none).  Weight
 * loaders poll it between tensors, so a cancel during a model load stops
 * within one tensor's upload.  The caller owns the flag and clears this
 * before the flag goes away. */
void sdcl_cl_set_cancel (sdcl_cl *cl, const volatile int *flag);
const volatile int *sdcl_cl_cancel_flag (const sdcl_cl *cl);
/* Whether the networks run on `cl` pad their convolutions circularly (the
 * run's sdcl_gen_params.tiling): set by the pipeline for one run, read by
 * the network layer (nn_conv_forward_desc), not by op_conv2d itself. */
void sdcl_cl_set_circular_padding (sdcl_cl *cl, bool circular);
bool sdcl_cl_circular_padding (const sdcl_cl *cl);

/* Host-side conversions used by uploads and tests. */
float sdcl_half_to_float (uint16_t h);
uint16_t sdcl_float_to_half (float f);    /* round to nearest even */
float sdcl_bf16_to_float (uint16_t b);

#endif /* SDCL_CLRT_H */

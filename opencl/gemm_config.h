/* The per-device GEMM choice that `sdcl tune` measures and stores in the
 * cache folder, and its application when a context is created.  Internal
 * to the device layer.
 *
 * One JSON file per device, named after a hash of the platform name, the
 * device name and the driver version (a driver update asks for a new
 * tune): "gemm-<sha256>.json" next to the program-binary cache.  It holds
 * the device identity, the chosen backend ("own" or "clblast"), CLBlast's
 * tuned Xgemm parameters and the GFLOP/s measured per shape and backend
 * (for people; the loader only reads what it applies), and under "tiles"
 * the fastest configuration of gemm_tiled per weight type
 * ("gemm_tiled_f32", "gemm_tiled_f16"), of conv_tiled likewise
 * ("conv_tiled_f32", "conv_tiled_f16"), of attention_tiled per head
 * width ("attention_tiled_40", ...) and the register tile of the CPUs'
 * gemm_panel for linear layers ("gemm_panel"), as indices into their tables; each
 * optional.  Under "extensions", optional too, which of the optional
 * extension variants (extensions.h) the tune measured faster than the
 * plain kernels: "fp16" { "choice": "half" or "fp32", "half_seconds",
 * "fp32_seconds" } and "subgroups" { "choice": "subgroups" or "plain",
 * ... } (sdcl_tile_choice.ext).  The file is input
 * from disk, so everything is validated before use: names, value ranges
 * and the divisibility rules CLBlast's kernel relies on (a zero or an odd
 * value would make CLBlast divide by zero or build a broken kernel).  A
 * file that fails any check is ignored with a warning on stderr.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GEMM_CONFIG_H
#define SDCL_GEMM_CONFIG_H

#include "clrt.h"
#include "clrt_internal.h"

#include <glib.h>

/* CLBlast 1.5's Xgemm parameters, in the order of its database. */
enum { SDCL_XGEMM_NPARAMS = 16 };
extern const char *const sdcl_xgemm_param_names[SDCL_XGEMM_NPARAMS];

/* GFLOP/s columns of a measured shape (0: not measured). */
typedef enum {
  SDCL_FIG_OWN_F16,
  SDCL_FIG_OWN_F32,
  SDCL_FIG_CLBLAST_F16,         /* tuned parameters; F16 weights widened to F32 first */
  SDCL_FIG_CLBLAST_F32,         /* tuned parameters */
  SDCL_FIG_CLBLAST_DEFAULT_F32, /* CLBlast's built-in parameters */
  SDCL_FIG_COUNT
} sdcl_gemm_fig;

extern const char *const sdcl_gemm_fig_names[SDCL_FIG_COUNT];

enum { SDCL_GEMM_MAX_SHAPES = 8 };

typedef struct {
  int m, n, k;
  double gflops[SDCL_FIG_COUNT];
} sdcl_gemm_shape;

typedef struct {
  sdcl_gemm_backend backend;
  bool has_xgemm;                      /* xgemm holds tuned values */
  size_t xgemm[SDCL_XGEMM_NPARAMS];    /* in sdcl_xgemm_param_names order */
  int nshapes;
  sdcl_gemm_shape shapes[SDCL_GEMM_MAX_SHAPES];
  double fraction, tune_seconds;       /* how the parameters were found */
  sdcl_tile_choice tiles;              /* "tiles": the fastest tile configurations */
} sdcl_gemm_config;

/* The file for `dev` in `cache_dir` (g_free it). */
char *sdcl_gemm_config_path (const char *cache_dir, const sdcl_device_info *dev);

/* Whether the Xgemm values are within CLBlast's tuning space and satisfy
 * its kernel's constraints on a device with max_wg work-items per group
 * and local_mem bytes of local memory; else false with the reason in why. */
bool sdcl_xgemm_params_valid (const size_t *values, size_t max_wg, uint64_t local_mem, char *why,
                              size_t why_size);

/* Reads and validates the file at `path` for device `dev` (its identity
 * must match).  False with *error set when it is missing, unreadable or
 * invalid; `out` is then untouched. */
bool sdcl_gemm_config_load (const char *path, const sdcl_device_info *dev, sdcl_gemm_config *out,
                            GError **error);
/* The same for the file's contents (len bytes, not NUL-terminated). */
bool sdcl_gemm_config_parse (const char *text, size_t len, const sdcl_device_info *dev,
                             sdcl_gemm_config *out, GError **error);

/* Writes the file atomically (creating the folder). */
bool sdcl_gemm_config_save (const char *path, const sdcl_device_info *dev,
                            const sdcl_gemm_config *c, GError **error);

/* Hands the Xgemm values to CLBlast for single precision on `device`
 * (CLBlastOverrideParameters: process-wide for that device).  False with
 * a message when CLBlast refuses them or sdcl has no CLBlast. */
bool sdcl_gemm_clblast_override (cl_device_id device, const size_t *values, char *msg,
                                 size_t msg_size);

/* At context creation: reads this device's file from the context's cache
 * folder, if any; when it is valid, applies its CLBlast parameters and
 * stores its backend in *backend, otherwise (invalid) warns on stderr and
 * leaves *backend alone.  No file: nothing happens. */
void sdcl_gemm_config_apply (sdcl_cl *cl, sdcl_gemm_backend *backend);

#endif

/* Internals of the OpenCL runtime shared with the ops and the tests.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CLRT_INTERNAL_H
#define SDCL_CLRT_INTERNAL_H

#include "clrt.h"

/* Lowers the largest single allocation the runtime will make (tensors and
 * weight parts) to `bytes`, so tests can exercise weight splitting and the
 * out-of-memory path on any device.  0 restores the device's limit. */
void sdcl_cl_set_max_alloc_for_testing (sdcl_cl *cl, uint64_t bytes);

/* The effective max allocation (device limit or test override). */
uint64_t sdcl_cl_max_alloc (const sdcl_cl *cl);

/* The cache folder that sdcl_cl_new (cache_dir) uses (g_free it): the
 * argument, else SDCL_CACHE_DIR, else $XDG_CACHE_HOME/sdcl; NULL for "". */
char *sdcl_cl_resolve_cache_dir (const char *cache_dir);

/* The most launches that were ever enqueued and not known to have
 * completed at once (since sdcl_cl_new, or the last reset): what bounds
 * the work an error or a cancel leaves in the queue.  Tests. */
uint64_t sdcl_cl_in_flight_peak (const sdcl_cl *cl);
void sdcl_cl_reset_in_flight_peak (sdcl_cl *cl);

/* Floating-point operations (estimated) one launch of a split op may do:
 * about 0.1-0.4 s on a 2-core CPU, so a queue of paced launches drains in
 * seconds.  op_attention splits its queries to stay under it. */
#define SDCL_CL_LAUNCH_BUDGET (UINT64_C (1) << 31)
uint64_t sdcl_cl_launch_budget (const sdcl_cl *cl);
/* Tests: a smaller budget, so that small ops are split too (0: the
 * default). */
void sdcl_cl_set_launch_budget_for_testing (sdcl_cl *cl, uint64_t flops);
/* Kernel launches enqueued since sdcl_cl_new. */
uint64_t sdcl_cl_launches (const sdcl_cl *cl);

/* What `sdcl tune` measured for one optional extension variant
 * (extensions.h): use -1 when it was not timed (the device lacked it, or
 * the CPU kernels ran), 0 when the plain OpenCL 1.2 kernels were faster, 1
 * when the variant was; the median seconds of the plain [0] and the
 * variant [1] kernels, for the kernel report. */
enum { SDCL_TUNED_EXTS = 2 };   /* = SDCL_N_EXTS (extensions.h) */
typedef struct {
  int use;
  double seconds[2];
} sdcl_ext_tuned;

/* The tile configurations `sdcl tune` measured fastest on this device
 * (gemm_config.h: read from the tuning file at sdcl_cl_new), as indices
 * into sdcl_tiled_configs and sdcl_panel_configs (gemm.h), sdcl_conv_tiled_configs (conv_tiled.h) and sdcl_attn_tiled_configs
 * (attention.h) per head width of sdcl_attn_tuned_widths; -1: not tuned,
 * the table's order decides.  A choice that does not fit the limits at
 * run time is passed over; with them, whether the half-math and
 * sub-group variants were faster (ext; extensions.c follows it under
 * auto).  Mutable: the tuner sets candidates in turn. */
enum { SDCL_ATTN_TUNED_WIDTHS = 6 };
typedef struct {
  int gemm[2];                               /* F32 [0] and F16 [1] weights */
  int conv[2];                               /* conv_tiled (conv_tiled.h), likewise */
  int panel;                                 /* sdcl_panel_configs (CPU kernels) */
  int attention[SDCL_ATTN_TUNED_WIDTHS];
  sdcl_ext_tuned ext[SDCL_TUNED_EXTS];       /* half math and sub-groups, by sdcl_ext */
} sdcl_tile_choice;

sdcl_tile_choice *sdcl_cl_tile_choice (sdcl_cl *cl);
const sdcl_tile_choice *sdcl_cl_tuned (const sdcl_cl *cl);
/* All -1 (seconds 0). */
void sdcl_tile_choice_clear (sdcl_tile_choice *t);

#endif

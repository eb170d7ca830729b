/* The OpenCL runtime's own shared state: the context struct and the
 * helpers its parts (clrt.c, clrt_devices.c, clrt_programs.c,
 * clrt_buffers.c, clrt_weights.c, weights_q8.c) call across files.  Nothing outside
 * opencl/clrt*.c includes this.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CLRT_IMPL_H
#define SDCL_CLRT_IMPL_H

#include "clrt.h"
#include "clrt_internal.h"
#include "extensions.h"

#include <glib.h>
#include <stdbool.h>

typedef struct {
  size_t bytes;
  cl_mem buf;
} pooled_buffer;

struct sdcl_cl {
  cl_platform_id platform;
  cl_device_id device;
  cl_context context;
  cl_command_queue queue;
  sdcl_device_info info;
  uint64_t max_alloc;          /* device limit, or a smaller test override */
  sdcl_gemm_backend gemm;      /* see sdcl_cl_gemm_backend */
  sdcl_tile_choice tiles;      /* see sdcl_cl_tile_choice */
  unsigned ext_bits;           /* sdcl_ext_probe: extensions the device reports */

  char *cache_dir;             /* NULL: binary cache disabled */
  char *cache_identity;        /* platform, device and driver: part of every cache key */
  GHashTable *programs;        /* "index|options" -> cl_program */
  GHashTable *kernels;         /* "name|options" -> cl_kernel */

  sdcl_status status;          /* sticky: the first failure */
  char message[1024];

  GArray *pool;                /* pooled_buffer: released buffers awaiting reuse */
  uint64_t pool_bytes, pool_peak;
  uint64_t in_use_bytes, in_use_peak;   /* handed out and not yet released */
  uint64_t idle_limit;         /* see sdcl_cl_set_pool_idle_limit */
  uint64_t weight_bytes;       /* live sdcl_w buffers (as allocated) */
  uint64_t weight_uploads;     /* sdcl_w uploads started, ever */
  const volatile int *cancel;  /* see sdcl_cl_set_cancel */
  bool circular_padding;       /* see sdcl_cl_set_circular_padding */
  GHashTable *derived;         /* clrt_derived.h: source cl_mem -> sdcl_w *, or NULL */
  uint64_t derived_bytes;      /* the derived weights' (the scratch counts in pool_bytes) */
  bool derived_off;            /* see sdcl_cl_set_derived_kept */
  cl_mem derived_scratch;      /* see sdcl_cl_derived_scratch, or NULL */
  size_t derived_scratch_bytes;

  /* Pacing (see sdcl_cl_run): launches enqueued, launches known complete,
   * and the event of the last marked launch with its sequence number. */
  uint64_t launched, completed, in_flight_peak;
  cl_event mark;
  uint64_t mark_seq;
  uint64_t launch_budget;      /* see SDCL_CL_LAUNCH_BUDGET */

  /* SDCL_PROFILE set: every launch waits for its kernel and its wall time
   * is summed per kernel name (name -> profile_entry), printed to stderr
   * when the context is freed.  Serialises the queue: for profiling only.
   * SDCL_PROFILE=ops: per "label | kernel" (sdcl_cl_profile_label). */
  GHashTable *profile;
  bool profile_ops;
  char profile_label[96];
};

typedef struct {
  double seconds, cpu_seconds;   /* wall; CPU of the whole process (getrusage) */
  uint64_t launches;
} profile_entry;

/* The process's CPU seconds (every thread), for the profile. */
double clrt_cpu_seconds (void);

typedef struct {
  cl_platform_id platform;
  cl_device_id device;
} device_ref;

/* clrt.c */
void clrt_set_error (sdcl_error *err, sdcl_status code, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
bool clrt_is_out_of_memory (cl_int code);
/* Forgets the pacing event (see clrt_pace). */
void clrt_drop_mark (sdcl_cl *cl);
void clrt_print_profile (GHashTable *table);

/* clrt_devices.c: every device of every platform, in platform order (both
 * arrays g_malloc'ed, NULL when count is 0); the device names for a
 * message (g_free); the sdcl_ctx_params.device rules (index or -1). */
sdcl_status clrt_enumerate_devices (device_ref **refs_out, sdcl_device_info **infos_out,
                                    int *count_out, sdcl_error *err);
char *clrt_list_device_names (const sdcl_device_info *infos, int n);
int clrt_choose_device (const sdcl_device_info *infos, int n, const char *spec);

/* clrt_programs.c: waits for the previous marked launch (see there). */
void clrt_pace (sdcl_cl *cl, cl_event ev);

/* clrt_buffers.c: a buffer, trimming the pool and retrying once when the
 * device reports it is out of memory. */
cl_mem clrt_create_buffer (sdcl_cl *cl, cl_mem_flags flags, size_t bytes, const char *what);

/* clrt_weights.c: elements [first, first + n) of src converted into dst
 * (F32 or F16). */
void clrt_convert_range (void *dst, sdcl_wtype type, const void *src, sdcl_src_type src_type,
                         size_t first, size_t n);
/* weights_q8.c: a Q8 part's bytes, and its contents (see there). */
size_t clrt_q8_part_bytes (int64_t stored_rows, int64_t row_elems);
bool clrt_q8_fill (sdcl_cl *cl, void *dst, const void *src, sdcl_src_type src_type,
                   int64_t row_elems, int64_t row0, int64_t rows, int64_t stored_rows, int panel);

#endif

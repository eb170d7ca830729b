/* safetensors reader: read-only mmap and full validation of the header and
 * tensor table (see docs/diffusion.md §Validation).  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_SAFETENSORS_H
#define SDCL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "sdcl.h"

typedef enum {
  SDCL_DT_BOOL, SDCL_DT_U8, SDCL_DT_I8, SDCL_DT_I16, SDCL_DT_U16, SDCL_DT_F16, SDCL_DT_BF16,
  SDCL_DT_I32, SDCL_DT_U32, SDCL_DT_F32, SDCL_DT_I64, SDCL_DT_U64, SDCL_DT_F64,
  SDCL_DT_OTHER /* a valid safetensors dtype sdcl never computes with (F8, C64, ...) */
} sdcl_dtype;

#define SDCL_ST_MAX_DIMS 8

typedef struct {
  const char *name;        /* owned by the file object */
  sdcl_dtype dtype;
  const char *dtype_name;  /* "F16", ... */
  int nd;
  int64_t shape[SDCL_ST_MAX_DIMS];
  int64_t n_elements;
  const void *data;        /* into the mapping: read it with sdcl_st_read, not directly */
  uint64_t nbytes;
} sdcl_st_tensor;

typedef struct sdcl_st_file sdcl_st_file;

/* Maps `path` read-only and validates it.  Errors: SDCL_ERR_IO (cannot
 * open/map, message names the path and errno text), SDCL_ERR_MODEL_FORMAT
 * (message names the path and the violated rule). */
sdcl_status sdcl_st_open (const char *path, sdcl_st_file **out, sdcl_error *err);
/* Same validation over a memory buffer (not copied; must outlive the
 * object).  Used by the fuzzers and tests; `label` names it in messages. */
sdcl_status sdcl_st_open_buffer (const void *data, size_t len, const char *label,
                                 sdcl_st_file **out, sdcl_error *err);
void sdcl_st_close (sdcl_st_file *f);

size_t sdcl_st_count (const sdcl_st_file *f);
const sdcl_st_tensor *sdcl_st_at (const sdcl_st_file *f, size_t i); /* in file order of offsets */
const sdcl_st_tensor *sdcl_st_find (const sdcl_st_file *f, const char *name);
/* The tensor `name` with `nd` dimensions in *out, or model-format naming
 * the file and the tensor (missing, or another number of dimensions). */
sdcl_status sdcl_st_need (const sdcl_st_file *f, const char *name, int nd,
                          const sdcl_st_tensor **out, sdcl_error *err);
const char *sdcl_st_path (const sdcl_st_file *f);
/* __metadata__ value for key, or NULL. */
const char *sdcl_st_metadata (const sdcl_st_file *f, const char *key);

/* Copies n bytes starting at `data` (a tensor's data pointer, plus an
 * offset) into dst.  Files are read with pread(), never through the
 * mapping, so a file truncated under sdcl gives an error instead of SIGBUS;
 * when the file was written since it was opened (size or modification
 * time moved: e.g. `cp` over it), before or during the read, the result is
 * SDCL_ERR_IO "the model file changed on disk since it was loaded".  A
 * file renamed over the path is no change: the open descriptor keeps
 * reading the bytes that were validated.  Buffers are memcpy'd. */
sdcl_status sdcl_st_read (const sdcl_st_file *f, const void *data, void *dst, size_t n,
                          sdcl_error *err);

/* Drops the pages holding `nbytes` bytes at `data` (inside f's mapping)
 * from this process: MADV_DONTNEED on the read-only private mapping.  The
 * data stays valid: the next read faults the same bytes back in from the
 * page cache (or the file).  Called once a tensor has been scanned or
 * uploaded, so the mapped checkpoint does not stay resident next to the
 * device copy of its weights (on CPU devices both are host memory).  The
 * range is widened to whole pages, which may drop a neighbour's first or
 * last page: harmless, as it is re-read on use.  No-op for buffers
 * (sdcl_st_open_buffer), whose memory belongs to the caller. */
void sdcl_st_drop_pages (const sdcl_st_file *f, const void *data, uint64_t nbytes);

/* Converts a tensor of F32/F16/BF16 to float32 into dst (n_elements
 * floats).  Returns false for other dtypes. */
bool sdcl_st_to_f32 (const sdcl_st_tensor *t, float *dst);

#endif /* SDCL_SAFETENSORS_H */

/* OpenCL runtime, weights: uploads in the device format, split and packed
 * (the runtime's parts: clrt.c errors, context and profile; clrt_devices.c;
 * clrt_programs.c; clrt_buffers.c; clrt_weights.c; weights_q8.c; shared
 * state in clrt_impl.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt_impl.h"
#include "clrt_derived.h"
#include "gemm.h"
#include "config.h"

/* ---- weights ----------------------------------------------------------- */

static float
source_element (const void *src, sdcl_src_type type, size_t i)
{
  switch (type)
    {
    case SDCL_SRC_F16:
      return sdcl_half_to_float (((const uint16_t *) src)[i]);
    case SDCL_SRC_BF16:
      return sdcl_bf16_to_float (((const uint16_t *) src)[i]);
    case SDCL_SRC_F32:
    default:
      return ((const float *) src)[i];
    }
}

void
clrt_convert_range (void *dst, sdcl_wtype type, const void *src, sdcl_src_type src_type,
                    size_t first, size_t n)
{
  if (type == SDCL_WT_F32 && src_type == SDCL_SRC_F32)
    memcpy (dst, (const float *) src + first, n * sizeof (float));
  else if (type == SDCL_WT_F16 && src_type == SDCL_SRC_F16)
    memcpy (dst, (const uint16_t *) src + first, n * sizeof (uint16_t));
  else if (type == SDCL_WT_F32)
    for (size_t i = 0; i < n; i++)
      ((float *) dst)[i] = source_element (src, src_type, first + i);
  else
    for (size_t i = 0; i < n; i++)
      ((uint16_t *) dst)[i] = sdcl_float_to_half (source_element (src, src_type, first + i));
}

static size_t
wtype_size (sdcl_wtype type)
{
  return type == SDCL_WT_Q8 ? 1 : type == SDCL_WT_F16 ? 2 : 4;
}

/* A row's bytes on the device (Q8: its int8 values and its scale). */
static uint64_t
row_bytes_of (sdcl_wtype type, int64_t row_elems)
{
  return (uint64_t) row_elems * wtype_size (type) + (type == SDCL_WT_Q8 ? sizeof (float) : 0);
}

bool
sdcl_cl_cpu_kernels (const sdcl_cl *cl)
{
  const char *env = g_getenv ("SDCL_KERNELS");
  if (env && g_ascii_strcasecmp (env, "portable") == 0)
    return false;
  if (env && g_ascii_strcasecmp (env, "cpu") == 0)
    return true;
  return cl->info.type == SDCL_DEVICE_CPU;
}

unsigned
sdcl_cl_ext_bits (const sdcl_cl *cl)
{
  return cl->ext_bits;
}

sdcl_gemm_backend
sdcl_cl_gemm_backend (const sdcl_cl *cl)
{
  return cl->gemm;
}

void
sdcl_cl_set_gemm_backend (sdcl_cl *cl, sdcl_gemm_backend backend)
{
  cl->gemm = SDCL_HAVE_CLBLAST ? backend : SDCL_GEMM_OWN;
}

const char *
sdcl_cl_cache_dir (const sdcl_cl *cl)
{
  return cl->cache_dir;
}

sdcl_tile_choice *
sdcl_cl_tile_choice (sdcl_cl *cl)
{
  return &cl->tiles;
}

const sdcl_tile_choice *
sdcl_cl_tuned (const sdcl_cl *cl)
{
  return &cl->tiles;
}

void
sdcl_tile_choice_clear (sdcl_tile_choice *t)
{
  for (int e = 0; e < SDCL_TUNED_EXTS; e++)
    t->ext[e] = (sdcl_ext_tuned) { .use = -1 };
  for (int i = 0; i < 2; i++)
    t->gemm[i] = t->conv[i] = -1;
  t->panel = -1;
  for (int i = 0; i < SDCL_ATTN_TUNED_WIDTHS; i++)
    t->attention[i] = -1;
}

cl_device_id
sdcl_cl_device_id (const sdcl_cl *cl)
{
  return cl->device;
}

bool
sdcl_cl_packs_weights (const sdcl_cl *cl)
{
  return cl->gemm == SDCL_GEMM_OWN && sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_PANEL;
}

/* Stores row r (row_elems elements of esize bytes) into its place in a
 * part laid out in panels of SDCL_W_PANEL rows (sdcl_w.panel). */
static void
pack_row (void *dst, const void *row, int64_t r, int64_t row_elems, size_t esize)
{
  const int64_t P = SDCL_W_PANEL;
  char *d = (char *) dst + (size_t) ((r / P) * row_elems * P + r % P) * esize;
  if (esize == 2)
    for (int64_t k = 0; k < row_elems; k++)
      ((uint16_t *) d)[k * P] = ((const uint16_t *) row)[k];
  else
    for (int64_t k = 0; k < row_elems; k++)
      ((float *) d)[k * P] = ((const float *) row)[k];
}

/* Uploads rows [row0, row0 + rows) as one device buffer, row-major or in
 * panels (panel != 0).  The data is converted straight into the mapped
 * buffer: on CPU devices that is the device memory itself, so the weights
 * are written once, with no host staging copy (GPU drivers stage the map
 * as a write would). */
static cl_mem
upload_part (sdcl_cl *cl, sdcl_wtype type, const void *src, sdcl_src_type src_type,
             int64_t row_elems, int64_t row0, int64_t rows, int panel)
{
  size_t n = (size_t) (rows * row_elems);
  const size_t esize = wtype_size (type);
  const int64_t stored_rows = panel ? (rows + panel - 1) / panel * panel : rows;
  size_t bytes = type == SDCL_WT_Q8 ? clrt_q8_part_bytes (stored_rows, row_elems)
                                    : (size_t) (stored_rows * row_elems) * esize;
  cl_mem buf = clrt_create_buffer (cl, CL_MEM_READ_ONLY, bytes, "weight tensor");
  if (!buf)
    return NULL;
  void *row = panel && type != SDCL_WT_Q8 ? g_try_malloc ((size_t) row_elems * esize) : NULL;
  cl_int rc = CL_SUCCESS;
  void *dst = panel && type != SDCL_WT_Q8 && !row
                  ? NULL
                  : clEnqueueMapBuffer (cl->queue, buf, CL_TRUE, CL_MAP_WRITE_INVALIDATE_REGION, 0,
                                        bytes, 0, NULL, NULL, &rc);
  if (!dst)
    {
      g_free (row);
      clReleaseMemObject (buf);
      if (rc == CL_SUCCESS || clrt_is_out_of_memory (rc))
        sdcl_cl_fail (cl, SDCL_ERR_OUT_OF_MEMORY, "weight upload: cannot map %zu bytes", bytes);
      else
        sdcl_cl_try (cl, rc, "mapping a weight tensor");
      return NULL;
    }
  if (type == SDCL_WT_Q8)
    {
      if (!clrt_q8_fill (cl, dst, src, src_type, row_elems, row0, rows, stored_rows, panel))
        {
          clEnqueueUnmapMemObject (cl->queue, buf, dst, 0, NULL, NULL);
          clReleaseMemObject (buf);
          return NULL;
        }
    }
  else if (panel)
    {
      /* The last panel's padding rows must read as zeros. */
      if (stored_rows > rows)
        memset ((char *) dst + (size_t) ((stored_rows - panel) * row_elems) * esize, 0,
                (size_t) (panel * row_elems) * esize);
      /* Panels are filled row by row (converted into a one-row buffer). */
      for (int64_t r = 0; r < rows; r++)
        {
          clrt_convert_range (row, type, src, src_type, (size_t) ((row0 + r) * row_elems),
                              (size_t) row_elems);
          pack_row (dst, row, r, row_elems, esize);
        }
    }
  else
    clrt_convert_range (dst, type, src, src_type, (size_t) (row0 * row_elems), n);
  g_free (row);
  rc = clEnqueueUnmapMemObject (cl->queue, buf, dst, 0, NULL, NULL);
  if (!sdcl_cl_try (cl, rc, "uploading a weight tensor"))
    {
      clReleaseMemObject (buf);
      return NULL;
    }
  return buf;
}

void
sdcl_w_upload (sdcl_cl *cl, sdcl_w *w, sdcl_wtype type, int nd, const int64_t *shape,
               const void *src, sdcl_src_type src_type)
{
  memset (w, 0, sizeof *w);
  if (!sdcl_cl_ok (cl))
    return;
  /* Vectors (biases, norms) stay half: few bytes, read by kernels that
   * take only F32 or F16 parameters (load_param). */
  if (type == SDCL_WT_Q8 && nd < 2)
    type = SDCL_WT_F16;
  if (nd < 1 || nd > 4)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_w_upload: %d dimensions (1 to 4 supported)", nd);
      return;
    }
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    {
      if (shape[i] < 0)
        {
          sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_w_upload: negative dimension %" G_GINT64_FORMAT,
                        shape[i]);
          memset (w, 0, sizeof *w);
          return;
        }
      w->d[i] = shape[i];
      n *= shape[i];
    }
  if (n > 0 && !src)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_w_upload: no source data");
      memset (w, 0, sizeof *w);
      return;
    }
  w->type = type;
  w->nd = nd;
  w->n = n;
  w->owner = cl;
  if (n <= 0)
    return;

  int64_t rows = shape[0];
  int64_t row_elems = n / rows;
  uint64_t row_bytes = row_bytes_of (type, row_elems);
  /* A Q8 part's values are padded to 16 bytes before its scales. */
  const uint64_t limit = cl->max_alloc - (type == SDCL_WT_Q8 ? MIN (16, cl->max_alloc) : 0);
  int64_t part_rows = (int64_t) MIN ((uint64_t) rows, limit / row_bytes);
  if (part_rows == 0 || (rows + part_rows - 1) / part_rows > SDCL_W_MAX_PARTS)
    {
      sdcl_cl_fail (cl, SDCL_ERR_OUT_OF_MEMORY,
                    "weight tensor of %" G_GUINT64_FORMAT " bytes does not fit in %d buffers of at "
                    "most %" G_GUINT64_FORMAT " bytes (the device's max allocation)",
                    row_bytes * (uint64_t) rows, SDCL_W_MAX_PARTS, cl->max_alloc);
      return;
    }
  w->panel = nd >= 2 && sdcl_cl_packs_weights (cl) ? SDCL_W_PANEL : 0;
  if (w->panel)
    {
      /* Parts of whole panels, each (with its padding) within the
       * allocation limit; row-major when that cannot be done. */
      const int64_t P = w->panel;
      int64_t prows = part_rows;
      if (prows < rows || (rows + P - 1) / P * P * row_bytes > limit)
        prows = MIN (prows, rows - 1) / P * P;
      if (prows == 0 || (rows + prows - 1) / prows > SDCL_W_MAX_PARTS)
        w->panel = 0;
      else
        part_rows = prows;
    }
  w->part_rows = part_rows;
  cl->weight_uploads++;
  for (int64_t row0 = 0; row0 < rows; row0 += part_rows)
    {
      cl_mem buf = upload_part (cl, type, src, src_type, row_elems, row0,
                                MIN (part_rows, rows - row0), w->panel);
      if (!buf)
        {
          sdcl_w_free (w);
          return;
        }
      w->part[w->nparts++] = buf;
      size_t bytes = 0;
      clGetMemObjectInfo (buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
      cl->weight_bytes += bytes;
    }
}

void
sdcl_w_free (sdcl_w *w)
{
  if (w->owner && w->nparts)
    sdcl_cl_derived_forget (w->owner, w->part[0]); /* its Winograd copy, if any */
  for (int i = 0; i < w->nparts; i++)
    if (w->part[i])
      {
        size_t bytes = 0;
        clGetMemObjectInfo (w->part[i], CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
        if (w->owner)
          w->owner->weight_bytes -= MIN ((uint64_t) bytes, w->owner->weight_bytes);
        clReleaseMemObject (w->part[i]);
      }
  memset (w, 0, sizeof *w);
}

uint64_t
sdcl_cl_weight_bytes (const sdcl_cl *cl)
{
  return cl->weight_bytes;
}

uint64_t
sdcl_cl_weight_uploads (const sdcl_cl *cl)
{
  return cl->weight_uploads;
}

uint64_t
sdcl_w_bytes (const sdcl_w *w)
{
  return w->nparts ? row_bytes_of (w->type, w->n / w->d[0]) * (uint64_t) w->d[0] : 0;
}

/* CLBlast as a GEMM backend (see gemm.h): CLBlast multiplies, sdcl's
 * epilogue kernel adds bias, activation and residual.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt_internal.h"
#include "gemm.h"
#include "ops_util.h"

#include <clblast_c.h>
#include <glib.h>

/* F16 weights are widened in blocks of rows into a scratch tensor of this
 * size (less where the device's allocation limit is lower; one row if
 * that is larger): every call takes the same size from the pool, so the
 * pool holds one such buffer, not one per weight shape. */
enum { HALF_SCRATCH_BYTES = 32 << 20 };

/* How g's output maps onto a row-major matrix for CLBlast. */
typedef enum {
  LAYOUT_NONE,
  LAYOUT_ROWS,    /* y[M, N] with row stride stride_m (linear layers) */
  LAYOUT_COLUMNS, /* y^T[N, M] with row stride stride_n (convolutions: NCHW) */
} out_layout;

/* A single row (or column) has no row stride to check, so it fits either
 * way as long as the other stride is 1. */
static out_layout
layout_of (const sdcl_gemm_desc *g, int64_t N)
{
  if (g->stride_n == 1 && (g->M == 1 || g->stride_m >= N))
    return LAYOUT_ROWS;
  if (g->stride_m == 1 && (N == 1 || g->stride_n >= g->M))
    return LAYOUT_COLUMNS;
  return LAYOUT_NONE;
}

/* One SGEMM: output columns [n_off, n_off + n) of g from the row-major
 * F32 weights [n, K] at float offset w_off of wbuf. */
static void
sgemm (sdcl_cl *cl, const sdcl_gemm_desc *g, out_layout layout, cl_mem wbuf, size_t w_off,
       int64_t n_off, int64_t n)
{
  cl_command_queue queue = sdcl_cl_queue (cl);
  const size_t M = (size_t) g->M, K = (size_t) g->K;
  CLBlastStatusCode rc;
  if (layout == LAYOUT_ROWS) /* y[M, n] = x[M, K] . w[n, K]^T */
    rc = CLBlastSgemm (CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, M,
                       (size_t) n, K, 1.0f, g->x, 0, K, wbuf, w_off, K, 0.0f, g->y,
                       (size_t) (g->y_off + n_off), (size_t) MAX (g->stride_m, n), &queue, NULL);
  else /* y^T[n, M] = w[n, K] . x[M, K]^T */
    rc = CLBlastSgemm (CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes,
                       (size_t) n, M, K, 1.0f, wbuf, w_off, K, g->x, 0, K, 0.0f, g->y,
                       (size_t) (g->y_off + n_off * g->stride_n),
                       (size_t) MAX (g->stride_n, g->M), &queue, NULL);
  if (rc != CLBlastSuccess)
    sdcl_cl_fail (cl, (int) rc == CL_MEM_OBJECT_ALLOCATION_FAILURE ? SDCL_ERR_OUT_OF_MEMORY
                                                                   : SDCL_ERR_DEVICE,
                  "CLBlast SGEMM (M=%" G_GINT64_FORMAT " N=%" G_GINT64_FORMAT " K=%" G_GINT64_FORMAT
                  ") failed with status %d",
                  g->M, n, g->K, (int) rc);
}

/* rows x K half values from float offset `first` of `part` into `scratch`. */
static void
widen (sdcl_cl *cl, cl_mem part, int64_t first, int64_t count, cl_mem scratch)
{
  cl_kernel k = sdcl_cl_kernel (cl, "half_to_float", sdcl_eltwise_options (cl));
  sdcl_args a = sdcl_args_begin (cl, k);
  sdcl_arg_mem (&a, part);
  sdcl_arg_ulong (&a, (uint64_t) first);
  sdcl_arg_mem (&a, scratch);
  sdcl_arg_ulong (&a, (uint64_t) count);
  size_t local = 64, global = sdcl_round_up ((size_t) count, local);
  sdcl_cl_run (cl, k, 1, &global, &local);
}

/* F16 weights: per block of rows, widen then SGEMM.  The in-order queue
 * orders each block's SGEMM before the next widening overwrites it. */
static void
gemm_half (sdcl_cl *cl, const sdcl_gemm_desc *g, out_layout layout)
{
  const sdcl_w *w = g->w;
  const int64_t K = g->K;
  const uint64_t bytes = MIN ((uint64_t) HALF_SCRATCH_BYTES, sdcl_cl_max_alloc (cl) / 2);
  const int64_t floats = MAX ((int64_t) (bytes / sizeof (float)), K);
  const int64_t block = floats / K;
  sdcl_t scratch;
  sdcl_t_alloc (cl, &scratch, 1, floats, 0, 0, 0);
  for (int p = 0; p < w->nparts && sdcl_cl_ok (cl); p++)
    {
      const int64_t n_off = p * w->part_rows;
      const int64_t n_part = MIN (w->part_rows, w->d[0] - n_off);
      for (int64_t r = 0; r < n_part && sdcl_cl_ok (cl); r += block)
        {
          const int64_t rows = MIN (block, n_part - r);
          widen (cl, w->part[p], r * K, rows * K, scratch.buf);
          sgemm (cl, g, layout, scratch.buf, 0, n_off + r, rows);
        }
    }
  sdcl_t_release (cl, &scratch);
}

bool
sdcl_gemm_clblast (sdcl_cl *cl, const sdcl_gemm_desc *g)
{
  const sdcl_w *w = g->w;
  const out_layout layout = layout_of (g, w->d[0]);
  /* Q8 weights run the own kernels, which dequantize them as they load
   * (CLBlast would need a widened F32 copy of every block). */
  if (w->panel || layout == LAYOUT_NONE || w->type == SDCL_WT_Q8)
    return false;
  if (w->type == SDCL_WT_F16)
    gemm_half (cl, g, layout);
  else
    for (int p = 0; p < w->nparts && sdcl_cl_ok (cl); p++)
      {
        const int64_t n_off = p * w->part_rows;
        sgemm (cl, g, layout, w->part[p], 0, n_off, MIN (w->part_rows, w->d[0] - n_off));
      }
  sdcl_gemm_epilogue (cl, g, w->d[0]);
  return true;
}

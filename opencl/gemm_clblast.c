/* CLBlast as an alternative GEMM backend (SDCL_GEMM=clblast), F32 weights
 * only: CLBlast multiplies, sdcl's epilogue kernel adds bias, activation
 * and residual.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "gemm.h"
#include "ops_util.h"

#include <clblast_c.h>
#include <glib.h>

bool
sdcl_gemm_clblast (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                   const sdcl_t *residual, sdcl_act act, sdcl_t *y)
{
  if (w->type != SDCL_WT_F32 || w->panel) /* CLBlast reads row-major weights only */
    return false;
  const int64_t N = w->d[0], K = w->n / N, M = x->n / K;
  cl_command_queue queue = sdcl_cl_queue (cl);
  for (int p = 0; p < w->nparts && sdcl_cl_ok (cl); p++)
    {
      const int64_t n_off = p * w->part_rows;
      const int64_t n_part = MIN (w->part_rows, N - n_off);
      /* Row-major: y[:, n_off:n_off+n_part] = x[M,K] . part[n_part,K]^T */
      CLBlastStatusCode rc
          = CLBlastSgemm (CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes,
                          (size_t) M, (size_t) n_part, (size_t) K, 1.0f, x->buf, 0, (size_t) K,
                          w->part[p], 0, (size_t) K, 0.0f, y->buf, (size_t) n_off, (size_t) N,
                          &queue, NULL);
      if (rc != CLBlastSuccess)
        sdcl_cl_fail (cl, (int) rc == CL_MEM_OBJECT_ALLOCATION_FAILURE ? SDCL_ERR_OUT_OF_MEMORY
                                                                       : SDCL_ERR_DEVICE,
                      "CLBlast SGEMM (M=%" G_GINT64_FORMAT " N=%" G_GINT64_FORMAT
                      " K=%" G_GINT64_FORMAT ") failed with status %d",
                      M, n_part, K, (int) rc);
      sdcl_gemm_epilogue (cl, y, bias, residual, act, M, n_part, N, n_off);
    }
  return true;
}

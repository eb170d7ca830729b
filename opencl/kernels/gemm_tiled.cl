/* gemm_tiled: y[M, N] = act (x[M, K] . w[N, K]^T + bias) + residual, shaped
 * for GPUs (the CPU kernels are in gemm.cl).  Same arguments and output
 * addressing as gemm_nt.
 *
 * A work-group of (BM / TM) x (BN / TN) work-items owns a BM x BN block of
 * y.  Per step of BK along K, the group loads the BM x BK slice of x and the
 * BN x BK slice of w into local memory once, all work-items together (a
 * value is read from global memory by one work-item instead of by every
 * work-item that needs it); then each work-item accumulates its TM x TN
 * outputs from local memory in registers, so each value it loads from
 * local memory is used TN (resp. TM) times.  Per work-group and step that
 * is 2 BM BN BK FLOPs for (BM + BN) BK loads: arithmetic intensity
 * BM BN / (2 (BM + BN)) FLOPs per byte of global memory with F32 weights,
 * 2 BM BN / (4 BM + 2 BN) with F16 ones (32 and 43 for 128 x 128 tiles).
 *
 * The tiles are stored k-major (xs[k][m]) with one float of padding per
 * row, so the stores of the transposing load fall into different local
 * memory banks and the compute loop reads consecutive addresses across
 * neighbouring work-items.  A work-item's outputs are strided (rows
 * lm, lm + BM / TM, ...) for the same reason.  F16 weights are widened by
 * vload_half on their way into local memory: fp32 arithmetic, no
 * cl_khr_fp16 (where the device has it, -DHALF_MATH keeps them half and
 * multiplies in half: tiled_step in common.cl); Q8 weights likewise as int8, their row's scale applied to
 * each finished output (common.cl).  Values past the edge of M, N or K
 * load as zero, so any shape works and the inner loop has no branches;
 * every work-item reaches every barrier (the group's loop bounds are
 * uniform).
 *
 * Tile sizes are compile-time: -DBM -DBN -DBK -DTM -DTN, with BM % TM ==
 * BN % TN == 0; the host (gemm.c) picks them within the device's limits.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#if !defined(BM) || !defined(BN) || !defined(BK) || !defined(TM) || !defined(TN)
#error "gemm_tiled.cl needs -DBM -DBN -DBK -DTM -DTN"
#endif
#if BM % TM != 0 || BN % TN != 0
#error "gemm_tiled.cl: BM must be a multiple of TM and BN of TN"
#endif

#define WG_M (BM / TM)
#define WG_N (BN / TN)
#define WG_SIZE (WG_M * WG_N)

__kernel void gemm_tiled (__global const float *x, __global const weight_t *w,
                          __global const float *bias, int has_bias, int bias_half,
                          __global const float *res, int has_res, __global float *y, long y_off,
                          long stride_m, long stride_n, int bias_off, int M, int N, int K, int act)
{
  __local float xs[BK][BM + 1];
  __local wtile_t ws[BK][BN + 1];
  const int lm = get_local_id (0), ln = get_local_id (1);
  const uint lid = ln * WG_M + lm;
  const int m_base = get_group_id (0) * BM, n_base = get_group_id (1) * BN;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++)
      acc[i][j] = 0.0f;

  for (int k0 = 0; k0 < K; k0 += BK)
    {
      /* Neighbouring work-items load neighbouring k of one row: runs of BK
       * contiguous values from global memory.  (e is unsigned so that / and
       * % by the power of two BK are a shift and a mask: signed ones make
       * LLVM emit `freeze`, which oclgrind's --uninitialized check cannot
       * run.) */
      for (uint e = lid; e < BM * BK; e += WG_SIZE)
        {
          const int r = e / BK, kk = e % BK, m = m_base + r, k = k0 + kk;
          xs[kk][r] = m < M && k < K ? x[(size_t) m * K + k] : 0.0f;
        }
      for (uint e = lid; e < BN * BK; e += WG_SIZE)
        {
          const int r = e / BK, kk = e % BK, n = n_base + r, k = k0 + kk;
          ws[kk][r] = n < N && k < K ? TILE_W (w, (size_t) n * K + k) : (wtile_t) 0;
        }
      barrier (CLK_LOCAL_MEM_FENCE);

      tiled_step (xs, ws, lm, ln, acc);
      /* The next step overwrites the tiles this one reads. */
      barrier (CLK_LOCAL_MEM_FENCE);
    }

  __global const float *scales = W_SCALES (w, N, K); /* Q8: after the rows */
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++)
      {
        const int m = m_base + lm + i * WG_M, n = n_base + ln + j * WG_N;
        if (m < M && n < N)
          store_out (acc[i][j] * W_SCALE (scales, n), y, y_off + m * stride_m + n * stride_n,
                     bias, has_bias, bias_half, bias_off + n, res, has_res, act);
      }
}

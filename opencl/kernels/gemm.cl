/* y[M, N] = act (x[M, K] . w[N, K]^T + bias) + residual: the "NT" GEMM of
 * linear layers, with x and w both contiguous along K.
 *
 * Each work-item owns a TM x TN block of outputs and keeps TM * TN float8
 * partial dot products in registers: per step of 8 along K it loads TM rows
 * of x and TN rows of w once and does TM * TN vector FMAs, so every loaded
 * value is reused TN (resp. TM) times.  The 8 lanes are summed at the end.
 * Rows past the edge of M or N are clamped to the last row (valid memory,
 * results discarded), which keeps the inner loop free of branches.
 *
 * Output element (m, n) lives at y[y_off + m * stride_m + n * stride_n]
 * (the residual uses the same addressing) and takes bias[bias_off + n]: a
 * linear layer writes row-major [M, N]; a convolution (m = pixel,
 * n = output channel) writes NCHW.  The weight may be one part of a split
 * tensor, which the offsets account for.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#if !defined(TM) || !defined(TN)
#error "gemm.cl needs -DTM=<rows> -DTN=<columns> (the host's block size)"
#endif

__kernel void gemm_nt (__global const float *x, __global const weight_t *w,
                       __global const float *bias, int has_bias, int bias_half,
                       __global const float *res, int has_res, __global float *y, long y_off,
                       long stride_m, long stride_n, int bias_off, int M, int N, int K, int act)
{
  const int m0 = get_global_id (0) * TM, n0 = get_global_id (1) * TN;
  if (m0 >= M || n0 >= N)
    return;

  __global const float *xr[TM];
  __global const weight_t *wr[TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
    xr[i] = x + (size_t) min (m0 + i, M - 1) * K;
#pragma unroll
  for (int j = 0; j < TN; j++)
    wr[j] = w + (size_t) min (n0 + j, N - 1) * K;

  float8 acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++)
      acc[i][j] = (float8) (0.0f);

  int k = 0;
  for (; k + 8 <= K; k += 8)
    {
      float8 xv[TM];
#pragma unroll
      for (int i = 0; i < TM; i++)
        xv[i] = vload8 (0, xr[i] + k);
#pragma unroll
      for (int j = 0; j < TN; j++)
        {
          float8 wv = LOAD_W8 (wr[j], k);
#pragma unroll
          for (int i = 0; i < TM; i++)
            acc[i][j] = fma (xv[i], wv, acc[i][j]);
        }
    }

  float out[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++)
      {
        float8 a = acc[i][j];
        float4 h = a.lo + a.hi;
        out[i][j] = (h.x + h.y) + (h.z + h.w);
      }
  for (; k < K; k++) /* K % 8 leftovers */
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
      for (int j = 0; j < TN; j++)
        out[i][j] = fma (xr[i][k], LOAD_W (wr[j], k), out[i][j]);

#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++)
      {
        const int m = m0 + i, n = n0 + j;
        if (m >= M || n >= N)
          continue;
        const long at = y_off + m * stride_m + n * stride_n;
        float v = out[i][j];
        if (has_bias)
          v += load_param (bias, bias_half, bias_off + n);
        v = apply_act (v, act);
        if (has_res)
          v += res[at];
        y[at] = v;
      }
}

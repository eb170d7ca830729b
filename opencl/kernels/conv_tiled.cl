/* conv_tiled: the convolution as an implicit GEMM shaped for GPUs (the
 * CPUs' one is gemm_conv_panel in gemm.cl).  Output y[b, n, pixel] =
 * act (sum over k of patch (pixel, k) . w[n, k] + bias) + residual, where
 * k = (c, ky, kx) runs over K = C * KH * KW and the patch value is read
 * from the input x [C, H, W] of one batch entry (x + x_off) on the fly:
 * no patch ("im2col") buffer and no padded copy.  Padding reads as zero or,
 * with s.wrap, as the opposite edge; the nearest upsample to UH x UW is
 * fused (as conv.cl's im2col_chunk does it, so both paths agree).
 *
 * The blocking is gemm_tiled's: a work-group of (BM / TM) x (BN / TN)
 * work-items owns BM pixels x BN output channels; per step of BK along K
 * all work-items together load the BM x BK patch slice and the BN x BK
 * weight slice into local memory, then each accumulates TM x TN outputs
 * in registers (fp32, F16 weights widened by vload_half on load; or,
 * -DHALF_MATH where the device has cl_khr_fp16, half products summed per
 * step: tiled_step in common.cl).
 * Arithmetic intensity per step: 2 BM BN BK FLOPs for BM BK patch and
 * BN BK weight loads, the same as gemm_tiled's, though patch loads of a
 * 3x3 convolution hit the same input value up to 9 times (caches serve
 * those).
 *
 * The patch slice is loaded pixel-fastest: neighbouring work-items read
 * neighbouring input pixels (consecutive addresses for stride 1) and
 * write consecutive local addresses.  Each pixel's patch origin is
 * computed once per work-group into a local table (the division by Wo
 * leaves the K loop).  (e is unsigned so that % and / by the power of two
 * BM are a mask and a shift; see gemm_tiled.cl on oclgrind.)
 *
 * A launch covers the pixels from m0 on (the host splits big convolutions
 * over launches: see conv_tiled.c).
 *
 * Compile-time: -DBM -DBN -DBK -DTM -DTN (BM a power of two, BM % TM ==
 * BN % TN == 0) and the kernel size -DKH -DKW; the host (conv_tiled.c)
 * picks the tiles within the device's limits.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#if !defined(BM) || !defined(BN) || !defined(BK) || !defined(TM) || !defined(TN)
#error "conv_tiled.cl needs -DBM -DBN -DBK -DTM -DTN"
#endif
#if !defined(KH) || !defined(KW)
#error "conv_tiled.cl needs -DKH -DKW"
#endif
#if BM % TM != 0 || BN % TN != 0 || (BM & (BM - 1)) != 0
#error "conv_tiled.cl: BM must be a power of two and a multiple of TM, BN of TN"
#endif

#define WG_M (BM / TM)
#define WG_N (BN / TN)
#define WG_SIZE (WG_M * WG_N)
#define TAPS (KH * KW)

/* The layout of conv_shape in opencl/ops.c and conv.cl (all int). */
typedef struct
{
  int C, H, W;
  int UH, UW;
  int Ho, Wo;
  int kh, kw, stride, pad_t, pad_l;
  int wrap;
} conv_tiled_shape;

/* i in [-n, 2n) to [0, n) (the host checks that no pad exceeds the size). */
static inline int
wrap_tiled (int i, int n)
{
  return i < 0 ? i + n : i >= n ? i - n : i;
}

/* Patch value k = (c, ky, kx) of the pixel whose patch starts at (py, px)
 * of the virtual (upsampled, padded) input. */
static inline float
patch_value (__global const float *x, const conv_tiled_shape *s, int py, int px, int k)
{
  const int c = k / TAPS, t = k - c * TAPS, ky = t / KW, kx = t - ky * KW;
  int uy = py + ky, ux = px + kx;
  if (s->wrap)
    {
      uy = wrap_tiled (uy, s->UH);
      ux = wrap_tiled (ux, s->UW);
    }
  if (uy < 0 || uy >= s->UH || ux < 0 || ux >= s->UW)
    return 0.0f;
  const int iy = s->UH == s->H ? uy : (uy * s->H) / s->UH;
  const int ix = s->UW == s->W ? ux : (ux * s->W) / s->UW;
  return x[((size_t) c * s->H + iy) * s->W + ix];
}

__kernel void conv_tiled (__global const float *x, __global const weight_t *w,
                          __global const float *bias, int has_bias, int bias_half,
                          __global const float *res, int has_res, __global float *y, long y_off,
                          long stride_m, long stride_n, int bias_off, int M, int N, int K, int act,
                          long x_off, const conv_tiled_shape s, int m0)
{
  __local float xs[BK][BM + 1];
  __local wtile_t ws[BK][BN + 1];
  __local int org_y[BM], org_x[BM];
  const int lm = get_local_id (0), ln = get_local_id (1);
  const uint lid = ln * WG_M + lm;
  const int m_base = m0 + get_group_id (0) * BM, n_base = get_group_id (1) * BN;
  __global const float *xb = x + x_off;

  for (uint r = lid; r < BM; r += WG_SIZE)
    {
      const int m = m_base + r, oy = m / s.Wo, ox = m - oy * s.Wo;
      org_y[r] = oy * s.stride - s.pad_t;
      org_x[r] = ox * s.stride - s.pad_l;
    }
  barrier (CLK_LOCAL_MEM_FENCE);

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++)
      acc[i][j] = 0.0f;

  for (int k0 = 0; k0 < K; k0 += BK)
    {
      for (uint e = lid; e < BM * BK; e += WG_SIZE)
        {
          const uint r = e % BM, kk = e / BM;
          const int m = m_base + r, k = k0 + kk;
          xs[kk][r] = m < M && k < K ? patch_value (xb, &s, org_y[r], org_x[r], k) : 0.0f;
        }
      for (uint e = lid; e < BN * BK; e += WG_SIZE)
        {
          const uint r = e / BK, kk = e % BK;
          const int n = n_base + r, k = k0 + kk;
          ws[kk][r] = n < N && k < K ? TILE_W (w, (size_t) n * K + k) : (wtile_t) 0;
        }
      barrier (CLK_LOCAL_MEM_FENCE);

      tiled_step (xs, ws, lm, ln, acc);
      /* The next step overwrites the tiles this one reads. */
      barrier (CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++)
      {
        const int m = m_base + lm + i * WG_M, n = n_base + ln + j * WG_N;
        if (m < M && n < N)
          store_out (acc[i][j], y, y_off + m * stride_m + n * stride_n, bias, has_bias, bias_half,
                     bias_off + n, res, has_res, act);
      }
}

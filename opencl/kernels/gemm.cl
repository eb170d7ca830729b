/* y[M, N] = act (x[M, K] . w[N, K]^T + bias) + residual: the GEMM of
 * linear layers and convolutions, x contiguous along K.  Two kernels:
 *
 * gemm_panel (CPUs; -DMR=<rows> -DNC=<columns>): w packed at upload into
 * panels of 16 rows, each stored k-major (sdcl_w.panel: the 16 weights of
 * one k are adjacent).  A work-item owns MR rows x NC columns of y in
 * 2 * MR vector registers; per k it loads NC weights once (two vectors) and
 * broadcasts MR values of x, MR x 2 vector FMAs: the classic outer-product
 * micro-kernel of CPU BLAS, with no horizontal sums and no local memory.
 * NC = 16: one panel as two float8 halves (16 AVX2 registers); NC = 32: two
 * panels as float16 vectors, for devices with 16-wide native float vectors
 * (AVX-512), where it doubles the work per instruction; NC = 16 with
 * -DNV=1: one panel as one float16 vector and up to 28 rows (AVX-512's 32
 * registers), each x value broadcast straight into its FMA.
 *
 * Weights are F32, F16 (-DWEIGHT_HALF) or Q8 (-DWEIGHT_Q8: int8 widened on
 * load, the row's scale applied to each finished output, common.cl).
 *
 * gemm_panel -DGEGLU (NV = 2; host: op_linear_geglu): the feed-forward's
 * GEGLU fused into its projection.  w holds F hidden rows, then the F gate
 * rows (N = 2F, F a multiple of 16); a work-item's first vector is 16
 * hidden columns (8 at NC = 16), its second the same columns' gates, and
 * it writes hidden * gelu (gate) to y [M, F]: the [M, 2F] product is never
 * stored and read back.
 *
 * gemm_nt (row-major weights where no gemm_tiled configuration fits, or
 * SDCL_GEMM_KERNEL=nt; -DTM -DTN): w row-major [N, K].
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
#if !defined(MR) && (!defined(TM) || !defined(TN))
#error "gemm.cl needs -DMR=<rows> (gemm_panel) or -DTM=<rows> -DTN=<columns> (gemm_nt)"
#endif

/* -DWEIGHT_F16C (host: PoCL on x86 only, gemm.c): 16 F16 weights widened
 * by one conversion (vcvtph2ps zmm); PoCL's vload_half16 becomes two ymm
 * conversions and a vinsertf64x4, which on Intel compete with the FMAs
 * for ports 0 and 5.  _Float16 is clang's type, not OpenCL C: the plain
 * path stays the default. */
#if defined(WEIGHT_HALF) && defined(WEIGHT_F16C)
typedef _Float16 f16x16 __attribute__ ((ext_vector_type (16), aligned (2)));
#undef LOAD_W16
#define LOAD_W16(p, i) __builtin_convertvector (*(__global const f16x16 *) ((p) + (i)), float16)
#endif

#ifdef MR
/* The column vectors of a row: one panel as one float16 (-DNV=1, NC = 16),
 * or two vectors: halves of one panel, or two panels.  TWO (s) keeps s
 * only in the two-vector variants. */
#ifndef NV
#define NV 2
#endif
#if NV == 1 && NC == 16
typedef float16 colvec;
#define LOAD_COLS(p, i) LOAD_W16 (p, i)
#define STORE_COLS(v, i, p) vstore16 (v, i, p)
#define LOADF_COLS(p) vload16 (0, p)
#define LOADH_COLS(p, i) vload_half16 (0, (__global const half *) (p) + (i))
#define SECOND_OFFSET 0
#define TWO(s)
#elif NV == 1
#error "gemm_panel with -DNV=1 needs -DNC=16"
#elif NC == 32
typedef float16 colvec;
#define LOAD_COLS(p, i) LOAD_W16 (p, i)
#define STORE_COLS(v, i, p) vstore16 (v, i, p)
#define LOADF_COLS(p) vload16 (0, p)
#define LOADH_COLS(p, i) vload_half16 (0, (__global const half *) (p) + (i))
#define SECOND_OFFSET 0
#elif NC == 16
typedef float8 colvec;
#define LOAD_COLS(p, i) LOAD_W8 (p, i)
#define STORE_COLS(v, i, p) vstore8 (v, i, p)
#define LOADF_COLS(p) vload8 (0, p)
#define LOADH_COLS(p, i) vload_half8 (0, (__global const half *) (p) + (i))
#define SECOND_OFFSET 8
#else
#error "gemm_panel needs -DNC=16 or -DNC=32"
#endif
#ifndef TWO
#define TWO(s) s
#define SECOND_ACC b
#else
#define SECOND_ACC a /* unused: no second accumulator */
#endif

/* The weights of a work-item's second column vector: the panel's second
 * half, or the next panel (the first again past the last one: its results
 * are discarded). */
inline __global const weight_t *
second_cols (__global const weight_t *p0, int n0, int N, int K)
{
  if (NC == 16)
    return p0; /* unused when NV == 1 */
  return n0 + 16 < N ? p0 + (size_t) 16 * K : p0;
}
#endif

#ifdef MR
/* Columns per accumulator vector. */
#define COLS (NC / NV)

/* act (v * scale + bias) for the COLS columns from n of one accumulator
 * (the Q8 scale, then store_out's order).  Whole vectors: run on every
 * element one at a time, this epilogue took a quarter of a K = 320
 * layer's time (perf annotate, Intel AVX-512). */
inline colvec epilogue_cols (colvec v, int n, __global const float *scales,
                             __global const float *bias, int has_bias, int bias_half, int bias_n,
                             int act)
{
#ifdef WEIGHT_Q8
  v *= LOADF_COLS (scales + n);
#endif
  if (has_bias)
    v += bias_half ? LOADH_COLS (bias, bias_n) : LOADF_COLS (bias + bias_n);
  switch (act)
    {
    case ACT_SILU: return v * SIGMOID_OF (v);
    case ACT_GELU: return GELU_OF (v);
    case ACT_QUICK_GELU: return v * SIGMOID_OF (1.702f * v);
    default: return v;
    }
}

/* The MR x NC outputs of a work-item: vector epilogue and stores where
 * the tile's columns are all in range (stores of whole vectors where
 * columns are adjacent, a linear layer's row-major y), else store_out per
 * element.  Rows past M are skipped. */
__attribute__ ((always_inline)) inline void
store_tile (const colvec *a, const colvec *b, int m0, int n0, int M, int N,
            __global const float *scales, __global float *y, long y_off, long stride_m,
            long stride_n, __global const float *bias, int has_bias, int bias_half, int bias_off,
            __global const float *res, int has_res, int act)
{
  const bool whole = n0 + NC <= N;
#pragma unroll
  for (int i = 0; i < MR; i++)
    {
      const int m = m0 + i;
      if (m >= M)
        break;
      const long row = y_off + m * stride_m + n0 * stride_n;
      if (whole)
        {
          colvec v[NV];
          v[0] = epilogue_cols (a[i], n0, scales, bias, has_bias, bias_half, bias_off + n0, act);
          TWO (v[1] = epilogue_cols (b[i], n0 + COLS, scales, bias, has_bias, bias_half,
                                     bias_off + n0 + COLS, act);)
          if (stride_n == 1)
            {
#pragma unroll
              for (int h = 0; h < NV; h++)
                {
                  if (has_res)
                    v[h] += LOADF_COLS (res + row + h * COLS);
                  STORE_COLS (v[h], 0, y + row + h * COLS);
                }
              continue;
            }
          float out[NC];
#pragma unroll
          for (int h = 0; h < NV; h++)
            STORE_COLS (v[h], h, out);
          for (int j = 0; j < NC; j++)
            y[row + j * stride_n] = out[j] + (has_res ? res[row + j * stride_n] : 0.0f);
          continue;
        }
      float out[NC];
      STORE_COLS (a[i], 0, out);
      TWO (STORE_COLS (b[i], 1, out);)
      for (int j = 0; j < NC && n0 + j < N; j++)
        store_out (out[j] * W_SCALE (scales, n0 + j), y, row + j * stride_n, bias, has_bias,
                   bias_half, bias_off + n0 + j, res, has_res, act);
    }
}

#ifdef GEGLU
#if NV != 2
#error "gemm_panel -DGEGLU needs -DNV=2"
#endif
/* Output columns per work-item: one vector of hidden ones (16, or 8 at
 * NC = 16: half a panel) and their gates, the same columns F rows on. */
#define COL_STEP COLS
#define OUT_COLS(N) ((N) / 2)
#define W1_OFFSET 0

/* The MR x 16 outputs of a GEGLU work-item (y row-major [M, F]): bias,
 * then eltwise_geglu's GELU_OF, so fused and unfused runs agree. */
__attribute__ ((always_inline)) inline void
store_geglu (const colvec *a, const colvec *b, int m0, int n0, int M, int F,
             __global const float *scales, __global float *y, long y_off, long stride_m,
             __global const float *bias, int has_bias, int bias_half, int bias_off)
{
#pragma unroll
  for (int i = 0; i < MR; i++)
    {
      const int m = m0 + i;
      if (m >= M)
        break;
      const colvec h = epilogue_cols (a[i], n0, scales, bias, has_bias, bias_half, bias_off + n0,
                                      ACT_NONE);
      const colvec g = epilogue_cols (b[i], F + n0, scales, bias, has_bias, bias_half,
                                      bias_off + F + n0, ACT_NONE);
      STORE_COLS (h * GELU_OF (g), 0, y + y_off + m * stride_m + n0);
    }
}
#else
#define COL_STEP NC
#define OUT_COLS(N) (N)
#define W1_OFFSET SECOND_OFFSET
#endif
#endif

#ifdef MR
/* xp[rb][k][MR] = x[x_off + min (rb * MR + i, M - 1) * K + k]: the rows of
 * x packed k-major per block of MR rows, for gemm_panel -DXPACK (host:
 * gemm.c).  Read through MR row pointers, a 16-row block left x86's 15
 * general registers short: the compiled loop reloaded 6 pointers from the
 * stack per k (23 loads per 16 FMAs, at most ~70% of the FMA rate by
 * llvm-mca; 17 loads through the one pointer of a packed block). */
__kernel void gemm_pack_rows (__global const float *x, long x_off, __global float *xp, int M,
                              int K)
{
  const int k = get_global_id (0), rb = get_global_id (1);
  if (k >= K)
    return;
  __global float *dst = xp + ((size_t) rb * K + k) * MR;
#pragma unroll
  for (int i = 0; i < MR; i++)
    dst[i] = x[x_off + (size_t) min (rb * MR + i, M - 1) * K + k];
}

__kernel void gemm_panel (__global const float *x, __global const weight_t *w,
                          __global const float *bias, int has_bias, int bias_half,
                          __global const float *res, int has_res, __global float *y, long y_off,
                          long stride_m, long stride_n, int bias_off, int M, int N, int K, int act)
{
  const int m0 = get_global_id (0) * MR, n0 = get_global_id (1) * COL_STEP;
  if (m0 >= M || n0 >= OUT_COLS (N))
    return;

  /* Rows past M are clamped to the last row (valid memory, results
   * discarded); columns past N read the panel's zero padding. */
#ifdef XPACK
  __global const float *xb = x + (size_t) get_global_id (0) * K * MR;
#define X_AT(i, k) xb[(size_t) (k) * MR + (i)]
#else
  __global const float *xr[MR];
#pragma unroll
  for (int i = 0; i < MR; i++)
    xr[i] = x + (size_t) min (m0 + i, M - 1) * K;
#define X_AT(i, k) xr[i][k]
#endif
  /* Column n0's panel, and its place in the panel (at NC = 16, GEGLU's
   * 8-column steps start halfway through one). */
  __global const weight_t *p0 = w + (size_t) (n0 & ~15) * K + (n0 & 15);
#ifdef GEGLU
  __global const weight_t *p1 = p0 + (size_t) OUT_COLS (N) * K; /* the gates' panel */
#else
  __global const weight_t *p1 = second_cols (p0, n0, N, K);
#endif
  /* Q8: the scales follow the part's panels (N rounded up to whole panels). */
  __global const float *scales = W_SCALES (w, (N + 15) / 16 * 16, K);

  colvec a[MR];
  TWO (colvec b[MR];)
#pragma unroll
  for (int i = 0; i < MR; i++)
    {
      a[i] = (colvec) (0.0f);
      TWO (b[i] = a[i];)
    }

  for (int k = 0; k < K; k++)
    {
      const colvec w0 = LOAD_COLS (p0, 16 * k);
      TWO (const colvec w1 = LOAD_COLS (p1, 16 * k + W1_OFFSET);)
#pragma unroll
      for (int i = 0; i < MR; i++)
        {
          const colvec xv = (colvec) (X_AT (i, k));
          a[i] = fma (xv, w0, a[i]);
          TWO (b[i] = fma (xv, w1, b[i]);)
        }
    }
#undef X_AT

#ifdef GEGLU
  store_geglu (a, b, m0, n0, M, OUT_COLS (N), scales, y, y_off, stride_m, bias, has_bias, bias_half,
               bias_off);
#else
  store_tile (a, SECOND_ACC, m0, n0, M, N, scales, y, y_off, stride_m, stride_n, bias, has_bias,
              bias_half, bias_off, res, has_res, act);
#endif
}

/* gemm_conv_panel: the convolution as an implicit GEMM with gemm_panel's
 * micro-kernel.  Row m is output pixel m (oy = m / Wo, ox = m % Wo) of one
 * batch entry, column n an output channel, k = (c, ky, kx) the weight's
 * [O, C, kh, kw] order.  x is the input already zero-padded (and
 * upsampled) by conv_pad: planes of Hp x Wp, so patch value (m, k) is
 * x[c * Hp * Wp + (oy * stride + ky) * Wp + ox * stride + kx], with no
 * bounds checks and no patch buffer.  x_off selects the batch entry.  Rows
 * past M are clamped.  The kernel size and stride are compile-time (-DKH
 * -DKW -DSTRIDE) so the taps unroll. */
#if defined(KH) && defined(KW)
__kernel void gemm_conv_panel (__global const float *x, __global const weight_t *w,
                               __global const float *bias, int has_bias, int bias_half,
                               __global const float *res, int has_res, __global float *y,
                               long y_off, long stride_m, long stride_n, int bias_off, int M,
                               int N, int K, int act, long x_off, int C, int stride, int Wo, int Hp,
                               int Wp)
{
  const int m0 = get_global_id (0) * MR, n0 = get_global_id (1) * NC;
  if (m0 >= M || n0 >= N)
    return;
  __global const weight_t *p0 = w + (size_t) n0 * K;
  __global const weight_t *p1 = second_cols (p0, n0, N, K);
  /* Q8: the scales follow the part's panels (N rounded up to whole panels). */
  __global const float *scales = W_SCALES (w, (N + 15) / 16 * 16, K);
  const size_t plane = (size_t) Hp * Wp;

  colvec a[MR];
  TWO (colvec b[MR];)
#pragma unroll
  for (int i = 0; i < MR; i++)
    {
      a[i] = (colvec) (0.0f);
      TWO (b[i] = a[i];)
    }

  /* The k loop over (c, ky, kx); PIXEL(i, row, kx) is pixel i's patch value. */
#define CONV_ACCUMULATE(PIXEL)                                                             \
  {                                                                                        \
    for (int c = 0; c < C; c++)                                                            \
      {                                                                                    \
        /* The channel's KH x KW taps at compile-time offsets from one base:   \
         * indices 16 k in int were sign-extended per load (perf annotate). */             \
        __global const weight_t *w0c = p0 + (size_t) c * (KH * KW * 16);                 \
        TWO (__global const weight_t *w1c = p1 + (size_t) c * (KH * KW * 16);)           \
        _Pragma ("unroll") for (int ky = 0; ky < KH; ky++)                                 \
        {                                                                                  \
          const size_t row = c * plane + (size_t) ky * Wp;                                 \
          _Pragma ("unroll") for (int kx = 0; kx < KW; kx++)                               \
          {                                                                                \
            const int tap = 16 * (ky * KW + kx);                                           \
            const colvec w0 = LOAD_COLS (w0c, tap);                                        \
            TWO (const colvec w1 = LOAD_COLS (w1c, tap + SECOND_OFFSET);)                  \
            _Pragma ("unroll") for (int i = 0; i < MR; i++)                                \
            {                                                                              \
              const colvec xv = (colvec) (PIXEL (i, row, kx));                             \
              a[i] = fma (xv, w0, a[i]);                                                   \
              TWO (b[i] = fma (xv, w1, b[i]);)                                             \
            }                                                                              \
          }                                                                                \
        }                                                                                  \
      }                                                                                    \
  }

  const int oy0 = m0 / Wo, ox0 = m0 - oy0 * Wo;
  if (ox0 + MR <= Wo && m0 + MR <= M)
    {
      /* The MR pixels are neighbours in one output row: one base pointer and
       * compile-time offsets, so the values shared by neighbouring taps
       * (pixel i + 1, tap kx = pixel i, tap kx + 1 at stride 1) load once. */
      __global const float *b0 = x + x_off + (size_t) (oy0 * STRIDE) * Wp + ox0 * STRIDE;
#define ROW_PIXEL(i, row, kx) b0[(row) + (i) * STRIDE + (kx)]
      CONV_ACCUMULATE (ROW_PIXEL)
#undef ROW_PIXEL
    }
  else
    {
      __global const float *base[MR];
#pragma unroll
      for (int i = 0; i < MR; i++)
        {
          const int m = min (m0 + i, M - 1), oy = m / Wo, ox = m - oy * Wo;
          base[i] = x + x_off + (size_t) (oy * stride) * Wp + ox * stride;
        }
#define ANY_PIXEL(i, row, kx) base[i][(row) + (kx)]
      CONV_ACCUMULATE (ANY_PIXEL)
#undef ANY_PIXEL
    }
#undef CONV_ACCUMULATE

  store_tile (a, SECOND_ACC, m0, n0, M, N, scales, y, y_off, stride_m, stride_n, bias, has_bias,
              bias_half, bias_off, res, has_res, act);
}
#endif /* KH && KW */
#endif /* MR */

#ifdef TM
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

  __global const float *scales = W_SCALES (w, N, K); /* Q8: after the rows */
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
        float v = out[i][j] * W_SCALE (scales, n);
        if (has_bias)
          v += load_param (bias, bias_half, bias_off + n);
        v = apply_act (v, act);
        if (has_res)
          v += res[at];
        y[at] = v;
      }
}
#endif /* TM */

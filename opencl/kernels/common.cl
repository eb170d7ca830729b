/* Prelude prepended to every sdcl program.  OpenCL C 1.2, no extensions,
 * except in the optional variants the host builds only for devices that
 * have them (opencl/extensions.c): -DHALF_MATH (cl_khr_fp16) and
 * -DSDCL_SUBGROUPS (cl_khr_subgroups or cl_intel_subgroups).
 *
 * Weights may be stored as half: pointers to half are legal without
 * cl_khr_fp16 and vload_half* converts to float (core OpenCL), so all
 * arithmetic stays in fp32.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

#ifdef HALF_MATH
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif
#if defined(SDCL_SUBGROUPS) && defined(cl_khr_subgroups)
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif

/* Activation codes, equal to sdcl_act in ops.h. */
#define ACT_NONE 0
#define ACT_SILU 1
#define ACT_GELU 2
#define ACT_QUICK_GELU 3

/* Keys per head in attention_blocked's packed key tiles (ops.c
 * pack_key_tiles): M rounded up to 64, so that a step of 32 or 64 keys
 * (attention_blocked, attention_blocked16) never reads past the buffer. */
#define KEYS_PADDED(M) (((M) + 63) / 64 * 64)

/* 2^x for x <= 0 (attention's scores minus their running maximum, in
 * log2 units) as 2^(n - 1) * 2^f: n = trunc(x), which for x <= 0 is the
 * ceiling (one conversion each way: PoCL's floor() took a dozen
 * instructions), 2^(n - 1) from the exponent bits and 2^f, f = x - n + 1
 * in (0, 1], a degree-5 polynomial (relative error 1.6e-7 in float
 * arithmetic).  x is clamped at -126, where the exponent bits are zero and
 * the result exactly 0: masked keys (-inf) weigh nothing.  About a third
 * of the instructions of the library's exp, which must also handle
 * overflow and NaN. */
#define SDCL_EXP2_NEG(name, T, IT, convert_IT, convert_T, as_T)                          \
  inline T name (T x)                                                                 \
  {                                                                                   \
    x = max (x, (T) (-126.0f));                                                       \
    const IT n = convert_IT (x);                                                      \
    const T f = x - convert_T (n) + (T) (1.0f);                                       \
    T p = fma (f, (T) (0.0018762329f), (T) (0.0089925844f));                          \
    p = fma (f, p, (T) (0.055823606f));                                               \
    p = fma (f, p, (T) (0.24015453f));                                                \
    p = fma (f, p, (T) (0.69315296f));                                                \
    p = fma (f, p, (T) (0.99999994f));                                                \
    return p * as_T ((n + 126) << 23);                                                \
  }
SDCL_EXP2_NEG (exp2_neg8, float8, int8, convert_int8, convert_float8, as_float8)
SDCL_EXP2_NEG (exp2_neg16, float16, int16, convert_int16, convert_float16, as_float16)

/* Sum of the 8 or 16 lanes (pairwise, so rounding stays close to a tree
 * sum). */
inline float sum8 (float8 v)
{
  const float4 h = v.lo + v.hi;
  return (h.x + h.y) + (h.z + h.w);
}

inline float sum16 (float16 v)
{
  return sum8 (v.lo + v.hi);
}

/* The activations' formulas for float and float vectors alike (the GEMM
 * epilogues apply them to whole accumulator vectors).  GELU is the exact
 * (erf) one, PyTorch's default. */
#define SIGMOID_OF(x) (1.0f / (1.0f + exp (-(x))))
#define GELU_OF(x) (0.5f * (x) * (1.0f + erf ((x) * 0.70710678118654752f)))

inline float sigmoid_f (float x) { return SIGMOID_OF (x); }
inline float gelu_f (float x) { return GELU_OF (x); }

inline float apply_act (float x, int act)
{
  switch (act)
    {
    case ACT_SILU: return x * sigmoid_f (x);
    case ACT_GELU: return gelu_f (x);
    case ACT_QUICK_GELU: return x * sigmoid_f (1.702f * x);
    default: return x;
    }
}

/* A small parameter vector (bias, gamma, beta) that is float or half; the
 * choice is a uniform run-time flag so such vectors need no extra program
 * variants.  NULL-able parameters are guarded by the caller. */
inline float load_param (__global const float *p, int is_half, size_t i)
{
  return is_half ? vload_half (i, (__global const half *) p) : p[i];
}

/* The main weight tensor of a GEMM or convolution: the element type is a
 * compile-time variant (-DWEIGHT_HALF, -DWEIGHT_Q8) because it sits in the
 * inner loop. */
#ifdef WEIGHT_HALF
typedef half weight_t;
#define LOAD_W(p, i) vload_half ((i), (p))
#define LOAD_W8(p, i) vload_half8 (0, (p) + (i))
#define LOAD_W16(p, i) vload_half16 (0, (p) + (i))
#elif defined(WEIGHT_Q8)
/* int8 values widened to float; the row's scale multiplies the finished
 * dot product (W_SCALE), see opencl/weights_q8.c. */
typedef char weight_t;
#define LOAD_W(p, i) convert_float ((p)[i])
#define LOAD_W8(p, i) convert_float8 (vload8 (0, (p) + (i)))
#define LOAD_W16(p, i) convert_float16 (vload16 (0, (p) + (i)))
#else
typedef float weight_t;
#define LOAD_W(p, i) ((p)[i])
#define LOAD_W8(p, i) vload8 (0, (p) + (i))
#define LOAD_W16(p, i) vload16 (0, (p) + (i))
#endif

/* The per-row scales of a Q8 weight part of `rows` stored rows of K
 * values: after the int8 values, which are padded to 16 bytes.  W_SCALE
 * is 1 for F32 and F16 weights (and compiles away). */
#ifdef WEIGHT_Q8
inline __global const float *
q8_scales (__global const char *w, size_t rows, size_t K)
{
  return (__global const float *) (w + (rows * K + 15) / 16 * 16);
}
#define W_SCALES(w, rows, K) q8_scales ((w), (rows), (K))
#define W_SCALE(s, n) ((s)[n])
#else
#define W_SCALES(w, rows, K) 0
#define W_SCALE(s, n) ((void) (s), 1.0f)
#endif

/* Sum of `v` over a work-group whose size is a power of two; `scratch`
 * holds one float per work-item.  Every work-item gets the sum.  Must be
 * reached by all work-items (it contains barriers). */
#ifdef SDCL_SUBGROUPS
/* Each sub-group reduces in registers, one value per sub-group goes
 * through local memory, and every work-item adds those few in the same
 * order (so all get the same sum): one barrier pair instead of log2 (n)
 * tree steps with a barrier each. */
inline float work_group_sum_pow2 (float v, __local float *scratch)
{
  const float part = sub_group_reduce_add (v);
  if (get_sub_group_local_id () == 0)
    scratch[get_sub_group_id ()] = part;
  barrier (CLK_LOCAL_MEM_FENCE);
  float sum = 0.0f;
  const uint groups = get_num_sub_groups ();
  for (uint i = 0; i < groups; i++)
    sum += scratch[i];
  barrier (CLK_LOCAL_MEM_FENCE); /* scratch may be reused right after */
  return sum;
}
#else
inline float work_group_sum_pow2 (float v, __local float *scratch)
{
  const size_t lid = get_local_id (0), n = get_local_size (0);
  scratch[lid] = v;
  barrier (CLK_LOCAL_MEM_FENCE);
  for (size_t s = n / 2; s > 0; s >>= 1)
    {
      if (lid < s)
        scratch[lid] += scratch[lid + s];
      barrier (CLK_LOCAL_MEM_FENCE);
    }
  float sum = scratch[0];
  barrier (CLK_LOCAL_MEM_FENCE); /* scratch may be reused right after */
  return sum;
}
#endif

/* Epilogue of one GEMM output (gemm.cl, gemm_tiled.cl): bias, activation,
 * residual; (m, n) in range. */
inline void
store_out (float v, __global float *y, long at, __global const float *bias, int has_bias,
           int bias_half, int bias_n, __global const float *res, int has_res, int act)
{
  if (has_bias)
    v += load_param (bias, bias_half, bias_n);
  v = apply_act (v, act);
  if (has_res)
    v += res[at];
  y[at] = v;
}

#if defined(BM) && defined(BN) && defined(BK) && defined(TM) && defined(TN)
/* ---- the compute step of gemm_tiled and conv_tiled ----------------------
 * (always_inline: a call would keep the accumulators in memory; unrolled,
 * the step is large enough for a compiler to decline plain `inline`.)
 * A work-item's TM x TN outputs accumulate one BK step from the local
 * tiles xs[BK][BM + 1] (activations, float) and ws[BK][BN + 1] (weights:
 * float, or half under HALF_MATH).  Output (i, j) is row lm + i * BM / TM,
 * column ln + j * BN / TN of the group's block. */
#ifdef HALF_MATH
#ifndef WEIGHT_HALF
#error "HALF_MATH needs F16 weights (-DWEIGHT_HALF)"
#endif
#if TN % 2 != 0
#error "HALF_MATH pairs output columns: TN must be even"
#endif
/* F16 weights stay half in local memory (no widening, half the bytes). */
typedef half wtile_t;
#define TILE_W(p, i) ((p)[i])
#else
typedef float wtile_t;
#define TILE_W(p, i) LOAD_W (p, i)
#endif

/* The fp32 dot product of one output over the step, added to acc. */
inline float
tiled_dot_f32 (__local const float (*xs)[BM + 1], __local const wtile_t (*ws)[BN + 1], int row,
               int col, float acc)
{
  for (int kk = 0; kk < BK; kk++)
    acc = fma (xs[kk][row], (float) ws[kk][col], acc);
  return acc;
}

#ifdef HALF_MATH
/* Half arithmetic: activations rounded to half as they leave local memory,
 * products and the step's sum of BK terms in half2 FMAs (two output
 * columns per instruction), then each step's sum is added to the fp32
 * accumulator.  Error per output: at most about (BK + 1) 2^-11 sum|x w|
 * (docs/performance.md, "Optional extensions").  A step sum that is not
 * finite (an activation beyond half's 65504, or a partial sum
 * overflowing) is recomputed in fp32 from the same tiles, so overflow
 * costs time, never the result. */
__attribute__ ((always_inline)) inline void
tiled_step (__local const float (*xs)[BM + 1], __local const wtile_t (*ws)[BN + 1],
            int lm, int ln, float acc[TM][TN])
{
  half2 h[TM][TN / 2];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN / 2; j++)
      h[i][j] = (half2) (0.0h, 0.0h);
#pragma unroll
  for (int kk = 0; kk < BK; kk++)
    {
      half a[TM];
      half2 b[TN / 2];
#pragma unroll
      for (int i = 0; i < TM; i++)
        a[i] = convert_half (xs[kk][lm + i * (BM / TM)]);
#pragma unroll
      for (int j = 0; j < TN / 2; j++)
        b[j] = (half2) (ws[kk][ln + 2 * j * (BN / TN)], ws[kk][ln + (2 * j + 1) * (BN / TN)]);
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN / 2; j++)
          h[i][j] = fma ((half2) (a[i], a[i]), b[j], h[i][j]);
    }
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN / 2; j++)
      {
        const float2 s = convert_float2 (h[i][j]);
        const int row = lm + i * (BM / TM), col = ln + 2 * j * (BN / TN);
        if (isfinite (s.x) && isfinite (s.y))
          {
            acc[i][2 * j] += s.x;
            acc[i][2 * j + 1] += s.y;
          }
        else
          {
            acc[i][2 * j] = tiled_dot_f32 (xs, ws, row, col, acc[i][2 * j]);
            acc[i][2 * j + 1] = tiled_dot_f32 (xs, ws, row, col + BN / TN, acc[i][2 * j + 1]);
          }
      }
}
#else
__attribute__ ((always_inline)) inline void
tiled_step (__local const float (*xs)[BM + 1], __local const wtile_t (*ws)[BN + 1],
            int lm, int ln, float acc[TM][TN])
{
#pragma unroll
  for (int kk = 0; kk < BK; kk++)
    {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; i++)
        a[i] = xs[kk][lm + i * (BM / TM)];
#pragma unroll
      for (int j = 0; j < TN; j++)
        b[j] = ws[kk][ln + j * (BN / TN)];
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++)
          acc[i][j] = fma (a[i], b[j], acc[i][j]);
    }
}
#endif
#endif

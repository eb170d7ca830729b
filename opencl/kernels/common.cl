/* Prelude prepended to every sdcl program.  OpenCL C 1.2, no extensions.
 *
 * Weights may be stored as half: pointers to half are legal without
 * cl_khr_fp16 and vload_half* converts to float (core OpenCL), so all
 * arithmetic stays in fp32.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

/* Activation codes, equal to sdcl_act in ops.h. */
#define ACT_NONE 0
#define ACT_SILU 1
#define ACT_GELU 2
#define ACT_QUICK_GELU 3

/* Sum of the 16 lanes (pairwise, so rounding stays close to a tree sum). */
inline float sum16 (float16 v)
{
  const float8 a = v.lo + v.hi;
  const float4 b = a.lo + a.hi;
  return (b.x + b.y) + (b.z + b.w);
}

inline float sigmoid_f (float x) { return 1.0f / (1.0f + exp (-x)); }

/* Exact (erf) GELU, as PyTorch's default. */
inline float gelu_f (float x) { return 0.5f * x * (1.0f + erf (x * 0.70710678118654752f)); }

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

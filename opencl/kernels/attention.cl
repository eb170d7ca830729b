/* Streaming ("flash") attention: softmax (q k^T * scale) v per head without
 * ever storing the N x M scores (reference §9.2).
 *
 * A work-group of BQ work-items owns BQ consecutive queries of one head of
 * one batch entry; each work-item owns one query and keeps its scaled query
 * row, a running max m, a running sum l and an output accumulator of DH
 * floats.  Keys and values stream through local memory in blocks of BK rows,
 * loaded cooperatively.  Per block:
 *   m' = max (m, max_j s_j);  l = l * exp (m - m') + sum_j exp (s_j - m');
 *   acc = acc * exp (m - m') + sum_j exp (s_j - m') v_j;  m = m'
 * and finally o = acc / l.
 *
 * DH (head dim) and BK are compile-time so the per-query arrays have a fixed
 * size; the host picks BK to fit the device's local memory.  With `causal`,
 * query i sees keys j <= i; the key loop stops after the work-group's last
 * query (a uniform bound, so barriers stay uniform).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef DH
#error "attention.cl needs -DDH=<head dim>"
#endif
#ifndef BK
#define BK 32
#endif
/* Vector width along the head dim: 8 or 4 when DH allows, else 1. */
#if DH % 8 == 0
#define VW 8
typedef float8 floatv;
#define VLOAD(i, p) vload8 ((i), (p))
#define VSTORE(v, i, p) vstore8 ((v), (i), (p))
inline float hsum (float8 v) { float4 h = v.lo + v.hi; return (h.x + h.y) + (h.z + h.w); }
#elif DH % 4 == 0
#define VW 4
typedef float4 floatv;
#define VLOAD(i, p) vload4 ((i), (p))
#define VSTORE(v, i, p) vstore4 ((v), (i), (p))
inline float hsum (float4 v) { return (v.x + v.y) + (v.z + v.w); }
#else
#define VW 1
typedef float floatv;
#define VLOAD(i, p) ((p)[i])
#define VSTORE(v, i, p) ((p)[i] = (v))
inline float hsum (float v) { return v; }
#endif
#define DV (DH / VW)
/* -DUSE_LOCAL=0 reads keys and values straight from global memory (no
 * barriers); measured no faster on PoCL, so the default stages them. */
#ifndef USE_LOCAL
#define USE_LOCAL 1
#endif
#if USE_LOCAL
#define KPTR __local
#else
#define KPTR __global
#endif

__kernel void attention (__global const float *q, __global const float *k,
                         __global const float *v, __global float *o, int N, int M, int heads,
                         float scale, int causal, __local float *kblock, __local float *vblock)
{
  const int lid = get_local_id (0), bq = get_local_size (0);
  const int q_first = get_group_id (0) * bq;
  const int qi = q_first + lid;
  const int h = get_group_id (1), b = get_group_id (2);
  const size_t ld = (size_t) heads * DH;

  /* Work-items past the last query still help load blocks (and hit every
   * barrier); they compute on the last query and store nothing. */
  __global const float *qrow = q + ((size_t) b * N + min (qi, N - 1)) * ld + (size_t) h * DH;
  floatv qv[DV], acc[DV];
  for (int d = 0; d < DV; d++)
    {
      qv[d] = VLOAD (d, qrow) * scale;
      acc[d] = (floatv) (0.0f);
    }
  float m = -INFINITY, l = 0.0f;

  const int key_end = causal ? min (M, q_first + bq) : M;
  __global const float *kbase = k + (size_t) b * M * ld + (size_t) h * DH;
  __global const float *vbase = v + (size_t) b * M * ld + (size_t) h * DH;
  for (int kb = 0; kb < key_end; kb += BK)
    {
      const int nk = min (BK, key_end - kb);
#if USE_LOCAL
      for (int i = lid; i < nk * DH; i += bq)
        {
          const int j = i / DH, d = i % DH;
          kblock[i] = kbase[(size_t) (kb + j) * ld + d];
          vblock[i] = vbase[(size_t) (kb + j) * ld + d];
        }
      barrier (CLK_LOCAL_MEM_FENCE);
#define KROW(j) (kblock + (j) * DH)
#define VROW(j) (vblock + (j) * DH)
#else
#define KROW(j) (kbase + (size_t) (kb + (j)) * ld)
#define VROW(j) (vbase + (size_t) (kb + (j)) * ld)
#endif

      float s[BK];
      float block_max = m;
      for (int j = 0; j < nk; j++)
        {
          KPTR const float *kj = KROW (j);
          floatv part = qv[0] * VLOAD (0, kj);
          for (int d = 1; d < DV; d++)
            part = fma (qv[d], VLOAD (d, kj), part);
          float dot = hsum (part);
          if (causal && kb + j > qi)
            dot = -INFINITY;
          s[j] = dot;
          block_max = fmax (block_max, dot);
        }
      if (block_max != -INFINITY) /* else every key so far is masked: nothing to add */
        {
          const float correction = exp (m - block_max); /* exp (-inf) = 0 on the first block */
          l *= correction;
          for (int d = 0; d < DV; d++)
            acc[d] *= correction;
          for (int j = 0; j < nk; j++)
            {
              const float p = exp (s[j] - block_max);
              l += p;
              KPTR const float *vj = VROW (j);
              for (int d = 0; d < DV; d++)
                acc[d] = fma ((floatv) (p), VLOAD (d, vj), acc[d]);
            }
          m = block_max;
        }
#if USE_LOCAL
      barrier (CLK_LOCAL_MEM_FENCE);
#endif
    }

  if (qi < N)
    {
      __global float *orow = o + ((size_t) b * N + qi) * ld + (size_t) h * DH;
      const float inv = 1.0f / l;
      for (int d = 0; d < DV; d++)
        VSTORE (acc[d] * inv, d, orow);
    }
}

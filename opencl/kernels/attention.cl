/* Streaming ("flash") attention: softmax (q k^T * scale) v per head without
 * ever storing the N x M scores (docs/diffusion.md §Streaming attention).
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

#ifdef QB
/* attention_blocked (CPUs with 8-wide float vectors, AVX2; -DDH -DQB -DG
 * -DKSTEP -DCB): a register-blocked variant, attention_blocked16's design
 * (attention_wide.cl) in float8 vectors.  A work-item owns G groups of QB
 * consecutive queries of one head and takes the keys KSTEP (32 or 64) at
 * a time; each group in turn works through them while they are in L1:
 *   scores  s[QB][KSTEP / 8] += q[i][d] * kt[d][..] (keys along the lanes,
 *           so no horizontal sums), from kt, the keys packed by the host
 *           in tiles of 16 (ops.c pack_key_tiles: [B, heads, tiles, DH,
 *           16], one tile contiguous, zero up to KEYS_PADDED (M));
 *   softmax one running maximum per query and step, exp2 over 8 lanes at
 *           once (scores in log2 units), the sums kept per lane until the
 *           end, the rescaling skipped while the maximum holds;
 *   output  acc[QB][DH / 8] += p[i][j] * v[j][..], in blocks of CB float8
 *           channels, loaded from the group's state only after the scores
 *           have left the registers.
 * The host picks QB, KSTEP and CB so that the QB * KSTEP / 8 score chains
 * (8 or more: two FMA pipes of 4-cycle latency) and the QB * CB
 * accumulators each fit AVX2's 16 registers (ops.c attention_blocked).
 * No local memory and no barriers.  Lanes of keys >= key_end (past M, or
 * past the query under `causal`) get -inf scores and zero weight, and
 * their rows are clamped to valid memory. */
#if DH % 8 != 0 || !defined(KSTEP) || (64 % KSTEP) != 0 || KSTEP % 16 != 0
#error "attention_blocked needs DH % 8 == 0 and -DKSTEP=16|32|64"
#endif
#define DV8 (DH / 8)
#define NS (KSTEP / 8)   /* score vectors per query and step */
#ifndef CB
#define CB DV8
#endif
#ifndef G
#define G 1
#endif

inline float hmax8 (float8 v)
{
  const float4 h = max (v.lo, v.hi);
  const float2 g = max (h.lo, h.hi);
  return max (g.x, g.y);
}

__kernel void attention_blocked (__global const float *q, __global const float *kt,
                                 __global const float *v, __global float *o, int N, int M,
                                 int heads, float scale, int causal)
{
  const int q0 = get_global_id (0) * QB * G, h = get_global_id (1), b = get_global_id (2);
  if (q0 >= N)
    return;
  const size_t ld = (size_t) heads * DH;
  __global const float *kth = kt + ((size_t) b * heads + h) * KEYS_PADDED (M) * DH;
  __global const float *vh = v + (size_t) b * M * ld + (size_t) h * DH;
  /* Scores in log2 units, so that the softmax's exponentials are exp2_neg8. */
  const float scale2 = scale * M_LOG2E_F;

  /* Each group's running state in memory (L1) between steps. */
  float8 acc_g[G][QB][DV8];
  float m_g[G][QB];
  float8 l_g[G][QB];   /* the softmax's sums per lane: one horizontal sum at the end */
  for (int g = 0; g < G; g++)
#pragma unroll
    for (int i = 0; i < QB; i++)
      {
        m_g[g][i] = -INFINITY;
        l_g[g][i] = (float8) (0.0f);
#pragma unroll
        for (int c = 0; c < DV8; c++)
          acc_g[g][i][c] = (float8) (0.0f);
      }
  const int8 lane = (int8) (0, 1, 2, 3, 4, 5, 6, 7);
  const int key_end = causal ? min (M, q0 + QB * G) : M;

  for (int j0 = 0; j0 < key_end; j0 += KSTEP)
    for (int g = 0; g < G; g++)
      {
        const int qg = q0 + g * QB;
        if (qg >= N)
          break;      /* later groups have no queries either */
        if (causal && j0 > qg + QB - 1)
          continue;   /* every key of this step is past the group's queries */
        __global const float *qrow[QB];
#pragma unroll
        for (int i = 0; i < QB; i++)
          qrow[i] = q + ((size_t) b * N + min (qg + i, N - 1)) * ld + (size_t) h * DH;

        /* Score vector u of a query: keys j0 + 8u .. j0 + 8u + 7, the
         * (u & 1) half of packed tile u / 2. */
        float8 s[QB][NS];
#pragma unroll
        for (int i = 0; i < QB; i++)
#pragma unroll
          for (int u = 0; u < NS; u++)
            s[i][u] = (float8) (0.0f);
        __global const float *ktile = kth + (size_t) j0 * DH;
        for (int d = 0; d < DH; d++)
          {
            float8 kv[NS];
#pragma unroll
            for (int u = 0; u < NS; u++)
              kv[u] = vload8 (2 * ((u / 2) * DH + d) + (u & 1), ktile);
#pragma unroll
            for (int i = 0; i < QB; i++)
              {
                const float8 qv = (float8) (qrow[i][d]);
#pragma unroll
                for (int u = 0; u < NS; u++)
                  s[i][u] = fma (qv, kv[u], s[i][u]);
              }
          }

        float p[QB][KSTEP], correction[QB];
        bool rescale = false;
        const bool whole = !causal && j0 + KSTEP <= key_end;
#pragma unroll
        for (int i = 0; i < QB; i++)
          {
            float8 top = (float8) (-INFINITY);
#pragma unroll
            for (int u = 0; u < NS; u++)
              {
                s[i][u] *= scale2;
                if (!whole)
                  {
                    /* Keys past the end (or, causal, past query qg + i) are masked. */
                    const int end = causal ? min (key_end, qg + i + 1) : key_end;
                    s[i][u] = select (s[i][u], (float8) (-INFINITY), j0 + 8 * u + lane >= end);
                  }
                top = max (top, s[i][u]);
              }
            const float m_old = m_g[g][i];
            /* m_new is finite: the first step holds key 0, which no query masks. */
            const float m_new = max (m_old, hmax8 (top));
            correction[i] = 1.0f;
            if (m_new > m_old)
              {
                correction[i] = exp2 (m_old - m_new);
                l_g[g][i] *= correction[i];
                m_g[g][i] = m_new;
                rescale = true;
              }
            float8 sum = (float8) (0.0f);
#pragma unroll
            for (int u = 0; u < NS; u++)
              {
                const float8 pu = exp2_neg8 (s[i][u] - m_new);
                sum += pu;
                vstore8 (pu, u, p[i]);
              }
            l_g[g][i] += sum;
          }

        const int nk = min (KSTEP, key_end - j0);
#pragma unroll
        for (int c0 = 0; c0 < DV8; c0 += CB)
          {
            float8 acc[QB][CB];
#pragma unroll
            for (int i = 0; i < QB; i++)
#pragma unroll
              for (int c = 0; c < CB && c0 + c < DV8; c++)
                acc[i][c] = rescale ? acc_g[g][i][c0 + c] * correction[i] : acc_g[g][i][c0 + c];
            for (int j = 0; j < nk; j++)
              {
                __global const float *vj = vh + (size_t) (j0 + j) * ld;
#pragma unroll
                for (int c = 0; c < CB && c0 + c < DV8; c++)
                  {
                    const float8 vv = vload8 (c0 + c, vj);
#pragma unroll
                    for (int i = 0; i < QB; i++)
                      acc[i][c] = fma ((float8) (p[i][j]), vv, acc[i][c]);
                  }
              }
#pragma unroll
            for (int i = 0; i < QB; i++)
#pragma unroll
              for (int c = 0; c < CB && c0 + c < DV8; c++)
                acc_g[g][i][c0 + c] = acc[i][c];
          }
      }

  for (int g = 0; g < G; g++)
#pragma unroll
    for (int i = 0; i < QB; i++)
      {
        const int qi = q0 + g * QB + i;
        if (qi >= N)
          break;
        __global float *orow = o + ((size_t) b * N + qi) * ld + (size_t) h * DH;
        const float inv = 1.0f / sum8 (l_g[g][i]);
#pragma unroll
        for (int c = 0; c < DV8; c++)
          vstore8 (acc_g[g][i][c] * inv, c, orow);
      }
}
#endif /* QB */

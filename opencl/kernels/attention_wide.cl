/* attention_blocked16 (CPUs with 16-wide float vectors, AVX-512; -DDH -DQB):
 * attention_blocked (attention.cl) with every vector 16 lanes wide.  There
 * the scores of a 16-key tile are two float8 per query and the output
 * accumulators float8 along the head's channels, so on AVX-512 each
 * instruction does half the work it could: for the UNet's 40-channel
 * heads 10 half-width instructions per (query, key).  Here the scores are
 * one float16 per query (their softmax too: one exp per 16 keys) and the
 * output accumulators float16 with one float8 for a remainder of 8
 * channels (40 = 16 + 16 + 8): 5.5 instructions, all but the remainder
 * full width.  The host picks QB so that QB * (DH / 16 + 2) vectors fit
 * the 32 registers.  kt is the keys in packed 16-key tiles, as for
 * attention_blocked; masking and clamping as there.
 *
 * Two things keep the FMAs fed (docs/performance.md, "OpenCL on PoCL's CPU device"):
 * - A work-item owns G groups of QB queries and takes the keys 32 at a
 *   time; each group in turn loads its state, works through the 32 keys
 *   and stores its state (L1).  So a tile of K and V is read from memory
 *   once per G groups rather than once per group: with one group the
 *   kernel streamed all of a head's K and V (2 MB at 4096 tokens) per QB
 *   queries and waited on L3.
 * - 32 keys per step: 2 QB independent score chains (QB alone left the
 *   FMA latency exposed) and one softmax rescaling per 32 keys, skipped
 *   when the running maximum does not move; exponentials in base 2 with
 *   the scale folded in (exp2_neg16, common.cl).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#if !defined(DH) || !defined(QB) || DH % 8 != 0
#error "attention_blocked16 needs -DQB and -DDH with DH % 8 == 0"
#endif
#define D16 (DH / 16)
#define TAIL (DH % 16 != 0)   /* one float8 for channels [16 * D16, DH) */
#define NACC (D16 > 0 ? D16 : 1)
#ifndef G
#define G 1
#endif

/* The largest of 16 scores.  `max`, not `fmax`: the scores are never NaN
 * (masked ones are -INFINITY), and fmax's NaN rule cost a compare and a
 * blend per step in PoCL's code. */
inline float hmax16 (float16 v)
{
  const float8 a = max (v.lo, v.hi);
  const float4 b = max (a.lo, a.hi);
  const float2 c = max (b.lo, b.hi);
  return max (c.x, c.y);
}

__kernel void attention_blocked16 (__global const float *q, __global const float *kt,
                                   __global const float *v, __global float *o, int N, int M,
                                   int heads, float scale, int causal)
{
  const int q0 = get_global_id (0) * QB * G, h = get_global_id (1), b = get_global_id (2);
  if (q0 >= N)
    return;
  const size_t ld = (size_t) heads * DH;
  __global const float *kth = kt + ((size_t) b * heads + h) * KEYS_PADDED (M) * DH;
  __global const float *vh = v + (size_t) b * M * ld + (size_t) h * DH;
  /* Scores in log2 units, so that the softmax's exponentials are exp2_neg16. */
  const float scale2 = scale * M_LOG2E_F;

  /* The G groups' running state lives in memory (L1) between key tiles;
   * a group's state is in registers while it works on one tile. */
  float16 acc_g[G][QB][NACC];
  float8 tail_g[G][QB];
  float m_g[G][QB], l_g[G][QB];
  for (int g = 0; g < G; g++)
#pragma unroll
    for (int i = 0; i < QB; i++)
      {
        m_g[g][i] = -INFINITY;
        l_g[g][i] = 0.0f;
        tail_g[g][i] = (float8) (0.0f);
#pragma unroll
        for (int c = 0; c < NACC; c++)
          acc_g[g][i][c] = (float16) (0.0f);
      }
  const int16 lane = (int16) (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int key_end = causal ? min (M, q0 + QB * G) : M;

  for (int j0 = 0; j0 < key_end; j0 += 32)
    for (int g = 0; g < G; g++)
      {
        const int qg = q0 + g * QB;
        if (qg >= N)
          break;      /* later groups have no queries either */
        if (causal && j0 > qg + QB - 1)
          continue;   /* every key of this tile is past the group's queries */
        __global const float *qrow[QB];
        float16 acc[QB][NACC];
        float8 tail[QB];
#pragma unroll
        for (int i = 0; i < QB; i++)
          {
            qrow[i] = q + ((size_t) b * N + min (qg + i, N - 1)) * ld + (size_t) h * DH;
            tail[i] = tail_g[g][i];
#pragma unroll
            for (int c = 0; c < NACC; c++)
              acc[i][c] = acc_g[g][i][c];
          }

        /* Scores of 32 keys (two packed 16-key tiles) per query: 2 QB
         * independent FMA chains, and per step 2 key loads for 2 QB FMAs. */
        float16 s0[QB], s1[QB];
#pragma unroll
        for (int i = 0; i < QB; i++)
          s0[i] = s1[i] = (float16) (0.0f);
        __global const float *ktile = kth + (size_t) j0 * DH;
        for (int d = 0; d < DH; d++)
          {
            const float16 k0 = vload16 (d, ktile), k1 = vload16 (DH + d, ktile);
#pragma unroll
            for (int i = 0; i < QB; i++)
              {
                const float16 qv = (float16) (qrow[i][d]);
                s0[i] = fma (qv, k0, s0[i]);
                s1[i] = fma (qv, k1, s1[i]);
              }
          }

        float p[QB][32];
        const bool whole = !causal && j0 + 32 <= key_end;
#pragma unroll
        for (int i = 0; i < QB; i++)
          {
            float16 a = s0[i] * scale2, c = s1[i] * scale2;
            if (!whole)
              {
                /* Keys past the end (or, causal, past query qg + i) are masked. */
                const int end = causal ? min (key_end, qg + i + 1) : key_end;
                a = select (a, (float16) (-INFINITY), j0 + lane >= end);
                c = select (c, (float16) (-INFINITY), j0 + 16 + lane >= end);
              }
            const float m_old = m_g[g][i];
            /* m_new is finite: the first tile holds key 0, which no query masks. */
            const float m_new = max (m_old, hmax16 (max (a, c)));
            const float16 pa = exp2_neg16 (a - m_new), pc = exp2_neg16 (c - m_new);
            /* Once the running maximum settles most tiles leave it: skip the
             * rescaling then (the factor would be exactly 1). */
            if (m_new > m_old)
              {
                const float correction = exp2 (m_old - m_new);
                l_g[g][i] *= correction;
#pragma unroll
                for (int cc = 0; cc < D16; cc++)
                  acc[i][cc] *= correction;
                if (TAIL)
                  tail[i] *= correction;
                m_g[g][i] = m_new;
              }
            l_g[g][i] += sum16 (pa + pc);
            vstore16 (pa, 0, p[i]);
            vstore16 (pc, 1, p[i]);
          }

        const int nk = min (32, key_end - j0);
        for (int j = 0; j < nk; j++)
          {
            __global const float *vj = vh + (size_t) (j0 + j) * ld;
#pragma unroll
            for (int c = 0; c < D16; c++)
              {
                const float16 vv = vload16 (c, vj);
#pragma unroll
                for (int i = 0; i < QB; i++)
                  acc[i][c] = fma ((float16) (p[i][j]), vv, acc[i][c]);
              }
            if (TAIL)
              {
                const float8 vt = vload8 (0, vj + 16 * D16);
#pragma unroll
                for (int i = 0; i < QB; i++)
                  tail[i] = fma ((float8) (p[i][j]), vt, tail[i]);
              }
          }
#pragma unroll
        for (int i = 0; i < QB; i++)
          {
            tail_g[g][i] = tail[i];
#pragma unroll
            for (int c = 0; c < NACC; c++)
              acc_g[g][i][c] = acc[i][c];
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
        const float inv = 1.0f / l_g[g][i];
#pragma unroll
        for (int c = 0; c < D16; c++)
          vstore16 (acc_g[g][i][c] * inv, c, orow);
        if (TAIL)
          vstore8 (tail_g[g][i] * inv, 0, orow + 16 * D16);
      }
}

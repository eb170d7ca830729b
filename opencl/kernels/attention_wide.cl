/* attention_blocked16 (CPUs with 16-wide float vectors, AVX-512; -DDH -DQB):
 * attention_blocked (attention.cl) with every vector 16 lanes wide.  There
 * the scores of a 16-key tile are two float8 per query and the output
 * accumulators float8 along the head's channels, so on AVX-512 each
 * instruction does half the work it could: for the UNet's 40-channel
 * heads 10 half-width instructions per (query, key).  Here the scores are
 * one float16 per query (their softmax too: one exp per 16 keys) and the
 * output accumulators float16 with one float8 for a remainder of 8
 * channels (40 = 16 + 16 + 8): 5.5 instructions, all but the remainder
 * full width.  The host picks QB so that the QB * (DH / 16 + 1)
 * accumulators fit 24 registers, and so do the 4 QB scores of a step.
 * kt is the keys in packed 16-key tiles, as for attention_blocked;
 * masking and clamping as there.
 *
 * What keeps the FMAs fed (docs/performance.md, "OpenCL on PoCL's CPU device"):
 * - A work-item owns G groups of QB queries and takes the keys KSTEP (64)
 *   at a time; each group in turn works through them and keeps its state
 *   in memory (L1) in between.  So a tile of K and V is read from memory
 *   once per G groups rather than once per group: with one group the
 *   kernel streamed all of a head's K and V (2 MB at 4096 tokens) per QB
 *   queries and waited on L3.
 * - 64 keys per step: 4 QB independent score chains (2 QB, at 32 keys,
 *   left the FMA latency exposed) while the accumulators wait in memory,
 *   and the softmax's horizontal maximum, rescaling and accumulator
 *   loads and stores once per 64 keys; its sums stay per lane until the
 *   end.  Exponentials in base 2 with the scale folded in (exp2_neg16,
 *   common.cl).  Against 32-key steps with a scalar sum and floor() in
 *   the exponential: 4096 tokens, 40 channels 161 -> 203 GFLOP/s, 64
 *   channels 176 -> 224 (BENCHMARKS.md, step 21).
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
#define KSTEP 64         /* keys per step: KEYS_PADDED (common.cl) rounds to it */
#define NT (KSTEP / 16)  /* packed 16-key tiles per step */

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
  float m_g[G][QB];
  float16 l_g[G][QB];   /* the softmax's sums per lane: one horizontal sum at the end */
  for (int g = 0; g < G; g++)
#pragma unroll
    for (int i = 0; i < QB; i++)
      {
        m_g[g][i] = -INFINITY;
        l_g[g][i] = (float16) (0.0f);
        tail_g[g][i] = (float8) (0.0f);
#pragma unroll
        for (int c = 0; c < NACC; c++)
          acc_g[g][i][c] = (float16) (0.0f);
      }
  const int16 lane = (int16) (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int key_end = causal ? min (M, q0 + QB * G) : M;

  for (int j0 = 0; j0 < key_end; j0 += KSTEP)
    for (int g = 0; g < G; g++)
      {
        const int qg = q0 + g * QB;
        if (qg >= N)
          break;      /* later groups have no queries either */
        if (causal && j0 > qg + QB - 1)
          continue;   /* every key of this tile is past the group's queries */
        __global const float *qrow[QB];
#pragma unroll
        for (int i = 0; i < QB; i++)
          qrow[i] = q + ((size_t) b * N + min (qg + i, N - 1)) * ld + (size_t) h * DH;

        /* Scores of KSTEP keys (NT packed 16-key tiles) per query: NT QB
         * independent FMA chains, and per step NT key loads for NT QB FMAs. */
        float16 s[QB][NT];
#pragma unroll
        for (int i = 0; i < QB; i++)
#pragma unroll
          for (int t = 0; t < NT; t++)
            s[i][t] = (float16) (0.0f);
        __global const float *ktile = kth + (size_t) j0 * DH;
        for (int d = 0; d < DH; d++)
          {
            float16 kv[NT];
#pragma unroll
            for (int t = 0; t < NT; t++)
              kv[t] = vload16 (t * DH + d, ktile);
#pragma unroll
            for (int i = 0; i < QB; i++)
              {
                const float16 qv = (float16) (qrow[i][d]);
#pragma unroll
                for (int t = 0; t < NT; t++)
                  s[i][t] = fma (qv, kv[t], s[i][t]);
              }
          }

        float p[QB][KSTEP], correction[QB];
        bool rescale = false;
        const bool whole = !causal && j0 + KSTEP <= key_end;
#pragma unroll
        for (int i = 0; i < QB; i++)
          {
            float16 top = (float16) (-INFINITY);
#pragma unroll
            for (int t = 0; t < NT; t++)
              {
                s[i][t] *= scale2;
                if (!whole)
                  {
                    /* Keys past the end (or, causal, past query qg + i) are masked. */
                    const int end = causal ? min (key_end, qg + i + 1) : key_end;
                    s[i][t] = select (s[i][t], (float16) (-INFINITY), j0 + 16 * t + lane >= end);
                  }
                top = max (top, s[i][t]);
              }
            const float m_old = m_g[g][i];
            /* m_new is finite: the first tile holds key 0, which no query masks. */
            const float m_new = max (m_old, hmax16 (top));
            /* Once the running maximum settles most tiles leave it: skip the
             * rescaling then (the factor would be exactly 1). */
            correction[i] = 1.0f;
            if (m_new > m_old)
              {
                correction[i] = exp2 (m_old - m_new);
                l_g[g][i] *= correction[i];
                m_g[g][i] = m_new;
                rescale = true;
              }
            float16 sum = (float16) (0.0f);
#pragma unroll
            for (int t = 0; t < NT; t++)
              {
                const float16 pt = exp2_neg16 (s[i][t] - m_new);
                sum += pt;
                vstore16 (pt, t, p[i]);
              }
            l_g[g][i] += sum;
          }

        /* The accumulators come into registers only now, when the scores
         * have left them. */
        float16 acc[QB][NACC];
        float8 tail[QB];
#pragma unroll
        for (int i = 0; i < QB; i++)
          {
            tail[i] = tail_g[g][i];
#pragma unroll
            for (int c = 0; c < NACC; c++)
              acc[i][c] = acc_g[g][i][c];
            if (rescale)
              {
#pragma unroll
                for (int c = 0; c < D16; c++)
                  acc[i][c] *= correction[i];
                if (TAIL)
                  tail[i] *= correction[i];
              }
          }
        const int nk = min (KSTEP, key_end - j0);
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
        const float inv = 1.0f / sum16 (l_g[g][i]);
#pragma unroll
        for (int c = 0; c < D16; c++)
          vstore16 (acc_g[g][i][c] * inv, c, orow);
        if (TAIL)
          vstore8 (tail_g[g][i] * inv, 0, orow + 16 * D16);
      }
}

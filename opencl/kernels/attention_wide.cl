/* attention_blocked16 (CPUs with 16-wide float vectors, AVX-512; -DDH -DQB):
 * attention_blocked (attention.cl) with every vector 16 lanes wide.  There
 * the scores of a 16-key tile are two float8 per query and the output
 * accumulators float8 along the head's channels, so on AVX-512 each
 * instruction does half the work it could: for the UNet's 40-channel
 * heads 10 half-width instructions per (query, key).  Here the scores are
 * one float16 per query (their softmax too: one exp per 16 keys) and the
 * output accumulators float16 with one float8 for a remainder of 8
 * channels (40 = 16 + 16 + 8): 5.5 instructions, all but the remainder
 * full width.  A work-item owns QB queries of one head; the host picks
 * QB so that QB * (DH / 16 + 2) vectors fit the 32 registers.  kt is the
 * keys transposed to [B, heads * DH, M] plus 16 floats of slack, as for
 * attention_blocked; masking and clamping as there.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#if !defined(DH) || !defined(QB) || DH % 8 != 0
#error "attention_blocked16 needs -DQB and -DDH with DH % 8 == 0"
#endif
#define D16 (DH / 16)
#define TAIL (DH % 16 != 0)   /* one float8 for channels [16 * D16, DH) */
#define NACC (D16 > 0 ? D16 : 1)

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
  const int q0 = get_global_id (0) * QB, h = get_global_id (1), b = get_global_id (2);
  if (q0 >= N)
    return;
  const size_t ld = (size_t) heads * DH;
  __global const float *qrow[QB];
#pragma unroll
  for (int i = 0; i < QB; i++)
    qrow[i] = q + ((size_t) b * N + min (q0 + i, N - 1)) * ld + (size_t) h * DH;
  __global const float *kth = kt + ((size_t) b * ld + (size_t) h * DH) * M;
  __global const float *vh = v + (size_t) b * M * ld + (size_t) h * DH;

  float16 acc[QB][NACC];
  float8 tail[QB];
  float m[QB], l[QB];
#pragma unroll
  for (int i = 0; i < QB; i++)
    {
      m[i] = -INFINITY;
      l[i] = 0.0f;
      tail[i] = (float8) (0.0f);
#pragma unroll
      for (int c = 0; c < NACC; c++)
        acc[i][c] = (float16) (0.0f);
    }
  const int16 lane = (int16) (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int key_end = causal ? min (M, q0 + QB) : M;

  for (int j0 = 0; j0 < key_end; j0 += 16)
    {
      float16 s[QB];
#pragma unroll
      for (int i = 0; i < QB; i++)
        s[i] = (float16) (0.0f);
      for (int d = 0; d < DH; d++)
        {
          const float16 kv = vload16 (0, kth + (size_t) d * M + j0);
#pragma unroll
          for (int i = 0; i < QB; i++)
            s[i] = fma ((float16) (qrow[i][d]), kv, s[i]);
        }

      float p[QB][16];
#pragma unroll
      for (int i = 0; i < QB; i++)
        {
          /* Keys past the end (or, causal, past query q0 + i) are masked. */
          const int end = causal ? min (key_end, q0 + i + 1) : key_end;
          const float16 sc = select (s[i] * scale, (float16) (-INFINITY), j0 + lane >= end);
          /* m_new is finite: the first tile holds key 0, which no query masks. */
          const float m_new = max (m[i], hmax16 (sc));
          const float correction = exp (m[i] - m_new);
          const float16 pv = exp (sc - m_new);
          l[i] = l[i] * correction + sum16 (pv);
          m[i] = m_new;
#pragma unroll
          for (int c = 0; c < D16; c++)
            acc[i][c] *= correction;
          if (TAIL)
            tail[i] *= correction;
          vstore16 (pv, 0, p[i]);
        }

      const int nk = min (16, key_end - j0);
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
    }

#pragma unroll
  for (int i = 0; i < QB; i++)
    if (q0 + i < N)
      {
        __global float *orow = o + ((size_t) b * N + q0 + i) * ld + (size_t) h * DH;
        const float inv = 1.0f / l[i];
#pragma unroll
        for (int c = 0; c < D16; c++)
          vstore16 (acc[i][c] * inv, c, orow);
        if (TAIL)
          vstore8 (tail[i] * inv, 0, orow + 16 * D16);
      }
}

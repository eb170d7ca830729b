/* attention_tiled: softmax (q k^T * scale) v per head, shaped for GPUs
 * (FlashAttention-2's loop order).  The scores never leave local memory.
 *
 * A work-group of WG work-items owns BQ consecutive queries of one head of
 * one batch entry and streams the keys in blocks of BKV.  Per block:
 *  1. S = Q K^T for the BQ x BKV block, as a small GEMM: Q and K stream
 *     through local memory in slices of DC head channels (cooperative,
 *     coalesced loads), each work-item accumulating TQ x TK scores in
 *     registers;
 *  2. the scaled, masked scores go to local memory, and one work-item per
 *     query row updates the row's running max m and sum l (online softmax,
 *     docs/diffusion.md §Streaming attention) and turns the scores into
 *     p = exp (s - m) with the factor exp (m_old - m) for what came before;
 *  3. O = O * factor + P V: the V block in local memory, each work-item
 *     owning TQ rows x TD head channels of O in registers.
 * Finally o = O / l.  Unlike the one-query-per-work-item kernel
 * (attention.cl), the head's channels are spread over the group, so the
 * registers per work-item stay bounded for wide heads (TQ * TD <= 64, the
 * host's choice) and every global value is loaded once per group.
 *
 * Work-item layout: lid = sq + WQ * sk.  Scores: rows sq + i WQ (i < TQ),
 * keys sk + j WK (j < TK); output: rows as the scores, channels
 * sk + t WK (t < TD).  Strided so that neighbouring work-items touch
 * neighbouring local addresses.
 *
 * Local memory: `tile` holds the Q and K slices during step 1 and the V
 * block during step 3 (steps are separated by barriers), `ps` the scores,
 * then the probabilities.  Every loop bound that contains a barrier is
 * uniform over the group.  Out-of-range queries, keys and channels load as
 * zero; masked scores are -inf and weigh zero.  Key 0 is visible to every
 * query (causal included), so each row's max is finite after the first
 * block and the first block's factor exp (-inf) is 0.
 *
 * Compile-time: -DDH (head channels), -DBQ -DBKV -DWQ -DWG -DDC, with
 * BQ % WQ == 0, WG % WQ == 0 and BKV % (WG / WQ) == 0 (the host, opencl/
 * attention.c, picks them within the device's limits).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#if !defined(DH) || !defined(BQ) || !defined(BKV) || !defined(WQ) || !defined(WG) || !defined(DC)
#error "attention_tiled.cl needs -DDH -DBQ -DBKV -DWQ -DWG -DDC"
#endif
#define WK (WG / WQ)
#if BQ % WQ != 0 || WG % WQ != 0 || BKV % WK != 0
#error "attention_tiled.cl: BQ % WQ, WG % WQ and BKV % (WG / WQ) must be 0"
#endif
#define TQ (BQ / WQ)
#define TK (BKV / WK)
#define TD ((DH + WK - 1) / WK)
#define QS_LD (BQ + 1)
#define KS_LD (BKV + 1)
#define PS_LD (BKV + 1)
#define SLICE_FLOATS (DC * (QS_LD + KS_LD))
#define VBLOCK_FLOATS (BKV * DH)
#define TILE_FLOATS (SLICE_FLOATS > VBLOCK_FLOATS ? SLICE_FLOATS : VBLOCK_FLOATS)

/* `q_block0`: the first query block of this launch (the host splits long
 * launches over the queries). */
__kernel void attention_tiled (__global const float *q, __global const float *k,
                               __global const float *v,
                               __global float *o, int N, int M, int heads, float scale,
                               int causal, int q_block0)
{
  __local float tile[TILE_FLOATS];
  __local float ps[BQ * PS_LD];
  __local float row_m[BQ], row_l[BQ], row_f[BQ];
  __local float *qs = tile, *ks = tile + DC * QS_LD;

  const uint lid = get_local_id (0);
  const int sq = lid % WQ, sk = lid / WQ;
  const int q_first = (q_block0 + (int) get_group_id (0)) * BQ;
  const int h = get_group_id (1), b = get_group_id (2);
  const size_t ld = (size_t) heads * DH;
  __global const float *qh = q + (size_t) b * N * ld + (size_t) h * DH;
  __global const float *kh = k + (size_t) b * M * ld + (size_t) h * DH;
  __global const float *vh = v + (size_t) b * M * ld + (size_t) h * DH;

  float acc[TQ][TD];
#pragma unroll
  for (int i = 0; i < TQ; i++)
#pragma unroll
    for (int t = 0; t < TD; t++)
      acc[i][t] = 0.0f;
  for (uint r = lid; r < BQ; r += WG)
    {
      row_m[r] = -INFINITY;
      row_l[r] = 0.0f;
    }

  const int key_end = causal ? min (M, q_first + BQ) : M;
  for (int kb = 0; kb < key_end; kb += BKV)
    {
      /* 1. scores */
      float s[TQ][TK];
#pragma unroll
      for (int i = 0; i < TQ; i++)
#pragma unroll
        for (int j = 0; j < TK; j++)
          s[i][j] = 0.0f;
      for (int d0 = 0; d0 < DH; d0 += DC)
        {
          /* Neighbouring work-items read neighbouring channels of a row. */
          for (uint e = lid; e < BQ * DC; e += WG)
            {
              const int r = e / DC, c = e % DC, qi = q_first + r, d = d0 + c;
              qs[c * QS_LD + r] = qi < N && d < DH ? qh[(size_t) qi * ld + d] : 0.0f;
            }
          for (uint e = lid; e < BKV * DC; e += WG)
            {
              const int r = e / DC, c = e % DC, kj = kb + r, d = d0 + c;
              ks[c * KS_LD + r] = kj < key_end && d < DH ? kh[(size_t) kj * ld + d] : 0.0f;
            }
          barrier (CLK_LOCAL_MEM_FENCE);
#pragma unroll
          for (int c = 0; c < DC; c++)
            {
              float a[TQ], bk[TK];
#pragma unroll
              for (int i = 0; i < TQ; i++)
                a[i] = qs[c * QS_LD + sq + i * WQ];
#pragma unroll
              for (int j = 0; j < TK; j++)
                bk[j] = ks[c * KS_LD + sk + j * WK];
#pragma unroll
              for (int i = 0; i < TQ; i++)
#pragma unroll
                for (int j = 0; j < TK; j++)
                  s[i][j] = fma (a[i], bk[j], s[i][j]);
            }
          /* The next slice (or the V block) overwrites `tile`. */
          barrier (CLK_LOCAL_MEM_FENCE);
        }
#pragma unroll
      for (int i = 0; i < TQ; i++)
#pragma unroll
        for (int j = 0; j < TK; j++)
          {
            const int r = sq + i * WQ, c = sk + j * WK, kj = kb + c;
            const bool masked = kj >= key_end || (causal && kj > q_first + r);
            ps[r * PS_LD + c] = masked ? -INFINITY : s[i][j] * scale;
          }
      barrier (CLK_LOCAL_MEM_FENCE);

      /* 2. online softmax per row, while the group loads the V block */
      for (uint r = lid; r < BQ; r += WG)
        {
          __local float *row = ps + r * PS_LD;
          float mx = row_m[r];
          for (int c = 0; c < BKV; c++)
            mx = fmax (mx, row[c]);
          /* mx is -inf only for rows whose keys so far are all masked:
           * padding rows past N under `causal`; they weigh nothing. */
          const float f = mx == -INFINITY ? 1.0f : exp (row_m[r] - mx);
          float sum = 0.0f;
          for (int c = 0; c < BKV; c++)
            {
              const float p = mx == -INFINITY ? 0.0f : exp (row[c] - mx);
              row[c] = p;
              sum += p;
            }
          row_l[r] = row_l[r] * f + sum;
          row_m[r] = mx;
          row_f[r] = f;
        }
      for (uint e = lid; e < BKV * DH; e += WG)
        {
          const int r = e / DH, d = e % DH, kj = kb + r;
          tile[e] = kj < key_end ? vh[(size_t) kj * ld + d] : 0.0f;
        }
      barrier (CLK_LOCAL_MEM_FENCE);

      /* 3. O = O * f + P V */
#pragma unroll
      for (int i = 0; i < TQ; i++)
        {
          const float f = row_f[sq + i * WQ];
#pragma unroll
          for (int t = 0; t < TD; t++)
            acc[i][t] *= f;
        }
      for (int c = 0; c < BKV; c++)
        {
          float p[TQ];
#pragma unroll
          for (int i = 0; i < TQ; i++)
            p[i] = ps[(sq + i * WQ) * PS_LD + c];
#pragma unroll
          for (int t = 0; t < TD; t++)
            {
              const int d = sk + t * WK;
              /* TD * WK may pass DH (e.g. 40 channels over 16 work-items). */
              const float vv = d < DH ? tile[c * DH + d] : 0.0f;
#pragma unroll
              for (int i = 0; i < TQ; i++)
                acc[i][t] = fma (p[i], vv, acc[i][t]);
            }
        }
      /* The next block overwrites `tile`, `ps` and the row factors. */
      barrier (CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
  for (int i = 0; i < TQ; i++)
    {
      const int r = sq + i * WQ, qi = q_first + r;
      if (qi >= N)
        continue;
      const float inv = 1.0f / row_l[r];
      __global float *orow = o + ((size_t) b * N + qi) * ld + (size_t) h * DH;
#pragma unroll
      for (int t = 0; t < TD; t++)
        {
          const int d = sk + t * WK;
          if (d < DH)
            orow[d] = acc[i][t] * inv;
        }
    }
}

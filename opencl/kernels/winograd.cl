/* Winograd convolution F(4x4, 3x3) for 3x3 stride-1 convolutions on the
 * CPU kernels (opencl/conv_winograd.c has the choice and the launches).
 *
 * Each 4 x 4 block of output pixels ("tile") of an output channel is
 * A^T [sum_c (G g_oc G^T) .* (B^T d_c B)] A, where d_c is the 6 x 6 input
 * patch of channel c that the tile reads and g_oc the 3 x 3 weight: 36
 * products per tile and input channel instead of 144, so the arithmetic
 * is a quarter of the direct convolution's.  Three passes per chunk of
 * tiles:
 *   winograd_input   V[t][p][c] = (B^T d_c B)[t] of tile p (t = 6 i + j)
 *   winograd_gemm    M[t] = V[t] . U[t]^T: 36 independent GEMMs with
 *                    gemm_panel's micro-kernel (gemm.cl), tiles as rows
 *   winograd_output  y = A^T M A of each tile, bias and residual added
 * U = G g G^T is computed once per weight (winograd_weights) into 36
 * panel-packed [O, C] matrices (the sdcl_w.panel layout), always in
 * float32: rounded to half, U's error is amplified by the input and output
 * transforms (entries up to 100 and 64) to about 0.5% of the output's
 * range, against 1e-5 with float32 (tests/kernels/test_ops.c).  The transforms are those of Lavin and Gray, "Fast Algorithms
 * for Convolutional Neural Networks" (2016), interpolation points
 * 0, +-1, +-2 and infinity.
 *
 * Every loop of the three transforms is unrolled (#pragma unroll): left as
 * loops, PoCL kept their 6 x 6 arrays in memory and the transpose between
 * the two passes went through stores and wider reloads that missed store
 * forwarding (perf annotate: a third of winograd_input's time on one
 * instruction); unrolled, they live in registers and the transforms run
 * 1.5-2.5x as fast (BENCHMARKS.md, step 20).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

/* Mirrors wino_shape in conv_winograd.c (all cl_int). */
typedef struct
{
  int C, H, W;      /* input */
  int UH, UW;       /* input after the virtual nearest upsample; = H, W without */
  int Ho, Wo;       /* output */
  int pad_t, pad_l;
  int wrap;         /* circular padding */
  int tiles_x, tiles_img;  /* tiles per output row and per image */
} wino_shape;

/* u = G g for one column (or row) of three taps: 6 values. */
#define G_APPLY(u, g0, g1, g2)                                                      \
  {                                                                                 \
    u[0] = (g0) * 0.25f;                                                            \
    u[1] = ((g0) + (g1) + (g2)) * (-1.0f / 6.0f);                                   \
    u[2] = ((g0) - (g1) + (g2)) * (-1.0f / 6.0f);                                   \
    u[3] = (g0) * (1.0f / 24.0f) + (g1) * (1.0f / 12.0f) + (g2) * (1.0f / 6.0f);    \
    u[4] = (g0) * (1.0f / 24.0f) - (g1) * (1.0f / 12.0f) + (g2) * (1.0f / 6.0f);    \
    u[5] = (g2);                                                                    \
  }

/* U[t] for one input channel c and one panel of 16 output channels (the
 * panel's 16 weights of one tap are adjacent, so float16 vectors).  w is
 * the weight in panels of 16 rows (row o, column k = c * 9 + ky * 3 + kx
 * at ((o / 16) * K + k) * 16 + o % 16, rows past O zero); u holds 36 such
 * packed [Opad, C] matrices for the output channels from 16 * panel0 on
 * (a slice of them where U is made per convolution, conv_winograd.c). */
__kernel void
winograd_weights (__global const weight_t *w, __global float *u, int C, int Opad, int panel0)
{
  const int c = get_global_id (0), panel = get_global_id (1);
  if (c >= C || panel * 16 >= Opad)
    return;
  __global const weight_t *src = w + ((size_t) (panel0 + panel) * C * 9 + (size_t) c * 9) * 16;
  float16 g[9];
#pragma unroll
  for (int k = 0; k < 9; k++)
    g[k] = LOAD_W16 (src, 16 * k);
  float16 col[3][6]; /* G g: col[kx][i] */
#pragma unroll
  for (int kx = 0; kx < 3; kx++)
    G_APPLY (col[kx], g[kx], g[3 + kx], g[6 + kx]);
  const size_t plane = (size_t) Opad * C;
  __global float *dst = u + ((size_t) panel * C + c) * 16;
#pragma unroll
  for (int i = 0; i < 6; i++)
    {
      float16 row[6]; /* (G g G^T)[i][.] */
      G_APPLY (row, col[0][i], col[1][i], col[2][i]);
#pragma unroll
      for (int j = 0; j < 6; j++)
        vstore16 (row[j], 0, dst + (6 * i + j) * plane);
    }
}

/* r = B^T d for six values d0..d5. */
#define BT_APPLY(r, d0, d1, d2, d3, d4, d5)                                         \
  {                                                                                 \
    r[0] = 4.0f * (d0) - 5.0f * (d2) + (d4);                                        \
    r[1] = -4.0f * ((d1) + (d2)) + (d3) + (d4);                                     \
    r[2] = 4.0f * ((d1) - (d2)) - (d3) + (d4);                                      \
    r[3] = 2.0f * ((d3) - (d1)) - (d2) + (d4);                                      \
    r[4] = 2.0f * ((d1) - (d3)) - (d2) + (d4);                                      \
    r[5] = 4.0f * (d1) - 5.0f * (d3) + (d5);                                        \
  }

/* Index along one axis of the virtual (upsampled, padded) input: the
 * source row or column, or -1 for a zero pad. */
static inline int
source_index (int u, int n_up, int n, int wrap)
{
  if (wrap)
    u = u < 0 ? u + n_up : u >= n_up ? u - n_up : u;
  if (u < 0 || u >= n_up)
    return -1;
  return n_up == n ? u : n_up == 2 * n ? u >> 1 : (u * n) / n_up;
}

/* V for tiles [p0, p0 + P) (over batch entries and images in row order):
 * one work-item per (input channel, tile). */
__kernel void
winograd_input (__global const float *x, __global float *v, const wino_shape s, int p0, int P)
{
  const int c = get_global_id (0), p = get_global_id (1);
  if (c >= s.C || p >= P)
    return;
  const int q = p0 + p, b = q / s.tiles_img, r = q - b * s.tiles_img;
  const int ty = r / s.tiles_x, tx = r - ty * s.tiles_x;
  __global const float *src = x + ((size_t) b * s.C + c) * s.H * s.W;
  const int uy0 = ty * 4 - s.pad_t, ux0 = tx * 4 - s.pad_l;
  float d[6][6];
  if (uy0 >= 0 && ux0 >= 0 && uy0 + 6 <= s.H && ux0 + 6 <= s.W && s.UH == s.H && s.UW == s.W)
    {
      /* Inside the input, no upsample: plain loads (most tiles). */
#pragma unroll
      for (int i = 0; i < 6; i++)
#pragma unroll
        for (int j = 0; j < 6; j++)
          d[i][j] = src[(size_t) (uy0 + i) * s.W + ux0 + j];
    }
  else
    {
      int iy[6], ix[6];
#pragma unroll
      for (int j = 0; j < 6; j++)
        {
          iy[j] = source_index (uy0 + j, s.UH, s.H, s.wrap);
          ix[j] = source_index (ux0 + j, s.UW, s.W, s.wrap);
        }
#pragma unroll
      for (int i = 0; i < 6; i++)
#pragma unroll
        for (int j = 0; j < 6; j++)
          d[i][j] = iy[i] >= 0 && ix[j] >= 0 ? src[(size_t) iy[i] * s.W + ix[j]] : 0.0f;
    }
  float tmp[6][6]; /* B^T d: tmp[i][column] */
#pragma unroll
  for (int j = 0; j < 6; j++)
    {
      float col[6];
      BT_APPLY (col, d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]);
#pragma unroll
      for (int i = 0; i < 6; i++)
        tmp[i][j] = col[i];
    }
  const size_t plane = (size_t) P * s.C;
  __global float *dst = v + (size_t) p * s.C + c;
#pragma unroll
  for (int i = 0; i < 6; i++)
    {
      float row[6];
      BT_APPLY (row, tmp[i][0], tmp[i][1], tmp[i][2], tmp[i][3], tmp[i][4], tmp[i][5]);
#pragma unroll
      for (int j = 0; j < 6; j++)
        dst[(6 * i + j) * plane] = row[j];
    }
}

#ifdef MR
#if NC == 32
typedef float16 colvec;
#define LOAD_COLS(p, i) vload16 (0, (p) + (i))
#define STORE_COLS(v, i, p) vstore16 (v, i, p)
#define SECOND_OFFSET 0
#elif NC == 16
typedef float8 colvec;
#define LOAD_COLS(p, i) vload8 (0, (p) + (i))
#define STORE_COLS(v, i, p) vstore8 (v, i, p)
#define SECOND_OFFSET 8
#else
#error "winograd_gemm needs -DNC=16 or -DNC=32"
#endif

/* m[t] [P, N] = v[t] [P, K] . u[t]^T for t = get_global_id (2): gemm_panel's
 * register panel (MR tiles x NC output channels per work-item, see
 * gemm.cl) without its epilogue, which the output transform applies.
 * The N columns land at columns o0.. of m's rows of ldm floats (u may
 * hold a slice of the output channels, conv_winograd.c). */
__kernel void
winograd_gemm (__global const float *v, __global const float *u, __global float *m, int P,
               int N, int K, int ldm, int o0)
{
  const int m0 = get_global_id (0) * MR, n0 = get_global_id (1) * NC, t = get_global_id (2);
  if (m0 >= P || n0 >= N)
    return;
  const int Npad = (N + 15) / 16 * 16;
  __global const float *xr[MR];
#pragma unroll
  for (int i = 0; i < MR; i++)
    xr[i] = v + ((size_t) t * P + min (m0 + i, P - 1)) * K;
  __global const float *p0 = u + ((size_t) t * Npad + n0) * K;
  /* The second column vector: the panel's second half, or the next panel
   * (the first again past the last: its results are discarded). */
  __global const float *p1 = NC == 16 ? p0 : n0 + 16 < N ? p0 + (size_t) 16 * K : p0;

  colvec a[MR], b[MR];
#pragma unroll
  for (int i = 0; i < MR; i++)
    a[i] = b[i] = (colvec) (0.0f);
  for (int k = 0; k < K; k++)
    {
      const colvec w0 = LOAD_COLS (p0, 16 * k), w1 = LOAD_COLS (p1, 16 * k + SECOND_OFFSET);
#pragma unroll
      for (int i = 0; i < MR; i++)
        {
          const colvec xv = (colvec) (xr[i][k]);
          a[i] = fma (xv, w0, a[i]);
          b[i] = fma (xv, w1, b[i]);
        }
    }

  __global float *out = m + ((size_t) t * P + m0) * ldm + o0 + n0;
#pragma unroll
  for (int i = 0; i < MR; i++)
    {
      if (m0 + i >= P)
        break;
      if (n0 + NC <= N)
        {
          STORE_COLS (a[i], 0, out + (size_t) i * ldm);
          STORE_COLS (b[i], 1, out + (size_t) i * ldm);
        }
      else
        {
          float o[NC];
          STORE_COLS (a[i], 0, o);
          STORE_COLS (b[i], 1, o);
          for (int j = 0; n0 + j < N; j++)
            out[(size_t) i * ldm + j] = o[j];
        }
    }
}
#endif /* MR */

/* r = A^T m for six values: four. */
#define AT_APPLY(r, m0, m1, m2, m3, m4, m5)                                         \
  {                                                                                 \
    const float s12 = (m1) + (m2), d12 = (m1) - (m2);                               \
    const float s34 = (m3) + (m4), d34 = (m3) - (m4);                               \
    r[0] = (m0) + s12 + s34;                                                        \
    r[1] = d12 + 2.0f * d34;                                                        \
    r[2] = s12 + 4.0f * s34;                                                        \
    r[3] = d12 + 8.0f * d34 + (m5);                                                 \
  }

/* y for tiles [p0, p0 + P): one work-item per (output channel, tile);
 * pixels past the image's edge are not written. */
__kernel void
winograd_output (__global const float *m, __global float *y, __global const float *bias,
                 int has_bias, int bias_half, __global const float *res, int has_res, int O,
                 const wino_shape s, int p0, int P)
{
  const int o = get_global_id (0), p = get_global_id (1);
  if (o >= O || p >= P)
    return;
  const int q = p0 + p, b = q / s.tiles_img, r = q - b * s.tiles_img;
  const int ty = r / s.tiles_x, tx = r - ty * s.tiles_x;
  const size_t plane = (size_t) P * O;
  __global const float *src = m + (size_t) p * O + o;
  float tmp[4][6]; /* A^T M: tmp[row][column] */
#pragma unroll
  for (int j = 0; j < 6; j++)
    {
      float col[4];
      AT_APPLY (col, src[j * plane], src[(6 + j) * plane], src[(12 + j) * plane],
                src[(18 + j) * plane], src[(24 + j) * plane], src[(30 + j) * plane]);
#pragma unroll
      for (int i = 0; i < 4; i++)
        tmp[i][j] = col[i];
    }
  const float add = has_bias ? load_param (bias, bias_half, o) : 0.0f;
  const size_t base = ((size_t) b * O + o) * s.Ho * s.Wo;
#pragma unroll
  for (int i = 0; i < 4; i++)
    {
      const int oy = ty * 4 + i;
      if (oy >= s.Ho)
        break;
      float row[4];
      AT_APPLY (row, tmp[i][0], tmp[i][1], tmp[i][2], tmp[i][3], tmp[i][4], tmp[i][5]);
#pragma unroll
      for (int j = 0; j < 4; j++)
        {
          const int ox = tx * 4 + j;
          if (ox >= s.Wo)
            break;
          const size_t at = base + (size_t) oy * s.Wo + ox;
          y[at] = row[j] + add + (has_res ? res[at] : 0.0f);
        }
    }
}

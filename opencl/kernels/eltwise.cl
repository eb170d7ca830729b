/* Elementwise and layout kernels.  1-D kernels take the element count and
 * guard it, since the host rounds the global size up to the work-group size.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

__kernel void eltwise_add (__global const float *a, __global const float *b, __global float *y,
                           ulong n)
{
  size_t i = get_global_id (0);
  if (i < n)
    y[i] = a[i] + b[i];
}

__kernel void eltwise_act (__global const float *x, __global float *y, ulong n, int act)
{
  size_t i = get_global_id (0);
  if (i < n)
    y[i] = apply_act (x[i], act);
}

__kernel void eltwise_scale (__global const float *x, __global float *y, ulong n, float s)
{
  size_t i = get_global_id (0);
  if (i < n)
    y[i] = s * x[i];
}

/* x [B*C, hw] += v [B*C] broadcast along each row. */
__kernel void eltwise_add_channel (__global float *x, __global const float *v, ulong hw, ulong n)
{
  size_t i = get_global_id (0);
  if (i < n)
    x[i] += v[i / hw];
}

/* y [M, F] = x[:, :F] * gelu (x[:, F:]) for x [M, 2F]. */
__kernel void eltwise_geglu (__global const float *x, __global float *y, int f)
{
  /* 2-D: dimension 0 a chunk of 16 columns c < f, dimension 1 the row m.
   * A whole chunk is one 16-wide vector (one vector erf); the last, partial
   * one goes column by column. */
  const int c0 = get_global_id (0) * 16;
  const size_t m = get_global_id (1);
  if (c0 >= f)
    return;
  __global const float *row = x + m * 2 * f;
  if (c0 + 16 <= f)
    {
      const float16 gate = vload16 (0, row + f + c0);
      vstore16 (vload16 (0, row + c0) * GELU_OF (gate), 0, y + m * f + c0);
      return;
    }
  for (int c = c0; c < f; c++)
    y[m * f + c] = row[c] * gelu_f (row[f + c]);
}

/* The GEMM epilogue for backends that only multiply (CLBlast): output
 * (m, n) at y[y_off + m * stride_m + n * stride_n] becomes
 * act (y + bias[n]) + residual (same addressing), m < M, n < N.  The
 * dimension with unit stride runs along dimension 0 (m_inner: m) so that
 * neighbouring work-items touch neighbouring floats. */
__kernel void gemm_epilogue (__global float *y, long y_off, long stride_m, long stride_n, int M,
                             int N, int m_inner, __global const float *bias, int has_bias,
                             int bias_half, __global const float *res, int has_res, int act)
{
  const int i0 = get_global_id (0), i1 = get_global_id (1);
  const int m = m_inner ? i0 : i1, n = m_inner ? i1 : i0;
  if (m >= M || n >= N)
    return;
  const long at = y_off + m * stride_m + n * stride_n;
  float v = y[at];
  if (has_bias)
    v += load_param (bias, bias_half, n);
  v = apply_act (v, act);
  if (has_res)
    v += res[at];
  y[at] = v;
}

/* y[i] = (float) h[h_off + i] for i < n: F16 weights widened for a
 * backend that only multiplies floats (vload_half is core OpenCL, no
 * cl_khr_fp16). */
__kernel void half_to_float (__global const half *h, ulong h_off, __global float *y, ulong n)
{
  size_t i = get_global_id (0);
  if (i < n)
    y[i] = vload_half (h_off + i, h);
}

/* y [B, cols, rows] = transpose of x [B, rows, cols], through a TILE x TILE
 * local tile (one column of padding avoids bank conflicts on GPUs) so both
 * the reads and the writes are contiguous.  Local size is TILE x TILE. */
__kernel void transpose_batched (__global const float *x, __global float *y, int rows, int cols)
{
  __local float tile[TILE][TILE + 1];
  const int lx = get_local_id (0), ly = get_local_id (1);
  const int c0 = get_group_id (0) * TILE, r0 = get_group_id (1) * TILE;
  const size_t plane = (size_t) rows * cols * get_global_id (2);
  int r = r0 + ly, c = c0 + lx;
  if (r < rows && c < cols)
    tile[ly][lx] = x[plane + (size_t) r * cols + c];
  barrier (CLK_LOCAL_MEM_FENCE);
  /* write: row of y = column of x */
  int yr = c0 + ly, yc = r0 + lx;
  if (yr < cols && yc < rows)
    y[plane + (size_t) yr * rows + yc] = tile[lx][ly];
}

/* kt [B, heads, tiles, dh, 16] = the keys k [B, M, heads * dh] in tiles of
 * 16 keys (attention_blocked's layout: a tile's dh x 16 values in one run),
 * zero past key M up to KEYS_PADDED (M).  3-D range: channel (heads * dh),
 * tile, batch; a work-item gathers its channel of the tile's 16 keys and
 * stores them as one vector (one per element, with its divisions, the
 * packing took a tenth of SDXL's self-attention time). */
__kernel void pack_key_tiles (__global const float *k, __global float *kt, int M, int heads,
                              int dh)
{
  const int c = get_global_id (0), t = get_global_id (1), b = get_global_id (2);
  const int tiles = KEYS_PADDED (M) / 16, h = c / dh, d = c % dh;
  const size_t C = (size_t) heads * dh;
  __global const float *src = k + ((size_t) b * M + t * 16) * C + c;
  float keys[16];
#pragma unroll
  for (int j = 0; j < 16; j++)
    keys[j] = t * 16 + j < M ? src[j * C] : 0.0f;
  vstore16 (vload16 (0, keys), (((size_t) b * heads + h) * tiles + t) * dh + d, kt);
}

/* ---- attention as two GEMMs (op_attention's attention_gemm) --------- */

/* dst = the [rows, cols] matrix with element (r, c) = src[src_off + r * rs
 * + c * cs], in the packed-weight panel layout (sdcl_w.panel: panels of 16
 * rows, k-major), rows past `rows` zero.  2-D range: c, then r over the
 * rows rounded up to 16. */
__kernel void pack_panels (__global const float *src, long src_off, long rs, long cs, int rows,
                           int cols, __global float *dst)
{
  const int c = get_global_id (0), r = get_global_id (1);
  if (c >= cols)
    return;
  const float v = r < rows ? src[src_off + r * rs + c * cs] : 0.0f;
  dst[((size_t) (r / 16) * cols + c) * 16 + r % 16] = v;
}

/* dst [rows, cols] (contiguous) = rows of src starting at src_off, `stride`
 * floats apart: one head's slice of the queries.  2-D range: c, r. */
__kernel void gather_rows (__global const float *src, long src_off, long stride, int rows,
                           int cols, __global float *dst)
{
  const int c = get_global_id (0), r = get_global_id (1);
  if (c >= cols || r >= rows)
    return;
  dst[(size_t) r * cols + c] = src[src_off + r * stride + c];
}

/* Each row of s [rows, cols] becomes softmax (scale * row), scale > 0.  One
 * work-item per row, 16 values at a time where the row allows. */
__kernel void softmax_rows (__global float *s, int rows, int cols, float scale)
{
  const int r = get_global_id (0);
  if (r >= rows)
    return;
  __global float *p = s + (size_t) r * cols;
  const int vec_end = cols / 16 * 16;
  float16 m16 = (float16) (-INFINITY);
  for (int c = 0; c < vec_end; c += 16)
    m16 = fmax (m16, vload16 (0, p + c));
  float8 m8 = fmax (m16.lo, m16.hi);
  float4 m4 = fmax (m8.lo, m8.hi);
  float mx = fmax (fmax (m4.x, m4.y), fmax (m4.z, m4.w));
  for (int c = vec_end; c < cols; c++)
    mx = fmax (mx, p[c]);

  float16 s16 = (float16) (0.0f);
  for (int c = 0; c < vec_end; c += 16)
    {
      const float16 e = exp ((vload16 (0, p + c) - mx) * scale);
      vstore16 (e, 0, p + c);
      s16 += e;
    }
  float sum = sum16 (s16);
  for (int c = vec_end; c < cols; c++)
    {
      const float e = exp ((p[c] - mx) * scale);
      p[c] = e;
      sum += e;
    }
  const float inv = 1.0f / sum;
  for (int c = 0; c < vec_end; c += 16)
    vstore16 (vload16 (0, p + c) * inv, 0, p + c);
  for (int c = vec_end; c < cols; c++)
    p[c] *= inv;
}

/* ---- the device's arithmetic limit (sdcl-bench) ------------------------ */

/* `iters` rounds of 12 independent FMA chains of W-wide vectors per
 * work-item (12 x W x 2 FLOPs a round): enough independent work to fill
 * the FMA pipes of a CPU core (latency x pipes) or a GPU lane.  Two
 * widths, since the right one depends on the registers: 12 float16
 * chains fill AVX-512's 32 registers, but on AVX2 they are 24 ymm
 * registers of 16 and spill (measured half the peak on AMD Zen 3), as 12
 * float8 ones fill AVX2 and leave AVX-512 at half width.  The host takes
 * the faster.  out keeps the compiler from dropping the loop. */
#define FMA_PEAK_BODY(T, SUM)                                                        \
  const float seed = (float) get_global_id (0);                                      \
  T a[12];                                                                           \
  _Pragma ("unroll") for (int j = 0; j < 12; j++) a[j] = (T) (seed + j);             \
  const T b = (T) (0.999999f), c = (T) (1e-6f);                                      \
  for (int i = 0; i < iters; i++)                                                    \
    _Pragma ("unroll") for (int j = 0; j < 12; j++) a[j] = fma (a[j], b, c);         \
  T s = (T) (0.0f);                                                                  \
  _Pragma ("unroll") for (int j = 0; j < 12; j++) s += a[j];                         \
  out[get_global_id (0)] = SUM (s);

__kernel void fma_peak8 (__global float *out, int iters) { FMA_PEAK_BODY (float8, sum8) }

__kernel void fma_peak16 (__global float *out, int iters) { FMA_PEAK_BODY (float16, sum16) }

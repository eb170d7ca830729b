/* Convolution support: the convolution itself runs as a GEMM (gemm.cl) over
 * bounded chunks of output pixels; this kernel gathers one chunk's input
 * patches ("im2col" for a slice of the pixels, never the whole image).
 *
 * cols [P, K]: row p - p0 for output pixel p in [p0, p0 + P) of batch
 * entry b, column k = (c, ky, kx), so both GEMM operands are contiguous
 * along K.  Padding reads
 * as zero; the nearest upsample is fused: the convolution runs over a
 * virtual input of UH x UW whose pixel (uy, ux) is x[uy * H / UH][ux * W / UW].
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

typedef struct
{
  int C, H, W;   /* input */
  int UH, UW;    /* input size after the (virtual) upsample; = H, W without */
  int Ho, Wo;
  int kh, kw, stride, pad_t, pad_l;
} conv_shape;

__kernel void im2col_chunk (__global const float *x, __global float *cols, const conv_shape s,
                            int b, int p0, int P)
{
  const int k = get_global_id (0), pl = get_global_id (1);
  const int K = s.C * s.kh * s.kw;
  if (k >= K || pl >= P)
    return;
  const int p = p0 + pl, oy = p / s.Wo, ox = p % s.Wo;
  const int c = k / (s.kh * s.kw), tap = k % (s.kh * s.kw);
  const int uy = oy * s.stride - s.pad_t + tap / s.kw;
  const int ux = ox * s.stride - s.pad_l + tap % s.kw;
  float v = 0.0f;
  if (uy >= 0 && uy < s.UH && ux >= 0 && ux < s.UW)
    {
      const int iy = s.UH == s.H ? uy : (int) (((long) uy * s.H) / s.UH);
      const int ix = s.UW == s.W ? ux : (int) (((long) ux * s.W) / s.UW);
      v = x[(((size_t) b * s.C + c) * s.H + iy) * s.W + ix];
    }
  cols[(size_t) pl * K + k] = v;
}

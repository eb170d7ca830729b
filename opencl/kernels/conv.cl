/* Convolution support; the convolution itself runs as a GEMM (gemm.cl).
 * Two operand preparations, both over bounded pieces, never the image:
 *
 * conv_pad (CPU path, with gemm_conv_panel): one band of output rows' input
 * rows, zero-padded and upsampled; the GEMM reads the patches from it.
 *
 * im2col_chunk (portable path, with gemm_nt): gathers one chunk of output
 * pixels' input patches ("im2col" for a slice of the pixels).
 * cols [P, K]: row p - p0 for output pixel p in [p0, p0 + P) of batch
 * entry b, column k = (c, ky, kx), so both GEMM operands are contiguous
 * along K.  Padding reads
 * as zero, or with `wrap` (circular padding, for seamless textures) as the
 * pixel on the opposite side; the nearest upsample is fused: the convolution
 * runs over a virtual input of UH x UW whose pixel (uy, ux) is
 * x[uy * H / UH][ux * W / UW], and wrapping applies to that virtual input.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

typedef struct
{
  int C, H, W;   /* input */
  int UH, UW;    /* input size after the (virtual) upsample; = H, W without */
  int Ho, Wo;
  int kh, kw, stride, pad_t, pad_l;
  int wrap;      /* circular padding: coordinates wrap around (pads <= size) */
} conv_shape;

/* i in [-n, 2n) to [0, n): the host checks that no padding exceeds the size. */
static inline int
wrap_coord (int i, int n)
{
  return i < 0 ? i + n : i >= n ? i - n : i;
}

/* One work-item per (output pixel, input channel) writes that channel's
 * kh * kw taps of the pixel's row: the division by Wo happens once per
 * work-item, neighbouring work-items read neighbouring input pixels, and
 * the writes are runs of kh * kw floats. */
__kernel void im2col_chunk (__global const float *x, __global float *cols, const conv_shape s,
                            int b, int p0, int P)
{
  const int pl = get_global_id (0), c = get_global_id (1);
  if (pl >= P || c >= s.C)
    return;
  const int taps = s.kh * s.kw, K = s.C * taps;
  const int p = p0 + pl, oy = p / s.Wo, ox = p - oy * s.Wo;
  __global const float *src = x + ((size_t) b * s.C + c) * s.H * s.W;
  __global float *dst = cols + (size_t) pl * K + (size_t) c * taps;
  const bool up_h = s.UH != s.H, up_w = s.UW != s.W;
  for (int ky = 0; ky < s.kh; ky++)
    {
      int uy = oy * s.stride - s.pad_t + ky;
      if (s.wrap)
        uy = wrap_coord (uy, s.UH);
      const bool row_ok = uy >= 0 && uy < s.UH;
      const int iy = up_h ? (int) (((long) uy * s.H) / s.UH) : uy;
      for (int kx = 0; kx < s.kw; kx++)
        {
          int ux = ox * s.stride - s.pad_l + kx;
          if (s.wrap)
            ux = wrap_coord (ux, s.UW);
          float v = 0.0f;
          if (row_ok && ux >= 0 && ux < s.UW)
            {
              const int ix = up_w ? (int) (((long) ux * s.W) / s.UW) : ux;
              v = src[(size_t) iy * s.W + ix];
            }
          dst[ky * s.kw + kx] = v;
        }
    }
}

/* conv_pad: xp [C, Hb, Wp] = rows [row0, row0 + Hb) of batch entry b's input
 * zero-padded (or wrapped, with s.wrap) by pad_t / pad_l on the top / left
 * (and on the bottom / right as far as Wp and the rows reach), after the virtual nearest upsample to
 * UH x UW: the operand of the implicit-GEMM convolution (gemm_conv_panel)
 * for one band of output rows, instead of a patch matrix kh * kw times
 * larger. */
__kernel void conv_pad (__global const float *x, __global float *xp, const conv_shape s, int b,
                        int row0, int Hb, int Wp)
{
  /* A work-item writes 16 consecutive pixels of one padded row. */
  const int px0 = get_global_id (0) * 16, py = get_global_id (1), c = get_global_id (2);
  if (px0 >= Wp || py >= Hb)
    return;
  __global float *dst = xp + ((size_t) c * Hb + py) * Wp + px0;
  const int ux0 = px0 - s.pad_l;
  int uy = row0 + py - s.pad_t;
  if (s.wrap)
    uy = wrap_coord (uy, s.UH);
  const int n = min (16, Wp - px0);
  if (uy < 0 || uy >= s.UH)
    {
      for (int i = 0; i < n; i++)
        dst[i] = 0.0f;
      return;
    }
  /* Nearest source row; 32-bit division is enough (sizes are far below
   * 2^15) and much cheaper than 64-bit. */
  const int iy = s.UH == s.H ? uy : s.UH == 2 * s.H ? uy >> 1 : (uy * s.H) / s.UH;
  __global const float *src = x + (((size_t) b * s.C + c) * s.H + iy) * s.W;
  if (n == 16 && ux0 >= 0)
    {
      /* Whole vectors inside the row: a plain copy, or each source value
       * twice for a 2x upsample (9 sources cover 16 outputs). */
      if (s.UW == s.W && ux0 + 16 <= s.W)
        {
          vstore16 (vload16 (0, src + ux0), 0, dst);
          return;
        }
      if (s.UW == 2 * s.W && (ux0 >> 1) + 16 <= s.W)
        {
          const uint16 lane = (uint16) (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
          const uint16 pick = ((uint16) (ux0 & 1) + lane) >> 1;
          vstore16 (shuffle (vload16 (0, src + (ux0 >> 1)), pick), 0, dst);
          return;
        }
    }
  for (int i = 0; i < n; i++)
    {
      const int ux = s.wrap ? wrap_coord (ux0 + i, s.UW) : ux0 + i;
      float v = 0.0f;
      if (ux >= 0 && ux < s.UW)
        v = src[s.UW == s.W ? ux : s.UW == 2 * s.W ? ux >> 1 : (ux * s.W) / s.UW];
      dst[i] = v;
    }
}

/* Plain-C references for the device ops.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float
ref_act (float x, sdcl_act act)
{
  double v = x;
  switch (act)
    {
    case SDCL_ACT_SILU:
      return (float) (v / (1.0 + exp (-v)));
    case SDCL_ACT_GELU:
      return (float) (0.5 * v * (1.0 + erf (v / sqrt (2.0))));
    case SDCL_ACT_QUICK_GELU:
      return (float) (v / (1.0 + exp (-1.702 * v)));
    case SDCL_ACT_NONE:
    default:
      return x;
    }
}

void
ref_linear (const float *x, const float *w, const float *bias, const float *res, sdcl_act act,
            int M, int N, int K, float *y)
{
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++)
      {
        double s = bias ? bias[n] : 0.0;
        for (int k = 0; k < K; k++)
          s += (double) x[(long) m * K + k] * w[(long) n * K + k];
        float v = ref_act ((float) s, act);
        y[(long) m * N + n] = v + (res ? res[(long) m * N + n] : 0.0f);
      }
}

void
ref_conv2d_size (const sdcl_conv_desc *d, int H, int W, int kh, int kw, int *Ho, int *Wo)
{
  const int UH = d->upsample ? (int) d->up_h : H, UW = d->upsample ? (int) d->up_w : W;
  *Ho = (UH + d->pad_t + d->pad_b - kh) / d->stride + 1;
  *Wo = (UW + d->pad_l + d->pad_r - kw) / d->stride + 1;
}

void
ref_conv2d (const float *x, int B, int C, int H, int W, const float *w, int O, int kh, int kw,
            const float *bias, const sdcl_conv_desc *d, const float *res, float *y)
{
  const int UH = d->upsample ? (int) d->up_h : H, UW = d->upsample ? (int) d->up_w : W;
  int Ho, Wo;
  ref_conv2d_size (d, H, W, kh, kw, &Ho, &Wo);
  for (int b = 0; b < B; b++)
    for (int o = 0; o < O; o++)
      for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++)
          {
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++)
              for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                  {
                    int uy = oy * d->stride - d->pad_t + ky, ux = ox * d->stride - d->pad_l + kx;
                    if (d->circular)   /* the padded input is the periodic one */
                      {
                        uy = ((uy % UH) + UH) % UH;
                        ux = ((ux % UW) + UW) % UW;
                      }
                    if (uy < 0 || uy >= UH || ux < 0 || ux >= UW)
                      continue;
                    /* nearest: src = floor (dst * in / out) */
                    int iy = (int) ((long) uy * H / UH), ix = (int) ((long) ux * W / UW);
                    s += (double) x[(((long) b * C + c) * H + iy) * W + ix]
                         * w[(((long) o * C + c) * kh + ky) * kw + kx];
                  }
            long at = (((long) b * O + o) * Ho + oy) * Wo + ox;
            y[at] = (float) s + (res ? res[at] : 0.0f);
          }
}

void
ref_group_norm (const float *x, int B, int C, long hw, const float *gamma, const float *beta,
                int groups, float eps, bool silu, float *y)
{
  const int cpg = C / groups;
  const long count = cpg * hw;
  for (int b = 0; b < B; b++)
    for (int g = 0; g < groups; g++)
      {
        const long base = ((long) b * C + (long) g * cpg) * hw;
        double mean = 0, var = 0;
        for (long i = 0; i < count; i++)
          mean += x[base + i];
        mean /= (double) count;
        for (long i = 0; i < count; i++)
          var += (x[base + i] - mean) * (x[base + i] - mean);
        var /= (double) count;
        const double rstd = 1.0 / sqrt (var + eps);
        for (long i = 0; i < count; i++)
          {
            int c = g * cpg + (int) (i / hw);
            float v = (float) ((x[base + i] - mean) * rstd * gamma[c] + beta[c]);
            y[base + i] = silu ? ref_act (v, SDCL_ACT_SILU) : v;
          }
      }
}

void
ref_layer_norm (const float *x, long rows, int C, const float *gamma, const float *beta, float eps,
                float *y)
{
  for (long r = 0; r < rows; r++)
    {
      const float *p = x + r * C;
      double mean = 0, var = 0;
      for (int c = 0; c < C; c++)
        mean += p[c];
      mean /= C;
      for (int c = 0; c < C; c++)
        var += (p[c] - mean) * (p[c] - mean);
      var /= C;
      const double rstd = 1.0 / sqrt (var + eps);
      for (int c = 0; c < C; c++)
        y[r * C + c] = (float) ((p[c] - mean) * rstd * gamma[c] + beta[c]);
    }
}

void
ref_attention (const float *q, const float *k, const float *v, int B, int N, int M, int heads,
               int dh, float scale, bool causal, float *o)
{
  const long ld = (long) heads * dh;
  double *s = malloc (sizeof (double) * (size_t) M);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < heads; h++)
      for (int i = 0; i < N; i++)
        {
          const float *qi = q + ((long) b * N + i) * ld + (long) h * dh;
          const int keys = causal ? (i + 1 < M ? i + 1 : M) : M;
          double mx = -INFINITY, sum = 0;
          for (int j = 0; j < keys; j++)
            {
              const float *kj = k + ((long) b * M + j) * ld + (long) h * dh;
              double dot = 0;
              for (int d = 0; d < dh; d++)
                dot += (double) qi[d] * kj[d];
              s[j] = dot * scale;
              mx = s[j] > mx ? s[j] : mx;
            }
          for (int j = 0; j < keys; j++)
            {
              s[j] = exp (s[j] - mx);
              sum += s[j];
            }
          float *oi = o + ((long) b * N + i) * ld + (long) h * dh;
          for (int d = 0; d < dh; d++)
            {
              double acc = 0;
              for (int j = 0; j < keys; j++)
                acc += s[j] * v[((long) b * M + j) * ld + (long) h * dh + d];
              oi[d] = (float) (acc / sum);
            }
        }
  free (s);
}

void
ref_geglu (const float *x, long M, long F, float *y)
{
  for (long m = 0; m < M; m++)
    for (long f = 0; f < F; f++)
      y[m * F + f] = (float) ((double) x[m * 2 * F + f]
                              * ref_act (x[m * 2 * F + F + f], SDCL_ACT_GELU));
}

void
ref_transpose (const float *x, int B, long rows, long cols, float *y)
{
  for (long b = 0; b < B; b++)
    for (long r = 0; r < rows; r++)
      for (long c = 0; c < cols; c++)
        y[b * rows * cols + c * rows + r] = x[b * rows * cols + r * cols + c];
}

void
ref_concat_channels (const float *a, int Ca, const float *b, int Cb, int B, long hw, float *y)
{
  for (long i = 0; i < B; i++)
    {
      memcpy (y + i * (Ca + Cb) * hw, a + i * Ca * hw, sizeof (float) * Ca * hw);
      memcpy (y + i * (Ca + Cb) * hw + Ca * hw, b + i * Cb * hw, sizeof (float) * Cb * hw);
    }
}

float *
ref_random_floats (GRand *rng, long n, float lo, float hi)
{
  float *p = g_new (float, MAX (n, 1));
  for (long i = 0; i < n; i++)
    p[i] = (float) g_rand_double_range (rng, lo, hi);
  return p;
}

/* Normalisation kernels.  Statistics are fp32 and two-pass (mean, then the
 * mean squared deviation), which stays accurate for groups of ~1M values
 * where a one-pass sum of squares would cancel catastrophically.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

/* One work-group (power-of-two size) per (batch, group): the group's values
 * are contiguous, count = (C / groups) * HW.  stats[2 g] = mean,
 * stats[2 g + 1] = 1 / sqrt (var + eps). */
__kernel void group_norm_stats (__global const float *x, __global float *stats, ulong count,
                                float eps, __local float *scratch)
{
  const size_t g = get_group_id (0), lid = get_local_id (0), n = get_local_size (0);
  __global const float *p = x + g * count;
  /* Whole 16-wide vectors first (strided over the work-items), then the
   * few values past the last one. */
  const size_t vectors = count / 16;
  float16 acc = (float16) (0.0f);
  for (size_t i = lid; i < vectors; i += n)
    acc += vload16 (i, p);
  float s = sum16 (acc);
  for (size_t i = vectors * 16 + lid; i < count; i += n)
    s += p[i];
  const float mean = work_group_sum_pow2 (s, scratch) / (float) count;
  acc = (float16) (0.0f);
  for (size_t i = lid; i < vectors; i += n)
    {
      const float16 d = vload16 (i, p) - mean;
      acc = fma (d, d, acc);
    }
  float d2 = sum16 (acc);
  for (size_t i = vectors * 16 + lid; i < count; i += n)
    {
      float d = p[i] - mean;
      d2 += d * d;
    }
  const float var = work_group_sum_pow2 (d2, scratch) / (float) count;
  if (lid == 0)
    {
      stats[2 * g] = mean;
      stats[2 * g + 1] = rsqrt (var + eps);
    }
}

/* y = (x - mean) * rstd * gamma[c] + beta[c], then SiLU if asked.  A 2-D
 * range: dimension 0 runs over chunks of 16 hw positions of one channel
 * plane, dimension 1 over the B * C planes, so the channel and group come
 * from the plane index (no per-element 64-bit division).  A chunk is one
 * 16-wide vector (and one vector exp for the SiLU); only a plane's last,
 * partial chunk goes element by element. */
__kernel void group_norm_apply (__global const float *x, __global float *y,
                                __global const float *stats, __global const float *gamma,
                                __global const float *beta, int params_half, int hw, int channels,
                                int channels_per_group, int silu)
{
  const int i0 = get_global_id (0) * 16, bc = get_global_id (1);
  if (i0 >= hw)
    return;
  const int c = bc % channels;
  const int g = (bc / channels) * (channels / channels_per_group) + c / channels_per_group;
  const float scale = stats[2 * g + 1] * load_param (gamma, params_half, c);
  const float shift = load_param (beta, params_half, c) - stats[2 * g] * scale;
  const size_t at = (size_t) bc * hw + i0;
  if (i0 + 16 <= hw)
    {
      const float16 v = vload16 (0, x + at) * scale + shift;
      vstore16 (silu ? v / (1.0f + exp (-v)) : v, 0, y + at);
      return;
    }
  for (int i = 0; i < hw - i0; i++)
    {
      const float v = x[at + i] * scale + shift;
      y[at + i] = silu ? v * sigmoid_f (v) : v;
    }
}

/* 16 parameters from the 16 * i-th (gamma, beta of LayerNorm). */
inline float16 load_param16 (__global const float *p, int is_half, int i)
{
  return is_half ? vload_half16 (i, (__global const half *) p) : vload16 (i, p);
}

/* The CPU kernels' LayerNorm (host: op_layer_norm): one work-item per row,
 * whole 16-wide vectors then the row's last C % 16 values, the same
 * two-pass statistics as layer_norm.  A CPU runs a work-group's items one
 * after the other, so layer_norm's 256-item tree of barriers cost it ten
 * times the time of reading the row (SDXL's 512 x 1280 rows: 2.5 ms). */
__kernel void layer_norm_rows (__global const float *x, __global float *y,
                               __global const float *gamma, __global const float *beta,
                               int params_half, int channels, float eps, int rows)
{
  const int row = get_global_id (0);
  if (row >= rows)
    return;
  __global const float *p = x + (size_t) row * channels;
  __global float *q = y + (size_t) row * channels;
  const int vectors = channels / 16;
  float16 acc = (float16) (0.0f);
  for (int i = 0; i < vectors; i++)
    acc += vload16 (i, p);
  float s = sum16 (acc);
  for (int i = vectors * 16; i < channels; i++)
    s += p[i];
  const float mean = s / (float) channels;
  acc = (float16) (0.0f);
  for (int i = 0; i < vectors; i++)
    {
      const float16 d = vload16 (i, p) - mean;
      acc = fma (d, d, acc);
    }
  float d2 = sum16 (acc);
  for (int i = vectors * 16; i < channels; i++)
    {
      const float d = p[i] - mean;
      d2 += d * d;
    }
  const float rstd = rsqrt (d2 / (float) channels + eps);
  /* y may alias x: each row is read before it is written, by one work-item. */
  for (int i = 0; i < vectors; i++)
    vstore16 ((vload16 (i, p) - mean) * rstd * load_param16 (gamma, params_half, i)
                  + load_param16 (beta, params_half, i),
              i, q);
  for (int i = vectors * 16; i < channels; i++)
    q[i] = (p[i] - mean) * rstd * load_param (gamma, params_half, i)
           + load_param (beta, params_half, i);
}

/* One work-group (power-of-two size) per row of C values. */
__kernel void layer_norm (__global const float *x, __global float *y, __global const float *gamma,
                          __global const float *beta, int params_half, int channels, float eps,
                          __local float *scratch)
{
  const size_t row = get_group_id (0), lid = get_local_id (0), n = get_local_size (0);
  __global const float *p = x + row * channels;
  __global float *q = y + row * channels;
  float s = 0.0f;
  for (size_t i = lid; i < (size_t) channels; i += n)
    s += p[i];
  const float mean = work_group_sum_pow2 (s, scratch) / (float) channels;
  float d2 = 0.0f;
  for (size_t i = lid; i < (size_t) channels; i += n)
    {
      float d = p[i] - mean;
      d2 += d * d;
    }
  const float rstd = rsqrt (work_group_sum_pow2 (d2, scratch) / (float) channels + eps);
  /* Each work-item rewrites only the elements it read: y may alias x. */
  for (size_t i = lid; i < (size_t) channels; i += n)
    q[i] = (p[i] - mean) * rstd * load_param (gamma, params_half, i)
           + load_param (beta, params_half, i);
}

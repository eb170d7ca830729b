/* GroupNorm statistics shaped for GPUs: each group's values are split
 * over several work-groups.  norm.cl's group_norm_stats gives a group one
 * work-group, so a UNet or VAE GroupNorm (32 groups, batch 1-2) occupies
 * 32-64 work-groups while each reads up to ~1M values twice: a few of a
 * GPU's compute units.  Here S work-groups share a group, each reducing
 * one contiguous slice to (count, mean, M2) with the same two passes as
 * group_norm_stats (mean, then squared deviations: no cancellation), and
 * one work-item per group merges the slices with Chan et al.'s pairwise
 * update, which is as stable as the two-pass sums.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

/* Work-group (b, g, s) = get_group_id (0) = (b * groups + g) * S + s
 * reduces values [s * len, min ((s + 1) * len, count)) of its group:
 * part[3 i] = n, part[3 i + 1] = mean, part[3 i + 2] = M2 (sum of squared
 * deviations from that mean).  A power-of-two group size. */
__kernel void group_norm_partial (__global const float *x, __global float *part, ulong count,
                                  ulong len, uint slices, __local float *scratch)
{
  const size_t i = get_group_id (0), lid = get_local_id (0), n = get_local_size (0);
  const size_t g = i / slices, s = i - g * slices;
  /* The host makes every slice non-empty (first < count).  (No guard
   * here: LLVM turns one into a saturating subtraction, which oclgrind
   * cannot run.) */
  const size_t first = s * len;
  const size_t len_here = min ((size_t) count, first + (size_t) len) - first;
  __global const float *p = x + g * count + first;
  float sum = 0.0f;
  for (size_t j = lid; j < len_here; j += n)
    sum += p[j];
  const float mean = work_group_sum_pow2 (sum, scratch) / (float) len_here;
  float d2 = 0.0f;
  for (size_t j = lid; j < len_here; j += n)
    {
      const float d = p[j] - mean;
      d2 = fma (d, d, d2);
    }
  const float m2 = work_group_sum_pow2 (d2, scratch);
  if (lid == 0)
    {
      part[3 * i] = (float) len_here;
      part[3 * i + 1] = mean;
      part[3 * i + 2] = m2;
    }
}

/* One work-item per (batch, group): merges its S slices into stats in
 * group_norm_stats's layout (mean, 1 / sqrt (var + eps)). */
__kernel void group_norm_merge (__global const float *part, __global float *stats, uint slices,
                                uint groups, float eps)
{
  const uint g = get_global_id (0);
  if (g >= groups)
    return;
  __global const float *q = part + 3 * (size_t) g * slices;
  float n = 0.0f, mean = 0.0f, m2 = 0.0f;
  for (uint s = 0; s < slices; s++)
    {
      const float nb = q[3 * s];
      if (nb == 0.0f)
        continue;
      const float total = n + nb, delta = q[3 * s + 1] - mean;
      mean += delta * (nb / total);
      m2 += q[3 * s + 2] + delta * delta * (n * nb / total);
      n = total;
    }
  stats[2 * g] = mean;
  stats[2 * g + 1] = rsqrt (m2 / n + eps);
}

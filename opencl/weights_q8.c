/* Q8 weights (SDCL_WT_Q8): int8 values with one fp32 scale per row, made
 * on the host at upload from F32, F16 or BF16 data.
 *
 * Why one scale per row (output channel) and not per block along K: the
 * scale of output n is then constant over the whole dot product
 * y[m, n] = scale[n] * sum_k x[m, k] q[n, k], so every GEMM kernel keeps
 * its inner loop as it is (the int8 values are only widened to float on
 * load, as F16 ones are) and multiplies each output once in its epilogue.
 * Blocks of 32 along K would bound the error by the block's largest value
 * rather than the row's, but cost one multiply per weight vector in the
 * inner loop, where the CPU's FMA ports are the limit; per-channel int8
 * weights are what weight-only quantization of convolution networks
 * commonly uses.  The figures (image difference, speed) are in
 * docs/performance.md §8-bit weights.
 *
 * Layout of a part of R stored rows (R = the part's rows, rounded up to
 * whole panels when packed) and K values per row: the R x K int8 values in
 * the same order as an F32 or F16 part (row-major or panels, sdcl_w.panel),
 * zero-padded to a multiple of 16 bytes, then R float scales (0 for padding
 * rows).  Keeping the scales in the part's own buffer gives the kernels
 * their address from the arguments they already have (N, K), so Q8 needs
 * no extra kernel argument and splits into parts like any weight.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

bool
sdcl_q8_quantize_row (const float *row, int64_t n, int8_t *q, float *scale)
{
  /* Comparisons, not fmaxf / fminf: those are library calls unless NaNs
   * are ruled out at compile time, and these loops see every weight. */
  float max = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < n; i++)
    {
      const float a = fabsf (row[i]);
      finite &= a <= FLT_MAX;   /* false for inf and NaN */
      max = a > max ? a : max;
    }
  if (!finite)
    return false;
  const float s = max / 127.0f;
  *scale = s;
  if (max == 0.0f)
    {
      memset (q, 0, (size_t) n);
      return true;
    }
  /* Dividing by the scale (not multiplying by its inverse) keeps the
   * row's largest value at exactly +-127.  Adding and subtracting 1.5 *
   * 2^23 rounds a float of magnitude below 2^22 to the nearest integer,
   * ties to even, as rintf does, but in a loop the compiler vectorizes
   * (a model's load quantizes every weight). */
  const float magic = 12582912.0f;
  for (int64_t i = 0; i < n; i++)
    {
      const float v = row[i] / s, r = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
      q[i] = (int8_t) (int) ((r + magic) - magic);
    }
  return true;
}

static size_t
data_bytes (int64_t stored_rows, int64_t row_elems)
{
  return ((size_t) (stored_rows * row_elems) + 15) / 16 * 16;
}

size_t
clrt_q8_part_bytes (int64_t stored_rows, int64_t row_elems)
{
  return data_bytes (stored_rows, row_elems) + (size_t) stored_rows * sizeof (float);
}

/* Writes rows [row0, row0 + rows) of src into a mapped part of
 * clrt_q8_part_bytes (stored_rows, row_elems) bytes.  False (sticky error
 * set) when a row holds a non-finite value or host memory runs out. */
bool
clrt_q8_fill (sdcl_cl *cl, void *dst, const void *src, sdcl_src_type src_type, int64_t row_elems,
              int64_t row0, int64_t rows, int64_t stored_rows, int panel)
{
  memset (dst, 0, clrt_q8_part_bytes (stored_rows, row_elems));
  float *row = g_try_new (float, row_elems);
  int8_t *q = g_try_new (int8_t, row_elems);
  float *scales = (float *) (void *) ((char *) dst + data_bytes (stored_rows, row_elems));
  bool ok = row && q;
  if (!ok)
    sdcl_cl_fail (cl, SDCL_ERR_OUT_OF_MEMORY, "q8 weight upload: no host memory for one row");
  for (int64_t r = 0; ok && r < rows; r++)
    {
      clrt_convert_range (row, SDCL_WT_F32, src, src_type, (size_t) ((row0 + r) * row_elems),
                          (size_t) row_elems);
      if (!sdcl_q8_quantize_row (row, row_elems, q, &scales[r]))
        {
          sdcl_cl_fail (cl, SDCL_ERR_MODEL_FORMAT,
                        "--precision q8: row %" G_GINT64_FORMAT " of a weight tensor holds an "
                        "infinite or NaN value, which 8-bit weights cannot represent; "
                        "use f16 or f32", row0 + r);
          ok = false;
          break;
        }
      if (!panel)
        memcpy ((int8_t *) dst + r * row_elems, q, (size_t) row_elems);
      else
        {
          int8_t *d = (int8_t *) dst + (r / panel) * row_elems * panel + r % panel;
          for (int64_t k = 0; k < row_elems; k++)
            d[k * panel] = q[k];
        }
    }
  g_free (row);
  g_free (q);
  return ok;
}

/* The attention kernel choice and the launch of attention_tiled (GPUs).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "attention.h"
#include "clrt_internal.h"
#include "gemm.h"
#include "ops_util.h"

#include <glib.h>

/* Most queries per group first.  64 x 32 with 256 work-items (4 x 2 scores
 * and 4 x dh / 16 outputs each) suits the UNet's 40-160 channel heads in
 * 32 KiB; the rows with 16 queries serve the VAE's 512-channel head (8 or
 * 16 keys per block, so the V block fits); the 64-work-item rows are for
 * devices or compilers that allow no more.  Not measured on a GPU yet (no
 * figure exists): `sdcl tune` is the place to refine them per device. */
const sdcl_attn_tiled_config sdcl_attn_tiled_configs[] = {
  { 64, 64, 16, 256 },
  { 64, 32, 16, 256 },
  { 32, 32, 16, 128 },
  { 16, 16, 16, 256 },
  { 16, 8, 16, 128 },
  { 32, 16, 8, 64 },
  { 8, 8, 8, 64 },
};
const int sdcl_n_attn_tiled_configs = G_N_ELEMENTS (sdcl_attn_tiled_configs);

const int sdcl_attn_tuned_widths[SDCL_ATTN_TUNED_WIDTHS] = { 40, 64, 80, 128, 160, 512 };

/* Output accumulators per work-item above this spill on GPUs. */
enum { ATTN_MAX_REGISTERS = 64 };

static const char *const path_names[] = { "gemm", "blocked", "tiled", "streaming" };

const char *
sdcl_attn_path_name (sdcl_attn_path path)
{
  return path_names[path];
}

/* Head channels per slice of the score product: 16, or 8 where dh is not
 * a multiple of 16 (40 channels: 5 slices of 8 instead of 3 of 16 with 8
 * idle). */
static int
slice_channels (int dh)
{
  return dh % 16 == 0 ? 16 : 8;
}

size_t
sdcl_attn_tiled_local_bytes (const sdcl_attn_tiled_config *c, int dh)
{
  /* attention_tiled.cl: tile (Q and K slices, or the V block), ps, row_m/l/f */
  const size_t slices = (size_t) slice_channels (dh) * (c->bq + 1 + c->bkv + 1);
  const size_t vblock = (size_t) c->bkv * dh;
  return sizeof (float) * (MAX (slices, vblock) + (size_t) c->bq * (c->bkv + 1) + 3 * c->bq);
}

int
sdcl_attn_tiled_registers (const sdcl_attn_tiled_config *c, int dh)
{
  const int wk = c->wg / c->wq;
  return c->bq / c->wq * ((dh + wk - 1) / wk);
}

bool
sdcl_attention_env_valid (char *why, size_t why_size)
{
  const char *env = g_getenv ("SDCL_ATTENTION_KERNEL");
  if (!env || g_ascii_strcasecmp (env, "tiled") == 0 || g_ascii_strcasecmp (env, "streaming") == 0)
    return true;
  g_snprintf (why, why_size, "SDCL_ATTENTION_KERNEL=\"%s\" is neither tiled nor streaming", env);
  return false;
}

static cl_kernel
tiled_kernel (sdcl_cl *cl, int index, int dh)
{
  const sdcl_attn_tiled_config *c = &sdcl_attn_tiled_configs[index];
  char options[96];
  g_snprintf (options, sizeof options, "-DDH=%d -DBQ=%d -DBKV=%d -DWQ=%d -DWG=%d -DDC=%d", dh,
              c->bq, c->bkv, c->wq, c->wg, slice_channels (dh));
  return sdcl_cl_kernel (cl, "attention_tiled", options);
}

/* Whether the built kernel runs with the configuration's group and within
 * local_mem bytes (the compiler's figures, which may exceed ours). */
static bool
tiled_kernel_fits (sdcl_cl *cl, cl_kernel k, const sdcl_attn_tiled_config *c, int dh,
                   uint64_t local_mem)
{
  cl_ulong used = 0;
  if (clGetKernelWorkGroupInfo (k, sdcl_cl_device_id (cl), CL_KERNEL_LOCAL_MEM_SIZE, sizeof used,
                                &used, NULL) != CL_SUCCESS)
    used = sdcl_attn_tiled_local_bytes (c, dh);
  return sdcl_kernel_max_wg (cl, k) >= (size_t) c->wg && used <= local_mem;
}

sdcl_attn_path
sdcl_attention_choice (sdcl_cl *cl, int64_t dh, bool causal, int *config, cl_kernel *k)
{
  if (sdcl_cl_cpu_kernels (cl))
    {
      /* Above 160 channels the blocked kernel holds one query per
       * work-item and still spills (dh / 8 float8 accumulators). */
      if (sdcl_cl_packs_weights (cl) && !causal && dh > 160)
        return SDCL_ATTN_GEMM;
      if (dh % 8 == 0)
        return SDCL_ATTN_BLOCKED;
      return SDCL_ATTN_STREAMING;
    }
  const char *env = g_getenv ("SDCL_ATTENTION_KERNEL");
  if (env && g_ascii_strcasecmp (env, "streaming") == 0)
    return SDCL_ATTN_STREAMING;
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  /* The tuned configuration for this width first (-1: none), then the
   * table's order. */
  int tuned = -1;
  for (int w = 0; w < SDCL_ATTN_TUNED_WIDTHS; w++)
    if (sdcl_attn_tuned_widths[w] == dh)
      tuned = sdcl_cl_tile_choice (cl)->attention[w];
  for (int j = tuned >= 0 ? -1 : 0; j < sdcl_n_attn_tiled_configs; j++)
    {
      const int i = j < 0 ? tuned : j;
      const sdcl_attn_tiled_config *c = &sdcl_attn_tiled_configs[i];
      /* Configurations the limits rule out are never built. */
      if ((size_t) c->wg > max_wg || sdcl_attn_tiled_local_bytes (c, (int) dh) > local_mem
          || sdcl_attn_tiled_registers (c, (int) dh) > ATTN_MAX_REGISTERS)
        continue;
      *k = tiled_kernel (cl, i, (int) dh);
      if (!*k)
        return SDCL_ATTN_TILED;   /* sticky error: the caller launches nothing */
      if (tiled_kernel_fits (cl, *k, c, (int) dh, local_mem))
        {
          *config = i;
          return SDCL_ATTN_TILED;
        }
    }
  return SDCL_ATTN_STREAMING;
}

void
sdcl_attention_tiled (sdcl_cl *cl, cl_kernel k, int config, const sdcl_t *q, const sdcl_t *kk,
                      const sdcl_t *v, int heads, float scale, bool causal, sdcl_t *o, int64_t B,
                      int64_t N, int64_t M, int64_t dh)
{
  const sdcl_attn_tiled_config *c = &sdcl_attn_tiled_configs[config];
  const size_t blocks = sdcl_div_up ((size_t) N, (size_t) c->bq);
  /* A launch covers at most the launch budget's flops (issue 22: OpenCL
   * cannot stop a launch), still all heads and the batch. */
  const uint64_t per_block = 4 * (uint64_t) c->bq * M * dh * heads * B;
  const size_t step = MAX (1, (size_t) (sdcl_cl_launch_budget (cl) / per_block));
  for (size_t first = 0; first < blocks && sdcl_cl_ok (cl); first += step)
    {
      sdcl_args a = sdcl_args_begin (cl, k);
      sdcl_arg_mem (&a, q->buf);
      sdcl_arg_mem (&a, kk->buf);
      sdcl_arg_mem (&a, v->buf);
      sdcl_arg_mem (&a, o->buf);
      sdcl_arg_int (&a, (int) N);
      sdcl_arg_int (&a, (int) M);
      sdcl_arg_int (&a, heads);
      sdcl_arg_float (&a, scale);
      sdcl_arg_int (&a, causal);
      sdcl_arg_int (&a, (int) first);
      size_t local[3] = { (size_t) c->wg, 1, 1 };
      size_t global[3] = { MIN (step, blocks - first) * c->wg, (size_t) heads, (size_t) B };
      sdcl_cl_run (cl, k, 3, global, local);
    }
}

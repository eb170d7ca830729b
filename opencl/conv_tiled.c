/* The convolution kernel choice and the launch of conv_tiled (GPUs).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "conv_tiled.h"
#include "clrt_internal.h"
#include "extensions.h"

#include <glib.h>

/* gemm_tiled's table (gemm.c) with BK halved where a conv's patch loads
 * cost more than a GEMM's (each is a gather with bounds checks, so fewer
 * of them per barrier keep more groups resident), and BM kept a power of
 * two (the pixel index of a load is a mask).  Largest reuse first; the
 * last fits any GPU.  Not measured on a GPU (no figure exists): `sdcl
 * tune` chooses per device. */
const sdcl_tiled_config sdcl_conv_tiled_configs[] = {
  { 128, 128, 16, 8, 8 },
  { 128, 64, 16, 8, 8 },
  { 64, 128, 16, 8, 8 },
  { 64, 64, 16, 8, 8 },
  { 64, 64, 8, 4, 4 },
  { 32, 32, 8, 4, 4 },
};
const int sdcl_n_conv_tiled_configs = G_N_ELEMENTS (sdcl_conv_tiled_configs);

static const char *const kernel_names[] = { "implicit", "tiled", "gather" };

const char *
sdcl_conv_kernel_name (sdcl_conv_kernel kernel)
{
  return kernel_names[kernel];
}

/* The forced kernel (SDCL_CONV), or -1 (unset, auto, or winograd: the
 * latter two choose inside the implicit case, conv_winograd.c). */
static int
forced_kernel (void)
{
  const char *env = g_getenv ("SDCL_CONV");
  for (size_t i = 0; env && i < G_N_ELEMENTS (kernel_names); i++)
    if (g_ascii_strcasecmp (env, kernel_names[i]) == 0)
      return (int) i;
  return -1;
}

bool
sdcl_conv_env_valid (char *why, size_t why_size)
{
  const char *env = g_getenv ("SDCL_CONV");
  if (!env || forced_kernel () >= 0 || g_ascii_strcasecmp (env, "auto") == 0
      || g_ascii_strcasecmp (env, "winograd") == 0)
    return true;
  g_snprintf (why, why_size, "SDCL_CONV=\"%s\" is none of auto, implicit, winograd, tiled, gather",
              env);
  return false;
}

sdcl_conv_kernel
sdcl_conv_kernel_choice (const sdcl_cl *cl, const sdcl_w *w)
{
  const int forced = forced_kernel ();
  if (forced == SDCL_CONV_GATHER)
    return SDCL_CONV_GATHER;
  if (w->panel)
    return SDCL_CONV_IMPLICIT;
  /* conv_tiled widens F32/F16 weights only; the gathered path's GEMMs
   * apply Q8's row scales */
  if (w->type == SDCL_WT_Q8)
    return SDCL_CONV_GATHER;
  if (forced == SDCL_CONV_TILED)
    return SDCL_CONV_TILED;
  return sdcl_cl_gemm_backend (cl) == SDCL_GEMM_OWN
                 && sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_TILED
             ? SDCL_CONV_TILED
             : SDCL_CONV_GATHER;
}

size_t
sdcl_conv_tiled_local_bytes (const sdcl_tiled_config *c)
{
  /* conv_tiled's xs[BK][BM + 1], ws[BK][BN + 1] and org_y, org_x[BM] */
  return sizeof (float) * c->bk * (size_t) (c->bm + 1 + c->bn + 1) + 2 * sizeof (cl_int) * c->bm;
}

cl_kernel
sdcl_conv_tiled_kernel (sdcl_cl *cl, const sdcl_w *w, int index, int kh, int kw)
{
  const sdcl_tiled_config *c = &sdcl_conv_tiled_configs[index];
  char options[160];
  g_snprintf (options, sizeof options, "%s -DBM=%d -DBN=%d -DBK=%d -DTM=%d -DTN=%d -DKH=%d -DKW=%d%s",
              sdcl_weight_options (w), c->bm, c->bn, c->bk, c->tm, c->tn, kh, kw,
              sdcl_half_math_option (cl, w->type));
  return sdcl_cl_kernel (cl, "conv_tiled", options);
}

bool
sdcl_conv_tiled_fits (sdcl_cl *cl, cl_kernel k, int index, uint64_t local_mem)
{
  const sdcl_tiled_config *c = &sdcl_conv_tiled_configs[index];
  cl_ulong used = 0;
  if (clGetKernelWorkGroupInfo (k, sdcl_cl_device_id (cl), CL_KERNEL_LOCAL_MEM_SIZE, sizeof used,
                                &used, NULL) != CL_SUCCESS)
    used = sdcl_conv_tiled_local_bytes (c);
  return sdcl_kernel_max_wg (cl, k) >= sdcl_tiled_wg_size (c) && used <= local_mem;
}

int
sdcl_conv_tiled_pick (sdcl_cl *cl, const sdcl_w *w, int kh, int kw, cl_kernel *k)
{
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  /* The tuned configuration first (-1: none), then the table's order. */
  const int tuned = sdcl_cl_tile_choice (cl)->conv[sdcl_w_is_half (w)];
  for (int j = tuned >= 0 ? -1 : 0; j < sdcl_n_conv_tiled_configs; j++)
    {
      const int i = j < 0 ? tuned : j;
      const sdcl_tiled_config *c = &sdcl_conv_tiled_configs[i];
      /* Configurations the limits rule out are never built. */
      if (sdcl_tiled_wg_size (c) > max_wg || sdcl_conv_tiled_local_bytes (c) > local_mem)
        continue;
      *k = sdcl_conv_tiled_kernel (cl, w, i, kh, kw);
      if (!*k)
        return -1;
      if (sdcl_conv_tiled_fits (cl, *k, i, local_mem))
        return i;
    }
  *k = NULL;
  return -1;
}

bool
sdcl_conv_tiled_run (sdcl_cl *cl, const sdcl_t *x, const sdcl_w *w, const sdcl_w *bias,
                     const sdcl_t *residual, sdcl_t *y, const sdcl_conv_shape *s, int64_t batch)
{
  cl_kernel k;
  const int pick = sdcl_conv_tiled_pick (cl, w, s->kh, s->kw, &k);
  if (pick < 0)
    return !sdcl_cl_ok (cl);
  const sdcl_tiled_config *c = &sdcl_conv_tiled_configs[pick];
  const int64_t O = w->d[0], pixels = (int64_t) s->Ho * s->Wo;
  const int64_t K = (int64_t) s->C * s->kh * s->kw;
  /* Pixels per launch: within the launch budget (OpenCL cannot stop a
   * launch: a cancel waits for those already queued), whole tiles. */
  const uint64_t per_pixel = 2 * (uint64_t) O * K;
  const int64_t step = MAX (c->bm, (int64_t) (sdcl_cl_launch_budget (cl) / per_pixel)
                                       / c->bm * c->bm);
  size_t local[2] = { (size_t) (c->bm / c->tm), (size_t) (c->bn / c->tn) };
  sdcl_gemm_desc g = {
    .x = x->buf, .M = pixels, .K = K, .w = w, .bias = bias,
    .residual = residual ? residual->buf : NULL, .y = y->buf,
    .stride_m = 1, .stride_n = pixels, .act = SDCL_ACT_NONE,
  };
  for (int64_t b = 0; b < batch && sdcl_cl_ok (cl); b++)
    for (int p = 0; p < w->nparts; p++)
      for (int64_t m0 = 0; m0 < pixels && sdcl_cl_ok (cl); m0 += step)
        {
          const int64_t n_off = p * w->part_rows;
          const int64_t n_part = MIN (w->part_rows, O - n_off);
          g.y_off = b * O * pixels;
          sdcl_args a = sdcl_gemm_set_args (cl, k, &g, w->part[p], n_off, n_part);
          sdcl_arg_long (&a, b * (int64_t) s->C * s->H * s->W);
          sdcl_arg (&a, sizeof *s, s);
          sdcl_arg_int (&a, (int) m0);
          size_t global[2] = { sdcl_div_up ((size_t) MIN (step, pixels - m0), c->bm) * local[0],
                               sdcl_div_up ((size_t) n_part, c->bn) * local[1] };
          sdcl_cl_run (cl, k, 2, global, local);
        }
  return true;
}

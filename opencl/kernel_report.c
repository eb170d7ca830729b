/* Which kernels sdcl runs on a device, and why: the text `sdcl-bench
 * --kernels` prints and tools/device-report.sh puts in its report.  Every
 * line comes from the same choice functions the ops call, so the report
 * cannot drift from what runs.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "kernel_report.h"
#include "attention.h"
#include "clrt_internal.h"
#include "config.h"
#include "conv_tiled.h"
#include "extensions.h"
#include "gemm.h"
#include "gemm_config.h"

#include <string.h>

static const char *
device_type_name (sdcl_device_type type)
{
  switch (type)
    {
    case SDCL_DEVICE_GPU: return "gpu";
    case SDCL_DEVICE_CPU: return "cpu";
    case SDCL_DEVICE_ACCELERATOR: return "accelerator";
    case SDCL_DEVICE_OTHER: break;
    }
  return "other";
}

static void
report_device (sdcl_cl *cl, GString *out)
{
  const sdcl_device_info *d = sdcl_cl_device (cl);
  g_string_append_printf (out, "device      %s [%s], platform %s, %s, driver %s\n", d->name,
                          device_type_name (d->type), d->platform, d->version, d->driver);
  g_string_append_printf (out, "limits      %d compute units, work-group <= %zu, %.0f KiB local "
                          "memory, %.0f MiB max allocation, %.0f MiB global memory, float "
                          "vectors %d wide\n", d->compute_units, d->max_work_group_size,
                          d->local_mem_bytes / 1024.0, d->max_alloc_bytes / 1048576.0,
                          d->global_mem_bytes / 1048576.0, d->float_vector_width);
  size_t max_wg;
  uint64_t local_mem;
  sdcl_tiled_limits (cl, &max_wg, &local_mem);
  if (max_wg != d->max_work_group_size || local_mem != d->local_mem_bytes)
    g_string_append_printf (out, "forced      tile choices see work-group <= %zu, %" G_GUINT64_FORMAT
                            " bytes of local memory (SDCL_FORCE_WG_SIZE / SDCL_FORCE_LOCAL_MEM)\n",
                            max_wg, local_mem);
  size_t size = 0;
  char *ext = NULL;
  if (clGetDeviceInfo (sdcl_cl_device_id (cl), CL_DEVICE_EXTENSIONS, 0, NULL, &size) == CL_SUCCESS)
    {
      ext = g_malloc0 (size + 1);
      clGetDeviceInfo (sdcl_cl_device_id (cl), CL_DEVICE_EXTENSIONS, size, ext, NULL);
    }
  static const char *const names[] = { "cl_khr_fp16", "cl_khr_subgroups", "cl_intel_subgroups",
                                       "cl_intel_subgroup_matrix_multiply_accumulate" };
  g_string_append (out, "extensions ");
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    g_string_append_printf (out, " %s %s%s", names[i], ext && sdcl_ext_listed (ext, names[i])
                            ? "yes" : "no", i + 1 < G_N_ELEMENTS (names) ? "," : "\n");
  g_free (ext);
  /* The optional variants (extensions.c); the plain OpenCL 1.2 kernels
   * otherwise. */
  char why[200];
  const bool half = sdcl_cl_uses_ext (cl, SDCL_EXT_FP16);
  g_string_append_printf (out, "half math   %s (%s; SDCL_FP16)\n",
                          half ? "gemm_tiled and conv_tiled with F16 weights multiply in half, "
                                 "fp32 sums per k-block" : "no: fp32 arithmetic",
                          sdcl_ext_reason (cl, SDCL_EXT_FP16, why, sizeof why));
  const bool sub = sdcl_cl_uses_ext (cl, SDCL_EXT_SUBGROUPS);
  g_string_append_printf (out, "subgroups   %s (%s; SDCL_SUBGROUPS)\n",
                          sub ? "norms' work-group sums reduce per sub-group"
                              : "no: local-memory tree reductions",
                          sdcl_ext_reason (cl, SDCL_EXT_SUBGROUPS, why, sizeof why));
}

static void
report_gemm (sdcl_cl *cl, GString *out)
{
  const char *env_kernels = g_getenv ("SDCL_KERNELS");
  const bool cpu = sdcl_cl_cpu_kernels (cl);
  g_string_append_printf (out, "kernel set  %s (%s)\n", cpu ? "cpu" : "portable",
                          env_kernels ? "SDCL_KERNELS" : "the device type");
  const char *env_gemm = g_getenv ("SDCL_GEMM");
  char *path = sdcl_cl_cache_dir (cl) ? sdcl_gemm_config_path (sdcl_cl_cache_dir (cl),
                                                                sdcl_cl_device (cl))
                                      : NULL;
  const bool tuned = path && g_file_test (path, G_FILE_TEST_IS_REGULAR);
  g_string_append_printf (out, "GEMM        backend %s (%s%s)\n",
                          sdcl_cl_gemm_backend (cl) == SDCL_GEMM_CLBLAST ? "clblast" : "own",
                          env_gemm ? "SDCL_GEMM" : tuned ? "tuning file " : "default: no tuning "
                          "file; `sdcl tune` measures CLBlast against sdcl's kernels",
                          !env_gemm && tuned ? path : "");
  g_free (path);
  static const char *const kernels[] = { "panel (weights packed in column panels, registers)",
                                         "tiled (gemm_tiled: local-memory tiles)",
                                         "nt (register blocks, no local memory)" };
  const sdcl_gemm_kernel kernel = sdcl_gemm_kernel_choice (cl);
  g_string_append_printf (out, "            own kernel %s (%s)\n", kernels[kernel],
                          g_getenv ("SDCL_GEMM_KERNEL") ? "SDCL_GEMM_KERNEL" : "the kernel set");
  if (kernel != SDCL_GEMM_KERNEL_TILED)
    return;
  for (int half = 1; half >= 0; half--)
    {
      cl_kernel k;
      const int pick = sdcl_tiled_pick (cl, half, &k);
      if (pick < 0)
        {
          g_string_append_printf (out, "            %s weights: no tile configuration fits the "
                                  "limits: gemm_nt runs\n", half ? "F16" : "F32");
          continue;
        }
      const sdcl_tiled_config *c = &sdcl_tiled_configs[pick];
      g_string_append_printf (out, "            %s weights: gemm_tiled %dx%d tiles, k step %d, "
                              "%dx%d outputs per work-item, %zu work-items, %zu bytes of local "
                              "memory (configuration %d of %d%s)\n", half ? "F16" : "F32", c->bm,
                              c->bn, c->bk, c->tm, c->tn, sdcl_tiled_wg_size (c),
                              sdcl_tiled_local_bytes (c), pick + 1, sdcl_n_tiled_configs,
                              pick == sdcl_cl_tile_choice (cl)->gemm[half] ? ", tuned" : "");
    }
}

/* The convolution kernel for weights packed as this device packs them. */
static void
report_conv (sdcl_cl *cl, GString *out)
{
  const sdcl_w like = { .type = SDCL_WT_F16, .panel = sdcl_cl_packs_weights (cl) ? SDCL_W_PANEL : 0 };
  const sdcl_conv_kernel kind = sdcl_conv_kernel_choice (cl, &like);
  static const char *const what[] = {
    "implicit (gemm_conv_panel over banded padded input rows)",
    "tiled (conv_tiled: implicit GEMM in local-memory tiles)",
    "gather (patches of pixel chunks gathered, then the GEMM backend)",
  };
  g_string_append_printf (out, "convolution %s (%s)\n", what[kind],
                          g_getenv ("SDCL_CONV") ? "SDCL_CONV" : "the GEMM kernel and backend");
  if (kind != SDCL_CONV_TILED)
    return;
  for (int half = 1; half >= 0; half--)
    {
      const sdcl_w w = { .type = half ? SDCL_WT_F16 : SDCL_WT_F32 };
      cl_kernel k;
      const int pick = sdcl_conv_tiled_pick (cl, &w, 3, 3, &k);
      if (pick < 0)
        {
          g_string_append_printf (out, "            %s weights: no tile configuration fits the "
                                  "limits: the gathered convolution runs\n", half ? "F16" : "F32");
          continue;
        }
      const sdcl_tiled_config *c = &sdcl_conv_tiled_configs[pick];
      g_string_append_printf (out, "            %s weights: conv_tiled %d pixels x %d channels, "
                              "k step %d, %dx%d outputs per work-item, %zu work-items, %zu bytes "
                              "of local memory (configuration %d of %d%s)\n", half ? "F16" : "F32",
                              c->bm, c->bn, c->bk, c->tm, c->tn, sdcl_tiled_wg_size (c),
                              sdcl_conv_tiled_local_bytes (c), pick + 1, sdcl_n_conv_tiled_configs,
                              pick == sdcl_cl_tile_choice (cl)->conv[half] ? ", tuned" : "");
    }
}

static void
report_attention (sdcl_cl *cl, GString *out)
{
  const int *widths = sdcl_attn_tuned_widths;
  for (size_t i = 0; i < SDCL_ATTN_TUNED_WIDTHS; i++)
    {
      int config = -1;
      cl_kernel k = NULL;
      const sdcl_attn_path path = sdcl_attention_choice (cl, widths[i], false, &config, &k);
      g_string_append_printf (out, "%s head %3d: %s", i == 0 ? "attention  " : "           ",
                              widths[i], sdcl_attn_path_name (path));
      if (path == SDCL_ATTN_TILED && config >= 0)
        {
          const sdcl_attn_tiled_config *c = &sdcl_attn_tiled_configs[config];
          g_string_append_printf (out, " (%d queries x %d keys per block, %d work-items, %zu "
                                  "bytes of local memory, %d accumulators per work-item%s)",
                                  c->bq, c->bkv, c->wg, sdcl_attn_tiled_local_bytes (c, widths[i]),
                                  sdcl_attn_tiled_registers (c, widths[i]),
                                  config == sdcl_cl_tile_choice (cl)->attention[i] ? ", tuned"
                                                                                   : "");
        }
      else if (path == SDCL_ATTN_STREAMING && !sdcl_cl_cpu_kernels (cl))
        g_string_append (out, g_getenv ("SDCL_ATTENTION_KERNEL")
                                ? " (SDCL_ATTENTION_KERNEL)"
                                : " (no tile configuration fits the limits)");
      g_string_append_c (out, '\n');
    }
}

char *
sdcl_cl_kernel_report (sdcl_cl *cl)
{
  GString *out = g_string_new (NULL);
  report_device (cl, out);
  report_gemm (cl, out);
  report_conv (cl, out);
  report_attention (cl, out);
  g_string_append (out, sdcl_cl_cpu_kernels (cl)
                            ? "norms       GroupNorm statistics and LayerNorm: one work-group "
                              "per group / row, reductions as above\n"
                            : "norms       GroupNorm statistics: each group split over up to 64 "
                              "work-groups, merged pairwise (norm_wg.cl); LayerNorm: one "
                              "work-group per row; reductions as above\n");
  sdcl_error err = { 0 };
  if (sdcl_cl_check (cl, &err) != SDCL_OK)
    g_string_append_printf (out, "error       %s\n", err.message);
  return g_string_free (out, FALSE);
}

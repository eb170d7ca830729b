/* The choice of the optional extension variants (see extensions.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "extensions.h"
#include "clrt_internal.h"
#include "ops_util.h"

#include <glib.h>
#include <string.h>

typedef enum { MODE_AUTO, MODE_OFF, MODE_ON, MODE_INVALID } ext_mode;

static const char *const env_names[SDCL_N_EXTS] = { "SDCL_FP16", "SDCL_SUBGROUPS" };
static const char *const labels[SDCL_N_EXTS] = {
  "cl_khr_fp16", "cl_khr_subgroups, cl_intel_subgroups or __opencl_c_subgroups"
};
/* The words of the tuning file and the kernel report for the variant and
 * the plain kernels (gemm_config.c writes "fp16": "half" or "fp32"). */
static const char *const tuned_words[SDCL_N_EXTS][2] = {
  { "fp32", "half" }, { "plain", "subgroups" }
};
G_STATIC_ASSERT ((int) SDCL_N_EXTS == (int) SDCL_TUNED_EXTS);

/* OpenCL 3.0's query (the headers are used at 1.2). */
#define DEVICE_OPENCL_C_FEATURES 0x106F
typedef struct {
  cl_uint version;
  char name[64];
} name_version;

static ext_mode
env_mode (sdcl_ext e)
{
  const char *env = g_getenv (env_names[e]);
  if (!env || !*env || g_ascii_strcasecmp (env, "auto") == 0)
    return MODE_AUTO;
  if (g_ascii_strcasecmp (env, "off") == 0)
    return MODE_OFF;
  if (g_ascii_strcasecmp (env, "on") == 0)
    return MODE_ON;
  return MODE_INVALID;
}

bool
sdcl_ext_listed (const char *extensions, const char *name)
{
  const size_t n = strlen (name);
  for (const char *p = strstr (extensions, name); p; p = strstr (p + n, name))
    if ((p == extensions || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
      return true;
  return false;
}

/* The OpenCL C feature __opencl_c_subgroups (devices of OpenCL 3.0; an
 * older one fails the query). */
static bool
has_cl3_subgroups (cl_device_id dev)
{
  size_t size = 0;
  if (clGetDeviceInfo (dev, DEVICE_OPENCL_C_FEATURES, 0, NULL, &size) != CL_SUCCESS || size == 0)
    return false;
  name_version *f = g_malloc0 (size);
  bool found = false;
  if (clGetDeviceInfo (dev, DEVICE_OPENCL_C_FEATURES, size, f, NULL) == CL_SUCCESS)
    for (size_t i = 0; i < size / sizeof *f && !found; i++)
      found = strncmp (f[i].name, "__opencl_c_subgroups", sizeof f[i].name) == 0;
  g_free (f);
  return found;
}

unsigned
sdcl_ext_probe (cl_device_id dev)
{
  size_t size = 0;
  if (clGetDeviceInfo (dev, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS)
    return 0;
  char *ext = g_malloc0 (size + 1);
  unsigned bits = 0;
  if (clGetDeviceInfo (dev, CL_DEVICE_EXTENSIONS, size, ext, NULL) == CL_SUCCESS)
    {
      if (sdcl_ext_listed (ext, "cl_khr_fp16"))
        bits |= 1u << SDCL_EXT_FP16;
      /* cl_intel_subgroups declares the same sub_group_* built-ins. */
      if (sdcl_ext_listed (ext, "cl_khr_subgroups") || sdcl_ext_listed (ext, "cl_intel_subgroups"))
        bits |= 1u << SDCL_EXT_SUBGROUPS;
    }
  g_free (ext);
  if (!(bits & (1u << SDCL_EXT_SUBGROUPS)) && has_cl3_subgroups (dev))
    bits |= (1u << SDCL_EXT_SUBGROUPS) | SDCL_EXT_CL3_SUBGROUPS;
  return bits;
}

bool
sdcl_cl_has_ext (const sdcl_cl *cl, sdcl_ext e)
{
  return (sdcl_cl_ext_bits (cl) >> e) & 1u;
}

bool
sdcl_ext_env_valid (char *why, size_t why_size)
{
  for (int e = 0; e < SDCL_N_EXTS; e++)
    if (env_mode (e) == MODE_INVALID)
      {
        g_snprintf (why, why_size, "%s=\"%s\" is none of auto, off, on", env_names[e],
                    g_getenv (env_names[e]));
        return false;
      }
  return true;
}

bool
sdcl_ext_env_satisfied (const sdcl_cl *cl, char *why, size_t why_size)
{
  for (int e = 0; e < SDCL_N_EXTS; e++)
    if (env_mode (e) == MODE_ON && !sdcl_cl_has_ext (cl, e))
      {
        g_snprintf (why, why_size, "%s=on, but the device %s lacks %s", env_names[e],
                    sdcl_cl_device (cl)->name, labels[e]);
        return false;
      }
  return true;
}

bool
sdcl_cl_uses_ext (const sdcl_cl *cl, sdcl_ext e)
{
  switch (env_mode (e))
    {
    case MODE_ON: return sdcl_cl_has_ext (cl, e);   /* sdcl_cl_new checked it */
    case MODE_OFF: return false;
    default: break;
    }
  if (!sdcl_cl_has_ext (cl, e) || sdcl_cl_cpu_kernels (cl))
    return false;
  /* `sdcl tune`'s verdict for this device, when it timed the variant. */
  const int tuned = sdcl_cl_tuned (cl)->ext[e].use;
  return tuned < 0 || tuned == 1;
}

const char *
sdcl_ext_reason (const sdcl_cl *cl, sdcl_ext e, char *buf, size_t size)
{
  const ext_mode mode = env_mode (e);
  const sdcl_ext_tuned *t = &sdcl_cl_tuned (cl)->ext[e];
  if (mode == MODE_ON)
    g_snprintf (buf, size, "forced by %s=on", env_names[e]);
  else if (mode == MODE_OFF)
    g_snprintf (buf, size, "turned off by %s=off", env_names[e]);
  else if (!sdcl_cl_has_ext (cl, e))
    /* A tuning file follows the device's name and driver, not its
     * extensions (rusticl's come and go with RUSTICL_FEATURES). */
    g_snprintf (buf, size, "the device lacks it%s%s%s", t->use == 1 ? ": the tuning file's \"" : "",
                t->use == 1 ? tuned_words[e][1] : "", t->use == 1 ? "\" entry is ignored" : "");
  else if (sdcl_cl_cpu_kernels (cl))
    g_snprintf (buf, size, "the CPU kernels have no variant for it");
  else if (t->use >= 0)
    g_snprintf (buf, size, "the tuning file chose %s: `sdcl tune` measured %s %.4g s, %s %.4g s",
                tuned_words[e][t->use], tuned_words[e][1], t->seconds[1], tuned_words[e][0],
                t->seconds[0]);
  else
    g_snprintf (buf, size, "the device has it; `sdcl tune` has not timed it");
  return buf;
}

const char *
sdcl_ext_tuned_word (sdcl_ext e, bool variant)
{
  return tuned_words[e][variant];
}

const char *
sdcl_ext_label (sdcl_ext e)
{
  return labels[e];
}

const char *
sdcl_reduce_options (const sdcl_cl *cl)
{
  if (!sdcl_cl_uses_ext (cl, SDCL_EXT_SUBGROUPS))
    return "";
  return sdcl_cl_ext_bits (cl) & SDCL_EXT_CL3_SUBGROUPS ? "-DSDCL_SUBGROUPS -cl-std=CL3.0"
                                                        : "-DSDCL_SUBGROUPS";
}

cl_kernel
sdcl_reduce_kernel (sdcl_cl *cl, const char *name, size_t want, size_t *wg)
{
  cl_kernel k = sdcl_cl_kernel (cl, name, "");
  if (!k)
    return NULL;
  *wg = sdcl_pow2_at_most (sdcl_kernel_max_wg (cl, k), want);
  /* One work-item has nothing to reduce; PoCL 6.0 also fails to link the
   * sub-group variant for one-work-item launches (undefined
   * __pocl_work_group_alloca, found by kernel-ext-subgroups). */
  if (*wg < 2 || !sdcl_cl_uses_ext (cl, SDCL_EXT_SUBGROUPS))
    return k;
  cl_kernel ks = sdcl_cl_kernel (cl, name, sdcl_reduce_options (cl));
  if (!ks)
    return NULL;
  *wg = sdcl_pow2_at_most (sdcl_kernel_max_wg (cl, ks), *wg);
  return *wg < 2 ? k : ks;
}

const char *
sdcl_half_math_option (const sdcl_cl *cl, sdcl_wtype type)
{
  /* F16 weights only: F32 weights ask for fp32 products, Q8 ones are
   * scaled per row in fp32 (weights_q8.c). */
  return type == SDCL_WT_F16 && sdcl_cl_uses_ext (cl, SDCL_EXT_FP16) ? " -DHALF_MATH" : "";
}

/* OpenCL runtime, devices: enumeration, description and choice
 * (the runtime's parts: clrt.c errors, context and profile; clrt_devices.c;
 * clrt_programs.c; clrt_buffers.c; clrt_weights.c; shared state in
 * clrt_impl.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt_impl.h"
#include "no_device.h"

/* ---- devices ----------------------------------------------------------- */

static void
info_string (cl_device_id dev, cl_device_info what, char *out, size_t size)
{
  out[0] = '\0';
  if (clGetDeviceInfo (dev, what, size, out, NULL) != CL_SUCCESS)
    g_strlcpy (out, "?", size);
  out[size - 1] = '\0';
  g_strstrip (out);
}

static sdcl_device_type
device_type_of (cl_device_type t)
{
  if (t & CL_DEVICE_TYPE_GPU)
    return SDCL_DEVICE_GPU;
  if (t & CL_DEVICE_TYPE_CPU)
    return SDCL_DEVICE_CPU;
  if (t & CL_DEVICE_TYPE_ACCELERATOR)
    return SDCL_DEVICE_ACCELERATOR;
  return SDCL_DEVICE_OTHER;
}

static void
describe_device (cl_platform_id platform, cl_device_id dev, int index, sdcl_device_info *out)
{
  memset (out, 0, sizeof *out);
  out->index = index;
  info_string (dev, CL_DEVICE_NAME, out->name, sizeof out->name);
  info_string (dev, CL_DEVICE_VENDOR, out->vendor, sizeof out->vendor);
  info_string (dev, CL_DEVICE_VERSION, out->version, sizeof out->version);
  info_string (dev, CL_DRIVER_VERSION, out->driver, sizeof out->driver);
  if (clGetPlatformInfo (platform, CL_PLATFORM_NAME, sizeof out->platform, out->platform, NULL)
      != CL_SUCCESS)
    g_strlcpy (out->platform, "?", sizeof out->platform);
  out->platform[sizeof out->platform - 1] = '\0';

  cl_device_type type = 0;
  cl_ulong global = 0, alloc = 0, local = 0;
  size_t wg = 0;
  cl_uint units = 0, float_width = 0;
  clGetDeviceInfo (dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  clGetDeviceInfo (dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
  clGetDeviceInfo (dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
  clGetDeviceInfo (dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
  clGetDeviceInfo (dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  clGetDeviceInfo (dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
  clGetDeviceInfo (dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof float_width, &float_width, NULL);
  out->type = device_type_of (type);
  out->global_mem_bytes = global;
  out->max_alloc_bytes = alloc;
  out->local_mem_bytes = local;
  out->max_work_group_size = wg;
  out->compute_units = (int) units;
  out->float_vector_width = (int) float_width;
}

/* Every device of every platform, in platform order.  Both arrays are
 * g_malloc'ed (NULL when count is 0). */
sdcl_status
clrt_enumerate_devices (device_ref **refs_out, sdcl_device_info **infos_out, int *count_out,
                   sdcl_error *err)
{
  *refs_out = NULL;
  *infos_out = NULL;
  *count_out = 0;
  cl_uint n_platforms = 0;
  cl_int rc = clGetPlatformIDs (0, NULL, &n_platforms);
  if (rc != CL_SUCCESS || n_platforms == 0)
    {
      clrt_set_error (err, SDCL_ERR_NO_DEVICE,
                 "no OpenCL platform found (%s): install an OpenCL driver (ICD) for your GPU, "
                 "or PoCL for the CPU",
                 rc != CL_SUCCESS ? sdcl_cl_strerror (rc) : "the ICD loader lists none");
      return SDCL_ERR_NO_DEVICE;
    }
  cl_platform_id *platforms = g_new (cl_platform_id, n_platforms);
  clGetPlatformIDs (n_platforms, platforms, NULL);

  GArray *refs = g_array_new (FALSE, FALSE, sizeof (device_ref));
  for (cl_uint p = 0; p < n_platforms; p++)
    {
      cl_uint n = 0;
      if (clGetDeviceIDs (platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) != CL_SUCCESS || n == 0)
        continue;
      cl_device_id *devs = g_new (cl_device_id, n);
      clGetDeviceIDs (platforms[p], CL_DEVICE_TYPE_ALL, n, devs, NULL);
      for (cl_uint d = 0; d < n; d++)
        {
          device_ref r = { platforms[p], devs[d] };
          g_array_append_val (refs, r);
        }
      g_free (devs);
    }
  if (refs->len == 0)
    {
      char *hint = sdcl_cl_no_device_hint (platforms, n_platforms);
      clrt_set_error (err, SDCL_ERR_NO_DEVICE, "the OpenCL platforms expose no device: %s", hint);
      g_free (hint);
      g_free (platforms);
      g_array_free (refs, TRUE);
      return SDCL_ERR_NO_DEVICE;
    }
  g_free (platforms);

  int count = (int) refs->len;
  sdcl_device_info *infos = count ? g_new (sdcl_device_info, count) : NULL;
  for (int i = 0; i < count; i++)
    {
      device_ref *r = &g_array_index (refs, device_ref, i);
      describe_device (r->platform, r->device, i, &infos[i]);
    }
  *count_out = count;
  *infos_out = infos;
  *refs_out = (device_ref *) g_array_free (refs, count == 0);
  return SDCL_OK;
}

sdcl_status
sdcl_list_devices (sdcl_device_info **out, int *count, sdcl_error *err)
{
  if (!out || !count)
    {
      clrt_set_error (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_list_devices: out and count must not be NULL");
      return SDCL_ERR_INVALID_ARGUMENT;
    }
  *out = NULL;
  *count = 0;
  device_ref *refs;
  sdcl_device_info *infos;
  int n;
  sdcl_status st = clrt_enumerate_devices (&refs, &infos, &n, err);
  if (st != SDCL_OK)
    return st;
  g_free (refs);
  if (n > 0)
    {
      /* The public contract says free(), so hand out plain malloc memory. */
      *out = malloc (sizeof (sdcl_device_info) * (size_t) n);
      if (!*out)
        {
          g_free (infos);
          clrt_set_error (err, SDCL_ERR_OUT_OF_MEMORY, "sdcl_list_devices: out of host memory");
          return SDCL_ERR_OUT_OF_MEMORY;
        }
      memcpy (*out, infos, sizeof (sdcl_device_info) * (size_t) n);
    }
  g_free (infos);
  *count = n;
  return SDCL_OK;
}

static bool
is_decimal (const char *s)
{
  if (!*s)
    return false;
  for (; *s; s++)
    if (!g_ascii_isdigit (*s))
      return false;
  return true;
}

char *
clrt_list_device_names (const sdcl_device_info *infos, int n)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d: %s (%s)", i ? ", " : "", i, infos[i].name,
                            infos[i].platform);
  if (n == 0)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

/* Applies the sdcl_ctx_params.device rules; returns the index or -1. */
int
clrt_choose_device (const sdcl_device_info *infos, int n, const char *spec)
{
  if (!spec || !*spec)
    {
      for (int i = 0; i < n; i++)
        if (infos[i].type == SDCL_DEVICE_GPU)
          return i;
      return n > 0 ? 0 : -1;
    }
  if (is_decimal (spec))
    {
      gint64 index = g_ascii_strtoll (spec, NULL, 10);
      return index >= 0 && index < n && strlen (spec) < 10 ? (int) index : -1;
    }
  char *want = g_utf8_casefold (spec, -1);
  int found = -1;
  for (int i = 0; i < n && found < 0; i++)
    {
      char *name = g_utf8_casefold (infos[i].name, -1);
      if (strstr (name, want))
        found = i;
      g_free (name);
    }
  g_free (want);
  return found;
}

/* OpenCL runtime, errors, context and profile: the sticky error, creating and
 * freeing a context, the per-kernel profile
 * (the runtime's parts: clrt.c errors, context and profile; clrt_devices.c;
 * clrt_programs.c; clrt_buffers.c; clrt_weights.c; shared state in
 * clrt_impl.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "attention.h"
#include "clrt_impl.h"
#include "clrt_derived.h"
#include "conv_winograd.h"
#include "config.h"
#include "conv_tiled.h"
#include "gemm.h"
#include "gemm_config.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static gint
compare_profile (gconstpointer a, gconstpointer b, gpointer table)
{
  const profile_entry *x = g_hash_table_lookup (table, *(char *const *) a);
  const profile_entry *y = g_hash_table_lookup (table, *(char *const *) b);
  return x->cpu_seconds < y->cpu_seconds ? 1 : x->cpu_seconds > y->cpu_seconds ? -1 : 0;
}

double
clrt_cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return (double) ru.ru_utime.tv_sec + (double) ru.ru_stime.tv_sec
         + ((double) ru.ru_utime.tv_usec + (double) ru.ru_stime.tv_usec) / 1e6;
}

void
clrt_print_profile (GHashTable *table)
{
  guint n = 0;
  char **names = (char **) g_hash_table_get_keys_as_array (table, &n);
  g_qsort_with_data (names, (gint) n, sizeof *names, compare_profile, table);
  double total = 0, cpu_total = 0;
  for (guint i = 0; i < n; i++)
    {
      const profile_entry *e = g_hash_table_lookup (table, names[i]);
      total += e->seconds;
      cpu_total += e->cpu_seconds;
    }
  /* Sorted by CPU time: on a shared machine (or one whose processes get
   * stopped for a while) it is the steadier of the two. */
  fprintf (stderr, "sdcl profile (per kernel, queue serialised): wall %.3f s, CPU %.3f s\n",
           total, cpu_total);
  int width = 24;
  for (guint i = 0; i < n; i++)
    width = MAX (width, (int) strlen (names[i]));
  for (guint i = 0; i < n; i++)
    {
      const profile_entry *e = g_hash_table_lookup (table, names[i]);
      fprintf (stderr,
               "  %-*s wall %8.3f s  CPU %8.3f s %5.1f%% %6" G_GUINT64_FORMAT " launches\n",
               width, names[i], e->seconds, e->cpu_seconds,
               100.0 * e->cpu_seconds / MAX (cpu_total, 1e-9), e->launches);
    }
  g_free (names);
}

void
sdcl_cl_profile_label (sdcl_cl *cl, const char *fmt, ...)
{
  if (!cl->profile_ops)
    return;
  cl->profile_label[0] = '\0';
  if (!fmt)
    return;
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (cl->profile_label, sizeof cl->profile_label, fmt, ap);
  va_end (ap);
}

void
sdcl_cl_profile_clear (sdcl_cl *cl)
{
  if (cl->profile)
    g_hash_table_remove_all (cl->profile);
}

/* ---- errors ------------------------------------------------------------ */

void
clrt_set_error (sdcl_error *err, sdcl_status code, const char *fmt, ...)
{
  if (!err)
    return;
  va_list ap;
  va_start (ap, fmt);
  err->code = code;
  vsnprintf (err->message, sizeof err->message, fmt, ap);
  va_end (ap);
}

const char *
sdcl_cl_strerror (cl_int code)
{
  switch (code)
    {
#define NAME(c) case c: return #c
      NAME (CL_SUCCESS);
      NAME (CL_DEVICE_NOT_FOUND);
      NAME (CL_DEVICE_NOT_AVAILABLE);
      NAME (CL_COMPILER_NOT_AVAILABLE);
      NAME (CL_MEM_OBJECT_ALLOCATION_FAILURE);
      NAME (CL_OUT_OF_RESOURCES);
      NAME (CL_OUT_OF_HOST_MEMORY);
      NAME (CL_PROFILING_INFO_NOT_AVAILABLE);
      NAME (CL_MEM_COPY_OVERLAP);
      NAME (CL_IMAGE_FORMAT_MISMATCH);
      NAME (CL_IMAGE_FORMAT_NOT_SUPPORTED);
      NAME (CL_BUILD_PROGRAM_FAILURE);
      NAME (CL_MAP_FAILURE);
      NAME (CL_MISALIGNED_SUB_BUFFER_OFFSET);
      NAME (CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
      NAME (CL_COMPILE_PROGRAM_FAILURE);
      NAME (CL_LINKER_NOT_AVAILABLE);
      NAME (CL_LINK_PROGRAM_FAILURE);
      NAME (CL_DEVICE_PARTITION_FAILED);
      NAME (CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
      NAME (CL_INVALID_VALUE);
      NAME (CL_INVALID_DEVICE_TYPE);
      NAME (CL_INVALID_PLATFORM);
      NAME (CL_INVALID_DEVICE);
      NAME (CL_INVALID_CONTEXT);
      NAME (CL_INVALID_QUEUE_PROPERTIES);
      NAME (CL_INVALID_COMMAND_QUEUE);
      NAME (CL_INVALID_HOST_PTR);
      NAME (CL_INVALID_MEM_OBJECT);
      NAME (CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
      NAME (CL_INVALID_IMAGE_SIZE);
      NAME (CL_INVALID_SAMPLER);
      NAME (CL_INVALID_BINARY);
      NAME (CL_INVALID_BUILD_OPTIONS);
      NAME (CL_INVALID_PROGRAM);
      NAME (CL_INVALID_PROGRAM_EXECUTABLE);
      NAME (CL_INVALID_KERNEL_NAME);
      NAME (CL_INVALID_KERNEL_DEFINITION);
      NAME (CL_INVALID_KERNEL);
      NAME (CL_INVALID_ARG_INDEX);
      NAME (CL_INVALID_ARG_VALUE);
      NAME (CL_INVALID_ARG_SIZE);
      NAME (CL_INVALID_KERNEL_ARGS);
      NAME (CL_INVALID_WORK_DIMENSION);
      NAME (CL_INVALID_WORK_GROUP_SIZE);
      NAME (CL_INVALID_WORK_ITEM_SIZE);
      NAME (CL_INVALID_GLOBAL_OFFSET);
      NAME (CL_INVALID_EVENT_WAIT_LIST);
      NAME (CL_INVALID_EVENT);
      NAME (CL_INVALID_OPERATION);
      NAME (CL_INVALID_GL_OBJECT);
      NAME (CL_INVALID_BUFFER_SIZE);
      NAME (CL_INVALID_MIP_LEVEL);
      NAME (CL_INVALID_GLOBAL_WORK_SIZE);
      NAME (CL_INVALID_PROPERTY);
      NAME (CL_INVALID_IMAGE_DESCRIPTOR);
      NAME (CL_INVALID_COMPILER_OPTIONS);
      NAME (CL_INVALID_LINKER_OPTIONS);
      NAME (CL_INVALID_DEVICE_PARTITION_COUNT);
#undef NAME
    case -1001:
      return "CL_PLATFORM_NOT_FOUND_KHR";
    default:
      return "unknown OpenCL error";
    }
}

bool
sdcl_cl_ok (const sdcl_cl *cl)
{
  return cl->status == SDCL_OK;
}

void
sdcl_cl_fail (sdcl_cl *cl, sdcl_status code, const char *fmt, ...)
{
  if (cl->status != SDCL_OK)
    return;
  va_list ap;
  va_start (ap, fmt);
  cl->status = code;
  vsnprintf (cl->message, sizeof cl->message, fmt, ap);
  va_end (ap);
}

bool
clrt_is_out_of_memory (cl_int code)
{
  return code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES
         || code == CL_OUT_OF_HOST_MEMORY;
}

bool
sdcl_cl_try (sdcl_cl *cl, cl_int code, const char *what)
{
  if (code == CL_SUCCESS)
    return true;
  if (clrt_is_out_of_memory (code))
    sdcl_cl_fail (cl, SDCL_ERR_OUT_OF_MEMORY,
                  "%s: %s (%d): the device ran out of memory (%" G_GUINT64_FORMAT
                  " bytes of activations allocated besides the weights; device memory %"
                  G_GUINT64_FORMAT " bytes)",
                  what, sdcl_cl_strerror (code), code, cl->pool_bytes, cl->info.global_mem_bytes);
  else
    sdcl_cl_fail (cl, SDCL_ERR_DEVICE, "%s: %s (%d)", what, sdcl_cl_strerror (code), code);
  return false;
}

sdcl_status
sdcl_cl_check (sdcl_cl *cl, sdcl_error *err)
{
  if (cl->status != SDCL_OK)
    clrt_set_error (err, cl->status, "%s", cl->message);
  return cl->status;
}

void
sdcl_cl_clear_error (sdcl_cl *cl)
{
  cl->status = SDCL_OK;
  cl->message[0] = '\0';
}

/* ---- context ----------------------------------------------------------- */

char *
sdcl_cl_resolve_cache_dir (const char *cache_dir)
{
  if (cache_dir)
    return *cache_dir ? g_strdup (cache_dir) : NULL;
  const char *env = g_getenv ("SDCL_CACHE_DIR");
  if (env && *env)
    return g_strdup (env);
  /* g_get_user_cache_dir honours $XDG_CACHE_HOME and falls back to ~/.cache. */
  return g_build_filename (g_get_user_cache_dir (), "sdcl", NULL);
}

static char *
make_cache_identity (cl_platform_id platform, const sdcl_device_info *info)
{
  char pversion[256] = "";
  clGetPlatformInfo (platform, CL_PLATFORM_VERSION, sizeof pversion, pversion, NULL);
  pversion[sizeof pversion - 1] = '\0';
  return g_strdup_printf ("platform=%s\nplatform-version=%s\ndevice=%s\ndriver=%s\n",
                          info->platform, pversion, info->name, info->driver);
}

static void
release_program (gpointer p)
{
  clReleaseProgram ((cl_program) p);
}

static void
release_kernel (gpointer k)
{
  clReleaseKernel ((cl_kernel) k);
}

static bool
create_context (sdcl_cl *cl, sdcl_error *err)
{
  cl_int rc;
  cl_context_properties props[] = { CL_CONTEXT_PLATFORM, (cl_context_properties) cl->platform, 0 };
  cl->context = clCreateContext (props, 1, &cl->device, NULL, NULL, &rc);
  if (rc != CL_SUCCESS)
    {
      clrt_set_error (err, SDCL_ERR_DEVICE, "cannot create an OpenCL context on %s: %s (%d)",
                 cl->info.name, sdcl_cl_strerror (rc), rc);
      return false;
    }
  cl->queue = clCreateCommandQueue (cl->context, cl->device, 0, &rc);
  if (rc != CL_SUCCESS)
    {
      clrt_set_error (err, SDCL_ERR_DEVICE, "cannot create an OpenCL command queue on %s: %s (%d)",
                 cl->info.name, sdcl_cl_strerror (rc), rc);
      return false;
    }
  return true;
}

/* SDCL_GEMM=own|clblast wins; else the tuning file of this device (whose
 * CLBlast parameters are applied even when the environment forces a
 * backend, so SDCL_GEMM=clblast runs the tuned kernel); else own. */
static sdcl_gemm_backend
choose_gemm_backend (sdcl_cl *cl)
{
  sdcl_gemm_backend backend = SDCL_GEMM_OWN;
  sdcl_gemm_config_apply (cl, &backend);
  const char *env = g_getenv ("SDCL_GEMM");
  if (env && g_ascii_strcasecmp (env, "clblast") == 0)
    backend = SDCL_GEMM_CLBLAST;
  else if (env && g_ascii_strcasecmp (env, "own") == 0)
    backend = SDCL_GEMM_OWN;
  return SDCL_HAVE_CLBLAST ? backend : SDCL_GEMM_OWN;
}

sdcl_cl *
sdcl_cl_new (const char *device_spec, const char *cache_dir, sdcl_error *err)
{
  char why[200];
  if (!sdcl_gemm_env_valid (why, sizeof why) || !sdcl_attention_env_valid (why, sizeof why)
      || !sdcl_conv_env_valid (why, sizeof why) || !sdcl_ext_env_valid (why, sizeof why))
    {
      clrt_set_error (err, SDCL_ERR_INVALID_ARGUMENT, "%s", why);
      return NULL;
    }
  device_ref *refs;
  sdcl_device_info *infos;
  int n;
  if (clrt_enumerate_devices (&refs, &infos, &n, err) != SDCL_OK)
    return NULL;
  int pick = clrt_choose_device (infos, n, device_spec);
  if (pick < 0)
    {
      char *names = clrt_list_device_names (infos, n);   /* n > 0: enumerate_devices saw to it */
      clrt_set_error (err, SDCL_ERR_NO_DEVICE, "no OpenCL device matches \"%s\"; devices: %s",
                 device_spec, names);
      g_free (names);
      g_free (refs);
      g_free (infos);
      return NULL;
    }

  sdcl_cl *cl = g_new0 (sdcl_cl, 1);
  cl->platform = refs[pick].platform;
  cl->device = refs[pick].device;
  cl->info = infos[pick];
  cl->max_alloc = cl->info.max_alloc_bytes;
  g_free (refs);
  g_free (infos);

  cl->cache_dir = sdcl_cl_resolve_cache_dir (cache_dir);
  cl->cache_identity = make_cache_identity (cl->platform, &cl->info);
  cl->programs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, release_program);
  cl->kernels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, release_kernel);
  cl->pool = g_array_new (FALSE, FALSE, sizeof (pooled_buffer));
  cl->idle_limit = UINT64_MAX;
  cl->launch_budget = SDCL_CL_LAUNCH_BUDGET;
  sdcl_tile_choice_clear (&cl->tiles);
  if (g_getenv ("SDCL_PROFILE"))
    {
      cl->profile = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      cl->profile_ops = g_strcmp0 (g_getenv ("SDCL_PROFILE"), "ops") == 0;
    }
  if (!create_context (cl, err))
    {
      sdcl_cl_free (cl);
      return NULL;
    }
  cl->gemm = choose_gemm_backend (cl);
  cl->ext_bits = sdcl_ext_probe (cl->device);
  if (!sdcl_ext_env_satisfied (cl, why, sizeof why))
    {
      clrt_set_error (err, SDCL_ERR_INVALID_ARGUMENT, "%s", why);
      sdcl_cl_free (cl);
      return NULL;
    }
  return cl;
}

/* Forgets the pacing event (see clrt_pace). */
void
clrt_drop_mark (sdcl_cl *cl)
{
  if (cl->mark)
    clReleaseEvent (cl->mark);
  cl->mark = NULL;
}

void
sdcl_cl_free (sdcl_cl *cl)
{
  if (!cl)
    return;
  /* Short by construction (sdcl_cl_run's pacing), even after an error. */
  if (cl->queue)
    clFinish (cl->queue);
  clrt_drop_mark (cl);
  if (cl->profile)
    {
      clrt_print_profile (cl->profile);
      g_hash_table_destroy (cl->profile);
    }
  sdcl_cl_derived_clear (cl);
  sdcl_cl_pool_trim (cl);
  g_array_free (cl->pool, TRUE);
  g_hash_table_destroy (cl->kernels);
  g_hash_table_destroy (cl->programs);
  if (cl->queue)
    clReleaseCommandQueue (cl->queue);
  if (cl->context)
    clReleaseContext (cl->context);
  g_free (cl->cache_dir);
  g_free (cl->cache_identity);
  g_free (cl);
}

const sdcl_device_info *
sdcl_cl_device (const sdcl_cl *cl)
{
  return &cl->info;
}

cl_context
sdcl_cl_context (const sdcl_cl *cl)
{
  return cl->context;
}

cl_command_queue
sdcl_cl_queue (const sdcl_cl *cl)
{
  return cl->queue;
}

void
sdcl_cl_set_max_alloc_for_testing (sdcl_cl *cl, uint64_t bytes)
{
  cl->max_alloc = bytes && bytes < cl->info.max_alloc_bytes ? bytes : cl->info.max_alloc_bytes;
}

uint64_t
sdcl_cl_max_alloc (const sdcl_cl *cl)
{
  return cl->max_alloc;
}

/* ---- per-run settings (set by the pipeline under its run lock) ---------- */

void
sdcl_cl_set_cancel (sdcl_cl *cl, const volatile int *flag)
{
  cl->cancel = flag;
}

const volatile int *
sdcl_cl_cancel_flag (const sdcl_cl *cl)
{
  return cl->cancel;
}

void
sdcl_cl_set_circular_padding (sdcl_cl *cl, bool circular)
{
  cl->circular_padding = circular;
}

bool
sdcl_cl_circular_padding (const sdcl_cl *cl)
{
  return cl->circular_padding;
}

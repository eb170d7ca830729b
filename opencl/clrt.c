/* OpenCL runtime: device enumeration and choice, programs with an on-disk
 * binary cache, the sticky error, pooled device tensors and weights.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt.h"
#include "clrt_internal.h"
#include "config.h"
#include "gemm.h"
#include "gemm_config.h"
#include "kernels_embedded.h"
#include "no_device.h"
#include "sdcl_file.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
  size_t bytes;
  cl_mem buf;
} pooled_buffer;

struct sdcl_cl {
  cl_platform_id platform;
  cl_device_id device;
  cl_context context;
  cl_command_queue queue;
  sdcl_device_info info;
  uint64_t max_alloc;          /* device limit, or a smaller test override */
  sdcl_gemm_backend gemm;      /* see sdcl_cl_gemm_backend */

  char *cache_dir;             /* NULL: binary cache disabled */
  char *cache_identity;        /* platform, device and driver: part of every cache key */
  GHashTable *programs;        /* "index|options" -> cl_program */
  GHashTable *kernels;         /* "name|options" -> cl_kernel */

  sdcl_status status;          /* sticky: the first failure */
  char message[1024];

  GArray *pool;                /* pooled_buffer: released buffers awaiting reuse */
  uint64_t pool_bytes, pool_peak;
  uint64_t in_use_bytes, in_use_peak;   /* handed out and not yet released */
  uint64_t idle_limit;         /* see sdcl_cl_set_pool_idle_limit */
  uint64_t weight_bytes;       /* live sdcl_w buffers (as allocated) */
  uint64_t weight_uploads;     /* sdcl_w uploads started, ever */
  const volatile int *cancel;  /* see sdcl_cl_set_cancel */

  /* SDCL_PROFILE set: every launch waits for its kernel and its wall time
   * is summed per kernel name (name -> profile_entry), printed to stderr
   * when the context is freed.  Serialises the queue: for profiling only. */
  GHashTable *profile;
};

typedef struct {
  double seconds;
  uint64_t launches;
} profile_entry;

static gint
compare_profile (gconstpointer a, gconstpointer b, gpointer table)
{
  const profile_entry *x = g_hash_table_lookup (table, *(char *const *) a);
  const profile_entry *y = g_hash_table_lookup (table, *(char *const *) b);
  return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : 0;
}

static void
print_profile (GHashTable *table)
{
  guint n = 0;
  char **names = (char **) g_hash_table_get_keys_as_array (table, &n);
  g_qsort_with_data (names, (gint) n, sizeof *names, compare_profile, table);
  double total = 0;
  for (guint i = 0; i < n; i++)
    total += ((profile_entry *) g_hash_table_lookup (table, names[i]))->seconds;
  fprintf (stderr, "sdcl profile (kernel wall time, queue serialised): %.3f s\n", total);
  for (guint i = 0; i < n; i++)
    {
      const profile_entry *e = g_hash_table_lookup (table, names[i]);
      fprintf (stderr, "  %-24s %9.3f s %5.1f%% %8" G_GUINT64_FORMAT " launches\n", names[i],
               e->seconds, 100.0 * e->seconds / total, e->launches);
    }
  g_free (names);
}

/* ---- errors ------------------------------------------------------------ */

static void G_GNUC_PRINTF (3, 4)
set_error (sdcl_error *err, sdcl_status code, const char *fmt, ...)
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

static bool
is_out_of_memory (cl_int code)
{
  return code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES
         || code == CL_OUT_OF_HOST_MEMORY;
}

bool
sdcl_cl_try (sdcl_cl *cl, cl_int code, const char *what)
{
  if (code == CL_SUCCESS)
    return true;
  if (is_out_of_memory (code))
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
    set_error (err, cl->status, "%s", cl->message);
  return cl->status;
}

void
sdcl_cl_clear_error (sdcl_cl *cl)
{
  cl->status = SDCL_OK;
  cl->message[0] = '\0';
}

/* ---- devices ----------------------------------------------------------- */

typedef struct {
  cl_platform_id platform;
  cl_device_id device;
} device_ref;

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
static sdcl_status
enumerate_devices (device_ref **refs_out, sdcl_device_info **infos_out, int *count_out,
                   sdcl_error *err)
{
  *refs_out = NULL;
  *infos_out = NULL;
  *count_out = 0;
  cl_uint n_platforms = 0;
  cl_int rc = clGetPlatformIDs (0, NULL, &n_platforms);
  if (rc != CL_SUCCESS || n_platforms == 0)
    {
      set_error (err, SDCL_ERR_NO_DEVICE,
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
      set_error (err, SDCL_ERR_NO_DEVICE, "the OpenCL platforms expose no device: %s", hint);
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
      set_error (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_list_devices: out and count must not be NULL");
      return SDCL_ERR_INVALID_ARGUMENT;
    }
  *out = NULL;
  *count = 0;
  device_ref *refs;
  sdcl_device_info *infos;
  int n;
  sdcl_status st = enumerate_devices (&refs, &infos, &n, err);
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
          set_error (err, SDCL_ERR_OUT_OF_MEMORY, "sdcl_list_devices: out of host memory");
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

static char *
list_device_names (const sdcl_device_info *infos, int n)
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
static int
choose_device (const sdcl_device_info *infos, int n, const char *spec)
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
      set_error (err, SDCL_ERR_DEVICE, "cannot create an OpenCL context on %s: %s (%d)",
                 cl->info.name, sdcl_cl_strerror (rc), rc);
      return false;
    }
  cl->queue = clCreateCommandQueue (cl->context, cl->device, 0, &rc);
  if (rc != CL_SUCCESS)
    {
      set_error (err, SDCL_ERR_DEVICE, "cannot create an OpenCL command queue on %s: %s (%d)",
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
  if (!sdcl_gemm_env_valid (why, sizeof why))
    {
      set_error (err, SDCL_ERR_INVALID_ARGUMENT, "%s", why);
      return NULL;
    }
  device_ref *refs;
  sdcl_device_info *infos;
  int n;
  if (enumerate_devices (&refs, &infos, &n, err) != SDCL_OK)
    return NULL;
  int pick = choose_device (infos, n, device_spec);
  if (pick < 0)
    {
      char *names = list_device_names (infos, n);   /* n > 0: enumerate_devices saw to it */
      set_error (err, SDCL_ERR_NO_DEVICE, "no OpenCL device matches \"%s\"; devices: %s",
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
  if (g_getenv ("SDCL_PROFILE"))
    cl->profile = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!create_context (cl, err))
    {
      sdcl_cl_free (cl);
      return NULL;
    }
  cl->gemm = choose_gemm_backend (cl);
  return cl;
}

void
sdcl_cl_free (sdcl_cl *cl)
{
  if (!cl)
    return;
  if (cl->queue)
    clFinish (cl->queue);
  if (cl->profile)
    {
      print_profile (cl->profile);
      g_hash_table_destroy (cl->profile);
    }
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

/* ---- programs and the binary cache ------------------------------------- */

/* A cache file is MAGIC, the SHA-256 (hex) of the payload, then the payload
 * (the driver's binary).  The checksum catches truncated or damaged files
 * before the driver sees them: some drivers crash on garbage binaries. */
static const char CACHE_MAGIC[8] = { 'S', 'D', 'C', 'L', 'B', 'I', 'N', '1' };
enum { CACHE_HEADER = 8 + 64 };
/* Program binaries are 20 kB .. 300 kB on PoCL and a few MB on GPU
 * drivers: a larger "cache file" (a link to /dev/zero) is not read. */
#define CACHE_MAX_BYTES (64u * 1024 * 1024)

static char *
cache_path (const sdcl_cl *cl, const char *source, const char *options)
{
  if (!cl->cache_dir)
    return NULL;
  GString *key = g_string_new (cl->cache_identity);
  g_string_append_printf (key, "options=%s\nsource=\n%s", options, source);
  char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key->str, (gssize) key->len);
  char *file = g_strconcat (sum, ".clbin", NULL);
  char *path = g_build_filename (cl->cache_dir, file, NULL);
  g_free (file);
  g_free (sum);
  g_string_free (key, TRUE);
  return path;
}

/* Returns the payload of a valid cache file (g_free it), else NULL.  A
 * missing file is a plain miss; one that is there but unusable (a FIFO, a
 * device, too large) is named in a warning, then rebuilt over. */
static guchar *
cache_read (const char *path, size_t *size)
{
  gchar *data = NULL;
  gsize len = 0;
  GError *gerr = NULL;
  if (!path)
    return NULL;
  if (!sdcl_file_read_small (path, "kernel cache file", CACHE_MAX_BYTES, &data, &len, &gerr))
    {
      if (!g_error_matches (gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        fprintf (stderr, "sdcl: warning: ignoring the kernel cache: %s\n", gerr->message);
      g_error_free (gerr);
      return NULL;
    }
  guchar *payload = NULL;
  if (len > CACHE_HEADER && memcmp (data, CACHE_MAGIC, 8) == 0)
    {
      char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) data + CACHE_HEADER,
                                               len - CACHE_HEADER);
      if (memcmp (sum, data + 8, 64) == 0)
        {
          *size = len - CACHE_HEADER;
          payload = g_memdup2 (data + CACHE_HEADER, *size);
        }
      g_free (sum);
    }
  g_free (data);
  return payload;
}

/* Best effort: a cache that cannot be written only costs build time. */
static void
cache_write (const sdcl_cl *cl, const char *path, cl_program program)
{
  size_t size = 0;
  if (!path || clGetProgramInfo (program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL)
                   != CL_SUCCESS
      || size == 0)
    return;
  guchar *file = g_malloc (CACHE_HEADER + size);
  unsigned char *bin = file + CACHE_HEADER;
  if (clGetProgramInfo (program, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
    {
      char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, bin, size);
      memcpy (file, CACHE_MAGIC, 8);
      memcpy (file + 8, sum, 64);
      g_free (sum);
      if (g_mkdir_with_parents (cl->cache_dir, 0700) == 0)
        g_file_set_contents (path, (const gchar *) file, (gssize) (CACHE_HEADER + size), NULL);
    }
  g_free (file);
}

static char *
build_log (sdcl_cl *cl, cl_program program)
{
  size_t size = 0;
  clGetProgramBuildInfo (program, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
  char *log = g_malloc0 (size + 1);
  clGetProgramBuildInfo (program, cl->device, CL_PROGRAM_BUILD_LOG, size, log, NULL);
  return log;
}

static cl_program
load_cached_program (sdcl_cl *cl, const char *path, const char *options)
{
  size_t size = 0;
  guchar *bin = cache_read (path, &size);
  if (!bin)
    return NULL;
  cl_int rc, status;
  const unsigned char *bins[] = { bin };
  cl_program program
      = clCreateProgramWithBinary (cl->context, 1, &cl->device, &size, bins, &status, &rc);
  g_free (bin);
  if (rc != CL_SUCCESS || status != CL_SUCCESS)
    {
      if (program)
        clReleaseProgram (program);
      return NULL;
    }
  if (clBuildProgram (program, 1, &cl->device, options, NULL, NULL) != CL_SUCCESS)
    {
      clReleaseProgram (program);
      return NULL;
    }
  return program;
}

static cl_program
build_program_from_source (sdcl_cl *cl, const char *file, const char *source, const char *options)
{
  cl_int rc;
  size_t len = strlen (source);
  cl_program program = clCreateProgramWithSource (cl->context, 1, &source, &len, &rc);
  if (!sdcl_cl_try (cl, rc, "clCreateProgramWithSource"))
    return NULL;
  rc = clBuildProgram (program, 1, &cl->device, options, NULL, NULL);
  if (rc != CL_SUCCESS)
    {
      char *log = build_log (cl, program);
      sdcl_cl_fail (cl, SDCL_ERR_DEVICE, "building OpenCL program %s (options \"%s\") failed: %s (%d): %.700s",
                    file, options, sdcl_cl_strerror (rc), rc, log);
      g_free (log);
      clReleaseProgram (program);
      return NULL;
    }
  return program;
}

static cl_program
get_program (sdcl_cl *cl, int index, const char *options)
{
  char *key = g_strdup_printf ("%d|%s", index, options);
  cl_program program = g_hash_table_lookup (cl->programs, key);
  if (program)
    {
      g_free (key);
      return program;
    }
  const sdcl_program_source *ps = &sdcl_program_sources[index];
  char *source = g_strconcat (sdcl_kernel_prelude, "\n", ps->source, NULL);
  char *path = cache_path (cl, source, options);
  program = load_cached_program (cl, path, options);
  if (!program)
    {
      program = build_program_from_source (cl, ps->file, source, options);
      if (program)
        cache_write (cl, path, program);
    }
  g_free (path);
  g_free (source);
  if (program)
    g_hash_table_insert (cl->programs, key, program);
  else
    g_free (key);
  return program;
}

cl_kernel
sdcl_cl_kernel (sdcl_cl *cl, const char *name, const char *options)
{
  if (!sdcl_cl_ok (cl))
    return NULL;
  if (!options)
    options = "";
  char *key = g_strdup_printf ("%s|%s", name, options);
  cl_kernel k = g_hash_table_lookup (cl->kernels, key);
  if (k)
    {
      g_free (key);
      return k;
    }
  int index = -1;
  for (int i = 0; i < sdcl_n_kernel_entries; i++)
    if (strcmp (sdcl_kernel_entries[i].kernel, name) == 0)
      index = sdcl_kernel_entries[i].program;
  if (index < 0)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "no embedded OpenCL kernel is named %s", name);
      g_free (key);
      return NULL;
    }
  cl_program program = get_program (cl, index, options);
  if (!program)
    {
      g_free (key);
      return NULL;
    }
  cl_int rc;
  k = clCreateKernel (program, name, &rc);
  if (!sdcl_cl_try (cl, rc, name))
    {
      g_free (key);
      return NULL;
    }
  g_hash_table_insert (cl->kernels, key, k);
  return k;
}

bool
sdcl_cl_finish (sdcl_cl *cl)
{
  if (sdcl_cl_ok (cl))
    sdcl_cl_try (cl, clFinish (cl->queue), "clFinish");
  return sdcl_cl_ok (cl);
}

void
sdcl_cl_run (sdcl_cl *cl, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local)
{
  if (!sdcl_cl_ok (cl) || !k)
    return;
  for (cl_uint i = 0; i < dims; i++)
    if (global[i] == 0)
      return; /* an empty range is a no-op, not an error */
  const gint64 t0 = cl->profile ? (clFinish (cl->queue), g_get_monotonic_time ()) : 0;
  cl_int rc = clEnqueueNDRangeKernel (cl->queue, k, dims, NULL, global, local, 0, NULL, NULL);
  if (cl->profile && rc == CL_SUCCESS)
    {
      clFinish (cl->queue);
      char name[128] = "kernel";
      clGetKernelInfo (k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
      name[sizeof name - 1] = '\0';
      profile_entry *e = g_hash_table_lookup (cl->profile, name);
      if (!e)
        {
          e = g_new0 (profile_entry, 1);
          g_hash_table_insert (cl->profile, g_strdup (name), e);
        }
      e->seconds += (double) (g_get_monotonic_time () - t0) / 1e6;
      e->launches++;
    }
  if (rc != CL_SUCCESS)
    {
      char name[128] = "kernel";
      clGetKernelInfo (k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
      name[sizeof name - 1] = '\0';
      sdcl_cl_try (cl, rc, name);
    }
}

/* ---- buffers and the pool ---------------------------------------------- */

static void
fail_out_of_memory (sdcl_cl *cl, const char *what, uint64_t need)
{
  sdcl_cl_fail (cl, SDCL_ERR_OUT_OF_MEMORY,
                "%s: cannot allocate %" G_GUINT64_FORMAT " bytes on %s: at most %" G_GUINT64_FORMAT
                " bytes per buffer; device memory %" G_GUINT64_FORMAT " bytes, of which weights hold %"
                G_GUINT64_FORMAT " and activations %" G_GUINT64_FORMAT,
                what, need, cl->info.name, cl->max_alloc, cl->info.global_mem_bytes,
                cl->weight_bytes, cl->pool_bytes);
}

/* Whether `bytes` more fit in the device's memory next to sdcl's weights
 * and pooled activations (idle pooled buffers are freed to make room).
 * Drivers cannot be trusted to refuse: PoCL serves allocations from host
 * memory whatever its reported size (POCL_MEMORY_LIMIT only changes the
 * figure), and GPU drivers may accept a buffer and fail, or page, at its
 * first use.  So sdcl keeps its own account against
 * CL_DEVICE_GLOBAL_MEM_SIZE. */
static bool
fits_device (sdcl_cl *cl, size_t bytes)
{
  uint64_t limit = cl->info.global_mem_bytes;
  if (limit == 0 || cl->weight_bytes + cl->pool_bytes + bytes <= limit)
    return true;
  sdcl_cl_pool_trim (cl);
  return cl->weight_bytes + cl->pool_bytes + bytes <= limit;
}

/* Creates a buffer, trimming the pool and retrying once when the device
 * reports it is out of memory. */
static cl_mem
create_buffer (sdcl_cl *cl, cl_mem_flags flags, size_t bytes, const char *what)
{
  if (bytes > cl->max_alloc || !fits_device (cl, bytes))
    {
      fail_out_of_memory (cl, what, bytes);
      return NULL;
    }
  cl_int rc;
  cl_mem buf = clCreateBuffer (cl->context, flags, bytes, NULL, &rc);
  if (is_out_of_memory (rc) && cl->pool->len > 0)
    {
      sdcl_cl_pool_trim (cl);
      buf = clCreateBuffer (cl->context, flags, bytes, NULL, &rc);
    }
  if (is_out_of_memory (rc) || rc == CL_INVALID_BUFFER_SIZE)
    {
      fail_out_of_memory (cl, what, bytes);
      return NULL;
    }
  if (!sdcl_cl_try (cl, rc, what))
    return NULL;
  return buf;
}

/* Activation buffers of at least this size get memory of their own when
 * the pool is bounded (see tensor_buffer). */
#define OWN_MAPPING_MIN_BYTES ((size_t) 1 << 20)

typedef struct {
  void *addr;
  size_t bytes;
} own_mapping;

static void CL_CALLBACK
release_own_mapping (cl_mem buf, void *user)
{
  (void) buf;
  own_mapping *m = user;
  munmap (m->addr, m->bytes);
  g_free (m);
}

/* A device tensor's buffer.  With a bounded pool (lean models) on a CPU
 * device, buffers are created and freed during every evaluation; from the
 * driver's malloc, freed blocks would stay in the C library's arenas and
 * the resident memory would creep up with fragmentation (measured: +240 MB
 * over a 512x512 UNet evaluation).  So large ones live in anonymous
 * mappings of their own (CL_MEM_USE_HOST_PTR: a CPU driver computes in
 * that memory), unmapped when the driver lets the buffer go. */
static cl_mem
tensor_buffer (sdcl_cl *cl, size_t bytes)
{
  if (!fits_device (cl, bytes))
    {
      fail_out_of_memory (cl, "device tensor", bytes);
      return NULL;
    }
  if (cl->idle_limit == UINT64_MAX || bytes < OWN_MAPPING_MIN_BYTES
      || cl->info.type != SDCL_DEVICE_CPU || bytes > cl->max_alloc)
    return create_buffer (cl, CL_MEM_READ_WRITE, bytes, "device tensor");
  void *addr = mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED)
    return create_buffer (cl, CL_MEM_READ_WRITE, bytes, "device tensor");
  cl_int rc;
  cl_mem buf = clCreateBuffer (cl->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, addr, &rc);
  own_mapping *m = g_new (own_mapping, 1);
  *m = (own_mapping) { addr, bytes };
  if (buf && clSetMemObjectDestructorCallback (buf, release_own_mapping, m) == CL_SUCCESS)
    return buf;
  if (buf)
    {
      /* No callback, no way to know when the driver is done with it. */
      clReleaseMemObject (buf);
      clFinish (cl->queue);
    }
  munmap (addr, bytes);
  g_free (m);
  return create_buffer (cl, CL_MEM_READ_WRITE, bytes, "device tensor");
}

static cl_mem
pool_take (sdcl_cl *cl, size_t bytes)
{
  for (guint i = 0; i < cl->pool->len; i++)
    {
      pooled_buffer *p = &g_array_index (cl->pool, pooled_buffer, i);
      if (p->bytes == bytes)
        {
          cl_mem buf = p->buf;
          g_array_remove_index (cl->pool, i);   /* keeps the rest oldest first */
          cl->in_use_bytes += bytes;
          cl->in_use_peak = MAX (cl->in_use_peak, cl->in_use_bytes);
          return buf;
        }
    }
  /* A miss: with an idle limit, the idle buffers (of other sizes) beyond
   * it go first, oldest released first, so they do not add up over the
   * phase's changing shapes. */
  guint evict = 0;
  uint64_t idle = cl->pool_bytes - cl->in_use_bytes;
  while (evict < cl->pool->len && idle > cl->idle_limit)
    {
      pooled_buffer *p = &g_array_index (cl->pool, pooled_buffer, evict++);
      clReleaseMemObject (p->buf);
      cl->pool_bytes -= p->bytes;
      idle -= p->bytes;
    }
  if (evict)
    g_array_remove_range (cl->pool, 0, evict);
  cl_mem buf = tensor_buffer (cl, bytes);
  if (buf)
    {
      cl->pool_bytes += bytes;
      cl->pool_peak = MAX (cl->pool_peak, cl->pool_bytes);
      cl->in_use_bytes += bytes;
      cl->in_use_peak = MAX (cl->in_use_peak, cl->in_use_bytes);
    }
  return buf;
}

void
sdcl_t_alloc (sdcl_cl *cl, sdcl_t *t, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
  memset (t, 0, sizeof *t);
  int64_t d[4] = { d0, d1, d2, d3 };
  if (nd < 1 || nd > 4)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_t_alloc: %d dimensions (1 to 4 supported)", nd);
      return;
    }
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    {
      if (d[i] < 0)
        {
          sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_t_alloc: negative dimension %" G_GINT64_FORMAT,
                        d[i]);
          return;
        }
      t->d[i] = d[i];
      n *= d[i];
    }
  t->nd = nd;
  t->n = n;
  if (n == 0 || !sdcl_cl_ok (cl))
    return;
  t->buf = pool_take (cl, (size_t) n * sizeof (float));
  if (!t->buf)
    t->n = 0;
}

void
sdcl_t_release (sdcl_cl *cl, sdcl_t *t)
{
  if (t->buf)
    {
      size_t bytes = 0;
      clGetMemObjectInfo (t->buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
      pooled_buffer p = { bytes, t->buf };
      g_array_append_val (cl->pool, p);
      cl->in_use_bytes -= MIN ((uint64_t) bytes, cl->in_use_bytes);
    }
  memset (t, 0, sizeof *t);
}

void
sdcl_cl_pool_trim (sdcl_cl *cl)
{
  for (guint i = 0; i < cl->pool->len; i++)
    {
      pooled_buffer *p = &g_array_index (cl->pool, pooled_buffer, i);
      clReleaseMemObject (p->buf);
      cl->pool_bytes -= p->bytes;
    }
  g_array_set_size (cl->pool, 0);
}

uint64_t
sdcl_cl_pool_bytes (const sdcl_cl *cl)
{
  return cl->pool_bytes;
}

uint64_t
sdcl_cl_pool_peak_bytes (const sdcl_cl *cl)
{
  return cl->pool_peak;
}

void
sdcl_cl_pool_reset_peak (sdcl_cl *cl)
{
  cl->pool_peak = cl->pool_bytes;
  cl->in_use_peak = cl->in_use_bytes;
}

void
sdcl_cl_set_pool_idle_limit (sdcl_cl *cl, uint64_t bytes)
{
  cl->idle_limit = bytes;
}

uint64_t
sdcl_cl_pool_in_use_peak_bytes (const sdcl_cl *cl)
{
  return cl->in_use_peak;
}

void
sdcl_t_upload (sdcl_cl *cl, sdcl_t *t, const float *src)
{
  if (!sdcl_cl_ok (cl) || !t->buf)
    return;
  sdcl_cl_try (cl,
               clEnqueueWriteBuffer (cl->queue, t->buf, CL_TRUE, 0, (size_t) t->n * sizeof (float),
                                     src, 0, NULL, NULL),
               "uploading a tensor");
}

void
sdcl_t_download (sdcl_cl *cl, const sdcl_t *t, float *dst)
{
  if (!sdcl_cl_ok (cl) || !t->buf)
    return;
  sdcl_cl_try (cl,
               clEnqueueReadBuffer (cl->queue, t->buf, CL_TRUE, 0, (size_t) t->n * sizeof (float),
                                    dst, 0, NULL, NULL),
               "downloading a tensor");
}

void
sdcl_t_from_host (sdcl_cl *cl, sdcl_t *t, int nd, const int64_t *shape, const float *src)
{
  int64_t d[4] = { 1, 1, 1, 1 };
  for (int i = 0; i < nd && i < 4; i++)
    d[i] = shape[i];
  sdcl_t_alloc (cl, t, nd, d[0], d[1], d[2], d[3]);
  sdcl_t_upload (cl, t, src);
}

/* ---- half / bfloat16 conversions --------------------------------------- */

float
sdcl_half_to_float (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f)
    bits = sign | 0x7f800000u | (man << 13); /* inf, nan (payload kept) */
  else if (exp != 0)
    bits = sign | ((exp + 112) << 23) | (man << 13);
  else if (man == 0)
    bits = sign;
  else
    {
      /* Subnormal half: normalise the mantissa into a float. */
      int e = -1;
      do
        {
          e++;
          man <<= 1;
        }
      while (!(man & 0x400));
      bits = sign | ((uint32_t) (112 - e) << 23) | ((man & 0x3ff) << 13);
    }
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

uint16_t
sdcl_float_to_half (float f)
{
  uint32_t bits;
  memcpy (&bits, &f, sizeof bits);
  uint16_t sign = (uint16_t) ((bits >> 16) & 0x8000);
  uint32_t exp = (bits >> 23) & 0xff;
  uint32_t man = bits & 0x7fffff;

  if (exp == 0xff) /* inf stays inf; nan stays a (quiet) nan */
    return sign | 0x7c00 | (man ? (uint16_t) (0x200 | (man >> 13)) : 0);
  int e = (int) exp - 127 + 15;
  if (e >= 0x1f)
    return sign | 0x7c00; /* overflow to inf */
  if (e <= 0)
    {
      /* Result is subnormal (or zero): shift the full mantissa (with the
       * implicit bit) right, rounding to nearest even. */
      if (e < -10)
        return sign;
      uint32_t m = man | 0x800000;
      int shift = 14 - e; /* 24-bit mantissa down to the 10-bit field */
      uint32_t half_m = m >> shift;
      uint32_t rem = m & ((1u << shift) - 1);
      uint32_t halfway = 1u << (shift - 1);
      if (rem > halfway || (rem == halfway && (half_m & 1)))
        half_m++;
      return sign | (uint16_t) half_m; /* a carry into bit 10 makes the smallest normal */
    }
  uint32_t h = ((uint32_t) e << 10) | (man >> 13);
  uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    h++; /* a carry may ripple into the exponent, up to inf: that is correct */
  return sign | (uint16_t) h;
}

float
sdcl_bf16_to_float (uint16_t b)
{
  uint32_t bits = (uint32_t) b << 16;
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

/* ---- weights ----------------------------------------------------------- */

static float
source_element (const void *src, sdcl_src_type type, size_t i)
{
  switch (type)
    {
    case SDCL_SRC_F16:
      return sdcl_half_to_float (((const uint16_t *) src)[i]);
    case SDCL_SRC_BF16:
      return sdcl_bf16_to_float (((const uint16_t *) src)[i]);
    case SDCL_SRC_F32:
    default:
      return ((const float *) src)[i];
    }
}

/* Converts elements [first, first + n) of src into dst of `type`. */
static void
convert_range (void *dst, sdcl_wtype type, const void *src, sdcl_src_type src_type, size_t first,
               size_t n)
{
  if (type == SDCL_WT_F32 && src_type == SDCL_SRC_F32)
    memcpy (dst, (const float *) src + first, n * sizeof (float));
  else if (type == SDCL_WT_F16 && src_type == SDCL_SRC_F16)
    memcpy (dst, (const uint16_t *) src + first, n * sizeof (uint16_t));
  else if (type == SDCL_WT_F32)
    for (size_t i = 0; i < n; i++)
      ((float *) dst)[i] = source_element (src, src_type, first + i);
  else
    for (size_t i = 0; i < n; i++)
      ((uint16_t *) dst)[i] = sdcl_float_to_half (source_element (src, src_type, first + i));
}

static size_t
wtype_size (sdcl_wtype type)
{
  return type == SDCL_WT_F16 ? 2 : 4;
}

bool
sdcl_cl_cpu_kernels (const sdcl_cl *cl)
{
  const char *env = g_getenv ("SDCL_KERNELS");
  if (env && g_ascii_strcasecmp (env, "portable") == 0)
    return false;
  if (env && g_ascii_strcasecmp (env, "cpu") == 0)
    return true;
  return cl->info.type == SDCL_DEVICE_CPU;
}

sdcl_gemm_backend
sdcl_cl_gemm_backend (const sdcl_cl *cl)
{
  return cl->gemm;
}

void
sdcl_cl_set_gemm_backend (sdcl_cl *cl, sdcl_gemm_backend backend)
{
  cl->gemm = SDCL_HAVE_CLBLAST ? backend : SDCL_GEMM_OWN;
}

const char *
sdcl_cl_cache_dir (const sdcl_cl *cl)
{
  return cl->cache_dir;
}

cl_device_id
sdcl_cl_device_id (const sdcl_cl *cl)
{
  return cl->device;
}

bool
sdcl_cl_packs_weights (const sdcl_cl *cl)
{
  return cl->gemm == SDCL_GEMM_OWN && sdcl_gemm_kernel_choice (cl) == SDCL_GEMM_KERNEL_PANEL;
}

/* Stores row r (row_elems elements of esize bytes) into its place in a
 * part laid out in panels of SDCL_W_PANEL rows (sdcl_w.panel). */
static void
pack_row (void *dst, const void *row, int64_t r, int64_t row_elems, size_t esize)
{
  const int64_t P = SDCL_W_PANEL;
  char *d = (char *) dst + (size_t) ((r / P) * row_elems * P + r % P) * esize;
  if (esize == 2)
    for (int64_t k = 0; k < row_elems; k++)
      ((uint16_t *) d)[k * P] = ((const uint16_t *) row)[k];
  else
    for (int64_t k = 0; k < row_elems; k++)
      ((float *) d)[k * P] = ((const float *) row)[k];
}

/* Uploads rows [row0, row0 + rows) as one device buffer, row-major or in
 * panels (panel != 0).  The data is converted straight into the mapped
 * buffer: on CPU devices that is the device memory itself, so the weights
 * are written once, with no host staging copy (GPU drivers stage the map
 * as a write would). */
static cl_mem
upload_part (sdcl_cl *cl, sdcl_wtype type, const void *src, sdcl_src_type src_type,
             int64_t row_elems, int64_t row0, int64_t rows, int panel)
{
  size_t n = (size_t) (rows * row_elems);
  const size_t esize = wtype_size (type);
  const int64_t stored_rows = panel ? (rows + panel - 1) / panel * panel : rows;
  size_t bytes = (size_t) (stored_rows * row_elems) * esize;
  cl_mem buf = create_buffer (cl, CL_MEM_READ_ONLY, bytes, "weight tensor");
  if (!buf)
    return NULL;
  void *row = panel ? g_try_malloc ((size_t) row_elems * esize) : NULL;
  cl_int rc = CL_SUCCESS;
  void *dst = panel && !row ? NULL
                            : clEnqueueMapBuffer (cl->queue, buf, CL_TRUE, CL_MAP_WRITE_INVALIDATE_REGION,
                                                  0, bytes, 0, NULL, NULL, &rc);
  if (!dst)
    {
      g_free (row);
      clReleaseMemObject (buf);
      if (rc == CL_SUCCESS || is_out_of_memory (rc))
        sdcl_cl_fail (cl, SDCL_ERR_OUT_OF_MEMORY, "weight upload: cannot map %zu bytes", bytes);
      else
        sdcl_cl_try (cl, rc, "mapping a weight tensor");
      return NULL;
    }
  if (panel)
    {
      /* The last panel's padding rows must read as zeros. */
      if (stored_rows > rows)
        memset ((char *) dst + (size_t) ((stored_rows - panel) * row_elems) * esize, 0,
                (size_t) (panel * row_elems) * esize);
      /* Panels are filled row by row (converted into a one-row buffer). */
      for (int64_t r = 0; r < rows; r++)
        {
          convert_range (row, type, src, src_type, (size_t) ((row0 + r) * row_elems),
                         (size_t) row_elems);
          pack_row (dst, row, r, row_elems, esize);
        }
    }
  else
    convert_range (dst, type, src, src_type, (size_t) (row0 * row_elems), n);
  g_free (row);
  rc = clEnqueueUnmapMemObject (cl->queue, buf, dst, 0, NULL, NULL);
  if (!sdcl_cl_try (cl, rc, "uploading a weight tensor"))
    {
      clReleaseMemObject (buf);
      return NULL;
    }
  return buf;
}

void
sdcl_w_upload (sdcl_cl *cl, sdcl_w *w, sdcl_wtype type, int nd, const int64_t *shape,
               const void *src, sdcl_src_type src_type)
{
  memset (w, 0, sizeof *w);
  if (!sdcl_cl_ok (cl))
    return;
  if (nd < 1 || nd > 4)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_w_upload: %d dimensions (1 to 4 supported)", nd);
      return;
    }
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    {
      if (shape[i] < 0)
        {
          sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_w_upload: negative dimension %" G_GINT64_FORMAT,
                        shape[i]);
          memset (w, 0, sizeof *w);
          return;
        }
      w->d[i] = shape[i];
      n *= shape[i];
    }
  if (n > 0 && !src)
    {
      sdcl_cl_fail (cl, SDCL_ERR_INTERNAL, "sdcl_w_upload: no source data");
      memset (w, 0, sizeof *w);
      return;
    }
  w->type = type;
  w->nd = nd;
  w->n = n;
  w->owner = cl;
  if (n <= 0)
    return;

  int64_t rows = shape[0];
  int64_t row_elems = n / rows;
  uint64_t row_bytes = (uint64_t) row_elems * wtype_size (type);
  int64_t part_rows = (int64_t) MIN ((uint64_t) rows, cl->max_alloc / row_bytes);
  if (part_rows == 0 || (rows + part_rows - 1) / part_rows > SDCL_W_MAX_PARTS)
    {
      sdcl_cl_fail (cl, SDCL_ERR_OUT_OF_MEMORY,
                    "weight tensor of %" G_GUINT64_FORMAT " bytes does not fit in %d buffers of at "
                    "most %" G_GUINT64_FORMAT " bytes (the device's max allocation)",
                    (uint64_t) n * wtype_size (type), SDCL_W_MAX_PARTS, cl->max_alloc);
      return;
    }
  w->panel = nd >= 2 && sdcl_cl_packs_weights (cl) ? SDCL_W_PANEL : 0;
  if (w->panel)
    {
      /* Parts of whole panels, each (with its padding) within the
       * allocation limit; row-major when that cannot be done. */
      const int64_t P = w->panel;
      int64_t prows = part_rows;
      if (prows < rows || (rows + P - 1) / P * P * row_bytes > cl->max_alloc)
        prows = MIN (prows, rows - 1) / P * P;
      if (prows == 0 || (rows + prows - 1) / prows > SDCL_W_MAX_PARTS)
        w->panel = 0;
      else
        part_rows = prows;
    }
  w->part_rows = part_rows;
  cl->weight_uploads++;
  for (int64_t row0 = 0; row0 < rows; row0 += part_rows)
    {
      cl_mem buf = upload_part (cl, type, src, src_type, row_elems, row0,
                                MIN (part_rows, rows - row0), w->panel);
      if (!buf)
        {
          sdcl_w_free (w);
          return;
        }
      w->part[w->nparts++] = buf;
      size_t bytes = 0;
      clGetMemObjectInfo (buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
      cl->weight_bytes += bytes;
    }
}

void
sdcl_w_free (sdcl_w *w)
{
  for (int i = 0; i < w->nparts; i++)
    if (w->part[i])
      {
        size_t bytes = 0;
        clGetMemObjectInfo (w->part[i], CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
        if (w->owner)
          w->owner->weight_bytes -= MIN ((uint64_t) bytes, w->owner->weight_bytes);
        clReleaseMemObject (w->part[i]);
      }
  memset (w, 0, sizeof *w);
}

uint64_t
sdcl_cl_weight_bytes (const sdcl_cl *cl)
{
  return cl->weight_bytes;
}

uint64_t
sdcl_cl_weight_uploads (const sdcl_cl *cl)
{
  return cl->weight_uploads;
}

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

uint64_t
sdcl_w_bytes (const sdcl_w *w)
{
  return w->nparts ? (uint64_t) w->n * wtype_size (w->type) : 0;
}

/* OpenCL runtime, programs: the on-disk binary cache, kernels and paced launches
 * (the runtime's parts: clrt.c errors, context and profile; clrt_devices.c;
 * clrt_programs.c; clrt_buffers.c; clrt_weights.c; shared state in
 * clrt_impl.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt_impl.h"
#include "kernels_embedded.h"
#include "sdcl_file.h"

#include <stdio.h>

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
    {
      sdcl_cl_try (cl, clFinish (cl->queue), "clFinish");
      cl->completed = cl->launched;
      clrt_drop_mark (cl);
    }
  return sdcl_cl_ok (cl);
}

/* Every SDCL_CL_PACE_LAUNCHES launches, one carries an event; before
 * going on, the host waits for the previous one.  So at most two rounds
 * are queued: the device always has the next round ready (no bubble: the
 * host enqueues a round in far less time than the device runs it), and an
 * error or a cancel leaves little to drain.  Without it a UNet layer at
 * 2048x2048 pixels queued minutes of work that sdcl_cl_free then waited
 * for, deaf to Ctrl-C (issue 22). */
void
clrt_pace (sdcl_cl *cl, cl_event ev)
{
  clFlush (cl->queue);
  if (cl->mark && clWaitForEvents (1, &cl->mark) == CL_SUCCESS)
    cl->completed = MAX (cl->completed, cl->mark_seq);
  clrt_drop_mark (cl);
  cl->mark = ev;
  cl->mark_seq = cl->launched;
  /* A cancel stops the enqueuing here, not only between layers, whose
   * kernels may run for minutes at large sizes. */
  if (cl->cancel && *cl->cancel)
    sdcl_cl_fail (cl, SDCL_ERR_CANCELLED, "cancelled");
}

uint64_t
sdcl_cl_in_flight_peak (const sdcl_cl *cl)
{
  return cl->in_flight_peak;
}

void
sdcl_cl_reset_in_flight_peak (sdcl_cl *cl)
{
  cl->in_flight_peak = 0;
}

uint64_t
sdcl_cl_launches (const sdcl_cl *cl)
{
  return cl->launched;
}

uint64_t
sdcl_cl_launch_budget (const sdcl_cl *cl)
{
  return cl->launch_budget;
}

void
sdcl_cl_set_launch_budget_for_testing (sdcl_cl *cl, uint64_t flops)
{
  cl->launch_budget = flops ? flops : SDCL_CL_LAUNCH_BUDGET;
}

void
sdcl_cl_run (sdcl_cl *cl, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local)
{
  sdcl_cl_run_offset (cl, k, dims, NULL, global, local);
}

void
sdcl_cl_run_offset (sdcl_cl *cl, cl_kernel k, cl_uint dims, const size_t *offset,
                    const size_t *global, const size_t *local)
{
  if (!sdcl_cl_ok (cl) || !k)
    return;
  for (cl_uint i = 0; i < dims; i++)
    if (global[i] == 0)
      return; /* an empty range is a no-op, not an error */
  const gint64 t0 = cl->profile ? (clFinish (cl->queue), g_get_monotonic_time ()) : 0;
  const double c0 = cl->profile ? clrt_cpu_seconds () : 0;
  const bool marked = (cl->launched + 1) % SDCL_CL_PACE_LAUNCHES == 0;
  cl_event ev = NULL;
  cl_int rc = clEnqueueNDRangeKernel (cl->queue, k, dims, offset, global, local, 0, NULL,
                                      marked ? &ev : NULL);
  if (rc == CL_SUCCESS)
    {
      cl->launched++;
      cl->in_flight_peak = MAX (cl->in_flight_peak, cl->launched - cl->completed);
      if (marked)
        clrt_pace (cl, ev);
    }
  if (cl->profile && rc == CL_SUCCESS)
    {
      clFinish (cl->queue);
      char name[128] = "kernel";
      clGetKernelInfo (k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
      name[sizeof name - 1] = '\0';
      if (cl->profile_ops && cl->profile_label[0])
        {
          char plain[128];
          g_strlcpy (plain, name, sizeof plain);
          g_snprintf (name, sizeof name, "%s | %s", cl->profile_label, plain);
        }
      profile_entry *e = g_hash_table_lookup (cl->profile, name);
      if (!e)
        {
          e = g_new0 (profile_entry, 1);
          g_hash_table_insert (cl->profile, g_strdup (name), e);
        }
      e->seconds += (double) (g_get_monotonic_time () - t0) / 1e6;
      e->cpu_seconds += clrt_cpu_seconds () - c0;
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

/* OpenCL runtime, buffers: device tensors, the pool, half and bfloat16 conversions
 * (the runtime's parts: clrt.c errors, context and profile; clrt_devices.c;
 * clrt_programs.c; clrt_buffers.c; clrt_weights.c; shared state in
 * clrt_impl.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt_impl.h"
#include "clrt_derived.h"

#include <sys/mman.h>

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
  if (cl->weight_bytes + cl->pool_bytes + bytes > limit && cl->derived_bytes > 0)
    sdcl_cl_derived_clear (cl); /* a cache (clrt_derived.h): made again where it fits */
  return cl->weight_bytes + cl->pool_bytes + bytes <= limit;
}

/* Creates a buffer, trimming the pool and retrying once when the device
 * reports it is out of memory. */
cl_mem
clrt_create_buffer (sdcl_cl *cl, cl_mem_flags flags, size_t bytes, const char *what)
{
  if (bytes > cl->max_alloc || !fits_device (cl, bytes))
    {
      fail_out_of_memory (cl, what, bytes);
      return NULL;
    }
  cl_int rc;
  cl_mem buf = clCreateBuffer (cl->context, flags, bytes, NULL, &rc);
  if (clrt_is_out_of_memory (rc) && cl->pool->len > 0)
    {
      sdcl_cl_pool_trim (cl);
      buf = clCreateBuffer (cl->context, flags, bytes, NULL, &rc);
    }
  if (clrt_is_out_of_memory (rc) || rc == CL_INVALID_BUFFER_SIZE)
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
    return clrt_create_buffer (cl, CL_MEM_READ_WRITE, bytes, "device tensor");
  void *addr = mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED)
    return clrt_create_buffer (cl, CL_MEM_READ_WRITE, bytes, "device tensor");
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
  return clrt_create_buffer (cl, CL_MEM_READ_WRITE, bytes, "device tensor");
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
  sdcl_cl_derived_scratch_free (cl); /* working memory too (clrt_derived.h) */
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

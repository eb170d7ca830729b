/* OpenCL runtime: weights derived from uploaded weights (clrt_derived.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clrt_derived.h"
#include "clrt_impl.h"

#include <string.h>

static void
free_derived (gpointer p)
{
  sdcl_w *w = p;
  sdcl_w_free (w);
  g_free (w);
}

sdcl_w *
sdcl_cl_derived_weight (sdcl_cl *cl, const sdcl_w *src)
{
  if (!cl->derived || src->nparts == 0)
    return NULL;
  return g_hash_table_lookup (cl->derived, src->part[0]);
}

sdcl_w *
sdcl_cl_derived_weight_new (sdcl_cl *cl, const sdcl_w *src, sdcl_wtype type, int nd,
                            const int64_t *shape, int panel, size_t bytes)
{
  if (!sdcl_cl_ok (cl) || src->nparts == 0 || bytes > cl->max_alloc)
    return NULL;
  const uint64_t limit = cl->info.global_mem_bytes, used = cl->weight_bytes + cl->pool_bytes;
  if (limit && (used >= limit || bytes > (limit - used) / 2))
    return NULL;
  cl_int rc;
  cl_mem buf = clCreateBuffer (cl->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
  if (!buf)
    return NULL; /* out of memory: run without the cache */
  if (!cl->derived)
    cl->derived = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, free_derived);
  sdcl_w *w = g_new0 (sdcl_w, 1);
  w->type = type;
  w->panel = panel;
  w->nd = nd;
  w->n = 1;
  for (int i = 0; i < nd; i++)
    w->n *= (w->d[i] = shape[i]);
  w->nparts = 1;
  w->part_rows = shape[0];
  w->part[0] = buf;
  w->owner = cl;
  cl->weight_bytes += bytes;
  cl->derived_bytes += bytes;
  g_hash_table_replace (cl->derived, src->part[0], w);
  return w;
}

void
sdcl_cl_derived_forget (sdcl_cl *cl, cl_mem key)
{
  gpointer value;
  /* Stolen, then freed: freeing calls back here (a lookup that finds nothing). */
  if (!cl->derived || !g_hash_table_steal_extended (cl->derived, key, NULL, &value))
    return;
  sdcl_w *w = value;
  size_t bytes = 0;
  clGetMemObjectInfo (w->part[0], CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
  cl->derived_bytes -= MIN ((uint64_t) bytes, cl->derived_bytes);
  free_derived (w);
}

void
sdcl_cl_derived_clear (sdcl_cl *cl)
{
  /* Detached first: freeing a derived weight calls sdcl_cl_derived_forget. */
  GHashTable *t = cl->derived;
  cl->derived = NULL;
  if (t)
    g_hash_table_destroy (t);
  cl->derived_bytes = 0;
  sdcl_cl_derived_scratch_free (cl);
}

void
sdcl_cl_set_derived_kept (sdcl_cl *cl, bool keep)
{
  /* Those already kept stay: they belong to weights of another (resident)
   * model on this context, freed with them. */
  cl->derived_off = !keep;
}

bool
sdcl_cl_derived_kept (const sdcl_cl *cl)
{
  return !cl->derived_off;
}

cl_mem
sdcl_cl_derived_scratch (sdcl_cl *cl, size_t bytes)
{
  if (cl->derived_scratch && cl->derived_scratch_bytes >= bytes)
    return cl->derived_scratch;
  /* Released while queued kernels may still read it: OpenCL keeps a
   * buffer until the commands using it have finished. */
  sdcl_cl_derived_scratch_free (cl);
  if (!sdcl_cl_ok (cl) || bytes > cl->max_alloc)
    return NULL;
  const uint64_t limit = cl->info.global_mem_bytes, used = cl->weight_bytes + cl->pool_bytes;
  if (limit && (used >= limit || bytes > (limit - used) / 2))
    return NULL;
  cl_int rc;
  cl->derived_scratch = clCreateBuffer (cl->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
  if (!cl->derived_scratch)
    return NULL;
  /* Working memory, like the activations: counted with the pool. */
  cl->derived_scratch_bytes = bytes;
  cl->pool_bytes += bytes;
  cl->pool_peak = MAX (cl->pool_peak, cl->pool_bytes);
  return cl->derived_scratch;
}

void
sdcl_cl_derived_scratch_free (sdcl_cl *cl)
{
  if (!cl->derived_scratch)
    return;
  clReleaseMemObject (cl->derived_scratch);
  cl->pool_bytes -= MIN ((uint64_t) cl->derived_scratch_bytes, cl->pool_bytes);
  cl->derived_scratch = NULL;
  cl->derived_scratch_bytes = 0;
}

uint64_t
sdcl_cl_derived_bytes (const sdcl_cl *cl)
{
  return cl->derived_bytes;
}

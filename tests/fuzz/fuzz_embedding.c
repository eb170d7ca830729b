/* libFuzzer harness: the textual-inversion reader (engine/text/
 * embedding.c) on arbitrary .safetensors bytes.  An accepted embedding has
 * 1..75 vectors, 1 or 2 parts of positive width with finite values, and
 * gives its vectors for its own towers and widths, and a clean error for
 * another width.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>

#include "fuzz_common.h"
#include "embedding.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check (const sdcl_embedding *e)
{
  if (e->n_vectors < 1 || e->n_vectors > 75 || e->n_parts < 1 || e->n_parts > 2)
    abort ();
  for (int i = 0; i < e->n_parts; i++)
    {
      const sdcl_embedding_part *p = &e->parts[i];
      const float *v;
      sdcl_error err = { 0 };
      if (p->width < 1)
        abort ();
      for (long j = 0; j < (long) e->n_vectors * p->width; j++)
        if (!isfinite (p->vectors[j]))
          abort ();
      if (sdcl_embedding_vectors (e, p->tower, p->width, &v, &err) != SDCL_OK || v != p->vectors)
        abort ();
      if (sdcl_embedding_vectors (e, p->tower, p->width + 1, &v, &err) != SDCL_ERR_INVALID_ARGUMENT
          || v)
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  if (sdcl_st_open_buffer (data, size, "fuzz.safetensors", &f, &err) != SDCL_OK)
    return 0;
  sdcl_embedding *e = NULL;
  if (sdcl_embedding_from_file (f, "fuzz", &e, &err) == SDCL_OK)
    check (e);
  else if (e)
    abort ();
  sdcl_embedding_free (e);
  sdcl_st_close (f);
  return 0;
}

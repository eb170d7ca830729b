/* libFuzzer harness: safetensors header and tensor table (sdcl_st_open_buffer)
 * and the float conversions of every tensor a valid file declares.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <math.h>

#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* A private copy so that reads past `size` hit ASan's redzone instead of
   * the fuzzer's own buffer. */
  uint8_t *copy = g_memdup2 (data, size ? size : 1);
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_st_open_buffer (copy, size, "fuzz.safetensors", &f, &err);
  fuzz_check_error (st, &err);
  if (st == SDCL_OK)
    {
      uint64_t total = 0;
      for (size_t i = 0; i < sdcl_st_count (f); i++)
        {
          const sdcl_st_tensor *t = sdcl_st_at (f, i);
          if (sdcl_st_find (f, t->name) != t)
            abort ();   /* names are unique and findable */
          if ((const uint8_t *) t->data < copy || t->nbytes > size
              || (const uint8_t *) t->data + t->nbytes > copy + size)
            abort ();   /* data lies inside the buffer */
          total += t->nbytes;
          /* Convert small float tensors completely (every byte of the data
           * is read, which ASan checks against the buffer). */
          if (t->n_elements > 0 && t->n_elements <= (1 << 16))
            {
              float *dst = g_new (float, (gsize) t->n_elements);
              bool is_float = t->dtype == SDCL_DT_F32 || t->dtype == SDCL_DT_F16
                              || t->dtype == SDCL_DT_BF16;
              if (sdcl_st_to_f32 (t, dst) != is_float)
                abort ();
              g_free (dst);
            }
        }
      if (total > size)
        abort ();   /* tensors do not overlap */
      (void) sdcl_st_metadata (f, "format");
      (void) sdcl_st_path (f);
      sdcl_st_close (f);
    }
  g_free (copy);
  return 0;
}

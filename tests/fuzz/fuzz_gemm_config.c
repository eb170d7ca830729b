/* libFuzzer harness: the per-device GEMM tuning file (opencl/gemm_config.h)
 * that `sdcl tune` writes into the cache folder and every context reads.
 * Each input is one file's contents for a fixed made-up device; an accepted
 * file must hold only values the loader promised to check (a backend name,
 * CLBlast parameters that satisfy sdcl_xgemm_params_valid, a bounded shape
 * list, tile choices within their tables), and a refusal must say why.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "fuzz_common.h"
#include "attention.h"
#include "gemm.h"
#include "gemm_config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The identity the seed corpus's files were written for. */
static const sdcl_device_info device = {
  .name = "fuzz device", .platform = "fuzz platform", .driver = "1.0",
  .max_work_group_size = 1024, .local_mem_bytes = 65536,
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  sdcl_gemm_config c;
  memset (&c, 0xa5, sizeof c);   /* a refusal must leave it untouched */
  const sdcl_gemm_config before = c;
  GError *error = NULL;
  if (sdcl_gemm_config_parse ((const char *) data, size, &device, &c, &error))
    {
      if (error)
        abort ();
      if (c.backend != SDCL_GEMM_OWN && c.backend != SDCL_GEMM_CLBLAST)
        abort ();
      if (c.nshapes < 0 || c.nshapes > SDCL_GEMM_MAX_SHAPES)
        abort ();
      /* Tile choices index their tables or are -1 (untuned). */
      for (int i = 0; i < 2; i++)
        if (c.tiles.gemm[i] < -1 || c.tiles.gemm[i] >= sdcl_n_tiled_configs)
          abort ();
      for (int i = 0; i < SDCL_ATTN_TUNED_WIDTHS; i++)
        if (c.tiles.attention[i] < -1 || c.tiles.attention[i] >= sdcl_n_attn_tiled_configs)
          abort ();
      char why[256];
      if (c.has_xgemm && !sdcl_xgemm_params_valid (c.xgemm, device.max_work_group_size,
                                                   device.local_mem_bytes, why, sizeof why))
        {
          fprintf (stderr, "accepted invalid Xgemm parameters: %s\n", why);
          abort ();
        }
    }
  else
    {
      if (!error || !error->message || !error->message[0])
        abort ();   /* a refusal names its reason */
      if (memcmp (&c, &before, sizeof c) != 0)
        abort ();
      g_error_free (error);
    }
  return 0;
}

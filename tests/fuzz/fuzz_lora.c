/* libFuzzer harness: the LoRA reader (sdcl_lora_parse) against SD 1.5's
 * layer names and shapes, and the <lora:...> prompt-tag extraction.  The
 * first byte chooses: 't' reads the rest as a prompt, anything else as a
 * safetensors LoRA file.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <math.h>

#include "families/family.h"
#include "fuzz_common.h"
#include "lora.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static sdcl_lora_index *
sd15_index (void)
{
  static sdcl_lora_index *ix;
  if (!ix)
    {
      sdcl_unet_config u;
      sdcl_clip_config c;
      sdcl_unet_config_sd15 (&u);
      sdcl_clip_config_sd15 (&c);
      ix = sdcl_lora_index_new (&sdcl_family_sd1, &u, &c, NULL, "sd15");
    }
  return ix;
}

static void
fuzz_tags (const uint8_t *data, size_t size)
{
  g_autofree char *prompt = g_strndup ((const char *) data, size);
  GArray *tags = g_array_new (FALSE, FALSE, sizeof (sdcl_lora_tag));
  char *stripped = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_lora_tags_extract (prompt, &stripped, tags, &err);
  fuzz_check_error (st, &err);
  if (strlen (stripped) > strlen (prompt))
    abort ();   /* taking tags out never adds text */
  for (guint i = 0; i < tags->len; i++)
    {
      sdcl_lora_tag *t = &g_array_index (tags, sdcl_lora_tag, i);
      if (!t->name || !isfinite (t->weight))
        abort ();
      g_free (t->name);
    }
  g_array_free (tags, TRUE);
  g_free (stripped);
  sdcl_lora *list = NULL;
  int n = 0;
  st = sdcl_lora_list_parse (prompt, &list, &n, &err);
  fuzz_check_error (st, &err);
  for (int i = 0; i < n; i++)
    if (!list[i].path || !isfinite (list[i].weight))
      abort ();
  free (list);
}

static void
fuzz_file (const uint8_t *data, size_t size)
{
  uint8_t *copy = g_memdup2 (data, size ? size : 1);
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_st_open_buffer (copy, size, "fuzz-lora.safetensors", &f, &err);
  if (st == SDCL_OK)
    {
      sdcl_lora_file *lf = NULL;
      st = sdcl_lora_parse (f, sd15_index (), &lf, &err);
      fuzz_check_error (st, &err);
      for (size_t i = 0; lf && i < lf->n_layers; i++)
        {
          const sdcl_lora_layer *l = &lf->layers[i];
          const sdcl_lora_target *t = l->target;
          /* what the side path will read: rank rows of in*k*k, out x rank */
          int64_t n_down = l->rank * t->shape[1] * l->k * l->k, n_up = t->shape[0] * l->rank;
          if (l->rank < 1 || !isfinite (l->alpha_scale) || !isfinite (l->down[n_down - 1])
              || !isfinite (l->up[n_up - 1]))
            abort ();
        }
      sdcl_lora_file_free (lf);
      sdcl_st_close (f);
    }
  g_free (copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size > 0 && data[0] == 't')
    fuzz_tags (data + 1, size - 1);
  else
    fuzz_file (data, size);
  return 0;
}

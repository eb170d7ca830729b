/* The CLIP text tower's module list (clip_desc.h): embeddings, the
 * encoder layers, the final LayerNorm, under HF CLIPTextModel's names.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clip_desc.h"

#include <glib.h>

static void
add (GArray *a, sdcl_clip_role role, int index, int64_t rows, int64_t width, int64_t inner,
     const char *name)
{
  sdcl_clip_module m = { .role = role, .index = index, .rows = rows, .width = width,
                         .inner = inner };
  g_strlcpy (m.name, name, sizeof m.name);
  g_array_append_val (a, m);
}

sdcl_clip_desc *
sdcl_clip_describe (const sdcl_clip_config *c)
{
  GArray *a = g_array_new (FALSE, TRUE, sizeof (sdcl_clip_module));
  const int64_t h = c->hidden_size;
  add (a, SDCL_CLIP_TOKEN_EMBEDDING, 0, c->vocab_size, h, 0, "text_model.embeddings.token_embedding");
  add (a, SDCL_CLIP_POSITION_EMBEDDING, 0, c->max_position_embeddings, h, 0,
       "text_model.embeddings.position_embedding");
  for (int i = 0; i < c->n_layers; i++)
    {
      char name[64];
      g_snprintf (name, sizeof name, "text_model.encoder.layers.%d", i);
      add (a, SDCL_CLIP_LAYER, i, 0, h, c->intermediate_size, name);
    }
  add (a, SDCL_CLIP_FINAL_NORM, 0, 0, h, 0, "text_model.final_layer_norm");
  if (c->projection_dim > 0 && c->projection_transposed)   /* OpenCLIP's [hidden, proj] */
    add (a, SDCL_CLIP_TEXT_PROJECTION, 0, h, c->projection_dim, 0, "text_projection");
  else if (c->projection_dim > 0)
    add (a, SDCL_CLIP_TEXT_PROJECTION, 0, c->projection_dim, h, 0, "text_projection");
  sdcl_clip_desc *d = g_new0 (sdcl_clip_desc, 1);
  d->n_modules = (int) a->len;
  d->modules = (sdcl_clip_module *) (void *) g_array_free (a, FALSE);
  return d;
}

void
sdcl_clip_desc_free (sdcl_clip_desc *d)
{
  if (!d)
    return;
  g_free (d->modules);
  g_free (d);
}

/* Textual-inversion embeddings (docs/diffusion.md §Textual inversion):
 * vectors that stand for a word of the prompt.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_EMBEDDING_H
#define SDCL_EMBEDDING_H

#include <glib.h>

#include "safetensors.h"
#include "sdcl.h"

#define SDCL_EMBEDDING_MAX_TOWERS 2

/* One text tower's vectors: A1111 and diffusers files have one (tower
 * ""), SDXL files one per encoder ("clip_l", "clip_g"). */
typedef struct {
  const char *tower;
  int width;
  float *vectors;        /* [n_vectors, width] */
} sdcl_embedding_part;

typedef struct {
  char *name;            /* what the prompt says: the file name without extension */
  char *path;            /* for messages */
  const char *format;    /* "A1111", "diffusers", "SDXL" */
  int n_vectors;
  int n_parts;
  sdcl_embedding_part parts[SDCL_EMBEDDING_MAX_TOWERS];
} sdcl_embedding;

/* Reads one .safetensors embedding.  Pickled files (.pt, .bin, .ckpt,
 * .pth, or a zip/pickle signature) are refused (SDCL_ERR_INVALID_ARGUMENT
 * saying why); so are files of no known layout, vectors that are not
 * finite, or more vectors than fit in one 75-token chunk. */
sdcl_status sdcl_embedding_load (const char *path, sdcl_embedding **out, sdcl_error *err);
/* The same from an opened file (fuzzers, tests); `name` is the prompt word. */
sdcl_status sdcl_embedding_from_file (const sdcl_st_file *f, const char *name,
                                      sdcl_embedding **out, sdcl_error *err);
void sdcl_embedding_free (sdcl_embedding *e);

/* The vectors of `e` for a text tower (NULL or "": a family with one
 * tower; "clip_l" / "clip_g": SDXL's) that is `width` wide, or an error
 * naming the embedding and both widths (or the towers it has). */
sdcl_status sdcl_embedding_vectors (const sdcl_embedding *e, const char *tower, int width,
                                    const float **out, sdcl_error *err);

/* Loads every file of a gen params list into a GPtrArray of embeddings
 * (freed with g_ptr_array_unref); names must differ. */
sdcl_status sdcl_embeddings_load (const char *const *paths, int n, GPtrArray **out,
                                  sdcl_error *err);

#endif /* SDCL_EMBEDDING_H */

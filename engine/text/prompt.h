/* Prompts as text towers read them: A1111 syntax and embeddings resolved,
 * cut into chunks of 75 tokens, each encoded as 77 (BOS, 75, EOS/pad) and
 * the chunks' states concatenated (docs/diffusion.md §Long prompts).
 * Families call these per text tower; nothing here knows a family.
 * Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_PROMPT_H
#define SDCL_PROMPT_H

#include <glib.h>

#include "nets.h"
#include "tokenizer.h"

#define SDCL_PROMPT_CHUNK (SDCL_CLIP_CONTEXT - 2)   /* content tokens per chunk */

/* How one tower tokenizes. */
typedef struct {
  const sdcl_tokenizer *tok;
  int32_t pad_id;                 /* fills a chunk after its EOS */
  sdcl_prompt_syntax syntax;
  const GPtrArray *embeddings;    /* sdcl_embedding *, may be NULL */
  const char *tower;              /* embedding part: NULL one tower, "clip_l", "clip_g" */
  int width;                      /* the tower's hidden width */
} sdcl_prompt_reader;

/* A prompt as chunks of SDCL_CLIP_CONTEXT tokens. */
typedef struct {
  int n_chunks;
  int32_t *ids;          /* [n_chunks * 77] */
  float *weights;        /* [n_chunks * 77] emphasis, 1 at BOS, EOS, pad */
  const float **rows;    /* [n_chunks * 77] embedding vector for the position, or NULL */
  int n_tokens;          /* content tokens (embedding vectors count one each) */
} sdcl_prompt_chunks;

/* Reads `text` into chunks as A1111 does: pieces from sdcl_prompt_parse,
 * each tokenized on its own; a chunk is closed at 75 tokens (moving the
 * tokens after the last comma of the chunk, if it is at most 20 back, into
 * the next one), at BREAK, and before an embedding that would not fit.
 * Errors: an embedding of the wrong width (sdcl_embedding_vectors) and a
 * prompt of more than SDCL_MAX_PROMPT_CHUNKS chunks. */
sdcl_status sdcl_prompt_read (const sdcl_prompt_reader *r, const char *text,
                              sdcl_prompt_chunks *out, sdcl_error *err);
/* Appends chunks of the empty prompt up to n_chunks (a no-op when c has
 * as many already): what pads the shorter of a prompt pair.  (Two towers
 * of one model read a prompt into the same chunks unless their pad
 * literals tokenize differently, as "!" does for a tower that pads with
 * it: pad the shorter before joining their states feature-wise.) */
void sdcl_prompt_pad (sdcl_prompt_chunks *c, int n_chunks, int32_t pad_id);
void sdcl_prompt_chunks_clear (sdcl_prompt_chunks *c);

/* Encodes the chunks with `clip` (clip skip `skip`, as sdcl_clip_forward)
 * and writes the states, chunk after chunk, into `states` from element
 * `offset` on (c->n_chunks x 77 x width floats).  Each chunk's emphasis:
 * its states times their weights, then scaled so that their mean is the
 * unweighted one (A1111's "original" emphasis). */
sdcl_status sdcl_prompt_encode (sdcl_cl *cl, sdcl_clip *clip, const sdcl_prompt_chunks *c,
                                int skip, const volatile int *cancel, sdcl_t *states,
                                int64_t offset, sdcl_error *err);

/* A1111's emphasis on one chunk's states z [tokens, width] in place. */
void sdcl_prompt_emphasis (float *z, const float *weights, int tokens, int width);

#endif /* SDCL_PROMPT_H */

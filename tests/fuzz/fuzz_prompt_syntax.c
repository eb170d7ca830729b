/* libFuzzer harness: the A1111 prompt parser and the chunker
 * (engine/text/) with the real CLIP vocabulary and one 2-vector
 * embedding named "cat".  The first byte picks the syntax and the pad id;
 * the rest is the prompt.  Checks, for every input: at least one piece;
 * chunks of 77 ids that start with BOS, hold an EOS, and pad after it;
 * weights 1 at BOS; embedding rows only at the embedding's id; or a clean
 * error (too long, weight out of range).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "fuzz_common.h"
#include "embedding.h"
#include "prompt.h"
#include "prompt_parse.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

#define WIDTH 8

static sdcl_tokenizer *tok;
static GPtrArray *embeddings;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  sdcl_error err = { 0 };
  if (sdcl_tokenizer_load_default (&tok, &err) != SDCL_OK)
    {
      fprintf (stderr, "fuzz_prompt_syntax: %s\n", err.message);
      exit (1);
    }
  sdcl_embedding *e = g_new0 (sdcl_embedding, 1);
  e->name = g_strdup ("cat");
  e->path = g_strdup ("cat.safetensors");
  e->format = "A1111";
  e->n_vectors = 2;
  e->n_parts = 1;
  e->parts[0] = (sdcl_embedding_part) { "", WIDTH, g_new0 (float, 2 * WIDTH) };
  embeddings = g_ptr_array_new_with_free_func ((GDestroyNotify) sdcl_embedding_free);
  g_ptr_array_add (embeddings, e);
  return 0;
}

static void
check_chunks (const sdcl_prompt_chunks *c, int32_t pad_id)
{
  if (c->n_chunks < 1 || c->n_chunks > SDCL_MAX_PROMPT_CHUNKS)
    abort ();
  for (int k = 0; k < c->n_chunks; k++)
    {
      const int32_t *ids = c->ids + k * SDCL_CLIP_CONTEXT;
      if (ids[0] != SDCL_CLIP_BOS || c->weights[k * SDCL_CLIP_CONTEXT] != 1.0f)
        abort ();
      /* The chunk ends with EOS and then padding.  Found from the end: a
       * prompt may hold a literal <|endoftext|>, which the tokenizer (as
       * transformers') reads as the EOS id in mid-chunk. */
      int end = SDCL_CLIP_CONTEXT - 1;
      while (end > 0 && ids[end] == pad_id)
        end--;
      if (pad_id == SDCL_CLIP_EOS ? end == SDCL_CLIP_CONTEXT - 1 : ids[end] != SDCL_CLIP_EOS)
        abort ();   /* no EOS closing the chunk */
      for (int t = 0; t < SDCL_CLIP_CONTEXT; t++)
        if (c->rows[k * SDCL_CLIP_CONTEXT + t] && ids[t] != 0)
          abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  sdcl_prompt_syntax syntax = (data[0] & 1) ? SDCL_PROMPT_PLAIN : SDCL_PROMPT_A1111;
  int32_t pad_id = (data[0] & 2) ? 0 : SDCL_CLIP_EOS;   /* SD 2.x pads with "!" */
  char *text = g_strndup ((const char *) data + 1, size - 1);

  GArray *pieces = sdcl_prompt_parse (text, syntax);
  if (pieces->len < 1 || (syntax == SDCL_PROMPT_PLAIN && pieces->len != 1))
    abort ();
  sdcl_prompt_pieces_free (pieces);

  const sdcl_prompt_reader r = { .tok = tok, .pad_id = pad_id, .syntax = syntax,
                                 .embeddings = embeddings, .width = WIDTH };
  sdcl_prompt_chunks c;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_prompt_read (&r, text, &c, &err);
  if (st == SDCL_OK)
    check_chunks (&c, pad_id);
  else if (st != SDCL_ERR_INVALID_ARGUMENT || c.n_chunks != 0 || c.ids)
    abort ();
  sdcl_prompt_chunks_clear (&c);
  g_free (text);
  return 0;
}

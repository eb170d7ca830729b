/* The state of the CLIP tokenizer, shared by tokenizer_load.c, which builds
 * it, and tokenizer.c, which encodes with it.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TOKENIZER_INTERNAL_H
#define SDCL_TOKENIZER_INTERNAL_H

#include <glib.h>

#include "tokenizer.h"
#include "tokenizer_bpe.h"

#define SDCL_BOS_TOKEN "<|startoftext|>"
#define SDCL_EOS_TOKEN "<|endoftext|>"
#define SDCL_UNK_ID SDCL_CLIP_EOS

typedef struct {
  int n;
  int32_t ids[];
} sdcl_cached_word;

typedef struct {
  GMutex lock;       /* encoding is const and may run from several threads */
  GHashTable *words; /* byte string -> sdcl_cached_word */
} sdcl_word_cache;

struct sdcl_tokenizer {
  GStringChunk *strings; /* storage of every token string */
  GPtrArray *tokens;     /* id -> token string */
  GHashTable *ids;       /* token string -> id */
  sdcl_bpe *bpe;
  /* A word starts as one symbol per UTF-8 byte; its last byte takes the
   * "</w>" form.  Ids of both forms, UNK where the vocabulary lacks one. */
  int32_t byte_symbol[256];
  int32_t last_byte_symbol[256];
  sdcl_word_cache *cache;
};

#endif /* SDCL_TOKENIZER_INTERNAL_H */

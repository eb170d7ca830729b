/* CLIP BPE tokenizer, equal to transformers' CLIPTokenizer (docs/diffusion.md §Tokenizer).
 * Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TOKENIZER_H
#define SDCL_TOKENIZER_H

#include <stdint.h>

#include "sdcl.h"

#define SDCL_CLIP_BOS 49406
#define SDCL_CLIP_EOS 49407
#define SDCL_CLIP_CONTEXT 77

typedef struct sdcl_tokenizer sdcl_tokenizer;

/* Loads vocab.json and merges.txt.  Errors: SDCL_ERR_TOKENIZER naming the
 * file and the problem (missing, malformed JSON, bad merges line, ...). */
sdcl_status sdcl_tokenizer_load (const char *vocab_json_path, const char *merges_txt_path,
                                 sdcl_tokenizer **out, sdcl_error *err);
/* The CLIP vocabulary installed with sdcl (see data/): the first of
 * $SDCL_DATA_DIR/clip/, the installed datadir (SDCL_DATADIR) and the source
 * tree's data/ that holds bpe_simple_vocab_16e6.txt.gz.  When none does,
 * the error names every place looked at. */
sdcl_status sdcl_tokenizer_load_default (sdcl_tokenizer **out, sdcl_error *err);
void sdcl_tokenizer_free (sdcl_tokenizer *tok);

/* BPE ids of `text` without BOS/EOS and without truncation.  Returns the
 * number of ids (may exceed max_ids; only max_ids are written), or -1 on
 * invalid UTF-8 handling failure (never for valid input).
 * (Implementation: invalid UTF-8 never fails; each maximal ill-formed byte
 * sequence becomes U+FFFD, as Python's decode(errors="replace") does.  -1
 * means a NULL tokenizer, max_ids < 0, or ids NULL with max_ids > 0.  NULL
 * text is the empty prompt.) */
int sdcl_tokenizer_encode (const sdcl_tokenizer *tok, const char *text, int32_t *ids, int max_ids);

/* The 77-id sequence diffusers feeds CLIP: BOS, the first 75 ids, EOS, then
 * `pad_id` up to 77.  A pad token other than <|endoftext|> is a special
 * token, as SD 2.x's tokenizer registers "!": its literal in the prompt
 * becomes pad_id.  Returns the number of content ids before truncation. */
int sdcl_tokenizer_encode_clip (const sdcl_tokenizer *tok, const char *text, int32_t pad_id,
                                int32_t out[SDCL_CLIP_CONTEXT]);

/* sdcl_tokenizer_encode with the pad token's literal read as pad_id, as
 * sdcl_tokenizer_encode_clip does, without BOS/EOS and without truncation. */
int sdcl_tokenizer_encode_padded (const sdcl_tokenizer *tok, const char *text, int32_t pad_id,
                                  int32_t *ids, int max_ids);

/* token string (",</w>") -> id, or -1 when the vocabulary lacks it. */
int32_t sdcl_tokenizer_lookup (const sdcl_tokenizer *tok, const char *token);

/* id -> token string (with "</w>"), or NULL if out of range. */
const char *sdcl_tokenizer_token (const sdcl_tokenizer *tok, int32_t id);

#endif /* SDCL_TOKENIZER_H */

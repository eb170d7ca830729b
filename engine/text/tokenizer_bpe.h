/* Byte-pair merging over token ids.  Internal to the tokenizer.
 *
 * A merge table maps an adjacent pair of ids (left, right) to the id of
 * their concatenation and a rank (its position in merges.txt).  Applying it
 * to a word repeatedly merges the lowest-ranked pair present, leftmost first,
 * until no pair has a rank: exactly the tokenizers library's BPE, which for a
 * CLIP vocabulary equals CLIP's "merge every occurrence of the best pair".
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TOKENIZER_BPE_H
#define SDCL_TOKENIZER_BPE_H

#include <stdint.h>

typedef struct sdcl_bpe sdcl_bpe;

sdcl_bpe *sdcl_bpe_new (void);
void sdcl_bpe_free (sdcl_bpe *bpe);

/* Adds the merge of rank sdcl_bpe_n_merges().  A pair added again takes the
 * later rank and result, as a dictionary built from merges.txt would. */
void sdcl_bpe_add_merge (sdcl_bpe *bpe, int32_t left, int32_t right, int32_t merged);
int sdcl_bpe_n_merges (const sdcl_bpe *bpe);

/* Merges the n ids of `word` in place; returns how many remain. */
int sdcl_bpe_apply (const sdcl_bpe *bpe, int32_t *word, int n);

#endif /* SDCL_TOKENIZER_BPE_H */

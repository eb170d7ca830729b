/* A1111 prompt syntax: text -> pieces of (text, weight) and BREAK marks
 * (docs/diffusion.md §Prompt syntax).  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_PROMPT_PARSE_H
#define SDCL_PROMPT_PARSE_H

#include <glib.h>
#include <stdbool.h>

#include "sdcl.h"

typedef struct {
  char *text;       /* valid UTF-8, possibly empty; NULL for a BREAK */
  double weight;    /* emphasis of every token of the text */
  bool is_break;    /* BREAK: what follows starts a new chunk */
} sdcl_prompt_piece;

/* The pieces of `text` (NULL reads as "").  Plain syntax: the whole text
 * at weight 1.  A1111 syntax: "(x)" x 1.1, "[x]" / 1.1, "(x:W)" x W,
 * nesting multiplies, "\(" "\)" "\[" "\]" "\\" are literals, a lone "\" is
 * dropped, brackets left open apply up to the end and stray closers are
 * text; "BREAK" (a whole word, in capitals) starts a new chunk.
 * Neighbouring pieces of equal weight are merged.  Never fails: every
 * input parses (invalid UTF-8 is first made valid, as the tokenizer does).
 * Free with sdcl_prompt_pieces_free. */
GArray *sdcl_prompt_parse (const char *text, sdcl_prompt_syntax syntax);
void sdcl_prompt_pieces_free (GArray *pieces);

#endif /* SDCL_PROMPT_PARSE_H */

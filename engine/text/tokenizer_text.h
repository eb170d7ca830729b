/* The text stages of the CLIP tokenizer: everything before BPE.  Internal.
 *
 * What transformers' CLIPTokenizer (5.x, backed by the tokenizers library)
 * does to a prompt before byte-pair encoding, in order:
 *   1. the special tokens "<|startoftext|>" and "<|endoftext|>" are cut out
 *      of the raw text (they are not normalised; done in tokenizer.c);
 *   2. each remaining segment is normalised: NFC, every run of White_Space
 *      becomes one space, then every code point is lowercased on its own
 *      (no ftfy, no control-character removal, no CJK spacing, no strip);
 *   3. the pre-tokenizer keeps the matches of
 *        <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|
 *        [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      and drops the rest (whitespace); the byte-level stage after it splits
 *      a special-token literal into "<|", the name and "|>".
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TOKENIZER_TEXT_H
#define SDCL_TOKENIZER_TEXT_H

#include <glib.h>

/* `text` (NUL-terminated, any bytes) as valid UTF-8: every maximal ill-formed
 * subsequence becomes U+FFFD, as Python's bytes.decode(errors="replace") and
 * WHATWG decoders do, so a C prompt tokenizes like the same bytes decoded in
 * Python.  Free with g_free. */
char *sdcl_text_make_valid_utf8 (const char *text);

/* Step 2 on `len` bytes of valid UTF-8.  Returns *n_out code points
 * (g_free). */
gunichar *sdcl_text_normalize (const char *utf8, gssize len, glong *n_out);

/* Step 3: calls `piece` for every pre-token of the normalised text, in
 * order.  A piece is never empty and never contains whitespace. */
typedef void (*sdcl_text_piece_fn) (const gunichar *piece, glong n, void *user_data);
void sdcl_text_pretokenize (const gunichar *text, glong n, sdcl_text_piece_fn piece,
                            void *user_data);

/* Unicode classes as the reference's regex engine (Oniguruma) sees them. */
gboolean sdcl_text_is_white_space (gunichar c);
gboolean sdcl_text_is_letter (gunichar c);
gboolean sdcl_text_is_number (gunichar c);

#endif /* SDCL_TOKENIZER_TEXT_H */

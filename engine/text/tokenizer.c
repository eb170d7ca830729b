/* CLIP BPE tokenizer: encoding prompts.
 *
 * The reference is transformers' CLIPTokenizer (5.x) loaded from vocab.json
 * and merges.txt.  Loading lives in tokenizer_load.c, the text stages in
 * tokenizer_text.c, pair merging in tokenizer_bpe.c; this file strings the
 * stages together.
 *
 * Prompts are bytes: invalid UTF-8 is repaired first (each maximal
 * ill-formed subsequence becomes U+FFFD, which then tokenizes like any other
 * symbol), so no input fails.
 *
 * Known differences from the reference, all outside what prompts contain:
 *   - "<|startoftext|>" and "<|endoftext|>" are recognised only as written.
 *     A tokenizer_config.json marking BOS as "normalized" (SD 1.5's does)
 *     makes transformers also accept it after lowercasing ("<|STARTOFTEXT|>");
 *     sdcl reads no tokenizer_config.json.
 *   - SD 2.x tokenizers register "!" as the pad token, which makes every
 *     literal "!" a separate id 0 in transformers; sdcl does the same for
 *     a pad token other than <|endoftext|> when padding (encode_clip), not
 *     in sdcl_tokenizer_encode.
 *   - Characters newer than GLib's Unicode tables are symbols to sdcl.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <limits.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "tokenizer_text.h"

/* Per-word BPE results are cached: prompts repeat words, and BPE is the
 * expensive stage.  The cache is emptied when full, which bounds memory
 * without bookkeeping; very long words are rare and not cached. */
#define WORD_CACHE_MAX_ENTRIES 10000
#define WORD_CACHE_MAX_WORD_BYTES 128

/* ---- encoding ---------------------------------------------------------- */

static void
cache_store (sdcl_word_cache *cache, const char *word, const int32_t *ids, int n)
{
  if (strlen (word) > WORD_CACHE_MAX_WORD_BYTES)
    return;
  sdcl_cached_word *entry = g_malloc (sizeof *entry + (size_t) n * sizeof (int32_t));
  entry->n = n;
  memcpy (entry->ids, ids, (size_t) n * sizeof (int32_t));
  g_mutex_lock (&cache->lock);
  if (g_hash_table_size (cache->words) >= WORD_CACHE_MAX_ENTRIES)
    g_hash_table_remove_all (cache->words);
  g_hash_table_replace (cache->words, g_strdup (word), entry);
  g_mutex_unlock (&cache->lock);
}

static gboolean
cache_fetch (sdcl_word_cache *cache, const char *word, GArray *ids)
{
  g_mutex_lock (&cache->lock);
  const sdcl_cached_word *entry = g_hash_table_lookup (cache->words, word);
  if (entry)
    g_array_append_vals (ids, entry->ids, entry->n);
  g_mutex_unlock (&cache->lock);
  return entry != NULL;
}

/* BPE of one pre-token given as UTF-8 bytes (non-empty). */
static void
encode_word (const sdcl_tokenizer *tok, const char *word, gsize len, GArray *ids)
{
  if (cache_fetch (tok->cache, word, ids))
    return;
  const guchar *bytes = (const guchar *) word;
  int32_t *symbols = g_new (int32_t, len);
  for (gsize i = 0; i + 1 < len; i++)
    symbols[i] = tok->byte_symbol[bytes[i]];
  symbols[len - 1] = tok->last_byte_symbol[bytes[len - 1]];
  int n = sdcl_bpe_apply (tok->bpe, symbols, (int) len);
  g_array_append_vals (ids, symbols, n);
  cache_store (tok->cache, word, symbols, n);
  g_free (symbols);
}

typedef struct {
  const sdcl_tokenizer *tok;
  GArray *ids;
  GString *word; /* the current piece as UTF-8 */
} encoder;

static void
encode_piece (const gunichar *piece, glong n, void *user_data)
{
  encoder *enc = user_data;
  g_string_truncate (enc->word, 0);
  for (glong i = 0; i < n; i++)
    g_string_append_unichar (enc->word, piece[i]);
  encode_word (enc->tok, enc->word->str, enc->word->len, enc->ids);
}

/* Text between special tokens: normalise, pre-tokenize, BPE. */
static void
encode_segment (encoder *enc, const char *segment, gsize len)
{
  if (len == 0)
    return;
  glong n;
  gunichar *text = sdcl_text_normalize (segment, (gssize) len, &n);
  sdcl_text_pretokenize (text, n, encode_piece, enc);
  g_free (text);
}

/* A literal that is one token: BOS, EOS, and a registered pad token. */
typedef struct {
  const char *text;
  int32_t id;
} special_token;

/* Special tokens are found in the raw text, before normalisation, and never
 * go through BPE.  The earliest occurrence wins. */
static const char *
find_special_token (const char *text, const special_token *specials, int n, int32_t *id, gsize *len)
{
  const char *best = NULL;
  for (int i = 0; i < n; i++)
    {
      const char *at = specials[i].text ? strstr (text, specials[i].text) : NULL;
      if (at && (!best || at < best))
        {
          best = at;
          *id = specials[i].id;
          *len = strlen (specials[i].text);
        }
    }
  return best;
}

static GArray *
encode_all (const sdcl_tokenizer *tok, const char *text, const char *pad_text, int32_t pad_id)
{
  const special_token specials[] = {
    { SDCL_BOS_TOKEN, SDCL_CLIP_BOS }, { SDCL_EOS_TOKEN, SDCL_CLIP_EOS }, { pad_text, pad_id },
  };
  char *valid = sdcl_text_make_valid_utf8 (text);
  encoder enc = { .tok = tok, .ids = g_array_new (FALSE, FALSE, sizeof (int32_t)),
                  .word = g_string_new (NULL) };
  const char *rest = valid;
  const char *special;
  int32_t special_id;
  gsize special_len;
  while ((special = find_special_token (rest, specials, G_N_ELEMENTS (specials), &special_id,
                                        &special_len)))
    {
      encode_segment (&enc, rest, (gsize) (special - rest));
      g_array_append_val (enc.ids, special_id);
      rest = special + special_len;
    }
  encode_segment (&enc, rest, strlen (rest));

  g_string_free (enc.word, TRUE);
  g_free (valid);
  return enc.ids;
}

static int
encode_with (const sdcl_tokenizer *tok, const char *text, const char *pad_text, int32_t pad_id,
             int32_t *ids, int max_ids)
{
  if (!tok || max_ids < 0 || (max_ids > 0 && !ids))
    return -1;
  GArray *all = encode_all (tok, text ? text : "", pad_text, pad_id);
  int n = all->len <= INT_MAX ? (int) all->len : -1;
  if (n > 0 && max_ids > 0)
    memcpy (ids, all->data, (size_t) MIN (n, max_ids) * sizeof (int32_t));
  g_array_free (all, TRUE);
  return n;
}

int
sdcl_tokenizer_encode (const sdcl_tokenizer *tok, const char *text, int32_t *ids, int max_ids)
{
  return encode_with (tok, text, NULL, 0, ids, max_ids);
}

/* The pad token's literal when the tokenizer registers it as a special
 * token (SD 2.x's "!"), NULL for <|endoftext|> or a token that is no
 * plain literal (BPE symbols carry a </w> suffix or byte stand-ins). */
static const char *
pad_literal (const sdcl_tokenizer *tok, int32_t pad_id)
{
  const char *t = pad_id == SDCL_CLIP_EOS ? NULL : sdcl_tokenizer_token (tok, pad_id);
  if (!t || !*t || strstr (t, "</w>"))
    return NULL;
  for (const char *c = t; *c; c++)
    if (*c < 0x21 || *c > 0x7e)
      return NULL;
  return t;
}

int
sdcl_tokenizer_encode_clip (const sdcl_tokenizer *tok, const char *text, int32_t pad_id,
                            int32_t out[SDCL_CLIP_CONTEXT])
{
  enum { MAX_CONTENT = SDCL_CLIP_CONTEXT - 2 };
  int n = encode_with (tok, text, pad_literal (tok, pad_id), pad_id, out + 1, MAX_CONTENT);
  int kept = CLAMP (n, 0, MAX_CONTENT);
  out[0] = SDCL_CLIP_BOS;
  out[kept + 1] = SDCL_CLIP_EOS;
  for (int i = kept + 2; i < SDCL_CLIP_CONTEXT; i++)
    out[i] = pad_id;
  return n;
}

int
sdcl_tokenizer_encode_padded (const sdcl_tokenizer *tok, const char *text, int32_t pad_id,
                              int32_t *ids, int max_ids)
{
  return encode_with (tok, text, tok ? pad_literal (tok, pad_id) : NULL, pad_id, ids, max_ids);
}

int32_t
sdcl_tokenizer_lookup (const sdcl_tokenizer *tok, const char *token)
{
  gpointer id;
  if (!tok || !g_hash_table_lookup_extended (tok->ids, token, NULL, &id))
    return -1;
  return GPOINTER_TO_INT (id);
}

const char *
sdcl_tokenizer_token (const sdcl_tokenizer *tok, int32_t id)
{
  if (!tok || id < 0 || (guint) id >= tok->tokens->len)
    return NULL;
  return tok->tokens->pdata[id];
}

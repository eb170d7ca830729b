/* CLIP BPE tokenizer: building the vocabulary and merge table, from a
 * diffusers tokenizer/ folder (vocab.json + merges.txt) or from the merges
 * file sdcl installs (CLIP's own construction, as tests/reference/
 * clip_vocab.py does).  Every problem is an SDCL_ERR_TOKENIZER naming the
 * file and, where there is one, the line.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <string.h>

#include "config.h"
#include "data_dirs.h"
#include "json_strict.h"
#include "sdcl_file.h"
#include "tokenizer_internal.h"

#define END_OF_WORD "</w>"

/* CLIP's vocabulary: 256 byte symbols, the same with "</w>", one token per
 * merge, then BOS and EOS.  The installed merges file holds more merges than
 * CLIP uses; CLIP takes lines 1 .. 49152 - 256 - 2 after the header. */
#define N_SPECIAL_TOKENS 2
#define N_CLIP_MERGES (49152 - 256 - 2)
#define DEFAULT_VOCAB_FILE "bpe_simple_vocab_16e6.txt.gz"

/* CLIP's vocab.json is 0.9 MB, its merges.txt 0.5 MB, the installed
 * merges file 1.6 MB decompressed; no tokenizer file comes near this, and
 * one that does (or a link to /dev/zero) is refused before it is read. */
#define MAX_TOKENIZER_FILE_BYTES (32 * 1024 * 1024)

static sdcl_status G_GNUC_PRINTF (2, 3)
tokenizer_error (sdcl_error *err, const char *format, ...)
{
  if (err)
    {
      va_list args;
      va_start (args, format);
      err->code = SDCL_ERR_TOKENIZER;
      g_vsnprintf (err->message, sizeof err->message, format, args);
      va_end (args);
    }
  return SDCL_ERR_TOKENIZER;
}

/* ---- vocabulary -------------------------------------------------------- */

static sdcl_tokenizer *
tokenizer_new (void)
{
  sdcl_tokenizer *tok = g_new0 (sdcl_tokenizer, 1);
  tok->strings = g_string_chunk_new (1 << 16);
  tok->tokens = g_ptr_array_new ();
  tok->ids = g_hash_table_new (g_str_hash, g_str_equal);
  tok->bpe = sdcl_bpe_new ();
  tok->cache = g_new0 (sdcl_word_cache, 1);
  g_mutex_init (&tok->cache->lock);
  tok->cache->words = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return tok;
}

void
sdcl_tokenizer_free (sdcl_tokenizer *tok)
{
  if (!tok)
    return;
  g_hash_table_destroy (tok->cache->words);
  g_mutex_clear (&tok->cache->lock);
  g_free (tok->cache);
  sdcl_bpe_free (tok->bpe);
  g_hash_table_destroy (tok->ids);
  g_ptr_array_free (tok->tokens, TRUE);
  g_string_chunk_free (tok->strings);
  g_free (tok);
}

static gboolean
lookup_id (const sdcl_tokenizer *tok, const char *token, int32_t *id)
{
  gpointer value;
  if (!g_hash_table_lookup_extended (tok->ids, token, NULL, &value))
    return FALSE;
  *id = GPOINTER_TO_INT (value);
  return TRUE;
}

/* Gives `token` the id `id`.  A token seen before keeps its string but takes
 * the new id, as a dictionary built from a token list does. */
static void
set_token (sdcl_tokenizer *tok, int32_t id, const char *token)
{
  char *stored = g_string_chunk_insert (tok->strings, token);
  if ((guint) id >= tok->tokens->len)
    g_ptr_array_set_size (tok->tokens, id + 1);
  tok->tokens->pdata[id] = stored;
  g_hash_table_insert (tok->ids, stored, GINT_TO_POINTER (id));
}

static void
append_token (sdcl_tokenizer *tok, const char *token)
{
  set_token (tok, (int32_t) tok->tokens->len, token);
}

/* GPT-2/CLIP byte-level alphabet: every byte is shown as a printable code
 * point.  Printable Latin-1 bytes stand for themselves; the other 68 bytes
 * take U+0100, U+0101, ... in byte order. */
static gboolean
byte_stands_for_itself (int b)
{
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The symbol of byte b as UTF-8, with "</w>" when it ends a word. */
static void
byte_symbol (int b, gboolean ends_word, char symbol[8 + sizeof END_OF_WORD])
{
  gunichar code_point = b;
  if (!byte_stands_for_itself (b))
    {
      code_point = 0x100;
      for (int other = 0; other < b; other++)
        code_point += !byte_stands_for_itself (other);
    }
  symbol[g_unichar_to_utf8 (code_point, symbol)] = '\0';
  if (ends_word)
    strcat (symbol, END_OF_WORD);
}

static void
find_byte_symbols (sdcl_tokenizer *tok)
{
  for (int b = 0; b < 256; b++)
    {
      char symbol[8 + sizeof END_OF_WORD];
      byte_symbol (b, FALSE, symbol);
      if (!lookup_id (tok, symbol, &tok->byte_symbol[b]))
        tok->byte_symbol[b] = SDCL_UNK_ID;
      byte_symbol (b, TRUE, symbol);
      if (!lookup_id (tok, symbol, &tok->last_byte_symbol[b]))
        tok->last_byte_symbol[b] = SDCL_UNK_ID;
    }
}

/* The encoder writes BOS and EOS as SDCL_CLIP_BOS and SDCL_CLIP_EOS, so a
 * vocabulary must agree (every CLIP vocabulary does). */
static sdcl_status
check_special_token (const sdcl_tokenizer *tok, const char *token, int32_t want,
                     const char *source, sdcl_error *err)
{
  int32_t id;
  if (!lookup_id (tok, token, &id))
    return tokenizer_error (err, "%s: the vocabulary has no \"%s\" token", source, token);
  if (id != want)
    return tokenizer_error (err, "%s: \"%s\" has id %d; CLIP tokenizers need %d", source, token,
                            id, want);
  return SDCL_OK;
}

/* ---- merges ------------------------------------------------------------ */

/* Iterates over the lines of a mutable text, cutting it at each newline. */
typedef struct {
  char *rest;
  int number; /* 1-based number of the line last returned */
} line_reader;

static char *
next_line (line_reader *reader)
{
  if (!reader->rest || !*reader->rest)
    return NULL;
  char *line = reader->rest;
  char *newline = strchr (line, '\n');
  reader->rest = newline ? newline + 1 : NULL;
  if (newline)
    *newline = '\0';
  size_t len = strlen (line);
  if (len > 0 && line[len - 1] == '\r')
    line[len - 1] = '\0';
  reader->number++;
  return line;
}

/* Splits "left right" in place; both halves non-empty, exactly one space. */
static gboolean
split_merge (char *line, const char **left, const char **right)
{
  char *space = strchr (line, ' ');
  if (!space || space == line || space[1] == '\0' || strchr (space + 1, ' '))
    return FALSE;
  *space = '\0';
  *left = line;
  *right = space + 1;
  return TRUE;
}

/* Adds the merge on line `line_number` of `source`.  Both halves and their
 * concatenation must be tokens, as the tokenizers library requires. */
static sdcl_status
add_merge (sdcl_tokenizer *tok, const char *left, const char *right, GString *scratch,
           const char *source, int line_number, sdcl_error *err)
{
  int32_t left_id = 0, right_id = 0, merged_id = 0;
  g_string_assign (scratch, left);
  g_string_append (scratch, right);
  const char *missing = NULL;
  if (!lookup_id (tok, left, &left_id))
    missing = left;
  else if (!lookup_id (tok, right, &right_id))
    missing = right;
  else if (!lookup_id (tok, scratch->str, &merged_id))
    missing = scratch->str;
  if (missing)
    return tokenizer_error (err, "%s: line %d merges \"%s\" and \"%s\", but \"%s\" is not in the "
                            "vocabulary", source, line_number, left, right, missing);
  sdcl_bpe_add_merge (tok->bpe, left_id, right_id, merged_id);
  return SDCL_OK;
}

/* A line of the form "left right", else an error naming the line. */
static sdcl_status
parse_merge_line (char *line, const char *source, int line_number, const char **left,
                  const char **right, sdcl_error *err)
{
  if (!split_merge (line, left, right))
    return tokenizer_error (err, "%s: line %d is not a merge \"left right\" (one space between "
                            "two tokens): \"%s\"", source, line_number, line);
  return SDCL_OK;
}

/* The file as UTF-8 text (g_free), its length in *len. */
static char *
read_text_file (const char *path, const char *what, gsize *len, sdcl_error *err)
{
  char *text = NULL;
  GError *error = NULL;
  if (!sdcl_file_read_small (path, "tokenizer file", MAX_TOKENIZER_FILE_BYTES, &text, len, &error))
    {
      tokenizer_error (err, "%s: %s", what, error->message);   /* the message names the file */
      g_error_free (error);
      return NULL;
    }
  if (!g_utf8_validate_len (text, *len, NULL))
    {
      tokenizer_error (err, "%s %s: not UTF-8 text", what, path);
      g_free (text);
      return NULL;
    }
  return text;
}

/* merges.txt: an optional "#version" line, then every line is a merge. */
static sdcl_status
load_merges_txt (sdcl_tokenizer *tok, const char *path, sdcl_error *err)
{
  gsize len;
  char *text = read_text_file (path, "tokenizer merges", &len, err);
  if (!text)
    return SDCL_ERR_TOKENIZER;

  char *source = g_strdup_printf ("tokenizer merges %s", path);
  GString *scratch = g_string_new (NULL);
  line_reader reader = { .rest = text };
  sdcl_status status = SDCL_OK;
  char *line;
  while (status == SDCL_OK && (line = next_line (&reader)))
    {
      const char *left, *right;
      if (reader.number == 1 && g_str_has_prefix (line, "#version"))
        continue;
      status = parse_merge_line (line, source, reader.number, &left, &right, err);
      if (status == SDCL_OK)
        status = add_merge (tok, left, right, scratch, source, reader.number, err);
    }

  /* Every token past the byte symbols is made by one merge; a file with
   * fewer merges than that (say, truncated) would silently tokenize
   * differently. */
  int needed = (int) tok->tokens->len - 2 * 256 - N_SPECIAL_TOKENS;
  if (status == SDCL_OK && sdcl_bpe_n_merges (tok->bpe) < needed)
    status = tokenizer_error (err, "%s: has %d merges, but the vocabulary's %u tokens need %d "
                              "(is the file truncated?)", source, sdcl_bpe_n_merges (tok->bpe),
                              tok->tokens->len, needed);
  g_string_free (scratch, TRUE);
  g_free (source);
  g_free (text);
  return status;
}

/* ---- loading vocab.json + merges.txt ----------------------------------- */

/* One member of the vocab.json object: token -> id.  Ids must be a
 * permutation of 0 .. n-1, as in every CLIP vocabulary. */
static sdcl_status
add_vocab_member (sdcl_tokenizer *tok, const char *token, JsonNode *value, guint n,
                  const char *source, sdcl_error *err)
{
  if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_INT64)
    return tokenizer_error (err, "%s: the id of \"%s\" is not an integer", source, token);
  gint64 id = json_node_get_int (value);
  if (id < 0 || id >= (gint64) n)
    return tokenizer_error (err, "%s: \"%s\" has id %" G_GINT64_FORMAT "; the ids of %u tokens "
                            "must be 0 .. %u", source, token, id, n, n - 1);
  if (tok->tokens->pdata[id])
    return tokenizer_error (err, "%s: id %" G_GINT64_FORMAT " is given to both \"%s\" and "
                            "\"%s\"", source, id, (const char *) tok->tokens->pdata[id], token);
  set_token (tok, (int32_t) id, token);
  return SDCL_OK;
}

/* json-glib alone is lenient (it keeps the last of duplicate keys, for
 * one), so the text is checked against strict JSON first, as every JSON file
 * sdcl reads is. */
static sdcl_status
parse_json_object (const char *text, gsize len, const char *source, JsonParser *parser,
                   sdcl_error *err)
{
  char why[256];
  GError *error = NULL;
  if (!sdcl_json_check_strict (text, len, why, sizeof why))
    return tokenizer_error (err, "%s: %s", source, why);
  if (!json_parser_load_from_data (parser, text, (gssize) len, &error))
    {
      tokenizer_error (err, "%s: %s", source, error->message);
      g_error_free (error);
      return SDCL_ERR_TOKENIZER;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return tokenizer_error (err, "%s: not a JSON object mapping tokens to ids", source);
  return SDCL_OK;
}

static sdcl_status
load_vocab_json (sdcl_tokenizer *tok, const char *path, sdcl_error *err)
{
  gsize len;
  char *text = read_text_file (path, "tokenizer vocabulary", &len, err);
  if (!text)
    return SDCL_ERR_TOKENIZER;

  char *source = g_strdup_printf ("tokenizer vocabulary %s", path);
  JsonParser *parser = json_parser_new ();
  sdcl_status status = parse_json_object (text, len, source, parser, err);
  if (status == SDCL_OK)
    {
      JsonObject *vocab = json_node_get_object (json_parser_get_root (parser));
      guint n = json_object_get_size (vocab);
      g_ptr_array_set_size (tok->tokens, n);
      JsonObjectIter iter;
      const char *token;
      JsonNode *value;
      json_object_iter_init (&iter, vocab);
      while (status == SDCL_OK && json_object_iter_next (&iter, &token, &value))
        status = add_vocab_member (tok, token, value, n, source, err);
    }
  if (status == SDCL_OK)
    status = check_special_token (tok, SDCL_BOS_TOKEN, SDCL_CLIP_BOS, source, err);
  if (status == SDCL_OK)
    status = check_special_token (tok, SDCL_EOS_TOKEN, SDCL_CLIP_EOS, source, err);

  g_object_unref (parser);
  g_free (source);
  g_free (text);
  return status;
}

sdcl_status
sdcl_tokenizer_load (const char *vocab_json_path, const char *merges_txt_path,
                     sdcl_tokenizer **out, sdcl_error *err)
{
  *out = NULL;
  if (!vocab_json_path || !merges_txt_path)
    return tokenizer_error (err, "tokenizer: the path of %s is NULL",
                            vocab_json_path ? "merges.txt" : "vocab.json");

  sdcl_tokenizer *tok = tokenizer_new ();
  sdcl_status status = load_vocab_json (tok, vocab_json_path, err);
  if (status == SDCL_OK)
    status = load_merges_txt (tok, merges_txt_path, err);
  if (status != SDCL_OK)
    {
      sdcl_tokenizer_free (tok);
      return status;
    }
  find_byte_symbols (tok);
  *out = tok;
  return SDCL_OK;
}

/* ---- loading the installed default ------------------------------------- */

/* Decompresses all of `in` (at most MAX_TOKENIZER_FILE_BYTES: a small
 * file can inflate a thousandfold) into a NUL-terminated string. */
static char *
gunzip_all (GInputStream *in, GError **error)
{
  GByteArray *out = g_byte_array_new ();
  guint8 chunk[65536];
  gssize n;
  while ((n = g_input_stream_read (in, chunk, sizeof chunk, NULL, error)) > 0)
    {
      if (out->len + (gsize) n > MAX_TOKENIZER_FILE_BYTES)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "it decompresses to more than %d bytes", MAX_TOKENIZER_FILE_BYTES);
          n = -1;
          break;
        }
      g_byte_array_append (out, chunk, (guint) n);
    }
  if (n < 0)
    {
      g_byte_array_unref (out);
      return NULL;
    }
  g_byte_array_append (out, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (out, FALSE);
}

/* The whole decompressed file, NUL-terminated. */
static char *
read_gzip_file (const char *path, GError **error)
{
  char *bytes = NULL;
  size_t len = 0;
  if (!sdcl_file_read_small (path, "tokenizer file", MAX_TOKENIZER_FILE_BYTES, &bytes, &len, error))
    return NULL;
  GBytes *compressed = g_bytes_new_take (bytes, len);
  GInputStream *raw = g_memory_input_stream_new_from_bytes (compressed);
  GZlibDecompressor *gunzip = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  GInputStream *in = g_converter_input_stream_new (raw, G_CONVERTER (gunzip));
  char *text = gunzip_all (in, error);
  g_object_unref (in);
  g_object_unref (gunzip);
  g_object_unref (raw);
  g_bytes_unref (compressed);
  return text;
}

/* The merges CLIP uses: lines 2 .. N_CLIP_MERGES + 1 of the file, split in
 * place into their halves. */
static sdcl_status
read_clip_merges (char *text, const char **lefts, const char **rights, const char *source,
                  sdcl_error *err)
{
  line_reader reader = { .rest = text };
  if (!next_line (&reader)) /* the header line */
    return tokenizer_error (err, "%s: empty file", source);
  int n = 0;
  char *line;
  while (n < N_CLIP_MERGES && (line = next_line (&reader)))
    {
      sdcl_status status = parse_merge_line (line, source, reader.number, &lefts[n], &rights[n],
                                             err);
      if (status != SDCL_OK)
        return status;
      n++;
    }
  if (n < N_CLIP_MERGES)
    return tokenizer_error (err, "%s: has %d merges; CLIP's vocabulary needs %d (is the file "
                            "truncated?)", source, n, N_CLIP_MERGES);
  return SDCL_OK;
}

/* CLIP's token list: the byte symbols (printable bytes first), the same
 * with "</w>", each merge's result, then BOS and EOS. */
static void
append_clip_tokens (sdcl_tokenizer *tok, const char **lefts, const char **rights)
{
  char symbol[8 + sizeof END_OF_WORD];
  for (int ends_word = 0; ends_word < 2; ends_word++)
    for (int printable = 1; printable >= 0; printable--)
      for (int b = 0; b < 256; b++)
        if (byte_stands_for_itself (b) == printable)
          {
            byte_symbol (b, ends_word, symbol);
            append_token (tok, symbol);
          }
  GString *merged = g_string_new (NULL);
  for (int i = 0; i < N_CLIP_MERGES; i++)
    {
      g_string_printf (merged, "%s%s", lefts[i], rights[i]);
      append_token (tok, merged->str);
    }
  g_string_free (merged, TRUE);
  append_token (tok, SDCL_BOS_TOKEN);
  append_token (tok, SDCL_EOS_TOKEN);
}

/* Builds CLIP's vocabulary and merges from the merges file, the way CLIP
 * (and tests/reference/clip_vocab.py) does. */
static sdcl_status
build_clip_vocabulary (sdcl_tokenizer *tok, char *text, const char *source, sdcl_error *err)
{
  const char **lefts = g_new (const char *, N_CLIP_MERGES);
  const char **rights = g_new (const char *, N_CLIP_MERGES);
  sdcl_status status = read_clip_merges (text, lefts, rights, source, err);
  if (status == SDCL_OK)
    {
      append_clip_tokens (tok, lefts, rights);
      GString *scratch = g_string_new (NULL);
      /* Ranks follow file order; the header is line 1. */
      for (int i = 0; i < N_CLIP_MERGES && status == SDCL_OK; i++)
        status = add_merge (tok, lefts[i], rights[i], scratch, source, i + 2, err);
      g_string_free (scratch, TRUE);
    }
  if (status == SDCL_OK)
    status = check_special_token (tok, SDCL_BOS_TOKEN, SDCL_CLIP_BOS, source, err);
  if (status == SDCL_OK)
    status = check_special_token (tok, SDCL_EOS_TOKEN, SDCL_CLIP_EOS, source, err);
  g_free (lefts);
  g_free (rights);
  return status;
}

static sdcl_status
load_clip_merges_gz (const char *path, sdcl_tokenizer **out, sdcl_error *err)
{
  GError *error = NULL;
  char *text = read_gzip_file (path, &error);
  if (!text)
    {
      sdcl_status status = tokenizer_error (err, "CLIP vocabulary %s: cannot read it as gzip: %s",
                                            path, error->message);
      g_error_free (error);
      return status;
    }
  if (!g_utf8_validate (text, -1, NULL))
    {
      g_free (text);
      return tokenizer_error (err, "CLIP vocabulary %s: not UTF-8 text", path);
    }

  char *source = g_strdup_printf ("CLIP vocabulary %s", path);
  sdcl_tokenizer *tok = tokenizer_new ();
  sdcl_status status = build_clip_vocabulary (tok, text, source, err);
  g_free (source);
  g_free (text);
  if (status != SDCL_OK)
    {
      sdcl_tokenizer_free (tok);
      return status;
    }
  find_byte_symbols (tok);
  *out = tok;
  return SDCL_OK;
}

/* Where the installed vocabulary may be, in order of preference: clip/ in
 * each of sdcl's data folders (data_dirs.h). */
static GPtrArray *
default_vocabulary_candidates (void)
{
  GPtrArray *dirs = sdcl_data_dirs ();
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < dirs->len; i++)
    g_ptr_array_add (paths, g_build_filename (dirs->pdata[i], "clip", DEFAULT_VOCAB_FILE, NULL));
  g_ptr_array_unref (dirs);
  return paths;
}

sdcl_status
sdcl_tokenizer_load_default (sdcl_tokenizer **out, sdcl_error *err)
{
  *out = NULL;
  GPtrArray *candidates = default_vocabulary_candidates ();
  GString *looked_at = g_string_new (NULL);
  sdcl_status status = SDCL_ERR_TOKENIZER;
  gboolean found = FALSE;

  for (guint i = 0; i < candidates->len && !found; i++)
    {
      const char *path = candidates->pdata[i];
      found = sdcl_file_exists (path);   /* present but unusable is reported by the reading */
      if (found)
        status = load_clip_merges_gz (path, out, err);
      else
        g_string_append_printf (looked_at, "%s%s", i ? ", " : "", path);
    }
  if (!found)
    tokenizer_error (err, "the CLIP vocabulary %s is not installed; looked at %s (set "
                     "SDCL_DATA_DIR to the folder holding clip/)", DEFAULT_VOCAB_FILE,
                     looked_at->str);

  g_string_free (looked_at, TRUE);
  g_ptr_array_free (candidates, TRUE);
  return status;
}

/* The A1111 prompt parser and chunker (engine/text/): hand-written cases
 * for the syntax's corners, then every case of golden/prompt_parse.json
 * (tests/reference/a1111_prompt.py, an independent implementation): the
 * same pieces (text, weight, BREAK) and the same chunks (ids, weights,
 * embedding positions) with tiny-sd's tokenizer.  Weights are compared to
 * 1e-12 relative (both multiply the same doubles in the same order).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "prompt_fixture.h"

typedef struct {
  const char *text;   /* NULL: BREAK */
  double weight;
} want_piece;

#define END { "<end>", 0 }

static void
check_pieces (const char *prompt, sdcl_prompt_syntax syntax, const want_piece *want)
{
  GArray *got = sdcl_prompt_parse (prompt, syntax);
  guint n = 0;
  while (!want[n].text || strcmp (want[n].text, "<end>") != 0)
    n++;
  CHECK (got->len == n, "%s: %u pieces, want %u", prompt, got->len, n);
  for (guint i = 0; i < MIN (n, got->len); i++)
    {
      const sdcl_prompt_piece *p = &g_array_index (got, sdcl_prompt_piece, i);
      if (!want[i].text)
        CHECK (p->is_break, "%s: piece %u should be BREAK", prompt, i);
      else
        CHECK (!p->is_break && strcmp (p->text, want[i].text) == 0
                 && fabs (p->weight - want[i].weight) < 1e-12,
               "%s: piece %u is \"%s\" x %g, want \"%s\" x %g", prompt, i,
               p->is_break ? "BREAK" : p->text, p->weight, want[i].text, want[i].weight);
    }
  sdcl_prompt_pieces_free (got);
}

static void
hand_written (void)
{
  check_pieces ("a (red) circle", SDCL_PROMPT_A1111,
                (want_piece[]) { { "a ", 1 }, { "red", 1.1 }, { " circle", 1 }, END });
  check_pieces ("((a)) [b]", SDCL_PROMPT_A1111,
                (want_piece[]) { { "a", 1.1 * 1.1 }, { " ", 1 }, { "b", 1 / 1.1 }, END });
  check_pieces ("(x:1.5", SDCL_PROMPT_A1111, (want_piece[]) { { "x:1.5", 1.1 }, END });
  check_pieces ("(x:1e3)", SDCL_PROMPT_A1111, (want_piece[]) { { "x:1e3", 1.1 }, END });
  check_pieces ("\\(x\\) \\\\", SDCL_PROMPT_A1111, (want_piece[]) { { "(x) \\", 1 }, END });
  check_pieces ("a BREAK b", SDCL_PROMPT_A1111,
                (want_piece[]) { { "a", 1 }, { NULL, 1 }, { "b", 1 }, END });
  check_pieces (")))", SDCL_PROMPT_A1111, (want_piece[]) { { ")))", 1 }, END });
  check_pieces ("(((", SDCL_PROMPT_A1111, (want_piece[]) { { "", 1 }, END });
  check_pieces (NULL, SDCL_PROMPT_A1111, (want_piece[]) { { "", 1 }, END });
  check_pieces ("(x) BREAK", SDCL_PROMPT_PLAIN, (want_piece[]) { { "(x) BREAK", 1 }, END });
  check_pieces ("\xff(x)", SDCL_PROMPT_A1111,
                (want_piece[]) { { "\xef\xbf\xbd", 1 }, { "x", 1.1 }, END });
  /* the examples A1111 documents for parse_prompt_attention */
  check_pieces ("(unnecessary)(parens)", SDCL_PROMPT_A1111,
                (want_piece[]) { { "unnecessaryparens", 1.1 }, END });
  check_pieces ("\\(literal\\]", SDCL_PROMPT_A1111, (want_piece[]) { { "(literal]", 1 }, END });
  check_pieces ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", SDCL_PROMPT_A1111,
                (want_piece[]) { { "a ", 1 }, { "house", 1.3 * 1.1 * 1.1 }, { " ", 1.1 },
                                 { "on", 1.1 / 1.1 }, { " a ", 1.1 }, { "hill", 0.55 },
                                 { ", sun, ", 1.1 }, { "sky", 1.1 * 1.1 * 1.1 * 1.1 },
                                 { ".", 1.1 }, END });
  check_pieces ("(a:2) (b:2)", SDCL_PROMPT_A1111,
                (want_piece[]) { { "a", 2 }, { " ", 1 }, { "b", 2 }, END });
}

static int32_t
id_of (const sdcl_tokenizer *tok, const char *word)
{
  int32_t id;
  CHECK (sdcl_tokenizer_encode (tok, word, &id, 1) == 1, "%s is one token", word);
  return id;
}

static sdcl_status
read_chunks (const sdcl_tokenizer *tok, const GPtrArray *emb, const char *text,
             sdcl_prompt_chunks *c, sdcl_error *err)
{
  const sdcl_prompt_reader r = { .tok = tok, .pad_id = SDCL_CLIP_EOS,
                                 .syntax = SDCL_PROMPT_A1111, .embeddings = emb, .width = 32 };
  return sdcl_prompt_read (&r, text, c, err);
}

/* 75 tokens fill one chunk, the 76th starts the next; no truncation. */
static void
chunk_boundaries (const sdcl_tokenizer *tok)
{
  int32_t cat = id_of (tok, "cat");
  for (int words = 74; words <= 76; words++)
    {
      GString *s = g_string_new (NULL);
      for (int i = 0; i < words; i++)
        g_string_append (s, "cat ");
      sdcl_prompt_chunks c;
      sdcl_error err = { 0 };
      CHECK_OK (read_chunks (tok, NULL, s->str, &c, &err), err);
      int want = words <= 75 ? 1 : 2;
      CHECK (c.n_chunks == want && c.n_tokens == words, "%d words: %d chunks, %d tokens", words,
             c.n_chunks, c.n_tokens);
      CHECK (c.ids[0] == SDCL_CLIP_BOS && c.ids[1] == cat, "chunk 0 starts BOS cat");
      if (want == 2)
        CHECK (c.ids[77] == SDCL_CLIP_BOS && c.ids[78] == cat && c.ids[79] == SDCL_CLIP_EOS
               && c.ids[76] == SDCL_CLIP_EOS, "the 76th word opens chunk 1");
      sdcl_prompt_pad (&c, 3, 0);
      CHECK (c.n_chunks == 3 && c.ids[154] == SDCL_CLIP_BOS && c.ids[155] == SDCL_CLIP_EOS
             && c.ids[156] == 0 && c.weights[200] == 1.0f, "padded with an empty chunk");
      sdcl_prompt_chunks_clear (&c);
      g_string_free (s, TRUE);
    }
}

/* A literal <|endoftext|> is the EOS id in mid-chunk (as in transformers).
 * With EOS as the pad, the words after it stay; with another pad (SD 2.x's
 * "!"), A1111 pads from that first EOS on. */
static void
literal_eos (const sdcl_tokenizer *tok)
{
  int32_t cat = id_of (tok, "cat"), dog = id_of (tok, "dog");
  for (int pad = 0; pad < 2; pad++)
    {
      const int32_t pad_id = pad ? 0 : SDCL_CLIP_EOS;
      const sdcl_prompt_reader r = { .tok = tok, .pad_id = pad_id, .syntax = SDCL_PROMPT_A1111,
                                     .width = 32 };
      sdcl_prompt_chunks c;
      sdcl_error err = { 0 };
      CHECK_OK (sdcl_prompt_read (&r, "cat <|endoftext|> dog", &c, &err), err);
      CHECK (c.ids[1] == cat && c.ids[2] == SDCL_CLIP_EOS, "cat, then the literal EOS");
      CHECK (c.ids[3] == (pad ? 0 : dog) && c.ids[4] == (pad ? 0 : SDCL_CLIP_EOS),
             "pad %d: after the literal EOS %d %d", pad_id, c.ids[3], c.ids[4]);
      sdcl_prompt_chunks_clear (&c);
    }
}

static void
chunk_errors (const sdcl_tokenizer *tok)
{
  sdcl_prompt_chunks c;
  sdcl_error err = { 0 };
  GString *s = g_string_new (NULL);
  for (int i = 0; i < 75 * SDCL_MAX_PROMPT_CHUNKS + 1; i++)
    g_string_append (s, "cat ");
  CHECK (read_chunks (tok, NULL, s->str, &c, &err) == SDCL_ERR_INVALID_ARGUMENT
         && strstr (err.message, "too long") && c.n_chunks == 0,
         "a prompt of %d chunks is refused: %s", SDCL_MAX_PROMPT_CHUNKS + 1, err.message);
  g_string_truncate (s, 4 * 75 * SDCL_MAX_PROMPT_CHUNKS);
  CHECK_OK (read_chunks (tok, NULL, s->str, &c, &err), err);
  CHECK (c.n_chunks == SDCL_MAX_PROMPT_CHUNKS, "%d chunks taken", SDCL_MAX_PROMPT_CHUNKS);
  sdcl_prompt_chunks_clear (&c);
  g_string_free (s, TRUE);
  CHECK (read_chunks (tok, NULL, "(x:99999999999999999999999999999999999999999)", &c, &err)
         == SDCL_ERR_INVALID_ARGUMENT && strstr (err.message, "out of range"),
         "a weight beyond float is refused: %s", err.message);
}

/* A1111's emphasis keeps the chunk's mean and scales tokens relatively. */
static void
emphasis (void)
{
  float z[3 * 2] = { 1, 2, 3, 4, 5, 6 }, w[3] = { 1, 2, 1 };
  sdcl_prompt_emphasis (z, w, 3, 2);
  double mean = 0;
  for (int i = 0; i < 6; i++)
    mean += z[i] / 6;
  /* weighted: 1 2 6 8 5 6 (sum 28), rescaled by 21/28 */
  CHECK (fabs (mean - 3.5) < 1e-6 && fabs (z[2] - 6 * 0.75) < 1e-6 && fabs (z[0] - 0.75) < 1e-6,
         "emphasis: mean %g, z %g %g", mean, z[0], z[2]);
}

static void
golden_case (const sdcl_tokenizer *tok, const GPtrArray *emb, JsonObject *o)
{
  const char *prompt = json_object_get_string_member (o, "prompt");
  JsonArray *pieces = json_object_get_array_member (o, "pieces");
  GArray *got = sdcl_prompt_parse (prompt, SDCL_PROMPT_A1111);
  CHECK (got->len == json_array_get_length (pieces), "\"%s\": %u pieces, want %u", prompt,
         got->len, json_array_get_length (pieces));
  for (guint i = 0; i < MIN (got->len, json_array_get_length (pieces)); i++)
    {
      JsonObject *w = json_array_get_object_element (pieces, i);
      const sdcl_prompt_piece *p = &g_array_index (got, sdcl_prompt_piece, i);
      bool is_break = json_object_get_boolean_member (w, "break");
      double weight = json_object_get_double_member (w, "weight");
      CHECK (p->is_break == is_break
               && (is_break || (strcmp (p->text, json_object_get_string_member (w, "text")) == 0
                                && fabs (p->weight - weight) <= 1e-12 * fabs (weight))),
             "\"%s\" piece %u: \"%s\" x %.17g", prompt, i, p->is_break ? "BREAK" : p->text,
             p->weight);
    }
  sdcl_prompt_pieces_free (got);

  sdcl_prompt_chunks c;
  sdcl_error err = { 0 };
  CHECK_OK (read_chunks (tok, emb, prompt, &c, &err), err);
  JsonArray *ids = json_object_get_array_member (o, "ids");
  JsonArray *weights = json_object_get_array_member (o, "weights");
  JsonArray *fixes = json_object_get_array_member (o, "embedding_positions");
  CHECK ((guint) c.n_chunks == json_array_get_length (ids), "\"%s\": %d chunks, want %u", prompt,
         c.n_chunks, json_array_get_length (ids));
  for (int k = 0; k < MIN (c.n_chunks, (int) json_array_get_length (ids)); k++)
    {
      JsonArray *ki = json_array_get_array_element (ids, k);
      JsonArray *kw = json_array_get_array_element (weights, k);
      JsonArray *kf = json_array_get_array_element (fixes, k);
      guint f = 0;
      for (int t = 0; t < SDCL_CLIP_CONTEXT; t++)
        {
          int at = k * SDCL_CLIP_CONTEXT + t;
          double w = json_array_get_double_element (kw, t);
          bool fixed = f < json_array_get_length (kf) && json_array_get_int_element (kf, f) == t;
          f += fixed;
          CHECK (c.ids[at] == json_array_get_int_element (ki, t)
                   && fabs (c.weights[at] - (float) w) <= 1e-7 * fabs (w)
                   && (c.rows[at] != NULL) == fixed,
                 "\"%s\" chunk %d token %d: id %d x %g%s", prompt, k, t, c.ids[at],
                 c.weights[at], c.rows[at] ? " (embedding)" : "");
        }
    }
  sdcl_prompt_chunks_clear (&c);
}

int
main (void)
{
  hand_written ();
  emphasis ();
  sdcl_tokenizer *tok = tiny_tokenizer ("tiny-sd");
  chunk_boundaries (tok);
  chunk_errors (tok);
  literal_eos (tok);

  GPtrArray *emb = tiny_embeddings ();
  g_autofree char *path = fixture_path ("golden/prompt_parse.json");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) gerr = NULL;
  CHECK (json_parser_load_from_file (parser, path, &gerr), "%s", path);
  JsonArray *cases = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (parser)), "cases");
  for (guint i = 0; i < json_array_get_length (cases); i++)
    golden_case (tok, emb, json_array_get_object_element (cases, i));
  fprintf (stderr, "%u golden prompts\n", json_array_get_length (cases));
  g_ptr_array_unref (emb);
  sdcl_tokenizer_free (tok);
  return check_finish ();
}

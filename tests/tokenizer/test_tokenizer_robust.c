/* The tokenizer under stress: 10,000-character prompts and words, random
 * bytes, the word cache overflowing, several threads at once, and the
 * argument contract of encode/encode_clip.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <string.h>

#include "check.h"
#include "tokenizer.h"

#define PAD 49407

static sdcl_tokenizer *tok;

/* All ids of `text` (g_free), count in *n. */
static int32_t *
encode_all (const char *text, int *n)
{
  *n = sdcl_tokenizer_encode (tok, text, NULL, 0);
  int32_t *ids = g_new0 (int32_t, *n + 1);
  int again = sdcl_tokenizer_encode (tok, text, ids, *n);
  CHECK (again == *n, "count changed between calls: %d then %d", *n, again);
  return ids;
}

/* encode_clip must be BOS, the first 75 ids, EOS, then padding. */
static void
check_clip_sequence (const char *what, const char *text)
{
  int n;
  int32_t *ids = encode_all (text, &n);
  int32_t clip[SDCL_CLIP_CONTEXT];
  int content = sdcl_tokenizer_encode_clip (tok, text, PAD, clip);
  CHECK (content == n, "%s: encode_clip counts %d, encode %d", what, content, n);
  int kept = MIN (n, SDCL_CLIP_CONTEXT - 2);
  CHECK (clip[0] == SDCL_CLIP_BOS, "%s: first id %d", what, clip[0]);
  CHECK (memcmp (clip + 1, ids, (size_t) kept * sizeof *ids) == 0, "%s: content differs", what);
  CHECK (clip[kept + 1] == SDCL_CLIP_EOS, "%s: no EOS after %d ids", what, kept);
  for (int i = kept + 2; i < SDCL_CLIP_CONTEXT; i++)
    CHECK (clip[i] == PAD, "%s: position %d is %d, not padding", what, i, clip[i]);
  g_free (ids);
}

/* For a word of ASCII letters the byte-level symbols are the letters, so the
 * tokens of its ids spell it, with one "</w>" at the end. */
static void
check_word_spelled (const char *what, const char *word)
{
  int n;
  int32_t *ids = encode_all (word, &n);
  GString *spelled = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append (spelled, sdcl_tokenizer_token (tok, ids[i]));
  char *want = g_strconcat (word, "</w>", NULL);
  char *lower = g_ascii_strdown (want, -1);
  CHECK (strcmp (spelled->str, lower) == 0, "%s: %d tokens do not spell the word", what, n);
  fprintf (stderr, "%s: %zu characters -> %d tokens\n", what, strlen (word), n);
  g_free (lower);
  g_free (want);
  g_string_free (spelled, TRUE);
  g_free (ids);
}

static char *
long_prompt (int n_chars)
{
  static const char *const words[] = { "a", "majestic", "Castle", "on", "the", "hill,", "(8k:1.3)",
                                       "café", "東京", "don't", "3.14", "!!!", "🌅", "\t\n" };
  GString *text = g_string_new (NULL);
  for (int i = 0; g_utf8_strlen (text->str, -1) < n_chars; i++)
    g_string_append_printf (text, "%s ", words[i % G_N_ELEMENTS (words)]);
  /* Cut to exactly n_chars characters. */
  g_string_truncate (text, g_utf8_offset_to_pointer (text->str, n_chars) - text->str);
  return g_string_free (text, FALSE);
}

static void
test_long_inputs (void)
{
  char *prompt = long_prompt (10000);
  CHECK (g_utf8_strlen (prompt, -1) == 10000, "prompt length %ld", g_utf8_strlen (prompt, -1));
  int n;
  g_free (encode_all (prompt, &n));
  CHECK (n > SDCL_CLIP_CONTEXT, "10,000 characters gave only %d ids", n);
  fprintf (stderr, "10,000-character prompt: %d ids\n", n);
  check_clip_sequence ("10,000-character prompt", prompt);
  g_free (prompt);

  GString *word = g_string_new (NULL);
  while (word->len < 10000)
    g_string_append (word, "SuperCalifragilistic");
  check_word_spelled ("10,000-letter word", word->str);
  check_clip_sequence ("10,000-letter word", word->str);
  g_string_free (word, TRUE);

  char *run = g_strnfill (10000, 'a');
  check_word_spelled ("10,000 times 'a'", run);
  g_free (run);
}

static void
test_random_bytes (void)
{
  GRand *rand = g_rand_new_with_seed (20240607);
  char text[257];
  for (int round = 0; round < 3000; round++)
    {
      int len = g_rand_int_range (rand, 0, 256);
      for (int i = 0; i < len; i++)
        text[i] = (char) g_rand_int_range (rand, 1, 256);
      text[len] = '\0';
      int32_t ids[512];
      int n = sdcl_tokenizer_encode (tok, text, ids, G_N_ELEMENTS (ids));
      CHECK (n >= 0 && n <= (int) G_N_ELEMENTS (ids), "round %d: %d ids", round, n);
      for (int i = 0; i < MIN (n, (int) G_N_ELEMENTS (ids)); i++)
        CHECK (sdcl_tokenizer_token (tok, ids[i]), "round %d: id %d has no token", round, ids[i]);
      if (round % 100 == 0)
        check_clip_sequence ("random bytes", text);
    }
  g_rand_free (rand);
}

/* More distinct words than the cache holds: it is emptied and refilled, and
 * results stay the same. */
static void
test_cache_overflow (void)
{
  const char *probe = "a photo of a cat, the cat is photographed";
  int n_before;
  int32_t *before = encode_all (probe, &n_before);

  GString *many = g_string_new (NULL);
  for (int i = 0; i < 26 * 26 * 26; i++)
    g_string_append_printf (many, "q%c%c%c ", 'a' + i / 676, 'a' + i / 26 % 26, 'a' + i % 26);
  int n_many;
  g_free (encode_all (many->str, &n_many));
  CHECK (n_many >= 26 * 26 * 26, "%d ids for 17,576 words", n_many);
  g_string_free (many, TRUE);

  int n_after;
  int32_t *after = encode_all (probe, &n_after);
  CHECK (n_after == n_before && memcmp (after, before, (size_t) n_before * sizeof *before) == 0,
         "results changed after the cache overflowed");
  g_free (before);
  g_free (after);
}

typedef struct {
  const char *text;
  const int32_t *want;
  int want_n;
  gboolean ok;
} thread_job;

static gpointer
encode_in_thread (gpointer data)
{
  thread_job *job = data;
  job->ok = TRUE;
  for (int round = 0; round < 5; round++)
    {
      int32_t *ids = g_new (int32_t, job->want_n);
      int n = sdcl_tokenizer_encode (tok, job->text, ids, job->want_n);
      job->ok &= n == job->want_n && memcmp (ids, job->want, (size_t) n * sizeof *ids) == 0;
      g_free (ids);
    }
  return NULL;
}

static void
test_threads (void)
{
  char *prompt = long_prompt (3000);
  int n;
  int32_t *want = encode_all (prompt, &n);
  thread_job jobs[4];
  GThread *threads[4];
  for (int i = 0; i < 4; i++)
    {
      jobs[i] = (thread_job) { .text = prompt, .want = want, .want_n = n };
      threads[i] = g_thread_new ("encode", encode_in_thread, &jobs[i]);
    }
  for (int i = 0; i < 4; i++)
    {
      g_thread_join (threads[i]);
      CHECK (jobs[i].ok, "thread %d got different ids", i);
    }
  g_free (want);
  g_free (prompt);
}

static void
test_contract (void)
{
  /* NULL is the empty prompt: BOS, EOS, padding. */
  int32_t clip[SDCL_CLIP_CONTEXT];
  CHECK (sdcl_tokenizer_encode_clip (tok, NULL, PAD, clip) == 0, "NULL prompt has ids");
  CHECK (clip[0] == SDCL_CLIP_BOS && clip[1] == SDCL_CLIP_EOS && clip[2] == PAD
         && clip[76] == PAD, "NULL prompt: %d %d %d ... %d", clip[0], clip[1], clip[2], clip[76]);
  /* Another pad id is used as given (SD 2.x pads with id 0). */
  sdcl_tokenizer_encode_clip (tok, "a cat", 0, clip);
  CHECK (clip[3] == SDCL_CLIP_EOS && clip[4] == 0 && clip[76] == 0, "pad id 0 not used");

  /* Only max_ids ids are written; the full count is returned. */
  int32_t ids[8];
  for (int i = 0; i < 8; i++)
    ids[i] = -7;
  int n = sdcl_tokenizer_encode (tok, "one two three four five six", ids, 3);
  CHECK (n == 6, "count %d", n);
  CHECK (ids[2] != -7 && ids[3] == -7, "wrote past max_ids");
  CHECK (sdcl_tokenizer_encode (tok, "x", NULL, 0) == 1, "counting without a buffer");

  CHECK (sdcl_tokenizer_encode (NULL, "x", ids, 8) == -1, "NULL tokenizer accepted");
  CHECK (sdcl_tokenizer_encode (tok, "x", ids, -1) == -1, "negative max_ids accepted");
  CHECK (sdcl_tokenizer_encode (tok, "x", NULL, 8) == -1, "NULL buffer accepted");
}

int
main (void)
{
  sdcl_error err = { 0 };
  if (sdcl_tokenizer_load_default (&tok, &err) != SDCL_OK)
    {
      fprintf (stderr, "%s\n", err.message);
      return 1;
    }
  test_contract ();
  test_long_inputs ();
  test_random_bytes ();
  test_cache_overflow ();
  test_threads ();
  sdcl_tokenizer_free (tok);
  return check_finish ();
}

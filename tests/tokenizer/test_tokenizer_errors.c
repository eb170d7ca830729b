/* Malformed tokenizer files: each load fails with SDCL_ERR_TOKENIZER and a
 * message naming the file and the problem, and leaves *out NULL.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <string.h>

#include "check.h"
#include "clip_files.h"
#include "tokenizer.h"

static char *test_dir;
static char *valid_vocab;  /* a correct vocab.json */
static char *valid_merges; /* a correct merges.txt */

/* A file in test_dir with exactly `contents` (g_free the path). */
static char *
write_file (const char *name, const char *contents, gssize len)
{
  char *path = g_build_filename (test_dir, name, NULL);
  GError *error = NULL;
  if (!g_file_set_contents (path, contents, len, &error))
    {
      fprintf (stderr, "%s: %s\n", path, error->message);
      exit (1);
    }
  return path;
}

/* The message must contain every fragment (NULL-terminated list). */
static void
check_message (const char *what, const sdcl_error *err, const char *const *fragments)
{
  for (; *fragments; fragments++)
    CHECK (strstr (err->message, *fragments), "%s: message \"%s\" lacks \"%s\"", what,
           err->message, *fragments);
}

static void
expect_load_error (const char *what, const char *vocab, const char *merges,
                   const char *const *fragments)
{
  sdcl_tokenizer *tok = (sdcl_tokenizer *) &tok; /* must be reset to NULL */
  sdcl_error err = { 0 };
  sdcl_status status = sdcl_tokenizer_load (vocab, merges, &tok, &err);
  CHECK (status == SDCL_ERR_TOKENIZER, "%s: status %d, want SDCL_ERR_TOKENIZER", what, status);
  CHECK (err.code == SDCL_ERR_TOKENIZER, "%s: err.code %d", what, err.code);
  CHECK (tok == NULL, "%s: *out not NULL", what);
  check_message (what, &err, fragments);
  fprintf (stderr, "%s: %s\n", what, err.message);
}

/* A vocab.json with `json` as its text, paired with a valid merges.txt. */
static void
expect_vocab_error (const char *what, const char *json, const char *fragment)
{
  char *vocab = write_file ("bad-vocab.json", json, -1);
  expect_load_error (what, vocab, valid_merges,
                     (const char *const[]) { vocab, fragment, NULL });
  g_unlink (vocab);
  g_free (vocab);
}

/* A merges.txt with `len` bytes of `text`, paired with a valid vocab.json. */
static void
expect_merges_error (const char *what, const char *text, gssize len, const char *fragment)
{
  char *merges = write_file ("bad-merges.txt", text, len);
  expect_load_error (what, valid_vocab, merges,
                     (const char *const[]) { merges, fragment, NULL });
  g_unlink (merges);
  g_free (merges);
}

static void
test_vocab_errors (void)
{
  char *missing = g_build_filename (test_dir, "no-such-vocab.json", NULL);
  expect_load_error ("missing vocab.json", missing, valid_merges,
                     (const char *const[]) { missing, NULL });
  g_free (missing);

  expect_vocab_error ("vocab.json not JSON", "{\"a\": 0,", "invalid JSON");
  expect_vocab_error ("vocab.json empty", "", "invalid JSON");
  expect_vocab_error ("duplicate token", "{\"a\": 0, \"a\": 1}", "duplicate key");
  expect_vocab_error ("vocab.json not UTF-8", "{\"\xff\": 0}", "not UTF-8");
  expect_vocab_error ("vocab.json an array", "[0, 1]", "not a JSON object");
  expect_vocab_error ("string id", "{\"a\": \"0\"}", "id of \"a\" is not an integer");
  expect_vocab_error ("fractional id", "{\"a\": 0.5}", "id of \"a\" is not an integer");
  expect_vocab_error ("null id", "{\"a\": null}", "id of \"a\" is not an integer");
  expect_vocab_error ("object id", "{\"a\": {}}", "id of \"a\" is not an integer");
  expect_vocab_error ("id out of range", "{\"a\": 0, \"b\": 7}",
                      "\"b\" has id 7; the ids of 2 tokens must be 0 .. 1");
  expect_vocab_error ("negative id", "{\"a\": -1}", "\"a\" has id -1");
  expect_vocab_error ("duplicate id", "{\"a\": 0, \"b\": 0}", "id 0 is given to both");
  expect_vocab_error ("no BOS", "{\"a\": 0}", "no \"<|startoftext|>\" token");
  expect_vocab_error ("special tokens at the wrong ids",
                      "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}",
                      "\"<|startoftext|>\" has id 0; CLIP tokenizers need 49406");
}

static void
test_merges_errors (void)
{
  char *missing = g_build_filename (test_dir, "no-such-merges.txt", NULL);
  expect_load_error ("missing merges.txt", valid_vocab, missing,
                     (const char *const[]) { missing, NULL });
  g_free (missing);

  expect_merges_error ("merge line without a space", "#version: 0.2\ni n\nth\n", -1,
                       "line 3 is not a merge");
  expect_merges_error ("merge line with two spaces", "#version: 0.2\ni  n\n", -1,
                       "line 2 is not a merge");
  expect_merges_error ("merge line with three tokens", "#version: 0.2\ni n t\n", -1,
                       "line 2 is not a merge");
  expect_merges_error ("blank merge line", "#version: 0.2\ni n\n\nt h\n", -1,
                       "line 3 is not a merge");
  expect_merges_error ("merge of an unknown token", "#version: 0.2\ni n\nzzqq h\n", -1,
                       "line 3 merges \"zzqq\" and \"h\", but \"zzqq\" is not in the vocabulary");
  expect_merges_error ("merge into an unknown token", "#version: 0.2\nx</w> y</w>\n", -1,
                       "\"x</w>y</w>\" is not in the vocabulary");
  expect_merges_error ("merges.txt not UTF-8", "#version: 0.2\n\xff\xfe \x80\n", -1,
                       "not UTF-8");
  expect_merges_error ("empty merges.txt", "", 0, "has 0 merges");

  /* A truncated file: only its first 1000 merges. */
  GPtrArray *tokens, *merges;
  GError *error = NULL;
  CHECK (clip_build_vocabulary (&tokens, &merges, &error), "%s", error ? error->message : "");
  if (!error)
    {
      char *path = g_build_filename (test_dir, "short-merges.txt", NULL);
      CHECK (clip_write_merges_txt (path, merges, 1000, NULL), "writing %s", path);
      expect_load_error ("truncated merges.txt", valid_vocab, path,
                         (const char *const[]) { path, "has 1000 merges", "need 48894", NULL });
      g_unlink (path);
      g_free (path);
      g_ptr_array_unref (tokens);
      g_ptr_array_unref (merges);
    }
  g_clear_error (&error);

  sdcl_tokenizer *tok = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_tokenizer_load (NULL, valid_merges, &tok, &err) == SDCL_ERR_TOKENIZER,
         "NULL vocab path accepted");
}

/* ---- the installed merges file ----------------------------------------- */

/* load_default with $SDCL_DATA_DIR/clip/bpe_simple_vocab_16e6.txt.gz holding
 * `len` bytes of `contents`. */
static void
expect_default_error (const char *what, const char *contents, gsize len, gboolean compress,
                      const char *fragment)
{
  char *data_dir = g_build_filename (test_dir, "data", NULL);
  char *clip_dir = g_build_filename (data_dir, "clip", NULL);
  char *gz = g_build_filename (clip_dir, "bpe_simple_vocab_16e6.txt.gz", NULL);
  g_mkdir_with_parents (clip_dir, 0700);
  GError *error = NULL;
  gboolean written = compress ? clip_write_gzip (gz, contents, len, &error)
                              : g_file_set_contents (gz, contents, (gssize) len, &error);
  CHECK (written, "%s: %s", gz, error ? error->message : "");
  g_clear_error (&error);

  char *saved = g_strdup (g_getenv ("SDCL_DATA_DIR"));
  g_setenv ("SDCL_DATA_DIR", data_dir, TRUE);
  sdcl_tokenizer *tok = (sdcl_tokenizer *) &tok;
  sdcl_error err = { 0 };
  sdcl_status status = sdcl_tokenizer_load_default (&tok, &err);
  g_setenv ("SDCL_DATA_DIR", saved, TRUE);

  CHECK (status == SDCL_ERR_TOKENIZER, "%s: status %d", what, status);
  CHECK (tok == NULL, "%s: *out not NULL", what);
  check_message (what, &err, (const char *const[]) { gz, fragment, NULL });
  fprintf (stderr, "%s: %s\n", what, err.message);

  g_unlink (gz);
  g_rmdir (clip_dir);
  g_rmdir (data_dir);
  g_free (saved);
  g_free (gz);
  g_free (clip_dir);
  g_free (data_dir);
}

static void
test_default_errors (void)
{
  char *real_gz = clip_default_gz_path ();
  char *compressed = NULL;
  gsize compressed_len = 0;
  CHECK (g_file_get_contents (real_gz, &compressed, &compressed_len, NULL), "reading %s",
         real_gz);
  g_free (real_gz);
  if (!compressed)
    return;

  /* Two thirds of the real file: the gzip stream ends early. */
  expect_default_error ("truncated gzip", compressed, compressed_len * 2 / 3, FALSE,
                        "cannot read it as gzip");
  g_free (compressed);

  const char *text = "not gzip at all\n";
  expect_default_error ("not gzip", text, strlen (text), FALSE, "cannot read it as gzip");

  GString *few = g_string_new ("\"bpe_simple_vocab_16e6.txt#version: 0.2\n");
  for (int i = 0; i < 100; i++)
    g_string_append (few, "i n\n");
  expect_default_error ("too few merges", few->str, few->len, TRUE,
                        "has 100 merges; CLIP's vocabulary needs 48894");
  g_string_free (few, TRUE);

  text = "#version: 0.2\ni n\nth\n";
  expect_default_error ("bad merge line", text, strlen (text), TRUE, "line 3 is not a merge");
  text = "#version: 0.2\ni n\n\xc3\x28 x\n";
  expect_default_error ("not UTF-8", text, strlen (text), TRUE, "not UTF-8");
  expect_default_error ("empty", "", 0, TRUE, "empty file");
}

int
main (void)
{
  GError *error = NULL;
  test_dir = g_dir_make_tmp ("sdcl-tokenizer-errors-XXXXXX", &error);
  if (!test_dir || !clip_write_tokenizer_dir (test_dir, &valid_vocab, &valid_merges, &error))
    {
      fprintf (stderr, "setting up: %s\n", error->message);
      return 1;
    }

  /* The valid pair loads: the errors below come from the one broken file. */
  sdcl_tokenizer *tok = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_tokenizer_load (valid_vocab, valid_merges, &tok, &err) == SDCL_OK, "%s",
         err.message);
  sdcl_tokenizer_free (tok);
  sdcl_tokenizer_free (NULL);

  test_vocab_errors ();
  test_merges_errors ();
  test_default_errors ();

  g_unlink (valid_vocab);
  g_unlink (valid_merges);
  g_rmdir (test_dir);
  g_free (valid_vocab);
  g_free (valid_merges);
  g_free (test_dir);
  return check_finish ();
}

/* The C tokenizer against transformers' CLIPTokenizer: every prompt of
 * tests/reference/fixtures/golden/tokens.json (see gen_tokens.py), through
 * both loaders: the installed merges file and vocab.json + merges.txt
 * written from it into a temporary folder; and, when the tiny model fixture
 * is there, through its tokenizer/ folder (written by Python).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "check.h"
#include "clip_files.h"
#include "tokenizer.h"

typedef struct {
  const char *name;
  char *prompt; /* raw bytes, NUL-terminated */
  GArray *ids;
  GArray *input_ids;
  JsonArray *tokens; /* NULL when the golden file has none */
} golden_case;

static GArray *
int_array (JsonArray *array)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      int32_t id = (int32_t) json_array_get_int_element (array, i);
      g_array_append_val (out, id);
    }
  return out;
}

static char *
bytes_from_hex (const char *hex)
{
  size_t n = strlen (hex) / 2;
  char *bytes = g_malloc (n + 1);
  for (size_t i = 0; i < n; i++)
    bytes[i] = (char) (g_ascii_xdigit_value (hex[2 * i]) * 16 + g_ascii_xdigit_value (hex[2 * i + 1]));
  bytes[n] = '\0';
  return bytes;
}

static golden_case
read_case (JsonObject *object)
{
  golden_case c = { .name = json_object_get_string_member (object, "name") };
  if (json_object_has_member (object, "prompt_utf8_hex"))
    c.prompt = bytes_from_hex (json_object_get_string_member (object, "prompt_utf8_hex"));
  else
    c.prompt = g_strdup (json_object_get_string_member (object, "prompt"));
  c.ids = int_array (json_object_get_array_member (object, "ids"));
  c.input_ids = int_array (json_object_get_array_member (object, "input_ids"));
  if (json_object_has_member (object, "tokens"))
    c.tokens = json_object_get_array_member (object, "tokens");
  return c;
}

static void
free_case (golden_case *c)
{
  g_free (c->prompt);
  g_array_free (c->ids, TRUE);
  g_array_free (c->input_ids, TRUE);
}

/* First index where a and b differ, or -1. */
static int
first_difference (const int32_t *a, const int32_t *b, int n)
{
  for (int i = 0; i < n; i++)
    if (a[i] != b[i])
      return i;
  return -1;
}

static void
check_case (const sdcl_tokenizer *tok, const char *loader, const golden_case *c, int32_t pad_id)
{
  int want_n = (int) c->ids->len;
  int32_t *ids = g_new0 (int32_t, want_n + 1);
  int n = sdcl_tokenizer_encode (tok, c->prompt, ids, want_n + 1);
  CHECK (n == want_n, "%s, \"%s\": %d ids, want %d", loader, c->name, n, want_n);
  int diff = first_difference (ids, (const int32_t *) c->ids->data, MIN (n, want_n));
  CHECK (diff < 0, "%s, \"%s\": id %d is %d, want %d", loader, c->name, diff,
         diff < 0 ? 0 : ids[diff], diff < 0 ? 0 : g_array_index (c->ids, int32_t, diff));
  g_free (ids);

  int32_t clip[SDCL_CLIP_CONTEXT];
  int content = sdcl_tokenizer_encode_clip (tok, c->prompt, pad_id, clip);
  CHECK (content == want_n, "%s, \"%s\": encode_clip counts %d, want %d", loader, c->name,
         content, want_n);
  diff = first_difference (clip, (const int32_t *) c->input_ids->data, SDCL_CLIP_CONTEXT);
  CHECK (diff < 0, "%s, \"%s\": input id %d is %d, want %d", loader, c->name, diff,
         diff < 0 ? 0 : clip[diff], diff < 0 ? 0 : g_array_index (c->input_ids, int32_t, diff));

  for (guint i = 0; c->tokens && i < json_array_get_length (c->tokens); i++)
    {
      const char *want = json_array_get_string_element (c->tokens, i);
      const char *got = sdcl_tokenizer_token (tok, g_array_index (c->ids, int32_t, i));
      CHECK (got && strcmp (got, want) == 0, "%s, \"%s\": token %u is \"%s\", want \"%s\"",
             loader, c->name, i, got ? got : "(null)", want);
    }
}

static void
check_all_cases (const sdcl_tokenizer *tok, const char *loader, JsonObject *golden)
{
  int32_t pad_id = (int32_t) json_object_get_int_member (golden, "pad_id");
  JsonArray *cases = json_object_get_array_member (golden, "cases");
  guint n = json_array_get_length (cases);
  for (guint i = 0; i < n; i++)
    {
      golden_case c = read_case (json_array_get_object_element (cases, i));
      check_case (tok, loader, &c, pad_id);
      free_case (&c);
    }
  fprintf (stderr, "%s: compared %u prompts\n", loader, n);
}

/* Both loaders must give the same vocabulary, id for id. */
static void
check_same_vocabulary (const sdcl_tokenizer *a, const sdcl_tokenizer *b)
{
  int differences = 0;
  for (int32_t id = 0; id < SDCL_CLIP_EOS + 1; id++)
    {
      const char *ta = sdcl_tokenizer_token (a, id), *tb = sdcl_tokenizer_token (b, id);
      if (!ta || !tb || strcmp (ta, tb) != 0)
        differences++;
    }
  CHECK (differences == 0, "the loaders disagree on %d token strings", differences);
  CHECK (sdcl_tokenizer_token (a, SDCL_CLIP_EOS + 1) == NULL, "id past the vocabulary has a token");
  CHECK (sdcl_tokenizer_token (a, -1) == NULL, "id -1 has a token");
}

int
main (void)
{
  const char *fixtures = g_getenv ("SDCL_FIXTURES");
  if (!fixtures || !g_getenv ("SDCL_DATA_DIR"))
    {
      fprintf (stderr, "SDCL_FIXTURES and SDCL_DATA_DIR must be set (run through meson test)\n");
      return 1;
    }
  char *golden_path = g_build_filename (fixtures, "golden", "tokens.json", NULL);
  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  if (!json_parser_load_from_file (parser, golden_path, &error))
    {
      fprintf (stderr, "%s: %s\n", golden_path, error->message);
      return 1;
    }
  JsonObject *golden = json_node_get_object (json_parser_get_root (parser));

  sdcl_error err = { 0 };
  sdcl_tokenizer *from_default = NULL;
  sdcl_status status = sdcl_tokenizer_load_default (&from_default, &err);
  CHECK (status == SDCL_OK, "default vocabulary: %s", err.message);
  if (from_default)
    check_all_cases (from_default, "installed vocabulary", golden);

  char *dir = g_dir_make_tmp ("sdcl-tokenizer-XXXXXX", &error);
  char *vocab = NULL, *merges = NULL;
  CHECK (dir && clip_write_tokenizer_dir (dir, &vocab, &merges, &error), "writing files: %s",
         error ? error->message : "");
  sdcl_tokenizer *from_files = NULL;
  if (vocab && merges)
    {
      status = sdcl_tokenizer_load (vocab, merges, &from_files, &err);
      CHECK (status == SDCL_OK, "vocab.json + merges.txt: %s", err.message);
    }
  if (from_files)
    check_all_cases (from_files, "vocab.json + merges.txt", golden);
  if (from_default && from_files)
    check_same_vocabulary (from_default, from_files);

  char *fixture_vocab = g_build_filename (fixtures, "models", "tiny-sd", "tokenizer",
                                          "vocab.json", NULL);
  char *fixture_merges = g_build_filename (fixtures, "models", "tiny-sd", "tokenizer",
                                           "merges.txt", NULL);
  if (g_file_test (fixture_vocab, G_FILE_TEST_EXISTS))
    {
      sdcl_tokenizer *from_fixture = NULL;
      status = sdcl_tokenizer_load (fixture_vocab, fixture_merges, &from_fixture, &err);
      CHECK (status == SDCL_OK, "tiny-sd tokenizer/: %s", err.message);
      if (from_fixture)
        check_all_cases (from_fixture, "tiny-sd tokenizer/", golden);
      sdcl_tokenizer_free (from_fixture);
    }
  else
    fprintf (stderr, "%s is absent: its tokenizer is not compared\n", fixture_vocab);
  g_free (fixture_vocab);
  g_free (fixture_merges);

  sdcl_tokenizer_free (from_files);
  sdcl_tokenizer_free (from_default);
  if (vocab)
    g_unlink (vocab);
  if (merges)
    g_unlink (merges);
  if (dir)
    g_rmdir (dir);
  g_free (vocab);
  g_free (merges);
  g_free (dir);
  g_clear_error (&error);
  g_object_unref (parser);
  g_free (golden_path);
  return check_finish ();
}

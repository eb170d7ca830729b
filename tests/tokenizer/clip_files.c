/* Test helpers: CLIP tokenizer files from the installed merges file.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "clip_files.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

/* CLIP keeps lines 1 .. 49152 - 256 - 2 of the merges file. */
#define CLIP_MERGES 48894

char *
clip_default_gz_path (void)
{
  const char *data_dir = g_getenv ("SDCL_DATA_DIR");
  if (!data_dir)
    return NULL;
  return g_build_filename (data_dir, "clip", "bpe_simple_vocab_16e6.txt.gz", NULL);
}

char *
clip_read_gzip (const char *path, GError **error)
{
  char *compressed;
  gsize len;
  if (!g_file_get_contents (path, &compressed, &len, error))
    return NULL;
  GInputStream *raw = g_memory_input_stream_new_from_data (compressed, len, g_free);
  GConverter *gunzip = G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP));
  GInputStream *in = g_converter_input_stream_new (raw, gunzip);
  GOutputStream *out = g_memory_output_stream_new_resizable ();
  char *text = NULL;
  if (g_output_stream_splice (out, in, 0, NULL, error) >= 0
      && g_output_stream_write_all (out, "", 1, NULL, NULL, error)
      && g_output_stream_close (out, NULL, error))
    text = g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (out));
  g_object_unref (out);
  g_object_unref (in);
  g_object_unref (gunzip);
  g_object_unref (raw);
  return text;
}

gboolean
clip_write_gzip (const char *path, const char *data, gsize len, GError **error)
{
  GConverter *gzip = G_CONVERTER (g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1));
  GOutputStream *memory = g_memory_output_stream_new_resizable ();
  GOutputStream *out = g_converter_output_stream_new (memory, gzip);
  gboolean ok = g_output_stream_write_all (out, data, len, NULL, NULL, error)
                && g_output_stream_close (out, NULL, error);
  if (ok)
    ok = g_file_set_contents (path,
                              g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (memory)),
                              (gssize) g_memory_output_stream_get_data_size (
                                G_MEMORY_OUTPUT_STREAM (memory)),
                              error);
  g_object_unref (out);
  g_object_unref (memory);
  g_object_unref (gzip);
  return ok;
}

/* Byte b as CLIP's byte-level symbol: printable Latin-1 stands for itself,
 * the 68 other bytes become U+0100 onwards in byte order. */
static gboolean
byte_is_printable (int b)
{
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static GPtrArray *
byte_symbols_in_vocabulary_order (void)
{
  GPtrArray *symbols = g_ptr_array_new_with_free_func (g_free);
  char utf8[8];
  for (int b = 0; b < 256; b++)
    if (byte_is_printable (b))
      g_ptr_array_add (symbols, g_strndup (utf8, g_unichar_to_utf8 (b, utf8)));
  gunichar next = 0x100;
  for (int b = 0; b < 256; b++)
    if (!byte_is_printable (b))
      g_ptr_array_add (symbols, g_strndup (utf8, g_unichar_to_utf8 (next++, utf8)));
  return symbols;
}

gboolean
clip_build_vocabulary (GPtrArray **tokens_out, GPtrArray **merges_out, GError **error)
{
  char *gz = clip_default_gz_path ();
  if (!gz)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "SDCL_DATA_DIR is not set");
      return FALSE;
    }
  char *text = clip_read_gzip (gz, error);
  g_free (gz);
  if (!text)
    return FALSE;

  GPtrArray *tokens = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *merges = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *bytes = byte_symbols_in_vocabulary_order ();
  for (guint i = 0; i < bytes->len; i++)
    g_ptr_array_add (tokens, g_strdup (bytes->pdata[i]));
  for (guint i = 0; i < bytes->len; i++)
    g_ptr_array_add (tokens, g_strconcat (bytes->pdata[i], "</w>", NULL));
  g_ptr_array_unref (bytes);

  /* Line by line with strchr: g_strsplit on the whole text is quadratic
   * under AddressSanitizer, whose strstr checks the entire rest. */
  char *line = strchr (text, '\n'); /* after the header line */
  for (int i = 0; i < CLIP_MERGES; i++)
    {
      char *end = line ? strchr (line + 1, '\n') : NULL;
      char *space = end ? memchr (line + 1, ' ', (size_t) (end - line - 1)) : NULL;
      if (!space)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "merge %d missing", i + 1);
          g_ptr_array_unref (tokens);
          g_ptr_array_unref (merges);
          g_free (text);
          return FALSE;
        }
      g_ptr_array_add (merges, g_strndup (line + 1, (size_t) (end - line - 1)));
      char *left = g_strndup (line + 1, (size_t) (space - line - 1));
      char *right = g_strndup (space + 1, (size_t) (end - space - 1));
      g_ptr_array_add (tokens, g_strconcat (left, right, NULL));
      g_free (left);
      g_free (right);
      line = end;
    }
  g_ptr_array_add (tokens, g_strdup ("<|startoftext|>"));
  g_ptr_array_add (tokens, g_strdup ("<|endoftext|>"));
  g_free (text);
  *tokens_out = tokens;
  *merges_out = merges;
  return TRUE;
}

gboolean
clip_write_vocab_json (const char *path, GPtrArray *tokens, GError **error)
{
  JsonBuilder *builder = json_builder_new ();
  json_builder_begin_object (builder);
  for (guint id = 0; id < tokens->len; id++)
    {
      json_builder_set_member_name (builder, tokens->pdata[id]);
      json_builder_add_int_value (builder, id);
    }
  json_builder_end_object (builder);
  JsonNode *root = json_builder_get_root (builder);
  JsonGenerator *generator = json_generator_new ();
  json_generator_set_root (generator, root);
  gboolean ok = json_generator_to_file (generator, path, error);
  g_object_unref (generator);
  json_node_unref (root);
  g_object_unref (builder);
  return ok;
}

gboolean
clip_write_merges_txt (const char *path, GPtrArray *merges, guint n_merges, GError **error)
{
  GString *text = g_string_new ("#version: 0.2\n");
  for (guint i = 0; i < n_merges && i < merges->len; i++)
    g_string_append_printf (text, "%s\n", (const char *) merges->pdata[i]);
  gboolean ok = g_file_set_contents (path, text->str, (gssize) text->len, error);
  g_string_free (text, TRUE);
  return ok;
}

gboolean
clip_write_tokenizer_dir (const char *dir, char **vocab_path, char **merges_path, GError **error)
{
  GPtrArray *tokens, *merges;
  if (!clip_build_vocabulary (&tokens, &merges, error))
    return FALSE;
  *vocab_path = g_build_filename (dir, "vocab.json", NULL);
  *merges_path = g_build_filename (dir, "merges.txt", NULL);
  gboolean ok = clip_write_vocab_json (*vocab_path, tokens, error)
                && clip_write_merges_txt (*merges_path, merges, merges->len, error);
  g_ptr_array_unref (tokens);
  g_ptr_array_unref (merges);
  return ok;
}

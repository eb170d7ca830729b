/* Test helpers: CLIP tokenizer files written from the installed merges file,
 * independently of the engine's own loader (the construction of
 * tests/reference/clip_vocab.py, redone in C so the tests need no Python).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_CLIP_FILES_H
#define SDCL_TEST_CLIP_FILES_H

#include <glib.h>

/* $SDCL_DATA_DIR/clip/bpe_simple_vocab_16e6.txt.gz (g_free), or NULL when
 * SDCL_DATA_DIR is not set. */
char *clip_default_gz_path (void);

/* The decompressed text of a gzip file, or NULL with *error set. */
char *clip_read_gzip (const char *path, GError **error);
/* Writes `len` bytes to `path` gzip-compressed.  Returns FALSE on error. */
gboolean clip_write_gzip (const char *path, const char *data, gsize len, GError **error);

/* CLIP's 49408 tokens in id order and its 48894 merges ("left right"), built
 * from the installed merges file.  Free both with g_ptr_array_unref. */
gboolean clip_build_vocabulary (GPtrArray **tokens, GPtrArray **merges, GError **error);

/* vocab.json (token -> id) for `tokens` in id order, and merges.txt with a
 * "#version" header and the first `n_merges` of `merges`. */
gboolean clip_write_vocab_json (const char *path, GPtrArray *tokens, GError **error);
gboolean clip_write_merges_txt (const char *path, GPtrArray *merges, guint n_merges,
                                GError **error);

/* Both files into `dir`; returns their paths (g_free) through the out
 * arguments. */
gboolean clip_write_tokenizer_dir (const char *dir, char **vocab_path, char **merges_path,
                                   GError **error);

#endif

/* Shared by the prompt tests: the tiny model's tokenizer and embeddings.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_PROMPT_FIXTURE_H
#define SDCL_TEST_PROMPT_FIXTURE_H

#include "check.h"
#include "golden.h"
#include "embedding.h"
#include "prompt.h"
#include "prompt_parse.h"
#include "tokenizer.h"

#ifndef CHECK_OK
/* st must be SDCL_OK, else the test stops naming the error. */
#define CHECK_OK(st, err)                                                          \
  do {                                                                             \
    sdcl_status st_ = (st);                                                        \
    if (st_ != SDCL_OK)                                                            \
      {                                                                            \
        fprintf (stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #st,   \
                 (err).message, sdcl_status_name (st_));                           \
        exit (1);                                                                  \
      }                                                                            \
  } while (0)
#endif

/* tiny-sd's tokenizer/ (the real CLIP vocabulary). */
static inline sdcl_tokenizer *
tiny_tokenizer (const char *model)
{
  g_autofree char *rel_v = g_strdup_printf ("models/%s/tokenizer/vocab.json", model);
  g_autofree char *rel_m = g_strdup_printf ("models/%s/tokenizer/merges.txt", model);
  g_autofree char *vocab = fixture_path (rel_v);
  g_autofree char *merges = fixture_path (rel_m);
  sdcl_tokenizer *tok = NULL;
  sdcl_error err = { 0 };
  if (sdcl_tokenizer_load (vocab, merges, &tok, &err) != SDCL_OK)
    {
      fprintf (stderr, "%s\n", err.message);
      exit (1);
    }
  return tok;
}

/* fixtures/embeddings/<name> */
static inline char *
embedding_path (const char *name)
{
  g_autofree char *rel = g_build_filename ("embeddings", name, NULL);
  return fixture_path (rel);
}

/* tinyemb (2 vectors) and learned_embeds (1), as prompt_fixtures.py. */
static inline GPtrArray *
tiny_embeddings (void)
{
  g_autofree char *a = embedding_path ("tinyemb.safetensors");
  g_autofree char *b = embedding_path ("learned_embeds.safetensors");
  const char *paths[] = { a, b };
  GPtrArray *e = NULL;
  sdcl_error err = { 0 };
  if (sdcl_embeddings_load (paths, 2, &e, &err) != SDCL_OK)
    {
      fprintf (stderr, "%s\n", err.message);
      exit (1);
    }
  return e;
}

#endif

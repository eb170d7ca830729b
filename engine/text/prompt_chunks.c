/* Prompt text -> chunks of 77 token ids with weights and embedding rows,
 * as A1111's FrozenCLIPEmbedderWithCustomWords.tokenize_line does
 * (docs/diffusion.md §Long prompts).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "prompt.h"

#include <math.h>
#include <string.h>

#include "error_internal.h"
#include "embedding.h"
#include "prompt_parse.h"

/* A1111's comma_padding_backtrack default: a chunk that fills up moves
 * the words after its last comma to the next chunk when that comma is at
 * most this many tokens back. */
#define COMMA_BACKTRACK 20
/* The id an embedding's positions carry (their rows replace the token's). */
#define EMBEDDING_ID 0

typedef struct {
  int32_t *ids;          /* the name's tokens */
  int n_ids;
  int n_vectors;
  const float *vectors;  /* [n_vectors, width] for this tower */
} known_embedding;

/* The chunk being filled, and the finished ones. */
typedef struct {
  const sdcl_prompt_reader *r;
  int32_t comma;
  GArray *ids, *weights, *rows;      /* current chunk's content */
  GArray *out_ids, *out_weights, *out_rows;
  int last_comma;
  int n_tokens;
} chunker;

static GArray *
tokens_of (const sdcl_prompt_reader *r, const char *text)
{
  int n = sdcl_tokenizer_encode_padded (r->tok, text, r->pad_id, NULL, 0);
  GArray *a = g_array_sized_new (FALSE, FALSE, sizeof (int32_t), (guint) MAX (n, 0));
  g_array_set_size (a, (guint) MAX (n, 0));
  if (n > 0)
    sdcl_tokenizer_encode_padded (r->tok, text, r->pad_id, (int32_t *) a->data, n);
  return a;
}

/* Closes the current chunk: EOS up to 75, BOS and EOS around, and the
 * family's pad after the first EOS (SD 2.x pads with "!"). */
static void
next_chunk (chunker *c)
{
  const float one = 1.0f;
  const float *none = NULL;
  const int32_t bos = SDCL_CLIP_BOS, eos = SDCL_CLIP_EOS;
  guint start = c->out_ids->len;
  g_array_append_val (c->out_ids, bos);
  g_array_append_vals (c->out_ids, c->ids->data, c->ids->len);
  g_array_append_vals (c->out_weights, &one, 1);
  g_array_append_vals (c->out_weights, c->weights->data, c->weights->len);
  g_array_append_vals (c->out_rows, &none, 1);
  g_array_append_vals (c->out_rows, c->rows->data, c->rows->len);
  while (c->out_ids->len < start + SDCL_CLIP_CONTEXT)
    {
      g_array_append_val (c->out_ids, eos);
      g_array_append_val (c->out_weights, one);
      g_array_append_val (c->out_rows, none);
    }
  /* As A1111 does, only a pad other than EOS overwrites: from the first EOS
   * on, which is the closing one unless the prompt holds a literal
   * <|endoftext|>.  With EOS as the pad, nothing the user wrote is lost. */
  int32_t *ids = &g_array_index (c->out_ids, int32_t, start);
  int first_eos = 0;
  while (ids[first_eos] != SDCL_CLIP_EOS)
    first_eos++;
  for (int i = first_eos + 1; c->r->pad_id != SDCL_CLIP_EOS && i < SDCL_CLIP_CONTEXT; i++)
    ids[i] = c->r->pad_id;
  g_array_set_size (c->ids, 0);
  g_array_set_size (c->weights, 0);
  g_array_set_size (c->rows, 0);
  c->last_comma = -1;
}

static void
push (chunker *c, int32_t id, float weight, const float *row)
{
  g_array_append_val (c->ids, id);
  g_array_append_val (c->weights, weight);
  g_array_append_val (c->rows, row);
}

/* A full chunk whose last comma is near its end: the tokens after the
 * comma move on to the next chunk. */
static void
backtrack_to_comma (chunker *c)
{
  guint keep = (guint) c->last_comma + 1, moved = c->ids->len - keep;
  int32_t *ids = g_memdup2 (&g_array_index (c->ids, int32_t, keep), moved * sizeof (int32_t));
  float *w = g_memdup2 (&g_array_index (c->weights, float, keep), moved * sizeof (float));
  const float **rows = g_memdup2 (&g_array_index (c->rows, const float *, keep),
                                  moved * sizeof (float *));
  g_array_set_size (c->ids, keep);
  g_array_set_size (c->weights, keep);
  g_array_set_size (c->rows, keep);
  next_chunk (c);
  for (guint i = 0; i < moved; i++)
    push (c, ids[i], w[i], rows[i]);
  g_free (ids);
  g_free (w);
  g_free (rows);
}

/* The embedding whose name's tokens start at ids[pos], longest first. */
static const known_embedding *
embedding_at (const GArray *known, const int32_t *ids, int n, int pos)
{
  const known_embedding *best = NULL;
  for (guint i = 0; i < known->len; i++)
    {
      const known_embedding *k = &g_array_index (known, known_embedding, i);
      if (k->n_ids > 0 && pos + k->n_ids <= n && (!best || k->n_ids > best->n_ids)
          && memcmp (ids + pos, k->ids, (size_t) k->n_ids * sizeof (int32_t)) == 0)
        best = k;
    }
  return best;
}

/* One piece's tokens into the chunks (tokenize_line's inner loop). */
static void
add_piece (chunker *c, const GArray *known, const int32_t *ids, int n, float weight)
{
  int pos = 0;
  while (pos < n)
    {
      int len = (int) c->ids->len;
      if (ids[pos] == c->comma)
        c->last_comma = len;
      else if (len == SDCL_PROMPT_CHUNK && c->last_comma != -1
               && len - c->last_comma <= COMMA_BACKTRACK)
        backtrack_to_comma (c);
      if ((int) c->ids->len == SDCL_PROMPT_CHUNK)
        next_chunk (c);
      const known_embedding *e = embedding_at (known, ids, n, pos);
      if (!e)
        {
          push (c, ids[pos++], weight, NULL);
          c->n_tokens++;
          continue;
        }
      if ((int) c->ids->len + e->n_vectors > SDCL_PROMPT_CHUNK)
        next_chunk (c);
      for (int v = 0; v < e->n_vectors; v++)
        push (c, EMBEDDING_ID, weight, e->vectors + (size_t) v * c->r->width);
      c->n_tokens += e->n_vectors;
      pos += e->n_ids;
    }
}

static void
clear_known (gpointer data)
{
  g_free (((known_embedding *) data)->ids);
}

/* Every embedding's tokens and vectors for this tower. */
static sdcl_status
know_embeddings (const sdcl_prompt_reader *r, GArray *known, sdcl_error *err)
{
  for (guint i = 0; r->embeddings && i < r->embeddings->len; i++)
    {
      const sdcl_embedding *e = r->embeddings->pdata[i];
      known_embedding k = { .n_vectors = e->n_vectors };
      sdcl_status st = sdcl_embedding_vectors (e, r->tower, r->width, &k.vectors, err);
      if (st != SDCL_OK)
        return st;
      GArray *ids = tokens_of (r, e->name);
      k.n_ids = (int) ids->len;
      k.ids = (int32_t *) g_array_free (ids, FALSE);
      g_array_append_val (known, k);
    }
  return SDCL_OK;
}

static sdcl_status
chunk_pieces (chunker *c, const GArray *pieces, const GArray *known, sdcl_error *err)
{
  for (guint i = 0; i < pieces->len; i++)
    {
      const sdcl_prompt_piece *p = &g_array_index (pieces, sdcl_prompt_piece, i);
      if (p->is_break)
        {
          next_chunk (c);
          continue;
        }
      if (!isfinite ((float) p->weight))
        return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                          "the prompt weighs \"%.40s\" by %g, which is out of range", p->text,
                          p->weight);
      GArray *ids = tokens_of (c->r, p->text);
      add_piece (c, known, (const int32_t *) ids->data, (int) ids->len, (float) p->weight);
      g_array_free (ids, TRUE);
      if (c->out_ids->len / SDCL_CLIP_CONTEXT > SDCL_MAX_PROMPT_CHUNKS)
        break;
    }
  if (c->ids->len > 0 || c->out_ids->len == 0)
    next_chunk (c);
  int n_chunks = (int) (c->out_ids->len / SDCL_CLIP_CONTEXT);
  if (n_chunks > SDCL_MAX_PROMPT_CHUNKS)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "the prompt is too long: it needs more than %d chunks of %d tokens "
                      "(%d tokens read so far); sdcl encodes at most %d chunks",
                      SDCL_MAX_PROMPT_CHUNKS, SDCL_PROMPT_CHUNK, c->n_tokens, SDCL_MAX_PROMPT_CHUNKS);
  return SDCL_OK;
}

sdcl_status
sdcl_prompt_read (const sdcl_prompt_reader *r, const char *text, sdcl_prompt_chunks *out,
                  sdcl_error *err)
{
  memset (out, 0, sizeof *out);
  GArray *known = g_array_new (FALSE, FALSE, sizeof (known_embedding));
  g_array_set_clear_func (known, clear_known);
  chunker c = {
    .r = r, .comma = sdcl_tokenizer_lookup (r->tok, ",</w>"), .last_comma = -1,
    .ids = g_array_new (FALSE, FALSE, sizeof (int32_t)),
    .weights = g_array_new (FALSE, FALSE, sizeof (float)),
    .rows = g_array_new (FALSE, FALSE, sizeof (float *)),
    .out_ids = g_array_new (FALSE, FALSE, sizeof (int32_t)),
    .out_weights = g_array_new (FALSE, FALSE, sizeof (float)),
    .out_rows = g_array_new (FALSE, FALSE, sizeof (float *)),
  };
  GArray *pieces = sdcl_prompt_parse (text, r->syntax);
  sdcl_status st = know_embeddings (r, known, err);
  if (st == SDCL_OK)
    st = chunk_pieces (&c, pieces, known, err);
  sdcl_prompt_pieces_free (pieces);
  g_array_free (known, TRUE);
  g_array_free (c.ids, TRUE);
  g_array_free (c.weights, TRUE);
  g_array_free (c.rows, TRUE);
  out->n_chunks = (int) (c.out_ids->len / SDCL_CLIP_CONTEXT);
  out->n_tokens = c.n_tokens;
  out->ids = (int32_t *) g_array_free (c.out_ids, FALSE);
  out->weights = (float *) g_array_free (c.out_weights, FALSE);
  out->rows = (const float **) g_array_free (c.out_rows, FALSE);
  if (st != SDCL_OK)
    sdcl_prompt_chunks_clear (out);
  return st;
}

void
sdcl_prompt_pad (sdcl_prompt_chunks *c, int n_chunks, int32_t pad_id)
{
  if (c->n_chunks >= n_chunks)
    return;
  size_t n = (size_t) n_chunks * SDCL_CLIP_CONTEXT;
  c->ids = g_renew (int32_t, c->ids, n);
  c->weights = g_renew (float, c->weights, n);
  c->rows = g_renew (const float *, c->rows, n);
  for (size_t i = (size_t) c->n_chunks * SDCL_CLIP_CONTEXT; i < n; i++)
    {
      int t = (int) (i % SDCL_CLIP_CONTEXT);
      c->ids[i] = t == 0 ? SDCL_CLIP_BOS : t == 1 ? SDCL_CLIP_EOS : pad_id;
      c->weights[i] = 1.0f;
      c->rows[i] = NULL;
    }
  c->n_chunks = n_chunks;
}

void
sdcl_prompt_chunks_clear (sdcl_prompt_chunks *c)
{
  g_free (c->ids);
  g_free (c->weights);
  g_free (c->rows);
  memset (c, 0, sizeof *c);
}

/* CLIP text encoder (docs/diffusion.md §CLIP text encoder): token + position embedding, a stack of
 * pre-LayerNorm transformer layers with causal self-attention, and the final
 * LayerNorm.  No attention mask: padding tokens are ordinary tokens, as in
 * the SD pipelines.
 *
 * The token embedding ([vocab, hidden], the largest tensor of the tower) is
 * never uploaded: a prompt uses at most max_position_embeddings rows, which
 * are gathered on the host.  It is copied out of the file when the encoder
 * is built (in the file's dtype: 76 MB for SD 1.x in F16), not read from the
 * mapping at every run: a resident model (GIMP, GEGL) outlives edits of its
 * file, and a mapped page of a truncated file would raise SIGBUS.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "nets/clip_desc.h"
#include "nn.h"

typedef struct {
  nn_layer_norm norm1, norm2;
  nn_attention attn;
  nn_linear fc1, fc2;
} clip_layer;

struct sdcl_clip {
  sdcl_cl *cl;
  sdcl_clip_config cfg;
  sdcl_wtype wtype;
  nn_weights weights;
  nn_host_tensor token_embedding;     /* [vocab, hidden], host copy */
  nn_host_tensor position_embedding;  /* [max_positions, hidden], host copy */
  clip_layer *layers;
  nn_layer_norm final_norm;
  nn_host_tensor projection;          /* [projection_dim, hidden], host copy; SDXL's bigG only */
};

/* ---- construction ------------------------------------------------------------ */

static void
load_layer (nn_loader *ld, const sdcl_clip_config *c, const sdcl_clip_module *mod, clip_layer *l)
{
  char p[NN_NAME_MAX];
  nn_name (p, "%s.layer_norm1", mod->name);
  nn_layer_norm_load (ld, &l->norm1, mod->width, c->layer_norm_eps, p);
  nn_name (p, "%s.self_attn", mod->name);
  nn_attention_load (ld, &l->attn, &nn_clip_attention_names, mod->width, mod->width, c->n_heads,
                     true, p);
  nn_name (p, "%s.layer_norm2", mod->name);
  nn_layer_norm_load (ld, &l->norm2, mod->width, c->layer_norm_eps, p);
  nn_name (p, "%s.mlp.fc1", mod->name);
  nn_linear_load (ld, &l->fc1, mod->width, mod->inner, true, p);
  nn_name (p, "%s.mlp.fc2", mod->name);
  nn_linear_load (ld, &l->fc2, mod->inner, mod->width, true, p);
}

/* One module of the tower's list (nets/clip_desc.h).  The embeddings are
 * copied to the host (see the top of the file). */
static void
load_module (nn_loader *ld, sdcl_clip *m, const sdcl_clip_module *mod)
{
  const int64_t shape[2] = { mod->rows, mod->width };
  switch (mod->role)
    {
    case SDCL_CLIP_TOKEN_EMBEDDING:
      nn_find_host (ld, &m->token_embedding, 2, shape, "%s.weight", mod->name);
      break;
    case SDCL_CLIP_POSITION_EMBEDDING:
      nn_find_host (ld, &m->position_embedding, 2, shape, "%s.weight", mod->name);
      break;
    case SDCL_CLIP_LAYER:
      load_layer (ld, &m->cfg, mod, &m->layers[mod->index]);
      break;
    case SDCL_CLIP_FINAL_NORM:
      nn_layer_norm_load (ld, &m->final_norm, mod->width, m->cfg.layer_norm_eps, mod->name);
      break;
    case SDCL_CLIP_TEXT_PROJECTION:   /* used once per prompt on B rows: host work */
      nn_find_host (ld, &m->projection, 2, shape, "%s.weight", mod->name);
      break;
    }
}

sdcl_tensor_spec *
sdcl_clip_tensor_specs (const sdcl_clip_config *c, size_t *count)
{
  sdcl_clip *m = g_new0 (sdcl_clip, 1);
  m->cfg = *c;
  m->layers = g_new0 (clip_layer, MAX (c->n_layers, 1));
  nn_loader ld;
  nn_loader_init_listing (&ld, &m->weights);
  sdcl_clip_desc *d = sdcl_clip_describe (c);
  for (int i = 0; i < d->n_modules; i++)
    load_module (&ld, m, &d->modules[i]);
  sdcl_clip_desc_free (d);
  sdcl_clip_free (m);
  return nn_loader_take_specs (&ld, count);
}

sdcl_status
sdcl_clip_new (sdcl_cl *cl, const sdcl_wset *ws, const sdcl_clip_config *cfg, sdcl_wtype wtype,
               sdcl_clip **out, sdcl_error *err)
{
  *out = NULL;
  if (cfg->n_layers <= 0 || cfg->hidden_size <= 0 || cfg->max_position_embeddings <= 0)
    return nn_error (err, SDCL_ERR_MODEL_FORMAT, "text encoder config has %d layers, hidden size %d",
                     cfg->n_layers, cfg->hidden_size);

  sdcl_clip *m = g_new0 (sdcl_clip, 1);
  m->cl = cl;
  m->cfg = *cfg;
  m->wtype = wtype;
  m->layers = g_new0 (clip_layer, cfg->n_layers);

  nn_loader ld;
  nn_loader_init (&ld, cl, ws, wtype, &m->weights, err);
  sdcl_clip_desc *d = sdcl_clip_describe (cfg);
  for (int i = 0; i < d->n_modules; i++)
    load_module (&ld, m, &d->modules[i]);
  sdcl_clip_desc_free (d);

  sdcl_status st = nn_loader_finish (&ld);
  if (st != SDCL_OK)
    {
      sdcl_clip_free (m);
      return st;
    }
  *out = m;
  return SDCL_OK;
}

void
sdcl_clip_free (sdcl_clip *m)
{
  if (!m)
    return;
  nn_weights_free (&m->weights);
  nn_host_tensor_free (&m->token_embedding);
  nn_host_tensor_free (&m->position_embedding);
  nn_host_tensor_free (&m->projection);
  g_free (m->layers);
  g_free (m);
}

uint64_t
sdcl_clip_device_bytes (const sdcl_clip *m)
{
  return m ? m->weights.bytes : 0;
}

/* ---- forward ------------------------------------------------------------------- */

static sdcl_status
check_ids (const sdcl_clip *m, const int32_t *ids, int batch, int tokens, sdcl_error *err)
{
  for (int i = 0; i < batch * tokens; i++)
    if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
      return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "token id %d at [%d, %d] is outside the "
                       "vocabulary (%d entries)", ids[i], i / tokens, i % tokens,
                       m->cfg.vocab_size);
  return SDCL_OK;
}

/* The token's row of rows[] (a textual-inversion vector) when there is
 * one, rounded as an embedding of `wtype` would be (half for F16 and Q8),
 * else false. */
static bool
override_row (const sdcl_clip *m, const float *const *rows, int64_t at, float *dst)
{
  if (!rows || !rows[at])
    return false;
  for (int64_t i = 0; i < m->cfg.hidden_size; i++)
    dst[i] = m->wtype != SDCL_WT_F32 ? sdcl_half_to_float (sdcl_float_to_half (rows[at][i]))
                                      : rows[at][i];
  return true;
}

/* token_embedding[id] (or its override) + position_embedding[position] for
 * every token, gathered on the host (rows rounded like uploaded weights of
 * `wtype`) and uploaded as h [batch, tokens, hidden].  Ids are valid, and
 * the rows cannot fail to convert: shapes and dtypes were checked at
 * construction. */
static void
embed (sdcl_clip *m, const int32_t *ids, const float *const *rows, int batch, int tokens, sdcl_t *h)
{
  int64_t hidden = m->cfg.hidden_size;
  float *host = g_new (float, (size_t) batch * tokens * hidden);
  float *pos = g_new (float, hidden);
  for (int t = 0; t < tokens; t++)
    {
      nn_tensor_row (&m->position_embedding.t, t, m->wtype, pos);
      for (int b = 0; b < batch; b++)
        {
          float *row = host + ((int64_t) b * tokens + t) * hidden;
          if (!override_row (m, rows, b * tokens + t, row))
            nn_tensor_row (&m->token_embedding.t, ids[b * tokens + t], m->wtype, row);
          for (int64_t i = 0; i < hidden; i++)
            row[i] += pos[i];
        }
    }
  sdcl_t_alloc (m->cl, h, 3, batch, tokens, hidden, 0);
  sdcl_t_upload (m->cl, h, host);
  g_free (pos);
  g_free (host);
}

/* One pre-LN layer: h + attn(LN1(h)), then + mlp(LN2(.)).  Returns the new
 * hidden state; h is left to the caller. */
static sdcl_t
layer_forward (sdcl_cl *cl, const clip_layer *l, sdcl_act act, const sdcl_t *h)
{
  sdcl_t a = nn_layer_norm_forward (cl, &l->norm1, h);
  sdcl_t h1 = nn_attention_forward (cl, &l->attn, &a, NULL, true, h);
  sdcl_t_release (cl, &a);

  a = nn_layer_norm_forward (cl, &l->norm2, &h1);
  sdcl_t mid = nn_linear_forward (cl, &l->fc1, &a, act, NULL);
  sdcl_t_release (cl, &a);
  sdcl_t h2 = nn_linear_forward (cl, &l->fc2, &mid, SDCL_ACT_NONE, &h1);
  sdcl_t_release (cl, &mid);
  sdcl_t_release (cl, &h1);
  return h2;
}

/* Layers [from, to) over *h in place, polling for cancellation after each. */
static sdcl_status
run_layers (sdcl_clip *m, int from, int to, sdcl_t *h, const volatile int *cancel, sdcl_error *err)
{
  sdcl_act act = m->cfg.quick_gelu ? SDCL_ACT_QUICK_GELU : SDCL_ACT_GELU;
  sdcl_status st = SDCL_OK;
  for (int i = from; i < to && st == SDCL_OK; i++)
    {
      sdcl_t next = layer_forward (m->cl, &m->layers[i], act, h);
      sdcl_t_release (m->cl, h);
      *h = next;
      st = nn_poll (m->cl, cancel, err);
    }
  return st;
}

/* The checked token embeddings in *h, then layers [0, to). */
static sdcl_status
embed_and_run (sdcl_clip *m, const int32_t *ids, const float *const *rows, int batch, int tokens,
               int to, const volatile int *cancel, sdcl_t *h, sdcl_error *err)
{
  sdcl_status st = check_ids (m, ids, batch, tokens, err);
  if (st == SDCL_OK)
    st = nn_poll (m->cl, cancel, err);
  if (st != SDCL_OK)
    return st;
  embed (m, ids, rows, batch, tokens, h);
  return run_layers (m, 0, to, h, cancel, err);
}

sdcl_status
sdcl_clip_forward (sdcl_clip *m, const int32_t *ids, int batch, int tokens, int skip,
                   const volatile int *cancel, sdcl_t *hidden, sdcl_error *err)
{
  return sdcl_clip_forward_rows (m, ids, NULL, batch, tokens, skip, cancel, hidden, err);
}

sdcl_status
sdcl_clip_forward_rows (sdcl_clip *m, const int32_t *ids, const float *const *rows, int batch,
                        int tokens, int skip, const volatile int *cancel, sdcl_t *hidden,
                        sdcl_error *err)
{
  const sdcl_clip_config *c = &m->cfg;
  memset (hidden, 0, sizeof *hidden);
  if (batch <= 0 || tokens <= 0 || tokens > c->max_position_embeddings)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "text encoder input [%d, %d]: batch must be "
                     "positive and tokens in 1..%d", batch, tokens, c->max_position_embeddings);
  /* hidden_states has n_layers + 1 entries (embeddings first); skip = k
   * selects hidden_states[-k], i.e. the output of layer n_layers + 1 - k. */
  if (skip < 0 || skip > c->n_layers + 1)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "clip skip %d outside 0..%d", skip,
                     c->n_layers + 1);
  int run = skip <= 1 ? c->n_layers : c->n_layers + 1 - skip;

  sdcl_t h = { 0 };
  sdcl_status st = embed_and_run (m, ids, rows, batch, tokens, run, cancel, &h, err);
  if (st == SDCL_OK)
    {
      *hidden = nn_layer_norm_forward (m->cl, &m->final_norm, &h);
      st = sdcl_cl_check (m->cl, err);
    }
  sdcl_t_release (m->cl, &h);
  if (st != SDCL_OK)
    sdcl_t_release (m->cl, hidden);
  return st;
}

/* ---- SDXL's reading of a tower ---------------------------------------------- */

/* The position whose state CLIP pools: the first eos_token_id, or with the
 * legacy eos_token_id 2 the largest id (<|endoftext|>, 49407, is the
 * largest id of the vocabulary), as transformers does. */
static int
eos_position (const sdcl_clip_config *c, const int32_t *ids, int tokens)
{
  int at = 0;
  for (int t = 0; t < tokens; t++)
    if (c->eos_token_id == 2 ? ids[t] > ids[at] : ids[t] == c->eos_token_id)
      {
        at = t;
        if (c->eos_token_id != 2)
          break;
      }
  return at;
}

/* text_projection(final_layer_norm(h)[eos]) for every batch entry, on the
 * host: [batch, projection_dim]. */
static sdcl_status
pool (sdcl_clip *m, const int32_t *ids, int batch, int tokens, const sdcl_t *h, float **pooled,
      sdcl_error *err)
{
  const int64_t hidden = m->cfg.hidden_size, proj = m->cfg.projection_dim;
  sdcl_t normed = nn_layer_norm_forward (m->cl, &m->final_norm, h);
  float *states = g_new (float, (size_t) batch * tokens * hidden);
  sdcl_t_download (m->cl, &normed, states);
  sdcl_t_release (m->cl, &normed);
  sdcl_status st = sdcl_cl_check (m->cl, err);
  /* w[p][i] multiplies x[i] into out[p]: the rows of HF's [proj, hidden]
   * weight, or the columns of OpenCLIP's [hidden, proj] matrix */
  const sdcl_st_tensor *t = &m->projection.t;
  float *w = g_new (float, (size_t) proj * hidden), *row = g_new (float, t->shape[1]);
  for (int64_t r = 0; r < t->shape[0]; r++)
    {
      nn_tensor_row (t, r, m->wtype, row);
      for (int64_t c = 0; c < t->shape[1]; c++)
        w[m->cfg.projection_transposed ? c * hidden + r : r * hidden + c] = row[c];
    }
  float *out = g_new0 (float, (size_t) batch * proj);
  for (int b = 0; b < batch && st == SDCL_OK; b++)
    {
      const float *x = states + ((int64_t) b * tokens + eos_position (&m->cfg, ids + b * tokens, tokens)) * hidden;
      for (int64_t p = 0; p < proj; p++)
        {
          float acc = 0;
          for (int64_t i = 0; i < hidden; i++)
            acc += w[p * hidden + i] * x[i];
          out[b * proj + p] = acc;
        }
    }
  g_free (w);
  g_free (row);
  g_free (states);
  if (st == SDCL_OK)
    *pooled = out;
  else
    g_free (out);
  return st;
}

sdcl_status
sdcl_clip_forward_penultimate (sdcl_clip *m, const int32_t *ids, const float *const *rows,
                               int batch, int tokens, int skip, const volatile int *cancel,
                               sdcl_t *penultimate, float **pooled, sdcl_error *err)
{
  const sdcl_clip_config *c = &m->cfg;
  memset (penultimate, 0, sizeof *penultimate);
  if (pooled)
    *pooled = NULL;
  if (batch <= 0 || tokens <= 0 || tokens > c->max_position_embeddings || c->n_layers < 2)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "text encoder input [%d, %d] on %d layers: batch "
                     "must be positive, tokens in 1..%d, layers at least 2", batch, tokens,
                     c->n_layers, c->max_position_embeddings);
  if (pooled && !m->projection.t.data)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "this text encoder has no text projection");
  /* hidden_states[-(k + 1)] for clip skip k > 1 (diffusers' clip_skip k - 1
   * on top of SDXL's penultimate) */
  const int keep = c->n_layers - MAX (skip, 1);
  if (skip < 0 || keep < 0)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "clip skip %d outside 0..%d", skip, c->n_layers);
  sdcl_t h = { 0 };
  sdcl_status st = embed_and_run (m, ids, rows, batch, tokens, keep, cancel, &h, err);
  if (st == SDCL_OK && pooled)
    {
      /* the pooled vector reads the last layer's output; keep < n_layers */
      sdcl_act act = c->quick_gelu ? SDCL_ACT_QUICK_GELU : SDCL_ACT_GELU;
      sdcl_t cur = layer_forward (m->cl, &m->layers[keep], act, &h);
      st = nn_poll (m->cl, cancel, err);
      if (st == SDCL_OK)
        st = run_layers (m, keep + 1, c->n_layers, &cur, cancel, err);
      if (st == SDCL_OK)
        st = pool (m, ids, batch, tokens, &cur, pooled, err);
      sdcl_t_release (m->cl, &cur);
    }
  if (st == SDCL_OK)
    st = sdcl_cl_check (m->cl, err);
  if (st == SDCL_OK)
    *penultimate = h;
  else
    sdcl_t_release (m->cl, &h);
  return st;
}

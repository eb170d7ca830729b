/* SDXL base (and its Turbo and inpainting variants): CLIP-L and OpenCLIP
 * bigG, whose penultimate states side by side condition a UNet with a
 * "text_time" add embedding (bigG's pooled vector and the size/crop ids),
 * levels of their own transformer depth, and a VAE scaled by 0.13025
 * (docs/diffusion.md §SDXL).  The refiner (bigG alone, aesthetic-score
 * ids) is recognised and refused.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>

#include "family.h"

#include "api_internal.h"
#include "loader_internal.h"
#include "unet_text_time.h"
#include "prompt.h"

/* ---- detection ----------------------------------------------------------- */

/* The refiner's add-embedding takes 2560 inputs (pooled bigG + aesthetic
 * score ids); without one, 1280-wide cross-attention and a single text
 * encoder say the same. */
static bool
refiner_claims (const sdcl_family_facts *facts)
{
  return facts->add_embedding_in == 2560
         || (facts->cross_attention_dim == 1280 && !facts->second_text_encoder);
}

static sdcl_status
refiner_check (const sdcl_family_facts *facts, const char *path, sdcl_error *err)
{
  char found[200];
  g_snprintf (found, sizeof found, "cross-attention dim %d and %s", facts->cross_attention_dim,
              facts->add_embedding_in ? "an add-embedding of 2560 inputs (aesthetic score)"
                                      : "a single OpenCLIP bigG text encoder");
  return sdcl_family_refuse (path, found, "SDXL refiner", err);
}

static bool
base_claims (const sdcl_family_facts *facts)
{
  return facts->second_text_encoder || facts->add_embedding_in
         || facts->cross_attention_dim == 2048;
}

/* What SDXL's arithmetic needs of the weights: both towers, bigG's
 * projection, cross-attention as wide as the two towers together, and an
 * add embedding taking the pooled vector and six size ids. */
static sdcl_status
base_check (const sdcl_family_facts *f, const char *path, sdcl_error *err)
{
  if (!f->second_text_encoder || !f->text2_hidden)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: an SDXL model (cross-attention dim %d) without "
                      "its second text encoder (OpenCLIP bigG: text_encoder_2/ or "
                      "conditioner.embedders.1.model.*)", path, f->cross_attention_dim);
  if (f->text_hidden + f->text2_hidden != f->cross_attention_dim)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: the UNet cross-attends to %d-wide states but "
                      "the text encoders are %d + %d wide (SDXL: 768 + 1280 = 2048)", path,
                      f->cross_attention_dim, f->text_hidden, f->text2_hidden);
  if (!f->text2_projection)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: SDXL's second text encoder has no "
                      "text_projection (its pooled vector conditions the UNet)", path);
  int time_width = SDCL_SDXL_TIME_IDS * f->add_time_embed_dim;
  if (!f->add_embedding_in || f->add_time_embed_dim < 2
      || f->add_embedding_in != f->text2_projection + time_width)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: the UNet's add embedding takes %d inputs, not "
                      "the pooled vector (%d) and %d size ids of %d (SDXL: 1280 + 6 x 256 = 2816)",
                      path, f->add_embedding_in, f->text2_projection, SDCL_SDXL_TIME_IDS,
                      f->add_time_embed_dim);
  return sdcl_family_check_unet_inputs (f, path, err);
}

/* ---- text conditioning --------------------------------------------------- */

/* A prompt as each tower reads it (docs/diffusion.md §Long prompts): the
 * same A1111 syntax, but CLIP-L pads with EOS and bigG with "!", and an
 * SDXL embedding gives each tower its own vectors. */
typedef struct {
  sdcl_prompt_chunks l, g;
} tower_chunks;

static sdcl_status
read_towers (sdcl_model *m, const sdcl_prompt_request *req, const char *text, tower_chunks *out,
             sdcl_error *err)
{
  const sdcl_model_files *mf = m->files;
  sdcl_prompt_reader r = {
    .tok = m->tokenizer, .pad_id = mf->clip.pad_token_id, .syntax = req->syntax,
    .embeddings = req->embeddings, .tower = "clip_l", .width = mf->clip.hidden_size,
  };
  sdcl_status st = sdcl_prompt_read (&r, text ? text : "", &out->l, err);
  r.pad_id = mf->clip2.pad_token_id;
  r.tower = "clip_g";
  r.width = mf->clip2.hidden_size;
  if (st == SDCL_OK)
    st = sdcl_prompt_read (&r, text ? text : "", &out->g, err);
  return st;
}

static void
towers_clear (tower_chunks *c)
{
  sdcl_prompt_chunks_clear (&c->l);
  sdcl_prompt_chunks_clear (&c->g);
}

/* One tower's penultimate states for the chunks, each chunk with its own
 * emphasis (A1111 hooks each SDXL tower on its own), written into `row`
 * ([chunks x 77, dim] on the host) from channel `at` on; with `pooled`,
 * the pooled vector of the first chunk, as A1111 takes it. */
static sdcl_status
encode_tower (sdcl_model *m, sdcl_clip *clip, const sdcl_prompt_chunks *c, int skip,
              const volatile int *cancel, int at, int dim, float *row, float *pooled,
              sdcl_error *err)
{
  sdcl_cl *cl = m->ctx->cl;
  const int T = SDCL_CLIP_CONTEXT;
  sdcl_t h = { 0 };
  float *p = NULL, *z = NULL;
  sdcl_status st = sdcl_clip_forward_penultimate (clip, c->ids, c->rows, c->n_chunks, T, skip,
                                                  cancel, &h, pooled ? &p : NULL, err);
  const int width = st == SDCL_OK ? (int) h.d[2] : 0;
  if (st == SDCL_OK)
    {
      z = g_new (float, h.n);
      sdcl_t_download (cl, &h, z);
      st = sdcl_cl_check (cl, err);
    }
  for (int k = 0; k < c->n_chunks && st == SDCL_OK; k++)
    sdcl_prompt_emphasis (z + (int64_t) k * T * width, c->weights + k * T, T, width);
  for (int64_t t = 0; t < (int64_t) c->n_chunks * T && st == SDCL_OK; t++)
    memcpy (row + t * dim + at, z + t * width, width * sizeof (float));
  if (st == SDCL_OK && pooled)
    memcpy (pooled, p, m->files->clip2.projection_dim * sizeof (float));
  g_free (z);
  g_free (p);
  sdcl_t_release (cl, &h);
  return st;
}

/* Both towers side by side: the row [chunks x 77, d1 + d2] and bigG's
 * pooled vector. */
static sdcl_status
encode_one (sdcl_model *m, const tower_chunks *c, int skip, const volatile int *cancel,
            float *row, float *pooled, sdcl_error *err)
{
  const int d1 = m->files->clip.hidden_size, dim = d1 + m->files->clip2.hidden_size;
  sdcl_status st = encode_tower (m, m->clip, &c->l, skip, cancel, 0, dim, row, NULL, err);
  if (st == SDCL_OK)
    st = encode_tower (m, m->clip2, &c->g, skip, cancel, d1, dim, row, pooled, err);
  return st;
}

/* [negative, positive] (or [positive]) states, pooled vectors and size
 * ids.  Both towers' chunks, and the negative's, are padded to the same
 * count with empty chunks (A1111's long prompts).  A negative prompt that
 * is empty conditions with zeros (states and pooled) when the model asks
 * for it, as diffusers' force_zeros_for_empty_prompt does.  diffusers
 * applies clip_skip to the positive prompt only. */
static sdcl_status
encode_prompt (sdcl_model *m, const sdcl_prompt_request *req, sdcl_conditioning *out,
               sdcl_error *err)
{
  const sdcl_model_files *mf = m->files;
  const int n = req->cfg ? 2 : 1, dim = mf->clip.hidden_size + mf->clip2.hidden_size;
  const char *neg = req->negative_prompt;
  bool zero_negative = req->cfg && mf->force_zeros_for_empty_prompt && (!neg || !*neg);
  bool encode_negative = req->cfg && !zero_negative;

  tower_chunks pos = { 0 }, negc = { 0 };
  sdcl_status st = read_towers (m, req, req->prompt, &pos, err);
  if (st == SDCL_OK && encode_negative)
    st = read_towers (m, req, neg, &negc, err);
  if (st != SDCL_OK)
    {
      towers_clear (&pos);
      towers_clear (&negc);
      return st;
    }
  const int k = MAX (MAX (pos.l.n_chunks, pos.g.n_chunks), MAX (negc.l.n_chunks, negc.g.n_chunks));
  sdcl_prompt_pad (&pos.l, k, mf->clip.pad_token_id);
  sdcl_prompt_pad (&pos.g, k, mf->clip2.pad_token_id);
  if (encode_negative)
    {
      sdcl_prompt_pad (&negc.l, k, mf->clip.pad_token_id);
      sdcl_prompt_pad (&negc.g, k, mf->clip2.pad_token_id);
    }
  const int64_t row = (int64_t) k * SDCL_CLIP_CONTEXT * dim;

  float *states = g_new0 (float, (size_t) n * row);
  out->pooled_dim = mf->clip2.projection_dim;
  out->pooled = g_new0 (float, (size_t) n * out->pooled_dim);
  out->n_time_ids = SDCL_SDXL_TIME_IDS;
  out->time_ids = g_new (float, (size_t) n * SDCL_SDXL_TIME_IDS);
  for (int b = 0; b < n; b++)   /* original size, crop top-left, target size */
    memcpy (out->time_ids + b * SDCL_SDXL_TIME_IDS,
            (float[]){ req->height, req->width, 0, 0, req->height, req->width }, sizeof (float) * 6);

  if (encode_negative)
    st = encode_one (m, &negc, 0, req->cancel, states, out->pooled, err);
  if (st == SDCL_OK)
    st = encode_one (m, &pos, req->clip_skip, req->cancel, states + (n - 1) * row,
                     out->pooled + (n - 1) * out->pooled_dim, err);
  if (st == SDCL_OK)
    {
      out->n_tokens = k * SDCL_CLIP_CONTEXT;
      sdcl_t_from_host (m->ctx->cl, &out->states, 3, (int64_t[]){ n, out->n_tokens, dim }, states);
      st = sdcl_cl_check (m->ctx->cl, err);
    }
  g_free (states);
  towers_clear (&pos);
  towers_clear (&negc);
  return st;
}

/* ---- defaults ------------------------------------------------------------ */

/* SDXL base 1.0's scheduler config: SD's betas, Euler, leading spacing. */
static void
default_sched (sdcl_sched_config *c)
{
  sdcl_sched_config_sd15 (c);
  g_strlcpy (c->timestep_spacing, "leading", sizeof c->timestep_spacing);
}

/* ---- the description ----------------------------------------------------- */

static const sdcl_net nets[] = { SDCL_NET_CLIP, SDCL_NET_UNET, SDCL_NET_VAE };

const sdcl_family_desc sdcl_family_sdxl = {
  .id = SDCL_FAMILY_SDXL,
  .name = "SDXL",
  .claims = base_claims,
  .check = base_check,
  .nets = nets,
  .n_nets = G_N_ELEMENTS (nets),
  .native_resolution = 1024,     /* Turbo's folder says 512 */
  .turbo_resolution = 512,       /* SDXL-Turbo */
  .latent_scaling_factor = 0.13025f,
  .pad_token_id = 49407,         /* CLIP-L's; bigG's tokenizer pads with "!" (0) */
  .ays = SDCL_AYS_SDXL,
  .ldm_configs = sdcl_sdxl_ldm_configs,
  .ldm_tensor = sdcl_sdxl_ldm_tensor,
  .default_sched = default_sched,
  .encode_prompt = encode_prompt,
};

const sdcl_family_desc sdcl_family_sdxl_refiner = {
  .id = SDCL_FAMILY_SDXL_REFINER,
  .name = "SDXL refiner",
  .claims = refiner_claims,
  .check = refiner_check,
};

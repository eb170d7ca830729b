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

/* One prompt through both towers: its row of the states [77, d1 + d2] (the
 * two penultimate states side by side) and its pooled vector, on the host. */
static sdcl_status
encode_one (sdcl_model *m, const char *prompt, int skip, const volatile int *cancel, float *row,
            float *pooled, sdcl_error *err)
{
  sdcl_cl *cl = m->ctx->cl;
  const sdcl_model_files *mf = m->files;
  const int d1 = mf->clip.hidden_size, d2 = mf->clip2.hidden_size, T = SDCL_CLIP_CONTEXT;
  int32_t ids1[SDCL_CLIP_CONTEXT], ids2[SDCL_CLIP_CONTEXT];
  sdcl_tokenizer_encode_clip (m->tokenizer, prompt ? prompt : "", mf->clip.pad_token_id, ids1);
  sdcl_tokenizer_encode_clip (m->tokenizer, prompt ? prompt : "", mf->clip2.pad_token_id, ids2);
  sdcl_t h1 = { 0 }, h2 = { 0 };
  float *p2 = NULL;
  sdcl_status st = sdcl_clip_forward_penultimate (m->clip, ids1, 1, T, skip, cancel, &h1, NULL, err);
  if (st == SDCL_OK)
    st = sdcl_clip_forward_penultimate (m->clip2, ids2, 1, T, skip, cancel, &h2, &p2, err);
  float *a = g_new (float, (size_t) T * d1), *b = g_new (float, (size_t) T * d2);
  if (st == SDCL_OK)
    {
      sdcl_t_download (cl, &h1, a);
      sdcl_t_download (cl, &h2, b);
      st = sdcl_cl_check (cl, err);
    }
  for (int t = 0; t < T && st == SDCL_OK; t++)
    {
      memcpy (row + (int64_t) t * (d1 + d2), a + (int64_t) t * d1, d1 * sizeof (float));
      memcpy (row + (int64_t) t * (d1 + d2) + d1, b + (int64_t) t * d2, d2 * sizeof (float));
    }
  if (st == SDCL_OK)
    memcpy (pooled, p2, mf->clip2.projection_dim * sizeof (float));
  g_free (a);
  g_free (b);
  g_free (p2);
  sdcl_t_release (cl, &h1);
  sdcl_t_release (cl, &h2);
  return st;
}

/* [negative, positive] (or [positive]) states, pooled vectors and size
 * ids.  A negative prompt that is empty conditions with zeros (states and
 * pooled) when the model asks for it, as diffusers' force_zeros_for_empty_
 * prompt does.  diffusers applies clip_skip to the positive prompt only. */
static sdcl_status
encode_prompt (sdcl_model *m, const sdcl_prompt_request *req, sdcl_conditioning *out,
               sdcl_error *err)
{
  const sdcl_model_files *mf = m->files;
  const int n = req->cfg ? 2 : 1, dim = mf->clip.hidden_size + mf->clip2.hidden_size;
  const int64_t row = (int64_t) SDCL_CLIP_CONTEXT * dim;
  const char *neg = req->negative_prompt;
  bool zero_negative = req->cfg && mf->force_zeros_for_empty_prompt && (!neg || !*neg);

  float *states = g_new0 (float, (size_t) n * row);
  out->pooled_dim = mf->clip2.projection_dim;
  out->pooled = g_new0 (float, (size_t) n * out->pooled_dim);
  out->n_time_ids = SDCL_SDXL_TIME_IDS;
  out->time_ids = g_new (float, (size_t) n * SDCL_SDXL_TIME_IDS);
  for (int b = 0; b < n; b++)   /* original size, crop top-left, target size */
    memcpy (out->time_ids + b * SDCL_SDXL_TIME_IDS,
            (float[]){ req->height, req->width, 0, 0, req->height, req->width }, sizeof (float) * 6);

  sdcl_status st = SDCL_OK;
  if (req->cfg && !zero_negative)
    st = encode_one (m, neg, 0, req->cancel, states, out->pooled, err);
  if (st == SDCL_OK)
    st = encode_one (m, req->prompt, req->clip_skip, req->cancel, states + (n - 1) * row,
                     out->pooled + (n - 1) * out->pooled_dim, err);
  if (st == SDCL_OK)
    {
      sdcl_t_from_host (m->ctx->cl, &out->states, 3, (int64_t[]){ n, SDCL_CLIP_CONTEXT, dim }, states);
      out->n_tokens = SDCL_CLIP_CONTEXT;
      st = sdcl_cl_check (m->ctx->cl, err);
    }
  g_free (states);
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
  .latent_scaling_factor = 0.13025f,
  .pad_token_id = 49407,         /* CLIP-L's; bigG's tokenizer pads with "!" (0) */
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

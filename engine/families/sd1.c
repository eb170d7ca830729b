/* SD 1.x: one CLIP ViT-L text encoder (77 tokens), a UNet with
 * convolutional transformer projections whose cross-attention is as wide
 * as the text encoder, the 4-level VAE, epsilon prediction, 512 x 512.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "family.h"

#include "api_internal.h"
#include "loader_internal.h"
#include "ops.h"
#include "prompt.h"

/* ---- detection ----------------------------------------------------------- */

/* Asked after the later families (family.c): what is left is SD 1.x when
 * the UNet has convolutional projections and cross-attends to one CLIP of
 * its own width (768 for real models; test models are narrower). */
static bool
claims (const sdcl_family_facts *facts)
{
  int cad = facts->cross_attention_dim;
  return cad != 0 && !facts->linear_projection && (!facts->text_hidden || facts->text_hidden == cad);
}

/* The UNet variants sdcl runs: text to image (4) and inpainting (9). */
sdcl_status
sdcl_family_check_unet_inputs (const sdcl_family_facts *facts, const char *path, sdcl_error *err)
{
  switch (facts->unet_in_channels)
    {
    case 0: case 4: case 9: return SDCL_OK;
    case 8:
      return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                        "%s: the UNet takes 8 input channels (an InstructPix2Pix model), which this version does not support",
                        path);
    case 7:
      return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                        "%s: the UNet takes 7 input channels (the x4 upscaler), which this version does not support",
                        path);
    default:
      return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                        "%s: the UNet takes %d input channels; sdcl supports 4 (text to image) and 9 (inpainting)",
                        path, facts->unet_in_channels);
    }
}

/* ---- single files -------------------------------------------------------- */

/* The LDM release names the VAE first_stage_model.*, some re-packagings
 * vae.*. */
static const char *
ldm_vae_prefix (const sdcl_st_file *f)
{
  return sdcl_st_find (f, "vae.encoder.conv_in.weight") ? "vae." : "first_stage_model.";
}

static sdcl_status
ldm_configs (const sdcl_st_file *f, sdcl_model_files *mf, sdcl_error *err)
{
  sdcl_status st;
  if ((st = sdcl_vae_config_from_ldm (f, ldm_vae_prefix (f), &mf->vae, err))
      || (st = sdcl_clip_config_from_ldm (f, &mf->clip, err)))
    return st;
  mf->vae.scaling_factor = sdcl_family_sd1.latent_scaling_factor;
  sdcl_family_sd1.default_sched (&mf->sched);
  mf->prediction_source = "family default";
  /* the VAE has SDCL_LDM_VAE_LEVELS levels here (checked above) */
  sdcl_family_single_file_size (mf);
  return SDCL_OK;
}

/* ---- text conditioning --------------------------------------------------- */

static sdcl_status
read_prompt (sdcl_model *m, const sdcl_prompt_request *req, const char *text,
             sdcl_prompt_chunks *out, sdcl_error *err)
{
  const sdcl_prompt_reader r = {
    .tok = m->tokenizer, .pad_id = m->files->clip.pad_token_id, .syntax = req->syntax,
    .embeddings = req->embeddings, .tower = NULL, .width = m->files->clip.hidden_size,
  };
  return sdcl_prompt_read (&r, text, out, err);
}

/* The CFG states [negative, positive] (or [positive] without CFG), each
 * n_chunks x 77 tokens, the shorter one padded with empty chunks as A1111
 * does.  diffusers applies clip_skip to the positive prompt only.  No
 * pooled vector, no time ids. */
sdcl_status
sdcl_family_clip_encode_prompt (sdcl_model *m, const sdcl_prompt_request *req,
                                sdcl_conditioning *out, sdcl_error *err)
{
  sdcl_cl *cl = m->ctx->cl;
  const int dim = m->files->clip.hidden_size, pad = m->files->clip.pad_token_id;
  sdcl_prompt_chunks pos = { 0 }, neg = { 0 };
  sdcl_status st = read_prompt (m, req, req->prompt, &pos, err);
  if (st == SDCL_OK && req->cfg)
    st = read_prompt (m, req, req->negative_prompt, &neg, err);
  if (st == SDCL_OK)
    {
      int n_chunks = MAX (pos.n_chunks, neg.n_chunks);
      sdcl_prompt_pad (&pos, n_chunks, pad);
      if (req->cfg)
        sdcl_prompt_pad (&neg, n_chunks, pad);
      out->n_tokens = n_chunks * SDCL_CLIP_CONTEXT;
      sdcl_t_alloc (cl, &out->states, 3, req->cfg ? 2 : 1, out->n_tokens, dim, 0);
      st = sdcl_cl_check (cl, err);
    }
  int64_t row = (int64_t) out->n_tokens * dim;
  if (st == SDCL_OK && req->cfg)
    st = sdcl_prompt_encode (cl, m->clip, &neg, 0, req->cancel, &out->states, 0, err);
  if (st == SDCL_OK)
    st = sdcl_prompt_encode (cl, m->clip, &pos, req->clip_skip, req->cancel, &out->states,
                             req->cfg ? row : 0, err);
  sdcl_prompt_chunks_clear (&pos);
  sdcl_prompt_chunks_clear (&neg);
  return st;
}

/* ---- the description ----------------------------------------------------- */

static const sdcl_net nets[] = { SDCL_NET_CLIP, SDCL_NET_UNET, SDCL_NET_VAE };

const sdcl_family_desc sdcl_family_sd1 = {
  .id = SDCL_FAMILY_SD1,
  .name = "SD 1.x",
  .claims = claims,
  .check = sdcl_family_check_unet_inputs,
  .nets = nets,
  .n_nets = G_N_ELEMENTS (nets),
  .native_resolution = 512,
  .latent_scaling_factor = 0.18215f,
  .pad_token_id = 49407,   /* <|endoftext|> (docs/diffusion.md §Tokenizer) */
  .ldm_configs = ldm_configs,
  .default_sched = sdcl_sched_config_sd15,
  .encode_prompt = sdcl_family_clip_encode_prompt,
};

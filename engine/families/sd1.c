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

/* Encodes n prompts with the same clip skip into rows [first, first + n)
 * of out->states (rows of 77 x D). */
static sdcl_status
encode_rows (sdcl_model *m, const char *const *prompts, int n, int skip, int first,
             const volatile int *cancel, sdcl_conditioning *out, sdcl_error *err)
{
  sdcl_cl *cl = m->ctx->cl;
  int32_t ids[2 * SDCL_CLIP_CONTEXT];
  for (int i = 0; i < n; i++)
    sdcl_tokenizer_encode_clip (m->tokenizer, prompts[i] ? prompts[i] : "",
                                m->files->clip.pad_token_id, ids + i * SDCL_CLIP_CONTEXT);

  sdcl_t hidden = { 0 };
  sdcl_status st = sdcl_clip_forward (m->clip, ids, n, SDCL_CLIP_CONTEXT, skip, cancel, &hidden, err);
  if (st != SDCL_OK)
    return st;
  int64_t row = (int64_t) SDCL_CLIP_CONTEXT * hidden.d[2];
  op_copy (cl, &hidden, 0, &out->states, first * row, n * row);
  sdcl_t_release (cl, &hidden);
  return sdcl_cl_check (cl, err);
}

/* The CFG states [negative, positive] (or [positive] without CFG).
 * diffusers applies clip_skip to the positive prompt only, so with a skip
 * the two prompts are encoded separately.  No pooled vector, no time ids. */
sdcl_status
sdcl_family_clip_encode_prompt (sdcl_model *m, const sdcl_prompt_request *req,
                                sdcl_conditioning *out, sdcl_error *err)
{
  sdcl_cl *cl = m->ctx->cl;
  int dim = m->files->clip.hidden_size;
  sdcl_t_alloc (cl, &out->states, 3, req->cfg ? 2 : 1, SDCL_CLIP_CONTEXT, dim, 0);
  out->n_tokens = SDCL_CLIP_CONTEXT;
  sdcl_status st = sdcl_cl_check (cl, err);
  if (st != SDCL_OK)
    return st;

  if (!req->cfg)
    return encode_rows (m, &req->prompt, 1, req->clip_skip, 0, req->cancel, out, err);
  if (req->clip_skip <= 1)
    {
      const char *both[2] = { req->negative_prompt, req->prompt };
      return encode_rows (m, both, 2, req->clip_skip, 0, req->cancel, out, err);
    }
  st = encode_rows (m, &req->negative_prompt, 1, 0, 0, req->cancel, out, err);
  if (st == SDCL_OK)
    st = encode_rows (m, &req->prompt, 1, req->clip_skip, 1, req->cancel, out, err);
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

/* sdcl_model: a checkpoint's files, tokenizer and networks on a device.
 *
 * Loading is: open and validate every file (model_files.c), pick a
 * tokenizer, then build the three networks, which upload their weights.
 * Any failure frees what was built and names the cause.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "api_internal.h"
#include "pipeline_internal.h"

sdcl_model_params
sdcl_model_default_params (void)
{
  sdcl_model_params p = { .weights = SDCL_WEIGHTS_F16, .tokenizer_dir = NULL };
  return p;
}

static const char *
family_name (sdcl_family family)
{
  switch (family)
    {
    case SDCL_FAMILY_SD1: return "SD 1.x";
    case SDCL_FAMILY_SD2: return "SD 2.x";
    case SDCL_FAMILY_SDXL: return "SDXL";
    case SDCL_FAMILY_SDXL_REFINER: return "SDXL refiner";
    case SDCL_FAMILY_UNKNOWN: break;
    }
  return "unknown";
}

static sdcl_status
load_tokenizer (const sdcl_model_files *mf, const char *dir, sdcl_tokenizer **out, sdcl_error *err)
{
  if (dir)
    {
      g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
      g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);
      return sdcl_tokenizer_load (vocab, merges, out, err);
    }
  if (mf->vocab_path && mf->merges_path)
    return sdcl_tokenizer_load (mf->vocab_path, mf->merges_path, out, err);
  return sdcl_tokenizer_load_default (out, err);
}

static uint64_t
count_parameters (const sdcl_wset *ws)
{
  /* Counted from the canonical tensors, so both layouts agree. */
  uint64_t n = 0;
  for (size_t i = 0; i < sdcl_wset_count (ws); i++)
    {
      const sdcl_st_tensor *t = sdcl_wset_at (ws, i);
      if (t->dtype == SDCL_DT_F32 || t->dtype == SDCL_DT_F16 || t->dtype == SDCL_DT_BF16)
        n += (uint64_t) t->n_elements;
    }
  return n;
}

static void
fill_info (sdcl_model *m)
{
  const sdcl_model_files *mf = m->files;
  sdcl_model_info *info = &m->info;
  info->family = mf->family;
  info->family_name = family_name (mf->family);
  info->layout = mf->single_file ? "single-file" : "diffusers";
  info->unet_in_channels = mf->unet.in_channels;
  info->latent_channels = mf->vae.latent_channels;
  info->vae_scale_factor = 1 << (mf->vae.n_levels - 1);
  info->native_resolution = mf->unet.sample_size * info->vae_scale_factor;
  info->prediction = mf->sched.prediction_type;
  info->n_parameters = count_parameters (mf->unet_w) + count_parameters (mf->vae_w)
                       + count_parameters (mf->text_w);
  info->device_bytes = sdcl_clip_device_bytes (m->clip) + sdcl_unet_device_bytes (m->unet)
                       + sdcl_vae_device_bytes (m->vae);
}

static sdcl_status
build_networks (sdcl_model *m, sdcl_wtype wtype, sdcl_error *err)
{
  sdcl_cl *cl = m->ctx->cl;
  sdcl_model_files *mf = m->files;
  sdcl_status st = sdcl_clip_new (cl, mf->text_w, &mf->clip, wtype, &m->clip, err);
  if (st == SDCL_OK)
    st = sdcl_unet_new (cl, mf->unet_w, &mf->unet, wtype, &m->unet, err);
  if (st == SDCL_OK)
    st = sdcl_vae_new (cl, mf->vae_w, &mf->vae, wtype, false, &m->vae, err);
  return st;
}

sdcl_status
sdcl_model_load (sdcl_ctx *ctx, const char *path, const sdcl_model_params *params,
                 sdcl_model **out, sdcl_error *err)
{
  sdcl_model_params defaults = sdcl_model_default_params ();
  if (!out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_model_load: out is NULL");
  *out = NULL;
  if (!ctx || !path || !*path)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_model_load: no context or no model path");
  if (!params)
    params = &defaults;
  if (params->weights != SDCL_WEIGHTS_F16 && params->weights != SDCL_WEIGHTS_F32)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown weight precision %d", params->weights);

  sdcl_error_clear (err);
  sdcl_model *m = g_new0 (sdcl_model, 1);
  m->ctx = ctx;
  g_mutex_lock (&ctx->run_lock);
  sdcl_status st = sdcl_model_files_open (path, &m->files, err);
  if (st == SDCL_OK)
    st = load_tokenizer (m->files, params->tokenizer_dir, &m->tokenizer, err);
  if (st == SDCL_OK)
    {
      m->wtype = params->weights == SDCL_WEIGHTS_F16 ? SDCL_WT_F16 : SDCL_WT_F32;
      st = build_networks (m, m->wtype, err);
    }
  if (st == SDCL_OK)
    {
      /* Uploads are blocking, but the sticky error is the last word. */
      sdcl_cl_finish (ctx->cl);
      st = sdcl_cl_check (ctx->cl, err);
    }
  if (st != SDCL_OK)
    sdcl_cl_clear_error (ctx->cl);
  g_mutex_unlock (&ctx->run_lock);

  if (st != SDCL_OK)
    {
      sdcl_model_free (m);
      return st;
    }
  fill_info (m);
  *out = m;
  return SDCL_OK;
}

/* The VAE encoder is built on the first image-to-image or inpainting run,
 * not at load: text-to-image (what most loads are for, the GIMP plug-in's
 * included) never needs it, and it is a third of the VAE (34 M parameters
 * for SD, ~70 MB in F16) plus its upload time.  The VAE is rebuilt whole
 * with the encoder, which re-uploads the decoder once (well under a second
 * next to the first UNet evaluation) but keeps nets.h's VAE a single
 * object.  On failure the decoder-only VAE stays in place. */
sdcl_status
sdcl_model_ensure_encoder (sdcl_model *m, sdcl_error *err)
{
  if (m->vae_has_encoder)
    return SDCL_OK;
  sdcl_cl *cl = m->ctx->cl;
  sdcl_vae *vae = NULL;
  sdcl_status st = sdcl_vae_new (cl, m->files->vae_w, &m->files->vae, m->wtype, true, &vae, err);
  if (st == SDCL_OK)
    {
      sdcl_cl_finish (cl);
      st = sdcl_cl_check (cl, err);
    }
  if (st != SDCL_OK)
    {
      sdcl_vae_free (vae);
      return st;
    }
  sdcl_vae_free (m->vae);
  m->vae = vae;
  m->vae_has_encoder = true;
  fill_info (m);
  return SDCL_OK;
}

void
sdcl_model_free (sdcl_model *m)
{
  if (!m)
    return;
  sdcl_clip_free (m->clip);
  sdcl_unet_free (m->unet);
  sdcl_vae_free (m->vae);
  sdcl_tokenizer_free (m->tokenizer);
  sdcl_model_files_close (m->files);
  /* Activation buffers of this model's runs stay pooled otherwise. */
  sdcl_cl_pool_trim (m->ctx->cl);
  g_free (m);
}

void
sdcl_model_get_info (const sdcl_model *m, sdcl_model_info *out)
{
  *out = m->info;
}

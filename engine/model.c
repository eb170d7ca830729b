/* sdcl_model: a checkpoint's files, tokenizer and networks on a device.
 *
 * Loading is: open and validate every file (model_files.c), pick a
 * tokenizer, then (resident models) build the three networks, which upload
 * their weights.  Any failure frees what was built and names the cause.
 *
 * Residency (sdcl.h): a lean model builds each network when a run's phase
 * needs it (sdcl_model_acquire) and frees it when the phase ends
 * (sdcl_model_phase_done).  Either way the mapped file pages are dropped
 * from the process once scanned or uploaded (nn.c, model_files.c), and the
 * activation pool is emptied between phases: on CPU devices the weights,
 * the activations and any touched file page all count as host memory.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "api_internal.h"
#include "lora_apply.h"
#include "pipeline_internal.h"

sdcl_model_params
sdcl_model_default_params (void)
{
  sdcl_model_params p = { .weights = SDCL_WEIGHTS_F16, .tokenizer_dir = NULL,
                          .residency = SDCL_RESIDENCY_RESIDENT };
  return p;
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

/* On CPU devices the driver's buffers come from malloc, and glibc keeps
 * freed blocks below its (adaptive, up to 32 MB) mmap threshold in its
 * arenas: a freed network's weights would stay resident and the next phase
 * would only partly reuse them.  Handing the free pages back is cheap next
 * to a phase. */
static void
return_freed_memory (void)
{
#if defined(__GLIBC__)
  malloc_trim (0);
#endif
}

static uint64_t
device_bytes (const sdcl_model *m)
{
  return sdcl_clip_device_bytes (m->clip) + sdcl_clip_device_bytes (m->clip2)
         + sdcl_unet_device_bytes (m->unet)
         + sdcl_vae_device_bytes (m->vae) + sdcl_model_lora_device_bytes (m);
}

static const sdcl_wset *
net_weights (const sdcl_model *m, sdcl_net net)
{
  return net == SDCL_NET_CLIP ? m->files->text_w : net == SDCL_NET_UNET ? m->files->unet_w
                                                                        : m->files->vae_w;
}

static void
free_network (sdcl_model *m, sdcl_net net)
{
  switch (net)
    {
    case SDCL_NET_CLIP:
      sdcl_clip_free (m->clip);
      sdcl_clip_free (m->clip2);
      m->clip = m->clip2 = NULL;
      break;
    case SDCL_NET_UNET:
      sdcl_unet_free (m->unet);
      m->unet = NULL;
      break;
    case SDCL_NET_VAE:
      sdcl_vae_free (m->vae);
      m->vae = NULL;
      m->vae_has_encoder = false;
      break;
    }
}

/* sdcl_model_params.prediction over what the files say; a single file's
 * native size follows its prediction type. */
static void
override_prediction (sdcl_model_files *mf, sdcl_prediction_choice choice)
{
  if (choice == SDCL_PREDICTION_FROM_MODEL)
    return;
  mf->sched.prediction_type = choice == SDCL_PREDICTION_FORCE_V ? SDCL_PREDICTION_V
                                                                 : SDCL_PREDICTION_EPSILON;
  mf->prediction_source = "model parameters";
  if (mf->single_file)
    sdcl_family_single_file_size (mf);
}

/* Everything but device_bytes: what the files alone say. */
static void
fill_info_from_files (const sdcl_model_files *mf, sdcl_model_info *info)
{
  info->family = mf->family_desc->id;
  info->family_name = mf->family_desc->name;
  info->layout = mf->single_file ? "single-file" : "diffusers";
  info->unet_in_channels = mf->unet.in_channels;
  info->latent_channels = mf->vae.latent_channels;
  info->vae_scale_factor = 1 << (mf->vae.n_levels - 1);
  info->native_resolution = mf->unet.sample_size * info->vae_scale_factor;
  info->prediction = mf->sched.prediction_type;
  info->scheduler_ignored_keys = mf->sched.ignored_keys;
  info->prediction_source = mf->prediction_source;
  info->n_parameters = count_parameters (mf->unet_w) + count_parameters (mf->vae_w)
                       + count_parameters (mf->text_w)
                       + (mf->text2_w ? count_parameters (mf->text2_w) : 0);
  info->device_bytes = 0;
  info->n_text_encoders = mf->text2_w ? 2 : 1;
  info->context_dim = mf->unet.cross_attention_dim;
  info->size_conditioning = mf->unet.add_embed_in > 0;
  info->turbo = mf->turbo;
}

static void
fill_info (sdcl_model *m)
{
  fill_info_from_files (m->files, &m->info);
  m->info.device_bytes = device_bytes (m);
}

/* Builds one network if it is not there (uploads are blocking, but the
 * sticky error is the last word).  On failure nothing of it stays. */
static sdcl_status
build_network (sdcl_model *m, sdcl_net net, sdcl_error *err)
{
  sdcl_cl *cl = m->ctx->cl;
  sdcl_model_files *mf = m->files;
  sdcl_status st = SDCL_OK;
  switch (net)
    {
    case SDCL_NET_CLIP:
      if (!m->clip)
        st = sdcl_clip_new (cl, mf->text_w, &mf->clip, m->wtype, &m->clip, err);
      if (st == SDCL_OK && mf->text2_w && !m->clip2)   /* the text phase runs both */
        st = sdcl_clip_new (cl, mf->text2_w, &mf->clip2, m->wtype, &m->clip2, err);
      break;
    case SDCL_NET_UNET:
      if (!m->unet)
        st = sdcl_unet_new (cl, mf->unet_w, &mf->unet, m->wtype,
                            m->residency == SDCL_RESIDENCY_STREAM, &m->unet, err);
      if (m->unet)   /* lean: the CFG pair one at a time, half the activations */
        sdcl_unet_set_serial_batch (m->unet, m->residency != SDCL_RESIDENCY_RESIDENT);
      break;
    case SDCL_NET_VAE:
      if (!m->vae)
        {
          st = sdcl_vae_new (cl, mf->vae_w, &mf->vae, m->wtype, false, &m->vae, err);
          m->vae_has_encoder = false;
        }
      break;
    }
  if (st == SDCL_OK)
    {
      sdcl_cl_finish (cl);
      st = sdcl_cl_check (cl, err);
    }
  if (st != SDCL_OK)
    {
      free_network (m, net);
      sdcl_cl_clear_error (cl);
    }
  /* nn.c drops each tensor's pages after its upload; page faults map up to
   * 64 kB around an address, so some come back: once more over the set. */
  sdcl_wset_drop_all_pages (net_weights (m, net));
  if (net == SDCL_NET_CLIP && mf->text2_w)
    sdcl_wset_drop_all_pages (mf->text2_w);
  return st;
}

static sdcl_status
build_networks (sdcl_model *m, sdcl_error *err)
{
  sdcl_status st = SDCL_OK;
  for (int i = 0; i < m->family->n_nets && st == SDCL_OK; i++)
    st = build_network (m, m->family->nets[i], err);
  return st;
}

/* Idle activation buffers a lean model's phase may keep (see
 * sdcl_cl_set_pool_idle_limit).  At 512x512 the UNet's exact-size pool
 * otherwise holds ~430 MB for ~180 MB in use (batch 2; 90 MB in use at batch 1,
 * ~95 MB pooled with this limit, ~117 MB with 32 MB). */
#define LEAN_POOL_IDLE_BYTES (8u << 20)

/* The run lock is held, so the context's pool serves this model alone.
 * Derived weights (Winograd's transformed convolution weights, 8 times
 * an F16 weight's bytes: 1.2 GB for SD 1.5 at 512x512) are kept only
 * where every weight stays resident anyway; lean and streamed runs make
 * each at every use into one 32 MB buffer instead (BENCHMARKS.md, step 16). */
static void
set_pool_policy (sdcl_model *m)
{
  const bool resident = m->residency == SDCL_RESIDENCY_RESIDENT;
  sdcl_cl_set_pool_idle_limit (m->ctx->cl, resident ? UINT64_MAX : LEAN_POOL_IDLE_BYTES);
  sdcl_cl_set_derived_kept (m->ctx->cl, resident);
}

sdcl_status
sdcl_model_acquire (sdcl_model *m, sdcl_net net, sdcl_error *err)
{
  set_pool_policy (m);
  sdcl_status st = build_network (m, net, err);
  m->info.device_bytes = device_bytes (m);
  return st;
}

void
sdcl_model_phase_done (sdcl_model *m, sdcl_net net)
{
  if (m->residency != SDCL_RESIDENCY_RESIDENT)
    {
      free_network (m, net);
      sdcl_model_lora_drop_device (m);
    }
  sdcl_wset_drop_all_pages (net_weights (m, net));
  if (net == SDCL_NET_CLIP && m->files->text2_w)
    sdcl_wset_drop_all_pages (m->files->text2_w);
  m->info.device_bytes = device_bytes (m);
  /* Activation sizes differ per phase (exact-size reuse), so nothing the
   * next phase could reuse is lost; at the end of a run this also hands
   * back the activations of a resident model between runs. */
  if (g_getenv ("SDCL_DEBUG_MEM"))
    g_printerr ("sdcl: phase %d done: pool peak %.1f MB, in use peak %.1f MB, weights %.1f MB\n",
                (int) net, sdcl_cl_pool_peak_bytes (m->ctx->cl) / 1e6,
                sdcl_cl_pool_in_use_peak_bytes (m->ctx->cl) / 1e6,
                sdcl_cl_weight_bytes (m->ctx->cl) / 1e6);
  sdcl_cl_pool_reset_peak (m->ctx->cl);
  sdcl_cl_pool_trim (m->ctx->cl);
  return_freed_memory ();
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
  if (params->weights != SDCL_WEIGHTS_F16 && params->weights != SDCL_WEIGHTS_F32
      && params->weights != SDCL_WEIGHTS_Q8)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown weight precision %d", params->weights);
  if (params->residency != SDCL_RESIDENCY_RESIDENT && params->residency != SDCL_RESIDENCY_LEAN
      && params->residency != SDCL_RESIDENCY_STREAM)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown residency %d", params->residency);
  if (params->prediction != SDCL_PREDICTION_FROM_MODEL && params->prediction != SDCL_PREDICTION_FORCE_EPSILON
      && params->prediction != SDCL_PREDICTION_FORCE_V)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown prediction choice %d", params->prediction);
  if (params->variant != SDCL_VARIANT_FROM_MODEL && params->variant != SDCL_VARIANT_TURBO)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown model variant %d", params->variant);

  sdcl_error_clear (err);
  sdcl_model *m = g_new0 (sdcl_model, 1);
  m->ctx = ctx;
  g_mutex_lock (&ctx->run_lock);
  sdcl_status st = sdcl_model_files_open (path, &m->files, err);
  if (st == SDCL_OK)
    {
      m->family = m->files->family_desc;
      override_prediction (m->files, params->prediction);
      st = sdcl_family_apply_variant (m->files, params->variant, err);
    }
  if (st == SDCL_OK)
    st = load_tokenizer (m->files, params->tokenizer_dir, &m->tokenizer, err);
  m->wtype = params->weights == SDCL_WEIGHTS_F16 ? SDCL_WT_F16
             : params->weights == SDCL_WEIGHTS_Q8 ? SDCL_WT_Q8 : SDCL_WT_F32;
  m->residency = params->residency;
  if (st == SDCL_OK && m->residency == SDCL_RESIDENCY_RESIDENT)
    st = build_networks (m, err);
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
  set_pool_policy (m);
  if (m->vae && m->vae_has_encoder)
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
  m->info.device_bytes = device_bytes (m);
  return SDCL_OK;
}

void
sdcl_model_free (sdcl_model *m)
{
  if (!m)
    return;
  sdcl_clip_free (m->clip);
  sdcl_clip_free (m->clip2);
  sdcl_unet_free (m->unet);
  sdcl_vae_free (m->vae);
  sdcl_lora_state_free (m->lora);   /* the networks that ran its side paths are gone */
  sdcl_tokenizer_free (m->tokenizer);
  sdcl_model_files_close (m->files);
  /* Activation buffers of this model's runs stay pooled otherwise. */
  sdcl_cl_pool_trim (m->ctx->cl);
  return_freed_memory ();
  g_free (m);
}

void
sdcl_model_get_info (const sdcl_model *m, sdcl_model_info *out)
{
  if (out)
    {
      if (m)
        *out = m->info;
      else
        memset (out, 0, sizeof *out);
    }
}

sdcl_status
sdcl_model_probe (const char *path, sdcl_model_info *out, sdcl_error *err)
{
  return sdcl_model_probe_params (path, NULL, out, err);
}

sdcl_status
sdcl_model_probe_params (const char *path, const sdcl_model_params *params, sdcl_model_info *out,
                         sdcl_error *err)
{
  sdcl_model_files *mf = NULL;
  if (!out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_model_probe: out is NULL");
  memset (out, 0, sizeof *out);
  if (!path || !*path)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_model_probe: no model path");
  sdcl_status st = sdcl_model_files_open (path, &mf, err);
  if (st != SDCL_OK)
    return st;
  if (params)
    {
      override_prediction (mf, params->prediction);
      st = sdcl_family_apply_variant (mf, params->variant, err);
    }
  if (st == SDCL_OK)
    fill_info_from_files (mf, out);
  sdcl_model_files_close (mf);
  return st;
}

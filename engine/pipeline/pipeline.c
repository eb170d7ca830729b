/* Text-to-image: prompt -> text conditioning -> denoising loop -> VAE decode.
 *
 * The loop follows diffusers' StableDiffusionPipeline step for step (see
 * docs/diffusion.md §Guidance, §Text to image): the negative and positive contexts
 * are batched [negative, positive], the latents duplicated, the UNet run once
 * per step with batch 2, the guided output combined on the host in float32,
 * and the sampler steps on the host.  Latents are small (4 x h x w floats),
 * so the per-step host round trip costs nothing next to a UNet evaluation.
 *
 * The run pieces (context, loop, encode, decode) are shared with the image
 * editing pipelines (pipeline_edit.c) through pipeline_internal.h.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include "image_internal.h"
#include "clrt_internal.h"
#include "pipeline_internal.h"
#include "sampler_table.h"
#include "embedding.h"

sdcl_gen_params
sdcl_gen_default_params (void)
{
  sdcl_gen_params p = {
    .prompt = NULL,
    .negative_prompt = NULL,
    .width = 0,
    .height = 0,
    .steps = 20,
    .guidance = 7.5f,
    .sampler = SDCL_SAMPLER_DPMPP_2M,
    .karras_sigmas = true,
    .schedule = SDCL_SCHEDULE_DEFAULT,
    .seed = 0,
    .rng = SDCL_RNG_TORCH,
    .clip_skip = 0,
    .prompt_syntax = SDCL_PROMPT_A1111,
    .eta = 0.0f,
    .strength = 0.75f,
    .mask_blur = 4.0f,
    .only_masked = false,
    .mask_padding = 32,
    .tiling = false,
  };
  return p;
}

sdcl_gen_params
sdcl_gen_model_params (const sdcl_model *model)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  sdcl_model_info info;
  sdcl_model_get_info (model, &info);
  if (info.turbo)   /* the Turbo model cards' settings */
    {
      p.sampler = SDCL_SAMPLER_EULER;
      p.karras_sigmas = false;
      p.steps = 1;
      p.guidance = 0.0f;
    }
  return p;
}

static bool
cancelled (const sdcl_run *r)
{
  return r->p->cancel && *r->p->cancel;
}

/* ---- phases and cancellation (issue 7) ---------------------------------- */

static sdcl_phase_hook_fn phase_hook;
static void *phase_hook_user;

void
sdcl_set_phase_hook_for_testing (sdcl_phase_hook_fn fn, void *user)
{
  phase_hook = fn;
  phase_hook_user = user;
}

static void
enter_phase (const char *phase)
{
  if (phase_hook)
    phase_hook (phase, phase_hook_user);
}

sdcl_status
sdcl_run_phase_status (sdcl_status st, const char *phase, sdcl_error *err)
{
  if (st == SDCL_ERR_CANCELLED)
    sdcl_fail (err, st, "cancelled during %s", phase);
  return st;
}

static bool
net_on_device (const sdcl_model *m, sdcl_net net)
{
  return net == SDCL_NET_CLIP ? m->clip != NULL : net == SDCL_NET_UNET ? m->unet != NULL
                                                                       : m->vae != NULL;
}

/* sdcl_model_acquire as a phase of its own when it uploads something (lean
 * residency).  The loaders poll the flag between tensors; it is checked
 * once more when the upload is done. */
static sdcl_status
acquire (sdcl_run *r, sdcl_net net, sdcl_error *err)
{
  if (net_on_device (r->model, net))
    return sdcl_model_acquire (r->model, net, err);
  enter_phase ("model load");
  sdcl_cl *cl = r->model->ctx->cl;
  sdcl_cl_set_cancel (cl, r->p->cancel);
  sdcl_status st = sdcl_model_acquire (r->model, net, err);
  if (st == SDCL_OK && cancelled (r))
    st = SDCL_ERR_CANCELLED;
  return sdcl_run_phase_status (st, "model load", err);
}

sdcl_status
sdcl_run_check_params (const sdcl_model *m, const sdcl_gen_params *p, sdcl_error *err)
{
  if (m->files->unet.time_cond_proj_dim > 0 && p->sampler != SDCL_SAMPLER_LCM)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "an LCM-distilled UNet (time_cond_proj_dim %d) runs with the lcm sampler only, "
                      "got %s", m->files->unet.time_cond_proj_dim, sdcl_sampler_name (p->sampler));
  if (p->steps < 1 || p->steps > SDCL_MAX_STEPS)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "steps must be 1..%d, got %d",
                      SDCL_MAX_STEPS, p->steps);
  if (!isfinite (p->guidance) || p->guidance < 0.0f || p->guidance > SDCL_MAX_GUIDANCE)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "guidance scale must be 0..%g, got %g",
                      SDCL_MAX_GUIDANCE, (double) p->guidance);
  if (!sdcl_sampler_name (p->sampler))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown sampler %d", (int) p->sampler);
  if (!sdcl_schedule_name (p->schedule))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown schedule %d", (int) p->schedule);
  if (!sdcl_sampler_has_schedule (p->sampler, p->schedule))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "the %s sampler does not take the %s schedule", sdcl_sampler_name (p->sampler),
                      sdcl_schedule_name (p->schedule));
  if (p->rng != SDCL_RNG_TORCH && p->rng != SDCL_RNG_PHILOX)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown noise generator %d", (int) p->rng);
  if (p->prompt_syntax != SDCL_PROMPT_A1111 && p->prompt_syntax != SDCL_PROMPT_PLAIN)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown prompt syntax %d",
                      (int) p->prompt_syntax);
  if (p->clip_skip < 0 || p->clip_skip >= m->files->clip.n_layers)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "clip_skip must be 0..%d for this text encoder, got %d",
                      m->files->clip.n_layers - 1, p->clip_skip);
  if (!isfinite (p->eta) || p->eta < 0.0f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "eta must be >= 0, got %g", (double) p->eta);
  if (p->eta > sdcl_sampler_eta_max (p->sampler))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "eta (gamma) must be 0..%g for the %s sampler, got %g",
                      (double) sdcl_sampler_eta_max (p->sampler), sdcl_sampler_name (p->sampler),
                      (double) p->eta);
  int f = m->info.vae_scale_factor;
  if (p->vae_tile < -1 || (p->vae_tile > 0 && (p->vae_tile < SDCL_VAE_MIN_TILE || p->vae_tile % f)))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "VAE tile must be -1 (never tile), 0 (automatic) or a multiple of %d from "
                      "%d pixels, got %d", f, SDCL_VAE_MIN_TILE, p->vae_tile);
  if (p->tiling && p->vae_tile > 0)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "tiling (seamless textures) needs the untiled VAE: the tiled VAE pads "
                      "with zeros; use VAE tile 0 or -1, got %d", p->vae_tile);
  return SDCL_OK;
}

/* Text-to-image: a regular UNet and an output size on the latent grid. */
static sdcl_status
check_txt2img (const sdcl_model *m, const sdcl_gen_params *p, int *width, int *height,
               sdcl_error *err)
{
  const sdcl_model_info *info = &m->info;
  int f = info->vae_scale_factor;

  if (m->files->unet.in_channels != info->latent_channels)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "this is an inpainting model (the UNet takes %d input channels): "
                      "it cannot do text-to-image; use a regular %s model",
                      m->files->unet.in_channels, info->family_name);
  sdcl_status st = sdcl_run_check_params (m, p, err);
  if (st != SDCL_OK)
    return st;

  *width = p->width ? p->width : info->native_resolution;
  *height = p->height ? p->height : info->native_resolution;
  if (*width <= 0 || *height <= 0 || *width > SDCL_MAX_SIDE_PIXELS
      || *height > SDCL_MAX_SIDE_PIXELS)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "image size %dx%d is out of range (1..%d pixels per side)", *width,
                      *height, SDCL_MAX_SIDE_PIXELS);
  if (*width % f || *height % f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "image size %dx%d is not a multiple of %d (the VAE's scale factor)",
                      *width, *height, f);
  return SDCL_OK;
}

/* The prompts as the model's family conditions its UNet.  Embeddings are
 * small files, read again by every run (a front end may change them). */
static sdcl_status
encode_text (sdcl_run *r, sdcl_error *err)
{
  GPtrArray *embeddings = NULL;
  sdcl_status st = sdcl_embeddings_load (r->p->embeddings, r->p->n_embeddings, &embeddings, err);
  const sdcl_prompt_request req = { .prompt = r->prompt_text,
                                    .negative_prompt = r->negative_text,
                                    .cfg = r->cfg,
                                    .clip_skip = r->p->clip_skip,
                                    .syntax = r->p->prompt_syntax,
                                    .embeddings = embeddings,
                                    .cancel = r->p->cancel,
                                    .width = r->width, .height = r->height };
  if (st == SDCL_OK)
    st = r->model->family->encode_prompt (r->model, &req, &r->text, err);
  g_ptr_array_unref (embeddings);
  return st;
}

/* An explicit schedule, else Karras where karras_sigmas asks and the
 * sampler has it. */
static sdcl_schedule
run_schedule (const sdcl_gen_params *p)
{
  if (p->schedule != SDCL_SCHEDULE_DEFAULT)
    return p->schedule;
  return p->karras_sigmas && sdcl_sampler_has_karras (p->sampler) ? SDCL_SCHEDULE_KARRAS
                                                                   : SDCL_SCHEDULE_DEFAULT;
}

sdcl_status
sdcl_run_prepare (sdcl_run *r, sdcl_error *err)
{
  const sdcl_gen_params *p = r->p;
  sdcl_status st = sdcl_run_loras (r, err);
  if (st != SDCL_OK)
    return st;
  st = acquire (r, SDCL_NET_CLIP, err);
  if (st == SDCL_OK)
    {
      enter_phase ("text encoding");
      st = sdcl_run_phase_status (encode_text (r, err), "text encoding", err);
    }
  sdcl_model_phase_done (r->model, SDCL_NET_CLIP);
  sdcl_sched_config cfg = r->model->files->sched;
  cfg.skip_prk_steps = cfg.skip_prk_steps || r->plms_only;
  cfg.ays = r->model->family->ays;
  if (st == SDCL_OK)
    st = sdcl_sched_init (&r->sched, p->sampler, &cfg, p->steps, run_schedule (p), err);
  if (st == SDCL_OK)
    r->sched.eta = p->eta;
  return st;
}

/* eps = uncond + g * (cond - uncond), in place into the first half. */
static void
apply_guidance (float *out, int64_t numel, float g)
{
  const float *cond = out + numel;
  for (int64_t i = 0; i < numel; i++)
    out[i] = out[i] + g * (cond[i] - out[i]);
}

/* The UNet input of one step, [batch, lc + cond_channels, lh, lw]: the
 * scaled latents, then the conditioning channels, for every batch entry. */
static void
build_unet_input (const sdcl_run *r, float *host_in)
{
  int64_t entry = r->numel + r->cond_channels * r->plane;
  sdcl_sched_scale_input (&r->sched, r->latents, host_in, r->numel);
  if (r->cond)
    memcpy (host_in + r->numel, r->cond, r->cond_channels * r->plane * sizeof (float));
  for (int b = 1; b < r->batch; b++)
    memcpy (host_in + b * entry, host_in, entry * sizeof (float));
}

static sdcl_status
denoise_step (sdcl_run *r, int i, float *host_in, float *host_out, sdcl_error *err)
{
  build_unet_input (r, host_in);

  float t[2] = { r->sched.timesteps[i], r->sched.timesteps[i] };
  sdcl_t x = { 0 }, eps = { 0 };
  sdcl_t_alloc (r->cl, &x, 4, r->batch, r->lc + r->cond_channels, r->lh, r->lw);
  sdcl_t_upload (r->cl, &x, host_in);
  sdcl_status st = sdcl_cl_check (r->cl, err);
  if (st == SDCL_OK)
    {
      /* LCM-distilled UNets take the guidance as an embedding instead of CFG */
      sdcl_unet_set_guidance (r->model->unet, r->p->guidance - 1.0f);
      if (r->text.pooled)   /* SDXL: pooled text and size ids through the add embedding */
        sdcl_unet_set_text_time (r->model->unet, r->text.pooled, r->text.time_ids, r->batch);
      st = sdcl_unet_forward (r->model->unet, &x, t, &r->text.states, r->p->cancel, &eps, err);
    }
  sdcl_t_release (r->cl, &x);
  if (st != SDCL_OK)
    return st;
  sdcl_t_download (r->cl, &eps, host_out);
  sdcl_t_release (r->cl, &eps);
  st = sdcl_cl_check (r->cl, err);
  if (st != SDCL_OK)
    return st;

  if (r->cfg)
    apply_guidance (host_out, r->numel, r->p->guidance);
  sdcl_sched_step (&r->sched, host_out, r->latents, r->numel, &r->rng, r->x0);
  if (r->after_step)
    r->after_step (r, i);
  return SDCL_OK;
}

static sdcl_status
report_progress (sdcl_run *r, int step, int n_steps)
{
  const sdcl_gen_params *p = r->p;
  if (p->progress)
    {
      sdcl_image preview = { 0 };
      if (p->preview)
        sdcl_render_latent_preview (r->x0, r->lc, r->lh, r->lw, &preview);
      bool go_on = p->progress (step, n_steps, p->preview ? &preview : NULL, p->user_data);
      sdcl_image_free (&preview);
      if (!go_on)
        return SDCL_ERR_CANCELLED;
    }
  return cancelled (r) ? SDCL_ERR_CANCELLED : SDCL_OK;
}

/* A UNet buffer beyond the device's per-buffer limit fails the run only
 * after the layers before it were queued, and at large sizes those (their
 * attention is quadratic in the pixels) run for minutes to no avail:
 * refused up front instead. */
static sdcl_status
check_unet_fits (const sdcl_run *r, sdcl_error *err)
{
  uint64_t need = sdcl_unet_largest_buffer (r->model->unet, r->batch, r->lh, r->lw);
  uint64_t limit = sdcl_cl_max_alloc (r->cl);
  if (need <= limit)
    return SDCL_OK;
  return sdcl_fail (err, SDCL_ERR_OUT_OF_MEMORY,
                    "the UNet at %dx%d pixels needs a buffer of %" G_GUINT64_FORMAT " bytes; the "
                    "device allows at most %" G_GUINT64_FORMAT " bytes per buffer: choose a "
                    "smaller size", r->width, r->height, need, limit);
}

sdcl_status
sdcl_run_denoise (sdcl_run *r, sdcl_error *err)
{
  int64_t in_numel = (int64_t) r->batch * (r->numel + r->cond_channels * r->plane);
  float *host_in = g_new (float, in_numel);
  float *host_out = g_new (float, r->batch * r->numel);
  int first = r->sched.begin_index, n_run = r->sched.n - first;
  sdcl_status st = acquire (r, SDCL_NET_UNET, err);
  if (st == SDCL_OK)
    st = check_unet_fits (r, err);
  if (st == SDCL_OK)   /* the text states stay the same over the steps */
    sdcl_unet_keep_context (r->model->unet, true);
  for (int i = first; i < r->sched.n && st == SDCL_OK; i++)
    {
      char phase[64];
      g_snprintf (phase, sizeof phase, "denoising step %d of %d", i - first + 1, n_run);
      enter_phase (phase);
      st = denoise_step (r, i, host_in, host_out, err);
      if (st == SDCL_OK)
        st = report_progress (r, i - first + 1, n_run);
      sdcl_run_phase_status (st, phase, err);
    }
  g_free (host_in);
  g_free (host_out);
  if (r->model->unet)
    sdcl_unet_keep_context (r->model->unet, false);
  sdcl_model_phase_done (r->model, SDCL_NET_UNET);
  return st;
}

/* ---- VAE passes (issue 6, issue 7) -------------------------------------- */

/* One VAE pass over one sample: untiled on the device (tile 0) or tiled.
 * Host in, host out (*out g_malloc'ed, planar [dims[0], dims[1], dims[2]]). */
static sdcl_status
vae_pass_at (sdcl_run *r, bool decoder, int tile, const float *in, int64_t c, int64_t h,
             int64_t w, float **out, int64_t dims[3], sdcl_error *err)
{
  sdcl_vae *vae = r->model->vae;
  const volatile int *cancel = r->p->cancel;
  *out = NULL;
  if (tile > 0)
    return decoder ? sdcl_vae_decode_tiled (vae, in, h, w, tile, cancel, out, dims, err)
                   : sdcl_vae_encode_tiled (vae, in, h, w, tile, cancel, out, dims, err);
  sdcl_t x = { 0 }, y = { 0 };
  sdcl_t_alloc (r->cl, &x, 4, 1, c, h, w);
  sdcl_t_upload (r->cl, &x, in);
  sdcl_status st = sdcl_cl_check (r->cl, err);
  if (st == SDCL_OK)
    st = decoder ? sdcl_vae_decode (vae, &x, cancel, &y, err)
                 : sdcl_vae_encode (vae, &x, cancel, &y, err);
  sdcl_t_release (r->cl, &x);
  if (st != SDCL_OK)
    return st;
  *out = g_new (float, y.n);
  sdcl_t_download (r->cl, &y, *out);
  for (int i = 0; i < 3; i++)
    dims[i] = y.d[i + 1];
  sdcl_t_release (r->cl, &y);
  st = sdcl_cl_check (r->cl, err);
  if (st != SDCL_OK)
    {
      g_free (*out);
      *out = NULL;
    }
  return st;
}

/* vae_tile 0: untiled when the largest buffer fits the device's single
 * allocation limit and four of them fit beside the weights; else the
 * largest tile (512, 256, ...) whose buffers do.  An estimate: the
 * out-of-memory fallback catches a wrong guess. */
static int
auto_tile (const sdcl_run *r)
{
  const sdcl_vae *vae = r->model->vae;
  uint64_t max_alloc = sdcl_cl_max_alloc (r->cl);
  uint64_t global = sdcl_cl_device (r->cl)->global_mem_bytes;
  uint64_t weights = r->model->info.device_bytes;
  uint64_t room = global > weights ? global - weights : 0;
  uint64_t whole = sdcl_vae_largest_buffer (vae, r->height, r->width, 0);
  if (whole <= max_alloc && 4 * whole <= room)
    return 0;
  int tile = 512;
  while (tile > SDCL_VAE_MIN_TILE)
    {
      uint64_t need = sdcl_vae_largest_buffer (vae, r->height, r->width, tile);
      if (need <= max_alloc && 4 * need <= room)
        break;
      tile /= 2;
    }
  return tile;
}

/* The tile to retry with after running out of memory at `tile` (0:
 * untiled): half the tile, or of the image's longer side when the tile
 * covers it; 0 when that is below SDCL_VAE_MIN_TILE. */
static int
smaller_tile (const sdcl_run *r, int tile)
{
  int f = r->model->info.vae_scale_factor;
  int side = MAX (r->width, r->height);
  int next = (tile == 0 || tile > side ? side : tile) / 2 / f * f;
  return next >= SDCL_VAE_MIN_TILE ? next : 0;
}

/* Rewrites an out-of-memory error that tiling could not avoid so that it
 * names what the pass needed and what the device offers, then the device
 * layer's own message. */
static void
explain_out_of_memory (const sdcl_run *r, const char *phase, int tile, sdcl_error *err)
{
  if (!err)
    return;
  char cause[sizeof err->message];
  g_strlcpy (cause, err->message, sizeof cause);
  char how[64] = "untiled";
  if (tile)
    g_snprintf (how, sizeof how, "even with %d-pixel tiles", tile);
  sdcl_fail (err, SDCL_ERR_OUT_OF_MEMORY,
             "%s of %dx%d pixels ran out of device memory %s: needs buffers of about %"
             G_GUINT64_FORMAT " bytes; the device allows %" G_GUINT64_FORMAT " bytes per buffer "
             "and has %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " of them holding "
             "weights (%s)", phase, r->width, r->height, how,
             sdcl_vae_largest_buffer (r->model->vae, r->height, r->width, tile),
             sdcl_cl_max_alloc (r->cl), sdcl_cl_device (r->cl)->global_mem_bytes,
             r->model->info.device_bytes, cause);
}

/* A VAE pass with the run's tiling choice and the out-of-memory fallback
 * (issue 7): each failure clears the device error, empties the pool and
 * retries with tiles half as large, down to SDCL_VAE_MIN_TILE. */
static sdcl_status
vae_pass (sdcl_run *r, bool decoder, const float *in, int64_t c, int64_t h, int64_t w,
          float **out, int64_t dims[3], sdcl_error *err)
{
  const char *phase = decoder ? "VAE decode" : "VAE encode";
  /* Seamless textures run untiled (see sdcl_gen_params.tiling). */
  const bool may_tile = r->p->vae_tile >= 0 && !r->p->tiling;
  int tile = !may_tile ? 0 : r->p->vae_tile == 0 ? auto_tile (r) : r->p->vae_tile;
  sdcl_status st = vae_pass_at (r, decoder, tile, in, c, h, w, out, dims, err);
  while (st == SDCL_ERR_OUT_OF_MEMORY && may_tile && smaller_tile (r, tile))
    {
      tile = smaller_tile (r, tile);
      g_debug ("%s ran out of device memory (%s); retrying with %d-pixel tiles", phase,
               err ? err->message : "", tile);
      sdcl_cl_clear_error (r->cl);
      sdcl_cl_pool_trim (r->cl);
      st = vae_pass_at (r, decoder, tile, in, c, h, w, out, dims, err);
    }
  if (st == SDCL_ERR_OUT_OF_MEMORY)
    explain_out_of_memory (r, phase, tile, err);
  return sdcl_run_phase_status (st, phase, err);
}

static sdcl_status
decode_latents (sdcl_run *r, sdcl_image *out, sdcl_error *err)
{
  enter_phase ("VAE decode");
  float scale = 1.0f / r->model->files->vae.scaling_factor;
  float *z = g_new (float, r->numel);
  for (int64_t i = 0; i < r->numel; i++)
    z[i] = r->latents[i] * scale;
  float *planar = NULL;
  int64_t dims[3];
  sdcl_status st = vae_pass (r, true, z, r->lc, r->lh, r->lw, &planar, dims, err);
  g_free (z);
  if (st == SDCL_OK)
    sdcl_image_from_decoder (planar, (int) dims[0], r->height, r->width, out);
  g_free (planar);
  return st;
}

/* The decode phase: the VAE decoder is on the device for its duration only
 * in lean mode (model.c). */
sdcl_status
sdcl_run_decode (sdcl_run *r, sdcl_image *out, sdcl_error *err)
{
  sdcl_status st = acquire (r, SDCL_NET_VAE, err);
  if (st == SDCL_OK)
    st = decode_latents (r, out, err);
  sdcl_model_phase_done (r->model, SDCL_NET_VAE);
  return st;
}

/* Interleaved RGB in [0, 1] -> planar [3, h, w] in [-1, 1], as diffusers'
 * image processor (2x - 1 in float32). */
static float *
image_to_encoder_input (const sdcl_image *image)
{
  size_t plane = (size_t) image->width * image->height;
  float *planar = g_new (float, 3 * plane);
  for (size_t i = 0; i < plane; i++)
    for (int c = 0; c < 3; c++)
      planar[c * plane + i] = 2.0f * image->data[i * 3 + c] - 1.0f;
  return planar;
}

/* latents = scaling_factor * (mean + std * eps), std = exp(logvar / 2) with
 * logvar clamped to [-30, 20] (diffusers' DiagonalGaussianDistribution). */
static void
sample_posterior (sdcl_run *r, const float *moments, float *latents)
{
  float sf = r->model->files->vae.scaling_factor;
  sdcl_randn_fill (&r->rng, latents, r->numel); /* eps, in place */
  for (int64_t i = 0; i < r->numel; i++)
    {
      float logvar = fminf (fmaxf (moments[r->numel + i], -30.0f), 20.0f);
      float std = expf (0.5f * logvar);
      latents[i] = sf * (moments[i] + std * latents[i]);
    }
}

static sdcl_status
encode_image (sdcl_run *r, const sdcl_image *image, float *latents, sdcl_error *err)
{
  /* Building the encoder is model loading (first use, or lean residency),
   * cancelled like acquire's. */
  if (!r->model->vae || !r->model->vae_has_encoder)
    {
      enter_phase ("model load");
      sdcl_cl_set_cancel (r->model->ctx->cl, r->p->cancel);
      sdcl_status st = sdcl_model_ensure_encoder (r->model, err);
      if (st == SDCL_OK && cancelled (r))
        st = SDCL_ERR_CANCELLED;
      if (st != SDCL_OK)
        return sdcl_run_phase_status (st, "model load", err);
    }
  enter_phase ("VAE encode");
  float *planar = image_to_encoder_input (image);
  float *moments = NULL;
  int64_t dims[3];
  sdcl_status st = vae_pass (r, false, planar, 3, image->height, image->width, &moments, dims,
                             err);
  g_free (planar);
  if (st == SDCL_OK && dims[0] * dims[1] * dims[2] != 2 * r->numel)
    st = sdcl_fail (err, SDCL_ERR_INTERNAL, "VAE encoder returned %lld values, expected %lld",
                    (long long) (dims[0] * dims[1] * dims[2]), (long long) (2 * r->numel));
  if (st == SDCL_OK)
    sample_posterior (r, moments, latents);
  g_free (moments);
  return st;
}

/* The encode phase: the VAE with its encoder is on the device for its
 * duration only in lean mode (model.c). */
sdcl_status
sdcl_run_encode (sdcl_run *r, const sdcl_image *image, float *latents, sdcl_error *err)
{
  sdcl_status st = encode_image (r, image, latents, err);
  sdcl_model_phase_done (r->model, SDCL_NET_VAE);
  return st;
}

void
sdcl_run_setup (sdcl_run *r, sdcl_model *m, const sdcl_gen_params *p, int width, int height)
{
  int f = m->info.vae_scale_factor;
  memset (r, 0, sizeof *r);
  r->model = m;
  r->p = p;
  r->cl = m->ctx->cl;
  r->width = width;
  r->height = height;
  r->lc = m->info.latent_channels;
  r->lh = height / f;
  r->lw = width / f;
  r->plane = (int64_t) r->lh * r->lw;
  r->numel = r->lc * r->plane;
  /* guidance <= 1 is no guidance (diffusers); a distilled UNet embeds it */
  r->cfg = p->guidance > 1.0f && m->files->unet.time_cond_proj_dim == 0;
  r->batch = r->cfg ? 2 : 1;
  r->latents = g_new0 (float, r->numel);
  r->x0 = g_new0 (float, r->numel);
  sdcl_randn_init (&r->rng, p->rng, p->seed);
}

void
sdcl_run_clear (sdcl_run *r)
{
  sdcl_conditioning_clear (r->cl, &r->text);
  sdcl_sched_free (&r->sched);
  g_free (r->latents);
  g_free (r->x0);
  r->latents = r->x0 = NULL;
  g_clear_pointer (&r->prompt_text, g_free);
  g_clear_pointer (&r->negative_text, g_free);
}

static void
initial_latents (sdcl_run *r)
{
  if (r->p->initial_noise)
    memcpy (r->latents, r->p->initial_noise, r->numel * sizeof (float));
  else
    sdcl_randn_fill (&r->rng, r->latents, r->numel);
  for (int64_t i = 0; i < r->numel; i++)
    r->latents[i] *= r->sched.init_noise_sigma;
}

static sdcl_status
run_txt2img (sdcl_run *r, sdcl_image *out, sdcl_error *err)
{
  sdcl_status st = sdcl_run_prepare (r, err);
  if (st != SDCL_OK)
    return st;
  initial_latents (r);
  st = sdcl_run_denoise (r, err);
  sdcl_conditioning_clear (r->cl, &r->text);
  if (st == SDCL_OK)
    st = sdcl_run_decode (r, out, err);
  return st;
}

sdcl_status
sdcl_txt2img (sdcl_model *model, const sdcl_gen_params *params, sdcl_image *out,
              sdcl_error *err)
{
  if (!model || !params || !out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_txt2img: NULL argument");
  memset (out, 0, sizeof *out);
  sdcl_error_clear (err);

  int width = 0, height = 0;
  sdcl_status st = check_txt2img (model, params, &width, &height, err);
  if (st != SDCL_OK)
    return st;
  sdcl_run r;
  sdcl_run_setup (&r, model, params, width, height);

  g_mutex_lock (&model->ctx->run_lock);
  sdcl_cl_set_cancel (r.cl, params->cancel);   /* polled by the device layer too */
  sdcl_cl_set_circular_padding (r.cl, params->tiling);   /* the run's, under its lock */
  st = run_txt2img (&r, out, err);
  sdcl_cl_set_cancel (r.cl, NULL);
  sdcl_conditioning_clear (r.cl, &r.text);
  if (st != SDCL_OK)
    sdcl_cl_clear_error (r.cl); /* leave the context usable for the next run */
  sdcl_cl_set_circular_padding (r.cl, false);
  g_mutex_unlock (&model->ctx->run_lock);

  sdcl_run_clear (&r);
  return st;
}

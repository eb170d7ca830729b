/* Text-to-image: prompt -> CLIP context -> denoising loop -> VAE decode.
 *
 * The loop follows diffusers' StableDiffusionPipeline step for step (see
 * diffusion-reference.md §6.11-§6.12): the negative and positive contexts
 * are batched [negative, positive], the latents duplicated, the UNet run once
 * per step with batch 2, the guided output combined on the host in float32,
 * and the sampler steps on the host.  Latents are small (4 x h x w floats),
 * so the per-step host round trip costs nothing next to a UNet evaluation.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include "api_internal.h"
#include "image_internal.h"
#include "../opencl/ops.h"
#include "rng.h"
#include "scheduler.h"

#define MAX_SIDE_PIXELS 8192
#define MAX_STEPS 1000

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
    .seed = 0,
    .rng = SDCL_RNG_TORCH,
    .clip_skip = 0,
    .eta = 0.0f,
    .strength = 0.75f,
    .mask_blur = 4.0f,
    .only_masked = false,
    .mask_padding = 32,
  };
  return p;
}

/* Everything one run needs, so the steps below stay small. */
typedef struct {
  sdcl_model *model;
  const sdcl_gen_params *p;
  sdcl_cl *cl;
  int width, height;         /* pixels */
  int lc, lh, lw;            /* latent channels, height, width */
  int64_t numel;             /* lc * lh * lw */
  bool cfg;
  int batch;                 /* 2 with CFG, else 1 */
  sdcl_t context;            /* [batch, 77, cross_attention_dim] */
  sdcl_sched sched;
  sdcl_randn rng;
  float *latents;            /* numel */
  float *x0;                 /* numel, current x0 estimate */
} run_state;

static bool
cancelled (const run_state *r)
{
  return r->p->cancel && *r->p->cancel;
}

static sdcl_status
check_params (const sdcl_model *m, const sdcl_gen_params *p, int *width, int *height,
              sdcl_error *err)
{
  const sdcl_model_info *info = &m->info;
  int f = info->vae_scale_factor;

  if (m->files->unet.in_channels != info->latent_channels)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "this is an inpainting model (the UNet takes %d input channels): "
                      "it cannot do text-to-image; use a regular %s model",
                      m->files->unet.in_channels, info->family_name);
  if (m->files->unet.time_cond_proj_dim > 0)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "LCM-distilled UNets (time_cond_proj_dim %d) are not supported yet",
                      m->files->unet.time_cond_proj_dim);

  *width = p->width ? p->width : info->native_resolution;
  *height = p->height ? p->height : info->native_resolution;
  if (*width <= 0 || *height <= 0 || *width > MAX_SIDE_PIXELS || *height > MAX_SIDE_PIXELS)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "image size %dx%d is out of range (1..%d pixels per side)", *width,
                      *height, MAX_SIDE_PIXELS);
  if (*width % f || *height % f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "image size %dx%d is not a multiple of %d (the VAE's scale factor)",
                      *width, *height, f);
  if (p->steps < 1 || p->steps > MAX_STEPS)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "steps must be 1..%d, got %d", MAX_STEPS,
                      p->steps);
  if (!isfinite (p->guidance) || p->guidance < 0.0f || p->guidance > 100.0f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "guidance scale must be 0..100, got %g",
                      (double) p->guidance);
  if (!sdcl_sampler_name (p->sampler))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown sampler %d", (int) p->sampler);
  if (p->rng != SDCL_RNG_TORCH && p->rng != SDCL_RNG_PHILOX)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "unknown noise generator %d", (int) p->rng);
  if (p->clip_skip < 0 || p->clip_skip >= m->files->clip.n_layers)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "clip_skip must be 0..%d for this text encoder, got %d",
                      m->files->clip.n_layers - 1, p->clip_skip);
  if (!isfinite (p->eta) || p->eta < 0.0f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "eta must be >= 0, got %g", (double) p->eta);
  return SDCL_OK;
}

/* Encodes one batch of prompts with the same clip skip into dst at row
 * offset `first` (rows of 77 x D). */
static sdcl_status
encode_prompts (run_state *r, const char *const *prompts, int n, int skip, int first,
                sdcl_error *err)
{
  sdcl_model *m = r->model;
  int32_t ids[2 * SDCL_CLIP_CONTEXT];
  for (int i = 0; i < n; i++)
    sdcl_tokenizer_encode_clip (m->tokenizer, prompts[i] ? prompts[i] : "",
                                m->files->clip.pad_token_id, ids + i * SDCL_CLIP_CONTEXT);

  sdcl_t hidden = { 0 };
  sdcl_status st = sdcl_clip_forward (m->clip, ids, n, SDCL_CLIP_CONTEXT, skip, r->p->cancel,
                                      &hidden, err);
  if (st != SDCL_OK)
    return st;
  int64_t row = (int64_t) SDCL_CLIP_CONTEXT * hidden.d[2];
  op_copy (r->cl, &hidden, 0, &r->context, first * row, n * row);
  sdcl_t_release (r->cl, &hidden);
  return sdcl_cl_check (r->cl, err);
}

/* The CFG context [negative, positive] (or [positive] without CFG).
 * diffusers applies clip_skip to the positive prompt only, so with a skip
 * the two prompts are encoded separately. */
static sdcl_status
build_context (run_state *r, sdcl_error *err)
{
  const sdcl_gen_params *p = r->p;
  int dim = r->model->files->clip.hidden_size;
  sdcl_t_alloc (r->cl, &r->context, 3, r->batch, SDCL_CLIP_CONTEXT, dim, 0);
  sdcl_status st = sdcl_cl_check (r->cl, err);
  if (st != SDCL_OK)
    return st;

  if (!r->cfg)
    return encode_prompts (r, &p->prompt, 1, p->clip_skip, 0, err);
  if (p->clip_skip <= 1)
    {
      const char *both[2] = { p->negative_prompt, p->prompt };
      return encode_prompts (r, both, 2, p->clip_skip, 0, err);
    }
  st = encode_prompts (r, &p->negative_prompt, 1, 0, 0, err);
  if (st == SDCL_OK)
    st = encode_prompts (r, &p->prompt, 1, p->clip_skip, 1, err);
  return st;
}

static bool
sampler_has_karras (sdcl_sampler s)
{
  return s == SDCL_SAMPLER_EULER || s == SDCL_SAMPLER_DPMPP_2M;
}

static void
initial_latents (run_state *r)
{
  if (r->p->initial_noise)
    memcpy (r->latents, r->p->initial_noise, r->numel * sizeof (float));
  else
    sdcl_randn_fill (&r->rng, r->latents, r->numel);
  for (int64_t i = 0; i < r->numel; i++)
    r->latents[i] *= r->sched.init_noise_sigma;
}

/* eps = uncond + g * (cond - uncond), in place into the first half. */
static void
apply_guidance (float *out, int64_t numel, float g)
{
  const float *cond = out + numel;
  for (int64_t i = 0; i < numel; i++)
    out[i] = out[i] + g * (cond[i] - out[i]);
}

static sdcl_status
denoise_step (run_state *r, int i, float *host_in, float *host_out, sdcl_error *err)
{
  sdcl_sched_scale_input (&r->sched, r->latents, host_in, r->numel);
  for (int b = 1; b < r->batch; b++)
    memcpy (host_in + b * r->numel, host_in, r->numel * sizeof (float));

  float t[2] = { r->sched.timesteps[i], r->sched.timesteps[i] };
  sdcl_t x = { 0 }, eps = { 0 };
  sdcl_t_alloc (r->cl, &x, 4, r->batch, r->lc, r->lh, r->lw);
  sdcl_t_upload (r->cl, &x, host_in);
  sdcl_status st = sdcl_cl_check (r->cl, err);
  if (st == SDCL_OK)
    st = sdcl_unet_forward (r->model->unet, &x, t, &r->context, r->p->cancel, &eps, err);
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
  return SDCL_OK;
}

static sdcl_status
report_progress (run_state *r, int step)
{
  const sdcl_gen_params *p = r->p;
  if (p->progress)
    {
      sdcl_image preview = { 0 };
      if (p->preview)
        sdcl_render_latent_preview (r->x0, r->lc, r->lh, r->lw, &preview);
      bool go_on = p->progress (step, r->sched.n, p->preview ? &preview : NULL, p->user_data);
      sdcl_image_free (&preview);
      if (!go_on)
        return SDCL_ERR_CANCELLED;
    }
  return cancelled (r) ? SDCL_ERR_CANCELLED : SDCL_OK;
}

static sdcl_status
denoise (run_state *r, sdcl_error *err)
{
  float *host_in = g_new (float, r->batch * r->numel);
  float *host_out = g_new (float, r->batch * r->numel);
  sdcl_status st = SDCL_OK;
  for (int i = 0; i < r->sched.n && st == SDCL_OK; i++)
    {
      st = denoise_step (r, i, host_in, host_out, err);
      if (st == SDCL_OK)
        st = report_progress (r, i + 1);
      if (st == SDCL_ERR_CANCELLED)
        sdcl_fail (err, st, "cancelled at step %d of %d", i + 1, r->sched.n);
    }
  g_free (host_in);
  g_free (host_out);
  return st;
}

static sdcl_status
decode (run_state *r, sdcl_image *out, sdcl_error *err)
{
  float scale = 1.0f / r->model->files->vae.scaling_factor;
  float *z = g_new (float, r->numel);
  for (int64_t i = 0; i < r->numel; i++)
    z[i] = r->latents[i] * scale;

  sdcl_t zt = { 0 }, img = { 0 };
  sdcl_t_alloc (r->cl, &zt, 4, 1, r->lc, r->lh, r->lw);
  sdcl_t_upload (r->cl, &zt, z);
  g_free (z);
  sdcl_status st = sdcl_cl_check (r->cl, err);
  if (st == SDCL_OK)
    st = sdcl_vae_decode (r->model->vae, &zt, r->p->cancel, &img, err);
  sdcl_t_release (r->cl, &zt);
  if (st != SDCL_OK)
    return st;

  float *planar = g_new (float, img.n);
  sdcl_t_download (r->cl, &img, planar);
  int channels = (int) img.d[1];
  sdcl_t_release (r->cl, &img);
  st = sdcl_cl_check (r->cl, err);
  if (st == SDCL_OK)
    sdcl_image_from_decoder (planar, channels, r->height, r->width, out);
  g_free (planar);
  return st;
}

static sdcl_status
run_txt2img (run_state *r, sdcl_image *out, sdcl_error *err)
{
  sdcl_status st = build_context (r, err);
  if (st == SDCL_OK)
    st = sdcl_sched_init (&r->sched, r->p->sampler, &r->model->files->sched, r->p->steps,
                          r->p->karras_sigmas && sampler_has_karras (r->p->sampler), err);
  if (st != SDCL_OK)
    return st;
  r->sched.eta = r->p->eta;
  initial_latents (r);
  st = denoise (r, err);
  sdcl_t_release (r->cl, &r->context);
  if (st == SDCL_OK)
    st = cancelled (r) ? sdcl_fail (err, SDCL_ERR_CANCELLED, "cancelled before decoding")
                       : decode (r, out, err);
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

  run_state r = { .model = model, .p = params, .cl = model->ctx->cl };
  sdcl_status st = check_params (model, params, &r.width, &r.height, err);
  if (st != SDCL_OK)
    return st;
  int f = model->info.vae_scale_factor;
  r.lc = model->info.latent_channels;
  r.lh = r.height / f;
  r.lw = r.width / f;
  r.numel = (int64_t) r.lc * r.lh * r.lw;
  r.cfg = params->guidance > 1.0f;
  r.batch = r.cfg ? 2 : 1;
  r.latents = g_new0 (float, r.numel);
  r.x0 = g_new0 (float, r.numel);
  sdcl_randn_init (&r.rng, params->rng, params->seed);

  g_mutex_lock (&model->ctx->run_lock);
  st = run_txt2img (&r, out, err);
  sdcl_t_release (r.cl, &r.context);
  if (st != SDCL_OK)
    sdcl_cl_clear_error (r.cl); /* leave the context usable for the next run */
  g_mutex_unlock (&model->ctx->run_lock);

  sdcl_sched_free (&r.sched);
  g_free (r.latents);
  g_free (r.x0);
  return st;
}

/* Image-to-image and inpainting (docs/diffusion.md §Image to image, §Inpainting).
 *
 * Both start from an encoded picture instead of pure noise:
 *   - strength s picks how much of the N-step schedule runs: diffusers'
 *     init_timestep = min(int(N s), N), t_start = N - init_timestep;
 *   - the init image is VAE-encoded to the posterior *sample* (RNG draw),
 *     then forward-noised with the sampler's own add_noise rule to the level
 *     of timesteps[t_start] (a second draw);
 *   - inpainting keeps the unmasked latents on the image's noise path after
 *     every step (4-channel UNets) or conditions a 9-channel UNet on the
 *     mask and the masked image's latents.
 * RNG draws happen in diffusers' order (tests/reference/README.md), so a
 * seed gives diffusers' picture.
 *
 * The public entry points wrap the raw run (sdcl_edit_raw) with what the
 * pipelines of diffusers leave to the caller: resizing to the latent grid
 * and back, the mask blur, "only masked" cropping, and compositing in pixel
 * space so that pixels the mask keeps are returned untouched.
 *
 * Soft masks.  A mask value s in [0, 1] is the amount of change wanted at
 * that pixel.  The latent logic reads s at the top-left pixel of each
 * latent cell (diffusers' nearest-neighbour downsampling) and applies the
 * differential-diffusion rule (docs/diffusion.md §Soft masks): after the k-th of the n steps run
 * (k = 1..n), a cell stays pinned to the re-noised image unless
 *     s > 1 - k/n,
 * i.e. a cell with strength s is released to the model after about
 * (1 - s) n steps.  s = 1 is never pinned, s = 0 always, so a binary mask
 * gives exactly diffusers' blend (1 - m) known + m latents.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "image_ops.h"
#include "pipeline_internal.h"

/* ---- the raw run ------------------------------------------------------ */


/* What the latent-space logic of an edit run needs besides sdcl_run. */
typedef struct {
  const sdcl_image *init;    /* RGB, the run's size */
  const sdcl_image *mask;    /* one channel, the run's size; NULL for img2img */
  int t_start, n_run;        /* first model evaluation, evaluations run */
  float *image_latents;      /* numel: the init image's scaled posterior sample, or NULL */
  float *noise;              /* numel: the forward-noising draw */
  float *known;              /* numel scratch: image latents at the next noise level */
  float *cell_strength;      /* plane: s at each latent cell (inpainting) */
  bool pin_all;              /* 4-channel: pin every cell; 9-channel: fractional cells only */
  float *cond;               /* 9-channel UNet conditioning [1 + lc, lh, lw] */
  sdcl_edit_probe_fn probe;  /* tests only; may be NULL */
  void *probe_user;
} edit_state;

/* diffusers' int(N * strength).  strength arrives as a float, and e.g.
 * 0.7f * 10 = 6.9999998 where Python's 0.7 * 10 gives 7.000000000000001;
 * products within 1e-4 below an integer are taken as that integer (the
 * float's rounding error is < 1e-4 for any N <= 1000). */
static int
init_timestep (const sdcl_gen_params *p)
{
  int n = (int) floor ((double) p->steps * p->strength + 1e-4);
  return n < p->steps ? n : p->steps;
}

static void
edit_state_free (edit_state *e)
{
  g_free (e->image_latents);
  g_free (e->noise);
  g_free (e->known);
  g_free (e->cell_strength);
  g_free (e->cond);
}

/* s at the top-left pixel of every latent cell. */
static float *
sample_cells (const sdcl_image *mask, int f, int lh, int lw)
{
  float *cells = g_new (float, (size_t) lh * lw);
  for (int i = 0; i < lh; i++)
    for (int j = 0; j < lw; j++)
      cells[i * lw + j] = mask->data[(size_t) i * f * mask->width + (size_t) j * f];
  return cells;
}

static bool
any_fractional (const float *s, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    if (s[i] > 0.0f && s[i] < 1.0f)
      return true;
  return false;
}

static void
probe (const edit_state *e, const char *stage, int k, float *values, int64_t n)
{
  if (e->probe)
    e->probe (stage, k, values, n, e->probe_user);
}

/* After sampler step i: cells that are still pinned take the image latents
 * re-noised to the next step's level (the same noise tensor every time;
 * after the last step, the clean image latents). */
static void
pin_known_cells (sdcl_run *r, edit_state *e, int i)
{
  int k = i - e->t_start + 1;
  if (i + 1 < r->sched.n)
    sdcl_sched_add_noise (&r->sched, e->image_latents, e->noise, i + 1, e->known, r->numel);
  else
    memcpy (e->known, e->image_latents, r->numel * sizeof (float));

  float threshold = 1.0f - (float) k / (float) e->n_run;
  for (int64_t cell = 0; cell < r->plane; cell++)
    {
      float s = e->cell_strength[cell];
      bool fractional = s > 0.0f && s < 1.0f;
      if ((e->pin_all || fractional) && !(s > threshold))
        for (int c = 0; c < r->lc; c++)
          r->latents[c * r->plane + cell] = e->known[c * r->plane + cell];
    }
}

static void
after_step (sdcl_run *r, int i)
{
  edit_state *e = r->user;
  if (e->known)
    pin_known_cells (r, e, i);
  probe (e, "step", i - e->t_start, r->latents, r->numel);
}

/* The masked image of 9-channel inpainting: the repaint area (mask >= 0.5,
 * diffusers' binarisation) set to mid grey, i.e. 0 in [-1, 1]. */
static void
masked_image (const sdcl_image *init, const sdcl_image *mask, sdcl_image *out)
{
  sdcl_image_copy (init, out);
  size_t n = (size_t) init->width * init->height;
  for (size_t i = 0; i < n; i++)
    if (mask->data[i] >= 0.5f)
      for (int c = 0; c < 3; c++)
        out->data[i * 3 + c] = 0.5f;
}

/* cond = [mask cell >= 0.5 (1 channel), masked-image latents (lc)]; the
 * masked image's posterior is the run's last draw. */
static sdcl_status
build_inpaint_cond (sdcl_run *r, edit_state *e, sdcl_error *err)
{
  sdcl_image masked = { 0 };
  masked_image (e->init, e->mask, &masked);
  e->cond = g_new (float, (1 + r->lc) * r->plane);
  for (int64_t cell = 0; cell < r->plane; cell++)
    e->cond[cell] = e->cell_strength[cell] >= 0.5f ? 1.0f : 0.0f;
  sdcl_status st = sdcl_run_encode (r, &masked, e->cond + r->plane, err);
  sdcl_image_free (&masked);
  if (st == SDCL_OK)
    probe (e, "cond", -1, e->cond, (1 + r->lc) * r->plane);
  r->cond = e->cond;
  r->cond_channels = 1 + r->lc;
  return st;
}

static void
draw_noise (sdcl_run *r, edit_state *e)
{
  e->noise = g_new (float, r->numel);
  if (r->p->initial_noise)
    memcpy (e->noise, r->p->initial_noise, r->numel * sizeof (float));
  else
    sdcl_randn_fill (&r->rng, e->noise, r->numel);
}

/* Draws and encodes in diffusers' order, then sets the starting latents:
 * pure noise at the sampler's initial scale for inpainting at strength 1,
 * else the image latents forward-noised to timesteps[t_start]. */
static sdcl_status
prepare_latents (sdcl_run *r, edit_state *e, sdcl_error *err)
{
  bool nine = r->model->files->unet.in_channels != r->lc;
  bool full_strength = e->t_start == 0 && e->mask;
  sdcl_status st = SDCL_OK;
  if (e->mask)
    {
      e->cell_strength = sample_cells (e->mask, r->model->info.vae_scale_factor, r->lh, r->lw);
      e->pin_all = !nine;
    }
  /* A 9-channel model at strength 1 with a binary mask never looks at the
   * image latents (and diffusers does not encode the image then). */
  bool need_image = !full_strength || !nine
                    || any_fractional (e->cell_strength, r->plane);
  if (need_image)
    {
      e->image_latents = g_new (float, r->numel);
      st = sdcl_run_encode (r, e->init, e->image_latents, err);
      if (st != SDCL_OK)
        return st;
    }
  draw_noise (r, e);
  if (e->mask && nine)
    st = build_inpaint_cond (r, e, err);
  else if (e->mask)
    {
      /* diffusers also samples the masked image's posterior here (draw 3),
       * unused by a 4-channel UNet; consume the draw (without the useless
       * encode) so that per-step noise (Euler a, ...) comes from the same
       * place of the stream. */
      float *unused = g_new (float, r->numel);
      sdcl_randn_fill (&r->rng, unused, r->numel);
      g_free (unused);
    }
  if (st != SDCL_OK)
    return st;

  if (full_strength)
    for (int64_t i = 0; i < r->numel; i++)
      r->latents[i] = e->noise[i] * r->sched.init_noise_sigma;
  else
    sdcl_sched_add_noise (&r->sched, e->image_latents, e->noise, e->t_start, r->latents, r->numel);

  probe (e, "start", -1, r->latents, r->numel);
  if (e->mask && e->image_latents)
    e->known = g_new (float, r->numel);
  r->after_step = after_step;
  r->user = e;
  return SDCL_OK;
}

static sdcl_status
run_edit (sdcl_run *r, edit_state *e, sdcl_image *out, sdcl_error *err)
{
  sdcl_status st = sdcl_run_prepare (r, err);
  if (st != SDCL_OK)
    return st;
  /* the evaluations run, as the schedule counts them (PNDM's first step
   * takes two) */
  e->n_run = r->sched.n - e->t_start;
  sdcl_sched_set_begin_index (&r->sched, e->t_start);
  st = prepare_latents (r, e, err);
  if (st == SDCL_OK)
    st = sdcl_run_denoise (r, err);
  sdcl_conditioning_clear (r->cl, &r->text);
  if (st == SDCL_OK)
    st = sdcl_run_decode (r, out, err);
  return st;
}

/* ---- argument checks -------------------------------------------------- */

static sdcl_status
check_image (const sdcl_image *img, int channels, const char *what, sdcl_error *err)
{
  if (!img || !img->data)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "the %s has no pixel data", what);
  if (img->channels != channels)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "the %s has %d channels, expected %d",
                      what, img->channels, channels);
  if (img->width < 1 || img->height < 1 || img->width > SDCL_MAX_SIDE_PIXELS
      || img->height > SDCL_MAX_SIDE_PIXELS)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "the %s is %dx%d pixels; each side must be 1..%d", what, img->width,
                      img->height, SDCL_MAX_SIDE_PIXELS);
  size_t n = (size_t) img->width * img->height * channels;
  for (size_t i = 0; i < n; i++)
    if (!(img->data[i] >= 0.0f && img->data[i] <= 1.0f))
      return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                        "the %s has value %g at pixel (%zu, %zu); values must be in [0, 1]", what,
                        (double) img->data[i], i / channels % img->width,
                        i / channels / img->width);
  return SDCL_OK;
}

static sdcl_status
check_edit (const sdcl_model *m, const sdcl_gen_params *p, const sdcl_image *init,
            const sdcl_image *mask, sdcl_error *err)
{
  if (!isfinite (p->strength) || p->strength < 0.0f || p->strength > 1.0f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "strength must be 0..1, got %g",
                      (double) p->strength);
  if (!mask && m->files->unet.in_channels != m->info.latent_channels)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "this is an inpainting model (the UNet takes %d input channels): "
                      "it needs a mask; use inpainting, or a regular %s model for "
                      "image-to-image",
                      m->files->unet.in_channels, m->info.family_name);
  if (m->files->unet.in_channels != m->info.latent_channels
      && m->files->unet.in_channels != 2 * m->info.latent_channels + 1)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "the UNet takes %d input channels; sdcl supports %d (regular) or %d "
                      "(inpainting)",
                      m->files->unet.in_channels, m->info.latent_channels,
                      2 * m->info.latent_channels + 1);
  sdcl_status st = sdcl_run_check_params (m, p, err);
  if (st == SDCL_OK)
    st = check_image (init, 3, "init image", err);
  if (st == SDCL_OK && mask)
    st = check_image (mask, 1, "mask", err);
  if (st == SDCL_OK && mask && (mask->width != init->width || mask->height != init->height))
    st = sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                    "the mask is %dx%d pixels but the init image is %dx%d; they must match",
                    mask->width, mask->height, init->width, init->height);
  return st;
}

sdcl_status
sdcl_edit_raw (sdcl_model *m, const sdcl_gen_params *p, const sdcl_image *init,
               const sdcl_image *mask, sdcl_edit_probe_fn probe_fn, void *probe_user,
               sdcl_image *out, sdcl_error *err)
{
  if (!m || !p || !out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_edit_raw: NULL argument");
  memset (out, 0, sizeof *out);
  sdcl_error_clear (err);
  sdcl_status st = check_edit (m, p, init, mask, err);
  if (st != SDCL_OK)
    return st;
  int f = m->info.vae_scale_factor;
  if (init->width % f || init->height % f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "image size %dx%d is not a multiple of %d (the VAE's scale factor)",
                      init->width, init->height, f);
  edit_state e = { .init = init, .mask = mask, .probe = probe_fn, .probe_user = probe_user };
  e.n_run = init_timestep (p);
  if (e.n_run == 0)
    {
      sdcl_image_copy (init, out);
      return SDCL_OK;
    }
  /* In model evaluations, as the schedule counts them: diffusers starts at
   * timesteps[t_start * scheduler.order] (n_run follows once the schedule
   * is built, run_edit). */
  e.t_start = (p->steps - e.n_run) * sdcl_sampler_evals_per_step (p->sampler);

  sdcl_run r;
  sdcl_run_setup (&r, m, p, init->width, init->height);
  r.plms_only = mask != NULL;
  g_mutex_lock (&m->ctx->run_lock);
  sdcl_cl_set_cancel (r.cl, p->cancel);   /* polled by the device layer too */
  sdcl_cl_set_circular_padding (r.cl, p->tiling);   /* the run's, under its lock */
  st = run_edit (&r, &e, out, err);
  sdcl_cl_set_cancel (r.cl, NULL);
  sdcl_conditioning_clear (r.cl, &r.text);
  if (st != SDCL_OK)
    sdcl_cl_clear_error (r.cl); /* leave the context usable for the next run */
  sdcl_cl_set_circular_padding (r.cl, false);
  g_mutex_unlock (&m->ctx->run_lock);
  sdcl_run_clear (&r);
  edit_state_free (&e);
  return st;
}

/* ---- the public entry points ------------------------------------------ */

/* The input's size floored to the latent grid (diffusers' default). */
static sdcl_status
grid_size (const sdcl_model *m, const sdcl_image *img, int *w, int *h, sdcl_error *err)
{
  int f = m->info.vae_scale_factor;
  *w = img->width - img->width % f;
  *h = img->height - img->height % f;
  if (*w == 0 || *h == 0)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "the init image is %dx%d pixels; both sides must be at least %d (the "
                      "VAE's scale factor)",
                      img->width, img->height, f);
  return SDCL_OK;
}

/* Runs the raw pipeline at w x h on resized copies of init (and mask) and
 * resizes the result to out_w x out_h. */
static sdcl_status
run_resized (sdcl_model *m, const sdcl_gen_params *p, const sdcl_image *init,
             const sdcl_image *mask, int w, int h, int out_w, int out_h, sdcl_image *out,
             sdcl_error *err)
{
  sdcl_image init_w = { 0 }, mask_w = { 0 }, gen = { 0 };
  sdcl_image_resized (init, w, h, &init_w);
  if (mask)
    sdcl_image_resized (mask, w, h, &mask_w);
  sdcl_status st = sdcl_edit_raw (m, p, &init_w, mask ? &mask_w : NULL, NULL, NULL, &gen, err);
  if (st == SDCL_OK)
    sdcl_image_resized (&gen, out_w, out_h, out);
  sdcl_image_free (&init_w);
  sdcl_image_free (&mask_w);
  sdcl_image_free (&gen);
  return st;
}

sdcl_status
sdcl_img2img (sdcl_model *model, const sdcl_gen_params *params, const sdcl_image *init,
              sdcl_image *out, sdcl_error *err)
{
  if (!model || !params || !out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_img2img: NULL argument");
  memset (out, 0, sizeof *out);
  sdcl_error_clear (err);
  int w, h;
  sdcl_status st = check_edit (model, params, init, NULL, err);
  if (st == SDCL_OK)
    st = grid_size (model, init, &w, &h, err);
  if (st != SDCL_OK)
    return st;
  if (init_timestep (params) == 0)
    {
      sdcl_image_copy (init, out); /* nothing to run: the input, exactly */
      return SDCL_OK;
    }
  return run_resized (model, params, init, NULL, w, h, init->width, init->height, out, err);
}

/* 1-D: grows [*lo, *hi) by `extra`, half before (rounded down) and the
 * rest after, then shifts it back inside [0, limit) and clamps. */
static void
grow_span (int *lo, int *hi, int extra, int limit)
{
  *lo -= extra / 2;
  *hi += extra - extra / 2;
  if (*lo < 0)
    {
      *hi -= *lo;
      *lo = 0;
    }
  if (*hi > limit)
    {
      *lo -= *hi - limit;
      *hi = limit;
    }
  if (*lo < 0)
    *lo = 0;
}

/* "Only masked" crop box (docs/diffusion.md §Crop and compositing): the mask's box grown by `pad` on each side
 * and clamped to the image, then grown along one axis towards the aspect
 * ratio tw/th of the size the model will work at.  A padding beyond the
 * image's longer side reaches every edge anyway, so it is clamped there
 * first: every sum below then stays within a few times SDCL_MAX_SIDE_PIXELS
 * whatever the caller passed (INT_MAX overflowed b.x1 + pad). */
static sdcl_box
crop_box (sdcl_box b, int pad, int tw, int th, int w, int h)
{
  pad = MIN (pad, MAX (w, h));
  b.x0 = MAX (b.x0 - pad, 0);
  b.y0 = MAX (b.y0 - pad, 0);
  b.x1 = MIN (b.x1 + pad, w);
  b.y1 = MIN (b.y1 + pad, h);
  double ratio = (double) tw / th;
  int bw = b.x1 - b.x0, bh = b.y1 - b.y0;
  if ((double) bw / bh > ratio)
    grow_span (&b.y0, &b.y1, (int) (bw / ratio - bh), h);
  else
    grow_span (&b.x0, &b.x1, (int) (bh * ratio - bw), w);
  return b;
}

/* The size the model works at in only-masked mode: params' width/height,
 * or its native resolution. */
static sdcl_status
crop_work_size (const sdcl_model *m, const sdcl_gen_params *p, int *w, int *h, sdcl_error *err)
{
  int f = m->info.vae_scale_factor;
  *w = p->width ? p->width : m->info.native_resolution;
  *h = p->height ? p->height : m->info.native_resolution;
  if (*w < f || *h < f || *w > SDCL_MAX_SIDE_PIXELS || *h > SDCL_MAX_SIDE_PIXELS || *w % f
      || *h % f)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "only-masked working size %dx%d must be multiples of %d up to %d pixels",
                      *w, *h, f, SDCL_MAX_SIDE_PIXELS);
  return SDCL_OK;
}

static sdcl_status
inpaint_box (sdcl_model *m, const sdcl_gen_params *p, const sdcl_image *init,
             const sdcl_image *mask, sdcl_box box, int w, int h, sdcl_image *gen,
             sdcl_error *err)
{
  sdcl_image init_c = { 0 }, mask_c = { 0 };
  sdcl_image_crop (init, box, &init_c);
  sdcl_image_crop (mask, box, &mask_c);
  sdcl_status st = run_resized (m, p, &init_c, &mask_c, w, h, init_c.width, init_c.height, gen,
                                err);
  sdcl_image_free (&init_c);
  sdcl_image_free (&mask_c);
  return st;
}

static float
peak (const float *v, size_t n)
{
  float m = 0.0f;
  for (size_t i = 0; i < n; i++)
    m = MAX (m, v[i]);
  return m;
}

/* A mask that is empty, or blurred so thin that it is black in 8 bits,
 * repaints nothing (or next to nothing) and the run returns the input:
 * without a word that looks like a failed generation. */
static void
warn_faint_mask (const sdcl_gen_params *p, const sdcl_image *mask, const float *soft)
{
  if (!p->warning)
    return;
  size_t n = (size_t) mask->width * mask->height;
  float sharp_peak = peak (mask->data, n), soft_peak = peak (soft, n);
  char text[256];
  if (!(sharp_peak > 0.0f))
    snprintf (text, sizeof text, "the inpainting mask is empty (black everywhere): the result "
              "is the input");
  else if (soft_peak < 1.0f / 255.0f)
    snprintf (text, sizeof text, "the inpainting mask blurred by %g pixels is empty (its largest "
              "value, %.2g, is under 1/255): the result is the input, or nearly; use a smaller "
              "mask blur", (double) p->mask_blur, (double) soft_peak);
  else
    return;
  p->warning (text, p->user_data);
}

sdcl_status
sdcl_inpaint (sdcl_model *model, const sdcl_gen_params *params, const sdcl_image *init,
              const sdcl_image *mask, sdcl_image *out, sdcl_error *err)
{
  if (!model || !params || !out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_inpaint: NULL argument");
  memset (out, 0, sizeof *out);
  /* check_edit reads a NULL mask as image-to-image; inpainting needs one. */
  if (!mask)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "sdcl_inpaint: the mask is NULL (use sdcl_img2img without a mask)");
  sdcl_error_clear (err);
  sdcl_status st = check_edit (model, params, init, mask, err);
  if (st != SDCL_OK)
    return st;
  if (!isfinite (params->mask_blur) || params->mask_blur < 0.0f
      || params->mask_blur > SDCL_MAX_MASK_BLUR)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "mask blur must be 0..%g pixels, got %g",
                      SDCL_MAX_MASK_BLUR, (double) params->mask_blur);
  if (params->only_masked && params->mask_padding < 0)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "mask padding must be >= 0, got %d",
                      params->mask_padding);

  /* The blurred mask weighs the final compositing; its extent (not the
   * sharp mask's) bounds the only-masked crop, so the feathered edge is
   * generated too. */
  int W = init->width, H = init->height;
  float *soft = g_new (float, (size_t) W * H);
  sdcl_mask_blur (mask->data, W, H, params->mask_blur, soft);
  warn_faint_mask (params, mask, soft);
  sdcl_box box = { 0, 0, W, H };
  bool any = sdcl_mask_bbox (soft, W, H, &box);

  sdcl_image_copy (init, out);
  sdcl_image gen = { 0 };
  int w = 0, h = 0;
  if (!any || init_timestep (params) == 0)
    st = SDCL_OK; /* nothing to repaint: the input, exactly */
  else if (params->only_masked)
    {
      st = crop_work_size (model, params, &w, &h, err);
      if (st == SDCL_OK)
        {
          box = crop_box (box, params->mask_padding, w, h, W, H);
          st = inpaint_box (model, params, init, mask, box, w, h, &gen, err);
        }
    }
  else
    {
      box = (sdcl_box) { 0, 0, W, H };
      st = grid_size (model, init, &w, &h, err);
      if (st == SDCL_OK)
        st = run_resized (model, params, init, mask, w, h, W, H, &gen, err);
    }
  if (st == SDCL_OK && gen.data)
    sdcl_composite (out, &gen, soft, box);
  if (st != SDCL_OK)
    sdcl_image_free (out);
  sdcl_image_free (&gen);
  g_free (soft);
  return st;
}

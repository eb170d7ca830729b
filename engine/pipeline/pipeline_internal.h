/* The pieces of a generation run that text-to-image, image-to-image and
 * inpainting share: parameter checks, the CFG context, the denoising loop,
 * VAE encode (posterior sample) and decode.  Internal.
 *
 * A run is driven as: sdcl_run_setup -> sdcl_run_prepare (context and
 * schedule) -> the caller sets the starting latents -> sdcl_run_denoise ->
 * sdcl_run_decode -> sdcl_run_clear.  The edit pipelines hook into the loop
 * through `cond` (extra UNet input channels) and `after_step`.
 *
 * VAE passes (encode, decode) run untiled or tiled per sdcl_gen_params
 * .vae_tile and fall back to smaller tiles when the device runs out of
 * memory; a cancellation names the phase it stopped.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_PIPELINE_INTERNAL_H
#define SDCL_PIPELINE_INTERNAL_H

#include "api_internal.h"
#include "families/family.h"
#include "rng.h"
#include "scheduler.h"

typedef struct sdcl_run sdcl_run;

/* Called after the sampler's step `i` (an index into the full schedule). */
typedef void (*sdcl_after_step_fn) (sdcl_run *r, int i);

struct sdcl_run {
  sdcl_model *model;
  const sdcl_gen_params *p;
  sdcl_cl *cl;
  int width, height;         /* pixels */
  int lc, lh, lw;            /* latent channels, height, width */
  int64_t numel;             /* lc * lh * lw */
  int64_t plane;             /* lh * lw */
  bool cfg;
  int batch;                 /* 2 with CFG, else 1 */
  sdcl_conditioning text;    /* the prompts, encoded by the model's family */
  sdcl_sched sched;
  /* Inpainting: PNDM skips its Runge-Kutta warm-up whatever the scheduler
   * config says, as diffusers' inpaint pipeline rewrites skip_prk_steps. */
  bool plms_only;
  sdcl_randn rng;
  float *latents;            /* numel */
  float *x0;                 /* numel, current x0 estimate */

  /* Extra UNet input channels appended after the scaled latents of every
   * batch entry (9-channel inpainting: mask, masked-image latents), planar
   * [cond_channels, lh, lw]; NULL when the UNet takes latents only. */
  const float *cond;
  int cond_channels;
  sdcl_after_step_fn after_step; /* NULL: nothing */
  void *user;                    /* for after_step */
  /* The prompts without their <lora:...> tags (sdcl_run_loras), owned. */
  char *prompt_text, *negative_text;
};

/* Checks everything in p that does not depend on the kind of run (steps,
 * guidance, sampler, generator, clip skip, eta) and the UNet's support. */
sdcl_status sdcl_run_check_params (const sdcl_model *m, const sdcl_gen_params *p, sdcl_error *err);

/* Zeroes r and sizes it for width x height pixels (multiples of the VAE
 * scale factor); allocates the latents and seeds the generator. */
void sdcl_run_setup (sdcl_run *r, sdcl_model *m, const sdcl_gen_params *p, int width, int height);
/* Frees everything the run holds (safe after any failure). */
void sdcl_run_clear (sdcl_run *r);

/* Takes the <lora:...> tags out of the prompts (into prompt_text,
 * negative_text) and makes the run's LoRA list the model's (lora_list.c).
 * Called first by sdcl_run_prepare. */
sdcl_status sdcl_run_loras (sdcl_run *r, sdcl_error *err);

/* Encodes the prompts and builds the full schedule. */
sdcl_status sdcl_run_prepare (sdcl_run *r, sdcl_error *err);

/* Runs the schedule from its begin index to the end, reporting progress as
 * (k, steps run). */
sdcl_status sdcl_run_denoise (sdcl_run *r, sdcl_error *err);

/* Decodes r->latents to an RGB image of the run's size. */
sdcl_status sdcl_run_decode (sdcl_run *r, sdcl_image *out, sdcl_error *err);

/* VAE-encodes `image` (RGB in [0, 1], the run's size) and writes
 * scaling_factor * (mean + std * eps) to latents (numel floats), eps being
 * the next draw of the run's generator (the posterior sample, which is
 * what diffusers' img2img and inpaint pipelines use: docs/diffusion.md
 * §Latents and the posterior). */
sdcl_status sdcl_run_encode (sdcl_run *r, const sdcl_image *image, float *latents, sdcl_error *err);

/* Test probe of an edit run: called with stage "start" (the starting
 * latents, k = -1), "cond" (9-channel UNet conditioning [1 + lc, lh, lw],
 * k = -1) and "step" (the latents after step k = 0 .. steps run - 1,
 * after inpainting's blend).  It may change the array, e.g. to replace the
 * latents with a reference's and check every step on its own. */
typedef void (*sdcl_edit_probe_fn) (const char *stage, int k, float *values, int64_t n,
                                    void *user);

/* Image-to-image / inpainting at the image's own size (a multiple of the
 * VAE scale factor) without the public entry points' resizing and pixel
 * compositing: the raw decoded image, as diffusers returns it.  `mask` NULL
 * means image-to-image; `probe` may be NULL.  The golden tests go through
 * this. */
sdcl_status sdcl_edit_raw (sdcl_model *m, const sdcl_gen_params *p, const sdcl_image *init,
                           const sdcl_image *mask, sdcl_edit_probe_fn probe, void *probe_user,
                           sdcl_image *out, sdcl_error *err);

/* Smallest tile the out-of-memory fallback tries (pixels per side). */
#define SDCL_VAE_MIN_TILE 32

/* Fills err with "cancelled during <phase>" when st is SDCL_ERR_CANCELLED
 * (the networks' polls only say "cancelled"); returns st.  Every phase of a
 * run names itself this way (issue 7). */
sdcl_status sdcl_run_phase_status (sdcl_status st, const char *phase, sdcl_error *err);

/* Test hook: called with the phase's name ("text encoding", "denoising
 * step K of N", "model load", "VAE encode", "VAE decode") as each phase of
 * any run starts, e.g. to raise the cancel flag exactly there.  NULL
 * removes it.  Process-wide; tests only. */
typedef void (*sdcl_phase_hook_fn) (const char *phase, void *user);
void sdcl_set_phase_hook_for_testing (sdcl_phase_hook_fn fn, void *user);

/* Builds the VAE encoder if the model does not have it yet (call with the
 * context's run lock held).  Defined in model.c. */
sdcl_status sdcl_model_ensure_encoder (sdcl_model *m, sdcl_error *err);

/* The networks a run's phases use, by role (sdcl_net, families/family.h;
 * model.c; run lock held). */
/* Before a phase: makes sure the network is on the device, uploading it
 * from the model file if needed (always the case in lean mode).  The VAE
 * comes decoder-only; sdcl_model_ensure_encoder adds the encoder. */
sdcl_status sdcl_model_acquire (sdcl_model *m, sdcl_net net, sdcl_error *err);
/* After a phase, whatever its outcome: frees the network in lean mode
 * (resident: keeps it), then frees the pooled activation buffers, so the
 * next phase starts from the weights it needs alone.  Live tensors (the
 * run's context, latents on the device) are not touched. */
void sdcl_model_phase_done (sdcl_model *m, sdcl_net net);

#endif /* SDCL_PIPELINE_INTERNAL_H */

/* One sampler step, scale_model_input and add_noise (docs/diffusion.md
 * §Schedulers, §Image to image), as diffusers' step() functions compute them.
 *
 * diffusers works on float32 tensors: the per-step coefficients are 0-dim
 * float32 tensors and every tensor operation rounds once.  The loops below do
 * the same operations in the same order on each element.  What remains
 * different is torch's sqrt, log and exp: x86 builds of torch run them
 * through MKL's vector math library, which is not correctly rounded (about
 * one value in five differs from sqrtf by an ulp), so sdcl's coefficients,
 * from the C library, can differ from diffusers' in the last bit, and the
 * outputs by a few float32 ulps.  Samplers that need fresh noise draw one
 * tensor of numel normals per step from the generator, at the point
 * diffusers calls randn_tensor.
 *
 * The step functions live by family: step_vp.c (DDIM, LCM), step_ddpm.c,
 * step_pndm.c, step_k.c (Euler, Euler a, LMS, Heun, DPM2) and
 * scheduler_dpm.c (DPM++).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "error_internal.h"
#include "sched_math.h"

float *
sdcl_sched_draw_noise (sdcl_randn *rng, int64_t numel)
{
  /* sdcl_sched_step checked numel > 0; the compiler cannot see that through
   * the table's function pointers. */
  float *noise = g_new (float, numel > 0 ? (gsize) numel : 1);
  sdcl_randn_fill (rng, noise, numel);
  return noise;
}

/* ---- API ------------------------------------------------------------------------ */

void
sdcl_sched_scale_input (const sdcl_sched *s, const float *x, float *x_in, int64_t numel)
{
  if (sdcl_sampler_row_of (s->kind)->form == SDCL_LATENT_VE)
    {
      /* DPM2's second evaluation is at the midpoint level */
      float sigma = s->sigmas_interpol && s->mid_step ? s->sigmas_interpol[s->step_index]
                                                      : s->sigmas[s->step_index];
      float scale = sqrtf (sigma * sigma + 1.0f);
      for (int64_t i = 0; i < numel; i++)
        x_in[i] = x[i] / scale;
    }
  else if (x_in != x)
    memmove (x_in, x, (size_t) numel * sizeof *x);
}

static bool
draws_noise (const sdcl_sched *s)
{
  unsigned options = sdcl_sampler_row_of (s->kind)->options;
  return (options & SDCL_SAMPLER_NOISE) || ((options & SDCL_SAMPLER_ETA) && s->eta > 0.0f);
}

void
sdcl_sched_step (sdcl_sched *s, const float *model_out, float *x, int64_t numel,
                 sdcl_randn *rng, float *x0_out)
{
  g_return_if_fail (s->step_index >= 0 && s->step_index < s->n && numel > 0);
  g_return_if_fail (rng != NULL || !draws_noise (s));
  if (s->numel != numel)
    sdcl_sched_forget (s); /* another latent size: the history belongs to a different run */
  s->numel = numel;
  sdcl_sampler_row_of (s->kind)->step (s, model_out, x, numel, rng, x0_out);
  s->step_index++;
}

void
sdcl_sched_add_noise (const sdcl_sched *s, const float *x0, const float *noise, int index,
                      float *out, int64_t numel)
{
  g_return_if_fail (index >= 0 && index < s->n);
  switch (sdcl_sampler_row_of (s->kind)->form)
    {
    case SDCL_LATENT_VE:
      {
        float sigma = s->sigmas[index];
        for (int64_t i = 0; i < numel; i++)
          out[i] = x0[i] + noise[i] * sigma;
        return;
      }
    case SDCL_LATENT_DPM:
      {
        float sigma = s->sigmas[index];
        float alpha = 1.0f / sqrtf (sigma * sigma + 1.0f);
        float sigma_vp = sigma * alpha;
        for (int64_t i = 0; i < numel; i++)
          out[i] = alpha * x0[i] + sigma_vp * noise[i];
        return;
      }
    case SDCL_LATENT_VP:
    default:
      {
        vp_level l = vp_level_at (s->alphas_cumprod[(int) s->timesteps[index]]);
        for (int64_t i = 0; i < numel; i++)
          out[i] = l.sqrt_alpha * x0[i] + l.sqrt_beta * noise[i];
        return;
      }
    }
}

/* The family registry: one table, one detection loop (family.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "family.h"

#include "error_internal.h"

/* Asked in this order.  SDXL checkpoints carry OpenCLIP towers too, so the
 * SDXL families come before SD 2.x, and SD 1.x, whose detection is the
 * narrowest, last. */
static const sdcl_family_desc *const families[] = {
  &sdcl_family_sdxl_refiner,
  &sdcl_family_sdxl,
  &sdcl_family_sd2,
  &sdcl_family_sd1,
};

/* No family claims the facts: say which fact rules out the families sdcl
 * runs (today SD 1.x alone: convolutional projections and one CLIP whose
 * width is the cross-attention width). */
static sdcl_status
unknown_layout (const sdcl_family_facts *facts, const char *path, sdcl_error *err)
{
  int cad = facts->cross_attention_dim;
  if (cad == 0 || facts->linear_projection)
    return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                      "%s: unknown model layout (%s): not Stable Diffusion 1.x", path,
                      cad ? "linear transformer projections" : "no cross-attention in the UNet");
  return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                    "%s: unknown model layout (cross-attention dim %d does not match the text encoder "
                    "width %d): not Stable Diffusion 1.x", path, cad, facts->text_hidden);
}

sdcl_status
sdcl_family_detect (const sdcl_family_facts *facts, const char *path,
                    const sdcl_family_desc **out, sdcl_error *err)
{
  for (size_t i = 0; i < G_N_ELEMENTS (families); i++)
    if (families[i]->claims (facts))
      {
        *out = families[i];
        return families[i]->check (facts, path, err);
      }
  *out = NULL;
  return unknown_layout (facts, path, err);
}

const sdcl_family_desc *
sdcl_family_lookup (sdcl_family id)
{
  for (size_t i = 0; i < G_N_ELEMENTS (families); i++)
    if (families[i]->id == id)
      return families[i];
  return NULL;
}

/* The family's part of opening a model: the configs a single file lacks,
 * a folder's default scheduler, the pad token. */
static sdcl_status
apply_family (sdcl_model_files *mf, const sdcl_family_desc *d, sdcl_error *err)
{
  mf->family = d->id;
  mf->family_desc = d;
  mf->ldm_tensor = d->ldm_tensor;   /* the loader's single-file mapping asks it */
  if (mf->single_file)
    {
      sdcl_status st = d->ldm_configs (mf->files[0], mf, err);
      if (st)
        return st;
    }
  else
    {
      d->default_sched (&mf->sched);   /* until a scheduler_config.json says otherwise */
      mf->prediction_source = "family default";
    }
  mf->clip.pad_token_id = d->pad_token_id;
  return SDCL_OK;
}

/* A Turbo diffusers folder says so in its configs (SD-Turbo's and
 * SDXL-Turbo's releases): the family's Turbo size as its UNet's sample
 * size, trailing timestep spacing and epsilon prediction, where the base
 * models are leading (SD 2.1 base, SDXL base), larger or v.  Its runs then
 * get the Turbo defaults too (sdcl_gen_model_params), as the switch gives
 * a single file, which says none of this. */
static void
note_turbo_folder (sdcl_model_files *mf)
{
  const sdcl_family_desc *d = mf->family_desc;
  if (mf->single_file || !d->turbo_resolution)
    return;
  mf->turbo = (mf->unet.sample_size << (mf->vae.n_levels - 1)) == d->turbo_resolution
              && strcmp (mf->sched.timestep_spacing, "trailing") == 0
              && mf->sched.prediction_type == SDCL_PREDICTION_EPSILON;
}

sdcl_status
sdcl_model_files_open (const char *path, sdcl_model_files **out, sdcl_error *err)
{
  sdcl_model_files *mf;
  sdcl_family_facts facts;
  const sdcl_family_desc *desc;
  sdcl_status st = sdcl_model_files_scan (path, &mf, &facts, err);
  *out = NULL;
  if (!st)
    {
      st = sdcl_family_detect (&facts, mf->path, &desc, err);
      mf->family = desc ? desc->id : SDCL_FAMILY_UNKNOWN;
    }
  if (!st)
    st = apply_family (mf, desc, err);
  if (!st)
    st = sdcl_model_files_finish (mf, err);
  if (!st)
    note_turbo_folder (mf);
  if (st)
    {
      sdcl_model_files_close (mf);
      return st;
    }
  *out = mf;
  return SDCL_OK;
}

sdcl_status
sdcl_family_decide (const sdcl_family_facts *facts, const char *path, sdcl_family *family,
                    sdcl_error *err)
{
  const sdcl_family_desc *desc;
  sdcl_status st = sdcl_family_detect (facts, path, &desc, err);
  *family = desc ? desc->id : SDCL_FAMILY_UNKNOWN;
  return st;
}

sdcl_status
sdcl_family_refuse (const char *path, const char *found, const char *what, sdcl_error *err)
{
  return sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL, "%s: %s: %s, which this version does not support yet",
                    path, found, what);
}

sdcl_status
sdcl_family_apply_variant (sdcl_model_files *mf, sdcl_model_variant variant, sdcl_error *err)
{
  const sdcl_family_desc *d = mf->family_desc;
  if (variant == SDCL_VARIANT_FROM_MODEL)
    return SDCL_OK;
  if (!d->turbo_resolution)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "%s: the Turbo variant was asked for, but %s has "
                      "no Turbo model (SD-Turbo is SD 2.1-shaped, SDXL-Turbo SDXL-shaped)", mf->path,
                      d->name);
  mf->unet.sample_size = d->turbo_resolution >> (mf->vae.n_levels - 1);
  g_strlcpy (mf->sched.timestep_spacing, "trailing", sizeof mf->sched.timestep_spacing);
  mf->turbo = true;
  return SDCL_OK;
}

void
sdcl_family_single_file_size (sdcl_model_files *mf)
{
  const sdcl_family_desc *d = mf->family_desc;
  int px = mf->sched.prediction_type == SDCL_PREDICTION_V && d->native_resolution_v
           ? d->native_resolution_v : d->native_resolution;
  mf->unet.sample_size = px >> (mf->vae.n_levels - 1);
}

void
sdcl_conditioning_clear (sdcl_cl *cl, sdcl_conditioning *c)
{
  sdcl_t_release (cl, &c->states);
  g_free (c->pooled);
  g_free (c->time_ids);
  c->pooled = c->time_ids = NULL;
  c->n_tokens = c->pooled_dim = c->n_time_ids = 0;
}

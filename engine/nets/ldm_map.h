/* Single-file (LDM) tensor names and diffusers' canonical ones, both
 * directions, from the networks' block trees (nets/unet_desc.h).  Part of
 * the networks' description; the loader (model_files.c) and sdcl-mkmodel
 * use it.  Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_LDM_MAP_H
#define SDCL_LDM_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "model_files.h"
#include "nets/unet_desc.h"

/* SD's VAE always has 4 resolution levels; the LDM decoder numbers its up
 * blocks in reverse, so the mapping needs the count (docs/diffusion.md §VAE names). */
#define SDCL_LDM_VAE_LEVELS 4

#define SDCL_LDM_UNET_PREFIX "model.diffusion_model."
#define SDCL_LDM_TEXT_PREFIX "cond_stage_model.transformer."
#define SDCL_LDM_OPENCLIP_PREFIX "cond_stage_model.model."

/* Inverse of sdcl_ldm_map_name for the canonical names the enumerations
 * produce.  *conv_1x1 is set when the LDM file stores the tensor as a 1x1
 * convolution [C, C, 1, 1] whose canonical form is a [C, C] matrix (the VAE
 * mid-block attention). */
bool sdcl_ldm_unmap_name (sdcl_component comp, const char *canonical, int unet_layers_per_block,
                          int unet_n_levels, const bool *unet_up_has_attn, char *out,
                          size_t out_size, bool *conv_1x1);
/* sdcl_ldm_map_name and sdcl_ldm_unmap_name with the UNet's naming tree
 * (sdcl_unet_describe_names) built once by the caller, e.g. for all the
 * tensors of a file. */
/* True for an OpenCLIP resblock's fused q/k/v (`...resblocks.<layer>.attn.
 * in_proj_<leaf>`, leaf "weight" or "bias"): rows [0, D) are q, [D, 2D) k,
 * [2D, 3D) v; sdcl_ldm_map_name_in maps no such name. */
bool sdcl_ldm_openclip_in_proj (const char *ldm_name, int *layer, const char **leaf);
/* The OpenCLIP single-file name holding a canonical text tensor (q, k and
 * v name their fused in_proj). */
bool sdcl_ldm_unmap_openclip (const char *canonical, char *out, size_t size);
bool sdcl_ldm_map_name_in (const sdcl_unet_desc *unet_names, const char *ldm_name,
                           sdcl_component *comp, char *out, size_t out_size);
bool sdcl_ldm_unmap_name_in (const sdcl_unet_desc *unet_names, sdcl_component comp,
                             const char *canonical, char *out, size_t out_size, bool *conv_1x1);
/* Canonical name of a tensor of a diffusers folder: the text encoder gains
 * the `text_model.` prefix when its file lacks it, old VAE attention names
 * (query, key, value, proj_attn) become to_q, to_k, to_v, to_out.0.  False
 * for tensors sdcl ignores (position_ids buffers). */
bool sdcl_canonical_name (sdcl_component comp, const char *name, char *out, size_t out_size);
/* True for the VAE mid-block attention projections, which some layouts
 * store as [C, C, 1, 1] and the canonical form holds as [C, C]. */
bool sdcl_vae_attention_matrix (const char *canonical);

/* Mapping of one LDM single-file tensor name to its component and canonical
 * name.  Returns false for names sdcl ignores (EMA copies, alphas_cumprod,
 * ...).  `unet_layers_per_block` is needed for input/output block numbering;
 * `unet_level_has_attn` tells which LDM output sub-index holds upsamplers.
 * out_name receives at most out_size bytes. */
bool sdcl_ldm_map_name (const char *ldm_name, int unet_layers_per_block, int unet_n_levels,
                        const bool *unet_up_has_attn, sdcl_component *comp, char *out_name,
                        size_t out_size);

#endif /* SDCL_LDM_MAP_H */

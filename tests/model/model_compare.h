/* Comparing two opened models field by field (shared by the model tests).
 * sample_size is left out: single LDM files do not record the native
 * resolution, the loader assumes SD 1.5's.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_MODEL_COMPARE_H
#define SDCL_TEST_MODEL_COMPARE_H

#include <math.h>
#include <string.h>

#include <glib.h>

#include "check.h"
#include "model_files.h"

#define SAME(what, a, b, field) \
  CHECK ((a)->field == (b)->field, "%s %s: %g vs %g", what, #field, (double) (a)->field, (double) (b)->field)

static inline void
compare_unet_configs (const sdcl_unet_config *a, const sdcl_unet_config *b)
{
  SAME ("unet", a, b, in_channels);
  SAME ("unet", a, b, out_channels);
  SAME ("unet", a, b, n_levels);
  SAME ("unet", a, b, layers_per_block);
  for (int i = 0; i < a->n_levels && i < SDCL_MAX_LEVELS; i++)
    {
      SAME ("unet", a, b, block_out_channels[i]);
      SAME ("unet", a, b, down_has_attn[i]);
      SAME ("unet", a, b, up_has_attn[i]);
      SAME ("unet", a, b, down_heads[i]);
      SAME ("unet", a, b, up_heads[i]);
      SAME ("unet", a, b, transformer_depth[i]);
    }
  SAME ("unet", a, b, mid_heads);
  SAME ("unet", a, b, mid_transformer_depth);
  SAME ("unet", a, b, mid_has_attn);
  SAME ("unet", a, b, cross_attention_dim);
  SAME ("unet", a, b, use_linear_projection);
  SAME ("unet", a, b, upcast_attention);
  SAME ("unet", a, b, norm_num_groups);
  SAME ("unet", a, b, norm_eps);
  SAME ("unet", a, b, flip_sin_to_cos);
  SAME ("unet", a, b, freq_shift);
  SAME ("unet", a, b, time_cond_proj_dim);
  SAME ("unet", a, b, time_embed_dim);
}

static inline void
compare_vae_configs (const sdcl_vae_config *a, const sdcl_vae_config *b)
{
  SAME ("vae", a, b, in_channels);
  SAME ("vae", a, b, out_channels);
  SAME ("vae", a, b, latent_channels);
  SAME ("vae", a, b, n_levels);
  for (int i = 0; i < a->n_levels && i < SDCL_MAX_LEVELS; i++)
    SAME ("vae", a, b, block_out_channels[i]);
  SAME ("vae", a, b, layers_per_block);
  SAME ("vae", a, b, norm_num_groups);
  SAME ("vae", a, b, scaling_factor);
  SAME ("vae", a, b, use_quant_conv);
  SAME ("vae", a, b, use_post_quant_conv);
  SAME ("vae", a, b, mid_block_add_attention);
}

static inline void
compare_clip_configs (const sdcl_clip_config *a, const sdcl_clip_config *b)
{
  SAME ("clip", a, b, vocab_size);
  SAME ("clip", a, b, hidden_size);
  SAME ("clip", a, b, intermediate_size);
  SAME ("clip", a, b, n_layers);
  SAME ("clip", a, b, n_heads);
  SAME ("clip", a, b, max_position_embeddings);
  SAME ("clip", a, b, quick_gelu);
  SAME ("clip", a, b, layer_norm_eps);
  SAME ("clip", a, b, eos_token_id);
  SAME ("clip", a, b, pad_token_id);
}

static inline void
compare_sched_configs (const sdcl_sched_config *a, const sdcl_sched_config *b)
{
  SAME ("scheduler", a, b, num_train_timesteps);
  SAME ("scheduler", a, b, beta_start);
  SAME ("scheduler", a, b, beta_end);
  SAME ("scheduler", a, b, prediction_type);
  SAME ("scheduler", a, b, steps_offset);
  SAME ("scheduler", a, b, set_alpha_to_one);
  SAME ("scheduler", a, b, clip_sample);
  SAME ("scheduler", a, b, thresholding);
  SAME ("scheduler", a, b, skip_prk_steps);
  CHECK (strcmp (a->variance_type, b->variance_type) == 0, "variance_type");
  CHECK (strcmp (a->beta_schedule, b->beta_schedule) == 0, "beta_schedule");
  CHECK (strcmp (a->timestep_spacing, b->timestep_spacing) == 0, "timestep_spacing");
}

/* Every canonical tensor of a is in b with the same shape and values
 * within tol * (1 + |b|). */
static inline void
compare_wsets (const sdcl_wset *a, const sdcl_wset *b, double tol)
{
  CHECK (sdcl_wset_count (a) == sdcl_wset_count (b), "%s: %zu vs %zu tensors", sdcl_wset_component (a),
         sdcl_wset_count (a), sdcl_wset_count (b));
  for (size_t i = 0; i < sdcl_wset_count (a); i++)
    {
      const sdcl_st_tensor *ta = sdcl_wset_at (a, i), *tb = sdcl_wset_find (b, ta->name);
      bool same_shape = tb && ta->nd == tb->nd;
      for (int d = 0; same_shape && d < ta->nd; d++)
        same_shape = ta->shape[d] == tb->shape[d];
      if (!same_shape)
        {
          CHECK (0, "%s: %s missing or reshaped", sdcl_wset_component (a), ta->name);
          continue;
        }
      float *va = g_new (float, ta->n_elements + 1), *vb = g_new (float, tb->n_elements + 1);
      CHECK (sdcl_st_to_f32 (ta, va) && sdcl_st_to_f32 (tb, vb), "convert %s", ta->name);
      for (int64_t k = 0; k < ta->n_elements; k++)
        if (!(fabs ((double) va[k] - vb[k]) <= tol * (1 + fabs ((double) vb[k]))))
          {
            CHECK (0, "%s[%lld]: %.9g vs %.9g (tolerance %g)", ta->name, (long long) k, va[k], vb[k], tol);
            break;
          }
      g_free (va);
      g_free (vb);
    }
}

static inline void
compare_models_configs (const sdcl_model_files *a, const sdcl_model_files *b)
{
  compare_unet_configs (&a->unet, &b->unet);
  compare_vae_configs (&a->vae, &b->vae);
  compare_clip_configs (&a->clip, &b->clip);
  compare_sched_configs (&a->sched, &b->sched);
  CHECK (a->family == b->family, "family %d vs %d", a->family, b->family);
}

static inline void
compare_models (const sdcl_model_files *a, const sdcl_model_files *b, double tol)
{
  compare_models_configs (a, b);
  compare_wsets (a->unet_w, b->unet_w, tol);
  compare_wsets (a->vae_w, b->vae_w, tol);
  compare_wsets (a->text_w, b->text_w, tol);
}

#endif

/* SDXL's text path on its own against diffusers/transformers
 * (golden/sdxl_text.*; tests/reference/README.md §SDXL fixtures), so that a
 * mistake there cannot hide behind the UNet:
 *
 *   - prompt -> ids for both towers (CLIP-L pads with 49407, bigG with 0);
 *   - each tower's hidden_states[-2] (no final LayerNorm);
 *   - bigG's pooled vector: text_projection(final LayerNorm at the EOS);
 *   - the UNet's text_time add embedding of pooled vector + size ids.
 *
 * From the diffusers folder and from the SGM single file (F16 storage of the
 * same values: the same goldens; bigG with fused q/k/v and an OpenCLIP
 * [width, projection] text_projection), with F32 and F16 device weights.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <json-glib/json-glib.h>

#include "nets_fixture.h"
#include "nn.h"
#include "tokenizer.h"
#include "unet_text_time.h"

/* F32 weights: every value within 1e-4 absolute + 1e-4 relative (the
 * fixtures' F16-representable weights make both layouts exact inputs);
 * F16 device weights: 2e-3 of the golden's value range, as test_clip.c. */
#define F32_ATOL 1e-4
#define F32_RTOL 1e-4
#define F16_RANGE_FRACTION 2e-3

static int32_t *
golden_ids (sdcl_st_file *golden, const char *name, int *batch)
{
  const sdcl_st_tensor *t;
  float *f = golden_floats (golden, name, &t);
  *batch = (int) t->shape[0];
  int32_t *ids = g_new (int32_t, t->n_elements);
  for (int64_t i = 0; i < t->n_elements; i++)
    ids[i] = (int32_t) f[i];
  g_free (f);
  return ids;
}

static void
compare (const char *label, const char *name, const float *got, int64_t n, sdcl_st_file *golden,
         double range_fraction)
{
  const sdcl_st_tensor *t;
  float *want = golden_floats (golden, name, &t);
  char what[128];
  g_snprintf (what, sizeof what, "%s %s", label, name);
  CHECK (n == t->n_elements, "%s: %lld values, golden %lld", what, (long long) n, (long long) t->n_elements);
  if (n == t->n_elements)
    CHECK_CLOSE (what, got, want, n, range_fraction ? range_fraction * value_range (want, n) : F32_ATOL,
                 range_fraction ? 0.0 : F32_RTOL);
  g_free (want);
}

/* The folder's tokenizer gives the golden ids with each tower's pad. */
static void
check_ids (const sdcl_model_files *mf, sdcl_st_file *golden)
{
  static const char *const prompts[] = { "a red circle", "blurry" };   /* golden/sdxl_text.json */
  sdcl_error err = { 0 };
  sdcl_tokenizer *tok = NULL;
  CHECK_OK (sdcl_tokenizer_load (mf->vocab_path, mf->merges_path, &tok, &err), err);
  CHECK (mf->clip.pad_token_id == 49407 && mf->clip2.pad_token_id == 0, "pads %d and %d",
         mf->clip.pad_token_id, mf->clip2.pad_token_id);
  for (int e = 1; e <= 2; e++)
    {
      char name[16];
      int batch;
      g_snprintf (name, sizeof name, "ids_%d", e);
      int32_t *want = golden_ids (golden, name, &batch);
      for (int i = 0; i < batch; i++)
        {
          int32_t ids[SDCL_CLIP_CONTEXT];
          sdcl_tokenizer_encode_clip (tok, prompts[i], e == 1 ? mf->clip.pad_token_id : mf->clip2.pad_token_id,
                                      ids);
          CHECK (memcmp (ids, want + i * SDCL_CLIP_CONTEXT, sizeof ids) == 0, "%s prompt %d differs", name, i);
        }
      g_free (want);
    }
  sdcl_tokenizer_free (tok);
}

static void
check_towers (sdcl_cl *cl, const char *label, const sdcl_model_files *mf, sdcl_wtype wtype,
              double range_fraction, sdcl_st_file *golden)
{
  sdcl_error err = { 0 };
  for (int e = 1; e <= 2; e++)
    {
      char name[32];
      int batch;
      g_snprintf (name, sizeof name, "ids_%d", e);
      int32_t *ids = golden_ids (golden, name, &batch);
      sdcl_clip *clip = NULL;
      CHECK_OK (sdcl_clip_new (cl, e == 1 ? mf->text_w : mf->text2_w, e == 1 ? &mf->clip : &mf->clip2,
                               wtype, &clip, &err), err);
      sdcl_t h;
      float *pooled = NULL;
      CHECK_OK (sdcl_clip_forward_penultimate (clip, ids, NULL, batch, SDCL_CLIP_CONTEXT, 0, NULL, &h,
                                               e == 2 ? &pooled : NULL, &err), err);
      float *got = download (cl, &h);
      g_snprintf (name, sizeof name, "penultimate_%d", e);
      compare (label, name, got, h.n, golden, range_fraction);
      if (e == 2)
        compare (label, "pooled", pooled, (int64_t) batch * mf->clip2.projection_dim, golden,
                 range_fraction);
      sdcl_t_release (cl, &h);
      sdcl_clip_free (clip);
      g_free (got);
      g_free (pooled);
      g_free (ids);
    }
}

/* add_embedding(cat(pooled, sinusoids of the size ids)) of the positive
 * prompt (pooled_cfg row 1). */
static void
check_add_embedding (sdcl_cl *cl, const char *label, const sdcl_model_files *mf, sdcl_wtype wtype,
                     double range_fraction, sdcl_st_file *golden)
{
  CHECK (mf->unet.add_embed_in == 8 + 6 * 8 && mf->unet.add_time_embed_dim == 8,
         "%s: add embedding %d inputs, ids %d wide", label, mf->unet.add_embed_in, mf->unet.add_time_embed_dim);
  sdcl_error err = { 0 };
  nn_weights store = { 0 };
  nn_loader ld;
  unet_text_time a = { 0 };
  nn_loader_init (&ld, cl, mf->unet_w, wtype, &store, &err);
  unet_text_time_load (&ld, &a, &mf->unet);
  CHECK_OK (nn_loader_finish (&ld), err);
  float *pooled = golden_floats (golden, "pooled_cfg", NULL);
  float *ids = golden_floats (golden, "time_ids", NULL);
  unet_text_time_set (&a, &mf->unet, pooled + mf->clip2.projection_dim, ids, 1);
  sdcl_t out = unet_text_time_forward (cl, &a, &mf->unet, 0, 1);
  float *got = download (cl, &out);
  compare (label, "add_embedding", got, out.n, golden, range_fraction);
  sdcl_t_release (cl, &out);
  unet_text_time_free (&a);
  nn_weights_free (&store);
  g_free (got);
  g_free (pooled);
  g_free (ids);
}

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_st_file *golden = fixture_golden ("golden/sdxl_text.safetensors");
  struct {
    const char *label, *rel;
    sdcl_wtype wtype;
    double range;   /* 0: F32 tolerances */
  } models[] = {
    { "folder F32", "models/tiny-sdxl", SDCL_WT_F32, 0 },
    { "folder F16", "models/tiny-sdxl", SDCL_WT_F16, F16_RANGE_FRACTION },
    { "single file", "models/tiny-sdxl-sgm-f16.safetensors", SDCL_WT_F32, 0 },
  };
  sdcl_model_files *folder = fixture_model ("models/tiny-sdxl");
  check_ids (folder, golden);
  sdcl_model_files_close (folder);
  for (size_t i = 0; i < G_N_ELEMENTS (models); i++)
    {
      sdcl_model_files *mf = fixture_model (models[i].rel);
      CHECK (mf->family == SDCL_FAMILY_SDXL, "%s: family %d", models[i].label, mf->family);
      CHECK (mf->vae.scaling_factor == 0.13025f, "%s: VAE scaling %g", models[i].label,
             mf->vae.scaling_factor);
      CHECK (mf->unet.transformer_depth[1] == 1 && mf->unet.transformer_depth[2] == 2
             && mf->unet.mid_transformer_depth == 2 && !mf->unet.down_has_attn[0],
             "%s: transformer depths %d/%d/%d mid %d", models[i].label, mf->unet.transformer_depth[0],
             mf->unet.transformer_depth[1], mf->unet.transformer_depth[2], mf->unet.mid_transformer_depth);
      check_towers (cl, models[i].label, mf, models[i].wtype, models[i].range, golden);
      check_add_embedding (cl, models[i].label, mf, models[i].wtype, models[i].range, golden);
      sdcl_model_files_close (mf);
    }
  sdcl_st_close (golden);
  sdcl_cl_free (cl);
  return check_finish ();
}

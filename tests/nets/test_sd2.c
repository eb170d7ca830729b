/* SD 2.x networks against diffusers/transformers (golden/sd2_text_encoder.*,
 * golden/sd2_unet.safetensors; tests/reference/README.md §SD 2.x fixtures),
 * each loaded with the configs sdcl derives itself: from the diffusers
 * folder, and from the single files (OpenCLIP names with fused q/k/v, one
 * resblock more than is run, head width from the .yaml beside the file):
 * tiny-sd2-ldm in F32, and an F16 (UNet, text) / BF16 (VAE) copy of it the
 * test writes itself (tests/half_copy.h).
 *
 *   - prompt -> ids with SD 2.x's "!" padding (also a literal "!" -> 0);
 *   - text encoder: the penultimate layer + final LayerNorm, exact GELU;
 *   - UNet: 16-wide heads from the attention_head_dim list (reversed for the
 *     up blocks), linear projections.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <json-glib/json-glib.h>

#include <glib/gstdio.h>

#include "half_copy.h"
#include "nets_fixture.h"
#include "tokenizer.h"

#define F32_ATOL 1e-4
#define F32_RTOL 1e-4
/* F16 weights: as test_clip.c / test_unet.c */
#define CLIP_F16_RANGE_FRACTION 2e-3
#define UNET_F16_RANGE_FRACTION 1e-2

static void
check_ids (const sdcl_model_files *mf, sdcl_st_file *golden)
{
  sdcl_error err = { 0 };
  sdcl_tokenizer *tok = NULL;
  CHECK_OK (sdcl_tokenizer_load (mf->vocab_path, mf->merges_path, &tok, &err), err);
  const sdcl_st_tensor *t;
  float *want = golden_floats (golden, "ids", &t);
  static const char *const prompts_json = "golden/sd2_text_encoder.json";
  char *path = fixture_path (prompts_json);
  JsonParser *parser = json_parser_new ();
  GError *gerr = NULL;
  if (!json_parser_load_from_file (parser, path, &gerr))
    {
      fprintf (stderr, "%s: %s\n", path, gerr->message);
      exit (1);
    }
  JsonArray *prompts = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                                     "prompts");
  CHECK (json_array_get_length (prompts) == (guint) t->shape[0], "prompt count");
  for (int i = 0; i < (int) t->shape[0]; i++)
    {
      int32_t ids[SDCL_CLIP_CONTEXT];
      sdcl_tokenizer_encode_clip (tok, json_array_get_string_element (prompts, (guint) i),
                                  mf->clip.pad_token_id, ids);
      int bad = -1;
      for (int j = 0; j < SDCL_CLIP_CONTEXT && bad < 0; j++)
        if (ids[j] != (int32_t) want[i * SDCL_CLIP_CONTEXT + j])
          bad = j;
      CHECK (bad < 0, "prompt %d: id %d is %d, transformers says %d", i, bad, bad < 0 ? 0 : ids[bad],
             bad < 0 ? 0 : (int) want[i * SDCL_CLIP_CONTEXT + bad]);
    }
  g_object_unref (parser);
  g_free (path);
  g_free (want);
  sdcl_tokenizer_free (tok);
}

static float *
clip_out (sdcl_cl *cl, const sdcl_model_files *mf, sdcl_wtype wtype, sdcl_st_file *golden,
          int64_t *n)
{
  const sdcl_st_tensor *t;
  float *ids_f = golden_floats (golden, "ids", &t);
  int batch = (int) t->shape[0], tokens = (int) t->shape[1];
  int32_t *ids = g_new (int32_t, batch * tokens);
  for (int i = 0; i < batch * tokens; i++)
    ids[i] = (int32_t) ids_f[i];
  sdcl_error err = { 0 };
  sdcl_clip *clip = NULL;
  CHECK_OK (sdcl_clip_new (cl, mf->text_w, &mf->clip, wtype, &clip, &err), err);
  sdcl_t hidden;
  CHECK_OK (sdcl_clip_forward (clip, ids, batch, tokens, 0, NULL, &hidden, &err), err);
  float *host = download (cl, &hidden);
  *n = hidden.n;
  sdcl_t_release (cl, &hidden);
  sdcl_clip_free (clip);
  g_free (ids);
  g_free (ids_f);
  return host;
}

static void
check_clip (sdcl_cl *cl, const char *label, const sdcl_model_files *mf, sdcl_wtype wtype,
            double range_fraction, sdcl_st_file *golden)
{
  CHECK (!mf->clip.quick_gelu && mf->clip.n_layers == 3, "%s: gelu %d, %d layers", label,
         !mf->clip.quick_gelu, mf->clip.n_layers);
  const sdcl_st_tensor *t;
  float *want = golden_floats (golden, "last_hidden_state", &t);
  int64_t n = 0;
  float *got = clip_out (cl, mf, wtype, golden, &n);
  char what[96];
  g_snprintf (what, sizeof what, "%s last_hidden_state", label);
  CHECK (n == t->n_elements, "%s: %lld values", what, (long long) n);
  if (n == t->n_elements)
    CHECK_CLOSE (what, got, want, n, range_fraction ? range_fraction * value_range (want, n) : F32_ATOL,
                 range_fraction ? 0.0 : F32_RTOL);
  g_free (got);
  g_free (want);
}

static void
check_unet (sdcl_cl *cl, const char *label, const sdcl_model_files *mf, sdcl_wtype wtype,
            double range_fraction, sdcl_st_file *golden)
{
  sdcl_error err = { 0 };
  sdcl_unet *unet = NULL;
  /* 16-wide heads: [2, 4] down, reversed up, the last for the mid block
   * (SD 1.x's rule would give 8 everywhere) */
  CHECK (mf->unet.use_linear_projection && mf->unet.n_levels == 2 && mf->unet.down_heads[0] == 2
         && mf->unet.down_heads[1] == 4 && mf->unet.up_heads[0] == 4 && mf->unet.up_heads[1] == 2
         && mf->unet.mid_heads == 4, "%s: linear %d, %d levels, heads %d/%d/%d", label,
         mf->unet.use_linear_projection, mf->unet.n_levels, mf->unet.down_heads[0], mf->unet.up_heads[0],
         mf->unet.mid_heads);
  CHECK_OK (sdcl_unet_new (cl, mf->unet_w, &mf->unet, wtype, false, &unet, &err), err);
  for (const char *c = "ab"; *c; c++)
    {
      char name[32], what[96];
      g_snprintf (name, sizeof name, "%c_x", *c);
      sdcl_t x = golden_device (cl, golden, name);
      g_snprintf (name, sizeof name, "%c_context", *c);
      sdcl_t context = golden_device (cl, golden, name);
      g_snprintf (name, sizeof name, "%c_t", *c);
      float *t = golden_floats (golden, name, NULL);
      g_snprintf (name, sizeof name, "%c_out", *c);
      const sdcl_st_tensor *wt;
      float *want = golden_floats (golden, name, &wt);
      sdcl_t out;
      CHECK_OK (sdcl_unet_forward (unet, &x, t, &context, NULL, &out, &err), err);
      float *got = download (cl, &out);
      g_snprintf (what, sizeof what, "%s UNet %s", label, name);
      CHECK (out.n == wt->n_elements, "%s: %lld values", what, (long long) out.n);
      if (out.n == wt->n_elements)
        CHECK_CLOSE (what, got, want, out.n,
                     range_fraction ? range_fraction * value_range (want, out.n) : F32_ATOL,
                     range_fraction ? 0.0 : F32_RTOL);
      sdcl_t_release (cl, &out);
      sdcl_t_release (cl, &x);
      sdcl_t_release (cl, &context);
      g_free (got);
      g_free (want);
      g_free (t);
    }
  sdcl_unet_free (unet);
}

/* tiny-sd2-ldm as F16/BF16 with its .yaml, in a temporary folder. */
static char *
half_single_file (void)
{
  char *dir = g_dir_make_tmp ("sdcl-sd2-half-XXXXXX", NULL);
  CHECK (dir != NULL, "temporary folder");
  char *src = fixture_path ("models/tiny-sd2-ldm.safetensors");
  char *yaml = fixture_path ("models/tiny-sd2-ldm.yaml");
  char *dst = g_build_filename (dir ? dir : ".", "tiny-sd2-ldm-f16.safetensors", NULL);
  GError *gerr = NULL;
  if (!dir || !half_copy_with_yaml (src, yaml, dst, "first_stage_model.", &gerr))
    {
      fprintf (stderr, "half-precision copy of %s: %s\n", src, gerr ? gerr->message : "no folder");
      exit (1);
    }
  g_free (yaml);
  g_free (src);
  g_free (dir);
  return dst;
}

static void
remove_half_single_file (char *path)
{
  char *dir = g_path_get_dirname (path);
  char *yaml = g_build_filename (dir, "tiny-sd2-ldm-f16.yaml", NULL);
  g_remove (path);
  g_remove (yaml);
  g_remove (dir);
  g_free (yaml);
  g_free (dir);
  g_free (path);
}

static sdcl_model_files *
model_files_at (const char *path)
{
  sdcl_model_files *mf = NULL;
  sdcl_error err = { 0 };
  if (sdcl_model_files_open (path, &mf, &err) != SDCL_OK)
    {
      fprintf (stderr, "cannot open %s: %s\n", path, err.message);
      exit (1);
    }
  return mf;
}

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_st_file *text_golden = fixture_golden ("golden/sd2_text_encoder.safetensors");
  sdcl_st_file *unet_golden = fixture_golden ("golden/sd2_unet.safetensors");
  struct {
    const char *label, *rel;
    sdcl_wtype wtype;
    double clip_range, unet_range;   /* 0: F32 tolerances */
  } models[] = {
    { "folder F32", "models/tiny-sd2", SDCL_WT_F32, 0, 0 },
    { "folder F16", "models/tiny-sd2", SDCL_WT_F16, CLIP_F16_RANGE_FRACTION, UNET_F16_RANGE_FRACTION },
    { "single file F32", "models/tiny-sd2-ldm.safetensors", SDCL_WT_F32, 0, 0 },
    { "single file F16/BF16", NULL, SDCL_WT_F16, CLIP_F16_RANGE_FRACTION, UNET_F16_RANGE_FRACTION },
  };
  char *half = half_single_file ();
  sdcl_model_files *folder = fixture_model ("models/tiny-sd2");
  CHECK (folder->clip.pad_token_id == 0, "SD 2.x pads with id 0, got %d", folder->clip.pad_token_id);
  check_ids (folder, text_golden);
  for (size_t i = 0; i < G_N_ELEMENTS (models); i++)
    {
      sdcl_model_files *mf = models[i].rel ? fixture_model (models[i].rel) : model_files_at (half);
      CHECK (mf->family == SDCL_FAMILY_SD2, "%s: family %d", models[i].label, mf->family);
      check_clip (cl, models[i].label, mf, models[i].wtype, models[i].clip_range, text_golden);
      check_unet (cl, models[i].label, mf, models[i].wtype, models[i].unet_range, unet_golden);
      sdcl_model_files_close (mf);
    }
  sdcl_model_files_close (folder);
  remove_half_single_file (half);
  sdcl_st_close (text_golden);
  sdcl_st_close (unet_golden);
  sdcl_cl_free (cl);
  return check_finish ();
}

/* CLIP text encoder against transformers' float32 outputs for six prompts
 * (tests/reference/fixtures/golden/text_encoder.*): last_hidden_state
 * (skip 0 and 1) and final_LN(hidden_states[-2]) (skip 2), with F32 and F16
 * device weights, from the diffusers folder and the single-file checkpoints.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets_fixture.h"

#define F32_ATOL 1e-4
#define F32_RTOL 1e-4
/* F16 rounds every weight (relative 2^-11): allow 0.2% of the output range
 * (about 7x the error seen with the fixture). */
#define F16_RANGE_FRACTION 2e-3

typedef struct {
  float *skip0, *skip1, *skip2;
  uint64_t device_bytes;
} clip_outputs;

static float *
encode (sdcl_cl *cl, sdcl_clip *clip, const int32_t *ids, int batch, int tokens, int skip)
{
  sdcl_error err = { 0 };
  sdcl_t hidden;
  CHECK_OK (sdcl_clip_forward (clip, ids, batch, tokens, skip, NULL, &hidden, &err), err);
  float *host = download (cl, &hidden);
  sdcl_t_release (cl, &hidden);
  return host;
}

/* Weights from `mf`, config from `config` (a single file cannot tell the
 * tiny model's head count; diffusers takes it from the folder's config too). */
static clip_outputs
run_clip (sdcl_cl *cl, const sdcl_model_files *mf, const sdcl_model_files *config,
          sdcl_wtype wtype, const int32_t *ids, int batch, int tokens)
{
  sdcl_error err = { 0 };
  sdcl_clip *clip = NULL;
  CHECK_OK (sdcl_clip_new (cl, mf->text_w, &config->clip, wtype, &clip, &err), err);
  clip_outputs o = {
    .skip0 = encode (cl, clip, ids, batch, tokens, 0),
    .skip1 = encode (cl, clip, ids, batch, tokens, 1),
    .skip2 = encode (cl, clip, ids, batch, tokens, 2),
    .device_bytes = sdcl_clip_device_bytes (clip),
  };
  sdcl_clip_free (clip);
  return o;
}

static void
free_outputs (clip_outputs *o)
{
  g_free (o->skip0);
  g_free (o->skip1);
  g_free (o->skip2);
}

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_st_file *golden = fixture_golden ("golden/text_encoder.safetensors");
  sdcl_model_files *folder = fixture_model ("models/tiny-sd");
  sdcl_model_files *ldm = fixture_model ("models/tiny-sd-ldm.safetensors");
  sdcl_model_files *ldm16 = fixture_model ("models/tiny-sd-ldm-f16.safetensors");
  sdcl_model_files *folder16 = fixture_model ("models/tiny-sd-f16");

  const sdcl_st_tensor *ids_t;
  float *ids_f = golden_floats (golden, "ids", &ids_t);
  int batch = (int) ids_t->shape[0], tokens = (int) ids_t->shape[1];
  int32_t *ids = g_new (int32_t, batch * tokens);
  for (int i = 0; i < batch * tokens; i++)
    ids[i] = (int32_t) ids_f[i];
  float *want_last = golden_floats (golden, "last_hidden_state", NULL);
  float *want_skip2 = golden_floats (golden, "clip_skip2", NULL);
  int64_t n = (int64_t) batch * tokens * folder->clip.hidden_size;

  clip_outputs f32 = run_clip (cl, folder, folder, SDCL_WT_F32, ids, batch, tokens);
  CHECK_CLOSE ("F32 last_hidden_state", f32.skip0, want_last, n, F32_ATOL, F32_RTOL);
  check_identical ("F32 skip 1 = skip 0", f32.skip1, f32.skip0, n);
  CHECK_CLOSE ("F32 clip skip 2", f32.skip2, want_skip2, n, F32_ATOL, F32_RTOL);

  /* Attention is causal, so the first tokens of a prompt do not depend on
   * the rest: a shorter input gives the leading rows of the full one. */
  int short_tokens = 9;
  int64_t hidden = folder->clip.hidden_size;
  int32_t *short_ids = g_new (int32_t, batch * short_tokens);
  float *want_short = g_new (float, batch * short_tokens * hidden);
  for (int b = 0; b < batch; b++)
    {
      memcpy (short_ids + b * short_tokens, ids + b * tokens, short_tokens * sizeof *ids);
      memcpy (want_short + b * short_tokens * hidden, want_last + b * tokens * hidden,
              short_tokens * hidden * sizeof *want_last);
    }
  clip_outputs shorter = run_clip (cl, folder, folder, SDCL_WT_F32, short_ids, batch, short_tokens);
  CHECK_CLOSE ("F32 first 9 tokens", shorter.skip0, want_short, batch * short_tokens * hidden,
               F32_ATOL, F32_RTOL);
  free_outputs (&shorter);
  g_free (short_ids);
  g_free (want_short);

  clip_outputs f16 = run_clip (cl, folder, folder, SDCL_WT_F16, ids, batch, tokens);
  double atol16 = F16_RANGE_FRACTION * value_range (want_last, n);
  CHECK_CLOSE ("F16 last_hidden_state", f16.skip0, want_last, n, atol16, 0.0);
  CHECK_CLOSE ("F16 clip skip 2", f16.skip2, want_skip2, n,
               F16_RANGE_FRACTION * value_range (want_skip2, n), 0.0);
  CHECK (2 * f16.device_bytes == f32.device_bytes, "device bytes F16 %llu, F32 %llu",
         (unsigned long long) f16.device_bytes, (unsigned long long) f32.device_bytes);

  /* The other checkpoints hold the same weights (the F16 ones rounded to
   * half, like an F16 upload of the F32 folder): identical results. */
  clip_outputs single = run_clip (cl, ldm, folder, SDCL_WT_F32, ids, batch, tokens);
  check_identical ("single-file F32 = folder F32", single.skip0, f32.skip0, n);
  check_identical ("single-file F32 skip 2 = folder", single.skip2, f32.skip2, n);
  clip_outputs single16 = run_clip (cl, ldm16, folder, SDCL_WT_F16, ids, batch, tokens);
  check_identical ("single-file F16 = folder F16", single16.skip0, f16.skip0, n);
  check_identical ("single-file F16 skip 2 = folder", single16.skip2, f16.skip2, n);
  clip_outputs half_folder = run_clip (cl, folder16, folder16, SDCL_WT_F16, ids, batch, tokens);
  check_identical ("F16 folder = F32 folder as F16", half_folder.skip0, f16.skip0, n);
  check_identical ("F16 folder skip 2 = F32 folder as F16", half_folder.skip2, f16.skip2, n);

  free_outputs (&f32);
  free_outputs (&f16);
  free_outputs (&single);
  free_outputs (&single16);
  free_outputs (&half_folder);
  g_free (ids);
  g_free (ids_f);
  g_free (want_last);
  g_free (want_skip2);
  sdcl_model_files_close (folder);
  sdcl_model_files_close (ldm);
  sdcl_model_files_close (ldm16);
  sdcl_model_files_close (folder16);
  sdcl_st_close (golden);
  sdcl_cl_free (cl);
  return check_finish ();
}

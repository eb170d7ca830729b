/* Failure paths of the networks:
 *   - a config that disagrees with the tensors is refused at construction
 *     with SDCL_ERR_MODEL_FORMAT naming the offending tensor;
 *   - inputs that do not fit the network are refused (invalid argument);
 *   - a cancel flag raised before or during a forward pass returns
 *     SDCL_ERR_CANCELLED, no output, and every pool buffer of the pass is
 *     released (in-use pool bytes back to where they were).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets_fixture.h"

/* ---- mis-shaped weight sets ---------------------------------------------------- */

static void
expect_format_error (const char *what, sdcl_status st, const void *obj, const sdcl_error *err,
                     const char *tensor)
{
  CHECK (st == SDCL_ERR_MODEL_FORMAT, "%s: status %s, want model-format", what,
         sdcl_status_name (st));
  CHECK (err->code == st, "%s: err.code %d differs from the status %d", what, err->code, st);
  CHECK (obj == NULL, "%s: an object was returned", what);
  CHECK (strstr (err->message, tensor) != NULL, "%s: message \"%s\" does not name %s", what,
         err->message, tensor);
  fprintf (stderr, "%s: %s\n", what, err->message);
}

static void
test_misshaped (sdcl_cl *cl, const sdcl_model_files *mf)
{
  sdcl_error err = { 0 };

  sdcl_unet_config ucfg = mf->unet;
  ucfg.cross_attention_dim += 16;
  sdcl_unet *unet = NULL;
  sdcl_status st = sdcl_unet_new (cl, mf->unet_w, &ucfg, SDCL_WT_F32, false, &unet, &err);
  expect_format_error ("UNet cross_attention_dim", st, unet, &err, "attn2.to_k.weight");

  ucfg = mf->unet;
  ucfg.block_out_channels[1] *= 2;
  err = (sdcl_error){ 0 };
  st = sdcl_unet_new (cl, mf->unet_w, &ucfg, SDCL_WT_F16, false, &unet, &err);
  expect_format_error ("UNet block_out_channels", st, unet, &err, "down_blocks.1.resnets.0");

  ucfg = mf->unet;
  ucfg.down_heads[0] = 3;   /* does not divide the channels */
  err = (sdcl_error){ 0 };
  st = sdcl_unet_new (cl, mf->unet_w, &ucfg, SDCL_WT_F32, false, &unet, &err);
  expect_format_error ("UNet heads", st, unet, &err, "down_blocks.0.attentions.0");

  sdcl_clip_config ccfg = mf->clip;
  ccfg.intermediate_size += 1;
  sdcl_clip *clip = NULL;
  err = (sdcl_error){ 0 };
  st = sdcl_clip_new (cl, mf->text_w, &ccfg, SDCL_WT_F32, &clip, &err);
  expect_format_error ("CLIP intermediate_size", st, clip, &err, "mlp.fc1.weight");

  sdcl_vae_config vcfg = mf->vae;
  vcfg.latent_channels = 8;
  sdcl_vae *vae = NULL;
  err = (sdcl_error){ 0 };
  st = sdcl_vae_new (cl, mf->vae_w, &vcfg, SDCL_WT_F32, false, &vae, &err);
  expect_format_error ("VAE latent_channels", st, vae, &err, "post_quant_conv.weight");
}

/* ---- bad inputs ------------------------------------------------------------------ */

static void
expect_invalid (sdcl_cl *cl, const char *what, sdcl_status st, const sdcl_t *out,
                const sdcl_error *err)
{
  CHECK (st == SDCL_ERR_INVALID_ARGUMENT, "%s: status %s, want invalid-argument", what,
         sdcl_status_name (st));
  CHECK (out->buf == NULL, "%s: an output was returned", what);
  fprintf (stderr, "%s: %s\n", what, err->message);
}

static void
test_bad_inputs (sdcl_cl *cl, const sdcl_model_files *mf)
{
  sdcl_error err = { 0 };
  sdcl_t out;

  sdcl_clip *clip = NULL;
  CHECK_OK (sdcl_clip_new (cl, mf->text_w, &mf->clip, SDCL_WT_F32, &clip, &err), err);
  int32_t ids[3] = { 49406, mf->clip.vocab_size, 49407 };
  sdcl_status st = sdcl_clip_forward (clip, ids, 1, 3, 0, NULL, &out, &err);
  expect_invalid (cl, "CLIP token id", st, &out, &err);
  ids[1] = 320;
  st = sdcl_clip_forward (clip, ids, 1, 3, mf->clip.n_layers + 2, NULL, &out, &err);
  expect_invalid (cl, "CLIP skip", st, &out, &err);
  int32_t *long_ids = g_new0 (int32_t, mf->clip.max_position_embeddings + 1);
  st = sdcl_clip_forward (clip, long_ids, 1, mf->clip.max_position_embeddings + 1, 0, NULL, &out,
                          &err);
  expect_invalid (cl, "CLIP length", st, &out, &err);
  g_free (long_ids);
  sdcl_clip_free (clip);

  sdcl_unet *unet = NULL;
  CHECK_OK (sdcl_unet_new (cl, mf->unet_w, &mf->unet, SDCL_WT_F32, false, &unet, &err), err);
  sdcl_t x = filled_tensor (cl, 4, 1, mf->unet.in_channels, 8, 8);
  sdcl_t ctx = filled_tensor (cl, 3, 1, 77, mf->unet.cross_attention_dim + 1, 0);
  const float t = 500.0f;
  st = sdcl_unet_forward (unet, &x, &t, &ctx, NULL, &out, &err);
  expect_invalid (cl, "UNet context width", st, &out, &err);
  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &ctx);
  sdcl_unet_free (unet);
}

/* ---- cancellation ---------------------------------------------------------------- */

/* Bytes held by live tensors: pooled (released) buffers are freed first. */
static uint64_t
in_use_bytes (sdcl_cl *cl)
{
  sdcl_cl_pool_trim (cl);
  return sdcl_cl_pool_bytes (cl);
}

static void
expect_cancelled (sdcl_cl *cl, const char *what, sdcl_status st, const sdcl_t *out,
                  uint64_t before)
{
  CHECK (st == SDCL_ERR_CANCELLED, "%s: status %s, want cancelled", what, sdcl_status_name (st));
  CHECK (out->buf == NULL, "%s: an output was returned", what);
  uint64_t after = in_use_bytes (cl);
  CHECK (after == before, "%s: %llu pool bytes in use after, %llu before", what,
         (unsigned long long) after, (unsigned long long) before);
}

static void
test_cancel_before (sdcl_cl *cl, const sdcl_model_files *mf)
{
  const volatile int cancel = 1;
  sdcl_error err = { 0 };

  sdcl_clip *clip = NULL;
  CHECK_OK (sdcl_clip_new (cl, mf->text_w, &mf->clip, SDCL_WT_F32, &clip, &err), err);
  int32_t ids[4] = { 49406, 320, 1125, 49407 };
  uint64_t before = in_use_bytes (cl);
  sdcl_t hidden;
  sdcl_status st = sdcl_clip_forward (clip, ids, 1, 4, 0, &cancel, &hidden, &err);
  expect_cancelled (cl, "CLIP cancelled before", st, &hidden, before);
  sdcl_clip_free (clip);

  sdcl_vae *vae = NULL;
  CHECK_OK (sdcl_vae_new (cl, mf->vae_w, &mf->vae, SDCL_WT_F32, false, &vae, &err), err);
  sdcl_t z = filled_tensor (cl, 4, 1, mf->vae.latent_channels, 4, 4);
  before = in_use_bytes (cl);
  sdcl_t image;
  st = sdcl_vae_decode (vae, &z, &cancel, &image, &err);
  expect_cancelled (cl, "VAE cancelled before", st, &image, before);
  sdcl_t_release (cl, &z);
  sdcl_vae_free (vae);
}

typedef struct {
  volatile int flag;
  gulong delay_us;
} canceller;

static gpointer
raise_after_delay (gpointer data)
{
  canceller *c = data;
  g_usleep (c->delay_us);
  c->flag = 1;
  return NULL;
}

/* Runs the UNet on a latent large enough to take a while; with a delay the
 * flag is raised from another thread meanwhile.  Returns the status and
 * frees any output. */
static sdcl_status
unet_run (sdcl_cl *cl, sdcl_unet *unet, const sdcl_t *x, const sdcl_t *ctx, canceller *c,
          uint64_t before, const char *what)
{
  const float t[2] = { 999.0f, 1.0f };
  sdcl_error err = { 0 };
  sdcl_t out;
  GThread *thread = c->delay_us ? g_thread_new ("canceller", raise_after_delay, c) : NULL;
  sdcl_status st = sdcl_unet_forward (unet, x, t, ctx, &c->flag, &out, &err);
  if (thread)
    g_thread_join (thread);
  if (st == SDCL_ERR_CANCELLED || c->flag)
    {
      if (st == SDCL_OK)
        sdcl_t_release (cl, &out);   /* finished before the flag was seen */
      else
        expect_cancelled (cl, what, st, &out, before);
    }
  else
    {
      CHECK (st == SDCL_OK, "%s: %s", what, err.message);
      sdcl_t_release (cl, &out);
    }
  return st;
}

static void
test_cancel_unet (sdcl_cl *cl, const sdcl_model_files *mf)
{
  sdcl_error err = { 0 };
  sdcl_unet *unet = NULL;
  CHECK_OK (sdcl_unet_new (cl, mf->unet_w, &mf->unet, SDCL_WT_F32, false, &unet, &err), err);
  sdcl_t x = filled_tensor (cl, 4, 2, mf->unet.in_channels, 32, 32);
  sdcl_t ctx = filled_tensor (cl, 3, 2, 77, mf->unet.cross_attention_dim, 0);
  uint64_t before = in_use_bytes (cl);

  canceller c = { .flag = 1 };
  unet_run (cl, unet, &x, &ctx, &c, before, "UNet cancelled before");

  /* Time an uncancelled pass, then raise the flag part-way through; retry
   * earlier if a loaded machine let the pass finish first. */
  c = (canceller){ 0 };
  gint64 start = g_get_monotonic_time ();
  unet_run (cl, unet, &x, &ctx, &c, before, "UNet warm-up");
  gint64 duration = g_get_monotonic_time () - start;
  bool cancelled = false;
  for (int attempt = 0; attempt < 6 && !cancelled; attempt++)
    {
      c = (canceller){ .delay_us = (gulong) (duration / (3 << attempt)) + 1 };
      cancelled = unet_run (cl, unet, &x, &ctx, &c, before, "UNet cancelled during")
                  == SDCL_ERR_CANCELLED;
      fprintf (stderr, "cancel after %lu us of a %lld us pass: %s\n", c.delay_us,
               (long long) duration, cancelled ? "cancelled" : "finished first");
    }
  CHECK (cancelled, "no forward pass was cancelled while running");

  sdcl_t_release (cl, &x);
  sdcl_t_release (cl, &ctx);
  sdcl_unet_free (unet);
}

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_model_files *mf = fixture_model ("models/tiny-sd");
  test_misshaped (cl, mf);
  test_bad_inputs (cl, mf);
  test_cancel_before (cl, mf);
  test_cancel_unet (cl, mf);
  sdcl_model_files_close (mf);
  sdcl_cl_free (cl);
  return check_finish ();
}

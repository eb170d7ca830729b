/* Model loading: diffusers folders and LDM single files built by the model
 * writer (tiny SD 1.x geometry), config parsing and defaults, family
 * detection and refusals, inpainting UNets, shards, and the messages for
 * missing or misshapen tensors.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "check.h"
#include "families/family.h"
#include "loader_internal.h"
#include "model_compare.h"
#include "model_writer.h"
#include "remove_tree.h"

#define SEED 7

static char *tmp_root;

/* ---- helpers ----------------------------------------------------------- */

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_root, name, NULL);
}

static void
write_text (const char *dir, const char *rel, const char *text)
{
  char *path = g_build_filename (dir, rel, NULL);
  CHECK (g_file_set_contents (path, text, -1, NULL), "write %s", path);
  g_free (path);
}

static char *
write_diffusers (const char *name, const mk_model *m, sdcl_dtype dtype)
{
  char *dir = tmp_path (name);
  GError *e = NULL;
  CHECK (mk_write_diffusers (dir, m, dtype, SEED, &e), "write %s: %s", dir, e ? e->message : "");
  g_clear_error (&e);
  return dir;
}

static char *
write_single (const char *name, const mk_model *m, sdcl_dtype dtype)
{
  char *path = tmp_path (name);
  GError *e = NULL;
  CHECK (mk_write_single_file (path, m, dtype, SEED, &e), "write %s: %s", path, e ? e->message : "");
  g_clear_error (&e);
  return path;
}

/* The tensors of a model with some edits, written as one LDM file. */
typedef void (*edit_fn) (GArray *tensors, void *data);

static char *
write_single_edited (const char *name, const mk_model *m, edit_fn edit, void *data)
{
  GArray *all = g_array_new (FALSE, FALSE, sizeof (mk_tensor));
  for (int c = 0; c < 3; c++)
    {
      size_t n;
      mk_tensor *t = mk_component_tensors (m, (sdcl_component) c, true, &n);
      g_array_append_vals (all, t, (guint) n);
      g_free (t);
    }
  if (edit)
    edit (all, data);
  char *path = tmp_path (name);
  GError *e = NULL;
  CHECK (mk_write_safetensors (path, (mk_tensor *) (void *) all->data, all->len, SDCL_DT_F32, SEED, &e),
         "write %s", path);
  g_clear_error (&e);
  g_array_free (all, TRUE);
  return path;
}

static sdcl_model_files *
open_ok (const char *path)
{
  sdcl_model_files *mf = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_model_files_open (path, &mf, &err);
  CHECK (st == SDCL_OK && mf, "open %s: %s", path, err.message);
  return mf;
}

/* Expects failure with `code` and every one of the NULL-terminated
 * fragments in the message. */
static void
expect_open_error (const char *path, sdcl_status code, ...)
{
  sdcl_model_files *mf = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_model_files_open (path, &mf, &err);
  CHECK (st == code && err.code == code && mf == NULL, "open %s: status %s (%s), want %s", path,
         sdcl_status_name (st), err.message, sdcl_status_name (code));
  fprintf (stderr, "refused as expected: %s\n", err.message);
  va_list ap;
  va_start (ap, code);
  for (const char *frag; (frag = va_arg (ap, const char *));)
    CHECK (strstr (err.message, frag) != NULL, "message '%s' lacks '%s'", err.message, frag);
  va_end (ap);
  sdcl_model_files_close (mf);
}

static mk_tensor *
find_tensor (GArray *tensors, const char *name)
{
  for (guint i = 0; i < tensors->len; i++)
    if (strcmp (g_array_index (tensors, mk_tensor, i).name, name) == 0)
      return &g_array_index (tensors, mk_tensor, i);
  CHECK (0, "no tensor %s to edit", name);
  return NULL;
}

/* ---- both layouts ------------------------------------------------------ */

static void
test_layouts_agree (void)
{
  mk_model m;
  mk_model_tiny (&m, false);
  char *dir = write_diffusers ("tiny", &m, SDCL_DT_F32);
  char *file = write_single ("tiny.safetensors", &m, SDCL_DT_F32);
  char *half = write_single ("tiny-f16.safetensors", &m, SDCL_DT_F16);
  char *bf = write_diffusers ("tiny-bf16", &m, SDCL_DT_BF16);
  sdcl_model_files *a = open_ok (dir), *b = open_ok (file), *c = open_ok (half), *d = open_ok (bf);
  if (a && b && c && d)
    {
      CHECK (!a->single_file && b->single_file, "layout flags");
      CHECK (a->unet.in_channels == 4 && a->unet.n_levels == 2 && a->unet.layers_per_block == 1
             && a->unet.cross_attention_dim == 64 && a->unet.down_heads[0] == 8, "tiny UNet config");
      CHECK (a->vae.block_out_channels[3] == 64 && a->clip.n_layers == 2 && a->clip.n_heads == 4
             && a->clip.eos_token_id == 2 && a->clip.pad_token_id == 49407, "tiny VAE/CLIP config");
      CHECK (strcmp (a->sched.beta_schedule, "scaled_linear") == 0 && a->sched.steps_offset == 1,
             "scheduler");
      CHECK (a->vocab_path == NULL && a->merges_path == NULL, "no tokenizer/");
      const sdcl_st_tensor *q = sdcl_wset_find (b->vae_w, "decoder.mid_block.attentions.0.to_q.weight");
      CHECK (q && q->nd == 2 && q->shape[0] == 64 && q->shape[1] == 64, "1x1 conv squeezed to [64, 64]");
      compare_models (a, b, 0);
      compare_models (a, c, 1e-3);    /* half precision */
      compare_models (a, d, 8e-3);    /* bfloat16 */
    }
  sdcl_model_files_close (a);
  sdcl_model_files_close (b);
  sdcl_model_files_close (c);
  sdcl_model_files_close (d);
  g_free (dir);
  g_free (file);
  g_free (half);
  g_free (bf);
}

static void
test_inpainting (void)
{
  mk_model m;
  mk_model_tiny (&m, true);
  char *dir = write_diffusers ("inpaint", &m, SDCL_DT_F16);
  char *file = write_single ("inpaint.safetensors", &m, SDCL_DT_F16);
  sdcl_model_files *a = open_ok (dir), *b = open_ok (file);
  if (a && b)
    {
      CHECK (a->unet.in_channels == 9 && b->unet.in_channels == 9, "9 input channels: %d %d",
             a->unet.in_channels, b->unet.in_channels);
      compare_models (a, b, 0);
    }
  sdcl_model_files_close (a);
  sdcl_model_files_close (b);
  /* a config that contradicts the weights names the key */
  write_text (dir, "unet/config.json", "{\"in_channels\": 4, \"cross_attention_dim\": 64, "
              "\"block_out_channels\": [32, 64], \"layers_per_block\": 1, "
              "\"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\"], "
              "\"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\"]}");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "unet/config.json", "\"in_channels\" is 4",
                     "conv_in.weight has 9", NULL);
  /* a key left out takes the class default: cross_attention_dim 1280 */
  write_text (dir, "unet/config.json", "{\"in_channels\": 9, "
              "\"block_out_channels\": [32, 64], \"layers_per_block\": 1, "
              "\"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\"], "
              "\"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\"]}");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "\"cross_attention_dim\" is 1280", "attn2.to_k.weight", NULL);
  g_free (dir);
  g_free (file);
}

/* ---- diffusers variants ------------------------------------------------ */

static void
test_fp16_variant_and_bare_text_names (void)
{
  mk_model m;
  mk_model_tiny (&m, false);
  char *dir = write_diffusers ("variant", &m, SDCL_DT_F16);
  char *from = g_build_filename (dir, "vae", "diffusion_pytorch_model.safetensors", NULL);
  char *to = g_build_filename (dir, "vae", "diffusion_pytorch_model.fp16.safetensors", NULL);
  CHECK (g_rename (from, to) == 0, "rename to the fp16 variant");
  /* a text encoder saved without the text_model. prefix (docs/diffusion.md §CLIP text encoder) */
  size_t n;
  mk_tensor *t = mk_component_tensors (&m, SDCL_COMP_TEXT, false, &n);
  for (size_t i = 0; i < n; i++)
    memmove (t[i].name, t[i].name + strlen ("text_model."), strlen (t[i].name) - strlen ("text_model.") + 1);
  char *text = g_build_filename (dir, "text_encoder", "model.safetensors", NULL);
  CHECK (mk_write_safetensors (text, t, n, SDCL_DT_F16, SEED, NULL), "bare text encoder");
  sdcl_model_files *mf = open_ok (dir);
  if (mf)
    {
      CHECK (sdcl_wset_find (mf->text_w, "text_model.encoder.layers.1.mlp.fc2.bias") != NULL, "prefixed");
      CHECK (strstr (mf->vae_w ? sdcl_wset_find (mf->vae_w, "encoder.conv_in.weight") ? "ok" : "" : "", "ok"),
             "vae from the fp16 variant");
    }
  sdcl_model_files_close (mf);
  CHECK (g_unlink (to) == 0, "remove vae weights");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "no weights", "vae", NULL);
  write_text (dir, "vae/diffusion_pytorch_model.bin", "x");
  expect_open_error (dir, SDCL_ERR_UNSUPPORTED_MODEL, ".bin", NULL);
  g_free (t);
  g_free (text);
  g_free (from);
  g_free (to);
  g_free (dir);
}

/* Splits the UNet into two shards plus an index. */
static char *
write_sharded (const char *name, const mk_model *m)
{
  char *dir = write_diffusers (name, m, SDCL_DT_F32);
  size_t n;
  mk_tensor *t = mk_component_tensors (m, SDCL_COMP_UNET, false, &n);
  char *unet = g_build_filename (dir, "unet", NULL);
  char *s1 = g_build_filename (unet, "diffusion_pytorch_model-00001-of-00002.safetensors", NULL);
  char *s2 = g_build_filename (unet, "diffusion_pytorch_model-00002-of-00002.safetensors", NULL);
  char *single = g_build_filename (unet, "diffusion_pytorch_model.safetensors", NULL);
  CHECK (mk_write_safetensors (s1, t, n / 2, SDCL_DT_F32, SEED, NULL)
         && mk_write_safetensors (s2, t + n / 2, n - n / 2, SDCL_DT_F32, SEED, NULL), "shards");
  GString *index = g_string_new ("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
  for (size_t i = 0; i < n; i++)
    g_string_append_printf (index, "%s\"%s\": \"diffusion_pytorch_model-0000%d-of-00002.safetensors\"",
                            i ? ", " : "", t[i].name, i < n / 2 ? 1 : 2);
  g_string_append (index, "}}");
  write_text (unet, "diffusion_pytorch_model.safetensors.index.json", index->str);
  g_unlink (single);
  g_string_free (index, TRUE);
  g_free (t);
  g_free (s1);
  g_free (s2);
  g_free (single);
  g_free (unet);
  return dir;
}

static void
test_shards (void)
{
  mk_model m;
  mk_model_tiny (&m, false);
  char *dir = write_sharded ("sharded", &m);
  char *file = write_single ("sharded-ref.safetensors", &m, SDCL_DT_F32);
  sdcl_model_files *a = open_ok (dir), *b = open_ok (file);
  if (a && b)
    compare_models (a, b, 0);
  sdcl_model_files_close (a);
  sdcl_model_files_close (b);
  char *index = g_build_filename (dir, "unet", "diffusion_pytorch_model.safetensors.index.json", NULL);
  char *text = NULL;
  CHECK (g_file_get_contents (index, &text, NULL, NULL), "read index");
  const char *hostile[] = { "../../tiny/unet/diffusion_pytorch_model.safetensors", "/etc/passwd", "..",
                            "sub\\\\x.safetensors" };
  for (size_t i = 0; text && i < G_N_ELEMENTS (hostile); i++)
    {
      char *edited = g_strdup (text);
      char *at = strstr (edited, "diffusion_pytorch_model-00002-of-00002.safetensors");
      GString *s = g_string_new_len (edited, at - edited);
      g_string_append (s, hostile[i]);
      g_string_append (s, at + strlen ("diffusion_pytorch_model-00002-of-00002.safetensors"));
      write_text (dir, "unet/diffusion_pytorch_model.safetensors.index.json", s->str);
      expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "is not a plain file name", "index.json", NULL);
      g_string_free (s, TRUE);
      g_free (edited);
    }
  write_text (dir, "unet/diffusion_pytorch_model.safetensors.index.json",
              "{\"weight_map\": {\"conv_in.weight\": \"diffusion_pytorch_model-00002-of-00002.safetensors\"}}");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "weight_map puts conv_in.weight in", NULL);
  write_text (dir, "unet/diffusion_pytorch_model.safetensors.index.json",
              "{\"weight_map\": {\"a\": \"x.safetensors\", \"a\": \"y.safetensors\"}}");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "duplicate key 'a'", NULL);
  write_text (dir, "unet/diffusion_pytorch_model.safetensors.index.json", "{\"metadata\": {}}");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "no \"weight_map\"", NULL);
  g_free (text);
  g_free (index);
  g_free (dir);
  g_free (file);
}

static void
test_tokenizer_and_folder_errors (void)
{
  mk_model m;
  mk_model_tiny (&m, false);
  char *dir = write_diffusers ("tok", &m, SDCL_DT_F16);
  char *tok = g_build_filename (dir, "tokenizer", NULL);
  g_mkdir (tok, 0755);
  write_text (tok, "vocab.json", "{}");
  expect_open_error (dir, SDCL_ERR_TOKENIZER, "merges.txt", NULL);
  write_text (tok, "merges.txt", "#version: 0.2\n");
  sdcl_model_files *mf = open_ok (dir);
  if (mf)
    CHECK (mf->vocab_path && g_str_has_suffix (mf->vocab_path, "tokenizer/vocab.json") && mf->merges_path
           && g_str_has_suffix (mf->merges_path, "tokenizer/merges.txt"), "tokenizer paths");
  sdcl_model_files_close (mf);
  write_text (dir, "scheduler/scheduler_config.json",
              "{\"_class_name\": \"EulerDiscreteScheduler\", \"prediction_type\": \"v_prediction\"}");
  mf = open_ok (dir);
  if (mf)
    CHECK (mf->sched.prediction_type == SDCL_PREDICTION_V && mf->sched.timestep_spacing[0] == '\0'
           && mf->sched.steps_offset == 0 && mf->sched.beta_start == 0.0001f, "Euler class defaults");
  sdcl_model_files_close (mf);
  write_text (dir, "vae/config.json", "{\"block_out_channels\": [32, 32, 64, 64]");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "vae/config.json", "invalid JSON", NULL);
  write_text (dir, "model_index.json", "{\"text_encoder_2\": [\"transformers\", \"CLIPTextModelWithProjection\"]}");
  write_text (dir, "vae/config.json", "{}");
  expect_open_error (dir, SDCL_ERR_MODEL_FORMAT, "model_index.json lists text_encoder_2 (SDXL)",
                     "no text_encoder_2", NULL);
  char *empty = tmp_path ("empty");
  g_mkdir (empty, 0755);
  expect_open_error (empty, SDCL_ERR_MODEL_FORMAT, "missing unet/config.json", NULL);
  char *nothing = tmp_path ("nothing-here");
  expect_open_error (nothing, SDCL_ERR_IO, "nothing-here", NULL);
  sdcl_model_files *none = NULL;
  CHECK (sdcl_model_files_open (nothing, &none, NULL) == SDCL_ERR_IO && none == NULL, "NULL err");
  g_free (nothing);
  g_free (empty);
  g_free (tok);
  g_free (dir);
}

/* ---- single-file errors and families ----------------------------------- */

static void
drop_tensor (GArray *t, void *name)
{
  mk_tensor *victim = find_tensor (t, name);
  if (victim)
    g_array_remove_index (t, (guint) (victim - (mk_tensor *) (void *) t->data));
}

static void
reshape_tensor (GArray *t, void *name)
{
  mk_tensor *victim = find_tensor (t, name);
  if (victim)
    victim->shape[0] += 1;
}

typedef struct {
  const char *name;
  int nd;
  int64_t shape[4];
} extra_tensor;

static void
add_tensors (GArray *t, void *extras)
{
  for (extra_tensor *e = extras; e->name; e++)
    {
      mk_tensor x = { .nd = e->nd };
      g_strlcpy (x.name, e->name, sizeof x.name);
      g_strlcpy (x.canonical, e->name, sizeof x.canonical);
      memcpy (x.shape, e->shape, sizeof x.shape);
      g_array_append_val (t, x);
    }
}

static void
test_missing_and_misshapen (void)
{
  mk_model m;
  mk_model_tiny (&m, false);
  char *missing = write_single_edited ("missing.safetensors", &m, drop_tensor,
                                       "model.diffusion_model.output_blocks.3.1.transformer_blocks.0.attn1.to_v.weight");
  expect_open_error (missing, SDCL_ERR_MODEL_FORMAT,
                     "missing tensor model.diffusion_model.output_blocks.3.1.transformer_blocks.0.attn1.to_v.weight "
                     "(up_blocks.1.attentions.1.transformer_blocks.0.attn1.to_v.weight in diffusers' naming) in unet of",
                     "missing.safetensors", NULL);
  char *shape = write_single_edited ("shape.safetensors", &m, reshape_tensor,
                                     "first_stage_model.decoder.up.1.block.0.conv2.bias");
  expect_open_error (shape, SDCL_ERR_MODEL_FORMAT,
                     "tensor first_stage_model.decoder.up.1.block.0.conv2.bias "
                     "(decoder.up_blocks.2.resnets.0.conv2.bias in diffusers' naming) in vae of",
                     "shape.safetensors has shape [33], expected [32]", NULL);
  char *no_text = write_single_edited ("no-text.safetensors", &m, drop_tensor,
                                       "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");
  expect_open_error (no_text, SDCL_ERR_UNSUPPORTED_MODEL, "no CLIP text encoder", NULL);
  extra_tensor stray[] = { { "model.diffusion_model.middle_block.1.extra.weight", 1, { 64 } }, { NULL } };
  char *extra = write_single_edited ("extra.safetensors", &m, add_tensors, stray);
  expect_open_error (extra, SDCL_ERR_MODEL_FORMAT,
                     "unexpected tensor model.diffusion_model.middle_block.1.extra.weight in unet of", NULL);
  g_free (extra);
  g_free (missing);
  g_free (shape);
  g_free (no_text);

  /* sdcl_wset_require directly */
  char *file = write_single ("require.safetensors", &m, SDCL_DT_F32);
  sdcl_model_files *mf = open_ok (file);
  if (mf)
    {
      sdcl_error err = { 0 };
      const int64_t any_rows[2] = { -1, 32 }, wrong[2] = { 128, 33 };
      CHECK (sdcl_wset_require (mf->unet_w, "time_embedding.linear_1.weight", 2, any_rows, &err) != NULL,
             "wildcard: %s", err.message);
      CHECK (sdcl_wset_require (mf->unet_w, "time_embedding.linear_1.weight", 0, NULL, &err) != NULL, "no shape");
      CHECK (!sdcl_wset_require (mf->unet_w, "time_embedding.linear_1.weight", 2, wrong, &err)
             && strstr (err.message, "has shape [128, 32], expected [128, 33]"), "%s", err.message);
      CHECK (!sdcl_wset_require (mf->text_w, "nope", 0, NULL, &err)
             && strstr (err.message, "missing tensor nope in text_encoder of") && strstr (err.message, file),
             "%s", err.message);
      CHECK (strcmp (sdcl_wset_component (mf->vae_w), "vae") == 0, "component name");
      CHECK (sdcl_wset_at (mf->vae_w, sdcl_wset_count (mf->vae_w)) == NULL, "at past the end");
    }
  sdcl_model_files_close (mf);
  g_free (file);
}

static void
test_family_refusals (void)
{
  /* SD 2.x: 1024-wide cross-attention, linear projections, OpenCLIP text */
  mk_model m;
  mk_model_tiny (&m, false);
  m.unet.cross_attention_dim = 1024;
  m.unet.use_linear_projection = true;
  extra_tensor openclip[] = { { "cond_stage_model.model.token_embedding.weight", 2, { 1000, 1024 } }, { NULL } };
  char *sd2 = write_single_edited ("sd2.safetensors", &m, add_tensors, openclip);
  /* an OpenCLIP name over a narrower CLIP: claimed by SD 2.x, refused by width */
  expect_open_error (sd2, SDCL_ERR_UNSUPPORTED_MODEL,
                     "the UNet cross-attends to 1024-wide states but the text encoder is", NULL);
  /* the same as a diffusers folder with a GELU text encoder 1024 wide: SD 2.x, which runs */
  m.clip.hidden_size = 1024;
  m.clip.n_heads = 16;
  m.clip.quick_gelu = false;
  char *sd2_dir = write_diffusers ("sd2", &m, SDCL_DT_F16);
  sdcl_model_files *mf2 = NULL;
  sdcl_error err2 = { 0 };
  CHECK (sdcl_model_files_open (sd2_dir, &mf2, &err2) == SDCL_OK && mf2->family == SDCL_FAMILY_SD2
         && mf2->clip.pad_token_id == 0, "SD 2.x folder: %s", err2.message);
  sdcl_model_files_close (mf2);

  /* SDXL base: second text encoder, label_emb of 2816 inputs, 2048 context */
  mk_model_tiny (&m, false);
  m.unet.cross_attention_dim = 2048;
  extra_tensor xl[] = {
    { "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias", 1, { 1280 } },
    { "model.diffusion_model.label_emb.0.0.weight", 2, { 128, 2816 } },
    { NULL },
  };
  char *sdxl = write_single_edited ("sdxl.safetensors", &m, add_tensors, xl);
  expect_open_error (sdxl, SDCL_ERR_MODEL_FORMAT, "an SDXL model (cross-attention dim 2048) without "
                     "its second text encoder", NULL);
  /* SDXL refiner: aesthetic-score embedding (2560), 1280 context */
  m.unet.cross_attention_dim = 1280;
  extra_tensor refiner[] = {
    { "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias", 1, { 1280 } },
    { "model.diffusion_model.label_emb.0.0.weight", 2, { 128, 2560 } },
    { NULL },
  };
  char *ref = write_single_edited ("refiner.safetensors", &m, add_tensors, refiner);
  expect_open_error (ref, SDCL_ERR_UNSUPPORTED_MODEL, "cross-attention dim 1280", "SDXL refiner", NULL);
  /* an unknown layout */
  m.unet.cross_attention_dim = 512;
  char *odd = write_single_edited ("odd.safetensors", &m, NULL, NULL);
  expect_open_error (odd, SDCL_ERR_UNSUPPORTED_MODEL,
                     "unknown model layout (cross-attention dim 512 does not match the text encoder width 64)",
                     NULL);
  /* InstructPix2Pix */
  mk_model_tiny (&m, false);
  m.unet.in_channels = 8;
  char *p2p = write_single_edited ("p2p.safetensors", &m, NULL, NULL);
  expect_open_error (p2p, SDCL_ERR_UNSUPPORTED_MODEL, "8 input channels", "InstructPix2Pix", NULL);
  /* not a checkpoint at all: a lone VAE */
  extra_tensor vae_only[] = { { "first_stage_model.encoder.conv_in.weight", 4, { 8, 3, 3, 3 } }, { NULL } };
  GArray *only = g_array_new (FALSE, FALSE, sizeof (mk_tensor));
  add_tensors (only, vae_only);
  char *lone = tmp_path ("lone-vae.safetensors");
  CHECK (mk_write_safetensors (lone, (mk_tensor *) (void *) only->data, only->len, SDCL_DT_F16, 1, NULL), "lone");
  expect_open_error (lone, SDCL_ERR_UNSUPPORTED_MODEL, "no UNet", NULL);
  g_array_free (only, TRUE);
  /* family facts decided directly */
  sdcl_family_facts facts = { .cross_attention_dim = 768, .text_hidden = 768, .unet_in_channels = 9 };
  sdcl_family family = SDCL_FAMILY_UNKNOWN;
  sdcl_error err = { 0 };
  CHECK (sdcl_family_decide (&facts, "x", &family, &err) == SDCL_OK && family == SDCL_FAMILY_SD1, "SD1 facts");
  facts.text_hidden = 1024;
  CHECK (sdcl_family_decide (&facts, "x", &family, &err) == SDCL_ERR_UNSUPPORTED_MODEL
         && family == SDCL_FAMILY_UNKNOWN && strstr (err.message, "does not match"), "%s", err.message);
  sdcl_family_facts narrow = { .cross_attention_dim = 32, .text_hidden = 32, .unet_in_channels = 4 };
  CHECK (sdcl_family_decide (&narrow, "x", &family, &err) == SDCL_OK && family == SDCL_FAMILY_SD1,
         "a narrow SD 1.x test model: %s", err.message);
  narrow.linear_projection = true;
  CHECK (sdcl_family_decide (&narrow, "x", &family, &err) == SDCL_ERR_UNSUPPORTED_MODEL
         && strstr (err.message, "linear transformer projections"), "%s", err.message);
  g_free (lone);
  g_free (p2p);
  g_free (odd);
  g_free (ref);
  g_free (sdxl);
  g_free (sd2);
  g_free (sd2_dir);
}

/* ---- config.json parsing ----------------------------------------------- */

static JsonParser *
parse (const char *text)
{
  JsonParser *p = json_parser_new ();
  CHECK (json_parser_load_from_data (p, text, -1, NULL), "parse %s", text);
  return p;
}

static sdcl_status
unet_from (const char *text, sdcl_unet_config *c, sdcl_error *err)
{
  JsonParser *p = parse (text);
  sdcl_status st = sdcl_unet_config_from_json (json_node_get_object (json_parser_get_root (p)),
                                               "unet/config.json", c, err);
  g_object_unref (p);
  return st;
}

static void
test_unet_config_parsing (void)
{
  sdcl_unet_config c, sd15;
  sdcl_error err = { 0 };
  sdcl_unet_config_sd15 (&sd15);
  CHECK (unet_from ("{}", &c, &err) == SDCL_OK, "{}: %s", err.message);
  CHECK (c.cross_attention_dim == 1280 && c.in_channels == 4 && c.n_levels == 4 && c.block_out_channels[3] == 1280
         && c.mid_heads == 8 && c.norm_num_groups == 32 && c.time_embed_dim == 1280 && c.flip_sin_to_cos,
         "class defaults");
  CHECK (unet_from ("{\"cross_attention_dim\": 768}", &c, &err) == SDCL_OK, "768: %s", err.message);
  compare_unet_configs (&c, &sd15);   /* SD 1.5 = the class defaults but 768 */
  CHECK (c.sample_size == sd15.sample_size, "sample_size");
  CHECK (unet_from ("{\"attention_head_dim\": [5, 10, 20, 20], \"transformer_layers_per_block\": [1, 2, 3, 4],"
                    " \"use_linear_projection\": true, \"upcast_attention\": true, \"sample_size\": 96,"
                    " \"time_cond_proj_dim\": 256, \"norm_eps\": 1e-6, \"in_channels\": 9}", &c, &err) == SDCL_OK,
         "lists: %s", err.message);
  CHECK (c.down_heads[0] == 5 && c.down_heads[3] == 20 && c.up_heads[0] == 20 && c.up_heads[3] == 5
         && c.mid_heads == 20 && c.transformer_depth[1] == 2 && c.mid_transformer_depth == 4
         && c.use_linear_projection && c.upcast_attention && c.sample_size == 96 && c.time_cond_proj_dim == 256
         && c.norm_eps == 1e-6f && c.in_channels == 9, "list values");
  CHECK (unet_from ("{\"attention_head_dim\": 8, \"num_attention_heads\": [2, 4, 6, 8]}", &c, &err) == SDCL_OK
         && c.down_heads[1] == 4 && c.up_heads[0] == 8 && c.mid_heads == 8, "num_attention_heads overrides");
  CHECK (unet_from ("{\"block_out_channels\": [32, 64], \"down_block_types\": [\"DownBlock2D\", "
                    "\"CrossAttnDownBlock2D\"], \"up_block_types\": [\"CrossAttnUpBlock2D\", \"UpBlock2D\"],"
                    " \"time_cond_proj_dim\": null}", &c, &err) == SDCL_OK
         && c.n_levels == 2 && !c.down_has_attn[0] && c.down_has_attn[1] && c.up_has_attn[0] && !c.up_has_attn[1]
         && c.time_embed_dim == 128 && c.time_cond_proj_dim == 0, "2 levels: %s", err.message);
  struct { const char *json; sdcl_status st; const char *frag; } bad[] = {
    { "{\"in_channels\": \"4\"}", SDCL_ERR_MODEL_FORMAT, "unet/config.json: \"in_channels\" must be an integer" },
    { "{\"in_channels\": 4.5}", SDCL_ERR_MODEL_FORMAT, "\"in_channels\" must be an integer" },
    { "{\"block_out_channels\": 320}", SDCL_ERR_MODEL_FORMAT, "\"block_out_channels\" must be a list" },
    { "{\"block_out_channels\": [32, 64]}", SDCL_ERR_MODEL_FORMAT, "left at their 4-level defaults" },
    { "{\"attention_head_dim\": [8, 8]}", SDCL_ERR_MODEL_FORMAT, "\"attention_head_dim\" has 2 entries" },
    { "{\"down_block_types\": [\"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\", \"DownBlock2D\", \"DownBlock2D\"]}",
      SDCL_ERR_UNSUPPORTED_MODEL, "entry 0 is 'SimpleCrossAttnDownBlock2D'" },
    { "{\"mid_block_type\": \"UNetMidBlock2DSimpleCrossAttn\"}", SDCL_ERR_UNSUPPORTED_MODEL, "mid_block_type" },
    { "{\"addition_embed_type\": \"text_time\"}", SDCL_ERR_MODEL_FORMAT,
      "\"projection_class_embeddings_input_dim\" (0) leaves no room for the pooled text vector" },
    { "{\"addition_embed_type\": \"text\"}", SDCL_ERR_UNSUPPORTED_MODEL, "only 'text_time' (SDXL)" },
    { "{\"use_linear_projection\": 1}", SDCL_ERR_MODEL_FORMAT, "must be true or false" },
    { "{\"layers_per_block\": 0}", SDCL_ERR_MODEL_FORMAT, "\"layers_per_block\" must be an integer in [1, 16]" },
    { "{\"center_input_sample\": true}", SDCL_ERR_UNSUPPORTED_MODEL, "center_input_sample" },
    { "{\"mid_block_scale_factor\": 1.5}", SDCL_ERR_UNSUPPORTED_MODEL, "must be 1" },
    { "{\"class_embed_type\": \"timestep\"}", SDCL_ERR_UNSUPPORTED_MODEL, "class conditioning" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    CHECK (unet_from (bad[i].json, &c, &err) == bad[i].st && strstr (err.message, bad[i].frag),
           "%s: %s", bad[i].json, err.message);
}

static void
test_other_config_parsing (void)
{
  sdcl_error err = { 0 };
  sdcl_vae_config v, v15;
  sdcl_clip_config c, c15;
  sdcl_sched_config s, s15;
  sdcl_vae_config_sd15 (&v15);
  sdcl_clip_config_sd15 (&c15);
  sdcl_sched_config_sd15 (&s15);
  JsonParser *p = parse ("{\"block_out_channels\": [128, 256, 512, 512], \"layers_per_block\": 2, "
                         "\"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", "
                         "\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"], \"up_block_types\": [\"UpDecoderBlock2D\","
                         " \"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"], \"sample_size\": 512}");
  CHECK (sdcl_vae_config_from_json (json_node_get_object (json_parser_get_root (p)), "vae/config.json", &v, &err)
         == SDCL_OK && v.sample_size == 512, "SD 1.5 VAE: %s", err.message);
  compare_vae_configs (&v, &v15);
  g_object_unref (p);
  p = parse ("{}");
  CHECK (sdcl_vae_config_from_json (json_node_get_object (json_parser_get_root (p)), "vae/config.json", &v, &err)
         == SDCL_OK && v.n_levels == 1 && v.block_out_channels[0] == 64 && v.layers_per_block == 1, "VAE defaults");
  CHECK (sdcl_clip_config_from_json (json_node_get_object (json_parser_get_root (p)), "c.json", &c, &err) == SDCL_OK
         && c.hidden_size == 512 && c.n_heads == 8 && c.eos_token_id == 49407 && c.quick_gelu, "CLIP defaults");
  CHECK (sdcl_sched_config_from_json (json_node_get_object (json_parser_get_root (p)), "s.json", &s, &err) == SDCL_OK
         && s.beta_end == 0.02f && strcmp (s.beta_schedule, "linear") == 0 && !s.set_alpha_to_one
         && s.timestep_spacing[0] == '\0', "sched defaults (spacing left to the sampler)");
  g_object_unref (p);
  p = parse ("{\"hidden_size\": 768, \"intermediate_size\": 3072, \"num_attention_heads\": 12, \"eos_token_id\": 2,"
             " \"pad_token_id\": 1, \"hidden_act\": \"quick_gelu\"}");
  CHECK (sdcl_clip_config_from_json (json_node_get_object (json_parser_get_root (p)), "c.json", &c, &err) == SDCL_OK,
         "SD 1.5 CLIP: %s", err.message);
  compare_clip_configs (&c, &c15);   /* pad_token_id stays 49407 */
  g_object_unref (p);
  p = parse ("{\"hidden_act\": \"relu\"}");
  CHECK (sdcl_clip_config_from_json (json_node_get_object (json_parser_get_root (p)), "c.json", &c, &err)
         == SDCL_ERR_UNSUPPORTED_MODEL && strstr (err.message, "'relu'"), "%s", err.message);
  g_object_unref (p);
  p = parse ("{\"hidden_size\": 100, \"num_attention_heads\": 3}");
  CHECK (sdcl_clip_config_from_json (json_node_get_object (json_parser_get_root (p)), "c.json", &c, &err)
         == SDCL_ERR_MODEL_FORMAT && strstr (err.message, "does not divide"), "%s", err.message);
  g_object_unref (p);
  p = parse ("{\"_class_name\": \"PNDMScheduler\", \"beta_start\": 0.00085, \"beta_end\": 0.012, \"beta_schedule\": "
             "\"scaled_linear\", \"steps_offset\": 1, \"skip_prk_steps\": true, \"trained_betas\": null, "
             "\"clip_sample\": false}");
  CHECK (sdcl_sched_config_from_json (json_node_get_object (json_parser_get_root (p)), "s.json", &s, &err) == SDCL_OK,
         "SD 1.5 PNDM: %s", err.message);
  compare_sched_configs (&s, &s15);
  g_object_unref (p);
  p = parse ("{\"_class_name\": \"DDIMScheduler\", \"timestep_spacing\": \"trailing\", \"prediction_type\": \"sample\"}");
  CHECK (sdcl_sched_config_from_json (json_node_get_object (json_parser_get_root (p)), "s.json", &s, &err) == SDCL_OK
         && s.set_alpha_to_one && strcmp (s.timestep_spacing, "trailing") == 0
         && s.prediction_type == SDCL_PREDICTION_SAMPLE && !s.rescale_betas_zero_snr
         && !s.skip_prk_steps, "DDIM");
  g_object_unref (p);
  p = parse ("{\"_class_name\": \"DDIMScheduler\", \"rescale_betas_zero_snr\": true}");
  CHECK (sdcl_sched_config_from_json (json_node_get_object (json_parser_get_root (p)), "s.json", &s, &err) == SDCL_OK
         && s.rescale_betas_zero_snr, "zero terminal SNR: %s", err.message);
  g_object_unref (p);
  /* every beta schedule the scheduler implements; unknown keys are listed, not refused */
  p = parse ("{\"beta_schedule\": \"squaredcos_cap_v2\", \"skip_prk_steps\": true, "
             "\"clip_sample\": false, \"variance_type\": \"fixed_large\", \"algorithm_type\": \"x\", "
             "\"use_karras_sigmas\": false}");
  CHECK (sdcl_sched_config_from_json (json_node_get_object (json_parser_get_root (p)), "s.json", &s, &err) == SDCL_OK
         && strcmp (s.beta_schedule, "squaredcos_cap_v2") == 0 && !s.clip_sample
         && strcmp (s.variance_type, "fixed_large") == 0
         && s.skip_prk_steps
         && strcmp (s.ignored_keys, "algorithm_type, use_karras_sigmas") == 0,
         "cosine schedule, ignored keys '%s': %s", s.ignored_keys, err.message);
  g_object_unref (p);
  const char *bad[] = { "{\"beta_schedule\": \"sigmoid\"}", "{\"prediction_type\": \"flow\"}",
                        "{\"trained_betas\": [0.1, 0.2]}", "{\"beta_start\": 0.5, \"beta_end\": 0.1}",
                        "{\"rescale_betas_zero_snr\": \"yes\"}" };
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      p = parse (bad[i]);
      CHECK (sdcl_sched_config_from_json (json_node_get_object (json_parser_get_root (p)), "s.json", &s, &err)
             != SDCL_OK && strstr (err.message, "s.json"), "%s: %s", bad[i], err.message);
      g_object_unref (p);
    }
}

int
main (void)
{
  tmp_root = g_dir_make_tmp ("sdcl-model-XXXXXX", NULL);
  test_unet_config_parsing ();
  test_other_config_parsing ();
  test_layouts_agree ();
  test_inpainting ();
  test_fp16_variant_and_bare_text_names ();
  test_shards ();
  test_tokenizer_and_folder_errors ();
  test_missing_and_misshapen ();
  test_family_refusals ();
  remove_tree (tmp_root);
  g_free (tmp_root);
  return check_finish ();
}

/* LDM single-file names: the mapping to canonical names and the expected
 * tensor enumeration together reproduce SD 1.5's real tensor list
 * (sd15-ldm-tensors.tsv: name, dtype, shape of every tensor of the
 * published v1-5-pruned-emaonly.safetensors), and the inverse mapping used
 * by sdcl-mkmodel gives back the same names.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>

#include "check.h"
#include "loader_internal.h"
#include "nets.h"

typedef struct {
  sdcl_component comp;
  sdcl_tensor_spec spec;
  bool seen;
} expected;

/* Every tensor the SD 1.5 configs imply, by canonical name. */
static GHashTable *
expected_sd15 (size_t *total)
{
  sdcl_unet_config u;
  sdcl_vae_config v;
  sdcl_clip_config c;
  sdcl_unet_config_sd15 (&u);
  sdcl_vae_config_sd15 (&v);
  sdcl_clip_config_sd15 (&c);
  GHashTable *all = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  size_t n[3];
  sdcl_tensor_spec *lists[3] = { sdcl_unet_tensor_specs (&u, &n[0]), sdcl_vae_tensor_specs (&v, &n[1]),
                                 sdcl_clip_tensor_specs (&c, &n[2]) };
  *total = 0;
  for (int k = 0; k < 3; k++)
    {
      for (size_t i = 0; i < n[k]; i++)
        {
          expected *e = g_new0 (expected, 1);
          e->comp = (sdcl_component) k;
          e->spec = lists[k][i];
          CHECK (!g_hash_table_contains (all, e->spec.name), "enumerated twice: %s", e->spec.name);
          g_hash_table_insert (all, e->spec.name, e);
        }
      *total += n[k];
      g_free (lists[k]);
    }
  return all;
}

static int
parse_shape (const char *text, int64_t *shape)
{
  int nd = 0;
  const char *p = strchr (text, '[');
  CHECK (p != NULL, "shape '%s'", text);
  for (p = p ? p + 1 : ""; *p && *p != ']' && nd < 8;)
    {
      char *end;
      shape[nd++] = g_ascii_strtoll (p, &end, 10);
      p = end;
      while (*p == ',' || *p == ' ')
        p++;
    }
  return nd;
}

static bool
same_shape (int nd_a, const int64_t *a, int nd_b, const int64_t *b)
{
  if (nd_a != nd_b)
    return false;
  for (int i = 0; i < nd_a; i++)
    if (a[i] != b[i])
      return false;
  return true;
}

static void
check_row (GHashTable *all, const sdcl_unet_config *u, const char *name, const char *shape_text,
           int *rows)
{
  int64_t shape[8];
  int nd = parse_shape (shape_text, shape);
  sdcl_component comp;
  char canonical[256], back[256];
  (*rows)++;
  if (!sdcl_ldm_map_name (name, u->layers_per_block, u->n_levels, u->up_has_attn, &comp, canonical,
                          sizeof canonical))
    {
      CHECK (0, "unmapped: %s", name);
      return;
    }
  expected *e = g_hash_table_lookup (all, canonical);
  if (!e)
    {
      CHECK (0, "%s maps to %s, which the configs do not imply", name, canonical);
      return;
    }
  CHECK (e->comp == comp, "%s: component %d, enumerated as %d", name, comp, e->comp);
  CHECK (!e->seen, "%s: %s mapped twice", name, canonical);
  e->seen = true;
  /* the loader's only shape change: 1x1-conv attention weights of the VAE */
  int canonical_nd = comp == SDCL_COMP_VAE && sdcl_vae_attention_matrix (canonical) && nd == 4 ? 2 : nd;
  CHECK (same_shape (canonical_nd, shape, e->spec.nd, e->spec.shape), "%s: shape %s differs from %s's",
         name, shape_text, canonical);
  bool conv_1x1;
  CHECK (sdcl_ldm_unmap_name (comp, canonical, u->layers_per_block, u->n_levels, u->up_has_attn, back,
                              sizeof back, &conv_1x1)
         && strcmp (back, name) == 0, "unmap(%s) = %s, want %s", canonical, back, name);
  CHECK (conv_1x1 == (canonical_nd != nd), "%s: conv_1x1 %d", name, conv_1x1);
}

static void
test_sd15_tensor_list (const char *path)
{
  char *text = NULL;
  GError *gerr = NULL;
  if (!g_file_get_contents (path, &text, NULL, &gerr))
    {
      CHECK (0, "cannot read %s: %s", path, gerr->message);
      g_error_free (gerr);
      return;
    }
  size_t total;
  GHashTable *all = expected_sd15 (&total);
  sdcl_unet_config u;
  sdcl_unet_config_sd15 (&u);
  char **lines = g_strsplit (text, "\n", -1);
  int rows = 0;
  for (char **l = lines; *l; l++)
    {
      if (!**l)
        continue;
      char **cols = g_strsplit (*l, "\t", 3);
      if (g_strv_length (cols) == 3)
        check_row (all, &u, cols[0], cols[2], &rows);
      else
        CHECK (0, "bad TSV line '%s'", *l);
      g_strfreev (cols);
    }
  CHECK (rows == 1130, "the TSV has %d rows, want 1130", rows);
  CHECK ((size_t) rows == total, "%d tensors in the file, %zu enumerated", rows, total);
  GHashTableIter it;
  expected *e;
  g_hash_table_iter_init (&it, all);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &e))
    CHECK (e->seen, "enumerated but not in the file: %s", e->spec.name);
  g_strfreev (lines);
  g_hash_table_destroy (all);
  g_free (text);
}

static void
expect_map (const char *ldm, sdcl_component comp, const char *want)
{
  sdcl_unet_config u;
  sdcl_unet_config_sd15 (&u);
  sdcl_component got_comp = SDCL_COMP_UNET;
  char got[256] = "";
  bool ok = sdcl_ldm_map_name (ldm, u.layers_per_block, u.n_levels, u.up_has_attn, &got_comp, got, sizeof got);
  if (!want)
    CHECK (!ok, "%s should be ignored, got %s", ldm, got);
  else
    CHECK (ok && got_comp == comp && strcmp (got, want) == 0, "%s -> %s, want %s", ldm, ok ? got : "(none)",
           want);
}

static void
test_single_names (void)
{
  expect_map ("model.diffusion_model.input_blocks.3.0.op.weight", SDCL_COMP_UNET,
              "down_blocks.0.downsamplers.0.conv.weight");
  expect_map ("model.diffusion_model.output_blocks.2.1.conv.bias", SDCL_COMP_UNET,
              "up_blocks.0.upsamplers.0.conv.bias");
  expect_map ("model.diffusion_model.output_blocks.5.2.conv.weight", SDCL_COMP_UNET,
              "up_blocks.1.upsamplers.0.conv.weight");
  expect_map ("model.diffusion_model.output_blocks.4.1.proj_in.weight", SDCL_COMP_UNET,
              "up_blocks.1.attentions.1.proj_in.weight");
  expect_map ("model.diffusion_model.input_blocks.4.0.skip_connection.weight", SDCL_COMP_UNET,
              "down_blocks.1.resnets.0.conv_shortcut.weight");
  expect_map ("model.diffusion_model.middle_block.2.emb_layers.1.bias", SDCL_COMP_UNET,
              "mid_block.resnets.1.time_emb_proj.bias");
  expect_map ("first_stage_model.decoder.up.0.block.2.nin_shortcut.weight", SDCL_COMP_VAE,
              "decoder.up_blocks.3.resnets.2.conv_shortcut.weight");
  expect_map ("vae.encoder.mid.attn_1.proj_out.bias", SDCL_COMP_VAE,
              "encoder.mid_block.attentions.0.to_out.0.bias");
  expect_map ("cond_stage_model.transformer.text_model.final_layer_norm.bias", SDCL_COMP_TEXT,
              "text_model.final_layer_norm.bias");
  expect_map ("cond_stage_model.transformer.encoder.layers.3.mlp.fc2.bias", SDCL_COMP_TEXT,
              "text_model.encoder.layers.3.mlp.fc2.bias");
  /* ignored: EMA copies, schedules, buffers, out-of-range or malformed indices */
  expect_map ("model_ema.diffusion_modelinput_blocks00weight", 0, NULL);
  expect_map ("model_ema.decay", 0, NULL);
  expect_map ("alphas_cumprod", 0, NULL);
  expect_map ("cond_stage_model.transformer.text_model.embeddings.position_ids", 0, NULL);
  expect_map ("model.diffusion_model.input_blocks.12.0.in_layers.0.weight", 0, NULL);
  expect_map ("model.diffusion_model.input_blocks.01.0.in_layers.0.weight", 0, NULL);
  expect_map ("model.diffusion_model.input_blocks.3.1.proj_in.weight", 0, NULL);
  expect_map ("model.diffusion_model.output_blocks.11.2.conv.weight", 0, NULL);
  expect_map ("first_stage_model.decoder.up.4.block.0.conv1.weight", 0, NULL);
  expect_map ("model.diffusion_model.input_blocks.1", 0, NULL);
}

static void
expect_canonical (sdcl_component comp, const char *name, const char *want)
{
  char got[256] = "";
  bool ok = sdcl_canonical_name (comp, name, got, sizeof got);
  if (!want)
    CHECK (!ok, "%s should be ignored", name);
  else
    CHECK (ok && strcmp (got, want) == 0, "%s -> %s, want %s", name, got, want);
}

static void
test_diffusers_renames (void)
{
  expect_canonical (SDCL_COMP_VAE, "encoder.mid_block.attentions.0.query.weight",
                    "encoder.mid_block.attentions.0.to_q.weight");
  expect_canonical (SDCL_COMP_VAE, "decoder.mid_block.attentions.0.proj_attn.bias",
                    "decoder.mid_block.attentions.0.to_out.0.bias");
  expect_canonical (SDCL_COMP_VAE, "decoder.mid_block.attentions.0.group_norm.bias",
                    "decoder.mid_block.attentions.0.group_norm.bias");
  expect_canonical (SDCL_COMP_VAE, "decoder.up_blocks.0.resnets.0.conv1.weight",
                    "decoder.up_blocks.0.resnets.0.conv1.weight");
  expect_canonical (SDCL_COMP_TEXT, "encoder.layers.0.mlp.fc1.weight", "text_model.encoder.layers.0.mlp.fc1.weight");
  expect_canonical (SDCL_COMP_TEXT, "text_model.embeddings.token_embedding.weight",
                    "text_model.embeddings.token_embedding.weight");
  expect_canonical (SDCL_COMP_TEXT, "text_model.embeddings.position_ids", NULL);
  expect_canonical (SDCL_COMP_UNET, "conv_in.weight", "conv_in.weight");
}

/* Another geometry (1 layer per block, 2 levels): unmap then map is the
 * identity on every enumerated tensor. */
static void
test_roundtrip_other_geometry (void)
{
  sdcl_unet_config u;
  sdcl_unet_config_sd15 (&u);
  u.n_levels = 2;
  u.layers_per_block = 1;
  u.block_out_channels[1] = 64;
  u.down_has_attn[1] = false;
  u.up_has_attn[0] = false;
  u.up_has_attn[1] = true;
  size_t n;
  sdcl_tensor_spec *specs = sdcl_unet_tensor_specs (&u, &n);
  for (size_t i = 0; i < n; i++)
    {
      char ldm[256], back[256];
      bool conv_1x1;
      sdcl_component comp;
      bool ok = sdcl_ldm_unmap_name (SDCL_COMP_UNET, specs[i].name, u.layers_per_block, u.n_levels,
                                     u.up_has_attn, ldm, sizeof ldm, &conv_1x1)
                && sdcl_ldm_map_name (ldm, u.layers_per_block, u.n_levels, u.up_has_attn, &comp, back,
                                      sizeof back);
      CHECK (ok && comp == SDCL_COMP_UNET && strcmp (back, specs[i].name) == 0, "%s -> %s -> %s",
             specs[i].name, ok ? ldm : "?", ok ? back : "?");
    }
  g_free (specs);
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: %s sd15-ldm-tensors.tsv\n", argv[0]);
      return 2;
    }
  test_sd15_tensor_list (argv[1]);
  test_single_names ();
  test_diffusers_renames ();
  test_roundtrip_other_geometry ();
  return check_finish ();
}

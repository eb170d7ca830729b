/* The names LoRA files give a model's layers, derived from the model's own
 * tensor lists (each network's loading code run as a listing, nn.h) and
 * the single-file name map (ldm_map.c): no table of LoRA names of its own.
 *
 *   kohya / A1111:  "lora_unet_" + the diffusers module with '.' -> '_'
 *                   "lora_unet_" + the LDM module (input_blocks_1_1_...)
 *                   "lora_te_" + the text encoder's module; with SDXL's two
 *                   towers "lora_te1_" (CLIP-L) and "lora_te2_" (bigG)
 *   diffusers/PEFT: the module itself, per component.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "api_internal.h"
#include "family.h"
#include "loader_internal.h"
#include "lora.h"

struct sdcl_lora_index {
  GPtrArray *targets;          /* sdcl_lora_target*, owned */
  GHashTable *kohya;           /* kohya stem -> target */
  GHashTable *unet, *text, *text2;   /* canonical module -> target */
  char *label, *path;
  int cross_attention_dim;
  bool linear_projection;
  bool two_towers;             /* SDXL: a second text encoder */
};

static void
target_free (gpointer p)
{
  sdcl_lora_target *t = p;
  g_free (t->module);
  g_free (t);
}

static char *
underscored (const char *prefix, const char *module)
{
  char *s = g_strconcat (prefix, module, NULL);
  g_strdelimit (s + strlen (prefix), ".", '_');
  return s;
}

/* The LDM name of a UNet module, as kohya files for LDM checkpoints spell it. */
static char *
ldm_module (const sdcl_unet_config *c, const char *canonical_weight)
{
  char ldm[256];
  bool conv_1x1 = false;
  if (!sdcl_ldm_unmap_name (SDCL_COMP_UNET, canonical_weight, c->layers_per_block, c->n_levels,
                            c->up_has_attn, ldm, sizeof ldm, &conv_1x1)
      || !g_str_has_prefix (ldm, SDCL_LDM_UNET_PREFIX) || !g_str_has_suffix (ldm, ".weight"))
    return NULL;
  ldm[strlen (ldm) - strlen (".weight")] = '\0';
  return g_strdup (ldm + strlen (SDCL_LDM_UNET_PREFIX));
}

/* Linear and convolution weights only: norms (1-D) and the text
 * encoder's embedding tables are no LoRA targets. */
static bool
is_target (const sdcl_tensor_spec *s)
{
  return (s->nd == 2 || s->nd == 4) && g_str_has_suffix (s->name, ".weight")
         && !strstr (s->name, "embeddings.");
}

static GHashTable *
modules_of (const sdcl_lora_index *ix, sdcl_component comp)
{
  return comp == SDCL_COMP_UNET ? ix->unet : comp == SDCL_COMP_TEXT2 ? ix->text2 : ix->text;
}

/* kohya's prefix of a text encoder's modules: numbered when there are two. */
static const char *
kohya_text_prefix (const sdcl_lora_index *ix, sdcl_component comp)
{
  return !ix->two_towers ? "lora_te_" : comp == SDCL_COMP_TEXT2 ? "lora_te2_" : "lora_te1_";
}

static void
add_component (sdcl_lora_index *ix, sdcl_component comp, const sdcl_tensor_spec *specs, size_t n,
               const sdcl_unet_config *unet)
{
  GHashTable *by_module = modules_of (ix, comp);
  for (size_t i = 0; i < n; i++)
    {
      if (!is_target (&specs[i]))
        continue;
      sdcl_lora_target *t = g_new0 (sdcl_lora_target, 1);
      t->comp = comp;
      t->module = g_strndup (specs[i].name, strlen (specs[i].name) - strlen (".weight"));
      t->nd = specs[i].nd;
      memcpy (t->shape, specs[i].shape, sizeof t->shape);
      g_ptr_array_add (ix->targets, t);
      g_hash_table_insert (by_module, t->module, t);
      if (comp != SDCL_COMP_UNET)
        {
          g_hash_table_insert (ix->kohya, underscored (kohya_text_prefix (ix, comp), t->module), t);
          continue;
        }
      g_hash_table_insert (ix->kohya, underscored ("lora_unet_", t->module), t);
      g_autofree char *ldm = ldm_module (unet, specs[i].name);
      if (ldm && strcmp (ldm, t->module) != 0)
        g_hash_table_insert (ix->kohya, underscored ("lora_unet_", ldm), t);
    }
}

const char *
sdcl_lora_family_name (int cross_attention_dim, bool linear_projection, bool second_text_encoder)
{
  /* A LoRA shows no text-encoder activation; in every family linear
   * projections come with an OpenCLIP text encoder (SD 2.x, SDXL). */
  sdcl_family_facts facts = { .cross_attention_dim = cross_attention_dim,
                              .linear_projection = linear_projection,
                              .openclip_text = linear_projection,
                              .second_text_encoder = second_text_encoder };
  const sdcl_family_desc *desc = NULL;
  sdcl_error scratch;
  sdcl_family_detect (&facts, "LoRA", &desc, &scratch);
  return desc ? desc->name : NULL;
}

sdcl_lora_index *
sdcl_lora_index_new (const sdcl_family_desc *family, const sdcl_unet_config *unet,
                     const sdcl_clip_config *clip, const sdcl_clip_config *clip2,
                     const char *model_path)
{
  sdcl_lora_index *ix = g_new0 (sdcl_lora_index, 1);
  ix->targets = g_ptr_array_new_with_free_func (target_free);
  ix->kohya = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ix->unet = g_hash_table_new (g_str_hash, g_str_equal);
  ix->text = g_hash_table_new (g_str_hash, g_str_equal);
  ix->text2 = g_hash_table_new (g_str_hash, g_str_equal);
  ix->two_towers = clip2 && clip2->hidden_size > 0;
  ix->path = g_strdup (model_path);
  ix->cross_attention_dim = unet->cross_attention_dim;
  ix->linear_projection = unet->use_linear_projection;
  ix->label = g_strdup_printf ("%s (cross-attention width %d, UNet width %d)",
                               family ? family->name : "unknown family",
                               unet->cross_attention_dim, unet->block_out_channels[0]);
  size_t n = 0;
  g_autofree sdcl_tensor_spec *us = sdcl_unet_tensor_specs (unet, &n);
  add_component (ix, SDCL_COMP_UNET, us, n, unet);
  g_autofree sdcl_tensor_spec *ts = sdcl_clip_tensor_specs (clip, &n);
  add_component (ix, SDCL_COMP_TEXT, ts, n, unet);
  if (ix->two_towers)
    {
      g_autofree sdcl_tensor_spec *t2 = sdcl_clip_tensor_specs (clip2, &n);
      add_component (ix, SDCL_COMP_TEXT2, t2, n, unet);
    }
  return ix;
}

void
sdcl_lora_index_free (sdcl_lora_index *ix)
{
  if (!ix)
    return;
  g_hash_table_destroy (ix->kohya);
  g_hash_table_destroy (ix->unet);
  g_hash_table_destroy (ix->text);
  g_hash_table_destroy (ix->text2);
  g_ptr_array_free (ix->targets, TRUE);
  g_free (ix->label);
  g_free (ix->path);
  g_free (ix);
}

const sdcl_lora_target *
sdcl_lora_index_kohya (const sdcl_lora_index *ix, const char *stem)
{
  return g_hash_table_lookup (ix->kohya, stem);
}

const sdcl_lora_target *
sdcl_lora_index_module (const sdcl_lora_index *ix, sdcl_component comp, const char *module)
{
  return g_hash_table_lookup (modules_of (ix, comp), module);
}

const char *
sdcl_lora_index_model_label (const sdcl_lora_index *ix)
{
  return ix->label;
}

int
sdcl_lora_index_cross_attention_dim (const sdcl_lora_index *ix)
{
  return ix->cross_attention_dim;
}

const char *
sdcl_lora_index_model_path (const sdcl_lora_index *ix)
{
  return ix->path;
}

bool
sdcl_lora_index_linear_projection (const sdcl_lora_index *ix)
{
  return ix->linear_projection;
}

bool
sdcl_lora_index_has_text2 (const sdcl_lora_index *ix)
{
  return ix->two_towers;
}

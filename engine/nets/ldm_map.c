/* Tensor names: the original LDM single-file layout (CompVis, Stability,
 * A1111) to diffusers' canonical names and back (docs/diffusion.md §Checkpoints), and
 * the small renames older diffusers folders need.
 *
 * Both directions walk the same structure and share the rename tables, so
 * sdcl-mkmodel's LDM files are named by the exact inverse of what the
 * loader reads; for the UNet that structure is its block tree
 * (nets/unet_desc.h), which also builds the network.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "ldm_map.h"

typedef struct {
  const char *ldm, *canonical;
} rename_rule;

/* UNet ResBlock sub-modules (docs/diffusion.md §UNet names). */
static const rename_rule unet_resnet_rules[] = {
  { "in_layers.0.", "norm1." },        { "in_layers.2.", "conv1." },
  { "emb_layers.1.", "time_emb_proj." }, { "out_layers.0.", "norm2." },
  { "out_layers.3.", "conv2." },       { "skip_connection.", "conv_shortcut." },
};

/* VAE resnets keep their names except the shortcut (docs/diffusion.md §VAE names). */
static const rename_rule vae_resnet_rules[] = {
  { "norm1.", "norm1." }, { "conv1.", "conv1." }, { "norm2.", "norm2." },
  { "conv2.", "conv2." }, { "nin_shortcut.", "conv_shortcut." },
};

static const rename_rule vae_attention_rules[] = {
  { "norm.", "group_norm." }, { "q.", "to_q." }, { "k.", "to_k." },
  { "v.", "to_v." },          { "proj_out.", "to_out.0." },
};

static const rename_rule vae_side_rules[] = {
  { "conv_in.", "conv_in." }, { "conv_out.", "conv_out." }, { "norm_out.", "conv_norm_out." },
};

/* ---- small parsing helpers ---------------------------------------------- */

/* Advances *p past `prefix` when it starts with it. */
static bool
take (const char **p, const char *prefix)
{
  size_t n = strlen (prefix);
  if (strncmp (*p, prefix, n) != 0)
    return false;
  *p += n;
  return true;
}

/* Advances past "<decimal>." (no sign, no leading zero) and stores the number. */
static bool
take_number (const char **p, int *out)
{
  const char *s = *p;
  if (!g_ascii_isdigit (*s))
    return false;
  char *end;
  long v = strtol (s, &end, 10);
  if (*end != '.' || v > 100000 || (end - s > 1 && *s == '0'))
    return false;
  *out = (int) v;
  *p = end + 1;
  return true;
}

/* Advances past "<word>.<decimal>." and stores the number. */
static bool
take_index (const char **p, const char *word, int *out)
{
  const char *s = *p;
  if (!take (&s, word) || !take (&s, ".") || !take_number (&s, out))
    return false;
  *p = s;
  return true;
}

/* Applies the first matching rule in the chosen direction: writes the
 * replacement of the rule's prefix followed by the rest of `name`. */
static bool
apply_rules (const rename_rule *rules, size_t n, bool to_canonical, const char *head,
             const char *name, char *out, size_t out_size)
{
  for (size_t i = 0; i < n; i++)
    {
      const char *from = to_canonical ? rules[i].ldm : rules[i].canonical;
      const char *to = to_canonical ? rules[i].canonical : rules[i].ldm;
      const char *rest = name;
      if (take (&rest, from))
        return (size_t) g_snprintf (out, out_size, "%s%s%s", head, to, rest) < out_size;
    }
  return false;
}

static bool
format (char *out, size_t out_size, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static bool
format (char *out, size_t out_size, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int n = g_vsnprintf (out, out_size, fmt, ap);
  va_end (ap);
  return n >= 0 && (size_t) n < out_size;
}

/* ---- UNet, both directions --------------------------------------------- */

static bool
unet_resnet (const char *head, const char *rest, bool to_canonical, char *out, size_t size)
{
  return apply_rules (unet_resnet_rules, G_N_ELEMENTS (unet_resnet_rules), to_canonical, head,
                      rest, out, size);
}

/* By the UNet's block tree (nets/unet_desc.h): the module's prefix is
 * swapped for its name on the other side, a resnet's sub-modules are
 * renamed, whatever follows is kept. */
static bool
rename_unet (const sdcl_unet_desc *d, const char *name, bool to_canonical, char *out, size_t size)
{
  for (int i = 0; i < d->n_layers; i++)
    {
      const sdcl_unet_layer *l = &d->layers[i];
      const char *rest = name;
      char head[128];
      if (!l->ldm[0] || !take (&rest, to_canonical ? l->ldm : l->name) || !take (&rest, "."))
        continue;
      if (!format (head, sizeof head, "%s%s.", to_canonical ? "" : SDCL_LDM_UNET_PREFIX,
                   to_canonical ? l->name : l->ldm))
        return false;
      if (l->kind == SDCL_UNET_RESNET)
        return unet_resnet (head, rest, to_canonical, out, size);
      return format (out, size, "%s%s", head, rest);
    }
  return false;
}

static bool
valid_geometry (int layers_per_block, int n_levels)
{
  return layers_per_block > 0 && n_levels >= 1 && n_levels <= SDCL_MAX_LEVELS;
}

/* ---- VAE, LDM -> canonical --------------------------------------------- */

static bool
map_vae_side (const char *side, const char *p, char *out, size_t size)
{
  int i, j;
  char head[96];
  if (apply_rules (vae_side_rules, G_N_ELEMENTS (vae_side_rules), true, side, p, out, size))
    return true;
  if (take_index (&p, "down", &i))
    {
      if (take_index (&p, "block", &j))
        return format (head, sizeof head, "%sdown_blocks.%d.resnets.%d.", side, i, j)
               && apply_rules (vae_resnet_rules, G_N_ELEMENTS (vae_resnet_rules), true, head, p,
                               out, size);
      if (take (&p, "downsample.conv."))
        return format (out, size, "%sdown_blocks.%d.downsamplers.0.conv.%s", side, i, p);
      return false;
    }
  if (take_index (&p, "up", &i))
    {
      if (i >= SDCL_LDM_VAE_LEVELS)
        return false;
      int b = SDCL_LDM_VAE_LEVELS - 1 - i;   /* LDM numbers decoder levels bottom-up */
      if (take_index (&p, "block", &j))
        return format (head, sizeof head, "%sup_blocks.%d.resnets.%d.", side, b, j)
               && apply_rules (vae_resnet_rules, G_N_ELEMENTS (vae_resnet_rules), true, head, p,
                               out, size);
      if (take (&p, "upsample.conv."))
        return format (out, size, "%sup_blocks.%d.upsamplers.0.conv.%s", side, b, p);
      return false;
    }
  if (take (&p, "mid.block_1."))
    return format (head, sizeof head, "%smid_block.resnets.0.", side)
           && apply_rules (vae_resnet_rules, G_N_ELEMENTS (vae_resnet_rules), true, head, p, out, size);
  if (take (&p, "mid.block_2."))
    return format (head, sizeof head, "%smid_block.resnets.1.", side)
           && apply_rules (vae_resnet_rules, G_N_ELEMENTS (vae_resnet_rules), true, head, p, out, size);
  if (take (&p, "mid.attn_1."))
    return format (head, sizeof head, "%smid_block.attentions.0.", side)
           && apply_rules (vae_attention_rules, G_N_ELEMENTS (vae_attention_rules), true, head, p,
                           out, size);
  return false;
}

static bool
map_vae (const char *p, char *out, size_t size)
{
  if (take (&p, "encoder."))
    return map_vae_side ("encoder.", p, out, size);
  if (take (&p, "decoder."))
    return map_vae_side ("decoder.", p, out, size);
  if (g_str_has_prefix (p, "quant_conv.") || g_str_has_prefix (p, "post_quant_conv."))
    return format (out, size, "%s", p);
  return false;
}

/* ---- text encoder ------------------------------------------------------ */

/* HF CLIP names under an optional `text_model.` (docs/diffusion.md §CLIP
 * text encoder); position_ids is a constant buffer, not a weight. */
static bool
map_text (const char *p, char *out, size_t size)
{
  if (g_str_has_suffix (p, "position_ids"))
    return false;
  if (take (&p, "text_model."))
    return format (out, size, "text_model.%s", p);
  if (g_str_has_prefix (p, "embeddings.") || g_str_has_prefix (p, "encoder.")
      || g_str_has_prefix (p, "final_layer_norm."))
    return format (out, size, "text_model.%s", p);
  return false;
}

/* OpenCLIP resblock sub-modules (docs/diffusion.md §Text encoder names);
 * attn.in_proj_* holds q, k and v at once (sdcl_ldm_openclip_in_proj). */
static const rename_rule openclip_layer_rules[] = {
  { "ln_1.", "layer_norm1." },   { "ln_2.", "layer_norm2." },
  { "attn.out_proj.", "self_attn.out_proj." },
  { "mlp.c_fc.", "mlp.fc1." },   { "mlp.c_proj.", "mlp.fc2." },
};

static const rename_rule openclip_top_rules[] = {
  { "token_embedding.", "embeddings.token_embedding." },
  { "ln_final.", "final_layer_norm." },
};

/* text_projection and logit_scale serve CLIP's image matching, not SD. */
static bool
map_openclip (const char *p, char *out, size_t size)
{
  int layer;
  if (!strcmp (p, "positional_embedding"))
    return format (out, size, "text_model.embeddings.position_embedding.weight");
  if (take (&p, "transformer.") && take_index (&p, "resblocks", &layer))
    {
      char head[64];
      g_snprintf (head, sizeof head, "text_model.encoder.layers.%d.", layer);
      return apply_rules (openclip_layer_rules, G_N_ELEMENTS (openclip_layer_rules), true, head, p,
                          out, size);
    }
  return apply_rules (openclip_top_rules, G_N_ELEMENTS (openclip_top_rules), true, "text_model.", p,
                      out, size);
}

bool
sdcl_ldm_unmap_openclip (const char *canonical, char *out, size_t size)
{
  const char *p = canonical;
  int layer;
  if (!take (&p, "text_model."))
    return false;
  if (!strcmp (p, "embeddings.position_embedding.weight"))
    return format (out, size, SDCL_LDM_OPENCLIP_PREFIX "positional_embedding");
  if (take (&p, "encoder.") && take_index (&p, "layers", &layer))
    {
      char head[96];
      g_snprintf (head, sizeof head, SDCL_LDM_OPENCLIP_PREFIX "transformer.resblocks.%d.", layer);
      const char *rest = p;
      if (take (&rest, "self_attn.") && (rest[0] == 'q' || rest[0] == 'k' || rest[0] == 'v')
          && g_str_has_prefix (rest + 1, "_proj."))
        return format (out, size, "%sattn.in_proj_%s", head, rest + strlen ("q_proj."));
      return apply_rules (openclip_layer_rules, G_N_ELEMENTS (openclip_layer_rules), false, head, p,
                          out, size);
    }
  return apply_rules (openclip_top_rules, G_N_ELEMENTS (openclip_top_rules), false,
                      SDCL_LDM_OPENCLIP_PREFIX, p, out, size);
}

bool
sdcl_ldm_openclip_in_proj (const char *ldm_name, int *layer, const char **leaf)
{
  const char *p = ldm_name;
  if (!take (&p, SDCL_LDM_OPENCLIP_PREFIX "transformer.") || !take_index (&p, "resblocks", layer)
      || !take (&p, "attn.in_proj_"))
    return false;
  if (strcmp (p, "weight") && strcmp (p, "bias"))
    return false;
  *leaf = p;
  return true;
}

bool
sdcl_ldm_map_name_in (const sdcl_unet_desc *unet_names, const char *ldm_name, sdcl_component *comp,
                      char *out_name, size_t out_size)
{
  const char *p = ldm_name;
  if (take (&p, SDCL_LDM_UNET_PREFIX))
    {
      *comp = SDCL_COMP_UNET;
      return rename_unet (unet_names, p, true, out_name, out_size);
    }
  if (take (&p, "first_stage_model.") || take (&p, "vae."))
    {
      *comp = SDCL_COMP_VAE;
      return map_vae (p, out_name, out_size);
    }
  if (take (&p, SDCL_LDM_TEXT_PREFIX))
    {
      *comp = SDCL_COMP_TEXT;
      return map_text (p, out_name, out_size);
    }
  if (take (&p, SDCL_LDM_OPENCLIP_PREFIX))
    {
      *comp = SDCL_COMP_TEXT;
      return map_openclip (p, out_name, out_size);
    }
  return false;
}

bool
sdcl_ldm_map_name (const char *ldm_name, int unet_layers_per_block, int unet_n_levels,
                   const bool *unet_up_has_attn, sdcl_component *comp, char *out_name,
                   size_t out_size)
{
  if (!valid_geometry (unet_layers_per_block, unet_n_levels))
    {
      /* no UNet name maps; the other components' names still do */
      static const sdcl_unet_desc none = { 0 };
      return sdcl_ldm_map_name_in (&none, ldm_name, comp, out_name, out_size);
    }
  sdcl_unet_desc *d = sdcl_unet_describe_names (unet_layers_per_block, unet_n_levels, unet_up_has_attn);
  bool ok = sdcl_ldm_map_name_in (d, ldm_name, comp, out_name, out_size);
  sdcl_unet_desc_free (d);
  return ok;
}

/* ---- canonical -> LDM (for writers) ------------------------------------ */

static bool
unmap_vae_side (const char *side, const char *p, char *out, size_t size)
{
  int i, j;
  char head[96];
  if (apply_rules (vae_side_rules, G_N_ELEMENTS (vae_side_rules), false, side, p, out, size))
    return true;
  if (take_index (&p, "down_blocks", &i))
    {
      if (take_index (&p, "resnets", &j))
        return format (head, sizeof head, "%sdown.%d.block.%d.", side, i, j)
               && apply_rules (vae_resnet_rules, G_N_ELEMENTS (vae_resnet_rules), false, head, p,
                               out, size);
      return take (&p, "downsamplers.0.conv.")
             && format (out, size, "%sdown.%d.downsample.conv.%s", side, i, p);
    }
  if (take_index (&p, "up_blocks", &i))
    {
      int level = SDCL_LDM_VAE_LEVELS - 1 - i;
      if (level < 0)
        return false;
      if (take_index (&p, "resnets", &j))
        return format (head, sizeof head, "%sup.%d.block.%d.", side, level, j)
               && apply_rules (vae_resnet_rules, G_N_ELEMENTS (vae_resnet_rules), false, head, p,
                               out, size);
      return take (&p, "upsamplers.0.conv.")
             && format (out, size, "%sup.%d.upsample.conv.%s", side, level, p);
    }
  if (take_index (&p, "mid_block.resnets", &j) && j <= 1)
    return format (head, sizeof head, "%smid.block_%d.", side, j + 1)
           && apply_rules (vae_resnet_rules, G_N_ELEMENTS (vae_resnet_rules), false, head, p, out, size);
  if (take (&p, "mid_block.attentions.0."))
    return format (head, sizeof head, "%smid.attn_1.", side)
           && apply_rules (vae_attention_rules, G_N_ELEMENTS (vae_attention_rules), false, head, p,
                           out, size);
  return false;
}

static bool
unmap_vae (const char *p, char *out, size_t size)
{
  if (take (&p, "encoder."))
    return unmap_vae_side ("first_stage_model.encoder.", p, out, size);
  if (take (&p, "decoder."))
    return unmap_vae_side ("first_stage_model.decoder.", p, out, size);
  if (g_str_has_prefix (p, "quant_conv.") || g_str_has_prefix (p, "post_quant_conv."))
    return format (out, size, "first_stage_model.%s", p);
  return false;
}

bool
sdcl_ldm_unmap_name_in (const sdcl_unet_desc *unet_names, sdcl_component comp, const char *canonical,
                        char *out, size_t out_size, bool *conv_1x1)
{
  *conv_1x1 = false;
  switch (comp)
    {
    case SDCL_COMP_UNET:
      return rename_unet (unet_names, canonical, false, out, out_size);
    case SDCL_COMP_VAE:
      *conv_1x1 = sdcl_vae_attention_matrix (canonical) && g_str_has_suffix (canonical, ".weight");
      return unmap_vae (canonical, out, out_size);
    case SDCL_COMP_TEXT:
      return g_str_has_prefix (canonical, "text_model.")
             && format (out, out_size, SDCL_LDM_TEXT_PREFIX "%s", canonical);
    case SDCL_COMP_TEXT2:
      return false;   /* SDXL single files: families/sdxl_text.c names them */
    }
  return false;
}

bool
sdcl_ldm_unmap_name (sdcl_component comp, const char *canonical, int unet_layers_per_block,
                     int unet_n_levels, const bool *unet_up_has_attn, char *out, size_t out_size,
                     bool *conv_1x1)
{
  static const sdcl_unet_desc none = { 0 };
  sdcl_unet_desc *d = comp == SDCL_COMP_UNET && valid_geometry (unet_layers_per_block, unet_n_levels)
                      ? sdcl_unet_describe_names (unet_layers_per_block, unet_n_levels, unet_up_has_attn)
                      : NULL;
  bool ok = sdcl_ldm_unmap_name_in (d ? d : &none, comp, canonical, out, out_size, conv_1x1);
  sdcl_unet_desc_free (d);
  return ok;
}

/* ---- diffusers folders ------------------------------------------------- */

/* Attention names of diffusers releases before 0.14. */
static const rename_rule old_vae_attention_rules[] = {
  { "query.", "to_q." }, { "key.", "to_k." }, { "value.", "to_v." }, { "proj_attn.", "to_out.0." },
};

static bool
vae_attention_module (const char *name, const char **rest)
{
  const char *p = name;
  if (!take (&p, "encoder.") && !take (&p, "decoder."))
    return false;
  if (!take (&p, "mid_block.attentions.0."))
    return false;
  *rest = p;
  return true;
}

bool
sdcl_vae_attention_matrix (const char *canonical)
{
  const char *p;
  return vae_attention_module (canonical, &p)
         && (g_str_has_prefix (p, "to_q.") || g_str_has_prefix (p, "to_k.")
             || g_str_has_prefix (p, "to_v.") || g_str_has_prefix (p, "to_out.0."));
}

bool
sdcl_canonical_name (sdcl_component comp, const char *name, char *out, size_t out_size)
{
  const char *p;
  switch (comp)
    {
    case SDCL_COMP_TEXT:
      return map_text (name, out, out_size);
    case SDCL_COMP_TEXT2:   /* SDXL's bigG: CLIPTextModelWithProjection */
      if (!strcmp (name, "text_projection.weight"))
        return format (out, out_size, "%s", name);
      return map_text (name, out, out_size);
    case SDCL_COMP_VAE:
      if (vae_attention_module (name, &p))
        {
          char head[64];
          if (format (head, sizeof head, "%.*s", (int) (p - name), name)
              && apply_rules (old_vae_attention_rules, G_N_ELEMENTS (old_vae_attention_rules), true,
                              head, p, out, out_size))
            return true;
        }
      return format (out, out_size, "%s", name);
    case SDCL_COMP_UNET:
      return format (out, out_size, "%s", name);
    }
  return false;
}

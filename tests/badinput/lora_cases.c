/* Bad-input cases (bad-inputs.tsv) of LoRA files and tags (issue 20): files
 * for another family or model size, keys that match nothing, halves whose
 * rank or shape do not fit, NaN, formats sdcl refuses, a tag naming no file,
 * a weight that is no number.  The files are written here, tensor by tensor,
 * so that each holds exactly the fault its row names.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "badinput.h"
#include "check.h"

/* One F32 tensor of a test LoRA, filled with `value`. */
typedef struct {
  const char *name;
  int nd;
  int64_t shape[4];
  float value;
} lora_tensor;

#define TO_Q "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
#define TO_K2 "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"

/* A .safetensors file in the test folder holding `t` (g_free the path). */
static char *
write_lora (const char *file, const lora_tensor *t, size_t n)
{
  GString *header = g_string_new ("{");
  int64_t offset = 0;
  for (size_t i = 0; i < n; i++)
    {
      int64_t count = 1;
      g_string_append_printf (header, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "",
                              t[i].name);
      for (int d = 0; d < t[i].nd; d++)
        {
          g_string_append_printf (header, "%s%" G_GINT64_FORMAT, d ? "," : "", t[i].shape[d]);
          count *= t[i].shape[d];
        }
      g_string_append_printf (header, "],\"data_offsets\":[%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT
                              "]}", offset, offset + 4 * count);
      offset += 4 * count;
    }
  g_string_append (header, "}");
  uint64_t len = header->len;
  GByteArray *bytes = g_byte_array_new ();
  g_byte_array_append (bytes, (const guint8 *) &len, 8);   /* little-endian hosts */
  g_byte_array_append (bytes, (const guint8 *) header->str, header->len);
  for (size_t i = 0; i < n; i++)
    {
      int64_t count = 1;
      for (int d = 0; d < t[i].nd; d++)
        count *= t[i].shape[d];
      for (int64_t k = 0; k < count; k++)
        g_byte_array_append (bytes, (const guint8 *) &t[i].value, 4);
    }
  char *path = tmp_path (file);
  CHECK (g_file_set_contents (path, (const char *) bytes->data, bytes->len, NULL),
         "cannot write %s", path);
  g_byte_array_unref (bytes);
  g_string_free (header, TRUE);
  return path;
}

/* A run of the tiny model with the LoRA at `path` (weight 1) or, when
 * path is NULL, with `prompt`, against row `id`. */
static void
lora_run (const char *id, const char *path, const char *prompt)
{
  sdcl_gen_params p = small ();
  sdcl_lora one = { path, 1.0f };
  if (path)
    {
      p.loras = &one;
      p.n_loras = 1;
    }
  g_autofree char *dir = tmp_path ("Lora");
  if (prompt)
    {
      p.prompt = prompt;
      p.lora_dir = dir;
    }
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  expect_api (id, sdcl_txt2img (tiny, &p, &out, &err), &err);
  sdcl_image_free (&out);
}

static void
file_case (const char *id, const lora_tensor *t, size_t n)
{
  g_autofree char *file = g_strdup_printf ("%s.safetensors", id);
  g_autofree char *path = write_lora (file, t, n);
  lora_run (id, path, NULL);
}

#define CASE(id, ...)                                                   \
  do                                                                    \
    {                                                                   \
      const lora_tensor t_[] = { __VA_ARGS__ };                         \
      file_case (id, t_, G_N_ELEMENTS (t_));                            \
    }                                                                   \
  while (0)

int
test_lora_cases (void)
{
  /* SD 2.x: cross-attention over 1024-wide OpenCLIP states, projections as matrices */
  CASE ("lora_other_family", { TO_K2 ".lora_down.weight", 2, { 4, 1024 }, 0.01f },
        { TO_K2 ".lora_up.weight", 2, { 32, 4 }, 0.01f },
        { "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", 2, { 4, 320 }, 0.01f },
        { "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", 2, { 320, 4 }, 0.01f });
  /* SD 1.5 itself: the right family, another size than the tiny model */
  CASE ("lora_other_size", { TO_K2 ".lora_down.weight", 2, { 4, 768 }, 0.01f },
        { TO_K2 ".lora_up.weight", 2, { 320, 4 }, 0.01f });
  CASE ("lora_sdxl_te2",
        { "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", 2, { 4, 1280 }, 0.01f },
        { "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", 2, { 1280, 4 }, 0.01f });
  CASE ("lora_keys_match_nothing", { "lora_unet_no_such_layer.lora_down.weight", 2, { 4, 32 }, 0.01f },
        { "lora_unet_no_such_layer.lora_up.weight", 2, { 32, 4 }, 0.01f },
        { "something_else", 1, { 3 }, 0.0f });
  CASE ("lora_rank_mismatch", { TO_Q ".lora_down.weight", 2, { 4, 32 }, 0.01f },
        { TO_Q ".lora_up.weight", 2, { 32, 8 }, 0.01f });
  CASE ("lora_shape_mismatch", { TO_Q ".lora_down.weight", 2, { 4, 40 }, 0.01f },
        { TO_Q ".lora_up.weight", 2, { 32, 4 }, 0.01f });
  CASE ("lora_missing_half", { TO_Q ".lora_down.weight", 2, { 4, 32 }, 0.01f });
  CASE ("lora_nan", { TO_Q ".lora_down.weight", 2, { 4, 32 }, 0.01f },
        { TO_Q ".lora_up.weight", 2, { 32, 4 }, NAN });
  CASE ("lora_loha", { TO_Q ".hada_w1_a", 2, { 32, 4 }, 0.01f },
        { TO_Q ".hada_w1_b", 2, { 4, 32 }, 0.01f });
  CASE ("lora_lokr", { TO_Q ".lokr_w1", 2, { 4, 4 }, 0.01f });
  g_autofree char *sd2 = g_build_filename (fixtures, "lora", "sd2-peft.safetensors", NULL);
  lora_run ("lora_sd2_file_on_sd1", sd2, NULL);
  g_autofree char *absent = tmp_path ("no-such-lora.safetensors");
  lora_run ("lora_file_missing", absent, NULL);
  lora_run ("lora_tag_missing", NULL, "a red circle <lora:missing:0.5>");
  lora_run ("lora_tag_bad_weight", NULL, "a red circle <lora:style:strong>");
  cli_case ("lora_cli_bad_weight", NULL,
            (const char *[]) { "txt2img", "-p", "x", "--lora", "style.safetensors:strong", "-o",
                               "o.png", NULL });
  return check_finish ();
}

/* Bad-input cases of prompts and textual-inversion embeddings (issue 20):
 * brackets that do not balance, prompts too long even for chunks, weights
 * beyond float, embeddings of another width or family, pickles, files
 * that are no embedding.  Rows in bad-inputs.tsv; run by test_badinput.c.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "badinput.h"
#include "check.h"

/* A small txt2img of the tiny model with `p`; the result against the row. */
static void
gen_case (const char *id, const sdcl_gen_params *p)
{
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_txt2img (tiny, p, &out, &err);
  CHECK ((st == SDCL_OK) == (out.data != NULL), "%s: an image exactly on success", id);
  expect_api (id, st, &err);
  sdcl_image_free (&out);
}

static char *
embedding (const char *name)
{
  return g_build_filename (fixtures, "embeddings", name, NULL);
}

/* Every prompt in one run each; all must parse and generate. */
static void
unbalanced (void)
{
  static const char *const prompts[] = {
    "((((a red circle", "a red circle)))]]", "(:", "\\", "(x:1.2.3)", "[(a:1.5]", ")(", "BREAK",
    "(BREAK:2)", "a \\((b\\)", "(a:-1)",
  };
  bool all_ok = true;
  sdcl_error err = { 0 };
  for (size_t i = 0; i < G_N_ELEMENTS (prompts); i++)
    {
      sdcl_gen_params p = small ();
      p.steps = 1;
      p.prompt = prompts[i];
      p.negative_prompt = prompts[G_N_ELEMENTS (prompts) - 1 - i];
      sdcl_image out = { 0 };
      sdcl_status st = sdcl_txt2img (tiny, &p, &out, &err);
      CHECK (st == SDCL_OK, "prompt \"%s\": %s", prompts[i], err.message);
      all_ok = all_ok && st == SDCL_OK;
      sdcl_image_free (&out);
    }
  expect_api ("prompt_unbalanced", all_ok ? SDCL_OK : SDCL_ERR_INTERNAL, &err);
}

static void
prompts (void)
{
  unbalanced ();
  sdcl_gen_params p = small ();
  GString *s = g_string_new (NULL);
  for (int i = 0; i < 75 * SDCL_MAX_PROMPT_CHUNKS + 1; i++)
    g_string_append (s, "cat ");
  p.prompt = s->str;
  gen_case ("prompt_too_long", &p);
  g_string_free (s, TRUE);

  p = small ();
  p.prompt = "a (red:1e999999999999999999999999999999999999999999999) circle";
  gen_case ("prompt_weight_out_of_range", &p);   /* 'e' is text: weight 1.1 */
  p.prompt = "a (red:99999999999999999999999999999999999999999) circle";
  gen_case ("prompt_weight_overflow", &p);
  p = small ();
  p.prompt_syntax = (sdcl_prompt_syntax) 7;
  gen_case ("prompt_syntax_unknown", &p);
}

static void
embeddings (void)
{
  struct { const char *id, *file, *prompt; } cases[] = {
    { "embedding_in_prompts", "tinyemb.safetensors", "a photo of (tinyemb:1.3), tinyemb" },
    { "embedding_wrong_width", "wide48.safetensors", "a wide48" },
    { "embedding_sdxl_on_sd1", "tinyxl.safetensors", "a tinyxl" },
    { "embedding_pickle", "pickled.pt", "a pickled" },
    { "embedding_missing", "no-such-embedding.safetensors", "a red circle" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = embedding (cases[i].file);
      const char *list[] = { path };
      sdcl_gen_params p = small ();
      p.prompt = cases[i].prompt;
      p.negative_prompt = "tinyemb";
      p.embeddings = list;
      p.n_embeddings = 1;
      gen_case (cases[i].id, &p);
    }
  g_autofree char *vae = g_build_filename (fixtures, "models", "tiny-sd", "vae",
                                           "diffusion_pytorch_model.safetensors", NULL);
  const char *list[] = { vae };
  sdcl_gen_params p = small ();
  p.embeddings = list;
  p.n_embeddings = 1;
  gen_case ("embedding_not_embedding", &p);
  p.embeddings = NULL;
  gen_case ("embedding_list_null", &p);
}

int
test_prompt_cases (bool with_cli, const char *model)
{
  prompts ();
  embeddings ();
  if (with_cli)
    {
      g_autofree char *pt = embedding ("pickled.pt");
      cli_case ("cli_prompt_syntax_unknown", NULL,
                (const char *[]) { "txt2img", "-m", model, "-p", "x", "--prompt-syntax", "A1111x",
                                   "-o", "o.png", NULL });
      cli_case ("cli_embedding_pickle", NULL,
                (const char *[]) { "txt2img", "-m", model, "-p", "x", "--steps", "1", "-W", "32",
                                   "-H", "32", "--embedding", pt, "-o", "o.png", NULL });
    }
  return check_failures;
}

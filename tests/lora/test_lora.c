/* LoRA against diffusers (tests/reference/lora_fixtures.py): tiny-sd with
 * kohya (LoCon included) and PEFT files at weights 0.8 and 1.0 and two at
 * once, tiny-sd2 with a PEFT file at 1.0, and tiny-sdxl with a kohya file
 * on the UNet and both text towers (lora_te1_ / lora_te2_), also under the
 * SGM UNet names kohya writes for SDXL, on the single file; 4 Euler steps
 * with guidance 7.5 from the golden's initial noise.
 *
 * Tolerance: as test_txt2img (F32 weights, fp32 arithmetic: 2e-3 absolute
 * on the [0, 1] image).  The LoRA sits in a side path whose products are
 * rounded differently from PEFT's (up already scaled), well inside that.
 *
 * Exact checks (bit for bit): other spellings of the same tensors (LDM
 * names, diffusers' older processor names, a prompt tag, SDXL's PEFT
 * names with text_encoder_2.) give the same
 * image; a model that ran LoRAs gives, without them, the image of a fresh
 * load; lean and stream residency give the resident image with LoRAs.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "golden.h"
#include "lora.h"
#include "sdcl.h"

#define ATOL 2e-3

typedef struct {
  const char *golden;
  sdcl_lora loras[2];
  int n;
} lora_case;

static const lora_case cases[] = {
  { "none", { { NULL, 0 } }, 0 },
  { "kohya_1.0", { { "kohya.safetensors", 1.0f } }, 1 },
  { "kohya_0.8", { { "kohya.safetensors", 0.8f } }, 1 },
  { "peft_1.0", { { "peft.safetensors", 1.0f } }, 1 },
  { "peft_0.8", { { "peft.safetensors", 0.8f } }, 1 },
  { "kohya_0.8_peft_0.5", { { "kohya.safetensors", 0.8f }, { "peft.safetensors", 0.5f } }, 2 },
};

static char *lora_dir;
static float *noise;

static sdcl_gen_params
params (void)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.negative_prompt = "blurry";
  p.steps = 4;
  p.width = 48;
  p.height = 64;
  p.guidance = 7.5f;
  p.sampler = SDCL_SAMPLER_EULER;
  p.karras_sigmas = false;   /* diffusers' Euler: the model's own spacing */
  p.initial_noise = noise;
  p.lora_dir = lora_dir;
  return p;
}

/* The image of a run with `n` LoRAs (file names relative to the fixture
 * folder), or NULL on failure (reported). */
static float *
run (sdcl_model *m, const sdcl_lora *loras, int n, const char *prompt, const char *what)
{
  sdcl_lora full[4];
  char *paths[4] = { NULL };
  for (int i = 0; i < n; i++)
    {
      paths[i] = g_build_filename (lora_dir, loras[i].path, NULL);
      full[i] = (sdcl_lora) { paths[i], loras[i].weight };
    }
  sdcl_gen_params p = params ();
  p.loras = full;
  p.n_loras = n;
  if (prompt)
    p.prompt = prompt;
  sdcl_image img = { 0 };
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_txt2img (m, &p, &img, &err);
  CHECK (st == SDCL_OK, "%s: %s", what, err.message);
  for (int i = 0; i < n; i++)
    g_free (paths[i]);
  return st == SDCL_OK ? img.data : NULL;
}

static void
check_same (const char *what, const float *got, const float *want)
{
  CHECK (got && want && memcmp (got, want, 48 * 64 * 3 * sizeof (float)) == 0,
         "%s: not bit-identical", what);
}

static sdcl_model *
load_model (sdcl_ctx *ctx, const char *rel, sdcl_residency residency)
{
  g_autofree char *path = fixture_path (rel);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.weights = SDCL_WEIGHTS_F32;
  mp.residency = residency;
  return fixture_model_load (ctx, path, &mp);
}

static sdcl_model *
load (sdcl_ctx *ctx, sdcl_residency residency)
{
  return load_model (ctx, "models/tiny-sd", residency);
}

/* tiny-sd2 (linear projections, GELU text encoder) with its PEFT file. */
static void
check_sd2 (sdcl_ctx *ctx)
{
  sdcl_model *m = load_model (ctx, "models/tiny-sd2", SDCL_RESIDENCY_RESIDENT);
  const sdcl_lora peft[] = { { "sd2-peft.safetensors", 1.0f } };
  const char *goldens[] = { "sd2_none", "sd2_peft_1.0" };
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *rel = g_strdup_printf ("golden/lora_%s.safetensors", goldens[i]);
      sdcl_st_file *g = golden_open (rel);
      int64_t n = 0;
      g_autofree float *want = golden_tensor (g, "image", &n);
      g_autofree float *got = run (m, peft, i, NULL, goldens[i]);
      if (got && n == 48 * 64 * 3)
        CHECK_CLOSE (goldens[i], got, want, n, ATOL, 0.0);
      sdcl_st_close (g);
    }
  sdcl_model_free (m);
}

/* kohya's SDXL spelling (lora_unet_input_blocks_4_1_..., output_blocks_...)
 * on the single file with SGM names: diffusers' image of that file (it
 * converts the names); on the diffusers folder it is the kohya image bit
 * for bit, and the single file takes the diffusers-named file the same. */
static void
check_sdxl_sgm (sdcl_ctx *ctx, const float *with_kohya)
{
  const sdcl_lora sgm[] = { { "sdxl-kohya-sgm.safetensors", 1.0f } };
  const sdcl_lora kohya[] = { { "sdxl-kohya.safetensors", 1.0f } };
  sdcl_st_file *g = golden_open ("golden/lora_sdxl_kohya_sgm_1.0.safetensors");
  int64_t n = 0;
  g_autofree float *want = golden_tensor (g, "image", &n);
  sdcl_st_close (g);

  sdcl_model *m = load_model (ctx, "models/tiny-sdxl", SDCL_RESIDENCY_RESIDENT);
  g_autofree float *folder = run (m, sgm, 1, NULL, "sdxl kohya-sgm on the folder");
  check_same ("SDXL kohya SGM names vs diffusers names (folder)", folder, with_kohya);
  sdcl_model_free (m);

  m = load_model (ctx, "models/tiny-sdxl-sgm-f16.safetensors", SDCL_RESIDENCY_RESIDENT);
  g_autofree float *single = run (m, sgm, 1, NULL, "sdxl kohya-sgm on the single file");
  if (single && n == 48 * 64 * 3)
    CHECK_CLOSE ("sdxl_kohya_sgm_1.0 (single file)", single, want, n, ATOL, 0.0);
  g_autofree float *named = run (m, kohya, 1, NULL, "sdxl kohya on the single file");
  check_same ("SDXL single file: SGM vs diffusers names", named, single);
  sdcl_model_free (m);
}

/* tiny-sdxl: no LoRA and the kohya file against diffusers; the same
 * tensors under PEFT names (unet., text_encoder., text_encoder_2.) give the
 * kohya image bit for bit (alpha = rank: both scale 1), as does streamed
 * residency. */
static void
check_sdxl (sdcl_ctx *ctx)
{
  float *sd_noise = noise;
  sdcl_st_file *g = golden_open ("golden/lora_sdxl_none.safetensors");
  int64_t n_noise = 0;
  noise = golden_tensor (g, "init_noise", &n_noise);
  sdcl_st_close (g);
  sdcl_model *m = load_model (ctx, "models/tiny-sdxl", SDCL_RESIDENCY_RESIDENT);
  const sdcl_lora kohya[] = { { "sdxl-kohya.safetensors", 1.0f } };
  const sdcl_lora peft[] = { { "sdxl-peft.safetensors", 1.0f } };
  const char *goldens[] = { "sdxl_none", "sdxl_kohya_1.0" };
  g_autofree float *with_kohya = NULL;
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *rel = g_strdup_printf ("golden/lora_%s.safetensors", goldens[i]);
      g = golden_open (rel);
      int64_t n = 0;
      g_autofree float *want = golden_tensor (g, "image", &n);
      float *got = run (m, kohya, i, NULL, goldens[i]);
      if (got && n == 48 * 64 * 3)
        CHECK_CLOSE (goldens[i], got, want, n, ATOL, 0.0);
      sdcl_st_close (g);
      if (i)
        with_kohya = got;
      else
        g_free (got);
    }
  g_autofree float *with_peft = run (m, peft, 1, NULL, "sdxl peft 1.0");
  check_same ("SDXL peft (text_encoder_2.) vs kohya (lora_te2_)", with_peft, with_kohya);
  sdcl_model_free (m);
  /* both towers' side paths in streamed residency: the resident image */
  m = load_model (ctx, "models/tiny-sdxl", SDCL_RESIDENCY_STREAM);
  g_autofree float *streamed = run (m, kohya, 1, NULL, "sdxl kohya, stream");
  check_same ("SDXL kohya stream vs resident", streamed, with_kohya);
  sdcl_model_free (m);
  check_sdxl_sgm (ctx, with_kohya);
  g_free (noise);
  noise = sd_noise;
}

/* Every diffusers case within ATOL; returns the two-adapter image. */
static float *
check_goldens (sdcl_model *m)
{
  float *both = NULL;
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *rel = g_strdup_printf ("golden/lora_%s.safetensors", cases[i].golden);
      sdcl_st_file *g = golden_open (rel);
      int64_t n = 0;
      g_autofree float *want = golden_tensor (g, "image", &n);
      float *got = run (m, cases[i].loras, cases[i].n, NULL, cases[i].golden);
      if (got && n == 48 * 64 * 3)
        CHECK_CLOSE (cases[i].golden, got, want, n, ATOL, 0.0);
      sdcl_st_close (g);
      if (cases[i].n == 2)
        both = got;
      else
        g_free (got);
    }
  return both;
}

/* Other spellings of the same LoRAs: the same image, bit for bit. */
static void
check_spellings (sdcl_model *m)
{
  const sdcl_lora kohya[] = { { "kohya.safetensors", 0.8f } };
  const sdcl_lora ldm[] = { { "kohya-ldm.safetensors", 0.8f } };
  const sdcl_lora peft[] = { { "peft.safetensors", 1.0f } };
  const sdcl_lora old[] = { { "peft-old.safetensors", 1.0f } };
  g_autofree float *a = run (m, kohya, 1, NULL, "kohya 0.8");
  g_autofree float *b = run (m, ldm, 1, NULL, "kohya with LDM names 0.8");
  check_same ("kohya-ldm vs kohya", b, a);
  g_autofree float *tag = run (m, NULL, 0, "a red circle<lora:kohya:0.8>", "prompt tag");
  check_same ("<lora:kohya:0.8> vs --lora kohya:0.8", tag, a);
  g_autofree float *c = run (m, peft, 1, NULL, "peft 1.0");
  g_autofree float *d = run (m, old, 1, NULL, "peft-old 1.0");
  check_same ("peft-old vs peft", d, c);
}

/* FILE[:WEIGHT] lists and <lora:...> tags, parsed as documented. */
static void
check_parsers (void)
{
  sdcl_lora *list = NULL;
  int n = 0;
  sdcl_error err = { 0 };
  CHECK (sdcl_lora_list_parse ("a.safetensors:0.5;\n b.safetensors ;C:\\x.safetensors\n\n", &list,
                               &n, &err) == SDCL_OK, "list: %s", err.message);
  CHECK (n == 3 && strcmp (list[0].path, "a.safetensors") == 0 && list[0].weight == 0.5f
         && strcmp (list[1].path, "b.safetensors") == 0 && list[1].weight == 1.0f
         && strcmp (list[2].path, "C:\\x.safetensors") == 0 && list[2].weight == 1.0f,
         "list parsed into %d entries", n);
  free (list);
  CHECK (sdcl_lora_list_parse ("a.safetensors:much", &list, &n, &err) == SDCL_ERR_INVALID_ARGUMENT,
         "a weight that is no number is refused");

  GArray *tags = g_array_new (FALSE, FALSE, sizeof (sdcl_lora_tag));
  char *text = NULL;
  CHECK (sdcl_lora_tags_extract ("a <lora:x:0.5>b<lora:y> <lora:open", &text, tags, &err) == SDCL_OK,
         "tags: %s", err.message);
  CHECK (strcmp (text, "a b <lora:open") == 0, "tags taken out: \"%s\"", text);
  CHECK (tags->len == 2 && strcmp (g_array_index (tags, sdcl_lora_tag, 0).name, "x") == 0
         && g_array_index (tags, sdcl_lora_tag, 0).weight == 0.5f
         && strcmp (g_array_index (tags, sdcl_lora_tag, 1).name, "y") == 0
         && g_array_index (tags, sdcl_lora_tag, 1).weight == 1.0f, "%u tags", tags->len);
  for (guint i = 0; i < tags->len; i++)
    g_free (g_array_index (tags, sdcl_lora_tag, i).name);
  g_array_free (tags, TRUE);
  g_free (text);
  g_autofree char *dir = sdcl_lora_default_dir ("/m/models/sd15/");
  CHECK (strcmp (dir, "/m/models/Lora") == 0, "default LoRA folder %s", dir);
}

int
main (void)
{
  check_parsers ();
  lora_dir = fixture_path ("lora");
  sdcl_st_file *g = golden_open ("golden/lora_kohya_1.0.safetensors");
  int64_t n_noise = 0;
  noise = golden_tensor (g, "init_noise", &n_noise);
  sdcl_st_close (g);
  CHECK (n_noise == 4 * 8 * 6, "init_noise has %" G_GINT64_FORMAT " values", n_noise);

  sdcl_error err = { 0 };
  sdcl_ctx *ctx = NULL;
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "no context: %s\n", err.message);
      return 1;
    }
  sdcl_model *m = load (ctx, SDCL_RESIDENCY_RESIDENT);
  g_autofree float *base = run (m, NULL, 0, NULL, "no LoRA");
  g_autofree float *both = check_goldens (m);
  check_spellings (m);

  /* Back to no LoRA on the same model, then a fresh load: one image. */
  g_autofree float *again = run (m, NULL, 0, NULL, "no LoRA after LoRAs");
  check_same ("no LoRA after LoRAs vs before", again, base);
  sdcl_model_free (m);
  m = load (ctx, SDCL_RESIDENCY_RESIDENT);
  g_autofree float *fresh = run (m, NULL, 0, NULL, "fresh load");
  check_same ("fresh load vs the model that ran LoRAs", base, fresh);
  sdcl_model_free (m);

  /* Lean and streamed layers with two LoRAs: the resident image. */
  const sdcl_residency modes[] = { SDCL_RESIDENCY_LEAN, SDCL_RESIDENCY_STREAM };
  for (size_t i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      m = load (ctx, modes[i]);
      g_autofree float *img = run (m, cases[5].loras, 2, NULL, "lean/stream with two LoRAs");
      check_same (i ? "stream vs resident, two LoRAs" : "lean vs resident, two LoRAs", img, both);
      g_autofree float *plain = run (m, NULL, 0, NULL, "lean/stream without LoRA");
      check_same (i ? "stream without LoRA" : "lean without LoRA", plain, base);
      sdcl_model_free (m);
    }
  check_sd2 (ctx);
  check_sdxl (ctx);
  sdcl_ctx_free (ctx);
  g_free (noise);
  g_free (lora_dir);
  return check_finish ();
}

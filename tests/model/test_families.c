/* The family registry (engine/families/family.h): every family is found by
 * its id, detection picks the right family for each family's typical
 * facts (table order included: SDXL carries OpenCLIP towers too), the
 * families sdcl runs fill every member of the description, the others
 * refuse with their name.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include <glib.h>

#include "check.h"
#include "families/family.h"
#include "loader_internal.h"

typedef struct {
  const char *what;
  sdcl_family_facts facts;
  sdcl_family want;
  bool runs;
  const char *message;   /* a part of the error, NULL when it runs */
} detection_case;

static const detection_case cases[] = {
  { "SD 1.5", { .cross_attention_dim = 768, .text_hidden = 768, .unet_in_channels = 4 },
    SDCL_FAMILY_SD1, true, NULL },
  { "SD 1.5 inpainting", { .cross_attention_dim = 768, .text_hidden = 768, .unet_in_channels = 9 },
    SDCL_FAMILY_SD1, true, NULL },
  { "InstructPix2Pix", { .cross_attention_dim = 768, .text_hidden = 768, .unet_in_channels = 8 },
    SDCL_FAMILY_SD1, false, "InstructPix2Pix" },
  { "SD 2.1", { .cross_attention_dim = 1024, .linear_projection = true, .openclip_text = true,
                .text_hidden = 1024, .unet_in_channels = 4 },
    SDCL_FAMILY_SD2, true, NULL },
  { "SD 2.x inpainting", { .cross_attention_dim = 1024, .linear_projection = true, .openclip_text = true,
                           .text_hidden = 1024, .unet_in_channels = 9 },
    SDCL_FAMILY_SD2, true, NULL },
  { "SD 2.x UNet with a CLIP-L text encoder", { .cross_attention_dim = 1024, .linear_projection = true,
                                                .openclip_text = true, .text_hidden = 768,
                                                .unet_in_channels = 4 },
    SDCL_FAMILY_SD2, false, "cross-attends to 1024-wide states but the text encoder is 768 wide" },
/* SDXL base's facts with bigG's width, its projection, the add embedding's
 * inputs and the UNet's input channels given */
#define SDXL_FACTS(t2, proj, add_in, in_ch)                                                      \
  { .cross_attention_dim = 2048, .linear_projection = true, .openclip_text = true,                 \
    .text_hidden = 768, .second_text_encoder = true, .text2_hidden = (t2), .text2_projection = (proj), \
    .add_embedding_in = (add_in), .add_time_embed_dim = 256, .unet_in_channels = (in_ch) }
  { "SDXL", SDXL_FACTS (1280, 1280, 2816, 4), SDCL_FAMILY_SDXL, true, NULL },
  { "SDXL inpainting", SDXL_FACTS (1280, 1280, 2816, 9), SDCL_FAMILY_SDXL, true, NULL },
  { "SDXL without bigG", SDXL_FACTS (0, 0, 2816, 4), SDCL_FAMILY_SDXL, false,
    "without its second text encoder" },
  { "SDXL with a narrow bigG", SDXL_FACTS (1024, 1280, 2816, 4), SDCL_FAMILY_SDXL, false,
    "the text encoders are 768 + 1024 wide" },
  { "SDXL without text_projection", SDXL_FACTS (1280, 0, 2816, 4), SDCL_FAMILY_SDXL, false,
    "has no text_projection" },
  { "SDXL with an odd add embedding", SDXL_FACTS (1280, 1280, 2817, 4), SDCL_FAMILY_SDXL, false,
    "add embedding takes 2817 inputs" },
  { "SDXL whose add embedding has no room for size ids",
    { .cross_attention_dim = 2048, .linear_projection = true, .text_hidden = 768,
      .second_text_encoder = true, .text2_hidden = 1280, .text2_projection = 1280,
      .add_embedding_in = 1280, .add_time_embed_dim = 0, .unet_in_channels = 4 },
    SDCL_FAMILY_SDXL, false, "add embedding takes 1280 inputs" },
  { "SDXL refiner", { .cross_attention_dim = 1280, .linear_projection = true, .openclip_text = true,
                      .add_embedding_in = 2560, .unet_in_channels = 4 },
    SDCL_FAMILY_SDXL_REFINER, false, "SDXL refiner" },
  { "no cross-attention", { .unet_in_channels = 4 }, SDCL_FAMILY_UNKNOWN, false,
    "unknown model layout (no cross-attention in the UNet)" },
};

static void
test_detection (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const detection_case *c = &cases[i];
      const sdcl_family_desc *desc = (const sdcl_family_desc *) 1;
      sdcl_error err = { 0 };
      sdcl_status st = sdcl_family_detect (&c->facts, "m", &desc, &err);
      sdcl_family got = desc ? desc->id : SDCL_FAMILY_UNKNOWN;
      CHECK (got == c->want, "%s: family %d, want %d", c->what, got, c->want);
      CHECK ((st == SDCL_OK) == c->runs, "%s: status %d (%s)", c->what, st, err.message);
      if (!c->runs)
        CHECK ((st == SDCL_ERR_UNSUPPORTED_MODEL || st == SDCL_ERR_MODEL_FORMAT) && strstr (err.message, c->message)
               && g_str_has_prefix (err.message, "m: "),
               "%s: '%s' should name '%s' after the path", c->what, err.message, c->message);
    }
}

/* A family that can run fills its whole description; the networks are
 * each listed once. */
static void
test_members (void)
{
  static const sdcl_family ids[] = { SDCL_FAMILY_SD1, SDCL_FAMILY_SD2, SDCL_FAMILY_SDXL,
                                     SDCL_FAMILY_SDXL_REFINER };
  CHECK (sdcl_family_lookup (SDCL_FAMILY_UNKNOWN) == NULL, "no description for UNKNOWN");
  for (size_t i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      const sdcl_family_desc *d = sdcl_family_lookup (ids[i]);
      CHECK (d && d->id == ids[i] && d->name && d->name[0] && d->claims && d->check,
             "family %d: id, name and detection", ids[i]);
      if (!d)
        continue;
      /* the families this version runs */
      bool runs = d->id != SDCL_FAMILY_SDXL_REFINER;
      bool complete = d->nets && d->n_nets > 0 && d->native_resolution > 0
                      && d->latent_scaling_factor > 0 && d->ldm_configs && d->default_sched
                      && d->encode_prompt;
      CHECK (complete == runs, "%s: members %s", d->name, complete ? "set" : "missing");
      bool seen[3] = { false, false, false };
      for (int k = 0; k < d->n_nets; k++)
        {
          CHECK (d->nets[k] >= SDCL_NET_CLIP && d->nets[k] <= SDCL_NET_VAE && !seen[d->nets[k]],
                 "%s: network %d listed twice or unknown", d->name, (int) d->nets[k]);
          if (d->nets[k] >= SDCL_NET_CLIP && d->nets[k] <= SDCL_NET_VAE)
            seen[d->nets[k]] = true;
        }
    }
}

/* SD 1.x's published values: 512 x 512, latents scaled by 0.18215, and
 * its scheduler: epsilon prediction, 1000 training steps, scaled_linear
 * betas 0.00085 .. 0.012, steps_offset 1. */
static void
test_sd1_defaults (void)
{
  const sdcl_family_desc *d = sdcl_family_lookup (SDCL_FAMILY_SD1);
  CHECK (d->native_resolution == 512 && fabsf (d->latent_scaling_factor - 0.18215f) < 1e-9f,
         "SD 1.x: %d pixels, scaling %g", d->native_resolution, (double) d->latent_scaling_factor);
  sdcl_sched_config s;
  memset (&s, 0xab, sizeof s);
  d->default_sched (&s);
  CHECK (s.prediction_type == SDCL_PREDICTION_EPSILON && s.num_train_timesteps == 1000
         && strcmp (s.beta_schedule, "scaled_linear") == 0 && s.steps_offset == 1
         && fabsf (s.beta_start - 0.00085f) < 1e-9f && fabsf (s.beta_end - 0.012f) < 1e-9f,
         "SD 1.x default scheduler");
}

int
main (void)
{
  test_detection ();
  test_members ();
  test_sd1_defaults ();
  return check_finish ();
}

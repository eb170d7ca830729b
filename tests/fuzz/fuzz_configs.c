/* libFuzzer harness: the JSON configuration files of a diffusers folder.
 * Each input is one config file; it goes through what the loader does with
 * a config.json / scheduler_config.json / model_index.json /
 * *.safetensors.index.json: the strict RFC 8259 check, json-glib, then every
 * config parser (UNet, VAE, text encoder, scheduler) on the object.
 * A complete model folder is exercised as well by writing the input as
 * model_index.json and the UNet config of a copy of the tiny fixture model
 * in the bad-input tests (tests/badinput); here the parsers are reached
 * directly, thousands of times a second.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <json-glib/json-glib.h>

#include "fuzz_common.h"
#include "json_strict.h"
#include "loader_internal.h"
#include "nets.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = g_malloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  /* The same bytes as an LDM inference config (.yaml beside a single file). */
  sdcl_ldm_yaml y;
  sdcl_error yerr = { 0 };
  fuzz_check_error (sdcl_ldm_yaml_parse (text, size, "model.yaml", &y, &yerr), &yerr);
  char why[600];
  why[0] = '\0';
  bool strict = sdcl_json_check_strict (text, size, why, sizeof why);
  if (!strict && (why[0] == '\0' || !memchr (why, '\0', sizeof why)))
    abort ();   /* a refusal names the offset and the rule */
  if (strict)
    {
      JsonParser *parser = json_parser_new_immutable ();
      GError *gerr = NULL;
      /* Strict JSON must be JSON to json-glib as well. */
      if (!json_parser_load_from_data (parser, text, (gssize) size, &gerr))
        {
          fprintf (stderr, "strict check accepted what json-glib refuses: %s\n", gerr->message);
          abort ();
        }
      JsonNode *root = json_parser_get_root (parser);
      if (root && JSON_NODE_HOLDS_OBJECT (root))
        {
          JsonObject *o = json_node_get_object (root);
          sdcl_error err = { 0 };
          sdcl_unet_config u;
          sdcl_vae_config v;
          sdcl_clip_config c;
          sdcl_sched_config s;
          sdcl_unet_config_class_defaults (&u);
          fuzz_check_error (sdcl_unet_config_from_json (o, "unet/config.json", &u, &err), &err);
          sdcl_vae_config_class_defaults (&v);
          fuzz_check_error (sdcl_vae_config_from_json (o, "vae/config.json", &v, &err), &err);
          sdcl_clip_config_class_defaults (&c);
          fuzz_check_error (sdcl_clip_config_from_json (o, "text_encoder/config.json", &c, &err),
                            &err);
          sdcl_sched_config_sd15 (&s);
          fuzz_check_error (sdcl_sched_config_from_json (o, "scheduler/scheduler_config.json", &s,
                                                         &err), &err);
          /* What a parsed UNet config implies must be enumerable. */
          if (sdcl_unet_config_from_json (o, "unet/config.json", &u, &err) == SDCL_OK)
            {
              size_t n = 0;
              sdcl_tensor_spec *specs = sdcl_unet_tensor_specs (&u, &n);
              g_free (specs);
            }
          if (sdcl_vae_config_from_json (o, "vae/config.json", &v, &err) == SDCL_OK)
            {
              size_t n = 0;
              g_free (sdcl_vae_tensor_specs (&v, &n));
            }
          if (sdcl_clip_config_from_json (o, "text_encoder/config.json", &c, &err) == SDCL_OK)
            {
              size_t n = 0;
              g_free (sdcl_clip_tensor_specs (&c, &n));
            }
        }
      if (gerr)
        g_error_free (gerr);
      g_object_unref (parser);
    }
  g_free (text);
  return 0;
}

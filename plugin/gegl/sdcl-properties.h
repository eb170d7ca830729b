/* sdcl GEGL operations: the properties every operation has.
 *
 * Included from the GEGL_PROPERTIES section of each operation.  gegl-op.h
 * reads that section several times with different meanings for the
 * property_* macros, so this file has no include guard on purpose.
 * SDCL_GEGL_COMMON (sdcl-gegl.h) reads these fields back out.
 *
 * Defaults and limits are the engine's (sdcl_gen_default_params and its
 * argument checks), so the operations never offer what the engine refuses.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

/* A plain string, not property_file_path: GIMP's own filter dialog would
 * show a file chooser for that, but libgimp 3.0.4 cannot describe a
 * GeglParamFilePath to a plug-in ("GParamSpec type unsupported"), and the
 * filter config it builds for Script-Fu's gimp-drawable-merge-new-filter
 * then loses that property and every one after it, so no script could set
 * the prompt.  A file picked in a diffusers folder (its model_index.json)
 * stands for the folder. */
property_string (model, _("Model"), "")
  description (_("Stable Diffusion 1.x checkpoint: a diffusers folder or a "
                 "single .safetensors file; empty: the demo model that ships "
                 "with sdcl"))

property_string (prompt, _("Prompt"), "")
  description (_("What the image should show"))
  ui_meta ("multiline", "true")

property_string (negative_prompt, _("Negative prompt"), "")
  description (_("What the image should not show"))
  ui_meta ("multiline", "true")

property_enum (sampler, _("Sampler"),
               sdcl_sampler, sdcl_gegl_sampler, SDCL_SAMPLER_DPMPP_2M)
  description (_("The denoising algorithm"))

property_boolean (karras, _("Karras sigmas"), TRUE)
  description (_("Space the noise levels as Karras et al. propose "
                 "(samplers that offer it, such as DPM++ 2M and Euler; the "
                 "others ignore it)"))

property_enum (schedule, _("Schedule"),
               sdcl_schedule, sdcl_gegl_schedule, SDCL_SCHEDULE_DEFAULT)
  description (_("Where the steps sit on the noise scale; anything but the "
                 "model's own replaces Karras sigmas (not every sampler "
                 "takes every schedule)"))

property_int (steps, _("Steps"), 20)
  description (_("Number of denoising steps"))
  value_range (1, 1000)
  ui_range    (1, 100)

property_double (guidance, _("Guidance scale"), 7.5)
  description (_("How closely to follow the prompt (classifier-free "
                 "guidance); 1 or less turns guidance off"))
  value_range (0.0, 100.0)
  ui_range    (1.0, 20.0)

property_seed (seed, _("Random seed"), rand)
  description (_("The same seed and settings give the same image"))

property_boolean (tiling, _("Seamless tiling"), FALSE)
  description (_("Make an image that tiles: its edges wrap around, so copies "
                 "placed side by side show no seam"))

property_string (device, _("Device"), "")
  description (_("OpenCL device: empty for the first GPU (else any device), "
                 "a number from 'sdcl devices', or part of a device name"))

property_enum (precision, _("Weight precision"),
               sdcl_weight_precision, sdcl_gegl_precision, SDCL_WEIGHTS_F16)
  description (_("How the weights are stored on the device; arithmetic is "
                 "32-bit float either way"))

property_enum (prediction, _("Prediction"),
               sdcl_prediction_choice, sdcl_gegl_prediction, SDCL_PREDICTION_FROM_MODEL)
  description (_("What the model predicts: as its files say (a single file "
                 "without a .yaml beside it counts as epsilon), or epsilon or "
                 "v forced (SD 2.x 768-v single files need v)"))
property_boolean (turbo, _("Turbo model"), FALSE)
  description (_("The model is SD-Turbo or SDXL-Turbo, which a single file "
                 "cannot say itself (a Turbo diffusers folder needs no "
                 "switch): it then runs at 512 pixels on the Turbo schedule; "
                 "set 1-4 steps, guidance 0 and Karras sigmas off, as its "
                 "model card does"))
property_enum (prompt_syntax, _("Prompt syntax"),
               sdcl_prompt_syntax, sdcl_gegl_prompt_syntax, SDCL_PROMPT_A1111)
  description (_("How the prompt is read: A1111 weighs (word), (word:1.3) and "
                 "[word] and splits at BREAK; plain takes the text as it is"))
property_string (loras, _("LoRAs"), "")
  description (_("LoRA files to apply, one per line as FILE or FILE:WEIGHT "
                 "(weight 1 when left out); <lora:NAME:WEIGHT> in the prompt "
                 "also works, for files in a Lora folder beside the model"))
  ui_meta ("multiline", "true")
property_string (embeddings, _("Embeddings"), "")
  description (_("Textual-inversion .safetensors files, one per line; each "
                 "file's name without extension is its word in the prompts"))
  ui_meta ("multiline", "true")

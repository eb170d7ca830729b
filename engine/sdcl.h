/* sdcl — Stable-Diffusion-family image generation on OpenCL.
 *
 * The public C API of libsdcl.  Everything a host (the sdcl CLI, the GEGL
 * operations, the GIMP plug-in) needs is here; nothing here mentions GEGL or
 * GIMP.
 *
 * Conventions
 *   - Every fallible call returns an sdcl_status and, when `err` is not NULL,
 *     fills it with the same code and a message that names the cause.
 *   - A NULL where an object is required (context, model, params of the
 *     generation calls, output, init image, mask, pixel data) is
 *     SDCL_ERR_INVALID_ARGUMENT, never a crash; NULL parameter structs of
 *     sdcl_ctx_new and sdcl_model_load mean the defaults.
 *   - Objects are opaque and freed with their own *_free function; *_free(NULL)
 *     is a no-op.
 *   - Parameter structs come from *_default_params(); set what you need.
 *   - A context may run one generation at a time; separate contexts are
 *     independent and may run from different threads.
 *   - Images are interleaved float RGB in non-linear sRGB, values in [0, 1],
 *     row-major, top row first.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_H
#define SDCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is exported from libsdcl (built -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* ---- errors ------------------------------------------------------------ */

typedef enum {
  SDCL_OK = 0,
  SDCL_ERR_INVALID_ARGUMENT,  /* a parameter is out of range or inconsistent */
  SDCL_ERR_IO,                /* a file could not be opened, mapped or written */
  SDCL_ERR_MODEL_FORMAT,      /* a model file is corrupt, truncated or malformed */
  SDCL_ERR_UNSUPPORTED_MODEL, /* a well-formed model of a family or kind not supported */
  SDCL_ERR_TOKENIZER,         /* tokenizer files missing or malformed */
  SDCL_ERR_NO_DEVICE,         /* no OpenCL platform/device, or none matches the choice */
  SDCL_ERR_DEVICE,            /* the OpenCL driver failed (build, enqueue, ...) */
  SDCL_ERR_OUT_OF_MEMORY,     /* host or device memory exhausted */
  SDCL_ERR_CANCELLED,         /* the caller's cancel flag or callback stopped the run */
  SDCL_ERR_INTERNAL
} sdcl_status;

typedef struct {
  sdcl_status code;
  char message[1024];
} sdcl_error;

/* A short, stable English name for a status code ("model-format", ...). */
const char *sdcl_status_name (sdcl_status code);

/* ---- devices ----------------------------------------------------------- */

typedef enum {
  SDCL_DEVICE_GPU = 1,
  SDCL_DEVICE_CPU = 2,
  SDCL_DEVICE_ACCELERATOR = 4,
  SDCL_DEVICE_OTHER = 8
} sdcl_device_type;

typedef struct {
  int index;                  /* position in the list, usable as a device choice */
  char name[256];
  char vendor[256];
  char platform[256];
  char version[256];          /* OpenCL version string of the device */
  char driver[256];
  sdcl_device_type type;
  uint64_t global_mem_bytes;
  uint64_t max_alloc_bytes;
  uint64_t local_mem_bytes;
  size_t max_work_group_size;
  int compute_units;
  int float_vector_width;     /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: 16 on AVX-512 CPUs */
} sdcl_device_info;

/* Lists every OpenCL device of every platform.  *out is malloc'ed (free()
 * it); *count is at least 1 with SDCL_OK.  No OpenCL platform, or
 * platforms without a device, give SDCL_ERR_NO_DEVICE with the likely cause
 * (a missing driver; PoCL unable to create its cache folder because HOME
 * cannot be written, with the variable to set). */
sdcl_status sdcl_list_devices (sdcl_device_info **out, int *count, sdcl_error *err);

/* Chooses the GEMM backend of one device, once: tunes CLBlast's Xgemm
 * kernel for it (trying `fraction` of CLBlast's configurations, each a
 * kernel build: SDCL_TUNE_DEFAULT_FRACTION takes a few minutes on a 2-core
 * CPU), measures sdcl's own kernels against CLBlast on
 * Stable-Diffusion-shaped GEMMs and writes the faster backend with the
 * tuned parameters into the device's tuning file in `cache_dir` (NULL:
 * $SDCL_CACHE_DIR, else $XDG_CACHE_HOME/sdcl; "" is refused), which every
 * later context on that device applies.  On devices that run the portable
 * kernels it also stores their fastest tile configurations and whether
 * half math and sub-group reductions beat the plain kernels there (README,
 * `sdcl tune`).  `device` follows
 * sdcl_ctx_params.device.  Progress goes to stderr, the table of figures
 * and the choice to stdout.  Without CLBlast in the build only sdcl's
 * kernels are measured. */
#define SDCL_TUNE_DEFAULT_FRACTION 0.001
sdcl_status sdcl_gemm_tune (const char *device, const char *cache_dir, double fraction,
                            sdcl_error *err);
/* The same with a fraction of the work, for slow devices (a software
 * OpenCL such as Mesa's rusticl) and tests: the smallest GEMM shape, short
 * tile and extension timings (128 tokens, three A/B rounds), and CLBlast
 * measured with its built-in parameters, not tuned.  The file it writes
 * is applied like a full tune's. */
sdcl_status sdcl_gemm_tune_quick (const char *device, const char *cache_dir, sdcl_error *err);

/* ---- context ----------------------------------------------------------- */

typedef struct sdcl_ctx sdcl_ctx;

typedef struct {
  /* NULL or "": the first GPU, else the first device of any type.
   * A decimal number: that index of sdcl_list_devices().
   * Otherwise: the first device whose name contains this text
   * (case-insensitive). */
  const char *device;
  /* Where compiled OpenCL programs are cached.  NULL: $SDCL_CACHE_DIR, else
   * $XDG_CACHE_HOME/sdcl, else ~/.cache/sdcl.  "" disables the cache. */
  const char *cache_dir;
} sdcl_ctx_params;

sdcl_ctx_params sdcl_ctx_default_params (void);
sdcl_status sdcl_ctx_new (const sdcl_ctx_params *params, sdcl_ctx **out, sdcl_error *err);
void sdcl_ctx_free (sdcl_ctx *ctx);
/* The device the context runs on (*out zeroed when ctx is NULL; NULL out:
 * nothing). */
void sdcl_ctx_get_device (const sdcl_ctx *ctx, sdcl_device_info *out);

/* ---- models ------------------------------------------------------------ */

typedef enum {
  SDCL_FAMILY_UNKNOWN = 0,
  SDCL_FAMILY_SD1,
  SDCL_FAMILY_SD2,
  SDCL_FAMILY_SDXL,
  SDCL_FAMILY_SDXL_REFINER
} sdcl_family;

typedef enum {
  SDCL_PREDICTION_EPSILON = 0,
  SDCL_PREDICTION_V,
  SDCL_PREDICTION_SAMPLE
} sdcl_prediction;

/* What sdcl_model_params.prediction asks for.  A diffusers folder says its
 * prediction type in scheduler_config.json, a single file only through the
 * LDM .yaml beside it; without either sdcl uses the family's default
 * (epsilon) and says so in sdcl_model_info.prediction_source. */
typedef enum {
  SDCL_PREDICTION_FROM_MODEL = 0,
  SDCL_PREDICTION_FORCE_EPSILON,
  SDCL_PREDICTION_FORCE_V
} sdcl_prediction_choice;

/* What sdcl_model_params.variant asks for.  SD-Turbo and SDXL-Turbo are
 * distilled for 1-4 steps without guidance; their diffusers folders say so
 * in their configs (512 px, trailing timestep spacing), their single files
 * cannot (same tensors as SD 2.1 base / SDXL base, no scheduler config,
 * and no LDM yaml key for it), so sdcl never guesses it: the caller says
 * it.  docs/diffusion.md §SDXL single files. */
typedef enum {
  SDCL_VARIANT_FROM_MODEL = 0,   /* what the files say */
  /* The family's published Turbo settings over what the files say: native
   * 512 px and trailing timestep spacing; sdcl_gen_model_params then
   * gives Euler, 1 step, guidance 0.  Refused for families without a
   * Turbo model (SD 1.x). */
  SDCL_VARIANT_TURBO
} sdcl_model_variant;

typedef enum {
  SDCL_WEIGHTS_F16 = 0, /* weights stored as half on the device, computed in fp32 */
  SDCL_WEIGHTS_F32,
  /* The matrices of linear layers and convolutions stored as int8 with one
   * scale per output channel (half of F16's bytes), dequantized inside the
   * GEMM kernels, computed in fp32; biases, norms and embeddings stay F16.
   * Images differ from F32 ones by more than F16's do (docs/performance.md
   * §8-bit weights). */
  SDCL_WEIGHTS_Q8
} sdcl_weight_precision;

/* When the networks' weights are on the device.  A run goes through three
 * phases, each needing one network: text encoder -> UNet (the denoising
 * loop) -> VAE decoder (image-to-image and inpainting begin with the VAE
 * encoder).  On CPU devices (PoCL) device memory is host memory, so this
 * decides the process's peak memory. */
typedef enum {
  /* All networks are uploaded by sdcl_model_load and stay until
   * sdcl_model_free: every run starts computing at once.  For hosts that
   * keep a model loaded between runs (the GEGL operations, the GIMP
   * plug-in).  Peak: every network's weights plus the largest phase's
   * activations. */
  SDCL_RESIDENCY_RESIDENT = 0,
  /* sdcl_model_load only maps and validates the files.  Each phase of a
   * run uploads its network from the model file when it begins and
   * frees it when it ends, so a run never holds two networks (the text
   * encoder's output and the latents are all that cross phases).  Within
   * a phase activations are kept small too: the CFG pair goes through the
   * UNet one after the other, and at most 8 MB of idle activation
   * buffers are kept.  Nothing derived from the weights is kept either:
   * the Winograd convolutions' transformed weights (8 times an F16
   * weight's bytes), which resident models keep, are made at every use
   * into one 32 MB buffer.  Images are bit-identical to resident runs.  Peak:
   * the largest single phase (for SD 1.x the UNet's weights plus its
   * batch-1 activations).  Every run pays the uploads (about what a
   * resident load pays once): what the sdcl CLI uses, which makes one
   * image per process anyway. */
  SDCL_RESIDENCY_LEAN,
  /* Lean, and the UNet's deepest level (its last down block and first up
   * block, where most weights meet the fewest pixels) is not kept on the
   * device at all: its layers are uploaded from the file one at a time
   * at every UNet evaluation.  For SD 1.x that keeps 450 MB of F16
   * weights off the device for a few percent more time per step.  For
   * devices whose memory is too small for the UNet; same images. */
  SDCL_RESIDENCY_STREAM
} sdcl_residency;

typedef struct {
  sdcl_weight_precision weights;
  /* A folder with vocab.json and merges.txt.  NULL: the model's own
   * tokenizer/ folder, else the CLIP vocabulary installed with sdcl. */
  const char *tokenizer_dir;
  /* Default SDCL_RESIDENCY_RESIDENT. */
  sdcl_residency residency;
  /* Default SDCL_PREDICTION_FROM_MODEL; the others override whatever the
   * model's files say (a single file's native size follows: SD 2.x v
   * models are 768 px). */
  sdcl_prediction_choice prediction;
  /* Default SDCL_VARIANT_FROM_MODEL. */
  sdcl_model_variant variant;
} sdcl_model_params;

typedef struct {
  sdcl_family family;
  const char *family_name;     /* "SD 1.x", ... */
  const char *layout;          /* "diffusers" or "single-file" */
  int unet_in_channels;        /* 4, or 9 for inpainting models */
  int latent_channels;
  int vae_scale_factor;        /* pixels per latent cell (8 for SD) */
  int native_resolution;       /* pixels, e.g. 512 for SD 1.5 */
  sdcl_prediction prediction;
  /* Where `prediction` comes from: "scheduler config", "yaml" (the LDM
   * config beside a single file), "model parameters" or "family default". */
  const char *prediction_source;
  uint64_t n_parameters;
  uint64_t device_bytes;       /* weight bytes on the device when the info is taken: every
                                * network (and LoRA side paths) when resident, 0 between the runs of a
                                * SDCL_RESIDENCY_LEAN model */
  /* Keys of the model's scheduler_config.json that sdcl ignores,
   * comma-separated, "" when none (owned by the model). */
  const char *scheduler_ignored_keys;
  int n_text_encoders;         /* 1, or 2 for SDXL (CLIP-L and OpenCLIP bigG) */
  int context_dim;             /* width of the states the UNet cross-attends to */
  /* SDXL: a pooled text vector and the image's size/crop ids condition the
   * UNet too */
  bool size_conditioning;
  /* Run with the family's Turbo settings: sdcl_model_params.variant asked
   * for them, or a diffusers folder's configs say Turbo (the family's
   * Turbo size, trailing spacing, epsilon: SD-Turbo's and SDXL-Turbo's
   * releases). */
  bool turbo;
} sdcl_model_info;

typedef struct sdcl_model sdcl_model;

/* `path` is a diffusers folder (with model_index.json or unet/, vae/, ...)
 * or a single .safetensors file in the original LDM layout.  Weights are
 * mapped read-only and uploaded to the context's device.
 *
 * Model files may change on disk while a model is loaded (a user copying
 * another checkpoint over it): nothing a run reads lives in the mapping.
 * A resident model keeps generating from its device copy; whatever still
 * has to be read from a file that was written since the load (a lean or
 * stream model's networks, the VAE encoder that the first image edit
 * builds) fails with SDCL_ERR_IO "the model file changed on disk since it
 * was loaded": free the model and load it again.  A file replaced by a
 * rename (a new file moved over the path) is no change: the loaded one
 * stays readable until sdcl_model_free. */
sdcl_model_params sdcl_model_default_params (void);
sdcl_status sdcl_model_load (sdcl_ctx *ctx, const char *path, const sdcl_model_params *params,
                             sdcl_model **out, sdcl_error *err);
void sdcl_model_free (sdcl_model *model);
/* *out zeroed when model is NULL; NULL out: nothing. */
void sdcl_model_get_info (const sdcl_model *model, sdcl_model_info *out);
/* What sdcl_model_get_info would say of the model at `path`, read from its
 * files without a device or any upload (device_bytes is 0): cheap enough to
 * learn a model's native size before deciding on an image size. */
sdcl_status sdcl_model_probe (const char *path, sdcl_model_info *out, sdcl_error *err);
/* The same with the prediction and variant of `params` applied as
 * sdcl_model_load applies them (NULL: the defaults), so the native size is
 * the one a load with these parameters reports (a Turbo single file's 512,
 * a v single file's 768); errors as sdcl_model_load's. */
sdcl_status sdcl_model_probe_params (const char *path, const sdcl_model_params *params,
                                     sdcl_model_info *out, sdcl_error *err);

/* The demo model that ships with sdcl (a small model trained on coloured
 * shapes, 64x64 pixels), used when the caller names no model.  Looked for in
 * $SDCL_DATA_DIR/models, the installed data folder, then the source tree's
 * data/models (running uninstalled).  Returns a newly allocated folder path
 * (free with g_free() or free()), or NULL with `err` saying where it looked.
 * `inpainting` asks for the 9-channel inpainting variant (the base model
 * when that variant is not installed). */
char *sdcl_default_model_path (bool inpainting, sdcl_error *err);

/* ---- LoRA ----------------------------------------------------------------- */

/* One LoRA of a run (sdcl_gen_params.loras).  Files: kohya / A1111 and
 * LoCon (lora_unet_*, lora_te_*: .lora_down/.lora_up/.alpha), diffusers /
 * PEFT (.lora_A/.lora_B, with or without unet./text_encoder.); LoHa and
 * LoKr are refused naming the format.  README.md §LoRA says how they are
 * applied and what they cost. */
typedef struct {
  const char *path;   /* a .safetensors file */
  float weight;       /* strength: the file's own update times this; 0 leaves it out */
} sdcl_lora;

/* Parses a list of LoRAs written FILE or FILE:WEIGHT (weight 1 when
 * omitted), entries separated by newlines or ';' (the CLI's --lora takes
 * one, the GEGL property a list).  Blank entries are skipped.  *out is one
 * allocation holding the paths too (free() it, or g_free()); *n_out its
 * length (0 and *out NULL for an empty list).  A weight that is no number
 * or outside [-100, 100] is SDCL_ERR_INVALID_ARGUMENT. */
sdcl_status sdcl_lora_list_parse (const char *text, sdcl_lora **out, int *n_out, sdcl_error *err);

/* ---- generation -------------------------------------------------------- */

typedef enum {
  SDCL_SAMPLER_EULER = 0,
  SDCL_SAMPLER_EULER_A,
  SDCL_SAMPLER_DDIM,
  SDCL_SAMPLER_DPMPP_2M,
  SDCL_SAMPLER_LCM,
  SDCL_SAMPLER_DDPM,
  SDCL_SAMPLER_DPMPP_2M_SDE,
  SDCL_SAMPLER_LMS,
  SDCL_SAMPLER_HEUN,
  SDCL_SAMPLER_PNDM,
  SDCL_SAMPLER_DPM2,
  SDCL_SAMPLER_DPM2_A,
  SDCL_SAMPLER_TCD,
  SDCL_SAMPLER_DPMPP_2S_A,
  SDCL_SAMPLER_DPMPP_SDE,
  SDCL_SAMPLER_UNIPC,
  SDCL_SAMPLER_DEIS,
  SDCL_SAMPLER_COUNT
} sdcl_sampler;

/* The samplers, listed from the library so that every front end offers the
 * same ones: values 0 .. sdcl_sampler_count () - 1 are valid. */
int sdcl_sampler_count (void);
/* The name the CLI, the GEGL enum nicks and the GIMP PDB take ("euler",
 * "dpmpp_2m", ...); NULL for an invalid value. */
const char *sdcl_sampler_name (sdcl_sampler sampler);
/* What a user reads ("DPM++ 2M"), in English: a message of the "sdcl"
 * gettext domain, so a front end shows g_dgettext ("sdcl", label).  NULL for
 * an invalid value. */
const char *sdcl_sampler_label (sdcl_sampler sampler);
/* Whether the sampler takes Karras sigma spacing (karras_sigmas below). */
bool sdcl_sampler_has_karras (sdcl_sampler sampler);

/* Where the steps sit on the noise scale (sdcl_gen_params.schedule). */
typedef enum {
  SDCL_SCHEDULE_DEFAULT = 0, /* the model's timestep spacing (Karras where karras_sigmas says) */
  SDCL_SCHEDULE_KARRAS,      /* Karras et al. 2022: sigma^(1/7) evenly spaced */
  SDCL_SCHEDULE_EXPONENTIAL, /* log sigma evenly spaced */
  SDCL_SCHEDULE_TRAILING,    /* "trailing" timestep spacing, ComfyUI's sgm_uniform */
  /* Align Your Steps (Sabour et al. 2024): the published 10-step timesteps
   * of the model family; other step counts interpolate its sigmas
   * log-linearly (as ComfyUI does). */
  SDCL_SCHEDULE_AYS,
  SDCL_SCHEDULE_COUNT
} sdcl_schedule;

/* "default", "karras", "exponential", "trailing", "ays"; NULL if invalid. */
const char *sdcl_schedule_name (sdcl_schedule schedule);
/* The schedules, listed from the library as the samplers are: values
 * 0 .. sdcl_schedule_count () - 1 are valid. */
int sdcl_schedule_count (void);
/* What a user reads ("Align Your Steps"), an English msgid of the "sdcl"
 * domain like sdcl_sampler_label's; NULL for an invalid value. */
const char *sdcl_schedule_label (sdcl_schedule schedule);
/* Parses those names and "sgm_uniform", "align_your_steps"; false if unknown
 * (or NULL). */
bool sdcl_schedule_from_name (const char *name, sdcl_schedule *out);
/* Whether `sampler` takes `schedule` (where diffusers offers it).  Every
 * sampler takes SDCL_SCHEDULE_DEFAULT. */
bool sdcl_sampler_has_schedule (sdcl_sampler sampler, sdcl_schedule schedule);
/* Model evaluations per step (2 for second-order samplers such as Heun);
 * 0 for an invalid value. */
int sdcl_sampler_evals_per_step (sdcl_sampler sampler);
/* Parses the names above (case-insensitive, '-' or ' ' for '_') and common
 * other spellings ("euler_ancestral", "dpm++2m"); false for an unknown name
 * (or NULL). */
bool sdcl_sampler_from_name (const char *name, sdcl_sampler *out);

typedef enum {
  /* Reproduces torch.randn(generator=torch.Generator().manual_seed(seed))
   * on the CPU, so a seed gives diffusers' image. */
  SDCL_RNG_TORCH = 0,
  /* sdcl's own counter-based generator (Philox4x32-10 + Box-Muller, see
   * engine/rng.h): element i of draw k depends only on (seed, k, i). */
  SDCL_RNG_PHILOX
} sdcl_rng;

typedef struct {
  int width, height, channels; /* channels: 3 (RGB), or 1 for masks */
  float *data;                 /* width*height*channels floats */
} sdcl_image;

/* The largest side, in pixels, of any image sdcl takes or makes (output
 * size, init images, masks): hosts can refuse a larger file before
 * decoding it. */
#define SDCL_MAX_SIDE_PIXELS 8192

void sdcl_image_free (sdcl_image *image); /* frees data, not the struct */

/* Called after every denoising step.  `preview` is a cheap RGB rendering of
 * the current x0 estimate when sdcl_gen_params.preview is set, else NULL;
 * it is only valid during the call.  Return false to cancel. */
typedef bool (*sdcl_progress_fn) (int step, int n_steps, const sdcl_image *preview, void *user_data);

/* Limits of sdcl_gen_params checked by every generation call (front ends
 * check their users' values against the same ones). */
#define SDCL_MAX_STEPS 1000
#define SDCL_MAX_SIDE_PIXELS 8192
#define SDCL_MAX_GUIDANCE 100.0
#define SDCL_MAX_MASK_BLUR 1000.0

/* How a prompt's text is read (sdcl_gen_params.prompt_syntax). */
typedef enum {
  /* AUTOMATIC1111's: "(x)" weighs x by 1.1, "((x))" 1.21, "(x:1.3)" 1.3,
   * "[x]" 1/1.1; "\(" "\)" "\[" "\]" are the characters themselves;
   * "BREAK" ends the current 75-token chunk.  A weight multiplies the
   * tokens' encoder states, whose mean is then restored. */
  SDCL_PROMPT_A1111 = 0,
  SDCL_PROMPT_PLAIN        /* the text as it is, every token at weight 1 */
} sdcl_prompt_syntax;

/* Prompts are encoded in chunks of 75 tokens (77 with the start and end
 * tokens), concatenated; a longer prompt than this many chunks is refused. */
#define SDCL_MAX_PROMPT_CHUNKS 64

/* Called with a sentence in English when a run goes on but will likely not
 * do what was asked (see sdcl_gen_params.warning). */
typedef void (*sdcl_warning_fn) (const char *message, void *user_data);

typedef struct {
  const char *prompt;            /* NULL is the empty prompt */
  const char *negative_prompt;   /* NULL is the empty prompt */
  int width, height;             /* pixels, multiples of the VAE scale factor; 0: native */
  int steps;
  float guidance;                /* classifier-free guidance scale; <= 1 disables CFG */
  sdcl_sampler sampler;
  bool karras_sigmas;            /* Karras sigma spacing where sdcl_sampler_has_karras; others ignore it */
  /* Not SDCL_SCHEDULE_DEFAULT: this schedule, which the sampler must take
   * (sdcl_sampler_has_schedule); karras_sigmas is then ignored. */
  sdcl_schedule schedule;
  uint64_t seed;
  sdcl_rng rng;
  int clip_skip;                 /* 0/1: last layer; k: k-th layer from the end (prompt only) */
  sdcl_prompt_syntax prompt_syntax;  /* default SDCL_PROMPT_A1111 */
  /* Textual-inversion embeddings: n_embeddings .safetensors files (A1111's
   * "emb_params", SDXL's "clip_l"/"clip_g", diffusers' learned_embeds).
   * Each one's name is its file name without the extension; that name in
   * the prompt or negative prompt stands for the embedding's vectors. */
  const char *const *embeddings;
  int n_embeddings;
  float eta;                     /* DDIM eta; TCD gamma (0 .. 1) */

  sdcl_progress_fn progress;
  void *user_data;
  bool preview;
  /* Polled between kernels; set to non-zero from any thread to cancel. */
  const volatile int *cancel;

  /* Test hook: when not NULL, the initial noise (latent_channels x h/f x w/f
   * floats, f the VAE scale factor) replaces the first RNG draw.  In
   * img2img/inpainting it replaces the forward-noising draw (the posterior
   * samples of the VAE encoder still come from the generator). */
  const float *initial_noise;

  /* Image-to-image and inpainting. */
  /* 0..1: the last int(steps * strength) steps of the schedule run, from
   * the input forward-noised to that level (diffusers' rule); when that is
   * 0 steps (strength 0, or < 1/steps) the input is returned unchanged. */
  float strength;
  /* Inpainting: standard deviation, in pixels, of the Gaussian that
   * feathers the mask for the final compositing (0: hard edge).  It does
   * not change what the model sees. */
  float mask_blur;
  /* Inpainting: work on the (blurred) mask's bounding box only, grown by
   * mask_padding pixels on each side and then to the aspect ratio of
   * width x height (0: the model's native resolution), at which size the
   * crop is generated and then pasted back.  Sharper results for small
   * masks on large images.  mask_padding must be >= 0; any value beyond
   * the image's longer side gives the whole image (INT_MAX included). */
  bool only_masked;
  int mask_padding;

  /* VAE decode and encode in tiles of this many pixels per side, so that
   * their device memory grows with the tile rather than the image (large
   * images, small devices).  The result is the untiled one up to float
   * rounding, without seams: each layer runs tile by tile over the whole
   * image and GroupNorm statistics stay image-wide (engine/vae_tiled.c);
   * the cost is host memory for the feature maps and transfer time.
   * 0: automatic — untiled when the device has room for it, else the
   * largest tile that fits.  > 0: at most this tile.  Either way a pass
   * that runs out of device memory is retried with tiles half as large,
   * down to 32 pixels, before failing with the sizes needed and
   * available.  -1: never tile. */
  int vae_tile;

  /* Seamless textures: every convolution of the UNet and of the VAE (the
   * decoder, and the encoder of img2img and inpainting) pads circularly,
   * as a network whose convolutions use PyTorch's padding_mode "circular":
   * the networks see the image as wrapping around at its edges, so the
   * result tiles (placed next to itself, it shows no seam).  The VAE then
   * runs untiled: vae_tile 0 reads as -1, and a vae_tile > 0 is refused
   * (the tiled VAE pads its windows with zeros).  false: zero padding, the
   * result bit for bit what it was before this field. */
  bool tiling;

  /* When not NULL, called (with user_data) as a run finds that its result
   * will not be what the caller likely meant; the run goes on.  So far:
   * an inpainting mask that is empty, or that mask_blur spreads so thin
   * that its largest value is under 1/255 (black in 8 bits): the result is
   * then the input, or nearly. */
  sdcl_warning_fn warning;

  /* LoRAs for this run, each with its weight (n_loras entries; NULL/0:
   * none), plus any <lora:NAME:WEIGHT> tags of the prompts, which are
   * taken out of the text the encoder sees and name NAME.safetensors in
   * lora_dir (NULL: the folder "Lora" beside the model, i.e. in the folder
   * that holds the model's file or folder).  A model kept loaded reads
   * and uploads a LoRA when a run's list changes and reuses it while the
   * list stays; a run without LoRAs gives exactly the image of a model
   * that never had one. */
  const sdcl_lora *loras;
  int n_loras;
  const char *lora_dir;
} sdcl_gen_params;

sdcl_gen_params sdcl_gen_default_params (void);
/* sdcl_gen_default_params with what the model's variant publishes: for a
 * Turbo model (sdcl_model_info.turbo) Euler on the model's (trailing)
 * spacing, 1 step, guidance 0.  For image to image and inpainting, Turbo
 * needs steps x strength >= 1 (diffusers' rule: else no step runs). */
sdcl_gen_params sdcl_gen_model_params (const sdcl_model *model);

/* Text to image.  On success *out holds a newly allocated image of
 * width x height (free with sdcl_image_free). */
sdcl_status sdcl_txt2img (sdcl_model *model, const sdcl_gen_params *params, sdcl_image *out,
                          sdcl_error *err);

/* Image to image (diffusers' img2img): `init` (RGB, any size) is encoded
 * to the VAE posterior sample, forward-noised to the step that `strength`
 * selects, and only the remaining steps run.  width/height in params are
 * ignored: the input is resized (Lanczos-3) down to a multiple of the VAE
 * scale factor, as diffusers does, and the result resized back to the
 * input's size.  strength 0 returns a copy of the input.  With the torch
 * generator a seed gives diffusers' image.  A 9-channel inpainting model
 * is refused (use sdcl_inpaint). */
sdcl_status sdcl_img2img (sdcl_model *model, const sdcl_gen_params *params, const sdcl_image *init,
                          sdcl_image *out, sdcl_error *err);

/* Inpainting: `mask` (channels 1, same size as init, values in [0, 1];
 * 1 = repaint, 0 = keep) selects what changes.  Works with regular
 * 4-channel models (masked reverse steps) and 9-channel inpainting models;
 * with a binary mask and the torch generator a seed gives diffusers'
 * StableDiffusionInpaintPipeline image inside the mask.
 *
 * Grey levels are per-pixel strength s (differential diffusion): each
 * latent cell reads s at its top-left pixel, and after the k-th of the n
 * steps run it is reset to the input's latents re-noised to the current
 * level unless s > 1 - k/n.  So s = 1 repaints freely, s = 0 keeps, and
 * s = 0.5 is released halfway, as img2img at strength 0.5 would be.
 * 9-channel models are conditioned on the mask thresholded at 0.5 (as they
 * were trained) and apply the rule to grey cells only.
 *
 * The result is composited in linear light over the input with the mask
 * blurred by mask_blur: pixels where the blurred mask is 0 are returned
 * bit-identical to the input, where it is 1 they are the generated ones.
 * Without only_masked the image is processed at its size floored to a
 * multiple of the VAE scale factor (width/height ignored), as img2img. */
sdcl_status sdcl_inpaint (sdcl_model *model, const sdcl_gen_params *params, const sdcl_image *init,
                          const sdcl_image *mask, sdcl_image *out, sdcl_error *err);

/* Outpainting's pre-fill: gives every pixel of `image` (RGB) that `known`
 * (channels 1, same size, 0..1, e.g. the layer's alpha) does not mark as
 * known a colour from the known pixels around it — the nearest ones,
 * blurred the more the farther they are — so that the VAE encoder of the
 * sdcl_inpaint run that follows (with mask 1 - known) sees no hard edge
 * where the picture ends.  Pixels with known 1 are left bit for bit; a
 * partly known pixel (0 < k < 1) becomes k * itself + (1 - k) * the fill.
 * SDCL_ERR_INVALID_ARGUMENT when no pixel is known or the sizes differ. */
sdcl_status sdcl_image_fill_unknown (sdcl_image *image, const sdcl_image *known, sdcl_error *err);

/* ---- misc -------------------------------------------------------------- */

const char *sdcl_version (void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* SDCL_H */

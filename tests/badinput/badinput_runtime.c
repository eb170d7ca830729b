/* Bad-input cases of issue 22 (rows in bad-inputs.tsv): sizes from user
 * values that overflowed, NULL arguments to every public entry point,
 * model files truncated, rewritten or replaced while a model is loaded,
 * and errors that must stop the device work promptly.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"
#include "badinput.h"
#include "check.h"
#include "clrt_internal.h"
#include "pipeline_internal.h"

/* ---- sizes ------------------------------------------------------------- */

/* Only-masked inpainting of a 32x32 image whose mask is a 4x4 square. */
static void
padding_case (const char *id, int padding)
{
  sdcl_image init = pattern_image (32, 32), mask = flat_image (32, 32, 1, 0.0f), out = { 0 };
  for (int y = 12; y < 16; y++)
    for (int x = 12; x < 16; x++)
      mask.data[y * 32 + x] = 1.0f;
  sdcl_gen_params p = small ();
  p.only_masked = true;
  p.mask_padding = padding;
  p.mask_blur = 0.0f;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_inpaint (tiny, &p, &init, &mask, &out, &err);
  expect_api (id, st, &err);
  if (st == SDCL_OK)
    CHECK (out.width == 32 && out.height == 32 && out.channels == 3, "%s: a 32x32 RGB image", id);
  sdcl_image_free (&init);
  sdcl_image_free (&mask);
  sdcl_image_free (&out);
}

static void
test_sizes (void)
{
  padding_case ("padding_int_max", INT_MAX);
  padding_case ("padding_half_int_max", INT_MAX / 2);
  padding_case ("padding_negative", -5);

  sdcl_gen_params p = small ();
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  p.width = INT_MAX;
  expect_api ("width_int_max", sdcl_txt2img (tiny, &p, &out, &err), &err);

  /* An init image claiming INT_MAX columns over a 3-float buffer: refused
   * from its declared size, before any pixel is read. */
  float pixel[3] = { 0.5f, 0.5f, 0.5f };
  sdcl_image huge = { INT_MAX, 1, 3, pixel };
  p = small ();
  expect_api ("init_width_int_max", sdcl_img2img (tiny, &p, &huge, &out, &err), &err);

  sdcl_image init = pattern_image (32, 32), mask = flat_image (32, 32, 1, 1.0f);
  p.only_masked = true;
  p.width = INT_MAX;
  expect_api ("only_masked_width_int_max", sdcl_inpaint (tiny, &p, &init, &mask, &out, &err),
              &err);
  sdcl_image_free (&init);
  sdcl_image_free (&mask);
}

/* ---- NULL arguments ----------------------------------------------------- */

typedef enum {
  TXT_MODEL, TXT_PARAMS, TXT_OUT,
  IMG_MODEL, IMG_PARAMS, IMG_INIT, IMG_INIT_DATA, IMG_OUT,
  INP_MODEL, INP_PARAMS, INP_INIT, INP_MASK, INP_MASK_DATA, INP_OUT,
  LOAD_CTX, LOAD_PATH, LOAD_OUT, CTX_OUT, DEVICES_OUT
} null_arg;

static const struct {
  const char *id;
  null_arg which;
} null_cases[] = {
  { "null_txt2img_model", TXT_MODEL }, { "null_txt2img_params", TXT_PARAMS },
  { "null_txt2img_out", TXT_OUT }, { "null_img2img_model", IMG_MODEL },
  { "null_img2img_params", IMG_PARAMS }, { "null_img2img_init", IMG_INIT },
  { "null_img2img_init_data", IMG_INIT_DATA }, { "null_img2img_out", IMG_OUT },
  { "null_inpaint_model", INP_MODEL }, { "null_inpaint_params", INP_PARAMS },
  { "null_inpaint_init", INP_INIT }, { "null_inpaint_mask", INP_MASK },
  { "null_inpaint_mask_data", INP_MASK_DATA }, { "null_inpaint_out", INP_OUT },
  { "null_model_load_ctx", LOAD_CTX }, { "null_model_load_path", LOAD_PATH },
  { "null_model_load_out", LOAD_OUT }, { "null_ctx_new_out", CTX_OUT },
  { "null_list_devices_out", DEVICES_OUT },
};

/* Calls the entry point with exactly one required pointer NULL. */
static sdcl_status
call_with_null (null_arg a, sdcl_error *err)
{
  sdcl_gen_params gp = small ();
  sdcl_image init = flat_image (32, 32, 3, 0.5f), mask = flat_image (32, 32, 1, 1.0f), out = { 0 };
  sdcl_image no_data = { 32, 32, 3, NULL }, no_mask_data = { 32, 32, 1, NULL };
  sdcl_model *m = NULL;
  sdcl_ctx *c = NULL;
  int count = 0;
  char *path = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  sdcl_status st = SDCL_ERR_INTERNAL;
  switch (a)
    {
    case TXT_MODEL: st = sdcl_txt2img (NULL, &gp, &out, err); break;
    case TXT_PARAMS: st = sdcl_txt2img (tiny, NULL, &out, err); break;
    case TXT_OUT: st = sdcl_txt2img (tiny, &gp, NULL, err); break;
    case IMG_MODEL: st = sdcl_img2img (NULL, &gp, &init, &out, err); break;
    case IMG_PARAMS: st = sdcl_img2img (tiny, NULL, &init, &out, err); break;
    case IMG_INIT: st = sdcl_img2img (tiny, &gp, NULL, &out, err); break;
    case IMG_INIT_DATA: st = sdcl_img2img (tiny, &gp, &no_data, &out, err); break;
    case IMG_OUT: st = sdcl_img2img (tiny, &gp, &init, NULL, err); break;
    case INP_MODEL: st = sdcl_inpaint (NULL, &gp, &init, &mask, &out, err); break;
    case INP_PARAMS: st = sdcl_inpaint (tiny, NULL, &init, &mask, &out, err); break;
    case INP_INIT: st = sdcl_inpaint (tiny, &gp, NULL, &mask, &out, err); break;
    case INP_MASK: st = sdcl_inpaint (tiny, &gp, &init, NULL, &out, err); break;
    case INP_MASK_DATA: st = sdcl_inpaint (tiny, &gp, &init, &no_mask_data, &out, err); break;
    case INP_OUT: st = sdcl_inpaint (tiny, &gp, &init, &mask, NULL, err); break;
    case LOAD_CTX: st = sdcl_model_load (NULL, path, NULL, &m, err); break;
    case LOAD_PATH: st = sdcl_model_load (ctx, NULL, NULL, &m, err); break;
    case LOAD_OUT: st = sdcl_model_load (ctx, path, NULL, NULL, err); break;
    case CTX_OUT: st = sdcl_ctx_new (NULL, NULL, err); break;
    case DEVICES_OUT: st = sdcl_list_devices (NULL, &count, err); break;
    }
  CHECK (out.data == NULL && m == NULL && c == NULL, "nothing is returned with a NULL argument");
  sdcl_image_free (&init);
  sdcl_image_free (&mask);
  g_free (path);
  return st;
}

static void
test_null_arguments (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (null_cases); i++)
    {
      sdcl_error err = { 0 };
      sdcl_status st = call_with_null (null_cases[i].which, &err);
      expect_api (null_cases[i].id, st, &err);
    }
  /* The calls without a status: NULL objects give zeroed results, NULL
   * outputs nothing, and neither crashes. */
  sdcl_device_info dev;
  memset (&dev, 0xff, sizeof dev);
  sdcl_ctx_get_device (NULL, &dev);
  sdcl_ctx_get_device (ctx, NULL);
  sdcl_model_info info;
  memset (&info, 0xff, sizeof info);
  sdcl_model_get_info (NULL, &info);
  sdcl_model_get_info (tiny, NULL);
  sdcl_sampler sampler = SDCL_SAMPLER_DDIM;
  bool parsed = sdcl_sampler_from_name ("euler", NULL) || sdcl_sampler_from_name (NULL, &sampler);
  sdcl_error err = { 0 };
  sdcl_status st = dev.name[0] == '\0' && info.family_name == NULL && !parsed
                       && sampler == SDCL_SAMPLER_DDIM
                       ? SDCL_OK
                       : sdcl_fail (&err, SDCL_ERR_INTERNAL, "a getter left garbage");
  expect_api ("null_getters", st, &err);
}

/* ---- model files that change after the load ---------------------------- */

/* `cp other file` onto an existing file: truncated and rewritten in place
 * (same inode), here cut to `keep` of its bytes. */
static void
rewrite_in_place (const char *path, double keep)
{
  char *data;
  gsize len;
  CHECK (g_file_get_contents (path, &data, &len, NULL), "read %s", path);
  int fd = open (path, O_WRONLY | O_TRUNC);
  CHECK (fd >= 0, "open %s", path);
  gsize n = (gsize) (len * keep);
  CHECK (write (fd, data, n) == (ssize_t) n, "write %s", path);
  /* The same bytes written back within the file system's timestamp tick
   * would look unchanged; a real copy comes later than the load. */
  struct timespec times[2] = { { 0, UTIME_OMIT }, { time (NULL) + 5, 0 } };
  CHECK (futimens (fd, times) == 0, "futimens %s", path);
  close (fd);
  g_free (data);
}

/* A copy written beside the file and renamed over it (mv, downloaders,
 * editors): a new inode; the loaded model keeps the old one. */
static void
replace_by_rename (const char *path)
{
  char *data, *tmp = g_strconcat (path, ".new", NULL);
  gsize len;
  CHECK (g_file_get_contents (path, &data, &len, NULL), "read %s", path);
  CHECK (g_file_set_contents (tmp, data, (gssize) len / 2, NULL), "write %s", tmp);
  CHECK (g_rename (tmp, path) == 0, "rename %s", tmp);
  g_free (data);
  g_free (tmp);
}

typedef void (*change_fn) (const char *path);

static void truncate_half (const char *path) { rewrite_in_place (path, 0.5); }
static void rewrite_same (const char *path) { rewrite_in_place (path, 1.0); }

/* Loads a fresh copy of the tiny model, makes one image, changes `file`,
 * then runs again (img2img when `edit`): the row's result; a successful
 * run must give the first image again. */
static void
changed_file_case (const char *id, sdcl_residency residency, const char *file, change_fn change,
                   bool edit)
{
  char *src = g_build_filename (fixtures, "models", "tiny-sd", NULL);
  char *dir = tmp_path (id);
  copy_tree (src, dir);
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.residency = residency;
  sdcl_model *m = NULL;
  sdcl_error err = { 0 };
  sdcl_gen_params p = small ();
  sdcl_image init = pattern_image (32, 32), first = { 0 }, again = { 0 };
  CHECK (sdcl_model_load (ctx, dir, &mp, &m, &err) == SDCL_OK, "%s: load: %s", id, err.message);
  sdcl_status st = m ? sdcl_txt2img (m, &p, &first, &err) : SDCL_ERR_INTERNAL;
  CHECK (st == SDCL_OK, "%s: first run: %s", id, err.message);
  char *path = g_build_filename (dir, file, NULL);
  change (path);
  if (m && st == SDCL_OK)
    {
      st = edit ? sdcl_img2img (m, &p, &init, &again, &err) : sdcl_txt2img (m, &p, &again, &err);
      expect_api (id, st, &err);
      if (st == SDCL_OK && !edit)
        CHECK_CLOSE (id, again.data, first.data, 32L * 32 * 3, 0.0, 0.0);
      /* The model stays usable for what it holds (resident) or fails the
       * same way again: never a crash. */
      sdcl_image_free (&again);
      sdcl_status st2 = sdcl_txt2img (m, &p, &again, &err);
      CHECK (st2 == SDCL_OK || strstr (err.message, "changed on disk") != NULL,
             "%s: second run after the change: %s", id, err.message);
    }
  sdcl_model_free (m);
  sdcl_image_free (&init);
  sdcl_image_free (&first);
  sdcl_image_free (&again);
  g_free (path);
  g_free (dir);
  g_free (src);
}

static void
test_changed_files (void)
{
  const char *unet = "unet/diffusion_pytorch_model.safetensors";
  const char *vae = "vae/diffusion_pytorch_model.safetensors";
  changed_file_case ("file_truncated_resident", SDCL_RESIDENCY_RESIDENT, "text_encoder/model.safetensors",
                     truncate_half, false);
  changed_file_case ("file_truncated_resident_encoder", SDCL_RESIDENCY_RESIDENT, vae, truncate_half,
                     true);
  changed_file_case ("file_truncated_lean", SDCL_RESIDENCY_LEAN, unet, truncate_half, false);
  changed_file_case ("file_truncated_stream", SDCL_RESIDENCY_STREAM, unet, truncate_half, false);
  changed_file_case ("file_rewritten_lean", SDCL_RESIDENCY_LEAN, unet, rewrite_same, false);
  changed_file_case ("file_renamed_lean", SDCL_RESIDENCY_LEAN, unet, replace_by_rename, false);
}

/* ---- errors stop the work promptly ------------------------------------- */

static void
note_phase (const char *phase, void *user)
{
  if (g_str_has_prefix (phase, "denoising"))
    *(bool *) user = true;
}

static void
test_prompt_stop (void)
{
  /* 128x128: the UNet's GEGLU input at the finest level is 2 x 256 x 256
   * floats (512 KiB), over a 256 KiB per-buffer limit: refused before any
   * denoising step is queued. */
  sdcl_gen_params p = small ();
  p.width = p.height = 128;
  bool denoised = false;
  sdcl_image out = { 0 };
  sdcl_error err = { 0 };
  sdcl_cl_pool_trim (ctx->cl);
  sdcl_cl_set_max_alloc_for_testing (ctx->cl, 256 << 10);
  sdcl_set_phase_hook_for_testing (note_phase, &denoised);
  sdcl_status st = sdcl_txt2img (tiny, &p, &out, &err);
  sdcl_set_phase_hook_for_testing (NULL, NULL);
  sdcl_cl_set_max_alloc_for_testing (ctx->cl, 0);
  expect_api ("unet_buffer_too_large", st, &err);
  CHECK (!denoised, "no denoising step began");
  sdcl_image_free (&out);

  /* The host never gets more than two pacing rounds ahead of the device:
   * what an error or a cancel leaves queued. */
  p = small ();
  sdcl_cl_finish (ctx->cl);
  sdcl_cl_reset_in_flight_peak (ctx->cl);
  st = sdcl_txt2img (tiny, &p, &out, &err);
  uint64_t peak = sdcl_cl_in_flight_peak (ctx->cl);
  if (st == SDCL_OK && (peak == 0 || peak > 2 * SDCL_CL_PACE_LAUNCHES))
    st = sdcl_fail (&err, SDCL_ERR_INTERNAL, "%" G_GUINT64_FORMAT " launches were in flight at "
                    "once (bound %d)", peak, 2 * SDCL_CL_PACE_LAUNCHES);
  expect_api ("queue_bounded", st, &err);
  sdcl_image_free (&out);
}

int
test_runtime (void)
{
  int before = check_failures;
  test_sizes ();
  test_null_arguments ();
  test_changed_files ();
  test_prompt_stop ();
  return check_failures - before;
}

int
test_runtime_cli (void)
{
  int before = check_failures;
  /* The demo model at 2048x2048 under PoCL's 1 GiB limit: refused at
   * once (it used to fail mid-UNet and then drain minutes of queued
   * attention in sdcl_ctx_free, deaf to Ctrl-C). */
  char *oom_env[] = { "POCL_MEMORY_LIMIT", "1", NULL };
  cli_case ("cli_oom_2048", oom_env,
            (const char *[]) { "txt2img", "-W", "2048", "-H", "2048", "-p", "x", "-o", "o.png",
                               NULL });
  return check_failures - before;
}

/* Model residency (sdcl_model_params.residency) on a tiny model: the
 * fixture folder given as the argument (default models/tiny-sd; meson also
 * runs it on models/tiny-sd2-v, SD 2.x with v prediction):
 *
 *   - a lean model gives bit-identical images to a resident one (txt2img,
 *     img2img, inpainting), also on a second run, and so does a streaming
 *     one (SDCL_RESIDENCY_STREAM);
 *   - a streaming model keeps the UNet's deepest blocks off the device
 *     between evaluations and uploads them again at every step (a lean one
 *     uploads nothing during the loop);
 *   - a lean model really holds no weights between runs and only the UNet
 *     during the denoising loop (device bytes counted by the runtime), and
 *     the activation pool is emptied between phases in both modes;
 *   - loading drops the mapped checkpoint pages from the process once the
 *     weights are scanned/uploaded;
 *   - an unknown residency is refused.
 */
#include <string.h>

#include "api_internal.h"
#include "check.h"
#include "golden.h"

typedef struct {
  sdcl_model *m;
  sdcl_cl *cl;
  uint64_t others;   /* weight bytes of the other (resident) model */
  uint64_t smallest; /* the smaller of the text encoder's and the VAE's bytes */
  uint64_t full_unet; /* the resident model's UNet bytes */
  uint64_t uploads;   /* weight uploads counted at the previous call */
  int calls;
} probe;

/* Called after every step, inside the UNet phase. */
static bool
during_loop (int step, int n, const sdcl_image *preview, void *user)
{
  (void) step, (void) n, (void) preview;
  probe *p = user;
  p->calls++;
  const sdcl_model *m = p->m;
  uint64_t unet = sdcl_unet_device_bytes (m->unet);
  CHECK (m->unet && unet > 0, "UNet not on the device during the loop");
  uint64_t uploads = sdcl_cl_weight_uploads (p->cl);
  if (p->uploads && m->residency == SDCL_RESIDENCY_STREAM)
    CHECK (uploads > p->uploads, "stream: no weight uploaded during step %d", step);
  else if (p->uploads)
    CHECK (uploads == p->uploads, "%llu weights uploaded during step %d",
           (unsigned long long) (uploads - p->uploads), step);
  p->uploads = uploads;
  if (m->residency == SDCL_RESIDENCY_STREAM)
    {
      /* The deepest level holds a good part of the weights (a third for
       * SD 1.5, about a quarter for the tiny model). */
      uint64_t w = sdcl_cl_weight_bytes (p->cl) - p->others;
      CHECK (unet < p->full_unet * 9 / 10 && w < p->full_unet * 9 / 10,
             "stream: UNet %llu bytes, %llu weight bytes on the device between steps; the whole "
             "UNet has %llu", (unsigned long long) unet, (unsigned long long) w,
             (unsigned long long) p->full_unet);
      return true;
    }
  if (m->residency == SDCL_RESIDENCY_LEAN)
    {
      CHECK (!m->clip && !m->vae, "lean: text encoder %p / VAE %p on the device during the loop",
             (void *) m->clip, (void *) m->vae);
      /* What the runtime counts includes panel padding, which the
       * networks' own counts leave out; either other network is larger. */
      uint64_t w = sdcl_cl_weight_bytes (p->cl) - p->others;
      CHECK (w >= unet && w < unet + p->smallest,
             "lean: %llu weight bytes on the device in the loop besides the other model's; the UNet "
             "has %llu, the smallest other network %llu", (unsigned long long) w,
             (unsigned long long) unet, (unsigned long long) p->smallest);
    }
  return true;
}

static sdcl_model *
load (sdcl_ctx *ctx, const char *path, sdcl_residency residency)
{
  sdcl_model_params mp = sdcl_model_default_params ();
  mp.residency = residency;
  return fixture_model_load (ctx, path, &mp);
}

static bool
same_image (const sdcl_image *a, const sdcl_image *b)
{
  return a->width == b->width && a->height == b->height && a->channels == b->channels
         && a->data && b->data
         && memcmp (a->data, b->data, sizeof (float) * a->width * a->height * a->channels) == 0;
}

/* Kilobytes of this process's resident pages mapped from files whose path
 * contains `part` (from /proc/self/smaps). */
static long
mapped_rss_kb (const char *part, long *size_kb)
{
  char *text = NULL;
  long rss = 0, size = 0;
  if (!g_file_get_contents ("/proc/self/smaps", &text, NULL, NULL))
    return -1;
  bool in = false;
  for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n"))
    {
      /* A mapping's header: "start-end perms offset dev inode path". */
      size_t hex = strspn (line, "0123456789abcdef");
      if (hex > 0 && line[hex] == '-')
        {
          in = strstr (line, part) != NULL;
          continue;
        }
      long v;
      if (in && sscanf (line, "Rss: %ld kB", &v) == 1)
        rss += v;
      if (in && sscanf (line, "Size: %ld kB", &v) == 1)
        size += v;
    }
  g_free (text);
  *size_kb = size;
  return rss;
}

typedef enum { TXT2IMG, IMG2IMG, INPAINT } mode;

static sdcl_status
generate (sdcl_model *m, mode md, probe *pr, const sdcl_image *init, const sdcl_image *mask,
          sdcl_image *out)
{
  sdcl_gen_params p = sdcl_gen_default_params ();
  p.prompt = "a red circle";
  p.negative_prompt = "blurry";
  p.width = p.height = 64;
  p.steps = 3;
  p.sampler = SDCL_SAMPLER_EULER_A;   /* per-step noise: the RNG stream must match too */
  p.seed = 42;
  p.strength = 0.7f;
  p.progress = during_loop;
  p.user_data = pr;
  pr->uploads = 0;   /* the first call of a run has nothing to compare with */
  sdcl_error err = { 0 };
  sdcl_status st = md == TXT2IMG   ? sdcl_txt2img (m, &p, out, &err)
                   : md == IMG2IMG ? sdcl_img2img (m, &p, init, out, &err)
                                   : sdcl_inpaint (m, &p, init, mask, out, &err);
  CHECK (st == SDCL_OK, "mode %d: %s", (int) md, err.message);
  return st;
}

int
main (int argc, char **argv)
{
  g_autofree char *path = fixture_path (argc > 1 ? argv[1] : "models/tiny-sd");
  sdcl_ctx *ctx = NULL;
  sdcl_error err = { 0 };
  if (sdcl_ctx_new (NULL, &ctx, &err) != SDCL_OK)
    {
      fprintf (stderr, "skipping: %s\n", err.message);
      return 77;
    }
  sdcl_cl *cl = ctx->cl;

  /* An unknown residency is refused. */
  {
    sdcl_model_params mp = sdcl_model_default_params ();
    CHECK (mp.residency == SDCL_RESIDENCY_RESIDENT, "default residency %d", (int) mp.residency);
    mp.residency = (sdcl_residency) 7;
    sdcl_model *m = NULL;
    CHECK (sdcl_model_load (ctx, path, &mp, &m, &err) == SDCL_ERR_INVALID_ARGUMENT && !m,
           "residency 7 accepted");
  }

  sdcl_model *res = load (ctx, path, SDCL_RESIDENCY_RESIDENT);
  sdcl_model_info info;
  sdcl_model_get_info (res, &info);
  const uint64_t resident_bytes = sdcl_cl_weight_bytes (cl);
  CHECK (info.device_bytes > 0 && resident_bytes >= info.device_bytes,
         "resident model: info %llu bytes, runtime counts %llu", (unsigned long long) info.device_bytes,
         (unsigned long long) resident_bytes);

  /* The mapped weights do not stay resident after the load's scan and
   * upload (only the headers, parsed at open, and a few pages around).
   * "tiny-sd" is in the real path of every fixture model's files. */
  long size_kb = 0, rss_kb = mapped_rss_kb ("tiny-sd", &size_kb);
  fprintf (stderr, "mapped files of the model: %ld kB resident of %ld kB\n", rss_kb, size_kb);
  CHECK (size_kb > 0 && rss_kb >= 0 && rss_kb * 4 < size_kb,
         "%ld of %ld kB of the mapped checkpoint still resident after the load", rss_kb, size_kb);

  sdcl_model *lean = load (ctx, path, SDCL_RESIDENCY_LEAN);
  sdcl_model_get_info (lean, &info);
  CHECK (sdcl_cl_weight_bytes (cl) == resident_bytes && info.device_bytes == 0,
         "lean load uploaded %llu bytes (info %llu)",
         (unsigned long long) (sdcl_cl_weight_bytes (cl) - resident_bytes),
         (unsigned long long) info.device_bytes);
  sdcl_model *stream = load (ctx, path, SDCL_RESIDENCY_STREAM);
  CHECK (sdcl_cl_weight_bytes (cl) == resident_bytes, "stream load uploaded %llu bytes",
         (unsigned long long) (sdcl_cl_weight_bytes (cl) - resident_bytes));

  /* A synthetic init image and a soft mask. */
  sdcl_image init = { 64, 64, 3, g_new (float, 64 * 64 * 3) };
  sdcl_image mask = { 64, 64, 1, g_new (float, 64 * 64) };
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++)
      {
        for (int c = 0; c < 3; c++)
          init.data[(y * 64 + x) * 3 + c] = (float) ((x * (c + 1) + y * 3) % 64) / 63.0f;
        float dx = x - 32.0f, dy = y - 30.0f;
        mask.data[y * 64 + x] = dx * dx + dy * dy < 200 ? 1.0f : dx * dx + dy * dy < 400 ? 0.5f : 0.0f;
      }

  const char *names[] = { "txt2img", "img2img", "inpaint" };
  for (int md = TXT2IMG; md <= INPAINT; md++)
    {
      sdcl_image a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
      probe pr_res = { .m = res, .cl = cl };
      uint64_t clip = sdcl_clip_device_bytes (res->clip), vae = sdcl_vae_device_bytes (res->vae);
      probe pr_lean = { .m = lean, .cl = cl, .smallest = MIN (clip, vae) };
      uint64_t before = sdcl_cl_weight_bytes (cl);
      generate (res, (mode) md, &pr_res, &init, &mask, &a);
      /* Resident: the encoder joins the VAE on the first edit run, so the
       * bytes may grow then; they never shrink. */
      CHECK (sdcl_cl_weight_bytes (cl) >= before, "%s: the resident model lost weights", names[md]);
      CHECK (sdcl_cl_pool_bytes (cl) == 0, "%s: %llu pooled bytes left after a resident run",
             names[md], (unsigned long long) sdcl_cl_pool_bytes (cl));
      pr_lean.others = sdcl_cl_weight_bytes (cl);
      generate (lean, (mode) md, &pr_lean, &init, &mask, &b);
      generate (lean, (mode) md, &pr_lean, &init, &mask, &c);
      CHECK (pr_res.calls > 0 && pr_lean.calls == 2 * pr_res.calls, "%s: %d / %d progress calls",
             names[md], pr_res.calls, pr_lean.calls);
      CHECK (same_image (&a, &b), "%s: lean image differs from the resident one", names[md]);
      CHECK (same_image (&b, &c), "%s: second lean run differs from the first", names[md]);
      probe pr_stream = { .m = stream, .cl = cl, .others = pr_lean.others,
                          .full_unet = sdcl_unet_device_bytes (res->unet) };
      generate (stream, (mode) md, &pr_stream, &init, &mask, &d);
      CHECK (pr_stream.calls == pr_res.calls, "%s: %d stream progress calls", names[md],
             pr_stream.calls);
      CHECK (same_image (&a, &d), "%s: streaming image differs from the resident one", names[md]);
      CHECK (!stream->unet && sdcl_cl_weight_bytes (cl) == pr_lean.others,
             "%s: the streaming model keeps weights after the run", names[md]);
      sdcl_model_get_info (lean, &info);
      CHECK (!lean->clip && !lean->unet && !lean->vae && info.device_bytes == 0,
             "%s: the lean model keeps networks after the run", names[md]);
      CHECK (sdcl_cl_weight_bytes (cl) == pr_lean.others,
             "%s: %llu weight bytes after the lean runs, %llu before", names[md],
             (unsigned long long) sdcl_cl_weight_bytes (cl), (unsigned long long) pr_lean.others);
      CHECK (sdcl_cl_pool_bytes (cl) == 0, "%s: %llu pooled bytes left after a lean run",
             names[md], (unsigned long long) sdcl_cl_pool_bytes (cl));
      fprintf (stderr, "%s: lean == stream == resident, bit for bit\n", names[md]);
      sdcl_image_free (&d);
      sdcl_image_free (&a);
      sdcl_image_free (&b);
      sdcl_image_free (&c);
    }

  /* A cancelled lean run also leaves nothing behind. */
  {
    volatile int cancel = 1;
    sdcl_gen_params p = sdcl_gen_default_params ();
    p.width = p.height = 64;
    p.steps = 2;
    p.cancel = &cancel;
    sdcl_image out = { 0 };
    uint64_t before = sdcl_cl_weight_bytes (cl);
    CHECK (sdcl_txt2img (lean, &p, &out, &err) == SDCL_ERR_CANCELLED, "not cancelled: %s",
           err.message);
    CHECK (sdcl_cl_weight_bytes (cl) == before && !lean->clip && !lean->unet && !lean->vae,
           "a cancelled lean run left weights on the device");
    sdcl_image_free (&out);
  }

  sdcl_model_free (stream);
  sdcl_model_free (lean);
  sdcl_model_free (res);
  CHECK (sdcl_cl_weight_bytes (cl) == 0, "%llu weight bytes after freeing both models",
         (unsigned long long) sdcl_cl_weight_bytes (cl));
  g_free (init.data);
  g_free (mask.data);
  sdcl_ctx_free (ctx);
  return check_finish ();
}

/* Tiled VAE decode and encode (issue 6): the untiled result, up to float
 * rounding, with device memory bounded by a tile instead of the image.
 *
 * Why not diffusers' tiled VAE (docs/diffusion.md §Tiled VAE): it runs the
 * whole network on overlapping tiles and cross-fades them.  Every GroupNorm
 * then normalises with its tile's statistics instead of the image's, so
 * the tiles differ in tone and the blend only hides their edges.  Here the
 * network runs layer by layer over the whole image, each layer tile by tile:
 *
 *   - the running feature maps live on the host;
 *   - a convolution uploads, per output tile, the input window it reads
 *     (the tile plus the kernel's reach, zero-padded only where the image
 *     ends), so every output value is computed from exactly the inputs the
 *     untiled convolution uses: there is nothing to blend and no seam;
 *   - a GroupNorm takes its statistics over the whole host map (in double)
 *     and is applied, with the SiLU after it, while the next convolution's
 *     windows are copied out, so it needs no map of its own;
 *   - the mid block's attention is global: it runs on the whole map, at
 *     latent resolution (1/64 of the pixels; the kernel streams, no N^2).
 *
 * The price: every layer's map crosses to the device and back once, and
 * the host holds up to four maps of the largest layer (for SD 1.x 128
 * channels x H x W floats: 128 MB each at 512x512).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "vae_internal.h"

/* One sample's feature map on the host, planar [c, h, w]. */
typedef struct {
  int64_t c, h, w;
  float *v;
} fmap;

/* GroupNorm (+ SiLU) folded into a per-channel affine map, applied to a
 * convolution's input as it is copied out; scale NULL: the identity. */
typedef struct {
  float *scale, *shift;
  bool silu;
} pre_op;

/* A convolution's geometry: stride and zero padding before/after (the same
 * on both axes), reading its input nearest-upsampled 2x or not. */
typedef struct {
  const nn_conv *conv;
  int stride, pad_lo, pad_hi;
  bool upsample;
} conv_spec;

/* One tiled pass.  Like the device layer's errors, the first failure is
 * sticky: later steps do nothing and the pass returns it. */
typedef struct {
  sdcl_vae *m;
  sdcl_cl *cl;
  int tile;                   /* tile side in image pixels */
  int64_t img_h, img_w;       /* decoder output / encoder input size */
  const volatile int *cancel;
  sdcl_error *err;
  sdcl_status st;
} tiler;

static bool
ok (const tiler *t)
{
  return t->st == SDCL_OK;
}

static void
host_oom (tiler *t, uint64_t bytes)
{
  t->st = nn_error (t->err, SDCL_ERR_OUT_OF_MEMORY,
                    "tiled VAE: cannot allocate %" PRIu64 " bytes of host memory", bytes);
}

static fmap
fmap_new (tiler *t, int64_t c, int64_t h, int64_t w)
{
  fmap f = { c, h, w, NULL };
  if (ok (t) && !(f.v = g_try_malloc_n ((gsize) (c * h * w), sizeof (float))))
    host_oom (t, (uint64_t) (c * h * w) * sizeof (float));
  return f;
}

static void
fmap_free (fmap *f)
{
  g_free (f->v);
  f->v = NULL;
}

/* Waits for the device, then takes a device failure or the cancel flag. */
static void
poll (tiler *t)
{
  if (ok (t))
    t->st = nn_poll (t->cl, t->cancel, t->err);
}

/* ---- GroupNorm with whole-image statistics ------------------------------- */

/* A 1-D device weight (F32 or F16, possibly split) as floats. */
static void
weight_to_host (tiler *t, const sdcl_w *w, float *dst)
{
  size_t esize = w->type == SDCL_WT_F16 ? 2 : 4;
  int64_t done = 0;
  for (int p = 0; p < w->nparts && ok (t); p++)
    {
      int64_t n = MIN (w->part_rows, w->n - done);
      void *buf = g_malloc ((gsize) n * esize);
      cl_int rc = clEnqueueReadBuffer (sdcl_cl_queue (t->cl), w->part[p], CL_TRUE, 0,
                                       (size_t) n * esize, buf, 0, NULL, NULL);
      if (!sdcl_cl_try (t->cl, rc, "reading GroupNorm weights"))
        t->st = sdcl_cl_check (t->cl, t->err);
      for (int64_t i = 0; i < n && ok (t); i++)
        dst[done + i] = esize == 2 ? sdcl_half_to_float (((const uint16_t *) buf)[i])
                                   : ((const float *) buf)[i];
      g_free (buf);
      done += n;
    }
}

/* The affine map of GroupNorm(x) (+ SiLU) with statistics over the whole
 * map, written as the device kernel computes it (group_norm_apply). */
static pre_op
norm_pre (tiler *t, const nn_group_norm *n, const fmap *x, bool silu)
{
  pre_op p = { NULL, NULL, silu };
  if (!ok (t))
    return p;
  p.scale = g_new (float, x->c);
  p.shift = g_new (float, x->c);
  float *gamma = g_new (float, x->c), *beta = g_new (float, x->c);
  weight_to_host (t, n->weight, gamma);
  weight_to_host (t, n->bias, beta);
  int64_t cpg = x->c / n->groups, count = cpg * x->h * x->w;
  for (int g = 0; g < n->groups && ok (t); g++)
    {
      const float *v = x->v + g * count;   /* a group's channels are contiguous */
      double sum = 0.0, d2 = 0.0;
      for (int64_t i = 0; i < count; i++)
        sum += v[i];
      double mean = sum / (double) count;
      for (int64_t i = 0; i < count; i++)
        d2 += (v[i] - mean) * (v[i] - mean);
      float m = (float) mean, rstd = (float) (1.0 / sqrt (d2 / (double) count + n->eps));
      for (int64_t c = g * cpg; c < (g + 1) * cpg; c++)
        {
          p.scale[c] = rstd * gamma[c];
          p.shift[c] = beta[c] - m * p.scale[c];
        }
    }
  g_free (gamma);
  g_free (beta);
  return p;
}

static void
pre_free (pre_op *p)
{
  g_free (p->scale);
  g_free (p->shift);
  p->scale = p->shift = NULL;
}

/* ---- tiled convolution ------------------------------------------------- */

/* What one output tile [o0, o1) reads along one axis. */
typedef struct {
  int64_t src0, src1;   /* rows of the input map to upload */
  int pad_lo, pad_hi;   /* zero rows around them (only where the image ends) */
  int64_t skip;         /* leading output rows to drop (an upsampled odd start) */
} window;

static window
conv_window (const conv_spec *cs, int64_t k, int64_t o0, int64_t o1, int64_t src_n)
{
  int64_t in_n = cs->upsample ? 2 * src_n : src_n;
  /* The convolution reads input rows [a, b) for outputs [o0, o1). */
  int64_t a = o0 * cs->stride - cs->pad_lo, b = (o1 - 1) * cs->stride - cs->pad_lo + k;
  int64_t ea = MAX (a, 0), eb = MIN (b, in_n);
  window wd;
  if (cs->upsample)
    {
      /* Whole source rows: the window may start one upsampled row early. */
      wd.src0 = ea / 2;
      wd.src1 = (eb + 1) / 2;
      ea = 2 * wd.src0;
      eb = 2 * wd.src1;
    }
  else
    {
      wd.src0 = ea;
      wd.src1 = eb;
    }
  wd.pad_lo = (int) (a < 0 ? -a : 0);
  wd.pad_hi = (int) (b > eb ? b - eb : 0);
  wd.skip = (a - (ea - wd.pad_lo)) / cs->stride;
  return wd;
}

/* Copies channels x [y0, y0+h) x [x0, x0+w) of x into dst, through `pre`. */
static void
copy_window (const fmap *x, const pre_op *pre, int64_t y0, int64_t h, int64_t x0, int64_t w,
             float *dst)
{
  for (int64_t c = 0; c < x->c; c++)
    {
      float sc = pre && pre->scale ? pre->scale[c] : 1.0f;
      float sh = pre && pre->scale ? pre->shift[c] : 0.0f;
      bool silu = pre && pre->scale && pre->silu, affine = pre && pre->scale;
      for (int64_t r = 0; r < h; r++)
        {
          const float *src = x->v + (c * x->h + y0 + r) * x->w + x0;
          float *d = dst + (c * h + r) * w;
          if (!affine)
            {
              memcpy (d, src, (size_t) w * sizeof (float));
              continue;
            }
          for (int64_t i = 0; i < w; i++)
            {
              float v = src[i] * sc + sh;
              d[i] = silu ? v * (1.0f / (1.0f + expf (-v))) : v;
            }
        }
    }
}

/* Computes output rows [oy0, oy1) x columns [ox0, ox1) of y. */
static void
conv_tile (tiler *t, const conv_spec *cs, const fmap *x, const pre_op *pre, const fmap *residual,
           fmap *y, int64_t oy0, int64_t oy1, int64_t ox0, int64_t ox1)
{
  const sdcl_w *wt = cs->conv->weight;
  int64_t k = wt->d[2];
  window wy = conv_window (cs, k, oy0, oy1, x->h), wx = conv_window (cs, k, ox0, ox1, x->w);
  int64_t sh = wy.src1 - wy.src0, sw = wx.src1 - wx.src0, up = cs->upsample ? 2 : 1;
  int64_t th = (up * sh + wy.pad_lo + wy.pad_hi - k) / cs->stride + 1;
  int64_t tw = (up * sw + wx.pad_lo + wx.pad_hi - k) / cs->stride + 1;
  float *in_host = g_try_malloc_n ((gsize) (x->c * sh * sw), sizeof (float));
  float *out_host = g_try_malloc_n ((gsize) (y->c * th * tw), sizeof (float));
  if (!in_host || !out_host)
    {
      host_oom (t, (uint64_t) (x->c * sh * sw + y->c * th * tw) * sizeof (float));
      g_free (in_host);
      g_free (out_host);
      return;
    }
  copy_window (x, pre, wy.src0, sh, wx.src0, sw, in_host);

  sdcl_t in;
  sdcl_t_alloc (t->cl, &in, 4, 1, x->c, sh, sw);
  sdcl_t_upload (t->cl, &in, in_host);
  const sdcl_conv_desc d = {
    .stride = cs->stride, .pad_t = wy.pad_lo, .pad_b = wy.pad_hi,
    .pad_l = wx.pad_lo, .pad_r = wx.pad_hi,
    .upsample = cs->upsample, .up_h = up * sh, .up_w = up * sw,
  };
  sdcl_t out = nn_conv_forward_desc (t->cl, cs->conv, &in, &d, NULL);
  sdcl_t_release (t->cl, &in);
  sdcl_t_download (t->cl, &out, out_host);
  sdcl_t_release (t->cl, &out);
  poll (t);

  /* The tile's rows, past the skipped ones, plus the residual (the
   * device's fused residual is added after the bias too). */
  int64_t h = oy1 - oy0, w = ox1 - ox0;
  for (int64_t c = 0; c < y->c && ok (t); c++)
    for (int64_t r = 0; r < h; r++)
      {
        const float *src = out_host + (c * th + wy.skip + r) * tw + wx.skip;
        int64_t at = (c * y->h + oy0 + r) * y->w + ox0;
        float *dst = y->v + at;
        if (residual)
          for (int64_t i = 0; i < w; i++)
            dst[i] = src[i] + residual->v[at + i];
        else
          memcpy (dst, src, (size_t) w * sizeof (float));
      }
  g_free (in_host);
  g_free (out_host);
}

/* Tile side at a layer of n rows, for an image of img_n rows. */
static int64_t
tile_at (const tiler *t, int64_t n, int64_t img_n)
{
  return MAX (1, (int64_t) t->tile * n / img_n);
}

/* y = conv(pre(x)) + residual, tile by tile over y. */
static fmap
tiled_conv (tiler *t, conv_spec cs, const fmap *x, const pre_op *pre, const fmap *residual)
{
  const sdcl_w *wt = cs.conv->weight;
  int64_t k = wt->d[2], up = cs.upsample ? 2 : 1;
  int64_t oh = (up * x->h + cs.pad_lo + cs.pad_hi - k) / cs.stride + 1;
  int64_t ow = (up * x->w + cs.pad_lo + cs.pad_hi - k) / cs.stride + 1;
  fmap y = fmap_new (t, wt->d[0], oh, ow);
  int64_t th = tile_at (t, oh, t->img_h), tw = tile_at (t, ow, t->img_w);
  for (int64_t oy = 0; oy < oh && ok (t); oy += th)
    for (int64_t ox = 0; ox < ow && ok (t); ox += tw)
      conv_tile (t, &cs, x, pre, residual, &y, oy, MIN (oy + th, oh), ox, MIN (ox + tw, ow));
  /* Nothing lives on the device between layers: hand back this layer's
   * window buffers (edge tiles have other sizes than the rest, and the
   * pool only reuses exact sizes), so the device holds one tile's worth. */
  sdcl_cl_pool_trim (t->cl);
  if (!ok (t))
    fmap_free (&y);
  return y;
}

static conv_spec
same (const nn_conv *c, bool upsample)
{
  int pad = (int) (c->weight->d[2] / 2);
  return (conv_spec) { c, 1, pad, pad, upsample };
}

/* Replaces *x by conv(*x). */
static void
conv_step (tiler *t, const conv_spec cs, fmap *x)
{
  fmap y = tiled_conv (t, cs, x, NULL, NULL);
  fmap_free (x);
  *x = y;
}

/* ---- blocks ------------------------------------------------------------ */

/* Replaces *x by ResnetBlock2D(*x) (no time embedding in the VAE). */
static void
resnet_step (tiler *t, const nn_resnet *r, fmap *x)
{
  pre_op p1 = norm_pre (t, &r->norm1, x, true);
  fmap h = tiled_conv (t, same (&r->conv1, false), x, &p1, NULL);
  pre_free (&p1);
  if (r->shortcut.weight)
    conv_step (t, same (&r->shortcut, false), x);
  pre_op p2 = norm_pre (t, &r->norm2, &h, true);
  fmap y = tiled_conv (t, same (&r->conv2, false), &h, &p2, x);
  pre_free (&p2);
  fmap_free (&h);
  fmap_free (x);
  *x = y;
}

/* The mid block's attention on the whole map, in place. */
static void
attention_step (tiler *t, const vae_attention *a, fmap *x)
{
  if (!ok (t))
    return;
  sdcl_t d;
  sdcl_t_alloc (t->cl, &d, 4, 1, x->c, x->h, x->w);
  sdcl_t_upload (t->cl, &d, x->v);
  sdcl_t y = sdcl_vae_attention_forward (t->cl, a, &d);
  sdcl_t_release (t->cl, &d);
  sdcl_t_download (t->cl, &y, x->v);
  sdcl_t_release (t->cl, &y);
  poll (t);
}

static void
mid_block (tiler *t, const vae_coder *v, fmap *x)
{
  resnet_step (t, &v->mid_resnets[0], x);
  if (v->mid_has_attention)
    attention_step (t, &v->mid_attention, x);
  resnet_step (t, &v->mid_resnets[1], x);
}

/* GroupNorm + SiLU + conv_out. */
static void
output_head (tiler *t, const vae_coder *v, fmap *x)
{
  pre_op p = norm_pre (t, &v->norm_out, x, true);
  fmap y = tiled_conv (t, same (&v->conv_out, false), x, &p, NULL);
  pre_free (&p);
  fmap_free (x);
  *x = y;
}

static void
decode (tiler *t, fmap *x)
{
  const vae_coder *v = &t->m->decoder;
  if (v->quant.weight)
    conv_step (t, same (&v->quant, false), x);
  conv_step (t, same (&v->conv_in, false), x);
  mid_block (t, v, x);
  for (int i = 0; i < v->n_blocks && ok (t); i++)
    {
      const vae_block *blk = &v->blocks[i];
      for (int j = 0; j < blk->n_layers; j++)
        resnet_step (t, &blk->resnets[j], x);
      if (blk->sampler.weight)
        conv_step (t, same (&blk->sampler, true), x);
    }
  output_head (t, v, x);
}

static void
encode (tiler *t, fmap *x)
{
  const vae_coder *v = &t->m->encoder;
  conv_step (t, same (&v->conv_in, false), x);
  for (int i = 0; i < v->n_blocks && ok (t); i++)
    {
      const vae_block *blk = &v->blocks[i];
      for (int j = 0; j < blk->n_layers; j++)
        resnet_step (t, &blk->resnets[j], x);
      /* The asymmetric downsampler: one zero row/column bottom/right
       * (docs/diffusion.md §VAE encoder). */
      if (blk->sampler.weight)
        conv_step (t, (conv_spec) { &blk->sampler, 2, 0, 1, false }, x);
    }
  mid_block (t, v, x);
  output_head (t, v, x);
  if (v->quant.weight)
    conv_step (t, same (&v->quant, false), x);
}

/* ---- entry points ------------------------------------------------------ */

static sdcl_status
run (sdcl_vae *m, bool decoder, const float *in, int64_t c, int64_t h, int64_t w, int tile,
     const volatile int *cancel, float **out, int64_t out_dims[3], sdcl_error *err)
{
  *out = NULL;
  int f = 1 << (m->cfg.n_levels - 1);
  if (tile < 1 || h < 1 || w < 1)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "tiled VAE: tile %d, input %" PRId64 "x%"
                     PRId64, tile, w, h);
  /* The windows are zero-padded where the image ends; wrapping them is
   * not implemented, so seamless textures decode untiled (the pipeline
   * never gets here with it). */
  if (sdcl_cl_circular_padding (m->cl))
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT,
                     "tiled VAE: circular padding (tiling) is not supported");
  tiler t = { .m = m, .cl = m->cl, .tile = tile, .img_h = decoder ? h * f : h,
              .img_w = decoder ? w * f : w, .cancel = cancel, .err = err };
  fmap x = fmap_new (&t, c, h, w);
  if (ok (&t))
    memcpy (x.v, in, (size_t) (c * h * w) * sizeof (float));
  poll (&t);   /* a flag raised before the start */
  if (decoder)
    decode (&t, &x);
  else
    encode (&t, &x);
  if (!ok (&t))
    {
      fmap_free (&x);
      return t.st;
    }
  *out = x.v;
  out_dims[0] = x.c;
  out_dims[1] = x.h;
  out_dims[2] = x.w;
  return SDCL_OK;
}

sdcl_status
sdcl_vae_decode_tiled (sdcl_vae *m, const float *z, int64_t h, int64_t w, int tile,
                       const volatile int *cancel, float **image, int64_t dims[3],
                       sdcl_error *err)
{
  return run (m, true, z, m->cfg.latent_channels, h, w, tile, cancel, image, dims, err);
}

sdcl_status
sdcl_vae_encode_tiled (sdcl_vae *m, const float *image, int64_t h, int64_t w, int tile,
                       const volatile int *cancel, float **moments, int64_t dims[3],
                       sdcl_error *err)
{
  if (!m->has_encoder)
    return nn_error (err, SDCL_ERR_INVALID_ARGUMENT, "the VAE was built without its encoder");
  return run (m, false, image, m->cfg.in_channels, h, w, tile, cancel, moments, dims, err);
}

/* ---- memory estimates -------------------------------------------------- */

uint64_t
sdcl_vae_largest_buffer (const sdcl_vae *m, int64_t img_h, int64_t img_w, int tile)
{
  const sdcl_vae_config *c = &m->cfg;
  int n = c->n_levels;
  uint64_t largest = 0;
  for (int level = 0; level < n; level++)
    {
      /* Level 0 is full resolution; the decoder's level runs at 1/2^level
       * with block_out_channels[level] channels, as does the encoder's. */
      int64_t ch = c->block_out_channels[level];
      int64_t lh = MAX (1, img_h >> level), lw = MAX (1, img_w >> level);
      if (tile > 0)
        {
          lh = MIN (lh, MAX (1, (int64_t) tile >> level) + 2);
          lw = MIN (lw, MAX (1, (int64_t) tile >> level) + 2);
        }
      /* The block's input may have the previous level's channels. */
      int64_t prev = c->block_out_channels[MIN (level + 1, n - 1)];
      largest = MAX (largest, (uint64_t) (MAX (ch, prev) * lh * lw) * sizeof (float));
    }
  /* The attention's whole map at latent resolution (tiled or not). */
  int64_t lat = (MAX (1, img_h >> (n - 1))) * (MAX (1, img_w >> (n - 1)));
  largest = MAX (largest, (uint64_t) (c->block_out_channels[n - 1] * lat) * sizeof (float));
  return largest;
}

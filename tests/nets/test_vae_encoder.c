/* VAE encoder (docs/diffusion.md §VAE encoder) against a direct host
 * implementation written from that description (plain loops over the F32
 * fixture weights; there is no diffusers golden for the encoder yet).  The
 * image size 21x30 is odd on purpose: the encoder's downsampler pads one
 * row/column at the bottom/right only, which gives floor(H/2) per level
 * (21 -> 10 -> 5 -> 2).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "nets_fixture.h"

#define ATOL 1e-4
#define RTOL 1e-4
#define EPS 1e-6f

/* ---- host reference (batch 1, CHW) --------------------------------------------- */

typedef struct {
  int c, h, w;
  float *v;
} map;

static map
map_new (int c, int h, int w)
{
  return (map){ c, h, w, g_new0 (float, (size_t) c * h * w) };
}

static float *
weight (const sdcl_wset *ws, const char *fmt, const char *a, int i, int j)
{
  char name[256];
  snprintf (name, sizeof name, fmt, a, i, j);
  const sdcl_st_tensor *t = sdcl_wset_find (ws, name);
  if (!t)
    {
      fprintf (stderr, "fixture lacks %s\n", name);
      exit (1);
    }
  float *v = g_new (float, t->n_elements);
  sdcl_st_to_f32 (t, v);
  return v;
}

/* Cross-correlation with zero padding (top/left pad_tl, bottom/right pad_br). */
static map
conv (const map *x, const sdcl_wset *ws, const char *prefix, int out, int k, int stride,
      int pad_tl, int pad_br)
{
  float *w = weight (ws, "%s.weight", prefix, 0, 0);
  float *b = weight (ws, "%s.bias", prefix, 0, 0);
  int ho = (x->h + pad_tl + pad_br - k) / stride + 1;
  int wo = (x->w + pad_tl + pad_br - k) / stride + 1;
  map y = map_new (out, ho, wo);
  for (int o = 0; o < out; o++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++)
        {
          double acc = b[o];
          for (int c = 0; c < x->c; c++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++)
                {
                  int iy = oy * stride + ky - pad_tl, ix = ox * stride + kx - pad_tl;
                  if (iy >= 0 && iy < x->h && ix >= 0 && ix < x->w)
                    acc += (double) w[((o * x->c + c) * k + ky) * k + kx]
                           * x->v[(c * x->h + iy) * x->w + ix];
                }
          y.v[(o * ho + oy) * wo + ox] = (float) acc;
        }
  g_free (w);
  g_free (b);
  return y;
}

static float
silu (float x)
{
  return x / (1.0f + expf (-x));
}

static map
group_norm (const map *x, const sdcl_wset *ws, const char *prefix, int groups, bool act)
{
  float *gamma = weight (ws, "%s.weight", prefix, 0, 0);
  float *beta = weight (ws, "%s.bias", prefix, 0, 0);
  map y = map_new (x->c, x->h, x->w);
  int per = x->c / groups, hw = x->h * x->w;
  for (int g = 0; g < groups; g++)
    {
      const float *v = x->v + (size_t) g * per * hw;
      double sum = 0, sq = 0;
      for (int i = 0; i < per * hw; i++)
        sum += v[i];
      double mean = sum / (per * hw);
      for (int i = 0; i < per * hw; i++)
        sq += (v[i] - mean) * (v[i] - mean);
      double inv = 1.0 / sqrt (sq / (per * hw) + EPS);
      for (int i = 0; i < per * hw; i++)
        {
          int c = g * per + i / hw;
          float n = (float) ((v[i] - mean) * inv) * gamma[c] + beta[c];
          y.v[(size_t) g * per * hw + i] = act ? silu (n) : n;
        }
    }
  g_free (gamma);
  g_free (beta);
  return y;
}

static void
replace (map *x, map next)
{
  g_free (x->v);
  *x = next;
}

static map
resnet (const map *x, const sdcl_wset *ws, const char *prefix, int out, int groups)
{
  char p[200];
  snprintf (p, sizeof p, "%s.norm1", prefix);
  map h = group_norm (x, ws, p, groups, true);
  snprintf (p, sizeof p, "%s.conv1", prefix);
  replace (&h, conv (&h, ws, p, out, 3, 1, 1, 1));
  snprintf (p, sizeof p, "%s.norm2", prefix);
  replace (&h, group_norm (&h, ws, p, groups, true));
  snprintf (p, sizeof p, "%s.conv2", prefix);
  replace (&h, conv (&h, ws, p, out, 3, 1, 1, 1));
  map s = *x;
  if (x->c != out)
    {
      snprintf (p, sizeof p, "%s.conv_shortcut", prefix);
      s = conv (x, ws, p, out, 1, 1, 0, 0);
    }
  for (size_t i = 0; i < (size_t) out * h.h * h.w; i++)
    h.v[i] += s.v[i];
  if (s.v != x->v)
    g_free (s.v);
  return h;
}

/* One projection of the attention on tokens t [n, c] -> [n, c]. */
static float *
project (const float *t, int n, int c, const sdcl_wset *ws, const char *prefix, const char *which)
{
  char p[200];
  snprintf (p, sizeof p, "%s.%s", prefix, which);
  float *w = weight (ws, "%s.weight", p, 0, 0);
  float *b = weight (ws, "%s.bias", p, 0, 0);
  float *y = g_new (float, (size_t) n * c);
  for (int i = 0; i < n; i++)
    for (int o = 0; o < c; o++)
      {
        double acc = b[o];
        for (int k = 0; k < c; k++)
          acc += (double) t[i * c + k] * w[o * c + k];
        y[i * c + o] = (float) acc;
      }
  g_free (w);
  g_free (b);
  return y;
}

static map
attention (const map *x, const sdcl_wset *ws, const char *prefix, int groups)
{
  char p[200];
  snprintf (p, sizeof p, "%s.group_norm", prefix);
  map nrm = group_norm (x, ws, p, groups, false);
  int c = x->c, n = x->h * x->w;
  float *t = g_new (float, (size_t) n * c);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < c; k++)
      t[i * c + k] = nrm.v[k * n + i];
  float *q = project (t, n, c, ws, prefix, "to_q");
  float *k = project (t, n, c, ws, prefix, "to_k");
  float *v = project (t, n, c, ws, prefix, "to_v");
  double *s = g_new (double, n);
  for (int i = 0; i < n; i++)
    {
      double mx = -INFINITY, sum = 0;
      for (int j = 0; j < n; j++)
        {
          double d = 0;
          for (int e = 0; e < c; e++)
            d += (double) q[i * c + e] * k[j * c + e];
          s[j] = d / sqrt ((double) c);
          mx = s[j] > mx ? s[j] : mx;
        }
      for (int j = 0; j < n; j++)
        sum += s[j] = exp (s[j] - mx);
      for (int e = 0; e < c; e++)
        {
          double acc = 0;
          for (int j = 0; j < n; j++)
            acc += s[j] * v[j * c + e];
          t[i * c + e] = (float) (acc / sum);
        }
    }
  float *o = project (t, n, c, ws, prefix, "to_out.0");
  map y = map_new (c, x->h, x->w);
  for (int i = 0; i < n; i++)
    for (int e = 0; e < c; e++)
      y.v[e * n + i] = o[i * c + e] + x->v[e * n + i];
  g_free (nrm.v);
  g_free (t);
  g_free (q);
  g_free (k);
  g_free (v);
  g_free (o);
  g_free (s);
  return y;
}

static map
reference_encode (const sdcl_model_files *mf, const map *image)
{
  const sdcl_vae_config *c = &mf->vae;
  const sdcl_wset *ws = mf->vae_w;
  int groups = c->norm_num_groups;
  char p[200];
  map x = conv (image, ws, "encoder.conv_in", c->block_out_channels[0], 3, 1, 1, 1);
  for (int i = 0; i < c->n_levels; i++)
    {
      for (int j = 0; j < c->layers_per_block; j++)
        {
          snprintf (p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
          replace (&x, resnet (&x, ws, p, c->block_out_channels[i], groups));
        }
      if (i < c->n_levels - 1)
        {
          snprintf (p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
          replace (&x, conv (&x, ws, p, x.c, 3, 2, 0, 1));
        }
    }
  replace (&x, resnet (&x, ws, "encoder.mid_block.resnets.0", x.c, groups));
  replace (&x, attention (&x, ws, "encoder.mid_block.attentions.0", groups));
  replace (&x, resnet (&x, ws, "encoder.mid_block.resnets.1", x.c, groups));
  replace (&x, group_norm (&x, ws, "encoder.conv_norm_out", groups, true));
  replace (&x, conv (&x, ws, "encoder.conv_out", 2 * c->latent_channels, 3, 1, 1, 1));
  replace (&x, conv (&x, ws, "quant_conv", 2 * c->latent_channels, 1, 1, 0, 0));
  return x;
}

/* ---- test -------------------------------------------------------------------------- */

int
main (void)
{
  sdcl_cl *cl = fixture_cl ();
  sdcl_model_files *mf = fixture_model ("models/tiny-sd");
  sdcl_error err = { 0 };

  const int height = 21, width = 30;
  map image = map_new (mf->vae.in_channels, height, width);
  for (int i = 0; i < image.c * height * width; i++)
    image.v[i] = sinf (0.11f * (float) i) * cosf (0.023f * (float) i);
  map want = reference_encode (mf, &image);

  sdcl_vae *vae = NULL;
  CHECK_OK (sdcl_vae_new (cl, mf->vae_w, &mf->vae, SDCL_WT_F32, true, &vae, &err), err);
  sdcl_t x;
  sdcl_t_from_host (cl, &x, 4, (int64_t[]){ 1, image.c, height, width }, image.v);
  sdcl_t moments;
  CHECK_OK (sdcl_vae_encode (vae, &x, NULL, &moments, &err), err);
  check_shape ("moments", &moments, 4, (int64_t[]){ 1, want.c, want.h, want.w });
  CHECK (want.h == 2 && want.w == 3, "reference latent %dx%d, want floor halvings 2x3", want.h,
         want.w);
  if (moments.n == (int64_t) want.c * want.h * want.w)
    {
      float *got = download (cl, &moments);
      CHECK_CLOSE ("encoder moments", got, want.v, moments.n, ATOL, RTOL);
      g_free (got);
    }

  /* A decoder-only VAE refuses to encode. */
  sdcl_vae *decoder_only = NULL;
  CHECK_OK (sdcl_vae_new (cl, mf->vae_w, &mf->vae, SDCL_WT_F32, false, &decoder_only, &err), err);
  sdcl_t none;
  CHECK (sdcl_vae_encode (decoder_only, &x, NULL, &none, &err) == SDCL_ERR_INVALID_ARGUMENT,
         "encode without an encoder: %s", err.message);
  CHECK (sdcl_vae_device_bytes (decoder_only) < sdcl_vae_device_bytes (vae),
         "the encoder's weights are not counted");

  sdcl_t_release (cl, &moments);
  sdcl_t_release (cl, &x);
  sdcl_vae_free (vae);
  sdcl_vae_free (decoder_only);
  g_free (image.v);
  g_free (want.v);
  sdcl_model_files_close (mf);
  sdcl_cl_free (cl);
  return check_finish ();
}

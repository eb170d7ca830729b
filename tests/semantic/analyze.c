/* Pixel analysis of demo-model images (see analyze.h). */
#include "analyze.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seed pixels of the blob: farther than this from the background (0..255
 * RGB units) and nearer another palette colour than the background's own.
 * The distance is far above the renders' texture (sigma 2) and well below
 * the smallest distance between two palette colours (91, yellow/orange);
 * the palette test ignores the VAE's shading of the background (darker or
 * lighter frames and patches of the same hue, up to ~50 away).  The seeds
 * only locate the blob and measure its colour; its outline is the half-way
 * point between the two colours. */
#define SEM_SEED_THRESHOLD 40.0

/* Shape classes, from the harmonics of the outline's radius (see
 * radial_harmonics).  On 2000 clean renders (make_prompts.py --validate
 * 2000), and the same blurred by 1 px:
 *                a3            a4            a5
 *   circle       <= 0.003      <= 0.003      <= 0.003
 *   square       <= 0.010      0.056-0.073   <= 0.007
 *   triangle     0.114-0.139   <= 0.012      <= 0.008
 *   star         <= 0.006      <= 0.025      0.104-0.170
 * Unless it is a star by concavity and arms (below), the shape is the one
 * whose harmonic is the largest fraction of its clean value (SEM_REF_*), a
 * circle when none reaches SEM_MIN_SYMMETRY of it.  That cut sits well
 * below what softening leaves of a square's corners (0.056 / 0.067 =
 * 0.84) and well above a circle's digitisation noise (0.003 / 0.067 =
 * 0.05): a generated shape is a softened render, with an uneven outline. */
#define SEM_REF_TRIANGLE 0.134
#define SEM_REF_SQUARE 0.067
#define SEM_REF_STAR 0.160
#define SEM_MIN_SYMMETRY 0.35

/* Stars, by concavity and arms.  A generated star with uneven arms, or
 * with four, has a k = 4 harmonic of 0.05-0.2: a larger fraction of the
 * square's small SEM_REF_SQUARE than its k = 5 is of SEM_REF_STAR, so the
 * harmonics alone read it as a square.  But the star is the only concave
 * shape of the vocabulary, and its arms are peaks of the outline's radius
 * that stand out from the notches between them (count_arms).  On the
 * renders above, clean and blurred:
 *                solidity      arms
 *   circle       0.91-0.97     0
 *   square       0.88-1.00     1-4 (its corners)
 *   triangle     0.80-0.93     3
 *   star         0.53-0.78     5
 * On 384 demo-model images labelled by eye (euler, guidance 7 and 1):
 * stars 0.56-0.88, 62 of 70 below 0.79; squares from 0.80 (concave sides
 * pinch large ones to 0.80-0.86, with 4 arms); triangles from 0.74 (with
 * concave sides; 3 arms); blobs that are no shape from 0.64 (the 7 below
 * 0.79 have 3 arms but one with 4).
 * A blob less solid than SEM_STAR_SOLIDITY with at least SEM_STAR_ARMS
 * arms is a star.  The cut sits between the least solid clean star (0.78:
 * a small blurred one; the hull of pixel corners flatters small shapes)
 * and the most pinched generated square (0.80).  A star of straight-edged
 * arms is as solid as its notches' radius over its tips' divided by
 * cos 36 degrees (five arms) or times sqrt 2 (four): the cut wants notches
 * at most 0.64 (four arms: 0.56) of the tips' radius out, where the
 * renders' are at 0.42.  Four arms, not five: people call a four-pointed
 * star a star, and one arm of an uneven star often stands out too little
 * to count.  Concave with three arms is a triangle with concave sides, or
 * a wedge or V of a blob: the harmonics judge those.  An arm stands out at
 * least SEM_ARM_PROMINENCE of the mean radius: a clean star's arms 0.6-0.9
 * of it (0.4-0.75 blurred), a square's corners 0.2-0.4 (concavity, not
 * the count, tells arms from corners), a disc's digitisation ripples
 * below 0.07. */
#define SEM_STAR_SOLIDITY 0.79
#define SEM_STAR_ARMS 4
#define SEM_ARM_PROMINENCE 0.25

/* ---- palette ----------------------------------------------------------- */

static bool
read_rgb_members (JsonObject *o, const char *member, sem_named_rgb *out, int *n)
{
  JsonObject *m = json_object_get_object_member (o, member);
  if (!m)
    return false;
  GList *names = json_object_get_members (m);
  *n = 0;
  for (GList *l = names; l && *n < SEM_MAX_NAMES; l = l->next)
    {
      JsonArray *a = json_object_get_array_member (m, l->data);
      if (!a || json_array_get_length (a) != 3)
        {
          g_list_free (names);
          return false;
        }
      g_strlcpy (out[*n].name, l->data, sizeof out[*n].name);
      for (int c = 0; c < 3; c++)
        out[*n].rgb[c] = json_array_get_double_element (a, c);
      (*n)++;
    }
  g_list_free (names);
  return *n > 0;
}

bool
sem_palette_load (const char *path, sem_palette *pal)
{
  memset (pal, 0, sizeof *pal);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  if (!json_parser_load_from_file (parser, path, &error))
    {
      fprintf (stderr, "%s: %s\n", path, error->message);
      return false;
    }
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *o = root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  if (!o || !read_rgb_members (o, "colors", pal->colors, &pal->n_colors)
      || !read_rgb_members (o, "backgrounds", pal->backgrounds, &pal->n_backgrounds)
      || !json_object_has_member (o, "positions") || !json_object_has_member (o, "sizes")
      || !json_object_has_member (o, "shape_area"))
    {
      fprintf (stderr, "%s: not an attributes file (make_prompts.py writes it)\n", path);
      return false;
    }

  JsonObject *pos = json_object_get_object_member (o, "positions");
  GList *names = json_object_get_members (pos);
  for (GList *l = names; l && pal->n_positions < SEM_MAX_NAMES; l = l->next)
    {
      JsonArray *a = json_object_get_array_member (pos, l->data);
      g_strlcpy (pal->positions[pal->n_positions].name, l->data, 32);
      pal->positions[pal->n_positions].x = json_array_get_double_element (a, 0);
      pal->positions[pal->n_positions].y = json_array_get_double_element (a, 1);
      pal->n_positions++;
    }
  g_list_free (names);

  JsonObject *sizes = json_object_get_object_member (o, "sizes");
  names = json_object_get_members (sizes);
  for (GList *l = names; l && pal->n_sizes < SEM_MAX_NAMES; l = l->next)
    {
      double h = json_object_get_double_member (sizes, l->data);
      int i = pal->n_sizes++;
      while (i > 0 && pal->sizes[i - 1].half_extent > h)  /* keep ascending */
        {
          pal->sizes[i] = pal->sizes[i - 1];
          i--;
        }
      g_strlcpy (pal->sizes[i].name, l->data, 32);
      pal->sizes[i].half_extent = h;
    }
  g_list_free (names);

  JsonObject *sa = json_object_get_object_member (o, "shape_area");
  const char *shape_names[] = { "circle", "square", "triangle", "star" };
  double *factors[] = { &pal->area_circle, &pal->area_square, &pal->area_triangle, &pal->area_star };
  for (int i = 0; i < 4; i++)
    {
      if (!json_object_has_member (sa, shape_names[i]))
        {
          fprintf (stderr, "%s: no shape_area for %s: the analyzer knows circle, square, "
                   "triangle and star only\n", path, shape_names[i]);
          return false;
        }
      *factors[i] = json_object_get_double_member (sa, shape_names[i]);
    }
  if (pal->n_positions == 0 || pal->n_sizes == 0)
    {
      fprintf (stderr, "%s: no positions or sizes\n", path);
      return false;
    }
  return true;
}

/* ---- helpers ----------------------------------------------------------- */

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double
dist3 (const double *a, const double *b)
{
  double dr = a[0] - b[0], dg = a[1] - b[1], db = a[2] - b[2];
  return sqrt (dr * dr + dg * dg + db * db);
}

static const sem_named_rgb *
nearest (const sem_named_rgb *set, int n, const double *rgb, double *dist)
{
  int best = 0;
  double bd = INFINITY;
  for (int i = 0; i < n; i++)
    {
      double d = dist3 (set[i].rgb, rgb);
      if (d < bd)
        bd = d, best = i;
    }
  *dist = bd;
  return &set[best];
}

/* The name of the nearest colour among the shape colours and backgrounds. */
static const char *
nearest_any (const sem_palette *pal, const double *rgb, double *dist)
{
  double dc, db;
  const sem_named_rgb *c = nearest (pal->colors, pal->n_colors, rgb, &dc);
  const sem_named_rgb *b = nearest (pal->backgrounds, pal->n_backgrounds, rgb, &db);
  *dist = MIN (dc, db);
  return dc <= db ? c->name : b->name;
}

/* The largest 8-connected component of `mask` (w x h, inside roi), or
 * with `prefer`, the one sharing most pixels with it; its pixels get 1 in
 * `out` (others 0).  Returns its size (0: none, or none overlaps). */
static int
largest_component (const unsigned char *mask, int w, int h, const sem_rect *roi,
                   const unsigned char *prefer, unsigned char *out)
{
  int *label = calloc ((size_t) w * h, sizeof *label);
  int *queue = malloc ((size_t) w * h * sizeof *queue);
  int best_label = 0, best_size = 0, best_score = 0, next = 0;
  for (int y = roi->y0; y < roi->y1; y++)
    for (int x = roi->x0; x < roi->x1; x++)
      {
        int i = y * w + x;
        if (!mask[i] || label[i])
          continue;
        int head = 0, tail = 0, size = 0, score = 0;
        label[i] = ++next;
        queue[tail++] = i;
        while (head < tail)
          {
            int j = queue[head++], jx = j % w, jy = j / w;
            size++;
            score += prefer ? prefer[j] != 0 : 1;
            for (int dy = -1; dy <= 1; dy++)
              for (int dx = -1; dx <= 1; dx++)
                {
                  int nx = jx + dx, ny = jy + dy;
                  if (nx < roi->x0 || nx >= roi->x1 || ny < roi->y0 || ny >= roi->y1)
                    continue;
                  int k = ny * w + nx;
                  if (mask[k] && !label[k])
                    {
                      label[k] = next;
                      queue[tail++] = k;
                    }
                }
          }
        if (score > best_score)
          best_score = score, best_size = size, best_label = next;
      }
  for (int i = 0; i < w * h; i++)
    out[i] = best_label && label[i] == best_label;
  free (label);
  free (queue);
  return best_size;
}

/* Adds to `blob` the background pixels it encloses (4-connected regions of
 * its bounding box, grown by one pixel and clipped to roi, that do not
 * reach the box's frame). */
static void
fill_holes (unsigned char *blob, int w, int h, const sem_rect *roi)
{
  int x0 = roi->x1, y0 = roi->y1, x1 = roi->x0 - 1, y1 = roi->y0 - 1;
  for (int y = roi->y0; y < roi->y1; y++)
    for (int x = roi->x0; x < roi->x1; x++)
      if (blob[y * w + x])
        {
          x0 = MIN (x0, x), x1 = MAX (x1, x);
          y0 = MIN (y0, y), y1 = MAX (y1, y);
        }
  if (x1 < x0)
    return;
  x0 = MAX (x0 - 1, roi->x0), y0 = MAX (y0 - 1, roi->y0);
  x1 = MIN (x1 + 1, roi->x1 - 1), y1 = MIN (y1 + 1, roi->y1 - 1);
  unsigned char *outside = calloc ((size_t) w * h, 1);
  int *queue = malloc ((size_t) w * h * sizeof *queue);
  int head = 0, tail = 0;
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++)
      if ((y == y0 || y == y1 || x == x0 || x == x1) && !blob[y * w + x])
        {
          outside[y * w + x] = 1;
          queue[tail++] = y * w + x;
        }
  while (head < tail)
    {
      int j = queue[head++], jx = j % w, jy = j / w;
      const int nb[4][2] = { { 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 } };
      for (int k = 0; k < 4; k++)
        {
          int nx = jx + nb[k][0], ny = jy + nb[k][1];
          if (nx < x0 || nx > x1 || ny < y0 || ny > y1)
            continue;
          int i = ny * w + nx;
          if (!blob[i] && !outside[i])
            {
              outside[i] = 1;
              queue[tail++] = i;
            }
        }
    }
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++)
      if (!outside[y * w + x])
        blob[y * w + x] = 1;
  free (outside);
  free (queue);
}

typedef struct {
  double x, y;
} pt;

static double
cross (pt o, pt a, pt b)
{
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

static int
cmp_pt (const void *a, const void *b)
{
  const pt *p = a, *q = b;
  if (p->x != q->x)
    return p->x < q->x ? -1 : 1;
  return (p->y > q->y) - (p->y < q->y);
}

/* Convex hull (Andrew's monotone chain) of n >= 3 points, sorting them;
 * `hull` needs room for 2n points.  Returns the hull's size. */
static int
convex_hull (pt *p, int n, pt *hull)
{
  qsort (p, n, sizeof *p, cmp_pt);
  int k = 0;
  for (int i = 0; i < n; i++)
    {
      while (k >= 2 && cross (hull[k - 2], hull[k - 1], p[i]) <= 0)
        k--;
      hull[k++] = p[i];
    }
  for (int i = n - 2, t = k + 1; i >= 0; i--)
    {
      while (k >= t && cross (hull[k - 2], hull[k - 1], p[i]) <= 0)
        k--;
      hull[k++] = p[i];
    }
  return k - 1;
}

/* Bilinear sample of a w x h map at (x, y), pixel centres at i + 0.5,
 * zero outside. */
static double
sample (const double *m, int w, int h, double x, double y)
{
  double u = x - 0.5, v = y - 0.5;
  int i0 = (int) floor (u), j0 = (int) floor (v);
  double fu = u - i0, fv = v - j0, acc = 0;
  for (int dj = 0; dj <= 1; dj++)
    for (int di = 0; di <= 1; di++)
      {
        int i = i0 + di, j = j0 + dj;
        if (i < 0 || j < 0 || i >= w || j >= h)
          continue;
        acc += (di ? fu : 1 - fu) * (dj ? fv : 1 - fv) * m[j * w + i];
      }
  return acc;
}

/* Rays of the outline's radius profile: one every 2 degrees, closer than
 * the pixels along a large shape's outline (0.56 px apart at 16 px). */
#define SEM_RAYS 180

/* The blob's outline as a radius per angle around its centroid:
 * radius[j] at angle 2 pi j / SEM_RAYS (0 where the centroid itself is
 * outside the blob).  The radius is where the coverage, bilinearly
 * interpolated, first falls below one half: sub-pixel on anti-aliased
 * edges. */
static void
radius_profile (const double *cov, const unsigned char *blob, int w, int h, double cx, double cy,
                double *radius)
{
  const double step = 0.125;
  /* Coverage restricted to the blob: its pixels at least 1/2, its
   * neighbours below 1/2, everything else 0. */
  double *soft = calloc ((size_t) w * h, sizeof *soft);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        int i = y * w + x;
        if (blob[i])
          {
            soft[i] = MAX (cov[i], 0.5);
            continue;
          }
        for (int dy = -1; dy <= 1; dy++)
          for (int dx = -1; dx <= 1; dx++)
            if (x + dx >= 0 && x + dx < w && y + dy >= 0 && y + dy < h && blob[(y + dy) * w + x + dx])
              soft[i] = MIN (cov[i], 0.49);
      }
  for (int j = 0; j < SEM_RAYS; j++)
    {
      double th = 2 * G_PI * j / SEM_RAYS, ux = cos (th), uy = sin (th);
      double prev = sample (soft, w, h, cx, cy), r = 0;
      /* March out to the first crossing of 1/2 (outside the image the map
       * is 0, so there is one), interpolating between the last samples. */
      for (double t = step; prev >= 0.5 && t < w + h; t += step)
        {
          double s = sample (soft, w, h, cx + t * ux, cy + t * uy);
          if (s < 0.5)
            {
              r = t - step + step * (prev - 0.5) / (prev - s);
              break;
            }
          prev = s;
        }
      radius[j] = r;
    }
  free (soft);
}

/* The radius profile's Fourier harmonics k = 0..SEM_HARMONICS-1 relative
 * to the mean radius.  A shape with k-fold symmetry has only multiples of
 * k: a triangle shows k = 3, a square 4, a star 5, a circle nothing,
 * however soft or small it is (it ignores rotation; size and softness
 * only scale the amplitudes). */
static void
radial_harmonics (const double *radius, double *harmonic)
{
  double re[SEM_HARMONICS] = { 0 }, im[SEM_HARMONICS] = { 0 };
  for (int j = 0; j < SEM_RAYS; j++)
    {
      double th = 2 * G_PI * j / SEM_RAYS;
      for (int k = 0; k < SEM_HARMONICS; k++)
        {
          re[k] += radius[j] * cos (k * th) / SEM_RAYS;
          im[k] -= radius[j] * sin (k * th) / SEM_RAYS;
        }
    }
  for (int k = 0; k < SEM_HARMONICS; k++)
    harmonic[k] = re[0] > 0 ? hypot (re[k], im[k]) / re[0] : 0;
}

/* How far the peak of the (circular) radius profile at j stands out: its
 * height above the higher of the two lowest points met walking from it
 * either way to a higher radius (its topographic prominence; the highest
 * peak descends to the lowest radius).  A tip separated from the next
 * taller one by a shallow dip stands out little, however long it is. */
static double
prominence (const double *radius, int j)
{
  double low[2];
  for (int d = 0; d < 2; d++)
    {
      low[d] = radius[j];
      for (int s = 1; s < SEM_RAYS; s++)
        {
          double r = radius[(j + (d ? s : SEM_RAYS - s)) % SEM_RAYS];
          if (r > radius[j])
            break;
          low[d] = MIN (low[d], r);
        }
    }
  return radius[j] - MAX (low[0], low[1]);
}

/* The outline's arms: peaks of the radius profile that stand out at least
 * `min_prominence` of the mean radius (see prominence). */
static int
count_arms (const double *radius, double min_prominence)
{
  double mean = 0;
  for (int j = 0; j < SEM_RAYS; j++)
    mean += radius[j] / SEM_RAYS;
  int arms = 0;
  for (int j = 0; j < SEM_RAYS; j++)
    {
      double r = radius[j], before = radius[(j + SEM_RAYS - 1) % SEM_RAYS];
      double after = radius[(j + 1) % SEM_RAYS];
      if (r > before && r >= after && prominence (radius, j) >= min_prominence * mean)
        arms++;
    }
  return arms;
}

/* ---- analysis ---------------------------------------------------------- */

void
sem_analyze (const sem_palette *pal, const sdcl_image *img, const sem_rect *roi_in,
             sem_result *out)
{
  const int w = img->width, h = img->height, n = w * h;
  sem_rect roi = roi_in ? *roi_in : (sem_rect) { 0, 0, w, h };
  memset (out, 0, sizeof *out);

  double *rgb = malloc ((size_t) n * 3 * sizeof *rgb);
  for (int i = 0; i < n * 3; i++)
    rgb[i] = 255.0 * img->data[i];

  /* Background: the per-channel median of the whole image (the shape
   * covers at most a quarter of it).  Not the border alone: the VAE shades
   * the background near the edges. */
  double *chan = malloc ((size_t) n * sizeof *chan);
  for (int c = 0; c < 3; c++)
    {
      for (int i = 0; i < n; i++)
        chan[i] = rgb[3 * i + c];
      out->bg_rgb[c] = median (chan, n);
    }
  out->background = nearest (pal->backgrounds, pal->n_backgrounds, out->bg_rgb, &out->bg_dist)->name;

  /* Seed blob: clearly not background. */
  unsigned char *mask = calloc (n, 1), *blob = calloc (n, 1), *seed = NULL;
  double *dist = malloc ((size_t) n * sizeof *dist), *cov = calloc ((size_t) n, sizeof *cov);
  for (int i = 0; i < n; i++)
    dist[i] = dist3 (rgb + 3 * i, out->bg_rgb);
  for (int y = roi.y0; y < roi.y1; y++)
    for (int x = roi.x0; x < roi.x1; x++)
      {
        int i = y * w + x;
        double d;
        mask[i] = dist[i] > SEM_SEED_THRESHOLD
                  && strcmp (nearest_any (pal, rgb + 3 * i, &d), out->background) != 0;
      }
  int size = largest_component (mask, w, h, &roi, NULL, blob);
  seed = g_memdup2 (blob, n);
  if (size < SEM_MIN_AREA)
    goto done;

  /* Its colour: the median of its more saturated half (edge pixels are
   * mixed with the background). */
  {
    int k = 0;
    for (int i = 0; i < n; i++)
      if (blob[i])
        chan[k++] = dist[i];
    double dmed = median (chan, k);
    for (int c = 0; c < 3; c++)
      {
        k = 0;
        for (int i = 0; i < n; i++)
          if (blob[i] && dist[i] >= dmed)
            chan[k++] = rgb[3 * i + c];
        out->fg_rgb[c] = median (chan, k);
      }
  }
  out->color = nearest (pal->colors, pal->n_colors, out->fg_rgb, &out->fg_dist)->name;

  /* Final blob: at least half-way from the background to the blob's colour
   * (coverage >= 0.5 on an anti-aliased edge), holes filled. */
  {
    double d[3], dd = 0;
    for (int c = 0; c < 3; c++)
      d[c] = out->fg_rgb[c] - out->bg_rgb[c], dd += d[c] * d[c];
    for (int y = roi.y0; y < roi.y1; y++)
      for (int x = roi.x0; x < roi.x1; x++)
        {
          const double *p = rgb + 3 * (y * w + x);
          double a = 0;
          for (int c = 0; c < 3; c++)
            a += (p[c] - out->bg_rgb[c]) * d[c];
          cov[y * w + x] = dd > 0 ? CLAMP (a / dd, 0.0, 1.0) : 0.0;
          mask[y * w + x] = cov[y * w + x] >= 0.5;
        }
    size = largest_component (mask, w, h, &roi, seed, blob);
    if (size < SEM_MIN_AREA)
      {
        out->color = NULL;
        goto done;
      }
    fill_holes (blob, w, h, &roi);
  }
  out->found = true;

  /* Moments and extents. */
  {
    double sx = 0, sy = 0, area = 0;
    out->bbox = (sem_rect) { w, h, 0, 0 };
    pt *corners = malloc ((size_t) h * 4 * sizeof *corners);
    pt *hull = malloc ((size_t) h * 8 * sizeof *hull);
    int nc = 0;
    for (int y = 0; y < h; y++)
      {
        int xmin = -1, xmax = -1;
        for (int x = 0; x < w; x++)
          if (blob[y * w + x])
            {
              area += 1, sx += x + 0.5, sy += y + 0.5;
              if (xmin < 0)
                xmin = x;
              xmax = x;
            }
        if (xmin < 0)
          continue;
        out->bbox.x0 = MIN (out->bbox.x0, xmin), out->bbox.x1 = MAX (out->bbox.x1, xmax + 1);
        out->bbox.y0 = MIN (out->bbox.y0, y), out->bbox.y1 = MAX (out->bbox.y1, y + 1);
        /* The pixel squares' outer corners on this row. */
        corners[nc++] = (pt) { xmin, y };
        corners[nc++] = (pt) { xmin, y + 1 };
        corners[nc++] = (pt) { xmax + 1, y };
        corners[nc++] = (pt) { xmax + 1, y + 1 };
      }
    out->area = area;
    out->cx = sx / area, out->cy = sy / area;

    int nh = convex_hull (corners, nc, hull);
    double hull_area = 0;
    for (int i = 0; i < nh; i++)
      {
        pt a = hull[i], b = hull[(i + 1) % nh];
        hull_area += a.x * b.y - b.x * a.y;
      }
    hull_area = fabs (hull_area) / 2;
    /* Minimum-area enclosing rectangle: one side lies on a hull edge. */
    double rect = INFINITY;
    for (int i = 0; i < nh; i++)
      {
        pt a = hull[i], b = hull[(i + 1) % nh];
        double len = hypot (b.x - a.x, b.y - a.y);
        if (len == 0)
          continue;
        double ux = (b.x - a.x) / len, uy = (b.y - a.y) / len;
        double umin = INFINITY, umax = -INFINITY, vmin = INFINITY, vmax = -INFINITY;
        for (int j = 0; j < nh; j++)
          {
            double u = hull[j].x * ux + hull[j].y * uy, v = -hull[j].x * uy + hull[j].y * ux;
            umin = MIN (umin, u), umax = MAX (umax, u);
            vmin = MIN (vmin, v), vmax = MAX (vmax, v);
          }
        rect = MIN (rect, (umax - umin) * (vmax - vmin));
      }
    out->solidity = hull_area > 0 ? area / hull_area : 0;
    out->fill = rect > 0 && isfinite (rect) ? area / rect : 0;
    free (corners);
    free (hull);
  }

  double radius[SEM_RAYS];
  radius_profile (cov, blob, w, h, out->cx, out->cy, radius);
  radial_harmonics (radius, out->harmonic);
  out->arms = count_arms (radius, SEM_ARM_PROMINENCE);

  /* Shape: a concave outline with arms is a star whatever its harmonics
   * say (an uneven star's k = 4 can outweigh its k = 5: see
   * SEM_STAR_SOLIDITY); otherwise the dominant symmetry. */
  double factor = pal->area_circle;
  if (out->solidity < SEM_STAR_SOLIDITY && out->arms >= SEM_STAR_ARMS)
    out->shape = "star", factor = pal->area_star;
  else
    {
      const struct { const char *name; int k; double ref, factor; } sym[] = {
        { "triangle", 3, SEM_REF_TRIANGLE, pal->area_triangle },
        { "square", 4, SEM_REF_SQUARE, pal->area_square },
        { "star", 5, SEM_REF_STAR, pal->area_star },
      };
      double best = SEM_MIN_SYMMETRY;
      out->shape = "circle";
      for (size_t i = 0; i < G_N_ELEMENTS (sym); i++)
        if (out->harmonic[sym[i].k] / sym[i].ref >= best)
          {
            best = out->harmonic[sym[i].k] / sym[i].ref;
            out->shape = sym[i].name, factor = sym[i].factor;
          }
    }

  /* Size: the half extent this area means for this shape, nearest named
   * size on a log scale. */
  {
    const double scale = (double) w / 64.0;
    out->radius = sqrt (out->area / factor) / scale;
    double best = INFINITY;
    for (int i = 0; i < pal->n_sizes; i++)
      {
        double e = fabs (log (out->radius / pal->sizes[i].half_extent));
        if (e < best)
          best = e, out->size = pal->sizes[i].name;
      }
    best = INFINITY;
    for (int i = 0; i < pal->n_positions; i++)
      {
        double d = hypot (out->cx / scale - pal->positions[i].x, out->cy / scale - pal->positions[i].y);
        if (d < best)
          best = d, out->position = pal->positions[i].name;
      }
    out->pos_dist = best;
  }

done:
  free (rgb);
  free (chan);
  free (mask);
  free (blob);
  free (dist);
  free (cov);
  g_free (seed);
}

void
sem_describe (const sem_result *r, char *buf, size_t size)
{
  if (!r->found)
    {
      snprintf (buf, size, "no shape on %s (%.0f,%.0f,%.0f)", r->background, r->bg_rgb[0],
                r->bg_rgb[1], r->bg_rgb[2]);
      return;
    }
  snprintf (buf, size,
            "%s %s %s at %s on %s; rgb (%.0f,%.0f,%.0f) on (%.0f,%.0f,%.0f), centroid (%.1f,%.1f), "
            "area %.0f, r %.1f, harmonics 3/4/5 %.3f %.3f %.3f, fill %.2f, solidity %.2f, %d arms",
            r->size, r->color, r->shape, r->position, r->background, r->fg_rgb[0], r->fg_rgb[1],
            r->fg_rgb[2], r->bg_rgb[0], r->bg_rgb[1], r->bg_rgb[2], r->cx, r->cy, r->area,
            r->radius, r->harmonic[3], r->harmonic[4], r->harmonic[5], r->fill, r->solidity, r->arms);
}

/* ---- tables ------------------------------------------------------------ */

bool
sem_table_load (const char *path, sem_table *t)
{
  memset (t, 0, sizeof *t);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (path, &text, NULL, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return false;
    }
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  int n_lines = 0;
  while (lines[n_lines])
    n_lines++;
  if (n_lines == 0 || !*lines[0])
    {
      fprintf (stderr, "%s: empty\n", path);
      return false;
    }
  t->header = g_strsplit (lines[0], "\t", -1);
  t->n_columns = g_strv_length (t->header);
  t->rows = g_new0 (char **, n_lines);
  for (int i = 1; i < n_lines; i++)
    {
      g_strchomp (lines[i]);
      if (!*lines[i])
        continue;
      char **row = g_strsplit (lines[i], "\t", -1);
      if ((int) g_strv_length (row) != t->n_columns)
        {
          fprintf (stderr, "%s:%d: %u columns, the header has %d\n", path, i + 1,
                   g_strv_length (row), t->n_columns);
          g_strfreev (row);
          sem_table_free (t);
          return false;
        }
      t->rows[t->n_rows++] = row;
    }
  return true;
}

int
sem_table_column (const sem_table *t, const char *name)
{
  for (int j = 0; j < t->n_columns; j++)
    if (strcmp (t->header[j], name) == 0)
      return j;
  return -1;
}

void
sem_table_free (sem_table *t)
{
  if (t->rows)
    for (int i = 0; i < t->n_rows; i++)
      g_strfreev (t->rows[i]);
  g_free (t->rows);
  g_strfreev (t->header);
  memset (t, 0, sizeof *t);
}

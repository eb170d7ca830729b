/* The judge of the semantic tests, judged: the analyzer (analyze.c) must
 * read back every attribute of clean renders of tools/demo-model/shapes.py.
 *
 *   test_analyze SEMANTIC_DIR [SHEET.png LABELS.tsv]
 *
 * The sheet is 64x64 tiles, row-major, 10 per row, one per row of the
 * labels table (make_prompts.py writes renders.png/renders.tsv: every
 * shape x size x position once; `make_prompts.py --validate N DIR` makes a
 * larger sheet for a one-off check).  Prints the features per shape, so
 * the classifier's cuts can be checked against their spread.
 *
 * Then images the demo model drew (SEMANTIC_DIR/generated/cases.tsv:
 * file, shape, source, why), each read as a person reads it: stars with
 * uneven arms that the symmetry alone took for squares, circles drawn as
 * rounded squares that must stay misses, concave blobs asked for as stars
 * that must not pass for them.  "not SHAPE" in the shape column: any
 * reading but that one. */
#include "analyze.h"
#include "check.h"
#include "png_io.h"

#include <glib.h>
#include <limits.h>
#include <string.h>

#define TILE 64
#define COLUMNS 10

/* Required accuracy per attribute on clean renders.  The committed sheet
 * has 40 tiles, so this allows no error there; on the 2000-tile
 * validation sheet it allows 20. */
#define REQUIRED_ACCURACY 0.99
/* The same renders blurred (Gaussian, BLUR_SIGMA px): generated shapes come
 * out of the VAE softened, and the judge must not depend on crisp edges. */
#define BLUR_SIGMA 1.0
#define REQUIRED_BLURRED 0.97

/* Gaussian blur (standard deviation `sigma` px, edges clamped) of a
 * TILE x TILE RGB image, in place: a generated image is a softened one. */
static void
blur (float *img, double sigma)
{
  enum { R = 4 };
  double k[2 * R + 1], sum = 0;
  for (int i = -R; i <= R; i++)
    sum += k[i + R] = exp (-0.5 * i * i / (sigma * sigma));
  for (int i = 0; i <= 2 * R; i++)
    k[i] /= sum;
  static float tmp[TILE * TILE * 3];
  for (int pass = 0; pass < 2; pass++)
    {
      for (int y = 0; y < TILE; y++)
        for (int x = 0; x < TILE; x++)
          for (int c = 0; c < 3; c++)
            {
              double acc = 0;
              for (int i = -R; i <= R; i++)
                {
                  int xx = pass ? x : CLAMP (x + i, 0, TILE - 1);
                  int yy = pass ? CLAMP (y + i, 0, TILE - 1) : y;
                  acc += k[i + R] * img[(yy * TILE + xx) * 3 + c];
                }
              tmp[(y * TILE + x) * 3 + c] = (float) acc;
            }
      memcpy (img, tmp, sizeof tmp);
    }
}

static void
tile (const sdcl_image *sheet, int index, sdcl_image *out, float *buf)
{
  int ty = index / COLUMNS, tx = index % COLUMNS;
  for (int y = 0; y < TILE; y++)
    memcpy (buf + (size_t) y * TILE * 3,
            sheet->data + ((size_t) (ty * TILE + y) * sheet->width + tx * TILE) * 3,
            TILE * 3 * sizeof (float));
  *out = (sdcl_image) { TILE, TILE, 3, buf };
}

static const char *const attrs[] = { "color", "shape", "size", "position", "background" };
enum { N_ATTRS = G_N_ELEMENTS (attrs) };

/* Analyzes every tile (blurred when sigma > 0), prints the misreadings and
 * the feature spread per shape, checks the accuracy per attribute. */
static void
run (const sem_palette *pal, const sdcl_image *sheet, const sem_table *labels, const int *col,
     double sigma, double required)
{
  const char *shapes[] = { "circle", "square", "triangle", "star" };
  double fmin[4], fmax[4], smin[4], smax[4], pmax = 0;
  double hmin[4][3], hmax[4][3];
  int amin[4], amax[4];
  int right[N_ATTRS] = { 0 };
  for (int s = 0; s < 4; s++)
    {
      fmin[s] = smin[s] = INFINITY, fmax[s] = smax[s] = -INFINITY;
      amin[s] = INT_MAX, amax[s] = INT_MIN;
      for (int k = 0; k < 3; k++)
        hmin[s][k] = INFINITY, hmax[s][k] = -INFINITY;
    }
  fprintf (stderr, "%d %s renders:\n", labels->n_rows, sigma > 0 ? "blurred" : "clean");

  static float buf[TILE * TILE * 3];
  for (int i = 0; i < labels->n_rows; i++)
    {
      char *const *row = labels->rows[i];
      sdcl_image img;
      tile (sheet, i, &img, buf);
      if (sigma > 0)
        blur (buf, sigma);
      sem_result r;
      sem_analyze (pal, &img, NULL, &r);
      const char *got[N_ATTRS] = { r.color, r.shape, r.size, r.position, r.background };
      bool all = true;
      for (int a = 0; a < N_ATTRS; a++)
        {
          bool ok = got[a] && strcmp (got[a], row[col[a]]) == 0;
          right[a] += ok;
          all &= ok;
        }
      if (!all)
        {
          char d[512];
          sem_describe (&r, d, sizeof d);
          fprintf (stderr, "  tile %d: want %s %s %s at %s on %s; got %s\n", i, row[col[2]],
                   row[col[0]], row[col[1]], row[col[3]], row[col[4]], d);
        }
      if (!r.found)
        continue;
      pmax = MAX (pmax, r.pos_dist);
      for (int s = 0; s < 4; s++)
        if (strcmp (row[col[1]], shapes[s]) == 0)
          {
            fmin[s] = MIN (fmin[s], r.fill), fmax[s] = MAX (fmax[s], r.fill);
            smin[s] = MIN (smin[s], r.solidity), smax[s] = MAX (smax[s], r.solidity);
            amin[s] = MIN (amin[s], r.arms), amax[s] = MAX (amax[s], r.arms);
            for (int k = 0; k < 3; k++)
              hmin[s][k] = MIN (hmin[s][k], r.harmonic[3 + k]), hmax[s][k] = MAX (hmax[s][k], r.harmonic[3 + k]);
          }
    }

  for (int s = 0; s < 4; s++)
    fprintf (stderr, "  %-8s fill %.3f..%.3f  solidity %.3f..%.3f  arms %d..%d\n", shapes[s], fmin[s],
             fmax[s], smin[s], smax[s], amin[s], amax[s]);
  for (int s = 0; s < 4; s++)
    fprintf (stderr, "  %-8s a3 %.3f..%.3f  a4 %.3f..%.3f  a5 %.3f..%.3f\n", shapes[s], hmin[s][0],
             hmax[s][0], hmin[s][1], hmax[s][1], hmin[s][2], hmax[s][2]);
  fprintf (stderr, "  largest centroid distance from the named position: %.2f px\n", pmax);
  for (int a = 0; a < N_ATTRS; a++)
    {
      double acc = (double) right[a] / labels->n_rows;
      fprintf (stderr, "  %-10s %d/%d = %.1f%%\n", attrs[a], right[a], labels->n_rows, 100 * acc);
      CHECK (acc >= required, "%s read right in %.1f%% of %d %s renders (need %.0f%%)", attrs[a],
             100 * acc, labels->n_rows, sigma > 0 ? "blurred" : "clean", 100 * required);
    }
}

/* Checks the readings of the generated images listed in
 * dir/generated/cases.tsv. */
static void
check_generated (const sem_palette *pal, const char *dir)
{
  g_autofree char *gen_dir = g_build_filename (dir, "generated", NULL);
  g_autofree char *tsv_path = g_build_filename (gen_dir, "cases.tsv", NULL);
  sem_table cases;
  if (!sem_table_load (tsv_path, &cases))
    {
      check_failures++;
      return;
    }
  int col_file = sem_table_column (&cases, "file"), col_shape = sem_table_column (&cases, "shape");
  int col_why = sem_table_column (&cases, "why");
  CHECK (col_file >= 0 && col_shape >= 0 && col_why >= 0, "%s needs columns file, shape, why", tsv_path);
  fprintf (stderr, "%d generated images:\n", cases.n_rows);
  for (int i = 0; col_file >= 0 && col_shape >= 0 && col_why >= 0 && i < cases.n_rows; i++)
    {
      char *const *row = cases.rows[i];
      g_autofree char *path = g_build_filename (gen_dir, row[col_file], NULL);
      sdcl_image img;
      char msg[512];
      if (!sdcl_png_read (path, SDCL_PNG_RGB, &img, msg, sizeof msg))
        {
          CHECK (false, "%s", msg);
          continue;
        }
      sem_result r;
      sem_analyze (pal, &img, NULL, &r);
      const char *want = row[col_shape];
      bool negate = g_str_has_prefix (want, "not ");
      bool ok = r.found && (strcmp (r.shape, negate ? want + 4 : want) == 0) != negate;
      char d[512];
      sem_describe (&r, d, sizeof d);
      fprintf (stderr, "  %-26s want %-9s got %s\n", row[col_file], want, d);
      CHECK (ok, "%s (%s) read as %s, want %s", row[col_file], row[col_why],
             r.found ? r.shape : "nothing", want);
      free (img.data);
    }
  sem_table_free (&cases);
}

int
main (int argc, char **argv)
{
  if (argc != 2 && argc != 4)
    {
      fprintf (stderr, "usage: %s SEMANTIC_DIR [SHEET.png LABELS.tsv]\n", argv[0]);
      return 2;
    }
  g_autofree char *attr_path = g_build_filename (argv[1], "attributes.json", NULL);
  g_autofree char *sheet_path = argc == 4 ? g_strdup (argv[2]) : g_build_filename (argv[1], "renders.png", NULL);
  g_autofree char *tsv_path = argc == 4 ? g_strdup (argv[3]) : g_build_filename (argv[1], "renders.tsv", NULL);

  sem_palette pal;
  sem_table labels;
  if (!sem_palette_load (attr_path, &pal) || !sem_table_load (tsv_path, &labels))
    return 1;
  sdcl_image sheet;
  char msg[512];
  if (!sdcl_png_read (sheet_path, SDCL_PNG_RGB, &sheet, msg, sizeof msg))
    {
      fprintf (stderr, "%s\n", msg);
      return 1;
    }
  int rows = (labels.n_rows + COLUMNS - 1) / COLUMNS;
  CHECK (sheet.width == COLUMNS * TILE && sheet.height == rows * TILE,
         "%s is %dx%d for %d tiles", sheet_path, sheet.width, sheet.height, labels.n_rows);
  if (check_failures)
    return check_finish ();

  int col[N_ATTRS];
  for (int a = 0; a < N_ATTRS; a++)
    {
      col[a] = sem_table_column (&labels, attrs[a]);
      CHECK (col[a] >= 0, "%s has no column %s", tsv_path, attrs[a]);
    }
  if (check_failures)
    return check_finish ();

  /* A blank image has no shape: an empty canvas must not pass. */
  {
    static float flat[TILE * TILE * 3];
    for (int i = 0; i < TILE * TILE * 3; i++)
      flat[i] = 128.0f / 255 + 0.01f * ((i * 7919) % 5 - 2);  /* gray, +-5 levels of texture */
    sdcl_image img = { TILE, TILE, 3, flat };
    sem_result r;
    sem_analyze (&pal, &img, NULL, &r);
    CHECK (!r.found && strcmp (r.background, "gray") == 0, "blank gray image: found %d on %s",
           r.found, r.background);
  }

  run (&pal, &sheet, &labels, col, 0, REQUIRED_ACCURACY);
  run (&pal, &sheet, &labels, col, BLUR_SIGMA, REQUIRED_BLURRED);
  check_generated (&pal, argv[1]);
  sem_table_free (&labels);
  free (sheet.data);
  return check_finish ();
}

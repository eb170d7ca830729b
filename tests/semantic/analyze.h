/* The judge of the semantic tests: what a 64x64 demo-model image shows, by
 * plain pixel analysis (no learned parts), in the vocabulary of
 * tools/demo-model/shapes.py (read from tests/semantic/attributes.json,
 * which tools/demo-model/make_prompts.py writes from shapes.py).
 *
 *   background  the per-channel median of the border pixels, named by the
 *               nearest background colour;
 *   blob        the largest 8-connected component of pixels that are
 *               nearer the blob's colour than the background's (holes
 *               filled), searched inside a region of interest;
 *   color       the nearest palette colour to the median of the blob's
 *               more saturated half;
 *   position    the nearest named position to the blob's centroid;
 *   shape       a star when its outline is concave with at least four
 *               arms (peaks of its radius around the centroid that stand
 *               out), else from the symmetry of its outline: the
 *               harmonics of that radius (3: triangle, 4: square, 5: star,
 *               none: circle); fill is reported;
 *   size        the half extent implied by the area and the shape's own
 *               area factor, against the geometric mean of the sizes.
 */
#ifndef SDCL_TEST_SEMANTIC_ANALYZE_H
#define SDCL_TEST_SEMANTIC_ANALYZE_H

#include <stdbool.h>

#include "sdcl.h"

#define SEM_MAX_NAMES 16

typedef struct {
  char name[32];
  double rgb[3];  /* 0..255 sRGB */
} sem_named_rgb;

typedef struct {
  int n_colors, n_backgrounds, n_positions, n_sizes;
  sem_named_rgb colors[SEM_MAX_NAMES];
  sem_named_rgb backgrounds[SEM_MAX_NAMES];
  struct { char name[32]; double x, y; } positions[SEM_MAX_NAMES];
  struct { char name[32]; double half_extent; } sizes[SEM_MAX_NAMES];  /* ascending */
  /* Area of each shape in units of its half extent squared. */
  double area_circle, area_square, area_triangle, area_star;
} sem_palette;

/* Reads attributes.json; on failure prints why and returns false. */
bool sem_palette_load (const char *path, sem_palette *pal);

/* A rectangle of pixels [x0, x1) x [y0, y1). */
typedef struct {
  int x0, y0, x1, y1;
} sem_rect;

#define SEM_HARMONICS 8

typedef struct {
  const char *background;  /* palette names (pointers into the palette) */
  double bg_rgb[3], bg_dist;  /* measured colour; distance to the named one */
  bool found;              /* a blob of at least SEM_MIN_AREA pixels */
  const char *color, *shape, *size, *position;  /* NULL when !found */
  double fg_rgb[3], fg_dist;
  double area;             /* pixels */
  double cx, cy;           /* centroid, pixel units (centre of pixel i is i + 0.5) */
  double pos_dist;         /* centroid to the named position */
  double solidity;         /* area / convex hull area */
  int arms;                /* peaks of the outline's radius that stand out */
  double fill;             /* area / smallest enclosing rectangle */
  double radius;           /* half extent implied by area and shape */
  /* Harmonics of the outline's radius around the centroid, relative to
   * the mean radius: [3] triangle, [4] square, [5] star; [0] = 1. */
  double harmonic[SEM_HARMONICS];
  sem_rect bbox;
} sem_result;

#define SEM_MIN_AREA 12

/* Analyzes `img` (RGB, values in [0, 1], any size: positions are scaled
 * from the palette's image size).  The blob is searched inside `roi`
 * (NULL: the whole image); the background always comes from the image
 * border. */
void sem_analyze (const sem_palette *pal, const sdcl_image *img, const sem_rect *roi,
                  sem_result *out);

/* "red square (large) at top right on white; centroid (45.1, 17.9) area
 * 560 fill 0.93 solidity 0.97" */
void sem_describe (const sem_result *r, char *buf, size_t size);

/* Tab-separated table with a header row (prompts.tsv, renders.tsv):
 * rows[i][j] is column j of data row i; NULL-terminated rows, columns
 * named by `header`.  Free with sem_table_free.  Prints why and returns
 * false on failure. */
typedef struct {
  char **header;
  char ***rows;
  int n_rows, n_columns;
} sem_table;

bool sem_table_load (const char *path, sem_table *t);
/* Column index of `name`, or -1. */
int sem_table_column (const sem_table *t, const char *name);
void sem_table_free (sem_table *t);

#endif

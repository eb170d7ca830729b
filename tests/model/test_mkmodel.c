/* sdcl-mkmodel end to end: runs the installed-to-be executable, then opens
 * what it wrote.  By default at the --tiny scale (fast), SD 1.5 and SD 2.1
 * shapes; with --full it writes real SD 1.5-shaped checkpoints (~2 GB
 * each, the 'slow' suite), with --full --sd21 SD 2.1-shaped ones (~2.6 GB).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "check.h"
#include "model_compare.h"
#include "families/family.h"
#include "model_files.h"

static const char *mkmodel;
static bool full;
static bool sd21;   /* --family sd21 */

/* Runs sdcl-mkmodel with the arguments (NULL-terminated); true on exit 0. */
static bool
run (const char *first, ...)
{
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) mkmodel);
  if (!full)
    g_ptr_array_add (argv, "--tiny");
  if (sd21)
    {
      g_ptr_array_add (argv, "--family");
      g_ptr_array_add (argv, "sd21");
    }
  va_list ap;
  va_start (ap, first);
  for (const char *a = first; a; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  int status = -1;
  char *out = NULL, *err = NULL;
  GError *gerr = NULL;
  gint64 start = g_get_monotonic_time ();
  bool spawned = g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &gerr);
  bool ok = spawned && g_spawn_check_wait_status (status, NULL);
  fprintf (stderr, "%s%s (%.1f s)", out ? out : "", err ? err : "", (g_get_monotonic_time () - start) / 1e6);
  fputc ('\n', stderr);
  CHECK (spawned, "cannot run %s: %s", mkmodel, gerr ? gerr->message : "");
  g_clear_error (&gerr);
  g_free (out);
  g_free (err);
  g_ptr_array_free (argv, TRUE);
  return ok;
}

static sdcl_model_files *
open_ok (const char *path, int in_channels)
{
  sdcl_model_files *mf = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_model_files_open (path, &mf, &err) == SDCL_OK, "open %s: %s", path, err.message);
  if (mf)
    CHECK (mf->family == (sd21 ? SDCL_FAMILY_SD2 : SDCL_FAMILY_SD1) && mf->unet.in_channels == in_channels,
           "%s: family %d, %d channels", path, mf->family, mf->unet.in_channels);
  return mf;
}

static bool
same_file (const char *a, const char *b)
{
  GMappedFile *ma = g_mapped_file_new (a, FALSE, NULL), *mb = g_mapped_file_new (b, FALSE, NULL);
  bool same = ma && mb && g_mapped_file_get_length (ma) == g_mapped_file_get_length (mb)
              && memcmp (g_mapped_file_get_contents (ma), g_mapped_file_get_contents (mb),
                         g_mapped_file_get_length (ma)) == 0;
  if (ma)
    g_mapped_file_unref (ma);
  if (mb)
    g_mapped_file_unref (mb);
  return same;
}

static void
remove_tree (const char *path)
{
  GDir *d = g_file_test (path, G_FILE_TEST_IS_DIR) ? g_dir_open (path, 0, NULL) : NULL;
  if (d)
    {
      const char *name;
      while ((name = g_dir_read_name (d)))
        {
          char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
          g_free (child);
        }
      g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* SD 2.x in both layouts: the folder's text encoder has one layer less than
 * the single file's tower and runs all of it; the single file's .yaml gives
 * the head width (64, or 32 for --tiny), so both derive the same heads. */
static void
check_sd21 (const sdcl_model_files *a, const sdcl_model_files *b)
{
  int width = full ? 64 : 32;
  CHECK (!a->clip.quick_gelu && !b->clip.quick_gelu && a->clip.n_layers == b->clip.n_layers
         && a->clip.n_layers == (full ? 23 : 2), "text encoder: gelu %d/%d, %d/%d layers",
         !a->clip.quick_gelu, !b->clip.quick_gelu, a->clip.n_layers, b->clip.n_layers);
  for (int l = 0; l < a->unet.n_levels; l++)
    CHECK (a->unet.down_heads[l] == a->unet.block_out_channels[l] / width
           && b->unet.down_heads[l] == a->unet.down_heads[l] && b->unet.up_heads[l] == a->unet.up_heads[l],
           "level %d: heads %d/%d for %d channels", l, a->unet.down_heads[l], b->unet.down_heads[l],
           a->unet.block_out_channels[l]);
  CHECK (a->unet.use_linear_projection && b->unet.use_linear_projection, "linear projections");
  if (full)
    CHECK (a->unet.cross_attention_dim == 1024 && a->clip.hidden_size == 1024 && a->unet.down_heads[0] == 5
           && a->unet.mid_heads == 20, "SD 2.1: cross-attention %d, text %d wide, heads %d..%d",
           a->unet.cross_attention_dim, a->clip.hidden_size, a->unet.down_heads[0], a->unet.mid_heads);
}

/* Both layouts of one seed hold the same weights under canonical names. */
static void
test_layouts (const char *tmp)
{
  char *dir = g_build_filename (tmp, "folder", NULL);
  char *file = g_build_filename (tmp, "single.safetensors", NULL);
  CHECK (run ("--seed", "3", dir, NULL), "diffusers layout");
  CHECK (run ("--seed", "3", "--layout", "single-file", file, NULL), "single-file layout");
  sdcl_model_files *a = open_ok (dir, 4), *b = open_ok (file, 4);
  if (a && b)
    {
      compare_models (a, b, 0);
      if (sd21)
        check_sd21 (a, b);
      else if (full)
        {
          sdcl_unet_config u;
          sdcl_unet_config_sd15 (&u);
          compare_unet_configs (&a->unet, &u);
          CHECK (a->unet.sample_size == 64 && a->vae.sample_size == 512, "SD 1.5 sample sizes");
        }
    }
  sdcl_model_files_close (a);
  sdcl_model_files_close (b);
  remove_tree (dir);
  g_unlink (file);
  if (sd21)
    {
      char *yaml = g_build_filename (tmp, "single.yaml", NULL);
      CHECK (g_file_test (yaml, G_FILE_TEST_EXISTS), "no %s beside the SD 2.1 single file", yaml);
      g_unlink (yaml);
      g_free (yaml);
    }
  g_free (dir);
  g_free (file);
}

static void
test_determinism_and_options (const char *tmp)
{
  char *a = g_build_filename (tmp, "a.safetensors", NULL);
  char *b = g_build_filename (tmp, "b.safetensors", NULL);
  CHECK (run ("-l", "single-file", "--seed", "5", "--inpaint", "--dtype", "bf16", a, NULL), "run a");
  CHECK (run ("-l", "single-file", "--seed", "5", "--inpaint", "--dtype", "bf16", b, NULL), "run b");
  CHECK (same_file (a, b), "the same seed writes the same bytes");
  sdcl_model_files *mf = open_ok (a, 9);
  if (mf)
    CHECK (sdcl_wset_find (mf->unet_w, "conv_in.weight")->dtype == SDCL_DT_BF16, "bf16");
  sdcl_model_files_close (mf);
  CHECK (run ("-l", "single-file", "--seed", "6", "--inpaint", "--dtype", "bf16", b, NULL), "run b'");
  CHECK (!same_file (a, b), "another seed writes other weights");
  CHECK (!run ("--dtype", "f8", a, NULL), "unknown dtype refused");
  CHECK (!run ("--layout", "ckpt", a, NULL), "unknown layout refused");
  CHECK (!run (NULL), "missing OUTPUT refused");
  g_unlink (a);
  g_unlink (b);
  g_free (a);
  g_free (b);
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s PATH-TO-sdcl-mkmodel [--full] [--sd21]\n", argv[0]);
      return 2;
    }
  mkmodel = argv[1];
  for (int i = 2; i < argc; i++)
    {
      full = full || strcmp (argv[i], "--full") == 0;
      sd21 = sd21 || strcmp (argv[i], "--sd21") == 0;
    }
  char *tmp = g_dir_make_tmp ("sdcl-mkmodel-XXXXXX", NULL);
  test_layouts (tmp);
  if (!full)
    {
      test_determinism_and_options (tmp);
      sd21 = true;   /* the tiny SD 2.1 shapes too */
      test_layouts (tmp);
      CHECK (!run ("--v", "--family", "sd15", tmp, NULL), "--family sd15 --v refused");
    }
  remove_tree (tmp);
  g_free (tmp);
  return check_finish ();
}

/* sdcl-mkmodel end to end: runs the installed-to-be executable, then opens
 * what it wrote.  By default at the --tiny scale (fast), SD 1.5 and SD 2.1
 * shapes; with --full it writes real SD 1.5-shaped checkpoints (~2 GB
 * each, the 'slow' suite), with --full --sd21 SD 2.1-shaped ones (~2.6 GB).
 * --sdxl: SDXL's layout (two towers, the text_time add embedding, the SGM
 * single file with its bigG projection stored transposed).
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
#include "remove_tree.h"

static const char *mkmodel;
static bool full;
static bool sd21;   /* --family sd21 */
static bool sdxl;   /* --family sdxl */

/* Runs sdcl-mkmodel with the arguments (NULL-terminated); true on exit 0. */
static bool
run (const char *first, ...)
{
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) mkmodel);
  if (!full)
    g_ptr_array_add (argv, "--tiny");
  if (sd21 || sdxl)
    {
      g_ptr_array_add (argv, "--family");
      g_ptr_array_add (argv, sd21 ? "sd21" : "sdxl");
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
    CHECK (mf->family == (sd21 ? SDCL_FAMILY_SD2 : sdxl ? SDCL_FAMILY_SDXL : SDCL_FAMILY_SD1)
           && mf->unet.in_channels == in_channels,
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

/* SDXL in both layouts: the same second tower (the single file's
 * text_projection is the transpose of the folder's), the text_time add
 * embedding, levels without attention first, per-level transformer depth,
 * heads 64 wide (16 for --tiny, which a .yaml beside the file says). */
static void
check_sdxl (const sdcl_model_files *a, const sdcl_model_files *b)
{
  CHECK (a->text2_w && b->text2_w, "second text encoder in both layouts");
  if (!a->text2_w || !b->text2_w)
    return;
  const sdcl_st_tensor *pa = sdcl_wset_find (a->text2_w, "text_projection.weight"),
                       *pb = sdcl_wset_find (b->text2_w, "text_projection.weight");
  CHECK (pa && pb && !a->clip2.projection_transposed && b->clip2.projection_transposed,
         "bigG projection: folder [out, in], single file [in, out]");
  if (pa && pb)
    {
      const int64_t r = pa->shape[0], c = pa->shape[1];
      float *va = g_new (float, r * c), *vb = g_new (float, r * c);
      CHECK (pb->shape[0] == c && pb->shape[1] == r && sdcl_st_to_f32 (pa, va) && sdcl_st_to_f32 (pb, vb),
             "projection shapes [%lld, %lld] and [%lld, %lld]", (long long) r, (long long) c,
             (long long) pb->shape[0], (long long) pb->shape[1]);
      for (int64_t i = 0; i < r * c && pb->shape[0] == c; i++)
        if (va[i] != vb[(i % c) * r + i / c])
          {
            CHECK (0, "projection[%lld]: %g vs transposed %g", (long long) i, va[i], vb[(i % c) * r + i / c]);
            break;
          }
      g_free (va);
      g_free (vb);
    }
  CHECK (sdcl_wset_count (a->text2_w) == sdcl_wset_count (b->text2_w), "bigG: %zu vs %zu tensors",
         sdcl_wset_count (a->text2_w), sdcl_wset_count (b->text2_w));
  for (size_t i = 0; i < sdcl_wset_count (a->text2_w); i++)   /* the rest: the same values */
    {
      const sdcl_st_tensor *ta = sdcl_wset_at (a->text2_w, i), *tb = sdcl_wset_find (b->text2_w, ta->name);
      if (ta == pa)
        continue;
      float *va = g_new (float, ta->n_elements + 1), *vb = g_new (float, ta->n_elements + 1);
      CHECK (tb && tb->n_elements == ta->n_elements && sdcl_st_to_f32 (ta, va) && sdcl_st_to_f32 (tb, vb)
             && memcmp (va, vb, ta->n_elements * sizeof (float)) == 0, "bigG %s differs", ta->name);
      g_free (va);
      g_free (vb);
    }
  CHECK (a->clip2.n_layers == b->clip2.n_layers && a->clip2.hidden_size == b->clip2.hidden_size
         && a->clip2.projection_dim == b->clip2.projection_dim && !a->clip2.quick_gelu && !b->clip2.quick_gelu,
         "bigG: %d/%d layers, %d/%d wide", a->clip2.n_layers, b->clip2.n_layers, a->clip2.hidden_size,
         b->clip2.hidden_size);
  const int width = full ? 64 : 16;
  for (int l = 0; l < a->unet.n_levels; l++)
    CHECK (a->unet.down_heads[l] == a->unet.block_out_channels[l] / width
           && b->unet.down_heads[l] == a->unet.down_heads[l], "level %d: heads %d/%d", l,
           a->unet.down_heads[l], b->unet.down_heads[l]);
  CHECK (!a->unet.down_has_attn[0] && a->unet.down_has_attn[1] && a->unet.transformer_depth[1] == 2,
         "first level without attention, depth 2 at the second");
  CHECK (a->unet.add_embed_in == a->clip2.projection_dim + 6 * a->unet.add_time_embed_dim
         && b->unet.add_embed_in == a->unet.add_embed_in && b->unet.add_time_embed_dim == a->unet.add_time_embed_dim,
         "add embedding %d/%d inputs", a->unet.add_embed_in, b->unet.add_embed_in);
  CHECK (a->force_zeros_for_empty_prompt && b->force_zeros_for_empty_prompt, "force_zeros_for_empty_prompt");
  if (full)
    CHECK (a->unet.n_levels == 3 && a->unet.transformer_depth[2] == 10 && a->unet.mid_transformer_depth == 10
           && a->unet.cross_attention_dim == 2048 && a->clip2.n_layers == 32 && a->unet.add_embed_in == 2816
           && a->unet.sample_size == 128 && b->unet.sample_size == 128,
           "SDXL base: depth %d, cross-attention %d, bigG %d layers, add %d, sample %d/%d",
           a->unet.transformer_depth[2], a->unet.cross_attention_dim, a->clip2.n_layers,
           a->unet.add_embed_in, a->unet.sample_size, b->unet.sample_size);
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
      else if (sdxl)
        check_sdxl (a, b);
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
  if (sd21 || (sdxl && !full))
    {
      char *yaml = g_build_filename (tmp, "single.yaml", NULL);
      CHECK (g_file_test (yaml, G_FILE_TEST_EXISTS), "no %s beside the single file", yaml);
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
      fprintf (stderr, "usage: %s PATH-TO-sdcl-mkmodel [--full] [--sd21 | --sdxl]\n", argv[0]);
      return 2;
    }
  mkmodel = argv[1];
  for (int i = 2; i < argc; i++)
    {
      full = full || strcmp (argv[i], "--full") == 0;
      sd21 = sd21 || strcmp (argv[i], "--sd21") == 0;
      sdxl = sdxl || strcmp (argv[i], "--sdxl") == 0;
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

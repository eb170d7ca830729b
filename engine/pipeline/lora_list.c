/* LoRA lists: the FILE[:WEIGHT] entries front ends take, and a run's list
 * (its parameters plus the prompts' <lora:...> tags) made the model's.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "lora.h"
#include "lora_apply.h"
#include "pipeline_internal.h"

/* FILE or FILE:WEIGHT: the weight is what follows the last ':' when that
 * is a number, so "C:\loras\x.safetensors" stays a path. */
static sdcl_status
parse_entry (char *entry, sdcl_lora *out, sdcl_error *err)
{
  out->path = entry;
  out->weight = 1.0f;
  char *colon = strrchr (entry, ':');
  if (!colon || colon == entry)
    return SDCL_OK;
  char *end = NULL;
  double w = g_ascii_strtod (colon + 1, &end);
  if (end == colon + 1 || *end != '\0')
    {
      /* "x.safetensors:strong" means a weight, "C:\x" a path */
      if (strpbrk (colon + 1, "/\\.") == NULL)
        return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "LoRA %s: \"%s\" is no weight (FILE or "
                          "FILE:WEIGHT, e.g. style.safetensors:0.8)", entry, colon + 1);
      return SDCL_OK;
    }
  if (!(w >= -100.0 && w <= 100.0))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "LoRA %s: weight %s is outside [-100, 100]",
                      entry, colon + 1);
  *colon = '\0';
  out->weight = (float) w;
  return SDCL_OK;
}

sdcl_status
sdcl_lora_list_parse (const char *text, sdcl_lora **out, int *n_out, sdcl_error *err)
{
  if (!out || !n_out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_lora_list_parse: NULL output");
  *out = NULL;
  *n_out = 0;
  g_auto (GStrv) entries = g_strsplit_set (text ? text : "", ";\n", -1);
  int n = 0;
  size_t chars = 0;
  for (int i = 0; entries[i]; i++)
    if (*g_strstrip (entries[i]))
      {
        n++;
        chars += strlen (entries[i]) + 1;
      }
  if (n == 0)
    return SDCL_OK;
  /* one block: the array, then the strings, so one free() releases it */
  sdcl_lora *list = malloc (n * sizeof *list + chars);
  if (!list)
    return sdcl_fail (err, SDCL_ERR_OUT_OF_MEMORY, "no memory for a LoRA list");
  char *strings = (char *) (list + n);
  int k = 0;
  for (int i = 0; entries[i]; i++)
    {
      if (!*entries[i])
        continue;
      size_t len = strlen (entries[i]) + 1;
      memcpy (strings, entries[i], len);
      sdcl_status st = parse_entry (strings, &list[k++], err);
      if (st != SDCL_OK)
        {
          free (list);
          return st;
        }
      strings += len;
    }
  *out = list;
  *n_out = n;
  return SDCL_OK;
}

/* Tags of one prompt into `tags`, the prompt without them into *text. */
static sdcl_status
take_tags (const char *prompt, char **text, GArray *tags, sdcl_error *err)
{
  return sdcl_lora_tags_extract (prompt, text, tags, err);
}

static void
tags_clear (GArray *tags)
{
  for (guint i = 0; i < tags->len; i++)
    g_free (g_array_index (tags, sdcl_lora_tag, i).name);
  g_array_free (tags, TRUE);
}

sdcl_status
sdcl_run_loras (sdcl_run *r, sdcl_error *err)
{
  const sdcl_gen_params *p = r->p;
  GArray *tags = g_array_new (FALSE, FALSE, sizeof (sdcl_lora_tag));
  sdcl_status st = take_tags (p->prompt, &r->prompt_text, tags, err);
  if (st == SDCL_OK)
    st = take_tags (p->negative_prompt, &r->negative_text, tags, err);
  int n = (p->loras ? MAX (p->n_loras, 0) : 0) + (int) tags->len;
  sdcl_lora *list = g_new0 (sdcl_lora, MAX (n, 1));
  char **paths = g_new0 (char *, MAX (tags->len, 1));
  int k = 0;
  for (int i = 0; p->loras && i < p->n_loras; i++)
    list[k++] = p->loras[i];
  g_autofree char *dir = p->lora_dir ? g_strdup (p->lora_dir)
                                     : sdcl_lora_default_dir (r->model->files->path);
  for (guint i = 0; i < tags->len && st == SDCL_OK; i++)
    {
      const sdcl_lora_tag *t = &g_array_index (tags, sdcl_lora_tag, i);
      st = sdcl_lora_tag_path (dir, t->name, &paths[i], err);
      list[k++] = (sdcl_lora) { paths[i], t->weight };
    }
  if (st == SDCL_OK)
    st = sdcl_model_apply_loras (r->model, list, k, err);
  for (guint i = 0; i < tags->len; i++)
    g_free (paths[i]);
  g_free (paths);
  g_free (list);
  tags_clear (tags);
  return st;
}

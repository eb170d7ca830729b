/* A1111's <lora:NAME:WEIGHT> prompt tags.  They are taken out of the
 * prompts before anything else reads them (the prompt parser and the
 * tokenizer never see them) and name LoRA files in a folder.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "lora.h"

#define TAG_OPEN "<lora:"

/* NAME or NAME:WEIGHT (the text between "<lora:" and ">"). */
static sdcl_status
parse_tag (const char *body, size_t len, sdcl_lora_tag *tag, sdcl_error *err)
{
  g_autofree char *text = g_strndup (body, len);
  tag->weight = 1.0f;
  char *colon = strchr (text, ':');
  if (colon)
    {
      *colon = '\0';
      /* A1111's <lora:NAME:TE_WEIGHT:UNET_WEIGHT> splits the weight; sdcl
       * has one weight per LoRA, so a third field is refused. */
      char *end = NULL;
      double w = g_ascii_strtod (colon + 1, &end);
      if (end == colon + 1 || *end != '\0' || !(w > -100.0 && w < 100.0))
        return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                          "prompt tag <lora:%.*s>: \"%s\" is no weight (a number, e.g. "
                          "<lora:%s:0.8>)", (int) len, body, colon + 1, text);
      tag->weight = (float) w;
    }
  if (!*g_strstrip (text))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "prompt tag <lora:%.*s> names no LoRA",
                      (int) len, body);
  tag->name = g_strdup (text);
  return SDCL_OK;
}

sdcl_status
sdcl_lora_tags_extract (const char *prompt, char **stripped, GArray *tags, sdcl_error *err)
{
  const char *p = prompt ? prompt : "";
  GString *out = g_string_new (NULL);
  sdcl_status st = SDCL_OK;
  for (const char *tag; st == SDCL_OK && (tag = strstr (p, TAG_OPEN));)
    {
      const char *body = tag + strlen (TAG_OPEN);
      const char *close = strchr (body, '>');
      if (!close)
        break;   /* an unclosed tag is text, as in A1111 */
      g_string_append_len (out, p, tag - p);
      sdcl_lora_tag t = { 0 };
      st = parse_tag (body, (size_t) (close - body), &t, err);
      if (st == SDCL_OK)
        g_array_append_val (tags, t);
      p = close + 1;
    }
  g_string_append (out, p);
  *stripped = g_string_free (out, FALSE);
  return st;
}

sdcl_status
sdcl_lora_tag_path (const char *dir, const char *name, char **path, sdcl_error *err)
{
  *path = NULL;
  g_auto (GStrv) parts = g_strsplit_set (name, "/\\", -1);
  bool escapes = g_path_is_absolute (name);
  for (int i = 0; parts[i]; i++)
    escapes |= strcmp (parts[i], "..") == 0;
  if (escapes)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "<lora:%s>: a LoRA name is a file in the LoRA folder %s, not a path out of it",
                      name, dir);
  g_autofree char *file = g_str_has_suffix (name, ".safetensors")
                              ? g_strdup (name) : g_strconcat (name, ".safetensors", NULL);
  g_autofree char *full = g_build_filename (dir, file, NULL);
  if (!g_file_test (full, G_FILE_TEST_IS_REGULAR))
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT,
                      "<lora:%s>: no file %s in the LoRA folder %s (set it with --lora-dir / "
                      "sdcl_gen_params.lora_dir)", name, file, dir);
  *path = g_steal_pointer (&full);
  return SDCL_OK;
}

char *
sdcl_lora_default_dir (const char *model_path)
{
  g_autofree char *trimmed = g_strdup (model_path);
  size_t n = strlen (trimmed);
  while (n > 1 && G_IS_DIR_SEPARATOR (trimmed[n - 1]))
    trimmed[--n] = '\0';   /* "models/sd15/" is the folder sd15 */
  g_autofree char *parent = g_path_get_dirname (trimmed);
  return g_build_filename (parent, "Lora", NULL);
}

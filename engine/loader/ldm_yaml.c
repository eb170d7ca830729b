/* The LDM inference config a single file may come with: `<name>.yaml`
 * beside `<name>.safetensors` (docs/diffusion.md §SD 2.x single files).
 * sdcl reads three keys of it line by line, not YAML at large:
 * `parameterization` ("eps", "v"), `num_head_channels`, `num_heads`.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "error_internal.h"
#include "loader_internal.h"

/* Inference configs are a few kB; refuse absurd ones before reading them. */
#define MAX_YAML_BYTES (1024 * 1024)

static char *
yaml_path (const char *model_path)
{
  const char *dot = strrchr (model_path, '.');
  const char *slash = strrchr (model_path, '/');
  size_t stem = dot && (!slash || dot > slash) ? (size_t) (dot - model_path) : strlen (model_path);
  return g_strdup_printf ("%.*s.yaml", (int) stem, model_path);
}

/* The value of `key:` on a line (indentation, quotes and a trailing
 * comment removed), or NULL when the line holds another key. */
static char *
value_of (const char *line, const char *key)
{
  while (*line == ' ' || *line == '\t')
    line++;
  size_t n = strlen (key);
  if (strncmp (line, key, n) || line[n] != ':')
    return NULL;
  char *v = g_strdup (line + n + 1);
  char *hash = strchr (v, '#');
  if (hash)
    *hash = '\0';
  g_strstrip (v);
  size_t len = strlen (v);
  if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0])
    {
      memmove (v, v + 1, len - 2);
      v[len - 2] = '\0';
    }
  return v;
}

static sdcl_status
read_positive (const char *path, const char *key, const char *v, int *out, sdcl_error *err)
{
  char *end = NULL;
  errno = 0;
  long x = strtol (v, &end, 10);
  if (errno || end == v || *end || x <= 0 || x > 65536)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: %s is '%s', not a positive integer", path, key, v);
  *out = (int) x;
  return SDCL_OK;
}

static sdcl_status
read_line (const char *path, const char *line, sdcl_ldm_yaml *y, sdcl_error *err)
{
  sdcl_status st = SDCL_OK;
  char *v;
  if ((v = value_of (line, "parameterization")))
    {
      if (!strcmp (v, "eps"))
        y->prediction = SDCL_PREDICTION_EPSILON;
      else if (!strcmp (v, "v"))
        y->prediction = SDCL_PREDICTION_V;
      else
        st = sdcl_fail (err, SDCL_ERR_UNSUPPORTED_MODEL,
                        "%s: parameterization is '%s'; sdcl supports \"eps\" and \"v\"", path, v);
      y->has_prediction = true;
    }
  else if ((v = value_of (line, "num_head_channels")))
    st = strcmp (v, "-1") ? read_positive (path, "num_head_channels", v, &y->num_head_channels, err) : SDCL_OK;
  else if ((v = value_of (line, "num_heads")))
    st = strcmp (v, "-1") ? read_positive (path, "num_heads", v, &y->num_heads, err) : SDCL_OK;
  g_free (v);
  return st;
}

sdcl_status
sdcl_ldm_yaml_parse (const char *text, size_t len, const char *label, sdcl_ldm_yaml *out,
                     sdcl_error *err)
{
  memset (out, 0, sizeof *out);
  if (len > MAX_YAML_BYTES || memchr (text, '\0', len))
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: not an LDM inference config (%s)", label,
                      len > MAX_YAML_BYTES ? "over 1 MB" : "binary data");
  out->found = true;
  char *copy = g_strndup (text, len);
  char **lines = g_strsplit (copy, "\n", -1);
  sdcl_status st = SDCL_OK;
  for (char **l = lines; *l && !st; l++)
    st = read_line (label, *l, out, err);
  g_strfreev (lines);
  g_free (copy);
  return st;
}

sdcl_status
sdcl_ldm_yaml_read (const char *model_path, sdcl_ldm_yaml *out, sdcl_error *err)
{
  memset (out, 0, sizeof *out);
  char *path = yaml_path (model_path);
  sdcl_status st = SDCL_OK;
  char *text = NULL;
  gsize len = 0;
  GError *gerr = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    goto done;
  GStatBuf sb;
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) || g_stat (path, &sb) != 0)
    {
      st = sdcl_fail (err, SDCL_ERR_IO, "%s: not a regular file", path);
      goto done;
    }
  if (sb.st_size > MAX_YAML_BYTES)   /* refused before it is read */
    {
      st = sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: not an LDM inference config (over 1 MB)", path);
      goto done;
    }
  if (!g_file_get_contents (path, &text, &len, &gerr))
    {
      st = sdcl_fail (err, SDCL_ERR_IO, "%s: %s", path, gerr->message);
      g_error_free (gerr);
      goto done;
    }
  st = sdcl_ldm_yaml_parse (text, len, path, out, err);
done:
  g_free (text);
  g_free (path);
  return st;
}

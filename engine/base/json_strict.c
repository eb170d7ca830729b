/* Strict JSON syntax check (RFC 8259) with duplicate-key detection.
 *
 * json-glib builds the trees the loader walks, but it parses a superset of
 * JSON and silently merges duplicate keys, which would let two readers of one
 * safetensors header disagree about its contents.  This recursive-descent
 * pass accepts only the standard grammar, so that once it passes, json-glib's
 * tree is the one true reading of the text.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "json_strict.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#define MAX_DEPTH 64
/* 2^53: the largest integer range a double (and so any JSON reader) holds exactly. */
#define MAX_EXACT_INTEGER (UINT64_C (1) << 53)

typedef struct {
  const char *s;
  size_t len, pos;
  int depth;
  char *msg;
  size_t msg_size;
} scanner;

static bool value (scanner *sc);

static bool G_GNUC_PRINTF (2, 3)
fail (scanner *sc, const char *fmt, ...)
{
  char what[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (what, sizeof what, fmt, ap);
  va_end (ap);
  snprintf (sc->msg, sc->msg_size, "invalid JSON at byte %zu: %s", sc->pos, what);
  return false;
}

static int
peek (const scanner *sc)
{
  return sc->pos < sc->len ? (unsigned char) sc->s[sc->pos] : -1;
}

static void
skip_whitespace (scanner *sc)
{
  for (int c = peek (sc); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = peek (sc))
    sc->pos++;
}

static bool
expect (scanner *sc, char c)
{
  if (peek (sc) != (unsigned char) c)
    return fail (sc, "expected '%c'", c);
  sc->pos++;
  return true;
}

static bool
literal (scanner *sc, const char *word)
{
  size_t n = strlen (word);
  if (sc->len - sc->pos < n || memcmp (sc->s + sc->pos, word, n) != 0)
    return fail (sc, "unexpected character");
  sc->pos += n;
  return true;
}

static int
hex_digit (int c)
{
  return g_ascii_xdigit_value ((char) c);
}

/* Reads the 4 hex digits of a \u escape. */
static bool
hex4 (scanner *sc, gunichar *out)
{
  if (sc->len - sc->pos < 4)
    return fail (sc, "truncated \\u escape");
  gunichar v = 0;
  for (int i = 0; i < 4; i++)
    {
      int d = hex_digit (sc->s[sc->pos + i]);
      if (d < 0)
        return fail (sc, "bad hex digit in \\u escape");
      v = v << 4 | (gunichar) d;
    }
  sc->pos += 4;
  *out = v;
  return true;
}

/* A \u escape, including a surrogate pair; U+0000 is refused because the
 * decoded strings become C strings. */
static bool
unicode_escape (scanner *sc, GString *out)
{
  gunichar cp;
  if (!hex4 (sc, &cp))
    return false;
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return fail (sc, "lone low surrogate in \\u escape");
  if (cp >= 0xD800 && cp <= 0xDBFF)
    {
      gunichar low;
      if (!literal (sc, "\\u") || !hex4 (sc, &low))
        return fail (sc, "high surrogate not followed by a low surrogate");
      if (low < 0xDC00 || low > 0xDFFF)
        return fail (sc, "high surrogate not followed by a low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
  if (cp == 0)
    return fail (sc, "U+0000 in a string");
  g_string_append_unichar (out, cp);
  return true;
}

static bool
escape (scanner *sc, GString *out)
{
  int c = peek (sc);
  sc->pos++;
  switch (c)
    {
    case '"': g_string_append_c (out, '"'); return true;
    case '\\': g_string_append_c (out, '\\'); return true;
    case '/': g_string_append_c (out, '/'); return true;
    case 'b': g_string_append_c (out, '\b'); return true;
    case 'f': g_string_append_c (out, '\f'); return true;
    case 'n': g_string_append_c (out, '\n'); return true;
    case 'r': g_string_append_c (out, '\r'); return true;
    case 't': g_string_append_c (out, '\t'); return true;
    case 'u': return unicode_escape (sc, out);
    default: sc->pos--; return fail (sc, "invalid escape");
    }
}

/* A string token, decoded into out (the text was checked to be UTF-8). */
static bool
string (scanner *sc, GString *out)
{
  g_string_truncate (out, 0);
  if (!expect (sc, '"'))
    return false;
  for (;;)
    {
      int c = peek (sc);
      if (c < 0)
        return fail (sc, "unterminated string");
      if (c < 0x20)
        return fail (sc, "control character in a string");
      sc->pos++;
      if (c == '"')
        return true;
      if (c == '\\')
        {
          if (!escape (sc, out))
            return false;
        }
      else
        g_string_append_c (out, (char) c);
    }
}

static size_t
digits (scanner *sc)
{
  size_t start = sc->pos;
  while (g_ascii_isdigit (peek (sc)))
    sc->pos++;
  return sc->pos - start;
}

static bool
number (scanner *sc)
{
  size_t start = sc->pos;
  if (peek (sc) == '-')
    sc->pos++;
  size_t int_start = sc->pos;
  size_t n_int = digits (sc);
  if (n_int == 0)
    return fail (sc, "unexpected character");
  if (n_int > 1 && sc->s[int_start] == '0')
    return fail (sc, "leading zero in a number");
  bool integral = true;
  if (peek (sc) == '.')
    {
      sc->pos++;
      integral = false;
      if (digits (sc) == 0)
        return fail (sc, "no digits after the decimal point");
    }
  if (peek (sc) == 'e' || peek (sc) == 'E')
    {
      sc->pos++;
      integral = false;
      if (peek (sc) == '+' || peek (sc) == '-')
        sc->pos++;
      if (digits (sc) == 0)
        return fail (sc, "no digits in the exponent");
    }
  if (!integral)
    return true;
  /* 2^53 has 16 digits: anything longer is out of range, anything shorter
   * fits a uint64 without overflow. */
  uint64_t v = 0;
  for (size_t i = int_start; i < int_start + n_int && n_int <= 16; i++)
    v = v * 10 + (uint64_t) (sc->s[i] - '0');
  if (n_int > 16 || v > MAX_EXACT_INTEGER)
    {
      sc->pos = start;
      return fail (sc, "integer %.*s is too large to be exact (limit 2^53)",
                   (int) MIN (n_int + (int_start - start), 40), sc->s + start);
    }
  return true;
}

static bool
enter (scanner *sc)
{
  if (++sc->depth > MAX_DEPTH)
    return fail (sc, "nesting deeper than %d levels", MAX_DEPTH);
  sc->pos++;
  skip_whitespace (sc);
  return true;
}

static bool
object_members (scanner *sc, GHashTable *keys, GString *key)
{
  if (peek (sc) == '}')
    return true;
  for (;;)
    {
      size_t key_pos = sc->pos;
      if (!string (sc, key))
        return false;
      if (!g_hash_table_add (keys, g_strdup (key->str)))
        {
          sc->pos = key_pos;
          return fail (sc, "duplicate key '%s'", key->str);
        }
      skip_whitespace (sc);
      if (!expect (sc, ':'))
        return false;
      skip_whitespace (sc);
      if (!value (sc))
        return false;
      skip_whitespace (sc);
      if (peek (sc) != ',')
        return true;
      sc->pos++;
      skip_whitespace (sc);
    }
}

static bool
object (scanner *sc)
{
  if (!enter (sc))
    return false;
  GHashTable *keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GString *key = g_string_new (NULL);
  bool ok = object_members (sc, keys, key) && expect (sc, '}');
  g_string_free (key, TRUE);
  g_hash_table_destroy (keys);
  sc->depth--;
  return ok;
}

static bool
array (scanner *sc)
{
  if (!enter (sc))
    return false;
  if (peek (sc) != ']')
    for (;;)
      {
        if (!value (sc))
          return false;
        skip_whitespace (sc);
        if (peek (sc) != ',')
          break;
        sc->pos++;
        skip_whitespace (sc);
      }
  sc->depth--;
  return expect (sc, ']');
}

static bool
value (scanner *sc)
{
  switch (peek (sc))
    {
    case '{': return object (sc);
    case '[': return array (sc);
    case '"':
      {
        GString *s = g_string_new (NULL);
        bool ok = string (sc, s);
        g_string_free (s, TRUE);
        return ok;
      }
    case 't': return literal (sc, "true");
    case 'f': return literal (sc, "false");
    case 'n': return literal (sc, "null");
    case -1: return fail (sc, "unexpected end of text");
    default: return number (sc);
    }
}

bool
sdcl_json_check_strict (const char *text, size_t len, char *msg, size_t msg_size)
{
  scanner sc = { .s = text, .len = len, .msg = msg, .msg_size = msg_size };
  const char *bad;
  if (!g_utf8_validate_len (text, len, &bad))
    {
      snprintf (msg, msg_size, "invalid UTF-8 (or a NUL byte) at byte %zu", (size_t) (bad - text));
      return false;
    }
  skip_whitespace (&sc);
  if (!value (&sc))
    return false;
  skip_whitespace (&sc);
  if (sc.pos != len)
    return fail (&sc, "trailing characters after the JSON value");
  return true;
}

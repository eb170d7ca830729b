/* The text stages of the CLIP tokenizer; see tokenizer_text.h for what the
 * reference does and in which order.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "tokenizer_text.h"

#include <string.h>

/* ---- UTF-8 repair ------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence starting at p (Unicode Table 3-7),
 * or 0 when p starts an ill-formed one; then *bad_length is the length of its
 * maximal subpart, the bytes one U+FFFD replaces.  p is NUL-terminated, and
 * NUL is never a continuation byte, so this never reads past the end. */
static int
utf8_sequence_length (const guchar *p, int *bad_length)
{
  int continuation_bytes;
  guchar lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */

  if (p[0] < 0x80)
    return 1;
  if (p[0] >= 0xC2 && p[0] <= 0xDF)
    continuation_bytes = 1;
  else if (p[0] >= 0xE0 && p[0] <= 0xEF)
    {
      continuation_bytes = 2;
      if (p[0] == 0xE0)
        lo = 0xA0; /* no overlong forms */
      else if (p[0] == 0xED)
        hi = 0x9F; /* no surrogates */
    }
  else if (p[0] >= 0xF0 && p[0] <= 0xF4)
    {
      continuation_bytes = 3;
      if (p[0] == 0xF0)
        lo = 0x90;
      else if (p[0] == 0xF4)
        hi = 0x8F; /* nothing above U+10FFFF */
    }
  else
    {
      *bad_length = 1;
      return 0;
    }

  for (int i = 1; i <= continuation_bytes; i++)
    {
      if (p[i] < lo || p[i] > hi)
        {
          *bad_length = i;
          return 0;
        }
      lo = 0x80;
      hi = 0xBF;
    }
  return continuation_bytes + 1;
}

char *
sdcl_text_make_valid_utf8 (const char *text)
{
  const guchar *p = (const guchar *) text;
  GString *out = g_string_sized_new (strlen (text));

  while (*p)
    {
      int bad_length = 0;
      int length = utf8_sequence_length (p, &bad_length);
      if (length > 0)
        {
          g_string_append_len (out, (const char *) p, length);
          p += length;
        }
      else
        {
          g_string_append_unichar (out, 0xFFFD);
          p += bad_length;
        }
    }
  return g_string_free (out, FALSE);
}

/* ---- Unicode classes --------------------------------------------------- */

/* Oniguruma's \s is the Unicode White_Space property: wider than GLib's
 * g_unichar_isspace (which lacks U+000B and U+0085) and narrower than
 * Python's str.isspace (which adds U+001C..U+001F).  The list is stable. */
gboolean
sdcl_text_is_white_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
         || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F
         || c == 0x205F || c == 0x3000;
}

gboolean
sdcl_text_is_letter (gunichar c)
{
  switch (g_unichar_type (c))
    {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
      return TRUE;
    default:
      return FALSE;
    }
}

gboolean
sdcl_text_is_number (gunichar c)
{
  switch (g_unichar_type (c))
    {
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      return TRUE;
    default:
      return FALSE;
    }
}

/* ---- normalisation ----------------------------------------------------- */

/* The reference lowercases code point by code point with the full
 * (unconditional) Unicode mapping: no final-sigma rule, so not
 * g_utf8_strdown.  g_unichar_tolower covers the letters; the mappings it
 * lacks are İ (to two code points) and the two blocks of non-letters that
 * have a lowercase form.  Writes 1 or 2 code points to out. */
static int
lowercase (gunichar c, gunichar out[2])
{
  if (c == 0x0130) /* LATIN CAPITAL LETTER I WITH DOT ABOVE */
    {
      out[0] = 'i';
      out[1] = 0x0307;
      return 2;
    }
  if (c >= 0x2160 && c <= 0x216F) /* ROMAN NUMERAL ONE .. ONE THOUSAND */
    out[0] = c + 0x10;
  else if (c >= 0x24B6 && c <= 0x24CF) /* CIRCLED LATIN CAPITAL LETTER A .. Z */
    out[0] = c + 0x1A;
  else
    out[0] = g_unichar_tolower (c);
  return 1;
}

gunichar *
sdcl_text_normalize (const char *utf8, gssize len, glong *n_out)
{
  char *nfc = g_utf8_normalize (utf8, len, G_NORMALIZE_NFC);
  /* Valid input always normalises; keep the text as it is otherwise. */
  if (!nfc)
    nfc = len < 0 ? g_strdup (utf8) : g_strndup (utf8, len);

  /* At most two code points per code point, and at least one byte each. */
  gunichar *out = g_new (gunichar, 2 * strlen (nfc) + 1);
  glong n = 0;
  gboolean in_space = FALSE;
  for (const char *p = nfc; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (sdcl_text_is_white_space (c))
        {
          if (!in_space)
            out[n++] = ' ';
          in_space = TRUE;
          continue;
        }
      in_space = FALSE;
      n += lowercase (c, out + n);
    }
  out[n] = 0;
  g_free (nfc);
  *n_out = n;
  return out;
}

/* ---- pre-tokenizer ----------------------------------------------------- */

static gboolean
ascii_at (const gunichar *text, glong n, glong i, const char *ascii)
{
  glong len = (glong) strlen (ascii);
  if (i + len > n)
    return FALSE;
  for (glong k = 0; k < len; k++)
    if (text[i + k] != (gunichar) ascii[k])
      return FALSE;
  return TRUE;
}

/* Length of "<|startoftext|>" or "<|endoftext|>" at i, else 0. */
static glong
special_literal_length (const gunichar *text, glong n, glong i)
{
  static const char *const literals[] = { "<|startoftext|>", "<|endoftext|>" };
  for (size_t k = 0; k < G_N_ELEMENTS (literals); k++)
    if (ascii_at (text, n, i, literals[k]))
      return (glong) strlen (literals[k]);
  return 0;
}

/* Length of 's 't 're 've 'm 'll 'd at i, else 0.  The text is already
 * lowercase, as the reference's case-sensitive regex sees it. */
static glong
contraction_length (const gunichar *text, glong n, glong i)
{
  static const char *const contractions[] = { "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" };
  for (size_t k = 0; k < G_N_ELEMENTS (contractions); k++)
    if (ascii_at (text, n, i, contractions[k]))
      return (glong) strlen (contractions[k]);
  return 0;
}

static gboolean
is_symbol (gunichar c)
{
  return !sdcl_text_is_white_space (c) && !sdcl_text_is_letter (c) && !sdcl_text_is_number (c);
}

static glong
run_length (const gunichar *text, glong n, glong i, gboolean (*in_run) (gunichar))
{
  glong end = i;
  while (end < n && in_run (text[end]))
    end++;
  return end - i;
}

/* The regex alternatives are tried in order at each position, as a
 * backtracking engine does: a special literal wins over a symbol run only
 * where it starts, so "!<|endoftext|>" gives the symbol run "!<|". */
void
sdcl_text_pretokenize (const gunichar *text, glong n, sdcl_text_piece_fn piece, void *user_data)
{
  glong i = 0;
  while (i < n)
    {
      glong len;
      if ((len = special_literal_length (text, n, i)) > 0)
        {
          /* The byte-level stage splits "<|name|>" again, as symbols,
           * letters, symbols. */
          piece (text + i, 2, user_data);
          piece (text + i + 2, len - 4, user_data);
          piece (text + i + len - 2, 2, user_data);
        }
      else if ((len = contraction_length (text, n, i)) > 0)
        piece (text + i, len, user_data);
      else if (sdcl_text_is_letter (text[i]))
        piece (text + i, len = run_length (text, n, i, sdcl_text_is_letter), user_data);
      else if (sdcl_text_is_number (text[i]))
        piece (text + i, len = 1, user_data);
      else if (is_symbol (text[i]))
        piece (text + i, len = run_length (text, n, i, is_symbol), user_data);
      else
        len = 1; /* whitespace separates pieces and is dropped */
      i += len;
    }
}

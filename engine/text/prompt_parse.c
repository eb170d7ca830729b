/* A1111 prompt syntax (docs/diffusion.md §Prompt syntax).
 *
 * A left-to-right scan with two stacks of open brackets, as A1111's
 * parse_prompt_attention: every piece of text is appended at weight 1, and
 * a closing bracket multiplies the weight of everything appended since its
 * opening one.  The lexemes, tried in this order at each position:
 *   "\" + one of ()[]\   the character itself
 *   "\"                  nothing (a lone backslash is dropped)
 *   "(" "["              open
 *   ":" ws* [+-]?[.0-9]+ ws* ")"   close the innermost "(" with that weight
 *                        (when the number reads as a whole decimal; else
 *                        the ":" is text)
 *   ")" "]"              close with 1.1 or 1/1.1; with nothing open: text
 *   a run of anything but \()[]:   text, split at BREAK
 *   ":"                  text
 * A weighted closer with no "(" open is text as a whole.  BREAK inside
 * brackets still breaks (A1111 would keep it as text of negative weight).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "prompt_parse.h"

#include <string.h>

#include "tokenizer_text.h"

#define ROUND_MULTIPLIER 1.1
#define SQUARE_MULTIPLIER (1.0 / 1.1)

typedef struct {
  GArray *pieces;
  GArray *round, *square;   /* piece counts at the open brackets */
} parser;

static void
append_text (parser *p, const char *text, gsize len)
{
  sdcl_prompt_piece piece = { g_strndup (text, len), 1.0, false };
  g_array_append_val (p->pieces, piece);
}

static void
append_break (parser *p)
{
  sdcl_prompt_piece piece = { NULL, 1.0, true };
  g_array_append_val (p->pieces, piece);
}

static void
multiply_from (parser *p, guint start, double factor)
{
  for (guint i = start; i < p->pieces->len; i++)
    g_array_index (p->pieces, sdcl_prompt_piece, i).weight *= factor;
}

/* Pops the innermost open bracket of `stack` and weighs what it holds;
 * false when none is open. */
static bool
close_bracket (parser *p, GArray *stack, double factor)
{
  if (stack->len == 0)
    return false;
  guint start = g_array_index (stack, guint, stack->len - 1);
  g_array_set_size (stack, stack->len - 1);
  multiply_from (p, start, factor);
  return true;
}

static bool
is_space (const char *s)
{
  return g_unichar_isspace (g_utf8_get_char (s));
}

static bool
is_word_char (gunichar c)
{
  return c == '_' || g_unichar_isalnum (c);
}

/* Length of ":" ws* [+-]?[.0-9]+ ws* ")" at s with *weight its number,
 * or 0 when s holds no such closer or the number is no decimal. */
static gsize
match_weight (const char *s, double *weight)
{
  const char *c = s + 1;
  while (*c && is_space (c))
    c = g_utf8_next_char (c);
  const char *num = c;
  if (*c == '+' || *c == '-')
    c++;
  const char *digits = c;
  while (*c == '.' || g_ascii_isdigit (*c))
    c++;
  if (c == digits)
    return 0;
  g_autofree char *number = g_strndup (num, (gsize) (c - num));
  while (*c && is_space (c))
    c = g_utf8_next_char (c);
  if (*c != ')')
    return 0;
  char *end;
  *weight = g_ascii_strtod (number, &end);
  if (*end || end == number)
    return 0;
  return (gsize) (c + 1 - s);
}

/* A bounded "BREAK" at `at` inside [run, run + len). */
static bool
is_break_word (const char *run, gsize len, const char *at)
{
  if ((gsize) (at - run) + 5 > len || strncmp (at, "BREAK", 5) != 0)
    return false;
  if (at > run && is_word_char (g_utf8_get_char (g_utf8_find_prev_char (run, at))))
    return false;
  const char *after = at + 5;
  return (gsize) (after - run) == len || !is_word_char (g_utf8_get_char (after));
}

/* A text run, split where ws* BREAK ws* stands (as re.split would). */
static void
append_run (parser *p, const char *run, gsize len)
{
  const char *start = run, *end = run + len;
  for (const char *c = run; c < end; c++)
    {
      if (!is_break_word (run, len, c))
        continue;
      const char *cut = c;
      while (cut > start && is_space (g_utf8_find_prev_char (start, cut)))
        cut = g_utf8_find_prev_char (start, cut);
      append_text (p, start, (gsize) (cut - start));
      append_break (p);
      c += 5;
      while (c < end && is_space (c))
        c = g_utf8_next_char (c);
      start = c;
      c--;
    }
  append_text (p, start, (gsize) (end - start));
}

static gsize
text_run_length (const char *s)
{
  return strcspn (s, "\\()[]:");
}

/* One lexeme at s (see the top of the file); returns its length. */
static gsize
scan_one (parser *p, const char *s)
{
  double weight;
  gsize n;
  switch (*s)
    {
    case '\\':
      if (s[1] && strchr ("()[]\\", s[1]))
        {
          append_text (p, s + 1, 1);
          return 2;
        }
      append_text (p, "", 0);
      return 1;
    case '(':
      g_array_append_val (p->round, p->pieces->len);
      return 1;
    case '[':
      g_array_append_val (p->square, p->pieces->len);
      return 1;
    case ':':
      if ((n = match_weight (s, &weight)) == 0)
        break;
      if (!close_bracket (p, p->round, weight))
        append_run (p, s, n);   /* nothing open: the closer is text */
      return n;
    case ')':
      if (!close_bracket (p, p->round, ROUND_MULTIPLIER))
        append_run (p, s, 1);
      return 1;
    case ']':
      if (!close_bracket (p, p->square, SQUARE_MULTIPLIER))
        append_run (p, s, 1);
      return 1;
    default:
      n = text_run_length (s);
      append_run (p, s, n);
      return n;
    }
  append_run (p, s, 1);   /* a ":" that closes nothing */
  return 1;
}

/* Neighbouring text pieces of equal weight become one. */
static void
merge_equal (GArray *pieces)
{
  guint i = 0;
  while (i + 1 < pieces->len)
    {
      sdcl_prompt_piece *a = &g_array_index (pieces, sdcl_prompt_piece, i);
      sdcl_prompt_piece *b = a + 1;
      if (a->is_break || b->is_break || a->weight != b->weight)
        {
          i++;
          continue;
        }
      char *joined = g_strconcat (a->text, b->text, NULL);
      g_free (a->text);
      a->text = joined;
      g_array_remove_index (pieces, i + 1);   /* frees b's text */
    }
}

static void
clear_piece (gpointer data)
{
  g_free (((sdcl_prompt_piece *) data)->text);
}

GArray *
sdcl_prompt_parse (const char *text, sdcl_prompt_syntax syntax)
{
  g_autofree char *valid = sdcl_text_make_valid_utf8 (text ? text : "");
  parser p = { g_array_new (FALSE, FALSE, sizeof (sdcl_prompt_piece)),
               g_array_new (FALSE, FALSE, sizeof (guint)), g_array_new (FALSE, FALSE, sizeof (guint)) };
  g_array_set_clear_func (p.pieces, clear_piece);
  if (syntax == SDCL_PROMPT_PLAIN)
    append_text (&p, valid, strlen (valid));
  else
    for (const char *s = valid; *s;)
      s += scan_one (&p, s);
  /* brackets left open weigh everything after them */
  for (guint i = 0; i < p.round->len; i++)
    multiply_from (&p, g_array_index (p.round, guint, i), ROUND_MULTIPLIER);
  for (guint i = 0; i < p.square->len; i++)
    multiply_from (&p, g_array_index (p.square, guint, i), SQUARE_MULTIPLIER);
  if (p.pieces->len == 0)
    append_text (&p, "", 0);
  merge_equal (p.pieces);
  g_array_free (p.round, TRUE);
  g_array_free (p.square, TRUE);
  return p.pieces;
}

void
sdcl_prompt_pieces_free (GArray *pieces)
{
  if (pieces)
    g_array_free (pieces, TRUE);
}

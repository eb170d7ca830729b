/* Command-line options of the sdcl tools: numbers checked against a table
 * of ranges, prompts taken as UTF-8, stray arguments refused.
 *
 * Every numeric option is a row of a cli_number table.  The parser fills
 * the variable only when the user typed the option, and refuses (a usage
 * error naming the option) anything that is not a plain decimal number in
 * the row's range: junk after the digits, NaN, infinities, overflow, a
 * minus sign on an unsigned option.  A value the user did not type stays
 * the caller's default, and `given` tells the two apart.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_CLI_OPTIONS_H
#define SDCL_CLI_OPTIONS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
  CLI_INT,    /* int, range [min, max] */
  CLI_UINT64, /* uint64_t, the whole range (min/max unused) */
  CLI_DOUBLE, /* double, finite, range [min, max] (or (min, max] with above_min) */
  CLI_FLOAT   /* float, as CLI_DOUBLE (the range must lie within float's) */
} cli_number_kind;

typedef struct {
  const char *long_name;
  char short_name;
  cli_number_kind kind;
  double min, max;
  bool above_min;          /* CLI_DOUBLE: min itself is excluded */
  void *value;             /* int *, uint64_t *, double * or float *: written only on success */
  const char *description, *arg_description;
  bool given;              /* set when the user typed the option */
} cli_number;

/* A row with an inclusive range, not yet given. */
#define CLI_NUMBER(long_name, short_name, kind, min, max, value, description, arg) \
  { (long_name), (short_name), (kind), (min), (max), false, (value), (description), (arg), false }

/* Parses `text` as o's value: on success stores it in *o->value, sets
 * o->given and returns true; else returns false with a message naming the
 * option ("--steps must be an integer from 1 to 1000, not '0'"). */
bool cli_number_parse (cli_number *o, const char *text, GError **error);

/* Whether the row named long_name in the table `rows` was typed. */
bool cli_number_given (const cli_number *rows, const char *long_name);

/* An option context whose numeric options come from cli_number tables and
 * whose text options are taken as UTF-8 (see cli_parser_add_text). */
typedef struct {
  GOptionContext *context;
  GOptionGroup *main;      /* owned by context */
  GPtrArray *numbers;      /* cli_number *, not owned */
  GPtrArray *texts;        /* cli_text *, owned */
} cli_parser;

void cli_parser_init (cli_parser *p, const char *summary);
void cli_parser_clear (cli_parser *p);

/* Plain GOption entries (strings, file names, flags), NULL-terminated. */
void cli_parser_add (cli_parser *p, const GOptionEntry *entries);

/* A table of numbers, ended by a row with long_name NULL; the rows must
 * outlive the parser. */
void cli_parser_add_numbers (cli_parser *p, cli_number *rows);

/* A text option (a prompt) stored in *value (g_free it) as UTF-8: the
 * bytes are converted from the locale's character set, and bytes that are
 * already valid UTF-8 are taken as they are when the locale cannot read
 * them (the C locale), so a prompt in any script reaches the tokenizer
 * whatever the environment.  Anything else is refused, naming the
 * option. */
void cli_parser_add_text (cli_parser *p, const char *long_name, char short_name, char **value,
                          const char *description, const char *arg_description);

/* Parses argv; on any error, or an argument that is not an option (the
 * commands take none: the prompt is --prompt), prints "PROG: message" to
 * stderr and returns false. */
bool cli_parser_parse (cli_parser *p, const char *prog, int *argc, char ***argv);

/* The locale from the environment for messages and character sets, with
 * numbers kept in the C locale (so "7.5" parses and prints alike
 * everywhere, in PNG metadata too).  Called once by each tool's main. */
void cli_setup_locale (void);

/* Text as UTF-8 (see cli_parser_add_text): a new string, or NULL with an
 * error naming `option`. */
char *cli_text_to_utf8 (const char *option, const char *bytes, GError **error);

#endif

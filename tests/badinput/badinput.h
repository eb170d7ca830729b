/* What test_badinput.c shares with the case files beside it (one table,
 * one set of helpers; see test_badinput.c for the contract of each).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_BADINPUT_H
#define SDCL_TEST_BADINPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdcl.h"

/* A CLI case still running after this long is killed and fails (a hang). */
#define CLI_TIMEOUT_S 120

typedef struct {
  char *id, *via, *expect, *message;
  bool done;
} row;

extern char *tmp_root, *fixtures, *sdcl_cli;
extern sdcl_ctx *ctx;

row *find_row (const char *id);
char *tmp_path (const char *name);
void remove_tree (const char *path);
void load_case (const char *id, const char *path, const sdcl_model_params *mp);
char *folder_copy (const char *name);
void replace_file (const char *dir, const char *rel, const char *text);
/* extra_env: name, value pairs, NULL-terminated; a NULL value unsets. */
void cli_case (const char *id, char **extra_env, const char *const *args);
void write_png (const char *name, uint32_t w, uint32_t h, size_t cut);

/* files_cases.c: files that are not files, or too large (issue 22).
 * Returns the checks that failed in that file: check.h counts per
 * translation unit, and main adds them to its own. */
int test_files_not_files (bool api_only);

#endif

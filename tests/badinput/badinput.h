/* What test_badinput.c shares with the case files beside it (one table,
 * one set of helpers; see test_badinput.c for the contract of each):
 * cli_cases.c holds the command line's output and value cases,
 * files_cases.c the files that are not files or too large,
 * badinput_runtime.c sizes, NULL arguments, model files that change after
 * the load and prompt stops after errors.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_BADINPUT_H
#define SDCL_TEST_BADINPUT_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remove_tree.h"
#include "sdcl.h"

/* A CLI case still running after this long is killed and fails (a hang). */
#define CLI_TIMEOUT_S 120

typedef struct {
  char *id, *via, *expect, *message;
  bool done;
} row;

extern char *tmp_root, *fixtures, *sdcl_cli;
extern sdcl_ctx *ctx;
extern sdcl_model *tiny;   /* the regular tiny model, loaded once */

row *find_row (const char *id);
char *tmp_path (const char *name);
/* The same, for the case files that predate the shared names (g_free). */
char *badinput_tmp_path (const char *name);
void load_case (const char *id, const char *path, const sdcl_model_params *mp);
char *folder_copy (const char *name);
void replace_file (const char *dir, const char *rel, const char *text);
void write_png (const char *name, uint32_t w, uint32_t h, size_t cut);
void copy_tree (const char *from, const char *to);
/* Checks an API result against row `id` of the table (and marks it run). */
void expect_api (const char *id, sdcl_status st, const sdcl_error *err);
/* 32x32, 3 Euler steps, seed 3. */
sdcl_gen_params small (void);
sdcl_image flat_image (int w, int h, int c, float v);
sdcl_image pattern_image (int w, int h);

/* Runs the sdcl command for the table's row `id` (extra_env: name, value
 * pairs, NULL-terminated, a NULL value unsets; setup: run in the child
 * before exec, or NULL), checks its exit code and message against the row
 * and returns its stderr (g_free), or NULL when it did not run.  A command
 * still running after CLI_TIMEOUT_S is killed and fails its row. */
char *badinput_cli_run (const char *id, char **extra_env, GSpawnChildSetupFunc setup,
                        const char *const *args);
/* badinput_cli_run without a setup, discarding stderr. */
void cli_case (const char *id, char **extra_env, const char *const *args);

/* The case files; each returns its number of failed checks (check.h
 * counts per translation unit, and main adds them to its own). */
int test_cli_output (const char *model);
int test_cli_values (const char *model);
int test_files_not_files (bool api_only);
int test_runtime (void);
int test_runtime_cli (void);
/* prompt_cases.c: prompts and embeddings (the CLI rows when with_cli). */
int test_prompt_cases (bool with_cli, const char *model);
int test_lora_cases (void);   /* lora_cases.c */
int test_sdxl_cases (void);

#endif

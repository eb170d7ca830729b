/* What test_badinput.c shares with the other case files of the bad-input
 * test (badinput_runtime.c): the table check, the fixtures and helpers.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_BADINPUT_H
#define SDCL_TEST_BADINPUT_H

#include "sdcl.h"

extern char *tmp_root, *fixtures, *sdcl_cli;
extern sdcl_ctx *ctx;
extern sdcl_model *tiny;   /* the regular tiny model, loaded once */

/* Checks an API result against row `id` of the table (and marks it run). */
void expect_api (const char *id, sdcl_status st, const sdcl_error *err);
/* Runs the sdcl command with args (NULL-terminated) and extra_env
 * (name, value pairs, NULL-terminated) against row `id`. */
void cli_case (const char *id, char **extra_env, const char *const *args);
char *tmp_path (const char *name);
void copy_tree (const char *from, const char *to);
/* 32x32, 3 Euler steps, seed 3. */
sdcl_gen_params small (void);
sdcl_image flat_image (int w, int h, int c, float v);
sdcl_image pattern_image (int w, int h);

/* badinput_runtime.c (issue 22): sizes, NULL arguments, model files that
 * change after the load, prompt stops after errors. */
void test_runtime (void);
void test_runtime_cli (void);

#endif

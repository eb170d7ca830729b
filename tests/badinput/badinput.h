/* Shared by the files of the bad-input test (test_badinput.c runs the
 * table; cli_cases.c holds the command line's output and value cases).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_BADINPUT_H
#define SDCL_BADINPUT_H

#include <glib.h>

/* A path in the test's temporary folder, where the CLI runs (g_free). */
char *badinput_tmp_path (const char *name);

/* Runs the sdcl command for the table's row `id` (extra_env: name, value
 * pairs, NULL-terminated; setup: run in the child before exec, or NULL),
 * checks its exit code and message against the row and returns its stderr
 * (g_free), or NULL when it did not run. */
char *badinput_cli_run (const char *id, char **extra_env, GSpawnChildSetupFunc setup,
                        const char *const *args);

/* The cases of cli_cases.c; each returns its number of failed checks
 * (check.h counts per file). */
int test_cli_output (const char *model);
int test_cli_values (const char *model);

#endif

/* Cancelling a run as a given phase starts, through the pipeline's phase
 * hook (sdcl_set_phase_hook_for_testing), shared by the cancel tests:
 *
 *   phase_state s = { .target = "denoising step 2" };
 *   p.cancel = &s.flag;
 *   sdcl_set_phase_hook_for_testing (raise_at_phase, &s);
 *
 * `seen` tells whether the phase started at all (a run that never reaches
 * it proves nothing about cancelling there).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_TEST_PHASE_CANCEL_H
#define SDCL_TEST_PHASE_CANCEL_H

#include <glib.h>
#include <stdbool.h>

typedef struct {
  const char *target;   /* phase name prefix that raises the flag */
  volatile int flag;
  bool seen;
} phase_state;

static inline void
raise_at_phase (const char *phase, void *user)
{
  phase_state *s = user;
  if (g_str_has_prefix (phase, s->target))
    {
      s->flag = 1;
      s->seen = true;
    }
}

#endif

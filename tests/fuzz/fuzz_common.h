/* Helpers shared by the libFuzzer harnesses (tests/fuzz).
 *
 * Some parsers only take a path.  The harnesses hand them an anonymous
 * in-memory file (memfd) through /proc/self/fd/N: nothing touches the disk,
 * and the descriptor is closed after every input so a run cannot leak.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_FUZZ_COMMON_H
#define SDCL_FUZZ_COMMON_H

/* memfd_create needs _GNU_SOURCE, which meson.build passes (-D_GNU_SOURCE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sdcl.h"

typedef struct {
  int fd;
  char path[64];
} fuzz_memfile;

/* Creates an in-memory file holding data[0..len); aborts when the kernel
 * refuses (that is an environment problem, not a finding). */
static inline void
fuzz_memfile_open (fuzz_memfile *m, const char *name, const void *data, size_t len)
{
  m->fd = memfd_create (name, MFD_CLOEXEC);
  if (m->fd < 0)
    {
      perror ("memfd_create");
      abort ();
    }
  const char *p = data;
  size_t left = len;
  while (left)
    {
      ssize_t n = write (m->fd, p, left);
      if (n <= 0)
        {
          perror ("write memfd");
          abort ();
        }
      p += n;
      left -= (size_t) n;
    }
  snprintf (m->path, sizeof m->path, "/proc/self/fd/%d", m->fd);
}

static inline void
fuzz_memfile_close (fuzz_memfile *m)
{
  close (m->fd);
  m->fd = -1;
}

/* Every failure must come with its code in err and a non-empty message
 * that is a terminated string: a parser that fails silently is a finding. */
static inline void
fuzz_check_error (sdcl_status st, const sdcl_error *err)
{
  if (st == SDCL_OK)
    return;
  if (err->code != st || memchr (err->message, '\0', sizeof err->message) == NULL
      || err->message[0] == '\0')
    {
      fprintf (stderr, "fuzz: status %d without a matching error message (code %d)\n", (int) st,
               (int) err->code);
      abort ();
    }
}

#endif

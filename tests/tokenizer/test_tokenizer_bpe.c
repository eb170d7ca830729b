/* The merge table and merge order of tokenizer_bpe.c on toy vocabularies,
 * where the expected result can be worked out by hand.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>
#include <string.h>

#include "check.h"
#include "tokenizer_bpe.h"

enum { A, B, C, D, AB, BC, ABC, AA, AAA, AAAA, CD, N_SYMBOLS };

static const char *const names[N_SYMBOLS] = { "a", "b", "c", "d", "ab", "bc", "abc", "aa", "aaa",
                                              "aaaa", "cd" };

static void
check_word (const sdcl_bpe *bpe, const char *what, const int32_t *in, int n, const int32_t *want,
            int want_n)
{
  int32_t word[64];
  memcpy (word, in, (size_t) n * sizeof *word);
  int got_n = sdcl_bpe_apply (bpe, word, n);
  int same = got_n == want_n && memcmp (word, want, (size_t) want_n * sizeof *word) == 0;
  CHECK (same, "%s: got %d symbols, first \"%s\"; want %d, first \"%s\"", what, got_n,
         got_n > 0 ? names[word[0]] : "", want_n, want_n > 0 ? names[want[0]] : "");
}

int
main (void)
{
  sdcl_bpe *bpe = sdcl_bpe_new ();
  sdcl_bpe_add_merge (bpe, A, B, AB);   /* rank 0 */
  sdcl_bpe_add_merge (bpe, B, C, BC);   /* rank 1 */
  sdcl_bpe_add_merge (bpe, AB, C, ABC); /* rank 2 */
  sdcl_bpe_add_merge (bpe, A, A, AA);   /* rank 3 */
  sdcl_bpe_add_merge (bpe, AA, A, AAA); /* rank 4 */
  sdcl_bpe_add_merge (bpe, AA, AA, AAAA); /* rank 5 */
  CHECK (sdcl_bpe_n_merges (bpe) == 6, "n_merges %d", sdcl_bpe_n_merges (bpe));

  /* The lowest rank wins wherever it is: "ab" before "bc", then "abc". */
  check_word (bpe, "a b c", (int32_t[]) { A, B, C }, 3, (int32_t[]) { ABC }, 1);
  /* "bc" (rank 1) cannot form once "ab" (rank 0) took the b. */
  check_word (bpe, "a b c b c", (int32_t[]) { A, B, C, B, C }, 5, (int32_t[]) { ABC, BC }, 2);
  /* Overlapping occurrences merge left to right: a a a -> aa a -> aaa. */
  check_word (bpe, "a a a", (int32_t[]) { A, A, A }, 3, (int32_t[]) { AAA }, 1);
  /* a a a a -> aa aa (both rank 3 first) -> then aa+a is gone, aaaa (rank 5). */
  check_word (bpe, "a a a a", (int32_t[]) { A, A, A, A }, 4, (int32_t[]) { AAAA }, 1);
  /* a a a a a -> aa aa a -> aaa is rank 4 < 5: aa aaa. */
  check_word (bpe, "a a a a a", (int32_t[]) { A, A, A, A, A }, 5, (int32_t[]) { AA, AAA }, 2);
  /* No merge applies. */
  check_word (bpe, "d c", (int32_t[]) { D, C }, 2, (int32_t[]) { D, C }, 2);
  check_word (bpe, "single", (int32_t[]) { D }, 1, (int32_t[]) { D }, 1);
  check_word (bpe, "empty", (int32_t[]) { 0 }, 0, (int32_t[]) { 0 }, 0);

  /* A pair added again takes the later rank: (b, c) now comes after (c, d). */
  sdcl_bpe_add_merge (bpe, C, D, CD);   /* rank 6 */
  sdcl_bpe_add_merge (bpe, B, C, BC);   /* rank 7 (was 1) */
  check_word (bpe, "b c d", (int32_t[]) { B, C, D }, 3, (int32_t[]) { B, CD }, 2);

  /* Many merges: the table grows and keeps every entry. */
  sdcl_bpe *big = sdcl_bpe_new ();
  for (int32_t i = 0; i < 100000; i++)
    sdcl_bpe_add_merge (big, i, i + 1, 1000000 + i);
  int32_t word[2] = { 77777, 77778 };
  CHECK (sdcl_bpe_apply (big, word, 2) == 1 && word[0] == 1000000 + 77777,
         "large table lost a merge");
  int32_t none[2] = { 77778, 77777 };
  CHECK (sdcl_bpe_apply (big, none, 2) == 2, "large table invented a merge");
  sdcl_bpe_free (big);

  sdcl_bpe_free (bpe);
  sdcl_bpe_free (NULL);
  return check_finish ();
}

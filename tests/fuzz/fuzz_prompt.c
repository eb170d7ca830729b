/* libFuzzer harness: prompt encoding with the real CLIP vocabulary (data/,
 * found through SDCL_DATA_DIR or the source tree).  Checks the invariants
 * of the 77-id sequence for every input, valid UTF-8 or not.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "fuzz_common.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

static sdcl_tokenizer *tok;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  sdcl_error err = { 0 };
  if (sdcl_tokenizer_load_default (&tok, &err) != SDCL_OK)
    {
      fprintf (stderr, "fuzz_prompt: %s\n", err.message);
      exit (1);
    }
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = g_strndup ((const char *) data, size);   /* stops at a NUL, as a C prompt would */
  int32_t ids[SDCL_CLIP_CONTEXT];
  int n = sdcl_tokenizer_encode (tok, text, ids, SDCL_CLIP_CONTEXT);
  if (n < 0)
    abort ();
  for (int i = 0; i < n && i < SDCL_CLIP_CONTEXT; i++)
    if (ids[i] < 0 || ids[i] > SDCL_CLIP_EOS || !sdcl_tokenizer_token (tok, ids[i]))
      abort ();   /* content ids name tokens ("<|endoftext|>" typed in a prompt is the special token, as in transformers) */
  int32_t clip[SDCL_CLIP_CONTEXT];
  int m = sdcl_tokenizer_encode_clip (tok, text, SDCL_CLIP_EOS, clip);
  if (m != n || clip[0] != SDCL_CLIP_BOS)
    abort ();
  int content = n < SDCL_CLIP_CONTEXT - 2 ? n : SDCL_CLIP_CONTEXT - 2;
  if (clip[content + 1] != SDCL_CLIP_EOS)
    abort ();   /* truncated to 75 ids, then EOS */
  for (int i = 0; i < content; i++)
    if (clip[i + 1] != ids[i])
      abort ();
  g_free (text);
  return 0;
}

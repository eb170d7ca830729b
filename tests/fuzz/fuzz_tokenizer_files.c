/* libFuzzer harness: tokenizer files.  The input is vocab.json, a NUL byte,
 * merges.txt, a NUL byte and a prompt; the files are handed to
 * sdcl_tokenizer_load as in-memory files and, when they load, the prompt is
 * encoded with them.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <glib.h>

#include "fuzz_common.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *end = data + size;
  const uint8_t *sep1 = memchr (data, '\0', size);
  if (!sep1)
    return 0;
  const uint8_t *merges = sep1 + 1;
  const uint8_t *sep2 = memchr (merges, '\0', (size_t) (end - merges));
  size_t merges_len = (size_t) ((sep2 ? sep2 : end) - merges);
  char *prompt = sep2 ? g_strndup ((const char *) sep2 + 1, (size_t) (end - sep2 - 1)) : NULL;

  fuzz_memfile vocab_file, merges_file;
  fuzz_memfile_open (&vocab_file, "vocab.json", data, (size_t) (sep1 - data));
  fuzz_memfile_open (&merges_file, "merges.txt", merges, merges_len);
  sdcl_tokenizer *tok = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_tokenizer_load (vocab_file.path, merges_file.path, &tok, &err);
  fuzz_check_error (st, &err);
  if (st == SDCL_OK)
    {
      int32_t ids[SDCL_CLIP_CONTEXT];
      int n = sdcl_tokenizer_encode (tok, prompt, ids, SDCL_CLIP_CONTEXT);
      if (n < 0)
        abort ();
      for (int i = 0; i < n && i < SDCL_CLIP_CONTEXT; i++)
        if (!sdcl_tokenizer_token (tok, ids[i]))
          abort ();   /* every id names a token */
      int32_t clip[SDCL_CLIP_CONTEXT];
      (void) sdcl_tokenizer_encode_clip (tok, prompt, 0, clip);
      sdcl_tokenizer_free (tok);
    }
  fuzz_memfile_close (&vocab_file);
  fuzz_memfile_close (&merges_file);
  g_free (prompt);
  return 0;
}

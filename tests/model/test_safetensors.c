/* safetensors reader: every validation rule of docs/diffusion.md §Validation on crafted
 * buffers and real files, and the F16/BF16/F32 conversions.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "check.h"
#include "json_strict.h"
#include "safetensors.h"

/* A file image: 8-byte little-endian header length, header, data. */
static GByteArray *
image (const char *header, const void *data, size_t data_len)
{
  GByteArray *b = g_byte_array_new ();
  uint64_t n = strlen (header);
  uint8_t prefix[8];
  for (int i = 0; i < 8; i++)
    prefix[i] = (uint8_t) (n >> (8 * i));
  g_byte_array_append (b, prefix, 8);
  g_byte_array_append (b, (const guint8 *) header, (guint) n);
  if (data_len)
    g_byte_array_append (b, data, (guint) data_len);
  return b;
}

/* Opens the bytes and expects a model-format error whose message contains
 * `why` and the label. */
static void
expect_rejected_bytes (const char *what, const uint8_t *bytes, size_t len, const char *why)
{
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_st_open_buffer (bytes, len, "crafted.safetensors", &f, &err);
  CHECK (st == SDCL_ERR_MODEL_FORMAT && err.code == st, "%s: status %d, want model-format", what, st);
  CHECK (f == NULL, "%s: no file object on failure", what);
  CHECK (strstr (err.message, why) != NULL, "%s: message '%s' lacks '%s'", what, err.message, why);
  CHECK (strstr (err.message, "crafted.safetensors") != NULL, "%s: message '%s' lacks the label", what,
         err.message);
  sdcl_st_close (f);
}

static void
expect_rejected (const char *header, size_t data_len, const char *why)
{
  uint8_t *zeros = g_malloc0 (MAX (data_len, 1));
  GByteArray *b = image (header, zeros, data_len);
  expect_rejected_bytes (header, b->data, b->len, why);
  g_byte_array_free (b, TRUE);
  g_free (zeros);
}

static sdcl_st_file *
expect_accepted (const char *what, GByteArray *b)
{
  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  sdcl_status st = sdcl_st_open_buffer (b->data, b->len, what, &f, &err);
  CHECK (st == SDCL_OK && f, "%s: rejected: %s", what, err.message);
  return f;
}

/* A header with one F32 tensor "t" of `shape` (a JSON list text). */
static char *
one_tensor (const char *shape, const char *offsets)
{
  return g_strdup_printf ("{\"t\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":%s}}", shape, offsets);
}

static void
test_length_prefix (void)
{
  uint8_t small[5] = { 0 };
  expect_rejected_bytes ("5 bytes", small, sizeof small, "header too small");
  uint8_t huge[16] = { 0x01, 0xe1, 0xf5, 0x05 };   /* 100000001 */
  memcpy (huge + 8, "{}      ", 8);
  expect_rejected_bytes ("N > 1e8", huge, sizeof huge, "header too large");
  uint8_t max[16];
  memset (max, 0xff, 8);
  memcpy (max + 8, "{}      ", 8);
  expect_rejected_bytes ("N = 2^64-1", max, sizeof max, "header too large");
  uint8_t past[16] = { 9 };
  memcpy (past + 8, "{}      ", 8);
  expect_rejected_bytes ("N past the end", past, sizeof past, "invalid header length");
}

static void
test_json_rules (void)
{
  expect_rejected ("[]", 0, "does not start with '{'");
  expect_rejected (" {}", 0, "does not start with '{'");
  expect_rejected ("{\"t\":", 0, "invalid JSON");
  expect_rejected ("{\"\xff\":1}", 0, "invalid UTF-8");
  GByteArray *nul = image ("{\"a\0\":1}", NULL, 0);
  memcpy (nul->data + 8, "{\"a\0\":1}", 8);
  g_byte_array_set_size (nul, 16);
  nul->data[0] = 8;
  expect_rejected_bytes ("NUL in header", nul->data, nul->len, "NUL");
  g_byte_array_free (nul, TRUE);
  expect_rejected ("{/* c */}", 0, "invalid JSON");
  expect_rejected ("{'t':1}", 0, "invalid JSON");
  expect_rejected ("{} x", 0, "trailing characters");
  expect_rejected ("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "duplicate key 'a'");
  expect_rejected ("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                   "\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
                   "duplicate key 'a'");
  expect_rejected ("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
                   "duplicate key 'dtype'");
  expect_rejected ("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "leading zero");
  expect_rejected ("{\"a\":{\"dtype\":\"F32\",\"shape\":[0x1],\"data_offsets\":[0,4]}}", 4, "invalid JSON");
  expect_rejected ("{\"\\ud800\":1}", 0, "surrogate");
}

/* The strict JSON pass on its own: what json-glib would let through. */
static void
test_strict_json (void)
{
  struct { const char *text; const char *why; } cases[] = {
    { "{\"a\": [1, 2.5, -3e-2, true, false, null, \"\\u00e9\\n\"]}", NULL },
    { "  [9007199254740992, -9007199254740992]  ", NULL },
    { "{\"\\ud83d\\ude00\": {}, \"x\": {\"a\": 1}, \"y\": {\"a\": 1}}", NULL },
    { "[9007199254740993]", "too large to be exact" },
    { "[-12345678901234567890]", "too large to be exact" },
    { "[1.]", "no digits after the decimal point" },
    { "[1e]", "no digits in the exponent" },
    { "[-]", "unexpected character" },
    { "[\"a\tb\"]", "control character" },
    { "[\"\\x\"]", "invalid escape" },
    { "[\"\\u12\"]", "bad hex digit" },
    { "[\"\\u0000\"]", "U+0000" },
    { "[\"\\udc00\"]", "lone low surrogate" },
    { "[\"\\ud800x\"]", "high surrogate not followed" },
    { "[\"abc", "unterminated string" },
    { "{\"a\" 1}", "expected ':'" },
    { "{\"a\": 1,}", "expected '\"'" },
    { "[1 2]", "expected ']'" },
    { "nul", "unexpected character" },
    { "", "unexpected end of text" },
    { "{\"k\": {\"z\": 1, \"z\": 2}}", "duplicate key 'z'" },
  };
  char msg[256];
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      bool ok = sdcl_json_check_strict (cases[i].text, strlen (cases[i].text), msg, sizeof msg);
      if (!cases[i].why)
        CHECK (ok, "'%s' rejected: %s", cases[i].text, msg);
      else
        CHECK (!ok && strstr (msg, cases[i].why), "'%s': %s, want '%s'", cases[i].text, ok ? "accepted" : msg,
               cases[i].why);
    }
  /* nesting is bounded so hostile headers cannot exhaust the stack */
  char *deep = g_strnfill (65, '[');
  CHECK (!sdcl_json_check_strict (deep, 65, msg, sizeof msg) && strstr (msg, "nesting deeper than 64"), "%s", msg);
  GString *balanced = g_string_new (NULL);
  for (int i = 0; i < 64; i++)
    g_string_append_c (balanced, '[');
  for (int i = 0; i < 64; i++)
    g_string_append_c (balanced, ']');
  CHECK (sdcl_json_check_strict (balanced->str, balanced->len, msg, sizeof msg), "64 levels: %s", msg);
  g_string_free (balanced, TRUE);
  g_free (deep);
}

static void
test_metadata_rules (void)
{
  expect_rejected ("{\"__metadata__\":[]}", 0, "__metadata__ is not an object");
  expect_rejected ("{\"__metadata__\":{\"format\":1}}", 0, "value of 'format' is not a string");
  expect_rejected ("{\"__metadata__\":{\"x\":{\"y\":\"z\"}}}", 0, "value of 'x' is not a string");
  GByteArray *b = image ("{\"__metadata__\":{\"format\":\"pt\"}}", NULL, 0);
  sdcl_st_file *f = expect_accepted ("metadata", b);
  if (f)
    {
      CHECK (g_strcmp0 (sdcl_st_metadata (f, "format"), "pt") == 0, "metadata format");
      CHECK (sdcl_st_metadata (f, "other") == NULL, "absent metadata key");
      CHECK (sdcl_st_count (f) == 0, "metadata is not a tensor");
    }
  sdcl_st_close (f);
  g_byte_array_free (b, TRUE);
}

static void
test_entry_rules (void)
{
  expect_rejected ("{\"t\":[]}", 0, "entry 't' is not an object");
  expect_rejected ("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no dtype");
  expect_rejected ("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "no shape");
  expect_rejected ("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "no data_offsets");
  expect_rejected ("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4,
                   "unknown field 'extra'");
  expect_rejected ("{\"t\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F17'");
  expect_rejected ("{\"t\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no dtype");
  const char *bad_shapes[] = { "[1.0]", "[-1]", "[\"1\"]", "[1e0]", "[null]", "[[1]]" };
  for (size_t i = 0; i < G_N_ELEMENTS (bad_shapes); i++)
    {
      char *h = one_tensor (bad_shapes[i], "[0,4]");
      expect_rejected (h, 4, "is not a non-negative integer");
      g_free (h);
    }
  char *h = one_tensor ("[9007199254740993]", "[0,4]");
  expect_rejected (h, 4, "too large to be exact");
  g_free (h);
  h = one_tensor ("[1,1,1,1,1,1,1,1,1]", "[0,4]");
  expect_rejected (h, 4, "9 dimensions");
  g_free (h);
  const char *bad_offsets[] = { "[0.0,4]", "[0,-4]", "[\"0\",4]" };
  for (size_t i = 0; i < G_N_ELEMENTS (bad_offsets); i++)
    {
      h = one_tensor ("[1]", bad_offsets[i]);
      expect_rejected (h, 4, "are not non-negative integers");
      g_free (h);
    }
  h = one_tensor ("[1]", "[0,4,8]");
  expect_rejected (h, 4, "no data_offsets pair");
  g_free (h);
  h = one_tensor ("[0]", "[4,0]");
  expect_rejected (h, 4, "data_offsets [4, 0] end before they begin");
  g_free (h);
  char *long_name = g_strnfill (600, 'n');
  h = g_strdup_printf ("{\"%s\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", long_name);
  expect_rejected (h, 0, "longer than 512 bytes");
  g_free (h);
  g_free (long_name);
}

static void
test_size_rules (void)
{
  char *h = one_tensor ("[3]", "[0,8]");
  expect_rejected (h, 8, "needs 12 bytes but its data_offsets span 8");
  g_free (h);
  h = one_tensor ("[1099511627776,1099511627776]", "[0,4]");
  expect_rejected (h, 4, "element count overflows");
  g_free (h);
  expect_rejected ("{\"t\":{\"dtype\":\"F64\",\"shape\":[1073741824,1073741824],\"data_offsets\":[0,8]}}", 8,
                   "byte size overflows");
  expect_rejected ("{\"t\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
                   "not a whole number of bytes");
}

static void
test_layout_rules (void)
{
  expect_rejected ("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]},"
                   "\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}", 20,
                   "tensor 'z' data_offsets [16, 20] overlap the previous tensor");
  expect_rejected ("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                   "overlap the previous tensor");
  expect_rejected ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
                   "tensor 'y' data_offsets [8, 12] leave a gap after the previous tensor");
  expect_rejected ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "leave a gap");
  char *h = one_tensor ("[1]", "[0,4]");
  expect_rejected (h, 6, "trailing bytes");
  expect_rejected (h, 2, "the file is truncated");
  g_free (h);
  expect_rejected ("{}", 1, "trailing bytes");
}

static void
test_tensor_count_bound (void)
{
  GString *h = g_string_new ("{");
  for (int i = 0; i <= 65536; i++)
    g_string_append_printf (h, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                            i ? "," : "", i);
  g_string_append_c (h, '}');
  expect_rejected (h->str, 0, "more than 65536 tensors");
  g_string_free (h, TRUE);
}

/* Out-of-order entries, a scalar, an empty tensor and data at an odd file
 * offset are all valid. */
static void
test_valid_layouts (void)
{
  const float b_values[3] = { 1.5f, -2.25f, 1e-20f };
  const float c_value = 42.0f;
  uint8_t data[16];
  memcpy (data, &c_value, 4);
  memcpy (data + 4, b_values, 12);
  /* header length 115 (odd): every tensor sits at an unaligned address */
  const char *header = "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]},"
                       "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                       "\"e\":{\"dtype\":\"F16\",\"shape\":[2,0],\"data_offsets\":[4,4]}}";
  GByteArray *b = image (header, data, sizeof data);
  sdcl_st_file *f = expect_accepted ("valid", b);
  if (f)
    {
      CHECK (sdcl_st_count (f) == 3, "3 tensors, got %zu", sdcl_st_count (f));
      CHECK (strcmp (sdcl_st_at (f, 0)->name, "c") == 0, "first by offset is c");
      const sdcl_st_tensor *c = sdcl_st_find (f, "c"), *bt = sdcl_st_find (f, "b"), *e = sdcl_st_find (f, "e");
      CHECK (c && c->nd == 0 && c->n_elements == 1 && c->nbytes == 4, "scalar");
      CHECK (e && e->nd == 2 && e->n_elements == 0 && e->nbytes == 0 && e->dtype == SDCL_DT_F16, "empty");
      CHECK (bt && bt->dtype == SDCL_DT_F32 && strcmp (bt->dtype_name, "F32") == 0 && bt->shape[0] == 3, "b");
      CHECK (((uintptr_t) bt->data & 3) != 0 || ((uintptr_t) b->data & 3) != 0, "b is unaligned");
      float got[3] = { 0 }, scalar = 0;
      CHECK (sdcl_st_to_f32 (bt, got) && sdcl_st_to_f32 (c, &scalar), "conversions");
      CHECK_CLOSE ("unaligned F32", got, b_values, 3, 0, 0);
      CHECK (scalar == 42.0f, "scalar %g", scalar);
      CHECK (sdcl_st_find (f, "missing") == NULL, "absent name");
      CHECK (strcmp (sdcl_st_path (f), "valid") == 0, "label");
    }
  sdcl_st_close (f);
  g_byte_array_free (b, TRUE);
}

static void
test_half_conversions (void)
{
  static const uint16_t halves[] = { 0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff,
                                     0x0400, 0x3555, 0x8001, 0x7c00, 0xfc00 };
  const float want[] = { 0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f,
                         0.333251953125f, -0x1p-24f, INFINITY, -INFINITY };
  uint8_t data[2 * G_N_ELEMENTS (halves) + 4];
  for (size_t i = 0; i < G_N_ELEMENTS (halves); i++)
    {
      data[2 * i] = (uint8_t) halves[i];
      data[2 * i + 1] = (uint8_t) (halves[i] >> 8);
    }
  data[24] = 0x00, data[25] = 0x7e;   /* quiet NaN */
  data[26] = 0x01, data[27] = 0xfc;   /* signalling NaN with payload */
  GByteArray *b = image ("{\"h\":{\"dtype\":\"F16\",\"shape\":[14],\"data_offsets\":[0,28]}}", data, 28);
  sdcl_st_file *f = expect_accepted ("halves", b);
  float got[14];
  if (f && sdcl_st_to_f32 (sdcl_st_find (f, "h"), got))
    {
      CHECK_CLOSE ("F16 to F32", got, want, 10, 0, 0);
      CHECK (got[10] == INFINITY && got[11] == -INFINITY, "F16 infinities: %g %g", got[10], got[11]);
      CHECK (signbit (got[1]) && !signbit (got[0]), "signed zeros");
      CHECK (isnan (got[12]) && isnan (got[13]), "NaNs stay NaN: %g %g", got[12], got[13]);
    }
  else
    CHECK (0, "F16 conversion failed");
  sdcl_st_close (f);
  g_byte_array_free (b, TRUE);
}

static void
test_bf16_conversions (void)
{
  static const uint16_t bf[] = { 0x3f80, 0xc0a0, 0x0001, 0x7f80, 0x8000, 0x7fc0 };
  const float want[] = { 1.0f, -5.0f, 0x1p-133f };
  uint8_t data[12];
  for (size_t i = 0; i < 6; i++)
    {
      data[2 * i] = (uint8_t) bf[i];
      data[2 * i + 1] = (uint8_t) (bf[i] >> 8);
    }
  GByteArray *b = image ("{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                         "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[12,20]}}", data, 12);
  uint8_t eight[8] = { 0 };
  g_byte_array_append (b, eight, 8);
  sdcl_st_file *f = expect_accepted ("bf16", b);
  float got[6];
  if (f && sdcl_st_to_f32 (sdcl_st_find (f, "b"), got))
    {
      CHECK_CLOSE ("BF16 to F32", got, want, 3, 0, 0);
      CHECK (got[3] == INFINITY && got[4] == 0 && signbit (got[4]), "BF16 inf, -0: %g %g", got[3], got[4]);
      CHECK (isnan (got[5]), "BF16 NaN");
      CHECK (!sdcl_st_to_f32 (sdcl_st_find (f, "i"), got), "I64 is not converted");
      CHECK (sdcl_st_find (f, "i")->dtype == SDCL_DT_I64, "I64 dtype");
    }
  else
    CHECK (0, "BF16 conversion failed");
  sdcl_st_close (f);
  g_byte_array_free (b, TRUE);
}

/* Real files: mmap, I/O errors and a rejected file on disk. */
static void
test_files (void)
{
  char *dir = g_dir_make_tmp ("sdcl-st-XXXXXX", NULL);
  char *good = g_build_filename (dir, "good.safetensors", NULL);
  char *bad = g_build_filename (dir, "bad.safetensors", NULL);
  char *missing = g_build_filename (dir, "missing.safetensors", NULL);
  const float v[2] = { 3.0f, -4.0f };
  GByteArray *b = image ("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, 8);
  CHECK (g_file_set_contents (good, (const char *) b->data, b->len, NULL), "write good");
  CHECK (g_file_set_contents (bad, (const char *) b->data, b->len - 1, NULL), "write bad");
  g_byte_array_free (b, TRUE);

  sdcl_st_file *f = NULL;
  sdcl_error err = { 0 };
  CHECK (sdcl_st_open (good, &f, &err) == SDCL_OK, "good file: %s", err.message);
  float got[2] = { 0 };
  if (f)
    {
      CHECK (strcmp (sdcl_st_path (f), good) == 0, "path");
      CHECK (sdcl_st_to_f32 (sdcl_st_find (f, "w"), got), "convert");
      CHECK_CLOSE ("mapped F32", got, v, 2, 0, 0);
    }
  sdcl_st_close (f);
  CHECK (sdcl_st_open (bad, &f, &err) == SDCL_ERR_MODEL_FORMAT && strstr (err.message, bad)
         && strstr (err.message, "truncated"), "truncated file: %s", err.message);
  CHECK (sdcl_st_open (missing, &f, &err) == SDCL_ERR_IO && strstr (err.message, missing), "missing: %s",
         err.message);
  CHECK (sdcl_st_open (dir, &f, &err) == SDCL_ERR_IO && strstr (err.message, "folder"), "folder: %s",
         err.message);
  char *empty = g_build_filename (dir, "empty.safetensors", NULL);
  CHECK (g_file_set_contents (empty, "", 0, NULL), "write empty");
  CHECK (sdcl_st_open (empty, &f, &err) == SDCL_ERR_MODEL_FORMAT && strstr (err.message, "header too small"),
         "empty file: %s", err.message);
  g_unlink (empty);
  g_free (empty);
  if (g_file_test ("/dev/null", G_FILE_TEST_EXISTS))
    CHECK (sdcl_st_open ("/dev/null", &f, &err) == SDCL_ERR_IO && strstr (err.message, "not a regular file"),
           "device: %s", err.message);
  CHECK (sdcl_st_open (good, &f, NULL) == SDCL_OK, "NULL err is allowed");
  sdcl_st_close (f);
  sdcl_st_close (NULL);
  g_unlink (good);
  g_unlink (bad);
  g_rmdir (dir);
  g_free (good);
  g_free (bad);
  g_free (missing);
  g_free (dir);
}

int
main (void)
{
  test_length_prefix ();
  test_json_rules ();
  test_strict_json ();
  test_metadata_rules ();
  test_entry_rules ();
  test_size_rules ();
  test_layout_rules ();
  test_tensor_count_bound ();
  test_valid_layouts ();
  test_half_conversions ();
  test_bf16_conversions ();
  test_files ();
  return check_finish ();
}

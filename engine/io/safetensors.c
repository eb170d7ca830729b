/* safetensors reader: maps a file read-only and accepts it only after every
 * rule of the format holds (docs/diffusion.md §Validation), so that the rest of the engine
 * may trust each tensor's dtype, shape and byte range.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_internal.h"
#include "json_strict.h"
#include "sdcl_file.h"

/* The reference implementation's cap on the JSON header. */
#define MAX_HEADER_BYTES UINT64_C (100000000)
/* Engine caps: an SDXL checkpoint with EMA copies has ~5000 tensors and
 * names under 150 bytes; these leave ample room and bound the work a
 * hostile header can cause. */
#define MAX_TENSORS 65536
#define MAX_NAME_BYTES 512

/* Files are mapped, but after validation no byte of a mapping is read:
 * tensor data is copied out with pread() on a descriptor kept open
 * (sdcl_st_read).  A mapped page whose file was truncated raises SIGBUS
 * on access, and a library cannot catch that soundly: the handler is
 * process-wide (hosts such as GIMP install their own), and siglongjmp out
 * of a conversion loop leaves the device mapping half written.  A pread()
 * past the new end merely returns short.  The mapping stays as the address
 * space the tensors' `data` pointers (offsets) refer to, and for the tests'
 * sdcl_st_to_f32. */
struct sdcl_st_file {
  char *label;
  GMappedFile *mapping;      /* NULL for buffers */
  int fd;                    /* -1 for buffers */
  gint64 size_at_open;       /* st_size and st_mtim when opened (see file_changed) */
  gint64 mtime_sec_at_open, mtime_nsec_at_open;
  uint8_t *head;             /* files: the length prefix and header, read with pread() */
  const uint8_t *bytes;
  size_t len;
  const uint8_t *data;       /* start of the data buffer */
  sdcl_st_tensor *tensors;   /* sorted by data offset */
  size_t n_tensors;
  GStringChunk *strings;     /* tensor names, metadata */
  GHashTable *by_name;       /* name -> sdcl_st_tensor* */
  GHashTable *metadata;      /* key -> value, both in strings */
};

/* ---- dtypes ------------------------------------------------------------ */

typedef struct {
  const char *name;
  sdcl_dtype dtype;
  unsigned bits;
} dtype_info;

static const dtype_info dtypes[] = {
  { "BOOL", SDCL_DT_BOOL, 8 },   { "U8", SDCL_DT_U8, 8 },       { "I8", SDCL_DT_I8, 8 },
  { "I16", SDCL_DT_I16, 16 },    { "U16", SDCL_DT_U16, 16 },    { "F16", SDCL_DT_F16, 16 },
  { "BF16", SDCL_DT_BF16, 16 },  { "I32", SDCL_DT_I32, 32 },    { "U32", SDCL_DT_U32, 32 },
  { "F32", SDCL_DT_F32, 32 },    { "I64", SDCL_DT_I64, 64 },    { "U64", SDCL_DT_U64, 64 },
  { "F64", SDCL_DT_F64, 64 },    { "C64", SDCL_DT_OTHER, 64 },  { "F8_E5M2", SDCL_DT_OTHER, 8 },
  { "F8_E4M3", SDCL_DT_OTHER, 8 }, { "F8_E8M0", SDCL_DT_OTHER, 8 },
  { "F8_E4M3FNUZ", SDCL_DT_OTHER, 8 }, { "F8_E5M2FNUZ", SDCL_DT_OTHER, 8 },
  { "F6_E2M3", SDCL_DT_OTHER, 6 }, { "F6_E3M2", SDCL_DT_OTHER, 6 }, { "F4", SDCL_DT_OTHER, 4 },
};

static const dtype_info *
dtype_lookup (const char *name)
{
  for (size_t i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (strcmp (dtypes[i].name, name) == 0)
      return &dtypes[i];
  return NULL;
}

/* ---- header parsing ---------------------------------------------------- */

/* One tensor while the header is checked: its public view plus the offsets
 * relative to the data buffer. */
typedef struct {
  sdcl_st_tensor t;
  unsigned bits;             /* per element */
  uint64_t begin, end;
} entry;

typedef struct {
  const char *label;
  sdcl_error *err;
} checker;

static sdcl_status G_GNUC_PRINTF (2, 3)
reject (const checker *c, const char *fmt, ...)
{
  char what[900];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (what, sizeof what, fmt, ap);
  va_end (ap);
  return sdcl_fail (c->err, SDCL_ERR_MODEL_FORMAT, "%s: %s", c->label, what);
}

/* Rules 1-3: the 8-byte length prefix and the header's extent. */
static sdcl_status
check_header_length (const checker *c, const uint8_t *bytes, size_t len, uint64_t *header_len)
{
  if (len < 8)
    return reject (c, "header too small: the file has %zu bytes, fewer than the 8-byte length prefix",
                   len);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = n << 8 | bytes[i];
  if (n > MAX_HEADER_BYTES)
    return reject (c, "header too large: %" G_GUINT64_FORMAT " bytes (limit %" G_GUINT64_FORMAT ")",
                   n, MAX_HEADER_BYTES);
  if (n > len - 8)
    return reject (c, "invalid header length %" G_GUINT64_FORMAT ": the file has only %zu bytes after the prefix",
                   n, len - 8);
  *header_len = n;
  return SDCL_OK;
}

/* Rule 4: UTF-8, strict JSON, a top-level object, no duplicate keys. */
static sdcl_status
parse_header_json (const checker *c, const char *text, size_t n, JsonParser **out)
{
  char why[600];
  if (n == 0 || text[0] != '{')
    return reject (c, "the header does not start with '{'");
  if (!sdcl_json_check_strict (text, n, why, sizeof why))
    return reject (c, "header: %s", why);
  JsonParser *parser = json_parser_new_immutable ();
  GError *gerr = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) n, &gerr))
    {
      sdcl_status st = reject (c, "header is not valid JSON: %s", gerr->message);
      g_error_free (gerr);
      g_object_unref (parser);
      return st;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_object_unref (parser);
      return reject (c, "the header is not a JSON object");
    }
  *out = parser;
  return SDCL_OK;
}

/* Rule 5: __metadata__ maps strings to strings. */
static sdcl_status
parse_metadata (const checker *c, JsonNode *node, sdcl_st_file *f)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return reject (c, "__metadata__ is not an object");
  JsonObjectIter it;
  const char *key;
  JsonNode *v;
  json_object_iter_init (&it, json_node_get_object (node));
  while (json_object_iter_next (&it, &key, &v))
    {
      if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
        return reject (c, "__metadata__ value of '%s' is not a string", key);
      g_hash_table_insert (f->metadata, g_string_chunk_insert (f->strings, key),
                           g_string_chunk_insert (f->strings, json_node_get_string (v)));
    }
  return SDCL_OK;
}

/* A non-negative JSON integer (floats, strings, negatives refused). */
static bool
json_uint (JsonNode *node, uint64_t *out)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return false;
  gint64 v = json_node_get_int (node);
  if (v < 0)
    return false;
  *out = (uint64_t) v;
  return true;
}

static sdcl_status
parse_dtype (const checker *c, const char *name, JsonObject *o, entry *e)
{
  JsonNode *node = json_object_get_member (o, "dtype");
  if (!node || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return reject (c, "tensor '%s' has no dtype string", name);
  const dtype_info *info = dtype_lookup (json_node_get_string (node));
  if (!info)
    return reject (c, "tensor '%s' has unknown dtype '%s'", name, json_node_get_string (node));
  e->t.dtype = info->dtype;
  e->t.dtype_name = info->name;
  e->bits = info->bits;
  return SDCL_OK;
}

/* Rule 8, first half: the element count, overflow-checked. */
static sdcl_status
parse_shape (const checker *c, const char *name, JsonObject *o, entry *e)
{
  JsonNode *node = json_object_get_member (o, "shape");
  if (!node || !JSON_NODE_HOLDS_ARRAY (node))
    return reject (c, "tensor '%s' has no shape array", name);
  JsonArray *a = json_node_get_array (node);
  guint nd = json_array_get_length (a);
  if (nd > SDCL_ST_MAX_DIMS)
    return reject (c, "tensor '%s' has %u dimensions (limit %d)", name, nd, SDCL_ST_MAX_DIMS);
  uint64_t count = 1;
  for (guint i = 0; i < nd; i++)
    {
      uint64_t d;
      if (!json_uint (json_array_get_element (a, i), &d))
        return reject (c, "tensor '%s' shape entry %u is not a non-negative integer", name, i);
      if (d != 0 && count > (uint64_t) INT64_MAX / d)
        return reject (c, "tensor '%s' element count overflows", name);
      count *= d;
      e->t.shape[i] = (int64_t) d;
    }
  e->t.nd = (int) nd;
  e->t.n_elements = (int64_t) count;
  return SDCL_OK;
}

static sdcl_status
parse_offsets (const checker *c, const char *name, JsonObject *o, entry *e)
{
  JsonNode *node = json_object_get_member (o, "data_offsets");
  if (!node || !JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) != 2)
    return reject (c, "tensor '%s' has no data_offsets pair", name);
  JsonArray *a = json_node_get_array (node);
  if (!json_uint (json_array_get_element (a, 0), &e->begin)
      || !json_uint (json_array_get_element (a, 1), &e->end))
    return reject (c, "tensor '%s' data_offsets are not non-negative integers", name);
  if (e->end < e->begin)
    return reject (c, "tensor '%s' data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] end before they begin",
                   name, e->begin, e->end);
  return SDCL_OK;
}

/* Rule 8, second half: dtype size x element count == byte range. */
static sdcl_status
check_byte_size (const checker *c, const char *name, entry *e)
{
  unsigned bits = e->bits;
  uint64_t count = (uint64_t) e->t.n_elements;
  if (count > UINT64_MAX / bits)
    return reject (c, "tensor '%s' byte size overflows", name);
  uint64_t total_bits = count * bits;
  if (total_bits % 8 != 0)
    return reject (c, "tensor '%s' of %s has %" G_GUINT64_FORMAT " elements, not a whole number of bytes",
                   name, e->t.dtype_name, count);
  e->t.nbytes = total_bits / 8;
  if (e->t.nbytes != e->end - e->begin)
    return reject (c, "tensor '%s' of %s with %" G_GUINT64_FORMAT " elements needs %" G_GUINT64_FORMAT
                   " bytes but its data_offsets span %" G_GUINT64_FORMAT,
                   name, e->t.dtype_name, count, e->t.nbytes, e->end - e->begin);
  return SDCL_OK;
}

/* Rule 6: exactly dtype, shape and data_offsets, each well-formed. */
static sdcl_status
parse_entry (const checker *c, const char *name, JsonNode *node, entry *e)
{
  if (strlen (name) > MAX_NAME_BYTES)
    return reject (c, "tensor name '%.40s...' is longer than %d bytes", name, MAX_NAME_BYTES);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return reject (c, "entry '%s' is not an object", name);
  JsonObject *o = json_node_get_object (node);
  JsonObjectIter it;
  const char *field;
  json_object_iter_init (&it, o);
  while (json_object_iter_next (&it, &field, NULL))
    if (strcmp (field, "dtype") && strcmp (field, "shape") && strcmp (field, "data_offsets"))
      return reject (c, "tensor '%s' has unknown field '%s'", name, field);
  sdcl_status st;
  if ((st = parse_dtype (c, name, o, e)) || (st = parse_shape (c, name, o, e))
      || (st = parse_offsets (c, name, o, e)) || (st = check_byte_size (c, name, e)))
    return st;
  return SDCL_OK;
}

static int
by_offset (const void *a, const void *b)
{
  const entry *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Rules 7 and 9: sorted by offset the tensors tile the data buffer exactly. */
static sdcl_status
check_layout (const checker *c, entry *entries, size_t n, uint64_t data_len)
{
  if (n > 1)
    qsort (entries, n, sizeof *entries, by_offset);
  uint64_t start = 0;
  for (size_t i = 0; i < n; i++)
    {
      const entry *e = &entries[i];
      if (e->begin != start)
        return reject (c, "tensor '%s' data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] %s",
                       e->t.name, e->begin, e->end,
                       e->begin < start ? "overlap the previous tensor"
                                        : "leave a gap after the previous tensor");
      start = e->end;
    }
  if (start != data_len)
    return reject (c, "the tensors cover %" G_GUINT64_FORMAT " bytes but the data buffer has %" G_GUINT64_FORMAT
                   " (%s)", start, data_len,
                   start < data_len ? "trailing bytes" : "the file is truncated");
  return SDCL_OK;
}

static sdcl_status
parse_tensors (const checker *c, JsonObject *root, sdcl_st_file *f, GArray *entries)
{
  JsonObjectIter it;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&it, root);
  while (json_object_iter_next (&it, &name, &node))
    {
      sdcl_status st;
      if (strcmp (name, "__metadata__") == 0)
        {
          if ((st = parse_metadata (c, node, f)))
            return st;
          continue;
        }
      if (entries->len >= MAX_TENSORS)
        return reject (c, "more than %d tensors", MAX_TENSORS);
      entry e = { 0 };
      if ((st = parse_entry (c, name, node, &e)))
        return st;
      e.t.name = g_string_chunk_insert (f->strings, name);
      g_array_append_val (entries, e);
    }
  return SDCL_OK;
}

/* Publishes the checked entries: data pointers and the name index. */
static void
adopt_entries (sdcl_st_file *f, GArray *entries)
{
  f->n_tensors = entries->len;
  f->tensors = g_new0 (sdcl_st_tensor, MAX (entries->len, 1));
  for (guint i = 0; i < entries->len; i++)
    {
      entry *e = &g_array_index (entries, entry, i);
      f->tensors[i] = e->t;
      f->tensors[i].data = f->data + e->begin;
      g_hash_table_insert (f->by_name, (gpointer) f->tensors[i].name, &f->tensors[i]);
    }
}

static sdcl_status
validate (sdcl_st_file *f, sdcl_error *err)
{
  checker c = { f->label, err };
  uint64_t n = 0;
  const uint8_t *head = f->head ? f->head : f->bytes;
  sdcl_status st = check_header_length (&c, head, f->len, &n);
  if (st)
    return st;
  JsonParser *parser = NULL;
  if ((st = parse_header_json (&c, (const char *) head + 8, (size_t) n, &parser)))
    return st;
  f->data = f->bytes + 8 + n;
  GArray *entries = g_array_new (FALSE, TRUE, sizeof (entry));
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  st = parse_tensors (&c, root, f, entries);
  if (!st)
    st = check_layout (&c, (entry *) (void *) entries->data, entries->len, f->len - 8 - n);
  if (!st)
    adopt_entries (f, entries);
  g_array_free (entries, TRUE);
  g_object_unref (parser);
  return st;
}

/* ---- public API -------------------------------------------------------- */

static sdcl_st_file *
file_new (const char *label, const void *bytes, size_t len)
{
  sdcl_st_file *f = g_new0 (sdcl_st_file, 1);
  f->label = g_strdup (label);
  f->bytes = bytes;
  f->len = len;
  f->fd = -1;
  f->strings = g_string_chunk_new (4096);
  f->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  f->metadata = g_hash_table_new (g_str_hash, g_str_equal);
  return f;
}

static sdcl_status
finish_open (sdcl_st_file *f, sdcl_st_file **out, sdcl_error *err)
{
  sdcl_status st = validate (f, err);
  if (st)
    {
      sdcl_st_close (f);
      *out = NULL;
      return st;
    }
  *out = f;
  return SDCL_OK;
}

sdcl_status
sdcl_st_open_buffer (const void *data, size_t len, const char *label, sdcl_st_file **out,
                     sdcl_error *err)
{
  if (!data && len)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "%s: NULL buffer", label ? label : "buffer");
  return finish_open (file_new (label ? label : "buffer", data, len), out, err);
}

/* All of `n` bytes at `offset`, or false (error, or the file ends first). */
static bool
pread_all (int fd, void *dst, size_t n, uint64_t offset)
{
  uint8_t *p = dst;
  while (n > 0)
    {
      ssize_t got = pread (fd, p, MIN (n, (size_t) 1 << 30), (off_t) offset);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return false;
      p += got;
      n -= (size_t) got;
      offset += (uint64_t) got;
    }
  return true;
}

/* The length prefix and the header, copied so that validation does not
 * read the mapping either.  Left at the prefix alone (or NULL) when the
 * length is out of bounds: check_header_length then says why. */
static void
read_head (sdcl_st_file *f)
{
  uint8_t prefix[8];
  if (f->len < 8 || !pread_all (f->fd, prefix, 8, 0))
    return;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = n << 8 | prefix[i];
  size_t keep = n <= MAX_HEADER_BYTES && n <= f->len - 8 ? (size_t) (8 + n) : 8;
  f->head = g_malloc (keep);
  if (!pread_all (f->fd, f->head, keep, 0))
    memset (f->head, 0xff, 8);   /* the file shrank meanwhile: an absurd length */
}

static void
record_identity (sdcl_st_file *f, const struct stat *sb)
{
  f->size_at_open = (gint64) sb->st_size;
  f->mtime_sec_at_open = (gint64) sb->st_mtim.tv_sec;
  f->mtime_nsec_at_open = (gint64) sb->st_mtim.tv_nsec;
}

/* Whether the file behind f's descriptor was written since it was opened.
 * `cp new.safetensors model.safetensors` truncates and rewrites the same
 * inode: its size or modification time moves.  A rename over the path
 * (what editors, downloaders and `mv` do) leaves our inode as it was: it
 * is not a change, the open descriptor still reads the validated bytes. */
static bool
file_changed (const sdcl_st_file *f)
{
  struct stat sb;
  if (fstat (f->fd, &sb) != 0)
    return true;
  return (gint64) sb.st_size != f->size_at_open || (gint64) sb.st_mtim.tv_sec != f->mtime_sec_at_open
         || (gint64) sb.st_mtim.tv_nsec != f->mtime_nsec_at_open;
}

sdcl_status
sdcl_st_open (const char *path, sdcl_st_file **out, sdcl_error *err)
{
  *out = NULL;
  GError *gerr = NULL;
  /* Checked on the open descriptor: a FIFO or device named as weights is
   * refused without blocking, and cannot be swapped in after the check.
   * The descriptor stays open: tensor bytes are read with pread
   * (sdcl_st_read), never through the mapping. */
  int fd = sdcl_file_open_regular (path, NULL, 0, NULL, &gerr);
  if (fd < 0)
    {
      sdcl_status st = sdcl_fail (err, SDCL_ERR_IO, "%s", gerr->message);
      g_error_free (gerr);
      return st;
    }
  struct stat sb;
  if (fstat (fd, &sb) != 0)
    {
      sdcl_status st = sdcl_fail (err, SDCL_ERR_IO, "%s: %s", path, g_strerror (errno));
      close (fd);
      return st;
    }
  GMappedFile *mapping = g_mapped_file_new_from_fd (fd, FALSE, &gerr);
  if (!mapping)
    {
      sdcl_status st = sdcl_fail (err, SDCL_ERR_IO, "cannot map %s: %s", path, gerr->message);
      g_error_free (gerr);
      close (fd);
      return st;
    }
  sdcl_st_file *f = file_new (path, g_mapped_file_get_contents (mapping),
                              g_mapped_file_get_length (mapping));
  f->mapping = mapping;
  f->fd = fd;
  record_identity (f, &sb);
  read_head (f);
  return finish_open (f, out, err);
}

sdcl_status
sdcl_st_read (const sdcl_st_file *f, const void *data, void *dst, size_t n, sdcl_error *err)
{
  const uint8_t *at = data;
  if (n == 0)
    return SDCL_OK;
  if (at < f->bytes || n > f->len || (size_t) (at - f->bytes) > f->len - n)
    return sdcl_fail (err, SDCL_ERR_INTERNAL, "%s: read of %zu bytes outside the file", f->label, n);
  if (f->fd < 0)
    {
      memcpy (dst, at, n);
      return SDCL_OK;
    }
  /* Checked before (nothing is read from a file known to have changed)
   * and after (a change racing with the read may have mixed old and new
   * bytes, or cut the read short). */
  bool ok = !file_changed (f) && pread_all (f->fd, dst, n, (uint64_t) (at - f->bytes));
  if (!ok || file_changed (f))
    return sdcl_fail (err, SDCL_ERR_IO,
                      "%s: the model file changed on disk since it was loaded; load the model "
                      "again", f->label);
  return SDCL_OK;
}

void
sdcl_st_close (sdcl_st_file *f)
{
  if (!f)
    return;
  g_hash_table_destroy (f->by_name);
  g_hash_table_destroy (f->metadata);
  g_string_chunk_free (f->strings);
  g_free (f->tensors);
  if (f->mapping)
    g_mapped_file_unref (f->mapping);
  if (f->fd >= 0)
    close (f->fd);
  g_free (f->head);
  g_free (f->label);
  g_free (f);
}

void
sdcl_st_drop_pages (const sdcl_st_file *f, const void *data, uint64_t nbytes)
{
  if (!f || !f->mapping || !f->len || !nbytes)
    return;
  /* The mapping starts on a page boundary; keep the range inside it. */
  const uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
  const uintptr_t map_begin = (uintptr_t) f->bytes;
  const uintptr_t map_end = (map_begin + f->len + page - 1) / page * page;
  uintptr_t begin = (uintptr_t) data / page * page;
  uintptr_t end = ((uintptr_t) data + nbytes + page - 1) / page * page;
  begin = MAX (begin, map_begin);
  end = MIN (end, map_end);
  if (begin < end)
    madvise ((void *) begin, end - begin, MADV_DONTNEED);   /* advisory: failure changes nothing */
}

size_t
sdcl_st_count (const sdcl_st_file *f)
{
  return f->n_tensors;
}

const sdcl_st_tensor *
sdcl_st_at (const sdcl_st_file *f, size_t i)
{
  return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const sdcl_st_tensor *
sdcl_st_find (const sdcl_st_file *f, const char *name)
{
  return g_hash_table_lookup (f->by_name, name);
}

sdcl_status
sdcl_st_need (const sdcl_st_file *f, const char *name, int nd, const sdcl_st_tensor **out,
              sdcl_error *err)
{
  const sdcl_st_tensor *t = sdcl_st_find (f, name);
  if (!t)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: missing tensor %s", sdcl_st_path (f), name);
  if (t->nd != nd)
    return sdcl_fail (err, SDCL_ERR_MODEL_FORMAT, "%s: tensor %s has %d dimensions, expected %d",
                      sdcl_st_path (f), name, t->nd, nd);
  *out = t;
  return SDCL_OK;
}

const char *
sdcl_st_path (const sdcl_st_file *f)
{
  return f->label;
}

const char *
sdcl_st_metadata (const sdcl_st_file *f, const char *key)
{
  return g_hash_table_lookup (f->metadata, key);
}

/* ---- conversions ------------------------------------------------------- */

static float
bits_to_float (uint32_t u)
{
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN
 * payloads). */
static float
half_to_float (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f)
    return bits_to_float (sign | 0x7f800000u | mantissa << 13);
  if (exponent == 0)
    {
      /* zero or subnormal: mantissa x 2^-24 is exact in binary32 */
      float magnitude = ldexpf ((float) mantissa, -24);
      return sign ? -magnitude : magnitude;
    }
  return bits_to_float (sign | (exponent + 112) << 23 | mantissa << 13);
}

/* Tensor data may sit at any byte offset, so every element is read
 * byte-wise (little-endian per the format) rather than through a cast. */
static uint16_t
load_le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t
load_le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

bool
sdcl_st_to_f32 (const sdcl_st_tensor *t, float *dst)
{
  const uint8_t *src = t->data;
  int64_t n = t->n_elements;
  bool convertible = t->dtype == SDCL_DT_F32 || t->dtype == SDCL_DT_F16 || t->dtype == SDCL_DT_BF16;
  if (n == 0 || !convertible)
    return convertible;
  switch (t->dtype)
    {
    case SDCL_DT_F32:
      if (G_BYTE_ORDER == G_LITTLE_ENDIAN)
        memcpy (dst, src, (size_t) n * 4);
      else
        for (int64_t i = 0; i < n; i++)
          dst[i] = bits_to_float (load_le32 (src + 4 * i));
      return true;
    case SDCL_DT_F16:
      for (int64_t i = 0; i < n; i++)
        dst[i] = half_to_float (load_le16 (src + 2 * i));
      return true;
    case SDCL_DT_BF16:
      for (int64_t i = 0; i < n; i++)
        dst[i] = bits_to_float ((uint32_t) load_le16 (src + 2 * i) << 16);
      return true;
    default:
      return false;
    }
}

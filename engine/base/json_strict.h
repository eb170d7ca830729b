/* A strict RFC 8259 check that runs before json-glib, whose parser is
 * lenient (it accepts comments, single quotes, hex and leading zeros, wraps
 * integers that overflow 64 bits and keeps only the last of duplicate keys).
 * Internal.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_JSON_STRICT_H
#define SDCL_JSON_STRICT_H

#include <stdbool.h>
#include <stddef.h>

/* True when text[0..len) is exactly one JSON value (surrounding whitespace
 * allowed) in which no object repeats a key (compared after unescaping), no
 * string holds U+0000 or a lone surrogate, and every integer is exact in a
 * double (|n| <= 2^53).  Nesting is limited to 64 levels.  Otherwise false,
 * with a message naming the byte offset and the rule in msg. */
bool sdcl_json_check_strict (const char *text, size_t len, char *msg, size_t msg_size);

#endif /* SDCL_JSON_STRICT_H */

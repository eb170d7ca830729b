/* Status names, the shared error helper and the version string.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "error_internal.h"

const char *
sdcl_status_name (sdcl_status code)
{
  switch (code)
    {
    case SDCL_OK: return "ok";
    case SDCL_ERR_INVALID_ARGUMENT: return "invalid-argument";
    case SDCL_ERR_IO: return "io";
    case SDCL_ERR_MODEL_FORMAT: return "model-format";
    case SDCL_ERR_UNSUPPORTED_MODEL: return "unsupported-model";
    case SDCL_ERR_TOKENIZER: return "tokenizer";
    case SDCL_ERR_NO_DEVICE: return "no-device";
    case SDCL_ERR_DEVICE: return "device";
    case SDCL_ERR_OUT_OF_MEMORY: return "out-of-memory";
    case SDCL_ERR_CANCELLED: return "cancelled";
    case SDCL_ERR_INTERNAL: return "internal";
    }
  return "unknown";
}

sdcl_status
sdcl_fail (sdcl_error *err, sdcl_status code, const char *fmt, ...)
{
  if (err)
    {
      va_list ap;
      va_start (ap, fmt);
      err->code = code;
      vsnprintf (err->message, sizeof err->message, fmt, ap);
      va_end (ap);
    }
  return code;
}

void
sdcl_error_clear (sdcl_error *err)
{
  if (err)
    {
      err->code = SDCL_OK;
      err->message[0] = '\0';
    }
}

const char *
sdcl_version (void)
{
  return SDCL_VERSION;
}

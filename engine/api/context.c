/* sdcl_ctx: a device and its compiled programs.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "api_internal.h"

sdcl_ctx_params
sdcl_ctx_default_params (void)
{
  sdcl_ctx_params p = { .device = NULL, .cache_dir = NULL };
  return p;
}

sdcl_status
sdcl_ctx_new (const sdcl_ctx_params *params, sdcl_ctx **out, sdcl_error *err)
{
  sdcl_ctx_params defaults = sdcl_ctx_default_params ();
  if (!out)
    return sdcl_fail (err, SDCL_ERR_INVALID_ARGUMENT, "sdcl_ctx_new: out is NULL");
  *out = NULL;
  if (!params)
    params = &defaults;

  sdcl_error_clear (err);
  sdcl_cl *cl = sdcl_cl_new (params->device, params->cache_dir, err);
  if (!cl)
    return err ? err->code : SDCL_ERR_NO_DEVICE;

  sdcl_ctx *ctx = g_new0 (sdcl_ctx, 1);
  ctx->cl = cl;
  g_mutex_init (&ctx->run_lock);
  *out = ctx;
  return SDCL_OK;
}

void
sdcl_ctx_free (sdcl_ctx *ctx)
{
  if (!ctx)
    return;
  sdcl_cl_free (ctx->cl);
  g_mutex_clear (&ctx->run_lock);
  g_free (ctx);
}

void
sdcl_ctx_get_device (const sdcl_ctx *ctx, sdcl_device_info *out)
{
  if (out)
    {
      if (ctx)
        *out = *sdcl_cl_device (ctx->cl);
      else
        memset (out, 0, sizeof *out);
    }
}

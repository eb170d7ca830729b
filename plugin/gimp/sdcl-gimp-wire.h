/* sdcl GIMP plug-in: the model server's messages and socket, shared by
 * its client (sdcl-gimp-remote.c) and the server (sdcl-gimp-server.c,
 * whose top comment describes the protocol).  Unix only.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SDCL_GIMP_WIRE_H
#define SDCL_GIMP_WIRE_H

#include "sdcl-gimp-private.h"

G_BEGIN_DECLS

/* The first argument that makes the plug-in binary the model server. */
#define SERVER_FLAG "--sdcl-server"

typedef enum
{
  MSG_LOAD = 1,   /* (ssbs) device, prediction, turbo, model */
  MSG_GENERATE,   /* (usia{sv}(iiiay)(iiiay)) mode, model, seed, settings, init, mask */
  MSG_RELEASE,    /* () */
  MSG_LOADED,     /* (sibssid) SdclModelSummary */
  MSG_PROGRESS,   /* (ii(iiiay)) step, steps, preview (empty: none) */
  MSG_RESULT,     /* (iiiay) the image */
  MSG_ERROR,      /* (is) SdclGimpError code, message */
  MSG_RELEASED,   /* (b) a model was loaded */
  MSG_LAST
} MsgType;

/* Sends and sinks `value`, which must be of `type`'s GVariant type. */
gboolean  sdcl_wire_send                  (int                 fd,
                                           MsgType             type,
                                           GVariant           *value);
/* The next message, or NULL at the end of the stream or for anything
 * malformed. */
GVariant *sdcl_wire_recv                  (int                 fd,
                                           MsgType            *type);
GVariant *sdcl_wire_image_to_variant      (const sdcl_image   *image);
/* FALSE for a malformed image; an empty one gives data == NULL. */
gboolean  sdcl_wire_image_from_variant    (GVariant           *value,
                                           sdcl_image         *image);
GVariant *sdcl_wire_settings_to_variant   (const SdclSettings *s);
/* LOADED's body: an SdclModelSummary (from_variant g_strdup's the
 * description into `summary`). */
GVariant *sdcl_wire_summary_to_variant    (const SdclModelSummary *summary);
void      sdcl_wire_summary_from_variant  (GVariant               *body,
                                           SdclModelSummary       *summary);
/* Missing keys keep the defaults of `mode`. */
void      sdcl_wire_settings_from_variant (GVariant           *dict,
                                           SdclMode            mode,
                                           SdclSettings       *s);
gboolean  sdcl_wire_send_error            (int                 fd,
                                           const GError       *error);
/* Where this GIMP's server listens (NULL when no private folder can be
 * made), and a connection to it (-1 when nothing listens). */
gchar    *sdcl_wire_socket_path           (void);
int       sdcl_wire_socket_connect        (const gchar        *path);

G_END_DECLS

#endif /* SDCL_GIMP_WIRE_H */

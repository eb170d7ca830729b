/* sdcl GIMP plug-in: a batch of images from consecutive seeds, below the
 * GIMP API (see sdcl_generate_batch in sdcl-gimp-core.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sdcl-gimp-core.h"

typedef struct
{
  SdclProgressFunc func;
  gpointer         data;
  gint             index, count;
} BatchProgress;

/* One image's 0..1 as the batch's share of it. */
static gboolean
batch_progress (gdouble           fraction,
                const sdcl_image *preview,
                gpointer          user_data)
{
  BatchProgress *b = user_data;

  return !b->func || b->func ((b->index + fraction) / b->count, preview, b->data);
}

/* seed + i within the PDB's non-negative ints (wrapping past G_MAXINT). */
static gint
nth_seed (gint first,
          gint i)
{
  return (gint) (((gint64) first + i) % ((gint64) G_MAXINT + 1));
}

gboolean
sdcl_generate_batch (SdclSession        *session,
                     const SdclSettings *settings,
                     const SdclJob      *job,
                     SdclProgressFunc    progress,
                     gpointer            progress_data,
                     SdclBatch          *batch,
                     GError            **error)
{
  SdclSettings  s = *settings;
  BatchProgress b = { progress, progress_data, 0, MAX (settings->batch_count, 1) };

  batch->count  = 0;
  batch->images = g_new0 (sdcl_image, b.count);
  batch->seeds  = g_new0 (gint, b.count);
  /* Every image is made before any is handed back: a cancel or a failure
   * halfway leaves the image untouched. */
  for (b.index = 0; b.index < b.count; b.index++)
    {
      if (b.index > 0)
        s.seed = nth_seed (batch->seeds[0], b.index);
      if (!sdcl_generate (session, &s, job, batch_progress, &b, &batch->images[b.index],
                          &batch->seeds[b.index], error))
        {
          sdcl_batch_clear (batch);
          return FALSE;
        }
      batch->count++;
    }
  return TRUE;
}

void
sdcl_batch_clear (SdclBatch *batch)
{
  for (gint i = 0; batch->images && i < batch->count; i++)
    sdcl_image_free (&batch->images[i]);
  g_clear_pointer (&batch->images, g_free);
  g_clear_pointer (&batch->seeds, g_free);
  batch->count = 0;
}

/* sdcl GIMP plug-in: the dialog's live preview (see sdcl-preview.h).
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>
#include <glib/gi18n-lib.h>

#include "sdcl-preview.h"

#if GTK_CHECK_VERSION (3, 0, 0)
#define box_new(vertical) gtk_box_new ((vertical) ? GTK_ORIENTATION_VERTICAL \
                                                  : GTK_ORIENTATION_HORIZONTAL, 6)
#else
#define box_new(vertical) ((vertical) ? gtk_vbox_new (FALSE, 6) : gtk_hbox_new (FALSE, 6))
#endif

#define PICTURE_SIZE   192 /* the step picture's longer side, pixels */
#define THUMBNAIL_SIZE 64

struct _SdclPreview
{
  GtkWidget *box;
  GtkWidget *picture;     /* GtkImage */
  GtkWidget *progress;    /* GtkProgressBar */
  GtkWidget *thumbnails;  /* box of GtkToggleButtons, one per image */
  GtkWidget *hint;        /* what the empty picture is for, until a run */
  GPtrArray *toggles;
};

/* An engine image (R'G'B' floats) as a pixbuf whose longer side is `size`. */
static GdkPixbuf *
pixbuf_of (const sdcl_image *image,
           gint              size)
{
  GdkPixbuf *full = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, image->width, image->height);
  GdkPixbuf *scaled;
  guchar    *pixels = gdk_pixbuf_get_pixels (full);
  gint       stride = gdk_pixbuf_get_rowstride (full);
  gdouble    scale  = (gdouble) size / MAX (image->width, image->height);

  for (gint y = 0; y < image->height; y++)
    for (gint x = 0; x < image->width * 3; x++)
      pixels[y * stride + x] =
        (guchar) (CLAMP (image->data[(gsize) y * image->width * 3 + x], 0.0f, 1.0f) * 255.0f + 0.5f);
  scaled = gdk_pixbuf_scale_simple (full, MAX (1, (gint) (image->width * scale)),
                                    MAX (1, (gint) (image->height * scale)),
                                    scale > 1.0 ? GDK_INTERP_NEAREST : GDK_INTERP_BILINEAR);
  g_object_unref (full);
  return scaled;
}

SdclPreview *
sdcl_preview_new (void)
{
  SdclPreview *p = g_new0 (SdclPreview, 1);

  p->box        = box_new (TRUE);
  p->picture    = gtk_image_new ();
  p->progress   = gtk_progress_bar_new ();
  p->thumbnails = box_new (FALSE);
  p->toggles    = g_ptr_array_new ();
  /* A long message (an engine error) must not widen the dialog. */
  gtk_progress_bar_set_ellipsize (GTK_PROGRESS_BAR (p->progress), PANGO_ELLIPSIZE_END);
#if GTK_CHECK_VERSION (3, 0, 0)
  gtk_progress_bar_set_show_text (GTK_PROGRESS_BAR (p->progress), TRUE); /* GTK 2 always does */
#endif
  p->hint       = gtk_label_new (_("Generate shows the picture here as it forms; "
                                   "OK then adds it"));
  gtk_label_set_line_wrap (GTK_LABEL (p->hint), TRUE);
  gtk_widget_set_size_request (p->hint, PICTURE_SIZE, -1);
  gtk_widget_set_size_request (p->picture, PICTURE_SIZE, PICTURE_SIZE);
  gtk_box_pack_start (GTK_BOX (p->box), p->hint, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (p->box), p->picture, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (p->box), p->progress, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (p->box), p->thumbnails, FALSE, FALSE, 0);
  gtk_widget_set_tooltip_text (p->thumbnails, _("The images to add: click one to leave it out"));
  return p;
}

void
sdcl_preview_free (SdclPreview *p)
{
  if (!p)
    return;
  g_ptr_array_unref (p->toggles);
  g_free (p);
}

GtkWidget *
sdcl_preview_widget (SdclPreview *p)
{
  return p->box;
}

void
sdcl_preview_start (SdclPreview *p)
{
  GList *children = gtk_container_get_children (GTK_CONTAINER (p->thumbnails));

  for (GList *c = children; c; c = c->next)
    gtk_widget_destroy (c->data);
  g_list_free (children);
  g_ptr_array_set_size (p->toggles, 0);
  gtk_widget_hide (p->hint);
  gtk_image_set_from_pixbuf (GTK_IMAGE (p->picture), NULL);
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (p->progress), 0.0);
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress), _("Generating…"));
}

void
sdcl_preview_step (SdclPreview      *p,
                   gdouble           fraction,
                   const sdcl_image *picture)
{
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (p->progress), CLAMP (fraction, 0.0, 1.0));
  if (picture && picture->data && picture->channels == 3)
    {
      GdkPixbuf *pixbuf = pixbuf_of (picture, PICTURE_SIZE);

      gtk_image_set_from_pixbuf (GTK_IMAGE (p->picture), pixbuf);
      g_object_unref (pixbuf);
    }
}

void
sdcl_preview_message (SdclPreview *p,
                      const gchar *text)
{
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress), text);
  gtk_widget_set_tooltip_text (p->progress, text);
}

void
sdcl_preview_show_batch (SdclPreview     *p,
                         const SdclBatch *batch)
{
  sdcl_preview_start (p);
  for (gint i = 0; i < batch->count; i++)
    {
      GtkWidget *toggle = gtk_toggle_button_new ();
      GdkPixbuf *pixbuf = pixbuf_of (&batch->images[i], THUMBNAIL_SIZE);
      /* TRANSLATORS: tooltip of a thumbnail; %d is the seed */
      gchar     *tip = g_strdup_printf (_("Seed %d"), batch->seeds[i]);

      gtk_container_add (GTK_CONTAINER (toggle), gtk_image_new_from_pixbuf (pixbuf));
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (toggle), TRUE);
      gtk_widget_set_tooltip_text (toggle, tip);
      gtk_box_pack_start (GTK_BOX (p->thumbnails), toggle, FALSE, FALSE, 0);
      g_ptr_array_add (p->toggles, toggle);
      g_object_unref (pixbuf);
      g_free (tip);
    }
  if (batch->count > 0)
    {
      GdkPixbuf *pixbuf = pixbuf_of (&batch->images[0], PICTURE_SIZE);

      gtk_image_set_from_pixbuf (GTK_IMAGE (p->picture), pixbuf);
      g_object_unref (pixbuf);
    }
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (p->progress), 1.0);
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress),
                             _("Done: OK adds the chosen images as layers"));
  gtk_widget_show_all (p->thumbnails);
}

void
sdcl_preview_keep_chosen (SdclPreview *p,
                          SdclBatch   *batch)
{
  gint kept = 0;

  for (gint i = 0; i < batch->count; i++)
    {
      gboolean chosen = (guint) i >= p->toggles->len ||
                        gtk_toggle_button_get_active (g_ptr_array_index (p->toggles, i));

      if (!chosen)
        {
          sdcl_image_free (&batch->images[i]);
          continue;
        }
      batch->images[kept] = batch->images[i];
      batch->seeds[kept]  = batch->seeds[i];
      kept++;
    }
  batch->count = kept;
}

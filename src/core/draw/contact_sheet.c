/*
 * contact_sheet.c: lays out corrupt() outputs in a labelled grid
 * (see contact_sheet.h).
 */
#include "draw/contact_sheet.h"

#include <stdio.h>
#include <string.h>

#include "draw/canvas.h"

#define SHEET_MARGIN 6
#define SHEET_LABEL_SCALE 2

sp_status
sp_contact_sheet(const sp_env *env, const sp_image *in, const char *const *names,
				 int n_names, uint64_t seed, sp_corrupt_profile profile, sp_image *out,
				 sp_error *err)
{
	const sp_rgb white = {255, 255, 255}, black = {0, 0, 0}, grey = {110, 110, 110};
	const sp_corruption_info *rows[SP_C_COUNT];
	int			n_rows = 0, scale, cell_w, cell_h, label_w = 0, header_h, width, height;
	sp_status	st;

	if (!in || !in->pixels || in->width <= 0 || in->height <= 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "contact sheet needs a non-empty image");

	/* Resolve the row list first, so an unknown name fails before any work. */
	if (!names || n_names <= 0)
		for (int i = 0; i < sp_corruption_count() && n_rows < SP_C_COUNT; i++)
			rows[n_rows++] = sp_corruption_get(i);
	else
	{
		if (n_names > SP_C_COUNT)
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"contact sheet takes at most %d corruptions", SP_C_COUNT);
		for (int i = 0; i < n_names; i++)
		{
			const sp_corruption_info *info = sp_corruption_lookup(names[i]);

			if (!info)
			{
				sp_image	probe = {0};

				/* Let sp_corrupt() produce the standard unknown-name error. */
				st = sp_corrupt(env, in, names[i], 0, seed, profile, &probe, err);
				sp_image_free(env, &probe);
				return st != SP_OK ? st :
					sp_set_error(err, SP_ERR_INVALID_ARG, "unknown corruption \"%s\"", names[i]);
			}
			rows[n_rows++] = info;
		}
	}

	scale = in->width >= 96 ? 1 : (96 + in->width - 1) / in->width;
	if ((uint64_t) in->width * scale > 4096 || (uint64_t) in->height * scale > 4096)
		return sp_set_error(err, SP_ERR_LIMIT,
							"image of %dx%d pixels is too large for a contact sheet",
							in->width, in->height);
	cell_w = in->width * scale;
	cell_h = in->height * scale;
	for (int r = 0; r < n_rows; r++)
	{
		int			w = sp_canvas_text_width(rows[r]->name, SHEET_LABEL_SCALE);

		if (w > label_w)
			label_w = w;
	}
	label_w += 2 * SHEET_MARGIN;
	header_h = sp_canvas_text_height(SHEET_LABEL_SCALE) + 2 * SHEET_MARGIN;
	width = label_w + 6 * (cell_w + SHEET_MARGIN) + SHEET_MARGIN;
	height = header_h + n_rows * (cell_h + SHEET_MARGIN) + SHEET_MARGIN;

	st = sp_canvas_create(env, out, width, height, white, err);
	if (st == SP_ERR_LIMIT)
	{
		/* the sheet is what is too large, not the input: say how to make it smaller */
		char		msg[sizeof(err->message)];

		snprintf(msg, sizeof msg, "%s", err->message);
		/* "output image of WxH pixels exceeds ..." -> "contact sheet of WxH pixels exceeds ..." */
		sp_set_error(err, SP_ERR_LIMIT, "contact sheet %s",
					 strncmp(msg, "output image ", 13) == 0 ? msg + 13 : msg);
		sp_error_hint(err, "The sheet has %d rows of %dx%d cells: pass fewer corruptions, or raise "
					  "siamese.image.max_pixels (the limit applies to the images the extension makes).",
					  n_rows, cell_w, cell_h);
	}
	if (st != SP_OK)
		return st;

	for (int s = 0; s <= SP_CORRUPT_MAX_SEVERITY; s++)
	{
		char		label[32];
		int			x = label_w + s * (cell_w + SHEET_MARGIN);

		snprintf(label, sizeof(label), s == 0 ? "clean" : "sev %d", s);
		sp_canvas_text(out, x + (cell_w - sp_canvas_text_width(label, SHEET_LABEL_SCALE)) / 2,
					   SHEET_MARGIN, label, SHEET_LABEL_SCALE, black);
	}

	for (int r = 0; r < n_rows; r++)
	{
		int			y = header_h + r * (cell_h + SHEET_MARGIN);

		sp_canvas_text(out, SHEET_MARGIN, y + (cell_h - sp_canvas_text_height(SHEET_LABEL_SCALE)) / 2,
					   rows[r]->name, SHEET_LABEL_SCALE, rows[r]->benchmark ? black : grey);
		for (int s = 0; s <= SP_CORRUPT_MAX_SEVERITY; s++)
		{
			sp_image	cell = {0};

			st = sp_corrupt_by_id(env, in, rows[r]->id, s, seed, profile, &cell, err);
			if (st != SP_OK)
			{
				sp_image_free(env, out);
				return st;
			}
			sp_canvas_blit(out, &cell, label_w + s * (cell_w + SHEET_MARGIN), y, scale);
			sp_image_free(env, &cell);
		}
	}
	return SP_OK;
}

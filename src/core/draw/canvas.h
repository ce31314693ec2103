/*
 * canvas.h: a tiny raster drawing layer over sp_image (RGB) for the PNGs the
 * extension produces: corruption contact sheets, report charts, embedding
 * scatter plots.  Built-in 5x7 bitmap font (printable ASCII), lines,
 * rectangles, filled circles, and pasting images with integer
 * nearest-neighbour scaling.  Everything clips to the canvas.
 */
#ifndef SP_CANVAS_H
#define SP_CANVAS_H

#include "image/image.h"

typedef struct sp_rgb
{
	uint8_t		r,
				g,
				b;
} sp_rgb;

#define SP_FONT_W 5
#define SP_FONT_H 9			/* 7 rows + 2 for descenders */

/* A fresh RGB image filled with bg. */
extern sp_status sp_canvas_create(const sp_env *env, sp_image *canvas, int width, int height,
								  sp_rgb bg, sp_error *err);

extern void sp_canvas_pixel(sp_image *c, int x, int y, sp_rgb color);
extern void sp_canvas_fill_rect(sp_image *c, int x, int y, int w, int h, sp_rgb color);
extern void sp_canvas_rect(sp_image *c, int x, int y, int w, int h, sp_rgb color);
/* Line of the given thickness (>= 1) from (x0,y0) to (x1,y1). */
extern void sp_canvas_line(sp_image *c, int x0, int y0, int x1, int y1, int thickness,
						   sp_rgb color);
/* Dashed line (dash and gap lengths in pixels along the major axis). */
extern void sp_canvas_dashed_line(sp_image *c, int x0, int y0, int x1, int y1, int dash,
								  int gap, sp_rgb color);
extern void sp_canvas_fill_circle(sp_image *c, int cx, int cy, int radius, sp_rgb color);

/*
 * Text with the top-left corner at (x, y); scale multiplies the 5x9 cells.
 * Returns the width drawn.  Characters outside ASCII 32..126 draw as '?'.
 */
extern int	sp_canvas_text(sp_image *c, int x, int y, const char *text, int scale, sp_rgb color);
/* Text rotated 90 degrees counter-clockwise (reads bottom to top), for y axes. */
extern int	sp_canvas_text_vertical(sp_image *c, int x, int y, const char *text, int scale,
									sp_rgb color);
extern int	sp_canvas_text_width(const char *text, int scale);
static inline int
sp_canvas_text_height(int scale)
{
	return SP_FONT_H * scale;
}

/* Paste img (gray or RGB) at (x, y), each pixel as a scale x scale block. */
extern void sp_canvas_blit(sp_image *c, const sp_image *img, int x, int y, int scale);

/* A palette of distinguishable colours for series and classes (index mod 10). */
extern sp_rgb sp_canvas_palette(int i);

#endif							/* SP_CANVAS_H */

/*
 * resample.h: geometric resampling, each reproducing the library function
 * the ImageNet-C reference calls: the reference's clipped_zoom (a centre
 * crop through scipy.ndimage.zoom with order=1), PIL's Image.resize with the
 * BOX filter, and bilinear sampling at one point with scipy's per-tap
 * border modes (scipy.ndimage.map_coordinates with order=1, as
 * elastic_transform calls it).
 */
#ifndef SP_RESAMPLE_H
#define SP_RESAMPLE_H

#include "image/fimg.h"

/*
 * clipped_zoom of the reference on one plane: centre crop ceil(n/z) per axis,
 * scipy.ndimage.zoom(order=1) (corner-aligned) to round(crop*z), centre trim
 * back to w x h.  add != 0 accumulates into dst instead of overwriting.
 */
extern sp_status sp_clipped_zoom(const sp_env *env, const double *src, double *dst,
								 int w, int h, double z, int add, sp_error *err);

/*
 * PIL Image.resize(BOX) of an interleaved uint8 image (c channels):
 * horizontal pass then vertical pass with Pillow's 22-bit fixed-point
 * coefficients and rounding, uint8 in between.  Upsampling equals NEAREST.
 */
extern sp_status sp_box_resize_u8(const sp_env *env, const uint8_t *src, int sw, int sh,
								  int c, uint8_t *dst, int dw, int dh, sp_error *err);

/* Bilinear sample at (x, y) with per-tap border mapping. */
extern double sp_bilinear(const double *plane, int w, int h, double x, double y,
						  sp_border mode);

#endif							/* SP_RESAMPLE_H */

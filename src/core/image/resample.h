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

/* Pillow's resampling filters (support 0.5 and 1 before scaling). */
typedef enum sp_pil_filter
{
	SP_PIL_BOX = 0,
	SP_PIL_BILINEAR
} sp_pil_filter;

/* Largest |win_x|, |win_y| accepted (keeps index arithmetic in int). */
#define SP_PIL_MAX_OFFSET (1 << 28)

typedef struct sp_pil_resize
{
	sp_pil_filter filter;
	int			out_w;			/* size of the whole resized image */
	int			out_h;
	float		box[4];			/* source region x0, y0, x1, y1 (PIL's box); all 0 = whole image */
	int			win_x;			/* first column / row of the result to compute (may be */
	int			win_y;			/* negative, or the window may overhang: zeros there) */
} sp_pil_resize;

/*
 * PIL Image.resize((out_w, out_h), filter, box) of an interleaved uint8
 * image of c (1..4) channels, bit for bit: Pillow's coefficients (support
 * scaled by the downscaling factor, i.e. antialiased; each output's weights
 * normalised to sum 1), converted to 22-bit fixed point, a horizontal pass
 * then a vertical pass, each rounded and clipped to uint8; a pass whose size
 * and box are unchanged is skipped, as Pillow does.
 *
 * Only the window [win_x, win_x + dw) x [win_y, win_y + dh) of the result is
 * computed, into dst (dw x dh x c, interleaved); window pixels outside the
 * out_w x out_h result are 0, like torchvision's CenterCrop padding.  Each
 * output pixel depends only on its own coefficients, so the window equals
 * the same pixels of the full resize.  Memory: coefficients for the window
 * and a ring of horizontally resampled rows (as many as one output row
 * needs), never the whole resized image.
 */
extern sp_status sp_pil_resize_u8(const sp_env *env, const uint8_t *src, int sw, int sh, int c,
								  const sp_pil_resize *rs, uint8_t *dst, int dw, int dh,
								  sp_error *err);

/*
 * Kernels of sp_pil_resize_u8's vertical pass: SP_ISA_AUTO (default: AVX2
 * where the CPU has it) or SP_ISA_SCALAR (util/cpu.h).  Both give the same
 * bytes; tests use this to check each.  Process-wide; not thread-safe.
 */
extern void sp_resample_set_isa(int isa);

/* PIL Image.resize(BOX) of the whole image (c channels); upsampling equals NEAREST. */
extern sp_status sp_box_resize_u8(const sp_env *env, const uint8_t *src, int sw, int sh,
								  int c, uint8_t *dst, int dw, int dh, sp_error *err);

/* Bilinear sample at (x, y) with per-tap border mapping. */
extern double sp_bilinear(const double *plane, int w, int h, double x, double y,
						  sp_border mode);

#endif							/* SP_RESAMPLE_H */

/*
 * fimg.h: the planar double images the corruptions and perturbations compute
 * in (sp_fimg), scratch double arrays, the border-extension rule every filter
 * and sampler indexes with (the modes of scipy.ndimage and OpenCV), and the
 * conversions between them and uint8 images: sp_image in, and out through
 * numpy's np.uint8 truncation and PIL's convert('L') luma (named at each
 * declaration).
 */
#ifndef SP_FIMG_H
#define SP_FIMG_H

#include "image/image.h"

/* Planar double image: plane k is data + k*w*h, row-major. */
typedef struct sp_fimg
{
	int			w;
	int			h;
	int			c;
	double	   *data;
} sp_fimg;

static inline double *
sp_fimg_plane(const sp_fimg *f, int k)
{
	return f->data + (size_t) k * (size_t) f->w * (size_t) f->h;
}

/* Border extension modes (names of scipy.ndimage / OpenCV). */
typedef enum sp_border
{
	SP_BORDER_REFLECT,			/* scipy 'reflect':  dcba|abcd|dcba */
	SP_BORDER_REFLECT101,		/* OpenCV default / scipy 'mirror': dcb|abcd|cba */
	SP_BORDER_NEAREST,			/* scipy 'nearest', OpenCV REPLICATE: aaa|abcd|ddd */
	SP_BORDER_CONSTANT			/* zero outside */
} sp_border;

/* Map any index onto 0..n-1 for the mode; -1 means "zero" (CONSTANT). */
extern long sp_border_index(long i, long n, sp_border mode);

extern sp_status sp_fimg_alloc(const sp_env *env, sp_fimg *f, int w, int h, int c,
							   sp_error *err);
extern void sp_fimg_free(const sp_env *env, sp_fimg *f);
/* Scratch array of n doubles (error set on failure). */
extern double *sp_dalloc(const sp_env *env, size_t n, sp_error *err);

/* 3-plane image of x/255; a 1-channel input is replicated into R, G, B. */
extern sp_status sp_fimg_from_image(const sp_env *env, const sp_image *in,
									sp_fimg *f, sp_error *err);

/* clip(v, 0, 255) truncated toward zero; NaN gives 0 */
static inline uint8_t
sp_trunc_u8(double v)
{
	if (!(v > 0.0))
		return 0;
	if (v >= 255.0)
		return 255;
	return (uint8_t) v;
}

/*
 * Store a 3-plane image as uint8: v = clip(x*scale, 0, 255) truncated toward
 * zero (numpy's np.uint8 on a float array).  out_channels 1 converts the
 * truncated RGB to luma with PIL's convert('L') rounding:
 * (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
 */
extern sp_status sp_fimg_to_image(const sp_env *env, const sp_fimg *f, double scale,
								  int out_channels, sp_image *out, sp_error *err);
/* The same conversion for an interleaved RGB uint8 buffer. */
extern sp_status sp_rgb8_to_image(const sp_env *env, const uint8_t *rgb, int w, int h,
								  int out_channels, sp_image *out, sp_error *err);
/* Interleaved RGB uint8 copy of an image (gray replicated); caller frees. */
extern uint8_t *sp_image_to_rgb8(const sp_env *env, const sp_image *in, sp_error *err);

#endif							/* SP_FIMG_H */

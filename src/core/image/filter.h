/*
 * filter.h: linear filters on double planes and uint8 images, each
 * reproducing the library function the ImageNet-C reference calls: scipy's
 * Gaussian kernel and gaussian_filter (also skimage's gaussian), separable
 * correlation (scipy.ndimage.correlate1d on each axis, OpenCV's sepFilter2D
 * as cv2.GaussianBlur runs it), OpenCV's filter2D, and ImageMagick 6's
 * MotionBlurImage kernel and blur.  The filters are built from sp_axpy, the
 * row-wise multiply-add below.
 */
#ifndef SP_FILTER_H
#define SP_FILTER_H

#include "image/fimg.h"

/*
 * o[i] += c * x[i] for i < n.  Written with GCC vector extensions so the -O2
 * build vectorises it (gcc's -O2 cost model does not vectorise loops of
 * unknown length); scalar tail.
 */
typedef double sp_v4d __attribute__((vector_size(32)));

static inline void
sp_axpy(double *restrict o, const double *restrict x, double c, int n)
{
	int			i = 0;
	sp_v4d		vc = {c, c, c, c};

	for (; i + 4 <= n; i += 4)
	{
		sp_v4d		a,
					b;

		__builtin_memcpy(&a, o + i, sizeof(a));
		__builtin_memcpy(&b, x + i, sizeof(b));
		a += vc * b;
		__builtin_memcpy(o + i, &a, sizeof(a));
	}
	for (; i < n; i++)
		o[i] += c * x[i];
}

/*
 * scipy.ndimage Gaussian kernel: radius int(truncate*sigma + 0.5), weights
 * exp(-x^2/(2 sigma^2)) normalised.  Returns the radius; *k is allocated
 * (2r+1 taps).  sigma <= 1e-15 gives the identity kernel {1}.
 */
extern int	sp_gaussian_kernel(const sp_env *env, double sigma, double truncate,
							   double **k, sp_error *err);

/*
 * In-place separable correlation of one plane with a row kernel kx (2rx+1
 * taps) and a column kernel ky (2ry+1 taps); NULL kernel skips that axis.
 * Kernels larger than the border period are folded, so huge sigmas on small
 * images cost O(n^2) per line, not O(n*r).
 */
extern sp_status sp_sep_filter(const sp_env *env, double *plane, int w, int h,
							   const double *kx, int rx, const double *ky, int ry,
							   sp_border mode, sp_error *err);

/* scipy gaussian_filter / skimage gaussian on one plane, in place. */
extern sp_status sp_gaussian_filter(const sp_env *env, double *plane, int w, int h,
									double sigma, double truncate, sp_border mode,
									sp_error *err);

/*
 * cv2.filter2D: 2-D correlation, anchor at the kernel centre (kw, kh odd),
 * src and dst distinct.  Zero taps are skipped.
 */
extern sp_status sp_filter2d(const sp_env *env, const double *src, double *dst, int w,
							 int h, const double *k, int kw, int kh, sp_border mode,
							 sp_error *err);

/*
 * ImageMagick 6 MotionBlurImage kernel: width = 2r+1 taps (r >= 1), weights
 * exp(-i^2/(2 sigma^2)) normalised, tap i at (dx, dy) =
 * (ceil(i*cos(a) - 0.5), ceil(i*sin(a) - 0.5)) computed IM's way.
 * Fills up to max_taps entries; returns the number of taps.
 */
extern int	sp_motion_kernel(int radius, double sigma, double angle_deg, double *w,
							 int *dx, int *dy, int max_taps);
/*
 * Apply it to an interleaved uint8 image with replicated edges; the result is
 * what ImageMagick 6.9.11 Q16 writes to an 8-bit PNG: rounded to the 16-bit
 * quantum, then quantum / 257 truncated.
 */
extern sp_status sp_motion_blur_u8(const sp_env *env, const uint8_t *src, uint8_t *dst,
								   int w, int h, int c, int radius, double sigma,
								   double angle_deg, sp_error *err);

#endif							/* SP_FILTER_H */

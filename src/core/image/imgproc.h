/*
 * imgproc.h: float image helpers shared by the corruptions (and later the
 * perturbation sequences): planar double images, border handling, Gaussian
 * and separable filters, 2-D correlation, scipy-style clipped zoom, PIL BOX
 * resize, ImageMagick's motion-blur kernel, skimage's HSV conversion, the
 * diamond-square plasma fractal and bilinear sampling.
 *
 * Each helper reproduces the behaviour of the library function the
 * ImageNet-C reference calls (named at each declaration), so the corruption
 * code reads like the reference.
 */
#ifndef SP_IMGPROC_H
#define SP_IMGPROC_H

#include "image/image.h"
#include "util/rng.h"

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
 * rounded to nearest like ImageMagick's quantum clamp.
 */
extern sp_status sp_motion_blur_u8(const sp_env *env, const uint8_t *src, uint8_t *dst,
								   int w, int h, int c, int radius, double sigma,
								   double angle_deg, sp_error *err);

/* skimage.color rgb2hsv / hsv2rgb for one pixel (values in [0, 1]). */
extern void sp_rgb_to_hsv(double r, double g, double b, double *h, double *s, double *v);
extern void sp_hsv_to_rgb(double h, double s, double v, double *r, double *g, double *b);

/*
 * plasma_fractal of the reference: diamond-square on a torus of mw x mh
 * (powers of two; the reference's maps are square), wibble 100 divided by
 * decay per level, min-max normalised to [0, 1].  A rectangle starts from
 * zero at every corner of its coarsest square grid, as the square map
 * starts from the single corner (0, 0) = 0.  out has mw*mh doubles,
 * row-major with row length mw.
 */
extern sp_status sp_plasma_fractal(const sp_env *env, sp_rng *rng, int mw, int mh,
								   double decay, double *out, sp_error *err);

/* Smallest power of two >= n (n >= 1). */
extern int	sp_next_pow2(int n);

/* Bilinear sample at (x, y) with per-tap border mapping. */
extern double sp_bilinear(const double *plane, int w, int h, double x, double y,
						  sp_border mode);

#endif							/* SP_IMGPROC_H */

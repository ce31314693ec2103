/*
 * corrupt_int.h: internals shared by corrupt.c (registry, parameters,
 * dispatch) and the corruption families corrupt_noise.c, corrupt_blur.c,
 * corrupt_weather.c, corrupt_digital.c.  Not part of the public API.
 */
#ifndef SP_CORRUPT_INT_H
#define SP_CORRUPT_INT_H

#include "robust/corrupt.h"
#include "image/fimg.h"
#include "util/rng.h"

/* Everything one corruption call needs. */
typedef struct sp_corrupt_ctx
{
	const sp_env *env;
	const sp_image *in;
	sp_corruption_id id;
	int			severity;		/* 1..5 */
	sp_corrupt_profile profile; /* resolved: CIFAR, TINY or IMAGENET */
	const double *p;			/* the parameter tuple for (id, profile, severity) */
	sp_rng		rng;			/* seeded from (seed, id, severity) */
	int			w;
	int			h;
	int			out_channels;	/* the input's channel count */
	sp_error   *err;
} sp_corrupt_ctx;

/* Nominal image side of a profile: 32, 64 or 224. */
extern int	sp_corrupt_nominal_size(sp_corrupt_profile profile);

/* Store a [0,1] planar image (clip*255, truncate) as the output image. */
static inline sp_status
sp_corrupt_store(sp_corrupt_ctx *c, const sp_fimg *f, sp_image *out)
{
	return sp_fimg_to_image(c->env, f, 255.0, c->out_channels, out, c->err);
}

/*
 * Channel-at-a-time output, to keep the working set small (one double plane
 * instead of three): begin() gives an interleaved RGB uint8 buffer (the
 * output image itself when the input is RGB), put_plane() stores one
 * channel, end() converts to luma for gray inputs and frees on error.
 */
extern sp_status sp_corrupt_out_begin(sp_corrupt_ctx *c, sp_image *out, uint8_t **rgb);
extern sp_status sp_corrupt_out_end(sp_corrupt_ctx *c, sp_image *out, uint8_t *rgb, sp_status st);
/* rgb[3i+k] = trunc(clip(plane[i] * scale, 0, 255)) */
extern void sp_corrupt_put_plane(sp_corrupt_ctx *c, uint8_t *rgb, int k, const double *plane,
								 double scale);
/* plane[i] = channel k of the input / 255 (gray inputs: the gray value) */
extern void sp_corrupt_get_plane(sp_corrupt_ctx *c, int k, double *plane);
/* channel k of pixel i of the input (0..255) */
static inline int
sp_corrupt_in_px(const sp_corrupt_ctx *c, size_t i, int k)
{
	return c->in->channels == 3 ? c->in->pixels[3 * i + k] : c->in->pixels[i];
}

/* x/255 for x = 0..255, computed once */
extern const double *sp_corrupt_u8_unit(void);

typedef sp_status (*sp_corrupt_fn) (sp_corrupt_ctx *c, sp_image *out);

extern sp_status sp_corrupt_gaussian_noise(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_shot_noise(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_impulse_noise(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_speckle_noise(sp_corrupt_ctx *c, sp_image *out);

extern sp_status sp_corrupt_defocus_blur(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_glass_blur(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_motion_blur(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_zoom_blur(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_gaussian_blur(sp_corrupt_ctx *c, sp_image *out);

extern sp_status sp_corrupt_snow(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_frost(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_fog(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_spatter(sp_corrupt_ctx *c, sp_image *out);

extern sp_status sp_corrupt_brightness(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_contrast(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_saturate(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_elastic_transform(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_pixelate(sp_corrupt_ctx *c, sp_image *out);
extern sp_status sp_corrupt_jpeg_compression(sp_corrupt_ctx *c, sp_image *out);

/*
 * Helpers exposed for unit tests: the zoom factors of zoom_blur (numpy
 * arange(1, stop, step) including 1.0; returns the count, fills up to max),
 * the defocus kernel (returns the side length, *k allocated), and the
 * Canny edge map used by spatter.
 */
extern int	sp_corrupt_zoom_factors(sp_corrupt_profile profile, int severity, double *z, int max);
extern int	sp_corrupt_defocus_kernel(const sp_env *env, double radius, double alias_blur,
									  double **k, sp_error *err);
/* cv2.Canny(low, high) with L1 gradient: 255 on edges, 0 elsewhere. */
extern sp_status sp_corrupt_canny(const sp_env *env, const uint8_t *img, int w, int h,
								  int low, int high, uint8_t *edges, sp_error *err);
/* cv2.distanceTransform(DIST_L2, 5) to the nearest zero pixel. */
extern sp_status sp_corrupt_distance_l2(const sp_env *env, const uint8_t *src, int w, int h,
										float *dst, sp_error *err);

/*
 * Pieces of snow and spatter shared with the ImageNet-P sequences
 * (perturb.c): the snow layer (H*W normals from c->rng, zoom, threshold,
 * uint8), the snow composite over the input with a motion-blurred layer,
 * and spatter's water rendering of a thresholded liquid layer.
 */
extern sp_status sp_snow_layer_u8(sp_corrupt_ctx *c, double mean, double std, double zoom,
								  double thr, uint8_t *u8);
extern void sp_snow_composite(sp_corrupt_ctx *c, const uint8_t *blur, double blend, uint8_t *rgb);
extern sp_status sp_spatter_water(sp_corrupt_ctx *c, const double *liq, double k, uint8_t *rgb);

#endif							/* SP_CORRUPT_INT_H */

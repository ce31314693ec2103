/*
 * perturb.c: the ImageNet-P perturbation sequences: registry, per-profile
 * frame counts and per-frame parameters (docs/reference/imagenet-p.md),
 * argument checking, the sequence state and the frame generators.
 *
 * The frames reuse the corruption code: the noise, brightness, snow and
 * spatter pieces run through an sp_corrupt_ctx with the sequence's
 * parameter, motion blur uses the ImageMagick kernel of image/filter.h, zoom
 * blur the bilinear sampler of image/resample.h and Gaussian blur the
 * Gaussian filter of image/filter.h.  Only the geometric sequences
 * (translate, rotate, tilt, scale, shear) have their own code: one
 * projective inverse-mapping warp.
 */
#include "robust/perturb.h"
#include "robust/corrupt_int.h"
#include "image/filter.h"
#include "image/resample.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PI 3.14159265358979323846

static const sp_perturbation_info registry[SP_P_COUNT] = {
	{"gaussian_noise", SP_P_GAUSSIAN_NOISE, 0, 1, {31, 31, 31}, "independent additive Gaussian noise draws"},
	{"shot_noise", SP_P_SHOT_NOISE, 0, 1, {31, 31, 31}, "independent Poisson (photon) noise draws"},
	{"motion_blur", SP_P_MOTION_BLUR, 0, 0, {21, 31, 31}, "motion blur with a steadily turning angle"},
	{"zoom_blur", SP_P_ZOOM_BLUR, 0, 0, {31, 31, 31}, "running mean of ever stronger centre zooms"},
	{"snow", SP_P_SNOW, 0, 0, {31, 31, 31}, "one snow layer blurred along a turning direction"},
	{"brightness", SP_P_BRIGHTNESS, 0, 0, {31, 31, 31}, "HSV value sweep from darker to brighter"},
	{"translate", SP_P_TRANSLATE, 0, 0, {16, 31, 41}, "horizontal shift sweep"},
	{"rotate", SP_P_ROTATE, 0, 0, {31, 31, 31}, "rotation sweep from -15 to +15 degrees"},
	{"tilt", SP_P_TILT, 0, 0, {31, 31, 31}, "perspective tilt about both axes"},
	{"scale", SP_P_SCALE, 0, 0, {31, 31, 31}, "zoom out / in sweep about the centre"},
	{"speckle_noise", SP_P_SPECKLE_NOISE, 1, 1, {31, 31, 31}, "independent multiplicative Gaussian noise draws"},
	{"gaussian_blur", SP_P_GAUSSIAN_BLUR, 1, 0, {31, 31, 31}, "Gaussian blur of growing sigma"},
	{"spatter", SP_P_SPATTER, 1, 0, {31, 31, 31}, "a water layer dripping down the image"},
	{"shear", SP_P_SHEAR, 1, 0, {31, 31, 31}, "horizontal shear sweep from -15 to +15 degrees"},
};

/* Profile index: 0 CIFAR, 1 TINY, 2 IMAGENET. */
#define PIDX(p) ((int) (p) - (int) SP_PROFILE_CIFAR)

/* Noise level [profile][difficulty-1]. */
static const double gauss_sigma[3][3] = {{.02, .04, .06}, {.025, .05, .075}, {.03, .05, .08}};
static const double shot_c[3][3] = {{700, 400, 200}, {500, 250, 125}, {300, 120, 60}};
static const double speckle_sigma[3][3] = {{.05, .07, .1}, {.05, .1, .15}, {.05, .10, .15}};

/* motion blur: radius, sigma, degrees per frame, frame of angle 0 */
static const double motion_p[3][4] = {{6, 1.8, 9, 20}, {14, 3, 5, 30}, {10, 3, 4, 30}};

/* snow: mean, std, zoom, threshold, blur radius, blur sigma, blend */
static const double snow_p[3][7] = {
	{.05, .3, 2, .5, 10, 2, .85},
	{.05, .28, 2, .5, 10, 2.5, .85},
	{.05, .3, 3, .5, 14, 4, .85}};

/* brightness: V shift per frame (frame 15 is the identity) */
static const double bright_step[3] = {.015, .02, .02};
/* translate: frame of zero shift (shift = i - it px at the nominal size) */
static const int translate_zero[3] = {7, 15, 20};
/* tilt: degrees per frame */
static const double tilt_step[3] = {.75, 1, 1};
/* scale = (a * i + b) / 100 */
static const double scale_ab[3][2] = {{2, 70}, {2.5, 40}, {2.5, 40}};
/* gaussian_blur sigma = a + b * i (truncate 6) */
static const double blur_ab[3][2] = {{.3, .015}, {.35, .014}, {.25, .035}};

/*
 * spatter: mean, std, blur sigma, threshold, intensity, then the vertical
 * drip kernel (np.convolve weights; unused taps 0).  CIFAR-P's blur sigma
 * and threshold were first taken from Tiny-P; make_cifar_p.py uses the
 * same values (docs/reference/imagenet-p.md, "Checked against the source").
 */
static const double spatter_p[3][5] = {
	{.6, .265, 1.75, .7, .6},
	{.6, .25, 1.75, .7, .6},
	{.65, .27, 3.7, .69, .6}};
static const double spatter_kern[3][4] = {{.2, .8}, {.2, .8}, {.05, .1, .15, .7}};
static const int spatter_klen[3] = {2, 2, 4};

/*
 * Virtual margin: ImageNet-P warps the Resize(256) image and crops the
 * centre 224, so pixels up to 16 px (of 224) outside the crop are real
 * image content.  We only have the crop, so that band is filled by mirror
 * reflection; beyond it lies the reference's black fill.  CIFAR-P warps
 * the raw 32x32 image: no band.
 */
#define MARGIN_NUM 16.0
#define MARGIN_DEN 224.0

struct sp_perturb_seq
{
	const sp_env *env;
	const sp_perturbation_info *info;
	sp_corrupt_profile profile;	/* resolved */
	int			difficulty;
	int			nframes;
	uint64_t	seed;
	sp_image	in;				/* own copy of the input */
	int			w;
	int			h;
	int			nc;				/* the input's channel count */
	double		param[8];
	/* zoom_blur: clean planes (nc), accumulator, next zoom index */
	double	   *planes;
	double	   *acc;
	/* spatter: initial and current liquid layer, next drip count */
	double	   *liq0;
	double	   *liq;
	double	   *col;
	/* snow: the fixed uint8 layer */
	uint8_t    *snow;
	int			pos;
};

int
sp_perturbation_count(void)
{
	return SP_P_COUNT;
}

const sp_perturbation_info *
sp_perturbation_get(int i)
{
	return (i >= 0 && i < SP_P_COUNT) ? &registry[i] : NULL;
}

const sp_perturbation_info *
sp_perturbation_lookup(const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < SP_P_COUNT; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

int
sp_perturbation_frames(const sp_perturbation_info *info, sp_corrupt_profile profile)
{
	if (!info || profile < SP_PROFILE_CIFAR || profile > SP_PROFILE_IMAGENET)
		return 0;
	return info->frames[PIDX(profile)];
}

static void
list_names(char *buf, size_t len)
{
	size_t		used = 0;

	buf[0] = '\0';
	for (int i = 0; i < SP_P_COUNT && used < len; i++)
		used += (size_t) snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
								  registry[i].name);
}

/*
 * Independent random streams, disjoint from the corruptions' (< 2^16): one
 * per noise frame and difficulty, and one (difficulty 0, slot 0xff) for
 * the fixed snow or liquid layer, which the difficulty must not change.
 */
static uint64_t
stream_id(const sp_perturb_seq *s, int difficulty, int frame)
{
	return ((uint64_t) 1 << 32) | ((uint64_t) s->info->id << 16) |
		((uint64_t) difficulty << 8) | (uint64_t) (frame & 0xff);
}

/* A corruption context over the sequence's input with parameters p. */
static void
make_ctx(sp_perturb_seq *s, sp_corrupt_ctx *c, const double *p, sp_error *err)
{
	memset(c, 0, sizeof(*c));
	c->env = s->env;
	c->in = &s->in;
	c->profile = s->profile;
	c->p = p;
	c->w = s->w;
	c->h = s->h;
	c->out_channels = s->nc;
	c->err = err;
}

void
sp_perturb_end(sp_perturb_seq *s)
{
	const sp_env *env;

	if (!s)
		return;
	env = s->env;
	if (s->in.pixels)
		sp_image_free(env, &s->in);
	if (s->planes)
		sp_free(env, s->planes);
	if (s->acc)
		sp_free(env, s->acc);
	if (s->liq0)
		sp_free(env, s->liq0);
	if (s->liq)
		sp_free(env, s->liq);
	if (s->col)
		sp_free(env, s->col);
	if (s->snow)
		sp_free(env, s->snow);
	sp_free(env, s);
}

int
sp_perturb_seq_length(const sp_perturb_seq *s)
{
	return s ? s->nframes : 0;
}

/* ---- preparation ----------------------------------------------------- */

static sp_status
prepare_zoom(sp_perturb_seq *s, sp_error *err)
{
	const double *lut = sp_corrupt_u8_unit();
	size_t		n = (size_t) s->w * s->h;

	s->planes = sp_dalloc(s->env, n * s->nc, err);
	s->acc = sp_dalloc(s->env, n * s->nc, err);
	if (!s->planes || !s->acc)
		return SP_ERR_NOMEM;
	for (int k = 0; k < s->nc; k++)
		for (size_t i = 0; i < n; i++)
			s->planes[k * n + i] = lut[s->in.pixels[i * s->nc + k]];
	memset(s->acc, 0, sizeof(double) * n * s->nc);
	s->pos = 0;
	return SP_OK;
}

static sp_status
prepare_snow(sp_perturb_seq *s, sp_error *err)
{
	const double *p = snow_p[PIDX(s->profile)];
	sp_corrupt_ctx c;

	s->snow = sp_alloc(s->env, (size_t) s->w * s->h);
	if (!s->snow)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory");
	make_ctx(s, &c, p, err);
	sp_rng_seed(&c.rng, s->seed, stream_id(s, 0, 0xff));
	return sp_snow_layer_u8(&c, p[0], p[1], p[2], p[3], s->snow);
}

static sp_status
prepare_spatter(sp_perturb_seq *s, sp_error *err)
{
	const double *p = spatter_p[PIDX(s->profile)];
	size_t		n = (size_t) s->w * s->h;
	sp_rng		rng;
	sp_status	st;

	s->liq0 = sp_dalloc(s->env, n, err);
	s->liq = sp_dalloc(s->env, n, err);
	s->col = sp_dalloc(s->env, (size_t) s->h, err);
	if (!s->liq0 || !s->liq || !s->col)
		return SP_ERR_NOMEM;
	sp_rng_seed(&rng, s->seed, stream_id(s, 0, 0xff));
	for (size_t i = 0; i < n; i++)
		s->liq0[i] = p[0] + p[1] * sp_rng_normal(&rng);
	st = sp_gaussian_filter(s->env, s->liq0, s->w, s->h, p[2], 4.0, SP_BORDER_NEAREST, err);
	if (st != SP_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		if (s->liq0[i] < p[3])
			s->liq0[i] = 0.0;
	memcpy(s->liq, s->liq0, sizeof(double) * n);
	s->pos = 0;
	return SP_OK;
}

sp_status
sp_perturb_begin(const sp_env *env, const sp_image *in, const char *name, uint64_t seed,
				 sp_corrupt_profile profile, int difficulty, sp_perturb_seq **out,
				 sp_error *err)
{
	const sp_perturbation_info *info = sp_perturbation_lookup(name);
	sp_perturb_seq *s;
	size_t		bytes;
	sp_status	st;

	if (!out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation needs an output sequence");
	*out = NULL;
	if (!info)
	{
		char		names[512];

		list_names(names, sizeof(names));
		sp_set_error(err, SP_ERR_INVALID_ARG, "unknown perturbation \"%.64s\"", name ? name : "(null)");
		sp_error_detail(err, "Valid perturbations are: %s.", names);
		return SP_ERR_INVALID_ARG;
	}
	if (difficulty < 1 || difficulty > SP_PERTURB_MAX_DIFFICULTY)
	{
		sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation difficulty %d is out of range", difficulty);
		sp_error_detail(err, "Difficulty must be 1, 2 or 3.");
		return SP_ERR_INVALID_ARG;
	}
	if ((int) profile < SP_PROFILE_AUTO || profile > SP_PROFILE_IMAGENET)
	{
		sp_set_error(err, SP_ERR_INVALID_ARG, "unknown perturbation profile %d", (int) profile);
		sp_error_detail(err, "Valid profiles are auto, cifar, tiny and imagenet.");
		return SP_ERR_INVALID_ARG;
	}
	if (!in || !in->pixels)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation needs an input image");
	if (in->channels != 1 && in->channels != 3)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"perturbation needs a gray or RGB image, not %d channels", in->channels);
	if (in->width <= 0 || in->height <= 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "cannot perturb an empty image");
	st = sp_image_check_dims(env, (uint64_t) in->width, (uint64_t) in->height, in->channels, err);
	if (st != SP_OK)
		return st;

	s = sp_alloc(env, sizeof(*s));
	if (!s)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory");
	memset(s, 0, sizeof(*s));
	s->env = env;
	s->info = info;
	s->profile = sp_corrupt_profile_resolve(profile, in->width, in->height);
	s->difficulty = difficulty;
	s->nframes = info->frames[PIDX(s->profile)];
	s->seed = seed;
	s->w = in->width;
	s->h = in->height;
	s->nc = in->channels;
	st = sp_image_alloc(env, &s->in, in->width, in->height, in->channels, err);
	if (st != SP_OK)
	{
		sp_perturb_end(s);
		return st;
	}
	bytes = (size_t) in->width * (size_t) in->height * (size_t) in->channels;
	memcpy(s->in.pixels, in->pixels, bytes);

	switch (info->id)
	{
		case SP_P_ZOOM_BLUR:
			st = prepare_zoom(s, err);
			break;
		case SP_P_SNOW:
			st = prepare_snow(s, err);
			break;
		case SP_P_SPATTER:
			st = prepare_spatter(s, err);
			break;
		default:
			st = SP_OK;
			break;
	}
	if (st == SP_OK && sp_env_interrupted(env))
		st = sp_set_error(err, SP_ERR_INTERRUPTED, "perturbation interrupted");
	if (st != SP_OK)
	{
		sp_perturb_end(s);
		return st;
	}
	sp_error_clear(err);
	*out = s;
	return SP_OK;
}

/* ---- frame generators ------------------------------------------------ */

static sp_status
copy_input(sp_perturb_seq *s, sp_image *out, sp_error *err)
{
	sp_status	st = sp_image_alloc(s->env, out, s->w, s->h, s->nc, err);

	if (st == SP_OK)
		memcpy(out->pixels, s->in.pixels, (size_t) s->w * s->h * s->nc);
	return st;
}

/* Frame 0 clean, frame i an independent draw of the corruption's noise. */
static sp_status
frame_noise(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	int			pi = PIDX(s->profile),
				d = s->difficulty - 1;
	sp_corrupt_ctx c;

	if (i == 0)
		return copy_input(s, out, err);
	switch (s->info->id)
	{
		case SP_P_GAUSSIAN_NOISE:
			s->param[0] = gauss_sigma[pi][d];
			break;
		case SP_P_SHOT_NOISE:
			s->param[0] = shot_c[pi][d];
			break;
		default:
			s->param[0] = speckle_sigma[pi][d];
			break;
	}
	make_ctx(s, &c, s->param, err);
	sp_rng_seed(&c.rng, s->seed, stream_id(s, s->difficulty, i));
	if (s->info->id == SP_P_GAUSSIAN_NOISE)
		return sp_corrupt_gaussian_noise(&c, out);
	if (s->info->id == SP_P_SHOT_NOISE)
		return sp_corrupt_shot_noise(&c, out);
	return sp_corrupt_speckle_noise(&c, out);
}

/*
 * ImageMagick motion blur at angle step * (i - zero).  It acts on each
 * channel alike, so a gray image is blurred as is (equal to blurring three
 * equal channels and taking luma).
 */
static sp_status
frame_motion(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	const double *p = motion_p[PIDX(s->profile)];
	sp_status	st = sp_image_alloc(s->env, out, s->w, s->h, s->nc, err);

	if (st != SP_OK)
		return st;
	return sp_motion_blur_u8(s->env, s->in.pixels, out->pixels, s->w, s->h, s->nc, (int) p[0], p[1],
							 p[2] * (double) (i - (int) p[3]), err);
}

/*
 * acc += the plane zoomed by z >= 1 about the centre (an affine zoom with
 * bilinear sampling, like the reference's affine-zoom crops; unlike the
 * corruptions' clipped_zoom it changes continuously even at 32 px).  For
 * z >= 1 every sample lies inside the image; z = 1 samples exactly the
 * pixel centres, so it adds the plane unchanged.
 */
static void
zoom_add(const double *plane, double *acc, int w, int h, double z)
{
	double		cx = (w - 1) / 2.0,
				cy = (h - 1) / 2.0;

	for (int y = 0; y < h; y++)
	{
		double		sy = cy + (y - cy) / z;

		for (int x = 0; x < w; x++)
			acc[(size_t) y * w + x] += sp_bilinear(plane, w, h, cx + (x - cx) / z, sy,
												   SP_BORDER_NEAREST);
	}
}

/*
 * Running mean of the zooms 1 + 0.004 k, k = 0..i: the accumulator holds
 * the sum for k < pos and advances (restarting when a frame before pos is
 * asked for).  Frame 0 is the clean image.
 */
static sp_status
frame_zoom(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	size_t		n = (size_t) s->w * s->h;
	sp_status	st;

	if (i < s->pos)
	{
		memset(s->acc, 0, sizeof(double) * n * s->nc);
		s->pos = 0;
	}
	for (; s->pos <= i; s->pos++)
	{
		if (sp_env_interrupted(s->env))
		{
			/* the accumulator stays consistent: pos counts the zooms in it */
			return sp_set_error(err, SP_ERR_INTERRUPTED, "perturbation interrupted");
		}
		for (int k = 0; k < s->nc; k++)
			zoom_add(s->planes + k * n, s->acc + k * n, s->w, s->h, 1.0 + 0.004 * s->pos);
	}
	st = sp_image_alloc(s->env, out, s->w, s->h, s->nc, err);
	if (st != SP_OK)
		return st;
	for (int k = 0; k < s->nc; k++)
		for (size_t j = 0; j < n; j++)
			out->pixels[j * s->nc + k] = sp_trunc_u8(s->acc[k * n + j] / (double) (i + 1) * 255.0);
	return SP_OK;
}

/* The fixed layer blurred at 4i - 150 degrees over the washed-out image. */
static sp_status
frame_snow(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	const double *p = snow_p[PIDX(s->profile)];
	uint8_t    *blur = sp_alloc(s->env, (size_t) s->w * s->h),
			   *rgb = NULL;
	sp_corrupt_ctx c;
	sp_status	st;

	if (!blur)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory");
	make_ctx(s, &c, p, err);
	st = sp_motion_blur_u8(s->env, s->snow, blur, s->w, s->h, 1, (int) p[4], p[5],
						   4.0 * i - 150.0, err);
	if (st == SP_OK)
		st = sp_corrupt_out_begin(&c, out, &rgb);
	if (st == SP_OK)
	{
		sp_snow_composite(&c, blur, p[6], rgb);
		st = sp_corrupt_out_end(&c, out, rgb, st);
	}
	sp_free(s->env, blur);
	return st;
}

static sp_status
frame_brightness(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	sp_corrupt_ctx c;

	s->param[0] = bright_step[PIDX(s->profile)] * (double) (i - 15);
	make_ctx(s, &c, s->param, err);
	return sp_corrupt_brightness(&c, out);
}

/* skimage gaussian(sigma, mode 'nearest', truncate 6) per channel. */
static sp_status
frame_gaussian_blur(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	const double *lut = sp_corrupt_u8_unit();
	const double *ab = blur_ab[PIDX(s->profile)];
	size_t		n = (size_t) s->w * s->h;
	double	   *pl = sp_dalloc(s->env, n, err);
	sp_status	st;

	if (!pl)
		return SP_ERR_NOMEM;
	st = sp_image_alloc(s->env, out, s->w, s->h, s->nc, err);
	for (int k = 0; k < s->nc && st == SP_OK; k++)
	{
		for (size_t j = 0; j < n; j++)
			pl[j] = lut[s->in.pixels[j * s->nc + k]];
		st = sp_gaussian_filter(s->env, pl, s->w, s->h, ab[0] + ab[1] * i, 6.0, SP_BORDER_NEAREST, err);
		for (size_t j = 0; j < n && st == SP_OK; j++)
			out->pixels[j * s->nc + k] = sp_trunc_u8(pl[j] * 255.0);
	}
	if (st != SP_OK && out->pixels)
		sp_image_free(s->env, out);
	sp_free(s->env, pl);
	return st;
}

/*
 * One drip step: every column becomes np.convolve(column, kernel, 'same'),
 * i.e. out[j] = sum_m kernel[m] * col[j + (K-1)/2 - m], zero outside.
 */
static void
drip(sp_perturb_seq *s)
{
	int			pi = PIDX(s->profile),
				K = spatter_klen[pi],
				off = (K - 1) / 2;
	const double *kern = spatter_kern[pi];

	for (int x = 0; x < s->w; x++)
	{
		for (int y = 0; y < s->h; y++)
			s->col[y] = s->liq[(size_t) y * s->w + x];
		for (int y = 0; y < s->h; y++)
		{
			double		v = 0.0;

			for (int m = 0; m < K; m++)
			{
				int			j = y + off - m;

				if (j >= 0 && j < s->h)
					v += kern[m] * s->col[j];
			}
			s->liq[(size_t) y * s->w + x] = v;
		}
	}
}

/* Spatter's water rendering of the layer after i drip steps. */
static sp_status
frame_spatter(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	const double *p = spatter_p[PIDX(s->profile)];
	sp_corrupt_ctx c;
	uint8_t    *rgb = NULL;
	sp_status	st;

	if (i < s->pos)
	{
		memcpy(s->liq, s->liq0, sizeof(double) * s->w * s->h);
		s->pos = 0;
	}
	for (; s->pos < i; s->pos++)
		drip(s);
	make_ctx(s, &c, p, err);
	st = sp_corrupt_out_begin(&c, out, &rgb);
	if (st != SP_OK)
		return st;
	st = sp_spatter_water(&c, s->liq, p[4], rgb);
	return sp_corrupt_out_end(&c, out, rgb, st);
}

/* ---- geometric sequences --------------------------------------------- */

/* Index of tap i on an axis of n pixels with a mirrored band of m; -1 = black. */
static inline long
band_index(long i, long n, long m)
{
	if (i >= 0 && i < n)
		return i;
	if (i < -m || i >= n + m)
		return -1;
	return sp_border_index(i, n, SP_BORDER_REFLECT);
}

/*
 * Inverse-mapping warp: output pixel (x, y) samples the input bilinearly at
 * (M[0..2] . (x,y,1), M[3..5] . (x,y,1)) / (M[6..8] . (x,y,1)), rounding to
 * nearest like PIL.  An identity M reproduces the input exactly.
 */
static sp_status
warp(sp_perturb_seq *s, const double M[9], sp_image *out, sp_error *err)
{
	int			w = s->w,
				h = s->h,
				nc = s->nc;
	long		mx = 0,
				my = 0;
	const uint8_t *px = s->in.pixels;
	sp_status	st;

	if (s->profile != SP_PROFILE_CIFAR)
	{
		mx = lround(w * MARGIN_NUM / MARGIN_DEN);
		my = lround(h * MARGIN_NUM / MARGIN_DEN);
	}
	st = sp_image_alloc(s->env, out, w, h, nc, err);
	if (st != SP_OK)
		return st;
	for (int y = 0; y < h; y++)
	{
		if ((y & 63) == 0 && sp_env_interrupted(s->env))
		{
			sp_image_free(s->env, out);
			return sp_set_error(err, SP_ERR_INTERRUPTED, "perturbation interrupted");
		}
		for (int x = 0; x < w; x++)
		{
			double		hw = M[6] * x + M[7] * y + M[8];
			double		sx = (M[0] * x + M[1] * y + M[2]),
						sy = (M[3] * x + M[4] * y + M[5]);
			uint8_t    *o = out->pixels + ((size_t) y * w + x) * nc;
			double		fx,
						fy,
						tx,
						ty,
						wt[4];
			long		xi[2],
						yi[2];

			if (hw != 1.0)
			{
				if (!(fabs(hw) > 1e-12))
				{
					memset(o, 0, nc);
					continue;
				}
				sx /= hw;
				sy /= hw;
			}
			if (!(fabs(sx) < 1e7 && fabs(sy) < 1e7))
			{
				memset(o, 0, nc);
				continue;
			}
			fx = floor(sx);
			fy = floor(sy);
			tx = sx - fx;
			ty = sy - fy;
			if (fx >= 0 && fy >= 0 && fx + 1 < w && fy + 1 < h)
			{
				/* interior: the four taps exist */
				const uint8_t *p0 = px + ((size_t) fy * w + (size_t) fx) * nc,
						   *p1 = p0 + (size_t) w * nc;

				for (int k = 0; k < nc; k++)
				{
					double		v = (1.0 - ty) * ((1.0 - tx) * p0[k] + tx * p0[nc + k]) +
						ty * ((1.0 - tx) * p1[k] + tx * p1[nc + k]);

					o[k] = (uint8_t) (v >= 255.0 ? 255 : (int) (v + 0.5));
				}
				continue;
			}
			xi[0] = band_index((long) fx, w, mx);
			xi[1] = band_index((long) fx + 1, w, mx);
			yi[0] = band_index((long) fy, h, my);
			yi[1] = band_index((long) fy + 1, h, my);
			wt[0] = (1.0 - tx) * (1.0 - ty);
			wt[1] = tx * (1.0 - ty);
			wt[2] = (1.0 - tx) * ty;
			wt[3] = tx * ty;
			for (int k = 0; k < nc; k++)
			{
				double		v = 0.0;

				for (int t = 0; t < 4; t++)
				{
					long		xx = xi[t & 1],
								yy = yi[t >> 1];

					if (xx >= 0 && yy >= 0 && wt[t] != 0.0)
						v += wt[t] * px[((size_t) yy * w + (size_t) xx) * nc + k];
				}
				o[k] = (uint8_t) (v <= 0.0 ? 0 : v >= 255.0 ? 255 : (int) (v + 0.5));
			}
		}
	}
	return SP_OK;
}

/* 3x3 adjugate: a projective inverse up to scale. */
static void
adjugate3(const double a[9], double r[9])
{
	r[0] = a[4] * a[8] - a[5] * a[7];
	r[1] = a[2] * a[7] - a[1] * a[8];
	r[2] = a[1] * a[5] - a[2] * a[4];
	r[3] = a[5] * a[6] - a[3] * a[8];
	r[4] = a[0] * a[8] - a[2] * a[6];
	r[5] = a[2] * a[3] - a[0] * a[5];
	r[6] = a[3] * a[7] - a[4] * a[6];
	r[7] = a[1] * a[6] - a[0] * a[7];
	r[8] = a[0] * a[4] - a[1] * a[3];
}

static sp_status
frame_geometric(sp_perturb_seq *s, int i, sp_image *out, sp_error *err)
{
	int			pi = PIDX(s->profile);
	double		cx = (s->w - 1) / 2.0,
				cy = (s->h - 1) / 2.0;
	double		M[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};

	switch (s->info->id)
	{
		case SP_P_TRANSLATE:
			{
				/* i - zero px at the profile's nominal size, scaled to the width */
				double		shift = (double) (i - translate_zero[pi]) * s->w /
					(double) sp_corrupt_nominal_size(s->profile);

				M[2] = -shift;
				break;
			}
		case SP_P_ROTATE:
			{
				/* counter-clockwise by i - 15 degrees about the centre */
				double		a = (i - 15) * PI / 180.0,
							ca = cos(a),
							sa = sin(a);

				M[0] = ca, M[1] = -sa, M[2] = cx - ca * cx + sa * cy;
				M[3] = sa, M[4] = ca, M[5] = cy - sa * cx - ca * cy;
				break;
			}
		case SP_P_SCALE:
			{
				double		sc = (scale_ab[pi][0] * i + scale_ab[pi][1]) / 100.0;

				M[0] = 1.0 / sc, M[2] = cx - cx / sc;
				M[4] = 1.0 / sc, M[5] = cy - cy / sc;
				break;
			}
		case SP_P_SHEAR:
			{
				/* x' = x + tan(phi) (y - cy) */
				double		t = tan((i - 15) * PI / 180.0);

				M[1] = -t, M[2] = t * cy;
				break;
			}
		case SP_P_TILT:
			{
				/*
				 * The image plane, centred, rotated by theta about the x
				 * axis and phi about the y axis, pushed to depth f and
				 * projected with focal length f (f = diagonal of the
				 * canvas incl. the virtual band): F maps source to output,
				 * its adjugate maps back.
				 */
				double		a = tilt_step[pi] * (i - 15) * PI / 180.0;
				double		ct = cos(a),
							st_ = sin(a);
				double		R[9],
							G[9],
							F[9];
				double		vw = s->w,
							vh = s->h,
							f;

				if (s->profile != SP_PROFILE_CIFAR)
				{
					vw += 2.0 * lround(s->w * MARGIN_NUM / MARGIN_DEN);
					vh += 2.0 * lround(s->h * MARGIN_NUM / MARGIN_DEN);
				}
				f = sqrt(vw * vw + vh * vh);
				/* R = Rx(theta) * Ry(phi), theta = phi = a */
				R[0] = ct, R[1] = 0, R[2] = st_;
				R[3] = st_ * st_, R[4] = ct, R[5] = -st_ * ct;
				R[6] = -ct * st_, R[7] = st_, R[8] = ct * ct;
				G[0] = f * R[0] + cx * R[6], G[1] = f * R[1] + cx * R[7], G[2] = cx * f;
				G[3] = f * R[3] + cy * R[6], G[4] = f * R[4] + cy * R[7], G[5] = cy * f;
				G[6] = R[6], G[7] = R[7], G[8] = f;
				/* F = G * [[1,0,-cx],[0,1,-cy],[0,0,1]] */
				for (int r = 0; r < 3; r++)
				{
					F[3 * r] = G[3 * r];
					F[3 * r + 1] = G[3 * r + 1];
					F[3 * r + 2] = G[3 * r + 2] - cx * G[3 * r] - cy * G[3 * r + 1];
				}
				adjugate3(F, M);
				/* keep the homogeneous weight positive in the image */
				if (M[6] * cx + M[7] * cy + M[8] < 0)
					for (int k = 0; k < 9; k++)
						M[k] = -M[k];
				/* normalise so the identity frame is exactly the identity */
				{
					double		nrm = M[8];

					if (fabs(nrm) > 0)
						for (int k = 0; k < 9; k++)
							M[k] /= nrm;
				}
				break;
			}
		default:
			return sp_set_error(err, SP_ERR_INTERNAL, "not a geometric perturbation");
	}
	return warp(s, M, out, err);
}

sp_status
sp_perturb_seq_frame(sp_perturb_seq *s, int frame, sp_image *out, sp_error *err)
{
	sp_status	st;

	if (out)
	{
		out->pixels = NULL;
		out->width = out->height = out->channels = 0;
	}
	if (!s || !out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation frame needs a sequence and an output image");
	if (frame < 0 || frame >= s->nframes)
	{
		sp_set_error(err, SP_ERR_INVALID_ARG, "frame %d is out of range for perturbation \"%s\"",
					 frame, s->info->name);
		sp_error_detail(err, "Perturbation %s has frames 0 to %d with the %s profile.",
						s->info->name, s->nframes - 1, sp_corrupt_profile_name(s->profile));
		return SP_ERR_INVALID_ARG;
	}
	if (sp_env_interrupted(s->env))
		return sp_set_error(err, SP_ERR_INTERRUPTED, "perturbation interrupted");
	switch (s->info->id)
	{
		case SP_P_GAUSSIAN_NOISE:
		case SP_P_SHOT_NOISE:
		case SP_P_SPECKLE_NOISE:
			st = frame_noise(s, frame, out, err);
			break;
		case SP_P_MOTION_BLUR:
			st = frame_motion(s, frame, out, err);
			break;
		case SP_P_ZOOM_BLUR:
			st = frame_zoom(s, frame, out, err);
			break;
		case SP_P_SNOW:
			st = frame_snow(s, frame, out, err);
			break;
		case SP_P_BRIGHTNESS:
			st = frame_brightness(s, frame, out, err);
			break;
		case SP_P_GAUSSIAN_BLUR:
			st = frame_gaussian_blur(s, frame, out, err);
			break;
		case SP_P_SPATTER:
			st = frame_spatter(s, frame, out, err);
			break;
		default:
			st = frame_geometric(s, frame, out, err);
			break;
	}
	if (st != SP_OK && out->pixels)
		sp_image_free(s->env, out);
	if (st == SP_OK)
		sp_error_clear(err);
	return st;
}

sp_status
sp_perturb_frame(const sp_env *env, const sp_image *in, const char *name, int frame,
				 uint64_t seed, sp_corrupt_profile profile, int difficulty, sp_image *out,
				 sp_error *err)
{
	sp_perturb_seq *s = NULL;
	sp_status	st;

	if (out)
	{
		out->pixels = NULL;
		out->width = out->height = out->channels = 0;
	}
	st = sp_perturb_begin(env, in, name, seed, profile, difficulty, &s, err);
	if (st != SP_OK)
		return st;
	st = sp_perturb_seq_frame(s, frame, out, err);
	sp_perturb_end(s);
	return st;
}

void
sp_perturb_free_frames(const sp_env *env, sp_image *frames, int nframes)
{
	if (!frames)
		return;
	for (int i = 0; i < nframes; i++)
		if (frames[i].pixels)
			sp_image_free(env, &frames[i]);
	sp_free(env, frames);
}

sp_status
sp_perturb_sequence(const sp_env *env, const sp_image *in, const char *name, uint64_t seed,
					sp_corrupt_profile profile, int difficulty, sp_image **frames,
					int *nframes, sp_error *err)
{
	sp_perturb_seq *s = NULL;
	sp_image   *f;
	int			n;
	sp_status	st;

	if (!frames || !nframes)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation sequence needs an output array");
	*frames = NULL;
	*nframes = 0;
	st = sp_perturb_begin(env, in, name, seed, profile, difficulty, &s, err);
	if (st != SP_OK)
		return st;
	n = s->nframes;
	f = sp_alloc_array(env, (size_t) n, sizeof(sp_image));
	if (!f)
	{
		sp_perturb_end(s);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory");
	}
	memset(f, 0, sizeof(sp_image) * (size_t) n);
	for (int i = 0; i < n && st == SP_OK; i++)
		st = sp_perturb_seq_frame(s, i, &f[i], err);
	sp_perturb_end(s);
	if (st != SP_OK)
	{
		sp_perturb_free_frames(env, f, n);
		return st;
	}
	*frames = f;
	*nframes = n;
	return SP_OK;
}

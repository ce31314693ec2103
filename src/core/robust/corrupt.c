/*
 * corrupt.c: the corruption registry (names, categories, benchmark vs
 * held-out), the parameter tables of the three profiles exactly as
 * hendrycks/robustness defines them, argument validation and dispatch.
 * The algorithms live in corrupt_noise.c, corrupt_blur.c,
 * corrupt_weather.c and corrupt_digital.c.
 */
#include "robust/corrupt_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const sp_corruption_info registry[SP_C_COUNT] = {
	{"gaussian_noise", SP_C_GAUSSIAN_NOISE, SP_CAT_NOISE, 1, "additive Gaussian noise per channel"},
	{"shot_noise", SP_C_SHOT_NOISE, SP_CAT_NOISE, 1, "Poisson (photon) noise"},
	{"impulse_noise", SP_C_IMPULSE_NOISE, SP_CAT_NOISE, 1, "salt-and-pepper noise"},
	{"defocus_blur", SP_C_DEFOCUS_BLUR, SP_CAT_BLUR, 1, "anti-aliased disk blur"},
	{"glass_blur", SP_C_GLASS_BLUR, SP_CAT_BLUR, 1, "Gaussian blur with local pixel shuffling"},
	{"motion_blur", SP_C_MOTION_BLUR, SP_CAT_BLUR, 1, "one-sided Gaussian line blur at a random angle"},
	{"zoom_blur", SP_C_ZOOM_BLUR, SP_CAT_BLUR, 1, "average of centre zooms"},
	{"snow", SP_C_SNOW, SP_CAT_WEATHER, 1, "motion-blurred snow flakes over a washed-out image"},
	{"frost", SP_C_FROST, SP_CAT_WEATHER, 1, "blend with a procedural ice-crystal texture"},
	{"fog", SP_C_FOG, SP_CAT_WEATHER, 1, "plasma-fractal haze"},
	{"brightness", SP_C_BRIGHTNESS, SP_CAT_WEATHER, 1, "HSV value shift"},
	{"contrast", SP_C_CONTRAST, SP_CAT_DIGITAL, 1, "contrast reduction towards the channel means"},
	{"elastic_transform", SP_C_ELASTIC_TRANSFORM, SP_CAT_DIGITAL, 1, "random affine plus smoothed displacement field"},
	{"pixelate", SP_C_PIXELATE, SP_CAT_DIGITAL, 1, "box downsampling and nearest upsampling"},
	{"jpeg_compression", SP_C_JPEG_COMPRESSION, SP_CAT_DIGITAL, 1, "JPEG round trip at low quality"},
	{"speckle_noise", SP_C_SPECKLE_NOISE, SP_CAT_NOISE, 0, "multiplicative Gaussian noise"},
	{"gaussian_blur", SP_C_GAUSSIAN_BLUR, SP_CAT_BLUR, 0, "Gaussian blur"},
	{"spatter", SP_C_SPATTER, SP_CAT_WEATHER, 0, "water or mud splashes"},
	{"saturate", SP_C_SATURATE, SP_CAT_DIGITAL, 0, "HSV saturation change"},
};

static const sp_corrupt_fn dispatch[SP_C_COUNT] = {
	sp_corrupt_gaussian_noise,
	sp_corrupt_shot_noise,
	sp_corrupt_impulse_noise,
	sp_corrupt_defocus_blur,
	sp_corrupt_glass_blur,
	sp_corrupt_motion_blur,
	sp_corrupt_zoom_blur,
	sp_corrupt_snow,
	sp_corrupt_frost,
	sp_corrupt_fog,
	sp_corrupt_brightness,
	sp_corrupt_contrast,
	sp_corrupt_elastic_transform,
	sp_corrupt_pixelate,
	sp_corrupt_jpeg_compression,
	sp_corrupt_speckle_noise,
	sp_corrupt_gaussian_blur,
	sp_corrupt_spatter,
	sp_corrupt_saturate,
};

/*
 * Parameter tuples [corruption][profile: CIFAR, TINY, IMAGENET][severity-1],
 * in the order of the reference's tuples (docs/reference/imagenet-c.md,
 * "Severity parameters").
 */
#define NP 8
typedef double ptuple[NP];
static const ptuple params[SP_C_COUNT][3][5] = {
	[SP_C_GAUSSIAN_NOISE] = {
		{{.04}, {.06}, {.08}, {.09}, {.10}},
		{{.04}, {.08}, {.12}, {.15}, {.18}},
		{{.08}, {.12}, {.18}, {.26}, {.38}}},
	[SP_C_SHOT_NOISE] = {
		{{500}, {250}, {100}, {75}, {50}},
		{{250}, {100}, {50}, {30}, {15}},
		{{60}, {25}, {12}, {5}, {3}}},
	[SP_C_IMPULSE_NOISE] = {
		{{.01}, {.02}, {.03}, {.05}, {.07}},
		{{.01}, {.02}, {.05}, {.08}, {.14}},
		{{.03}, {.06}, {.09}, {.17}, {.27}}},
	/* (radius, alias_blur) */
	[SP_C_DEFOCUS_BLUR] = {
		{{.3, .4}, {.4, .5}, {.5, .6}, {1, .2}, {1.5, .1}},
		{{.5, .6}, {1, .1}, {1.5, .1}, {2.5, .01}, {3, .1}},
		{{3, .1}, {4, .5}, {6, .5}, {8, .5}, {10, .5}}},
	/* (sigma, max_delta, iterations) */
	[SP_C_GLASS_BLUR] = {
		{{.05, 1, 1}, {.25, 1, 1}, {.4, 1, 1}, {.25, 1, 2}, {.4, 1, 2}},
		{{.1, 1, 1}, {.5, 1, 1}, {.6, 1, 2}, {.7, 2, 1}, {.9, 2, 2}},
		{{.7, 1, 2}, {.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}}},
	/* (radius, sigma) */
	[SP_C_MOTION_BLUR] = {
		{{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}},
		{{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}},
		{{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}}},
	/* np.arange(1, stop, step): (stop, step) */
	[SP_C_ZOOM_BLUR] = {
		{{1.06, .01}, {1.11, .01}, {1.16, .01}, {1.21, .01}, {1.26, .01}},
		{{1.06, .01}, {1.11, .01}, {1.16, .01}, {1.21, .01}, {1.26, .01}},
		{{1.11, .01}, {1.16, .01}, {1.21, .02}, {1.26, .02}, {1.31, .03}}},
	/* (mean, std, zoom, threshold, blur radius, blur sigma, blend) */
	[SP_C_SNOW] = {
		{{.1, .2, 1, .6, 8, 3, .95}, {.1, .2, 1, .5, 10, 4, .9}, {.15, .3, 1.75, .55, 10, 4, .9},
		 {.25, .3, 2.25, .6, 12, 6, .85}, {.3, .3, 1.25, .65, 14, 12, .8}},
		{{.1, .2, 1, .6, 8, 3, .8}, {.1, .2, 1, .5, 10, 4, .8}, {.15, .3, 1.75, .55, 10, 4, .7},
		 {.25, .3, 2.25, .6, 12, 6, .65}, {.3, .3, 1.25, .65, 14, 12, .6}},
		{{.1, .3, 3, .5, 10, 4, .8}, {.2, .3, 2, .5, 12, 4, .7}, {.55, .3, 4, .9, 12, 8, .7},
		 {.55, .3, 4.5, .85, 12, 8, .65}, {.55, .3, 2.5, .85, 12, 12, .55}}},
	/* (image weight, frost weight) */
	[SP_C_FROST] = {
		{{1, .2}, {1, .3}, {.9, .4}, {.85, .4}, {.75, .45}},
		{{1, .3}, {.9, .4}, {.8, .45}, {.75, .5}, {.7, .55}},
		{{1, .4}, {.8, .6}, {.7, .7}, {.65, .7}, {.6, .75}}},
	/* (t, wibble decay) */
	[SP_C_FOG] = {
		{{.2, 3}, {.5, 3}, {.75, 2.5}, {1, 2}, {1.5, 1.75}},
		{{.4, 3}, {.7, 3}, {1, 2.5}, {1.5, 2}, {2, 1.75}},
		{{1.5, 2}, {2, 2}, {2.5, 1.7}, {2.5, 1.5}, {3, 1.4}}},
	[SP_C_BRIGHTNESS] = {
		{{.05}, {.1}, {.15}, {.2}, {.3}},
		{{.1}, {.2}, {.3}, {.4}, {.5}},
		{{.1}, {.2}, {.3}, {.4}, {.5}}},
	[SP_C_CONTRAST] = {
		{{.75}, {.5}, {.4}, {.3}, {.15}},
		{{.4}, {.3}, {.2}, {.1}, {.05}},
		{{.4}, {.3}, {.2}, {.1}, {.05}}},
	/* (alpha, sigma, affine) as multiples of the profile constant (32, 64, 244) */
	[SP_C_ELASTIC_TRANSFORM] = {
		{{0, 0, .08}, {.05, .2, .07}, {.08, .06, .06}, {.1, .04, .05}, {.1, .03, .03}},
		{{0, 0, .08}, {.05, .3, .06}, {.1, .08, .06}, {.1, .03, .03}, {.16, .03, .02}},
		{{2, .7, .1}, {2, .08, .2}, {.05, .01, .02}, {.07, .01, .02}, {.12, .01, .02}}},
	[SP_C_PIXELATE] = {
		{{.95}, {.9}, {.85}, {.75}, {.65}},
		{{.9}, {.8}, {.7}, {.6}, {.5}},
		{{.6}, {.5}, {.4}, {.3}, {.25}}},
	[SP_C_JPEG_COMPRESSION] = {
		{{80}, {65}, {58}, {50}, {40}},
		{{65}, {58}, {50}, {40}, {25}},
		{{25}, {18}, {15}, {10}, {7}}},
	[SP_C_SPECKLE_NOISE] = {
		{{.06}, {.1}, {.12}, {.16}, {.2}},
		{{.15}, {.2}, {.25}, {.3}, {.35}},
		{{.15}, {.2}, {.35}, {.45}, {.6}}},
	[SP_C_GAUSSIAN_BLUR] = {
		{{.4}, {.6}, {.7}, {.8}, {1}},
		{{.5}, {.75}, {1}, {1.25}, {1.5}},
		{{1}, {2}, {3}, {4}, {6}}},
	/* (mean, std, blur sigma, threshold, intensity / mud sigma, mode 0 water 1 mud) */
	[SP_C_SPATTER] = {
		{{.62, .1, .7, .7, .5, 0}, {.65, .1, .8, .7, .5, 0}, {.65, .3, 1, .69, .5, 0},
		 {.65, .1, .7, .69, .6, 1}, {.65, .1, .5, .68, .6, 1}},
		{{.62, .1, .7, .7, .6, 0}, {.65, .1, .8, .7, .6, 0}, {.65, .3, 1, .69, .6, 0},
		 {.65, .1, .7, .68, .6, 1}, {.65, .1, .5, .67, .6, 1}},
		{{.65, .3, 4, .69, .6, 0}, {.65, .3, 3, .68, .6, 0}, {.65, .3, 2, .68, .5, 0},
		 {.65, .3, 1, .65, 1.5, 1}, {.67, .4, 1, .65, 1.5, 1}}},
	/* (saturation multiplier, offset) */
	[SP_C_SATURATE] = {
		{{.3, 0}, {.1, 0}, {1.5, 0}, {2, .1}, {2.5, .2}},
		{{.3, 0}, {.1, 0}, {2, 0}, {5, .1}, {30, .2}},
		{{.3, 0}, {.1, 0}, {2, 0}, {5, .1}, {20, .2}}},
};

int
sp_corruption_count(void)
{
	return SP_C_COUNT;
}

const sp_corruption_info *
sp_corruption_get(int i)
{
	return (i >= 0 && i < SP_C_COUNT) ? &registry[i] : NULL;
}

const sp_corruption_info *
sp_corruption_lookup(const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < SP_C_COUNT; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

const char *
sp_corrupt_category_name(sp_corrupt_category cat)
{
	switch (cat)
	{
		case SP_CAT_NOISE:
			return "noise";
		case SP_CAT_BLUR:
			return "blur";
		case SP_CAT_WEATHER:
			return "weather";
		case SP_CAT_DIGITAL:
			return "digital";
	}
	return "unknown";
}

const char *
sp_corrupt_profile_name(sp_corrupt_profile profile)
{
	switch (profile)
	{
		case SP_PROFILE_AUTO:
			return "auto";
		case SP_PROFILE_CIFAR:
			return "cifar";
		case SP_PROFILE_TINY:
			return "tiny";
		case SP_PROFILE_IMAGENET:
			return "imagenet";
	}
	return "unknown";
}

sp_status
sp_corrupt_profile_parse(const char *name, sp_corrupt_profile *profile, sp_error *err)
{
	static const sp_corrupt_profile all[] = {
		SP_PROFILE_AUTO, SP_PROFILE_CIFAR, SP_PROFILE_TINY, SP_PROFILE_IMAGENET
	};

	for (int i = 0; name && i < 4; i++)
		if (strcasecmp(name, sp_corrupt_profile_name(all[i])) == 0)
		{
			*profile = all[i];
			return SP_OK;
		}
	sp_set_error(err, SP_ERR_INVALID_ARG, "unknown corruption profile \"%.64s\"",
				 name ? name : "(null)");
	sp_error_detail(err, "Valid profiles are auto, cifar, tiny and imagenet.");
	return SP_ERR_INVALID_ARG;
}

sp_corrupt_profile
sp_corrupt_profile_resolve(sp_corrupt_profile profile, int width, int height)
{
	int			s = width < height ? width : height;

	if (profile != SP_PROFILE_AUTO)
		return profile;
	if (s <= 48)
		return SP_PROFILE_CIFAR;
	if (s <= 144)
		return SP_PROFILE_TINY;
	return SP_PROFILE_IMAGENET;
}

int
sp_corrupt_nominal_size(sp_corrupt_profile profile)
{
	return profile == SP_PROFILE_CIFAR ? 32 : profile == SP_PROFILE_TINY ? 64 : 224;
}

static double unit_lut[256];
static int	unit_lut_ready;

const double *
sp_corrupt_u8_unit(void)
{
	/* idempotent: racing initialisations write the same values */
	if (!unit_lut_ready)
	{
		for (int v = 0; v < 256; v++)
			unit_lut[v] = (double) v / 255.0;
		unit_lut_ready = 1;
	}
	return unit_lut;
}

sp_status
sp_corrupt_out_begin(sp_corrupt_ctx *c, sp_image *out, uint8_t **rgb)
{
	sp_status	st;

	*rgb = NULL;
	if (c->out_channels == 3)
	{
		st = sp_image_alloc(c->env, out, c->w, c->h, 3, c->err);
		if (st == SP_OK)
			*rgb = out->pixels;
		return st;
	}
	*rgb = sp_alloc_array(c->env, (size_t) c->w * (size_t) c->h, 3);
	if (!*rgb)
		return sp_set_error(c->err, SP_ERR_NOMEM, "out of memory");
	return SP_OK;
}

sp_status
sp_corrupt_out_end(sp_corrupt_ctx *c, sp_image *out, uint8_t *rgb, sp_status st)
{
	if (c->out_channels == 3)
	{
		if (st != SP_OK)
			sp_image_free(c->env, out);
		return st;
	}
	if (st == SP_OK && rgb)
		st = sp_rgb8_to_image(c->env, rgb, c->w, c->h, 1, out, c->err);
	if (rgb)
		sp_free(c->env, rgb);
	return st;
}

void
sp_corrupt_put_plane(sp_corrupt_ctx *c, uint8_t *rgb, int k, const double *plane, double scale)
{
	size_t		n = (size_t) c->w * (size_t) c->h;

	for (size_t i = 0; i < n; i++)
		rgb[3 * i + k] = sp_trunc_u8(plane[i] * scale);
}

void
sp_corrupt_get_plane(sp_corrupt_ctx *c, int k, double *plane)
{
	const double *lut = sp_corrupt_u8_unit();
	size_t		n = (size_t) c->w * (size_t) c->h;
	const uint8_t *px = c->in->pixels;

	if (c->in->channels == 1)
		for (size_t i = 0; i < n; i++)
			plane[i] = lut[px[i]];
	else
		for (size_t i = 0; i < n; i++)
			plane[i] = lut[px[3 * i + k]];
}

static void
list_names(char *buf, size_t len)
{
	size_t		used = 0;

	buf[0] = '\0';
	for (int i = 0; i < SP_C_COUNT && used < len; i++)
		used += (size_t) snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
								  registry[i].name);
}

sp_status
sp_corrupt_by_id(const sp_env *env, const sp_image *in, sp_corruption_id id, int severity,
				 uint64_t seed, sp_corrupt_profile profile, sp_image *out, sp_error *err)
{
	sp_corrupt_ctx ctx;
	size_t		npix;
	sp_status	st;

	if (out)
	{
		out->pixels = NULL;
		out->width = out->height = out->channels = 0;
	}
	if (!in || !out || !in->pixels)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "corruption needs an input and an output image");
	if ((int) id < 0 || id >= SP_C_COUNT)
	{
		char		names[512];

		list_names(names, sizeof(names));
		sp_set_error(err, SP_ERR_INVALID_ARG, "unknown corruption id %d", (int) id);
		sp_error_detail(err, "Valid corruptions are: %s.", names);
		return SP_ERR_INVALID_ARG;
	}
	if (severity < 0 || severity > SP_CORRUPT_MAX_SEVERITY)
	{
		sp_set_error(err, SP_ERR_INVALID_ARG, "corruption severity %d is out of range", severity);
		sp_error_detail(err, "Severity must be between 0 (no corruption) and 5.");
		return SP_ERR_INVALID_ARG;
	}
	if ((int) profile < SP_PROFILE_AUTO || profile > SP_PROFILE_IMAGENET)
	{
		sp_set_error(err, SP_ERR_INVALID_ARG, "unknown corruption profile %d", (int) profile);
		sp_error_detail(err, "Valid profiles are auto, cifar, tiny and imagenet.");
		return SP_ERR_INVALID_ARG;
	}
	if (in->channels != 1 && in->channels != 3)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "corruption needs a gray or RGB image, not %d channels",
							in->channels);
	if (in->width <= 0 || in->height <= 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "cannot corrupt an empty image");
	st = sp_image_check_dims(env, (uint64_t) in->width, (uint64_t) in->height, in->channels, err);
	if (st != SP_OK)
		return st;
	npix = (size_t) in->width * (size_t) in->height;

	if (severity == 0)
	{
		st = sp_image_alloc(env, out, in->width, in->height, in->channels, err);
		if (st == SP_OK)
			memcpy(out->pixels, in->pixels, npix * (size_t) in->channels);
		return st;
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.env = env;
	ctx.in = in;
	ctx.id = id;
	ctx.severity = severity;
	ctx.profile = sp_corrupt_profile_resolve(profile, in->width, in->height);
	ctx.p = params[id][ctx.profile - SP_PROFILE_CIFAR][severity - 1];
	/* one stream per (corruption, severity): severities are independent draws */
	sp_rng_seed(&ctx.rng, seed, ((uint64_t) id << 8) | (uint64_t) severity);
	ctx.w = in->width;
	ctx.h = in->height;
	ctx.out_channels = in->channels;
	ctx.err = err;

	st = dispatch[id] (&ctx, out);
	if (st != SP_OK && out->pixels)
		sp_image_free(env, out);
	if (st == SP_OK)
		sp_error_clear(err);
	return st;
}

sp_status
sp_corrupt(const sp_env *env, const sp_image *in, const char *name, int severity,
		   uint64_t seed, sp_corrupt_profile profile, sp_image *out, sp_error *err)
{
	const sp_corruption_info *info = sp_corruption_lookup(name);

	if (!info)
	{
		char		names[512];

		if (out)
		{
			out->pixels = NULL;
			out->width = out->height = out->channels = 0;
		}
		list_names(names, sizeof(names));
		sp_set_error(err, SP_ERR_INVALID_ARG, "unknown corruption \"%.64s\"", name ? name : "(null)");
		sp_error_detail(err, "Valid corruptions are: %s.", names);
		return SP_ERR_INVALID_ARG;
	}
	return sp_corrupt_by_id(env, in, info->id, severity, seed, profile, out, err);
}

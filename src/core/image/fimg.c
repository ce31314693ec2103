/*
 * fimg.c: planar double images, border indexing and the uint8 conversions
 * (see fimg.h).
 */
#include "image/fimg.h"

#include <string.h>

long
sp_border_index(long i, long n, sp_border mode)
{
	long		p;

	if (i >= 0 && i < n)
		return i;
	switch (mode)
	{
		case SP_BORDER_CONSTANT:
			return -1;
		case SP_BORDER_NEAREST:
			return i < 0 ? 0 : n - 1;
		case SP_BORDER_REFLECT:
			p = 2 * n;
			i %= p;
			if (i < 0)
				i += p;
			return i >= n ? p - 1 - i : i;
		case SP_BORDER_REFLECT101:
			if (n == 1)
				return 0;
			p = 2 * n - 2;
			i %= p;
			if (i < 0)
				i += p;
			return i >= n ? p - i : i;
	}
	return 0;
}

double *
sp_dalloc(const sp_env *env, size_t n, sp_error *err)
{
	double	   *p = sp_alloc_array(env, n ? n : 1, sizeof(double));

	if (!p)
		sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating %zu doubles", n);
	return p;
}

sp_status
sp_fimg_alloc(const sp_env *env, sp_fimg *f, int w, int h, int c, sp_error *err)
{
	size_t		n;

	f->w = w;
	f->h = h;
	f->c = c;
	f->data = NULL;
	if (w <= 0 || h <= 0 || c <= 0 ||
		!sp_mul_size((size_t) w, (size_t) h, &n) || !sp_mul_size(n, (size_t) c, &n))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid float image size %dx%dx%d", w, h, c);
	f->data = sp_dalloc(env, n, err);
	return f->data ? SP_OK : SP_ERR_NOMEM;
}

void
sp_fimg_free(const sp_env *env, sp_fimg *f)
{
	if (f && f->data)
	{
		sp_free(env, f->data);
		f->data = NULL;
	}
}

sp_status
sp_fimg_from_image(const sp_env *env, const sp_image *in, sp_fimg *f, sp_error *err)
{
	sp_status	st = sp_fimg_alloc(env, f, in->width, in->height, 3, err);
	size_t		n = (size_t) in->width * (size_t) in->height;
	double		lut[256];

	if (st != SP_OK)
		return st;
	for (int v = 0; v < 256; v++)
		lut[v] = (double) v / 255.0;
	for (int k = 0; k < 3; k++)
	{
		double	   *p = sp_fimg_plane(f, k);

		if (in->channels == 1)
			for (size_t i = 0; i < n; i++)
				p[i] = lut[in->pixels[i]];
		else
			for (size_t i = 0; i < n; i++)
				p[i] = lut[in->pixels[3 * i + k]];
	}
	return SP_OK;
}

static inline uint8_t
luma_pil(uint8_t r, uint8_t g, uint8_t b)
{
	return (uint8_t) (((uint32_t) r * 19595 + (uint32_t) g * 38470 + (uint32_t) b * 7471 + 0x8000) >> 16);
}

sp_status
sp_fimg_to_image(const sp_env *env, const sp_fimg *f, double scale, int out_channels,
				 sp_image *out, sp_error *err)
{
	sp_status	st = sp_image_alloc(env, out, f->w, f->h, out_channels, err);
	size_t		n = (size_t) f->w * (size_t) f->h;
	const double *r = sp_fimg_plane(f, 0),
			   *g = sp_fimg_plane(f, 1),
			   *b = sp_fimg_plane(f, 2);

	if (st != SP_OK)
		return st;
	if (out_channels == 3)
		for (size_t i = 0; i < n; i++)
		{
			/* clip(x, 0, 1) * 255 == clip(x * 255, 0, 255) for scale 255 */
			out->pixels[3 * i] = sp_trunc_u8(r[i] * scale);
			out->pixels[3 * i + 1] = sp_trunc_u8(g[i] * scale);
			out->pixels[3 * i + 2] = sp_trunc_u8(b[i] * scale);
		}
	else
		for (size_t i = 0; i < n; i++)
			out->pixels[i] = luma_pil(sp_trunc_u8(r[i] * scale), sp_trunc_u8(g[i] * scale),
									  sp_trunc_u8(b[i] * scale));
	return SP_OK;
}

sp_status
sp_rgb8_to_image(const sp_env *env, const uint8_t *rgb, int w, int h, int out_channels,
				 sp_image *out, sp_error *err)
{
	sp_status	st = sp_image_alloc(env, out, w, h, out_channels, err);
	size_t		n = (size_t) w * (size_t) h;

	if (st != SP_OK)
		return st;
	if (out_channels == 3)
		memcpy(out->pixels, rgb, 3 * n);
	else
		for (size_t i = 0; i < n; i++)
			out->pixels[i] = luma_pil(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
	return SP_OK;
}

uint8_t *
sp_image_to_rgb8(const sp_env *env, const sp_image *in, sp_error *err)
{
	size_t		n = (size_t) in->width * (size_t) in->height;
	uint8_t    *p = sp_alloc_array(env, n, 3);

	if (!p)
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (in->channels == 3)
		memcpy(p, in->pixels, 3 * n);
	else
		for (size_t i = 0; i < n; i++)
			p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = in->pixels[i];
	return p;
}

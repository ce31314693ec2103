/*
 * img_fixtures.c: test-only image generators and an instrumented env (see
 * img_fixtures.h).  Fixture writers abort() on any libpng/libjpeg error:
 * they only ever encode well-formed input built by the tests.
 */
#include "img_fixtures.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>

static void *
fx_alloc(void *user, size_t size)
{
	fx_env	   *fx = user;

	if (fx->fail_alloc_after >= 0 && fx->allocs >= fx->fail_alloc_after)
		return NULL;
	fx->allocs++;
	fx->live++;
	if (size > fx->largest)
		fx->largest = size;
	return malloc(size ? size : 1);
}

static void
fx_free(void *user, void *ptr)
{
	fx_env	   *fx = user;

	fx->live--;
	free(ptr);
}

static int
fx_interrupted(void *user)
{
	fx_env	   *fx = user;

	fx->polls++;
	return fx->interrupt_after >= 0 && fx->polls > fx->interrupt_after;
}

void
fx_env_init(fx_env *fx, uint64_t max_pixels)
{
	memset(fx, 0, sizeof(*fx));
	fx->env.alloc = fx_alloc;
	fx->env.free = fx_free;
	fx->env.interrupted = fx_interrupted;
	fx->env.user = fx;
	fx->env.max_pixels = max_pixels;
	fx->interrupt_after = -1;
	fx->fail_alloc_after = -1;
}

uint64_t
fx_rand(uint64_t *state)
{
	uint64_t	x = *state ? *state : 0x9E3779B97F4A7C15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* ------------------------------------------------------------------------ */

typedef struct
{
	uint8_t    *buf;
	size_t		len;
	size_t		cap;
} fx_buf;

static void
fx_buf_put(fx_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 1024;

		while (cap < b->len + n)
			cap *= 2;
		b->buf = realloc(b->buf, cap);
		if (!b->buf)
			abort();
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void
fx_png_write_fn(png_structp png, png_bytep data, size_t n)
{
	fx_buf_put(png_get_io_ptr(png), data, n);
}

static void
fx_png_flush_fn(png_structp png)
{
	(void) png;
}

static void
fx_png_abort(png_structp png, png_const_charp msg)
{
	(void) png;
	fprintf(stderr, "fixture libpng error: %s\n", msg);
	abort();
}

uint8_t *
fx_png_write(const fx_png_spec *s, size_t *len)
{
	png_structp png;
	png_infop	info;
	fx_buf		out = {0};
	int			ch;
	size_t		rowbytes;
	uint8_t    *rows;
	png_bytep  *ptrs;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, fx_png_abort, NULL);
	info = png_create_info_struct(png);
	png_set_write_fn(png, &out, fx_png_write_fn, fx_png_flush_fn);
	if (s->compression >= 0)
		png_set_compression_level(png, s->compression);
	png_set_IHDR(png, info, (png_uint_32) s->width, (png_uint_32) s->height, s->bit_depth,
				 s->color_type, s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
				 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (s->color_type == PNG_COLOR_TYPE_PALETTE)
	{
		png_color	pal[256];

		for (int i = 0; i < s->n_palette; i++)
		{
			pal[i].red = s->palette[3 * i];
			pal[i].green = s->palette[3 * i + 1];
			pal[i].blue = s->palette[3 * i + 2];
		}
		png_set_PLTE(png, info, pal, s->n_palette);
		if (s->n_trns > 0)
			png_set_tRNS(png, info, s->trns, s->n_trns, NULL);
	}
	else if (s->has_trns_color)
	{
		png_color_16 c;

		memset(&c, 0, sizeof(c));
		c.gray = s->trns_color[0];
		c.red = s->trns_color[0];
		c.green = s->trns_color[1];
		c.blue = s->trns_color[2];
		png_set_tRNS(png, info, NULL, 0, &c);
	}
	png_write_info(png, info);

	switch (s->color_type)
	{
		case PNG_COLOR_TYPE_GRAY:
		case PNG_COLOR_TYPE_PALETTE:
			ch = 1;
			break;
		case PNG_COLOR_TYPE_GRAY_ALPHA:
			ch = 2;
			break;
		case PNG_COLOR_TYPE_RGB:
			ch = 3;
			break;
		default:
			ch = 4;
			break;
	}
	rowbytes = ((size_t) s->width * ch * s->bit_depth + 7) / 8;
	rows = calloc((size_t) s->height, rowbytes);
	ptrs = malloc(sizeof(png_bytep) * (size_t) s->height);
	if (!rows || !ptrs)
		abort();
	for (int y = 0; y < s->height; y++)
	{
		uint8_t    *r = rows + (size_t) y * rowbytes;
		const uint16_t *src = s->samples + (size_t) y * s->width * ch;

		ptrs[y] = r;
		for (int i = 0; i < s->width * ch; i++)
		{
			unsigned	v = src[i];

			if (s->bit_depth == 16)
			{
				r[2 * i] = (uint8_t) (v >> 8);
				r[2 * i + 1] = (uint8_t) v;
			}
			else if (s->bit_depth == 8)
				r[i] = (uint8_t) v;
			else
			{
				int			per = 8 / s->bit_depth;
				int			shift = 8 - s->bit_depth * (i % per + 1);

				r[i / per] |= (uint8_t) (v << shift);
			}
		}
	}
	png_write_image(png, ptrs);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(rows);
	free(ptrs);
	*len = out.len;
	return out.buf;
}

/* ------------------------------------------------------------------------ */

static void
fx_jpeg_abort(j_common_ptr cinfo)
{
	char		msg[JMSG_LENGTH_MAX];

	(*cinfo->err->format_message) (cinfo, msg);
	fprintf(stderr, "fixture libjpeg error: %s\n", msg);
	abort();
}

static uint8_t *
fx_jpeg_finish(struct jpeg_compress_struct *c, const uint8_t *pixels, int comps,
			   unsigned char **buf, unsigned long *blen, size_t *len)
{
	uint8_t    *copy;

	jpeg_start_compress(c, TRUE);
	while (c->next_scanline < c->image_height)
	{
		JSAMPROW	row = (JSAMPROW) (uintptr_t) (pixels + (size_t) c->next_scanline * c->image_width * comps);

		jpeg_write_scanlines(c, &row, 1);
	}
	jpeg_finish_compress(c);
	jpeg_destroy_compress(c);
	copy = malloc(*blen);
	if (!copy)
		abort();
	memcpy(copy, *buf, *blen);
	*len = *blen;
	free(*buf);
	return copy;
}

uint8_t *
fx_jpeg_write_cmyk(int width, int height, const uint8_t *cmyk, int jpeg_space,
				   int adobe, int quality, size_t *len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *buf = NULL;
	unsigned long blen = 0;

	c.err = jpeg_std_error(&jerr);
	jerr.error_exit = fx_jpeg_abort;
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &blen);
	c.image_width = (JDIMENSION) width;
	c.image_height = (JDIMENSION) height;
	c.input_components = 4;
	c.in_color_space = JCS_CMYK;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, (J_COLOR_SPACE) jpeg_space);
	c.write_Adobe_marker = adobe ? TRUE : FALSE;
	jpeg_set_quality(&c, quality, TRUE);
	return fx_jpeg_finish(&c, cmyk, 4, &buf, &blen, len);
}

uint8_t *
fx_jpeg_write_many_scans(int width, int height, size_t *len, int *n_scans)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *buf = NULL;
	unsigned long blen = 0;
	static jpeg_scan_info scans[1 + 63 * 5];
	int			n = 0;
	uint8_t    *pixels = malloc((size_t) width * height);
	uint8_t    *res;

	if (!pixels)
		abort();
	for (int i = 0; i < width * height; i++)
		pixels[i] = (uint8_t) ((i * 37) ^ (i / width * 11));
	/* DC scan, then each AC coefficient alone: first pass Al=4, refined to 0. */
	scans[n].comps_in_scan = 1;
	scans[n].component_index[0] = 0;
	scans[n].Ss = 0;
	scans[n].Se = 0;
	scans[n].Ah = 0;
	scans[n].Al = 0;
	n++;
	for (int k = 1; k <= 63; k++)
	{
		for (int al = 4; al >= 0; al--)
		{
			scans[n].comps_in_scan = 1;
			scans[n].component_index[0] = 0;
			scans[n].Ss = k;
			scans[n].Se = k;
			scans[n].Ah = al == 4 ? 0 : al + 1;
			scans[n].Al = al;
			n++;
		}
	}
	c.err = jpeg_std_error(&jerr);
	jerr.error_exit = fx_jpeg_abort;
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &blen);
	c.image_width = (JDIMENSION) width;
	c.image_height = (JDIMENSION) height;
	c.input_components = 1;
	c.in_color_space = JCS_GRAYSCALE;
	jpeg_set_defaults(&c);
	c.scan_info = scans;
	c.num_scans = n;
	*n_scans = n;
	res = fx_jpeg_finish(&c, pixels, 1, &buf, &blen, len);
	free(pixels);
	return res;
}

/* ------------------------------------------------------------------------ */

void
fx_fill_pattern(sp_image *img, uint64_t seed, int noise)
{
	uint64_t	st = seed * 2654435761u + 1;

	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width; x++)
			for (int c = 0; c < img->channels; c++)
			{
				double		fx = (double) x / img->width,
							fy = (double) y / img->height;
				double		v = 128 + 70 * sin(6.0 * fx + 2.0 * c) * cos(4.0 * fy - c)
					+ 40 * sin(15.0 * (fx + fy));
				int			n = noise ? (int) (fx_rand(&st) % (2 * noise + 1)) - noise : 0;
				int			iv = (int) v + n;

				img->pixels[((size_t) y * img->width + x) * img->channels + c] =
					(uint8_t) (iv < 0 ? 0 : iv > 255 ? 255 : iv);
			}
}

double
fx_mean_abs_diff(const sp_image *a, const sp_image *b)
{
	size_t		n = (size_t) a->width * a->height * a->channels;
	double		s = 0;

	for (size_t i = 0; i < n; i++)
		s += abs((int) a->pixels[i] - (int) b->pixels[i]);
	return n ? s / (double) n : 0;
}

int
fx_count_rgb(const sp_image *img, sp_rgb col)
{
	int			n = 0;

	for (int i = 0; i < img->width * img->height; i++)
		n += img->pixels[3 * i] == col.r && img->pixels[3 * i + 1] == col.g &&
			img->pixels[3 * i + 2] == col.b;
	return n;
}

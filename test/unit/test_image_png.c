/*
 * test_image_png.c: PNG decoding of every colour type and bit depth (checked
 * pixel by pixel against the rules in image.h), probing, the PNG encoder and
 * lossless round trips, plus the shared container helpers in image.c.
 */
#include "unit.h"
#include "img_fixtures.h"

#include <png.h>
#include <stdlib.h>

static int
png_stored_channels(int color_type)
{
	switch (color_type)
	{
		case PNG_COLOR_TYPE_GRAY:
		case PNG_COLOR_TYPE_PALETTE:
			return 1;
		case PNG_COLOR_TYPE_GRAY_ALPHA:
			return 2;
		case PNG_COLOR_TYPE_RGB:
			return 3;
		default:
			return 4;
	}
}

/* The documented sample rules, written independently of the decoder. */
static unsigned
to8(unsigned v, int depth)
{
	if (depth == 16)
		return (v + 128) / 257;
	return v * 255 / ((1u << depth) - 1);
}

static unsigned
over_black(unsigned c, unsigned a)
{
	return (c * a + 127) / 255;
}

static void
expected_pixels(const fx_png_spec *s, uint8_t *exp)
{
	int			sc = png_stored_channels(s->color_type);

	for (int i = 0; i < s->width * s->height; i++)
	{
		const uint16_t *p = s->samples + (size_t) i * sc;

		switch (s->color_type)
		{
			case PNG_COLOR_TYPE_GRAY:
				{
					unsigned	a = (s->has_trns_color && p[0] == s->trns_color[0]) ? 0 : 255;

					exp[i] = (uint8_t) over_black(to8(p[0], s->bit_depth), a);
					break;
				}
			case PNG_COLOR_TYPE_GRAY_ALPHA:
				exp[i] = (uint8_t) over_black(to8(p[0], s->bit_depth), to8(p[1], s->bit_depth));
				break;
			case PNG_COLOR_TYPE_PALETTE:
				{
					unsigned	a = p[0] < s->n_trns ? s->trns[p[0]] : 255;

					for (int c = 0; c < 3; c++)
						exp[3 * i + c] = (uint8_t) over_black(s->palette[3 * p[0] + c], a);
					break;
				}
			case PNG_COLOR_TYPE_RGB:
				{
					unsigned	a = (s->has_trns_color && p[0] == s->trns_color[0] &&
									 p[1] == s->trns_color[1] && p[2] == s->trns_color[2]) ? 0 : 255;

					for (int c = 0; c < 3; c++)
						exp[3 * i + c] = (uint8_t) over_black(to8(p[c], s->bit_depth), a);
					break;
				}
			default:
				for (int c = 0; c < 3; c++)
					exp[3 * i + c] = (uint8_t) over_black(to8(p[c], s->bit_depth),
														  to8(p[3], s->bit_depth));
				break;
		}
	}
}

typedef struct
{
	int			color_type;
	int			depth;
	int			trns;			/* palette: tRNS entries; gray/rgb: transparent colour */
} png_case;

static const png_case cases[] = {
	{PNG_COLOR_TYPE_GRAY, 1, 0}, {PNG_COLOR_TYPE_GRAY, 2, 0}, {PNG_COLOR_TYPE_GRAY, 4, 0},
	{PNG_COLOR_TYPE_GRAY, 8, 0}, {PNG_COLOR_TYPE_GRAY, 16, 0},
	{PNG_COLOR_TYPE_GRAY, 2, 1}, {PNG_COLOR_TYPE_GRAY, 8, 1}, {PNG_COLOR_TYPE_GRAY, 16, 1},
	{PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0}, {PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0},
	{PNG_COLOR_TYPE_PALETTE, 1, 0}, {PNG_COLOR_TYPE_PALETTE, 2, 0},
	{PNG_COLOR_TYPE_PALETTE, 4, 0}, {PNG_COLOR_TYPE_PALETTE, 8, 0},
	{PNG_COLOR_TYPE_PALETTE, 1, 1}, {PNG_COLOR_TYPE_PALETTE, 2, 1},
	{PNG_COLOR_TYPE_PALETTE, 4, 1}, {PNG_COLOR_TYPE_PALETTE, 8, 1},
	{PNG_COLOR_TYPE_RGB, 8, 0}, {PNG_COLOR_TYPE_RGB, 16, 0},
	{PNG_COLOR_TYPE_RGB, 8, 1}, {PNG_COLOR_TYPE_RGB, 16, 1},
	{PNG_COLOR_TYPE_RGB_ALPHA, 8, 0}, {PNG_COLOR_TYPE_RGB_ALPHA, 16, 0},
};

static const char *
model_of(int color_type)
{
	switch (color_type)
	{
		case PNG_COLOR_TYPE_GRAY:
			return "gray";
		case PNG_COLOR_TYPE_GRAY_ALPHA:
			return "gray+alpha";
		case PNG_COLOR_TYPE_PALETTE:
			return "palette";
		case PNG_COLOR_TYPE_RGB:
			return "rgb";
		default:
			return "rgba";
	}
}

/* Every colour type x bit depth x tRNS x interlace, pixel-exact. */
SP_TEST(png_every_color_type_and_depth)
{
	const int	w = 13,
				h = 11;			/* odd sizes exercise bit packing and Adam7 edges */
	uint64_t	rng = 12345;

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++)
	{
		for (int interlace = 0; interlace <= 1; interlace++)
		{
			const png_case *pc = &cases[ci];
			int			sc = png_stored_channels(pc->color_type);
			int			oc = (pc->color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
			unsigned	maxv = (1u << pc->depth) - 1;
			uint16_t   *samples = malloc(sizeof(uint16_t) * w * h * sc);
			uint8_t		palette[256 * 3],
						trns[256],
					   *exp = malloc((size_t) w * h * oc);
			fx_png_spec spec = {0};
			uint8_t    *png;
			size_t		len;
			fx_env		fx;
			sp_image	img;
			sp_image_info info;
			sp_error	err;
			sp_status	st;

			REQUIRE(samples && exp);
			for (int i = 0; i < 256 * 3; i++)
				palette[i] = (uint8_t) (fx_rand(&rng) & 0xFF);
			for (int i = 0; i < 256; i++)
				trns[i] = (uint8_t) (i % 3 == 0 ? 0 : i % 3 == 1 ? 255 : fx_rand(&rng) & 0xFF);
			for (int i = 0; i < w * h * sc; i++)
			{
				/* Include the extremes and repeated values (tRNS colour hits). */
				unsigned	v = (unsigned) (fx_rand(&rng) & 0xFFFF);

				if (i % 7 == 0)
					v = 0;
				else if (i % 7 == 1)
					v = 0xFFFF;
				samples[i] = (uint16_t) (v & maxv);
			}
			spec.width = w;
			spec.height = h;
			spec.color_type = pc->color_type;
			spec.bit_depth = pc->depth;
			spec.interlace = interlace;
			spec.samples = samples;
			spec.compression = -1;
			if (pc->color_type == PNG_COLOR_TYPE_PALETTE)
			{
				spec.palette = palette;
				spec.n_palette = 1 << pc->depth;
				if (pc->trns)
				{
					spec.trns = trns;
					spec.n_trns = spec.n_palette > 2 ? spec.n_palette - 1 : 1;	/* last entries opaque */
				}
			}
			else if (pc->trns)
			{
				spec.has_trns_color = 1;
				/* gray: the maximum (pixel 1); rgb: pixel 0, never all-black */
				if (pc->color_type == PNG_COLOR_TYPE_GRAY)
					spec.trns_color[0] = samples[1];
				else
					for (int c = 0; c < 3; c++)
						spec.trns_color[c] = samples[c];
			}
			png = fx_png_write(&spec, &len);
			expected_pixels(&spec, exp);

			fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
			st = sp_image_decode(&fx.env, png, len, &img, &err);
			CHECK_MSG(st == SP_OK, "type %d depth %d trns %d interlace %d: %s / %s",
					  pc->color_type, pc->depth, pc->trns, interlace, err.message, err.detail);
			if (st == SP_OK)
			{
				CHECK_EQ_INT(img.width, w);
				CHECK_EQ_INT(img.height, h);
				CHECK_EQ_INT(img.channels, oc);
				CHECK_MSG(memcmp(img.pixels, exp, (size_t) w * h * oc) == 0,
						  "pixels differ: type %d depth %d trns %d interlace %d",
						  pc->color_type, pc->depth, pc->trns, interlace);
				sp_image_free(&fx.env, &img);
			}
			CHECK_EQ_INT(fx.live, 0);

			st = sp_image_probe(png, len, &info, &err);
			CHECK(st == SP_OK);
			CHECK(info.format == SP_FORMAT_PNG);
			CHECK_EQ_INT(info.width, w);
			CHECK_EQ_INT(info.height, h);
			CHECK_EQ_INT(info.channels, sc);
			CHECK_EQ_INT(info.bit_depth, pc->depth);
			CHECK_EQ_INT(info.interlaced, interlace);
			CHECK(strcmp(info.color_model, model_of(pc->color_type)) == 0);

			free(png);
			free(samples);
			free(exp);
		}
	}
}

/* Named values for the 16->8 rule: round(v / 257). */
SP_TEST(png_16bit_reduction_rule)
{
	static const uint16_t in[] = {0, 128, 129, 257, 385, 386, 32896, 65406, 65407, 65535};
	static const uint8_t want[] = {0, 0, 1, 1, 1, 2, 128, 254, 255, 255};
	fx_png_spec spec = {0};
	uint8_t    *png;
	size_t		len;
	sp_image	img;
	sp_error	err;

	spec.width = 10;
	spec.height = 1;
	spec.color_type = PNG_COLOR_TYPE_GRAY;
	spec.bit_depth = 16;
	spec.samples = in;
	spec.compression = -1;
	png = fx_png_write(&spec, &len);
	REQUIRE(sp_image_decode(NULL, png, len, &img, &err) == SP_OK);
	CHECK(memcmp(img.pixels, want, 10) == 0);
	sp_image_free(NULL, &img);
	free(png);
}

/* Named values for alpha compositing onto black: round(c * a / 255). */
SP_TEST(png_alpha_composite_rule)
{
	/* gray, alpha pairs */
	static const uint16_t in[] = {200, 255, 200, 0, 200, 128, 255, 1, 100, 254, 3, 127};
	static const uint8_t want[] = {200, 0, 100, 1, 100, 1};
	/* RGBA: 16-bit colour and alpha are reduced first, then composited */
	static const uint16_t in16[] = {65535, 32896, 0, 32896, 1000, 2000, 3000, 65535};
	static const uint8_t want16[] = {128, 64, 0, 4, 8, 12};
	fx_png_spec spec = {0};
	uint8_t    *png;
	size_t		len;
	sp_image	img;
	sp_error	err;

	spec.width = 6;
	spec.height = 1;
	spec.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
	spec.bit_depth = 8;
	spec.samples = in;
	spec.compression = -1;
	png = fx_png_write(&spec, &len);
	REQUIRE(sp_image_decode(NULL, png, len, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.channels, 1);
	CHECK(memcmp(img.pixels, want, 6) == 0);
	sp_image_free(NULL, &img);
	free(png);

	spec.width = 2;
	spec.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
	spec.bit_depth = 16;
	spec.samples = in16;
	png = fx_png_write(&spec, &len);
	REQUIRE(sp_image_decode(NULL, png, len, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.channels, 3);
	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT(img.pixels[i], want16[i]);
	sp_image_free(NULL, &img);
	free(png);
}

/* Encode -> decode is lossless; encoding is deterministic. */
SP_TEST(png_roundtrip_lossless)
{
	static const int sizes[][3] = {{28, 28, 1}, {1, 1, 1}, {37, 5, 3}, {224, 224, 3}, {3, 200, 1}};

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
	{
		fx_env		fx;
		sp_image	src,
					back;
		sp_error	err;
		uint8_t    *a,
				   *b;
		size_t		alen,
					blen;
		sp_image_info info;

		fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
		REQUIRE(sp_image_alloc(&fx.env, &src, sizes[k][0], sizes[k][1], sizes[k][2], &err) == SP_OK);
		fx_fill_pattern(&src, k + 1, 20);
		REQUIRE(sp_png_encode(&fx.env, &src, &a, &alen, &err) == SP_OK);
		REQUIRE(sp_png_encode(&fx.env, &src, &b, &blen, &err) == SP_OK);
		CHECK(alen == blen && memcmp(a, b, alen) == 0);
		CHECK(sp_image_detect_format(a, alen) == SP_FORMAT_PNG);
		REQUIRE(sp_image_probe(a, alen, &info, &err) == SP_OK);
		CHECK_EQ_INT(info.bit_depth, 8);
		CHECK(strcmp(info.color_model, sizes[k][2] == 1 ? "gray" : "rgb") == 0);
		REQUIRE(sp_image_decode(&fx.env, a, alen, &back, &err) == SP_OK);
		CHECK_EQ_INT(back.width, src.width);
		CHECK_EQ_INT(back.height, src.height);
		CHECK_EQ_INT(back.channels, src.channels);
		CHECK(memcmp(back.pixels, src.pixels, (size_t) src.width * src.height * src.channels) == 0);
		sp_image_free(&fx.env, &back);
		sp_image_free(&fx.env, &src);
		sp_free(&fx.env, a);
		sp_free(&fx.env, b);
		CHECK_EQ_INT(fx.live, 0);
	}
}

SP_TEST(png_encode_rejects_bad_images)
{
	uint8_t		px[16] = {0};
	sp_image	img = {2, 2, 2, px};
	uint8_t    *out = NULL;
	size_t		len = 0;
	sp_error	err;

	CHECK(sp_png_encode(NULL, &img, &out, &len, &err) == SP_ERR_INVALID_ARG);
	img.channels = 4;
	CHECK(sp_png_encode(NULL, &img, &out, &len, &err) == SP_ERR_INVALID_ARG);
	img.channels = 1;
	img.pixels = NULL;
	CHECK(sp_png_encode(NULL, &img, &out, &len, &err) == SP_ERR_INVALID_ARG);
	img.pixels = px;
	img.width = 0;
	CHECK(sp_png_encode(NULL, &img, &out, &len, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_png_encode(NULL, NULL, &out, &len, &err) == SP_ERR_INVALID_ARG);
	CHECK(out == NULL);
}

SP_TEST(image_detect_format)
{
	static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0};
	static const uint8_t jpg[] = {0xFF, 0xD8, 0xFF, 0xE0};

	CHECK(sp_image_detect_format(png, sizeof(png)) == SP_FORMAT_PNG);
	CHECK(sp_image_detect_format(png, 7) == SP_FORMAT_UNKNOWN);
	CHECK(sp_image_detect_format(jpg, sizeof(jpg)) == SP_FORMAT_JPEG);
	CHECK(sp_image_detect_format(jpg, 2) == SP_FORMAT_UNKNOWN);
	CHECK(sp_image_detect_format(NULL, 10) == SP_FORMAT_UNKNOWN);
	CHECK(strcmp(sp_image_format_name(SP_FORMAT_PNG), "png") == 0);
	CHECK(strcmp(sp_image_format_name(SP_FORMAT_JPEG), "jpeg") == 0);
	CHECK(strcmp(sp_image_format_name(SP_FORMAT_UNKNOWN), "unknown") == 0);
}

SP_TEST(image_check_dims_and_alloc)
{
	fx_env		fx;
	sp_error	err;
	sp_image	img;

	fx_env_init(&fx, 1000);
	CHECK(sp_image_check_dims(&fx.env, 10, 100, 3, &err) == SP_OK);
	CHECK(sp_image_check_dims(&fx.env, 10, 101, 3, &err) == SP_ERR_LIMIT);
	CHECK(strcmp(err.message, "image of 10x101 pixels exceeds the limit of 1000 pixels") == 0);
	CHECK(strstr(err.hint, "siamese.image.max_pixels") != NULL);
	CHECK(sp_image_check_dims(&fx.env, 0, 10, 1, &err) == SP_ERR_CORRUPT);
	CHECK(sp_image_check_dims(&fx.env, 10, 0, 1, &err) == SP_ERR_CORRUPT);
	CHECK(sp_image_check_dims(&fx.env, 1, 1, 0, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_image_check_dims(&fx.env, 1, 1, 5, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_image_check_dims(&fx.env, UINT64_MAX, UINT64_MAX, 4, &err) == SP_ERR_LIMIT);
	CHECK(strstr(err.message, "exceeds the limit of 1000") != NULL);
	fx.env.max_pixels = SP_HARD_MAX_PIXELS;
	CHECK(sp_image_check_dims(&fx.env, UINT64_MAX, UINT64_MAX, 4, &err) == SP_ERR_LIMIT);
	CHECK(strstr(err.message, "hard limit") != NULL);
	CHECK(err.hint[0] == '\0');
	fx.env.max_pixels = 1000;
	CHECK(sp_image_check_dims(&fx.env, (uint64_t) 1 << 32, (uint64_t) 1 << 32, 1, &err) == SP_ERR_LIMIT);

	/* max_pixels is capped by the hard limit; sides by SP_IMAGE_MAX_SIDE. */
	fx.env.max_pixels = UINT64_MAX;
	CHECK(sp_image_check_dims(&fx.env, 16384, 16384, 3, &err) == SP_OK);
	CHECK(sp_image_check_dims(&fx.env, 16384, 16385, 3, &err) == SP_ERR_LIMIT);
	CHECK(sp_image_check_dims(&fx.env, SP_IMAGE_MAX_SIDE + 1, 2, 3, &err) == SP_ERR_LIMIT);
	CHECK(strstr(err.message, "side length") != NULL);
	/* 0 means the default */
	fx.env.max_pixels = 0;
	CHECK(sp_image_check_dims(&fx.env, 4096, 4096, 1, &err) == SP_OK);
	CHECK(sp_image_check_dims(&fx.env, 4096, 4097, 1, &err) == SP_ERR_LIMIT);

	fx.env.max_pixels = 1000;
	CHECK(sp_image_alloc(&fx.env, &img, 100, 11, 1, &err) == SP_ERR_LIMIT);
	CHECK(img.pixels == NULL);
	CHECK_EQ_INT(fx.allocs, 0);
	CHECK(sp_image_alloc(&fx.env, &img, -1, 11, 1, &err) == SP_ERR_INVALID_ARG);
	REQUIRE(sp_image_alloc(&fx.env, &img, 10, 10, 4, &err) == SP_OK);
	CHECK_EQ_INT(fx.largest, 400);
	sp_image_free(&fx.env, &img);
	sp_image_free(&fx.env, &img);	/* idempotent */
	CHECK_EQ_INT(fx.live, 0);
	fx.fail_alloc_after = 0;
	CHECK(sp_image_alloc(&fx.env, &img, 10, 10, 1, &err) == SP_ERR_NOMEM);
}

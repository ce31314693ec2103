/*
 * test_image_hostile.c: bad input must give an error, never a crash or a
 * leak: empty and random data, truncation at every offset, flipped bytes,
 * bad CRCs, headers claiming huge sizes, PNG decompression bombs, JPEG
 * dimension and scan bombs, interrupts and allocation failures at every
 * point.  Env allocations are counted here; libpng/libjpeg's own ones are
 * checked by `make unit-valgrind`.
 */
#include "unit.h"
#include "img_fixtures.h"

#include <png.h>
#include <stdlib.h>
#include <zlib.h>

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

/* Append one PNG chunk with a correct CRC. */
static size_t
put_chunk(uint8_t *dst, const char *type, const uint8_t *data, uint32_t n)
{
	uLong		crc;

	put32(dst, n);
	memcpy(dst + 4, type, 4);
	if (n)
		memcpy(dst + 8, data, n);
	crc = crc32(0, dst + 4, 4 + n);
	put32(dst + 8 + n, (uint32_t) crc);
	return 12 + (size_t) n;
}

/*
 * A PNG of width x height 8-bit gray zeros, built without ever holding the
 * raw image: the zlib stream is one full-flushed block of `rows` zero rows
 * repeated (identical once deflate's history is reset), an empty final
 * block and the Adler-32 of all zeros, which is ((n mod 65521) << 16) | 1.
 * Returns malloc'd bytes.
 */
static uint8_t *
zero_png(uint32_t width, uint32_t height, size_t *len)
{
	const uint32_t rows = 50;
	size_t		chunk = (size_t) (width + 1) * rows;
	uint8_t    *zeros = calloc(chunk, 1);
	size_t		cap = 1 << 16;
	uint8_t    *blk[3];
	size_t		blen[3];
	z_stream	zs;
	uint64_t	n = (uint64_t) (width + 1) * height;
	uint8_t    *z,
			   *png;
	size_t		zlen = 0,
				pos = 0;
	uint8_t		ihdr[13];

	if (!zeros || height % rows != 0)
		abort();
	memset(&zs, 0, sizeof(zs));
	deflateInit(&zs, 9);
	for (int i = 0; i < 3; i++)
	{
		blk[i] = malloc(cap);
		zs.next_in = zeros;
		zs.avail_in = (uInt) chunk;
		zs.next_out = blk[i];
		zs.avail_out = (uInt) cap;
		if (deflate(&zs, Z_FULL_FLUSH) != Z_OK || zs.avail_in != 0 || zs.avail_out == 0)
			abort();
		blen[i] = cap - zs.avail_out;
	}
	deflateEnd(&zs);
	/* the repeated block must be position independent */
	if (blen[1] != blen[2] || memcmp(blk[1], blk[2], blen[1]) != 0)
		abort();

	z = malloc(blen[0] + blen[1] * (height / rows) + 16);
	memcpy(z, blk[0], blen[0]);
	zlen = blen[0];
	for (uint32_t i = 1; i < height / rows; i++)
	{
		memcpy(z + zlen, blk[1], blen[1]);
		zlen += blen[1];
	}
	z[zlen++] = 0x03;			/* final, fixed Huffman, end-of-block */
	z[zlen++] = 0x00;
	put32(z + zlen, (uint32_t) (((n % 65521) << 16) | 1));
	zlen += 4;

	png = malloc(zlen + 128);
	memcpy(png, "\x89PNG\r\n\x1a\n", 8);
	pos = 8;
	put32(ihdr, width);
	put32(ihdr + 4, height);
	ihdr[8] = 8;
	ihdr[9] = 0;
	ihdr[10] = ihdr[11] = ihdr[12] = 0;
	pos += put_chunk(png + pos, "IHDR", ihdr, 13);
	pos += put_chunk(png + pos, "IDAT", z, (uint32_t) zlen);
	pos += put_chunk(png + pos, "IEND", NULL, 0);
	*len = pos;
	for (int i = 0; i < 3; i++)
		free(blk[i]);
	free(z);
	free(zeros);
	return png;
}

static uint8_t *
small_png(int w, int h, int color_type, int interlace, size_t *len)
{
	int			ch = color_type == PNG_COLOR_TYPE_GRAY ? 1 : color_type == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 3;
	uint16_t   *s = malloc(sizeof(uint16_t) * w * h * ch);
	fx_png_spec spec = {0};
	uint64_t	rng = 99;
	uint8_t    *png;

	for (int i = 0; i < w * h * ch; i++)
		s[i] = (uint16_t) (fx_rand(&rng) & 0xFF);
	spec.width = w;
	spec.height = h;
	spec.color_type = color_type;
	spec.bit_depth = 8;
	spec.interlace = interlace;
	spec.samples = s;
	spec.compression = -1;
	png = fx_png_write(&spec, len);
	free(s);
	return png;
}

static uint8_t *
small_jpeg(int w, int h, int ch, int progressive, size_t *len)
{
	sp_image	img;
	sp_error	err;
	uint8_t    *out;

	if (sp_image_alloc(NULL, &img, w, h, ch, &err) != SP_OK)
		abort();
	fx_fill_pattern(&img, 11, 30);
	if (sp_jpeg_encode(NULL, &img, 75, progressive, &out, len, &err) != SP_OK)
		abort();
	sp_image_free(NULL, &img);
	return out;
}

/* Decode and probe; the result may be anything except a leak. */
static sp_status
try_decode(fx_env *fx, const uint8_t *data, size_t len, sp_error *err)
{
	sp_image	img;
	sp_image_info info;
	sp_status	st = sp_image_decode(&fx->env, data, len, &img, err);

	if (st == SP_OK)
		sp_image_free(&fx->env, &img);
	else if (img.pixels != NULL)
		return SP_ERR_INTERNAL;	/* outputs must be cleared on failure */
	(void) sp_image_probe(data, len, &info, NULL);
	return st;
}

SP_TEST(hostile_empty_and_unknown)
{
	static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00";
	static const uint8_t junk[] = "hello, world";
	sp_image	img;
	sp_image_info info;
	sp_error	err;

	CHECK(sp_image_decode(NULL, NULL, 0, &img, &err) == SP_ERR_CORRUPT);
	CHECK(strcmp(err.message, "image data is empty") == 0);
	CHECK(sp_image_decode(NULL, junk, 0, &img, &err) == SP_ERR_CORRUPT);
	CHECK(sp_image_probe(junk, 0, &info, &err) == SP_ERR_CORRUPT);
	CHECK(sp_image_decode(NULL, junk, sizeof(junk), &img, &err) == SP_ERR_CORRUPT);
	CHECK(strcmp(err.message, "unrecognized image format") == 0);
	CHECK(err.detail[0] != '\0');
	CHECK(sp_image_decode(NULL, gif, sizeof(gif), &img, &err) == SP_ERR_UNSUPPORTED);
	CHECK(strcmp(err.message, "GIF images are not supported") == 0);
	CHECK(sp_image_probe(gif, sizeof(gif), &info, &err) == SP_ERR_UNSUPPORTED);
	CHECK(info.format == SP_FORMAT_UNKNOWN);
	/* Direct calls to the per-format entry points with the wrong data. */
	CHECK(sp_png_decode(NULL, junk, sizeof(junk), &img, &err) == SP_ERR_CORRUPT);
	CHECK(strcmp(err.message, "invalid PNG image") == 0);
	CHECK(sp_jpeg_decode(NULL, junk, sizeof(junk), &img, &err) == SP_ERR_CORRUPT);
	CHECK(strcmp(err.message, "invalid JPEG image") == 0);
	CHECK(strncmp(err.detail, "libjpeg: ", 9) == 0);
	CHECK(sp_png_probe(NULL, 0, &info, &err) == SP_ERR_CORRUPT);
	CHECK(sp_jpeg_probe(NULL, 0, &info, &err) == SP_ERR_CORRUPT);
	CHECK(sp_image_decode(NULL, junk, sizeof(junk), NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_image_probe(junk, sizeof(junk), NULL, &err) == SP_ERR_INVALID_ARG);
	/* err may be NULL */
	CHECK(sp_image_decode(NULL, junk, sizeof(junk), &img, NULL) == SP_ERR_CORRUPT);
}

SP_TEST(hostile_random_bytes)
{
	uint64_t	rng = 2024;
	uint8_t		buf[600];
	fx_env		fx;

	fx_env_init(&fx, 1 << 16);
	for (int iter = 0; iter < 3000; iter++)
	{
		size_t		len = (size_t) (fx_rand(&rng) % sizeof(buf));
		sp_error	err;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t) fx_rand(&rng);
		/* Give two thirds of them a real signature so the codecs run. */
		if (iter % 3 == 1 && len >= 8)
			memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
		else if (iter % 3 == 2 && len >= 3)
			memcpy(buf, "\xFF\xD8\xFF", 3);
		CHECK(try_decode(&fx, buf, len, &err) != SP_OK);
		CHECK(err.message[0] != '\0');
	}
	CHECK_EQ_INT(fx.live, 0);
}

/* Every proper prefix of a valid file is an error, with nothing leaked. */
static void
truncate_everywhere(int *sp_failed__, const uint8_t *data, size_t len, const char *what)
{
	fx_env		fx;
	sp_error	err;

	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	CHECK_MSG(try_decode(&fx, data, len, &err) == SP_OK, "%s: full file fails: %s", what, err.message);
	for (size_t cut = 0; cut < len; cut++)
	{
		uint8_t    *copy = malloc(cut ? cut : 1);	/* exact size so valgrind sees overreads */
		sp_status	st;

		memcpy(copy, data, cut);
		st = try_decode(&fx, copy, cut, &err);
		CHECK_MSG(st == SP_ERR_CORRUPT, "%s cut at %zu of %zu: status %d (%s)", what, cut, len,
				  (int) st, err.message);
		free(copy);
	}
	CHECK_EQ_INT(fx.live, 0);
}

SP_TEST(hostile_truncation_every_offset)
{
	uint8_t    *d;
	size_t		len;

	d = small_png(8, 8, PNG_COLOR_TYPE_GRAY, 0, &len);
	truncate_everywhere(sp_failed__, d, len, "png gray");
	free(d);
	d = small_png(9, 9, PNG_COLOR_TYPE_RGB_ALPHA, 1, &len);
	truncate_everywhere(sp_failed__, d, len, "png rgba interlaced");
	free(d);
	d = small_jpeg(16, 16, 3, 0, &len);
	truncate_everywhere(sp_failed__, d, len, "jpeg baseline");
	sp_free(NULL, d);
	d = small_jpeg(16, 8, 1, 1, &len);
	truncate_everywhere(sp_failed__, d, len, "jpeg progressive gray");
	sp_free(NULL, d);
}

SP_TEST(hostile_flipped_bytes)
{
	fx_env		fx;
	uint8_t    *png,
			   *jpg;
	size_t		plen,
				jlen;

	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	png = small_png(7, 5, PNG_COLOR_TYPE_RGB, 1, &plen);
	for (size_t i = 0; i < plen; i++)
	{
		for (int bit = 0; bit < 8; bit += 3)
		{
			sp_error	err;
			uint8_t    *copy = malloc(plen);

			memcpy(copy, png, plen);
			copy[i] ^= (uint8_t) (1 << bit);
			/* Every PNG byte is covered by the signature, a length or a CRC. */
			CHECK_MSG(try_decode(&fx, copy, plen, &err) != SP_OK, "png flip at %zu bit %d", i, bit);
			free(copy);
		}
	}
	jpg = small_jpeg(24, 16, 3, 1, &jlen);
	for (size_t i = 0; i < jlen; i++)
	{
		sp_error	err;
		uint8_t    *copy = malloc(jlen);

		memcpy(copy, jpg, jlen);
		copy[i] ^= 0x5A;
		/* JPEG has no checksum: corrupted entropy data may still decode. */
		(void) try_decode(&fx, copy, jlen, &err);
		free(copy);
	}
	CHECK_EQ_INT(fx.live, 0);
	free(png);
	sp_free(NULL, jpg);
}

SP_TEST(hostile_png_bad_crc_message)
{
	uint8_t    *png;
	size_t		len;
	sp_image	img;
	sp_error	err;
	sp_image_info info;

	png = small_png(4, 4, PNG_COLOR_TYPE_GRAY, 0, &len);
	png[8 + 8 + 13 + 2] ^= 0x40;	/* inside IHDR's CRC */
	CHECK(sp_image_decode(NULL, png, len, &img, &err) == SP_ERR_CORRUPT);
	CHECK(strcmp(err.message, "invalid PNG image") == 0);
	CHECK_MSG(strcmp(err.detail, "libpng: IHDR: CRC error.") == 0, "%s", err.detail);
	CHECK(sp_image_probe(png, len, &info, &err) == SP_ERR_CORRUPT);
	free(png);

	/* Corrupt the last byte of the IDAT CRC: caught by reading to IEND. */
	png = small_png(4, 4, PNG_COLOR_TYPE_GRAY, 0, &len);
	png[len - 12 - 1] ^= 0x01;
	CHECK(sp_image_decode(NULL, png, len, &img, &err) == SP_ERR_CORRUPT);
	CHECK_MSG(strstr(err.detail, "CRC") != NULL, "%s", err.detail);
	/* ...but the header is still fine for image_info */
	CHECK(sp_image_probe(png, len, &info, &err) == SP_OK);
	free(png);
}

SP_TEST(hostile_png_huge_header)
{
	uint8_t		png[128];
	uint8_t		ihdr[13] = {0};
	size_t		pos = 8;
	fx_env		fx;
	sp_image	img;
	sp_image_info info;
	sp_error	err;

	memcpy(png, "\x89PNG\r\n\x1a\n", 8);
	put32(ihdr, 100000);
	put32(ihdr + 4, 100000);
	ihdr[8] = 8;
	ihdr[9] = 2;
	pos += put_chunk(png + pos, "IHDR", ihdr, 13);
	pos += put_chunk(png + pos, "IDAT", (const uint8_t *) "\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
	pos += put_chunk(png + pos, "IEND", NULL, 0);

	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	CHECK(sp_image_decode(&fx.env, png, pos, &img, &err) == SP_ERR_LIMIT);
	CHECK_MSG(strcmp(err.message, "image of 100000x100000 pixels exceeds the limit of 16777216 pixels") == 0,
			  "%s", err.message);
	CHECK(strstr(err.hint, "siamese.image.max_pixels") != NULL);
	CHECK_EQ_INT(fx.allocs, 0);
	/* Raising max_pixels cannot pass the hard limit. */
	fx.env.max_pixels = UINT64_MAX;
	CHECK(sp_image_decode(&fx.env, png, pos, &img, &err) == SP_ERR_LIMIT);
	CHECK(strstr(err.message, "hard limit") != NULL);
	CHECK_EQ_INT(fx.allocs, 0);
	/* The header alone is readable. */
	REQUIRE(sp_image_probe(png, pos, &info, &err) == SP_OK);
	CHECK_EQ_INT(info.width, 100000);
	CHECK_EQ_INT(info.height, 100000);
	CHECK_EQ_INT(info.channels, 3);
	CHECK(strcmp(info.color_model, "rgb") == 0);

	/* Width above 2^31: invalid PNG, not a limit. */
	put32(png + 16, 0x80000000u);
	put32(png + 29, (uint32_t) crc32(0, png + 12, 17));
	CHECK(sp_image_probe(png, pos, &info, &err) == SP_ERR_CORRUPT);
	CHECK(sp_image_decode(&fx.env, png, pos, &img, &err) != SP_OK);
	/* Zero width */
	put32(png + 16, 0);
	put32(png + 29, (uint32_t) crc32(0, png + 12, 17));
	CHECK(sp_image_decode(&fx.env, png, pos, &img, &err) == SP_ERR_CORRUPT);
	CHECK_EQ_INT(fx.live, 0);
}

SP_TEST(hostile_png_bomb)
{
	uint8_t    *png;
	size_t		len;
	fx_env		fx;
	sp_image	img;
	sp_error	err;
	size_t		zeros = 0;

	/* 20000 x 20000 zeros: a 400 MB image in a few hundred KB. */
	png = zero_png(20000, 20000, &len);
	CHECK_MSG(len < 1000000, "bomb is %zu bytes", len);
	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	CHECK(sp_image_decode(&fx.env, png, len, &img, &err) == SP_ERR_LIMIT);
	CHECK_EQ_INT(fx.allocs, 0);
	fx.env.max_pixels = SP_HARD_MAX_PIXELS;
	CHECK(sp_image_decode(&fx.env, png, len, &img, &err) == SP_ERR_LIMIT);
	CHECK_EQ_INT(fx.allocs, 0);
	free(png);

	/* 3000 x 3000 (9 Mpx): rejected under a 4 Mpx limit, decoded under the default. */
	png = zero_png(3000, 3000, &len);
	fx_env_init(&fx, 4000000);
	CHECK(sp_image_decode(&fx.env, png, len, &img, &err) == SP_ERR_LIMIT);
	CHECK_EQ_INT(fx.allocs, 0);
	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	REQUIRE(sp_image_decode(&fx.env, png, len, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.width, 3000);
	CHECK_EQ_INT(img.channels, 1);
	for (size_t i = 0; i < (size_t) 3000 * 3000; i++)
		zeros += img.pixels[i] == 0;
	CHECK_EQ_INT(zeros, (size_t) 3000 * 3000);
	/* Nothing bigger than the image itself was requested from env. */
	CHECK_EQ_INT(fx.largest, (size_t) 3000 * 3000);
	sp_image_free(&fx.env, &img);
	CHECK_EQ_INT(fx.live, 0);
	free(png);
}

/* Find a JPEG SOFn marker (C0..CF except C4, C8, CC). */
static size_t
find_sof(const uint8_t *d, size_t len)
{
	for (size_t i = 2; i + 9 < len; i++)
		if (d[i] == 0xFF && d[i + 1] >= 0xC0 && d[i + 1] <= 0xCF &&
			d[i + 1] != 0xC4 && d[i + 1] != 0xC8 && d[i + 1] != 0xCC)
			return i;
	return 0;
}

SP_TEST(hostile_jpeg_absurd_dimensions)
{
	uint8_t    *jpg;
	size_t		len,
				sof;
	fx_env		fx;
	sp_image	img;
	sp_image_info info;
	sp_error	err;

	jpg = small_jpeg(16, 16, 3, 0, &len);
	sof = find_sof(jpg, len);
	REQUIRE(sof > 0);
	/* height at +5, width at +7 (big-endian 16-bit) */
	jpg[sof + 5] = 0xFD;
	jpg[sof + 6] = 0xE8;		/* 65000 */
	jpg[sof + 7] = 0xFD;
	jpg[sof + 8] = 0xE8;
	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	CHECK(sp_image_decode(&fx.env, jpg, len, &img, &err) == SP_ERR_LIMIT);
	CHECK_MSG(strcmp(err.message, "image of 65000x65000 pixels exceeds the limit of 16777216 pixels") == 0,
			  "%s", err.message);
	CHECK_EQ_INT(fx.allocs, 0);
	REQUIRE(sp_image_probe(jpg, len, &info, &err) == SP_OK);
	CHECK_EQ_INT(info.width, 65000);

	/* 8000 x 8000: under the hard limit, over the default one. */
	jpg[sof + 5] = 0x1F;
	jpg[sof + 6] = 0x40;
	jpg[sof + 7] = 0x1F;
	jpg[sof + 8] = 0x40;
	CHECK(sp_image_decode(&fx.env, jpg, len, &img, &err) == SP_ERR_LIMIT);
	CHECK(strstr(err.message, "exceeds the limit of 16777216 pixels") != NULL);
	CHECK_EQ_INT(fx.allocs, 0);

	/* 65535 is above libjpeg's own maximum */
	jpg[sof + 5] = 0xFF;
	jpg[sof + 6] = 0xFF;
	CHECK(sp_image_decode(&fx.env, jpg, len, &img, &err) == SP_ERR_LIMIT);
	CHECK(sp_image_probe(jpg, len, &info, &err) == SP_ERR_LIMIT);

	/* zero height (DNL) is not supported */
	jpg[sof + 5] = 0;
	jpg[sof + 6] = 0;
	CHECK(sp_image_decode(&fx.env, jpg, len, &img, &err) != SP_OK);
	CHECK_EQ_INT(fx.live, 0);
	sp_free(NULL, jpg);
}

SP_TEST(hostile_jpeg_scan_bomb)
{
	uint8_t    *jpg;
	size_t		len;
	int			scans;
	fx_env		fx;
	sp_image	img;
	sp_image_info info;
	sp_error	err;

	jpg = fx_jpeg_write_many_scans(32, 32, &len, &scans);
	CHECK(scans > SP_JPEG_MAX_SCANS);
	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	CHECK(sp_image_decode(&fx.env, jpg, len, &img, &err) == SP_ERR_LIMIT);
	CHECK_MSG(strstr(err.detail, "scans") != NULL, "%s", err.detail);
	CHECK(sp_image_probe(jpg, len, &info, &err) == SP_OK);
	CHECK_EQ_INT(info.interlaced, 1);
	CHECK_EQ_INT(fx.live, 0);
	free(jpg);
}

/*
 * Run op once to count interrupt polls, then interrupt at every poll: each
 * must unwind with SP_ERR_INTERRUPTED and nothing leaked.
 */
typedef sp_status (*codec_op) (const sp_env *env, const void *arg, sp_error *err);

static sp_status
op_decode(const sp_env *env, const void *arg, sp_error *err)
{
	const uint8_t *const *blob = arg;
	size_t		len = (size_t) (uintptr_t) blob[1];
	sp_image	img;
	sp_status	st = sp_image_decode(env, blob[0], len, &img, err);

	if (st == SP_OK)
		sp_image_free(env, &img);
	return st;
}

static sp_status
op_png_encode(const sp_env *env, const void *arg, sp_error *err)
{
	uint8_t    *out;
	size_t		len;
	sp_status	st = sp_png_encode(env, arg, &out, &len, err);

	if (st == SP_OK)
		sp_free(env, out);
	return st;
}

static sp_status
op_jpeg_encode(const sp_env *env, const void *arg, sp_error *err)
{
	uint8_t    *out;
	size_t		len;
	sp_status	st = sp_jpeg_encode(env, arg, 90, 1, &out, &len, err);

	if (st == SP_OK)
		sp_free(env, out);
	return st;
}

static void
interrupt_everywhere(int *sp_failed__, codec_op op, const void *arg, const char *what)
{
	fx_env		fx;
	sp_error	err;
	long		polls;

	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	REQUIRE(op(&fx.env, arg, &err) == SP_OK);
	polls = fx.polls;
	CHECK_MSG(polls >= 2, "%s polls only %ld times", what, polls);
	for (long k = 0; k < polls; k++)
	{
		sp_status	st;

		fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
		fx.interrupt_after = k;
		st = op(&fx.env, arg, &err);
		CHECK_MSG(st == SP_ERR_INTERRUPTED, "%s interrupted at poll %ld: status %d", what, k, (int) st);
		CHECK(strstr(err.message, "interrupted") != NULL);
		CHECK_EQ_INT(fx.live, 0);
	}

	/* Allocation failure at every env allocation. */
	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	REQUIRE(op(&fx.env, arg, &err) == SP_OK);
	for (long k = 0, n = fx.allocs; k < n; k++)
	{
		sp_status	st;

		fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
		fx.fail_alloc_after = k;
		st = op(&fx.env, arg, &err);
		CHECK_MSG(st == SP_ERR_NOMEM, "%s alloc %ld fails: status %d", what, k, (int) st);
		CHECK_EQ_INT(fx.live, 0);
	}
}

SP_TEST(hostile_interrupts_and_oom)
{
	sp_image	img;
	sp_error	err;
	uint8_t    *d;
	size_t		len;
	const void *blob[2];

	d = small_png(40, 64, PNG_COLOR_TYPE_RGB, 0, &len);
	blob[0] = d;
	blob[1] = (const void *) (uintptr_t) len;
	interrupt_everywhere(sp_failed__, op_decode, blob, "png decode");
	free(d);
	d = small_png(40, 64, PNG_COLOR_TYPE_GRAY, 1, &len);
	blob[0] = d;
	blob[1] = (const void *) (uintptr_t) len;
	interrupt_everywhere(sp_failed__, op_decode, blob, "png interlaced decode");
	free(d);
	d = small_jpeg(40, 64, 3, 0, &len);
	blob[0] = d;
	blob[1] = (const void *) (uintptr_t) len;
	interrupt_everywhere(sp_failed__, op_decode, blob, "jpeg decode");
	sp_free(NULL, d);
	d = small_jpeg(40, 64, 3, 1, &len);
	blob[0] = d;
	blob[1] = (const void *) (uintptr_t) len;
	interrupt_everywhere(sp_failed__, op_decode, blob, "jpeg progressive decode");
	sp_free(NULL, d);

	REQUIRE(sp_image_alloc(NULL, &img, 40, 64, 3, &err) == SP_OK);
	fx_fill_pattern(&img, 1, 50);
	interrupt_everywhere(sp_failed__, op_png_encode, &img, "png encode");
	interrupt_everywhere(sp_failed__, op_jpeg_encode, &img, "jpeg encode");
	sp_image_free(NULL, &img);
}

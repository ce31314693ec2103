/*
 * test_image_exif.c: JPEG EXIF orientation.  The parser on crafted APP1
 * payloads (both byte orders, SHORT and LONG, out-of-range values, the last
 * entry winning) and on hostile ones (wrong signatures, truncation at every
 * length, offsets past the end, huge entry counts, next-IFD loops, every
 * single-byte mutation, random bytes); decoding with each orientation 1..8
 * against PIL's exif_transpose cell layout (preprocess_refs.h) and pixel for
 * pixel; a PIL-written camera-like Exif JPEG; hostile segments spliced into
 * real JPEGs decode as stored; truncation inside the segment fails cleanly.
 */
#include "unit.h"
#include "img_fixtures.h"
#include "preprocess_refs.h"

#include <stdlib.h>

/* ---- building APP1 payloads --------------------------------------------- */

typedef struct
{
	uint8_t		b[256];
	size_t		n;
	int			le;
} payload;

static void
put16(payload *p, uint32_t v)
{
	if (p->le)
	{
		p->b[p->n++] = (uint8_t) v;
		p->b[p->n++] = (uint8_t) (v >> 8);
	}
	else
	{
		p->b[p->n++] = (uint8_t) (v >> 8);
		p->b[p->n++] = (uint8_t) v;
	}
}

static void
put32(payload *p, uint32_t v)
{
	if (p->le)
	{
		put16(p, v & 0xFFFF);
		put16(p, v >> 16);
	}
	else
	{
		put16(p, v >> 16);
		put16(p, v & 0xFFFF);
	}
}

/* "Exif\0\0", TIFF header, IFD0 at offset 8 with count entries to follow. */
static void
begin(payload *p, int le, int count)
{
	memset(p, 0, sizeof(*p));
	p->le = le;
	memcpy(p->b, "Exif\0\0", 6);
	p->n = 6;
	p->b[p->n++] = le ? 'I' : 'M';
	p->b[p->n++] = le ? 'I' : 'M';
	put16(p, 42);
	put32(p, 8);
	put16(p, (uint32_t) count);
}

/* One IFD entry; a SHORT value sits in the first two bytes of the value field. */
static void
entry(payload *p, uint32_t tag, uint32_t type, uint32_t count, uint32_t value)
{
	put16(p, tag);
	put16(p, type);
	put32(p, count);
	if (type == 3)
	{
		put16(p, value);
		put16(p, 0);
	}
	else
		put32(p, value);
}

static void
orientation_payload(payload *p, int le, int o)
{
	begin(p, le, 3);
	entry(p, 0x010F, 2, 4, 0x616E6F43);	/* Make "Cano", inline */
	entry(p, 0x0112, 3, 1, (uint32_t) o);
	entry(p, 0x0132, 2, 20, 200);	/* DateTime, out of line (not read) */
	put32(p, 0);				/* next IFD */
}

/* Parse from an exact-size heap copy, so valgrind sees any overread. */
static int
parse(const uint8_t *b, size_t n)
{
	uint8_t    *copy = malloc(n ? n : 1);
	int			o;

	memcpy(copy, b, n);
	o = sp_exif_orientation(copy, n);
	free(copy);
	return o;
}

/* ---- the parser ---------------------------------------------------------- */

SP_TEST(exif_parse_valid)
{
	payload		p;

	for (int le = 0; le < 2; le++)
		for (int o = 0; o <= 10; o++)
		{
			int			want = (o >= 1 && o <= 8) ? o : 1;

			orientation_payload(&p, le, o);
			CHECK_EQ_INT(parse(p.b, p.n), want);
			/* LONG is accepted too */
			begin(&p, le, 1);
			entry(&p, 0x0112, 4, 1, (uint32_t) o);
			CHECK_EQ_INT(parse(p.b, p.n), want);
		}
	/* the next-IFD pointer is optional for us: the IFD itself suffices */
	orientation_payload(&p, 1, 6);
	CHECK_EQ_INT(parse(p.b, p.n - 4), 6);
	/* 65536 + 6 in a LONG is not 6 */
	begin(&p, 0, 1);
	entry(&p, 0x0112, 4, 1, 65536 + 6);
	CHECK_EQ_INT(parse(p.b, p.n), 1);
	/* wrong type or count: ignored */
	begin(&p, 1, 1);
	entry(&p, 0x0112, 2, 1, 6);
	CHECK_EQ_INT(parse(p.b, p.n), 1);
	begin(&p, 1, 1);
	entry(&p, 0x0112, 3, 2, 6);
	CHECK_EQ_INT(parse(p.b, p.n), 1);
	begin(&p, 1, 1);
	entry(&p, 0x0112, 3, 0, 6);
	CHECK_EQ_INT(parse(p.b, p.n), 1);
	/* the last entry counts (PIL keeps the last value of a duplicated tag) */
	begin(&p, 0, 2);
	entry(&p, 0x0112, 3, 1, 3);
	entry(&p, 0x0112, 3, 1, 6);
	CHECK_EQ_INT(parse(p.b, p.n), 6);
	begin(&p, 0, 2);
	entry(&p, 0x0112, 3, 1, 6);
	entry(&p, 0x0112, 3, 1, 0);
	CHECK_EQ_INT(parse(p.b, p.n), 1);
	/* no entries, no orientation */
	begin(&p, 1, 0);
	CHECK_EQ_INT(parse(p.b, p.n), 1);
	/* IFD0 further on, after padding */
	begin(&p, 1, 0);
	p.n -= 6;					/* rewrite offset and count */
	put32(&p, 20);
	memset(p.b + p.n, 0xAA, 12);	/* TIFF offsets 8..19 */
	p.n += 12;
	put16(&p, 1);
	entry(&p, 0x0112, 3, 1, 7);
	CHECK_EQ_INT(parse(p.b, p.n), 7);
	CHECK_EQ_INT(sp_exif_orientation(NULL, 100), 1);
}

SP_TEST(exif_parse_hostile)
{
	payload		p,
				q;
	uint64_t	rng = 12345;
	size_t		need;

	/* signatures */
	orientation_payload(&p, 1, 6);
	q = p;
	q.b[4] = 'x';				/* "Exif\0x" */
	CHECK_EQ_INT(parse(q.b, q.n), 1);
	q = p;
	memcpy(q.b, "EXIF", 4);
	CHECK_EQ_INT(parse(q.b, q.n), 1);
	q = p;
	q.b[7] = 'M';				/* "IM" */
	CHECK_EQ_INT(parse(q.b, q.n), 1);
	q = p;
	q.b[8] = 43;				/* not 42 */
	CHECK_EQ_INT(parse(q.b, q.n), 1);

	/* IFD0 offsets: into the header, at the last byte, past the end, huge */
	{
		static const uint32_t offs[] = {0, 4, 7, 47, 48, 49, 1000, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFF};

		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		{
			q = p;
			q.n = 10;
			put32(&q, offs[i]);
			q.n = p.n;
			CHECK_MSG(parse(q.b, q.n) == 1, "IFD0 offset %u", offs[i]);
		}
	}
	/* entry counts larger than the data: 4, 100, 0xFFFF */
	{
		static const uint32_t counts[] = {4, 100, 0x8000, 0xFFFF};

		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		{
			q = p;
			q.n = 14;
			put16(&q, counts[i]);
			q.n = p.n;
			CHECK_MSG(parse(q.b, q.n) == 1, "count %u", counts[i]);
		}
	}
	/* a next-IFD pointer back to IFD0 (a loop) and one to itself: only IFD0 is read */
	q = p;
	q.n -= 4;
	put32(&q, 8);
	CHECK_EQ_INT(parse(q.b, q.n), 6);
	q.n -= 4;
	put32(&q, (uint32_t) (q.n - 6 - 4));
	CHECK_EQ_INT(parse(q.b, q.n), 6);

	/* truncated at every length: 1 until IFD0's entries are all there */
	need = 6 + 8 + 2 + 3 * 12;
	for (size_t n = 0; n <= p.n; n++)
		CHECK_MSG(parse(p.b, n) == (n >= need ? 6 : 1), "truncated to %zu", n);

	/* every single-byte mutation: a value in 1..8, nothing read out of bounds */
	for (size_t i = 0; i < p.n; i++)
		for (int v = 0; v < 256; v += 17)
		{
			int			o;

			q = p;
			q.b[i] = (uint8_t) v;
			o = parse(q.b, q.n);
			CHECK(o >= 1 && o <= 8);
		}

	/* random bytes after a valid header, random lengths */
	for (int iter = 0; iter < 3000; iter++)
	{
		size_t		n = 6 + (size_t) (fx_rand(&rng) % 120);
		int			o;

		q = p;
		for (size_t i = 8; i < n; i++)
			if (i >= q.n || fx_rand(&rng) % 4 == 0)
				q.b[i] = (uint8_t) fx_rand(&rng);
		o = parse(q.b, n);
		CHECK(o >= 1 && o <= 8);
	}
}

/* ---- decoding ------------------------------------------------------------ */

/* data with an APP1 segment holding pl[0..pn) spliced in after SOI. */
static uint8_t *
splice(const uint8_t *jpg, size_t len, const uint8_t *pl, size_t pn, size_t *out_len)
{
	uint8_t    *o = malloc(len + pn + 4);

	memcpy(o, jpg, 2);
	o[2] = 0xFF;
	o[3] = 0xE1;
	o[4] = (uint8_t) ((pn + 2) >> 8);
	o[5] = (uint8_t) (pn + 2);
	memcpy(o + 6, pl, pn);
	memcpy(o + 6 + pn, jpg + 2, len - 2);
	*out_len = len + pn + 4;
	return o;
}

/*
 * 48x32: a 3x2 grid of flat 16x16 cells, levels 20, 60, ..., 220 (RGB: a
 * ramp in green within each cell, so channels and columns are told apart).
 */
static uint8_t *
grid_jpeg(size_t *len, int channels)
{
	sp_image	img;
	sp_error	err;
	uint8_t    *jpg;

	if (sp_image_alloc(NULL, &img, 48, 32, channels, &err) != SP_OK)
		abort();
	for (int y = 0; y < 32; y++)
		for (int x = 0; x < 48; x++)
			for (int c = 0; c < channels; c++)
				img.pixels[(y * 48 + x) * channels + c] =
					(uint8_t) (20 + 40 * ((y / 16) * 3 + x / 16) + (c == 1 ? x % 16 : 0));
	if (sp_jpeg_encode(NULL, &img, 95, 0, &jpg, len, &err) != SP_OK)
		abort();
	sp_image_free(NULL, &img);
	return jpg;
}

/* Source pixel of output (ox, oy) for orientation o of a w x h image. */
static void
source_of(int o, int w, int h, int ox, int oy, int *sx, int *sy)
{
	switch (o)
	{
		case 2: *sx = w - 1 - ox; *sy = oy; break;
		case 3: *sx = w - 1 - ox; *sy = h - 1 - oy; break;
		case 4: *sx = ox; *sy = h - 1 - oy; break;
		case 5: *sx = oy; *sy = ox; break;
		case 6: *sx = oy; *sy = h - 1 - ox; break;
		case 7: *sx = w - 1 - oy; *sy = h - 1 - ox; break;
		case 8: *sx = w - 1 - oy; *sy = ox; break;
		default: *sx = ox; *sy = oy; break;
	}
}

static int
same_image(const sp_image *a, const sp_image *b)
{
	return a->width == b->width && a->height == b->height && a->channels == b->channels &&
		memcmp(a->pixels, b->pixels, (size_t) a->width * a->height * a->channels) == 0;
}

SP_TEST(exif_decode_all_orientations)
{
	for (int channels = 1; channels <= 3; channels += 2)
	{
		size_t		len;
		uint8_t    *jpg = grid_jpeg(&len, channels);
		sp_image	plain;
		sp_error	err;

		REQUIRE(sp_image_decode(NULL, jpg, len, &plain, &err) == SP_OK);
		for (int o = 1; o <= 8; o++)
		{
			payload		p;
			size_t		n;
			uint8_t    *data;
			sp_image	img;
			sp_image_info info;
			fx_env		fx;
			const int  *g = ref_exif_grid[o - 1];

			orientation_payload(&p, o % 2, o);
			data = splice(jpg, len, p.b, p.n, &n);
			REQUIRE(sp_image_probe(data, n, &info, &err) == SP_OK);
			CHECK_EQ_INT(info.orientation, o);
			CHECK_EQ_INT(info.width, o >= 5 ? 32 : 48);
			CHECK_EQ_INT(info.height, o >= 5 ? 48 : 32);
			fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
			REQUIRE(sp_image_decode(&fx.env, data, n, &img, &err) == SP_OK);
			/* PIL's layout of the cells */
			CHECK_EQ_INT(img.width, g[0] * 16);
			CHECK_EQ_INT(img.height, g[1] * 16);
			for (int cy = 0; cy < g[1]; cy++)
				for (int cx = 0; cx < g[0]; cx++)
				{
					int			v = img.pixels[((cy * 16 + 8) * img.width + cx * 16 + 8) * channels];
					int			cell = (v - 20 + 20) / 40;

					CHECK_MSG(cell == g[2 + cy * g[0] + cx], "orientation %d cell %d,%d: %d (level %d), PIL %d",
							  o, cx, cy, cell, v, g[2 + cy * g[0] + cx]);
				}
			/* and pixel for pixel the stored image, moved */
			for (int oy = 0; oy < img.height; oy++)
				for (int ox = 0; ox < img.width; ox++)
				{
					int			sx,
								sy;

					source_of(o, 48, 32, ox, oy, &sx, &sy);
					for (int c = 0; c < channels; c++)
						if (img.pixels[(oy * img.width + ox) * channels + c] !=
							plain.pixels[(sy * 48 + sx) * channels + c])
						{
							CHECK_MSG(0, "orientation %d pixel %d,%d", o, ox, oy);
							oy = img.height;
							ox = img.width;
							break;
						}
				}
			sp_image_free(&fx.env, &img);
			CHECK_EQ_INT(fx.live, 0);
			/* out of memory for the rotated copy: clean failure */
			if (o >= 5)
			{
				for (int k = 0; k < 8; k++)
				{
					sp_status	st;

					fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
					fx.fail_alloc_after = k;
					st = sp_image_decode(&fx.env, data, n, &img, &err);
					CHECK(st == SP_OK || st == SP_ERR_NOMEM);
					if (st == SP_OK)
						sp_image_free(&fx.env, &img);
					CHECK_EQ_INT(fx.live, 0);
				}
			}
			free(data);
		}
		sp_image_free(NULL, &plain);
		sp_free(NULL, jpg);
	}
}

SP_TEST(exif_pil_written_jpeg)
{
	sp_image	img;
	sp_image_info info;
	sp_error	err;
	int			maxd = 0;
	double		sum = 0;

	/* Exif written by PIL: 4 entries, ASCII values out of line, little-endian */
	CHECK_EQ_INT(sp_exif_orientation(ref_pil_exif_jpeg + 24, ((size_t) ref_pil_exif_jpeg[22] << 8 |
																ref_pil_exif_jpeg[23]) - 2), 8);
	REQUIRE(sp_image_probe(ref_pil_exif_jpeg, sizeof(ref_pil_exif_jpeg), &info, &err) == SP_OK);
	CHECK_EQ_INT(info.orientation, 8);
	CHECK_EQ_INT(info.width, 6);
	CHECK_EQ_INT(info.height, 9);
	REQUIRE(sp_image_decode(NULL, ref_pil_exif_jpeg, sizeof(ref_pil_exif_jpeg), &img, &err) == SP_OK);
	REQUIRE(img.width == 6 && img.height == 9 && img.channels == 1);
	/* PIL decodes with the same libjpeg settings: equal here; allow a future libjpeg a little slack */
	for (int i = 0; i < 54; i++)
	{
		int			d = abs((int) img.pixels[i] - (int) ref_pil_exif_upright[i]);

		maxd = d > maxd ? d : maxd;
		sum += d;
	}
	CHECK_MSG(maxd <= 4 && sum / 54 <= 1.0, "max %d mean %.2f vs PIL's exif_transpose", maxd, sum / 54);
	sp_image_free(NULL, &img);
}

SP_TEST(exif_hostile_segments_decode_as_stored)
{
	size_t		len;
	uint8_t    *jpg = grid_jpeg(&len, 3);
	sp_image	plain;
	sp_error	err;
	payload		good,
				bad[10];
	int			nbad = 0;

	REQUIRE(sp_image_decode(NULL, jpg, len, &plain, &err) == SP_OK);
	orientation_payload(&good, 0, 6);

	/* truncated Exif (the TIFF structure cut short inside a complete segment) */
	bad[nbad] = good;
	bad[nbad++].n = 20;
	/* just the signature */
	bad[nbad] = good;
	bad[nbad++].n = 6;
	/* IFD0 offset past the end */
	bad[nbad] = good;
	bad[nbad].n = 10;
	put32(&bad[nbad], 4000);
	bad[nbad++].n = good.n;
	/* huge entry count */
	bad[nbad] = good;
	bad[nbad].n = 14;
	put16(&bad[nbad], 0xFFFF);
	bad[nbad++].n = good.n;
	/* orientation out of range */
	orientation_payload(&bad[nbad++], 1, 200);
	/* not Exif at all (XMP) */
	memset(&bad[nbad], 0, sizeof(bad[nbad]));
	memcpy(bad[nbad].b, "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>", 42);
	bad[nbad++].n = 42;
	/* empty APP1 */
	memset(&bad[nbad], 0, sizeof(bad[nbad]));
	bad[nbad++].n = 0;

	for (int i = 0; i < nbad; i++)
	{
		size_t		n;
		uint8_t    *data = splice(jpg, len, bad[i].b, bad[i].n, &n);
		sp_image	img;
		sp_image_info info;

		CHECK_MSG(sp_image_probe(data, n, &info, &err) == SP_OK, "case %d: %s", i, err.message);
		CHECK_EQ_INT(info.orientation, 1);
		REQUIRE(sp_image_decode(NULL, data, n, &img, &err) == SP_OK);
		CHECK_MSG(same_image(&img, &plain), "case %d", i);
		sp_image_free(NULL, &img);
		free(data);
	}

	/* an XMP segment before the Exif one: skipped; two Exif segments: the first counts */
	{
		size_t		n1,
					n2,
					n3;
		uint8_t    *a = splice(jpg, len, good.b, good.n, &n1);	/* Exif 6 */
		uint8_t    *b = splice(a, n1, bad[5].b, bad[5].n, &n2);	/* XMP, Exif 6 */
		payload		three;
		uint8_t    *c;
		sp_image_info info;

		orientation_payload(&three, 1, 3);
		c = splice(a, n1, three.b, three.n, &n3);	/* Exif 3, Exif 6 */
		REQUIRE(sp_image_probe(b, n2, &info, &err) == SP_OK);
		CHECK_EQ_INT(info.orientation, 6);
		REQUIRE(sp_image_probe(c, n3, &info, &err) == SP_OK);
		CHECK_EQ_INT(info.orientation, 3);
		CHECK_EQ_INT(info.width, 48);

		/* the file cut inside the Exif segment, at every offset: a clean error */
		for (size_t cut = 0; cut < 6 + good.n + 8; cut++)
		{
			sp_image	img;
			fx_env		fx;

			fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
			CHECK(sp_image_decode(&fx.env, a, cut, &img, &err) != SP_OK);
			CHECK_EQ_INT(fx.live, 0);
			CHECK(sp_image_probe(a, cut, &info, &err) != SP_OK);
		}
		/* a segment length running past the end of the file */
		a[4] = 0xFF;
		{
			sp_image	img;

			CHECK(sp_image_decode(NULL, a, n1, &img, &err) == SP_ERR_CORRUPT);
		}
		free(a);
		free(b);
		free(c);
	}
	sp_image_free(NULL, &plain);
	sp_free(NULL, jpg);
}

SP_TEST(exif_thin_images_and_limits)
{
	sp_image	img;
	sp_error	err;
	uint8_t    *jpg;
	size_t		len;

	/* 1 x 40 and 40 x 1 rotated; a rotation keeps the pixel count, so max_pixels still holds */
	for (int k = 0; k < 2; k++)
	{
		fx_env		fx;
		payload		p;
		size_t		n;
		uint8_t    *data;
		sp_image	back;

		REQUIRE(sp_image_alloc(NULL, &img, k ? 40 : 1, k ? 1 : 40, 1, &err) == SP_OK);
		for (int i = 0; i < 40; i++)
			img.pixels[i] = (uint8_t) (i * 6);
		REQUIRE(sp_jpeg_encode(NULL, &img, 100, 0, &jpg, &len, &err) == SP_OK);
		orientation_payload(&p, 1, 8);
		data = splice(jpg, len, p.b, p.n, &n);
		fx_env_init(&fx, 40);
		REQUIRE(sp_image_decode(&fx.env, data, n, &back, &err) == SP_OK);
		CHECK_EQ_INT(back.width, k ? 1 : 40);
		CHECK_EQ_INT(back.height, k ? 40 : 1);
		sp_image_free(&fx.env, &back);
		fx_env_init(&fx, 39);
		CHECK(sp_image_decode(&fx.env, data, n, &back, &err) == SP_ERR_LIMIT);
		CHECK_EQ_INT(fx.live, 0);
		free(data);
		sp_free(NULL, jpg);
		sp_image_free(NULL, &img);
	}
	/* the core entry point ignores other values */
	REQUIRE(sp_image_alloc(NULL, &img, 2, 1, 1, &err) == SP_OK);
	img.pixels[0] = 1;
	img.pixels[1] = 2;
	CHECK(sp_image_apply_orientation(NULL, &img, 0, &err) == SP_OK);
	CHECK(sp_image_apply_orientation(NULL, &img, 9, &err) == SP_OK);
	CHECK(img.width == 2 && img.pixels[0] == 1);
	CHECK(sp_image_apply_orientation(NULL, &img, 2, &err) == SP_OK);
	CHECK(img.pixels[0] == 2 && img.pixels[1] == 1);
	CHECK(sp_image_apply_orientation(NULL, &img, 6, &err) == SP_OK);
	CHECK(img.width == 1 && img.height == 2 && img.pixels[0] == 2);
	sp_image_free(NULL, &img);
}

/*
 * test_image_jpeg.c: JPEG encoder and decoder: baseline, progressive and
 * grayscale round trips (close, not exact), header probing, 4:2:0 sampling,
 * determinism, CMYK / YCCK conversion and argument checks.
 */
#include "unit.h"
#include "img_fixtures.h"

#include <jpeglib.h>
#include <stdlib.h>

/* Encode a smooth pattern, decode it, compare. */
static void
jpeg_roundtrip(int *sp_failed__, int w, int h, int ch, int quality, int progressive,
			   double max_mae)
{
	fx_env		fx;
	sp_image	src,
				back;
	sp_error	err;
	uint8_t    *jpg;
	size_t		len;
	sp_image_info info;
	double		mae;

	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	REQUIRE(sp_image_alloc(&fx.env, &src, w, h, ch, &err) == SP_OK);
	fx_fill_pattern(&src, 7, 0);
	REQUIRE(sp_jpeg_encode(&fx.env, &src, quality, progressive, &jpg, &len, &err) == SP_OK);
	CHECK(sp_image_detect_format(jpg, len) == SP_FORMAT_JPEG);

	REQUIRE(sp_image_probe(jpg, len, &info, &err) == SP_OK);
	CHECK(info.format == SP_FORMAT_JPEG);
	CHECK_EQ_INT(info.width, w);
	CHECK_EQ_INT(info.height, h);
	CHECK_EQ_INT(info.channels, ch);
	CHECK_EQ_INT(info.bit_depth, 8);
	CHECK_EQ_INT(info.interlaced, progressive ? 1 : 0);
	CHECK(strcmp(info.color_model, ch == 1 ? "gray" : "ycbcr") == 0);

	REQUIRE(sp_image_decode(&fx.env, jpg, len, &back, &err) == SP_OK);
	CHECK_EQ_INT(back.width, w);
	CHECK_EQ_INT(back.height, h);
	CHECK_EQ_INT(back.channels, ch);
	mae = fx_mean_abs_diff(&src, &back);
	CHECK_MSG(mae <= max_mae, "%dx%dx%d q%d prog %d: mean abs error %.3f > %.3f",
			  w, h, ch, quality, progressive, mae, max_mae);
	sp_image_free(&fx.env, &back);
	sp_image_free(&fx.env, &src);
	sp_free(&fx.env, jpg);
	CHECK_EQ_INT(fx.live, 0);
}

SP_TEST(jpeg_roundtrip_baseline_rgb)
{
	jpeg_roundtrip(sp_failed__, 64, 48, 3, 90, 0, 2.0);
	jpeg_roundtrip(sp_failed__, 224, 224, 3, 85, 0, 2.0);
	jpeg_roundtrip(sp_failed__, 1, 1, 3, 90, 0, 3.0);
	/* tiny and chroma-subsampled: partial MCUs blur colour edges */
	jpeg_roundtrip(sp_failed__, 17, 9, 3, 95, 0, 6.0);
}

SP_TEST(jpeg_roundtrip_progressive)
{
	jpeg_roundtrip(sp_failed__, 64, 48, 3, 90, 1, 2.0);
	jpeg_roundtrip(sp_failed__, 28, 28, 1, 90, 1, 2.0);
}

SP_TEST(jpeg_roundtrip_gray)
{
	jpeg_roundtrip(sp_failed__, 28, 28, 1, 90, 0, 2.0);
	jpeg_roundtrip(sp_failed__, 100, 3, 1, 75, 0, 3.0);
	/* low quality is lossy but still in the right neighbourhood */
	jpeg_roundtrip(sp_failed__, 64, 64, 1, 10, 0, 8.0);
}

/* Progressive and baseline encodings of the same pixels decode alike. */
SP_TEST(jpeg_progressive_matches_baseline)
{
	sp_image	src,
				a,
				b;
	sp_error	err;
	uint8_t    *ja,
			   *jb;
	size_t		la,
				lb;

	REQUIRE(sp_image_alloc(NULL, &src, 48, 40, 3, &err) == SP_OK);
	fx_fill_pattern(&src, 3, 10);
	REQUIRE(sp_jpeg_encode(NULL, &src, 80, 0, &ja, &la, &err) == SP_OK);
	REQUIRE(sp_jpeg_encode(NULL, &src, 80, 1, &jb, &lb, &err) == SP_OK);
	CHECK(la != lb || memcmp(ja, jb, la) != 0);
	REQUIRE(sp_image_decode(NULL, ja, la, &a, &err) == SP_OK);
	REQUIRE(sp_image_decode(NULL, jb, lb, &b, &err) == SP_OK);
	/* Same quantised coefficients; only the scan layout differs. */
	CHECK(memcmp(a.pixels, b.pixels, (size_t) 48 * 40 * 3) == 0);
	sp_image_free(NULL, &a);
	sp_image_free(NULL, &b);
	sp_image_free(NULL, &src);
	sp_free(NULL, ja);
	sp_free(NULL, jb);
}

/* RGB output uses 4:2:0 (luma 2x2, chroma 1x1) as PIL's default does. */
SP_TEST(jpeg_encoder_uses_420_and_is_deterministic)
{
	sp_image	src;
	sp_error	err;
	uint8_t    *j1,
			   *j2;
	size_t		l1,
				l2;
	struct jpeg_decompress_struct d;
	struct jpeg_error_mgr jerr;

	REQUIRE(sp_image_alloc(NULL, &src, 32, 32, 3, &err) == SP_OK);
	fx_fill_pattern(&src, 5, 5);
	REQUIRE(sp_jpeg_encode(NULL, &src, 85, 0, &j1, &l1, &err) == SP_OK);
	REQUIRE(sp_jpeg_encode(NULL, &src, 85, 0, &j2, &l2, &err) == SP_OK);
	CHECK(l1 == l2 && memcmp(j1, j2, l1) == 0);

	d.err = jpeg_std_error(&jerr);
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, j1, (unsigned long) l1);
	REQUIRE(jpeg_read_header(&d, TRUE) == JPEG_HEADER_OK);
	CHECK_EQ_INT(d.num_components, 3);
	CHECK_EQ_INT(d.comp_info[0].h_samp_factor, 2);
	CHECK_EQ_INT(d.comp_info[0].v_samp_factor, 2);
	CHECK_EQ_INT(d.comp_info[1].h_samp_factor, 1);
	CHECK_EQ_INT(d.comp_info[1].v_samp_factor, 1);
	CHECK_EQ_INT(d.comp_info[2].h_samp_factor, 1);
	CHECK(d.saw_JFIF_marker);
	jpeg_destroy_decompress(&d);

	sp_image_free(NULL, &src);
	sp_free(NULL, j1);
	sp_free(NULL, j2);
}

SP_TEST(jpeg_encode_rejects_bad_arguments)
{
	uint8_t		px[12] = {0};
	sp_image	img = {2, 2, 3, px};
	uint8_t    *out = (uint8_t *) px;
	size_t		len = 1;
	sp_error	err;

	CHECK(sp_jpeg_encode(NULL, &img, 0, 0, &out, &len, &err) == SP_ERR_INVALID_ARG);
	CHECK(out == NULL && len == 0);
	CHECK(strstr(err.message, "quality") != NULL);
	CHECK(sp_jpeg_encode(NULL, &img, 101, 0, &out, &len, &err) == SP_ERR_INVALID_ARG);
	img.channels = 2;
	CHECK(sp_jpeg_encode(NULL, &img, 50, 0, &out, &len, &err) == SP_ERR_INVALID_ARG);
	img.channels = 3;
	img.height = 0;
	CHECK(sp_jpeg_encode(NULL, &img, 50, 0, &out, &len, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_jpeg_encode(NULL, NULL, 50, 0, &out, &len, &err) == SP_ERR_INVALID_ARG);
	/* quality extremes are fine */
	img.height = 2;
	REQUIRE(sp_jpeg_encode(NULL, &img, 1, 0, &out, &len, &err) == SP_OK);
	sp_free(NULL, out);
	REQUIRE(sp_jpeg_encode(NULL, &img, 100, 1, &out, &len, &err) == SP_OK);
	sp_free(NULL, out);
}

/* CMYK/YCCK: uniform colour so the lossy step does not blur the check. */
static void
cmyk_case(int *sp_failed__, int space, int adobe, const char *model)
{
	const int	w = 16,
				h = 16;
	static const uint8_t ink[4] = {200, 100, 50, 230};
	uint8_t		buf[16 * 16 * 4];
	uint8_t    *jpg;
	size_t		len;
	sp_image	img;
	sp_image_info info;
	sp_error	err;
	fx_env		fx;
	int			want[3];

	for (int i = 0; i < w * h; i++)
		memcpy(buf + 4 * i, ink, 4);
	jpg = fx_jpeg_write_cmyk(w, h, buf, space, adobe, 100, &len);
	REQUIRE(sp_image_probe(jpg, len, &info, &err) == SP_OK);
	CHECK_EQ_INT(info.channels, 4);
	CHECK(strcmp(info.color_model, model) == 0);
	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	REQUIRE(sp_image_decode(&fx.env, jpg, len, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.channels, 3);
	for (int c = 0; c < 3; c++)
		want[c] = adobe ? ink[c] * ink[3] / 255 : (255 - ink[c]) * (255 - ink[3]) / 255;
	for (int i = 0; i < w * h; i++)
		for (int c = 0; c < 3; c++)
			CHECK_MSG(abs(img.pixels[3 * i + c] - want[c]) <= 3, "%s adobe %d pixel %d ch %d: %d vs %d",
					  model, adobe, i, c, img.pixels[3 * i + c], want[c]);
	sp_image_free(&fx.env, &img);
	CHECK_EQ_INT(fx.live, 0);
	free(jpg);
}

SP_TEST(jpeg_cmyk_converted_to_rgb)
{
	cmyk_case(sp_failed__, JCS_CMYK, 1, "cmyk");
	cmyk_case(sp_failed__, JCS_CMYK, 0, "cmyk");
	cmyk_case(sp_failed__, JCS_YCCK, 1, "ycck");
}

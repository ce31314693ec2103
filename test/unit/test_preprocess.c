/*
 * test_preprocess.c: image -> model input: identity at the model size,
 * RGB -> gray luma, 640x480 -> 28x28 (area and bilinear, stretch and
 * centre crop), bilinear upscaling values, normalisation, bad arguments;
 * then the torchvision-compatible path: Pillow's BILINEAR resize bit for bit
 * against PIL (hashes in preprocess_refs.h, made by gen_preprocess_refs.py),
 * windows and padding, torchvision's Resize + CenterCrop geometry and
 * rounding, the whole ImageNet eval transform on a real photo against
 * torchvision's tensor, the new fit with the old resize methods, spec
 * checks, out of memory and interrupts.
 */
#include "unit.h"
#include "img_fixtures.h"
#include "preprocess_refs.h"
#include "image/preprocess.h"
#include "image/resample.h"
#include "util/cpu.h"

#include <stdlib.h>

static void
make(sp_image *img, int w, int h, int c)
{
	sp_error	err;

	if (sp_image_alloc(sp_env_default(), img, w, h, c, &err) != SP_OK)
		abort();
}

SP_TEST(pre_identity_28_gray)
{
	sp_image	img;
	sp_preprocess_spec spec;
	float		out[784];
	sp_error	err;

	make(&img, 28, 28, 1);
	for (int i = 0; i < 784; i++)
		img.pixels[i] = (uint8_t) (i * 37);
	sp_preprocess_spec_default(&spec);
	for (int method = 0; method < 2; method++)
		for (int fit = 0; fit < 2; fit++)
		{
			spec.resize = (sp_resize_method) method;
			spec.fit = (sp_fit_mode) fit;
			REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
			for (int i = 0; i < 784; i++)
				CHECK_NEAR(out[i], img.pixels[i] / 255.0f, 1e-6);
		}
	sp_image_free(sp_env_default(), &img);
}

SP_TEST(pre_rgb_640x480_to_gray_28)
{
	sp_image	img;
	sp_preprocess_spec spec;
	float	   *out = malloc(sizeof(float) * 784);
	sp_error	err;
	float		luma = (0.299f * 200 + 0.587f * 100 + 0.114f * 50) / 255.0f;

	make(&img, 640, 480, 3);
	for (int i = 0; i < 640 * 480; i++)
	{
		img.pixels[3 * i] = 200;
		img.pixels[3 * i + 1] = 100;
		img.pixels[3 * i + 2] = 50;
	}
	sp_preprocess_spec_default(&spec);
	for (int method = 0; method < 2; method++)
		for (int fit = 0; fit < 2; fit++)
		{
			spec.resize = (sp_resize_method) method;
			spec.fit = (sp_fit_mode) fit;
			REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
			for (int i = 0; i < 784; i++)
				CHECK_NEAR(out[i], luma, 1e-5);
		}

	/* centre crop drops the 80-column side bands, stretch keeps them */
	for (int y = 0; y < 480; y++)
		for (int x = 0; x < 640; x++)
			memset(img.pixels + 3 * (y * 640 + x), (x < 80 || x >= 560) ? 255 : 0, 3);
	for (int method = 0; method < 2; method++)
	{
		double		sum = 0;

		spec.resize = (sp_resize_method) method;
		spec.fit = SP_FIT_CENTER_CROP;
		REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
		for (int i = 0; i < 784; i++)
			CHECK_NEAR(out[i], 0.0, 1e-6);
		spec.fit = SP_FIT_STRETCH;
		REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
		for (int i = 0; i < 784; i++)
			sum += out[i];
		/* area: the bands are 1/4 of the width -> mean exactly 0.25 */
		if (method == SP_RESIZE_AREA)
			CHECK_NEAR(sum / 784, 0.25, 1e-5);
		else
			CHECK(sum > 0);
		CHECK_NEAR(out[0], 1.0, 1e-6);
	}

	/* horizontal ramp: area output column j is the exact box average */
	for (int y = 0; y < 480; y++)
		for (int x = 0; x < 640; x++)
			memset(img.pixels + 3 * (y * 640 + x), (x * 255) / 639, 3);
	spec.resize = SP_RESIZE_AREA;
	spec.fit = SP_FIT_STRETCH;
	REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
	for (int j = 0; j < 28; j++)
	{
		double		a = j * 640.0 / 28,
					b = (j + 1) * 640.0 / 28,
					acc = 0;

		for (int x = 0; x < 640; x++)
		{
			double		w = fmin(b, x + 1.0) - fmax(a, (double) x);

			if (w > 0)
				acc += w * ((x * 255) / 639);
		}
		CHECK_NEAR(out[5 * 28 + j], acc / (b - a) / 255.0, 1e-5);
	}
	sp_image_free(sp_env_default(), &img);
	free(out);
}

SP_TEST(pre_bilinear_upscale_values)
{
	sp_image	img;
	sp_preprocess_spec spec;
	float		out[16];
	sp_error	err;
	static const float row[4] = {0, 63.75f, 191.25f, 255};

	make(&img, 2, 2, 1);
	img.pixels[0] = 0;
	img.pixels[1] = 255;
	img.pixels[2] = 0;
	img.pixels[3] = 255;
	sp_preprocess_spec_default(&spec);
	spec.height = 4;
	spec.width = 4;
	spec.scale = 1;
	REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++)
			CHECK_NEAR(out[y * 4 + x], row[x], 1e-4);
	sp_image_free(sp_env_default(), &img);
}

SP_TEST(pre_normalisation)
{
	sp_image	img;
	sp_preprocess_spec spec;
	float		out[3 * 4];
	sp_error	err;

	make(&img, 2, 2, 1);
	memset(img.pixels, 128, 4);
	sp_preprocess_spec_default(&spec);
	spec.height = spec.width = 2;
	spec.mean[0] = 0.2860f;
	spec.std[0] = 0.3530f;
	REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
	CHECK_NEAR(out[3], (128 / 255.0 - 0.2860) / 0.3530, 1e-5);

	/* gray image into an RGB model: replicated, per-channel statistics */
	spec.channels = 3;
	spec.mean[1] = 0.5f;
	spec.std[1] = 0.25f;
	spec.mean[2] = 0.0f;
	spec.std[2] = 2.0f;
	REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
	CHECK_NEAR(out[0], (128 / 255.0 - 0.2860) / 0.3530, 1e-5);
	CHECK_NEAR(out[4], (128 / 255.0 - 0.5) / 0.25, 1e-5);
	CHECK_NEAR(out[11], (128 / 255.0) / 2.0, 1e-5);

	/* bad arguments */
	spec.std[1] = 0;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	spec.std[1] = 1;
	spec.channels = 2;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	spec.channels = 1;
	img.channels = 4;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	img.channels = 1;
	spec.scale = 0;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	sp_image_free(sp_env_default(), &img);
}

SP_TEST(pre_extreme_aspect)
{
	sp_image	img;
	sp_preprocess_spec spec;
	float		out[784];
	sp_error	err;

	/* 1 x 1000 and 1000 x 1 images, every mode: finite values in range */
	for (int k = 0; k < 2; k++)
	{
		make(&img, k ? 1000 : 1, k ? 1 : 1000, 3);
		for (int i = 0; i < 3000; i++)
			img.pixels[i] = (uint8_t) i;
		sp_preprocess_spec_default(&spec);
		for (int method = 0; method < 2; method++)
			for (int fit = 0; fit < 2; fit++)
			{
				spec.resize = (sp_resize_method) method;
				spec.fit = (sp_fit_mode) fit;
				REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
				for (int i = 0; i < 784; i++)
					CHECK(out[i] >= 0 && out[i] <= 1.0f + 1e-6f);
			}
		sp_image_free(sp_env_default(), &img);
	}
}

/* ---- the torchvision-compatible path ------------------------------------ */

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

static uint64_t
fnv1a64(const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t	h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

/* The synthetic source of gen_preprocess_refs.py's pattern(). */
static void
pattern(uint8_t *dst, int w, int h, int c)
{
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < c; k++)
				dst[((size_t) y * w + x) * c + k] =
					(uint8_t) ((x * x * 7 + y * 13 + k * 85 + ((x * y) ^ (x + 3 * y)) * 5) & 255);
}

static sp_image
photo(void)
{
	sp_image	img;

	img.width = REF_PHOTO_W;
	img.height = REF_PHOTO_H;
	img.channels = 3;
	img.pixels = (uint8_t *) (uintptr_t) ref_photo;	/* read only */
	return img;
}

static void
torchvision_spec(sp_preprocess_spec *spec, int channels, int shorter, int h, int w,
				 const float *mean, const float *std)
{
	sp_preprocess_spec_default(spec);
	spec->channels = channels;
	spec->height = h;
	spec->width = w;
	spec->resize = SP_RESIZE_PIL_BILINEAR;
	spec->fit = SP_FIT_SHORTER_CENTER_CROP;
	spec->resize_shorter = shorter;
	for (int c = 0; c < 3; c++)
	{
		spec->mean[c] = mean[c];
		spec->std[c] = std[c];
	}
}

SP_TEST(pre_pil_bilinear_matches_pil)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	int			n = (int) (sizeof(ref_resize) / sizeof(ref_resize[0]));

	/* both vertical-pass kernels (AVX2 where the CPU has it, and scalar) */
	for (int i = 0; i < 2 * n; i++)
	{
		const ref_resize_case *rc = &ref_resize[i % n];
		size_t		out_len = (size_t) rc->dw * rc->dh * rc->c;
		uint8_t    *src = malloc((size_t) rc->sw * rc->sh * rc->c),
				   *dst = malloc(out_len);
		sp_pil_resize rs;

		REQUIRE(src && dst);
		if (rc->source == 0)
			memcpy(src, ref_photo, sizeof(ref_photo));
		else
			pattern(src, rc->sw, rc->sh, rc->c);
		memset(&rs, 0, sizeof(rs));
		rs.filter = SP_PIL_BILINEAR;
		rs.out_w = rc->dw;
		rs.out_h = rc->dh;
		sp_resample_set_isa(i < n ? SP_ISA_AUTO : SP_ISA_SCALAR);
		CHECK(sp_pil_resize_u8(env, src, rc->sw, rc->sh, rc->c, &rs, dst, rc->dw, rc->dh, &err) == SP_OK);
		sp_resample_set_isa(SP_ISA_AUTO);
		CHECK_MSG(fnv1a64(dst, out_len) == rc->hash, "case %d (%s): %dx%dx%d -> %dx%d differs from PIL",
				  i % n, i < n ? "auto" : "scalar", rc->sw, rc->sh, rc->c, rc->dw, rc->dh);
		free(src);
		free(dst);
	}
}

SP_TEST(pre_pil_bilinear_values)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	uint8_t		src[4] = {0, 255, 0, 255},
				dst[8];
	sp_pil_resize rs;

	/*
	 * {0, 255, 0, 255} 4x1 -> 2x1 (PIL: 109, 146).  Scale 2, support 2:
	 * output 0 (centre 1.0) takes pixels 0..2 with triangle weights 0.75,
	 * 0.75, 0.25 (sum 1.75): 255 * 0.75 / 1.75 = 109.3; output 1 (centre
	 * 3.0) takes pixels 1..3 with 0.25, 0.75, 0.75: 255 / 1.75 = 145.7.
	 * Antialiasing: a plain bilinear sample would give 127.5 twice.
	 */
	memset(&rs, 0, sizeof(rs));
	rs.filter = SP_PIL_BILINEAR;
	rs.out_w = 2;
	rs.out_h = 1;
	REQUIRE(sp_pil_resize_u8(env, src, 4, 1, 1, &rs, dst, 2, 1, &err) == SP_OK);
	CHECK_EQ_INT(dst[0], 109);
	CHECK_EQ_INT(dst[1], 146);
	/* same size: the identity (Pillow skips both passes) */
	rs.out_w = 4;
	REQUIRE(sp_pil_resize_u8(env, src, 4, 1, 1, &rs, dst, 4, 1, &err) == SP_OK);
	CHECK(memcmp(dst, src, 4) == 0);
	/* 1x1 up to 8x1: constant */
	rs.out_w = 8;
	REQUIRE(sp_pil_resize_u8(env, src + 1, 1, 1, 1, &rs, dst, 8, 1, &err) == SP_OK);
	for (int i = 0; i < 8; i++)
		CHECK_EQ_INT(dst[i], 255);
	/* bad arguments */
	rs.box[0] = 0.5f;
	rs.box[2] = 0.25f;			/* inverted box */
	CHECK(sp_pil_resize_u8(env, src, 4, 1, 1, &rs, dst, 8, 1, &err) == SP_ERR_INVALID_ARG);
	rs.box[2] = 5.0f;			/* past the edge */
	CHECK(sp_pil_resize_u8(env, src, 4, 1, 1, &rs, dst, 8, 1, &err) == SP_ERR_INVALID_ARG);
	memset(rs.box, 0, sizeof(rs.box));
	rs.out_w = 0;
	CHECK(sp_pil_resize_u8(env, src, 4, 1, 1, &rs, dst, 8, 1, &err) == SP_ERR_INVALID_ARG);
}

SP_TEST(pre_pil_window_is_the_crop)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	int			sw = 61,
				sh = 43,
				c = 3,
				ow = 29,
				oh = 37;
	uint8_t    *src = malloc((size_t) sw * sh * c),
			   *full = malloc((size_t) ow * oh * c),
			   *win = malloc((size_t) (ow + 10) * (oh + 10) * c);
	sp_pil_resize rs;

	REQUIRE(src && full && win);
	pattern(src, sw, sh, c);
	memset(&rs, 0, sizeof(rs));
	rs.filter = SP_PIL_BILINEAR;
	rs.out_w = ow;
	rs.out_h = oh;
	REQUIRE(sp_pil_resize_u8(env, src, sw, sh, c, &rs, full, ow, oh, &err) == SP_OK);
	/* windows inside, overlapping the edges, and larger than the image */
	for (int t = 0; t < 4; t++)
	{
		static const int wins[4][4] = {{3, 5, 20, 11}, {-4, -2, 10, 10}, {25, 30, 9, 12}, {-5, -5, 39, 47}};
		int			wx = wins[t][0],
					wy = wins[t][1],
					ww = wins[t][2],
					wh = wins[t][3];

		rs.win_x = wx;
		rs.win_y = wy;
		REQUIRE(sp_pil_resize_u8(env, src, sw, sh, c, &rs, win, ww, wh, &err) == SP_OK);
		for (int y = 0; y < wh; y++)
			for (int x = 0; x < ww; x++)
				for (int k = 0; k < c; k++)
				{
					int			fx = wx + x,
								fy = wy + y;
					int			want = (fx >= 0 && fx < ow && fy >= 0 && fy < oh)
						? full[((size_t) fy * ow + fx) * c + k] : 0;

					CHECK_EQ_INT(win[((size_t) y * ww + x) * c + k], want);
				}
	}
	free(src);
	free(full);
	free(win);
}

SP_TEST(pre_shorter_geometry_like_torchvision)
{
	/* iw, ih, shorter, tw, th -> rw, rh, ox, oy */
	static const int cases[][9] = {
		{500, 375, 256, 224, 224, 341, 256, 58, 16},	/* int(341.33) */
		{375, 500, 256, 224, 224, 256, 341, 16, 58},
		{512, 512, 256, 224, 224, 256, 256, 16, 16},
		{451, 300, 256, 224, 224, 384, 256, 80, 16},	/* 384.85 -> 384 */
		{257, 1000, 257, 224, 224, 257, 1000, 16, 388},	/* 33 / 2 = 16.5 -> 16 (even) */
		{259, 259, 259, 224, 224, 259, 259, 18, 18},	/* 35 / 2 = 17.5 -> 18 (even) */
		{48, 32, 22, 16, 17, 33, 22, 8, 2},		/* 8.5 -> 8, 2.5 -> 2 */
		{48, 32, 12, 21, 16, 18, 12, -1, -2},	/* padded: (21-18)//2, (16-12)//2 */
		{40, 30, 10, 16, 16, 13, 10, -1, -3},
		{1, 65535, 4096, 224, 224, 4096, 268431360, 1936, 134215568},
		{3, 7, 3, 3, 7, 3, 7, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const int  *c = cases[i];
		int			rw,
					rh,
					ox,
					oy;

		sp_preprocess_shorter_geometry(c[0], c[1], c[2], c[3], c[4], &rw, &rh, &ox, &oy);
		CHECK_MSG(rw == c[5] && rh == c[6] && ox == c[7] && oy == c[8],
				  "case %zu: got %dx%d +%d+%d, want %dx%d +%d+%d", i, rw, rh, ox, oy, c[5], c[6], c[7], c[8]);
	}
}

SP_TEST(pre_torchvision_imagenet_transform_on_a_photo)
{
	sp_image	img = photo();
	sp_preprocess_spec spec;
	float		out[3 * 17 * 16];
	sp_error	err;
	double		worst = 0;
	int			exact = 0;

	/* Resize(22) + CenterCrop((17, 16)) + ToTensor + Normalize(ImageNet) */
	torchvision_spec(&spec, 3, 22, 17, 16, imagenet_mean, imagenet_std);
	REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
	for (int i = 0; i < 3 * 17 * 16; i++)
	{
		double		d = fabs((double) out[i] - (double) ref_tv_chelsea[i]);

		if (d > worst)
			worst = d;
		exact += out[i] == ref_tv_chelsea[i];
	}
	CHECK_MSG(worst <= 1e-6, "max |ours - torchvision| = %g", worst);
	/* the same float32 operations in the same order: bit for bit */
	CHECK_EQ_INT(exact, 3 * 17 * 16);
}

SP_TEST(pre_torchvision_pipelines)
{
	sp_image	img = photo();
	int			n = (int) (sizeof(ref_pipelines) / sizeof(ref_pipelines[0]));

	for (int i = 0; i < n; i++)
	{
		const ref_pipeline *p = &ref_pipelines[i];
		sp_preprocess_spec spec;
		size_t		len = (size_t) p->channels * p->height * p->width;
		float	   *out = malloc(len * sizeof(float));
		sp_error	err;

		REQUIRE(out);
		torchvision_spec(&spec, p->channels, p->shorter, p->height, p->width, p->mean, p->std);
		CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
		CHECK_MSG(fnv1a64(out, len * sizeof(float)) == p->hash, "%s: differs from torchvision", p->what);
		free(out);
	}
}

SP_TEST(pre_pil_channels)
{
	sp_image	gray,
				rgb;
	sp_preprocess_spec spec;
	float	   *out = malloc(sizeof(float) * 3 * 24 * 24);
	sp_error	err;
	static const float zero[3] = {0, 0, 0},
				one[3] = {1, 1, 1};

	REQUIRE(out);
	/* a gray image into an RGB model: three equal planes */
	make(&gray, 50, 30, 1);
	pattern(gray.pixels, 50, 30, 1);
	torchvision_spec(&spec, 3, 28, 24, 24, zero, one);
	REQUIRE(sp_preprocess_image(&spec, &gray, out, &err) == SP_OK);
	for (int i = 0; i < 24 * 24; i++)
		CHECK(out[i] == out[i + 576] && out[i] == out[i + 1152]);
	/* an RGB image with equal channels into a gray model: the same plane */
	make(&rgb, 50, 30, 3);
	for (int i = 0; i < 50 * 30; i++)
		memset(rgb.pixels + 3 * i, gray.pixels[i], 3);
	{
		float		g[24 * 24];

		spec.channels = 1;
		REQUIRE(sp_preprocess_image(&spec, &rgb, g, &err) == SP_OK);
		for (int i = 0; i < 24 * 24; i++)
			CHECK(g[i] == out[i]);
	}
	/* same size, stretch: identity, v / 255 */
	sp_preprocess_spec_default(&spec);
	spec.resize = SP_RESIZE_PIL_BILINEAR;
	spec.height = 30;
	spec.width = 50;
	REQUIRE(sp_preprocess_image(&spec, &gray, out, &err) == SP_OK);
	for (int i = 0; i < 50 * 30; i++)
		CHECK(out[i] == (float) gray.pixels[i] / 255.0f);
	sp_image_free(sp_env_default(), &gray);
	sp_image_free(sp_env_default(), &rgb);
	free(out);
}

SP_TEST(pre_shorter_fit_with_bilinear_and_area)
{
	sp_image	img;
	sp_preprocess_spec spec;
	float		out[16 * 16];
	sp_error	err;

	/* 40x30, shorter side already 30: no resize, the 30x30 centre (x 5..34) */
	make(&img, 40, 30, 1);
	pattern(img.pixels, 40, 30, 1);
	for (int method = 0; method < 2; method++)
	{
		float	   *o = malloc(sizeof(float) * 900);

		REQUIRE(o);
		sp_preprocess_spec_default(&spec);
		spec.resize = (sp_resize_method) method;
		spec.fit = SP_FIT_SHORTER_CENTER_CROP;
		spec.resize_shorter = 30;
		spec.height = spec.width = 30;
		REQUIRE(sp_preprocess_image(&spec, &img, o, &err) == SP_OK);
		for (int y = 0; y < 30; y++)
			for (int x = 0; x < 30; x++)
				CHECK_NEAR(o[y * 30 + x], img.pixels[y * 40 + x + 5] / 255.0, 1e-6);
		free(o);

		/* a crop larger than the 13x10 resize: zero padding, like torchvision */
		spec.resize_shorter = 10;
		spec.height = spec.width = 16;
		spec.mean[0] = 0.5f;
		REQUIRE(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
		/* padding: (16 - 13) // 2 = 1 column left, (16 - 10) // 2 = 3 rows on top */
		for (int x = 0; x < 16; x++)
		{
			CHECK_NEAR(out[0 * 16 + x], -0.5, 1e-6);
			CHECK_NEAR(out[15 * 16 + x], -0.5, 1e-6);
		}
		for (int y = 0; y < 16; y++)
		{
			CHECK_NEAR(out[y * 16 + 0], -0.5, 1e-6);
			CHECK_NEAR(out[y * 16 + 15], -0.5, 1e-6);
			CHECK_NEAR(out[y * 16 + 14], -0.5, 1e-6);
		}
		CHECK(out[3 * 16 + 1] != -0.5f || out[3 * 16 + 2] != -0.5f);
	}
	sp_image_free(sp_env_default(), &img);
}

SP_TEST(pre_spec_names_and_checks)
{
	sp_preprocess_spec spec;
	sp_resize_method m;
	sp_fit_mode f;
	sp_error	err;
	sp_image	img;
	float		out[4];

	for (int i = 0; i < 3; i++)
	{
		CHECK(sp_resize_method_parse(sp_resize_method_name((sp_resize_method) i), &m) && m == (sp_resize_method) i);
		CHECK(sp_fit_mode_parse(sp_fit_mode_name((sp_fit_mode) i), &f) && f == (sp_fit_mode) i);
	}
	CHECK(strcmp(sp_resize_method_name(SP_RESIZE_PIL_BILINEAR), "pil_bilinear") == 0);
	CHECK(strcmp(sp_fit_mode_name(SP_FIT_SHORTER_CENTER_CROP), "resize_shorter_then_center_crop") == 0);
	CHECK(!sp_resize_method_parse("lanczos", &m));
	CHECK(!sp_fit_mode_parse(NULL, &f));

	make(&img, 2, 2, 1);
	memset(img.pixels, 7, 4);
	sp_preprocess_spec_default(&spec);
	spec.height = spec.width = 2;
	CHECK(spec.resize_shorter == 0);
	CHECK(sp_preprocess_spec_check(&spec, &err) == SP_OK);
	spec.resize_shorter = 4;	/* only with the shorter-side fit */
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	spec.fit = SP_FIT_SHORTER_CENTER_CROP;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_OK);
	spec.resize_shorter = 0;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	spec.resize_shorter = SP_PREPROCESS_MAX_SIDE + 1;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	spec.resize_shorter = 2;
	spec.resize = (sp_resize_method) 7;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	spec.resize = SP_RESIZE_PIL_BILINEAR;
	spec.fit = (sp_fit_mode) 9;
	CHECK(sp_preprocess_image(&spec, &img, out, &err) == SP_ERR_INVALID_ARG);
	sp_image_free(sp_env_default(), &img);
}

SP_TEST(pre_pil_nomem_and_interrupt)
{
	fx_env		fx;
	sp_image	img = photo();
	sp_preprocess_spec spec;
	float		out[3 * 17 * 16];
	sp_error	err;
	int			ok = 0;

	torchvision_spec(&spec, 3, 22, 17, 16, imagenet_mean, imagenet_std);
	/* every allocation failing in turn: NOMEM, nothing leaked */
	for (int k = 0; k < 16 && !ok; k++)
	{
		sp_status	st;

		fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
		fx.fail_alloc_after = k;
		st = sp_preprocess_image_env(&fx.env, &spec, &img, out, &err);
		CHECK(st == SP_OK || st == SP_ERR_NOMEM);
		CHECK_EQ_INT(fx.live, 0);
		ok = st == SP_OK;
	}
	CHECK(ok);
	fx_env_init(&fx, SP_DEFAULT_MAX_PIXELS);
	fx.interrupt_after = 0;
	CHECK(sp_preprocess_image_env(&fx.env, &spec, &img, out, &err) == SP_ERR_INTERRUPTED);
	CHECK_EQ_INT(fx.live, 0);
}

SP_TEST(pre_pil_extreme_aspect)
{
	sp_image	img;
	sp_preprocess_spec spec;
	float	   *out = malloc(sizeof(float) * 3 * 32 * 32);
	sp_error	err;

	REQUIRE(out);
	/* 1 x 3000 and 3000 x 1 images, every fit, gray and RGB models: finite, in range */
	for (int k = 0; k < 2; k++)
	{
		make(&img, k ? 3000 : 1, k ? 1 : 3000, 3);
		for (int i = 0; i < 9000; i++)
			img.pixels[i] = (uint8_t) (i * 7);
		for (int fit = 0; fit < 3; fit++)
			for (int C = 1; C <= 3; C += 2)
			{
				sp_preprocess_spec_default(&spec);
				spec.channels = C;
				spec.height = 32;
				spec.width = 32;
				spec.resize = SP_RESIZE_PIL_BILINEAR;
				spec.fit = (sp_fit_mode) fit;
				spec.resize_shorter = fit == SP_FIT_SHORTER_CENTER_CROP ? 40 : 0;
				CHECK_MSG(sp_preprocess_image(&spec, &img, out, &err) == SP_OK, "fit %d C %d: %s",
						  fit, C, err.message);
				for (int i = 0; i < C * 32 * 32; i++)
					CHECK(out[i] >= 0 && out[i] <= 1.0f);
			}
		sp_image_free(sp_env_default(), &img);
	}
	free(out);
}

/*
 * test_preprocess.c: image -> model input: identity at the model size,
 * RGB -> gray luma, 640x480 -> 28x28 (area and bilinear, stretch and
 * centre crop), bilinear upscaling values, normalisation, bad arguments.
 */
#include "unit.h"
#include "image/preprocess.h"

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

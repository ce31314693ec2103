/*
 * test_corrupt_values.c: hand-checked values and statistics of the
 * corruptions and their building blocks (HSV edits, contrast, Pillow BOX,
 * zoom factors, defocus and motion kernels, noise statistics, Canny,
 * chamfer distance, plasma fractal, JPEG round trip).
 */
#include "unit.h"
#include "robust/corrupt_int.h"
#include "image/filter.h"
#include "image/resample.h"
#include "robust/plasma.h"

#include <stdlib.h>

extern void tc_make_image(sp_image *img, int w, int h, int channels, unsigned salt);
extern double tc_mad(const sp_image *a, const sp_image *b);

static void
flat_image(sp_image *img, int w, int h, int channels, const uint8_t *px)
{
	img->width = w;
	img->height = h;
	img->channels = channels;
	img->pixels = malloc((size_t) w * h * channels);
	for (int i = 0; i < w * h; i++)
		for (int k = 0; k < channels; k++)
			img->pixels[i * channels + k] = px[k];
}

SP_TEST(corrupt_brightness_value)
{
	const sp_env *env = sp_env_default();
	uint8_t		px[3] = {100, 150, 200};
	sp_image	img,
				o;
	sp_error	err;

	/* V 200/255 + 0.1 = 225.5/255, S 0.5, H 3.5/6: (112.75, 169.125, 225.5) */
	flat_image(&img, 4, 4, 3, px);
	REQUIRE(sp_corrupt(env, &img, "brightness", 1, 0, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	CHECK_EQ_INT(o.pixels[0], 112);
	CHECK_EQ_INT(o.pixels[1], 169);
	CHECK_EQ_INT(o.pixels[2], 225);
	sp_image_free(env, &o);
	/* s5: V + 0.5 clips at 1: (127.5, 191.25, 255) */
	REQUIRE(sp_corrupt(env, &img, "brightness", 5, 0, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	CHECK_EQ_INT(o.pixels[0], 127);
	CHECK_EQ_INT(o.pixels[1], 191);
	CHECK_EQ_INT(o.pixels[2], 255);
	sp_image_free(env, &o);
	free(img.pixels);
}

SP_TEST(corrupt_saturate_value)
{
	const sp_env *env = sp_env_default();
	uint8_t		px[3] = {61, 120, 240};
	sp_image	img,
				o;
	sp_error	err;

	/* S 179/240 * 0.1: p = 240 - 17.9 = 222.1, q = 240 - (120/179) 17.9 = 228 */
	flat_image(&img, 3, 3, 3, px);
	REQUIRE(sp_corrupt(env, &img, "saturate", 2, 0, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	CHECK_EQ_INT(o.pixels[0], 222);
	CHECK(o.pixels[1] == 227 || o.pixels[1] == 228);
	CHECK_EQ_INT(o.pixels[2], 240);
	sp_image_free(env, &o);
	/* s3 (x2, +0): S 0.7458 -> 1 (clipped): p = 0, q = 240 (1 - 0.6704) = 79.1 */
	REQUIRE(sp_corrupt(env, &img, "saturate", 3, 0, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	CHECK_EQ_INT(o.pixels[0], 0);
	CHECK_NEAR(o.pixels[1], 79, 1);
	CHECK_EQ_INT(o.pixels[2], 240);
	sp_image_free(env, &o);
	free(img.pixels);
}

SP_TEST(corrupt_contrast_value)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				o;
	sp_error	err;
	uint8_t		px[3] = {0, 0, 0};

	/* two pixels 0 and 255: mean .5, c .4 -> .3 and .7 -> 76, 178 */
	flat_image(&img, 2, 1, 3, px);
	img.pixels[3] = img.pixels[4] = img.pixels[5] = 255;
	REQUIRE(sp_corrupt(env, &img, "contrast", 1, 0, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	CHECK_EQ_INT(o.pixels[0], 76);
	CHECK_EQ_INT(o.pixels[3], 178);
	sp_image_free(env, &o);
	/* CIFAR s1 c=.75: .125, .875 -> 31.875, 223.125 */
	REQUIRE(sp_corrupt(env, &img, "contrast", 1, 0, SP_PROFILE_CIFAR, &o, &err) == SP_OK);
	CHECK_EQ_INT(o.pixels[0], 31);
	CHECK_EQ_INT(o.pixels[3], 223);
	sp_image_free(env, &o);
	free(img.pixels);
}

SP_TEST(corrupt_pixelate_blocks)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				o;
	sp_error	err;

	/* Tiny s5 (c=.5) on 8x8 gray: 4x4 box averages (Pillow rounds each pass), 2x2 blocks */
	img.width = img.height = 8;
	img.channels = 1;
	img.pixels = malloc(64);
	for (int i = 0; i < 64; i++)
		img.pixels[i] = (uint8_t) ((i * 37) % 251);
	REQUIRE(sp_corrupt(env, &img, "pixelate", 5, 0, SP_PROFILE_TINY, &o, &err) == SP_OK);
	for (int by = 0; by < 4; by++)
		for (int bx = 0; bx < 4; bx++)
		{
			const uint8_t *p = img.pixels + by * 16 + bx * 2;
			int			top = (p[0] + p[1] + 1) / 2,
						bot = (p[8] + p[9] + 1) / 2;
			int			want = (top + bot + 1) / 2;

			for (int j = 0; j < 2; j++)
				for (int i = 0; i < 2; i++)
					CHECK_EQ_INT(o.pixels[(by * 2 + j) * 8 + bx * 2 + i], want);
		}
	sp_image_free(env, &o);
	free(img.pixels);
}

SP_TEST(corrupt_box_resize_up_is_nearest)
{
	const sp_env *env = sp_env_default();
	uint8_t		src[6] = {10, 20, 30, 40, 50, 60},
				dst[6 * 9];
	sp_error	err;

	/* 3x2 -> 9x6: every source pixel becomes a 3x3 block */
	REQUIRE(sp_box_resize_u8(env, src, 3, 2, 1, dst, 9, 6, &err) == SP_OK);
	for (int y = 0; y < 6; y++)
		for (int x = 0; x < 9; x++)
			CHECK_EQ_INT(dst[y * 9 + x], src[(y / 3) * 3 + x / 3]);
}

SP_TEST(corrupt_zoom_factor_counts)
{
	static const int imagenet[5] = {12, 16, 11, 13, 11};
	static const int small[5] = {7, 12, 16, 21, 26};
	static const double imax[5] = {1.11, 1.15, 1.20, 1.24, 1.30};
	static const double smax[5] = {1.06, 1.11, 1.15, 1.20, 1.25};
	double		z[64];

	for (int s = 1; s <= 5; s++)
	{
		int			n = sp_corrupt_zoom_factors(SP_PROFILE_IMAGENET, s, z, 64);

		CHECK_EQ_INT(n, imagenet[s - 1]);
		CHECK(z[0] == 1.0);		/* the original is counted twice */
		CHECK_NEAR(z[n - 1], imax[s - 1], 1e-9);
		n = sp_corrupt_zoom_factors(SP_PROFILE_CIFAR, s, z, 64);
		CHECK_EQ_INT(n, small[s - 1]);
		CHECK_NEAR(z[n - 1], smax[s - 1], 1e-9);
		CHECK_EQ_INT(sp_corrupt_zoom_factors(SP_PROFILE_TINY, s, z, 64), small[s - 1]);
	}
	CHECK_EQ_INT(sp_corrupt_zoom_factors(SP_PROFILE_CIFAR, 0, z, 64), 0);
}

SP_TEST(corrupt_clipped_zoom_values)
{
	const sp_env *env = sp_env_default();
	double		src[16],
				dst[16];
	sp_error	err;

	for (int i = 0; i < 16; i++)
		src[i] = i;
	REQUIRE(sp_clipped_zoom(env, src, dst, 4, 4, 1.0, 0, &err) == SP_OK);
	for (int i = 0; i < 16; i++)
		CHECK_NEAR(dst[i], src[i], 1e-12);
	/* z=2: crop rows/cols 1..2, zoom to 4 corner-aligned: coordinate i/3 */
	REQUIRE(sp_clipped_zoom(env, src, dst, 4, 4, 2.0, 0, &err) == SP_OK);
	CHECK_NEAR(dst[0], 5.0, 1e-12);
	CHECK_NEAR(dst[15], 10.0, 1e-12);
	CHECK_NEAR(dst[1], 5.0 + 1.0 / 3.0, 1e-12);
	CHECK_NEAR(dst[4], 5.0 + 4.0 / 3.0, 1e-12);
}

SP_TEST(corrupt_defocus_kernel)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	static const double radii[][2] = {{.3, .4}, {1, .2}, {3, .1}, {6, .5}, {8, .5}, {10, .5}};

	for (unsigned i = 0; i < sizeof(radii) / sizeof(radii[0]); i++)
	{
		double	   *k;
		int			n = sp_corrupt_defocus_kernel(env, radii[i][0], radii[i][1], &k, &err);
		double		sum = 0,
					sym = 0;

		REQUIRE(n > 0);
		CHECK_EQ_INT(n, radii[i][0] <= 8 ? 17 : 21);
		for (int j = 0; j < n * n; j++)
		{
			sum += k[j];
			sym = fmax(sym, fabs(k[j] - k[(j % n) * n + j / n]));
		}
		/* exact for kernels away from the grid's border (float32 rounding) */
		CHECK_NEAR(sum, 1.0, radii[i][0] < 8 ? 1e-5 : 0.02);
		CHECK(sym < 1e-7);
		sp_free(env, k);
	}
}

/* The fast (prefix-sum) defocus path equals filter2D with the full kernel. */
SP_TEST(corrupt_defocus_fast_matches_filter2d)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				o;
	sp_error	err;
	sp_fimg		f,
				g;
	double	   *k;
	int			n,
				diff = 0;

	tc_make_image(&img, 50, 41, 3, 4);
	/* ImageNet s3: radius 6, alias .5 */
	REQUIRE(sp_corrupt(env, &img, "defocus_blur", 3, 0, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	REQUIRE(sp_fimg_from_image(env, &img, &f, &err) == SP_OK);
	REQUIRE(sp_fimg_alloc(env, &g, 50, 41, 3, &err) == SP_OK);
	n = sp_corrupt_defocus_kernel(env, 6, .5, &k, &err);
	REQUIRE(n == 17);
	for (int ch = 0; ch < 3; ch++)
		REQUIRE(sp_filter2d(env, sp_fimg_plane(&f, ch), sp_fimg_plane(&g, ch), 50, 41, k, n, n,
							SP_BORDER_REFLECT101, &err) == SP_OK);
	for (int i = 0; i < 50 * 41; i++)
		for (int ch = 0; ch < 3; ch++)
		{
			double		v = sp_fimg_plane(&g, ch)[i] * 255.0;
			int			want = v <= 0 ? 0 : v >= 255 ? 255 : (int) v;

			/* only float32-kernel rounding may move a value across an integer */
			CHECK(abs(want - o.pixels[3 * i + ch]) <= 1);
			diff += want != o.pixels[3 * i + ch];
		}
	CHECK_MSG(diff < 50 * 41 * 3 / 200, "%d differing samples", diff);
	sp_free(env, k);
	sp_fimg_free(env, &f);
	sp_fimg_free(env, &g);
	sp_image_free(env, &o);
	free(img.pixels);
}

SP_TEST(corrupt_motion_kernel)
{
	double		w[64];
	int			dx[64],
				dy[64];
	int			n = sp_motion_kernel(1, 1.0, 0.0, w, dx, dy, 64);
	double		z = 1 + exp(-0.5) + exp(-2.0);

	CHECK_EQ_INT(n, 3);
	CHECK_NEAR(w[0], 1 / z, 1e-12);
	CHECK_NEAR(w[1], exp(-0.5) / z, 1e-12);
	CHECK_NEAR(w[2], exp(-2.0) / z, 1e-12);
	for (int i = 0; i < 3; i++)
	{
		CHECK_EQ_INT(dx[i], i);
		CHECK_EQ_INT(dy[i], 0);
	}
	n = sp_motion_kernel(15, 8.0, 90.0, w, dx, dy, 64);
	CHECK_EQ_INT(n, 31);
	for (int i = 0; i < n; i++)
	{
		CHECK_EQ_INT(dx[i], 0);
		CHECK_EQ_INT(dy[i], i);
	}
	/* 45 degrees: ceil(i cos45 - 0.5) = 0, 1, 1, 2, 3 */
	n = sp_motion_kernel(2, 1.0, 45.0, w, dx, dy, 64);
	CHECK_EQ_INT(n, 5);
	CHECK_EQ_INT(dx[0], 0);
	CHECK_EQ_INT(dx[1], 1);
	CHECK_EQ_INT(dx[2], 1);
	CHECK_EQ_INT(dx[3], 2);
	CHECK_EQ_INT(dx[4], 3);
	CHECK_EQ_INT(dy[4], 3);
	/* weights sum to 1 and fall with distance */
	{
		double		s = 0;

		n = sp_motion_kernel(10, 3.0, -30.0, w, dx, dy, 64);
		for (int i = 0; i < n; i++)
			s += w[i];
		CHECK_NEAR(s, 1.0, 1e-12);
		CHECK(w[0] > w[5] && w[5] > w[20]);
	}
}

/* Residual statistics on a flat image far from clipping. */
static void
residual_stats(const sp_image *in, const sp_image *o, int ch, double *mean, double *sd,
			   double *frac_extreme)
{
	size_t		n = (size_t) in->width * in->height;
	double		s = 0,
				s2 = 0;
	long		ext = 0;

	for (size_t i = 0; i < n; i++)
	{
		double		r = (double) o->pixels[i * in->channels + ch] - in->pixels[i * in->channels + ch];

		s += r;
		s2 += r * r;
		ext += o->pixels[i * in->channels + ch] == 0 || o->pixels[i * in->channels + ch] == 255;
	}
	*mean = s / n;
	*sd = sqrt(s2 / n - *mean * *mean);
	*frac_extreme = (double) ext / n;
}

SP_TEST(corrupt_noise_statistics)
{
	const sp_env *env = sp_env_default();
	uint8_t		gray[3] = {128, 128, 128},
				dark[3] = {40, 40, 40};
	sp_image	img,
				img2,
				o;
	sp_error	err;
	double		mean,
				sd,
				fx;

	flat_image(&img, 224, 224, 3, gray);
	flat_image(&img2, 224, 224, 3, dark);

	/* gaussian s1 sigma .08: sd 20.4, mean -0.5 from truncation */
	REQUIRE(sp_corrupt(env, &img, "gaussian_noise", 1, 7, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	for (int ch = 0; ch < 3; ch++)
	{
		residual_stats(&img, &o, ch, &mean, &sd, &fx);
		CHECK_NEAR(sd, 0.08 * 255, 0.08 * 255 * 0.02);
		CHECK_NEAR(mean, -0.5, 0.3);
	}
	sp_image_free(env, &o);

	/* speckle s1 sigma .15 on x=.502: sd = .502 * .15 * 255 = 19.2 */
	REQUIRE(sp_corrupt(env, &img, "speckle_noise", 1, 7, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	residual_stats(&img, &o, 1, &mean, &sd, &fx);
	CHECK_NEAR(sd, 128.0 / 255 * 0.15 * 255, 0.4);
	sp_image_free(env, &o);

	/* impulse s3 amount .09: 9% of samples become 0 or 255, half each */
	REQUIRE(sp_corrupt(env, &img, "impulse_noise", 3, 7, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	{
		long		salt = 0,
					pepper = 0,
					other = 0;

		for (int i = 0; i < 224 * 224 * 3; i++)
		{
			salt += o.pixels[i] == 255;
			pepper += o.pixels[i] == 0;
			other += o.pixels[i] != 0 && o.pixels[i] != 255 && o.pixels[i] != 128;
		}
		CHECK_NEAR((double) (salt + pepper) / (224 * 224 * 3), 0.09, 0.004);
		CHECK_NEAR((double) salt / (salt + pepper), 0.5, 0.02);
		CHECK_EQ_INT(other, 0);
	}
	sp_image_free(env, &o);

	/* shot s1 c=60 (PTRS, lambda 30.1): var = x/c * 255^2 = 544 */
	REQUIRE(sp_corrupt(env, &img, "shot_noise", 1, 7, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	residual_stats(&img, &o, 0, &mean, &sd, &fx);
	CHECK_NEAR(sd * sd, (128.0 / 255) / 60 * 255 * 255, 544 * 0.04);
	sp_image_free(env, &o);

	/* shot s4 c=5 on x=40/255 (inversion, lambda .784): mean 40, var 2040 */
	REQUIRE(sp_corrupt(env, &img2, "shot_noise", 4, 7, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	residual_stats(&img2, &o, 2, &mean, &sd, &fx);
	CHECK_NEAR(mean, 0.0, 0.6);
	CHECK_NEAR(sd * sd, (40.0 / 255) / 5 * 255 * 255, 2040 * 0.04);
	/* outputs are multiples of 255/5 = 51 */
	{
		int			ok = 1;

		for (int i = 0; i < 224 * 224 * 3; i++)
			ok &= o.pixels[i] % 51 == 0;
		CHECK(ok);
	}
	sp_image_free(env, &o);
	free(img.pixels);
	free(img2.pixels);
}

SP_TEST(corrupt_canny_step_edge)
{
	const sp_env *env = sp_env_default();
	uint8_t		img[16 * 16],
				e[16 * 16];
	sp_error	err;
	int			count = 0;

	for (int y = 0; y < 16; y++)
		for (int x = 0; x < 16; x++)
			img[y * 16 + x] = x < 8 ? 10 : 200;
	REQUIRE(sp_corrupt_canny(env, img, 16, 16, 50, 150, e, &err) == SP_OK);
	for (int y = 0; y < 16; y++)
		for (int x = 0; x < 16; x++)
		{
			count += e[y * 16 + x] == 255;
			if (e[y * 16 + x])
				CHECK_EQ_INT(x, 7);	/* NMS keeps the left of two equal maxima */
		}
	CHECK_EQ_INT(count, 16);
	/* a flat image has no edges */
	memset(img, 90, sizeof(img));
	REQUIRE(sp_corrupt_canny(env, img, 16, 16, 50, 150, e, &err) == SP_OK);
	count = 0;
	for (int i = 0; i < 256; i++)
		count += e[i] != 0;
	CHECK_EQ_INT(count, 0);
}

SP_TEST(corrupt_distance_chamfer)
{
	const sp_env *env = sp_env_default();
	uint8_t		src[9 * 9];
	float		d[9 * 9];
	sp_error	err;

	memset(src, 255, sizeof(src));
	src[4 * 9 + 4] = 0;
	REQUIRE(sp_corrupt_distance_l2(env, src, 9, 9, d, &err) == SP_OK);
	CHECK_NEAR(d[4 * 9 + 4], 0.0, 1e-6);
	CHECK_NEAR(d[4 * 9 + 5], 1.0, 1e-4);
	CHECK_NEAR(d[5 * 9 + 5], 1.4, 1e-4);
	CHECK_NEAR(d[5 * 9 + 6], 2.1969, 1e-4);
	CHECK_NEAR(d[4 * 9 + 6], 2.0, 1e-4);
	CHECK_NEAR(d[6 * 9 + 6], 2.8, 1e-4);
	CHECK_NEAR(d[0], 4 * 1.4 * 1.0, 1e-4);	/* (4,4) diagonal steps */
	/* no zero pixel: every distance is large */
	memset(src, 255, sizeof(src));
	REQUIRE(sp_corrupt_distance_l2(env, src, 9, 9, d, &err) == SP_OK);
	CHECK(d[40] > 1000.0f);
}

SP_TEST(corrupt_plasma_fractal_range)
{
	const sp_env *env = sp_env_default();
	sp_rng		r;
	double		m[64 * 64],
				mn = 1,
				mx = 0;
	sp_error	err;

	sp_rng_seed(&r, 1, 1);
	REQUIRE(sp_plasma_fractal(env, &r, 64, 64, 2.0, m, &err) == SP_OK);
	for (int i = 0; i < 64 * 64; i++)
	{
		mn = fmin(mn, m[i]);
		mx = fmax(mx, m[i]);
	}
	CHECK_NEAR(mn, 0.0, 1e-12);
	CHECK_NEAR(mx, 1.0, 1e-12);
	CHECK_EQ_INT(sp_plasma_fractal(env, &r, 48, 48, 2.0, m, &err), SP_ERR_INVALID_ARG);
	/* rectangular torus: 64 x 16 */
	REQUIRE(sp_plasma_fractal(env, &r, 64, 16, 2.0, m, &err) == SP_OK);
	mn = 1, mx = 0;
	for (int i = 0; i < 64 * 16; i++)
	{
		mn = fmin(mn, m[i]);
		mx = fmax(mx, m[i]);
	}
	CHECK_NEAR(mn, 0.0, 1e-12);
	CHECK_NEAR(mx, 1.0, 1e-12);
}

/* fog never exceeds the image maximum: (x + tF) * max / (max + t) <= max */
SP_TEST(corrupt_fog_bounded)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				o;
	sp_error	err;
	int			mx = 0,
				omx = 0;

	tc_make_image(&img, 64, 64, 3, 8);
	for (int i = 0; i < 64 * 64 * 3; i++)
		mx = img.pixels[i] > mx ? img.pixels[i] : mx;
	for (int s = 1; s <= 5; s++)
	{
		REQUIRE(sp_corrupt(env, &img, "fog", s, 3, SP_PROFILE_AUTO, &o, &err) == SP_OK);
		for (int i = 0; i < 64 * 64 * 3; i++)
			omx = o.pixels[i] > omx ? o.pixels[i] : omx;
		sp_image_free(env, &o);
	}
	CHECK(omx <= mx);
	free(img.pixels);
}

/* jpeg_compression is exactly encode(quality) + decode */
SP_TEST(corrupt_jpeg_matches_codec)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				o,
				dec;
	sp_error	err;
	uint8_t    *buf;
	size_t		len;

	tc_make_image(&img, 48, 40, 3, 6);
	REQUIRE(sp_corrupt(env, &img, "jpeg_compression", 2, 0, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	REQUIRE(sp_jpeg_encode(env, &img, 18, 0, &buf, &len, &err) == SP_OK);
	REQUIRE(sp_image_decode(env, buf, len, &dec, &err) == SP_OK);
	CHECK(memcmp(o.pixels, dec.pixels, 48 * 40 * 3) == 0);
	CHECK(tc_mad(&o, &img) > 1.0);
	sp_free(env, buf);
	sp_image_free(env, &o);
	sp_image_free(env, &dec);
	free(img.pixels);
}

/* frost texture: bluish white (B >= G >= R), bright but not saturated */
SP_TEST(corrupt_frost_texture_stats)
{
	const sp_env *env = sp_env_default();
	uint8_t		black[3] = {0, 0, 0};
	sp_image	img,
				o;
	sp_error	err;
	double		s[3] = {0};

	/* on black, frost s1 (ImageNet) is 0.4 * texture */
	flat_image(&img, 224, 224, 3, black);
	REQUIRE(sp_corrupt(env, &img, "frost", 1, 5, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	for (int i = 0; i < 224 * 224; i++)
		for (int k = 0; k < 3; k++)
			s[k] += o.pixels[3 * i + k] / (224.0 * 224.0 * 0.4);
	if (sp_unit_verbose)
		fprintf(stderr, "  frost texture mean RGB %.1f %.1f %.1f\n", s[0], s[1], s[2]);
	CHECK(s[2] >= s[1] && s[1] >= s[0]);
	CHECK(s[2] > 90 && s[2] < 200);
	sp_image_free(env, &o);
	free(img.pixels);
}

/*
 * shot_noise's tabulated inversion draws exactly what sp_rng_poisson_inv
 * draws from the same stream (one uniform per element for lambda < 10).
 */
SP_TEST(corrupt_shot_table_matches_sampler)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				o;
	sp_error	err;
	sp_rng		r;
	const double c = 5.0;		/* ImageNet s4: lambda = x * 5 < 10 */
	int			ok = 1;

	tc_make_image(&img, 40, 30, 3, 12);
	REQUIRE(sp_corrupt(env, &img, "shot_noise", 4, 99, SP_PROFILE_IMAGENET, &o, &err) == SP_OK);
	sp_rng_seed(&r, 99, ((uint64_t) SP_C_SHOT_NOISE << 8) | 4);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 40 * 30; i++)
		{
			int			v = img.pixels[3 * i + k];
			double		lam = ((double) v / 255.0) * c;
			int64_t		draw = v == 0 ? 0 : sp_rng_poisson_inv(&r, lam, exp(-lam));
			double		x = (double) draw / c * 255.0;
			int			want = x >= 255.0 ? 255 : (int) x;

			ok &= o.pixels[3 * i + k] == want;
		}
	CHECK(ok);
	sp_image_free(env, &o);
	free(img.pixels);
}

/*
 * glass_blur with delta 1: randint(-1, 1) is -1 or 0, so the one-way copy
 * takes each pixel from itself or its up/left neighbours, which the
 * bottom-up, right-to-left loop has not modified yet.  CIFAR s1 has sigma
 * .05 (a 1-tap Gaussian), so outputs are exactly input pixels.
 */
SP_TEST(corrupt_glass_one_way_copy)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				o;
	sp_error	err;
	int			ok = 1,
				moved = 0;

	tc_make_image(&img, 32, 32, 3, 13);
	REQUIRE(sp_corrupt(env, &img, "glass_blur", 1, 4, SP_PROFILE_CIFAR, &o, &err) == SP_OK);
	for (int y = 0; y < 32; y++)
		for (int x = 0; x < 32; x++)
		{
			const uint8_t *q = o.pixels + (y * 32 + x) * 3;
			int			found = 0;

			for (int dy = -1; dy <= 0; dy++)
				for (int dx = -1; dx <= 0; dx++)
				{
					int			yy = y + dy,
								xx = x + dx;

					if (yy >= 0 && xx >= 0 && memcmp(q, img.pixels + (yy * 32 + xx) * 3, 3) == 0)
						found = 1;
				}
			ok &= found;
			moved += memcmp(q, img.pixels + (y * 32 + x) * 3, 3) != 0;
		}
	CHECK(ok);
	/* rows/cols 2..31 are visited; about 3/4 of them copy a neighbour */
	CHECK(moved > 30 * 30 / 2);
	sp_image_free(env, &o);
	free(img.pixels);
}

/* Images over env->max_pixels are refused before any work. */
SP_TEST(corrupt_respects_pixel_limit)
{
	sp_env		env = *sp_env_default();
	sp_image	img,
				o;
	sp_error	err;

	env.max_pixels = 100;
	tc_make_image(&img, 20, 20, 3, 1);
	CHECK_EQ_INT(sp_corrupt(&env, &img, "fog", 2, 0, SP_PROFILE_AUTO, &o, &err), SP_ERR_LIMIT);
	CHECK(o.pixels == NULL);
	free(img.pixels);
}

/* The separable filter (strips, folded long kernels) equals the definition. */
SP_TEST(corrupt_gaussian_filter_matches_definition)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	const int	w = 37,
				h = 6;
	static const sp_border modes[] = {SP_BORDER_REFLECT, SP_BORDER_REFLECT101, SP_BORDER_NEAREST,
	SP_BORDER_CONSTANT};
	static const double sigmas[] = {0.7, 2.5, 9.0};	/* 9.0: kernel longer than 2h */

	for (unsigned m = 0; m < 4; m++)
		for (unsigned si = 0; si < 3; si++)
		{
			double		in[37 * 6],
						out[37 * 6],
					   *k;
			int			r = sp_gaussian_kernel(env, sigmas[si], 3.0, &k, &err);
			double		maxerr = 0;

			REQUIRE(r > 0);
			for (int i = 0; i < w * h; i++)
				out[i] = in[i] = sin(i * 0.37) + (i % 7) * 0.1;
			REQUIRE(sp_gaussian_filter(env, out, w, h, sigmas[si], 3.0, modes[m], &err) == SP_OK);
			for (int y = 0; y < h; y++)
				for (int x = 0; x < w; x++)
				{
					double		s = 0;

					for (int j = -r; j <= r; j++)
						for (int i = -r; i <= r; i++)
						{
							long		yy = sp_border_index(y + j, h, modes[m]),
										xx = sp_border_index(x + i, w, modes[m]);

							if (yy >= 0 && xx >= 0)
								s += k[j + r] * k[i + r] * in[yy * w + xx];
						}
					maxerr = fmax(maxerr, fabs(s - out[y * w + x]));
				}
			CHECK_MSG(maxerr < 1e-12, "mode %u sigma %g: max error %g", m, sigmas[si], maxerr);
			sp_free(env, k);
		}
	/* scipy's reflect is half-sample symmetric, reflect-101 whole-sample */
	CHECK_EQ_INT(sp_border_index(-1, 5, SP_BORDER_REFLECT), 0);
	CHECK_EQ_INT(sp_border_index(5, 5, SP_BORDER_REFLECT), 4);
	CHECK_EQ_INT(sp_border_index(-1, 5, SP_BORDER_REFLECT101), 1);
	CHECK_EQ_INT(sp_border_index(5, 5, SP_BORDER_REFLECT101), 3);
	CHECK_EQ_INT(sp_border_index(-13, 5, SP_BORDER_REFLECT), 2);
	CHECK_EQ_INT(sp_border_index(-7, 5, SP_BORDER_NEAREST), 0);
	CHECK_EQ_INT(sp_border_index(9, 5, SP_BORDER_CONSTANT), -1);
	CHECK_EQ_INT(sp_border_index(3, 1, SP_BORDER_REFLECT101), 0);
}

/*
 * sp_motion_blur_u8 against ImageMagick 6.9.11-60 Q16 itself (Debian 12's,
 * the version the reference ran through Wand): a 16x16 RGB image with
 * pixel (x, y, c) = (37x + 91y + 53c + 7xy) mod 256, written as an 8-bit PNG
 * and blurred with `convert-im6.q16 in.png -motion-blur 6x2+30 out.png` and
 * `-motion-blur 10x3-20`; the 768 bytes of each output are pinned here.  IM
 * rounds to its 16-bit quantum and the 8-bit PNG holds quantum / 257
 * truncated: rounding that last step (as before) was 1 too high on about half
 * of the samples.
 */
static const char *im_motion_6x2p30 =
	"4c6667595a8b4d7ea7719acf8dc2acb59f6392565449476f396297558abf7db281a5da1ccc9b38a1325863496f70557b"
	"6192ba8cb49eae985d925754514e774871a66ba0d59acf9dc9973f8d3962275c91568bc084b987aadf24c5af40d4694e"
	"b49e629f636064628a628bc08cc18fc290389139623a6499659ace9bd099b59a3b683c713d70a5689cd188bca699cd62"
	"5c5982618abf92c795cf9d44a14c76497eb386bb85c38d2d95356a3d72a77aafc4b7cd768c7e5d355a8e597fb36c92c6"
	"7bb07ebf8d369c446d537db28cc08bb4993a74497e588da69cb067c06a4a79598e689db2aac46be27c4dbf507580658b"
	"78a954365f9475aa78c08a36a04075568ba5a1b66c817757386ca1839781ad58386e4d826297b09fd46eccb646e4795e"
	"4e78ad95ae947c7c51396ea38ba489bd7347846499819680b35d3d7a5a8e768cc1a953886f4e835c91c68ec3ada8dd72"
	"a674a5944069588da7967b7c6b40746499ad9c867c6b4b806f83b8a85287765586768eb8a65b90704f835084b96da1d6"
	"9e3f746a9fb4aa93897f5f948a9f897f74544a7e948abf6a6095746a7fb4aa5589805c746d929387629677477b40669a"
	"6d876cb46a3f91718a82b76e5f94747186bab86297946f8986af656296737089b2af659695597f947a54886d3e54395f"
	"b167909474898d776c705084699e884d8261657aafb35e9296568b8f856e72a3686b959698829ba7866c947e64b84d32"
	"8a6a7e89736974546974a9535e936e5e93bc487dae647da6b16798a367909c51828e517a84846e659979578b757db146"
	"78ad636a9f5e70a550629756689d485a8e4e61958b52869c598e83957b94a67a7b8d738ba070717d578b7d4e825076aa"
	"5c86655f947d578c4c659a445d92526b9f4a639458729a50699a5f77a0566c8564727358738d5c8a6f498f7444644a6e"
	"b971a67778ac5085b6568b9863984a6a9e5676a75d7d8a6a8987708f9d7d999a837cb18c7a646da080559f895ecc6136"
	"9f6196b66297937dae9f7e8b649997659a5c80b15d818e789c9a799d5f94b46194927cac9e7e8774a97e77ac36a7dc11";
static const char *im_motion_10x3m20 =
	"4673996389a57995a6859698868a807a7461645977497683668c837b97778595618186466e6a634d467b22578c2b6095"
	"719ec491b79bab8e62815658494d7c41739c6697b58bb78caa97538a6a4a5b6b705a5f944b807c669b5b7a766f844479"
	"b3823c7c366a2f64995d92c58cc09eba9b639465525e5b81547aaf72a78b9e9b56907050797176996196b07874bc8444"
	"3a6fa470a5bda5bd8cbe8d448d477a477aaf7aaf8faf935b936351665f856983b899b3978ca662748e568ea8709cb67e"
	"a0b47abb814a895286598ea695ad7db5843b8c45784d7fb488bb9aaba46d877d6751849d82b496aba4828f86a06395af"
	"7a7f7451829690a46ab279418750855e93ab9dba8987974f5a5f916ca182ac8f61976b6e6d72a46a9f988b877d9c5c8e"
	"7385869a9b67787d7256879b83b0779f8c55716a827f9867ac7c3690497e5b90ac9e8192a15d61965e93ba827ecd9555"
	"8682836a63757791929e767792576b738786a36a6f864f806a83b0a16d93913f746e88a4af9088ad8a5298b279acc68e"
	"80587e7b7daea068928b618784868270716a586c9f908f8b7b7d72657fa8a0758f9258726d9fb9a7a1bb998fa973a5bf"
	"7d8a83b4765687718277a874699474698fa0958d92875f92898a847a7e756884b6a47cae945c8f679b955b9087376c9e"
	"b4808d89828f8b85817e5e84808d89857f605c82928f878c875f948e908c8388685a8f9f878388625b90575388703065"
	"8d5d9093577376606d70a3666a86707380b57f79965d838f928e8b8b6c928f679c9444797f77738e564f864e4aa16929"
	"878c606a9b6e78a57162887d63958964806a7480b384689d6b689da969859573849d7e6a916f66a1824aa07e45809a62"
	"5c8e636ca1545687596b98645c7e77648e8a6c796e7f8d81947d637886769079577987687e805e639577659775477993"
	"968f6c487a8b5f9480507f8f6c994c648658709d50698b5d76a3546c926478ad5d6a9f71726e705e578a605c8e804072"
	"65628e89828b7a747d9c956e54878f72a748679a6685ba5a78ad7a96796f875c90a15489a661968b5387905753b17939";

static int
hexval(char ch)
{
	return ch <= '9' ? ch - '0' : ch - 'a' + 10;
}

SP_TEST(corrupt_motion_blur_matches_imagemagick)
{
	enum { W = 16, H = 16 };
	uint8_t		src[W * H * 3],
				dst[W * H * 3];
	const struct
	{
		int			radius;
		double		sigma,
					angle;
		const char *hex;
	}			cases[] = {{6, 2.0, 30.0, NULL}, {10, 3.0, -20.0, NULL}};
	sp_error	err;

	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			for (int c = 0; c < 3; c++)
				src[(y * W + x) * 3 + c] = (uint8_t) ((x * 37 + y * 91 + c * 53 + x * y * 7) % 256);
	for (int k = 0; k < 2; k++)
	{
		const char *hex = k == 0 ? im_motion_6x2p30 : im_motion_10x3m20;
		int			differ = 0;

		REQUIRE(strlen(hex) == 2 * sizeof dst);
		REQUIRE(sp_motion_blur_u8(sp_env_default(), src, dst, W, H, 3, cases[k].radius, cases[k].sigma,
								  cases[k].angle, &err) == SP_OK);
		for (size_t i = 0; i < sizeof dst; i++)
			differ += dst[i] != (uint8_t) (hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
		CHECK_MSG(differ == 0, "case %d: %d of %zu samples differ from ImageMagick", k, differ, sizeof dst);
	}
}

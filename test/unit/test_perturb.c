/*
 * test_perturb.c: the ImageNet-P sequences (src/core/robust/perturb.c): registry
 * and frame counts per profile, clean frame 0 of the noise sequences and
 * identity frames of the temporal ones, determinism, seeds, independent
 * noise frames, smoothness of temporal sequences, sizes, gray inputs,
 * hand-checked translate pixels, random-access order, errors, interrupts.
 */
#include "unit.h"
#include "robust/perturb.h"

#include <stdlib.h>

/* from test_corrupt.c: synthetic natural-looking image, mean |a - b| */
extern void tc_make_image(sp_image *img, int w, int h, int channels, unsigned salt);
extern double tc_mad(const sp_image *a, const sp_image *b);

static int
same_image(const sp_image *a, const sp_image *b)
{
	return a->width == b->width && a->height == b->height && a->channels == b->channels &&
		memcmp(a->pixels, b->pixels, (size_t) a->width * a->height * a->channels) == 0;
}

static int
frame_count(const char *name, int w)
{
	const sp_env *env = sp_env_default();
	sp_image	img;
	sp_perturb_seq *s = NULL;
	sp_error	err;
	int			n = -1;

	tc_make_image(&img, w, w, 3, 1);
	if (sp_perturb_begin(env, &img, name, 0, SP_PROFILE_AUTO, 1, &s, &err) == SP_OK)
		n = sp_perturb_seq_length(s);
	sp_perturb_end(s);
	free(img.pixels);
	return n;
}

SP_TEST(perturb_registry)
{
	int			test = 0,
				val = 0,
				noise = 0;

	CHECK_EQ_INT(sp_perturbation_count(), 14);
	for (int i = 0; i < sp_perturbation_count(); i++)
	{
		const sp_perturbation_info *p = sp_perturbation_get(i);

		REQUIRE(p);
		CHECK(sp_perturbation_lookup(p->name) == p);
		CHECK_EQ_INT(p->id, i);
		test += !p->validation;
		val += p->validation;
		noise += p->noise;
	}
	CHECK_EQ_INT(test, 10);
	CHECK_EQ_INT(val, 4);
	CHECK_EQ_INT(noise, 3);
	CHECK(sp_perturbation_get(14) == NULL);
	CHECK(sp_perturbation_get(-1) == NULL);
	CHECK(sp_perturbation_lookup("frost") == NULL);
	CHECK(sp_perturbation_lookup("Rotate") == NULL);
	CHECK(sp_perturbation_lookup(NULL) == NULL);
	CHECK(sp_perturbation_lookup("shear")->validation);
	CHECK(!sp_perturbation_lookup("tilt")->validation);
	CHECK(sp_perturbation_lookup("speckle_noise")->noise);
}

SP_TEST(perturb_frame_counts)
{
	for (int i = 0; i < sp_perturbation_count(); i++)
	{
		const sp_perturbation_info *p = sp_perturbation_get(i);
		int			im = !strcmp(p->name, "translate") ? 41 : 31;
		int			cf = !strcmp(p->name, "translate") ? 16 :
			!strcmp(p->name, "motion_blur") ? 21 : 31;

		CHECK_EQ_INT(sp_perturbation_frames(p, SP_PROFILE_IMAGENET), im);
		CHECK_EQ_INT(sp_perturbation_frames(p, SP_PROFILE_TINY), 31);
		CHECK_EQ_INT(sp_perturbation_frames(p, SP_PROFILE_CIFAR), cf);
		CHECK_EQ_INT(sp_perturbation_frames(p, SP_PROFILE_AUTO), 0);
	}
	/* AUTO picks the profile by size, as for corruptions */
	CHECK_EQ_INT(frame_count("translate", 224), 41);
	CHECK_EQ_INT(frame_count("translate", 64), 31);
	CHECK_EQ_INT(frame_count("translate", 32), 16);
	CHECK_EQ_INT(frame_count("translate", 28), 16);
	CHECK_EQ_INT(frame_count("motion_blur", 32), 21);
	CHECK_EQ_INT(frame_count("motion_blur", 64), 31);
	CHECK_EQ_INT(frame_count("rotate", 224), 31);
}

/* Noise: frame 0 clean, later frames independent, deterministic, seeded. */
SP_TEST(perturb_noise_frames)
{
	const sp_env *env = sp_env_default();
	const char *names[] = {"gaussian_noise", "shot_noise", "speckle_noise"};
	sp_image	img;
	sp_error	err;

	tc_make_image(&img, 32, 32, 3, 3);
	for (int n = 0; n < 3; n++)
	{
		sp_image	f0,
					f1,
					f2,
					f1b,
					f1s;
		double		mad[4];

		REQUIRE(sp_perturb_frame(env, &img, names[n], 0, 5, SP_PROFILE_AUTO, 1, &f0, &err) == SP_OK);
		REQUIRE(sp_perturb_frame(env, &img, names[n], 1, 5, SP_PROFILE_AUTO, 1, &f1, &err) == SP_OK);
		REQUIRE(sp_perturb_frame(env, &img, names[n], 2, 5, SP_PROFILE_AUTO, 1, &f2, &err) == SP_OK);
		REQUIRE(sp_perturb_frame(env, &img, names[n], 1, 5, SP_PROFILE_AUTO, 1, &f1b, &err) == SP_OK);
		REQUIRE(sp_perturb_frame(env, &img, names[n], 1, 6, SP_PROFILE_AUTO, 1, &f1s, &err) == SP_OK);
		CHECK_MSG(same_image(&f0, &img), "%s frame 0 is not clean", names[n]);
		CHECK_MSG(!same_image(&f1, &img), "%s frame 1 is clean", names[n]);
		CHECK_MSG(!same_image(&f1, &f2), "%s frames 1 and 2 are equal", names[n]);
		CHECK_MSG(same_image(&f1, &f1b), "%s not deterministic", names[n]);
		CHECK_MSG(!same_image(&f1, &f1s), "%s seed ignored", names[n]);
		/* difficulty raises the noise level */
		for (int d = 1; d <= 3; d++)
		{
			sp_image	fd;

			REQUIRE(sp_perturb_frame(env, &img, names[n], 3, 5, SP_PROFILE_AUTO, d, &fd, &err) == SP_OK);
			mad[d] = tc_mad(&fd, &img);
			sp_image_free(env, &fd);
		}
		CHECK_MSG(mad[1] < mad[2] && mad[2] < mad[3], "%s: %g %g %g", names[n], mad[1], mad[2], mad[3]);
		/* two noise frames are about as far from each other as from the clean one */
		CHECK_MSG(tc_mad(&f1, &f2) > 0.8 * tc_mad(&f1, &img), "%s frames correlated", names[n]);
		sp_image_free(env, &f0);
		sp_image_free(env, &f1);
		sp_image_free(env, &f2);
		sp_image_free(env, &f1b);
		sp_image_free(env, &f1s);
	}
	free(img.pixels);
}

/* Gaussian noise level matches the CIFAR-P sigma .02 / .04 / .06. */
SP_TEST(perturb_noise_sigma)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				f;
	sp_error	err;
	const double sig[3] = {.02, .04, .06};

	REQUIRE(sp_image_alloc(env, &img, 40, 40, 3, &err) == SP_OK);
	memset(img.pixels, 128, 40 * 40 * 3);
	for (int d = 1; d <= 3; d++)
	{
		double		s2 = 0.0;

		REQUIRE(sp_perturb_frame(env, &img, "gaussian_noise", 4, 9, SP_PROFILE_AUTO, d, &f, &err) == SP_OK);
		for (int i = 0; i < 40 * 40 * 3; i++)
		{
			/* truncation shifts by about -0.5 */
			double		r = (f.pixels[i] + 0.5 - 128.0) / 255.0;

			s2 += r * r;
		}
		CHECK_NEAR(sqrt(s2 / (40 * 40 * 3)), sig[d - 1], sig[d - 1] * 0.08);
		sp_image_free(env, &f);
	}
	sp_image_free(env, &img);
}

/* Temporal sequences: identity frames, determinism, smoothness. */
SP_TEST(perturb_temporal)
{
	const sp_env *env = sp_env_default();
	sp_image	img;
	sp_error	err;
	const int	sizes[3] = {32, 64, 224};

	for (int si = 0; si < 3; si++)
	{
		int			S = sizes[si];

		tc_make_image(&img, S, S, 3, 7);
		for (int i = 0; i < sp_perturbation_count(); i++)
		{
			const sp_perturbation_info *p = sp_perturbation_get(i);
			sp_image   *fr = NULL,
					   *fr2 = NULL;
			int			n = 0,
						n2 = 0,
						ident = -1;
			double		step = 0.0,
						far;

			if (p->noise)
				continue;
			/* at 224 only the cheap sequences: the test must stay quick */
			if (S == 224 && (p->id == SP_P_SPATTER || p->id == SP_P_SNOW || p->id == SP_P_MOTION_BLUR))
				continue;
			REQUIRE(sp_perturb_sequence(env, &img, p->name, 3, SP_PROFILE_AUTO, 1, &fr, &n, &err) == SP_OK);
			REQUIRE(sp_perturb_sequence(env, &img, p->name, 3, SP_PROFILE_AUTO, 2, &fr2, &n2, &err) == SP_OK);
			CHECK_EQ_INT(n, n2);
			for (int j = 0; j < n; j++)
			{
				CHECK(fr[j].width == S && fr[j].height == S && fr[j].channels == 3);
				/* deterministic, and difficulty does not change temporal frames */
				CHECK_MSG(same_image(&fr[j], &fr2[j]), "%s frame %d", p->name, j);
				if (j + 1 < n)
					step += tc_mad(&fr[j], &fr[j + 1]);
			}
			step /= (n - 1);
			far = tc_mad(&fr[0], &fr[n - 1]);
			if (getenv("TP_VERBOSE"))
				fprintf(stderr, "%s %d: step %.3f far %.3f\n", p->name, S, step, far);
			CHECK_MSG(step > 0.0, "%s at %d is constant", p->name, S);
			CHECK_MSG(step < 0.6 * far, "%s at %d: mean step %g, first-last %g", p->name, S, step, far);
			switch (p->id)
			{
				case SP_P_ZOOM_BLUR:
					ident = 0;
					break;
				case SP_P_TRANSLATE:
					ident = S == 32 ? 7 : S == 64 ? 15 : 20;
					break;
				case SP_P_ROTATE:
				case SP_P_TILT:
				case SP_P_SHEAR:
					ident = 15;
					break;
				case SP_P_SCALE:
					ident = S == 32 ? 15 : 24;
					break;
				default:
					break;
			}
			if (ident >= 0)
				CHECK_MSG(same_image(&fr[ident], &img), "%s frame %d at %d is not the clean image",
						  p->name, ident, S);
			else
				CHECK_MSG(!same_image(&fr[0], &img), "%s frame 0 is clean", p->name);
			sp_perturb_free_frames(env, fr, n);
			sp_perturb_free_frames(env, fr2, n2);
		}
		free(img.pixels);
	}
}

/* The brightness sweep: frame 15 shifts V by 0, earlier frames darken. */
SP_TEST(perturb_brightness_direction)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				f0,
				f30;
	sp_error	err;
	double		m0 = 0,
				m30 = 0,
				mi = 0;

	tc_make_image(&img, 32, 32, 3, 4);
	REQUIRE(sp_perturb_frame(env, &img, "brightness", 0, 0, SP_PROFILE_AUTO, 1, &f0, &err) == SP_OK);
	REQUIRE(sp_perturb_frame(env, &img, "brightness", 30, 0, SP_PROFILE_AUTO, 1, &f30, &err) == SP_OK);
	for (int i = 0; i < 32 * 32 * 3; i++)
	{
		m0 += f0.pixels[i];
		m30 += f30.pixels[i];
		mi += img.pixels[i];
	}
	CHECK(m0 < mi && mi < m30);
	sp_image_free(env, &f0);
	sp_image_free(env, &f30);
	free(img.pixels);
}

/* Translate by hand: CIFAR frame 8 shifts right by 1 px, frame 15 by 8 px with black fill. */
SP_TEST(perturb_translate_values)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				f;
	sp_error	err;
	int			ok = 1;

	tc_make_image(&img, 32, 32, 3, 5);
	REQUIRE(sp_perturb_frame(env, &img, "translate", 8, 0, SP_PROFILE_AUTO, 1, &f, &err) == SP_OK);
	for (int y = 0; y < 32; y++)
		for (int x = 1; x < 32; x++)
			for (int k = 0; k < 3; k++)
				ok &= f.pixels[(y * 32 + x) * 3 + k] == img.pixels[(y * 32 + x - 1) * 3 + k];
	CHECK(ok);
	sp_image_free(env, &f);
	REQUIRE(sp_perturb_frame(env, &img, "translate", 15, 0, SP_PROFILE_AUTO, 1, &f, &err) == SP_OK);
	ok = 1;
	for (int y = 0; y < 32; y++)
		for (int x = 0; x < 32; x++)
			for (int k = 0; k < 3; k++)
				ok &= f.pixels[(y * 32 + x) * 3 + k] == (x < 8 ? 0 : img.pixels[(y * 32 + x - 8) * 3 + k]);
	CHECK(ok);
	sp_image_free(env, &f);
	free(img.pixels);

	/* ImageNet profile: shift -20 px leaves 16 mirrored columns, then 4 black ones */
	tc_make_image(&img, 224, 224, 1, 5);
	REQUIRE(sp_perturb_frame(env, &img, "translate", 0, 0, SP_PROFILE_AUTO, 1, &f, &err) == SP_OK);
	ok = 1;
	for (int y = 0; y < 224; y++)
		for (int x = 0; x < 224; x++)
		{
			int			sx = x + 20,
						want;

			want = sx < 224 ? img.pixels[y * 224 + sx] :
				sx < 240 ? img.pixels[y * 224 + (447 - sx)] : 0;
			ok &= f.pixels[y * 224 + x] == want;
		}
	CHECK(ok);
	CHECK_EQ_INT(f.channels, 1);
	sp_image_free(env, &f);
	/* and at 112 px the shift scales to (i - 20) / 2 */
	free(img.pixels);
	tc_make_image(&img, 112, 112, 1, 5);
	REQUIRE(sp_perturb_frame(env, &img, "translate", 22, 0, SP_PROFILE_IMAGENET, 1, &f, &err) == SP_OK);
	ok = 1;
	for (int y = 0; y < 112; y++)
		for (int x = 1; x < 112; x++)
			ok &= f.pixels[y * 112 + x] == img.pixels[y * 112 + x - 1];
	CHECK(ok);
	sp_image_free(env, &f);
	free(img.pixels);
}

/* Gray in, gray out: equal to the luma of the RGB run on (v, v, v). */
SP_TEST(perturb_gray)
{
	const sp_env *env = sp_env_default();
	sp_image	g,
				rgb;
	sp_error	err;

	tc_make_image(&g, 21, 13, 1, 6);
	REQUIRE(sp_image_alloc(env, &rgb, 21, 13, 3, &err) == SP_OK);
	for (int i = 0; i < 21 * 13; i++)
		rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = g.pixels[i];
	for (int i = 0; i < sp_perturbation_count(); i++)
	{
		const sp_perturbation_info *p = sp_perturbation_get(i);

		for (int fr = 0; fr < 16; fr += 5)
		{
			sp_image	a,
						b;
			int			ok = 1;

			REQUIRE(sp_perturb_frame(env, &g, p->name, fr, 2, SP_PROFILE_AUTO, 1, &a, &err) == SP_OK);
			REQUIRE(sp_perturb_frame(env, &rgb, p->name, fr, 2, SP_PROFILE_AUTO, 1, &b, &err) == SP_OK);
			CHECK(a.width == 21 && a.height == 13 && a.channels == 1);
			CHECK(b.width == 21 && b.height == 13 && b.channels == 3);
			/* channel-wise sequences: exactly the gray of the equal-channel run */
			if (p->id != SP_P_GAUSSIAN_NOISE && p->id != SP_P_SHOT_NOISE && p->id != SP_P_SPECKLE_NOISE &&
				p->id != SP_P_SNOW && p->id != SP_P_SPATTER && p->id != SP_P_BRIGHTNESS)
				for (int j = 0; j < 21 * 13; j++)
					ok &= a.pixels[j] == b.pixels[3 * j] && b.pixels[3 * j] == b.pixels[3 * j + 2];
			CHECK_MSG(ok, "%s frame %d", p->name, fr);
			sp_image_free(env, &a);
			sp_image_free(env, &b);
		}
	}
	sp_image_free(env, &rgb);
	free(g.pixels);
}

/* Random access gives the same bytes as the sequence, in any order. */
SP_TEST(perturb_random_access)
{
	const sp_env *env = sp_env_default();
	const char *names[] = {"zoom_blur", "spatter", "snow", "shot_noise"};
	sp_image	img;
	sp_error	err;

	tc_make_image(&img, 40, 30, 3, 8);
	for (int n = 0; n < 4; n++)
	{
		sp_image   *fr = NULL;
		int			nf = 0;
		sp_perturb_seq *s = NULL;
		const int	order[] = {7, 2, 2, 30, 0, 8};

		REQUIRE(sp_perturb_sequence(env, &img, names[n], 11, SP_PROFILE_AUTO, 1, &fr, &nf, &err) == SP_OK);
		REQUIRE(sp_perturb_begin(env, &img, names[n], 11, SP_PROFILE_AUTO, 1, &s, &err) == SP_OK);
		for (int k = 0; k < 6; k++)
		{
			sp_image	f;

			REQUIRE(sp_perturb_seq_frame(s, order[k], &f, &err) == SP_OK);
			CHECK_MSG(same_image(&f, &fr[order[k]]), "%s frame %d", names[n], order[k]);
			sp_image_free(env, &f);
		}
		sp_perturb_end(s);
		sp_perturb_free_frames(env, fr, nf);
	}
	free(img.pixels);
}

/* Tiny and odd shapes never fail. */
SP_TEST(perturb_small_shapes)
{
	const sp_env *env = sp_env_default();
	const int	shapes[][2] = {{1, 1}, {2, 1}, {1, 5}, {3, 2}, {7, 4}};

	for (int sh = 0; sh < 5; sh++)
		for (int ch = 1; ch <= 3; ch += 2)
		{
			sp_image	img;

			tc_make_image(&img, shapes[sh][0], shapes[sh][1], ch, 9);
			for (int i = 0; i < sp_perturbation_count(); i++)
			{
				sp_image   *fr = NULL;
				int			n = 0;
				sp_error	err;
				sp_status	st = sp_perturb_sequence(env, &img, sp_perturbation_get(i)->name, 1,
													 SP_PROFILE_AUTO, 3, &fr, &n, &err);

				CHECK_MSG(st == SP_OK, "%s on %dx%dx%d: %s", sp_perturbation_get(i)->name,
						  shapes[sh][0], shapes[sh][1], ch, err.message);
				for (int j = 0; j < n; j++)
					CHECK(fr[j].width == shapes[sh][0] && fr[j].height == shapes[sh][1] &&
						  fr[j].channels == ch);
				sp_perturb_free_frames(env, fr, n);
			}
			free(img.pixels);
		}
}

SP_TEST(perturb_errors)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				out,
				bad;
	sp_error	err;
	sp_perturb_seq *s = (sp_perturb_seq *) &img;

	tc_make_image(&img, 16, 16, 3, 1);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "frost", 0, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	CHECK(strstr(err.message, "frost") != NULL);
	CHECK(strstr(err.detail, "gaussian_noise") && strstr(err.detail, "shear"));
	CHECK(out.pixels == NULL);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, NULL, 0, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "rotate", 0, 0, SP_PROFILE_AUTO, 0, &out, &err), SP_ERR_INVALID_ARG);
	CHECK(strstr(err.detail, "1, 2 or 3") != NULL);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "rotate", 0, 0, SP_PROFILE_AUTO, 4, &out, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "rotate", -1, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "rotate", 31, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	CHECK(strstr(err.detail, "0 to 30") != NULL);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "translate", 16, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	CHECK(strstr(err.detail, "0 to 15") && strstr(err.detail, "cifar"));
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "translate", 40, 0, SP_PROFILE_IMAGENET, 1, &out, &err), SP_OK);
	sp_image_free(env, &out);
	CHECK_EQ_INT(sp_perturb_frame(env, &img, "rotate", 0, 0, (sp_corrupt_profile) 9, 1, &out, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_perturb_frame(env, NULL, "rotate", 0, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	bad = img;
	bad.channels = 2;
	CHECK_EQ_INT(sp_perturb_frame(env, &bad, "rotate", 0, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	bad.channels = 3;
	bad.width = 0;
	CHECK_EQ_INT(sp_perturb_frame(env, &bad, "rotate", 0, 0, SP_PROFILE_AUTO, 1, &out, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_perturb_begin(env, &img, "rotate", 0, SP_PROFILE_AUTO, 1, NULL, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_perturb_begin(env, &img, "nope", 0, SP_PROFILE_AUTO, 1, &s, &err), SP_ERR_INVALID_ARG);
	CHECK(s == NULL);
	CHECK_EQ_INT(sp_perturb_seq_frame(NULL, 0, &out, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_perturb_seq_length(NULL), 0);
	sp_perturb_end(NULL);
	free(img.pixels);
}

static int
always_interrupt(void *user)
{
	(void) user;
	return 1;
}

static void *
tp_alloc(void *u, size_t n)
{
	(void) u;
	return malloc(n ? n : 1);
}

static void
tp_free(void *u, void *p)
{
	(void) u;
	free(p);
}

SP_TEST(perturb_interrupt)
{
	sp_env		env = {tp_alloc, tp_free, always_interrupt, NULL, SP_DEFAULT_MAX_PIXELS};
	sp_image	img,
				out;
	sp_error	err;

	tc_make_image(&img, 64, 64, 3, 2);
	for (int i = 0; i < sp_perturbation_count(); i++)
	{
		sp_status	st = sp_perturb_frame(&env, &img, sp_perturbation_get(i)->name, 3, 1,
										  SP_PROFILE_AUTO, 1, &out, &err);

		CHECK_MSG(st == SP_ERR_INTERRUPTED, "%s returned %d", sp_perturbation_get(i)->name, (int) st);
		CHECK(out.pixels == NULL);
	}
	free(img.pixels);
}

/*
 * test_robust_metrics.c: CE / mCE / relative mCE against the published
 * AlexNet and ResNet-50 ImageNet-C numbers (docs/reference/metrics.md) and hand
 * examples; flip probability, top-5 distance (both formulas), k-NN and
 * self-retrieval errors, degenerate and hostile inputs.
 */
#include <math.h>
#include <stdlib.h>

#include "robust/robust_metrics.h"
#include "unit.h"

/* ---- test environments: failing allocator, interrupt after N polls ---- */
static void *
fail_alloc(void *user, size_t size)
{
	(void) user;
	(void) size;
	return NULL;
}

static void
plain_free(void *user, void *ptr)
{
	(void) user;
	free(ptr);
}

static void *
plain_alloc(void *user, size_t size)
{
	(void) user;
	return malloc(size);
}

static int
interrupt_after(void *user)
{
	int		   *left = user;

	return (*left)-- <= 0;
}

/* Deterministic LCG for the randomised tests. */
static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/* ---------------------------------------------------------------- CE ---- */

SP_TEST(rm_alexnet_table_matches_published_averages)
{
	const sp_rm_errors *a = sp_rm_alexnet_imagenet_c();
	double		sum15 = 0.0;

	REQUIRE(a != NULL);
	CHECK_NEAR(a->clean, 0.435, 0);
	for (int c = 0; c < SP_C_COUNT; c++)
	{
		double		s = 0.0;

		for (int k = 0; k < 5; k++)
		{
			CHECK(a->err[c][k] > 0.4 && a->err[c][k] < 1.0);
			s += a->err[c][k];
		}
		CHECK_NEAR(s / 5, sp_rm_alexnet_published_average(c), 1e-9);
		if (c < 15)
			sum15 += sp_rm_alexnet_published_average(c);
	}
	/* docs/reference/metrics.md: the mean of the 15 benchmark averages is 0.78899 */
	CHECK_NEAR(sum15 / 15, 0.78899, 5e-6);
	CHECK(isnan(sp_rm_alexnet_published_average(-1)));
	CHECK(isnan(sp_rm_alexnet_published_average(SP_C_COUNT)));
	/* the benchmark/held-out split agrees with the corruption registry */
	for (int i = 0; i < 15; i++)
		CHECK(sp_corruption_get(sp_rm_benchmark_corruptions[i])->benchmark == 1);
	for (int i = 0; i < 4; i++)
		CHECK(sp_corruption_get(sp_rm_heldout_corruptions[i])->benchmark == 0);
	CHECK_NEAR(a->err[SP_C_JPEG_COMPRESSION][4], .74778, 0);
	CHECK_NEAR(a->err[SP_C_SATURATE][2], .51174, 0);
}

SP_TEST(rm_alexnet_against_itself_is_one)
{
	const sp_rm_errors *a = sp_rm_alexnet_imagenet_c();
	sp_error	e;
	double		v;
	int			f = 0,
				nu = -1;

	for (int c = 0; c < SP_C_COUNT; c++)
	{
		CHECK_EQ_INT(sp_rm_ce(a, a, c, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
		CHECK_NEAR(v, 1.0, 1e-15);
		CHECK_EQ_INT(sp_rm_relative_ce(a, a, c, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
		CHECK_NEAR(v, 1.0, 1e-15);
	}
	CHECK_EQ_INT(f, 0);
	CHECK_EQ_INT(sp_rm_mce(a, a, sp_rm_benchmark_corruptions, 15, SP_RM_ALL_SEVERITIES, 0,
						   &v, &f, &nu, &e), SP_OK);
	CHECK_NEAR(v * 100, 100.0, 1e-12);
	CHECK_EQ_INT(nu, 0);
	CHECK_EQ_INT(sp_rm_mce(a, a, sp_rm_benchmark_corruptions, 15, SP_RM_ALL_SEVERITIES, 1,
						   &v, &f, &nu, &e), SP_OK);
	CHECK_NEAR(v * 100, 100.0, 1e-12);
	CHECK_EQ_INT(sp_rm_mce(a, a, sp_rm_heldout_corruptions, 4, 0x5, 0, &v, &f, NULL, &e), SP_OK);
	CHECK_NEAR(v, 1.0, 1e-15);
	CHECK_EQ_INT(f, 0);
}

/*
 * ResNet-50's published per-corruption CEs (integers, game-of-noise log).  A
 * model whose error is CE_c x AlexNet's at every severity has exactly those
 * CEs; their mean is 76.87, the published unrounded mCE 76.70: consistent
 * within the rounding of the 15 inputs (each +-0.5).
 */
SP_TEST(rm_resnet50_mce_from_published_ces)
{
	static const int ce[15] = {80, 82, 83, 75, 89, 78, 80, 78, 75, 66, 57, 71, 85, 77, 77};
	const sp_rm_errors *a = sp_rm_alexnet_imagenet_c();
	sp_rm_errors r;
	sp_error	e;
	double		mce,
				v;
	int			f = 0;

	sp_rm_errors_init(&r);
	for (int i = 0; i < 15; i++)
		for (int s = 1; s <= 5; s++)
			CHECK_EQ_INT(sp_rm_errors_set(&r, sp_rm_benchmark_corruptions[i], s,
										  ce[i] / 100.0 * a->err[sp_rm_benchmark_corruptions[i]][s - 1],
										  &e), SP_OK);
	for (int i = 0; i < 15; i++)
	{
		CHECK_EQ_INT(sp_rm_ce(&r, a, sp_rm_benchmark_corruptions[i], SP_RM_ALL_SEVERITIES,
							  &v, &f, &e), SP_OK);
		CHECK_NEAR(v * 100, ce[i], 1e-9);
	}
	CHECK_EQ_INT(sp_rm_mce(&r, a, sp_rm_benchmark_corruptions, 15, SP_RM_ALL_SEVERITIES, 0,
						   &mce, &f, NULL, &e), SP_OK);
	CHECK_NEAR(mce * 100, 1153.0 / 15, 1e-9);
	CHECK_NEAR(mce * 100, 76.7, 0.5);
	/* relative CE needs the clean error; held-out cells were never recorded */
	CHECK_EQ_INT(sp_rm_relative_ce(&r, a, SP_C_FOG, SP_RM_ALL_SEVERITIES, &v, &f, &e),
				 SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(&r, a, SP_C_SPATTER, SP_RM_ALL_SEVERITIES, &v, &f, &e),
				 SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(f, 0);
}

/* Hand-computed CE, relative CE (per-severity subtraction) and subsets. */
SP_TEST(rm_ce_and_relative_hand_example)
{
	sp_rm_errors m,
				b;
	sp_error	e;
	double		v;
	int			f = 0,
				nu = -1;
	static const double bg[5] = {.2, .3, .4, .5, .6};	/* sum 2.0 */
	static const double mg[5] = {.1, .1, .3, .2, .3};	/* sum 1.0 */
	static const double bf[5] = {.5, .5, .5, .5, .5};	/* sum 2.5 */
	static const double mf[5] = {.3, .3, .3, .3, .4};	/* sum 1.6 */
	int			set[2] = {SP_C_GAUSSIAN_NOISE, SP_C_FOG};

	sp_rm_errors_init(&m);
	sp_rm_errors_init(&b);
	CHECK_EQ_INT(sp_rm_errors_set(&m, -1, 0, 0.0, &e), SP_OK);		/* clean */
	CHECK_EQ_INT(sp_rm_errors_record(&b, 0, 0, 1, 10, &e), SP_OK);	/* clean 0.1 */
	CHECK_NEAR(b.clean, 0.1, 0);
	for (int s = 1; s <= 5; s++)
	{
		CHECK_EQ_INT(sp_rm_errors_set(&b, SP_C_GAUSSIAN_NOISE, s, bg[s - 1], &e), SP_OK);
		CHECK_EQ_INT(sp_rm_errors_set(&m, SP_C_GAUSSIAN_NOISE, s, mg[s - 1], &e), SP_OK);
		CHECK_EQ_INT(sp_rm_errors_set(&b, SP_C_FOG, s, bf[s - 1], &e), SP_OK);
		CHECK_EQ_INT(sp_rm_errors_set(&m, SP_C_FOG, s, mf[s - 1], &e), SP_OK);
	}
	/* CE gauss = 1.0 / 2.0 */
	CHECK_EQ_INT(sp_rm_ce(&m, &b, SP_C_GAUSSIAN_NOISE, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 0.5, 1e-15);
	/* relative gauss = (1.0 - 5*0) / (2.0 - 5*0.1) = 1/1.5; a single subtraction would give 1/1.9 */
	CHECK_EQ_INT(sp_rm_relative_ce(&m, &b, SP_C_GAUSSIAN_NOISE, SP_RM_ALL_SEVERITIES, &v, &f, &e),
				 SP_OK);
	CHECK_NEAR(v, 1.0 / 1.5, 1e-15);
	/* CE fog = 1.6 / 2.5 = 0.64; relative = 1.6 / (2.5 - 0.5) = 0.8 */
	CHECK_EQ_INT(sp_rm_ce(&m, &b, SP_C_FOG, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 0.64, 1e-15);
	CHECK_EQ_INT(sp_rm_relative_ce(&m, &b, SP_C_FOG, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 0.8, 1e-15);
	/* mCE = (0.5 + 0.64) / 2; relative mCE = (2/3 + 0.8) / 2 */
	CHECK_EQ_INT(sp_rm_mce(&m, &b, set, 2, SP_RM_ALL_SEVERITIES, 0, &v, &f, &nu, &e), SP_OK);
	CHECK_NEAR(v, 0.57, 1e-15);
	CHECK_EQ_INT(sp_rm_mce(&m, &b, set, 2, SP_RM_ALL_SEVERITIES, 1, &v, &f, &nu, &e), SP_OK);
	CHECK_NEAR(v, (2.0 / 3.0 + 0.8) / 2, 1e-15);
	CHECK_EQ_INT(nu, 0);
	CHECK_EQ_INT(f, 0);
	/* severities {1, 3}: CE gauss = (.1 + .3) / (.2 + .4); relative = .4 / (.6 - .2) */
	CHECK_EQ_INT(sp_rm_ce(&m, &b, SP_C_GAUSSIAN_NOISE, 0x5, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 0.4 / 0.6, 1e-15);
	CHECK_EQ_INT(sp_rm_relative_ce(&m, &b, SP_C_GAUSSIAN_NOISE, 0x5, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 1.0, 1e-15);
	/* severity 5 only */
	CHECK_EQ_INT(sp_rm_ce(&m, &b, SP_C_FOG, 0x10, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 0.8, 1e-15);
	/* model worse than baseline: CE > 1 */
	CHECK_EQ_INT(sp_rm_ce(&b, &m, SP_C_GAUSSIAN_NOISE, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 2.0, 1e-15);
	/* relative CE can be negative: the model improves under corruption */
	CHECK_EQ_INT(sp_rm_errors_set(&m, 0, 0, 0.5, &e), SP_OK);
	CHECK_EQ_INT(sp_rm_relative_ce(&m, &b, SP_C_FOG, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, (1.6 - 2.5) / 2.0, 1e-15);
	CHECK_EQ_INT(f, 0);
}

SP_TEST(rm_ce_degenerate_denominators)
{
	sp_rm_errors m,
				b;
	sp_error	e;
	double		v = 0;
	int			f = 0,
				nu = -1;
	int			set[2] = {SP_C_SNOW, SP_C_FOG};

	sp_rm_errors_init(&m);
	sp_rm_errors_init(&b);
	CHECK_EQ_INT(sp_rm_errors_set(&m, 0, 0, 0.1, &e), SP_OK);
	CHECK_EQ_INT(sp_rm_errors_set(&b, 0, 0, 0.3, &e), SP_OK);
	for (int s = 1; s <= 5; s++)
	{
		/* snow: baseline perfect at every severity -> CE undefined */
		CHECK_EQ_INT(sp_rm_errors_set(&b, SP_C_SNOW, s, 0.0, &e), SP_OK);
		CHECK_EQ_INT(sp_rm_errors_set(&m, SP_C_SNOW, s, 0.2, &e), SP_OK);
		/* fog: baseline exactly at its clean error -> relative undefined */
		CHECK_EQ_INT(sp_rm_errors_record(&b, SP_C_FOG, s, 3, 10, &e), SP_OK);
		CHECK_EQ_INT(sp_rm_errors_set(&m, SP_C_FOG, s, 0.2, &e), SP_OK);
	}
	CHECK_EQ_INT(sp_rm_ce(&m, &b, SP_C_SNOW, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK(isnan(v));
	CHECK_EQ_INT(f, SP_RM_UNDEFINED);
	f = 0;
	CHECK_EQ_INT(sp_rm_ce(&m, &b, SP_C_FOG, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 1.0 / 1.5, 1e-12);
	CHECK_EQ_INT(f, 0);
	/* 5 * (0.3 - 0.3): a rounding-level residue still counts as zero */
	CHECK_EQ_INT(sp_rm_relative_ce(&m, &b, SP_C_FOG, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK(isnan(v));
	CHECK_EQ_INT(f, SP_RM_UNDEFINED);
	/* baseline better under corruption than clean: negative degradation, undefined */
	f = 0;
	CHECK_EQ_INT(sp_rm_errors_set(&b, SP_C_FOG, 2, 0.25, &e), SP_OK);
	CHECK_EQ_INT(sp_rm_relative_ce(&m, &b, SP_C_FOG, SP_RM_ALL_SEVERITIES, &v, &f, &e), SP_OK);
	CHECK(isnan(v));
	CHECK_EQ_INT(f, SP_RM_UNDEFINED);
	/* flags may be NULL */
	CHECK_EQ_INT(sp_rm_ce(&m, &b, SP_C_SNOW, SP_RM_ALL_SEVERITIES, &v, NULL, &e), SP_OK);
	CHECK(isnan(v));
	/* the mean over a set with one undefined member is NaN, counted */
	f = 0;
	CHECK_EQ_INT(sp_rm_mce(&m, &b, set, 2, SP_RM_ALL_SEVERITIES, 0, &v, &f, &nu, &e), SP_OK);
	CHECK(isnan(v));
	CHECK_EQ_INT(nu, 1);
	CHECK_EQ_INT(f, SP_RM_UNDEFINED);
	/* both undefined for relative mCE (snow: baseline 0 < clean) */
	CHECK_EQ_INT(sp_rm_mce(&m, &b, set, 2, SP_RM_ALL_SEVERITIES, 1, &v, &f, &nu, &e), SP_OK);
	CHECK_EQ_INT(nu, 2);
	/* the mean of the defined member alone */
	CHECK_EQ_INT(sp_rm_mce(&m, &b, set + 1, 1, SP_RM_ALL_SEVERITIES, 0, &v, &f, &nu, &e), SP_OK);
	CHECK_NEAR(v, 1.0 / 1.45, 1e-12);
	CHECK_EQ_INT(nu, 0);
}

SP_TEST(rm_ce_bad_arguments)
{
	const sp_rm_errors *a = sp_rm_alexnet_imagenet_c();
	sp_rm_errors t;
	sp_error	e;
	double		v;
	int			f = 0;
	int			dup[3] = {SP_C_FOG, SP_C_SNOW, SP_C_FOG};
	int			bad[1] = {SP_C_COUNT};

	sp_rm_errors_init(&t);
	CHECK(isnan(t.clean) && isnan(t.err[3][2]));
	sp_rm_errors_init(NULL);
	CHECK_EQ_INT(sp_rm_errors_set(NULL, 0, 1, 0.5, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, 0, 6, 0.5, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, 0, -1, 0.5, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, SP_C_COUNT, 1, 0.5, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, -1, 1, 0.5, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, 0, 1, 1.5, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, 0, 1, -0.1, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, 0, 1, NAN, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_set(&t, 0, 1, INFINITY, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_record(&t, 0, 1, 1, 0, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_record(&t, 0, 1, -1, 10, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_record(&t, 0, 1, 11, 10, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_errors_record(&t, 0, 1, 10, 10, &e), SP_OK);
	CHECK_NEAR(t.err[0][0], 1.0, 0);

	/* missing cells: only severity 1 of gaussian noise recorded */
	CHECK_EQ_INT(sp_rm_ce(&t, a, 0, 0x1, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 1.0 / .69528, 1e-12);
	CHECK_EQ_INT(sp_rm_ce(&t, a, 0, 0x3, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK(strstr(e.message, "severity 2") != NULL);
	CHECK_EQ_INT(sp_rm_ce(a, &t, 0, 0x3, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK(strstr(e.message, "baseline") != NULL);
	CHECK_EQ_INT(sp_rm_relative_ce(&t, a, 0, 0x1, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK(strstr(e.message, "clean") != NULL);
	/* masks, ids, pointers */
	CHECK_EQ_INT(sp_rm_ce(a, a, 0, 0, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(a, a, 0, 0x20, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(a, a, 0, 0xffffffffu, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(a, a, -1, 0x1f, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(a, a, SP_C_COUNT, 0x1f, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(NULL, a, 0, 0x1f, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(a, NULL, 0, 0x1f, &v, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ce(a, a, 0, 0x1f, NULL, &f, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mce(a, a, dup, 3, 0x1f, 0, &v, &f, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK(strstr(e.message, "twice") != NULL);
	CHECK_EQ_INT(sp_rm_mce(a, a, bad, 1, 0x1f, 0, &v, &f, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mce(a, a, NULL, 1, 0x1f, 0, &v, &f, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mce(a, a, dup, 0, 0x1f, 0, &v, &f, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mce(a, a, dup, -3, 0x1f, 0, &v, &f, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mce(a, a, dup, 1, 0x1f, 0, NULL, &f, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(f, 0);
}

/* ------------------------------------------------------ FR and means ---- */

SP_TEST(rm_ratio_and_mean_ratio)
{
	sp_error	e;
	double		v;
	int			f = 0,
				nu = -1;
	double		num[3] = {0.1, 0.3, 0.0};
	double		den[3] = {0.2, 0.2, 0.5};

	CHECK_EQ_INT(sp_rm_ratio(0.058, 0.1, &v, &f, &e), SP_OK);
	CHECK_NEAR(v, 0.58, 1e-15);
	CHECK_EQ_INT(sp_rm_ratio(0.0, 0.0, &v, &f, &e), SP_OK);
	CHECK(isnan(v));
	CHECK_EQ_INT(f, SP_RM_UNDEFINED);
	CHECK_EQ_INT(sp_rm_ratio(-0.1, 0.2, &v, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ratio(0.1, -0.2, &v, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ratio(NAN, 0.2, &v, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ratio(0.1, INFINITY, &v, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ratio(0.1, 0.2, NULL, NULL, &e), SP_ERR_INVALID_ARG);

	f = 0;
	CHECK_EQ_INT(sp_rm_mean_ratio(num, den, 3, &v, &f, &nu, &e), SP_OK);
	CHECK_NEAR(v, (0.5 + 1.5 + 0.0) / 3, 1e-15);
	CHECK_EQ_INT(nu, 0);
	CHECK_EQ_INT(f, 0);
	den[1] = 0.0;
	CHECK_EQ_INT(sp_rm_mean_ratio(num, den, 3, &v, &f, &nu, &e), SP_OK);
	CHECK(isnan(v));
	CHECK_EQ_INT(nu, 1);
	CHECK_EQ_INT(f, SP_RM_UNDEFINED);
	den[1] = -1.0;
	CHECK_EQ_INT(sp_rm_mean_ratio(num, den, 3, &v, &f, &nu, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mean_ratio(num, den, 0, &v, &f, &nu, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mean_ratio(NULL, den, 1, &v, &f, &nu, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mean_ratio(num, den, 1, &v, NULL, NULL, &e), SP_OK);
	CHECK_NEAR(v, 0.5, 1e-15);
}

/* --------------------------------------------------- flip probability ---- */

SP_TEST(rm_flip_probability_hand)
{
	/* two sequences of 5 frames */
	static const int32_t p[10] = {
		1, 2, 2, 2, 2,			/* consec 1/4, noise 4/4, d=2: (0,2)(1,3)(2,4) -> 1/3 */
		7, 7, 3, 7, 7			/* consec 2/4, noise 1/4, d=2: (7,3)(7,7)(3,7) -> 2/3 */
	};
	sp_error	e;
	double		v;

	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 0, 1, &v, &e), SP_OK);
	CHECK_NEAR(v, (0.25 + 0.5) / 2, 1e-15);
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 1, 1, &v, &e), SP_OK);
	CHECK_NEAR(v, (1.0 + 0.25) / 2, 1e-15);
	/* noise: difficulty picks the dataset, not the step */
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 1, 3, &v, &e), SP_OK);
	CHECK_NEAR(v, (1.0 + 0.25) / 2, 1e-15);
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 0, 2, &v, &e), SP_OK);
	CHECK_NEAR(v, (1.0 / 3 + 2.0 / 3) / 2, 1e-15);
	/* d=4: one comparison (frame 0 with 4) per sequence */
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 0, 4, &v, &e), SP_OK);
	CHECK_NEAR(v, 0.5, 1e-15);
	/* single sequence: the 1/(m(n-1)) formula */
	CHECK_EQ_INT(sp_rm_flip_probability(p + 5, 1, 5, 0, 1, &v, &e), SP_OK);
	CHECK_NEAR(v, 0.5, 1e-15);
	/* a stable model */
	{
		int32_t		z[6] = {4, 4, 4, 4, 4, 4};

		CHECK_EQ_INT(sp_rm_flip_probability(z, 3, 2, 0, 1, &v, &e), SP_OK);
		CHECK_NEAR(v, 0.0, 0);
	}
	/* bad arguments */
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 0, 5, &v, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 0, 0, &v, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 1, 0, &v, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_flip_probability(p, 10, 1, 0, 1, &v, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_flip_probability(p, 0, 5, 0, 1, &v, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_flip_probability(p, -1, 5, 0, 1, &v, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_flip_probability(NULL, 2, 5, 0, 1, &v, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_flip_probability(p, 2, 5, 0, 1, NULL, &e), SP_ERR_INVALID_ARG);
}

/* ------------------------------------------------------ top-5 distance ---- */

SP_TEST(rm_top5_dist_hand)
{
	int32_t		id[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	int32_t		sw[10] = {2, 1, 3, 4, 5, 6, 7, 8, 9, 10};
	int32_t		drop[10] = {10, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	int32_t		rise[10] = {2, 3, 4, 5, 6, 1, 7, 8, 9, 10};	/* rank-6 class becomes first */
	int32_t		k3[3] = {3, 1, 2};

	CHECK_EQ_INT(sp_rm_top5_dist_code(id, 10), 0);
	CHECK_EQ_INT(sp_rm_top5_dist_paper(id, 10), 0);
	CHECK_EQ_INT(sp_rm_top5_dist_code(sw, 10), 2);
	CHECK_EQ_INT(sp_rm_top5_dist_paper(sw, 10), 2);
	/* top class falls to rank 10: |0-5| + 4 * 1 */
	CHECK_EQ_INT(sp_rm_top5_dist_code(drop, 10), 9);
	CHECK_EQ_INT(sp_rm_top5_dist_paper(drop, 10), 9);
	/* the top 5 each move down one rank: 5 */
	CHECK_EQ_INT(sp_rm_top5_dist_code(rise, 10), 5);
	CHECK_EQ_INT(sp_rm_top5_dist_paper(rise, 10), 5);
	/* fewer than 5 classes: |0-2| + |1-0| + |2-1| */
	CHECK_EQ_INT(sp_rm_top5_dist_code(k3, 3), 4);
	CHECK_EQ_INT(sp_rm_top5_dist_paper(k3, 3), 4);
}

SP_TEST(rm_top5_dist_formulas_agree_on_random_permutations)
{
	static const int sizes[] = {1, 2, 5, 6, 7, 10, 100, 1000};
	int32_t    *perm = malloc(1000 * sizeof(int32_t));
	uint32_t	s = 12345;

	REQUIRE(perm != NULL);
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++)
	{
		int			k = sizes[z];

		for (int t = 0; t < 2000; t++)
		{
			for (int i = 0; i < k; i++)
				perm[i] = i + 1;
			/* Fisher-Yates; for large k disturb only the first ranks often */
			for (int i = k - 1; i > 0; i--)
			{
				int			j = (int) (lcg(&s) % (uint32_t) (i + 1));
				int32_t		x = perm[i];

				perm[i] = perm[j];
				perm[j] = x;
			}
			if (t % 2 && k > 8)
			{
				/* a near-identity permutation: a few swaps among the top 8 */
				for (int i = 0; i < k; i++)
					perm[i] = i + 1;
				for (int r = 0; r < 3; r++)
				{
					int			a = (int) (lcg(&s) % 8),
								b = (int) (lcg(&s) % 8);
					int32_t		x = perm[a];

					perm[a] = perm[b];
					perm[b] = x;
				}
			}
			CHECK_EQ_INT(sp_rm_top5_dist_code(perm, k), sp_rm_top5_dist_paper(perm, k));
			if (sp_rm_top5_dist_code(perm, k) != sp_rm_top5_dist_paper(perm, k))
				break;
		}
	}
	free(perm);
}

SP_TEST(rm_ordinal_ranks)
{
	float		v[4] = {0.5f, 0.1f, 0.5f, 0.3f};
	float		nanv[2] = {0.0f, NAN};
	int32_t		r[4];
	sp_error	e;

	CHECK_EQ_INT(sp_rm_ordinal_ranks(v, 4, 0, r, &e), SP_OK);
	CHECK(r[0] == 3 && r[1] == 1 && r[2] == 4 && r[3] == 2);
	CHECK_EQ_INT(sp_rm_ordinal_ranks(v, 4, 1, r, &e), SP_OK);
	CHECK(r[0] == 1 && r[1] == 4 && r[2] == 2 && r[3] == 3);
	CHECK_EQ_INT(sp_rm_ordinal_ranks(v, 1, 1, r, &e), SP_OK);
	CHECK_EQ_INT(r[0], 1);
	CHECK_EQ_INT(sp_rm_ordinal_ranks(nanv, 2, 0, r, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ordinal_ranks(v, 0, 0, r, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ordinal_ranks(NULL, 4, 0, r, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_ordinal_ranks(v, 4, 0, NULL, &e), SP_ERR_INVALID_ARG);
}

/*
 * uT5D by brute force: full ordinal ranks of both frames, sigma(i) = rank in
 * cur of the class ranked i in prev, then the paper's formula.
 */
static double
brute_ut5d(const float *vals, int m, int n, int k, int larger, int noise, int d)
{
	int32_t    *rp = malloc((size_t) k * sizeof(int32_t));
	int32_t    *rc = malloc((size_t) k * sizeof(int32_t));
	int32_t    *sig = malloc((size_t) k * sizeof(int32_t));
	int			step = noise ? 1 : d;
	double		total = 0;
	sp_error	e;

	for (int i = 0; i < m; i++)
	{
		double		sum = 0;

		for (int j = step; j < n; j++)
		{
			int			p = noise ? 0 : j - step;

			sp_rm_ordinal_ranks(vals + ((size_t) i * n + p) * k, k, larger, rp, &e);
			sp_rm_ordinal_ranks(vals + ((size_t) i * n + j) * k, k, larger, rc, &e);
			for (int c = 0; c < k; c++)
				sig[rp[c] - 1] = rc[c];
			sum += sp_rm_top5_dist_paper(sig, k);
		}
		total += sum / (n - step);
	}
	free(rp);
	free(rc);
	free(sig);
	return total / m;
}

SP_TEST(rm_top5_distance_matches_brute_force)
{
	static const int ks[] = {1, 3, 6, 10, 40};
	uint32_t	s = 777;

	for (size_t z = 0; z < sizeof(ks) / sizeof(ks[0]); z++)
	{
		int			k = ks[z],
					m = 3,
					n = 7;
		float	   *vals = malloc((size_t) m * n * k * sizeof(float));

		REQUIRE(vals != NULL);
		for (int t = 0; t < 20; t++)
		{
			/* few distinct values so ties are frequent */
			for (int i = 0; i < m * n * k; i++)
				vals[i] = (float) (lcg(&s) % (t % 2 ? 4u : 1000u)) * 0.25f;
			for (int larger = 0; larger <= 1; larger++)
				for (int noise = 0; noise <= 1; noise++)
					for (int d = 1; d <= 3; d++)
					{
						double		got;
						sp_error	e;

						CHECK_EQ_INT(sp_rm_top5_distance(sp_env_default(), vals, m, n, k, larger,
														 noise, d, &got, &e), SP_OK);
						CHECK_NEAR(got, brute_ut5d(vals, m, n, k, larger, noise, d), 1e-12);
					}
		}
		free(vals);
	}
}

SP_TEST(rm_top5_distance_hand_and_bad_args)
{
	/* 1 sequence, 3 frames, 7 classes, distances: class 0 nearest, then 1.. */
	float		v[21] = {
		0, 1, 2, 3, 4, 5, 6,	/* ranks 1..7 */
		1, 0, 2, 3, 4, 5, 6,	/* classes 0 and 1 swap: d = 2 */
		9, 1, 2, 3, 4, 5, 6,	/* class 0 falls to the last rank */
	};
	sp_error	e;
	double		u;
	int			left = 0;
	sp_env		env = *sp_env_default();

	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 3, 7, 0, 0, 1, &u, &e), SP_OK);
	/* pair (0,1): 2; pair (1,2): prev ranks 1,0,2,3,4 -> cur ranks of those:
	 * class1 -> 1, class0 -> 7 (min 5), 2 -> 2, 3 -> 3, 4 -> 4:
	 * |0-0| + |1-5| + |2-1| + |3-2| + |4-3| = 7 */
	CHECK_NEAR(u, (2 + 7) / 2.0, 1e-15);
	/* noise: (0,1) = 2, (0,2): class0 -> min(6,5)=5, then 1..4 -> 0..3: 5+1+1+1+1 = 9 */
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 3, 7, 0, 1, 1, &u, &e), SP_OK);
	CHECK_NEAR(u, (2 + 9) / 2.0, 1e-15);
	/* difficulty 2: only (0,2) */
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 3, 7, 0, 0, 2, &u, &e), SP_OK);
	CHECK_NEAR(u, 9.0, 1e-15);

	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 3, 7, 0, 0, 3, &u, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 3, 0, 0, 0, 1, &u, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 0, 3, 7, 0, 0, 1, &u, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 1, 7, 0, 1, 1, &u, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, NULL, 1, 3, 7, 0, 0, 1, &u, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 3, 7, 0, 0, 1, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1 << 30, 1 << 30, 1 << 30, 0, 0, 1, &u, &e),
				 SP_ERR_LIMIT);
	v[17] = NAN;
	CHECK_EQ_INT(sp_rm_top5_distance(NULL, v, 1, 3, 7, 0, 0, 1, &u, &e), SP_ERR_INVALID_ARG);
	CHECK(strstr(e.message, "frame 2") != NULL);
	v[17] = 3;
	env.interrupted = interrupt_after;
	env.user = &left;
	CHECK_EQ_INT(sp_rm_top5_distance(&env, v, 1, 3, 7, 0, 0, 1, &u, &e), SP_ERR_INTERRUPTED);
}

/* ----------------------------------------------- k-NN, self-retrieval ---- */

/* Gallery on a line: x = 0, 1, 2, 10, 11; labels 0, 0, 1, 1, 1. */
static const float gal[5 * 2] = {0, 0, 1, 0, 2, 0, 10, 0, 11, 0};
static const int32_t gal_lab[5] = {0, 0, 1, 1, 1};

SP_TEST(rm_knn_error_hand)
{
	/* corrupted versions of gallery items 0, 2 and 3 */
	const float q[3 * 2] = {0.1f, 0, 2.4f, 0, 9.0f, 0};
	const int32_t qlab[3] = {0, 1, 1};
	const int32_t self[3] = {0, 2, 3};
	int32_t		pred[3];
	int64_t		wrong = -1;
	sp_error	e;
	const sp_env *env = sp_env_default();

	/* k=1 without exclusion: 0 -> item 0 (0), 2.4 -> item 2 (1), 9 -> item 3 (1) */
	CHECK_EQ_INT(sp_rm_knn_error(env, gal, gal_lab, 5, q, qlab, NULL, 3, 2, 1, SP_DISTANCE_L2,
								 &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(wrong, 0);
	CHECK(pred[0] == 0 && pred[1] == 1 && pred[2] == 1);
	/* with exclusion: 0.1 -> item 1 (0) ok; 2.4 -> item 1 (0) wrong; 9 -> item 4 (1) ok */
	CHECK_EQ_INT(sp_rm_knn_error(env, gal, gal_lab, 5, q, qlab, self, 3, 2, 1, SP_DISTANCE_L2,
								 &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(wrong, 1);
	CHECK(pred[0] == 0 && pred[1] == 0 && pred[2] == 1);
	/* k=3 with exclusion: 2.4 -> items 1, 0, 3? distances 1.4, 2.4, 7.6 -> 0,0,1 -> 0 */
	CHECK_EQ_INT(sp_rm_knn_error(env, gal, gal_lab, 5, q, qlab, self, 3, 2, 3, SP_DISTANCE_L2,
								 &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(pred[1], 0);
	/* 0.1 -> items 1, 2, 3 -> labels 0,1,1 -> 1 (majority beats nearest) */
	CHECK_EQ_INT(pred[0], 1);
	CHECK_EQ_INT(pred[2], 1);
	CHECK_EQ_INT(wrong, 2);
	/* k=2 tie (one vote each): the nearest member's label wins */
	CHECK_EQ_INT(sp_rm_knn_error(env, gal, gal_lab, 5, q, qlab, self, 3, 2, 2, SP_DISTANCE_L2,
								 &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(pred[0], 0);	/* items 1 (0), 2 (1) */
	CHECK_EQ_INT(pred[2], 1);	/* items 4, 2 */
	/*
	 * k larger than the gallery: all four candidates vote.  q0: 0,1,1,1 -> 1;
	 * q1: 0,0,1,1 tie, nearest is item 1 -> 0; q2: 0,0,1,1 tie, nearest item 4 -> 1
	 */
	CHECK_EQ_INT(sp_rm_knn_error(env, gal, gal_lab, 5, q, qlab, self, 3, 2, 50, SP_DISTANCE_L2,
								 &wrong, pred, &e), SP_OK);
	CHECK(pred[0] == 1 && pred[1] == 0 && pred[2] == 1);
	/* a self index of -1 means no exclusion for that query */
	{
		const int32_t self2[3] = {-1, -1, 3};

		CHECK_EQ_INT(sp_rm_knn_error(env, gal, gal_lab, 5, q, qlab, self2, 3, 2, 1, SP_DISTANCE_L2,
									 &wrong, NULL, &e), SP_OK);
		CHECK_EQ_INT(wrong, 0);
	}
}

SP_TEST(rm_knn_ties_and_cosine)
{
	/* equidistant gallery items: the lower index is the nearer neighbour */
	const float g[3 * 2] = {1, 0, -1, 0, 0, 5};
	const int32_t gl[3] = {7, 8, 9};
	const float q[2 * 2] = {0, 0, 0, 1};
	const int32_t ql[2] = {8, 9};
	int32_t		pred[2];
	int64_t		wrong;
	sp_error	e;

	/* q0 at the origin: items 0 and 1 tie at 1 -> item 0 (7) */
	CHECK_EQ_INT(sp_rm_knn_error(NULL, g, gl, 3, q, ql, NULL, 2, 2, 1, SP_DISTANCE_L2,
								 &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(pred[0], 7);
	CHECK_EQ_INT(pred[1], 7);	/* (0,1): distances 2, 2, 16 */
	CHECK_EQ_INT(wrong, 2);
	/* cosine: q0 is the zero vector (NaN to everything) -> lowest index; q1 along y -> item 2 */
	CHECK_EQ_INT(sp_rm_knn_error(NULL, g, gl, 3, q, ql, NULL, 2, 2, 1, SP_DISTANCE_COSINE,
								 &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(pred[0], 7);
	CHECK_EQ_INT(pred[1], 9);
	CHECK_EQ_INT(wrong, 1);
	/* cosine ignores the scale: (0, 5) and (0, 1) are identical */
	CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, g, 3, q + 2, (const int32_t[]) {2}, 1, 2,
											SP_DISTANCE_COSINE, &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(wrong, 0);
	CHECK_EQ_INT(pred[0], 2);
}

SP_TEST(rm_knn_bad_arguments)
{
	const float q[2] = {0, 0};
	const int32_t ql[1] = {0};
	int64_t		wrong = 0;
	sp_error	e;
	int			left = 0;
	sp_env		env = *sp_env_default();

	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, NULL, 1, 2, 0, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, NULL, 1, 2, SP_RM_MAX_K + 1,
								 SP_DISTANCE_L2, &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, (const int32_t[]) {5}, 1, 2, 1,
								 SP_DISTANCE_L2, &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, (const int32_t[]) {-2}, 1, 2, 1,
								 SP_DISTANCE_L2, &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	/* one gallery item, excluded: no candidate */
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 1, q, ql, (const int32_t[]) {0}, 1, 2, 1,
								 SP_DISTANCE_L2, &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, NULL, 5, q, ql, NULL, 1, 2, 1, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, NULL, NULL, 1, 2, 1, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 0, q, ql, NULL, 1, 2, 1, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, NULL, 0, 2, 1, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, NULL, 1, 0, 1, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, NULL, 1, 2, 1, (sp_distance_kind) 7,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, q, ql, NULL, 1, 2, 1, SP_DISTANCE_L2,
								 NULL, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_knn_error(NULL, NULL, gal_lab, 5, q, ql, NULL, 1, 2, 1, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	/* allocator failure and interruption: no leak (valgrind) */
	env.alloc = fail_alloc;
	CHECK_EQ_INT(sp_rm_knn_error(&env, gal, gal_lab, 5, q, ql, NULL, 1, 2, 3, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_NOMEM);
	env.alloc = plain_alloc;
	env.free = plain_free;
	env.interrupted = interrupt_after;
	env.user = &left;
	CHECK_EQ_INT(sp_rm_knn_error(&env, gal, gal_lab, 5, q, ql, NULL, 1, 2, 3, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_ERR_INTERRUPTED);
	left = 0;
	CHECK_EQ_INT(sp_rm_self_retrieval_error(&env, gal, 5, q, (const int32_t[]) {0}, 1, 2,
											SP_DISTANCE_L2, &wrong, NULL, &e), SP_ERR_INTERRUPTED);
	left = 1;
	CHECK_EQ_INT(sp_rm_knn_error(&env, gal, gal_lab, 5, q, ql, NULL, 1, 2, 3, SP_DISTANCE_L2,
								 &wrong, NULL, &e), SP_OK);
	/* self-retrieval needs self indexes in range */
	CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, gal, 5, q, NULL, 1, 2, SP_DISTANCE_L2,
											&wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, gal, 5, q, (const int32_t[]) {-1}, 1, 2,
											SP_DISTANCE_L2, &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, gal, 5, q, (const int32_t[]) {5}, 1, 2,
											SP_DISTANCE_L2, &wrong, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, gal, 5, q, (const int32_t[]) {0}, 1, 2,
											SP_DISTANCE_COSINE + 1, &wrong, NULL, &e),
				 SP_ERR_INVALID_ARG);
}

/*
 * Self-retrieval error, and the label-free flip variant: a sequence's
 * "prediction" is the id of the nearest clean gallery image.
 */
SP_TEST(rm_self_retrieval_and_flip_variant)
{
	/* frames of one sequence around gallery item 1 (x = 1), drifting right */
	const float frames[4 * 2] = {1.0f, 0, 1.4f, 0, 1.6f, 0, 1.2f, 0};
	const int32_t self[4] = {1, 1, 1, 1};
	int32_t		nearest[4];
	int64_t		wrong = -1;
	double		fp;
	sp_error	e;

	CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, gal, 5, frames, self, 4, 2, SP_DISTANCE_L2,
											&wrong, nearest, &e), SP_OK);
	CHECK(nearest[0] == 1 && nearest[1] == 1 && nearest[2] == 2 && nearest[3] == 1);
	CHECK_EQ_INT(wrong, 1);
	/* consecutive: 1,1,2,1 -> 2 flips of 3; against the first frame: 1 of 3 */
	CHECK_EQ_INT(sp_rm_flip_probability(nearest, 1, 4, 0, 1, &fp, &e), SP_OK);
	CHECK_NEAR(fp, 2.0 / 3, 1e-15);
	CHECK_EQ_INT(sp_rm_flip_probability(nearest, 1, 4, 1, 1, &fp, &e), SP_OK);
	CHECK_NEAR(fp, 1.0 / 3, 1e-15);
	/* exact tie at 1.5 between items 1 and 2: the lower index wins */
	{
		const float mid[2] = {1.5f, 0};

		CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, gal, 5, mid, (const int32_t[]) {2}, 1, 2,
												SP_DISTANCE_L2, &wrong, nearest, &e), SP_OK);
		CHECK_EQ_INT(nearest[0], 1);
		CHECK_EQ_INT(wrong, 1);
	}
}

/* k-NN against a brute-force reference on random data, k = 1..7. */
SP_TEST(rm_knn_matches_brute_force)
{
	enum
	{
		NG = 40, NQ = 30, D = 3
	};
	float		g[NG * D],
				q[NQ * D];
	int32_t		gl[NG],
				ql[NQ],
				self[NQ],
				pred[NQ];
	uint32_t	s = 99;
	sp_error	e;

	for (int i = 0; i < NG * D; i++)
		g[i] = (float) (lcg(&s) % 7);	/* coarse grid: many distance ties */
	for (int i = 0; i < NQ * D; i++)
		q[i] = (float) (lcg(&s) % 7);
	for (int i = 0; i < NG; i++)
		gl[i] = (int32_t) (lcg(&s) % 4) - 2;	/* negative labels are fine */
	for (int i = 0; i < NQ; i++)
	{
		ql[i] = (int32_t) (lcg(&s) % 4) - 2;
		self[i] = (int32_t) (lcg(&s) % NG);
	}
	for (int k = 1; k <= 7; k++)
	{
		int64_t		wrong,
					expect = 0;

		CHECK_EQ_INT(sp_rm_knn_error(NULL, g, gl, NG, q, ql, self, NQ, D, k, SP_DISTANCE_L2,
									 &wrong, pred, &e), SP_OK);
		for (int qi = 0; qi < NQ; qi++)
		{
			int			used[NG] = {0};
			int			order[7];
			int			votes[4] = {0};
			int			first[4];
			int			best = -1;

			/* k selections of the minimum (distance, index) not yet used */
			for (int r = 0; r < k; r++)
			{
				int			bi = -1;
				double		bd = 0;

				for (int gi = 0; gi < NG; gi++)
				{
					double		d = 0;

					if (gi == self[qi] || used[gi])
						continue;
					for (int x = 0; x < D; x++)
						d += (double) (q[qi * D + x] - g[gi * D + x]) * (q[qi * D + x] - g[gi * D + x]);
					if (bi < 0 || d < bd)
					{
						bd = d;
						bi = gi;
					}
				}
				used[bi] = 1;
				order[r] = bi;
			}
			for (int l = 0; l < 4; l++)
				first[l] = 1000;
			for (int r = 0; r < k; r++)
			{
				int			l = gl[order[r]] + 2;

				votes[l]++;
				if (first[l] > r)
					first[l] = r;
			}
			for (int l = 0; l < 4; l++)
				if (votes[l] > 0 && (best < 0 || votes[l] > votes[best] ||
									 (votes[l] == votes[best] && first[l] < first[best])))
					best = l;
			CHECK_EQ_INT(pred[qi], best - 2);
			expect += (best - 2) != ql[qi];
		}
		CHECK_EQ_INT(wrong, expect);
	}
}

SP_TEST(rm_mean_drift)
{
	/* gallery: x axis, y axis, zero vector */
	const float g[3 * 2] = {1, 0, 0, 2, 0, 0};
	/* queries: x axis scaled (0), 45 degrees from y, opposite x (2), anything vs zero */
	const float q[4 * 2] = {3, 0, 1, 1, -1, 0, 1, 1};
	const int32_t self[4] = {0, 1, 0, 2};
	double		m;
	int64_t		skipped = -1;
	sp_error	e;
	int			left = 0;
	sp_env		env = *sp_env_default();

	CHECK_EQ_INT(sp_rm_mean_drift(NULL, g, 3, q, self, 4, 2, &m, &skipped, &e), SP_OK);
	CHECK_NEAR(m, (0.0 + (1.0 - sqrt(0.5)) + 2.0) / 3, 1e-6);
	CHECK_EQ_INT(skipped, 1);
	CHECK_EQ_INT(sp_rm_mean_drift(NULL, g, 3, q + 6, self + 3, 1, 2, &m, NULL, &e), SP_OK);
	CHECK(isnan(m));
	CHECK_EQ_INT(sp_rm_mean_drift(NULL, g, 3, q, (const int32_t[]) {3}, 1, 2, &m, NULL, &e),
				 SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mean_drift(NULL, g, 3, q, NULL, 1, 2, &m, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mean_drift(NULL, g, 3, q, self, 0, 2, &m, NULL, &e), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_rm_mean_drift(NULL, g, 3, q, self, 1, 2, NULL, NULL, &e), SP_ERR_INVALID_ARG);
	env.interrupted = interrupt_after;
	env.user = &left;
	CHECK_EQ_INT(sp_rm_mean_drift(&env, g, 3, q, self, 4, 2, &m, NULL, &e), SP_ERR_INTERRUPTED);
}

/* The clean error of a report: leave-one-out k-NN, the gallery as its own queries. */
SP_TEST(rm_knn_clean_leave_one_out)
{
	const int32_t self[5] = {0, 1, 2, 3, 4};
	int32_t		pred[5];
	int64_t		wrong = -1;
	sp_error	e;

	/* item 1 ties items 0 and 2 -> item 0; item 2 -> item 1 (label 0): one error */
	CHECK_EQ_INT(sp_rm_knn_error(NULL, gal, gal_lab, 5, gal, gal_lab, self, 5, 2, 1, SP_DISTANCE_L2,
								 &wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(wrong, 1);
	CHECK(pred[0] == 0 && pred[1] == 0 && pred[2] == 0 && pred[3] == 1 && pred[4] == 1);
	/* self-retrieval of the clean gallery is perfect */
	CHECK_EQ_INT(sp_rm_self_retrieval_error(NULL, gal, 5, gal, self, 5, 2, SP_DISTANCE_L2,
											&wrong, pred, &e), SP_OK);
	CHECK_EQ_INT(wrong, 0);
}

/* The per-corruption severity mean follows the one mean rule: NaN members make it NaN. */
SP_TEST(rm_severity_mean)
{
	double		row[5] = {0.1, 0.2, 0.3, NAN, 0.5};
	int			flags = 0;

	CHECK_NEAR(sp_rm_severity_mean(row, 0x7u, &flags), 0.2, 1e-15);
	CHECK_EQ_INT(flags, 0);
	CHECK_NEAR(sp_rm_severity_mean(row, 0x15u, &flags), 0.3, 1e-15);	/* s1, s3, s5 */
	CHECK_EQ_INT(flags, 0);
	CHECK(isnan(sp_rm_severity_mean(row, 0x1fu, &flags)));	/* s4 is undefined */
	CHECK(flags & SP_RM_UNDEFINED);
	flags = 0;
	CHECK(isnan(sp_rm_severity_mean(row, 0x0u, &flags)));	/* nothing selected */
	CHECK(flags & SP_RM_UNDEFINED);
	CHECK(isnan(sp_rm_severity_mean(row, 0x8u, NULL)));
}

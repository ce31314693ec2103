/*
 * test_distance.c: every distance kernel set this CPU supports against a
 * double-precision reference (many lengths, unaligned pointers), exactness on
 * integer data, tails next to a guard page, robust wrappers on overflow and
 * underflow, and the ISA dispatch API.
 */
#include "unit.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/rng.h"
#include "vector/distance.h"

/* xorshift64*: reproducible data without libc rand() */
static uint64_t rng_state;

static void
rng_seed(uint64_t s)
{
	rng_state = s ? s : 0x9E3779B97F4A7C15ull;
}

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* uniform in [-1, 1) */
static float
rng_float(void)
{
	return (float) ((double) (rng_next() >> 40) / (double) (1 << 23) - 1.0);
}

/* The lengths the kernels are checked on: every tail shape plus big ones. */
static size_t test_lengths[80];
static int	n_test_lengths;

static void
init_lengths(void)
{
	if (n_test_lengths)
		return;
	for (size_t n = 0; n <= 67; n++)
		test_lengths[n_test_lengths++] = n;
	test_lengths[n_test_lengths++] = 128;
	test_lengths[n_test_lengths++] = 2000;
	test_lengths[n_test_lengths++] = 16000;
}

/*
 * Tolerance for a float sum of n terms relative to sum |terms|.  The strict
 * worst-case bound for blocked summation is about n * 2^-24, far too loose
 * to be useful; random rounding errors grow like sqrt(n), and measured worst
 * cases over many seeds stay below 0.2 * eps * (sqrt(n) + 4) for every kernel
 * set, so this leaves a 10x margin.  (A dropped or doubled element is caught
 * exactly by integer_data_exact_all_isas.)
 */
static double
rel_tol(size_t n)
{
	return 2.0 * FLT_EPSILON * (sqrt((double) n) + 4.0);
}

static double
sum_abs_prod(const float *a, const float *b, size_t n)
{
	double		s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += fabs((double) a[i] * (double) b[i]);
	return s;
}

/* Check one kernel set on one (a, b, n). */
static void
check_kernels(const sp_distance_kernels *k, const float *a, const float *b, size_t n,
			  int *sp_failed__)
{
	double		l2_ref = sp_dist_l2sq_ref(a, b, n);
	double		dot_ref = sp_dist_dot_ref(a, b, n);
	double		na_ref = sp_dist_normsq_ref(a, n);
	double		nb_ref = sp_dist_normsq_ref(b, n);
	double		dot_abs = sum_abs_prod(a, b, n);
	double		tol = rel_tol(n);
	sp_cosine_parts p;

	CHECK_MSG(fabs(k->l2sq(a, b, n) - l2_ref) <= tol * l2_ref,
			  "%s l2sq n=%zu: %.9g vs %.9g", k->name, n, (double) k->l2sq(a, b, n), l2_ref);
	CHECK_MSG(fabs(k->dot(a, b, n) - dot_ref) <= tol * dot_abs,
			  "%s dot n=%zu: %.9g vs %.9g", k->name, n, (double) k->dot(a, b, n), dot_ref);
	CHECK_MSG(fabs(k->normsq(a, n) - na_ref) <= tol * na_ref,
			  "%s normsq n=%zu: %.9g vs %.9g", k->name, n, (double) k->normsq(a, n), na_ref);
	k->cosine(a, b, n, &p);
	CHECK_MSG(fabs(p.dot - dot_ref) <= tol * dot_abs,
			  "%s cosine.dot n=%zu: %.9g vs %.9g", k->name, n, (double) p.dot, dot_ref);
	CHECK_MSG(fabs(p.norm_a2 - na_ref) <= tol * na_ref,
			  "%s cosine.na n=%zu: %.9g vs %.9g", k->name, n, (double) p.norm_a2, na_ref);
	CHECK_MSG(fabs(p.norm_b2 - nb_ref) <= tol * nb_ref,
			  "%s cosine.nb n=%zu: %.9g vs %.9g", k->name, n, (double) p.norm_b2, nb_ref);
}

SP_TEST(scalar_always_available)
{
	const sp_distance_kernels *k = sp_distance_kernels_for(SP_ISA_SCALAR);

	REQUIRE(k != NULL);
	CHECK(k->isa == SP_ISA_SCALAR);
	CHECK(strcmp(k->name, "scalar") == 0);
	CHECK(sp_cpu_supports(SP_ISA_SCALAR));
	CHECK(sp_distance_kernels_for(SP_ISA_COUNT) == NULL);
	CHECK(sp_distance_kernels_for(SP_ISA_AUTO) == NULL);
	CHECK(sp_distance_kernels_for((sp_isa) 77) == NULL);
}

SP_TEST(random_vs_double_reference_all_isas)
{
	/* +3 floats so pointers can be offset by up to 3 (unaligned) */
	float	   *abuf = malloc((16000 + 3) * sizeof(float));
	float	   *bbuf = malloc((16000 + 3) * sizeof(float));
	int			tested_isas = 0;

	REQUIRE(abuf && bbuf);
	init_lengths();
	for (int isa = 0; isa < SP_ISA_COUNT; isa++)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (!k)
			continue;
		tested_isas++;
		if (sp_unit_verbose)
			fprintf(stderr, "  testing kernels %s\n", k->name);
		for (int li = 0; li < n_test_lengths; li++)
		{
			size_t		n = test_lengths[li];

			for (int off = 0; off < 4; off++)
			{
				float	   *a = abuf + off,
						   *b = bbuf + (3 - off);

				rng_seed(1000 * n + off + 1);
				for (size_t i = 0; i < n; i++)
				{
					a[i] = rng_float();
					b[i] = rng_float();
				}
				check_kernels(k, a, b, n, sp_failed__);
			}
		}
	}
	CHECK(tested_isas >= 1);
	free(abuf);
	free(bbuf);
}

/* Scaled data (large and small magnitudes, mixed signs) */
SP_TEST(scaled_data_all_isas)
{
	static const float scales[] = {1e-12f, 1e-3f, 1.0f, 1e3f, 1e12f};
	float	   *a = malloc(2000 * sizeof(float));
	float	   *b = malloc(2000 * sizeof(float));

	REQUIRE(a && b);
	for (int isa = 0; isa < SP_ISA_COUNT; isa++)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (!k)
			continue;
		for (size_t si = 0; si < sizeof(scales) / sizeof(scales[0]); si++)
		{
			rng_seed(77 + si);
			for (size_t i = 0; i < 2000; i++)
			{
				a[i] = rng_float() * scales[si];
				b[i] = rng_float() * scales[si];
			}
			check_kernels(k, a, b, 2000, sp_failed__);
			check_kernels(k, a, b, 1999, sp_failed__);
		}
	}
	free(a);
	free(b);
}

/*
 * Small integers: every partial sum is an integer below 2^24, so every
 * kernel must be exact; a skipped or doubled element shows up at once.
 */
SP_TEST(integer_data_exact_all_isas)
{
	float	   *a = malloc(16003 * sizeof(float));
	float	   *b = malloc(16003 * sizeof(float));

	REQUIRE(a && b);
	init_lengths();
	for (int isa = 0; isa < SP_ISA_COUNT; isa++)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (!k)
			continue;
		for (int li = 0; li < n_test_lengths; li++)
		{
			size_t		n = test_lengths[li];
			float	   *pa = a + (li % 4),
					   *pb = b + ((li + 1) % 4);
			sp_cosine_parts p;

			rng_seed(n + 5);
			for (size_t i = 0; i < n; i++)
			{
				/* values -5..5 */
				pa[i] = (float) ((int) (rng_next() % 11) - 5);
				pb[i] = (float) ((int) (rng_next() % 11) - 5);
			}
			CHECK_MSG(k->l2sq(pa, pb, n) == sp_dist_l2sq_ref(pa, pb, n), "%s l2sq n=%zu", k->name, n);
			CHECK_MSG(k->dot(pa, pb, n) == sp_dist_dot_ref(pa, pb, n), "%s dot n=%zu", k->name, n);
			CHECK_MSG(k->normsq(pa, n) == sp_dist_normsq_ref(pa, n), "%s normsq n=%zu", k->name, n);
			k->cosine(pa, pb, n, &p);
			CHECK_MSG(p.dot == sp_dist_dot_ref(pa, pb, n), "%s cos.dot n=%zu", k->name, n);
			CHECK_MSG(p.norm_a2 == sp_dist_normsq_ref(pa, n), "%s cos.na n=%zu", k->name, n);
			CHECK_MSG(p.norm_b2 == sp_dist_normsq_ref(pb, n), "%s cos.nb n=%zu", k->name, n);

			/* one non-zero element at each position in turn (small n) */
			if (n > 0 && n <= 67)
			{
				for (size_t j = 0; j < n; j++)
				{
					memset(pa, 0, n * sizeof(float));
					memset(pb, 0, n * sizeof(float));
					pa[j] = 3.0f;
					pb[j] = 2.0f;
					CHECK_MSG(k->l2sq(pa, pb, n) == 1.0f, "%s l2sq n=%zu j=%zu", k->name, n, j);
					CHECK_MSG(k->dot(pa, pb, n) == 6.0f, "%s dot n=%zu j=%zu", k->name, n, j);
					CHECK_MSG(k->normsq(pa, n) == 9.0f, "%s norm n=%zu j=%zu", k->name, n, j);
					k->cosine(pa, pb, n, &p);
					CHECK_MSG(p.dot == 6.0f && p.norm_a2 == 9.0f && p.norm_b2 == 4.0f,
							  "%s cos n=%zu j=%zu", k->name, n, j);
				}
			}
		}
	}
	free(a);
	free(b);
}

/*
 * Vectors that end exactly at a PROT_NONE page: a kernel that reads past
 * the end (e.g. a full-width tail load) crashes here.
 */
SP_TEST(tails_never_read_past_end)
{
	long		page = sysconf(_SC_PAGESIZE);
	char	   *mem;

	REQUIRE(page > 0);
	mem = mmap(NULL, (size_t) page * 2, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(mem != MAP_FAILED);
	REQUIRE(mprotect(mem + page, (size_t) page, PROT_NONE) == 0);

	for (int isa = 0; isa < SP_ISA_COUNT; isa++)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (!k)
			continue;
		for (size_t n = 0; n <= 67; n++)
		{
			/* a ends at the first guard page; b shares the same page */
			float	   *a = (float *) (mem + page) - n;
			float	   *b = (float *) (mem + page) - 2 * 67 - n;
			sp_cosine_parts p;

			for (size_t i = 0; i < n; i++)
			{
				a[i] = (float) (i % 7);
				b[i] = 1.0f;
			}
			CHECK(k->l2sq(a, b, n) == (float) sp_dist_l2sq_ref(a, b, n));
			CHECK(k->dot(a, b, n) == (float) sp_dist_dot_ref(a, b, n));
			CHECK(k->normsq(a, n) == (float) sp_dist_normsq_ref(a, n));
			k->cosine(a, b, n, &p);
			CHECK(p.dot == (float) sp_dist_dot_ref(a, b, n));
		}
	}
	munmap(mem, (size_t) page * 2);
}

SP_TEST(isas_agree_with_each_other)
{
	float		a[2000],
				b[2000];
	const sp_distance_kernels *s = sp_distance_kernels_for(SP_ISA_SCALAR);

	rng_seed(4242);
	for (int i = 0; i < 2000; i++)
	{
		a[i] = rng_float();
		b[i] = rng_float();
	}
	for (int isa = 1; isa < SP_ISA_COUNT; isa++)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (!k)
			continue;
		CHECK_NEAR(k->l2sq(a, b, 2000), s->l2sq(a, b, 2000), 1e-5 * s->l2sq(a, b, 2000));
		CHECK_NEAR(k->dot(a, b, 2000), s->dot(a, b, 2000), 1e-3);
		CHECK_NEAR(k->normsq(a, 2000), s->normsq(a, 2000), 1e-5 * s->normsq(a, 2000));
	}
}

SP_TEST(wrappers_special_cases)
{
	float		z[5] = {0, 0, 0, 0, 0};
	float		x[5] = {1, 2, 3, 4, 5};
	float		nx[5] = {-1, -2, -3, -4, -5};
	float		y[5] = {2, -1, 0, 0, 0};

	for (int isa = 0; isa < SP_ISA_COUNT; isa++)
	{
		if (!sp_distance_kernels_for((sp_isa) isa))
			continue;
		REQUIRE(sp_distance_set_isa((sp_isa) isa, NULL) == SP_OK);

		/* empty vectors */
		CHECK(sp_dist_l2sq(x, y, 0) == 0.0);
		CHECK(sp_dist_dot(x, y, 0) == 0.0);
		CHECK(sp_dist_normsq(x, 0) == 0.0);
		CHECK(isnan(sp_dist_cosine(x, y, 0)));

		/* zero vector: cosine undefined (NaN), others normal */
		CHECK(isnan(sp_dist_cosine(z, x, 5)));
		CHECK(isnan(sp_dist_cosine(x, z, 5)));
		CHECK(isnan(sp_dist_cosine(z, z, 5)));
		CHECK(sp_dist_l2sq(z, x, 5) == 55.0);
		CHECK(sp_dist_normsq(z, 5) == 0.0);

		/* identical / opposite / orthogonal */
		CHECK(sp_dist_cosine(x, x, 5) == 0.0);
		CHECK(sp_dist_cosine(x, nx, 5) == 2.0);
		CHECK_NEAR(sp_dist_cosine(x, y, 5), 1.0, 1e-12);
		CHECK(sp_dist_dot(x, y, 5) == 0.0);
		CHECK(sp_dist_l2sq(x, x, 5) == 0.0);
		CHECK(sp_dist_dot(x, nx, 5) == -55.0);
		CHECK_NEAR(sp_dist_cosine_ref(x, y, 5), 1.0, 1e-12);
	}
	CHECK(sp_distance_set_isa(SP_ISA_AUTO, NULL) == SP_OK);
}

/* Overflow in float must not reach callers of the double wrappers. */
SP_TEST(wrappers_overflow_and_underflow)
{
	float		big[40],
				nbig[40],
				tiny[40],
				tiny2[40];

	for (int i = 0; i < 40; i++)
	{
		big[i] = 3e38f;
		nbig[i] = -3e38f;
		tiny[i] = 1e-30f;
		tiny2[i] = (i % 2) ? 1e-30f : -1e-30f;
	}
	for (int isa = 0; isa < SP_ISA_COUNT; isa++)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (!k)
			continue;
		REQUIRE(sp_distance_set_isa((sp_isa) isa, NULL) == SP_OK);
		/* the raw kernel overflows ... */
		CHECK(isinf(k->l2sq(big, nbig, 40)));
		/* ... the wrapper does not */
		CHECK_NEAR(sp_dist_l2sq(big, nbig, 40), 40.0 * 6e38 * 6e38, 1e-6 * 40.0 * 6e38 * 6e38);
		CHECK_NEAR(sp_dist_dot(big, nbig, 40), -40.0 * 9e76, 1e-6 * 40.0 * 9e76);
		CHECK_NEAR(sp_dist_normsq(big, 40), 40.0 * 9e76, 1e-6 * 40.0 * 9e76);
		CHECK(sp_dist_cosine(big, nbig, 40) == 2.0);
		CHECK(sp_dist_cosine(big, big, 40) == 0.0);

		/* squares of 1e-30 underflow in float; the wrappers stay exact-ish */
		CHECK(k->normsq(tiny, 40) == 0.0f);
		CHECK_NEAR(sp_dist_normsq(tiny, 40) / (40.0 * (double) tiny[0] * tiny[0]), 1.0, 1e-12);
		CHECK_NEAR(sp_dist_cosine(tiny, tiny, 40), 0.0, 1e-12);
		CHECK_NEAR(sp_dist_cosine(tiny, tiny2, 40), 1.0, 1e-12);
		CHECK(sp_dist_l2sq(tiny, tiny2, 40) > 0.0);
	}
	CHECK(sp_distance_set_isa(SP_ISA_AUTO, NULL) == SP_OK);
}

SP_TEST(dispatch_api)
{
	sp_error	err;
	const sp_distance_kernels *best;

	CHECK(sp_distance_set_isa(SP_ISA_AUTO, &err) == SP_OK);
	best = sp_distance_active();
	REQUIRE(best != NULL);
	CHECK(strcmp(sp_distance_isa_name(), best->name) == 0);
	/* auto picks the widest supported set */
	for (int isa = SP_ISA_COUNT - 1; isa >= 0; isa--)
	{
		if (sp_distance_kernels_for((sp_isa) isa))
		{
			CHECK_EQ_INT(best->isa, isa);
			break;
		}
	}

	CHECK(sp_distance_set_isa(SP_ISA_SCALAR, &err) == SP_OK);
	CHECK(strcmp(sp_distance_isa_name(), "scalar") == 0);
	CHECK(sp_distance_active() == sp_distance_kernels_for(SP_ISA_SCALAR));

	for (int isa = 1; isa < SP_ISA_COUNT; isa++)
	{
		sp_status	st = sp_distance_set_isa((sp_isa) isa, &err);

		if (sp_cpu_supports((sp_isa) isa))
		{
			CHECK(st == SP_OK);
			CHECK(sp_distance_active()->isa == (sp_isa) isa);
		}
		else
		{
			CHECK(st == SP_ERR_UNSUPPORTED);
			CHECK(strstr(err.message, "not supported") != NULL);
		}
	}
	CHECK(sp_distance_set_isa((sp_isa) 42, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_distance_set_isa((sp_isa) -7, &err) == SP_ERR_INVALID_ARG);

	CHECK_EQ_INT(sp_isa_from_name("scalar"), SP_ISA_SCALAR);
	CHECK_EQ_INT(sp_isa_from_name("AVX2"), SP_ISA_AVX2);
	CHECK_EQ_INT(sp_isa_from_name("avx512"), SP_ISA_AVX512);
	CHECK_EQ_INT(sp_isa_from_name("auto"), SP_ISA_AUTO);
	CHECK_EQ_INT(sp_isa_from_name("sse9"), -2);
	CHECK_EQ_INT(sp_isa_from_name(NULL), -2);
	CHECK(strcmp(sp_isa_name(SP_ISA_AVX2), "avx2") == 0);
	CHECK(strcmp(sp_isa_name((sp_isa) 99), "unknown") == 0);

	CHECK(sp_distance_set_isa(SP_ISA_AUTO, &err) == SP_OK);
	CHECK(sp_distance_active() == best);
}

/* The few-shot softmax: stable at extreme temperatures, NaN distances. */
SP_TEST(softmin_extremes)
{
	double		d[3] = {0.5, 0.25, 1.0};
	double		p[3];
	double		nan3[3] = {NAN, NAN, NAN};
	double		mixed[3] = {NAN, 0.3, 0.4};

	/* the plain formula at T = 1 */
	sp_softmin(d, 3, 1.0, p);
	{
		double		z = exp(-0.5) + exp(-0.25) + exp(-1.0);

		CHECK_NEAR(p[0], exp(-0.5) / z, 1e-15);
		CHECK_NEAR(p[1], exp(-0.25) / z, 1e-15);
		CHECK_NEAR(p[2], exp(-1.0) / z, 1e-15);
	}
	/* tiny temperatures: the nearest takes everything, no overflow or NaN */
	for (int i = 0; i < 4; i++)
	{
		double		t = (double[]) {1e-3, 1e-300, 4.9e-324, 1e-10}[i];

		sp_softmin(d, 3, t, p);
		CHECK(p[1] == 1.0 && p[0] < 1e-100 && p[2] < 1e-300);
		CHECK(p[0] >= 0 && p[2] >= 0);
	}
	CHECK(p[0] == 0.0 && p[2] == 0.0);	/* T = 1e-10: below the double range */
	/* huge temperatures: flat, finite */
	for (int i = 0; i < 2; i++)
	{
		double		t = (double[]) {1e300, 1.7e308}[i];

		sp_softmin(d, 3, t, p);
		for (int j = 0; j < 3; j++)
			CHECK_NEAR(p[j], 1.0 / 3, 1e-12);
	}
	/* ties share; n = 1 is certain; n = 0 is a no-op */
	{
		double		tie[2] = {0.7, 0.7};

		sp_softmin(tie, 2, 1e-300, p);
		CHECK(p[0] == 0.5 && p[1] == 0.5);
		sp_softmin(d, 1, 1e-300, p);
		CHECK(p[0] == 1.0);
		sp_softmin(d, 0, 1.0, p);
	}
	/* NaN distances: probability 0, or all NaN when nothing is defined */
	sp_softmin(mixed, 3, 0.1, p);
	CHECK(p[0] == 0.0);
	CHECK_NEAR(p[1], 1 / (1 + exp(-1.0)), 1e-15);
	CHECK_NEAR(p[1] + p[2], 1.0, 1e-15);
	sp_softmin(nan3, 3, 1.0, p);
	CHECK(isnan(p[0]) && isnan(p[1]) && isnan(p[2]));
	/* in place */
	memcpy(p, d, sizeof d);
	sp_softmin(p, 3, 1e-300, p);
	CHECK(p[1] == 1.0 && p[0] == 0.0);
}

/*
 * Cosine distance against a reference written here, independent of the
 * library's cosine_from_parts (which its own reference and the kernels
 * share): long double sums, 1 - dot / (|a| |b|) with two square roots.
 * Random vectors of many lengths and scales, and near-parallel pairs where
 * the clamp to [0, 2] matters.
 */
SP_TEST(cosine_against_independent_reference)
{
	sp_rng		rng;

	sp_rng_seed(&rng, 20261207, 0);
	for (int t = 0; t < 400; t++)
	{
		size_t		n = 1 + (size_t) (sp_rng_uniform(&rng) * 300);
		float		a[300],
					b[300];
		double		scale = pow(10.0, (double) (t % 9) - 4.0);
		long double dot = 0,
					na = 0,
					nb = 0,
					want;

		for (size_t i = 0; i < n; i++)
		{
			a[i] = (float) ((sp_rng_uniform(&rng) - 0.5) * scale);
			/* every fourth pair nearly parallel */
			b[i] = t % 4 == 0 ? a[i] * 1.5f + (float) ((sp_rng_uniform(&rng) - 0.5) * scale * 1e-4)
				: (float) ((sp_rng_uniform(&rng) - 0.5) * scale);
		}
		for (size_t i = 0; i < n; i++)
		{
			dot += (long double) a[i] * b[i];
			na += (long double) a[i] * a[i];
			nb += (long double) b[i] * b[i];
		}
		if (na == 0 || nb == 0)
			continue;
		want = 1.0L - dot / (sqrtl(na) * sqrtl(nb));
		if (want < 0)
			want = 0;
		CHECK_MSG(fabs(sp_dist_cosine(a, b, n) - (double) want) <= 2e-6,
				  "n=%zu scale=%g: %.9g vs %.9Lg", n, scale, sp_dist_cosine(a, b, n), want);
		CHECK_MSG(fabs(sp_dist_cosine_ref(a, b, n) - (double) want) <= 1e-12,
				  "ref n=%zu scale=%g: %.15g vs %.15Lg", n, scale, sp_dist_cosine_ref(a, b, n), want);
		CHECK(sp_dist_cosine(a, b, n) >= 0.0 && sp_dist_cosine(a, b, n) <= 2.0);
	}
}

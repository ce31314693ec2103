/*
 * test_pca.c: PCA by power iteration against known answers: an axis-aligned
 * cloud (components are the axes, in variance order), a rotated 2-d ellipse
 * embedded in 5-d (first component along the rotated major axis), variance
 * fractions, deterministic signs, degenerate inputs and argument checks.
 */
#include <stdlib.h>

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
	float		out[12];
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
	float	   *out = malloc(sizeof(float) * n * 2);
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
	float		out[8];
	double		expl[2];
	sp_error	err;

	/* identical points: zero projections, zero variance, no NaN */
	REQUIRE(sp_pca_project(sp_env_default(), same, 4, 2, 2, out, expl, NULL, &err) == SP_OK);
	for (int i = 0; i < 8; i++)
		CHECK(out[i] == 0.0f);
	CHECK(expl[0] == 0.0 && expl[1] == 0.0);
	/* a single point */
	REQUIRE(sp_pca_project(sp_env_default(), one, 1, 3, 2, out, expl, NULL, &err) == SP_OK);
	CHECK(out[0] == 0.0f && out[1] == 0.0f);
	/* bad arguments */
	CHECK(sp_pca_project(sp_env_default(), one, 1, 3, 4, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_pca_project(sp_env_default(), one, 1, 1, 2, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_pca_project(sp_env_default(), one, 0, 3, 2, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_pca_project(sp_env_default(), NULL, 1, 3, 2, out, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
}

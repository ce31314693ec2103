/*
 * test_quantize.c: the codes of vector/quantize.h.  bf16 rounding against
 * worked cases (ties to even, carries, NaN, inf) and its error bound; sq8
 * training, encoding and its error bound; every kernel set this CPU has
 * against a double-precision reference on decoded vectors, for lengths
 * around the vector width, and the scalar and AVX-512 sets against each
 * other.
 */
#include "unit.h"
#include "test_nn_util.h"
#include "vector/quantize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float
f_of(uint32_t u)
{
	float		f;

	memcpy(&f, &u, sizeof f);
	return f;
}

SP_TEST(bf16_rounding)
{
	/* exact, ties to even (down and up), above the tie, a carry into the exponent */
	CHECK_EQ_INT(sp_bf16_round(1.0f), 0x3f80);
	CHECK_EQ_INT(sp_bf16_round(f_of(0x3f808000)), 0x3f80);	/* tie, even below */
	CHECK_EQ_INT(sp_bf16_round(f_of(0x3f818000)), 0x3f82);	/* tie, even above */
	CHECK_EQ_INT(sp_bf16_round(f_of(0x3f808001)), 0x3f81);
	CHECK_EQ_INT(sp_bf16_round(f_of(0x3fffffff)), 0x4000);
	CHECK_EQ_INT(sp_bf16_round(-2.0f), 0xc000);
	CHECK_EQ_INT(sp_bf16_round(INFINITY), 0x7f80);
	CHECK_EQ_INT(sp_bf16_round(f_of(0x7f7fffff)), 0x7f80);	/* FLT_MAX rounds to inf, as in torch */
	CHECK((sp_bf16_round(NAN) & 0x7f80) == 0x7f80 && (sp_bf16_round(NAN) & 0x7f) != 0);
	CHECK((sp_bf16_round(f_of(0x7f800001)) & 0x7f) != 0);	/* a NaN with low payload stays NaN */
	/* relative error at most 2^-8 (8 significant bits) on normal values */
	{
		uint64_t	s = 5;
		double		worst = 0;

		for (int i = 0; i < 100000; i++)
		{
			float		x = tu_uniform(&s, -1000, 1000),
						y;
			uint16_t	c = sp_bf16_round(x);

			sp_bf16_decode(&c, 1, &y);
			if (x != 0)
				worst = fmax(worst, fabs((double) y - x) / fabs(x));
		}
		CHECK_MSG(worst <= 1.0 / 256, "bf16 relative error %g", worst);
	}
}

SP_TEST(sq8_train_encode)
{
	enum
	{
		N = 200, D = 7
	};
	float		x[N * D],
				lo[D],
				step[D],
				y[D];
	uint8_t		c[D];
	uint64_t	s = 9;
	double		worst = 0;

	tu_fill(&s, x, N * D, -3, 5);
	for (int i = 0; i < N; i++)
		x[i * D + 6] = 2.5f;	/* a value that never varies */
	x[3 * D + 2] = NAN;			/* ignored by training */
	sp_sq8_train(x, N, D, lo, step);
	CHECK(step[6] == 0 && lo[6] == 2.5f);
	for (int d = 0; d < 6; d++)
		CHECK(lo[d] >= -3 && lo[d] < -2.8 && step[d] > 7.5 / 255 && step[d] <= 8.0 / 255);
	for (int i = 0; i < N; i++)
	{
		if (i == 3)
			continue;
		sp_sq8_encode(lo, step, x + i * D, D, c);
		sp_sq8_decode(lo, step, c, D, y);
		for (int d = 0; d < D; d++)
			worst = fmax(worst, fabs((double) y[d] - x[i * D + d]) - (d == 6 ? 0 : step[d] / 2));
	}
	CHECK_MSG(worst <= 1e-6, "sq8 error beyond half a step by %g", worst);
	/* outside the range: clamped; NaN: 0 */
	{
		float		out[D] = {-100, 100, NAN, 0, 0, 0, 2.5f};

		sp_sq8_encode(lo, step, out, D, c);
		CHECK(c[0] == 0 && c[1] == 255 && c[2] == 0 && c[6] == 0);
	}
	CHECK_EQ_INT(sp_code_bytes(SP_CODE_SQ8, 128), 128);
	CHECK_EQ_INT(sp_code_bytes(SP_CODE_BF16, 128), 256);
	CHECK_EQ_INT(sp_code_kind_from_name("bf16"), SP_CODE_BF16);
	CHECK_EQ_INT(sp_code_kind_from_name("rabitq"), -1);
	CHECK(strcmp(sp_code_kind_name(SP_CODE_SQ8), "sq8") == 0);
}

/* Each kernel set against double sums over the decoded codes. */
SP_TEST(quant_kernels_vs_reference)
{
	static const size_t lens[] = {0, 1, 7, 15, 16, 17, 31, 32, 33, 128, 200, 768, 1001};
	const sp_quant_kernels *sets[2] = {sp_quant_kernels_for(SP_ISA_SCALAR), sp_quant_kernels_for(SP_ISA_AVX512)};
	uint64_t	s = 17;

	REQUIRE(sets[0] != NULL);
	CHECK(sp_quant_active() != NULL);
	if (!sets[1])
		fprintf(stderr, "    (no AVX-512BW/VL on this CPU: the scalar set only)\n");
	for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
	{
		size_t		n = lens[li];
		float	   *q = malloc(sizeof(float) * (n + 1)),
				   *x = malloc(sizeof(float) * (n + 1)),
				   *dec = malloc(sizeof(float) * (n + 1)),
				   *lo = malloc(sizeof(float) * (n + 1)),
				   *step = malloc(sizeof(float) * (n + 1)),
				   *qs = malloc(sizeof(float) * (n + 1)),
				   *dd = malloc(sizeof(float) * (n + 1)),
					bias;
		uint16_t   *cb = malloc(sizeof(uint16_t) * (n + 1));
		uint8_t    *c8 = malloc(n + 1);
		double		rdot = 0,
					rl2 = 0,
					r8dot = 0,
					r8l2 = 0,
					scale = 0;
		float		got[2][4];

		tu_fill(&s, q, n, -1, 1);
		tu_fill(&s, x, n, -1, 1);
		sp_bf16_encode(x, n, cb);
		sp_bf16_decode(cb, n, dec);
		for (size_t i = 0; i < n; i++)
		{
			rdot += (double) q[i] * dec[i];
			rl2 += ((double) q[i] - dec[i]) * ((double) q[i] - dec[i]);
			scale += fabs(q[i]) * 2;
		}
		for (size_t i = 0; i < n; i++)
		{
			lo[i] = -1.0f;
			step[i] = 2.0f / 255;
		}
		sp_sq8_encode(lo, step, x, n, c8);
		sp_sq8_decode(lo, step, c8, n, dec);
		sp_sq8_prepare(lo, step, q, n, qs, dd, &bias);
		for (size_t i = 0; i < n; i++)
		{
			r8dot += (double) q[i] * dec[i];
			r8l2 += ((double) q[i] - dec[i]) * ((double) q[i] - dec[i]);
		}
		for (int k = 0; k < 2; k++)
		{
			const sp_quant_kernels *K = sets[k];
			double		tol = 1e-5 * (scale + 1);

			if (!K)
				continue;
			got[k][0] = K->bf16_dot(q, cb, n);
			got[k][1] = K->bf16_l2sq(q, cb, n);
			got[k][2] = bias + K->sq8_dot(qs, c8, n);
			got[k][3] = K->sq8_l2sq(dd, step, c8, n);
			CHECK_MSG(fabs(got[k][0] - rdot) <= tol, "%s bf16_dot n=%zu: %g vs %g", K->name, n, got[k][0], rdot);
			CHECK_MSG(fabs(got[k][1] - rl2) <= tol, "%s bf16_l2sq n=%zu: %g vs %g", K->name, n, got[k][1], rl2);
			CHECK_MSG(fabs(got[k][2] - r8dot) <= tol, "%s sq8 dot n=%zu: %g vs %g", K->name, n, got[k][2], r8dot);
			CHECK_MSG(fabs(got[k][3] - r8l2) <= tol, "%s sq8_l2sq n=%zu: %g vs %g", K->name, n, got[k][3], r8l2);
		}
		if (sets[1])
			for (int j = 0; j < 4; j++)
				CHECK_MSG(fabs(got[0][j] - got[1][j]) <= 1e-5 * (scale + 1), "scalar vs avx512, kernel %d n=%zu", j, n);
		free(q);
		free(x);
		free(dec);
		free(lo);
		free(step);
		free(qs);
		free(dd);
		free(cb);
		free(c8);
	}
}

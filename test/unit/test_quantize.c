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
#include "vector/distance.h"
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

/* ------------------------------------------------------------------------
 * Stored codes (sp_vcode_*)
 * ------------------------------------------------------------------------ */

static const sp_code_kind vcode_kinds[] = {SP_CODE_F32, SP_CODE_BF16, SP_CODE_SQ8};

/*
 * Every code decodes within its own stated error, states an error of the
 * expected size (bf16 about 2^-9 relative, sq8 half a grid step per value),
 * and a magnitude bound no smaller than the decoded norm.
 */
SP_TEST(vcode_roundtrip_error)
{
	static const size_t dims[] = {1, 3, 16, 17, 31, 128, 769};
	static const float scales[] = {1e-3f, 1.0f, 1e3f, 1e30f};
	uint64_t	s = 11;

	for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
		for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
			for (size_t ki = 0; ki < 3; ki++)
			{
				size_t		n = dims[di];
				sp_code_kind k = vcode_kinds[ki];
				float	   *x = malloc(n * sizeof(float)),
						   *y = malloc(n * sizeof(float));
				size_t		bytes = sp_vcode_bytes(k, n);
				void	   *code = malloc(bytes + 8);
				double		e2 = 0,
							y2 = 0,
							x2 = 0,
							range;
				float		err,
							mag,
							mn = INFINITY,
							mx = -INFINITY;

				CHECK(bytes % 4 == 0);
				tu_fill(&s, x, n, -scales[si], scales[si]);
				memset(code, 0xAB, bytes + 8);
				sp_vcode_encode(k, x, n, code);
				CHECK(((unsigned char *) code)[bytes] == 0xAB);	/* writes only its bytes */
				sp_vcode_decode(k, code, n, y);
				sp_vcode_bounds(k, code, n, &err, &mag);
				for (size_t i = 0; i < n; i++)
				{
					e2 += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
					y2 += (double) y[i] * y[i];
					x2 += (double) x[i] * x[i];
					mn = fminf(mn, x[i]);
					mx = fmaxf(mx, x[i]);
				}
				range = (double) mx - mn;
				/* the float decode may round once more than the exact x' the error is of */
				CHECK_MSG(sqrt(e2) <= err * (1 + 1e-6) + 1e-6 * sqrt(y2), "%s dim %zu: error %g above stated %g",
						  sp_code_kind_name(k), n, sqrt(e2), (double) err);
				CHECK_MSG(sqrt(y2) <= mag * (1 + 1e-6), "%s: mag %g below |x'| %g", sp_code_kind_name(k),
						  (double) mag, sqrt(y2));
				if (k == SP_CODE_F32)
					CHECK(err == 0 && memcmp(x, y, n * sizeof(float)) == 0);
				else if (k == SP_CODE_BF16)
					CHECK_MSG(err <= sqrt(x2) / 256 + 1e-30, "bf16 error %g for |x| %g", (double) err, sqrt(x2));
				else
					CHECK_MSG(err <= range / 255 / 2 * sqrt((double) n) * 1.001 + 1e-30,
							  "sq8 error %g for range %g", (double) err, range);
				free(x);
				free(y);
				free(code);
			}
}

/* Euclidean-normalised copy, as the index stores cosine vectors. */
static void
normalise(const float *x, size_t n, float *out)
{
	double		s = 0;

	for (size_t i = 0; i < n; i++)
		s += (double) x[i] * x[i];
	s = sqrt(s);
	for (size_t i = 0; i < n; i++)
		out[i] = (float) (x[i] / s);
}

/*
 * The lower bound an index reports for a re-rank is never above the
 * distance SQL computes (sp_dist) for the original vector, with every
 * kernel set, every code, every distance kind, at scales from tiny to
 * huge and for near-duplicates (where float cancellation is worst); and it
 * is tight: within a few code errors of the distance, so that a re-rank
 * reads only a few extra rows.
 */
SP_TEST(vcode_lower_bound_below_sql_distance)
{
	static const size_t dims[] = {3, 17, 128, 1000};
	static const float scales[] = {1e-6f, 1.0f, 1e4f, 1e15f};
	uint64_t	s = 23;
	long		checked = 0;
	double		worst_gap = 0;

	for (int isa = SP_ISA_SCALAR; isa < SP_ISA_COUNT; isa++)
	{
		const sp_quant_kernels *qk = sp_quant_kernels_for((sp_isa) isa);
		sp_error	err_;

		if (!qk || sp_distance_set_isa((sp_isa) isa, &err_) != SP_OK)
			continue;
		for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
			for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
				for (int trial = 0; trial < 12; trial++)
				{
					size_t		n = dims[di];
					float	   *q = malloc(n * sizeof(float)),
							   *x = malloc(n * sizeof(float)),
							   *qn = malloc(n * sizeof(float)),
							   *xn = malloc(n * sizeof(float));
					size_t		cap = 0;
					void	   *code;

					for (size_t ki = 0; ki < 3; ki++)	/* room for the largest code */
						if (sp_vcode_bytes(vcode_kinds[ki], n) > cap)
							cap = sp_vcode_bytes(vcode_kinds[ki], n);
					code = malloc(cap);

					tu_fill(&s, q, n, -scales[si], scales[si]);
					if (trial % 3 == 0)
						tu_fill(&s, x, n, -scales[si], scales[si]);
					else
						for (size_t i = 0; i < n; i++)	/* a near-duplicate of q */
							x[i] = q[i] * (1 + tu_uniform(&s, -1, 1) * (trial % 3 == 1 ? 1e-2f : 1e-5f));
					normalise(q, n, qn);
					normalise(x, n, xn);
					for (int kind = SP_DISTANCE_L2; kind <= SP_DISTANCE_IP; kind++)
						for (size_t ki = 0; ki < 3; ki++)
						{
							sp_code_kind k = vcode_kinds[ki];
							const float *qq = kind == SP_DISTANCE_COSINE ? qn : q,
									   *xx = kind == SP_DISTANCE_COSINE ? xn : x;
							double		qsum = 0,
										qn2 = 0,
										approx,
										lb,
										truth;
							float		err,
										mag;

							for (size_t i = 0; i < n; i++)
							{
								qsum += qq[i];
								qn2 += (double) qq[i] * qq[i];
							}
							sp_vcode_encode(k, xx, n, code);
							sp_vcode_bounds(k, code, n, &err, &mag);
							if (kind == SP_DISTANCE_L2)
								approx = sp_vcode_l2sq(qk, k, qq, (float) qsum, sp_dist_normsq(qq, n), code, n);
							else if (kind == SP_DISTANCE_COSINE)
								approx = 1.0 - sp_vcode_dot(qk, k, qq, (float) qsum, code, n);
							else
								approx = -sp_vcode_dot(qk, k, qq, (float) qsum, code, n);
							lb = sp_vcode_lower_bound(kind, approx, err, mag, sqrt(qn2), n);
							truth = sp_dist((sp_distance_kind) kind, q, x, n);
							checked++;
							CHECK_MSG(lb <= truth, "%s %s %s dim %zu scale %g trial %d: bound %.17g above %.17g",
									  sp_isa_name((sp_isa) isa), sp_code_kind_name(k),
									  sp_distance_kind_name((sp_distance_kind) kind), n, (double) scales[si], trial,
									  lb, truth);
							/* tight: a few code errors plus rounding (relative to the scale) */
							{
								double		scale = kind == SP_DISTANCE_COSINE ? 1.0 : kind == SP_DISTANCE_L2 ?
									sqrt(qn2) + mag : sqrt(qn2) * mag;
								double		slack = kind == SP_DISTANCE_L2 ? 2.0 * err + 1e-2 * scale :
									2.0 * sqrt(qn2) * err + 1e-3 * scale;
								double		gap = (truth - lb) / (scale > 0 ? scale : 1);

								if (isfinite(gap) && gap > worst_gap && k != SP_CODE_F32)
									worst_gap = gap;
								CHECK_MSG(truth - lb <= slack + 1e-30, "%s %s %s dim %zu scale %g: bound %.9g far below %.9g",
										  sp_isa_name((sp_isa) isa), sp_code_kind_name(k),
										  sp_distance_kind_name((sp_distance_kind) kind), n, (double) scales[si], lb, truth);
							}
						}
					free(q);
					free(x);
					free(qn);
					free(xn);
					free(code);
				}
	}
	sp_distance_set_isa(SP_ISA_AUTO, NULL);
	CHECK(checked >= 3 * 4 * 4 * 12 * 3);
}

/* Non-finite approximations give the loosest bound, never a wrong one. */
SP_TEST(vcode_lower_bound_non_finite)
{
	CHECK(sp_vcode_lower_bound(SP_DISTANCE_L2, INFINITY, 0.1, 1, 1, 8) == 0.0);
	CHECK(sp_vcode_lower_bound(SP_DISTANCE_COSINE, NAN, 0.1, 1, 1, 8) == 0.0);
	CHECK(isinf(sp_vcode_lower_bound(SP_DISTANCE_IP, NAN, 0.1, 1, 1, 8)) &&
		  sp_vcode_lower_bound(SP_DISTANCE_IP, NAN, 0.1, 1, 1, 8) < 0);
	/* an exact code (err 0) still allows for rounding: just below */
	CHECK(sp_vcode_lower_bound(SP_DISTANCE_L2, 4.0, 0, 1, 1, 8) < 2.0);
	CHECK(sp_vcode_lower_bound(SP_DISTANCE_L2, 4.0, 0, 1, 1, 8) > 1.999);
}

/*
 * Every kernel set decodes sq8 codes as the scalar one does, to within the
 * rounding of lo + step * c (AVX-512 fuses the multiply-add), and writes
 * nothing past the end.
 */
SP_TEST(sq8_decode_kernels_agree)
{
	const sp_quant_kernels *ref = sp_quant_kernels_for(SP_ISA_SCALAR);
	uint64_t	s = 41;

	for (int isa = SP_ISA_SCALAR; isa < SP_ISA_COUNT; isa++)
	{
		const sp_quant_kernels *qk = sp_quant_kernels_for((sp_isa) isa);

		if (!qk)
			continue;
		for (size_t n = 0; n <= 70; n += (n < 40 ? 1 : 29))
		{
			uint8_t		c[128];
			float		a[128],
						b[128];
			float		lo = tu_uniform(&s, -3, 3),
						step = tu_uniform(&s, 0, 0.05f);

			for (size_t i = 0; i < n; i++)
				c[i] = (uint8_t) (tu_next(&s) & 0xff);
			memset(b, 0x7f, sizeof b);
			ref->sq8_decode(lo, step, c, n, a);
			qk->sq8_decode(lo, step, c, n, b);
			for (size_t i = 0; i < n; i++)
				CHECK_MSG(fabs((double) a[i] - b[i]) <= 0x1p-23 * (fabs(lo) + step * c[i]),
						  "%s sq8_decode differs at n %zu: %.9g against %.9g", qk->name, n, (double) b[i], (double) a[i]);
			CHECK(n == 128 || ((unsigned char *) b)[n * sizeof(float)] == 0x7f);	/* nothing past the end */
		}
	}
}

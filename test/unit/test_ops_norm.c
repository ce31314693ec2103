/*
 * test_ops_norm.c: the normalisation, softmax and reduction ops
 * (nn/ops/norm.c, nn/ops/reduce.c) run as one-node graphs against naive
 * double-precision references written here: BatchNormalization,
 * InstanceNormalization, LayerNormalization (broadcast Scale/B, Mean and
 * InvStdDev outputs, constant rows), Softmax/LogSoftmax (opset < 13
 * coercion, negative and middle axes, -inf and large values), every Reduce*
 * (axes as attribute and input, keepdims, noop_with_empty_axes, negative
 * axes, empty sets, int64), LpNormalization, SiameseL2Norm (bit-identical to
 * sp_nn_l2norm_rows), ArgMax/ArgMin; constant folding; and the errors.
 */
#include "unit.h"
#include "nn/graph.h"
#include "nn/op.h"
#include "nn/nn_layers.h"

#include <stdint.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------- */
/* Building and running one-node graphs. */

typedef struct tgraph
{
	sp_graph   *g;
	sp_node    *n;
	sp_error	err;
	int			n_out;
} tgraph;

static const char *const out_names[3] = {"y0", "y1", "y2"};

/*
 * A graph with input "x" (dtype dt, shape xs) and one node "node" of op
 * reading ins and writing y0.. (n_out of them, all graph outputs).  Other
 * input names must be made constants (tg_const_*) before tg_prepare.
 */
static bool
tg_begin(tgraph *t, const char *op, sp_dtype dt, const sp_shape *xs, const char *const *ins, int n_in,
		 int n_out)
{
	memset(t, 0, sizeof(*t));
	t->n_out = n_out;
	if (sp_graph_create(sp_env_default(), &t->g, &t->err) != SP_OK)
		return false;
	if (sp_graph_add_input(t->g, sp_graph_value(t->g, "x", &t->err), dt, xs, &t->err) != SP_OK)
		return false;
	t->n = sp_graph_add_node(t->g, op, "node", ins, n_in, out_names, n_out, &t->err);
	if (!t->n)
		return false;
	for (int o = 0; o < n_out; o++)
		if (sp_graph_add_output(t->g, sp_graph_find(t->g, out_names[o]), &t->err) != SP_OK)
			return false;
	return true;
}

static bool
tg_const_f(tgraph *t, const char *name, const sp_shape *s, const float *v)
{
	return sp_graph_set_constant(t->g, sp_graph_value(t->g, name, &t->err), SP_DT_FLOAT, s, v, &t->err) == SP_OK;
}

static bool
tg_const_i(tgraph *t, const char *name, const sp_shape *s, const int64_t *v)
{
	return sp_graph_set_constant(t->g, sp_graph_value(t->g, name, &t->err), SP_DT_INT64, s, v, &t->err) == SP_OK;
}

static sp_status
tg_prepare(tgraph *t)
{
	return sp_graph_prepare(t->g, NULL, &t->err);
}

static const sp_shape *
tg_out_shape(const tgraph *t, int o)
{
	return &t->g->values[sp_graph_find(t->g, out_names[o])].shape;
}

static sp_status
tg_run(tgraph *t, const void *x, void **outs)
{
	void	   *arena = NULL;
	const void *in[1] = {x};
	sp_status	st;

	if (posix_memalign(&arena, 64, sp_graph_run_bytes(t->g) + 64) != 0)
		return SP_ERR_NOMEM;
	st = sp_graph_run(t->g, sp_env_default(), arena, in, outs, &t->err);
	free(arena);
	return st;
}

/* Prepare and run with float output y (one output). */
static sp_status
tg_run1(tgraph *t, const void *x, void *y)
{
	void	   *outs[1] = {y};
	sp_status	st = tg_prepare(t);

	return st != SP_OK ? st : tg_run(t, x, outs);
}

/* ---------------------------------------------------------------------- */
/* Data and comparison. */

static uint64_t rng_state = 12345;

static double
urand(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double) (rng_state >> 11) / 9007199254740992.0;
}

static void
fill(float *x, int64_t n, double lo, double hi)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = (float) (lo + (hi - lo) * urand());
}

static int64_t
numel(const sp_shape *s)
{
	return sp_shape_numel(s);
}

/* Index of the first element of got not within tol (relative, absolute floor) of ref; -1 if all are. */
static int64_t
mismatch(const float *got, const double *ref, int64_t n, double tol)
{
	for (int64_t i = 0; i < n; i++)
	{
		double		g = got[i],
					r = ref[i];

		if (isnan(r) || isnan(g))
		{
			if (!(isnan(r) && isnan(g)))
				return i;
			continue;
		}
		if (isinf((float) r) || isinf(g))
		{
			if (g != (float) r)
				return i;
			continue;
		}
		if (fabs(g - r) > tol * (1.0 + fabs(r)))
			return i;
	}
	return -1;
}

#define CHECK_ARR(got, ref, n, tol) do { int64_t i__ = mismatch((got), (ref), (n), (tol)); \
	CHECK_MSG(i__ < 0, "element %lld: %.9g vs reference %.9g", (long long) i__, \
			  i__ >= 0 ? (double) (got)[i__] : 0.0, i__ >= 0 ? (ref)[i__] : 0.0); } while (0)

static bool
shape_is(const sp_shape *s, int rank, const int64_t *dims)
{
	if (s->rank != rank)
		return false;
	for (int i = 0; i < rank; i++)
		if (s->dim[i] != dims[i])
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */
/* References. */

/* Softmax (or log) of x viewed as [outer, D, inner] along D. */
static void
ref_softmax(const float *x, int64_t outer, int64_t D, int64_t inner, bool log_sm, double *y)
{
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			double		m = -INFINITY,
						s = 0.0;

			for (int64_t j = 0; j < D; j++)
				m = fmax(m, x[(o * D + j) * inner + i]);
			for (int64_t j = 0; j < D; j++)
				s += exp(x[(o * D + j) * inner + i] - m);
			for (int64_t j = 0; j < D; j++)
			{
				double		v = x[(o * D + j) * inner + i] - m;

				y[(o * D + j) * inner + i] = log_sm ? v - log(s) : exp(v) / s;
			}
		}
}

typedef enum
{
	K_SUM, K_MEAN, K_MAX, K_MIN, K_PROD, K_L1, K_L2, K_SUMSQ, K_LOGSUM, K_LOGSUMEXP, K_COUNT
} rkind;

static const char *const rk_names[K_COUNT] = {
	"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
	"ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"
};

/*
 * Reduce x of shape xs over the dims with red[d]: every element is added
 * to the output at its coordinates with the reduced ones zeroed.
 */
static void
ref_reduce(rkind k, const float *x, const sp_shape *xs, const bool *red, double *y, int64_t ny)
{
	int64_t		n = numel(xs);
	int64_t    *cnt = calloc((size_t) ny + 1, sizeof(int64_t));
	double	   *acc = malloc(sizeof(double) * ((size_t) ny + 1));

	for (int64_t o = 0; o < ny; o++)
		acc[o] = k == K_PROD ? 1.0 : (k == K_MAX ? -INFINITY : (k == K_MIN ? INFINITY : 0.0));
	for (int64_t e = 0; e < n; e++)
	{
		int64_t		rem = e,
					o = 0,
					mul = 1;
		double		v = x[e];

		/* coordinates from the last dim */
		for (int d = xs->rank - 1; d >= 0; d--)
		{
			int64_t		c = rem % xs->dim[d];

			rem /= xs->dim[d];
			if (!red[d])
			{
				o += c * mul;
				mul *= xs->dim[d];
			}
		}
		cnt[o]++;
		switch (k)
		{
			case K_SUM:
			case K_MEAN:
			case K_LOGSUM:
				acc[o] += v;
				break;
			case K_MAX:
				acc[o] = (isnan(v) || isnan(acc[o])) ? NAN : fmax(acc[o], v);
				break;
			case K_MIN:
				acc[o] = (isnan(v) || isnan(acc[o])) ? NAN : fmin(acc[o], v);
				break;
			case K_PROD:
				acc[o] *= v;
				break;
			case K_L1:
				acc[o] += fabs(v);
				break;
			case K_L2:
			case K_SUMSQ:
				acc[o] += v * v;
				break;
			case K_LOGSUMEXP:
				acc[o] += exp(v);
				break;
			case K_COUNT:
				break;
		}
	}
	for (int64_t o = 0; o < ny; o++)
	{
		switch (k)
		{
			case K_MEAN:
				y[o] = acc[o] / (double) cnt[o];
				break;
			case K_L2:
				y[o] = sqrt(acc[o]);
				break;
			case K_LOGSUM:
			case K_LOGSUMEXP:
				y[o] = log(acc[o]);
				break;
			default:
				y[o] = acc[o];
		}
	}
	free(cnt);
	free(acc);
}

/* ---------------------------------------------------------------------- */
/* Softmax, LogSoftmax. */

SP_TEST(softmax_along_axis)
{
	sp_shape	xs = {3, {2, 3, 5}};
	float		x[30],
				y[30];
	double		ref[30];
	const char *in[1] = {"x"};
	/* axis, expected outer, D, inner */
	static const int64_t cases[][4] = {{-1, 6, 5, 1}, {2, 6, 5, 1}, {1, 2, 3, 5}, {-2, 2, 3, 5}, {0, 1, 2, 15}, {-3, 1, 2, 15}};

	fill(x, 30, -4, 4);
	for (int lg = 0; lg < 2; lg++)
		for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
		{
			tgraph		t;

			REQUIRE(tg_begin(&t, lg ? "LogSoftmax" : "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
			REQUIRE(sp_node_set_int(t.g, t.n, "axis", cases[c][0], &t.err) == SP_OK);
			REQUIRE(tg_run1(&t, x, y) == SP_OK);
			ref_softmax(x, cases[c][1], cases[c][2], cases[c][3], lg, ref);
			CHECK_ARR(y, ref, 30, 1e-6);
			sp_graph_free(t.g);
		}
	/* default axis is -1 (absent _opset: 13+) */
	{
		tgraph		t;

		REQUIRE(tg_begin(&t, "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_softmax(x, 6, 5, 1, false, ref);
		CHECK_ARR(y, ref, 30, 1e-6);
		sp_graph_free(t.g);
	}
}

SP_TEST(softmax_opset11_coerces_to_2d)
{
	sp_shape	xs = {3, {2, 3, 4}};
	float		x[24],
				y[24];
	double		ref[24];
	const char *in[1] = {"x"};

	fill(x, 24, -3, 3);
	for (int lg = 0; lg < 2; lg++)
	{
		tgraph		t;

		/* default axis 1: rows of 3 * 4 */
		REQUIRE(tg_begin(&t, lg ? "LogSoftmax" : "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "_opset", 11, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_softmax(x, 2, 12, 1, lg, ref);
		CHECK_ARR(y, ref, 24, 1e-6);
		sp_graph_free(t.g);

		/* axis 0: one row of everything */
		REQUIRE(tg_begin(&t, lg ? "LogSoftmax" : "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "_opset", 11, &t.err) == SP_OK);
		REQUIRE(sp_node_set_int(t.g, t.n, "axis", 0, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_softmax(x, 1, 24, 1, lg, ref);
		CHECK_ARR(y, ref, 24, 1e-6);
		sp_graph_free(t.g);

		/* axis -2 = 1 under coercion differs from opset 13's axis 1 */
		REQUIRE(tg_begin(&t, lg ? "LogSoftmax" : "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "_opset", 1, &t.err) == SP_OK);
		REQUIRE(sp_node_set_int(t.g, t.n, "axis", -2, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_softmax(x, 2, 12, 1, lg, ref);
		CHECK_ARR(y, ref, 24, 1e-6);
		sp_graph_free(t.g);

		REQUIRE(tg_begin(&t, lg ? "LogSoftmax" : "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "_opset", 13, &t.err) == SP_OK);
		REQUIRE(sp_node_set_int(t.g, t.n, "axis", 1, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_softmax(x, 2, 3, 4, lg, ref);
		CHECK_ARR(y, ref, 24, 1e-6);
		sp_graph_free(t.g);
	}
}

SP_TEST(softmax_inf_and_large_values)
{
	sp_shape	xs = {2, {5, 4}};
	float		x[20] = {
		1000, 1001, 999, 1000.5f,	/* large: no overflow */
		-1e30f, 3e38f, -3e38f, 0,	/* extreme range */
		-INFINITY, 2, -INFINITY, 1,	/* masked entries: 0 (log: -inf) */
		-INFINITY, -INFINITY, -INFINITY, -INFINITY,	/* all masked: NaN, as the reference */
		NAN, 1, 2, 3				/* NaN poisons the row */
	};
	float		y[20];
	double		ref[20];
	const char *in[1] = {"x"};

	for (int lg = 0; lg < 2; lg++)
	{
		tgraph		t;

		REQUIRE(tg_begin(&t, lg ? "LogSoftmax" : "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_softmax(x, 5, 4, 1, lg, ref);
		for (int i = 0; i < 20; i++)
			CHECK_MSG(isfinite(ref[i]) || isnan(ref[i]) || i / 4 == 2, "ref %d", i);
		CHECK_ARR(y, ref, 20, 1e-6);
		if (!lg)
		{
			CHECK(y[8] == 0.0f && y[10] == 0.0f);
			CHECK_NEAR(y[0] + y[1] + y[2] + y[3], 1.0, 1e-6);
			CHECK(y[5] == 1.0f && y[4] == 0.0f);
		}
		else
			CHECK(isinf(y[8]) && y[8] < 0);
		for (int i = 12; i < 20; i++)
			CHECK(isnan(y[i]));
		sp_graph_free(t.g);
	}
}

SP_TEST(softmax_long_rows)
{
	/* rows longer than a vector (the AVX2 path where the CPU has it):
	 * -inf in the body and in the tail, a spread of 60 (relative precision
	 * of small probabilities), large values, all -inf, NaN in the body */
	enum {R = 6, D = 21};
	sp_shape	xs = {2, {R, D}};
	float		x[R * D],
				y[R * D];
	double		ref[R * D];
	const char *in[1] = {"x"};

	fill(x, R * D, -3, 3);
	x[0 * D + 3] = -INFINITY;
	x[0 * D + 19] = -INFINITY;
	for (int i = 0; i < D; i++)
	{
		x[1 * D + i] = -60.0f + 3.0f * (float) i;
		x[2 * D + i] = 2e4f + (float) (i % 7);
		x[3 * D + i] = -INFINITY;
		x[5 * D + i] = -100.0f * (float) i;	/* exp underflows below ln(FLT_MIN) */
	}
	x[4 * D + 2] = NAN;
	for (int lg = 0; lg < 2; lg++)
	{
		tgraph		t;

		REQUIRE(tg_begin(&t, lg ? "LogSoftmax" : "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_softmax(x, R, D, 1, lg, ref);
		CHECK_ARR(y, ref, R * D, 1e-6);
		for (int i = 0; i < 3 * D; i++)
			if (!lg && ref[i] > 1e-30)
				CHECK_MSG(fabs(y[i] - ref[i]) <= 1e-6 * ref[i], "element %d: %.9g vs %.9g", i, y[i], ref[i]);
		if (!lg)
			CHECK(y[3] == 0.0f && y[19] == 0.0f && y[5 * D] == 1.0f && y[5 * D + 1] == 0.0f);
		for (int i = 3 * D; i < 5 * D; i++)
			CHECK(isnan(y[i]));
		sp_graph_free(t.g);
	}
}

SP_TEST(softmax_errors)
{
	sp_shape	xs = {2, {2, 3}},
				s0 = {0, {0}};
	const char *in[1] = {"x"};
	tgraph		t;

	REQUIRE(tg_begin(&t, "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", 2, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "Softmax node \"node\"") && strstr(t.err.message, "axis 2"));
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "LogSoftmax", SP_DT_FLOAT, &xs, in, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", -3, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
	REQUIRE(sp_node_set_float(t.g, t.n, "axis", 1.0f, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "\"axis\"") != NULL);
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "Softmax", SP_DT_FLOAT, &xs, in, 1, 1));
	REQUIRE(sp_node_set_string(t.g, t.n, "_opset", "11", &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "Softmax", SP_DT_FLOAT, &s0, in, 1, 1));
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "Softmax", SP_DT_INT64, &xs, in, 1, 1));
	CHECK(tg_prepare(&t) == SP_ERR_UNSUPPORTED);
	sp_graph_free(t.g);
}

/* ---------------------------------------------------------------------- */
/* LayerNormalization. */

/* x as [outer, D]; scale, bias expanded to D (bias may be NULL). */
static void
ref_layernorm(const float *x, int64_t outer, int64_t D, const double *scale, const double *bias, double eps,
			  double *y, double *mean_out, double *inv_out)
{
	for (int64_t o = 0; o < outer; o++)
	{
		const float *p = x + o * D;
		double		m = 0.0,
					v = 0.0;

		for (int64_t i = 0; i < D; i++)
			m += p[i];
		m /= (double) D;
		for (int64_t i = 0; i < D; i++)
			v += (p[i] - m) * (p[i] - m);
		v /= (double) D;
		for (int64_t i = 0; i < D; i++)
			y[o * D + i] = (p[i] - m) / sqrt(v + eps) * scale[i] + (bias ? bias[i] : 0.0);
		if (mean_out)
			mean_out[o] = m;
		if (inv_out)
			inv_out[o] = 1.0 / sqrt(v + eps);
	}
}

SP_TEST(layernorm_last_axis_with_stats)
{
	sp_shape	xs = {3, {2, 3, 8}},
				ps = {1, {8}};
	float		x[48],
				y[48],
				mean[6],
				inv[6],
				sc[8],
				b[8];
	double		dsc[8],
				db[8],
				ref[48],
				rmean[6],
				rinv[6];
	const char *in[3] = {"x", "s", "b"};
	void	   *outs[3] = {y, mean, inv};
	tgraph		t;
	int64_t		sdims[3] = {2, 3, 1};

	fill(x, 48, -2, 5);
	fill(sc, 8, 0.5, 2);
	fill(b, 8, -1, 1);
	for (int i = 0; i < 8; i++)
	{
		dsc[i] = sc[i];
		db[i] = b[i];
	}
	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in, 3, 3));
	REQUIRE(tg_const_f(&t, "s", &ps, sc) && tg_const_f(&t, "b", &ps, b));
	REQUIRE(sp_node_set_float(t.g, t.n, "epsilon", 1e-3f, &t.err) == SP_OK);
	REQUIRE(tg_prepare(&t) == SP_OK);
	CHECK(shape_is(tg_out_shape(&t, 1), 3, sdims) && shape_is(tg_out_shape(&t, 2), 3, sdims));
	REQUIRE(tg_run(&t, x, outs) == SP_OK);
	ref_layernorm(x, 6, 8, dsc, db, (double) 1e-3f, ref, rmean, rinv);
	CHECK_ARR(y, ref, 48, 2e-6);
	CHECK_ARR(mean, rmean, 6, 1e-6);
	CHECK_ARR(inv, rinv, 6, 1e-6);
	sp_graph_free(t.g);
}

SP_TEST(layernorm_axis_and_broadcast_params)
{
	sp_shape	xs = {3, {2, 3, 4}},
				full = {2, {3, 4}},
				row = {2, {1, 4}},
				col = {2, {3, 1}};
	float		x[24],
				y[24],
				s_full[12],
				s_row[4],
				b_col[3];
	double		dsc[12],
				db[12],
				ref[24];
	const char *in3[3] = {"x", "s", "b"},
			   *in2[2] = {"x", "s"};
	tgraph		t;

	fill(x, 24, -3, 3);
	fill(s_full, 12, 0.5, 1.5);
	fill(s_row, 4, 0.5, 1.5);
	fill(b_col, 3, -1, 1);

	/* axis 1 (negative: -2), full Scale [3, 4], no B */
	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in2, 2, 1));
	REQUIRE(tg_const_f(&t, "s", &full, s_full));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", -2, &t.err) == SP_OK);
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	for (int i = 0; i < 12; i++)
		dsc[i] = s_full[i];
	ref_layernorm(x, 2, 12, dsc, NULL, (double) 1e-5f, ref, NULL, NULL);
	CHECK_ARR(y, ref, 24, 2e-6);
	sp_graph_free(t.g);

	/* axis 1, Scale [1, 4] and B [3, 1] broadcast over the normalised [3, 4] */
	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in3, 3, 1));
	REQUIRE(tg_const_f(&t, "s", &row, s_row) && tg_const_f(&t, "b", &col, b_col));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", 1, &t.err) == SP_OK);
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	for (int i = 0; i < 12; i++)
	{
		dsc[i] = s_row[i % 4];
		db[i] = b_col[i / 4];
	}
	ref_layernorm(x, 2, 12, dsc, db, (double) 1e-5f, ref, NULL, NULL);
	CHECK_ARR(y, ref, 24, 2e-6);
	sp_graph_free(t.g);

	/* axis 0: everything is one row; scalar-like Scale [1] */
	{
		sp_shape	one = {1, {1}};
		float		s1 = 2.0f;

		REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in2, 2, 1));
		REQUIRE(tg_const_f(&t, "s", &one, &s1));
		REQUIRE(sp_node_set_int(t.g, t.n, "axis", 0, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		{
			double		dsc24[24];

			for (int i = 0; i < 24; i++)
				dsc24[i] = 2.0;
			ref_layernorm(x, 1, 24, dsc24, NULL, (double) 1e-5f, ref, NULL, NULL);
		}
		CHECK_ARR(y, ref, 24, 2e-6);
		sp_graph_free(t.g);
	}
}

SP_TEST(layernorm_constant_rows_and_offset)
{
	/* a constant row has variance 0: the output is B exactly; a row with a
	 * large offset and a small spread keeps its precision (ViT, ConvNeXt) */
	sp_shape	xs = {2, {3, 64}},
				ps = {1, {64}};
	float		x[192],
				y[192],
				sc[64],
				b[64];
	double		dsc[64],
				db[64],
				ref[192];
	const char *in[3] = {"x", "s", "b"};
	tgraph		t;

	for (int i = 0; i < 64; i++)
	{
		x[i] = 3.25f;
		x[64 + i] = 1000.0f + 0.01f * (float) ((i * 37) % 17 - 8);
		x[128 + i] = 0.0f;
	}
	fill(sc, 64, 0.5, 2);
	fill(b, 64, -1, 1);
	for (int i = 0; i < 64; i++)
	{
		dsc[i] = sc[i];
		db[i] = b[i];
	}
	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in, 3, 1));
	REQUIRE(tg_const_f(&t, "s", &ps, sc) && tg_const_f(&t, "b", &ps, b));
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	ref_layernorm(x, 3, 64, dsc, db, (double) 1e-5f, ref, NULL, NULL);
	CHECK_ARR(y, ref, 192, 1e-5);
	for (int i = 0; i < 64; i++)
	{
		CHECK(y[i] == b[i]);
		CHECK(y[128 + i] == b[i]);
	}
	sp_graph_free(t.g);
}

SP_TEST(layernorm_errors)
{
	sp_shape	xs = {3, {2, 3, 4}},
				bad = {1, {3}},
				ok = {1, {4}},
				toolong = {3, {2, 3, 4}};
	float		p[24] = {0};
	const char *in[2] = {"x", "s"};
	tgraph		t;

	/* Scale [3] against normalised [4] */
	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in, 2, 1));
	REQUIRE(tg_const_f(&t, "s", &bad, p));
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "LayerNormalization node \"node\"") && strstr(t.err.message, "Scale"));
	sp_graph_free(t.g);

	/* Scale of rank 3 against normalised dims of rank 1 */
	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in, 2, 1));
	REQUIRE(tg_const_f(&t, "s", &toolong, p));
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in, 2, 1));
	REQUIRE(tg_const_f(&t, "s", &ok, p));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", 3, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "axis 3") != NULL);
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "LayerNormalization", SP_DT_FLOAT, &xs, in, 2, 1));
	REQUIRE(tg_const_f(&t, "s", &ok, p));
	REQUIRE(sp_node_set_float(t.g, t.n, "epsilon", INFINITY, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	/* one input: refused when the node is added */
	REQUIRE(sp_graph_create(sp_env_default(), &t.g, &t.err) == SP_OK);
	CHECK(sp_graph_add_node(t.g, "LayerNormalization", "ln", in, 1, out_names, 1, &t.err) == NULL);
	sp_graph_free(t.g);
}

/* ---------------------------------------------------------------------- */
/* BatchNormalization, InstanceNormalization. */

static void
ref_batchnorm(const float *x, int64_t N, int64_t C, int64_t S, const float *sc, const float *b,
			  const float *mean, const float *var, double eps, double *y)
{
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++)
			for (int64_t i = 0; i < S; i++)
			{
				int64_t		k = (n * C + c) * S + i;

				y[k] = (x[k] - mean[c]) / sqrt(var[c] + eps) * sc[c] + b[c];
			}
}

SP_TEST(batchnorm_ranks)
{
	static const sp_shape shapes[] = {{4, {2, 3, 4, 5}}, {2, {4, 3}}, {3, {2, 3, 7}}, {5, {1, 3, 2, 2, 3}}};
	sp_shape	ps = {1, {3}};
	float		x[120],
				y[120],
				sc[3] = {1.5f, -0.5f, 2},
				b[3] = {0.1f, 0.2f, -0.3f},
				mean[3] = {0.5f, -1, 2},
				var[3] = {0.25f, 4, 0.01f};
	double		ref[120];
	const char *in[5] = {"x", "s", "b", "m", "v"};

	for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
	{
		const sp_shape *xs = &shapes[c];
		int64_t		n = numel(xs),
					S = n / (xs->dim[0] * 3);
		tgraph		t;

		fill(x, n, -3, 3);
		REQUIRE(tg_begin(&t, "BatchNormalization", SP_DT_FLOAT, xs, in, 5, 1));
		REQUIRE(tg_const_f(&t, "s", &ps, sc) && tg_const_f(&t, "b", &ps, b) &&
				tg_const_f(&t, "m", &ps, mean) && tg_const_f(&t, "v", &ps, var));
		REQUIRE(sp_node_set_float(t.g, t.n, "epsilon", 1e-3f, &t.err) == SP_OK);
		REQUIRE(sp_node_set_float(t.g, t.n, "momentum", 0.9f, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		ref_batchnorm(x, xs->dim[0], 3, S, sc, b, mean, var, (double) 1e-3f, ref);
		CHECK_ARR(y, ref, n, 1e-5);
		sp_graph_free(t.g);
	}
}

SP_TEST(batchnorm_extra_outputs_and_errors)
{
	sp_shape	xs = {4, {1, 3, 2, 2}},
				ps = {1, {3}},
				bad = {2, {3, 1}};
	float		p[3] = {1, 1, 1},
				x[12],
				y[12];
	const char *in[5] = {"x", "s", "b", "m", "v"};
	tgraph		t;

	fill(x, 12, -1, 1);
	/* training_mode=1 */
	REQUIRE(tg_begin(&t, "BatchNormalization", SP_DT_FLOAT, &xs, in, 5, 1));
	REQUIRE(tg_const_f(&t, "s", &ps, p) && tg_const_f(&t, "b", &ps, p) &&
			tg_const_f(&t, "m", &ps, p) && tg_const_f(&t, "v", &ps, p));
	REQUIRE(sp_node_set_int(t.g, t.n, "training_mode", 1, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_UNSUPPORTED);
	CHECK(strstr(t.err.message, "BatchNormalization node \"node\"") && strstr(t.err.message, "training_mode"));
	sp_graph_free(t.g);

	/* an extra output that is read (a graph output) is refused */
	REQUIRE(tg_begin(&t, "BatchNormalization", SP_DT_FLOAT, &xs, in, 5, 2));
	REQUIRE(tg_const_f(&t, "s", &ps, p) && tg_const_f(&t, "b", &ps, p) &&
			tg_const_f(&t, "m", &ps, p) && tg_const_f(&t, "v", &ps, p));
	CHECK(tg_prepare(&t) == SP_ERR_UNSUPPORTED);
	CHECK(strstr(t.err.message, "\"y1\"") != NULL);
	sp_graph_free(t.g);

	/* extra outputs nothing reads (unnamed or named) are accepted */
	{
		const char *outs[3] = {"y0", "", "unread"};

		REQUIRE(sp_graph_create(sp_env_default(), &t.g, &t.err) == SP_OK);
		REQUIRE(sp_graph_add_input(t.g, sp_graph_value(t.g, "x", &t.err), SP_DT_FLOAT, &xs, &t.err) == SP_OK);
		REQUIRE(sp_graph_add_node(t.g, "BatchNormalization", "bn", in, 5, outs, 3, &t.err) != NULL);
		REQUIRE(sp_graph_add_output(t.g, sp_graph_find(t.g, "y0"), &t.err) == SP_OK);
		REQUIRE(tg_const_f(&t, "s", &ps, p) && tg_const_f(&t, "b", &ps, p) &&
				tg_const_f(&t, "m", &ps, p) && tg_const_f(&t, "v", &ps, p));
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		for (int i = 0; i < 12; i++)
			CHECK_NEAR(y[i], (x[i] - 1.0) / sqrt(1.0 + 1e-5) + 1.0, 1e-6);
		sp_graph_free(t.g);
	}

	/* parameters of the wrong shape */
	REQUIRE(tg_begin(&t, "BatchNormalization", SP_DT_FLOAT, &xs, in, 5, 1));
	REQUIRE(tg_const_f(&t, "s", &ps, p) && tg_const_f(&t, "b", &ps, p) &&
			tg_const_f(&t, "m", &ps, p) && tg_const_f(&t, "v", &bad, p));
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "input_var") != NULL);
	sp_graph_free(t.g);

	/* rank 1 input */
	{
		sp_shape	x1 = {1, {3}};

		REQUIRE(tg_begin(&t, "BatchNormalization", SP_DT_FLOAT, &x1, in, 5, 1));
		REQUIRE(tg_const_f(&t, "s", &ps, p) && tg_const_f(&t, "b", &ps, p) &&
				tg_const_f(&t, "m", &ps, p) && tg_const_f(&t, "v", &ps, p));
		CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
		sp_graph_free(t.g);
	}

	/* spatial=0 (opset < 9 per-element parameters) */
	REQUIRE(tg_begin(&t, "BatchNormalization", SP_DT_FLOAT, &xs, in, 5, 1));
	REQUIRE(tg_const_f(&t, "s", &ps, p) && tg_const_f(&t, "b", &ps, p) &&
			tg_const_f(&t, "m", &ps, p) && tg_const_f(&t, "v", &ps, p));
	REQUIRE(sp_node_set_int(t.g, t.n, "spatial", 0, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_UNSUPPORTED);
	sp_graph_free(t.g);
}

SP_TEST(instancenorm)
{
	sp_shape	xs = {4, {2, 3, 4, 5}},
				ps = {1, {3}};
	float		x[120],
				y[120],
				sc[3] = {1.5f, -0.5f, 2},
				b[3] = {0.1f, 0.2f, -0.3f};
	double		ref[120];
	const char *in[3] = {"x", "s", "b"};
	tgraph		t;

	fill(x, 120, -3, 3);
	for (int i = 0; i < 20; i++)
		x[20 + i] = 7.0f;		/* a constant plane: B */
	REQUIRE(tg_begin(&t, "InstanceNormalization", SP_DT_FLOAT, &xs, in, 3, 1));
	REQUIRE(tg_const_f(&t, "s", &ps, sc) && tg_const_f(&t, "b", &ps, b));
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	for (int64_t nc = 0; nc < 6; nc++)
	{
		double		dsc[20],
					db[20];

		for (int i = 0; i < 20; i++)
		{
			dsc[i] = sc[nc % 3];
			db[i] = b[nc % 3];
		}
		ref_layernorm(x + nc * 20, 1, 20, dsc, db, (double) 1e-5f, ref + nc * 20, NULL, NULL);
	}
	CHECK_ARR(y, ref, 120, 2e-6);
	CHECK(y[20] == b[1]);
	sp_graph_free(t.g);

	/* rank 2 is refused */
	{
		sp_shape	x2 = {2, {2, 3}};

		REQUIRE(tg_begin(&t, "InstanceNormalization", SP_DT_FLOAT, &x2, in, 3, 1));
		REQUIRE(tg_const_f(&t, "s", &ps, sc) && tg_const_f(&t, "b", &ps, b));
		CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
		sp_graph_free(t.g);
	}
}

/* ---------------------------------------------------------------------- */
/* Reductions. */

/*
 * Run reduction k on x of shape xs over axes (count; -1: none given) given
 * as an attribute or as a constant input, compare with the reference.
 */
static int
check_reduce(rkind k, const float *x, const sp_shape *xs, const int64_t *axes, int count, bool as_input,
			 int keepdims, double tol, sp_shape *out_shape)
{
	tgraph		t;
	const char *in2[2] = {"x", "axes"};
	bool		red[SP_MAX_RANK];
	float	   *y;
	double	   *ref;
	int64_t		ny = 1;
	int			bad = 0;

	if (!tg_begin(&t, rk_names[k], SP_DT_FLOAT, xs, in2, as_input && count >= 0 ? 2 : 1, 1))
		return 1;
	if (count >= 0 && as_input)
	{
		sp_shape	as = {1, {count}};

		if (!tg_const_i(&t, "axes", &as, axes))
			return 1;
	}
	else if (count >= 0 && sp_node_set_ints(t.g, t.n, "axes", axes, count, &t.err) != SP_OK)
		return 1;
	if (keepdims >= 0 && sp_node_set_int(t.g, t.n, "keepdims", keepdims, &t.err) != SP_OK)
		return 1;
	if (tg_prepare(&t) != SP_OK)
	{
		fprintf(stderr, "  prepare: %s\n", t.err.message);
		sp_graph_free(t.g);
		return 1;
	}
	for (int d = 0; d < xs->rank; d++)
		red[d] = count <= 0;
	for (int i = 0; i < count; i++)
		red[axes[i] < 0 ? axes[i] + xs->rank : axes[i]] = true;
	for (int d = 0; d < xs->rank; d++)
		if (!red[d])
			ny *= xs->dim[d];
	*out_shape = *tg_out_shape(&t, 0);
	if (numel(out_shape) != ny)
		bad = 1;
	y = malloc(sizeof(float) * (size_t) (ny + 1));
	ref = malloc(sizeof(double) * (size_t) (ny + 1));
	if (!bad && tg_run(&t, x, (void *[1]) {y}) == SP_OK)
	{
		ref_reduce(k, x, xs, red, ref, ny);
		if (mismatch(y, ref, ny, tol) >= 0)
		{
			int64_t		i = mismatch(y, ref, ny, tol);

			fprintf(stderr, "  %s element %lld: %.9g vs %.9g\n", rk_names[k], (long long) i, y[i], ref[i]);
			bad = 1;
		}
	}
	else
		bad = 1;
	free(y);
	free(ref);
	sp_graph_free(t.g);
	return bad;
}

SP_TEST(reduce_all_kinds_and_axes)
{
	sp_shape	xs = {4, {2, 3, 4, 5}},
				os;
	float		x[120],
				xpos[120];
	/* {count, axes...}: SE's trailing H, W; middle; first and third; last (negative); all (empty); mixed */
	static const int64_t axsets[][4] = {{2, 2, 3}, {1, 1}, {2, 0, 2}, {1, -1}, {0}, {2, 3, 0}, {3, -3, -1, 0}, {2, -2, 1}};
	int			checks = 0;

	fill(x, 120, -2, 2);
	fill(xpos, 120, 0.5, 1.5);	/* Prod stays moderate; LogSum needs positive sums */
	for (int k = 0; k < K_COUNT; k++)
		for (size_t a = 0; a < sizeof axsets / sizeof axsets[0]; a++)
			for (int as_input = 0; as_input < 2; as_input++)
				for (int keep = 0; keep < 2; keep++)
				{
					const float *xx = (k == K_PROD || k == K_LOGSUM) ? xpos : x;
					int			count = (int) axsets[a][0];

					CHECK_MSG(check_reduce(k, xx, &xs, &axsets[a][1], count, as_input, keep, 2e-6, &os) == 0,
							  "%s axes set %zu input %d keepdims %d", rk_names[k], a, as_input, keep);
					if (keep)
						CHECK_EQ_INT(os.rank, 4);
					checks++;
				}
	CHECK_EQ_INT(checks, K_COUNT * 8 * 4);
}

SP_TEST(reduce_shapes_keepdims_default_and_absent_axes)
{
	sp_shape	xs = {4, {1, 8, 3, 3}},
				os;
	float		x[72];
	int64_t		hw[2] = {-1, -2},
				d1[4] = {1, 8, 1, 1},
				d0[2] = {1, 8},
				ones[4] = {1, 1, 1, 1};

	fill(x, 72, -1, 1);
	/* keepdims absent = 1: [1, 8, 1, 1] */
	CHECK(check_reduce(K_MEAN, x, &xs, hw, 2, false, -1, 1e-6, &os) == 0);
	CHECK(shape_is(&os, 4, d1));
	CHECK(check_reduce(K_MEAN, x, &xs, hw, 2, true, 0, 1e-6, &os) == 0);
	CHECK(shape_is(&os, 2, d0));
	/* no axes at all: everything, keepdims: [1, 1, 1, 1]; without: a scalar */
	CHECK(check_reduce(K_SUM, x, &xs, NULL, -1, false, 1, 1e-6, &os) == 0);
	CHECK(shape_is(&os, 4, ones));
	CHECK(check_reduce(K_MAX, x, &xs, NULL, -1, true, 0, 0, &os) == 0);
	CHECK_EQ_INT(os.rank, 0);
	/* an empty axes input also means all */
	CHECK(check_reduce(K_MIN, x, &xs, NULL, 0, true, 0, 0, &os) == 0);
	CHECK_EQ_INT(os.rank, 0);
}

SP_TEST(reduce_noop_with_empty_axes)
{
	sp_shape	xs = {2, {3, 4}},
				e = {1, {0}},
				a1 = {1, {1}};
	float		x[12],
				y[12];
	int64_t		ax = 1;
	const char *in2[2] = {"x", "axes"},
			   *in1[1] = {"x"};
	tgraph		t;

	fill(x, 12, -1, 1);
	/* empty axes input + noop: identity */
	REQUIRE(tg_begin(&t, "ReduceSum", SP_DT_FLOAT, &xs, in2, 2, 1));
	REQUIRE(tg_const_i(&t, "axes", &e, NULL));
	REQUIRE(sp_node_set_int(t.g, t.n, "noop_with_empty_axes", 1, &t.err) == SP_OK);
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	CHECK(sp_shape_equal(tg_out_shape(&t, 0), &xs));
	CHECK(memcmp(x, y, sizeof x) == 0);
	sp_graph_free(t.g);

	/* absent axes + noop: identity */
	REQUIRE(tg_begin(&t, "ReduceMax", SP_DT_FLOAT, &xs, in1, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "noop_with_empty_axes", 1, &t.err) == SP_OK);
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	CHECK(memcmp(x, y, sizeof x) == 0);
	sp_graph_free(t.g);

	/* axes given + noop: a normal reduction */
	REQUIRE(tg_begin(&t, "ReduceSum", SP_DT_FLOAT, &xs, in2, 2, 1));
	REQUIRE(tg_const_i(&t, "axes", &a1, &ax));
	REQUIRE(sp_node_set_int(t.g, t.n, "noop_with_empty_axes", 1, &t.err) == SP_OK);
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	CHECK_EQ_INT(numel(tg_out_shape(&t, 0)), 3);
	for (int r = 0; r < 3; r++)
		CHECK_NEAR(y[r], (double) x[r * 4] + x[r * 4 + 1] + x[r * 4 + 2] + x[r * 4 + 3], 1e-6);
	sp_graph_free(t.g);

	/* an omitted axes input ("") + noop: identity */
	{
		const char *inskip[2] = {"x", ""};

		REQUIRE(tg_begin(&t, "ReduceMean", SP_DT_FLOAT, &xs, inskip, 2, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "noop_with_empty_axes", 1, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		CHECK(memcmp(x, y, sizeof x) == 0);
		sp_graph_free(t.g);
	}
}

SP_TEST(reduce_empty_sets_and_nan)
{
	sp_shape	xs = {2, {2, 0}};
	int64_t		ax = 1;
	float		y[2];
	sp_shape	os;
	const char *in1[1] = {"x"};
	static const float expect[K_COUNT] = {0, NAN, -INFINITY, INFINITY, 1, 0, 0, 0, -INFINITY, -INFINITY};

	for (int k = 0; k < K_COUNT; k++)
	{
		tgraph		t;
		float		dummy = 0;

		REQUIRE(tg_begin(&t, rk_names[k], SP_DT_FLOAT, &xs, in1, 1, 1));
		REQUIRE(sp_node_set_ints(t.g, t.n, "axes", &ax, 1, &t.err) == SP_OK);
		REQUIRE(sp_node_set_int(t.g, t.n, "keepdims", 0, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, &dummy, y) == SP_OK);
		os = *tg_out_shape(&t, 0);
		CHECK(os.rank == 1 && os.dim[0] == 2);
		for (int i = 0; i < 2; i++)
			CHECK_MSG(isnan(expect[k]) ? isnan(y[i]) : y[i] == expect[k], "%s: %g", rk_names[k], y[i]);
		sp_graph_free(t.g);
	}
	/* NaN propagates through Max / Min (numpy), -inf / +inf through LogSumExp */
	{
		sp_shape	s = {2, {3, 3}};
		float		x[9] = {1, NAN, 2, -INFINITY, -INFINITY, -INFINITY, 5, INFINITY, 1},
					ym[3];
		int64_t		a1 = 1;
		static const char *const ops[3] = {"ReduceMax", "ReduceMin", "ReduceLogSumExp"};

		for (int o = 0; o < 3; o++)
		{
			tgraph		t;

			REQUIRE(tg_begin(&t, ops[o], SP_DT_FLOAT, &s, in1, 1, 1));
			REQUIRE(sp_node_set_ints(t.g, t.n, "axes", &a1, 1, &t.err) == SP_OK);
			REQUIRE(tg_run1(&t, x, ym) == SP_OK);
			CHECK(isnan(ym[0]));
			if (o == 0)
				CHECK(ym[1] == -INFINITY && ym[2] == INFINITY);
			if (o == 1)
				CHECK(ym[1] == -INFINITY && ym[2] == 1.0f);
			if (o == 2)
				CHECK(ym[1] == -INFINITY && ym[2] == INFINITY);
			sp_graph_free(t.g);
		}
	}
	/* LogSumExp of large values does not overflow */
	{
		sp_shape	s = {1, {3}};
		float		x[3] = {1000, 1000, 1000},
					v;
		tgraph		t;

		REQUIRE(tg_begin(&t, "ReduceLogSumExp", SP_DT_FLOAT, &s, in1, 1, 1));
		REQUIRE(tg_run1(&t, x, &v) == SP_OK);
		CHECK_NEAR(v, 1000.0 + log(3.0), 1e-3);
		sp_graph_free(t.g);
	}
}

SP_TEST(reduce_int64)
{
	sp_shape	xs = {2, {2, 3}};
	int64_t		x[6] = {2, 3, 4, -5, 6, INT64_MAX},
				y[2],
				ax = 1;
	const char *in1[1] = {"x"};
	static const char *const ops[] = {"ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceMean", "ReduceL1", "ReduceSumSquare"};
	int64_t		expect[][2] = {{9, (int64_t) ((uint64_t) 1 + (uint64_t) INT64_MAX)}, {24, (int64_t) ((uint64_t) -30 * (uint64_t) INT64_MAX)},
	{4, INT64_MAX}, {2, -5}, {3, 0}, {9, 0}, {29, 0}};

	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
	{
		tgraph		t;

		REQUIRE(tg_begin(&t, ops[o], SP_DT_INT64, &xs, in1, 1, 1));
		REQUIRE(sp_node_set_ints(t.g, t.n, "axes", &ax, 1, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		CHECK_MSG(y[0] == expect[o][0], "%s: %lld", ops[o], (long long) y[0]);
		if (o < 4)
			CHECK_MSG(y[1] == expect[o][1], "%s: %lld", ops[o], (long long) y[1]);
		sp_graph_free(t.g);
	}
}

SP_TEST(reduce_errors)
{
	sp_shape	xs = {3, {2, 3, 4}},
				a2 = {1, {2}},
				a2d = {2, {1, 2}};
	int64_t		dup[2] = {1, -2},
				out_of_range[1] = {3},
				ok[2] = {0, 1};
	const char *in1[1] = {"x"},
			   *in2[2] = {"x", "axes"};
	tgraph		t;

	/* duplicate axes (1 and -2 are the same) */
	REQUIRE(tg_begin(&t, "ReduceMean", SP_DT_FLOAT, &xs, in1, 1, 1));
	REQUIRE(sp_node_set_ints(t.g, t.n, "axes", dup, 2, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "ReduceMean node \"node\"") && strstr(t.err.message, "twice"));
	sp_graph_free(t.g);

	/* out of range */
	REQUIRE(tg_begin(&t, "ReduceSum", SP_DT_FLOAT, &xs, in1, 1, 1));
	REQUIRE(sp_node_set_ints(t.g, t.n, "axes", out_of_range, 1, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "axis 3") != NULL);
	sp_graph_free(t.g);

	/* both an attribute and an input */
	REQUIRE(tg_begin(&t, "ReduceSum", SP_DT_FLOAT, &xs, in2, 2, 1));
	REQUIRE(tg_const_i(&t, "axes", &a2, ok));
	REQUIRE(sp_node_set_ints(t.g, t.n, "axes", ok, 2, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	/* axes input of rank 2 */
	REQUIRE(tg_begin(&t, "ReduceSum", SP_DT_FLOAT, &xs, in2, 2, 1));
	REQUIRE(tg_const_i(&t, "axes", &a2d, ok));
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	/* axes that are not constant */
	REQUIRE(tg_begin(&t, "ReduceMax", SP_DT_FLOAT, &xs, in2, 2, 1));
	REQUIRE(sp_graph_add_input(t.g, sp_graph_value(t.g, "axes", &t.err), SP_DT_INT64, &a2, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_UNSUPPORTED);
	CHECK(strstr(t.err.message, "constant") != NULL);
	sp_graph_free(t.g);

	/* keepdims not 0/1; axes of the wrong type */
	REQUIRE(tg_begin(&t, "ReduceMin", SP_DT_FLOAT, &xs, in1, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "keepdims", 2, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "keepdims") != NULL);
	sp_graph_free(t.g);

	REQUIRE(tg_begin(&t, "ReduceMin", SP_DT_FLOAT, &xs, in1, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "axes", 1, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	sp_graph_free(t.g);

	/* int64 where only float is supported */
	REQUIRE(tg_begin(&t, "ReduceL2", SP_DT_INT64, &xs, in1, 1, 1));
	CHECK(tg_prepare(&t) == SP_ERR_UNSUPPORTED);
	sp_graph_free(t.g);
}

SP_TEST(reduce_and_norms_fold_constants)
{
	/* constant inputs are folded at load: the folded forwards run without
	 * prepared state (LayerNormalization with a broadcast Scale also uses
	 * its scratch); one Add runs */
	sp_shape	xs = {1, {4}},
				cs = {2, {2, 4}},
				one = {1, {1}},
				sh = {1, {3}};
	float		c[8] = {1, 2, 3, 4, 5, 6, 7, 8},
				s1 = 2.0f,
				x[4] = {0, 0, 0, 0},
				y[4];
	int64_t		ax = 0,
				dims[3] = {2, 3, 4},
				prod;
	const char *r_in[1] = {"c"},
			   *r_out[1] = {"m"},
			   *l_in[2] = {"m", "s"},
			   *l_out[1] = {"l"},
			   *a_in[2] = {"x", "l"},
			   *a_out[1] = {"y"},
			   *p_in[1] = {"dims"},
			   *p_out[1] = {"prod"};
	sp_graph   *g;
	sp_error	err;
	sp_node    *n;

	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "x", &err), SP_DT_FLOAT, &xs, &err) == SP_OK);
	REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "c", &err), SP_DT_FLOAT, &cs, c, &err) == SP_OK);
	REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "s", &err), SP_DT_FLOAT, &one, &s1, &err) == SP_OK);
	REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "dims", &err), SP_DT_INT64, &sh, dims, &err) == SP_OK);
	REQUIRE((n = sp_graph_add_node(g, "ReduceMean", "mean", r_in, 1, r_out, 1, &err)) != NULL);
	REQUIRE(sp_node_set_ints(g, n, "axes", &ax, 1, &err) == SP_OK);
	REQUIRE(sp_node_set_int(g, n, "keepdims", 0, &err) == SP_OK);
	REQUIRE(sp_graph_add_node(g, "LayerNormalization", "ln", l_in, 2, l_out, 1, &err) != NULL);
	REQUIRE(sp_graph_add_node(g, "Add", "add", a_in, 2, a_out, 1, &err) != NULL);
	REQUIRE((n = sp_graph_add_node(g, "ReduceProd", "shape_prod", p_in, 1, p_out, 1, &err)) != NULL);
	REQUIRE(sp_node_set_int(g, n, "keepdims", 0, &err) == SP_OK);
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "y"), &err) == SP_OK);
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK_EQ_INT(g->n_order, 1);
	REQUIRE(g->values[sp_graph_find(g, "prod")].data != NULL);
	memcpy(&prod, g->values[sp_graph_find(g, "prod")].data, sizeof prod);
	CHECK_EQ_INT(prod, 24);
	{
		void	   *arena = NULL;
		const void *in[1] = {x};
		void	   *out[1] = {y};
		double		sd = sqrt(1.25 + 1e-5);

		REQUIRE(posix_memalign(&arena, 64, sp_graph_run_bytes(g) + 64) == 0);
		REQUIRE(sp_graph_run(g, sp_env_default(), arena, in, out, &err) == SP_OK);
		free(arena);
		/* mean rows: 3, 4, 5, 6 -> normalised * 2 */
		CHECK_NEAR(y[0], 2 * -1.5 / sd, 1e-5);
		CHECK_NEAR(y[3], 2 * 1.5 / sd, 1e-5);
	}
	sp_graph_free(g);
}

/* ---------------------------------------------------------------------- */
/* LpNormalization, SiameseL2Norm. */

SP_TEST(lpnormalization)
{
	sp_shape	xs = {3, {2, 3, 4}};
	float		x[24],
				y[24];
	double		ref[24];
	const char *in[1] = {"x"};

	fill(x, 24, -2, 2);
	for (int p = 1; p <= 2; p++)
		for (int axis = -3; axis < 3; axis++)
		{
			int			ax = axis < 0 ? axis + 3 : axis;
			int64_t		outer = 1,
						D = xs.dim[ax],
						inner = 1;
			tgraph		t;

			for (int d = 0; d < ax; d++)
				outer *= xs.dim[d];
			for (int d = ax + 1; d < 3; d++)
				inner *= xs.dim[d];
			REQUIRE(tg_begin(&t, "LpNormalization", SP_DT_FLOAT, &xs, in, 1, 1));
			REQUIRE(sp_node_set_int(t.g, t.n, "p", p, &t.err) == SP_OK);
			REQUIRE(sp_node_set_int(t.g, t.n, "axis", axis, &t.err) == SP_OK);
			REQUIRE(tg_run1(&t, x, y) == SP_OK);
			for (int64_t o = 0; o < outer; o++)
				for (int64_t i = 0; i < inner; i++)
				{
					double		s = 0.0;

					for (int64_t j = 0; j < D; j++)
						s += p == 1 ? fabs(x[(o * D + j) * inner + i]) : pow(x[(o * D + j) * inner + i], 2);
					s = p == 1 ? s : sqrt(s);
					for (int64_t j = 0; j < D; j++)
						ref[(o * D + j) * inner + i] = x[(o * D + j) * inner + i] / s;
				}
			CHECK_ARR(y, ref, 24, 1e-6);
			sp_graph_free(t.g);
		}
	/* default axis -1, p 2; a zero vector gives NaN like the reference */
	{
		sp_shape	s = {2, {2, 2}};
		float		z[4] = {3, 4, 0, 0},
					w[4];
		tgraph		t;

		REQUIRE(tg_begin(&t, "LpNormalization", SP_DT_FLOAT, &s, in, 1, 1));
		REQUIRE(tg_run1(&t, z, w) == SP_OK);
		CHECK(w[0] == 0.6f && w[1] == 0.8f && isnan(w[2]) && isnan(w[3]));
		sp_graph_free(t.g);

		REQUIRE(tg_begin(&t, "LpNormalization", SP_DT_FLOAT, &s, in, 1, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "p", 3, &t.err) == SP_OK);
		CHECK(tg_prepare(&t) == SP_ERR_UNSUPPORTED);
		CHECK(strstr(t.err.message, "LpNormalization node \"node\"") && strstr(t.err.message, "p=3"));
		sp_graph_free(t.g);
	}
}

SP_TEST(siamese_l2norm_matches_layer_engine_bitwise)
{
	/* rows: random, zero (stays zero), tiny (norm under 1e-12: clamped),
	 * huge (sum of squares beyond float) */
	enum {R = 6, D = 37};
	sp_shape	xs = {2, {R, D}},
				xt = {3, {D, R, 1}};
	float		x[R * D],
				xtr[R * D],
				y[R * D],
				yt[R * D],
				ref[R * D];
	const char *in[1] = {"x"};
	tgraph		t;

	fill(x, R * D, -3, 3);
	for (int i = 0; i < D; i++)
	{
		x[1 * D + i] = 0.0f;
		x[2 * D + i] = 1e-20f * (float) (i % 5);
		x[3 * D + i] = 1e30f * (float) (i % 3 - 1);
		x[4 * D + i] = i == 7 ? -2.5f : 0.0f;
	}
	sp_nn_l2norm_rows(x, R, D, ref);

	REQUIRE(tg_begin(&t, "SiameseL2Norm", SP_DT_FLOAT, &xs, in, 1, 1));
	REQUIRE(tg_run1(&t, x, y) == SP_OK);
	CHECK(memcmp(y, ref, sizeof y) == 0);
	for (int i = 0; i < D; i++)
		CHECK(y[D + i] == 0.0f);
	CHECK(y[4 * D + 7] == -1.0f);
	sp_graph_free(t.g);

	/* the same vectors along axis 0 of [D, R, 1] (strided path) */
	for (int r = 0; r < R; r++)
		for (int i = 0; i < D; i++)
			xtr[i * R + r] = x[r * D + i];
	REQUIRE(tg_begin(&t, "SiameseL2Norm", SP_DT_FLOAT, &xt, in, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", -3, &t.err) == SP_OK);
	REQUIRE(tg_run1(&t, xtr, yt) == SP_OK);
	for (int r = 0; r < R; r++)
		for (int i = 0; i < D; i++)
			CHECK(memcmp(&yt[i * R + r], &ref[r * D + i], sizeof(float)) == 0);
	sp_graph_free(t.g);

	/* axis out of range */
	REQUIRE(tg_begin(&t, "SiameseL2Norm", SP_DT_FLOAT, &xs, in, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", 2, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "SiameseL2Norm node \"node\"") != NULL);
	sp_graph_free(t.g);
}

/* ---------------------------------------------------------------------- */
/* ArgMax, ArgMin. */

SP_TEST(argmax_argmin)
{
	sp_shape	xs = {2, {3, 4}};
	float		x[12] = {
		1, 5, 5, 2,
		-1, -3, -3, 7,
		NAN, 2, NAN, -9
	};
	int64_t		y[4];
	const char *in[1] = {"x"};
	tgraph		t;
	int64_t		d31[2] = {3, 1},
				d4[1] = {4};
	struct
	{
		const char *op;
		int			axis;
		int			last;
		int			keep;
		int64_t		expect[4];
	}			cases[] = {
		{"ArgMax", 1, 0, 1, {1, 3, 0}},
		{"ArgMax", -1, 1, 1, {2, 3, 2}},
		{"ArgMin", 1, 0, 0, {0, 1, 0}},
		{"ArgMin", 1, 1, 0, {0, 2, 2}},
		{"ArgMax", 0, 0, 0, {2, 0, 2, 1}},
		{"ArgMin", -2, 0, 0, {2, 1, 2, 2}},
	};

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
	{
		int			ny = cases[c].axis == 0 || cases[c].axis == -2 ? 4 : 3;

		REQUIRE(tg_begin(&t, cases[c].op, SP_DT_FLOAT, &xs, in, 1, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "axis", cases[c].axis, &t.err) == SP_OK);
		REQUIRE(sp_node_set_int(t.g, t.n, "select_last_index", cases[c].last, &t.err) == SP_OK);
		REQUIRE(sp_node_set_int(t.g, t.n, "keepdims", cases[c].keep, &t.err) == SP_OK);
		REQUIRE(tg_run1(&t, x, y) == SP_OK);
		CHECK_EQ_INT(sp_out(t.g, t.n, 0)->dtype, SP_DT_INT64);
		if (cases[c].keep)
			CHECK(shape_is(tg_out_shape(&t, 0), 2, d31));
		else if (ny == 4)
			CHECK(shape_is(tg_out_shape(&t, 0), 1, d4));
		for (int i = 0; i < ny; i++)
			CHECK_MSG(y[i] == cases[c].expect[i], "case %zu element %d: %lld", c, i, (long long) y[i]);
		sp_graph_free(t.g);
	}
	/* int64 input, default axis 0 and keepdims 1 */
	{
		sp_shape	s = {2, {3, 2}};
		int64_t		xi[6] = {4, -1, 9, -1, 9, 0},
					d12[2] = {1, 2};

		REQUIRE(tg_begin(&t, "ArgMax", SP_DT_INT64, &s, in, 1, 1));
		REQUIRE(tg_run1(&t, xi, y) == SP_OK);
		CHECK(shape_is(tg_out_shape(&t, 0), 2, d12));
		CHECK(y[0] == 1 && y[1] == 2);
		sp_graph_free(t.g);
	}
	/* errors: axis out of range; an empty axis */
	REQUIRE(tg_begin(&t, "ArgMin", SP_DT_FLOAT, &xs, in, 1, 1));
	REQUIRE(sp_node_set_int(t.g, t.n, "axis", 2, &t.err) == SP_OK);
	CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
	CHECK(strstr(t.err.message, "ArgMin node \"node\"") != NULL);
	sp_graph_free(t.g);
	{
		sp_shape	e = {2, {3, 0}};

		REQUIRE(tg_begin(&t, "ArgMax", SP_DT_FLOAT, &e, in, 1, 1));
		REQUIRE(sp_node_set_int(t.g, t.n, "axis", 1, &t.err) == SP_OK);
		CHECK(tg_prepare(&t) == SP_ERR_CORRUPT);
		sp_graph_free(t.g);
	}
}

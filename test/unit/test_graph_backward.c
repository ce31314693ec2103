/*
 * test_graph_backward.c: the ops' backward (nn/ops/, the op table's
 * "backward") and the training graphs of graph.c (SP_GRAPH_PREPARE_TRAIN,
 * sp_graph_bind_param, sp_graph_run_ex, sp_graph_backward,
 * sp_graph_set_batch).
 *
 * Each op is checked against central finite differences on a one-node
 * graph whose float inputs are all bound as parameters, so the gradient of
 * every input (the data as well as the weights) comes out of
 * sp_graph_backward: loss = sum(r * y) for a fixed random r.  Then the
 * graph-level behaviour: gradients of a value read twice add up, a node
 * without a backward on a gradient path is refused at prepare, another
 * batch re-infers the shapes, parameters are read at every run (never
 * folded).
 */
#include "unit.h"
#include "test_nn_util.h"
#include "nn/graph.h"
#include "nn/op.h"

#include <stdint.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------- */
/* One-node graphs over bound inputs. */

typedef struct tin
{
	const char *name;
	int			rank;
	int64_t		dim[4];
	bool		trainable;		/* float input bound with a gradient */
	float		lo,
				hi;				/* random range */
	const int64_t *ints;		/* non-NULL: an INT64 constant (a Reshape shape) */
} tin;

typedef void (*set_attrs_fn) (sp_graph *g, sp_node *n);

#define MAX_IN 5

typedef struct tcase
{
	sp_graph   *g;
	int			n_in;
	float	   *data[MAX_IN];
	float	   *grad[MAX_IN];
	size_t		numel[MAX_IN];
	bool		trainable[MAX_IN];
	int			y;
	size_t		ny;
	float	   *r;
	float	   *out;
	void	   *arena_raw;
	void	   *arena;
	int			flags;
	sp_error	err;
} tcase;

static void
tc_free(tcase *t)
{
	sp_graph_free(t->g);
	for (int i = 0; i < MAX_IN; i++)
	{
		free(t->data[i]);
		free(t->grad[i]);
	}
	free(t->r);
	free(t->out);
	free(t->arena_raw);
}

static size_t
dims_numel(int rank, const int64_t *dim)
{
	size_t		n = 1;

	for (int d = 0; d < rank; d++)
		n *= (size_t) dim[d];
	return n;
}

/* Build, bind and prepare for training; false (with t->err) on failure. */
static bool
tc_build(tcase *t, const char *op, const tin *ins, int n_in, set_attrs_fn attrs, bool training,
		 uint64_t seed)
{
	const char *names[MAX_IN];
	const char *outs[1] = {"y"};
	uint64_t	s = seed;
	sp_node    *n;

	memset(t, 0, sizeof(*t));
	t->n_in = n_in;
	t->flags = training ? SP_GRAPH_RUN_TRAINING : 0;
	if (sp_graph_create(sp_env_default(), &t->g, &t->err) != SP_OK)
		return false;
	for (int i = 0; i < n_in; i++)
	{
		sp_shape	sh;
		int			id = sp_graph_value(t->g, ins[i].name, &t->err);

		names[i] = ins[i].name;
		sh.rank = ins[i].rank;
		for (int d = 0; d < sh.rank; d++)
			sh.dim[d] = ins[i].dim[d];
		t->numel[i] = dims_numel(sh.rank, sh.dim);
		if (ins[i].ints)
		{
			if (sp_graph_set_constant(t->g, id, SP_DT_INT64, &sh, ins[i].ints, &t->err) != SP_OK)
				return false;
			continue;
		}
		t->data[i] = malloc(sizeof(float) * t->numel[i]);
		tu_fill(&s, t->data[i], t->numel[i], ins[i].lo, ins[i].hi);
		if (sp_graph_set_constant(t->g, id, SP_DT_FLOAT, &sh, t->data[i], &t->err) != SP_OK)
			return false;
		if (ins[i].trainable)
		{
			t->grad[i] = calloc(t->numel[i], sizeof(float));
			t->trainable[i] = true;
		}
	}
	if (!(n = sp_graph_add_node(t->g, op, "node", names, n_in, outs, 1, &t->err)))
		return false;
	if (attrs)
		attrs(t->g, n);
	t->y = sp_graph_find(t->g, "y");
	if (sp_graph_add_output(t->g, t->y, &t->err) != SP_OK)
		return false;
	for (int i = 0; i < n_in; i++)
		if (t->data[i] &&
			sp_graph_bind_param(t->g, sp_graph_find(t->g, ins[i].name), t->data[i], t->grad[i], &t->err) != SP_OK)
			return false;
	if (sp_graph_prepare_ex(t->g, NULL, SP_GRAPH_PREPARE_TRAIN, &t->err) != SP_OK)
		return false;
	t->ny = (size_t) sp_shape_numel(&t->g->values[t->y].shape);
	t->r = malloc(sizeof(float) * t->ny);
	t->out = malloc(sizeof(float) * t->ny);
	tu_fill(&s, t->r, t->ny, -1, 1);
	t->arena_raw = malloc(sp_graph_run_bytes(t->g) + 64);
	t->arena = (void *) (((uintptr_t) t->arena_raw + 63) & ~(uintptr_t) 63);
	return true;
}

/* sum(r * y) of a forward, NAN on error. */
static double
tc_loss(tcase *t)
{
	void	   *outs[1] = {t->out};
	double		l = 0;

	if (sp_graph_run_ex(t->g, sp_env_default(), t->arena, NULL, outs, t->flags, &t->err) != SP_OK)
		return NAN;
	for (size_t k = 0; k < t->ny; k++)
		l += (double) t->r[k] * t->out[k];
	return l;
}

/*
 * Forward, backward, then every element of every trainable input against
 * central differences.  A kink (a ReLU or max switching inside the step)
 * is recognised, as in test_nn_grad.c, by a 4x smaller step changing the
 * numeric value a lot; at most 1 + 2% of the elements may be kinks.
 */
static int
tc_check(tcase *t, int *checked, int *kinks, const char *label)
{
	const float *d[1] = {t->r};
	const float h = 1e-3f;
	int			bad = 0;

	if (isnan(tc_loss(t)) ||
		sp_graph_backward(t->g, sp_env_default(), t->arena, d, t->flags, &t->err) != SP_OK)
	{
		fprintf(stderr, "    %s: %s\n", label, t->err.message);
		return 1000;
	}
	for (int i = 0; i < t->n_in; i++)
	{
		if (!t->trainable[i])
			continue;
		for (size_t k = 0; k < t->numel[i]; k++)
		{
			float		save = t->data[i][k];
			double		lp,
						lm,
						num,
						ana = t->grad[i][k];

			t->data[i][k] = save + h;
			lp = tc_loss(t);
			t->data[i][k] = save - h;
			lm = tc_loss(t);
			t->data[i][k] = save;
			num = (lp - lm) / (2.0 * h);
			(*checked)++;
			if (!(fabs(num - ana) <= 1e-2 * fmax(fabs(num), fabs(ana)) + 2e-3))
			{
				double		num2;

				t->data[i][k] = save + h / 4;
				lp = tc_loss(t);
				t->data[i][k] = save - h / 4;
				lm = tc_loss(t);
				t->data[i][k] = save;
				num2 = (lp - lm) / (2.0 * h / 4);
				if (fabs(num2 - num) > 0.05 * fmax(fabs(num), 0.01) && (*kinks)++ < 1 + *checked / 50)
					continue;
				if (bad < 5)
					fprintf(stderr, "    %s input %d [%zu]: analytic %.6g numeric %.6g\n", label, i, k, ana, num);
				bad++;
			}
		}
	}
	return bad;
}

/* Build and check one case; reports through the test's failure flag. */
#define CHECK_OP(label, op, ins, attrs, training) do { \
	tcase		t__; \
	int			checked__ = 0, kinks__ = 0, bad__; \
	bool		ok__ = tc_build(&t__, op, ins, (int) (sizeof(ins) / sizeof(ins[0])), attrs, training, 77); \
	CHECK_MSG(ok__, "%s: %s", label, t__.err.message); \
	if (ok__) { \
		bad__ = tc_check(&t__, &checked__, &kinks__, label); \
		CHECK_MSG(bad__ == 0 && checked__ > 0 && kinks__ <= 1 + checked__ / 50, \
				  "%s: %d of %d elements mismatch (%d kinks)", label, bad__, checked__, kinks__); \
		if (sp_unit_verbose) \
			fprintf(stderr, "    %s: %d elements, %d kinks\n", label, checked__, kinks__); \
	} \
	tc_free(&t__); \
} while (0)

/* ---------------------------------------------------------------------- */
/* Attributes of the cases. */

static void
set_ints(sp_graph *g, sp_node *n, const char *name, int64_t a, int64_t b, int64_t c, int64_t d, int count)
{
	int64_t		v[4] = {a, b, c, d};
	sp_error	err;

	(void) sp_node_set_ints(g, n, name, v, count, &err);
}

static void
attrs_conv_s2p1(sp_graph *g, sp_node *n)
{
	set_ints(g, n, "strides", 2, 2, 0, 0, 2);
	set_ints(g, n, "pads", 1, 1, 1, 1, 4);
}

static void
attrs_conv_dilated(sp_graph *g, sp_node *n)
{
	set_ints(g, n, "dilations", 2, 1, 0, 0, 2);
	set_ints(g, n, "pads", 0, 1, 1, 0, 4);
}

static void
attrs_gemm_tb(sp_graph *g, sp_node *n)
{
	sp_error	err;

	(void) sp_node_set_int(g, n, "transB", 1, &err);
}

static void
attrs_gemm_ta(sp_graph *g, sp_node *n)
{
	sp_error	err;

	(void) sp_node_set_int(g, n, "transA", 1, &err);
	(void) sp_node_set_float(g, n, "alpha", 0.5f, &err);
	(void) sp_node_set_float(g, n, "beta", 2.0f, &err);
}

static void
attrs_gemm_both(sp_graph *g, sp_node *n)
{
	sp_error	err;

	(void) sp_node_set_int(g, n, "transA", 1, &err);
	(void) sp_node_set_int(g, n, "transB", 1, &err);
}

static void
attrs_bn(sp_graph *g, sp_node *n)
{
	sp_error	err;

	(void) sp_node_set_float(g, n, "epsilon", 1e-3f, &err);
}

static void
attrs_maxpool_k3s2p1(sp_graph *g, sp_node *n)
{
	set_ints(g, n, "kernel_shape", 3, 3, 0, 0, 2);
	set_ints(g, n, "strides", 2, 2, 0, 0, 2);
	set_ints(g, n, "pads", 1, 1, 1, 1, 4);
}

static void
attrs_maxpool_k2(sp_graph *g, sp_node *n)
{
	set_ints(g, n, "kernel_shape", 2, 2, 0, 0, 2);
	set_ints(g, n, "strides", 2, 2, 0, 0, 2);
}

static void
attrs_avgpool_pad(sp_graph *g, sp_node *n)
{
	sp_error	err;

	attrs_maxpool_k3s2p1(g, n);
	(void) sp_node_set_int(g, n, "count_include_pad", 1, &err);
}

static void
attrs_avgpool_ceil(sp_graph *g, sp_node *n)
{
	sp_error	err;

	set_ints(g, n, "kernel_shape", 2, 3, 0, 0, 2);
	set_ints(g, n, "strides", 2, 2, 0, 0, 2);
	set_ints(g, n, "pads", 0, 1, 0, 1, 4);
	(void) sp_node_set_int(g, n, "ceil_mode", 1, &err);
}

static void
attrs_axis1(sp_graph *g, sp_node *n)
{
	sp_error	err;

	(void) sp_node_set_int(g, n, "axis", 1, &err);
}

/* ---------------------------------------------------------------------- */

SP_TEST(backward_conv)
{
	tin			s2p1[] = {
		{"x", 4, {2, 3, 5, 5}, true, -1, 1, NULL},
		{"w", 4, {4, 3, 3, 3}, true, -0.5f, 0.5f, NULL},
		{"b", 1, {4}, true, -0.5f, 0.5f, NULL}};
	tin			dilated[] = {
		{"x", 4, {2, 2, 6, 5}, true, -1, 1, NULL},
		{"w", 4, {3, 2, 2, 3}, true, -0.5f, 0.5f, NULL}};
	tin			pointwise[] = {
		{"x", 4, {3, 4, 3, 3}, true, -1, 1, NULL},
		{"w", 4, {2, 4, 1, 1}, true, -0.5f, 0.5f, NULL},
		{"b", 1, {2}, false, -0.5f, 0.5f, NULL}};
	tin			conv1d[] = {
		{"x", 3, {2, 2, 7}, true, -1, 1, NULL},
		{"w", 3, {3, 2, 3}, true, -0.5f, 0.5f, NULL},
		{"b", 1, {3}, true, -0.5f, 0.5f, NULL}};

	sp_blas_set_threads(1);
	CHECK_OP("conv stride 2 pad 1 bias", "Conv", s2p1, attrs_conv_s2p1, true);
	CHECK_OP("conv 2x3 dilated, asymmetric pads", "Conv", dilated, attrs_conv_dilated, true);
	CHECK_OP("conv 1x1, fixed bias", "Conv", pointwise, NULL, false);
	CHECK_OP("conv 1-D", "Conv", conv1d, NULL, true);
}

SP_TEST(backward_gemm)
{
	tin			linear[] = {
		{"a", 2, {4, 5}, true, -1, 1, NULL},
		{"w", 2, {3, 5}, true, -1, 1, NULL},
		{"c", 1, {3}, true, -1, 1, NULL}};
	tin			ta[] = {
		{"a", 2, {5, 4}, true, -1, 1, NULL},
		{"w", 2, {5, 3}, true, -1, 1, NULL},
		{"c", 2, {4, 3}, true, -1, 1, NULL}};
	tin			both[] = {
		{"a", 2, {5, 2}, true, -1, 1, NULL},
		{"w", 2, {3, 5}, true, -1, 1, NULL},
		{"c", 2, {2, 1}, true, -1, 1, NULL}};
	tin			plain[] = {
		{"a", 2, {3, 4}, true, -1, 1, NULL},
		{"w", 2, {4, 2}, true, -1, 1, NULL}};

	sp_blas_set_threads(1);
	CHECK_OP("gemm transB (linear)", "Gemm", linear, attrs_gemm_tb, true);
	CHECK_OP("gemm transA alpha beta, C [M, N]", "Gemm", ta, attrs_gemm_ta, true);
	CHECK_OP("gemm transA transB, C [M, 1]", "Gemm", both, attrs_gemm_both, true);
	CHECK_OP("gemm plain, no C", "Gemm", plain, NULL, true);
}

SP_TEST(backward_batchnorm)
{
	tin			bn4[] = {
		{"x", 4, {3, 4, 3, 2}, true, -1, 2, NULL},
		{"scale", 1, {4}, true, 0.5f, 1.5f, NULL},
		{"bias", 1, {4}, true, -0.5f, 0.5f, NULL},
		{"mean", 1, {4}, false, -0.3f, 0.3f, NULL},
		{"var", 1, {4}, false, 0.5f, 2.0f, NULL}};
	tin			bn2[] = {
		{"x", 2, {5, 3}, true, -1, 2, NULL},
		{"scale", 1, {3}, true, 0.5f, 1.5f, NULL},
		{"bias", 1, {3}, true, -0.5f, 0.5f, NULL},
		{"mean", 1, {3}, false, -0.3f, 0.3f, NULL},
		{"var", 1, {3}, false, 0.5f, 2.0f, NULL}};

	CHECK_OP("batchnorm NCHW training", "BatchNormalization", bn4, attrs_bn, true);
	CHECK_OP("batchnorm NCHW eval", "BatchNormalization", bn4, attrs_bn, false);
	CHECK_OP("batchnorm N x C training", "BatchNormalization", bn2, NULL, true);
	CHECK_OP("batchnorm N x C eval", "BatchNormalization", bn2, NULL, false);
}

/* The running statistics move towards the batch's (unbiased variance) in training runs only. */
SP_TEST(batchnorm_running_stats)
{
	tin			bn[] = {
		{"x", 4, {2, 2, 2, 2}, false, -1, 2, NULL},
		{"scale", 1, {2}, true, 0.5f, 1.5f, NULL},
		{"bias", 1, {2}, true, -0.5f, 0.5f, NULL},
		{"mean", 1, {2}, false, -0.3f, 0.3f, NULL},
		{"var", 1, {2}, false, 0.5f, 2.0f, NULL}};
	tcase		t;
	float		m0[2],
				v0[2];

	REQUIRE(tc_build(&t, "BatchNormalization", bn, 5, NULL, true, 5));
	memcpy(m0, t.data[3], sizeof m0);
	memcpy(v0, t.data[4], sizeof v0);
	t.flags = 0;
	CHECK(!isnan(tc_loss(&t)));
	CHECK(memcmp(m0, t.data[3], sizeof m0) == 0 && memcmp(v0, t.data[4], sizeof v0) == 0);
	t.flags = SP_GRAPH_RUN_TRAINING;
	CHECK(!isnan(tc_loss(&t)));
	for (int c = 0; c < 2; c++)
	{
		double		s = 0,
					ss = 0,
					mean;

		for (int b = 0; b < 2; b++)
			for (int i = 0; i < 4; i++)
				s += t.data[0][(b * 2 + c) * 4 + i];
		mean = s / 8;
		for (int b = 0; b < 2; b++)
			for (int i = 0; i < 4; i++)
				ss += pow(t.data[0][(b * 2 + c) * 4 + i] - mean, 2);
		CHECK_NEAR(t.data[3][c], 0.9 * m0[c] + 0.1 * mean, 1e-6);
		CHECK_NEAR(t.data[4][c], 0.9 * v0[c] + 0.1 * ss / 7, 1e-6);
	}
	tc_free(&t);
}

SP_TEST(backward_pool_relu_shape_l2)
{
	tin			relu[] = {{"x", 2, {4, 6}, true, -1, 1, NULL}};
	tin			pool[] = {{"x", 4, {2, 2, 5, 5}, true, -1, 1, NULL}};
	tin			pool6[] = {{"x", 4, {1, 3, 6, 6}, true, -1, 1, NULL}};
	tin			flat[] = {{"x", 4, {2, 3, 2, 2}, true, -1, 1, NULL}};
	static const int64_t shape[2] = {3, 8};
	tin			reshape[] = {{"x", 3, {2, 3, 4}, true, -1, 1, NULL}, {"shape", 1, {2}, false, 0, 0, shape}};
	tin			l2rows[] = {{"x", 2, {3, 5}, true, -1, 1, NULL}};
	tin			l2mid[] = {{"x", 3, {2, 4, 3}, true, -1, 1, NULL}};

	CHECK_OP("relu", "Relu", relu, NULL, true);
	CHECK_OP("maxpool k3 s2 p1", "MaxPool", pool, attrs_maxpool_k3s2p1, true);
	CHECK_OP("maxpool k2 s2", "MaxPool", pool6, attrs_maxpool_k2, true);
	CHECK_OP("avgpool k3 s2 p1", "AveragePool", pool, attrs_maxpool_k3s2p1, true);
	CHECK_OP("avgpool k3 s2 p1 count_include_pad", "AveragePool", pool, attrs_avgpool_pad, true);
	CHECK_OP("avgpool 2x3 ceil_mode", "AveragePool", pool6, attrs_avgpool_ceil, true);
	CHECK_OP("flatten", "Flatten", flat, attrs_axis1, true);
	CHECK_OP("reshape", "Reshape", reshape, NULL, true);
	CHECK_OP("l2norm rows", "SiameseL2Norm", l2rows, NULL, true);
	CHECK_OP("l2norm axis 1", "SiameseL2Norm", l2mid, attrs_axis1, true);
}

/* Add and Sub (a residual connection; broadcasting sums the gradient back) */
SP_TEST(backward_add_sub)
{
	tin			same[] = {{"a", 4, {2, 3, 2, 2}, true, -1, 1, NULL}, {"b", 4, {2, 3, 2, 2}, true, -1, 1, NULL}};
	tin			chan[] = {{"a", 4, {2, 3, 2, 2}, true, -1, 1, NULL}, {"b", 3, {3, 1, 1}, true, -1, 1, NULL}};
	tin			rows[] = {{"a", 2, {1, 5}, true, -1, 1, NULL}, {"b", 2, {4, 5}, true, -1, 1, NULL}};
	tin			fixed[] = {{"a", 2, {4, 5}, true, -1, 1, NULL}, {"b", 1, {5}, false, -1, 1, NULL}};

	CHECK_OP("add, same shapes", "Add", same, NULL, true);
	CHECK_OP("add, a per-channel vector", "Add", chan, NULL, true);
	CHECK_OP("add, rows broadcast", "Add", rows, NULL, true);
	CHECK_OP("sub, same shapes", "Sub", same, NULL, true);
	CHECK_OP("sub, a per-channel vector", "Sub", chan, NULL, true);
	CHECK_OP("sub, a fixed vector", "Sub", fixed, NULL, true);
}

/* ---------------------------------------------------------------------- */
/* Graph-level behaviour. */

static bool
add_node(sp_graph *g, const char *op, const char *in0, const char *in1, const char *in2, const char *out,
		 sp_error *err)
{
	const char *ins[3] = {in0, in1, in2};
	const char *outs[1] = {out};
	int			n_in = in2 ? 3 : (in1 ? 2 : 1);
	sp_node    *n = sp_graph_add_node(g, op, out, ins, n_in, outs, 1, err);

	if (n && (strcmp(op, "Flatten") == 0 || strcmp(op, "SiameseL2Norm") == 0))
		return sp_node_set_int(g, n, "axis", strcmp(op, "Flatten") == 0 ? 1 : -1, err) == SP_OK;
	return n != NULL;
}

/* A value read by two nodes gets the sum of both gradients. */
SP_TEST(backward_fan_out_adds)
{
	sp_graph   *g;
	sp_error	err;
	sp_shape	xs = {4, {2, 2, 2, 2}};
	float		x[16],
				gx[16],
				r1[16],
				r2[16],
				y1[16],
				y2[16],
				want[16];
	uint64_t	s = 3;
	void	   *raw,
			   *arena;
	const float *d[2] = {r1, r2};
	void	   *outs[2] = {y1, y2};

	tu_fill(&s, x, 16, -1, 1);
	tu_fill(&s, r1, 16, -1, 1);
	tu_fill(&s, r2, 16, -1, 1);
	memset(gx, 0, sizeof gx);
	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "x", &err), SP_DT_FLOAT, &xs, x, &err) == SP_OK);
	REQUIRE(add_node(g, "Relu", "x", NULL, NULL, "r", &err));
	REQUIRE(add_node(g, "Flatten", "r", NULL, NULL, "y1", &err));
	REQUIRE(add_node(g, "Flatten", "r", NULL, NULL, "f2", &err));
	REQUIRE(add_node(g, "SiameseL2Norm", "f2", NULL, NULL, "y2", &err));
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "y1"), &err) == SP_OK);
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "y2"), &err) == SP_OK);
	REQUIRE(sp_graph_bind_param(g, sp_graph_find(g, "x"), x, gx, &err) == SP_OK);
	REQUIRE(sp_graph_prepare_ex(g, NULL, SP_GRAPH_PREPARE_TRAIN, &err) == SP_OK);
	raw = malloc(sp_graph_run_bytes(g) + 64);
	arena = (void *) (((uintptr_t) raw + 63) & ~(uintptr_t) 63);
	REQUIRE(sp_graph_run_ex(g, sp_env_default(), arena, NULL, outs, SP_GRAPH_RUN_TRAINING, &err) == SP_OK);
	REQUIRE(sp_graph_backward(g, sp_env_default(), arena, d, SP_GRAPH_RUN_TRAINING, &err) == SP_OK);
	/* by hand: y2 = l2norm(relu(x)) per image of 8 */
	for (int b = 0; b < 2; b++)
	{
		double		ss = 0,
					dot = 0,
					nrm;

		for (int k = 0; k < 8; k++)
			ss += (double) y1[b * 8 + k] * y1[b * 8 + k];
		nrm = sqrt(ss);
		for (int k = 0; k < 8; k++)
			dot += (double) y2[b * 8 + k] * r2[b * 8 + k];
		for (int k = 0; k < 8; k++)
		{
			int			i = b * 8 + k;
			double		dr = r1[i] + (r2[i] - y2[i] * dot) / nrm;

			want[i] = x[i] > 0 ? (float) dr : 0.0f;
		}
	}
	for (int i = 0; i < 16; i++)
		CHECK_NEAR(gx[i], want[i], 1e-5);
	/* a second backward adds to the parameter's gradient again */
	REQUIRE(sp_graph_backward(g, sp_env_default(), arena, d, SP_GRAPH_RUN_TRAINING, &err) == SP_OK);
	for (int i = 0; i < 16; i++)
		CHECK_NEAR(gx[i], 2 * want[i], 2e-5);
	/* parameters are read at every run: a changed x changes y1 */
	x[0] = 5.0f;
	REQUIRE(sp_graph_run_ex(g, sp_env_default(), arena, NULL, outs, 0, &err) == SP_OK);
	CHECK(y1[0] == 5.0f);
	free(raw);
	sp_graph_free(g);
}

/*
 * x (runtime input, batch -1) -> [Sigmoid] -> Conv(w) -> Relu -> Flatten ->
 * Gemm(fw, fb): the prepared batch, another batch, and what prepare refuses.
 */
static sp_status
build_net(sp_graph **out, bool sigmoid_after_conv, float *w, float *gw, float *fw, float *gfw, float *fb,
		  sp_error *err)
{
	sp_graph   *g;
	sp_shape	xs = {4, {-1, 2, 4, 4}},
				ws = {4, {3, 2, 3, 3}},
				fws = {2, {5, 12}},
				fbs = {1, {5}};
	sp_shape	bound = {4, {4, 2, 4, 4}};
	sp_status	st;

	*out = NULL;
	if ((st = sp_graph_create(sp_env_default(), &g, err)) != SP_OK)
		return st;
	*out = g;
	if ((st = sp_graph_add_input(g, sp_graph_value(g, "x", err), SP_DT_FLOAT, &xs, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "w", err), SP_DT_FLOAT, &ws, w, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "fw", err), SP_DT_FLOAT, &fws, fw, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "fb", err), SP_DT_FLOAT, &fbs, fb, err)) != SP_OK)
		return st;
	if (!add_node(g, "Sigmoid", "x", NULL, NULL, "xs", err) ||
		!add_node(g, "Conv", "xs", "w", NULL, "c", err) ||
		!add_node(g, sigmoid_after_conv ? "Sigmoid" : "Relu", "c", NULL, NULL, "r", err) ||
		!add_node(g, "Flatten", "r", NULL, NULL, "f", err))
		return err->code;
	{
		const char *ins[3] = {"f", "fw", "fb"};
		const char *outs[1] = {"y"};
		sp_node    *n = sp_graph_add_node(g, "Gemm", "fc", ins, 3, outs, 1, err);

		if (!n || (st = sp_node_set_int(g, n, "transB", 1, err)) != SP_OK)
			return err->code;
	}
	if ((st = sp_graph_add_output(g, sp_graph_find(g, "y"), err)) != SP_OK ||
		(st = sp_graph_bind_param(g, sp_graph_find(g, "w"), w, gw, err)) != SP_OK ||
		(st = sp_graph_bind_param(g, sp_graph_find(g, "fw"), fw, gfw, err)) != SP_OK ||
		(st = sp_graph_bind_param(g, sp_graph_find(g, "fb"), fb, NULL, err)) != SP_OK)
		return st;
	return sp_graph_prepare_ex(g, &bound, SP_GRAPH_PREPARE_TRAIN, err);
}

SP_TEST(training_graph_batch_and_refusals)
{
	float		w[54],
				gw[54],
				fw[60],
				gfw[60],
				fb[5],
				x[4 * 32],
				y4[20],
				y2[10],
				d[20];
	uint64_t	s = 9;
	sp_graph   *g;
	sp_error	err;
	void	   *raw,
			   *arena;
	const void *ins[1] = {x};
	void	   *o4[1] = {y4},
			   *o2[1] = {y2};
	const float *dd[1] = {d};

	tu_fill(&s, w, 54, -0.5f, 0.5f);
	tu_fill(&s, fw, 60, -0.5f, 0.5f);
	tu_fill(&s, fb, 5, -0.5f, 0.5f);
	tu_fill(&s, x, 4 * 32, -1, 1);
	tu_fill(&s, d, 20, -1, 1);
	sp_blas_set_threads(1);

	/* a Sigmoid between a parameter and the output has no backward: refused */
	CHECK(build_net(&g, true, w, gw, fw, gfw, fb, &err) == SP_ERR_UNSUPPORTED);
	CHECK(strstr(err.message, "Sigmoid") && strstr(err.message, "backward"));
	sp_graph_free(g);

	/* before the first parameter it needs none */
	REQUIRE(build_net(&g, false, w, gw, fw, gfw, fb, &err) == SP_OK);
	CHECK(!g->values[sp_graph_find(g, "xs")].needs_grad);
	CHECK(g->values[sp_graph_find(g, "c")].needs_grad);
	CHECK_EQ_INT(g->values[sp_graph_find(g, "y")].shape.dim[0], 4);
	raw = malloc(sp_graph_run_bytes(g) + 64);
	arena = (void *) (((uintptr_t) raw + 63) & ~(uintptr_t) 63);
	REQUIRE(sp_graph_run_ex(g, sp_env_default(), arena, ins, o4, SP_GRAPH_RUN_TRAINING, &err) == SP_OK);
	memset(gw, 0, sizeof gw);
	memset(gfw, 0, sizeof gfw);
	REQUIRE(sp_graph_backward(g, sp_env_default(), arena, dd, SP_GRAPH_RUN_TRAINING, &err) == SP_OK);
	{
		double		n1 = 0,
					n2 = 0;

		for (int i = 0; i < 54; i++)
			n1 += fabs(gw[i]);
		for (int i = 0; i < 60; i++)
			n2 += fabs(gfw[i]);
		CHECK(n1 > 0 && n2 > 0);
	}
	/* batch 2: the first two images give the same embeddings */
	REQUIRE(sp_graph_set_batch(g, 2, &err) == SP_OK);
	CHECK_EQ_INT(g->values[sp_graph_find(g, "y")].shape.dim[0], 2);
	REQUIRE(sp_graph_run_ex(g, sp_env_default(), arena, ins, o2, SP_GRAPH_RUN_TRAINING, &err) == SP_OK);
	for (int i = 0; i < 10; i++)
		CHECK_NEAR(y2[i], y4[i], 1e-6);
	/* more than prepared for: refused; back to 4 works */
	CHECK(sp_graph_set_batch(g, 5, &err) == SP_ERR_INVALID_ARG);
	REQUIRE(sp_graph_set_batch(g, 4, &err) == SP_OK);
	REQUIRE(sp_graph_run_ex(g, sp_env_default(), arena, ins, o4, 0, &err) == SP_OK);
	free(raw);
	sp_graph_free(g);
	/* an inference graph runs neither training mode nor backward */
	{
		sp_graph   *gi;
		const char *in1[1] = {"x"},
				   *out1[1] = {"y"};
		sp_shape	xs = {2, {2, 3}};
		float		yi[6],
					xi[6] = {1, -2, 3, -4, 5, -6};
		const void *ii[1] = {xi};
		void	   *oi[1] = {yi};
		const float *di[1] = {xi};

		REQUIRE(sp_graph_create(sp_env_default(), &gi, &err) == SP_OK);
		REQUIRE(sp_graph_add_input(gi, sp_graph_value(gi, "x", &err), SP_DT_FLOAT, &xs, &err) == SP_OK);
		REQUIRE(sp_graph_add_node(gi, "Relu", "r", in1, 1, out1, 1, &err));
		REQUIRE(sp_graph_add_output(gi, sp_graph_find(gi, "y"), &err) == SP_OK);
		REQUIRE(sp_graph_prepare(gi, NULL, &err) == SP_OK);
		raw = malloc(sp_graph_run_bytes(gi) + 64);
		arena = (void *) (((uintptr_t) raw + 63) & ~(uintptr_t) 63);
		CHECK(sp_graph_run_ex(gi, sp_env_default(), arena, ii, oi, SP_GRAPH_RUN_TRAINING, &err) == SP_ERR_INTERNAL);
		CHECK(sp_graph_backward(gi, sp_env_default(), arena, di, 0, &err) == SP_ERR_INTERNAL);
		CHECK(sp_graph_set_batch(gi, 1, &err) == SP_ERR_INTERNAL);
		free(raw);
		sp_graph_free(gi);
	}
}

static void
attrs_group2(sp_graph *g, sp_node *n)
{
	sp_error	err;

	(void) sp_node_set_int(g, n, "group", 2, &err);
}

/* Grouped convolutions have no backward yet: the run says so instead of computing nonsense. */
SP_TEST(backward_conv_groups_refused)
{
	tin			grouped[] = {
		{"x", 4, {1, 4, 3, 3}, true, -1, 1, NULL},
		{"w", 4, {4, 2, 3, 3}, true, -0.5f, 0.5f, NULL}};
	tcase		t;
	const float *d[1];

	REQUIRE(tc_build(&t, "Conv", grouped, 2, attrs_group2, true, 1));
	d[0] = t.r;
	CHECK(!isnan(tc_loss(&t)));
	CHECK(sp_graph_backward(t.g, sp_env_default(), t.arena, d, t.flags, &t.err) == SP_ERR_UNSUPPORTED);
	tc_free(&t);
}

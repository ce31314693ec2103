/*
 * test_graph.c: the operator-graph engine (nn/graph.h): building, sorting,
 * inference with constant folding, pruning, the memory plan and running;
 * and the errors for dangling names, cycles, duplicate producers and
 * unknown ops.
 */
#include "unit.h"
#include "nn/graph.h"
#include "nn/op.h"

#include <stdlib.h>

static sp_shape
shape2(int64_t a, int64_t b)
{
	sp_shape	s = {2, {a, b}};

	return s;
}

/* Run a prepared single-input single-output graph on x into y. */
static sp_status
run1(const sp_graph *g, const float *x, float *y, sp_error *err)
{
	void	   *arena = NULL;
	const void *in[1] = {x};
	void	   *out[1] = {y};
	sp_status	st;

	if (posix_memalign(&arena, 64, sp_graph_run_bytes(g) + 64) != 0)
		return SP_ERR_NOMEM;
	st = sp_graph_run(g, sp_env_default(), arena, in, out, err);
	free(arena);
	return st;
}

SP_TEST(graph_add_relu)
{
	sp_graph   *g;
	sp_error	err;
	sp_shape	s = shape2(-1, 4),
				bs = {1, {4}};
	float		b[4] = {1, -2, 3, -4};
	float		x[4] = {0.5f, 0.5f, -5, 5},
				y[4];
	const char *add_in[2] = {"x", "b"},
			   *add_out[1] = {"t"},
			   *relu_in[1] = {"t"},
			   *relu_out[1] = {"y"};

	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "x", &err), SP_DT_FLOAT, &s, &err) == SP_OK);
	REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "b", &err), SP_DT_FLOAT, &bs, b, &err) == SP_OK);
	/* nodes out of order: the sort puts them right */
	REQUIRE(sp_graph_add_node(g, "Relu", "r", relu_in, 1, relu_out, 1, &err) != NULL);
	REQUIRE(sp_graph_add_node(g, "Add", "a", add_in, 2, add_out, 1, &err) != NULL);
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "y"), &err) == SP_OK);
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK_EQ_INT(g->values[sp_graph_find(g, "y")].shape.dim[0], 1);	/* batch bound to 1 */
	CHECK_EQ_INT(g->n_order, 2);
	REQUIRE(run1(g, x, y, &err) == SP_OK);
	CHECK(y[0] == 1.5f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 1.0f);
	sp_graph_free(g);
}

SP_TEST(graph_constant_folding_and_pruning)
{
	sp_graph   *g;
	sp_error	err;
	sp_shape	s = shape2(1, 3),
				cs = {1, {3}};
	float		c1[3] = {1, 2, 3},
				c2[3] = {10, 20, 30},
				x[3] = {1, 1, 1},
				y[3];
	const char *i1[2] = {"c1", "c2"},
			   *o1[1] = {"c"},
			   *i2[2] = {"x", "c"},
			   *o2[1] = {"y"},
			   *i3[1] = {"y"},
			   *o3[1] = {"unused"};

	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "x", &err), SP_DT_FLOAT, &s, &err) == SP_OK);
	REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "c1", &err), SP_DT_FLOAT, &cs, c1, &err) == SP_OK);
	REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "c2", &err), SP_DT_FLOAT, &cs, c2, &err) == SP_OK);
	REQUIRE(sp_graph_add_node(g, "Mul", "fold", i1, 2, o1, 1, &err) != NULL);
	REQUIRE(sp_graph_add_node(g, "Add", "run", i2, 2, o2, 1, &err) != NULL);
	REQUIRE(sp_graph_add_node(g, "Exp", "dead", i3, 1, o3, 1, &err) != NULL);
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "y"), &err) == SP_OK);
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	/* the constant product was folded, the unused Exp pruned: one node runs */
	CHECK_EQ_INT(g->n_order, 1);
	CHECK(g->values[sp_graph_find(g, "c")].data != NULL);
	REQUIRE(run1(g, x, y, &err) == SP_OK);
	CHECK(y[0] == 11 && y[1] == 41 && y[2] == 91);
	sp_graph_free(g);
}

SP_TEST(graph_memory_plan_reuses_dead_values)
{
	/* a chain of 6 Relus on 1000 floats needs two live buffers, not six */
	sp_graph   *g;
	sp_error	err;
	sp_shape	s = shape2(1, 1000);
	float	   *x = malloc(4000),
			   *y = malloc(4000);
	char		names[8][8];

	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "v0", &err), SP_DT_FLOAT, &s, &err) == SP_OK);
	for (int i = 0; i < 6; i++)
	{
		const char *in[1],
				   *out[1];

		snprintf(names[i], 8, "v%d", i);
		snprintf(names[i + 1], 8, "v%d", i + 1);
		in[0] = names[i];
		out[0] = names[i + 1];
		REQUIRE(sp_graph_add_node(g, i % 2 ? "Neg" : "Relu", NULL, in, 1, out, 1, &err) != NULL);
	}
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "v6"), &err) == SP_OK);
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(g->arena_bytes <= 2 * 4032);
	for (int i = 0; i < 1000; i++)
		x[i] = (float) (i - 500);
	REQUIRE(run1(g, x, y, &err) == SP_OK);
	/* relu, neg, relu, neg, relu, neg: -max(0, -max(0, x)) ... = 0 for all */
	CHECK(y[0] == 0.0f && y[999] == -0.0f);
	free(x);
	free(y);
	sp_graph_free(g);
}

SP_TEST(graph_errors)
{
	sp_graph   *g;
	sp_error	err;
	sp_shape	s = shape2(1, 2);
	const char *ab[1] = {"a"},
			   *bb[1] = {"b"},
			   *cc[1] = {"c"};

	/* unknown op, named */
	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	CHECK(sp_graph_add_node(g, "NoSuchOp", "n1", ab, 1, bb, 1, &err) == NULL);
	CHECK(err.code == SP_ERR_UNSUPPORTED && strstr(err.message, "NoSuchOp") && strstr(err.message, "n1"));
	/* two producers of one tensor */
	REQUIRE(sp_graph_add_node(g, "Relu", "p1", ab, 1, bb, 1, &err) != NULL);
	CHECK(sp_graph_add_node(g, "Relu", "p2", cc, 1, bb, 1, &err) == NULL);
	CHECK(err.code == SP_ERR_CORRUPT);
	sp_graph_free(g);

	/* dangling input */
	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	REQUIRE(sp_graph_add_node(g, "Relu", "r", ab, 1, bb, 1, &err) != NULL);
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "b"), &err) == SP_OK);
	CHECK(sp_graph_prepare(g, NULL, &err) == SP_ERR_CORRUPT);
	CHECK(strstr(err.message, "\"a\"") != NULL);
	sp_graph_free(g);

	/* cycle a -> b -> a */
	REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
	REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "x", &err), SP_DT_FLOAT, &s, &err) == SP_OK);
	REQUIRE(sp_graph_add_node(g, "Relu", "r1", ab, 1, bb, 1, &err) != NULL);
	REQUIRE(sp_graph_add_node(g, "Relu", "r2", bb, 1, ab, 1, &err) != NULL);
	REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "b"), &err) == SP_OK);
	CHECK(sp_graph_prepare(g, NULL, &err) == SP_ERR_CORRUPT);
	CHECK(strstr(err.message, "cycle") != NULL);
	sp_graph_free(g);

	/* a broadcast that does not fit is named with the shapes */
	{
		sp_shape	s3 = shape2(1, 3);
		const char *in[2] = {"x", "y"},
				   *out[1] = {"z"};

		REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
		REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "x", &err), SP_DT_FLOAT, &s, &err) == SP_OK);
		REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "y", &err), SP_DT_FLOAT, &s3, &err) == SP_OK);
		REQUIRE(sp_graph_add_node(g, "Add", "add", in, 2, out, 1, &err) != NULL);
		REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "z"), &err) == SP_OK);
		CHECK(sp_graph_prepare(g, NULL, &err) == SP_ERR_CORRUPT);
		CHECK(strstr(err.message, "[1, 2] and [1, 3]") != NULL);
		sp_graph_free(g);
	}
}

/*
 * Conv (1 -> 2 channels, 1x1) -> BatchNormalization with the given gamma and
 * var, prepared for running (so the batch norm is folded).
 */
static sp_status
conv_bn_prepare(float gamma0, float var0, float w0, sp_graph **out, sp_error *err)
{
	sp_graph   *g;
	sp_shape	xs = {4, {1, 1, 2, 2}},
				ws = {4, {2, 1, 1, 1}},
				cs = {1, {2}};
	float		w[2] = {w0, 1},
				b[2] = {0.5f, 0},
				gam[2] = {gamma0, 1},
				beta[2] = {0, 0},
				mean[2] = {0, 0},
				var[2] = {var0, 1};
	const char *cin[3] = {"x", "w", "b"},
			   *cout[1] = {"c"},
			   *bin[5] = {"c", "gamma", "beta", "mean", "var"},
			   *bout[1] = {"y"};
	sp_status	st;

	if ((st = sp_graph_create(sp_env_default(), &g, err)) != SP_OK)
		return st;
	*out = g;
	if ((st = sp_graph_add_input(g, sp_graph_value(g, "x", err), SP_DT_FLOAT, &xs, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "w", err), SP_DT_FLOAT, &ws, w, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "b", err), SP_DT_FLOAT, &cs, b, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "gamma", err), SP_DT_FLOAT, &cs, gam, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "beta", err), SP_DT_FLOAT, &cs, beta, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "mean", err), SP_DT_FLOAT, &cs, mean, err)) != SP_OK ||
		(st = sp_graph_set_constant(g, sp_graph_value(g, "var", err), SP_DT_FLOAT, &cs, var, err)) != SP_OK)
		return st;
	if (!sp_graph_add_node(g, "Conv", "conv1", cin, 3, cout, 1, err) ||
		!sp_graph_add_node(g, "BatchNormalization", "bn1", bin, 5, bout, 1, err))
		return err->code;
	if ((st = sp_graph_add_output(g, sp_graph_find(g, "y"), err)) != SP_OK)
		return st;
	return sp_graph_prepare(g, NULL, err);
}

/* Batch-norm folding that overflows float32, and non-finite weights, are load errors. */
SP_TEST(graph_nonfinite_weights_refused)
{
	sp_graph   *g = NULL;
	sp_error	err;

	/* sane statistics fold */
	CHECK_MSG(conv_bn_prepare(1, 1, 1, &g, &err) == SP_OK, "%s", err.message);
	sp_graph_free(g);
	/* gamma 3e38, var 1e-45: scale ~1e41 overflows float32 in the folded weight and bias */
	g = NULL;
	CHECK(conv_bn_prepare(3e38f, 1e-45f, 1, &g, &err) == SP_ERR_INVALID_ARG);
	CHECK_MSG(strstr(err.message, "\"bn1\"") && strstr(err.message, "\"conv1\"") &&
			  strstr(err.message, "non-finite") && strstr(err.message, "channel 0"), "%s", err.message);
	sp_graph_free(g);
	/* a zero weight folds to 0 but the bias still overflows */
	g = NULL;
	CHECK(conv_bn_prepare(3e38f, 1e-45f, 0, &g, &err) == SP_ERR_INVALID_ARG);
	sp_graph_free(g);
	/* NaN and infinite constants are refused, naming the node and the tensor */
	g = NULL;
	CHECK(conv_bn_prepare(1, 1, NAN, &g, &err) == SP_ERR_INVALID_ARG);
	CHECK_MSG(strstr(err.message, "Conv node \"conv1\"") && strstr(err.message, "\"w\" contains NaN at index 0"),
			  "%s", err.message);
	sp_graph_free(g);
	g = NULL;
	CHECK(conv_bn_prepare(INFINITY, 1, 1, &g, &err) == SP_ERR_INVALID_ARG);
	CHECK_MSG(strstr(err.message, "\"gamma\" contains infinity"), "%s", err.message);
	sp_graph_free(g);

	/* Clip's bounds may be infinite */
	{
		sp_shape	s = shape2(1, 2),
					one = {0, {0}};
		float		lo = 0,
					hi = INFINITY,
					x[2] = {-1, 1e30f},
					y[2];
		const char *in[3] = {"x", "lo", "hi"},
				   *out[1] = {"y"};

		REQUIRE(sp_graph_create(sp_env_default(), &g, &err) == SP_OK);
		REQUIRE(sp_graph_add_input(g, sp_graph_value(g, "x", &err), SP_DT_FLOAT, &s, &err) == SP_OK);
		REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "lo", &err), SP_DT_FLOAT, &one, &lo, &err) == SP_OK);
		REQUIRE(sp_graph_set_constant(g, sp_graph_value(g, "hi", &err), SP_DT_FLOAT, &one, &hi, &err) == SP_OK);
		REQUIRE(sp_graph_add_node(g, "Clip", "clip", in, 3, out, 1, &err) != NULL);
		REQUIRE(sp_graph_add_output(g, sp_graph_find(g, "y"), &err) == SP_OK);
		CHECK_MSG(sp_graph_prepare(g, NULL, &err) == SP_OK, "%s", err.message);
		REQUIRE(run1(g, x, y, &err) == SP_OK);
		CHECK(y[0] == 0 && y[1] == 1e30f);
		sp_graph_free(g);
	}
}

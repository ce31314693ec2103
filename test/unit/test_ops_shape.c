/*
 * test_ops_shape.c: the shape and data-movement ops (nn/ops/shape.c):
 * Shape, Size, Constant, ConstantOfShape, Range, Reshape, Flatten, Squeeze,
 * Unsqueeze, Transpose, Concat, Split, Slice, Gather, Pad, Expand, Tile and
 * Not, each against hand-computed values (Transpose against a naive
 * reference), through constant folding and through the executor, and their
 * errors.
 */
#include "unit.h"
#include "nn/graph.h"
#include "nn/op.h"

#include <stdint.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------- */
/* Building graphs tersely. */

static sp_shape
mk_shape(int rank, const int64_t *dims)
{
	sp_shape	s = {rank, {0}};

	for (int d = 0; d < rank; d++)
		s.dim[d] = dims[d];
	return s;
}

#define SH(...) mk_shape((int) (sizeof((int64_t[]) {__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]) {__VA_ARGS__})
static const sp_shape SCALAR = {0, {0}};

static sp_graph *
new_graph(void)
{
	sp_graph   *g = NULL;
	sp_error	err;

	if (sp_graph_create(sp_env_default(), &g, &err) != SP_OK)
		return NULL;
	return g;
}

static bool
input(sp_graph *g, const char *name, sp_dtype dt, sp_shape s)
{
	sp_error	err;
	int			id = sp_graph_value(g, name, &err);

	return id >= 0 && sp_graph_add_input(g, id, dt, &s, &err) == SP_OK;
}

static bool
constant(sp_graph *g, const char *name, sp_dtype dt, sp_shape s, const void *data)
{
	sp_error	err;
	int			id = sp_graph_value(g, name, &err);

	return id >= 0 && sp_graph_set_constant(g, id, dt, &s, data, &err) == SP_OK;
}

static bool
ints(sp_graph *g, const char *name, int count, const int64_t *v)
{
	return constant(g, name, SP_DT_INT64, mk_shape(1, (int64_t[]) {count}), v);
}

#define INTS(g, name, ...) ints(g, name, (int) (sizeof((int64_t[]) {__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]) {__VA_ARGS__})

static bool
output(sp_graph *g, const char *name)
{
	sp_error	err;

	return sp_graph_add_output(g, sp_graph_value(g, name, &err), &err) == SP_OK;
}

/* Split "a,,b" into names ("" = omitted input); returns the count. */
static int
split_names(const char *list, char *buf, size_t len, const char **names)
{
	int			n = 0;
	char	   *p;

	if (!list[0])
		return 0;
	snprintf(buf, len, "%s", list);
	p = buf;
	names[n++] = p;
	for (; *p; p++)
		if (*p == ',')
		{
			*p = '\0';
			names[n++] = p + 1;
		}
	return n;
}

/* A node of op named after its first output; NULL with err set on failure. */
static sp_node *
node(sp_graph *g, const char *op, const char *ins, const char *outs, sp_error *err)
{
	static char bin[16384],
				bout[4096];
	static const char *in[1100],
			   *out[1100];
	int			nin = split_names(ins, bin, sizeof bin, in),
				nout = split_names(outs, bout, sizeof bout, out);

	return sp_graph_add_node(g, op, nout ? out[0] : op, in, nin, out, nout, err);
}

/* Run a prepared graph. */
static sp_status
run(const sp_graph *g, const void *const *in, void *const *out, sp_error *err)
{
	void	   *arena = NULL;
	sp_status	st;

	if (posix_memalign(&arena, 64, sp_graph_run_bytes(g) + 64) != 0)
		return SP_ERR_NOMEM;
	st = sp_graph_run(g, sp_env_default(), arena, in, out, err);
	free(arena);
	return st;
}

static const sp_value *
val(const sp_graph *g, const char *name)
{
	int			id = sp_graph_find(g, name);

	return id >= 0 ? &g->values[id] : NULL;
}

static bool
shape_is(const sp_graph *g, const char *name, sp_shape s)
{
	const sp_value *v = val(g, name);

	return v && sp_shape_equal(&v->shape, &s);
}

static bool
floats_eq(const float *a, const float *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
		{
			fprintf(stderr, "  element %d: %g vs %g\n", i, (double) a[i], (double) b[i]);
			return false;
		}
	return true;
}

static bool
int64s_eq(const int64_t *a, const int64_t *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
		{
			fprintf(stderr, "  element %d: %lld vs %lld\n", i, (long long) a[i], (long long) b[i]);
			return false;
		}
	return true;
}

#define FLOATS_ARE(p, ...) floats_eq((p), (float[]) {__VA_ARGS__}, (int) (sizeof((float[]) {__VA_ARGS__}) / sizeof(float)))
#define INT64S_ARE(p, ...) int64s_eq((p), (int64_t[]) {__VA_ARGS__}, (int) (sizeof((int64_t[]) {__VA_ARGS__}) / sizeof(int64_t)))

/* Prepare g, expecting failure with code and a message containing what. */
static bool
prepare_fails(sp_graph *g, sp_status code, const char *what)
{
	sp_error	err;
	sp_status	st = sp_graph_prepare(g, NULL, &err);

	if (st != code || !strstr(err.message, what))
	{
		fprintf(stderr, "  prepare gave %d \"%s\", wanted %d with \"%s\"\n", (int) st,
				st == SP_OK ? "" : err.message, (int) code, what);
		return false;
	}
	return true;
}

static const float iota24[24] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

/* ---------------------------------------------------------------------- */
/* Folding: torch's flatten export. */

SP_TEST(shape_gather_unsqueeze_concat_reshape_folds)
{
	/*
	 * y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): the
	 * shape path folds at prepare, so only the Reshape runs.
	 */
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_shape	bind = SH(2, 3, 4);
	int64_t		zero = 0;
	float		y[24];
	const sp_value *c;

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(-1, 3, 4)));
	REQUIRE(constant(g, "i0", SP_DT_INT64, SCALAR, &zero));
	REQUIRE(INTS(g, "ax0", 0));
	REQUIRE(INTS(g, "minus1", -1));
	REQUIRE(node(g, "Shape", "x", "s", &err));
	REQUIRE(node(g, "Gather", "s,i0", "d0", &err));
	REQUIRE(node(g, "Unsqueeze", "d0,ax0", "u0", &err));
	REQUIRE(node(g, "Concat", "u0,minus1", "target", &err));
	REQUIRE(sp_node_set_int(g, &g->nodes[g->n_nodes - 1], "axis", 0, &err) == SP_OK);
	REQUIRE(node(g, "Reshape", "x,target", "y", &err));
	REQUIRE(output(g, "y"));
	REQUIRE(sp_graph_prepare(g, &bind, &err) == SP_OK);
	CHECK_EQ_INT(g->n_order, 1);
	c = val(g, "target");
	REQUIRE(c && c->data);
	CHECK(INT64S_ARE(c->data, 2, -1));
	CHECK(shape_is(g, "d0", SCALAR));
	CHECK(shape_is(g, "y", SH(2, 12)));
	REQUIRE(run(g, (const void *[]) {iota24}, (void *[]) {y}, &err) == SP_OK);
	CHECK(floats_eq(y, iota24, 24));
	sp_graph_free(g);
}

SP_TEST(shape_start_end_and_size)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4, 5)));
	REQUIRE((n = node(g, "Shape", "x", "s1", &err)));
	REQUIRE(sp_node_set_int(g, n, "start", 1, &err) == SP_OK);
	REQUIRE((n = node(g, "Shape", "x", "s2", &err)));
	REQUIRE(sp_node_set_int(g, n, "start", -3, &err) == SP_OK);
	REQUIRE(sp_node_set_int(g, n, "end", -1, &err) == SP_OK);
	REQUIRE((n = node(g, "Shape", "x", "s3", &err)));
	REQUIRE(sp_node_set_int(g, n, "start", -10, &err) == SP_OK);	/* clamped */
	REQUIRE(sp_node_set_int(g, n, "end", 10, &err) == SP_OK);
	REQUIRE((n = node(g, "Shape", "x", "s4", &err)));
	REQUIRE(sp_node_set_int(g, n, "start", 3, &err) == SP_OK);	/* empty */
	REQUIRE(sp_node_set_int(g, n, "end", 1, &err) == SP_OK);
	REQUIRE(node(g, "Size", "x", "n", &err));
	REQUIRE(output(g, "s1") && output(g, "s2") && output(g, "s3") && output(g, "s4") && output(g, "n"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK_EQ_INT(g->n_order, 0);
	CHECK(INT64S_ARE(val(g, "s1")->data, 3, 4, 5));
	CHECK(INT64S_ARE(val(g, "s2")->data, 3, 4));
	CHECK(INT64S_ARE(val(g, "s3")->data, 2, 3, 4, 5));
	CHECK(shape_is(g, "s4", SH(0)));
	CHECK(shape_is(g, "n", SCALAR));
	CHECK_EQ_INT(*(int64_t *) val(g, "n")->data, 120);
	{
		/* constant outputs are copied out by the executor */
		int64_t		s1[3],
					s2[2],
					s3[4],
					s4[1],
					cnt;
		float		x[120] = {0};

		REQUIRE(run(g, (const void *[]) {x}, (void *[]) {s1, s2, s3, s4, &cnt}, &err) == SP_OK);
		CHECK(INT64S_ARE(s1, 3, 4, 5));
		CHECK_EQ_INT(cnt, 120);
	}
	sp_graph_free(g);
}

/* ---------------------------------------------------------------------- */
/* Reshape, Flatten, Squeeze, Unsqueeze. */

SP_TEST(reshape_zero_minus_one_allowzero)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		y1[24],
				y2[24];

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4)));
	REQUIRE(INTS(g, "t1", 0, -1));		/* 0 copies dim 0: [2, 12] */
	REQUIRE(INTS(g, "t2", 4, 0, -1));	/* [4, 3, 2] */
	REQUIRE(node(g, "Reshape", "x,t1", "y1", &err));
	REQUIRE(node(g, "Reshape", "x,t2", "y2", &err));
	/* allowzero: a 0 is a real 0 (an empty tensor) */
	REQUIRE(input(g, "e", SP_DT_FLOAT, SH(0, 3)));
	REQUIRE(INTS(g, "t3", 3, 0));
	REQUIRE((n = node(g, "Reshape", "e,t3", "y3", &err)));
	REQUIRE(sp_node_set_int(g, n, "allowzero", 1, &err) == SP_OK);
	REQUIRE(output(g, "y1") && output(g, "y2") && output(g, "y3"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "y1", SH(2, 12)));
	CHECK(shape_is(g, "y2", SH(4, 3, 2)));
	CHECK(shape_is(g, "y3", SH(3, 0)));
	{
		float		dummy[1];

		REQUIRE(run(g, (const void *[]) {iota24, dummy}, (void *[]) {y1, y2, dummy}, &err) == SP_OK);
	}
	CHECK(floats_eq(y1, iota24, 24) && floats_eq(y2, iota24, 24));
	sp_graph_free(g);
}

SP_TEST(reshape_attribute_form_and_int64)
{
	/* opset < 5: the target shape is an attribute; int64 data folds */
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	int64_t		data[6] = {1, 2, 3, 4, 5, 6};

	REQUIRE(g);
	REQUIRE(constant(g, "c", SP_DT_INT64, SH(6), data));
	REQUIRE((n = node(g, "Reshape", "c", "y", &err)));
	REQUIRE(sp_node_set_ints(g, n, "shape", (int64_t[]) {3, -1}, 2, &err) == SP_OK);
	REQUIRE(output(g, "y"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "y", SH(3, 2)));
	CHECK(INT64S_ARE(val(g, "y")->data, 1, 2, 3, 4, 5, 6));
	sp_graph_free(g);
}

SP_TEST(reshape_errors)
{
	static const struct
	{
		int64_t		t[3];
		int			n;
		const char *msg;
	}			cases[] = {
		{{5, -1}, 2, "cannot infer the -1"},
		{{-1, -1}, 2, "more than one -1"},
		{{4, 5}, 2, "cannot reshape [2, 3, 4] (24 elements) to [4, 5] (20 elements)"},
		{{2, 3, -2}, 3, "is -2"},
		{{0}, 0, "cannot reshape [2, 3, 4] (24 elements) to [] (1 elements)"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		sp_graph   *g = new_graph();
		sp_error	err;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4)));
		REQUIRE(ints(g, "t", cases[i].n, cases[i].t));
		REQUIRE(node(g, "Reshape", "x,t", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, cases[i].msg));
		sp_graph_free(g);
	}
	{
		/* 0 copies dim 2 of a rank-2 input */
		sp_graph   *g = new_graph();
		sp_error	err;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(6, 4)));
		REQUIRE(INTS(g, "t", 2, 3, 0));
		REQUIRE(node(g, "Reshape", "x,t", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, "dimension 2 of the target shape is 0"));
		sp_graph_free(g);
	}
	{
		/* a target shape computed at run time is refused, naming the node */
		sp_graph   *g = new_graph();
		sp_error	err;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4)));
		REQUIRE(input(g, "t", SP_DT_INT64, SH(2)));
		REQUIRE(node(g, "Reshape", "x,t", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_UNSUPPORTED, "Reshape node \"y\": input \"t\" must be a constant"));
		sp_graph_free(g);
	}
	{
		/* a float shape and a rank-2 shape */
		sp_graph   *g = new_graph();
		sp_error	err;
		float		t[2] = {4, 6};

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4)));
		REQUIRE(constant(g, "t", SP_DT_FLOAT, SH(2), t));
		REQUIRE(node(g, "Reshape", "x,t", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, "1-D int64"));
		sp_graph_free(g);
	}
}

SP_TEST(flatten_axes)
{
	static const struct
	{
		int64_t		axis;
		int64_t		a,
					b;
	}			cases[] = {
		{0, 1, 24}, {1, 2, 12}, {2, 6, 4}, {3, 24, 1}, {-1, 6, 4}, {-3, 1, 24}
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		sp_graph   *g = new_graph();
		sp_error	err;
		sp_node    *n;
		float		y[24];

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4)));
		REQUIRE((n = node(g, "Flatten", "x", "y", &err)));
		REQUIRE(sp_node_set_int(g, n, "axis", cases[i].axis, &err) == SP_OK);
		REQUIRE(output(g, "y"));
		REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
		CHECK_MSG(shape_is(g, "y", SH(cases[i].a, cases[i].b)), "axis %lld", (long long) cases[i].axis);
		REQUIRE(run(g, (const void *[]) {iota24}, (void *[]) {y}, &err) == SP_OK);
		CHECK(floats_eq(y, iota24, 24));
		sp_graph_free(g);
	}
	{
		sp_graph   *g = new_graph();
		sp_error	err;
		sp_node    *n;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4)));
		REQUIRE((n = node(g, "Flatten", "x", "y", &err)));
		REQUIRE(sp_node_set_int(g, n, "axis", 4, &err) == SP_OK);
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, "axis 4 is out of range"));
		sp_graph_free(g);
	}
}

SP_TEST(squeeze_unsqueeze_both_forms)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(1, 3, 1, 4)));
	REQUIRE(INTS(g, "ax", -2));
	REQUIRE(node(g, "Squeeze", "x,ax", "a", &err));	/* opset 13: input */
	REQUIRE((n = node(g, "Squeeze", "x", "b", &err)));	/* opset 11: attribute */
	REQUIRE(sp_node_set_ints(g, n, "axes", (int64_t[]) {0}, 1, &err) == SP_OK);
	REQUIRE(node(g, "Squeeze", "x", "c", &err));		/* no axes: all ones */
	REQUIRE(INTS(g, "uax", 0, -1, 2));
	REQUIRE(node(g, "Unsqueeze", "c,uax", "d", &err));	/* [3,4] -> [1,3,1,4,1] */
	REQUIRE((n = node(g, "Unsqueeze", "c", "e", &err)));
	REQUIRE(sp_node_set_ints(g, n, "axes", (int64_t[]) {-1, 1}, 2, &err) == SP_OK);	/* [3,1,4,1] */
	REQUIRE(output(g, "a") && output(g, "b") && output(g, "d") && output(g, "e"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "a", SH(1, 3, 4)));
	CHECK(shape_is(g, "b", SH(3, 1, 4)));
	CHECK(shape_is(g, "c", SH(3, 4)));
	CHECK(shape_is(g, "d", SH(1, 3, 1, 4, 1)));
	CHECK(shape_is(g, "e", SH(3, 1, 4, 1)));
	{
		float		a[12],
					b[12],
					d[12],
					e[12];

		REQUIRE(run(g, (const void *[]) {iota24}, (void *[]) {a, b, d, e}, &err) == SP_OK);
		CHECK(floats_eq(a, iota24, 12) && floats_eq(b, iota24, 12) && floats_eq(d, iota24, 12) &&
			  floats_eq(e, iota24, 12));
	}
	sp_graph_free(g);
}

SP_TEST(squeeze_unsqueeze_errors)
{
	static const struct
	{
		const char *op;
		int64_t		axes[2];
		int			n;
		const char *msg;
	}			cases[] = {
		{"Squeeze", {1}, 1, "dimension 1 has size 3, not 1"},
		{"Squeeze", {4}, 1, "axis 4 is out of range"},
		{"Squeeze", {0, -3}, 2, "given twice"},
		{"Unsqueeze", {4}, 1, "axis 4 is out of range for output rank 4"},
		{"Unsqueeze", {1, 1}, 2, "given twice"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		sp_graph   *g = new_graph();
		sp_error	err;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(1, 3, 1)));
		REQUIRE(ints(g, "ax", cases[i].n, cases[i].axes));
		REQUIRE(node(g, cases[i].op, "x,ax", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, cases[i].msg));
		sp_graph_free(g);
	}
	{
		/* Unsqueeze beyond rank 8 */
		sp_graph   *g = new_graph();
		sp_error	err;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(1, 1, 1, 1, 1, 1, 1)));
		REQUIRE(INTS(g, "ax", 0, 1));
		REQUIRE(node(g, "Unsqueeze", "x,ax", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_UNSUPPORTED, "rank 9"));
		sp_graph_free(g);
	}
}

/* ---------------------------------------------------------------------- */
/* Transpose. */

/* y[o] = x[perm-mapped o], the slow and obvious way. */
static void
naive_transpose(const void *x, const sp_shape *xs, const int *perm, size_t es, void *y)
{
	int			r = xs->rank;
	int64_t		ys[SP_MAX_RANK],
				istr[SP_MAX_RANK],
				n = sp_shape_numel(xs),
				s = 1;

	for (int d = r - 1; d >= 0; d--)
	{
		istr[d] = s;
		s *= xs->dim[d];
	}
	for (int k = 0; k < r; k++)
		ys[k] = xs->dim[perm[k]];
	for (int64_t o = 0; o < n; o++)
	{
		int64_t		rem = o,
					src = 0;

		for (int k = r - 1; k >= 0; k--)
		{
			src += (rem % ys[k]) * istr[perm[k]];
			rem /= ys[k];
		}
		memcpy((char *) y + o * (int64_t) es, (const char *) x + src * (int64_t) es, es);
	}
}

/* Transpose x of shape xs and dtype dt by perm through the executor; compare with the naive one. */
static bool
transpose_matches(sp_dtype dt, sp_shape xs, const int *perm)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	int64_t		p64[SP_MAX_RANK],
				count = sp_shape_numel(&xs);
	size_t		es = sp_dtype_size(dt);
	unsigned char *x = malloc((size_t) count * es + 1),
			   *y = malloc((size_t) count * es + 1),
			   *ref = malloc((size_t) count * es + 1);
	bool		ok = false;

	if (!g || !x || !y || !ref)
		goto done;
	for (int d = 0; d < xs.rank; d++)
		p64[d] = perm[d];
	for (int64_t i = 0; i < count; i++)
	{
		if (dt == SP_DT_FLOAT)
			((float *) x)[i] = (float) i;
		else if (dt == SP_DT_INT64)
			((int64_t *) x)[i] = i * 1000003;
		else
			x[i] = (unsigned char) (i % 3 == 0);
	}
	if (!input(g, "x", dt, xs) || !(n = node(g, "Transpose", "x", "y", &err)) ||
		sp_node_set_ints(g, n, "perm", p64, xs.rank, &err) != SP_OK || !output(g, "y") ||
		sp_graph_prepare(g, NULL, &err) != SP_OK ||
		run(g, (const void *[]) {x}, (void *[]) {y}, &err) != SP_OK)
		goto done;
	naive_transpose(x, &xs, perm, es, ref);
	ok = memcmp(y, ref, (size_t) count * es) == 0;
done:
	if (!ok)
	{
		char		buf[96];

		sp_shape_format(&xs, buf, sizeof buf);
		fprintf(stderr, "  transpose of %s %s failed\n", sp_dtype_name(dt), buf);
	}
	free(x);
	free(y);
	free(ref);
	sp_graph_free(g);
	return ok;
}

#define PERM(...) ((const int[]) {__VA_ARGS__})

SP_TEST(transpose_model_shapes_match_naive)
{
	/* ViT head split and merge, ConvNeXt's NHWC <-> NCHW, attention's K^T */
	CHECK(transpose_matches(SP_DT_FLOAT, SH(1, 197, 12, 64), PERM(0, 2, 1, 3)));
	CHECK(transpose_matches(SP_DT_FLOAT, SH(1, 12, 197, 64), PERM(0, 2, 1, 3)));
	CHECK(transpose_matches(SP_DT_FLOAT, SH(1, 56, 56, 96), PERM(0, 3, 1, 2)));
	CHECK(transpose_matches(SP_DT_FLOAT, SH(1, 96, 56, 56), PERM(0, 2, 3, 1)));
	CHECK(transpose_matches(SP_DT_FLOAT, SH(1, 12, 197, 64), PERM(0, 1, 3, 2)));
	CHECK(transpose_matches(SP_DT_FLOAT, SH(1, 197, 3, 12, 64), PERM(2, 0, 3, 1, 4)));
	CHECK(transpose_matches(SP_DT_FLOAT, SH(197, 768), PERM(1, 0)));
}

SP_TEST(transpose_odd_shapes_and_dtypes)
{
	/* every permutation of a 3-D and a 4-D tensor with sizes off the tile */
	int			p3[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

	for (int i = 0; i < 6; i++)
	{
		CHECK(transpose_matches(SP_DT_FLOAT, SH(5, 37, 33), p3[i]));
		CHECK(transpose_matches(SP_DT_INT64, SH(3, 1, 70), p3[i]));
		CHECK(transpose_matches(SP_DT_BOOL, SH(33, 4, 65), p3[i]));
	}
	for (int a = 0; a < 4; a++)
		for (int b = 0; b < 4; b++)
			for (int c = 0; c < 4; c++)
			{
				int			d = 6 - a - b - c;

				if (a == b || a == c || b == c || d < 0 || d > 3 || d == a || d == b || d == c)
					continue;
				CHECK(transpose_matches(SP_DT_FLOAT, SH(2, 3, 35, 4), PERM(a, b, c, d)));
			}
	CHECK(transpose_matches(SP_DT_FLOAT, SH(7), PERM(0)));
	CHECK(transpose_matches(SP_DT_FLOAT, SCALAR, PERM(0)));
	CHECK(transpose_matches(SP_DT_FLOAT, SH(2, 1, 3, 1, 2, 1, 2, 3), PERM(7, 6, 5, 4, 3, 2, 1, 0)));
}

SP_TEST(transpose_default_and_errors)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		y[6];

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3)));
	REQUIRE(node(g, "Transpose", "x", "y", &err));
	REQUIRE(output(g, "y"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "y", SH(3, 2)));
	REQUIRE(run(g, (const void *[]) {iota24}, (void *[]) {y}, &err) == SP_OK);
	CHECK(FLOATS_ARE(y, 0, 3, 1, 4, 2, 5));
	sp_graph_free(g);

	for (int i = 0; i < 3; i++)
	{
		static const int64_t bad[3][3] = {{0, 0, 1}, {0, 1, 3}, {1, 0, 0}};

		g = new_graph();
		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(2, 3, 4)));
		REQUIRE((n = node(g, "Transpose", "x", "y", &err)));
		REQUIRE(sp_node_set_ints(g, n, "perm", bad[i], i == 2 ? 2 : 3, &err) == SP_OK);
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, i == 2 ? "perm has 2 entries" : "not a permutation"));
		sp_graph_free(g);
	}
}

/* ---------------------------------------------------------------------- */
/* Concat, Split. */

SP_TEST(concat_axes_and_many_inputs)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		a[6] = {1, 2, 3, 4, 5, 6},
				b[2] = {7, 8},
				y[8];

	REQUIRE(g);
	REQUIRE(input(g, "a", SP_DT_FLOAT, SH(2, 3)));
	REQUIRE(input(g, "b", SP_DT_FLOAT, SH(2, 1)));
	REQUIRE((n = node(g, "Concat", "a,b", "y", &err)));
	REQUIRE(sp_node_set_int(g, n, "axis", -1, &err) == SP_OK);
	REQUIRE(output(g, "y"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "y", SH(2, 4)));
	REQUIRE(run(g, (const void *[]) {a, b}, (void *[]) {y}, &err) == SP_OK);
	CHECK(FLOATS_ARE(y, 1, 2, 3, 7, 4, 5, 6, 8));
	sp_graph_free(g);

	/* DenseNet-style: 60 inputs along the channels, one of them empty */
	{
		char		list[1024] = "",
					name[16];
		const void *ins[60];
		float		data[60][2],
					out[120],
					empty[1];
		int			o = 0;

		g = new_graph();
		REQUIRE(g);
		for (int i = 0; i < 60; i++)
		{
			snprintf(name, sizeof name, "x%d", i);
			REQUIRE(input(g, name, SP_DT_FLOAT, SH(1, i == 7 ? 0 : 2, 1)));
			strcat(list, i ? "," : "");
			strcat(list, name);
			data[i][0] = (float) (2 * i);
			data[i][1] = (float) (2 * i + 1);
			ins[i] = i == 7 ? (const void *) empty : data[i];
		}
		REQUIRE((n = node(g, "Concat", list, "y", &err)));
		REQUIRE(sp_node_set_int(g, n, "axis", 1, &err) == SP_OK);
		REQUIRE(output(g, "y"));
		REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
		CHECK(shape_is(g, "y", SH(1, 118, 1)));
		REQUIRE(run(g, ins, (void *[]) {out}, &err) == SP_OK);
		for (int i = 0; i < 60; i++)
			if (i != 7)
			{
				CHECK(out[o] == (float) (2 * i) && out[o + 1] == (float) (2 * i + 1));
				o += 2;
			}
		sp_graph_free(g);
	}
}

SP_TEST(concat_int64_folds_and_errors)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;

	REQUIRE(g);
	REQUIRE(INTS(g, "a", 1, 2));
	REQUIRE(INTS(g, "b", 3));
	REQUIRE((n = node(g, "Concat", "a,b,a", "y", &err)));
	REQUIRE(sp_node_set_int(g, n, "axis", 0, &err) == SP_OK);
	REQUIRE(output(g, "y"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(INT64S_ARE(val(g, "y")->data, 1, 2, 3, 1, 2));
	sp_graph_free(g);

	for (int i = 0; i < 4; i++)
	{
		static const char *const msgs[] = {
			"shapes [2, 3] and [3, 3] differ outside axis 1", "different element types",
			"needs an integer attribute \"axis\"", "axis 2 is out of range"
		};

		g = new_graph();
		REQUIRE(g);
		REQUIRE(input(g, "a", SP_DT_FLOAT, SH(2, 3)));
		REQUIRE(input(g, "b", i == 1 ? SP_DT_INT64 : SP_DT_FLOAT, SH(i == 0 ? 3 : 2, 3)));
		REQUIRE((n = node(g, "Concat", "a,b", "y", &err)));
		if (i != 2)
			REQUIRE(sp_node_set_int(g, n, "axis", i == 3 ? 2 : 1, &err) == SP_OK);
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, msgs[i]));
		sp_graph_free(g);
	}
}

SP_TEST(split_attribute_input_equal_and_uneven)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		a[2],
				b[4],
				c[2],
				d[6],
				e1[2],
				e2[2],
				e3[2];

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(6)));
	REQUIRE(input(g, "m", SP_DT_FLOAT, SH(2, 4)));
	/* opset 11: split attribute */
	REQUIRE((n = node(g, "Split", "x", "a,b", &err)));
	REQUIRE(sp_node_set_ints(g, n, "split", (int64_t[]) {2, 4}, 2, &err) == SP_OK);
	/* opset 13: split input, negative axis */
	REQUIRE(INTS(g, "sp", 1, 3));
	REQUIRE((n = node(g, "Split", "m,sp", "c,d", &err)));
	REQUIRE(sp_node_set_int(g, n, "axis", -1, &err) == SP_OK);
	/* equal parts */
	REQUIRE(node(g, "Split", "x", "e1,e2,e3", &err));
	REQUIRE(output(g, "a") && output(g, "b") && output(g, "c") && output(g, "d") &&
			output(g, "e1") && output(g, "e2") && output(g, "e3"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "c", SH(2, 1)) && shape_is(g, "d", SH(2, 3)));
	REQUIRE(run(g, (const void *[]) {iota24, iota24}, (void *[]) {a, b, c, d, e1, e2, e3}, &err) == SP_OK);
	CHECK(FLOATS_ARE(a, 0, 1));
	CHECK(FLOATS_ARE(b, 2, 3, 4, 5));
	CHECK(FLOATS_ARE(c, 0, 4));
	CHECK(FLOATS_ARE(d, 1, 2, 3, 5, 6, 7));
	CHECK(FLOATS_ARE(e1, 0, 1) && FLOATS_ARE(e2, 2, 3) && FLOATS_ARE(e3, 4, 5));
	sp_graph_free(g);

	/* opset 18: num_outputs, the last part smaller; and zero-size parts */
	{
		int64_t		seven[7] = {0, 1, 2, 3, 4, 5, 6};

		g = new_graph();
		REQUIRE(g);
		REQUIRE(constant(g, "x", SP_DT_INT64, SH(7), seven));
		REQUIRE((n = node(g, "Split", "x", "p,q,r,s", &err)));
		REQUIRE(sp_node_set_int(g, n, "num_outputs", 4, &err) == SP_OK);
		REQUIRE(INTS(g, "z", 0, 7, 0));
		REQUIRE(node(g, "Split", "x,z", "z1,z2,z3", &err));
		REQUIRE(output(g, "p") && output(g, "s") && output(g, "z1") && output(g, "z2"));
		REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
		CHECK(INT64S_ARE(val(g, "p")->data, 0, 1));
		CHECK(INT64S_ARE(val(g, "r")->data, 4, 5));
		CHECK(INT64S_ARE(val(g, "s")->data, 6));
		CHECK(shape_is(g, "s", SH(1)));
		CHECK(shape_is(g, "z1", SH(0)));
		CHECK(INT64S_ARE(val(g, "z2")->data, 0, 1, 2, 3, 4, 5, 6));
		sp_graph_free(g);
	}
}

SP_TEST(split_errors)
{
	for (int i = 0; i < 4; i++)
	{
		static const char *const msgs[] = {
			"split sums to 5 but dimension 0 has size 6", "split has 3 entries for 2 outputs",
			"does not split into 4 equal parts", "axis 1 is out of range"
		};
		sp_graph   *g = new_graph();
		sp_error	err;
		sp_node    *n;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(6)));
		if (i < 2)
		{
			REQUIRE(i == 0 ? INTS(g, "s", 2, 3) : INTS(g, "s", 2, 2, 2));
			REQUIRE((n = node(g, "Split", "x,s", "a,b", &err)));
		}
		else
			REQUIRE((n = node(g, "Split", "x", "a,b,c,d", &err)));
		if (i == 3)
			REQUIRE(sp_node_set_int(g, n, "axis", 1, &err) == SP_OK);
		REQUIRE(output(g, "a"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, msgs[i]));
		sp_graph_free(g);
	}
}

/* ---------------------------------------------------------------------- */
/* Slice. */

/* Slice x = 0..9 with one axis of starts/ends/steps; checks the result. */
static bool
slice1(int64_t start, int64_t end, int64_t step, int n, const float *want)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	float		y[16];
	bool		ok;

	if (!g || !input(g, "x", SP_DT_FLOAT, SH(10)) || !INTS(g, "s", start) || !INTS(g, "e", end) ||
		!INTS(g, "a", 0) || !INTS(g, "st", step) || !node(g, "Slice", "x,s,e,a,st", "y", &err) ||
		!output(g, "y") || sp_graph_prepare(g, NULL, &err) != SP_OK)
	{
		sp_graph_free(g);
		return false;
	}
	ok = shape_is(g, "y", SH(n)) && run(g, (const void *[]) {iota24}, (void *[]) {y}, &err) == SP_OK &&
		floats_eq(y, want, n);
	if (!ok)
		fprintf(stderr, "  slice %lld:%lld:%lld failed\n", (long long) start, (long long) end, (long long) step);
	sp_graph_free(g);
	return ok;
}

SP_TEST(slice_steps_and_clamping)
{
	CHECK(slice1(-1, INT64_MIN, -1, 10, (float[]) {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
	CHECK(slice1(8, 1, -3, 3, (float[]) {8, 5, 2}));
	CHECK(slice1(2, INT64_MAX, 3, 3, (float[]) {2, 5, 8}));
	CHECK(slice1(-100, 3, 1, 3, (float[]) {0, 1, 2}));
	CHECK(slice1(100, -100, -4, 3, (float[]) {9, 5, 1}));
	CHECK(slice1(20, 30, 1, 0, NULL));
	CHECK(slice1(3, 3, 1, 0, NULL));
	CHECK(slice1(-1, INT64_MIN, INT64_MIN, 1, (float[]) {9}));
	CHECK(slice1(0, INT64_MAX, INT64_MAX, 1, (float[]) {0}));
	CHECK(slice1(-3, -1, 1, 2, (float[]) {7, 8}));
}

SP_TEST(slice_axes_defaults_and_attribute_form)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		a[2],
				b[4],
				c[9];

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(3, 4)));	/* 0..11 */
	/* negative axes in a custom order: rows 2, columns 1..2 */
	REQUIRE(INTS(g, "s", 1, 2) && INTS(g, "e", 3, 3) && INTS(g, "ax", -1, 0));
	REQUIRE(node(g, "Slice", "x,s,e,ax", "a", &err));
	/* default axes and steps (omitted inputs): row 0, columns 2 to the clamped end */
	REQUIRE(INTS(g, "s2", 0, 2) && INTS(g, "e2", 1, 100));
	REQUIRE(node(g, "Slice", "x,s2,e2,,", "b", &err));
	/* opset 1-9: attributes */
	REQUIRE((n = node(g, "Slice", "x", "c", &err)));
	REQUIRE(sp_node_set_ints(g, n, "starts", (int64_t[]) {0}, 1, &err) == SP_OK);
	REQUIRE(sp_node_set_ints(g, n, "ends", (int64_t[]) {-1}, 1, &err) == SP_OK);
	REQUIRE(sp_node_set_ints(g, n, "axes", (int64_t[]) {1}, 1, &err) == SP_OK);
	REQUIRE(output(g, "a") && output(g, "b") && output(g, "c"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "a", SH(1, 2)));
	CHECK(shape_is(g, "b", SH(1, 2)));
	CHECK(shape_is(g, "c", SH(3, 3)));
	REQUIRE(run(g, (const void *[]) {iota24}, (void *[]) {a, b, c}, &err) == SP_OK);
	CHECK(FLOATS_ARE(a, 9, 10));
	CHECK(FLOATS_ARE(b, 2, 3));
	CHECK(FLOATS_ARE(c, 0, 1, 2, 4, 5, 6, 8, 9, 10));
	sp_graph_free(g);

	/* 2-D reversal with negative steps on both axes, bool data, folded */
	{
		uint8_t		m[6] = {1, 0, 0, 1, 1, 0};

		g = new_graph();
		REQUIRE(g);
		REQUIRE(constant(g, "m", SP_DT_BOOL, SH(2, 3), m));
		REQUIRE(INTS(g, "s", -1, -1) && INTS(g, "e", INT64_MIN, INT64_MIN) && INTS(g, "ax", 0, 1) &&
				INTS(g, "st", -1, -1));
		REQUIRE(node(g, "Slice", "m,s,e,ax,st", "r", &err));
		REQUIRE(output(g, "r"));
		REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
		CHECK(memcmp(val(g, "r")->data, (uint8_t[]) {0, 1, 1, 0, 0, 1}, 6) == 0);
		sp_graph_free(g);
	}
}

SP_TEST(slice_errors)
{
	for (int i = 0; i < 5; i++)
	{
		static const char *const msgs[] = {
			"step of axis 0 is 0", "axis -2 is given twice", "axis 2 is out of range",
			"different lengths", "must be a constant"
		};
		sp_graph   *g = new_graph();
		sp_error	err;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(3, 4)));
		REQUIRE(INTS(g, "s", 0, 0) && INTS(g, "e", 2, 2));
		REQUIRE(i == 0 ? INTS(g, "ax", 0, 1) : i == 1 ? INTS(g, "ax", 0, -2) : i == 2 ? INTS(g, "ax", 2, 0) :
				INTS(g, "ax", 0));
		REQUIRE(i == 0 ? INTS(g, "st", 0, 1) : INTS(g, "st", 1, 1));
		if (i == 4)
			REQUIRE(input(g, "dyn", SP_DT_INT64, SH(2)));
		REQUIRE(node(g, "Slice", i == 4 ? "x,dyn,e" : "x,s,e,ax,st", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, i == 4 ? SP_ERR_UNSUPPORTED : SP_ERR_CORRUPT, msgs[i]));
		sp_graph_free(g);
	}
}

/* ---------------------------------------------------------------------- */
/* Gather. */

SP_TEST(gather_scalar_negative_and_2d_indices)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		d[6] = {1, 2, 3, 4, 5, 6},
				a[2],
				b[9];
	int64_t		one = 1,
				idx[3] = {1, 0, 1},
				dyn[2] = {-1, 0};

	REQUIRE(g);
	REQUIRE(input(g, "d", SP_DT_FLOAT, SH(3, 2)));
	REQUIRE(constant(g, "one", SP_DT_INT64, SCALAR, &one));
	REQUIRE(constant(g, "idx", SP_DT_INT64, SH(1, 3), idx));
	REQUIRE(input(g, "dyn", SP_DT_INT64, SH(2)));
	REQUIRE(node(g, "Gather", "d,one", "a", &err));	/* row 1: the axis goes away */
	REQUIRE((n = node(g, "Gather", "d,idx", "b", &err)));
	REQUIRE(sp_node_set_int(g, n, "axis", -1, &err) == SP_OK);
	REQUIRE((n = node(g, "Gather", "d,dyn", "c0", &err)));	/* runtime indices */
	REQUIRE(sp_node_set_int(g, n, "axis", 1, &err) == SP_OK);
	REQUIRE(output(g, "a") && output(g, "b") && output(g, "c0"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "a", SH(2)));
	CHECK(shape_is(g, "b", SH(3, 1, 3)));
	CHECK(shape_is(g, "c0", SH(3, 2)));
	{
		float		c0[6];

		REQUIRE(run(g, (const void *[]) {d, dyn}, (void *[]) {a, b, c0}, &err) == SP_OK);
		CHECK(FLOATS_ARE(a, 3, 4));
		CHECK(FLOATS_ARE(b, 2, 1, 2, 4, 3, 4, 6, 5, 6));
		CHECK(FLOATS_ARE(c0, 2, 1, 4, 3, 6, 5));
		/* an index out of range at run time is an error, not a stray read */
		dyn[0] = 2;
		CHECK(run(g, (const void *[]) {d, dyn}, (void *[]) {a, b, c0}, &err) == SP_ERR_INVALID_ARG);
		CHECK(strstr(err.message, "index 2 is out of range for axis 1 of size 2") != NULL);
		dyn[0] = -3;
		CHECK(run(g, (const void *[]) {d, dyn}, (void *[]) {a, b, c0}, &err) == SP_ERR_INVALID_ARG);
	}
	sp_graph_free(g);

	/* a constant index out of range fails at prepare */
	{
		int64_t		bad = -4;

		g = new_graph();
		REQUIRE(g);
		REQUIRE(input(g, "d", SP_DT_FLOAT, SH(3, 2)));
		REQUIRE(constant(g, "bad", SP_DT_INT64, SCALAR, &bad));
		REQUIRE(node(g, "Gather", "d,bad", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, "index -4 is out of range for axis 0 of size 3"));
		sp_graph_free(g);
	}
	/* float indices */
	{
		g = new_graph();
		REQUIRE(g);
		REQUIRE(input(g, "d", SP_DT_FLOAT, SH(3, 2)));
		REQUIRE(input(g, "i", SP_DT_FLOAT, SH(1)));
		REQUIRE(node(g, "Gather", "d,i", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_UNSUPPORTED, "element type float32"));
		sp_graph_free(g);
	}
}

/* ---------------------------------------------------------------------- */
/* Pad. */

/* Pad m = [[1,2,3],[4,5,6]] (runtime input) by pads in mode; compare. */
static bool
pad_case(const char *mode, const int64_t *pads, const float *cval, sp_shape want_shape, const float *want)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		m[6] = {1, 2, 3, 4, 5, 6},
				y[64];
	bool		ok = false;

	if (!g || !input(g, "m", SP_DT_FLOAT, SH(2, 3)) || !ints(g, "p", 4, pads) ||
		(cval && !constant(g, "cv", SP_DT_FLOAT, SCALAR, cval)) ||
		!(n = node(g, "Pad", cval ? "m,p,cv" : "m,p", "y", &err)) ||
		sp_node_set_string(g, n, "mode", mode, &err) != SP_OK || !output(g, "y") ||
		sp_graph_prepare(g, NULL, &err) != SP_OK)
		goto done;
	if (!shape_is(g, "y", want_shape) || run(g, (const void *[]) {m}, (void *[]) {y}, &err) != SP_OK)
		goto done;
	ok = floats_eq(y, want, (int) sp_shape_numel(&want_shape));
done:
	if (!ok)
		fprintf(stderr, "  pad %s [%lld %lld %lld %lld] failed\n", mode, (long long) pads[0],
				(long long) pads[1], (long long) pads[2], (long long) pads[3]);
	sp_graph_free(g);
	return ok;
}

SP_TEST(pad_modes)
{
	CHECK(pad_case("reflect", (int64_t[]) {0, 2, 0, 1}, NULL, SH(2, 6),
				   (float[]) {3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}));
	CHECK(pad_case("reflect", (int64_t[]) {1, 0, 1, 0}, NULL, SH(4, 3),
				   (float[]) {4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3}));
	/* a reflection longer than the axis keeps bouncing, like numpy */
	CHECK(pad_case("reflect", (int64_t[]) {0, 5, 0, 0}, NULL, SH(2, 8),
				   (float[]) {2, 1, 2, 3, 2, 1, 2, 3, 5, 4, 5, 6, 5, 4, 5, 6}));
	CHECK(pad_case("edge", (int64_t[]) {1, 1, 1, 1}, NULL, SH(4, 5),
				   (float[]) {1, 1, 2, 3, 3, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 4, 4, 5, 6, 6}));
	/* negative pads crop */
	CHECK(pad_case("constant", (int64_t[]) {1, -1, 0, 1}, (float[]) {9}, SH(3, 3),
				   (float[]) {9, 9, 9, 2, 3, 9, 5, 6, 9}));
	CHECK(pad_case("edge", (int64_t[]) {0, -2, -1, 2}, NULL, SH(1, 3), (float[]) {3, 3, 3}));
	CHECK(pad_case("constant", (int64_t[]) {0, 0, 0, 0}, NULL, SH(2, 3), (float[]) {1, 2, 3, 4, 5, 6}));
}

SP_TEST(pad_axes_attribute_form_and_int64)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	float		m[6] = {1, 2, 3, 4, 5, 6},
				a[8],
				b[8];
	int64_t		im[3] = {10, 20, 30},
				seven = 7;

	REQUIRE(g);
	REQUIRE(input(g, "m", SP_DT_FLOAT, SH(2, 3)));
	/* opset 18: axes input (negative) */
	REQUIRE(INTS(g, "p", 1, 0) && INTS(g, "ax", -1));
	REQUIRE(node(g, "Pad", "m,p,,ax", "a", &err));
	/* opset 2-10: pads and value attributes */
	REQUIRE((n = node(g, "Pad", "m", "b", &err)));
	REQUIRE(sp_node_set_ints(g, n, "pads", (int64_t[]) {0, 0, 0, 1}, 4, &err) == SP_OK);
	REQUIRE(sp_node_set_float(g, n, "value", 7.5f, &err) == SP_OK);
	/* int64 data with an int64 constant, folded */
	REQUIRE(constant(g, "im", SP_DT_INT64, SH(3), im));
	REQUIRE(constant(g, "seven", SP_DT_INT64, SH(1), &seven));
	REQUIRE(INTS(g, "p2", 2, 1));
	REQUIRE(node(g, "Pad", "im,p2,seven", "c", &err));
	REQUIRE(output(g, "a") && output(g, "b") && output(g, "c"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "a", SH(2, 4)));
	CHECK(shape_is(g, "b", SH(2, 4)));
	CHECK(INT64S_ARE(val(g, "c")->data, 7, 7, 10, 20, 30, 7));
	REQUIRE(run(g, (const void *[]) {m}, (void *[]) {a, b, (int64_t[6]) {0}}, &err) == SP_OK);
	CHECK(FLOATS_ARE(a, 0, 1, 2, 3, 0, 4, 5, 6));
	CHECK(FLOATS_ARE(b, 1, 2, 3, 7.5f, 4, 5, 6, 7.5f));
	sp_graph_free(g);
}

SP_TEST(pad_errors)
{
	for (int i = 0; i < 5; i++)
	{
		static const char *const msgs[] = {
			"mode \"wrap\" is not supported", "pads crop dimension 1 of size 3 below 0",
			"pads has 2 values for 2 axes", "cannot pad the empty dimension 0", "pads of axis 0 are too large"
		};
		sp_graph   *g = new_graph();
		sp_error	err;
		sp_node    *n;

		REQUIRE(g);
		REQUIRE(input(g, "m", SP_DT_FLOAT, SH(i == 3 ? 0 : 2, 3)));
		if (i == 2)
			REQUIRE(INTS(g, "p", 1, 1));
		else if (i == 4)
			REQUIRE(INTS(g, "p", INT64_MAX, 0, 0, 0));
		else
			REQUIRE(INTS(g, "p", 1, i == 1 ? -2 : 0, 0, i == 1 ? -2 : 0));
		REQUIRE((n = node(g, "Pad", "m,p", "y", &err)));
		if (i == 0)
			REQUIRE(sp_node_set_string(g, n, "mode", "wrap", &err) == SP_OK);
		if (i == 3)
			REQUIRE(sp_node_set_string(g, n, "mode", "reflect", &err) == SP_OK);
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, i == 0 ? SP_ERR_UNSUPPORTED : i == 4 ? SP_ERR_LIMIT : SP_ERR_CORRUPT, msgs[i]));
		sp_graph_free(g);
	}
}

/* ---------------------------------------------------------------------- */
/* Constant, ConstantOfShape, Range, Expand, Tile, Not. */

SP_TEST(constant_attribute_kinds)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	int			tid;
	float		t[4] = {1.5f, -2, 3, 4};

	REQUIRE(g);
	REQUIRE(constant(g, "\001tensor", SP_DT_FLOAT, SH(2, 2), t));
	tid = sp_graph_find(g, "\001tensor");
	REQUIRE((n = node(g, "Constant", "", "a", &err)));
	REQUIRE(sp_node_set_tensor(g, n, "value", tid, &err) == SP_OK);
	REQUIRE((n = node(g, "Constant", "", "d", &err)));
	REQUIRE(sp_node_set_ints(g, n, "value_ints", (int64_t[]) {3, 1, 2}, 3, &err) == SP_OK);
	REQUIRE(node(g, "Reshape", "a,d", "r", &err));
	REQUIRE(output(g, "r"));
	/* the Constants make the Reshape's shape known at prepare: 2x2 does not fit 3x1x2 */
	CHECK(prepare_fails(g, SP_ERR_CORRUPT, "Reshape node \"r\": cannot reshape [2, 2]"));
	sp_graph_free(g);

	g = new_graph();
	REQUIRE(g);
	REQUIRE(constant(g, "\001tensor", SP_DT_FLOAT, SH(2, 2), t));
	tid = sp_graph_find(g, "\001tensor");
	REQUIRE((n = node(g, "Constant", "", "a", &err)));
	REQUIRE(sp_node_set_tensor(g, n, "value", tid, &err) == SP_OK);
	REQUIRE((n = node(g, "Constant", "", "b", &err)));
	REQUIRE(sp_node_set_floats(g, n, "value_floats", (float[]) {0.25f, 0.5f}, 2, &err) == SP_OK);
	REQUIRE((n = node(g, "Constant", "", "c", &err)));
	REQUIRE(sp_node_set_int(g, n, "value_int", -7, &err) == SP_OK);
	REQUIRE((n = node(g, "Constant", "", "d", &err)));
	REQUIRE(sp_node_set_ints(g, n, "value_ints", (int64_t[]) {4, 1}, 2, &err) == SP_OK);
	REQUIRE((n = node(g, "Constant", "", "e", &err)));
	REQUIRE(sp_node_set_float(g, n, "value_float", 2.5f, &err) == SP_OK);
	REQUIRE(node(g, "Reshape", "a,d", "r", &err));
	REQUIRE(output(g, "b") && output(g, "c") && output(g, "e") && output(g, "r"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK_EQ_INT(g->n_order, 0);
	CHECK(shape_is(g, "a", SH(2, 2)) && shape_is(g, "b", SH(2)) && shape_is(g, "c", SCALAR) &&
		  shape_is(g, "e", SCALAR) && shape_is(g, "r", SH(4, 1)));
	CHECK(FLOATS_ARE(val(g, "r")->data, 1.5f, -2, 3, 4));
	CHECK(FLOATS_ARE(val(g, "b")->data, 0.25f, 0.5f));
	CHECK(val(g, "c")->dtype == SP_DT_INT64 && *(int64_t *) val(g, "c")->data == -7);
	CHECK(val(g, "e")->dtype == SP_DT_FLOAT && *(float *) val(g, "e")->data == 2.5f);
	sp_graph_free(g);

	/* no value, two values */
	for (int i = 0; i < 2; i++)
	{
		g = new_graph();
		REQUIRE(g);
		REQUIRE((n = node(g, "Constant", "", "a", &err)));
		if (i == 1)
		{
			REQUIRE(sp_node_set_int(g, n, "value_int", 1, &err) == SP_OK);
			REQUIRE(sp_node_set_float(g, n, "value_float", 1, &err) == SP_OK);
		}
		REQUIRE(output(g, "a"));
		CHECK(prepare_fails(g, SP_ERR_CORRUPT, i ? "has 2" : "has 0"));
		sp_graph_free(g);
	}
}

SP_TEST(constant_of_shape_expand_range_tile)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	sp_node    *n;
	int			tid;
	int64_t		five = 5;
	float		x[3] = {1, 2, 3},
				ex[12],
				ti[12];

	REQUIRE(g);
	REQUIRE(input(g, "x", SP_DT_FLOAT, SH(3, 1)));
	REQUIRE(INTS(g, "shp", 2, 3));
	REQUIRE(node(g, "ConstantOfShape", "shp", "z", &err));	/* float zeros */
	REQUIRE(constant(g, "\001five", SP_DT_INT64, SH(1), &five));
	tid = sp_graph_find(g, "\001five");
	REQUIRE((n = node(g, "ConstantOfShape", "shp", "f", &err)));
	REQUIRE(sp_node_set_tensor(g, n, "value", tid, &err) == SP_OK);
	/* Expand is bidirectional: [3,1] by [2,1,2] gives [2,3,2] */
	REQUIRE(INTS(g, "eshp", 2, 1, 2));
	REQUIRE(node(g, "Expand", "x,eshp", "ex", &err));
	REQUIRE(INTS(g, "reps", 2, 2));
	REQUIRE(node(g, "Tile", "x,reps", "ti", &err));
	REQUIRE(output(g, "z") && output(g, "f") && output(g, "ex") && output(g, "ti"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	CHECK(shape_is(g, "z", SH(2, 3)) && val(g, "z")->dtype == SP_DT_FLOAT);
	CHECK(FLOATS_ARE(val(g, "z")->data, 0, 0, 0, 0, 0, 0));
	CHECK(val(g, "f")->dtype == SP_DT_INT64 && INT64S_ARE(val(g, "f")->data, 5, 5, 5, 5, 5, 5));
	CHECK(shape_is(g, "ex", SH(2, 3, 2)));
	CHECK(shape_is(g, "ti", SH(6, 2)));
	REQUIRE(run(g, (const void *[]) {x}, (void *[]) {(float[6]) {0}, (int64_t[6]) {0}, ex, ti}, &err) == SP_OK);
	CHECK(FLOATS_ARE(ex, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3));
	CHECK(FLOATS_ARE(ti, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3));
	sp_graph_free(g);

	/* Range: float and int64 (negative delta), folded */
	{
		float		fs = 1,
					fl = 2,
					fd = 0.25f;
		int64_t		is = 10,
					il = 2,
					id = -3;

		g = new_graph();
		REQUIRE(g);
		REQUIRE(constant(g, "fs", SP_DT_FLOAT, SCALAR, &fs));
		REQUIRE(constant(g, "fl", SP_DT_FLOAT, SCALAR, &fl));
		REQUIRE(constant(g, "fd", SP_DT_FLOAT, SCALAR, &fd));
		REQUIRE(constant(g, "is", SP_DT_INT64, SCALAR, &is));
		REQUIRE(constant(g, "il", SP_DT_INT64, SCALAR, &il));
		REQUIRE(constant(g, "id", SP_DT_INT64, SCALAR, &id));
		REQUIRE(node(g, "Range", "fs,fl,fd", "rf", &err));
		REQUIRE(node(g, "Range", "is,il,id", "ri", &err));
		REQUIRE(node(g, "Range", "il,is,id", "re", &err));	/* empty */
		REQUIRE(output(g, "rf") && output(g, "ri") && output(g, "re"));
		REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
		CHECK(FLOATS_ARE(val(g, "rf")->data, 1, 1.25f, 1.5f, 1.75f));
		CHECK(shape_is(g, "ri", SH(3)) && INT64S_ARE(val(g, "ri")->data, 10, 7, 4));
		CHECK(shape_is(g, "re", SH(0)));
		sp_graph_free(g);
	}
}

SP_TEST(expand_tile_range_errors)
{
	for (int i = 0; i < 6; i++)
	{
		static const char *const msgs[] = {
			"cannot expand [3, 1] to [2, 2]", "dimension 0 of the shape is negative",
			"repeats has 1 values", "repeat 1 is negative", "delta is 0", "must be a constant"
		};
		sp_graph   *g = new_graph();
		sp_error	err;
		int64_t		zero = 0,
					one = 1;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(3, 1)));
		switch (i)
		{
			case 0:
				REQUIRE(INTS(g, "s", 2, 2));
				REQUIRE(node(g, "Expand", "x,s", "y", &err));
				break;
			case 1:
				REQUIRE(INTS(g, "s", -1, 1));
				REQUIRE(node(g, "Expand", "x,s", "y", &err));
				break;
			case 2:
				REQUIRE(INTS(g, "s", 2));
				REQUIRE(node(g, "Tile", "x,s", "y", &err));
				break;
			case 3:
				REQUIRE(INTS(g, "s", 2, -1));
				REQUIRE(node(g, "Tile", "x,s", "y", &err));
				break;
			case 4:
				REQUIRE(constant(g, "a", SP_DT_INT64, SCALAR, &one));
				REQUIRE(constant(g, "z", SP_DT_INT64, SCALAR, &zero));
				REQUIRE(node(g, "Range", "a,a,z", "y", &err));
				break;
			case 5:
				REQUIRE(constant(g, "a", SP_DT_INT64, SCALAR, &one));
				REQUIRE(input(g, "b", SP_DT_INT64, SCALAR));
				REQUIRE(node(g, "Range", "a,b,a", "y", &err));
				break;
		}
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, i == 5 ? SP_ERR_UNSUPPORTED : SP_ERR_CORRUPT, msgs[i]));
		sp_graph_free(g);
	}
	{
		/* a Tile whose output would be too large is refused before any allocation */
		sp_graph   *g = new_graph();
		sp_error	err;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(3, 1)));
		REQUIRE(INTS(g, "s", INT64_MAX, 2));
		REQUIRE(node(g, "Tile", "x,s", "y", &err));
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_LIMIT, "more than"));
		sp_graph_free(g);
	}
}

SP_TEST(not_and_bool_expand)
{
	sp_graph   *g = new_graph();
	sp_error	err;
	uint8_t		b[3] = {1, 0, 1},
				y[3],
				e[6];

	REQUIRE(g);
	REQUIRE(input(g, "b", SP_DT_BOOL, SH(3)));
	REQUIRE(node(g, "Not", "b", "y", &err));
	REQUIRE(INTS(g, "s", 2, 3));
	REQUIRE(node(g, "Expand", "y,s", "e", &err));
	REQUIRE(output(g, "y") && output(g, "e"));
	REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
	REQUIRE(run(g, (const void *[]) {b}, (void *[]) {y, e}, &err) == SP_OK);
	CHECK(y[0] == 0 && y[1] == 1 && y[2] == 0);
	CHECK(memcmp(e, (uint8_t[]) {0, 1, 0, 0, 1, 0}, 6) == 0);
	sp_graph_free(g);

	g = new_graph();
	REQUIRE(g);
	REQUIRE(input(g, "f", SP_DT_FLOAT, SH(3)));
	REQUIRE(node(g, "Not", "f", "y", &err));
	REQUIRE(output(g, "y"));
	CHECK(prepare_fails(g, SP_ERR_UNSUPPORTED, "Not node \"y\""));
	sp_graph_free(g);
}

/* ---------------------------------------------------------------------- */
/* Hostile shapes: empty tensors with enormous other dimensions. */

SP_TEST(empty_tensors_with_huge_dims_are_bounded)
{
	const int64_t big = (int64_t) 1 << 40;
	float		dummy[4] = {0};

	/* errors: arithmetic that would overflow or exceed the element limit */
	for (int i = 0; i < 4; i++)
	{
		sp_graph   *g = new_graph();
		sp_error	err;
		sp_node    *n = NULL;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, i == 1 ? SH(0, big, big) : i == 2 ? SH(0, INT64_MAX) : SH(0, INT64_MAX / 2 + 1)));
		switch (i)
		{
			case 0:
				REQUIRE((n = node(g, "Concat", "x,x", "y", &err)));
				REQUIRE(sp_node_set_int(g, n, "axis", 1, &err) == SP_OK);
				break;
			case 1:
				REQUIRE(node(g, "Flatten", "x", "y", &err));
				break;
			case 2:
				REQUIRE(INTS(g, "p", 0, 1 << 30, 0, 1 << 30));
				REQUIRE(node(g, "Pad", "x,p", "y", &err));
				break;
			case 3:
				REQUIRE(INTS(g, "r", 1, 4));
				REQUIRE(node(g, "Tile", "x,r", "y", &err));
				break;
		}
		REQUIRE(output(g, "y"));
		CHECK(prepare_fails(g, SP_ERR_LIMIT, "more than"));
		sp_graph_free(g);
	}
	/* fine: empty outputs, run without touching memory */
	{
		sp_graph   *g = new_graph();
		sp_error	err;
		sp_node    *n;
		int64_t		zero = 0;

		REQUIRE(g);
		REQUIRE(input(g, "x", SP_DT_FLOAT, SH(0, big)));
		REQUIRE(INTS(g, "s", INT64_MIN) && INTS(g, "e", INT64_MAX) && INTS(g, "a", 1) && INTS(g, "st", -7));
		REQUIRE(node(g, "Slice", "x,s,e,a,st", "sl", &err));
		REQUIRE(INTS(g, "es", 1, 1));
		REQUIRE(node(g, "Expand", "x,es", "ex", &err));
		REQUIRE(constant(g, "zero", SP_DT_INT64, SCALAR, &zero));
		REQUIRE((n = node(g, "Gather", "x,zero", "ga", &err)));
		REQUIRE(sp_node_set_int(g, n, "axis", 1, &err) == SP_OK);
		REQUIRE((n = node(g, "Transpose", "x", "tr", &err)));
		REQUIRE(output(g, "sl") && output(g, "ex") && output(g, "ga") && output(g, "tr"));
		REQUIRE(sp_graph_prepare(g, NULL, &err) == SP_OK);
		CHECK(shape_is(g, "sl", SH(0, 0)));
		CHECK(shape_is(g, "ex", SH(0, big)));
		CHECK(shape_is(g, "ga", SH(0)));
		CHECK(shape_is(g, "tr", SH(big, 0)));
		REQUIRE(run(g, (const void *[]) {dummy}, (void *[]) {dummy, dummy, dummy, dummy}, &err) == SP_OK);
		sp_graph_free(g);
	}
}

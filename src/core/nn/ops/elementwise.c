/*
 * elementwise.c: ops that compute each output element from the matching
 * input elements: the activations (Relu, LeakyRelu, Clip, Sigmoid,
 * HardSigmoid, HardSwish, Tanh, Erf, Gelu, Softplus, Elu), the float math of
 * decomposed normalisations (Sqrt, Exp, Log, Neg, Abs, Reciprocal), the
 * broadcasting binaries (Add, Sub, Mul, Div, Pow, PRelu, Max, Min, Equal,
 * Less, Greater), Where, pass-throughs (Identity, Dropout) and Cast.
 *
 * Broadcasting follows NumPy (ONNX's multidirectional broadcasting).  The
 * binaries have a fast path for the shapes models produce: equal shapes, a
 * scalar on either side, and a per-channel vector against N x C x H x W.
 * Every formula is written once, as a scalar function the loops call.
 * Relu has a backward (from its output: dx = dy where y > 0).
 */
#include "nn/op.h"
#include "nn/ops/vmath.h"
#include "util/cpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Ops implement fixed signatures; not every op uses every parameter. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* ---------------------------------------------------------------------- */
/* Unary float ops. */

typedef float (*unary_fn) (float x, float a, float b);

static float
f_relu(float x, float a, float b)
{
	return x > 0.0f ? x : 0.0f;
}

static float
f_leaky_relu(float x, float a, float b)
{
	return x >= 0.0f ? x : a * x;
}

static float
f_elu(float x, float a, float b)
{
	return x >= 0.0f ? x : a * (expf(x) - 1.0f);
}

static float
f_clip(float x, float lo, float hi)
{
	/* NaN passes through, like the reference */
	return x < lo ? lo : (x > hi ? hi : x);
}

static float
f_sigmoid(float x, float a, float b)
{
	return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

static float
f_hard_sigmoid(float x, float alpha, float beta)
{
	float		y = alpha * x + beta;

	return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
}

static float
f_hard_swish(float x, float a, float b)
{
	return x * f_hard_sigmoid(x, 1.0f / 6.0f, 0.5f);
}

static float
f_tanh(float x, float a, float b)
{
	return tanhf(x);
}

static float
f_erf(float x, float a, float b)
{
	return erff(x);
}

static float
f_gelu(float x, float a, float b)
{
	return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

static float
f_gelu_tanh(float x, float a, float b)
{
	return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

static float
f_softplus(float x, float a, float b)
{
	return x > 20.0f ? x : log1pf(expf(x));
}

static float
f_sqrt(float x, float a, float b)
{
	return sqrtf(x);
}

static float
f_exp(float x, float a, float b)
{
	return expf(x);
}

static float
f_log(float x, float a, float b)
{
	return logf(x);
}

static float
f_neg(float x, float a, float b)
{
	return -x;
}

static float
f_abs(float x, float a, float b)
{
	return fabsf(x);
}

static float
f_reciprocal(float x, float a, float b)
{
	return 1.0f / x;
}

/* How a unary op's two parameters come from its attributes (or inputs). */
typedef struct unary_kind
{
	const char *name;
	unary_fn	fn;
	const char *attr_a;
	float		dflt_a;
	const char *attr_b;
	float		dflt_b;
} unary_kind;

static const unary_kind unary_kinds[] = {
	{.name = "Relu", .fn = f_relu},
	{.name = "LeakyRelu", .fn = f_leaky_relu, .attr_a = "alpha", .dflt_a = 0.01f},
	{.name = "Elu", .fn = f_elu, .attr_a = "alpha", .dflt_a = 1.0f},
	{.name = "Sigmoid", .fn = f_sigmoid},
	{.name = "HardSigmoid", .fn = f_hard_sigmoid, .attr_a = "alpha", .dflt_a = 0.2f, .attr_b = "beta", .dflt_b = 0.5f},
	{.name = "HardSwish", .fn = f_hard_swish},
	{.name = "Tanh", .fn = f_tanh},
	{.name = "Erf", .fn = f_erf},
	{.name = "Gelu", .fn = f_gelu},
	{.name = "Softplus", .fn = f_softplus},
	{.name = "Sqrt", .fn = f_sqrt},
	{.name = "Exp", .fn = f_exp},
	{.name = "Log", .fn = f_log},
	{.name = "Neg", .fn = f_neg},
	{.name = "Abs", .fn = f_abs},
	{.name = "Reciprocal", .fn = f_reciprocal},
	{.name = "Clip", .fn = f_clip},
	{.name = NULL}
};

static const unary_kind *
unary_of(const sp_node *n)
{
	for (const unary_kind *k = unary_kinds; k->name; k++)
		if (strcmp(k->name, n->op->name) == 0)
			return k;
	return NULL;
}

/* A float parameter given as an optional scalar input (Clip's min/max). */
static sp_status
scalar_input(const sp_graph *g, const sp_node *n, int i, sp_error *err)
{
	const sp_value *in = sp_in(g, n, i);

	if (!in)
		return SP_OK;
	if (in->dtype != SP_DT_FLOAT || sp_shape_numel(&in->shape) != 1)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "input \"%s\" must be a float scalar", in->name);
	return SP_OK;
}

/* Neg and Abs also take int64 (shape arithmetic folded at load). */
static bool
unary_int_ok(const sp_node *n)
{
	return strcmp(n->op->name, "Neg") == 0 || strcmp(n->op->name, "Abs") == 0;
}

static sp_status
unary_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	sp_status	st = sp_check_input(g, n, 0, err, unary_int_ok(n) ? sp_dt_float_int64 : sp_dt_float_only);

	if (st != SP_OK)
		return st;
	if (strcmp(n->op->name, "Clip") == 0)
	{
		if ((st = scalar_input(g, n, 1, err)) != SP_OK ||
			(st = scalar_input(g, n, 2, err)) != SP_OK)
			return st;
	}
	if (strcmp(n->op->name, "Gelu") == 0)
	{
		const char *approx = sp_attr_string(n, "approximate", "none");

		if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
			return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "approximate \"%s\" is not supported", approx);
	}
	sp_out_set(g, n, 0, sp_in(g, n, 0)->dtype, &sp_in(g, n, 0)->shape);
	return SP_OK;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Sigmoid of n floats: EfficientNet's SiLU and squeeze-excitation gates. */
SP_VMATH_T static void
sigmoid_avx2(const float *x, float *y, int64_t n)
{
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, sp_sigmoid_avx2(_mm256_loadu_ps(x + i)));
	for (; i < n; i++)
		y[i] = f_sigmoid(x[i], 0, 0);
}
#endif

/*
 * Relu and its backward split over the graph's team by ranges of elements:
 * forward y = max(x, 0); backward dx += dy where the forward's y > 0.
 */
typedef struct relu_work
{
	const float *x;				/* forward: the input */
	const float *y;				/* backward: the forward's output */
	const float *dy;			/* backward */
	float	   *out;			/* forward: y; backward: dx */
	int64_t		n;
} relu_work;

static void
relu_forward_part(void *ctx, int part, int parts)
{
	const relu_work *rw = ctx;
	const float *restrict x = rw->x;
	float	   *restrict y = rw->out;
	int64_t		lo,
				hi;

	sp_team_range(rw->n, part, parts, &lo, &hi);
	for (int64_t i = lo; i < hi; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void
relu_backward_part(void *ctx, int part, int parts)
{
	const relu_work *rw = ctx;
	const float *restrict y = rw->y,
			   *restrict dy = rw->dy;
	float	   *restrict dx = rw->out;
	int64_t		lo,
				hi;

	sp_team_range(rw->n, part, parts, &lo, &hi);
	for (int64_t i = lo; i < hi; i++)
		dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

static sp_status
unary_forward(const sp_op_run *r)
{
	const unary_kind *k = unary_of(r->n);

	if (sp_in(r->g, r->n, 0)->dtype == SP_DT_INT64)
	{
		const int64_t *xi = r->in[0];
		int64_t    *yi = r->out[0];
		int64_t		cnt = sp_shape_numel(&sp_in(r->g, r->n, 0)->shape);
		bool		neg = k->fn == f_neg;

		for (int64_t i = 0; i < cnt; i++)
		{
			uint64_t	u = (uint64_t) xi[i];

			/* two's complement negation, wrapping like the other int64 ops */
			yi[i] = (neg || xi[i] < 0) ? (int64_t) (0 - u) : xi[i];
		}
		return SP_OK;
	}
	const float *x = r->in[0];
	float	   *y = r->out[0];
	int64_t		numel = sp_shape_numel(&sp_out(r->g, r->n, 0)->shape);
	float		a = k->attr_a ? sp_attr_float(r->n, k->attr_a, k->dflt_a) : k->dflt_a;
	float		b = k->attr_b ? sp_attr_float(r->n, k->attr_b, k->dflt_b) : k->dflt_b;
	unary_fn	fn = k->fn;

	if (fn == f_clip)
	{
		/* opset < 11: attributes; >= 11: optional inputs */
		a = sp_attr_float(r->n, "min", -INFINITY);
		b = sp_attr_float(r->n, "max", INFINITY);
		if (r->n->n_in > 1 && r->in[1])
			a = *(const float *) r->in[1];
		if (r->n->n_in > 2 && r->in[2])
			b = *(const float *) r->in[2];
	}
	if (fn == f_gelu && strcmp(sp_attr_string(r->n, "approximate", "none"), "tanh") == 0)
		fn = f_gelu_tanh;
	if (fn == f_relu)
	{
		relu_work	rw = {.x = x, .out = y, .n = numel};

		sp_op_split(r, numel, relu_forward_part, &rw);
		return SP_OK;
	}
#if defined(__x86_64__) && defined(__GNUC__)
	if (fn == f_sigmoid && sp_cpu_supports(SP_ISA_AVX2))
	{
		sigmoid_avx2(x, y, numel);
		return SP_OK;
	}
#endif
	for (int64_t i = 0; i < numel; i++)
		y[i] = fn(x[i], a, b);
	return SP_OK;
}

#define UNARY_OP(NAME, MAXIN) \
	const sp_op_def sp_op_##NAME = {#NAME, 1, MAXIN, 1, 1, 0, unary_infer, NULL, unary_forward, NULL, NULL, NULL}

static sp_status
relu_backward(const sp_op_run *r)
{
	int64_t		numel = sp_shape_numel(&sp_out(r->g, r->n, 0)->shape);
	const float *y = r->out[0],
			   *dy = r->d_out[0];
	float	   *dx = r->d_in[0];

	if (dy && dx)
	{
		relu_work	rw = {.y = y, .dy = dy, .out = dx, .n = numel};

		sp_op_split(r, numel, relu_backward_part, &rw);
	}
	return SP_OK;
}

const sp_op_def sp_op_Relu = {"Relu", 1, 1, 1, 1, 0, unary_infer, NULL, unary_forward, NULL, NULL, relu_backward};
UNARY_OP(LeakyRelu, 1);
UNARY_OP(Elu, 1);
UNARY_OP(Sigmoid, 1);
UNARY_OP(HardSigmoid, 1);
UNARY_OP(HardSwish, 1);
UNARY_OP(Tanh, 1);
UNARY_OP(Erf, 1);
UNARY_OP(Gelu, 1);
UNARY_OP(Softplus, 1);
UNARY_OP(Sqrt, 1);
UNARY_OP(Exp, 1);
UNARY_OP(Log, 1);
UNARY_OP(Neg, 1);
UNARY_OP(Abs, 1);
UNARY_OP(Reciprocal, 1);
UNARY_OP(Clip, 3);

/* ---------------------------------------------------------------------- */
/* Identity, Dropout (inference: identity; the optional mask is all true). */

static sp_status
identity_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);

	const sp_value *training = sp_in(g, n, 2);

	if (!x)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input 0 is missing");
	/* inference only: training_mode must be absent or a constant false */
	if (training && (!training->data || training->dtype != SP_DT_BOOL || *(const uint8_t *) training->data))
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "training mode is not supported");
	sp_out_set(g, n, 0, x->dtype, &x->shape);
	if (n->n_out > 1)
		sp_out_set(g, n, 1, SP_DT_BOOL, &x->shape);
	return SP_OK;
}

static sp_status
identity_forward(const sp_op_run *r)
{
	const sp_value *y = sp_out(r->g, r->n, 0);
	size_t		bytes = (size_t) sp_shape_numel(&y->shape) * sp_dtype_size(y->dtype);

	if (r->out[0] != r->in[0])
		memmove(r->out[0], r->in[0], bytes);
	if (r->n->n_out > 1)
		memset(r->out[1], 1, (size_t) sp_shape_numel(&y->shape));
	return SP_OK;
}

const sp_op_def sp_op_Identity = {"Identity", 1, 1, 1, 1, 0, identity_infer, NULL, identity_forward, NULL, NULL, NULL};
const sp_op_def sp_op_Dropout = {"Dropout", 1, 3, 1, 2, 0, identity_infer, NULL, identity_forward, NULL, NULL, NULL};

/* ---------------------------------------------------------------------- */
/* Cast between float, int64 and bool. */

static sp_status
cast_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	int64_t		to = sp_attr_int(n, "to", 0);
	sp_status	st = sp_check_input(g, n, 0, err, sp_dt_any);

	if (st != SP_OK)
		return st;
	if (to != SP_DT_FLOAT && to != SP_DT_INT64 && to != SP_DT_BOOL)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "cast to element type %lld is not supported",
						   (long long) to);
	sp_out_set(g, n, 0, (sp_dtype) to, &sp_in(g, n, 0)->shape);
	return SP_OK;
}

static double
load_as_double(const void *p, sp_dtype t, int64_t i)
{
	switch (t)
	{
		case SP_DT_FLOAT:
			return ((const float *) p)[i];
		case SP_DT_INT64:
			return (double) ((const int64_t *) p)[i];
		case SP_DT_BOOL:
			return ((const uint8_t *) p)[i] ? 1.0 : 0.0;
		default:
			return 0.0;
	}
}

static sp_status
cast_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	const sp_value *y = sp_out(r->g, r->n, 0);
	int64_t		numel = sp_shape_numel(&x->shape);

	for (int64_t i = 0; i < numel; i++)
	{
		if (x->dtype == SP_DT_INT64 && y->dtype == SP_DT_INT64)
			((int64_t *) r->out[0])[i] = ((const int64_t *) r->in[0])[i];
		else
		{
			double		v = load_as_double(r->in[0], x->dtype, i);

			if (y->dtype == SP_DT_FLOAT)
				((float *) r->out[0])[i] = (float) v;
			else if (y->dtype == SP_DT_INT64)
				((int64_t *) r->out[0])[i] = isfinite(v) && fabs(v) < 9.2e18 ? (int64_t) v : 0;
			else
				((uint8_t *) r->out[0])[i] = v != 0.0;
		}
	}
	return SP_OK;
}

const sp_op_def sp_op_Cast = {"Cast", 1, 1, 1, 1, 0, cast_infer, NULL, cast_forward, NULL, NULL, NULL};

/* ---------------------------------------------------------------------- */
/* Broadcasting binaries. */

typedef enum bin_kind
{
	B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_PRELU, B_MAX, B_MIN, B_EQUAL, B_LESS, B_GREATER
} bin_kind;

static const struct
{
	const char *name;
	bin_kind	kind;
	bool		compare;		/* bool output */
	bool		int_ok;			/* int64 inputs allowed */
}			bin_kinds[] = {
	{"Add", B_ADD, false, true},
	{"Sub", B_SUB, false, true},
	{"Mul", B_MUL, false, true},
	{"Div", B_DIV, false, true},
	{"Pow", B_POW, false, false},
	{"PRelu", B_PRELU, false, false},
	{"Max", B_MAX, false, true},
	{"Min", B_MIN, false, true},
	{"Equal", B_EQUAL, true, true},
	{"Less", B_LESS, true, true},
	{"Greater", B_GREATER, true, true},
	{NULL, B_ADD, false, false}
};

static int
bin_index(const sp_node *n)
{
	for (int i = 0; bin_kinds[i].name; i++)
		if (strcmp(bin_kinds[i].name, n->op->name) == 0)
			return i;
	return 0;
}

static inline float
bin_f(bin_kind k, float a, float b)
{
	switch (k)
	{
		case B_ADD:
			return a + b;
		case B_SUB:
			return a - b;
		case B_MUL:
			return a * b;
		case B_DIV:
			return a / b;
		case B_POW:
			return b == 2.0f ? a * a : powf(a, b);
		case B_PRELU:
			return a >= 0.0f ? a : a * b;
		case B_MAX:
			return a > b || isnan(a) ? a : b;
		case B_MIN:
			return a < b || isnan(a) ? a : b;
		case B_EQUAL:
			return a == b;
		case B_LESS:
			return a < b;
		case B_GREATER:
			return a > b;
	}
	return 0.0f;
}

static inline int64_t
bin_i(bin_kind k, int64_t a, int64_t b)
{
	switch (k)
	{
		case B_ADD:
			return (int64_t) ((uint64_t) a + (uint64_t) b);
		case B_SUB:
			return (int64_t) ((uint64_t) a - (uint64_t) b);
		case B_MUL:
			return (int64_t) ((uint64_t) a * (uint64_t) b);
		case B_DIV:
			/* ONNX integer division truncates; x / 0 is undefined: give 0 rather than trap */
			return b == 0 || (a == INT64_MIN && b == -1) ? 0 : a / b;
		case B_MAX:
			return a > b ? a : b;
		case B_MIN:
			return a < b ? a : b;
		case B_EQUAL:
			return a == b;
		case B_LESS:
			return a < b;
		case B_GREATER:
			return a > b;
		default:
			return 0;
	}
}

static sp_status
binary_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	int			bi = bin_index(n);
	const sp_value *a = sp_in(g, n, 0),
			   *b = sp_in(g, n, 1);
	sp_shape	out;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, bin_kinds[bi].int_ok ? sp_dt_float_int64 : sp_dt_float_only)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, bin_kinds[bi].int_ok ? sp_dt_float_int64 : sp_dt_float_only)) != SP_OK)
		return st;
	if (a->dtype != b->dtype)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "inputs have different element types (%s, %s)",
						   sp_dtype_name(a->dtype), sp_dtype_name(b->dtype));
	/* opset < 7: "broadcast" + "axis"; only the NumPy-compatible alignment is supported */
	if (sp_attr_int(n, "broadcast", 0) &&
		sp_attr_int(n, "axis", a->shape.rank - b->shape.rank) != a->shape.rank - b->shape.rank)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "legacy broadcasting along axis %lld is not supported",
						   (long long) sp_attr_int(n, "axis", 0));
	if (bin_kinds[bi].kind == B_PRELU)
	{
		/*
		 * PRelu broadcasts slope to X unidirectionally.  Opsets before 9 (and
		 * old exporters) give a per-channel slope as [C]: rewrite a constant
		 * one as [C, 1, ...] so the NumPy rule applies.
		 */
		if (b->shape.rank == 1 && a->shape.rank > 2 && b->shape.dim[0] == a->shape.dim[1] &&
			b->shape.dim[0] != a->shape.dim[a->shape.rank - 1] && b->data)
		{
			char		name[SP_GRAPH_MAX_NAME + 16];
			sp_shape	cs = {a->shape.rank - 1, {0}};
			int			id;

			snprintf(name, sizeof name, "%s\001per_channel", b->name);
			cs.dim[0] = b->shape.dim[0];
			for (int d = 1; d < cs.rank; d++)
				cs.dim[d] = 1;
			if ((id = sp_graph_find(g, name)) < 0)
			{
				if ((id = sp_graph_value(g, name, err)) < 0)
					return err->code;
				b = sp_in(g, n, 1);		/* values may have moved */
				if ((st = sp_graph_set_constant(g, id, SP_DT_FLOAT, &cs, b->data, err)) != SP_OK)
					return st;
			}
			n->in[1] = id;
			a = sp_in(g, n, 0);
			b = sp_in(g, n, 1);
		}
		if (!sp_broadcast_shape(&a->shape, &b->shape, &out) || !sp_shape_equal(&out, &a->shape))
			return sp_op_error(err, SP_ERR_CORRUPT, n, "slope does not broadcast to the input");
	}
	else if (!sp_broadcast_shape(&a->shape, &b->shape, &out))
	{
		char		sa[96],
					sb[96];

		sp_shape_format(&a->shape, sa, sizeof sa);
		sp_shape_format(&b->shape, sb, sizeof sb);
		return sp_op_error(err, SP_ERR_CORRUPT, n, "shapes %s and %s do not broadcast", sa, sb);
	}
	sp_out_set(g, n, 0, bin_kinds[bi].compare ? SP_DT_BOOL : a->dtype, &out);
	return SP_OK;
}

/* Element strides of x broadcast to out (0 along broadcast dimensions). */
static void
bcast_strides(const sp_shape *x, const sp_shape *out, int64_t *strides)
{
	int64_t		s = 1;

	for (int i = out->rank - 1; i >= 0; i--)
	{
		int			ix = x->rank - out->rank + i;

		if (ix >= 0 && x->dim[ix] != 1)
		{
			strides[i] = s;
			s *= x->dim[ix];
		}
		else
		{
			strides[i] = 0;
			if (ix >= 0)
				s *= x->dim[ix];
		}
	}
}

/* The general case: an index counter over out with the two strides. */
static void
binary_general(bin_kind k, sp_dtype t, bool compare, const sp_shape *sa, const void *pa,
			   const sp_shape *sb, const void *pb, const sp_shape *so, void *po)
{
	int64_t		stra[SP_MAX_RANK],
				strb[SP_MAX_RANK],
				idx[SP_MAX_RANK] = {0};
	int64_t		numel = sp_shape_numel(so),
				oa = 0,
				ob = 0;
	int			r = so->rank;

	bcast_strides(sa, so, stra);
	bcast_strides(sb, so, strb);
	for (int64_t i = 0; i < numel; i++)
	{
		if (t == SP_DT_FLOAT)
		{
			float		v = bin_f(k, ((const float *) pa)[oa], ((const float *) pb)[ob]);

			if (compare)
				((uint8_t *) po)[i] = v != 0.0f;
			else
				((float *) po)[i] = v;
		}
		else
		{
			int64_t		v = bin_i(k, ((const int64_t *) pa)[oa], ((const int64_t *) pb)[ob]);

			if (compare)
				((uint8_t *) po)[i] = v != 0;
			else
				((int64_t *) po)[i] = v;
		}
		for (int d = r - 1; d >= 0; d--)
		{
			idx[d]++;
			oa += stra[d];
			ob += strb[d];
			if (idx[d] < so->dim[d])
				break;
			oa -= stra[d] * so->dim[d];
			ob -= strb[d] * so->dim[d];
			idx[d] = 0;
		}
	}
}

#define BIN_LOOP(K) \
	case K: for (int64_t i = 0; i < n; i++) y[i] = bin_f(K, a[i * sa], b[i * sb]); break

#if defined(__x86_64__) && defined(__GNUC__)
/* y = a op b over n floats, a or b possibly one broadcast value (stride 0). */
#define BIN_AVX2(NAME, VOP, SOP) \
SP_VMATH_T static void \
NAME(const float *a, int64_t sa, const float *b, int64_t sb, float *y, int64_t n) \
{ \
	int64_t		i = 0; \
	__m256		va = _mm256_set1_ps(*a), \
				vb = _mm256_set1_ps(*b); \
	for (; i + 8 <= n; i += 8) \
		_mm256_storeu_ps(y + i, VOP(sa ? _mm256_loadu_ps(a + i) : va, sb ? _mm256_loadu_ps(b + i) : vb)); \
	for (; i < n; i++) \
		y[i] = a[i * sa] SOP b[i * sb]; \
}
BIN_AVX2(add_avx2, _mm256_add_ps, +)
BIN_AVX2(sub_avx2, _mm256_sub_ps, -)
BIN_AVX2(mul_avx2, _mm256_mul_ps, *)
BIN_AVX2(div_avx2, _mm256_div_ps, /)
#endif

/*
 * Float, no compare, a and b of numel n each with strides 0 or 1: the
 * common case, on AVX2 for the four arithmetic ops (same IEEE results).
 */
static void
binary_flat(bin_kind k, const float *a, int64_t sa, const float *b, int64_t sb, float *y, int64_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (n >= 8 && k <= B_DIV && sp_cpu_supports(SP_ISA_AVX2))
	{
		static void (*const fns[4]) (const float *, int64_t, const float *, int64_t, float *, int64_t) = {
			add_avx2, sub_avx2, mul_avx2, div_avx2
		};

		fns[k] (a, sa, b, sb, y, n);
		return;
	}
#endif
	switch (k)
	{
			BIN_LOOP(B_ADD);
			BIN_LOOP(B_SUB);
			BIN_LOOP(B_MUL);
			BIN_LOOP(B_DIV);
		default:
			for (int64_t i = 0; i < n; i++)
				y[i] = bin_f(k, a[i * sa], b[i * sb]);
	}
}

/*
 * Does x (broadcast to out) vary along one contiguous block of dimensions
 * only?  Then out is [outer][mid][inner] with x holding the mid values: a
 * scalar (mid 1), a per-channel vector (N x C x H x W against C), a
 * trailing vector (a bias added to rows).
 */
static bool
block_broadcast(const sp_shape *x, const sp_shape *out, int64_t *outer, int64_t *mid, int64_t *inner)
{
	int			r = out->rank,
				lo = -1,
				hi = -1;

	for (int d = 0; d < r; d++)
	{
		int			ix = x->rank - r + d;
		int64_t		xd = ix >= 0 ? x->dim[ix] : 1;

		if (xd == out->dim[d] && xd != 1)
		{
			if (lo < 0)
				lo = d;
			else if (hi >= 0)
				return false;	/* a second block */
		}
		else if (xd == 1)
		{
			if (lo >= 0 && hi < 0)
				hi = d;
		}
		else
			return false;
	}
	if (lo < 0)
		lo = hi = r;			/* a scalar */
	if (hi < 0)
		hi = r;
	*outer = *mid = *inner = 1;
	for (int d = 0; d < r; d++)
		*(d < lo ? outer : d < hi ? mid : inner) *= out->dim[d];
	return true;
}

static sp_status
binary_forward(const sp_op_run *r)
{
	int			bi = bin_index(r->n);
	bin_kind	k = bin_kinds[bi].kind;
	const sp_value *va = sp_in(r->g, r->n, 0),
			   *vb = sp_in(r->g, r->n, 1);
	const sp_value *vo = sp_out(r->g, r->n, 0);
	int64_t		na = sp_shape_numel(&va->shape),
				nb = sp_shape_numel(&vb->shape),
				no = sp_shape_numel(&vo->shape);

	if (va->dtype == SP_DT_FLOAT && !bin_kinds[bi].compare)
	{
		const float *a = r->in[0],
				   *b = r->in[1];
		float	   *y = r->out[0];
		int64_t		outer,
					mid,
					inner;

		if (na == no && nb == no)
		{
			binary_flat(k, a, 1, b, 1, y, no);
			return SP_OK;
		}
		if (na == no && nb == 1)
		{
			binary_flat(k, a, 1, b, 0, y, no);
			return SP_OK;
		}
		if (nb == no && na == 1)
		{
			binary_flat(k, a, 0, b, 1, y, no);
			return SP_OK;
		}
		/* one operand full-size, the other spanning one block of dimensions */
		if (na == no && block_broadcast(&vb->shape, &vo->shape, &outer, &mid, &inner))
		{
			for (int64_t o = 0; o < outer; o++)
				for (int64_t m = 0; m < mid; m++)
				{
					int64_t		at = (o * mid + m) * inner;

					if (inner == 1)
					{
						binary_flat(k, a + o * mid, 1, b, 1, y + o * mid, mid);
						break;
					}
					binary_flat(k, a + at, 1, b + m, 0, y + at, inner);
				}
			return SP_OK;
		}
		if (nb == no && block_broadcast(&va->shape, &vo->shape, &outer, &mid, &inner))
		{
			for (int64_t o = 0; o < outer; o++)
				for (int64_t m = 0; m < mid; m++)
				{
					int64_t		at = (o * mid + m) * inner;

					if (inner == 1)
					{
						binary_flat(k, a, 1, b + o * mid, 1, y + o * mid, mid);
						break;
					}
					binary_flat(k, a + m, 0, b + at, 1, y + at, inner);
				}
			return SP_OK;
		}
	}
	binary_general(k, va->dtype, bin_kinds[bi].compare, &va->shape, r->in[0], &vb->shape, r->in[1],
				   &vo->shape, r->out[0]);
	return SP_OK;
}

static double
binary_flops(const sp_graph *g, const sp_node *n)
{
	return (double) sp_shape_numel(&sp_out(g, n, 0)->shape);
}

/*
 * Add and Sub backward: each input's gradient is the output's (negated for
 * Sub's second input), summed over the dimensions the input was broadcast
 * along.
 */
static sp_status
addsub_backward(const sp_op_run *r)
{
	const sp_value *vo = sp_out(r->g, r->n, 0);
	const float *dy = r->d_out[0];
	int64_t		no = sp_shape_numel(&vo->shape);
	const int	rank = vo->shape.rank;

	if (!dy)
		return SP_OK;
	for (int k = 0; k < 2; k++)
	{
		const sp_value *vx = sp_in(r->g, r->n, k);
		float	   *dx = r->d_in[k];
		const float sign = k == 1 && strcmp(r->n->op->name, "Sub") == 0 ? -1.0f : 1.0f;
		int64_t		xstride[SP_MAX_RANK],
					idx[SP_MAX_RANK],
					step = 1,
					at = 0;

		if (!dx)
			continue;
		if (sp_shape_numel(&vx->shape) == no)
		{
			for (int64_t i = 0; i < no; i++)
				dx[i] += sign * dy[i];
			continue;
		}
		/* the input's stride along each output dimension: 0 where it was broadcast */
		for (int d = rank - 1; d >= 0; d--)
		{
			int			ix = vx->shape.rank - rank + d;
			int64_t		xd = ix >= 0 ? vx->shape.dim[ix] : 1;

			xstride[d] = xd == 1 ? 0 : step;
			step *= xd;
			idx[d] = 0;
		}
		for (int64_t i = 0; i < no; i++)
		{
			dx[at] += sign * dy[i];
			for (int d = rank - 1; d >= 0; d--)
			{
				at += xstride[d];
				if (++idx[d] < vo->shape.dim[d])
					break;
				at -= xstride[d] * vo->shape.dim[d];
				idx[d] = 0;
			}
		}
	}
	return SP_OK;
}

#define BINARY_OP(NAME) \
	const sp_op_def sp_op_##NAME = {#NAME, 2, 2, 1, 1, 0, binary_infer, NULL, binary_forward, NULL, binary_flops, NULL}

const sp_op_def sp_op_Add = {"Add", 2, 2, 1, 1, 0, binary_infer, NULL, binary_forward, NULL, binary_flops,
addsub_backward};
const sp_op_def sp_op_Sub = {"Sub", 2, 2, 1, 1, 0, binary_infer, NULL, binary_forward, NULL, binary_flops,
addsub_backward};
BINARY_OP(Mul);
BINARY_OP(Div);
BINARY_OP(Pow);
BINARY_OP(PRelu);
BINARY_OP(Equal);
BINARY_OP(Less);
BINARY_OP(Greater);

/* ---------------------------------------------------------------------- */
/* Variadic Max, Min, Sum, Mean: one or more inputs, all broadcast together. */

static bin_kind
variadic_kind(const sp_node *n)
{
	const char *op = n->op->name;

	return strcmp(op, "Max") == 0 ? B_MAX : strcmp(op, "Min") == 0 ? B_MIN : B_ADD;
}

static sp_status
variadic_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	bool		float_only = strcmp(n->op->name, "Mean") == 0;
	sp_shape	out;
	sp_status	st;

	for (int i = 0; i < n->n_in; i++)
	{
		const sp_value *v = sp_in(g, n, i);

		if ((st = sp_check_input(g, n, i, err, float_only ? sp_dt_float_only : sp_dt_float_int64)) != SP_OK)
			return st;
		if (v->dtype != sp_in(g, n, 0)->dtype)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "inputs have different element types");
		if (i == 0)
			out = v->shape;
		else if (!sp_broadcast_shape(&out, &v->shape, &out))
			return sp_op_error(err, SP_ERR_CORRUPT, n, "input shapes do not broadcast");
	}
	sp_out_set(g, n, 0, sp_in(g, n, 0)->dtype, &out);
	return SP_OK;
}

static sp_status
variadic_forward(const sp_op_run *r)
{
	const sp_value *vo = sp_out(r->g, r->n, 0);
	const sp_value *v0 = sp_in(r->g, r->n, 0);
	bin_kind	k = variadic_kind(r->n);
	int64_t		numel = sp_shape_numel(&vo->shape);

	/* out = in0 broadcast (Max(x, x) = x), then out = op(out, in_i) in place */
	binary_general(B_MAX, v0->dtype, false, &v0->shape, r->in[0], &v0->shape, r->in[0], &vo->shape, r->out[0]);
	for (int i = 1; i < r->n->n_in; i++)
	{
		const sp_value *vi = sp_in(r->g, r->n, i);

		binary_general(k, vo->dtype, false, &vo->shape, r->out[0], &vi->shape, r->in[i], &vo->shape, r->out[0]);
	}
	if (strcmp(r->n->op->name, "Mean") == 0)
		for (int64_t j = 0; j < numel; j++)
			((float *) r->out[0])[j] /= (float) r->n->n_in;
	return SP_OK;
}

#define VARIADIC_OP(NAME) \
	const sp_op_def sp_op_##NAME = {#NAME, 1, 1024, 1, 1, 0, variadic_infer, NULL, variadic_forward, NULL, NULL, NULL}

VARIADIC_OP(Max);
VARIADIC_OP(Min);
VARIADIC_OP(Sum);
VARIADIC_OP(Mean);

/* ---------------------------------------------------------------------- */
/* Where(cond, x, y): three-way broadcast. */

static sp_status
where_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *c = sp_in(g, n, 0),
			   *x = sp_in(g, n, 1),
			   *y = sp_in(g, n, 2);
	sp_shape	s1,
				s2;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, (const sp_dtype[]) {SP_DT_BOOL, SP_DT_UNDEFINED})) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_float_int64)) != SP_OK ||
		(st = sp_check_input(g, n, 2, err, sp_dt_float_int64)) != SP_OK)
		return st;
	if (x->dtype != y->dtype)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "x and y have different element types");
	if (!sp_broadcast_shape(&c->shape, &x->shape, &s1) || !sp_broadcast_shape(&s1, &y->shape, &s2))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "shapes do not broadcast");
	sp_out_set(g, n, 0, x->dtype, &s2);
	return SP_OK;
}

static sp_status
where_forward(const sp_op_run *r)
{
	const sp_value *vo = sp_out(r->g, r->n, 0);
	int64_t		sc[SP_MAX_RANK],
				sx[SP_MAX_RANK],
				sy[SP_MAX_RANK],
				idx[SP_MAX_RANK] = {0};
	int64_t		numel = sp_shape_numel(&vo->shape),
				oc = 0,
				ox = 0,
				oy = 0;
	size_t		es = sp_dtype_size(vo->dtype);
	int			rank = vo->shape.rank;

	bcast_strides(&sp_in(r->g, r->n, 0)->shape, &vo->shape, sc);
	bcast_strides(&sp_in(r->g, r->n, 1)->shape, &vo->shape, sx);
	bcast_strides(&sp_in(r->g, r->n, 2)->shape, &vo->shape, sy);
	for (int64_t i = 0; i < numel; i++)
	{
		bool		c = ((const uint8_t *) r->in[0])[oc] != 0;

		memcpy((char *) r->out[0] + i * es,
			   c ? (const char *) r->in[1] + ox * es : (const char *) r->in[2] + oy * es, es);
		for (int d = rank - 1; d >= 0; d--)
		{
			idx[d]++;
			oc += sc[d];
			ox += sx[d];
			oy += sy[d];
			if (idx[d] < vo->shape.dim[d])
				break;
			oc -= sc[d] * vo->shape.dim[d];
			ox -= sx[d] * vo->shape.dim[d];
			oy -= sy[d] * vo->shape.dim[d];
			idx[d] = 0;
		}
	}
	return SP_OK;
}

const sp_op_def sp_op_Where = {"Where", 3, 3, 1, 1, 0, where_infer, NULL, where_forward, NULL, NULL, NULL};

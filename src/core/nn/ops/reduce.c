/*
 * reduce.c: the reductions ReduceSum, ReduceMean, ReduceMax, ReduceMin,
 * ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum,
 * ReduceLogSumExp, and ArgMax / ArgMin.
 *
 * Axes come from the "axes" attribute (opsets < 18; ReduceSum < 13) or the
 * second input (opsets >= 18; ReduceSum >= 13), whichever the node has;
 * both forms are accepted at any opset.  Negative axes count from the end;
 * no axes (absent or empty) reduce everything, unless noop_with_empty_axes
 * is 1, when the op is the identity.  keepdims defaults to 1.
 *
 * The input is viewed as alternating runs of kept and reduced dims (adjacent
 * dims of the same kind merged, dims of 1 dropped): each output element then
 * reduces its reduced runs, the innermost one a strided (usually contiguous)
 * loop.  Reducing trailing dims (ReduceMean over H, W: squeeze-excitation)
 * is one contiguous loop per output.  Float sums are accumulated in double;
 * the reduction of an empty set gives the ONNX identity (0, 1, -inf, +inf;
 * the mean NaN); NaN propagates through Max and Min as in numpy.  Int64
 * inputs (shape arithmetic) are accepted by Sum, Mean, Max, Min, Prod, L1
 * and SumSquare, wrapping on overflow.
 */
#include "nn/op.h"

#include <math.h>
#include <string.h>

/* Ops implement fixed signatures; not every op uses every parameter. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

typedef enum red_kind
{
	R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LOGSUMEXP
} red_kind;

static const struct
{
	const char *name;
	red_kind	kind;
	bool		int_ok;			/* int64 input accepted */
}			red_kinds[] = {
	{"ReduceSum", R_SUM, true},
	{"ReduceMean", R_MEAN, true},
	{"ReduceMax", R_MAX, true},
	{"ReduceMin", R_MIN, true},
	{"ReduceProd", R_PROD, true},
	{"ReduceL1", R_L1, true},
	{"ReduceL2", R_L2, false},
	{"ReduceSumSquare", R_SUMSQ, true},
	{"ReduceLogSum", R_LOGSUM, false},
	{"ReduceLogSumExp", R_LOGSUMEXP, false},
	{NULL, R_SUM, false}
};

static int
red_index(const sp_node *n)
{
	for (int i = 0; red_kinds[i].name; i++)
		if (strcmp(red_kinds[i].name, n->op->name) == 0)
			return i;
	return 0;
}

/* A 0/1 INT attribute (absent: dflt). */
static sp_status
attr_bool(const sp_node *n, const char *name, int64_t dflt, bool *v, sp_error *err)
{
	const sp_attr *a = sp_attr_get(n, name);

	*v = dflt != 0;
	if (!a)
		return SP_OK;
	if (a->type != SP_ATTR_INT || (a->i != 0 && a->i != 1))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"%s\" must be 0 or 1", name);
	*v = a->i != 0;
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* The plan of a reduction. */

typedef struct red_plan
{
	bool		noop;			/* empty axes with noop_with_empty_axes: identity */
	sp_shape	out;
	int			nk,
				nr;				/* merged kept / reduced runs */
	int64_t		kdim[SP_MAX_RANK],
				kstr[SP_MAX_RANK];
	int64_t		rdim[SP_MAX_RANK],
				rstr[SP_MAX_RANK];
	int64_t		count;			/* elements reduced into each output */
	int64_t		out_numel;
} red_plan;

/*
 * Build the plan from the node's attributes, axes and input shape.  Errors
 * only at infer (forward re-derives what infer checked).
 */
static sp_status
red_plan_make(const sp_graph *g, const sp_node *n, red_plan *pl, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	const sp_shape *xs = &x->shape;
	int64_t		axes[SP_MAX_RANK],
				stride[SP_MAX_RANK];
	bool		red[SP_MAX_RANK] = {false};
	bool		keepdims,
				noop;
	int			count;
	sp_status	st;

	memset(pl, 0, sizeof(*pl));
	if ((st = attr_bool(n, "keepdims", 1, &keepdims, err)) != SP_OK ||
		(st = attr_bool(n, "noop_with_empty_axes", 0, &noop, err)) != SP_OK)
		return st;
	if (sp_in(g, n, 1) && sp_attr_get(n, "axes"))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axes are given both as an attribute and as an input");
	if (sp_attr_get(n, "axes") && sp_attr_get(n, "axes")->type != SP_ATTR_INTS)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"axes\" must be a list of integers");
	if ((st = sp_const_ints(g, n, 1, "axes", axes, SP_MAX_RANK, &count, err)) != SP_OK)
		return st;
	if (count <= 0 && noop)
	{
		pl->noop = true;
		pl->out = *xs;
		pl->out_numel = sp_shape_numel(xs);
		return SP_OK;
	}
	if (count <= 0)
		for (int d = 0; d < xs->rank; d++)
			red[d] = true;
	for (int i = 0; i < count; i++)
	{
		int			a = sp_axis(axes[i], xs->rank);

		if (a < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %lld is out of range for an input of rank %d",
							   (long long) axes[i], xs->rank);
		if (red[a])
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %lld is given twice", (long long) axes[i]);
		red[a] = true;
	}
	/* output shape */
	pl->out.rank = 0;
	for (int d = 0; d < xs->rank; d++)
		if (!red[d])
			pl->out.dim[pl->out.rank++] = xs->dim[d];
		else if (keepdims)
			pl->out.dim[pl->out.rank++] = 1;
	pl->out_numel = sp_shape_numel(&pl->out);
	/* merged runs: contiguous strides; dims of 1 dropped; neighbours of a kind merged */
	for (int d = xs->rank - 1; d >= 0; d--)
		stride[d] = d == xs->rank - 1 ? 1 : stride[d + 1] * xs->dim[d + 1];
	pl->count = 1;
	for (int d = 0, prev = -1; d < xs->rank; d++)
	{
		int			kind = red[d] ? 1 : 0;

		if (kind)
			pl->count *= xs->dim[d];
		if (xs->dim[d] == 1)
			continue;
		if (kind == prev)
		{
			/* merge into the last run of this kind */
			if (kind)
			{
				pl->rdim[pl->nr - 1] *= xs->dim[d];
				pl->rstr[pl->nr - 1] = stride[d];
			}
			else
			{
				pl->kdim[pl->nk - 1] *= xs->dim[d];
				pl->kstr[pl->nk - 1] = stride[d];
			}
		}
		else if (kind)
		{
			pl->rdim[pl->nr] = xs->dim[d];
			pl->rstr[pl->nr++] = stride[d];
		}
		else
		{
			pl->kdim[pl->nk] = xs->dim[d];
			pl->kstr[pl->nk++] = stride[d];
		}
		prev = kind;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Float reductions. */

typedef enum pass_kind
{
	P_SUM, P_SUMSQ, P_ABS, P_PROD, P_MAX, P_MIN, P_EXPSUM
} pass_kind;

typedef struct acc_f
{
	double		s;				/* sums, product */
	float		m;				/* max, min */
	bool		nan;			/* max, min saw a NaN */
} acc_f;

/* Contiguous sum in double with four independent chains. */
static double
sum_contig(const float *p, int64_t len)
{
	double		s0 = 0.0,
				s1 = 0.0,
				s2 = 0.0,
				s3 = 0.0;
	int64_t		i = 0;

	for (; i + 4 <= len; i += 4)
	{
		s0 += p[i];
		s1 += p[i + 1];
		s2 += p[i + 2];
		s3 += p[i + 3];
	}
	for (; i < len; i++)
		s0 += p[i];
	return (s0 + s1) + (s2 + s3);
}

/* Accumulate one run of len elements at stride st. */
static void
run_f(pass_kind k, const float *p, int64_t len, int64_t st, float shift, acc_f *a)
{
	switch (k)
	{
		case P_SUM:
			if (st == 1)
				a->s += sum_contig(p, len);
			else
				for (int64_t i = 0; i < len; i++)
					a->s += p[i * st];
			break;
		case P_SUMSQ:
			for (int64_t i = 0; i < len; i++)
				a->s += (double) p[i * st] * p[i * st];
			break;
		case P_ABS:
			for (int64_t i = 0; i < len; i++)
				a->s += fabs((double) p[i * st]);
			break;
		case P_PROD:
			for (int64_t i = 0; i < len; i++)
				a->s *= p[i * st];
			break;
		case P_MAX:
			for (int64_t i = 0; i < len; i++)
			{
				float		v = p[i * st];

				if (v > a->m)
					a->m = v;
				else if (isnan(v))
					a->nan = true;
			}
			break;
		case P_MIN:
			for (int64_t i = 0; i < len; i++)
			{
				float		v = p[i * st];

				if (v < a->m)
					a->m = v;
				else if (isnan(v))
					a->nan = true;
			}
			break;
		case P_EXPSUM:
			for (int64_t i = 0; i < len; i++)
				a->s += exp((double) p[i * st] - shift);
			break;
	}
}

/* Visit the reduced elements of one output (base x) in runs. */
static void
visit_f(const red_plan *pl, const float *x, pass_kind k, float shift, acc_f *a)
{
	int			nr = pl->nr;
	int64_t		idx[SP_MAX_RANK] = {0},
				runs = 1,
				off = 0,
				len,
				st;

	if (pl->count == 0)
		return;
	if (nr == 0)
	{
		run_f(k, x, 1, 1, shift, a);
		return;
	}
	len = pl->rdim[nr - 1];
	st = pl->rstr[nr - 1];
	for (int d = 0; d < nr - 1; d++)
		runs *= pl->rdim[d];
	for (int64_t r = 0; r < runs; r++)
	{
		run_f(k, x + off, len, st, shift, a);
		for (int d = nr - 2; d >= 0; d--)
		{
			idx[d]++;
			off += pl->rstr[d];
			if (idx[d] < pl->rdim[d])
				break;
			off -= pl->rstr[d] * pl->rdim[d];
			idx[d] = 0;
		}
	}
}

static float
reduce_one_f(red_kind k, const red_plan *pl, const float *x)
{
	acc_f		a = {0.0, 0.0f, false};

	switch (k)
	{
		case R_SUM:
			visit_f(pl, x, P_SUM, 0.0f, &a);
			return (float) a.s;
		case R_MEAN:
			visit_f(pl, x, P_SUM, 0.0f, &a);
			return (float) (a.s / (double) pl->count);	/* empty: 0/0 = NaN */
		case R_MAX:
		case R_MIN:
			a.m = k == R_MAX ? -INFINITY : INFINITY;
			visit_f(pl, x, k == R_MAX ? P_MAX : P_MIN, 0.0f, &a);
			return a.nan ? NAN : a.m;
		case R_PROD:
			a.s = 1.0;
			visit_f(pl, x, P_PROD, 0.0f, &a);
			return (float) a.s;
		case R_L1:
			visit_f(pl, x, P_ABS, 0.0f, &a);
			return (float) a.s;
		case R_L2:
			visit_f(pl, x, P_SUMSQ, 0.0f, &a);
			return (float) sqrt(a.s);
		case R_SUMSQ:
			visit_f(pl, x, P_SUMSQ, 0.0f, &a);
			return (float) a.s;
		case R_LOGSUM:
			visit_f(pl, x, P_SUM, 0.0f, &a);
			return (float) log(a.s);
		case R_LOGSUMEXP:
			{
				float		m;

				a.m = -INFINITY;
				visit_f(pl, x, P_MAX, 0.0f, &a);
				if (a.nan)
					return NAN;
				/* empty or all -inf: -inf; a +inf: +inf */
				if (!isfinite(a.m))
					return a.m;
				m = a.m;
				a.s = 0.0;
				visit_f(pl, x, P_EXPSUM, m, &a);
				return (float) ((double) m + log(a.s));
			}
	}
	return 0.0f;
}

/* ---------------------------------------------------------------------- */
/* Int64 reductions (wrapping). */

static int64_t
reduce_one_i(red_kind k, const red_plan *pl, const int64_t *x)
{
	int			nr = pl->nr;
	int64_t		idx[SP_MAX_RANK] = {0},
				off = 0;
	uint64_t	s = k == R_PROD ? 1 : 0;
	int64_t		m = k == R_MAX ? INT64_MIN : INT64_MAX;

	/* element by element over the reduced runs (shape arithmetic is small) */
	for (int64_t e = 0; e < pl->count; e++)
	{
		int64_t		v = x[off];

		switch (k)
		{
			case R_SUM:
			case R_MEAN:
				s += (uint64_t) v;
				break;
			case R_PROD:
				s *= (uint64_t) v;
				break;
			case R_L1:
				s += v < 0 ? -(uint64_t) v : (uint64_t) v;
				break;
			case R_SUMSQ:
				s += (uint64_t) v * (uint64_t) v;
				break;
			case R_MAX:
				m = v > m ? v : m;
				break;
			case R_MIN:
				m = v < m ? v : m;
				break;
			default:
				break;
		}
		for (int d = nr - 1; d >= 0; d--)
		{
			idx[d]++;
			off += pl->rstr[d];
			if (idx[d] < pl->rdim[d])
				break;
			off -= pl->rstr[d] * pl->rdim[d];
			idx[d] = 0;
		}
	}
	if (k == R_MAX || k == R_MIN)
		return m;
	if (k == R_MEAN)
		return pl->count ? (int64_t) s / pl->count : 0;
	return (int64_t) s;
}

/* ---------------------------------------------------------------------- */

static sp_status
red_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	int			ri = red_index(n);
	red_plan	pl;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, red_kinds[ri].int_ok ? sp_dt_float_int64 : sp_dt_float_only)) != SP_OK)
		return st;
	if ((st = red_plan_make(g, n, &pl, err)) != SP_OK)
		return st;
	sp_out_set(g, n, 0, sp_in(g, n, 0)->dtype, &pl.out);
	return SP_OK;
}

static sp_status
red_forward(const sp_op_run *r)
{
	red_kind	k = red_kinds[red_index(r->n)].kind;
	const sp_value *xv = sp_in(r->g, r->n, 0);
	int64_t		idx[SP_MAX_RANK] = {0},
				base = 0;
	red_plan	pl;
	sp_status	st;

	if ((st = red_plan_make(r->g, r->n, &pl, r->err)) != SP_OK)
		return st;
	if (pl.noop)
	{
		if (r->out[0] != r->in[0])
			memmove(r->out[0], r->in[0], (size_t) pl.out_numel * sp_dtype_size(xv->dtype));
		return SP_OK;
	}
	for (int64_t o = 0; o < pl.out_numel; o++)
	{
		if (xv->dtype == SP_DT_FLOAT)
			((float *) r->out[0])[o] = reduce_one_f(k, &pl, (const float *) r->in[0] + base);
		else
			((int64_t *) r->out[0])[o] = reduce_one_i(k, &pl, (const int64_t *) r->in[0] + base);
		for (int d = pl.nk - 1; d >= 0; d--)
		{
			idx[d]++;
			base += pl.kstr[d];
			if (idx[d] < pl.kdim[d])
				break;
			base -= pl.kstr[d] * pl.kdim[d];
			idx[d] = 0;
		}
	}
	return SP_OK;
}

static double
red_flops(const sp_graph *g, const sp_node *n)
{
	return (double) sp_shape_numel(&sp_in(g, n, 0)->shape);
}

#define REDUCE_OP(NAME) \
	const sp_op_def sp_op_##NAME = {.name = #NAME, .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1, \
									.infer = red_infer, .forward = red_forward, .flops = red_flops}

REDUCE_OP(ReduceSum);
REDUCE_OP(ReduceMean);
REDUCE_OP(ReduceMax);
REDUCE_OP(ReduceMin);
REDUCE_OP(ReduceProd);
REDUCE_OP(ReduceL1);
REDUCE_OP(ReduceL2);
REDUCE_OP(ReduceSumSquare);
REDUCE_OP(ReduceLogSum);
REDUCE_OP(ReduceLogSumExp);

/* ---------------------------------------------------------------------- */
/*
 * ArgMax, ArgMin: int64 indices along axis (default 0), keepdims (default
 * 1), select_last_index (default 0: the first of equal extremes).  A NaN
 * wins, as in numpy.
 */

static sp_status
arg_get(const sp_graph *g, const sp_node *n, int *axis, bool *keepdims, bool *last, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	const sp_attr *a = sp_attr_get(n, "axis");
	int64_t		av = 0;
	sp_status	st;

	if ((st = attr_bool(n, "keepdims", 1, keepdims, err)) != SP_OK ||
		(st = attr_bool(n, "select_last_index", 0, last, err)) != SP_OK)
		return st;
	if (a && a->type != SP_ATTR_INT)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"axis\" must be an integer");
	if (a)
		av = a->i;
	*axis = sp_axis(av, x->shape.rank);
	if (*axis < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %lld is out of range for an input of rank %d",
						   (long long) av, x->shape.rank);
	return SP_OK;
}

static sp_status
arg_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	sp_shape	out;
	int			axis;
	bool		keepdims,
				last;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_int64)) != SP_OK ||
		(st = arg_get(g, n, &axis, &keepdims, &last, err)) != SP_OK)
		return st;
	if (x->shape.dim[axis] == 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %d of input \"%s\" is empty", axis, x->name);
	out.rank = 0;
	for (int d = 0; d < x->shape.rank; d++)
		if (d != axis)
			out.dim[out.rank++] = x->shape.dim[d];
		else if (keepdims)
			out.dim[out.rank++] = 1;
	sp_out_set(g, n, 0, SP_DT_INT64, &out);
	return SP_OK;
}

/* Is v a better extreme than the best so far (b)? */
static inline bool
arg_better_f(float v, float b, bool is_max, bool last)
{
	if (isnan(b))
		return last && isnan(v);
	if (isnan(v))
		return true;
	if (v == b)
		return last;
	return is_max ? v > b : v < b;
}

static sp_status
arg_forward(const sp_op_run *r)
{
	const sp_value *xv = sp_in(r->g, r->n, 0);
	bool		is_max = strcmp(r->n->op->name, "ArgMax") == 0;
	int64_t    *y = r->out[0];
	int64_t		outer = 1,
				D,
				inner = 1;
	int			axis;
	bool		keepdims,
				last;
	sp_status	st;

	if ((st = arg_get(r->g, r->n, &axis, &keepdims, &last, r->err)) != SP_OK)
		return st;
	for (int d = 0; d < axis; d++)
		outer *= xv->shape.dim[d];
	for (int d = axis + 1; d < xv->shape.rank; d++)
		inner *= xv->shape.dim[d];
	D = xv->shape.dim[axis];
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			int64_t		base = o * D * inner + i,
						best = 0;

			if (xv->dtype == SP_DT_FLOAT)
			{
				const float *p = (const float *) r->in[0] + base;

				for (int64_t j = 1; j < D; j++)
					if (arg_better_f(p[j * inner], p[best * inner], is_max, last))
						best = j;
			}
			else
			{
				const int64_t *p = (const int64_t *) r->in[0] + base;

				for (int64_t j = 1; j < D; j++)
				{
					int64_t		v = p[j * inner],
								b = p[best * inner];

					if (v == b ? last : (is_max ? v > b : v < b))
						best = j;
				}
			}
			y[o * inner + i] = best;
		}
	return SP_OK;
}

const sp_op_def sp_op_ArgMax = {
	.name = "ArgMax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.infer = arg_infer, .forward = arg_forward
};

const sp_op_def sp_op_ArgMin = {
	.name = "ArgMin", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.infer = arg_infer, .forward = arg_forward
};

/*
 * norm.c: normalisations and softmax: BatchNormalization (inference, and
 * training in a training graph), InstanceNormalization, LayerNormalization, LpNormalization, the project's
 * own SiameseL2Norm, Softmax and LogSoftmax.  The reductions (Reduce*,
 * ArgMax, ArgMin) are in reduce.c.
 *
 * Statistics (means, variances, norms, softmax sums) are accumulated in
 * double; the per-channel scale and shift of BatchNormalization are computed
 * in double once per channel, then applied in float like a convolution with
 * the batch norm folded in.  The per-element loops are written in blocks of
 * 8 that the compiler vectorises at -O2; the contiguous softmax row has an
 * AVX2 kernel (its exp() is most of a ViT's time outside the matrix
 * products).  No op here keeps state or needs a prepare: the forwards
 * recompute their few parameters from the attributes and shapes, so they
 * also serve constant folding.
 *
 * Backward (training graphs): BatchNormalization in both modes and
 * SiameseL2Norm.  Batch norm's backward recomputes the batch statistics
 * from its input rather than keeping them from the forward.
 *
 * Where the ONNX reference (numpy) produces NaN, so do these: Softmax of a
 * row that is all -inf (or holds +inf or NaN), LpNormalization of a zero
 * vector.  SiameseL2Norm exists because the project's embeddings do not.
 */
#include "nn/op.h"
#include "nn/nn_layers.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NORM_X86 1
#include <immintrin.h>
#include "nn/ops/vmath.h"
#include "util/cpu.h"
#endif

/* Ops implement fixed signatures; not every op uses every parameter. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* ---------------------------------------------------------------------- */
/* Shared checks. */

/* An INT attribute (absent: dflt); another type is an error. */
static sp_status
attr_int(const sp_node *n, const char *name, int64_t dflt, int64_t *v, sp_error *err)
{
	const sp_attr *a = sp_attr_get(n, name);

	*v = dflt;
	if (!a)
		return SP_OK;
	if (a->type != SP_ATTR_INT)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"%s\" must be an integer", name);
	*v = a->i;
	return SP_OK;
}

/* A finite FLOAT (or INT) attribute (absent: dflt). */
static sp_status
attr_float(const sp_node *n, const char *name, float dflt, float *v, sp_error *err)
{
	const sp_attr *a = sp_attr_get(n, name);

	*v = dflt;
	if (!a)
		return SP_OK;
	if (a->type != SP_ATTR_FLOAT && a->type != SP_ATTR_INT)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"%s\" must be a float", name);
	*v = sp_attr_float(n, name, dflt);
	if (!isfinite(*v))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"%s\" is not finite", name);
	return SP_OK;
}

/* A float input i of rank 1 with exactly len elements (per-channel parameters). */
static sp_status
check_vector(const sp_graph *g, const sp_node *n, int i, int64_t len, const char *what, sp_error *err)
{
	const sp_value *v = sp_in(g, n, i);
	sp_status	st = sp_check_input(g, n, i, err, sp_dt_float_only);

	if (st != SP_OK)
		return st;
	if (v->shape.rank != 1 || v->shape.dim[0] != len)
	{
		char		buf[96];

		sp_shape_format(&v->shape, buf, sizeof buf);
		return sp_op_error(err, SP_ERR_CORRUPT, n, "%s \"%s\" has shape %s; expected [%lld]",
						   what, v->name, buf, (long long) len);
	}
	return SP_OK;
}

/* dims [0, axis) -> outer, [axis, end) -> D * inner with inner the dims after axis. */
static void
split_axis(const sp_shape *s, int axis, int64_t *outer, int64_t *d, int64_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int i = 0; i < axis; i++)
		*outer *= s->dim[i];
	for (int i = axis + 1; i < s->rank; i++)
		*inner *= s->dim[i];
	*d = s->dim[axis];
}

/* An axis attribute (default dflt) normalised against rank; error when out of range. */
static sp_status
axis_attr(const sp_node *n, int64_t dflt, int rank, int *axis, sp_error *err)
{
	int64_t		a;
	sp_status	st = attr_int(n, "axis", dflt, &a, err);

	if (st != SP_OK)
		return st;
	*axis = sp_axis(a, rank);
	if (*axis < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %lld is out of range for an input of rank %d",
						   (long long) a, rank);
	return SP_OK;
}

/*
 * An extra (optional) output that a model may declare but this op does not
 * compute: acceptable only when nothing reads it.
 */
static bool
output_read(const sp_graph *g, const sp_node *n, int o)
{
	int			id = n->out[o];

	for (int i = 0; i < g->n_outputs; i++)
		if (g->outputs[i] == id)
			return true;
	for (int i = 0; i < g->n_nodes; i++)
		for (int k = 0; k < g->nodes[i].n_in; k++)
			if (g->nodes[i].in[k] == id)
				return true;
	return false;
}

/* ---------------------------------------------------------------------- */
/* BatchNormalization, inference mode. */

static sp_status
bn_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		training,
				spatial;
	float		eps;
	sp_status	st;
	static const char *const what[5] = {"", "scale", "B", "input_mean", "input_var"};

	if ((st = attr_int(n, "training_mode", 0, &training, err)) != SP_OK ||
		(st = attr_int(n, "spatial", 1, &spatial, err)) != SP_OK ||
		(st = attr_float(n, "epsilon", 1e-5f, &eps, err)) != SP_OK)
		return st;
	if (training != 0)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "training_mode=%lld is not supported; only inference",
						   (long long) training);
	if (spatial != 1)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "spatial=%lld is not supported", (long long) spatial);
	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (x->shape.rank < 2)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" has rank %d; at least 2 (N x C x ...) is needed",
						   x->name, x->shape.rank);
	for (int i = 1; i < 5; i++)
		if ((st = check_vector(g, n, i, x->shape.dim[1], what[i], err)) != SP_OK)
			return st;
	for (int o = 1; o < n->n_out; o++)
		if (output_read(g, n, o))
			return sp_op_error(err, SP_ERR_UNSUPPORTED, n,
							   "output %d (\"%s\", a training statistic) is not supported; only inference",
							   o, sp_out(g, n, o)->name);
	sp_out_set(g, n, 0, SP_DT_FLOAT, &x->shape);
	/* unread extra outputs pass the running statistics through */
	for (int o = 1; o < n->n_out; o++)
		sp_out_set(g, n, o, SP_DT_FLOAT, &sp_in(g, n, 3)->shape);
	return SP_OK;
}

/* q = p * a + b; in blocks of 8 the compiler vectorises at -O2 (inputs and outputs never alias). */
static void
bn_apply(const float *restrict p, float *restrict q, int64_t S, float a, float b)
{
	int64_t		i = 0;

	for (; i + 8 <= S; i += 8)
		for (int k = 0; k < 8; k++)
			q[i + k] = p[i + k] * a + b;
	for (; i < S; i++)
		q[i] = p[i] * a + b;
}

/*
 * Sums over a channel's planes in BN_LANES double accumulators, one per
 * position modulo BN_LANES, added together at the end: independent chains
 * the compiler vectorises, where a single accumulator is one long chain of
 * dependent additions (the statistics were most of batch norm's time).
 */
#define BN_LANES 8

static double
bn_lanes_total(const double *acc)
{
	double		t = 0;

	for (int k = 0; k < BN_LANES; k++)
		t += acc[k];
	return t;
}

/*
 * The statistics of channel c over the batch and the spatial positions
 * (N planes of S values at stride C*S), in double.  var is the biased
 * (population) variance that normalises; ss the sum of squared deviations.
 */
static void
bn_batch_stats(const float *x, int64_t N, int64_t C, int64_t S, int64_t c, double *mean, double *ss)
{
	double		s[BN_LANES] = {0},
				q[BN_LANES] = {0},
				m;

	for (int64_t b = 0; b < N; b++)
	{
		const float *p = x + (b * C + c) * S;
		int64_t		i = 0;

		for (; i + BN_LANES <= S; i += BN_LANES)
			for (int k = 0; k < BN_LANES; k++)
				s[k] += p[i + k];
		for (; i < S; i++)
			s[0] += p[i];
	}
	m = bn_lanes_total(s) / (double) (N * S);
	for (int64_t b = 0; b < N; b++)
	{
		const float *p = x + (b * C + c) * S;
		int64_t		i = 0;

		for (; i + BN_LANES <= S; i += BN_LANES)
			for (int k = 0; k < BN_LANES; k++)
				q[k] += (p[i + k] - m) * (p[i + k] - m);
		for (; i < S; i++)
			q[0] += (p[i] - m) * (p[i] - m);
	}
	*mean = m;
	*ss = bn_lanes_total(q);
}

/* A batch-norm run split over the graph's team by channels (each channel's statistics and planes are its own). */
typedef struct bn_work
{
	const sp_op_run *r;
	int64_t		N,
				C,
				S;
	double		eps,
				mom;
} bn_work;

static void
bn_forward_part(void *arg, int part, int parts)
{
	const bn_work *bw = arg;
	const sp_op_run *r = bw->r;
	const float *x = r->in[0],
			   *scale = r->in[1],
			   *bias = r->in[2];
	float	   *rmean = (float *) r->in[3],
			   *rvar = (float *) r->in[4];
	float	   *y = r->out[0];
	const int64_t N = bw->N,
				C = bw->C,
				S = bw->S,
				cnt = N * S;
	int64_t		lo,
				hi;

	sp_team_range(C, part, parts, &lo, &hi);
	for (int64_t c = lo; c < hi; c++)
	{
		double		mean,
					ss,
					a;
		float		af,
					bf;

		bn_batch_stats(x, N, C, S, c, &mean, &ss);
		rmean[c] = (float) (bw->mom * rmean[c] + (1.0 - bw->mom) * mean);
		rvar[c] = (float) (bw->mom * rvar[c] + (1.0 - bw->mom) * (cnt > 1 ? ss / (double) (cnt - 1) : ss));
		a = (double) scale[c] / sqrt(ss / (double) cnt + bw->eps);
		af = (float) a;
		bf = (float) ((double) bias[c] - mean * a);
		for (int64_t b = 0; b < N; b++)
			bn_apply(x + (b * C + c) * S, y + (b * C + c) * S, S, af, bf);
	}
}

/*
 * Training mode (a training graph's training run), as torch.nn.BatchNorm:
 * normalise with the batch statistics and move the running statistics
 * towards them, the variance's unbiased.  "momentum" is ONNX's (the weight
 * of the old running value, default 0.9: PyTorch's 0.1).  The running
 * statistics are inputs 3 and 4, updated in place: in a training graph they
 * are the trainer's buffers (sp_graph_bind_param), not shared constants.
 */
static sp_status
bn_forward_train(const sp_op_run *r)
{
	const sp_shape *xs = &sp_in(r->g, r->n, 0)->shape;
	bn_work		bw = {r, xs->dim[0], xs->dim[1], 1, sp_attr_float(r->n, "epsilon", 1e-5f),
	sp_attr_float(r->n, "momentum", 0.9f)};

	for (int d = 2; d < xs->rank; d++)
		bw.S *= xs->dim[d];
	sp_op_split(r, bw.N * bw.C * bw.S, bn_forward_part, &bw);
	for (int o = 1; o < r->n->n_out; o++)
		memcpy(r->out[o], o % 2 ? r->in[3] : r->in[4], sizeof(float) * (size_t) bw.C);
	return SP_OK;
}

static void
bn_backward_part(void *arg, int part, int parts)
{
	const bn_work *bw = arg;
	const sp_op_run *r = bw->r;
	const float *x = r->in[0],
			   *scale = r->in[1],
			   *rmean = r->in[3],
			   *rvar = r->in[4],
			   *dy = r->d_out[0];
	float	   *dx = r->d_in[0],
			   *dscale = r->d_in[1],
			   *dbias = r->d_in[2];
	const int64_t N = bw->N,
				C = bw->C,
				S = bw->S,
				cnt = N * S;
	int64_t		lo,
				hi;

	sp_team_range(C, part, parts, &lo, &hi);
	for (int64_t c = lo; c < hi; c++)
	{
		double		mean,
					var,
					inv,
					sdy,
					sdyx;

		if (r->training)
		{
			bn_batch_stats(x, N, C, S, c, &mean, &var);
			var /= (double) cnt;
		}
		else
		{
			mean = rmean[c];
			var = rvar[c];
		}
		inv = 1.0 / sqrt(var + bw->eps);
		{
			double		acc_dy[BN_LANES] = {0},
						acc_dyx[BN_LANES] = {0};

			for (int64_t b = 0; b < N; b++)
			{
				const float *xp = x + (b * C + c) * S,
						   *dyp = dy + (b * C + c) * S;
				int64_t		i = 0;

				for (; i + BN_LANES <= S; i += BN_LANES)
					for (int k = 0; k < BN_LANES; k++)
					{
						acc_dy[k] += dyp[i + k];
						acc_dyx[k] += dyp[i + k] * ((xp[i + k] - mean) * inv);
					}
				for (; i < S; i++)
				{
					acc_dy[0] += dyp[i];
					acc_dyx[0] += dyp[i] * ((xp[i] - mean) * inv);
				}
			}
			sdy = bn_lanes_total(acc_dy);
			sdyx = bn_lanes_total(acc_dyx);
		}
		if (dscale)
			dscale[c] += (float) sdyx;
		if (dbias)
			dbias[c] += (float) sdy;
		if (!dx)
			continue;
		for (int64_t b = 0; b < N; b++)
		{
			const float *xp = x + (b * C + c) * S,
					   *dyp = dy + (b * C + c) * S;
			float	   *dxp = dx + (b * C + c) * S;

			if (r->training)
			{
				double		a = (double) scale[c] * inv / (double) cnt;

				for (int64_t i = 0; i < S; i++)
					dxp[i] += (float) (a * ((double) cnt * dyp[i] - sdy - (xp[i] - mean) * inv * sdyx));
			}
			else
			{
				float		a = (float) ((double) scale[c] * inv);

				for (int64_t i = 0; i < S; i++)
					dxp[i] += dyp[i] * a;
			}
		}
	}
}

/*
 * With xh = (x - mean) * inv: dscale = sum(dy xh), dB = sum(dy); in eval
 * mode dx = dy scale inv; in training mode the mean and the variance depend
 * on x too: dx = scale inv / n (n dy - sum(dy) - xh sum(dy xh)).
 */
static sp_status
bn_backward(const sp_op_run *r)
{
	const sp_shape *xs = &sp_in(r->g, r->n, 0)->shape;
	bn_work		bw = {r, xs->dim[0], xs->dim[1], 1, sp_attr_float(r->n, "epsilon", 1e-5f), 0};

	if (!r->d_out[0])
		return SP_OK;
	for (int d = 2; d < xs->rank; d++)
		bw.S *= xs->dim[d];
	sp_op_split(r, bw.N * bw.C * bw.S, bn_backward_part, &bw);
	return SP_OK;
}

static sp_status
bn_forward(const sp_op_run *r)
{
	const sp_shape *xs = &sp_in(r->g, r->n, 0)->shape;
	const float *x = r->in[0],
			   *scale = r->in[1],
			   *bias = r->in[2],
			   *mean = r->in[3],
			   *var = r->in[4];
	float	   *y = r->out[0];
	double		eps = sp_attr_float(r->n, "epsilon", 1e-5f);
	int64_t		N = xs->dim[0],
				C = xs->dim[1],
				S = 1;

	if (r->training)
		return bn_forward_train(r);
	for (int d = 2; d < xs->rank; d++)
		S *= xs->dim[d];
	for (int64_t c = 0; c < C; c++)
	{
		double		a = (double) scale[c] / sqrt((double) var[c] + eps);
		float		af = (float) a,
					bf = (float) ((double) bias[c] - (double) mean[c] * a);

		for (int64_t b = 0; b < N; b++)
			bn_apply(x + (b * C + c) * S, y + (b * C + c) * S, S, af, bf);
	}
	for (int o = 1; o < r->n->n_out; o++)
		memcpy(r->out[o], o % 2 ? mean : var, sizeof(float) * (size_t) C);
	return SP_OK;
}

static double
bn_flops(const sp_graph *g, const sp_node *n)
{
	return 2.0 * (double) sp_shape_numel(&sp_out(g, n, 0)->shape);
}

const sp_op_def sp_op_BatchNormalization = {
	.name = "BatchNormalization", .min_in = 5, .max_in = 5, .min_out = 1, .max_out = 5,
	.infer = bn_infer, .forward = bn_forward, .flops = bn_flops, .backward = bn_backward
};

/* ---------------------------------------------------------------------- */
/* InstanceNormalization: per image and channel over the spatial dims. */

static sp_status
in_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	float		eps;
	sp_status	st;

	if ((st = attr_float(n, "epsilon", 1e-5f, &eps, err)) != SP_OK ||
		(st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (x->shape.rank < 3)
		return sp_op_error(err, SP_ERR_CORRUPT, n,
						   "input \"%s\" has rank %d; at least 3 (N x C x D1 ...) is needed",
						   x->name, x->shape.rank);
	if ((st = check_vector(g, n, 1, x->shape.dim[1], "scale", err)) != SP_OK ||
		(st = check_vector(g, n, 2, x->shape.dim[1], "B", err)) != SP_OK)
		return st;
	sp_out_set(g, n, 0, SP_DT_FLOAT, &x->shape);
	return SP_OK;
}

/*
 * Mean and 1/sqrt(variance + eps) of len floats, in double, in two passes
 * (the variance from the deviations, so a large mean costs no precision);
 * four independent sums keep the adds from waiting on each other.
 */
static void
row_stats(const float *p, int64_t len, double eps, double *mean, double *inv)
{
	double		s[4] = {0.0, 0.0, 0.0, 0.0},
				ss[4] = {0.0, 0.0, 0.0, 0.0},
				m;
	int64_t		i;

	for (i = 0; i + 4 <= len; i += 4)
		for (int k = 0; k < 4; k++)
			s[k] += p[i + k];
	for (; i < len; i++)
		s[0] += p[i];
	m = ((s[0] + s[1]) + (s[2] + s[3])) / (double) len;
	for (i = 0; i + 4 <= len; i += 4)
		for (int k = 0; k < 4; k++)
		{
			double		d = (double) p[i + k] - m;

			ss[k] += d * d;
		}
	for (; i < len; i++)
	{
		double		d = (double) p[i] - m;

		ss[0] += d * d;
	}
	*mean = m;
	*inv = 1.0 / sqrt(((ss[0] + ss[1]) + (ss[2] + ss[3])) / (double) len + eps);
}

static sp_status
in_forward(const sp_op_run *r)
{
	const sp_shape *xs = &sp_in(r->g, r->n, 0)->shape;
	const float *x = r->in[0],
			   *scale = r->in[1],
			   *bias = r->in[2];
	float	   *y = r->out[0];
	double		eps = sp_attr_float(r->n, "epsilon", 1e-5f);
	int64_t		N = xs->dim[0],
				C = xs->dim[1],
				S = 1;

	for (int d = 2; d < xs->rank; d++)
		S *= xs->dim[d];
	if (S == 0)
		return SP_OK;
	for (int64_t b = 0; b < N; b++)
		for (int64_t c = 0; c < C; c++)
		{
			const float *p = x + (b * C + c) * S;
			float	   *q = y + (b * C + c) * S;
			double		mean,
						inv,
						a,
						sh;

			row_stats(p, S, eps, &mean, &inv);
			a = inv * scale[c];
			sh = bias[c];
			for (int64_t i = 0; i < S; i++)
				q[i] = (float) (((double) p[i] - mean) * a + sh);
		}
	return SP_OK;
}

const sp_op_def sp_op_InstanceNormalization = {
	.name = "InstanceNormalization", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
	.infer = in_infer, .forward = in_forward, .flops = bn_flops
};

/* ---------------------------------------------------------------------- */
/* LayerNormalization (opset 17): over the dims from axis on. */

/* Does parameter shape p broadcast (unidirectionally) to the dims of x from axis on? */
static bool
ln_param_fits(const sp_shape *p, const sp_shape *x, int axis)
{
	int			nd = x->rank - axis;

	if (p->rank > nd)
		return false;
	for (int i = 0; i < p->rank; i++)
	{
		int64_t		xd = x->dim[x->rank - p->rank + i];

		if (p->dim[i] != 1 && p->dim[i] != xd)
			return false;
	}
	return true;
}

/* Expand parameter p (fitting per ln_param_fits) to the D = prod(x dims from axis) floats of dst. */
static void
ln_expand(const float *p, const sp_shape *ps, const sp_shape *xs, int axis, float *dst)
{
	int			nd = xs->rank - axis;
	int64_t		dims[SP_MAX_RANK],
				str[SP_MAX_RANK],
				idx[SP_MAX_RANK] = {0},
				s = 1,
				D = 1,
				off = 0;

	for (int i = nd - 1; i >= 0; i--)
	{
		int			pi = ps->rank - nd + i;

		dims[i] = xs->dim[axis + i];
		D *= dims[i];
		str[i] = (pi >= 0 && ps->dim[pi] != 1) ? s : 0;
		if (pi >= 0)
			s *= ps->dim[pi];
	}
	for (int64_t k = 0; k < D; k++)
	{
		dst[k] = p[off];
		for (int i = nd - 1; i >= 0; i--)
		{
			idx[i]++;
			off += str[i];
			if (idx[i] < dims[i])
				break;
			off -= str[i] * dims[i];
			idx[i] = 0;
		}
	}
}

typedef struct ln_params
{
	int			axis;
	int64_t		outer,
				D;
	bool		expand_scale,
				expand_bias;
} ln_params;

static void
ln_get(const sp_graph *g, const sp_node *n, ln_params *p)
{
	const sp_value *x = sp_in(g, n, 0),
			   *s = sp_in(g, n, 1),
			   *b = sp_in(g, n, 2);
	int64_t		inner;

	p->axis = sp_axis(sp_attr_int(n, "axis", -1), x->shape.rank);
	split_axis(&x->shape, p->axis, &p->outer, &p->D, &inner);
	p->D *= inner;
	p->expand_scale = sp_shape_numel(&s->shape) != p->D;
	p->expand_bias = b && sp_shape_numel(&b->shape) != p->D;
}

static sp_status
ln_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		stash;
	float		eps;
	int			axis;
	ln_params	p;
	sp_shape	stat;
	sp_status	st;

	if ((st = attr_float(n, "epsilon", 1e-5f, &eps, err)) != SP_OK ||
		(st = attr_int(n, "stash_type", 1, &stash, err)) != SP_OK ||
		(st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (sp_in(g, n, 2) && (st = sp_check_input(g, n, 2, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (x->shape.rank < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" is a scalar", x->name);
	if ((st = axis_attr(n, -1, x->shape.rank, &axis, err)) != SP_OK)
		return st;
	for (int i = 1; i < 3; i++)
	{
		const sp_value *v = sp_in(g, n, i);

		if (v && !ln_param_fits(&v->shape, &x->shape, axis))
		{
			char		a[96],
						b[96];

			sp_shape_format(&v->shape, a, sizeof a);
			sp_shape_format(&x->shape, b, sizeof b);
			return sp_op_error(err, SP_ERR_CORRUPT, n,
							   "%s \"%s\" of shape %s does not broadcast to the normalised dims (from axis %d) of %s",
							   i == 1 ? "Scale" : "B", v->name, a, axis, b);
		}
	}
	ln_get(g, n, &p);
	/* broadcast parameters are expanded to D floats each in scratch */
	n->scratch = sizeof(float) * (size_t) p.D * ((p.expand_scale ? 1 : 0) + (p.expand_bias ? 1 : 0));
	sp_out_set(g, n, 0, SP_DT_FLOAT, &x->shape);
	stat = x->shape;
	for (int d = axis; d < stat.rank; d++)
		stat.dim[d] = 1;
	for (int o = 1; o < n->n_out; o++)
		sp_out_set(g, n, o, SP_DT_FLOAT, &stat);
	return SP_OK;
}

/*
 * y = (x - mean) * inv * scale + bias over a row, in float with the mean
 * split in two floats (hi + lo): x - hi rounds relative to the deviation,
 * not to the mean, so a row far from 0 keeps its precision.
 */
static void
ln_apply(const float *restrict x, float *restrict y, int64_t D, double mean, double inv,
		 const float *restrict scale, const float *restrict bias)
{
	float		hi = (float) mean,
				lo = (float) (mean - hi),
				a = (float) inv;
	int64_t		i = 0;

	/* blocks of 8 the compiler vectorises at -O2 (inputs and outputs never alias) */
	if (bias)
	{
		for (; i + 8 <= D; i += 8)
			for (int k = 0; k < 8; k++)
				y[i + k] = ((x[i + k] - hi) - lo) * a * scale[i + k] + bias[i + k];
		for (; i < D; i++)
			y[i] = ((x[i] - hi) - lo) * a * scale[i] + bias[i];
	}
	else
	{
		for (; i + 8 <= D; i += 8)
			for (int k = 0; k < 8; k++)
				y[i + k] = ((x[i + k] - hi) - lo) * a * scale[i + k];
		for (; i < D; i++)
			y[i] = ((x[i] - hi) - lo) * a * scale[i];
	}
}

static sp_status
ln_forward(const sp_op_run *r)
{
	const sp_value *xv = sp_in(r->g, r->n, 0);
	const float *x = r->in[0],
			   *scale = r->in[1],
			   *bias = r->n->n_in > 2 ? r->in[2] : NULL;
	float	   *y = r->out[0],
			   *mean_out = r->n->n_out > 1 ? r->out[1] : NULL,
			   *inv_out = r->n->n_out > 2 ? r->out[2] : NULL,
			   *sc = r->scratch;
	double		eps = sp_attr_float(r->n, "epsilon", 1e-5f);
	ln_params	p;

	ln_get(r->g, r->n, &p);
	if (p.expand_scale)
	{
		ln_expand(scale, &sp_in(r->g, r->n, 1)->shape, &xv->shape, p.axis, sc);
		scale = sc;
		sc += p.D;
	}
	if (p.expand_bias)
	{
		ln_expand(bias, &sp_in(r->g, r->n, 2)->shape, &xv->shape, p.axis, sc);
		bias = sc;
	}
	for (int64_t o = 0; o < p.outer; o++)
	{
		const float *px = x + o * p.D;
		float	   *py = y + o * p.D;
		double		mean,
					inv;

		row_stats(px, p.D, eps, &mean, &inv);
		ln_apply(px, py, p.D, mean, inv, scale, bias);
		if (mean_out)
			mean_out[o] = (float) mean;
		if (inv_out)
			inv_out[o] = (float) inv;
	}
	return SP_OK;
}

static double
ln_flops(const sp_graph *g, const sp_node *n)
{
	return 6.0 * (double) sp_shape_numel(&sp_out(g, n, 0)->shape);
}

const sp_op_def sp_op_LayerNormalization = {
	.name = "LayerNormalization", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 3,
	.infer = ln_infer, .forward = ln_forward, .flops = ln_flops
};

/* ---------------------------------------------------------------------- */
/* LpNormalization (ONNX: x / ||x||_p along axis, p 1 or 2; 0/0 = NaN). */

static sp_status
lp_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		p;
	int			axis;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK ||
		(st = attr_int(n, "p", 2, &p, err)) != SP_OK)
		return st;
	if (p != 1 && p != 2)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "p=%lld is not supported; only 1 or 2", (long long) p);
	if (x->shape.rank < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" is a scalar", x->name);
	if ((st = axis_attr(n, -1, x->shape.rank, &axis, err)) != SP_OK)
		return st;
	sp_out_set(g, n, 0, SP_DT_FLOAT, &x->shape);
	return SP_OK;
}

static sp_status
lp_forward(const sp_op_run *r)
{
	const sp_shape *xs = &sp_in(r->g, r->n, 0)->shape;
	const float *x = r->in[0];
	float	   *y = r->out[0];
	bool		l1 = sp_attr_int(r->n, "p", 2) == 1;
	int			axis = sp_axis(sp_attr_int(r->n, "axis", -1), xs->rank);
	int64_t		outer,
				D,
				inner;

	split_axis(xs, axis, &outer, &D, &inner);
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			const float *p = x + o * D * inner + i;
			float	   *q = y + o * D * inner + i;
			double		s = 0.0;

			for (int64_t j = 0; j < D; j++)
				s += l1 ? fabs((double) p[j * inner]) : (double) p[j * inner] * p[j * inner];
			if (!l1)
				s = sqrt(s);
			for (int64_t j = 0; j < D; j++)
				q[j * inner] = (float) ((double) p[j * inner] / s);
		}
	return SP_OK;
}

const sp_op_def sp_op_LpNormalization = {
	.name = "LpNormalization", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.infer = lp_infer, .forward = lp_forward
};

/* ---------------------------------------------------------------------- */
/*
 * SiameseL2Norm: the project's own op (not ONNX), the L2 normalisation of
 * the embedding.  The layer-list models (format 1, layer "l2norm") run as
 * graphs ending in it, and the `normalize` option of an imported model
 * appends it.  It differs from LpNormalization(p=2) as torch's F.normalize
 * does: x / max(||x||, 1e-12), so a zero vector stays zero instead of
 * becoming NaN; and its arithmetic is exactly sp_nn_l2norm_rows' (sum of
 * squares in double, one float reciprocal, a float multiply) so embeddings
 * are bit-identical to the layer-list engine's.  Along "axis" (default -1,
 * the feature dim of [N, d]): the last axis calls sp_nn_l2norm_rows itself;
 * another axis runs the same arithmetic with a stride.
 */

static sp_status
l2_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int			axis;
	int64_t		outer,
				D,
				inner;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (x->shape.rank < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" is a scalar", x->name);
	if ((st = axis_attr(n, -1, x->shape.rank, &axis, err)) != SP_OK)
		return st;
	split_axis(&x->shape, axis, &outer, &D, &inner);
	if (D > INT_MAX)
		return sp_op_error(err, SP_ERR_LIMIT, n, "vectors of %lld elements are too long", (long long) D);
	sp_out_set(g, n, 0, SP_DT_FLOAT, &x->shape);
	return SP_OK;
}

static sp_status
l2_forward(const sp_op_run *r)
{
	const sp_shape *xs = &sp_in(r->g, r->n, 0)->shape;
	const float *x = r->in[0];
	float	   *y = r->out[0];
	int			axis = sp_axis(sp_attr_int(r->n, "axis", -1), xs->rank);
	int64_t		outer,
				D,
				inner;

	split_axis(xs, axis, &outer, &D, &inner);
	if (D == 0)
		return SP_OK;
	if (inner == 1)
	{
		/* rows in chunks whose count fits an int */
		int64_t		chunk = INT_MAX / D;

		for (int64_t o = 0; o < outer; o += chunk)
		{
			int64_t		rows = outer - o < chunk ? outer - o : chunk;

			sp_nn_l2norm_rows(x + o * D, (int) rows, (int) D, y + o * D);
		}
		return SP_OK;
	}
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			const float *p = x + o * D * inner + i;
			float	   *q = y + o * D * inner + i;
			double		ss = 0.0;
			float		inv;

			for (int64_t j = 0; j < D; j++)
				ss += (double) p[j * inner] * p[j * inner];
			inv = (float) (1.0 / fmax(sqrt(ss), 1e-12));
			for (int64_t j = 0; j < D; j++)
				q[j * inner] = p[j * inner] * inv;
		}
	return SP_OK;
}

/*
 * y = x / r with r = max(|x|, 1e-12): dx = (dy - y (y . dy)) / r while the
 * norm is above the floor, dy / r where the floor (a constant) applies.
 */
static sp_status
l2_backward(const sp_op_run *r)
{
	const sp_shape *xs = &sp_in(r->g, r->n, 0)->shape;
	const float *x = r->in[0],
			   *y = r->out[0],
			   *dy = r->d_out[0];
	float	   *dx = r->d_in[0];
	int			axis = sp_axis(sp_attr_int(r->n, "axis", -1), xs->rank);
	int64_t		outer,
				D,
				inner;

	if (!dy || !dx)
		return SP_OK;
	split_axis(xs, axis, &outer, &D, &inner);
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			int64_t		base = o * D * inner + i;
			double		ss = 0.0,
						dot = 0.0,
						norm;

			for (int64_t j = 0; j < D; j++)
			{
				ss += (double) x[base + j * inner] * x[base + j * inner];
				dot += (double) y[base + j * inner] * dy[base + j * inner];
			}
			norm = sqrt(ss);
			if (norm <= 1e-12)
				for (int64_t j = 0; j < D; j++)
					dx[base + j * inner] += (float) (dy[base + j * inner] / 1e-12);
			else
				for (int64_t j = 0; j < D; j++)
					dx[base + j * inner] += (float) ((dy[base + j * inner] - y[base + j * inner] * dot) / norm);
		}
	return SP_OK;
}

const sp_op_def sp_op_SiameseL2Norm = {
	.name = "SiameseL2Norm", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.infer = l2_infer, .forward = l2_forward, .backward = l2_backward
};

/* ---------------------------------------------------------------------- */
/*
 * Softmax, LogSoftmax.  Opset < 13 (the "_opset" attribute the importer
 * sets; absent means 13+): axis defaults to 1 and the input is coerced to
 * 2-D [prod(dims before axis), prod(dims from axis)], the softmax running
 * over each row.  Opset >= 13: axis defaults to -1 and the softmax runs
 * along that one axis.
 */

typedef struct sm_params
{
	int64_t		outer,
				D,
				inner;
} sm_params;

static sp_status
sm_get(const sp_graph *g, const sp_node *n, sm_params *p, sp_error *err)
{
	const sp_shape *xs = &sp_in(g, n, 0)->shape;
	int64_t		opset;
	int			axis;
	sp_status	st;

	if ((st = attr_int(n, "_opset", 13, &opset, err)) != SP_OK)
		return st;
	if (xs->rank < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" is a scalar", sp_in(g, n, 0)->name);
	if ((st = axis_attr(n, opset < 13 ? 1 : -1, xs->rank, &axis, err)) != SP_OK)
		return st;
	split_axis(xs, axis, &p->outer, &p->D, &p->inner);
	if (opset < 13)
	{
		p->D *= p->inner;
		p->inner = 1;
	}
	return SP_OK;
}

static sp_status
sm_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	sm_params	p;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK ||
		(st = sm_get(g, n, &p, err)) != SP_OK)
		return st;
	sp_out_set(g, n, 0, SP_DT_FLOAT, &sp_in(g, n, 0)->shape);
	return SP_OK;
}

/*
 * One softmax row of D elements at stride st.  The max is subtracted, so
 * large values do not overflow; entries of -inf give 0 (log: -inf).  As in
 * the reference, a row whose max is -inf, +inf or NaN gives NaN throughout.
 */
static void
sm_row(const float *p, float *q, int64_t D, int64_t st, bool log_sm)
{
	float		m = -INFINITY;
	bool		nan = false;
	double		s = 0.0;

	for (int64_t j = 0; j < D; j++)
	{
		float		v = p[j * st];

		if (v > m)
			m = v;
		else if (isnan(v))
			nan = true;
	}
	if (nan || !isfinite(m))
	{
		for (int64_t j = 0; j < D; j++)
			q[j * st] = NAN;
		return;
	}
	if (log_sm)
	{
		double		ls;

		for (int64_t j = 0; j < D; j++)
			s += exp((double) p[j * st] - m);
		ls = log(s);
		for (int64_t j = 0; j < D; j++)
			q[j * st] = (float) ((double) p[j * st] - m - ls);
		return;
	}
	for (int64_t j = 0; j < D; j++)
	{
		float		e = expf(p[j * st] - m);

		q[j * st] = e;
		s += e;
	}
	/* the max element contributes exp(0) = 1: s >= 1 */
	for (int64_t j = 0; j < D; j++)
		q[j * st] = (float) ((double) q[j * st] / s);
}

#ifdef NORM_X86
/*
 * The same row, contiguous, with AVX2: the attention softmax of a ViT is
 * most of its time outside the matrix products.  exp() is vmath.h's
 * (Cephes' polynomial) for the arguments x - max <= 0; below ln(FLT_MIN)
 * it gives 0 instead of a denormal, which the sum (>= 1) does not notice.  The sum is in double; the last partial vector is padded
 * with -inf (exp: 0).
 */
#define SM_T __attribute__((target("avx2,fma")))

/* Lanes k < n of a partial vector. */
SM_T static inline __m256i
part_mask(int64_t n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int) n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Load the n < 8 floats at p, the other lanes -inf. */
SM_T static inline __m256
load_part(const float *p, int64_t n)
{
	__m256i		mask = part_mask(n);

	return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(p, mask), _mm256_castsi256_ps(mask));
}

SM_T static inline __m256d
acc_pd(__m256d a, __m256 v)
{
	a = _mm256_add_pd(a, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
	return _mm256_add_pd(a, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

SM_T static void
sm_row_avx2(const float *p, float *q, int64_t D, bool log_sm)
{
	__m256		vm = _mm256_set1_ps(-INFINITY),
				vnan = _mm256_setzero_ps(),
				vmax;
	__m256d		vs = _mm256_setzero_pd();
	__m128		h;
	double		sd[4],
				s,
				shift;
	int64_t		n8 = D & ~(int64_t) 7,
				rest = D - n8;
	float		m;

	for (int64_t j = 0; j < n8; j += 8)
	{
		__m256		v = _mm256_loadu_ps(p + j);

		vm = _mm256_max_ps(vm, v);
		vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
	}
	if (rest)
	{
		__m256		v = load_part(p + n8, rest);

		vm = _mm256_max_ps(vm, v);
		vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
	}
	h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
	m = _mm_cvtss_f32(h);
	if (_mm256_movemask_ps(vnan) || !isfinite(m))
	{
		for (int64_t j = 0; j < D; j++)
			q[j] = NAN;
		return;
	}
	vmax = _mm256_set1_ps(m);
	for (int64_t j = 0; j < n8; j += 8)
	{
		__m256		e = sp_exp_nonpos_avx2(_mm256_sub_ps(_mm256_loadu_ps(p + j), vmax));

		if (!log_sm)
			_mm256_storeu_ps(q + j, e);
		vs = acc_pd(vs, e);
	}
	if (rest)
	{
		__m256		e = sp_exp_nonpos_avx2(_mm256_sub_ps(load_part(p + n8, rest), vmax));

		if (!log_sm)
			_mm256_maskstore_ps(q + n8, part_mask(rest), e);
		vs = acc_pd(vs, e);
	}
	_mm256_storeu_pd(sd, vs);
	s = (sd[0] + sd[1]) + (sd[2] + sd[3]);
	/* softmax: q * (1 / s); log: x - (max + log s); in double */
	shift = log_sm ? (double) m + log(s) : 1.0 / s;
	for (int64_t j = 0; j < n8; j += 8)
	{
		__m256		v = _mm256_loadu_ps(log_sm ? p + j : q + j);
		__m256d		lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
					hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));

		if (log_sm)
		{
			lo = _mm256_sub_pd(lo, _mm256_set1_pd(shift));
			hi = _mm256_sub_pd(hi, _mm256_set1_pd(shift));
		}
		else
		{
			lo = _mm256_mul_pd(lo, _mm256_set1_pd(shift));
			hi = _mm256_mul_pd(hi, _mm256_set1_pd(shift));
		}
		_mm256_storeu_ps(q + j, _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
	}
	for (int64_t j = n8; j < D; j++)
		q[j] = (float) (log_sm ? (double) p[j] - shift : (double) q[j] * shift);
}
#endif							/* NORM_X86 */

static sp_status
sm_forward(const sp_op_run *r)
{
	const float *x = r->in[0];
	float	   *y = r->out[0];
	bool		log_sm = strcmp(r->n->op->name, "LogSoftmax") == 0;
	sm_params	p;
	sp_status	st;

	if ((st = sm_get(r->g, r->n, &p, r->err)) != SP_OK)
		return st;
#ifdef NORM_X86
	if (p.inner == 1 && sp_cpu_supports(SP_ISA_AVX2))
	{
		for (int64_t o = 0; o < p.outer; o++)
			sm_row_avx2(x + o * p.D, y + o * p.D, p.D, log_sm);
		return SP_OK;
	}
#endif
	for (int64_t o = 0; o < p.outer; o++)
		for (int64_t i = 0; i < p.inner; i++)
			sm_row(x + o * p.D * p.inner + i, y + o * p.D * p.inner + i, p.D, p.inner, log_sm);
	return SP_OK;
}

static double
sm_flops(const sp_graph *g, const sp_node *n)
{
	return 4.0 * (double) sp_shape_numel(&sp_out(g, n, 0)->shape);
}

const sp_op_def sp_op_Softmax = {
	.name = "Softmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.infer = sm_infer, .forward = sm_forward, .flops = sm_flops
};

const sp_op_def sp_op_LogSoftmax = {
	.name = "LogSoftmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.infer = sm_infer, .forward = sm_forward, .flops = sm_flops
};

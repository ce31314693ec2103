/*
 * graph_passes.c: rewrites of a pruned graph (graph_passes.h).  Each pass
 * keeps the graph's results (up to float rounding) and only marks nodes
 * dead, adds constants, or rewires a node's input or output to another
 * value.
 *
 *   check_constants  every float constant a live node reads is finite
 *                    (Clip's bounds may be infinite); not a rewrite.
 *   fold_batchnorm   Conv -> BatchNormalization, the conv's output read by
 *                    nothing else: the normalisation becomes the conv's
 *                    weights and bias (w' = w s, b' = (b - mean) s + beta,
 *                    s = gamma / sqrt(var + eps), computed in double;
 *                    a folded value that overflows float32 is an error).
 *   fuse_activation  Conv / Gemm / MatMul -> Relu or Clip with constant
 *                    bounds: the producer clips its own output (conv.h's
 *                    "_act" attributes), one pass over memory fewer.
 *   fuse_direct_chains  a Conv followed by Conv / Relu / MaxPool /
 *                    AveragePool nodes, each the only reader of the one
 *                    before, that the direct kernels take: one
 *                    SiameseDirectChain node (ops/direct_chain.c) that keeps
 *                    the image channels-last from the first to the last.
 *                    Only where the CPU has the kernels and siamese.nn.isa
 *                    does not ask for the portable path.
 */
#include "nn/graph_passes.h"
#include "nn/op.h"
#include "nn/ops/conv.h"
#include "nn/nn_layers.h"
#include "util/cpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Readers of each value among live nodes, + 1 for a graph output. */
static int *
count_readers(const sp_graph *g)
{
	int		   *c = sp_alloc_array(g->env, (size_t) g->n_values + 1, sizeof(int));

	if (!c)
		return NULL;
	memset(c, 0, sizeof(int) * ((size_t) g->n_values + 1));
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		if (n->dead)
			continue;
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0)
				c[n->in[k]]++;
	}
	for (int i = 0; i < g->n_outputs; i++)
		c[g->outputs[i]]++;
	return c;
}

/* The live node reading value v (caller knows there is exactly one), in run order after position oi. */
static sp_node *
reader_of(sp_graph *g, int v, int oi)
{
	for (int j = oi + 1; j < g->n_order; j++)
	{
		sp_node    *n = &g->nodes[g->order[j]];

		if (n->dead)
			continue;
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] == v)
				return n;
	}
	return NULL;
}

/* Let n produce what dead node r produced. */
static void
take_output(sp_graph *g, sp_node *n, sp_node *r)
{
	int			v = r->out[0];

	n->out[0] = v;
	g->values[v].producer = (int) (n - g->nodes);
	r->dead = true;
}

static bool
is_const_float(const sp_value *v)
{
	return v && v->data && v->dtype == SP_DT_FLOAT;
}

static sp_status
fold_one_bn(sp_graph *g, sp_node *conv, sp_node *bn, sp_error *err)
{
	const sp_value *w = sp_in(g, conv, 1),
			   *b = sp_in(g, conv, 2);
	const sp_value *gamma = sp_in(g, bn, 1),
			   *beta = sp_in(g, bn, 2),
			   *mean = sp_in(g, bn, 3),
			   *var = sp_in(g, bn, 4);
	int64_t		O = w->shape.dim[0],
				per = sp_shape_numel(&w->shape) / O;
	double		eps = sp_attr_float(bn, "epsilon", 1e-5f);
	float	   *nw,
			   *nb;
	char		name[SP_GRAPH_MAX_NAME + 32];
	sp_shape	bs = {1, {O}};
	int			wid,
				bid;
	sp_status	st;

	nw = sp_alloc_array(g->env, (size_t) (O * per), sizeof(float));
	nb = sp_alloc_array(g->env, (size_t) O, sizeof(float));
	if (!nw || !nb)
	{
		sp_free(g->env, nw);
		sp_free(g->env, nb);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory folding batch normalisation");
	}
	for (int64_t o = 0; o < O; o++)
	{
		double		s = (double) ((const float *) gamma->data)[o] /
			sqrt((double) ((const float *) var->data)[o] + eps);
		double		bias = b ? ((const float *) b->data)[o] : 0.0;
		bool		finite = isfinite(s);

		for (int64_t i = 0; i < per; i++)
		{
			nw[o * per + i] = (float) (((const float *) w->data)[o * per + i] * s);
			finite &= isfinite(nw[o * per + i]) != 0;
		}
		nb[o] = (float) ((bias - ((const float *) mean->data)[o]) * s + ((const float *) beta->data)[o]);
		/* float32 overflow here would make every embedding NaN or zero */
		if (!finite || !isfinite(nb[o]))
		{
			sp_free(g->env, nw);
			sp_free(g->env, nb);
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"BatchNormalization node \"%s\" folded into Conv node \"%s\" gives a non-finite "
								"weight or bias for channel %lld (scale / sqrt(var + epsilon) = %g): "
								"the statistics overflow float32",
								bn->name, conv->name, (long long) o, s);
		}
	}
	snprintf(name, sizeof name, "%s\001bn_weight", conv->name);
	wid = sp_graph_value(g, name, err);
	snprintf(name, sizeof name, "%s\001bn_bias", conv->name);
	bid = wid >= 0 ? sp_graph_value(g, name, err) : -1;
	st = bid < 0 ? err->code : sp_graph_set_constant(g, wid, SP_DT_FLOAT, &g->values[conv->in[1]].shape, nw, err);
	if (st == SP_OK)
		st = sp_graph_set_constant(g, bid, SP_DT_FLOAT, &bs, nb, err);
	sp_free(g->env, nw);
	sp_free(g->env, nb);
	if (st != SP_OK)
		return st;
	if (conv->n_in < 3)
	{
		int		   *in = sp_graph_alloc(g, sizeof(int) * 3);

		if (!in)
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory folding batch normalisation");
		in[0] = conv->in[0];
		conv->in = in;
		conv->n_in = 3;
	}
	conv->in[1] = wid;
	conv->in[2] = bid;
	take_output(g, conv, bn);
	return SP_OK;
}

/*
 * One rewrite of a producer n into the node r that alone reads n's output
 * (as its first input): returns SP_OK having rewritten or left the pair, or
 * an error.
 */
typedef sp_status (*pair_rewrite) (sp_graph *g, sp_node *n, sp_node *r, sp_error *err);

/* Apply rewrite to every live node whose first output has exactly one reader. */
static sp_status
rewrite_pairs(sp_graph *g, pair_rewrite rewrite, sp_error *err)
{
	int		   *readers = count_readers(g);
	sp_status	st = SP_OK;

	if (!readers)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory optimising the model graph");
	for (int oi = 0; oi < g->n_order && st == SP_OK; oi++)
	{
		sp_node    *n = &g->nodes[g->order[oi]];
		sp_node    *r;

		if (n->dead || readers[n->out[0]] != 1)
			continue;
		r = reader_of(g, n->out[0], oi);
		if (r && r->in[0] == n->out[0])
			st = rewrite(g, n, r, err);
	}
	sp_free(g->env, readers);
	return st;
}

/* Conv with constant weights -> BatchNormalization with constant parameters. */
static sp_status
fold_batchnorm(sp_graph *g, sp_node *n, sp_node *bn, sp_error *err)
{
	if (strcmp(n->op->name, "Conv") != 0 || !is_const_float(sp_in(g, n, 1)) ||
		(sp_in(g, n, 2) && !is_const_float(sp_in(g, n, 2))))
		return SP_OK;
	if (strcmp(bn->op->name, "BatchNormalization") != 0 || bn->n_out != 1 ||
		!is_const_float(sp_in(g, bn, 1)) || !is_const_float(sp_in(g, bn, 2)) ||
		!is_const_float(sp_in(g, bn, 3)) || !is_const_float(sp_in(g, bn, 4)))
		return SP_OK;
	return fold_one_bn(g, n, bn, err);
}

/* Conv / Gemm / MatMul -> Relu, or Clip with constant bounds. */
static sp_status
fuse_activation(sp_graph *g, sp_node *n, sp_node *r, sp_error *err)
{
	const char *op = n->op->name;
	sp_status	st;

	if ((strcmp(op, "Conv") != 0 && strcmp(op, "Gemm") != 0 && strcmp(op, "MatMul") != 0) ||
		sp_attr_get(n, "_act"))
		return SP_OK;
	if (strcmp(r->op->name, "Clip") == 0)
	{
		const sp_value *a = sp_in(g, r, 1),
				   *b = sp_in(g, r, 2);
		float		lo,
					hi;

		if ((a && !is_const_float(a)) || (b && !is_const_float(b)))
			return SP_OK;
		lo = a ? *(const float *) a->data : sp_attr_float(r, "min", -INFINITY);
		hi = b ? *(const float *) b->data : sp_attr_float(r, "max", INFINITY);
		if ((st = sp_node_set_string(g, n, "_act", "Clip", err)) != SP_OK ||
			(st = sp_node_set_float(g, n, "_act_min", lo, err)) != SP_OK ||
			(st = sp_node_set_float(g, n, "_act_max", hi, err)) != SP_OK)
			return st;
	}
	else if (strcmp(r->op->name, "Relu") == 0)
	{
		if ((st = sp_node_set_string(g, n, "_act", "Relu", err)) != SP_OK)
			return st;
	}
	else
		return SP_OK;
	take_output(g, n, r);
	return SP_OK;
}

/*
 * Every float constant a live node reads must be finite: a NaN or infinite
 * weight would silently poison every embedding (the layer-list loader checks
 * its tensors the same way).  Clip's bounds may be infinite.
 */
static sp_status
check_constants(const sp_graph *g, sp_error *err)
{
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];
		bool		clip = strcmp(n->op->name, "Clip") == 0;

		if (n->dead)
			continue;
		for (int k = 0; k < n->n_in; k++)
		{
			const sp_value *v = n->in[k] >= 0 ? &g->values[n->in[k]] : NULL;
			int64_t		numel;

			if (!is_const_float(v))
				continue;
			numel = sp_shape_numel(&v->shape);
			for (int64_t e = 0; e < numel; e++)
			{
				float		x = ((const float *) v->data)[e];

				if (isnan(x) || (isinf(x) && !(clip && k > 0)))
					return sp_set_error(err, SP_ERR_INVALID_ARG,
										"%s node \"%s\": constant \"%s\" contains %s at index %lld",
										n->op->name, n->name, v->name, isnan(x) ? "NaN" : "infinity",
										(long long) e);
			}
		}
	}
	return SP_OK;
}

/* Position in run order of the live node reading value v after position oi, or -1. */
static int
reader_pos(const sp_graph *g, int v, int oi)
{
	for (int j = oi + 1; j < g->n_order; j++)
	{
		const sp_node *n = &g->nodes[g->order[j]];

		if (n->dead)
			continue;
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] == v)
				return j;
	}
	return -1;
}

/* Turn node n (a Conv) into the chain of members[0..count) (members[0] == n). */
static sp_status
make_chain(sp_graph *g, sp_node *n, sp_node **members, int count, const int *steps, const int *params,
		   int n_params, sp_nn_direct *plan, sp_error *err)
{
	int		   *in = sp_graph_alloc(g, sizeof(int) * (size_t) (n_params + 1));
	size_t		fused_len = 1;
	char	   *fused;
	sp_status	st;

	for (int i = 0; i < count; i++)
		fused_len += strlen(members[i]->op->name) + 1;
	fused = sp_graph_alloc(g, fused_len);
	if (!in || !fused)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory optimising the model graph");
	fused[0] = '\0';
	for (int i = 0; i < count; i++)
	{
		if (i > 0)
			strcat(fused, " ");
		strcat(fused, members[i]->op->name);
	}
	in[0] = n->in[0];
	memcpy(in + 1, params, sizeof(int) * (size_t) n_params);
	if ((st = sp_node_set_string(g, n, "_fused", fused, err)) != SP_OK)
		return st;
	{
		int64_t    *s64 = sp_alloc_array(g->env, (size_t) count * SP_CHAIN_STEP_INTS, sizeof(int64_t));

		if (!s64)
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory optimising the model graph");
		for (int i = 0; i < count * SP_CHAIN_STEP_INTS; i++)
			s64[i] = steps[i];
		st = sp_node_set_ints(g, n, "steps", s64, count * SP_CHAIN_STEP_INTS, err);
		sp_free(g->env, s64);
		if (st != SP_OK)
			return st;
	}
	n->op = &sp_op_SiameseDirectChain;
	n->in = in;
	n->n_in = 1 + n_params;
	n->state = plan;
	for (int i = 1; i < count; i++)
		take_output(g, n, members[i]);
	return SP_OK;
}

static sp_status
fuse_direct_chains(sp_graph *g, sp_error *err)
{
	const int	max_steps = 4 * SP_CHAIN_MAX_CONVS;
	int		   *readers,
			   *steps,
			   *params;
	sp_node   **members;
	sp_status	st = SP_OK;

	if (sp_nn_default_isa() == SP_ISA_SCALAR || !sp_nn_direct_available(sp_nn_default_isa()))
		return SP_OK;
	readers = count_readers(g);
	steps = sp_alloc_array(g->env, (size_t) max_steps * SP_CHAIN_STEP_INTS, sizeof(int));
	params = sp_alloc_array(g->env, 2 * (size_t) SP_CHAIN_MAX_CONVS, sizeof(int));
	members = sp_alloc_array(g->env, (size_t) max_steps, sizeof(sp_node *));
	if (!readers || !steps || !params || !members)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory optimising the model graph");
		goto done;
	}
	for (int oi = 0; oi < g->n_order && st == SP_OK; oi++)
	{
		sp_node    *n = &g->nodes[g->order[oi]];
		int			count = 0,
					n_params = 0,
					pos = oi;
		sp_nn_direct *plan = NULL;

		if (n->dead || strcmp(n->op->name, "Conv") != 0 || !sp_direct_chain_step(g, n, steps))
			continue;
		members[count++] = n;
		params[n_params++] = n->in[1];
		params[n_params++] = n->n_in > 2 ? n->in[2] : -1;
		while (count < max_steps && readers[members[count - 1]->out[0]] == 1)
		{
			int			rp = reader_pos(g, members[count - 1]->out[0], pos);
			sp_node    *r = rp >= 0 ? &g->nodes[g->order[rp]] : NULL;
			int		   *ints = steps + (size_t) count * SP_CHAIN_STEP_INTS;
			bool		conv;

			if (!r || r->in[0] != members[count - 1]->out[0] || !sp_direct_chain_step(g, r, ints))
				break;
			conv = strcmp(r->op->name, "Conv") == 0;
			if (conv && n_params >= 2 * SP_CHAIN_MAX_CONVS)
				break;
			if (conv)
			{
				params[n_params++] = r->in[1];
				params[n_params++] = r->n_in > 2 ? r->in[2] : -1;
			}
			members[count++] = r;
			pos = rp;
		}
		/* one convolution without a ReLU gains nothing over the Conv node's own kernels */
		if (count == 1 && steps[4] == 0)
			continue;
		if ((st = sp_direct_chain_plan(g, &g->values[n->in[0]].shape, steps, count, params, &plan,
									   err)) != SP_OK)
			break;
		if (!plan)
			continue;
		if ((st = make_chain(g, n, members, count, steps, params, n_params, plan, err)) != SP_OK)
			sp_nn_direct_free(g->env, plan);
	}
done:
	sp_free(g->env, readers);
	sp_free(g->env, steps);
	sp_free(g->env, params);
	sp_free(g->env, members);
	return st;
}

sp_status
sp_graph_optimise(sp_graph *g, sp_error *err)
{
	sp_status	st;

	if ((st = check_constants(g, err)) != SP_OK)
		return st;
	if ((st = rewrite_pairs(g, fold_batchnorm, err)) != SP_OK)
		return st;
	if ((st = rewrite_pairs(g, fuse_activation, err)) != SP_OK)
		return st;
	return fuse_direct_chains(g, err);
}

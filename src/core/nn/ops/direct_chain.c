/*
 * direct_chain.c: SiameseDirectChain, a run of Conv / Relu / MaxPool /
 * AveragePool nodes that executes as one node on the channels-last direct and
 * Winograd kernels of nn_conv_direct.c.
 *
 * Why: each Conv node on its own converts NCHW to the kernels' padded
 * channels-last layout and back, and a separate pool or ReLU node walks the
 * whole activation again.  In a chain the image is converted once, stays
 * channels-last with the zero border the next convolution needs, gets its
 * ReLU while the results are in registers and is pooled over channel
 * vectors; the layer-list CNNs (one chain from the input to the flatten) ran
 * about twice as fast this way as node by node.
 *
 * The node is made by the fuse_direct_chains pass (graph_passes.c), never
 * read from a model file (the op is internal: sp_graph_add_node refuses it).
 * Its inputs are X, then the weight and bias of every convolution in order
 * (an absent bias is an omitted input); attribute "steps" holds 5 ints per
 * step: kind (0 conv, 1 relu, 2 max pool, 3 average pool), kernel, stride,
 * padding, fused ReLU; "_fused" names the nodes it replaced, for the op
 * summary.  The pass builds the plan (n->state, sp_direct_chain_plan)
 * because only building it tells whether the kernels take the chain.
 */
#include "nn/op.h"
#include "nn/ops/conv.h"
#include "nn/nn_layers.h"
#include "util/cpu.h"

#include <math.h>
#include <string.h>

enum
{
	STEP_CONV = 0,
	STEP_RELU = 1,
	STEP_MAXPOOL = 2,
	STEP_AVGPOOL = 3,
	STEP_INTS = SP_CHAIN_STEP_INTS
};

/* Square window, equal strides, equal pads, no dilation: what the kernels take. */
static bool
square_window(const sp_window *w)
{
	return w->kh == w->kw && w->sh == w->sw && w->dh == 1 && w->dw == 1 &&
		w->pt == w->pl && w->pt == w->pb && w->pt == w->pr && w->pt < w->kh &&
		w->kh <= 11 && w->sh <= 65536 && w->C <= 65536 && w->H <= 65536 && w->W <= 65536;
}

bool
sp_direct_chain_step(const sp_graph *g, const sp_node *n, int *ints)
{
	const sp_value *x = sp_in(g, n, 0);
	const char *op = n->op->name;
	int64_t		kernel[2];
	sp_window	w;
	sp_error	err;

	if (!x || x->shape.rank != 4 || x->dtype != SP_DT_FLOAT || n->n_out != 1)
		return false;
	memset(ints, 0, sizeof(int) * STEP_INTS);
	if (strcmp(op, "Relu") == 0)
	{
		ints[0] = STEP_RELU;
		return true;
	}
	if (strcmp(op, "Conv") == 0)
	{
		const sp_value *wv = sp_in(g, n, 1),
				   *b = sp_in(g, n, 2);
		const char *act = sp_attr_string(n, "_act", NULL);

		if (!wv || !wv->data || wv->shape.rank != 4 || (b && !b->data) ||
			sp_attr_int(n, "group", 1) != 1 || wv->shape.dim[0] > 65536)
			return false;
		if (act && !(strcmp(act, "Relu") == 0 ||
					 (strcmp(act, "Clip") == 0 && sp_attr_float(n, "_act_min", -INFINITY) == 0.0f &&
					  isinf(sp_attr_float(n, "_act_max", INFINITY)))))
			return false;
		kernel[0] = wv->shape.dim[2];
		kernel[1] = wv->shape.dim[3];
		if (sp_window_geometry(g, n, &x->shape, kernel, false, &w, &err) != SP_OK ||
			!square_window(&w) || w.kh < 2)
			return false;		/* 1x1 convolutions are GEMMs */
		ints[0] = STEP_CONV;
		ints[4] = act != NULL;
	}
	else if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0)
	{
		const int64_t *ks;
		bool		maxp = op[0] == 'M';

		if (sp_attr_ints(n, "kernel_shape", &ks) != 2 || sp_attr_int(n, "ceil_mode", 0) != 0)
			return false;
		kernel[0] = ks[0];
		kernel[1] = ks[1];
		if (sp_window_geometry(g, n, &x->shape, kernel, false, &w, &err) != SP_OK || !square_window(&w))
			return false;
		/* the kernels divide by k*k: ONNX's default excludes the padding */
		if (!maxp && w.pt > 0 && sp_attr_int(n, "count_include_pad", 0) == 0)
			return false;
		ints[0] = maxp ? STEP_MAXPOOL : STEP_AVGPOOL;
	}
	else
		return false;
	ints[1] = (int) w.kh;
	ints[2] = (int) w.sh;
	ints[3] = (int) w.pt;
	return true;
}

/*
 * The op descriptions of the kernels from the steps, the input shape and the
 * constant inputs (weights as the node holds them).
 */
static bool
steps_to_ops(const sp_graph *g, const sp_shape *x, const int *steps, int n_steps, const int *params,
			 sp_nn_op *ops)
{
	int			C = (int) x->dim[1],
				H = (int) x->dim[2],
				W = (int) x->dim[3],
				next_in = 0;

	for (int i = 0; i < n_steps; i++)
	{
		const int  *s = steps + (size_t) i * STEP_INTS;
		sp_nn_op   *op = &ops[i];

		memset(op, 0, sizeof(*op));
		op->g.C = op->g.O = C;
		op->g.H = op->g.OH = H;
		op->g.W = op->g.OW = W;
		op->g.k = (int) s[1];
		op->g.s = (int) s[2];
		op->g.p = (int) s[3];
		if (s[0] == STEP_RELU)
		{
			op->kind = SP_OP_RELU;
			continue;
		}
		if (op->g.k < 1 || op->g.s < 1 || op->g.p < 0 || op->g.p >= op->g.k)
			return false;
		op->g.OH = (H + 2 * op->g.p - op->g.k) / op->g.s + 1;
		op->g.OW = (W + 2 * op->g.p - op->g.k) / op->g.s + 1;
		if (s[0] == STEP_CONV)
		{
			const sp_value *wv = params[next_in] >= 0 ? &g->values[params[next_in]] : NULL,
					   *b = params[next_in + 1] >= 0 ? &g->values[params[next_in + 1]] : NULL;

			next_in += 2;
			if (!wv || !wv->data || wv->shape.rank != 4 || wv->shape.dim[1] != C ||
				wv->shape.dim[2] != op->g.k || wv->shape.dim[3] != op->g.k)
				return false;
			op->kind = SP_OP_CONV;
			op->g.O = (int) wv->shape.dim[0];
			op->w = wv->data;
			op->b = b ? b->data : NULL;
			op->relu = s[4] != 0;
		}
		else
			op->kind = s[0] == STEP_MAXPOOL ? SP_OP_MAXPOOL : SP_OP_AVGPOOL;
		C = op->g.O;
		H = op->g.OH;
		W = op->g.OW;
		if (H < 1 || W < 1)
			return false;
	}
	return true;
}

sp_status
sp_direct_chain_plan(const sp_graph *g, const sp_shape *x, const int *steps, int n_steps,
					 const int *params, sp_nn_direct **out, sp_error *err)
{
	sp_nn_op   *ops;
	sp_status	st;

	*out = NULL;
	if (x->rank != 4 || n_steps < 1)
		return SP_OK;
	ops = sp_alloc_array(g->env, (size_t) n_steps, sizeof(sp_nn_op));
	if (!ops)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory preparing the model graph");
	st = SP_OK;
	if (steps_to_ops(g, x, steps, n_steps, params, ops))
		st = sp_nn_direct_create(g->env, ops, n_steps, (int) x->dim[1], (int) x->dim[2], (int) x->dim[3],
								 sp_nn_default_isa(), out, err);
	sp_free(g->env, ops);
	return st;
}

static sp_status
chain_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	/* made after inference by a pass, never inferred */
	(void) g;
	return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "the operator is internal to siamese_pg");
}

static sp_status
chain_prepare(sp_graph *g, sp_node *n, sp_error *err)
{
	(void) g;
	if (!n->state)
		return sp_op_error(err, SP_ERR_INTERNAL, n, "no plan");
	n->scratch = sp_nn_direct_scratch_bytes(n->state);
	return SP_OK;
}

static sp_status
chain_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0),
			   *y = sp_out(r->g, r->n, 0);
	const int64_t in_per = sp_shape_numel(&x->shape) / x->shape.dim[0],
				out_per = sp_shape_numel(&y->shape) / y->shape.dim[0];

	for (int64_t b = 0; b < x->shape.dim[0]; b++)
		if (!sp_nn_direct_forward(r->n->state, r->env, (const float *) r->in[0] + b * in_per,
								  (float *) r->out[0] + b * out_per, r->scratch))
			return sp_op_interrupted(r) != SP_OK ? SP_ERR_INTERRUPTED :
				sp_set_error(r->err, SP_ERR_INTERRUPTED, "canceled");
	return SP_OK;
}

static void
chain_free_state(const sp_env *env, sp_node *n)
{
	sp_nn_direct_free(env, n->state);
	n->state = NULL;
}

static double
chain_flops(const sp_graph *g, const sp_node *n)
{
	return n->state ? sp_nn_direct_flops(n->state) * (double) sp_in(g, n, 0)->shape.dim[0] : 0.0;
}

const sp_op_def sp_op_SiameseDirectChain = {
	"SiameseDirectChain", 1, 1 + 2 * 256, 1, 1, SP_OP_NO_FOLD | SP_OP_INTERNAL,
	chain_infer, chain_prepare, chain_forward, chain_free_state, chain_flops,
	NULL						/* inference only: training graphs are never fused */
};

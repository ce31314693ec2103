/*
 * conv.h: what the window ops (Conv, MaxPool, AveragePool) and the ops that
 * take a fused activation (Conv, Gemm, MatMul) share, inside nn/ops/.
 */
#ifndef SP_NN_OPS_CONV_H
#define SP_NN_OPS_CONV_H

#include "nn/graph.h"

/* A sliding window over N x C x H x W (1-D inputs run with H = 1). */
typedef struct sp_window
{
	int64_t		N,
				C,
				H,
				W;
	int64_t		kh,
				kw,
				sh,
				sw,
				dh,
				dw;
	int64_t		pt,
				pl,
				pb,
				pr;				/* pads: top, left, bottom, right */
	int64_t		OH,
				OW;
} sp_window;

/*
 * The window of node n over input shape x with the given kernel (spatial
 * dims, 1 or 2 of them) from its strides, dilations, pads and auto_pad
 * attributes; ceil_mode for pools.
 */
extern sp_status sp_window_geometry(const sp_graph *g, const sp_node *n, const sp_shape *x,
									const int64_t *kernel, bool ceil_mode, sp_window *w,
									sp_error *err);
extern void sp_window_out_shape(const sp_window *w, int rank, int64_t channels, sp_shape *out);

/* An activation fused into the op that feeds it (graph_passes.c sets "_act"). */
typedef enum sp_act_kind
{
	SP_ACT_NONE = 0,
	SP_ACT_CLIP					/* Relu = clip to [0, inf) */
} sp_act_kind;

typedef struct sp_fused_act
{
	sp_act_kind kind;
	float		lo,
				hi;
} sp_fused_act;

extern void sp_fused_act_get(const sp_node *n, sp_fused_act *act);
extern void sp_fused_act_apply(const sp_fused_act *act, float *y, size_t len);

/* conv_depthwise.c: one depthwise plane (bias and activation fused), and bias + activation in place. */
extern size_t sp_depthwise_scratch_bytes(const sp_window *w);
extern void sp_depthwise_plane(const float *x, const sp_window *w, const float *k, float bias,
							   const sp_fused_act *act, float *y, void *scratch);
extern void sp_bias_act(float *y, size_t n, float bias, const sp_fused_act *act);

/*
 * Direct chains (direct_chain.c, made by graph_passes.c): can node n be a
 * step of a SiameseDirectChain?  Fills ints[SP_CHAIN_STEP_INTS] (kind,
 * kernel, stride, padding, fused ReLU).  sp_direct_chain_plan builds the
 * kernels' plan for steps over input shape x, params holding the weight and
 * bias value ids of each convolution (-1: no bias); *out stays NULL when
 * the kernels do not take the chain.
 */
struct sp_nn_direct;
#define SP_CHAIN_STEP_INTS 5
#define SP_CHAIN_MAX_CONVS 256
extern bool sp_direct_chain_step(const sp_graph *g, const sp_node *n, int *ints);
extern sp_status sp_direct_chain_plan(const sp_graph *g, const sp_shape *x, const int *steps, int n_steps,
									  const int *params, struct sp_nn_direct **out, sp_error *err);
extern const struct sp_op_def sp_op_SiameseDirectChain;

#endif							/* SP_NN_OPS_CONV_H */

/*
 * nn_layers.h: internal to the nn_* files.  The model and workspace structs
 * behind nn_model.h's opaque types, the layer-list op descriptions the
 * format-1 validator builds and the direct kernels plan from (sp_nn_op),
 * the direct convolution kernels (nn_conv_direct.c), and the bridges
 * between layer lists and the operator graph every model runs on.
 */
#ifndef SP_NN_LAYERS_H
#define SP_NN_LAYERS_H

#include "nn/graph.h"
#include "nn/nn_model.h"
#include "util/safetensors.h"

typedef enum sp_nn_op_kind
{
	SP_OP_CONV = 0,
	SP_OP_LINEAR,
	SP_OP_AFFINE,				/* unfolded batch norm in eval mode: x*scale + shift */
	SP_OP_RELU,
	SP_OP_MAXPOOL,
	SP_OP_AVGPOOL,
	SP_OP_FLATTEN,
	SP_OP_L2NORM
} sp_nn_op_kind;

/* Geometry of a conv or pool layer. */
typedef struct sp_nn_geom
{
	int			C,
				H,
				W;				/* input */
	int			O,
				OH,
				OW;				/* output (pools: O == C) */
	int			k,
				s,
				p;
} sp_nn_geom;

/*
 * The geometry a config layer describes.  The inference op list
 * (nn_model.c) takes it from here; the graph the config compiles into
 * (sp_nn_compile_layers) gets the same kernel, stride and padding as
 * attributes.
 */
static inline sp_nn_geom
sp_nn_geom_of_layer(const sp_nn_layer *l)
{
	sp_nn_geom	g;

	g.C = l->in_c;
	g.H = l->in_h;
	g.W = l->in_w;
	g.O = l->out_c;
	g.OH = l->out_h;
	g.OW = l->out_w;
	g.k = l->kernel;
	g.s = l->stride;
	g.p = l->padding;
	return g;
}

typedef struct sp_nn_op
{
	sp_nn_op_kind kind;
	sp_nn_geom	g;				/* spatial ops; dense ops use C = in, O = out, H=W=OH=OW=1 */
	bool		dense;
	bool		relu;			/* ReLU fused after this op */
	const float *w;				/* conv [O][C*k*k], linear [O][C], affine scale[C] */
	const float *b;				/* bias [O] or NULL, affine shift[C] */
} sp_nn_op;

struct sp_nn_model
{
	sp_nn_config *cfg;
	int			n_ops;
	sp_nn_op   *ops;
	float	   *params;			/* one block holding every op's weights */
	size_t		n_params;
	size_t		in_size;		/* C*H*W of the input */
	char		hash[65];
	sp_graph   *graph;			/* the prepared operator graph (ops unused) */
	int			isa;			/* sp_nn_default_isa() when the graph was prepared */
	bool		direct;			/* some node runs on the direct / Winograd kernels */
};

/* Direct channels-last path for the spatial part (nn_conv_direct.c). */
typedef struct sp_nn_direct sp_nn_direct;

struct sp_nn_workspace
{
	const sp_env *env;
	const sp_nn_model *model;	/* the model it was sized for */
	int			max_batch;
	float	   *input;			/* max_batch * in_size (embed_images) */
	void	   *mem;
	void	   *arena;			/* the graph's run memory (64-byte aligned) */
	void	   *arena_mem;
};

/*
 * One convolution of the operator graph on the direct/Winograd kernels
 * (nn_conv_direct.c): square kernel k, stride s, symmetric zero padding p,
 * no groups or dilation; weights OIHW.  The input is repacked to the
 * kernels' padded channels-last layout and the output back to NCHW in
 * sp_dconv_run, with bias added and no activation; it polls env between
 * bands of rows and returns false when interrupted.  *out stays NULL (SP_OK)
 * when the CPU or the geometry does not suit the kernels.
 */
typedef struct sp_dconv sp_dconv;
extern sp_status sp_dconv_create(const sp_env *env, int C, int H, int W, int O, int k, int s, int p,
								 const float *w, const float *b, int isa, sp_dconv **out, sp_error *err);
extern size_t sp_dconv_scratch_bytes(const sp_dconv *d);
extern const char *sp_dconv_name(const sp_dconv *d);
extern bool sp_dconv_run(const sp_dconv *d, const sp_env *env, const float *x, float *y, void *scratch);
extern void sp_dconv_free(const sp_env *env, sp_dconv *d);

/* Format 2 models (nn_graph_model.c). */
extern sp_status sp_nn_graph_model_bind(const sp_env *env, sp_nn_model *m, const sp_safetensors *st,
										sp_error *err);
extern size_t sp_nn_graph_workspace_bytes(const sp_nn_model *m);
/*
 * A format-1 config (a layer list, validated) as an unprepared operator
 * graph over the model's tensors: conv2d -> Conv, batchnorm ->
 * BatchNormalization (folded into the conv at prepare, unless the graph is
 * prepared for training: nn/train.c), linear -> Gemm,
 * pools, flatten, relu, l2norm -> SiameseL2Norm.
 */
extern sp_status sp_nn_compile_layers(const sp_env *env, const sp_nn_config *cfg, const sp_safetensors *st,
									  sp_graph **out, sp_error *err);
/* Any config (format 1 compiled, format 2 read) as an unprepared graph over st. */
extern sp_status sp_nn_config_graph(const sp_env *env, const sp_nn_config *cfg, const sp_safetensors *st,
									sp_graph **out, sp_error *err);
extern sp_status sp_nn_graph_forward(const sp_nn_model *m, const sp_env *env, void *arena,
									 const float *input, int batch, float *out, sp_error *err);

/* Rows of d values scaled to unit length like torch.nn.functional.normalize. */
extern void sp_nn_l2norm_rows(const float *x, int rows, int d, float *y);

/*
 * Direct path (nn_conv_direct.c): a plan for a chain of spatial ops (conv,
 * max/avg pool, relu) on one image, with repacked weights (copied).
 * The chain's input is in_c x in_h x in_w.  isa: SP_ISA_AUTO (best
 * available), SP_ISA_AVX2 or SP_ISA_AVX512 (util/cpu.h); *out is left NULL,
 * with SP_OK, when the CPU lacks the ISA or the chain gains nothing (no
 * convolution) or would need huge padded buffers: the caller then keeps its
 * other path.  A run needs sp_nn_direct_scratch_bytes() of scratch.
 */
extern sp_status sp_nn_direct_create(const sp_env *env, const sp_nn_op *ops, int n_ops,
									 int in_c, int in_h, int in_w, int isa,
									 sp_nn_direct **out, sp_error *err);
/* or-ed into isa (tests): direct convolution only, no Winograd F(2x2, 3x3) */
#define SP_NN_DIRECT_NO_WINOGRAD 0x100
/* Does this CPU have kernels for isa (SP_ISA_AUTO: any)? */
extern bool sp_nn_direct_available(int isa);
extern void sp_nn_direct_free(const sp_env *env, sp_nn_direct *d);
extern size_t sp_nn_direct_scratch_bytes(const sp_nn_direct *d);
/* Multiply-adds x 2 of the chain's convolutions, per image. */
extern double sp_nn_direct_flops(const sp_nn_direct *d);
/*
 * The chain on one NCHW image, its output flattened (c, y, x) into rows,
 * i.e. NCHW.  Polls env between ops: false when interrupted.
 */
extern bool sp_nn_direct_forward(const sp_nn_direct *d, const sp_env *env, const float *in, float *rows,
								 void *scratch);
/* "direct-avx512" or "direct-avx2": the kernels isa (SP_ISA_AUTO: the best) picks; "im2col" if none. */
extern const char *sp_nn_direct_path_name(int isa);


#endif							/* SP_NN_LAYERS_H */

/*
 * nn_layers.h: internal to the nn_* files.  The inference model's op list
 * and the layer kernels of the layer-list forward pass (nn_forward.c).  The
 * trainer runs on the operator graph (nn/train.c), whose ops have their own
 * kernels.
 *
 * Activation layout inside the convolutional part is "CBHW": for a group of
 * B images, channel c of image b is the plane at ((c * B) + b) * H * W.  An
 * im2col matrix for nb images of the group then has the nb images side by
 * side as columns, so one GEMM  W[O x C*k*k] * col[C*k*k x nb*OH*OW]  writes
 * the output directly in the same CBHW layout (no transposes between
 * layers).  Dense layers (after flatten) use rows: [B][features], with the
 * flatten order of PyTorch (c, y, x).
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
	int			first_dense;	/* index of the first dense op (n_ops if none) */
	size_t		in_size;		/* C*H*W of the input */
	size_t		flat_size;		/* features after the convolutional part */
	size_t		max_act;		/* floats per image, largest spatial activation */
	size_t		max_col;		/* floats per image, largest im2col matrix */
	size_t		max_dense;		/* largest dense row */
	char		hash[65];
	sp_graph   *graph;			/* format 2: the prepared operator graph (ops unused) */
};

/* Direct channels-last path for the spatial part (nn_conv_direct.c). */
typedef struct sp_nn_direct sp_nn_direct;

struct sp_nn_workspace
{
	const sp_env *env;
	const sp_nn_model *model;	/* the model it was sized for */
	int			max_batch;
	int			block;
	float	   *input;			/* max_batch * in_size (embed_images) */
	float	   *act[2];			/* block * max_act each */
	float	   *col;			/* block * max_col */
	float	   *dense[2];		/* max_batch * max(flat, max_dense) each */
	void	   *mem;			/* single allocation */
	sp_nn_direct *direct;		/* direct-convolution plan, or NULL: im2col path */
	void	   *arena;			/* format 2: the graph's run memory (64-byte aligned) */
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
extern sp_status sp_nn_graph_forward(const sp_nn_model *m, const sp_env *env, void *arena,
									 const float *input, int batch, float *out, sp_error *err);

/* Geometry helpers. */
extern size_t sp_nn_col_rows(const sp_nn_geom *g);	/* C*k*k */
extern bool sp_nn_conv_needs_im2col(const sp_nn_geom *g);

/* Kernels.  x/y in CBHW layout with Btot images; work on images [b0, b0+nb). */
extern void sp_nn_im2col(const float *x, const sp_nn_geom *g, int Btot, int b0, int nb, float *col);
extern void sp_nn_conv_forward(const float *x, const sp_nn_geom *g, int Btot, int b0, int nb,
							   const float *w, const float *b, bool relu, float *y, float *col);
/* Pools over nplanes contiguous H x W planes; argmax (nullable) records the input index. */
extern void sp_nn_maxpool_forward(const float *x, const sp_nn_geom *g, size_t nplanes,
								  float *y, int32_t *argmax);
extern void sp_nn_avgpool_forward(const float *x, const sp_nn_geom *g, size_t nplanes, float *y);
/* Per-channel affine on CBHW (hw = H*W) or on rows (hw = 1, Btot = rows: layout [rows][C]). */
extern void sp_nn_affine_cbhw(float *x, int C, int Btot, size_t hw, const float *scale,
							  const float *shift, bool relu);
extern void sp_nn_affine_rows(float *x, int rows, int C, const float *scale, const float *shift,
							  bool relu);
extern void sp_nn_relu(float *x, size_t n);
extern void sp_nn_linear_forward(const float *x, int rows, int in, const float *w, const float *b,
								 int out, bool relu, float *y);
extern void sp_nn_l2norm_rows(const float *x, int rows, int d, float *y);
/* Layout changes. */
extern void sp_nn_nchw_to_cbhw(const float *in, int C, size_t hw, int nb, int Btot, int b0, float *x);
/* Images [b0, b0+nb) of x to rows: image b0+i goes to rows + i*C*hw. */
extern void sp_nn_cbhw_to_rows(const float *x, int C, size_t hw, int Btot, int b0, int nb,
							   float *rows);

/*
 * Direct path (nn_conv_direct.c): a plan with repacked weights and its own
 * per-image activation buffers.  isa: SP_ISA_AUTO (best available),
 * SP_ISA_AVX2 or SP_ISA_AVX512 (distance.h); *out is left NULL, with SP_OK,
 * when the CPU lacks the ISA or the model gains nothing (no convolution) or
 * would need huge padded buffers: the caller then keeps the im2col path.
 */
extern sp_status sp_nn_direct_create(const sp_env *env, const sp_nn_model *m, int isa,
									 sp_nn_direct **out, sp_error *err);
/* or-ed into isa (tests): direct convolution only, no Winograd F(2x2, 3x3) */
#define SP_NN_DIRECT_NO_WINOGRAD 0x100
extern void sp_nn_direct_free(const sp_env *env, sp_nn_direct *d);
/*
 * The spatial part of one NCHW image, flattened (c, y, x) into rows
 * (flat_size floats).  Polls env between layers: false when interrupted.
 */
extern bool sp_nn_direct_forward(const sp_nn_direct *d, const sp_env *env, const float *in, float *rows);
/* "direct-avx512", "direct-avx2" or "im2col" (d NULL). */
extern const char *sp_nn_direct_isa_name(const sp_nn_direct *d);


#endif							/* SP_NN_LAYERS_H */

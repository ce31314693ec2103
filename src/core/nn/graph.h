/*
 * graph.h: the operator graph every model runs as.
 *
 * A model is a DAG of nodes (ops) over named values (tensors).  A value is a
 * graph input, a constant (an initializer, a Constant node's output, or
 * anything constant folding computed) or the output of a node.  Graphs come
 * from ONNX files (nn/onnx_import.c), from the project's own graph JSON
 * (nn/graph_json.c) and from the layer-list configs of format 1
 * (nn/nn_model.c); they all run here.
 *
 * sp_graph_prepare() turns a built graph into something runnable, once:
 *   1. binds the shapes of the graph inputs (the batch dimension of an
 *      imported model is bound to 1: the engine runs one image at a time);
 *   2. sorts the nodes topologically (cycles and dangling names are errors);
 *   3. infers every value's dtype and shape through the op table (nn/op.h),
 *      folding constants on the way: a node whose inputs are all constant is
 *      computed at load, so the Shape/Gather/Concat chains that exporters
 *      emit in front of a Reshape become constants;
 *   4. drops nodes the graph outputs do not need, folds batch normalisation
 *      into the convolution before it and fuses activations into
 *      convolutions and GEMMs (not in a training graph, below);
 *   5. lets each op prepare (choose a kernel, repack weights);
 *   6. plans memory: every runtime value gets an offset in one arena, reusing
 *      the bytes of values that are dead, so the arena is the planned peak of
 *      activation memory per image.
 * sp_graph_run() then executes the nodes in order on caller-provided arena
 * memory; it allocates nothing, so one prepared graph can serve several
 * workspaces.  Interrupts are polled between nodes and inside long ops.
 *
 * Training (the trainer of nn_train.h runs on this too).  Constants the
 * caller binds as parameters (sp_graph_bind_param) become variables: their
 * memory is the caller's and may change between runs, so nothing folds or
 * repacks them.  SP_GRAPH_PREPARE_TRAIN then prepares differently: the batch
 * dimension is bound to the trainer's batch, batch norm is not folded and
 * activations are not fused (each op keeps its own backward), every value
 * keeps its own arena block (backward reads the activations of the forward)
 * followed by a mirror block for its gradient, and each live node that a
 * gradient must flow through needs a backward in the op table.
 * sp_graph_backward() then runs the ops' backwards in reverse order through
 * the same pointer tables as the forward; the nodes are dispatched only
 * through the op table.
 */
#ifndef SP_NN_GRAPH_H
#define SP_NN_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/sp_common.h"

/* Element types (ONNX TensorProto.DataType codes). */
typedef enum sp_dtype
{
	SP_DT_UNDEFINED = 0,
	SP_DT_FLOAT = 1,
	SP_DT_INT64 = 7,
	SP_DT_BOOL = 9				/* one byte, 0 or 1 */
} sp_dtype;

#define SP_MAX_RANK 8

/* Limits that keep hostile models bounded (checked at prepare). */
#define SP_GRAPH_MAX_NODES 100000
#define SP_GRAPH_MAX_VALUES 400000
#define SP_GRAPH_MAX_ELEMENTS ((int64_t) 1 << 31)	/* per tensor */
#define SP_GRAPH_MAX_NAME 512

typedef struct sp_shape
{
	int			rank;
	int64_t		dim[SP_MAX_RANK];
} sp_shape;

typedef struct sp_value
{
	char	   *name;
	sp_dtype	dtype;
	sp_shape	shape;
	bool		known;			/* dtype and shape inferred */
	void	   *data;			/* constant contents, else NULL */
	int			producer;		/* node index; -1: graph input or constant */
	bool		is_input;		/* a graph input fed at run time */
	/* memory plan of a runtime value */
	int			last_use;		/* index (in run order) of the last node reading it */
	int64_t		offset;			/* byte offset in the arena; -1: none */
	/* training graphs */
	bool		variable;		/* a bound parameter: constant per run, never folded */
	bool		needs_grad;		/* a trainable parameter or computed from one */
	float	   *grad;			/* a trainable parameter's gradient (the caller's) */
	size_t		bytes;			/* planned arena bytes (sp_graph_set_batch checks) */
} sp_value;

/* Attribute types (ONNX AttributeProto.AttributeType codes). */
typedef enum sp_attr_type
{
	SP_ATTR_FLOAT = 1,
	SP_ATTR_INT = 2,
	SP_ATTR_STRING = 3,
	SP_ATTR_TENSOR = 4,
	SP_ATTR_FLOATS = 6,
	SP_ATTR_INTS = 7
} sp_attr_type;

typedef struct sp_attr
{
	char	   *name;
	sp_attr_type type;
	int64_t		i;
	float		f;
	char	   *s;
	int			n;				/* FLOATS / INTS length */
	int64_t    *ints;
	float	   *floats;
	int			tensor;			/* TENSOR: a constant value id */
} sp_attr;

struct sp_op_def;

typedef struct sp_node
{
	const struct sp_op_def *op;
	char	   *name;
	int			n_in;
	int			n_out;
	int		   *in;				/* value ids; -1 = an omitted optional input */
	int		   *out;
	int			n_attrs;
	sp_attr    *attrs;
	void	   *state;			/* the op's prepared state (prepare / free_state) */
	size_t		scratch;		/* bytes of scratch its forward needs */
	bool		dead;			/* removed by a pass */
} sp_node;

typedef struct sp_graph
{
	const sp_env *env;
	int			n_values,
				cap_values;
	sp_value   *values;
	int			n_nodes,
				cap_nodes;
	sp_node    *nodes;
	int			n_inputs;
	int		   *inputs;			/* value ids fed at run time */
	int			n_outputs;
	int		   *outputs;		/* value ids returned */
	/* after prepare */
	bool		prepared;
	int			n_order;
	int		   *order;			/* node indices in run order */
	size_t		arena_bytes;	/* planned activation memory */
	size_t		scratch_bytes;	/* largest scratch of one node, after the arena */
	bool		training;		/* prepared with SP_GRAPH_PREPARE_TRAIN */
	size_t		act_bytes;		/* training: activations; their gradients follow */
	/*
	 * Training: the threads the ops split their work over (util/team.h),
	 * set before prepare, which sizes each node's scratch for one part per
	 * thread; NULL: one.  The caller owns the team.
	 */
	struct sp_team *team;
	/* name -> value id: open addressing, -1 empty; cap_hash a power of 2 */
	int		   *hash;
	int			cap_hash;
	/* every allocation of the graph, freed together */
	void	   *mem;
} sp_graph;

/* ---------------------------------------------------------------------- */
/* Building. */

extern sp_status sp_graph_create(const sp_env *env, sp_graph **out, sp_error *err);
extern void sp_graph_free(sp_graph *g);

/* Memory that lives as long as the graph (NULL when out of memory). */
extern void *sp_graph_alloc(sp_graph *g, size_t size);
extern char *sp_graph_strdup(sp_graph *g, const char *s);

/*
 * The value called name, created (dtype undefined, shape unknown) if new.
 * Returns its id, or -1 with err set (out of memory, a name too long or too
 * many values).
 */
extern int	sp_graph_value(sp_graph *g, const char *name, sp_error *err);
/* Lookup only: -1 when there is no such value. */
extern int	sp_graph_find(const sp_graph *g, const char *name);

/* Make value id a constant of dtype and shape; data is copied. */
extern sp_status sp_graph_set_constant(sp_graph *g, int id, sp_dtype dtype, const sp_shape *shape,
									   const void *data, sp_error *err);

/* Declare a graph input (shape may have -1 dimensions, bound at prepare). */
extern sp_status sp_graph_add_input(sp_graph *g, int id, sp_dtype dtype, const sp_shape *shape,
									sp_error *err);
extern sp_status sp_graph_add_output(sp_graph *g, int id, sp_error *err);

/*
 * Append a node of op_type with the given input and output value names
 * (NULL or "" for an omitted optional input).  The op must be in the op
 * table: SP_ERR_UNSUPPORTED otherwise, naming the op and the node.  Returns
 * the node, whose attributes the caller then adds.
 */
extern sp_node *sp_graph_add_node(sp_graph *g, const char *op_type, const char *name,
								  const char *const *inputs, int n_in,
								  const char *const *outputs, int n_out, sp_error *err);

extern sp_status sp_node_set_int(sp_graph *g, sp_node *n, const char *name, int64_t v, sp_error *err);
extern sp_status sp_node_set_float(sp_graph *g, sp_node *n, const char *name, float v, sp_error *err);
extern sp_status sp_node_set_string(sp_graph *g, sp_node *n, const char *name, const char *v,
									sp_error *err);
extern sp_status sp_node_set_ints(sp_graph *g, sp_node *n, const char *name, const int64_t *v,
								  int count, sp_error *err);
extern sp_status sp_node_set_floats(sp_graph *g, sp_node *n, const char *name, const float *v,
									int count, sp_error *err);
extern sp_status sp_node_set_tensor(sp_graph *g, sp_node *n, const char *name, int value_id,
									sp_error *err);

/* ---------------------------------------------------------------------- */
/* Preparing and running. */

/*
 * Prepare for inference.  input_shapes (may be NULL) gives the shape of each
 * graph input in order; NULL binds every unknown (-1) dimension to 1.
 */
extern sp_status sp_graph_prepare(sp_graph *g, const sp_shape *input_shapes, sp_error *err);

/*
 * sp_graph_prepare with flags.  SP_GRAPH_PREPARE_PORTABLE stops after
 * folding and pruning (no rewrites, no kernel choice): the graph is then
 * what a model file stores (graph_json.h), and can still be run.
 */
#define SP_GRAPH_PREPARE_PORTABLE 0x1
/* Split training ops over team's threads (before prepare; NULL: none). */
extern void sp_graph_set_team(sp_graph *g, struct sp_team *team);
/* SP_GRAPH_PREPARE_TRAIN: prepare for training (see the header comment). */
#define SP_GRAPH_PREPARE_TRAIN 0x2
extern sp_status sp_graph_prepare_ex(sp_graph *g, const sp_shape *input_shapes, int flags,
									 sp_error *err);

/*
 * Before prepare: make constant id (float) a variable whose contents live at
 * data (the caller's, numel floats, outliving the graph's runs); the
 * current contents are copied there first.  grad (numel floats, may be
 * NULL for a non-trainable buffer such as a running mean) is where
 * sp_graph_backward adds the value's gradient.
 */
extern sp_status sp_graph_bind_param(sp_graph *g, int id, float *data, float *grad, sp_error *err);

/*
 * A training graph prepared for batch N: run further batches of 1..N
 * images.  Re-infers the shapes with the new batch dimension; every value
 * must fit the block planned for it (true of graphs whose values all scale
 * with the batch).
 */
extern sp_status sp_graph_set_batch(sp_graph *g, int64_t batch, sp_error *err);

/* Arena bytes (planned activation memory + the largest scratch). */
extern size_t sp_graph_run_bytes(const sp_graph *g);

/*
 * Run a prepared graph.  arena: sp_graph_run_bytes() bytes, 64-byte aligned,
 * owned by the caller; inputs[i] holds graph input i, outputs[i] receives
 * graph output i (the caller sizes it from the output value's shape).
 */
extern sp_status sp_graph_run(const sp_graph *g, const sp_env *env, void *arena,
							  const void *const *inputs, void *const *outputs, sp_error *err);

/*
 * sp_graph_run with flags.  SP_GRAPH_RUN_TRAINING (training graphs): the
 * ops compute training-mode semantics (batch-norm batch statistics, running
 * statistics updated).  A training graph copies its inputs into the arena,
 * so the caller's input buffers need not outlive the run.
 */
#define SP_GRAPH_RUN_TRAINING 0x1
extern sp_status sp_graph_run_ex(const sp_graph *g, const sp_env *env, void *arena,
								 const void *const *inputs, void *const *outputs, int flags,
								 sp_error *err);

/*
 * Backward of the forward that last ran on arena, with the same flags:
 * d_outputs[i] is the gradient of graph output i; every trainable
 * parameter's gradient is added to its grad buffer (sp_graph_bind_param).
 * The activations' gradients live in the arena and are zeroed first.
 */
extern sp_status sp_graph_backward(const sp_graph *g, const sp_env *env, void *arena,
								   const float *const *d_outputs, int flags, sp_error *err);

/* ---------------------------------------------------------------------- */
/* Tensors. */

extern size_t sp_dtype_size(sp_dtype t);
extern const char *sp_dtype_name(sp_dtype t);
/* Elements of a shape; -1 when a dimension is unknown or the count overflows. */
extern int64_t sp_shape_numel(const sp_shape *s);
extern bool sp_shape_equal(const sp_shape *a, const sp_shape *b);
/* "[1, 3, 224, 224]" into buf. */
extern void sp_shape_format(const sp_shape *s, char *buf, size_t len);

/* Facts about a prepared graph, for models() and the docs. */
typedef struct sp_graph_stats
{
	int			nodes;			/* live nodes that run */
	int64_t		parameters;		/* elements of constant float inputs of live nodes */
	size_t		arena_bytes;	/* activation memory per image */
	double		flops;			/* multiply-adds x 2 per run, of the ops that report them */
} sp_graph_stats;

extern void sp_graph_get_stats(const sp_graph *g, sp_graph_stats *st);

/*
 * "Conv x53, Relu x49, ..." of the live nodes, most frequent first, into
 * buf (truncated to len).
 */
extern void sp_graph_op_summary(const sp_graph *g, char *buf, size_t len);

#endif							/* SP_NN_GRAPH_H */

/*
 * op.h: what an op of the graph is.  Each op kind is one sp_op_def, and
 * every sp_op_def is one row of the op table (nn/ops/op_table.c): adding an
 * op means writing its functions (in the nn/ops/ file of its family, or a
 * new one) and adding its row.  Nothing else in the engine switches on op
 * kinds.
 *
 *   infer     checks the attributes and the input dtypes and shapes and sets
 *             the outputs' (sp_out_set); may read constant inputs (a
 *             Reshape's target shape) and may set an output constant
 *             directly (Shape).  Runs once, at prepare.
 *   prepare   optional: chooses a kernel and repacks constant weights into
 *             n->state, sets n->scratch.  Runs once, after shapes are known.
 *   forward   computes the outputs from the inputs.  Allocates nothing (it
 *             gets n->scratch bytes of scratch); long ops poll interrupts
 *             through sp_op_interrupted.  Also used by constant folding.
 *   flops     optional: multiply-adds x 2 of one run, for stats.
 *   backward  optional, for the ops a model can be trained through (graphs
 *             prepared with SP_GRAPH_PREPARE_TRAIN, run by sp_graph_backward):
 *             gets the node's inputs and outputs as the forward left them and
 *             the outputs' gradients (r->d_out), and ADDS the inputs'
 *             gradients into r->d_in[k] (NULL where no gradient is wanted:
 *             a graph input, a constant that is not a trainable parameter).
 *             Adding, not overwriting, is what a value read by several nodes
 *             and a parameter's gradient over several steps both need.  It
 *             keeps nothing from the forward: what it needs beyond inputs
 *             and outputs (batch statistics, the max of a window) it
 *             recomputes, which costs a pass over the input and keeps the
 *             forward free of training bookkeeping.  r->training says how
 *             the forward ran.
 *
 * In a training graph (g->training) prepare must not repack constants (the
 * parameters change between runs) and sets n->scratch to what both forward
 * and backward need.
 *
 * Semantics follow the ONNX operator specification of the op's name (opsets
 * 11-18; where an opset moved an attribute to an input, both are accepted).
 */
#ifndef SP_NN_OP_H
#define SP_NN_OP_H

#include "nn/graph.h"
#include "util/team.h"

typedef struct sp_op_run
{
	const sp_graph *g;
	const sp_node *n;
	const void *const *in;		/* n->n_in pointers; NULL for an omitted input */
	void	   *const *out;		/* n->n_out pointers */
	void	   *scratch;		/* n->scratch bytes */
	const sp_env *env;			/* interrupts; may be NULL */
	sp_error   *err;
	/*
	 * Training graphs only.  training: the forward computes training-mode
	 * semantics (BatchNormalization: batch statistics, running statistics
	 * updated in place like PyTorch's buffers); for backward, how the
	 * forward ran.  d_out / d_in: backward's gradients (see backward).
	 */
	bool		training;
	const float *const *d_out;	/* n->n_out pointers; NULL: no gradient flows back */
	float	   *const *d_in;	/* n->n_in pointers; NULL: not wanted */
} sp_op_run;

/* flags */
#define SP_OP_NO_FOLD 0x1		/* never computed at load even with constant inputs */
#define SP_OP_INTERNAL 0x2		/* made by a pass only; no model file may use it */

typedef struct sp_op_def
{
	const char *name;			/* ONNX op_type */
	int			min_in,
				max_in,
				min_out,
				max_out;
	unsigned	flags;
	sp_status	(*infer) (sp_graph *g, sp_node *n, sp_error *err);
	sp_status	(*prepare) (sp_graph *g, sp_node *n, sp_error *err);
	sp_status	(*forward) (const sp_op_run *r);
	void		(*free_state) (const sp_env *env, sp_node *n);
	double		(*flops) (const sp_graph *g, const sp_node *n);
	sp_status	(*backward) (const sp_op_run *r);
} sp_op_def;

/* The op table. */
extern const sp_op_def *sp_op_lookup(const char *name);
/* Every op, in table order, for docs and tests; NULL-terminated. */
extern const sp_op_def *const *sp_op_table(void);

/* ---------------------------------------------------------------------- */
/* Helpers for op implementations. */

/* Input / output value i of n (NULL for an omitted input). */
static inline sp_value *
sp_in(const sp_graph *g, const sp_node *n, int i)
{
	return (i < n->n_in && n->in[i] >= 0) ? &g->values[n->in[i]] : NULL;
}

static inline sp_value *
sp_out(const sp_graph *g, const sp_node *n, int i)
{
	return &g->values[n->out[i]];
}

/* Set output i's dtype and shape. */
extern void sp_out_set(sp_graph *g, sp_node *n, int i, sp_dtype dtype, const sp_shape *shape);

/*
 * Error about node n: the message is prefixed with the op and node name
 * ("Conv node \"conv1\": ..."); returns code.
 */
extern sp_status sp_op_error(sp_error *err, sp_status code, const sp_node *n, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* Attributes (absent: the default; of another type: the default too, infer checks types). */
extern const sp_attr *sp_attr_get(const sp_node *n, const char *name);
extern int64_t sp_attr_int(const sp_node *n, const char *name, int64_t dflt);
extern float sp_attr_float(const sp_node *n, const char *name, float dflt);
extern const char *sp_attr_string(const sp_node *n, const char *name, const char *dflt);
/* INTS attribute: its length (or -1 when absent) and elements. */
extern int	sp_attr_ints(const sp_node *n, const char *name, const int64_t **v);
extern int	sp_attr_floats(const sp_node *n, const char *name, const float **v);

/* Check input i exists with a known dtype among the given (0-terminated list). */
extern sp_status sp_check_input(const sp_graph *g, const sp_node *n, int i, sp_error *err,
								const sp_dtype *allowed);
extern const sp_dtype sp_dt_float_only[];
extern const sp_dtype sp_dt_int64_only[];
extern const sp_dtype sp_dt_float_int64[];
extern const sp_dtype sp_dt_any[];

/*
 * Constant integer list from input i (INT64 tensor of rank <= 1) or, when
 * the input is absent, from attribute attr (may be NULL).  *count = -1 when
 * neither exists.  An input that exists but is not constant is
 * SP_ERR_UNSUPPORTED ("must be a constant").  At most max values.
 */
extern sp_status sp_const_ints(const sp_graph *g, const sp_node *n, int i, const char *attr,
							   int64_t *vals, int max, int *count, sp_error *err);

/* Normalise an axis against rank (negative counts from the end); -1 if out of range. */
static inline int
sp_axis(int64_t axis, int rank)
{
	if (axis < 0)
		axis += rank;
	return (axis >= 0 && axis < rank) ? (int) axis : -1;
}

/*
 * Parts a training op splits its work into: the graph's team's threads
 * (util/team.h), 1 without a team.  A part's scratch is n->scratch / parts
 * bytes: prepare multiplies what one part needs by this.
 */
static inline int
sp_graph_parts(const sp_graph *g)
{
	return sp_team_size(g->team);
}

/*
 * Run fn over the graph's team when the op touches at least SP_OP_SPLIT_MIN
 * values (work), else fn(ctx, 0, 1) on the caller's thread: below that a
 * run's wake-up costs more than it saves.
 */
#define SP_OP_SPLIT_MIN 32768

static inline void
sp_op_split(const sp_op_run *r, int64_t work, sp_team_fn fn, void *ctx)
{
	if (work >= SP_OP_SPLIT_MIN)
		sp_team_run(r->g->team, fn, ctx);
	else
		fn(ctx, 0, 1);
}

/*
 * What the parts of a split op share about stopping: part 0 polls the
 * interrupt hook (the env is the caller thread's) and tells the others;
 * st is part 0's status.
 */
typedef struct sp_op_split_ctl
{
	const sp_op_run *r;
	int			stop;			/* __atomic */
	sp_status	st;
} sp_op_split_ctl;

/* Whether this part should stop now (part 0 polls; SP_OK st until then). */
extern bool sp_op_part_stopped(sp_op_split_ctl *c, int part);

/* Poll the interrupt hook from a long op (returns SP_ERR_INTERRUPTED with err set, or SP_OK). */
extern sp_status sp_op_interrupted(const sp_op_run *r);

/* NumPy-style broadcast of two shapes; false when incompatible. */
extern bool sp_broadcast_shape(const sp_shape *a, const sp_shape *b, sp_shape *out);

#endif							/* SP_NN_OP_H */

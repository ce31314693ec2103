/*
 * graph.c: building, preparing and running an operator graph (graph.h).
 *
 * Owns the graph's memory (one list of blocks freed together), the builder,
 * the prepare pipeline (bind, sort, infer + fold, prune, op prepare, memory
 * plan) and the executor, forward and (for training graphs) backward: both
 * walk the run order through the same pointer tables and reach the ops only
 * through the op table.  The optimisation passes that rewrite the graph
 * (batch-norm folding, activation fusion) live in graph_passes.c; the ops
 * themselves in nn/ops/.
 */
#include "nn/graph.h"
#include "nn/graph_passes.h"
#include "nn/op.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP_ALIGN 64

/* One block of graph memory; the payload follows, 64-byte aligned. */
typedef struct mem_block
{
	struct mem_block *next;
	void	   *raw;
	char		pad[SP_ALIGN - 2 * sizeof(void *)];
} mem_block;

void *
sp_graph_alloc(sp_graph *g, size_t size)
{
	size_t		total;
	void	   *raw;
	mem_block  *b;
	uintptr_t	p;

	if (!sp_add_size(size, sizeof(mem_block) + SP_ALIGN, &total))
		return NULL;
	raw = sp_alloc(g->env, total);
	if (!raw)
		return NULL;
	p = ((uintptr_t) raw + SP_ALIGN - 1) & ~(uintptr_t) (SP_ALIGN - 1);
	b = (mem_block *) p;
	b->raw = raw;
	b->next = g->mem;
	g->mem = b;
	memset(b + 1, 0, size);
	return b + 1;
}

char *
sp_graph_strdup(sp_graph *g, const char *s)
{
	size_t		n = strlen(s);
	char	   *d = sp_graph_alloc(g, n + 1);

	if (d)
		memcpy(d, s, n + 1);
	return d;
}

sp_status
sp_graph_create(const sp_env *env, sp_graph **out, sp_error *err)
{
	sp_graph   *g = sp_alloc(env, sizeof(sp_graph));

	*out = NULL;
	if (!g)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory creating a model graph");
	memset(g, 0, sizeof(*g));
	g->env = env;
	*out = g;
	return SP_OK;
}

void
sp_graph_free(sp_graph *g)
{
	mem_block  *b,
			   *next;

	if (!g)
		return;
	for (int i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].state && g->nodes[i].op->free_state)
			g->nodes[i].op->free_state(g->env, &g->nodes[i]);
	for (b = g->mem; b; b = next)
	{
		next = b->next;
		sp_free(g->env, b->raw);
	}
	sp_free(g->env, g->values);
	sp_free(g->env, g->nodes);
	sp_free(g->env, g->hash);
	sp_free(g->env, g);
}

/* Grow an array held outside the graph arena (values, nodes move when they grow). */
static bool
grow(const sp_env *env, void **arr, int *cap, int need, size_t elem)
{
	int			ncap;
	void	   *n;

	if (need <= *cap)
		return true;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	n = sp_alloc_array(env, (size_t) ncap, elem);
	if (!n)
		return false;
	memset(n, 0, (size_t) ncap * elem);
	if (*arr)
	{
		memcpy(n, *arr, (size_t) *cap * elem);
		sp_free(env, *arr);
	}
	*arr = n;
	*cap = ncap;
	return true;
}

static uint32_t
name_hash(const char *s)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t) *s) * 16777619u;
	return h;
}

int
sp_graph_find(const sp_graph *g, const char *name)
{
	if (g->cap_hash == 0)
		return -1;
	for (uint32_t i = name_hash(name) & (uint32_t) (g->cap_hash - 1);; i = (i + 1) & (uint32_t) (g->cap_hash - 1))
	{
		int			id = g->hash[i];

		if (id < 0)
			return -1;
		if (strcmp(g->values[id].name, name) == 0)
			return id;
	}
}

/* Index value id by name, growing the table to keep it at most half full. */
static bool
hash_insert(sp_graph *g, int id)
{
	if (2 * (g->n_values + 1) > g->cap_hash)
	{
		int			ncap = g->cap_hash ? 2 * g->cap_hash : 256;
		int		   *nh = sp_alloc_array(g->env, (size_t) ncap, sizeof(int));

		if (!nh)
			return false;
		sp_free(g->env, g->hash);
		g->hash = nh;
		g->cap_hash = ncap;
		for (int i = 0; i < ncap; i++)
			nh[i] = -1;
		for (int v = 0; v < g->n_values; v++)
			if (v != id)
				(void) hash_insert(g, v);
	}
	for (uint32_t i = name_hash(g->values[id].name) & (uint32_t) (g->cap_hash - 1);;
		 i = (i + 1) & (uint32_t) (g->cap_hash - 1))
		if (g->hash[i] < 0)
		{
			g->hash[i] = id;
			return true;
		}
}

int
sp_graph_value(sp_graph *g, const char *name, sp_error *err)
{
	int			id = sp_graph_find(g, name);
	sp_value   *v;

	if (id >= 0)
		return id;
	if (strlen(name) > SP_GRAPH_MAX_NAME)
	{
		sp_set_error(err, SP_ERR_LIMIT, "tensor name of %zu bytes exceeds the limit of %d",
					 strlen(name), SP_GRAPH_MAX_NAME);
		return -1;
	}
	if (g->n_values >= SP_GRAPH_MAX_VALUES)
	{
		sp_set_error(err, SP_ERR_LIMIT, "model has more than %d tensors", SP_GRAPH_MAX_VALUES);
		return -1;
	}
	if (!grow(g->env, (void **) &g->values, &g->cap_values, g->n_values + 1, sizeof(sp_value)))
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
		return -1;
	}
	v = &g->values[g->n_values];
	memset(v, 0, sizeof(*v));
	v->name = sp_graph_strdup(g, name);
	if (!v->name)
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
		return -1;
	}
	v->producer = -1;
	v->offset = -1;
	if (!hash_insert(g, g->n_values))
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
		return -1;
	}
	return g->n_values++;
}

static sp_status
check_shape(const sp_shape *s, bool allow_unknown, const char *what, const char *name, sp_error *err)
{
	int64_t		n = 1;

	if (s->rank < 0 || s->rank > SP_MAX_RANK)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "%s \"%s\" has rank %d; at most %d is supported",
							what, name, s->rank, SP_MAX_RANK);
	for (int i = 0; i < s->rank; i++)
	{
		if (s->dim[i] < 0 && allow_unknown && s->dim[i] == -1)
			continue;
		if (s->dim[i] < 0)
			return sp_set_error(err, SP_ERR_CORRUPT, "%s \"%s\" has a negative dimension", what, name);
		if (s->dim[i] > 0 && n > SP_GRAPH_MAX_ELEMENTS / s->dim[i])
			return sp_set_error(err, SP_ERR_LIMIT,
								"%s \"%s\" has more than %" PRId64 " elements", what, name,
								SP_GRAPH_MAX_ELEMENTS);
		n *= s->dim[i];
	}
	return SP_OK;
}

/*
 * A value id handed to the graph API: callers pass the result of
 * sp_graph_value / sp_graph_find straight in, so a negative id is the
 * failure of that call (its error, often out of memory, already in err).
 */
static sp_status
check_id(const sp_graph *g, int id, sp_error *err)
{
	if (id >= 0 && id < g->n_values)
		return SP_OK;
	if (err && err->code != SP_OK)
		return err->code;
	return sp_set_error(err, SP_ERR_INTERNAL, "graph value id %d is out of range 0..%d", id, g->n_values - 1);
}

sp_status
sp_graph_set_constant(sp_graph *g, int id, sp_dtype dtype, const sp_shape *shape, const void *data,
					  sp_error *err)
{
	sp_value   *v;
	size_t		bytes;
	sp_status	st = check_id(g, id, err);

	if (st != SP_OK)
		return st;
	v = &g->values[id];
	if (sp_dtype_size(dtype) == 0)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "tensor \"%s\" has an unsupported element type %d",
							v->name, (int) dtype);
	if ((st = check_shape(shape, false, "tensor", v->name, err)) != SP_OK)
		return st;
	if (v->data || v->producer >= 0 || v->is_input)
		return sp_set_error(err, SP_ERR_CORRUPT, "tensor \"%s\" is defined more than once", v->name);
	bytes = (size_t) sp_shape_numel(shape) * sp_dtype_size(dtype);
	v->data = sp_graph_alloc(g, bytes ? bytes : 1);
	if (!v->data)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory for tensor \"%s\" (%zu bytes)", v->name, bytes);
	if (bytes)
		memcpy(v->data, data, bytes);
	v->dtype = dtype;
	v->shape = *shape;
	v->known = true;
	return SP_OK;
}

static sp_status
add_id(sp_graph *g, int **arr, int *n, int id, sp_error *err)
{
	int		   *na;
	sp_status	st = check_id(g, id, err);

	if (st != SP_OK)
		return st;
	na = sp_graph_alloc(g, sizeof(int) * (size_t) (*n + 1));

	if (!na)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
	if (*n)
		memcpy(na, *arr, sizeof(int) * (size_t) *n);
	na[(*n)++] = id;
	*arr = na;
	return SP_OK;
}

sp_status
sp_graph_add_input(sp_graph *g, int id, sp_dtype dtype, const sp_shape *shape, sp_error *err)
{
	sp_value   *v;
	sp_status	st = check_id(g, id, err);

	if (st != SP_OK)
		return st;
	v = &g->values[id];
	if (v->data || v->producer >= 0 || v->is_input)
		return sp_set_error(err, SP_ERR_CORRUPT, "graph input \"%s\" is defined more than once", v->name);
	if (sp_dtype_size(dtype) == 0)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "graph input \"%s\" has an unsupported element type %d",
							v->name, (int) dtype);
	if ((st = check_shape(shape, true, "graph input", v->name, err)) != SP_OK)
		return st;
	v->is_input = true;
	v->dtype = dtype;
	v->shape = *shape;
	return add_id(g, &g->inputs, &g->n_inputs, id, err);
}

sp_status
sp_graph_add_output(sp_graph *g, int id, sp_error *err)
{
	return add_id(g, &g->outputs, &g->n_outputs, id, err);
}

sp_node *
sp_graph_add_node(sp_graph *g, const char *op_type, const char *name,
				  const char *const *inputs, int n_in, const char *const *outputs, int n_out,
				  sp_error *err)
{
	const sp_op_def *op = sp_op_lookup(op_type);
	sp_node    *n;
	int			idx;

	if (!op || (op->flags & SP_OP_INTERNAL))
	{
		sp_set_error(err, SP_ERR_UNSUPPORTED, "operator %s (node \"%s\") is not supported",
					 op_type, name ? name : "");
		return NULL;
	}
	if (n_in < op->min_in || n_in > op->max_in || n_out < op->min_out || n_out > op->max_out)
	{
		sp_set_error(err, SP_ERR_CORRUPT,
					 "%s node \"%s\" has %d inputs and %d outputs; the operator takes %d-%d and %d-%d",
					 op_type, name ? name : "", n_in, n_out, op->min_in, op->max_in,
					 op->min_out, op->max_out);
		return NULL;
	}
	if (g->n_nodes >= SP_GRAPH_MAX_NODES)
	{
		sp_set_error(err, SP_ERR_LIMIT, "model has more than %d nodes", SP_GRAPH_MAX_NODES);
		return NULL;
	}
	if (!grow(g->env, (void **) &g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(sp_node)))
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
		return NULL;
	}
	idx = g->n_nodes;
	n = &g->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->op = op;
	n->name = sp_graph_strdup(g, name ? name : "");
	n->in = sp_graph_alloc(g, sizeof(int) * (size_t) (n_in + 1));
	n->out = sp_graph_alloc(g, sizeof(int) * (size_t) (n_out + 1));
	if (!n->name || !n->in || !n->out)
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
		return NULL;
	}
	n->n_in = n_in;
	n->n_out = n_out;
	for (int i = 0; i < n_in; i++)
	{
		n->in[i] = -1;
		if (inputs[i] && inputs[i][0])
		{
			n->in[i] = sp_graph_value(g, inputs[i], err);
			if (n->in[i] < 0)
				return NULL;
		}
	}
	for (int i = 0; i < n_out; i++)
	{
		sp_value   *v;
		int			id;

		if (!outputs[i] || !outputs[i][0])
		{
			/* an unused optional output gets a private name */
			char		anon[64];

			snprintf(anon, sizeof anon, "\001unused.%d.%d", idx, i);
			id = sp_graph_value(g, anon, err);
		}
		else
			id = sp_graph_value(g, outputs[i], err);
		if (id < 0)
			return NULL;
		v = &g->values[id];
		if (v->producer >= 0 || v->data || v->is_input)
		{
			sp_set_error(err, SP_ERR_CORRUPT, "tensor \"%s\" is produced by more than one node (\"%s\")",
						 v->name, n->name);
			return NULL;
		}
		v->producer = idx;
		n->out[i] = id;
	}
	g->n_nodes++;
	return &g->nodes[idx];
}

/* ---------------------------------------------------------------------- */
/* Attributes. */

static sp_attr *
new_attr(sp_graph *g, sp_node *n, const char *name, sp_attr_type type, sp_error *err)
{
	sp_attr    *na;

	for (int i = 0; i < n->n_attrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0)
		{
			sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"%s\" is given twice", name);
			return NULL;
		}
	na = sp_graph_alloc(g, sizeof(sp_attr) * (size_t) (n->n_attrs + 1));
	if (!na)
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
		return NULL;
	}
	if (n->n_attrs)
		memcpy(na, n->attrs, sizeof(sp_attr) * (size_t) n->n_attrs);
	n->attrs = na;
	na = &n->attrs[n->n_attrs];
	na->name = sp_graph_strdup(g, name);
	if (!na->name)
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
		return NULL;
	}
	na->type = type;
	na->tensor = -1;
	n->n_attrs++;
	return na;
}

sp_status
sp_node_set_int(sp_graph *g, sp_node *n, const char *name, int64_t v, sp_error *err)
{
	sp_attr    *a = new_attr(g, n, name, SP_ATTR_INT, err);

	if (!a)
		return err ? err->code : SP_ERR_NOMEM;
	a->i = v;
	return SP_OK;
}

sp_status
sp_node_set_float(sp_graph *g, sp_node *n, const char *name, float v, sp_error *err)
{
	sp_attr    *a = new_attr(g, n, name, SP_ATTR_FLOAT, err);

	if (!a)
		return err ? err->code : SP_ERR_NOMEM;
	a->f = v;
	return SP_OK;
}

sp_status
sp_node_set_string(sp_graph *g, sp_node *n, const char *name, const char *v, sp_error *err)
{
	sp_attr    *a = new_attr(g, n, name, SP_ATTR_STRING, err);

	if (!a)
		return err ? err->code : SP_ERR_NOMEM;
	a->s = sp_graph_strdup(g, v);
	return a->s ? SP_OK : sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
}

sp_status
sp_node_set_ints(sp_graph *g, sp_node *n, const char *name, const int64_t *v, int count, sp_error *err)
{
	sp_attr    *a = new_attr(g, n, name, SP_ATTR_INTS, err);

	if (!a)
		return err ? err->code : SP_ERR_NOMEM;
	a->n = count;
	a->ints = sp_graph_alloc(g, sizeof(int64_t) * (size_t) (count + 1));
	if (!a->ints)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
	if (count)
		memcpy(a->ints, v, sizeof(int64_t) * (size_t) count);
	return SP_OK;
}

sp_status
sp_node_set_floats(sp_graph *g, sp_node *n, const char *name, const float *v, int count, sp_error *err)
{
	sp_attr    *a = new_attr(g, n, name, SP_ATTR_FLOATS, err);

	if (!a)
		return err ? err->code : SP_ERR_NOMEM;
	a->n = count;
	a->floats = sp_graph_alloc(g, sizeof(float) * (size_t) (count + 1));
	if (!a->floats)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory building a model graph");
	if (count)
		memcpy(a->floats, v, sizeof(float) * (size_t) count);
	return SP_OK;
}

sp_status
sp_node_set_tensor(sp_graph *g, sp_node *n, const char *name, int value_id, sp_error *err)
{
	sp_attr    *a = new_attr(g, n, name, SP_ATTR_TENSOR, err);

	if (!a)
		return err ? err->code : SP_ERR_NOMEM;
	a->tensor = value_id;
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Tensors. */

size_t
sp_dtype_size(sp_dtype t)
{
	switch (t)
	{
		case SP_DT_FLOAT:
			return 4;
		case SP_DT_INT64:
			return 8;
		case SP_DT_BOOL:
			return 1;
		case SP_DT_UNDEFINED:
			break;
	}
	return 0;
}

const char *
sp_dtype_name(sp_dtype t)
{
	switch (t)
	{
		case SP_DT_FLOAT:
			return "float32";
		case SP_DT_INT64:
			return "int64";
		case SP_DT_BOOL:
			return "bool";
		case SP_DT_UNDEFINED:
			break;
	}
	return "undefined";
}

int64_t
sp_shape_numel(const sp_shape *s)
{
	int64_t		n = 1;

	for (int i = 0; i < s->rank; i++)
	{
		if (s->dim[i] < 0)
			return -1;
		if (s->dim[i] > 0 && n > INT64_MAX / s->dim[i])
			return -1;
		n *= s->dim[i];
	}
	return n;
}

bool
sp_shape_equal(const sp_shape *a, const sp_shape *b)
{
	if (a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (a->dim[i] != b->dim[i])
			return false;
	return true;
}

void
sp_shape_format(const sp_shape *s, char *buf, size_t len)
{
	size_t		o = 0;

	o += (size_t) snprintf(buf + o, o < len ? len - o : 0, "[");
	for (int i = 0; i < s->rank; i++)
		o += (size_t) snprintf(buf + o, o < len ? len - o : 0, "%s%" PRId64, i ? ", " : "", s->dim[i]);
	(void) snprintf(buf + o, o < len ? len - o : 0, "]");
}

/* ---------------------------------------------------------------------- */
/* Prepare. */

static sp_status
bind_inputs(sp_graph *g, const sp_shape *shapes, bool free_batch, sp_error *err)
{
	for (int i = 0; i < g->n_inputs; i++)
	{
		sp_value   *v = &g->values[g->inputs[i]];

		if (shapes)
		{
			const sp_shape *s = &shapes[i];

			if (s->rank != v->shape.rank)
				return sp_set_error(err, SP_ERR_INVALID_ARG,
									"graph input \"%s\" has rank %d, not %d", v->name, v->shape.rank,
									s->rank);
			for (int d = 0; d < s->rank; d++)
				if (v->shape.dim[d] >= 0 && v->shape.dim[d] != s->dim[d] && !(free_batch && d == 0))
					return sp_set_error(err, SP_ERR_INVALID_ARG,
										"dimension %d of graph input \"%s\" is %" PRId64 ", not %" PRId64,
										d, v->name, v->shape.dim[d], s->dim[d]);
			v->shape = *s;
		}
		else
			for (int d = 0; d < v->shape.rank; d++)
				if (v->shape.dim[d] < 0)
					v->shape.dim[d] = 1;
		if (sp_shape_numel(&v->shape) < 0 || sp_shape_numel(&v->shape) > SP_GRAPH_MAX_ELEMENTS)
			return sp_set_error(err, SP_ERR_LIMIT, "graph input \"%s\" is too large", v->name);
		v->known = true;
	}
	return SP_OK;
}

/*
 * Kahn's topological sort of all nodes into g->order.  A value read by a node
 * that is neither produced, constant nor a graph input is dangling; nodes
 * left over form a cycle.
 */
static sp_status
sort_nodes(sp_graph *g, sp_error *err)
{
	int		   *pending = sp_alloc_array(g->env, (size_t) g->n_nodes + 1, sizeof(int));
	int		   *queue = sp_alloc_array(g->env, (size_t) g->n_nodes + 1, sizeof(int));
	int		   *cons_start = sp_alloc_array(g->env, (size_t) g->n_values + 1, sizeof(int));
	int		   *cons = NULL;
	int			ncons = 0,
				qh = 0,
				qt = 0;
	sp_status	st = SP_OK;

	g->order = sp_graph_alloc(g, sizeof(int) * (size_t) (g->n_nodes + 1));
	if (!pending || !queue || !cons_start || !g->order)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory sorting the model graph");
		goto done;
	}
	/* consumers of each value (CSR) */
	memset(cons_start, 0, sizeof(int) * ((size_t) g->n_values + 1));
	for (int i = 0; i < g->n_nodes; i++)
		for (int k = 0; k < g->nodes[i].n_in; k++)
			if (g->nodes[i].in[k] >= 0)
			{
				cons_start[g->nodes[i].in[k]]++;
				ncons++;
			}
	cons = sp_alloc_array(g->env, (size_t) ncons + 1, sizeof(int));
	if (!cons)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory sorting the model graph");
		goto done;
	}
	for (int v = 0, acc = 0; v < g->n_values; v++)
	{
		int			c = cons_start[v];

		cons_start[v] = acc;
		acc += c;
	}
	for (int i = 0; i < g->n_nodes; i++)
	{
		const sp_node *n = &g->nodes[i];

		pending[i] = 0;
		for (int k = 0; k < n->n_in; k++)
		{
			int			id = n->in[k];
			const sp_value *v;

			if (id < 0)
				continue;
			v = &g->values[id];
			if (v->producer >= 0)
				pending[i]++;
			else if (!v->data && !v->is_input)
			{
				st = sp_op_error(err, SP_ERR_CORRUPT, n,
								 "input \"%s\" is neither a graph input, an initializer nor the output of a node",
								 v->name);
				goto done;
			}
		}
	}
	/* fill consumer lists */
	{
		int		   *pos = sp_alloc_array(g->env, (size_t) g->n_values + 1, sizeof(int));

		if (!pos)
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory sorting the model graph");
			goto done;
		}
		memcpy(pos, cons_start, sizeof(int) * (size_t) g->n_values);
		for (int i = 0; i < g->n_nodes; i++)
			for (int k = 0; k < g->nodes[i].n_in; k++)
				if (g->nodes[i].in[k] >= 0)
					cons[pos[g->nodes[i].in[k]]++] = i;
		sp_free(g->env, pos);
	}
	for (int i = 0; i < g->n_nodes; i++)
		if (pending[i] == 0)
			queue[qt++] = i;
	while (qh < qt)
	{
		int			i = queue[qh++];
		const sp_node *n = &g->nodes[i];

		g->order[g->n_order++] = i;
		for (int o = 0; o < n->n_out; o++)
		{
			int			v = n->out[o];
			int			end = v + 1 < g->n_values ? cons_start[v + 1] : ncons;

			for (int c = cons_start[v]; c < end; c++)
			{
				/* a node reading the same value twice is counted twice */
				if (--pending[cons[c]] == 0)
					queue[qt++] = cons[c];
			}
		}
	}
	if (g->n_order != g->n_nodes)
	{
		for (int i = 0; i < g->n_nodes; i++)
			if (pending[i] > 0)
			{
				st = sp_op_error(err, SP_ERR_CORRUPT, &g->nodes[i], "is part of a cycle");
				break;
			}
	}
done:
	sp_free(g->env, pending);
	sp_free(g->env, queue);
	sp_free(g->env, cons_start);
	sp_free(g->env, cons);
	return st;
}

/* Variables (bound parameters) change between runs: a node reading one is never folded. */
static bool
node_inputs_constant(const sp_graph *g, const sp_node *n)
{
	for (int k = 0; k < n->n_in; k++)
		if (n->in[k] >= 0 && (!g->values[n->in[k]].data || g->values[n->in[k]].variable))
			return false;
	return true;
}

/* Compute a node whose inputs are all constant, making its outputs constants. */
static sp_status
fold_node(sp_graph *g, sp_node *n, sp_error *err)
{
	const void **in = sp_alloc_array(g->env, (size_t) n->n_in + 1, sizeof(void *));
	void	  **out = sp_alloc_array(g->env, (size_t) n->n_out + 1, sizeof(void *));
	void	   *scratch = NULL;
	sp_op_run	r;
	sp_status	st = SP_OK;

	if (!in || !out)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory folding constants");
		goto done;
	}
	for (int k = 0; k < n->n_in; k++)
		in[k] = n->in[k] >= 0 ? g->values[n->in[k]].data : NULL;
	for (int o = 0; o < n->n_out; o++)
	{
		sp_value   *v = &g->values[n->out[o]];
		size_t		bytes = (size_t) sp_shape_numel(&v->shape) * sp_dtype_size(v->dtype);

		out[o] = sp_graph_alloc(g, bytes ? bytes : 1);
		if (!out[o])
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory folding constants (%zu bytes)", bytes);
			goto done;
		}
	}
	if (n->scratch)
	{
		scratch = sp_alloc(g->env, n->scratch);
		if (!scratch)
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory folding constants");
			goto done;
		}
	}
	memset(&r, 0, sizeof(r));
	r.g = g;
	r.n = n;
	r.in = in;
	r.out = out;
	r.scratch = scratch;
	r.env = g->env;
	r.err = err;
	st = n->op->forward(&r);
	if (st == SP_OK)
	{
		for (int o = 0; o < n->n_out; o++)
			g->values[n->out[o]].data = out[o];
		n->dead = true;
	}
done:
	sp_free(g->env, in);
	sp_free(g->env, out);
	sp_free(g->env, scratch);
	return st;
}

/* Infer every node in order, folding the constant ones. */
static sp_status
infer_all(sp_graph *g, sp_error *err)
{
	for (int oi = 0; oi < g->n_order; oi++)
	{
		sp_node    *n = &g->nodes[g->order[oi]];
		bool		all_const;
		sp_status	st;

		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0 && !g->values[n->in[k]].known)
				return sp_op_error(err, SP_ERR_INTERNAL, n, "input \"%s\" has no inferred shape",
								   g->values[n->in[k]].name);
		n->scratch = 0;
		st = n->op->infer(g, n, err);
		if (st != SP_OK)
			return st;
		all_const = true;
		for (int o = 0; o < n->n_out; o++)
		{
			sp_value   *v = &g->values[n->out[o]];
			char		buf[160];
			int64_t		numel = sp_shape_numel(&v->shape);

			if (!v->known)
				return sp_op_error(err, SP_ERR_INTERNAL, n, "output %d has no inferred shape", o);
			if (numel < 0 || numel > SP_GRAPH_MAX_ELEMENTS)
			{
				sp_shape_format(&v->shape, buf, sizeof buf);
				return sp_op_error(err, SP_ERR_LIMIT, n, "output \"%s\" of shape %s is too large",
								   v->name, buf);
			}
			if (!v->data)
				all_const = false;
		}
		if (all_const)
			n->dead = true;		/* infer made every output constant (Shape) */
		else if (!(n->op->flags & SP_OP_NO_FOLD) && node_inputs_constant(g, n))
		{
			st = fold_node(g, n, err);
			if (st != SP_OK)
				return st;
		}
	}
	return SP_OK;
}

/* Keep only the nodes that graph outputs need (through runtime values). */
static sp_status
prune(sp_graph *g, sp_error *err)
{
	bool	   *need = sp_alloc_array(g->env, (size_t) g->n_values + 1, sizeof(bool));

	if (!need)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory preparing the model graph");
	memset(need, 0, sizeof(bool) * (size_t) g->n_values);
	for (int i = 0; i < g->n_outputs; i++)
		need[g->outputs[i]] = true;
	for (int oi = g->n_order - 1; oi >= 0; oi--)
	{
		sp_node    *n = &g->nodes[g->order[oi]];
		bool		used = false;

		if (n->dead)
			continue;
		for (int o = 0; o < n->n_out; o++)
			used |= need[n->out[o]];
		if (!used)
		{
			n->dead = true;
			continue;
		}
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0)
				need[n->in[k]] = true;
	}
	sp_free(g->env, need);
	return SP_OK;
}

/* Drop dead nodes from the run order. */
static void
compact_order(sp_graph *g)
{
	int			k = 0;

	for (int oi = 0; oi < g->n_order; oi++)
		if (!g->nodes[g->order[oi]].dead)
			g->order[k++] = g->order[oi];
	g->n_order = k;
}

static size_t
round_up(size_t v)
{
	return (v + SP_ALIGN - 1) & ~(size_t) (SP_ALIGN - 1);
}

/* Bytes of the tables sp_graph_run / sp_graph_backward lay out after the scratch. */
static size_t
table_bytes(const sp_graph *g, int max_io)
{
	return round_up(sizeof(void *) * (2 * (size_t) g->n_values + 4 * (size_t) max_io + 4));
}

/* A live arena block during planning. */
typedef struct plan_block
{
	int64_t		offset;
	int64_t		size;
	int			value;
} plan_block;

/*
 * Assign arena offsets: walk the run order; before node k allocates its
 * outputs, values whose last reader ran before k are released; an output
 * goes to the lowest gap that fits between live blocks (first fit).
 */
static sp_status
plan_memory(sp_graph *g, sp_error *err)
{
	plan_block *live;
	int			nlive = 0;
	int64_t		peak = 0;
	size_t		scratch = 0;
	int			max_io = 1;

	for (int v = 0; v < g->n_values; v++)
	{
		g->values[v].last_use = -1;
		g->values[v].offset = -1;
	}
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0)
				g->values[n->in[k]].last_use = oi;
		if (n->scratch > scratch)
			scratch = n->scratch;
		if (n->n_in > max_io)
			max_io = n->n_in;
		if (n->n_out > max_io)
			max_io = n->n_out;
	}
	for (int i = 0; i < g->n_outputs; i++)
		g->values[g->outputs[i]].last_use = g->n_order;

	live = sp_alloc_array(g->env, (size_t) g->n_values + 1, sizeof(plan_block));
	if (!live)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory planning model memory");
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		/* release dead values (keep live sorted by offset) */
		for (int b = 0; b < nlive;)
		{
			if (g->values[live[b].value].last_use < oi)
			{
				memmove(&live[b], &live[b + 1], sizeof(plan_block) * (size_t) (nlive - b - 1));
				nlive--;
			}
			else
				b++;
		}
		for (int o = 0; o < n->n_out; o++)
		{
			sp_value   *v = &g->values[n->out[o]];
			int64_t		size = (int64_t) round_up((size_t) sp_shape_numel(&v->shape) * sp_dtype_size(v->dtype));
			int64_t		at = 0;
			int			pos = 0;
			bool		is_output = false;

			for (int i = 0; i < g->n_outputs; i++)
				is_output |= g->outputs[i] == n->out[o];
			if (v->data || is_output)
				continue;		/* constants live in the graph; outputs in the caller's buffer */
			if (size == 0)
				size = SP_ALIGN;
			for (pos = 0; pos < nlive; pos++)
			{
				if (live[pos].offset - at >= size)
					break;
				at = live[pos].offset + live[pos].size;
			}
			memmove(&live[pos + 1], &live[pos], sizeof(plan_block) * (size_t) (nlive - pos));
			live[pos].offset = at;
			live[pos].size = size;
			live[pos].value = n->out[o];
			nlive++;
			v->offset = at;
			if (at + size > peak)
				peak = at + size;
		}
	}
	sp_free(g->env, live);
	g->arena_bytes = (size_t) peak;
	/* after the arena: the scratch, then the per-run pointer tables */
	g->scratch_bytes = round_up(scratch) + table_bytes(g, max_io);
	return SP_OK;
}

/* Give v a block of its own at offset at (aligned, never empty); the next free offset. */
static size_t
own_block(sp_value *v, size_t at)
{
	v->bytes = round_up((size_t) sp_shape_numel(&v->shape) * sp_dtype_size(v->dtype));
	if (v->bytes == 0)
		v->bytes = SP_ALIGN;
	v->offset = (int64_t) at;
	return at + v->bytes;
}

/*
 * The memory plan of a training graph: backward reads the activations the
 * forward left, so nothing is reused: every graph input (copied in) and
 * every node output (graph outputs too, copied out) gets its own block, in
 * run order.  The gradient of a value lives at the same offset in a mirror
 * region after act_bytes.  Also marks which values need a gradient (the
 * trainable parameters and everything computed from them) and checks that
 * every node such a gradient must pass through has a backward.
 */
static sp_status
plan_training(sp_graph *g, sp_error *err)
{
	size_t		at = 0,
				scratch = 0;
	int			max_io = 1;

	for (int v = 0; v < g->n_values; v++)
	{
		sp_value   *val = &g->values[v];

		val->last_use = -1;
		val->offset = -1;
		val->bytes = 0;
		val->needs_grad = val->variable && val->grad != NULL;
	}
	for (int i = 0; i < g->n_inputs; i++)
	{
		sp_value   *v = &g->values[g->inputs[i]];

		if (v->offset < 0)
			at = own_block(v, at);
	}
	for (int oi = 0; oi < g->n_order; oi++)
	{
		sp_node    *n = &g->nodes[g->order[oi]];
		bool		grad_in = false;

		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0 && g->values[n->in[k]].needs_grad)
				grad_in = true;
		if (grad_in && !n->op->backward)
			return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "has no backward: a model cannot be trained through it");
		for (int o = 0; o < n->n_out; o++)
		{
			sp_value   *v = &g->values[n->out[o]];

			v->needs_grad = grad_in && v->dtype == SP_DT_FLOAT;
			if (!v->data)
				at = own_block(v, at);
		}
		if (n->scratch > scratch)
			scratch = n->scratch;
		if (n->n_in > max_io)
			max_io = n->n_in;
		if (n->n_out > max_io)
			max_io = n->n_out;
	}
	if (at > (size_t) INT64_MAX / 4)
		return sp_set_error(err, SP_ERR_LIMIT, "training graph needs too much memory");
	g->act_bytes = at;
	g->arena_bytes = 2 * at;
	g->scratch_bytes = round_up(scratch) + table_bytes(g, max_io);
	return SP_OK;
}

sp_status
sp_graph_bind_param(sp_graph *g, int id, float *data, float *grad, sp_error *err)
{
	sp_value   *v;

	if (g->prepared || id < 0 || id >= g->n_values)
		return sp_set_error(err, SP_ERR_INTERNAL, "parameters are bound before prepare");
	v = &g->values[id];
	if (!v->data || v->dtype != SP_DT_FLOAT || v->producer >= 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "\"%s\" is not a float constant and cannot be a parameter",
							v->name);
	if (!v->variable)
		memcpy(data, v->data, (size_t) sp_shape_numel(&v->shape) * sizeof(float));
	v->data = data;
	v->grad = grad;
	v->variable = true;
	return SP_OK;
}

void
sp_graph_set_team(sp_graph *g, struct sp_team *team)
{
	g->team = team;
}

sp_status
sp_graph_set_batch(sp_graph *g, int64_t batch, sp_error *err)
{
	if (!g->prepared || !g->training)
		return sp_set_error(err, SP_ERR_INTERNAL, "only a training graph can change its batch");
	if (batch < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid batch %" PRId64, batch);
	for (int i = 0; i < g->n_inputs; i++)
	{
		sp_value   *v = &g->values[g->inputs[i]];

		if (v->shape.rank < 1)
			continue;
		v->shape.dim[0] = batch;
		if ((size_t) sp_shape_numel(&v->shape) * sp_dtype_size(v->dtype) > v->bytes)
			return sp_set_error(err, SP_ERR_INVALID_ARG, "batch %" PRId64 " is larger than the graph was prepared for",
								batch);
	}
	for (int oi = 0; oi < g->n_order; oi++)
	{
		sp_node    *n = &g->nodes[g->order[oi]];
		size_t		planned = n->scratch;
		sp_status	st = n->op->infer(g, n, err);

		if (st != SP_OK)
			return st;
		/* the scratch was sized (by prepare, for forward and backward) for the largest batch */
		if (n->scratch > planned)
			return sp_op_error(err, SP_ERR_INTERNAL, n, "needs more scratch at batch %" PRId64, batch);
		n->scratch = planned;
		for (int o = 0; o < n->n_out; o++)
		{
			sp_value   *v = sp_out(g, n, o);

			if (!v->data && (sp_shape_numel(&v->shape) < 0 ||
							 (size_t) sp_shape_numel(&v->shape) * sp_dtype_size(v->dtype) > v->bytes))
				return sp_op_error(err, SP_ERR_INVALID_ARG, n, "output \"%s\" does not fit its memory at batch %" PRId64,
								   v->name, batch);
		}
	}
	return SP_OK;
}

sp_status
sp_graph_prepare(sp_graph *g, const sp_shape *input_shapes, sp_error *err)
{
	return sp_graph_prepare_ex(g, input_shapes, 0, err);
}

sp_status
sp_graph_prepare_ex(sp_graph *g, const sp_shape *input_shapes, int flags, sp_error *err)
{
	sp_status	st;

	if (g->prepared)
		return sp_set_error(err, SP_ERR_INTERNAL, "model graph is already prepared");
	if (g->n_outputs < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "model graph has no output");
	for (int v = 0; v < g->n_values; v++)
		if (g->values[v].data)
			g->values[v].known = true;
	if ((flags & SP_GRAPH_PREPARE_TRAIN) && (flags & SP_GRAPH_PREPARE_PORTABLE))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "a training graph cannot be prepared portable");
	g->training = (flags & SP_GRAPH_PREPARE_TRAIN) != 0;
	if ((st = bind_inputs(g, input_shapes, g->training, err)) != SP_OK)
		return st;
	if ((st = sort_nodes(g, err)) != SP_OK)
		return st;
	if ((st = infer_all(g, err)) != SP_OK)
		return st;
	for (int i = 0; i < g->n_outputs; i++)
		if (!g->values[g->outputs[i]].known)
			return sp_set_error(err, SP_ERR_CORRUPT, "graph output \"%s\" is not computed by the graph",
								g->values[g->outputs[i]].name);
	if ((st = prune(g, err)) != SP_OK)
		return st;
	compact_order(g);
	if (!(flags & SP_GRAPH_PREPARE_PORTABLE))
	{
		/* a training graph keeps every op (and so its backward) as built */
		if (!g->training && (st = sp_graph_optimise(g, err)) != SP_OK)
			return st;
		compact_order(g);
		for (int oi = 0; oi < g->n_order; oi++)
		{
			sp_node    *n = &g->nodes[g->order[oi]];

			if (n->op->prepare && (st = n->op->prepare(g, n, err)) != SP_OK)
				return st;
		}
	}
	if (g->training)
		st = plan_training(g, err);
	else
		st = plan_memory(g, err);
	if (st != SP_OK)
		return st;
	g->prepared = true;
	return SP_OK;
}

size_t
sp_graph_run_bytes(const sp_graph *g)
{
	return g->arena_bytes + g->scratch_bytes;
}

/*
 * The per-run tables after the arena and the largest scratch: a pointer per
 * value (its data), a gradient pointer per value (backward), and the
 * argument arrays of one node.
 */
typedef struct run_tables
{
	char	   *base;
	void	   *scratch;
	void	  **ptr;
	float	  **gptr;
	const void **in;
	void	  **out;
	const float **d_out;
	float	  **d_in;
} run_tables;

static void
run_tables_init(const sp_graph *g, void *arena, run_tables *t)
{
	size_t		scratch_size = 0;
	int			max_io = 1;

	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		if (n->scratch > scratch_size)
			scratch_size = n->scratch;
		if (n->n_in > max_io)
			max_io = n->n_in;
		if (n->n_out > max_io)
			max_io = n->n_out;
	}
	t->base = arena;
	t->scratch = t->base + g->arena_bytes;
	t->ptr = (void **) ((char *) t->scratch + round_up(scratch_size));
	t->gptr = (float **) (t->ptr + g->n_values);
	t->in = (const void **) (t->gptr + g->n_values);
	t->out = (void **) (t->in + max_io + 1);
	t->d_out = (const float **) (t->out + max_io + 1);
	t->d_in = (float **) (t->d_out + max_io + 1);
	for (int v = 0; v < g->n_values; v++)
	{
		const sp_value *val = &g->values[v];

		t->ptr[v] = val->data ? val->data : (val->offset >= 0 ? t->base + val->offset : NULL);
	}
}

sp_status
sp_graph_run(const sp_graph *g, const sp_env *env, void *arena, const void *const *inputs,
			 void *const *outputs, sp_error *err)
{
	return sp_graph_run_ex(g, env, arena, inputs, outputs, 0, err);
}

/* What an op's forward or backward gets about node n, from the run tables. */
static void
op_run_init(sp_op_run *r, const sp_graph *g, const sp_node *n, const run_tables *t, const sp_env *env,
			int flags, sp_error *err)
{
	memset(r, 0, sizeof(*r));
	r->g = g;
	r->n = n;
	r->in = t->in;
	r->out = t->out;
	r->scratch = t->scratch;
	r->env = env;
	r->err = err;
	r->training = (flags & SP_GRAPH_RUN_TRAINING) != 0;
}

sp_status
sp_graph_run_ex(const sp_graph *g, const sp_env *env, void *arena, const void *const *inputs,
				void *const *outputs, int flags, sp_error *err)
{
	run_tables	t;

	if (!g->prepared)
		return sp_set_error(err, SP_ERR_INTERNAL, "model graph is not prepared");
	if ((flags & SP_GRAPH_RUN_TRAINING) && !g->training)
		return sp_set_error(err, SP_ERR_INTERNAL, "model graph is not prepared for training");
	run_tables_init(g, arena, &t);
	for (int i = 0; i < g->n_inputs; i++)
	{
		const sp_value *val = &g->values[g->inputs[i]];

		/* a training graph keeps its own copy for backward */
		if (val->offset >= 0)
			memcpy(t.ptr[g->inputs[i]], inputs[i],
				   (size_t) sp_shape_numel(&val->shape) * sp_dtype_size(val->dtype));
		else
			t.ptr[g->inputs[i]] = (void *) inputs[i];
	}
	for (int i = 0; i < g->n_outputs; i++)
	{
		const sp_value *val = &g->values[g->outputs[i]];

		if (!val->data && !val->is_input && val->offset < 0)
			t.ptr[g->outputs[i]] = outputs[i];
	}
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];
		sp_op_run	r;
		sp_status	st;

		if (sp_env_interrupted(env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "canceled");
		for (int k = 0; k < n->n_in; k++)
			t.in[k] = n->in[k] >= 0 ? t.ptr[n->in[k]] : NULL;
		for (int o = 0; o < n->n_out; o++)
			t.out[o] = t.ptr[n->out[o]];
		op_run_init(&r, g, n, &t, env, flags, err);
		st = n->op->forward(&r);
		if (st != SP_OK)
			return st;
	}
	/* outputs that are constants, inputs or (training) in the arena are copied */
	for (int i = 0; i < g->n_outputs; i++)
	{
		const sp_value *val = &g->values[g->outputs[i]];

		if (val->data || val->is_input || val->offset >= 0)
			memcpy(outputs[i], t.ptr[g->outputs[i]],
				   (size_t) sp_shape_numel(&val->shape) * sp_dtype_size(val->dtype));
	}
	return SP_OK;
}

sp_status
sp_graph_backward(const sp_graph *g, const sp_env *env, void *arena, const float *const *d_outputs,
				  int flags, sp_error *err)
{
	run_tables	t;

	if (!g->prepared || !g->training)
		return sp_set_error(err, SP_ERR_INTERNAL, "model graph is not prepared for training");
	run_tables_init(g, arena, &t);
	for (int v = 0; v < g->n_values; v++)
	{
		const sp_value *val = &g->values[v];

		t.gptr[v] = NULL;
		if (!val->needs_grad)
			continue;
		if (val->variable)
			t.gptr[v] = val->grad;
		else if (val->offset >= 0)
		{
			t.gptr[v] = (float *) (t.base + g->act_bytes + val->offset);
			memset(t.gptr[v], 0, sizeof(float) * (size_t) sp_shape_numel(&val->shape));
		}
	}
	for (int i = 0; i < g->n_outputs; i++)
	{
		const sp_value *val = &g->values[g->outputs[i]];
		float	   *gp = t.gptr[g->outputs[i]];
		int64_t		numel = sp_shape_numel(&val->shape);

		if (gp && !val->variable && d_outputs[i])
			for (int64_t k = 0; k < numel; k++)
				gp[k] += d_outputs[i][k];
	}
	for (int oi = g->n_order - 1; oi >= 0; oi--)
	{
		const sp_node *n = &g->nodes[g->order[oi]];
		bool		want = false;
		sp_op_run	r;
		sp_status	st;

		for (int k = 0; k < n->n_in; k++)
		{
			t.in[k] = n->in[k] >= 0 ? t.ptr[n->in[k]] : NULL;
			t.d_in[k] = n->in[k] >= 0 ? t.gptr[n->in[k]] : NULL;
			want |= t.d_in[k] != NULL;
		}
		if (!want)
			continue;			/* nothing trainable before this node */
		if (sp_env_interrupted(env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "canceled");
		for (int o = 0; o < n->n_out; o++)
		{
			t.out[o] = t.ptr[n->out[o]];
			t.d_out[o] = t.gptr[n->out[o]];
		}
		op_run_init(&r, g, n, &t, env, flags, err);
		r.d_out = t.d_out;
		r.d_in = t.d_in;
		st = n->op->backward(&r);
		if (st != SP_OK)
			return st;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Stats. */

void
sp_graph_get_stats(const sp_graph *g, sp_graph_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->arena_bytes = g->arena_bytes;
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		st->nodes++;
		if (n->op->flops)
			st->flops += n->op->flops(g, n);
		for (int k = 0; k < n->n_in; k++)
		{
			const sp_value *v = sp_in(g, n, k);

			if (v && v->data && v->dtype == SP_DT_FLOAT)
				st->parameters += sp_shape_numel(&v->shape);
		}
	}
}

void
sp_graph_op_summary(const sp_graph *g, char *buf, size_t len)
{
	const sp_op_def *ops[256];
	int			counts[256];
	int			nops = 0;
	size_t		o = 0;

	buf[0] = '\0';
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];
		/* a node a pass fused from several lists them in "_fused" (op names) */
		const char *fused = sp_attr_string(n, "_fused", NULL);

		for (;;)
		{
			const sp_op_def *op = n->op;
			int			k;

			if (fused)
			{
				char		name[64];
				size_t		l = strcspn(fused, " ");

				if (l == 0 || l >= sizeof name)
					break;
				memcpy(name, fused, l);
				name[l] = '\0';
				fused += l + (fused[l] == ' ');
				if (!(op = sp_op_lookup(name)))
					continue;
			}
			for (k = 0; k < nops && ops[k] != op; k++)
				;
			if (k == nops && nops < 256)
			{
				ops[nops] = op;
				counts[nops++] = 0;
			}
			if (k < nops)
				counts[k]++;
			if (!fused)
				break;
		}
	}
	for (int done = 0; done < nops; done++)
	{
		int			best = -1;

		for (int k = 0; k < nops; k++)
			if (counts[k] > 0 && (best < 0 || counts[k] > counts[best]))
				best = k;
		if (best < 0)
			break;
		o += (size_t) snprintf(buf + o, o < len ? len - o : 0, "%s%s x%d", done ? ", " : "",
							   ops[best]->name, counts[best]);
		counts[best] = 0;
	}
}

/*
 * graph_json.c: the project's own file form of an operator graph: the
 * "graph" object of a format-2 model config (docs/model-format.md), with
 * float constants in the model's safetensors under their tensor names and
 * int64 / bool constants (shapes, axes, indices: small) inline.
 *
 *   "graph": {
 *     "inputs":    [{"name": "input", "dtype": "float32", "shape": [1, 3, 224, 224]}],
 *     "outputs":   ["embedding"],
 *     "constants": [{"name": "shape_1", "dtype": "int64", "shape": [2], "data": [1, -1]}],
 *     "nodes":     [{"op": "Conv", "name": "conv1", "inputs": ["input", "conv1.weight", ""],
 *                    "outputs": ["x1"], "attributes": {"strides": {"ints": [2, 2]}}}]
 *   }
 *
 * An attribute is {"int": n}, {"float": x}, {"string": s}, {"ints": [...]},
 * {"floats": [...]} or {"tensor": "constant name"}.  The writer emits the
 * live nodes of a graph prepared without optimisation, in run order, so a
 * file holds exactly what runs (constant subgraphs already folded); the
 * reader checks everything again, since a config can be written by hand.
 */
#include "nn/graph_json.h"
#include "nn/op.h"

#include <stdio.h>
#include <string.h>

#define MAX_INLINE_ELEMENTS 65536

/* ---------------------------------------------------------------------- */
/* Writer. */

typedef struct const_set
{
	const sp_env *env;
	int		   *ids;
	int			n,
				cap;
} const_set;

static bool
const_add(const_set *cs, int id)
{
	for (int i = 0; i < cs->n; i++)
		if (cs->ids[i] == id)
			return true;
	if (cs->n == cs->cap)
	{
		int			ncap = cs->cap ? cs->cap * 2 : 64;
		int		   *n = sp_alloc_array(cs->env, (size_t) ncap, sizeof(int));

		if (!n)
			return false;
		if (cs->n)
			memcpy(n, cs->ids, sizeof(int) * (size_t) cs->n);
		sp_free(cs->env, cs->ids);
		cs->ids = n;
		cs->cap = ncap;
	}
	cs->ids[cs->n++] = id;
	return true;
}

/* Open a tensor's object (an input or an inline constant): name, dtype, shape. */
static void
write_value_head(sp_jsonw *w, const sp_value *v)
{
	sp_jsonw_inline_next(w);
	sp_jsonw_begin_object(w);
	sp_jsonw_key(w, "name");
	sp_jsonw_string(w, v->name);
	sp_jsonw_key(w, "dtype");
	sp_jsonw_string(w, sp_dtype_name(v->dtype));
	sp_jsonw_key(w, "shape");
	sp_jsonw_inline_next(w);
	sp_jsonw_begin_array(w);
	for (int i = 0; i < v->shape.rank; i++)
		sp_jsonw_int(w, v->shape.dim[i]);
	sp_jsonw_end_array(w);
}

sp_status
sp_graph_write_json(const sp_graph *g, sp_jsonw *w, sp_st_out_tensor **tensors, int *n_tensors,
					sp_error *err)
{
	const_set	cs = {g->env, NULL, 0, 0};
	sp_st_out_tensor *t = NULL;
	int			nt = 0;

	*tensors = NULL;
	*n_tensors = 0;
	/* constants the live nodes read (inputs and tensor attributes) */
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0 && g->values[n->in[k]].data && !const_add(&cs, n->in[k]))
				goto nomem;
		for (int a = 0; a < n->n_attrs; a++)
			if (n->attrs[a].type == SP_ATTR_TENSOR && !const_add(&cs, n->attrs[a].tensor))
				goto nomem;
	}
	for (int i = 0; i < g->n_outputs; i++)
		if (g->values[g->outputs[i]].data && !const_add(&cs, g->outputs[i]))
			goto nomem;
	t = sp_alloc_array(g->env, (size_t) cs.n + 1, sizeof(sp_st_out_tensor));
	if (!t)
		goto nomem;

	sp_jsonw_begin_object(w);
	sp_jsonw_key(w, "inputs");
	sp_jsonw_begin_array(w);
	for (int i = 0; i < g->n_inputs; i++)
	{
		write_value_head(w, &g->values[g->inputs[i]]);
		sp_jsonw_end_object(w);
	}
	sp_jsonw_end_array(w);
	sp_jsonw_key(w, "outputs");
	sp_jsonw_inline_next(w);
	sp_jsonw_begin_array(w);
	for (int i = 0; i < g->n_outputs; i++)
		sp_jsonw_string(w, g->values[g->outputs[i]].name);
	sp_jsonw_end_array(w);

	sp_jsonw_key(w, "constants");
	sp_jsonw_begin_array(w);
	for (int i = 0; i < cs.n; i++)
	{
		const sp_value *v = &g->values[cs.ids[i]];
		int64_t		numel = sp_shape_numel(&v->shape);

		if (v->dtype == SP_DT_FLOAT)
		{
			if (v->shape.rank > SP_ST_MAX_DIMS)
			{
				sp_free(g->env, cs.ids);
				sp_free(g->env, t);
				return sp_set_error(err, SP_ERR_UNSUPPORTED, "tensor \"%s\" has too many dimensions to store", v->name);
			}
			t[nt].name = v->name;
			t[nt].ndim = v->shape.rank;
			for (int d = 0; d < v->shape.rank; d++)
				t[nt].shape[d] = v->shape.dim[d];
			t[nt].data = v->data;
			nt++;
			continue;
		}
		if (numel > MAX_INLINE_ELEMENTS)
		{
			sp_free(g->env, cs.ids);
			sp_free(g->env, t);
			return sp_set_error(err, SP_ERR_LIMIT, "%s tensor \"%s\" of %lld elements is too large to store",
								sp_dtype_name(v->dtype), v->name, (long long) numel);
		}
		write_value_head(w, v);
		sp_jsonw_key(w, "data");
		sp_jsonw_begin_array(w);
		for (int64_t e = 0; e < numel; e++)
		{
			if (v->dtype == SP_DT_INT64)
				sp_jsonw_int(w, ((const int64_t *) v->data)[e]);
			else
				sp_jsonw_int(w, ((const uint8_t *) v->data)[e] ? 1 : 0);
		}
		sp_jsonw_end_array(w);
		sp_jsonw_end_object(w);
	}
	sp_jsonw_end_array(w);

	sp_jsonw_key(w, "nodes");
	sp_jsonw_begin_array(w);
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		sp_jsonw_inline_next(w);
		sp_jsonw_begin_object(w);
		sp_jsonw_key(w, "op");
		sp_jsonw_string(w, n->op->name);
		sp_jsonw_key(w, "name");
		sp_jsonw_string(w, n->name);
		sp_jsonw_key(w, "inputs");
		sp_jsonw_begin_array(w);
		for (int k = 0; k < n->n_in; k++)
			sp_jsonw_string(w, n->in[k] >= 0 ? g->values[n->in[k]].name : "");
		sp_jsonw_end_array(w);
		sp_jsonw_key(w, "outputs");
		sp_jsonw_begin_array(w);
		for (int o = 0; o < n->n_out; o++)
			sp_jsonw_string(w, g->values[n->out[o]].name);
		sp_jsonw_end_array(w);
		if (n->n_attrs > 0)
		{
			sp_jsonw_key(w, "attributes");
			sp_jsonw_begin_object(w);
			for (int a = 0; a < n->n_attrs; a++)
			{
				const sp_attr *at = &n->attrs[a];

				sp_jsonw_key(w, at->name);
				sp_jsonw_begin_object(w);
				switch (at->type)
				{
					case SP_ATTR_INT:
						sp_jsonw_key(w, "int");
						sp_jsonw_int(w, at->i);
						break;
					case SP_ATTR_FLOAT:
						sp_jsonw_key(w, "float");
						sp_jsonw_float(w, at->f);
						break;
					case SP_ATTR_STRING:
						sp_jsonw_key(w, "string");
						sp_jsonw_string(w, at->s);
						break;
					case SP_ATTR_INTS:
						sp_jsonw_key(w, "ints");
						sp_jsonw_begin_array(w);
						for (int k = 0; k < at->n; k++)
							sp_jsonw_int(w, at->ints[k]);
						sp_jsonw_end_array(w);
						break;
					case SP_ATTR_FLOATS:
						sp_jsonw_key(w, "floats");
						sp_jsonw_begin_array(w);
						for (int k = 0; k < at->n; k++)
							sp_jsonw_float(w, at->floats[k]);
						sp_jsonw_end_array(w);
						break;
					case SP_ATTR_TENSOR:
						sp_jsonw_key(w, "tensor");
						sp_jsonw_string(w, g->values[at->tensor].name);
						break;
				}
				sp_jsonw_end_object(w);
			}
			sp_jsonw_end_object(w);
		}
		sp_jsonw_end_object(w);
	}
	sp_jsonw_end_array(w);
	sp_jsonw_end_object(w);
	sp_free(g->env, cs.ids);
	*tensors = t;
	*n_tensors = nt;
	return SP_OK;

nomem:
	sp_free(g->env, cs.ids);
	sp_free(g->env, t);
	return sp_set_error(err, SP_ERR_NOMEM, "out of memory writing the model graph");
}

/* ---------------------------------------------------------------------- */
/* Reader. */

static sp_status
gj_error(sp_error *err, const char *fmt, const char *a)
{
	return sp_set_error(err, SP_ERR_INVALID_ARG, fmt, a);
}

static sp_dtype
dtype_of(const char *s)
{
	if (strcmp(s, "float32") == 0)
		return SP_DT_FLOAT;
	if (strcmp(s, "int64") == 0)
		return SP_DT_INT64;
	if (strcmp(s, "bool") == 0)
		return SP_DT_BOOL;
	return SP_DT_UNDEFINED;
}

static sp_status
read_shape(const sp_json *a, sp_shape *s, const char *what, sp_error *err)
{
	if (!a || a->type != SP_JSON_ARRAY || a->count > SP_MAX_RANK)
		return gj_error(err, "graph: \"shape\" of \"%s\" must be an array of at most 8 integers", what);
	s->rank = (int) a->count;
	for (size_t i = 0; i < a->count; i++)
		if (!sp_json_get_i64(a->items[i], &s->dim[i]) || s->dim[i] < -1)
			return gj_error(err, "graph: \"shape\" of \"%s\" must hold integers >= -1", what);
	return SP_OK;
}

static const char *
str_member(const sp_json *o, const char *key)
{
	const sp_json *v = sp_json_get(o, key);

	return v && v->type == SP_JSON_STRING ? v->str : NULL;
}

static sp_status
read_names(const sp_json *a, const char **names, int max, int *count, const char *what, sp_error *err)
{
	if (!a || a->type != SP_JSON_ARRAY || (int) a->count > max)
		return gj_error(err, "graph: %s must be an array of tensor names", what);
	for (size_t i = 0; i < a->count; i++)
	{
		if (a->items[i]->type != SP_JSON_STRING)
			return gj_error(err, "graph: %s must be an array of tensor names", what);
		names[i] = a->items[i]->str;
	}
	*count = (int) a->count;
	return SP_OK;
}

static sp_status
read_attribute(sp_graph *g, sp_node *n, const sp_json *a, sp_error *err)
{
	const sp_json *v;
	int64_t		iv;

	if (a->type != SP_JSON_OBJECT || a->count != 1)
		return sp_op_error(err, SP_ERR_INVALID_ARG, n, "attribute \"%s\" must be an object with one member", a->key);
	v = a->items[0];
	if (strcmp(v->key, "int") == 0 && sp_json_get_i64(v, &iv))
		return sp_node_set_int(g, n, a->key, iv, err);
	if (strcmp(v->key, "float") == 0 && v->type == SP_JSON_NUMBER)
		return sp_node_set_float(g, n, a->key, (float) v->number, err);
	if (strcmp(v->key, "string") == 0 && v->type == SP_JSON_STRING)
		return sp_node_set_string(g, n, a->key, v->str, err);
	if (strcmp(v->key, "tensor") == 0 && v->type == SP_JSON_STRING)
	{
		int			id = sp_graph_find(g, v->str);

		if (id < 0 || !g->values[id].data)
			return sp_op_error(err, SP_ERR_INVALID_ARG, n, "attribute \"%s\" names no constant", a->key);
		return sp_node_set_tensor(g, n, a->key, id, err);
	}
	if ((strcmp(v->key, "ints") == 0 || strcmp(v->key, "floats") == 0) && v->type == SP_JSON_ARRAY)
	{
		bool		ints = v->key[0] == 'i';
		size_t		cnt = v->count;
		void	   *buf;
		sp_status	st;

		if (cnt > 65536)
			return sp_op_error(err, SP_ERR_LIMIT, n, "attribute \"%s\" is too long", a->key);
		buf = sp_alloc_array(g->env, cnt + 1, 8);
		if (!buf)
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory reading the model graph");
		for (size_t i = 0; i < cnt; i++)
		{
			bool		ok = ints ? sp_json_get_i64(v->items[i], &((int64_t *) buf)[i])
				: v->items[i]->type == SP_JSON_NUMBER;

			if (!ok)
			{
				sp_free(g->env, buf);
				return sp_op_error(err, SP_ERR_INVALID_ARG, n, "attribute \"%s\" holds a value of the wrong type", a->key);
			}
			if (!ints)
				((float *) buf)[i] = (float) v->items[i]->number;
		}
		st = ints ? sp_node_set_ints(g, n, a->key, buf, (int) cnt, err)
			: sp_node_set_floats(g, n, a->key, buf, (int) cnt, err);
		sp_free(g->env, buf);
		return st;
	}
	return sp_op_error(err, SP_ERR_INVALID_ARG, n, "attribute \"%s\" has an unknown form", a->key);
}

sp_status
sp_graph_read_json(const sp_env *env, const sp_json *obj, const sp_safetensors *st, sp_graph **out,
				   sp_error *err)
{
	sp_graph   *g;
	const sp_json *inputs,
			   *outputs,
			   *consts,
			   *nodes;
	const char **names = NULL;
	sp_status	s;

	*out = NULL;
	if (!obj || obj->type != SP_JSON_OBJECT)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "\"graph\" must be an object");
	inputs = sp_json_get(obj, "inputs");
	outputs = sp_json_get(obj, "outputs");
	consts = sp_json_get(obj, "constants");
	nodes = sp_json_get(obj, "nodes");
	if (!inputs || inputs->type != SP_JSON_ARRAY || !nodes || nodes->type != SP_JSON_ARRAY ||
		(consts && consts->type != SP_JSON_ARRAY))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "graph: \"inputs\" and \"nodes\" must be arrays");
	if (nodes->count > SP_GRAPH_MAX_NODES)
		return sp_set_error(err, SP_ERR_LIMIT, "graph: more than %d nodes", SP_GRAPH_MAX_NODES);
	{
		static const char *const members[] = {"inputs", "outputs", "constants", "nodes", NULL};
		const char *k = sp_json_unknown_key(obj, members);

		if (k)
			return gj_error(err, "graph: unknown member \"%s\"", k);
	}
	if ((s = sp_graph_create(env, &g, err)) != SP_OK)
		return s;
	names = sp_alloc_array(env, 4097, sizeof(char *));
	if (!names)
	{
		s = sp_set_error(err, SP_ERR_NOMEM, "out of memory reading the model graph");
		goto fail;
	}
	/* float constants: every safetensors tensor (only referenced ones survive pruning) */
	for (int i = 0; st && i < st->n_tensors; i++)
	{
		const sp_st_tensor *t = &st->tensors[i];
		sp_shape	sh = {t->ndim, {0}};
		int			id;

		if (!t->data)
			continue;
		for (int d = 0; d < t->ndim; d++)
			sh.dim[d] = t->shape[d];
		if ((id = sp_graph_value(g, t->name, err)) < 0 ||
			(s = sp_graph_set_constant(g, id, SP_DT_FLOAT, &sh, t->data, err)) != SP_OK)
		{
			s = err->code;
			goto fail;
		}
	}
	for (size_t i = 0; consts && i < consts->count; i++)
	{
		const sp_json *c = consts->items[i];
		const char *name = str_member(c, "name"),
				   *dt = str_member(c, "dtype");
		const sp_json *data = sp_json_get(c, "data");
		sp_shape	sh;
		sp_dtype	t;
		int64_t		numel;
		void	   *buf;
		int			id;

		if (!name || !dt || (t = dtype_of(dt)) == SP_DT_UNDEFINED || t == SP_DT_FLOAT || !data ||
			data->type != SP_JSON_ARRAY)
		{
			s = gj_error(err, "graph: constant %s needs a name, an int64 or bool dtype and data", name ? name : "");
			goto fail;
		}
		if ((s = read_shape(sp_json_get(c, "shape"), &sh, name, err)) != SP_OK)
			goto fail;
		numel = sp_shape_numel(&sh);
		if (numel < 0 || numel > MAX_INLINE_ELEMENTS || (size_t) numel != data->count)
		{
			s = gj_error(err, "graph: constant \"%s\" has the wrong number of values", name);
			goto fail;
		}
		buf = sp_alloc_array(env, (size_t) numel + 1, 8);
		if (!buf)
		{
			s = sp_set_error(err, SP_ERR_NOMEM, "out of memory reading the model graph");
			goto fail;
		}
		for (int64_t e = 0; e < numel; e++)
		{
			int64_t		v;

			if (!sp_json_get_i64(data->items[e], &v))
			{
				sp_free(env, buf);
				s = gj_error(err, "graph: constant \"%s\" holds a non-integer", name);
				goto fail;
			}
			if (t == SP_DT_INT64)
				((int64_t *) buf)[e] = v;
			else
				((uint8_t *) buf)[e] = v != 0;
		}
		if ((id = sp_graph_value(g, name, err)) < 0)
			s = err->code;
		else
			s = sp_graph_set_constant(g, id, t, &sh, buf, err);
		sp_free(env, buf);
		if (s != SP_OK)
			goto fail;
	}
	for (size_t i = 0; i < inputs->count; i++)
	{
		const sp_json *in = inputs->items[i];
		const char *name = str_member(in, "name"),
				   *dt = str_member(in, "dtype");
		sp_shape	sh;
		int			id;

		if (!name || !dt || dtype_of(dt) == SP_DT_UNDEFINED)
		{
			s = gj_error(err, "graph: input %s needs a name and a dtype", name ? name : "");
			goto fail;
		}
		if ((s = read_shape(sp_json_get(in, "shape"), &sh, name, err)) != SP_OK)
			goto fail;
		if ((id = sp_graph_value(g, name, err)) < 0 ||
			(s = sp_graph_add_input(g, id, dtype_of(dt), &sh, err)) != SP_OK)
		{
			s = err->code;
			goto fail;
		}
	}
	for (size_t i = 0; i < nodes->count; i++)
	{
		const sp_json *nj = nodes->items[i];
		const char *op = str_member(nj, "op"),
				   *name = str_member(nj, "name");
		const sp_json *attrs = sp_json_get(nj, "attributes");
		int			n_in,
					n_out;
		sp_node    *n;

		if (!op || !name)
		{
			s = gj_error(err, "graph: node %s needs \"op\" and \"name\"", name ? name : "");
			goto fail;
		}
		if ((s = read_names(sp_json_get(nj, "inputs"), names, 2048, &n_in, "node inputs", err)) != SP_OK ||
			(s = read_names(sp_json_get(nj, "outputs"), names + 2048, 2048, &n_out, "node outputs", err)) != SP_OK)
			goto fail;
		n = sp_graph_add_node(g, op, name, names, n_in, names + 2048, n_out, err);
		if (!n)
		{
			s = err->code;
			goto fail;
		}
		if (attrs && attrs->type != SP_JSON_OBJECT)
		{
			s = gj_error(err, "graph: \"attributes\" of node \"%s\" must be an object", name);
			goto fail;
		}
		for (size_t a = 0; attrs && a < attrs->count; a++)
			if ((s = read_attribute(g, n, attrs->items[a], err)) != SP_OK)
				goto fail;
	}
	{
		int			n_out;

		if ((s = read_names(outputs, names, 64, &n_out, "\"outputs\"", err)) != SP_OK)
			goto fail;
		for (int i = 0; i < n_out; i++)
		{
			int			id = sp_graph_find(g, names[i]);

			if (id < 0)
			{
				s = gj_error(err, "graph: output \"%s\" is not a tensor of the graph", names[i]);
				goto fail;
			}
			if ((s = sp_graph_add_output(g, id, err)) != SP_OK)
				goto fail;
		}
	}
	sp_free(env, names);
	*out = g;
	return SP_OK;

fail:
	sp_free(env, names);
	sp_graph_free(g);
	return s;
}

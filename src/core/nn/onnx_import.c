/*
 * onnx_import.c: ONNX ModelProto -> operator graph (onnx_import.h).
 */
#include "nn/onnx_import.h"
#include "nn/op.h"
#include "util/safetensors.h"

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <string.h>

#include "onnx.pb-c.h"

#define MIN_OPSET 6
#define MAX_OPSET 18

/* ---------------------------------------------------------------------- */
/* A budgeted allocator for protobuf-c. */

typedef struct pb_budget
{
	const sp_env *env;
	size_t		used;
	size_t		limit;
	bool		exceeded;		/* the budget refused an allocation */
	bool		out_of_memory;	/* the env refused one */
} pb_budget;

static void *
pb_alloc(void *data, size_t size)
{
	pb_budget  *b = data;
	size_t	   *p;

	if (size > b->limit - b->used || b->used > b->limit)
	{
		b->exceeded = true;
		return NULL;
	}
	p = sp_alloc(b->env, size + sizeof(size_t) * 2);
	if (!p)
	{
		b->out_of_memory = true;
		return NULL;
	}
	b->used += size;
	p[0] = size;
	return p + 2;				/* keep 16-byte alignment */
}

static void
pb_free(void *data, void *ptr)
{
	pb_budget  *b = data;
	size_t	   *p;

	if (!ptr)
		return;
	p = (size_t *) ptr - 2;
	b->used -= p[0];
	sp_free(b->env, p);
}

/* ---------------------------------------------------------------------- */
/* Tensors. */

static const char *
onnx_type_name(int32_t t)
{
	static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16",
		"int32", "int64", "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
	"complex128", "bfloat16"};

	return t >= 0 && t < (int32_t) (sizeof(names) / sizeof(names[0])) ? names[t] : "unknown";
}

/* Bytes per element of a raw_data encoding, 0 if not one we read. */
static size_t
raw_elem_size(int32_t t)
{
	switch (t)
	{
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
			return 4;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
			return 8;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
		case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
			return 2;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
		case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
		case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
			return 1;
		default:
			return 0;
	}
}

static inline uint64_t
le_load(const uint8_t *p, size_t n)
{
	uint64_t	v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t) p[i] << (8 * i);
	return v;
}

/*
 * Decode a TensorProto into dtype/shape/data (data allocated with env).
 * float -> float32; float16 -> float32; int64 -> int64; int32, int16,
 * int8, uint8, uint16 -> int64 (widened: the graph's integer type); bool ->
 * bool.  what names the tensor in errors.
 */
static sp_status
decode_tensor(const sp_env *env, const Onnx__TensorProto *t, const char *what, sp_dtype *dtype,
			  sp_shape *shape, void **data, sp_error *err)
{
	int32_t		dt = t->has_data_type ? t->data_type : 0;
	int64_t		numel = 1;
	sp_dtype	out_t;
	size_t		es;
	uint8_t    *d;

	*data = NULL;
	if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL || t->n_external_data > 0)
	{
		sp_set_error(err, SP_ERR_UNSUPPORTED, "tensor \"%s\" keeps its data in an external file", what);
		sp_error_hint(err, "Save the model with its weights inside the file, for example "
					  "onnx.save_model(model, path, save_as_external_data=False); that works up to 2 GB.");
		return SP_ERR_UNSUPPORTED;
	}
	if (t->segment)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "tensor \"%s\" is segmented", what);
	if (t->n_dims > SP_MAX_RANK)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "tensor \"%s\" has rank %zu; at most %d is supported",
							what, t->n_dims, SP_MAX_RANK);
	shape->rank = (int) t->n_dims;
	for (size_t i = 0; i < t->n_dims; i++)
	{
		if (t->dims[i] < 0)
			return sp_set_error(err, SP_ERR_CORRUPT, "tensor \"%s\" has a negative dimension", what);
		shape->dim[i] = t->dims[i];
		if (t->dims[i] > 0 && numel > SP_GRAPH_MAX_ELEMENTS / t->dims[i])
			return sp_set_error(err, SP_ERR_LIMIT, "tensor \"%s\" has more than %lld elements", what,
								(long long) SP_GRAPH_MAX_ELEMENTS);
		numel *= t->dims[i];
	}
	switch (dt)
	{
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
			out_t = SP_DT_FLOAT;
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
		case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
		case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
			out_t = SP_DT_INT64;
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
			out_t = SP_DT_BOOL;
			break;
		default:
			return sp_set_error(err, SP_ERR_UNSUPPORTED, "tensor \"%s\" has element type %s, which is not supported",
								what, onnx_type_name(dt));
	}
	es = sp_dtype_size(out_t);
	d = sp_alloc(env, (size_t) numel * es + 1);
	if (!d)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory for tensor \"%s\"", what);
	if (t->has_raw_data)
	{
		size_t		rs = raw_elem_size(dt);

		if (t->raw_data.len != (size_t) numel * rs)
		{
			sp_free(env, d);
			return sp_set_error(err, SP_ERR_CORRUPT, "tensor \"%s\" holds %zu bytes but its shape needs %zu",
								what, t->raw_data.len, (size_t) numel * rs);
		}
		for (int64_t i = 0; i < numel; i++)
		{
			uint64_t	v = le_load(t->raw_data.data + (size_t) i * rs, rs);

			switch (dt)
			{
				case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
					{
						uint32_t	u = (uint32_t) v;

						memcpy(d + i * 4, &u, 4);
						break;
					}
				case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
					{
						float		f = sp_half_to_float((uint16_t) v);

						memcpy(d + i * 4, &f, 4);
						break;
					}
				case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
					d[i] = v != 0;
					break;
				default:
					{
						int64_t		s;

						/* sign-extend the signed narrow types */
						if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
							s = (int32_t) (uint32_t) v;
						else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT16)
							s = (int16_t) (uint16_t) v;
						else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8)
							s = (int8_t) (uint8_t) v;
						else
							s = (int64_t) v;
						memcpy(d + i * 8, &s, 8);
					}
			}
		}
	}
	else
	{
		size_t		have;

		if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
			have = t->n_float_data;
		else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
			have = t->n_int64_data;
		else
			have = t->n_int32_data;
		if (have != (size_t) numel)
		{
			sp_free(env, d);
			return sp_set_error(err, SP_ERR_CORRUPT, "tensor \"%s\" holds %zu values but its shape needs %lld",
								what, have, (long long) numel);
		}
		for (int64_t i = 0; i < numel; i++)
		{
			if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
				memcpy(d + i * 4, &t->float_data[i], 4);
			else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16)
			{
				float		f = sp_half_to_float((uint16_t) t->int32_data[i]);

				memcpy(d + i * 4, &f, 4);
			}
			else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
				memcpy(d + i * 8, &t->int64_data[i], 8);
			else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL)
				d[i] = t->int32_data[i] != 0;
			else
			{
				int64_t		s = t->int32_data[i];

				memcpy(d + i * 8, &s, 8);
			}
		}
	}
	*dtype = out_t;
	*data = d;
	return SP_OK;
}

static Onnx__ModelProto *
unpack_model(pb_budget *b, ProtobufCAllocator *a, const uint8_t *buf, size_t len)
{
	a->alloc = pb_alloc;
	a->free = pb_free;
	a->allocator_data = b;
	return onnx__model_proto__unpack(a, len, buf);
}

static sp_status
unpack_error(const pb_budget *b, const char *what, sp_error *err)
{
	/* protobuf-c reports both as a failed unpack: tell them apart by the allocator's record */
	if (b->out_of_memory)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory parsing the %s", what);
	if (b->exceeded)
		return sp_set_error(err, SP_ERR_LIMIT, "%s needs more memory to parse than its size justifies", what);
	return sp_set_error(err, SP_ERR_CORRUPT, "%s is not a valid protobuf message", what);
}

sp_status
sp_onnx_read_tensor(const sp_env *env, const uint8_t *buf, size_t len, sp_dtype *dtype,
					sp_shape *shape, void **data, sp_error *err)
{
	pb_budget	b = {env, 0, len * 4 + (1 << 20), false, false};
	ProtobufCAllocator a = {pb_alloc, pb_free, &b};
	Onnx__TensorProto *t = onnx__tensor_proto__unpack(&a, len, buf);
	sp_status	st;

	if (!t)
		return unpack_error(&b, "tensor file", err);
	st = decode_tensor(env, t, t->name && t->name[0] ? t->name : "(unnamed)", dtype, shape, data, err);
	onnx__tensor_proto__free_unpacked(t, &a);
	return st;
}

/* ---------------------------------------------------------------------- */
/* The model. */

typedef struct importer
{
	const sp_env *env;
	const Onnx__GraphProto *gp;
	sp_graph   *g;
	int64_t		opset;
	/* producer of each tensor name: node index in gp, via a small hash */
	int		   *prod_hash;		/* slots of node*, keyed by output name */
	const char **prod_name;
	int			cap;
} importer;

static uint32_t
str_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t) *s) * 16777619u;
	return h;
}

static sp_status
index_producers(importer *im, sp_error *err)
{
	size_t		nout = 0;

	for (size_t i = 0; i < im->gp->n_node; i++)
		nout += im->gp->node[i]->n_output;
	im->cap = 64;
	while ((size_t) im->cap < 2 * nout + 2)
		im->cap *= 2;
	im->prod_hash = sp_alloc_array(im->env, (size_t) im->cap, sizeof(int));
	im->prod_name = sp_alloc_array(im->env, (size_t) im->cap, sizeof(char *));
	if (!im->prod_hash || !im->prod_name)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory importing the model");
	for (int i = 0; i < im->cap; i++)
		im->prod_hash[i] = -1;
	for (size_t i = 0; i < im->gp->n_node; i++)
	{
		const Onnx__NodeProto *np = im->gp->node[i];

		for (size_t o = 0; o < np->n_output; o++)
		{
			const char *name = np->output[o];
			uint32_t	h;

			if (!name || !name[0])
				continue;
			for (h = str_hash(name) & (uint32_t) (im->cap - 1); im->prod_hash[h] >= 0;
				 h = (h + 1) & (uint32_t) (im->cap - 1))
				if (strcmp(im->prod_name[h], name) == 0)
					return sp_set_error(err, SP_ERR_CORRUPT, "tensor \"%s\" is produced by more than one node", name);
			im->prod_hash[h] = (int) i;
			im->prod_name[h] = name;
		}
	}
	return SP_OK;
}

static int
producer_of(const importer *im, const char *name)
{
	for (uint32_t h = str_hash(name) & (uint32_t) (im->cap - 1); im->prod_hash[h] >= 0;
		 h = (h + 1) & (uint32_t) (im->cap - 1))
		if (strcmp(im->prod_name[h], name) == 0)
			return im->prod_hash[h];
	return -1;
}

/* Mark the nodes the wanted outputs need (iterative DFS). */
static sp_status
mark_needed(importer *im, const char *const *outputs, int n_outputs, bool *need, sp_error *err)
{
	size_t		cap = im->gp->n_node + 16;
	const char **stack = sp_alloc_array(im->env, cap, sizeof(char *));
	size_t		sp = 0;

	if (!stack)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory importing the model");
	for (int i = 0; i < n_outputs; i++)
		stack[sp++] = outputs[i];
	while (sp > 0)
	{
		const char *name = stack[--sp];
		int			p = producer_of(im, name);
		const Onnx__NodeProto *np;

		if (p < 0 || need[p])
			continue;
		need[p] = true;
		np = im->gp->node[p];
		for (size_t k = 0; k < np->n_input; k++)
		{
			if (sp == cap)
			{
				const char **ns = sp_alloc_array(im->env, cap * 2, sizeof(char *));

				if (!ns)
				{
					sp_free(im->env, stack);
					return sp_set_error(err, SP_ERR_NOMEM, "out of memory importing the model");
				}
				memcpy(ns, stack, sizeof(char *) * cap);
				sp_free(im->env, stack);
				stack = ns;
				cap *= 2;
			}
			if (np->input[k] && np->input[k][0])
				stack[sp++] = np->input[k];
		}
	}
	sp_free(im->env, stack);
	return SP_OK;
}

static sp_status
add_attributes(importer *im, const Onnx__NodeProto *np, sp_node *n, sp_error *err)
{
	sp_graph   *g = im->g;
	sp_status	st = SP_OK;

	for (size_t i = 0; i < np->n_attribute && st == SP_OK; i++)
	{
		const Onnx__AttributeProto *a = np->attribute[i];
		const char *name = a->name ? a->name : "";

		if (a->ref_attr_name && a->ref_attr_name[0])
			return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "attribute \"%s\" refers to a function attribute", name);
		switch (a->type)
		{
			case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
				st = sp_node_set_float(g, n, name, a->f, err);
				break;
			case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
				st = sp_node_set_int(g, n, name, a->i, err);
				break;
			case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
				{
					char		buf[256];
					size_t		l = a->s.len < sizeof buf - 1 ? a->s.len : sizeof buf - 1;

					if (a->s.len >= sizeof buf || (l && memchr(a->s.data, 0, l)))
						return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "string attribute \"%s\" is too long or holds NUL", name);
					if (l)
						memcpy(buf, a->s.data, l);
					buf[l] = '\0';
					st = sp_node_set_string(g, n, name, buf, err);
					break;
				}
			case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
				if (a->n_floats > (1 << 20))
					return sp_op_error(err, SP_ERR_LIMIT, n, "attribute \"%s\" is too long", name);
				st = sp_node_set_floats(g, n, name, a->floats, (int) a->n_floats, err);
				break;
			case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
				if (a->n_ints > (1 << 20))
					return sp_op_error(err, SP_ERR_LIMIT, n, "attribute \"%s\" is too long", name);
				st = sp_node_set_ints(g, n, name, a->ints, (int) a->n_ints, err);
				break;
			case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
				{
					char		vname[SP_GRAPH_MAX_NAME + 64];
					sp_dtype	dt;
					sp_shape	sh;
					void	   *data;
					int			id;

					if (!a->t)
						return sp_op_error(err, SP_ERR_CORRUPT, n, "tensor attribute \"%s\" has no tensor", name);
					snprintf(vname, sizeof vname, "\001attr.%s.%s", n->name, name);
					if ((id = sp_graph_value(g, vname, err)) < 0)
						return err->code;
					if ((st = decode_tensor(im->env, a->t, vname + 1, &dt, &sh, &data, err)) != SP_OK)
						return st;
					st = sp_graph_set_constant(g, id, dt, &sh, data, err);
					sp_free(im->env, data);
					if (st == SP_OK)
						st = sp_node_set_tensor(g, n, name, id, err);
					break;
				}
			default:
				return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "attribute \"%s\" is of a type that is not supported (%d)",
								   name, (int) a->type);
		}
	}
	if (st == SP_OK)
		st = sp_node_set_int(g, n, "_opset", im->opset, err);
	return st;
}

static sp_status
add_input(importer *im, const Onnx__ValueInfoProto *vi, sp_error *err)
{
	const Onnx__TypeProto *tp = vi->type;
	const Onnx__TypeProto__Tensor *tt;
	sp_shape	shape = {0};
	sp_dtype	dt;
	int			id;

	if (!vi->name || !vi->name[0])
		return sp_set_error(err, SP_ERR_CORRUPT, "a graph input has no name");
	if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "graph input \"%s\" is not a tensor", vi->name);
	tt = tp->tensor_type;
	switch (tt->elem_type)
	{
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
			dt = SP_DT_FLOAT;
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
			dt = SP_DT_INT64;
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
			dt = SP_DT_BOOL;
			break;
		default:
			return sp_set_error(err, SP_ERR_UNSUPPORTED, "graph input \"%s\" has element type %s, which is not supported",
								vi->name, onnx_type_name(tt->elem_type));
	}
	if (!tt->shape)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "graph input \"%s\" has no declared shape", vi->name);
	if (tt->shape->n_dim > SP_MAX_RANK)
		return sp_set_error(err, SP_ERR_UNSUPPORTED, "graph input \"%s\" has rank %zu; at most %d is supported",
							vi->name, tt->shape->n_dim, SP_MAX_RANK);
	shape.rank = (int) tt->shape->n_dim;
	for (size_t i = 0; i < tt->shape->n_dim; i++)
	{
		const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];

		shape.dim[i] = (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value > 0)
			? d->dim_value : -1;
	}
	if ((id = sp_graph_value(im->g, vi->name, err)) < 0)
		return err->code;
	return sp_graph_add_input(im->g, id, dt, &shape, err);
}

static sp_status
import_graph(importer *im, const char *const *outputs, int n_outputs, sp_onnx_info *info, sp_error *err)
{
	const Onnx__GraphProto *gp = im->gp;
	const char **outs = NULL;
	bool	   *need = NULL;
	sp_status	st;

	if (n_outputs == 0)
	{
		if (gp->n_output == 0)
			return sp_set_error(err, SP_ERR_CORRUPT, "ONNX graph declares no output");
		outs = sp_alloc_array(im->env, gp->n_output, sizeof(char *));
		if (!outs)
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory importing the model");
		for (size_t i = 0; i < gp->n_output; i++)
			outs[i] = gp->output[i]->name ? gp->output[i]->name : "";
		outputs = outs;
		n_outputs = (int) gp->n_output;
	}
	if ((st = index_producers(im, err)) != SP_OK)
		goto done;
	need = sp_alloc_array(im->env, gp->n_node + 1, sizeof(bool));
	if (!need)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory importing the model");
		goto done;
	}
	memset(need, 0, gp->n_node + 1);
	if ((st = mark_needed(im, outputs, n_outputs, need, err)) != SP_OK)
		goto done;

	/* initializers (all of them: unused ones cost nothing once pruned) */
	for (size_t i = 0; i < gp->n_initializer; i++)
	{
		const Onnx__TensorProto *t = gp->initializer[i];
		sp_dtype	dt;
		sp_shape	sh;
		void	   *data;
		int			id;

		if (!t->name || !t->name[0])
		{
			st = sp_set_error(err, SP_ERR_CORRUPT, "an initializer has no name");
			goto done;
		}
		if ((id = sp_graph_value(im->g, t->name, err)) < 0)
		{
			st = err->code;
			goto done;
		}
		if ((st = decode_tensor(im->env, t, t->name, &dt, &sh, &data, err)) != SP_OK)
			goto done;
		st = sp_graph_set_constant(im->g, id, dt, &sh, data, err);
		sp_free(im->env, data);
		if (st != SP_OK)
			goto done;
	}
	if (gp->n_sparse_initializer > 0)
	{
		st = sp_set_error(err, SP_ERR_UNSUPPORTED, "sparse initializers are not supported");
		goto done;
	}
	/* graph inputs that are not initializers */
	for (size_t i = 0; i < gp->n_input; i++)
	{
		int			id = sp_graph_find(im->g, gp->input[i]->name ? gp->input[i]->name : "");

		if (id >= 0 && im->g->values[id].data)
			continue;
		if ((st = add_input(im, gp->input[i], err)) != SP_OK)
			goto done;
	}
	/* the needed nodes, in file order */
	for (size_t i = 0; i < gp->n_node; i++)
	{
		const Onnx__NodeProto *np = gp->node[i];
		char		name[SP_GRAPH_MAX_NAME + 32];
		const char *op = np->op_type ? np->op_type : "";
		sp_node    *n;

		if (!need[i])
			continue;
		if (np->name && np->name[0])
			snprintf(name, sizeof name, "%s", np->name);
		else
			snprintf(name, sizeof name, "%s_%zu", op, i);
		if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx") != 0)
		{
			st = sp_set_error(err, SP_ERR_UNSUPPORTED, "operator %s of domain \"%s\" (node \"%s\") is not supported",
							  op, np->domain, name);
			goto done;
		}
		if (np->n_input > 4096 || np->n_output > 4096)
		{
			st = sp_set_error(err, SP_ERR_LIMIT, "node \"%s\" has too many inputs or outputs", name);
			goto done;
		}
		n = sp_graph_add_node(im->g, op, name, (const char *const *) np->input, (int) np->n_input,
							  (const char *const *) np->output, (int) np->n_output, err);
		if (!n)
		{
			st = err->code;
			if (st == SP_ERR_UNSUPPORTED)
				sp_error_detail(err, "The model uses opset %lld of the default domain.", (long long) im->opset);
			goto done;
		}
		if ((st = add_attributes(im, np, n, err)) != SP_OK)
			goto done;
		if (info)
			info->n_nodes_used++;
	}
	for (int i = 0; i < n_outputs; i++)
	{
		int			id = sp_graph_find(im->g, outputs[i]);

		if (id < 0)
		{
			st = sp_set_error(err, SP_ERR_INVALID_ARG, "the model has no tensor named \"%s\"", outputs[i]);
			goto done;
		}
		if ((st = sp_graph_add_output(im->g, id, err)) != SP_OK)
			goto done;
	}
	st = SP_OK;
done:
	sp_free(im->env, outs);
	sp_free(im->env, need);
	sp_free(im->env, im->prod_hash);
	sp_free(im->env, im->prod_name);
	return st;
}

sp_status
sp_onnx_import(const sp_env *env, const uint8_t *buf, size_t len, const char *const *outputs,
			   int n_outputs, sp_graph **out, sp_onnx_info *info, sp_error *err)
{
	/* protobuf-c's memory is bounded by the input: a few times its size */
	pb_budget	b = {env, 0, len * 4 + ((size_t) 64 << 20), false, false};
	ProtobufCAllocator a;
	Onnx__ModelProto *m;
	importer	im;
	sp_status	st;

	*out = NULL;
	if (info)
		memset(info, 0, sizeof(*info));
	if (len > SP_ONNX_MAX_BYTES)
		return sp_set_error(err, SP_ERR_LIMIT, "ONNX model of %zu bytes exceeds the limit of %zu", len,
							SP_ONNX_MAX_BYTES);
	m = unpack_model(&b, &a, buf, len);
	if (!m)
		return unpack_error(&b, "ONNX model", err);
	memset(&im, 0, sizeof im);
	im.env = env;
	im.opset = -1;
	for (size_t i = 0; i < m->n_opset_import; i++)
	{
		const Onnx__OperatorSetIdProto *o = m->opset_import[i];

		if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
			im.opset = o->has_version ? o->version : -1;
	}
	if (info)
	{
		info->ir_version = m->has_ir_version ? m->ir_version : 0;
		info->opset = im.opset;
		snprintf(info->producer, sizeof info->producer, "%s %s", m->producer_name ? m->producer_name : "",
				 m->producer_version ? m->producer_version : "");
	}
	if (!m->graph)
	{
		st = sp_set_error(err, SP_ERR_CORRUPT, "ONNX model has no graph");
		goto done;
	}
	if (im.opset < MIN_OPSET || im.opset > MAX_OPSET)
	{
		st = sp_set_error(err, SP_ERR_UNSUPPORTED, "ONNX opset %lld is not supported", (long long) im.opset);
		sp_error_hint(err, "Export with an opset between 11 and 18 (torch.onnx.export(..., opset_version=17)).");
		goto done;
	}
	if (info)
		info->n_nodes_file = (int) m->graph->n_node;
	im.gp = m->graph;
	if ((st = sp_graph_create(env, &im.g, err)) != SP_OK)
		goto done;
	st = import_graph(&im, outputs, n_outputs, info, err);
	if (st == SP_OK)
		*out = im.g;
	else
		sp_graph_free(im.g);
done:
	onnx__model_proto__free_unpacked(m, &a);
	return st;
}

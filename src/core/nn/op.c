/*
 * op.c: the helpers op implementations share (op.h): output shapes, errors
 * that name the node, attribute access, constant integer inputs, input
 * checks and broadcasting.
 */
#include "nn/op.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const sp_dtype sp_dt_float_only[] = {SP_DT_FLOAT, SP_DT_UNDEFINED};
const sp_dtype sp_dt_int64_only[] = {SP_DT_INT64, SP_DT_UNDEFINED};
const sp_dtype sp_dt_float_int64[] = {SP_DT_FLOAT, SP_DT_INT64, SP_DT_UNDEFINED};
const sp_dtype sp_dt_any[] = {SP_DT_FLOAT, SP_DT_INT64, SP_DT_BOOL, SP_DT_UNDEFINED};

void
sp_out_set(sp_graph *g, sp_node *n, int i, sp_dtype dtype, const sp_shape *shape)
{
	sp_value   *v = &g->values[n->out[i]];

	v->dtype = dtype;
	v->shape = *shape;
	v->known = true;
}

sp_status
sp_op_error(sp_error *err, sp_status code, const sp_node *n, const char *fmt,...)
{
	char		msg[200];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return sp_set_error(err, code, "%s node \"%s\": %s", n->op ? n->op->name : "?", n->name, msg);
}

const sp_attr *
sp_attr_get(const sp_node *n, const char *name)
{
	for (int i = 0; i < n->n_attrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}

int64_t
sp_attr_int(const sp_node *n, const char *name, int64_t dflt)
{
	const sp_attr *a = sp_attr_get(n, name);

	return a && a->type == SP_ATTR_INT ? a->i : dflt;
}

float
sp_attr_float(const sp_node *n, const char *name, float dflt)
{
	const sp_attr *a = sp_attr_get(n, name);

	if (a && a->type == SP_ATTR_FLOAT)
		return a->f;
	if (a && a->type == SP_ATTR_INT)
		return (float) a->i;
	return dflt;
}

const char *
sp_attr_string(const sp_node *n, const char *name, const char *dflt)
{
	const sp_attr *a = sp_attr_get(n, name);

	return a && a->type == SP_ATTR_STRING ? a->s : dflt;
}

int
sp_attr_ints(const sp_node *n, const char *name, const int64_t **v)
{
	const sp_attr *a = sp_attr_get(n, name);

	if (!a || a->type != SP_ATTR_INTS)
		return -1;
	*v = a->ints;
	return a->n;
}

int
sp_attr_floats(const sp_node *n, const char *name, const float **v)
{
	const sp_attr *a = sp_attr_get(n, name);

	if (!a || a->type != SP_ATTR_FLOATS)
		return -1;
	*v = a->floats;
	return a->n;
}

sp_status
sp_check_input(const sp_graph *g, const sp_node *n, int i, sp_error *err, const sp_dtype *allowed)
{
	const sp_value *v = sp_in(g, n, i);

	if (!v)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input %d is missing", i);
	for (; *allowed != SP_DT_UNDEFINED; allowed++)
		if (v->dtype == *allowed)
			return SP_OK;
	return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "input \"%s\" has element type %s, which this operator does not support",
					   v->name, sp_dtype_name(v->dtype));
}

sp_status
sp_const_ints(const sp_graph *g, const sp_node *n, int i, const char *attr, int64_t *vals, int max,
			  int *count, sp_error *err)
{
	const sp_value *v = sp_in(g, n, i);

	*count = -1;
	if (v)
	{
		int64_t		numel = sp_shape_numel(&v->shape);

		if (v->dtype != SP_DT_INT64 || v->shape.rank > 1)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" must be a 1-D int64 tensor", v->name);
		if (!v->data)
			return sp_op_error(err, SP_ERR_UNSUPPORTED, n,
							   "input \"%s\" must be a constant (computed from constants or shapes)", v->name);
		if (numel > max)
			return sp_op_error(err, SP_ERR_LIMIT, n, "input \"%s\" has %lld values; at most %d are supported",
							   v->name, (long long) numel, max);
		memcpy(vals, v->data, sizeof(int64_t) * (size_t) numel);
		*count = (int) numel;
		return SP_OK;
	}
	if (attr)
	{
		const int64_t *a;
		int			c = sp_attr_ints(n, attr, &a);

		if (c > max)
			return sp_op_error(err, SP_ERR_LIMIT, n, "attribute \"%s\" has %d values; at most %d are supported",
							   attr, c, max);
		if (c >= 0)
			memcpy(vals, a, sizeof(int64_t) * (size_t) c);
		*count = c;
	}
	return SP_OK;
}

sp_status
sp_op_interrupted(const sp_op_run *r)
{
	if (sp_env_interrupted(r->env))
		return sp_set_error(r->err, SP_ERR_INTERRUPTED, "canceled");
	return SP_OK;
}

bool
sp_op_part_stopped(sp_op_split_ctl *c, int part)
{
	if (part == 0)
	{
		sp_status	st;

		if ((st = sp_op_interrupted(c->r)) == SP_OK)
			return false;
		c->st = st;
		__atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
		return true;
	}
	return __atomic_load_n(&c->stop, __ATOMIC_RELAXED) != 0;
}

bool
sp_broadcast_shape(const sp_shape *a, const sp_shape *b, sp_shape *out)
{
	int			r = a->rank > b->rank ? a->rank : b->rank;

	out->rank = r;
	for (int i = 0; i < r; i++)
	{
		int			ia = a->rank - r + i,
					ib = b->rank - r + i;
		int64_t		da = ia >= 0 ? a->dim[ia] : 1,
					db = ib >= 0 ? b->dim[ib] : 1;

		if (da == db || db == 1)
			out->dim[i] = da;
		else if (da == 1)
			out->dim[i] = db;
		else
			return false;
	}
	return true;
}

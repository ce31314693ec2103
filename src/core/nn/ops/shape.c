/*
 * shape.c: ops that compute shapes or move data without arithmetic: Shape,
 * Size, Constant, ConstantOfShape, Range, Reshape, Flatten, Squeeze,
 * Unsqueeze, Transpose, Concat, Split, Slice, Gather, Pad, Expand, Tile and
 * Not.
 *
 * Shapes are static in this engine, so Shape and Size set their outputs
 * constant in infer, and every op whose target shape comes from an input
 * (Reshape, Expand, Tile, ConstantOfShape, Range, Slice, Pad's pads, ...)
 * needs that input constant: the Shape -> Gather -> Unsqueeze -> Concat
 * chains exporters write in front of a Reshape fold at prepare and arrive
 * here as constants.
 *
 * The data-moving ops are type-agnostic (float32, int64, bool): they copy
 * elements of sp_dtype_size() bytes.  Most of them describe their output as
 * a strided view of the input (view, view_copy): Transpose, Slice, Expand
 * and Tile all become one loop whose innermost run is a memcpy, a fill or a
 * strided gather; a Transpose that moves the input's contiguous axis goes
 * through a tiled 2-D transpose instead.
 *
 * Forwards rederive what they need from the (static) shapes and the constant
 * inputs, so they work without prepared state, as constant folding runs them.
 *
 * Reshape, Flatten, Squeeze and Unsqueeze, plain copies, have a backward
 * (the gradient passes through unchanged): trained models flatten.
 */
#include "nn/op.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

/* Ops implement fixed signatures; not every op uses every parameter. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* Variadic ops (Concat inputs, Split outputs) take at most this many. */
#define SP_SHAPE_MAX_IO 1024

/* Elements copied between interrupt polls. */
#define POLL_ELEMENTS ((int64_t) 1 << 22)

/* ---------------------------------------------------------------------- */
/* Helpers. */

static int64_t
numel_of(const sp_value *v)
{
	return sp_shape_numel(&v->shape);
}

/* Input i must exist (any dtype). */
static sp_status
need_input(const sp_graph *g, const sp_node *n, int i, sp_error *err)
{
	return sp_check_input(g, n, i, err, sp_dt_any);
}

/*
 * Product of dims [from, to) of s into *out; false when it exceeds
 * SP_GRAPH_MAX_ELEMENTS (only possible when another dimension is 0).
 */
static bool
dims_product(const sp_shape *s, int from, int to, int64_t *out)
{
	int64_t		p = 1;

	for (int d = from; d < to; d++)
	{
		if (s->dim[d] < 0 || __builtin_mul_overflow(p, s->dim[d], &p) || p > SP_GRAPH_MAX_ELEMENTS)
			return false;
	}
	*out = p;
	return true;
}

static sp_status
too_large(const sp_node *n, sp_error *err)
{
	return sp_op_error(err, SP_ERR_LIMIT, n, "the output would have more than %" PRId64 " elements",
					   SP_GRAPH_MAX_ELEMENTS);
}

/* The sizes a forward needs from dims_product; shapes were checked in infer. */
static int64_t
prod(const sp_shape *s, int from, int to)
{
	int64_t		p = 1;

	for (int d = from; d < to; d++)
		p *= s->dim[d];
	return p;
}

/* Poll interrupts every POLL_ELEMENTS elements of work. */
static sp_status
poll_work(const sp_op_run *r, int64_t *work, int64_t add)
{
	*work += add;
	if (*work < POLL_ELEMENTS)
		return SP_OK;
	*work = 0;
	return sp_op_interrupted(r);
}

/* Copy a constant into output i at infer time (Shape, Size, Constant). */
static sp_status
set_const_output(sp_graph *g, sp_node *n, int i, sp_dtype dtype, const sp_shape *shape,
				 const void *data, sp_error *err)
{
	sp_value   *v = sp_out(g, n, i);
	int64_t		count = sp_shape_numel(shape);
	size_t		bytes;

	if (count < 0 || count > SP_GRAPH_MAX_ELEMENTS)
		return too_large(n, err);
	bytes = (size_t) count * sp_dtype_size(dtype);
	sp_out_set(g, n, i, dtype, shape);
	v->data = sp_graph_alloc(g, bytes ? bytes : 1);
	if (!v->data)
		return sp_op_error(err, SP_ERR_NOMEM, n, "out of memory for a constant of %zu bytes", bytes);
	if (bytes)
		memcpy(v->data, data, bytes);
	return SP_OK;
}

/* Plain copy of input 0 to output 0 (Reshape, Flatten, Squeeze, Unsqueeze). */
static sp_status
copy_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	size_t		bytes = (size_t) numel_of(x) * sp_dtype_size(x->dtype);

	if (bytes && r->out[0] != r->in[0])
		memmove(r->out[0], r->in[0], bytes);
	return SP_OK;
}

/* Their backward: the gradient has the same elements in the same order. */
static sp_status
copy_backward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	const float *dy = r->d_out[0];
	float	   *dx = r->d_in[0];
	int64_t		n = numel_of(x);

	if (dy && dx)
		for (int64_t i = 0; i < n; i++)
			dx[i] += dy[i];
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Strided views: output element at index (i_0..i_{k-1}) is source element
 * sum(i_d * stride[d]) (strides in elements, may be 0 or negative). */

#define VIEW_MAX_RANK (2 * SP_MAX_RANK)

typedef struct view
{
	int			rank;
	int64_t		size[VIEW_MAX_RANK];
	int64_t		stride[VIEW_MAX_RANK];
} view;

static void
view_push(view *v, int64_t size, int64_t stride)
{
	v->size[v->rank] = size;
	v->stride[v->rank] = stride;
	v->rank++;
}

/* Drop size-1 dimensions and merge neighbours whose strides chain. */
static void
view_simplify(view *v)
{
	int			k = 0;

	for (int d = 0; d < v->rank; d++)
	{
		if (v->size[d] == 1)
			continue;
		if (k > 0 && v->stride[k - 1] == v->stride[d] * v->size[d])
		{
			v->size[k - 1] *= v->size[d];
			v->stride[k - 1] = v->stride[d];
		}
		else
		{
			v->size[k] = v->size[d];
			v->stride[k] = v->stride[d];
			k++;
		}
	}
	v->rank = k;
}

/* n elements of es bytes from src (element stride s) to contiguous dst. */
static void
copy_run(char *restrict dst, const char *restrict src, int64_t n, int64_t s, size_t es)
{
	if (s == 1)
	{
		memcpy(dst, src, (size_t) n * es);
		return;
	}
	switch (es)
	{
		case 4:
			{
				uint32_t   *d = (uint32_t *) dst;
				const uint32_t *p = (const uint32_t *) src;

				for (int64_t i = 0; i < n; i++)
					d[i] = p[i * s];
				break;
			}
		case 8:
			{
				uint64_t   *d = (uint64_t *) dst;
				const uint64_t *p = (const uint64_t *) src;

				for (int64_t i = 0; i < n; i++)
					d[i] = p[i * s];
				break;
			}
		case 1:
			for (int64_t i = 0; i < n; i++)
				dst[i] = src[i * s];
			break;
		default:
			for (int64_t i = 0; i < n; i++)
				memcpy(dst + i * (int64_t) es, src + i * s * (int64_t) es, es);
	}
}

/*
 * Fill contiguous dst with the view v of src (src points at the element of
 * index 0).  The caller guarantees every element the view reaches is inside
 * the source.
 */
static sp_status
view_copy(const sp_op_run *r, const char *src, const view *v0, char *dst, size_t es)
{
	view		v = *v0;
	int64_t		idx[VIEW_MAX_RANK] = {0};
	int64_t		rows = 1,
				off = 0,
				work = 0,
				inner_n,
				inner_s;
	sp_status	st;

	for (int d = 0; d < v.rank; d++)
		if (v.size[d] == 0)
			return SP_OK;
	view_simplify(&v);
	if (v.rank == 0)
	{
		memcpy(dst, src, es);
		return SP_OK;
	}
	inner_n = v.size[v.rank - 1];
	inner_s = v.stride[v.rank - 1];
	for (int d = 0; d < v.rank - 1; d++)
		rows *= v.size[d];
	for (int64_t row = 0; row < rows; row++)
	{
		copy_run(dst, src + off * (int64_t) es, inner_n, inner_s, es);
		dst += inner_n * (int64_t) es;
		for (int d = v.rank - 2; d >= 0; d--)
		{
			off += v.stride[d];
			if (++idx[d] < v.size[d])
				break;
			off -= v.stride[d] * v.size[d];
			idx[d] = 0;
		}
		if ((st = poll_work(r, &work, inner_n)) != SP_OK)
			return st;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Shape, Size. */

/* Shape's [start, end) range (opset 15), clamped to [0, rank]. */
static void
shape_range(const sp_node *n, int rank, int *start, int *end)
{
	int64_t		s = sp_attr_int(n, "start", 0),
				e = sp_attr_int(n, "end", rank);

	if (s < 0)
		s += rank;
	if (e < 0)
		e += rank;
	s = s < 0 ? 0 : (s > rank ? rank : s);
	e = e < 0 ? 0 : (e > rank ? rank : e);
	*start = (int) s;
	*end = (int) (e > s ? e : s);
}

static sp_status
shape_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	sp_shape	os = {1, {0}};
	int			start,
				end;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK)
		return st;
	shape_range(n, x->shape.rank, &start, &end);
	os.dim[0] = end - start;
	return set_const_output(g, n, 0, SP_DT_INT64, &os, &x->shape.dim[start], err);
}

static sp_status
shape_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	int			start,
				end;

	shape_range(r->n, x->shape.rank, &start, &end);
	if (end > start)
		memcpy(r->out[0], &x->shape.dim[start], sizeof(int64_t) * (size_t) (end - start));
	return SP_OK;
}

static sp_status
size_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	sp_shape	os = {0, {0}};
	int64_t		count;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK)
		return st;
	count = numel_of(x);
	return set_const_output(g, n, 0, SP_DT_INT64, &os, &count, err);
}

static sp_status
size_forward(const sp_op_run *r)
{
	*(int64_t *) r->out[0] = numel_of(sp_in(r->g, r->n, 0));
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Constant, ConstantOfShape. */

/* The one value attribute of a Constant node. */
static const char *const constant_attrs[] = {
	"value", "value_float", "value_floats", "value_int", "value_ints",
	"value_string", "value_strings", "sparse_value", NULL
};

static sp_status
constant_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_attr *a = NULL;
	sp_shape	s = {0, {0}};
	int			found = 0;

	for (int i = 0; constant_attrs[i]; i++)
		if (sp_attr_get(n, constant_attrs[i]))
		{
			a = sp_attr_get(n, constant_attrs[i]);
			found++;
		}
	if (found != 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "needs exactly one value attribute, has %d", found);
	if (strcmp(a->name, "value") == 0 && a->type == SP_ATTR_TENSOR)
	{
		const sp_value *t;

		if (a->tensor < 0 || a->tensor >= g->n_values || !g->values[a->tensor].data)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"value\" holds no tensor");
		t = &g->values[a->tensor];
		return set_const_output(g, n, 0, t->dtype, &t->shape, t->data, err);
	}
	if (strcmp(a->name, "value_float") == 0 && (a->type == SP_ATTR_FLOAT || a->type == SP_ATTR_INT))
	{
		float		f = sp_attr_float(n, "value_float", 0.0f);

		return set_const_output(g, n, 0, SP_DT_FLOAT, &s, &f, err);
	}
	if (strcmp(a->name, "value_int") == 0 && a->type == SP_ATTR_INT)
		return set_const_output(g, n, 0, SP_DT_INT64, &s, &a->i, err);
	if (strcmp(a->name, "value_floats") == 0 && a->type == SP_ATTR_FLOATS)
	{
		s.rank = 1;
		s.dim[0] = a->n;
		return set_const_output(g, n, 0, SP_DT_FLOAT, &s, a->floats, err);
	}
	if (strcmp(a->name, "value_ints") == 0 && a->type == SP_ATTR_INTS)
	{
		s.rank = 1;
		s.dim[0] = a->n;
		return set_const_output(g, n, 0, SP_DT_INT64, &s, a->ints, err);
	}
	return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "attribute \"%s\" of this type is not supported",
					   a->name);
}

static sp_status
constant_forward(const sp_op_run *r)
{
	/* infer made the output constant; running it only has to reproduce it */
	const sp_value *y = sp_out(r->g, r->n, 0);

	if (y->data && r->out[0] != y->data)
		memcpy(r->out[0], y->data, (size_t) numel_of(y) * sp_dtype_size(y->dtype));
	return SP_OK;
}

/* ConstantOfShape's fill value (attribute value: a one-element tensor; default float 0). */
static sp_status
fill_value(const sp_graph *g, const sp_node *n, sp_dtype *dtype, const void **data, sp_error *err)
{
	static const float zero = 0.0f;
	const sp_attr *a = sp_attr_get(n, "value");
	const sp_value *t;

	*dtype = SP_DT_FLOAT;
	*data = &zero;
	if (!a)
		return SP_OK;
	if (a->type != SP_ATTR_TENSOR || a->tensor < 0 || a->tensor >= g->n_values || !g->values[a->tensor].data)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"value\" must be a tensor");
	t = &g->values[a->tensor];
	if (numel_of(t) != 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "attribute \"value\" must have one element, has %" PRId64,
						   numel_of(t));
	*dtype = t->dtype;
	*data = t->data;
	return SP_OK;
}

static sp_status
cos_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	int64_t		dims[SP_MAX_RANK];
	int			count;
	sp_shape	s;
	sp_dtype	dt;
	const void *val;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_int64_only)) != SP_OK ||
		(st = sp_const_ints(g, n, 0, NULL, dims, SP_MAX_RANK, &count, err)) != SP_OK ||
		(st = fill_value(g, n, &dt, &val, err)) != SP_OK)
		return st;
	s.rank = count;
	for (int d = 0; d < count; d++)
	{
		if (dims[d] < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "dimension %d of the shape is negative (%" PRId64 ")",
							   d, dims[d]);
		if (dims[d] > SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
		s.dim[d] = dims[d];
	}
	if (sp_shape_numel(&s) < 0 || sp_shape_numel(&s) > SP_GRAPH_MAX_ELEMENTS)
		return too_large(n, err);
	sp_out_set(g, n, 0, dt, &s);
	return SP_OK;
}

static sp_status
cos_forward(const sp_op_run *r)
{
	const sp_value *y = sp_out(r->g, r->n, 0);
	int64_t		count = numel_of(y);
	size_t		es = sp_dtype_size(y->dtype);
	sp_dtype	dt;
	const void *val;
	char	   *out = r->out[0];
	sp_status	st;

	if ((st = fill_value(r->g, r->n, &dt, &val, r->err)) != SP_OK)
		return st;
	for (int64_t i = 0; i < count; i++)
		memcpy(out + i * (int64_t) es, val, es);
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Range(start, limit, delta): scalars, constant (the length is a shape). */

static sp_status
range_count(const sp_graph *g, const sp_node *n, int64_t *count, sp_error *err)
{
	const sp_value *v[3];
	sp_status	st;

	for (int i = 0; i < 3; i++)
	{
		if ((st = sp_check_input(g, n, i, err, sp_dt_float_int64)) != SP_OK)
			return st;
		v[i] = sp_in(g, n, i);
		if (v[i]->dtype != v[0]->dtype)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "inputs have different element types");
		if (numel_of(v[i]) != 1 || v[i]->shape.rank > 1)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" must be a scalar", v[i]->name);
		if (!v[i]->data)
			return sp_op_error(err, SP_ERR_UNSUPPORTED, n,
							   "input \"%s\" must be a constant (the output length is a shape)", v[i]->name);
	}
	if (v[0]->dtype == SP_DT_INT64)
	{
		__int128	s = *(const int64_t *) v[0]->data,
					l = *(const int64_t *) v[1]->data,
					d = *(const int64_t *) v[2]->data,
					c;

		if (d == 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "delta is 0");
		if (d > 0)
			c = l > s ? (l - s + d - 1) / d : 0;
		else
			c = s > l ? (s - l - d - 1) / -d : 0;
		if (c > SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
		*count = (int64_t) c;
	}
	else
	{
		double		s = *(const float *) v[0]->data,
					l = *(const float *) v[1]->data,
					d = *(const float *) v[2]->data,
					c;

		if (d == 0.0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "delta is 0");
		c = ceil((l - s) / d);
		if (isnan(c))
			return sp_op_error(err, SP_ERR_CORRUPT, n, "start, limit and delta give no length");
		if (c > (double) SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
		*count = c > 0.0 ? (int64_t) c : 0;
	}
	return SP_OK;
}

static sp_status
range_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	int64_t		count = 0;
	sp_shape	s = {1, {0}};
	sp_status	st;

	if ((st = range_count(g, n, &count, err)) != SP_OK)
		return st;
	s.dim[0] = count;
	sp_out_set(g, n, 0, sp_in(g, n, 0)->dtype, &s);
	return SP_OK;
}

static sp_status
range_forward(const sp_op_run *r)
{
	const sp_value *y = sp_out(r->g, r->n, 0);
	int64_t		count = numel_of(y);

	if (y->dtype == SP_DT_INT64)
	{
		int64_t		s = *(const int64_t *) r->in[0],
					d = *(const int64_t *) r->in[2];
		int64_t    *o = r->out[0];

		for (int64_t i = 0; i < count; i++)
			o[i] = s + i * d;
	}
	else
	{
		double		s = *(const float *) r->in[0],
					d = *(const float *) r->in[2];
		float	   *o = r->out[0];

		for (int64_t i = 0; i < count; i++)
			o[i] = (float) (s + (double) i * d);
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Reshape, Flatten, Squeeze, Unsqueeze: a new shape over the same data. */

static sp_status
reshape_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		vals[SP_MAX_RANK];
	int64_t		known = 1,
				total;
	int			count,
				infer_at = -1;
	bool		allowzero = sp_attr_int(n, "allowzero", 0) != 0;
	sp_shape	s;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK)
		return st;
	if (n->n_in > 1 && !sp_in(g, n, 1))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input 1 (shape) is missing");
	if ((st = sp_const_ints(g, n, 1, "shape", vals, SP_MAX_RANK, &count, err)) != SP_OK)
		return st;
	if (count < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "has no target shape");
	total = numel_of(x);
	s.rank = count;
	for (int d = 0; d < count; d++)
	{
		int64_t		v = vals[d];

		if (v == -1)
		{
			if (infer_at >= 0)
				return sp_op_error(err, SP_ERR_CORRUPT, n, "target shape has more than one -1");
			infer_at = d;
			s.dim[d] = 1;
			continue;
		}
		if (v < -1)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "dimension %d of the target shape is %" PRId64, d, v);
		if (v == 0 && !allowzero)
		{
			if (d >= x->shape.rank)
				return sp_op_error(err, SP_ERR_CORRUPT, n,
								   "dimension %d of the target shape is 0 (copy) but the input has rank %d",
								   d, x->shape.rank);
			v = x->shape.dim[d];
		}
		if (v > SP_GRAPH_MAX_ELEMENTS || __builtin_mul_overflow(known, v, &known) ||
			known > SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
		s.dim[d] = v;
	}
	if (infer_at >= 0)
	{
		if (known == 0 || total % known != 0)
		{
			char		buf[96];

			sp_shape_format(&x->shape, buf, sizeof buf);
			return sp_op_error(err, SP_ERR_CORRUPT, n,
							   "cannot infer the -1 dimension: input %s has %" PRId64
							   " elements, the other dimensions multiply to %" PRId64,
							   buf, total, known);
		}
		s.dim[infer_at] = total / known;
	}
	else if (known != total)
	{
		char		bi[96],
					bo[96];

		sp_shape_format(&x->shape, bi, sizeof bi);
		sp_shape_format(&s, bo, sizeof bo);
		return sp_op_error(err, SP_ERR_CORRUPT, n,
						   "cannot reshape %s (%" PRId64 " elements) to %s (%" PRId64 " elements)",
						   bi, total, bo, known);
	}
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

static sp_status
flatten_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		axis = sp_attr_int(n, "axis", 1);
	sp_shape	s = {2, {0}};
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK)
		return st;
	if (axis < -x->shape.rank || axis > x->shape.rank)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for rank %d",
						   axis, x->shape.rank);
	if (axis < 0)
		axis += x->shape.rank;
	if (!dims_product(&x->shape, 0, (int) axis, &s.dim[0]) ||
		!dims_product(&x->shape, (int) axis, x->shape.rank, &s.dim[1]))
		return too_large(n, err);
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

/* Axes from input 1 (opset >= 13) or the "axes" attribute, normalised against rank. */
static sp_status
get_axes(const sp_graph *g, const sp_node *n, int rank, int64_t *axes, int *count, sp_error *err)
{
	bool		seen[SP_MAX_RANK] = {false};
	sp_status	st;

	if ((st = sp_const_ints(g, n, 1, "axes", axes, SP_MAX_RANK, count, err)) != SP_OK)
		return st;
	for (int i = 0; i < *count; i++)
	{
		int			a = sp_axis(axes[i], rank);

		if (a < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for rank %d",
							   axes[i], rank);
		if (seen[a])
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is given twice", axes[i]);
		seen[a] = true;
		axes[i] = a;
	}
	return SP_OK;
}

static sp_status
squeeze_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		axes[SP_MAX_RANK];
	bool		drop[SP_MAX_RANK] = {false};
	int			count;
	sp_shape	s = {0, {0}};
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = get_axes(g, n, x->shape.rank, axes, &count, err)) != SP_OK)
		return st;
	if (count <= 0)
	{
		/* no axes: every dimension of size 1 */
		for (int d = 0; d < x->shape.rank; d++)
			drop[d] = x->shape.dim[d] == 1;
	}
	for (int i = 0; i < count; i++)
	{
		if (x->shape.dim[axes[i]] != 1)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "dimension %d has size %" PRId64 ", not 1",
							   (int) axes[i], x->shape.dim[axes[i]]);
		drop[axes[i]] = true;
	}
	for (int d = 0; d < x->shape.rank; d++)
		if (!drop[d])
			s.dim[s.rank++] = x->shape.dim[d];
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

static sp_status
unsqueeze_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		axes[SP_MAX_RANK];
	bool		ins[SP_MAX_RANK] = {false};
	int			count,
				rank,
				k = 0;
	sp_shape	s;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = sp_const_ints(g, n, 1, "axes", axes, SP_MAX_RANK, &count, err)) != SP_OK)
		return st;
	if (count < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "has no axes");
	rank = x->shape.rank + count;
	if (rank > SP_MAX_RANK)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "the output would have rank %d; at most %d is supported",
						   rank, SP_MAX_RANK);
	for (int i = 0; i < count; i++)
	{
		int			a = sp_axis(axes[i], rank);

		if (a < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for output rank %d",
							   axes[i], rank);
		if (ins[a])
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is given twice", axes[i]);
		ins[a] = true;
	}
	s.rank = rank;
	for (int d = 0; d < rank; d++)
		s.dim[d] = ins[d] ? 1 : x->shape.dim[k++];
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Transpose. */

static sp_status
get_perm(const sp_node *n, int rank, int *perm, sp_error *err)
{
	const int64_t *p;
	int			count = sp_attr_ints(n, "perm", &p);
	bool		seen[SP_MAX_RANK] = {false};

	if (count < 0)
	{
		for (int d = 0; d < rank; d++)
			perm[d] = rank - 1 - d;
		return SP_OK;
	}
	if (count != rank)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "perm has %d entries for an input of rank %d", count, rank);
	for (int d = 0; d < rank; d++)
	{
		if (p[d] < 0 || p[d] >= rank || seen[p[d]])
			return sp_op_error(err, SP_ERR_CORRUPT, n, "perm is not a permutation of 0..%d", rank - 1);
		seen[p[d]] = true;
		perm[d] = (int) p[d];
	}
	return SP_OK;
}

static sp_status
transpose_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int			perm[SP_MAX_RANK];
	sp_shape	s;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = get_perm(n, x->shape.rank, perm, err)) != SP_OK)
		return st;
	s.rank = x->shape.rank;
	for (int d = 0; d < s.rank; d++)
		s.dim[d] = x->shape.dim[perm[d]];
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

/* Tiles of the 2-D transpose kernels (elements per side). */
#define TP_TILE 32

/*
 * dst[i * drow + j] = src[i + j * scol] for i < rows, j < cols, in square
 * tiles so both sides stay in cache.
 */
#define DEFINE_TP2D(NAME, T) \
static void \
NAME(T *restrict dst, const T *restrict src, int64_t rows, int64_t cols, int64_t scol, int64_t drow) \
{ \
	for (int64_t i0 = 0; i0 < rows; i0 += TP_TILE) \
	{ \
		int64_t		i1 = i0 + TP_TILE < rows ? i0 + TP_TILE : rows; \
		for (int64_t j0 = 0; j0 < cols; j0 += TP_TILE) \
		{ \
			int64_t		j1 = j0 + TP_TILE < cols ? j0 + TP_TILE : cols; \
			for (int64_t i = i0; i < i1; i++) \
			{ \
				T		   *d = dst + i * drow; \
				const T    *s = src + i; \
				for (int64_t j = j0; j < j1; j++) \
					d[j] = s[j * scol]; \
			} \
		} \
	} \
}

DEFINE_TP2D(tp2d_u8, uint8_t)
DEFINE_TP2D(tp2d_u64, uint64_t)

#if defined(__SSE2__)
/*
 * The 4-byte case, the one models hit (ViT, ConvNeXt): 4 x 4 blocks moved
 * with SSE shuffles (baseline on x86-64; bit patterns pass through
 * unchanged), about five times the scalar loop.
 */
static void
tp2d_u32(uint32_t *restrict dst, const uint32_t *restrict src, int64_t rows, int64_t cols, int64_t scol,
		 int64_t drow)
{
	const float *s = (const float *) src;
	float	   *d = (float *) dst;

	for (int64_t i0 = 0; i0 < rows; i0 += TP_TILE)
	{
		int64_t		i1 = i0 + TP_TILE < rows ? i0 + TP_TILE : rows;

		for (int64_t j0 = 0; j0 < cols; j0 += TP_TILE)
		{
			int64_t		j1 = j0 + TP_TILE < cols ? j0 + TP_TILE : cols;
			int64_t		i = i0;

			for (; i + 4 <= i1; i += 4)
			{
				int64_t		j = j0;

				for (; j + 4 <= j1; j += 4)
				{
					__m128		r0 = _mm_loadu_ps(s + i + j * scol),
								r1 = _mm_loadu_ps(s + i + (j + 1) * scol),
								r2 = _mm_loadu_ps(s + i + (j + 2) * scol),
								r3 = _mm_loadu_ps(s + i + (j + 3) * scol);

					_MM_TRANSPOSE4_PS(r0, r1, r2, r3);
					_mm_storeu_ps(d + i * drow + j, r0);
					_mm_storeu_ps(d + (i + 1) * drow + j, r1);
					_mm_storeu_ps(d + (i + 2) * drow + j, r2);
					_mm_storeu_ps(d + (i + 3) * drow + j, r3);
				}
				for (; j < j1; j++)
					for (int64_t k = 0; k < 4; k++)
						dst[(i + k) * drow + j] = src[i + k + j * scol];
			}
			for (; i < i1; i++)
				for (int64_t j = j0; j < j1; j++)
					dst[i * drow + j] = src[i + j * scol];
		}
	}
}
#else
DEFINE_TP2D(tp2d_u32, uint32_t)
#endif

/*
 * The output as a view of the input, simplified.  When its innermost run is
 * contiguous in the input (the last axis stays last, as in ViT's head
 * split), view_copy does it with memcpy; otherwise the input's contiguous
 * axis (view dimension q) and the output's (the last) form a batch of 2-D
 * transposes over the other dimensions.
 */
static sp_status
transpose_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	size_t		es = sp_dtype_size(x->dtype);
	int			perm[SP_MAX_RANK];
	int64_t		istr[SP_MAX_RANK],
				ostr[VIEW_MAX_RANK],
				s = 1,
				idx[VIEW_MAX_RANK] = {0},
				outer = 1,
				soff = 0,
				doff = 0,
				work = 0;
	int			q = -1,
				L,
				odims[VIEW_MAX_RANK],
				no = 0;
	view		v = {0};
	sp_status	st;

	if (numel_of(x) == 0)
		return SP_OK;
	if ((st = get_perm(r->n, x->shape.rank, perm, r->err)) != SP_OK)
		return st;
	for (int d = x->shape.rank - 1; d >= 0; d--)
	{
		istr[d] = s;
		s *= x->shape.dim[d];
	}
	for (int d = 0; d < x->shape.rank; d++)
		view_push(&v, x->shape.dim[perm[d]], istr[perm[d]]);
	view_simplify(&v);
	if (v.rank < 2 || v.stride[v.rank - 1] == 1)
		return view_copy(r, r->in[0], &v, r->out[0], es);

	L = v.rank - 1;
	s = 1;
	for (int d = L; d >= 0; d--)
	{
		ostr[d] = s;
		s *= v.size[d];
	}
	for (int d = 0; d < L; d++)
		if (v.stride[d] == 1)
			q = d;
	if (q < 0)					/* cannot happen: some axis is the input's innermost */
		return view_copy(r, r->in[0], &v, r->out[0], es);
	for (int d = 0; d < L; d++)
		if (d != q)
		{
			odims[no++] = d;
			outer *= v.size[d];
		}
	for (int64_t o = 0; o < outer; o++)
	{
		const char *src = (const char *) r->in[0] + soff * (int64_t) es;
		char	   *dst = (char *) r->out[0] + doff * (int64_t) es;

		switch (es)
		{
			case 4:
				tp2d_u32((uint32_t *) dst, (const uint32_t *) src, v.size[q], v.size[L], v.stride[L], ostr[q]);
				break;
			case 8:
				tp2d_u64((uint64_t *) dst, (const uint64_t *) src, v.size[q], v.size[L], v.stride[L], ostr[q]);
				break;
			default:
				tp2d_u8((uint8_t *) dst, (const uint8_t *) src, v.size[q], v.size[L], v.stride[L], ostr[q]);
				break;
		}
		for (int k = no - 1; k >= 0; k--)
		{
			int			d = odims[k];

			soff += v.stride[d];
			doff += ostr[d];
			if (++idx[k] < v.size[d])
				break;
			soff -= v.stride[d] * v.size[d];
			doff -= ostr[d] * v.size[d];
			idx[k] = 0;
		}
		if ((st = poll_work(r, &work, v.size[q] * v.size[L])) != SP_OK)
			return st;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Concat, Split. */

static sp_status
concat_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_attr *aa = sp_attr_get(n, "axis");
	const sp_value *x0 = sp_in(g, n, 0);
	sp_shape	s;
	int			axis;
	int64_t		total = 0;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK)
		return st;
	if (!aa || aa->type != SP_ATTR_INT)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "needs an integer attribute \"axis\"");
	if (x0->shape.rank < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "cannot concatenate scalars");
	axis = sp_axis(aa->i, x0->shape.rank);
	if (axis < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for rank %d",
						   aa->i, x0->shape.rank);
	s = x0->shape;
	for (int i = 0; i < n->n_in; i++)
	{
		const sp_value *x = sp_in(g, n, i);

		if ((st = need_input(g, n, i, err)) != SP_OK)
			return st;
		if (x->dtype != x0->dtype)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "inputs have different element types (%s, %s)",
							   sp_dtype_name(x0->dtype), sp_dtype_name(x->dtype));
		if (x->shape.rank != x0->shape.rank)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "input \"%s\" has rank %d, not %d",
							   x->name, x->shape.rank, x0->shape.rank);
		for (int d = 0; d < s.rank; d++)
			if (d != axis && x->shape.dim[d] != s.dim[d])
			{
				char		a[96],
							b[96];

				sp_shape_format(&x0->shape, a, sizeof a);
				sp_shape_format(&x->shape, b, sizeof b);
				return sp_op_error(err, SP_ERR_CORRUPT, n,
								   "shapes %s and %s differ outside axis %d", a, b, axis);
			}
		if (__builtin_add_overflow(total, x->shape.dim[axis], &total) || total > SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
	}
	s.dim[axis] = total;
	sp_out_set(g, n, 0, x0->dtype, &s);
	return SP_OK;
}

static sp_status
concat_forward(const sp_op_run *r)
{
	const sp_value *y = sp_out(r->g, r->n, 0);
	int			axis = sp_axis(sp_attr_int(r->n, "axis", 0), y->shape.rank);
	size_t		es = sp_dtype_size(y->dtype);
	int64_t		outer,
				inner,
				work = 0;
	char	   *dst = r->out[0];
	sp_status	st;

	if (numel_of(y) == 0)
		return SP_OK;
	outer = prod(&y->shape, 0, axis);
	inner = prod(&y->shape, axis + 1, y->shape.rank) * (int64_t) es;
	for (int64_t o = 0; o < outer; o++)
		for (int i = 0; i < r->n->n_in; i++)
		{
			size_t		chunk = (size_t) (sp_in(r->g, r->n, i)->shape.dim[axis] * inner);

			memcpy(dst, (const char *) r->in[i] + o * (int64_t) chunk, chunk);
			dst += chunk;
			if ((st = poll_work(r, &work, (int64_t) chunk)) != SP_OK)
				return st;
		}
	return SP_OK;
}

static sp_status
split_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		split[SP_SHAPE_MAX_IO];
	int64_t		axis_attr = sp_attr_int(n, "axis", 0);
	int64_t		num_outputs = sp_attr_int(n, "num_outputs", 0);
	int64_t		dim,
				total = 0;
	int			axis,
				count;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK)
		return st;
	axis = sp_axis(axis_attr, x->shape.rank);
	if (axis < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for rank %d",
						   axis_attr, x->shape.rank);
	dim = x->shape.dim[axis];
	if ((st = sp_const_ints(g, n, 1, "split", split, SP_SHAPE_MAX_IO, &count, err)) != SP_OK)
		return st;
	if (count > 0)
	{
		if (count != n->n_out)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "split has %d entries for %d outputs", count, n->n_out);
		for (int i = 0; i < count; i++)
		{
			if (split[i] < 0 || split[i] > dim)
				return sp_op_error(err, SP_ERR_CORRUPT, n, "split entry %d is %" PRId64, i, split[i]);
			if (__builtin_add_overflow(total, split[i], &total))
				return too_large(n, err);
		}
		if (total != dim)
			return sp_op_error(err, SP_ERR_CORRUPT, n,
							   "split sums to %" PRId64 " but dimension %d has size %" PRId64, total, axis, dim);
	}
	else
	{
		/* equal parts; opset 18's num_outputs lets the last one be smaller */
		int64_t		part;

		if (sp_attr_get(n, "num_outputs") && num_outputs != n->n_out)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "num_outputs is %" PRId64 " but the node has %d outputs",
							   num_outputs, n->n_out);
		if (dim % n->n_out == 0)
			part = dim / n->n_out;
		else if (num_outputs > 0)
			part = dim / n->n_out + 1;
		else
			return sp_op_error(err, SP_ERR_CORRUPT, n, "dimension %d of size %" PRId64
							   " does not split into %d equal parts", axis, dim, n->n_out);
		for (int i = 0; i < n->n_out; i++)
			split[i] = part;
		if (__builtin_mul_overflow(part, (int64_t) (n->n_out - 1), &total))
			return too_large(n, err);
		split[n->n_out - 1] = dim - total;
		if (split[n->n_out - 1] < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "dimension %d of size %" PRId64
							   " does not split into %d parts", axis, dim, n->n_out);
	}
	for (int i = 0; i < n->n_out; i++)
	{
		sp_shape	s = x->shape;

		s.dim[axis] = split[i];
		sp_out_set(g, n, i, x->dtype, &s);
	}
	return SP_OK;
}

static sp_status
split_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	int			axis = sp_axis(sp_attr_int(r->n, "axis", 0), x->shape.rank);
	size_t		es = sp_dtype_size(x->dtype);
	int64_t		outer,
				inner,
				work = 0;
	const char *src = r->in[0];
	sp_status	st;

	if (numel_of(x) == 0)
		return SP_OK;
	outer = prod(&x->shape, 0, axis);
	inner = prod(&x->shape, axis + 1, x->shape.rank) * (int64_t) es;
	for (int64_t o = 0; o < outer; o++)
		for (int i = 0; i < r->n->n_out; i++)
		{
			int64_t		chunk = sp_out(r->g, r->n, i)->shape.dim[axis] * inner;

			memcpy((char *) r->out[i] + o * chunk, src, (size_t) chunk);
			src += chunk;
			if ((st = poll_work(r, &work, chunk)) != SP_OK)
				return st;
		}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Slice. */

/*
 * Per-dimension first index and step of a Slice of x, and the output shape.
 * Opset >= 10: inputs starts, ends, axes, steps; opset 1-9: attributes
 * starts, ends, axes.
 */
static sp_status
slice_params(const sp_graph *g, const sp_node *n, int64_t *first, int64_t *step, sp_shape *out,
			 sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int			rank = x->shape.rank;
	int64_t		starts[SP_MAX_RANK],
				ends[SP_MAX_RANK],
				axes[SP_MAX_RANK],
				steps[SP_MAX_RANK];
	int			ns,
				ne,
				na,
				nst;
	bool		seen[SP_MAX_RANK] = {false};
	sp_status	st;

	if ((n->n_in > 1 && !sp_in(g, n, 1)) || (n->n_in > 2 && !sp_in(g, n, 2)))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "starts and ends are required");
	if ((st = sp_const_ints(g, n, 1, "starts", starts, SP_MAX_RANK, &ns, err)) != SP_OK ||
		(st = sp_const_ints(g, n, 2, "ends", ends, SP_MAX_RANK, &ne, err)) != SP_OK ||
		(st = sp_const_ints(g, n, 3, "axes", axes, SP_MAX_RANK, &na, err)) != SP_OK ||
		(st = sp_const_ints(g, n, 4, NULL, steps, SP_MAX_RANK, &nst, err)) != SP_OK)
		return st;
	if (ns < 0 || ne < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "starts and ends are required");
	if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "starts, ends, axes and steps have different lengths");
	*out = x->shape;
	for (int d = 0; d < rank; d++)
	{
		first[d] = 0;
		step[d] = 1;
	}
	for (int i = 0; i < ns; i++)
	{
		int64_t		ax = na >= 0 ? axes[i] : i;
		int			a = sp_axis(ax, rank);
		int64_t		D,
					s,
					b,
					e,
					cnt;

		if (a < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for rank %d", ax, rank);
		if (seen[a])
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is given twice", ax);
		seen[a] = true;
		D = x->shape.dim[a];
		s = nst >= 0 ? steps[i] : 1;
		if (s == 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "step of axis %d is 0", a);
		/* a step longer than the axis takes one element at most: keep arithmetic small */
		if (s > D)
			s = D > 0 ? D : 1;
		else if (s < -D)
			s = D > 0 ? -D : -1;
		b = starts[i];
		e = ends[i];
		if (b < 0)
			b += D;				/* INT64_MIN + D cannot overflow */
		if (e < 0)
			e += D;
		if (s > 0)
		{
			b = b < 0 ? 0 : (b > D ? D : b);
			e = e < 0 ? 0 : (e > D ? D : e);
			cnt = e > b ? 1 + (e - b - 1) / s : 0;
		}
		else
		{
			b = b < 0 ? 0 : (b > D - 1 ? D - 1 : b);
			e = e < -1 ? -1 : (e > D - 1 ? D - 1 : e);
			cnt = b > e ? 1 + (b - e - 1) / -s : 0;
		}
		if (D == 0)
			cnt = 0;
		first[a] = cnt > 0 ? b : 0;
		step[a] = s;
		out->dim[a] = cnt;
	}
	return SP_OK;
}

static sp_status
slice_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	int64_t		first[SP_MAX_RANK],
				step[SP_MAX_RANK];
	sp_shape	s;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = slice_params(g, n, first, step, &s, err)) != SP_OK)
		return st;
	sp_out_set(g, n, 0, sp_in(g, n, 0)->dtype, &s);
	return SP_OK;
}

static sp_status
slice_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	size_t		es = sp_dtype_size(x->dtype);
	int64_t		first[SP_MAX_RANK],
				step[SP_MAX_RANK],
				istr = 1,
				base = 0;
	sp_shape	s;
	view		v = {0};
	sp_status	st;

	if ((st = slice_params(r->g, r->n, first, step, &s, r->err)) != SP_OK)
		return st;
	if (sp_shape_numel(&s) == 0)
		return SP_OK;
	v.rank = s.rank;
	for (int d = s.rank - 1; d >= 0; d--)
	{
		v.size[d] = s.dim[d];
		v.stride[d] = step[d] * istr;
		base += first[d] * istr;
		istr *= x->shape.dim[d];
	}
	return view_copy(r, (const char *) r->in[0] + base * (int64_t) es, &v, r->out[0], es);
}

/* ---------------------------------------------------------------------- */
/* Gather (axis; int64 indices, negative ones count from the end). */

static sp_status
gather_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0),
			   *ind = sp_in(g, n, 1);
	int64_t		axis_attr = sp_attr_int(n, "axis", 0);
	int			axis;
	sp_shape	s = {0, {0}};
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_int64_only)) != SP_OK)
		return st;
	if (x->shape.rank < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "data must have rank 1 or more");
	axis = sp_axis(axis_attr, x->shape.rank);
	if (axis < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for rank %d",
						   axis_attr, x->shape.rank);
	if (x->shape.rank - 1 + ind->shape.rank > SP_MAX_RANK)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "the output would have rank %d; at most %d is supported",
						   x->shape.rank - 1 + ind->shape.rank, SP_MAX_RANK);
	if (ind->data)
	{
		const int64_t *iv = ind->data;
		int64_t		D = x->shape.dim[axis];

		for (int64_t i = 0; i < numel_of(ind); i++)
			if (iv[i] < -D || iv[i] >= D)
				return sp_op_error(err, SP_ERR_CORRUPT, n, "index %" PRId64 " is out of range for axis %d of size %" PRId64,
								   iv[i], axis, D);
	}
	for (int d = 0; d < axis; d++)
		s.dim[s.rank++] = x->shape.dim[d];
	for (int d = 0; d < ind->shape.rank; d++)
		s.dim[s.rank++] = ind->shape.dim[d];
	for (int d = axis + 1; d < x->shape.rank; d++)
		s.dim[s.rank++] = x->shape.dim[d];
	if (sp_shape_numel(&s) < 0)
		return too_large(n, err);
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

static sp_status
gather_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0),
			   *ind = sp_in(r->g, r->n, 1);
	int			axis = sp_axis(sp_attr_int(r->n, "axis", 0), x->shape.rank);
	size_t		es = sp_dtype_size(x->dtype);
	const int64_t *iv = r->in[1];
	int64_t		nidx = numel_of(ind),
				D = x->shape.dim[axis],
				outer,
				chunk,
				work = 0;
	char	   *dst = r->out[0];
	sp_status	st;

	if (numel_of(sp_out(r->g, r->n, 0)) == 0)
		return SP_OK;
	/* indices may be computed at run time: check them all before writing */
	for (int64_t i = 0; i < nidx; i++)
		if (iv[i] < -D || iv[i] >= D)
			return sp_op_error(r->err, SP_ERR_INVALID_ARG, r->n,
							   "index %" PRId64 " is out of range for axis %d of size %" PRId64, iv[i], axis, D);
	outer = prod(&x->shape, 0, axis);
	chunk = prod(&x->shape, axis + 1, x->shape.rank) * (int64_t) es;
	for (int64_t o = 0; o < outer; o++)
	{
		const char *src = (const char *) r->in[0] + o * D * chunk;

		for (int64_t i = 0; i < nidx; i++)
		{
			int64_t		k = iv[i] < 0 ? iv[i] + D : iv[i];

			memcpy(dst, src + k * chunk, (size_t) chunk);
			dst += chunk;
		}
		if ((st = poll_work(r, &work, nidx * chunk)) != SP_OK)
			return st;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Pad (constant, reflect, edge; negative pads crop). */

typedef enum pad_mode
{
	PAD_CONSTANT, PAD_REFLECT, PAD_EDGE
} pad_mode;

static sp_status
pad_mode_of(const sp_node *n, pad_mode *mode, sp_error *err)
{
	const char *m = sp_attr_string(n, "mode", "constant");

	if (strcmp(m, "constant") == 0)
		*mode = PAD_CONSTANT;
	else if (strcmp(m, "reflect") == 0)
		*mode = PAD_REFLECT;
	else if (strcmp(m, "edge") == 0)
		*mode = PAD_EDGE;
	else
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "mode \"%s\" is not supported", m);
	return SP_OK;
}

/*
 * Pads at the beginning and end of every dimension (pads input >= 11 or
 * attribute < 11; opset 18's axes input picks the dimensions).
 */
static sp_status
pad_params(const sp_graph *g, const sp_node *n, int64_t *pb, int64_t *pe, sp_shape *out, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int			rank = x->shape.rank;
	int64_t		pads[2 * SP_MAX_RANK],
				axes[SP_MAX_RANK];
	int			np,
				na;
	bool		seen[SP_MAX_RANK] = {false};
	pad_mode	mode;
	sp_status	st;

	if ((st = pad_mode_of(n, &mode, err)) != SP_OK)
		return st;
	if (n->n_in > 1 && !sp_in(g, n, 1))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "pads are required");
	if ((st = sp_const_ints(g, n, 1, "pads", pads, 2 * SP_MAX_RANK, &np, err)) != SP_OK ||
		(st = sp_const_ints(g, n, 3, NULL, axes, SP_MAX_RANK, &na, err)) != SP_OK)
		return st;
	if (np < 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "pads are required");
	if (na < 0)
	{
		na = rank;
		for (int d = 0; d < rank; d++)
			axes[d] = d;
	}
	if (np != 2 * na)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "pads has %d values for %d axes", np, na);
	for (int d = 0; d < rank; d++)
		pb[d] = pe[d] = 0;
	for (int i = 0; i < na; i++)
	{
		int			a = sp_axis(axes[i], rank);

		if (a < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is out of range for rank %d", axes[i], rank);
		if (seen[a])
			return sp_op_error(err, SP_ERR_CORRUPT, n, "axis %" PRId64 " is given twice", axes[i]);
		seen[a] = true;
		pb[a] = pads[i];
		pe[a] = pads[i + na];
		if (pb[a] < -SP_GRAPH_MAX_ELEMENTS || pb[a] > SP_GRAPH_MAX_ELEMENTS ||
			pe[a] < -SP_GRAPH_MAX_ELEMENTS || pe[a] > SP_GRAPH_MAX_ELEMENTS)
			return sp_op_error(err, SP_ERR_LIMIT, n, "pads of axis %d are too large", a);
	}
	*out = x->shape;
	for (int d = 0; d < rank; d++)
	{
		int64_t		D = x->shape.dim[d],
					o;

		if (__builtin_add_overflow(D, pb[d] + pe[d], &o))
			return too_large(n, err);
		if (o < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "pads crop dimension %d of size %" PRId64 " below 0", d, D);
		if (o > SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
		if (D == 0 && o > 0 && mode != PAD_CONSTANT)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "cannot pad the empty dimension %d in mode %s",
							   d, sp_attr_string(n, "mode", "constant"));
		out->dim[d] = o;
	}
	return SP_OK;
}

static sp_status
pad_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0),
			   *cv = sp_in(g, n, 2);
	int64_t		pb[SP_MAX_RANK],
				pe[SP_MAX_RANK];
	sp_shape	s;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = pad_params(g, n, pb, pe, &s, err)) != SP_OK)
		return st;
	if (cv)
	{
		if (cv->dtype != x->dtype)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "constant_value is %s, the data %s",
							   sp_dtype_name(cv->dtype), sp_dtype_name(x->dtype));
		if (numel_of(cv) > 1)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "constant_value must be a scalar");
	}
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

/* Source index of position i of an axis of size D (pad_params rules out D = 0 outside constant mode); -1: the constant. */
static inline int64_t
pad_map(int64_t i, int64_t D, pad_mode mode)
{
	int64_t		period;

	if (i >= 0 && i < D)
		return i;
	if (mode == PAD_CONSTANT)
		return -1;
	if (mode == PAD_EDGE)
		return i < 0 ? 0 : D - 1;
	if (D == 1)
		return 0;
	period = 2 * (D - 1);
	i %= period;
	if (i < 0)
		i += period;
	return i < D ? i : period - i;
}

static void
fill_elems(char *dst, const unsigned char *val, int64_t count, size_t es)
{
	for (int64_t i = 0; i < count; i++)
		memcpy(dst + i * (int64_t) es, val, es);
}

static sp_status
pad_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	size_t		es = sp_dtype_size(x->dtype);
	int			rank = x->shape.rank;
	int64_t		pb[SP_MAX_RANK],
				pe[SP_MAX_RANK],
				istr[SP_MAX_RANK],
				idx[SP_MAX_RANK] = {0},
				s = 1,
				rows,
				W,
				D,
				lo,
				hi,
				work = 0;
	unsigned char val[8] = {0};
	sp_shape	os;
	pad_mode	mode;
	const char *src = r->in[0];
	char	   *dst = r->out[0];
	sp_status	st;

	if ((st = pad_mode_of(r->n, &mode, r->err)) != SP_OK ||
		(st = pad_params(r->g, r->n, pb, pe, &os, r->err)) != SP_OK)
		return st;
	if (sp_shape_numel(&os) == 0)
		return SP_OK;
	/* the constant: input 2 (opset >= 11) or attribute value (< 11) */
	if (r->n->n_in > 2 && r->in[2] && numel_of(sp_in(r->g, r->n, 2)) == 1)
		memcpy(val, r->in[2], es);
	else
	{
		float		f = sp_attr_float(r->n, "value", 0.0f);

		if (x->dtype == SP_DT_FLOAT)
			memcpy(val, &f, sizeof f);
		else if (x->dtype == SP_DT_INT64)
		{
			int64_t		iv = isfinite(f) && fabsf(f) < 9.2e18f ? (int64_t) f : 0;

			memcpy(val, &iv, sizeof iv);
		}
		else
			val[0] = f != 0.0f;
	}
	if (rank == 0)
	{
		memcpy(dst, src, es);
		return SP_OK;
	}
	for (int d = rank - 1; d >= 0; d--)
	{
		istr[d] = s;
		s *= x->shape.dim[d];
	}
	rows = prod(&os, 0, rank - 1);
	W = os.dim[rank - 1];
	D = x->shape.dim[rank - 1];
	/* output positions [lo, hi) of the last axis read the input directly */
	lo = pb[rank - 1] < 0 ? 0 : pb[rank - 1];
	hi = pb[rank - 1] + D < W ? pb[rank - 1] + D : W;
	if (hi < lo)
		hi = lo;
	for (int64_t row = 0; row < rows; row++)
	{
		int64_t		off = 0;
		bool		constant_row = false;

		for (int d = 0; d < rank - 1; d++)
		{
			int64_t		k = pad_map(idx[d] - pb[d], x->shape.dim[d], mode);

			if (k < 0)
				constant_row = true;
			else
				off += k * istr[d];
		}
		if (constant_row)
			fill_elems(dst, val, W, es);
		else
		{
			const char *srow = src + off * (int64_t) es;

			for (int64_t j = 0; j < lo; j++)
			{
				int64_t		k = pad_map(j - pb[rank - 1], D, mode);

				memcpy(dst + j * (int64_t) es, k < 0 ? (const char *) val : srow + k * (int64_t) es, es);
			}
			if (hi > lo)
				memcpy(dst + lo * (int64_t) es, srow + (lo - pb[rank - 1]) * (int64_t) es, (size_t) (hi - lo) * es);
			for (int64_t j = hi; j < W; j++)
			{
				int64_t		k = pad_map(j - pb[rank - 1], D, mode);

				memcpy(dst + j * (int64_t) es, k < 0 ? (const char *) val : srow + k * (int64_t) es, es);
			}
		}
		dst += W * (int64_t) es;
		for (int d = rank - 2; d >= 0; d--)
		{
			if (++idx[d] < os.dim[d])
				break;
			idx[d] = 0;
		}
		if ((st = poll_work(r, &work, W)) != SP_OK)
			return st;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Expand (broadcast to a shape), Tile. */

static sp_status
expand_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		dims[SP_MAX_RANK];
	int			count;
	sp_shape	t,
				s;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_int64_only)) != SP_OK ||
		(st = sp_const_ints(g, n, 1, NULL, dims, SP_MAX_RANK, &count, err)) != SP_OK)
		return st;
	t.rank = count;
	for (int d = 0; d < count; d++)
	{
		if (dims[d] < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "dimension %d of the shape is negative (%" PRId64 ")",
							   d, dims[d]);
		if (dims[d] > SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
		t.dim[d] = dims[d];
	}
	if (!sp_broadcast_shape(&x->shape, &t, &s))
	{
		char		a[96],
					b[96];

		sp_shape_format(&x->shape, a, sizeof a);
		sp_shape_format(&t, b, sizeof b);
		return sp_op_error(err, SP_ERR_CORRUPT, n, "cannot expand %s to %s", a, b);
	}
	if (sp_shape_numel(&s) < 0)
		return too_large(n, err);
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

static sp_status
expand_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0),
			   *y = sp_out(r->g, r->n, 0);
	int64_t		s = 1;
	view		v = {0};

	if (numel_of(y) == 0)
		return SP_OK;
	v.rank = y->shape.rank;
	for (int d = y->shape.rank - 1; d >= 0; d--)
	{
		int			ix = x->shape.rank - y->shape.rank + d;

		v.size[d] = y->shape.dim[d];
		v.stride[d] = 0;
		if (ix >= 0 && x->shape.dim[ix] != 1)
		{
			v.stride[d] = s;
			s *= x->shape.dim[ix];
		}
	}
	return view_copy(r, r->in[0], &v, r->out[0], sp_dtype_size(x->dtype));
}

static sp_status
tile_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	int64_t		reps[SP_MAX_RANK];
	int			count;
	sp_shape	s;
	sp_status	st;

	if ((st = need_input(g, n, 0, err)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_int64_only)) != SP_OK ||
		(st = sp_const_ints(g, n, 1, NULL, reps, SP_MAX_RANK, &count, err)) != SP_OK)
		return st;
	if (count != x->shape.rank)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "repeats has %d values for an input of rank %d",
						   count, x->shape.rank);
	s = x->shape;
	for (int d = 0; d < count; d++)
	{
		if (reps[d] < 0)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "repeat %d is negative (%" PRId64 ")", d, reps[d]);
		if (__builtin_mul_overflow(s.dim[d], reps[d], &s.dim[d]) || s.dim[d] > SP_GRAPH_MAX_ELEMENTS)
			return too_large(n, err);
	}
	sp_out_set(g, n, 0, x->dtype, &s);
	return SP_OK;
}

static sp_status
tile_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0),
			   *y = sp_out(r->g, r->n, 0);
	int64_t		s = 1;
	view		v = {0};

	if (numel_of(y) == 0)
		return SP_OK;
	/* output axis d is (repeat, input axis d): repeats have stride 0 */
	v.rank = 2 * x->shape.rank;
	for (int d = x->shape.rank - 1; d >= 0; d--)
	{
		v.size[2 * d] = y->shape.dim[d] / x->shape.dim[d];
		v.stride[2 * d] = 0;
		v.size[2 * d + 1] = x->shape.dim[d];
		v.stride[2 * d + 1] = s;
		s *= x->shape.dim[d];
	}
	return view_copy(r, r->in[0], &v, r->out[0], sp_dtype_size(x->dtype));
}

/* ---------------------------------------------------------------------- */
/* Not. */

static sp_status
not_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	sp_status	st = sp_check_input(g, n, 0, err, (const sp_dtype[]) {SP_DT_BOOL, SP_DT_UNDEFINED});

	if (st != SP_OK)
		return st;
	sp_out_set(g, n, 0, SP_DT_BOOL, &sp_in(g, n, 0)->shape);
	return SP_OK;
}

static sp_status
not_forward(const sp_op_run *r)
{
	const uint8_t *x = r->in[0];
	uint8_t    *y = r->out[0];
	int64_t		count = numel_of(sp_in(r->g, r->n, 0));

	for (int64_t i = 0; i < count; i++)
		y[i] = !x[i];
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* The rows. */

#define SHAPE_OP(NAME, MININ, MAXIN, MINOUT, MAXOUT, INFER, FORWARD) \
	const sp_op_def sp_op_##NAME = {.name = #NAME, .min_in = MININ, .max_in = MAXIN, \
		.min_out = MINOUT, .max_out = MAXOUT, .infer = INFER, .forward = FORWARD}
/* the reshapes of plain copies pass gradients through unchanged */
#define COPY_OP(NAME, MININ, MAXIN, INFER) \
	const sp_op_def sp_op_##NAME = {.name = #NAME, .min_in = MININ, .max_in = MAXIN, \
		.min_out = 1, .max_out = 1, .infer = INFER, .forward = copy_forward, .backward = copy_backward}

SHAPE_OP(Shape, 1, 1, 1, 1, shape_infer, shape_forward);
SHAPE_OP(Size, 1, 1, 1, 1, size_infer, size_forward);
SHAPE_OP(Constant, 0, 0, 1, 1, constant_infer, constant_forward);
SHAPE_OP(ConstantOfShape, 1, 1, 1, 1, cos_infer, cos_forward);
SHAPE_OP(Range, 3, 3, 1, 1, range_infer, range_forward);
COPY_OP(Reshape, 1, 2, reshape_infer);
COPY_OP(Flatten, 1, 1, flatten_infer);
COPY_OP(Squeeze, 1, 2, squeeze_infer);
COPY_OP(Unsqueeze, 1, 2, unsqueeze_infer);
SHAPE_OP(Transpose, 1, 1, 1, 1, transpose_infer, transpose_forward);
SHAPE_OP(Concat, 1, SP_SHAPE_MAX_IO, 1, 1, concat_infer, concat_forward);
SHAPE_OP(Split, 1, 2, 1, SP_SHAPE_MAX_IO, split_infer, split_forward);
SHAPE_OP(Slice, 1, 5, 1, 1, slice_infer, slice_forward);
SHAPE_OP(Gather, 2, 2, 1, 1, gather_infer, gather_forward);
SHAPE_OP(Pad, 1, 4, 1, 1, pad_infer, pad_forward);
SHAPE_OP(Expand, 2, 2, 1, 1, expand_infer, expand_forward);
SHAPE_OP(Tile, 2, 2, 1, 1, tile_infer, tile_forward);
SHAPE_OP(Not, 1, 1, 1, 1, not_infer, not_forward);

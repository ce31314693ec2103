/*
 * embedding_ops.c: distance operators and functions on siamese.embedding
 * (<->, <=>, <#>, l2_distance, cosine_distance, inner_product, ...), norm and
 * normalisation, element-wise arithmetic, and the btree/hash support
 * (comparison, equality, hashing) that DISTINCT, GROUP BY and ORDER BY need.
 *
 * Distances go through the vectorised kernels of src/core/vector/distance.c via its
 * double-returning wrappers, which fall back to double precision when a float
 * accumulation would overflow or underflow, so SQL results are finite for
 * every valid embedding.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "vector/distance.h"
#include "pg/embedding/embedding.h"

PG_FUNCTION_INFO_V1(embedding_l2_distance);
PG_FUNCTION_INFO_V1(embedding_l2_squared_distance);
PG_FUNCTION_INFO_V1(embedding_cosine_distance);
PG_FUNCTION_INFO_V1(embedding_inner_product);
PG_FUNCTION_INFO_V1(embedding_negative_inner_product);
PG_FUNCTION_INFO_V1(embedding_dims);
PG_FUNCTION_INFO_V1(embedding_norm);
PG_FUNCTION_INFO_V1(embedding_l2_normalize);
PG_FUNCTION_INFO_V1(embedding_add);
PG_FUNCTION_INFO_V1(embedding_sub);
PG_FUNCTION_INFO_V1(embedding_mul);
PG_FUNCTION_INFO_V1(embedding_lt);
PG_FUNCTION_INFO_V1(embedding_le);
PG_FUNCTION_INFO_V1(embedding_eq);
PG_FUNCTION_INFO_V1(embedding_ne);
PG_FUNCTION_INFO_V1(embedding_ge);
PG_FUNCTION_INFO_V1(embedding_gt);
PG_FUNCTION_INFO_V1(embedding_cmp);
PG_FUNCTION_INFO_V1(embedding_hash);
PG_FUNCTION_INFO_V1(embedding_hash_extended);
PG_FUNCTION_INFO_V1(embedding_distance_isa);

/* ------------------------------------------------------------------------
 * Distances
 * ------------------------------------------------------------------------ */

Datum
embedding_l2_distance(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);

	embedding_check_same_dims(a, b);
	PG_RETURN_FLOAT8(sqrt(sp_dist_l2sq(a->x, b->x, a->dim)));
}

Datum
embedding_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);

	embedding_check_same_dims(a, b);
	PG_RETURN_FLOAT8(sp_dist_l2sq(a->x, b->x, a->dim));
}

/* 1 - cos(a, b) in [0, 2]; NaN when either vector is all zeros. */
Datum
embedding_cosine_distance(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);

	embedding_check_same_dims(a, b);
	PG_RETURN_FLOAT8(sp_dist_cosine(a->x, b->x, a->dim));
}

Datum
embedding_inner_product(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);

	embedding_check_same_dims(a, b);
	PG_RETURN_FLOAT8(sp_dist_dot(a->x, b->x, a->dim));
}

/* <#>: negated so that "smaller is closer" like the other operators. */
Datum
embedding_negative_inner_product(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);

	embedding_check_same_dims(a, b);
	/* 0 - x rather than -x: an exact zero product stays +0, not -0 */
	PG_RETURN_FLOAT8(0.0 - sp_dist_dot(a->x, b->x, a->dim));
}

/* ------------------------------------------------------------------------
 * Shape, norm, normalisation
 * ------------------------------------------------------------------------ */

Datum
embedding_dims(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);

	PG_RETURN_INT32(a->dim);
}

Datum
embedding_norm(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);

	PG_RETURN_FLOAT8(sqrt(sp_dist_normsq(a->x, a->dim)));
}

/* a / |a|; the zero vector has no direction and is returned unchanged. */
Datum
embedding_l2_normalize(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *result = embedding_new(a->dim);
	double		norm = sqrt(sp_dist_normsq(a->x, a->dim));

	if (norm > 0.0)
	{
		for (int i = 0; i < a->dim; i++)
			result->x[i] = (float4) ((double) a->x[i] / norm);
	}
	PG_RETURN_EMBEDDING_P(result);
}

/* ------------------------------------------------------------------------
 * Element-wise arithmetic
 * ------------------------------------------------------------------------ */

static void
check_overflow(const Embedding *r)
{
	for (int i = 0; i < r->dim; i++)
	{
		if (isinf(r->x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: overflow")));
	}
}

Datum
embedding_add(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);
	Embedding  *r;

	embedding_check_same_dims(a, b);
	r = embedding_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] + b->x[i];
	check_overflow(r);
	PG_RETURN_EMBEDDING_P(r);
}

Datum
embedding_sub(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);
	Embedding  *r;

	embedding_check_same_dims(a, b);
	r = embedding_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] - b->x[i];
	check_overflow(r);
	PG_RETURN_EMBEDDING_P(r);
}

Datum
embedding_mul(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);
	Embedding  *r;

	embedding_check_same_dims(a, b);
	r = embedding_new(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] * b->x[i];
	check_overflow(r);
	PG_RETURN_EMBEDDING_P(r);
}

/* ------------------------------------------------------------------------
 * Ordering: element by element, then the shorter vector first.  Different
 * dimensions compare (unequal) instead of raising, so a btree index or a
 * sort over mixed-dimension values works.  -0 and 0 are equal, as for real.
 * ------------------------------------------------------------------------ */

static int
embedding_cmp_internal(const Embedding *a, const Embedding *b)
{
	int			n = Min(a->dim, b->dim);

	for (int i = 0; i < n; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	if (a->dim < b->dim)
		return -1;
	if (a->dim > b->dim)
		return 1;
	return 0;
}

#define EMBEDDING_CMP_FN(name, expr) \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	Embedding  *a = PG_GETARG_EMBEDDING_P(0); \
	Embedding  *b = PG_GETARG_EMBEDDING_P(1); \
	int			c = embedding_cmp_internal(a, b); \
\
	PG_FREE_IF_COPY(a, 0); \
	PG_FREE_IF_COPY(b, 1); \
	PG_RETURN_BOOL(expr); \
}

EMBEDDING_CMP_FN(embedding_lt, c < 0)
EMBEDDING_CMP_FN(embedding_le, c <= 0)
EMBEDDING_CMP_FN(embedding_eq, c == 0)
EMBEDDING_CMP_FN(embedding_ne, c != 0)
EMBEDDING_CMP_FN(embedding_ge, c >= 0)
EMBEDDING_CMP_FN(embedding_gt, c > 0)

Datum
embedding_cmp(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);
	int			c = embedding_cmp_internal(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_INT32(c);
}

/*
 * Hashing must agree with equality, so -0 is hashed as +0.  The common case
 * (no negative zero) hashes the values in place.
 */
static const float4 *
hashable_values(const Embedding *a, float4 **copy)
{
	*copy = NULL;
	for (int i = 0; i < a->dim; i++)
	{
		if (a->x[i] == 0.0f && signbit(a->x[i]))
		{
			float4	   *c = (float4 *) palloc(sizeof(float4) * a->dim);

			for (int j = 0; j < a->dim; j++)
				c[j] = (a->x[j] == 0.0f) ? 0.0f : a->x[j];
			*copy = c;
			return c;
		}
	}
	return a->x;
}

Datum
embedding_hash(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	float4	   *copy;
	const float4 *v = hashable_values(a, &copy);
	Datum		h = hash_any((const unsigned char *) v, sizeof(float4) * a->dim);

	if (copy)
		pfree(copy);
	PG_FREE_IF_COPY(a, 0);
	return h;
}

Datum
embedding_hash_extended(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	uint64		seed = PG_GETARG_INT64(1);
	float4	   *copy;
	const float4 *v = hashable_values(a, &copy);
	Datum		h = hash_any_extended((const unsigned char *) v, sizeof(float4) * a->dim, seed);

	if (copy)
		pfree(copy);
	PG_FREE_IF_COPY(a, 0);
	return h;
}

/* Name of the distance kernels this backend uses ("avx512", "avx2", "scalar"). */
Datum
embedding_distance_isa(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(sp_distance_isa_name()));
}

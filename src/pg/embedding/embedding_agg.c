/*
 * embedding_agg.c: siamese.avg(embedding) and siamese.sum(embedding).
 *
 * The transition state is a float8[] {count, sum_1, ..., sum_d}; the empty
 * state is {0} (the aggregates' initcond), so the state type needs no
 * serialisation and partial aggregates combine directly in parallel plans.
 * Sums are kept in double: exact enough for means of millions of float
 * vectors and unable to overflow for finite float input.
 *
 * The support functions are callable from SQL with any float8[], so every
 * state is validated before use: a hostile state raises an error, never
 * reads out of bounds.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "pg/embedding/embedding.h"

PG_FUNCTION_INFO_V1(embedding_accum);
PG_FUNCTION_INFO_V1(embedding_combine);
PG_FUNCTION_INFO_V1(embedding_avg_final);
PG_FUNCTION_INFO_V1(embedding_sum_final);

/* Validate a state array; returns its element count (1 + dims). */
static int
state_check(ArrayType *st, float8 **values)
{
	int			n;
	float8		count;

	if (ARR_NDIM(st) != 1 || ARR_ELEMTYPE(st) != FLOAT8OID || ARR_HASNULL(st))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid embedding aggregate state"),
				 errdetail("The state must be a one-dimensional float8 array without nulls.")));
	n = ARR_DIMS(st)[0];
	if (n < 1 || n - 1 > EMBEDDING_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid embedding aggregate state"),
				 errdetail("The state has %d elements.", n)));
	*values = (float8 *) ARR_DATA_PTR(st);
	count = (*values)[0];
	if (!(count >= 0.0) || isinf(count) || (n == 1 && count != 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid embedding aggregate state"),
				 errdetail("The state's count is %g.", count)));
	return n;
}

static ArrayType *
state_new(int n)
{
	Size		nbytes = ARR_OVERHEAD_NONULLS(1) + sizeof(float8) * (Size) n;
	ArrayType  *r = (ArrayType *) palloc0(nbytes);

	SET_VARSIZE(r, nbytes);
	r->ndim = 1;
	r->dataoffset = 0;
	r->elemtype = FLOAT8OID;
	ARR_DIMS(r)[0] = n;
	ARR_LBOUND(r)[0] = 1;
	return r;
}

static ArrayType *
state_copy(ArrayType *st)
{
	ArrayType  *r = (ArrayType *) palloc(VARSIZE(st));

	memcpy(r, st, VARSIZE(st));
	return r;
}

static void
state_dims_mismatch(int state_dims, int dims)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("different embedding dimensions %d and %d", state_dims, dims)));
}

Datum
embedding_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st = PG_GETARG_ARRAYTYPE_P(0);
	Embedding  *e = PG_GETARG_EMBEDDING_P(1);
	float8	   *v;
	int			n = state_check(st, &v);

	if (n == 1)
	{
		/* first row: the state grows from {0} to {1, x...} */
		ArrayType  *r = state_new(e->dim + 1);
		float8	   *rv = (float8 *) ARR_DATA_PTR(r);

		rv[0] = 1.0;
		for (int i = 0; i < e->dim; i++)
			rv[i + 1] = e->x[i];
		PG_RETURN_ARRAYTYPE_P(r);
	}
	if (n - 1 != e->dim)
		state_dims_mismatch(n - 1, e->dim);

	/* inside an aggregate the state is ours to update in place */
	if (!AggCheckCallContext(fcinfo, NULL))
	{
		st = state_copy(st);
		v = (float8 *) ARR_DATA_PTR(st);
	}
	v[0] += 1.0;
	for (int i = 0; i < e->dim; i++)
		v[i + 1] += e->x[i];
	PG_RETURN_ARRAYTYPE_P(st);
}

Datum
embedding_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *s1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *s2 = PG_GETARG_ARRAYTYPE_P(1);
	float8	   *v1,
			   *v2;
	int			n1 = state_check(s1, &v1);
	int			n2 = state_check(s2, &v2);

	if (n2 == 1)
		PG_RETURN_ARRAYTYPE_P(s1);
	if (n1 == 1)
		PG_RETURN_ARRAYTYPE_P(state_copy(s2));
	if (n1 != n2)
		state_dims_mismatch(n1 - 1, n2 - 1);

	if (!AggCheckCallContext(fcinfo, NULL))
	{
		s1 = state_copy(s1);
		v1 = (float8 *) ARR_DATA_PTR(s1);
	}
	for (int i = 0; i < n1; i++)
		v1[i] += v2[i];
	PG_RETURN_ARRAYTYPE_P(s1);
}

static float4
state_value_to_float4(double v)
{
	float4		f;

	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid embedding aggregate state"),
				 errdetail("The state contains a non-finite value.")));
	f = (float4) v;
	if (isinf(f))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value out of range: overflow")));
	return f;
}

/* Shared body of the final functions: NULL for no rows. */
static Datum
embedding_final(FunctionCallInfo fcinfo, bool average)
{
	ArrayType  *st = PG_GETARG_ARRAYTYPE_P(0);
	float8	   *v;
	int			n = state_check(st, &v);
	Embedding  *r;

	if (n == 1 || v[0] == 0.0)
		PG_RETURN_NULL();
	r = embedding_new(n - 1);
	for (int i = 0; i < n - 1; i++)
		r->x[i] = state_value_to_float4(average ? v[i + 1] / v[0] : v[i + 1]);
	PG_RETURN_EMBEDDING_P(r);
}

Datum
embedding_avg_final(PG_FUNCTION_ARGS)
{
	return embedding_final(fcinfo, true);
}

Datum
embedding_sum_final(PG_FUNCTION_ARGS)
{
	return embedding_final(fcinfo, false);
}

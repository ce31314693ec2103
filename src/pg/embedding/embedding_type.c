/*
 * embedding_type.c: the siamese.embedding type itself: text and binary I/O,
 * typmod (embedding(n)), the length-coercion cast, casts from and to arrays,
 * and the shared constructors and checks declared in embedding.h.
 *
 * Input is as strict as float4in (the core's vector/embedding_text.c parses
 * it): every element must parse completely with strtof, NaN and infinities
 * are refused (distances on them are meaningless), out-of-range literals are
 * refused rather than rounded to 0 or infinity.  The binary form is read and
 * written by the core's vector/embedding_binary.c, which the fuzzer attacks.
 * Output uses the shortest decimal that reads back to the same float, so text
 * round-trips exactly.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "pg/embedding/embedding.h"
#include "vector/embedding_binary.h"
#include "vector/embedding_text.h"

PG_FUNCTION_INFO_V1(embedding_in);
PG_FUNCTION_INFO_V1(embedding_out);
PG_FUNCTION_INFO_V1(embedding_typmod_in);
PG_FUNCTION_INFO_V1(embedding_typmod_out);
PG_FUNCTION_INFO_V1(embedding_recv);
PG_FUNCTION_INFO_V1(embedding_send);
PG_FUNCTION_INFO_V1(embedding_coerce);
PG_FUNCTION_INFO_V1(embedding_from_array);
PG_FUNCTION_INFO_V1(embedding_to_array);

/* ------------------------------------------------------------------------
 * Shared helpers (embedding.h)
 * ------------------------------------------------------------------------ */

void
embedding_check_dim(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding must have at least 1 dimension")));
	if (dim > EMBEDDING_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("embedding cannot have more than %d dimensions", EMBEDDING_MAX_DIM)));
}

Embedding *
embedding_new(int dim)
{
	Embedding  *e;
	Size		size;

	embedding_check_dim(dim);
	size = EMBEDDING_SIZE(dim);
	e = (Embedding *) palloc0(size);
	SET_VARSIZE(e, size);
	e->dim = (int16) dim;
	e->unused = 0;
	return e;
}

void
embedding_check_values(const float *x, int dim)
{
	for (int i = 0; i < dim; i++)
	{
		if (isnan(x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("NaN not allowed in embedding")));
		if (isinf(x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("infinite value not allowed in embedding")));
	}
}

Embedding *
embedding_from_floats(const float *x, int dim)
{
	Embedding  *e;

	embedding_check_dim(dim);
	embedding_check_values(x, dim);
	e = embedding_new(dim);
	memcpy(e->x, x, sizeof(float4) * (Size) dim);
	return e;
}

void
embedding_check_same_dims(const Embedding *a, const Embedding *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different embedding dimensions %d and %d", a->dim, b->dim)));
}

void
embedding_check_typmod(int dim, int32 typmod)
{
	if (typmod >= 0 && dim != typmod)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/* ------------------------------------------------------------------------
 * Text I/O
 * ------------------------------------------------------------------------ */

static void
syntax_error(const char *str, const char *detail) pg_attribute_noreturn();

static void
syntax_error(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type embedding: \"%s\"", str),
			 errdetail("%s", detail)));
	pg_unreachable();
}

/*
 * Parse '[v1, v2, ...]' with the core's parser (vector/embedding_text.c),
 * into a result allocated for its capacity bound, so a huge hostile string
 * costs no more than its own size.
 */
Datum
embedding_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			cap = sp_emb_text_capacity(str, EMBEDDING_MAX_DIM);
	Embedding  *result = (Embedding *) palloc0(EMBEDDING_SIZE(cap));
	sp_emb_text_result r;

	switch (sp_emb_text_parse(str, result->x, cap, EMBEDDING_MAX_DIM, &r))
	{
		case SP_EMB_TEXT_OK:
			break;
		case SP_EMB_TEXT_SYNTAX:
			syntax_error(str, r.detail);
			break;
		case SP_EMB_TEXT_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("embedding must have at least 1 dimension")));
			break;
		case SP_EMB_TEXT_TOO_MANY:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("embedding cannot have more than %d dimensions", EMBEDDING_MAX_DIM)));
			break;
		case SP_EMB_TEXT_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" is out of range for type real", pnstrdup(r.token, r.token_len))));
			break;
		case SP_EMB_TEXT_NAN:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("NaN not allowed in embedding")));
			break;
		case SP_EMB_TEXT_INFINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("infinite value not allowed in embedding")));
			break;
	}
	embedding_check_typmod(r.dim, typmod);

	SET_VARSIZE(result, EMBEDDING_SIZE(r.dim));
	result->dim = (int16) r.dim;
	result->unused = 0;
	PG_RETURN_EMBEDDING_P(result);
}

Datum
embedding_out(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	char	   *buf;
	char	   *p;

	/* each value needs < FLOAT_SHORTEST_DECIMAL_LEN chars plus a separator */
	buf = palloc((Size) e->dim * (FLOAT_SHORTEST_DECIMAL_LEN + 1) + 3);
	p = buf;
	*p++ = '[';
	for (int i = 0; i < e->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(e->x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	PG_FREE_IF_COPY(e, 0);
	PG_RETURN_CSTRING(buf);
}

/* ------------------------------------------------------------------------
 * Type modifier: embedding(n)
 * ------------------------------------------------------------------------ */

Datum
embedding_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errdetail("Type embedding takes exactly one modifier, the number of dimensions.")));
	if (tl[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type embedding must be at least 1")));
	if (tl[0] > EMBEDDING_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type embedding cannot exceed %d", EMBEDDING_MAX_DIM)));
	PG_RETURN_INT32(tl[0]);
}

Datum
embedding_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	PG_RETURN_CSTRING(psprintf("(%d)", typmod));
}

/* Length-coercion cast embedding -> embedding(n). */
Datum
embedding_coerce(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	embedding_check_typmod(e->dim, typmod);
	PG_RETURN_EMBEDDING_P(e);
}

/* ------------------------------------------------------------------------
 * Binary I/O: int16 dim, int16 unused (0), dim x float4; no OIDs.
 * ------------------------------------------------------------------------ */

Datum
embedding_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	const uint8 *data = (const uint8 *) buf->data + buf->cursor;
	sp_emb_bin_header hdr;
	Embedding  *result;

	switch (sp_emb_bin_read_header(data, (size_t) (buf->len - buf->cursor), EMBEDDING_MAX_DIM, &hdr))
	{
		case SP_EMB_BIN_OK:
			break;
		case SP_EMB_BIN_SHORT_HEADER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("binary embedding is truncated"),
					 errdetail("The 4-byte header is incomplete.")));
			break;
		case SP_EMB_BIN_BAD_DIM:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid number of dimensions %d in binary embedding", hdr.dim),
					 errdetail("Dimensions must be between 1 and %d.", EMBEDDING_MAX_DIM)));
			break;
		case SP_EMB_BIN_BAD_RESERVED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid reserved field %d in binary embedding", hdr.reserved),
					 errdetail("The reserved field must be 0.")));
			break;
		case SP_EMB_BIN_SHORT_VALUES:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("binary embedding is truncated"),
					 errdetail("Expected %d values but only %zu bytes are left.", hdr.dim, hdr.avail)));
			break;
	}
	embedding_check_typmod(hdr.dim, typmod);

	result = embedding_new(hdr.dim);
	sp_emb_bin_values(data, &hdr, result->x);
	buf->cursor += (int) hdr.size;
	embedding_check_values(result->x, hdr.dim);
	PG_RETURN_EMBEDDING_P(result);
}

Datum
embedding_send(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	bytea	   *out = palloc(VARHDRSZ + SP_EMB_BIN_SIZE(e->dim));

	SET_VARSIZE(out, VARHDRSZ + SP_EMB_BIN_SIZE(e->dim));
	sp_emb_bin_write(e->x, e->dim, (uint8 *) VARDATA(out));
	PG_FREE_IF_COPY(e, 0);
	PG_RETURN_BYTEA_P(out);
}

/* ------------------------------------------------------------------------
 * Casts from arrays: real[], double precision[], integer[] -> embedding
 * ------------------------------------------------------------------------ */

static float
float8_to_element(double v)
{
	float		f;

	if (isnan(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in embedding")));
	if (isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in embedding")));
	f = (float) v;
	if (isinf(f))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value out of range: overflow")));
	if (f == 0.0f && v != 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value out of range: underflow")));
	return f;
}

Datum
embedding_from_array(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int			ndim = ARR_NDIM(arr);
	int			n;
	Embedding  *result;

	if (ndim > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be one-dimensional"),
				 errdetail("The array has %d dimensions.", ndim)));
	n = ArrayGetNItems(ndim, ARR_DIMS(arr));
	embedding_check_dim(n);
	if (array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));
	embedding_check_typmod(n, typmod);

	result = embedding_new(n);
	switch (elemtype)
	{
		case FLOAT4OID:
			memcpy(result->x, ARR_DATA_PTR(arr), sizeof(float4) * (Size) n);
			embedding_check_values(result->x, n);
			break;
		case FLOAT8OID:
			{
				const float8 *src = (const float8 *) ARR_DATA_PTR(arr);

				for (int i = 0; i < n; i++)
					result->x[i] = float8_to_element(src[i]);
				break;
			}
		case INT4OID:
			{
				const int32 *src = (const int32 *) ARR_DATA_PTR(arr);

				for (int i = 0; i < n; i++)
					result->x[i] = (float4) src[i];
				break;
			}
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("cannot cast array of type %s to embedding",
							format_type_be(elemtype)),
					 errhint("Cast the array to real[] first.")));
	}
	PG_FREE_IF_COPY(arr, 0);
	PG_RETURN_EMBEDDING_P(result);
}

Datum
embedding_to_array(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	Datum	   *elems;
	ArrayType  *result;

	elems = (Datum *) palloc(sizeof(Datum) * e->dim);
	for (int i = 0; i < e->dim; i++)
		elems[i] = Float4GetDatum(e->x[i]);
	result = construct_array(elems, e->dim, FLOAT4OID, sizeof(float4),
							 true, TYPALIGN_INT);
	pfree(elems);
	PG_FREE_IF_COPY(e, 0);
	PG_RETURN_ARRAYTYPE_P(result);
}

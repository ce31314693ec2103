/*
 * model_sql.c: SQL functions that run a model: embed, embed_batch (batched
 * forward passes), pair_distance and same_item (the twin pass), and
 * blas_info.  Models come from the per-backend cache (model_cache.c).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pg/embedding/embedding.h"
#include "nn/sgemm.h"
#include "pg/nn/model.h"
#include "pg/sp_pg.h"

PG_FUNCTION_INFO_V1(siamese_embed);
PG_FUNCTION_INFO_V1(siamese_embed_batch);
PG_FUNCTION_INFO_V1(siamese_pair_distance);
PG_FUNCTION_INFO_V1(siamese_same_item);
PG_FUNCTION_INFO_V1(siamese_blas_info);

static SpCachedModel *
model_from_arg(text *name)
{
	char	   *s = text_to_cstring(name);
	SpCachedModel *cm;

	/* Longer names cannot exist (CHECK constraint); do not truncate into a match. */
	if (strlen(s) >= SP_MODEL_NAME_MAX)
		sp_catalog_unknown_model(s);
	cm = sp_model_get(s);
	pfree(s);
	return cm;
}

/*
 * Embed n images into out (n x dim).  Images are decoded a workspace batch
 * at a time in a scratch context, so memory stays bounded by one batch of
 * decoded images however many are passed.
 */
void
sp_model_embed_bytea(SpCachedModel *cm, bytea **images, int n, float *out)
{
	int			dim = sp_nn_model_dim(cm->model);
	MemoryContext scratch,
				old;
	sp_image   *imgs;

	scratch = AllocSetContextCreate(CurrentMemoryContext, "siamese embed batch",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(scratch);
	imgs = palloc(sizeof(sp_image) * cm->max_batch);
	for (int start = 0; start < n; start += cm->max_batch)
	{
		int			cnt = Min(cm->max_batch, n - start);
		sp_error	err;
		sp_status	st;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < cnt; i++)
			sp_pg_decode_image(images[start + i], &imgs[i]);
		st = sp_nn_embed_images(sp_pg_env(), cm->model, cm->ws, imgs, cnt,
								out + (size_t) start * dim, &err);
		SP_PG_CHECK(st, &err);
		/* the weights load finite, but can still overflow float32 on an image: blame the model */
		for (size_t i = 0; i < (size_t) cnt * dim; i++)
			if (!isfinite(out[(size_t) start * dim + i]))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("model \"%s\" computed %s in dimension %d of an embedding",
								cm->name, isnan(out[(size_t) start * dim + i]) ? "NaN" : "infinity",
								(int) (i % dim) + 1),
						 errdetail("The model's weights overflow float32 on this image."),
						 errhint("Check the model's weights (batch-norm statistics, scales) or retrain it.")));
		MemoryContextReset(scratch);
		imgs = palloc(sizeof(sp_image) * cm->max_batch);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
}

/* embed(image bytea, model text) -> embedding */
Datum
siamese_embed(PG_FUNCTION_ARGS)
{
	bytea	   *image = PG_GETARG_BYTEA_PP(0);
	SpCachedModel *cm = model_from_arg(PG_GETARG_TEXT_PP(1));
	int			dim = sp_nn_model_dim(cm->model);
	float	   *out = palloc(sizeof(float) * dim);
	Embedding  *e;

	sp_model_embed_bytea(cm, &image, 1, out);
	e = embedding_from_floats(out, dim);
	pfree(out);
	PG_RETURN_EMBEDDING_P(e);
}

/* embed_batch(images bytea[], model text) -> embedding[] (NULL in, NULL out) */
Datum
siamese_embed_batch(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	SpCachedModel *cm = model_from_arg(PG_GETARG_TEXT_PP(1));
	int			dim = sp_nn_model_dim(cm->model);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				n_ok = 0;
	bytea	  **images;
	float	   *out;
	Datum	   *results;
	Oid			emb_type = get_fn_expr_rettype(fcinfo->flinfo);
	Oid			elem_type;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1],
				lbs[1];
	ArrayType  *result;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("embed_batch expects a one-dimensional array")));
	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);

	elem_type = get_element_type(emb_type);
	if (!OidIsValid(elem_type))
		elog(ERROR, "embed_batch must return an array");
	get_typlenbyvalalign(elem_type, &typlen, &typbyval, &typalign);

	images = palloc(sizeof(bytea *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			images[n_ok++] = DatumGetByteaPP(elems[i]);
	out = palloc_extended(sizeof(float) * (Size) Max(n_ok, 1) * dim, MCXT_ALLOC_HUGE);
	sp_model_embed_bytea(cm, images, n_ok, out);

	results = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0, j = 0; i < n; i++)
	{
		if (nulls[i])
			results[i] = (Datum) 0;
		else
		{
			results[i] = EmbeddingGetDatum(embedding_from_floats(out + (size_t) j * dim, dim));
			j++;
		}
	}
	if (n == 0)
		result = construct_empty_array(elem_type);
	else
	{
		dims[0] = n;
		lbs[0] = ARR_NDIM(arr) == 1 ? ARR_LBOUND(arr)[0] : 1;
		result = construct_md_array(results, nulls, 1, dims, lbs, elem_type, typlen, typbyval,
									typalign);
	}
	PG_RETURN_ARRAYTYPE_P(result);
}

/* Twin pass: both images in one forward batch. */
static double
twin_distance(FunctionCallInfo fcinfo, SpCachedModel **cm_out)
{
	bytea	   *pair[2];
	SpCachedModel *cm;
	int			dim;
	float	   *out;
	double		d;

	pair[0] = PG_GETARG_BYTEA_PP(0);
	pair[1] = PG_GETARG_BYTEA_PP(1);
	cm = model_from_arg(PG_GETARG_TEXT_PP(2));
	dim = sp_nn_model_dim(cm->model);
	out = palloc(sizeof(float) * 2 * dim);
	sp_model_embed_bytea(cm, pair, 2, out);
	embedding_check_values(out, 2 * dim);
	/* the embedding operators' own distance (<-> for l2, <=> for cosine): they agree */
	d = sp_dist(sp_nn_model_config(cm->model)->distance, out, out + dim, (size_t) dim);
	pfree(out);
	*cm_out = cm;
	return d;
}

Datum
siamese_pair_distance(PG_FUNCTION_ARGS)
{
	SpCachedModel *cm;

	PG_RETURN_FLOAT8(twin_distance(fcinfo, &cm));
}

Datum
siamese_same_item(PG_FUNCTION_ARGS)
{
	SpCachedModel *cm;
	const sp_nn_config *cfg;
	double		d;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(2));

	/* Check for a threshold before paying for the forward passes. */
	if (strlen(name) < SP_MODEL_NAME_MAX)
	{
		cm = sp_model_get(name);
		cfg = sp_nn_model_config(cm->model);
		if (!cfg->has_threshold)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("model \"%s\" has no calibrated verification threshold", name),
					 errhint("Compare siamese.pair_distance() with a threshold of your own, or use a model whose config has \"threshold\".")));
	}
	d = twin_distance(fcinfo, &cm);
	PG_RETURN_BOOL(d <= sp_nn_model_config(cm->model)->threshold);
}

/* blas_info() -> (library, core, threads, cpu, suggested_coretype) */
Datum
siamese_blas_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	char		info[512];
	const char *isa;
	const char *suggest;
	const char *core;
	char	   *p;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	sp_blas_check_core();		/* also pins one thread */
	sp_blas_info(info, sizeof info);
	core = sp_blas_corename();
	suggest = sp_blas_suggested_core(&isa);

	/* library: the text before "; core=" */
	p = strstr(info, "; core=");
	if (p)
		*p = '\0';
	{
		/* the library text, then what the matrix multiplies run on (nn/sgemm.h) */
		char		gemm[160];
		char		lib[700];

		sp_gemm_info(sp_gemm_backend_in_use(), gemm, sizeof gemm);
		snprintf(lib, sizeof lib, "%s; matrix multiplies: %s", info, gemm);
		values[0] = CStringGetTextDatum(lib);
	}
	if (p)
		*p = ';';
	values[1] = CStringGetTextDatum(core ? core : "unknown");
	/* threads=N is the last field of sp_blas_info's text */
	p = strstr(info, "threads=");
	values[2] = Int32GetDatum(p ? atoi(p + 8) : 1);
	values[3] = CStringGetTextDatum(isa);
	if (suggest)
		values[4] = CStringGetTextDatum(suggest);
	else
		nulls[4] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * report_worker.c: the per-image work of a robustness report on a Citus
 * table, as SQL functions the coordinator's queries run where the images
 * are (docs/scale-out.md):
 *
 *   siamese._report_clean(image, model, baseline) -> real[]
 *       the image's clean embeddings by both models (model's, then the
 *       baseline's), or NULL when the image cannot be decoded;
 *   siamese._report_corruption_cells(image, first_index, copies, model,
 *       baseline, corruptions, sev_mask, seed, k, gallery_model,
 *       gallery_baseline, labels) -> float8[]
 *       (the galleries are the sample's clean embeddings as raw float32
 *       bytes: Citus writes parameters into each shard query's text, and a
 *       bytea literal is far cheaper to parse there than a real[] one)
 *       for sample indices first_index .. first_index + copies - 1 (copies > 1
 *       only for rows with identical images and labels), every requested
 *       cell's verdict and drift against the sample's clean gallery:
 *       per index, per cell, (wrong model, wrong baseline, drift model,
 *       drift baseline).
 *
 * Both are the core's per-image evaluation (robust/robust_eval.h), the very
 * code sp_re_corruption_run runs on one node, with the models of this
 * backend's cache, so a distributed report equals the one-node report.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "pg/nn/model.h"
#include "pg/sp_pg.h"
#include "robust/robust_eval.h"

PG_FUNCTION_INFO_V1(siamese_report_clean);
PG_FUNCTION_INFO_V1(siamese_report_corruption_cells);

/* Both models of a report from this backend's cache. */
static void
report_models(text *model, text *baseline, sp_re_models *models)
{
	SpCachedModel *cm = sp_model_get(text_to_cstring(model));
	SpCachedModel *cb = sp_model_get(text_to_cstring(baseline));

	/* one model in both roles shares its results, as on one node */
	if (strcmp(cm->name, cb->name) == 0)
		cb = cm;
	models->model[SP_RE_MODEL] = cm->model;
	models->ws[SP_RE_MODEL] = cm->ws;
	models->model[SP_RE_BASELINE] = cb->model;
	models->ws[SP_RE_BASELINE] = cb->ws;
}

/* _report_clean(image bytea, model text, baseline text) -> real[] */
Datum
siamese_report_clean(PG_FUNCTION_ARGS)
{
	bytea	   *img = PG_GETARG_BYTEA_PP(0);
	sp_re_models models;
	sp_image	image;
	sp_error	err;
	sp_status	st;
	int			dim[2];
	float	   *buf;
	float	   *out[2];
	Datum	   *d;

	report_models(PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(2), &models);
	st = sp_image_decode(sp_pg_env(), (const uint8_t *) VARDATA_ANY(img), VARSIZE_ANY_EXHDR(img), &image, &err);
	if (st == SP_ERR_INTERRUPTED || st == SP_ERR_NOMEM)
		sp_pg_raise(&err);
	if (st != SP_OK)
		PG_RETURN_NULL();		/* skipped and counted by the coordinator, as on one node */
	dim[0] = sp_nn_model_dim(models.model[0]);
	dim[1] = sp_nn_model_dim(models.model[1]);
	buf = palloc(sizeof(float) * (dim[0] + dim[1]));
	out[0] = buf;
	out[1] = buf + dim[0];
	st = sp_re_clean_embed(sp_pg_env(), &models, &image, -1, out, &err);
	sp_image_free(sp_pg_env(), &image);
	SP_PG_CHECK(st, &err);
	if (models.model[0] == models.model[1])
		memcpy(out[1], out[0], sizeof(float) * dim[0]);
	d = palloc(sizeof(Datum) * (dim[0] + dim[1]));
	for (int i = 0; i < dim[0] + dim[1]; i++)
		d[i] = Float4GetDatum(buf[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, dim[0] + dim[1], FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

/* The elements of a one-dimensional array without NULLs, or an error naming it. */
static void *
plain_array(ArrayType *a, Oid elemtype, int *n, const char *what)
{
	if (ARR_ELEMTYPE(a) != elemtype || ARR_NDIM(a) > 1 || ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array without NULLs", what)));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	return ARR_DATA_PTR(a);
}

/* A bytea of float32 values, copied to aligned memory: the floats, their count in *n. */
static const float *
float_bytes(bytea *b, int *n)
{
	Size		len = VARSIZE_ANY_EXHDR(b);
	float	   *f = palloc(Max(len, sizeof(float)));

	if (len % sizeof(float) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a gallery of %zu bytes is not a whole number of float32 values", (size_t) len)));
	memcpy(f, VARDATA_ANY(b), len);
	*n = (int) (len / sizeof(float));
	return f;
}

/*
 * _report_corruption_cells(image bytea, first_index int, copies int,
 *     model text, baseline text, corruptions int[], sev_mask int, seed bigint,
 *     k int, gallery_model bytea, gallery_baseline bytea, labels int[])
 *   -> float8[]   (labels NULL: self-retrieval)
 */
Datum
siamese_report_corruption_cells(PG_FUNCTION_ARGS)
{
	bytea	   *img;
	int			first,
				copies,
				ncorr,
				ng[2],
				nlab = 0,
				n,
				ncells,
				dim[2];
	sp_re_models models;
	sp_re_corruption_params p;
	sp_re_gallery g;
	sp_re_cell *cells;
	sp_image	image;
	sp_error	err;
	Datum	   *out;
	int			o = 0;

	for (int i = 0; i <= 10; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of _report_corruption_cells must not be NULL", i + 1)));
	img = PG_GETARG_BYTEA_PP(0);
	first = PG_GETARG_INT32(1);
	copies = PG_GETARG_INT32(2);
	report_models(PG_GETARG_TEXT_PP(3), PG_GETARG_TEXT_PP(4), &models);
	memset(&p, 0, sizeof(p));
	p.corruptions = plain_array(PG_GETARG_ARRAYTYPE_P(5), INT4OID, &ncorr, "corruptions");
	p.ncorruptions = ncorr;
	p.sev_mask = (unsigned) PG_GETARG_INT32(6);
	p.seed = (uint64_t) PG_GETARG_INT64(7);
	p.k = PG_GETARG_INT32(8);
	p.profile = SP_PROFILE_AUTO;
	dim[0] = sp_nn_model_dim(models.model[0]);
	dim[1] = sp_nn_model_dim(models.model[1]);
	g.clean[0] = float_bytes(PG_GETARG_BYTEA_PP(9), &ng[0]);
	g.clean[1] = float_bytes(PG_GETARG_BYTEA_PP(10), &ng[1]);
	g.labels = PG_ARGISNULL(11) ? NULL : plain_array(PG_GETARG_ARRAYTYPE_P(11), INT4OID, &nlab, "labels");
	n = ng[0] / Max(dim[0], 1);
	g.n = n;
	ncells = sp_re_corruption_ncells(&p);
	if (ng[0] != n * dim[0] || ng[1] != n * dim[1] || (g.labels && nlab != n) || n < 2 ||
		first < 0 || copies < 1 || first + copies > n || ncorr < 1 || ncorr > SP_C_COUNT || ncells < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inconsistent arguments to _report_corruption_cells"),
				 errdetail("%d sample images, galleries of %d and %d floats for %d and %d dimensions, "
						   "%d labels, indices %d to %d.",
						   n, ng[0], ng[1], dim[0], dim[1], nlab, first, first + copies - 1)));
	for (int i = 0; i < ncorr; i++)
		if (p.corruptions[i] < 0 || p.corruptions[i] >= SP_C_COUNT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("corruption id %d is out of range", p.corruptions[i])));

	sp_pg_decode_image(img, &image);
	cells = palloc(sizeof(sp_re_cell) * ncells);
	out = palloc(sizeof(Datum) * (Size) copies * ncells * 4);
	for (int c = 0; c < copies; c++)
	{
		sp_status	st = sp_re_corruption_image(sp_pg_env(), &models, &image, first + c, &g, &p, cells, &err);

		if (st != SP_OK)
		{
			sp_image_free(sp_pg_env(), &image);
			sp_pg_raise(&err);
		}
		for (int j = 0; j < ncells; j++)
		{
			out[o++] = Float8GetDatum(cells[j].wrong[0]);
			out[o++] = Float8GetDatum(cells[j].wrong[1]);
			out[o++] = Float8GetDatum(cells[j].drift[0]);
			out[o++] = Float8GetDatum(cells[j].drift[1]);
		}
	}
	sp_image_free(sp_pg_env(), &image);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, o, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

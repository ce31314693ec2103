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
 *       drift baseline);
 *   siamese._report_perturbation_cells(the same arguments, with perturbation
 *       registry indices and the difficulty in place of corruption ids and
 *       the severity mask) -> float8[]
 *       per index, per perturbation, the sequence's (flip probability model,
 *       baseline, top-5 distance model, baseline, frames).
 *
 * All are the core's per-image evaluation (robust/robust_eval.h), the very
 * code sp_re_corruption_run and sp_re_perturbation_run run on one node, with the models of this
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
PG_FUNCTION_INFO_V1(siamese_report_perturbation_cells);

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
 * The arguments both cell functions share:
 *   (image bytea, first_index int, copies int, model text, baseline text,
 *    items int[], item_param int, seed bigint, k int,
 *    gallery_model bytea, gallery_baseline bytea, labels int[])
 * items are corruption ids / perturbation registry indices, item_param the
 * severity mask / the difficulty; labels NULL means self-retrieval.
 */
typedef struct CellArgs
{
	bytea	   *img;
	int			first;
	int			copies;
	sp_re_models models;
	const int32 *items;
	int			nitems;
	int			item_param;
	uint64_t	seed;
	int			k;
	sp_re_gallery gallery;
} CellArgs;

static void
cell_args(FunctionCallInfo fcinfo, const char *fname, CellArgs *a)
{
	int			ng[2],
				nlab = 0,
				dim[2],
				n;

	for (int i = 0; i <= 10; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of %s must not be NULL", i + 1, fname)));
	a->img = PG_GETARG_BYTEA_PP(0);
	a->first = PG_GETARG_INT32(1);
	a->copies = PG_GETARG_INT32(2);
	report_models(PG_GETARG_TEXT_PP(3), PG_GETARG_TEXT_PP(4), &a->models);
	a->items = plain_array(PG_GETARG_ARRAYTYPE_P(5), INT4OID, &a->nitems, "items");
	a->item_param = PG_GETARG_INT32(6);
	a->seed = (uint64_t) PG_GETARG_INT64(7);
	a->k = PG_GETARG_INT32(8);
	dim[0] = sp_nn_model_dim(a->models.model[0]);
	dim[1] = sp_nn_model_dim(a->models.model[1]);
	a->gallery.clean[0] = float_bytes(PG_GETARG_BYTEA_PP(9), &ng[0]);
	a->gallery.clean[1] = float_bytes(PG_GETARG_BYTEA_PP(10), &ng[1]);
	a->gallery.labels = PG_ARGISNULL(11) ? NULL :
		plain_array(PG_GETARG_ARRAYTYPE_P(11), INT4OID, &nlab, "labels");
	n = ng[0] / Max(dim[0], 1);
	a->gallery.n = n;
	if (ng[0] != n * dim[0] || ng[1] != n * dim[1] || (a->gallery.labels && nlab != n) || n < 2 ||
		a->first < 0 || a->copies < 1 || a->first > n - a->copies || a->nitems < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inconsistent arguments to %s", fname),
				 errdetail("%d sample images, galleries of %d and %d floats for %d and %d dimensions, "
						   "%d labels, indices %d to %d, %d items.",
						   n, ng[0], ng[1], dim[0], dim[1], nlab, a->first, a->first + a->copies - 1,
						   a->nitems)));
}

/* _report_corruption_cells(CellArgs with items = corruption ids, item_param = severity mask) -> float8[] */
Datum
siamese_report_corruption_cells(PG_FUNCTION_ARGS)
{
	CellArgs	a;
	sp_re_corruption_params p;
	sp_re_cell *cells;
	sp_image	image;
	sp_error	err;
	Datum	   *out;
	int			ncells,
				o = 0;

	cell_args(fcinfo, "_report_corruption_cells", &a);
	memset(&p, 0, sizeof(p));
	p.corruptions = a.items;
	p.ncorruptions = a.nitems;
	p.sev_mask = (unsigned) a.item_param;
	p.seed = a.seed;
	p.k = a.k;
	p.profile = SP_PROFILE_AUTO;
	for (int i = 0; i < a.nitems; i++)
		if (p.corruptions[i] < 0 || p.corruptions[i] >= SP_C_COUNT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("corruption id %d is out of range", p.corruptions[i])));
	ncells = sp_re_corruption_ncells(&p);
	if (a.nitems > SP_C_COUNT || ncells < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inconsistent arguments to _report_corruption_cells"),
				 errdetail("%d corruptions, severity mask %d.", a.nitems, a.item_param)));

	sp_pg_decode_image(a.img, &image);
	cells = palloc(sizeof(sp_re_cell) * ncells);
	out = palloc(sizeof(Datum) * (Size) a.copies * ncells * 4);
	for (int c = 0; c < a.copies; c++)
	{
		sp_status	st = sp_re_corruption_image(sp_pg_env(), &a.models, &image, a.first + c, &a.gallery, &p,
												cells, &err);

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

/*
 * _report_perturbation_cells(CellArgs with items = perturbation registry
 * indices, item_param = difficulty) -> float8[]: per index, per perturbation,
 * (FP model, FP baseline, uT5D model, uT5D baseline, frames).
 */
Datum
siamese_report_perturbation_cells(PG_FUNCTION_ARGS)
{
	CellArgs	a;
	sp_re_perturbation_params p;
	sp_re_prototypes protos;
	sp_re_pcell *cells;
	sp_image	image;
	sp_error	err;
	sp_status	st;
	Datum	   *out;
	int			o = 0;

	cell_args(fcinfo, "_report_perturbation_cells", &a);
	memset(&p, 0, sizeof(p));
	p.perturbations = a.items;
	p.nperturbations = a.nitems;
	p.difficulty = a.item_param;
	p.seed = a.seed;
	p.k = a.k;
	p.profile = SP_PROFILE_AUTO;

	/* every node builds the same prototypes from the same gallery */
	st = sp_re_prototypes_build(sp_pg_env(), &a.models, &a.gallery, &protos, &err);
	SP_PG_CHECK(st, &err);
	sp_pg_decode_image(a.img, &image);
	cells = palloc(sizeof(sp_re_pcell) * a.nitems);
	out = palloc(sizeof(Datum) * (Size) a.copies * a.nitems * 5);
	for (int c = 0; c < a.copies; c++)
	{
		st = sp_re_perturbation_image(sp_pg_env(), &a.models, &image, a.first + c, &a.gallery, &protos, &p,
									  cells, &err);
		if (st != SP_OK)
		{
			sp_image_free(sp_pg_env(), &image);
			sp_re_prototypes_free(sp_pg_env(), &protos);
			sp_pg_raise(&err);
		}
		for (int j = 0; j < a.nitems; j++)
		{
			out[o++] = Float8GetDatum(cells[j].fp[0]);
			out[o++] = Float8GetDatum(cells[j].fp[1]);
			out[o++] = Float8GetDatum(cells[j].ut5d[0]);
			out[o++] = Float8GetDatum(cells[j].ut5d[1]);
			out[o++] = Float8GetDatum((double) cells[j].frames);
		}
	}
	sp_image_free(sp_pg_env(), &image);
	sp_re_prototypes_free(sp_pg_env(), &protos);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, o, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * classify_sql.c: few-shot classify(image, support_table, embedding_column,
 * label_column, model, k, temperature) and classify_with(image, examples,
 * labels, model, k, temperature); and predict(image, model), the class
 * probabilities of a model's own classifier (nn/classifier.h), which
 * classify_ensemble (SQL) combines with classify's.
 *
 * The image is embedded with the model and compared with every labelled
 * example: classify reads them with one query over the support table (run
 * with the caller's privileges through SPI, every name quoted and
 * qualified); classify_with takes them as arrays, so it reads no table and
 * runs anywhere a query can, in particular per row on a Citus worker.  Both
 * score with the core's rule (vector/fewshot.h: each label's mean of its k
 * smallest distances, nearest first, ties by label bytes) and the core's
 * stable softmax of -distance / T (sp_softmin: no underflow or overflow at
 * any positive finite T); T defaults to the model's calibrated temperature.
 *
 * An error in the support query (no such column, no privilege, embeddings of
 * another dimension) keeps its message, detail and hint, but its context line
 * quoting the internal query (or the QUERY text and cursor of a parse error)
 * becomes one line naming the support table and columns.  This is done by
 * re-throwing the error with the context rewritten, not by catching it in a
 * subtransaction, so classify stays usable in parallel queries.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pg/embedding/embedding.h"
#include "pg/nn/model.h"
#include "pg/sp_pg.h"
#include "nn/classifier.h"
#include "vector/distance.h"
#include "vector/fewshot.h"

PG_FUNCTION_INFO_V1(siamese_classify);
PG_FUNCTION_INFO_V1(siamese_classify_with);
PG_FUNCTION_INFO_V1(siamese_predict);

/*
 * Replace what SPI added to an error of our query (its "SQL statement" context
 * line, or the internal query of a parse error) with one line of our own.
 * Context lines of functions the support query called (before ours) and of
 * the caller (after ours) stay.
 */
static void
rewrite_context(ErrorData *edata, const char *query, const char *line)
{
	StringInfoData buf;
	const char *ctx = edata->context;
	char	   *quoted = psprintf("\"%s\"", query);
	const char *hit = ctx ? strstr(ctx, quoted) : NULL;

	initStringInfo(&buf);
	if (edata->internalquery && strcmp(edata->internalquery, query) == 0)
	{
		edata->internalquery = NULL;
		edata->internalpos = 0;
		appendStringInfoString(&buf, line);
		if (ctx && ctx[0])
			appendStringInfo(&buf, "\n%s", ctx);
	}
	else if (hit)
	{
		const char *start = hit,
				   *end = strchr(hit + strlen(quoted), '\n');

		while (start > ctx && start[-1] != '\n')
			start--;
		appendBinaryStringInfo(&buf, ctx, (int) (start - ctx));
		appendStringInfoString(&buf, line);
		if (end)
			appendStringInfoString(&buf, end);
	}
	else
	{
		pfree(buf.data);
		return;
	}
	edata->context = buf.data;
}

/* The temperature argument (argno), else the model's calibrated one; checked. */
static double
fewshot_temperature(FunctionCallInfo fcinfo, int argno, SpCachedModel *cm)
{
	double		t;

	if (PG_ARGISNULL(argno))
		t = sp_fewshot_temperature(sp_pg_env(), sp_nn_model_config(cm->model)->quality_json);
	else
		t = PG_GETARG_FLOAT8(argno);
	if (!(t > 0) || isinf(t))	/* also NaN */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be a positive finite number")));
	return t;
}

/* The k argument (argno): at least 1. */
static int
fewshot_k(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno) || PG_GETARG_INT32(argno) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1")));
	return PG_GETARG_INT32(argno);
}

/* The image's embedding by the model (dim floats, checked finite). */
static float *
embed_query(bytea *image, SpCachedModel *cm)
{
	int			dim = sp_nn_model_dim(cm->model);
	float	   *q = palloc(sizeof(float) * dim);

	sp_model_embed_bytea(cm, &image, 1, q);
	embedding_check_values(q, dim);
	return q;
}

static int
cmp_text_bytes(const text *a, const text *b)
{
	int			la = VARSIZE_ANY_EXHDR(a),
				lb = VARSIZE_ANY_EXHDR(b);
	int			c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));

	return c != 0 ? c : (la > lb) - (la < lb);
}

static int
cmp_example_label(const void *a, const void *b, void *arg)
{
	text	  **labels = arg;

	return cmp_text_bytes(labels[*(const int *) a], labels[*(const int *) b]);
}

typedef struct
{
	text	   *label;
	double		dist;
	double		prob;
} label_score;

/* Nearest first (NaN last), ties by label bytes. */
static int
cmp_label_score(const void *a, const void *b)
{
	const label_score *x = a,
			   *y = b;

	if (isnan(x->dist) != isnan(y->dist))
		return isnan(x->dist) ? 1 : -1;
	if (!isnan(x->dist) && x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return cmp_text_bytes(x->label, y->label);
}

/*
 * The result rows of both functions: examples (labels[i], dist[i]) scored by
 * the core's few-shot rule, one row per label with its probability.
 */
static void
emit_fewshot(ReturnSetInfo *rsinfo, text **labels, const double *dist, int n, int k, double t)
{
	int		   *order,
			   *label_id;
	double	   *label_dist,
			   *prob;
	label_score *scores;
	int			n_labels = 0;
	sp_error	err;

	if (n == 0)
		return;
	order = palloc(sizeof(int) * n);
	label_id = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int), cmp_example_label, labels);
	scores = palloc(sizeof(label_score) * n);
	for (int j = 0; j < n; j++)
	{
		if (j == 0 || cmp_text_bytes(labels[order[j]], labels[order[j - 1]]) != 0)
			scores[n_labels++].label = labels[order[j]];
		label_id[order[j]] = n_labels - 1;
	}
	label_dist = palloc(sizeof(double) * n_labels);
	prob = palloc(sizeof(double) * n_labels);
	SP_PG_CHECK(sp_fewshot_label_distances(sp_pg_env(), dist, label_id, (size_t) n, n_labels, k,
										   label_dist, &err), &err);
	sp_softmin(label_dist, (size_t) n_labels, t, prob);
	for (int l = 0; l < n_labels; l++)
	{
		scores[l].dist = label_dist[l];
		scores[l].prob = prob[l];
	}
	qsort(scores, n_labels, sizeof(label_score), cmp_label_score);
	for (int l = 0; l < n_labels; l++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = PointerGetDatum(scores[l].label);
		values[1] = Float8GetDatum(scores[l].prob);
		values[2] = Float8GetDatum(scores[l].dist);
		/* the tuplestore copies the values into its own memory */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

static void
check_column(Oid relid, const char *relname, const char *col)
{
	if (get_attnum(relid, col) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of support table %s does not exist", col, relname)));
}

/* The SQL operator of a model's distance (as the embedding type defines it). */
static const char *
distance_operator(SpCachedModel *cm)
{
	switch (sp_nn_model_config(cm->model)->distance)
	{
		case SP_DISTANCE_L2:
			return "<->";
		case SP_DISTANCE_IP:
			return "<#>";
		default:
			return "<=>";
	}
}

/* The model argument (argno), loaded; a name longer than any model's is unknown. */
static SpCachedModel *
fewshot_model(FunctionCallInfo fcinfo, int argno)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(argno));

	/* Longer names cannot exist (CHECK constraint); do not truncate into a match. */
	if (strlen(model) >= SP_MODEL_NAME_MAX)
		sp_catalog_unknown_model(model);
	return sp_model_get(model);
}

/*
 * classify(image bytea, support_table regclass, embedding_column name,
 *          label_column name, model text, k int, temperature float8)
 *   -> TABLE(label text, probability float8, distance float8)
 *
 * Not strict: a NULL k is an error, a NULL temperature means the model's; any
 * other NULL argument gives no rows.
 */
Datum
siamese_classify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller_cxt = CurrentMemoryContext;
	Oid			relid;
	char	   *emb_col,
			   *label_col,
			   *relname,
			   *query,
			   *ctxline;
	SpCachedModel *cm;
	int			dim,
				k,
				ret,
				n;
	float	   *q;
	Datum	   *qd;
	double		t;
	double	   *dist;
	text	  **labels;
	Oid			argtypes[1] = {FLOAT4ARRAYOID};
	Datum		args[1];

	k = fewshot_k(fcinfo, 5);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i <= 4; i++)
		if (PG_ARGISNULL(i))
			return (Datum) 0;

	relid = PG_GETARG_OID(1);
	emb_col = NameStr(*PG_GETARG_NAME(2));
	label_col = NameStr(*PG_GETARG_NAME(3));
	cm = fewshot_model(fcinfo, 4);
	dim = sp_nn_model_dim(cm->model);
	q = embed_query(PG_GETARG_BYTEA_PP(0), cm);
	t = fewshot_temperature(fcinfo, 6, cm);

	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	check_column(relid, relname, emb_col);
	check_column(relid, relname, label_col);

	/* One line, so that the context line of an error is one line too. */
	query = psprintf("SELECT s.%2$s::pg_catalog.text AS label,"
					 " s.%1$s::siamese.embedding OPERATOR(siamese.%4$s) $1::siamese.embedding AS dist"
					 " FROM %3$s s WHERE s.%1$s IS NOT NULL AND s.%2$s IS NOT NULL",
					 quote_identifier(emb_col), quote_identifier(label_col), relname,
					 distance_operator(cm));
	ctxline = psprintf("siamese.classify() support query on %s (embedding column %s, label column %s)",
					   relname, quote_identifier(emb_col), quote_identifier(label_col));

	qd = palloc(sizeof(Datum) * dim);
	for (int i = 0; i < dim; i++)
		qd[i] = Float4GetDatum(q[i]);
	args[0] = PointerGetDatum(construct_array(qd, dim, FLOAT4OID, sizeof(float4), true,
											  TYPALIGN_INT));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PG_TRY();
	{
		ret = SPI_execute_with_args(query, 1, argtypes, args, NULL, true, 0);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		rewrite_context(edata, query, ctxline);
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));

	/* The examples, copied out of SPI's memory before SPI_finish frees it. */
	n = (int) SPI_processed;
	dist = MemoryContextAlloc(caller_cxt, sizeof(double) * Max(n, 1));
	labels = MemoryContextAlloc(caller_cxt, sizeof(text *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		v = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		MemoryContext old;

		dist[i] = isnull ? NAN : DatumGetFloat8(v);
		v = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
		old = MemoryContextSwitchTo(caller_cxt);
		labels[i] = DatumGetTextPCopy(v);
		MemoryContextSwitchTo(old);
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	emit_fewshot(rsinfo, labels, dist, n, k, t);
	return (Datum) 0;
}

/*
 * classify_with(image bytea, examples embedding[], labels text[], model text,
 *               k int, temperature float8)
 *   -> TABLE(label text, probability float8, distance float8)
 *
 * The examples and their labels are parallel one-dimensional arrays; a pair
 * with a NULL element is skipped (as classify skips such rows).  Not strict,
 * like classify: a NULL k is an error, a NULL temperature means the model's,
 * any other NULL argument gives no rows.
 */
Datum
siamese_classify_with(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *ex_arr,
			   *lab_arr;
	Datum	   *ex,
			   *lab;
	bool	   *ex_null,
			   *lab_null;
	int			n_ex,
				n_lab,
				n = 0,
				k,
				dim;
	SpCachedModel *cm;
	sp_distance_kind kind;
	float	   *q;
	double		t;
	double	   *dist;
	text	  **labels;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	k = fewshot_k(fcinfo, 4);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i <= 3; i++)
		if (PG_ARGISNULL(i))
			return (Datum) 0;

	ex_arr = PG_GETARG_ARRAYTYPE_P(1);
	lab_arr = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(ex_arr) > 1 || ARR_NDIM(lab_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("examples and labels must be one-dimensional arrays")));
	get_typlenbyvalalign(ARR_ELEMTYPE(ex_arr), &typlen, &typbyval, &typalign);
	deconstruct_array(ex_arr, ARR_ELEMTYPE(ex_arr), typlen, typbyval, typalign, &ex, &ex_null, &n_ex);
	deconstruct_array(lab_arr, TEXTOID, -1, false, TYPALIGN_INT, &lab, &lab_null, &n_lab);
	if (n_ex != n_lab)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("examples and labels must have the same length"),
				 errdetail("There are %d examples and %d labels.", n_ex, n_lab)));

	cm = fewshot_model(fcinfo, 3);
	dim = sp_nn_model_dim(cm->model);
	kind = sp_nn_model_config(cm->model)->distance;
	q = embed_query(PG_GETARG_BYTEA_PP(0), cm);
	t = fewshot_temperature(fcinfo, 5, cm);

	dist = palloc(sizeof(double) * Max(n_ex, 1));
	labels = palloc(sizeof(text *) * Max(n_ex, 1));
	for (int i = 0; i < n_ex; i++)
	{
		Embedding  *e;

		if (ex_null[i] || lab_null[i])
			continue;
		e = DatumGetEmbedding(ex[i]);
		if (e->dim != dim)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("example %d has %d dimensions, model \"%s\" embeds in %d",
							i + 1, e->dim, cm->name, dim)));
		dist[n] = sp_dist(kind, e->x, q, (size_t) dim);
		labels[n] = DatumGetTextPP(lab[i]);
		n++;
	}
	emit_fewshot(rsinfo, labels, dist, n, k, t);
	return (Datum) 0;
}

/* The model's classifier, parsed once per loaded model; an error when it has none. */
static const sp_nn_classifier *
model_classifier(SpCachedModel *cm)
{
	const sp_nn_config *cfg = sp_nn_model_config(cm->model);
	sp_error	err;

	if (cm->classifier == NULL)
	{
		if (!cfg->classifier_json)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model \"%s\" has no classifier", cm->name),
					 errhint("A model trained by train_model with loss => 'softmax' or 'cosface' carries one.")));
		SP_PG_CHECK(sp_nn_classifier_parse(&cm->env, cfg->classifier_json, strlen(cfg->classifier_json),
										   sp_nn_model_dim(cm->model), &cm->classifier, &err), &err);
	}
	return cm->classifier;
}

/*
 * predict(image bytea, model text) -> TABLE(label text, probability float8)
 *
 * The model's classifier on the image's embedding: one row per class, most
 * probable first (ties by label bytes).  Strict.
 */
Datum
siamese_predict(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SpCachedModel *cm;
	const sp_nn_classifier *c;
	float	   *q;
	double	   *p;
	label_score *scores;

	InitMaterializedSRF(fcinfo, 0);
	cm = fewshot_model(fcinfo, 1);
	c = model_classifier(cm);
	q = embed_query(PG_GETARG_BYTEA_PP(0), cm);
	p = palloc(sizeof(double) * c->n_classes);
	sp_nn_classifier_probs(c, q, p);
	scores = palloc(sizeof(label_score) * c->n_classes);
	for (int k = 0; k < c->n_classes; k++)
	{
		scores[k].label = cstring_to_text(c->classes[k]);
		scores[k].prob = p[k];
		scores[k].dist = -p[k];	/* most probable first */
	}
	qsort(scores, c->n_classes, sizeof(label_score), cmp_label_score);
	for (int k = 0; k < c->n_classes; k++)
	{
		Datum		values[2] = {PointerGetDatum(scores[k].label), Float8GetDatum(scores[k].prob)};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

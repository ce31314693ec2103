/*
 * classify_sql.c: few-shot classify(image, support_table, embedding_column,
 * label_column, model, k, temperature).
 *
 * The image is embedded with the model; one query over the support table
 * (run with the caller's privileges through SPI, every name quoted and
 * qualified) gives each label's mean of its k smallest distances, nearest
 * first; the probabilities are the core's stable softmax of -distance / T
 * (sp_softmin: no underflow or overflow at any positive finite T).
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pg/embedding/embedding.h"
#include "pg/nn/model.h"
#include "pg/sp_pg.h"
#include "vector/distance.h"

PG_FUNCTION_INFO_V1(siamese_classify);

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

/* The model's calibrated temperature from its config, else 1. */
static double
model_temperature(const char *model)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(model)};
	bool		isnull;
	Datum		v;
	int			ret;

	ret = SPI_execute_with_args("SELECT COALESCE("
								"(m.config OPERATOR(pg_catalog.#>>) '{quality,temperature}')::pg_catalog.float8,"
								" (m.config OPERATOR(pg_catalog.#>>) '{quality,fewshot_temperature}')::pg_catalog.float8,"
								" 1.0::pg_catalog.float8)"
								" FROM siamese.models m WHERE m.name OPERATOR(pg_catalog.=) $1",
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed < 1)
		return 1.0;				/* deleted since it was loaded: this statement still uses it */
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 1.0 : DatumGetFloat8(v);
}

static void
check_column(Oid relid, const char *relname, const char *col)
{
	if (get_attnum(relid, col) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of support table %s does not exist", col, relname)));
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
			   *model,
			   *relname,
			   *query,
			   *ctxline;
	const char *op;
	SpCachedModel *cm;
	bytea	   *image;
	int			dim,
				k,
				ret,
				n;
	float	   *q;
	Datum	   *qd;
	double		t;
	double	   *dist,
			   *prob;
	Oid			argtypes[2] = {FLOAT4ARRAYOID, INT4OID};
	Datum		args[2];

	if (PG_ARGISNULL(5) || PG_GETARG_INT32(5) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1")));
	k = PG_GETARG_INT32(5);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i <= 4; i++)
		if (PG_ARGISNULL(i))
			return (Datum) 0;

	image = PG_GETARG_BYTEA_PP(0);
	relid = PG_GETARG_OID(1);
	emb_col = NameStr(*PG_GETARG_NAME(2));
	label_col = NameStr(*PG_GETARG_NAME(3));
	model = text_to_cstring(PG_GETARG_TEXT_PP(4));

	/* Longer names cannot exist (CHECK constraint); do not truncate into a match. */
	if (strlen(model) >= SP_MODEL_NAME_MAX)
		sp_catalog_unknown_model(model);
	cm = sp_model_get(model);
	dim = sp_nn_model_dim(cm->model);
	q = palloc(sizeof(float) * dim);
	sp_model_embed_bytea(cm, &image, 1, q);
	embedding_check_values(q, dim);

	switch (sp_nn_model_config(cm->model)->distance)
	{
		case SP_DISTANCE_L2:
			op = "<->";
			break;
		case SP_DISTANCE_IP:
			op = "<#>";
			break;
		default:
			op = "<=>";
			break;
	}

	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	check_column(relid, relname, emb_col);
	check_column(relid, relname, label_col);

	/* One line, so that the context line of an error is one line too. */
	query = psprintf("SELECT c.label, c.dist FROM ("
					 "SELECT r.label, pg_catalog.avg(r.dist) AS dist FROM ("
					 "SELECT d.label, d.dist, pg_catalog.row_number() OVER (PARTITION BY d.label ORDER BY d.dist) AS rn FROM ("
					 "SELECT s.%2$s::pg_catalog.text AS label,"
					 " s.%1$s::siamese.embedding OPERATOR(siamese.%4$s) $1::siamese.embedding AS dist"
					 " FROM %3$s s WHERE s.%1$s IS NOT NULL AND s.%2$s IS NOT NULL) d) r"
					 " WHERE r.rn OPERATOR(pg_catalog.<=) $2 GROUP BY r.label) c"
					 " ORDER BY c.dist, c.label",
					 quote_identifier(emb_col), quote_identifier(label_col), relname, op);
	ctxline = psprintf("siamese.classify() support query on %s (embedding column %s, label column %s)",
					   relname, quote_identifier(emb_col), quote_identifier(label_col));

	qd = palloc(sizeof(Datum) * dim);
	for (int i = 0; i < dim; i++)
		qd[i] = Float4GetDatum(q[i]);
	args[0] = PointerGetDatum(construct_array(qd, dim, FLOAT4OID, sizeof(float4), true,
											  TYPALIGN_INT));
	args[1] = Int32GetDatum(k);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (PG_ARGISNULL(6))
		t = model_temperature(model);
	else
		t = PG_GETARG_FLOAT8(6);
	if (!(t > 0) || isinf(t))	/* also NaN */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be a positive finite number")));

	PG_TRY();
	{
		ret = SPI_execute_with_args(query, 2, argtypes, args, NULL, true, 0);
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

	n = (int) SPI_processed;
	dist = palloc(sizeof(double) * Max(n, 1));
	prob = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		dist[i] = isnull ? NAN : DatumGetFloat8(v);
	}
	sp_softmin(dist, (size_t) n, t, prob);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &nulls[0]);
		values[1] = Float8GetDatum(prob[i]);
		values[2] = Float8GetDatum(dist[i]);
		/* the tuplestore copies the values into its own memory */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

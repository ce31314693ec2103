/*
 * report_sql.c: the C side of robustness reports.
 *
 * siamese._report_begin(...) registers a run: it validates the parameters
 * (siamese._report_validate, as the caller's role) and inserts the run row.
 * siamese._report_evaluate(run_id, source) does the work of that run: it
 * draws the seeded sample from the source table through SPI (as the caller,
 * so privileges and row level security apply), decodes it, runs the core
 * engine (src/core/robust/robust_eval.c) with the model and the baseline,
 * and stores the results in the report tables with the run's final status;
 * when the evaluation fails it rolls its work back, marks the run failed and
 * returns the error, which the procedures in sql/install/61_report_run.sql
 * commit and re-raise.
 *
 * Roles may read and delete their own runs but not write the report tables:
 * every write here runs as the tables' owner (the extension owner), and the
 * values written come from this code, never from arguments (issue 13,
 * defect 9: a role could UPDATE its runs' status and metrics and INSERT runs
 * that never ran).  A role can call these functions directly, but that is
 * only running a report: begin records the caller as run_by, evaluate works
 * only on the caller's own running run and on the table it was begun for.
 *
 * siamese._transaction_control_allowed() tells those procedures whether they
 * were CALLed in a context where COMMIT is possible.
 *
 * Progress goes to NOTICEs (GUC siamese.report.progress), the process title
 * and application_name, so pg_stat_activity shows the current stage.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ps_status.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "pg/nn/model.h"
#include "robust/robust_eval.h"
#include "pg/sp_pg.h"

PG_FUNCTION_INFO_V1(siamese_transaction_control_allowed);
PG_FUNCTION_INFO_V1(siamese_report_begin);
PG_FUNCTION_INFO_V1(siamese_report_evaluate);

bool		siamese_report_progress = true;

/* Decoded pixels a report may hold (the sample stays in memory for the whole run). */
#define SP_REPORT_MAX_DECODED_BYTES ((uint64) 2 << 30)

/* Parameters of a run, as _report_begin stored them. */
typedef struct ReportRun
{
	int64		run_id;
	bool		perturbation;	/* kind = 'perturbation' */
	char	   *image_column;
	char	   *label_column;	/* NULL: self-retrieval mode */
	char	   *model;
	char	   *model_hash;
	char	   *baseline;
	char	   *baseline_hash;
	int		   *items;			/* corruption ids or perturbation indices */
	int			nitems;
	unsigned	sev_mask;
	int			difficulty;
	int			sample_size;
	int64		seed;
	int			k;
} ReportRun;

/* The decoded sample. */
typedef struct ReportSample
{
	sp_image   *images;
	int32	   *labels;			/* NULL in self-retrieval mode */
	int			n;
	int			skipped;		/* rows whose image could not be decoded */
} ReportSample;

typedef struct ReportProgress
{
	int64		run_id;
} ReportProgress;

Datum
siamese_transaction_control_allowed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SPI_inside_nonatomic_context());
}

/* Column col of the current SPI row as a C string (NULL if SQL NULL), in the caller's context. */
static char *
spi_getstring(int col)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
}

static Datum
spi_getdatum(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * Writes to the report tables run as their owner (roles have SELECT and
 * DELETE only).  No restore on error is needed: the (sub)transaction abort
 * that follows an error restores the user id, as for SECURITY DEFINER
 * functions.
 */
typedef struct OwnerScope
{
	Oid			save_user;
	int			save_sec;
} OwnerScope;

static void
as_report_owner(OwnerScope *scope)
{
	Oid			nsp = get_namespace_oid("siamese", false);
	Oid			rel = get_relname_relid("robustness_runs", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(rel))
		elog(ERROR, "siamese.robustness_runs does not exist");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", rel);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(&scope->save_user, &scope->save_sec);
	SetUserIdAndSecContext(owner, scope->save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

static void
end_report_owner(const OwnerScope *scope)
{
	SetUserIdAndSecContext(scope->save_user, scope->save_sec);
}

/*
 * _report_begin(kind, source, image_column, label_column, model,
 * baseline_model, corruptions, severities, perturbations, difficulty,
 * sample_size, seed, k) -> run id.  _report_validate checks the parameters
 * for the caller (passed as its role: privileges are checked for it) and
 * returns the run row; it is inserted as the tables' owner.
 */
Datum
siamese_report_begin(PG_FUNCTION_ARGS)
{
	Oid			argtypes[14] = {TEXTOID, REGCLASSOID, NAMEOID, NAMEOID, TEXTOID, TEXTOID,
		TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT4OID, INT4OID, INT8OID, INT4OID, OIDOID};
	Datum		values[14];
	char		nulls[15];
	OwnerScope	scope;
	bool		isnull;
	int64		run_id;

	for (int i = 0; i < 13; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	values[13] = ObjectIdGetDatum(GetUserId());
	nulls[13] = ' ';
	nulls[14] = '\0';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	as_report_owner(&scope);
	if (SPI_execute_with_args("INSERT INTO siamese.robustness_runs (kind, source_table, image_column, "
							  "label_column, mode, model, model_hash, baseline_model, baseline_hash, "
							  "corruptions, severities, perturbations, difficulty, sample_size, seed, k, "
							  "config_key, run_by, backend_start) "
							  "SELECT r.kind, r.source_table, r.image_column, r.label_column, r.mode, "
							  "r.model, r.model_hash, r.baseline_model, r.baseline_hash, r.corruptions, "
							  "r.severities, r.perturbations, r.difficulty, r.sample_size, r.seed, r.k, "
							  "r.config_key, r.run_by, r.backend_start "
							  "FROM siamese._report_validate($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
							  "$11, $12, $13, $14) r RETURNING run_id",
							  14, argtypes, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not insert the report run");
	run_id = DatumGetInt64(spi_getdatum(1, &isnull));
	end_report_owner(&scope);
	SPI_finish();
	PG_RETURN_INT64(run_id);
}

/* text[] datum -> palloc'd C strings */
static char **
text_array_strings(Datum d, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return out;
}

/* Registry id of a corruption / perturbation name, -1 if unknown. */
static int
corruption_id(const char *name)
{
	const sp_corruption_info *info = sp_corruption_lookup(name);

	return info ? (int) info->id : -1;
}

static int
perturbation_id(const char *name)
{
	const sp_perturbation_info *info = sp_perturbation_lookup(name);

	return info ? (int) info->id : -1;
}

/* The run's item names (text[]) as registry ids in run->items. */
static void
item_ids(ReportRun *run, Datum names_array, int (*lookup) (const char *), const char *what)
{
	int			n;
	char	  **names = text_array_strings(names_array, &n);

	run->items = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		run->items[i] = names[i] ? lookup(names[i]) : -1;
		/* _report_begin validated the names: only a hand-edited row gets here */
		if (run->items[i] < 0)
			elog(ERROR, "report " INT64_FORMAT " names an unknown %s", run->run_id, what);
	}
	run->nitems = n;
}

/*
 * Read and lock the run row: it must be one of the caller's own runs, still
 * running, begun for the relation relid.
 */
static void
load_run(int64 run_id, Oid relid, ReportRun *run)
{
	Oid			argtypes[2] = {INT8OID, OIDOID};
	Datum		args[2];
	bool		isnull;
	char	   *status;
	char	   *source;
	OwnerScope	scope;

	args[0] = Int64GetDatum(run_id);
	args[1] = ObjectIdGetDatum(GetUserId());
	as_report_owner(&scope);
	if (SPI_execute_with_args("SELECT kind, image_column::text, label_column::text, model, model_hash, "
							  "baseline_model, baseline_hash, corruptions, severities, perturbations, "
							  "difficulty, sample_size, seed, k, status, source_table "
							  "FROM siamese.robustness_runs "
							  "WHERE run_id = $1 AND run_by = pg_catalog.pg_get_userbyid($2) FOR UPDATE",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read robustness run " INT64_FORMAT, run_id);
	end_report_owner(&scope);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("report " INT64_FORMAT " does not exist", run_id),
				 errdetail("A role can evaluate only the runs it began.")));

	memset(run, 0, sizeof(*run));
	run->run_id = run_id;
	run->perturbation = strcmp(spi_getstring(1), "perturbation") == 0;
	run->image_column = spi_getstring(2);
	run->label_column = spi_getstring(3);
	run->model = spi_getstring(4);
	run->model_hash = spi_getstring(5);
	run->baseline = spi_getstring(6);
	run->baseline_hash = spi_getstring(7);
	run->sample_size = DatumGetInt32(spi_getdatum(12, &isnull));
	run->seed = DatumGetInt64(spi_getdatum(13, &isnull));
	run->k = DatumGetInt32(spi_getdatum(14, &isnull));
	status = spi_getstring(15);
	if (strcmp(status, "running") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("report " INT64_FORMAT " is not running", run_id),
				 errdetail("Its status is %s.", status)));
	/* the name as _report_validate recorded it (both pin search_path) */
	source = spi_getstring(16);
	if (strcmp(source, DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid)))) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("report " INT64_FORMAT " was begun for %s, not for %s", run_id, source,
						DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid))))));

	if (!run->perturbation)
	{
		Datum		d = spi_getdatum(8, &isnull);
		Datum	   *sev;
		bool	   *sevnull;
		int			nsev;

		item_ids(run, d, corruption_id, "corruption");
		d = spi_getdatum(9, &isnull);
		deconstruct_array(DatumGetArrayTypeP(d), INT4OID, 4, true, TYPALIGN_INT, &sev, &sevnull, &nsev);
		for (int i = 0; i < nsev; i++)
			run->sev_mask |= 1u << (DatumGetInt32(sev[i]) - 1);
	}
	else
	{
		item_ids(run, spi_getdatum(10, &isnull), perturbation_id, "perturbation");
		run->difficulty = DatumGetInt32(spi_getdatum(11, &isnull));
	}
}

/*
 * The sampling query: a seeded, content-keyed order (md5 of the seed and the
 * image bytes) so the same data gives the same sample in every run, with the
 * label mapped to dense ids 0..L-1 over the whole table (ordered by its text
 * form, so any label type works).  Identifiers are quoted; the relation name
 * is schema-qualified.
 */
static char *
sampling_query(Oid relid, const ReportRun *run)
{
	StringInfoData q;
	const char *img = quote_identifier(run->image_column);
	char	   *rel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												 get_rel_name(relid));

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT s.img, s.lbl FROM (SELECT t.%s AS img, ", img);
	if (run->label_column)
		appendStringInfo(&q, "pg_catalog.dense_rank() OVER (ORDER BY t.%s::pg_catalog.text) AS lbl, ",
						 quote_identifier(run->label_column));
	else
		appendStringInfoString(&q, "NULL::pg_catalog.int8 AS lbl, ");
	appendStringInfo(&q, "pg_catalog.md5(pg_catalog.convert_to($1, 'UTF8') OPERATOR(pg_catalog.||) t.%s) AS ord "
					 "FROM %s t WHERE t.%s IS NOT NULL", img, rel, img);
	if (run->label_column)
		appendStringInfo(&q, " AND t.%s IS NOT NULL", quote_identifier(run->label_column));
	appendStringInfoString(&q, ") s ORDER BY s.ord, s.lbl LIMIT $2");
	return q.data;
}

static void check_sample(const ReportRun *run, const ReportSample *sample);

/* Draw and decode the sample into cxt.  Undecodable images are skipped and counted. */
static void
load_sample(Oid relid, const ReportRun *run, MemoryContext cxt, ReportSample *sample)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	char		seedbuf[32];
	Portal		portal;
	MemoryContext old;
	const sp_env *env;
	uint64		decoded_bytes = 0;

	snprintf(seedbuf, sizeof seedbuf, INT64_FORMAT, run->seed);
	args[0] = CStringGetTextDatum(seedbuf);
	args[1] = Int32GetDatum(run->sample_size);
	portal = SPI_cursor_open_with_args(NULL, sampling_query(relid, run), 2, argtypes, args,
									   NULL, true, CURSOR_OPT_NO_SCROLL);

	old = MemoryContextSwitchTo(cxt);
	sample->images = palloc0(sizeof(sp_image) * run->sample_size);
	sample->labels = run->label_column ? palloc0(sizeof(int32) * run->sample_size) : NULL;
	sample->n = 0;
	sample->skipped = 0;
	env = sp_pg_env();
	MemoryContextSwitchTo(old);

	for (;;)
	{
		SPI_cursor_fetch(portal, true, 256);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
			bytea	   *bytes;
			sp_error	err;
			sp_status	st;

			CHECK_FOR_INTERRUPTS();
			if (isnull)
				continue;
			bytes = DatumGetByteaPP(d);
			old = MemoryContextSwitchTo(cxt);
			st = sp_image_decode(env, (const uint8_t *) VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes),
								 &sample->images[sample->n], &err);
			MemoryContextSwitchTo(old);
			if ((Pointer) bytes != DatumGetPointer(d))
				pfree(bytes);	/* a detoasted copy: do not let 100k of them pile up */
			if (st == SP_ERR_INTERRUPTED || st == SP_ERR_NOMEM)
				sp_pg_raise(&err);
			if (st != SP_OK)
			{
				sample->skipped++;
				continue;
			}
			decoded_bytes += (uint64) sample->images[sample->n].width *
				sample->images[sample->n].height * sample->images[sample->n].channels;
			if (decoded_bytes > SP_REPORT_MAX_DECODED_BYTES)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("report " INT64_FORMAT ": the sample's decoded images exceed %d MB",
								run->run_id, (int) (SP_REPORT_MAX_DECODED_BYTES >> 20)),
						 errdetail("%d images decoded so far.", sample->n + 1),
						 errhint("Use a smaller sample_size.")));
			if (sample->labels)
			{
				int64		lbl = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
															  SPI_tuptable->tupdesc, 2, &isnull));

				sample->labels[sample->n] = (int32) (lbl - 1);
			}
			sample->n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	check_sample(run, sample);
}

/* What a usable sample needs (both paths): the skipped images said, n >= 2, k < n. */
static void
check_sample(const ReportRun *run, const ReportSample *sample)
{
	if (sample->skipped > 0)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("report " INT64_FORMAT ": skipped %d images that could not be decoded",
						run->run_id, sample->skipped),
				 errhint("siamese.image_info() on the source column shows which images are not valid PNG or JPEG.")));
	/* the data is at fault, not the server: 22023 like the k check below */
	if (sample->n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("report " INT64_FORMAT " needs at least 2 images, the source has %d usable",
						run->run_id, sample->n),
				 errdetail("Rows with a NULL image%s are not used.",
						   run->label_column ? " or a NULL label" : "")));
	if (run->label_column && run->k >= sample->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k = %d needs a sample of more than %d images, the source has %d usable",
						run->k, run->k, sample->n)));
}

/*
 * Progress: a NOTICE (unless siamese.report.progress is off), the process
 * title, and application_name (visible in pg_stat_activity).  Called from
 * the core between stages; nothing here throws an ERROR.
 */
static void
report_progress(void *arg, const char *stage, int step, int nsteps)
{
	ReportProgress *p = (ReportProgress *) arg;
	char		buf[NAMEDATALEN];

	if (siamese_report_progress && nsteps > 0)
		ereport(NOTICE,
				(errmsg("report " INT64_FORMAT ": %s (%d of %d)", p->run_id, stage, step, nsteps)));
	else if (siamese_report_progress)
		ereport(NOTICE, (errmsg("report " INT64_FORMAT ": %s", p->run_id, stage)));
	snprintf(buf, sizeof buf, "siamese report " INT64_FORMAT ": %s", p->run_id, stage);
	set_ps_display(buf);
	/* GUC_ACTION_SET: undone automatically if the run fails. */
	SetConfigOption("application_name", buf, PGC_USERSET, PGC_S_SESSION);
}

/* NaN (undefined or not measured) -> SQL NULL */
static inline void
float_arg(double v, Datum *value, char *null)
{
	*value = Float8GetDatum(v);
	*null = isnan(v) ? 'n' : ' ';
}

/* The final status of a run whose results are stored (in the same UPDATE as its metrics). */
#define RUN_SUCCEEDED "status = 'succeeded', finished_at = pg_catalog.clock_timestamp(), " \
	"duration = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started_at"

static void
spi_run(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	if (SPI_execute_plan(plan, values, nulls, false, 0) != expected)
		elog(ERROR, "could not store report results");
}

static void
store_corruption_result(const ReportRun *run, const ReportSample *sample,
						const sp_re_corruption_result *res)
{
	Oid			cell_types[9] = {INT8OID, TEXTOID, INT4OID, BOOLOID, INT4OID, FLOAT8OID, FLOAT8OID,
	FLOAT8OID, FLOAT8OID};
	Oid			score_types[8] = {INT8OID, TEXTOID, BOOLOID, FLOAT8OID, FLOAT8OID, FLOAT8OID,
	FLOAT8OID, FLOAT8OID};
	Oid			run_types[9] = {INT8OID, INT4OID, INT4OID, FLOAT8OID, FLOAT8OID, FLOAT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID};
	SPIPlanPtr	cell_plan,
				score_plan,
				run_plan;
	Datum		v[9];
	char		nl[10];

	cell_plan = SPI_prepare("INSERT INTO siamese.robustness_results (run_id, corruption, severity, held_out, "
							"images, model_error, baseline_error, model_drift, baseline_drift) "
							"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, cell_types);
	score_plan = SPI_prepare("INSERT INTO siamese.robustness_corruption_scores (run_id, corruption, held_out, "
							 "model_error, baseline_error, ce, relative_ce, model_drift) "
							 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 8, score_types);
	run_plan = SPI_prepare("UPDATE siamese.robustness_runs SET images = $2, skipped_images = $3, "
						   "clean_error = $4, baseline_clean_error = $5, mce = $6, relative_mce = $7, "
						   "heldout_mce = $8, heldout_relative_mce = $9, " RUN_SUCCEEDED
						   " WHERE run_id = $1", 9, run_types);
	if (!cell_plan || !score_plan || !run_plan)
		elog(ERROR, "could not prepare report statements: %s", SPI_result_code_string(SPI_result));

	/* the clean row */
	memset(nl, ' ', sizeof nl);
	v[0] = Int64GetDatum(run->run_id);
	v[1] = CStringGetTextDatum("clean");
	v[2] = Int32GetDatum(0);
	v[3] = BoolGetDatum(false);
	v[4] = Int32GetDatum(res->n);
	v[5] = Float8GetDatum(res->errors[SP_RE_MODEL].clean);
	v[6] = Float8GetDatum(res->errors[SP_RE_BASELINE].clean);
	nl[7] = nl[8] = 'n';
	v[7] = v[8] = (Datum) 0;
	spi_run(cell_plan, v, nl, SPI_OK_INSERT);

	for (int i = 0; i < res->nscores; i++)
	{
		const sp_re_corruption_score *sc = &res->scores[i];
		int			c = sc->corruption;

		memset(nl, ' ', sizeof nl);
		v[1] = CStringGetTextDatum(sp_corruption_get(c)->name);
		v[3] = BoolGetDatum(sc->held_out != 0);
		for (int s = 1; s <= SP_CORRUPT_MAX_SEVERITY; s++)
		{
			if (!(run->sev_mask & (1u << (s - 1))))
				continue;
			v[2] = Int32GetDatum(s);
			v[5] = Float8GetDatum(res->errors[SP_RE_MODEL].err[c][s - 1]);
			v[6] = Float8GetDatum(res->errors[SP_RE_BASELINE].err[c][s - 1]);
			float_arg(res->drift[SP_RE_MODEL][c][s - 1], &v[7], &nl[7]);
			float_arg(res->drift[SP_RE_BASELINE][c][s - 1], &v[8], &nl[8]);
			spi_run(cell_plan, v, nl, SPI_OK_INSERT);
		}

		/* per-corruption scores: run_id, corruption, held_out, errors, ce, rce, drift */
		{
			Datum		sv[8];
			char		snl[9];

			memset(snl, ' ', sizeof snl);
			snl[8] = '\0';
			sv[0] = v[0];
			sv[1] = v[1];
			sv[2] = v[3];
			float_arg(sc->model_error, &sv[3], &snl[3]);
			float_arg(sc->baseline_error, &sv[4], &snl[4]);
			float_arg(sc->ce, &sv[5], &snl[5]);
			float_arg(sc->relative_ce, &sv[6], &snl[6]);
			float_arg(sc->model_drift, &sv[7], &snl[7]);
			spi_run(score_plan, sv, snl, SPI_OK_INSERT);
		}
	}

	memset(nl, ' ', sizeof nl);
	v[1] = Int32GetDatum(res->n);
	v[2] = Int32GetDatum(sample->skipped);
	float_arg(res->errors[SP_RE_MODEL].clean, &v[3], &nl[3]);
	float_arg(res->errors[SP_RE_BASELINE].clean, &v[4], &nl[4]);
	float_arg(res->mce, &v[5], &nl[5]);
	float_arg(res->relative_mce, &v[6], &nl[6]);
	float_arg(res->heldout_mce, &v[7], &nl[7]);
	float_arg(res->heldout_relative_mce, &v[8], &nl[8]);
	spi_run(run_plan, v, nl, SPI_OK_UPDATE);
}

static void
store_perturbation_result(const ReportRun *run, const ReportSample *sample,
						  const sp_re_perturbation_result *res)
{
	Oid			types[11] = {INT8OID, TEXTOID, BOOLOID, INT4OID, INT4OID, FLOAT8OID, FLOAT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};
	Oid			run_types[5] = {INT8OID, INT4OID, INT4OID, FLOAT8OID, FLOAT8OID};
	SPIPlanPtr	plan,
				run_plan;
	Datum		v[11];
	char		nl[12];

	plan = SPI_prepare("INSERT INTO siamese.robustness_perturbation_results (run_id, perturbation, noise, "
					   "frames, sequences, model_fp, baseline_fp, fr, model_ut5d, baseline_ut5d, t5d) "
					   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", 11, types);
	run_plan = SPI_prepare("UPDATE siamese.robustness_runs SET images = $2, skipped_images = $3, "
						   "mfr = $4, mt5d = $5, " RUN_SUCCEEDED " WHERE run_id = $1", 5, run_types);
	if (!plan || !run_plan)
		elog(ERROR, "could not prepare report statements: %s", SPI_result_code_string(SPI_result));

	for (int i = 0; i < res->nscores; i++)
	{
		const sp_re_perturbation_score *sc = &res->scores[i];

		memset(nl, ' ', sizeof nl);
		nl[11] = '\0';
		v[0] = Int64GetDatum(run->run_id);
		v[1] = CStringGetTextDatum(sp_perturbation_get(sc->perturbation)->name);
		v[2] = BoolGetDatum(sc->noise != 0);
		v[3] = Int32GetDatum(sc->frames);
		v[4] = Int32GetDatum(res->n);
		v[5] = Float8GetDatum(sc->fp[SP_RE_MODEL]);
		v[6] = Float8GetDatum(sc->fp[SP_RE_BASELINE]);
		float_arg(sc->fr, &v[7], &nl[7]);
		float_arg(sc->ut5d[SP_RE_MODEL], &v[8], &nl[8]);
		float_arg(sc->ut5d[SP_RE_BASELINE], &v[9], &nl[9]);
		float_arg(sc->t5d, &v[10], &nl[10]);
		spi_run(plan, v, nl, SPI_OK_INSERT);
	}

	memset(nl, ' ', sizeof nl);
	v[0] = Int64GetDatum(run->run_id);
	v[1] = Int32GetDatum(res->n);
	v[2] = Int32GetDatum(sample->skipped);
	float_arg(res->mfr, &v[3], &nl[3]);
	float_arg(res->mt5d, &v[4], &nl[4]);
	spi_run(run_plan, v, nl, SPI_OK_UPDATE);
}

/* The cached model called name, checked against the hash the run recorded. */
static SpCachedModel *
run_model(const char *name, const char *hash)
{
	SpCachedModel *cm = sp_model_get(name);

	if (strcmp(cm->hash, hash) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" changed since the report started", name)));
	return cm;
}

/* The engine's corruption parameters of a run. */
static void
corruption_params(const ReportRun *run, sp_re_corruption_params *p)
{
	memset(p, 0, sizeof(*p));
	p->corruptions = run->items;
	p->ncorruptions = run->nitems;
	p->sev_mask = run->sev_mask;
	p->seed = (uint64_t) run->seed;
	p->k = run->k;
	p->profile = SP_PROFILE_AUTO;
}

/* The engine's perturbation parameters of a run. */
static void
perturbation_params(const ReportRun *run, sp_re_perturbation_params *p)
{
	memset(p, 0, sizeof(*p));
	p->perturbations = run->items;
	p->nperturbations = run->nitems;
	p->seed = (uint64_t) run->seed;
	p->k = run->k;
	p->difficulty = run->difficulty;
	p->profile = SP_PROFILE_AUTO;
}

/* Both models of a run from the cache, checked against the hashes it recorded. */
static void
run_models(const ReportRun *run, sp_re_models *models)
{
	SpCachedModel *cm_model = run_model(run->model, run->model_hash);
	SpCachedModel *cm_base = run_model(run->baseline, run->baseline_hash);

	models->model[SP_RE_MODEL] = cm_model->model;
	models->ws[SP_RE_MODEL] = cm_model->ws;
	models->model[SP_RE_BASELINE] = cm_base->model;
	models->ws[SP_RE_BASELINE] = cm_base->ws;
}

/* ---------------------------------------------------------------------- */
/* Reports on a Citus table: the per-image work on the shards */

static int
cmp_cstr_ptr(const void *a, const void *b, void *arg)
{
	char	  **keys = arg;

	return strcmp(keys[*(const int *) a], keys[*(const int *) b]);
}

static Datum
text_array(char **v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
int4_array(const int32 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

/* n floats as a bytea of their float32 bytes (see report_worker.c) */
static Datum
float_bytes(const float *v, int n)
{
	bytea	   *b = palloc(VARHDRSZ + sizeof(float) * (Size) n);

	SET_VARSIZE(b, VARHDRSZ + sizeof(float) * (Size) n);
	memcpy(VARDATA(b), v, sizeof(float) * (Size) n);
	return PointerGetDatum(b);
}

/*
 * A report whose source is a Citus table.  The same sample as on one node
 * (the seeded, content-keyed order), the same per-image evaluation
 * (robust_eval.h), but the images never leave the shards:
 *  1. the sample's keys (md5 of seed and image, label) come back, sorted;
 *  2. every sampled image's clean embeddings are computed where it lives
 *     (siamese._report_clean) and come back;
 *  3. the coordinator forms the clean gallery (and, for corruptions, its
 *     clean error);
 *  4. every sampled image's cells are computed where it lives against that
 *     gallery (siamese._report_corruption_cells: verdicts and drifts;
 *     siamese._report_perturbation_cells: each sequence's flip probability
 *     and top-5 distance, with the class prototypes each node builds from
 *     the gallery) and come back; the coordinator adds them in sample order
 *     and finishes.
 * Each query runs as the caller.  Identical rows (same image, same label)
 * are one group of consecutive sample indices: one of them computes all of
 * the group's indices, so duplicates behave as on one node.
 */
static void
evaluate_distributed(const ReportRun *run, Oid relid, ReportProgress *progress)
{
	const char *img = quote_identifier(run->image_column);
	const char *lbl = run->label_column ? quote_identifier(run->label_column) : NULL;
	char	   *rel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												 get_rel_name(relid));
	char		seedbuf[32];
	StringInfoData key_expr,
				row_key,
				filter,
				q;
	int			nkeys;
	char	  **keystr,
			  **ords,
			  **labels_txt;
	int		   *by_key,
			   *state;
	float	  **clean_of;
	sp_re_models models;
	sp_re_gallery g;
	ReportSample sample;
	int			dim[2],
				n = 0,
				ngroups = 0,
				width;
	int		   *slot_of_index;
	int32	   *group_first,
			   *group_count,
			   *labels = NULL;
	char	  **group_key;
	ArrayType **group_result;
	float	   *clean[2];
	sp_re_corruption_params cp;
	sp_re_perturbation_params pp;
	sp_re_corruption_acc *cacc = NULL;
	sp_re_perturbation_acc *pacc = NULL;
	sp_re_cell *ccells = NULL;
	sp_re_pcell *pcells = NULL;
	sp_error	err;
	OwnerScope	scope;
	int			ret;

	snprintf(seedbuf, sizeof seedbuf, INT64_FORMAT, run->seed);
	initStringInfo(&key_expr);
	appendStringInfo(&key_expr, "pg_catalog.md5(pg_catalog.convert_to($1, 'UTF8') OPERATOR(pg_catalog.||) t.%s)", img);
	/* a row's key: its sampling key and its label's text, as keystr[] holds them */
	initStringInfo(&row_key);
	appendStringInfo(&row_key, "%s OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) %s%s%s",
					 key_expr.data, lbl ? "COALESCE(t." : "''", lbl ? lbl : "",
					 lbl ? "::pg_catalog.text, '')" : "");
	initStringInfo(&filter);
	appendStringInfo(&filter, "t.%s IS NOT NULL", img);
	if (lbl)
		appendStringInfo(&filter, " AND t.%s IS NOT NULL", lbl);

	/* 1. the sample's keys, in the one-node sample's order */
	report_progress(progress, "sampling on the shards", 0, 0);
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT s.ord, s.lbl FROM (SELECT %s AS ord, %s%s%s AS lbl FROM %s t WHERE %s) s "
					 "ORDER BY s.ord, s.lbl LIMIT $2",
					 key_expr.data, lbl ? "t." : "NULL::pg_catalog.text", lbl ? lbl : "",
					 lbl ? "::pg_catalog.text" : "", rel, filter.data);
	{
		Oid			types[2] = {TEXTOID, INT4OID};
		Datum		args[2] = {CStringGetTextDatum(seedbuf), Int32GetDatum(run->sample_size)};

		ret = SPI_execute_with_args(q.data, 2, types, args, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "report sampling query failed: %s", SPI_result_code_string(ret));
	}
	nkeys = (int) SPI_processed;
	keystr = palloc(sizeof(char *) * Max(nkeys, 1));
	ords = palloc(sizeof(char *) * Max(nkeys, 1));
	labels_txt = palloc(sizeof(char *) * Max(nkeys, 1));
	for (int i = 0; i < nkeys; i++)
	{
		char	   *o = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *l = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		ords[i] = o;
		labels_txt[i] = l;
		keystr[i] = psprintf("%s %s", o, l ? l : "");
	}
	by_key = palloc(sizeof(int) * Max(nkeys, 1));
	for (int i = 0; i < nkeys; i++)
		by_key[i] = i;
	qsort_arg(by_key, nkeys, sizeof(int), cmp_cstr_ptr, keystr);

	/* 2. clean embeddings where the images are */
	run_models(run, &models);
	dim[0] = sp_nn_model_dim(models.model[0]);
	dim[1] = sp_nn_model_dim(models.model[1]);
	report_progress(progress, "clean embeddings on the shards", 0, 0);
	resetStringInfo(&q);
	appendStringInfo(&q, "SELECT %s, siamese._report_clean(t.%s, $2, $3) FROM %s t "
					 "WHERE %s AND %s OPERATOR(pg_catalog.=) ANY ($4)",
					 row_key.data, img, rel, filter.data, key_expr.data);
	{
		Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
		Datum		args[4] = {CStringGetTextDatum(seedbuf), CStringGetTextDatum(run->model),
		CStringGetTextDatum(run->baseline), text_array(ords, nkeys)};

		ret = SPI_execute_with_args(q.data, 4, types, args, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "report clean query failed: %s", SPI_result_code_string(ret));
	}
	/* each returned row fills the first unfilled sample slot of its key */
	state = palloc0(sizeof(int) * Max(nkeys, 1));	/* 0 unfilled, 1 decoded, 2 undecodable */
	clean_of = palloc0(sizeof(float *) * Max(nkeys, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *k = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		bool		isnull;
		Datum		e = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
		int			lo = 0,
					hi = nkeys;

		/* first position in by_key whose key is >= k */
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (strcmp(keystr[by_key[mid]], k) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < nkeys && strcmp(keystr[by_key[lo]], k) == 0 && state[by_key[lo]] != 0; lo++)
			;
		if (lo >= nkeys || strcmp(keystr[by_key[lo]], k) != 0)
			continue;			/* a duplicate beyond the sample, or a row the sample did not take */
		if (isnull)
			state[by_key[lo]] = 2;
		else
		{
			ArrayType  *a = DatumGetArrayTypeP(e);

			if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != dim[0] + dim[1])
				elog(ERROR, "a shard returned %d clean values, expected %d",
					 ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)), dim[0] + dim[1]);
			clean_of[by_key[lo]] = palloc(sizeof(float) * (dim[0] + dim[1]));
			memcpy(clean_of[by_key[lo]], ARR_DATA_PTR(a), sizeof(float) * (dim[0] + dim[1]));
			state[by_key[lo]] = 1;
		}
	}

	/* 3. the gallery, in sample order, and its clean error */
	memset(&sample, 0, sizeof(sample));
	slot_of_index = palloc(sizeof(int) * Max(nkeys, 1));
	for (int i = 0; i < nkeys; i++)
	{
		if (state[i] == 1)
			slot_of_index[n++] = i;
		else
			sample.skipped++;	/* undecodable, or gone since the sampling query */
	}
	sample.n = n;
	check_sample(run, &sample);
	clean[0] = palloc(sizeof(float) * n * dim[0]);
	clean[1] = palloc(sizeof(float) * n * dim[1]);
	for (int i = 0; i < n; i++)
	{
		memcpy(clean[0] + (Size) i * dim[0], clean_of[slot_of_index[i]], sizeof(float) * dim[0]);
		memcpy(clean[1] + (Size) i * dim[1], clean_of[slot_of_index[i]] + dim[0], sizeof(float) * dim[1]);
	}
	if (lbl)
	{
		/* label ids: ranks of the label text (equality is all the k-NN needs) */
		int		   *ord = palloc(sizeof(int) * n);
		char	  **names = palloc(sizeof(char *) * n);

		labels = palloc(sizeof(int32) * n);
		for (int i = 0; i < n; i++)
		{
			ord[i] = i;
			names[i] = labels_txt[slot_of_index[i]];
		}
		qsort_arg(ord, n, sizeof(int), cmp_cstr_ptr, names);
		for (int j = 0, id = -1; j < n; j++)
		{
			if (j == 0 || strcmp(names[ord[j]], names[ord[j - 1]]) != 0)
				id++;
			labels[ord[j]] = id;
		}
	}
	g.clean[0] = clean[0];
	g.clean[1] = models.model[0] == models.model[1] ? clean[0] : clean[1];
	g.labels = labels;
	g.n = n;

	/* 4. every image's cells (corruption cells or perturbation sequences) where the image is */
	if (run->perturbation)
	{
		perturbation_params(run, &pp);
		width = run->nitems * 5;
	}
	else
	{
		corruption_params(run, &cp);
		width = sp_re_corruption_ncells(&cp) * 4;
	}
	group_first = palloc(sizeof(int32) * n);
	group_count = palloc(sizeof(int32) * n);
	group_key = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		char	   *k = keystr[slot_of_index[i]];

		if (ngroups > 0 && strcmp(group_key[ngroups - 1], k) == 0)
			group_count[ngroups - 1]++;
		else
		{
			group_key[ngroups] = k;
			group_first[ngroups] = i;
			group_count[ngroups] = 1;
			ngroups++;
		}
	}
	report_progress(progress, run->perturbation ? "perturbed images on the shards" :
					"corrupted images on the shards", 0, 0);
	resetStringInfo(&q);
	appendStringInfo(&q, "SELECT s.p, siamese.%s(s.img, ($5::pg_catalog.int4[])[s.p], "
					 "($6::pg_catalog.int4[])[s.p], $7, $8, $9, $10, $11, $12, $13, $14, $15) "
					 "FROM (SELECT pg_catalog.array_position($4, %s) AS p, "
					 "t.%s AS img FROM %s t WHERE %s AND %s OPERATOR(pg_catalog.=) ANY ($3)) s "
					 "WHERE s.p IS NOT NULL",
					 run->perturbation ? "_report_perturbation_cells" : "_report_corruption_cells",
					 row_key.data, img, rel, filter.data, key_expr.data);
	{
		Oid			types[15] = {TEXTOID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
			TEXTOID, TEXTOID, INT4ARRAYOID, INT4OID, INT8OID, INT4OID, BYTEAOID, BYTEAOID,
		INT4ARRAYOID};
		Datum		args[15];
		char		nulls[16];
		char	  **group_ords = palloc(sizeof(char *) * Max(ngroups, 1));

		memset(nulls, ' ', sizeof nulls);
		nulls[15] = '\0';
		for (int i = 0; i < ngroups; i++)
			group_ords[i] = ords[slot_of_index[group_first[i]]];
		args[0] = CStringGetTextDatum(seedbuf);
		args[1] = Int32GetDatum(0);
		args[2] = text_array(group_ords, ngroups);
		args[3] = text_array(group_key, ngroups);
		args[4] = int4_array(group_first, ngroups);
		args[5] = int4_array(group_count, ngroups);
		args[6] = CStringGetTextDatum(run->model);
		args[7] = CStringGetTextDatum(run->baseline);
		args[8] = int4_array(run->items, run->nitems);
		args[9] = Int32GetDatum(run->perturbation ? run->difficulty : (int32) run->sev_mask);
		args[10] = Int64GetDatum(run->seed);
		args[11] = Int32GetDatum(run->k);
		args[12] = float_bytes(clean[0], n * dim[0]);
		args[13] = float_bytes(clean[1], n * dim[1]);
		if (labels)
			args[14] = int4_array(labels, n);
		else
		{
			args[14] = (Datum) 0;
			nulls[14] = 'n';
		}
		ret = SPI_execute_with_args(q.data, 15, types, args, nulls, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "report cells query failed: %s", SPI_result_code_string(ret));
	}
	group_result = palloc0(sizeof(ArrayType *) * Max(ngroups, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int			gi = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)) - 1;
		Datum		a = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);

		if (gi >= 0 && gi < ngroups && !isnull && group_result[gi] == NULL)
			group_result[gi] = DatumGetArrayTypePCopy(a);
	}

	/* 5. add the images' cells in sample order, finish, store */
	if (run->perturbation)
	{
		pacc = palloc(sizeof(*pacc));
		sp_re_perturbation_acc_init(pacc);
		pcells = palloc(sizeof(sp_re_pcell) * run->nitems);
	}
	else
	{
		cacc = palloc(sizeof(*cacc));
		sp_re_corruption_acc_init(cacc);
		ccells = palloc(sizeof(sp_re_cell) * sp_re_corruption_ncells(&cp));
	}
	for (int gi = 0; gi < ngroups; gi++)
	{
		ArrayType  *a = group_result[gi];
		const double *v;

		if (a == NULL || ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != group_count[gi] * width)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("report " INT64_FORMAT ": no result for sample image %d from the shards",
							run->run_id, group_first[gi]),
					 errhint("The source table changed during the report; run it again.")));
		v = (const double *) ARR_DATA_PTR(a);
		for (int c = 0; c < group_count[gi]; c++)
		{
			if (run->perturbation)
			{
				for (int j = 0; j < run->nitems; j++, v += 5)
				{
					pcells[j].fp[0] = v[0];
					pcells[j].fp[1] = v[1];
					pcells[j].ut5d[0] = v[2];
					pcells[j].ut5d[1] = v[3];
					pcells[j].frames = (int) v[4];
				}
				sp_re_perturbation_acc_add(pacc, &pp, pcells);
			}
			else
			{
				for (int j = 0; j < width / 4; j++, v += 4)
				{
					ccells[j].wrong[0] = (uint8) v[0];
					ccells[j].wrong[1] = (uint8) v[1];
					ccells[j].drift[0] = v[2];
					ccells[j].drift[1] = v[3];
				}
				sp_re_corruption_acc_add(cacc, &cp, ccells);
			}
		}
	}
	if (run->perturbation)
	{
		sp_re_perturbation_result *res = palloc0(sizeof(*res));

		if (sp_re_perturbation_finish(&pp, pacc, n, labels != NULL, res, &err) != SP_OK)
			sp_pg_raise(&err);
		as_report_owner(&scope);
		store_perturbation_result(run, &sample, res);
		end_report_owner(&scope);
	}
	else
	{
		sp_re_corruption_result *res = palloc0(sizeof(*res));
		int64		clean_wrong[2];

		if (sp_re_clean_error(sp_pg_env(), &models, &g, run->k, clean_wrong, &err) != SP_OK)
			sp_pg_raise(&err);
		if (sp_re_corruption_finish(&cp, cacc, clean_wrong, n, models.model[0] == models.model[1], res,
									&err) != SP_OK)
			sp_pg_raise(&err);
		as_report_owner(&scope);
		store_corruption_result(run, &sample, res);
		end_report_owner(&scope);
	}
}

/*
 * The evaluation of a locked running run: sample (as the caller), engine,
 * results and final status (as the tables' owner).  Raises on failure.
 */
static void
evaluate_run(const ReportRun *run, Oid relid)
{
	MemoryContext cxt,
				old;
	ReportSample sample;
	ReportProgress progress;
	sp_re_models models;
	sp_re_sample s;
	sp_error	err;
	sp_status	st;
	OwnerScope	scope;

	progress.run_id = run->run_id;
	if (sp_pg_is_citus_table(relid))
	{
		evaluate_distributed(run, relid, &progress);
		return;
	}
	cxt = AllocSetContextCreate(CurrentMemoryContext, "siamese report", ALLOCSET_DEFAULT_SIZES);
	report_progress(&progress, "sampling", 0, 0);
	load_sample(relid, run, cxt, &sample);

	run_models(run, &models);
	s.images = sample.images;
	s.labels = sample.labels;
	s.n = sample.n;

	old = MemoryContextSwitchTo(cxt);
	if (!run->perturbation)
	{
		sp_re_corruption_params p;
		sp_re_corruption_result *res = palloc0(sizeof(*res));

		corruption_params(run, &p);
		st = sp_re_corruption_run(sp_pg_env(), &s, &models, &p, report_progress, &progress, res, &err);
		MemoryContextSwitchTo(old);
		SP_PG_CHECK(st, &err);
		as_report_owner(&scope);
		store_corruption_result(run, &sample, res);
		end_report_owner(&scope);
	}
	else
	{
		sp_re_perturbation_params p;
		sp_re_perturbation_result *res = palloc0(sizeof(*res));

		perturbation_params(run, &p);
		st = sp_re_perturbation_run(sp_pg_env(), &s, &models, &p, report_progress, &progress, res, &err);
		MemoryContextSwitchTo(old);
		SP_PG_CHECK(st, &err);
		as_report_owner(&scope);
		store_perturbation_result(run, &sample, res);
		end_report_owner(&scope);
	}
	MemoryContextDelete(cxt);
}

/* Mark the (locked, running) run failed with the error that failed it. */
static void
mark_failed(int64 run_id, const ErrorData *edata)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3];
	char		nulls[4] = "   ";
	OwnerScope	scope;

	args[0] = Int64GetDatum(run_id);
	args[1] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	if (edata->message)
		args[2] = CStringGetTextDatum(edata->message);
	else
		nulls[2] = 'n';
	as_report_owner(&scope);
	if (SPI_execute_with_args("UPDATE siamese.robustness_runs SET status = 'failed', "
							  "error_sqlstate = $2, error_message = $3, "
							  "finished_at = pg_catalog.clock_timestamp(), "
							  "duration = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started_at "
							  "WHERE run_id = $1 AND status = 'running'",
							  3, argtypes, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not mark report " INT64_FORMAT " failed", run_id);
	end_report_owner(&scope);
}

/*
 * _report_evaluate(report_id bigint, source regclass) -> (sqlstate, message,
 * detail, hint): evaluates the caller's running run in a subtransaction.  On
 * success the results and status 'succeeded' are stored and every column is
 * NULL; on failure (cancellation included) the subtransaction's work is
 * rolled back, the run is marked failed, and the error is returned for the
 * procedure to commit and re-raise.  Errors before the evaluation (not the
 * caller's run, not running, another table) are raised and change nothing.
 */
Datum
siamese_report_evaluate(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	Oid			relid = PG_GETARG_OID(1);
	MemoryContext fcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ReportRun	run;
	ErrorData  *volatile edata = NULL;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {true, true, true, true};
	bool		returns_row;
	char	   *appname;

	if (!OidIsValid(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));

	appname = pstrdup(GetConfigOption("application_name", false, false));
	/*
	 * The result's descriptor and values live in the caller's context: every
	 * SPI call returns in the SPI procedure context, which SPI_finish frees
	 * (an assertion-enabled build's freed-memory clobbering caught the
	 * descriptor read after it).
	 */
	returns_row = get_call_result_type(fcinfo, NULL, &tupdesc) == TYPEFUNC_COMPOSITE;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(fcxt);
	load_run(run_id, relid, &run);

	if (!returns_row)
	{
		/*
		 * Declared RETURNS void: a database still on the 0.1.0 SQL objects
		 * (until ALTER EXTENSION siamese_pg UPDATE), whose procedure catches
		 * the error itself and then marks the run failed.
		 */
		evaluate_run(&run, relid);
		SPI_finish();
		SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
		set_ps_display("");
		PG_RETURN_VOID();
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(fcxt);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		evaluate_run(&run, relid);
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(fcxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(fcxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* also undoes the results, application_name and the SPI connection */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(fcxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();

	if (edata != NULL)
	{
		mark_failed(run_id, edata);
		MemoryContextSwitchTo(fcxt);
		values[0] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
		nulls[0] = false;
		if (edata->message)
		{
			values[1] = CStringGetTextDatum(edata->message);
			nulls[1] = false;
		}
		if (edata->detail)
		{
			values[2] = CStringGetTextDatum(edata->detail);
			nulls[2] = false;
		}
		if (edata->hint)
		{
			values[3] = CStringGetTextDatum(edata->hint);
			nulls[3] = false;
		}
	}
	SPI_finish();
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
	set_ps_display("");
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

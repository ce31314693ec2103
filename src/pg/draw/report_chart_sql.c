/*
 * report_chart_sql.c: report_chart(report_id) and
 * report_history_chart(report_id, max_runs) -> PNG bytea.  Reads the report
 * tables of sql/install/60_reports.sql through SPI with the caller's rights
 * (the functions are SECURITY INVOKER, so row level security decides which
 * runs exist for the caller) and hands the numbers to the core renderer
 * (src/core/draw/report_chart.c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "draw/report_chart.h"
#include "pg/sp_pg.h"

PG_FUNCTION_INFO_V1(siamese_report_chart);
PG_FUNCTION_INFO_V1(siamese_report_history_chart);

/* The run's row, as far as the charts need it (strings in the SPI context). */
typedef struct ReportRun
{
	int64		id;
	char	   *kind;
	char	   *status;
	char	   *model;
	char	   *baseline;
	char	   *source;
	char	   *image_column;
	char	   *mode;
	char	   *config_key;
	char	   *error_message;
	char	   *started;
	int			k;
	int			images;			/* -1 when NULL */
	int			difficulty;		/* -1 when NULL */
	double		clean_error;	/* NaN when NULL */
	double		baseline_clean_error;
	double		mce;
	double		relative_mce;
	double		heldout_mce;
	double		mfr;
	double		mt5d;
} ReportRun;

static char *
col_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);	/* NULL for SQL NULL */
}

static double
col_float(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

static int
col_int(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? -1 : DatumGetInt32(d);
}

/*
 * Read run report_id as the caller sees it.  Unknown or invisible (row level
 * security) runs and runs that did not succeed are errors.
 */
static void
fetch_run(int64 report_id, ReportRun *r)
{
	static const char *sql =
		"SELECT kind, status, model, baseline_model, source_table, image_column::pg_catalog.text,"
		" mode, config_key, error_message,"
		" pg_catalog.to_char(started_at, 'YYYY-MM-DD HH24:MI'), k, images, difficulty,"
		" clean_error, baseline_clean_error, mce, relative_mce, heldout_mce, mfr, mt5d"
		" FROM siamese.robustness_runs WHERE run_id = $1";
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	HeapTuple	tup;
	TupleDesc	desc;
	int			ret;

	args[0] = Int64GetDatum(report_id);
	ret = SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("report %lld does not exist", (long long) report_id),
				 errhint("A report is visible to the role that ran it and to members of pg_read_all_data.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	r->id = report_id;
	r->kind = col_text(tup, desc, 1);
	r->status = col_text(tup, desc, 2);
	r->model = col_text(tup, desc, 3);
	r->baseline = col_text(tup, desc, 4);
	r->source = col_text(tup, desc, 5);
	r->image_column = col_text(tup, desc, 6);
	r->mode = col_text(tup, desc, 7);
	r->config_key = col_text(tup, desc, 8);
	r->error_message = col_text(tup, desc, 9);
	r->started = col_text(tup, desc, 10);
	r->k = col_int(tup, desc, 11);
	r->images = col_int(tup, desc, 12);
	r->difficulty = col_int(tup, desc, 13);
	r->clean_error = col_float(tup, desc, 14);
	r->baseline_clean_error = col_float(tup, desc, 15);
	r->mce = col_float(tup, desc, 16);
	r->relative_mce = col_float(tup, desc, 17);
	r->heldout_mce = col_float(tup, desc, 18);
	r->mfr = col_float(tup, desc, 19);
	r->mt5d = col_float(tup, desc, 20);

	if (strcmp(r->status, "succeeded") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("report %lld has no results to chart", (long long) report_id),
				 r->error_message ?
				 errdetail("Its status is \"%s\" (error: %s).", r->status, r->error_message) :
				 errdetail("Its status is \"%s\".", r->status),
				 errhint("Only runs that succeeded are charted.")));
}

/* "12.3 %" or "n/a" for a ratio or fraction */
static char *
pct(double v)
{
	return isfinite(v) ? psprintf("%.1f %%", 100.0 * v) : pstrdup("n/a");
}

/* image count for the subtitles ("?" when the run did not record it) */
static char *
count_text(int n)
{
	return n >= 0 ? psprintf("%d", n) : pstrdup("?");
}

static const char *
mode_text(const ReportRun *r)
{
	if (r->mode && strcmp(r->mode, "knn") == 0)
		return psprintf("%d-NN error", r->k);
	return "self-retrieval error";
}

static sp_image
severity_chart(const ReportRun *r)
{
	static const char *sql =
		"SELECT res.corruption, res.severity, res.held_out, res.model_error, res.baseline_error"
		" FROM siamese.robustness_results res"
		" JOIN siamese.robustness_runs run ON run.run_id = res.run_id"
		" WHERE res.run_id = $1"
		" ORDER BY res.held_out, pg_catalog.array_position(run.corruptions, res.corruption),"
		" res.corruption, res.severity";
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	sp_severity_series *series;
	sp_severity_chart ch;
	sp_image	img;
	sp_error	err;
	int			n = 0,
				ret;
	double		clean_m = NAN,
				clean_b = NAN;

	args[0] = Int64GetDatum(r->id);
	ret = SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));

	series = palloc0(sizeof(sp_severity_series) * SP_CHART_MAX_SERIES);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *name = col_text(tup, desc, 1);
		int			sev = col_int(tup, desc, 2);
		bool		isnull;
		bool		held_out = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));

		if (strcmp(name, "clean") == 0)
		{
			clean_m = col_float(tup, desc, 4);
			clean_b = col_float(tup, desc, 5);
			continue;
		}
		if (n == 0 || strcmp(series[n - 1].name, name) != 0 ||
			(series[n - 1].held_out != 0) != held_out)
		{
			if (n == SP_CHART_MAX_SERIES)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("report %lld has more than %d corruptions to chart",
								(long long) r->id, SP_CHART_MAX_SERIES)));
			series[n].name = name;
			series[n].held_out = held_out;
			for (int s = 0; s < SP_CHART_SEVERITIES; s++)
				series[n].model_error[s] = series[n].baseline_error[s] = NAN;
			n++;
		}
		if (sev >= 1 && sev <= SP_CHART_SEVERITIES)
		{
			series[n - 1].model_error[sev - 1] = col_float(tup, desc, 4);
			series[n - 1].baseline_error[sev - 1] = col_float(tup, desc, 5);
		}
	}
	/* the run row carries the clean errors too, should the clean row be absent */
	if (!isfinite(clean_m))
		clean_m = r->clean_error;
	if (!isfinite(clean_b))
		clean_b = r->baseline_clean_error;

	ch.title = psprintf("Report %lld: error by corruption and severity", (long long) r->id);
	ch.subtitle = psprintf("%s.%s, %s images, %s; clean error %s (baseline %s); mCE %s, relative mCE %s; started %s",
						   r->source, r->image_column, count_text(r->images), mode_text(r),
						   pct(clean_m), pct(clean_b), pct(r->mce), pct(r->relative_mce),
						   r->started);
	ch.model_name = r->model;
	ch.baseline_name = r->baseline;
	ch.clean_model_error = clean_m;
	ch.clean_baseline_error = clean_b;
	ch.series = series;
	ch.n_series = n;
	SP_PG_CHECK(sp_chart_severity(sp_pg_env(), &ch, &img, &err), &err);
	return img;
}

static sp_image
perturbation_chart(const ReportRun *r)
{
	static const char *sql =
		"SELECT p.perturbation, p.model_fp, p.baseline_fp"
		" FROM siamese.robustness_perturbation_results p"
		" JOIN siamese.robustness_runs run ON run.run_id = p.run_id"
		" WHERE p.run_id = $1"
		" ORDER BY pg_catalog.array_position(run.perturbations, p.perturbation), p.perturbation"
		" LIMIT $2";
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2];
	sp_fp_bar  *bars;
	sp_perturbation_chart ch;
	sp_image	img;
	sp_error	err;
	int			ret;

	args[0] = Int64GetDatum(r->id);
	args[1] = Int32GetDatum(SP_CHART_MAX_BARS + 1);
	ret = SPI_execute_with_args(sql, 2, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > SP_CHART_MAX_BARS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("report %lld has more than %d perturbations to chart",
						(long long) r->id, SP_CHART_MAX_BARS)));
	bars = palloc0(sizeof(sp_fp_bar) * (SP_CHART_MAX_BARS + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		bars[i].name = col_text(tup, desc, 1);
		bars[i].model_fp = col_float(tup, desc, 2);
		bars[i].baseline_fp = col_float(tup, desc, 3);
	}

	ch.title = psprintf("Report %lld: flip probability by perturbation", (long long) r->id);
	ch.subtitle = psprintf("%s.%s, %s sequences, difficulty %s, %s flips; mFR %s, mT5D %s; started %s",
						   r->source, r->image_column, count_text(r->images), count_text(r->difficulty),
						   r->mode && strcmp(r->mode, "knn") == 0 ? "label" : "self-retrieval",
						   pct(r->mfr), pct(r->mt5d), r->started);
	ch.model_name = r->model;
	ch.baseline_name = r->baseline;
	ch.bars = bars;
	ch.n_bars = (int) SPI_processed;
	SP_PG_CHECK(sp_chart_perturbation(sp_pg_env(), &ch, &img, &err), &err);
	return img;
}

/* Encode in the caller's context, then leave SPI (which frees everything else). */
static bytea *
finish_png(const sp_image *img, MemoryContext caller_cxt)
{
	MemoryContext spi_cxt = MemoryContextSwitchTo(caller_cxt);
	bytea	   *png = sp_pg_image_to_png(img);

	MemoryContextSwitchTo(spi_cxt);
	SPI_finish();
	return png;
}

Datum
siamese_report_chart(PG_FUNCTION_ARGS)
{
	int64		report_id = PG_GETARG_INT64(0);
	MemoryContext caller_cxt = CurrentMemoryContext;
	ReportRun	r;
	sp_image	img;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	fetch_run(report_id, &r);
	if (strcmp(r.kind, "perturbation") == 0)
		img = perturbation_chart(&r);
	else
		img = severity_chart(&r);
	PG_RETURN_BYTEA_P(finish_png(&img, caller_cxt));
}

Datum
siamese_report_history_chart(PG_FUNCTION_ARGS)
{
	static const char *sql =
		"SELECT s.run_id, s.mce, s.relative_mce, s.mfr, s.mt5d,"
		" pg_catalog.to_char(s.started_at, 'YYYY-MM-DD')"
		" FROM (SELECT h.run_id, h.started_at, h.mce, h.relative_mce, h.mfr, h.mt5d"
		"       FROM siamese.robustness_runs a"
		"       JOIN siamese.robustness_runs h"
		"         ON h.config_key = a.config_key AND h.kind = a.kind"
		"       WHERE a.run_id = $1 AND h.status = 'succeeded'"
		"         AND (h.started_at, h.run_id) <= (a.started_at, a.run_id)"
		"       ORDER BY h.started_at DESC, h.run_id DESC LIMIT $2) s"
		" ORDER BY s.started_at, s.run_id";
	int64		report_id = PG_GETARG_INT64(0);
	int32		max_runs = PG_GETARG_INT32(1);
	MemoryContext caller_cxt = CurrentMemoryContext;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2];
	ReportRun	r;
	sp_history_point *pts;
	sp_history_chart ch;
	sp_image	img;
	sp_error	err;
	bool		perturbation,
				any_t5d = false;
	int			n,
				ret;

	if (max_runs < 1 || max_runs > SP_CHART_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_runs must be between 1 and %d, got %d", SP_CHART_MAX_POINTS,
						max_runs)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	fetch_run(report_id, &r);
	perturbation = strcmp(r.kind, "perturbation") == 0;

	args[0] = Int64GetDatum(report_id);
	args[1] = Int32GetDatum(max_runs);
	ret = SPI_execute_with_args(sql, 2, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	n = (int) SPI_processed;	/* at most max_runs */
	pts = palloc0(sizeof(sp_history_point) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		pts[i].label = psprintf("#%s", col_text(tup, desc, 1));
		if (perturbation)
		{
			pts[i].value = col_float(tup, desc, 4);
			pts[i].value2 = col_float(tup, desc, 5);
			any_t5d |= isfinite(pts[i].value2) != 0;
		}
		else
		{
			pts[i].value = col_float(tup, desc, 2);
			pts[i].value2 = col_float(tup, desc, 3);
		}
	}

	ch.title = psprintf("Report %lld history: %s of %d comparable run%s",
						(long long) report_id,
						perturbation ? (any_t5d ? "mFR and mT5D" : "mFR") : "mCE and relative mCE",
						n, n == 1 ? "" : "s");
	/* the run itself is the newest point: quote its values */
	ch.subtitle = psprintf("%s vs %s on %s.%s, %s %s to %s; report %lld: %s %s%s%s",
						   r.model, r.baseline, r.source, r.image_column,
						   perturbation ? "perturbation runs" : "corruption runs",
						   n > 0 ? col_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6) : "-",
						   n > 0 ? col_text(SPI_tuptable->vals[n - 1], SPI_tuptable->tupdesc, 6) : "-",
						   (long long) report_id,
						   perturbation ? "mFR" : "mCE",
						   pct(perturbation ? r.mfr : r.mce),
						   perturbation ? (any_t5d ? ", mT5D " : "") : ", relative mCE ",
						   perturbation ? (any_t5d ? pct(r.mt5d) : "") : pct(r.relative_mce));
	ch.x_title = "report id (oldest to newest)";
	ch.name = perturbation ? "mFR" : "mCE";
	ch.name2 = perturbation ? (any_t5d ? "mT5D" : NULL) : "relative mCE";
	ch.points = pts;
	ch.n_points = n;
	SP_PG_CHECK(sp_chart_history(sp_pg_env(), &ch, &img, &err), &err);
	PG_RETURN_BYTEA_P(finish_png(&img, caller_cxt));
}

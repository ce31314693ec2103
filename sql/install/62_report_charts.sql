-- ---------------------------------------------------------------------------
-- 62_report_charts.sql: PNG charts of the robustness reports.
-- C code: src/pg/draw/report_chart_sql.c over src/core/draw/report_chart.c.
-- See docs/robustness.md.
--
-- Both functions read the report tables with the caller's rights (SECURITY
-- INVOKER): row level security on siamese.robustness_runs decides which
-- reports exist for the caller.  search_path is pinned and every name in
-- their queries is qualified.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.report_chart(report_id bigint) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_report_chart'
	LANGUAGE C STABLE STRICT PARALLEL SAFE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION siamese.report_chart(bigint) IS
	'PNG chart of a succeeded robustness report: for a corruption run, one panel per corruption with the error (%) of the model (solid) and the baseline (dashed) at severities 1 to 5 and the clean errors as thin lines, held-out corruptions shaded, 1000 pixels wide and 128 + 180 per row of 5 corruptions high; for a perturbation run, bars of the flip probability (%) of model and baseline per perturbation, 900 pixels wide and 142 + 34 per perturbation high';

CREATE FUNCTION siamese.report_history_chart(report_id bigint, max_runs integer DEFAULT 50)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_report_history_chart'
	LANGUAGE C STABLE STRICT PARALLEL SAFE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION siamese.report_history_chart(bigint, integer) IS
	'900 x 500 PNG line chart of mCE and relative mCE (perturbation runs: mFR, and mT5D when measured), in percent of the baseline with a dashed line at 100, over the last max_runs (1 to 1000) succeeded runs the caller can see that have the same configuration (config_key) as report_id, up to and including it, oldest first';

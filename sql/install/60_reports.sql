-- ---------------------------------------------------------------------------
-- 60_reports.sql: robustness report storage: runs, per-cell results,
-- per-corruption scores, perturbation results, the summary view.
-- The procedures that fill them are in 61_report_run.sql; charts in
-- 62_report_charts.sql.  See docs/robustness.md.
--
-- Privileges: every role may run reports (they read the source with the
-- caller's own rights).  Roles may read and delete report rows, and row
-- level security limits that to the runs they started (run_by); members of
-- pg_read_all_data read every run.  Only the extension's own code writes
-- runs, status, metrics and results: the C functions of the procedures
-- (src/pg/robust/report_sql.c) write as the tables' owner, with values they
-- compute themselves.  Roles have no INSERT or UPDATE on these tables.
-- ---------------------------------------------------------------------------

CREATE TABLE siamese.robustness_runs (
	run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('corruption', 'perturbation')),
	source_table text NOT NULL,
	image_column name NOT NULL,
	label_column name,
	mode text NOT NULL CHECK (mode IN ('knn', 'self_retrieval')),
	model text NOT NULL,
	model_hash text NOT NULL,
	baseline_model text NOT NULL,
	baseline_hash text NOT NULL,
	corruptions text[],
	severities integer[],
	perturbations text[],
	difficulty integer,
	sample_size integer NOT NULL,
	seed bigint NOT NULL,
	k integer NOT NULL,
	config_key text NOT NULL,
	images integer,
	skipped_images integer,
	status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
	error_sqlstate text,
	error_message text,
	run_by name NOT NULL DEFAULT current_user,
	backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
	backend_start timestamptz,
	started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at timestamptz,
	duration interval,
	clean_error double precision,
	baseline_clean_error double precision,
	mce double precision,
	relative_mce double precision,
	heldout_mce double precision,
	heldout_relative_mce double precision,
	mfr double precision,
	mt5d double precision,
	CHECK ((kind = 'corruption') = (corruptions IS NOT NULL AND severities IS NOT NULL)),
	CHECK ((kind = 'perturbation') = (perturbations IS NOT NULL AND difficulty IS NOT NULL))
);
CREATE INDEX robustness_runs_config_idx ON siamese.robustness_runs (config_key, started_at);

COMMENT ON TABLE siamese.robustness_runs IS
	'one row per robustness report run (corruption or perturbation): parameters, model hashes, status, timing and headline metrics; ratios are plain ratios (1.0 = the baseline)';
COMMENT ON COLUMN siamese.robustness_runs.run_id IS 'report id returned by robustness_report / perturbation_report';
COMMENT ON COLUMN siamese.robustness_runs.kind IS 'corruption (ImageNet-C style) or perturbation (ImageNet-P style)';
COMMENT ON COLUMN siamese.robustness_runs.source_table IS 'the source table as it was named when the run started (qualified, quoted)';
COMMENT ON COLUMN siamese.robustness_runs.image_column IS 'bytea column holding the images';
COMMENT ON COLUMN siamese.robustness_runs.label_column IS 'label column (k-NN error), or NULL (self-retrieval error)';
COMMENT ON COLUMN siamese.robustness_runs.mode IS 'knn: k-NN classification error against the clean sample; self_retrieval: the nearest clean image is not the original';
COMMENT ON COLUMN siamese.robustness_runs.model IS 'evaluated model';
COMMENT ON COLUMN siamese.robustness_runs.model_hash IS 'content hash of the evaluated model at run time';
COMMENT ON COLUMN siamese.robustness_runs.baseline_model IS 'baseline model that plays AlexNet''s role in CE and FR';
COMMENT ON COLUMN siamese.robustness_runs.baseline_hash IS 'content hash of the baseline model at run time';
COMMENT ON COLUMN siamese.robustness_runs.corruptions IS 'corruptions evaluated (corruption runs)';
COMMENT ON COLUMN siamese.robustness_runs.severities IS 'severities evaluated (corruption runs)';
COMMENT ON COLUMN siamese.robustness_runs.perturbations IS 'perturbation sequences evaluated (perturbation runs)';
COMMENT ON COLUMN siamese.robustness_runs.difficulty IS 'ImageNet-P difficulty 1..3 (perturbation runs)';
COMMENT ON COLUMN siamese.robustness_runs.sample_size IS 'requested sample size';
COMMENT ON COLUMN siamese.robustness_runs.seed IS 'seed of the sample and of every corruption';
COMMENT ON COLUMN siamese.robustness_runs.k IS 'k of the k-NN classification (knn mode)';
COMMENT ON COLUMN siamese.robustness_runs.config_key IS 'md5 of the run configuration: runs with equal keys are comparable (history, compare)';
COMMENT ON COLUMN siamese.robustness_runs.images IS 'images actually evaluated (at most sample_size)';
COMMENT ON COLUMN siamese.robustness_runs.skipped_images IS 'sampled rows whose image could not be decoded (a WARNING names the count)';
COMMENT ON COLUMN siamese.robustness_runs.status IS 'running, succeeded or failed; see robustness_summary.state for runs whose backend died';
COMMENT ON COLUMN siamese.robustness_runs.error_sqlstate IS 'SQLSTATE of the error that failed the run';
COMMENT ON COLUMN siamese.robustness_runs.error_message IS 'message of the error that failed the run';
COMMENT ON COLUMN siamese.robustness_runs.run_by IS 'role that ran the report (row level security key)';
COMMENT ON COLUMN siamese.robustness_runs.backend_pid IS 'process id of the backend running the report';
COMMENT ON COLUMN siamese.robustness_runs.backend_start IS 'start time of that backend (tells a live run from one whose backend died)';
COMMENT ON COLUMN siamese.robustness_runs.started_at IS 'when the run started';
COMMENT ON COLUMN siamese.robustness_runs.finished_at IS 'when the run succeeded or failed';
COMMENT ON COLUMN siamese.robustness_runs.duration IS 'finished_at - started_at';
COMMENT ON COLUMN siamese.robustness_runs.clean_error IS 'error of the model on the clean sample (fraction)';
COMMENT ON COLUMN siamese.robustness_runs.baseline_clean_error IS 'error of the baseline on the clean sample (fraction)';
COMMENT ON COLUMN siamese.robustness_runs.mce IS 'mean CE over the benchmark corruptions evaluated (ratio, 1.0 = baseline)';
COMMENT ON COLUMN siamese.robustness_runs.relative_mce IS 'mean relative CE over the benchmark corruptions evaluated';
COMMENT ON COLUMN siamese.robustness_runs.heldout_mce IS 'mean CE over the held-out corruptions evaluated (speckle_noise, gaussian_blur, spatter, saturate)';
COMMENT ON COLUMN siamese.robustness_runs.heldout_relative_mce IS 'mean relative CE over the held-out corruptions evaluated';
COMMENT ON COLUMN siamese.robustness_runs.mfr IS 'mean flip rate over the perturbations evaluated (ratio, 1.0 = baseline)';
COMMENT ON COLUMN siamese.robustness_runs.mt5d IS 'mean top-5 distance ratio over the perturbations evaluated (knn mode only)';

CREATE TABLE siamese.robustness_results (
	run_id bigint NOT NULL REFERENCES siamese.robustness_runs ON DELETE CASCADE,
	corruption text NOT NULL,
	severity integer NOT NULL CHECK (severity BETWEEN 0 AND 5),
	held_out boolean NOT NULL,
	images integer NOT NULL,
	model_error double precision NOT NULL,
	baseline_error double precision NOT NULL,
	model_drift double precision,
	baseline_drift double precision,
	PRIMARY KEY (run_id, corruption, severity),
	CHECK ((corruption = 'clean') = (severity = 0))
);
COMMENT ON TABLE siamese.robustness_results IS
	'corruption runs: error of model and baseline at every (corruption, severity); the row (clean, 0) holds the clean errors';
COMMENT ON COLUMN siamese.robustness_results.run_id IS 'the run';
COMMENT ON COLUMN siamese.robustness_results.corruption IS 'corruption name, or clean';
COMMENT ON COLUMN siamese.robustness_results.severity IS 'severity 1..5, 0 for the clean row';
COMMENT ON COLUMN siamese.robustness_results.held_out IS 'one of the 4 held-out corruptions';
COMMENT ON COLUMN siamese.robustness_results.images IS 'images evaluated in this cell';
COMMENT ON COLUMN siamese.robustness_results.model_error IS 'error rate of the model (fraction)';
COMMENT ON COLUMN siamese.robustness_results.baseline_error IS 'error rate of the baseline (fraction)';
COMMENT ON COLUMN siamese.robustness_results.model_drift IS 'mean cosine distance between clean and corrupted embeddings, model';
COMMENT ON COLUMN siamese.robustness_results.baseline_drift IS 'mean cosine distance between clean and corrupted embeddings, baseline';

CREATE TABLE siamese.robustness_corruption_scores (
	run_id bigint NOT NULL REFERENCES siamese.robustness_runs ON DELETE CASCADE,
	corruption text NOT NULL,
	held_out boolean NOT NULL,
	model_error double precision NOT NULL,
	baseline_error double precision NOT NULL,
	ce double precision,
	relative_ce double precision,
	model_drift double precision,
	PRIMARY KEY (run_id, corruption)
);
COMMENT ON TABLE siamese.robustness_corruption_scores IS
	'corruption runs: per-corruption CE and relative CE (ratios, NULL when the baseline does not err / degrade) and errors averaged over the severities';
COMMENT ON COLUMN siamese.robustness_corruption_scores.run_id IS 'the run';
COMMENT ON COLUMN siamese.robustness_corruption_scores.corruption IS 'corruption name';
COMMENT ON COLUMN siamese.robustness_corruption_scores.held_out IS 'one of the 4 held-out corruptions';
COMMENT ON COLUMN siamese.robustness_corruption_scores.model_error IS 'model error averaged over the severities evaluated';
COMMENT ON COLUMN siamese.robustness_corruption_scores.baseline_error IS 'baseline error averaged over the severities evaluated';
COMMENT ON COLUMN siamese.robustness_corruption_scores.ce IS 'Corruption Error: sum of model errors / sum of baseline errors';
COMMENT ON COLUMN siamese.robustness_corruption_scores.relative_ce IS 'relative CE: sum of (error - clean error), model over baseline';
COMMENT ON COLUMN siamese.robustness_corruption_scores.model_drift IS 'mean embedding drift (cosine distance) averaged over the severities, model';

CREATE TABLE siamese.robustness_perturbation_results (
	run_id bigint NOT NULL REFERENCES siamese.robustness_runs ON DELETE CASCADE,
	perturbation text NOT NULL,
	noise boolean NOT NULL,
	frames integer NOT NULL,
	sequences integer NOT NULL,
	model_fp double precision NOT NULL,
	baseline_fp double precision NOT NULL,
	fr double precision,
	model_ut5d double precision,
	baseline_ut5d double precision,
	t5d double precision,
	PRIMARY KEY (run_id, perturbation)
);
COMMENT ON TABLE siamese.robustness_perturbation_results IS
	'perturbation runs: flip probability, flip rate and top-5 distance of model and baseline per perturbation sequence';
COMMENT ON COLUMN siamese.robustness_perturbation_results.run_id IS 'the run';
COMMENT ON COLUMN siamese.robustness_perturbation_results.perturbation IS 'perturbation sequence name';
COMMENT ON COLUMN siamese.robustness_perturbation_results.noise IS 'noise sequence: frames are compared with the clean frame instead of the previous one';
COMMENT ON COLUMN siamese.robustness_perturbation_results.frames IS 'frames per sequence';
COMMENT ON COLUMN siamese.robustness_perturbation_results.sequences IS 'sequences evaluated (one per sampled image)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.model_fp IS 'flip probability of the model (fraction)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.baseline_fp IS 'flip probability of the baseline (fraction)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.fr IS 'flip rate: model_fp / baseline_fp (NULL when the baseline never flips)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.model_ut5d IS 'unnormalised top-5 distance of the model (knn mode)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.baseline_ut5d IS 'unnormalised top-5 distance of the baseline (knn mode)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.t5d IS 'top-5 distance ratio model / baseline (knn mode)';

-- Reports are user data: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_runs', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_results', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_corruption_scores', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_perturbation_results', '');

-- Row level security: each role works with its own runs.
ALTER TABLE siamese.robustness_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_select ON siamese.robustness_runs FOR SELECT
	USING (run_by = current_user OR pg_catalog.pg_has_role(current_user, 'pg_read_all_data', 'MEMBER'));
CREATE POLICY runs_delete ON siamese.robustness_runs FOR DELETE
	USING (run_by = current_user);

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['robustness_results', 'robustness_corruption_scores',
							 'robustness_perturbation_results']
	LOOP
		EXECUTE format('ALTER TABLE siamese.%I ENABLE ROW LEVEL SECURITY', t);
		-- visible with the run (the subquery is itself filtered by runs_select)
		EXECUTE format('CREATE POLICY %I ON siamese.%I FOR SELECT USING '
					   '(EXISTS (SELECT 1 FROM siamese.robustness_runs r WHERE r.run_id = %I.run_id))',
					   t || '_select', t, t);
	END LOOP;
END
$$;

REVOKE ALL ON siamese.robustness_runs, siamese.robustness_results,
	siamese.robustness_corruption_scores, siamese.robustness_perturbation_results FROM PUBLIC;
-- (deleting a run deletes its results through the foreign keys)
GRANT SELECT, DELETE ON siamese.robustness_runs TO PUBLIC;
GRANT SELECT ON siamese.robustness_results, siamese.robustness_corruption_scores,
	siamese.robustness_perturbation_results TO PUBLIC;

CREATE VIEW siamese.robustness_summary WITH (security_invoker = true) AS
SELECT r.run_id, r.kind, r.source_table, r.image_column, r.label_column, r.mode,
	   r.model, r.baseline_model, r.images, r.seed,
	   r.status,
	   CASE WHEN r.status = 'running' AND NOT EXISTS (
				SELECT 1 FROM pg_catalog.pg_stat_activity a
				WHERE a.pid = r.backend_pid
				  -- backend_start is hidden (NULL) for other roles' sessions: then trust the pid
				  AND (a.backend_start IS NULL OR r.backend_start IS NULL OR a.backend_start = r.backend_start))
			THEN 'abandoned' ELSE r.status END AS state,
	   r.started_at, r.duration,
	   r.clean_error, r.baseline_clean_error,
	   r.mce, r.relative_mce, r.heldout_mce, r.heldout_relative_mce,
	   r.mfr, r.mt5d,
	   (SELECT pg_catalog.jsonb_object_agg(s.corruption, s.ce ORDER BY s.corruption)
		FROM siamese.robustness_corruption_scores s WHERE s.run_id = r.run_id) AS ce,
	   r.config_key, r.error_message
FROM siamese.robustness_runs r;
GRANT SELECT ON siamese.robustness_summary TO PUBLIC;
COMMENT ON VIEW siamese.robustness_summary IS
	'one row per run: clean error, mCE, relative mCE (benchmark and held-out corruptions), mFR, mT5D, CE per corruption as jsonb; state is abandoned for a running row whose backend is gone';
COMMENT ON SEQUENCE siamese.robustness_runs_run_id_seq IS 'identity of siamese.robustness_runs.run_id (report ids)';

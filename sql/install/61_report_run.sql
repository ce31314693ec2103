-- ---------------------------------------------------------------------------
-- 61_report_run.sql: running robustness reports: the procedures
-- robustness_report (ImageNet-C style) and perturbation_report (ImageNet-P
-- style), their internal steps, and robustness_compare.
-- C code: src/pg/robust/report_sql.c (sampling, evaluation, storage) over
-- src/core/robust/robust_eval.c.  See docs/robustness.md.
--
-- Why procedures: a run must leave a row marked 'failed' when it fails or is
-- cancelled, which a function cannot do (its transaction rolls back).  A
-- procedure CALLed on its own commits the 'running' row first, evaluates in
-- a subtransaction, and commits the final status before re-raising an error.
-- CALLed inside a transaction block it cannot commit, so the run is then
-- all-or-nothing (a failure leaves no row at all).
--
-- Roles cannot write the report tables (60_reports.sql): the run row, the
-- results and the final status are written by the C functions _report_begin
-- and _report_evaluate, as the tables' owner, from values they compute.
--
-- The procedures run with the caller's rights; they cannot pin search_path
-- with a SET clause (that forbids COMMIT), so every function they call is
-- schema-qualified (a caller's own search_path can only mislead the caller);
-- the functions doing the work pin search_path.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese._transaction_control_allowed() RETURNS boolean
	AS 'MODULE_PATHNAME', 'siamese_transaction_control_allowed'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION siamese._transaction_control_allowed() IS
	'internal: true when called from a procedure that may COMMIT (CALLed outside a transaction block)';

CREATE FUNCTION siamese._report_evaluate(report_id bigint, source regclass,
		OUT sqlstate text, OUT message text, OUT detail text, OUT hint text) RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_report_evaluate'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION siamese._report_evaluate(bigint, regclass) IS
	'internal: evaluates the caller''s running report begun for source (samples it as the caller, corrupts / perturbs and embeds the sample) and stores the results and status as the report tables'' owner; on failure rolls back, marks the run failed and returns the error (all NULL on success)';

-- names: non-empty, no NULL, all known, no repeats (what = 'corruption' or 'perturbation')
CREATE FUNCTION siamese._report_check_names(what text, names text[], known text[]) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	bad text;
BEGIN
	IF names IS NULL OR cardinality(names) = 0 THEN
		RAISE EXCEPTION '%s must name at least one %', what, what USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT string_agg(coalesce(quote_literal(n), 'NULL'), ', ') INTO bad
	FROM unnest(names) n WHERE n IS NULL OR NOT n = ANY (known);
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown % %', what, bad USING ERRCODE = 'invalid_parameter_value',
			HINT = format('siamese.%ss() lists them.', what);
	END IF;
	IF (SELECT count(DISTINCT n) FROM unnest(names) n) <> cardinality(names) THEN
		RAISE EXCEPTION '%s must not repeat a name', what USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;
COMMENT ON FUNCTION siamese._report_check_names(text, text[], text[]) IS
	'internal: validates the corruption or perturbation names of a report';

-- Validates everything before a run row exists, so that a bad call (unknown
-- column, no privilege, unknown model) fails cleanly without leaving a run.
-- Returns the run row to insert; _report_begin (C) inserts it as the report
-- tables' owner with caller = the calling role, so privileges are checked for
-- that role explicitly.
CREATE FUNCTION siamese._report_validate(kind text, source regclass, image_column name, label_column name,
		model text, baseline_model text, corruptions text[], severities integer[],
		perturbations text[], difficulty integer, sample_size integer, seed bigint, k integer,
		caller oid)
	RETURNS siamese.robustness_runs
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel text := source::text;	-- schema-qualified and quoted (search_path is pinned)
	coltype regtype;
	model_hash text;
	baseline_hash text;
	r siamese.robustness_runs;
BEGIN
	IF caller IS NULL THEN
		RAISE EXCEPTION 'caller must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF source IS NULL OR image_column IS NULL THEN
		RAISE EXCEPTION 'source and image_column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT a.atttypid::regtype INTO coltype FROM pg_attribute a
	WHERE a.attrelid = source AND a.attname = image_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column % of relation % does not exist', quote_ident(image_column), rel
			USING ERRCODE = 'undefined_column';
	END IF;
	IF coltype <> 'bytea'::regtype THEN
		RAISE EXCEPTION 'image column % of relation % has type %, not bytea', quote_ident(image_column), rel, coltype
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF label_column IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM pg_attribute a
			WHERE a.attrelid = source AND a.attname = label_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
		RAISE EXCEPTION 'column % of relation % does not exist', quote_ident(label_column), rel
			USING ERRCODE = 'undefined_column';
	END IF;
	-- The sample is read with the caller's rights anyway; checking first means
	-- a caller without access gets the error before any run row is written.
	IF NOT has_column_privilege(caller, source, image_column, 'SELECT')
	   OR (label_column IS NOT NULL AND NOT has_column_privilege(caller, source, label_column, 'SELECT')) THEN
		RAISE EXCEPTION 'permission denied for table %', rel
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A report reads the image and label columns with the privileges of the role that runs it.';
	END IF;

	SELECT m.hash INTO model_hash FROM siamese.models m WHERE m.name = model;
	IF NOT FOUND THEN
		PERFORM siamese._report_unknown_model(model);
	END IF;
	SELECT m.hash INTO baseline_hash FROM siamese.models m WHERE m.name = baseline_model;
	IF NOT FOUND THEN
		PERFORM siamese._report_unknown_model(baseline_model);
	END IF;

	IF sample_size IS NULL OR sample_size < 2 OR sample_size > 100000 THEN
		RAISE EXCEPTION 'sample_size must be between 2 and 100000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF k IS NULL OR k < 1 OR k > 1024 THEN
		RAISE EXCEPTION 'k must be between 1 and 1024' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF seed IS NULL THEN
		RAISE EXCEPTION 'seed must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;

	IF kind = 'corruption' THEN
		PERFORM siamese._report_check_names('corruption', corruptions,
											ARRAY(SELECT c.name FROM siamese.corruptions() c));
		IF severities IS NULL OR cardinality(severities) = 0
		   OR EXISTS (SELECT 1 FROM unnest(severities) s WHERE s IS NULL OR s NOT BETWEEN 1 AND 5)
		   OR (SELECT count(DISTINCT s) FROM unnest(severities) s) <> cardinality(severities) THEN
			RAISE EXCEPTION 'severities must be distinct values between 1 and 5' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		severities := ARRAY(SELECT s FROM unnest(severities) s ORDER BY s);
		perturbations := NULL;
		difficulty := NULL;
	ELSE
		PERFORM siamese._report_check_names('perturbation', perturbations,
											ARRAY(SELECT p.name FROM siamese.perturbations() p));
		IF difficulty IS NULL OR difficulty NOT BETWEEN 1 AND 3 THEN
			RAISE EXCEPTION 'difficulty must be 1, 2 or 3' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		corruptions := NULL;
		severities := NULL;
	END IF;

	r.kind := kind;
	r.source_table := rel;
	r.image_column := image_column;
	r.label_column := label_column;
	r.mode := CASE WHEN label_column IS NULL THEN 'self_retrieval' ELSE 'knn' END;
	r.model := model;
	r.model_hash := model_hash;
	r.baseline_model := baseline_model;
	r.baseline_hash := baseline_hash;
	r.corruptions := corruptions;
	r.severities := severities;
	r.perturbations := perturbations;
	r.difficulty := difficulty;
	r.sample_size := sample_size;
	r.seed := seed;
	r.k := k;
	r.config_key := md5(concat_ws('|', kind, rel, image_column, label_column, model, baseline_model,
								  corruptions::text, severities::text, perturbations::text, difficulty,
								  sample_size, seed, k));
	r.status := 'running';
	r.run_by := pg_get_userbyid(caller);
	r.backend_pid := pg_backend_pid();
	r.backend_start := (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid());
	RETURN r;
END
$$;
COMMENT ON FUNCTION siamese._report_validate(text, regclass, name, name, text, text, text[], integer[],
		text[], integer, integer, bigint, integer, oid) IS
	'internal: validates report parameters for the calling role caller and returns the run row _report_begin inserts (run_id and timestamps unset)';

CREATE FUNCTION siamese._report_begin(kind text, source regclass, image_column name, label_column name,
		model text, baseline_model text, corruptions text[], severities integer[],
		perturbations text[], difficulty integer, sample_size integer, seed bigint, k integer)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'siamese_report_begin'
	LANGUAGE C VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION siamese._report_begin(text, regclass, name, name, text, text, text[], integer[],
		text[], integer, integer, bigint, integer) IS
	'internal: validates report parameters (for the calling role) and inserts the run row in status running, as the report tables'' owner with run_by = the calling role; returns its id';

CREATE FUNCTION siamese._report_unknown_model(model text) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'model "%" does not exist', model
		USING ERRCODE = 'undefined_object',
			  HINT = 'Available models: ' || coalesce((SELECT string_agg(m.name, ', ' ORDER BY m.name)
														FROM siamese.models m), 'none') || '.';
END
$$;
COMMENT ON FUNCTION siamese._report_unknown_model(text) IS 'internal: raises the unknown-model error of report functions';

-- The shared body of both report procedures.
CREATE PROCEDURE siamese._run_report(kind text, source regclass, image_column name, label_column name,
		model text, baseline_model text, corruptions text[], severities integer[],
		perturbations text[], difficulty integer, sample_size integer, seed bigint, k integer,
		INOUT report_id bigint)
	LANGUAGE plpgsql
AS $$
DECLARE
	can_commit boolean := siamese._transaction_control_allowed();
	err_state text;
	err_message text;
	err_detail text;
	err_hint text;
BEGIN
	report_id := siamese._report_begin(kind, source, image_column, label_column, model, baseline_model,
									   corruptions, severities, perturbations, difficulty,
									   sample_size, seed, k);
	IF can_commit THEN
		COMMIT;
	END IF;
	-- stores the results and status 'succeeded', or rolls its work back (no
	-- partial results remain), marks the run failed and returns the error
	SELECT e.sqlstate, e.message, e.detail, e.hint INTO err_state, err_message, err_detail, err_hint
	FROM siamese._report_evaluate(report_id, source) e;
	IF err_state IS NOT NULL THEN
		IF can_commit THEN
			COMMIT;
		END IF;
		err_detail := pg_catalog.concat_ws(' ', NULLIF(err_detail, ''), 'Report ' || report_id || ' is marked failed.');
		IF coalesce(err_hint, '') = '' THEN
			RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_message, DETAIL = err_detail;
		END IF;
		RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_message, DETAIL = err_detail, HINT = err_hint;
	END IF;
END
$$;
COMMENT ON PROCEDURE siamese._run_report(text, regclass, name, name, text, text, text[], integer[],
		text[], integer, integer, bigint, integer, bigint) IS
	'internal: registers and evaluates a report run; when the evaluation fails, commits the run marked failed and re-raises the error';

CREATE PROCEDURE siamese.robustness_report(
		source regclass,
		image_column name,
		label_column name DEFAULT NULL,
		model text DEFAULT 'fashion',
		baseline_model text DEFAULT 'fashion-pixels',
		corruptions text[] DEFAULT ARRAY['gaussian_noise', 'shot_noise', 'impulse_noise',
			'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog',
			'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression'],
		severities integer[] DEFAULT '{1,2,3,4,5}',
		sample_size integer DEFAULT 1000,
		seed bigint DEFAULT 0,
		k integer DEFAULT 1,
		INOUT report_id bigint DEFAULT NULL)
	LANGUAGE plpgsql
AS $$
BEGIN
	CALL siamese._run_report('corruption', source, image_column, label_column, model, baseline_model,
							 corruptions, severities, NULL, NULL, sample_size, seed, k, report_id);
END
$$;
COMMENT ON PROCEDURE siamese.robustness_report(regclass, name, name, text, text, text[], integer[],
		integer, bigint, integer, bigint) IS
	'ImageNet-C style robustness report over a seeded sample of a table''s images: errors of model and baseline per corruption and severity, CE, mCE, relative mCE, drift; returns the report id (see siamese.robustness_summary)';

CREATE PROCEDURE siamese.perturbation_report(
		source regclass,
		image_column name,
		label_column name DEFAULT NULL,
		model text DEFAULT 'fashion',
		baseline_model text DEFAULT 'fashion-pixels',
		perturbations text[] DEFAULT ARRAY['gaussian_noise', 'shot_noise', 'motion_blur',
			'zoom_blur', 'snow', 'brightness', 'translate', 'rotate', 'tilt', 'scale'],
		difficulty integer DEFAULT 1,
		sample_size integer DEFAULT 200,
		seed bigint DEFAULT 0,
		k integer DEFAULT 1,
		INOUT report_id bigint DEFAULT NULL)
	LANGUAGE plpgsql
AS $$
BEGIN
	CALL siamese._run_report('perturbation', source, image_column, label_column, model, baseline_model,
							 NULL, NULL, perturbations, difficulty, sample_size, seed, k, report_id);
END
$$;
COMMENT ON PROCEDURE siamese.perturbation_report(regclass, name, name, text, text, text[], integer,
		integer, bigint, integer, bigint) IS
	'ImageNet-P style robustness report: flip probability, flip rate (mFR) and top-5 distance (mT5D) of model against baseline over perturbation sequences of a seeded sample; returns the report id';

CREATE FUNCTION siamese.robustness_compare(report_id bigint DEFAULT NULL,
		threshold double precision DEFAULT 0.05,
		OUT metric text, OUT previous_report bigint, OUT latest_report bigint,
		OUT previous_value double precision, OUT latest_value double precision,
		OUT change double precision, OUT regression boolean)
	RETURNS SETOF record
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cur siamese.robustness_runs;
	prev siamese.robustness_runs;
BEGIN
	IF threshold IS NULL OR threshold < 0 OR threshold = 'NaN' THEN
		RAISE EXCEPTION 'threshold must be a non-negative number' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF report_id IS NULL THEN
		SELECT * INTO cur FROM siamese.robustness_runs r WHERE r.status = 'succeeded'
		ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no succeeded robustness report exists' USING ERRCODE = 'undefined_object';
		END IF;
	ELSE
		SELECT * INTO cur FROM siamese.robustness_runs r WHERE r.run_id = report_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'report % does not exist', report_id USING ERRCODE = 'undefined_object';
		END IF;
		IF cur.status <> 'succeeded' THEN
			RAISE EXCEPTION 'report % did not succeed', report_id USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('Its status is %s.', cur.status);
		END IF;
	END IF;
	SELECT * INTO prev FROM siamese.robustness_runs r
	WHERE r.config_key = cur.config_key AND r.status = 'succeeded'
	  AND (r.started_at, r.run_id) < (cur.started_at, cur.run_id)
	ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1;
	IF NOT FOUND THEN
		RAISE NOTICE 'report % has no earlier comparable report', cur.run_id;
	ELSIF prev.model_hash <> cur.model_hash OR prev.baseline_hash <> cur.baseline_hash THEN
		RAISE NOTICE 'the model or baseline content differs between reports % and %', prev.run_id, cur.run_id;
	END IF;

	RETURN QUERY
	WITH m(name, a, b) AS (
		VALUES ('clean_error', prev.clean_error, cur.clean_error),
			   ('mce', prev.mce, cur.mce),
			   ('relative_mce', prev.relative_mce, cur.relative_mce),
			   ('heldout_mce', prev.heldout_mce, cur.heldout_mce),
			   ('heldout_relative_mce', prev.heldout_relative_mce, cur.heldout_relative_mce),
			   ('mfr', prev.mfr, cur.mfr),
			   ('mt5d', prev.mt5d, cur.mt5d)
		UNION ALL
		SELECT 'ce:' || c.corruption, p.ce, c.ce
		FROM siamese.robustness_corruption_scores c
		LEFT JOIN siamese.robustness_corruption_scores p ON p.run_id = prev.run_id AND p.corruption = c.corruption
		WHERE c.run_id = cur.run_id
		UNION ALL
		SELECT 'fr:' || c.perturbation, p.fr, c.fr
		FROM siamese.robustness_perturbation_results c
		LEFT JOIN siamese.robustness_perturbation_results p ON p.run_id = prev.run_id AND p.perturbation = c.perturbation
		WHERE c.run_id = cur.run_id
	)
	SELECT m.name, prev.run_id, cur.run_id, m.a, m.b, m.b - m.a, coalesce(m.b - m.a > threshold, false)
	FROM m WHERE m.a IS NOT NULL OR m.b IS NOT NULL;
END
$$;
COMMENT ON FUNCTION siamese.robustness_compare(bigint, double precision) IS
	'compares a succeeded report (default: the latest) with the previous comparable one (same config_key): every metric, its change, and regression = increase beyond threshold (ratios and error fractions; every metric is lower-is-better)';

-- The per-image work of a report on a Citus table, run on the
-- shards by the coordinator's queries (src/pg/robust/report_worker.c).
CREATE FUNCTION siamese._report_clean(image bytea, model text, baseline text) RETURNS real[]
	AS 'MODULE_PATHNAME', 'siamese_report_clean' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION siamese._report_clean(bytea, text, text) IS
	'internal: the clean embeddings of one image by a report''s model and baseline (model''s, then baseline''s), NULL when it cannot be decoded; run where the image is';
CREATE FUNCTION siamese._report_corruption_cells(image bytea, first_index integer, copies integer,
	model text, baseline text, corruptions integer[], sev_mask integer, seed bigint, k integer,
	gallery_model bytea, gallery_baseline bytea, labels integer[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'siamese_report_corruption_cells' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100000;
COMMENT ON FUNCTION siamese._report_corruption_cells(bytea, integer, integer, text, text, integer[], integer,
	bigint, integer, bytea, bytea, integer[]) IS
	'internal: every requested corruption cell of one sample image (indices first_index to first_index + copies - 1) against the sample''s clean gallery (float32 bytes): per index and cell, the model''s and baseline''s verdict (1 wrong) and drift; run where the image is';
CREATE FUNCTION siamese._report_perturbation_cells(image bytea, first_index integer, copies integer,
	model text, baseline text, perturbations integer[], difficulty integer, seed bigint, k integer,
	gallery_model bytea, gallery_baseline bytea, labels integer[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'siamese_report_perturbation_cells' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100000;
COMMENT ON FUNCTION siamese._report_perturbation_cells(bytea, integer, integer, text, text, integer[], integer,
	bigint, integer, bytea, bytea, integer[]) IS
	'internal: every requested perturbation sequence of one sample image (indices first_index to first_index + copies - 1) against the sample''s clean gallery (float32 bytes): per index and perturbation, the model''s and baseline''s flip probability, top-5 distance and the frame count; run where the image is';

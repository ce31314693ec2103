-- siamese_pg 0.1.0 -> 0.2.0 (ALTER EXTENSION siamese_pg UPDATE).
--
-- Takes the objects of a 0.1.0 database (sql/upgrade/siamese_pg--0.1.0.sql,
-- commit 33cf939) to exactly those of a fresh 0.2.0 install (sql/install/);
-- test/t/051_upgrade.pl checks that, and that the data survives.  The
-- definitions below are copies of the 0.2.0 ones in sql/install/.
--
-- What changes:
--  * models: the catalog gains ops and activation_bytes (in their place in
--    the column order, so the table is rebuilt); every model's row is
--    inserted again through models_guard, which validates it with 0.2.0's
--    loader and computes the new columns (a model 0.2.0 cannot load stops the
--    update, naming it; a changed hash is refused by model_history);
--    model_validate and models() return more columns; new: onnx_to_model,
--    _onnx_to_model, register_onnx_model, model_cache; the dump copies of
--    user models (schema siamese_models, _model_dump_copy), created here for
--    the models already registered; shipped models added since are loaded;
--  * reports: roles lose INSERT and UPDATE on the report tables (and their
--    policies); _report_begin becomes C over the new _report_validate,
--    _report_evaluate returns the error instead of raising it,
--    _report_finish is gone, _run_report follows;
--  * comments that named the GUCs by their 0.1.0 names.
-- ---------------------------------------------------------------------------

\echo Use "ALTER EXTENSION siamese_pg UPDATE TO '0.2.0'" to load this file. \quit

-- The objects this update drops or rebuilds must not have dependents outside
-- the extension (a view on siamese.models, a foreign key to it, a function
-- taking its row type, a view on models()): say which, before changing anything.
DO $$
DECLARE
	deps text;
BEGIN
	SELECT string_agg(DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ') INTO deps
	FROM pg_catalog.pg_depend d
	WHERE d.deptype = 'n'
	  AND (d.refclassid, d.refobjid) IN (
			('pg_class'::pg_catalog.regclass, 'siamese.models'::pg_catalog.regclass),
			('pg_type'::pg_catalog.regclass, 'siamese.models'::pg_catalog.regtype),
			('pg_proc'::pg_catalog.regclass, 'siamese.models()'::pg_catalog.regprocedure),
			('pg_proc'::pg_catalog.regclass, 'siamese.model_validate(text, bytea)'::pg_catalog.regprocedure),
			('pg_proc'::pg_catalog.regclass, 'siamese._report_evaluate(bigint, regclass)'::pg_catalog.regprocedure),
			('pg_proc'::pg_catalog.regclass, 'siamese._report_finish(bigint, text, text)'::pg_catalog.regprocedure))
	  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
					  WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e')
	  -- the table's own CHECK constraint
	  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
					  WHERE d.classid = 'pg_constraint'::pg_catalog.regclass AND c.oid = d.objid
						AND c.conrelid = 'siamese.models'::pg_catalog.regclass);
	IF deps IS NOT NULL THEN
		RAISE EXCEPTION 'cannot update siamese_pg to 0.2.0: objects outside the extension depend on objects the update replaces'
			USING ERRCODE = 'dependent_objects_still_exist',
				DETAIL = format('The update rebuilds table siamese.models and replaces functions siamese.models() and siamese.model_validate(); these depend on them: %s.', deps),
				HINT = 'Drop them, run ALTER EXTENSION siamese_pg UPDATE, and create them again.';
	END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Images: comments (siamese.max_image_pixels is now siamese.image.max_pixels)
-- ---------------------------------------------------------------------------

COMMENT ON FUNCTION siamese.image_info(bytea) IS
	'header of a PNG or JPEG image: format (png/jpeg), size, stored channels, bit depth, colour model (gray, gray+alpha, palette, rgb, rgba, ycbcr, cmyk, ycck) and whether it is interlaced/progressive; reads no pixels, so siamese.image.max_pixels does not apply';

COMMENT ON FUNCTION siamese.to_png(bytea) IS
	'decodes a PNG or JPEG image (limited by siamese.image.max_pixels) and re-encodes it as an 8-bit gray or RGB PNG; alpha is composited onto black and 16-bit samples are rounded to 8 bits';

-- ---------------------------------------------------------------------------
-- Models: validation returns the ops and the activation memory
-- ---------------------------------------------------------------------------

DROP FUNCTION siamese.model_validate(text, bytea);
CREATE FUNCTION siamese.model_validate(config text, weights bytea,
	OUT hash text, OUT dims integer, OUT distance text, OUT threshold double precision,
	OUT params bigint, OUT input text, OUT ops text, OUT activation_bytes bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_model_validate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.model_validate(text, bytea) IS
	'loads a model (config JSON text + safetensors bytes) with full validation and describes it; raises the loader''s error if it is invalid';

CREATE FUNCTION siamese.model_validate(config text, weights bytea, name text,
	OUT hash text, OUT dims integer, OUT distance text, OUT threshold double precision,
	OUT params bigint, OUT input text, OUT ops text, OUT activation_bytes bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_model_validate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.model_validate(text, bytea, text) IS
	'model_validate(config, weights) for the model called name: an error''s context names it (used by the catalog''s trigger)';

-- ---------------------------------------------------------------------------
-- Models: the catalog, rebuilt with ops and activation_bytes in their place.
-- The 0.1.0 table is renamed, the 0.2.0 one created, its rows inserted again
-- through models_guard (below), and the old table dropped.
-- ---------------------------------------------------------------------------

ALTER TABLE siamese.models RENAME TO models_0_1_0;
ALTER INDEX siamese.models_pkey RENAME TO models_0_1_0_pkey;

CREATE TABLE siamese.models (
	name text PRIMARY KEY
		CONSTRAINT models_name_check CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
	hash text NOT NULL,
	dims integer NOT NULL,
	distance text NOT NULL,
	threshold double precision,
	params bigint NOT NULL,
	input text NOT NULL,
	ops text NOT NULL,
	activation_bytes bigint NOT NULL,
	config jsonb NOT NULL,
	config_text text NOT NULL,
	weights bytea NOT NULL,
	builtin boolean NOT NULL DEFAULT false,
	description text,
	registered_at timestamptz NOT NULL DEFAULT now(),
	registered_by name NOT NULL DEFAULT session_user
);
-- Weights are float32 noise to pglz: store them uncompressed out of line.
ALTER TABLE siamese.models ALTER COLUMN weights SET STORAGE EXTERNAL;
ALTER TABLE siamese.models ALTER COLUMN config_text SET STORAGE EXTERNAL;

COMMENT ON TABLE siamese.models IS
	'model catalog: one row per usable model; content columns (config, weights, hash) never change; register with siamese.register_model()';
COMMENT ON COLUMN siamese.models.name IS 'model name, ^[a-z0-9][a-z0-9_-]{0,62}$, bound to one content hash forever';
COMMENT ON COLUMN siamese.models.hash IS 'SHA-256(SHA-256(config_text) || SHA-256(weights)), 64 hex digits';
COMMENT ON COLUMN siamese.models.dims IS 'embedding dimensions';
COMMENT ON COLUMN siamese.models.distance IS 'how embeddings of this model are compared: cosine or l2';
COMMENT ON COLUMN siamese.models.threshold IS 'calibrated verification threshold used by same_item (NULL if none)';
COMMENT ON COLUMN siamese.models.params IS 'parameter count of the inference network (batch norm folded)';
COMMENT ON COLUMN siamese.models.input IS 'input tensor the images are preprocessed to, channels x height x width';
COMMENT ON COLUMN siamese.models.ops IS 'the operations a forward pass runs, with counts, most frequent first';
COMMENT ON COLUMN siamese.models.activation_bytes IS 'activation memory one image needs in a forward pass (the planned arena; 0 for layer-list models)';
COMMENT ON COLUMN siamese.models.config IS 'the config document as jsonb (for queries)';
COMMENT ON COLUMN siamese.models.config_text IS 'the exact config bytes that were hashed and are loaded';
COMMENT ON COLUMN siamese.models.weights IS 'safetensors bytes';
COMMENT ON COLUMN siamese.models.builtin IS 'shipped with the extension (loaded by CREATE EXTENSION, not dumped by pg_dump)';
COMMENT ON COLUMN siamese.models.description IS 'free text; the only column that may be updated';

SELECT pg_catalog.pg_extension_config_dump('siamese.models', 'WHERE NOT builtin');
REVOKE ALL ON siamese.models FROM PUBLIC;
GRANT SELECT ON siamese.models TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Dump copies of user-registered models
--
-- pg_dump writes every table's data after every function, and orders table
-- data by schema and name, so a user table in public would be restored
-- before siamese.models: a generated column (or CHECK constraint) calling
-- embed() with a user model would fail its COPY and the table would come back
-- empty.  So each user-registered model also lives in a function
-- siamese_models.<name>() that returns its hash, config and weights; pg_dump
-- writes functions before any table data, and the catalog lookup of embed()
-- falls back to that function while the model's catalog row is not restored
-- yet.  models_guard creates the function with the row and drops it with the
-- row; shipped models come from CREATE EXTENSION and have none.
-- ---------------------------------------------------------------------------

CREATE SCHEMA siamese_models;
COMMENT ON SCHEMA siamese_models IS
	'one function per user-registered model returning its hash, config and weights: the copy pg_dump restores before any table data (managed by siamese.models_guard)';
GRANT USAGE ON SCHEMA siamese_models TO PUBLIC;

CREATE FUNCTION siamese._model_dump_copy(name text, hash text, config text, weights bytea)
	RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET check_function_bodies = off AS $$
DECLARE
	copy_hash text;
BEGIN
	-- pg_proc is read with a query: looking the function up by name would put
	-- its whole body in this backend's catalog cache.
	PERFORM 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'siamese_models' AND p.proname = _model_dump_copy.name AND p.pronargs = 0;
	IF FOUND THEN
		-- a restore: pg_dump wrote the function before the catalog row
		EXECUTE format('SELECT hash FROM siamese_models.%I()', name) INTO copy_hash;
		IF copy_hash IS DISTINCT FROM hash THEN
			RAISE EXCEPTION 'function siamese_models.%() holds other content than model "%"',
					quote_ident(name), name
				USING ERRCODE = 'data_corrupted',
					DETAIL = format('The function returns hash %s, the model has hash %s.', copy_hash, hash);
		END IF;
		RETURN;
	END IF;
	EXECUTE format('CREATE FUNCTION siamese_models.%I(OUT hash text, OUT config text, OUT weights bytea) '
			'RETURNS record LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
		name,
		format('SELECT %L::pg_catalog.text, %L::pg_catalog.text, pg_catalog.decode(%L, %L)',
			hash, config, encode(weights, 'base64'), 'base64'));
END
$$;
REVOKE EXECUTE ON FUNCTION siamese._model_dump_copy(text, text, text, bytea) FROM PUBLIC;
COMMENT ON FUNCTION siamese._model_dump_copy(text, text, text, bytea) IS
	'creates siamese_models.<name>(), the dump copy of a user-registered model, or checks that the existing one (restored by pg_dump) holds the same content; run by models_guard';

CREATE OR REPLACE FUNCTION siamese.models_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v record;
BEGIN
	IF TG_OP = 'INSERT' THEN
		IF NEW.name IS NULL OR NEW.config_text IS NULL OR NEW.weights IS NULL THEN
			RAISE EXCEPTION 'a model''s name, config_text and weights must not be NULL'
				USING ERRCODE = 'not_null_violation';
		END IF;
		v := siamese.model_validate(NEW.config_text, NEW.weights, NEW.name);
		NEW.hash := v.hash;
		NEW.dims := v.dims;
		NEW.distance := v.distance;
		NEW.threshold := v.threshold;
		NEW.params := v.params;
		NEW.input := v.input;
		NEW.ops := v.ops;
		NEW.activation_bytes := v.activation_bytes;
		NEW.config := NEW.config_text::jsonb;
		-- model_history_guard refuses a name bound to other content.
		INSERT INTO siamese.model_history (name, hash, builtin)
			VALUES (NEW.name, NEW.hash, NEW.builtin);
		IF NOT NEW.builtin THEN
			PERFORM siamese._model_dump_copy(NEW.name, NEW.hash, NEW.config_text, NEW.weights);
		END IF;
		RETURN NEW;
	ELSIF TG_OP = 'UPDATE' THEN
		IF NEW.name IS DISTINCT FROM OLD.name OR NEW.hash IS DISTINCT FROM OLD.hash
			OR NEW.dims IS DISTINCT FROM OLD.dims OR NEW.distance IS DISTINCT FROM OLD.distance
			OR NEW.threshold IS DISTINCT FROM OLD.threshold OR NEW.params IS DISTINCT FROM OLD.params
			OR NEW.input IS DISTINCT FROM OLD.input OR NEW.builtin IS DISTINCT FROM OLD.builtin
			OR NEW.ops IS DISTINCT FROM OLD.ops OR NEW.activation_bytes IS DISTINCT FROM OLD.activation_bytes
			OR NEW.config IS DISTINCT FROM OLD.config OR NEW.config_text IS DISTINCT FROM OLD.config_text
			OR NEW.weights IS DISTINCT FROM OLD.weights THEN
			RAISE EXCEPTION 'cannot change the content of model "%"', OLD.name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					DETAIL = 'A model name is bound to its content forever so that embed() stays immutable; only description may be updated.',
					HINT = 'Register the new content under a new name with siamese.register_model().';
		END IF;
		RETURN NEW;
	ELSE
		IF OLD.builtin THEN
			RAISE EXCEPTION 'cannot delete shipped model "%"', OLD.name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					HINT = 'Shipped models are removed only by DROP EXTENSION.';
		END IF;
		EXECUTE format('DROP FUNCTION IF EXISTS siamese_models.%I()', OLD.name);
		RETURN OLD;
	END IF;
END
$$;
COMMENT ON FUNCTION siamese.models_guard() IS
	'trigger of siamese.models: validates inserted models and fills the derived columns, records the name in model_history, keeps the dump copy siamese_models.<name>() of user models, refuses content updates and deleting shipped models';

CREATE TRIGGER models_guard BEFORE INSERT OR UPDATE OR DELETE ON siamese.models
	FOR EACH ROW EXECUTE FUNCTION siamese.models_guard();
CREATE TRIGGER models_no_truncate BEFORE TRUNCATE ON siamese.models
	FOR EACH STATEMENT EXECUTE FUNCTION siamese.model_history_guard();

-- Every model again, through models_guard: validated by 0.2.0's loader, the
-- derived columns (ops, activation_bytes included) computed, the history
-- entry found unchanged (model_history_guard refuses another hash), and the
-- dump copy of each user model created.
INSERT INTO siamese.models (name, config_text, weights, builtin, description, registered_at, registered_by)
SELECT name, config_text, weights, builtin, description, registered_at, registered_by
FROM siamese.models_0_1_0 ORDER BY name;
-- The dump copies were created inside this script, which made them members of
-- the extension; they must not be (pg_dump does not dump members).
DO $$
DECLARE
	m text;
BEGIN
	FOR m IN SELECT name FROM siamese.models WHERE NOT builtin ORDER BY name LOOP
		EXECUTE format('ALTER EXTENSION siamese_pg DROP FUNCTION siamese_models.%I()', m);
	END LOOP;
END
$$;
-- (leaving the extension first also takes the old table off its list of
-- configuration tables, which a plain DROP would leave behind)
ALTER EXTENSION siamese_pg DROP TABLE siamese.models_0_1_0;
DROP TABLE siamese.models_0_1_0;

-- ---------------------------------------------------------------------------
-- Models: ONNX import, listing, the backend's cache
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.onnx_to_model(onnx bytea, config jsonb, OUT model_config text, OUT weights bytea)
	RETURNS record
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT * FROM siamese._onnx_to_model(onnx, config::text)
$$;
CREATE FUNCTION siamese._onnx_to_model(onnx bytea, config text, OUT model_config text, OUT weights bytea)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_onnx_to_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese._onnx_to_model(bytea, text) IS
	'the C side of onnx_to_model (import config as text)';
COMMENT ON FUNCTION siamese.onnx_to_model(bytea, jsonb) IS
	'converts an ONNX model and an import config (input preprocessing, output tensor, normalize, distance, threshold) into the project''s own model (format-2 config text + safetensors weights); refuses what cannot run, naming the op and node';

CREATE FUNCTION siamese.register_onnx_model(name text, onnx bytea, config jsonb) RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m record;
BEGIN
	IF name IS NULL OR onnx IS NULL OR config IS NULL THEN
		RAISE EXCEPTION 'register_onnx_model arguments must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT config ? 'name' THEN
		config := config || jsonb_build_object('name', name);
	END IF;
	m := siamese.onnx_to_model(onnx, config);
	RETURN siamese.register_model(name, m.weights, m.model_config::jsonb);
END
$$;
REVOKE EXECUTE ON FUNCTION siamese.register_onnx_model(text, bytea, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION siamese.register_onnx_model(text, bytea, jsonb) IS
	'registers an ONNX model (opsets 6-18) under a new name: converts it with onnx_to_model, then register_model; config gives the preprocessing, the output tensor, normalize, distance and threshold (docs/byo-model.md); returns the content hash; superusers and roles granted EXECUTE only';

-- models shipped since 0.1.0 (the ones already in the catalog keep their content)
SELECT siamese._load_shipped_models();

DROP FUNCTION siamese.models();
CREATE FUNCTION siamese.models(OUT name text, OUT hash text, OUT dims integer, OUT distance text,
	OUT threshold double precision, OUT input text, OUT params bigint, OUT builtin boolean,
	OUT quality jsonb, OUT training jsonb, OUT description text, OUT registered_at timestamptz,
	OUT registered_by name, OUT ops text, OUT output text, OUT activation_bytes bigint,
	OUT source jsonb)
	RETURNS SETOF record
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT m.name, m.hash, m.dims, m.distance, m.threshold, m.input, m.params, m.builtin,
		m.config -> 'quality', m.config -> 'training', m.description, m.registered_at,
		m.registered_by, m.ops,
		coalesce(m.config -> 'source' ->> 'output', 'embedding (last layer)'),
		m.activation_bytes, m.config -> 'source'
	FROM siamese.models m ORDER BY m.name
$$;
COMMENT ON FUNCTION siamese.models() IS
	'the registered models: name, content hash, dimensions, distance, threshold, input, parameters, shipped or not, measured quality and training provenance, the ops a forward pass runs, the output tensor, activation memory per image and, for imports, the source';

CREATE FUNCTION siamese.model_cache(OUT name text, OUT hash text, OUT bytes bigint, OUT last_used bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'siamese_model_cache' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION siamese.model_cache() IS
	'the models this backend has loaded and keeps (bounded by siamese.nn.model_cache_size): name, hash, memory in bytes, and a use counter (higher = more recent)';

-- ---------------------------------------------------------------------------
-- Reports: roles read and delete their runs; only the extension writes them
-- ---------------------------------------------------------------------------

DROP POLICY runs_insert ON siamese.robustness_runs;
DROP POLICY runs_update ON siamese.robustness_runs;
DROP POLICY robustness_results_insert ON siamese.robustness_results;
DROP POLICY robustness_corruption_scores_insert ON siamese.robustness_corruption_scores;
DROP POLICY robustness_perturbation_results_insert ON siamese.robustness_perturbation_results;
REVOKE INSERT, UPDATE ON siamese.robustness_runs FROM PUBLIC;
REVOKE INSERT ON siamese.robustness_results, siamese.robustness_corruption_scores,
	siamese.robustness_perturbation_results FROM PUBLIC;

DROP FUNCTION siamese._report_evaluate(bigint, regclass);
CREATE FUNCTION siamese._report_evaluate(report_id bigint, source regclass,
		OUT sqlstate text, OUT message text, OUT detail text, OUT hint text) RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_report_evaluate'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION siamese._report_evaluate(bigint, regclass) IS
	'internal: evaluates the caller''s running report begun for source (samples it as the caller, corrupts / perturbs and embeds the sample) and stores the results and status as the report tables'' owner; on failure rolls back, marks the run failed and returns the error (all NULL on success)';

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

CREATE OR REPLACE FUNCTION siamese._report_begin(kind text, source regclass, image_column name, label_column name,
		model text, baseline_model text, corruptions text[], severities integer[],
		perturbations text[], difficulty integer, sample_size integer, seed bigint, k integer)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'siamese_report_begin'
	LANGUAGE C VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION siamese._report_begin(text, regclass, name, name, text, text, text[], integer[],
		text[], integer, integer, bigint, integer) IS
	'internal: validates report parameters (for the calling role) and inserts the run row in status running, as the report tables'' owner with run_by = the calling role; returns its id';

DROP FUNCTION siamese._report_finish(bigint, text, text);

CREATE OR REPLACE PROCEDURE siamese._run_report(kind text, source regclass, image_column name, label_column name,
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

-- ---------------------------------------------------------------------------
-- register_model refuses NULL arguments clearly; classify is C (a stable
-- softmax, a one-line error context)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION siamese.register_model(name text, weights bytea, config jsonb) RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cfg text := config::text;
	h text;
	existing text;
BEGIN
	IF name IS NULL OR weights IS NULL OR config IS NULL THEN
		RAISE EXCEPTION 'register_model arguments must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid model name "%"', name
			USING ERRCODE = 'invalid_name',
				DETAIL = 'A model name is 1 to 63 characters from a-z, 0-9, _ and -, starting with a letter or digit.';
	END IF;
	h := siamese.model_hash(cfg, weights);
	SELECT m.hash INTO existing FROM siamese.models m WHERE m.name = register_model.name;
	IF FOUND THEN
		IF existing = h THEN
			RETURN h;				-- same content: idempotent
		END IF;
		RAISE EXCEPTION 'model "%" already exists with different content', name
			USING ERRCODE = 'duplicate_object',
				DETAIL = format('Registered hash %s, new hash %s.', existing, h),
				HINT = 'Register the model under a new name.';
	END IF;
	-- models_guard validates the model and fills the derived columns.
	INSERT INTO siamese.models (name, config_text, weights, builtin, registered_by)
		VALUES (name, cfg, weights, false, session_user)
		RETURNING hash INTO h;
	RETURN h;
END
$$;
REVOKE EXECUTE ON FUNCTION siamese.register_model(text, bytea, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION siamese.register_model(text, bytea, jsonb) IS
	'registers a model (safetensors weights + JSON config) under a new name after full validation; returns its content hash; same name and content again is a no-op; NULL arguments are an error; superusers and roles granted EXECUTE only';

CREATE OR REPLACE FUNCTION siamese.classify(image bytea, support_table regclass, embedding_column name,
	label_column name, model text DEFAULT 'fashion', k integer DEFAULT 1,
	temperature double precision DEFAULT NULL)
	RETURNS TABLE (label text, probability double precision, distance double precision)
	-- Not SECURITY DEFINER: the support query runs with the caller's privileges
	-- (every name in it is quoted and schema-qualified).
	AS 'MODULE_PATHNAME', 'siamese_classify' LANGUAGE C STABLE PARALLEL RESTRICTED COST 2000 ROWS 10;
COMMENT ON FUNCTION siamese.classify(bytea, regclass, name, name, text, integer, double precision) IS
	'few-shot classification against a labelled support table: per label the mean of its k smallest distances to the image''s embedding, probabilities by a stable softmax(-distance / temperature) (temperature: argument, else the model''s quality.temperature or quality.fewshot_temperature, else 1; positive and finite); runs as the caller';
-- Training and fine-tuning Siamese models on a table's labelled images
-- (src/pg/nn/train_sql.c; docs/training.md).

CREATE FUNCTION siamese._train_model(name text, source regclass, image_column name, label_column name,
		base_model text, architecture text, epochs integer, loss text, margin float8,
		learning_rate float8, classes_per_batch integer, images_per_class integer,
		validation_fraction float8, seed bigint, head text, head_dim integer) RETURNS text
	AS 'MODULE_PATHNAME', 'siamese_train_model' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION siamese._train_model(text, regclass, name, name, text, text, integer, text, float8, float8,
		integer, integer, float8, bigint, text, integer) IS
	'the body of siamese.train_model: trains and registers a model as the caller, returns its hash';

CREATE PROCEDURE siamese.train_model(
		name text,
		source regclass,
		image_column name,
		label_column name,
		base_model text DEFAULT NULL,
		architecture text DEFAULT 'cnn',
		epochs integer DEFAULT 10,
		loss text DEFAULT 'batch_hard',
		margin float8 DEFAULT 0.2,
		learning_rate float8 DEFAULT 0.001,
		classes_per_batch integer DEFAULT 10,
		images_per_class integer DEFAULT 16,
		validation_fraction float8 DEFAULT 0.1,
		seed bigint DEFAULT 1,
		head text DEFAULT NULL,
		head_dim integer DEFAULT 128,
		INOUT model_hash text DEFAULT NULL)
	LANGUAGE plpgsql
AS $$
BEGIN
	-- On a Citus coordinator, registering the model distributes its dump copy
	-- (a function), which Citus refuses in a transaction that has read a
	-- distributed table over several connections per node: read the source
	-- over one connection per node instead (until the transaction ends), the
	-- nodes still in parallel.
	IF pg_catalog.current_setting('citus.max_adaptive_executor_pool_size', true) IS NOT NULL THEN
		PERFORM pg_catalog.set_config('citus.max_adaptive_executor_pool_size', '1', true);
	END IF;
	model_hash := siamese._train_model(name, source, image_column, label_column, base_model, architecture,
		epochs, loss, margin, learning_rate, classes_per_batch, images_per_class, validation_fraction, seed,
		head, head_dim);
END
$$;
COMMENT ON PROCEDURE siamese.train_model(text, regclass, name, name, text, text, integer, text, float8, float8,
		integer, integer, float8, bigint, text, integer, text) IS
	'trains a Siamese model (architecture cnn, mlp or mlp2d, or fine-tunes base_model, or with head mlp or linear trains only a projection head on the frozen base_model''s features) on a table''s labelled images as the caller, holds out a seeded validation_fraction, measures it and registers it under name; returns its hash';

CREATE FUNCTION siamese._train_features(image bytea, model text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_train_features' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION siamese._train_features(bytea, text) IS
	'internal: the image''s embedding by the model as float32 bytes, the features train_model trains a head on, NULL when the image cannot be decoded; run where the image is on a Citus table';

CREATE VIEW siamese.training_progress AS
SELECT a.pid, a.usename AS role, m[5] AS model, m[1]::integer AS epoch, m[2]::integer AS epochs,
       m[3]::integer AS step, m[4]::integer AS steps_per_epoch, a.query_start AS started
FROM pg_catalog.pg_stat_activity a,
     LATERAL pg_catalog.regexp_match(a.application_name, '^siamese train (\d+)/(\d+) (\d+)/(\d+) (.*)$') m
WHERE a.application_name LIKE 'siamese train %';
COMMENT ON VIEW siamese.training_progress IS
	'running siamese.train_model calls (from pg_stat_activity.application_name): model, epoch of epochs, step of steps_per_epoch; the model name is cut at 63 bytes less the numbers';
GRANT SELECT ON siamese.training_progress TO PUBLIC;

-- model_history_guard serialises history inserts (a parallel pg_restore
-- recorded the same name from two sessions).
CREATE OR REPLACE FUNCTION siamese.model_history_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	old_hash text;
BEGIN
	IF TG_OP = 'INSERT' THEN
		-- One history insert at a time, until its transaction ends: two
		-- sessions recording the same name (a parallel pg_restore copying
		-- models, whose trigger records each name, beside model_history
		-- itself) would otherwise both find it missing and collide on the key.
		PERFORM pg_catalog.pg_advisory_xact_lock(TG_RELID::integer, 0);
		SELECT h.hash INTO old_hash FROM siamese.model_history h WHERE h.name = NEW.name;
		IF NOT FOUND THEN
			RETURN NEW;
		ELSIF old_hash = NEW.hash THEN
			RETURN NULL;			-- already recorded (re-registration, restore)
		END IF;
		RAISE EXCEPTION 'model name "%" is already bound to different content', NEW.name
			USING ERRCODE = 'duplicate_object',
				DETAIL = format('The name was registered for content hash %s; a name is never re-bound, even after the model is deleted, so that embed() stays immutable.', old_hash),
				HINT = 'Register the model under a new name.';
	END IF;
	IF TG_TABLE_NAME = 'models' THEN
		RAISE EXCEPTION 'cannot truncate siamese.models'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				HINT = 'Delete the rows of user-registered models instead.';
	END IF;
	RAISE EXCEPTION 'siamese.model_history is append-only'
		USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
COMMENT ON FUNCTION siamese.model_history_guard() IS
	'trigger of siamese.model_history: skips exact duplicates (inserts serialised per database by an advisory lock on the table''s oid), refuses re-binding a name and any update, delete or truncate';

-- embed(image) becomes an overload of embed(image, model) instead of a
-- parameter default (see 50_models.sql: with the default, an expression index
-- on one spelling never served the other).  The C function keeps its oid, so
-- indexes, generated columns and views calling embed(image, model) are
-- untouched; only its default goes.  A stored expression that calls it with
-- the default filled in (one argument) still needs that default: those are
-- found by their input collation (0 when no text argument was given; an
-- explicit model makes it a text collation), and where any exists the
-- function keeps its default and the overload is not added.
DO $$
DECLARE
	f oid := 'siamese.embed(bytea, text)'::pg_catalog.regprocedure;
	one_arg_call text := '\{FUNCEXPR :funcid ' || f || ' [^{]*:inputcollid 0 ';
	users bigint;
BEGIN
	SELECT count(*) INTO users FROM (
		SELECT adbin::text AS tree FROM pg_catalog.pg_attrdef
		UNION ALL SELECT indexprs::text FROM pg_catalog.pg_index
		UNION ALL SELECT indpred::text FROM pg_catalog.pg_index
		UNION ALL SELECT ev_action::text FROM pg_catalog.pg_rewrite
		UNION ALL SELECT conbin::text FROM pg_catalog.pg_constraint
		UNION ALL SELECT prosqlbody::text FROM pg_catalog.pg_proc
		UNION ALL SELECT tgqual::text FROM pg_catalog.pg_trigger
		UNION ALL SELECT stxexprs::text FROM pg_catalog.pg_statistic_ext
		UNION ALL SELECT polqual::text FROM pg_catalog.pg_policy
		UNION ALL SELECT polwithcheck::text FROM pg_catalog.pg_policy
	) stored WHERE stored.tree ~ one_arg_call;
	IF users > 0 THEN
		-- a WARNING: an extension script shows its user nothing quieter
		RAISE WARNING 'siamese.embed(image, model) keeps its default model: % stored expression(s) call it as embed(image)', users
			USING DETAIL = 'An expression index on embed(image) then does not serve queries that spell out embed(image, ''fashion''), and the other way round.',
				HINT = 'Where an expression index is meant to serve both spellings, recreate it on embed(image, ''fashion''). embed(image) keeps working as in 0.1.0.';
		RETURN;
	END IF;
	UPDATE pg_catalog.pg_proc SET pronargdefaults = 0, proargdefaults = NULL WHERE oid = f;
	CREATE FUNCTION siamese.embed(image bytea) RETURNS siamese.embedding
		LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		RETURN siamese.embed(image, 'fashion'::pg_catalog.text);
	COMMENT ON FUNCTION siamese.embed(bytea) IS
		'embed(image, ''fashion''): the shipped default model; inlined, so an expression index on either spelling serves both';
END
$$;

-- classify_with: few-shot classification against examples given as arrays.
CREATE FUNCTION siamese.classify_with(image bytea, examples siamese.embedding[], labels text[],
	model text DEFAULT 'fashion', k integer DEFAULT 1, temperature double precision DEFAULT NULL)
	RETURNS TABLE (label text, probability double precision, distance double precision)
	AS 'MODULE_PATHNAME', 'siamese_classify_with' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 2000 ROWS 10;
COMMENT ON FUNCTION siamese.classify_with(bytea, siamese.embedding[], text[], text, integer, double precision) IS
	'few-shot classification against labelled examples given as parallel arrays (examples[i] has label labels[i]; pairs with a NULL are skipped): the rule of classify, but it reads no table, so it runs per row anywhere, on Citus workers too (aggregate the support set once, join it to the rows)';

-- Citus helpers (70_citus.sql): models distributed by Citus, per-shard index checks.
CREATE FUNCTION siamese._require_citus() RETURNS void
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'Citus is not installed in this database'
			USING ERRCODE = 'feature_not_supported',
				HINT = 'This function manages a Citus cluster; see docs/scale-out.md.';
	END IF;
END
$$;
COMMENT ON FUNCTION siamese._require_citus() IS
	'raises feature_not_supported unless the citus extension is installed in this database';

CREATE FUNCTION siamese.distribute_models() RETURNS integer
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fn regprocedure;
	known boolean;
	done integer := 0;
BEGIN
	PERFORM siamese._require_citus();
	FOR fn IN
		SELECT p.oid::regprocedure FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace
		JOIN siamese.models c ON c.name = p.proname::text AND NOT c.builtin
		WHERE n.nspname = 'siamese_models' AND p.pronargs = 0
		ORDER BY p.proname
	LOOP
		-- pg_dist_object lists the objects Citus keeps on every node
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object WHERE classid = $1 AND objid = $2)'
			INTO known USING 'pg_catalog.pg_proc'::regclass, fn::oid;
		CONTINUE WHEN known;
		EXECUTE 'SELECT pg_catalog.create_distributed_function($1)' USING fn;
		done := done + 1;
	END LOOP;
	RETURN done;
END
$$;
REVOKE EXECUTE ON FUNCTION siamese.distribute_models() FROM PUBLIC;
COMMENT ON FUNCTION siamese.distribute_models() IS
	'on a Citus coordinator: puts on every node the user-registered models that are not there yet (those registered before Citus was installed; later ones reach every node with their registration); returns how many it distributed; superusers only';

CREATE FUNCTION siamese.hnsw_check_shards(index regclass,
	OUT shard_index text, OUT node text, OUT port integer, OUT ok boolean, OUT report jsonb)
	RETURNS SETOF record
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	tbl regclass;
BEGIN
	PERFORM siamese._require_citus();
	SELECT i.indrelid INTO tbl FROM pg_index i WHERE i.indexrelid = hnsw_check_shards.index;
	IF NOT FOUND THEN
		RAISE EXCEPTION '"%" is not an index', index USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
			WHERE c.oid = hnsw_check_shards.index AND a.amname = 'siamese_hnsw') THEN
		RAISE EXCEPTION '"%" is not a siamese_hnsw index', index USING ERRCODE = 'wrong_object_type';
	END IF;
	-- Each placement's index is checked on its node, all nodes in parallel;
	-- Citus names a shard's index shard_name(index, shardid).
	RETURN QUERY EXECUTE $q$
		WITH placements AS (
			SELECT pl.nodename, pl.nodeport, pg_catalog.shard_name($1, s.shardid) AS shard_index
			FROM pg_catalog.pg_dist_shard s
			JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid
			JOIN pg_catalog.pg_dist_node pl ON pl.groupid = p.groupid AND pl.noderole = 'primary'
			WHERE s.logicalrelid = $2
			ORDER BY s.shardid, pl.nodename, pl.nodeport),
		runs AS (
			SELECT array_agg(nodename) AS nodes, array_agg(nodeport) AS ports,
				array_agg(pg_catalog.format('SELECT pg_catalog.row_to_json(c) FROM siamese.hnsw_check(%L) c',
					shard_index)) AS commands,
				array_agg(shard_index) AS names
			FROM placements)
		SELECT r.names[o.n], o.node_name, o.node_port,
			CASE WHEN o.success THEN (o.result::jsonb ->> 'ok')::boolean END,
			CASE WHEN o.success THEN o.result::jsonb ELSE pg_catalog.jsonb_build_object('error', o.result) END
		FROM runs r,
			pg_catalog.master_run_on_worker(r.nodes, r.ports, r.commands, true)
				WITH ORDINALITY AS o(node_name, node_port, success, result, n)
		ORDER BY 1$q$
		USING index, tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % of index % is not distributed by Citus', tbl, index
			USING ERRCODE = 'wrong_object_type',
				HINT = 'Check an index of a local table with siamese.hnsw_check().';
	END IF;
END
$$;
COMMENT ON FUNCTION siamese.hnsw_check_shards(regclass) IS
	'on a Citus coordinator: siamese.hnsw_check() of a distributed table''s siamese_hnsw index on every shard placement, run on the workers in parallel; one row per placement with ok (NULL when the check itself failed) and the full report (or the error) as jsonb';

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
CREATE FUNCTION siamese._train_pixels(image bytea, config text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_train_pixels' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION siamese._train_pixels(bytea, text) IS
	'internal: one image at the input size of a model configuration as the 8-bit pixels train_model caches, NULL when it cannot be decoded; run where the image is when train_model reads a Citus table';


-- predict and classify_ensemble: a model's own classifier, alone and with few-shot classify.
CREATE FUNCTION siamese.predict(image bytea, model text)
	RETURNS TABLE (label text, probability double precision)
	AS 'MODULE_PATHNAME', 'siamese_predict' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 2000 ROWS 10;
COMMENT ON FUNCTION siamese.predict(bytea, text) IS
	'the class probabilities of a model''s own classifier (its config''s "classifier": one proxy per class, probabilities softmax(scale * cosine of the image''s embedding with each proxy)), most probable first; models trained with loss softmax or cosface carry one';

CREATE FUNCTION siamese.classify_ensemble(image bytea, support_table regclass, embedding_column name,
	label_column name, model text, classifier text, classifier_weight double precision DEFAULT 0.5,
	k integer DEFAULT 1, temperature double precision DEFAULT NULL)
	RETURNS TABLE (label text, probability double precision, siamese_probability double precision,
		classifier_probability double precision)
	LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF classifier_weight IS NULL OR NOT (classifier_weight BETWEEN 0 AND 1) THEN
		RAISE EXCEPTION 'classifier_weight must be between 0 and 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- a label only one side knows gets probability 0 from the other
	RETURN QUERY
	SELECT coalesce(s.label, c.label),
	       (1 - classifier_weight) * coalesce(s.probability, 0) + classifier_weight * coalesce(c.probability, 0),
	       coalesce(s.probability, 0), coalesce(c.probability, 0)
	FROM siamese.classify(image, support_table, embedding_column, label_column, model, k, temperature) s
	FULL JOIN siamese.predict(image, classifier) c ON c.label = s.label
	ORDER BY 2 DESC, coalesce(s.label, c.label) COLLATE "C";
END
$$;
COMMENT ON FUNCTION siamese.classify_ensemble(bytea, regclass, name, name, text, text, double precision, integer, double precision) IS
	'few-shot classification (classify, with model, k and temperature) combined with a classifier model''s own probabilities (predict): per label (1 - classifier_weight) * the few-shot probability + classifier_weight * the classifier''s, a label missing on one side counting 0 there; runs as the caller';

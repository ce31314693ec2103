-- ---------------------------------------------------------------------------
-- 50_models.sql: the model catalog, model registration, embed / embed_batch,
-- the twin pass (pair_distance, same_item), few-shot classify, models(),
-- embedding_plot and blas_info.
-- C code: src/pg/nn/model_{catalog,cache,sql}.c, src/pg/nn/classify_sql.c,
-- src/pg/draw/embedding_plot.c.
-- See docs/sql-models.md.
--
-- Immutability contract: a model name is bound to one content hash forever.
-- siamese.model_history remembers every (name, hash) ever registered, even
-- after the model row is deleted, and refuses to bind a name to different
-- content; the catalog refuses updates of content columns.  That is what lets
-- embed() be IMMUTABLE although it reads a table.
-- ---------------------------------------------------------------------------

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

CREATE TABLE siamese.model_history (
	name text PRIMARY KEY,
	hash text NOT NULL,
	builtin boolean NOT NULL DEFAULT false,
	first_registered_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE siamese.model_history IS
	'append-only: every (model name, content hash) ever registered; a name is never re-bound to other content, even after the model is deleted';

-- pg_dump keeps user-registered models; shipped ones come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('siamese.models', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('siamese.model_history', 'WHERE NOT builtin');

REVOKE ALL ON siamese.models, siamese.model_history FROM PUBLIC;
GRANT SELECT ON siamese.models, siamese.model_history TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Validation (C): loads the model with the core exactly as embed() will.
-- ---------------------------------------------------------------------------

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

CREATE FUNCTION siamese.model_hash(config text, weights bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'siamese_model_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.model_hash(text, bytea) IS
	'content hash of a model: SHA-256(SHA-256(config) || SHA-256(weights)) in hex (no validation)';

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

-- ---------------------------------------------------------------------------
-- Guards
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.models_guard() RETURNS trigger
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

CREATE FUNCTION siamese.model_history_guard() RETURNS trigger
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

CREATE TRIGGER model_history_guard BEFORE INSERT OR UPDATE OR DELETE ON siamese.model_history
	FOR EACH ROW EXECUTE FUNCTION siamese.model_history_guard();
CREATE TRIGGER model_history_no_truncate BEFORE TRUNCATE ON siamese.model_history
	FOR EACH STATEMENT EXECUTE FUNCTION siamese.model_history_guard();
CREATE TRIGGER models_no_truncate BEFORE TRUNCATE ON siamese.models
	FOR EACH STATEMENT EXECUTE FUNCTION siamese.model_history_guard();

-- ---------------------------------------------------------------------------
-- Registration
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.register_model(name text, weights bytea, config jsonb) RETURNS text
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

CREATE FUNCTION siamese._load_shipped_models() RETURNS integer
	AS 'MODULE_PATHNAME', 'siamese_load_shipped_models' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION siamese._load_shipped_models() FROM PUBLIC;
COMMENT ON FUNCTION siamese._load_shipped_models() IS
	'inserts the models shipped in the extension''s share directory (<name>.json + <name>.safetensors) that are not in the catalog yet; run by CREATE EXTENSION; returns how many were added';

SELECT siamese._load_shipped_models();

-- ---------------------------------------------------------------------------
-- Embedding
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embed(image bytea, model text) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'siamese_embed' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION siamese.embed(bytea, text) IS
	'embedding of a PNG or JPEG image by the named model (preprocessed to the model''s input); immutable because a model name is bound to its content forever';
-- embed(image) is an overload, not a parameter default: PostgreSQL fills a
-- default in after parse analysis, so embed(img) and embed(img, 'fashion')
-- would differ in their input collation and an expression index on one
-- spelling would never serve the other (nor the query Citus sends a worker,
-- which spells the default out).  This SQL function is inlined by the
-- planner into embed(image, 'fashion'), the very expression of the explicit
-- call, in queries and in index expressions alike.
CREATE FUNCTION siamese.embed(image bytea) RETURNS siamese.embedding
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN siamese.embed(image, 'fashion'::pg_catalog.text);
COMMENT ON FUNCTION siamese.embed(bytea) IS
	'embed(image, ''fashion''): the shipped default model; inlined, so an expression index on either spelling serves both';

CREATE FUNCTION siamese.embed_batch(images bytea[], model text DEFAULT 'fashion') RETURNS siamese.embedding[]
	AS 'MODULE_PATHNAME', 'siamese_embed_batch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION siamese.embed_batch(bytea[], text) IS
	'embeddings of many images with batched forward passes (one GEMM per layer per chunk of images); NULL elements give NULL embeddings; equal to embed() on each image up to float rounding';

CREATE FUNCTION siamese.pair_distance(a bytea, b bytea, model text DEFAULT 'fashion') RETURNS double precision
	AS 'MODULE_PATHNAME', 'siamese_pair_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 2000;
COMMENT ON FUNCTION siamese.pair_distance(bytea, bytea, text) IS
	'the twin pass: both images through the same network, then the model''s distance (cosine distance or L2)';

CREATE FUNCTION siamese.same_item(a bytea, b bytea, model text DEFAULT 'fashion') RETURNS boolean
	AS 'MODULE_PATHNAME', 'siamese_same_item' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 2000;
COMMENT ON FUNCTION siamese.same_item(bytea, bytea, text) IS
	'true when pair_distance(a, b, model) <= the model''s calibrated threshold; error if the model has none';

-- ---------------------------------------------------------------------------
-- Listing and BLAS
-- ---------------------------------------------------------------------------

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

CREATE FUNCTION siamese.blas_info(OUT library text, OUT core text, OUT threads integer,
	OUT cpu text, OUT suggested_coretype text)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_blas_info' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.blas_info() IS
	'the BLAS library the backend runs the forward pass with, its kernel (core), threads, the best vector ISA of the CPU and, when a much faster OpenBLAS kernel exists for it, the OPENBLAS_CORETYPE value to set in the server''s environment';

-- ---------------------------------------------------------------------------
-- Few-shot classification
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.classify(image bytea, support_table regclass, embedding_column name,
	label_column name, model text DEFAULT 'fashion', k integer DEFAULT 1,
	temperature double precision DEFAULT NULL)
	RETURNS TABLE (label text, probability double precision, distance double precision)
	-- Not SECURITY DEFINER: the support query runs with the caller's privileges
	-- (every name in it is quoted and schema-qualified).
	AS 'MODULE_PATHNAME', 'siamese_classify' LANGUAGE C STABLE PARALLEL RESTRICTED COST 2000 ROWS 10;
COMMENT ON FUNCTION siamese.classify(bytea, regclass, name, name, text, integer, double precision) IS
	'few-shot classification against a labelled support table: per label the mean of its k smallest distances to the image''s embedding, probabilities by a stable softmax(-distance / temperature) (temperature: argument, else the model''s quality.temperature or quality.fewshot_temperature, else 1; positive and finite); runs as the caller';

CREATE FUNCTION siamese.classify_with(image bytea, examples siamese.embedding[], labels text[],
	model text DEFAULT 'fashion', k integer DEFAULT 1, temperature double precision DEFAULT NULL)
	RETURNS TABLE (label text, probability double precision, distance double precision)
	AS 'MODULE_PATHNAME', 'siamese_classify_with' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 2000 ROWS 10;
COMMENT ON FUNCTION siamese.classify_with(bytea, siamese.embedding[], text[], text, integer, double precision) IS
	'few-shot classification against labelled examples given as parallel arrays (examples[i] has label labels[i]; pairs with a NULL are skipped): the rule of classify, but it reads no table, so it runs per row anywhere, on Citus workers too (aggregate the support set once, join it to the rows)';

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

-- ---------------------------------------------------------------------------
-- Plot
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embedding_plot(embeddings siamese.embedding[], labels text[],
	title text DEFAULT NULL) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_embedding_plot' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION siamese.embedding_plot(siamese.embedding[], text[], text) IS
	'PNG scatter plot of embeddings coloured by label with a legend; embeddings of more than 2 dimensions are projected on their first two principal components';

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

CREATE FUNCTION siamese._train_pixels(image bytea, config text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_train_pixels' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION siamese._train_pixels(bytea, text) IS
	'internal: one image at the input size of a model configuration as the 8-bit pixels train_model caches, NULL when it cannot be decoded; run where the image is when train_model reads a Citus table';

CREATE VIEW siamese.training_progress AS
SELECT a.pid, a.usename AS role, m[5] AS model, m[1]::integer AS epoch, m[2]::integer AS epochs,
       m[3]::integer AS step, m[4]::integer AS steps_per_epoch, a.query_start AS started
FROM pg_catalog.pg_stat_activity a,
     LATERAL pg_catalog.regexp_match(a.application_name, '^siamese train (\d+)/(\d+) (\d+)/(\d+) (.*)$') m
WHERE a.application_name LIKE 'siamese train %';
COMMENT ON VIEW siamese.training_progress IS
	'running siamese.train_model calls (from pg_stat_activity.application_name): model, epoch of epochs, step of steps_per_epoch; the model name is cut at 63 bytes less the numbers';
GRANT SELECT ON siamese.training_progress TO PUBLIC;

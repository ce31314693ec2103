--
-- models: the model catalog, register_model, embed, embed_batch,
-- pair_distance, same_item, classify, models(), embedding_plot, blas_info.
--
-- Fixture: a tiny model made for this test (conv 1->2 k3 p1, relu, maxpool 2,
-- flatten, linear 32->4, l2norm on 8x8 gray input, mean 0.5, std 0.25) with
-- weights w[i] = ((37 i + 11 s) mod 17 - 8) / 16 (s = 1 for conv1, 2 for fc).
-- The expected embeddings were computed independently by a pure-Python
-- forward pass of the same network:
--   a = [0.7216, 0.1297, -0.1518, 0.6629]   b = [0.7280, 0.1303, -0.1505, 0.6560]
--   c = [-0.5059, -0.4896, 0.0218, 0.7099]  d = [0.5446, 0.2712, -0.3533, 0.7107]
--   cosine distance a-b 0.0000, a-c 0.9613, a-d 0.0471, c-d 0.9115; L2 a-c 1.3866
-- Nothing here depends on the shipped models (they change as they are
-- retrained); test/t/020_models.pl checks those.
--
SET search_path = siamese, public;
\set SHOW_CONTEXT never

-- Runs a statement, returns 'ok' or its SQLSTATE and message.
CREATE FUNCTION public.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

CREATE TABLE model_fixture (name text PRIMARY KEY, img bytea);
INSERT INTO model_fixture VALUES
('a', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000020406080a0c0e0000424446484a4c4e4000828486888a8c8e8000c2c4c6c8cacccec001030507090b0d0f0001434547494b4d4f4001838587898b8d8f8001c3c5c7c9cbcdcfc15441f812b73f7650000000049454e44ae426082', 'hex')),
('b', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000323436383a3c3e3000727476787a7c7e7000b2b4b6b8babcbeb000f2f4f6f8fafcfef001333537393b3d3f3001737577797b7d7f7001b3b5b7b9bbbdbfb001f3f5f7f9fbfdfff3044204165621cfd0000000049454e44ae426082', 'hex')),
('c', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000001049444154789c6360f88f0619c81201007c041fe11217041e0000000049454e44ae426082', 'hex')),
('d', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000002349444154789c63608001152860f08002861c28609800050c5ba080e1061430fc810200c5261f81df2000550000000049454e44ae426082', 'hex'));
CREATE TABLE model_fixture_weights AS
SELECT decode('10010000000000007b22636f6e76312e776569676874223a7b226474797065223a22463332222c227368617065223a5b322c312c332c335d2c22646174615f6f666673657473223a5b302c37325d7d2c22636f6e76312e62696173223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b37322c38305d7d2c2266632e776569676874223a7b226474797065223a22463332222c227368617065223a5b342c33325d2c22646174615f6f666673657473223a5b38302c3539325d7d2c2266632e62696173223a7b226474797065223a22463332222c227368617065223a5b345d2c22646174615f6f666673657473223a5b3539322c3630385d7d7d2020202020200000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000003e000080bd000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e000000000000803e000080be0000003f', 'hex') AS w,
	'{"name": "tiny", "format_version": 1, "input": {"channels": 1, "height": 8, "width": 8, "mean": [0.5], "std": [0.25]}, "layers": [{"type": "conv2d", "name": "conv1", "in": 1, "out": 2, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "name": "fc", "in": 32, "out": 4}, {"type": "l2norm"}], "embedding_dim": 4, "distance": "cosine", "threshold": 0.5, "quality": {"temperature": 0.1, "note": "test fixture"}}'::jsonb AS cfg,
	'{"name": "tiny-l2", "format_version": 1, "input": {"channels": 1, "height": 8, "width": 8, "mean": [0.5], "std": [0.25]}, "layers": [{"type": "conv2d", "name": "conv1", "in": 1, "out": 2, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "name": "fc", "in": 32, "out": 4}, {"type": "l2norm"}], "embedding_dim": 4, "distance": "l2"}'::jsonb AS cfg_l2;

-- register: returns the content hash; same name + content again is a no-op
SELECT length(register_model('tiny', w, cfg)) AS hash_len FROM model_fixture_weights;
SELECT register_model('tiny', w, cfg) = (SELECT hash FROM models WHERE name = 'tiny') AS idempotent
FROM model_fixture_weights;
SELECT register_model('tiny-l2', w, cfg_l2) = model_hash(cfg_l2::text, w) AS hash_matches
FROM model_fixture_weights;
SELECT name, dims, distance, threshold, input, params, builtin, quality, registered_by = session_user AS by_me
FROM models() WHERE NOT builtin ORDER BY name;
SELECT name, hash = siamese.model_hash(config_text, weights) AS hash_ok, config->>'name' AS config_name
FROM siamese.models WHERE NOT builtin ORDER BY name;
SELECT name, hash = (SELECT hash FROM siamese.models m WHERE m.name = h.name) AS same
FROM siamese.model_history h WHERE NOT builtin ORDER BY name;

-- embed: values against the independent reference (first use: hide the
-- machine-dependent BLAS kernel warning, issued once per backend)
SET client_min_messages = error;
SELECT dims(embed(img, 'tiny')) FROM model_fixture WHERE name = 'a';
RESET client_min_messages;
SELECT name, (SELECT array_agg(round(v::numeric, 4)) FROM unnest(embed(img, 'tiny')::real[]) v) AS e
FROM model_fixture ORDER BY name;
-- l2-normalised
SELECT name, round(norm(embed(img, 'tiny'))::numeric, 5) FROM model_fixture ORDER BY name;
-- the same weights under another name give the same embeddings
SELECT bool_and(embed(img, 'tiny') = embed(img, 'tiny-l2')) FROM model_fixture;
-- any image size and channel count is preprocessed to 8x8 gray
SELECT dims(embed(decode('89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b0770000000049454e44ae426082', 'hex'), 'tiny'));
SELECT dims(embed(to_png(corrupt(img, 'gaussian_noise', 1, 7)), 'tiny')) FROM model_fixture WHERE name = 'a';

-- batch form equals the single form
SELECT array_length(embed_batch(array_agg(img ORDER BY name), 'tiny'), 1) FROM model_fixture;
SELECT bool_and(round(l2_distance(b.e, embed(f.img, 'tiny'))::numeric, 6) = 0) AS batch_equals_single
FROM (SELECT unnest(embed_batch(array_agg(img ORDER BY name), 'tiny')) AS e,
			 unnest(array_agg(name ORDER BY name)) AS name FROM model_fixture) b
JOIN model_fixture f USING (name);
-- 300 images: several workspace batches
SELECT count(*), bool_and(round(l2_distance(x.e, embed(f.img, 'tiny'))::numeric, 6) = 0)
FROM (SELECT e, ord FROM unnest(embed_batch(
	(SELECT array_agg(img ORDER BY g, name) FROM model_fixture, generate_series(1, 75) g), 'tiny'))
	WITH ORDINALITY AS u(e, ord)) x
JOIN (SELECT img, row_number() OVER (ORDER BY g, name) AS ord
	  FROM model_fixture, generate_series(1, 75) g) f USING (ord);
-- NULL elements stay NULL, empty arrays stay empty
SELECT e IS NULL AS is_null FROM unnest(embed_batch(ARRAY[NULL, (SELECT img FROM model_fixture WHERE name = 'a')], 'tiny')) e;
SELECT embed_batch('{}'::bytea[], 'tiny');

-- twin pass
SELECT a.name, b.name, round(pair_distance(a.img, b.img, 'tiny')::numeric, 4) AS cosine,
	round(pair_distance(a.img, b.img, 'tiny-l2')::numeric, 4) AS l2,
	same_item(a.img, b.img, 'tiny') AS same
FROM model_fixture a, model_fixture b WHERE a.name < b.name ORDER BY 1, 2;
-- agrees with the distance operators on embeddings
SELECT round((pair_distance(a.img, b.img, 'tiny') - (embed(a.img, 'tiny') <=> embed(b.img, 'tiny')))::numeric, 6) AS diff
FROM model_fixture a, model_fixture b WHERE a.name = 'a' AND b.name = 'c';

-- a zero embedding (the fixture's layout with all-zero weights): pair_distance
-- equals the operators exactly, NaN under cosine (the angle is undefined) and
-- 0 under l2; same_item is false (NaN <= threshold is false, as in SQL)
SELECT register_model('zero', substr(w, 1, 280) || decode(repeat('00', 608), 'hex'), cfg) IS NOT NULL AS zero,
	register_model('zero-l2', substr(w, 1, 280) || decode(repeat('00', 608), 'hex'),
		cfg_l2 || '{"threshold": 0.5}') IS NOT NULL AS zero_l2
FROM model_fixture_weights;
SELECT embed(img, 'zero') AS e, norm(embed(img, 'zero')) FROM model_fixture WHERE name = 'a';
SELECT pair_distance(a.img, b.img, 'zero') AS cosine,
	embed(a.img, 'zero') <=> embed(b.img, 'zero') AS op_cosine,
	pair_distance(a.img, b.img, 'zero') = (embed(a.img, 'zero') <=> embed(b.img, 'zero')) AS agree,
	pair_distance(a.img, b.img, 'zero-l2') AS l2,
	embed(a.img, 'zero-l2') <-> embed(b.img, 'zero-l2') AS op_l2,
	same_item(a.img, b.img, 'zero') AS same_cosine,
	(pair_distance(a.img, b.img, 'zero') <= 0.5) AS sql_same_cosine,
	same_item(a.img, b.img, 'zero-l2') AS same_l2
FROM model_fixture a, model_fixture b WHERE a.name = 'a' AND b.name = 'c';

-- classify against a small support table (quoted identifiers)
CREATE TABLE "Support Set" ("Emb" embedding(4), "Label" text);
INSERT INTO "Support Set"
SELECT embed(img, 'tiny'), CASE WHEN name IN ('a', 'b') THEN 'ramp' WHEN name = 'c' THEN 'checker' ELSE 'stripes' END
FROM model_fixture;
SELECT label, round(probability::numeric, 4) AS p, round(distance::numeric, 4) AS d
FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Emb', 'Label', 'tiny');
-- softmax check: p(stripes) = exp(-0.0471/0.1) / (1 + exp(-0.0471/0.1) + exp(-0.9613/0.1))
SELECT round((exp(-0.47126) / (1 + exp(-0.47126) + exp(-9.6130)))::numeric, 3) AS expected_stripes;
-- k = 2 averages the two nearest of each label; an explicit temperature
SELECT label, round(probability::numeric, 4) AS p, round(distance::numeric, 4) AS d
FROM classify((SELECT img FROM model_fixture WHERE name = 'd'), '"Support Set"', 'Emb', 'Label', 'tiny', 2, 1.0);
SELECT round(sum(probability)::numeric, 6)
FROM classify((SELECT img FROM model_fixture WHERE name = 'c'), '"Support Set"', 'Emb', 'Label', 'tiny-l2');
SELECT try($$SELECT * FROM classify('\x00', '"Support Set"', 'Emb', 'Label', 'tiny', 0)$$);
SELECT try($$SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'nope', 'Label', 'tiny')$$);
SELECT try($$SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), 'no_such_table', 'Emb', 'Label', 'tiny')$$);
-- temperature: NaN is refused like 0, negative values and Infinity
SELECT t, try(format('SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = %L), %L, %L, %L, %L, 1, %L)',
	'a', '"Support Set"', 'Emb', 'Label', 'tiny', t)) AS result
FROM unnest(ARRAY['NaN', '0', '-1', 'Infinity']::float8[]) t;
-- a zero query embedding under cosine: every distance and probability is NaN;
-- a label whose only support embedding is zero gets probability 0
SELECT label, probability, distance FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Emb', 'Label', 'zero');
CREATE TABLE support_zero AS SELECT * FROM "Support Set" UNION ALL SELECT '[0,0,0,0]', 'zero';
SELECT label, round(probability::numeric, 4) AS p, round(distance::numeric, 4) AS d
FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), 'support_zero', 'Emb', 'Label', 'tiny');
DROP TABLE support_zero;
-- extreme temperatures: a stable softmax (smallest distance weight 1, weights
-- below the double range 0, never an underflow or overflow error)
SELECT t, label, round(probability::numeric, 4) AS p, probability > 0 AS positive, round(distance::numeric, 4) AS d
FROM unnest(ARRAY[0.001, 1e-300, 5e-324, 1e300, 1.7e308]::float8[]) t,
	classify((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Emb', 'Label', 'tiny', 1, t)
ORDER BY t, d, label;
-- a single row at a tiny temperature
CREATE TABLE support_one AS SELECT * FROM "Support Set" WHERE "Label" = 'checker';
SELECT label, probability FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), 'support_one', 'Emb', 'Label', 'tiny', 1, 1e-300);
-- errors in the support query carry a one-line context, not the internal query
\set SHOW_CONTEXT always
SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'nope', 'Label', 'tiny');
SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Label', 'Label', 'tiny');
CREATE TABLE support_3d (e embedding, l text, i integer);
INSERT INTO support_3d VALUES ('[1,2,3]', 'x', 1);
SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), 'support_3d', 'e', 'l', 'tiny');
SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = 'a'), 'support_3d', 'i', 'l', 'tiny');
\set SHOW_CONTEXT never
DROP TABLE support_one, support_3d;

-- embedding_plot: PNG with PCA (4 -> 2 dims), 2-d as is, NULLs skipped
SELECT format, width, height, channels
FROM image_info(embedding_plot(
	(SELECT array_agg(embed(img, 'tiny') ORDER BY name) FROM model_fixture),
	ARRAY['ramp', 'ramp', 'checker', 'stripes'], 'tiny model'));
SELECT width FROM image_info(embedding_plot(ARRAY['[1,2]', '[3,1]', NULL]::embedding[], ARRAY['x', NULL, 'y']));
SELECT embedding_plot(NULL, ARRAY['x']) IS NULL AS null_in_null_out;
SELECT try($$SELECT embedding_plot(ARRAY['[1,2]']::embedding[], ARRAY['a', 'b'])$$);
SELECT try($$SELECT embedding_plot(ARRAY['[1,2]', '[1,2,3]']::embedding[], ARRAY['a', 'b'])$$);
SELECT try($$SELECT embedding_plot(ARRAY[NULL]::embedding[], ARRAY['a'])$$);

-- blas_info
SELECT library LIKE 'OpenBLAS%' AS openblas, core <> '' AS has_core, threads, cpu IN ('avx512', 'avx2', 'baseline') AS cpu_ok
FROM blas_info();

-- errors: unknown model (hint lists models), bad images, NULLs (STRICT)
SELECT try($$SELECT embed((SELECT img FROM model_fixture WHERE name = 'a'), 'no-such-model')$$);
DO $$
DECLARE h text;
BEGIN
	PERFORM siamese.embed('\x00', 'no-such-model');
EXCEPTION WHEN undefined_object THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RAISE NOTICE 'hint lists the models: %', h LIKE 'Available models: %tiny, tiny-l2%';
END
$$;
SELECT try($$SELECT embed('\x0102', 'tiny')$$);
SELECT try($$SELECT pair_distance('\x0102', '\x0102', 'tiny')$$);
SELECT try($$SELECT embed_batch(ARRAY['\x0102'::bytea], 'tiny')$$);
SELECT try($$SELECT embed_batch('{{"\\x01"},{"\\x02"}}'::bytea[], 'tiny')$$);
SELECT embed(NULL, 'tiny') IS NULL AS a, embed('\x00', NULL) IS NULL AS b, pair_distance(NULL, '\x00') IS NULL AS c;
-- same_item needs a calibrated threshold
SELECT try($$SELECT same_item((SELECT img FROM model_fixture WHERE name = 'a'), (SELECT img FROM model_fixture WHERE name = 'b'), 'tiny-l2')$$);

-- errors: registration
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'Bad Name', w, cfg)) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'bad-weights', '\x00'::bytea, cfg)) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'bad-weights', substr(w, 1, 100), cfg)) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'bad-config', w, jsonb_set(cfg, '{embedding_dim}', '5'))) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'bad-config', w, cfg || '{"colour": "blue"}')) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'bad-config', w, jsonb_set(cfg, '{format_version}', '3'))) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'bad-config', w, '[]')) FROM model_fixture_weights;
-- NULL arguments: a clear error (22004), as register_onnx_model gives
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', NULL, w, cfg)) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'null-weights', NULL, cfg)) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'null-config', w, NULL)) FROM model_fixture_weights;
-- a model whose embeddings the embedding type cannot hold (more than 16000
-- dimensions) is refused at registration; 16000 registers and embeds.
-- wide_model(n): 1x1 gray input, flatten, linear 1 -> n, zero weights.
CREATE FUNCTION pg_temp.wide_model(n integer, OUT cfg jsonb, OUT w bytea) LANGUAGE sql AS $$
	SELECT jsonb_build_object('name', 'wide', 'format_version', 1,
			'input', jsonb_build_object('channels', 1, 'height', 1, 'width', 1),
			'layers', jsonb_build_array(jsonb_build_object('type', 'flatten'),
				jsonb_build_object('type', 'linear', 'name', 'fc', 'in', 1, 'out', n)),
			'embedding_dim', n, 'distance', 'l2'),
		decode(lpad(to_hex(length(h) % 256), 2, '0') || lpad(to_hex(length(h) / 256), 2, '0') || '000000000000', 'hex')
			|| convert_to(h, 'UTF8') || decode(repeat('00', 8 * n), 'hex')
	FROM (SELECT rpad(h0, (length(h0) + 7) / 8 * 8) AS h
		  FROM format('{"fc.weight":{"dtype":"F32","shape":[%s,1],"data_offsets":[0,%s]},"fc.bias":{"dtype":"F32","shape":[%s],"data_offsets":[%s,%s]}}',
					  n, 4 * n, n, 4 * n, 8 * n) h0) x
$$;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'wide-16001', w, cfg)) FROM pg_temp.wide_model(16001);
SELECT register_model('wide-16000', w, cfg) IS NOT NULL AS registered FROM pg_temp.wide_model(16000);
SELECT dims(embed((SELECT img FROM model_fixture WHERE name = 'a'), 'wide-16000'));
-- non-finite weights: batch-norm statistics whose folded weights overflow
-- float32 are refused at registration naming the model and the layer; weights
-- that overflow on an image fail embed naming the model, not the type.
-- st(tensors): safetensors bytes of [[name, shape, values], ...] (float32)
CREATE FUNCTION pg_temp.st(t jsonb) RETURNS bytea LANGUAGE sql AS $$
	WITH e AS (
		SELECT o, x->>0 AS name, x->1 AS shape,
			(SELECT coalesce(string_agg(decode(substr(h, 7, 2) || substr(h, 5, 2) || substr(h, 3, 2) || substr(h, 1, 2), 'hex'), '' ORDER BY i), '')
			 FROM jsonb_array_elements_text(x->2) WITH ORDINALITY v(val, i),
				  LATERAL encode(float4send(val::real), 'hex') h) AS data
		FROM jsonb_array_elements(t) WITH ORDINALITY a(x, o)
	), off AS (
		SELECT *, coalesce(sum(length(data)) OVER (ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS start
		FROM e
	), hdr AS (
		SELECT (SELECT '{' || string_agg(format('"%s":{"dtype":"F32","shape":%s,"data_offsets":[%s,%s]}',
					name, shape, start, start + length(data)), ',' ORDER BY o) || '}' FROM off) AS h0
	), h AS (SELECT rpad(h0, (length(h0) + 7) / 8 * 8) AS h FROM hdr)
	SELECT decode(lpad(to_hex(length(h) % 256), 2, '0') || lpad(to_hex(length(h) / 256), 2, '0') || '000000000000', 'hex')
		|| convert_to(h, 'UTF8') || (SELECT string_agg(data, '' ORDER BY o) FROM off)
	FROM h
$$;
CREATE TABLE bn_models AS
SELECT '{"name": "bn", "format_version": 1, "input": {"channels": 1, "height": 2, "width": 2},
	"layers": [{"type": "conv2d", "name": "conv1", "in": 1, "out": 1, "kernel": 1},
		{"type": "batchnorm", "name": "bn1"}, {"type": "flatten"}], "embedding_dim": 4, "distance": "l2"}'::jsonb AS cfg,
	pg_temp.st('[["conv1.weight", [1,1,1,1], [1]], ["conv1.bias", [1], [0.1]], ["bn1.weight", [1], [3e38]],
		["bn1.bias", [1], [0]], ["bn1.running_mean", [1], [0]], ["bn1.running_var", [1], [1e-45]]]') AS w_overflow,
	pg_temp.st('[["conv1.weight", [1,1,1,1], [1]], ["conv1.bias", [1], [0.1]], ["bn1.weight", [1], [1]],
		["bn1.bias", [1], [0]], ["bn1.running_mean", [1], [0]], ["bn1.running_var", [1], [1]]]') AS w_ok,
	pg_temp.st('[["conv1.weight", [1,1,1,1], [3e38]], ["conv1.bias", [1], [3e38]], ["bn1.weight", [1], [1]],
		["bn1.bias", [1], [0]], ["bn1.running_mean", [1], [0]], ["bn1.running_var", [1], [1]]]') AS w_huge;
SELECT register_model('bn-ok', w_ok, cfg) IS NOT NULL AS bn_ok FROM bn_models;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'bn-overflow', w_overflow, cfg)) FROM bn_models;
DO $$
DECLARE c text;
BEGIN
	PERFORM siamese.register_model('bn-overflow', w_overflow, cfg) FROM bn_models;
EXCEPTION WHEN invalid_parameter_value THEN
	GET STACKED DIAGNOSTICS c = PG_EXCEPTION_CONTEXT;
	RAISE NOTICE 'context names the model: %', c LIKE 'validating model "bn-overflow"%';
END
$$;
SELECT register_model('bn-huge', w_huge, cfg) IS NOT NULL AS bn_huge FROM bn_models;
SELECT try($$SELECT embed((SELECT img FROM model_fixture WHERE name = 'b'), 'bn-huge')$$);
DROP TABLE bn_models;
-- a name taken by different content
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'tiny', w, cfg_l2)) FROM model_fixture_weights;
-- nothing of the failed registrations was kept
SELECT count(*) FROM models WHERE name LIKE 'bad%';
SELECT count(*) FROM model_history WHERE name LIKE 'bad%';

-- the catalog refuses content changes; description may change
SELECT try($$UPDATE siamese.models SET weights = weights || '\x00'::bytea WHERE name = 'tiny'$$);
SELECT try($$UPDATE siamese.models SET hash = 'x' WHERE name = 'tiny'$$);
SELECT try($$UPDATE siamese.models SET config_text = config_text || ' ' WHERE name = 'tiny'$$);
SELECT try($$UPDATE siamese.models SET name = 'tiny2' WHERE name = 'tiny'$$);
UPDATE siamese.models SET description = 'test fixture' WHERE name = 'tiny';
SELECT description FROM models() WHERE name = 'tiny';
SELECT try($$UPDATE siamese.model_history SET hash = 'x' WHERE name = 'tiny'$$);
SELECT try($$DELETE FROM siamese.model_history WHERE name = 'tiny'$$);
SELECT try($$TRUNCATE siamese.model_history$$);
SELECT try($$TRUNCATE siamese.models$$);
-- (shipped models may or may not be installed)
SELECT NOT EXISTS (SELECT FROM models WHERE builtin)
	OR try($$DELETE FROM siamese.models WHERE builtin$$) LIKE '55000: cannot delete shipped model%' AS builtin_kept;
-- direct INSERT is validated by the trigger too
SELECT try(format('INSERT INTO siamese.models (name, config_text, weights) VALUES (%L, %L, %L::bytea)', 'direct', cfg::text, '\x00'::bytea)) FROM model_fixture_weights;
SELECT try(format('INSERT INTO siamese.models (name, config_text, weights) VALUES (%L, %L, %L::bytea)', 'direct', NULL, w)) FROM model_fixture_weights;

-- a deleted model stops working at the next statement in this backend,
-- and its name can only come back with the same content
DELETE FROM siamese.models WHERE name = 'tiny-l2';
SELECT try($$SELECT embed((SELECT img FROM model_fixture WHERE name = 'a'), 'tiny-l2')$$);
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'tiny-l2', w, cfg)) FROM model_fixture_weights;
SELECT register_model('tiny-l2', w, cfg_l2) = model_hash(cfg_l2::text, w) AS back FROM model_fixture_weights;
SELECT round(pair_distance(a.img, b.img, 'tiny-l2')::numeric, 4)
FROM model_fixture a, model_fixture b WHERE a.name = 'a' AND b.name = 'c';

-- privileges: register_model is not for PUBLIC; a granted role may use it
CREATE ROLE regress_model_user;
GRANT USAGE ON SCHEMA siamese TO regress_model_user;
GRANT SELECT ON model_fixture, model_fixture_weights, "Support Set" TO regress_model_user;
SET ROLE regress_model_user;
SELECT try(format('SELECT siamese.register_model(%L, %L::bytea, %L::jsonb)', 'mine', w, cfg)) FROM model_fixture_weights;
SELECT try($$INSERT INTO siamese.models (name, config_text, weights) VALUES ('mine', '{}', '\x00')$$);
SELECT try($$DELETE FROM siamese.models$$);
-- but everyone can embed and classify
SELECT round(pair_distance(a.img, b.img, 'tiny')::numeric, 4)
FROM model_fixture a, model_fixture b WHERE a.name = 'a' AND b.name = 'd';
SELECT label FROM classify((SELECT img FROM model_fixture WHERE name = 'c'), '"Support Set"', 'Emb', 'Label', 'tiny') LIMIT 1;
RESET ROLE;
GRANT EXECUTE ON FUNCTION register_model(text, bytea, jsonb) TO regress_model_user;
SET ROLE regress_model_user;
SELECT register_model('tiny-granted', w, cfg) = model_hash(cfg::text, w) AS ok FROM model_fixture_weights;
RESET ROLE;
SELECT name, registered_by FROM models WHERE name = 'tiny-granted';
-- classify runs with the caller's privileges
REVOKE SELECT ON "Support Set" FROM regress_model_user;
SET ROLE regress_model_user;
SELECT try($$SELECT * FROM siamese.classify((SELECT img FROM model_fixture WHERE name = 'c'), '"Support Set"', 'Emb', 'Label', 'tiny')$$);
RESET ROLE;

-- IMMUTABLE: usable in generated columns and index expressions
CREATE TABLE model_gen (name text, img bytea,
	e embedding(4) GENERATED ALWAYS AS (embed(img, 'tiny')) STORED);
INSERT INTO model_gen (name, img) SELECT name, img FROM model_fixture;
CREATE INDEX model_gen_expr ON model_gen ((dims(embed(img, 'tiny'))));
SELECT name, round((e <=> embed(img, 'tiny'))::numeric, 6) AS same FROM model_gen ORDER BY name;
DROP TABLE model_gen;

-- cleanup (model_history keeps the names for good)
DELETE FROM siamese.models WHERE NOT builtin;
DROP TABLE "Support Set", model_fixture, model_fixture_weights;
REVOKE ALL ON SCHEMA siamese FROM regress_model_user;
REVOKE EXECUTE ON FUNCTION register_model(text, bytea, jsonb) FROM regress_model_user;
DROP ROLE regress_model_user;
DROP FUNCTION public.try(text);
SELECT name FROM model_history WHERE NOT builtin ORDER BY name;

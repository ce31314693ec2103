--
-- models: the model catalog, register_model, embed, embed_batch,
-- pair_distance, same_item, classify, predict, classify_ensemble, models(),
-- embedding_plot, blas_info.
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

-- embed: values against the independent reference (first use: the
-- machine-dependent BLAS kernel advice is a server LOG now; kept quiet anyway)
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
-- classify_with: the same rule over examples given as arrays (no table read)
CREATE TABLE support_arrays AS
SELECT array_agg("Emb" ORDER BY "Label", "Emb") AS e, array_agg("Label" ORDER BY "Label", "Emb") AS l FROM "Support Set";
SELECT bool_and(w.label = c.label AND w.probability = c.probability AND w.distance = c.distance) AS same_as_classify,
	count(*) AS labels
FROM model_fixture f, support_arrays s,
	LATERAL (SELECT row_number() OVER () AS r, * FROM classify_with(f.img, s.e, s.l, 'tiny', 2)) w
	JOIN LATERAL (SELECT row_number() OVER () AS r, * FROM classify(f.img, '"Support Set"', 'Emb', 'Label', 'tiny', 2)) c ON c.r = w.r;
-- and on an l2 model, whose distances are Euclidean (not the squared ranking distance)
SELECT bool_and(w.label = c.label AND w.probability = c.probability AND w.distance = c.distance) AS same_as_classify_l2,
	count(*) AS labels
FROM model_fixture f, support_arrays s,
	LATERAL (SELECT row_number() OVER () AS r, * FROM classify_with(f.img, s.e, s.l, 'tiny-l2', 2)) w
	JOIN LATERAL (SELECT row_number() OVER () AS r, * FROM classify(f.img, '"Support Set"', 'Emb', 'Label', 'tiny-l2', 2)) c ON c.r = w.r;
SELECT label, round(probability::numeric, 4) AS p, round(distance::numeric, 4) AS d
FROM support_arrays s, classify_with((SELECT img FROM model_fixture WHERE name = 'a'), s.e, s.l, 'tiny');
-- pairs with a NULL are skipped; no examples, no rows; NULL arguments, no rows
SELECT label, round(distance::numeric, 4) AS d
FROM classify_with((SELECT img FROM model_fixture WHERE name = 'a'),
	ARRAY[NULL, '[1,0,0,0]', '[0,1,0,0]']::embedding[], ARRAY['x', NULL, 'y'], 'tiny');
SELECT count(*) FROM classify_with((SELECT img FROM model_fixture WHERE name = 'a'), '{}', '{}', 'tiny');
SELECT count(*) FROM classify_with(NULL, '{}', '{}', 'tiny');
SELECT try($$SELECT * FROM classify_with('\x00', '{}', '{}', 'tiny', 0)$$);
SELECT try($$SELECT * FROM classify_with((SELECT img FROM model_fixture WHERE name = 'a'), ARRAY['[1,0,0,0]']::embedding[], ARRAY['x', 'y'], 'tiny')$$);
SELECT try($$SELECT * FROM classify_with((SELECT img FROM model_fixture WHERE name = 'a'), ARRAY['[1,0,0]']::embedding[], ARRAY['x'], 'tiny')$$);
SELECT try($$SELECT * FROM classify_with((SELECT img FROM model_fixture WHERE name = 'a'), ARRAY[['[1,0,0,0]']]::embedding[], ARRAY[['x']], 'tiny')$$);
SELECT try($$SELECT * FROM classify_with((SELECT img FROM model_fixture WHERE name = 'a'), '{}', '{}', 'no-such-model')$$);
DROP TABLE support_arrays;
-- temperature: NaN is refused like 0, negative values and Infinity
SELECT t, try(format('SELECT * FROM classify((SELECT img FROM model_fixture WHERE name = %L), %L, %L, %L, %L, 1, %L)',
	'a', '"Support Set"', 'Emb', 'Label', 'tiny', t)) AS result
FROM unnest(ARRAY['NaN', '0', '-1', 'Infinity']::float8[]) t;
-- predict: a model's own classifier.  tiny-clf is tiny with a classifier of
-- four classes whose proxies lie along the four axes (the first given at
-- length 2: proxies count by direction), so with tiny's unit embeddings e the
-- cosines are e's components and p(class k) = exp(10 e_k) / sum_j exp(10 e_j)
SELECT register_model('tiny-clf', w, cfg || '{"name": "tiny-clf", "classifier": {"kind": "cosine", "scale": 10,
	"classes": ["x", "ramp", "checker", "other"], "proxies": [[2, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]}}') IS NOT NULL AS registered
FROM model_fixture_weights;
SELECT label, round(probability::numeric, 4) AS p FROM predict((SELECT img FROM model_fixture WHERE name = 'a'), 'tiny-clf');
SELECT bool_and(abs(p.probability - exp(10 * e[k]) / (SELECT sum(exp(10 * v)) FROM unnest(e) v)) < 1e-6) AS by_hand, count(*)
FROM model_fixture f, LATERAL (SELECT embed(f.img, 'tiny')::real[]::float8[] AS e) x,
	LATERAL predict(f.img, 'tiny-clf') p
	JOIN (VALUES ('x', 1), ('checker', 2), ('other', 3), ('ramp', 4)) AS axis(label, k) USING (label);
SELECT count(*) FROM predict(NULL, 'tiny-clf');
SELECT try($$SELECT * FROM predict((SELECT img FROM model_fixture WHERE name = 'a'), 'tiny')$$);
-- a classifier is checked at registration: one proxy per class, of the embedding's dimension
SELECT try(format('SELECT register_model(%L, %L, %L)', 'bad-clf', w, cfg || '{"name": "bad-clf", "classifier": {"kind": "cosine",
	"scale": 10, "classes": ["x", "y"], "proxies": [[1, 0, 0], [0, 1, 0]]}}')) FROM model_fixture_weights;
SELECT try(format('SELECT register_model(%L, %L, %L)', 'bad-clf', w, cfg || '{"name": "bad-clf", "classifier": {"kind": "cosine",
	"scale": 10, "classes": ["x", "x"], "proxies": [[1, 0, 0, 0], [0, 1, 0, 0]]}}')) FROM model_fixture_weights;
-- classify_ensemble: per label the weighted mean of classify's and predict's
-- probabilities, over the labels either side knows
SELECT label, round(probability::numeric, 4) AS p, round(siamese_probability::numeric, 4) AS siamese,
	round(classifier_probability::numeric, 4) AS classifier
FROM classify_ensemble((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Emb', 'Label', 'tiny', 'tiny-clf');
SELECT bool_and(abs(e.probability - (0.25 * coalesce(s.probability, 0) + 0.75 * coalesce(c.probability, 0))) < 1e-12) AS weighted,
	round(sum(e.probability)::numeric, 10) AS total, count(*) AS labels
FROM model_fixture f,
	LATERAL classify_ensemble(f.img, '"Support Set"', 'Emb', 'Label', 'tiny', 'tiny-clf', 0.75, 2) e
	LEFT JOIN LATERAL classify(f.img, '"Support Set"', 'Emb', 'Label', 'tiny', 2) s ON s.label = e.label
	LEFT JOIN LATERAL predict(f.img, 'tiny-clf') c ON c.label = e.label;
-- weight 0 is classify alone (for its labels), weight 1 predict alone
SELECT bool_and(e.probability = e.siamese_probability) AS w0_is_classify,
	bool_and(e1.probability = e1.classifier_probability) AS w1_is_predict
FROM classify_ensemble((SELECT img FROM model_fixture WHERE name = 'd'), '"Support Set"', 'Emb', 'Label', 'tiny', 'tiny-clf', 0) e,
	classify_ensemble((SELECT img FROM model_fixture WHERE name = 'd'), '"Support Set"', 'Emb', 'Label', 'tiny', 'tiny-clf', 1) e1;
SELECT w, try(format('SELECT * FROM classify_ensemble(%L, %L, %L, %L, %L, %L, %L::float8)',
	(SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Emb', 'Label', 'tiny', 'tiny-clf', w)) AS result
FROM unnest(ARRAY['-0.1', '1.5', 'NaN']::float8[]) w;
SELECT try($$SELECT * FROM classify_ensemble((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Emb', 'Label', 'tiny', 'tiny')$$);
SELECT try($$SELECT * FROM classify_ensemble((SELECT img FROM model_fixture WHERE name = 'a'), '"Support Set"', 'Emb', 'Label', 'tiny', 'tiny-clf', NULL)$$);
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
-- the pixels of a 2-d plot whose x and y ranges differ (a golden image: the renderer is deterministic)
SELECT md5(embedding_plot(ARRAY['[0,0]', '[1,10]', '[2,5]', '[3,-4]']::embedding[], ARRAY['a', 'b', 'a', 'c'])) AS plot_md5;
-- magnitudes near FLT_MAX: the PCA and the axes are computed in double, so
-- the plot decodes and is not the one drawn before, whose every tick read NaN
-- with all points at the origin (kept here as a PNG, compared after both are
-- re-encoded by to_png so that the comparison does not depend on the encoder);
-- collinear points at 1e20 give PC2 0.0 % and a flat line
CREATE TABLE nan_plot AS SELECT decode('89504e470d0a1a0a0000000d4948445200000320000002580802000000151415270000125249444154789ceddd3d72e3c8018661c135b96fa072e699604fe243f808481d3a748a23f8103ec956793674f1063e011ca00463f1c706f9516852cf13915810c24c4fad5e754340d3f7fd1b0000397f38fb0400005e8dc00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c082e7d3344dd334679f05009b0416004098c00200081358000061dfce3e01e02ed38bb1fabe9f6d9f6ed9dabe7539d7fe3ecb230330328305001066060b9ed5d65c54f9dcd2fe2c57c93ee6b1005699c1020008338305cfea33678fdc760be010335800006166b0e0abb86716cab556008798c1020008338305af6998735ade256b7f4bc971a6db015865060b0020acf1632830e31e5700773283050010e61a2cf8ea5c5f051067060b0020cc355800006166b00000c20416004098c00200081358000061020b00204c60010084092c0080b0ba02ab6ddbd5d747f7010038515d810500f002aa0bace5a454fb61671f00807a5417585dd7cdfaa9fb306e5fee0300508f6f679fc08a593fadb6d44e63354df3a83303e0ebb9e1a1bd7ffadbbfa66ffff38fbfdc790e4df3bb6707efbfa5063506d6dba49fdab6edba6ed8b89cd9da6a2cffce6a73b95cdedfdfcf3e0b7ec7a054c8a054e8861fda6775356cb9a7b1963935dba1ef7b8d559b4a036b6435108027b2acab71fbb2b1c654da69a365390d3935db4d63d5e60507c3bfb00af9b9bc4206a54206a54247bfa76c05d6dbee42e1ce5759fd4fe51b394bed335800f0aa5c34fcc2aafb2d4200f80a8609a7c1ce6eab0b825b47cb9d1df71258007082a19c06257b8e6f87d7b32deaaa36020b0062b62eb45addde4fec1f76bac3f223eaaa42020b0092962d75ff7db0783a2e720780304585192c0080308105001026b00000c20416004098c002000813580000616ed30000697fffe3efdffe77b9cba1dbafcf76de7f4b0dcc600140d4acae56b71cb1cca9d90e85cf2be433092c00c8d96aa98ded579f45b89c9d5a9dacd258b5115800708e219eb4d14b125800700e174ebd30810500f52a9cdf729d7b6d0416009ca3f9b0df46b3c61a5ecfb6a8abda082c00c859bb23c3eaf67ee2ea51a7fb2c3fa5ae2a24b000206ad9585bd5c5eb72a351004853545f9e192c0080308105001026b00000c20416004098c002000813580000616ed3000061bffcf397e9db5ffffaeb9d079cddab7dff2d353083050049b3ba5add72c832a7663b143eaf90cf24b0002066aba556b78fcf22dc39e072766a75b24a63d5c61221009cc0bade6b338305001026b000e0643bab7b856b7fe6c36a23b000e00443390df6db68d658c3ebd91675551b810500315b776458ddde7fb87ad8e93ecb4fa9ab0a092c00485ab6d4fdf7c1e2e9f82d420008535498c10200081358000061020b00204c60010084092c00803081050010e6360d0010f6f3fb8fe9db1fbffddcdfffeaadd8673becbfa50666b00020695657ab5b0e59e6d46c87c2e715f299041600c46cb5d4eaf6e14184fb075cce4ead4e5669acda58220480138ce5248c5e92192c003893cba75e92c002807a15aefdb9cebd36020b004e309453c96558b3c61a5ecfb6a8abda082c0088d9ba23c3eaf67e62ffb0d31d961f51571512580090b46ca9abf7c1e2f5f82d420008535498c10200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c2ea0aacb66d575f1fdd0700e04475051600c00ba82eb0969352ed879d7d0000ea515d60755d37eba7eec3b87db90f00403dbe9d7d022b66fdb4da52fb8d75b95c1e7266dcc1a054c8a054c8a0c06ba831b0de26fdd4b66dd775c3c6e5ccd65663bdbfbf3ffa0c39e472b91894da18940a191478199506d6c86a2000f0749abeefcf3e87b0a679c13fd4b3f37379850c4a850c4a857c4fe136d55de40e00f0ec0416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c204160040d8b7f25d9ba6195ef47dff989301007805a581d534cdd855d3d70000cc142d11ce8aaaeffb71360b008099a2c05ace5799c10200d8e222770080b0d2c09aae09364d63891000604b6960b9ee0a00a0d08125c2b1b1fabe770d1600c096d2df221cd3ca3c1600c0bec317b96b2c00807d45371a9d2d085a1f0400d851ba4438bef02b840000fb8e3d8bd0d3720000ae72a3510080308105001076e39ddcad0f02006cf15b8400006196080100c204160040d82d81e5565800003bcc600100841db8d1e8c845ee00003bcc6001008495ce60cd2eba32890500b0a5f461cf4351f51f5ce40e00b0e5c012a1ae02002871ec1a2c8d0500705551600d5d35defeea71cf226cdb76f5f5d17d00004e547a91bbabda01000a955ee43e7dfdd055c2e5a454fb61671f00807a945e83355d1c7ce895585dd7cdfaa9fb306e5fee0300508f034b848fbbf46a66d64fab2db5df5897cbe52167c61d0c4a850c4a850c0abc86038fcaf9cccbb0c67e6adbb6ebba61e372666babb1dedfdf1f7d861c72b95c0c4a6d0c4a850c0abc8c5b9e45f86953596f5603018027f479a9f4693eb3ff28e4e7f20a19940a19940af99ec26d3cec190020ecf06d1ab6b6000030387027f7f1adf95200801dc76ed330be7ed8f900003cbd4a6fd30000f0bc5ce40e001026b00000c20416004098c00200081358000061020b00204c60010084950656d334b39bb93fe67c00009e5ee9b308fbbe9f3d3007008055c79608351600c05587afc1d2580000fb8a026b16551e4a0800b0a374066b16551a0b0060cb81df225c7d0d00c0cc81df221cdfba0c0b0060871b8d020084092c0080b06f253b2dd7045de40e00b0a528b0de14150040b11b9f450800c016cf2204000873913b004098c00200082bbdc87d5c1c1c5fb8ec1d006055e96d1a1e7d1e00002fc31221004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c00803081050010565760b56dbbfafae83e000027aa2bb000005e407581b59c946a3fecec0300508fea02abebba593f751fc6edcb7d0000eaf1edec135831eba7d596da6faccbe5f29033e30e06a54206a54206055e438d81f536e9a7b66dbbae1b362e67b6b61aebfdfdfdd167c82197cbc5a0d4c6a054c8a0c0cba834b04656030180a7d3f47d7ff6398435cd0bfea19e9d9fcb2b64502a64502ae47b0ab7a9ee227700806727b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061750556dbb6abaf8fee030070a2ba02eb7e3fbffff8f79fbffffcfee3ec130100beaeea026b3929d57ed8d96730ed2a8d05009ca5bac0eaba6ed64fdd8771fb729fb7b5a2d25800c029be9d7d022b66fdb43a5fb5da584b4dd324cf0c00a0408d81f536e9a7b66dbbae1b362e67b6ae3656dff70f3a4300802d9506d6a870a6eaedededc76f3f676b823f7efbf998930200d8d3bcd81ccfd858ea0a0038cbab051600c0e9aafb2d42008067f7c481e5b6ef153228153228153228153228643d71600100d4e9b903eb9edbbef32006a54206a54206a5420685a0e70eac9b6ffbcee318940a19940a19940a1914826abf0fd655c1dbbe9362502a64502a64502a64504879ee19acc1f456efe34f1b5bfbf0390c4a850c4a850c4a850c0a114f3f8335e5a78a0a19940a19940a19940a1914eee146a3000061afb044080050158105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c204160040d8b7b34f003e43d334e3ebf101e7e3c6e923cf9ba6e809e8b3dd86430d5ba65f6b76f09d834c8f70d43d9fbd7ae4539e075ffe7738ee3ffd9b3c7ace67fd31811726b0f82a66df8057bf25cfbeaf6f59d6d5f4ed32bcb60e5278fcc2937944259c951df7d4d20de73cfbf700703f4b84f0ff6fc9b7cd5d6d7d6aff7bf6ec3ff57d5fd249cd87ab079c7e64f97a769ce1c5ecc8cb2f54fea9fd2d85ae46cfd6192edf5e3d9fa1b18e9e21c01633587c15ab0b828f3bf26d332257eb6a390f77dbd75a9dbd9bbd5836c7d54f2dcfe49ec5bbfd89a5d579c7d5739e9e9b992ae073082cbe8ac77d5bddc98e436eeba49bbfd6f250b317873e75e86b955f3456f2073c34f934dd5969018f6389104a2fbd1adcb69674758d6c1a67d9b5aae544d7f0625c942c74f453d38e997db0e4a2f5f213bb6a753576368e66b6802c33587c51ab3319852b6ed369959b6744665fab7c3ae786af359b072a6cc4e5195efdd4f20cb7fe9ecb27a5b6f65c3d9fab23385b4f2c3c1f80a3fc6f050020cc1221004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c00200081358000061020b00204c60010084092c0080308105001026b00000c20416004098c0020008fb1f15cf75045b4323400000000049454e44ae426082', 'hex') AS png;
SELECT format, width, height, to_png(p) <> (SELECT to_png(png) FROM nan_plot) AS not_the_nan_plot
FROM (SELECT embedding_plot(ARRAY['[3e38,3e38,3e38]', '[-3e38,-3e38,-3e38]', '[3e38,-3e38,1e38]',
	'[-1e38,2e38,-3e38]']::embedding[], ARRAY['a', 'b', 'c', 'd'], 'huge') AS p) x, image_info(p);
DROP TABLE nan_plot;
SELECT format, width, height
FROM image_info(embedding_plot((SELECT array_agg(format('[%s,%s,%s]', g * 1e19, g * 2e19, -g * 1e19)::embedding)
	FROM generate_series(-5, 5) g), (SELECT array_agg(g::text) FROM generate_series(-5, 5) g), 'collinear 1e20'));
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
	RAISE NOTICE 'hint lists the models: %', h LIKE 'Available models: %tiny, tiny-clf, %tiny-l2%';
END
$$;
SELECT try($$SELECT embed('\x0102', 'tiny')$$);
SELECT try($$SELECT pair_distance('\x0102', '\x0102', 'tiny')$$);
SELECT try($$SELECT embed_batch(ARRAY['\x0102'::bytea], 'tiny')$$);
SELECT try($$SELECT embed_batch('{{"\\x01"},{"\\x02"}}'::bytea[], 'tiny')$$);
SELECT embed(NULL, 'tiny') IS NULL AS a, embed('\x00', NULL) IS NULL AS b, pair_distance(NULL, '\x00') IS NULL AS c;
-- embed(image) is embed(image, 'fashion'): an expression index on either
-- spelling serves queries in both
SELECT embed(NULL::bytea) IS NULL AS one_arg_null;
CREATE TABLE expr_idx AS SELECT name, img FROM model_fixture;
CREATE INDEX expr_idx_embed ON expr_idx (embed(img));
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT name FROM expr_idx WHERE embed(img, 'fashion') = '[1,2]';
SELECT name FROM expr_idx WHERE embed(img, 'fashion') = (SELECT embed(img) FROM expr_idx WHERE name = 'c');
DROP INDEX expr_idx_embed;
CREATE INDEX expr_idx_embed ON expr_idx (embed(img, 'fashion'));
EXPLAIN (COSTS OFF) SELECT name FROM expr_idx WHERE embed(img) = '[1,2]';
SELECT name FROM expr_idx WHERE embed(img) = (SELECT embed(img, 'fashion') FROM expr_idx WHERE name = 'c');
RESET enable_seqscan;
DROP TABLE expr_idx;
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
SELECT to_regprocedure('siamese_models."tiny-l2"()') IS NULL AS dump_copy_dropped;
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

-- pg_dump: a user model has a dump copy, the function siamese_models.<name>(),
-- which pg_dump restores before any table data (the restores themselves:
-- test/t/050_dump_restore.pl); shipped models have none
SELECT string_agg(proname, ', ' ORDER BY proname) AS dump_copies
FROM pg_proc WHERE pronamespace = 'siamese_models'::regnamespace;
SELECT name, c.hash = m.hash AND c.config = m.config_text AND c.weights = m.weights AS same_content
FROM (SELECT 'tiny' AS name, * FROM siamese_models.tiny()
	UNION ALL SELECT 'tiny-granted', * FROM siamese_models."tiny-granted"()
	UNION ALL SELECT 'tiny-l2', * FROM siamese_models."tiny-l2"()) c JOIN models m USING (name)
ORDER BY name;
-- while the catalog row is not restored yet, embed() loads the model from its copy
SELECT register_model('tiny-copy', w, cfg) = model_hash(cfg::text, w) AS ok FROM model_fixture_weights;
BEGIN;
SET LOCAL session_replication_role = replica;	-- no trigger: the row goes, its copy stays
DELETE FROM siamese.models WHERE name = 'tiny-copy';
SELECT name, round((embed(img, 'tiny-copy') <=> embed(img, 'tiny'))::numeric, 6) AS same FROM model_fixture ORDER BY name;
ROLLBACK;
DELETE FROM siamese.models WHERE name = 'tiny-copy';
-- a copy that holds other content than the model is refused
CREATE FUNCTION siamese_models."tiny-fake"(OUT hash text, OUT config text, OUT weights bytea)
	LANGUAGE sql AS $$ SELECT 'x'::text, '{}'::text, '\x00'::bytea $$;
SELECT try(format('SELECT register_model(%L, %L::bytea, %L::jsonb)', 'tiny-fake', w, cfg)) FROM model_fixture_weights;
DROP FUNCTION siamese_models."tiny-fake"();

-- cleanup (model_history keeps the names for good)
DELETE FROM siamese.models WHERE NOT builtin;
SELECT count(*) AS dump_copies_left FROM pg_proc WHERE pronamespace = 'siamese_models'::regnamespace;
DROP TABLE "Support Set", model_fixture, model_fixture_weights;
REVOKE ALL ON SCHEMA siamese FROM regress_model_user;
REVOKE EXECUTE ON FUNCTION register_model(text, bytea, jsonb) FROM regress_model_user;
DROP ROLE regress_model_user;
DROP FUNCTION public.try(text);
SELECT name FROM model_history WHERE NOT builtin ORDER BY name;

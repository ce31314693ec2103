-- Bring your own model: register_onnx_model, onnx_to_model, and an imported
-- model wherever a model name is taken (embed, embed_batch, pair_distance,
-- same_item, classify).  The model is test/fixtures/onnx/tiny_net.onnx
-- (tools/onnx/make_fixture.py), read client-side.
SET search_path = siamese, public;
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/test/fixtures/onnx/tiny_net.onnx'
\set b64 `base64 -w0 "$PG_ABS_SRCDIR/test/fixtures/onnx/tiny_net.onnx"`
CREATE TEMP TABLE onnx_file AS SELECT decode(:'b64', 'base64') AS onnx;
SELECT length(onnx) > 60000 AS loaded FROM onnx_file;

-- conversion alone: the project's own format, ready to register
SELECT (c::jsonb) ->> 'format_version' AS format, (c::jsonb) ->> 'embedding_dim' AS dim,
	(c::jsonb) -> 'source' ->> 'format' AS source, length(w) > 30000 AS weights
FROM onnx_file, LATERAL onnx_to_model(onnx, '{"input": {"channels": 3, "height": 32, "width": 32}}') AS t(c, w);

-- register: the content hash; the same again is a no-op
SELECT length(register_onnx_model('tiny-onnx', onnx,
	'{"input": {"channels": 3, "height": 32, "width": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
	  "normalize": true, "distance": "cosine", "threshold": 0.3}')) AS hash_len FROM onnx_file;
SELECT register_onnx_model('tiny-onnx', onnx,
	'{"input": {"channels": 3, "height": 32, "width": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
	  "normalize": true, "distance": "cosine", "threshold": 0.3}') = (SELECT hash FROM models WHERE name = 'tiny-onnx') AS idempotent
FROM onnx_file;
SELECT name, dims, distance, threshold, input, params, ops, output, activation_bytes > 0 AS planned,
	source ->> 'producer' AS producer, source ->> 'opset' AS opset
FROM models() WHERE name = 'tiny-onnx';

-- an inner tensor as the output (the pooled features before the head)
SELECT register_onnx_model('tiny-onnx-features', onnx,
	'{"input": {"channels": 3, "height": 32, "width": 32}, "output": "/pool/MaxPool_output_0", "distance": "l2"}') IS NOT NULL AS ok
FROM onnx_file;
SELECT name, dims, distance, output FROM models() WHERE name LIKE 'tiny-onnx%' ORDER BY name;

-- embedding images of any size and kind (gray, RGB) with it
CREATE TEMP TABLE onnx_img AS
SELECT 'gray' AS name, decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000020406080a0c0e0000424446484a4c4e4000828486888a8c8e8000c2c4c6c8cacccec001030507090b0d0f0001434547494b4d4f4001838587898b8d8f8001c3c5c7c9cbcdcfc15441f812b73f7650000000049454e44ae426082', 'hex') AS img
UNION ALL SELECT 'fog', corrupt(decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000020406080a0c0e0000424446484a4c4e4000828486888a8c8e8000c2c4c6c8cacccec001030507090b0d0f0001434547494b4d4f4001838587898b8d8f8001c3c5c7c9cbcdcfc15441f812b73f7650000000049454e44ae426082', 'hex'), 'fog', 3, 1);
SELECT name, dims(embed(img, 'tiny-onnx')) AS d, round(norm(embed(img, 'tiny-onnx'))::numeric, 5) AS norm,
	dims(embed(img, 'tiny-onnx-features')) AS feature_dims
FROM onnx_img ORDER BY name;
-- deterministic, and the batch form agrees
SELECT bool_and(embed(img, 'tiny-onnx') = embed(img, 'tiny-onnx')) AS stable FROM onnx_img;
SELECT bool_and(round(l2_distance(b.e, embed(f.img, 'tiny-onnx'))::numeric, 6) = 0) AS batch_equals_single
FROM (SELECT unnest(embed_batch(array_agg(img ORDER BY name), 'tiny-onnx')) AS e,
			 unnest(array_agg(name ORDER BY name)) AS name FROM onnx_img) b
JOIN onnx_img f USING (name);
-- the twin pass and verification use the model's distance and threshold
SELECT round(pair_distance(a.img, b.img, 'tiny-onnx')::numeric, 6) =
	round((embed(a.img, 'tiny-onnx') <=> embed(b.img, 'tiny-onnx'))::numeric, 6) AS twin_equals_operator,
	pair_distance(a.img, a.img, 'tiny-onnx') < 1e-6 AS self_zero,
	same_item(a.img, a.img, 'tiny-onnx') AS same_self
FROM onnx_img a, onnx_img b WHERE a.name = 'gray' AND b.name = 'fog';
-- few-shot classification against labelled examples embedded by the imported model
CREATE TEMP TABLE onnx_support AS SELECT embed(img, 'tiny-onnx') AS e, name AS label FROM onnx_img;
SELECT label, round(probability::numeric, 3) > 0.5 AS likely, round(distance::numeric, 4) AS distance
FROM classify((SELECT img FROM onnx_img WHERE name = 'fog'), 'onnx_support', 'e', 'label', 'tiny-onnx', 1)
ORDER BY probability DESC;

-- what cannot run is refused at registration, naming what is wrong
CREATE FUNCTION onnx_try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT onnx_try(format('SELECT register_onnx_model(%L, %L::bytea, %L)', 'bad-1', substring(onnx from 1 for 1000), '{"input": {"channels": 3, "height": 32, "width": 32}}')) FROM onnx_file;
SELECT onnx_try(format('SELECT register_onnx_model(%L, %L::bytea, %L)', 'bad-2', onnx, '{"input": {"channels": 3, "height": 32, "width": 32}, "output": "no_such_tensor"}')) FROM onnx_file;
SELECT onnx_try(format('SELECT register_onnx_model(%L, %L::bytea, %L)', 'bad-3', onnx, '{"input": {"channels": 3, "height": 64, "width": 64}}')) FROM onnx_file;
SELECT onnx_try(format('SELECT register_onnx_model(%L, %L::bytea, %L)', 'bad-4', onnx, '{"input": {"channels": 3, "height": 32, "width": 32}, "colour": true}')) FROM onnx_file;
SELECT onnx_try(format('SELECT register_onnx_model(%L, %L::bytea, %L)', 'bad-5', '\x0001020304'::bytea, '{"input": {"channels": 3, "height": 32, "width": 32}}'));
SELECT onnx_try('SELECT register_onnx_model(NULL, NULL, NULL)');
SELECT onnx_try(format('SELECT register_onnx_model(%L, %L::bytea, %L)', 'Bad Name', onnx, '{"input": {"channels": 3, "height": 32, "width": 32}}')) FROM onnx_file;
-- none of them left a model or a bound name behind
SELECT count(*) FROM models WHERE name LIKE 'bad-%' OR name = 'Bad Name';
SELECT count(*) FROM model_history WHERE name LIKE 'bad-%';
-- only roles granted EXECUTE may register
SELECT has_function_privilege('public', 'register_onnx_model(text, bytea, jsonb)', 'EXECUTE') AS public_can_register;

DROP FUNCTION onnx_try(text);
DELETE FROM models WHERE name LIKE 'tiny-onnx%';

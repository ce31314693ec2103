-- scripts/demo.sql: what scripts/demo shows once the images are loaded.
\pset footer off
\set QUIET on
SET search_path = siamese, public;
SET client_min_messages = error;   -- the demo prints results, not tuning hints
\set QUIET off

\echo
\echo '== images stored as PNG bytea, decoded by siamese.image_info'
SELECT id, class, length(image) AS png_bytes, (image_info(image)).*
FROM fashion ORDER BY id LIMIT 5;

\echo
\echo '== shipped models'
SELECT name, dims, distance, params, round((quality->>'knn1_accuracy')::numeric, 4) AS knn1_accuracy
FROM models() ORDER BY name;

\echo
\echo '== embedding every image with the Siamese network (model fashion)'
\timing on
UPDATE fashion SET e = embed(image, 'fashion');
\timing off
VACUUM ANALYZE fashion;

\echo
\echo '== an HNSW index on the embeddings'
CREATE INDEX fashion_e_idx ON fashion USING siamese_hnsw (e embedding_cosine_ops);
SELECT (hnsw_check('fashion_e_idx')).* ;

\echo
\echo '== top-5 most similar images to image 0 (an ankle boot), via the index'
EXPLAIN (COSTS OFF) SELECT id FROM fashion ORDER BY e <=> (SELECT e FROM fashion WHERE id = 0) LIMIT 5;
SELECT f.id, f.class, round((f.e <=> q.e)::numeric, 4) AS cosine_distance
FROM fashion f, (SELECT e FROM fashion WHERE id = 0) q
ORDER BY f.e <=> q.e LIMIT 6;

\echo
\echo '== the index stores sq8 codes (a byte per value, the default); float32 vectors take twice the space'
\echo '   and give the same answer (with codes the scan reports lower bounds and PostgreSQL re-ranks exactly)'
CREATE INDEX fashion_e_f32 ON fashion USING siamese_hnsw (e embedding_cosine_ops) WITH (storage = f32);
SELECT relname AS index, coalesce(array_to_string(reloptions, ','), 'storage=sq8 (default)') AS options,
       pg_size_pretty(pg_relation_size(oid)) AS size
FROM pg_class WHERE relname IN ('fashion_e_idx', 'fashion_e_f32') ORDER BY relname;
BEGIN;
DROP INDEX fashion_e_idx;
SELECT f.id, f.class, round((f.e <=> q.e)::numeric, 4) AS cosine_distance
FROM fashion f, (SELECT e FROM fashion WHERE id = 0) q
ORDER BY f.e <=> q.e LIMIT 6;
ROLLBACK;
DROP INDEX fashion_e_f32;

\echo
\echo '== the same query by raw-pixel L2 distance (no network), for comparison'
SELECT f.id, f.class, round((f.pixels <-> q.pixels)::numeric, 3) AS pixel_l2
FROM fashion f, (SELECT pixels FROM fashion WHERE id = 0) q
ORDER BY f.pixels <-> q.pixels LIMIT 6;

\echo
\echo '== 1-NN accuracy on the first 500 images (gallery: the other test images), network vs raw pixels'
SELECT round(avg((nn_e.label = q.label)::int), 3) AS siamese_1nn,
       round(avg((nn_p.label = q.label)::int), 3) AS pixels_1nn, count(*) AS queries
FROM fashion q
CROSS JOIN LATERAL (SELECT g.label FROM fashion g WHERE g.id >= 500
                    ORDER BY g.e <=> q.e LIMIT 1) nn_e
CROSS JOIN LATERAL (SELECT g.label FROM fashion g WHERE g.id >= 500
                    ORDER BY g.pixels <-> q.pixels LIMIT 1) nn_p
WHERE q.id < 500;

\echo
\echo '== few-shot: classify image 1 against ONE labelled example per class (10-way 1-shot)'
CREATE TEMP TABLE support AS
  SELECT DISTINCT ON (class) class, e FROM fashion WHERE id >= 1000 ORDER BY class, id;
SELECT (SELECT class FROM fashion WHERE id = 1) AS truth;
SELECT label, round(probability::numeric, 3) AS probability, round(distance::numeric, 4) AS distance
FROM classify((SELECT image FROM fashion WHERE id = 1), 'support', 'e', 'class', 'fashion')
ORDER BY probability DESC LIMIT 3;
SELECT round(avg((c.label = f.class)::int), 3) AS one_shot_accuracy_first_300
FROM fashion f
CROSS JOIN LATERAL (SELECT label FROM classify(f.image, 'support', 'e', 'class', 'fashion')
                    ORDER BY probability DESC LIMIT 1) c
WHERE f.id < 300;
\echo '   the same with the examples as arrays (classify_with reads no table: it runs per row on Citus workers too)'
WITH s AS (SELECT array_agg(e ORDER BY class) AS examples, array_agg(class ORDER BY class) AS labels FROM support)
SELECT round(avg((c.label = f.class)::int), 3) AS one_shot_accuracy_first_300
FROM fashion f CROSS JOIN s
CROSS JOIN LATERAL (SELECT label FROM classify_with(f.image, s.examples, s.labels, 'fashion')
                    ORDER BY probability DESC LIMIT 1) c
WHERE f.id < 300;

\echo
\echo '== verification (same_item with the calibrated threshold): boot/boot, boot/sandal, boot/trouser'
SELECT a.id AS a, a.class AS class_a, b.id AS b, b.class AS class_b,
       round(pair_distance(a.image, b.image)::numeric, 4) AS distance,
       same_item(a.image, b.image) AS same_item
FROM fashion a, fashion b WHERE (a.id, b.id) IN ((0, 1657), (0, 11), (0, 2))
ORDER BY distance;

\echo
\echo '== ImageNet-C corruptions (15 benchmark + 4 held-out)'
SELECT category, string_agg(name, ', ' ORDER BY name) FILTER (WHERE benchmark) AS benchmark,
       string_agg(name, ', ' ORDER BY name) FILTER (WHERE NOT benchmark) AS held_out
FROM corruptions() GROUP BY category ORDER BY category;

\echo
\echo '== image 0 under fog: embedding drift (cosine distance to the clean embedding) and its nearest class'
SELECT s AS severity,
       round((embed(corrupt(image, 'fog', s, 42)) <=> e)::numeric, 4) AS drift,
       (SELECT g.class FROM fashion g WHERE g.id <> 0
        ORDER BY g.e <=> embed(corrupt(f.image, 'fog', s, 42)) LIMIT 1) AS nearest_class
FROM fashion f, generate_series(0, 5) s WHERE id = 0;

-- scripts/demo.sql: what scripts/demo shows once the images are loaded.
\pset footer off
\set QUIET on
SET search_path = siamese, public;
\set QUIET off

\echo
\echo '== images stored as PNG bytea, decoded by siamese.image_info'
SELECT id, class, length(image) AS png_bytes, (image_info(image)).*
FROM fashion ORDER BY id LIMIT 5;

\echo
\echo '== nearest neighbours of image 0 by raw-pixel L2 distance (<->)'
SELECT f.id, f.class, round((f.pixels <-> q.pixels)::numeric, 3) AS l2
FROM fashion f, (SELECT pixels FROM fashion WHERE id = 0) q
ORDER BY f.pixels <-> q.pixels LIMIT 6;

\echo
\echo '== the same by cosine distance (<=>) and negative inner product (<#>)'
SELECT f.id, f.class,
       round((f.pixels <=> q.pixels)::numeric, 4) AS cosine,
       round((f.pixels <#> q.pixels)::numeric, 2) AS neg_ip
FROM fashion f, (SELECT pixels FROM fashion WHERE id = 0) q
ORDER BY f.pixels <=> q.pixels LIMIT 6;

\echo
\echo '== 1-NN accuracy of raw pixels on the first 200 images (gallery: the rest)'
SELECT round(avg((nn.label = q.label)::int), 3) AS one_nn_accuracy, count(*) AS queries
FROM fashion q
CROSS JOIN LATERAL (SELECT g.label FROM fashion g WHERE g.id >= 200
                    ORDER BY g.pixels <-> q.pixels LIMIT 1) nn
WHERE q.id < 200;

\echo
\echo '== class centroids with the avg(embedding) aggregate: distance of image 0 to each'
SELECT c.class, round((c.centroid <-> q.pixels)::numeric, 3) AS l2_to_centroid
FROM (SELECT class, avg(pixels) AS centroid FROM fashion GROUP BY class) c,
     (SELECT pixels FROM fashion WHERE id = 0) q
ORDER BY 2 LIMIT 3;


\echo
\echo '== ImageNet-C corruptions available (15 benchmark + 4 held-out)'
SELECT category, string_agg(name, ', ' ORDER BY name) FILTER (WHERE benchmark) AS benchmark,
       string_agg(name, ', ' ORDER BY name) FILTER (WHERE NOT benchmark) AS held_out
FROM corruptions() GROUP BY category ORDER BY category;

\echo
\echo '== image 0 under fog at each severity (seed 42): PNG size and decoded shape'
SELECT s AS severity, length(corrupt(image, 'fog', s, 42)) AS png_bytes,
       (image_info(corrupt(image, 'fog', s, 42))).width,
       md5(corrupt(image, 'fog', s, 42)) = md5(corrupt(image, 'fog', s, 42)) AS reproducible
FROM fashion, generate_series(0, 5) s WHERE id = 0;

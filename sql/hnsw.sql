-- siamese_hnsw: planner use, exact-order results on small tables, operator
-- classes, error paths, NULLs, iterative scan, VACUUM and the checker.
SET search_path = siamese, public;
SET client_min_messages = warning;

-- Deterministic, tie-free data: 3-dimensional points on a twisted curve.
CREATE TABLE hv (id int PRIMARY KEY, e embedding(3));
INSERT INTO hv SELECT i, array_to_embedding(ARRAY[sin(i) * 10, cos(i * 1.3) * 10, sin(i * 0.7) * 10 + i / 1000.0]::real[], 3, true)
  FROM generate_series(1, 10000) i;
-- float32 vectors: the iterative-scan tests below show the index's own
-- order, which the executor's re-rank of coded (sq8, the default) indexes
-- would hide; the codes have their own section.
CREATE INDEX hv_l2 ON hv USING siamese_hnsw (e) WITH (storage = f32);
ANALYZE hv;

-- The planner uses the index for ORDER BY ... LIMIT, not for full orderings.
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY e <-> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY e <-> '[1,2,3]';
-- nor for a query without ORDER BY distance, nor for another distance
EXPLAIN (COSTS OFF) SELECT id FROM hv WHERE id < 10;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY e <=> '[1,2,3]' LIMIT 5;

-- Results equal the exact order (sequential scan) for several queries.
CREATE FUNCTION hv_topk(q embedding, k int, op text) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY e %s $1 LIMIT $2) s', op) INTO r USING q, k;
  RETURN r;
END $$;
CREATE FUNCTION hv_same(q embedding, k int, op text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a int[]; b int[];
BEGIN
  SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
  a := hv_topk(q, k, op);
  SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
  b := hv_topk(q, k, op);
  RETURN a = b;
END $$;
SELECT q, hv_same(q, 10, '<->') FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]'), ('[10,10,10]'), ('[0,0,0]'), ('[3,-7,1]')) v(q);
SELECT hv_topk('[1,2,3]', 5, '<->');
SELECT id, round((e <-> '[1,2,3]')::numeric, 6) AS dist FROM hv ORDER BY e <-> '[1,2,3]' LIMIT 5;

-- Cosine and inner product operator classes.
CREATE INDEX hv_cos ON hv USING siamese_hnsw (e embedding_cosine_ops);
CREATE INDEX hv_ip ON hv USING siamese_hnsw (e embedding_ip_ops);
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY e <=> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY e <#> '[1,2,3]' LIMIT 5;
SELECT q, hv_same(q, 10, '<=>') FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]'), ('[3,-7,1]')) v(q);
-- Inner product is not a metric: in 3 dimensions the best rows lie on the
-- hull of the data, far apart in the graph, so the index is approximate.
CREATE FUNCTION hv_overlap(q embedding, k int, op text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE a int[]; b int[];
BEGIN
  SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
  a := hv_topk(q, k, op);
  SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
  b := hv_topk(q, k, op);
  RETURN (SELECT count(*) FROM unnest(a) x WHERE x = ANY (b));
END $$;
SELECT q, hv_overlap(q, 10, '<#>') AS overlap_of_10 FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]'), ('[3,-7,1]')) v(q);
DROP INDEX hv_cos, hv_ip;

-- The checker walks the graph.
SELECT elements, live, deleted, problems, unreachable, ok FROM hnsw_check('hv_l2');
SELECT opcname, amvalidate(oc.oid) FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
  WHERE amname = 'siamese_hnsw' ORDER BY opcname;

-- Iterative scan: a selective filter still gets k rows.
SET siamese.hnsw.ef_search = 10;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hv WHERE id % 100 = 7 ORDER BY e <-> '[1,2,3]' LIMIT 10;
SELECT count(*) FROM (SELECT id FROM hv WHERE id % 100 = 7 ORDER BY e <-> '[1,2,3]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM hv ORDER BY e <-> '[1,2,3]' LIMIT 50) s;
-- without it, a scan stops after ef_search rows
SET siamese.hnsw.iterative_scan = off;
SELECT count(*) FROM (SELECT id FROM hv WHERE id % 100 = 7 ORDER BY e <-> '[1,2,3]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM hv ORDER BY e <-> '[1,2,3]' LIMIT 50) s;
RESET siamese.hnsw.iterative_scan;
SHOW siamese.hnsw.iterative_scan;
-- strict_order: still k rows for the filter, and distances never decrease
SET siamese.hnsw.iterative_scan = strict_order;
SELECT count(*) FROM (SELECT id FROM hv WHERE id % 100 = 7 ORDER BY e <-> '[1,2,3]' LIMIT 10) s;
CREATE FUNCTION hv_order_check(OUT rows bigint, OUT never_decreasing bool) LANGUAGE sql AS $$
  SELECT count(*), bool_and(d >= prev) FROM (
    SELECT d, lag(d, 1, 0::float8) OVER (ORDER BY n) AS prev FROM (
      SELECT row_number() OVER () AS n, d FROM (
        SELECT e <-> '[1,2,3]' AS d FROM hv ORDER BY e <-> '[1,2,3]' LIMIT 300) a) b) c $$;
SELECT * FROM hv_order_check();
-- relaxed_order: the same scan returns some rows out of order
SET siamese.hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM hv WHERE id % 100 = 7 ORDER BY e <-> '[1,2,3]' LIMIT 10) s;
SELECT * FROM hv_order_check();
DROP FUNCTION hv_order_check();
SET siamese.hnsw.iterative_scan = on;
RESET siamese.hnsw.iterative_scan;
-- the documented bound: at most siamese.hnsw.max_scan_tuples elements visited
SET siamese.hnsw.max_scan_tuples = 50;
SELECT count(*) < 100 AS bounded FROM (SELECT id FROM hv WHERE id % 100 = 7 ORDER BY e <-> '[1,2,3]' LIMIT 100) s;
RESET siamese.hnsw.max_scan_tuples;
-- every row is reachable through the iterative scan
SELECT count(*) FROM (SELECT id FROM hv ORDER BY e <-> '[1,2,3]' LIMIT 20000) s;
RESET siamese.hnsw.ef_search;
RESET enable_seqscan;

-- GUC and reloption ranges.
SET siamese.hnsw.ef_search = 0;
SET siamese.hnsw.ef_search = 1001;
SET siamese.hnsw.max_scan_tuples = 0;
CREATE INDEX ON hv USING siamese_hnsw (e) WITH (m = 1);
CREATE INDEX ON hv USING siamese_hnsw (e) WITH (m = 101);
CREATE INDEX ON hv USING siamese_hnsw (e) WITH (ef_construction = 3);
CREATE INDEX ON hv USING siamese_hnsw (e) WITH (ef_construction = 1001);
CREATE INDEX ON hv USING siamese_hnsw (e) WITH (m = 16, ef_construction = 20);
CREATE INDEX ON hv USING siamese_hnsw (e) WITH (nonsense = 1);
CREATE INDEX ON hv USING siamese_hnsw (e, e);
CREATE UNIQUE INDEX ON hv USING siamese_hnsw (e);

ALTER INDEX hv_l2 SET (m = 200);
ALTER INDEX hv_l2 SET (ef_construction = 10);

-- CREATE INDEX CONCURRENTLY (validation goes through bulk delete).
CREATE INDEX CONCURRENTLY hv_cic ON hv USING siamese_hnsw (e) WITH (m = 4, ef_construction = 8);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'hv_cic'::regclass;
SELECT live, ok FROM hnsw_check('hv_cic');
DROP INDEX hv_cic;

-- An element must fit in a page: 2000 float32 dimensions need a small m.
CREATE TABLE hwide (id int, e embedding(2000));
INSERT INTO hwide SELECT i, array_to_embedding(array_fill(i::real, ARRAY[2000]), 2000, true) FROM generate_series(1, 3) i;
CREATE INDEX ON hwide USING siamese_hnsw (e) WITH (storage = f32);
-- the same limit on insert into an empty index of an unconstrained column
CREATE TABLE hwide2 (e embedding);
CREATE INDEX ON hwide2 USING siamese_hnsw (e) WITH (storage = f32);
INSERT INTO hwide2 SELECT array_to_embedding(array_fill(1::real, ARRAY[2000]), 2000, true);
-- beyond any m with float32 vectors; sq8 codes (a quarter of the size) fit
CREATE TABLE hwide3 (e embedding(4000));
CREATE INDEX ON hwide3 USING siamese_hnsw (e) WITH (storage = f32);
INSERT INTO hwide3 SELECT array_to_embedding(ARRAY(SELECT sin(i * j)::real FROM generate_series(1, 4000) j), 4000, true) FROM generate_series(1, 20) i;
-- the default storage, sq8
CREATE INDEX hwide3_sq8 ON hwide3 USING siamese_hnsw (e);
SELECT elements, ok FROM hnsw_check('hwide3_sq8');
DROP TABLE hwide2, hwide3;
CREATE INDEX hwide_idx ON hwide USING siamese_hnsw (e) WITH (m = 2, ef_construction = 4, storage = f32);
SELECT elements, ok FROM hnsw_check('hwide_idx');
DROP TABLE hwide;

-- Wrong-dimension query vectors are an error.
SET enable_seqscan = off;
SELECT id FROM hv ORDER BY e <-> '[1,2]' LIMIT 1;
RESET enable_seqscan;

-- Mixed dimensions: the build fails with a clear message ...
CREATE TABLE hmix (id int, e embedding);
INSERT INTO hmix VALUES (1, '[1,2,3]'), (2, '[1,2]');
CREATE INDEX ON hmix USING siamese_hnsw (e);
-- ... and so does an insert of another size into a built index.
DELETE FROM hmix WHERE id = 2;
CREATE INDEX hmix_idx ON hmix USING siamese_hnsw (e);
INSERT INTO hmix VALUES (3, '[1,2,3,4]');
INSERT INTO hmix VALUES (4, '[4,5,6]');
SELECT count(*) FROM hmix;

-- NULLs are skipped, not indexed.  (ORDER BY e <-> NULL folds to a constant:
-- no index scan, every row.)
CREATE TABLE hnull (id int, e embedding(2));
INSERT INTO hnull VALUES (1, '[1,1]'), (2, NULL), (3, '[2,2]'), (4, NULL);
CREATE INDEX hnull_idx ON hnull USING siamese_hnsw (e);
INSERT INTO hnull VALUES (5, NULL), (6, '[3,3]');
SET enable_seqscan = off;
SELECT id FROM hnull ORDER BY e <-> '[0,0]' LIMIT 10;
SELECT id FROM hnull ORDER BY e <-> NULL LIMIT 10;
RESET enable_seqscan;
SELECT elements, live, ok FROM hnsw_check('hnull_idx');

-- Empty index, then inserts (the first one creates the entry point).
CREATE TABLE hempty (id int, e embedding);
CREATE INDEX hempty_idx ON hempty USING siamese_hnsw (e embedding_cosine_ops);
SET enable_seqscan = off;
SELECT id FROM hempty ORDER BY e <=> '[1,0]' LIMIT 3;
INSERT INTO hempty VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[1,1]'), (4, '[0,0]'), (5, '[-1,0.1]');
-- the zero vector has no direction: not in a cosine index
SELECT id FROM hempty ORDER BY e <=> '[1,0.2]' LIMIT 10;
-- a zero query has no cosine distance to anything (NaN): every indexed row, in any order
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM hempty ORDER BY e <=> '[0,0]' LIMIT 10) s;
RESET enable_seqscan;
SELECT elements, live, entry_level >= 0 AS has_entry, ok FROM hnsw_check('hempty_idx');

-- A query with no distance to order by (a NULL vector, or the zero vector
-- under cosine) orders nothing: like ORDER BY NULL, every row comes back, in
-- any order, whatever the plan.  A custom plan folds e <-> NULL to a
-- constant (sequential scan); a generic plan scans the index, which returns
-- every live row it holds.
CREATE TABLE hnq (id int, e embedding(2));
INSERT INTO hnq SELECT i, array_to_embedding(ARRAY[i, i % 7]::real[], 2, true) FROM generate_series(1, 300) i;
CREATE INDEX hnq_l2 ON hnq USING siamese_hnsw (e);
CREATE INDEX hnq_cos ON hnq USING siamese_hnsw (e embedding_cosine_ops);
DELETE FROM hnq WHERE id % 10 = 0;
PREPARE hnq_l2(embedding, int) AS
	SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM hnq ORDER BY e <-> $1 LIMIT $2) s;
PREPARE hnq_cos(embedding, int) AS
	SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM hnq ORDER BY e <=> $1 LIMIT $2) s;
SET enable_seqscan = off;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE hnq_l2(NULL, 3);
EXECUTE hnq_l2(NULL, 3);
EXECUTE hnq_l2(NULL, 1000);
EXECUTE hnq_cos(NULL, 1000);
EXPLAIN (COSTS OFF) EXECUTE hnq_cos('[0,0]', 3);
EXECUTE hnq_cos('[0,0]', 3);
EXECUTE hnq_cos('[0,0]', 1000);
SET plan_cache_mode = force_custom_plan;
EXPLAIN (COSTS OFF) EXECUTE hnq_l2(NULL, 3);
EXECUTE hnq_l2(NULL, 3);
EXECUTE hnq_l2(NULL, 1000);
SET enable_indexscan = off;
EXECUTE hnq_cos('[0,0]', 1000);
RESET enable_indexscan;
RESET plan_cache_mode;
RESET enable_seqscan;
DEALLOCATE hnq_l2;
DEALLOCATE hnq_cos;
DROP TABLE hnq;

-- Unlogged tables (init fork) and TRUNCATE.
CREATE UNLOGGED TABLE hunlog (id int, e embedding(2));
CREATE INDEX hunlog_idx ON hunlog USING siamese_hnsw (e);
INSERT INTO hunlog SELECT i, array_to_embedding(ARRAY[i, -i]::real[], 2, true) FROM generate_series(1, 100) i;
TRUNCATE hunlog;
INSERT INTO hunlog VALUES (1, '[5,5]');
SET enable_seqscan = off;
SELECT id FROM hunlog ORDER BY e <-> '[0,0]' LIMIT 5;
RESET enable_seqscan;

-- Delete half, VACUUM, insert new rows: still exact, no dead rows.
DELETE FROM hv WHERE id % 2 = 0;
VACUUM hv;
SELECT elements, live, deleted, links_to_deleted, problems, unreachable, ok FROM hnsw_check('hv_l2');
INSERT INTO hv SELECT i, array_to_embedding(ARRAY[sin(i) * 10, cos(i * 1.3) * 10, sin(i * 0.7) * 10 + i / 1000.0]::real[], 3, true)
  FROM generate_series(20001, 21000) i;
SELECT q, hv_same(q, 10, '<->') FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]'), ('[10,10,10]'), ('[3,-7,1]')) v(q);
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE id % 2 = 0 AND id <= 10000) AS dead, count(*) AS total
  FROM (SELECT id FROM hv ORDER BY e <-> '[0,0,0]' LIMIT 100000) s;
RESET enable_seqscan;
-- the new rows link only to live elements (the insert's search skips deleted ones)
SELECT live, links_to_deleted, ok FROM hnsw_check('hv_l2');

-- A graph larger than maintenance_work_mem: a WARNING (its element count
-- depends on the allocator's overheads, which an assertion-enabled server
-- changes; TAP 105 checks the text), then built on disk.
CREATE TABLE hbig (id int, e embedding(64));
INSERT INTO hbig SELECT i, array_to_embedding(ARRAY(SELECT sin(i * d)::real FROM generate_series(1, 64) d), 64, true)
  FROM generate_series(1, 4000) i;
SET maintenance_work_mem = '1MB';
SET client_min_messages = error;
CREATE INDEX hbig_idx ON hbig USING siamese_hnsw (e);
RESET client_min_messages;
RESET maintenance_work_mem;
-- (on-disk inserts can leave a rare element without in-links ...)
SELECT elements, live, problems, unreachable < 20 AS few_unreachable, ok = (unreachable = 0) AS ok_iff_all_reachable FROM hnsw_check('hbig_idx');
-- ... which VACUUM links again
VACUUM hbig;
SELECT elements, live, problems, unreachable, ok FROM hnsw_check('hbig_idx');

-- Many exact duplicates: the graph stays connected and searchable.
CREATE TABLE hdup (id int, e embedding(4));
INSERT INTO hdup SELECT i, '[1,1,1,1]' FROM generate_series(1, 3000) i;
INSERT INTO hdup SELECT i, array_to_embedding(ARRAY[i, 0, 0, 0]::real[], 4, true) FROM generate_series(3001, 3100) i;
CREATE INDEX hdup_idx ON hdup USING siamese_hnsw (e);
SELECT elements, problems, unreachable, ok FROM hnsw_check('hdup_idx');
SET enable_seqscan = off;
-- 3049 and 3051 tie: compare as a set
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM hdup ORDER BY e <-> '[3050,0,0,0]' LIMIT 3) s;
SELECT count(*) FROM (SELECT id FROM hdup WHERE id > 3000 ORDER BY e <-> '[1,1,1,1]' LIMIT 10) s;
RESET enable_seqscan;
-- Duplicates inserted into the built index one by one stay reachable too:
-- a new copy never evicts an older one from a list, and when it is forced
-- into a full list the entry it displaces is linked from the new element.
-- In a transaction still open, the rows count as live.
BEGIN;
INSERT INTO hdup SELECT i, '[1,1,1,1]' FROM generate_series(4001, 4400) i;
INSERT INTO hdup SELECT i, '[3005,0,0,0]' FROM generate_series(5001, 5400) i;
SELECT elements, live, problems, unreachable, ok FROM hnsw_check('hdup_idx');
SET LOCAL enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM hdup ORDER BY e <-> '[3005,0,0,0]' LIMIT 40) s WHERE id > 5000 OR id = 3005;
ROLLBACK;
-- rolled back: the elements of rows no snapshot can see are not counted
SELECT elements, live, problems, unreachable, ok FROM hnsw_check('hdup_idx');
DROP TABLE hdup;

-- Storage codes: elements hold bf16 or sq8 codes instead of float32 vectors.
-- The scan reports lower bounds and the executor re-ranks by the exact
-- distance, so the rows and their order are exact on this small table, and
-- the distance values are the operator's (no approximation leaks out).
CREATE TABLE hq (id int PRIMARY KEY, e embedding(3));
INSERT INTO hq SELECT id, e FROM hv;
CREATE INDEX hq_sq8 ON hq USING siamese_hnsw (e) WITH (storage = sq8);
SELECT relname, (regexp_match(reloptions::text, 'storage=(\w+)'))[1] AS storage FROM pg_class WHERE relname = 'hq_sq8';
CREATE FUNCTION hq_same(q embedding, k int, op text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
  SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
  EXECUTE format('SELECT string_agg(id || '':'' || (e %s $1), '','') FROM (SELECT id, e FROM hq ORDER BY e %s $1 LIMIT $2) s', op, op) INTO a USING q, k;
  SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
  EXECUTE format('SELECT string_agg(id || '':'' || (e %s $1), '','') FROM (SELECT id, e FROM hq ORDER BY e %s $1 LIMIT $2) s', op, op) INTO b USING q, k;
  RETURN a = b;
END $$;
SELECT q, hq_same(q, 10, '<->') FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]'), ('[10,10,10]'), ('[0,0,0]')) v(q);
-- the values the ORDER BY reports are exact too
SET enable_seqscan = off;
SELECT id, round((e <-> '[1,2,3]')::numeric, 6) AS dist FROM hq ORDER BY e <-> '[1,2,3]' LIMIT 5;
RESET enable_seqscan;
-- inserts after the build are coded too; the graph checks clean
INSERT INTO hq SELECT i, array_to_embedding(ARRAY[sin(i) * 10, cos(i * 1.3) * 10, sin(i * 0.7) * 10 + i / 1000.0]::real[], 3, true)
  FROM generate_series(10001, 10500) i;
SELECT q, hq_same(q, 10, '<->') FROM (VALUES ('[1,2,3]'::embedding), ('[3,-7,1]')) v(q);
SELECT elements, live, problems, unreachable, ok FROM hnsw_check('hq_sq8');
-- VACUUM repairs neighbour lists from the decoded vectors
DELETE FROM hq WHERE id % 3 = 0;
VACUUM (INDEX_CLEANUP ON) hq;
SELECT elements, live, problems, unreachable, ok FROM hnsw_check('hq_sq8');
SELECT q, hq_same(q, 10, '<->') FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]')) v(q);
DROP INDEX hq_sq8;
-- bf16 under cosine and inner product
CREATE INDEX hq_cos ON hq USING siamese_hnsw (e embedding_cosine_ops) WITH (storage = bf16);
SELECT q, hq_same(q, 10, '<=>') FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]'), ('[3,-7,1]')) v(q);
SELECT elements, problems, unreachable, ok FROM hnsw_check('hq_cos');
DROP INDEX hq_cos;
CREATE INDEX hq_ip ON hq USING siamese_hnsw (e embedding_ip_ops) WITH (storage = sq8);
SET enable_seqscan = off;
-- inner product: approximate like the float32 index, but always in exact order
SELECT bool_and(d1 <= d2) AS ascending FROM (
  SELECT d AS d1, lead(d) OVER (ORDER BY rn) AS d2 FROM (
    SELECT row_number() OVER () AS rn, e <#> '[1,2,3]' AS d FROM (SELECT e FROM hq ORDER BY e <#> '[1,2,3]' LIMIT 20) s) t) u
  WHERE d2 IS NOT NULL;
RESET enable_seqscan;
DROP INDEX hq_ip;
-- an index over an empty table takes its codes from the rows inserted later
TRUNCATE hq;
CREATE INDEX hq_bf16 ON hq USING siamese_hnsw (e) WITH (storage = bf16);
INSERT INTO hq SELECT id, e FROM hv WHERE id <= 2000;
SELECT q, hq_same(q, 10, '<->') FROM (VALUES ('[1,2,3]'::embedding), ('[-5,0,9]')) v(q);
SELECT elements, problems, unreachable, ok FROM hnsw_check('hq_bf16');
-- an unknown code, and a storage option that ALTER INDEX can set (it takes
-- effect at the next REINDEX, like m)
CREATE INDEX ON hq USING siamese_hnsw (e) WITH (storage = int8);
CREATE INDEX ON hq USING siamese_hnsw (e) WITH (storage = '');
\echo :LAST_ERROR_SQLSTATE
ALTER INDEX hq_bf16 SET (storage = sq8);
REINDEX INDEX hq_bf16;
SELECT elements, problems, unreachable, ok FROM hnsw_check('hq_bf16');
SELECT q, hq_same(q, 10, '<->') FROM (VALUES ('[1,2,3]'::embedding)) v(q);
DROP TABLE hq;
DROP FUNCTION hq_same;

-- A temporary table's index lives in the backend's local buffers.
CREATE TEMP TABLE htemp AS SELECT id, e FROM hv WHERE id <= 3000;
CREATE INDEX htemp_idx ON htemp USING siamese_hnsw (e);
INSERT INTO htemp SELECT id, e FROM hv WHERE id > 3000 AND id <= 3500;
SET enable_seqscan = off;
SELECT array_agg(id) AS index_top5 FROM (SELECT id FROM htemp ORDER BY e <-> '[1,2,3]' LIMIT 5) s;
SET enable_seqscan = on;
SET enable_indexscan = off;
SELECT array_agg(id) AS exact_top5 FROM (SELECT id FROM htemp ORDER BY e <-> '[1,2,3]' LIMIT 5) s;
RESET enable_seqscan;
RESET enable_indexscan;
SELECT elements, problems, unreachable, ok FROM hnsw_check('htemp_idx');
DROP TABLE htemp;

-- The checker refuses other relations.
SELECT * FROM hnsw_check('hv');
SELECT * FROM hnsw_check('hv_pkey');
-- an OID that names no relation: 42P01 (undefined_table), as PostgreSQL's own
SELECT * FROM hnsw_check(0::regclass);
\echo :LAST_ERROR_SQLSTATE

DROP TABLE hv, hmix, hnull, hempty, hunlog, hbig;
DROP FUNCTION hv_topk, hv_same, hv_overlap;

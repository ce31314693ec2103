-- Citus helpers without Citus (sql/install/70_citus.sql): each says clearly
-- that Citus is missing; the catalog itself never needs Citus.
-- test/t/060_citus.pl runs them on a Citus cluster.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT siamese.distribute_models();
CREATE TABLE citus_probe (e siamese.embedding);
CREATE INDEX citus_probe_idx ON citus_probe USING siamese_hnsw (e);
SELECT * FROM siamese.hnsw_check_shards('citus_probe_idx');
DROP TABLE citus_probe;

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

-- The per-image functions a report on a Citus table runs on the shards:
-- an undecodable image has no clean embeddings (it is skipped and counted);
-- inconsistent arguments are refused.
SELECT siamese._report_clean('\x00', 'fashion', 'fashion') IS NULL AS undecodable_is_null;
SELECT array_length(siamese._report_clean(siamese.to_png(siamese.corrupt(
	'\x89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b0770000000049454e44ae426082',
	'fog', 1)), 'fashion', 'fashion-2d'), 1) AS clean_values;
SELECT siamese._report_corruption_cells('\x00', 0, 1, 'fashion', 'fashion', '{1}', 1, 1, 1, '\x000000', '\x00', NULL);
SELECT siamese._report_corruption_cells('\x00', 5, 1, 'fashion', 'fashion', '{1}', 1, 1, 1, '\x', '\x', NULL);
SELECT siamese._report_perturbation_cells('\x00', 1, 2, 'fashion', 'fashion', '{1}', 1, 1, 1,
	decode(repeat('00', 4 * 128 * 2), 'hex'), decode(repeat('00', 4 * 128 * 2), 'hex'), '{0,1}');
SELECT siamese._report_perturbation_cells('\x00', 0, 1, 'fashion', 'fashion', '{1}', NULL, 1, 1, '\x', '\x', NULL);

-- The per-image work of train_model on a Citus table: the image at the
-- model's input size as 8-bit pixels (fashion: 1 x 28 x 28), NULL when it
-- cannot be decoded, and a bad configuration refused.
SELECT siamese._train_pixels('\x00', config_text) IS NULL AS undecodable_is_null
	FROM siamese.models WHERE name = 'fashion';
SELECT length(siamese._train_pixels(siamese.to_png(siamese.corrupt(
	'\x89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b0770000000049454e44ae426082',
	'fog', 1)), config_text)) AS pixel_bytes
	FROM siamese.models WHERE name = 'fashion';
SELECT siamese._train_pixels('\x00', '{"input":');

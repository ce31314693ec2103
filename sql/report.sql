-- Robustness reports: robustness_report / perturbation_report procedures,
-- the report tables, summary view, comparison, failure handling,
-- privileges, row level security and hostile identifiers.
SET search_path = public, siamese;
SET extra_float_digits = 0;
\set VERBOSITY terse

-- 24 small labelled images: 4 base images (8x8 gray PNG) x 6 noisy variants.
CREATE TABLE report_base (label text, img bytea);
INSERT INTO report_base VALUES
('a', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000020406080a0c0e0000424446484a4c4e4000828486888a8c8e8000c2c4c6c8cacccec001030507090b0d0f0001434547494b4d4f4001838587898b8d8f8001c3c5c7c9cbcdcfc15441f812b73f7650000000049454e44ae426082', 'hex')),
('b', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000323436383a3c3e3000727476787a7c7e7000b2b4b6b8babcbeb000f2f4f6f8fafcfef001333537393b3d3f3001737577797b7d7f7001b3b5b7b9bbbdbfb001f3f5f7f9fbfdfff3044204165621cfd0000000049454e44ae426082', 'hex')),
('c', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000001049444154789c6360f88f0619c81201007c041fe11217041e0000000049454e44ae426082', 'hex')),
('d', decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000002349444154789c63608001152860f08002861c28609800050c5ba080e1061430fc810200c5261f81df2000550000000049454e44ae426082', 'hex'));
CREATE TABLE report_images (id serial PRIMARY KEY, label text, png bytea);
INSERT INTO report_images (label, png)
SELECT b.label, to_png(corrupt(b.img, 'gaussian_noise', 1, v))
FROM report_base b, generate_series(1, 6) v ORDER BY b.label, v;
-- one row that is not an image, one with a NULL image: skipped / ignored
INSERT INTO report_images (label, png) VALUES ('a', '\x00010203'), ('b', NULL);

-- (load the models once quietly: the one-time BLAS advice depends on the machine)
SET client_min_messages = error;
SELECT dims(embed(png)) AS fashion_dims, dims(embed(png, 'fashion-pixels')) AS pixel_dims FROM report_images WHERE id = 1;
RESET client_min_messages;

-- A model against itself: CE is exactly 1 wherever defined, so is mCE.
SET siamese.report.progress = on;
CALL robustness_report('report_images', 'png', 'label', model => 'fashion', baseline_model => 'fashion',
					   corruptions => '{fog,contrast,speckle_noise}', severities => '{3,1}',
					   sample_size => 100, seed => 7) \gset self_
SET siamese.report.progress = off;
SELECT kind, source_table, mode, status, images, skipped_images, severities, corruptions,
	   mce, relative_mce IS NULL OR relative_mce = 1 AS rel_ok, heldout_mce,
	   finished_at >= started_at AS timed, duration IS NOT NULL AS has_duration,
	   model_hash = (SELECT hash FROM models WHERE name = 'fashion') AS hash_recorded
FROM robustness_runs WHERE run_id = :self_report_id;
-- one clean row plus corruptions x severities cells, model and baseline equal
SELECT corruption, severity, held_out, images, model_error = baseline_error AS same,
	   model_error BETWEEN 0 AND 1 AS in_range, model_drift = baseline_drift AS same_drift
FROM robustness_results WHERE run_id = :self_report_id ORDER BY severity = 0 DESC, corruption, severity;
SELECT corruption, held_out, ce, relative_ce IS NULL OR relative_ce = 1 AS rel_ok
FROM robustness_corruption_scores WHERE run_id = :self_report_id ORDER BY corruption;

-- The real pairing: fashion against the raw-pixel baseline, default corruption set.
CALL robustness_report('report_images', 'png', 'label', severities => '{1,5}', sample_size => 12) \gset real_
SELECT status, images, cardinality(corruptions) AS corruptions,
	   (SELECT count(*) FROM robustness_results r WHERE r.run_id = :real_report_id) AS cells,
	   (SELECT count(*) FROM robustness_corruption_scores s WHERE s.run_id = :real_report_id) AS scores,
	   clean_error BETWEEN 0 AND 1 AS clean_ok, mce > 0 AS mce_ok, heldout_mce IS NULL AS no_heldout
FROM robustness_runs WHERE run_id = :real_report_id;
-- CE is the ratio of summed errors (checked against the stored cells)
SELECT bool_and(s.ce IS NULL OR abs(s.ce - x.m / x.b) < 1e-12) AS ce_matches_cells
FROM robustness_corruption_scores s
JOIN (SELECT corruption, sum(model_error) m, sum(baseline_error) b FROM robustness_results
	  WHERE run_id = :real_report_id AND severity > 0 GROUP BY corruption) x USING (corruption)
WHERE s.run_id = :real_report_id;

-- Same configuration again: comparable, nothing changed, no regression.
CALL robustness_report('report_images', 'png', 'label', severities => '{1,5}', sample_size => 12) \gset again_
SELECT metric, change = 0 AS unchanged, regression
FROM robustness_compare(:again_report_id) WHERE metric IN ('clean_error', 'mce', 'ce:fog') ORDER BY metric;
SELECT count(*) AS regressions FROM robustness_compare(:again_report_id, 0) WHERE regression;
SELECT previous_report = :real_report_id AS previous_is_first FROM robustness_compare() LIMIT 1;

-- Without labels: self-retrieval error.
CALL robustness_report('report_images', 'png', corruptions => '{pixelate}', severities => '{5}',
					   sample_size => 10) \gset unl_
SELECT mode, label_column, images, clean_error, status FROM robustness_runs WHERE run_id = :unl_report_id;

-- Perturbations: the model against itself flips exactly as often.
CALL perturbation_report('report_images', 'png', 'label', baseline_model => 'fashion',
						 perturbations => '{brightness,gaussian_noise}', sample_size => 8) \gset pert_
SELECT kind, status, images, mfr, mt5d IS NULL OR mt5d = 1 AS t5d_ok FROM robustness_runs WHERE run_id = :pert_report_id;
SELECT perturbation, noise, frames > 1 AS frames_ok, sequences, model_fp = baseline_fp AS same_fp,
	   model_fp BETWEEN 0 AND 1 AS fp_range
FROM robustness_perturbation_results WHERE run_id = :pert_report_id ORDER BY perturbation;
CALL perturbation_report('report_images', 'png', perturbations => '{rotate}', sample_size => 6) \gset pert2_
SELECT mode, status, mt5d IS NULL AS no_t5d_without_labels FROM robustness_runs WHERE run_id = :pert2_report_id;

-- The summary view.
SELECT run_id = :self_report_id AS is_self, kind, state, mce, ce FROM robustness_summary
WHERE run_id IN (:self_report_id, :pert_report_id) ORDER BY run_id;

-- Inside a transaction block the run is all-or-nothing.
BEGIN;
CALL robustness_report('report_images', 'png', 'label', corruptions => '{fog}', severities => '{1}',
					   sample_size => 5) \gset tx_
SELECT status FROM robustness_runs WHERE run_id = :tx_report_id;
ROLLBACK;
SELECT count(*) AS rolled_back FROM robustness_runs WHERE run_id = :tx_report_id;

-- Cancellation (statement_timeout) leaves a committed run marked failed, with no results.
SELECT count(*) AS runs_before FROM robustness_runs \gset
SET statement_timeout = '150ms';
CALL robustness_report('report_images', 'png', 'label', sample_size => 25);
RESET statement_timeout;
-- (the error's detail, hidden by terse verbosity here, names the failed report)
SELECT status, error_sqlstate, error_message, finished_at IS NOT NULL AS finished,
	   (SELECT count(*) FROM robustness_results r WHERE r.run_id = x.run_id) AS results,
	   (SELECT count(*) FROM robustness_corruption_scores r WHERE r.run_id = x.run_id) AS scores
FROM robustness_runs x WHERE run_id > (SELECT max(run_id) FROM robustness_runs WHERE status = 'succeeded');
SELECT state FROM robustness_summary WHERE status = 'failed';

-- Bad calls fail before any run row is written.
SELECT count(*) AS runs_before FROM robustness_runs \gset
CALL robustness_report('report_images', 'nope');
CALL robustness_report('report_images', 'label');
CALL robustness_report('report_images', 'png', 'nope');
CALL robustness_report('report_images', 'png', model => 'nope');
CALL robustness_report('report_images', 'png', corruptions => '{fog,bogus}');
CALL robustness_report('report_images', 'png', corruptions => '{fog,fog}');
CALL robustness_report('report_images', 'png', corruptions => '{}');
CALL robustness_report('report_images', 'png', severities => '{0,1}');
CALL robustness_report('report_images', 'png', severities => '{2,2}');
CALL robustness_report('report_images', 'png', sample_size => 1);
CALL robustness_report('report_images', 'png', k => 0);
CALL robustness_report('no_such_table', 'png');
CALL robustness_report(NULL, 'png');
CALL perturbation_report('report_images', 'png', perturbations => '{fog}');
CALL perturbation_report('report_images', 'png', difficulty => 4);
SELECT count(*) - :runs_before AS new_rows FROM robustness_runs;
-- k needs more images than the table has: a failed run (the sample is known only then)
CALL robustness_report('report_images', 'png', 'label', corruptions => '{fog}', k => 30);
\echo :LAST_ERROR_SQLSTATE
SELECT status, error_message FROM robustness_runs ORDER BY run_id DESC LIMIT 1;
-- an empty source (or one with fewer than 2 usable images) is a data problem,
-- 22023 like the k error above, not insufficient_resources (53000)
CREATE TABLE report_empty (png bytea, label text);
CALL robustness_report('report_empty', 'png', corruptions => '{fog}');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO report_empty SELECT png, label FROM report_images WHERE id = 1;
CALL perturbation_report('report_empty', 'png', perturbations => '{gaussian_noise}');
\echo :LAST_ERROR_SQLSTATE
SELECT kind, status, error_sqlstate, error_message FROM robustness_runs ORDER BY run_id DESC LIMIT 2;
DROP TABLE report_empty;
SELECT * FROM robustness_compare(-1);
SELECT * FROM robustness_compare(threshold => -1);

-- Hostile identifiers are quoted everywhere.
CREATE TABLE "Robust ""T""; DROP TABLE report_base; --" ("img col" bytea, "Label's" int);
INSERT INTO "Robust ""T""; DROP TABLE report_base; --" SELECT png, id % 3 FROM report_images WHERE png IS NOT NULL AND id <= 24;
CALL robustness_report('"Robust ""T""; DROP TABLE report_base; --"', 'img col', 'Label''s',
					   corruptions => '{fog}', severities => '{1}', sample_size => 9) \gset hostile_
SELECT source_table, image_column, label_column, status, images FROM robustness_runs WHERE run_id = :hostile_report_id;
SELECT count(*) AS base_still_there FROM report_base;

-- Privileges and row level security.
CREATE ROLE regress_report_user;
CREATE ROLE regress_report_other;
-- the administrator decides who may use the extension's schema
GRANT USAGE ON SCHEMA siamese TO regress_report_user, regress_report_other;
GRANT SELECT ON report_images TO regress_report_user;
ALTER TABLE report_images ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_a ON report_images FOR SELECT TO regress_report_user USING (label IN ('a', 'b'));
SET ROLE regress_report_other;
-- no SELECT on the source: a permission error, no data, no run row
CALL siamese.robustness_report('report_images', 'png', 'label', corruptions => '{fog}');
SELECT count(*) AS visible_runs FROM siamese.robustness_runs;
RESET ROLE;
SET ROLE regress_report_user;
-- RLS on the source: only the 12 visible images (of labels a and b) are sampled
CALL siamese.robustness_report('report_images', 'png', 'label', corruptions => '{fog}', severities => '{1}',
							   sample_size => 100) \gset rls_
SELECT images, skipped_images, status, run_by FROM siamese.robustness_runs WHERE run_id = :rls_report_id;
-- a role sees only its own runs and cannot write into another role's run
SELECT count(*) AS own_runs_only FROM siamese.robustness_runs WHERE run_by <> current_user;
INSERT INTO siamese.robustness_results VALUES (:self_report_id, 'snow', 1, false, 1, 0, 0, NULL, NULL);
UPDATE siamese.robustness_runs SET status = 'failed' WHERE run_id = :self_report_id;
DELETE FROM siamese.robustness_runs WHERE run_id = :self_report_id;
-- nor forge results of its own: only the extension's code writes runs, their
-- status and metrics, and results (the role has no INSERT or UPDATE)
UPDATE siamese.robustness_runs SET mce = 0.01 WHERE run_id = :rls_report_id;
UPDATE siamese.robustness_runs SET status = 'failed', error_message = 'made up' WHERE run_id = :rls_report_id;
INSERT INTO siamese.robustness_runs (kind, source_table, image_column, mode, model, model_hash,
	baseline_model, baseline_hash, corruptions, severities, sample_size, seed, k, config_key)
VALUES ('corruption', 'x', 'y', 'knn', 'm', 'h', 'b', 'h', '{fog}', '{1}', 2, 0, 1, 'k');
INSERT INTO siamese.robustness_results VALUES (:rls_report_id, 'snow', 1, false, 1, 0, 0, NULL, NULL);
INSERT INTO siamese.robustness_corruption_scores VALUES (:rls_report_id, 'snow', false, 0, 0, 0, 0, 0);
-- nor through the internal functions: they evaluate only the caller's own
-- running run, for the table it was begun for
SELECT * FROM siamese._report_evaluate(:rls_report_id, 'report_images');
SELECT * FROM siamese._report_evaluate(:self_report_id, 'report_images');
SELECT siamese._report_begin('corruption', 'report_images', 'png', 'label', 'fashion', 'fashion-pixels',
							 '{fog}', '{1}', NULL, NULL, 10, 0, 1) AS begun_id \gset
SELECT * FROM siamese._report_evaluate(:begun_id, 'report_base');
SELECT status, run_by = current_user AS own, images IS NULL AS no_results FROM siamese.robustness_runs WHERE run_id = :begun_id;
-- it reads its runs, untouched ...
SELECT status, images, mce > 0 AS mce_measured, error_message,
	   (SELECT count(*) FROM siamese.robustness_results r WHERE r.run_id = x.run_id) AS results
FROM siamese.robustness_runs x WHERE run_id = :rls_report_id;
-- ... runs perturbation reports too ...
CALL siamese.perturbation_report('report_images', 'png', 'label', perturbations => '{brightness}',
								 sample_size => 6) \gset rlsp_
SELECT kind, status, images, run_by FROM siamese.robustness_runs WHERE run_id = :rlsp_report_id;
-- ... and deletes its runs, with their results
DELETE FROM siamese.robustness_runs WHERE run_id IN (:rls_report_id, :rlsp_report_id, :begun_id);
RESET ROLE;
SELECT status FROM robustness_runs WHERE run_id = :self_report_id;
SELECT count(*) AS runs_left, (SELECT count(*) FROM robustness_results WHERE run_id = :rls_report_id) AS results_left
FROM robustness_runs WHERE run_id IN (:rls_report_id, :rlsp_report_id, :begun_id);

DROP POLICY only_a ON report_images;
ALTER TABLE report_images DISABLE ROW LEVEL SECURITY;
DELETE FROM robustness_runs WHERE run_by = 'regress_report_user';
REVOKE ALL ON report_images FROM regress_report_user;
REVOKE USAGE ON SCHEMA siamese FROM regress_report_user, regress_report_other;
DROP ROLE regress_report_user;
DROP ROLE regress_report_other;
DROP TABLE "Robust ""T""; DROP TABLE report_base; --";
-- deleting a run removes its results
DELETE FROM robustness_runs WHERE run_id = :real_report_id;
SELECT count(*) AS orphan_results FROM robustness_results WHERE run_id = :real_report_id;
DELETE FROM robustness_runs;
DROP TABLE report_images, report_base;

-- report_chart / report_history_chart: PNG charts of robustness reports.
-- Runs and results are inserted directly (as the superuser) with fixed ids far
-- above what the identity sequence hands out, so the test does not depend on
-- other tests' runs; the charts are checked by decoding their PNG headers.
SET search_path = siamese, public;

-- A succeeded corruption run: 5 benchmark corruptions and 1 held-out one.
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, label_column, mode, model, model_hash,
	 baseline_model, baseline_hash, corruptions, severities, sample_size, seed, k, config_key,
	 images, status, started_at, finished_at, duration, clean_error, baseline_clean_error,
	 mce, relative_mce, heldout_mce, heldout_relative_mce)
OVERRIDING SYSTEM VALUE VALUES (900001, 'corruption', 'public.items', 'image', 'label', 'knn', 'fashion', 'mh',
		'fashion-pixels', 'bh', '{gaussian_noise,fog,snow,brightness,contrast,speckle_noise}',
		'{1,2,3,4,5}', 100, 0, 1, 'report_chart_k1', 100, 'succeeded',
		'2026-01-10 00:00+00', '2026-01-10 00:05+00', '5 min', 0.1, 0.2, 0.6, 0.5, 0.7, 0.6);
INSERT INTO robustness_results (run_id, corruption, severity, held_out, images, model_error,
								baseline_error, model_drift, baseline_drift)
SELECT 900001, c, s, c = 'speckle_noise', 100, 0.1 + 0.06 * s + 0.01 * o, 0.2 + 0.12 * s, 0.01 * s, 0.02 * s
FROM unnest('{gaussian_noise,fog,snow,brightness,contrast,speckle_noise}'::text[]) WITH ORDINALITY u(c, o),
	 generate_series(1, 5) s
UNION ALL
SELECT 900001, 'clean', 0, false, 100, 0.1, 0.2, 0, 0;

-- 6 corruptions = 2 rows of 5 panels: 1000 x (92 + 2 * 180 + 36)
SELECT format, width, height, channels, color_model FROM image_info(report_chart(900001));

-- one corruption measured at two severities only: 1 row of panels
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, mode, model, model_hash, baseline_model,
	 baseline_hash, corruptions, severities, sample_size, seed, k, config_key, images, status,
	 started_at, clean_error, baseline_clean_error)
OVERRIDING SYSTEM VALUE VALUES (900002, 'corruption', 'public.items', 'image', 'self_retrieval', 'fashion', 'mh',
		'fashion-pixels', 'bh', '{fog}', '{2,4}', 10, 0, 1, 'report_chart_k2', 10, 'succeeded',
		'2026-01-10 00:00+00', 0.0, 0.0);
INSERT INTO robustness_results (run_id, corruption, severity, held_out, images, model_error, baseline_error)
VALUES (900002, 'fog', 2, false, 10, 0.3, 0.5), (900002, 'fog', 4, false, 10, 0.4, 0.9);
SELECT width, height FROM image_info(report_chart(900002));

-- a succeeded run without any result rows still charts (an empty panel row)
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, mode, model, model_hash, baseline_model,
	 baseline_hash, corruptions, severities, sample_size, seed, k, config_key, status)
OVERRIDING SYSTEM VALUE VALUES (900003, 'corruption', 'public.items', 'image', 'knn', 'fashion', 'mh',
		'fashion-pixels', 'bh', '{fog}', '{1}', 10, 0, 1, 'report_chart_k3', 'succeeded');
SELECT width, height FROM image_info(report_chart(900003));

-- A perturbation run (self-retrieval, so no mT5D): 3 bars = 900 x (92 + 3 * 34 + 50)
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, mode, model, model_hash, baseline_model,
	 baseline_hash, perturbations, difficulty, sample_size, seed, k, config_key, images,
	 status, started_at, mfr)
OVERRIDING SYSTEM VALUE VALUES (900010, 'perturbation', 'public.items', 'image', 'self_retrieval', 'fashion', 'mh',
		'fashion-pixels', 'bh', '{gaussian_noise,translate,rotate}', 1, 50, 0, 1,
		'report_chart_p1', 50, 'succeeded', '2026-01-10 00:00+00', 0.55);
INSERT INTO robustness_perturbation_results (run_id, perturbation, noise, frames, sequences,
											 model_fp, baseline_fp, fr)
VALUES (900010, 'gaussian_noise', true, 10, 50, 0.02, 0.05, 0.4),
	   (900010, 'translate', false, 10, 50, 0.03, 0.04, 0.75),
	   (900010, 'rotate', false, 10, 50, 0.01, 0.0, NULL);
SELECT format, width, height FROM image_info(report_chart(900010));

-- History: 900 x 500 whatever the number of runs
SELECT width, height FROM image_info(report_history_chart(900001));
SELECT width, height FROM image_info(report_history_chart(900001, 1));
SELECT width, height FROM image_info(report_history_chart(900010));
SELECT width, height FROM image_info(report_history_chart(900003, 1000));

-- The history takes the succeeded runs with the same config_key up to and
-- including the given run: later runs, failed runs and other configurations
-- leave the chart unchanged, an earlier comparable run changes it.
CREATE TEMP TABLE hist AS
	SELECT report_history_chart(900001) AS png, report_history_chart(900001, 1) AS png1;
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, mode, model, model_hash, baseline_model,
	 baseline_hash, corruptions, severities, sample_size, seed, k, config_key, status,
	 started_at, mce, relative_mce, error_message)
OVERRIDING SYSTEM VALUE VALUES (900004, 'corruption', 'public.items', 'image', 'knn', 'fashion', 'mh', 'fashion-pixels',
		'bh', '{fog}', '{1}', 100, 0, 1, 'report_chart_k1', 'succeeded', '2026-01-11 00:00+00',
		0.9, 0.9, NULL),
	   (900005, 'corruption', 'public.items', 'image', 'knn', 'fashion', 'mh', 'fashion-pixels',
		'bh', '{fog}', '{1}', 100, 0, 1, 'report_chart_k1', 'failed', '2026-01-09 00:00+00',
		NULL, NULL, 'canceling statement due to user request'),
	   (900006, 'corruption', 'public.items', 'image', 'knn', 'fashion', 'mh', 'fashion-pixels',
		'bh', '{fog}', '{1}', 100, 0, 1, 'report_chart_other', 'succeeded', '2026-01-08 00:00+00',
		0.8, 0.8, NULL),
	   (900007, 'corruption', 'public.items', 'image', 'knn', 'fashion', 'mh', 'fashion-pixels',
		'bh', '{fog}', '{1}', 100, 0, 1, 'report_chart_k1', 'running', '2026-01-09 12:00+00',
		NULL, NULL, NULL);
SELECT report_history_chart(900001) = png AS unchanged FROM hist;
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, mode, model, model_hash, baseline_model,
	 baseline_hash, corruptions, severities, sample_size, seed, k, config_key, status,
	 started_at, mce, relative_mce)
OVERRIDING SYSTEM VALUE VALUES (900008, 'corruption', 'public.items', 'image', 'knn', 'fashion', 'mh', 'fashion-pixels',
		'bh', '{fog}', '{1}', 100, 0, 1, 'report_chart_k1', 'succeeded', '2026-01-05 00:00+00',
		0.7, NULL);
SELECT report_history_chart(900001) <> png AS changed,
	   report_history_chart(900001, 1) = png1 AS last_run_only_unchanged
FROM hist;
DELETE FROM robustness_runs WHERE run_id = 900008;
SELECT report_history_chart(900001) = png AS unchanged_again FROM hist;

-- Errors
SELECT report_chart(-1);
SELECT report_history_chart(123456789012);
SELECT report_chart(900005);
SELECT report_history_chart(900007);
SELECT report_history_chart(900001, 0);
SELECT report_history_chart(900001, 1001);
-- the SQLSTATEs
DO $$
BEGIN
	PERFORM siamese.report_chart(-1);
EXCEPTION WHEN undefined_object THEN
	RAISE NOTICE 'unknown report: undefined_object';
END
$$;
DO $$
BEGIN
	PERFORM siamese.report_chart(900005);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RAISE NOTICE 'failed report: object_not_in_prerequisite_state';
END
$$;
-- hostile text in names is drawn as '?' and shortened, never trusted
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, mode, model, model_hash, baseline_model,
	 baseline_hash, corruptions, severities, sample_size, seed, k, config_key, status)
OVERRIDING SYSTEM VALUE VALUES (900009, 'corruption', '"we""ird ☃".tbl', 'im"g', 'knn',
		repeat('m', 500), 'mh', E'b\x01\u00e9', 'bh', '{fog}', '{1}', 10, 0, 1,
		'report_chart_k9', 'succeeded');
INSERT INTO robustness_results (run_id, corruption, severity, held_out, images, model_error, baseline_error)
VALUES (900009, E'f\u00f6g''); DROP TABLE x; --', 1, false, 10, 'NaN', 'Infinity'),
	   (900009, repeat('x', 1000), 3, true, 10, -1, 2),
	   (900009, 'clean', 0, false, 10, 'NaN', '-Infinity');
SELECT width, height FROM image_info(report_chart(900009));
SELECT width, height FROM image_info(report_history_chart(900009));

-- STRICT: NULL in, NULL out
SELECT report_chart(NULL) IS NULL AS null_chart,
	   report_history_chart(NULL) IS NULL AS null_history,
	   report_history_chart(900001, NULL) IS NULL AS null_max_runs;

-- Declared properties: invoker's rights, pinned search_path
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer, p.provolatile,
	   p.proparallel, p.proisstrict, p.proconfig
FROM pg_proc p WHERE p.oid IN ('report_chart(bigint)'::regprocedure,
							   'report_history_chart(bigint, integer)'::regprocedure)
ORDER BY 1;

-- Charts work inside a parallel worker (the functions are PARALLEL SAFE)
SET force_parallel_mode = on;
SELECT width, height FROM image_info(report_chart(900001));
SELECT width FROM image_info(report_history_chart(900001));
RESET force_parallel_mode;

-- Row level security: another role does not see these runs at all ...
CREATE ROLE regress_report_chart_user;
GRANT USAGE ON SCHEMA siamese TO regress_report_chart_user;
SET ROLE regress_report_chart_user;
SELECT report_chart(900001);
SELECT report_history_chart(900010);
-- ... but charts its own run (roles cannot write report rows: the superuser
-- writes it for the role, running, then succeeded)
RESET ROLE;
INSERT INTO robustness_runs
	(run_id, kind, source_table, image_column, mode, model, model_hash, baseline_model,
	 baseline_hash, corruptions, severities, sample_size, seed, k, config_key, images,
	 started_at, clean_error, baseline_clean_error, run_by)
OVERRIDING SYSTEM VALUE VALUES (900030, 'corruption', 'public.items', 'image', 'knn', 'fashion', 'mh', 'fashion-pixels',
		'bh', '{fog}', '{1,2,3,4,5}', 10, 0, 1, 'report_chart_k1', 10,
		'2026-01-20 00:00+00', 0.1, 0.2, 'regress_report_chart_user');
INSERT INTO robustness_results (run_id, corruption, severity, held_out, images, model_error, baseline_error)
SELECT 900030, 'fog', s, false, 10, 0.1 * s, 0.15 * s FROM generate_series(1, 5) s;
SET ROLE regress_report_chart_user;
SELECT report_chart(900030);
RESET ROLE;
UPDATE robustness_runs SET status = 'succeeded', finished_at = started_at WHERE run_id = 900030;
SET ROLE regress_report_chart_user;
SELECT width, height FROM image_info(report_chart(900030));
-- its history holds only its own run of config report_chart_k1
SELECT report_history_chart(900030) = report_history_chart(900030, 1) AS only_own_runs;
RESET ROLE;
-- the superuser also sees its own runs of that configuration
SELECT report_history_chart(900030) = report_history_chart(900030, 1) AS only_own_runs;

-- Clean up
DELETE FROM robustness_runs WHERE run_id BETWEEN 900001 AND 900099;
REVOKE USAGE ON SCHEMA siamese FROM regress_report_chart_user;
DROP ROLE regress_report_chart_user;
SELECT count(*) AS leftover FROM robustness_runs WHERE run_id BETWEEN 900001 AND 900099;

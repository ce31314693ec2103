-- security.sql: code that runs with more rights than its caller never
-- resolves a name through the caller's search_path (docs/security.md).
--  * every SECURITY DEFINER function of the extension pins search_path;
--  * with hostile objects in public (an = operator for text, md5, encode,
--    decode, all raising) first on a role's search_path, that role registers
--    a model (SECURITY DEFINER), embeds with it and runs a report (which
--    writes as the extension owner) without calling any of them.
\set VERBOSITY terse
SELECT count(*) FILTER (WHERE p.prosecdef) AS security_definer,
	count(*) FILTER (WHERE p.prosecdef AND NOT EXISTS (
		SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')) AS without_pinned_search_path
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'siamese_pg';

CREATE FUNCTION public.hostile_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hostile = called'; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_eq);
CREATE FUNCTION public.md5(bytea) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hostile md5 called'; END $$;
CREATE FUNCTION public.encode(bytea, text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hostile encode called'; END $$;
CREATE FUNCTION public.decode(text, text) RETURNS bytea LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hostile decode called'; END $$;

CREATE ROLE security_probe;
GRANT EXECUTE ON FUNCTION siamese.register_model(text, bytea, jsonb) TO security_probe;
GRANT USAGE ON SCHEMA siamese TO security_probe;
CREATE TABLE security_images (id integer, label integer, img bytea);
INSERT INTO security_images
SELECT g, g % 2, siamese.corrupt(pg_catalog.decode('89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b0770000000049454e44ae426082', 'hex'),
	'gaussian_noise', 1 + g % 5, g)
FROM generate_series(1, 20) g;
GRANT SELECT ON security_images TO security_probe;

SET ROLE security_probe;
SET search_path = public, siamese, pg_catalog;
SELECT register_model('security-copy', m.weights, m.config) IS NOT NULL AS registered
FROM siamese.models m WHERE m.name OPERATOR(pg_catalog.=) 'fashion-pixels';
SELECT count(dims(embed(img, 'security-copy'))) AS embedded FROM security_images;
SET client_min_messages = warning;
\o /dev/null
CALL robustness_report('security_images', 'img', 'label', model => 'security-copy',
	baseline_model => 'fashion-pixels', corruptions => '{fog}', severities => '{1}', sample_size => 20);
\o
RESET client_min_messages;
SELECT status, images FROM robustness_runs WHERE model OPERATOR(pg_catalog.=) 'security-copy';
RESET search_path;
RESET ROLE;

DELETE FROM siamese.robustness_runs WHERE model = 'security-copy';
DELETE FROM siamese.models WHERE name = 'security-copy';
DROP TABLE security_images;
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.hostile_eq(text, text), public.md5(bytea), public.encode(bytea, text), public.decode(text, text);
REVOKE ALL ON FUNCTION siamese.register_model(text, bytea, jsonb) FROM security_probe;
REVOKE ALL ON SCHEMA siamese FROM security_probe;
DROP ROLE security_probe;

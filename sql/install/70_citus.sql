-- ---------------------------------------------------------------------------
-- 70_citus.sql: helpers for a Citus cluster (docs/scale-out.md).
--
-- Nothing else in the extension depends on Citus, and these functions only
-- reach Citus's objects through dynamic SQL, so they exist everywhere and
-- say clearly that Citus is missing where it is.
--
-- How models reach the workers: each user-registered model also lives in a
-- function siamese_models.<name>() (50_models.sql), and embed() falls back
-- to it when the model's catalog row is missing.  Citus propagates CREATE
-- and DROP FUNCTION from the coordinator to every node inside the
-- coordinator's transaction (two-phase commit), and creates the distributed
-- functions on nodes added later: registering or dropping a model on the
-- coordinator is thereby registering or dropping it on every node.  Only
-- models registered before Citus was installed need distribute_models().
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese._require_citus() RETURNS void
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'Citus is not installed in this database'
			USING ERRCODE = 'feature_not_supported',
				HINT = 'This function manages a Citus cluster; see docs/scale-out.md.';
	END IF;
END
$$;
COMMENT ON FUNCTION siamese._require_citus() IS
	'raises feature_not_supported unless the citus extension is installed in this database';

CREATE FUNCTION siamese.distribute_models() RETURNS integer
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fn regprocedure;
	known boolean;
	done integer := 0;
BEGIN
	PERFORM siamese._require_citus();
	FOR fn IN
		SELECT p.oid::regprocedure FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace
		JOIN siamese.models c ON c.name = p.proname::text AND NOT c.builtin
		WHERE n.nspname = 'siamese_models' AND p.pronargs = 0
		ORDER BY p.proname
	LOOP
		-- pg_dist_object lists the objects Citus keeps on every node
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object WHERE classid = $1 AND objid = $2)'
			INTO known USING 'pg_catalog.pg_proc'::regclass, fn::oid;
		CONTINUE WHEN known;
		EXECUTE 'SELECT pg_catalog.create_distributed_function($1)' USING fn;
		done := done + 1;
	END LOOP;
	RETURN done;
END
$$;
REVOKE EXECUTE ON FUNCTION siamese.distribute_models() FROM PUBLIC;
COMMENT ON FUNCTION siamese.distribute_models() IS
	'on a Citus coordinator: puts on every node the user-registered models that are not there yet (those registered before Citus was installed; later ones reach every node with their registration); returns how many it distributed; superusers only';

CREATE FUNCTION siamese.hnsw_check_shards(index regclass,
	OUT shard_index text, OUT node text, OUT port integer, OUT ok boolean, OUT report jsonb)
	RETURNS SETOF record
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	tbl regclass;
BEGIN
	PERFORM siamese._require_citus();
	SELECT i.indrelid INTO tbl FROM pg_index i WHERE i.indexrelid = hnsw_check_shards.index;
	IF NOT FOUND THEN
		RAISE EXCEPTION '"%" is not an index', index USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
			WHERE c.oid = hnsw_check_shards.index AND a.amname = 'siamese_hnsw') THEN
		RAISE EXCEPTION '"%" is not a siamese_hnsw index', index USING ERRCODE = 'wrong_object_type';
	END IF;
	-- Each placement's index is checked on its node, all nodes in parallel;
	-- Citus names a shard's index shard_name(index, shardid).
	RETURN QUERY EXECUTE $q$
		WITH placements AS (
			SELECT pl.nodename, pl.nodeport, pg_catalog.shard_name($1, s.shardid) AS shard_index
			FROM pg_catalog.pg_dist_shard s
			JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid
			JOIN pg_catalog.pg_dist_node pl ON pl.groupid = p.groupid AND pl.noderole = 'primary'
			WHERE s.logicalrelid = $2
			ORDER BY s.shardid, pl.nodename, pl.nodeport),
		runs AS (
			SELECT array_agg(nodename) AS nodes, array_agg(nodeport) AS ports,
				array_agg(pg_catalog.format('SELECT pg_catalog.row_to_json(c) FROM siamese.hnsw_check(%L) c',
					shard_index)) AS commands,
				array_agg(shard_index) AS names
			FROM placements)
		SELECT r.names[o.n], o.node_name, o.node_port,
			CASE WHEN o.success THEN (o.result::jsonb ->> 'ok')::boolean END,
			CASE WHEN o.success THEN o.result::jsonb ELSE pg_catalog.jsonb_build_object('error', o.result) END
		FROM runs r,
			pg_catalog.master_run_on_worker(r.nodes, r.ports, r.commands, true)
				WITH ORDINALITY AS o(node_name, node_port, success, result, n)
		ORDER BY 1$q$
		USING index, tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % of index % is not distributed by Citus', tbl, index
			USING ERRCODE = 'wrong_object_type',
				HINT = 'Check an index of a local table with siamese.hnsw_check().';
	END IF;
END
$$;
COMMENT ON FUNCTION siamese.hnsw_check_shards(regclass) IS
	'on a Citus coordinator: siamese.hnsw_check() of a distributed table''s siamese_hnsw index on every shard placement, run on the workers in parallel; one row per placement with ok (NULL when the check itself failed) and the full report (or the error) as jsonb';

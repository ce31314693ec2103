-- ---------------------------------------------------------------------------
-- 40_hnsw.sql: the siamese_hnsw index access method (HNSW graph over
-- siamese.embedding), its operator classes and its consistency checker.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.siamese_hnsw_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME', 'siamese_hnsw_handler' LANGUAGE C STRICT;
COMMENT ON FUNCTION siamese.siamese_hnsw_handler(internal) IS
	'index access method handler of siamese_hnsw';

CREATE ACCESS METHOD siamese_hnsw TYPE INDEX HANDLER siamese.siamese_hnsw_handler;
COMMENT ON ACCESS METHOD siamese_hnsw IS
	'HNSW approximate nearest-neighbour index over siamese.embedding (ORDER BY distance LIMIT k)';

-- Support function 1 of each operator class tells the index which distance
-- it orders by; the index computes that distance with its own kernels.
CREATE FUNCTION siamese.hnsw_l2_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'siamese_hnsw_l2_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.hnsw_cosine_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'siamese_hnsw_cosine_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.hnsw_ip_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'siamese_hnsw_ip_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.hnsw_l2_support(internal) IS
	'siamese_hnsw support function: the operator class orders by Euclidean distance';
COMMENT ON FUNCTION siamese.hnsw_cosine_support(internal) IS
	'siamese_hnsw support function: the operator class orders by cosine distance';
COMMENT ON FUNCTION siamese.hnsw_ip_support(internal) IS
	'siamese_hnsw support function: the operator class orders by negative inner product';

CREATE OPERATOR CLASS siamese.embedding_l2_ops
	DEFAULT FOR TYPE siamese.embedding USING siamese_hnsw AS
	OPERATOR 1 siamese.<-> (siamese.embedding, siamese.embedding) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 siamese.hnsw_l2_support(internal);
CREATE OPERATOR CLASS siamese.embedding_cosine_ops
	FOR TYPE siamese.embedding USING siamese_hnsw AS
	OPERATOR 1 siamese.<=> (siamese.embedding, siamese.embedding) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 siamese.hnsw_cosine_support(internal);
CREATE OPERATOR CLASS siamese.embedding_ip_ops
	FOR TYPE siamese.embedding USING siamese_hnsw AS
	OPERATOR 1 siamese.<#> (siamese.embedding, siamese.embedding) FOR ORDER BY pg_catalog.float_ops,
	FUNCTION 1 siamese.hnsw_ip_support(internal);
COMMENT ON OPERATOR CLASS siamese.embedding_l2_ops USING siamese_hnsw IS
	'siamese_hnsw index for ORDER BY e <-> q (Euclidean distance); the default';
COMMENT ON OPERATOR CLASS siamese.embedding_cosine_ops USING siamese_hnsw IS
	'siamese_hnsw index for ORDER BY e <=> q (cosine distance); zero vectors are not indexed';
COMMENT ON OPERATOR CLASS siamese.embedding_ip_ops USING siamese_hnsw IS
	'siamese_hnsw index for ORDER BY e <#> q (negative inner product)';
COMMENT ON OPERATOR FAMILY siamese.embedding_l2_ops USING siamese_hnsw IS
	'operator family of siamese.embedding_l2_ops';
COMMENT ON OPERATOR FAMILY siamese.embedding_cosine_ops USING siamese_hnsw IS
	'operator family of siamese.embedding_cosine_ops';
COMMENT ON OPERATOR FAMILY siamese.embedding_ip_ops USING siamese_hnsw IS
	'operator family of siamese.embedding_ip_ops';

CREATE FUNCTION siamese.hnsw_check(index regclass,
	OUT elements bigint, OUT live bigint, OUT deleted bigint,
	OUT max_level integer, OUT entry_level integer,
	OUT links bigint, OUT links_to_deleted bigint, OUT problems bigint,
	OUT unreachable bigint, OUT pages bigint, OUT ok boolean)
	AS 'MODULE_PATHNAME', 'siamese_hnsw_check' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION siamese.hnsw_check(regclass) IS
	'walks a siamese_hnsw graph and checks it (element format, neighbour lists, entry point, reachability); takes a SHARE lock on the table';

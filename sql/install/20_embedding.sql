-- ---------------------------------------------------------------------------
-- 20_embedding.sql: the siamese.embedding type (I/O, typmod, casts), distance
-- operators and functions, arithmetic, btree/hash support and the avg/sum
-- aggregates.  C code: src/pg/embedding_{type,ops,agg}.c.
-- ---------------------------------------------------------------------------

CREATE TYPE siamese.embedding;

CREATE FUNCTION siamese.embedding_in(cstring, oid, integer) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_out(siamese.embedding) RETURNS cstring
	AS 'MODULE_PATHNAME', 'embedding_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME', 'embedding_typmod_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_recv(internal, oid, integer) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_send(siamese.embedding) RETURNS bytea
	AS 'MODULE_PATHNAME', 'embedding_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Values are float4s that do not compress; vectors over the TOAST threshold
-- go out of line uncompressed.
CREATE TYPE siamese.embedding (
	INPUT = siamese.embedding_in,
	OUTPUT = siamese.embedding_out,
	TYPMOD_IN = siamese.embedding_typmod_in,
	TYPMOD_OUT = siamese.embedding_typmod_out,
	RECEIVE = siamese.embedding_recv,
	SEND = siamese.embedding_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

COMMENT ON TYPE siamese.embedding IS
	'dense float4 vector of 1 to 16000 dimensions; embedding(n) fixes the dimension count; text form ''[1,2,3]''';
COMMENT ON FUNCTION siamese.embedding_in(cstring, oid, integer) IS 'text input of embedding: ''[v1,v2,...]''';
COMMENT ON FUNCTION siamese.embedding_out(siamese.embedding) IS 'text output of embedding (shortest exact decimal per value)';
COMMENT ON FUNCTION siamese.embedding_typmod_in(cstring[]) IS 'parses the dimension count of embedding(n)';
COMMENT ON FUNCTION siamese.embedding_typmod_out(integer) IS 'prints the dimension count of embedding(n)';
COMMENT ON FUNCTION siamese.embedding_recv(internal, oid, integer) IS 'binary input of embedding: int16 dims, int16 0, float4 values';
COMMENT ON FUNCTION siamese.embedding_send(siamese.embedding) IS 'binary output of embedding: int16 dims, int16 0, float4 values';

-- ---------------------------------------------------------------------------
-- Casts
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embedding(siamese.embedding, integer, boolean) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.embedding(siamese.embedding, integer, boolean) IS
	'checks an embedding against the dimension count of embedding(n)';
CREATE CAST (siamese.embedding AS siamese.embedding)
	WITH FUNCTION siamese.embedding(siamese.embedding, integer, boolean) AS IMPLICIT;
COMMENT ON CAST (siamese.embedding AS siamese.embedding) IS
	'enforces the dimension count of embedding(n)';

CREATE FUNCTION siamese.array_to_embedding(real[], integer, boolean) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.array_to_embedding(double precision[], integer, boolean) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.array_to_embedding(integer[], integer, boolean) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_to_array(siamese.embedding) RETURNS real[]
	AS 'MODULE_PATHNAME', 'embedding_to_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION siamese.array_to_embedding(real[], integer, boolean) IS
	'converts a one-dimensional real[] without nulls, NaN or infinities to an embedding';
COMMENT ON FUNCTION siamese.array_to_embedding(double precision[], integer, boolean) IS
	'converts a one-dimensional double precision[] without nulls, NaN, infinities or values out of real range to an embedding';
COMMENT ON FUNCTION siamese.array_to_embedding(integer[], integer, boolean) IS
	'converts a one-dimensional integer[] without nulls to an embedding';
COMMENT ON FUNCTION siamese.embedding_to_array(siamese.embedding) IS
	'converts an embedding to real[]';

CREATE CAST (real[] AS siamese.embedding)
	WITH FUNCTION siamese.array_to_embedding(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS siamese.embedding)
	WITH FUNCTION siamese.array_to_embedding(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS siamese.embedding)
	WITH FUNCTION siamese.array_to_embedding(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (siamese.embedding AS real[])
	WITH FUNCTION siamese.embedding_to_array(siamese.embedding) AS ASSIGNMENT;

COMMENT ON CAST (real[] AS siamese.embedding) IS 'real[] to embedding (one-dimensional, no nulls, finite values)';
COMMENT ON CAST (double precision[] AS siamese.embedding) IS 'double precision[] to embedding (one-dimensional, no nulls, finite values in real range)';
COMMENT ON CAST (integer[] AS siamese.embedding) IS 'integer[] to embedding (one-dimensional, no nulls)';
COMMENT ON CAST (siamese.embedding AS real[]) IS 'embedding to real[]';

-- ---------------------------------------------------------------------------
-- Distances and vector functions
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.l2_distance(siamese.embedding, siamese.embedding) RETURNS double precision
	AS 'MODULE_PATHNAME', 'embedding_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.l2_squared_distance(siamese.embedding, siamese.embedding) RETURNS double precision
	AS 'MODULE_PATHNAME', 'embedding_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.cosine_distance(siamese.embedding, siamese.embedding) RETURNS double precision
	AS 'MODULE_PATHNAME', 'embedding_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.inner_product(siamese.embedding, siamese.embedding) RETURNS double precision
	AS 'MODULE_PATHNAME', 'embedding_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.negative_inner_product(siamese.embedding, siamese.embedding) RETURNS double precision
	AS 'MODULE_PATHNAME', 'embedding_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.dims(siamese.embedding) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.norm(siamese.embedding) RETURNS double precision
	AS 'MODULE_PATHNAME', 'embedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.l2_normalize(siamese.embedding) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.distance_isa() RETURNS text
	AS 'MODULE_PATHNAME', 'embedding_distance_isa' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION siamese.l2_distance(siamese.embedding, siamese.embedding) IS
	'Euclidean (L2) distance; operator <->';
COMMENT ON FUNCTION siamese.l2_squared_distance(siamese.embedding, siamese.embedding) IS
	'squared Euclidean distance (same order as l2_distance, no square root)';
COMMENT ON FUNCTION siamese.cosine_distance(siamese.embedding, siamese.embedding) IS
	'1 - cosine similarity, in [0, 2]; NaN when either embedding is all zeros; operator <=>';
COMMENT ON FUNCTION siamese.inner_product(siamese.embedding, siamese.embedding) IS
	'inner (dot) product';
COMMENT ON FUNCTION siamese.negative_inner_product(siamese.embedding, siamese.embedding) IS
	'negated inner product (smaller is more similar); operator <#>';
COMMENT ON FUNCTION siamese.dims(siamese.embedding) IS 'number of dimensions';
COMMENT ON FUNCTION siamese.norm(siamese.embedding) IS 'Euclidean (L2) norm';
COMMENT ON FUNCTION siamese.l2_normalize(siamese.embedding) IS
	'the embedding scaled to unit L2 norm; the zero vector is returned unchanged';
COMMENT ON FUNCTION siamese.distance_isa() IS
	'instruction set of the distance kernels used by this backend (avx512, avx2 or scalar)';

CREATE OPERATOR siamese.<-> (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding,
	FUNCTION = siamese.l2_distance, COMMUTATOR = OPERATOR(siamese.<->)
);
CREATE OPERATOR siamese.<=> (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding,
	FUNCTION = siamese.cosine_distance, COMMUTATOR = OPERATOR(siamese.<=>)
);
CREATE OPERATOR siamese.<#> (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding,
	FUNCTION = siamese.negative_inner_product, COMMUTATOR = OPERATOR(siamese.<#>)
);
COMMENT ON OPERATOR siamese.<-> (siamese.embedding, siamese.embedding) IS 'Euclidean (L2) distance';
COMMENT ON OPERATOR siamese.<=> (siamese.embedding, siamese.embedding) IS 'cosine distance (1 - cosine similarity)';
COMMENT ON OPERATOR siamese.<#> (siamese.embedding, siamese.embedding) IS 'negative inner product';

-- ---------------------------------------------------------------------------
-- Element-wise arithmetic
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embedding_add(siamese.embedding, siamese.embedding) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_sub(siamese.embedding, siamese.embedding) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_mul(siamese.embedding, siamese.embedding) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.embedding_add(siamese.embedding, siamese.embedding) IS 'element-wise sum; operator +';
COMMENT ON FUNCTION siamese.embedding_sub(siamese.embedding, siamese.embedding) IS 'element-wise difference; operator -';
COMMENT ON FUNCTION siamese.embedding_mul(siamese.embedding, siamese.embedding) IS 'element-wise product; operator *';

CREATE OPERATOR siamese.+ (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding,
	FUNCTION = siamese.embedding_add, COMMUTATOR = OPERATOR(siamese.+)
);
CREATE OPERATOR siamese.- (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding,
	FUNCTION = siamese.embedding_sub
);
CREATE OPERATOR siamese.* (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding,
	FUNCTION = siamese.embedding_mul, COMMUTATOR = OPERATOR(siamese.*)
);
COMMENT ON OPERATOR siamese.+ (siamese.embedding, siamese.embedding) IS 'element-wise sum';
COMMENT ON OPERATOR siamese.- (siamese.embedding, siamese.embedding) IS 'element-wise difference';
COMMENT ON OPERATOR siamese.* (siamese.embedding, siamese.embedding) IS 'element-wise product';

-- ---------------------------------------------------------------------------
-- Comparison, btree and hash support (DISTINCT, GROUP BY, ORDER BY, joins)
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embedding_lt(siamese.embedding, siamese.embedding) RETURNS boolean
	AS 'MODULE_PATHNAME', 'embedding_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_le(siamese.embedding, siamese.embedding) RETURNS boolean
	AS 'MODULE_PATHNAME', 'embedding_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_eq(siamese.embedding, siamese.embedding) RETURNS boolean
	AS 'MODULE_PATHNAME', 'embedding_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_ne(siamese.embedding, siamese.embedding) RETURNS boolean
	AS 'MODULE_PATHNAME', 'embedding_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_ge(siamese.embedding, siamese.embedding) RETURNS boolean
	AS 'MODULE_PATHNAME', 'embedding_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_gt(siamese.embedding, siamese.embedding) RETURNS boolean
	AS 'MODULE_PATHNAME', 'embedding_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_cmp(siamese.embedding, siamese.embedding) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_hash(siamese.embedding) RETURNS integer
	AS 'MODULE_PATHNAME', 'embedding_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_hash_extended(siamese.embedding, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'embedding_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION siamese.embedding_lt(siamese.embedding, siamese.embedding) IS 'implementation of < for embedding';
COMMENT ON FUNCTION siamese.embedding_le(siamese.embedding, siamese.embedding) IS 'implementation of <= for embedding';
COMMENT ON FUNCTION siamese.embedding_eq(siamese.embedding, siamese.embedding) IS 'implementation of = for embedding';
COMMENT ON FUNCTION siamese.embedding_ne(siamese.embedding, siamese.embedding) IS 'implementation of <> for embedding';
COMMENT ON FUNCTION siamese.embedding_ge(siamese.embedding, siamese.embedding) IS 'implementation of >= for embedding';
COMMENT ON FUNCTION siamese.embedding_gt(siamese.embedding, siamese.embedding) IS 'implementation of > for embedding';
COMMENT ON FUNCTION siamese.embedding_cmp(siamese.embedding, siamese.embedding) IS
	'btree comparison: element by element, then by dimension count';
COMMENT ON FUNCTION siamese.embedding_hash(siamese.embedding) IS 'hash of an embedding (consistent with =)';
COMMENT ON FUNCTION siamese.embedding_hash_extended(siamese.embedding, bigint) IS
	'64-bit seeded hash of an embedding (consistent with =)';

CREATE OPERATOR siamese.< (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding, FUNCTION = siamese.embedding_lt,
	COMMUTATOR = OPERATOR(siamese.>), NEGATOR = OPERATOR(siamese.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR siamese.<= (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding, FUNCTION = siamese.embedding_le,
	COMMUTATOR = OPERATOR(siamese.>=), NEGATOR = OPERATOR(siamese.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR siamese.= (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding, FUNCTION = siamese.embedding_eq,
	COMMUTATOR = OPERATOR(siamese.=), NEGATOR = OPERATOR(siamese.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR siamese.<> (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding, FUNCTION = siamese.embedding_ne,
	COMMUTATOR = OPERATOR(siamese.<>), NEGATOR = OPERATOR(siamese.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR siamese.>= (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding, FUNCTION = siamese.embedding_ge,
	COMMUTATOR = OPERATOR(siamese.<=), NEGATOR = OPERATOR(siamese.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
CREATE OPERATOR siamese.> (
	LEFTARG = siamese.embedding, RIGHTARG = siamese.embedding, FUNCTION = siamese.embedding_gt,
	COMMUTATOR = OPERATOR(siamese.<), NEGATOR = OPERATOR(siamese.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR siamese.< (siamese.embedding, siamese.embedding) IS 'less than (element by element, then dimension count)';
COMMENT ON OPERATOR siamese.<= (siamese.embedding, siamese.embedding) IS 'less than or equal';
COMMENT ON OPERATOR siamese.= (siamese.embedding, siamese.embedding) IS 'equal (same dimensions and values; -0 = 0)';
COMMENT ON OPERATOR siamese.<> (siamese.embedding, siamese.embedding) IS 'not equal';
COMMENT ON OPERATOR siamese.>= (siamese.embedding, siamese.embedding) IS 'greater than or equal';
COMMENT ON OPERATOR siamese.> (siamese.embedding, siamese.embedding) IS 'greater than';

CREATE OPERATOR CLASS siamese.embedding_ops
	DEFAULT FOR TYPE siamese.embedding USING btree AS
	OPERATOR 1 siamese.<,
	OPERATOR 2 siamese.<=,
	OPERATOR 3 siamese.=,
	OPERATOR 4 siamese.>=,
	OPERATOR 5 siamese.>,
	FUNCTION 1 siamese.embedding_cmp(siamese.embedding, siamese.embedding);
CREATE OPERATOR CLASS siamese.embedding_ops
	DEFAULT FOR TYPE siamese.embedding USING hash AS
	OPERATOR 1 siamese.=,
	FUNCTION 1 siamese.embedding_hash(siamese.embedding),
	FUNCTION 2 siamese.embedding_hash_extended(siamese.embedding, bigint);
COMMENT ON OPERATOR CLASS siamese.embedding_ops USING btree IS
	'default btree ordering of embeddings (sorting, DISTINCT, GROUP BY, merge joins)';
COMMENT ON OPERATOR FAMILY siamese.embedding_ops USING btree IS
	'btree operators of embedding';
COMMENT ON OPERATOR CLASS siamese.embedding_ops USING hash IS
	'default hash operator class of embeddings (hash aggregation and hash joins)';
COMMENT ON OPERATOR FAMILY siamese.embedding_ops USING hash IS
	'hash operators of embedding';

-- ---------------------------------------------------------------------------
-- Aggregates: state float8[] {count, sum_1 .. sum_d}; {0} when empty.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embedding_accum(double precision[], siamese.embedding) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'embedding_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_combine(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'embedding_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_avg_final(double precision[]) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_avg_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION siamese.embedding_sum_final(double precision[]) RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'embedding_sum_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.embedding_accum(double precision[], siamese.embedding) IS
	'transition function of avg(embedding) and sum(embedding)';
COMMENT ON FUNCTION siamese.embedding_combine(double precision[], double precision[]) IS
	'combines two partial avg(embedding)/sum(embedding) states (parallel aggregation)';
COMMENT ON FUNCTION siamese.embedding_avg_final(double precision[]) IS
	'final function of avg(embedding)';
COMMENT ON FUNCTION siamese.embedding_sum_final(double precision[]) IS
	'final function of sum(embedding)';

CREATE AGGREGATE siamese.avg(siamese.embedding) (
	SFUNC = siamese.embedding_accum,
	STYPE = double precision[],
	FINALFUNC = siamese.embedding_avg_final,
	COMBINEFUNC = siamese.embedding_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);
CREATE AGGREGATE siamese.sum(siamese.embedding) (
	SFUNC = siamese.embedding_accum,
	STYPE = double precision[],
	FINALFUNC = siamese.embedding_sum_final,
	COMBINEFUNC = siamese.embedding_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE siamese.avg(siamese.embedding) IS
	'element-wise mean of non-null embeddings (NULL for no rows); accumulates in double precision';
COMMENT ON AGGREGATE siamese.sum(siamese.embedding) IS
	'element-wise sum of non-null embeddings (NULL for no rows); accumulates in double precision';

-- siamese_pg 0.1.0, frozen: the install script exactly as the Makefile built it at
-- commit 33cf939 (the sql/install/*.sql of that commit, concatenated).  Kept so that
-- CREATE EXTENSION siamese_pg VERSION '0.1.0' works and the update path to 0.2.0
-- (siamese_pg--0.1.0--0.2.0.sql) can be tested.  Never edit it.

-- siamese_pg 0.1.0 install script, assembled from sql/install/*.sql by the Makefile.
-- Every object lives in schema siamese (created by CREATE EXTENSION from the control file).

\echo Use "CREATE EXTENSION siamese_pg" to load this file. \quit
-- ---------------------------------------------------------------------------
-- 10_image.sql: image codecs (PNG via libpng, JPEG via libjpeg-turbo).
-- C code: src/pg/image_sql.c over src/core/image*.c.  See docs/images.md.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.image_info(image bytea,
	OUT format text, OUT width integer, OUT height integer, OUT channels integer,
	OUT bit_depth integer, OUT color_model text, OUT interlaced boolean)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_image_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION siamese.image_info(bytea) IS
	'header of a PNG or JPEG image: format (png/jpeg), size, stored channels, bit depth, colour model (gray, gray+alpha, palette, rgb, rgba, ycbcr, cmyk, ycck) and whether it is interlaced/progressive; reads no pixels, so siamese.max_image_pixels does not apply';

CREATE FUNCTION siamese.to_png(image bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_to_png' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION siamese.to_png(bytea) IS
	'decodes a PNG or JPEG image (limited by siamese.max_image_pixels) and re-encodes it as an 8-bit gray or RGB PNG; alpha is composited onto black and 16-bit samples are rounded to 8 bits';
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
-- ImageNet-C corruptions (src/pg/corrupt_sql.c over src/core/corrupt*.c).

CREATE FUNCTION corruptions(OUT name text, OUT category text, OUT benchmark boolean,
                            OUT description text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'siamese_corruptions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 19;
COMMENT ON FUNCTION corruptions() IS
'The 19 ImageNet-C corruptions: name, category (noise, blur, weather, digital), whether it is one of the 15 benchmark corruptions (false: held-out), and a description';

CREATE FUNCTION corrupt(image bytea, corruption text, severity integer,
                        seed bigint DEFAULT 0, profile text DEFAULT 'auto')
RETURNS bytea
AS 'MODULE_PATHNAME', 'siamese_corrupt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION corrupt(bytea, text, integer, bigint, text) IS
'Apply an ImageNet-C corruption at severity 0 (identity) to 5 with a seed; profile cifar, tiny, imagenet or auto (by image size). Returns a PNG of the same size';

CREATE FUNCTION corruption_contact_sheet(image bytea, seed bigint DEFAULT 0,
                                         profile text DEFAULT 'auto',
                                         corruptions text[] DEFAULT NULL)
RETURNS bytea
AS 'MODULE_PATHNAME', 'siamese_corruption_contact_sheet'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION corruption_contact_sheet(bytea, bigint, text, text[]) IS
'One labelled PNG showing the image under every corruption (rows; NULL = all 19, held-out ones in grey) and severity (columns, clean first)';
-- ImageNet-P perturbation sequences (src/pg/perturb_sql.c over src/core/perturb.c).

CREATE FUNCTION perturbations(OUT name text, OUT kind text, OUT noise boolean,
                              OUT frames_cifar integer, OUT frames_tiny integer,
                              OUT frames_imagenet integer, OUT description text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'siamese_perturbations'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 14;
COMMENT ON FUNCTION perturbations() IS
'The 14 ImageNet-P perturbation sequences: name, kind (test or validation), whether frames are independent noise draws around the clean frame (false: the parameter changes smoothly with the frame), the frame count under the cifar, tiny and imagenet profiles, and a description';

CREATE FUNCTION perturbation_frames(image bytea, perturbation text, seed bigint DEFAULT 0,
                                    profile text DEFAULT 'auto', difficulty integer DEFAULT 1)
RETURNS TABLE (frame integer, image bytea)
AS 'MODULE_PATHNAME', 'siamese_perturbation_frames'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 31;
COMMENT ON FUNCTION perturbation_frames(bytea, text, bigint, text, integer) IS
'The frames of an ImageNet-P perturbation sequence as PNGs of the input''s size, frame 0 first; profile cifar, tiny, imagenet or auto (by image size) sets the frame count and parameters; difficulty 1 to 3 selects the noise level of the noise sequences (temporal sequences do not depend on it); same seed, same bytes';
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
-- ---------------------------------------------------------------------------
-- 50_models.sql: the model catalog, model registration, embed / embed_batch,
-- the twin pass (pair_distance, same_item), few-shot classify, models(),
-- embedding_plot and blas_info.
-- C code: src/pg/model_{catalog,cache,sql}.c, src/pg/embedding_plot.c.
-- See docs/sql-models.md.
--
-- Immutability contract: a model name is bound to one content hash forever.
-- siamese.model_history remembers every (name, hash) ever registered, even
-- after the model row is deleted, and refuses to bind a name to different
-- content; the catalog refuses updates of content columns.  That is what lets
-- embed() be IMMUTABLE although it reads a table.
-- ---------------------------------------------------------------------------

CREATE TABLE siamese.models (
	name text PRIMARY KEY
		CONSTRAINT models_name_check CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
	hash text NOT NULL,
	dims integer NOT NULL,
	distance text NOT NULL,
	threshold double precision,
	params bigint NOT NULL,
	input text NOT NULL,
	config jsonb NOT NULL,
	config_text text NOT NULL,
	weights bytea NOT NULL,
	builtin boolean NOT NULL DEFAULT false,
	description text,
	registered_at timestamptz NOT NULL DEFAULT now(),
	registered_by name NOT NULL DEFAULT session_user
);
-- Weights are float32 noise to pglz: store them uncompressed out of line.
ALTER TABLE siamese.models ALTER COLUMN weights SET STORAGE EXTERNAL;
ALTER TABLE siamese.models ALTER COLUMN config_text SET STORAGE EXTERNAL;

COMMENT ON TABLE siamese.models IS
	'model catalog: one row per usable model; content columns (config, weights, hash) never change; register with siamese.register_model()';
COMMENT ON COLUMN siamese.models.name IS 'model name, ^[a-z0-9][a-z0-9_-]{0,62}$, bound to one content hash forever';
COMMENT ON COLUMN siamese.models.hash IS 'SHA-256(SHA-256(config_text) || SHA-256(weights)), 64 hex digits';
COMMENT ON COLUMN siamese.models.dims IS 'embedding dimensions';
COMMENT ON COLUMN siamese.models.distance IS 'how embeddings of this model are compared: cosine or l2';
COMMENT ON COLUMN siamese.models.threshold IS 'calibrated verification threshold used by same_item (NULL if none)';
COMMENT ON COLUMN siamese.models.params IS 'parameter count of the inference network (batch norm folded)';
COMMENT ON COLUMN siamese.models.input IS 'input tensor the images are preprocessed to, channels x height x width';
COMMENT ON COLUMN siamese.models.config IS 'the config document as jsonb (for queries)';
COMMENT ON COLUMN siamese.models.config_text IS 'the exact config bytes that were hashed and are loaded';
COMMENT ON COLUMN siamese.models.weights IS 'safetensors bytes';
COMMENT ON COLUMN siamese.models.builtin IS 'shipped with the extension (loaded by CREATE EXTENSION, not dumped by pg_dump)';
COMMENT ON COLUMN siamese.models.description IS 'free text; the only column that may be updated';

CREATE TABLE siamese.model_history (
	name text PRIMARY KEY,
	hash text NOT NULL,
	builtin boolean NOT NULL DEFAULT false,
	first_registered_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE siamese.model_history IS
	'append-only: every (model name, content hash) ever registered; a name is never re-bound to other content, even after the model is deleted';

-- pg_dump keeps user-registered models; shipped ones come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('siamese.models', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('siamese.model_history', 'WHERE NOT builtin');

REVOKE ALL ON siamese.models, siamese.model_history FROM PUBLIC;
GRANT SELECT ON siamese.models, siamese.model_history TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Validation (C): loads the model with the core exactly as embed() will.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.model_validate(config text, weights bytea,
	OUT hash text, OUT dims integer, OUT distance text, OUT threshold double precision,
	OUT params bigint, OUT input text)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_model_validate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.model_validate(text, bytea) IS
	'loads a model (config JSON text + safetensors bytes) with full validation and describes it; raises the loader''s error if it is invalid';

CREATE FUNCTION siamese.model_hash(config text, weights bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'siamese_model_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.model_hash(text, bytea) IS
	'content hash of a model: SHA-256(SHA-256(config) || SHA-256(weights)) in hex (no validation)';

-- ---------------------------------------------------------------------------
-- Guards
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.models_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v record;
BEGIN
	IF TG_OP = 'INSERT' THEN
		v := siamese.model_validate(NEW.config_text, NEW.weights);
		NEW.hash := v.hash;
		NEW.dims := v.dims;
		NEW.distance := v.distance;
		NEW.threshold := v.threshold;
		NEW.params := v.params;
		NEW.input := v.input;
		NEW.config := NEW.config_text::jsonb;
		-- model_history_guard refuses a name bound to other content.
		INSERT INTO siamese.model_history (name, hash, builtin)
			VALUES (NEW.name, NEW.hash, NEW.builtin);
		RETURN NEW;
	ELSIF TG_OP = 'UPDATE' THEN
		IF NEW.name IS DISTINCT FROM OLD.name OR NEW.hash IS DISTINCT FROM OLD.hash
			OR NEW.dims IS DISTINCT FROM OLD.dims OR NEW.distance IS DISTINCT FROM OLD.distance
			OR NEW.threshold IS DISTINCT FROM OLD.threshold OR NEW.params IS DISTINCT FROM OLD.params
			OR NEW.input IS DISTINCT FROM OLD.input OR NEW.builtin IS DISTINCT FROM OLD.builtin
			OR NEW.config IS DISTINCT FROM OLD.config OR NEW.config_text IS DISTINCT FROM OLD.config_text
			OR NEW.weights IS DISTINCT FROM OLD.weights THEN
			RAISE EXCEPTION 'cannot change the content of model "%"', OLD.name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					DETAIL = 'A model name is bound to its content forever so that embed() stays immutable; only description may be updated.',
					HINT = 'Register the new content under a new name with siamese.register_model().';
		END IF;
		RETURN NEW;
	ELSE
		IF OLD.builtin THEN
			RAISE EXCEPTION 'cannot delete shipped model "%"', OLD.name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					HINT = 'Shipped models are removed only by DROP EXTENSION.';
		END IF;
		RETURN OLD;
	END IF;
END
$$;
COMMENT ON FUNCTION siamese.models_guard() IS
	'trigger of siamese.models: validates inserted models and fills the derived columns, records the name in model_history, refuses content updates and deleting shipped models';

CREATE TRIGGER models_guard BEFORE INSERT OR UPDATE OR DELETE ON siamese.models
	FOR EACH ROW EXECUTE FUNCTION siamese.models_guard();

CREATE FUNCTION siamese.model_history_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	old_hash text;
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT h.hash INTO old_hash FROM siamese.model_history h WHERE h.name = NEW.name;
		IF NOT FOUND THEN
			RETURN NEW;
		ELSIF old_hash = NEW.hash THEN
			RETURN NULL;			-- already recorded (re-registration, restore)
		END IF;
		RAISE EXCEPTION 'model name "%" is already bound to different content', NEW.name
			USING ERRCODE = 'duplicate_object',
				DETAIL = format('The name was registered for content hash %s; a name is never re-bound, even after the model is deleted, so that embed() stays immutable.', old_hash),
				HINT = 'Register the model under a new name.';
	END IF;
	IF TG_TABLE_NAME = 'models' THEN
		RAISE EXCEPTION 'cannot truncate siamese.models'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				HINT = 'Delete the rows of user-registered models instead.';
	END IF;
	RAISE EXCEPTION 'siamese.model_history is append-only'
		USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
COMMENT ON FUNCTION siamese.model_history_guard() IS
	'trigger of siamese.model_history: skips exact duplicates, refuses re-binding a name and any update, delete or truncate';

CREATE TRIGGER model_history_guard BEFORE INSERT OR UPDATE OR DELETE ON siamese.model_history
	FOR EACH ROW EXECUTE FUNCTION siamese.model_history_guard();
CREATE TRIGGER model_history_no_truncate BEFORE TRUNCATE ON siamese.model_history
	FOR EACH STATEMENT EXECUTE FUNCTION siamese.model_history_guard();
CREATE TRIGGER models_no_truncate BEFORE TRUNCATE ON siamese.models
	FOR EACH STATEMENT EXECUTE FUNCTION siamese.model_history_guard();

-- ---------------------------------------------------------------------------
-- Registration
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.register_model(name text, weights bytea, config jsonb) RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cfg text := config::text;
	h text;
	existing text;
BEGIN
	IF name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid model name "%"', name
			USING ERRCODE = 'invalid_name',
				DETAIL = 'A model name is 1 to 63 characters from a-z, 0-9, _ and -, starting with a letter or digit.';
	END IF;
	h := siamese.model_hash(cfg, weights);
	SELECT m.hash INTO existing FROM siamese.models m WHERE m.name = register_model.name;
	IF FOUND THEN
		IF existing = h THEN
			RETURN h;				-- same content: idempotent
		END IF;
		RAISE EXCEPTION 'model "%" already exists with different content', name
			USING ERRCODE = 'duplicate_object',
				DETAIL = format('Registered hash %s, new hash %s.', existing, h),
				HINT = 'Register the model under a new name.';
	END IF;
	-- models_guard validates the model and fills the derived columns.
	INSERT INTO siamese.models (name, config_text, weights, builtin, registered_by)
		VALUES (name, cfg, weights, false, session_user)
		RETURNING hash INTO h;
	RETURN h;
END
$$;
REVOKE EXECUTE ON FUNCTION siamese.register_model(text, bytea, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION siamese.register_model(text, bytea, jsonb) IS
	'registers a model (safetensors weights + JSON config) under a new name after full validation; returns its content hash; same name and content again is a no-op; superusers and roles granted EXECUTE only';

CREATE FUNCTION siamese._load_shipped_models() RETURNS integer
	AS 'MODULE_PATHNAME', 'siamese_load_shipped_models' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION siamese._load_shipped_models() FROM PUBLIC;
COMMENT ON FUNCTION siamese._load_shipped_models() IS
	'inserts the models shipped in the extension''s share directory (<name>.json + <name>.safetensors) that are not in the catalog yet; run by CREATE EXTENSION; returns how many were added';

SELECT siamese._load_shipped_models();

-- ---------------------------------------------------------------------------
-- Embedding
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embed(image bytea, model text DEFAULT 'fashion') RETURNS siamese.embedding
	AS 'MODULE_PATHNAME', 'siamese_embed' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
COMMENT ON FUNCTION siamese.embed(bytea, text) IS
	'embedding of a PNG or JPEG image by the named model (preprocessed to the model''s input); immutable because a model name is bound to its content forever';

CREATE FUNCTION siamese.embed_batch(images bytea[], model text DEFAULT 'fashion') RETURNS siamese.embedding[]
	AS 'MODULE_PATHNAME', 'siamese_embed_batch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION siamese.embed_batch(bytea[], text) IS
	'embeddings of many images with batched forward passes (one GEMM per layer per chunk of images); NULL elements give NULL embeddings; equal to embed() on each image up to float rounding';

CREATE FUNCTION siamese.pair_distance(a bytea, b bytea, model text DEFAULT 'fashion') RETURNS double precision
	AS 'MODULE_PATHNAME', 'siamese_pair_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 2000;
COMMENT ON FUNCTION siamese.pair_distance(bytea, bytea, text) IS
	'the twin pass: both images through the same network, then the model''s distance (cosine distance or L2)';

CREATE FUNCTION siamese.same_item(a bytea, b bytea, model text DEFAULT 'fashion') RETURNS boolean
	AS 'MODULE_PATHNAME', 'siamese_same_item' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 2000;
COMMENT ON FUNCTION siamese.same_item(bytea, bytea, text) IS
	'true when pair_distance(a, b, model) <= the model''s calibrated threshold; error if the model has none';

-- ---------------------------------------------------------------------------
-- Listing and BLAS
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.models(OUT name text, OUT hash text, OUT dims integer, OUT distance text,
	OUT threshold double precision, OUT input text, OUT params bigint, OUT builtin boolean,
	OUT quality jsonb, OUT training jsonb, OUT description text, OUT registered_at timestamptz,
	OUT registered_by name)
	RETURNS SETOF record
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT m.name, m.hash, m.dims, m.distance, m.threshold, m.input, m.params, m.builtin,
		m.config -> 'quality', m.config -> 'training', m.description, m.registered_at,
		m.registered_by
	FROM siamese.models m ORDER BY m.name
$$;
COMMENT ON FUNCTION siamese.models() IS
	'the registered models: name, content hash, dimensions, distance, threshold, input, parameters, shipped or not, measured quality and training provenance';

CREATE FUNCTION siamese.blas_info(OUT library text, OUT core text, OUT threads integer,
	OUT cpu text, OUT suggested_coretype text)
	RETURNS record
	AS 'MODULE_PATHNAME', 'siamese_blas_info' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION siamese.blas_info() IS
	'the BLAS library the backend runs the forward pass with, its kernel (core), threads, the best vector ISA of the CPU and, when a much faster OpenBLAS kernel exists for it, the OPENBLAS_CORETYPE value to set in the server''s environment';

-- ---------------------------------------------------------------------------
-- Few-shot classification
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.classify(image bytea, support_table regclass, embedding_column name,
	label_column name, model text DEFAULT 'fashion', k integer DEFAULT 1,
	temperature double precision DEFAULT NULL)
	RETURNS TABLE (label text, probability double precision, distance double precision)
	LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m record;
	q siamese.embedding;
	t double precision;
	op text;
BEGIN
	IF k IS NULL OR k < 1 THEN
		RAISE EXCEPTION 'k must be at least 1' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF image IS NULL OR support_table IS NULL OR embedding_column IS NULL
		OR label_column IS NULL OR model IS NULL THEN
		RETURN;
	END IF;
	q := siamese.embed(image, model);		-- raises for an unknown model
	SELECT mm.distance, mm.dims, mm.config INTO m FROM siamese.models mm WHERE mm.name = model;
	t := coalesce(temperature, (m.config #>> '{quality,temperature}')::double precision,
		(m.config #>> '{quality,fewshot_temperature}')::double precision, 1.0);
	IF NOT (t > 0) OR t = 'Infinity'::double precision THEN
		RAISE EXCEPTION 'temperature must be a positive finite number' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	op := CASE m.distance WHEN 'l2' THEN 'OPERATOR(siamese.<->)' ELSE 'OPERATOR(siamese.<=>)' END;
	-- Runs with the caller's privileges; identifiers are quoted.
	RETURN QUERY EXECUTE format($q$
		WITH d AS (
			SELECT s.%2$I::text AS label, s.%1$I::siamese.embedding %4$s $1 AS dist
			FROM %3$s s
			WHERE s.%1$I IS NOT NULL AND s.%2$I IS NOT NULL
		), r AS (
			SELECT d.label, d.dist, row_number() OVER (PARTITION BY d.label ORDER BY d.dist) AS rn
			FROM d
		), c AS (
			SELECT r.label, avg(r.dist) AS dist FROM r WHERE r.rn <= $2 GROUP BY r.label
		), e AS (
			SELECT c.label, c.dist, exp(-(c.dist - min(c.dist) OVER ()) / $3) AS w FROM c
		)
		SELECT e.label, e.w / sum(e.w) OVER (), e.dist FROM e ORDER BY e.dist, e.label
		$q$, embedding_column, label_column, support_table, op)
		USING q, k, t;
END
$$;
COMMENT ON FUNCTION siamese.classify(bytea, regclass, name, name, text, integer, double precision) IS
	'few-shot classification against a labelled support table: per label the mean of its k smallest distances to the image''s embedding, probabilities by softmax(-distance / temperature) (temperature: argument, else the model''s quality.temperature or quality.fewshot_temperature, else 1); runs as the caller';

-- ---------------------------------------------------------------------------
-- Plot
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.embedding_plot(embeddings siamese.embedding[], labels text[],
	title text DEFAULT NULL) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_embedding_plot' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION siamese.embedding_plot(siamese.embedding[], text[], text) IS
	'PNG scatter plot of embeddings coloured by label with a legend; embeddings of more than 2 dimensions are projected on their first two principal components';
-- ---------------------------------------------------------------------------
-- 60_reports.sql: robustness report storage: runs, per-cell results,
-- per-corruption scores, perturbation results, the summary view.
-- The procedures that fill them are in 61_report_run.sql; charts in
-- 62_report_charts.sql.  See docs/robustness.md.
--
-- Privileges: every role may run reports (they read the source with the
-- caller's own rights) and so may INSERT/UPDATE/DELETE report rows, but row
-- level security limits each role to the runs it started (run_by), and result
-- rows can only be added to one's own run while it is 'running'.  Roles see
-- their own runs; members of pg_read_all_data see every run.
-- ---------------------------------------------------------------------------

CREATE TABLE siamese.robustness_runs (
	run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('corruption', 'perturbation')),
	source_table text NOT NULL,
	image_column name NOT NULL,
	label_column name,
	mode text NOT NULL CHECK (mode IN ('knn', 'self_retrieval')),
	model text NOT NULL,
	model_hash text NOT NULL,
	baseline_model text NOT NULL,
	baseline_hash text NOT NULL,
	corruptions text[],
	severities integer[],
	perturbations text[],
	difficulty integer,
	sample_size integer NOT NULL,
	seed bigint NOT NULL,
	k integer NOT NULL,
	config_key text NOT NULL,
	images integer,
	skipped_images integer,
	status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
	error_sqlstate text,
	error_message text,
	run_by name NOT NULL DEFAULT current_user,
	backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
	backend_start timestamptz,
	started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at timestamptz,
	duration interval,
	clean_error double precision,
	baseline_clean_error double precision,
	mce double precision,
	relative_mce double precision,
	heldout_mce double precision,
	heldout_relative_mce double precision,
	mfr double precision,
	mt5d double precision,
	CHECK ((kind = 'corruption') = (corruptions IS NOT NULL AND severities IS NOT NULL)),
	CHECK ((kind = 'perturbation') = (perturbations IS NOT NULL AND difficulty IS NOT NULL))
);
CREATE INDEX robustness_runs_config_idx ON siamese.robustness_runs (config_key, started_at);

COMMENT ON TABLE siamese.robustness_runs IS
	'one row per robustness report run (corruption or perturbation): parameters, model hashes, status, timing and headline metrics; ratios are plain ratios (1.0 = the baseline)';
COMMENT ON COLUMN siamese.robustness_runs.run_id IS 'report id returned by robustness_report / perturbation_report';
COMMENT ON COLUMN siamese.robustness_runs.kind IS 'corruption (ImageNet-C style) or perturbation (ImageNet-P style)';
COMMENT ON COLUMN siamese.robustness_runs.source_table IS 'the source table as it was named when the run started (qualified, quoted)';
COMMENT ON COLUMN siamese.robustness_runs.image_column IS 'bytea column holding the images';
COMMENT ON COLUMN siamese.robustness_runs.label_column IS 'label column (k-NN error), or NULL (self-retrieval error)';
COMMENT ON COLUMN siamese.robustness_runs.mode IS 'knn: k-NN classification error against the clean sample; self_retrieval: the nearest clean image is not the original';
COMMENT ON COLUMN siamese.robustness_runs.model IS 'evaluated model';
COMMENT ON COLUMN siamese.robustness_runs.model_hash IS 'content hash of the evaluated model at run time';
COMMENT ON COLUMN siamese.robustness_runs.baseline_model IS 'baseline model that plays AlexNet''s role in CE and FR';
COMMENT ON COLUMN siamese.robustness_runs.baseline_hash IS 'content hash of the baseline model at run time';
COMMENT ON COLUMN siamese.robustness_runs.corruptions IS 'corruptions evaluated (corruption runs)';
COMMENT ON COLUMN siamese.robustness_runs.severities IS 'severities evaluated (corruption runs)';
COMMENT ON COLUMN siamese.robustness_runs.perturbations IS 'perturbation sequences evaluated (perturbation runs)';
COMMENT ON COLUMN siamese.robustness_runs.difficulty IS 'ImageNet-P difficulty 1..3 (perturbation runs)';
COMMENT ON COLUMN siamese.robustness_runs.sample_size IS 'requested sample size';
COMMENT ON COLUMN siamese.robustness_runs.seed IS 'seed of the sample and of every corruption';
COMMENT ON COLUMN siamese.robustness_runs.k IS 'k of the k-NN classification (knn mode)';
COMMENT ON COLUMN siamese.robustness_runs.config_key IS 'md5 of the run configuration: runs with equal keys are comparable (history, compare)';
COMMENT ON COLUMN siamese.robustness_runs.images IS 'images actually evaluated (at most sample_size)';
COMMENT ON COLUMN siamese.robustness_runs.skipped_images IS 'sampled rows whose image could not be decoded (a WARNING names the count)';
COMMENT ON COLUMN siamese.robustness_runs.status IS 'running, succeeded or failed; see robustness_summary.state for runs whose backend died';
COMMENT ON COLUMN siamese.robustness_runs.error_sqlstate IS 'SQLSTATE of the error that failed the run';
COMMENT ON COLUMN siamese.robustness_runs.error_message IS 'message of the error that failed the run';
COMMENT ON COLUMN siamese.robustness_runs.run_by IS 'role that ran the report (row level security key)';
COMMENT ON COLUMN siamese.robustness_runs.backend_pid IS 'process id of the backend running the report';
COMMENT ON COLUMN siamese.robustness_runs.backend_start IS 'start time of that backend (tells a live run from one whose backend died)';
COMMENT ON COLUMN siamese.robustness_runs.started_at IS 'when the run started';
COMMENT ON COLUMN siamese.robustness_runs.finished_at IS 'when the run succeeded or failed';
COMMENT ON COLUMN siamese.robustness_runs.duration IS 'finished_at - started_at';
COMMENT ON COLUMN siamese.robustness_runs.clean_error IS 'error of the model on the clean sample (fraction)';
COMMENT ON COLUMN siamese.robustness_runs.baseline_clean_error IS 'error of the baseline on the clean sample (fraction)';
COMMENT ON COLUMN siamese.robustness_runs.mce IS 'mean CE over the benchmark corruptions evaluated (ratio, 1.0 = baseline)';
COMMENT ON COLUMN siamese.robustness_runs.relative_mce IS 'mean relative CE over the benchmark corruptions evaluated';
COMMENT ON COLUMN siamese.robustness_runs.heldout_mce IS 'mean CE over the held-out corruptions evaluated (speckle_noise, gaussian_blur, spatter, saturate)';
COMMENT ON COLUMN siamese.robustness_runs.heldout_relative_mce IS 'mean relative CE over the held-out corruptions evaluated';
COMMENT ON COLUMN siamese.robustness_runs.mfr IS 'mean flip rate over the perturbations evaluated (ratio, 1.0 = baseline)';
COMMENT ON COLUMN siamese.robustness_runs.mt5d IS 'mean top-5 distance ratio over the perturbations evaluated (knn mode only)';

CREATE TABLE siamese.robustness_results (
	run_id bigint NOT NULL REFERENCES siamese.robustness_runs ON DELETE CASCADE,
	corruption text NOT NULL,
	severity integer NOT NULL CHECK (severity BETWEEN 0 AND 5),
	held_out boolean NOT NULL,
	images integer NOT NULL,
	model_error double precision NOT NULL,
	baseline_error double precision NOT NULL,
	model_drift double precision,
	baseline_drift double precision,
	PRIMARY KEY (run_id, corruption, severity),
	CHECK ((corruption = 'clean') = (severity = 0))
);
COMMENT ON TABLE siamese.robustness_results IS
	'corruption runs: error of model and baseline at every (corruption, severity); the row (clean, 0) holds the clean errors';
COMMENT ON COLUMN siamese.robustness_results.run_id IS 'the run';
COMMENT ON COLUMN siamese.robustness_results.corruption IS 'corruption name, or clean';
COMMENT ON COLUMN siamese.robustness_results.severity IS 'severity 1..5, 0 for the clean row';
COMMENT ON COLUMN siamese.robustness_results.held_out IS 'one of the 4 held-out corruptions';
COMMENT ON COLUMN siamese.robustness_results.images IS 'images evaluated in this cell';
COMMENT ON COLUMN siamese.robustness_results.model_error IS 'error rate of the model (fraction)';
COMMENT ON COLUMN siamese.robustness_results.baseline_error IS 'error rate of the baseline (fraction)';
COMMENT ON COLUMN siamese.robustness_results.model_drift IS 'mean cosine distance between clean and corrupted embeddings, model';
COMMENT ON COLUMN siamese.robustness_results.baseline_drift IS 'mean cosine distance between clean and corrupted embeddings, baseline';

CREATE TABLE siamese.robustness_corruption_scores (
	run_id bigint NOT NULL REFERENCES siamese.robustness_runs ON DELETE CASCADE,
	corruption text NOT NULL,
	held_out boolean NOT NULL,
	model_error double precision NOT NULL,
	baseline_error double precision NOT NULL,
	ce double precision,
	relative_ce double precision,
	model_drift double precision,
	PRIMARY KEY (run_id, corruption)
);
COMMENT ON TABLE siamese.robustness_corruption_scores IS
	'corruption runs: per-corruption CE and relative CE (ratios, NULL when the baseline does not err / degrade) and errors averaged over the severities';
COMMENT ON COLUMN siamese.robustness_corruption_scores.run_id IS 'the run';
COMMENT ON COLUMN siamese.robustness_corruption_scores.corruption IS 'corruption name';
COMMENT ON COLUMN siamese.robustness_corruption_scores.held_out IS 'one of the 4 held-out corruptions';
COMMENT ON COLUMN siamese.robustness_corruption_scores.model_error IS 'model error averaged over the severities evaluated';
COMMENT ON COLUMN siamese.robustness_corruption_scores.baseline_error IS 'baseline error averaged over the severities evaluated';
COMMENT ON COLUMN siamese.robustness_corruption_scores.ce IS 'Corruption Error: sum of model errors / sum of baseline errors';
COMMENT ON COLUMN siamese.robustness_corruption_scores.relative_ce IS 'relative CE: sum of (error - clean error), model over baseline';
COMMENT ON COLUMN siamese.robustness_corruption_scores.model_drift IS 'mean embedding drift (cosine distance) averaged over the severities, model';

CREATE TABLE siamese.robustness_perturbation_results (
	run_id bigint NOT NULL REFERENCES siamese.robustness_runs ON DELETE CASCADE,
	perturbation text NOT NULL,
	noise boolean NOT NULL,
	frames integer NOT NULL,
	sequences integer NOT NULL,
	model_fp double precision NOT NULL,
	baseline_fp double precision NOT NULL,
	fr double precision,
	model_ut5d double precision,
	baseline_ut5d double precision,
	t5d double precision,
	PRIMARY KEY (run_id, perturbation)
);
COMMENT ON TABLE siamese.robustness_perturbation_results IS
	'perturbation runs: flip probability, flip rate and top-5 distance of model and baseline per perturbation sequence';
COMMENT ON COLUMN siamese.robustness_perturbation_results.run_id IS 'the run';
COMMENT ON COLUMN siamese.robustness_perturbation_results.perturbation IS 'perturbation sequence name';
COMMENT ON COLUMN siamese.robustness_perturbation_results.noise IS 'noise sequence: frames are compared with the clean frame instead of the previous one';
COMMENT ON COLUMN siamese.robustness_perturbation_results.frames IS 'frames per sequence';
COMMENT ON COLUMN siamese.robustness_perturbation_results.sequences IS 'sequences evaluated (one per sampled image)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.model_fp IS 'flip probability of the model (fraction)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.baseline_fp IS 'flip probability of the baseline (fraction)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.fr IS 'flip rate: model_fp / baseline_fp (NULL when the baseline never flips)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.model_ut5d IS 'unnormalised top-5 distance of the model (knn mode)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.baseline_ut5d IS 'unnormalised top-5 distance of the baseline (knn mode)';
COMMENT ON COLUMN siamese.robustness_perturbation_results.t5d IS 'top-5 distance ratio model / baseline (knn mode)';

-- Reports are user data: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_runs', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_results', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_corruption_scores', '');
SELECT pg_catalog.pg_extension_config_dump('siamese.robustness_perturbation_results', '');

-- Row level security: each role works with its own runs.
ALTER TABLE siamese.robustness_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_select ON siamese.robustness_runs FOR SELECT
	USING (run_by = current_user OR pg_catalog.pg_has_role(current_user, 'pg_read_all_data', 'MEMBER'));
CREATE POLICY runs_insert ON siamese.robustness_runs FOR INSERT
	WITH CHECK (run_by = current_user AND status = 'running');
CREATE POLICY runs_update ON siamese.robustness_runs FOR UPDATE
	USING (run_by = current_user) WITH CHECK (run_by = current_user);
CREATE POLICY runs_delete ON siamese.robustness_runs FOR DELETE
	USING (run_by = current_user);

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['robustness_results', 'robustness_corruption_scores',
							 'robustness_perturbation_results']
	LOOP
		EXECUTE format('ALTER TABLE siamese.%I ENABLE ROW LEVEL SECURITY', t);
		-- visible with the run (the subquery is itself filtered by runs_select)
		EXECUTE format('CREATE POLICY %I ON siamese.%I FOR SELECT USING '
					   '(EXISTS (SELECT 1 FROM siamese.robustness_runs r WHERE r.run_id = %I.run_id))',
					   t || '_select', t, t);
		-- written only into one's own running run
		EXECUTE format('CREATE POLICY %I ON siamese.%I FOR INSERT WITH CHECK '
					   '(EXISTS (SELECT 1 FROM siamese.robustness_runs r WHERE r.run_id = %I.run_id '
					   'AND r.run_by = current_user AND r.status = ''running''))',
					   t || '_insert', t, t);
	END LOOP;
END
$$;

REVOKE ALL ON siamese.robustness_runs, siamese.robustness_results,
	siamese.robustness_corruption_scores, siamese.robustness_perturbation_results FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON siamese.robustness_runs TO PUBLIC;
GRANT SELECT, INSERT ON siamese.robustness_results, siamese.robustness_corruption_scores,
	siamese.robustness_perturbation_results TO PUBLIC;

CREATE VIEW siamese.robustness_summary WITH (security_invoker = true) AS
SELECT r.run_id, r.kind, r.source_table, r.image_column, r.label_column, r.mode,
	   r.model, r.baseline_model, r.images, r.seed,
	   r.status,
	   CASE WHEN r.status = 'running' AND NOT EXISTS (
				SELECT 1 FROM pg_catalog.pg_stat_activity a
				WHERE a.pid = r.backend_pid
				  -- backend_start is hidden (NULL) for other roles' sessions: then trust the pid
				  AND (a.backend_start IS NULL OR r.backend_start IS NULL OR a.backend_start = r.backend_start))
			THEN 'abandoned' ELSE r.status END AS state,
	   r.started_at, r.duration,
	   r.clean_error, r.baseline_clean_error,
	   r.mce, r.relative_mce, r.heldout_mce, r.heldout_relative_mce,
	   r.mfr, r.mt5d,
	   (SELECT pg_catalog.jsonb_object_agg(s.corruption, s.ce ORDER BY s.corruption)
		FROM siamese.robustness_corruption_scores s WHERE s.run_id = r.run_id) AS ce,
	   r.config_key, r.error_message
FROM siamese.robustness_runs r;
GRANT SELECT ON siamese.robustness_summary TO PUBLIC;
COMMENT ON VIEW siamese.robustness_summary IS
	'one row per run: clean error, mCE, relative mCE (benchmark and held-out corruptions), mFR, mT5D, CE per corruption as jsonb; state is abandoned for a running row whose backend is gone';
COMMENT ON SEQUENCE siamese.robustness_runs_run_id_seq IS 'identity of siamese.robustness_runs.run_id (report ids)';
-- ---------------------------------------------------------------------------
-- 61_report_run.sql: running robustness reports: the procedures
-- robustness_report (ImageNet-C style) and perturbation_report (ImageNet-P
-- style), their internal steps, and robustness_compare.
-- C code: src/pg/report_sql.c (sampling, evaluation, storage) over
-- src/core/robust_eval.c.  See docs/robustness.md.
--
-- Why procedures: a run must leave a row marked 'failed' when it fails or is
-- cancelled, which a function cannot do (its transaction rolls back).  A
-- procedure CALLed on its own commits the 'running' row first, evaluates in
-- a subtransaction, and commits the final status before re-raising an error.
-- CALLed inside a transaction block it cannot commit, so the run is then
-- all-or-nothing (a failure leaves no row at all).
--
-- The procedures run with the caller's rights; they cannot pin search_path
-- with a SET clause (that forbids COMMIT), so every function they call is
-- schema-qualified (a caller's own search_path can only mislead the caller);
-- the functions doing the work pin search_path.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese._transaction_control_allowed() RETURNS boolean
	AS 'MODULE_PATHNAME', 'siamese_transaction_control_allowed'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION siamese._transaction_control_allowed() IS
	'internal: true when called from a procedure that may COMMIT (CALLed outside a transaction block)';

CREATE FUNCTION siamese._report_evaluate(report_id bigint, source regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'siamese_report_evaluate'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION siamese._report_evaluate(bigint, regclass) IS
	'internal: samples the source as the caller, corrupts / perturbs and embeds the sample, stores the results of a running report';

-- names: non-empty, no NULL, all known, no repeats (what = 'corruption' or 'perturbation')
CREATE FUNCTION siamese._report_check_names(what text, names text[], known text[]) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	bad text;
BEGIN
	IF names IS NULL OR cardinality(names) = 0 THEN
		RAISE EXCEPTION '%s must name at least one %', what, what USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT string_agg(coalesce(quote_literal(n), 'NULL'), ', ') INTO bad
	FROM unnest(names) n WHERE n IS NULL OR NOT n = ANY (known);
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown % %', what, bad USING ERRCODE = 'invalid_parameter_value',
			HINT = format('siamese.%ss() lists them.', what);
	END IF;
	IF (SELECT count(DISTINCT n) FROM unnest(names) n) <> cardinality(names) THEN
		RAISE EXCEPTION '%s must not repeat a name', what USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;
COMMENT ON FUNCTION siamese._report_check_names(text, text[], text[]) IS
	'internal: validates the corruption or perturbation names of a report';

-- Validates everything before a run row exists, so that a bad call (unknown
-- column, no privilege, unknown model) fails cleanly without leaving a run.
CREATE FUNCTION siamese._report_begin(kind text, source regclass, image_column name, label_column name,
		model text, baseline_model text, corruptions text[], severities integer[],
		perturbations text[], difficulty integer, sample_size integer, seed bigint, k integer)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel text := source::text;	-- schema-qualified and quoted (search_path is pinned)
	coltype regtype;
	model_hash text;
	baseline_hash text;
	run bigint;
BEGIN
	IF source IS NULL OR image_column IS NULL THEN
		RAISE EXCEPTION 'source and image_column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT a.atttypid::regtype INTO coltype FROM pg_attribute a
	WHERE a.attrelid = source AND a.attname = image_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column % of relation % does not exist', quote_ident(image_column), rel
			USING ERRCODE = 'undefined_column';
	END IF;
	IF coltype <> 'bytea'::regtype THEN
		RAISE EXCEPTION 'image column % of relation % has type %, not bytea', quote_ident(image_column), rel, coltype
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF label_column IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM pg_attribute a
			WHERE a.attrelid = source AND a.attname = label_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
		RAISE EXCEPTION 'column % of relation % does not exist', quote_ident(label_column), rel
			USING ERRCODE = 'undefined_column';
	END IF;
	-- The sample is read with the caller's rights anyway; checking first means
	-- a caller without access gets the error before any run row is written.
	IF NOT has_column_privilege(source, image_column, 'SELECT')
	   OR (label_column IS NOT NULL AND NOT has_column_privilege(source, label_column, 'SELECT')) THEN
		RAISE EXCEPTION 'permission denied for table %', rel
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A report reads the image and label columns with the privileges of the role that runs it.';
	END IF;

	SELECT m.hash INTO model_hash FROM siamese.models m WHERE m.name = model;
	IF NOT FOUND THEN
		PERFORM siamese._report_unknown_model(model);
	END IF;
	SELECT m.hash INTO baseline_hash FROM siamese.models m WHERE m.name = baseline_model;
	IF NOT FOUND THEN
		PERFORM siamese._report_unknown_model(baseline_model);
	END IF;

	IF sample_size IS NULL OR sample_size < 2 OR sample_size > 100000 THEN
		RAISE EXCEPTION 'sample_size must be between 2 and 100000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF k IS NULL OR k < 1 OR k > 1024 THEN
		RAISE EXCEPTION 'k must be between 1 and 1024' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF seed IS NULL THEN
		RAISE EXCEPTION 'seed must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;

	IF kind = 'corruption' THEN
		PERFORM siamese._report_check_names('corruption', corruptions,
											ARRAY(SELECT c.name FROM siamese.corruptions() c));
		IF severities IS NULL OR cardinality(severities) = 0
		   OR EXISTS (SELECT 1 FROM unnest(severities) s WHERE s IS NULL OR s NOT BETWEEN 1 AND 5)
		   OR (SELECT count(DISTINCT s) FROM unnest(severities) s) <> cardinality(severities) THEN
			RAISE EXCEPTION 'severities must be distinct values between 1 and 5' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		severities := ARRAY(SELECT s FROM unnest(severities) s ORDER BY s);
		perturbations := NULL;
		difficulty := NULL;
	ELSE
		PERFORM siamese._report_check_names('perturbation', perturbations,
											ARRAY(SELECT p.name FROM siamese.perturbations() p));
		IF difficulty IS NULL OR difficulty NOT BETWEEN 1 AND 3 THEN
			RAISE EXCEPTION 'difficulty must be 1, 2 or 3' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		corruptions := NULL;
		severities := NULL;
	END IF;

	INSERT INTO siamese.robustness_runs (kind, source_table, image_column, label_column, mode,
			model, model_hash, baseline_model, baseline_hash, corruptions, severities,
			perturbations, difficulty, sample_size, seed, k, config_key, backend_start)
	VALUES (kind, rel, image_column, label_column,
			CASE WHEN label_column IS NULL THEN 'self_retrieval' ELSE 'knn' END,
			model, model_hash, baseline_model, baseline_hash, corruptions, severities,
			perturbations, difficulty, sample_size, seed, k,
			md5(concat_ws('|', kind, rel, image_column, label_column, model, baseline_model,
						  corruptions::text, severities::text, perturbations::text, difficulty,
						  sample_size, seed, k)),
			(SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()))
	RETURNING run_id INTO run;
	RETURN run;
END
$$;
COMMENT ON FUNCTION siamese._report_begin(text, regclass, name, name, text, text, text[], integer[],
		text[], integer, integer, bigint, integer) IS
	'internal: validates report parameters and inserts the run row in status running; returns its id';

CREATE FUNCTION siamese._report_unknown_model(model text) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'model "%" does not exist', model
		USING ERRCODE = 'undefined_object',
			  HINT = 'Available models: ' || coalesce((SELECT string_agg(m.name, ', ' ORDER BY m.name)
														FROM siamese.models m), 'none') || '.';
END
$$;
COMMENT ON FUNCTION siamese._report_unknown_model(text) IS 'internal: raises the unknown-model error of report functions';

CREATE FUNCTION siamese._report_finish(report_id bigint, sqlstate text, message text) RETURNS void
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE siamese.robustness_runs
	SET status = CASE WHEN sqlstate IS NULL THEN 'succeeded' ELSE 'failed' END,
		error_sqlstate = sqlstate, error_message = message,
		finished_at = clock_timestamp(), duration = clock_timestamp() - started_at
	WHERE run_id = report_id AND status = 'running';
$$;
COMMENT ON FUNCTION siamese._report_finish(bigint, text, text) IS
	'internal: marks a running report succeeded (sqlstate NULL) or failed';

-- The shared body of both report procedures.
CREATE PROCEDURE siamese._run_report(kind text, source regclass, image_column name, label_column name,
		model text, baseline_model text, corruptions text[], severities integer[],
		perturbations text[], difficulty integer, sample_size integer, seed bigint, k integer,
		INOUT report_id bigint)
	LANGUAGE plpgsql
AS $$
DECLARE
	can_commit boolean := siamese._transaction_control_allowed();
	err_state text;
	err_message text;
	err_detail text;
	err_hint text;
BEGIN
	report_id := siamese._report_begin(kind, source, image_column, label_column, model, baseline_model,
									   corruptions, severities, perturbations, difficulty,
									   sample_size, seed, k);
	IF can_commit THEN
		COMMIT;
	END IF;
	BEGIN
		PERFORM siamese._report_evaluate(report_id, source);
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		-- the subtransaction is rolled back: no partial results remain
		GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
								err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
	END;
	PERFORM siamese._report_finish(report_id, err_state, err_message);
	IF err_state IS NOT NULL THEN
		IF can_commit THEN
			COMMIT;
		END IF;
		err_detail := pg_catalog.concat_ws(' ', NULLIF(err_detail, ''), 'Report ' || report_id || ' is marked failed.');
		IF coalesce(err_hint, '') = '' THEN
			RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_message, DETAIL = err_detail;
		END IF;
		RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_message, DETAIL = err_detail, HINT = err_hint;
	END IF;
END
$$;
COMMENT ON PROCEDURE siamese._run_report(text, regclass, name, name, text, text, text[], integer[],
		text[], integer, integer, bigint, integer, bigint) IS
	'internal: registers, evaluates and finishes a report run, marking it failed (committed) when the evaluation fails';

CREATE PROCEDURE siamese.robustness_report(
		source regclass,
		image_column name,
		label_column name DEFAULT NULL,
		model text DEFAULT 'fashion',
		baseline_model text DEFAULT 'fashion-pixels',
		corruptions text[] DEFAULT ARRAY['gaussian_noise', 'shot_noise', 'impulse_noise',
			'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog',
			'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression'],
		severities integer[] DEFAULT '{1,2,3,4,5}',
		sample_size integer DEFAULT 1000,
		seed bigint DEFAULT 0,
		k integer DEFAULT 1,
		INOUT report_id bigint DEFAULT NULL)
	LANGUAGE plpgsql
AS $$
BEGIN
	CALL siamese._run_report('corruption', source, image_column, label_column, model, baseline_model,
							 corruptions, severities, NULL, NULL, sample_size, seed, k, report_id);
END
$$;
COMMENT ON PROCEDURE siamese.robustness_report(regclass, name, name, text, text, text[], integer[],
		integer, bigint, integer, bigint) IS
	'ImageNet-C style robustness report over a seeded sample of a table''s images: errors of model and baseline per corruption and severity, CE, mCE, relative mCE, drift; returns the report id (see siamese.robustness_summary)';

CREATE PROCEDURE siamese.perturbation_report(
		source regclass,
		image_column name,
		label_column name DEFAULT NULL,
		model text DEFAULT 'fashion',
		baseline_model text DEFAULT 'fashion-pixels',
		perturbations text[] DEFAULT ARRAY['gaussian_noise', 'shot_noise', 'motion_blur',
			'zoom_blur', 'snow', 'brightness', 'translate', 'rotate', 'tilt', 'scale'],
		difficulty integer DEFAULT 1,
		sample_size integer DEFAULT 200,
		seed bigint DEFAULT 0,
		k integer DEFAULT 1,
		INOUT report_id bigint DEFAULT NULL)
	LANGUAGE plpgsql
AS $$
BEGIN
	CALL siamese._run_report('perturbation', source, image_column, label_column, model, baseline_model,
							 NULL, NULL, perturbations, difficulty, sample_size, seed, k, report_id);
END
$$;
COMMENT ON PROCEDURE siamese.perturbation_report(regclass, name, name, text, text, text[], integer,
		integer, bigint, integer, bigint) IS
	'ImageNet-P style robustness report: flip probability, flip rate (mFR) and top-5 distance (mT5D) of model against baseline over perturbation sequences of a seeded sample; returns the report id';

CREATE FUNCTION siamese.robustness_compare(report_id bigint DEFAULT NULL,
		threshold double precision DEFAULT 0.05,
		OUT metric text, OUT previous_report bigint, OUT latest_report bigint,
		OUT previous_value double precision, OUT latest_value double precision,
		OUT change double precision, OUT regression boolean)
	RETURNS SETOF record
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cur siamese.robustness_runs;
	prev siamese.robustness_runs;
BEGIN
	IF threshold IS NULL OR threshold < 0 OR threshold = 'NaN' THEN
		RAISE EXCEPTION 'threshold must be a non-negative number' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF report_id IS NULL THEN
		SELECT * INTO cur FROM siamese.robustness_runs r WHERE r.status = 'succeeded'
		ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no succeeded robustness report exists' USING ERRCODE = 'undefined_object';
		END IF;
	ELSE
		SELECT * INTO cur FROM siamese.robustness_runs r WHERE r.run_id = report_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'report % does not exist', report_id USING ERRCODE = 'undefined_object';
		END IF;
		IF cur.status <> 'succeeded' THEN
			RAISE EXCEPTION 'report % did not succeed', report_id USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('Its status is %s.', cur.status);
		END IF;
	END IF;
	SELECT * INTO prev FROM siamese.robustness_runs r
	WHERE r.config_key = cur.config_key AND r.status = 'succeeded'
	  AND (r.started_at, r.run_id) < (cur.started_at, cur.run_id)
	ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1;
	IF NOT FOUND THEN
		RAISE NOTICE 'report % has no earlier comparable report', cur.run_id;
	ELSIF prev.model_hash <> cur.model_hash OR prev.baseline_hash <> cur.baseline_hash THEN
		RAISE NOTICE 'the model or baseline content differs between reports % and %', prev.run_id, cur.run_id;
	END IF;

	RETURN QUERY
	WITH m(name, a, b) AS (
		VALUES ('clean_error', prev.clean_error, cur.clean_error),
			   ('mce', prev.mce, cur.mce),
			   ('relative_mce', prev.relative_mce, cur.relative_mce),
			   ('heldout_mce', prev.heldout_mce, cur.heldout_mce),
			   ('heldout_relative_mce', prev.heldout_relative_mce, cur.heldout_relative_mce),
			   ('mfr', prev.mfr, cur.mfr),
			   ('mt5d', prev.mt5d, cur.mt5d)
		UNION ALL
		SELECT 'ce:' || c.corruption, p.ce, c.ce
		FROM siamese.robustness_corruption_scores c
		LEFT JOIN siamese.robustness_corruption_scores p ON p.run_id = prev.run_id AND p.corruption = c.corruption
		WHERE c.run_id = cur.run_id
		UNION ALL
		SELECT 'fr:' || c.perturbation, p.fr, c.fr
		FROM siamese.robustness_perturbation_results c
		LEFT JOIN siamese.robustness_perturbation_results p ON p.run_id = prev.run_id AND p.perturbation = c.perturbation
		WHERE c.run_id = cur.run_id
	)
	SELECT m.name, prev.run_id, cur.run_id, m.a, m.b, m.b - m.a, coalesce(m.b - m.a > threshold, false)
	FROM m WHERE m.a IS NOT NULL OR m.b IS NOT NULL;
END
$$;
COMMENT ON FUNCTION siamese.robustness_compare(bigint, double precision) IS
	'compares a succeeded report (default: the latest) with the previous comparable one (same config_key): every metric, its change, and regression = increase beyond threshold (ratios and error fractions; every metric is lower-is-better)';
-- ---------------------------------------------------------------------------
-- 62_report_charts.sql: PNG charts of the robustness reports.
-- C code: src/pg/report_chart_sql.c over src/core/report_chart.c.
-- See docs/robustness.md.
--
-- Both functions read the report tables with the caller's rights (SECURITY
-- INVOKER): row level security on siamese.robustness_runs decides which
-- reports exist for the caller.  search_path is pinned and every name in
-- their queries is qualified.
-- ---------------------------------------------------------------------------

CREATE FUNCTION siamese.report_chart(report_id bigint) RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_report_chart'
	LANGUAGE C STABLE STRICT PARALLEL SAFE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION siamese.report_chart(bigint) IS
	'PNG chart of a succeeded robustness report: for a corruption run, one panel per corruption with the error (%) of the model (solid) and the baseline (dashed) at severities 1 to 5 and the clean errors as thin lines, held-out corruptions shaded, 1000 pixels wide and 128 + 180 per row of 5 corruptions high; for a perturbation run, bars of the flip probability (%) of model and baseline per perturbation, 900 pixels wide and 142 + 34 per perturbation high';

CREATE FUNCTION siamese.report_history_chart(report_id bigint, max_runs integer DEFAULT 50)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'siamese_report_history_chart'
	LANGUAGE C STABLE STRICT PARALLEL SAFE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION siamese.report_history_chart(bigint, integer) IS
	'900 x 500 PNG line chart of mCE and relative mCE (perturbation runs: mFR, and mT5D when measured), in percent of the baseline with a dashed line at 100, over the last max_runs (1 to 1000) succeeded runs the caller can see that have the same configuration (config_key) as report_id, up to and including it, oldest first';

-- siamese.embedding: text and binary I/O, typmod, casts, operators, functions.
SET search_path = siamese, public;

-- Reports SQLSTATE and message of a statement (or 'ok'), so error codes are
-- part of the expected output.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- ---------------------------------------------------------------------------
-- Text input and output
-- ---------------------------------------------------------------------------
SELECT '[1,2,3]'::embedding;
SELECT '  [ 1 , -2.5 ,	3e2 ]  '::embedding;
SELECT '[1.5]'::embedding;
SELECT '[+7,-0,0.1,0.30000001,3.4028235e38,-3.4028235e38,1.17549435e-38,1e-45,0x10]'::embedding;
SELECT '[1e-40]'::embedding AS subnormal_accepted;
SELECT pg_typeof('[1]'::embedding);

-- shortest-decimal output reads back to the same floats
SELECT e::text::embedding::real[] = e::real[] AS exact_round_trip
FROM (SELECT '[0.1,0.7,3.14159274,1e-45,16777217,-1.5e-20]'::embedding AS e) s;
SELECT setseed(0.5);
SELECT count(*) AS exact_round_trips
FROM (SELECT g % 10 AS k, array_agg(((random() - 0.5) * 10 ^ (g % 20 - 10))::real) AS a
	  FROM generate_series(1, 5000) g GROUP BY 1) s
WHERE a::embedding::text::embedding::real[] = a;

-- syntax errors: 22P02 invalid_text_representation
SELECT '1,2,3'::embedding;
SELECT '[1,2,3]x'::embedding;
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT ''::siamese.embedding$$),
	($$SELECT '   '::siamese.embedding$$),
	($$SELECT '1,2,3'::siamese.embedding$$),
	($$SELECT '(1,2,3)'::siamese.embedding$$),
	($$SELECT '[1,2,3'::siamese.embedding$$),
	($$SELECT '[1,2,'::siamese.embedding$$),
	($$SELECT '['::siamese.embedding$$),
	($$SELECT '[1,2,3]x'::siamese.embedding$$),
	($$SELECT '[1,2,3] ]'::siamese.embedding$$),
	($$SELECT '[1,2,3][4]'::siamese.embedding$$),
	($$SELECT '[1,,2]'::siamese.embedding$$),
	($$SELECT '[,1]'::siamese.embedding$$),
	($$SELECT '[1,]'::siamese.embedding$$),
	($$SELECT '[1,a]'::siamese.embedding$$),
	($$SELECT '[1 2]'::siamese.embedding$$),
	($$SELECT '[1;2]'::siamese.embedding$$),
	($$SELECT '[1.2.3]'::siamese.embedding$$),
	($$SELECT '[1e]'::siamese.embedding$$),
	($$SELECT '[--1]'::siamese.embedding$$),
	($$SELECT '[[1]]'::siamese.embedding$$)
) v(q);

-- values: NaN and infinities are 22000 data_exception, out of range 22003
SELECT '[1,NaN]'::embedding;
SELECT '[1e39]'::embedding;
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT '[NaN]'::siamese.embedding$$),
	($$SELECT '[1,nan,2]'::siamese.embedding$$),
	($$SELECT '[-NaN]'::siamese.embedding$$),
	($$SELECT '[Infinity]'::siamese.embedding$$),
	($$SELECT '[-Infinity]'::siamese.embedding$$),
	($$SELECT '[inf]'::siamese.embedding$$),
	($$SELECT '[1e39]'::siamese.embedding$$),
	($$SELECT '[-1e39]'::siamese.embedding$$),
	($$SELECT '[3.5e38]'::siamese.embedding$$),
	($$SELECT '[1e-50]'::siamese.embedding$$),
	($$SELECT '[]'::siamese.embedding$$),
	($$SELECT '[  ]'::siamese.embedding$$)
) v(q);

-- dimension limit: 16000 works, 16001 is 54000 program_limit_exceeded
SELECT dims(('[' || repeat('1,', 15999) || '1]')::embedding);
SELECT ('[' || repeat('1,', 16000) || '1]')::embedding;
SELECT pg_temp.err($$SELECT ('[' || repeat('0.5, ', 20000) || '1]')::siamese.embedding$$);

-- ---------------------------------------------------------------------------
-- Type modifier
-- ---------------------------------------------------------------------------
SELECT '[1,2,3]'::embedding(3);
SELECT '[1,2]'::embedding(3);
SELECT '[1,2,3]'::embedding::embedding(2);
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT '[1]'::siamese.embedding(0)$$),
	($$SELECT '[1]'::siamese.embedding(-3)$$),
	($$SELECT '[1]'::siamese.embedding(16001)$$),
	($$SELECT '[1]'::siamese.embedding(3, 2)$$),
	($$SELECT '[1]'::siamese.embedding(16000)$$),
	($$SELECT '[1]'::siamese.embedding(1)$$)
) v(q);

CREATE TABLE emb_t (id int, e embedding(3));
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'emb_t'::regclass AND attname = 'e';
INSERT INTO emb_t VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, NULL);
INSERT INTO emb_t VALUES (4, ARRAY[7,8,9]);				-- assignment cast from integer[]
INSERT INTO emb_t VALUES (5, ARRAY[0.5,0.25,-1]::real[]);
INSERT INTO emb_t VALUES (6, '[1,2]');
INSERT INTO emb_t VALUES (6, '[1,2,3,4]'::embedding);
INSERT INTO emb_t VALUES (6, ARRAY[1,2]::real[]);
UPDATE emb_t SET e = '[1,2]'::embedding WHERE id = 1;
SELECT * FROM emb_t ORDER BY id;

-- ---------------------------------------------------------------------------
-- Binary I/O: int16 dims, int16 0, float4 values (network order)
-- ---------------------------------------------------------------------------
SELECT embedding_send('[1,-2.5]');
SELECT embedding_send('[0]');

CREATE TABLE emb_bin (id int, e embedding);
INSERT INTO emb_bin VALUES
	(1, '[1,2,3]'),
	(2, '[-0,1e-45,3.4028235e38,-1.17549435e-38,0.1]'),
	(3, NULL),
	(4, (SELECT array_agg((g * 0.001)::real ORDER BY g) FROM generate_series(1, 2000) g)::embedding);
COPY emb_bin TO '/tmp/siamese_embedding_regress.bin' (FORMAT binary);
CREATE TABLE emb_bin2 (id int, e embedding);
COPY emb_bin2 FROM '/tmp/siamese_embedding_regress.bin' (FORMAT binary);
SELECT a.id, dims(b.e), a.e::text = b.e::text AS same_text, a.e::real[] = b.e::real[] AS same_values
FROM emb_bin a JOIN emb_bin2 b USING (id) ORDER BY id;
-- the column typmod applies to binary input too
CREATE TABLE emb_bin3 (id int, e embedding(3));
COPY emb_bin3 FROM '/tmp/siamese_embedding_regress.bin' (FORMAT binary);

-- hostile binary values: a bytea column has the same field framing, so copy
-- raw payloads out as bytea and read them back in as embedding
CREATE TABLE emb_raw (id int, e bytea);
CREATE TABLE emb_in (id int, e embedding);
CREATE FUNCTION pg_temp.recv(payload text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE emb_raw, emb_in;
	INSERT INTO emb_raw VALUES (1, decode(payload, 'hex'));
	COPY emb_raw TO '/tmp/siamese_embedding_regress.bin' (FORMAT binary);
	COPY emb_in FROM '/tmp/siamese_embedding_regress.bin' (FORMAT binary);
	RETURN (SELECT e::text FROM emb_in);
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT note, pg_temp.recv(payload) FROM (VALUES
	('valid [1,-2.5]',   '000200003f800000c0200000'),
	('zero dims',        '00000000'),
	('negative dims',    'ffff0000'),
	('16001 dims',       '3e810000'),
	('reserved not 0',   '000100013f800000'),
	('truncated values', '000200003f800000'),
	('truncated header', '0002'),
	('empty',            ''),
	('NaN value',        '000100007fc00000'),
	('+Infinity value',  '000100007f800000'),
	('-Infinity value',  '00010000ff800000'),
	('trailing bytes',   '000100003f80000000'),
	('huge dims, no data', '3e800000')
) v(note, payload);

-- ---------------------------------------------------------------------------
-- Casts to and from arrays
-- ---------------------------------------------------------------------------
SELECT ARRAY[1,2.5,-3]::real[]::embedding;
SELECT ARRAY[1.5,2.25]::float8[]::embedding;
SELECT ARRAY[1,-2,16777217]::int[]::embedding;
SELECT '[1,2.5,-3]'::embedding::real[];
SELECT ARRAY[1,2,3]::real[]::embedding(3);
SELECT '[1,2,3]'::embedding::real[]::embedding = '[1,2,3]' AS round_trip;
SELECT ('[1,2]'::embedding::real[])[2];
SELECT '[1,2]'::embedding::float8[];	-- no direct cast
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT ARRAY[1,NULL]::real[]::siamese.embedding$$),
	($$SELECT ARRAY[[1,2],[3,4]]::real[]::siamese.embedding$$),
	($$SELECT '{}'::real[]::siamese.embedding$$),
	($$SELECT ARRAY['NaN']::real[]::siamese.embedding$$),
	($$SELECT ARRAY['-Infinity']::real[]::siamese.embedding$$),
	($$SELECT ARRAY['NaN']::float8[]::siamese.embedding$$),
	($$SELECT ARRAY['Infinity']::float8[]::siamese.embedding$$),
	($$SELECT ARRAY[1e300]::float8[]::siamese.embedding$$),
	($$SELECT ARRAY[1e-300]::float8[]::siamese.embedding$$),
	($$SELECT ARRAY[-1e-300]::float8[]::siamese.embedding$$),
	($$SELECT ARRAY[1,2]::real[]::siamese.embedding(3)$$),
	($$SELECT ARRAY[1,2]::int[]::siamese.embedding(3)$$),
	($$SELECT array_fill(1::real, ARRAY[16001])::siamese.embedding$$),
	($$SELECT ARRAY[1,2]::numeric[]::siamese.embedding$$),
	($$SELECT ARRAY[1,2]::bigint[]::siamese.embedding$$)
) v(q);
-- lower bound other than 1 is fine
SELECT '[5:6]={1,2}'::real[]::embedding;

-- ---------------------------------------------------------------------------
-- Distances and functions (exact values)
-- ---------------------------------------------------------------------------
SELECT '[1,2,3]'::embedding <-> '[4,6,8]' AS l2, l2_distance('[1,2,3]', '[4,6,8]');
SELECT '[0,0]'::embedding <-> '[3,4]' AS l2, l2_squared_distance('[0,0]', '[3,4]') AS l2sq;
SELECT '[1,2,3]'::embedding <#> '[4,5,6]' AS neg_ip, inner_product('[1,2,3]', '[4,5,6]') AS ip,
	negative_inner_product('[1,2,3]', '[4,5,6]');
SELECT '[1,0]'::embedding <=> '[0,1]' AS orthogonal,
	'[1,1]'::embedding <=> '[-1,-1]' AS opposite,
	'[1,2,3]'::embedding <=> '[2,4,6]' AS parallel,
	cosine_distance('[3,4]', '[4,3]') AS cos;
-- cosine distance with a zero vector is NaN (undefined angle)
SELECT '[0,0]'::embedding <=> '[1,2]' AS zero_a, cosine_distance('[1,2]', '[0,0]') AS zero_b,
	'[0,0]'::embedding <=> '[0,0]' AS both;
SELECT dims('[1,2,3]'), norm('[3,4]'), norm('[0,0,0]'), norm('[-1]');
SELECT l2_normalize('[3,4]'), l2_normalize('[0,0]'), l2_normalize('[-2]'), l2_normalize('[1e-30,0]');
SELECT norm(l2_normalize('[1,2,3,4,5,6,7]')) BETWEEN 0.9999999 AND 1.0000001 AS unit;
-- float overflow inside the kernels falls back to double precision
SELECT '[3e38,3e38]'::embedding <-> '[-3e38,-3e38]' AS l2_big, norm('[3e38,3e38]') AS norm_big,
	'[3e38]'::embedding <#> '[3e38]' AS ip_big, '[3e38,1]'::embedding <=> '[3e38,1]' AS cos_big;
SELECT '[1e-30,1e-30]'::embedding <=> '[1e-30,-1e-30]' AS cos_tiny, norm('[3e-30,4e-30]') AS norm_tiny;
-- operators commute
SELECT ('[1,2]'::embedding <-> '[5,-1]') = ('[5,-1]'::embedding <-> '[1,2]') AS commutes;
-- arithmetic
SELECT '[1,2,3]'::embedding + '[0.5,-2,1e3]', '[1,2,3]'::embedding - '[1,1,1]', '[1,2,3]'::embedding * '[2,0.5,-1]';
SELECT '[3e38]'::embedding + '[3e38]';
SELECT '[-3e38]'::embedding - '[3e38]';
SELECT '[3e38]'::embedding * '[10]';
-- dimension mismatch: 22000
SELECT '[1,2,3]'::embedding <-> '[1,2]';
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT siamese.l2_distance('[1,2,3]', '[1,2]')$$),
	($$SELECT siamese.l2_squared_distance('[1,2,3]', '[1,2]')$$),
	($$SELECT siamese.cosine_distance('[1]', '[1,2]')$$),
	($$SELECT siamese.inner_product('[1,2,3]', '[1,2]')$$),
	($$SELECT siamese.negative_inner_product('[1,2,3]', '[1,2]')$$),
	($$SELECT siamese.embedding_add('[1,2,3]', '[1,2]')$$),
	($$SELECT siamese.embedding_sub('[1,2,3]', '[1,2]')$$),
	($$SELECT siamese.embedding_mul('[1,2,3]', '[1,2]')$$)
) v(q);
-- NULL in, NULL out
SELECT l2_distance(NULL, '[1]') IS NULL, dims(NULL) IS NULL, ('[1]'::embedding <=> NULL) IS NULL;

-- ---------------------------------------------------------------------------
-- Large embeddings: 2000 dimensions and the 16000 limit
-- ---------------------------------------------------------------------------
CREATE TABLE emb_big (id int, e embedding(2000));
INSERT INTO emb_big VALUES
	(1, array_fill(0.5::real, ARRAY[2000])),
	(2, (SELECT array_agg((g % 7 - 3)::real ORDER BY g) FROM generate_series(1, 2000) g));
SELECT id, dims(e), norm(e), e <-> e AS self_l2, e <=> e AS self_cos, e <#> e AS neg_norm2,
	length(e::text) AS text_len
FROM emb_big ORDER BY id;
SELECT a.e <-> b.e AS l2, a.e <#> b.e AS neg_ip, round((a.e <=> b.e)::numeric, 12) AS cos
FROM emb_big a, emb_big b WHERE a.id = 1 AND b.id = 2;
SELECT dims(e), norm(e), e <-> e, e <=> e
FROM (SELECT array_fill(1::real, ARRAY[16000])::embedding AS e) s;
-- float sums of squares past 2^24 round differently per kernel set: compare loosely
SELECT round(norm(e)::numeric, 1) FROM (SELECT array_agg(g::real)::embedding AS e FROM generate_series(1, 2000) g) s;
SELECT pg_temp.err($$SELECT '[1]'::siamese.embedding <-> array_fill(1::real, ARRAY[2000])::siamese.embedding$$);
-- stored (external) value reads back intact
SELECT e::real[] = (SELECT array_agg((g % 7 - 3)::real ORDER BY g) FROM generate_series(1, 2000) g) AS intact
FROM emb_big WHERE id = 2;

-- ---------------------------------------------------------------------------
-- Comparison, btree and hash support
-- ---------------------------------------------------------------------------
SELECT '[1,2]'::embedding < '[1,3]' AS lt, '[1,2]'::embedding < '[1,2,0]' AS shorter_first,
	'[2]'::embedding > '[1,9]' AS gt, '[1,2]'::embedding <= '[1,2]' AS le,
	'[1,2]'::embedding >= '[1,3]' AS ge;
SELECT '[-0]'::embedding = '[0]' AS negzero_eq, '[1,2]'::embedding = '[1,2,3]' AS eq_dims,
	'[1,2]'::embedding <> '[1,2]' AS ne, embedding_cmp('[1]', '[2]') AS cmp;
SELECT embedding_hash('[-0,1]') = embedding_hash('[0,1]') AS hash_negzero,
	embedding_hash_extended('[-0,1]', 7) = embedding_hash_extended('[0,1]', 7) AS hashext_negzero,
	embedding_hash('[1,2]') = embedding_hash('[1,2,0]') AS hash_dims;
CREATE TABLE emb_cmp (e embedding);
INSERT INTO emb_cmp VALUES ('[1,2]'), ('[1,2]'), ('[0,5]'), ('[-0,5]'), ('[1,2,0]'), ('[1]'), ('[-1,100]'), (NULL);
SELECT e FROM emb_cmp ORDER BY e, e::text;
SELECT e FROM emb_cmp ORDER BY e DESC NULLS LAST LIMIT 2;
SELECT DISTINCT e FROM emb_cmp ORDER BY e;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT e, count(*) FROM emb_cmp GROUP BY e;
SELECT e, count(*) FROM emb_cmp GROUP BY e ORDER BY count(*) DESC, e::text;
RESET enable_sort;
SELECT e, count(*) FROM emb_cmp GROUP BY e ORDER BY e;
CREATE INDEX emb_cmp_btree ON emb_cmp (e);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM emb_cmp WHERE e = '[0,5]' ORDER BY e::text;
SELECT * FROM emb_cmp WHERE e = '[0,5]' ORDER BY e::text;
RESET enable_seqscan;
-- hash join
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM emb_cmp a JOIN emb_cmp b ON a.e = b.e;
SELECT count(*) FROM emb_cmp a JOIN emb_cmp b ON a.e = b.e;
RESET enable_mergejoin;
RESET enable_nestloop;

-- ---------------------------------------------------------------------------
-- Catalog: volatility, strictness, parallel safety, comments
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE emb_my_funcs AS
SELECT p.oid, p.proname, p.prokind, p.provolatile, p.proisstrict, p.proparallel
FROM pg_proc p
WHERE p.pronamespace = 'siamese'::regnamespace
	AND p.proname IN ('embedding_in', 'embedding_out', 'embedding_typmod_in', 'embedding_typmod_out',
		'embedding_recv', 'embedding_send', 'embedding', 'array_to_embedding', 'embedding_to_array',
		'l2_distance', 'l2_squared_distance', 'cosine_distance', 'inner_product',
		'negative_inner_product', 'dims', 'norm', 'l2_normalize', 'distance_isa',
		'embedding_add', 'embedding_sub', 'embedding_mul', 'embedding_lt', 'embedding_le',
		'embedding_eq', 'embedding_ne', 'embedding_ge', 'embedding_gt', 'embedding_cmp',
		'embedding_hash', 'embedding_hash_extended', 'embedding_accum', 'embedding_combine',
		'embedding_avg_final', 'embedding_sum_final', 'avg', 'sum');
SELECT count(*) FILTER (WHERE prokind = 'f') AS functions,
	count(*) FILTER (WHERE prokind = 'a') AS aggregates,
	count(*) FILTER (WHERE obj_description(oid, 'pg_proc') IS NULL) AS without_comment
FROM emb_my_funcs;
-- everything is IMMUTABLE STRICT PARALLEL SAFE except distance_isa() (STABLE)
SELECT proname, provolatile, proisstrict, proparallel FROM emb_my_funcs
WHERE prokind = 'f' AND (provolatile <> 'i' OR NOT proisstrict OR proparallel <> 's')
UNION ALL
SELECT proname, provolatile, proisstrict, proparallel FROM emb_my_funcs
WHERE prokind = 'a' AND proparallel <> 's'
ORDER BY 1;
SELECT distance_isa() IN ('avx512', 'avx2', 'scalar') AS known_isa;
-- the type, operators, casts, operator classes and families have comments
SELECT 'operator ' || o.oid::regoperator AS missing_comment FROM pg_operator o
WHERE o.oprleft = 'siamese.embedding'::regtype AND o.oprright = 'siamese.embedding'::regtype
	AND o.oprname IN ('<->', '<=>', '<#>', '+', '-', '*', '<', '<=', '=', '<>', '>=', '>')
	AND obj_description(o.oid, 'pg_operator') IS NULL
UNION ALL
SELECT 'cast ' || format_type(c.castsource, NULL) || ' -> ' || format_type(c.casttarget, NULL) FROM pg_cast c
WHERE 'siamese.embedding'::regtype IN (c.castsource, c.casttarget) AND obj_description(c.oid, 'pg_cast') IS NULL
UNION ALL
SELECT 'opclass ' || c.opcname FROM pg_opclass c
WHERE c.opcnamespace = 'siamese'::regnamespace AND c.opcname = 'embedding_ops'
	AND obj_description(c.oid, 'pg_opclass') IS NULL
UNION ALL
SELECT 'opfamily ' || f.opfname FROM pg_opfamily f
WHERE f.opfnamespace = 'siamese'::regnamespace AND f.opfname = 'embedding_ops'
	AND obj_description(f.oid, 'pg_opfamily') IS NULL
UNION ALL
SELECT 'type embedding' WHERE obj_description('siamese.embedding'::regtype, 'pg_type') IS NULL;
SELECT count(*) AS operators FROM pg_operator
WHERE oprleft = 'siamese.embedding'::regtype AND oprright = 'siamese.embedding'::regtype
	AND oprname IN ('<->', '<=>', '<#>', '+', '-', '*', '<', '<=', '=', '<>', '>=', '>');
SELECT count(*) AS casts FROM pg_cast WHERE 'siamese.embedding'::regtype IN (castsource, casttarget);

DROP TABLE emb_t, emb_bin, emb_bin2, emb_bin3, emb_raw, emb_in, emb_big, emb_cmp;

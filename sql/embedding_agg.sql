-- siamese.avg(embedding) and siamese.sum(embedding): values, NULLs, empty
-- input, errors, hostile states and parallel (partial) aggregation.
SET search_path = siamese, public;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE emb_agg (g int, e embedding);
INSERT INTO emb_agg VALUES
	(1, '[1,2,3]'), (1, '[3,4,5]'), (1, NULL), (1, '[-1,0,0.5]'),
	(2, '[0.5,-0.25]'),
	(3, NULL);
SELECT g, avg(e), sum(e), count(e) FROM emb_agg GROUP BY g ORDER BY g;
SELECT avg(e), sum(e) FROM emb_agg WHERE g = 1;

-- no rows, or only NULLs: NULL
SELECT avg(e) IS NULL AS avg_null, sum(e) IS NULL AS sum_null FROM emb_agg WHERE false;
SELECT avg(e) IS NULL AS avg_null, sum(e) IS NULL AS sum_null FROM emb_agg WHERE g = 3;

-- mean is computed in double precision, then rounded once to float4
SELECT avg(e) FROM (SELECT '[0.1,1e-45]'::embedding FROM generate_series(1, 1000)) s(e);
SELECT sum(e) FROM (SELECT '[0.1,3]'::embedding FROM generate_series(1, 10)) s(e);
SELECT avg(e) FROM (VALUES ('[3e38]'::embedding), ('[3e38]')) v(e);
SELECT sum(e) FROM (VALUES ('[3e38]'::embedding), ('[3e38]')) v(e);
SELECT avg(e) FROM (VALUES ('[1,2]'::embedding), ('[1,2,3]')) v(e);
SELECT avg(e) FROM (SELECT array_fill(g::real, ARRAY[2000])::embedding FROM generate_series(1, 4) g) s(e)
	WHERE false;
SELECT dims(a), a::real[] = array_fill(2.5::real, ARRAY[2000]) AS all_2_5
FROM (SELECT avg(e) AS a FROM (SELECT array_fill(g::real, ARRAY[2000])::embedding FROM generate_series(1, 4) g) s(e)) t;
-- ordered-set style and window use
SELECT g, avg(e) OVER (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
FROM (VALUES (1, '[2,4]'::embedding), (2, '[4,8]'), (3, '[0,0]')) v(g, e) ORDER BY g;

-- the support functions validate whatever state they are handed
SELECT embedding_accum('{0}', '[1,2]'), embedding_accum('{2,1,1}', '[1,2]');
SELECT embedding_combine('{0}', '{2,1,1}'), embedding_combine('{2,1,1}', '{0}'),
	embedding_combine('{2,1,1}', '{1,5,6}'), embedding_combine('{0}', '{0}');
SELECT embedding_avg_final('{4,2,6}'), embedding_sum_final('{4,2,6}'),
	embedding_avg_final('{0}') IS NULL AS empty;
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT siamese.embedding_accum('{}', '[1]')$$),
	($$SELECT siamese.embedding_accum('{1}', '[1]')$$),
	($$SELECT siamese.embedding_accum('{NULL}', '[1]')$$),
	($$SELECT siamese.embedding_accum('{-1,2}', '[1]')$$),
	($$SELECT siamese.embedding_accum('{Infinity,2}', '[1]')$$),
	($$SELECT siamese.embedding_accum('{NaN,2}', '[1]')$$),
	($$SELECT siamese.embedding_accum('{{1,2}}', '[1]')$$),
	($$SELECT siamese.embedding_accum('{1,2,3}', '[1]')$$),
	($$SELECT siamese.embedding_combine('{1,2}', '{1,2,3}')$$),
	($$SELECT siamese.embedding_combine('{1,2}', '{}')$$),
	($$SELECT siamese.embedding_avg_final('{1,NaN}')$$),
	($$SELECT siamese.embedding_avg_final('{1,Infinity}')$$),
	($$SELECT siamese.embedding_sum_final('{1,1e300}')$$),
	($$SELECT siamese.embedding_avg_final(array_fill(1::float8, ARRAY[16002]))$$),
	($$SELECT siamese.embedding_sum_final('{0,1}')$$)
) v(q);

-- ---------------------------------------------------------------------------
-- Parallel aggregation: partial aggregates combined after a Gather
-- ---------------------------------------------------------------------------
CREATE TABLE emb_par (i int, e embedding(3));
INSERT INTO emb_par SELECT i, ARRAY[i, 2 * i, 1] FROM generate_series(1, 1000) i;
INSERT INTO emb_par VALUES (0, NULL);
ANALYZE emb_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(e), sum(e) FROM emb_par;
SELECT avg(e), sum(e), count(e) FROM emb_par;
EXPLAIN (COSTS OFF) SELECT i % 2 AS odd, avg(e) FROM emb_par GROUP BY 1;
SELECT i % 2 AS odd, avg(e), sum(e) FROM emb_par GROUP BY 1 ORDER BY 1;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- the same results without parallelism
SET max_parallel_workers_per_gather = 0;
SELECT avg(e), sum(e), count(e) FROM emb_par;
RESET max_parallel_workers_per_gather;

DROP TABLE emb_agg, emb_par;

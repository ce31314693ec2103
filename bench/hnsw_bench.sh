#!/usr/bin/env bash
# bench/hnsw_bench.sh: SQL-level benchmark of the siamese_hnsw index.
#
# Builds a seeded clustered synthetic data set (ROWS x DIMS, 100 clusters),
# then prints: index build time (serial, then parallel with WORKERS
# maintenance workers) and size, recall@10 of both graphs at the default
# ef_search, insert rate into the indexed table, and recall@10 / queries per
# second (single client, prepared statements, pgbench) over an ef_search
# sweep on the parallel-built index, against an exact scan of the same data
# in the same run.  Prints figures only; never fails on time.
#
#   PGHOST=... PGPORT=... PGUSER=... bench/hnsw_bench.sh
#   ROWS=70000 DIMS=128 QUERIES=100 SECONDS_PER_POINT=10 OPCLASS=embedding_l2_ops
#   WORKERS=2 EF_SWEEP="10 20 40 80 100 160 320"
#
# Needs the extension installed in database $BENCH_DB (created if missing).
set -euo pipefail

ROWS=${ROWS:-70000}
DIMS=${DIMS:-128}
QUERIES=${QUERIES:-100}
SECS=${SECONDS_PER_POINT:-10}
DB=${BENCH_DB:-siamese_hnsw_bench}
OPCLASS=${OPCLASS:-embedding_l2_ops}
EFS=${EF_SWEEP:-"10 20 40 80 100 160 320"}
WORKERS=${WORKERS:-2}
case "$OPCLASS" in
  embedding_l2_ops) OP='<->' ;;
  embedding_cosine_ops) OP='<=>' ;;
  embedding_ip_ops) OP='<#>' ;;
  *) echo "unknown OPCLASS $OPCLASS" >&2; exit 2 ;;
esac

psql_q() { PGOPTIONS="-c jit=off -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{printf "%.2f", $2 - $1}'; }

psql -X -q -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
  psql -X -q -d postgres -c "CREATE DATABASE $DB"
psql_q -c "CREATE EXTENSION IF NOT EXISTS siamese_pg"

echo "== siamese_hnsw benchmark: $ROWS rows x $DIMS dims, $OPCLASS, $QUERIES queries"
psql_q -c "SELECT 'distance kernels: ' || siamese.distance_isa()"
t0=$(now)
psql_q <<SQL
SET search_path = public, siamese;
DROP TABLE IF EXISTS bench_items, bench_centers, bench_queries, bench_extra;
SELECT setseed(0.3);
CREATE TABLE bench_centers AS
  SELECT c, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, $DIMS) d WHERE c > 0) v
  FROM generate_series(1, 100) c;
-- a fixed-dimension column: the parallel build needs the dimension up front
CREATE TABLE bench_items (i int, e embedding($DIMS));
INSERT INTO bench_items
  SELECT i, array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
                                     FROM generate_series(1, $DIMS) d), $DIMS, true)
  FROM generate_series(1, $ROWS) i JOIN bench_centers c ON c.c = 1 + (i::bigint * 7919) % 100;
CREATE TABLE bench_queries AS
  SELECT q, array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
                                     FROM generate_series(1, $DIMS) d), $DIMS, true) AS e
  FROM generate_series(1, $QUERIES) q JOIN bench_centers c ON c.c = 1 + (q * 31) % 100;
CREATE TABLE bench_extra AS
  SELECT i, array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
                                     FROM generate_series(1, $DIMS) d), $DIMS, true) AS e
  FROM generate_series($ROWS + 1, $ROWS + 2000) i JOIN bench_centers c ON c.c = 1 + (i::bigint * 7919) % 100;
VACUUM ANALYZE bench_items;
SQL
echo "data generated in $(elapsed "$t0" "$(now)") s"

# exact answers (needed for the recall of both builds)
psql_q <<SQL
SET search_path = public, siamese;
DROP TABLE IF EXISTS bench_exact;
SET enable_indexscan = off;
CREATE TABLE bench_exact AS SELECT q.q, x.i FROM bench_queries q CROSS JOIN LATERAL
  (SELECT i FROM bench_items ORDER BY bench_items.e $OP q.e LIMIT 10) x;
SQL

recall_at() {
  psql_q <<SQL
SET search_path = public, siamese;
SET siamese.ef_search = $1;
SET enable_seqscan = off;
DROP TABLE IF EXISTS bench_approx;
CREATE TEMP TABLE bench_approx AS SELECT q.q, x.i FROM bench_queries q CROSS JOIN LATERAL
  (SELECT i FROM bench_items ORDER BY bench_items.e $OP q.e LIMIT 10) x;
SELECT round(count(*)::numeric / (SELECT count(*) FROM bench_exact), 3) FROM bench_approx JOIN bench_exact USING (q, i);
SQL
}
default_ef=$(psql_q -c "LOAD 'siamese_pg'" -c "SHOW siamese.ef_search")

# build: serial, then parallel (the sweep below runs on the parallel build)
for w in 0 "$WORKERS"; do
  psql_q -c "DROP INDEX IF EXISTS bench_idx"
  t0=$(now)
  msg=$(PGOPTIONS="-c jit=off -c client_min_messages=debug1" psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" \
    -c "SET maintenance_work_mem = '1GB'" -c "SET max_parallel_maintenance_workers = $w" \
    -c "CREATE INDEX bench_idx ON bench_items USING siamese_hnsw (e siamese.$OPCLASS)" 2>&1 |
    sed -n 's/.*parallel build of .* with \([0-9]*\) of \([0-9]*\) requested workers launched.*/\1 workers launched/p')
  echo "build (max_parallel_maintenance_workers $w, maintenance_work_mem 1GB): $(elapsed "$t0" "$(now)") s ${msg:-serial}"
  psql_q -c "SELECT 'graph: ' || elements || ' elements, max level ' || max_level || ', ' || links || ' links, unreachable ' || unreachable || ', ok ' || ok FROM siamese.hnsw_check('bench_idx')"
  echo "recall@10 at default ef_search $default_ef: $(recall_at "$default_ef")"
done
psql_q -c "SELECT 'index size: ' || pg_size_pretty(pg_relation_size('bench_idx')) || ' (table ' || pg_size_pretty(pg_relation_size('bench_items')) || ')'"

t0=$(now)
psql_q -c "INSERT INTO bench_items SELECT * FROM bench_extra"
t1=$(now)
echo "insert into indexed table: 2000 rows in $(elapsed "$t0" "$t1") s = $(echo "$t0 $t1" | awk '{printf "%.0f", 2000 / ($2 - $1)}') rows/s"
psql_q -c "DELETE FROM bench_items WHERE i > $ROWS" -c "VACUUM bench_items"

script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat > "$script" <<SQL
\set q random(1, $QUERIES)
SELECT i FROM bench_items ORDER BY e OPERATOR(siamese.$OP) (SELECT e FROM bench_queries WHERE q = :q) LIMIT 10;
SQL

qps() {
  PGOPTIONS="$1" pgbench -n -M prepared -c 1 -T "$SECS" -f "$script" "$DB" 2>/dev/null |
    awk '/^tps/ {printf "%.1f", $3}'
}

printf "%-12s %10s %10s %9s\n" "mode" "recall@10" "QPS" "speedup"
exact_qps=$(qps "-c jit=off -c enable_indexscan=off")
printf "%-12s %10s %10s %9s\n" "exact scan" "1.000" "$exact_qps" "1.0x"
for ef in $EFS; do
  recall=$(recall_at "$ef")
  q=$(qps "-c jit=off -c enable_seqscan=off -c siamese.ef_search=$ef")
  printf "%-12s %10s %10s %8sx\n" "ef=$ef" "$recall" "$q" "$(echo "$q $exact_qps" | awk '{printf "%.1f", $1 / $2}')"
done

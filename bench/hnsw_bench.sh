#!/usr/bin/env bash
# bench/hnsw_bench.sh: SQL-level benchmark of the siamese_hnsw index.
#
# Builds a data set (DATA=synthetic or DATA=fashion, below), then prints:
# index build time (serial, then parallel with WORKERS maintenance workers)
# and size, recall@10 of both graphs at the default ef_search, insert rate
# into the indexed table, and recall@10 / queries per second (single client,
# prepared statements, pgbench) over an ef_search sweep on the parallel-built
# index, against an exact scan of the same data in the same run.  Prints
# figures only; never fails on time.
#
#   PGHOST=... PGPORT=... PGUSER=... bench/hnsw_bench.sh
#   DATA=synthetic ROWS=70000 DIMS=128 QUERIES=100 SECONDS_PER_POINT=10
#   OPCLASS=embedding_l2_ops WORKERS=2 EF_SWEEP="10 20 40 80 100 160 320"
#   MAINTENANCE_WORK_MEM=1GB (for both builds)
#   BUILD_WORKERS="0 $WORKERS": the builds to time, by maintenance workers
#   (BUILD_WORKERS=2 skips the serial build, e.g. at 1M rows)
#   STORAGES="f32": the index's storage option, one after another on the
#   same data (e.g. STORAGES="f32 sq8 bf16": float32 against the codes, each
#   with its builds, size, inserts and sweep, in the same run)
#   SWEEP_ONLY=1: skip data, builds and inserts; re-measure only the sweep on
#   the tables and index a previous run with the same settings left behind
#   (e.g. on a quieter machine).
#
# DATA=synthetic (default): ROWS x DIMS seeded clustered vectors (100
#   centres, uniform noise); queries and the 2,000 inserted rows are drawn the
#   same way.
# DATA=fashion: the MODEL (default fashion) embeddings of all 70,000
#   Fashion-MNIST images, cached in the bench database by
#   bench/hnsw_fashion_data.sh (embedding takes about a minute, once).
#   QUERIES test images (a fixed pseudo-random pick) are held out: their
#   exact embeddings are the queries and they are not in the table, which
#   holds the other 70,000 - QUERIES images.  REPEAT=R (default 1) adds R-1
#   jittered copies of each of them (REPEAT=4: 279,600 rows): copy r of
#   image x is x + n, n Gaussian with per-dimension sigma JITTER * dnn /
#   sqrt(dims), so |n| is about JITTER (default 0.5) times dnn, the median
#   distance from an image's embedding to its nearest other image; then
#   re-normalised to unit length when the model's embeddings are (fashion's
#   are).  The 2,000 inserted rows are jittered copies too.  ROWS and DIMS
#   are ignored.  Seeded: reruns give the same data.
#
# Needs the extension installed in database $BENCH_DB (created if missing).
set -euo pipefail

DATA=${DATA:-synthetic}
ROWS=${ROWS:-70000}
REPEAT=${REPEAT:-1}
JITTER=${JITTER:-0.5}
MODEL=${MODEL:-fashion}
DIMS=${DIMS:-128}
QUERIES=${QUERIES:-100}
SECS=${SECONDS_PER_POINT:-10}
DB=${BENCH_DB:-siamese_hnsw_bench}
OPCLASS=${OPCLASS:-embedding_l2_ops}
EFS=${EF_SWEEP:-"10 20 40 80 100 160 320"}
WORKERS=${WORKERS:-2}
MWM=${MAINTENANCE_WORK_MEM:-1GB}
SWEEP_ONLY=${SWEEP_ONLY:-0}
STORAGES=${STORAGES:-f32}
case "$OPCLASS" in
  embedding_l2_ops) OP='<->' ;;
  embedding_cosine_ops) OP='<=>' ;;
  embedding_ip_ops) OP='<#>' ;;
  *) echo "unknown OPCLASS $OPCLASS" >&2; exit 2 ;;
esac
case "$DATA" in
  synthetic) ;;
  fashion)
    [[ "$REPEAT" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "REPEAT must be 1..999" >&2; exit 2; }
    [[ "$JITTER" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "JITTER must be a non-negative number" >&2; exit 2; }
    if ! [[ "$QUERIES" =~ ^[1-9][0-9]{0,4}$ ]] || [ "$QUERIES" -gt 10000 ]; then
      echo "QUERIES must be 1..10000 with DATA=fashion (held-out test images)" >&2; exit 2
    fi
    # ids: copy r of image id is r * 70000 + id; rows past $ROWS are the inserted extras
    ROWS=$((REPEAT * 70000)) ;;
  *) echo "unknown DATA $DATA (synthetic or fashion)" >&2; exit 2 ;;
esac

psql_q() { PGOPTIONS="-c jit=off -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{printf "%.2f", $2 - $1}'; }

psql -X -q -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
  psql -X -q -d postgres -c "CREATE DATABASE $DB"
psql_q -c "CREATE EXTENSION IF NOT EXISTS siamese_pg"

if [ "$SWEEP_ONLY" = 1 ]; then
  [ "$(psql_q -c "SELECT count(*) FROM pg_class WHERE relname IN ('bench_items', 'bench_queries', 'bench_exact', 'bench_idx') AND relnamespace = 'public'::regnamespace")" = 4 ] ||
    { echo "SWEEP_ONLY=1 needs the tables and index of a previous run in $DB" >&2; exit 2; }
fi
loadavg() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u '+%F %T') UTC)"; }
if [ "$DATA" = fashion ]; then
  BENCH_DB=$DB MODEL=$MODEL bash "$(dirname "$0")/hnsw_fashion_data.sh"
  DIMS=$(psql_q -c "SELECT siamese.dims(e) FROM public.bench_fashion_embeddings LIMIT 1")
  echo "== siamese_hnsw benchmark: $MODEL embeddings of Fashion-MNIST, $QUERIES held-out test images as queries; table: the other $((70000 - QUERIES)) images x $REPEAT (the original and $((REPEAT - 1)) jittered copies, JITTER $JITTER) = $((REPEAT * (70000 - QUERIES))) rows x $DIMS dims, $OPCLASS"
else
  echo "== siamese_hnsw benchmark: $ROWS rows x $DIMS dims, $OPCLASS, $QUERIES queries"
fi
loadavg
psql_q -c "SELECT 'distance kernels: ' || siamese.distance_isa()"
if [ "$SWEEP_ONLY" != 1 ]; then
t0=$(now)
if [ "$DATA" = fashion ]; then
normalised=$(psql_q -c "SELECT bool_and(abs(siamese.norm(e) - 1) < 1e-3) FROM public.bench_fashion_embeddings")
# x + Gaussian noise (Box-Muller; 1 - random() is in (0, 1], so ln() is defined)
jitter_expr="array_to_embedding(ARRAY(SELECT (a.x + sig.s * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::real
                               FROM unnest(embedding_to_array(b.e)) WITH ORDINALITY a(x, d) ORDER BY a.d), $DIMS, true)"
[ "$normalised" = t ] && jitter_expr="l2_normalize($jitter_expr)"
# Row order of the cache is not deterministic (parallel embedding): every
# pseudo-random choice below is by hash of the image id, and the jitter is
# drawn in id order, so the data set is the same on every run.
psql_q <<SQL
SET search_path = public, siamese;
DROP TABLE IF EXISTS bench_items, bench_centers, bench_queries, bench_extra, bench_fashion_base, bench_fashion_sigma;
CREATE TABLE bench_queries AS
  SELECT row_number() OVER (ORDER BY md5('query' || id))::int AS q, id, e
  FROM bench_fashion_embeddings WHERE id >= 60000 ORDER BY md5('query' || id) LIMIT $QUERIES;
CREATE TABLE bench_fashion_base AS
  SELECT id, e FROM bench_fashion_embeddings WHERE id NOT IN (SELECT id FROM bench_queries);
ANALYZE bench_fashion_base;
-- the noise scale: median distance from 200 images to their nearest other image
CREATE TABLE bench_fashion_sigma AS
  SELECT dnn, $JITTER * dnn / sqrt($DIMS) AS s FROM (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS dnn FROM (
      SELECT (SELECT t.e <-> b.e FROM bench_fashion_base b WHERE b.id <> t.id ORDER BY t.e <-> b.e LIMIT 1) AS d
      FROM (SELECT id, e FROM bench_fashion_base ORDER BY md5('nn' || id) LIMIT 200) t) x) y;
SELECT 'median nearest-neighbour distance ' || round(dnn::numeric, 4) || ', jitter per dimension ' ||
       round(s::numeric, 5) || ' (noise length about ' || round(($JITTER * dnn)::numeric, 4) || ')' ||
       CASE WHEN '$normalised' = 't' THEN ', copies re-normalised' ELSE '' END
  FROM bench_fashion_sigma;
SELECT count(*) FROM (SELECT setseed(0.4)) s \\g /dev/null
CREATE TABLE bench_items (i int, e embedding($DIMS));
INSERT INTO bench_items SELECT id, e FROM bench_fashion_base ORDER BY id;
INSERT INTO bench_items
  SELECT r * 70000 + b.id, $jitter_expr
  FROM generate_series(1, $REPEAT - 1) r,
       LATERAL (SELECT id, e FROM bench_fashion_base ORDER BY id) b, bench_fashion_sigma sig;
CREATE TABLE bench_extra AS
  SELECT $ROWS + 1 + b.id AS i, $jitter_expr AS e
  FROM (SELECT id, e FROM bench_fashion_base ORDER BY md5('extra' || id) LIMIT 2000) b, bench_fashion_sigma sig;
VACUUM ANALYZE bench_items;
SELECT 'rows in table: ' || count(*) FROM bench_items;
SQL
else
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
fi
echo "data generated in $(elapsed "$t0" "$(now)") s"

# exact answers (needed for the recall of both builds)
psql_q <<SQL
SET search_path = public, siamese;
DROP TABLE IF EXISTS bench_exact;
SET enable_indexscan = off;
CREATE TABLE bench_exact AS SELECT q.q, x.i FROM bench_queries q CROSS JOIN LATERAL
  (SELECT i FROM bench_items ORDER BY bench_items.e $OP q.e LIMIT 10) x;
SQL
fi

recall_at() {
  psql_q <<SQL
SET search_path = public, siamese;
SET siamese.hnsw.ef_search = $1;
SET enable_seqscan = off;
DROP TABLE IF EXISTS bench_approx;
CREATE TEMP TABLE bench_approx AS SELECT q.q, x.i FROM bench_queries q CROSS JOIN LATERAL
  (SELECT i FROM bench_items ORDER BY bench_items.e $OP q.e LIMIT 10) x;
SELECT round(count(*)::numeric / (SELECT count(*) FROM bench_exact), 3) FROM bench_approx JOIN bench_exact USING (q, i);
SQL
}
default_ef=$(psql_q -c "LOAD 'siamese_pg'" -c "SHOW siamese.hnsw.ef_search")

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
exact_qps=$(qps "-c jit=off -c enable_indexscan=off")

[ "$SWEEP_ONLY" = 1 ] && STORAGES="(existing)"
for storage in $STORAGES; do
echo "-- storage $storage"
# build: serial, then parallel (the sweep below runs on the parallel build)
if [ "$SWEEP_ONLY" != 1 ]; then
for w in ${BUILD_WORKERS:-0 $WORKERS}; do
  psql_q -c "DROP INDEX IF EXISTS bench_idx"
  t0=$(now)
  msg=$(PGOPTIONS="-c jit=off -c client_min_messages=debug1" psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" \
    -c "SET maintenance_work_mem = '$MWM'" -c "SET max_parallel_maintenance_workers = $w" \
    -c "CREATE INDEX bench_idx ON bench_items USING siamese_hnsw (e siamese.$OPCLASS) WITH (storage = $storage)" 2>&1 |
    sed -n 's/.*parallel build of .* with \([0-9]*\) of \([0-9]*\) requested workers launched.*/\1 workers launched/p')
  echo "build (max_parallel_maintenance_workers $w, maintenance_work_mem $MWM): $(elapsed "$t0" "$(now)") s ${msg:-serial}"
  psql_q -c "SELECT 'graph: ' || elements || ' elements, max level ' || max_level || ', ' || links || ' links, unreachable ' || unreachable || ', ok ' || ok FROM siamese.hnsw_check('bench_idx')"
  echo "recall@10 at default ef_search $default_ef: $(recall_at "$default_ef")"
done
psql_q -c "SELECT 'index size: ' || pg_size_pretty(pg_relation_size('bench_idx')) || ' (table ' || pg_size_pretty(pg_relation_size('bench_items')) || ')'"

t0=$(now)
psql_q -c "INSERT INTO bench_items SELECT * FROM bench_extra"
t1=$(now)
echo "insert into indexed table: 2000 rows in $(elapsed "$t0" "$t1") s = $(echo "$t0 $t1" | awk '{printf "%.0f", 2000 / ($2 - $1)}') rows/s"
psql_q -c "DELETE FROM bench_items WHERE i > $ROWS" -c "VACUUM bench_items"
fi

loadavg
printf "%-12s %10s %10s %9s\n" "mode" "recall@10" "QPS" "speedup"
printf "%-12s %10s %10s %9s\n" "exact scan" "1.000" "$exact_qps" "1.0x"
for ef in $EFS; do
  recall=$(recall_at "$ef")
  q=$(qps "-c jit=off -c enable_seqscan=off -c siamese.hnsw.ef_search=$ef")
  printf "%-12s %10s %10s %8sx\n" "ef=$ef" "$recall" "$q" "$(echo "$q $exact_qps" | awk '{printf "%.1f", $1 / $2}')"
done
loadavg
done

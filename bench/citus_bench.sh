#!/usr/bin/env bash
# bench/citus_bench.sh: siamese_pg on Citus (a coordinator and two workers on
# this machine) against one node, in the same run.  Prints the tables of
# docs/scale-out.md.  Needs Citus (scripts/citus-install), the extension
# installed (make install), tools built (make tools) and Fashion-MNIST.
#
#   bash bench/citus_bench.sh [--images N] [--rows N] [--shards "4 8 32"] [--seconds S]
#
#  images  Fashion-MNIST test images embedded (default 10000): embed() rows/s
#          the two kinds of robustness report and train_model, one node
#          against the cluster;
#  rows    vectors for the index part (default 1000000; 0 skips it): the
#          images' embeddings, repeated with small jitter; index build time, then
#          QPS (pgbench, one client, prepared) and recall@10 over an
#          ef_search sweep, one node against the cluster;
#  shards  shard counts for the latency-against-shards table (at rows/10).
#
# Runs as root (the clusters run as postgres) in /tmp/citus_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=10000 ROWS=1000000 SHARDS="4 8 32" SECONDS_PER=10
while [ $# -gt 0 ]; do
  case "$1" in
    --images) IMAGES=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -f "$(pg_config --pkglibdir)/citus.so" ] || { echo "Citus is not installed: bash scripts/citus-install" >&2; exit 1; }
[ -x tools/bin/fmnist_export ] || { echo "make tools first" >&2; exit 1; }

DIR=/tmp/citus_bench
BIN=$(pg_config --bindir)
rm -rf "$DIR"; mkdir -p "$DIR"; cp tools/bin/fmnist_export "$DIR/"; chown -R postgres "$DIR"
as_pg() { su postgres -s /bin/bash -c "$*"; }
stop_all() { for n in single c w1 w2; do [ -d "$DIR/$n" ] && as_pg "$BIN/pg_ctl -D $DIR/$n -m fast stop" >/dev/null 2>&1; done; true; }
trap stop_all EXIT

port() { case $1 in single) echo 5701;; c) echo 5702;; w1) echo 5703;; w2) echo 5704;; esac; }
for n in single c w1 w2; do
  as_pg "$BIN/initdb -D $DIR/$n -A trust" >/dev/null
  cat >>"$DIR/$n/postgresql.conf" <<EOF
port = $(port $n)
unix_socket_directories = '$DIR'
listen_addresses = ''
shared_buffers = '2GB'
maintenance_work_mem = '2GB'
max_parallel_maintenance_workers = 0
max_prepared_transactions = 100
$( [ $n = single ] || echo "shared_preload_libraries = 'citus'" )
EOF
  as_pg "$BIN/pg_ctl -D $DIR/$n -l $DIR/$n.log -w start" >/dev/null
done
Q() { local n=$1; shift; as_pg "psql -h $DIR -p $(port $n) -d postgres -XAtq -v ON_ERROR_STOP=1 -c \"$*\""; }
QF() { local n=$1; as_pg "psql -h $DIR -p $(port $n) -d postgres -XAtq -v ON_ERROR_STOP=1 -f $2"; }
ms() { date +%s%3N; }
for n in c w1 w2; do Q $n "CREATE EXTENSION citus"; done
Q single "CREATE EXTENSION siamese_pg"
Q c "CREATE EXTENSION siamese_pg"
Q c "SELECT citus_set_coordinator_host('$DIR', $(port c))" >/dev/null
Q c "SELECT citus_add_node('$DIR', $(port w1))" >/dev/null
Q c "SELECT citus_add_node('$DIR', $(port w2))" >/dev/null

echo "# siamese_pg on Citus: one node against a coordinator + 2 workers on this machine"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(date -u +%F)"
echo "# bash bench/citus_bench.sh --images $IMAGES --rows $ROWS --shards \"$SHARDS\" --seconds $SECONDS_PER"

# --- images: embed() and a report ------------------------------------------------
Q single "CREATE TABLE photos (id int, label int, class text, img bytea)"
Q c "CREATE TABLE photos (id int, label int, class text, img bytea); SELECT create_distributed_table('photos', 'id')" >/dev/null
for n in single c; do
  as_pg "$DIR/fmnist_export --split t10k --limit $IMAGES | psql -h $DIR -p $(port $n) -d postgres -XAtq -c 'COPY photos FROM STDIN'"
done
echo
echo "## embed(): UPDATE photos SET e = siamese.embed(img), $IMAGES Fashion-MNIST images"
echo "| setup | seconds | rows/s |"
echo "|---|---|---|"
for n in single c; do
  Q $n "ALTER TABLE photos ADD COLUMN e siamese.embedding(128)"
  t0=$(ms); Q $n "UPDATE photos SET e = siamese.embed(img)"; t1=$(ms)
  label=$([ $n = single ] && echo "one node (one backend)" || echo "Citus, 2 workers, 32 shards")
  awk -v l="$label" -v ms=$((t1 - t0)) -v n="$IMAGES" 'BEGIN { printf "| %s | %.1f | %.0f |\n", l, ms / 1000, n / (ms / 1000) }'
done

# report_table TITLE CALL METRIC: the report on one node, on the cluster, and
# on the cluster with one connection per worker; METRIC is the run's summary
# that must be equal on both.
report_table() {
  echo
  echo "## $1"
  echo "| setup | seconds |"
  echo "|---|---|"
  for setup in single c c1; do
    n=${setup%1}; pool=$([ $setup = c1 ] && echo "SET citus.max_adaptive_executor_pool_size = 1;" || true)
    t0=$(ms); Q $n "$pool SET client_min_messages = warning; CALL $2" >/dev/null; t1=$(ms)
    case $setup in
      single) label="one node" ;;
      c) label="Citus, 2 workers, 32 shards (the per-image work on the shards)" ;;
      c1) label="Citus, the same with citus.max_adaptive_executor_pool_size = 1" ;;
    esac
    awk -v l="$label" -v ms=$((t1 - t0)) 'BEGIN { printf "| %s | %.1f |\n", l, ms / 1000 }'
  done
  same=$(for n in single c; do Q $n "SELECT $3 FROM siamese.robustness_runs ORDER BY run_id DESC LIMIT 1"; done | sort -u | wc -l)
  echo "(the same results on both: $([ "$same" -eq 1 ] && echo yes || echo NO))"
}
report_table "robustness_report: the 15 benchmark corruptions x 5 severities, sample 500, fashion against fashion-robust" \
  "siamese.robustness_report('photos', 'img', 'label', model => 'fashion', baseline_model => 'fashion-robust', sample_size => 500)" \
  "round(mce::numeric, 6) || ' ' || round(relative_mce::numeric, 6)"
report_table "perturbation_report: the 10 test perturbations, sample 200, fashion against fashion-pixels" \
  "siamese.perturbation_report('photos', 'img', 'label')" \
  "round(mfr::numeric, 6) || ' ' || round(mt5d::numeric, 6)"

echo
echo "## train_model: $IMAGES images, architecture cnn, 1 epoch; and its read alone (decode to the input size)"
echo "| setup | train_model seconds | read: SELECT count(siamese._train_pixels(img, config)) seconds |"
echo "|---|---|---|"
for n in single c; do
  t0=$(ms); Q $n "SET client_min_messages = warning; CALL siamese.train_model('bench-train', 'photos', 'img', 'class', architecture => 'cnn', epochs => 1)" >/dev/null; t1=$(ms)
  Q $n "SELECT count(siamese._train_pixels(img, (SELECT config_text FROM siamese.models WHERE name = 'bench-train'))) FROM photos" >/dev/null; t2=$(ms)
  label=$([ $n = single ] && echo "one node" || echo "Citus, 2 workers, 32 shards (decoded on the workers)")
  awk -v l="$label" -v a=$((t1 - t0)) -v b=$((t2 - t1)) 'BEGIN { printf "| %s | %.1f | %.2f |\n", l, a / 1000, b / 1000 }'
done
same=$(for n in single c; do Q $n "SELECT hash FROM siamese.models WHERE name = 'bench-train'"; done | sort -u | wc -l)
echo "(the same model on both: $([ "$same" -eq 1 ] && echo yes || echo NO))"
[ "$ROWS" -gt 0 ] || exit 0

# --- vectors: index build, QPS and recall ----------------------------------------
# ROWS vectors: the image embeddings, repeated with uniform jitter of +-0.05 per
# dimension (about the spread of one class), so that a query's 10 nearest are
# not simply its own copies.
cat >"$DIR/vecs.sql" <<EOF
CREATE TABLE vecs (id bigint, label int, e siamese.embedding(128));
INSERT INTO vecs SELECT r.k * $IMAGES + p.id, p.label,
  ARRAY(SELECT x + (random() - 0.5) * 0.1 FROM unnest(p.e::real[]) x)::real[]::siamese.embedding
FROM (SELECT id, label, e FROM photos_local) p, generate_series(0, ($ROWS - 1) / $IMAGES) r(k)
WHERE r.k * $IMAGES + p.id < $ROWS;
EOF
Q single "CREATE TABLE photos_local AS SELECT id, label, e FROM photos"
Q c "CREATE TABLE photos_local AS SELECT id, label, e FROM photos"
chmod 644 "$DIR/vecs.sql"
t0=$(ms); QF single "$DIR/vecs.sql"; t1=$(ms)
echo
echo "($ROWS vectors generated in $(( (t1 - t0) / 1000 )) s)"
Q c "CREATE TABLE vecs (id bigint, label int, e siamese.embedding(128)); SELECT create_distributed_table('vecs', 'id')" >/dev/null
as_pg "psql -h $DIR -p $(port single) -d postgres -XAtq -c 'COPY vecs TO STDOUT' | psql -h $DIR -p $(port c) -d postgres -XAtq -c 'COPY vecs FROM STDIN'"
for n in single c; do Q $n "VACUUM ANALYZE vecs"; done
# queries: 200 seeded rows, excluded from their own answers
Q single "CREATE TABLE queries AS SELECT id, e FROM vecs ORDER BY hashint8(id) LIMIT 200"
as_pg "psql -h $DIR -p $(port single) -d postgres -XAtq -c 'COPY queries TO STDOUT' >$DIR/queries.copy"
Q c "CREATE TABLE queries (id bigint, e siamese.embedding)"
as_pg "psql -h $DIR -p $(port c) -d postgres -XAtq -c \"COPY queries FROM '$DIR/queries.copy'\"" 2>/dev/null ||
  as_pg "cat $DIR/queries.copy | psql -h $DIR -p $(port c) -d postgres -XAtq -c 'COPY queries FROM STDIN'"
# the exact answers, once (sequential scan on the single node)
Q single "CREATE TABLE truth AS SELECT q.id AS qid, t.id FROM queries q, LATERAL (SELECT v.id FROM vecs v WHERE v.id <> q.id ORDER BY v.e OPERATOR(siamese.<=>) q.e LIMIT 10) t"
as_pg "psql -h $DIR -p $(port single) -d postgres -XAtq -c 'COPY truth TO STDOUT' >$DIR/truth.copy"
Q c "CREATE TABLE truth (qid bigint, id bigint)"
as_pg "cat $DIR/truth.copy | psql -h $DIR -p $(port c) -d postgres -XAtq -c 'COPY truth FROM STDIN'"

echo
echo "## index build: CREATE INDEX ... USING siamese_hnsw (e embedding_cosine_ops), m 16, ef_construction 64, $ROWS rows"
echo "| setup | seconds | index size |"
echo "|---|---|---|"
for n in single c; do
  t0=$(ms); Q $n "CREATE INDEX vecs_e_idx ON vecs USING siamese_hnsw (e siamese.embedding_cosine_ops)"; t1=$(ms)
  if [ $n = single ]; then size=$(Q $n "SELECT pg_size_pretty(pg_relation_size('vecs_e_idx'))"); label="one node, serial build"
  else size=$(Q c "SELECT pg_size_pretty(sum(result::bigint)) FROM run_command_on_shards('vecs', \\\$q\\\$SELECT pg_relation_size(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '%s'::regclass AND c.relname ~ 'vecs_e_idx'\\\$q\\\$)"); label="Citus, 2 workers, 32 shards"; fi
  awk -v l="$label" -v ms=$((t1 - t0)) -v s="$size" 'BEGIN { printf "| %s | %.1f | %s |\n", l, ms / 1000, s }'
done

# recall@10 of the index at one ef_search, over the 200 queries
recall() {  # node ef
  cat >"$DIR/recall.sql" <<EOF
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL siamese.hnsw.ef_search = $2;
CREATE TEMP TABLE got ON COMMIT DROP AS SELECT 0::bigint AS qid, 0::bigint AS id LIMIT 0;
DO \$\$
DECLARE q record;
BEGIN
  FOR q IN SELECT id, e FROM queries LOOP
    INSERT INTO got SELECT q.id, v.id FROM (SELECT id FROM vecs WHERE id <> q.id ORDER BY e OPERATOR(siamese.<=>) q.e LIMIT 10) v;
  END LOOP;
END
\$\$;
SELECT round(count(*)::numeric / (10 * (SELECT count(*) FROM queries)), 3) FROM got JOIN truth USING (qid, id);
COMMIT;
EOF
  [ "$1" = single ] && sed -i '/citus.propagate_set_commands/d' "$DIR/recall.sql"
  chmod 644 "$DIR/recall.sql"; QF "$1" "$DIR/recall.sql" | tail -1
}
# pgbench: one client, prepared (the query vector travels as a parameter);
# each transaction fetches a query vector then searches
qps() {  # node ef [extra -c options]
  cat >"$DIR/knn.pgbench" <<EOF
\set qid random(1, 200)
SELECT e AS qv FROM (SELECT e, row_number() OVER (ORDER BY id) AS r FROM queries) q WHERE r = :qid \gset
SELECT id FROM vecs ORDER BY e OPERATOR(siamese.<=>) :qv LIMIT 10;
EOF
  chmod 644 "$DIR/knn.pgbench"
  local opts="-c siamese.hnsw.ef_search=$2 ${3:-}"
  as_pg "PGOPTIONS='$opts' $BIN/pgbench -h $DIR -p $(port $1) -n -M prepared -c 1 -T $SECONDS_PER -f $DIR/knn.pgbench postgres" 2>/dev/null |
    awk '/^tps/ { printf "%.0f", $3 }' || true
}
echo
echo "## k-NN: ORDER BY e <=> q LIMIT 10, one client, pgbench -M prepared, $ROWS rows (each transaction also fetches its query vector)"
# Citus opens up to citus.max_adaptive_executor_pool_size (16) connections per
# worker for a multi-shard query and caches citus.max_cached_conns_per_worker
# (1) of them: 16 shards a worker then means new connections for most queries.
# The "pool 1" column runs each worker's shard queries on its one cached connection.
POOL1="-c citus.max_adaptive_executor_pool_size=1"
echo "| ef_search | one node QPS | one node recall@10 | Citus QPS | Citus QPS, pool 1 | Citus recall@10 |"
echo "|---|---|---|---|---|---|"
# On Citus, ALTER ROLE ... SET reaches the workers' connections; PGOPTIONS only the coordinator.
for ef in 20 40 80 160; do
  Q c "ALTER ROLE postgres SET siamese.hnsw.ef_search = $ef" >/dev/null
  echo "| $ef | $(qps single $ef) | $(recall single $ef) | $(qps c $ef) | $(qps c $ef "$POOL1") | $(recall c $ef) |"
done
Q c "ALTER ROLE postgres RESET siamese.hnsw.ef_search" >/dev/null

echo
echo "## latency against shard count ($((ROWS / 10)) rows, ef_search 40, one client)"
echo "| shards | build seconds | QPS | mean latency ms | QPS, pool 1 | mean latency ms, pool 1 |"
echo "|---|---|---|---|---|---|"
for s in $SHARDS; do
  Q c "SET client_min_messages = warning; DROP TABLE IF EXISTS vs; CREATE TABLE vs (id bigint, label int, e siamese.embedding(128)); SELECT create_distributed_table('vs', 'id', shard_count => $s); INSERT INTO vs SELECT * FROM vecs WHERE id < $((ROWS / 10))" >/dev/null
  t0=$(ms); Q c "CREATE INDEX ON vs USING siamese_hnsw (e siamese.embedding_cosine_ops)"; t1=$(ms)
  sed 's/FROM vecs ORDER/FROM vs ORDER/' "$DIR/knn.pgbench" >"$DIR/knn_vs.pgbench"; chmod 644 "$DIR/knn_vs.pgbench"
  out=$(as_pg "$BIN/pgbench -h $DIR -p $(port c) -n -M prepared -c 1 -T $SECONDS_PER -f $DIR/knn_vs.pgbench postgres" 2>/dev/null || true)
  tps=$(echo "$out" | awk '/^tps/ { printf "%.0f", $3 }'); lat=$(echo "$out" | awk '/latency average/ { print $4 }')
  out=$(as_pg "PGOPTIONS='$POOL1' $BIN/pgbench -h $DIR -p $(port c) -n -M prepared -c 1 -T $SECONDS_PER -f $DIR/knn_vs.pgbench postgres" 2>/dev/null || true)
  tps1=$(echo "$out" | awk '/^tps/ { printf "%.0f", $3 }'); lat1=$(echo "$out" | awk '/latency average/ { print $4 }')
  awk -v s=$s -v ms=$((t1 - t0)) -v t="$tps" -v l="$lat" -v t1="$tps1" -v l1="$lat1" \
    'BEGIN { printf "| %d | %.1f | %s | %s | %s | %s |\n", s, ms / 1000, t, l, t1, l1 }'
done

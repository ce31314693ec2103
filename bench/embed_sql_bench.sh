#!/bin/bash
# embed_sql_bench.sh: rows/s of siamese.embed() in SQL over the 70k
# Fashion-MNIST images (60k train + 10k test) stored as PNG bytea
# (docs/performance.md).
#
#   bash bench/embed_sql_bench.sh [MODEL [PORT [CLUSTER_DIR]]]
#
# MODEL defaults to 'fashion' when models/fashion.json exists, else
# 'fashion-pixels'.  The script builds and installs the extension (skip with
# SKIP_INSTALL=1), builds tools/bin/fmnist_export, starts a scratch cluster
# (scripts/scratch-cluster; PORT 5498, CLUSTER_DIR /tmp/sp_bench by default),
# recreates the database sp_embed_bench, loads the images once, then measures,
# each once (the machine may be shared; uptime is printed next to each figure):
#
#   1. serial SELECT count(embed(img)): decode + preprocess + forward only;
#   2. serial UPDATE t SET e = embed(img): the same plus writing new rows;
#   3. CREATE TABLE AS SELECT embed(img) with a parallel seq scan, 2 workers
#      (+ the leader), and with 1 worker;
#   4. embed_batch over array_agg groups of 256 images (serial: array_agg has
#      no partial aggregation in PostgreSQL 15);
#   5. a check that what this run wrote equals embed() recomputed (1 row in 50).
#
# Environment: SKIP_INSTALL=1 skips make install; SKIP_LOAD=1 reuses the
# table of a previous run; PHASES (default "select update par2 par1 batch
# check") picks the measurements.
#
# The server inherits OPENBLAS_CORETYPE from this script's environment when it
# is started here (an already-running scratch cluster keeps its own):
# siamese.blas_info() is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${1:-}" ]; then
	MODEL=$1
elif [ -f models/fashion.json ]; then
	MODEL=fashion
else
	MODEL=fashion-pixels
fi
PORT=${2:-5498}
CDIR=${3:-/tmp/sp_bench}
DB=sp_embed_bench
PHASES=" ${PHASES:-select update par2 par1 batch check} "
has() { [[ $PHASES == *" $1 "* ]]; }

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
	make -s >/dev/null
	make -s install >/dev/null
fi
make -s tools/bin/fmnist_export

eval "$(bash scripts/scratch-cluster start "$CDIR" "$PORT")"
export PGDATABASE=$DB

note() { echo "   [$(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)]"; }

if [ "${SKIP_LOAD:-0}" != 1 ]; then
	psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION siamese_pg;
CREATE TABLE fm (split text NOT NULL DEFAULT 'train', id int NOT NULL, label int NOT NULL,
                 class text NOT NULL, img bytea NOT NULL, e siamese.embedding,
                 PRIMARY KEY (split, id));
SQL

	echo "== loading Fashion-MNIST as PNG ($(date -u +%T))"
	./tools/bin/fmnist_export --split train |
		psql -X -q -v ON_ERROR_STOP=1 -c "COPY fm (id, label, class, img) FROM STDIN"
	psql -X -q -v ON_ERROR_STOP=1 -c "ALTER TABLE fm ALTER COLUMN split SET DEFAULT 'test'"
	./tools/bin/fmnist_export --split t10k |
		psql -X -q -v ON_ERROR_STOP=1 -c "COPY fm (id, label, class, img) FROM STDIN"
	# VACUUM sets hint bits and the visibility map so no measurement pays for them
	psql -X -q -v ON_ERROR_STOP=1 -c "VACUUM (ANALYZE) fm"
fi
psql -X -At -v ON_ERROR_STOP=1 <<SQL
SELECT format('rows %s, PNG bytes avg %s, table %s', count(*), round(avg(length(img))),
              pg_size_pretty(pg_total_relation_size('fm'))) FROM fm;
SELECT format('model %s: %s dims, %s params, hash %s', name, dims, params, left(hash, 16))
  FROM siamese.models WHERE name = '$MODEL';
SELECT format('BLAS in the server: %s; core %s; threads %s', library, core, threads) FROM siamese.blas_info();
SQL

N=$(psql -X -At -c "SELECT count(*) FROM fm")

# run SQL (after SET lines) and print the elapsed seconds of its last statement
timed() {
	local label=$1 sql=$2 out secs
	out=$(psql -X -q -v ON_ERROR_STOP=1 <<SQL

SELECT siamese.embed(img, '$MODEL') IS NOT NULL FROM fm LIMIT 1 \\g /dev/null
$sql
\\timing on
$LAST
SQL
)
	secs=$(echo "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
	secs=$(awk -v ms="$secs" 'BEGIN { printf "%.2f", ms / 1000 }')
	printf '%-58s %8s s  %8.0f rows/s\n' "$label" "$secs" "$(awk -v n="$N" -v s="$secs" 'BEGIN { print n / s }')"
	note
}

echo "== measurements, model '$MODEL', $N rows (each once)"
note

if has select; then
	LAST="SELECT count(siamese.embed(img, '$MODEL')) FROM fm;"
	timed "serial SELECT count(embed(img))" "SET max_parallel_workers_per_gather = 0;"
fi

if has update; then
	LAST="UPDATE fm SET e = siamese.embed(img, '$MODEL');"
	timed "serial UPDATE fm SET e = embed(img)" "SET max_parallel_workers_per_gather = 0;"
	psql -X -q -c "VACUUM fm"	# the later scans should not walk the old row versions
fi

PAR="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = on;"
for W in 2 1; do
	has par$W || continue
	psql -X -q -c "DROP TABLE IF EXISTS fm_par"
	LAST="CREATE TABLE fm_par AS SELECT split, id, siamese.embed(img, '$MODEL') AS e FROM fm;"
	echo "   plan ($W workers): $(psql -X -At <<SQL | grep -E 'Gather|Workers|Seq Scan' | sed 's/^ *//' | tr '\n' ';'
$PAR
SET max_parallel_workers_per_gather = $W;
EXPLAIN (COSTS OFF) SELECT split, id, siamese.embed(img, '$MODEL') AS e FROM fm;
SQL
)"
	timed "parallel CREATE TABLE AS embed(img), $W worker(s) + leader" "$PAR
SET max_parallel_workers_per_gather = $W;"
done

if has batch; then
	psql -X -q -c "DROP TABLE IF EXISTS fm_batch"
	LAST="CREATE TABLE fm_batch AS
	  SELECT unnest(ids) AS id, split, unnest(siamese.embed_batch(imgs, '$MODEL')) AS e
	  FROM (SELECT split, array_agg(id ORDER BY id) ids, array_agg(img ORDER BY id) imgs
	        FROM fm GROUP BY split, id / 256) b;"
	timed "serial embed_batch, groups of 256 (CREATE TABLE AS)" "SET max_parallel_workers_per_gather = 0;"
fi

has check || exit 0
# every table written in this run against embed() recomputed on every 50th row
echo "== check: the embeddings agree (every 50th row recomputed with embed())"
CHECK=()
has update && CHECK+=("fm:e")
{ has par2 || has par1; } && CHECK+=("fm_par:e")
has batch && CHECK+=("fm_batch:e")
for tc in "${CHECK[@]}"; do
	t=${tc%%:*}
	psql -X -At -v ON_ERROR_STOP=1 <<SQL
SELECT format('%-9s %s rows, max L2 difference to embed(): %s', '$t', count(*),
              max(siamese.l2_distance(x.e, siamese.embed(f.img, '$MODEL'))))
  FROM $t x JOIN fm f USING (split, id) WHERE f.id % 50 = 0;
SQL
done

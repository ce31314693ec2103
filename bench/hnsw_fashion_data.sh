#!/usr/bin/env bash
# bench/hnsw_fashion_data.sh: make sure database $BENCH_DB holds the embeddings
# of all 70,000 Fashion-MNIST images (60k train + 10k test) by model $MODEL,
# in table public.bench_fashion_embeddings (id int, label int, e embedding(d)).
# Train images keep their index as id (0..59999), test images get 60000..69999.
#
# Embedding 70k images takes about a minute on 2 cores, so the table is a
# cache: it is rebuilt only when it is missing, incomplete, or was made by a
# model with another content hash (public.bench_fashion_embeddings_meta).
# Called by bench/hnsw_bench.sh DATA=fashion; can be run on its own:
#
#   PGHOST=... PGPORT=... PGUSER=... BENCH_DB=siamese_hnsw_bench MODEL=fashion \
#     bench/hnsw_fashion_data.sh
#
# Needs the extension with the model installed, tools/bin/fmnist_export (make
# tools) and the Fashion-MNIST files it reads.
set -euo pipefail

DB=${BENCH_DB:-siamese_hnsw_bench}
MODEL=${MODEL:-fashion}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
exporter="$srcdir/tools/bin/fmnist_export"

psql_q() { PGOPTIONS="-c jit=off -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }

psql -X -q -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
  psql -X -q -d postgres -c "CREATE DATABASE $DB"
psql_q -c "CREATE EXTENSION IF NOT EXISTS siamese_pg"

sha=$(psql_q -v model="$MODEL" <<'SQL'
SELECT hash FROM siamese.models() WHERE name = :'model';
SQL
)
[ -n "$sha" ] || { echo "model '$MODEL' is not installed (siamese.models())" >&2; exit 2; }

have=$(psql_q -v sha="$sha" <<'SQL'
SELECT count(*) FROM pg_class WHERE relname = 'bench_fashion_embeddings_meta' AND relnamespace = 'public'::regnamespace
  AND EXISTS (SELECT 1 FROM pg_class WHERE relname = 'bench_fashion_embeddings' AND relnamespace = 'public'::regnamespace);
SQL
)
if [ "$have" = 1 ]; then
  ok=$(psql_q -v sha="$sha" <<'SQL'
SELECT (SELECT count(*) FROM public.bench_fashion_embeddings) = 70000
   AND (SELECT count(*) FROM public.bench_fashion_embeddings_meta WHERE sha256 = :'sha') = 1;
SQL
)
  if [ "$ok" = t ]; then
    echo "fashion embeddings: cached (model $MODEL ${sha:0:12}, 70000 rows)"
    exit 0
  fi
fi

[ -x "$exporter" ] || { echo "$exporter not built (make tools)" >&2; exit 2; }
t0=$(date +%s.%N)
psql_q <<'SQL'
DROP TABLE IF EXISTS public.bench_fashion_embeddings, public.bench_fashion_embeddings_meta,
  public.bench_fashion_images, public.bench_fashion_images_t10k;
CREATE TABLE public.bench_fashion_images (id int, label int, class text, img bytea);
CREATE TABLE public.bench_fashion_images_t10k (LIKE public.bench_fashion_images);
SQL
"$exporter" --split train | psql_q -c "COPY public.bench_fashion_images FROM STDIN"
"$exporter" --split t10k | psql_q -c "COPY public.bench_fashion_images_t10k FROM STDIN"
dims=$(psql_q -v model="$MODEL" <<'SQL'
SELECT dims FROM siamese.models() WHERE name = :'model';
SQL
)
# parallel workers embed too (embed() is PARALLEL SAFE): force the parallel plan
psql_q -v model="$MODEL" -v sha="$sha" <<SQL
INSERT INTO public.bench_fashion_images SELECT id + 60000, label, class, img FROM public.bench_fashion_images_t10k;
DROP TABLE public.bench_fashion_images_t10k;
ANALYZE public.bench_fashion_images;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
CREATE TABLE public.bench_fashion_embeddings AS
  SELECT id, label, siamese.embed(img, :'model')::siamese.embedding($dims) AS e
  FROM public.bench_fashion_images;
DROP TABLE public.bench_fashion_images;
CREATE TABLE public.bench_fashion_embeddings_meta AS SELECT :'model'::text AS model, :'sha'::text AS sha256;
VACUUM ANALYZE public.bench_fashion_embeddings;
SQL
n=$(psql_q -c "SELECT count(*) FROM public.bench_fashion_embeddings")
[ "$n" = 70000 ] || { echo "expected 70000 embeddings, got $n" >&2; exit 1; }
echo "fashion embeddings: $n images embedded by $MODEL in $(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}') s (cached for reruns)"

#!/bin/bash
# embed_photos_sql_bench.sh: rows/s of siamese.embed() in SQL with an
# imported PyTorch network over a table of photo JPEGs (docs/performance.md).
#
#   bash bench/embed_photos_sql_bench.sh [MODEL [ROWS [PORT]]]
#
# MODEL is a torchvision backbone (default mobilenet_v2; resnet50 is the
# heavy one), exported by tools/onnx/torch_features.py (seeded random
# weights, head removed) and registered with siamese.register_onnx_model with
# torchvision's eval preprocessing.  ROWS (default 200) JPEGs of 320 x 240 to
# 640 x 480 (random crops of skimage's sample photos, quality 90, made with
# PIL) are loaded once; then, each once, with uptime printed beside it:
#   1. serial SELECT count(embed(img)): decode + preprocess + forward;
#   2. serial UPDATE t SET e = embed(img);
#   3. CREATE TABLE AS SELECT embed(img) with a parallel seq scan, 2 workers.
# Each figure is timed by psql in a backend that has already loaded the model
# (parallel workers load their own copy, included).  The extension must be
# installed (make install); a scratch cluster is started on PORT (default
# 5496) in /tmp/sp_photo_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-mobilenet_v2}
ROWS=${2:-200}
PORT=${3:-5496}
WORK=$(mktemp -d /tmp/sp_photo_bench.XXXXXX)
chmod 755 "$WORK"

/usr/bin/python3 tools/onnx/torch_features.py "$MODEL" "$WORK" /usr/lib/python3/dist-packages/skimage/data/chelsea.png >/dev/null 2>&1
/usr/bin/python3 - "$WORK/photos.tsv" "$ROWS" <<'PY'
import io, random, sys, os
from PIL import Image
out, rows = sys.argv[1], int(sys.argv[2])
d = "/usr/lib/python3/dist-packages/skimage/data"
srcs = [Image.open(os.path.join(d, f)).convert("RGB") for f in ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")]
random.seed(1)
with open(out, "w") as f:
    for i in range(rows):
        im = random.choice(srcs)
        w = random.randint(320, min(640, im.width)); h = random.randint(240, min(480, im.height))
        x = random.randint(0, im.width - w); y = random.randint(0, im.height - h)
        b = io.BytesIO(); im.crop((x, y, x + w, y + h)).save(b, "JPEG", quality=90)
        f.write("%d\t\\\\x%s\n" % (i, b.getvalue().hex()))
PY
chmod 644 "$WORK"/*
eval "$(bash scripts/scratch-cluster start /tmp/sp_photo_bench "$PORT")"
note() { echo "   [load: $(cut -d' ' -f1-3 /proc/loadavg)]"; }
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS sp_photo" -c "CREATE DATABASE sp_photo"
export PGDATABASE=sp_photo
CFG=$(/usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(open('$WORK/$MODEL.json'))['import']))")
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION siamese_pg;
SELECT siamese.register_onnx_model('$MODEL', pg_read_binary_file('$WORK/$MODEL.onnx'), '$CFG');
CREATE TABLE photos (id int, img bytea);
\copy photos FROM '$WORK/photos.tsv'
ANALYZE photos;
SQL
echo "model $MODEL, $ROWS JPEG rows ($(psql -XAtq -c "SELECT pg_size_pretty(sum(length(img))) FROM photos"))"
run() { # label, sql: timed by psql after the model is loaded in the same backend
	local ms
	ms=$(psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT count(siamese.embed(img, '$MODEL')) FROM photos WHERE id = 0" \
		-c '\timing on' -c "$2" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
	awk -v ms="$ms" -v n="$ROWS" -v l="$1" 'BEGIN { printf "%-44s %7.2f s  %7.1f rows/s\n", l, ms / 1000, n / (ms / 1000) }'
	note
}
run "serial SELECT count(embed(img))" "SELECT count(siamese.embed(img, '$MODEL')) FROM photos"
psql -XAtq -c "ALTER TABLE photos ADD COLUMN e siamese.embedding"
run "serial UPDATE photos SET e = embed(img)" "UPDATE photos SET e = siamese.embed(img, '$MODEL')"
psql -XAtq -c "ALTER DATABASE sp_photo SET max_parallel_workers_per_gather = 2" -c "ALTER DATABASE sp_photo SET parallel_setup_cost = 0" -c "ALTER DATABASE sp_photo SET parallel_tuple_cost = 0" -c "ALTER DATABASE sp_photo SET min_parallel_table_scan_size = 0"
run "parallel CREATE TABLE AS (2 workers + leader)" "CREATE TABLE p AS SELECT id, siamese.embed(img, '$MODEL') AS e FROM photos"
echo "plan: $(psql -XAtq -c "EXPLAIN (COSTS OFF) SELECT id, siamese.embed(img, '$MODEL') FROM photos" | tr '\n' ' ')"
echo "parallel result equals serial: $(psql -XAtq -c "SELECT bool_and(p.e OPERATOR(siamese.=) photos.e) FROM p JOIN photos USING (id)")"
bash scripts/scratch-cluster stop /tmp/sp_photo_bench >/dev/null
rm -rf "$WORK"

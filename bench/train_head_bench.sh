#!/bin/bash
# train_head_bench.sh: what a projection head on a frozen imported network
# costs and gives (train_model's head; docs/training.md).
#
#   bash bench/train_head_bench.sh [MODEL [TRAIN [QUERIES [EPOCHS [PORT]]]]]
#
# MODEL is a torchvision backbone (default resnet50), exported by
# tools/onnx/torch_features.py (seeded random weights: pretrained ones cannot
# be downloaded here, so the backbone's own features are weak) and
# registered with siamese.register_onnx_model.  TRAIN (default 2000)
# Fashion-MNIST training images are the labelled table, QUERIES (default
# 1000) test images measure 1-NN accuracy against it.  Printed:
#   1. the features alone: SELECT count(siamese._train_features(img)), the
#      part of train_model that runs the backbone (once per image);
#   2. CALL train_model(head => 'mlp', EPOCHS epochs, cosface): the whole call,
#      features included; the head's own training is the difference;
#   3. 1-NN accuracy of the queries against the table with the backbone's
#      features and with base + head (cosine), the alternative a user has
#      without training being the former.
# The extension must be installed (make install) and tools built (make
# tools); a scratch cluster is started on PORT (default 5497).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-resnet50}
TRAIN=${2:-2000}
QUERIES=${3:-1000}
EPOCHS=${4:-20}
PORT=${5:-5497}
WORK=$(mktemp -d /tmp/sp_head_bench.XXXXXX)
chmod 755 "$WORK"

/usr/bin/python3 tools/onnx/torch_features.py "$MODEL" "$WORK" /usr/lib/python3/dist-packages/skimage/data/chelsea.png >/dev/null 2>&1
chmod 644 "$WORK"/*
eval "$(bash scripts/scratch-cluster start /tmp/sp_head_bench "$PORT")"
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS sp_head" -c "CREATE DATABASE sp_head"
export PGDATABASE=sp_head
CFG=$(/usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(open('$WORK/$MODEL.json'))['import']))")
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION siamese_pg;
SELECT FROM siamese.register_onnx_model('$MODEL', pg_read_binary_file('$WORK/$MODEL.onnx'), '$CFG');
CREATE TABLE items (id int, label int, class text, png bytea);
CREATE TABLE queries (id int, label int, class text, png bytea);
SQL
tools/bin/fmnist_export --split train --limit "$TRAIN" | psql -Xq -v ON_ERROR_STOP=1 -c "COPY items FROM STDIN"
tools/bin/fmnist_export --split t10k --limit "$QUERIES" | psql -Xq -v ON_ERROR_STOP=1 -c "COPY queries FROM STDIN"
echo "backbone $MODEL ($(psql -XAtq -c "SELECT dims FROM siamese.models WHERE name = '$MODEL'") values), $TRAIN training images, $QUERIES queries, $(nproc) cores, $(date -u +%F)"
timed() { # sql -> seconds, timed by psql in a backend that has loaded the model
	psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT count(siamese.embed(png, '$MODEL')) FROM items WHERE id = 0" \
		-c '\timing on' -c "$1" 2>/dev/null | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1 | awk '{ printf "%.1f", $1 / 1000 }'
}
F=$(timed "SELECT count(siamese._train_features(png, '$MODEL')) FROM items")
T=$(timed "SET client_min_messages = warning; CALL siamese.train_model('$MODEL-head', 'items', 'png', 'class', base_model => '$MODEL', head => 'mlp', loss => 'cosface', margin => 0.35, epochs => $EPOCHS, seed => 1)")
knn() {
	psql -XAtq -v ON_ERROR_STOP=1 -c "
		CREATE TEMP TABLE g AS SELECT id, class, siamese.embed(png, '$1') AS v FROM items;
		CREATE TEMP TABLE q AS SELECT class, siamese.embed(png, '$1') AS v FROM queries;
		SELECT round(avg((q.class = (SELECT g.class FROM g ORDER BY siamese.cosine_distance(g.v, q.v), g.id LIMIT 1))::int), 4)
		FROM q"
}
printf '%-58s %8s\n' "step" "seconds"
printf '%-58s %8s\n' "backbone features of the $TRAIN images (_train_features)" "$F"
printf '%-58s %8s\n' "CALL train_model(head => 'mlp', $EPOCHS epochs), features included" "$T"
printf '%-58s %8s\n' "  of which the head (the difference)" "$(awk -v a="$T" -v b="$F" 'BEGIN { printf "%.1f", a - b }')"
printf '%-58s %8s\n' "1-NN accuracy, backbone features" "$(knn "$MODEL")"
printf '%-58s %8s\n' "1-NN accuracy, backbone + trained head" "$(knn "$MODEL-head")"
echo "held-out quality recorded by train_model: $(psql -XAtq -c "SELECT config -> 'quality' ->> 'nn1_accuracy' FROM siamese.models WHERE name = '$MODEL-head'") (1-NN)"
bash scripts/scratch-cluster stop /tmp/sp_head_bench >/dev/null
rm -rf "$WORK"

#!/bin/bash
# onnx_compare.sh: images/s of PyTorch, ONNX Runtime and siamese_pg's graph
# engine on the same ONNX exports of torchvision models, one thread each,
# printed as a markdown table.
#
#   bash bench/onnx_compare.sh [--out DIR] [--models a,b] [--batches 1,16]
#                              [--seconds S] [--threads T] [--check]
#                              [--export | --no-export]
#
# 1. exports the models (tools/onnx/export_torchvision.py, seeded random
#    weights, opset 17) into DIR (default /tmp/siamese_onnx; reused when
#    DIR/NAME.onnx exists, unless --export is given to redo it; --no-export
#    requires them);
# 2. installs onnxruntime-node into bench/ort/node_modules if missing
#    (npm ci --ignore-scripts: the package carries the Linux x64 library, its
#    install script only downloads CUDA parts);
# 3. with --check: tools/onnx/reference_outputs.py --ort per model (torch's
#    reference outputs on the skimage photos, checked against ONNX Runtime);
# 4. per model and batch size: bench/torch_bench.py (best of NCHW and
#    channels_last), bench/ort/ort_bench.js, and the siamese_pg column:
#
#      bench/bin/bench_graph MODEL.onnx CONFIG.json --batch N --seconds S
#
#    which must print a line "images/s: X" (threads: SIAMESE_THREADS=T is
#    exported for it).  Until that binary exists the column reads "n/a".
#
# Each case: warm-up, then 5 timed runs over S seconds (default 5), best run.
# Run it on a quiet machine: the load average is printed with the table.  A
# second table gives torch's and ORT's images per second of process CPU time,
# which other load on a shared machine disturbs far less than wall clock.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=/tmp/siamese_onnx
MODELS=resnet50,mobilenet_v2,efficientnet_b0,convnext_tiny,vit_b_16
BATCHES=1,16
SECS=5
THREADS=1
CHECK=0
EXPORT=auto
PY=${PYTHON:-/usr/bin/python3}   # Debian's python with torch, not a pyenv one
SIAMESE_BENCH=${SIAMESE_BENCH:-bench/bin/bench_graph}

while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT=$2; shift 2 ;;
	--models) MODELS=$2; shift 2 ;;
	--batches) BATCHES=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--check) CHECK=1; shift ;;
	--export) EXPORT=always; shift ;;
	--no-export) EXPORT=never; shift ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "onnx_compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

mkdir -p "$OUT"
IFS=, read -r -a MODEL_LIST <<<"$MODELS"
IFS=, read -r -a BATCH_LIST <<<"$BATCHES"

# -- 1. exports
for m in "${MODEL_LIST[@]}"; do
	if [ "$EXPORT" = always ] || { [ "$EXPORT" = auto ] && [ ! -f "$OUT/$m.onnx" ]; }; then
		echo "== exporting $m" >&2
		"$PY" tools/onnx/export_torchvision.py --models "$m" --out "$OUT" >&2
	elif [ ! -f "$OUT/$m.onnx" ]; then
		echo "onnx_compare.sh: $OUT/$m.onnx missing (drop --no-export)" >&2
		exit 1
	fi
done

# -- 2. ONNX Runtime
if [ ! -d bench/ort/node_modules/onnxruntime-node ]; then
	echo "== installing onnxruntime-node (npm ci --ignore-scripts)" >&2
	(cd bench/ort && npm ci --ignore-scripts --no-audit --no-fund >&2)
fi

# -- 3. correctness
if [ "$CHECK" = 1 ]; then
	for m in "${MODEL_LIST[@]}"; do
		echo "== checking $m: torch vs ONNX Runtime on the skimage photos" >&2
		"$PY" tools/onnx/reference_outputs.py "$OUT/$m.onnx" --ort >&2
	done
fi

# -- 4. timings
rate() { # the number after the last "images/s:" of a command's output, or n/a
	local out
	if out=$("$@" 2>/dev/null); then
		out=$(printf '%s\n' "$out" | grep -E '(^|[^a-z ])images/s: ' | tail -1 |
			sed -E 's/.*images\/s: *([0-9.]+).*/\1/')
		echo "${out:-n/a}"
	else
		echo "n/a"
	fi
}
ratio() { # $1 / $2 with 2 decimals, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

rows=()
cpu_rows=()
for m in "${MODEL_LIST[@]}"; do
	for b in "${BATCH_LIST[@]}"; do
		echo "== timing $m batch $b" >&2
		t_out=$("$PY" bench/torch_bench.py "$OUT/$m.onnx" --batch "$b" --seconds "$SECS" \
			--threads "$THREADS" 2>/dev/null || true)
		printf '%s\n' "$t_out" | sed 's/^/   /' >&2
		t_cpu=$(printf '%s\n' "$t_out" | grep -E '^batch=.* cpu images/s: ' | tail -1 |
			sed -E 's/.*images\/s: *([0-9.]+).*/\1/')
		t=$(printf '%s\n' "$t_out" | grep -E '^batch=[0-9]+ images/s: ' | tail -1 |
			sed -E 's/.*images\/s: *([0-9.]+) \((.*)\)/\1 \2/')
		t_rate=${t% *}
		t_layout=${t#* }
		[ -n "$t" ] || { t_rate=n/a; t_layout=; }
		o_out=$(node bench/ort/ort_bench.js "$OUT/$m.onnx" --batch "$b" --threads "$THREADS" \
			--seconds "$SECS" 2>&1 || true)
		printf '%s\n' "$o_out" | sed 's/^/   /' >&2
		o=$(printf '%s\n' "$o_out" | grep -E '^images/s: ' | sed -E 's/.*: *//')
		o=${o:-n/a}
		o_rss=$(printf '%s\n' "$o_out" | grep -E '^peak RSS MB: ' | sed -E 's/.*: *//')
		o_cpu=$(printf '%s\n' "$o_out" | grep -E '^cpu images/s: ' | sed -E 's/.*: *//')
		# -- siamese_pg hook: the graph engine's benchmark binary
		if [ -x "$SIAMESE_BENCH" ]; then
			s=$(SIAMESE_THREADS=$THREADS rate "$SIAMESE_BENCH" "$OUT/$m.onnx" \
				"$OUT/$m.siamese.json" --batch "$b" --seconds "$SECS")
		else
			s=n/a
		fi
		echo "   siamese_pg images/s: $s" >&2
		cpu_rows+=("| $m | $b | ${t_cpu:-n/a} | ${o_cpu:-n/a} | $(ratio "${o_cpu:-0}" "${t_cpu:-0}") |")
		rows+=("| $m | $b | $t_rate${t_layout:+ ($t_layout)} | $o | $s | $(ratio "$o" "$t_rate") | $(ratio "$s" "$o") | ${o_rss:-n/a} |")
	done
done

echo
echo "images/s, $THREADS thread(s), best of 5 runs over ${SECS}s; $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ($(nproc) cores); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | batch | PyTorch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) (layout) | ONNX Runtime $(node -p "require('./bench/ort/node_modules/onnxruntime-node/package.json').version") | siamese_pg | ORT / torch | siamese_pg / ORT | ORT peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Per second of process CPU time (less disturbed by other load; the siamese_pg hook reports wall clock only):"
echo
echo "| model | batch | PyTorch cpu images/s | ORT cpu images/s | ORT / torch |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${cpu_rows[@]}"

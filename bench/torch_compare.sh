#!/bin/bash
# torch_compare.sh: siamese_pg's forward pass against PyTorch on the same
# architecture and the same weights (docs/performance.md).
#
#   bash bench/torch_compare.sh [SECONDS]
#
# 1. installs Debian's python3-torch if it is missing (only this benchmark
#    needs it; root or sudo required for that step);
# 2. builds bench/bin/bench_embed and writes, under a temporary directory, the
#    reference CNN (docs/reference/fashion-mnist.md) with random weights (and
#    models/fashion if it is present) with 256 preprocessed Fashion-MNIST
#    test images and our embeddings of them;
# 3. bench/torch_compare.py loads the safetensors by hand into torch, shows
#    the embeddings agree (max abs difference < 1e-4) and times PyTorch NCHW,
#    PyTorch channels_last and our engine (with the inherited
#    OPENBLAS_CORETYPE and with SkylakeX when the CPU has AVX-512) at batch 1
#    and 256, one thread each, printing the ratios.
#
# Each figure is measured once (SECONDS of timing loop, default 3): the load
# average is printed next to the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_CASE=${1:-3}
# Debian's torch lives in the system interpreter (a pyenv/venv python3 earlier
# in PATH would not see it)
PY=${PYTHON:-/usr/bin/python3}

if ! "$PY" -c 'import torch' 2>/dev/null; then
	echo "== installing python3-torch (Debian package, for this benchmark only)"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch >/dev/null
fi

make -s bench/bin/bench_embed

export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

WORK=$(mktemp -d /tmp/torch_compare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/ref"
./bench/bin/bench_embed write "$WORK/ref"
DIRS=("$WORK/ref")
if [ -f models/fashion.json ] && [ -f models/fashion.safetensors ]; then
	mkdir -p "$WORK/fashion"
	./bench/bin/bench_embed write "$WORK/fashion" models/fashion
	DIRS+=("$WORK/fashion")
fi

CORES=(--coretype env)
if grep -q avx512f /proc/cpuinfo && [ "${OPENBLAS_CORETYPE:-}" != SkylakeX ]; then
	CORES+=(--coretype SkylakeX)
fi

echo "== $(date -u '+%F %T') UTC; $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); $(nproc --all) cores; uptime: $(uptime)"
"$PY" bench/torch_compare.py --time --seconds "$SECONDS_PER_CASE" "${CORES[@]}" "${DIRS[@]}"

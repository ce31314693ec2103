#!/usr/bin/python3
"""torch_bench.py: PyTorch 1.13 (CPU, eager, one thread) images/s on the same
model and weights as an ONNX file exported by tools/onnx/export_torchvision.py,
the reference point for ONNX Runtime and siamese_pg's graph engine.

    /usr/bin/python3 bench/torch_bench.py DIR/NAME.onnx [--batch 1,16]
        [--seconds 5] [--runs 5] [--threads 1] [--layouts nchw,channels_last]

Loads the model from DIR/NAME.siamese.json + DIR/NAME.pt (or rebuilds it from
the seed), then for each batch size and each memory layout (NCHW contiguous,
channels_last) under torch.inference_mode(): warm-up, then --runs timed runs
of --seconds/--runs each (at least one inference each); the best run counts.
Prints one line per (batch, layout), then per batch size the better layout as

    batch=N cpu images/s: Y (layout)
    batch=N images/s: X (layout)

X counts wall-clock time, Y the process's CPU time (with one thread, a figure
that other load on a shared machine disturbs far less).

Eager mode as the model is (BatchNorm not folded into the convolutions; ONNX
Runtime folds it at load).  For ViT, channels_last applies to the input only.
"""
import argparse
import os
import sys
import time

torch = export_torchvision = None  # imported in main(), after the thread env is set


def time_runs(fn, seconds, runs, batch):
    warm_until = time.perf_counter() + max(0.2, seconds * 0.1)
    n = 0
    while n < 2 or time.perf_counter() < warm_until:
        fn()
        n += 1
    rates, cpu_rates = [], []
    per = seconds / runs
    for _ in range(runs):
        iters = 0
        c0 = time.process_time()
        start = now = time.perf_counter()
        while iters == 0 or now - start < per:
            fn()
            iters += 1
            now = time.perf_counter()
        rates.append(iters * batch / (now - start))
        cpu_rates.append(iters * batch / max(1e-9, time.process_time() - c0))
    return rates, cpu_rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="NAME.onnx (its .siamese.json and .pt are used)")
    ap.add_argument("--batch", default="1,16", help="comma-separated batch sizes")
    ap.add_argument("--seconds", type=float, default=5.0, help="timed seconds per case")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layouts", default="nchw,channels_last")
    args = ap.parse_args()

    # one thread means one for OpenMP and for the OpenBLAS behind Linear/MatMul
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    global torch, export_torchvision
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "tools", "onnx"))
    import export_torchvision
    torch.set_num_threads(args.threads)
    base = args.model[:-5] if args.model.endswith(".onnx") else args.model
    model, info = export_torchvision.load_model(base + ".siamese.json")
    H, W = info["height"], info["width"]
    name = info["name"]
    gen = torch.Generator().manual_seed(0)
    for b in [int(x) for x in args.batch.split(",")]:
        x = torch.randn(b, 3, H, W, generator=gen)
        best = None
        for layout in args.layouts.split(","):
            if layout == "nchw":
                m, xi = model.to(memory_format=torch.contiguous_format), x.contiguous()
            elif layout == "channels_last":
                m = model.to(memory_format=torch.channels_last)
                xi = x.contiguous(memory_format=torch.channels_last)
            else:
                ap.error(f"unknown layout {layout}")
            with torch.inference_mode():
                rates, cpu_rates = time_runs(lambda: m(xi), args.seconds, args.runs, b)
            r = max(rates)
            print(f"torch {torch.__version__} {name} batch={b} threads={args.threads} "
                  f"layout={layout} runs={','.join(f'{v:.2f}' for v in rates)} best={r:.2f} "
                  f"cpu={max(cpu_rates):.2f}", flush=True)
            if best is None or r > best[0]:
                best = (r, layout, max(cpu_rates))
        print(f"batch={b} cpu images/s: {best[2]:.2f} ({best[1]})", flush=True)
        print(f"batch={b} images/s: {best[0]:.2f} ({best[1]})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

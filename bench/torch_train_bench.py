#!/usr/bin/python3
"""torch_train_bench.py: PyTorch 1.13 (CPU, eager) training-step speed of the
project's own architectures, the reference point for bench/bin/bench_nn's
"training step" table (tools/bin/train --threads T).

    /usr/bin/python3 bench/torch_train_bench.py [--arch cnn,resnet]
        [--threads 1,2] [--seconds 3] [--batch 160]

The same layers as src/core/nn/train_fit.c's sp_nn_arch_config (cnn: four
3x3 convolutions with batch norm, two max pools, a linear layer; resnet: a
stem, a widening convolution and a residual block at 14 x 14 and at 7 x 7,
global average pooling, a linear layer), in training mode (batch
statistics), on a batch of 160 random 28 x 28 images: one step is the
forward pass, the L2 normalisation, and the backward pass of a fixed
gradient of the embeddings (what bench_nn times), no optimiser.  Prints
images/s per (arch, threads), the best of three timed runs.
"""
import argparse
import time

import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.abn = nn.BatchNorm2d(c)
        self.b = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bbn = nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.abn(self.a(x)))
        return torch.relu(self.bbn(self.b(y)) + x)


def make(arch):
    if arch == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128))
    if arch == "resnet":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), Residual(64),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(), Residual(128),
            nn.AvgPool2d(7), nn.Flatten(), nn.Linear(128, 128))
    raise SystemExit("unknown arch " + arch)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="cnn,resnet")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=160)
    a = ap.parse_args()
    torch.manual_seed(1)
    x = torch.rand(a.batch, 1, 28, 28) * 2 - 1
    d = torch.rand(a.batch, 128) - 0.5
    cap = [ln.strip() for ln in torch.__config__.show().splitlines() if "CPU capability" in ln]
    print("PyTorch %s, %s" % (torch.__version__, cap[0] if cap else "CPU capability not reported"))
    print("%-34s %12s" % ("training step, batch %d" % a.batch, "images/s"))
    for arch in a.arch.split(","):
        model = make(arch).train()
        for threads in [int(t) for t in a.threads.split(",")]:
            torch.set_num_threads(threads)

            def step():
                model.zero_grad(set_to_none=True)
                out = nn.functional.normalize(model(x), dim=1)
                out.backward(d)

            for _ in range(3):
                step()
            best = 0.0
            for _ in range(3):
                n, t0 = 0, time.perf_counter()
                while n == 0 or time.perf_counter() - t0 < a.seconds / 3:
                    step()
                    n += 1
                best = max(best, n * a.batch / (time.perf_counter() - t0))
            print("%-34s %12.0f" % ("%s, %d thread%s" % (arch, threads, "s" if threads > 1 else ""), best))


if __name__ == "__main__":
    main()

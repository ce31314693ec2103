#!/usr/bin/python3
"""torch_compare.py: siamese_pg's forward pass side by side with PyTorch.

Run through bench/torch_compare.sh, which prepares the directories with
`bench/bin/bench_embed write DIR [MODEL_BASE]`.  For each DIR given:

1. loads DIR/model.safetensors by parsing the format by hand (8-byte
   little-endian header length, JSON header, raw tensor bytes) into torch
   tensors, and builds the network described by DIR/model.json (conv2d,
   batchnorm, relu, maxpool, avgpool, flatten, linear, l2norm, and the
   residual connections skip / add) as torch modules in eval mode;
2. checks the Python preprocessing of the raw pixels (DIR/pixels.u8) against
   our preprocessed tensor (DIR/input.f32), then runs PyTorch on input.f32 and
   prints the max abs difference to our embeddings (DIR/ours.f32), for NCHW and
   channels_last; fails (exit 1) if it is 1e-4 or more;
3. with --time: images/s at batch 1 and batch 256, ONE thread, for PyTorch
   NCHW, PyTorch channels_last, and our engine (`bench_embed time DIR`, run
   once per OPENBLAS_CORETYPE given with --coretype), and the ratios.

Batch norm: the equivalence check runs the unfused BatchNorm modules (eval
mode), the timing folds them into the convolutions (as our loader does) so both
engines time the same arithmetic.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def load_safetensors(path):
    """Parse a safetensors file by hand; returns {name: float32 tensor}."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError("%s: bad header length %d" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in DTYPES:
            continue                      # e.g. I64 num_batches_tracked: unused
        b, e = info["data_offsets"]
        raw = bytearray(body[b:e])        # writable copy for frombuffer
        t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).to(torch.float32).clone()
    return out


class L2Norm(torch.nn.Module):
    def forward(self, x):
        return F.normalize(x, dim=1)


class Skip(torch.nn.Module):
    """The config's "skip": remembers the current tensor (Chain keeps it)."""


class Add(torch.nn.Module):
    """The config's "add": adds the tensor of the matching "skip"."""


class Chain(torch.nn.Sequential):
    """A layer list with residual connections: skip pushes, add pops and adds."""

    def forward(self, x):
        saved = []
        for m in self:
            if isinstance(m, Skip):
                saved.append(x)
            elif isinstance(m, Add):
                x = x + saved.pop()
            else:
                x = m(x)
        return x


def build(config, weights):
    """torch.nn.Sequential for a siamese_pg config, weights from safetensors."""
    mods = []
    dense = False
    flattened = False
    for ly in config["layers"]:
        t = ly["type"]
        if t == "conv2d":
            m = torch.nn.Conv2d(ly["in"], ly["out"], ly["kernel"], stride=ly.get("stride", 1),
                                padding=ly.get("padding", 0), bias=ly.get("bias", True))
        elif t == "linear":
            m = torch.nn.Linear(ly["in"], ly["out"], bias=ly.get("bias", True))
        elif t == "batchnorm":
            c = weights[ly["name"] + ".weight"].shape[0]
            cls = torch.nn.BatchNorm1d if dense else torch.nn.BatchNorm2d
            m = cls(c, eps=ly.get("eps", 1e-5))
        elif t == "relu":
            m = torch.nn.ReLU()
        elif t == "maxpool":
            m = torch.nn.MaxPool2d(ly["kernel"], ly.get("stride", ly["kernel"]), ly.get("padding", 0))
        elif t == "avgpool":
            m = torch.nn.AvgPool2d(ly["kernel"], ly.get("stride", ly["kernel"]), ly.get("padding", 0))
        elif t == "flatten":
            m = torch.nn.Flatten()
            dense = flattened = True
        elif t == "l2norm":
            m = L2Norm()
        elif t == "skip":
            m = Skip()
        elif t == "add":
            m = Add()
        else:
            raise ValueError("layer type %s not supported here" % t)
        if t in ("conv2d", "linear", "batchnorm"):
            sd = {k[len(ly["name"]) + 1:]: v for k, v in weights.items()
                  if k.startswith(ly["name"] + ".") and not k.endswith("num_batches_tracked")}
            missing, unexpected = m.load_state_dict(sd, strict=False)
            missing = [k for k in missing if k != "num_batches_tracked"]
            if missing or unexpected:
                raise ValueError("layer %s: missing %s unexpected %s" % (ly["name"], missing, unexpected))
        mods.append(m)
    if not flattened:
        mods.append(torch.nn.Flatten())
    return Chain(*mods).eval()


def fold_bn(seq):
    """Fold every BatchNorm2d that directly follows a Conv2d into it (eval)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    out = []
    for m in seq:
        if isinstance(m, torch.nn.BatchNorm2d) and out and isinstance(out[-1], torch.nn.Conv2d):
            out[-1] = fuse_conv_bn_eval(out[-1], m)
        else:
            out.append(m)
    return Chain(*out).eval()


def ips(fn, inputs, batch, seconds):
    """images/s of fn over the inputs at batch; warm-up first."""
    n = inputs.shape[0]
    chunks = [inputs[i:i + batch] for i in range(0, n, batch)] if batch < n else [inputs]
    with torch.inference_mode():
        for c in chunks[:8]:
            fn(c)
        it = 0
        t0 = time.perf_counter()
        while True:
            fn(chunks[it % len(chunks)])
            it += 1
            el = time.perf_counter() - t0
            if el >= seconds:
                break
    return it * batch / el


def ours(bench_bin, d, coretype, seconds):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if coretype == "unset":
        env.pop("OPENBLAS_CORETYPE", None)
    elif coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    r = subprocess.run([bench_bin, "time", d, str(seconds)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("bench_embed failed: " + r.stderr)
    res = {"blas": "", "core": "?", "batch1": 0.0, "batch256": 0.0}
    for line in r.stdout.splitlines():
        if line.startswith("BLAS:"):
            res["blas"] = line
        elif line.startswith("ours "):
            for kv in line.split()[1:]:
                k, v = kv.split("=", 1)
                res[k] = v if k == "core" else float(v)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--time", action="store_true", help="measure throughput (first dir only)")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--bench-bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "bin", "bench_embed"))
    ap.add_argument("--coretype", action="append", default=[],
                    help="OPENBLAS_CORETYPE for our engine (repeatable; 'env' = as inherited, 'unset')")
    a = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cap = [ln.strip() for ln in torch.__config__.show().splitlines() if "CPU capability" in ln]
    print("PyTorch %s, %d thread(s), oneDNN %s, %s" % (
        torch.__version__, torch.get_num_threads(), torch.backends.mkldnn.is_available(),
        cap[0] if cap else "CPU capability not reported"))
    ok = True
    nets = {}
    for d in a.dirs:
        config = json.load(open(os.path.join(d, "model.json")))
        weights = load_safetensors(os.path.join(d, "model.safetensors"))
        net = build(config, weights)
        c, h, w = config["input"]["channels"], config["input"]["height"], config["input"]["width"]
        x = torch.frombuffer(bytearray(open(os.path.join(d, "input.f32"), "rb").read()),
                             dtype=torch.float32).reshape(-1, c, h, w)
        ref = torch.frombuffer(bytearray(open(os.path.join(d, "ours.f32"), "rb").read()),
                               dtype=torch.float32).reshape(x.shape[0], -1)
        print("\n== %s: model %s, %d tensors, %d parameters, %d inputs %dx%dx%d" % (
            d, config["name"], len(weights), sum(v.numel() for v in weights.values()), x.shape[0], c, h, w))
        pix = os.path.join(d, "pixels.u8")
        if os.path.exists(pix) and (h, w) == (28, 28):
            p = torch.frombuffer(bytearray(open(pix, "rb").read()), dtype=torch.uint8).float()
            inp = config["input"]
            mine = ((p / inp.get("scale", 255) - inp["mean"][0]) / inp["std"][0]).reshape(x.shape)
            print("preprocessing (x/%g - %g)/%g vs ours: max abs diff %.3g" % (
                inp.get("scale", 255), inp["mean"][0], inp["std"][0], (mine - x).abs().max().item()))
        with torch.inference_mode():
            y = net(x)
            ycl = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
            net = net.to(memory_format=torch.contiguous_format)
            yf = fold_bn(net)(x)
        for label, out in (("PyTorch NCHW", y), ("PyTorch channels_last", ycl), ("PyTorch, BN folded", yf)):
            diff = (out - ref).abs().max().item()
            good = diff < 1e-4
            ok = ok and good
            print("%-22s vs siamese_pg: max abs diff %.3g over %d x %d values -> %s" % (
                label, diff, ref.shape[0], ref.shape[1], "SAME (< 1e-4)" if good else "DIFFERENT"))
        nets[d] = (fold_bn(net), x)
    if not ok:
        print("embeddings differ: not timing")
        return 1
    if not a.time:
        return 0

    d = a.dirs[0]
    net, x = nets[d]
    net_cl = fold_bn(net).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    print("\n== throughput, one thread, model %s (load before: %s)" % (
        d, open("/proc/loadavg").read().split()[0:3]))
    rows = []
    for label, fn, xx in (("PyTorch NCHW", net, x), ("PyTorch channels_last", net_cl, x_cl)):
        b1 = ips(fn, xx, 1, a.seconds)
        b256 = ips(fn, xx, 256, a.seconds)
        rows.append((label, b1, b256))
        print("%-38s batch 1 %8.0f   batch 256 %8.0f" % (label, b1, b256), flush=True)
    for ct in a.coretype or ["env"]:
        r = ours(a.bench_bin, d, None if ct == "env" else ct, a.seconds)
        label = "siamese_pg, OPENBLAS_CORETYPE=%s" % (
            os.environ.get("OPENBLAS_CORETYPE", "(unset)") if ct == "env" else ct)
        label += " (%s)" % r["core"]
        rows.append((label, r["batch1"], r["batch256"]))
        print("%-38s batch 1 %8.0f   batch 256 %8.0f" % (label, r["batch1"], r["batch256"]), flush=True)
    print("(load after: %s)" % (open("/proc/loadavg").read().split()[0:3],))
    best1 = max(rows[0][1], rows[1][1])
    best256 = max(rows[0][2], rows[1][2])
    print("\n%-48s %8s %9s   %s" % ("images/s, one thread", "batch 1", "batch 256",
                                     "ratio to PyTorch NCHW | channels_last, batch 1 ; batch 256"))
    for label, b1, b256 in rows:
        print("%-48s %8.0f %9.0f   b1 %.2f | %.2f ; b256 %.2f | %.2f" % (
            label, b1, b256, b1 / rows[0][1], b1 / rows[1][1], b256 / rows[0][2], b256 / rows[1][2]))
    print("\ntarget: >= 2x the best PyTorch layout at batch 1, >= 1x at batch 256")
    for label, b1, b256 in rows[2:]:
        print("  %-46s batch 1: %.2fx -> %s; batch 256: %.2fx -> %s" % (
            label, b1 / best1, "met" if b1 >= 2 * best1 else "NOT met",
            b256 / best256, "met" if b256 >= best256 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

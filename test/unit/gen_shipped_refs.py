#!/usr/bin/python3
"""gen_shipped_refs.py: write test/unit/shipped_model_refs.h, the embeddings
test/unit/test_nn_graph_compat.c expects from the shipped models, computed by
PyTorch (an implementation nobody here wrote) on the test's inputs.

    /usr/bin/python3 test/unit/gen_shipped_refs.py > test/unit/shipped_model_refs.h

(the Debian python with torch 1.13).  For each model of MODELS, in order,
the inputs are 4 images of N(0, 1) values drawn exactly as the C test draws
them (sp_rng_seed(&rng, 7, model index), then sp_rng_normal: xoshiro256**
seeded through splitmix64, Marsaglia's polar method), rounded to float32;
the network is the model's layer list (bench/torch_compare.py's build:
conv2d, batchnorm in eval mode, relu, pools, skip / add, linear, l2norm)
with the model's safetensors weights.  Rerun it when a shipped model
changes; the output is deterministic.
"""
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import torch_compare  # noqa: E402  (build, load_safetensors)

MODELS = ["fashion", "fashion-robust", "fashion-2d", "fashion-pixels"]
M64 = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Rng:
    """src/core/util/rng.c: sp_rng_seed, sp_rng_next, sp_rng_uniform, sp_rng_normal."""

    def __init__(self, seed, stream):
        st = stream
        st = (st + 0x9E3779B97F4A7C15) & M64
        mix = mix64(st)
        st = seed ^ mix
        self.s = []
        for _ in range(4):
            st = (st + 0x9E3779B97F4A7C15) & M64
            self.s.append(mix64(st))
        if not any(self.s):
            self.s[0] = 1
        self.spare = None

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        while True:
            u = 2.0 * self.uniform() - 1.0
            v = 2.0 * self.uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        f = math.sqrt(-2.0 * math.log(s) / s)
        self.spare = v * f
        return u * f


def c_float(x):
    h = float.hex(struct.unpack("f", struct.pack("f", x))[0])
    if h in ("0x0.0p+0", "-0x0.0p+0"):
        return h.replace("0x0.0p+0", "0x0p+0")
    mant, exp = h.split("p")
    mant = mant.rstrip("0").rstrip(".")
    return "%sp%s" % (mant, exp.replace("+", ""))


def main():
    print("""/*
 * shipped_model_refs.h: embeddings of the shipped models (models/) computed by
 * PyTorch %s (test/unit/gen_shipped_refs.py: each model's layer list with its
 * safetensors weights, batch norm in eval mode) on 4 inputs per model drawn
 * with sp_rng_seed(&rng, 7, model index) and sp_rng_normal.
 * test_nn_graph_compat.c checks that the operator-graph engine gives these
 * embeddings.  Generated; do not edit.
 */""" % torch.__version__)
    torch.set_num_threads(1)
    for k, name in enumerate(MODELS):
        config = json.load(open(os.path.join(ROOT, "models", name + ".json")))
        weights = torch_compare.load_safetensors(os.path.join(ROOT, "models", name + ".safetensors"))
        net = torch_compare.build(config, weights)
        inp = config["input"]
        c, h, w = inp["channels"], inp["height"], inp["width"]
        rng = Rng(7, k)
        x = torch.tensor([rng.normal() for _ in range(4 * c * h * w)], dtype=torch.float32).reshape(4, c, h, w)
        with torch.inference_mode():
            y = net(x).reshape(4, -1)
        vals = [c_float(v) for v in y.flatten().tolist()]
        print("static const float shipped_ref_%d[4 * %d] = {" % (k, y.shape[1]))
        for i in range(0, len(vals), 6):
            print("\t" + ", ".join(vals[i:i + 6]) + ("," if i + 6 < len(vals) else ""))
        print("};")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""onnx_ops.py: what an ONNX graph engine must implement to run some models:
per model the opset, the op types with counts, the attributes that change an
op's semantics, whether BatchNormalization survived export, and the
shape-computation subgraphs (Shape -> ... -> Reshape/Expand/...); then the
union of op types over all models.

    /usr/bin/python3 tools/onnx/onnx_ops.py MODEL.onnx ... [--json OUT.json]
"""
import argparse
import collections
import json
import os
import sys

import onnx
from onnx import helper, numpy_helper

# ops through which a Shape result flows while it is still "shape arithmetic"
SHAPE_ARITH = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Mul",
               "Div", "Add", "Sub", "Floor", "Ceil", "Identity", "Equal", "Where",
               "ReduceProd", "Range"}
# attributes worth reporting, per op type: (name, value when absent)
ATTRS = {
    "MaxPool": ["ceil_mode", "auto_pad", "pads", "strides", "kernel_shape", "dilations",
                "storage_order"],
    "AveragePool": ["ceil_mode", "count_include_pad", "auto_pad", "pads", "strides",
                    "kernel_shape"],
    "Pad": ["mode"],
    "Resize": ["mode", "coordinate_transformation_mode", "nearest_mode"],
    "Upsample": ["mode"],
    "Gemm": ["transA", "transB", "alpha", "beta"],
    "Softmax": ["axis"],
    "Flatten": ["axis"],
    "Concat": ["axis"],
    "Transpose": ["perm"],
    "LayerNormalization": ["axis", "epsilon", "stash_type"],
    "BatchNormalization": ["epsilon", "momentum"],
    "ReduceMean": ["axes", "keepdims"],
    "Gelu": ["approximate"],
    "HardSigmoid": ["alpha", "beta"],
    "Split": ["axis", "split"],
    "Gather": ["axis"],
    "Squeeze": ["axes"],
    "Unsqueeze": ["axes"],
    "Slice": [],
    "Expand": [],
    "Reshape": ["allowzero"],
}


def attr_value(a):
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, float):
        v = float(f"{v:.6g}")
    return v


def conv_kind(n, got, inits):
    """One Conv summarised: dense / depthwise / grouped(g), kernel, stride,
    dilation, padding (symmetric or not), auto_pad, bias."""
    w = inits.get(n.input[1])
    g = got.get("group", 1)
    if w is not None:
        m, cpg = w.dims[0], w.dims[1]
        kind = "dense" if g == 1 else ("depthwise" if cpg == 1 and m == g else
                                       f"depthwise(mult {m // g})" if cpg == 1 else
                                       f"grouped(g={g},{cpg}ch/group)")
    else:
        kind = f"group={g} (weight not an initializer)"
    k = "x".join(map(str, got.get("kernel_shape", ())))
    s = "x".join(map(str, got.get("strides", (1, 1))))
    d = "x".join(map(str, got.get("dilations", (1, 1))))
    p = got.get("pads", (0, 0, 0, 0))
    half = len(p) // 2
    pad = (str(p[0]) if len(set(p)) == 1 else
           ("sym " + ",".join(map(str, p[:half])) if p[:half] == p[half:] else
            "ASYM " + ",".join(map(str, p))))
    extra = f" auto_pad={got['auto_pad']}" if got.get("auto_pad", "NOTSET") != "NOTSET" else ""
    bias = "bias" if len(n.input) > 2 and n.input[2] else "no bias"
    return f"{kind} k={k} s={s} d={d} pad={pad}{extra} {bias}"


def shape_chains(graph):
    """For every Shape node, the op-type paths its output takes through shape
    arithmetic to the op that consumes it as data; {path: count}."""
    consumers = collections.defaultdict(list)
    for n in graph.node:
        for i, name in enumerate(n.input):
            consumers[name].append((n, i))
    chains = collections.Counter()

    def walk(node, path, depth):
        outs = [c for o in node.output for c in consumers[o]]
        if not outs or depth > 12:
            chains["→".join(path) + "→(graph output)"] += 1 if not outs else 0
            return
        for c, idx in outs:
            if c.op_type in SHAPE_ARITH and c.op_type != "Where":
                walk(c, path + [c.op_type], depth + 1)
            else:
                chains["→".join(path + [f"{c.op_type}[in{idx}]"])] += 1

    for n in graph.node:
        if n.op_type == "Shape":
            walk(n, ["Shape"], 0)
    return {k: v for k, v in chains.items() if v}


def inventory(path):
    m = onnx.load(path)
    g = m.graph
    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    ops = collections.Counter(n.op_type for n in g.node)
    attrs = collections.defaultdict(collections.Counter)
    inits = {i.name: i for i in g.initializer}
    constvals = {}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    constvals[n.output[0]] = numpy_helper.to_array(a.t)
    for n in g.node:
        got = {a.name: attr_value(a) for a in n.attribute}
        if n.op_type == "Conv":
            attrs["Conv"][conv_kind(n, got, inits)] += 1
            continue
        if n.op_type == "Clip":
            b = [constvals.get(i, inits.get(i)) for i in n.input[1:]]
            b = [(float(numpy_helper.to_array(x)) if isinstance(x, onnx.TensorProto)
                  else (float(x) if x is not None else None)) for x in b]
            attrs["Clip"]["min,max=" + ",".join(str(x) for x in b)] += 1
            continue
        keys = ATTRS.get(n.op_type)
        if keys is None:
            continue
        shown = tuple(f"{k}={got[k]}" for k in keys if k in got)
        attrs[n.op_type][" ".join(shown) if shown else "(defaults)"] += 1
    consts = set(inits)
    n_params = sum(numpy_helper.to_array(i).size for i in g.initializer)

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    return {
        "model": os.path.basename(path),
        "bytes": os.path.getsize(path),
        "opset": opsets,
        "ir_version": m.ir_version,
        "producer": f"{m.producer_name} {m.producer_version}",
        "inputs": {i.name: dims(i) for i in g.input if i.name not in consts},
        "outputs": {o.name: dims(o) for o in g.output},
        "nodes": len(g.node),
        "initializers": len(g.initializer),
        "parameters": int(n_params),
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "batchnorm_survives": ops.get("BatchNormalization", 0),
        "attributes": {k: dict(v) for k, v in sorted(attrs.items())},
        "shape_chains": shape_chains(g),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--json", help="also write the inventories as JSON")
    args = ap.parse_args()
    inv = [inventory(p) for p in args.models]
    union = collections.Counter()
    where = collections.defaultdict(list)
    for r in inv:
        name = r["model"][:-5] if r["model"].endswith(".onnx") else r["model"]
        union.update(r["ops"])
        for op in r["ops"]:
            where[op].append(name)
        print(f"## {name}: opset {r['opset']}, IR {r['ir_version']}, {r['producer']}, "
              f"{r['bytes'] / 1e6:.2f} MB, {r['nodes']} nodes, {r['initializers']} initializers "
              f"({r['parameters'] / 1e6:.2f} M params)")
        print(f"   inputs {r['inputs']} outputs {r['outputs']}")
        print("   ops: " + ", ".join(f"{k} {v}" for k, v in r["ops"].items()))
        print(f"   BatchNormalization nodes: {r['batchnorm_survives']}")
        for op, vals in r["attributes"].items():
            for k, v in sorted(vals.items(), key=lambda kv: -kv[1]):
                print(f"   {op:18s} x{v:<4d} {k}")
        for k, v in r["shape_chains"].items():
            print(f"   shape subgraph x{v}: {k}")
        if not r["shape_chains"]:
            print("   shape subgraphs: none")
        print()
    print(f"## union over {len(inv)} models: {len(union)} op types")
    for op, c in sorted(union.items()):
        print(f"   {op:22s} {c:5d} nodes in {len(where[op])}: {','.join(where[op])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"models": inv, "union": dict(sorted(union.items()))}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

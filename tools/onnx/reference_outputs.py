#!/usr/bin/python3
"""reference_outputs.py: PyTorch's reference preprocessing and outputs for an
exported model, as raw float32 files a C test can compare against, separately
for (a) the preprocessing and (b) the forward pass.

    /usr/bin/python3 tools/onnx/reference_outputs.py DIR/NAME.onnx
        [--out OUTDIR] [--ort] [IMAGE ...]

NAME.onnx must come from tools/onnx/export_torchvision.py: its sidecar
NAME.siamese.json gives the input geometry (metadata.reference_transform)
and NAME.pt the weights (or the seed to rebuild them).  Images default to
the skimage sample photos (astronaut, chelsea, coffee, rocket,
motorcycle_left, camera (grey), hubble_deep_field).  For each image STEM,
OUTDIR (default DIR/NAME.ref/) gets

  STEM.crop.u8       the RGB pixels after Resize + CenterCrop, before
                     ToTensor: H x W x 3 uint8 (HWC), to debug the resize alone
  STEM.input.f32     the preprocessed tensor, 1x3xHxW (NCHW) float32 LE
  STEM.output.f32    torch's output for it, 1xD float32 LE
  STEM.engine_input.f32, STEM.engine_output.f32
                     the same with the engine's OWN preprocessing as the
                     sidecar's "input" describes it ("fit", "resize"),
                     computed here in numpy in the arithmetic of
                     src/core/image/preprocess.c (--no-engine to skip)

plus all.input.f32 / all.output.f32 (the images as one batch) and index.json
with every file's shape and the per-image resize/crop geometry.

The transform is torchvision's eval transform on the PIL path, exactly:
Image.open(...).convert("RGB"), Resize(resize_shorter), CenterCrop(size),
ToTensor(), Normalize(mean, std).  It is NOT what the engine's own
preprocessing ("fit": "center_crop", "resize": "area"/"bilinear") computes
(no 256 -> 224 margin, no PIL antialias filter): compare the engine's
forward pass on STEM.input.f32 exactly, and its preprocessing of the same
photos only approximately (or against a reference of its own semantics).

--ort also runs each input through ONNX Runtime (bench/ort/ort_bench.js
--dump) and compares with torch (fails when max abs diff > --tol, relative to
max(1, max|torch|)).  onnx.reference (the ONNX Python reference evaluator) is
used as well when this onnx has it (it appeared in onnx 1.13; Debian 12's is
1.12, so there it is reported as skipped).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_torchvision  # noqa: E402

SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"
DEFAULT_IMAGES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                  "motorcycle_left.png", "camera.png", "hubble_deep_field.jpg"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_f32(path, t):
    np.ascontiguousarray(t.detach().numpy(), dtype="<f4").tofile(path)


def geometry(w, h, shorter, crop_h, crop_w):
    """torchvision 0.14's Resize(int) output size and CenterCrop offsets, in
    the same arithmetic (for the index: the C side must reproduce them)."""
    if w <= h:
        rw, rh = shorter, int(shorter * h / w)
    else:
        rw, rh = int(shorter * w / h), shorter
    top = int(round((rh - crop_h) / 2.0))
    left = int(round((rw - crop_w) / 2.0))
    return {"resized": [rw, rh], "crop_left": left, "crop_top": top}


def _axis_weights(n_in, n_out, start, length, method):
    """(n_out, n_in) resampling matrix along one axis, in the engine's
    arithmetic (src/core/image/preprocess.c): output pixel k covers source
    [start + k*s, start + (k+1)*s) with s = length / n_out."""
    s = length / n_out
    w = np.zeros((n_out, n_in))
    for k in range(n_out):
        if method == "bilinear":
            u = min(max(start + (k + 0.5) * s - 0.5, 0.0), n_in - 1)
            i0 = int(u)
            f = u - i0
            i1 = i0 + 1 if i0 + 1 < n_in else i0
            w[k, i0] += 1 - f
            w[k, i1] += f
        else:  # "area": exact box average with fractional edge weights
            a0, a1 = start + k * s, start + (k + 1) * s
            for i in range(max(0, int(np.floor(a0))), min(n_in, int(np.ceil(a1)))):
                w[k, i] = max(0.0, min(a1, i + 1.0) - max(a0, float(i)))
            w[k] /= w[k].sum()
    return w


def engine_preprocess(pixels, cfg_input):
    """The engine's own preprocessing of a decoded image (H x W or H x W x 3
    uint8), per the sidecar's "input": grey -> RGB by replication, "fit"
    (stretch, or center_crop = the largest centred region with the target
    aspect ratio, fractional offsets), "resize" (bilinear with half-pixel
    centres, no antialias; or area), then (v / scale - mean) / std.
    Returns 1 x 3 x H x W float32."""
    H, W = cfg_input["height"], cfg_input["width"]
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    h, w = pixels.shape[:2]
    cx0 = cy0 = 0.0
    cw, ch = float(w), float(h)
    if cfg_input.get("fit", "stretch") == "center_crop":
        if w * H > h * W:
            cw = h * W / H
            cx0 = (w - cw) / 2.0
        else:
            ch = w * H / W
            cy0 = (h - ch) / 2.0
    method = cfg_input.get("resize", "bilinear")
    wy = _axis_weights(h, H, cy0, ch, method)
    wx = _axis_weights(w, W, cx0, cw, method)
    img = pixels.astype(np.float64).transpose(2, 0, 1)  # C x h x w
    out = np.stack([wy @ img[c] @ wx.T for c in range(3)])
    mean = np.array(cfg_input["mean"]).reshape(3, 1, 1)
    std = np.array(cfg_input["std"]).reshape(3, 1, 1)
    out = (out / cfg_input["scale"] - mean) / std
    return torch.from_numpy(out.astype(np.float32)).unsqueeze(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="NAME.onnx written by export_torchvision.py")
    ap.add_argument("images", nargs="*", help="image files (default: skimage photos)")
    ap.add_argument("--out", help="output directory (default: next to the model, NAME.ref/)")
    ap.add_argument("--ort", action="store_true",
                    help="cross-check with ONNX Runtime (bench/ort/ort_bench.js --dump)")
    ap.add_argument("--no-engine", action="store_true",
                    help="skip STEM.engine_input/output.f32 (the engine's own preprocessing)")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="--ort tolerance on max abs diff / max(1, max|output|)")
    args = ap.parse_args()

    base = args.model[:-5] if args.model.endswith(".onnx") else args.model
    model, inp = export_torchvision.load_model(base + ".siamese.json")
    torch.set_num_threads(1)
    H, W = inp["crop"]
    assert (H, W) == (inp["height"], inp["width"])
    assert inp["scale"] == 255 and inp["interpolation"] == "bilinear"
    resize = T.Resize(inp["resize_shorter"])  # PIL path: Image.BILINEAR
    crop = T.CenterCrop((H, W))
    normalize = T.Compose([T.ToTensor(), T.Normalize(inp["mean"], inp["std"])])

    out = args.out or base + ".ref"
    os.makedirs(out, exist_ok=True)
    images = args.images or [os.path.join(SKIMAGE_DATA, f) for f in DEFAULT_IMAGES]
    items, inputs, outputs = [], [], []
    for path in images:
        stem = os.path.splitext(os.path.basename(path))[0]
        img = Image.open(path)
        mode = img.mode
        # the engine decodes grey as 1 channel and replicates it; PIL's
        # convert("RGB") replicates too, so the two agree
        raw = np.asarray(img if mode in ("L", "RGB") else img.convert("RGB"))
        img = img.convert("RGB")
        w, h = img.size
        cropped = crop(resize(img))
        x = normalize(cropped).unsqueeze(0)
        with torch.no_grad():
            y = model(x)
        np.asarray(cropped, dtype=np.uint8).tofile(os.path.join(out, stem + ".crop.u8"))
        write_f32(os.path.join(out, stem + ".input.f32"), x)
        write_f32(os.path.join(out, stem + ".output.f32"), y)
        g = geometry(w, h, inp["resize_shorter"], H, W)
        engine = {}
        if not args.no_engine:
            xe = engine_preprocess(raw, inp["config"]["input"])
            with torch.no_grad():
                ye = model(xe)
            write_f32(os.path.join(out, stem + ".engine_input.f32"), xe)
            write_f32(os.path.join(out, stem + ".engine_output.f32"), ye)
            cos = float(torch.nn.functional.cosine_similarity(y, ye).item())
            engine = {"engine_input": stem + ".engine_input.f32",
                      "engine_output": stem + ".engine_output.f32",
                      "engine_vs_torchvision_input_max_abs_diff": float((xe - x).abs().max()),
                      "engine_vs_torchvision_output_cosine": cos}
        assert resize(img).size == tuple(g["resized"]), (resize(img).size, g)
        items.append({
            "name": stem, "image": os.path.abspath(path), "mode": mode, "size": [w, h],
            **g,
            "crop": stem + ".crop.u8", "crop_shape": [H, W, 3], "crop_layout": "HWC uint8",
            "input": stem + ".input.f32", "input_shape": list(x.shape),
            "output": stem + ".output.f32", "output_shape": list(y.shape),
            "top5": torch.topk(y[0], min(5, y.shape[1])).indices.tolist(),
            **engine,
        })
        inputs.append(x)
        outputs.append(y)
        print(f"{stem:20s} {mode:4s} {w}x{h} -> resize {g['resized'][0]}x{g['resized'][1]} "
              f"crop@({g['crop_left']},{g['crop_top']})  output {tuple(y.shape)} "
              f"|y|max={y.abs().max():.4f}"
              + (f"  engine preprocessing: output cosine to torchvision's "
                 f"{engine['engine_vs_torchvision_output_cosine']:.4f}" if engine else ""))
    X, Y = torch.cat(inputs), torch.cat(outputs)
    with torch.no_grad():
        Yb = model(X)
    batch_diff = float((Yb - Y).abs().max())
    write_f32(os.path.join(out, "all.input.f32"), X)
    write_f32(os.path.join(out, "all.output.f32"), Yb)
    index = {
        "model": os.path.abspath(args.model),
        "config": inp["config"],
        "dtype": "float32 little-endian (uint8 for .crop.u8)",
        "layout": "NCHW",
        "input_name": inp["input_name"], "output_name": inp["output_name"],
        "transform": f"PIL convert('RGB'), Resize({inp['resize_shorter']}) bilinear antialiased, "
                     f"CenterCrop({H},{W}), ToTensor, Normalize(mean,std)",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "PIL": PIL.__version__, "numpy": np.__version__},
        "items": items,
        "all": {"input": "all.input.f32", "input_shape": list(X.shape),
                "output": "all.output.f32", "output_shape": list(Yb.shape),
                "max_abs_diff_vs_single": batch_diff},
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    print(f"wrote {len(items)} images to {out}/ (batch vs single max diff {batch_diff:.2e})")

    try:
        import onnx.reference  # noqa: F401  (onnx >= 1.13)
        from onnx.reference import ReferenceEvaluator
        ref = ReferenceEvaluator(args.model)
        r = ref.run(None, {inp["input_name"]: X[:1].numpy()})[0]
        print(f"onnx.reference: max abs diff vs torch {np.abs(r - Y[:1].numpy()).max():.3e}")
    except ImportError:
        import onnx
        print(f"onnx.reference: skipped (not in onnx {onnx.__version__}; it appeared in 1.13)")

    if args.ort:
        js = os.path.join(REPO, "bench", "ort", "ort_bench.js")
        got = os.path.join(out, "all.ort.f32")
        subprocess.run(["node", js, args.model, "--size", str(H), "--dump",
                        os.path.join(out, "all.input.f32"), got], check=True)
        o = np.fromfile(got, "<f4").reshape(Yb.shape)
        t = Yb.numpy()
        diff = float(np.abs(o - t).max())
        scale = max(1.0, float(np.abs(t).max()))
        ok = diff / scale <= args.tol
        agree = int((o.argmax(1) == t.argmax(1)).sum())
        print(f"ort vs torch: max abs diff {diff:.3e} (max|torch| {np.abs(t).max():.3f}), "
              f"argmax agrees on {agree}/{len(t)}: {'OK' if ok else 'FAIL'}")
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

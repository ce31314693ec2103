#!/usr/bin/python3
"""reference_outputs.py: PyTorch's reference preprocessing and outputs for an
exported model, as raw float32 files a C test can compare against, separately
for (a) the preprocessing and (b) the forward pass.

    /usr/bin/python3 tools/onnx/reference_outputs.py DIR/NAME.onnx
        [--out OUTDIR] [--ort] [IMAGE ...]

NAME.onnx must come from tools/onnx/export_torchvision.py: its sidecar
NAME.siamese.json gives the input geometry and NAME.pt the weights (or the
seed to rebuild them).  Images default to the skimage sample photos
(astronaut, chelsea, coffee, rocket, motorcycle_left, camera (grey),
hubble_deep_field).  For each image STEM, OUTDIR (default DIR/NAME.ref/) gets

  STEM.crop.u8       the RGB pixels after Resize + CenterCrop, before
                     ToTensor: H x W x 3 uint8 (HWC), to debug the resize alone
  STEM.input.f32     the preprocessed tensor, 1x3xHxW (NCHW) float32 LE
  STEM.output.f32    torch's output for it, 1xD float32 LE

plus all.input.f32 / all.output.f32 (the images as one batch) and index.json
with every file's shape and the per-image resize/crop geometry.

The transform is torchvision's eval transform on the PIL path, exactly:
Image.open(...).convert("RGB"), Resize(resize_shorter), CenterCrop(size),
ToTensor(), Normalize(mean, std).

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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="NAME.onnx written by export_torchvision.py")
    ap.add_argument("images", nargs="*", help="image files (default: skimage photos)")
    ap.add_argument("--out", help="output directory (default: next to the model, NAME.ref/)")
    ap.add_argument("--ort", action="store_true",
                    help="cross-check with ONNX Runtime (bench/ort/ort_bench.js --dump)")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="--ort tolerance on max abs diff / max(1, max|output|)")
    args = ap.parse_args()

    base = args.model[:-5] if args.model.endswith(".onnx") else args.model
    model, cfg = export_torchvision.load_model(base + ".siamese.json")
    torch.set_num_threads(1)
    inp = cfg["input"]
    H, W = inp["height"], inp["width"]
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
        assert resize(img).size == tuple(g["resized"]), (resize(img).size, g)
        items.append({
            "name": stem, "image": os.path.abspath(path), "mode": mode, "size": [w, h],
            **g,
            "crop": stem + ".crop.u8", "crop_shape": [H, W, 3], "crop_layout": "HWC uint8",
            "input": stem + ".input.f32", "input_shape": list(x.shape),
            "output": stem + ".output.f32", "output_shape": list(y.shape),
            "top5": torch.topk(y[0], min(5, y.shape[1])).indices.tolist(),
        })
        inputs.append(x)
        outputs.append(y)
        print(f"{stem:20s} {mode:4s} {w}x{h} -> resize {g['resized'][0]}x{g['resized'][1]} "
              f"crop@({g['crop_left']},{g['crop_top']})  output {tuple(y.shape)} "
              f"|y|max={y.abs().max():.4f}")
    X, Y = torch.cat(inputs), torch.cat(outputs)
    with torch.no_grad():
        Yb = model(X)
    batch_diff = float((Yb - Y).abs().max())
    write_f32(os.path.join(out, "all.input.f32"), X)
    write_f32(os.path.join(out, "all.output.f32"), Yb)
    index = {
        "model": os.path.abspath(args.model),
        "config": cfg,
        "dtype": "float32 little-endian (uint8 for .crop.u8)",
        "layout": "NCHW",
        "input_name": inp["name"], "output_name": cfg["output"],
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
        r = ref.run(None, {inp["name"]: X[:1].numpy()})[0]
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

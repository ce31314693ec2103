#!/usr/bin/python3
"""export_torchvision.py: torchvision classifiers with seeded random weights as
ONNX files, the test and benchmark material for siamese_pg's ONNX importer.

    /usr/bin/python3 tools/onnx/export_torchvision.py [--models a,b,c]
        [--out DIR] [--opset 17] [--size 224] [--features] [--seed 0]

For each model (torchvision 0.14 constructors, weights=None; no download) it
writes into DIR (default /tmp/siamese_onnx):

  NAME.onnx           torch.onnx.export, opset 17 by default (11..17), input
                      "input" (N,3,S,S) float32, output "logits" (N,classes),
                      or "features" (N,D) with --features; dynamic batch axis;
                      do_constant_folding=True; eval mode.
  NAME.siamese.json   the "siamese config" sidecar, the import config that
                      sp_nn_model_from_onnx / bench/bin/bench_graph read
                      (preprocessing, output tensor, normalize, distance),
                      with what these tools need under "metadata"; written
                      by siamese_config() and read by sidecar_info() alone,
                      so that its keys can follow the importer's in one
                      place.
  NAME.pt             the torch state_dict, so reference_outputs.py and
                      bench/torch_bench.py run exactly these weights
                      (--no-state-dict to skip).

NAME is the model name, with "-features" appended under --features.
Generated files (.onnx, .pt) are never committed.

Weights: torch.manual_seed(seed), torchvision's own default init (the
constructor's), then realistic_init() below, which explains why the
BatchNorm statistics are calibrated rather than left at 0/1.  A --features
model has the same weights as the full one, minus the head.
"""
import argparse
import json
import os
import sys
import time
import warnings

import torch
import torch.nn as nn
import torchvision
from torchvision import models as tvm

ALL_MODELS = [
    "resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2",
    "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_1", "densenet121",
    "regnet_y_400mf", "convnext_tiny", "vit_b_16",
]

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


# ---------------------------------------------------------------- the models

def construct(arch, size=224):
    """The bare torchvision 0.14 model, weights=None (default init)."""
    if arch not in ALL_MODELS:
        raise SystemExit(f"unknown model {arch!r}; known: {','.join(ALL_MODELS)}")
    ctor = getattr(tvm, arch)
    if arch == "vit_b_16":
        # the position embedding fixes ViT's input size
        return ctor(weights=None, image_size=size)
    return ctor(weights=None)


def to_features(arch, m):
    """Replace the classifier head by what yields the pooled feature vector
    (N, D), per architecture; returns (model, D)."""
    if arch in ("resnet18", "resnet50", "resnext50_32x4d", "regnet_y_400mf"):
        # ... avgpool -> flatten -> fc
        d = m.fc.in_features
        m.fc = nn.Identity()
    elif arch in ("mobilenet_v2", "efficientnet_b0"):
        # ... avgpool -> flatten -> classifier = [Dropout, Linear]
        d = m.classifier[-1].in_features
        m.classifier = nn.Identity()
    elif arch == "mobilenet_v3_small":
        # ... avgpool -> flatten -> classifier = [Linear(576,1024), Hardswish,
        # Dropout, Linear]: the pooled features are the 576 before the MLP
        d = m.classifier[0].in_features
        m.classifier = nn.Identity()
    elif arch == "densenet121":
        # features -> relu -> adaptive avgpool -> flatten -> classifier
        d = m.classifier.in_features
        m.classifier = nn.Identity()
    elif arch == "squeezenet1_1":
        # features -> classifier = [Dropout, Conv1x1(512,1000), ReLU, AvgPool]
        # -> flatten: pool the 512 feature maps directly
        d = m.classifier[1].in_channels
        m.classifier = nn.AdaptiveAvgPool2d(1)
    elif arch == "convnext_tiny":
        # avgpool -> classifier = [LayerNorm2d, Flatten, Linear]: the head's
        # LayerNorm belongs to the features, only the Linear goes
        d = m.classifier[2].in_features
        m.classifier[2] = nn.Identity()
    elif arch == "vit_b_16":
        # encoder (ends with LayerNorm) -> class token -> heads = [Linear]
        d = m.heads.head.in_features
        m.heads = nn.Identity()
    else:
        raise AssertionError(arch)
    return m, d


# BatchNorm calibration photos: skimage's sample images (Debian's
# python3-skimage) that reference_outputs.py does NOT use as test images
SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"
CALIBRATION_PHOTOS = ["ihc.png", "retina.jpg", "coins.png", "moon.png", "brick.png",
                      "grass.png", "gravel.png", "cell.png", "clock_motion.png",
                      "page.png", "color.png"]


def _normalise(img):
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (img - mean) / std


def pink_noise_batch(n, size, gen):
    """n synthetic images with natural-image statistics: 1/f amplitude
    spectrum, random phases (mostly shared by the 3 channels), mean and
    contrast of a photo; in [0,1] before the ImageNet normalisation."""
    f = torch.fft.fftfreq(size).abs()
    amp = 1.0 / torch.sqrt(f.view(-1, 1) ** 2 + f.view(1, -1) ** 2).clamp(min=1.0 / size)
    phase = 2 * torch.pi * (0.7 * torch.rand(n, 1, size, size, generator=gen)
                            + 0.3 * torch.rand(n, 3, size, size, generator=gen))
    img = torch.fft.ifft2(amp * torch.exp(1j * phase)).real
    img = img - img.mean(dim=(2, 3), keepdim=True)
    img = img / img.std(dim=(2, 3), keepdim=True) * 0.25
    img = img + 0.3 + 0.4 * torch.rand(n, 3, 1, 1, generator=gen)
    return _normalise(img.clamp(0, 1))


def calibration_batch(n, size, gen):
    """n normalised calibration images: random crops (random scale, flip,
    per-channel tint so grey photos get colour) of CALIBRATION_PHOTOS, or
    pink_noise_batch() when skimage's data is not there.  Returns (batch,
    description)."""
    paths = [os.path.join(SKIMAGE_DATA, f) for f in CALIBRATION_PHOTOS]
    if not all(os.path.exists(p) for p in paths):
        return pink_noise_batch(n, size, gen), "pink noise (1/f)"
    from PIL import Image
    from torchvision.transforms import functional as TF
    photos = [Image.open(p).convert("RGB") for p in paths]
    out = []
    for i in range(n):
        short = int(torch.randint(size, size * 3 // 2 + 1, (1,), generator=gen))
        im = TF.resize(photos[i % len(photos)], short)
        w, h = im.size
        x = int(torch.randint(0, w - size + 1, (1,), generator=gen))
        y = int(torch.randint(0, h - size + 1, (1,), generator=gen))
        t = TF.to_tensor(im.crop((x, y, x + size, y + size)))
        t = (t * (0.7 + 0.6 * torch.rand(3, 1, 1, generator=gen))).clamp(0, 1)
        if torch.rand(1, generator=gen) < 0.5:
            t = t.flip(2)
        out.append(t)
    return _normalise(torch.stack(out)), "skimage photos: " + ",".join(CALIBRATION_PHOTOS)


@torch.no_grad()
def realistic_init(arch, m, size, gen):
    """Re-initialise what torchvision's default init leaves degenerate.

    Choice: keep torchvision's default init for convolutions and linear
    layers (Kaiming/Xavier-like, it keeps the pre-activation variance ~1 per
    layer), and then

    * BatchNorm: gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1) (trained networks
      have such values), then the running mean/var are CALIBRATED: a seeded
      batch of 16 images (random crops of skimage sample photos that are not
      the reference test images; 1/f noise when they are missing) goes
      through the network with only the BN layers in training mode and
      momentum=None (a plain average).  The statistics are then per-channel,
      nonzero means and non-unit variances, as in a trained net, so folding
      BN into the convolution (scale AND shift) is really exercised; and unlike independent random running
      stats, which compound layer after layer (a residual stack of 16+
      blocks drifts by orders of magnitude), calibrated stats keep every
      activation at unit scale, so the logits stay in a sane range and a
      float32 comparison with a tolerance of ~1e-4 relative remains
      meaningful.  (Calibrating on smooth synthetic images instead left
      EfficientNet/RegNet logits on real photos at |y| ~ 500: photos have
      far more high-frequency energy; hence real photos.)
    * LayerNorm (ConvNeXt, ViT): weight ~ U(0.75, 1.25), bias ~ N(0, 0.05):
      defaults of 1 and 0 would hide a missing scale or shift in the engine.
    * ConvNeXt layer_scale: default 1e-6 makes every block an identity up to
      1e-6, so an engine could get the blocks wrong and still match; set to
      U(0.1, 0.3) per channel.
    * zero-initialised weights (ViT's head, ViT's class token, biases that
      default to 0: conv_proj, attention in_proj/out_proj, regnet/convnext
      linear and conv biases) get small random values, so a missing bias or
      a wrong class-token row show (and identical all-zero tensors are not
      deduplicated by the exporter into Identity nodes).
    """
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.weight.copy_(torch.empty_like(mod.weight).uniform_(0.5, 1.5, generator=gen))
            mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
        elif isinstance(mod, nn.LayerNorm) or type(mod).__name__ == "LayerNorm2d":
            mod.weight.copy_(torch.empty_like(mod.weight).uniform_(0.75, 1.25, generator=gen))
            mod.bias.copy_(0.05 * torch.randn(mod.bias.shape, generator=gen))
        elif isinstance(mod, (nn.Linear, nn.Conv2d)):
            if not mod.weight.any():
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) / fan_in ** 0.5)
            if mod.bias is not None and not mod.bias.any():
                mod.bias.copy_(0.02 * torch.randn(mod.bias.shape, generator=gen))
        if isinstance(mod, nn.MultiheadAttention) and mod.in_proj_bias is not None \
                and not mod.in_proj_bias.any():
            mod.in_proj_bias.copy_(0.02 * torch.randn(mod.in_proj_bias.shape, generator=gen))
        if type(mod).__name__ == "CNBlock":
            mod.layer_scale.copy_(torch.empty_like(mod.layer_scale).uniform_(0.1, 0.3, generator=gen))
    if arch == "vit_b_16":
        m.class_token.copy_(0.02 * torch.randn(m.class_token.shape, generator=gen))

    bns = [x for x in m.modules() if isinstance(x, nn.modules.batchnorm._BatchNorm)]
    if bns:
        m.eval()  # dropout / stochastic depth off during calibration
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration
            bn.train()
        m(calibration_batch(16, size, gen)[0])
        for bn in bns:
            bn.momentum = 0.1
    m.eval()
    return m


def build_model(arch, seed=0, features=False, size=224, init=True):
    """The model exactly as exported: torch.manual_seed(seed), torchvision's
    default init, realistic_init() (its own generator, seeded from seed),
    head replaced under features, eval mode.  With init=False only the
    skeleton (to load a saved state_dict into)."""
    torch.manual_seed(seed)
    m = construct(arch, size)
    if init:
        realistic_init(arch, m, size, torch.Generator().manual_seed(seed + 1))
    if features:
        m, _ = to_features(arch, m)
    return m.eval()


def load_model(config_path):
    """The torch model behind an exported NAME.onnx, from its sidecar: loads
    NAME.pt when present, else rebuilds it from the seed (deterministic).
    Returns (model, sidecar_info(config))."""
    with open(config_path) as f:
        info = sidecar_info(json.load(f))
    pt = os.path.join(os.path.dirname(os.path.abspath(config_path)), info["state_dict"])
    have_pt = os.path.exists(pt)
    m = build_model(info["arch"], info["seed"], info["features"], info["height"],
                    init=not have_pt)
    if have_pt:
        m.load_state_dict(torch.load(pt))
    return m.eval(), info


# ------------------------------------------------------------ the sidecar
# Only siamese_config() and sidecar_info() know the sidecar's layout.

def siamese_config(name, arch, size, output_name, output_dim, features, seed, opset,
                   bn_calibration):
    """The import config for one exported model, in the keys the importer
    (sp_nn_model_from_onnx) accepts: name, input {channels, height, width,
    resize, fit, mean, std, scale}, output, normalize, distance, threshold,
    metadata (free).  The importer refuses unknown keys, so whatever else
    the tools here need lives under "metadata".

    The "input" is torchvision's eval transform, which the engine reproduces
    bit for bit ("resize": "pil_bilinear", "fit":
    "resize_shorter_then_center_crop"): convert("RGB"), Resize(resize_shorter)
    (PIL bilinear, antialiased), CenterCrop(size), ToTensor, Normalize(mean,
    std); metadata.reference_transform records it for the reference tools."""
    return {
        "name": name,
        "input": {
            "channels": 3,
            "height": size,
            "width": size,
            "resize": "pil_bilinear",
            "fit": "resize_shorter_then_center_crop",
            "resize_shorter": int(size * 256 / 224),
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "scale": 255,
        },
        "output": output_name,
        "normalize": True,
        "distance": "cosine",
        "metadata": {
            "input_name": "input",
            "layout": "NCHW",
            "output_dim": output_dim,
            "opset": opset,
            "reference_transform": {
                "library": f"torchvision {torchvision.__version__} on PIL images",
                "convert": "RGB",
                "resize_shorter": int(size * 256 / 224),
                "interpolation": "bilinear",
                "antialias": True,
                "center_crop": [size, size],
                "scale": 255,
                "mean": IMAGENET_MEAN,
                "std": IMAGENET_STD,
            },
            "source": {
                "framework": f"torch {torch.__version__} / torchvision {torchvision.__version__}",
                "arch": arch,
                "features": features,
                "seed": seed,
                "state_dict": f"{name}.pt",
                "bn_calibration": bn_calibration,
            },
        },
    }


def sidecar_info(cfg):
    """What the tools read back from a sidecar, as one flat dict."""
    md = cfg["metadata"]
    rt = md["reference_transform"]
    return {
        "name": cfg["name"],
        "height": cfg["input"]["height"],
        "width": cfg["input"]["width"],
        "input_name": md["input_name"],
        "output_name": cfg["output"],
        "output_dim": md["output_dim"],
        "arch": md["source"]["arch"],
        "seed": md["source"]["seed"],
        "features": md["source"]["features"],
        "state_dict": md["source"]["state_dict"],
        "resize_shorter": rt["resize_shorter"],
        "crop": rt["center_crop"],
        "mean": rt["mean"],
        "std": rt["std"],
        "scale": rt["scale"],
        "interpolation": rt["interpolation"],
        "config": cfg,
    }


# ---------------------------------------------------------------- export

def export_one(arch, args):
    name = arch + ("-features" if args.features else "")
    out_name = "features" if args.features else "logits"
    t0 = time.perf_counter()
    m = build_model(arch, args.seed, args.features, args.size)
    t_build = time.perf_counter() - t0

    x, calib = calibration_batch(2, args.size, torch.Generator().manual_seed(args.seed + 12345))
    with torch.no_grad():
        y = m(x)
    d = y.shape[1]
    onnx_path = os.path.join(args.out, name + ".onnx")
    t0 = time.perf_counter()
    torch.onnx.export(
        m, x[:1], onnx_path,
        opset_version=args.opset,
        input_names=["input"], output_names=[out_name],
        dynamic_axes={"input": {0: "batch"}, out_name: {0: "batch"}},
        do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL,
    )
    t_export = time.perf_counter() - t0
    if not args.no_state_dict:
        torch.save(m.state_dict(), os.path.join(args.out, name + ".pt"))
    has_bn = any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules())
    cfg = siamese_config(name, arch, args.size, out_name, d, args.features,
                         args.seed, args.opset, calib if has_bn else None)
    with open(os.path.join(args.out, name + ".siamese.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    size_mb = os.path.getsize(onnx_path) / 1e6
    print(f"{name:26s} out={out_name}({d}) init={t_build:6.2f}s export={t_export:6.2f}s "
          f"size={size_mb:7.2f}MB  output mean={y.mean():+.3f} std={y.std():.3f} "
          f"max|.|={y.abs().max():.3f}", flush=True)
    return {"name": name, "init_s": t_build, "export_s": t_export, "mb": size_mb}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(ALL_MODELS),
                    help="comma-separated list (default: all %d)" % len(ALL_MODELS))
    ap.add_argument("--out", default="/tmp/siamese_onnx")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--features", action="store_true",
                    help="export the pooled features instead of the logits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-state-dict", action="store_true",
                    help="do not save NAME.pt next to the .onnx")
    args = ap.parse_args()
    if not 11 <= args.opset <= 17:
        ap.error("--opset must be in 11..17 (torch 1.13 exports up to 17)")
    os.makedirs(args.out, exist_ok=True)
    # ViT's torch._assert on the input size is traced as a constant: expected
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    torch.set_num_threads(max(1, int(os.environ.get("EXPORT_THREADS", "1"))))
    for arch in [a.strip() for a in args.models.split(",") if a.strip()]:
        export_one(arch, args)


if __name__ == "__main__":
    sys.exit(main())

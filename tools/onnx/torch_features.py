#!/usr/bin/python3
"""torch_features.py: a torchvision backbone's features of real photos, as
PyTorch computes them, and the same network exported to ONNX, so a test can
register the ONNX file in SQL, embed the photos there and compare.

    /usr/bin/python3 tools/onnx/torch_features.py MODEL OUT_DIR [PHOTO ...]

MODEL is a torchvision 0.14 classifier (resnet18, mobilenet_v3_small, ...);
its head is replaced by an identity so the output is the pooled features.
Weights are seeded random (torch.manual_seed(0)) with batch-norm statistics
set to plausible values, since pretrained weights cannot be downloaded here.
Writes OUT_DIR/MODEL.onnx (opset 17, dynamic batch), OUT_DIR/MODEL.json:
{"import": <the import config for siamese.register_onnx_model>,
 "features": {photo file name: [floats]}}.  Photos default to skimage's
sample pictures (a grey one and a JPEG among them); they are preprocessed
with torchvision's eval transform on PIL images: Resize(256), CenterCrop(224),
ToTensor, Normalize(ImageNet mean and std).
"""
import json
import os
import sys

import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "camera.png", "rocket.jpg"]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def backbone(name):
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)(weights=None).eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    if hasattr(m, "fc"):
        m.fc = torch.nn.Identity()
    elif hasattr(m, "heads"):
        m.heads = torch.nn.Identity()
    else:
        m.classifier = torch.nn.Identity()
    return m


def main():
    name, out = sys.argv[1], sys.argv[2]
    photos = sys.argv[3:] or [os.path.join(SKIMAGE, p) for p in PHOTOS]
    torch.set_num_threads(1)
    m = backbone(name)
    torch.onnx.export(m, torch.randn(1, 3, 224, 224), os.path.join(out, name + ".onnx"), opset_version=17,
                      input_names=["input"], output_names=["features"],
                      dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}}, do_constant_folding=True)
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)])
    feats = {}
    with torch.no_grad():
        for p in photos:
            x = tf(Image.open(p).convert("RGB")).unsqueeze(0)
            feats[os.path.basename(p)] = [float(v) for v in m(x)[0]]
    config = {"input": {"channels": 3, "height": 224, "width": 224, "resize": "pil_bilinear",
                        "fit": "resize_shorter_then_center_crop", "resize_shorter": 256,
                        "mean": MEAN, "std": STD, "scale": 255},
              "normalize": False, "distance": "cosine",
              "metadata": {"source": "torchvision " + torchvision.__version__ + " " + name + ", seeded random weights"}}
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"import": config, "features": feats}, f)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""preprocess_compare.py: decode + ImageNet preprocessing of a 512x512 JPEG,
siamese_pg's core (bench/bin/bench_preprocess) beside PIL + torchvision, and
a check that both give the same 3x224x224 tensor.

    make bench/bin/bench_preprocess
    /usr/bin/python3 bench/preprocess_compare.py [image.jpg]

Without an argument the input is scikit-image's astronaut.png (512x512, a
real photo) written as a JPEG of quality 90 to a temporary file.  The Python
side is what a torchvision data loader does per image: Image.open(...)
.convert("RGB") + Compose([Resize(256), CenterCrop(224), ToTensor(),
Normalize(ImageNet)]), on one thread (torch.set_num_threads(1)), timed over
the same bytes in memory.  Wall and CPU time per image are printed for both,
then the largest difference between the two tensors.
"""
import io
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench", "bin", "bench_preprocess")


def main():
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp()
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        path = os.path.join(tmp, "astronaut_q90.jpg")
        Image.open("/usr/lib/python3/dist-packages/skimage/data/astronaut.png").convert("RGB").save(
            path, "JPEG", quality=90)
    data = open(path, "rb").read()
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])

    def decode():
        return Image.open(io.BytesIO(data)).convert("RGB")

    def run(fn, seconds=2.0):
        fn()
        n, w0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - w0 < seconds:
            fn()
            n += 1
        return (time.perf_counter() - w0) / n * 1e3, (time.process_time() - c0) / n * 1e3

    im = decode()
    print("input: %s, %dx%d, %d bytes; PIL %s, torchvision %s, torch %s (1 thread)" % (
        path, im.width, im.height, len(data), Image.__version__, torchvision.__version__, torch.__version__))
    print("%-58s %11s %11s" % ("PIL + torchvision, per image", "wall", "cpu"))
    for label, fn in [("decode: Image.open().convert(\"RGB\")", decode),
                      ("transform: Resize(256)+CenterCrop(224)+ToTensor+Norm", lambda: tf(im)),
                      ("decode + transform", lambda: tf(decode()))]:
        w, c = run(fn)
        print("%-58s %8.3f ms %8.3f ms" % (label, w, c))

    out = os.path.join(tmp, "tensor.f32")
    print("\nsiamese_pg core (%s), per image" % os.path.relpath(BENCH, ROOT))
    sys.stdout.flush()
    subprocess.check_call([BENCH, "-t", "2", "-o", out, path])
    ours = np.fromfile(out, np.float32).reshape(3, 224, 224)
    want = tf(decode()).numpy()
    diff = np.abs(ours - want)
    print("\ntensor vs torchvision: max |diff| %g, %d of %d values bit-identical" % (
        diff.max(), int((ours == want).sum()), want.size))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""check_pil_resize.py: compare the core's Pillow resampler and the
torchvision-style preprocessing with PIL / torchvision on many random cases.

Run by hand (needs the Debian python with PIL, numpy, torch, torchvision):

    make src/core/libsiamese_core.a
    /usr/bin/python3 test/unit/check_pil_resize.py [N_CASES] [SEED]

It links src/core/libsiamese_core.a into a temporary shared library, calls
sp_pil_resize_u8 / sp_preprocess_image through ctypes and requires every
byte (resize) to equal PIL's Image.resize, and every float (preprocessing)
to equal torchvision's tensor.  Prints one summary line per family of cases
and exits non-zero on the first mismatch.
"""
import ctypes
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_lib(tmp):
    so = os.path.join(tmp, "libcore.so")
    subprocess.check_call(["gcc", "-shared", "-o", so, "-Wl,--whole-archive",
                           os.path.join(ROOT, "src/core/libsiamese_core.a"), "-Wl,--no-whole-archive",
                           "-lpng", "-ljpeg", "-lopenblas", "-lcrypto", "-lz", "-lm"])
    return ctypes.CDLL(so)


class PilResize(ctypes.Structure):
    _fields_ = [("filter", ctypes.c_int), ("out_w", ctypes.c_int), ("out_h", ctypes.c_int),
                ("box", ctypes.c_float * 4), ("win_x", ctypes.c_int), ("win_y", ctypes.c_int)]


class Spec(ctypes.Structure):
    # must match sp_preprocess_spec in src/core/image/preprocess.h
    _fields_ = [("channels", ctypes.c_int), ("height", ctypes.c_int), ("width", ctypes.c_int),
                ("resize", ctypes.c_int), ("fit", ctypes.c_int),
                ("mean", ctypes.c_float * 3), ("std", ctypes.c_float * 3), ("scale", ctypes.c_float),
                ("resize_shorter", ctypes.c_int)]


class Img(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("channels", ctypes.c_int),
                ("pixels", ctypes.c_void_p)]


ERR = ctypes.create_string_buffer(2048)
BOX, BILINEAR = 0, 1
PIL_FILTER = {BOX: Image.BOX, BILINEAR: Image.BILINEAR}


def c_resize(lib, a, rs, dw, dh):
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    a = np.ascontiguousarray(a)
    out = np.zeros((dh, dw, c), np.uint8)
    st = lib.sp_pil_resize_u8(None, a.ctypes.data_as(ctypes.c_void_p), w, h, c, ctypes.byref(rs),
                              out.ctypes.data_as(ctypes.c_void_p), dw, dh, ERR)
    if st != 0:
        raise RuntimeError("sp_pil_resize_u8 failed: %s" % ERR.raw[4:200])
    return out if c > 1 else out[:, :, 0]


def random_image(rng, w, h, c):
    kind = rng.randrange(4)
    shape = (h, w) if c == 1 else (h, w, c)
    if kind == 0:
        return np.array(np.random.default_rng(rng.randrange(1 << 30)).integers(0, 256, shape), np.uint8)
    if kind == 1:   # extremes only: exercises the clipping
        return np.array(np.random.default_rng(rng.randrange(1 << 30)).integers(0, 2, shape) * 255, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    g = (xx * 255.0 / max(w - 1, 1) * 0.6 + yy * 255.0 / max(h - 1, 1) * 0.4)
    if kind == 3:
        g = 127.5 + 127.5 * np.sin(xx * 0.9 + yy * 0.37)
    g = np.clip(np.rint(g), 0, 255).astype(np.uint8)
    return g if c == 1 else np.stack([g, 255 - g, g[::-1, ::-1]], axis=2)


# 1-pixel sides, extreme factors both ways, off-by-one sizes
EDGES = [(1, 1, 1, 1), (1, 1, 7, 5), (7, 5, 1, 1), (1, 300, 224, 224), (300, 1, 3, 3), (2000, 3, 7, 1),
         (3, 2000, 1, 9), (255, 255, 256, 256), (256, 256, 255, 255), (5, 5, 1000, 2), (512, 512, 256, 256),
         (640, 480, 341, 256), (333, 500, 256, 384), (1, 2, 1, 1), (2, 1, 1, 1), (4000, 1, 1, 1)]


def check_resize(lib, rng, n):
    count = 0
    for i in range(len(EDGES) * 2 + n):
        c = rng.choice([1, 3])
        big = i % 10 == 0
        lim = 600 if big else 40
        sw, sh = rng.randint(1, lim), rng.randint(1, lim)
        dw, dh = rng.randint(1, lim), rng.randint(1, lim)
        if i % 7 == 1:
            dw = sw         # one pass skipped
        if i % 11 == 2:
            dh, dw = sh, sw   # identity
        if i < len(EDGES) * 2:
            sw, sh, dw, dh = EDGES[i // 2]
            c = 1 + 2 * (i % 2)
        flt = BILINEAR if i % 5 or i < len(EDGES) * 2 else BOX
        a = random_image(rng, sw, sh, c)
        im = Image.fromarray(a, "L" if c == 1 else "RGB")
        rs = PilResize(flt, dw, dh, (ctypes.c_float * 4)(0, 0, 0, 0), 0, 0)
        box = None
        if i % 4 == 3 and i >= len(EDGES) * 2:
            x0 = rng.uniform(0, sw * 0.5)
            y0 = rng.uniform(0, sh * 0.5)
            x1 = rng.uniform(x0 + 1e-3, sw)
            y1 = rng.uniform(y0 + 1e-3, sh)
            box = (x0, y0, x1, y1)
            rs.box[:] = [x0, y0, x1, y1]   # converted to float like PIL's "(ffff)"
        want = np.asarray(im.resize((dw, dh), PIL_FILTER[flt], box=box))
        lib.sp_resample_set_isa(-1 if i % 2 else 0)    # AVX2 where available / scalar
        got = c_resize(lib, a, rs, dw, dh)
        if not np.array_equal(want, got):
            bad = np.argwhere(want != got)[0]
            sys.exit("resize mismatch: %dx%dx%d -> %dx%d filter %d box %r at %r: PIL %r ours %r" %
                     (sw, sh, c, dw, dh, flt, box, tuple(bad), want[tuple(bad)], got[tuple(bad)]))
        # a window of the same resize (torchvision's crop, with padding past the edges)
        wx, wy = rng.randint(-3, dw), rng.randint(-3, dh)
        ww, wh = rng.randint(1, dw + 3), rng.randint(1, dh + 3)
        rs.win_x, rs.win_y = wx, wy
        got = c_resize(lib, a, rs, ww, wh)
        pad = np.zeros((dh + 6 + wh, dw + 6 + ww) + want.shape[2:], np.uint8)
        pad[3:3 + dh, 3:3 + dw] = want
        if not np.array_equal(pad[wy + 3:wy + 3 + wh, wx + 3:wx + 3 + ww], got):
            sys.exit("window mismatch: %dx%dx%d -> %dx%d window %d,%d %dx%d" % (sw, sh, c, dw, dh, wx, wy, ww, wh))
        count += 1
    lib.sp_resample_set_isa(-1)
    print("resize: %d cases bit-exact vs PIL %s Image.resize (BILINEAR and BOX, L and RGB, with and "
          "without box, %d fixed edge cases; scalar and AVX2 vertical pass alternately), each also as a "
          "window" % (count, Image.__version__, 2 * len(EDGES)))


IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RESIZE_BILINEAR, RESIZE_AREA, RESIZE_PIL = 0, 1, 2
FIT_STRETCH, FIT_CENTER_CROP, FIT_SHORTER = 0, 1, 2


def c_preprocess(lib, a, spec):
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    a = np.ascontiguousarray(a)
    img = Img(w, h, c, a.ctypes.data)
    out = np.zeros((spec.channels, spec.height, spec.width), np.float32)
    st = lib.sp_preprocess_image(ctypes.byref(spec), ctypes.byref(img),
                                 out.ctypes.data_as(ctypes.c_void_p), ERR)
    if st != 0:
        raise RuntimeError("sp_preprocess_image failed: %s" % ERR.raw[4:200])
    return out


def check_preprocess(lib, rng, n):
    import torch
    import torchvision
    from torchvision import transforms as T
    from torchvision.transforms import functional as F

    worst = {FIT_SHORTER: 0.0, FIT_STRETCH: 0.0, FIT_CENTER_CROP: 0.0}
    worst_tensor = 0.0
    for i in range(n):
        cs = rng.choice([1, 3])
        C = rng.choice([1, 3, 3])
        sw, sh = rng.randint(1, 300), rng.randint(1, 300)
        H, W = rng.randint(1, 64), rng.randint(1, 64)
        S = rng.randint(1, 80)
        fit = [FIT_SHORTER, FIT_SHORTER, FIT_STRETCH, FIT_CENTER_CROP][i % 4]
        if C == 3:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        else:
            mean, std = [rng.uniform(-1, 1)], [rng.uniform(0.05, 2)]
        a = random_image(rng, sw, sh, cs)
        im = Image.fromarray(a, "L" if cs == 1 else "RGB")
        im = im.convert("L" if C == 1 else "RGB")
        spec = Spec(C, H, W, RESIZE_PIL, fit, (ctypes.c_float * 3)(*(mean * 3)[:3]),
                    (ctypes.c_float * 3)(*(std * 3)[:3]), 255.0, S if fit == FIT_SHORTER else 0)
        norm = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
        if fit == FIT_SHORTER:
            want = T.Compose([T.Resize(S), T.CenterCrop((H, W)), norm])(im)
        elif fit == FIT_STRETCH:
            want = T.Compose([T.Resize((H, W)), norm])(im)
        else:
            if sw * H > sh * W:
                cw, ch = sh * W / H, sh
            else:
                cw, ch = sw, sw * H / W
            x0, y0 = (sw - cw) / 2.0, (sh - ch) / 2.0
            want = norm(im.resize((W, H), Image.BILINEAR, box=(x0, y0, min(x0 + cw, sw), min(y0 + ch, sh))))
        want = want.numpy()
        got = c_preprocess(lib, a, spec)
        diff = float(np.abs(want - got).max())
        worst[fit] = max(worst[fit], diff)
        if diff > 0:
            sys.exit("preprocess mismatch %dx%dx%d -> %dx%dx%d fit %d S %d: max diff %g" %
                     (sw, sh, cs, C, H, W, fit, S, diff))
        if fit == FIT_SHORTER and C == 3:
            # "bilinear" (no antialias) with the same fit = torchvision's tensor path, antialias=False,
            # up to float rounding: PyTorch computes source coordinates in float32, the core in double
            spec.resize = RESIZE_BILINEAR
            t = torch.from_numpy(np.asarray(im, np.float32).copy()).permute(2, 0, 1) / 255.0
            t = F.center_crop(F.resize(t, [S], antialias=False), [H, W])
            t = F.normalize(t, mean, std).numpy()
            got = c_preprocess(lib, a, spec)
            worst_tensor = max(worst_tensor, float(np.abs(t - got).max()))
    print("preprocess: %d cases, pil_bilinear equal to torchvision %s (PIL input) bit for bit: max |diff| "
          "resize_shorter_then_center_crop %g, stretch %g, center_crop (PIL box) %g" %
          (n, torchvision.__version__, worst[FIT_SHORTER], worst[FIT_STRETCH], worst[FIT_CENTER_CROP]))
    print("preprocess: bilinear + resize_shorter_then_center_crop vs torchvision tensor Resize(antialias=False): "
          "max |diff| %.3g" % worst_tensor)
    if worst_tensor > 5e-4:
        sys.exit("bilinear tensor-path difference too large")


def check_exif(lib, rng):
    import io
    from PIL import ImageOps
    count = 0
    for o in range(1, 9):
        for mode in ("RGB", "L"):
            w, h = rng.randint(1, 70), rng.randint(1, 70)
            a = random_image(rng, w, h, 3 if mode == "RGB" else 1)
            if mode == "RGB":
                exif = Image.Exif()
                exif[0x0112] = o
                exif = exif.tobytes()   # big-endian ("MM") as Pillow writes it
            else:   # little-endian ("II"), as most cameras write it
                exif = (b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0" + bytes([o, 0, 0, 0]) +
                        b"\0\0\0\0")
            buf = io.BytesIO()
            Image.fromarray(a, mode).save(buf, "JPEG", quality=90, exif=exif)
            data = buf.getvalue()
            want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
            img = Img()
            st = lib.sp_image_decode(None, data, len(data), ctypes.byref(img), ERR)
            if st != 0:
                sys.exit("decode failed: %s" % ERR.raw[4:200])
            got = np.ctypeslib.as_array(ctypes.cast(img.pixels, ctypes.POINTER(ctypes.c_uint8)),
                                        (img.height, img.width, img.channels)).copy()
            lib.sp_image_free(None, ctypes.byref(img))
            if got.shape[2] == 1:
                got = got[:, :, 0]
            if want.shape != got.shape or not np.array_equal(want, got):
                sys.exit("EXIF orientation %d %s %dx%d: decoded image differs from PIL's exif_transpose" %
                         (o, mode, w, h))
            count += 1
    print("exif: %d JPEGs written by PIL with orientations 1-8 (RGB big-endian, gray little-endian): decode "
          "equals ImageOps.exif_transpose pixel for pixel" % count)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        lib = build_lib(tmp)
        lib.sp_pil_resize_u8.restype = ctypes.c_int
        lib.sp_preprocess_image.restype = ctypes.c_int
        check_resize(lib, rng, n)
        check_preprocess(lib, rng, max(n // 4, 1))
        lib.sp_image_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                        ctypes.c_void_p]
        check_exif(lib, rng)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# make_seeds.py: regenerates the committed seed files of test/fuzz/corpus/
# (tiny PNG and JPEG variants for image_decode, random headers for corrupt)
# and json.dict from the shipped configs.  Run with Debian's python3 (PIL).
# The other harnesses' seeds are made by run.sh from files already in the
# repository (models/, test/fixtures/onnx/).
import io
import json
import os
import random

from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, 'corpus/image_decode'), exist_ok=True)
os.makedirs(os.path.join(here, 'corpus/corrupt'), exist_ok=True)
random.seed(7)


def img(mode, w, h):
    im = Image.new(mode, (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            v = (x * 37 + y * 11) % 256
            px[x, y] = v if mode == 'L' else (v, (v * 3) % 256, 255 - v)
    return im


cases = [
    ('gray4x3.png', img('L', 4, 3), 'PNG', {}),
    ('rgb8x8.png', img('RGB', 8, 8), 'PNG', {}),
    ('rgb8x8_interlaced.png', img('RGB', 8, 8), 'PNG', {'interlace': 1}),
    ('la5x5.png', img('L', 5, 5).convert('LA'), 'PNG', {}),
    ('p6x6.png', img('RGB', 6, 6).convert('P'), 'PNG', {}),
    ('gray16x16.jpg', img('L', 16, 16), 'JPEG', {'quality': 80}),
    ('rgb16x16.jpg', img('RGB', 16, 16), 'JPEG', {'quality': 75}),
    ('rgb16x16_progressive.jpg', img('RGB', 16, 16), 'JPEG', {'quality': 75, 'progressive': True}),
]
for name, im, fmt, kw in cases:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    open(os.path.join(here, 'corpus/image_decode', name), 'wb').write(b.getvalue())
for i in range(6):
    open(os.path.join(here, 'corpus/corrupt/seed%d' % i), 'wb').write(
        bytes(random.randrange(256) for _ in range(14 + 48)))

# json.dict: every key and string value of the shipped configs, plus JSON's own tokens
tokens = set(['{', '}', '[', ']', ':', ',', 'true', 'false', 'null', '-0', '1e308', '"\\u0000"'])


def collect(v):
    if isinstance(v, dict):
        for k, x in v.items():
            tokens.add(json.dumps(k))
            collect(x)
    elif isinstance(v, list):
        for x in v:
            collect(x)
    elif isinstance(v, str) and len(v) < 40:
        tokens.add(json.dumps(v))


models = os.path.join(here, '../../models')
for f in sorted(os.listdir(models)):
    if f.endswith('.json'):
        collect(json.load(open(os.path.join(models, f))))
with open(os.path.join(here, 'json.dict'), 'w') as out:
    for t in sorted(tokens):
        out.write('"%s"\n' % t.replace('\\', '\\\\').replace('"', '\\"'))

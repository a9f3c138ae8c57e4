"""Diagnosis: MNIST validation digits photographed on a printed pattern at 64 px, read by the
stack path (to_mnist_batch, crops <= 64 px), by the per-image path on the same 64 px image
(to_mnist_grey), and upscaled to 160 px (the per-image path, as bench_realworld's 160 px
sets). Also the boxed photos as a control. Usage: pattern_paths.py SEED N"""
import sys

import numpy as np
from PIL import Image

from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.sources import place_mnist
from digitkit.vision.preprocess.pipeline import to_mnist_batch, to_mnist_grey
from digitkit.vision.recognize import Recognizer

seed, n = int(sys.argv[1]), int(sys.argv[2])
s = load_splits("mnist")
rng = np.random.default_rng(seed)
m = rng.choice(len(s.x_val), n, replace=False)
x, y = s.x_val[m], s.y_val[m]
rec = Recognizer.load("default")
for name, style in (("pattern", ContextStyle(p_pattern=1.0)), ("boxed", ContextStyle(p_box=1.0))):
    photos = photograph(place_mnist(x, rng), rng, style)
    grey = [p.astype(np.float32) / 255 for p in photos]
    big = [np.asarray(Image.fromarray(p).resize((160, 160), Image.BILINEAR)).astype(np.float32) / 255 for p in photos]
    for path, pre in (("stack 64", to_mnist_batch(np.stack(grey))),
                      ("per-image 64", [to_mnist_grey(g) for g in grey]),
                      ("per-image 160", [to_mnist_grey(g) for g in big])):
        preds = rec._predict_from(pre) if hasattr(rec, "_predict_from") else None
        ok = np.array([not p.blank for p in pre])
        idx = np.flatnonzero(ok)
        read = np.full(n, -1)
        for i in idx:
            r = rec.reader_for(pre[i].drawn, pre[i].large)
            pr = r.probabilities(pre[i].image[None])[0]
            if not r.is_not_a_digit(pr[None], pre[i].drawn)[0]:
                read[i] = int(np.argmax(pr[:10]))
        print(f"{name} | {path} | right {100 * (read == y).mean():.2f}% | blank {100 * (~ok).mean():.1f}% | large {np.mean([getattr(p, 'large', False) for p in pre]):.2f}", flush=True)

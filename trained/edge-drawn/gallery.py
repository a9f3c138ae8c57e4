"""A gallery of big drawings' errors: each input (140 px) beside the 28x28 model input,
and the same digit drawn at the usual size with its model input. Usage: gallery.py SEED N OUT.png"""
import sys
from dataclasses import replace

import numpy as np
from PIL import Image

sys.path.insert(0, "/work/main/benchmarks")
from bench_realworld import BIG_DRAWING, CANVAS, _canvas
from digitkit.data.render import PenStyle, render
from digitkit.data.sources import pen_parts
from digitkit.vision.recognize import Recognizer

seed, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(seed)
pen = pen_parts()["pen_val"]
pick = rng.permutation(len(pen))[:n]
strokes = (pen.points[pick], pen.pen_down[pick])
big = _canvas(render(strokes, size=CANVAS, rng=rng, style=replace(PenStyle(), size=BIG_DRAWING)))
usual = _canvas(render(strokes, size=CANVAS, rng=np.random.default_rng(seed + 1)))
labels = pen.labels[pick].astype(np.int64)
rec = Recognizer.load("default")
pb = rec.predict_batch_with_previews(list(big))
pu = rec.predict_batch_with_previews(list(usual))
rows = []
for i in range(n):
    if pb[i][0].digit != labels[i]:
        tiles = [big[i], pb[i][1], usual[i], pu[i][1]]
        row = []
        for t in tiles:
            if t is None:
                t = np.full((140, 140), 128, np.uint8)
            elif t.shape != (140, 140):
                t = np.asarray(Image.fromarray((255 - 255 * t).astype(np.uint8)).resize((140, 140), Image.NEAREST))
            row.append(np.pad(t, 2, constant_values=0))
        rows.append(np.concatenate(row, axis=1))
        print(i, "label", labels[i], "big read", pb[i][0].digit, pb[i][0].reason,
              round(pb[i][0].confidence or 0, 2), "usual read", pu[i][0].digit,
              round(pu[i][0].confidence or 0, 2))
Image.fromarray(np.concatenate(rows[:24], axis=0)).save(out)

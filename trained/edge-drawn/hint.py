"""Pen validation writers' digits drawn on a 140 px canvas, big (filling it to its edges) and
at the usual size, read as files are (judged from the image) and as the web page and the
desktop app send them (``drawing=True``). Usage: hint.py SEED N"""
import sys
from dataclasses import replace

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_realworld import BIG_DRAWING, CANVAS, _canvas
from digitkit.data.render import PenStyle, render
from digitkit.data.sources import pen_parts
from digitkit.labels import NOT_A_DIGIT_REASON
from digitkit.vision.recognize import Recognizer

seed, n = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(seed)
parts = pen_parts()
pen = parts["pen_val"]
pick = rng.permutation(len(pen))[:n]
strokes = (pen.points[pick], pen.pen_down[pick])
labels = pen.labels[pick].astype(np.int64)
sets = {
    "big": _canvas(render(strokes, size=CANVAS, rng=rng, style=replace(PenStyle(), size=BIG_DRAWING))),
    "usual": _canvas(render(strokes, size=CANVAS, rng=rng)),
}
letters = parts["letters_val"]
sets["letters (refused)"] = _canvas(render((letters.points, letters.pen_down), size=CANVAS, rng=rng))
rec = Recognizer.load("default")
print(f"seed {seed}, n {n}: | set | judged from the image | drawing=True |")
for name, x in sets.items():
    row = f"| {name} |"
    for drawing in (False, True):
        preds = rec.predict_batch(list(x), drawing=drawing)
        refused = np.array([p.reason == NOT_A_DIGIT_REASON for p in preds])
        if name.startswith("letters"):
            row += f" {100 * refused.mean():.2f} |"
        else:
            read = np.array([-1 if p.digit is None else p.digit for p in preds])
            row += f" {100 * (read == labels).mean():.2f} (refused {100 * refused.mean():.2f}) |"
    print(row, flush=True)

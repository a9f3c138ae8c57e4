"""An "unsure" point for drawings, fitted as the drawn point is (digitkit.vision.drawn's
drawn validation images, seed 0, read through the whole recognizer): the largest q on a grid
such that, for each hand, the drawn digits refused (p("not a digit") >= the shipped drawn
point, or the top digit's p < q) stay within a total budget. Then each q is applied to fresh
validation renderings. Usage: unsure_fit.py SEED"""
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import _drawn
from bench_realworld import CANVAS, _canvas
from digitkit.data import load_splits
from digitkit.data.render import mnist_canvases, render
from digitkit.data.sources import pen_parts
from digitkit.data.styles import styled_digits
from digitkit.vision.drawn import DRAWN_MNIST_DIGITS, drawn_validation
from digitkit.vision.recognize import Recognizer

GRID = np.round(np.arange(0.30, 0.96, 0.01), 2)
rec = Recognizer.load("default")
route = rec.drawn_reader
a = route.refuse_drawn_above


def readings(x):
    preds, pre = rec._predict_preprocessed(x)
    drawn = np.array([not p.blank and p.drawn for p in pre])
    probs = np.array([p.probabilities for p in preds], np.float64)
    nad = 1 - probs.sum(axis=1)
    return probs.max(axis=1), probs.argmax(axis=1), nad, drawn, np.array([p.digit is not None for p in preds])


images, labels = drawn_validation()
american = np.arange(len(labels)) >= len(labels) - DRAWN_MNIST_DIGITS
top, _, nad, drawn, _ = readings(images)
digit = (labels < 10) & drawn
print(f"drawn point {a}; fit set: {digit.sum()} drawn digits")
fits = {}
for budget in (0.005, 0.0075, 0.01):
    per_hand = {}
    for hand, mask in (("pen writers", digit & ~american), ("MNIST", digit & american)):
        ok = [q for q in GRID if ((nad[mask] >= a) | (top[mask] < q)).mean() <= budget]
        per_hand[hand] = max(ok) if ok else None
    fits[budget] = min(v for v in per_hand.values() if v is not None) if all(per_hand.values()) else None
    print(f"budget {100 * budget:.2f}%: per hand {per_hand} -> q = {fits[budget]}")
for hand, mask in (("pen writers", digit & ~american), ("MNIST", digit & american)):
    print(f"  {hand}: refused by the drawn point alone {100 * (nad[mask] >= a).mean():.2f}%")

seed = int(sys.argv[1])
rng = np.random.default_rng(seed)
parts = pen_parts()
pen = parts["pen_val"]
mnist = load_splits("mnist")
pts, down, lab = styled_digits(pen, 2000, rng)
sets = {
    "pen val writers x8": (_drawn(pen, 8, rng), np.tile(pen.labels.astype(np.int64), 8)),
    "letters writer 8 x8": (_drawn(parts["letters_val"], 8, rng), None),
    "MNIST val 2500-4999 canvases": (mnist_canvases(mnist.x_val[2500:], CANVAS), mnist.y_val[2500:]),
    "European 1/7/0 x2000": (_canvas(render((pts, down), size=CANVAS, rng=rng)), lab),
}
print(f"\nfresh renderings, seed {seed}")
for name, (x, y) in sets.items():
    top, read, nad, drawn, answered = readings(x)
    cells = []
    for q in [0.0] + [f for f in fits.values() if f]:
        unsure = drawn & answered & (top < q)
        ans = answered & ~unsure
        if y is None:
            cells.append(f"q={q}: {100 * (1 - ans.mean()):.1f}% refused")
        else:
            cells.append(f"q={q}: {100 * (1 - ans.mean()):.2f}% refused, answered right {100 * (read[ans] == y[ans]).mean():.2f}%, all {100 * ((read == y) & ans).mean():.2f}%")
    print(f"{name}:\n  " + "\n  ".join(cells))

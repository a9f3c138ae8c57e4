"""Which of the crop's steps cost big drawings their points, and what each is worth on box
crops: the shipped reading against the same with one step off (printed-line removal; the
reading without edge-connected ink, off_the_edges; the reading clear of thick print, bands).
Usage: ablate.py SEED N"""
import sys
from dataclasses import replace

import numpy as np
from PIL import Image

sys.path.insert(0, "/work/main/benchmarks")
from bench_realworld import BIG_DRAWING, CANVAS, _canvas
from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, boxes_only, photograph
from digitkit.data.render import PenStyle, render
from digitkit.data.sources import pen_parts, place_mnist
from digitkit.labels import NOT_A_DIGIT_REASON
from digitkit.vision.preprocess import pipeline as pl
from digitkit.vision.preprocess.line_search import LINE_LOW
from digitkit.vision.recognize import Recognizer

seed, n = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(seed)
pen = pen_parts()["pen_val"]
pick = rng.permutation(len(pen))[:n]
sets = {"big drawings": (_canvas(render((pen.points[pick], pen.pen_down[pick]), size=CANVAS, rng=rng,
                                         style=replace(PenStyle(), size=BIG_DRAWING))),
                         pen.labels[pick].astype(np.int64))}
mn = load_splits("mnist")
m = rng.permutation(len(mn.y_val))[:n // 2]
for name, style in (("box only", ContextStyle.box_only()), ("hard boxes", ContextStyle.hard_boxes()),
                    ("photographed boxes", ContextStyle(p_box=1.0))):
    sets[name] = (photograph(place_mnist(mn.x_val[m], rng), rng, style), mn.y_val[m])
    sets[f"empty {name}"] = (boxes_only(n // 2, 64, rng, style), None)
for name in list(sets):
    if name != "big drawings":
        x, y = sets[name]
        sets[f"{name} 160 px"] = ([np.asarray(Image.fromarray(i).resize((160, 160), Image.BILINEAR)) for i in x], y)

orig = {k: getattr(pl, k) for k in ("clean_photo_print", "off_the_edges", "clear_of_bands")}
no = {
    "clean_photo_print": lambda ink, low=LINE_LOW, text_line=False, one_digit=False: pl.PrintCleaned(
        np.asarray(ink, np.float32), np.zeros(len(ink), bool), np.zeros(len(ink), bool)),
    "off_the_edges": lambda ink: (ink, np.zeros(len(ink), bool)),
    "clear_of_bands": lambda ink: (ink, np.zeros(len(ink), bool)),
}
rec = Recognizer.load("default")


def score(x, y):
    preds = rec.predict_batch(list(x))
    if y is None:
        return 100 * np.mean([p.digit is None for p in preds]), None
    read = np.array([-1 if p.digit is None else p.digit for p in preds])
    return 100 * np.mean(read == y), read == y


print(f"seed {seed} n {n}")
for name, (x, y) in sets.items():
    base, ok = score(x, y)
    line = f"| {name} | {base:.2f} |"
    for step in no:
        setattr(pl, step, no[step])
        s, ok2 = score(x, y)
        setattr(pl, step, orig[step])
        extra = f" (+{int((~ok & ok2).sum())} -{int((ok & ~ok2).sum())})" if ok is not None else ""
        line += f" {s:.2f}{extra} |"
    print(line, flush=True)

"""Where big drawings (pen validation writers drawn to fill their 140 px canvas) lose their
points, image by image, and how crops of boxes look on the same features.

For each big drawing: the shipped reading, whether its ink is sharp and touches an edge,
whether printed-line removal changed it, what preprocessing said, and the reading without
line removal. For box crops (box only, hard boxes, photographed boxes at 64 and 160 px):
how many are sharp, large and touching an edge (the ones a relaxed drawn check would see).
Usage: diag.py SEED [N]"""
import sys
from collections import Counter
from dataclasses import replace

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_realworld import BIG_DRAWING, CANVAS, _canvas
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.render import PenStyle, render
from digitkit.data.sources import pen_parts, place_mnist
from digitkit.data import load_splits
from digitkit.vision.imageio import load_image_reduced
from digitkit.vision.preprocess import pipeline as pl
from digitkit.vision.preprocess.ink import extract_ink, noise_floor
from digitkit.vision.preprocess.line_search import LINE_LOW
from digitkit.vision.preprocess.lines import clean_photo_print, may_hold_photo_print, soft_ink
from digitkit.vision.recognize import Recognizer

seed = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
rng = np.random.default_rng(seed)
pen = pen_parts()["pen_val"]
pick = rng.permutation(len(pen))[:n]
big = _canvas(render((pen.points[pick], pen.pen_down[pick]), size=CANVAS, rng=rng,
                     style=replace(PenStyle(), size=BIG_DRAWING)))
labels = pen.labels[pick].astype(np.int64)


def features(img):
    """(sharp, touches, lines changed, flat share) of one uint8 image, as to_mnist_grey sees it."""
    r = load_image_reduced(img)
    grey, scale = r.grey, r.scale
    ink = pl._thick_ink_reduced(grey, scale) or extract_ink(grey, scale)
    if ink.reason:
        return False, False, False, 0.0
    a = ink.ink[None]
    sharp = not soft_ink(a)[0]
    touch = bool(pl.touches_edges(a)[0])
    low = max(LINE_LOW, noise_floor(ink.ink))
    changed = False
    if may_hold_photo_print(ink.ink, low):
        printed = clean_photo_print(a, low)
        changed = printed.ink is not a and bool((printed.ink != a).any())
    g = np.asarray(img, np.float32)
    flat = float((np.abs(g - np.median(g)) < 1).mean())
    return sharp, touch, changed, flat


rec = Recognizer.load("default")
preds = rec.predict_batch(list(big))
read = np.array([-1 if p.digit is None else p.digit for p in preds])
reason = [p.reason for p in preds]
feats = [features(i) for i in big]
sharp, touch, changed, flat = (np.array(v) for v in zip(*feats))
wrong = read != labels
print(f"big drawings seed {seed}: n={n} right {100 * (1 - wrong.mean()):.2f}%")
print(f"  sharp {sharp.mean():.3f} touch {touch.mean():.3f} lines changed {changed.mean():.3f}")
print(f"  errors: {wrong.sum()}; of them lines changed {int((wrong & changed).sum())}, touch {int((wrong & touch).sum())}")
print("  error kinds:", Counter(r or f"read {d}" for r, d, w in zip(reason, read, wrong) if w).most_common())
print("  errors (label -> read/reason, changed):", [(int(labels[i]), int(read[i]), reason[i], bool(changed[i])) for i in np.flatnonzero(wrong)])

# Without line removal: what the same digits read.
orig = pl.clean_photo_print
pl.clean_photo_print = lambda ink, low=LINE_LOW, text_line=False, one_digit=False: pl.PrintCleaned(
    np.asarray(ink, np.float32), np.zeros(len(ink), bool), np.zeros(len(ink), bool))
preds2 = rec.predict_batch(list(big))
pl.clean_photo_print = orig
read2 = np.array([-1 if p.digit is None else p.digit for p in preds2])
wrong2 = read2 != labels
print(f"  without line removal: right {100 * (1 - wrong2.mean()):.2f}%; fixed {int((wrong & ~wrong2).sum())}, broken {int((~wrong & wrong2).sum())}")

# Box crops on the same features.
mn = load_splits("mnist")
x, y = mn.x_val, mn.y_val
m = rng.permutation(len(y))[:n // 2]
from PIL import Image
for name, style in (("box only", ContextStyle.box_only()), ("hard boxes", ContextStyle.hard_boxes()),
                    ("photographed boxes", ContextStyle(p_box=1.0))):
    imgs = photograph(place_mnist(x[m], rng), rng, style)
    for side in (64, 160):
        ims = imgs if side == 64 else [np.asarray(Image.fromarray(i).resize((side, side), Image.BILINEAR)) for i in imgs]
        f = [features(i) for i in ims]
        s, t, c, fl = (np.array(v) for v in zip(*f))
        cand = s & t
        print(f"{name} {side} px: sharp {s.mean():.3f} sharp&touch {cand.mean():.3f} changed {c.mean():.3f}"
              f" flat>0.5 among sharp&touch {(fl[cand] > 0.5).mean() if cand.any() else 0:.3f}"
              f" flat quartiles {np.percentile(fl[cand], [10, 50, 90]).round(2) if cand.any() else '-'}")
print(f"big drawings flat quartiles {np.percentile(flat, [10, 50, 90]).round(2)}")

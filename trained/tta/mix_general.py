"""Exploration: the drawn route's probabilities averaged with the general pair's (default's
own members) for drawings, at several weights; accuracy on the diagnosis sets (all digits,
a refusal an error where the route's drawn point refuses). Usage: mix_general.py SEED"""
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import diagnosis_sets
from digitkit.vision.recognize import Recognizer

seed = int(sys.argv[1])
sets = diagnosis_sets(seed, pen_draws=4)
rec = Recognizer.load("default")
route = rec.drawn_reader
for name, (x, y) in sets.items():
    preds, pre = rec._predict_preprocessed(x, drawing=True)
    ok = np.array([not p.blank for p in pre])
    idx = np.flatnonzero(ok)
    imgs = np.stack([pre[i].image for i in idx])
    pr = route.probabilities(imgs)
    pg = rec.probabilities(imgs)
    for w in (0.0, 0.25, 0.5):
        p = (1 - w) * pr + w * pg
        refused = route.is_not_a_digit(p, True)
        read = np.where(refused, -1, p[:, :10].argmax(axis=1))
        if y is None:
            print(f"{name} | general weight {w} | refused {100 * refused.mean():.2f}%")
        else:
            right = (read == y[idx]).sum()
            print(f"{name} | general weight {w} | right {100 * right / len(x):.2f}% | refused {100 * refused.mean():.2f}%")

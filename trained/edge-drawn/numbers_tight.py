"""Number lines cropped tight to their ink (a user's crop of an amount; a dataset's) against
the same lines with a margin: exact % by length, and the same tight crops read with the
light's flattening off (``ink._flatten_background`` as identity), to see what it costs.
Usage: numbers_tight.py DIGITS(mnist|pen) SEED PER_LENGTH"""
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_numbers import digit_images, make_lines
from digitkit.vision.preprocess import ink as I
from digitkit.vision.recognize import Recognizer

digits, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x, y = digit_images(digits, "val", seed)
lines = make_lines(x, y, "touching", n, seed)
rec = Recognizer.load("default")


def tight(g, m):
    ink = g < 0.5 * (g.max() + g.min())
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return g[max(0, rows[0] - m): rows[-1] + 1 + m, max(0, cols[0] - m): cols[-1] + 1 + m]


def exact(f):
    by = {}
    for g, t in lines:
        by.setdefault(len(t), []).append(rec.predict_number(f(g)).text == t)
    return {k: 100 * np.mean(v) for k, v in sorted(by.items())}, 100 * np.mean([h for v in by.values() for h in v])


orig = I._flatten_background
rows = {"as made (margin)": lambda g: g, "tight": lambda g: tight(g, 0), "tight + 2 px": lambda g: tight(g, 2)}
print(f"{digits} val touching lines, seed {seed}, {n} per length")
for name, f in rows.items():
    per, all_ = exact(f)
    print(f"| {name} | {all_:.1f} | " + " | ".join(f"{v:.0f}" for v in per.values()) + " |", flush=True)
I._flatten_background = lambda s: s
per, all_ = exact(lambda g: tight(g, 0))
print(f"| tight, no flattening | {all_:.1f} | " + " | ".join(f"{v:.0f}" for v in per.values()) + " |")
I._flatten_background = orig

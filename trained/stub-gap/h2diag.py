"""Diagnosis for rule H2 (issue 11): the crops rule H reads (``h-candidate.patch``; run with
``PYTHONPATH`` at a tree carrying it) that the shipped stub rule refused, with their stub's
box as fractions of the crop.

    python trained/stub-gap/h2diag.py SEED N
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wall-stub"))
from offside import PLAIN, at_side, drawn_digits, in_a_cell, near_a_side  # noqa: E402

from digitkit.data.context import ContextStyle, boxes_only, photograph  # noqa: E402
from digitkit.vision.preprocess import pipeline  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402

seed, n = int(sys.argv[1]), int(sys.argv[2])
x, y, rng = drawn_digits(seed, n, "val")
ones = photograph(in_a_cell(near_a_side(x, rng), rng), rng, PLAIN)[y == 1]
sets = {
    "1s": ones,
    "photo": boxes_only(n, 64, rng),
    "hard": boxes_only(n, 64, rng, ContextStyle.hard_boxes()),
}
rec = Recognizer.load("default")
rb = pipeline.lone_border
rec_calls = []


def border(boxes, h, w, lines_removed=False, removed_width=pipeline.BORDER_REMOVED_STUB_WIDTH):
    out = rb(boxes, h, w, lines_removed, removed_width)
    old = rb(boxes, h, w, lines_removed, 0.3)
    if removed_width != 0.3:
        rec_calls.append((np.asarray(boxes, float).reshape(-1, 4), h, w, out, old))
    return out


pipeline.lone_border = border
for side in (64, 160):
    for name, s in sets.items():
        for p in s:
            rec_calls.clear()
            pred = rec.predict_batch([at_side(p, side)])[0]
            flips = [(b, h, w) for b, h, w, o, od in rec_calls if (od & ~o).any()]
            if flips:
                b, h, w = flips[-1]
                i = np.flatnonzero(b[:, 2] - b[:, 0] > 0)[0] if len(b) > 1 else 0
                x0, y0, x1, y1 = b[i]
                print(
                    f"{side} {name:5s} read {pred.digit!s:4s} width {(x1 - x0) / h:.3f} "
                    f"span {(y1 - y0) / h:.2f} y0 {y0 / h:.2f} y1 {y1 / h:.2f} "
                    f"mid {((x0 + x1) / 2) / w:.2f}"
                )

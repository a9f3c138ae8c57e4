"""Exploration (issue 11): one constant of ``digitkit.vision.preprocess.pipeline`` set to each
of several values in turn; for each, digits near a side inside a printed cell (``cell.py``'s
set) and empty printed boxes (three styles), at 64 px and upscaled to 160 px.

    python trained/stub-gap/explore.py SEED N NAME VALUE...

(The first run, ``explore/explore-10569.txt``, tried BORDER_STUB_GAP inf 0.05 0.03 0.0125 0
with ``gap-candidate.patch`` applied; inf is the shipped rule.)
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wall-stub"))
from offside import PLAIN, digits_read, drawn_digits, in_a_cell, near_a_side  # noqa: E402

from digitkit.data.context import ContextStyle, boxes_only, photograph  # noqa: E402
from digitkit.vision.preprocess import pipeline  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402


def main(seed: int, n: int, name: str, values: list[float]) -> None:
    x, y, rng = drawn_digits(seed, n, "val")
    cells = photograph(in_a_cell(near_a_side(x, rng), rng), rng, PLAIN)
    boxes = {
        "box only": boxes_only(n, 64, rng, ContextStyle.box_only()),
        "photographed": boxes_only(n, 64, rng),
        "hard": boxes_only(n, 64, rng, ContextStyle.hard_boxes()),
    }
    rec = Recognizer.load("default")
    for value in values:
        setattr(pipeline, name, value)
        for side in (64, 160):
            d = digits_read(rec, cells, side)
            ones = y == 1
            line = (
                f"{name} {value} {side} px: cell digits {np.mean(d == y):.2%} (1s refused "
                f"{np.mean(d[ones] < 0):.2%} of {ones.sum()}); empty read as a digit:"
            )
            for style, b in boxes.items():
                line += f" {style} {np.mean(digits_read(rec, b, side) >= 0):.2%}"
            print(line, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], [float(v) for v in sys.argv[4:]])

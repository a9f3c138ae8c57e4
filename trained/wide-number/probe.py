"""Probe (issue 11): number lines scanned inside a wide field, read by the shipped route.

Touching and forms lines of 3-7 MNIST validation digits (``bench_numbers.make_lines``,
scanned at twice the generator's size, ~40 px tall digits), read as scanned and again with
white paper added: twice the line's width to its right or left (a number written at one end
of a wide form field), or half its width each side and its height above and below. With
WORK_SIDE set, the decoder's longest-side reduction (``digitkit.vision.imageio.WORK_SIDE``,
640) is moved, to show what it costs.

    python trained/wide-number/probe.py SEED N_PER_LENGTH [WORK_SIDE]
"""

import sys
from pathlib import Path

import numpy as np

import digitkit.vision.imageio as imageio
from digitkit.data import load_splits
from digitkit.vision.recognize import Recognizer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_numbers import make_lines  # noqa: E402

LAYOUTS = {
    "as scanned": lambda g: g,
    "at the left of a field 3x as wide": lambda g: np.pad(
        g, ((0, 0), (0, 2 * g.shape[1])), constant_values=1.0
    ),
    "at the right of a field 3x as wide": lambda g: np.pad(
        g, ((0, 0), (2 * g.shape[1], 0)), constant_values=1.0
    ),
    "with margins all round": lambda g: np.pad(
        g, ((g.shape[0],) * 2, (g.shape[1] // 2,) * 2), constant_values=1.0
    ),
}


def main(seed: int, n: int) -> None:
    s = load_splits("mnist")
    rec = Recognizer.load("default")
    for style in ("touching", "forms"):
        lines = [
            (g, t)
            for g, t in make_lines(s.x_val, s.y_val, style, n, seed, "plain")
            if 3 <= len(t) <= 7
        ]
        over = {}
        for name, layout in LAYOUTS.items():
            right = [rec.predict_number(layout(g)).text == t for g, t in lines]
            wide = sum(max(layout(g).shape) > imageio.WORK_SIDE for g, _ in lines)
            over[name] = f"{np.mean(right):.1%} ({wide} over WORK_SIDE)"
        print(f"{style}, {len(lines)} lines, WORK_SIDE {imageio.WORK_SIDE}: {over}")


if __name__ == "__main__":
    if len(sys.argv) > 3:
        imageio.WORK_SIDE = int(sys.argv[3])
    main(int(sys.argv[1]), int(sys.argv[2]))

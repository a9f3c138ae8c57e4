"""Digits cut tight at a corner of their crop, no print (issue 11, the wall-stub judge).

MNIST validation digits cut to their ink, scaled to 0.62-0.8 of the crop's height, their ink
touching two edges of the crop at one corner (the four corners in turn, a quarter each),
photographed on paper with no box, rule or pattern, read by the shipped recognizer at 64 px
(the stack path) and upscaled to 160 px (the per-image path). A 1 there runs out of the crop
at its top or bottom near a side, as a wall of an empty cell does.

    python trained/wall-stub/corner.py SEED N [SPLIT]

SPLIT: val (the default; MNIST validation digits) or test (MNIST t10k, read once after a choice).
"""

import sys

import numpy as np
from offside import PLAIN, SIDE, drawn_digits, ink_box_scaled, read_at

from digitkit.data.context import photograph


def at_a_corner(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 MNIST digits (N, 28, 28) -> float ink (N, SIDE, SIDE), each in a corner."""
    out = np.zeros((len(digits), SIDE, SIDE), np.float32)
    for k, d in enumerate(digits):
        ink = ink_box_scaled(d, rng)
        h, w = ink.shape
        corner = k % 4
        y0 = 0 if corner < 2 else SIDE - h
        x0 = 0 if corner % 2 == 0 else SIDE - w
        out[k, y0 : y0 + h, x0 : x0 + w] = ink
    return out


def main(seed: int, n: int, split: str = "val") -> None:
    x, y, rng = drawn_digits(seed, n, split)
    read_at(photograph(at_a_corner(x, rng), rng, PLAIN), y, seed)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])

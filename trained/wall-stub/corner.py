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

from offside import PLAIN, at_a_corner, drawn_digits, read_at

from digitkit.data.context import photograph


def main(seed: int, n: int, split: str = "val") -> None:
    x, y, rng = drawn_digits(seed, n, split)
    read_at(photograph(at_a_corner(x, rng), rng, PLAIN), y, seed)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])

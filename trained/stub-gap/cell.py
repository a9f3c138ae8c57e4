"""Digits written near a side inside a printed cell (issue 11, rule H's gain set).

MNIST validation digits placed as ``offside.py`` places them (0.62-0.8 of the crop's height,
their middle 0.08-0.22 of the width from the left or the right side), inside a printed cell
whose 2 px walls stand 1-3 px in from the 64 px crop's edges (``bench_realworld.in_a_cell``),
photographed on paper with no other print, read by the shipped recognizer at 64 px (the stack
path) and upscaled to 160 px (the per-image path). Where the walls are removed, a 1 near one
may be taken for what removal left of it.

    python trained/stub-gap/cell.py SEED N [SPLIT]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wall-stub"))
from offside import PLAIN, drawn_digits, in_a_cell, near_a_side, read_at  # noqa: E402

from digitkit.data.context import photograph  # noqa: E402


def main(seed: int, n: int, split: str = "val") -> None:
    x, y, rng = drawn_digits(seed, n, split)
    read_at(photograph(in_a_cell(near_a_side(x, rng), rng), rng, PLAIN), y, seed)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])

"""Digits written near a side of their crop, no print (issue 11, the wall-stub judge).

MNIST validation digits cut to their ink, scaled to 0.62-0.8 of the crop's height, their
middle 0.08-0.22 of the width from the left or the right side, photographed on paper with
no box, rule or pattern (light, blur, JPEG, pencil and perspective at their usual rates),
read by the shipped recognizer at 64 px (the stack path) and upscaled to 160 px (the
per-image path). Prints accuracy, refusals, and the same for the 1s alone.

    python trained/wall-stub/offside.py SEED N [SPLIT]

SPLIT: val (the default; MNIST validation digits) or test (MNIST t10k, read once after a choice).
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, photograph
from digitkit.vision.recognize import Recognizer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_realworld import at_a_corner, in_a_cell, near_a_side  # noqa: E402, F401  (the benchmark's placements)

SIDE = 64
PLAIN = replace(ContextStyle(), p_box=0.0, p_lines=0.0, p_pattern=0.0)


def at_side(photo: np.ndarray, side: int) -> np.ndarray:
    """``photo`` as a ``side`` x ``side`` crop (bilinear, as a phone's larger crop of the cell)."""
    if photo.shape[:2] == (side, side):
        return photo
    return np.asarray(Image.fromarray(photo).resize((side, side), Image.BILINEAR))


def digits_read(rec: Recognizer, photos, side: int) -> np.ndarray:
    """The digit ``rec`` reads in each photo at ``side`` px (-1: refused)."""
    preds = rec.predict_batch([at_side(p, side) for p in photos])
    return np.array([-1 if p.digit is None else p.digit for p in preds])


def scored(rec: Recognizer, label: str, digits: dict, y: np.ndarray, empty: dict, side: int) -> str:
    """One line: ``label``, each digit set's share read right, each empty set's share read
    as a digit (the explorations' report)."""
    out = f"{label} {side} px:"
    for name, photos in digits.items():
        out += f" {name} {np.mean(digits_read(rec, photos, side) == y):.2%};"
    out += " empty read as a digit:"
    for name, photos in empty.items():
        out += f" {name} {np.mean(digits_read(rec, photos, side) >= 0):.2%}"
    return out


def read_at(photos: np.ndarray, y: np.ndarray, seed: int) -> None:
    """Read uint8 photos (N, SIDE, SIDE) with labels ``y`` by the shipped recognizer at SIDE
    and upscaled to 160 px; print accuracy and refusals, all and the 1s alone."""
    rec = Recognizer.load("default")
    for side in (SIDE, 160):
        preds = rec.predict_batch([at_side(p, side) for p in photos])
        digit = np.array([-1 if p.digit is None else p.digit for p in preds])
        ones = y == 1
        print(
            f"seed {seed}, {side} px: right {np.mean(digit == y):.2%}, refused "
            f"{np.mean(digit < 0):.2%}; the 1s ({ones.sum()}): right "
            f"{np.mean(digit[ones] == 1):.2%}, refused {np.mean(digit[ones] < 0):.2%}"
        )


def drawn_digits(seed: int, n: int, split: str = "val"):
    """``n`` MNIST digits of ``split`` drawn at random: (x, y, the generator that goes on)."""
    s = load_splits("mnist")
    xs, ys = (s.x_val, s.y_val) if split == "val" else (s.x_test, s.y_test)
    rng = np.random.default_rng(seed)
    m = rng.choice(len(xs), n, replace=False)
    return xs[m], ys[m], rng


def main(seed: int, n: int, split: str = "val") -> None:
    x, y, rng = drawn_digits(seed, n, split)
    read_at(photograph(near_a_side(x, rng), rng, PLAIN), y, seed)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])

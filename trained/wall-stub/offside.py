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

import numpy as np
from PIL import Image

from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, photograph
from digitkit.vision.recognize import Recognizer

SIDE = 64
PLAIN = replace(ContextStyle(), p_box=0.0, p_lines=0.0, p_pattern=0.0)


def ink_box_scaled(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uint8 MNIST digit (28, 28) cut to its ink and scaled to 0.62-0.8 of SIDE tall
    (float ink, at most SIDE - 2 wide)."""
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    cut = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h = int(round(rng.uniform(0.62, 0.8) * SIDE))
    w = max(1, min(SIDE - 2, int(round(cut.shape[1] * h / cut.shape[0]))))
    return np.asarray(Image.fromarray(cut).resize((w, h), Image.BILINEAR), np.float32) / 255


def near_a_side(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 MNIST digits (N, 28, 28) -> float ink (N, SIDE, SIDE), each near a side."""
    out = np.zeros((len(digits), SIDE, SIDE), np.float32)
    for k, d in enumerate(digits):
        ink = ink_box_scaled(d, rng)
        h, w = ink.shape
        centre = rng.uniform(0.08, 0.22) * SIDE
        x0 = int(np.clip(round(centre - w / 2), 1, SIDE - 1 - w))
        if rng.random() < 0.5:  # near the right side instead
            x0 = SIDE - x0 - w
        y0 = int(np.clip(round((SIDE - h) / 2 + rng.normal(0, 2)), 1, SIDE - 1 - h))
        out[k, y0 : y0 + h, x0 : x0 + w] = ink
    return out


def read_at(photos: np.ndarray, y: np.ndarray, seed: int) -> None:
    """Read uint8 photos (N, SIDE, SIDE) with labels ``y`` by the shipped recognizer at SIDE
    and upscaled to 160 px; print accuracy and refusals, all and the 1s alone."""
    rec = Recognizer.load("default")
    for side in (SIDE, 160):
        images = (
            photos
            if side == SIDE
            else [
                np.asarray(Image.fromarray(p).resize((side, side), Image.BILINEAR)) for p in photos
            ]
        )
        preds = rec.predict_batch(list(images))
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

"""Scans as forms and people crop them. Digits cut tight to their ink (:func:`tight_crop`): a
scanned form's 16x16 1-bit cells (the held-out check's foreign scans are such cells), a digit
cut out of a page to its box; their strokes reach the image edge, where printed borders and
shadows otherwise lie. Numbers with the form's print around them (:func:`printed_context`):
a box, a baseline rule, a cell cut by the crop. ``benchmarks/bench_realworld.py`` and
``benchmarks/bench_numbers.py`` measure both."""

from __future__ import annotations

import numpy as np
from PIL import Image


def tight_crop(
    digit: np.ndarray, side: int, binary: bool = False, fill: bool = False
) -> np.ndarray:
    """One digit (float ink in [0, 1] or uint8, white on black) cut to its ink box and scaled
    so the box's longer side is ``side`` pixels, returned dark on white (uint8).

    ``binary``: a 1-bit scan: the box is centred in a ``side`` x ``side`` square and
    thresholded at half ink. Otherwise the grey crop keeps its aspect and nothing around it.
    ``fill``: the box stretched to fill the ``side`` x ``side`` square, aspect lost (what
    scanners of forms did to every digit: a narrow 1 becomes a wide block or band).
    """
    a = np.asarray(digit, np.float32)
    if np.asarray(digit).dtype == np.uint8:
        a = a / np.float32(255.0)
    rows, cols = np.flatnonzero((a > 0.1).any(1)), np.flatnonzero((a > 0.1).any(0))
    if rows.size == 0:
        raise ValueError("no ink to crop to")
    crop = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    big = max(h, w)
    if fill:
        size = (side, side)
    elif binary:
        square = np.zeros((big, big), np.float32)
        square[(big - h) // 2 : (big - h) // 2 + h, (big - w) // 2 : (big - w) // 2 + w] = crop
        crop, size = square, (side, side)
    else:
        size = (max(1, round(w * side / big)), max(1, round(h * side / big)))
    out = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR))
    out = (out > 0.5).astype(np.float32) if binary else np.clip(out, 0.0, 1.0)
    return np.round(255 * (1.0 - out)).astype(np.uint8)


CONTEXTS = ("plain", "boxed", "rule", "cell")


def printed_context(grey: np.ndarray, kind: str, thickness: int = 2) -> np.ndarray:
    """A scanned line (grey (H, W) in [0, 1], dark ink on white) with the print of a form
    around it: ``"boxed"`` a box with a margin, ``"rule"`` a baseline rule under it and a
    little past its ends, ``"cell"`` a form cell cut by the crop (rules along the top and
    bottom edges, walls near the left and right ones); ``"plain"`` leaves it as it is."""
    if kind not in CONTEXTS:
        raise ValueError(f"unknown context {kind!r}; choose from {', '.join(CONTEXTS)}")
    t, dark = thickness, np.float32(0.1)
    if kind == "plain":
        return grey
    if kind == "boxed":
        out = np.pad(grey, 4 * t, constant_values=1.0)
        out[:t] = out[-t:] = dark
        out[:, :t] = out[:, -t:] = dark
    elif kind == "rule":
        out = np.pad(grey, ((0, 3 * t), (3 * t, 3 * t)), constant_values=1.0)
        out[-2 * t : -t] = dark
    else:
        out = np.pad(grey, ((3 * t, 3 * t), (5 * t, 5 * t)), constant_values=1.0)
        out[:t] = out[-t:] = dark
        out[:, t : 2 * t] = out[:, -2 * t : -t] = dark
    return out

"""Digits cut tight to their ink, as scanners and people crop them: a scanned form's 16x16
1-bit cells (the held-out check's foreign scans are such cells), a digit cut out of a page to
its box. Their strokes reach the image edge, where printed borders and shadows otherwise lie:
a case of its own for preprocessing (``benchmarks/bench_realworld.py`` measures it)."""

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

"""Cleaned ink -> the MNIST-style 28x28: refuse what cannot be one digit (nothing, a dot, a
dash), thicken thin pens to MNIST's stroke width, render centred (:func:`normalize_stack`)."""

from __future__ import annotations

import numpy as np

from digitkit.vision.preprocess.ink import MIN_SIDE
from digitkit.vision.preprocess.morphology import _dilate
from digitkit.vision.preprocess.render import BOX, FRAME, render_batch

# Stroke width relative to the ink box's longer side: MNIST's 1st percentile is 0.053, its
# median 0.098. Thinner strokes (a fine pen on a big canvas) would fade to nothing when
# downscaled, so they are thickened to THICKEN_TO first.
THIN_BELOW = 0.05
THICKEN_TO = 0.09
# Wider than this (width / height) is a dash or a whole number, not one digit: MNIST's widest
# training digit is 2.0.
MAX_ASPECT = 2.6


def stroke_width(ink: np.ndarray, low: float = 0.25) -> np.ndarray:
    """Estimated stroke width in pixels of each image of a stack (N, H, W): twice the ink
    area over the outline length (a stroke of length L and width w has area L*w and outline
    about 2L)."""
    mask = ink > low
    outline = (
        np.count_nonzero(mask[:, :, 1:] != mask[:, :, :-1], axis=(1, 2))
        + np.count_nonzero(mask[:, 1:, :] != mask[:, :-1, :], axis=(1, 2))
        + np.count_nonzero(mask[:, :, [0, -1]], axis=(1, 2))
        + np.count_nonzero(mask[:, [0, -1], :], axis=(1, 2))
    )
    area = ink.sum(axis=(1, 2), dtype=np.float64)
    return 2.0 * area / np.maximum(outline, 1)


def _thicken(ink: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Redraw one thin-stroked digit with MNIST-like stroke width: resample to a 4x
    intermediate (80 px box), binarize, dilate to the target width."""
    mid_box = 4 * BOX
    mid = render_batch(ink[None], box[None], frame=mid_box + 16, box=mid_box, centre=None)[0]
    peak = float(np.percentile(mid[mid > 0], 95)) if (mid > 0).any() else 1.0
    mask = mid > 0.3 * peak
    width = float(stroke_width(mask[None].astype(np.float32), 0.5)[0])
    r = int(round(max(0.0, THICKEN_TO * mid_box - width) / 2))
    thick = _dilate(mask, r).astype(np.float32) if r > 0 else mask.astype(np.float32)
    ys, xs = np.nonzero(thick)
    return thick, np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def ink_box(ink: np.ndarray) -> np.ndarray:
    """Bounding boxes (N, 4) x0, y0, x1, y1 (exclusive) of the ink of a stack (N, H, W);
    all zeros for an empty image."""
    n = ink.shape[0]
    cols = ink.any(axis=1)
    rows = ink.any(axis=2)
    has = cols.any(axis=1)
    x0 = np.argmax(cols, axis=1)
    x1 = cols.shape[1] - np.argmax(cols[:, ::-1], axis=1)
    y0 = np.argmax(rows, axis=1)
    y1 = rows.shape[1] - np.argmax(rows[:, ::-1], axis=1)
    out = np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)
    out[~has] = 0
    return out.reshape(n, 4)


def normalize_stack(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Cleaned ink stack (N, H, W) -> (28x28 images (N, 28, 28), boxes (N, 4), reasons).

    A reason is set (and the image is all zeros) when an ink image cannot be a digit: empty,
    a dot, or a horizontal dash. Thin-stroked digits are thickened first.
    """
    ink = np.asarray(ink, np.float32)
    n = ink.shape[0]
    boxes = ink_box(ink > 0)
    bw = (boxes[:, 2] - boxes[:, 0]).astype(np.float64)
    bh = (boxes[:, 3] - boxes[:, 1]).astype(np.float64)
    reasons: list[str | None] = [None] * n
    for i in np.flatnonzero(np.maximum(bw, bh) < MIN_SIDE):
        reasons[i] = "blank: no ink" if bw[i] == 0 else "blank: only a dot, not a digit"
    dash = (bw > MAX_ASPECT * np.maximum(bh, 1)) & (np.maximum(bw, bh) >= MIN_SIDE)
    for i in np.flatnonzero(dash):
        reasons[i] = (
            "not a single digit: the ink is much wider than tall (a dash, or "
            "several digits: read them as a number)"
        )
    ok = np.array([r is None for r in reasons])
    out = np.zeros((n, FRAME, FRAME), np.float32)
    if not ok.any():
        return out, boxes, reasons
    rel = stroke_width(ink) / np.maximum(np.maximum(bw, bh), 1)
    thin = ok & (rel < THIN_BELOW)
    plain = ok & ~thin
    if plain.any():
        out[plain] = render_batch(ink[plain], boxes[plain])
    for i in np.flatnonzero(thin):
        thick, tbox = _thicken(ink[i], boxes[i].astype(np.float64))
        out[i] = render_batch(thick[None], tbox[None])[0]
    peak = out.reshape(n, -1).max(axis=1)
    out /= np.where(peak > 0, peak, 1.0)[:, None, None]
    return out, boxes, reasons

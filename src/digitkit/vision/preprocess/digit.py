"""A single digit's ink, cleaned: noise and specks far from the digit dropped by the rule of
connected components, for one (big) image (:func:`digit_ink`) or a stack of small ones
(:func:`_clean_stack`, the same keep rule)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitkit.vision.preprocess import shortcuts
from digitkit.vision.preprocess.blocks import _block_max, _block_reduce
from digitkit.vision.preprocess.connected import components, label_components
from digitkit.vision.preprocess.ink import (
    MIN_INK_PIXELS,
    NOISE_FLOOR,
    STRONG,
    Ink,
    ink_region,
    noise_floor,
    noise_floors,
)
from digitkit.vision.preprocess.morphology import _dilate

REDUCED = 64  # big single digits are reduced by whole blocks to about this size first


@dataclass
class DigitInk:
    """A single digit's cleaned ink (see :func:`digit_ink`): ``ink`` is the crop reduced by
    ``factor`` (whole blocks), ``region`` the exact (rows, cols) of the kept ink in the work
    image; ``reason`` is set (and the rest meaningless) when there is no digit."""

    ink: np.ndarray
    region: tuple[slice, slice]
    factor: int = 1
    reason: str | None = None


def digit_ink(ink: Ink, floor: float | None = None) -> DigitInk:
    """The cleaned ink of a single digit, cropped to where ink is and reduced. Drops noise
    and specks far from the digit.

    The crop starts exactly at the ink, so translating a drawing changes nothing else. A big
    crop is reduced by f x f blocks to about REDUCED pixels a side before anything else: block
    maxima on clean canvases (a 1 px pen stroke keeps its full intensity, to be thickened
    later), block means on noisy photos (maxima would amplify the noise). Everything after
    that costs the same for a 280 px canvas as for a 4000 px photo. ``floor``: the ink's
    :func:`.ink.noise_floor` when the caller has measured it already.
    """
    if floor is None:
        floor = noise_floor(ink.ink)
    region = ink_region(ink.ink, floor, margin=0)
    for _ in range(2):
        result = _clean_region(ink.ink, region, floor)
        if result.reason or result.region == region:
            return result
        # Specks far away set the crop and its reduction: redo on the digit's own region, so
        # the digit comes out exactly as it would without them.
        region = result.region
    return result


def _clean_region(full: np.ndarray, region: tuple[slice, slice], floor: float) -> DigitInk:
    """:func:`digit_ink` on one crop of ``full``; ``region`` of the result is what it kept."""
    ry, rx = region
    a = full[ry, rx]
    if a.size == 0:
        return DigitInk(a, region, 1, "blank: ink too faint")
    f = max(1, int(max(a.shape) // REDUCED))
    if f > 1 and floor <= NOISE_FLOOR + 1e-6 and shortcuts.ON:
        a = _block_max(a, f)  # the maxima alone: the sums would go unused
    elif f > 1:
        peak, total = _block_reduce(a, f)
        a = peak if floor <= NOISE_FLOOR + 1e-6 else total / np.float32(f * f)
    comps = components(a, floor)
    real = comps.strong >= 1
    if not real.any():
        return DigitInk(a * 0, region, f, "blank: ink too faint")
    biggest = float(comps.mass[real].max())
    main = int(np.argmax(np.where(real, comps.mass, -1)))
    mb = comps.box[main]
    size = max(mb[2] - mb[0], mb[3] - mb[1])
    # Distance between boxes (0 when they overlap), relative to the main stroke's size.
    gap_x = np.maximum(0, np.maximum(comps.box[:, 0] - mb[2], mb[0] - comps.box[:, 2]))
    gap_y = np.maximum(0, np.maximum(comps.box[:, 1] - mb[3], mb[1] - comps.box[:, 3]))
    near = np.maximum(gap_x, gap_y) <= 0.5 * size
    keep = real & ((comps.mass >= 0.15 * biggest) | (near & (comps.mass >= 0.02 * biggest)))
    kept = np.concatenate([[False], keep])[comps.labels]
    cleaned = np.where(_dilate(kept, 1), a, np.float32(0.0)).astype(np.float32)
    if np.count_nonzero(cleaned >= STRONG) < MIN_INK_PIXELS:
        return DigitInk(a * 0, region, f, "blank: too little ink for a digit")
    # The exact full-resolution extent of what was kept.
    x0, y0 = comps.box[keep, 0].min() * f, comps.box[keep, 1].min() * f
    x1, y1 = comps.box[keep, 2].max() * f, comps.box[keep, 3].max() * f
    ys, xs = ink_region(full[ry, rx][y0:y1, x0:x1], floor, margin=0)
    kept_region = (
        slice(ry.start + y0 + ys.start, ry.start + y0 + ys.stop),
        slice(rx.start + x0 + xs.start, rx.start + x0 + xs.stop),
    )
    return DigitInk(cleaned, kept_region, f)


def _clean_stack(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`digit_ink`'s cleaning for a stack of small images at once: the components of
    every image in one labelling above its own noise floor, the same keep rule, and each
    image's strong-pixel count."""
    n, h, w = ink.shape
    # (In the ink's own dtype: compared as float64, a pixel of exactly float32(0.1) would
    # pass the lowest floor.)
    floors = noise_floors(ink).astype(ink.dtype)
    labels, k = label_components(ink > floors[:, None, None])
    if k == 0:
        return ink * 0, np.zeros(n, np.int64)
    fg = np.flatnonzero(labels)
    lab = labels.reshape(-1)[fg] - 1
    img, pix = np.divmod(fg, h * w)
    ys, xs = np.divmod(pix, w)
    vals = ink.reshape(-1)[fg]
    mass = np.bincount(lab, weights=vals, minlength=k)
    strong = np.bincount(lab, weights=vals >= STRONG, minlength=k)
    owner = np.zeros(k, np.int64)
    owner[lab] = img
    box = np.empty((4, k), np.int64)
    box[:2] = np.iinfo(np.int64).max
    box[2:] = -1
    np.minimum.at(box[0], lab, xs)
    np.minimum.at(box[1], lab, ys)
    np.maximum.at(box[2], lab, xs + 1)
    np.maximum.at(box[3], lab, ys + 1)
    real = strong >= 1
    scored = np.where(real, mass, -1.0)
    biggest = np.full(n, -1.0)
    np.maximum.at(biggest, owner, scored)
    main = np.full(n, 0, np.int64)
    is_main = real & (scored == biggest[owner])
    main[owner[is_main]] = np.flatnonzero(is_main)
    mb = box[:, main[owner]]  # each component's image's main box
    size = np.maximum(mb[2] - mb[0], mb[3] - mb[1])
    gap = np.maximum(
        np.maximum(0, np.maximum(box[0] - mb[2], mb[0] - box[2])),
        np.maximum(0, np.maximum(box[1] - mb[3], mb[1] - box[3])),
    )
    big = biggest[owner]
    keep = real & ((mass >= 0.15 * big) | ((gap <= 0.5 * size) & (mass >= 0.02 * big)))
    kept = np.concatenate([[False], keep])[labels]
    strong_px = np.bincount(owner[keep], weights=strong[keep], minlength=n).astype(np.int64)
    return np.where(_dilate(kept, 1), ink, np.float32(0.0)).astype(np.float32), strong_px

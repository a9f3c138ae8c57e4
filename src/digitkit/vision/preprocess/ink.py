"""Grey levels -> ink: polarity, background, contrast (:func:`extract_ink`), the noise floor
of an ink image or a stack (:func:`noise_floor`, :func:`noise_floors`; above a printed
pattern: :func:`pattern_floors`; a pattern with nothing written on it: :func:`pattern_only`)
and the region that holds its ink (:func:`ink_region`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from digitkit.vision.imageio import WORK_SIDE, block_factor, block_mean
from digitkit.vision.preprocess import shortcuts
from digitkit.vision.preprocess.background import (
    BORDER_BAND,
    _border,
    _flatten_background,
    _median,
)
from digitkit.vision.preprocess.morphology import _dilate

# Work on at most this many pixels on the longer side: bigger images (phone photos) are block
# averaged first; the digit still spans hundreds of pixels, far more than the 20 it ends up at.
# The decoder applies the same blocks while decoding (digitkit.vision.imageio.block_factor).
WORK_MAX = WORK_SIDE
MIN_CONTRAST = 0.12  # ink must differ from the background by this much (on a 0..1 scale)
# ... and its clearly-inked pixels (over half the peak) by this much on average: a pencil
# digit photographed on grey paper averages 0.09-0.12 (0.12, the same as MIN_CONTRAST, left
# 4% of such validation digits blank; benchmarks/RESULTS.md, "Faint pencil")
MIN_INK_LEVEL = 0.09
UNIFORM = "blank: no ink (the image is uniform)"  # under MIN_CONTRAST
TOO_FAINT = "blank: ink too faint"  # under MIN_INK_LEVEL
STRONG = 0.5  # fraction of the ink level that certainly is ink
MIN_INK_PIXELS = 6  # fewer strong pixels than this is a speck, not a digit
MIN_SIDE = 3  # an ink box smaller than this on its longer side is a dot
NOISE_FLOOR = 0.1  # the lowest noise floor: what a clean canvas gets
# The highest: a paper's grain under faint pencil can rise above half a stroke's level, and a
# lower cap left it joined to the digit (benchmarks/RESULTS.md, "The noise floor's cap").
NOISE_CAP = 0.6


@dataclass
class Ink:
    """An image reduced to its ink: float32 (H, W) in [0, 1], 0 = background, 1 = full ink.

    ``scale`` is input pixels per ink pixel (> 1 when a big image was reduced first);
    ``reason`` is set when there is no usable ink at all.
    """

    ink: np.ndarray
    inverted: bool
    scale: float = 1.0
    reason: str | None = None


def extract_ink(grey: np.ndarray, scale: float = 1.0, flatten: bool = True) -> Ink:
    """A grey image in [0, 1] -> its ink (polarity, background, contrast, nothing removed).

    ``scale``: input pixels per pixel of ``grey`` (a decoder's block reduction,
    ``digitkit.vision.imageio.load_image_reduced``), carried into ``Ink.scale``. ``flatten``
    False: the caller knows the background is plain (a canvas's drawing), so no uneven light
    is sought (a stroke along the edge would pass for it, and flattening hollows it)."""
    grey = np.asarray(grey, np.float32)
    f = block_factor(*grey.shape)
    if f > 1:
        grey = block_mean(grey, f)
        scale *= f
    h, w = grey.shape
    if max(h, w) < MIN_SIDE:
        return Ink(np.zeros_like(grey), False, scale, f"image too small ({w}x{h} pixels)")
    bg = _median(_border(grey))
    lo, hi = float(grey.min()), float(grey.max())
    inverted = (bg - lo) > (hi - bg)
    signal = (bg - grey) if inverted else (grey - bg)
    if flatten:
        signal = _flatten_background(signal)
    peak = float(signal.max())
    if peak < MIN_CONTRAST:
        return Ink(np.zeros_like(grey), inverted, scale, UNIFORM)
    # The ink level: the mean of clearly-inked pixels, so one hot pixel cannot set it alone.
    level = float(signal[signal > 0.5 * peak].mean())
    if level < MIN_INK_LEVEL:
        return Ink(np.zeros_like(grey), inverted, scale, TOO_FAINT)
    # In place: ``signal`` is this function's own float32 array (bg - grey, or the
    # flattened copy of it), so the same values without two more full-size temporaries.
    np.divide(signal, np.float32(level), out=signal)
    ink = np.clip(signal, 0.0, 1.0, out=signal)
    if pattern_only(ink[None])[0]:
        return Ink(np.zeros_like(ink), inverted, scale, PATTERN_ONLY)
    return Ink(ink, inverted, scale)


def noise_floor(ink: np.ndarray) -> float:
    """The level below which a pixel is background noise (from the background's spread)."""
    return float(noise_floors(ink[None])[0])


NOISE_SAMPLE = 4096  # pixels per image the background's spread is measured on (strided)


def nanmedian_rows(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=1)`` of float rows (N, K), the same values bit for bit (the
    middle order statistic, or the mean of the two in the rows' precision, as numpy takes it),
    from one sort of the stack: numpy's takes a Python call per row for rows this long."""
    ordered = np.sort(values, axis=1)  # NaNs sort last
    count = values.shape[1] - np.count_nonzero(np.isnan(values), axis=1)
    rows = np.arange(len(values))
    lo = ordered[rows, np.maximum((count - 1) // 2, 0)]
    hi = ordered[rows, count // 2]
    middle = np.where(count % 2 == 1, lo, (lo + hi) / values.dtype.type(2))
    return np.where(count > 0, middle, np.nan).astype(values.dtype, copy=False)


def noise_floors(stack: np.ndarray) -> np.ndarray:
    """:func:`noise_floor` of every image of a stack (N, H, W), vectorized: float64 (N,).

    The background is an image's pixels under 0.3; its floor is 4.5 robust standard
    deviations (1.4826 MAD) of them, between NOISE_FLOOR and NOISE_CAP. A clean canvas (most of
    its background exactly 0) or one with hardly any background gets NOISE_FLOOR. Paper
    grain under faint pencil is what this is for: a fixed floor joins the grain into the
    digit (benchmarks/RESULTS.md, "A noise floor per image for small crops"). A printed
    pattern under the writing raises the floor above itself (:func:`pattern_floors`)."""
    n = len(stack)
    if n == 0:
        return np.zeros(0)
    floors = pattern_floors(stack)
    flat = stack.reshape(n, -1)
    if flat.shape[1] > NOISE_SAMPLE:
        flat = flat[:, :: flat.shape[1] // NOISE_SAMPLE]
    # Zeros fill both middle ranks of the sorted background (a clean canvas's paper), so both
    # medians are 0 and so is the spread: the lowest floor, without sorting. (Checked on
    # the whole stack first: MNIST is mostly zeros, and the background mask costs as much.)
    zeros = np.count_nonzero(flat == 0, axis=1)
    if shortcuts.ON and (2 * zeros > flat.shape[1]).all():
        return floors
    back = flat < 0.3
    count = np.count_nonzero(back, axis=1)
    spread = np.flatnonzero((count >= 16) & ~((2 * zeros > count) & shortcuts.ON))
    if spread.size:
        values = np.where(back[spread], flat[spread], np.nan)
        median = nanmedian_rows(values)[:, None]
        mad = nanmedian_rows(np.abs(values - median))
        grain = np.clip(4.5 * 1.4826 * mad, NOISE_FLOOR, NOISE_CAP)
        floors[spread] = np.maximum(floors[spread], grain)
    return floors


# A printed pattern under the writing (a cheque's or a form's security print: families of
# fine wavy lines, lighter than ink) leaves ink-like lines all over the paper. Its pixels are
# mostly exact zeros between the lines, so the grain's spread (a median absolute deviation)
# does not see it, and its lines joined the digits' components. Where PATTERN_SHARE of every
# side of the border band (the paper around the writing, as in ``background._border``) holds
# ink under NOISE_CAP, the floor is the border's PATTERN_QUANTILE of it. Pixels within
# PATTERN_FRINGE of ink at NOISE_CAP or over count for neither: a blurred printed line, a
# box's wall or a stroke cut by the crop is not a pattern, and its fringe raised the floor
# of photographed boxes enough to lose faint digits (benchmarks/RESULTS.md, "A printed
# pattern under the writing").
PATTERN_SHARE = 0.15
PATTERN_QUANTILE = 0.98
PATTERN_FRINGE = 2
# A line of the band along its side (a row of the top band, a column of the left one) that is
# STRAIGHT_SHARE or more ink under NOISE_CAP, evenly (from pixel to pixel along it the ink
# changes by under STRAIGHT_ROUGHNESS of its level), is a printed wall or rule blurred under
# NOISE_CAP, not a pattern: a pattern's lines cross it. Such walls filled the band as a
# pattern does, the floor rose to them and print removal never saw them (benchmarks/RESULTS.md,
# "A blurred box's walls are not a pattern").
STRAIGHT_SHARE = 0.5
STRAIGHT_ROUGHNESS = 0.04
# A pattern printed as dark as the writing, or nearly (its lines at half the ink's level or
# more), is no under-cap ink at all: where its strong lines mesh the border band (:func:`_meshed`,
# as for a pattern with nothing written), the floor rises to the band's PATTERN_QUANTILE,
# up to MESH_FLOOR_CAP, over NOISE_CAP: writing darker than the pattern stays above it
# (benchmarks/RESULTS.md, "A dark pattern's floor").
MESH_FLOOR_CAP = 0.9


def pattern_floors(stack: np.ndarray) -> np.ndarray:
    """Each image's floor above a printed pattern filling its border band (N, H, W) ->
    float64 (N,); NOISE_FLOOR where no pattern fills it (or where an image is not 2-D: a
    bare run of pixel values has no border). Vectorized over the stack."""
    floors = np.full(len(stack), NOISE_FLOOR)
    if stack.ndim != 3:
        return floors
    b = max(1, min(stack.shape[1:]) // BORDER_BAND)

    def filled(mid_sides: Iterable[np.ndarray], n: int) -> np.ndarray:
        share = np.ones(n, bool)
        for side in mid_sides:  # lazily: a side that no image fills ends it
            share &= np.count_nonzero(side, axis=(1, 2)) >= PATTERN_SHARE * side[0].size
            if not share.any():
                break
        return share

    dark = np.flatnonzero(_meshed(stack, b))
    if dark.size:
        band = np.concatenate(
            [s.reshape(dark.size, -1) for s in _band_sides(stack[dark], b)], axis=1
        )
        level = np.quantile(band, PATTERN_QUANTILE, axis=1)
        floors[dark] = np.clip(level, NOISE_FLOOR, MESH_FLOOR_CAP)
    # Fringes and walls only ever take pixels out, so images that fail without them are done
    # (every clean canvas, looking at its border band alone), and only the rest pay for the
    # dilation of the whole image.
    maybe = np.flatnonzero(
        filled(((s > NOISE_FLOOR) & (s < NOISE_CAP) for s in _band_sides(stack, b)), len(stack))
    )
    if maybe.size == 0:
        return floors
    sub = stack[maybe]
    strong = sub >= NOISE_CAP
    mid = (sub > NOISE_FLOOR) & ~_dilate(strong, PATTERN_FRINGE) & ~strong
    values = _band_sides(sub, b)
    mid_sides = [
        m & ~_straight_lines(v, m)[..., None]
        for v, m in zip(values, _band_sides(mid, b), strict=True)
    ]
    found = filled(mid_sides, maybe.size)
    if found.any():
        paper = [
            np.where(m | (v <= NOISE_FLOOR), v, np.nan)[found].reshape(np.count_nonzero(found), -1)
            for v, m in zip(values, mid_sides, strict=True)
        ]
        level = np.nanquantile(np.concatenate(paper, axis=1), PATTERN_QUANTILE, axis=1)
        floors[maybe[found]] = np.maximum(
            floors[maybe[found]], np.clip(level, NOISE_FLOOR, NOISE_CAP)
        )
    return floors


def _band_sides(stack: np.ndarray, b: int) -> list[np.ndarray]:
    """The four sides of a stack's (N, H, W) border band ``b`` deep, each (N, b, side's
    length): its lines along the side (views)."""
    left, right = stack[:, :, :b].swapaxes(1, 2), stack[:, :, -b:].swapaxes(1, 2)
    return [stack[:, :b], stack[:, -b:], left, right]


# Nothing written on a printed pattern: with no writing to set the ink's level, the pattern's
# lines are the ink, at full level, and no floor under them tells them from strokes (such
# empty papers were read as a digit a third of the time, and empty patterned number fields as
# a number). A pattern crosses every line of the border band along its side again and again
# (a median of MESH_CROSSINGS edges of strong ink or more, whatever the image's size: a rate
# a pixel missed patterns photographed large; "Crossings, not a rate"), where a digit's
# strokes or a box's walls cross it a few times at most. Nothing is written where the
# pattern is as even inside as in the band: no window half the short side across holds
# MESH_CLUSTER times the band's share of strong ink, nor MESH_CLUSTER_FULL times its share of
# ink at full level (writing darker than the pattern sets that level; benchmarks/RESULTS.md,
# "Nothing written on a printed pattern").
PATTERN_ONLY = "blank: only a printed pattern, nothing written"
MESH_CROSSINGS = 6
MESH_CLUSTER = 1.5
MESH_CLUSTER_FULL = 3.0


def pattern_only(stack: np.ndarray) -> np.ndarray:
    """Which ink images of a stack (N, H, W), at their own ink level, are a printed pattern
    with nothing written on it: bool (N,). Vectorized; the windows are summed only for the
    images whose band is a mesh."""
    n, h, w = stack.shape
    found = np.zeros(n, bool)
    b = min(h, w) // BORDER_BAND
    if b < 1:
        return found
    idx = np.flatnonzero(_meshed(stack, b))
    if idx.size == 0:
        return found
    even = np.ones(idx.size, bool)
    sub = stack[idx]
    for mask, cluster in ((sub >= STRONG, MESH_CLUSTER), (sub >= 1.0, MESH_CLUSTER_FULL)):
        band = np.concatenate([s.reshape(idx.size, -1) for s in _band_sides(mask, b)], axis=1)
        even &= _densest_window(mask, min(h, w) // 2) < cluster * band.mean(axis=1)
    found[idx] = even
    return found


def _meshed(stack: np.ndarray, b: int) -> np.ndarray:
    """Which ink images (N, H, W) have strong ink crossing every line of their border band
    (``b`` deep) along its side again and again, as a printed pattern does (MESH_CROSSINGS).
    A side without strong ink ends it early: a canvas's clean band costs one look at one
    side."""
    meshed = np.ones(len(stack), bool)
    for side in _band_sides(stack, b):
        strong = side >= STRONG
        meshed &= strong.any(axis=(1, 2))
        if not meshed.any():
            break
        edges = np.median(np.count_nonzero(strong[..., 1:] != strong[..., :-1], axis=2), axis=1)
        meshed &= edges >= MESH_CROSSINGS
    return meshed


def _densest_window(mask: np.ndarray, k: int) -> np.ndarray:
    """The highest share of True in any k x k window of each mask of a stack (N, H, W):
    float64 (N,), from summed-area tables."""
    n, h, w = mask.shape
    sums = np.zeros((n, h + 1, w + 1), np.int32)
    sums[:, 1:, 1:] = mask.cumsum(axis=1, dtype=np.int32).cumsum(axis=2)
    windows = sums[:, k:, k:] - sums[:, :-k, k:] - sums[:, k:, :-k] + sums[:, :-k, :-k]
    return windows.max(axis=(1, 2)) / (k * k)


def _straight_lines(values: np.ndarray, mid: np.ndarray) -> np.ndarray:
    """Which lines of a band's side (N, b, L) are a straight print: STRAIGHT_SHARE of them
    under-cap ink, changing by under STRAIGHT_ROUGHNESS of its level from pixel to pixel. Bool
    (N, b)."""
    count = np.count_nonzero(mid, axis=2)
    level = np.where(mid, values, 0).sum(axis=2) / np.maximum(count, 1)
    pairs = mid[..., 1:] & mid[..., :-1]
    step = np.where(pairs, np.abs(np.diff(values, axis=2)), 0).sum(axis=2)
    step /= np.maximum(np.count_nonzero(pairs, axis=2), 1)
    return (count >= STRAIGHT_SHARE * values.shape[2]) & (step < STRAIGHT_ROUGHNESS * level)


def ink_region(ink: np.ndarray, low: float, margin: int = 2) -> tuple[slice, slice]:
    """Rows and columns holding every pixel above ``low`` (plus a margin): the only part of a
    big canvas that later steps need to look at."""
    mask = ink > low
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    h, w = ink.shape
    return (
        slice(max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)),
        slice(max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)),
    )

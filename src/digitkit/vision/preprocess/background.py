"""The paper's level and uneven light: the background of an image and its flattening.

The background level is the median of a band around the image (:func:`_border`,
:func:`_median`); where the border's sides disagree (a photo lit from one side), a smooth
field of local paper levels is subtracted (:func:`flatten_background_stack`). Flat canvases
are never touched, so thick strokes are never hollowed out. A shadow's sharp edge, which a
smooth field cannot follow, is taken out by a grey opening of the signal.
"""

from __future__ import annotations

import numpy as np

from digitkit.vision.preprocess.morphology import grey_opening

# The background level is the median of a band 1/BORDER_BAND of the side wide around the
# image. A crop cut along a printed cell border has the border on its edge: in a band 1/32
# wide (2 px of a 64 px crop) the border was the majority, so the paper was taken for ink.
# An eighth is still clear of the digit (MNIST's own margin is a seventh of the frame).
BORDER_BAND = 8


def _border(a: np.ndarray) -> np.ndarray:
    b = max(1, min(a.shape) // BORDER_BAND)
    return np.concatenate([a[:b].ravel(), a[-b:].ravel(), a[:, :b].ravel(), a[:, -b:].ravel()])


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D float32 array, without sorting when one value fills most of it.

    A value held by more than half of the entries occupies both middle ranks of the sorted
    array, so it is the median exactly. The border of a clean canvas is one paper level: a
    comparison and a count instead of a partition of the whole border."""
    candidate = values[0]
    # (np.median answers NaN when any entry is NaN; the count never sees a NaN as a match.)
    if 2 * np.count_nonzero(values == candidate) > values.size and not np.isnan(values.sum()):
        return float(candidate)
    return float(np.median(values))


UNEVEN_LIGHT = 0.06  # border sides whose median levels differ by this much show uneven light
LIGHT_GRID = 8  # the background field is sampled on a LIGHT_GRID x LIGHT_GRID grid of cells
# The paper's level in a cell: a low percentile, so ink filling most of the cell is ignored
# (ink is positive in the signal) while a little noise does not set it. A digit cropped tight
# to its ink has cells of a thick stroke 70 % inked, where a higher percentile took the stroke
# for shadow and hollowed it out (benchmarks/RESULTS.md, "Tight crops").
PAPER_PERCENTILE = 10
SIDE_PERCENTILE = 25
# The paper's level also follows a shadow's sharp edge: a grey opening over a square a third
# of the crop's side (a quarter fitted in thick strokes of 48 px crops), except in crops cut
# to their ink, whose strokes can be a third of the crop thick: those with signal over
# CUT_TO_INK of its peak on all four edges (half the peak missed two thirds of MNIST's tight
# crops: their strong ink stops short of an edge). Benchmarks/RESULTS.md, "A shadow's edge".
OPENING_FRACTION = 3
CUT_TO_INK = 0.15
# The light is smooth: a grid cell whose paper level stands over INK_CELL of the way from its
# neighbours' (their median) to the image's peak, and INK_CELL_MIN above them or more, is a
# thick stroke filling the cell (a digit or a number cut tight to its ink), not light; it takes
# its neighbours' level, so the stroke is not subtracted from itself. A shadow darkens paper
# by at most about a third: less than a pen's stroke (benchmarks/RESULTS.md, "Thick strokes
# of tight crops").
INK_CELL = 0.5
INK_CELL_MIN = 0.4
# ... its neighbours: the cells within this many of it (two: a stroke two cells thick, a bold
# digit cut tight, has ink in half of the eight around a cell; rule GF3 in benchmarks/RESULTS.md)
INK_CELL_REACH = 2


def _low_quantile(rows: np.ndarray, percent: float) -> np.ndarray:
    """Each row's ``percent``-th percentile (the lower order statistic, no interpolation):
    one partition, several times cheaper than ``np.percentile`` on a single image."""
    k = int(percent / 100 * (rows.shape[1] - 1))
    return np.partition(rows, k, axis=1)[:, k]


def _percentile_rows(rows: np.ndarray, percent: int) -> np.ndarray:
    """``np.percentile(rows, percent, axis=1)`` of finite float rows (N, K), the same values
    bit for bit (linear interpolation between the two order statistics around the
    percentile, in the rows' precision as numpy does for a plain-number ``percent``), from
    one partition: a tenth of numpy's cost on the small cells of the light grid, which it
    takes 64 times an image."""
    virtual = (rows.shape[1] - 1) * (percent / 100)
    lo = int(np.floor(virtual))
    hi = min(lo + 1, rows.shape[1] - 1)
    part = np.partition(rows, (lo, hi), axis=1)
    a, b = part[:, lo], part[:, hi]
    t = float(virtual - lo)  # a Python float: the arithmetic stays in the rows' precision
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _sides_surely_even(bands: list[np.ndarray]) -> bool:
    """True when no image of the stack can show uneven light, decided without sorting.

    ``bands`` are the four sides' pixels, each (N, band pixels). Every side's
    SIDE_PERCENTILE-th percentile is at least the lowest pixel of all bands, ``floor``; it is
    below ``floor + UNEVEN_LIGHT / 2`` when more pixels than its rank are. Then the sides
    differ by less than UNEVEN_LIGHT and :func:`flatten_background_stack` would change
    nothing: the common case of a clean canvas (its paper is exactly the background level)
    costs a comparison and a count per side instead of four partitions. The half margin
    keeps float rounding of the difference out of the decision."""
    floor = np.min([band.min(axis=1) for band in bands], axis=0)[:, None]
    below = floor + np.float32(UNEVEN_LIGHT / 2)
    for band in bands:
        rank = int(SIDE_PERCENTILE / 100 * (band.shape[1] - 1))
        if (np.count_nonzero(band < below, axis=1) <= rank).any():
            return False
    return True


def flatten_background_stack(signal: np.ndarray) -> np.ndarray:
    """Subtract a smooth background field where the light is uneven (photos of paper).

    ``signal`` (N, H, W) is ink-positive (ink brighter than background). Each cell of a coarse
    grid takes its PAPER_PERCENTILE-th percentile, the level the paper has there, unless ink
    fills most of it (a cell far above its neighbours, :func:`_ink_cells_filled`, takes
    theirs: a thick stroke of a crop cut to its ink); the grid is interpolated bilinearly,
    and raised to a grey opening of the signal where that is higher (a shadow's sharp edge;
    not in crops cut to their ink). Only applied to images whose border sides disagree, so a
    flat synthetic canvas is returned as is; images under 32 px are too small to hold a light
    gradient apart from their ink.
    Vectorized over the stack: the loops run over the grid's cells, not over images.
    """
    n, h, w = signal.shape
    if min(h, w) < 32 or n == 0:
        return signal
    # As wide as the polarity band: a printed border along one edge of the crop must not
    # pass for uneven light (flattening would hollow out the digit's thick strokes).
    b = max(1, min(h, w) // BORDER_BAND)
    bands = [
        s.reshape(n, -1)
        for s in (signal[:, :b], signal[:, -b:], signal[:, :, :b], signal[:, :, -b:])
    ]
    if _sides_surely_even(bands):
        return signal
    # A low percentile of each side's band: ink and printed borders only ever raise the
    # signal, so they must cover most of a band to move it, while uneven light moves it all.
    sides = np.stack([_low_quantile(s, SIDE_PERCENTILE) for s in bands], 1)
    uneven = sides.max(axis=1) - sides.min(axis=1) >= UNEVEN_LIGHT
    if not uneven.any():
        return signal
    s = signal[uneven]
    m, g = len(s), LIGHT_GRID
    ys = np.linspace(0, h, g + 1).astype(int)
    xs = np.linspace(0, w, g + 1).astype(int)
    grid = np.empty((m, g, g), np.float32)
    for i in range(g):
        for j in range(g):
            cell = s[:, ys[i] : ys[i + 1], xs[j] : xs[j + 1]].reshape(m, -1)
            grid[:, i, j] = _percentile_rows(cell, PAPER_PERCENTILE)
    grid = _ink_cells_filled(grid, s.reshape(m, -1).max(axis=1))
    # Cell centres plus the image corners, extrapolated linearly, so the light keeps its slope
    # all the way to the edges instead of flattening out at the outermost centres.
    cy = np.concatenate([[0.0], (ys[:-1] + ys[1:]) / 2.0, [h - 1.0]])
    cx = np.concatenate([[0.0], (xs[:-1] + xs[1:]) / 2.0, [w - 1.0]])
    grid = np.concatenate(
        [2 * grid[:, :1] - grid[:, 1:2], grid, 2 * grid[:, -1:] - grid[:, -2:-1]], axis=1
    )
    grid = np.concatenate(
        [2 * grid[:, :, :1] - grid[:, :, 1:2], grid, 2 * grid[:, :, -1:] - grid[:, :, -2:-1]],
        axis=2,
    )
    # Separable linear interpolation as two small matrix products (no per-row loop).
    wy = np.clip(1 - np.abs(np.arange(h)[:, None] - cy[None, :]) / np.diff(cy).max(), 0, None)
    wx = np.clip(1 - np.abs(np.arange(w)[:, None] - cx[None, :]) / np.diff(cx).max(), 0, None)
    wy /= wy.sum(axis=1, keepdims=True)
    wx /= wx.sum(axis=1, keepdims=True)
    field = (wy[None] @ grid @ wx.T[None]).astype(np.float32)
    # A shadow's sharp edge is a step the smooth field cannot follow: its dark side would be
    # left as a ridge of "ink", read as a 1. An opening (a minimum, then a maximum, over a
    # window wider than any stroke) keeps large dark areas and drops strokes: the paper's
    # level is the higher of the two. A shade reaches two or three edges of the crop.
    loose = ~_cut_to_ink(s)
    if loose.any():
        width = max(3, min(h, w) // OPENING_FRACTION)
        field[loose] = np.maximum(field[loose], grey_opening(s[loose], width))
    out = signal.astype(np.float32, copy=True)
    out[uneven] = s - field
    return out


def _ink_cells_filled(grid: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """The light grid (M, G, G) with each cell that stands over INK_CELL of the way from its
    neighbours' (within INK_CELL_REACH cells) median level to the image's ``peak`` (M,), and
    INK_CELL_MIN above it, set to that median: ink filled it."""
    m, g, _ = grid.shape
    r = INK_CELL_REACH
    padded = np.pad(grid, ((0, 0), (r, r), (r, r)), constant_values=np.nan)
    around = np.stack(
        [
            padded[:, r + dy : r + dy + g, r + dx : r + dx + g]
            for dy in range(-r, r + 1)
            for dx in range(-r, r + 1)
            if dy or dx
        ],
        axis=-1,
    )
    level = np.nanmedian(around, axis=-1).astype(np.float32)  # every cell has neighbours
    above = grid - level
    inked = (above > np.float32(INK_CELL) * (peak[:, None, None] - level)) & (
        above >= np.float32(INK_CELL_MIN)
    )
    return np.where(inked, level, grid)


def _cut_to_ink(signal: np.ndarray) -> np.ndarray:
    """Which images of a stack (N, H, W) have signal over CUT_TO_INK of their peak on all
    four edges: a crop cut to its ink (a scanned digit, a digit cut out of a page)."""
    peak = signal.reshape(len(signal), -1).max(axis=1)
    inked = signal > np.float32(CUT_TO_INK) * peak[:, None, None]
    return (
        inked[:, 0].any(axis=1)
        & inked[:, -1].any(axis=1)
        & inked[:, :, 0].any(axis=1)
        & inked[:, :, -1].any(axis=1)
    )


def _flatten_background(signal: np.ndarray) -> np.ndarray:
    """:func:`flatten_background_stack` for one image (H, W)."""
    return flatten_background_stack(signal[None])[0]

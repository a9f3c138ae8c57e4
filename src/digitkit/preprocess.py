"""Any image -> the normalized 28x28 input MNIST models expect.

MNIST digits are white on black, cropped to their ink, scaled so the longer side is 20 px
(aspect kept, anti-aliased) and shifted so the centre of mass sits at the centre of a 28x28
frame. What people hand a recognizer looks nothing like that, so every entry point (CLI,
REST API, desktop app, Recognizer, segmentation) goes through the same steps here:

1. decode (``digitkit.imageio``): alpha composited onto the background that contrasts with
   the ink;
2. polarity: the background is the median of the border; the ink is whichever side of it
   (darker or lighter) deviates more, so black-on-white and white-on-black both work;
3. background flattening: when the border shows uneven light (a photo), a coarse grid of
   local background levels is subtracted; flat canvases are never touched, so thick strokes
   are never hollowed out;
4. contrast normalized to the ink level; printed lines removed (cell borders cut by the crop
   or around the digit, ruled lines: long, thin, straight runs of ink, judged by where they
   lie relative to the rest, :func:`remove_lines`); faint noise and specks removed by
   hysteresis on connected components (weak pixels survive only next to strong ink, so
   anti-aliased edges and thin strokes are kept, not thinned);
5. crop to the ink box, stroke-width normalization for thin pens, anti-aliased resampling to a
   20 px box and placement by centre of mass (:func:`render_batch`, one matrix product per
   axis, vectorized over a batch).

Stacks of equal-sized images (an (N, H, W) array, Kaggle CSV rows) are processed with the
same code vectorized over the batch: :func:`to_mnist_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from digitkit.imageio import WORK_SIDE, block_factor, load_image_reduced

FRAME = 28
BOX = 20
# MNIST's measured mean centre of mass is (14.0, 14.0) in pixel-index coordinates (row, col):
# the continuous point 14.5 when pixel i spans [i, i + 1).
CENTRE = 14.0
# Work on at most this many pixels on the longer side: bigger images (phone photos) are block
# averaged first; the digit still spans hundreds of pixels, far more than the 20 it ends up at.
# The decoder applies the same blocks while decoding (digitkit.imageio.block_factor).
WORK_MAX = WORK_SIDE
MIN_CONTRAST = 0.12  # ink must differ from the background by this much (on a 0..1 scale)
STRONG = 0.5  # fraction of the ink level that certainly is ink
MIN_INK_PIXELS = 6  # fewer strong pixels than this is a speck, not a digit
MIN_SIDE = 3  # an ink box smaller than this on its longer side is a dot
# Stroke width relative to the ink box's longer side: MNIST's 1st percentile is 0.053, its
# median 0.098. Thinner strokes (a fine pen on a big canvas) would fade to nothing when
# downscaled, so they are thickened to THICKEN_TO first.
THIN_BELOW = 0.05
THICKEN_TO = 0.09
# Wider than this (width / height) is a dash or a whole number, not one digit: MNIST's widest
# training digit is 2.0.
MAX_ASPECT = 2.6
# Images up to this size on each side are processed as stacks (vectorized over the batch);
# larger ones one by one (block reduction, background flattening, cropping to the ink).
SMALL_SIDE = 64
CHUNK = 2048  # stacks are preprocessed this many images at a time
REDUCED = 64  # big single digits are reduced by whole blocks to about this size first
NOISE_FLOOR = 0.1  # the lowest noise floor: what a clean canvas gets
# The background level is the median of a band 1/BORDER_BAND of the side wide around the
# image. A crop cut along a printed cell border has the border on its edge: in a band 1/32
# wide (2 px of a 64 px crop) the border was the majority, so the paper was taken for ink.
# An eighth is still clear of the digit (MNIST's own margin is a seventh of the frame).
BORDER_BAND = 8


@dataclass
class Preprocessed:
    """The result of :func:`to_mnist`.

    ``image`` is the 28x28 float32 model input in [0, 1], white ink on black (None when
    ``blank``); ``reason`` says why an image is blank; ``inverted`` is True when the input was
    dark ink on a light background; ``box`` is the ink's bounding box (x0, y0, x1, y1) in input
    pixels (x1, y1 exclusive), None when blank.
    """

    image: np.ndarray | None
    blank: bool
    reason: str | None = None
    inverted: bool = False
    box: tuple[int, int, int, int] | None = None


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


# --------------------------------------------------------------------------- components


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 8-connected components of a boolean mask (H, W) or stack (N, H, W).

    Returns (labels of the mask's shape, 0 = background and 1..k, k). Components never cross
    images of a stack. Vectorized union-find over horizontal runs: every round hooks each root
    to the smallest root it touches, then compresses paths by pointer jumping; rounds grow
    logarithmically, with no per-pixel Python loop.
    """
    m = mask[None] if mask.ndim == 2 else mask
    nimg, h, w = m.shape
    # One zero column right of every row and one zero row under every image: in the flat
    # index space a neighbour is then a constant offset away and never wraps around.
    padded = np.zeros((nimg, h + 1, w + 1), bool)
    padded[:, :h, :w] = m
    flat = padded.reshape(-1)
    idx = np.flatnonzero(flat)
    n = idx.size
    if n == 0:
        return np.zeros(mask.shape, np.int32), 0
    # Nodes are horizontal runs of ink, not pixels: a run is connected by construction, so
    # there are fewer nodes and shorter chains to compress (30 % faster, measured). A pixel
    # starts a run when the pixel left of it is background (the padding column ends rows).
    starts = ~flat[idx - 1]
    run = np.cumsum(starts, dtype=np.int32) - 1
    nr = int(run[-1]) + 1
    node = np.zeros(flat.size + w + 2, np.int32)  # room for the last pixel's neighbours
    node[idx] = run
    ink_at = np.concatenate([flat, np.zeros(w + 2, bool)])
    us, vs = [], []
    for d in (w, w + 1, w + 2):  # south-west, south, south-east
        # Gathers over the ink pixels only: far cheaper than scanning the whole stack.
        has = np.flatnonzero(ink_at[idx + d])
        us.append(run[has])
        vs.append(node[idx[has] + d])
    u = np.concatenate(us)
    v = np.concatenate(vs)
    parent = np.arange(nr, dtype=np.int32)
    while u.size:
        pu, pv = parent[u], parent[v]
        apart = pu != pv
        if not apart.any():
            break
        u, v, pu, pv = u[apart], v[apart], pu[apart], pv[apart]
        # Hook the larger root under the smaller one. Plain assignment (last write wins) is
        # enough: every write points to a smaller index, so no cycle can form.
        parent[np.maximum(pu, pv)] = np.minimum(pu, pv)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    roots = parent == np.arange(nr, dtype=np.int32)
    comp_id = np.cumsum(roots, dtype=np.int32)  # 1..k at the roots
    labels = np.zeros(flat.size, np.int32)
    labels[idx] = comp_id[parent[run]]
    labels = labels.reshape(nimg, h + 1, w + 1)[:, :h, :w].reshape(mask.shape)
    return np.ascontiguousarray(labels), int(comp_id[-1])


@dataclass
class Components:
    """Per-component statistics of a labelled 2-D ink image (index k-1 for label k)."""

    labels: np.ndarray
    area: np.ndarray  # pixels
    mass: np.ndarray  # summed ink
    strong: np.ndarray  # strong pixels
    box: np.ndarray  # (k, 4) x0, y0, x1, y1 (exclusive)

    def __len__(self) -> int:
        return len(self.area)


def components(
    ink: np.ndarray, low: float, strong: float = STRONG, mass: np.ndarray | None = None
) -> Components:
    """Connected components of ``ink > low`` in a 2-D ink image, with their statistics
    (``mass`` sums ``mass`` instead of ``ink`` when given: block sums of a reduced image)."""
    labels, k = label_components(ink > low)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    area = np.bincount(lab, minlength=k)
    mass = np.bincount(lab, weights=(ink if mass is None else mass)[ys, xs], minlength=k)
    strong_n = np.bincount(lab, weights=(ink[ys, xs] >= strong), minlength=k)
    box = np.empty((k, 4), np.int64)
    # np.nonzero walks in raster order, so a component's first and last pixels give its top
    # and bottom rows; the same walk over the transpose gives its left and right columns.
    order = np.arange(lab.size)
    first, last = np.empty(k, np.int64), np.empty(k, np.int64)
    first[lab[::-1]] = order[::-1]
    last[lab] = order
    box[:, 1], box[:, 3] = ys[first], ys[last] + 1
    xt, _ = np.nonzero(labels.T)
    lab_t = labels.T[xt, _] - 1
    first[lab_t[::-1]] = order[::-1]
    last[lab_t] = order
    box[:, 0], box[:, 2] = xt[first], xt[last] + 1
    return Components(labels, area, mass, strong_n, box)


# --------------------------------------------------------------------------- ink extraction


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    return a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3), dtype=np.float32)


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


def _flatten_background(signal: np.ndarray) -> np.ndarray:
    """:func:`flatten_background_stack` for one image (H, W)."""
    return flatten_background_stack(signal[None])[0]


UNEVEN_LIGHT = 0.06  # border sides whose median levels differ by this much show uneven light
LIGHT_GRID = 8  # the background field is sampled on a LIGHT_GRID x LIGHT_GRID grid of cells
# The paper's level in a cell: a low percentile, so ink filling part of the cell is ignored
# (ink is positive in the signal) while a little noise does not set it.
PAPER_PERCENTILE = 30
SIDE_PERCENTILE = 25


def _low_quantile(rows: np.ndarray, percent: float) -> np.ndarray:
    """Each row's ``percent``-th percentile (the lower order statistic, no interpolation):
    one partition, several times cheaper than ``np.percentile`` on a single image."""
    k = int(percent / 100 * (rows.shape[1] - 1))
    return np.partition(rows, k, axis=1)[:, k]


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
    fills most of it; the grid is interpolated bilinearly. Only applied to images whose border
    sides disagree, so a flat synthetic canvas is returned as is; images under 32 px are too
    small to hold a light gradient apart from their ink. Vectorized over the stack: the loops
    run over the grid's cells, not over images.
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
            grid[:, i, j] = np.percentile(cell, PAPER_PERCENTILE, axis=1)
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
    out = signal.astype(np.float32, copy=True)
    out[uneven] = s - field
    return out


def extract_ink(grey: np.ndarray, scale: float = 1.0) -> Ink:
    """A grey image in [0, 1] -> its ink (polarity, background, contrast, nothing removed).

    ``scale``: input pixels per pixel of ``grey`` (a decoder's block reduction,
    ``digitkit.imageio.load_image_reduced``), carried into ``Ink.scale``."""
    grey = np.asarray(grey, np.float32)
    f = block_factor(*grey.shape)
    if f > 1:
        grey = _block_mean(grey, f)
        scale *= f
    h, w = grey.shape
    if max(h, w) < MIN_SIDE:
        return Ink(np.zeros_like(grey), False, scale, f"image too small ({w}x{h} pixels)")
    bg = _median(_border(grey))
    lo, hi = float(grey.min()), float(grey.max())
    inverted = (bg - lo) > (hi - bg)
    signal = (bg - grey) if inverted else (grey - bg)
    signal = _flatten_background(signal)
    peak = float(signal.max())
    if peak < MIN_CONTRAST:
        return Ink(np.zeros_like(grey), inverted, scale, "blank: no ink (the image is uniform)")
    # The ink level: the mean of clearly-inked pixels, so one hot pixel cannot set it alone.
    level = float(signal[signal > 0.5 * peak].mean())
    if level < MIN_CONTRAST:
        return Ink(np.zeros_like(grey), inverted, scale, "blank: ink too faint")
    ink = np.clip(signal / np.float32(level), 0.0, 1.0)
    return Ink(ink.astype(np.float32), inverted, scale)


def noise_floor(ink: np.ndarray) -> float:
    """The level below which a pixel is background noise (from the background's spread)."""
    flat = ink.ravel()
    sample = flat if flat.size <= 4096 else flat[:: flat.size // 4096]
    back = sample[sample < 0.3]
    if back.size < 16:
        return NOISE_FLOOR
    mad = float(np.median(np.abs(back - np.median(back))))
    return float(np.clip(4.5 * 1.4826 * mad, NOISE_FLOOR, 0.45))


def _dilate(mask: np.ndarray, r: int = 1) -> np.ndarray:
    """Square max filter of radius ``r`` over the last two axes (separable shifts)."""
    out = mask
    for axis in (-1, -2):
        acc = out.copy()
        for d in range(1, r + 1):
            lo = [slice(None)] * out.ndim
            hi = [slice(None)] * out.ndim
            lo[axis], hi[axis] = slice(d, None), slice(None, -d)
            np.maximum(acc[tuple(lo)], out[tuple(hi)], out=acc[tuple(lo)])
            np.maximum(acc[tuple(hi)], out[tuple(lo)], out=acc[tuple(hi)])
        out = acc
    return out


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


# Up to this block side, _block_reduce combines the f*f strided views one by one (fastest for
# the small factors of canvases and photos); beyond it (a long strip reduced by hundreds: f*f
# Python-level steps took 0.3 s for a 16000x40 bar) it reduces a 4-D view in one pass.
VIEW_LOOP_MAX_FACTOR = 8


def _block_reduce(a: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """(block maxima, block sums) of ``a`` over f x f blocks, zero-padded to a multiple of f.

    The sums add each block's pixels one after another in raster order, whichever way they
    are computed, so both ways give the same float32 bits."""
    h, w = a.shape
    ph, pw = -h % f, -w % f
    if ph or pw:
        a = np.pad(a, ((0, ph), (0, pw)))
    if f > VIEW_LOOP_MAX_FACTOR and a.dtype == np.float32:  # (ink always is)
        return _block_reduce_4d(a, f)
    # f*f strided views combined elementwise: much faster than reducing a 4-D view.
    views = [a[i::f, j::f] for i in range(f) for j in range(f)]
    peak, total = views[0].copy(), views[0].astype(np.float32)
    for v in views[1:]:
        np.maximum(peak, v, out=peak)
        total += v
    return peak, total


def _block_reduce_4d(a: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_block_reduce` of an array whose sides are multiples of ``f``, as whole-array
    reductions: the maxima over a 4-D view, the sums as a sequential accumulation over each
    block's pixels in raster order (``np.add.accumulate`` adds strictly one after another,
    like the view loop; a plain sum would add pairwise and round differently)."""
    bh, bw = a.shape[0] // f, a.shape[1] // f
    blocks = a.reshape(bh, f, bw, f)
    peak = blocks.max(axis=(1, 3))
    pixels = blocks.transpose(0, 2, 1, 3).reshape(bh, bw, f * f).astype(np.float32)
    total = np.add.accumulate(pixels, axis=2)[:, :, -1]
    return peak, np.ascontiguousarray(total)


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
    :func:`noise_floor` when the caller has measured it already.
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
    if f > 1:
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


# --------------------------------------------------------------------------- printed lines

# Photos of form cells show parts of the printed cell border; a ruled page shows its rules.
# Read as ink, a border becomes the digit (a box reads as 0, a side as 1 or 7). Lines are
# found by shape: long, thin, straight runs of ink. Their sizes are fractions of the ink's
# extent (the scale: the larger side of the box holding all but LINE_TRIM of the ink, which
# includes the borders), so the same drawing on a bigger canvas is judged the same; only
# "cut by the crop" is relative to the image itself.
LINE_LOW = 0.1  # ink above this can belong to a line: the floor of the component cleaning
# (a fainter part of a line would join the digit there); grey printed borders come out at
# about 0.3 of the pen's ink level, and their anti-aliased edges must go with them
LINE_RUN = 0.3  # a line is at least this long: a cell border is as long as the cell, a
# digit's straight strokes only rarely pass the gates below
LINE_THICK = 0.09  # thicker than this is a pen stroke: borders are 1-4 px in a 64 px crop
# (up to 0.063 of it, blur adds a pixel); MNIST strokes are 0.13 of the digit's height
LINE_BAND = 0.03  # skew tolerance: a line's run is measured in a band this many rows wide
# each side, so a 2 px line tilted up to about 9 degrees (camera roll + skew) stays one run
LINE_FILL = 0.5  # a line's thin pixels fill at least this fraction of its length (a thick
# stroke with a thin tail is no line)
LINE_EDGE = 0.04  # a line that ends this close to the image edge (fraction of the image
LINE_EDGE_LONG = 0.5  # side) was cut by the crop when it is also this long: a border
# crosses the crop, a digit's stroke touching the edge of a tight crop is shorter
LINE_CENTRAL = 0.12  # a line within this of the ink's centre is taken to be the digit (a
# 1): a cell is centred on its digit, its borders lie at least the digit's half size off
LINE_BEYOND = 0.1  # a border passes the digit by at least this much at both ends; a
# digit's own straight stroke (a 7's bar, a 2's base) ends where the digit goes on, give or
# take its round end and a junction at an acute angle (0.04 removed such strokes from 0.5 %
# of thin-pen MNIST digits, 0.1 from 0.1 %)
LINE_SIDE = 0.1  # a border has at most this fraction of the digit's ink on its far side
# (where it clips the digit); a stroke crossing the digit (a 4's bar) has more
LINE_TRIM = 0.01  # extents leave out this fraction of the ink at each end, so a few stray
# pixels (noise, a speck, a border's leftover corner) do not set them
LINE_KEEP = 0.15  # nothing is removed when less than this fraction of the ink (or fewer
# than MIN_INK_PIXELS strong pixels) would remain: a thin digit in a box has a fifth or
# more of the ink (a 1 in four borders), a lone stroke's leftovers less
LINE_MIN_SIDE = 16  # smaller ink has no room for a border and a digit
FRINGE = 0.5  # weaker pixels next to a removed line are its anti-aliased edge: removed too

_U64 = np.dtype("<u8")


def _pack(mask: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N, H, ceil(W / 64)) little-endian uint64 words, pixel x at bit
    x % 64 of word x // 64: the line morphology below works on 64 pixels per operation."""
    n, h, w = mask.shape
    nw = -(-w // 64)
    if w % 64:
        mask = np.concatenate([mask, np.zeros((n, h, nw * 64 - w), bool)], axis=2)
    return np.packbits(mask, axis=2, bitorder="little").view(_U64)


def _unpack(words: np.ndarray, w: int) -> np.ndarray:
    """Inverse of :func:`_pack`."""
    raw = np.ascontiguousarray(words).view(np.uint8)
    return np.unpackbits(raw, axis=2, count=w, bitorder="little").view(bool)


def _shift_x(a: np.ndarray, s: int) -> np.ndarray:
    """Packed rows shifted so that ``out[x] = a[x + s]`` (zeros shifted in)."""
    nw = a.shape[-1]
    q, r = divmod(abs(s), 64)
    if s == 0:
        return a.copy()
    out = np.zeros_like(a)
    if q >= nw:
        return out
    up, down = np.uint64(r), np.uint64(64 - r)
    if s > 0:  # towards lower x: bits move down, the next word's low bits fill in
        src, dst = a[..., q:], out[..., : nw - q]
        if r == 0:
            dst[...] = src
        else:
            dst[...] = src >> up
            dst[..., :-1] |= src[..., 1:] << down
    else:
        src, dst = a[..., : nw - q], out[..., q:]
        if r == 0:
            dst[...] = src
        else:
            dst[...] = src << up
            dst[..., 1:] |= src[..., :-1] >> down
    return out


def _shift_y(a: np.ndarray, s: int) -> np.ndarray:
    """Rows shifted so that ``out[y] = a[y + s]`` (zeros shifted in)."""
    h = a.shape[1]
    out = np.zeros_like(a)
    if abs(s) < h:
        if s >= 0:
            out[:, : h - s] = a[:, s:]
        else:
            out[:, -s:] = a[:, : h + s]
    return out


def _long_runs(a: np.ndarray, length: int, shift) -> np.ndarray:
    """Packed pixels lying in a run of at least ``length`` along ``shift``'s axis: an opening
    by a segment, as erosion then dilation in doubling steps (log2(length) operations)."""
    eroded, k = a, 1
    while k < length:  # eroded[x]: the run covers x .. x + k - 1
        s = min(k, length - k)
        eroded = eroded & shift(eroded, s)
        k += s
    out, k = eroded, 1
    while k < length:
        s = min(k, length - k)
        out = out | shift(out, -s)
        k += s
    return out


def _reach(a: np.ndarray, d: int, shift, sign: int) -> np.ndarray:
    """Packed pixels with a set pixel 1..d steps away in one direction along ``shift``'s
    axis (``sign`` +1: towards higher indices), in doubling steps."""
    out, cover = shift(a, sign), 1
    while cover < d:
        step = min(cover, d - cover)
        out = out | shift(out, sign * step)
        cover += step
    return out


def _extent(cum: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """[first, last) index of each row of a cumulative mass (k, size + 1), leaving out
    LINE_TRIM of the mass at each end; both size / 2 (the middle) where there is none."""
    tot = cum[:, -1:]
    first = np.argmax(cum[:, 1:] > LINE_TRIM * tot, axis=1)
    last = size - np.argmax(cum[:, ::-1][:, 1:] < (1 - LINE_TRIM) * tot, axis=1)
    empty = tot[:, 0] <= 0
    return np.where(empty, size / 2.0, first), np.where(empty, size / 2.0, last)


def _cumulative(a: np.ndarray, axis: int) -> np.ndarray:
    """Cumulative mass of a stack (N, H, W) along columns (axis 1 summed) or rows (axis 2
    summed), with a leading 0: (N, W + 1) or (N, H + 1)."""
    c = np.cumsum(a.sum(axis=axis, dtype=np.float64), axis=1)
    return np.concatenate([np.zeros((len(a), 1)), c], axis=1)


def _dilate_each(mask: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """:func:`_dilate` of a stack (N, H, W) with a radius per image, on packed words (one
    pass per distinct radius)."""
    p = _pack(mask)
    out = np.empty_like(p)
    for r in np.unique(radius):  # a loop over the few radii
        i = np.flatnonzero(radius == r)
        q = p[i]
        if r > 0:
            q = q | _reach(q, int(r), _shift_x, 1) | _reach(q, int(r), _shift_x, -1)
            q = q | _reach(q, int(r), _shift_y, 1) | _reach(q, int(r), _shift_y, -1)
        out[i] = q
    return _unpack(out, mask.shape[2])


def _line_params(scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(run_min, thick, band) in whole pixels for ink of the given scales."""
    run_min = np.maximum(3, np.round(LINE_RUN * scale)).astype(np.int64)
    thick = np.maximum(1, (LINE_THICK * scale).astype(np.int64))
    band = np.maximum(1, np.round(LINE_BAND * scale)).astype(np.int64)
    return run_min, thick, band


def _line_candidates(
    mask: np.ndarray,
    scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long straight runs of ink in a stack (N, H, W) of ink of the given scales (N,).

    Returns (``sel``, the images that have a line's worth, and two (2, len(sel), H, W)
    masks, horizontal then vertical): ``long``, the pixels of lines and of the strokes
    crossing them (so a line stays one piece however many strokes cross it), and ``thin``,
    those where the ink is thin across the run (the line itself; a crossing stroke is long
    across, so the digit keeps its crossings).
    """
    _, h, w = mask.shape
    sel, found = _line_search(mask, scale)
    if not sel.size:
        empty = np.zeros((2, 0, h, w), bool)
        return sel, empty, empty
    long = np.stack([_unpack(found[o][0], w) for o in (0, 1)])
    thin = np.stack([_unpack(found[o][1], w) for o in (0, 1)])
    # A line's pieces are joined through the strokes (the digit) that cross it: long-run
    # ink with the line's thin pixels on both sides in the same rows (within its band).
    # Other long-run ink (a thick digit's body) is left out, or it would glue every line
    # through the digit into one piece.
    _, _, band = _line_params(scale[sel])
    for o, axis in ((0, 2), (1, 1)):  # horizontal lines: along rows; vertical: columns
        t = thin[o]
        long[o] &= _between_first_and_last(_dilate_each_axis(t, band, 3 - axis), axis)
        long[o] |= t
    return sel, long, thin


def _line_search(
    mask: np.ndarray,
    scale: np.ndarray,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The search half of :func:`_line_candidates`: ``sel`` and, horizontal then vertical,
    the packed (long, thin) masks of those images, not yet joined through crossings (which
    :func:`may_hold_lines` does not need)."""
    _, h, w = mask.shape
    run_min, thick, band = _line_params(scale)
    key = (run_min * 1000 + thick) * 1000 + band
    ok = scale >= LINE_MIN_SIDE
    p = _pack(mask)
    sel, found = [], []
    for value in np.unique(key[ok]):  # one pass per distinct (length, thickness, band)
        idx = np.flatnonzero(ok & (key == value))
        sub = p[idx]
        i0 = idx[0]
        per_orientation = []
        for along, across, across_size in ((_shift_x, _shift_y, h), (_shift_y, _shift_x, w)):
            b = sub.copy()
            # A loop over the band's few rows (shifts past the image's side add nothing).
            for d in range(1, min(int(band[i0]), across_size - 1) + 1):
                b |= across(sub, d) | across(sub, -d)
            long = sub & _long_runs(b, int(run_min[i0]), along)
            thin = long & ~_long_runs(sub, int(thick[i0]) + 1, across)
            per_orientation.append((long, thin))
        # An image goes on only with a line's worth of thin pixels (most digits have none).
        count = sum(np.bitwise_count(t).sum(axis=(1, 2)) for _, t in per_orientation)
        keep = np.flatnonzero(count >= LINE_FILL * run_min[i0])
        if keep.size:
            sel.append(idx[keep])
            found.append([(lg[keep], tn[keep]) for lg, tn in per_orientation])
    if not sel:
        return np.zeros(0, np.int64), []
    order = np.argsort(np.concatenate(sel))
    packed = [
        tuple(np.concatenate([f[o][part] for f in found])[order] for part in (0, 1)) for o in (0, 1)
    ]
    return np.concatenate(sel)[order], packed  # type: ignore[return-value]


def _between_first_and_last(mask: np.ndarray, axis: int) -> np.ndarray:
    """Pixels of a stack (N, H, W) at or after the first and at or before the last set pixel
    of their row (``axis`` 2) or column (``axis`` 1): the logical-or accumulations forwards
    and backwards, from two argmax scans (NumPy's boolean accumulate is several times
    slower)."""
    size = mask.shape[axis]
    first = np.expand_dims(np.argmax(mask, axis=axis), axis)
    last = size - 1 - np.expand_dims(np.argmax(np.flip(mask, axis=axis), axis=axis), axis)
    shape = [1, 1, 1]
    shape[axis] = size
    position = np.arange(size).reshape(shape)
    # argmax of an empty row is 0 both ways, which would span the whole row: any() clears it.
    inside = (position >= first) & (position <= last)
    return inside & np.expand_dims(mask.any(axis=axis), axis)


def _dilate_each_axis(mask: np.ndarray, radius: np.ndarray, axis: int) -> np.ndarray:
    """Dilate a stack (N, H, W) along one axis (1 or 2) by a radius per image: one pass per
    distinct radius, each reaching forwards and backwards in doubling steps, so a wide band
    costs log2(radius) steps, not radius."""
    out = mask.copy()
    size = mask.shape[axis]
    for r in np.unique(radius):  # a loop over the few radii
        # Shifts as long as the axis move nothing in: a band wider than a strip stops there.
        reach = min(int(r), size - 1)
        if reach <= 0:
            continue
        i = np.flatnonzero(radius == r)
        sub = mask[i]
        out[i] = sub | _reach_along(sub, reach, axis, 1) | _reach_along(sub, reach, axis, -1)
    return out


def _reach_along(mask: np.ndarray, d: int, axis: int, sign: int) -> np.ndarray:
    """Pixels with a set pixel 1..d steps before them along ``axis`` (``sign`` +1: looking
    towards lower indices, -1: higher), in doubling steps. Marks only ever move one way, so
    nothing that falls off the image's edge was needed (unlike growing a two-sided window)."""

    def shifted(a: np.ndarray, step: int) -> np.ndarray:
        out = np.zeros_like(a)
        src = [slice(None)] * a.ndim
        dst = [slice(None)] * a.ndim
        if sign > 0:
            src[axis], dst[axis] = slice(None, -step), slice(step, None)
        else:
            src[axis], dst[axis] = slice(step, None), slice(None, -step)
        out[tuple(dst)] = a[tuple(src)]
        return out

    out, cover = shifted(mask, 1), 1
    while cover < d:
        step = min(cover, d - cover)
        out |= shifted(out, step)
        cover += step
    return out


def _thin_both_ways(mask: np.ndarray, thick: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (N, H, W) in no run longer than ``thick`` (per image), across or
    down: what is left of a line's corner once the lines are gone."""
    p = _pack(mask)
    out = np.zeros_like(p)
    for t in np.unique(thick):  # one pass per distinct thickness
        i = np.flatnonzero(thick == t)
        q = p[i]
        out[i] = q & ~_long_runs(q, int(t) + 1, _shift_x) & ~_long_runs(q, int(t) + 1, _shift_y)
    return _unpack(out, mask.shape[2])


def _line_bands(
    drop: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    icpt: np.ndarray,
    slope: np.ndarray,
    half: np.ndarray,
) -> np.ndarray:
    """The pixels of the dropped lines' bands (within each fitted line's half width + 1)
    that no stroke crosses: a stroke that only touches a border from the digit's side (or
    runs along it for a while) leaves the border's pixels, which are thick there and so
    not the line's thin pixels. A crossing has ink just outside the band on both sides.

    ``labels`` (2, k, H, W) are the horizontal / vertical line labels, ``mask`` (k, H, W)
    the ink, ``icpt``, ``slope``, ``half`` each line's fit (across = icpt + slope * along).
    """
    _, k, h, w = labels.shape
    gone = np.zeros((k, h, w), bool)
    dropped = np.concatenate([[False], drop])
    for o in (0, 1):  # horizontal lines, then vertical ones
        idx = np.flatnonzero(dropped[labels[o]])
        lab = labels[o].reshape(-1)[idx] - 1
        im, pix = np.divmod(idx, h * w)
        ys, xs = np.divmod(pix, w)
        along, across, size = (xs, ys, h) if o == 0 else (ys, xs, w)
        centre = icpt[lab] + slope[lab] * along
        reach = half[lab] + 1
        band = np.abs(across - centre) <= reach

        def ink_at(pos: np.ndarray, im=im, along=along, size=size, o=o) -> np.ndarray:
            pos = np.rint(pos).astype(np.int64)
            inside = (pos >= 0) & (pos < size)
            pos = np.clip(pos, 0, size - 1)
            hit = mask[im, pos, along] if o == 0 else mask[im, along, pos]
            return inside & hit

        crossed = ink_at(centre - reach - 1) & ink_at(centre + reach + 1)
        gone.reshape(-1)[idx[band & ~crossed]] = True
    return gone


def _footprint(
    lines: np.ndarray,
    shape: tuple[int, int, int],
    horiz: np.ndarray,
    owner: np.ndarray,
    a0: np.ndarray,
    a1: np.ndarray,
    icpt: np.ndarray,
    slope: np.ndarray,
    half: np.ndarray,
) -> np.ndarray:
    """Where the given lines lie: for each, the pixels within its half width + 1 of its
    fitted centre line (across = icpt + slope * along), from its first to its last position
    along it and as far again past each end (its round end, a corner's overhang), as a
    (k, H, W) mask. Rasterized for all lines at once."""
    out = np.zeros(shape, bool)
    if lines.size == 0:
        return out
    _, h, w = shape
    pad = np.ceil(half[lines] + 1).astype(np.int64)
    first = a0[lines] - pad
    length = a1[lines] + pad - first
    rep = np.repeat(np.arange(lines.size), length)  # one entry per line and position
    start = np.repeat(np.cumsum(length) - length, length)
    line = lines[rep]
    along = first[rep] + np.arange(rep.size) - start
    centre = icpt[line] + slope[line] * along
    reach = half[line] + 1
    offsets = np.arange(-int(np.ceil(reach.max())), int(np.ceil(reach.max())) + 1)
    across = np.rint(centre)[:, None].astype(np.int64) + offsets[None, :]
    ok = np.abs(across - centre[:, None]) <= reach[:, None]
    hz = horiz[line][:, None]
    ys = np.where(hz, across, along[:, None])
    xs = np.where(hz, along[:, None], across)
    ok &= (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    im = np.broadcast_to(owner[line][:, None], ok.shape)
    out[im[ok], ys[ok], xs[ok]] = True
    return out


# A large single image is first searched for line candidates on its ink block-reduced to at
# most this side: the thresholds are fractions of the ink's extent, so the search sees the
# same lines there at a ninth of the cost on a 280 px canvas; only an image with a candidate
# pays for the full-resolution removal (which the reduced search never replaces).
LINE_SEARCH_SIDE = 96


def may_hold_lines(ink: np.ndarray, low: float = LINE_LOW) -> bool:
    """Whether one ink image (H, W) has a line candidate (see :func:`remove_lines`), looked
    for on its block maxima (thin lines keep their full ink there) at LINE_SEARCH_SIDE."""
    f = -(-max(ink.shape) // LINE_SEARCH_SIDE)
    if f <= 1:
        return True
    reduced = _block_reduce(ink, f)[0]
    h, w = reduced.shape
    if min(h, w) < LINE_MIN_SIDE:
        return True
    mask = reduced[None] > low
    x0, x1 = _extent(_cumulative(mask, 1), w)
    y0, y1 = _extent(_cumulative(mask, 2), h)
    return _line_search(mask, np.maximum(x1 - x0, y1 - y0))[0].size > 0


def remove_lines(ink: np.ndarray, low: float = LINE_LOW) -> np.ndarray:
    """Remove printed lines (cell borders, ruled lines) from a stack of ink images.

    ``ink``: float32 (N, H, W) in [0, 1], 1 = full ink. Returns a stack where the pixels of
    lines judged printed are 0 and what is left is rescaled to full ink level; an image
    without such lines comes back unchanged. Vectorized over the stack.

    A line is a run of ink at least LINE_RUN of the ink's scale long and mostly at most
    LINE_THICK thick (horizontal or vertical, tilted up to about 9 degrees), joined through
    the strokes that cross it. It is removed (its pixels, not the strokes crossing it, and
    the corners and stubs it leaves) when

    * the crop cut it: it runs to the image edge and is long (a cell border, a rule);
    * it lies off-centre, passes the rest of the ink at both ends and has nearly all of it
      on one side (a border around the digit);
    * off-centre lines clear of the rest close in on it from three or four sides (a box
      tight around the digit);
    * it is off-centre, with nearly all the ink on one side, and both its ends meet removed
      borders or the image edge (a box side the digit spans end to end).

    A digit's own straight strokes (a 1, a 7's bar, a 4's stem) are central, end where the
    digit goes on, or have ink on both sides; and nothing is removed where that would leave
    too little ink. Thresholds are fractions of the ink's extent, so a drawing is judged
    the same on any canvas.
    """
    ink = np.asarray(ink, np.float32)
    n, h, w = ink.shape
    if n == 0 or min(h, w) < LINE_MIN_SIDE:
        return ink
    mask = ink > low
    # The ink's scale and centre, from its trimmed extent.
    x0, x1 = _extent(_cumulative(mask, 1), w)
    y0, y1 = _extent(_cumulative(mask, 2), h)
    scale = np.maximum(x1 - x0, y1 - y0)
    sel, long, thin = _line_candidates(mask, scale)
    if sel.size == 0:
        return ink
    a, m, k = ink[sel], mask[sel], sel.size
    labels, nc = label_components(long.reshape(2 * k, h, w))
    labels = labels.reshape(2, k, h, w)
    # Each candidate's thin pixels, in (along, across) coordinates: (x, y) for horizontal
    # lines, (y, x) for vertical ones.
    ft = np.flatnonzero(thin)
    lab = labels.reshape(-1)[ft] - 1
    orient, rem = np.divmod(ft, k * h * w)
    img, pix = np.divmod(rem, h * w)
    ys, xs = np.divmod(pix, w)
    along = np.where(orient == 0, xs, ys).astype(np.float64)
    across = np.where(orient == 0, ys, xs).astype(np.float64)
    # The line proper: a straight line fitted to them (least squares, twice), keeping the
    # pixels within the line's own half width of it. Pen strokes that join the line inside
    # its skew band are not the line: they stay with the digit.
    core = np.ones(ft.size, bool)
    lo_a, hi_a = np.full(nc, np.inf), np.zeros(nc)
    np.minimum.at(lo_a, lab, along)
    np.maximum.at(hi_a, lab, along)
    for _ in range(2):
        cnt = np.bincount(lab, weights=core, minlength=nc)
        sa = np.bincount(lab, weights=core * along, minlength=nc)
        sp = np.bincount(lab, weights=core * across, minlength=nc)
        saa = np.bincount(lab, weights=core * along * along, minlength=nc)
        sap = np.bincount(lab, weights=core * along * across, minlength=nc)
        den = cnt * saa - sa * sa
        slope = np.where(den > 0, (cnt * sap - sa * sp) / np.where(den > 0, den, 1), 0.0)
        icpt = (sp - slope * sa) / np.maximum(cnt, 1)
        half = cnt / np.maximum(hi_a - lo_a + 1, 1) / 2  # pixels per unit length / 2
        core = np.abs(across - icpt[lab] - slope[lab] * along) <= half[lab] + 1
    ft, lab, rem, img, orient = ft[core], lab[core], rem[core], img[core], orient[core]
    along, across = along[core].astype(np.int64), across[core].astype(np.int64)
    owner = np.zeros(nc, np.int64)
    owner[lab] = img
    horiz = np.zeros(nc, bool)
    horiz[lab] = orient == 0
    count = np.bincount(lab, minlength=nc)
    big = np.iinfo(np.int64).max
    a0, a1 = np.full(nc, big), np.full(nc, -1)
    p0, p1 = np.full(nc, big), np.full(nc, -1)
    np.minimum.at(a0, lab, along)
    np.maximum.at(a1, lab, along + 1)
    np.minimum.at(p0, lab, across)
    np.maximum.at(p1, lab, across + 1)
    size = scale[sel][owner]  # each line's ink scale
    length_side = np.where(horiz, w, h)  # the image side along the line
    across_side = np.where(horiz, h, w)
    length = a1 - a0
    line = (count > 0) & (length >= LINE_RUN * size) & (count >= LINE_FILL * length)
    at0 = a0 <= LINE_EDGE * min(h, w)
    at1 = a1 >= length_side - LINE_EDGE * min(h, w)
    cut = line & (at0 | at1) & (length >= LINE_EDGE_LONG * length_side)
    # Where the line runs: the mean of its pixels (a stroke merged into a border widens its
    # range, not its mean), against the middle of the ink.
    pos = np.bincount(lab, weights=across, minlength=nc) / np.maximum(count, 1) + 0.5
    mid = np.where(horiz, (y0 + y1)[sel][owner], (x0 + x1)[sel][owner]) / 2.0
    central = np.abs(pos - mid) < LINE_CENTRAL * size
    if not (cut | (line & ~central)).any():
        # Every rule below drops only cut lines or off-centre ones (box walls and cornered
        # sides are off-centre lines too): nothing can go, so skip judging. Most drawn
        # digits with a line candidate (a 1, a 7's bar) end here.
        return ink
    p0c, p1c = np.minimum(p0, across_side), np.minimum(p1, across_side)

    def judge(excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(beyond, one_side, clear) of every line against the rest: the ink outside the
        footprints of the ``excluded`` lines (so also the corners where two of them meet).
        Clear: the rest lies wholly on the line's side towards the middle of the ink, apart
        from it (a digit inside a box; a 0's sides join its top and bottom)."""
        rest = m & ~_footprint(
            np.flatnonzero(excluded), (k, h, w), horiz, owner, a0, a1, icpt, slope, half
        )
        rest_w = np.where(rest, a, np.float32(0.0))
        cum_c, cum_r = _cumulative(rest_w, 1), _cumulative(rest_w, 2)
        rx0, rx1 = _extent(cum_c, w)
        ry0, ry1 = _extent(cum_r, h)
        lo = np.where(horiz, rx0[owner], ry0[owner])
        hi = np.where(horiz, rx1[owner], ry1[owner])
        beyond = (a0 <= lo - LINE_BEYOND * size) & (a1 >= hi + LINE_BEYOND * size)
        # The rest's ink before the line's first and after its last row (column).
        total = cum_r[owner, -1]
        before = np.where(horiz, cum_r[owner, np.minimum(p0c, h)], cum_c[owner, np.minimum(p0c, w)])
        after = total - np.where(
            horiz, cum_r[owner, np.minimum(p1c, h)], cum_c[owner, np.minimum(p1c, w)]
        )
        one_side = np.minimum(before, after) <= LINE_SIDE * total
        lo_x = np.where(horiz, ry0[owner], rx0[owner])  # the rest's extent across the line
        hi_x = np.where(horiz, ry1[owner], rx1[owner])
        clear = np.where(pos < mid, lo_x > p1, hi_x < p0) & (total > 0)
        return beyond, one_side, clear

    _, thick, band = _line_params(scale[sel])
    reach = thick + band + 1  # how near a line's end another line counts as meeting it
    r_c = reach[img]

    def gone_of(drop: np.ndarray) -> np.ndarray:
        """The thin pixels of the dropped lines, as a (k, H, W) mask."""
        out = np.zeros(k * h * w, bool)
        out[rem[drop[lab]]] = True
        return out.reshape(k, h, w)

    def cornered(drop: np.ndarray, one_side: np.ndarray) -> np.ndarray:
        """Lines that do not pass the digit (a box side the digit spans end to end, like a
        1 touching the top and bottom borders) but are borders still: off-centre, with the
        digit on one side, and each end meeting a removed border (a corner) or the image
        edge. A digit's own stroke ends in the digit."""
        near = _dilate_each(gone_of(drop), reach).reshape(-1)[rem]
        meets0 = np.bincount(lab, weights=near & (along - a0[lab] < r_c), minlength=nc) > 0
        meets1 = np.bincount(lab, weights=near & (a1[lab] - along <= r_c), minlength=nc) > 0
        return line & ~drop & ~central & one_side & (meets0 | at0) & (meets1 | at1)

    def enclosing(clear: np.ndarray) -> np.ndarray:
        """Off-centre lines clear of the rest, in images where such lines close in on three
        or four sides (top, bottom, left, right): a box tight around the digit, whose sides
        need not pass it. A digit's own straight strokes join the rest of the digit."""
        walls = line & ~central & clear
        where_ = np.where(horiz, 0, 2) + (pos > mid)  # top, bottom, left, right
        sides = np.zeros((k, 4), bool)
        sides[owner[walls], where_[walls]] = True
        return walls & (sides.sum(axis=1)[owner] >= 3)

    # First against the ink without any off-centre line (a closed box's sides must not
    # hide the digit from its top and bottom); then once more against the ink without the
    # lines that passed and the box sides they corner: a stroke that only passed because
    # other strokes of the digit were left out fails the second time.
    beyond, one_side, clear = judge(line & ~central)
    boxed = enclosing(clear)
    drop = cut | (line & ~central & beyond & one_side) | boxed
    if not drop.any():
        return ink
    beyond, one_side, clear = judge(drop | cornered(drop, one_side))
    drop = cut | (drop & ((beyond & one_side) | (boxed & clear)))
    if not drop.any():
        return ink
    drop |= cornered(drop, one_side)
    gone = gone_of(drop) | _line_bands(drop, labels, m, icpt, slope, half)
    # What the lines leave behind: corners where two lines meet (thick both ways, so no
    # line's thin pixels) and stubs: small blobs next to a removed line, thin both ways once
    # the lines are gone. A stroke crossing a line stays long across it.
    gone |= _dilate_each(gone, thick) & _thin_both_ways(m & ~gone, thick)
    # The line's faint anti-aliased edge goes too (a weak rim left behind would join the
    # digit and stretch its box); strong pixels next to it are a crossing stroke's.
    gone |= _dilate(gone, 1) & (a < FRINGE)
    kept = np.where(gone, np.float32(0.0), a)
    # Removal must leave a digit: enough ink, and a few strong pixels.
    flat_kept, flat_all = kept.reshape(k, -1), a.reshape(k, -1)
    enough = flat_kept.sum(axis=1) >= LINE_KEEP * flat_all.sum(axis=1)
    enough &= np.count_nonzero(flat_kept >= STRONG, axis=1) >= MIN_INK_PIXELS
    enough &= (gone & m).reshape(k, -1).any(axis=1)
    if not enough.any():
        return ink
    kept = kept[enough]
    # A border darker than the pen set the ink level: bring what is left back to full level.
    peak = kept.reshape(len(kept), -1).max(axis=1)
    strong = kept > 0.5 * peak[:, None, None]
    level = (kept * strong).sum(axis=(1, 2)) / np.maximum(strong.sum(axis=(1, 2)), 1)
    kept /= np.maximum(level, 1e-6).astype(np.float32)[:, None, None]
    out = ink.copy()
    out[sel[enough]] = np.minimum(kept, np.float32(1.0))
    return out


# --------------------------------------------------------------------------- rendering


def _weights(
    n_out: int,
    n_in: int,
    start: np.ndarray,
    step: np.ndarray,
    offset: np.ndarray,
) -> np.ndarray:
    """Anti-aliased linear resampling matrices (N, n_out, n_in), like Pillow's BILINEAR.

    Output pixel j (centre j + 0.5) samples input coordinate start + (j + 0.5 - offset) *
    step; the tent kernel widens to ``step`` when downscaling so every input pixel
    contributes (anti-aliasing). Rows are normalized over an extended input range, so
    zero-valued pixels outside the image count as background rather than being renormalized.
    """
    step = step.astype(np.float32)[:, None, None]
    support = np.maximum(step, np.float32(1.0))
    k = int(np.ceil(float(support.max()))) + 1
    centre = (
        start.astype(np.float32)[:, None, None]
        + (
            np.arange(n_out, dtype=np.float32)[None, :, None]
            + np.float32(0.5)
            - offset.astype(np.float32)[:, None, None]
        )
        * step
    )
    pos = np.arange(-k, n_in + k, dtype=np.float32)[None, None, :] + np.float32(0.5)
    w = centre - pos
    np.abs(w, out=w)
    w /= support
    np.subtract(np.float32(1.0), w, out=w)
    np.maximum(w, np.float32(0.0), out=w)
    total = w.sum(axis=2, keepdims=True)
    np.divide(w, total, out=w, where=total > 0)
    return w[:, :, k : k + n_in]


def render_batch(
    ink: np.ndarray,
    boxes: np.ndarray,
    frame: int = FRAME,
    box: int = BOX,
    centre: float | None = CENTRE,
) -> np.ndarray:
    """Crop, scale and centre a stack of ink images: (N, H, W), boxes (N, 4) -> (N, frame, frame).

    Each image's ink box (x0, y0, x1, y1) is scaled so its longer side is ``box`` pixels
    (aspect kept, anti-aliased) and placed so the ink's centre of mass lands on ``centre``
    (pixel-index coordinates; None centres the box instead), shifted back inside the frame if
    that would cut the digit. Sub-pixel exact: the centring shift is part of the resampling.
    """
    boxes = np.asarray(boxes, np.float64).reshape(len(ink), 4)
    # Only the union of the ink boxes matters (everything outside is background, which the
    # weights treat as zeros anyway): crop to it so big canvases cost no more than small ones.
    ux0, uy0 = int(boxes[:, 0].min()), int(boxes[:, 1].min())
    ux1, uy1 = int(np.ceil(boxes[:, 2].max())), int(np.ceil(boxes[:, 3].max()))
    ink = np.ascontiguousarray(ink[:, uy0:uy1, ux0:ux1], dtype=np.float32)
    boxes = boxes - np.array([ux0, uy0, ux0, uy0], np.float64)
    n, h, w = ink.shape
    x0, y0, x1, y1 = boxes.T
    bw, bh = x1 - x0, y1 - y0
    step = np.maximum(bw, bh) / box  # input pixels per output pixel
    if centre is None:
        offx = (frame - bw / step) / 2
        offy = (frame - bh / step) / 2
    else:
        mass = ink.sum(axis=(1, 2), dtype=np.float64)
        mass = np.where(mass > 0, mass, 1.0)
        cx = (ink.sum(axis=1, dtype=np.float64) @ (np.arange(w) + 0.5)) / mass
        cy = (ink.sum(axis=2, dtype=np.float64) @ (np.arange(h) + 0.5)) / mass
        offx = (centre + 0.5) - (cx - x0) / step
        offy = (centre + 0.5) - (cy - y0) / step
        # Keep the whole ink box inside the frame: a lopsided digit is better whole than
        # exactly centred (MNIST's own digits never needed this).
        offx = np.clip(offx, 0.0, frame - bw / step)
        offy = np.clip(offy, 0.0, frame - bh / step)
        # A digit already 20 px tall or wide (MNIST-sized) is placed on whole pixels, as MNIST
        # did (its centres of mass scatter by +-0.5 px): shifted exactly, not blurred by a
        # sub-pixel resampling. Rescaled digits are resampled anyway, so they go sub-pixel.
        same = np.abs(step - 1.0) < 1e-9
        offx = np.where(same, np.clip(np.round(offx), 0.0, frame - bw / step), offx)
        offy = np.where(same, np.clip(np.round(offy), 0.0, frame - bh / step), offy)
    out = np.zeros((n, frame, frame), np.float32)
    shift = np.abs(step - 1.0) < 1e-9
    shift &= (offx == np.round(offx)) & (offy == np.round(offy))
    if shift.any():
        # Whole-pixel shifts (MNIST-sized input): a gather, no resampling.
        i = np.flatnonzero(shift)
        rows = (
            np.arange(frame)[None, :]
            - offy[i, None].astype(np.int64)
            + y0[i, None].astype(np.int64)
        )
        cols = (
            np.arange(frame)[None, :]
            - offx[i, None].astype(np.int64)
            + x0[i, None].astype(np.int64)
        )
        rok, cok = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
        picked = ink[
            i[:, None, None],
            np.clip(rows, 0, h - 1)[:, :, None],
            np.clip(cols, 0, w - 1)[:, None, :],
        ]
        out[i] = picked * (rok[:, :, None] & cok[:, None, :])
    rest = np.flatnonzero(~shift)
    if rest.size:
        rx = _weights(frame, w, x0[rest], step[rest], offx[rest])
        ry = _weights(frame, h, y0[rest], step[rest], offy[rest])
        out[rest] = np.matmul(np.matmul(ry, ink[rest]), np.ascontiguousarray(rx.transpose(0, 2, 1)))
    np.minimum(out, np.float32(1.0), out=out)
    return np.maximum(out, np.float32(0.0), out=out)


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


# --------------------------------------------------------------------------- entry points


def to_mnist(image: Any) -> Preprocessed:
    """Any image (path, bytes, PIL image, NumPy array) -> the 28x28 MNIST-like model input.

    Raises ``digitkit.imageio.ImageError`` for input that is not a decodable image; a valid
    image without a digit gives ``blank=True`` with a ``reason``.
    """
    reduced = load_image_reduced(image)
    return to_mnist_grey(reduced.grey, reduced.scale)


def to_mnist_grey(grey: np.ndarray, scale: float = 1.0) -> Preprocessed:
    """:func:`to_mnist` for an already decoded grey image (H, W) in [0, 1]; ``scale`` is
    input pixels per pixel of ``grey`` (for the box)."""
    if max(grey.shape) <= SMALL_SIDE:
        out = to_mnist_batch(grey[None])[0]  # the same code as batches, so results match
        if out.box is not None and scale != 1:
            out.box = tuple(int(round(v * scale)) for v in out.box)  # type: ignore[assignment]
        return out
    ink = extract_ink(grey, scale)
    if ink.reason:
        return Preprocessed(None, True, ink.reason, ink.inverted)
    # Printed borders and rules out before the digit is chosen (noisy photos: lines must
    # stand above their noise floor too).
    floor: float | None = noise_floor(ink.ink)
    low = max(LINE_LOW, floor)
    if may_hold_lines(ink.ink, low):
        stack = ink.ink[None]
        cleaned = remove_lines(stack, low)
        if cleaned is not stack:  # lines went: the noise floor is measured afresh
            ink.ink, floor = cleaned[0], None
    digit = digit_ink(ink, floor)
    if digit.reason:
        return Preprocessed(None, True, digit.reason, ink.inverted)
    images, _, reasons = normalize_stack(digit.ink[None])
    ry, rx = digit.region
    box = tuple(int(round(v * ink.scale)) for v in (rx.start, ry.start, rx.stop, ry.stop))
    if reasons[0]:
        return Preprocessed(None, True, reasons[0], ink.inverted, box)  # type: ignore[arg-type]
    return Preprocessed(images[0], False, None, ink.inverted, box)  # type: ignore[arg-type]


def _clean_stack(ink: np.ndarray, floor: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`digit_ink`'s cleaning for a stack of small images at once: the components of
    every image in one labelling, the same keep rule, and each image's strong-pixel count."""
    n, h, w = ink.shape
    labels, k = label_components(ink > floor)
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


def to_mnist_batch(stack: np.ndarray) -> list[Preprocessed]:
    """:func:`to_mnist` for a stack of equal-sized grey images (N, H, W) in [0, 1] (or
    uint8), vectorized: what makes batch prediction fast."""
    x = np.asarray(stack)
    if len(x) > CHUNK:  # bounded temporaries, and chunks that stay in cache
        return [p for i in range(0, len(x), CHUNK) for p in to_mnist_batch(x[i : i + CHUNK])]
    x = x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x.astype(np.float32)
    n, h, w = x.shape
    if n == 0:
        return []
    if max(h, w) > SMALL_SIDE:  # large images: per-image path (reduction, flattening)
        return [to_mnist_grey(g) for g in x]
    # Polarity per image from the border median versus the extreme values.
    # The band's outermost and innermost rows only: a border along the edge covers the
    # first, not the second, and the median stays as cheap as with a 1 px band.
    b = max(1, min(h, w) // BORDER_BAND)
    rows, cols = sorted({0, b - 1, h - b, h - 1}), sorted({0, b - 1, w - b, w - 1})
    border = np.concatenate([x[:, rows].reshape(n, -1), x[:, :, cols].reshape(n, -1)], axis=1)
    bg = np.median(border, axis=1)
    lo, hi = x.min(axis=(1, 2)), x.max(axis=(1, 2))
    inverted = (bg - lo) > (hi - bg)
    signal = np.where(inverted[:, None, None], bg[:, None, None] - x, x - bg[:, None, None])
    signal = flatten_background_stack(signal)  # uneven light, as in to_mnist_grey
    peak = signal.max(axis=(1, 2))
    flat = signal.reshape(n, -1)
    strong = flat > 0.5 * peak[:, None]
    level = (flat * strong).sum(axis=1) / np.maximum(strong.sum(axis=1), 1)
    ink = np.clip(signal / np.maximum(level, 1e-6)[:, None, None], 0.0, 1.0).astype(np.float32)
    faint = level < MIN_CONTRAST
    ink[faint] = 0
    ink = remove_lines(ink)  # printed borders and rules, as in to_mnist_grey
    ink, strong_px = _clean_stack(ink)
    images, boxes, reasons = normalize_stack(ink)
    out = []
    for i in range(n):
        reason = reasons[i]
        if faint[i]:
            reason = "blank: no ink (the image is uniform)"
        elif strong_px[i] < MIN_INK_PIXELS and reason is None:
            reason = "blank: too little ink for a digit"
        if reason:
            out.append(Preprocessed(None, True, reason, bool(inverted[i])))
        else:
            box = tuple(int(v) for v in boxes[i])
            out.append(Preprocessed(images[i], False, None, bool(inverted[i]), box))  # type: ignore[arg-type]
    return out

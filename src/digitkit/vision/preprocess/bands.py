"""Thick print: the walls of a box or the lines of a grid, however thick, found by the length
of their straight runs rather than by their thinness, and the ink left clear of them.

:mod:`.line_search` finds printed lines as long runs that are *thin* across (a few pixels at
a form cell's size), which a pen stroke is not. A bold table, or a photo's blur, gives walls
as thick as the digit's strokes or thicker; those stay in, and a small digit in a thick box
reads as a 0, in a grid as a 4 or a 1. Here a band is a run of ink along a straight line
(tilted up to BAND_MAX_DEGREES, as a camera turns a crop) that is long for the crop, however
thick. A digit's own straight strokes can be that long too (a 1, a 7's bar), so what removing
the bands leaves is only one more *reading* of a photographed crop, which replaces the others
only when the model is clearly surer of it (``digitkit.vision.recognize.BAND_MARGIN``).
"""

from __future__ import annotations

import numpy as np

from digitkit.vision.preprocess.blocks import _block_max
from digitkit.vision.preprocess.connected import label_components
from digitkit.vision.preprocess.morphology import _dilate_each_axis

BAND_LOW = 0.3  # ink above this (of the pen's level) can be part of a band: a blurred
# wall's core, not its soft rim
BAND_MAX_DEGREES = 16  # a crop turned this far still has its walls found
BAND_STEP_DEGREES = 2  # tilts tried: a 64 px wall misjudged by a degree moves 1 px across
BAND_TILTS = 2  # walls of this many tilts a side are found (perspective, a skewed cell)
BAND_RUN = 0.5  # a band's straight run of ink is this long (fraction of the crop's side) ...
BAND_THICK = 0.2  # ... and at most this thick (fraction of the crop's other side)
BAND_RIM = 1  # pixels of a band's soft rim removed with it, each side
BAND_SEARCH_SIDE = 96  # bands are looked for on images at most this big (block maxima)
BAND_JOIN = 0.2  # ink above this joins a piece to a band (a box's short side to its long ones)
# A piece of ink joined to a band and this straight (its length over its width, at any
# tilt) once the bands are gone is what is left of the print (a box's short side, a corner's
# stub), not a digit touching a wall: the stub of an empty box would read as a 1.
REMNANT_STRAIGHT = 2.5  # (2.0 / 2.5 / 3.0 compared on validation: RESULTS.md, "Thick print")

_SLOPES = np.tan(np.deg2rad(np.arange(-BAND_MAX_DEGREES, BAND_MAX_DEGREES + 1, BAND_STEP_DEGREES)))


def _longest_runs(sampled: np.ndarray) -> np.ndarray:
    """Length of the longest run of True along the last axis of (N, R, L): (N, R)."""
    # int16 positions (a searched side is at most BAND_SEARCH_SIDE): a quarter of the memory
    # traffic of int64, the same runs.
    pos = np.arange(sampled.shape[-1], dtype=np.int16)
    last_gap = np.maximum.accumulate(np.where(sampled, np.int16(-1), pos), axis=-1)
    return (pos - last_gap).max(axis=-1)


def _inky_bins(sampled: np.ndarray, run: float) -> np.ndarray:
    """Which bins of (N, R, L) hold ``run`` pixels of ink or more: only those can hold a run
    that long, so only theirs are measured (few bins but walls' do, and measuring a run
    costs a pass of its own)."""
    return np.count_nonzero(sampled, axis=-1) >= run


def _thin_groups(good: np.ndarray, most: int) -> np.ndarray:
    """Of (N, R) bins, those in groups of consecutive True bins at most ``most`` long."""
    n, r = good.shape
    padded = np.concatenate([np.zeros((n, 1), bool), good, np.zeros((n, 1), bool)], axis=1)
    steps = np.diff(padded.astype(np.int8), axis=1)  # +1 where a group starts, -1 after it
    start = np.maximum.accumulate(np.where(steps[:, :-1] == 1, np.arange(r), -1), axis=1)
    end = np.where(steps[:, 1:] == -1, np.arange(r), r)
    end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]
    return good & (end - start + 1 <= most)


def _bands_along(mask: np.ndarray, reduced: bool = False) -> np.ndarray:
    """Band pixels of a stack (N, A, L) whose bands run along the last axis.

    For every tilt, the image is sampled along lines of that tilt (one bin per line, A plus
    the tilt's reach of them); a bin is a band's when its longest run of ink is BAND_RUN of
    L. Each image keeps the tilt whose bins hold the most such ink (a camera turns a crop's
    walls together), and of its bins the groups at most BAND_THICK of A thick."""
    n, across, length = mask.shape
    cols = np.arange(length)
    pad = int(np.ceil(np.abs(_SLOPES).max() * length / 2)) + 1
    bins = np.arange(-pad, across + pad)
    best_score = np.full(n, -1)
    best_good = np.zeros((n, len(bins)), bool)
    best_slope = np.zeros(n, np.int64)
    near = mask
    if reduced:
        # On block maxima a thin line is a 1 px staircase that rarely matches a tried
        # tilt's: runs are taken over each row with its neighbours (the band's bins take in
        # its rim). Not at full size: there a big 0's sides would pass for bands.
        near = _dilate_each_axis(mask, np.ones(n, np.int64), 1)
    # Blank rows above and below, as far as any bin reaches: every bin's samples are in the
    # array, those off the image blank (one gather per tilt, no bounds to mask).
    reach = pad + int(np.ceil(np.abs(_SLOPES).max() * length / 2)) + 1
    padded = np.zeros((n, across + 2 * reach, length), bool)
    padded[:, reach : reach + across] = near
    flat = padded.reshape(n, padded.shape[1] * length)
    for k, slope in enumerate(_SLOPES):
        offset = np.round(slope * (cols - length / 2)).astype(np.int64)
        rows = bins[:, None] + offset[None, :] + reach  # (R, L): the row bin R passes at L
        # One take of flat indices: the same samples as padded[:, rows, cols], several
        # times faster for the few images of the per-image path.
        sampled = np.take(flat, rows * length + cols[None, :], axis=1)
        runs = np.zeros((n, len(bins)), np.int64)
        inky = np.nonzero(_inky_bins(sampled, BAND_RUN * length))
        runs[inky] = _longest_runs(sampled[inky])
        good = runs >= BAND_RUN * length
        score = np.where(good, runs, 0).sum(axis=1)
        better = score > best_score
        best_score[better], best_good[better], best_slope[better] = score[better], good[better], k
    good = _thin_groups(best_good, max(1, int(BAND_THICK * across)) + 2 * reduced)
    out = np.zeros(mask.shape, bool)
    has = good.any(axis=1)
    for k in np.unique(best_slope[has]):
        idx = np.flatnonzero(has & (best_slope == k))
        offset = np.round(_SLOPES[k] * (cols - length / 2)).astype(np.int64)
        pixel_bin = np.arange(across)[:, None] - offset[None, :] + pad  # (A, L)
        out[idx] = good[idx][:, pixel_bin]
    return out


def _straightness(ids: np.ndarray, ys: np.ndarray, xs: np.ndarray, k: int) -> np.ndarray:
    """How straight each of k labelled pieces is (index 0 unused): the ratio of its ink's
    spread along its main axis to its spread across it (1 for a round blob, its length over
    its width for a straight bar at any tilt), from the pixels' second moments."""
    count = np.maximum(np.bincount(ids, minlength=k + 1), 1)

    def mean(v: np.ndarray) -> np.ndarray:
        return np.bincount(ids, weights=v, minlength=k + 1) / count

    my, mx = mean(ys), mean(xs)
    # Each pixel is a unit square: its own spread (1/12) keeps a 1 px line's width above 0.
    vy = mean(ys.astype(np.float64) ** 2) - my**2 + 1 / 12
    vx = mean(xs.astype(np.float64) ** 2) - mx**2 + 1 / 12
    cov = mean(ys.astype(np.float64) * xs) - my * mx
    half_sum, half_diff = (vy + vx) / 2, np.sqrt(((vy - vx) / 2) ** 2 + cov**2)
    return np.sqrt((half_sum + half_diff) / np.maximum(half_sum - half_diff, 1e-9))


def band_masks(ink: np.ndarray) -> np.ndarray:
    """The straight bands (horizontal or vertical, up to BAND_THICK of the crop thick) of a
    stack of ink images (N, H, W) in [0, 1], 1 = full ink, with their rims: (N, H, W) bool.

    Images larger than BAND_SEARCH_SIDE are searched on their block maxima (a thin line
    keeps its full ink there) and the bands found cover whole blocks: the cost is bounded
    whatever the image, and a band's rim grows with the blocks."""
    ink = np.asarray(ink)
    n, h, w = ink.shape
    f = -(-max(h, w) // BAND_SEARCH_SIDE)
    if f > 1:
        ink = np.stack([_block_max(a, f) for a in ink])
    mask = ink > BAND_LOW
    bands = np.zeros_like(mask)
    todo = np.arange(n)
    for _ in range(BAND_TILTS):  # each pass finds the walls of one more tilt ...
        left = mask[todo] & ~bands[todo]
        rows = _bands_along(left, f > 1)
        found = rows | _bands_along(left.transpose(0, 2, 1), f > 1).transpose(0, 2, 1)
        bands[todo] |= found
        todo = todo[found.any(axis=(1, 2))]  # ... where the last found any (else none are left)
    if BAND_RIM:  # the rim across the band and past its ends: a cross, not a square
        radius = np.full(n, BAND_RIM, np.int64)
        bands = _dilate_each_axis(bands, radius, 1) | _dilate_each_axis(bands, radius, 2)
    if f > 1:
        bands = bands.repeat(f, axis=1).repeat(f, axis=2)[:, :h, :w]
    return bands


def clear_of_bands(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ink, found) for a stack of ink images (N, H, W): each image's ink without its bands
    (and their rims) and without the print's remnants joined to them (REMNANT_STRAIGHT), and
    which images had bands (the others come back unchanged). Bounded cost: a fixed number
    of tilts, each a few passes over the stack."""
    ink = np.asarray(ink, np.float32)
    bands = band_masks(ink)
    found = bands.any(axis=(1, 2))
    out = ink.copy()
    if not found.any():
        return out, found
    sub, bands = ink[found], bands[found]
    labels, _ = label_components(sub > BAND_JOIN)
    pieces, k = label_components((sub > BAND_JOIN) & ~bands)
    img, ys, xs = np.nonzero(pieces)
    ids = pieces[img, ys, xs]
    joined = np.zeros(k + 1, bool)  # pieces that were part of a band's component
    joined[ids] = np.isin(labels[img, ys, xs], np.unique(labels[bands & (labels > 0)]))
    remnant = joined & (_straightness(ids, ys, xs, k) >= REMNANT_STRAIGHT)
    remnant[0] = False
    out[found] = np.where(bands | remnant[pieces], np.float32(0), sub)
    return out, found

"""The printed-line search: long, thin, straight runs of ink (horizontal or vertical, a
little tilted) in a stack of ink images, and the shared sizes a line is judged by.

A line is found by shape; whether it is printed (and removed) is :mod:`.lines`' decision.
"""

from __future__ import annotations

import numpy as np

from digitkit.vision.preprocess import shortcuts
from digitkit.vision.preprocess.blocks import _block_max, _block_reduce
from digitkit.vision.preprocess.morphology import (
    _between_first_and_last,
    _dilate_each_axis,
    _long_runs,
    _pack,
    _shift_x,
    _shift_y,
    _unpack,
)

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
LINE_TRIM = 0.01  # extents leave out this fraction of the ink at each end, so a few stray
# pixels (noise, a speck, a border's leftover corner) do not set them
LINE_MIN_SIDE = 16  # smaller ink has no room for a border and a digit
LINE_BORDER = 0.079  # a printed border's weight is set by the form, not by the digit: up to
# 4 px of a 64 px crop, 5 with its anti-aliased edge. So a line this thick for the crop's
# shorter side stays a line even where the ink's scale is small (a small cell well inside the
# crop, whose thick walls LINE_THICK of the scale would take for pen strokes)
LINE_BORDER_SIDES = (48, 96)  # only crops of a form cell's size get the allowance: a thumbnail
# (MNIST's 28 px) is cut tight to its digit, whose 2 px strokes would be as thick as such a
# border; a larger canvas is a drawing, whose pen width is set by the drawing, not the crop


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


def _line_params(
    scale: np.ndarray, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(run_min, thick, band) in whole pixels for ink of the given scales, in images of the
    given ``shape`` (H, W): None leaves out the LINE_BORDER allowance."""
    run_min = np.maximum(3, np.round(LINE_RUN * scale)).astype(np.int64)
    border = 0.0
    if (
        shape is not None
        and LINE_BORDER_SIDES[0] <= min(shape) <= max(shape) <= LINE_BORDER_SIDES[1]
    ):
        border = LINE_BORDER * min(shape)
    thick = np.maximum(1, np.maximum(LINE_THICK * scale, border).astype(np.int64))
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
    _, full_h, full_w = mask.shape
    sel, long, thin, window = _line_candidates_in(mask, scale)
    if long.shape[2:] != (full_h, full_w):  # back onto the whole image
        long, thin = (_unwindow(a, window, full_h, full_w) for a in (long, thin))
    return sel, long, thin


def _line_candidates_in(
    mask: np.ndarray,
    scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[slice, slice]]:
    """:func:`_line_candidates` on the window of the images that holds their ink
    (:func:`_ink_window`): (``sel``, ``long``, ``thin``, the window), the masks cropped to
    the window (nothing outside it is set)."""
    window = _ink_window(mask)
    shape = (mask.shape[1], mask.shape[2])
    mask = mask[(slice(None), *window)]
    _, h, w = mask.shape
    sel, found = _line_search(mask, scale, shape)
    if not sel.size:
        empty = np.zeros((2, 0, h, w), bool)
        return sel, empty, empty, window
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
    return sel, long, thin, window


def _ink_window(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of a stack's (N, H, W) ink box (all of them when there is no ink,
    or with the shortcuts off): the line search and the joining of a line's pieces give the
    same masks on it as on the whole image, since every step either keeps within the ink
    (``long`` and ``thin`` are ink pixels) or reaches across it from ink (a line's band:
    what lies beyond the box would only meet background, and shifts bring in zeros at the
    window's edge just as the background does), while the sizes that steer them (the ink's
    scale) are the whole image's. Most of a 280 px canvas is paper around the digit."""
    _, h, w = mask.shape
    if not shortcuts.ON:
        return slice(0, h), slice(0, w)
    rows = np.flatnonzero(mask.any(axis=(0, 2)))
    if rows.size == 0:
        return slice(0, h), slice(0, w)
    cols = np.flatnonzero(mask[:, rows[0] : rows[-1] + 1].any(axis=(0, 1)))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _unwindow(a: np.ndarray, window: tuple[slice, slice], h: int, w: int) -> np.ndarray:
    """Masks (2, k, window) placed on (2, k, H, W) of background."""
    out = np.zeros((*a.shape[:2], h, w), bool)
    out[(slice(None), slice(None), *window)] = a
    return out


def _line_search(
    mask: np.ndarray,
    scale: np.ndarray,
    shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The search half of :func:`_line_candidates`: ``sel`` and, horizontal then vertical,
    the packed (long, thin) masks of those images, not yet joined through crossings (which
    :func:`may_hold_lines` does not need)."""
    _, h, w = mask.shape
    run_min, thick, band = _line_params(scale, shape)
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


# A large single image is first searched for line candidates on the box of its ink,
# block-reduced to at most this side: the thresholds are fractions of the ink's extent, so
# the search sees nearly the same lines there at a fraction of the cost; only an image with a
# candidate pays for the full-resolution removal (which the reduced search never replaces).
# A finer search finds more candidates in drawings' straight strokes that the removal then
# keeps, at the removal's cost (benchmarks/RESULTS.md, "The line pre-check's side").
LINE_SEARCH_SIDE = 64


def may_hold_lines(ink: np.ndarray, low: float = LINE_LOW) -> bool:
    """Whether one ink image (H, W) has a line candidate (see :func:`.lines.remove_lines`),
    looked for on its block maxima (thin lines keep their full ink there) at
    LINE_SEARCH_SIDE.

    The blocks are laid on the box of the ink above ``low`` and sized by it, not by the
    image: the same drawing anywhere on any canvas gets the same answer (on a grid laid on
    the image, a drawing's place modulo the block size decided whether a stroke's blocks
    looked thin enough to be a line)."""
    rows = np.flatnonzero((ink > low).any(axis=1))
    if rows.size == 0:
        return False
    cols = np.flatnonzero((ink[rows[0] : rows[-1] + 1] > low).any(axis=0))
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    f = -(-max(box.shape) // LINE_SEARCH_SIDE)
    if f <= 1:
        # Small enough to search as it is: exactly the full removal's search (its window is
        # this box, its scale this box's, its border allowance set by the image's shape), so
        # a small drawing on a big canvas skips the removal only where it would find nothing.
        searched, shape = box, ink.shape
    else:
        searched = _block_max(box, f) if shortcuts.ON else _block_reduce(box, f)[0]
        if min(searched.shape) < LINE_MIN_SIDE:
            return True
        shape = None  # a reduced image gets no LINE_BORDER allowance
    mask = searched[None] > low
    h, w = searched.shape
    x0, x1 = _extent(_cumulative(mask, 1), w)
    y0, y1 = _extent(_cumulative(mask, 2), h)
    scale = np.maximum(x1 - x0, y1 - y0)
    return _line_search(mask, scale, shape)[0].size > 0

"""Straight lines fitted to the printed-line candidates: each candidate's thin pixels, a
least-squares centre line through them, its extent, and where a fitted line lies on the
image (its footprint, the band of its own pixels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitkit.vision.preprocess.connected import label_components
from digitkit.vision.preprocess.ink import STRONG


@dataclass
class FittedLines:
    """The candidate lines of a stack of k images (H, W), one entry per line label.

    ``labels`` (2, k, H, W) are the horizontal / vertical line labels (1..``n``). Per thin
    pixel of a line's core: ``lab`` (its line), ``rem`` (its flat index in a (k, H, W)
    stack), ``img`` (its image), ``along`` / ``across`` (its position along and across the
    line). Per line: the fit across = ``icpt`` + ``slope`` * along with ``half`` its half
    width, ``owner`` (its image), ``horiz``, ``count`` (core pixels), [``a0``, ``a1``) its
    extent along, [``p0``, ``p1``) across.
    """

    labels: np.ndarray
    n: int
    lab: np.ndarray
    rem: np.ndarray
    img: np.ndarray
    along: np.ndarray
    across: np.ndarray
    icpt: np.ndarray
    slope: np.ndarray
    half: np.ndarray
    owner: np.ndarray
    horiz: np.ndarray
    count: np.ndarray
    a0: np.ndarray
    a1: np.ndarray
    p0: np.ndarray
    p1: np.ndarray


def fit_lines(
    long: np.ndarray,
    thin: np.ndarray,
    window: tuple[slice, slice] | None = None,
    full: tuple[int, int] | None = None,
) -> FittedLines:
    """Label the candidates (``long``, ``thin``: (2, k, H, W) masks from the line search,
    horizontal then vertical) and fit a straight line to each one's thin pixels.

    ``long`` and ``thin`` may be the ``window`` (rows, columns) of images of size ``full``
    (H, W) with nothing outside it (:func:`.line_search._line_candidates_in`): the result is
    the same as for the whole masks, since cropping keeps the raster order that numbers the
    labels and orders every sum, and positions are taken back to the whole image."""
    _, k, h, w = long.shape
    labels, nc = label_components(long.reshape(2 * k, h, w))
    labels = labels.reshape(2, k, h, w)
    # Each candidate's thin pixels, in (along, across) coordinates: (x, y) for horizontal
    # lines, (y, x) for vertical ones.
    ft = np.flatnonzero(thin)
    lab = labels.reshape(-1)[ft] - 1
    orient, rem = np.divmod(ft, k * h * w)
    img, pix = np.divmod(rem, h * w)
    ys, xs = np.divmod(pix, w)
    if window is not None and full is not None and (h, w) != full:
        ys, xs = ys + window[0].start, xs + window[1].start
        h, w = full
        rem = (img * h + ys) * w + xs
        whole = np.zeros((2, k, h, w), labels.dtype)
        whole[(slice(None), slice(None), *window)] = labels
        labels = whole
    along = np.where(orient == 0, xs, ys).astype(np.float64)
    across = np.where(orient == 0, ys, xs).astype(np.float64)
    core, icpt, slope, half = _fit_straight(lab, along, across, nc)
    lab, rem, img, orient = lab[core], rem[core], img[core], orient[core]
    along_px, across_px = along[core].astype(np.int64), across[core].astype(np.int64)
    owner = np.zeros(nc, np.int64)
    owner[lab] = img
    horiz = np.zeros(nc, bool)
    horiz[lab] = orient == 0
    count = np.bincount(lab, minlength=nc)
    big = np.iinfo(np.int64).max
    a0, a1 = np.full(nc, big), np.full(nc, -1)
    p0, p1 = np.full(nc, big), np.full(nc, -1)
    np.minimum.at(a0, lab, along_px)
    np.maximum.at(a1, lab, along_px + 1)
    np.minimum.at(p0, lab, across_px)
    np.maximum.at(p1, lab, across_px + 1)
    return FittedLines(
        labels,
        nc,
        lab,
        rem,
        img,
        along_px,
        across_px,
        icpt,
        slope,
        half,
        owner,
        horiz,
        count,
        a0,
        a1,
        p0,
        p1,
    )


def _fit_straight(
    lab: np.ndarray, along: np.ndarray, across: np.ndarray, nc: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(core, icpt, slope, half): the pixels kept as each line's own and the fit to them."""
    # The line proper: a straight line fitted to them (least squares, twice), keeping the
    # pixels within the line's own half width of it. Pen strokes that join the line inside
    # its skew band are not the line: they stay with the digit.
    core = np.ones(lab.size, bool)
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
    return core, icpt, slope, half


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


@dataclass
class _BandGrid:
    """The bands of some lines as a grid: a row per line and position along it, a column
    per offset across (``rep``: which of the given lines each row is, ``start``: each given
    line's first row; ``off``: each cell's distance from the fitted centre, ``band``: within
    the line's reach of it, ``inside``: within the image, ``at``: its (image, y, x) index,
    clipped to the image)."""

    rep: np.ndarray
    start: np.ndarray
    off: np.ndarray
    band: np.ndarray
    inside: np.ndarray
    at: tuple[np.ndarray, np.ndarray, np.ndarray]


def _band_grid(
    lines: np.ndarray,
    first: np.ndarray,
    length: np.ndarray,
    reach: np.ndarray,
    shape: tuple[int, int, int],
    horiz: np.ndarray,
    owner: np.ndarray,
    icpt: np.ndarray,
    slope: np.ndarray,
) -> _BandGrid:
    """The grid of the given lines' bands (``lines`` indices, each from position ``first``
    for ``length`` positions along it, ``reach`` either side of its fitted centre across =
    icpt + slope * along; all per given line) in a (k, H, W) stack of ``shape``."""
    _, h, w = shape
    rep = np.repeat(np.arange(lines.size), length)  # one row per line and position
    start = np.cumsum(length) - length
    line = lines[rep]
    along = first[rep] + np.arange(rep.size) - start[rep]
    centre = icpt[line] + slope[line] * along
    span = int(np.ceil(reach.max()))
    across = np.rint(centre)[:, None].astype(np.int64) + np.arange(-span, span + 1)[None, :]
    hz = horiz[line][:, None]
    ys = np.where(hz, across, along[:, None])
    xs = np.where(hz, along[:, None], across)
    off = np.abs(across - centre[:, None])
    band = off <= reach[rep][:, None]
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    im = np.broadcast_to(owner[line][:, None], band.shape)
    at = (im, np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1))
    return _BandGrid(rep, start, off, band, inside, at)


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
    pad = np.ceil(half[lines] + 1).astype(np.int64)
    first = a0[lines] - pad
    grid = _band_grid(
        lines, first, a1[lines] + pad - first, half[lines] + 1, shape, horiz, owner, icpt, slope
    )
    ok = grid.band & grid.inside
    out[tuple(a[ok] for a in grid.at)] = True
    return out


def _merged_stretches(
    lines: np.ndarray,
    fit: FittedLines,
    mask: np.ndarray,
    ink: np.ndarray,
    extra: float,
    wider: float,
    darker: float,
) -> np.ndarray:
    """Where a stroke lies on the given lines (indices into ``fit``), as a (k, H, W) mask of
    its pixels in their bands (each line's half width + 2 either side of its fitted centre).

    A printed line is as wide and as dark all along. At the positions along it where the
    ink across its band is darker than the line's median level by the factor ``darker`` (a
    pen on a grey cell border), all that ink is the stroke's; where it is wider than the
    line's median width by ``extra`` pixels and by the factor ``wider`` (a 7's bar lying on
    a ruled line, a stroke ending on it), the ink beside the line's core and what of the
    core is at most twice as dark as that ink (a pencil stroke that touches a dark border
    keeps none of the border). Positions whose band the image edge cuts never count (nor
    count towards the medians)."""
    out = np.zeros(mask.shape, bool)
    if lines.size == 0:
        return out
    grid = _band_grid(
        lines,
        fit.a0[lines],
        fit.a1[lines] - fit.a0[lines],
        fit.half[lines] + 2,
        mask.shape,
        fit.horiz,
        fit.owner,
        fit.icpt,
        fit.slope,
    )
    rep, at = grid.rep, grid.at
    whole = ~(grid.band & ~grid.inside).any(axis=1)
    inked = grid.band & grid.inside & mask[at]
    level_at = np.where(inked, ink[at], np.float32(0.0))
    width = inked.sum(axis=1)
    level = level_at.max(axis=1)
    core = fit.half[lines][rep][:, None] + 0.5
    beside = np.where(grid.off > core, level_at, np.float32(0.0)).max(axis=1)
    # Each line's medians over its whole positions: sorted by (line, cut, value), the whole
    # ones come first in each line's run.
    n_whole = np.bincount(rep, weights=whole, minlength=lines.size).astype(np.int64)
    middle = grid.start + n_whole // 2
    median_width = width[np.lexsort((width, ~whole, rep))][middle]
    median_level = level[np.lexsort((level, ~whole, rep))][middle]
    counted = whole & (n_whole > 0)[rep]
    dark = counted & (level >= (darker * median_level)[rep])
    wide = counted & (width >= np.maximum(median_width + extra, wider * median_width)[rep])
    spare = inked & (dark[:, None] | (wide[:, None] & (STRONG * level_at <= beside[:, None])))
    out[tuple(a[spare] for a in at)] = True
    return out

"""Multi-digit images -> one ink image per digit, left to right.

Connected components of the ink (the same ink extraction as single digits) are the starting
point; two corrections make them digits:

* merging: the pieces of a broken stroke (a 5's detached flag, a 4 drawn in two strokes)
  overlap a digit horizontally, or are too short to be a digit of the line on their own;
* splitting: a component much wider than the line's digits are high is several touching
  digits; it is cut along the top-to-bottom path that crosses the least ink (dynamic
  programming), near where the width says the boundaries are.

Geometry alone cannot settle every case (a wide 0 or two touching narrow digits; a stray
flag between two digits). Such decisions are handed to a ``scorer`` (the recognizer: the
log-probability the model gives each candidate digit), which keeps the more probable
reading. Without a scorer, geometry decides.

The work is bounded whatever the image (a 16000 x 40 bar, a grid of ten thousand dots): only
the MAX_PIECES heaviest pieces are considered, a blob is cut into at most MAX_TOUCHING digits
(wider ink is no run of touching digits: a rule, a bar) and only inside its own box, and the
candidate crops and cut paths of one image have a budget; an image that exceeds it is no
number line and gets a ``reason`` instead of digits.

Why one module over 400 lines (just): one algorithm; the merging and splitting steps share
the ``Line`` geometry and the work budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from digitkit.vision.imageio import load_image_reduced
from digitkit.vision.preprocess import Components, components, extract_ink, noise_floor

# Widths relative to the line's digit height. Below AMBIGUOUS a blob is one digit; above SURE
# it certainly holds several (MNIST: 99.9 % of digits are narrower than 1.67 x their height);
# in between the scorer decides.
AMBIGUOUS_WIDTH = 1.15
SURE_WIDTH = 1.9
TYPICAL_WIDTH = 0.75  # a digit's typical width / height, to guess how many digits a blob holds
SMALL_HEIGHT = 0.6  # pieces shorter than this (x line height) are parts of a digit
MIN_PIECE = 0.04  # pieces with less ink than this fraction of the biggest are specks
# A reading with more digits must be this much more probable (log) to win: models give
# confident answers even to half digits, so splitting needs evidence.
SPLIT_PENALTY = 1.0
# Prior on how many digits a blob holds: log-odds -COUNT_PRIOR * (n - width/height)^2, so
# a blob 1.5 heights wide is equally likely one digit or two (MNIST digits are at most ~1.4).
COUNT_PRIOR = 3.0
# Bounds on the work for one image. A number on a form has a few dozen digits at most; more
# pieces than this are noise, texture or text, of which the heaviest are kept.
MAX_PIECES = 64
# A blob is cut into at most this many touching digits; one wider than that many digits can
# be is a rule, an underline or a bar, and stays whole (the recognizer refuses it).
MAX_TOUCHING = 10
MAX_DIGIT_WIDTH = 1.1  # the widest a digit is (x the line height) when counting a blob's digits
# Budgets of one image: pixels of candidate crops built, and rows of cut paths computed (each
# row is one vector step). A normal line uses a few percent of either.
MAX_CANDIDATE_PIXELS = 8_000_000
MAX_CUT_ROWS = 20_000
TOO_COMPLEX = "not a number: too many pieces of ink to segment"
MIN_CUT_WIDTH = 2  # a blob narrower than this has no column to cut along

Atoms = frozenset[int]
Scorer = Callable[[Sequence["Segment"]], list[float]]


@dataclass
class Segment:
    """One digit's ink: ``ink`` (h, w) float32 cropped to ``box`` (x0, y0, x1, y1, in the
    input image's pixels); ``atoms`` are the ids of the pieces it is made of."""

    ink: np.ndarray
    box: tuple[int, int, int, int]
    atoms: Atoms


@dataclass
class Segmentation:
    """The digits found in an image, left to right; ``reason`` when there are none."""

    segments: list[Segment]
    inverted: bool = False
    reason: str | None = None


class _OverBudget(Exception):
    """The image needs more work than a number line can (see MAX_CANDIDATE_PIXELS)."""


class Line:
    """The ink of a line of digits cut into atoms (connected components, and the parts of
    touching digits), with a cache of the segments built from sets of atoms, and the work
    budget of the image."""

    def __init__(self, ink: np.ndarray, atoms: np.ndarray, scale: float):
        self.ink, self.atoms, self.scale = ink, atoms, scale
        ys, xs = np.nonzero(atoms)
        # Pixels sorted by atom: each atom's pixels are one slice, so building a segment
        # costs its own pixels, not the image's (thousands of atoms stay linear).
        lab = atoms[ys, xs]
        order = np.argsort(lab, kind="stable")
        self._ys, self._xs = ys[order], xs[order]
        self._start = np.searchsorted(lab[order], np.arange(int(lab.max(initial=0)) + 2))
        self._cache: dict[Atoms, Segment] = {}
        self.pixels_left = MAX_CANDIDATE_PIXELS
        self.cut_rows_left = MAX_CUT_ROWS

    def _spend_pixels(self, n: int) -> None:
        self.pixels_left -= n
        if self.pixels_left < 0:
            raise _OverBudget

    def pixels_of(self, ids: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of the pixels of the atoms ``ids``."""
        parts = [slice(self._start[k], self._start[k + 1]) for k in sorted(ids)]
        return (
            np.concatenate([self._ys[p] for p in parts]),
            np.concatenate([self._xs[p] for p in parts]),
        )

    def segment(self, ids: Atoms) -> Segment:
        seg = self._cache.get(ids)
        if seg is None:
            ys, xs = self.pixels_of(ids)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            self._spend_pixels(int((y1 - y0) * (x1 - x0)))
            crop = np.zeros((y1 - y0, x1 - x0), np.float32)
            crop[ys - y0, xs - x0] = self.ink[ys, xs]
            box = tuple(int(round(v * self.scale)) for v in (x0, y0, x1, y1))
            seg = self._cache[ids] = Segment(crop, box, ids)  # type: ignore[arg-type]
        return seg

    def piece(self, mask: np.ndarray, origin: tuple[int, int] = (0, 0)) -> Segment:
        """A segment from a pixel mask (a part of a cut blob) whose top-left pixel is
        ``origin`` (row, column) of the line."""
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        self._spend_pixels(int((y1 - y0) * (x1 - x0)))
        oy, ox = origin
        ink = self.ink[oy + y0 : oy + y1, ox + x0 : ox + x1]
        crop = np.where(mask[y0:y1, x0:x1], ink, np.float32(0.0))
        box = tuple(int(round(v * self.scale)) for v in (ox + x0, oy + y0, ox + x1, oy + y1))
        return Segment(crop.astype(np.float32), box, frozenset())  # type: ignore[arg-type]

    def cut_path(self, ink: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """:func:`_cut_path`, paid from the image's budget of cut rows."""
        self.cut_rows_left -= ink.shape[0]
        if self.cut_rows_left < 0:
            raise _OverBudget
        return _cut_path(ink, lo, hi)

    def box(self, ids: Atoms) -> np.ndarray:
        s = self.segment(ids)
        return np.array(s.box, np.float64) / self.scale


def _cut_path(ink: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """For each row, the column where the cheapest top-to-bottom path within columns [lo, hi)
    crosses: the path may drift one column per row, and pays the ink it crosses."""
    cost = ink[:, lo:hi].astype(np.float64) + 1e-3
    h, w = cost.shape
    acc = cost[0].copy()
    back = np.zeros((h, w), np.int64)
    cols = np.arange(w)
    for y in range(1, h):  # one vector step per row, not per pixel
        left = np.concatenate([[np.inf], acc[:-1]])
        right = np.concatenate([acc[1:], [np.inf]])
        stack = np.stack([left, acc, right])
        choice = np.argmin(stack, axis=0)
        back[y] = cols + choice - 1
        acc = stack[choice, cols] + cost[y] + 0.02 * (choice != 1)
    path = np.empty(h, np.int64)
    path[-1] = int(np.argmin(acc))
    for y in range(h - 1, 0, -1):
        path[y - 1] = back[y, path[y]]
    return path + lo


def _cut_window(x0: int, x1: int, centre: float, width: float) -> tuple[int, int]:
    """Columns [lo, hi) a cut near ``centre`` may cross: within 0.3 digit widths of it, at
    least MIN_CUT_WIDTH wide where the blob allows, and always inside the blob (x0, x1)."""
    lo = int(max(x0 + 1, centre - 0.3 * width))
    hi = int(min(x1 - 1, centre + 0.3 * width))
    if hi - lo < MIN_CUT_WIDTH:
        lo, hi = int(centre) - 1, int(centre) + 1
    lo, hi = max(lo, x0), min(hi, x1)
    return lo, max(hi, lo + 1)


def split_touching(
    ink: np.ndarray,
    mask: np.ndarray,
    n: int,
    cut: Callable[[np.ndarray, int, int], np.ndarray] = _cut_path,
) -> list[np.ndarray]:
    """Cut the blob ``mask`` into ``n`` masks along minimal-ink paths near the even splits
    (fewer when the blob is too narrow: it is never cut into empty parts). ``cut`` computes
    one path (a budgeted :func:`_cut_path`)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return []
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    if x1 - x0 < MIN_CUT_WIDTH:
        return [mask.copy()]
    width = (x1 - x0) / n
    parts, rest = [], mask.copy()
    local = np.where(mask, ink, 0.0)
    cols = np.arange(mask.shape[1])[None, :]
    for k in range(1, n):
        lo, hi = _cut_window(x0, x1, x0 + k * width, width)
        path = cut(local, lo, hi)
        left = rest & (cols < path[:, None])
        parts.append(left)
        rest = rest & ~left
    parts.append(rest)
    return [p for p in parts if p.any()]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Horizontal overlap of two boxes in pixels (negative: the gap between them)."""
    return float(min(a[2], b[2]) - max(a[0], b[0]))


def _best(line: Line, readings: list[list[Atoms]], scorer: Scorer | None) -> list[Atoms]:
    """The most probable of several readings (the first one without a scorer)."""
    if scorer is None or len(readings) == 1:
        return readings[0]
    segs = [line.segment(ids) for r in readings for ids in r]
    scores = iter(scorer(segs))
    totals = []
    for r in readings:
        totals.append(sum(next(scores) for _ in r) - SPLIT_PENALTY * (len(r) - 1))
    return readings[int(np.argmax(totals))]


def _choose(
    readings: list[list[Segment]],
    ratio: float,
    scorer: Scorer | None,
) -> list[Segment]:
    """The best reading of a blob ``ratio`` times as wide as the line is high: model
    log-probabilities plus the prior on the number of digits."""
    if scorer is None:
        n = max(1, int(round(ratio / TYPICAL_WIDTH)))
        return min(readings, key=lambda r: abs(len(r) - n))
    segs = [s for r in readings for s in r]
    scores = iter(scorer(segs))
    totals = [sum(next(scores) for _ in r) - COUNT_PRIOR * (len(r) - ratio) ** 2 for r in readings]
    return readings[int(np.argmax(totals))]


def segment_digits(image: object, scorer: Scorer | None = None) -> Segmentation:
    """Find the digits of a (multi-digit) image, left to right.

    ``image`` is anything :func:`digitkit.vision.imageio.load_image` reads (raises ``ImageError``
    otherwise). ``scorer(segments)`` -> one log-probability per segment settles ambiguous
    merges and splits.
    """
    reduced = load_image_reduced(image)
    return segment_grey(reduced.grey, scorer, reduced.scale)


def segment_grey(
    grey: np.ndarray, scorer: Scorer | None = None, scale: float = 1.0
) -> Segmentation:
    """:func:`segment_digits` for a decoded grey image (H, W) in [0, 1]; ``scale`` is input
    pixels per pixel of ``grey`` (boxes are the input's)."""
    ink = extract_ink(grey, scale)
    if ink.reason:
        return Segmentation([], ink.inverted, ink.reason)
    comps = components(ink.ink, noise_floor(ink.ink))
    keep = _pieces(comps)
    if keep is None:
        return Segmentation([], ink.inverted, "blank: ink too faint")
    try:
        segments = _segment_pieces(ink.ink, ink.scale, comps, keep, scorer)
    except _OverBudget:
        return Segmentation([], ink.inverted, TOO_COMPLEX)
    return Segmentation(segments, ink.inverted)


def _pieces(comps: Components) -> np.ndarray | None:
    """Which components are pieces of digits: not noise, not specks, and at most MAX_PIECES
    of them (the heaviest); None when there is no real ink."""
    real = comps.strong >= 1
    if not real.any():
        return None
    keep = real & (comps.mass >= MIN_PIECE * float(comps.mass[real].max()))
    if np.count_nonzero(keep) > MAX_PIECES:
        ids = np.flatnonzero(keep)
        heaviest = ids[np.argsort(-comps.mass[ids], kind="stable")[:MAX_PIECES]]
        keep = np.zeros_like(keep)
        keep[heaviest] = True
    return keep


def _segment_pieces(
    a: np.ndarray, scale: float, comps: Components, keep: np.ndarray, scorer: Scorer | None
) -> list[Segment]:
    """The digits made of the pieces ``keep`` of the ink ``a``, left to right."""
    biggest = float(comps.mass[keep].max())
    heights = (comps.box[:, 3] - comps.box[:, 1]).astype(np.float64)
    # The line's digit height: the heavy pieces are whole digits (specks and flags are not).
    height = float(np.median(heights[keep & (comps.mass >= 0.25 * biggest)]))
    labels = np.where(np.isin(comps.labels, np.flatnonzero(keep) + 1), comps.labels, 0)
    line = Line(a, labels, scale)
    units = [frozenset([int(c) + 1]) for c in np.flatnonzero(keep)]
    unit_box = {u: line.box(u) for u in units}
    mass = {u: float(comps.mass[next(iter(u)) - 1]) for u in units}
    units.sort(key=lambda u: (unit_box[u][0] + unit_box[u][2]) / 2)
    typical = float(
        np.median(
            [mass[u] for u in units if unit_box[u][3] - unit_box[u][1] >= SMALL_HEIGHT * height]
        )
    )
    # Digit-sized pieces are tall and carry a digit's worth of ink; the rest (flags, broken
    # stroke ends, the thin half of a broken 4) are parts of a neighbouring digit.
    tall = [
        u
        for u in units
        if unit_box[u][3] - unit_box[u][1] >= SMALL_HEIGHT * height and mass[u] >= 0.2 * typical
    ]
    short = [u for u in units if u not in tall]
    if not tall:
        tall, short = units, []
    groups = _stack_tall(line, tall, unit_box, height, scorer)
    groups = _attach_short(line, groups, short, unit_box, height, scorer)
    result = [s for g in groups for s in _split_wide(line, g, height, scorer)]
    result.sort(key=lambda s: (s.box[0] + s.box[2]) / 2)
    return result


def _stack_tall(
    line: Line,
    tall: list[Atoms],
    unit_box: dict[Atoms, np.ndarray],
    height: float,
    scorer: Scorer | None,
) -> list[Atoms]:
    """1. Tall pieces stacked over each other belong together (a broken 8 or 0)."""
    groups: list[Atoms] = []
    for u in tall:
        if groups:
            g, b = line.box(groups[-1]), unit_box[u]
            merged_w = max(g[2], b[2]) - min(g[0], b[0])
            narrower = max(1.0, min(g[2] - g[0], b[2] - b[0]))
            if _overlap(g, b) >= 0.6 * narrower and merged_w < AMBIGUOUS_WIDTH * height:
                reading = _best(line, [[groups[-1] | u], [groups[-1], u]], scorer)
                if len(reading) == 1:
                    groups[-1] = reading[0]
                    continue
        groups.append(u)
    return groups


def _attach_short(
    line: Line,
    groups: list[Atoms],
    short: list[Atoms],
    unit_box: dict[Atoms, np.ndarray],
    height: float,
    scorer: Scorer | None,
) -> list[Atoms]:
    """2. Short pieces join the digit they overlap or nearly touch; between two, the
    scorer decides."""
    for u in short:
        b = unit_box[u]
        near = sorted(range(len(groups)), key=lambda k: -_overlap(line.box(groups[k]), b))
        near = [k for k in near if _overlap(line.box(groups[k]), b) >= -0.3 * height][:2]
        if not near:
            groups.append(u)  # a lone short mark; the recognizer may reject it as no digit
            groups.sort(key=lambda g: (line.box(g)[0] + line.box(g)[2]) / 2)
            continue
        if len(near) == 1:
            groups[near[0]] = groups[near[0]] | u
            continue
        i, j = sorted(near)
        left = [groups[i] | u, groups[j]]
        right = [groups[i], groups[j] | u]
        first = left if near[0] == i else right
        groups[i], groups[j] = _best(line, [first, right if first is left else left], scorer)
    return groups


def _split_wide(line: Line, group: Atoms, height: float, scorer: Scorer | None) -> list[Segment]:
    """3. A group wider than a digit is touching digits, cut along the least-ink paths
    (inside its own box); wider than MAX_TOUCHING digits, it is no digits at all."""
    bw = line.box(group)
    ratio = (bw[2] - bw[0]) / height
    whole = line.segment(group)
    fewest = max(2, int(np.floor(ratio / MAX_DIGIT_WIDTH)))
    if ratio < AMBIGUOUS_WIDTH or fewest > MAX_TOUCHING:
        return [whole]
    most = min(max(2, int(round(ratio / TYPICAL_WIDTH))), MAX_TOUCHING)
    ys, xs = line.pixels_of(group)
    y0, x0 = int(ys.min()), int(xs.min())
    mask = np.zeros((int(ys.max()) + 1 - y0, int(xs.max()) + 1 - x0), bool)
    mask[ys - y0, xs - x0] = True
    ink = line.ink[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
    readings = [] if ratio >= SURE_WIDTH else [[whole]]
    for n in range(fewest, most + 1):
        parts = split_touching(ink, mask, n, line.cut_path)
        readings.append([line.piece(m, (y0, x0)) for m in parts])
    return _choose(readings, ratio, scorer)

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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from digitkit.imageio import load_image
from digitkit.preprocess import components, extract_ink, noise_floor

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


class Line:
    """The ink of a line of digits cut into atoms (connected components, and the parts of
    touching digits), with a cache of the segments built from sets of atoms."""

    def __init__(self, ink: np.ndarray, atoms: np.ndarray, scale: float):
        self.ink, self.atoms, self.scale = ink, atoms, scale
        ys, xs = np.nonzero(atoms)
        self._ys, self._xs, self._lab = ys, xs, atoms[ys, xs]
        self._cache: dict[Atoms, Segment] = {}

    def segment(self, ids: Atoms) -> Segment:
        seg = self._cache.get(ids)
        if seg is None:
            sel = np.isin(self._lab, list(ids))
            ys, xs = self._ys[sel], self._xs[sel]
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            crop = np.zeros((y1 - y0, x1 - x0), np.float32)
            crop[ys - y0, xs - x0] = self.ink[ys, xs]
            box = tuple(int(round(v * self.scale)) for v in (x0, y0, x1, y1))
            seg = self._cache[ids] = Segment(crop, box, ids)  # type: ignore[arg-type]
        return seg

    def piece(self, mask: np.ndarray) -> Segment:
        """A segment from a pixel mask (a part of a cut blob)."""
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        crop = np.where(mask[y0:y1, x0:x1], self.ink[y0:y1, x0:x1], np.float32(0.0))
        box = tuple(int(round(v * self.scale)) for v in (x0, y0, x1, y1))
        return Segment(crop.astype(np.float32), box, frozenset())  # type: ignore[arg-type]

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


def split_touching(ink: np.ndarray, mask: np.ndarray, n: int) -> list[np.ndarray]:
    """Cut the blob ``mask`` into ``n`` masks along minimal-ink paths near the even splits."""
    ys, xs = np.nonzero(mask)
    x0, x1 = xs.min(), xs.max() + 1
    width = (x1 - x0) / n
    parts, rest = [], mask.copy()
    local = np.where(mask, ink, 0.0)
    cols = np.arange(mask.shape[1])[None, :]
    for k in range(1, n):
        centre = x0 + k * width
        lo, hi = int(max(x0 + 1, centre - 0.3 * width)), int(min(x1 - 1, centre + 0.3 * width))
        if hi - lo < 2:
            lo, hi = int(centre) - 1, int(centre) + 1
        path = _cut_path(local, lo, hi)
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


def _choose(readings: list[list[Segment]], ratio: float, scorer: Scorer | None,
            ) -> list[Segment]:
    """The best reading of a blob ``ratio`` times as wide as the line is high: model
    log-probabilities plus the prior on the number of digits."""
    if scorer is None:
        n = max(1, int(round(ratio / TYPICAL_WIDTH)))
        return min(readings, key=lambda r: abs(len(r) - n))
    segs = [s for r in readings for s in r]
    scores = iter(scorer(segs))
    totals = [sum(next(scores) for _ in r) - COUNT_PRIOR * (len(r) - ratio) ** 2
              for r in readings]
    return readings[int(np.argmax(totals))]


def segment_digits(image: object, scorer: Scorer | None = None) -> Segmentation:
    """Find the digits of a (multi-digit) image, left to right.

    ``image`` is anything :func:`digitkit.imageio.load_image` reads (raises ``ImageError``
    otherwise). ``scorer(segments)`` -> one log-probability per segment settles ambiguous
    merges and splits.
    """
    return segment_grey(load_image(image), scorer)


def segment_grey(grey: np.ndarray, scorer: Scorer | None = None) -> Segmentation:
    """:func:`segment_digits` for a decoded grey image (H, W) in [0, 1]."""
    ink = extract_ink(grey)
    if ink.reason:
        return Segmentation([], ink.inverted, ink.reason)
    a = ink.ink
    comps = components(a, noise_floor(a))
    real = comps.strong >= 1
    if not real.any():
        return Segmentation([], ink.inverted, "blank: ink too faint")
    biggest = float(comps.mass[real].max())
    keep = real & (comps.mass >= MIN_PIECE * biggest)
    heights = (comps.box[:, 3] - comps.box[:, 1]).astype(np.float64)
    # The line's digit height: the heavy pieces are whole digits (specks and flags are not).
    height = float(np.median(heights[keep & (comps.mass >= 0.25 * biggest)]))
    labels = np.where(np.isin(comps.labels, np.flatnonzero(keep) + 1), comps.labels, 0)
    line = Line(a, labels, ink.scale)
    units = [frozenset([int(c) + 1]) for c in np.flatnonzero(keep)]
    unit_box = {u: line.box(u) for u in units}
    mass = {u: float(comps.mass[next(iter(u)) - 1]) for u in units}
    units.sort(key=lambda u: (unit_box[u][0] + unit_box[u][2]) / 2)
    typical = float(np.median([mass[u] for u in units
                               if unit_box[u][3] - unit_box[u][1] >= SMALL_HEIGHT * height]))
    # Digit-sized pieces are tall and carry a digit's worth of ink; the rest (flags, broken
    # stroke ends, the thin half of a broken 4) are parts of a neighbouring digit.
    tall = [u for u in units if unit_box[u][3] - unit_box[u][1] >= SMALL_HEIGHT * height
            and mass[u] >= 0.2 * typical]
    short = [u for u in units if u not in tall]
    if not tall:
        tall, short = units, []

    # 1. Tall pieces stacked over each other belong together (a broken 8 or 0).
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

    # 2. Short pieces join the digit they overlap or nearly touch; between two, the scorer.
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

    # 3. Groups wider than a digit: touching digits, cut along the least-ink paths.
    result: list[Segment] = []
    for g in groups:
        bw = line.box(g)
        ratio = (bw[2] - bw[0]) / height
        whole = line.segment(g)
        if ratio < AMBIGUOUS_WIDTH:
            result.append(whole)
            continue
        mask = np.isin(labels, list(g))
        most = max(2, int(round(ratio / TYPICAL_WIDTH)))
        fewest = max(2, int(np.floor(ratio / 1.1)))
        readings = [] if ratio >= SURE_WIDTH else [[whole]]
        for n in range(fewest, most + 1):
            readings.append([line.piece(m) for m in split_touching(a, mask, n)])
        result.extend(_choose(readings, ratio, scorer))
    result.sort(key=lambda s: (s.box[0] + s.box[2]) / 2)
    return Segmentation(result, ink.inverted)

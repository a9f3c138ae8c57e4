"""Multi-digit images -> one ink image per digit, left to right.

Connected components of the ink (the same ink extraction as single digits) are the starting
point; two corrections make them digits:

* merging: the pieces of a broken stroke (a 5's detached flag, a 4 drawn in two strokes) lie
  over one another horizontally, or are small and sit against a bigger piece;
* splitting: a component much wider than a digit is high is several touching digits; it is
  cut along the top-to-bottom path that crosses the least ink (dynamic programming), near
  where the width says the boundaries are.

Where the width alone cannot decide (a wide 0 or two touching narrow digits), a
:class:`Segment` carries ``alternatives``: the recognizer scores both readings with the model
and keeps the more probable one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitkit.imageio import load_image
from digitkit.preprocess import Components, _noise_floor, components, extract_ink

# A digit is at most this wide relative to the line's digit height before it certainly holds
# two (MNIST: 99.9 % of digits are under 1.67); between AMBIGUOUS and SURE both are scored.
AMBIGUOUS_WIDTH = 1.15
SURE_WIDTH = 1.9
TYPICAL_WIDTH = 0.75  # a digit's typical width / height, to guess how many digits a blob holds
MIN_PIECE = 0.04  # pieces with less ink than this fraction of the biggest are specks


@dataclass
class Segment:
    """One digit's ink: ``ink`` (h, w) float32 cropped to ``box`` (x0, y0, x1, y1, in the
    input image's pixels). ``alternatives`` lists other readings of the same ink (each a list
    of Segments, left to right) for the recognizer to score."""

    ink: np.ndarray
    box: tuple[int, int, int, int]
    alternatives: list[list[Segment]] = field(default_factory=list)


@dataclass
class Segmentation:
    """The digits found in an image, left to right; ``reason`` when there are none."""

    segments: list[Segment]
    inverted: bool = False
    reason: str | None = None


def _piece(ink: np.ndarray, mask: np.ndarray, scale: float) -> Segment:
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = np.where(mask[y0:y1, x0:x1], ink[y0:y1, x0:x1], np.float32(0.0))
    box = tuple(int(round(v * scale)) for v in (x0, y0, x1, y1))
    return Segment(crop.astype(np.float32), box)  # type: ignore[arg-type]


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


def _merge_groups(comps: Components, keep: np.ndarray, height: float) -> list[list[int]]:
    """Group component indices that belong to one digit, left to right."""
    idx = [int(i) for i in np.flatnonzero(keep)]
    idx.sort(key=lambda i: (comps.box[i, 0] + comps.box[i, 2]) / 2)
    groups: list[list[int]] = []
    boxes: list[np.ndarray] = []
    for i in idx:
        b = comps.box[i].astype(np.float64)
        if groups:
            g = boxes[-1]
            overlap = min(g[2], b[2]) - max(g[0], b[0])
            narrower = max(1.0, min(g[2] - g[0], b[2] - b[0]))
            small = min(b[3] - b[1], g[3] - g[1]) < 0.55 * height
            merged_w = max(g[2], b[2]) - min(g[0], b[0])
            # A broken stroke: the pieces stack over each other, or a small piece touches
            # the bigger one's box; never when the result would be two digits wide.
            if merged_w < AMBIGUOUS_WIDTH * height and (
                overlap >= 0.6 * narrower or (small and overlap >= -0.08 * height)
            ):
                groups[-1].append(i)
                boxes[-1] = np.array([min(g[0], b[0]), min(g[1], b[1]),
                                      max(g[2], b[2]), max(g[3], b[3])])
                continue
        groups.append([i])
        boxes.append(b)
    return groups


def segment_digits(image: Any) -> Segmentation:
    """Find the digits of a (multi-digit) image, left to right.

    ``image`` is anything :func:`digitkit.imageio.load_image` reads. Raises
    ``digitkit.imageio.ImageError`` for undecodable input.
    """
    return segment_grey(load_image(image))


def segment_grey(grey: np.ndarray) -> Segmentation:
    """:func:`segment_digits` for a decoded grey image (H, W) in [0, 1]."""
    ink = extract_ink(grey)
    if ink.reason:
        return Segmentation([], ink.inverted, ink.reason)
    a = ink.ink
    comps = components(a, _noise_floor(a))
    real = comps.strong >= 1
    if not real.any():
        return Segmentation([], ink.inverted, "blank: ink too faint")
    biggest = float(comps.mass[real].max())
    keep = real & (comps.mass >= MIN_PIECE * biggest)
    heights = (comps.box[:, 3] - comps.box[:, 1]).astype(np.float64)
    # The line's digit height: the tallest pieces are whole digits (specks and flags are not).
    big = keep & (comps.mass >= 0.25 * biggest)
    height = float(np.median(heights[big]))
    segments: list[Segment] = []
    for group in _merge_groups(comps, keep, height):
        labels = np.array(group) + 1
        mask = np.isin(comps.labels, labels)
        ys, xs = np.nonzero(mask)
        w = xs.max() + 1 - xs.min()
        h = max(ys.max() + 1 - ys.min(), 1)
        ratio = w / max(height, h)
        whole = _piece(a, mask, ink.scale)
        n = max(2, int(round(w / (TYPICAL_WIDTH * max(height, h)))))
        if len(group) > 1:
            # Merged pieces: the unmerged reading is the alternative.
            split = [_piece(a, comps.labels == lab, ink.scale) for lab in labels]
        elif ratio >= AMBIGUOUS_WIDTH:
            split = [_piece(a, m, ink.scale) for m in split_touching(a, mask, n)]
        else:
            segments.append(whole)
            continue
        if ratio >= SURE_WIDTH and len(split) > 1:
            segments.extend(split)  # certainly several digits
        else:
            whole.alternatives.append(split)
            segments.append(whole)
    return Segmentation(segments, ink.inverted)

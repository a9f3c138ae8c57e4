"""Digits written in styles MNIST's American writers rarely used, made from real pen digits.

Held-out drawings by writers from many countries are misread in a few recurring ways (the
open issue on real handwriting lists them): the European 1 with a long up-stroke is read as
a 7, the crossed 7 as a 2 or refused, the slashed or dotted 0 as an 8. The pen training
writers show few of these, so this module adds them to real training trajectories by adding
a stroke where such a writer puts it:

* a 1 gains a flag: a straight up-stroke from lower left into its top, steeper than a 7's bar
  (:data:`FLAG_DEG`), and sometimes a foot;
* a 7 gains a short bar across its stem, a little below the middle;
* a 0 gains a slash from lower left to upper right, or a dot in its middle.

Everything is vectorized over the batch: each style adds exactly two strokes of
:data:`STROKE_POINTS` points to every sample (a stroke a sample does not need collapses onto
a point already drawn, where it leaves no mark), so one style's samples stay one array that
:func:`digitkit.data.render.render` draws in one call.
"""

from __future__ import annotations

import numpy as np

from digitkit.data.pen import PenSet

__all__ = ["FLAG_DEG", "STROKE_POINTS", "STYLED_DIGITS", "styled_digits"]

STROKE_POINTS = 8  # points of each added stroke
# A 1's flag descends to the left at this angle below the horizontal: steeper than the
# near-horizontal bar of a 7, which is what tells the two apart.
FLAG_DEG = (30.0, 65.0)
FLAG_LENGTH = (0.25, 0.55)  # the flag's length as a fraction of the 1's height
FOOT_P = 0.3  # share of 1s that also get a foot
FOOT_WIDTH = (0.3, 0.6)  # as a fraction of the height
BAR_HEIGHT = (0.45, 0.65)  # where a 7's bar crosses its stem, from the top
BAR_WIDTH = (0.3, 0.55)  # the bar's length as a fraction of the 7's height
BAR_TILT_DEG = 8.0
SLASH_P = 0.6  # share of 0s slashed; the others get a dot
SLASH_OVERSHOOT = (-0.05, 0.12)  # how far the slash reaches past the 0's box
DOT_LENGTH = 0.05  # a dot is a stroke this long (fraction of the height)

#: The digits that have a style here, and the share of the styled samples each gets.
STYLED_DIGITS = {"1": 0.4, "7": 0.35, "0": 0.25}


def _segment(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(n, 2) start and end points -> (n, STROKE_POINTS, 2) straight strokes."""
    t = np.linspace(0.0, 1.0, STROKE_POINTS, dtype=np.float32)[None, :, None]
    return start[:, None, :] * (1 - t) + end[:, None, :] * t


def _append(points: np.ndarray, pen_down: np.ndarray, *strokes: np.ndarray):
    """Add separate strokes (each (n, STROKE_POINTS, 2)) after the trajectories: the pen is
    lifted before each and down along it."""
    n = len(points)
    lift = np.zeros((n, 1), bool)
    along = np.ones((n, STROKE_POINTS - 1), bool)
    downs = [pen_down]
    for _ in strokes:
        downs += [lift, along]
    return (
        np.concatenate([points, *strokes], axis=1).astype(np.float32),
        np.concatenate(downs, axis=1),
    )


def _no_mark(points: np.ndarray) -> np.ndarray:
    """A stroke collapsed onto each trajectory's first point: drawn on ink already there, it
    leaves no mark (the second stroke of a style that adds only one)."""
    return np.repeat(points[:, :1, :], STROKE_POINTS, axis=1)


def _box(points: np.ndarray):
    lo, hi = points.min(axis=1), points.max(axis=1)
    return lo, hi, np.maximum(hi[:, 1] - lo[:, 1], 1e-3)


def _flagged_ones(points: np.ndarray, pen_down: np.ndarray, rng: np.random.Generator):
    n = len(points)
    lo, hi, height = _box(points)
    rows = np.arange(n)
    top = points[rows, points[:, :, 1].argmin(axis=1)]
    bottom = points[rows, points[:, :, 1].argmax(axis=1)]
    angle = np.radians(rng.uniform(*FLAG_DEG, n))
    length = rng.uniform(*FLAG_LENGTH, n) * height
    # y grows downward: the flag starts below and to the left of the top.
    start = top + np.stack([-np.cos(angle), np.sin(angle)], axis=1) * length[:, None]
    half_foot = rng.uniform(*FOOT_WIDTH, n) * height / 2
    half_foot = np.where(rng.random(n) < FOOT_P, half_foot, 0.0)  # 0: no foot, no mark
    along_x = np.stack([half_foot, np.zeros_like(half_foot)], axis=1)
    foot = _segment(bottom - along_x, bottom + along_x)
    return _append(points, pen_down, _segment(start, top), foot)


def _crossed_sevens(points: np.ndarray, pen_down: np.ndarray, rng: np.random.Generator):
    n = len(points)
    lo, hi, height = _box(points)
    level = lo[:, 1] + rng.uniform(*BAR_HEIGHT, n) * height
    on_stem = np.abs(points[:, :, 1] - level[:, None]).argmin(axis=1)
    centre = np.stack([points[np.arange(n), on_stem, 0], level], axis=1)
    half = rng.uniform(*BAR_WIDTH, n) * height / 2
    tilt = np.radians(rng.uniform(-BAR_TILT_DEG, BAR_TILT_DEG, n))
    offset = np.stack([np.cos(tilt), np.sin(tilt)], axis=1) * half[:, None]
    bar = _segment(centre - offset, centre + offset)
    return _append(points, pen_down, bar, _no_mark(points))


def _slashed_zeros(points: np.ndarray, pen_down: np.ndarray, rng: np.random.Generator):
    n = len(points)
    lo, hi, height = _box(points)
    over = rng.uniform(*SLASH_OVERSHOOT, (n, 1)) * height[:, None]
    start = np.stack([lo[:, 0], hi[:, 1]], axis=1) + over * np.array([[-1.0, 1.0]])
    end = np.stack([hi[:, 0], lo[:, 1]], axis=1) + over * np.array([[1.0, -1.0]])
    centre = (lo + hi) / 2
    dot = np.stack([DOT_LENGTH * height / 2, np.zeros_like(height)], axis=1)
    slash = rng.random(n) < SLASH_P
    first = np.where(slash[:, None], start, centre - dot)
    last = np.where(slash[:, None], end, centre + dot)
    return _append(points, pen_down, _segment(first, last), _no_mark(points))


_STYLES = {"1": _flagged_ones, "7": _crossed_sevens, "0": _slashed_zeros}


def styled_digits(pen: PenSet, n: int, rng: np.random.Generator):
    """``n`` digits of ``pen`` (about :data:`STYLED_DIGITS` shares of 1s, 7s and 0s) in the
    styles above, as (points (n, P + 2 * STROKE_POINTS, 2), pen_down, int64 labels)."""
    counts = rng.multinomial(n, list(STYLED_DIGITS.values()))
    parts = []
    for (digit, _), count in zip(STYLED_DIGITS.items(), counts, strict=True):
        pool = np.flatnonzero(pen.labels == digit)
        if count == 0 or len(pool) == 0:
            continue
        pick = pool[rng.integers(0, len(pool), count)]
        pts, down = _STYLES[digit](pen.points[pick], pen.pen_down[pick], rng)
        parts.append((pts, down, np.full(count, int(digit), np.int64)))
    if not parts:
        p = pen.points.shape[1] + 2 * STROKE_POINTS
        return np.zeros((0, p, 2), np.float32), np.zeros((0, p - 1), bool), np.zeros(0, np.int64)
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

"""Printed-line removal on synthetic boxed digits: the cases of issue 11 (a digit in a tight
box, a grid whose lines outweigh the digit, a 7's bar next to a ruled line) drawn as ink
stacks and fed to :func:`remove_lines` directly."""

from __future__ import annotations

import numpy as np

from digitkit.vision.preprocess.lines import remove_lines

SIDE = 64


def _segment(ink: np.ndarray, p: tuple[float, float], q: tuple[float, float], width: float):
    """Draw a straight segment p -> q (x, y) of the given width into ``ink`` (H, W)."""
    h, w = ink.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    (px, py), (qx, qy) = p, q
    dx, dy = qx - px, qy - py
    t = np.clip(((xs - px) * dx + (ys - py) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    dist = np.hypot(xs - (px + t * dx), ys - (py + t * dy))
    np.maximum(ink, np.clip(width / 2 + 0.5 - dist, 0.0, 1.0), out=ink)


def _seven(ink: np.ndarray) -> None:
    """A pen-drawn 7: a horizontal bar at y = 21 from x = 18 to 40, a slanted stem down."""
    _segment(ink, (18, 21), (40, 21), 3.0)
    _segment(ink, (40, 21), (27, 56), 3.5)


def test_a_sevens_bar_next_to_a_ruled_line_survives():
    # A table line runs just above the 7's bar and a vertical one just past its end: the
    # bar's right end meets a removed border, its left end comes near the ruled line that
    # runs alongside it. That is no corner: the bar is the digit's and must stay.
    ink = np.zeros((SIDE, SIDE), np.float32)
    _seven(ink)
    _segment(ink, (0, 14.5), (SIDE - 1, 14.5), 2.0)
    _segment(ink, (44, 0), (44, SIDE - 1), 2.0)
    out = remove_lines(ink[None])[0]
    assert out[14:16, :].max() < 0.5  # the ruled line went
    assert out[:, 44].max() < 0.5 or out[:8, 44].max() < 0.5  # so did the vertical one
    bar = out[20:23, 20:38]
    assert (bar > 0.5).mean() > 0.9  # the 7's bar is kept


def _box(ink: np.ndarray, x0: float, y0: float, x1: float, y1: float, width: float) -> None:
    for p, q in (((x0, y0), (x1, y0)), ((x0, y1), (x1, y1)), ((x0, y0), (x0, y1))):
        _segment(ink, p, q, width)
    _segment(ink, (x1, y0), (x1, y1), width)


def test_a_tight_box_the_digit_touches_is_removed():
    # A box drawn tight around a 7 whose bar runs into the box's left side and whose stem
    # runs into its bottom: the digit is clear of two sides only and spans the box both
    # ways, yet four off-centre lines spanning the ink close in on it from all sides. The
    # 7's bar, off-centre too, is inside the box's top: a stroke, not a wall.
    ink = np.zeros((SIDE, SIDE), np.float32)
    _box(ink, 6, 8, 54, 58, 2.0)
    _segment(ink, (6, 18), (40, 18), 3.0)
    _segment(ink, (40, 18), (26, 58), 3.5)
    out = remove_lines(ink[None])[0]
    # The box's sides are gone where no stroke touches them...
    assert out[8, 8:52].max() < 0.5 and out[58, 40:52].max() < 0.5
    assert out[24:50, 6].max() < 0.5 and out[10:56, 54].max() < 0.5
    # ...and the digit is still there.
    assert (out[17:20, 12:38] > 0.5).mean() > 0.9
    assert out[35:42, 28:38].max() > 0.9


def test_a_grid_that_outweighs_the_digit_is_removed():
    # Four thick grid lines cross the whole crop around a thin, small digit: their ink (set
    # by the crop's size, not the digit's) is nearly all of the image's. They still go.
    ink = np.zeros((SIDE, SIDE), np.float32)
    for pos in (8, 58):
        _segment(ink, (0, pos), (SIDE - 1, pos), 4.0)
        _segment(ink, (pos, 0), (pos, SIDE - 1), 4.0)
    _segment(ink, (18, 21), (40, 21), 2.0)
    _segment(ink, (40, 21), (27, 50), 2.0)
    before = ink.sum()
    assert (ink[20:23, 18:41] > 0.5).sum() < 0.15 * before  # LINE_KEEP would refuse
    out = remove_lines(ink[None])[0]
    assert out[:, 1:4].max() < 0.5 and out[1:4, :].max() < 0.5  # to the edges: gone
    assert out[8, 20:40].max() < 0.5 and out[20:40, 58].max() < 0.5
    assert (out[20:23, 20:38] > 0.5).mean() > 0.3  # the 7 stays
    assert out[30:45, 28:38].max() > 0.9


def test_a_clean_digit_is_untouched():
    ink = np.zeros((SIDE, SIDE), np.float32)
    _seven(ink)
    out = remove_lines(ink[None])
    assert np.array_equal(out[0], ink)

"""Thick print (:mod:`digitkit.vision.preprocess.bands`): a bold box's walls and a grid's lines
found by how long and straight they run, whatever their thickness, and the ink left clear of
them, which the recognizer reads as one more reading of a photographed crop."""

from __future__ import annotations

import numpy as np
import pytest
from recognize_helpers import blurred, paste, segment

from digitkit.vision import recognize
from digitkit.vision.preprocess import to_mnist_batch, to_mnist_grey
from digitkit.vision.preprocess.bands import band_masks, clear_of_bands

SIDE = 64


def _box(
    ink: np.ndarray,
    corners: tuple[float, float, float, float],
    width: float,
    turn=0.0,
    sides=(True, True, True, True),
) -> None:
    """A box (x0, y0, x1, y1) of walls ``width`` thick, turned ``turn`` degrees about its
    centre; ``sides``: top, right, bottom, left drawn."""
    x0, y0, x1, y1 = corners
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    c, s = np.cos(np.deg2rad(turn)), np.sin(np.deg2rad(turn))
    pts = [
        (cx + c * (x - cx) - s * (y - cy), cy + s * (x - cx) + c * (y - cy))
        for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    ]
    for k, drawn in enumerate(sides):
        if drawn:
            segment(ink, pts[k], pts[(k + 1) % 4], width)


def _zero(ink: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> None:
    """A pen-drawn 0: an ellipse of 40 short strokes."""
    t = np.linspace(0, 2 * np.pi, 41)
    xs, ys = cx + rx * np.cos(t), cy + ry * np.sin(t)
    for i in range(40):
        segment(ink, (xs[i], ys[i]), (xs[i + 1], ys[i + 1]), 2.5)


def _photo(ink: np.ndarray) -> np.ndarray:
    """Ink (H, W) as a camera sees it: blurred, dark on light paper, uint8."""
    return (255 * (1 - 0.8 * blurred(np.clip(ink, 0, 1), 1.0))).astype(np.uint8)


@pytest.mark.parametrize("turn", [0.0, 10.0, -14.0])
def test_a_bold_box_goes_and_the_small_digit_in_it_stays(turn):
    # Walls 7 px thick, thicker than the digit's strokes: the thin-line search keeps them.
    digit = np.zeros((SIDE, SIDE), np.float32)
    _zero(digit, 32, 32, 5, 9)
    walls = np.zeros_like(digit)
    _box(walls, (16, 14, 48, 50), 7.0, turn)
    clear, found = clear_of_bands(np.maximum(digit, walls)[None])
    assert found[0]
    strokes = digit > 0.5
    assert (clear[0][strokes] > 0.5).mean() > 0.9  # the 0 stays
    assert (clear[0][(walls > 0.5) & ~strokes] > 0.3).mean() < 0.02  # the walls go


def test_an_empty_bold_box_leaves_nothing_to_read():
    # One side cut by the crop: the short side left is shorter than a band, but it hangs
    # from the long ones and is straight (once they are gone, three times as long as
    # thick), so it goes with them: else it reads as a 1.
    ink = np.zeros((SIDE, SIDE), np.float32)
    _box(ink, (6, 14, 58, 50), 6.0, 5.0, sides=(True, True, True, False))
    clear, found = clear_of_bands(ink[None])
    assert found[0]
    assert (clear[0] > 0.3).sum() <= 0.01 * (ink > 0.3).sum()


def test_a_thick_grid_goes_and_the_digit_between_its_lines_stays():
    digit = np.zeros((SIDE, SIDE), np.float32)
    _zero(digit, 32, 32, 6, 10)
    grid = np.zeros_like(digit)
    for at in (14.0, 50.0):
        segment(grid, (0, at), (SIDE - 1, at + 3), 5.0)
        segment(grid, (at, 0), (at - 3, SIDE - 1), 5.0)
    clear, _ = clear_of_bands(np.maximum(digit, grid)[None])
    assert (clear[0][digit > 0.5] > 0.5).mean() > 0.9
    assert (clear[0][(grid > 0.5) & (digit < 0.1)] > 0.3).mean() < 0.02


def test_a_round_digit_alone_has_no_bands():
    ink = np.zeros((SIDE, SIDE), np.float32)
    _zero(ink, 32, 32, 12, 22)
    clear, found = clear_of_bands(ink[None])
    assert not found[0] and np.array_equal(clear[0], ink)


def test_a_large_crop_is_searched_on_its_block_maxima_and_its_walls_go_at_full_size():
    # 640 px (a phone's crop of a cell): the search runs on at most BAND_SEARCH_SIDE pixels
    # a side; the bands found still cover the walls, 2 px thin ones too.
    ink = np.zeros((640, 640), np.float32)
    _box(ink, (100, 80, 540, 560), 2.0, 3.0)
    bands = band_masks(ink[None])
    assert bands.shape == (1, 640, 640)
    assert bands[0][ink > 0.5].all()


def test_photos_get_the_reading_clear_of_thick_print_and_drawings_and_thumbnails_do_not():
    ink = np.zeros((SIDE, SIDE), np.float32)
    _zero(ink, 32, 32, 5, 9)
    _box(ink, (16, 14, 48, 50), 7.0, 8.0)
    photo = _photo(ink)
    sharp = (255 * (1 - np.clip(ink, 0, 1))).astype(np.uint8)  # a drawing: sharp ink
    thumbnail = photo[::2, ::2][2:30, 2:30]  # 28 px: cut tight, as MNIST's are
    photographed, drawn, small = to_mnist_batch(np.stack([photo, sharp]))[:1] + [
        to_mnist_batch(sharp[None])[0],
        to_mnist_batch(thumbnail[None])[0],
    ]
    assert photographed.band is not None
    assert photographed.alternatives[photographed.band].shape == (28, 28)
    assert drawn.band is None and small.band is None
    big = to_mnist_grey(np.kron(photo, np.ones((3, 3), np.uint8)).astype(np.float32) / 255)
    assert big.band is not None  # the per-image path of large crops too


def test_small_digits_in_bold_boxes_are_read_right(recognizer, mnist, monkeypatch):
    # MNIST validation digits at their own size in a 64 px crop, a 6 px box close around
    # them turned up to 10 degrees, photographed: the box reads as a 0 or nothing at all
    # unless its walls go.
    rng = np.random.default_rng(0)
    photos = []
    for digit in mnist.x_val[:100]:
        ink = paste(digit, (SIDE, SIDE), (18, 18))
        _box(ink, (16, 14, 48, 50), 6.0, float(rng.uniform(-10, 10)))
        photos.append(_photo(ink))

    def accuracy() -> float:
        preds = recognizer.predict_batch(photos)
        return float(np.mean([p.digit == t for p, t in zip(preds, mnist.y_val[:100], strict=True)]))

    with_bands = accuracy()
    monkeypatch.setattr(recognize, "BAND_MARGIN", np.inf)  # the band reading never wins
    without = accuracy()
    assert with_bands >= 0.9 and with_bands >= without + 0.1

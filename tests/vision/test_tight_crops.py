"""Digits cropped tight to their ink: scanned 16x16 cells (the held-out check's foreign
scans), a digit cut out of a page to its box. Their strokes reach the image edge, which
printed-line removal took for borders cut by the crop and the uneven-light check for a
shadow along a side (benchmarks/RESULTS.md, "Tight crops")."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitkit.data.render import render
from digitkit.data.scans import tight_crop
from digitkit.data.sources import pen_parts
from digitkit.data.styles import styled_digits
from digitkit.labels import DIGITS, NOT_A_DIGIT_REASON
from digitkit.vision.preprocess import to_mnist_batch
from digitkit.vision.preprocess.pipeline import (
    OFF_EDGE_MIN_PEAK,
    Preprocessed,
    _filled_square_cells,
    _strokes_along_edges,
    off_the_edges,
)
from digitkit.vision.recognize import ALTERNATIVE_MARGIN, READINGS_REFUSAL_FACTOR, Recognizer


@pytest.mark.parametrize(
    ("side", "binary", "floor"),
    [(16, True, 0.97), (24, True, 0.96), (48, False, 0.98), (120, False, 0.975)],
)
def test_tight_crops_are_read(recognizer, mnist_splits, side, binary, floor):
    # 400 validation digits; before tight crops were handled: 96.8 / 94.0 / 96.3 / 96.0 %
    # (a 4's or 9's stem removed as a cut border; thick strokes hollowed as shadow).
    # The int8 graphs' kernels differ between CPUs (AVX-512 VNNI or not), so a digit near
    # the boundary reads differently on different machines: the 16 px floor leaves room
    # for one (97.25% on an Intel Xeon with VNNI; at least 97.5% on the AMD EPYC it was set on).
    # The 120 px crops are the route's: its models differ by a digit of these 400 (98.0 and
    # 97.75%) and not on the other 4,600 (benchmarks/RESULTS.md, "Hard boxes").
    x, y = mnist_splits.x_val[:400], mnist_splits.y_val[:400]
    preds = recognizer.predict_batch([tight_crop(d, side, binary) for d in x])
    assert np.mean([p.digit == t for p, t in zip(preds, y, strict=True)]) >= floor


def test_cells_stretched_to_fill_their_square_are_read(recognizer, mnist_splits):
    # Scanners of forms stretched every digit to fill its 16x16 cell; a 1 becomes a block or
    # a wide band. Such cells are also read squeezed to half their width. 1,500 validation
    # digits: 94.2 % before, 95.2 % with the squeezed reading for cells the ink touches on
    # all four sides, 96.9 % when it only comes within a sixth of the side of them.
    x, y = mnist_splits.x_val[:1500], mnist_splits.y_val[:1500]
    preds = recognizer.predict_batch([tight_crop(d, 16, binary=True, fill=True) for d in x])
    assert np.mean([p.digit == t for p, t in zip(preds, y, strict=True)]) >= 0.964


def test_european_style_digits_in_stretched_cells_are_read(recognizer):
    # The held-out foreign scans' writers flag their 1s; stretched to fill its cell, a
    # flagged 1 has a 7's bar. 600 of the pen validation writers' 1s, 7s and 0s in European
    # styles: 96.0 % before the shipped pair saw such cells (Mix.styled_scanned_cells),
    # 97.5 % after (benchmarks/RESULTS.md, "European-style digits as scanned 16x16 cells").
    pen = pen_parts()["pen_val"]
    rng = np.random.default_rng(0)
    points, pen_down, labels = styled_digits(pen, 600, rng)
    ink = render((points, pen_down), size=140, rng=rng)
    preds = recognizer.predict_batch([tight_crop(d, 16, binary=True, fill=True) for d in ink])
    assert np.mean([p.digit == t for p, t in zip(preds, labels, strict=True)]) >= 0.9675


def test_only_filled_square_cells_get_a_squeezed_reading():
    def zero(w: int, h: int) -> np.ndarray:  # a 0 touching its cell's four edges
        img = Image.new("L", (w, h), 255)
        ImageDraw.Draw(img).ellipse((0, 0, w - 1, h - 1), outline=0, width=2)
        return np.asarray(img)

    cell, wide = zero(16, 16), zero(20, 16)  # the wide one is no stretched square cell
    (filled,) = to_mnist_batch(cell[None])
    (other,) = to_mnist_batch(wide[None])
    assert len(filled.alternatives) == 1 and other.alternatives == []
    squeezed = filled.alternatives[0]
    width = lambda a: np.ptp(np.flatnonzero(a.max(axis=0) > 0.3))  # noqa: E731
    assert width(squeezed) < 0.75 * width(filled.image)


def test_a_stretched_band_that_stops_short_of_its_cells_sides_is_squeezed_too():
    # A slanted 1 stretched to its 16x16 cell and thresholded: the grey box's faint outer
    # columns are lost, so the band ends two pixels short of the left and right sides.
    def band(margin: int) -> np.ndarray:  # ink from column `margin` to 15 - `margin`
        img = np.full((16, 16), 255, np.uint8)
        for row in range(16):
            left = margin + round((15 - row) * (10 - 2 * margin) / 15)
            img[row, left : left + 6] = 0
        return img

    short, centred = band(2), band(4)  # 2 px short of the sides: stretched; 4 px: a digit
    ink = lambda a: np.flatnonzero((a < 128).any(axis=0))  # noqa: E731
    assert (ink(short)[[0, -1]] == [2, 13]).all() and (ink(centred)[[0, -1]] == [4, 11]).all()
    out_short, out_centred = to_mnist_batch(np.stack([short, centred]))
    assert len(out_short.alternatives) == 1 and out_centred.alternatives == []


def _boxed_seven() -> np.ndarray:
    img = np.full((64, 64), 255, np.uint8)
    img[6:58, 6:8] = img[6:58, 56:58] = img[6:8, 6:58] = img[56:58, 6:58] = 0  # the box
    img[20:24, 18:44] = 0  # the 7's bar
    for y in range(24, 50):
        x = 44 - (y - 24) // 2
        img[y, x - 2 : x + 2] = 0
    return img


def test_line_removal_keeps_the_image_with_the_lines_in():
    boxed, clean = _boxed_seven(), np.full((64, 64), 255, np.uint8)
    clean[8:56, 8:56] = _boxed_seven()[8:56, 8:56]
    out_boxed, out_clean = to_mnist_batch(np.stack([boxed, clean]))
    # One alternative, the image with its lines in (and, after it, the reading clear of
    # thick print that every photographed crop with bands gets: Preprocessed.band).
    assert out_boxed.band in (None, 1) and out_clean.alternatives == []
    assert len(out_boxed.alternatives) == 1 + (out_boxed.band is not None)
    # The box went from the image, not from the one with the lines in: its walls, a column
    # of ink from top to bottom, and far more ink than the 7 alone.
    unlined = out_boxed.alternatives[0]
    left = np.flatnonzero(unlined.max(axis=0) > 0.5)[0]
    assert (unlined[:, left] > 0.5).sum() >= 15
    assert unlined.sum() > 1.5 * out_boxed.image.sum()


class _InkCounter:
    """A stand-in model: sure it sees a 4 when an image holds much ink, unsure of a 1 else."""

    card: dict = {}
    name = "ink-counter"

    def __init__(self, sure: float):
        self.sure = sure

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        probs = np.full((len(images), DIGITS), 0.0, np.float32)
        much = images.reshape(len(images), -1).mean(axis=1) > 0.2
        probs[much, 4], probs[~much, 1] = self.sure, 0.5
        probs += (1 - probs.sum(axis=1, keepdims=True)) / DIGITS
        return probs


def _pair() -> Preprocessed:
    little, much = np.zeros((28, 28), np.float32), np.zeros((28, 28), np.float32)
    little[4:24, 13:15] = 1.0
    much[4:24, 8:20] = 1.0
    return Preprocessed(little, False, alternatives=[much])


def test_the_surer_reading_of_the_two_is_kept():
    rec = Recognizer(_InkCounter(sure=0.95))
    pre = _pair()
    assert rec._prediction(rec._read([pre])[0]).digit == 4
    assert pre.image.mean() > 0.2 and pre.alternatives == []  # the preview shows what was read
    # Surer by less than the margin: the image with the lines removed stands.
    rec = Recognizer(_InkCounter(sure=0.5 + ALTERNATIVE_MARGIN / 2))
    assert rec._prediction(rec._read([_pair()])[0]).digit == 1


class _BoxOrOne:
    """A stand-in 11-class model refusing at 0.5: a 1 (p("not a digit") 0.45) in an image with
    little ink, "not a digit" at ``box`` in one with much (an empty box's lines left in)."""

    name = "box-or-one"
    card: dict = {"calibration": {"not_a_digit_above": 0.5}}

    def __init__(self, box: float):
        self.box = box

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        much = images.reshape(len(images), -1).mean(axis=1) > 0.2
        probs = np.zeros((len(images), DIGITS + 1), np.float32)
        probs[~much, 1], probs[~much, DIGITS] = 0.55, 0.45
        probs[much, 4], probs[much, DIGITS] = 1 - self.box, self.box
        return probs


def test_an_input_is_refused_when_its_readings_together_say_not_a_digit():
    # An empty box: removing its lines leaves a stub read as a 1 (p("not a digit") 0.45, under
    # the point 0.5), while the reading with the lines in is a box (0.99). Their mean, 0.72,
    # reaches READINGS_REFUSAL_FACTOR (1.4) x the point: refused, with the mean as its reading.
    assert READINGS_REFUSAL_FACTOR * 0.5 < (0.45 + 0.99) / 2
    rec = Recognizer(_BoxOrOne(box=0.99))
    row = rec._read([_pair()])[0]
    assert rec._prediction(row).reason == NOT_A_DIGIT_REASON
    assert row[DIGITS] == pytest.approx((0.45 + 0.99) / 2)
    # A reading with the lines in that is less sure of "not a digit" (mean 0.625): the 1 stands.
    rec = Recognizer(_BoxOrOne(box=0.8))
    assert rec._prediction(rec._read([_pair()])[0]).digit == 1


def test_a_pencil_digit_between_dark_cell_walls_gets_a_reading_without_them():
    # A cell cut by the crop: two dark walls run into the image's top and bottom edges, bent
    # (a photo's perspective) so line removal does not take them; the digit, in pencil, is
    # a third as dark and touches nothing. The extra reading leaves out the ink connected to
    # the edges and brings the digit to full ink level.
    img = np.full((64, 64), 240, np.uint8)
    for y in range(64):
        img[y, 6 + y // 16 : 9 + y // 16] = 20  # left wall, leaning
        img[y, 55 - y // 16 : 58 - y // 16] = 20  # right wall
    img[18:46, 30:34] = 170  # a pencil 1
    (pre,) = to_mnist_batch(img[None])
    assert not pre.blank and pre.alternatives
    without = pre.alternatives[-1]
    cols = np.flatnonzero(without.max(axis=0) > 0.5)
    assert np.ptp(cols) <= 8  # one narrow stroke: the walls are gone
    assert without.max() > 0.9  # at full ink level


# A pen writer's 2 stretched to its 16x16 cell (validation writer 12, as a scanner cuts it):
# its base runs along the cell's bottom edge from side to side.
_STRETCHED_TWO = """
....######......
.##########.....
###.......##....
.#........##....
..........#.....
.........##.....
........##......
.......##.......
......##........
.....##.........
....##..........
...##...........
..##............
.##.............
################
.######.........
"""


def _cell(art: str) -> np.ndarray:
    return np.array([[0 if c == "#" else 255 for c in row] for row in art.split()], np.uint8)


def test_a_stretched_cells_stroke_along_its_edge_is_read_with_the_digit(recognizer):
    # Line removal takes the 2's base for a border cut by the crop, and what is left is a 7
    # (read at 1.00). Print removed along one edge of a cell the digit fills is a stroke: the
    # lined reading is the image, the cleaned one the alternative.
    two = _cell(_STRETCHED_TWO)
    (pre,) = to_mnist_batch(two[None])
    base = lambda a: a[18:].sum()  # noqa: E731  (the 28x28's lower rows)
    assert base(pre.image) > 1.3 * base(pre.alternatives[0])
    assert recognizer.predict(two).digit == 2


def test_print_along_one_edge_of_a_filled_cell_is_a_stroke_along_two_is_print():
    lined = np.zeros((3, 16, 16), np.float32)
    lined[:, 2:14, 6:9] = 1.0  # a stem, and print along the bottom edge
    lined[:, 15] = 1.0
    lined[1, 0] = 1.0  # and along the top edge too
    lined[2, :, 0] = 1.0  # and along the left one
    cleaned = lined.copy()
    cleaned[:, 15] = 0.0
    cleaned[1, 0] = 0.0
    cleaned[2, :, 0] = 0.0
    lined[:, 0:3, 15] = 1.0  # the stem's serif reaches the right edge: a filled cell
    cleaned[:, 0:3, 15] = 1.0
    assert _filled_square_cells(lined).all()
    assert _strokes_along_edges(lined, cleaned).tolist() == [True, False, False]
    # A wider crop is no stretched cell, whatever was removed.
    assert not _strokes_along_edges(
        np.pad(lined, ((0, 0), (0, 0), (0, 4))), np.pad(cleaned, ((0, 0), (0, 0), (0, 4)))
    ).any()


# A pen writer's 4 cut tight to its ink in a 16x16 cell, aspect kept (validation writer 18):
# both stems run from the cell's top edge to its bottom one.
_TIGHT_FOUR = """
.......#........
.......#........
.......#........
......#.........
......#.........
.....#.....#....
.....#.....#....
....##.....#....
....#......#....
...###########..
..###......#....
...........#....
...........#....
...........#....
...........#....
............#...
"""


def test_a_tight_cells_strokes_taken_for_print_come_back_when_nothing_else_is_left(recognizer):
    # Line removal takes both stems for borders cut by the crop, and the bar left alone is
    # "much wider than tall": the 4 was refused. A cell this small has no room for a box
    # around its digit, so the lines were strokes.
    four = _cell(_TIGHT_FOUR)
    (pre,) = to_mnist_batch(four[None])
    assert not pre.blank
    assert recognizer.predict(four).digit == 4


def test_paper_grain_between_a_cells_walls_gets_no_reading_without_them():
    # Ink (at the walls' level 1.0) connected to the edges, and between the walls either paper
    # grain (up to 0.2 of that level) or a pencil stroke (0.35). Without the walls, the grain
    # brought to full level read as an 8 or a 0 in empty photographed cells: it stays under
    # OFF_EDGE_MIN_PEAK, so only the pencil gets a reading without the walls.
    rng = np.random.default_rng(0)
    ink = np.zeros((2, 64, 64), np.float32)
    ink[:, :, 6:9] = ink[:, :, 55:58] = 1.0  # the walls, top to bottom
    ink[:, 8:56, 12:52] = rng.uniform(0.0, 0.2, (48, 40))  # grain
    ink[1, 18:46, 30:34] = 0.35  # a pencil 1
    assert OFF_EDGE_MIN_PEAK > 0.2
    inner, touched = off_the_edges(ink)
    assert touched.tolist() == [False, True]
    assert inner[1, 18:46, 30:34].min() == 1.0  # the pencil, brought to full level

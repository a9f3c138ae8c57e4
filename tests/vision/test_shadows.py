"""Shadows on a photographed crop: a sharp edge between light and shade is no stroke
(digitkit.vision.preprocess.background; benchmarks/RESULTS.md, "A shadow's edge")."""

from __future__ import annotations

import numpy as np
import pytest
from recognize_helpers import draw_strokes

from digitkit.vision.preprocess import to_mnist
from digitkit.vision.preprocess.morphology import grey_opening, running_extreme


@pytest.mark.parametrize("reflected", [False, True])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("op", [np.minimum, np.maximum])
def test_running_extremes_in_doubling_steps_are_the_windowed_extremes(size, op, reflected):
    a = np.random.default_rng(size).random((2, 9, 23)).astype(np.float32)
    lead = size // 2 if reflected else (size - 1) // 2
    reduce = np.min if op is np.minimum else np.max
    want = np.stack(
        [reduce(a[:, :, max(0, i - lead) : i - lead + size], axis=2) for i in range(23)], axis=2
    )
    assert np.array_equal(running_extreme(a, size, 2, op, reflected), want)


@pytest.mark.parametrize("size", [9, 10])
def test_an_opening_keeps_large_areas_and_drops_thin_strokes(size):
    a = np.zeros((1, 40, 40), np.float32)
    a[0, :, :20] = 0.5  # a shade over the left half
    a[0, 5:35, 30:34] = 1.0  # a 4 px stroke
    opened = grey_opening(a, size)
    assert np.array_equal(opened[0, :, :20], a[0, :, :20])  # the shade's edge stays sharp
    assert opened[0, :, 20:].max() == 0.0  # the stroke is gone


def _shadowed_paper(side: int, seed: int) -> np.ndarray:
    """Light paper (1 white) with a straight shadow along one side over a third of it or less
    (a hand, a phone), its edge sharp (a penumbra of 3% of the side), and a little grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] / side - 0.5
    angle = rng.integers(4) * np.pi / 2 + rng.uniform(-0.3, 0.3)
    inside = np.cos(angle) * xx + np.sin(angle) * yy - rng.uniform(0.1, 0.35)
    shade = np.clip(inside / 0.03 + 0.5, 0, 1) * rng.uniform(0.15, 0.3)
    paper = 0.9 * (1 - shade) + rng.normal(0, 0.01, (side, side))
    return np.clip(paper, 0, 1).astype(np.float32)


@pytest.mark.parametrize("side", [64, 160])
def test_a_shadows_edge_on_empty_paper_is_not_read_as_a_digit(side):
    """The smooth light field alone left the shade's edge as a ridge of ink: the shipped model
    read it as a digit (a 1 all but once) in 18 (64 px) and 16 (160 px) of these 40 photos."""
    from digitkit.vision.recognize import Recognizer

    photos = [_shadowed_paper(side, seed) for seed in range(40)]
    read = [p.digit for p in Recognizer.load("default").predict_batch(photos)]
    assert sum(d is not None for d in read) <= 10


def test_a_marker_thick_digit_in_a_shadow_keeps_its_strokes():
    """The opening's window is a quarter of the crop: a marker's strokes, a tenth of a 64 px
    crop wide, are no shade."""
    pts = [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]  # a 7
    clean = draw_strokes(pts, 6, size=64)  # (1 white, 0 ink)
    paper = _shadowed_paper(64, 3)
    photo = paper * (0.25 + 0.75 * clean)
    a, b = to_mnist(clean).image, to_mnist(photo).image
    assert b is not None and np.abs(a - b).mean() < 0.05


def test_crops_cut_to_their_ink_are_told_from_shaded_paper(mnist_splits):
    """A tight crop's strokes can be a third of it thick (a 40 px square fits in a bold 5's
    bar at 120 px): the opening would hollow them, so such crops keep the smooth field. (84.5%
    of these are told; ink over half the peak on every edge told 28%.)"""
    from digitkit.data.scans import tight_crop
    from digitkit.vision.preprocess.background import _cut_to_ink

    tight = [
        1 - tight_crop(d, 80, False).astype(np.float32) / 255 for d in mnist_splits.x_val[:200]
    ]
    cut = [bool(_cut_to_ink(t[None])[0]) for t in tight]
    shaded = np.stack([0.9 - _shadowed_paper(64, seed) for seed in range(40)])
    assert np.mean(cut) >= 0.8
    # (One of the 40, its shade light, has its grain over 0.15 of the shade on the far edge.)
    assert _cut_to_ink(shaded).sum() <= 2


def test_a_thick_stroke_filling_the_light_grids_cells_is_ink_not_paper(monkeypatch):
    """A thick 8 cut tight to its ink: its strokes fill whole cells of the light grid, whose
    paper level was then the stroke's, so flattening hollowed it (GF2 in benchmarks/RESULTS.md,
    "Thick strokes of tight crops"). Cells that stand far above their neighbours are ink."""
    from digitkit.vision.preprocess import background
    from digitkit.vision.preprocess.ink import extract_ink

    t = np.linspace(0, 2 * np.pi, 40)
    eight = [(0.5 + 0.3 * np.sin(2 * a), 0.5 + 0.45 * np.cos(a)) for a in t]
    x = draw_strokes(eight, width=8, size=48)
    rows, cols = np.flatnonzero((x < 0.5).any(1)), np.flatnonzero((x < 0.5).any(0))
    tight = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    room = extract_ink(np.pad(tight, 16, constant_values=1.0)).ink[16:-16, 16:-16]
    assert extract_ink(tight).ink.sum() >= 0.8 * room.sum()
    monkeypatch.setattr(background, "INK_CELL_MIN", 9.0)  # no cell taken for ink: as before
    assert extract_ink(tight).ink.sum() < 0.6 * room.sum()


def test_a_light_grid_cell_far_above_its_neighbours_takes_their_level():
    from digitkit.vision.preprocess.background import _ink_cells_filled

    grid = np.zeros((2, 8, 8), np.float32)
    grid[:, :, 0] = 0.05  # a gentle gradient: the light
    grid[0, 3, 4] = 0.8  # a stroke fills this cell
    grid[1, 3, 4] = 0.3  # a shadow darkens paper less than a stroke does
    filled = _ink_cells_filled(grid, np.array([1.0, 0.3], np.float32))
    assert filled[0, 3, 4] == 0.0 and filled[1, 3, 4] == np.float32(0.3)
    assert np.array_equal(filled[:, :, 0], grid[:, :, 0])
    # A stroke three cells thick: its middle cell has ink all around, but not two around.
    grid[0, 2:5, 3:6] = 0.8
    assert _ink_cells_filled(grid, np.array([1.0, 0.3], np.float32))[0, 2:5, 3:6].max() == 0.0

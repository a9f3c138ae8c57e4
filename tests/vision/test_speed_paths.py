"""The fast paths of issue 14 item 7 (a 280x280 canvas request's CPU) give exactly what the
paths they shortcut give. (The serving pool of the same item: tests/serve/test_pool.py.)

Behaviour, not timing: every shortcut is compared with the computation it replaces."""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitkit.vision.preprocess import background, bands, blocks, ink, morphology, remove_lines
from digitkit.vision.recognize import Recognizer

SEED = 14


def canvas_png(stroke_width: int = 20) -> bytes:
    """A drawn 7 as the page sends it: black brush on an opaque white RGBA canvas."""
    img = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(img).line(
        [(70, 60), (210, 60), (140, 230)], fill=(0, 0, 0, 255), width=stroke_width, joint="curve"
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- preprocessing


def _sides_spread(signal: np.ndarray) -> np.ndarray:
    """The full computation flatten_background_stack decides with (four partitions)."""
    n, h, w = signal.shape
    b = max(1, min(h, w) // background.BORDER_BAND)
    sides = np.stack(
        [
            background._low_quantile(s.reshape(n, -1), background.SIDE_PERCENTILE)
            for s in (signal[:, :b], signal[:, -b:], signal[:, :, :b], signal[:, :, -b:])
        ],
        1,
    )
    return sides.max(axis=1) - sides.min(axis=1)


def test_a_clean_canvas_skips_background_flattening_untouched():
    signal = np.zeros((1, 280, 280), np.float32)
    signal[0, 60:220, 100:130] = 1.0  # a stroke, away from the border
    assert background.flatten_background_stack(signal) is signal


@pytest.mark.parametrize("case", range(40))
def test_the_even_sides_shortcut_agrees_with_the_percentiles(case):
    rng = np.random.default_rng([SEED, case])
    n, h, w = int(rng.integers(1, 4)), int(rng.integers(32, 90)), int(rng.integers(32, 90))
    signal = np.zeros((n, h, w), np.float32)
    # Some pixels exactly at the paper level, some noise, some light gradient, some ink.
    signal += (rng.random((n, h, w)) < rng.random()) * rng.normal(0, 0.05, (n, h, w))
    signal += np.linspace(0, rng.uniform(0, 0.2), w, dtype=np.float32)[None, None, :] * (
        rng.random() < 0.5
    )
    signal[:, h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] += 1.0
    signal = signal.astype(np.float32)
    b = max(1, min(h, w) // background.BORDER_BAND)
    bands = [
        s.reshape(n, -1)
        for s in (signal[:, :b], signal[:, -b:], signal[:, :, :b], signal[:, :, -b:])
    ]
    if background._sides_surely_even(bands):
        assert (_sides_spread(signal) < background.UNEVEN_LIGHT).all()
        assert background.flatten_background_stack(signal) is signal


@pytest.mark.parametrize(
    "values",
    [
        np.ones(11, np.float32),
        np.array([1, 1, 1, 0.5, 0.2, 1], np.float32),  # even size, majority value
        np.array([1, 1, 0.5, 0.2], np.float32),  # half is no majority
        np.array([0.3, 1, 1, 1, 0.2], np.float32),  # the first value is not the majority
        np.array([1, 1, 1, np.nan, 1], np.float32),  # NaN anywhere: np.median's NaN
        np.random.default_rng(SEED).random(1001).astype(np.float32),
    ],
)
def test_the_border_median_shortcut_is_np_median(values):
    expected = float(np.median(values))
    got = background._median(values)
    assert got == expected or (np.isnan(got) and np.isnan(expected))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_light_grid_percentile_is_np_percentile_bit_for_bit(dtype):
    # Cells of every size a grid gives (1 pixel to thousands), ties (print and paper are often
    # one level), and percentiles that fall on and between order statistics.
    rng = np.random.default_rng(SEED)
    for k in [1, 2, 3, 7, 10, 11, 63, 64, 65, 140, 1001, 4096]:
        rows = rng.random((3, k)).astype(dtype)
        tied = np.round(rows * 4).astype(dtype) / 4
        for values in (rows, tied):
            for percent in (0, 5, 10, 25, 50, 90, 100):
                expected = np.percentile(values, percent, axis=1)
                got = background._percentile_rows(values.copy(), percent)
                assert got.dtype == expected.dtype and np.array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_noise_floors_median_is_np_nanmedian_bit_for_bit(dtype):
    # Rows of the background sample's length and shorter, odd and even counts of values,
    # ties, rows without a NaN and rows of NaNs only.
    rng = np.random.default_rng([SEED, 3])
    for k in [1, 2, 5, 64, 601, 4096]:
        rows = rng.random((6, k)).astype(dtype)
        rows[1] = np.round(rows[1] * 3) / 3
        rows[2:5][rng.random((3, k)) < [[0.1], [0.5], [0.9]]] = np.nan
        rows[5] = np.nan
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN row
            expected = np.nanmedian(rows, axis=1)
        got = ink.nanmedian_rows(rows)
        assert got.dtype == expected.dtype
        assert np.array_equal(got, expected, equal_nan=True)


@pytest.mark.parametrize("f", [2, 3, 9, 13, 40])
def test_block_reduction_is_the_same_bits_either_way(f, monkeypatch):
    rng = np.random.default_rng([SEED, f])
    a = rng.random((int(rng.integers(f, 5 * f)), int(rng.integers(f, 7 * f)))).astype(np.float32)
    fast = blocks._block_reduce(a, f)
    monkeypatch.setattr(blocks, "VIEW_LOOP_MAX_FACTOR", 10**6)  # the f*f view loop always
    loop = blocks._block_reduce(a, f)
    for x, y in zip(fast, loop, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y)


@pytest.mark.parametrize("axis", [1, 2])
def test_dilation_in_doubling_steps_is_the_step_by_step_dilation(axis):
    rng = np.random.default_rng([SEED, axis])
    mask = rng.random((4, 30, 45)) < 0.05
    radius = np.array([0, 1, 7, 60])  # none, one, several steps, beyond the side
    expected = mask.copy()
    for i, r in enumerate(radius):
        for d in range(1, int(r) + 1):
            expected[i] |= np.roll(np.pad(mask[i], d), d, axis=axis - 1)[d:-d, d:-d]
            expected[i] |= np.roll(np.pad(mask[i], d), -d, axis=axis - 1)[d:-d, d:-d]
    assert np.array_equal(morphology._dilate_each_axis(mask, radius, axis), expected)


@pytest.mark.parametrize("axis", [1, 2])
def test_between_first_and_last_is_both_accumulations(axis):
    rng = np.random.default_rng([SEED, axis, 1])
    mask = rng.random((3, 25, 40)) < 0.03
    mask[1] = False  # rows without any pixel
    ahead = np.logical_or.accumulate(mask, axis=axis)
    behind = np.flip(np.logical_or.accumulate(np.flip(mask, axis=axis), axis=axis), axis=axis)
    assert np.array_equal(morphology._between_first_and_last(mask, axis), ahead & behind)


@pytest.mark.parametrize("reduced", [False, True])
def test_band_search_measuring_only_inky_bins_finds_the_bands_of_every_bin(reduced, monkeypatch):
    # Walls, grids and strokes whose runs fall just short of, on and just past a band's
    # length (BAND_RUN of the side), at every tilt, among noise; then the same search with
    # every bin's longest run measured, as it was before the shortcut.
    rng = np.random.default_rng([SEED, reduced, 2])
    n, side = 48, 40
    masks = rng.random((n, side, side)) < 0.04
    need = int(np.ceil(bands.BAND_RUN * side))
    for i in range(n):
        length = need + int(rng.integers(-2, 3))
        slope = float(rng.uniform(-0.3, 0.3))
        row, start = int(rng.integers(2, side - 2)), int(rng.integers(0, side - length + 1))
        xs = np.arange(start, start + length)
        ys = np.clip(np.round(row + slope * (xs - side / 2)).astype(int), 0, side - 1)
        masks[i, ys, xs] = True
        if i % 3 == 0:  # a run split by one gap: inky enough, but no run that long
            masks[i, ys[length // 2], xs[length // 2]] = False
    fast = bands._bands_along(masks, reduced)
    monkeypatch.setattr(bands, "_inky_bins", lambda sampled, run: np.ones(sampled.shape[:-1], bool))
    full = bands._bands_along(masks, reduced)
    assert fast.any() and np.array_equal(fast, full)


def test_a_drawn_digit_with_a_line_candidate_comes_back_untouched():
    # A 1: one long thin central stroke is a line candidate, never a printed line.
    ink = np.zeros((1, 280, 280), np.float32)
    ink[0, 40:240, 136:142] = 1.0
    assert remove_lines(ink) is ink


# --------------------------------------------------------------------------- recognizer


class _UniformModel:
    """A stand-in model: what is preprocessed, and how often, is what these tests watch."""

    name = "uniform"
    card = {"labels": list(range(10))}

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return np.full((len(images), 10), 0.1, np.float32)


@pytest.fixture
def counted(monkeypatch):
    """A recognizer and the number of times it preprocessed an image."""
    import digitkit.vision.recognize as recognize

    calls = []
    real = recognize.to_mnist_grey

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(recognize, "to_mnist_grey", counting)
    return Recognizer(_UniformModel()), calls


def test_the_page_request_preprocesses_its_canvas_once(counted):
    recognizer, calls = counted
    png = canvas_png()
    recognizer.predict(png)
    view = recognizer.preview(png)
    assert len(calls) == 1
    fresh = Recognizer(_UniformModel()).preview(png)
    assert np.array_equal(view, fresh)


def test_a_preview_edited_by_its_caller_changes_nothing_remembered(counted):
    recognizer, _ = counted
    png = canvas_png()
    first = recognizer.preview(png)
    first[:] = 0
    assert np.array_equal(recognizer.preview(png), Recognizer(_UniformModel()).preview(png))


def test_other_bytes_and_other_kinds_of_input_are_preprocessed_afresh(counted, tmp_path):
    recognizer, calls = counted
    recognizer.predict(canvas_png(20))
    recognizer.predict(canvas_png(30))  # other bytes
    path = tmp_path / "drawing.png"
    path.write_bytes(canvas_png(20))
    recognizer.predict(path)
    recognizer.predict(path)  # a file can change between calls: never remembered
    assert len(calls) == 4


def test_each_thread_remembers_its_own_last_image(counted):
    recognizer, calls = counted
    seven, thick = canvas_png(20), canvas_png(34)
    recognizer.predict(seven)
    other = threading.Thread(target=recognizer.predict, args=(thick,))
    other.start()
    other.join()
    recognizer.preview(seven)  # this thread's entry is still the seven
    assert len(calls) == 2

"""Synthetic context (digitkit.data.context) and the preprocessing that must see through it:
printed cell borders and ruled lines are removed, the digit is kept."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from digitkit.data.context import ContextStyle, _jpeg, boxes_only, photograph, widen
from digitkit.data.warp import interp_matrix
from digitkit.vision.preprocess import remove_lines, to_mnist_batch, to_mnist_grey

# Every effect off: ink on flat paper, so a test switches on exactly what it checks.
PLAIN = dict(
    p_box=0.0,
    p_lines=0.0,
    p_paper=0.0,
    p_blur=0.0,
    p_lowres=0.0,
    p_jpeg=0.0,
    p_faint=0.0,
    p_perspective=0.0,
    p_invert=0.0,
    p_shrink=0.0,
)
# A box whose four sides all lie inside a 64 px frame around an upscaled MNIST digit
# (whose ink box leaves about 9 px each side), not touching the digit.
IN_FRAME_BOX = dict(PLAIN, p_box=1.0, box_offset=(0.03, 0.12), box_cut=0.0, box_grid=0.0)


def upscale(digits: np.ndarray, side: int = 64) -> np.ndarray:
    """uint8 MNIST digits (N, 28, 28) -> float32 ink (N, side, side) in [0, 1], bilinear."""
    m = interp_matrix(28, side)
    return np.clip(m @ (digits.astype(np.float32) / 255.0) @ m.T, 0.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def val_ink(mnist_splits) -> np.ndarray:
    """120 MNIST validation digits as 64 px ink (never the test set)."""
    return upscale(mnist_splits.x_val[:120])


def synthetic_ink(n: int = 16, side: int = 64) -> np.ndarray:
    """Digit-like ink without MNIST: a thick ring (a 0) or a bar (a 1) per image."""
    yy, xx = np.mgrid[:side, :side] / side
    ring = np.clip(1 - np.abs(np.hypot((xx - 0.5) / 0.6, yy - 0.5) - 0.3) * side / 4, 0, 1)
    bar = np.clip(1 - np.abs(xx - 0.5) * side / 4, 0, 1) * ((yy > 0.2) & (yy < 0.8))
    return np.stack([ring if i % 2 else bar for i in range(n)]).astype(np.float32)


def longest_dark_run(photo: np.ndarray, ink: np.ndarray) -> float:
    """The longest fraction of the side that one row or column (or two neighbours, for a
    slightly tilted line) is dark along, counting only rows/columns clear of the digit."""
    paper = np.median(photo)
    dark = photo < paper - 30  # a printed line is at least 0.3 darker on 0.72+ paper
    best = 0.0
    for d, clear in ((dark, ink.max(axis=1) < 0.05), (dark.T, ink.max(axis=0) < 0.05)):
        pair = d[:-1] | d[1:]
        ok = clear[:-1] & clear[1:]
        if ok.any():
            best = max(best, float(pair[ok].mean(axis=1).max()))
    return best


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# --------------------------------------------------------------------------- photograph


@pytest.mark.parametrize("shape", [(9, 64, 64), (5, 40, 56), (3, 128, 128)])
def test_shapes_and_dtypes(shape):
    ink = synthetic_ink(shape[0], max(shape[1:]))[:, : shape[1], : shape[2]]
    out = photograph(ink, np.random.default_rng(0))
    assert out.shape == shape and out.dtype == np.uint8
    # Every effect at once still gives a picture, not a blank or a saturated frame.
    all_on = ContextStyle(**{k: 1.0 for k in PLAIN if k != "p_invert"})
    out = photograph(ink, np.random.default_rng(0), all_on)
    assert out.shape == shape and out.dtype == np.uint8
    assert (out.reshape(len(out), -1).std(axis=1) > 3).all()
    negatives = boxes_only(7, 48, np.random.default_rng(0))
    assert negatives.shape == (7, 48, 48) and negatives.dtype == np.uint8
    with pytest.raises(ValueError):
        photograph(ink[0], np.random.default_rng(0))


def test_seeded_rng_is_deterministic():
    ink = synthetic_ink(32)
    a = photograph(ink, np.random.default_rng(7))
    b = photograph(ink, np.random.default_rng(7))
    c = photograph(ink, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(
        boxes_only(20, 64, np.random.default_rng(3)), boxes_only(20, 64, np.random.default_rng(3))
    )


def test_ink_is_darker_than_paper(val_ink):
    ink = val_ink[:64]
    out = photograph(ink, np.random.default_rng(1)).astype(np.float32)
    on_ink = (out * (ink > 0.5)).sum(axis=(1, 2)) / (ink > 0.5).sum(axis=(1, 2))
    on_paper = (out * (ink < 0.02)).sum(axis=(1, 2)) / (ink < 0.02).sum(axis=(1, 2))
    # Only the small p_invert share (white chalk on a board) may be the other way round.
    assert np.mean(on_ink < on_paper) >= 0.9
    assert np.median(on_paper - on_ink) > 40
    inverted = photograph(ink, np.random.default_rng(1), ContextStyle(**{**PLAIN, "p_invert": 1.0}))
    inv = inverted.astype(np.float32)
    assert (
        (inv * (ink > 0.5)).sum(axis=(1, 2)) / (ink > 0.5).sum(axis=(1, 2))
        > (inv * (ink < 0.02)).sum(axis=(1, 2)) / (ink < 0.02).sum(axis=(1, 2))
    ).all()


def test_box_draws_long_border_lines_away_from_the_digit(val_ink):
    ink = val_ink[:40]
    plain = photograph(ink, np.random.default_rng(2), ContextStyle(**PLAIN))
    boxed = photograph(ink, np.random.default_rng(2), ContextStyle(**IN_FRAME_BOX))
    runs_plain = np.array([longest_dark_run(p, i) for p, i in zip(plain, ink, strict=True)])
    runs_boxed = np.array([longest_dark_run(p, i) for p, i in zip(boxed, ink, strict=True)])
    assert (runs_plain < 0.3).all()  # a bare digit has no long dark line off its ink
    assert (runs_boxed > 0.6).all()  # every boxed one has a border across > 60 % of it
    # With the default geometry (sides cut by the crop, borders through the digit, skew)
    # most boxed photos still show one.
    default = photograph(ink, np.random.default_rng(2), ContextStyle(**{**PLAIN, "p_box": 1.0}))
    runs = np.array([longest_dark_run(p, i) for p, i in zip(default, ink, strict=True)])
    assert np.mean(runs > 0.6) >= 0.6


def test_widen_moves_each_frame_whole_along_a_wider_one():
    ink = synthetic_ink(40)
    wide = widen(ink, 160, np.random.default_rng(5))
    assert wide.shape == (40, 64, 160) and wide.dtype == np.float32
    first = lambda a: int(np.argmax(a.any(axis=0)))  # noqa: E731 - the first inked column
    shifts = [first(w > 0) - first(i > 0) for w, i in zip(wide, ink, strict=True)]
    for w, i, s in zip(wide, ink, shifts, strict=True):
        assert np.array_equal(w[:, s : s + 64], i)  # the whole frame, moved
        assert w[:, :s].max(initial=0) == 0 and w[:, s + 64 :].max(initial=0) == 0
    assert len(set(shifts)) > 10  # frames placed at many places along the cell
    with pytest.raises(ValueError):
        widen(ink, 32, np.random.default_rng(5))


def test_a_wide_cells_end_walls_stand_by_the_frame_not_the_digit(val_ink):
    # Around the digit, a box's left and right walls hug it; a wide cell's stand within
    # cell_margin of the frame's ends wherever the digit is along it.
    ink = widen(val_ink[:30], 192, np.random.default_rng(6))
    style = ContextStyle(**{**IN_FRAME_BOX, "cell_margin": (0.0, 0.1)})
    photo = photograph(ink, np.random.default_rng(6), style)
    dark = photo < np.median(photo, axis=(1, 2), keepdims=True) - 30
    upright = dark.mean(axis=1) > 0.5  # (N, W): columns dark down half the height or more
    upright &= ink.max(axis=1) < 0.05  # and clear of the digit
    margin = int(0.1 * 64) + 4  # and the wall's half width, and its skew
    assert upright[:, :margin].any(axis=1).all() and upright[:, -margin:].any(axis=1).all()
    assert not upright[:, margin:-margin].any()


def test_boxes_only_shows_a_printed_mark_and_no_digit():
    out = boxes_only(64, 64, np.random.default_rng(4), ContextStyle(p_invert=0.0, p_paper=0.0))
    dark = out < np.median(out, axis=(1, 2), keepdims=True) - 30
    frac = dark.reshape(64, -1).mean(axis=1)
    assert np.mean(frac > 0.005) >= 0.95  # a box, line or grid is visible ...
    assert (frac < 0.35).all()  # ... and thin: lines, not a filled shape


def test_a_printed_pattern_covers_the_paper_with_fine_light_lines():
    style = replace(ContextStyle.box_only(), p_box=0.0, p_pattern=1.0)
    printed = photograph(np.zeros((32, 64, 64), np.float32), np.random.default_rng(6), style)
    paper = printed.max(axis=(1, 2), keepdims=True).astype(np.float32)  # between the lines
    darker = paper - printed.astype(np.float32)
    for d in darker:
        assert 0.1 < np.mean(d > 5) < 0.9  # lines over the paper, with paper between them
        for quarter in (d[:32, :32], d[:32, 32:], d[32:, :32], d[32:, 32:]):
            assert np.mean(quarter > 5) > 0.05  # ... all over it
    # lighter than ink (0.6 of the paper's light or more): at most pattern_darkness's 0.4
    assert (darker <= 0.41 * paper).all()


def test_jpeg_of_tiled_images_equals_one_by_one():
    rng = np.random.default_rng(5)
    for h, w in ((64, 64), (50, 37)):
        x = (np.cumsum(rng.random((4, h, w)) * 40, axis=2) % 256).astype(np.uint8)
        q = np.array([20, 50, 20, 50])
        tiled = _jpeg(x, q)
        for img, quality, got in zip(x, q, tiled, strict=True):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), got)


# --------------------------------------------------------------------------- preprocessing


def test_clean_digits_have_no_lines_removed(val_ink):
    ink = val_ink
    assert np.array_equal(remove_lines(ink), ink)


def test_boxed_digit_preprocesses_like_the_unboxed_one(val_ink):
    """The digit inside a printed box comes out nearly as it does without the box. Without
    border removal the box is the biggest component and is what gets normalized."""
    ink = val_ink[:60]
    plain = to_mnist_batch(photograph(ink, np.random.default_rng(6), ContextStyle(**PLAIN)))
    boxed = to_mnist_batch(photograph(ink, np.random.default_rng(6), ContextStyle(**IN_FRAME_BOX)))
    corr = np.array([correlation(p.image, b.image) for p, b in zip(plain, boxed, strict=True)])
    assert np.median(corr) > 0.95
    assert np.mean(corr > 0.9) >= 0.9


def test_single_large_image_path_removes_borders_too(mnist_splits):
    """Images over 64 px go through to_mnist_grey's per-image path: the same removal."""
    ink = upscale(mnist_splits.x_val[:12], 128)
    plain = photograph(ink, np.random.default_rng(9), ContextStyle(**PLAIN))
    boxed = photograph(ink, np.random.default_rng(9), ContextStyle(**IN_FRAME_BOX))
    corr = [
        correlation(to_mnist_grey(p / 255.0).image, to_mnist_grey(b / 255.0).image)
        for p, b in zip(plain, boxed, strict=True)
    ]
    assert np.mean(np.array(corr) > 0.9) >= 0.8


def test_ruled_lines_through_the_digit_are_removed(val_ink):
    ink = val_ink[:60]
    plain = to_mnist_batch(photograph(ink, np.random.default_rng(10), ContextStyle(**PLAIN)))
    ruled = to_mnist_batch(
        photograph(ink, np.random.default_rng(10), ContextStyle(**{**PLAIN, "p_lines": 1.0}))
    )
    corr = np.array([correlation(p.image, r.image) for p, r in zip(plain, ruled, strict=True)])
    assert np.mean(corr > 0.9) >= 0.8


@pytest.mark.parametrize("rows", [slice(40, 160), slice(0, 200)])
def test_a_lone_straight_stroke_is_kept(rows):
    """A 1 drawn as one straight bar is the digit, even in a crop so tight that the bar runs
    from edge to edge like a border cut by the crop: removing it would leave nothing. (Edge
    to edge well off the crop's middle, it is a cell's side: lone_border, whose tests are in
    tests/vision/test_line_removal.py.)"""
    img = np.ones((200, 200), np.float32)
    img[rows, 88:96] = 0.0
    out = to_mnist_grey(img)
    assert not out.blank and out.box == (88, rows.start, 96, rows.stop)
    batch = np.ones((3, 64, 64), np.float32)
    batch[:, :, 20:23] = 0.0
    assert all(not p.blank and p.box == (20, 0, 23, 64) for p in to_mnist_batch(batch))


def test_hard_boxes_draw_thicker_walls_than_the_usual_ones():
    quiet = dict(p_paper=0.0, p_blur=0.0, p_lowres=0.0, p_jpeg=0.0, p_faint=0.0)
    quiet.update(p_perspective=0.0, p_invert=0.0, p_shrink=0.0, box_cut=0.0, box_grid=0.0)
    ink = np.zeros((64, 64, 64), np.float32)
    ink[:, 20:44, 30:34] = 1.0
    printed = {}
    for name, style in (("usual", ContextStyle(p_box=1.0)), ("hard", ContextStyle.hard_boxes())):
        photos = photograph(ink, np.random.default_rng(3), replace(style, **quiet))
        printed[name] = ((photos < 160) & (ink < 0.5)).sum(axis=(1, 2)).mean()
    # Walls of 2-8 px against 1-4 px, though closer to the digit (so shorter).
    assert printed["hard"] > 1.3 * printed["usual"]

"""Styled digits: real pen 1s, 7s and 0s with the stroke a European writer adds, labelled as
the digit they still are."""

from dataclasses import replace

import numpy as np
import pytest

from digitkit.data import sources, styles
from tests.data.parts import tiny_train_parts

K = styles.STROKE_POINTS


@pytest.fixture(scope="module")
def pen():
    return sources.pen_parts()["pen_train"]


def _styled(pen, monkeypatch, digit: str, n: int, seed: int):
    """Only ``digit`` styled: (its own points, the first added stroke, the second)."""
    monkeypatch.setattr(styles, "STYLED_DIGITS", {digit: 1.0})
    points, _, labels = styles.styled_digits(pen, n, np.random.default_rng(seed))
    assert (labels == int(digit)).all()
    p = pen.points.shape[1]
    return points[:, :p], points[:, p : p + K], points[:, p + K :]


def test_a_draw_keeps_the_digit_and_adds_two_separate_strokes(pen):
    points, down, labels = styles.styled_digits(pen, 300, np.random.default_rng(0))
    p = pen.points.shape[1]
    assert points.shape == (300, p + 2 * K, 2) and points.dtype == np.float32
    assert down.shape == (300, p + 2 * K - 1)
    # The original trajectory is untouched; the pen lifts before each added stroke.
    assert not down[:, p - 1].any() and not down[:, p - 1 + K].any()
    assert down[:, p : p - 1 + K].all() and down[:, p + K :].all()
    assert set(np.unique(labels)) == {0, 1, 7}
    share = {d: (labels == d).mean() for d in (0, 1, 7)}
    for digit, want in styles.STYLED_DIGITS.items():
        assert share[int(digit)] == pytest.approx(want, abs=0.08)
    again = styles.styled_digits(pen, 300, np.random.default_rng(0))
    np.testing.assert_array_equal(points, again[0])


def test_a_one_gains_a_flag_steeper_than_a_sevens_bar_ending_at_its_top(pen, monkeypatch):
    own, flag, _ = _styled(pen, monkeypatch, "1", 200, seed=1)
    np.testing.assert_allclose(flag[:, -1, 1], own[:, :, 1].min(axis=1), atol=1e-6)
    dx, dy = (flag[:, 0] - flag[:, -1]).T
    assert (dx < 0).all() and (dy > 0).all()  # it starts lower left of the top (y down)
    angle = np.degrees(np.arctan2(dy, -dx))
    assert angle.min() >= styles.FLAG_DEG[0] - 1e-3 and angle.max() <= styles.FLAG_DEG[1] + 1e-3


def test_a_seven_gains_a_bar_across_its_stem_below_the_top(pen, monkeypatch):
    own, bar, nothing = _styled(pen, monkeypatch, "7", 200, seed=2)
    top, bottom = own[:, :, 1].min(axis=1), own[:, :, 1].max(axis=1)
    level = (bar[:, K // 2, 1] - top) / (bottom - top)
    assert (level > styles.BAR_HEIGHT[0] - 0.1).all() and (level < styles.BAR_HEIGHT[1] + 0.1).all()
    # The bar's middle is on the seven's own ink at that height.
    middle = (bar[:, 0] + bar[:, -1]) / 2
    nearest = np.linalg.norm(own - middle[:, None], axis=2).min(axis=1)
    assert np.median(nearest) < 0.05
    # The second stroke leaves no mark: all its points are one point.
    assert np.ptp(nothing, axis=1).max() < 1e-6


def test_a_zero_gains_a_rising_slash_or_a_dot_in_its_middle(pen, monkeypatch):
    own, mark, _ = _styled(pen, monkeypatch, "0", 300, seed=3)
    length = np.linalg.norm(mark[:, -1] - mark[:, 0], axis=1)
    height = np.ptp(own[:, :, 1], axis=1)
    slashed = length > 0.5 * height
    assert 0.45 < slashed.mean() < 0.75
    rise = mark[slashed, 0] - mark[slashed, -1]
    assert (rise[:, 1] > 0).all() and (rise[:, 0] < 0).all()  # lower left to upper right
    dots = ~slashed
    np.testing.assert_allclose(length[dots], styles.DOT_LENGTH * height[dots], rtol=1e-4)
    centre = (own.min(axis=1) + own.max(axis=1)) / 2
    np.testing.assert_allclose(mark[dots].mean(axis=1), centre[dots], atol=1e-5)


def test_the_mix_trains_on_styled_digits_with_their_digit_labels(monkeypatch):
    rng = np.random.default_rng
    calls = []
    real = styles.styled_digits

    def spy(pen, n, rng):
        calls.append(n)
        return real(pen, n, rng)

    monkeypatch.setattr(styles, "styled_digits", spy)
    train = tiny_train_parts(pens=60)
    none = sources.Mix(pen_copies=1, letters_copies=1, symbols=0, empty_boxes=0, several_digits=0)
    mnist = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    _, y0 = sources.draw_examples(*mnist, train, replace(none, styled_digits=0), rng(0))
    _, y1 = sources.draw_examples(*mnist, train, replace(none, styled_digits=50), rng(0))
    assert calls == [50]
    extra = np.bincount(y1, minlength=11) - np.bincount(y0, minlength=11)
    # 1s, 7s and 0s gain about 50 (a styled digit is not dropped as blank); nothing else does.
    assert extra[[0, 1, 7]].sum() >= 48 and (extra[[0, 1, 7]] >= 0).all()
    assert (extra[[2, 3, 4, 5, 6, 8, 9]] == 0).all()
    # The negatives drawn after them come from a generator further along: about as many.
    assert abs(extra[10]) <= 3


def test_the_number_lines_pool_holds_training_writers_and_the_styled_digits_asked_for():
    from digitkit.data.strings import DIGIT_ROWS, pen_pool

    parts = sources.pen_parts()
    plain, styled = pen_pool(seed=0), pen_pool(seed=0, styled=120)
    # Only training writers: pendigits' validation writers and UJI's held-out ones stay out,
    # so number lines of those writers measure a reader that never saw them.
    assert len(plain.labels) == len(parts["pen_train"]) + len(parts["uji_digits_train"])
    extra = np.bincount(styled.labels, minlength=10) - np.bincount(plain.labels, minlength=10)
    assert extra.sum() == 120 and (extra[[0, 1, 7]] > 0).all()
    assert (extra[[2, 3, 4, 5, 6, 8, 9]] == 0).all()
    # Drawn in MNIST's layout, as the plain pen digits are: ink about 20 rows high from row 4.
    rows = styled.images[-120:].max(axis=2) > 0.1
    assert styled.images.shape[1:] == (DIGIT_ROWS, DIGIT_ROWS)
    assert np.isin(rows.argmax(axis=1), (4, 5)).all() and not rows[:, :4].any()
    assert not rows[:, 24:].any() and rows[:, 20:24].any(axis=1).all()


def test_the_pool_draws_each_pen_digit_as_often_as_asked_each_time_anew(monkeypatch):
    from digitkit.data.strings import pen_pool

    full = sources.pen_parts()
    few = {k: v.subset(np.arange(len(v)) < 200) for k, v in full.items()}  # a quick pool
    monkeypatch.setattr(sources, "pen_parts", lambda: few)
    once, twice = pen_pool(seed=0), pen_pool(seed=0, renderings=2)
    pen, n = len(few["pen_train"]), len(few["pen_train"]) + len(few["uji_digits_train"])
    assert len(once.labels) == n and len(twice.labels) == 2 * n
    # Each rendering holds every training digit with its label, drawn with its own pen.
    np.testing.assert_array_equal(np.bincount(twice.labels), 2 * np.bincount(once.labels))
    np.testing.assert_array_equal(twice.labels[:pen], twice.labels[n : n + pen])
    same = np.abs(twice.images[:pen] - twice.images[n : n + pen]).max(axis=(1, 2))
    assert (same > 0.1).mean() > 0.95


def test_a_number_reader_recipe_trains_on_styled_digits_when_asked(monkeypatch):
    from digitkit.data import strings
    from digitkit.train import sequence

    asked = []
    real = strings.pen_pool

    def spy(seed=0, styled=0, renderings=1):
        asked.append((styled, renderings))
        return real(seed, styled)  # one rendering: what reaches the pool is checked above

    monkeypatch.setattr(strings, "pen_pool", spy)
    x, y = np.zeros((20, 28, 28), np.uint8), np.arange(20) % 10
    x[:, 8:20, 12:16] = 255
    recipe = sequence.NumberRecipe(
        styled_digits=40, pen_renderings=2, val_per_length=1, max_digits=2
    )
    splits = type("S", (), {"x_train": x, "y_train": y, "x_val": x, "y_val": y, "source": {}})
    monkeypatch.setattr("digitkit.data.load_splits", lambda data_dir=None: splits)
    lines, _, _ = sequence._line_sets(recipe, None, None, None, {})
    assert asked == [(40, 2)] and len(lines.pools) == 2
    assert (np.bincount(lines.pools[1].labels)[[0, 1, 7]] >= 4).all()

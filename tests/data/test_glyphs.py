"""Font letters as "not a digit": real glyphs, no look-alikes, every draw different."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from digitkit.data import glyphs  # noqa: E402
from digitkit.data.pen import LOOKALIKES  # noqa: E402
from tests.data.parts import tiny_train_parts  # noqa: E402


def test_the_bank_holds_every_font_letter_and_no_lookalike():
    bank, letters = glyphs.glyph_bank()
    assert len(bank) == len(letters) >= 10 * len(glyphs.LETTERS)
    assert not set(letters) & LOOKALIKES
    assert set(letters) == set(glyphs.LETTERS)
    # Each glyph is ink centred on the canvas with its longer side GLYPH_BOX pixels.
    ys, xs = np.nonzero(bank[letters.index("M")] > 0.5)
    assert max(np.ptp(ys), np.ptp(xs)) + 1 == pytest.approx(glyphs.GLYPH_BOX, abs=2)
    assert abs((ys.min() + ys.max()) / 2 - glyphs.SIDE / 2) < 3


def test_draws_are_ink_seeded_and_never_the_same_glyph_twice():
    a = glyphs.font_letters(64, np.random.default_rng(3))
    b = glyphs.font_letters(64, np.random.default_rng(3))
    c = glyphs.font_letters(64, np.random.default_rng(4))
    assert a.shape == (64, glyphs.SIDE, glyphs.SIDE) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # every draw has ink, none fills the canvas, and the random warps make them all different
    coverage = (a > 0.5).mean(axis=(1, 2))
    assert (coverage > 0.01).all() and (coverage < 0.5).all()
    flat = (a > 0.5).reshape(len(a), -1)
    assert len({row.tobytes() for row in flat}) == len(a)


def test_the_mix_trains_on_font_letters_as_not_a_digit(monkeypatch):
    from digitkit.data import sources
    from digitkit.labels import NOT_A_DIGIT

    calls = []
    real = glyphs.font_letters

    def spy(n, rng):
        calls.append(n)
        return real(n, rng)

    monkeypatch.setattr(glyphs, "font_letters", spy)
    train = tiny_train_parts(pens=20)
    mnist = np.zeros((0, 28, 28), np.uint8)
    only_fonts = sources.Mix(
        pen_copies=1,
        letters_copies=1,
        symbols=0,
        empty_boxes=0,
        several_digits=0,
        turned_digits=0,
        font_letters=40,
        styled_digits=0,
    )
    x, y = sources.draw_examples(
        mnist, np.zeros(0, np.int64), train, only_fonts, np.random.default_rng(0)
    )
    assert calls == [40]
    # 20 pen digits + 5 UJI digits, then 5 UJI letters + 40 font letters (a few dropped as blank
    # or as a lone upright bar), all labelled "not a digit"
    assert (y[:25] < 10).all()
    assert (y[25:] == NOT_A_DIGIT).all() and len(y) - 25 >= 40

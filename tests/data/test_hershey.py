"""Hershey stroke-font letters as "not a digit": decoded strokes, every font, no look-alike."""

import numpy as np

from digitkit.data import hershey, sources
from digitkit.data.pen import LETTERS, LOOKALIKES
from digitkit.labels import NOT_A_DIGIT
from tests.data.parts import tiny_train_parts


def test_a_glyph_line_decodes_to_its_strokes():
    # futural's "A": two slanted strokes from the apex, then the bar; " R" lifts the pen.
    vertices = hershey._decode("12345  9I[RFJ[ RRFZ[ RMTWT")
    nan = np.nan
    expected = [[0, -12], [-8, 9], [nan, nan], [0, -12], [8, 9], [nan, nan], [-5, 2], [5, 2]]
    np.testing.assert_array_equal(vertices, np.array(expected))


def test_every_font_gives_every_letter_and_no_lookalike():
    strokes = hershey.letter_strokes()
    letters = [letter for letter, _ in strokes]
    assert len(strokes) == len(hershey.FONTS) * len(LETTERS)
    assert set(letters) == set(LETTERS) and not set(letters) & LOOKALIKES
    # no font repeats another's letters
    assert len({(letter, v.tobytes()) for letter, v in strokes}) == len(strokes)
    for letter, vertices in strokes:
        drawn = vertices[~np.isnan(vertices[:, 0])]
        assert len(drawn) >= 2, letter
        # every glyph is a letter-sized drawing in font units (capitals are 21 high)
        assert 4 <= np.ptp(drawn, axis=0).max() <= 40, letter
    # the same letter comes in several shapes
    assert sum(letter == "k" for letter, _ in strokes) >= 5


def test_the_mix_draws_hershey_letters_as_not_a_digit():
    pts, down = sources._hershey_letters(50, 64, np.random.default_rng(0))
    assert pts.shape == (50, 64, 2) and down.shape == (50, 63)
    assert np.allclose(np.ptp(pts, axis=1).max(axis=1), 1.0, atol=1e-5)
    assert sources.parse_mix("mixed:hershey_letters=40").hershey_letters == 40

    quiet = sources.Mix(
        pen_copies=1, letters_copies=1, symbols=0, empty_boxes=0, several_digits=0,
        styled_digits=0,
    )  # fmt: skip
    mnist, labels = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    parts = tiny_train_parts(pens=20)
    _, without = sources.draw_examples(mnist, labels, parts, quiet, np.random.default_rng(0))
    with_letters = sources.Mix(**{**quiet.__dict__, "hershey_letters": 40})
    x, y = sources.draw_examples(mnist, labels, parts, with_letters, np.random.default_rng(0))
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
    # the digits are the same; the letters join the negatives (a few may be dropped, as from
    # every negative source, where preprocessing finds a lone upright bar)
    assert (y < 10).sum() == (without < 10).sum()
    added = int((y == NOT_A_DIGIT).sum() - (without == NOT_A_DIGIT).sum())
    assert 36 <= added <= 40

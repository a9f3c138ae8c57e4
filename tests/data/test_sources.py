"""The mixed training data: sources kept apart by writer, labels, per-epoch redraws."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from digitkit.data import sources
from digitkit.data.pen import LOOKALIKES
from digitkit.labels import NOT_A_DIGIT
from tests.data.parts import tiny_train_parts


def test_held_out_writers_never_reach_training_or_validation():
    parts = sources.pen_parts()
    tests = sources.pen_test_sets()
    train_writers = (
        set(parts["pen_train"].writers)
        | set(parts["uji_digits_train"].writers)
        | set(parts["letters_train"].writers)
    )
    val_writers = set(parts["pen_val"].writers) | set(parts["letters_val"].writers)
    test_writers = set().union(*(set(t.writers) for t in tests.values()))
    assert not train_writers & test_writers and not val_writers & test_writers
    assert not train_writers & val_writers
    assert len(tests["pendigits-test"]) == 3498
    assert {w - sources.UJI_WRITER_OFFSET for w in tests["uji-letters-test"].writers} == set(
        sources.UJI_TEST_WRITERS
    )


def test_letters_that_look_like_digits_are_not_negatives():
    parts = sources.pen_parts()
    letters = set(parts["letters_train"].labels) | set(parts["letters_val"].labels)
    assert letters and not letters & set(LOOKALIKES)
    assert not any(c.isdigit() for c in letters)


def test_a_lone_upright_bar_is_told_apart_from_other_shapes():
    images = np.zeros((4, 28, 28), np.uint8)
    images[0, 4:24, 13:15] = 255  # upright bar: a "1"
    for k in range(20):  # slanted by about 20 degrees: still a "1"
        images[1, 4 + k, 10 + k // 3] = 255
    images[2, 13:15, 4:24] = 255  # a dash
    images[3, 4:24, 6:8] = images[3, 4:24, 20:22] = 255  # two bars: no longer one stroke
    assert sources._looks_like_a_one(images).tolist() == [True, True, False, False]


def test_symbols_are_normalized_shapes_with_pen_lifts():
    pts, down = sources._symbols(50, 64, np.random.default_rng(0))
    assert pts.shape == (50, 64, 2) and down.shape == (50, 63)
    span = pts.max(axis=1) - pts.min(axis=1)
    assert np.allclose(span.max(axis=1), 1.0, atol=1e-5)
    assert (~down).any()  # "+", "=", "x" ... lift the pen between strokes


def test_several_digits_fill_a_canvas_wider_than_tall():
    digits = np.zeros((3, 28, 28), np.uint8)
    digits[:, 4:24, 10:18] = 255
    out = sources._several_digits(digits, 20, np.random.default_rng(1))
    assert out.shape == (20, sources.CANVAS, sources.CANVAS)
    ink = out > 0.5
    cols, rows = ink.any(axis=1), ink.any(axis=2)

    def extent(a: np.ndarray) -> np.ndarray:
        return a.shape[1] - a.argmax(1) - a[:, ::-1].argmax(1)

    assert (extent(cols) > extent(rows)).all()
    # Separate bars, one per digit: two or three runs of ink along a row.
    runs = (np.diff(cols.astype(int), axis=1) == 1).sum(1)
    assert set(runs) <= {2, 3} and len(set(runs)) == 2


@pytest.mark.slow
def test_one_epoch_draw_mixes_every_source(mnist_splits):
    parts = sources.pen_parts()
    train_parts = {
        "pen": parts["pen_train"].subset(np.arange(len(parts["pen_train"])) < 300),
        "uji_digits": parts["uji_digits_train"],
        "letters": parts["letters_train"],
    }
    mix = sources.Mix(
        mnist_per_epoch=0,
        pen_copies=1,
        letters_copies=1,
        symbols=100,
        empty_boxes=100,
        several_digits=100,
        styled_digits=100,
    )
    x, y = sources.draw_examples(
        mnist_splits.x_train[:500],
        mnist_splits.y_train[:500],
        train_parts,
        mix,
        np.random.default_rng(0),
    )
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and len(x) == len(y)
    assert set(np.unique(y)) == set(range(11))
    negatives = int((y == NOT_A_DIGIT).sum())
    # Letters, symbols, boxes and several digits: most survive preprocessing (some boxes are
    # blank once their lines are removed, and upright bars are dropped as "1"s).
    assert 0.5 * (len(parts["letters_train"]) + 300) < negatives
    again = sources.draw_examples(
        mnist_splits.x_train[:500],
        mnist_splits.y_train[:500],
        train_parts,
        mix,
        np.random.default_rng(0),
    )
    assert np.array_equal(x, again[0]) and np.array_equal(y, again[1])
    # Preprocessed like the recognizer's inputs: ink centred in the 28x28 frame.
    mass = x.astype(np.float64).sum(axis=(1, 2))
    cy = (x.sum(axis=2) * np.arange(28)).sum(1) / np.maximum(mass, 1)
    assert abs(np.median(cy) - 14) < 1.5


def test_turned_digits_are_real_digits_turned_by_the_allowed_angles(monkeypatch):
    # Never a 0, 1, 6, 8 or 9, whatever the angles: those turn into digits again.
    assert not set(sources.TURNS_DEG) & set("01689")
    pen = sources.pen_parts()["pen_train"]
    monkeypatch.setattr(sources, "TURN_JITTER_DEG", 0.0)
    # Only upside-down sevens: the result must be each picked 7 rotated by 180 degrees, which
    # for shapes centred on (0, 0) is the point set negated.
    monkeypatch.setattr(sources, "TURNS_DEG", {"7": (180.0,)})
    points, down = sources._turned_digits(pen, 50, np.random.default_rng(0))
    sevens = pen.subset(pen.labels == "7")
    flat = sevens.points.reshape(len(sevens), -1)
    for shape in points:
        distance = np.abs(flat + shape.reshape(1, -1)).max(axis=1)
        assert distance.min() < 1e-5
    assert points.shape == (50, pen.points.shape[1], 2)
    assert down.shape == (50, pen.points.shape[1] - 1)


def test_a_mix_is_named_by_the_counts_it_changes():
    assert sources.parse_mix("mixed") == sources.Mix()
    mix = sources.parse_mix("mixed:pen_copies=6,mnist_per_epoch=15000,mnist_photographed=0.3")
    assert (mix.pen_copies, mix.mnist_per_epoch, mix.mnist_photographed) == (6, 15000, 0.3)
    assert mix.styled_digits == sources.Mix().styled_digits
    assert sources.mix_overrides(mix) == {
        "mnist_per_epoch": 15000,
        "mnist_photographed": 0.3,
        "pen_copies": 6,
    }


@pytest.mark.parametrize(
    "spec", ["mixed:pen_copie=6", "mixed:pen_copies", "mixed:pen_copies=many", "mixed:symbols=-1"]
)
def test_a_mix_with_a_typo_is_refused_in_one_line(spec):
    from digitkit.errors import DigitkitError

    with pytest.raises(DigitkitError) as err:
        sources.parse_mix(spec)
    assert "\n" not in str(err.value)


def test_a_cards_mix_loads_the_same_mix_again():
    from digitkit.card import split_spec

    mix = sources.parse_mix("mixed:pen_copies=6,styled_digits=0")
    data = {"dataset": "mixed", "mix_overrides": sources.mix_overrides(mix), "n_val": 300}
    spec = split_spec({"data": data})
    assert spec.n_val == 300 and sources.parse_mix(spec.dataset) == mix
    assert split_spec({"data": {"dataset": "mixed", "mix_overrides": {}}}).dataset == "mixed"


def test_is_mixed_reads_the_name_before_the_mix_only():
    from digitkit.data.splits import is_mixed

    assert is_mixed("mixed") and is_mixed("mixed:pen_copies=6")
    assert not is_mixed("mnist")
    assert not is_mixed("kaggle:data/mixed")  # a path that happens to say "mixed"


#: A mix with nothing but the digits and one rendering of each pen trajectory and letter.
QUIET = sources.Mix(
    mnist_photographed=0.0,
    pen_copies=1,
    letters_copies=1,
    symbols=0,
    empty_boxes=0,
    several_digits=0,
    styled_digits=0,
)


def _quiet_draw(digits: np.ndarray, labels: np.ndarray, mix: sources.Mix, keep_mnist: bool):
    return sources.draw_examples(
        digits,
        labels,
        tiny_train_parts(pens=10),
        mix,
        np.random.default_rng(0),
        keep_mnist=keep_mnist,
    )


def _more_of_label(digits: np.ndarray, label: int, **source: int):
    """One draw of a quiet mix (no photos, symbols, boxes, ...) with ``source`` switched on:
    its images, and how many more examples labelled ``label`` it holds than without it."""
    x, _, added, _ = _added_by(digits, label, **source)
    return x, added


def _added_by(digits: np.ndarray, label: int, **source: int):
    """:func:`_more_of_label`'s draw: its images and labels, and how many more examples
    labelled ``label`` and "not a digit" it holds than the quiet mix without ``source``."""
    labels = np.full(len(digits), label, np.int64)
    _, without = _quiet_draw(digits, labels, QUIET, keep_mnist=False)
    x, y = _quiet_draw(digits, labels, replace(QUIET, **source), keep_mnist=False)
    more = int((y == label).sum() - (without == label).sum())
    return x, y, more, int((y == NOT_A_DIGIT).sum() - (without == NOT_A_DIGIT).sum())


def test_mnist_digits_drawn_sharp_join_the_digits(mnist_splits):
    sevens = mnist_splits.x_train[mnist_splits.y_train == 7][:40]
    x, added = _more_of_label(sevens, 7, mnist_canvases=30)
    # Each canvas is one of the epoch's MNIST digits, with its label, read as a drawing.
    assert added == 30
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)


def test_scanned_cells_join_the_digits_and_a_stretched_one_is_a_block(mnist_splits):
    ones = mnist_splits.x_train[mnist_splits.y_train == 1][:40]
    cells = sources._scanned_cells(ones, np.random.default_rng(0))
    assert cells.shape == (40, 16, 16) and cells.dtype == np.uint8
    ink = (cells < 128).mean(axis=(1, 2))
    # Stretched to fill its cell, a narrow 1 covers far more of it than kept upright and thin.
    assert ink.max() > 0.5 and ink.min() < 0.15
    x, added = _more_of_label(ones, 1, scanned_cells=25)
    assert added == 25
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
    # The pen writers' cells come from the epoch's renderings of them, with their labels.
    pen_labels = {int(v) for v in tiny_train_parts(pens=10)["pen"].labels}
    added = {k: _more_of_label(ones[:0], k, pen_scanned_cells=40)[1] for k in range(10)}
    assert sum(added.values()) == 40
    assert {k for k, n in added.items() if n} <= pen_labels


def test_styled_scanned_cells_add_european_ones_sevens_and_zeros(mnist_splits):
    assert sources.parse_mix("mixed:styled_scanned_cells=30").styled_scanned_cells == 30
    no_mnist = mnist_splits.x_train[:0]
    added = {k: _more_of_label(no_mnist, k, styled_scanned_cells=30)[1] for k in range(10)}
    # Every cell is one of the styled digits, with its label: 1s, 7s and 0s only, of the
    # classes the tiny pen set holds (its first 10 digits have 1s, no 0 or 7 to restyle).
    pen_labels = {int(v) for v in tiny_train_parts(pens=10)["pen"].labels}
    assert 0 < sum(added.values()) <= 30
    assert {k for k, n in added.items() if n} <= {0, 1, 7} & pen_labels
    assert added[1] > 0


def test_bent_pen_drawings_keep_their_labels_and_change_their_shapes(mnist_splits):
    assert sources.parse_mix("mixed:pen_bend=0.08").pen_bend == 0.08
    digits, labels = mnist_splits.x_train[:20], mnist_splits.y_train[:20]
    x, y = _quiet_draw(digits, labels, QUIET, keep_mnist=True)
    bent_x, bent_y = _quiet_draw(digits, labels, replace(QUIET, pen_bend=0.08), keep_mnist=True)
    # The same examples, in the same order: MNIST's untouched, the pen writers' redrawn.
    np.testing.assert_array_equal(y, bent_y)
    np.testing.assert_array_equal(x[:20], bent_x[:20])
    assert not np.array_equal(x[20:], bent_x[20:])


def test_hard_boxes_add_digits_in_hard_boxes_and_a_quarter_as_many_empty_ones(mnist_splits):
    threes = mnist_splits.x_train[mnist_splits.y_train == 3][:40]
    x, _, added, negatives = _added_by(threes, 3, hard_boxes=24)
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
    assert added == 24
    # The empty boxes join the negatives (an upright bar that preprocesses into a 1 is
    # dropped, as from every negative source).
    assert 1 <= negatives <= 24 // 4


def test_pencil_digits_add_photographed_digits_with_their_labels_and_no_negatives(mnist_splits):
    fives = mnist_splits.x_train[mnist_splits.y_train == 5][:40]
    x, y, added, negatives = _added_by(fives, 5, pencil_digits=24)
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
    # A pencil digit that preprocessing finds blank (lost in the paper's grain) is dropped,
    # as from every source: the recognizer answers such an image before any model runs.
    assert 20 <= added <= 24
    assert negatives == 0
    # They follow the pen digits (the last 5s of the draw), brought back to MNIST's ink level.
    pencil = x[y == 5][-added:]
    assert (pencil.reshape(len(pencil), -1).max(axis=1) >= 200).all()


def test_printed_patterns_add_digits_on_a_pattern_and_a_quarter_as_many_empty_papers(
    mnist_splits,
):
    assert sources.parse_mix("mixed:printed_patterns=24").printed_patterns == 24
    sevens = mnist_splits.x_train[mnist_splits.y_train == 7][:40]
    x, _, added, negatives = _added_by(sevens, 7, printed_patterns=96)
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
    assert 80 <= added <= 96  # a digit lost in the pattern is dropped, as from every source
    # The empty patterned papers join the negatives, but for those preprocessing finds blank:
    # most of them since `ink.pattern_only` (this draw: 2 of 24 join; 4 of 6 of a quarter as
    # many before it).
    assert 1 <= negatives <= 96 // 4 - 12


def test_val_and_test_load_without_drawing_a_training_epoch(monkeypatch, mnist_dir):
    # Calibration, evaluation and ensembles read val and test only: a mixed card's split then
    # draws its validation images (the same as a training load's) and no training epoch.
    calls: list[int] = []

    def fake_draw(x, y, parts, mix, rng, keep_mnist=True):
        calls.append(len(x))
        return x[:7], y[:7]  # a few images, enough to tell the draws apart

    monkeypatch.setattr(sources, "draw_examples", fake_draw)
    from digitkit.card import splits_for

    card = {"data": {"dataset": "mixed:pen_copies=6", "n_val": 300}}
    full = splits_for(card, mnist_dir)
    assert calls[0] == 300 and len(calls) == 2  # validation, then epoch 0
    assert len(full.x_train) and full.refresh is not None
    calls.clear()
    lean = splits_for(card, mnist_dir, train=False)
    assert calls == [300]  # the validation draw alone
    assert len(lean.x_train) == 0 and lean.refresh is None and lean.draw_ahead is None
    for split in ("val", "test"):
        assert all(
            np.array_equal(a, b) for a, b in zip(full.get(split), lean.get(split), strict=True)
        )
    assert lean.source["mix_overrides"] == {"pen_copies": 6}


def test_training_asks_for_its_first_epochs_before_drawing_validation(monkeypatch, mnist_dir):
    # With N epochs drawn ahead, epochs 0..N go to the workers first, so validation is drawn
    # here while they draw, and epoch 0 comes from them.
    events: list[str] = []

    def fake_draw(x, y, parts, mix, rng, keep_mnist=True):
        events.append("epoch drawn" if keep_mnist else "validation drawn")
        return x[:7], y[:7]

    class RecordingDrawAhead:  # in this process: records what is asked, draws on take
        def __init__(self, draw, args):
            self.draw, self.args, self.asked, self.failure = draw, args, set(), None

        def start(self, epoch):
            events.append(f"asked {epoch}")
            self.asked.add(epoch)

        def take(self, epoch):
            return self.draw(*self.args, epoch) if epoch in self.asked else None

    monkeypatch.setattr(sources, "draw_examples", fake_draw)
    monkeypatch.setattr(sources, "DrawAhead", RecordingDrawAhead)
    from digitkit.card import SplitSpec

    monkeypatch.setattr(sources.os, "cpu_count", lambda: 16)
    SplitSpec("mixed", n_val=300).load(mnist_dir, draw_ahead=2)
    assert events == ["asked 0", "asked 1", "asked 2", "validation drawn", "epoch drawn"]
    events.clear()
    monkeypatch.setattr(sources.os, "cpu_count", lambda: 2)  # epoch 0 beside validation only
    SplitSpec("mixed", n_val=300).load(mnist_dir, draw_ahead=2)
    assert events == ["asked 0", "validation drawn", "epoch drawn"]
    events.clear()
    SplitSpec("mixed", n_val=300).load(mnist_dir)  # nothing ahead: all drawn here
    assert events == ["validation drawn", "epoch drawn"]

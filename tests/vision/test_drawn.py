"""Drawings get their own "not a digit" operating point: which inputs preprocessing calls
drawn, how the Recognizer judges them, and how the point is fitted on drawn validation
digits (digitkit.vision.drawn)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from recognize_helpers import blurred, draw_strokes, png_bytes

from digitkit.inference.calibrate import MAX_DIGITS_REFUSED
from digitkit.labels import NOT_A_DIGIT, NOT_A_DIGIT_REASON, label_names
from digitkit.vision.drawn import (
    DRAWN_MNIST_DIGITS,
    calibrate_drawn,
    drawn_calibration,
    drawn_validation,
    points_by_hand,
)
from digitkit.vision.preprocess import to_mnist, to_mnist_batch
from digitkit.vision.recognize import Recognizer
from tests.fakes import FixedPredictor

SEVEN = [(0.2, 0.2), (0.8, 0.2), (0.45, 0.85)]


# Fixed model outputs: the main model says 0, a route's model says 7 (p("not a digit") 0.32).
SAYS_ZERO = np.array([0.9] + [0.01] * 9 + [0.0], np.float32)
SAYS_SEVEN = np.array([0.01] * 7 + [0.6] + [0.01] * 2 + [0.32], np.float32)


def _sharp(size: int = 64) -> np.ndarray:
    return draw_strokes(SEVEN, width=size / 12, size=size)


def test_a_sharp_canvas_is_drawn_a_photo_or_a_thumbnail_is_not():
    sharp = _sharp()
    soft = np.clip(
        blurred(sharp, 2.0) + np.random.default_rng(0).normal(0, 0.04, sharp.shape), 0, 1
    )
    thumb = _sharp(28)
    assert to_mnist(sharp).drawn and to_mnist(_sharp(280)).drawn
    assert not to_mnist(soft).drawn
    assert not to_mnist(thumb).drawn
    # A sharp digit in a printed box is print on paper: the general point judges it.
    boxed = sharp.copy()
    boxed[3:5, 3:61] = boxed[59:61, 3:61] = boxed[3:61, 3:5] = boxed[3:61, 59:61] = 0
    assert not to_mnist(boxed).drawn and not to_mnist(np.kron(boxed, np.ones((3, 3)))).drawn
    # A crop whose ink runs onto its edge is cut from a page (a thick box's walls, a
    # neighbour's stroke): no drawing, though sharp and without a printed line found.
    cut = sharp.copy()
    cut[20:44, :3] = 0  # a wall's stub on the left edge
    assert not to_mnist(cut).drawn
    # The stack path says the same as the per-image one.
    assert [p.drawn for p in to_mnist_batch(np.stack([sharp, soft, boxed, cut]))] == [
        True,
        False,
        False,
        False,
    ]


# Digits drawn to their canvas's edge (a 64 px canvas), with their pen's width as a share of
# it: a straight stroke that reaches the edge passes for a border cut by a crop, which
# printed-line removal takes; a thick stroke along the edge for uneven light, which
# flattening hollows.
TO_THE_EDGE = {
    "9": ([(0.7, 0.3), (0.5, 0.05), (0.3, 0.2), (0.4, 0.45), (0.7, 0.3), (0.68, 1.0)], 1 / 12),
    "4": ([(0.55, 0.0), (0.15, 0.6), (0.85, 0.6), (0.65, 0.35), (0.62, 1.0)], 1 / 12),
    "7": ([(0.15, 0.1), (0.85, 0.1), (0.6, 1.0)], 1 / 12),
    "thick 7": ([(0.0, 0.04), (1.0, 0.04), (0.55, 0.95)], 1 / 4),
}


def test_a_drawing_said_to_be_one_keeps_the_strokes_that_reach_its_canvas_edge():
    size = 64
    drawings = [draw_strokes(p, width=size * w, size=size) for p, w in TO_THE_EDGE.values()]
    for x in drawings:
        # The same drawing with room around it: no edge reached, nothing taken for print.
        room = to_mnist(np.pad(x, 20, constant_values=1.0))
        judged, said = to_mnist(x), to_mnist(x, drawing=True)
        assert room.drawn and not judged.drawn and said.drawn
        # Judged from the image, the stroke goes as a border (or leaves a dash, refused);
        # said to be a drawing, it is read exactly as with room around it.
        assert judged.image is None or np.abs(judged.image - room.image).max() > 0.5
        np.testing.assert_allclose(said.image, room.image, atol=1e-5)
        assert not said.alternatives  # no reading without a border or the edge's ink
    stacked = to_mnist_batch(np.stack(drawings), drawing=True)
    for p, x in zip(stacked, drawings, strict=True):
        assert p.drawn
        np.testing.assert_allclose(p.image, to_mnist(x, drawing=True).image, atol=1e-3)


def test_a_recognizer_told_it_reads_a_drawing_refuses_at_the_drawn_point():
    probs = np.array([0.5] + [0.02] * 9 + [0.3], np.float32)
    calibration = {"not_a_digit_above": 0.65, "not_a_digit_above_drawn": 0.2}
    card = {"labels": label_names(11), "calibration": calibration}
    r = Recognizer(FixedPredictor(probs, card=card))
    x = draw_strokes(TO_THE_EDGE["4"][0], width=64 / 12, size=64)  # judged no drawing
    assert r.predict(x).digit == 0
    assert r.predict(x, drawing=True).reason == NOT_A_DIGIT_REASON
    assert [p.reason for p in r.predict_batch(np.stack([x, x]), drawing=True)] == [
        NOT_A_DIGIT_REASON
    ] * 2
    # The same bytes twice in a row are preprocessed once, but never for the other kind.
    data = png_bytes(Image.fromarray((x * 255).astype(np.uint8)))
    judged, said = r.preview(data), r.preview(data, drawing=True)
    assert np.abs(judged - said).max() > 0.5
    np.testing.assert_array_equal(r.preview(data, drawing=True), said)


def test_drawings_are_refused_at_their_own_operating_point():
    # p("not a digit") = 0.3: under the general point, over the drawings' one.
    probs = np.array([0.5] + [0.02] * 9 + [0.3], np.float32)
    calibration = {"not_a_digit_above": 0.65, "not_a_digit_above_drawn": 0.2}
    card = {"labels": label_names(11), "calibration": calibration}
    r = Recognizer(FixedPredictor(probs, card=card))
    sharp = _sharp()
    soft = np.clip(blurred(sharp, 2.0), 0, 1)
    assert r.predict(sharp).reason == NOT_A_DIGIT_REASON
    assert r.predict(soft).digit == 0
    assert [p.reason for p in r.predict_batch(np.stack([sharp, soft]))] == [
        NOT_A_DIGIT_REASON,
        None,
    ]
    # A model calibrated before drawings had their own point judges them at the general one.
    del calibration["not_a_digit_above_drawn"]
    assert Recognizer(FixedPredictor(probs, card=card)).predict(sharp).digit == 0


def test_drawn_validation_holds_the_validation_writers_digits_and_letters(mnist_splits):
    images, labels = drawn_validation(renderings=1)
    assert images.dtype == np.uint8 and images.shape[1:] == (64, 64)
    assert (labels == NOT_A_DIGIT).sum() == 62  # UJI writer 8's letters, look-alikes left out
    assert set(np.unique(labels[labels < NOT_A_DIGIT])) == set(range(10))
    # Then MNIST validation digits in an American hand, drawn sharp: only the first ones, so
    # the rest can check the point.
    mnist_part = slice(len(labels) - DRAWN_MNIST_DIGITS, None)
    assert np.array_equal(labels[mnist_part], mnist_splits.y_val[:DRAWN_MNIST_DIGITS])
    assert set(np.unique(images[mnist_part])) == {0, 255}
    pen_only, _ = drawn_validation(renderings=1, mnist_digits=0)
    assert np.array_equal(pen_only, images[: mnist_part.start])
    again, _ = drawn_validation(renderings=1)
    assert np.array_equal(images, again)  # the same canvases for every model


def test_the_drawn_point_keeps_the_digit_budget(recognizer):
    # Fitted for the model that reads drawings: the shipped default's drawn route.
    recognizer = recognizer.reader_for(True)
    report = drawn_calibration(recognizer, renderings=1)
    curve = report["drawn_refusal_curve"]
    point = next(p for p in curve if p["threshold"] == report["not_a_digit_above_drawn"])
    hands = report["drawn_points_by_hand"]
    assert set(hands) == {"pen writers", "MNIST"}
    assert report["not_a_digit_above_drawn"] == max(hands.values())
    assert point["digits_refused"] <= MAX_DIGITS_REFUSED  # every hand within it: all of them
    # Drawings are read surely enough that their point sits below the general one (with the
    # MNIST writers' drawings among the digits, it no longer refuses many more letters).
    general = recognizer.card["calibration"]["not_a_digit_above"]
    assert report["not_a_digit_above_drawn"] < general
    at_general = next(p for p in curve if p["threshold"] == general)
    assert point["non_digits_refused"] >= at_general["non_digits_refused"] > 0.5
    assert report["drawn_validation"]["digits"] > 1000 + DRAWN_MNIST_DIGITS


def test_the_drawn_budget_holds_for_each_hand():
    """Pooled, a hand read surely (many digits far from the point) would let another's be
    refused at several times the budget; the point is the highest of the hands' points."""
    n_pen, n_mnist = 4000, 1000
    nad = np.concatenate([np.linspace(0.0, 0.02, n_pen), np.linspace(0.0, 0.204, n_mnist)])
    probs = np.zeros((n_pen + n_mnist, 11))
    probs[:, 10], probs[:, 3] = nad, 1 - nad
    labels = np.full(n_pen + n_mnist, 3)
    mnist = np.arange(n_pen + n_mnist) >= n_pen
    pooled = points_by_hand(probs, labels, {"all": np.ones_like(mnist)}, 0.01)["all"]
    hands = points_by_hand(probs, labels, {"pen": ~mnist, "mnist": mnist}, 0.01)
    assert hands["pen"] == 0.05 and hands["mnist"] == 0.25 > pooled == 0.2
    assert (nad[mnist] >= pooled).mean() > 0.01 >= (nad[mnist] >= hands["mnist"]).mean()
    # A hand with no digit (letters only) sets no point.
    letters = np.zeros(len(labels), bool)
    letters[:10] = True
    assert "letters" not in points_by_hand(
        probs, np.where(letters, NOT_A_DIGIT, labels), {"letters": letters}, 0.01
    )


def test_the_shipped_route_refuses_drawings_at_its_fitted_point(recognizer):
    """The shipped default's route sets a drawn point, below its general one: the highest of
    the hands' points, stored with the curve it was read from, within the budget."""
    from digitkit.vision.drawn import DRAWN_RENDERINGS

    route = recognizer.reader_for(True)
    calibration = route.card["calibration"]
    point = calibration["not_a_digit_above_drawn"]
    assert route.refuse_drawn_above == point < route.refuse_above
    assert point == max(calibration["drawn_points_by_hand"].values())
    assert calibration["drawn_validation"]["renderings"] == DRAWN_RENDERINGS
    at = next(p for p in calibration["drawn_refusal_curve"] if p["threshold"] == point)
    assert at["digits_refused"] <= MAX_DIGITS_REFUSED


def test_calibrate_drawn_merges_its_point_into_an_ensemble_spec(tmp_path: Path, capsys):
    import digitkit
    from digitkit.cli import main

    shipped = Path(digitkit.__file__).parent / "weights"
    copy = tmp_path / "weights"
    shutil.copytree(shipped, copy)
    spec = copy / "default.json"
    doc = json.loads(spec.read_text())
    doc["calibration"].pop("not_a_digit_above_drawn", None)
    doc.pop("drawn")  # the shipped spec's route: calibrating it for drawings is refused
    spec.write_text(json.dumps(doc))
    assert main(["calibrate", str(spec), "--drawn"]) == 0
    out = capsys.readouterr().out
    assert "not a digit, drawings: refused at p >= " in out and "each hand's own point: pen" in out
    after = json.loads(spec.read_text())["calibration"]
    report = {k: after[k] for k in ("not_a_digit_above_drawn", "drawn_validation")}
    assert report["drawn_validation"]["renderings"] == 4
    for key in ("not_a_digit_above", "uncertain_below", "refusal_curve"):
        assert after[key] == doc["calibration"][key]  # the rest of the block stays
    assert Recognizer.load(spec).refuse_drawn_above == report["not_a_digit_above_drawn"]
    with pytest.raises(Exception, match="no 'not a digit' class"):
        calibrate_drawn(copy / "cnn-medium-s0", renderings=1)


def test_the_drawn_route_reads_drawings_with_its_own_model_and_point():
    # A drawing is the route's (at its own
    # point), a photo the main model's, in one batch or one at a time.
    card = {"labels": label_names(11), "calibration": {"not_a_digit_above": 0.65}}
    route_card = {"labels": label_names(11), "calibration": {"not_a_digit_above": 0.65}}
    route = Recognizer(FixedPredictor(SAYS_SEVEN, card=route_card))
    r = Recognizer(FixedPredictor(SAYS_ZERO, card=card), drawn=route)
    sharp = _sharp()
    soft = np.clip(blurred(sharp, 2.0), 0, 1)
    assert r.predict(sharp).digit == 7 and r.predict(soft).digit == 0
    assert [p.digit for p in r.predict_batch([soft, sharp, soft])] == [0, 7, 0]
    # The route's calibration judges its drawings: at its drawn point 0.3 the 7 is refused.
    route_card["calibration"]["not_a_digit_above_drawn"] = 0.3
    r = Recognizer(
        FixedPredictor(SAYS_ZERO, card=card),
        drawn=Recognizer(FixedPredictor(SAYS_SEVEN, card=route_card)),
    )
    assert r.predict(sharp).reason == NOT_A_DIGIT_REASON
    assert r.predict_batch([sharp])[0].reason == NOT_A_DIGIT_REASON
    # 28x28 arrays (MNIST) never take the route.
    assert r.probabilities(np.zeros((1, 28, 28), np.float32))[0].argmax() == 0


def test_a_spec_names_its_drawn_route_and_calibrating_the_spec_for_drawings_is_refused(
    tmp_path: Path,
):
    import digitkit

    shipped = Path(digitkit.__file__).parent / "weights"
    copy = tmp_path / "weights"
    shutil.copytree(shipped, copy)
    doc = json.loads((copy / "default.json").read_text())
    (copy / "drawn.json").write_text(
        json.dumps({**doc, "members": ["realworld-s1"], "weights": [1.0]})
    )
    doc["drawn"] = "drawn.json"
    (copy / "routed.json").write_text(json.dumps(doc))
    r = Recognizer.load(copy / "routed.json")
    assert r.drawn_reader is not None and r.drawn_reader.name == str(copy / "drawn.json")
    assert r.reader_for(True) is r.drawn_reader and r.reader_for(False) is r
    # The shipped default reads drawings with the shipped "drawings" model; "mnist" has no route.
    shipped_route = Recognizer.load(copy / "default.json").drawn_reader
    assert shipped_route is not None and shipped_route.name == str(copy / "drawings.json")
    assert Recognizer.load(copy / "mnist.json").drawn_reader is None
    with pytest.raises(Exception, match="calibrate that model with --drawn"):
        calibrate_drawn(copy / "routed.json", renderings=1)
    doc["drawn"] = "missing.json"
    (copy / "routed.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="missing"):
        Recognizer.load(copy / "routed.json")
    doc["drawn"] = 3
    (copy / "routed.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="'drawn' must be"):
        Recognizer.load(copy / "routed.json")


def test_a_route_for_large_inputs_reads_every_crop_of_a_cell_s_size():
    # "route_inputs": "large": a photo (not drawn) of a cell's size goes to the route too;
    # thumbnails and small cells (MNIST's 28x28, a scanner's 16x16) stay with the members.
    card = {"labels": label_names(11), "calibration": {"not_a_digit_above": 0.65}}
    route = Recognizer(FixedPredictor(SAYS_SEVEN, card=dict(card)))
    sharp = _sharp()
    soft = np.clip(blurred(sharp, 2.0), 0, 1)
    big_soft = np.clip(blurred(_sharp(200), 6.0), 0, 1)  # the per-image path
    drawn_only = Recognizer(FixedPredictor(SAYS_ZERO, card=card), drawn=route)
    large = Recognizer(
        FixedPredictor(SAYS_ZERO, card={**card, "route_inputs": "large"}), drawn=route
    )
    assert not to_mnist(soft).drawn and to_mnist(soft).large and to_mnist(big_soft).large
    assert not to_mnist(_sharp(28)).large and not to_mnist(_sharp(16)).large
    assert [p.digit for p in drawn_only.predict_batch([sharp, soft, big_soft])] == [7, 0, 0]
    assert [p.digit for p in large.predict_batch([sharp, soft, big_soft])] == [7, 7, 7]
    assert large.predict(soft).digit == 7 and large.predict(_sharp(28)).digit == 0
    assert large.probabilities(np.zeros((1, 28, 28), np.float32))[0].argmax() == 0


def test_a_spec_s_route_inputs_are_checked(tmp_path: Path):
    import digitkit

    copy = tmp_path / "weights"
    shutil.copytree(Path(digitkit.__file__).parent / "weights", copy)
    doc = json.loads((copy / "default.json").read_text())
    assert Recognizer.load(copy / "default.json").route_inputs == "large"  # as shipped
    drawn_only = {k: v for k, v in doc.items() if k != "route_inputs"}
    (copy / "drawn.json").write_text(json.dumps(drawn_only))
    assert Recognizer.load(copy / "drawn.json").route_inputs == "drawn"  # the default
    (copy / "bad.json").write_text(json.dumps({**doc, "route_inputs": "photos"}))
    with pytest.raises(Exception, match="'route_inputs' must be one of drawn, large"):
        Recognizer.load(copy / "bad.json")

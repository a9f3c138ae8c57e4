"""The "not a digit" class end to end without real data: fine-tuning a 10-class run into an
11-class one, per-epoch data refresh, refusal in the Recognizer, and the refusal operating
point fitted on validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from digitkit import runs
from digitkit.data import Splits
from digitkit.errors import DigitkitError
from digitkit.inference.calibrate import MAX_DIGITS_REFUSED, refusal_curve, refusal_operating_point
from digitkit.inference.evaluate import report
from digitkit.labels import NOT_A_DIGIT, NOT_A_DIGIT_REASON, label_names
from digitkit.models import build_model
from digitkit.train.loop import TrainOptions, _warm_start, train
from digitkit.train.recipes import Recipe
from digitkit.vision.recognize import Recognizer

TINY = Recipe(name="tiny", optimizer="adam", lr=3e-3, epochs=2, batch_size=32, n_val=64)


def _bars(n: int, seed: int, classes: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Class c drawn as a horizontal bar at row 4 + 2c: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 3 + 2 * label : 5 + 2 * label, 4:24] = 255
    return x, y.astype(np.int64)


def _quiet() -> TrainOptions:
    return TrainOptions(progress=False, log=None)


def test_warm_start_keeps_every_weight_and_the_digit_rows(tmp_path):
    source = build_model("cnn-medium", width=8)
    runs.save_weights(tmp_path, {k: v.numpy() for k, v in source.state_dict().items()})
    card = {"engine": "torch", "architecture": {"name": "cnn-medium", "args": {"width": 8}}}
    target = build_model("cnn-medium", width=8, classes=11)
    _warm_start(target, tmp_path, card, "cnn-medium")
    old, new = source.state_dict(), target.state_dict()
    for key in old:
        if old[key].ndim == 0:
            assert torch.equal(old[key], new[key]), key
            continue
        rows = min(len(old[key]), len(new[key]))
        assert torch.equal(old[key][:rows], new[key][:rows]), key
    assert new["14.weight"].shape == (11, 8 * 4 * 16)
    # The new class starts small, so it never dominates before it is trained.
    assert new["14.weight"][10].abs().max() < old["14.weight"].abs().max()


def test_warm_start_refuses_another_architecture(tmp_path):
    card = {"engine": "torch", "architecture": {"name": "cnn-fast", "args": {}}}
    with pytest.raises(DigitkitError, match="cnn-medium"):
        _warm_start(build_model("cnn-medium", width=8), tmp_path, card, "cnn-medium")


def test_fine_tuning_into_eleven_classes_with_fresh_data_every_epoch(tmp_path):
    x, y = _bars(320, 0, classes=10)
    base = Splits(x[:256], y[:256], x[256:], y[256:], x[256:], y[256:], {"dataset": "toy"})
    train("cnn-medium", TINY, base, tmp_path / "base", arch_args={"width": 8}, options=_quiet())

    drawn: list[int] = []

    def refresh(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        drawn.append(epoch)
        return _bars(256, 100 + epoch)

    xv, yv = _bars(64, 7)
    mixed = Splits(*_bars(256, 100), xv, yv, xv, yv, {"dataset": "toy"}, refresh)
    card = train(
        "cnn-medium",
        TINY,
        mixed,
        tmp_path / "ft",
        arch_args={"width": 8, "classes": 11},
        init=tmp_path / "base",
        options=_quiet(),
    )
    assert drawn == [0, 1]
    assert card["labels"] == label_names(11) and card["labels"][-1] == NOT_A_DIGIT_REASON
    assert card["init"]["run"] == str(tmp_path / "base")
    # The fine-tuned run keeps the normalization its starting weights were trained with.
    assert card["input"] == runs.read_card(tmp_path / "base")["input"]
    assert card["metrics"]["val"]["accuracy"] > 0.5


def test_a_refresh_of_another_size_is_an_error(tmp_path):
    x, y = _bars(96, 0)
    splits = Splits(
        x[:64],
        y[:64],
        x[64:],
        y[64:],
        None,
        None,
        {"dataset": "toy"},
        lambda epoch: _bars(10, epoch),
    )
    with pytest.raises(DigitkitError, match="10 training images"):
        train(
            "cnn-medium",
            TINY,
            splits,
            tmp_path,
            arch_args={"width": 8, "classes": 11},
            options=_quiet(),
        )


@dataclass
class FixedPredictor:
    """Answers every image with the same probabilities."""

    probs: np.ndarray
    name: str = "fixed"
    card: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return np.repeat(self.probs[None], len(images), axis=0)


def _image() -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    img[6:22, 12:16] = 1.0
    return img


def test_recognizer_refuses_what_is_not_a_digit():
    probs = np.array([0.05] * 10 + [0.5], np.float32)
    card = {"labels": label_names(11), "calibration": {"not_a_digit_above": 0.4}}
    out = Recognizer(FixedPredictor(probs, card=card)).predict(_image()).to_dict()
    assert out["digit"] is None and out["reason"] == NOT_A_DIGIT_REASON
    assert len(out["probabilities"]) == 10 and out["confidence"] == pytest.approx(0.5)
    # Above the operating point only: the same probabilities with a stricter point answer 0.
    card["calibration"]["not_a_digit_above"] = 0.6
    out = Recognizer(FixedPredictor(probs, card=card)).predict(_image()).to_dict()
    assert out["digit"] == 0 and "reason" not in out


def test_without_an_operating_point_the_most_probable_class_decides():
    card = {"labels": label_names(11)}
    digit = np.array([0.0, 0.6] + [0.0] * 8 + [0.4], np.float32)
    other = np.array([0.0, 0.3] + [0.0] * 8 + [0.7], np.float32)
    assert Recognizer(FixedPredictor(digit, card=card)).predict(_image()).digit == 1
    assert (
        Recognizer(FixedPredictor(other, card=card)).predict(_image()).reason == NOT_A_DIGIT_REASON
    )
    batch = Recognizer(FixedPredictor(other, card=card)).predict_batch(np.stack([_image()] * 3))
    assert [p.reason for p in batch] == [NOT_A_DIGIT_REASON] * 3


def test_refusal_operating_point_is_chosen_within_the_digit_budget():
    rng = np.random.default_rng(0)
    n = 4000
    labels = np.where(rng.random(n) < 0.25, NOT_A_DIGIT, rng.integers(0, 10, n))
    other = np.where(labels == NOT_A_DIGIT, rng.beta(5, 1, n), rng.beta(1, 8, n))
    probs = np.zeros((n, 11))
    probs[:, 10] = other
    probs[np.arange(n), np.minimum(labels, 9)] += 1 - other
    curve = refusal_curve(probs, labels)
    refused = [p["digits_refused"] for p in curve]
    assert refused == sorted(refused, reverse=True)  # a higher threshold refuses fewer
    t = refusal_operating_point(probs, labels)
    point = next(p for p in curve if p["threshold"] == t)
    assert point["digits_refused"] <= MAX_DIGITS_REFUSED
    lower = [p for p in curve if p["threshold"] < t]
    assert all(p["digits_refused"] > MAX_DIGITS_REFUSED for p in lower)
    assert point["non_digits_refused"] > 0.5


def test_report_counts_a_refused_digit_as_an_error():
    probs = np.zeros((3, 11))
    probs[0, 3] = probs[1, 10] = probs[2, 10] = 1
    rep = report(np.array([3, 4, NOT_A_DIGIT]), probs)
    assert rep["errors"] == 1 and len(rep["confusion"]) == 11
    assert rep["per_class"][str(NOT_A_DIGIT)]["recall"] == 1.0

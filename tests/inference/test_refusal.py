"""The "not a digit" class at inference, without real data: refusal in the Recognizer, the
refusal operating point fitted on validation, and refused digits in reports. (Training the
class: tests/train/test_not_a_digit.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from digitkit.inference.calibrate import MAX_DIGITS_REFUSED, refusal_curve, refusal_operating_point
from digitkit.inference.evaluate import report
from digitkit.labels import NOT_A_DIGIT, NOT_A_DIGIT_REASON, label_names
from digitkit.vision.recognize import Recognizer
from tests.fakes import FixedPredictor


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

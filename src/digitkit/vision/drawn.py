"""The "not a digit" operating point for drawings.

A model with the "not a digit" class refuses an image when that class's probability reaches
its operating point, fitted by ``digitkit.inference.calibrate`` on the mixed validation split
so that at most ``MAX_DIGITS_REFUSED`` of its digits are refused. Most of those digits are
photographed, boxed or ruled, and the model is unsure of the hardest of them, so the point
sits high: a drawn letter the model half takes for a 4 passes it. Drawn digits are read far
more surely, so drawings (``Preprocessed.drawn``: sharp ink in a crop of a cell's size or
more, without printed lines) get their own point, chosen on drawn validation digits alone
(at most ``MAX_DIGITS_REFUSED``, the general point's budget, of each hand's refused): the
validation writers' pen digits (pendigits writers id % 6 == 0, UJI writer 8), each drawn
``DRAWN_RENDERINGS`` times as a canvas, and the first ``DRAWN_MNIST_DIGITS`` of MNIST's
validation digits drawn as canvases (an American hand: a point fitted on the pen writers
alone refused 0.5% of those), all read through the whole recognizer. The validation
writer's letters give the other side of the trade-off curve; they do not set the point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from digitkit.errors import DigitkitError
from digitkit.inference.calibrate import (
    MAX_DIGITS_REFUSED,
    refusal_curve,
    refusal_operating_point,
)
from digitkit.labels import NOT_A_DIGIT

DRAWN_RENDERINGS = 4  # canvases per validation trajectory (1,269 digits, 62 letters)
DRAWN_SEED = 0  # the renderings' seed: the same canvases for every model
# MNIST validation digits 0 .. DRAWN_MNIST_DIGITS - 1 join the drawn validation digits; the
# others stay unseen by the point, to check it on (benchmarks/RESULTS.md).
DRAWN_MNIST_DIGITS = 2500


def drawn_validation(
    renderings: int = DRAWN_RENDERINGS,
    seed: int = DRAWN_SEED,
    mnist_digits: int = DRAWN_MNIST_DIGITS,
    data_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Canvases (N, 64, 64) uint8, dark ink on white, of the validation writers' digits and
    letters, each drawn ``renderings`` times, then of the first ``mnist_digits`` MNIST
    validation digits (from ``data_dir``); labels 0-9, and NOT_A_DIGIT for letters."""
    from digitkit.data import load_splits
    from digitkit.data.render import mnist_canvases, render
    from digitkit.data.sources import CANVAS, pen_parts

    parts = pen_parts()
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for name in ("pen_val", "uji_digits_val", "letters_val"):
        part = parts[name]
        for _ in range(renderings):
            ink = render((part.points, part.pen_down), size=CANVAS, rng=rng)
            images.append(np.round((1.0 - ink) * 255).astype(np.uint8))
            if name == "letters_val":
                labels.append(np.full(len(part.labels), NOT_A_DIGIT, np.int64))
            else:
                labels.append(part.labels.astype(np.int64))
    if mnist_digits:
        mnist = load_splits("mnist", data_dir)
        images.append(mnist_canvases(mnist.x_val[:mnist_digits], CANVAS))
        labels.append(mnist.y_val[:mnist_digits].astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def points_by_hand(
    probs: np.ndarray, labels: np.ndarray, hands: dict[str, np.ndarray], max_digits_refused: float
) -> dict[str, float]:
    """Each hand's operating point (its rows of ``probs`` (N, 11) and ``labels``, a bool mask
    per hand): the drawn point is the highest of them, so the budget holds for every hand.
    Pooled, the pen writers' sure digits let the American hand's drawings be refused twice as
    often as the budget (benchmarks/RESULTS.md, rule DB)."""
    return {
        name: refusal_operating_point(probs[hand], labels[hand], max_digits_refused)
        for name, hand in hands.items()
        if (labels[hand] < NOT_A_DIGIT).any()
    }


def drawn_calibration(
    recognizer: Any,
    renderings: int = DRAWN_RENDERINGS,
    seed: int = DRAWN_SEED,
    max_digits_refused: float = MAX_DIGITS_REFUSED,
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The drawn operating point of a recognizer whose model has the "not a digit" class:
    ``not_a_digit_above_drawn``, its trade-off curve over the drawn validation images, and
    how many there were (blank ones and those preprocessing did not find drawn are left out:
    the general point judges those)."""
    if recognizer.classes <= NOT_A_DIGIT:
        raise DigitkitError(f"{recognizer.name}: the model has no 'not a digit' class")
    mnist_digits = DRAWN_MNIST_DIGITS
    images, labels = drawn_validation(renderings, seed, mnist_digits, data_dir)
    american = np.arange(len(labels)) >= len(labels) - mnist_digits  # drawn last: the MNIST part
    preds, pre = recognizer._predict_preprocessed(images)
    read = np.array([not p.blank and p.drawn for p in pre])
    digits_p = np.array([p.probabilities for p in preds], np.float64)[read]
    probs = np.concatenate([digits_p, 1.0 - digits_p.sum(axis=1, keepdims=True)], axis=1)
    y, american = labels[read], american[read]
    by_hand = points_by_hand(
        probs, y, {"pen writers": ~american, "MNIST": american}, max_digits_refused
    )
    return {
        "not_a_digit_above_drawn": max(by_hand.values()),
        "drawn_points_by_hand": by_hand,
        "drawn_refusal_curve": refusal_curve(probs, y),
        "drawn_validation": {
            "digits": int((y < NOT_A_DIGIT).sum()),
            "non_digits": int((y == NOT_A_DIGIT).sum()),
            "left_out": int((~read).sum()),
            "renderings": renderings,
            "seed": seed,
            "writers": "pendigits training writers id % 6 == 0, UJI writer 8; "
            f"MNIST validation digits 0-{DRAWN_MNIST_DIGITS - 1} as canvases",
        },
    }


def calibrate_drawn(
    model: str | Path, renderings: int = DRAWN_RENDERINGS, data_dir: str | Path | None = None
) -> dict[str, Any]:
    """Fit the drawn operating point of a run directory or ensemble spec (calibrated
    already: the point is on its calibrated probabilities) and merge it into its
    ``calibration`` block, the rest of which stays as it is."""
    import json

    from digitkit import atomic, runs
    from digitkit.vision.recognize import Recognizer

    path = Path(model)
    recognizer = Recognizer.load(path)
    if recognizer.classes > NOT_A_DIGIT and recognizer.refuse_above is None:
        raise DigitkitError(f"{path}: calibrate the model first (no 'not a digit' point)")
    if recognizer.drawn_reader is not None:
        raise DigitkitError(
            f"{path}: drawings are read by {recognizer.drawn_reader.name}; calibrate that "
            "model with --drawn instead"
        )
    report = drawn_calibration(recognizer, renderings, data_dir=data_dir)
    if path.is_file():
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc.setdefault("calibration", {}).update(report)
        atomic.write_text(path, json.dumps(doc, indent=2) + "\n")
    else:
        card = runs.read_card(path)
        runs.update_card(path, calibration={**(card.get("calibration") or {}), **report})
    return report

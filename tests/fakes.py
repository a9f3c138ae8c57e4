"""The fakes of the suite: the one fake-run builder, a run directory with random weights, for
tests of whatever reads runs (predictors, ensembles, evaluation) without training one (use
``make_fake_run`` directly or the ``fake_run_factory`` fixture, tests/conftest.py), and the
probabilities of imagined ensemble members (``onehot_probs``, ``noisy_member``), and a
predictor with fixed answers (``FixedPredictor``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import runs
from digitkit.data.normalize import InputSpec
from digitkit.train.recipes import Recipe


def make_fake_run(
    path: Path,
    seed: int = 0,
    labels: list[int] | None = None,
    input_kind: str = "global",
    data: dict | None = None,
    probs: dict[str, np.ndarray] | None = None,
) -> Path:
    """A run directory of ``cnn-fast`` (width 4) with random weights and optional cached
    probabilities; everything a predictor or an ensemble needs."""
    import torch

    from digitkit.models import build_model, count_params

    torch.manual_seed(seed)
    model = build_model("cnn-fast", width=4)
    path.mkdir(parents=True, exist_ok=True)
    card = runs.new_card(
        engine="torch",
        architecture="cnn-fast",
        arch_args={"width": 4},
        input_spec=InputSpec(kind=input_kind).to_dict(),
        recipe=Recipe().to_dict(),
        data=data or {"dataset": "mnist", "n_val": 5000, "split_seed": 0},
        seed=seed,
        num_params=count_params(model),
    )
    if labels is not None:
        card["labels"] = labels
    card["status"] = "done"
    runs.write_card(path, card)
    runs.save_weights(path, {k: v.numpy() for k, v in model.state_dict().items()})
    for split, p in (probs or {}).items():
        runs.save_probs(path, split, p)
    return path


def minimal_card() -> dict:
    """The smallest valid card (a cnn-fast torch run, still running), for run-directory tests."""
    return runs.new_card(
        engine="torch",
        architecture="cnn-fast",
        arch_args=None,
        input_spec={"kind": "global"},
        recipe={},
        data={},
        seed=0,
        num_params=1,
    )


def onehot_probs(pred: np.ndarray, conf: float = 0.9, c: int = 10) -> np.ndarray:
    """Probabilities putting ``conf`` on ``pred`` and the rest spread evenly."""
    p = np.full((len(pred), c), (1 - conf) / (c - 1), np.float32)
    p[np.arange(len(pred)), pred] = conf
    return p


def noisy_member(
    labels: np.ndarray, error_rate: float, rng, conf: float | None = None
) -> np.ndarray:
    """A member wrong on a random ``error_rate`` of the images; confident when right
    (0.7..1) and hesitant when wrong (0.3..0.7) unless ``conf`` fixes the confidence."""
    pred = labels.copy()
    wrong = rng.random(len(labels)) < error_rate
    pred[wrong] = (labels[wrong] + rng.integers(1, 10, wrong.sum())) % 10
    if conf is not None:
        return onehot_probs(pred, conf)
    c = np.where(wrong, rng.uniform(0.3, 0.7, len(labels)), rng.uniform(0.7, 1.0, len(labels)))
    p = rng.dirichlet(np.ones(10), len(labels)) * (1 - c)[:, None]
    p[np.arange(len(labels)), pred] += c
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def val_number_lines(mnist_splits, max_digits: int):
    """A number-line generator over the first 1,000 MNIST validation digits, plain lines
    (no pen digits, no photos)."""
    from digitkit.data.strings import NumberLines

    return NumberLines.from_mnist(
        mnist_splits.x_val[:1000],
        mnist_splits.y_val[:1000],
        use_pen=False,
        use_photos=False,
        max_digits=max_digits,
    )


@dataclass
class FixedPredictor:
    """A predictor that answers every image with the same probabilities (``card`` holds the
    labels and calibration the Recognizer reads)."""

    probs: np.ndarray
    name: str = "fixed"
    card: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return np.repeat(self.probs[None], len(images), axis=0)

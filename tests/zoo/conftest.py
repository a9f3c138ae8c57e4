"""Helpers of the zoo tests: probabilities of imagined ensemble members. Fake run directories
come from ``tests/fakes.py`` (``make_fake_run``, or the ``fake_run_factory`` fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


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

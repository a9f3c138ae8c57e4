"""Losses: fused softmax cross-entropy (for logits) and mean squared error.

A loss object computes the mean loss over the batch in ``forward`` and returns its gradient
with respect to the model output in ``backward``.
"""

from __future__ import annotations

import numpy as np

from digitkit import metrics
from digitkit.errors import DigitkitError

log_softmax = metrics.log_softmax  # over the last axis, in the input's dtype


def one_hot(labels: np.ndarray, n: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    out = np.zeros((len(labels), n), dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


class SoftmaxCrossEntropy:
    """Cross-entropy of softmax(logits) against integer labels, fused: the gradient is simply
    (softmax - target) / N, and log-softmax never takes the log of an underflowed zero.
    ``label_smoothing`` mixes the target with the uniform distribution, as in torch."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def _target(self, labels: np.ndarray, n_classes: int, dtype: np.dtype) -> np.ndarray:
        t = one_hot(labels, n_classes, dtype)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / n_classes
        return t

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        if logits.ndim != 2 or len(logits) != len(labels):
            raise DigitkitError(
                f"cross-entropy needs logits (N, classes) and N labels; got "
                f"{logits.shape} and {np.shape(labels)}"
            )
        logp = log_softmax(logits)
        self.target = self._target(labels, logits.shape[1], logits.dtype)
        self.probs = np.exp(logp)
        return float(-(self.target * logp).sum() / len(logits))

    def backward(self) -> np.ndarray:
        return (self.probs - self.target) / self.probs.dtype.type(len(self.probs))


class MSE:
    """Mean squared error between outputs (N, classes) and one-hot targets, averaged over all
    elements (torch's MSELoss). The early from-scratch models trained tanh nets with it."""

    def forward(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        self.diff = outputs - one_hot(labels, outputs.shape[1], outputs.dtype)
        return float((self.diff * self.diff).mean())

    def backward(self) -> np.ndarray:
        return self.diff * self.diff.dtype.type(2.0 / self.diff.size)

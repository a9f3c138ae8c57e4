"""The small maths every part of digitkit shares: softmax, log-softmax, log-loss, accuracy
and a one-dimensional minimizer. NumPy only.

Each function keeps its input's dtype (float32 stays float32), so a caller that wants float64
maths casts first: the results are then bit for bit what the callers computed before these
lived in one place.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPS = 1e-12  # probabilities are clipped here before a log: a confident miss costs ~27.6


def softmax(z: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """``softmax(z / temperature)`` along ``axis``, shifted by the maximum so exp never
    overflows."""
    if temperature != 1.0:
        z = z / temperature
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(z))`` along ``axis``, stable for any logits (log-sum-exp)."""
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def safe_log(probs: np.ndarray) -> np.ndarray:
    """``log(probs)`` with probabilities clipped to ``[EPS, 1]`` (log-probabilities are
    logits up to a per-row constant)."""
    return np.log(np.clip(probs, EPS, 1.0))


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood (log-loss) of ``labels`` under probabilities (N, C)."""
    picked = np.asarray(probs)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, EPS, 1.0)).mean())


def logits_nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    logp = log_softmax(np.asarray(logits) / temperature, axis=1)
    return float(-logp[np.arange(len(labels)), labels].mean())


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose top class is the label (0 for no rows)."""
    return float((probs.argmax(axis=1) == labels).mean()) if len(labels) else 0.0


def golden_section_min(f: Callable[[float], float], lo: float, hi: float, iters: int = 40) -> float:
    """The minimizer of a unimodal ``f`` on ``[lo, hi]`` by golden-section search (one
    evaluation per step; the interval shrinks by 0.618 each time)."""
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(iters):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return (lo + hi) / 2

"""Helpers for the NumPy-engine tests: small synthetic data, numeric gradients."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitkit.data import Splits
from digitkit.train.recipes import Recipe


def numeric_grad(
    f: Callable[[], float], arr: np.ndarray, eps: float = 1e-6, max_points: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of ``f`` w.r.t. up to ``max_points`` random entries of ``arr``
    (changed in place and restored). Returns (flat indices, gradient values)."""
    rng = np.random.default_rng(seed)
    flat = arr.reshape(-1)
    idx = rng.choice(flat.size, size=min(max_points, flat.size), replace=False)
    out = np.empty(len(idx))
    for n, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        out[n] = (up - down) / (2 * eps)
    return idx, out


def assert_close(
    actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4, atol: float = 0.0
) -> None:
    """Relative agreement measured against the scale of ``expected`` as a whole."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(), 1e-12)
    err = np.abs(actual - expected).max()
    assert err <= rtol * scale + atol, f"max error {err:.3g} vs scale {scale:.3g}"


def synthetic_splits(
    n_train: int = 256, n_val: int = 64, n_test: int = 64, seed: int = 0
) -> Splits:
    """Learnable fake digits: class k is a bright bar at row 2 + 2k plus noise (uint8)."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        rows = 2 + 2 * y
        x[np.arange(n), rows] = 255
        return x, y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = make(n_train), make(n_val), make(n_test)
    return Splits(xt, yt, xv, yv, xs, ys, {"dataset": "synthetic", "seed": seed})


# A three-epoch recipe small enough for tests of the trainer (both engines' rules).
TINY = Recipe(
    name="tiny",
    optimizer="adam",
    lr=3e-3,
    epochs=3,
    batch_size=32,
    augment="rotation:8,shift:0.05,p:0.5",
    schedule="cosine",
    normalization="scale",
)

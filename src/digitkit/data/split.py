"""Stratified, seeded hold-out split of the training images into train and validation."""

from __future__ import annotations

import numpy as np

from digitkit.errors import DigitkitError


def stratified_split(
    labels: np.ndarray, n_val: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted ``(train_idx, val_idx)`` with exactly ``n_val`` validation indices.

    Each class contributes in proportion to its frequency (largest-remainder rounding), so
    the validation split has the class balance of the whole. The same ``(labels, n_val, seed)``
    always gives the same split.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 <= n_val < n:
        raise DigitkitError(f"validation size must be in [0, {n - 1}], got {n_val}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * (n_val / n)
    take = np.floor(quota).astype(int)
    remainder = n_val - take.sum()
    # Give the leftover slots to the classes with the largest fractional parts.
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:remainder]] += 1
    val_parts = []
    for cls, k in zip(classes, take, strict=True):
        idx = np.flatnonzero(labels == cls)
        val_parts.append(rng.permutation(idx)[:k])
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask), val_idx

"""The train / val / test arrays a trainer sees, for the datasets read from files (MNIST's
IDX files, Kaggle's CSV). The ``mixed`` dataset builds on these in :mod:`digitkit.data.sources`,
and :func:`digitkit.data.load_splits` chooses between them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitkit.data.split import stratified_split
from digitkit.errors import DigitkitError

DEFAULT_N_VAL = 5000  # validation images held out of MNIST's 60,000 training images


@dataclass
class Splits:
    """Train / val / test arrays. ``x_*`` uint8 (N, 28, 28), ``y_*`` int64 (N,).

    ``x_test``/``y_test`` are None for datasets without labelled test images (Kaggle).
    ``source`` describes where the data came from, for the model card. ``refresh``, when
    set, draws epoch ``e``'s training set afresh (same size every epoch, deterministic in
    ``e`` so a resumed run sees the same data): sources rendered on the fly (pen trajectories,
    synthetic context) give the model new drawings every epoch.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    source: dict[str, Any] = field(default_factory=dict)
    refresh: Callable[[int], tuple[np.ndarray, np.ndarray]] | None = None
    # Where ``refresh`` draws: begin drawing epoch ``e`` in the background, for a later
    # ``refresh(e)`` (the same images either way; digitkit.data.prefetch).
    draw_ahead: Callable[[int], None] | None = None

    def get(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of ``split`` (train, val or test)."""
        if split not in ("train", "val", "test"):
            raise DigitkitError(f"unknown split {split!r}; choose train, val or test")
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        if x is None or y is None:
            raise DigitkitError(f"dataset {self.source.get('dataset')} has no labelled {split}")
        return x, y

    def subset(self, n_train: int | None = None, n_val: int | None = None) -> Splits:
        """The first ``n_train`` training and ``n_val`` validation samples (for quick runs)."""
        return Splits(
            self.x_train[:n_train],
            self.y_train[:n_train],
            self.x_val[:n_val],
            self.y_val[:n_val],
            self.x_test,
            self.y_test,
            {**self.source, "n_train": n_train, "n_val_used": n_val},
            None
            if self.refresh is None
            else lambda epoch: tuple(a[:n_train] for a in self.refresh(epoch)),  # type: ignore[misc]
            self.draw_ahead,
        )


MIXED = "mixed"


def is_mixed(dataset: str) -> bool:
    """Whether a :func:`load_splits` name is the mixed dataset: ``mixed`` or
    ``mixed:KEY=VALUE,...``."""
    return dataset.partition(":")[0] == MIXED


def dataset_spec(data: dict[str, Any]) -> str:
    """The :func:`load_splits` name of the dataset a card's (or spec's) ``data`` block
    describes: ``mnist``, ``mixed``, ``mixed:KEY=VALUE,...`` or ``kaggle:PATH``."""
    name = str(data.get("dataset") or "mnist")
    if name == "kaggle":
        return f"kaggle:{data.get('path')}"
    overrides = data.get("mix_overrides") if name == MIXED else None
    if overrides:
        return f"{MIXED}:" + ",".join(f"{key}={value}" for key, value in overrides.items())
    return name


def _split_train(
    images: np.ndarray, labels: np.ndarray, n_val: int, seed: int
) -> tuple[np.ndarray, ...]:
    train_idx, val_idx = stratified_split(labels, n_val, seed)
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]


def load_plain_splits(
    dataset: str = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    n_val: int = 5000,
    split_seed: int = 0,
    download: bool = True,
) -> Splits:
    """Load ``mnist`` or ``kaggle:PATH`` and carve the stratified, seeded validation split out
    of its training set (:func:`digitkit.data.load_splits` adds the ``mixed`` dataset)."""
    if dataset == "mnist":
        from digitkit.data.mnist import FILES, load_mnist, resolve_data_dir

        arrays = load_mnist(data_dir, download=download)
        x_tr, y_tr, x_val, y_val = _split_train(
            arrays["train_images"], arrays["train_labels"].astype(np.int64), n_val, split_seed
        )
        source = {
            "dataset": "mnist",
            "data_dir": str(resolve_data_dir(data_dir)),
            "sha256": {f.name: f.sha256 for f in FILES},
        }
        y_test = arrays["test_labels"].astype(np.int64)
        x_test = arrays["test_images"]
    elif dataset.startswith("kaggle:"):
        from digitkit.data.kaggle import read_train_csv

        path = Path(dataset.split(":", 1)[1]).expanduser()
        if path.is_dir():
            path = path / "train.csv"
        images, labels = read_train_csv(path)
        x_tr, y_tr, x_val, y_val = _split_train(images, labels, n_val, split_seed)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        source = {"dataset": "kaggle", "path": str(path), "sha256": {path.name: digest}}
        x_test = y_test = None
    else:
        raise DigitkitError(f"unknown dataset {dataset!r}; use 'mnist', 'mixed' or 'kaggle:PATH'")
    source.update({"n_val": n_val, "split_seed": split_seed})
    return Splits(x_tr, y_tr, x_val, y_val, x_test, y_test, source)

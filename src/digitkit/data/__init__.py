"""Data layer: MNIST and Kaggle CSV loading, validation split, normalization, augmentation.

``load_splits`` is what trainers call: it returns the train / val / test arrays as uint8
images (N, 28, 28) and int64 labels, with the facts a model card records about them.
"""

from __future__ import annotations

import os

from digitkit.data.split import stratified_split
from digitkit.data.splits import (
    DEFAULT_N_VAL,
    Splits,
    dataset_spec,
    is_mixed,
    load_plain_splits,
)

__all__ = ["DEFAULT_N_VAL", "Splits", "dataset_spec", "load_splits", "stratified_split"]


def load_splits(
    dataset: str = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    n_val: int = DEFAULT_N_VAL,
    split_seed: int = 0,
    download: bool = True,
    train: bool = True,
    draw_ahead: int = 0,
) -> Splits:
    """Load a dataset and carve a stratified, seeded validation split out of its training set.

    ``dataset`` is ``mnist`` (the four IDX files in the data directory), ``kaggle:PATH``
    (PATH is Kaggle's ``train.csv`` or a folder containing it) or ``mixed`` (MNIST, real pen
    drawings, synthetic context and "not a digit" examples: :mod:`digitkit.data.sources`;
    ``mixed:KEY=VALUE,...`` changes how many of each source an epoch holds, see
    :class:`digitkit.data.sources.Mix`).

    ``train=False`` is for callers that read only ``val`` and ``test`` (calibration,
    evaluation, ensembles): a mixed dataset then draws no training epoch (minutes of
    rendering and preprocessing) and its ``x_train`` is empty. ``draw_ahead=N`` (training)
    draws a mixed dataset's first N + 1 epochs in worker processes from the start
    (:func:`digitkit.data.sources.mixed_splits`).
    """
    if is_mixed(dataset):
        from digitkit.data.sources import mixed_splits, parse_mix

        return mixed_splits(
            data_dir,
            n_val=n_val,
            split_seed=split_seed,
            download=download,
            mix=parse_mix(dataset),
            train=train,
            draw_ahead=draw_ahead,
        )
    return load_plain_splits(dataset, data_dir, n_val, split_seed, download)

"""Kaggle's digit-recognizer CSV files: ``train.csv`` (label, pixel0..pixel783),
``test.csv`` (pixel0..pixel783) and the submission format (``ImageId,Label``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitkit import atomic
from digitkit.errors import DigitkitError

PIXELS = [f"pixel{i}" for i in range(784)]


def _read_csv(path: Path, with_label: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline().strip().split(",")
            body = fh.read()
    except FileNotFoundError:
        raise DigitkitError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise DigitkitError(f"{path}: not a text CSV file") from None
    expected = (["label"] if with_label else []) + PIXELS
    if header != expected:
        got = ",".join(header[:3]) + (",..." if len(header) > 3 else "")
        want = ",".join(expected[:3]) + ",..."
        raise DigitkitError(
            f"{path}: wrong columns: expected {len(expected)} ({want}), found {len(header)} ({got})"
        )
    rows = [line for line in body.splitlines() if line.strip()]
    if not rows:
        raise DigitkitError(f"{path}: no data rows")
    ncol = len(expected)
    try:
        flat = np.array(",".join(rows).split(","), dtype=np.float64)
    except ValueError:
        bad = next((i for i, r in enumerate(rows, 2) if not _all_numeric(r)), None)
        raise DigitkitError(f"{path}: non-numeric cell on line {bad}") from None
    if flat.size != len(rows) * ncol:
        bad = next(i for i, r in enumerate(rows, 2) if r.count(",") != ncol - 1)
        raise DigitkitError(f"{path}: line {bad} does not have {ncol} cells")
    table = flat.reshape(len(rows), ncol)
    pixels = table[:, -784:]
    if pixels.min() < 0 or pixels.max() > 255 or not np.all(pixels == np.round(pixels)):
        raise DigitkitError(f"{path}: pixel values must be integers in 0..255")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    labels = None
    if with_label:
        lab = table[:, 0]
        if lab.min() < 0 or lab.max() > 9 or not np.all(lab == np.round(lab)):
            raise DigitkitError(f"{path}: labels must be integers 0..9")
        labels = lab.astype(np.int64)
    return images, labels


def _all_numeric(row: str) -> bool:
    try:
        [float(c) for c in row.split(",")]
    except ValueError:
        return False
    return True


def read_train_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read Kaggle ``train.csv`` -> (uint8 images (N, 28, 28), int64 labels (N,))."""
    images, labels = _read_csv(Path(path), with_label=True)
    assert labels is not None
    return images, labels


def read_test_csv(path: str | Path) -> np.ndarray:
    """Read Kaggle ``test.csv`` -> uint8 images (N, 28, 28)."""
    return _read_csv(Path(path), with_label=False)[0]


def write_submission(path: str | Path, predictions: np.ndarray) -> None:
    """Write ``ImageId,Label`` rows (ImageId from 1), atomically."""
    lines = ["ImageId,Label"] + [f"{i},{int(p)}" for i, p in enumerate(predictions, 1)]
    atomic.write_text(path, "\n".join(lines) + "\n")


def write_train_csv(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images and labels in Kaggle's ``train.csv`` layout (used for tests and demos)."""
    flat = images.reshape(len(images), -1).astype(int)
    rows = [",".join(map(str, [int(y), *x])) for x, y in zip(flat, labels, strict=True)]
    atomic.write_text(path, "\n".join([",".join(["label", *PIXELS]), *rows]) + "\n")


def write_test_csv(path: str | Path, images: np.ndarray) -> None:
    """Write images in Kaggle's ``test.csv`` layout."""
    flat = images.reshape(len(images), -1).astype(int)
    rows = [",".join(map(str, x)) for x in flat]
    atomic.write_text(path, "\n".join([",".join(PIXELS), *rows]) + "\n")

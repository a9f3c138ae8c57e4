"""Shared fixtures: the real MNIST folder (tests skip without it) and small data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = (ROOT.parent / "shared" / "data" / "mnist").resolve()


def _mnist_dir() -> Path | None:
    env = os.environ.get("DIGITKIT_DATA")
    for candidate in (Path(env) if env else None, SHARED_MNIST):
        if candidate and (candidate / "train-images-idx3-ubyte.gz").is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the four real MNIST files."""
    found = _mnist_dir()
    if found is None:
        pytest.skip("real MNIST files not found (set DIGITKIT_DATA)")
    return found


@pytest.fixture(scope="session")
def mnist_splits(mnist_dir: Path):
    """The default train/val/test splits of the real data (loaded once per session)."""
    from digitkit.data import load_splits

    return load_splits(data_dir=mnist_dir, download=False)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory) -> Path:
    """Where screenshots go (DIGITKIT_ARTIFACTS overrides, e.g. for CI uploads)."""
    root = os.environ.get("DIGITKIT_ARTIFACTS")
    path = Path(root) if root else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path

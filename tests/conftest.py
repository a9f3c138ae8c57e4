"""Shared fixtures: the real MNIST folder and its splits (the one MNIST fixture of the suite:
tests skip when the folder is missing, and fail on any other error loading it), and where
screenshots go. The fake-run builder lives in ``tests/fakes.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = (ROOT.parent / "shared" / "data" / "mnist").resolve()


def _mnist_dir() -> Path | None:
    """$DIGITKIT_DATA, else ../shared/data/mnist: the first that holds MNIST (gzipped or not)."""
    env = os.environ.get("DIGITKIT_DATA")
    for candidate in (Path(env) if env else None, SHARED_MNIST):
        if candidate and any(candidate.glob("train-images-idx3-ubyte*")):
            return candidate.resolve()
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the four real MNIST files; the only reason an MNIST test skips is
    that this folder is missing."""
    found = _mnist_dir()
    if found is None:
        pytest.skip("real MNIST files not found (set DIGITKIT_DATA)")
    return found


@pytest.fixture(scope="session")
def mnist_splits(mnist_dir: Path):
    """The default train/val/test splits of the real data (loaded once per session). Any
    error loading them fails the tests that use them: a broken ``load_splits`` is a bug, not
    a reason to skip."""
    from digitkit.data import load_splits

    return load_splits(data_dir=mnist_dir, download=False)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory) -> Path:
    """Where screenshots go (DIGITKIT_ARTIFACTS overrides, e.g. for CI uploads)."""
    root = os.environ.get("DIGITKIT_ARTIFACTS")
    path = Path(root) if root else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def fake_run_factory():
    """``tests.fakes.make_fake_run`` as a fixture."""
    from tests.fakes import make_fake_run

    return make_fake_run

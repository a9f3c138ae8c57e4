"""Shared fixtures: the real MNIST folder and its splits (the one MNIST fixture of the suite:
tests skip when the folder is missing, and fail on any other error loading it), where
screenshots go, a tiny model trained in seconds and the shipped model (accuracy tests skip,
saying why, until it has been trained). The fake-run builder lives in ``tests/fakes.py``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = (ROOT.parent / "shared" / "data" / "mnist").resolve()
SHIPPED_MISSING = (
    "the shipped model (src/digitkit/weights/default) is not trained yet; accuracy tests need it"
)


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


@pytest.fixture(scope="session")
def mnist(mnist_dir, mnist_splits):
    """``mnist_splits`` under the name the recognition tests use (a missing folder skips, any
    other error fails); the CLI tests find the same folder through DIGITKIT_DATA."""
    os.environ.setdefault("DIGITKIT_DATA", str(mnist_dir))
    return mnist_splits


@pytest.fixture(scope="session")
def tiny_run(mnist, tmp_path_factory):
    """A narrow cnn-fast trained for one pass over 4,000 images (a few seconds): a real run
    directory for API and CLI tests that need a model but not its accuracy."""
    import torch
    import torch.nn.functional as F

    from digitkit import runs
    from digitkit.data.normalize import fit_input_spec
    from digitkit.models import build_model, count_params

    torch.manual_seed(0)
    x = mnist.x_train[:4000].astype(np.float32) / 255.0
    y = torch.from_numpy(mnist.y_train[:4000])
    spec = fit_input_spec(x)
    xt = torch.from_numpy(spec.prepare(x))
    model = build_model("cnn-fast", width=8)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    model.train()
    for i in range(0, 4000, 64):
        loss = F.cross_entropy(model(xt[i : i + 64]), y[i : i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    out = tmp_path_factory.mktemp("tiny-run")
    runs.save_weights(out, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    card = runs.new_card(
        engine="torch",
        architecture="cnn-fast",
        arch_args={"width": 8},
        input_spec=spec.to_dict(),
        recipe={"name": "test-tiny"},
        data=mnist.source,
        seed=0,
        num_params=count_params(model),
    )
    card["status"] = "done"
    runs.write_card(out, card)
    return out


@pytest.fixture(scope="session")
def tiny(tiny_run):
    from digitkit.vision.recognize import Recognizer

    return Recognizer.load(tiny_run)


@pytest.fixture(scope="session")
def shipped():
    """The shipped default model (or ``DIGITKIT_TEST_MODEL``, a run directory, to check a
    candidate before shipping it); tests that need real accuracy skip until one exists."""
    from digitkit.inference.predictor import shipped_models
    from digitkit.vision.recognize import Recognizer

    candidate = os.environ.get("DIGITKIT_TEST_MODEL")
    if candidate:
        return Recognizer.load(candidate)
    if "default" not in shipped_models():  # a run directory or an ensemble spec
        pytest.skip(SHIPPED_MISSING)
    return Recognizer.load()

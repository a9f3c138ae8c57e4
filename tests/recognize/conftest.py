"""Fixtures of the recognition tests: MNIST, a tiny model trained in seconds, the shipped
model (accuracy tests skip, saying why, until it has been trained)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from recognize_helpers import SHIPPED_MISSING


@pytest.fixture(scope="session")
def mnist(mnist_dir, mnist_splits):
    """This suite's name for the MNIST splits of tests/conftest.py (a missing folder skips,
    any other error fails); the CLI tests find the same folder through DIGITKIT_DATA."""
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

"""The NumPy-engine runs kept in trained/ are what their cards say: they load through the
common predictor path and make exactly the test errors their cards report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from digitkit.inference.predictor import load_predictor

TRAINED = Path(__file__).resolve().parents[2] / "trained"


@pytest.mark.parametrize("run", ["scratch-lenet5", "scratch-cnn4"])
def test_kept_numpy_run_reproduces_its_test_errors(run: str, mnist_splits) -> None:
    run_dir = TRAINED / run
    card = json.loads((run_dir / "card.json").read_text())
    assert card["engine"] == "numpy" and card["status"] == "done"
    predictor = load_predictor(str(run_dir))
    x, y = mnist_splits.x_test, mnist_splits.y_test
    predicted = predictor.predict_proba(x).argmax(axis=1)
    assert int((predicted != y).sum()) == card["metrics"]["test"]["errors"]
    assert np.isclose((predicted == y).mean(), card["metrics"]["test"]["accuracy"])

"""The "not a digit" class in training, without real data: fine-tuning a 10-class run into
an 11-class one, and the per-epoch data refresh. (Refusing it at inference:
tests/inference/test_refusal.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from digitkit import runs
from digitkit.card import RunCard
from digitkit.data import Splits
from digitkit.errors import DigitkitError
from digitkit.labels import NOT_A_DIGIT_REASON, label_names
from digitkit.models import build_model
from digitkit.train.loop import TrainOptions, _warm_start, train
from digitkit.train.recipes import Recipe
from tests.fakes import minimal_card

TINY = Recipe(name="tiny", optimizer="adam", lr=3e-3, epochs=2, batch_size=32, n_val=64)


def _bars(n: int, seed: int, classes: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Class c drawn as a horizontal bar at row 4 + 2c: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 3 + 2 * label : 5 + 2 * label, 4:24] = 255
    return x, y.astype(np.int64)


def _quiet() -> TrainOptions:
    return TrainOptions(progress=False, log=None)


def test_warm_start_keeps_every_weight_and_the_digit_rows(tmp_path):
    source = build_model("cnn-medium", width=8)
    runs.save_weights(tmp_path, {k: v.numpy() for k, v in source.state_dict().items()})
    card = RunCard.from_dict(
        {**minimal_card(), "architecture": {"name": "cnn-medium", "args": {"width": 8}}}
    )
    target = build_model("cnn-medium", width=8, classes=11)
    _warm_start(target, tmp_path, card, "cnn-medium")
    old, new = source.state_dict(), target.state_dict()
    for key in old:
        if old[key].ndim == 0:
            assert torch.equal(old[key], new[key]), key
            continue
        rows = min(len(old[key]), len(new[key]))
        assert torch.equal(old[key][:rows], new[key][:rows]), key
    assert new["14.weight"].shape == (11, 8 * 4 * 16)
    # The new class starts small, so it never dominates before it is trained.
    assert new["14.weight"][10].abs().max() < old["14.weight"].abs().max()


def test_warm_start_refuses_another_architecture(tmp_path):
    card = RunCard.from_dict(minimal_card())  # a torch run of cnn-fast
    with pytest.raises(DigitkitError, match="cnn-medium"):
        _warm_start(build_model("cnn-medium", width=8), tmp_path, card, "cnn-medium")


def test_fine_tuning_into_eleven_classes_with_fresh_data_every_epoch(tmp_path):
    x, y = _bars(320, 0, classes=10)
    base = Splits(x[:256], y[:256], x[256:], y[256:], x[256:], y[256:], {"dataset": "toy"})
    train("cnn-medium", TINY, base, tmp_path / "base", arch_args={"width": 8}, options=_quiet())

    drawn: list[int] = []

    def refresh(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        drawn.append(epoch)
        return _bars(256, 100 + epoch)

    xv, yv = _bars(64, 7)
    mixed = Splits(*_bars(256, 100), xv, yv, xv, yv, {"dataset": "toy"}, refresh)
    card = train(
        "cnn-medium",
        TINY,
        mixed,
        tmp_path / "ft",
        arch_args={"width": 8, "classes": 11},
        init=tmp_path / "base",
        options=_quiet(),
    )
    assert drawn == [0, 1]
    assert card["labels"] == label_names(11) and card["labels"][-1] == NOT_A_DIGIT_REASON
    assert card["init"]["run"] == str(tmp_path / "base")
    # The fine-tuned run keeps the normalization its starting weights were trained with.
    assert card["input"] == runs.read_card(tmp_path / "base")["input"]
    assert card["metrics"]["val"]["accuracy"] > 0.5


def test_a_refresh_of_another_size_is_an_error(tmp_path):
    x, y = _bars(96, 0)
    splits = Splits(
        x[:64],
        y[:64],
        x[64:],
        y[64:],
        None,
        None,
        {"dataset": "toy"},
        lambda epoch: _bars(10, epoch),
    )
    with pytest.raises(DigitkitError, match="10 training images"):
        train(
            "cnn-medium",
            TINY,
            splits,
            tmp_path,
            arch_args={"width": 8, "classes": 11},
            options=_quiet(),
        )

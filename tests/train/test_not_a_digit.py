"""The "not a digit" class in training, without real data: fine-tuning a 10-class run into
an 11-class one, and the per-epoch data refresh. (Refusing it at inference:
tests/inference/test_refusal.py.)"""

from __future__ import annotations

from dataclasses import replace

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
    asked: list[int] = []  # epochs the trainer wants drawn ahead: the next one, if it runs
    mixed = Splits(*_bars(256, 100), xv, yv, xv, yv, {"dataset": "toy"}, refresh, asked.append)
    card = train(
        "cnn-medium",
        TINY,
        mixed,
        tmp_path / "ft",
        arch_args={"width": 8, "classes": 11},
        init=tmp_path / "base",
        options=_quiet(),
    )
    assert drawn == [0, 1] and asked == [1]
    assert card["labels"] == label_names(11) and card["labels"][-1] == NOT_A_DIGIT_REASON
    assert card["init"]["run"] == str(tmp_path / "base")
    # The fine-tuned run keeps the normalization its starting weights were trained with.
    assert card["input"] == runs.read_card(tmp_path / "base")["input"]
    assert card["metrics"]["val"]["accuracy"] > 0.5


def test_the_trainer_asks_for_as_many_planned_epochs_ahead_as_told(tmp_path):
    x, y = _bars(320, 3, classes=10)
    for ahead, limit, expected in ((2, None, [1, 2, 2, 3, 3]), (3, 2, [1]), (0, None, [])):
        asked: list[int] = []
        splits = Splits(
            x[:256],
            y[:256],
            x[256:],
            y[256:],
            None,
            None,
            {"dataset": "toy"},
            lambda epoch: (x[:256], y[:256]),
            asked.append,
        )
        options = replace(_quiet(), draw_ahead=ahead, max_epochs=limit)
        train(
            "cnn-medium",
            replace(TINY, epochs=4),
            splits,
            tmp_path / f"a{ahead}",
            arch_args={"width": 8},
            options=options,
        )
        assert asked == expected  # the epochs after each one, within the recipe and limit


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


def test_distillation_loss_measures_drift_on_the_teachers_classes_only():
    from digitkit.train.loop import distillation_loss

    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 1])
    same = torch.cat([teacher, torch.tensor([[5.0], [-5.0]])], dim=1)  # + a "not a digit" logit
    assert distillation_loss(same, teacher, labels, 2.0).abs() < 1e-6
    moved = same.clone()
    moved[0, :3] = torch.tensor([-1.0, 0.0, 2.0])
    assert distillation_loss(moved, teacher, labels, 2.0) > 0.1
    # Images of the new class (label >= the teacher's classes) are not distilled.
    assert distillation_loss(moved, teacher, torch.tensor([3, 1]), 2.0).abs() < 1e-6
    assert distillation_loss(moved, teacher, torch.tensor([3, 3]), 2.0) == 0
    # Nor images the teacher misreads: its mistakes are what fine-tuning is meant to fix.
    assert distillation_loss(moved, teacher, torch.tensor([2, 1]), 2.0).abs() < 1e-6


def test_distillation_keeps_a_fine_tuned_model_closer_to_its_start(tmp_path):
    x, y = _bars(320, 0, classes=10)
    base = Splits(x[:256], y[:256], x[256:], y[256:], x[256:], y[256:], {"dataset": "toy"})
    train("cnn-medium", TINY, base, tmp_path / "base", arch_args={"width": 8}, options=_quiet())
    # The new data relabels the bars of classes 0-4 as "not a digit" (10): a fine-tuning
    # that pulls the digit probabilities of those bars away from the start.
    xf, yf = _bars(256, 100, classes=10)
    yf = np.where(yf < 5, 10, yf)
    xv, yv = x[256:], y[256:]
    mixed = Splits(xf, yf, xv, yv, xv, yv, {"dataset": "toy"})

    def drift(distill: float) -> float:
        out = tmp_path / f"ft-{distill}"
        recipe = Recipe(**{**TINY.to_dict(), "distill": distill})
        train(
            "cnn-medium",
            recipe,
            mixed,
            out,
            arch_args={"width": 8, "classes": 11},
            init=tmp_path / "base",
            options=_quiet(),
        )
        start, tuned = (
            build_model("cnn-medium", width=8),
            build_model("cnn-medium", width=8, classes=11),
        )
        _warm_start(start, tmp_path / "base", RunCard.load(tmp_path / "base"), "cnn-medium")
        _warm_start(tuned, out, RunCard.load(out), "cnn-medium")
        spec = RunCard.load(out).input_spec
        inputs = torch.from_numpy(spec.prepare(xv))
        with torch.no_grad():
            p = torch.softmax(start.eval()(inputs), 1)
            q = torch.softmax(tuned.eval()(inputs)[:, :10], 1)
        return float((p * (p.clamp_min(1e-9).log() - q.clamp_min(1e-9).log())).sum(1).mean())

    kept, free = drift(20.0), drift(0.0)
    assert kept < 0.5 * free


def test_distillation_needs_a_run_to_start_from(tmp_path):
    x, y = _bars(96, 0)
    data = Splits(x[:64], y[:64], x[64:], y[64:], x[64:], y[64:], {"dataset": "toy"})
    recipe = Recipe(**{**TINY.to_dict(), "distill": 1.0})
    with pytest.raises(DigitkitError, match="distill needs --init"):
        train(
            "cnn-medium",
            recipe,
            data,
            tmp_path / "r",
            arch_args={"width": 8, "classes": 11},
            options=_quiet(),
        )

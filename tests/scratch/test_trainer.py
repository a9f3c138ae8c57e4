"""train_run and fit: the run directory, exact resume, divergence handling, inference
through digitkit.inference.predictor, and one short run on real MNIST."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scratch_helpers import TINY, synthetic_splits

from digitkit import runs
from digitkit.data import Splits
from digitkit.errors import DigitkitError
from digitkit.scratch import runio, trainer, zoo
from digitkit.scratch.optim import SGD
from digitkit.train.callbacks import EarlyStopping
from digitkit.train.recipes import apply_overrides, get_recipe


def _without_timing(history):
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in history]


def test_train_run_writes_a_complete_run(tmp_path):
    card = trainer.train_run(
        "scratch-mlp", TINY, synthetic_splits(), tmp_path / "run", progress=False
    )
    run = tmp_path / "run"
    for name in (
        "model.safetensors",
        "card.json",
        "history.csv",
        "curves.png",
        "checkpoint/state.json",
        "probs-val.npy",
        "probs-test.npy",
    ):
        assert (run / name).is_file(), name
    assert card["engine"] == "numpy" and card["status"] == "done"
    assert card["epochs_run"] == 3 and 1 <= card["best_epoch"] <= 3
    for split in ("train", "val", "test"):
        assert 0 <= card["metrics"][split]["accuracy"] <= 1
    assert card["metrics"]["val"]["accuracy"] > 0.5  # the synthetic digits are learnable
    assert card["input"]["kind"] == "scale"
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
    ]
    # The saved weights are the best epoch's: re-evaluating them gives the card's figure.
    from digitkit.inference.predictor import load_predictor

    predictor = load_predictor(run)
    s = synthetic_splits()
    acc = float((predictor.predict_proba(s.x_val).argmax(1) == s.y_val).mean())
    assert acc == pytest.approx(card["metrics"]["val"]["accuracy"])
    with pytest.raises(DigitkitError, match="already holds a run"):
        trainer.train_run("scratch-mlp", TINY, synthetic_splits(), run, progress=False)


def test_resume_continues_exactly(tmp_path, monkeypatch):
    splits = synthetic_splits()
    whole = trainer.train_run("scratch-mlp", TINY, splits, tmp_path / "a", progress=False)

    real_save = runio.save_checkpoint

    def crash_after_epoch_2(run_dir, epoch, *args, **kwargs):
        real_save(run_dir, epoch, *args, **kwargs)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runio, "save_checkpoint", crash_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_run("scratch-mlp", TINY, splits, tmp_path / "b", progress=False)
    monkeypatch.setattr(runio, "save_checkpoint", real_save)
    assert json.loads((tmp_path / "b/checkpoint/state.json").read_text())["epoch"] == 2
    resumed = trainer.train_run(
        "scratch-mlp", TINY, splits, tmp_path / "b", resume=True, progress=False
    )
    a, b = runs.load_weights(tmp_path / "a"), runs.load_weights(tmp_path / "b")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert _without_timing(runs.read_history(tmp_path / "a")) == _without_timing(
        runs.read_history(tmp_path / "b")
    )
    assert resumed["metrics"] == whole["metrics"]
    assert len(list((tmp_path / "b/checkpoint").glob("state-*.safetensors"))) == 1


def test_resume_with_another_recipe_is_refused_but_may_run_more_epochs(tmp_path):
    # The same rule as the torch engine's (tests/train/test_train.py): only epochs may change.
    one = apply_overrides(TINY, {"epochs": 1})
    trainer.train_run("scratch-mlp", one, synthetic_splits(), tmp_path, progress=False)
    with pytest.raises(DigitkitError, match="different recipe"):
        trainer.train_run(
            "scratch-mlp",
            apply_overrides(one, {"lr": TINY.lr / 2}),
            synthetic_splits(),
            tmp_path,
            resume=True,
            progress=False,
        )
    two = apply_overrides(TINY, {"epochs": 2})
    card = trainer.train_run(
        "scratch-mlp", two, synthetic_splits(), tmp_path, resume=True, progress=False
    )
    assert card["epochs_run"] == 2 and card["recipe"]["epochs"] == 2
    assert [row["epoch"] for row in runs.read_history(tmp_path)] == [1, 2]


def test_nan_loss_stops_with_advice_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = trainer.SoftmaxCrossEntropy.forward
    per_epoch = 256 // 32

    def poisoned(self, logits, labels):
        calls["n"] += 1
        return float("nan") if calls["n"] == per_epoch + 3 else real(self, logits, labels)

    monkeypatch.setattr(trainer.SoftmaxCrossEntropy, "forward", poisoned)
    with pytest.raises(DigitkitError, match=r"epoch 2.*lower the learning rate"):
        trainer.train_run("scratch-mlp", TINY, synthetic_splits(), tmp_path, progress=False)
    state = json.loads((tmp_path / "checkpoint/state.json").read_text())
    assert state["epoch"] == 1
    assert runs.read_card(tmp_path)["status"] == "failed"
    assert runio.load_checkpoint(tmp_path) is not None


def test_a_huge_learning_rate_diverges_cleanly(tmp_path):
    recipe = apply_overrides(TINY, {"optimizer": "sgd", "lr": 1e30})
    with pytest.raises(DigitkitError, match="diverged in epoch 1"):
        trainer.train_run("scratch-mlp", recipe, synthetic_splits(), tmp_path, progress=False)


def test_unsupported_recipe_choices_are_clear_errors(tmp_path):
    with pytest.raises(DigitkitError, match="not in the NumPy engine"):
        trainer.train_run(
            "scratch-mlp",
            apply_overrides(TINY, {"optimizer": "rmsprop"}),
            synthetic_splits(),
            tmp_path,
            progress=False,
        )
    with pytest.raises(DigitkitError, match="exists for the torch engine|unknown model"):
        trainer.train_run("cnn-fast", TINY, synthetic_splits(), tmp_path, progress=False)
    s = synthetic_splits()
    no_val = Splits(s.x_train, s.y_train, s.x_val[:0], s.y_val[:0], s.x_test, s.y_test, s.source)
    with pytest.raises(DigitkitError, match="n_val > 0"):
        trainer.train_run("scratch-mlp", TINY, no_val, tmp_path / "nv", progress=False)
    assert not (tmp_path / "nv").exists()  # refused before anything is written


def test_sequential_fit_with_early_stopping():
    s = synthetic_splits()
    model = zoo.build("scratch-mlp", dropout=0.0)
    x = s.x_train.astype(np.float32)[:, None] / 255
    xv = s.x_val.astype(np.float32)[:, None] / 255
    stopper = EarlyStopping(patience=1, min_rel_improvement=10.0)  # stops after 2 epochs
    history = trainer.fit(
        model,
        x,
        s.y_train,
        epochs=5,
        batch_size=32,
        optimizer=SGD(0.1, 0.9),
        validation_data=(xv, s.y_val),
        callbacks=[stopper],
    )
    assert len(history) == 2
    assert history[-1]["val_acc"] > 0.3


def test_recipes_are_registered():
    cnn4 = get_recipe("scratch-cnn4")
    assert cnn4.batch_size == 16 and cnn4.augment == "scratch-cnn4"
    assert get_recipe("scratch-lenet5").epochs <= 10
    assert zoo.numpy_spec("scratch-cnn4").recipe == "scratch-cnn4"


def test_lenet5_learns_real_digits(tmp_path, mnist_splits):
    full = mnist_splits
    splits = Splits(
        full.x_train[:2000],
        full.y_train[:2000],
        full.x_val[:500],
        full.y_val[:500],
        full.x_test[:500],
        full.y_test[:500],
        full.source,
    )
    recipe = apply_overrides(get_recipe("scratch-lenet5"), {"epochs": 1})
    card = trainer.train_run("lenet5", recipe, splits, tmp_path, progress=False)
    assert card["metrics"]["val"]["accuracy"] > 0.75
    assert card["input"]["pad"] == 2


def test_adam_can_count_epochs_in_its_bias_correction():
    """The 0.40% library's Adam: the bias-correction exponent is the epoch, not the step."""
    from digitkit.scratch.optim import Adam

    g = np.array([0.5, -2.0], np.float32)
    per_step, per_epoch = Adam(0.01), Adam(0.01, bias_correction="epoch")
    per_epoch.epoch = 3
    p_step, p_epoch = np.zeros(2, np.float32), np.zeros(2, np.float32)
    for _ in range(2):
        per_step.step({"w": p_step}, {"w": g})
        per_epoch.step({"w": p_epoch}, {"w": g})
    # Standard Adam with a constant gradient moves lr * sign(g) every step.
    assert np.allclose(-p_step, 2 * 0.01 * np.sign(g), rtol=1e-4)
    # Per epoch: the moments after steps 1 and 2, both corrected with t = 3.
    m1, v1 = 0.1 * g, 0.001 * g * g
    m2, v2 = (1 - 0.9**2) * g, (1 - 0.999**2) * g * g
    moves = [
        0.01 * (m / (1 - 0.9**3)) / (np.sqrt(v / (1 - 0.999**3)) + 1e-8)
        for m, v in ((m1, v1), (m2, v2))
    ]
    assert np.allclose(-p_epoch, moves[0] + moves[1], rtol=1e-4)
    # Once the moments have settled, epoch 3 steps lr * sqrt(1 - 0.999^3) / (1 - 0.9^3):
    # about a fifth of standard Adam's, the damping the recipe's lr was tuned with.
    for _ in range(3000):
        per_epoch.step({"w": p_epoch}, {"w": g})
    before = p_epoch.copy()
    per_epoch.step({"w": p_epoch}, {"w": g})
    assert np.allclose(
        before - p_epoch, 0.01 * np.sign(g) * np.sqrt(1 - 0.999**3) / (1 - 0.9**3), rtol=0.05
    )
    assert get_recipe("scratch-cnn4").adam_bias_correction == "epoch"
    with pytest.raises(DigitkitError, match="bias_correction"):
        Adam(0.01, bias_correction="sometimes")


def test_torch_engine_refuses_per_epoch_adam(tmp_path):
    from digitkit.train.loop import train

    recipe = apply_overrides(TINY, {"adam_bias_correction": "epoch"})
    with pytest.raises(DigitkitError, match="NumPy engine only"):
        train("cnn-fast", recipe, synthetic_splits(), tmp_path / "t")
    assert not (tmp_path / "t").exists()

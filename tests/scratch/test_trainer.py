"""train_run and fit: the run directory, exact resume, divergence handling, inference
through digitkit.predictor, and one short run on real MNIST."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from scratch_helpers import synthetic_splits

from digitkit import runs
from digitkit.data import Splits
from digitkit.errors import DigitkitError
from digitkit.scratch import runio, trainer, zoo
from digitkit.scratch.optim import SGD
from digitkit.train.callbacks import EarlyStopping
from digitkit.train.recipes import Recipe, apply_overrides, get_recipe

TINY = Recipe(name="tiny", optimizer="adam", lr=3e-3, epochs=3, batch_size=32,
              augment="rotation:8,shift:0.05,p:0.5", schedule="cosine", normalization="scale")


def _without_timing(history):
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in history]


def test_train_run_writes_a_complete_run(tmp_path):
    card = trainer.train_run("scratch-mlp", TINY, synthetic_splits(), tmp_path / "run",
                             progress=False)
    run = tmp_path / "run"
    for name in ("model.safetensors", "card.json", "history.csv", "curves.png",
                 "checkpoint/state.json", "probs-val.npy", "probs-test.npy"):
        assert (run / name).is_file(), name
    assert card["engine"] == "numpy" and card["status"] == "done"
    assert card["epochs_run"] == 3 and 1 <= card["best_epoch"] <= 3
    for split in ("train", "val", "test"):
        assert 0 <= card["metrics"][split]["accuracy"] <= 1
    assert card["metrics"]["val"]["accuracy"] > 0.5  # the synthetic digits are learnable
    assert card["input"]["kind"] == "scale"
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                          "seconds"]
    # The saved weights are the best epoch's: re-evaluating them gives the card's figure.
    from digitkit.predictor import load_predictor

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
    resumed = trainer.train_run("scratch-mlp", TINY, splits, tmp_path / "b", resume=True,
                                progress=False)
    a, b = runs.load_weights(tmp_path / "a"), runs.load_weights(tmp_path / "b")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert _without_timing(runs.read_history(tmp_path / "a")) == \
        _without_timing(runs.read_history(tmp_path / "b"))
    assert resumed["metrics"] == whole["metrics"]
    assert len(list((tmp_path / "b/checkpoint").glob("state-*.safetensors"))) == 1


def test_resume_with_another_recipe_is_refused(tmp_path):
    trainer.train_run("scratch-mlp", apply_overrides(TINY, {"epochs": 1}), synthetic_splits(),
                      tmp_path, progress=False)
    with pytest.raises(DigitkitError, match="different recipe"):
        trainer.train_run("scratch-mlp", TINY, synthetic_splits(), tmp_path, resume=True,
                          progress=False)


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
        trainer.train_run("scratch-mlp", apply_overrides(TINY, {"optimizer": "rmsprop"}),
                          synthetic_splits(), tmp_path, progress=False)
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
    history = model.fit(x, s.y_train, epochs=5, batch_size=32, optimizer=SGD(0.1, 0.9),
                        validation_data=(xv, s.y_val), callbacks=[stopper])
    assert len(history) == 2
    assert history[-1]["val_acc"] > 0.3


def test_recipes_are_registered():
    cnn4 = get_recipe("scratch-cnn4")
    assert cnn4.batch_size == 16 and cnn4.augment == "scratch-cnn4"
    assert get_recipe("scratch-lenet5").epochs <= 10
    assert zoo.numpy_spec("scratch-cnn4").recipe == "scratch-cnn4"


DATA = Path(os.environ.get("DIGITKIT_DATA", Path(__file__).parents[3] / "shared/data/mnist"))


@pytest.mark.skipif(not (DATA / "train-images-idx3-ubyte.gz").exists()
                    and not (DATA / "train-images-idx3-ubyte").exists(),
                    reason="MNIST not available")
def test_lenet5_learns_real_digits(tmp_path):
    from digitkit.data import load_splits

    full = load_splits(data_dir=DATA, download=False)
    splits = Splits(full.x_train[:2000], full.y_train[:2000], full.x_val[:500],
                    full.y_val[:500], full.x_test[:500], full.y_test[:500], full.source)
    recipe = apply_overrides(get_recipe("scratch-lenet5"), {"epochs": 1})
    card = trainer.train_run("lenet5", recipe, splits, tmp_path, progress=False)
    assert card["metrics"]["val"]["accuracy"] > 0.75
    assert card["input"]["pad"] == 2

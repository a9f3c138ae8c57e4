"""The torch trainer: model shapes, run directory contents, exact resume, real-data sanity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from digitkit import runs
from digitkit.data import Splits
from digitkit.inference.predictor import load_predictor
from digitkit.models import all_specs, build_model, count_params, get_spec
from digitkit.train.loop import TrainOptions, train
from digitkit.train.recipes import Recipe, get_recipe

CLASSIC_PARAMS = {  # architectures of the tutorials and papers, counted by hand
    "mlp": 784 * 784 + 784 + 7850,
    "cnn-simple": 32 * 25 + 32 + 4608 * 128 + 128 + 1290,
    "cnn-large": 30 * 26 + 15 * 271 + 375 * 128 + 128 + 128 * 50 + 50 + 510,
    "lenet5": 156 + 2416 + 48120 + 10164 + 850,
}


@pytest.mark.parametrize(
    "name", [s.name for s in all_specs("torch") if s.family in ("mlp", "cnn", "lenet")]
)
def test_classic_models_forward_shape(name):
    spec = get_spec(name)
    model = build_model(name).eval()
    size = 28 + 2 * spec.input_pad
    assert model(torch.zeros(3, 1, size, size)).shape == (3, 10)
    if name in CLASSIC_PARAMS:
        assert count_params(model) == CLASSIC_PARAMS[name]


def _toy_splits(n=384, seed=0) -> Splits:
    """Two easy classes drawn as bars, so a tiny run learns something quickly."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 4 + 2 * label : 6 + 2 * label, 4:24] = 255
    return Splits(
        x[: n - 128],
        y[: n - 128],
        x[n - 128 : n - 64],
        y[n - 128 : n - 64],
        x[n - 64 :],
        y[n - 64 :],
        {"dataset": "toy"},
    )


TINY = Recipe(
    name="tiny",
    optimizer="adam",
    lr=3e-3,
    epochs=3,
    batch_size=32,
    augment="rotation:5,shift:0.05",
    ema=0.9,
    schedule="cosine",
)


def _quiet():
    return TrainOptions(progress=False, log=None)


def test_run_directory_contents(tmp_path):
    card = train("cnn-fast", TINY, _toy_splits(), tmp_path, options=_quiet())
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "model.safetensors",
        "card.json",
        "history.csv",
        "curves.png",
        "checkpoint",
        "probs-val.npy",
        "probs-test.npy",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert card["status"] == "done" and card["engine"] == "torch"
    assert card["recipe"]["name"] == "tiny" and card["num_params"] == 18426
    assert 0 <= card["metrics"]["test"]["accuracy"] <= 1 and card["best_epoch"] >= 1
    assert len(runs.read_history(tmp_path)) == 3
    # The saved weights are the best-on-validation ones and load for inference.
    probs = load_predictor(tmp_path).predict_proba(_toy_splits().x_val)
    acc = (probs.argmax(1) == _toy_splits().y_val).mean()
    assert acc == pytest.approx(card["metrics"]["val"]["accuracy"])


class _Interrupt(Exception):
    pass


def test_resume_matches_uninterrupted_run(tmp_path):
    splits = _toy_splits()
    full = train("cnn-fast", TINY, splits, tmp_path / "full", options=_quiet())

    def crash_in_epoch_2(message: str) -> None:
        if message.startswith("epoch 2/"):
            raise _Interrupt  # after epoch 2's training, before its checkpoint

    with pytest.raises(_Interrupt):
        train(
            "cnn-fast",
            TINY,
            splits,
            tmp_path / "cut",
            options=TrainOptions(progress=False, log=crash_in_epoch_2),
        )
    assert runs.read_card(tmp_path / "cut")["status"] == "running"
    resumed = train("cnn-fast", TINY, splits, tmp_path / "cut", resume=True, options=_quiet())
    assert resumed["metrics"]["test"] == full["metrics"]["test"]
    a, b = runs.load_weights(tmp_path / "full"), runs.load_weights(tmp_path / "cut")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)
    hist_full, hist_cut = runs.read_history(tmp_path / "full"), runs.read_history(tmp_path / "cut")
    for ra, rb in zip(hist_full, hist_cut, strict=True):
        assert ra["val_loss"] == pytest.approx(rb["val_loss"], rel=1e-5)


def test_divergence_stops_with_a_clear_message(tmp_path):
    from digitkit.errors import DigitkitError

    bad = Recipe(name="bad", optimizer="sgd", lr=1e12, epochs=2, batch_size=32)
    with pytest.raises(DigitkitError, match="lower the learning rate"):
        train("mlp", bad, _toy_splits(), tmp_path, options=_quiet())


def test_same_seed_same_result(tmp_path):
    a = train("cnn-fast", TINY, _toy_splits(), tmp_path / "a", options=_quiet())
    b = train("cnn-fast", TINY, _toy_splits(), tmp_path / "b", options=_quiet())
    assert a["metrics"]["val"] == b["metrics"]["val"]


def test_without_a_validation_split_the_last_epoch_is_kept(tmp_path):
    from dataclasses import replace

    s = _toy_splits()
    no_val = Splits(
        np.concatenate([s.x_train, s.x_val]),
        np.concatenate([s.y_train, s.y_val]),
        s.x_val[:0],
        s.y_val[:0],
        s.x_test,
        s.y_test,
        s.source,
    )
    card = train("cnn-fast", replace(TINY, n_val=0), no_val, tmp_path, options=_quiet())
    assert card["best_epoch"] == card["epochs_run"] == TINY.epochs
    assert "val" not in card["metrics"] and card["metrics"]["test"]["n"] == len(s.y_test)
    history = runs.read_history(tmp_path)
    assert len(history) == TINY.epochs and all(np.isnan(float(r["val_acc"])) for r in history)


@pytest.mark.slow
def test_cnn_simple_learns_real_mnist(tmp_path, mnist_splits):
    recipe = get_recipe("tutorial")
    from dataclasses import replace

    small = mnist_splits.subset(n_train=5000, n_val=1000)
    # One epoch of the tutorial recipe, in batches of 50 so that it takes 100 steps.
    card = train(
        "cnn-simple", replace(recipe, epochs=1, batch_size=50), small, tmp_path, options=_quiet()
    )
    assert card["metrics"]["val"]["accuracy"] >= 0.90


def test_models_start_where_their_keras_originals_started():
    torch.manual_seed(0)
    hidden = build_model("mlp")[1].weight.detach()  # the tutorial's kernel_initializer='normal'
    assert abs(float(hidden.std()) - 0.05) < 0.002 and abs(float(hidden.mean())) < 0.002
    glorot = build_model("mlp", init="glorot")[1].weight.detach()
    assert abs(float(glorot.std()) - (2 / (784 + 784)) ** 0.5) < 0.002
    conv = build_model("cnn-simple")[0]  # Keras's default: Glorot-uniform, zero bias
    limit = (6 / (25 * 1 + 25 * 32)) ** 0.5
    weight, bias = conv.weight.detach(), conv.bias.detach()
    assert float(weight.abs().max()) <= limit and float(bias.abs().max()) == 0


def test_restore_best_off_keeps_the_last_epoch(tmp_path):
    # Validation labels shifted by one: the better the model learns, the worse validation
    # gets, so the best epoch on validation is an early one and the last epoch differs.
    splits = _toy_splits()
    splits.y_val = (splits.y_val + 1) % 10
    kept = {}
    for restore in (True, False):
        recipe = Recipe(
            name="tiny", optimizer="adam", lr=3e-3, epochs=3, batch_size=32, restore_best=restore
        )
        out = tmp_path / str(restore)
        kept[restore] = train("cnn-fast", recipe, splits, out, options=_quiet())["best_epoch"]
        state = torch.load(out / runs.CHECKPOINT_DIR / "state.pt", weights_only=True)
        saved = runs.load_weights(out)
        same = all(
            np.allclose(saved[k].reshape(v.shape), v.numpy()) for k, v in state["model"].items()
        )
        assert same == (not restore)  # the checkpoint holds the last epoch's weights
    assert kept[True] < 3 and kept[False] == 3


def test_divergence_marks_the_card_failed_like_the_numpy_engine(tmp_path):
    from digitkit import runs
    from digitkit.errors import DigitkitError

    bad = Recipe(name="bad", optimizer="sgd", lr=1e12, epochs=2, batch_size=32)
    with pytest.raises(DigitkitError, match="diverged in epoch 1"):
        train("mlp", bad, _toy_splits(), tmp_path, options=_quiet())
    card = runs.read_card(tmp_path)
    assert card["status"] == "failed" and card["error"] == "diverged in epoch 1"


def test_a_new_run_never_overwrites_and_a_resume_keeps_its_recipe(tmp_path):
    # (more epochs may be asked for on resume: tests/train/test_distributed.py)
    from dataclasses import replace

    from digitkit.errors import DigitkitError

    train("cnn-fast", TINY, _toy_splits(), tmp_path, options=_quiet())
    with pytest.raises(DigitkitError, match="already holds a run"):
        train("cnn-fast", TINY, _toy_splits(), tmp_path, options=_quiet())
    with pytest.raises(DigitkitError, match="different recipe"):
        train(
            "cnn-fast",
            replace(TINY, lr=TINY.lr / 2),
            _toy_splits(),
            tmp_path,
            resume=True,
            options=_quiet(),
        )

"""Sequential, the zoo and run-directory I/O: shapes, errors, save/load, torch-freedom."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitkit import runs
from digitkit.errors import DigitkitError
from digitkit.scratch import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    Softmax,
    zoo,
)
from digitkit.scratch.cpu import DataParallel
from digitkit.scratch.runio import load_model, save_model

SCRATCH_SRC = Path(__file__).resolve().parents[2] / "src" / "digitkit" / "scratch"


def test_package_imports_no_torch():
    code = (
        "import sys, digitkit.scratch, digitkit.scratch.trainer, digitkit.scratch.runio, "
        "digitkit.scratch.zoo; m = digitkit.scratch.zoo.build('lenet5'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    offenders = [p.name for p in SCRATCH_SRC.glob("*.py") if "import torch" in p.read_text()]
    assert offenders == []


def test_zoo_is_registered_for_the_numpy_engine():
    from digitkit.models.registry import get_spec

    for name, n_params in [("lenet5", 61_706), ("scratch-mlp", 107_440), ("scratch-cnn4", 159_930)]:
        spec = get_spec(name, "numpy")
        assert spec.engine == "numpy" and spec.family == "scratch"
        model = spec.builder()
        assert isinstance(model, Sequential) and model.num_params == n_params
    assert get_spec("lenet5", "numpy").input_pad == 2


def test_shapes_flow_and_summary():
    model = zoo.build("scratch-cnn4")
    assert model.output_shape == (10,)
    x = np.zeros((3, 1, 28, 28), np.float32)
    assert model.forward(x).shape == (3, 10)
    p = model.predict_proba(x)
    assert p.shape == (3, 10) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert "conv4" in model.summary() and "159,930" in model.summary()


@pytest.mark.parametrize(
    "layers,pattern",
    [
        ([Conv2D(1, 4, 3), Conv2D(3, 8, 3)], r"conv2 .*expects 3 input channels.*conv1"),
        ([Conv2D(1, 4, 3), Dense(100, 10)], r"dense1 .*add Flatten"),
        ([Flatten(), Dense(700, 10)], r"dense1 .*expects 700 .* gives 784"),
        ([Conv2D(1, 4, 30)], r"conv1 .*larger than the padded input"),
        (
            [MaxPool2D(2), MaxPool2D(2), MaxPool2D(2), MaxPool2D(2), MaxPool2D(2)],
            r"maxpool5 .*larger than the input",
        ),
        ([Flatten(), BatchNorm(3)], r"bn1 .*expects 3"),
    ],
)
def test_shape_mismatch_is_reported_at_add_time(layers, pattern):
    with pytest.raises(DigitkitError, match=pattern):
        Sequential(layers, input_shape=(1, 28, 28))


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(DigitkitError, match=r"expects inputs \(N, 1, 32, 32\)"):
        zoo.build("lenet5").predict_proba(np.zeros((2, 1, 28, 28), np.float32))


def test_save_load_round_trip(tmp_path):
    model = Sequential(
        [
            Conv2D(1, 4, 3, padding=1),
            BatchNorm(4),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.5),
            Dense(4 * 14 * 14, 10),
            Softmax(),
        ],
        input_shape=(1, 28, 28),
        seed=4,
    )
    x = np.random.default_rng(0).normal(size=(5, 1, 28, 28)).astype(np.float32)
    model.forward(x, training=True)  # moves the BatchNorm running statistics
    save_model(model, tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert set(runs.load_weights(tmp_path / "run")) == set(model.state_dict())


def test_loading_another_engine_or_architecture_is_a_clear_error(tmp_path):
    run = tmp_path / "run"
    save_model(zoo.build("scratch-mlp"), run, {"architecture": {"name": "scratch-mlp", "args": {}}})
    card = runs.read_card(run)
    runs.write_card(run, {**card, "engine": "torch"})
    with pytest.raises(DigitkitError, match="torch engine"):
        load_model(run)
    runs.write_card(run, {**card, "architecture": {"name": "lenet5", "args": {}}})
    with pytest.raises(DigitkitError, match="layer list differs"):
        load_model(run)
    del card["scratch"]
    runs.write_card(run, {**card, "architecture": {"name": "lenet5", "args": {}}})
    with pytest.raises(DigitkitError, match="weights do not fit"):
        load_model(run)
    runs.write_card(run, {**card, "architecture": {"name": "nonesuch", "args": {}}})
    with pytest.raises(DigitkitError, match="unknown NumPy architecture 'nonesuch'"):
        load_model(run)


def test_card_is_plain_json(tmp_path):
    save_model(zoo.build("lenet5"), tmp_path)
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["engine"] == "numpy" and card["scratch"]["layers"]["input_shape"] == [1, 32, 32]


def test_inputs_are_computed_in_the_weights_dtype():
    model = zoo.build("scratch-mlp")
    x64 = np.random.default_rng(0).random((2, 1, 28, 28))  # float64, e.g. from augmentation
    assert model.forward(x64).dtype == np.float32
    assert model.astype(np.float64).forward(x64).dtype == np.float64


def test_conv_work_size_is_the_im2col_matrix_it_builds():
    rng = np.random.default_rng(0)
    for conv, shape in [
        (Conv2D(16, 32, 5, padding=2), (28, 28, 16)),
        (Conv2D(3, 4, 3, stride=2), (9, 9, 3)),
        (Conv2D(1, 6, 5), (32, 32, 1)),
    ]:  # the tiled first-layer path
        conv.build(shape, rng)
        x = rng.random((3, *shape), dtype=np.float32)
        y = conv.forward(x, training=True)
        built = conv.patches if conv.banded else conv.cols
        assert conv.work_size() == max(built.size, y.size) // 3


def test_inference_batches_are_bounded_by_memory_and_change_nothing(monkeypatch):
    model = zoo.build("scratch-cnn4")
    per_sample = max(layer.work_size() for layer in model.layers) * 4
    batch = model.inference_batch_size()
    assert batch * per_sample <= Sequential.INFERENCE_MEMORY < (batch + 1) * per_sample
    x = np.random.default_rng(1).random((10, 1, 28, 28), dtype=np.float32)
    whole = model.predict_logits(x, batch_size=10)
    # A budget of three images' arrays: batches of 3, 3, 3 and 1, the same outputs.
    monkeypatch.setattr(Sequential, "INFERENCE_MEMORY", 3 * per_sample)
    assert model.inference_batch_size() == 3
    np.testing.assert_allclose(model.predict_logits(x), whole, rtol=1e-5, atol=1e-6)
    with DataParallel(model, 2) as parallel:  # 2 threads: batches of 2 x 3 images
        np.testing.assert_allclose(parallel.predict_logits(x), whole, rtol=1e-5, atol=1e-6)

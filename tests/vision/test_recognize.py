"""The Recognizer API, calibration and honest answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from recognize_helpers import paste, png_bytes, thicken

from digitkit import Recognizer, runs
from digitkit.errors import DigitkitError
from digitkit.inference.calibrate import (
    calibrate_run,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from digitkit.vision.imageio import ImageError
from digitkit.vision.recognize import Prediction, available_models

PREDICTION_KEYS = {"digit", "confidence", "probabilities", "uncertain"}


def test_prediction_json_contract(tiny, mnist):
    p = tiny.predict(mnist.x_test[0])
    d = p.to_dict()
    assert set(d) >= PREDICTION_KEYS and isinstance(d["digit"], int)
    assert len(d["probabilities"]) == 10 and abs(sum(d["probabilities"]) - 1) < 1e-4
    assert d["confidence"] == max(d["probabilities"])
    json.dumps(d)  # plain JSON types only


def test_blank_is_null_with_a_reason_never_a_guess(tiny):
    for img in (
        np.zeros((100, 100)),
        np.full((64, 64), 255, np.uint8),
        png_bytes(Image.new("RGBA", (200, 200), (0, 0, 0, 0))),
    ):
        d = tiny.predict(img).to_dict()
        assert d["digit"] is None and d["reason"] and d["uncertain"] is True
        assert d["confidence"] == 0.0


def test_predict_raises_for_undecodable_input(tiny):
    with pytest.raises(ImageError):
        tiny.predict(b"not an image")


def test_batch_survives_every_kind_of_bad_input(tiny, mnist, tmp_path):
    good = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.x_test[0]).save(good)
    (tmp_path / "empty.png").write_bytes(b"")
    truncated = png_bytes(Image.fromarray(mnist.x_test[1]))[:40]
    inputs = [
        good,
        tmp_path / "empty.png",
        b"GIF89a garbage",
        truncated,
        tmp_path / "missing.png",
        np.zeros((1, 1)),
        np.zeros((10, 10000)),
        png_bytes(Image.new("RGB", (8, 8)), "TGA"),
        object(),
        mnist.x_test[2],
    ]
    out = tiny.predict_batch(inputs)
    assert len(out) == len(inputs)
    assert out[0].digit is not None and out[0].file == str(good) and out[0].error is None
    for p in out[1:5] + out[7:9]:
        assert p.digit is None and p.error
    assert out[5].digit is None and out[5].reason and not out[5].error  # valid but empty
    assert out[6].digit is None and out[6].reason
    assert out[9].digit is not None
    assert "unsupported" in out[7].error


def test_batch_matches_single_predictions(tiny, mnist):
    x = mnist.x_test[:40]
    batch = tiny.predict_batch(x)
    listed = tiny.predict_batch(list(x))
    for img, a, b in zip(x, batch, listed, strict=True):
        single = tiny.predict(img)
        assert a.digit == b.digit == single.digit
        assert abs(a.confidence - single.confidence) < 1e-4


def test_batch_with_previews_is_predict_batch_and_preview(tiny, mnist):
    """The web app's batch call: each input's prediction and preview, as the two calls give
    them (blank: no preview; undecodable: the error, no preview)."""
    inputs = [png_bytes(Image.fromarray(d)) for d in mnist.x_test[:6]]
    inputs += [png_bytes(Image.new("L", (40, 40))), b"GIF89a garbage"]
    out = tiny.predict_batch_with_previews(inputs)
    assert [p for p, _ in out] == tiny.predict_batch(inputs)
    for data, (_, view) in zip(inputs[:-1], out[:-1], strict=True):
        want = tiny.preview(data)
        assert (view is None) == (want is None)
        assert view is None or view.tobytes() == want.tobytes()
    assert out[-1][0].error and out[-1][1] is None


def test_preview_is_what_the_model_sees(tiny, mnist):
    img = paste(mnist.x_test[3], (300, 400), (120, 40), zoom=4)
    view = tiny.preview(1.0 - img)
    assert view.shape == (28, 28) and view.dtype == np.float32 and view.max() == 1.0
    assert tiny.preview(np.zeros((30, 30))) is None


def test_tta_averages_shifted_views(tiny_run, mnist):
    plain, tta = Recognizer.load(tiny_run), Recognizer.load(tiny_run, tta=True)
    a, b = plain.predict(mnist.x_test[0]), tta.predict(mnist.x_test[0])
    assert b.digit is not None and abs(sum(b.probabilities) - 1) < 1e-4
    assert a.probabilities != b.probabilities


def test_inference_rewrites_keep_the_probabilities(tiny_run, mnist):
    from digitkit import runs as run_io
    from digitkit.inference.predictor import load_torch_run

    # Recognizer.load goes through the accelerated predictor; the baseline is the plain module.
    plain = Recognizer(load_torch_run(tiny_run, run_io.read_card(tiny_run)))
    fast = Recognizer.load(tiny_run)
    assert fast.predictor.module is not plain.predictor.module
    x = mnist.x_test[:300].astype(np.float32) / 255
    assert np.abs(fast.probabilities(x) - plain.probabilities(x)).max() < 1e-4


def test_onnx_export_is_used_when_it_matches(tiny_run, mnist, tmp_path):
    import shutil

    pytest.importorskip("onnxruntime")
    from digitkit.inference.export import export_onnx
    from digitkit.inference.predictor import OnnxPredictor

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    export_onnx(run)
    fast, torch_only = Recognizer.load(run), Recognizer.load(tiny_run)
    assert isinstance(fast.predictor, OnnxPredictor)
    x = mnist.x_test[:200].astype(np.float32) / 255
    assert np.abs(fast.probabilities(x) - torch_only.probabilities(x)).max() < 1e-4
    # A stale export (the weights changed since) is ignored.
    weights = runs.load_weights(run)
    weights = {k: (v * 1.5 if v.dtype.kind == "f" else v) for k, v in weights.items()}
    runs.save_weights(run, weights)
    assert not isinstance(Recognizer.load(run).predictor, OnnxPredictor)


def test_int8_graph_is_used_only_while_it_matches(tiny_run, mnist, tmp_path, monkeypatch):
    import shutil

    pytest.importorskip("onnxruntime")
    from digitkit.inference.export import quantize_int8
    from digitkit.inference.predictor import OnnxPredictor
    from tests.inference.test_export_evaluate import widest_int8_weight

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    x = mnist.x_test[:300].astype(np.float32) / 255
    with pytest.raises(DigitkitError, match="int8 loses"):  # max_drop < 0: refused
        quantize_int8(
            run, mnist.x_train[:200], (mnist.x_val[:300], mnist.y_val[:300]), max_drop=-1.0
        )
    assert not (run / "model.int8.onnx").exists() and "int8" not in runs.read_card(run)
    path, record = quantize_int8(
        run, mnist.x_train[:200], (mnist.x_val[:300], mnist.y_val[:300]), max_drop=1.0
    )
    card = runs.read_card(run)
    assert path.is_file() and card["int8"] == record
    assert 32 < widest_int8_weight(path) <= 64  # 7-bit weights, using their range
    assert record["calibration_images"] == 200
    assert set(record["val_accuracy"]) == {"float32", "int8"}
    exact, quantized = Recognizer.load(tiny_run), Recognizer.load(run)
    assert isinstance(quantized.predictor, OnnxPredictor)
    assert quantized.predictor.precision == "int8"
    # Quantized, not identical, but the same model: same answers almost everywhere.
    a, b = exact.probabilities(x), quantized.probabilities(x)
    # A tiny, barely trained model has borderline images whose probabilities move a lot under
    # quantization (up to 0.45 in L1), so bound the typical change, not the largest one; a
    # broken graph moves every image by about 1 or more.
    change = np.abs(a - b).sum(1)
    assert change.max() > 0 and np.median(change) < 0.15
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.95
    # Opting out, or a file that is not the recorded one, falls back to float32.
    monkeypatch.setenv("DIGITKIT_INT8", "0")
    assert Recognizer.load(run).predictor.precision == "float32"
    monkeypatch.delenv("DIGITKIT_INT8")
    path.write_bytes(path.read_bytes() + b"\0")
    assert Recognizer.load(run).predictor.precision == "float32"


def test_big_batches_run_in_parallel_chunks_in_order(tiny, mnist, monkeypatch):
    import digitkit.vision.recognize as recognize

    x = mnist.x_test[:50]
    whole = tiny.predict_batch(x)
    monkeypatch.setattr(recognize, "PARALLEL_CHUNK", 8)
    monkeypatch.setattr(recognize.os, "cpu_count", lambda: 2)
    chunks = []
    original = recognize.Recognizer._predict_chunk
    monkeypatch.setattr(
        recognize.Recognizer,
        "_predict_chunk",
        lambda self, items, drawing=False: (
            chunks.append((len(items), drawing)) or original(self, items, drawing)
        ),
    )
    parallel = tiny.predict_batch(x)
    sizes = [n for n, _ in chunks]
    assert sizes and max(sizes) == 8 and sum(sizes) == 50
    chunks.clear()
    tiny.predict_batch(x, drawing=True)  # every chunk is told
    assert sum(n for n, _ in chunks) == 50 and all(drawing for _, drawing in chunks)
    assert [p.digit for p in parallel] == [p.digit for p in whole]
    assert np.allclose([p.confidence for p in parallel], [p.confidence for p in whole], atol=1e-5)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(DigitkitError, match="no model"):
        Recognizer.load("no-such-model-anywhere")


def test_available_models_lists_run_dirs(tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    import shutil

    shutil.copytree(tiny_run, tmp_path / "runs" / "tiny")
    shutil.copytree(tiny_run, tmp_path / "trained" / "kept")
    names = available_models()
    assert "runs/tiny" in names and "trained/kept" in names
    assert Recognizer.load("runs/tiny").predict(np.eye(28) * 255).digit is not None


def test_prediction_dict_omits_unset_fields():
    d = Prediction(3, 0.9, [0.0] * 10, False, None).to_dict()
    assert set(d) == PREDICTION_KEYS


# ------------------------------------------------------------------ calibration


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 3, (4000, 10))
    labels = np.array([rng.choice(10, p=p) for p in softmax(true_logits)])
    # A model twice as confident as it should be: logits scaled by 2.
    t = fit_temperature(2.0 * true_logits, labels)
    assert 1.8 < t < 2.2
    # Probabilities work as well as logits.
    assert abs(fit_temperature(softmax(2.0 * true_logits), labels) - t) < 0.05
    before = expected_calibration_error(softmax(2.0 * true_logits), labels)
    after = expected_calibration_error(softmax(2.0 * true_logits, t), labels)
    assert after < before


def test_calibrate_run_updates_the_card_and_the_recognizer(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    report = calibrate_run(run)
    cal = runs.read_card(run)["calibration"]
    assert cal == report
    assert cal["temperature"] > 0 and cal["ece_after"] <= cal["ece_before"] + 1e-6
    assert 0.0 < cal["uncertain_below"] < 1.0
    r = Recognizer.load(run)
    assert r.threshold == cal["uncertain_below"]
    assert r.predictor.temperature == pytest.approx(cal["temperature"])


# ------------------------------------------------------------------ real accuracy


def _accuracy(recognizer, images, labels) -> float:
    preds = recognizer.predict_batch(images)
    return float(np.mean([p.digit == y for p, y in zip(preds, labels, strict=True)]))


def test_shipped_model_reads_real_world_variants(shipped, mnist):
    """MNIST test digits pasted anywhere into large canvases (zoomed), inverted, on a
    transparent background, or thickened: still read correctly."""
    rng = np.random.default_rng(1)
    idx = rng.choice(10000, 400, replace=False)
    x, y = mnist.x_test[idx], mnist.y_test[idx]
    base = _accuracy(shipped, x, y)
    pasted, inverted, alpha, thick = [], [], [], []
    for k, d in enumerate(x):
        zoom = int(rng.integers(1, 6))
        h, w = int(rng.integers(28 * zoom + 10, 500)), int(rng.integers(28 * zoom + 10, 600))
        at = (int(rng.integers(0, h - 28 * zoom)), int(rng.integers(0, w - 28 * zoom)))
        canvas = paste(d, (h, w), at, zoom)
        pasted.append(canvas)
        inverted.append(1.0 - canvas)
        rgba = np.zeros((h, w, 4), np.uint8)  # black ink on transparent black
        rgba[..., 3] = (canvas * 255).astype(np.uint8)
        alpha.append(png_bytes(Image.fromarray(rgba, "RGBA")) if k < 100 else rgba)
        thick.append(thicken(d, 1))
    for name, images in (
        ("pasted", pasted),
        ("inverted", inverted),
        ("alpha", alpha),
        ("thickened", thick),
    ):
        acc = _accuracy(shipped, images, y)
        assert acc >= min(base, 0.99) - 0.015, f"{name}: {acc:.3f} (plain MNIST {base:.3f})"


def test_shipped_model_is_calibrated(shipped):
    cal = shipped.card.get("calibration")
    assert cal, "the shipped model's card has no calibration block (run digitkit calibrate)"
    assert cal["ece_after"] <= cal["ece_before"]


def test_calibrate_an_ensemble_spec(tiny_run, mnist, tmp_path, capsys):
    import shutil

    from digitkit.cli import main

    members = []
    for name in ("a", "b"):
        shutil.copytree(tiny_run, tmp_path / name)
        assert main(["calibrate", str(tmp_path / name)]) == 0
        members.append(name)
    spec = tmp_path / "avg.json"
    spec.write_text(
        json.dumps(
            {
                "format": "digitkit-ensemble/1",
                "method": "average",
                "members": members,
                "weights": [0.5, 0.5],
                "data": {"dataset": "mnist", "n_val": 5000, "split_seed": 0},
            }
        )
    )
    assert main(["calibrate", str(spec)]) == 0
    assert "ensemble ECE" in capsys.readouterr().out
    doc = json.loads(spec.read_text())
    block = doc["calibration"]
    t = runs.read_card(tmp_path / "a")["calibration"]["temperature"]
    assert f"{t:.2f}" in block["note"] and block["n"] == 5000 and block["split"] == "val"
    assert block["ece_after"] < block["ece_before"]
    assert 0.5 <= block["uncertain_below"] <= 0.99
    assert doc["metrics"]["val"]["accuracy"] == block["acc_val"] > 0.5
    # The Recognizer reads the threshold from the spec.
    assert Recognizer.load(spec).threshold == block["uncertain_below"]

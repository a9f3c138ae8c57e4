"""Evaluation reports and figures, and ONNX export, on a tiny trained run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from digitkit import runs
from digitkit.cli import main
from digitkit.inference.evaluate import confusion_matrix, evaluate, report
from tests.train.test_train import TINY, _quiet, _toy_splits


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from digitkit.train.loop import train

    out = tmp_path_factory.mktemp("run")
    train("cnn-fast", TINY, _toy_splits(), out, options=_quiet())
    return out


def test_report_and_confusion():
    labels = np.array([0, 1, 1, 2])
    probs = np.eye(10)[[0, 1, 2, 2]] * 0.9 + 0.01
    rep = report(labels, probs)
    assert rep["accuracy"] == 0.75 and rep["errors"] == 1 and rep["n"] == 4
    assert rep["per_class"]["1"]["recall"] == 0.5 and rep["per_class"]["2"]["precision"] == 0.5
    assert confusion_matrix(labels, probs.argmax(1))[1, 2] == 1


def test_evaluate_writes_report_figures_and_cache(tiny_run):
    splits = _toy_splits()
    rep = evaluate(tiny_run, "test", splits=splits)
    for name in ("eval-test.json", "confusion-test.png", "errors-test.png", "probs-test.npy"):
        assert (tiny_run / name).is_file(), name
    saved = json.loads((tiny_run / "eval-test.json").read_text())
    assert (
        saved["accuracy"]
        == rep["accuracy"]
        == runs.read_card(tiny_run)["metrics"]["test"]["accuracy"]
    )
    assert sum(map(sum, saved["confusion"])) == len(splits.y_test)


def widest_int8_weight(graph: Path) -> int:
    """The largest magnitude among the quantized weights of an int8 ONNX graph."""
    import onnx
    from onnx import numpy_helper

    arrays = [numpy_helper.to_array(t) for t in onnx.load(str(graph)).graph.initializer]
    return max(int(np.abs(a.astype(np.int16)).max()) for a in arrays if a.dtype == np.int8)


def test_every_shipped_int8_graph_has_7_bit_weights():
    # Full 8-bit weights saturate onnxruntime's u8s8 dot products on CPUs without VNNI (AVX2
    # only), which then read a graph worse than its card says; 7-bit ones (|w| <= 64) cannot.
    pytest.importorskip("onnx")
    import digitkit

    graphs = sorted((Path(digitkit.__file__).parent / "weights").glob("*/model.int8.onnx"))
    assert len(graphs) >= 10
    for graph in graphs:
        assert widest_int8_weight(graph) <= 64, graph.parent.name


def test_calibration_is_fed_in_chunks_and_min_max_ranges_do_not_depend_on_them(
    tiny_run, tmp_path, monkeypatch
):
    """onnxruntime holds every activation of the batches it calibrates on at once (2,048
    number lines took over 24 GB), so the export feeds it a chunk at a time: memory is one
    chunk's whatever the calibration's size."""
    import shutil

    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import calibrate

    from digitkit.inference import export

    images = np.random.default_rng(0).integers(0, 256, (250, 28, 28), dtype=np.uint8)
    graphs = {}
    for chunk in (32, 1):  # 3 batches of 100 images: one chunk, then one batch a chunk
        run = tmp_path / f"chunk-{chunk}"
        shutil.copytree(tiny_run, run)
        monkeypatch.setattr(export, "CALIBRATION_CHUNK", chunk)
        graphs[chunk] = export.quantize_int8(run, images)[1]["sha256"]
    assert graphs[1] == graphs[32]  # min-max ranges merge exactly

    fed: list[int] = []
    collect = calibrate.HistogramCalibrater.collect_data

    def counting(self, reader):
        get_next, seen = reader.get_next, []
        reader.get_next = lambda: (lambda batch: (seen.append(batch), batch)[1])(get_next())
        collect(self, reader)
        fed.append(sum(batch is not None for batch in seen))

    monkeypatch.setattr(calibrate.HistogramCalibrater, "collect_data", counting)
    rng = np.random.default_rng(1)
    batch = [rng.random((4, 1, 28, 28), dtype=np.float32)]
    dest = tmp_path / "percentile.onnx"
    chunks = [batch * 2, batch * 2, batch]
    export._quantize_static(tmp_path / "chunk-1" / "model.onnx", dest, chunks, percentile=True)
    assert fed == [2, 2, 1] and dest.is_file()


def test_number_lines_are_calibrated_in_chunks_of_bounded_columns(monkeypatch):
    from digitkit.inference import export

    monkeypatch.setattr(export, "CALIBRATION_COLUMNS", 4 * 100)
    batches = [np.zeros((2, 32, w), np.float32) for w in (50, 100, 300, 60, 60, 60)]
    chunks = export.line_chunks(batches)
    # 2+2 lines at 100 columns fit; a 300-column batch is over alone; then 6 lines at 60
    assert [[b.shape[-1] for b in chunk] for chunk in chunks] == [[50, 100], [300], [60, 60, 60]]
    flat = [b for chunk in chunks for b in chunk]
    assert len(flat) == len(batches) and all(a is b for a, b in zip(flat, batches, strict=True))
    monkeypatch.setattr(export, "CALIBRATION_COLUMNS", 4 * 100 - 1)
    assert len(export.line_chunks(batches)[0]) == 1  # 4 lines at 100 no longer fit
    monkeypatch.setattr(export, "CALIBRATION_COLUMNS", 10**9)
    assert len(export.line_chunks(batches)) == 1  # all in one: calibrated as in one go


def test_export_onnx_matches_torch(tiny_run, capsys):
    import onnx

    assert main(["export", str(tiny_run), "--onnx"]) == 0
    assert "max |onnx - torch|" in capsys.readouterr().out
    model = onnx.load(str(tiny_run / "model.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["digitkit_input"]) == runs.read_card(tiny_run)["input"]


def test_pool_first_model_exports_and_matches(tmp_path):
    """cnn-swift pools before BatchNorm and uses in-place ReLU; its ONNX graph must still
    give torch's outputs (export checks them to 1e-4 and raises otherwise)."""
    from digitkit.inference.export import export_onnx
    from digitkit.train.loop import train

    recipe = dataclasses.replace(TINY, epochs=1)
    train("cnn-swift", recipe, _toy_splits(), tmp_path, arch_args={"width": 8}, options=_quiet())
    path, diff = export_onnx(tmp_path)
    assert path.is_file() and diff < 1e-4

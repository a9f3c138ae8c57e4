"""Export a torch run to ONNX for fast CPU inference elsewhere (onnxruntime, browsers, C++).

The exported graph takes the *prepared* input (N, 1, S, S) float32, i.e. after the run's input
spec (padding, normalization), which is stored in the ONNX metadata as JSON so a consumer can
reproduce it; it outputs logits (N, 10). The export is checked against torch before it is kept,
and the card records the file's sha256 (``onnx``): loading then checks that hash instead of
running torch, so inference needs no torch (:func:`digitkit.inference.sessions.verified_onnx`).
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitkit import atomic, runs
from digitkit.card import RunCard
from digitkit.errors import DigitkitError

if TYPE_CHECKING:
    from digitkit.train.sequence import LineSet


def export_onnx(
    run_dir: str | Path, out: str | Path | None = None, opset: int = 17, atol: float = 1e-4
) -> tuple[Path, float]:
    """Write ``model.onnx`` for a torch run; return its path and the largest difference
    between onnxruntime's and torch's logits on random inputs. Written into the run directory,
    the file's sha256 goes into the card (:func:`digitkit.runs.record_onnx`)."""
    from digitkit._extras import require
    from digitkit.inference.predictor import load_torch_run

    onnx = require("train", "onnx")
    torch = require("train", "torch")
    ort = require("train", "onnxruntime")  # the export's check (also the fast extra's)

    run_dir = runs.require_run_dir(run_dir)
    card = RunCard.load(run_dir)
    if card.engine != "torch":
        raise DigitkitError(
            f"{run_dir}: only torch runs export to ONNX (this one is {card.engine})"
        )
    predictor = load_torch_run(run_dir, card)
    size = predictor.input_spec.size
    out = Path(out) if out else run_dir / "model.onnx"
    example = torch.zeros(1, 1, size, size)
    with atomic.atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            predictor.module,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        model = onnx.load(str(tmp))
        meta = {
            "digitkit_input": json.dumps(card.input),
            "digitkit_architecture": json.dumps(card.architecture),
        }
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((8, 1, size, size)).astype(np.float32)
        with torch.inference_mode():
            expected = predictor.module(torch.from_numpy(x)).numpy()
        diff = float(np.abs(session.run(None, {"input": x})[0] - expected).max())
        if diff > atol:
            raise DigitkitError(f"ONNX export of {run_dir} differs from torch by {diff:.2e}")
    runs.record_onnx(run_dir, out, diff, opset)
    return out, diff


INT8_FILE = runs.INT8_GRAPH
#: onnxruntime holds every activation of the batches it calibrates on until it histograms
#: them, so a large --calibration ran out of memory. Calibration is fed chunk by chunk, the
#: histograms merged: a digit classifier's CALIBRATION_CHUNK batches at a time, a number
#: reader's at most CALIBRATION_COLUMNS line-columns (its lines times the chunk's widest line,
#: to which they are all padded: one line at the widest width is several usual batches
#: wide). Memory is then one chunk's whatever --calibration asks (RESULTS.md, 2026-12-07). A
#: calibration that fits one chunk (3,200 digits; 1,024 lines none of them over 384 columns)
#: is calibrated as before.
CALIBRATION_CHUNK = 32
CALIBRATION_COLUMNS = 1024 * 384


def quantize_int8(
    run_dir: str | Path,
    calibration: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    max_drop: float = 0.002,
) -> tuple[Path, dict]:
    """Write ``model.int8.onnx``: the run's ``model.onnx`` with int8 weights and activations
    (onnxruntime static quantization, per-channel weights, activation ranges calibrated on
    ``calibration``: training images (N, 28, 28), never test images).

    Why: on CPUs with VNNI the int8 graph runs about 1.8x the images per second
    of float32 (cnn-medium: 13,000 against 7,200 on 2 cores) and a batch-throughput target
    is out of reach without it. Accuracy is checked on ``val`` (images, labels) for both
    graphs and recorded, with the sha256 of both files, under ``int8`` in the card; the
    predictor uses the int8 graph only while those hashes still match (never a stale one).
    When int8 loses more than ``max_drop`` of validation accuracy, nothing is kept and a
    DigitkitError says by how much. Returns the path and that record.
    """
    run_dir = runs.require_run_dir(run_dir)
    source = run_dir / "model.onnx"
    if not source.is_file():
        export_onnx(run_dir)
    spec = RunCard.load(run_dir).input_spec
    prepared = spec.prepare(np.asarray(calibration))
    out = run_dir / INT8_FILE
    with atomic.atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = [prepared[i : i + 100] for i in range(0, len(prepared), 100)]
        chunks = [
            batches[i : i + CALIBRATION_CHUNK] for i in range(0, len(batches), CALIBRATION_CHUNK)
        ]
        _quantize_static(source, tmp, chunks)
        record: dict = {
            "file": INT8_FILE,
            "sha256": runs.file_sha256(tmp),
            "source_sha256": runs.file_sha256(source),
            "calibration_images": int(len(prepared)),
        }
        if val is not None:
            x, y = spec.prepare(np.asarray(val[0])), np.asarray(val[1])
            accuracy = {"float32": _accuracy(source, x, y), "int8": _accuracy(tmp, x, y)}
            record["val_accuracy"] = accuracy
            _check_int8_drop(run_dir, accuracy, max_drop)
    runs.update_card(run_dir, int8=record)
    return out, record


def _quantize_static(
    source: Path,
    dest: Path,
    chunks: list[list[np.ndarray]],
    input_name: str = "input",
    percentile: bool = False,
    overrides: dict | None = None,
) -> None:
    """Quantize the ONNX graph ``source`` into ``dest`` (7-bit per-channel weights, uint8
    activations), activation ranges calibrated on ``chunks`` of batches of prepared inputs,
    one chunk at a time (the batches of a chunk share one shape): their extremes (min-max), or
    with ``percentile`` their 0.001 and 99.999 percentiles (a few outlying activations then do
    not coarsen every other value's step). ``overrides`` replaces any of onnxruntime's
    ``quantize_static`` keyword arguments (to measure other settings; the exports use none).

    Why 7-bit weights (``reduce_range``): on x86 CPUs without VNNI (AVX2 only: most laptops
    and servers before Ice Lake and Zen 4) onnxruntime's u8s8 dot products add pairs of
    products in 16-bit registers, which saturate with full 8-bit weights, so such CPUs read a
    full-range graph worse than the CPU that measured it. 7-bit weights cannot saturate
    (RESULTS.md, 2026-12-06, measures both)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Chunks(CalibrationDataReader):
        """The chunks one at a time: onnxruntime's strided collection, one chunk a stride
        (set_range), histograms what each chunk's batches give and lets them go."""

        def __init__(self) -> None:
            self.set_range(0, len(chunks))

        def __len__(self) -> int:
            return len(chunks)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.pending = iter([b for chunk in chunks[start_index:end_index] for b in chunk])

        def get_next(self) -> dict | None:
            batch = next(self.pending, None)
            return None if batch is None else {input_name: batch}

    shaped = dest.with_name(dest.name + ".shapes.onnx")
    try:
        # onnxruntime prints its percentile search's progress; the caller says what matters.
        with contextlib.redirect_stdout(io.StringIO()):
            quant_pre_process(str(source), str(shaped))
            options = {
                "quant_format": QuantFormat.QOperator,
                "activation_type": QuantType.QUInt8,
                "weight_type": QuantType.QInt8,
                "per_channel": True,
                "reduce_range": True,
                "calibrate_method": (
                    CalibrationMethod.Percentile if percentile else CalibrationMethod.MinMax
                ),
                "extra_options": {"CalibStridedMinMax": 1},  # one chunk a stride
            }
            given = overrides or {}
            extra = {**options["extra_options"], **given.get("extra_options", {})}
            options = {**options, **given, "extra_options": extra}
            quantize_static(str(shaped), str(dest), _Chunks(), **options)
    finally:
        shaped.unlink(missing_ok=True)


def _accuracy(graph: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the ONNX graph on prepared images ``x`` and labels ``y``, 6 decimals."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    logits = np.concatenate(
        [session.run(None, {"input": x[i : i + 512]})[0] for i in range(0, len(x), 512)]
    )
    return round(float((logits.argmax(1) == y).mean()), 6)


def _check_int8_drop(
    run_dir: Path, accuracy: dict[str, float], max_drop: float, what: str = "accuracy"
) -> None:
    """Refuse an int8 graph that loses more than ``max_drop`` of validation ``what`` (a loss
    of exactly ``max_drop`` is allowed: rounding must not refuse it)."""
    if accuracy["float32"] - accuracy["int8"] > max_drop + 1e-9:
        raise DigitkitError(
            f"{run_dir}: int8 loses {100 * (accuracy['float32'] - accuracy['int8']):.2f} "
            f"points of validation {what} ({100 * accuracy['float32']:.2f}% -> "
            f"{100 * accuracy['int8']:.2f}%), more than the {100 * max_drop:.2f} allowed; "
            "kept float32 only (try more --calibration images or a larger --max-drop)"
        )


def quantize_number_int8(
    run_dir: str | Path,
    calibration: Iterable[np.ndarray],
    val: LineSet | None = None,
    max_drop: float = 0.005,
) -> tuple[Path, dict]:
    """Write ``model.int8.onnx`` for a number-reader run, as :func:`quantize_int8` does for
    a digit classifier: static quantization of its ``model.onnx`` (exported first when
    missing), activation ranges calibrated on ``calibration``, batches of normalized
    training lines (N, LINE_HEIGHT, W), by percentile (min-max ranges, set by a few outlying
    activations, cost a shipped reader validation lines: RESULTS.md, 2026-12-06). Why: the
    graph is a quarter of the float one's size and reads as fast, so the shipped readers
    fit the weight budget with room to grow.

    ``val`` (a :class:`digitkit.train.sequence.LineSet`; the CLI's: fresh validation lines,
    ``run_line_sets(check_lines=...)``) is read with both graphs; the share of lines read
    exactly is recorded (``val_exact``, over ``val_lines`` lines) and an int8 graph that
    loses more than ``max_drop`` of it is not kept (DigitkitError). The ``NumberReader`` then
    runs the int8 graph while the card's hashes vouch for it (``DIGITKIT_INT8=0`` keeps
    float32)."""
    from digitkit.train.sequence import evaluate_lines, export_number_onnx

    run_dir = runs.require_run_dir(run_dir)
    if RunCard.load(run_dir).task != "number":
        raise DigitkitError(f"{run_dir}: not a number-reader run")
    source = run_dir / "model.onnx"
    if not source.is_file():
        export_number_onnx(run_dir)
    out = run_dir / INT8_FILE
    batches = [np.asarray(batch, np.float32) for batch in calibration]
    if not batches:
        raise DigitkitError(f"{run_dir}: no calibration lines to quantize on")
    with atomic.atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_number_graph(source, tmp, batches)
        record: dict = {
            "file": INT8_FILE,
            "sha256": runs.file_sha256(tmp),
            "source_sha256": runs.file_sha256(source),
            "calibration_lines": sum(len(b) for b in batches),
            "calibration": "percentile",
        }
        if val is not None:
            exact = {
                name: round(evaluate_lines(_graph_logits(graph), val)["exact"], 6)
                for name, graph in (("float32", source), ("int8", tmp))
            }
            record["val_exact"] = exact
            record["val_lines"] = len(val.texts)
            _check_int8_drop(run_dir, exact, max_drop, what="lines read exactly")
    runs.update_card(run_dir, int8=record)
    return out, record


def quantize_number_graph(
    source: Path, dest: Path, batches: list[np.ndarray], overrides: dict | None = None
) -> None:
    """A number reader's graph quantized as its export does: ``batches`` of normalized lines
    (N, LINE_HEIGHT, W) in chunks of at most CALIBRATION_COLUMNS line-columns, each padded to
    its widest line, activation ranges by percentile; ``overrides`` as in
    :func:`_quantize_static`."""
    chunks = []
    for chunk in line_chunks(batches):
        width = max(b.shape[-1] for b in chunk)
        chunks.append(
            [np.pad(b, ((0, 0), (0, 0), (0, width - b.shape[-1])))[:, None] for b in chunk]
        )
    _quantize_static(source, dest, chunks, input_name="line", percentile=True, overrides=overrides)


def line_chunks(batches: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Consecutive ``batches`` of lines (N, H, W) grouped so that each group's lines times
    its widest line stays within CALIBRATION_COLUMNS (a batch over it alone is a group)."""
    chunks: list[list[np.ndarray]] = []
    lines = widest = 0
    for batch in batches:
        wider = max(widest, batch.shape[-1])
        if chunks and (lines + len(batch)) * wider <= CALIBRATION_COLUMNS:
            chunks[-1].append(batch)
            lines, widest = lines + len(batch), wider
        else:
            chunks.append([batch])
            lines, widest = len(batch), batch.shape[-1]
    return chunks


def _graph_logits(path: Path) -> Callable[[Any], Any]:
    """An ONNX number-reader graph called like its torch module (a tensor of lines
    (N, 1, H, W) in, logits out), so the trainer's own validation reads it."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda lines: torch.from_numpy(session.run(None, {name: lines.numpy()})[0])


def pin_onnx(run_dir: str | Path, atol: float = 1e-4) -> dict:
    """Check a run's existing ``model.onnx`` against its torch weights as the export does (a
    digit classifier on random images, a number reader on lines of several widths), then
    record its sha256 in the card (:func:`digitkit.runs.record_onnx`). For runs exported
    before cards recorded the hash, the shipped models among them; nothing is re-exported or
    retrained.

    ``python -m digitkit.inference.export src/digitkit/weights/*/`` pins every shipped model."""
    from digitkit._extras import require

    torch = require("train", "torch")
    ort = require("train", "onnxruntime")
    run_dir = runs.require_run_dir(run_dir)
    card = RunCard.load(run_dir)
    path = run_dir / "model.onnx"
    if not path.is_file():
        raise DigitkitError(f"{run_dir}: no model.onnx to pin")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    if card.task == "number":
        from digitkit.train.sequence import load_number_model
        from digitkit.vision.numbers import LINE_HEIGHT

        module = load_number_model(run_dir)
        inputs = [rng.random((2, 1, LINE_HEIGHT, w), dtype=np.float32) for w in (8, 96, 412)]
    else:
        from digitkit.inference.predictor import load_torch_run

        predictor = load_torch_run(run_dir, card)
        module, size = predictor.module, predictor.input_spec.size
        inputs = [rng.standard_normal((8, 1, size, size)).astype(np.float32)]
    diff = 0.0
    for x in inputs:
        with torch.inference_mode():
            expected = module(torch.from_numpy(x)).numpy()
        got = session.run(None, {name: x})[0]
        if got.shape != expected.shape:
            raise DigitkitError(f"{path}: output shape {got.shape} != torch {expected.shape}")
        diff = max(diff, float(np.abs(got - expected).max()))
    if diff > atol:
        raise DigitkitError(
            f"{path} differs from the run's torch weights by {diff:.2e}; re-export it instead"
        )
    record = runs.record_onnx(run_dir, path, diff)
    assert record is not None
    return record


if __name__ == "__main__":  # python -m digitkit.inference.export RUN_DIR...: pin existing exports
    import sys

    for arg in sys.argv[1:]:
        rec = pin_onnx(arg)
        print(
            f"{arg}: sha256 {rec['sha256'][:16]}..., max |onnx - torch| {rec['max_abs_diff']:.1e}"
        )

"""What runs a torch run's exported model: onnxruntime on the verified ``model.onnx`` (or its
int8 graph), or, where onnxruntime is not installed (the bare ``pip install digitkit``), the
NumPy runtime (:mod:`digitkit.inference.numpy_runtime`) on the float32 weights the export
pinned. Either session answers ``get_inputs()`` and ``run(None, feeds)``; the predictor
(:class:`digitkit.inference.predictor.OnnxPredictor`) takes either.

Every file used is the one the card recorded: ``model.onnx`` by its sha256 (a changed file is
an error), the int8 graph by its own and its source's, ``model.safetensors`` by the sha256
the export recorded next to the graph's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from digitkit import runs
from digitkit.card import RunCard
from digitkit.errors import DigitkitError
from digitkit.inference import numpy_runtime

ONNX_FILE = "model.onnx"


def _stale(run_dir: Path, record: dict[str, Any]) -> bool:
    """Whether the run's weights changed since the export the card's record describes."""
    weights = run_dir / runs.WEIGHTS
    return bool(
        record.get("weights_sha256")
        and weights.is_file()
        and runs.file_sha256(weights) != record["weights_sha256"]
    )


def verified_onnx(run_dir: Path, card: RunCard | dict[str, Any]) -> Path | None:
    """The run's ``model.onnx`` when the card's ``onnx`` record (written by the export, which
    compared the graph with torch) vouches for it: the file's sha256 is the one recorded and
    the weights are still the ones it was exported from. None when there is no record or no
    file, or when the weights changed since the export (a stale export is never used).

    Raises DigitkitError when the file is not the one the export recorded (edited, truncated,
    replaced): a clear error instead of a silently different model."""
    record = RunCard.of(card, run_dir / runs.CARD).onnx
    if record is None:
        return None
    path = _recorded_graph(run_dir, record)
    return None if path is None or _stale(run_dir, record) else path


def _recorded_graph(run_dir: Path, record: dict[str, Any]) -> Path | None:
    """The float graph the ``onnx`` record names, None when the file is not there; raises
    DigitkitError (see :func:`verified_onnx`) when it is not the file recorded."""
    path = run_dir / str(record.get("file", ONNX_FILE))
    if not path.is_file():
        return None
    if runs.file_sha256(path) != record.get("sha256"):
        raise DigitkitError(
            f"{path}: sha256 differs from the one recorded in {run_dir / runs.CARD} when it "
            f"was exported (the file changed or is damaged); re-export it with "
            f"'digitkit export {run_dir} --onnx' or restore the original"
        )
    return path


def int8_path(run_dir: Path, card: RunCard, source: Path | None = None) -> Path | None:
    """The run's ``model.int8.onnx`` when its card vouches for it (see
    :func:`digitkit.runs.recorded_int8`); ``source``, when given, must be the very float graph
    the card names. None otherwise, or when ``$DIGITKIT_INT8`` is ``0``."""
    source_sha = runs.file_sha256(source) if source is not None else None
    return runs.recorded_int8(run_dir, card.doc, source_sha)


def ort_session(path: Path) -> Any:
    """An onnxruntime session on the CPU for the graph at ``path``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: on a CPU shared with other work,
    # spinning burns the cores the next request needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def numpy_session(run_dir: Path, card: RunCard) -> numpy_runtime.NumpyGraph | None:
    """The run on the NumPy runtime, from the weights its export pinned; None when the export
    pinned none (an older export: torch loads the run). Raises MissingExtra naming the
    ``fast`` extra when the architecture is not one the NumPy runtime runs."""
    from digitkit._extras import MissingExtra, message

    if not numpy_runtime.supports(card.doc):
        names = ", ".join(numpy_runtime.ARCHITECTURES)
        what = f"running {run_dir} ({card.model_name}; the NumPy runtime runs {names} only)"
        raise MissingExtra(message("fast", "onnxruntime", what=what))
    if not (card.onnx or {}).get("weights_sha256"):
        return None
    return numpy_runtime.load_graph(run_dir, card.doc)


def open_session(run_dir: Path, card: RunCard) -> tuple[Any, str] | None:
    """(session, precision) for a run with an export its card vouches for, None without one
    (or when the weights changed since). onnxruntime runs the int8 graph when it matches
    (``precision`` "int8"), else the verified ``model.onnx``; without onnxruntime, or when
    the float graph was left out (a lean copy keeps only its int8 graph), the NumPy runtime
    runs the float32 weights the export pinned."""
    record = card.onnx
    if record is None or _stale(run_dir, record):
        return None
    # Each file hashed once: the weights just now, the float graph here; the int8 graph's
    # source is then the card's recorded float graph, which this file was checked to be.
    path = _recorded_graph(run_dir, record)
    if numpy_runtime.onnxruntime_available():
        int8 = int8_path(run_dir, card)
        if int8 is not None:
            return ort_session(int8), "int8"
        if path is not None:
            return ort_session(path), "float32"
        if not numpy_runtime.supports(card.doc):
            return None  # no graph to run here: torch loads the run
    graph = numpy_session(run_dir, card)
    return None if graph is None else (graph, "float32")

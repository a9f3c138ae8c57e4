"""Load any trained model for inference: a run directory of either engine, an ensemble spec,
or a model shipped in the package. Every recognizing path (evaluate, ensemble, Recognizer,
CLI, apps) goes through :func:`load_predictor`.

A predictor maps images in [0, 1] of shape (N, 28, 28) to class probabilities (N, 10); it
applies the model's own input spec (padding, normalization) and calibration temperature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from digitkit import metrics, runs
from digitkit.card import RunCard
from digitkit.data.normalize import InputSpec
from digitkit.errors import DigitkitError
from digitkit.inference import sessions

WEIGHTS_DIR = Path(__file__).parents[1] / "weights"
ENSEMBLE_FORMAT = "digitkit-ensemble/1"


class Predictor(Protocol):
    """What every loaded model offers."""

    name: str
    card: dict[str, Any]

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 in [0, 1] (or uint8) -> (N, 10) probabilities."""
        ...


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64, returned as float32."""
    return metrics.softmax(logits.astype(np.float64), temperature, axis=1).astype(np.float32)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities as if their logits were divided by ``temperature``."""
    if temperature == 1.0:
        return probs
    return softmax(metrics.safe_log(probs), temperature)


@dataclass
class TorchPredictor:
    """A torch model from a run directory, in eval mode, on the CPU."""

    name: str
    card: dict[str, Any]
    module: Any
    input_spec: InputSpec
    temperature: float = 1.0
    batch_size: int = 2048

    def logits(self, images: np.ndarray) -> np.ndarray:
        import torch

        x = self.input_spec.prepare(images)
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), self.batch_size):
                batch = torch.from_numpy(x[i : i + self.batch_size])
                out.append(self.module(batch).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, 10), np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return softmax(self.logits(images), self.temperature)


@dataclass
class NumpyPredictor:
    """A model of the NumPy engine (``digitkit.scratch``) from a run directory."""

    name: str
    card: dict[str, Any]
    model: Any
    input_spec: InputSpec
    temperature: float = 1.0

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        # The model batches by memory itself (Sequential.inference_batch_size).
        probs = self.model.predict_proba(self.input_spec.prepare(images))
        return apply_temperature(probs.astype(np.float32), self.temperature)


def load_torch_run(run_dir: Path, card: RunCard | dict[str, Any]) -> TorchPredictor:
    import torch

    from digitkit.models import build_model

    card = RunCard.of(card, run_dir / runs.CARD)
    module = build_model(card.model_name, "torch", **card.model_args)
    weights = runs.load_weights(run_dir)
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DigitkitError(f"{run_dir}: weights do not fit {card.model_name}: {first}") from None
    module.eval()
    return TorchPredictor(
        name=str(run_dir),
        card=card.doc,
        module=module,
        input_spec=card.input_spec,
        temperature=card.temperature,
    )


def load_numpy_run(run_dir: Path, card: RunCard | dict[str, Any]) -> NumpyPredictor:
    from digitkit.scratch.runio import load_model

    card = RunCard.of(card, run_dir / runs.CARD)
    return NumpyPredictor(
        name=str(run_dir),
        card=card.doc,
        model=load_model(run_dir),
        input_spec=card.input_spec,
        temperature=card.temperature,
    )


def fuse_for_inference(predictor: TorchPredictor) -> None:
    """Inference-only rewrites of a loaded torch predictor: batch norms folded
    into the convolutions before them, channels-last weights, batches of 256.

    Measured on this 2-core CPU with cnn-medium: 2-3x the images per second of the plain
    module (oneDNN's channels-last kernels; 256 images keep activations in cache), same
    probabilities to 1e-5. Models without a plain ``torch.nn.Sequential`` are left as they are.
    """
    import torch

    module = predictor.module
    if not isinstance(module, torch.nn.Sequential):
        return
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers, fused = list(module), []
    i = 0
    while i < len(layers):
        conv, bn = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
            fused += [fuse_conv_bn_eval(conv.eval(), bn.eval()), torch.nn.Identity()]
            i += 2
        else:
            fused.append(conv)
            i += 1
    # Same indices as before (an Identity where each batch norm was), so nothing else moves.
    predictor.module = torch.nn.Sequential(*fused).eval().to(memory_format=torch.channels_last)
    if hasattr(predictor, "batch_size"):
        predictor.batch_size = min(int(predictor.batch_size), 256)


class OnnxPredictor:
    """A torch run's exported model (``digitkit export RUN --onnx``) with the run's card, input
    spec and calibration temperature, run by onnxruntime (``model.onnx``, or its int8 graph)
    or, where onnxruntime is not installed, by the NumPy runtime
    (:mod:`digitkit.inference.numpy_runtime`, the float32 weights the export recorded):
    ``session`` is either, ``runtime`` says which. Loading it needs no torch: the export
    compared the graph with torch and recorded its sha256 and the weights' in the card
    (:func:`digitkit.inference.sessions.verified_onnx`).

    onnxruntime has far less per-call overhead than torch on small CNNs, for one image and in
    batches (benchmarks/RESULTS.md).
    """

    BATCH = 256

    def __init__(
        self,
        name: str,
        card: dict[str, Any],
        input_spec: InputSpec,
        session: Any,
        temperature: float = 1.0,
        precision: str = "float32",
    ):
        self.name, self.card, self.input_spec = name, card, input_spec
        self.session, self.precision = session, precision
        self.temperature = float(temperature)
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def like(
        cls,
        base: TorchPredictor,
        session: Any,
        precision: str = "float32",
    ) -> OnnxPredictor:
        """The ONNX twin of a loaded torch predictor (same name, card, spec, temperature)."""
        return cls(base.name, base.card, base.input_spec, session, base.temperature, precision)

    @property
    def runtime(self) -> str:
        """What runs the model: ``onnxruntime`` or ``numpy``."""
        return str(getattr(self.session, "runtime", "onnxruntime"))

    def logits(self, images: np.ndarray) -> np.ndarray:
        x = self.input_spec.prepare(images)
        out = [
            self.session.run(None, {self.input_name: x[i : i + self.BATCH]})[0]
            for i in range(0, len(x), self.BATCH)
        ]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 10), np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return softmax(self.logits(images), self.temperature)


def load_onnx_run(run_dir: Path, card: RunCard | dict[str, Any]) -> OnnxPredictor | None:
    """A torch run's predictor on onnxruntime, without importing torch, when the run holds a
    verified ``model.onnx`` (:func:`digitkit.inference.sessions.verified_onnx`); its int8
    graph instead when that one matches too (``digitkit export RUN --int8``: faster, see
    benchmarks/RESULTS.md; its validation accuracy recorded in the card next to float32's).
    Without onnxruntime, the NumPy runtime on the float32 weights the export pinned
    (:func:`digitkit.inference.sessions.open_session`). None when there is no verified export.
    """
    card = RunCard.of(card, run_dir / runs.CARD)
    opened = sessions.open_session(run_dir, card)
    if opened is None:
        return None
    session, precision = opened
    return OnnxPredictor(
        name=str(run_dir),
        card=card.doc,
        input_spec=card.input_spec,
        session=session,
        temperature=card.temperature,
        precision=precision,
    )


def onnx_predictor(predictor: TorchPredictor) -> OnnxPredictor | None:
    """For a run whose ``model.onnx`` predates the card's ``onnx`` record (exported before
    digitkit recorded its sha256): an :class:`OnnxPredictor` when the graph matches the loaded
    torch weights on a few inputs (a stale export is never used); None otherwise."""
    run_dir = Path(str(predictor.name))
    path = run_dir / sessions.ONNX_FILE
    if not path.is_file():
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    try:
        fast = OnnxPredictor.like(predictor, sessions.ort_session(path))
        probe = np.random.default_rng(0).random((8, 28, 28), dtype=np.float32)
        if np.abs(fast.logits(probe) - predictor.logits(probe)).max() > 1e-3:
            return None  # exported from other weights
        int8 = sessions.int8_path(run_dir, RunCard.of(predictor.card, run_dir / runs.CARD), path)
        if int8 is not None:
            fast = OnnxPredictor.like(predictor, sessions.ort_session(int8), precision="int8")
    except Exception:  # an unreadable or incompatible export: torch does the work
        return None
    return fast


def accelerate(predictor: TorchPredictor) -> TorchPredictor | OnnxPredictor:
    """The fastest equivalent of a torch run's predictor for inference: batch norms folded
    and channels-last, then onnxruntime when the run holds a matching ``model.onnx``."""
    fuse_for_inference(predictor)
    return onnx_predictor(predictor) or predictor


def load_torch_engine_run(run_dir: Path, card: RunCard | dict[str, Any]) -> Predictor:
    """A torch run for inference: on onnxruntime from its verified export when it has one
    (no torch imported), otherwise the torch module itself (needs the ``train`` extra)."""
    card = RunCard.of(card, run_dir / runs.CARD)
    fast = load_onnx_run(run_dir, card)
    if fast is not None:
        return fast
    from digitkit._extras import require

    require(
        "train",
        "torch",
        what=f"loading {run_dir} (no verified model.onnx; export it "
        f"with 'digitkit export {run_dir} --onnx')",
    )
    return accelerate(load_torch_run(run_dir, card))


def shipped_models() -> list[str]:
    """Names of the models shipped inside the package (``digitkit/weights/<name>/``)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    # Only digit models: a shipped number reader (task "number", digitkit.vision.numbers) is no
    # single-digit classifier and must not be offered as one.
    names = [
        p.parent.name
        for p in WEIGHTS_DIR.glob("*/card.json")
        if json.loads(p.read_text(encoding="utf-8")).get("task", "digit") == "digit"
    ]
    # shipped ensemble specs (number.json, the number readers' list, is not one)
    names += [p.stem for p in WEIGHTS_DIR.glob("*.json") if _is_ensemble_spec(p)]
    return sorted(set(names))


def _is_ensemble_spec(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == ENSEMBLE_FORMAT


def resolve(spec: str | Path | None) -> Path:
    """Where the model ``spec`` lives: None or a shipped name -> the package's copy,
    otherwise a run directory or an ensemble JSON file."""
    if spec is None or str(spec) == "default":
        spec = "default"
    candidate = Path(spec)
    if candidate.exists():
        return candidate
    shipped = WEIGHTS_DIR / str(spec)
    if (shipped / runs.CARD).is_file():
        return shipped
    if shipped.with_suffix(".json").is_file():
        return shipped.with_suffix(".json")
    choices = ", ".join(shipped_models()) or "none shipped"
    raise DigitkitError(
        f"no model {str(spec)!r}: not a run directory, ensemble file or shipped model ({choices})"
    )


def load_predictor(spec: str | Path | None = None) -> Predictor:
    """Load a model for inference from a run directory, an ensemble spec (JSON) or a shipped
    model name (None -> the default shipped model)."""
    path = resolve(spec)
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DigitkitError(f"{path}: not an ensemble spec (invalid JSON)") from None
        if not isinstance(doc, dict) or doc.get("format") != ENSEMBLE_FORMAT:
            raise DigitkitError(f"{path}: not an ensemble spec (format {ENSEMBLE_FORMAT})")
        return load_ensemble(path)
    card = RunCard.load(path)
    if card.engine == "torch":
        return load_torch_engine_run(path, card)
    if card.engine == "numpy":
        return load_numpy_run(path, card)
    raise DigitkitError(f"{path}: unknown engine {card.engine!r} in card.json")


def load_ensemble(path: str | Path) -> Any:
    """An ensemble spec with its members loaded for inference
    (:class:`digitkit.inference.ensemble.Ensemble`); members are loaded like any model."""
    from digitkit.inference import ensemble  # numpy only, but most predictors are single runs

    return ensemble.load_ensemble(path, load_member=load_predictor)

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

from digitkit import runs
from digitkit.data.normalize import InputSpec
from digitkit.errors import DigitkitError

WEIGHTS_DIR = Path(__file__).parent / "weights"
ENSEMBLE_FORMAT = "digitkit-ensemble/1"


class Predictor(Protocol):
    """What every loaded model offers."""

    name: str
    card: dict[str, Any]

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 in [0, 1] (or uint8) -> (N, 10) probabilities."""
        ...


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities as if their logits were divided by ``temperature``."""
    if temperature == 1.0:
        return probs
    return softmax(np.log(np.clip(probs, 1e-12, 1.0)), temperature)


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
    batch_size: int = 1024

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        x = self.input_spec.prepare(images)
        out = [self.model.predict_proba(x[i : i + self.batch_size])
               for i in range(0, len(x), self.batch_size)]
        probs = np.concatenate(out) if out else np.zeros((0, 10), np.float32)
        return apply_temperature(probs.astype(np.float32), self.temperature)


def load_torch_run(run_dir: Path, card: dict[str, Any]) -> TorchPredictor:
    import torch

    from digitkit.models import build_model

    arch = card["architecture"]
    module = build_model(arch["name"], "torch", **arch.get("args", {}))
    weights = runs.load_weights(run_dir)
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DigitkitError(f"{run_dir}: weights do not fit {arch['name']}: {first}") from None
    module.eval()
    return TorchPredictor(
        name=str(run_dir), card=card, module=module,
        input_spec=InputSpec.from_dict(card["input"]),
        temperature=float(card.get("calibration", {}).get("temperature", 1.0)),
    )


def load_numpy_run(run_dir: Path, card: dict[str, Any]) -> NumpyPredictor:
    from digitkit.scratch.runio import load_model

    return NumpyPredictor(
        name=str(run_dir), card=card, model=load_model(run_dir),
        input_spec=InputSpec.from_dict(card["input"]),
        temperature=float(card.get("calibration", {}).get("temperature", 1.0)),
    )


def shipped_models() -> list[str]:
    """Names of the models shipped inside the package (``digitkit/weights/<name>/``)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    names = [p.parent.name for p in WEIGHTS_DIR.glob("*/card.json")]
    names += [p.stem for p in WEIGHTS_DIR.glob("*.json")]  # shipped ensemble specs
    return sorted(set(names))


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
    raise DigitkitError(f"no model {str(spec)!r}: not a run directory, ensemble file or shipped "
                        f"model ({choices})")


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
        from digitkit.ensemble import load_ensemble

        return load_ensemble(path)
    card = runs.read_card(path)
    engine = card.get("engine")
    if engine == "torch":
        return load_torch_run(path, card)
    if engine == "numpy":
        return load_numpy_run(path, card)
    raise DigitkitError(f"{path}: unknown engine {engine!r} in card.json")

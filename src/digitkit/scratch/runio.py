"""Reading and writing NumPy-engine models in the standard run directory.

``model.safetensors`` holds the weights (safetensors' NumPy API, no pickle); ``card.json``
names the engine (``numpy``), the registered architecture and its arguments, and the layer
list (``scratch.layers``) so that a model built by hand with ``Sequential`` can be loaded
too. Checkpoints for resuming live in ``checkpoint/``: one safetensors file of model and
optimizer arrays per completed epoch, committed by atomically rewriting ``state.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import atomic, runs
from digitkit.card import RunCard
from digitkit.errors import DigitkitError
from digitkit.scratch.model import Sequential

STATE_JSON = "state.json"


def save_model(model: Sequential, run_dir: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write the model's weights and a card (``card`` fields override the defaults)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.save_weights(run_dir, model.state_dict())
    base = {
        "format": "digitkit-run/1",
        "engine": "numpy",
        "architecture": {"name": "custom", "args": {}},
        "num_params": model.num_params,
        "input": {"kind": "scale", "mean": 0.0, "std": 1.0, "pad": 0},
        "labels": list(range(10)),
        "recipe": {},
        "data": {},
        "status": "done",
        "metrics": {},
    }  # recipe and data: every card has them (runs.validate_card)
    merged = {**base, **(card or {})}
    merged["scratch"] = {"layers": model.config()}
    runs.write_card(run_dir, merged)
    return run_dir


def build_from_card(card: RunCard, where: str | Path = "") -> Sequential:
    """The (untrained) model a card describes: a registered architecture, else its layers."""
    from digitkit.scratch import zoo

    if card.engine != "numpy":
        raise DigitkitError(
            f"{where}: this run was trained by the {card.engine} engine, not the "
            "NumPy engine; load it with digitkit.inference.predictor.load_predictor"
        )
    name = card.model_name
    if ("numpy", name) in zoo.registry._MODELS:
        model = zoo.build(name, **card.model_args)
        saved = card.scratch_layers
        if saved is not None and saved != json.loads(json.dumps(model.config())):
            raise DigitkitError(
                f"{where}: the card's layer list differs from the registered "
                f"architecture {name!r}; it was saved by another version"
            )
        return model
    saved = card.scratch_layers
    if saved is None:
        raise DigitkitError(
            f"{where}: unknown NumPy architecture {name!r} and no layer list in "
            "card.json; see 'digitkit models'"
        )
    return Sequential.from_config(saved)


def load_model(run_dir: Path) -> Sequential:
    """The trained model of a NumPy-engine run directory, ready for ``predict_proba``
    (inputs already normalized and padded, (N, 1, S, S) float32)."""
    run_dir = Path(run_dir)
    model = build_from_card(RunCard.load(run_dir), run_dir)
    try:
        model.load_state_dict(runs.load_weights(run_dir))
    except DigitkitError as exc:
        raise DigitkitError(f"{run_dir}: {exc}") from None
    return model


# -- checkpoints ------------------------------------------------------------------------------
def _json_safe(obj: Any) -> Any:
    """JSON has no inf/nan: spell them as strings (float() reads them back)."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def _json_restore(obj: Any) -> Any:
    if obj in ("inf", "-inf", "nan"):
        return float(obj)
    if isinstance(obj, dict):
        return {k: _json_restore(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_restore(v) for v in obj]
    return obj


def save_checkpoint(
    run_dir: Path, epoch: int, model: Sequential, opt_arrays: dict[str, Any], meta: dict[str, Any]
) -> None:
    """Save the state after ``epoch`` (1-based) so that training can resume exactly.

    The arrays go to a new file first; rewriting ``state.json`` (atomic) is the commit, and
    only then are older array files removed. A crash at any point leaves a consistent
    checkpoint: the new one or the previous one.
    """
    ckpt = Path(run_dir) / runs.CHECKPOINT_DIR
    name = f"state-{epoch:04d}.safetensors"
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optim/{k}": v for k, v in opt_arrays.items()})
    runs.save_weights(ckpt, arrays, name=name)
    atomic.write_json(ckpt / STATE_JSON, _json_safe({**meta, "epoch": epoch, "arrays": name}))
    for old in ckpt.glob("state-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load_checkpoint(
    run_dir: Path,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]] | None:
    """(model arrays, optimizer arrays, meta) of the last committed epoch, or None."""
    ckpt = Path(run_dir) / runs.CHECKPOINT_DIR
    path = ckpt / STATE_JSON
    if not path.is_file():
        return None
    try:
        meta = _json_restore(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise DigitkitError(f"{path}: corrupt checkpoint state ({exc})") from None
    arrays = runs.load_weights(ckpt, meta["arrays"])
    model = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
    optim = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
    return model, optim, meta

"""The run directory: what ``train`` writes and everything else reads.

Layout (see docs/architecture.md): ``model.safetensors`` (weights), ``card.json``
(architecture, engine, input spec, recipe, seed, data hashes, versions, metrics, timings,
command line),
``history.csv`` (per-epoch metrics), ``curves.png``, ``checkpoint/`` (resume state) and, after
``evaluate``, ``eval-<split>.json``, ``confusion-<split>.png``, ``errors-<split>.png`` and
``probs-<split>.npy``. Every write is atomic. This module imports no torch: both engines use it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import __version__, atomic
from digitkit.errors import DigitkitError
from digitkit.labels import label_names

WEIGHTS = "model.safetensors"
CARD = "card.json"
HISTORY = "history.csv"
CHECKPOINT_DIR = "checkpoint"


def default_run_dir(model: str, root: str | Path = "runs") -> Path:
    """``runs/<model>-<UTC timestamp>``, made unique if it exists."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{model}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(root) / f"{model}-{stamp}-{n}"
    return path


def is_run_dir(path: str | Path) -> bool:
    """True when ``path`` holds a card (a finished or in-progress run)."""
    return (Path(path) / CARD).is_file()


def require_run_dir(path: str | Path) -> Path:
    """``path`` as a Path, or a clear error when it is not a run directory."""
    path = Path(path)
    if not path.exists():
        raise DigitkitError(f"{path}: no such run directory")
    if not is_run_dir(path):
        raise DigitkitError(f"{path}: not a run directory (no {CARD}); pass a folder written by "
                            "'digitkit train'")
    return path


def versions() -> dict[str, str]:
    """Versions of the software that shaped a run (torch only if already imported)."""
    out = {"digitkit": __version__, "python": platform.python_version(), "numpy": np.__version__}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
    return out


def command_line() -> str:
    """The command line of this process, for the card."""
    return shlex.join(["digitkit", *sys.argv[1:]]) if sys.argv else ""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_card(run_dir: str | Path, card: dict[str, Any]) -> None:
    """Atomically write ``card.json``."""
    atomic.write_json(Path(run_dir) / CARD, card)


def read_card(run_dir: str | Path) -> dict[str, Any]:
    """Read ``card.json``; a clear error if missing or unreadable."""
    path = require_run_dir(run_dir) / CARD
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DigitkitError(f"{path}: not valid JSON ({exc})") from None


def update_card(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the card (``metrics`` merged per split) and write it back."""
    card = read_card(run_dir)
    for key, value in fields.items():
        if key == "metrics" and isinstance(value, dict):
            metrics = card.setdefault("metrics", {})
            for split, m in value.items():
                metrics.setdefault(split, {}).update(m)
        else:
            card[key] = value
    write_card(run_dir, card)
    return card


def save_weights(run_dir: str | Path, tensors: dict[str, np.ndarray], name: str = WEIGHTS,
                 metadata: dict[str, str] | None = None) -> Path:
    """Atomically write NumPy arrays to a safetensors file in ``run_dir``."""
    from safetensors.numpy import save

    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    path = Path(run_dir) / name
    atomic.write_bytes(path, save(arrays, metadata=metadata))
    return path


def load_weights(run_dir: str | Path, name: str = WEIGHTS) -> dict[str, np.ndarray]:
    """Read a safetensors file of ``run_dir`` as NumPy arrays."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(run_dir) / name
    if not path.is_file():
        raise DigitkitError(f"{path}: weights file missing; the run did not finish saving")
    try:
        return load(path.read_bytes())
    except (SafetensorError, ValueError) as exc:
        raise DigitkitError(f"{path}: corrupt weights file ({exc})") from None


def write_history(run_dir: str | Path, rows: list[dict[str, Any]]) -> None:
    """Atomically write per-epoch metrics as CSV (columns from the first row)."""
    if not rows:
        return
    buf = io.StringIO()
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(Path(run_dir) / HISTORY, buf.getvalue())


def read_history(run_dir: str | Path) -> list[dict[str, float]]:
    """Per-epoch metrics as a list of dicts of floats."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def save_probs(run_dir: str | Path, split: str, probs: np.ndarray) -> Path:
    """Cache class probabilities (N, 10) float32 as ``probs-<split>.npy`` (no pickle)."""
    path = Path(run_dir) / f"probs-{split}.npy"
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(probs, dtype=np.float32), allow_pickle=False)
    return path


def load_probs(run_dir: str | Path, split: str) -> np.ndarray | None:
    """Cached probabilities of ``split``, or None when not cached yet."""
    path = Path(run_dir) / f"probs-{split}.npy"
    return np.load(path, allow_pickle=False) if path.is_file() else None


def write_eval(run_dir: str | Path, split: str, report: dict[str, Any]) -> Path:
    """Write ``eval-<split>.json`` atomically."""
    path = Path(run_dir) / f"eval-{split}.json"
    atomic.write_json(path, report)
    return path


def new_card(
    *, engine: str, architecture: str, arch_args: dict[str, Any] | None, input_spec: dict,
    recipe: dict[str, Any], data: dict[str, Any], seed: int, num_params: int,
    classes: int = 10,
) -> dict[str, Any]:
    """The card a trainer writes when a run starts; metrics are filled in as it goes."""
    return {
        "format": "digitkit-run/1",
        "engine": engine,
        "architecture": {"name": architecture, "args": arch_args or {}},
        "num_params": num_params,
        "input": input_spec,
        "labels": label_names(classes),
        "recipe": recipe,
        "seed": seed,
        "data": data,
        "versions": versions(),
        "command": command_line(),
        "created": now_iso(),
        "status": "running",
        "metrics": {},
    }


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (streamed): how a card pins the exact files it describes."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

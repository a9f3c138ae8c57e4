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
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import atomic
from digitkit._version import __version__
from digitkit.errors import DigitkitError
from digitkit.labels import label_names

WEIGHTS = "model.safetensors"
INT8_GRAPH = "model.int8.onnx"
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
        raise DigitkitError(
            f"{path}: not a run directory (no {CARD}); pass a folder written by 'digitkit train'"
        )
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


# The shape every card has (what readers index without checking), and the type of the
# optional fields when present. Validated on every read, so a hand-edited or truncated card is
# one clear error naming the field, never a KeyError deep inside a command or a server 500.
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "engine": str,
    "architecture": dict,
    "input": dict,
    "recipe": dict,
    "data": dict,
    "status": str,
}
OPTIONAL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "labels": list,
    "metrics": dict,
    "seed": int,
    "num_params": int,
    "best_epoch": int,
    "timings": dict,
    "task": str,
    "alphabet": str,
    "versions": dict,
    "command": str,
    "init": dict,
    "calibration": dict,
    "onnx": dict,
}


def _type_names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {"str": "a string", "dict": "an object", "list": "a list", "int": "an integer"}.get(
            k.__name__, k.__name__
        )
        for k in kinds
    )


def _check_field(path: Path, name: str, value: Any, kind: type | tuple[type, ...]) -> None:
    # bool is an int to isinstance; no card field is a boolean where an integer is meant.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise DigitkitError(
            f"{path}: field '{name}' must be {_type_names(kind)}, not {type(value).__name__}"
        )


def validate_card(card: Any, path: str | Path = CARD) -> dict[str, Any]:
    """``card`` itself when it has the shape readers rely on; else a :class:`DigitkitError`
    naming the first field that is missing or of the wrong type."""
    path = Path(path)
    if not isinstance(card, dict):
        raise DigitkitError(f"{path}: a card must be a JSON object, not {type(card).__name__}")
    for name, kind in REQUIRED_FIELDS.items():
        if name not in card:
            raise DigitkitError(f"{path}: field '{name}' is missing")
        _check_field(path, name, card[name], kind)
    for name, kind in OPTIONAL_FIELDS.items():
        if card.get(name) is not None:
            _check_field(path, name, card[name], kind)
    _check_field(path, "architecture.name", card["architecture"].get("name"), str)
    _check_field(path, "architecture.args", card["architecture"].get("args", {}), dict)
    for split, metrics in (card.get("metrics") or {}).items():
        _check_field(path, f"metrics.{split}", metrics, dict)
    for i, label in enumerate(card.get("labels") or []):
        _check_field(path, f"labels[{i}]", label, (int, str))
    return card


def read_card(run_dir: str | Path) -> dict[str, Any]:
    """Read and validate ``card.json``; a clear error if missing, unreadable or malformed."""
    path = require_run_dir(run_dir) / CARD
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DigitkitError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise DigitkitError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return validate_card(card, path)


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


def save_weights(
    run_dir: str | Path,
    tensors: dict[str, np.ndarray],
    name: str = WEIGHTS,
    metadata: dict[str, str] | None = None,
) -> Path:
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
    """Per-epoch metrics as a list of dicts of numbers: integers stay integers, so a resumed
    run writes its epochs back as ``3``, not ``3.0``."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [{k: _number(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def _number(text: str) -> float:
    return int(text) if text.lstrip("-").isdigit() else float(text)


def weights_fingerprint(run_dir: str | Path) -> str:
    """sha256 over the run's model files (``model*.safetensors``, ``model*.onnx``): what any
    result computed from the run depends on."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(run_dir).glob("model*")):
        if path.suffix in (".safetensors", ".onnx") and path.is_file():
            digest.update(f"{path.name}:{file_sha256(path)};".encode())
    return digest.hexdigest()


def images_fingerprint(images: np.ndarray) -> str:
    """sha256 of an image array's shape, type and bytes."""
    import hashlib

    array = np.ascontiguousarray(images)
    digest = hashlib.sha256(f"{array.shape}{array.dtype}".encode())
    # numpy types ndarray as a buffer for Python 3.12+ only; it is one on 3.11 too.
    digest.update(memoryview(array).cast("B"))  # type: ignore[arg-type]
    return digest.hexdigest()


def _probs_paths(run_dir: str | Path, split: str) -> tuple[Path, Path]:
    folder = Path(run_dir)
    return folder / f"probs-{split}.npy", folder / f"probs-{split}.json"


def save_probs(
    run_dir: str | Path, split: str, probs: np.ndarray, images: np.ndarray | None = None
) -> Path:
    """Cache class probabilities (N, classes) float32 as ``probs-<split>.npy`` (no pickle),
    with ``probs-<split>.json`` saying which weights (and, when given, which images) they
    were computed from, so :func:`load_probs` never serves them for anything else."""
    path, key_path = _probs_paths(run_dir, split)
    # The key goes first and comes back last: a crash in between leaves no key, so the
    # probabilities are recomputed rather than trusted.
    key_path.unlink(missing_ok=True)
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(probs, dtype=np.float32), allow_pickle=False)
    atomic.write_json(
        key_path,
        {
            "weights": weights_fingerprint(run_dir),
            "n": int(len(probs)),
            "images": images_fingerprint(images) if images is not None else None,
        },
    )
    return path


def load_probs(
    run_dir: str | Path, split: str, images: np.ndarray | None = None
) -> np.ndarray | None:
    """Cached probabilities of ``split``, or None when there are none for the run's current
    weights (and for ``images``, when given): never stale."""
    path, key_path = _probs_paths(run_dir, split)
    if not path.is_file() or not key_path.is_file():
        return None
    try:
        key = json.loads(key_path.read_text(encoding="utf-8"))
        probs = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # unreadable or half-written: recompute
    if (
        not isinstance(key, dict)
        or key.get("weights") != weights_fingerprint(run_dir)
        or key.get("n") != len(probs)
    ):
        return None
    if images is not None:
        if len(images) != len(probs):
            return None
        if key.get("images") is not None and key["images"] != images_fingerprint(images):
            return None
    return probs


def write_eval(run_dir: str | Path, split: str, report: dict[str, Any]) -> Path:
    """Write ``eval-<split>.json`` atomically."""
    path = Path(run_dir) / f"eval-{split}.json"
    atomic.write_json(path, report)
    return path


def new_card(
    *,
    engine: str,
    architecture: str,
    arch_args: dict[str, Any] | None,
    input_spec: dict,
    recipe: dict[str, Any],
    data: dict[str, Any],
    seed: int,
    num_params: int,
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


def record_onnx(
    run_dir: str | Path,
    path: str | Path,
    max_abs_diff: float | None = None,
    opset: int | None = None,
) -> dict | None:
    """Record an exported ``model.onnx`` in its run's card (``onnx``: file, sha256, the sha256
    of the weights it was exported from, the largest logit difference to torch found by the
    export's check, opset). Loading trusts the graph through these hashes instead of
    comparing it with torch again. A file written elsewhere than ``run_dir/model.onnx``
    leaves the card alone (returns None)."""
    run_dir, path = Path(run_dir), Path(path)
    if path.resolve() != (run_dir / "model.onnx").resolve():
        return None
    weights = run_dir / WEIGHTS
    record: dict = {
        "file": path.name,
        "sha256": file_sha256(path),
        "weights_sha256": file_sha256(weights) if weights.is_file() else None,
    }
    if max_abs_diff is not None:
        record["max_abs_diff"] = float(f"{max_abs_diff:.3g}")
    if opset is not None:
        record["opset"] = int(opset)
    update_card(run_dir, onnx=record)
    return record


def recorded_int8(
    run_dir: str | Path, card: dict[str, Any], source_sha256: str | None = None
) -> Path | None:
    """The run's int8 graph when the card's ``int8`` record vouches for it: the file is the
    one recorded and was quantized from the float graph whose sha256 is ``source_sha256``
    (by default the one the card's ``onnx`` record names). None otherwise (no
    record, no file, a stale or edited file: never used), or when ``$DIGITKIT_INT8`` is
    ``0``. The float graph itself may be left out: a lean copy keeps only what it runs."""
    record, onnx = card.get("int8"), card.get("onnx")
    if os.environ.get("DIGITKIT_INT8", "1") == "0" or not isinstance(record, dict):
        return None
    path = Path(run_dir) / str(record.get("file", ""))
    if not path.is_file():
        return None
    if source_sha256 is None and isinstance(onnx, dict):
        source_sha256 = onnx.get("sha256")
    if source_sha256 != record.get("source_sha256") or file_sha256(path) != record.get("sha256"):
        return None
    return path

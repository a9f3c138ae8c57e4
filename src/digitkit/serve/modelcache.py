"""Which models the server offers, and a cache of loaded models that notices new weights.

A run directory is offered only once its card says ``"status": "done"``: a run still
training (``"running"``) or one that failed holds weights that are half-written, or not the
ones its card describes. The shipped models are always offered.

Loaded models are cached under a fingerprint of their files (name, size and mtime of the
weights, card, ONNX exports and, for an ensemble spec, its members'). Checking it costs a few
``stat`` calls per request, so retraining into the same run directory or replacing a shipped
file takes effect on the next request instead of after a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("digitkit.serve")

DONE = "done"
RUN_FOLDERS = ("runs", "trained")  # where available_models() finds run directories
# The files whose change means "different model": weights, card (calibration), exports.
MODEL_FILES = ("model.safetensors", "card.json", "model.onnx", "model.int8.onnx")

MEMBER_CACHE_SIZE = 64
Fingerprint = tuple[tuple[str, int, int], ...]


def run_status(run_dir: Path) -> str | None:
    """The ``status`` of a run directory's card, or None when it has no readable card."""
    try:
        card = json.loads((run_dir / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card.get("status") if isinstance(card, dict) else None


def is_offered(name: str) -> bool:
    """True for a shipped model and for a finished run (``runs/<x>`` whose card is done)."""
    folder, _, rest = name.partition("/")
    if folder not in RUN_FOLDERS or not rest:
        return True  # a shipped model: part of the installed package
    return run_status(Path(name)) == DONE


def offered_models(lister: Callable[[], list[str]]) -> list[str]:
    """The names of ``lister()`` a client may choose: see :func:`is_offered`."""
    return [name for name in lister() if is_offered(name)]


def _stat_entry(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns)


def _model_path(spec: str | None) -> Path | None:
    from digitkit.errors import DigitkitError
    from digitkit.inference.predictor import resolve

    try:
        return resolve(spec)
    except DigitkitError:  # not a model the filesystem knows (e.g. a test double)
        return None


_members_by_stat: dict[tuple[str, int, int], list[str]] = {}


def _ensemble_members(spec_file: Path, stat: tuple[str, int, int]) -> list[str]:
    """The member names of an ensemble spec, parsed once per version of the file (the
    fingerprint is taken on every request; stat is cheap, JSON parsing less so)."""
    if stat not in _members_by_stat:
        if len(_members_by_stat) > MEMBER_CACHE_SIZE:  # old versions of edited specs
            _members_by_stat.clear()
        _members_by_stat[stat] = _read_members(spec_file)
    return _members_by_stat[stat]


def _read_members(spec_file: Path) -> list[str]:
    """The spec's members and its drawn route's model (``drawn``), as written."""
    try:
        doc = json.loads(spec_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(doc, dict):
        return []
    members = doc.get("members")
    parts = list(members) if isinstance(members, list) else []
    return [m for m in [*parts, doc.get("drawn")] if isinstance(m, str)]


def fingerprint(spec: str | None, _depth: int = 0) -> Fingerprint | None:
    """Size and mtime of the files that make up model ``spec`` (None when it has no files
    to watch). A run directory: its :data:`MODEL_FILES`; an ensemble spec: the spec file and
    each member's fingerprint, and its drawn route's (a spec whose members are followed one
    level further)."""
    path = _model_path(spec)
    if path is None:
        return None
    if path.is_dir():
        entries = [_stat_entry(path / name) for name in MODEL_FILES]
        return tuple(e for e in entries if e is not None)
    own = _stat_entry(path)
    if own is None:
        return None
    entries = [own]
    if _depth <= 1:  # a spec, the spec of its drawn route, their runs: no deeper nesting
        for member in _ensemble_members(path, own):
            # Members are relative to the spec (as digitkit.inference.ensemble resolves them).
            beside = path.parent / member
            entries += fingerprint(str(beside) if beside.exists() else member, _depth + 1) or ()
    return tuple(entries)


class ModelCache:
    """Loaded models by label, reloaded when their fingerprint changes.

    ``get`` runs in the inference pool's threads: the fast path (fingerprint unchanged) takes
    no lock; a load holds the lock so two requests never load the same model twice, and the
    old model keeps answering the requests already running on it.
    """

    def __init__(
        self,
        loader: Callable[[str | None], Any],
        fingerprinter: Callable[[str | None], Fingerprint | None] = fingerprint,
        on_load: Callable[[str, float], None] | None = None,
    ) -> None:
        self.loader, self.fingerprinter, self.on_load = loader, fingerprinter, on_load
        self._entries: dict[str, tuple[Fingerprint | None, Any]] = {}
        self._lock = threading.Lock()

    def __contains__(self, label: str) -> bool:
        return label in self._entries

    def get(self, label: str, spec: str | None) -> Any:
        """The model ``label`` (loaded from ``spec``), loading it again if its files changed."""
        current = self.fingerprinter(spec)
        entry = self._entries.get(label)
        if entry is not None and entry[0] == current:
            return entry[1]
        with self._lock:
            entry = self._entries.get(label)
            if entry is not None and entry[0] == current:
                return entry[1]
            if entry is not None:
                log.info("model %s changed on disk: reloading", label)
            started = time.perf_counter()
            model = self.loader(spec)
            if self.on_load is not None:
                self.on_load(label, time.perf_counter() - started)
            self._entries[label] = (current, model)
            return model

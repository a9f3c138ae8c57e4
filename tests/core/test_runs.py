"""Atomic writes and run directories (cards, weights, history, probabilities)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitkit import atomic, runs
from digitkit.errors import DigitkitError
from tests.fakes import minimal_card


def test_atomic_write_leaves_old_file_on_crash(tmp_path):
    target = tmp_path / "card.json"
    atomic.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_atomic_files_get_the_usual_mode(tmp_path):
    import os
    import stat

    atomic.write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask


def test_run_directory_round_trip(tmp_path):
    card = minimal_card()
    runs.write_card(tmp_path, card)
    runs.save_weights(tmp_path, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    runs.write_history(tmp_path, [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.75}])
    runs.save_probs(tmp_path, "val", np.eye(10)[:3])
    runs.update_card(tmp_path, metrics={"val": {"accuracy": 0.75}})
    assert runs.read_card(tmp_path)["metrics"] == {"val": {"accuracy": 0.75}}
    assert runs.load_weights(tmp_path)["w"].shape == (2, 3)
    history = runs.read_history(tmp_path)
    assert history[1] == {"epoch": 2, "val_acc": 0.75}
    runs.write_history(tmp_path, history)  # as a resumed run does: epochs stay integers
    assert (tmp_path / runs.HISTORY).read_text().splitlines()[1:] == ["1,0.5", "2,0.75"]
    assert runs.load_probs(tmp_path, "val").shape == (3, 10)
    assert runs.load_probs(tmp_path, "test") is None


def test_not_a_run_directory(tmp_path):
    with pytest.raises(DigitkitError, match="not a run directory"):
        runs.read_card(tmp_path)
    with pytest.raises(DigitkitError, match="no such run directory"):
        runs.read_card(tmp_path / "missing")
    (tmp_path / "card.json").write_text("{oops")
    with pytest.raises(DigitkitError, match="not valid JSON"):
        runs.read_card(tmp_path)
    with pytest.raises(DigitkitError, match="weights file missing"):
        runs.load_weights(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(DigitkitError, match="corrupt weights"):
        runs.load_weights(tmp_path)

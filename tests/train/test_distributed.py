"""DDP through torchrun with 2 CPU processes (gloo) on a small subset: it matches the
single-process run closely, only rank 0 writes, and a batch the world size does not divide
is a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HELPER = Path(__file__).with_name("ddp_train.py")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=400)


def _torchrun(nproc: int, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        str(HELPER),
        *args,
    ]


def _card(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("CARD ")]
    assert lines, proc.stdout[-2000:]
    return json.loads(lines[0][5:])


@pytest.fixture
def env(mnist_dir):
    return {**os.environ, "DIGITKIT_DATA": str(mnist_dir), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, mnist_dir):
    """One 2-process run of 2 epochs: (its folder, the cards every rank returned)."""
    env = {**os.environ, "DIGITKIT_DATA": str(mnist_dir), "OMP_NUM_THREADS": "1"}
    out = tmp_path_factory.mktemp("ddp") / "run"
    proc = _run(_torchrun(2, str(out)), env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, [json.loads(ln[5:]) for ln in proc.stdout.splitlines() if ln.startswith("CARD ")]


def test_two_cpu_processes_match_one(tmp_path, env, ddp_run):
    single = _card(_run([sys.executable, str(HELPER), str(tmp_path / "single")], env))
    run, cards = ddp_run
    assert len(cards) == 2 and cards[0] == cards[1]  # every rank returns rank 0's card
    ddp = cards[0]
    assert ddp["distributed"] == {"world_size": 2, "backend": "gloo"}
    # Same images per step and averaged gradients; only batch-norm statistics are per rank.
    for split in ("val", "test"):
        assert abs(ddp["metrics"][split]["accuracy"] - single["metrics"][split]["accuracy"]) < 0.03
    assert ddp["metrics"]["val"]["accuracy"] > 0.75
    assert ddp["metrics"]["train"]["loss"] == pytest.approx(
        single["metrics"]["train"]["loss"], rel=0.15
    )
    for name in ("card.json", "model.safetensors", "history.csv", "probs-val.npy"):
        assert (run / name).is_file(), name
    leftovers = [p.name for p in run.rglob("*.tmp")]
    assert not leftovers


def test_world_size_not_dividing_the_batch_is_a_clear_error(tmp_path, env):
    proc = _run(_torchrun(2, str(tmp_path / "bad"), "batch_size=65"), env)
    assert proc.returncode != 0
    assert "batch size 65 does not divide by the world size 2" in proc.stderr + proc.stdout
    assert not (tmp_path / "bad").exists()


def test_resumed_ddp_run_ends_where_the_uninterrupted_one_does(tmp_path, env, ddp_run):
    out = tmp_path / "resumed"
    _card(_run(_torchrun(2, str(out), "epochs=1"), env))
    resumed = _card(_run(_torchrun(2, str(out), "--resume"), env))
    straight = ddp_run[1][0]
    for split in ("val", "test"):
        assert resumed["metrics"][split]["loss"] == pytest.approx(
            straight["metrics"][split]["loss"], rel=1e-5
        )

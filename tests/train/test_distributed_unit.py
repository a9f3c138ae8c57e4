"""The torchrun/DDP helpers that need no process group."""

from __future__ import annotations

import numpy as np
import pytest

from digitkit.errors import DigitkitError
from digitkit.train import distributed


def test_single_process_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup(128)
    assert not ctx.enabled and ctx.is_main and ctx.world_size == 1
    idx = np.arange(10)
    assert ctx.shard(idx).tolist() == idx.tolist()
    assert ctx.all_sum(1.0, 2.0) == [1.0, 2.0]


def test_world_size_must_divide_the_batch(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(
        DigitkitError,
        match=r"batch size 128 does not divide by the world "
        r"size 3.*batch_size=126 or 129",
    ):
        distributed.setup(128)


def test_shards_partition_the_global_batch():
    idx = np.arange(100, 164)
    parts = [distributed.DistContext(r, 4, r, "gloo").shard(idx) for r in range(4)]
    assert sorted(np.concatenate(parts).tolist()) == idx.tolist()
    assert {len(p) for p in parts} == {16}


def test_bad_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(DigitkitError, match="set by torchrun"):
        distributed.setup(128)

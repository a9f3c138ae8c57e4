"""Distributed data-parallel training through PyTorch's own engine (torchrun + DDP).

``digitkit train`` runs unchanged under ``torchrun --nproc_per_node=N``: torchrun sets
``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` and :func:`setup` joins the process group (NCCL on GPU,
gloo on CPU). Every rank draws the same seeded permutation and the same augmentation each
epoch and keeps its own slice of every global batch (``rank::world_size``), so the images of
each optimizer step are exactly those of a single-process run with the same recipe, and DDP
averages the gradients. The recipe's ``batch_size`` stays the global batch; it must divide
by the world size. Batch-norm statistics are computed per rank (as plain DDP does), the only
intended difference from a single-process run. Rank 0 alone writes the run directory; every
rank evaluates the same validation images with identical weights, so schedules and early
stopping agree without communication. Resuming reads the checkpoint rank 0 wrote.
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from digitkit.errors import DigitkitError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        """True when running under torchrun with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files or prints."""
        return self.rank == 0

    def device(self, requested: str | None = None) -> torch.device:
        """This rank's device: its own GPU under NCCL, else ``requested`` or the default."""
        if self.backend == "nccl":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return torch.device(requested or ("cuda" if torch.cuda.is_available() else "cpu"))

    def shard(self, global_idx: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch of indices."""
        return global_idx[self.rank :: self.world_size] if self.enabled else global_idx

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model wrapped in DistributedDataParallel (unchanged when single-process)."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(model, device_ids=ids)

    def all_sum(self, *values: float) -> list[float]:
        """Sum numbers over ranks (for logging: loss and accuracy of the global batch)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        if self.backend == "nccl":
            t = t.cuda()
        torch.distributed.all_reduce(t)
        return t.cpu().tolist()

    def _tensor(self, t: torch.Tensor) -> torch.Tensor:
        return t.cuda() if self.backend == "nccl" else t

    def broadcast_floats(self, *values: float) -> list[float]:
        """Rank 0's numbers on every rank, so that every rank takes the same decisions
        (plateau, early stopping, time limit) even where local values differ slightly."""
        if not self.enabled:
            return list(values)
        t = self._tensor(torch.tensor(values, dtype=torch.float64))
        torch.distributed.broadcast(t, 0)
        return t.cpu().tolist()

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Copy rank 0's buffers (BN running statistics) to every rank before evaluating."""
        if self.enabled:
            for buf in unwrap(model).buffers():
                torch.distributed.broadcast(buf.data, 0)

    def broadcast_json(self, obj: Any) -> Any:
        """Rank 0's JSON-serializable ``obj`` on every rank (as UTF-8 bytes; no pickle)."""
        if not self.enabled:
            return obj
        data = json.dumps(obj).encode("utf-8") if self.is_main else b""
        size = self._tensor(torch.tensor([len(data)], dtype=torch.int64))
        torch.distributed.broadcast(size, 0)
        buf = torch.zeros(int(size.item()), dtype=torch.uint8)
        if self.is_main:
            buf = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        buf = self._tensor(buf)
        torch.distributed.broadcast(buf, 0)
        return json.loads(bytes(buf.cpu().tolist()).decode("utf-8"))

    def barrier(self) -> None:
        """Wait for every rank (no-op when single-process)."""
        if self.enabled:
            torch.distributed.barrier()


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DDP wrapper (for EMA, state dicts and evaluation)."""
    return getattr(model, "module", model)


def env_world() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) without it."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise DigitkitError(
            "WORLD_SIZE/RANK/LOCAL_RANK must be integers (set by torchrun)"
        ) from None
    return rank, world, local


def setup(batch_size: int, backend: str | None = None) -> DistContext:
    """Join the torchrun process group when there is one; check the batch divides.

    Returns a single-process context when ``WORLD_SIZE`` is unset or 1.
    """
    rank, world, local = env_world()
    if world <= 1:
        return DistContext()
    if batch_size % world:
        raise DigitkitError(
            f"batch size {batch_size} does not divide by the world size {world} "
            f"(torchrun --nproc_per_node x nodes); use batch_size={batch_size - batch_size % world}"
            f" or {batch_size + world - batch_size % world}, or a world size dividing {batch_size}"
        )
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    return DistContext(rank, world, local, backend)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (after the last collective call).

    Call it once the DDP wrapper is gone: its reducer holds the gloo group, and a group
    that outlives ``destroy_process_group`` is torn down during interpreter shutdown,
    where gloo's worker threads abort the process (SIGABRT, "terminate called without an
    active exception"; about one CI run in ten before this). The barrier keeps a rank from
    closing its connections while another still uses them.
    """
    if ctx.enabled and torch.distributed.is_initialized():
        gc.collect()  # the DDP reducer sits in reference cycles; free it and its group ref
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def describe(ctx: DistContext) -> dict[str, Any]:
    """What a model card records about the distribution of a run."""
    return {"world_size": ctx.world_size, "backend": ctx.backend or "none"}

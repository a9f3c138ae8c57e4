"""CUDA-graph capture of whole training steps (``TrainOptions.graphs``, ``gpu_zoo.py --graphs``).

At the small batches of the An et al. and Keras-zoo recipes (64-120 images) a GPU step is bound
by kernel launches, not by arithmetic: a step costs the same with four times the images
(benchmarks/GPU.md). Captured once as a CUDA graph, a step of hundreds of kernels (batch
indexing, augmentation, forward, backward, optimizer) is replayed with one launch.

What a captured step needs, and who provides it:

- fixed inputs: the step reads its batch through a fixed index tensor the caller fills before
  each call (``DeviceBatches.batch_of``), and the training set stays where it is;
- fixed shapes: full batches only (a last, shorter batch runs the same step eagerly);
- an optimizer that can be captured: Adam or AdamW with ``capturable=True`` and its learning
  rate in a device tensor the schedule fills (:func:`make_capturable`, :func:`set_lr`);
- random draws from generators the graph knows: the default CUDA generator (registered by
  torch) and the augmentation's own (passed to :class:`StepGraph`); reseeding them between
  replays (each epoch) takes effect, as it does eagerly;
- no host reads inside the step (no ``.item()``, no data-dependent Python branches).

On a CPU, or with graphs off, :class:`StepGraph` simply runs the step: one code path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch

# Optimizers whose torch implementation can be captured with a learning rate held in a tensor.
CAPTURABLE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)
# Eager steps before the capture (on a side stream, as torch requires): they let cuDNN pick its
# kernels and the optimizer create its state, so none of that happens while capturing.
WARMUP_CALLS = 3
# One capture at a time in a process: models trained in threads (gpu_zoo.py's small CNNs)
# each capture their own step, and a capture begins by synchronizing the device and emptying
# the allocator's cache, which must not happen inside another thread's capture.
_CAPTURE_LOCK = threading.Lock()


def why_not_graphs(
    device: torch.device, optimizer: torch.optim.Optimizer, reasons: dict[str, bool]
) -> str:
    """Why a run cannot capture its steps ("" when it can). ``reasons`` maps a
    description of a run property that rules graphs out to whether it holds."""
    if device.type != "cuda":
        return "CUDA graphs need a CUDA device"
    if not isinstance(optimizer, CAPTURABLE_OPTIMIZERS):
        return f"{type(optimizer).__name__} is not captured (Adam and AdamW are)"
    return next((why for why, holds in reasons.items() if holds), "")


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Switch an Adam/AdamW optimizer to its capturable form, in place: the learning rate in
    a device tensor (so a schedule can change it between replays) and the step counters on
    the device. Works before the first step and after a resumed state was loaded."""
    for group in optimizer.param_groups:
        group["capturable"] = True
        if not torch.is_tensor(group["lr"]):
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
    for state in optimizer.state.values():
        if "step" in state:
            state["step"] = state["step"].to(device=device, dtype=torch.float32)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate; a tensor one (captured) is filled in place."""
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def portable_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's state dict in its ordinary form (float learning rate, not capturable,
    step counters on the CPU), so a checkpoint written by a captured run resumes anywhere."""
    state = optimizer.state_dict()
    for group in state["param_groups"]:
        if torch.is_tensor(group["lr"]):
            group["lr"] = float(group["lr"])
        if group.get("capturable"):
            group["capturable"] = False
    state["state"] = {
        key: {k: v.cpu() if k == "step" else v for k, v in s.items()}
        for key, s in state["state"].items()
    }
    return state


class StepGraph:
    """A training step run eagerly for its first :data:`WARMUP_CALLS` calls, then captured
    as a CUDA graph and replayed on every later call. ``step`` takes no arguments: it reads
    its inputs from tensors the caller fills in place and writes its results in place.

    With ``enabled`` false (a CPU, or graphs off) every call runs ``step`` itself."""

    def __init__(
        self,
        step: Callable[[], None],
        generators: Sequence[torch.Generator] = (),
        enabled: bool = True,
    ) -> None:
        self.step, self.generators, self.enabled = step, list(generators), enabled
        self.graph: torch.cuda.CUDAGraph | None = None
        self.calls = 0

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self) -> None:
        if self.graph is not None:
            self.graph.replay()
            return
        if not self.enabled:
            self.step()
            return
        self.calls += 1
        if self.calls <= WARMUP_CALLS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.step()
            torch.cuda.current_stream().wait_stream(side)
            return
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        # thread_local: models trained in threads of one process go on with their own
        # (uncaptured) work while one of them captures.
        with _CAPTURE_LOCK, torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.step()
        self.graph = graph
        graph.replay()  # capturing records the step without running it

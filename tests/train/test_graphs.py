"""CUDA-graph training steps (digitkit.train.graphs): what a CPU can check. The capture itself
needs a GPU; benchmarks/gpu_lease.sh checks it in a process of its own before relying on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from digitkit.data.augment import PRESETS
from digitkit.data.normalize import InputSpec
from digitkit.train import augment_torch, graphs
from digitkit.train.batches import DeviceBatches
from digitkit.train.distributed import DistContext

CPU = torch.device("cpu")


def _adam_after_steps(steps: int = 2) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(8, 4)).square().mean().backward()
        optimizer.step()
    return model, optimizer


def test_reseeding_in_place_draws_what_a_fresh_epoch_generator_draws():
    used = augment_torch.epoch_generator(3, 0, CPU)
    torch.rand(100, generator=used)  # a spent epoch-0 stream
    augment_torch.seed_for_epoch(used, 3, 7)
    fresh = augment_torch.epoch_generator(3, 7, CPU)
    assert torch.equal(torch.rand(50, generator=used), torch.rand(50, generator=fresh))
    other_epoch = augment_torch.epoch_generator(3, 8, CPU)
    assert not torch.equal(torch.rand(50, generator=fresh), torch.rand(50, generator=other_epoch))


def test_device_batches_keep_one_generator_and_batch_of_matches_batch():
    """A captured step holds on to the generator object and reads indices from a fixed
    tensor: both must give what the eager path gives."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 40)
    spec = InputSpec(kind="symmetric")

    def pipeline() -> DeviceBatches:
        b = DeviceBatches(spec, PRESETS["simplecnn"], 5, DistContext(), CPU)
        b.load(images, labels)
        return b

    a, b = pipeline(), pipeline()
    generator = a.generator
    order = rng.permutation(40)
    a.start_epoch(2, order)
    b.start_epoch(2, order)
    assert a.generator is generator
    idx = torch.zeros(16, dtype=torch.long)
    idx.copy_(b.order[8:24])
    xa, ya = a.batch(8, 24)
    xb, yb = b.batch_of(idx)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(ya, torch.from_numpy(labels[order[8:24]]))


def test_set_lr_fills_a_tensor_learning_rate_in_place():
    _, optimizer = _adam_after_steps(0)
    graphs.set_lr(optimizer, 0.5)
    assert optimizer.param_groups[0]["lr"] == 0.5
    graphs.make_capturable(optimizer, CPU)
    lr = optimizer.param_groups[0]["lr"]
    assert torch.is_tensor(lr) and optimizer.param_groups[0]["capturable"]
    graphs.set_lr(optimizer, 0.25)
    assert optimizer.param_groups[0]["lr"] is lr and float(lr) == 0.25


def test_a_capturable_optimizer_checkpoints_as_an_ordinary_one():
    """A checkpoint of a captured run resumes on any machine: its optimizer state loads into
    a plain Adam on the CPU and steps exactly as the original would."""
    model, optimizer = _adam_after_steps(2)
    reference = {k: v.clone() for k, v in optimizer.state_dict()["state"][0].items()}
    graphs.make_capturable(optimizer, CPU)
    assert optimizer.state[model.weight]["step"].dtype == torch.float32
    state = graphs.portable_state(optimizer)
    group = state["param_groups"][0]
    assert isinstance(group["lr"], float) and not group["capturable"]
    assert group["lr"] == pytest.approx(1e-2, rel=1e-6)  # it was a float32 tensor
    plain = torch.optim.Adam(model.parameters(), lr=1.0)
    plain.load_state_dict(state)
    assert plain.param_groups[0]["lr"] == group["lr"]
    for key, value in plain.state_dict()["state"][0].items():
        assert torch.equal(value, reference[key]), key
    model(torch.randn(8, 4)).square().mean().backward()
    plain.step()  # would raise if a capturable flag or a device step counter survived


def test_why_not_graphs_names_the_first_reason():
    _, adam = _adam_after_steps(0)
    sgd = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    cuda = torch.device("cuda")
    assert "CUDA device" in graphs.why_not_graphs(CPU, adam, {})
    assert "SGD" in graphs.why_not_graphs(cuda, sgd, {})
    assert graphs.why_not_graphs(cuda, adam, {"a": False, "b": True, "c": True}) == "b"
    assert graphs.why_not_graphs(cuda, adam, {"a": False}) == ""


def test_a_disabled_step_graph_runs_the_step_every_call():
    calls = []
    step = graphs.StepGraph(lambda: calls.append(1), enabled=False)
    for _ in range(graphs.WARMUP_CALLS + 3):
        step()
    assert len(calls) == graphs.WARMUP_CALLS + 3 and not step.captured

"""Train the model zoo on a lent GPU within a fixed wall-clock budget.

Run: ``OUT=gpu-out .venv/bin/python benchmarks/gpu_zoo.py [--budget 540] [--device cuda]
[--models simplecnn-m3,...] [--compile] [--graphs on|off] [--seed N] [--concurrent auto|on|off]``
(see benchmarks/GPU.md).

1. Measures every model's training throughput (images/s) with the trainer's own pipeline
   (device-resident data, torch augmentation, bf16 autocast, channels-last, EMA, optimizer) for
   a few hundred steps, and its evaluation throughput; prints them with the projected time of
   every full recipe.
2. Plans: the An et al. simple CNNs get their full 150-epoch recipe if it fits, the Keras-zoo
   models as many epochs as fit in equal shares of what is left (re-planned before each run,
   so time one run leaves unused goes to the next); otherwise everyone shares equally. Small
   models train together in threads of one process (one CUDA stream each) when measuring
   shows that fills the GPU better than one after another.
3. Trains each run with ``digitkit.train.loop.train`` into ``$OUT/runs/<model>-s<seed>``, the
   normal run directory (``digitkit evaluate`` / ``ensemble`` use them on any CPU later), with
   an epoch cap and a deadline checked between epochs: a run stops cleanly, finished and
   loadable, and its card's ``stop_reason`` says "N of M epochs".
4. Writes ``$OUT/summary.json`` after every step (a killed process still leaves it).

The whole script never exceeds ``--budget`` seconds: measuring takes at most a quarter of it,
a model whose single step would not fit is not measured, a run whose epoch and evaluation
would not fit is not started. On a CPU (a dry run) it trains on small subsets by default.
"""

from __future__ import annotations

import time

# The budget counts from here, before the heavy imports (torch takes seconds to load);
# hence the imports below this line.
# ruff: noqa: E402
PROCESS_START = time.monotonic()

import argparse
import contextlib
import dataclasses
import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from digitkit import atomic, runs
from digitkit.data import Splits, load_splits
from digitkit.data.normalize import fit_input_spec
from digitkit.errors import DigitkitError
from digitkit.models import build_model, count_params, get_spec
from digitkit.train import graphs
from digitkit.train.distributed import DistContext
from digitkit.train.loop import TrainOptions, WeightEMA, batch_pipeline, make_optimizer, train
from digitkit.train.recipes import Recipe, get_recipe

SIMPLE_CNNS = ("simplecnn-m3", "simplecnn-m5", "simplecnn-m7")
KERAS_ZOO = ("mobilenet", "vgg16", "resnet164", "wrn-28-10")
DEFAULT_BUDGET_S = 540.0  # 9 minutes of a 15-minute lease: room to copy $OUT back or rerun
PROBE_STEPS = 300  # timed training steps per model ("a few hundred")
WARMUP_STEPS = {"cuda": 15, "cpu": 1}  # cuDNN autotuning / allocator warm-up before timing
MEASURE_SHARE = 0.25  # measuring may use at most this share of the budget
# Kept back from the budget for the summary, process exit and clock slack.
RESERVE_FRACTION, RESERVE_MIN_S = 0.03, 3.0
# Per epoch beyond the training steps: writing the checkpoint and the history (seconds; the
# H200 lease of 2026-12-04 measured 0.1-0.2 s with CUDA graphs, 0.5 was its first guess).
EPOCH_OVERHEAD_S = {"cuda": 0.25, "cpu": 0.2}
# Finishing a run beyond its evaluation: loading the best weights, curves, card (seconds).
FINISH_OVERHEAD_S = 2.0
# Concurrent training must beat one-after-another by this factor to be chosen.
CONCURRENCY_GAIN = 1.15
# A CPU dry run trains on small subsets so that a minute shows every stage.
CPU_SUBSETS = {"n_train": 120, "n_val": 100, "n_test": 100}
# A run given its full recipe gets its projected time plus this margin before its deadline.
FULL_RECIPE_MARGIN = 1.1


@dataclass(frozen=True)
class ZooOptions:
    """How every run of the script trains (not what it learns)."""

    compile: bool = False  # torch.compile each model
    graphs: bool = False  # capture each training step as a CUDA graph (digitkit.train.graphs)
    seed: int = 0  # the runs' recipe seed (and the run directories' -s<seed>)


@dataclass
class Probe:
    """One model's measured throughput and what it implies for its recipe."""

    name: str
    recipe: str
    recipe_epochs: int
    batch_size: int
    params: int
    train_img_s: float = 0.0
    eval_img_s: float = 0.0
    warmup_s: float = 0.0
    steps_timed: int = 0
    concurrent_img_s: float = 0.0  # when measured together with the other small models
    graphs: bool = False  # its steps were measured (and are trained) as CUDA graphs
    skipped: str = ""  # why it was not measured

    def epoch_s(self, sizes: dict[str, int], device: str, concurrent: bool = False) -> float:
        """Projected seconds per epoch: training steps, validation, checkpoint."""
        rate = self.concurrent_img_s if concurrent and self.concurrent_img_s else self.train_img_s
        return sizes["n_train"] / rate + sizes["n_val"] / self.eval_img_s + EPOCH_OVERHEAD_S[device]

    def finish_s(self, sizes: dict[str, int]) -> float:
        """Projected seconds to finish a run: val and test evaluation, files."""
        return (
            (sizes["n_val"] + sizes["n_test"]) / self.eval_img_s + FINISH_OVERHEAD_S + self.warmup_s
        )

    def full_s(self, sizes: dict[str, int], device: str, concurrent: bool = False) -> float:
        """Projected seconds of the whole recipe."""
        return self.recipe_epochs * self.epoch_s(sizes, device, concurrent) + self.finish_s(sizes)


@dataclass
class Summary:
    """What the script measured, planned and trained; written to $OUT/summary.json."""

    device: str
    budget_s: float
    sizes: dict[str, int]
    options: dict[str, Any]
    started: str = field(default_factory=runs.now_iso)
    probes: list[dict[str, Any]] = field(default_factory=list)
    concurrent: bool = False
    plan: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    status: str = "running"


class Clock:
    """The budget: seconds left, and deadlines as time.monotonic() values."""

    def __init__(self, budget_s: float):
        self.start = PROCESS_START
        reserve = max(RESERVE_MIN_S, RESERVE_FRACTION * budget_s)
        self.end = self.start + budget_s - reserve

    def left(self) -> float:
        return self.end - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def log(message: str) -> None:
    print(message, flush=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _stream(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """A CUDA stream of its own, so that models trained in threads overlap on the GPU."""
    return (
        torch.cuda.stream(torch.cuda.Stream(device))
        if device.type == "cuda"
        else contextlib.nullcontext()
    )


def _predicted_step_s(model: torch.nn.Module, size: int, batch: int, device: torch.device) -> float:
    """A cheap guess of one training step: a forward pass of 8 images (after one warm-up),
    scaled to the batch and by 3 (backward costs about twice the forward). Pessimistic (small
    batches run less efficiently); guards the budget against models whose single step would
    not fit at all (a deep net on a CPU)."""
    images = 8
    x = torch.zeros(images, 1, size, size, device=device)
    times = []
    with torch.inference_mode():
        model.eval()(x)  # first call allocates and picks kernels
        _sync(device)
        t0 = time.perf_counter()
        model(x)
        _sync(device)
        times.append(time.perf_counter() - t0)
    model.train()
    return 3 * min(times) * batch / images


def zoo_recipe(name: str) -> Recipe:
    """The model's own recipe, with batches augmented on the training device: what 'auto'
    picks on a GPU, forced so that a CPU dry run goes through the same pipeline."""
    return dataclasses.replace(get_recipe(get_spec(name).recipe), augment_device="torch")


def device_batches(
    name: str, splits: Splits, device: torch.device, seed: int = 0
) -> tuple[Any, Any]:
    """The model's input spec and the trainer's batch pipeline for its recipe, holding the
    training digits on ``device``, at the start of a seeded epoch."""
    spec = get_spec(name)
    recipe = zoo_recipe(name)
    input_spec = fit_input_spec(
        splits.x_train[:1000].astype(np.float32) / 255.0,
        spec.normalization or recipe.normalization,
        pad=spec.input_pad,
    )
    batches = batch_pipeline(recipe, device)(
        input_spec, recipe.augment_config(), seed, DistContext(), device
    )
    batches.load(splits.x_train, splits.y_train)
    batches.start_epoch(0, np.random.default_rng(seed).permutation(len(splits.x_train)))
    return input_spec, batches


@functools.cache
def uses_bf16(device_type: str) -> bool:
    """Whether training steps autocast to bf16 there (asked once, not every step)."""
    return device_type == "cuda" and torch.cuda.is_bf16_supported()


def train_step(
    net: torch.nn.Module,
    xb: torch.Tensor,
    yb: torch.Tensor,
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> None:
    """One optimizer step as the trainer takes it: bf16 autocast on CUDA (without the weight
    cache, which a graph capture must not keep), channels-last."""
    with torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=uses_bf16(device.type), cache_enabled=False
    ):
        loss = loss_fn(net(xb.contiguous(memory_format=torch.channels_last)).float(), yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def measure(
    name: str,
    splits: Splits,
    device: torch.device,
    clock: Clock,
    cap_s: float,
    opts: ZooOptions,
    barrier: threading.Barrier | None = None,
) -> Probe:
    """Training images/s of ``name`` with its recipe through the trainer's own pieces (batch
    pipeline, optimizer, EMA, autocast, channels-last, CUDA graphs when asked and possible),
    and evaluation images/s."""
    spec = get_spec(name)
    recipe = zoo_recipe(name)
    torch.manual_seed(opts.seed)
    model = build_model(name).to(device).to(memory_format=torch.channels_last)
    probe = Probe(name, recipe.name, recipe.epochs, recipe.batch_size, count_params(model))
    size = 28 + 2 * spec.input_pad
    if barrier is None and cap_s <= 0:
        probe.skipped = "the time for measuring was used up"
        return probe
    guess = _predicted_step_s(model, size, recipe.batch_size, device)
    if barrier is None and guess * WARMUP_STEPS[device.type] > clock.left():
        probe.skipped = f"one training step takes about {guess:.1f}s; not measurable in budget"
        return probe
    input_spec, batches = device_batches(name, splits, device, opts.seed)
    n = len(splits.x_train)
    optimizer = make_optimizer(recipe, model.parameters())
    ema = WeightEMA(model, recipe.ema) if recipe.ema > 0 else None
    net = torch.compile(model) if opts.compile else model
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    batch = min(recipe.batch_size, n)
    # The trainer's step through a fixed index tensor, so a CUDA graph can capture it whole.
    batch_idx = torch.zeros(batch, dtype=torch.long, device=device)
    use_graphs = opts.graphs and not graphs.why_not_graphs(
        device, optimizer, {"the model is compiled": opts.compile}
    )
    if use_graphs:
        graphs.make_capturable(optimizer, device)
    probe.graphs = use_graphs
    one_step = graphs.StepGraph(
        lambda: train_step(net, *batches.batch_of(batch_idx), loss_fn, optimizer, device),
        [batches.generator],
        enabled=use_graphs,
    )

    def step(i: int) -> None:
        lo = (i * batch) % max(1, n - batch + 1)
        batch_idx.copy_(batches.order[lo : lo + batch])
        one_step()
        if ema is not None:
            ema.update(model)

    t0 = time.perf_counter()
    # Graphs: the capture itself happens after the graph's own eager warm-up calls.
    warmup = WARMUP_STEPS[device.type] + (graphs.WARMUP_CALLS + 1 if use_graphs else 0)
    for i in range(warmup):
        step(i)
    _sync(device)
    warmup_s = time.perf_counter() - t0
    probe.warmup_s = warmup_s if opts.compile else 0.0
    if barrier is not None:  # concurrent measurement: every model times the same stretch
        barrier.wait()
    elif 2 * warmup_s >= cap_s:  # no time for timed steps: the warm-up is a (pessimistic) rate
        probe.train_img_s = warmup * batch / warmup_s
        probe.eval_img_s = _eval_rate(model, splits, input_spec, device)
        return probe
    t0 = time.perf_counter()
    steps = 0
    while steps < PROBE_STEPS and (steps == 0 or warmup_s + time.perf_counter() - t0 < cap_s):
        step(steps)
        steps += 1
    _sync(device)
    rate = steps * batch / (time.perf_counter() - t0)
    probe.steps_timed = steps
    if barrier is not None:
        probe.concurrent_img_s = rate
        return probe
    probe.train_img_s = rate
    probe.eval_img_s = _eval_rate(model, splits, input_spec, device)
    return probe


def measure_or_fall_back(
    name: str, splits: Splits, device: torch.device, clock: Clock, cap_s: float, opts: ZooOptions
) -> Probe:
    """:func:`measure`; a model whose step fails to capture as a CUDA graph is measured
    (and later trained) without graphs instead of failing the script."""
    try:
        return measure(name, splits, device, clock, cap_s, opts)
    except Exception as error:
        if not opts.graphs:
            raise
        log(f"{name}: CUDA graphs failed ({error!r}); measuring it without")
        return measure(name, splits, device, clock, cap_s, dataclasses.replace(opts, graphs=False))


def _eval_rate(
    model: torch.nn.Module, splits: Splits, input_spec: Any, device: torch.device
) -> float:
    """Evaluation images/s (the trainer's _evaluate: fp32, batches of up to 2,000)."""
    n = min(len(splits.x_val), 2000 if device.type == "cuda" else 50)
    x = torch.from_numpy(input_spec.prepare(splits.x_val[:n])).to(device)
    model.eval()
    with torch.inference_mode():
        # Warm up on the timed shape itself: with cudnn.benchmark a new shape is autotuned on
        # its first call (a warm-up on 8 images made MobileNet's 2,000 read 969 images/s).
        model(x)
        _sync(device)
        t0 = time.perf_counter()
        model(x)
        _sync(device)
    return n / (time.perf_counter() - t0)


def measure_concurrently(
    names: list[str],
    splits: Splits,
    device: torch.device,
    clock: Clock,
    cap_s: float,
    opts: ZooOptions,
) -> dict[str, float]:
    """Each model's training images/s while all of them train at once, in threads."""
    barrier = threading.Barrier(len(names))

    def one(name: str) -> Probe:
        try:
            with _stream(device):
                return measure(name, splits, device, clock, cap_s, opts, barrier)
        except BaseException:
            barrier.abort()  # the others would wait for this one forever
            raise

    with ThreadPoolExecutor(len(names)) as pool:
        probes = list(pool.map(one, names))
    return {p.name: p.concurrent_img_s for p in probes}


def print_probes(probes: list[Probe], sizes: dict[str, int], device: str) -> None:
    log(
        f"\n{'model':14} {'params':>11} {'train img/s':>12} {'eval img/s':>11} "
        f"{'s/epoch':>8} {'full recipe':>18}"
    )
    for p in probes:
        if p.skipped:
            log(f"{p.name:14} {p.params:>11,} {'-':>12} {'-':>11} {'-':>8} {p.skipped}")
            continue
        full = p.full_s(sizes, device)
        log(
            f"{p.name:14} {p.params:>11,} {p.train_img_s:>12,.0f} {p.eval_img_s:>11,.0f} "
            f"{p.epoch_s(sizes, device):>8.1f} {p.recipe_epochs:>4} ep {full / 60:>8.1f} min"
        )
        if p.concurrent_img_s:
            log(f"{'':14} {'concurrent':>11} {p.concurrent_img_s:>12,.0f}")
        if p.graphs:
            log(f"{'':14} (steps captured as CUDA graphs)")


def epochs_that_fit(
    probe: Probe, seconds: float, sizes: dict[str, int], device: str, concurrent: bool = False
) -> int:
    """How many epochs of ``probe`` (and its finishing evaluation) fit in ``seconds``."""
    room = seconds - probe.finish_s(sizes)
    fit = math.floor(room / probe.epoch_s(sizes, device, concurrent)) if room > 0 else 0
    return max(0, min(probe.recipe_epochs, fit))


def min_cost_s(slot: list[Probe], sizes: dict[str, int], device: str, concurrent: bool) -> float:
    """Seconds a slot needs for one epoch of each model and the evaluation."""
    return max(p.epoch_s(sizes, device, concurrent) + p.finish_s(sizes) for p in slot)


def affordable(
    slots: list[list[Probe]], seconds: float, sizes: dict[str, int], device: str, concurrent: bool
) -> list[list[Probe]]:
    """The slots that can share ``seconds`` equally with each doing at least one epoch: the
    most expensive ones are left out until the rest fit (so a short budget trains the cheap
    models rather than nothing)."""

    def cost(slot: list[Probe]) -> float:
        return min_cost_s(slot, sizes, device, concurrent and len(slot) > 1)

    chosen = sorted(slots, key=cost)
    while chosen and seconds / len(chosen) < cost(chosen[-1]):
        chosen.pop()
    return chosen


def plan_slots(
    probes: list[Probe], concurrent: bool, sizes: dict[str, int], device: str, seconds: float
) -> tuple[list[list[Probe]], bool]:
    """Groups of models trained together (one group after another), and whether the simple
    CNNs get their full recipe. The simple CNNs form one group when trained concurrently."""
    ready = [p for p in probes if not p.skipped]
    simple = [p for p in ready if p.name in SIMPLE_CNNS]
    others = [p for p in ready if p.name not in SIMPLE_CNNS]
    simple_slots = [simple] if concurrent and len(simple) > 1 else [[p] for p in simple]
    simple_full = sum(
        max(p.full_s(sizes, device, concurrent) for p in slot)
        if concurrent
        else sum(p.full_s(sizes, device) for p in slot)
        for slot in simple_slots
    )
    fits = bool(simple) and simple_full <= seconds
    return simple_slots + [[p] for p in others], fits


def train_slot(
    slot: list[Probe],
    splits: Splits,
    out: Path,
    device: torch.device,
    clock: Clock,
    seconds: float,
    full: bool,
    concurrent: bool,
    sizes: dict[str, int],
    opts: ZooOptions,
) -> list[dict[str, Any]]:
    """Train the models of one slot (together when concurrent) within ``seconds``."""
    started = time.monotonic()
    jobs = []
    for probe in slot:
        epochs = (
            probe.recipe_epochs
            if full
            else epochs_that_fit(probe, seconds, sizes, device.type, concurrent)
        )
        if epochs < 1:
            jobs.append((probe, 0, 0.0))
            continue
        deadline = min(started + seconds, clock.end) - probe.finish_s(sizes)
        jobs.append((probe, epochs, deadline))

    def run(job: tuple[Probe, int, float]) -> dict[str, Any]:
        probe, epochs, deadline = job
        if epochs < 1:
            return {
                "model": probe.name,
                "skipped": f"one epoch and the evaluation need "
                f"{probe.epoch_s(sizes, device.type) + probe.finish_s(sizes):.0f}s, "
                f"{seconds:.0f}s were left for it",
                "epochs": f"0 of {probe.recipe_epochs}",
            }
        try:
            with _stream(device):
                return train_one(probe, epochs, deadline, splits, out, device, opts)
        except Exception as error:  # one failed run must not lose the lease's other runs
            log(f"  {probe.name}: failed: {error!r}")
            return {
                "model": probe.name,
                "epochs": f"0 of {probe.recipe_epochs}",
                "skipped": f"failed: {error!r}",
            }

    live = [j for j in jobs if j[1] >= 1]
    log(
        f"\n[{clock.elapsed():.0f}s] training "
        + ", ".join(f"{p.name} ({e} of {p.recipe_epochs} epochs)" for p, e, _ in live)
        + (" together" if len(live) > 1 else "")
        + f" within {seconds:.0f}s"
    )
    if len(live) > 1:
        with ThreadPoolExecutor(len(jobs)) as pool:
            return list(pool.map(run, jobs))
    return [run(j) for j in jobs]


def train_one(
    probe: Probe,
    epochs: int,
    deadline: float,
    splits: Splits,
    out: Path,
    device: torch.device,
    opts: ZooOptions,
) -> dict[str, Any]:
    """One run with the model's own recipe, capped at ``epochs`` and ``deadline``."""
    recipe = dataclasses.replace(zoo_recipe(probe.name), seed=opts.seed)
    run_dir = out / "runs" / f"{probe.name}-s{opts.seed}"
    options = TrainOptions(
        progress=False,
        device=device.type,
        compile=opts.compile,
        graphs=opts.graphs and probe.graphs,
        deadline=deadline,
        max_epochs=epochs,
        log=lambda msg: log(f"  {probe.name}: {msg}"),
    )
    t0 = time.monotonic()
    card = train(probe.name, recipe, splits, run_dir, options=options)
    ran = card["epochs_run"]
    return {
        "model": probe.name,
        "run": str(run_dir),
        "seed": opts.seed,
        "recipe": recipe.name,
        "epochs": f"{ran} of {recipe.epochs}",
        "epochs_planned": epochs,
        "stop_reason": card["stop_reason"],
        "best_epoch": card["best_epoch"],
        "val_acc": card["metrics"].get("val", {}).get("accuracy"),
        "test_acc": card["metrics"].get("test", {}).get("accuracy"),
        "train_time_s": card["train_time_s"],
        "wall_s": round(time.monotonic() - t0, 1),
        "pipeline": card.get("pipeline"),
    }


def write_summary(out: Path, summary: Summary, clock: Clock) -> None:
    summary.elapsed_s = round(clock.elapsed(), 1)
    atomic.write_json(out / "summary.json", asdict(summary))


def load_data(device: torch.device, args: argparse.Namespace) -> tuple[Splits, dict[str, int]]:
    """MNIST with the zoo's validation split; subsets on a CPU dry run (or when asked)."""
    splits = load_splits("mnist", n_val=5000, split_seed=0, download=False)
    defaults = CPU_SUBSETS if device.type == "cpu" else {}
    n_train = args.n_train or defaults.get("n_train")
    n_val = args.n_val or defaults.get("n_val")
    n_test = args.n_test or defaults.get("n_test")
    if n_train or n_val:
        splits = splits.subset(n_train=n_train, n_val=n_val)
    if n_test:
        splits.x_test, splits.y_test = splits.x_test[:n_test], splits.y_test[:n_test]
    sizes = {
        "n_train": len(splits.x_train),
        "n_val": len(splits.x_val),
        "n_test": len(splits.x_test),
    }
    return splits, sizes


def model_list(text: str) -> list[str]:
    """``--models``: comma-separated zoo names; a typo is a usage error before anything runs."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    for name in names:
        try:
            get_spec(name)
        except DigitkitError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    if not names:
        raise argparse.ArgumentTypeError("no model named")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="wall-clock seconds for everything (default 540)",
    )
    parser.add_argument("--models", type=model_list, default=",".join(SIMPLE_CNNS + KERAS_ZOO))
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu-out")
    parser.add_argument("--compile", action="store_true", help="torch.compile every model")
    parser.add_argument(
        "--graphs",
        choices=("on", "off"),
        default="off",
        help="capture each training step as a CUDA graph where the recipe allows (Adam, AdamW)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the recipe seed of every run")
    parser.add_argument(
        "--concurrent",
        choices=("auto", "on", "off"),
        default="auto",
        help="train the small models together (auto: when it measures faster)",
    )
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-val", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Summary:
    args = parse_args(argv)
    clock = Clock(args.budget)
    device = torch.device(args.device)
    names = args.models
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits, sizes = load_data(device, args)
    opts = ZooOptions(compile=args.compile, graphs=args.graphs == "on", seed=args.seed)
    summary = Summary(args.device, args.budget, sizes, asdict(opts))
    log(f"device {device}, budget {args.budget:.0f}s, data {sizes}, out {out}")

    # 1. measure (at most MEASURE_SHARE of the budget)
    measure_end = time.monotonic() + MEASURE_SHARE * args.budget
    probes = []
    for i, name in enumerate(names):
        cap = (measure_end - time.monotonic()) / (len(names) - i)
        probes.append(measure_or_fall_back(name, splits, device, clock, cap, opts))
    small = [p.name for p in probes if p.name in SIMPLE_CNNS and not p.skipped]
    concurrent = len(small) > 1 and (
        args.concurrent == "on" or (args.concurrent == "auto" and device.type == "cuda")
    )
    rates: dict[str, float] = {}
    if concurrent:
        cap = max(1.0, (measure_end - time.monotonic()) / 2)
        # Models whose steps were captured are measured together with graphs too (captures
        # take turns: digitkit.train.graphs); the rest eagerly.
        together = dataclasses.replace(
            opts, graphs=opts.graphs and all(p.graphs for p in probes if p.name in small)
        )
        try:
            rates = measure_concurrently(small, splits, device, clock, cap, together)
        except Exception as error:  # training one after another still works
            log(f"measuring {', '.join(small)} together failed ({error!r}); one after another")
            concurrent = False
    if concurrent:
        for p in probes:
            p.concurrent_img_s = rates.get(p.name, 0.0)
        one_by_one = sum(p.full_s(sizes, device.type) for p in probes if p.name in small)
        together = max(p.full_s(sizes, device.type, True) for p in probes if p.name in small)
        concurrent = args.concurrent == "on" or together * CONCURRENCY_GAIN < one_by_one
    print_probes(probes, sizes, device.type)
    summary.probes = [
        asdict(p) | {"full_recipe_s": None if p.skipped else round(p.full_s(sizes, device.type), 1)}
        for p in probes
    ]
    summary.concurrent = concurrent
    write_summary(out, summary, clock)

    # 2. plan and 3. train, re-planning equal shares of what is left before each slot
    slots, simple_full = plan_slots(probes, concurrent, sizes, device.type, clock.left())
    log(
        f"\n[{clock.elapsed():.0f}s] {clock.left():.0f}s left; simple CNNs "
        f"{'get their full recipe' if simple_full else 'share the budget with the zoo'}"
        f"{', trained together' if concurrent else ''}"
    )
    for i, slot in enumerate(slots):
        full = simple_full and slot[0].name in SIMPLE_CNNS
        is_concurrent = concurrent and len(slot) > 1
        if full:
            projected = (
                max(p.full_s(sizes, device.type, is_concurrent) for p in slot)
                if is_concurrent
                else slot[0].full_s(sizes, device.type)
            )
            seconds = min(clock.left(), FULL_RECIPE_MARGIN * projected)
        else:
            later_full = [s for s in slots[i + 1 :] if simple_full and s[0].name in SIMPLE_CNNS]
            shared = affordable(
                [s for s in slots[i:] if s not in later_full],
                clock.left(),
                sizes,
                device.type,
                concurrent,
            )
            if slot not in shared:
                summary.runs += [
                    {
                        "model": p.name,
                        "epochs": f"0 of {p.recipe_epochs}",
                        "skipped": f"not even one epoch fits in an equal share of "
                        f"the {clock.left():.0f}s left",
                    }
                    for p in slot
                ]
                continue
            seconds = clock.left() / len(shared)
        summary.plan.append(
            ", ".join(p.name for p in slot)
            + f": {seconds:.0f}s"
            + (" (full recipe)" if full else "")
        )
        summary.runs += train_slot(
            slot, splits, out, device, clock, seconds, full, is_concurrent, sizes, opts
        )
        write_summary(out, summary, clock)
    for p in probes:
        if p.skipped:
            summary.runs.append(
                {"model": p.name, "skipped": p.skipped, "epochs": f"0 of {p.recipe_epochs}"}
            )

    summary.status = "done"
    write_summary(out, summary, clock)
    log(f"\n[{clock.elapsed():.0f}s of {args.budget:.0f}s]")
    for r in summary.runs:
        result = (
            f"val {100 * r['val_acc']:.2f}% test {100 * r['test_acc']:.2f}%"
            if r.get("val_acc") is not None
            else r.get("skipped", "")
        )
        log(f"{r['model']:14} {r['epochs']:>12} epochs  {result}")
    log(f"summary: {out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()

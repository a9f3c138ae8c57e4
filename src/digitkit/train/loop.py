"""The torch engine: what it supplies to the trainer protocol (:mod:`digitkit.train.protocol`).

``train`` builds the model from the registry, keeps the whole dataset in memory as arrays,
runs the recipe epoch by epoch (batched augmentation, per-step learning rate, optional EMA of
the weights), validates after each epoch, keeps the best weights on validation, checkpoints
every epoch so ``resume`` continues exactly, and writes the run directory.

Determinism: every epoch draws its shuffling, augmentation and dropout randomness from
generators seeded by ``(seed, epoch)``, so a run resumed from the checkpoint of epoch k
continues exactly as the uninterrupted run would (on CPU).

Two batch pipelines, chosen by the recipe's ``augment_device`` (see :func:`batch_pipeline`),
live in :mod:`digitkit.train.batches` and are still importable from here: ``numpy`` augments
on the CPU and copies each batch to the device; ``torch`` keeps the whole training set on the
device as uint8 and indexes, augments and normalizes batches there.

Why one module over 400 lines: it is one job, the torch engine's run (optimizer factory, weight
EMA, warm start, checkpoints and the run object ``_TorchRun`` that ties them together epoch by
epoch); its parts share the run's state, and splitting them further would scatter one run.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from digitkit import atomic, runs
from digitkit.card import RunCard
from digitkit.data import Splits
from digitkit.data.normalize import InputSpec, fit_input_spec
from digitkit.errors import DigitkitError
from digitkit.models import build_model, count_params, get_spec
from digitkit.progress import progress_bar
from digitkit.train import distributed, graphs, protocol
from digitkit.train.batches import DeviceBatches as DeviceBatches
from digitkit.train.batches import HostBatches as HostBatches
from digitkit.train.batches import batch_pipeline as batch_pipeline
from digitkit.train.callbacks import EarlyStopping
from digitkit.train.recipes import Recipe
from digitkit.train.schedules import LRSchedule

CHECKPOINT = "state.pt"
# On an accelerator every host read of the loss waits for the device: read the running sums
# (for the progress bar and the finite-loss check) every this many steps only.
ACCELERATOR_SYNC_STEPS = 25
# The progress bar's refresh interval in steps where reading the loss is free (CPU).
CPU_SYNC_STEPS = 10
# A deadline stops training when the next epoch, estimated as this multiple of the last
# one, would end after it.
DEADLINE_EPOCH_MARGIN = 1.15


@dataclass
class TrainOptions:
    """How to run (not what to learn): these never change the result of a run."""

    progress: bool = True
    device: str | None = None  # None: cuda if available, else cpu
    report_test_each_epoch: bool = False  # reporting only; selection never looks at test
    log: Callable[[str], None] | None = print
    eval_batch_size: int = 2000
    compile: bool = False  # torch.compile the model for training (opt-in: compiling takes time)
    deadline: float | None = None  # time.monotonic() by which training must stop (see train)
    max_epochs: int | None = None  # stop after this many epochs (a budgeted share of a recipe)
    # Capture each training step as a CUDA graph (digitkit.train.graphs): the same recipe, but
    # as with compile the numbers differ slightly, and the replayed graph draws its random
    # augmentation from other offsets of the same seeded stream than an eager run does.
    graphs: bool = False
    # Where the data source redraws its images every epoch: draw this many of the next
    # epochs in other processes while one trains (the same images; digitkit.data.prefetch).
    # One keeps two cores busy; a GPU's trainer outruns one drawing core. 0: draw in place.
    draw_ahead: int = 1


def make_optimizer(recipe: Recipe, params: Any) -> torch.optim.Optimizer:
    """The optimizer a recipe names (its lr is overwritten every step by the schedule)."""
    r = recipe
    kind = r.optimizer
    if r.adam_bias_correction != "step":
        raise DigitkitError(
            f"recipe {r.name}: adam_bias_correction={r.adam_bias_correction} "
            "exists in the NumPy engine only (--engine numpy)"
        )
    if kind == "sgd":
        return torch.optim.SGD(params, lr=r.lr, weight_decay=r.weight_decay)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params,
            lr=r.lr,
            momentum=r.momentum,
            nesterov=kind == "nesterov",
            weight_decay=r.weight_decay,
        )
    if kind == "adam":
        return torch.optim.Adam(
            params, lr=r.lr, betas=(r.momentum, r.beta2), eps=r.eps, weight_decay=r.weight_decay
        )
    if kind == "adamw":
        return torch.optim.AdamW(
            params, lr=r.lr, betas=(r.momentum, r.beta2), eps=r.eps, weight_decay=r.weight_decay
        )
    if kind == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=r.lr, alpha=r.rho, eps=r.eps, weight_decay=r.weight_decay
        )
    if kind == "adadelta":
        return torch.optim.Adadelta(params, lr=r.lr, weight_decay=r.weight_decay)
    raise DigitkitError(f"unknown optimizer {kind!r}")


class WeightEMA:
    """Exponential moving average of a model's parameters and buffers, with the warm-up of
    An et al. (decay min(d, (1 + n) / (10 + n))) so early averages are not dominated by the
    random initialization."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_state = self.model.state_dict()
        averaged, sources = [], []
        for name, value in model.state_dict().items():
            target = ema_state[name]
            if value.dtype.is_floating_point:
                averaged.append(target)
                sources.append(value)
            else:
                target.copy_(value)
        # One fused call instead of a kernel launch per tensor (hundreds for the deep zoo
        # models): on a GPU the per-step EMA is otherwise bound by launch overhead.
        if averaged:
            torch._foreach_lerp_(averaged, sources, 1 - d)


def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device
) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy, accuracy and probabilities of ``model`` on prepared inputs."""
    model.eval()
    losses, probs = [], []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = x[i : i + batch].to(device, non_blocking=True)
            logits = model(xb).float()
            losses.append(
                nn.functional.cross_entropy(
                    logits, y[i : i + batch].to(device), reduction="sum"
                ).item()
            )
            probs.append(torch.softmax(logits, 1).cpu().numpy())
    p = np.concatenate(probs)
    acc = float((p.argmax(1) == y.numpy()).mean())
    return sum(losses) / len(x), acc, p


def _state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic.atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise DigitkitError(
            f"{path}: unreadable checkpoint ({exc.__class__.__name__}); "
            "start a new run instead of resuming"
        ) from None


def _output_size(model: nn.Module) -> int:
    """The number of classes: the last linear layer's outputs."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else 10


def _warm_start(model: nn.Module, run_dir: Path, card: RunCard, name: str) -> None:
    """Load ``run_dir``'s weights into ``model``; tensors whose first dimension differs (an
    output layer with another number of classes) keep their common leading rows, and the new
    rows keep their random initialization, scaled down so the new class starts unlikely."""
    if card.engine != "torch" or card.model_name != name:
        raise DigitkitError(
            f"--init {run_dir}: a torch run of {name} is needed, not "
            f"{card.engine} {card.model_name}"
        )
    source = runs.load_weights(run_dir)
    state = model.state_dict()
    for key, target in state.items():
        if key not in source:
            raise DigitkitError(f"--init {run_dir}: its weights have no {key}")
        value = torch.from_numpy(source[key].copy())
        if value.numel() == target.numel():  # safetensors keeps scalars as shape (1,)
            value = value.reshape(target.shape)
        if value.shape == target.shape:
            state[key] = value
        elif value.ndim == target.ndim and value.shape[1:] == target.shape[1:]:
            rows = min(len(value), len(target))
            merged = target.clone() * 0.1
            merged[:rows] = value[:rows]
            state[key] = merged
        else:
            raise DigitkitError(
                f"--init {run_dir}: {key} has shape {tuple(value.shape)}, the "
                f"model needs {tuple(target.shape)}"
            )
    model.load_state_dict(state)


def _teacher(run_dir: Path, card: RunCard, device: torch.device) -> nn.Module:
    """The ``--init`` run as a frozen model in eval mode: what ``recipe.distill`` keeps the
    fine-tuned model close to."""
    teacher = build_model(card.model_name, "torch", **card.model_args)
    _warm_start(teacher, run_dir, card, card.model_name)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.to(device).eval()


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(teacher || student) over the teacher's classes, at ``temperature``, on the images
    the teacher reads right: what it knew is kept, its mistakes (the new styles the
    fine-tuning is for) and the new "not a digit" class are left to the labels. (Distilling
    every digit kept the MNIST model's misreadings of pen digits: benchmarks/RESULTS.md.)
    Scaled by temperature squared, so its gradients keep their size whatever the
    temperature (Hinton et al. 2015). 0 for a batch without such images."""
    k = teacher.shape[1]
    keep = (labels < k) & (teacher.argmax(dim=1) == labels)
    if not bool(keep.any()):
        return student.new_zeros(())
    t = F.log_softmax(teacher[keep] / temperature, dim=1)
    s = F.log_softmax(student[keep, :k] / temperature, dim=1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2


def _channels_last(model: nn.Module) -> bool:
    # Convolutional models run faster channels-last on CPU (oneDNN) and on tensor cores.
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _past_deadline(opts: TrainOptions, epoch_seconds: float) -> bool:
    """Whether another epoch like the last one would end after ``opts.deadline``."""
    return (
        opts.deadline is not None
        and time.monotonic() + DEADLINE_EPOCH_MARGIN * epoch_seconds > opts.deadline
    )


def train(
    model_name: str,
    recipe: Recipe,
    splits: Splits,
    out_dir: str | Path,
    *,
    arch_args: dict[str, Any] | None = None,
    resume: bool = False,
    options: TrainOptions | None = None,
    init: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``model_name`` with ``recipe`` on ``splits``; write the run to ``out_dir``.

    With ``resume=True``, ``out_dir`` must hold a checkpoint of the same run; training
    continues after its last completed epoch. ``init`` (a run directory of the same
    architecture) starts from that run's weights and input normalization instead of a random
    initialization (fine-tuning); an output layer of another size (10 digits -> 10 digits +
    "not a digit") keeps the rows both have. Returns the final model card.

    The epochs follow :func:`digitkit.train.protocol.run_epochs`; this engine supplies one
    epoch of training and evaluation (:meth:`_TorchRun.train_one_epoch`) and its state
    (:meth:`_TorchRun.save_state`, :meth:`_TorchRun.load_state`).
    """
    opts = options or TrainOptions()
    run = _TorchRun(model_name, recipe, splits, Path(out_dir), arch_args, opts, init, resume)
    run.start()
    run.setup_graph()
    with progress_bar(opts.progress and run.dist.is_main) as bar:
        stop_reason = protocol.run_epochs(
            run.start_epoch,
            recipe.epochs,
            lambda epoch: run.train_one_epoch(epoch, bar),
            run.end_epoch,
        )
    return run.finish(stop_reason)


class _TorchRun:
    """The state of one torch run (data pipeline, model, optimizer, schedule, EMA, early
    stopping, history and the best epoch so far), with the steps of an epoch as methods."""

    def __init__(
        self,
        model_name: str,
        recipe: Recipe,
        splits: Splits,
        out: Path,
        arch_args: dict[str, Any] | None,
        opts: TrainOptions,
        init: str | Path | None,
        resume: bool,
    ) -> None:
        self.model_name, self.recipe, self.splits, self.out = model_name, recipe, splits, out
        self.arch_args, self.opts, self.init, self.resume = arch_args, opts, init, resume
        self.spec = get_spec(model_name, "torch")
        recipe.validate()
        # Under torchrun: join the process group; rank 0 alone logs and writes (see distributed).
        self.dist = distributed.setup(recipe.batch_size)
        self.log = (opts.log if self.dist.is_main else None) or (lambda _msg: None)
        self.device = self.dist.device(opts.device)
        if "OMP_NUM_THREADS" not in os.environ:  # respect an explicit thread budget
            torch.set_num_threads(os.cpu_count() or 1)
        self.ckpt_path = out / runs.CHECKPOINT_DIR / CHECKPOINT
        self._setup_data()
        self._setup_model()
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] = protocol.no_best()
        self.start_epoch, self.train_seconds = 0, 0.0
        self.card: dict[str, Any] = {}

    def _setup_data(self) -> None:
        """The training set in the batch pipeline (host or device memory; inputs are
        prepared per batch after augmentation) and the prepared validation inputs."""
        recipe, splits, device = self.recipe, self.splits, self.device
        kind = self.spec.normalization or recipe.normalization
        self.init_card = RunCard.load(self.init) if self.init is not None else None
        # A fine-tuned model keeps the normalization its weights were trained with.
        self.input_spec = (
            self.init_card.input_spec
            if self.init_card
            else fit_input_spec(
                splits.x_train.astype(np.float32) / 255.0, kind, pad=self.spec.input_pad
            )
        )
        self.batches = batch_pipeline(recipe, device)(
            self.input_spec, recipe.augment_config(), recipe.seed, self.dist, device
        )
        self.batches.load(splits.x_train, splits.y_train)
        on_device = isinstance(self.batches, DeviceBatches)
        # Validation inputs are prepared once; with the device pipeline they stay there too.
        x_val = torch.from_numpy(self.input_spec.prepare(splits.x_val))
        self.x_val = x_val.to(device) if on_device else x_val
        self.y_val = torch.from_numpy(splits.y_val)
        if device.type == "cuda":  # fixed input shapes: let cuDNN pick its fastest kernels
            torch.backends.cudnn.benchmark = True

    def _setup_model(self) -> None:
        """Model, optimizer, schedule, early stopping, EMA and loss, in the order that fixes
        the random initialization (the seed, then the model)."""
        recipe, device, opts = self.recipe, self.device, self.opts
        torch.manual_seed(recipe.seed)
        model = build_model(self.model_name, "torch", **(self.arch_args or {})).to(device)
        if self.init is not None and not self.resume:
            _warm_start(model, Path(self.init), self.init_card, self.model_name)
        self.classes = int(_output_size(model))
        self.memory_format = (
            torch.channels_last if _channels_last(model) else torch.contiguous_format
        )
        self.model = model = model.to(memory_format=self.memory_format)
        self.optimizer = make_optimizer(recipe, model.parameters())
        net = self.dist.wrap(model)  # DDP averages gradients over ranks; ``model`` stays plain
        if opts.compile:  # shares ``model``'s parameters; EMA and evaluation use the plain model
            net = torch.compile(net)
        self.net = net
        self.n = len(self.splits.x_train)
        self.steps_per_epoch = math.ceil(self.n / recipe.batch_size)
        self.schedule = LRSchedule(recipe, self.steps_per_epoch)
        self.stopper = EarlyStopping(
            recipe.patience,
            recipe.min_rel_improvement,
            "max" if recipe.monitor == "val_acc" else "min",
        )
        self.ema = WeightEMA(model, recipe.ema) if recipe.ema > 0 else None
        self.eval_model = self.ema.model if self.ema is not None else model
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.teacher = None
        if recipe.distill > 0:
            if self.init is None:
                raise DigitkitError("distill needs --init RUN: the model to stay close to")
            self.teacher = _teacher(Path(self.init), self.init_card, device)
        self.use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.sync_steps = CPU_SYNC_STEPS if device.type == "cpu" else ACCELERATOR_SYNC_STEPS
        # The epoch's running sums stay on the device (reading them would wait for it every
        # step) and in place, where a captured step adds to them.
        self.loss_total = torch.zeros((), dtype=torch.float64, device=device)
        self.correct_total = torch.zeros((), dtype=torch.int64, device=device)
        self.graph: graphs.StepGraph | None = None
        self.epoch = 0
        self.pipeline = {
            "batches": self.batches.kind,
            "device": device.type,
            "bf16": self.use_bf16,
            "channels_last": self.memory_format == torch.channels_last,
            "compile": opts.compile,
            "graphs": False,
        }

    def setup_graph(self) -> None:
        """With ``opts.graphs``: capture full-batch steps as a CUDA graph where this run
        allows it (after any resumed state is loaded: the optimizer's is converted), or log
        why not and train eagerly."""
        if not self.opts.graphs:
            return
        why = graphs.why_not_graphs(
            self.device,
            self.optimizer,
            {
                "the batches are augmented on the host": not isinstance(
                    self.batches, DeviceBatches
                ),
                "the run is distributed": self.dist.enabled,
                "the model is compiled": self.opts.compile,
                "distillation reads the host every step": self.teacher is not None,
                "the data source redraws its images every epoch": self.splits.refresh is not None,
            },
        )
        if why:
            self.log(f"CUDA graphs off: {why}")
            return
        graphs.make_capturable(self.optimizer, self.device)
        batches = self.batches
        assert isinstance(batches, DeviceBatches)
        self.batch_idx = torch.zeros(self.recipe.batch_size, dtype=torch.long, device=self.device)
        self.graph = graphs.StepGraph(
            lambda: self._step(*batches.batch_of(self.batch_idx)), [batches.generator]
        )
        self.pipeline["graphs"] = True  # the card holds this very dict

    # -- state ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Restore the last checkpoint (resume) or write the run's first card."""
        out, dist = self.out, self.dist
        if self.resume:
            state = _load_checkpoint(self.ckpt_path) if self.ckpt_path.is_file() else None
            if state is None:
                raise DigitkitError(f"{out}: no checkpoint to resume from")
            protocol.resume_with_recipe(out, self.recipe.to_dict())
            self.load_state(state)
            self.card = runs.read_card(out)
            self.card["pipeline"] = self.pipeline  # how this (last) stretch of the run ran
            self.log(f"resuming {out} after epoch {self.start_epoch}")
            return
        if dist.is_main:
            protocol.check_new_run(out)
        card = runs.new_card(
            engine="torch",
            architecture=self.model_name,
            arch_args=self.arch_args,
            input_spec=self.input_spec.to_dict(),
            recipe=self.recipe.to_dict(),
            data=self.splits.source,
            seed=self.recipe.seed,
            num_params=count_params(self.model),
            classes=self.classes,
        )
        if self.init is not None:
            card["init"] = {"run": str(self.init), "architecture": self.init_card.architecture}
        if dist.enabled:
            card["distributed"] = distributed.describe(dist)
        card["pipeline"] = self.pipeline
        if dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
            runs.write_card(out, card)
        self.card = card

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`save_state`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            self.ema.model.load_state_dict(state["ema"])
            self.ema.updates = int(state["ema_updates"])
        self.schedule.load_state_dict(state["schedule"])
        self.stopper.load_state_dict(state["stopper"])
        self.history, self.best = state["history"], state["best"]
        self.start_epoch = int(state["epoch"]) + 1
        self.train_seconds = float(state["train_seconds"])

    def save_state(self, epoch: int) -> None:
        """Checkpoint everything a resume after ``epoch`` (0-based) needs (tensors only)."""
        ema = self.ema
        _save_checkpoint(
            self.ckpt_path,
            {
                "model": self.model.state_dict(),
                "optimizer": graphs.portable_state(self.optimizer),
                "ema": ema.model.state_dict() if ema is not None else {},
                "ema_updates": ema.updates if ema is not None else 0,
                "schedule": self.schedule.state_dict(),
                "stopper": self.stopper.state_dict(),
                "history": self.history,
                "best": self.best,
                "epoch": epoch,
                "train_seconds": self.train_seconds,
            },
        )

    def _epochs_to_draw_ahead(self, epoch: int) -> range:
        """The planned epochs after ``epoch`` (the recipe's, within any epoch limit) to be
        drawn while it trains, ``opts.draw_ahead`` of them at most; early stopping may
        still end the run before them."""
        last = self.recipe.epochs
        if self.opts.max_epochs is not None:
            last = min(last, self.opts.max_epochs)  # counted from the run's first epoch
        return range(epoch + 1, min(epoch + 1 + max(self.opts.draw_ahead, 0), last))

    # -- one epoch ------------------------------------------------------------------------------
    def train_one_epoch(self, epoch: int, bar: Any) -> dict[str, float]:
        """Train ``epoch`` (0-based), validate, and return its history row."""
        recipe, splits, dist = self.recipe, self.splits, self.dist
        t0 = time.perf_counter()
        if splits.refresh is not None:  # new drawings every epoch (same count)
            x_new, y_new = splits.refresh(epoch)
            if len(x_new) != self.n:
                raise DigitkitError(
                    f"the data source gave {len(x_new)} training images in "
                    f"epoch {epoch + 1}, not {self.n}"
                )
            self.batches.load(x_new, y_new)
            if splits.draw_ahead is not None:
                for ahead in self._epochs_to_draw_ahead(epoch):
                    splits.draw_ahead(ahead)
        self.model.train()
        self.batches.start_epoch(
            epoch, np.random.default_rng([recipe.seed, epoch]).permutation(self.n)
        )
        torch.manual_seed(recipe.seed * 100_003 + epoch)  # dropout masks
        task = bar.add_task(
            f"epoch {epoch + 1}/{recipe.epochs}", total=self.steps_per_epoch, stats=""
        )
        loss_sum, correct, seen, lr = self._train_steps(epoch, bar, task, t0)
        epoch_train_s = time.perf_counter() - t0
        loss_sum, correct, seen = dist.all_sum(loss_sum, correct, seen)
        dist.sync_buffers(self.model)
        val_loss, val_acc = self.evaluate()
        epoch_s = time.perf_counter() - t0
        # Rank 0's view decides, so schedules and stopping never diverge across ranks.
        val_loss, val_acc, epoch_s = dist.broadcast_floats(val_loss, val_acc, epoch_s)
        self.train_seconds += epoch_s
        bar.remove_task(task)
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "seconds": epoch_s,
            "train_seconds": epoch_train_s,
            "elapsed": self.train_seconds,
        }
        if self.opts.report_test_each_epoch and splits.x_test is not None:
            x_test = torch.from_numpy(self.input_spec.prepare(splits.x_test))
            _, row["test_acc"], _ = _evaluate(
                self.eval_model,
                x_test,
                torch.from_numpy(splits.y_test),
                self.opts.eval_batch_size,
                self.device,
            )
        val_text = (
            f"val {100 * val_acc:.2f}% (val loss {val_loss:.4f})"
            if len(self.y_val)
            else "no val split"
        )
        self.log(
            f"epoch {epoch + 1}/{recipe.epochs}: loss {row['train_loss']:.4f} "
            f"train {100 * row['train_acc']:.2f}% {val_text} {epoch_s:.1f}s"
        )
        return row

    def _train_steps(
        self, epoch: int, bar: Any, task: Any, t0: float
    ) -> tuple[float, int, int, float]:
        """The optimizer steps of ``epoch``: (loss sum, correct, images seen, last lr) of
        this rank."""
        recipe, n, batches, ema = self.recipe, self.n, self.batches, self.ema
        seen, lr = 0, math.nan
        self.epoch = epoch
        self.loss_total.zero_()
        self.correct_total.zero_()
        for b in range(self.steps_per_epoch):
            lo = b * recipe.batch_size
            hi = min(n, lo + recipe.batch_size)
            if hi - lo < self.dist.world_size:  # a last batch too small to share: all skip it
                continue
            lr = self.schedule.lr(epoch * self.steps_per_epoch + b)
            graphs.set_lr(self.optimizer, lr)
            if self.graph is not None and hi - lo == recipe.batch_size:
                assert isinstance(batches, DeviceBatches)
                self.batch_idx.copy_(batches.order[lo:hi])
                self.graph()
                seen += hi - lo
            else:  # no graph, or the last, shorter batch: the same step, run eagerly
                seen += self._step(*batches.batch(lo, hi))
            if ema is not None:
                ema.update(self.model)
            if b % self.sync_steps == 0 or b == self.steps_per_epoch - 1:
                loss_sum, correct = self.loss_total.item(), int(self.correct_total.item())
                if not math.isfinite(loss_sum):
                    _raise_non_finite(loss_sum, epoch, recipe, self.ckpt_path)
                rate = seen / max(1e-9, time.perf_counter() - t0)
                bar.update(
                    task,
                    completed=b + 1,
                    stats=f"loss {loss_sum / seen:.4f} "
                    f"acc {100 * correct / seen:.2f}% lr {lr:.2e} {rate:,.0f} img/s",
                )
        loss_sum, correct = self.loss_total.item(), int(self.correct_total.item())
        if not math.isfinite(loss_sum):
            _raise_non_finite(loss_sum, epoch, recipe, self.ckpt_path)
        return loss_sum, correct, seen, lr

    def _step(self, xb: torch.Tensor, yb: torch.Tensor) -> int:
        """One optimizer step on a batch, its loss and correct count added to the epoch's
        sums; returns the batch size. What a CUDA graph captures: on an accelerator nothing
        here reads the device from the host."""
        recipe, device, optimizer = self.recipe, self.device, self.optimizer
        xb = xb.contiguous(memory_format=self.memory_format)
        # No autocast weight cache: a cached cast must not outlive a graph capture.
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=self.use_bf16, cache_enabled=False
        ):
            logits = self.net(xb)
            loss = self.loss_fn(logits.float(), yb)
            if self.teacher is not None:
                with torch.no_grad():
                    targets = self.teacher(xb).float()
                loss = loss + recipe.distill * distillation_loss(
                    logits.float(), targets, yb, recipe.distill_temperature
                )
        # Checked before the step on the CPU; on an accelerator at the next read of
        # the sums (a NaN or inf poisons them), never later than the epoch's end.
        if device.type == "cpu" and not torch.isfinite(loss):
            _raise_non_finite(loss.item(), self.epoch, recipe, self.ckpt_path)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self.loss_total += loss.detach().double() * len(yb)
        self.correct_total += (logits.argmax(1) == yb).sum()
        return len(yb)

    def evaluate(self) -> tuple[float, float]:
        """Validation loss and accuracy of the weights being kept (the EMA's when averaging);
        NaN without a validation split (n_val=0: nothing to measure, the last epoch wins)."""
        if not len(self.y_val):
            return math.nan, math.nan
        val_loss, val_acc, _ = _evaluate(
            self.eval_model, self.x_val, self.y_val, self.opts.eval_batch_size, self.device
        )
        return val_loss, val_acc

    def end_epoch(self, row: dict[str, float]) -> str | None:
        """Keep the best weights, step the schedule and early stopping, checkpoint; return
        why training should stop, or None."""
        epoch, dist = int(row["epoch"]) - 1, self.dist
        self.history.append(row)
        # Best weights on validation: highest accuracy, ties to the lower loss (or the last
        # epoch's, with restore_best off or no validation split).
        if protocol.is_better(row, self.best, self.recipe.restore_best):
            self.best = {"val_acc": row["val_acc"], "val_loss": row["val_loss"], "epoch": epoch + 1}
            if dist.is_main:
                runs.save_weights(self.out, _state_to_numpy(self.eval_model))
        self.schedule.epoch_end(row["val_loss"])
        reason = protocol.stop_reason(self.stopper, self.recipe, row, self.train_seconds)
        if dist.is_main:
            self.save_state(epoch)
            runs.write_history(self.out, self.history)
        reason = reason or _budget_stop(
            self.opts, epoch + 1, self.recipe.epochs, row["seconds"], dist
        )
        if reason:
            self.log(reason)
        return reason or None

    def finish(self, stop_reason: str) -> dict[str, Any]:
        """Rank 0 evaluates the kept weights and writes the final card; every rank returns it."""
        card = self.card
        if self.dist.is_main:
            card = finish_run(
                self.out,
                card,
                self.history,
                self.best,
                self.input_spec,
                self.splits,
                self.train_seconds,
                stop_reason,
                self.opts,
                self.device,
            )
        card = self.dist.broadcast_json(card)  # every rank returns rank 0's final card
        del self.net  # the DDP wrapper must go before its process group does (see teardown)
        distributed.teardown(self.dist)
        return card


def _raise_non_finite(loss: float, epoch: int, recipe: Recipe, ckpt_path: Path) -> None:
    # Every rank raises; rank 0 alone marks the card (it is the one that wrote it).
    out = ckpt_path.parent.parent
    if distributed.env_world()[0] != 0:
        raise DigitkitError(f"loss became {loss} in epoch {epoch + 1}")
    raise protocol.diverged(out, epoch, recipe.lr, f"loss became {loss}")


def _budget_stop(
    opts: TrainOptions,
    epochs_done: int,
    recipe_epochs: int,
    epoch_seconds: float,
    dist: distributed.DistContext,
) -> str:
    """Why a budgeted run stops after ``epochs_done`` epochs ("" to go on). The stop is a
    clean one (the run is finished and loadable) and its reason says how much of the recipe
    ran, "N of M epochs"; rank 0 decides for every rank."""
    if epochs_done >= recipe_epochs:
        return ""
    share = f"{epochs_done} of {recipe_epochs} epochs"
    reason = ""
    if opts.max_epochs is not None and epochs_done >= opts.max_epochs:
        reason = f"epoch limit: {share}"
    elif _past_deadline(opts, epoch_seconds):
        reason = f"time budget: {share}"
    (stop,) = dist.broadcast_floats(float(bool(reason)))
    return (reason or f"time budget: {share}") if stop else ""


def finish_run(
    out: Path,
    card: dict[str, Any],
    history: list[dict[str, float]],
    best: dict[str, Any],
    input_spec: InputSpec,
    splits: Splits,
    train_seconds: float,
    stop_reason: str,
    opts: TrainOptions,
    device: torch.device,
) -> dict[str, Any]:
    """Evaluate the best weights on val and test, write curves and the final card."""
    from digitkit.inference.predictor import load_torch_run

    predictor = load_torch_run(out, card)
    predictor.module.to(device)
    metrics = protocol.train_metrics(history)
    for split in ("val", "test"):
        if (split == "test" and splits.x_test is None) or (
            split == "val" and not len(splits.y_val)
        ):
            continue
        x, y = splits.get(split)
        prepared = torch.from_numpy(input_spec.prepare(x))
        loss, acc, probs = _evaluate(
            predictor.module, prepared, torch.from_numpy(y), opts.eval_batch_size, device
        )
        metrics[split] = protocol.split_metrics(acc, loss, len(y))
        runs.save_probs(out, split, probs, x)
    return protocol.finish_card(out, card, history, metrics, best, stop_reason, train_seconds)

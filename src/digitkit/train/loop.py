"""The torch training loop: one function, readable top to bottom.

``train`` builds the model from the registry, keeps the whole dataset in memory as arrays,
runs the recipe epoch by epoch (batched augmentation, per-step learning rate, optional EMA of
the weights), validates after each epoch, keeps the best weights on validation, checkpoints
every epoch so ``resume`` continues exactly, and writes the run directory.

Determinism: every epoch draws its shuffling, augmentation and dropout randomness from
generators seeded by ``(seed, epoch)``, so a run resumed from the checkpoint of epoch k
continues exactly as the uninterrupted run would (on CPU).

Two batch pipelines, chosen by the recipe's ``augment_device`` (see :func:`batch_pipeline`):
``numpy`` augments on the CPU and copies each batch to the device; ``torch`` keeps the whole
training set on the device as uint8 and indexes, augments and normalizes batches there, so a
GPU never waits for the host. The model code is the same for both; only the batches differ.
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
from torch import nn

from digitkit import atomic, runs
from digitkit.data import Splits
from digitkit.data.augment import AugmentConfig, augment_batch
from digitkit.data.normalize import InputSpec, fit_input_spec
from digitkit.errors import DigitkitError
from digitkit.models import build_model, count_params, get_spec
from digitkit.progress import progress_bar
from digitkit.train import augment_torch, distributed, protocol
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


def make_optimizer(recipe: Recipe, params: Any) -> torch.optim.Optimizer:
    """The optimizer a recipe names (its lr is overwritten every step by the schedule)."""
    r = recipe
    kind = r.optimizer
    if r.adam_bias_correction != "step":
        raise DigitkitError(f"recipe {r.name}: adam_bias_correction={r.adam_bias_correction} "
                            "exists in the NumPy engine only (--engine numpy)")
    if kind == "sgd":
        return torch.optim.SGD(params, lr=r.lr, weight_decay=r.weight_decay)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, nesterov=kind == "nesterov",
                               weight_decay=r.weight_decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=r.lr, betas=(r.momentum, r.beta2), eps=r.eps,
                                weight_decay=r.weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=r.lr, betas=(r.momentum, r.beta2), eps=r.eps,
                                 weight_decay=r.weight_decay)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=r.lr, alpha=r.rho, eps=r.eps,
                                   weight_decay=r.weight_decay)
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


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int,
              device: torch.device) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy, accuracy and probabilities of ``model`` on prepared inputs."""
    model.eval()
    losses, probs = [], []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = x[i : i + batch].to(device, non_blocking=True)
            logits = model(xb).float()
            losses.append(nn.functional.cross_entropy(logits, y[i : i + batch].to(device),
                                                      reduction="sum").item())
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
        raise DigitkitError(f"{path}: unreadable checkpoint ({exc.__class__.__name__}); "
                            "start a new run instead of resuming") from None


def _output_size(model: nn.Module) -> int:
    """The number of classes: the last linear layer's outputs."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else 10


def _warm_start(model: nn.Module, run_dir: Path, card: dict[str, Any], name: str) -> None:
    """Load ``run_dir``'s weights into ``model``; tensors whose first dimension differs (an
    output layer with another number of classes) keep their common leading rows, and the new
    rows keep their random initialization, scaled down so the new class starts unlikely."""
    if card.get("engine") != "torch" or card["architecture"]["name"] != name:
        raise DigitkitError(f"--init {run_dir}: a torch run of {name} is needed, not "
                            f"{card.get('engine')} {card['architecture']['name']}")
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
            raise DigitkitError(f"--init {run_dir}: {key} has shape {tuple(value.shape)}, the "
                                f"model needs {tuple(target.shape)}")
    model.load_state_dict(state)


def _channels_last(model: nn.Module) -> bool:
    # Convolutional models run faster channels-last on CPU (oneDNN) and on tensor cores.
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


class HostBatches:
    """Batches augmented by the NumPy augmenter on the CPU, then copied to the device."""

    kind = "numpy"

    def __init__(self, input_spec: InputSpec, aug: AugmentConfig, seed: int,
                 dist: distributed.DistContext, device: torch.device):
        self.spec, self.aug, self.seed, self.dist, self.device = input_spec, aug, seed, dist, device
        self.order = np.arange(0)
        self.rng = np.random.default_rng()

    def load(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Take a training set: uint8 (N, 28, 28) images and their labels."""
        self.x01 = images.astype(np.float32) / 255.0
        self.y = torch.from_numpy(labels)
        # Without augmentation every epoch feeds the same inputs: prepare them once.
        self.prepared = None if self.aug.enabled else torch.from_numpy(self.spec.prepare(self.x01))

    def start_epoch(self, epoch: int, order: np.ndarray) -> None:
        self.order = order
        self.rng = np.random.default_rng([self.seed, epoch, 1])

    def batch(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the global batch ``order[lo:hi]``, on the device."""
        idx = self.order[lo:hi]
        # Every rank augments the whole global batch (same generator) and keeps its share,
        # so each step sees exactly the images of a single-process run.
        part = self.dist.shard(np.arange(len(idx)))
        if self.prepared is not None:
            xb = self.prepared[idx[part]]
        else:
            xb = torch.from_numpy(self.spec.prepare(augment_batch(self.x01[idx], self.aug,
                                                                  self.rng)[part]))
        return (xb.to(self.device, non_blocking=True),
                self.y[idx[part]].to(self.device, non_blocking=True))


class DeviceBatches:
    """The whole training set resident on the device as uint8; batches are indexed,
    augmented (digitkit.train.augment_torch) and normalized there."""

    kind = "torch"

    def __init__(self, input_spec: InputSpec, aug: AugmentConfig, seed: int,
                 dist: distributed.DistContext, device: torch.device):
        self.spec, self.aug, self.seed, self.dist, self.device = input_spec, aug, seed, dist, device
        self.order = torch.zeros(0, dtype=torch.long, device=device)
        self.generator = augment_torch.epoch_generator(seed, 0, device)

    def load(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        self.y = torch.from_numpy(labels).to(self.device)

    def start_epoch(self, epoch: int, order: np.ndarray) -> None:
        # The NumPy permutation, so both pipelines visit the images in the same order.
        self.order = torch.from_numpy(order).to(self.device)
        self.generator = augment_torch.epoch_generator(self.seed, epoch, self.device)

    def batch(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.order[lo:hi]
        images = augment_torch.augment_batch(self.x[idx], self.aug, self.generator)
        rank, world = self.dist.rank, self.dist.world_size
        return (augment_torch.prepare_inputs(images[rank::world], self.spec),
                self.y[idx[rank::world]])


def batch_pipeline(recipe: Recipe, device: torch.device) -> type[HostBatches | DeviceBatches]:
    """The pipeline the recipe's ``augment_device`` names; ``auto`` keeps a GPU fed from its
    own memory and leaves the CPU on the (faster there) NumPy augmenter."""
    choice = recipe.augment_device
    if choice == "auto":
        choice = "numpy" if device.type == "cpu" else "torch"
    return DeviceBatches if choice == "torch" else HostBatches


def _past_deadline(opts: TrainOptions, epoch_seconds: float) -> bool:
    """Whether another epoch like the last one would end after ``opts.deadline``."""
    return opts.deadline is not None and \
        time.monotonic() + DEADLINE_EPOCH_MARGIN * epoch_seconds > opts.deadline


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
    """
    opts = options or TrainOptions()
    out = Path(out_dir)
    spec = get_spec(model_name, "torch")
    recipe.validate()
    # Under torchrun: join the process group; rank 0 alone logs and writes (see distributed).
    dist = distributed.setup(recipe.batch_size)
    log = (opts.log if dist.is_main else None) or (lambda _msg: None)
    device = dist.device(opts.device)
    if "OMP_NUM_THREADS" not in os.environ:  # respect an explicit thread budget
        torch.set_num_threads(os.cpu_count() or 1)

    # --- data: the training set in the batch pipeline (host or device memory); inputs are
    # prepared per batch after augmentation
    kind = spec.normalization or recipe.normalization
    init_card = runs.read_card(init) if init is not None else None
    # A fine-tuned model keeps the normalization its weights were trained with.
    input_spec = InputSpec.from_dict(init_card["input"]) if init_card else \
        fit_input_spec(splits.x_train.astype(np.float32) / 255.0, kind, pad=spec.input_pad)
    batches = batch_pipeline(recipe, device)(input_spec, recipe.augment_config(), recipe.seed,
                                             dist, device)
    batches.load(splits.x_train, splits.y_train)
    on_device = isinstance(batches, DeviceBatches)
    # Validation inputs are prepared once; with the device pipeline they stay there too.
    x_val = torch.from_numpy(input_spec.prepare(splits.x_val))
    x_val = x_val.to(device) if on_device else x_val
    y_val = torch.from_numpy(splits.y_val)
    if device.type == "cuda":  # fixed input shapes: let cuDNN pick its fastest kernels
        torch.backends.cudnn.benchmark = True

    # --- model, optimizer, schedule, callbacks
    torch.manual_seed(recipe.seed)
    model = build_model(model_name, "torch", **(arch_args or {})).to(device)
    if init is not None and not resume:
        _warm_start(model, Path(init), init_card, model_name)
    classes = int(_output_size(model))
    memory_format = torch.channels_last if _channels_last(model) else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = make_optimizer(recipe, model.parameters())
    net = dist.wrap(model)  # DDP averages gradients over ranks; ``model`` stays the plain one
    if opts.compile:  # shares ``model``'s parameters; EMA and evaluation use the plain model
        net = torch.compile(net)
    n = len(splits.x_train)
    steps_per_epoch = math.ceil(n / recipe.batch_size)
    schedule = LRSchedule(recipe, steps_per_epoch)
    stopper = EarlyStopping(recipe.patience, recipe.min_rel_improvement,
                            "max" if recipe.monitor == "val_acc" else "min")
    ema = WeightEMA(model, recipe.ema) if recipe.ema > 0 else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    sync_steps = CPU_SYNC_STEPS if device.type == "cpu" else ACCELERATOR_SYNC_STEPS
    pipeline = {"batches": batches.kind, "device": device.type, "bf16": use_bf16,
                "channels_last": memory_format == torch.channels_last, "compile": opts.compile}

    ckpt_path = out / runs.CHECKPOINT_DIR / CHECKPOINT
    history: list[dict[str, float]] = []
    best = protocol.no_best()
    start_epoch, train_seconds = 0, 0.0
    if resume:
        state = _load_checkpoint(ckpt_path) if ckpt_path.is_file() else None
        if state is None:
            raise DigitkitError(f"{out}: no checkpoint to resume from")
        # A torch run may be resumed for more epochs (tests/zoo/test_distributed.py relies on
        # it); the NumPy engine refuses any change.
        protocol.check_resume_recipe(out, recipe.to_dict(), may_change=("epochs",))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.model.load_state_dict(state["ema"])
            ema.updates = int(state["ema_updates"])
        schedule.load_state_dict(state["schedule"])
        stopper.load_state_dict(state["stopper"])
        history, best = state["history"], state["best"]
        start_epoch, train_seconds = int(state["epoch"]) + 1, float(state["train_seconds"])
        card = runs.read_card(out)
        card["pipeline"] = pipeline  # how this (last) stretch of the run was executed
        log(f"resuming {out} after epoch {start_epoch}")
    else:
        if dist.is_main:
            protocol.check_new_run(out)
        card = runs.new_card(
            engine="torch", architecture=model_name, arch_args=arch_args,
            input_spec=input_spec.to_dict(), recipe=recipe.to_dict(), data=splits.source,
            seed=recipe.seed, num_params=count_params(model), classes=classes,
        )
        if init is not None:
            card["init"] = {"run": str(init), "architecture": init_card["architecture"]}
        if dist.enabled:
            card["distributed"] = distributed.describe(dist)
        card["pipeline"] = pipeline
        if dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
            runs.write_card(out, card)

    eval_model = ema.model if ema is not None else model
    stop_reason = "completed"
    with progress_bar(opts.progress and dist.is_main) as bar:
        for epoch in range(start_epoch, recipe.epochs):
            t0 = time.perf_counter()
            if splits.refresh is not None:  # new drawings every epoch (same count)
                x_new, y_new = splits.refresh(epoch)
                if len(x_new) != n:
                    raise DigitkitError(f"the data source gave {len(x_new)} training images in "
                                        f"epoch {epoch + 1}, not {n}")
                batches.load(x_new, y_new)
            model.train()
            batches.start_epoch(epoch, np.random.default_rng([recipe.seed, epoch]).permutation(n))
            torch.manual_seed(recipe.seed * 100_003 + epoch)  # dropout masks
            task = bar.add_task(f"epoch {epoch + 1}/{recipe.epochs}", total=steps_per_epoch,
                                stats="")
            seen = 0
            # Running sums stay on the device (reading them would wait for it every step).
            loss_total = torch.zeros((), dtype=torch.float64, device=device)
            correct_total = torch.zeros((), dtype=torch.int64, device=device)
            for b in range(steps_per_epoch):
                lo = b * recipe.batch_size
                hi = min(n, lo + recipe.batch_size)
                if hi - lo < dist.world_size:  # a last batch too small to share: all skip it
                    continue
                xb, yb = batches.batch(lo, hi)
                xb = xb.contiguous(memory_format=memory_format)
                lr = schedule.lr(epoch * steps_per_epoch + b)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    logits = net(xb)
                    loss = loss_fn(logits.float(), yb)
                # Checked before the step on the CPU; on an accelerator at the next read of
                # the sums (a NaN or inf poisons them), never later than the epoch's end.
                if device.type == "cpu" and not torch.isfinite(loss):
                    _raise_non_finite(loss.item(), epoch, recipe, ckpt_path)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if ema is not None:
                    ema.update(model)
                seen += len(yb)
                loss_total += loss.detach().double() * len(yb)
                correct_total += (logits.argmax(1) == yb).sum()
                if b % sync_steps == 0 or b == steps_per_epoch - 1:
                    loss_sum, correct = loss_total.item(), int(correct_total.item())
                    if not math.isfinite(loss_sum):
                        _raise_non_finite(loss_sum, epoch, recipe, ckpt_path)
                    rate = seen / max(1e-9, time.perf_counter() - t0)
                    bar.update(task, completed=b + 1, stats=f"loss {loss_sum / seen:.4f} "
                               f"acc {100 * correct / seen:.2f}% lr {lr:.2e} {rate:,.0f} img/s")
            loss_sum, correct = loss_total.item(), int(correct_total.item())
            if not math.isfinite(loss_sum):
                _raise_non_finite(loss_sum, epoch, recipe, ckpt_path)
            epoch_train_s = time.perf_counter() - t0
            loss_sum, correct, seen = dist.all_sum(loss_sum, correct, seen)
            dist.sync_buffers(model)
            if len(y_val):
                val_loss, val_acc, _ = _evaluate(eval_model, x_val, y_val, opts.eval_batch_size,
                                                 device)
            else:  # no validation split (n_val=0): nothing to measure, the last epoch wins
                val_loss, val_acc = math.nan, math.nan
            epoch_s = time.perf_counter() - t0
            # Rank 0's view decides, so schedules and stopping never diverge across ranks.
            val_loss, val_acc, epoch_s = dist.broadcast_floats(val_loss, val_acc, epoch_s)
            train_seconds += epoch_s
            bar.remove_task(task)
            row = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                   "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
                   "seconds": epoch_s, "train_seconds": epoch_train_s,
                   "elapsed": train_seconds}
            if opts.report_test_each_epoch and splits.x_test is not None:
                x_test = torch.from_numpy(input_spec.prepare(splits.x_test))
                _, row["test_acc"], _ = _evaluate(eval_model, x_test, torch.from_numpy(
                    splits.y_test), opts.eval_batch_size, device)
            history.append(row)
            val_text = (f"val {100 * val_acc:.2f}% (val loss {val_loss:.4f})" if len(y_val)
                        else "no val split")
            log(f"epoch {epoch + 1}/{recipe.epochs}: loss {row['train_loss']:.4f} "
                f"train {100 * row['train_acc']:.2f}% {val_text} {epoch_s:.1f}s")

            # Best weights on validation: highest accuracy, ties to the lower loss (or the last
            # epoch's, with restore_best off or no validation split).
            if protocol.is_better(row, best, recipe.restore_best):
                best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch + 1}
                if dist.is_main:
                    runs.save_weights(out, _state_to_numpy(eval_model))
            schedule.epoch_end(val_loss)
            should_stop = protocol.stop_reason(stopper, recipe, row, train_seconds)
            if dist.is_main:
                _save_checkpoint(ckpt_path, {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "ema": ema.model.state_dict() if ema is not None else {},
                    "ema_updates": ema.updates if ema is not None else 0,
                    "schedule": schedule.state_dict(), "stopper": stopper.state_dict(),
                    "history": history, "best": best, "epoch": epoch,
                    "train_seconds": train_seconds,
                })
                runs.write_history(out, history)
            if should_stop:
                stop_reason = should_stop
                log(stop_reason)
                break
            budget_stop = _budget_stop(opts, epoch + 1, recipe.epochs, epoch_s, dist)
            if budget_stop:
                stop_reason = budget_stop
                log(stop_reason)
                break

    if dist.is_main:
        card = finish_run(out, card, history, best, input_spec, splits, train_seconds,
                          stop_reason, opts, device)
    card = dist.broadcast_json(card)  # every rank returns rank 0's final card
    del net  # the DDP wrapper must go before its process group does (see teardown)
    distributed.teardown(dist)
    return card


def _raise_non_finite(loss: float, epoch: int, recipe: Recipe, ckpt_path: Path) -> None:
    # Every rank raises; rank 0 alone marks the card (it is the one that wrote it).
    out = ckpt_path.parent.parent
    if distributed.env_world()[0] != 0:
        raise DigitkitError(f"loss became {loss} in epoch {epoch + 1}")
    raise protocol.diverged(out, epoch, recipe.lr, f"loss became {loss}")


def _budget_stop(opts: TrainOptions, epochs_done: int, recipe_epochs: int,
                 epoch_seconds: float, dist: distributed.DistContext) -> str:
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


def finish_run(out: Path, card: dict[str, Any], history: list[dict[str, float]],
               best: dict[str, Any], input_spec: InputSpec, splits: Splits,
               train_seconds: float, stop_reason: str, opts: TrainOptions,
               device: torch.device) -> dict[str, Any]:
    """Evaluate the best weights on val and test, write curves and the final card."""
    from digitkit.predictor import load_torch_run

    predictor = load_torch_run(out, card)
    predictor.module.to(device)
    metrics = protocol.train_metrics(history)
    for split in ("val", "test"):
        if (split == "test" and splits.x_test is None) or (split == "val" and
                                                            not len(splits.y_val)):
            continue
        x, y = splits.get(split)
        prepared = torch.from_numpy(input_spec.prepare(x))
        loss, acc, probs = _evaluate(predictor.module, prepared, torch.from_numpy(y),
                                     opts.eval_batch_size, device)
        metrics[split] = protocol.split_metrics(acc, loss, len(y))
        runs.save_probs(out, split, probs, x)
    return protocol.finish_card(out, card, history, metrics, best, stop_reason, train_seconds)

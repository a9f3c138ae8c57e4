"""Training loops of the NumPy engine.

:func:`fit` trains a Sequential on arrays (what ``Sequential.fit`` calls). :func:`train_run`
is what ``digitkit train MODEL --engine numpy`` calls: it trains a registered architecture
with a named recipe and writes a standard run directory (weights of the best epoch on
validation, card, history, curves, and a checkpoint after every epoch so that ``resume=True``
continues exactly where it stopped).

Randomness is derived from (seed, epoch): the shuffling order, the augmentation and the
dropout masks of epoch e are the same whether or not the run was interrupted before it.

Both loops use every core they are given (``workers``, by default the available cores up to
2; see :mod:`digitkit.scratch.cpu`): each training step runs on shards of the batch in
parallel threads, with the same gradient as one thread (up to float rounding) and the same
result on every run with the same seed and number of workers.

Why one module over 400 lines: one job, the NumPy engine's training loops; :func:`fit` and
:func:`train_run` share the epoch step, the seeded generators and the divergence handling, and
``_Run`` is only the state of :func:`train_run`.
"""

from __future__ import annotations

import contextlib
import math
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import runs
from digitkit.data import Splits
from digitkit.data.augment import augment_batch
from digitkit.data.normalize import InputSpec, fit_input_spec
from digitkit.errors import DigitkitError
from digitkit.metrics import accuracy, nll
from digitkit.scratch import cpu, runio, zoo
from digitkit.scratch.losses import SoftmaxCrossEntropy
from digitkit.scratch.model import Sequential
from digitkit.scratch.optim import Adam, Optimizer, make_optimizer
from digitkit.train import protocol
from digitkit.train.callbacks import EarlyStopping
from digitkit.train.recipes import Recipe
from digitkit.train.schedules import LRSchedule

Batch = tuple[np.ndarray, np.ndarray]


class Diverged(DigitkitError):
    """The loss became NaN or infinite."""


def epoch_rngs(seed: int, epoch: int) -> tuple[np.random.Generator, ...]:
    """Generators for shuffling, augmentation and dropout of ``epoch`` (0-based)."""
    return tuple(np.random.default_rng([seed, epoch, k]) for k in range(3))


def train_epoch(
    model: Sequential | cpu.DataParallel,
    batches: Iterable[Batch],
    loss: Any,
    optimizer: Optimizer,
    lr_at: Callable[[int], float],
    first_step: int,
    report: Callable[[int, float, float, float, int], None] | None = None,
) -> tuple[float, float, float]:
    """One pass over ``batches``; returns (mean loss, accuracy, last lr). ``model`` is
    anything with ``Sequential.train_step``: the model, or a DataParallel wrapping it.

    ``lr_at(step)`` sets the learning rate before every step; ``report(batch, loss, acc, lr,
    seen)`` is called after each batch (progress bars). A non-finite loss raises Diverged
    before the weights are touched.
    """
    seen = correct = 0
    loss_sum, lr = 0.0, float("nan")
    for b, (xb, yb) in enumerate(batches):
        lr = optimizer.lr = lr_at(first_step + b)
        # Overflow on the way to a NaN loss is reported once, as Diverged, not as warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            value, right = model.train_step(xb, yb, loss, optimizer)
        if not math.isfinite(value):
            raise Diverged(f"loss became {value} at batch {b + 1}")
        seen += len(yb)
        loss_sum += value * len(yb)
        correct += right
        if report is not None:
            report(b, loss_sum / seen, correct / seen, lr, seen)
    return loss_sum / max(1, seen), correct / max(1, seen), lr


def _array_batches(
    x: np.ndarray,
    y: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[Batch]:
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        xb = x[idx]
        yield (transform(xb) if transform else xb), y[idx]


def stepper(model: Sequential, workers: int | None) -> contextlib.AbstractContextManager[Any]:
    """What runs the training steps: a DataParallel over ``workers`` threads (None: the
    default, see :func:`digitkit.scratch.cpu.default_workers`), or the model itself when
    one worker is asked for or the model cannot be split (BatchNorm)."""
    cpu.keep_freed_memory()
    workers = cpu.default_workers() if workers is None else workers
    if workers > 1 and cpu.can_split_batches(model):
        return cpu.DataParallel(model, workers)
    return contextlib.nullcontext(model)


def fit(
    model: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: Optimizer | None = None,
    loss: Any = None,
    validation_data: Batch | None = None,
    callbacks: Iterable[Any] = (),
    progress: bool = False,
    seed: int = 0,
    workers: int | None = None,
) -> list[dict[str, float]]:
    """Mini-batch training on arrays (inputs already normalized), validation after each
    epoch. A callback is any object with ``on_epoch_end(epoch, row, model) -> bool``
    (True stops training) or an :class:`EarlyStopping` watching ``val_loss``. ``workers``:
    threads per step (see :func:`stepper`)."""
    optimizer = optimizer or Adam(1e-3)
    loss = loss or SoftmaxCrossEntropy()
    base_lr = optimizer.lr
    history: list[dict[str, float]] = []
    steps = math.ceil(len(x) / batch_size)
    from digitkit.progress import progress_bar

    with progress_bar(progress) as bar, stepper(model, workers) as step:
        for epoch in range(epochs):
            order_rng, _, drop_rng = epoch_rngs(seed, epoch)
            model.set_dropout_rng(drop_rng)
            optimizer.epoch = epoch + 1  # Adam's per-epoch bias correction reads it
            t0 = time.perf_counter()
            task = bar.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, stats="")
            report = _reporter(bar, task, t0, steps)
            batches = _array_batches(x, y, order_rng.permutation(len(x)), batch_size)
            tl, ta, lr = train_epoch(
                step, batches, loss, optimizer, lambda _s: base_lr, epoch * steps, report
            )
            bar.remove_task(task)
            row = {"epoch": epoch + 1, "train_loss": tl, "train_acc": ta}
            if validation_data is not None:
                row["val_loss"], row["val_acc"] = step.evaluate(*validation_data)
            row.update(lr=lr, seconds=time.perf_counter() - t0)
            history.append(row)
            stop = False
            for cb in callbacks:
                if isinstance(cb, EarlyStopping):
                    stop |= cb.update(row.get("val_loss", tl), epoch + 1)
                else:
                    stop |= bool(cb.on_epoch_end(epoch + 1, row, model))
            if stop:
                break
    return history


def _reporter(
    bar: Any, task: Any, t0: float, steps: int
) -> Callable[[int, float, float, float, int], None]:
    def report(b: int, loss: float, acc: float, lr: float, seen: int) -> None:
        if b % 20 == 0 or b == steps - 1:  # Rich redraws ~10x/s; no need to update every batch
            rate = seen / max(1e-9, time.perf_counter() - t0)
            bar.update(
                task,
                completed=b + 1,
                stats=f"loss {loss:.4f} acc {100 * acc:.2f}% lr {lr:.2e} {rate:,.0f} img/s",
            )

    return report


# -- train_run: the run-directory trainer -----------------------------------------------------
@dataclass
class _Data:
    """Training inputs: either prepared once, or augmented and prepared per batch."""

    x01: np.ndarray
    y: np.ndarray
    prepared: np.ndarray | None
    spec: InputSpec

    def batches(
        self, order: np.ndarray, batch_size: int, aug: Any, aug_rng: np.random.Generator
    ) -> Iterator[Batch]:
        if self.prepared is not None:
            return _array_batches(self.prepared, self.y, order, batch_size)
        # Augmenting a batch costs about a third of a LeNet-5 step: do it ahead, in the
        # background, while the current batch trains.
        return prefetch(
            _array_batches(
                self.x01,
                self.y,
                order,
                batch_size,
                lambda xb: self.spec.prepare(augment_batch(xb, aug, aug_rng)),
            )
        )


class _Failed:
    """An exception raised while producing a batch, carried to the consumer."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(batches: Iterable[Batch], depth: int = 2) -> Iterator[Batch]:
    """Yield ``batches`` in order, produced up to ``depth`` ahead by a background thread.

    The batches (and every random number drawn for them) are exactly those of iterating
    ``batches`` directly: one thread produces them in order; only the timing changes. Its
    NumPy work releases the GIL, so it runs on a core the training step leaves idle (the
    step's serial parts: loss, optimizer, Python glue). An error while producing is raised
    here; stopping early (an exception in the training loop) stops the producer.
    """
    q: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in batches:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failed(exc))

    worker = threading.Thread(target=produce, name="digitkit-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()


def _log(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


def train_run(
    model: str,
    recipe: Recipe,
    splits: Splits,
    out_dir: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    arch_args: dict[str, Any] | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Train the registered NumPy architecture ``model`` with ``recipe`` and write the run
    directory ``out_dir``; returns the final card.

    The weights kept are those of the epoch with the best validation accuracy (ties go to
    the lower validation loss); the test split is evaluated once, at the end, for the card.
    With ``resume=True`` training continues after the last checkpointed epoch of ``out_dir``
    and ends exactly as an uninterrupted run would (with the same number of ``workers``,
    threads per step, see :func:`stepper`; another number changes float rounding only).
    """
    from digitkit.progress import progress_bar

    if not len(splits.y_val):
        raise DigitkitError(
            "the NumPy engine keeps the best epoch on a validation split: "
            "train with n_val > 0 (e.g. n_val=5000)"
        )
    run = _Run(model, recipe, splits, Path(out_dir), dict(arch_args or {}), progress)
    run.start(resume)
    with stepper(run.net, workers) as step:
        with progress_bar(progress) as bar:
            stop_reason = protocol.run_epochs(
                run.start_epoch,
                recipe.epochs,
                lambda epoch: run.train_one_epoch(epoch, bar, step),
                run.end_epoch,
            )
        _log(progress, stop_reason)
        return run.finish(stop_reason, step)


class _Run:
    """The state of one train_run: data, model, optimizer, schedule, early stopping, history
    and the best epoch so far, with the steps of an epoch as methods."""

    def __init__(
        self,
        model: str,
        recipe: Recipe,
        splits: Splits,
        out: Path,
        arch_args: dict[str, Any],
        progress: bool,
    ) -> None:
        spec = zoo.numpy_spec(model)
        recipe.validate()
        if recipe.ema:
            raise DigitkitError("the NumPy engine does not average weights (ema); set ema=0")
        self.model, self.recipe, self.splits, self.out = model, recipe, splits, out
        self.arch_args, self.progress = arch_args, progress

        x01 = splits.x_train.astype(np.float32) / 255.0
        self.input_spec = fit_input_spec(
            x01, spec.normalization or recipe.normalization, pad=spec.input_pad
        )
        self.aug = recipe.augment_config()
        # Without augmentation the inputs are prepared once; with it, batch by batch.
        self.data = _Data(
            x01,
            splits.y_train,
            None if self.aug.enabled else self.input_spec.prepare(x01),
            self.input_spec,
        )
        self.x_val, self.y_val = self.input_spec.prepare(splits.x_val), splits.y_val

        self.net: Sequential = zoo.build(model, **arch_args, seed=recipe.seed)
        self.optimizer = make_optimizer(recipe)
        self.loss = SoftmaxCrossEntropy(recipe.label_smoothing)
        self.steps_per_epoch = math.ceil(len(x01) / recipe.batch_size)
        self.schedule = LRSchedule(recipe, self.steps_per_epoch)
        self.stopper = EarlyStopping(
            recipe.patience,
            recipe.min_rel_improvement,
            "max" if recipe.monitor == "val_acc" else "min",
        )
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] = protocol.no_best()
        self.start_epoch, self.train_seconds = 0, 0.0

    def start(self, resume: bool) -> None:
        """Restore the last checkpoint (resume) or write the run's first card."""
        out, recipe = self.out, self.recipe
        state = runio.load_checkpoint(out) if resume else None
        if state is not None:
            protocol.resume_with_recipe(out, recipe.to_dict())
            model_arrays, opt_arrays, meta = state
            self.net.load_state_dict(model_arrays)
            self.optimizer.load_state_dict(opt_arrays, meta["optimizer"])
            self.schedule.load_state_dict(meta["schedule"])
            self.stopper.load_state_dict(meta["early_stopping"])
            self.history, self.best = meta["history"], meta["best"]
            self.start_epoch = int(meta["epoch"])
            self.train_seconds = float(meta["train_seconds"])
            # A finished run resumed goes on up to the recipe's epochs, as a torch run does:
            # with the same recipe there is nothing left to train, and it just finishes again.
            _log(self.progress, f"resuming {out} after epoch {self.start_epoch}")
            return
        if resume:
            _log(self.progress, f"{out}: no checkpoint yet; starting from the first epoch")
        else:
            protocol.check_new_run(out)
        card = runs.new_card(
            engine="numpy",
            architecture=self.model,
            arch_args=self.arch_args,
            input_spec=self.input_spec.to_dict(),
            recipe=recipe.to_dict(),
            data=self.splits.source,
            seed=recipe.seed,
            num_params=self.net.num_params,
        )
        card["scratch"] = {"layers": self.net.config()}
        out.mkdir(parents=True, exist_ok=True)
        runs.write_card(out, card)

    def train_one_epoch(self, epoch: int, bar: Any, step: Any = None) -> dict[str, float]:
        """Train ``epoch`` (0-based) with ``step`` (see :func:`train_epoch`; default the
        model itself, one thread), validate, and return its history row."""
        recipe, n = self.recipe, len(self.data.x01)
        t0, cpu0 = time.perf_counter(), time.process_time()
        order_rng, aug_rng, drop_rng = epoch_rngs(recipe.seed, epoch)
        self.net.set_dropout_rng(drop_rng)
        self.optimizer.epoch = epoch + 1  # Adam's per-epoch bias correction reads it
        task = bar.add_task(
            f"epoch {epoch + 1}/{recipe.epochs}", total=self.steps_per_epoch, stats=""
        )
        batches = self.data.batches(order_rng.permutation(n), recipe.batch_size, self.aug, aug_rng)
        try:
            tl, ta, lr = train_epoch(
                step or self.net,
                batches,
                self.loss,
                self.optimizer,
                self.schedule.lr,
                epoch * self.steps_per_epoch,
                _reporter(bar, task, t0, self.steps_per_epoch),
            )
        except Diverged as exc:
            raise protocol.diverged(self.out, epoch, recipe.lr, str(exc)) from None
        train_s = time.perf_counter() - t0
        bar.remove_task(task)
        val_loss, val_acc = (step or self.net).evaluate(self.x_val, self.y_val)
        seconds = time.perf_counter() - t0
        self.train_seconds += seconds
        row = {
            "epoch": epoch + 1,
            "train_loss": tl,
            "train_acc": ta,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "seconds": seconds,
            "train_seconds": train_s,
            # CPU time of this process, summed over its threads: on a machine shared
            # with other jobs, what the epoch would take alone on one core.
            "cpu_seconds": time.process_time() - cpu0,
        }
        _log(
            self.progress,
            f"epoch {epoch + 1}/{recipe.epochs}: loss {tl:.4f} train "
            f"{100 * ta:.2f}% val {100 * val_acc:.2f}% (val loss {val_loss:.4f}) "
            f"{seconds:.1f}s, {row['cpu_seconds']:.1f} s CPU ({n / train_s:,.0f} img/s, "
            f"{getattr(step, 'workers', 1)} thread(s))",
        )
        return row

    def end_epoch(self, row: dict[str, float]) -> str | None:
        """Keep the best weights, step the schedule and early stopping, checkpoint; return
        why training should stop, or None."""
        recipe, epoch = self.recipe, int(row["epoch"])
        self.history.append(row)
        if protocol.is_better(row, self.best, recipe.restore_best):
            self.best = {"val_acc": row["val_acc"], "val_loss": row["val_loss"], "epoch": epoch}
            runs.save_weights(self.out, self.net.state_dict())
        self.schedule.epoch_end(row["val_loss"])
        reason = protocol.stop_reason(self.stopper, recipe, row, self.train_seconds)
        opt_arrays, opt_meta = self.optimizer.state_dict()
        runio.save_checkpoint(
            self.out,
            epoch,
            self.net,
            opt_arrays,
            {
                "optimizer": opt_meta,
                "schedule": self.schedule.state_dict(),
                "early_stopping": self.stopper.state_dict(),
                "history": self.history,
                "best": self.best,
                "train_seconds": self.train_seconds,
                "finished": reason is not None,
                "rng": f"numpy default_rng([seed={recipe.seed}, epoch, k]) per epoch",
            },
        )
        runs.write_history(self.out, self.history)
        runs.update_card(self.out, epochs_run=epoch, best_epoch=self.best["epoch"])
        return reason

    def finish(self, stop_reason: str, step: Any = None) -> dict[str, Any]:
        """Evaluate the best weights on val and test (with ``step``'s threads when it has
        them), draw the curves, write the final card."""
        out, net, history = self.out, self.net, self.history
        predictor = step or net
        net.load_state_dict(runs.load_weights(out))
        metrics = protocol.train_metrics(history)
        for split in ("val", "test"):
            if split == "test" and self.splits.x_test is None:
                continue
            x, y = self.splits.get(split)
            probs = predictor.predict_proba(self.input_spec.prepare(x))
            metrics[split] = protocol.split_metrics(accuracy(probs, y), nll(probs, y), len(y))
            runs.save_probs(out, split, probs, x)
        return protocol.finish_card(
            out,
            runs.read_card(out),
            history,
            metrics,
            self.best,
            stop_reason,
            self.train_seconds,
            "NumPy",
        )

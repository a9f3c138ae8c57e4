"""Training loops of the NumPy engine.

:func:`fit` trains a Sequential on arrays (what ``Sequential.fit`` calls). :func:`train_run`
is what ``digitkit train MODEL --engine numpy`` calls: it trains a registered architecture
with a named recipe and writes a standard run directory (weights of the best epoch on
validation, card, history, curves, and a checkpoint after every epoch so that ``resume=True``
continues exactly where it stopped).

Randomness is derived from (seed, epoch): the shuffling order, the augmentation and the
dropout masks of epoch e are the same whether or not the run was interrupted before it.
"""

from __future__ import annotations

import math
import sys
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
from digitkit.scratch import runio, zoo
from digitkit.scratch.losses import SoftmaxCrossEntropy
from digitkit.scratch.model import Sequential
from digitkit.scratch.optim import Adam, Optimizer, make_optimizer
from digitkit.train.callbacks import EarlyStopping
from digitkit.train.recipes import Recipe
from digitkit.train.schedules import LRSchedule

Batch = tuple[np.ndarray, np.ndarray]


class Diverged(DigitkitError):
    """The loss became NaN or infinite."""


def epoch_rngs(seed: int, epoch: int) -> tuple[np.random.Generator, ...]:
    """Generators for shuffling, augmentation and dropout of ``epoch`` (0-based)."""
    return tuple(np.random.default_rng([seed, epoch, k]) for k in range(3))


def train_epoch(model: Sequential, batches: Iterable[Batch], loss: Any, optimizer: Optimizer,
                lr_at: Callable[[int], float], first_step: int,
                report: Callable[[int, float, float, float, int], None] | None = None,
                ) -> tuple[float, float, float]:
    """One pass over ``batches``; returns (mean loss, accuracy, last lr).

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


def _array_batches(x: np.ndarray, y: np.ndarray, order: np.ndarray, batch_size: int,
                   transform: Callable[[np.ndarray], np.ndarray] | None = None
                   ) -> Iterator[Batch]:
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        xb = x[idx]
        yield (transform(xb) if transform else xb), y[idx]


def fit(model: Sequential, x: np.ndarray, y: np.ndarray, *, epochs: int = 1,
        batch_size: int = 32, optimizer: Optimizer | None = None, loss: Any = None,
        validation_data: Batch | None = None, callbacks: Iterable[Any] = (),
        progress: bool = False, seed: int = 0) -> list[dict[str, float]]:
    """Mini-batch training on arrays (inputs already normalized), validation after each
    epoch. A callback is any object with ``on_epoch_end(epoch, row, model) -> bool``
    (True stops training) or an :class:`EarlyStopping` watching ``val_loss``."""
    optimizer = optimizer or Adam(1e-3)
    loss = loss or SoftmaxCrossEntropy()
    base_lr = optimizer.lr
    history: list[dict[str, float]] = []
    steps = math.ceil(len(x) / batch_size)
    from digitkit.progress import progress_bar

    with progress_bar(progress) as bar:
        for epoch in range(epochs):
            order_rng, _, drop_rng = epoch_rngs(seed, epoch)
            model.set_dropout_rng(drop_rng)
            t0 = time.perf_counter()
            task = bar.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, stats="")
            report = _reporter(bar, task, t0, steps)
            batches = _array_batches(x, y, order_rng.permutation(len(x)), batch_size)
            tl, ta, lr = train_epoch(model, batches, loss, optimizer, lambda _s: base_lr,
                                     epoch * steps, report)
            bar.remove_task(task)
            row = {"epoch": epoch + 1, "train_loss": tl, "train_acc": ta}
            if validation_data is not None:
                row["val_loss"], row["val_acc"] = model.evaluate(*validation_data)
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


def _reporter(bar: Any, task: Any, t0: float, steps: int
              ) -> Callable[[int, float, float, float, int], None]:
    def report(b: int, loss: float, acc: float, lr: float, seen: int) -> None:
        if b % 20 == 0 or b == steps - 1:  # Rich redraws ~10x/s; no need to update every batch
            rate = seen / max(1e-9, time.perf_counter() - t0)
            bar.update(task, completed=b + 1, stats=f"loss {loss:.4f} acc {100 * acc:.2f}% "
                       f"lr {lr:.2e} {rate:,.0f} img/s")
    return report


# -- train_run: the run-directory trainer -----------------------------------------------------
@dataclass
class _Data:
    """Training inputs: either prepared once, or augmented and prepared per batch."""

    x01: np.ndarray
    y: np.ndarray
    prepared: np.ndarray | None
    spec: InputSpec

    def batches(self, order: np.ndarray, batch_size: int, aug: Any,
                aug_rng: np.random.Generator) -> Iterator[Batch]:
        if self.prepared is not None:
            return _array_batches(self.prepared, self.y, order, batch_size)
        return _array_batches(self.x01, self.y, order, batch_size,
                              lambda xb: self.spec.prepare(augment_batch(xb, aug, aug_rng)))


def _monitor_value(recipe: Recipe, row: dict[str, float]) -> float:
    return {"val_loss": row["val_loss"], "val_acc": row["val_acc"],
            "train_loss": row["train_loss"]}[recipe.monitor]


def _log(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


def train_run(model: str, recipe: Recipe, splits: Splits, out_dir: Path, *,
              resume: bool = False, progress: bool = True,
              arch_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the registered NumPy architecture ``model`` with ``recipe`` and write the run
    directory ``out_dir``; returns the final card.

    The weights kept are those of the epoch with the best validation accuracy (ties go to
    the lower validation loss); the test split is evaluated once, at the end, for the card.
    With ``resume=True`` training continues after the last checkpointed epoch of ``out_dir``
    and ends exactly as an uninterrupted run would.
    """
    out = Path(out_dir)
    spec = zoo.numpy_spec(model)
    recipe.validate()
    if recipe.ema:
        raise DigitkitError("the NumPy engine does not average weights (ema); set ema=0")
    arch_args = dict(arch_args or {})

    x_train01 = splits.x_train.astype(np.float32) / 255.0
    input_spec = fit_input_spec(x_train01, spec.normalization or recipe.normalization,
                                pad=spec.input_pad)
    aug = recipe.augment_config()
    data = _Data(x_train01, splits.y_train,
                 None if aug.enabled else input_spec.prepare(x_train01), input_spec)
    x_val, y_val = input_spec.prepare(splits.x_val), splits.y_val

    net: Sequential = zoo.build(model, **arch_args, seed=recipe.seed)
    optimizer = make_optimizer(recipe)
    loss_fn = SoftmaxCrossEntropy(recipe.label_smoothing)
    steps_per_epoch = math.ceil(len(x_train01) / recipe.batch_size)
    schedule = LRSchedule(recipe, steps_per_epoch)
    stopper = EarlyStopping(recipe.patience, recipe.min_rel_improvement,
                            "max" if recipe.monitor == "val_acc" else "min")
    history: list[dict[str, float]] = []
    best = {"val_acc": -1.0, "val_loss": math.inf, "epoch": -1}
    start_epoch, train_seconds = 0, 0.0

    state = runio.load_checkpoint(out) if resume else None
    if state is not None:
        card = runs.read_card(out)
        if card.get("recipe") != recipe.to_dict():
            raise DigitkitError(f"{out}: the checkpoint was made with a different recipe; resume "
                                "with the same recipe and overrides")
        model_arrays, opt_arrays, meta = state
        net.load_state_dict(model_arrays)
        optimizer.load_state_dict(opt_arrays, meta["optimizer"])
        schedule.load_state_dict(meta["schedule"])
        stopper.load_state_dict(meta["early_stopping"])
        history, best = meta["history"], meta["best"]
        start_epoch, train_seconds = int(meta["epoch"]), float(meta["train_seconds"])
        _log(progress, f"resuming {out} after epoch {start_epoch}")
        if meta.get("finished"):
            start_epoch = recipe.epochs  # nothing left to train; just finish the run again
    else:
        if resume:
            _log(progress, f"{out}: no checkpoint yet; starting from the first epoch")
        elif runs.is_run_dir(out):
            raise DigitkitError(f"{out} already holds a run; pass resume=True (--resume) to "
                                "continue it or choose another output directory")
        card = runs.new_card(engine="numpy", architecture=model, arch_args=arch_args,
                             input_spec=input_spec.to_dict(), recipe=recipe.to_dict(),
                             data=splits.source, seed=recipe.seed, num_params=net.num_params)
        card["scratch"] = {"layers": net.config()}
        out.mkdir(parents=True, exist_ok=True)
        runs.write_card(out, card)

    from digitkit.progress import progress_bar

    stop_reason = "completed"
    with progress_bar(progress) as bar:
        for epoch in range(start_epoch, recipe.epochs):
            t0, cpu0 = time.perf_counter(), time.process_time()
            order_rng, aug_rng, drop_rng = epoch_rngs(recipe.seed, epoch)
            net.set_dropout_rng(drop_rng)
            task = bar.add_task(f"epoch {epoch + 1}/{recipe.epochs}", total=steps_per_epoch,
                                stats="")
            batches = data.batches(order_rng.permutation(len(x_train01)), recipe.batch_size,
                                   aug, aug_rng)
            try:
                tl, ta, lr = train_epoch(net, batches, loss_fn, optimizer, schedule.lr,
                                         epoch * steps_per_epoch,
                                         _reporter(bar, task, t0, steps_per_epoch))
            except Diverged as exc:
                runs.update_card(out, status="failed", error=f"diverged in epoch {epoch + 1}")
                raise DigitkitError(
                    f"training diverged in epoch {epoch + 1}: {exc}; lower the learning rate "
                    f"(lr={recipe.lr:g}, try lr={recipe.lr / 10:g}); the last good checkpoint "
                    f"(epoch {epoch}) is kept in {out / runs.CHECKPOINT_DIR}") from None
            train_s = time.perf_counter() - t0
            bar.remove_task(task)
            val_loss, val_acc = net.evaluate(x_val, y_val)
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            row = {"epoch": epoch + 1, "train_loss": tl, "train_acc": ta, "val_loss": val_loss,
                   "val_acc": val_acc, "lr": lr, "seconds": seconds, "train_seconds": train_s,
                   # CPU time of this process: on a machine shared with other jobs, close to
                   # what the epoch would take alone (with one BLAS thread)
                   "cpu_seconds": time.process_time() - cpu0}
            history.append(row)
            _log(progress, f"epoch {epoch + 1}/{recipe.epochs}: loss {tl:.4f} train "
                 f"{100 * ta:.2f}% val {100 * val_acc:.2f}% (val loss {val_loss:.4f}) "
                 f"{seconds:.1f}s, {row['cpu_seconds']:.1f} s CPU ({len(x_train01) / train_s:,.0f} "
                 "img/s)")

            if (val_acc, -val_loss) > (best["val_acc"], -best["val_loss"]):
                best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch + 1}
                runs.save_weights(out, net.state_dict())
            schedule.epoch_end(val_loss)
            should_stop = stopper.update(_monitor_value(recipe, row), epoch + 1)
            over_time = bool(recipe.max_train_seconds and
                             train_seconds >= recipe.max_train_seconds)
            opt_arrays, opt_meta = optimizer.state_dict()
            runio.save_checkpoint(out, epoch + 1, net, opt_arrays, {
                "optimizer": opt_meta, "schedule": schedule.state_dict(),
                "early_stopping": stopper.state_dict(), "history": history, "best": best,
                "train_seconds": train_seconds, "finished": should_stop or over_time,
                "rng": f"numpy default_rng([seed={recipe.seed}, epoch, k]) per epoch",
            })
            runs.write_history(out, history)
            runs.update_card(out, epochs_run=epoch + 1, best_epoch=best["epoch"])
            if should_stop:
                stop_reason = f"early stopping at epoch {epoch + 1} ({recipe.monitor})"
                break
            if over_time:
                stop_reason = f"time limit {recipe.max_train_seconds:g}s reached"
                break
    _log(progress, stop_reason)
    return _finish(out, net, history, best, input_spec, splits, train_seconds, stop_reason)


def _finish(out: Path, net: Sequential, history: list[dict[str, float]], best: dict[str, Any],
            input_spec: InputSpec, splits: Splits, train_seconds: float,
            stop_reason: str) -> dict[str, Any]:
    """Evaluate the best weights on val and test, draw the curves, write the final card."""
    net.load_state_dict(runs.load_weights(out))
    metrics: dict[str, dict[str, Any]] = {}
    if history:
        metrics["train"] = {"accuracy": history[-1]["train_acc"],
                            "loss": history[-1]["train_loss"]}
    for split in ("val", "test"):
        if split == "test" and splits.x_test is None:
            continue
        x, y = splits.get(split)
        probs = net.predict_proba(input_spec.prepare(x))
        acc = float((probs.argmax(axis=1) == y).mean())
        loss = float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1)).mean())
        metrics[split] = {"accuracy": acc, "loss": loss,
                          "errors": int(round((1 - acc) * len(y))), "n": len(y)}
        runs.save_probs(out, split, probs)
    card = runs.read_card(out)
    _plot(out, history, f"{card['architecture']['name']} ({card['recipe']['name']}, NumPy)")
    card.pop("error", None)
    card.update({"status": "done", "metrics": metrics, "best_epoch": best["epoch"],
                 "epochs_run": len(history), "stop_reason": stop_reason,
                 "train_time_s": round(train_seconds, 2), "finished": runs.now_iso()})
    runs.write_card(out, card)
    return card


def _plot(out: Path, history: list[dict[str, float]], title: str) -> None:
    if not history:
        return
    from digitkit.plots import plot_history

    plot_history(history, out / "curves.png", title=title)

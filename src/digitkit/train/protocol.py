"""The parts of a training run that do not depend on the engine: both trainers (torch in
:mod:`digitkit.train.loop`, NumPy in :mod:`digitkit.scratch.trainer`) call these, so they
agree on which epoch is kept, what early stopping watches, when a run stops, what a
diverged run leaves behind, which output folders they may use and what the final card says.

An engine supplies only what differs: training one epoch, evaluating, and saving or loading
its state; :func:`run_epochs` drives its epochs. This module imports no torch.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from digitkit import runs
from digitkit.card import RunCard
from digitkit.errors import DigitkitError

# matplotlib's pyplot is not thread-safe; several runs may train in threads of one process
# (benchmarks/gpu_zoo.py), so they draw their curves one at a time.
PLOT_LOCK = threading.Lock()


# -- before the first epoch --------------------------------------------------------------------
def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to write a new run into a folder that holds something, unless ``overwrite``
    (and then only over a run directory, never over another folder's files)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DigitkitError(
                f"{out} already exists; use --overwrite, another --out, or --resume {out}"
            )
        if not runs.is_run_dir(out):
            raise DigitkitError(f"{out} is not a run directory; refusing to overwrite it")


def check_new_run(out: Path) -> None:
    """A new run never starts over an existing one (the caller removes it to overwrite)."""
    if runs.is_run_dir(out):
        raise DigitkitError(
            f"{out} already holds a run; pass resume=True (--resume) to "
            "continue it or choose another output directory"
        )


#: Recipe fields a resume may set anew, in both engines: a finished or interrupted run may be
#: continued for more epochs (the card's history shows where each stretch ran).
RESUME_MAY_CHANGE = ("epochs",)


def resume_with_recipe(
    out: Path, recipe: Mapping[str, Any], may_change: tuple[str, ...] = RESUME_MAY_CHANGE
) -> None:
    """A resumed run continues with the recipe it was started with: another one would make a
    run that no single recipe describes (and a card that lies). ``may_change`` names the
    fields a resume may set anew (:data:`RESUME_MAY_CHANGE`); the card then records the
    recipe the run goes on with."""
    saved = dict(RunCard.load(out).recipe)
    wanted = dict(recipe)
    if saved == wanted:
        return
    for key in may_change:
        saved.pop(key, None)
        wanted.pop(key, None)
    if saved != wanted:
        raise DigitkitError(
            f"{out}: the checkpoint was made with a different recipe; "
            "resume with the same recipe and overrides"
        )
    card = runs.read_card(out)
    card["recipe"] = dict(recipe)
    runs.write_card(out, card)


# -- the epochs ---------------------------------------------------------------------------------
def run_epochs(
    first: int,
    epochs: int,
    train_one_epoch: Callable[[int], dict[str, float]],
    end_epoch: Callable[[dict[str, float]], str | None],
) -> str:
    """Run epochs ``first`` .. ``epochs - 1`` (0-based) of an engine: ``train_one_epoch``
    trains and evaluates one and returns its history row; ``end_epoch`` keeps the best
    weights, steps the schedule and early stopping, checkpoints, and says why the run stops
    (None to go on). Returns the stop reason, ``"completed"`` when every epoch ran."""
    for epoch in range(first, epochs):
        reason = end_epoch(train_one_epoch(epoch))
        if reason:
            return reason
    return "completed"


# -- after each epoch --------------------------------------------------------------------------
def no_best() -> dict[str, Any]:
    """The best-epoch record before any epoch ran."""
    return {"val_acc": -1.0, "val_loss": math.inf, "epoch": -1}


def is_better(row: Mapping[str, float], best: Mapping[str, Any], restore_best: bool) -> bool:
    """Whether this epoch's weights replace the kept ones: the highest validation accuracy,
    ties to the lower validation loss; every epoch with ``restore_best`` off or without a
    validation split (NaN metrics), so the last epoch wins."""
    if not restore_best or math.isnan(row["val_acc"]):
        return True
    return (row["val_acc"], -row["val_loss"]) > (best["val_acc"], -best["val_loss"])


def monitored(monitor: str, row: Mapping[str, float]) -> float:
    """The history value early stopping and plateau schedules watch (``recipe.monitor``)."""
    return {
        "val_loss": row["val_loss"],
        "val_acc": row["val_acc"],
        "train_loss": row["train_loss"],
    }[monitor]


def stop_reason(
    stopper: Any, recipe: Any, row: Mapping[str, float], train_seconds: float
) -> str | None:
    """Step early stopping with this epoch; why the run stops now, or None to go on."""
    epoch = int(row["epoch"])
    if stopper.update(monitored(recipe.monitor, row), epoch):
        return f"early stopping at epoch {epoch} ({recipe.monitor})"
    if recipe.max_train_seconds and train_seconds >= recipe.max_train_seconds:
        return f"time limit {recipe.max_train_seconds:g}s reached"
    return None


def diverged(out: Path, epoch: int, lr: float, detail: str) -> DigitkitError:
    """Mark the run failed (its card says where) and return the error to raise: the loss is
    no longer finite. Nothing of this epoch was saved, so the last checkpoint is good."""
    if runs.is_run_dir(out):
        runs.update_card(out, status="failed", error=f"diverged in epoch {epoch + 1}")
    return DigitkitError(
        f"training diverged in epoch {epoch + 1}: {detail}; lower the learning rate "
        f"(lr={lr:g}, try lr={lr / 10:g}); the last good checkpoint (epoch {epoch}) is kept "
        f"in {out / runs.CHECKPOINT_DIR}"
    )


# -- at the end --------------------------------------------------------------------------------
def split_metrics(accuracy: float, loss: float, n: int) -> dict[str, Any]:
    """A card's ``metrics.<split>`` block."""
    return {"accuracy": accuracy, "loss": loss, "errors": int(round((1 - accuracy) * n)), "n": n}


def finish_card(
    out: Path,
    card: dict[str, Any],
    history: list[dict[str, float]],
    metrics: dict[str, dict[str, Any]],
    best: Mapping[str, Any],
    stop_reason: str,
    train_seconds: float,
    engine_label: str = "",
) -> dict[str, Any]:
    """Draw the curves, mark the card done with its metrics and write it; returns it."""
    if history:
        from digitkit.plots import plot_history

        run = RunCard.from_dict(card, out / runs.CARD)
        label = ", ".join(x for x in (run.recipe["name"], engine_label) if x)
        with PLOT_LOCK:
            plot_history(history, out / "curves.png", title=f"{run.model_name} ({label})")
    card.pop("error", None)
    card.update(
        {
            "status": "done",
            "metrics": metrics,
            "best_epoch": best["epoch"],
            "epochs_run": len(history),
            "stop_reason": stop_reason,
            "train_time_s": round(train_seconds, 2),
            "finished": runs.now_iso(),
        }
    )
    runs.write_card(out, card)
    return card


def train_metrics(history: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """The card's ``metrics.train``: the last epoch's running accuracy and loss."""
    if not history:
        return {}
    return {"train": {"accuracy": history[-1]["train_acc"], "loss": history[-1]["train_loss"]}}

"""Learning-rate schedules as plain functions of training progress (torch-free).

``LRSchedule.lr(step)`` gives the learning rate at global step ``step`` (0-based over the
whole run); it depends only on the recipe and the step, except ``plateau``, whose small state
(best metric, bad epochs, factor) is saved with checkpoints, so resumed runs match.
"""

from __future__ import annotations

import math
from typing import Any

from digitkit.train.recipes import Recipe


def halvings(
    epoch: int, first: int, every: int, second_after: int = 0, second_every: int = 0
) -> int:
    """How many times the lr has been halved by (0-based) ``epoch``: at ``first``, then every
    ``every`` epochs, and after ``second_after`` every ``second_every`` epochs instead."""
    every = max(1, every)
    if epoch < first:
        return 0
    if not second_after or not second_every or epoch <= second_after:
        return 1 + (epoch - first) // every
    before = 1 + (second_after - first) // every
    return before + (epoch - second_after) // second_every


class LRSchedule:
    """The learning rate of a recipe at each step; ``epoch_end`` feeds ``plateau``."""

    def __init__(self, recipe: Recipe, steps_per_epoch: int):
        self.r = recipe
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total = self.steps_per_epoch * recipe.epochs
        self.plateau_factor = 1.0
        self.plateau_best = math.inf
        self.plateau_bad = 0

    def lr(self, step: int) -> float:
        r = self.r
        epoch = step / self.steps_per_epoch
        warm = 1.0
        if r.warmup_epochs > 0 and epoch < r.warmup_epochs:
            warm = r.warmup_start + (1 - r.warmup_start) * epoch / r.warmup_epochs
        return r.lr * warm * self._factor(step, int(epoch))

    def _factor(self, step: int, epoch: int) -> float:
        r, s = self.r, self.schedule
        if s == "constant":
            return 1.0
        if s == "step":
            return r.gamma ** (epoch // max(1, r.step_size))
        if s == "halving":
            return 0.5 ** halvings(
                epoch, r.halve_at or r.step_size, r.step_size, r.second_after, r.second_step_size
            )
        if s == "exponential":
            return r.gamma**epoch
        if s == "inverse-time":
            return 1.0 / (1.0 + r.decay * step)
        if s == "cosine":
            t = min(1.0, step / max(1, self.total - 1))
            lo = r.final_lr_factor
            return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * t))
        if s == "onecycle":
            rise = max(1, int(self.total * r.pct_start))
            if step < rise:
                return 0.04 + 0.96 * step / rise
            t = min(1.0, (step - rise) / max(1, self.total - rise - 1))
            return r.final_lr_factor + (1 - r.final_lr_factor) * (1 - t)
        if s == "plateau":
            return self.plateau_factor
        raise ValueError(f"unknown schedule {s!r}")

    @property
    def schedule(self) -> str:
        return self.r.schedule

    def epoch_end(self, monitored_loss: float) -> None:
        """Tell ``plateau`` the epoch's validation loss (lower is better)."""
        if self.schedule != "plateau":
            return
        if monitored_loss < self.plateau_best:
            self.plateau_best, self.plateau_bad = monitored_loss, 0
        else:
            self.plateau_bad += 1
            if self.plateau_bad >= self.r.plateau_patience:  # as Keras's ReduceLROnPlateau
                self.plateau_factor *= self.r.gamma
                self.plateau_bad = 0

    def state_dict(self) -> dict[str, Any]:
        return {"factor": self.plateau_factor, "best": self.plateau_best, "bad": self.plateau_bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plateau_factor = float(state["factor"])
        self.plateau_best = float(state["best"])
        self.plateau_bad = int(state["bad"])

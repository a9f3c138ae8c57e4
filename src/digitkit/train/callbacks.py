"""Callbacks shared by both engines (torch-free): early stopping."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class EarlyStopping:
    """Stop when the monitored value has not improved by ``min_rel_improvement`` (relative)
    for ``patience`` epochs. ``mode`` is ``min`` for losses and ``max`` for accuracies."""

    patience: int
    min_rel_improvement: float = 0.0
    mode: str = "min"
    best: float = math.nan
    best_epoch: int = -1
    bad_epochs: int = 0

    def improved(self, value: float) -> bool:
        if math.isnan(self.best):
            return True
        margin = abs(self.best) * self.min_rel_improvement
        if self.mode == "min":
            return value < self.best - margin
        return value > self.best + margin

    def update(self, value: float, epoch: int) -> bool:
        """Record ``value`` for ``epoch``; return True when training should stop."""
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

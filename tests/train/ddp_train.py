"""Train cnn-fast on a small MNIST subset; run directly or under torchrun (helper of
test_distributed.py). Usage: ddp_train.py OUT_DIR [--resume] [key=value overrides...]

The recipe is the ``fast`` one with a constant learning rate and weight EMA, so that a run
stopped after epoch 1 and resumed with ``epochs=2`` must end exactly where the uninterrupted
run does."""

from __future__ import annotations

import json
import os
import sys

from digitkit.data import load_splits
from digitkit.train.loop import TrainOptions, train
from digitkit.train.recipes import apply_overrides, get_recipe


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    resume = "--resume" in args
    overrides = [a for a in args if a != "--resume"]
    recipe = apply_overrides(
        get_recipe("fast"),
        [
            "epochs=2",
            "batch_size=64",
            "lr=0.05",
            "schedule=constant",
            "augment=light",
            "ema=0.99",
            *overrides,
        ],
    )
    splits = load_splits("mnist", n_val=5000, split_seed=0, download=False)
    splits = splits.subset(n_train=1000, n_val=500)
    splits.x_test, splits.y_test = splits.x_test[:2000], splits.y_test[:2000]
    card = train(
        "cnn-fast",
        recipe,
        splits,
        out,
        arch_args={"width": 8},
        resume=resume,
        options=TrainOptions(progress=False, log=None),
    )
    line = (
        "CARD "
        + json.dumps({"metrics": card["metrics"], "distributed": card.get("distributed")})
        + "\n"
    )
    os.write(1, line.encode())  # one write: lines of the two ranks never interleave


if __name__ == "__main__":
    main()

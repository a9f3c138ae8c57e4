"""Where a zoo model's training step spends its time on the training device.

Run: ``OUT=gpu-out .venv/bin/python benchmarks/gpu_profile.py [--budget 120] [--device cuda]
[--models simplecnn-m3,...]``.

``gpu_zoo.py`` measures whole steps; this splits them, per model, into the pieces the trainer
runs (``digitkit.train.loop``): building an augmented batch on the device, the forward and
backward pass with the optimizer step (bf16 autocast and channels-last on CUDA), and the weight
EMA, at the recipe's batch size and at 4 times it (a step bound by kernel launches costs about
the same at either size: its images/s grows with the batch). It also times evaluation of
2,000 images in fp32 channels-last (the trainer's), fp32 contiguous and bf16. Prints a table and
writes ``$OUT/profile.json``; never runs past ``--budget`` seconds (models left are skipped).
"""

from __future__ import annotations

import time

PROCESS_START = time.monotonic()

# ruff: noqa: E402
import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from digitkit import atomic
from digitkit.data import load_splits
from digitkit.models import build_model
from digitkit.train.loop import WeightEMA, make_optimizer
from gpu_zoo import (
    KERAS_ZOO,
    SIMPLE_CNNS,
    device_batches,
    model_list,
    train_step,
    uses_bf16,
    zoo_recipe,
)

REPEATS = {"cuda": 20, "cpu": 2}  # timed calls per piece, after one warm-up call
EVAL_IMAGES = {"cuda": 2000, "cpu": 64}


def timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Seconds per call of ``fn`` (after one warm-up call), the device synchronized."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / repeats


def profile_model(name: str, splits: Any, device: torch.device) -> dict[str, Any]:
    recipe = zoo_recipe(name)
    repeats = REPEATS[device.type]
    torch.manual_seed(0)
    model = build_model(name).to(device).to(memory_format=torch.channels_last)
    input_spec, batches = device_batches(name, splits, device)
    optimizer = make_optimizer(recipe, model.parameters())
    ema = WeightEMA(model, recipe.ema or 0.999)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    row: dict[str, Any] = {"model": name, "batch": recipe.batch_size, "sizes": {}}
    for batch in (recipe.batch_size, 4 * recipe.batch_size):
        xb, yb = batches.batch(0, batch)
        augment_s = timed(lambda b=batch: batches.batch(0, b), device, repeats)
        step_s = timed(
            lambda xb=xb, yb=yb: train_step(model, xb, yb, loss_fn, optimizer, device),
            device,
            repeats,
        )
        ema_s = timed(lambda: ema.update(model), device, repeats)
        row["sizes"][batch] = {
            "augment_ms": 1e3 * augment_s,
            "step_ms": 1e3 * step_s,
            "ema_ms": 1e3 * ema_s,
            "img_s": batch / (augment_s + step_s + (ema_s if recipe.ema else 0.0)),
        }
    x = torch.from_numpy(input_spec.prepare(splits.x_val[: EVAL_IMAGES[device.type]])).to(device)
    # (label, the model's and input's memory format, bf16 autocast)
    ways = [("fp32_channels_last", torch.channels_last, False)]
    ways.append(("fp32_contiguous", torch.contiguous_format, False))
    if uses_bf16(device.type):
        ways.append(("bf16_channels_last", torch.channels_last, True))
    model.eval()
    row["eval_img_s"] = {}
    with torch.inference_mode():
        for label, memory_format, bf16 in ways:
            model.to(memory_format=memory_format)  # converted before timing, not while
            xm = x.contiguous(memory_format=memory_format)

            def evaluate(xm: torch.Tensor = xm, bf16: bool = bf16) -> torch.Tensor:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    return model(xm)

            row["eval_img_s"][label] = len(x) / timed(evaluate, device, max(2, repeats // 4))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--models", type=model_list, default=",".join(SIMPLE_CNNS + KERAS_ZOO))
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu-out")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the trainer sets it
    splits = load_splits("mnist", n_val=5000, split_seed=0, download=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    print(
        f"{'model':14} {'batch':>5} {'augment':>8} {'step':>8} {'ema':>7} {'img/s':>8}  eval img/s"
    )
    for name in args.models:
        elapsed = time.monotonic() - PROCESS_START
        if rows and elapsed / len(rows) * (len(rows) + 1) > args.budget:
            rows.append({"model": name, "skipped": "over budget"})
            print(f"{name:14} skipped: over budget")
            continue
        try:
            row = profile_model(name, splits, device)
        except Exception as error:  # one model's failure must not lose the others' figures
            row = {"model": name, "skipped": repr(error)}
            print(f"{name:14} failed: {error!r}")
        rows.append(row)
        atomic.write_json(out / "profile.json", {"device": str(device), "rows": rows})
        for batch, s in row.get("sizes", {}).items():
            evals = " ".join(f"{k}={v:,.0f}" for k, v in row["eval_img_s"].items())
            print(
                f"{name:14} {batch:>5} {s['augment_ms']:>6.2f}ms {s['step_ms']:>6.2f}ms "
                f"{s['ema_ms']:>5.2f}ms {s['img_s']:>8,.0f}  {evals}",
                flush=True,
            )
    print(f"[{time.monotonic() - PROCESS_START:.0f}s] {out / 'profile.json'}")


if __name__ == "__main__":
    main()

"""Benchmark the model zoo on this machine: parameters, FLOPs per image, inference throughput,
training-step time (and the implied time per epoch), plus the cost of fitting ensembles.

Run: ``.venv/bin/python benchmarks/bench_zoo.py [--models mobilenet,vgg16] [--threads 2]
[--device cpu|cuda] [--json out.json]``. Prints a Markdown table for benchmarks/RESULTS.md.
Timings are medians over a few repetitions after one warm-up; on a shared machine they are
upper bounds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from digitkit.inference import ensemble as ens
from digitkit.models import build_model, count_params, get_spec
from digitkit.train.recipes import get_recipe

ZOO = (
    "mobilenet",
    "vgg16",
    "resnet164",
    "wrn-28-10",
    "resnet-small",
    "simplecnn-m3",
    "simplecnn-m5",
    "simplecnn-m7",
)
N_TRAIN = 55_000  # 60,000 minus the 5,000 validation images


def flops_per_image(model: torch.nn.Module, size: int) -> float:
    """Forward FLOPs of one image (multiply-adds count 2), by torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 1, size, size))
    return float(counter.get_total_flops())


def median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_model(name: str, device: str, repeat: int, infer_batch: int) -> dict:
    spec = get_spec(name)
    recipe = get_recipe(spec.recipe)
    size = 28 + 2 * spec.input_pad
    torch.manual_seed(0)
    model = build_model(name)
    row = {
        "model": name,
        "params": count_params(model),
        "gflops": flops_per_image(model, size) / 1e9,
    }
    model = model.to(device)
    x = torch.randn(infer_batch, 1, size, size, device=device)
    model.eval()
    with torch.inference_mode():
        t = median_time(lambda: model(x), repeat)
    row["infer_img_s"] = infer_batch / t
    batch = recipe.batch_size
    xb = torch.randn(batch, 1, size, size, device=device)
    yb = torch.randint(0, 10, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()

    t = median_time(step, repeat)
    row.update(
        train_batch=batch,
        step_s=t,
        epoch_min=t * N_TRAIN / batch / 60,
        recipe=recipe.name,
        epochs=recipe.epochs,
        full_recipe_h=t * N_TRAIN / batch * recipe.epochs / 3600,
    )
    return row


def bench_ensembles(members: int = 8, n: int = 5000) -> dict[str, float]:
    """Seconds to fit each method on synthetic validation probabilities."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    probs = rng.dirichlet(np.ones(10) * 0.1, (members, n)).astype(np.float32)
    probs[:, np.arange(n), y] += 1.0
    probs /= probs.sum(axis=2, keepdims=True)
    out = {}
    for label, fn in (
        ("superlearner (5-fold CV, 3 combiners)", lambda: ens.fit_superlearner(probs, y)),
        ("greedy", lambda: ens.greedy_select(probs, y)),
        ("vote", lambda: ens.combine(probs, "vote")),
    ):
        t0 = time.perf_counter()
        fn()
        out[label] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--infer-batch", type=int, default=64)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads, torch {torch.__version__}, device {args.device}"
    )
    print(f"machine: {machine}\n")
    print(
        "| model | params | GFLOPs/img | infer img/s | train step (batch) | epoch | full recipe |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|", flush=True)
    rows = []
    for m in filter(None, args.models.split(",")):
        r = bench_model(m, args.device, args.repeat, args.infer_batch)
        rows.append(r)
        print(
            f"| {r['model']} | {r['params'] / 1e6:.2f} M | {r['gflops']:.3f} | "
            f"{r['infer_img_s']:.0f} | {r['step_s']:.3f} s ({r['train_batch']}) | "
            f"{r['epoch_min']:.1f} min | {r['full_recipe_h']:.1f} h ({r['epochs']} ep) |",
            flush=True,
        )
    fits = bench_ensembles()
    print("\nensemble fitting on 8 members x 5,000 validation images:")
    for k, v in fits.items():
        print(f"- {k}: {v:.2f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": machine, "models": rows, "ensemble_fit_s": fits}, fh, indent=2)


if __name__ == "__main__":
    main()
